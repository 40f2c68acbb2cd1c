#!/usr/bin/env python3
"""test_containers.py - the whole recobro system in containers (ctest "container.system").

1. `make image`: the Debian base, the project's image and the Kafka, PostgreSQL and Redis images
   (deploy/container/build; warm, it only checks the layer cache).
2. Runs deploy/compose/compose.yaml with podman (deploy/container/system.py) on a private network
   of its own, ports on 127.0.0.1 only: Kafka, PostgreSQL, Redis until healthy (compose's own
   healthchecks), the init container (migrate, topics ensure, policy load) until it exits 0, then
   the five workers until their healthchecks (/readyz) pass. Every container runs as a non-root
   user, --read-only, with all capabilities dropped.
3. Feeds a sample portfolio from the host to the published Kafka port (invoice.overdue events,
   several invoices per debtor, later re-sent with new open amounts, some exact duplicates), in
   three rounds:
     a. one overdue container: the lag (Kafka's end offsets minus the offsets recobro stored in
        PostgreSQL, the truth) goes up and drains;
     b. three overdue containers in the same consumer group: every one gets partitions, the lag
        drains;
     c. one of them killed with SIGKILL while its partitions have work: the group gives them to
        the others and the lag drains.
4. Checks every case through PostgreSQL's published port: one case per debtor fed with the
   expected balance and currency, every invoice once with its last open amount, every distinct
   event applied exactly once, nothing in the DLQ, the outbox published by the relay; and a few
   cases with `recobroctl case show` run in a container.
Removes every container, the network and the volumes it made, also on failure or interruption
(and those of an earlier run that was killed). Exit 77 (ctest: skipped) with one line only when
podman cannot run containers on this machine.
"""
from __future__ import annotations

import json
import os
import random
import signal
import string
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(os.environ.get("RECOBRO_SOURCE_DIR") or Path(__file__).resolve().parents[2])
sys.path.insert(0, str(ROOT / "deploy" / "container"))

import psycopg  # noqa: E402
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402

import system  # noqa: E402
from system import Failure, System, podman  # noqa: E402

SKIP = 77
DEADLINE = time.time() + float(os.environ.get("RECOBRO_CONTAINER_TEST_BUDGET", "780"))
TOPIC = "recobro.invoices"
GROUP = "recobro-overdue"
CREDITORS = [("acme", "ACME Telecom S.L.", "EUR", 2, "Europe/Madrid"),
             ("northwind", "Northwind Broadband Inc.", "USD", 2, "America/New_York"),
             ("sakura", "Sakura Mobile K.K.", "JPY", 0, "Asia/Tokyo")]
T0 = time.time()


def say(msg: str) -> None:
    print(f"[{time.time() - T0:6.1f}s] {msg}", flush=True)


def left(cap: float) -> float:
    """A wait's timeout: at most `cap`, and never past the test's own deadline."""
    rest = DEADLINE - time.time()
    if rest <= 0:
        raise Failure("the test ran out of its time budget")
    return min(cap, rest)


# ---- 1. images -------------------------------------------------------------------------------

def build_images() -> None:
    t = time.time()
    try:
        r = subprocess.run(["make", "-s", "-C", str(ROOT), "image"], capture_output=True,
                           text=True, timeout=left(600))
    except subprocess.TimeoutExpired:
        raise Failure("make image did not finish within its timeout")
    out = (r.stdout + r.stderr).strip()
    # deploy/container/build exits 3 with this line when podman cannot run containers here
    # (make turns the 3 into its own 2, so the line is what tells).
    marker = "image: podman cannot run containers here:"
    cannot = [ln for ln in out.splitlines() if ln.startswith(marker)]
    if r.returncode != 0 and cannot:
        print(f"SKIP: {cannot[-1][len('image: '):]}", flush=True)
        sys.exit(SKIP)
    if r.returncode != 0:
        raise Failure(f"make image failed ({r.returncode}):\n{out[-3000:]}")
    for line in out.splitlines():
        print("  " + line, flush=True)
    say(f"images ready ({time.time() - t:.0f}s)")


# ---- the portfolio -----------------------------------------------------------------------------

def money(minor: int, digits: int) -> str:
    if digits == 0:
        return str(minor)
    return "%d.%0*d" % (minor // 10 ** digits, digits, minor % 10 ** digits)


class Portfolio:
    """invoice.overdue events and what each case must end up owing."""

    def __init__(self, rid: str):
        self.rng = random.Random(20261130)
        self.rid = rid
        self.debtors: dict[tuple[str, str], dict] = {}    # (creditor, debtor) -> info
        self.sent: list[tuple[str, bytes]] = []           # every distinct event sent
        self.seq = 0

    def _event(self, cred, debtor_id, inv, open_minor) -> tuple[str, bytes]:
        cid, cname, cur, digits, zone = cred
        self.seq += 1
        ev = {"specversion": "1.0", "id": f"ct-{self.rid}-{self.seq:06d}",
              "source": f"erp/{cid}-billing", "type": "invoice.overdue",
              "time": "2026-11-20T10:00:00Z", "subject": f"{cid}/{debtor_id}",
              "datacontenttype": "application/json",
              "data": {"creditor_id": cid, "creditor_name": cname, "debtor_id": debtor_id,
                       "debtor": {"id": debtor_id, "name": "Test Debtor", "timezone": zone,
                                  "country": "ES" if cur == "EUR" else ("US" if cur == "USD" else "JP")},
                       "invoice": {"id": inv["id"], "number": inv["id"], "currency": cur,
                                   "amount": money(inv["amount"], digits),
                                   "open_amount": money(open_minor, digits),
                                   "due_on": inv["due_on"], "issued_on": inv["issued_on"]}}}
        msg = (f"{cid}/{debtor_id}", json.dumps(ev).encode())
        self.sent.append(msg)
        return msg

    def new_debtors(self, first: int, count: int) -> list[tuple[str, bytes]]:
        out = []
        for d in range(first, first + count):
            cred = CREDITORS[d % len(CREDITORS)]
            debtor_id = f"CT-{d:05d}"
            info = {"cred": cred, "invoices": {}}
            self.debtors[(cred[0], debtor_id)] = info
            for k in range(self.rng.choice([1, 1, 2, 2, 3])):
                scale = 100 if cred[3] == 2 else 1
                amount = self.rng.randint(20, 2500) * scale + self.rng.randint(0, scale - 1)
                dpd = self.rng.randint(1, 200)
                due = time.strftime("%Y-%m-%d", time.gmtime(time.time() - dpd * 86400))
                issued = time.strftime("%Y-%m-%d", time.gmtime(time.time() - (dpd + 30) * 86400))
                inv = {"id": f"INV-{d:05d}-{k}", "amount": amount, "open": amount,
                       "due_on": due, "issued_on": issued}
                info["invoices"][inv["id"]] = inv
                out.append(self._event(cred, debtor_id, inv, amount))
        return out

    def resends(self, first: int, count: int) -> list[tuple[str, bytes]]:
        """The accounting system re-sends an invoice of these debtors with less open (a part
        paid elsewhere): new events, the same invoice."""
        out = []
        for d in range(first, first + count):
            cred = CREDITORS[d % len(CREDITORS)]
            info = self.debtors[(cred[0], f"CT-{d:05d}")]
            inv = next(iter(info["invoices"].values()))
            inv["open"] = inv["open"] * self.rng.randint(30, 90) // 100
            out.append(self._event(cred, f"CT-{d:05d}", inv, inv["open"]))
        return out

    def duplicates(self, count: int) -> list[tuple[str, bytes]]:
        """Events sent again byte for byte (at-least-once delivery): no second effect. Only
        events that are still the last word on their invoice, so that order does not matter."""
        latest = {}
        for key, value in self.sent:
            inv = json.loads(value)["data"]["invoice"]["id"]
            latest[(key, inv)] = (key, value)
        return self.rng.sample(sorted(latest.values()), count)

    def expected(self) -> dict[tuple[str, str], tuple[str, int, dict]]:
        return {k: (v["cred"][2], sum(i["open"] for i in v["invoices"].values()),
                    {i["id"]: i["open"] for i in v["invoices"].values()})
                for k, v in self.debtors.items()}


# ---- Kafka and PostgreSQL from the host ------------------------------------------------------------

class Probe:
    def __init__(self, brokers: str, dsn: str):
        self.brokers = brokers
        self.dsn = dsn
        self.producer = Producer({"bootstrap.servers": brokers, "enable.idempotence": True,
                                  "linger.ms": 5})
        self.reader = Consumer({"bootstrap.servers": brokers, "group.id": "ct-probe",
                                "enable.auto.commit": False})
        self.admin = AdminClient({"bootstrap.servers": brokers})
        self.partitions = None

    def close(self):
        try:
            self.reader.close()
        except Exception:
            pass

    def produce(self, messages):
        for key, value in messages:
            while True:
                try:
                    self.producer.produce(TOPIC, key=key.encode(), value=value)
                    break
                except BufferError:
                    self.producer.poll(0.1)
            self.producer.poll(0)
        if self.producer.flush(left(60)) != 0:
            raise Failure("the producer could not deliver every event within 60s")

    def end_offsets(self) -> dict[int, int]:
        if self.partitions is None:
            md = self.reader.list_topics(TOPIC, timeout=left(20))
            self.partitions = sorted(md.topics[TOPIC].partitions)
        return {p: self.reader.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=left(10))[1]
                for p in self.partitions}

    def stored_offsets(self) -> dict[int, int]:
        with psycopg.connect(self.dsn, connect_timeout=10) as c:
            rows = c.execute("SELECT kafka_partition, next_offset FROM consumer_offset "
                             "WHERE group_id = %s AND topic = %s", (GROUP, TOPIC)).fetchall()
        return dict(rows)

    def lag_by_partition(self) -> dict[int, int]:
        ends, stored = self.end_offsets(), self.stored_offsets()
        return {p: max(0, e - stored.get(p, 0)) for p, e in ends.items()}

    def lag(self) -> int:
        return sum(self.lag_by_partition().values())

    def wait_drained(self, what: str, timeout: float) -> tuple[int, float]:
        """Waits until the overdue group's lag is 0; returns (highest lag seen, seconds)."""
        t = time.time()
        deadline = t + left(timeout)
        worst = 0
        while time.time() < deadline:
            lag = self.lag()
            worst = max(worst, lag)
            if lag == 0:
                return worst, time.time() - t
            time.sleep(0.25)
        raise Failure(f"{what}: the overdue lag did not drain within {timeout:.0f}s "
                      f"(still {self.lag()}; highest {worst})")

    def members(self) -> list[tuple[str, list[int]]]:
        """The overdue group's members: (host, partitions), from the broker."""
        f = self.admin.describe_consumer_groups([GROUP], request_timeout=left(15))[GROUP]
        g = f.result(timeout=left(20))
        out = []
        for m in g.members:
            parts = sorted(tp.partition for tp in (m.assignment.topic_partitions if m.assignment else []))
            out.append((m.host.lstrip("/"), parts))
        return sorted(out)

    def wait_members(self, n: int, timeout: float) -> list[tuple[str, list[int]]]:
        deadline = time.time() + left(timeout)
        self.end_offsets()   # knows the topic's partitions
        got = []
        while time.time() < deadline:
            try:
                got = self.members()
            except Exception:
                got = []
            if len(got) == n and all(parts for _, parts in got) and \
                    sum(len(parts) for _, parts in got) == len(self.partitions or []):
                return got
            time.sleep(0.5)
        raise Failure(f"the overdue group did not settle on {n} members with partitions within "
                      f"{timeout:.0f}s (last seen: {got})")


def events_seen(sysm: System, name: str) -> int:
    """recobro_events_total (every type and result) on a worker's published /metrics."""
    port = next(iter(sysm.ports[name].values()))
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return int(sum(float(line.rsplit(None, 1)[1]) for line in text.splitlines()
                   if line.startswith("recobro_events_total")))


def describe(members, names_by_ip) -> str:
    """"overdue-1 [0, 1], overdue-2 [2, 3]" from the group's members."""
    return ", ".join(f"{'-'.join(names_by_ip.get(h, h).split('-')[-2:])} {parts}"
                     for h, parts in members)


# ---- 4. the checks ---------------------------------------------------------------------------------

def check_cases(probe: Probe, pf: Portfolio, distinct_events: int) -> int:
    want = pf.expected()
    with psycopg.connect(probe.dsn, connect_timeout=10) as c:
        cases = {(r[0], r[1]): (r[2], r[3]) for r in c.execute(
            "SELECT creditor_id, debtor_id, currency, balance FROM debt_case").fetchall()}
        invoices = {(r[0], r[1], r[2]): r[3] for r in c.execute(
            "SELECT creditor_id, debtor_id, invoice_id, open_amount FROM invoice").fetchall()}
        applied = c.execute("SELECT count(*) FROM processed_event WHERE service = 'overdue'"
                            ).fetchone()[0]
        dlq = c.execute("SELECT count(*) FROM outbox WHERE topic = 'recobro.dlq'").fetchone()[0]
    problems = []
    if set(cases) != set(want):
        problems.append(f"cases: {len(cases)} in PostgreSQL, {len(want)} debtors fed "
                        f"(missing {sorted(set(want) - set(cases))[:5]}, "
                        f"unexpected {sorted(set(cases) - set(want))[:5]})")
    for key, (cur, balance, invs) in sorted(want.items()):
        got = cases.get(key)
        if got and got != (cur, balance):
            problems.append(f"case {key}: {got}, expected ({cur!r}, {balance})")
        for inv, open_minor in invs.items():
            if invoices.get((*key, inv)) != open_minor:
                problems.append(f"invoice {key} {inv}: {invoices.get((*key, inv))}, expected {open_minor}")
    n_inv = sum(len(v[2]) for v in want.values())
    if len(invoices) != n_inv:
        problems.append(f"invoices: {len(invoices)} rows, {n_inv} sent")
    if applied != distinct_events:
        problems.append(f"events applied: {applied}, distinct events sent: {distinct_events}")
    if dlq:
        problems.append(f"{dlq} messages went to the DLQ")
    if problems:
        raise Failure("cases wrong:\n  " + "\n  ".join(problems[:20]))
    return len(cases)


def wait_outbox_published(probe: Probe, timeout: float) -> int:
    deadline = time.time() + left(timeout)
    while True:
        with psycopg.connect(probe.dsn, connect_timeout=10) as c:
            total, pending = c.execute("SELECT count(*), count(*) FILTER (WHERE sent_at IS NULL) "
                                       "FROM outbox").fetchone()
        if pending == 0 or time.time() > deadline:
            break
        time.sleep(0.5)
    if pending:
        raise Failure(f"the relay left {pending} of {total} outbox rows unpublished")
    return total


def case_show(sysm: System, pf: Portfolio, n: int) -> None:
    """`recobroctl case show` in a container of the recobro image, as an operator would."""
    want = pf.expected()
    for key in sorted(want)[:n]:
        cur, balance, _ = want[key]
        digits = next(c[3] for c in CREDITORS if c[0] == key[0])
        args = ["run", "--rm", *sysm.labels, "--network", sysm.net, "--read-only",
                "--cap-drop", "all", "--security-opt", "no-new-privileges"]
        for host, ip in sysm.hosts.items():
            args += ["--add-host", f"{host}:{ip}"]
        for k, v in (sysm.services["init"].get("environment") or {}).items():
            args += ["-e", f"{k}={v}"]
        args += [system.local_image(sysm.services["init"]["image"]), "recobroctl", "case", "show", *key]
        r = podman(*args, timeout=left(60))
        shown = json.loads(r.stdout)
        if (shown.get("currency"), shown.get("balance")) != (cur, money(balance, digits)):
            raise Failure(f"recobroctl case show {key[0]} {key[1]}: currency {shown.get('currency')} "
                          f"balance {shown.get('balance')}, expected {cur} {money(balance, digits)}")


# ---- the run -----------------------------------------------------------------------------------

def run(sysm: System, results: dict) -> None:
    t = time.time()
    sysm.up(timeouts={"kafka": left(240), "postgres": left(90), "redis": left(60),
                      "init": left(180), "worker": left(150)},
            on_step=lambda svc, name, dt: say(f"{name} ready ({dt:.0f}s)"))
    results["up_s"] = time.time() - t
    # Non-root, read-only, no capabilities: as run.
    for svc, names in sysm.replicas.items():
        for name in names:
            if sysm.state(name)[0] != "running":
                continue
            uid = sysm.user(name)
            if uid == "0":
                raise Failure(f"{name} runs as root")
            ro = podman("inspect", "--format", "{{.HostConfig.ReadonlyRootfs}} {{.HostConfig.CapDrop}}",
                        name).stdout.strip()
            if not ro.startswith("true"):
                raise Failure(f"{name}: root file system not read-only ({ro})")
    say("every container: non-root, read-only root, capabilities dropped")

    kafka = sysm.container_name("kafka", 1)
    pg = sysm.container_name("postgres", 1)
    brokers = f"127.0.0.1:{sysm.ports[kafka][29092]}"
    env = sysm.services["postgres"]["environment"]
    dsn = (f"host=127.0.0.1 port={sysm.ports[pg][5432]} dbname={env['POSTGRES_DB']} "
           f"user={env['POSTGRES_USER']} password={env['POSTGRES_PASSWORD']}")
    probe = Probe(brokers, dsn)
    try:
        pf = Portfolio("".join(random.choice(string.ascii_lowercase) for _ in range(6)))
        names_by_ip = {}

        def refresh_names():
            for name in sysm.replicas.get("overdue", []):
                if sysm.state(name)[0] == "running":
                    names_by_ip[sysm.ip(name)] = name

        refresh_names()
        # a. one overdue container
        first = probe.wait_members(1, 60)
        say(f"overdue group: 1 member, partitions {first[0][1]}")
        batch = pf.new_debtors(0, 150)
        t = time.time()
        probe.produce(batch)
        lag_now = probe.lag()
        worst, took = probe.wait_drained("one overdue container", 120)
        results["a"] = {"events": len(batch), "lag_after_produce": lag_now, "highest": worst,
                        "drain_s": time.time() - t}
        say(f"round a (1 container): {len(batch)} events, lag {max(lag_now, worst)} -> 0 "
            f"in {time.time() - t:.1f}s")

        # b. three overdue containers, the same group
        t = time.time()
        new = sysm.scale("overdue", 3, timeout=left(150))
        refresh_names()
        members = probe.wait_members(3, 90)
        results["scale_s"] = time.time() - t
        say(f"scaled overdue 1 -> 3 ({', '.join(new)} ready, {results['scale_s']:.0f}s); "
            f"partitions: {describe(members, names_by_ip)}")
        batch = pf.new_debtors(150, 150) + pf.resends(0, 60)
        t = time.time()
        probe.produce(batch)
        lag_now = probe.lag()
        worst, _ = probe.wait_drained("three overdue containers", 120)
        took = time.time() - t
        # Each of the three did part of the work (its own /metrics, through its published port).
        seen = {name: events_seen(sysm, name) for name in sysm.replicas["overdue"]}
        results["b"] = {"events": len(batch), "lag_after_produce": lag_now, "highest": worst,
                        "drain_s": took, "members": members, "events_by_container": seen}
        say(f"round b (3 containers): {len(batch)} events, lag {max(lag_now, worst)} -> 0 "
            f"in {took:.1f}s; events counted by each (/metrics): "
            + ", ".join(f"{'-'.join(n.split('-')[-2:])} {c}" for n, c in seen.items()))
        idle = [n for n, c in seen.items() if c == 0]
        if idle:
            raise Failure(f"{idle} processed nothing although the group gave them partitions")

        # c. one of them killed with SIGKILL while its partitions have work
        victim = sysm.replicas["overdue"][1]
        victim_ip = next(ip for ip, n in names_by_ip.items() if n == victim)
        victim_parts = next(parts for h, parts in members if h == victim_ip)
        half1 = pf.new_debtors(300, 60) + pf.resends(150, 60)
        half2 = pf.new_debtors(360, 40) + pf.duplicates(40)
        t = time.time()
        probe.produce(half1)
        sysm.kill(victim)
        killed_at = time.time()
        probe.produce(half2)
        by_part = probe.lag_by_partition()
        lag_now = sum(by_part.values())
        stranded = sum(by_part[p] for p in victim_parts)
        say(f"killed {victim} (SIGKILL, partitions {victim_parts}); lag {lag_now}, "
            f"{stranded} of it on the dead container's partitions")
        if stranded == 0:
            raise Failure("no work was left on the killed container's partitions: the kill "
                          "proves nothing (more events are needed)")
        members = probe.wait_members(2, 120)
        worst, _ = probe.wait_drained("after the kill", 150)
        results["c"] = {"events": len(half1) + len(half2), "lag_after_kill": lag_now,
                        "stranded_on_victim": stranded,
                        "highest": worst, "drain_s": time.time() - killed_at,
                        "victim": victim, "victim_partitions": victim_parts, "members": members}
        say(f"round c (kill): lag {max(lag_now, worst)} -> 0 {time.time() - killed_at:.1f}s after "
            f"the kill; partitions now: {describe(members, names_by_ip)}")
        status, code = sysm.state(victim)
        results["victim_state"] = f"{status} ({code})"

        # 4. every case right
        distinct = len({json.loads(v)["id"] for _, v in pf.sent})
        n_cases = check_cases(probe, pf, distinct)
        results["cases"] = n_cases
        results["events_sent"] = len(pf.sent) + 40
        results["distinct_events"] = distinct
        say(f"checked {n_cases} cases, {sum(len(v[2]) for v in pf.expected().values())} invoices, "
            f"{distinct} distinct events applied once (+40 duplicates ignored), DLQ empty")
        published = wait_outbox_published(probe, 90)
        results["outbox"] = published
        say(f"relay: all {published} outbox rows (tasks, case events) published")
        case_show(sysm, pf, 3)
        say("recobroctl case show (in a container) agrees for 3 cases")
    finally:
        probe.close()


def main() -> int:
    build_images()
    # Leftovers of runs that were killed (their owner process is gone).
    for project in system.stale_projects("recobro-ct-"):
        say(f"removing {project}, left by a run that was killed")
        System(project, log=say).down()

    project = "recobro-ct-" + "".join(random.choice(string.ascii_lowercase + string.digits)
                                      for _ in range(6))
    sysm = System(project, log=say, extra_env={
        # librdkafka's default session timeout is 45 s: a killed member's partitions wait that
        # long. 10 s keeps the test short; the behaviour is the same.
        "overdue": {"RECOBRO_KAFKA_SESSION_TIMEOUT_MS": "10000"}},
        # compose.yaml does not publish PostgreSQL; the checks read it from the host.
        extra_ports={"postgres": [5432]})
    results: dict = {}

    def interrupted(signum, _frame):
        raise Failure(f"interrupted by signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    ok = False
    t = time.time()
    try:
        say(f"project {project}: network {sysm.net}, ports on 127.0.0.1 only")
        run(sysm, results)
        ok = True
    except Exception as e:   # a Failure, or a bug of the test: the same report and clean-up
        print(f"FAIL: {e if isinstance(e, Failure) else repr(e)}", flush=True)
        if not isinstance(e, Failure):
            import traceback
            traceback.print_exc()
        for names in sysm.replicas.values():
            for name in names:
                print(f"---- {name} ({' '.join(map(str, sysm.state(name)))}): last lines of its log",
                      flush=True)
                print(sysm.logs(name, 15), flush=True)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        clean = sysm.down()
        say(f"removed the containers, network and volumes of {project}" if clean else
            f"could not remove everything of {project}")
    if not ok or not clean:
        return 1
    say(f"container.system: ok in {time.time() - T0:.0f}s (images {t - T0:.0f}s, system up "
        f"{results['up_s']:.0f}s, rounds and checks {time.time() - t - results['up_s']:.0f}s)")
    print("RESULTS " + json.dumps(results, default=str), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as e:
        print(f"FAIL: {e}", flush=True)
        sys.exit(1)
