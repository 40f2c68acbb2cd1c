"""soak.py - the chaos soak (issue 11, item 2): a large generated stream through replicas of every
recobro service on a three-broker Kafka cluster while replicas, brokers, PostgreSQL and Redis are
killed, then everything compared with an independent reference and a control run.

The stream is test_replay.py's (invoices overdue, adjusted and cancelled; contacts, disputes,
promises, plans; payments, over-payments and reversals; late invoices), for as many debtors as
give --events messages, with 5% of them re-sent later (same source and id: duplicates), and
badcorpus.py's bad inputs planted among them (on a creditor of their own, so the reference's
cases are untouched). It is published era by era, as test_kill_workers.py does (the reference's
cross-topic order is then the order applied). Each era is consumed twice, into two databases:
  - the CONTROL run: one replica of the era's worker, no chaos;
  - the CHAOS run: three replicas of the era's worker in one consumer group, two relays
    throughout, and the era's share of the chaos schedule (below).
Then, in the chaos run, two recobro-scheduler replicas sweep every case at the final clock (one
SIGKILLed mid-sweep); the control gets `recobroctl scheduler tick` at the same clock.

The chaos schedule, fixed by the seed: in each of eras 1-3, SIGKILLs of random replicas of the
era's worker, a replica joining and one leaving (SIGTERM: rebalances under load), a relay
SIGKILLed while rows wait to be published; and, each in an era the seed picks, one broker
SIGKILLed and restarted, PostgreSQL stopped with `immediate` and started, Redis down for 10 s.

Afterwards (exit status 1 if any fails):
  - every invoice (open amount, status), balance, promise (state, paid), plan (state, missed,
    paid) and the segments the reference decides equal the independent reference
    (test_replay.py's plain Python), in the chaos run and in the control;
  - the chaos run's tasks (task_id, action, status) and outbox rows (topic, event id, as a
    multiset) equal the control's: each input had its effect once;
  - every task.created id of the chaos run's outbox is on the tasks topic (duplicates, which
    consumers drop on task_id, counted);
  - the DLQ holds exactly the planted bad inputs (byte for byte, with their codes), each once
    in the outbox (the topic may repeat one after a relay kill: counted);
  - the cache (Redis) agrees with PostgreSQL for every segmented case of the chaos run.
It prints events, kills of each kind, wall time, lost and doubled counts.

Usage: soak.py [--events N] [--seed S] [--keep]   (tests/soak/run brings up the cluster)."""
import argparse
import json
import os
import random
import signal
import socket
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import psycopg
import redis
from confluent_kafka import Consumer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
import badcorpus as bc  # noqa: E402
import stackutil as su  # noqa: E402
import test_bad_inputs as tbi  # noqa: E402
import test_kill_workers as tkw  # noqa: E402
import test_replay as rpl  # noqa: E402

EVENTS_PER_DEBTOR = 6.2  # the stream's mean, duplicates included (measured)
WORKERS = {1: "recobro-overdue", 2: "recobro-interactions", 3: "recobro-payments",
           4: "recobro-overdue"}
CHAOS_ERAS = (1, 2, 3)
REPLICAS = 3
RELAYS = 2
SCHEDULERS = 2
LIBRDKAFKA_4312 = "rd_kafka_sticky_assignor_state_destroy: Assertion `assignor_state' failed"
BATCH_MAX = 200    # RECOBRO_BATCH_MAX of the workers
HTTP_PORTS = int(os.environ.get("RECOBRO_SOAK_HTTP_PORTS", "24100"))  # the services' from here


def log(msg):
    print("soak: " + msg, flush=True)


# ---- the plan: data and schedule from the seed -------------------------------------------------

def plan_schedule(rng):
    """[(era, fraction of the era's progress, action)], per era sorted by fraction."""
    acts = []
    for era in CHAOS_ERAS:
        acts += [(era, "kill_worker")] * 3 + [(era, "join"), (era, "leave"), (era, "kill_relay")]
    for infra in ("broker", "pg", "redis"):
        acts.append((rng.choice(CHAOS_ERAS), infra))
    sched = [(era, round(rng.uniform(0.1, 0.85), 3), a) for era, a in acts]
    # A replica leaves after the one that joined (so the group keeps at least three).
    out = []
    for era in CHAOS_ERAS:
        mine = sorted(s for s in sched if s[0] == era)
        j = next(s for s in mine if s[2] == "join")
        l_ = next(s for s in mine if s[2] == "leave")
        if l_[1] < j[1]:
            mine = sorted([(era, l_[1], "join"), (era, j[1], "leave")] +
                          [s for s in mine if s[2] not in ("join", "leave")])
        out += mine
    return out


def plant_bad(n, eras, rng):
    """Puts badcorpus's bad inputs (creditor n["bad_cr"]) into the eras; returns
    {(topic, payload): code}."""
    rid, cr = n["rid"], n["bad_cr"]
    key = "%s/%s" % (cr, tbi.BASES[0])
    base = [(key, bc.dump(bc.envelope(rid, "base-" + d, "invoice.overdue",
                                      bc.base_invoice(cr, d)))) for d in tbi.BASES[:1]]
    corpus = {1: ("inv", bc.invoices(rid, cr, tbi.BASES[0])),
              2: ("in", bc.interactions(rid, cr, tbi.BASES[0])),
              3: ("pay", bc.payments(rid, cr, tbi.BASES[0]))}
    eras[1][:0] = base  # the base case first: the corpus's database-aware codes need it
    want = {}
    for era, (topic, items) in corpus.items():
        msgs = eras[era]
        for payload, code in items:
            # All on the base case's key (one partition, after its invoice), spread in time.
            msgs.insert(rng.randint(len(base) if era == 1 else 0, len(msgs)), (key, payload))
            want[(n[topic], payload)] = code
    return want


# ---- the two runs ------------------------------------------------------------------------------

def make_names(rid, replication):
    n = {"rid": rid, "group": "soak-" + rid, "creditor": "cr-" + rid, "bad_cr": "bad-" + rid}
    for t in ("inv", "pay", "in", "out", "events", "dlq"):
        n[t] = "soak.%s.%s" % (rid, t)
    conf = {"min.insync.replicas": "2"} if replication >= 3 else {}
    su.create_topics([n[t] for t in ("inv", "pay", "in", "out", "events")],
                     replication=replication, config=conf)
    su.create_topics([n["dlq"]], replication=replication,
                     config=dict(conf, **{"max.message.bytes": str(16 * 1024 * 1024)}))
    n["db"] = {"kill": "soak_kill_" + rid, "ctl": "soak_ctl_" + rid}
    n["dsn"] = {}
    for run, db in n["db"].items():
        n["dsn"][run] = su.create_database(db)
        with psycopg.connect(n["dsn"][run], autocommit=True) as conn:
            conn.execute(tbi.REFUSE)  # processing_error: the corpus's REFUSE-* ids
    base = su.REDIS_URL.rsplit("/", 1)[0] if su.REDIS_URL.count("/") > 2 else su.REDIS_URL
    n["redis"] = {"kill": base + "/1", "ctl": base + "/2"}
    for url in n["redis"].values():
        redis.Redis.from_url(url).flushdb()
    return n


def envs(n, run, what, now, **extra):
    env = tkw.envs(n, run, what, now)
    env.update({"RECOBRO_REDIS_URL": n["redis"][run], "RECOBRO_BATCH_MAX": str(BATCH_MAX),
                "RECOBRO_OUTBOX_RETENTION": "604800", "RECOBRO_BACKOFF_MAX_MS": "2000"})
    env.update(extra)
    return env


class Fleet:
    """The processes of the chaos run, by role; logs under log_dir."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.next_port = HTTP_PORTS
        self.kills = Counter()
        self.landed = Counter()

    def start(self, name, env):
        s = su.Service(name, env, self.log_dir)
        # An HTTP port below the ephemeral range: su.free_port()'s can be taken by one of the
        # many outgoing connections between its probe and the service's bind.
        s.port = self.port()
        s.env["RECOBRO_HTTP_ADDR"] = "127.0.0.1:%d" % s.port
        return s.start()

    def port(self):
        while True:
            self.next_port += 1
            try:
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", self.next_port))
                return self.next_port
            except OSError:
                continue

    def sigkill(self, procs, i, rng_name):
        procs[i].kill(signal.SIGKILL)
        procs[i].proc.wait()
        procs[i].log.close()
        self.kills[rng_name] += 1
        procs[i] = self.start(procs[i].name, procs[i].env)

    @staticmethod
    def alive(procs):
        for w in procs:
            if w.proc.poll() is not None:
                raise AssertionError("%s exited %s: %s" % (w.name, w.proc.returncode, w.tail()))

    def stop(self, procs):
        for w in procs:
            rc = w.stop(timeout=30)
            if rc == -signal.SIGABRT and LIBRDKAFKA_4312 in w.tail(5):
                # librdkafka < 2.3 (Debian 12: 2.0.2) aborts when a cooperative-sticky consumer
                # is destroyed between its JoinGroup and its first assignment (its issue 4312):
                # a replica stopped while it was still joining. It held no partition, so nothing
                # is lost; counted and reported, not failed.
                self.kills["librdkafka-4312-abort-at-stop"] += 1
            elif rc != 0:
                raise AssertionError("%s stopped with %s: %s" % (w.name, rc, w.tail()))


def safe(fn, default):
    """fn() or default while PostgreSQL is down (the driver polls through the outage)."""
    try:
        return fn()
    except psycopg.Error:
        return default


def progress(n, run, topic):
    return safe(lambda: tkw.progress(n, run, topic), -1)


def backlog(n):
    return safe(lambda: tkw.db(n, "kill", "SELECT count(*) FROM outbox WHERE sent_at IS NULL")
                [0][0], 0)


def broker_kill(rng, fleet):
    """SIGKILL of one broker (a crash, not a clean stop), 5 s down, then started again."""
    node = rng.randint(1, 3)
    pid_file = Path(su.ENV["RECOBRO_STACK_DIR"]) / "kafka" / ("node-%d" % node) / "kafka.pid"
    os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
    fleet.kills["kafka-broker"] += 1
    time.sleep(5)
    su.stack("kafka-start", str(node))
    return "broker %d" % node


def chaos(act, rng, fleet, reps, relays, n):
    """One action of the schedule; returns a note for the log."""
    if act == "kill_worker":
        i = rng.randrange(len(reps))
        fleet.sigkill(reps, i, reps[i].name)
        return "SIGKILL %s replica %d" % (reps[i].name, i)
    if act == "join":
        reps.append(fleet.start(reps[0].name, reps[0].env))
        fleet.kills["joined"] += 1
        return "a replica joins (%d)" % len(reps)
    if act == "leave":
        w = reps.pop(rng.randrange(len(reps)))
        fleet.stop([w])
        fleet.kills["left"] += 1
        return "a replica leaves (SIGTERM, %d left)" % len(reps)
    if act == "kill_relay":
        # While rows wait to be published (unless the era already drained).
        deadline = time.time() + 10
        while backlog(n) <= 0 and time.time() < deadline:
            time.sleep(0.005)
        rows = backlog(n)
        i = rng.randrange(len(relays))
        fleet.sigkill(relays, i, "recobro-relay")
        return "SIGKILL relay %d with %d rows to publish" % (i, rows)
    if act == "broker":
        return broker_kill(rng, fleet) + " SIGKILLed, restarted after 5 s"
    if act == "pg":
        su.stack("pg-stop", "immediate")
        fleet.kills["postgresql-immediate"] += 1
        time.sleep(3)
        su.stack("pg-start")
        return "PostgreSQL stopped (immediate) 3 s"
    if act == "redis":
        su.stack("redis-stop")
        fleet.kills["redis-down"] += 1
        time.sleep(10)
        su.stack("redis-start")
        return "Redis down 10 s"
    raise ValueError(act)


def run_era(n, era, msgs, published, sched, rng, fleet, relays, p):
    topic, worker, now = tkw.ERAS[era]
    t0 = time.time()
    su.produce(n[topic], [(k, v, None) for k, v in msgs], p=p)
    assert p.flush(120) == 0
    published[topic] += len(msgs)
    want = published[topic]
    base = want - len(msgs)
    # The control: one replica, no chaos, alone on the machine.
    ctl = fleet.start(worker, envs(n, "ctl", worker, now))
    su.wait_for(lambda: Fleet.alive([ctl]) or progress(n, "ctl", topic) >= want, timeout=7200,
                interval=0.5, what="era %d consumed by the control" % era)
    fleet.stop([ctl])
    t1 = time.time()
    # The chaos run.
    reps = [fleet.start(worker, envs(n, "kill", worker, now)) for _ in range(REPLICAS)]
    for _, frac, act in [s for s in sched if s[0] == era]:
        point = base + int(len(msgs) * frac)
        su.wait_for(lambda: Fleet.alive(reps + relays) or progress(n, "kill", topic) >= point,
                    timeout=7200, interval=0.01, what="era %d progress to %d" % (era, point))
        time.sleep(rng.random() * 0.05)
        mid = 0 <= progress(n, "kill", topic) < want
        note = chaos(act, rng, fleet, reps, relays, n)
        fleet.landed[act] += mid
        log("era %d at %d/%d: %s%s" % (era, max(progress(n, "kill", topic) - base, 0), len(msgs),
                                       note, "" if mid else " (after the era drained)"))
    su.wait_for(lambda: Fleet.alive(reps + relays) or progress(n, "kill", topic) >= want,
                timeout=7200, interval=0.5, what="era %d consumed by the chaos run" % era)
    fleet.stop(reps)
    log("era %d: %d messages on %s, control %.0f s, chaos %.0f s" % (
        era, len(msgs), n[topic], t1 - t0, time.time() - t1))


def owed(n):
    return safe(lambda: tkw.db(n, "kill", "SELECT count(*) FROM cache_owed")[0][0], -1)


def due(n):
    return safe(lambda: tkw.db(n, "kill", "SELECT count(*) FROM debt_case WHERE next_due_at <= "
                                          "%s::timestamptz", rpl.TICK_NOW)[0][0], -1)


def final_sweep(n, rng, fleet):
    """The chaos run's schedulers at the final clock (one SIGKILLed mid-sweep); the control's
    `recobroctl scheduler tick` at the same clock."""
    r = su.recobroctl("scheduler", "tick", "--now", rpl.TICK_NOW,
                      env=envs(n, "ctl", "tick", rpl.TICK_NOW))
    assert json.loads(r.stdout)["failed"] == 0, r.stdout
    total = due(n)
    env = envs(n, "kill", "sched", rpl.TICK_NOW, RECOBRO_SCHEDULER_PERIOD_MS="500")
    scheds = [fleet.start("recobro-scheduler", env) for _ in range(SCHEDULERS)]
    frac = rng.uniform(0.2, 0.7)
    su.wait_for(lambda: Fleet.alive(scheds) or 0 <= due(n) <= total * (1 - frac), timeout=7200,
                interval=0.01, what="the sweep under way")
    mid = due(n) > 0
    i = rng.randrange(len(scheds))
    fleet.sigkill(scheds, i, "recobro-scheduler")
    fleet.landed["kill_scheduler"] += mid
    log("sweep: SIGKILL scheduler %d at %d of %d due cases left" % (i, due(n), total))
    su.wait_for(lambda: Fleet.alive(scheds) or due(n) == 0, timeout=7200, interval=0.5,
                what="every case swept")
    # What the killed processes owed Redis (cache_owed: committed, not yet cached) is re-written
    # by the survivors once it is 10 s old: the scheduler left running takes what remains.
    su.wait_for(lambda: Fleet.alive(scheds) or owed(n) == 0, timeout=300, interval=0.5,
                what="the cache writes owed by killed processes re-written")
    fleet.stop(scheds)
    return total


# ---- the checks --------------------------------------------------------------------------------

def segment_mismatches(n, run, ref):
    """test_replay.py's segment check: where the default policy's first rules decide."""
    got = dict(tkw.db(n, run, "SELECT debtor_id, segment FROM debt_case WHERE creditor_id = %s",
                      n["creditor"]))
    bad = []
    for d, c in ref.items():
        want = (None if not c.segmented else "resolved" if c.balance() <= 0 else
                "disputed" if c.dispute_open else "")
        if want != "" and got.get(d) != want:
            bad.append("segment %s: want %s got %s" % (d, want, got.get(d)))
    return bad


def read_topic(topic, fn):
    """fn(message) for every message of topic up to its current end."""
    c = Consumer({"bootstrap.servers": su.BROKERS, "group.id": "soak-reader-" + su.run_id(),
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    parts = c.list_topics(topic, timeout=30).topics[topic].partitions
    ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in parts}
    c.assign([TopicPartition(topic, p, 0) for p in parts])
    pos = {p: 0 for p in parts}
    deadline = time.time() + 1800
    try:
        while any(pos[p] < ends[p] for p in parts) and time.time() < deadline:
            for m in c.consume(num_messages=5000, timeout=0.5):
                if m.error() or m.offset() >= ends[m.partition()]:
                    continue
                pos[m.partition()] = m.offset() + 1
                fn(m)
    finally:
        c.close()
    assert all(pos[p] >= ends[p] for p in parts), "could not read %s to its end" % topic


def check_tasks_topic(n):
    """(task ids written, ids on the topic Counter) for task.created."""
    emitted = {t for (t,) in tkw.db(
        n, "kill", "SELECT e -> 'data' ->> 'task_id' FROM (SELECT convert_from(payload, 'UTF8')"
                   "::jsonb AS e FROM outbox WHERE topic = %s) o "
                   "WHERE e ->> 'type' = 'task.created'", n["out"])}
    seen = Counter()

    def on(m):
        ev = json.loads(m.value())
        if ev["type"] == "task.created":
            seen[ev["data"]["task_id"]] += 1
    read_topic(n["out"], on)
    return emitted, seen


def check_dlq(n, want):
    got, copies = {}, Counter()

    def on(m):
        h = dict(m.headers())
        k = (h["recobro-source-topic"].decode(), m.value())
        got[k] = h["recobro-error"].decode()
        copies[k] += 1
    read_topic(n["dlq"], on)
    wrong = ["%s: want %s got %s: %r" % (k[0], c, got.get(k), k[1][:100])
             for k, c in want.items() if got.get(k) != c]
    extra = ["%s: %s %r" % (k[0], c, k[1][:100]) for k, c in got.items() if k not in want]
    rows = tkw.db(n, "kill", "SELECT count(*) FROM outbox WHERE topic = %s", n["dlq"])[0][0]
    return wrong, extra, rows, sum(copies.values()) - len(copies)


def minor(text):
    return int(Decimal(text) * 100)


def check_cache(n):
    """Every segmented case of the chaos run: the Redis document, when there is one, equals
    debt_case. Returns (cases, pending writes, missing, stale [text], wrong [text]).

    Missing: the local Redis keeps no data over a restart (the 10 s outage empties it), so a
    case not written since is a cache miss, read from PostgreSQL. Stale: one version behind, what
    a SIGKILL between a COMMIT and its cache writes left before cache_owed (its survivors now
    re-write it from PostgreSQL): a failure like every other difference (wrong: a newer version,
    another state at the same version, or stale by more)."""
    rows = tkw.db(n, "kill", "SELECT creditor_id, debtor_id, version, balance, segment, status, "
                             "stage, days_past_due FROM debt_case WHERE segment IS NOT NULL")
    r = redis.Redis.from_url(n["redis"]["kill"], socket_timeout=30)
    pending = tkw.db(n, "kill", "SELECT count(*) FROM cache_pending")[0][0]
    missing, stale, wrong = 0, [], []
    for i in range(0, len(rows), 5000):
        chunk = rows[i:i + 5000]
        docs = r.mget(["recobro:case:%s:%s" % (c, d) for c, d, *_ in chunk])
        for (c, d, *want), raw in zip(chunk, docs):
            if raw is None:
                missing += 1
                continue
            doc = json.loads(raw)
            got = [doc["version"], minor(doc["balance"]), doc["segment"], doc["status"],
                   doc["stage"], doc["days_past_due"]]
            if got == want:
                continue
            line = "cache %s/%s: db %s cache %s" % (c, d, want, got)
            (stale if got[0] == want[0] - 1 else wrong).append(line)
    return len(rows), pending, missing, stale, wrong


def verify(n, ref, planted, fleet):
    problems = []
    for run in ("ctl", "kill"):
        bad = tkw.mismatches(n, run, ref) + segment_mismatches(n, run, ref)
        if bad:
            problems.append("%s run: %d differences with the reference %s: %s" % (
                run, len(bad), dict(Counter(b.split()[0] for b in bad)), bad[:10]))
    q = ("SELECT creditor_id, debtor_id, version, balance, days_past_due, segment, status, stage,"
         " next_action, next_channel FROM debt_case")
    cases = {run: set(tkw.db(n, run, q)) for run in ("kill", "ctl")}
    if cases["kill"] != cases["ctl"]:
        problems.append("cases differ from the control (%d): control %s, chaos %s" % (
            len(cases["ctl"] ^ cases["kill"]), sorted(cases["ctl"] - cases["kill"])[:5],
            sorted(cases["kill"] - cases["ctl"])[:5]))
    q = "SELECT creditor_id, task_id, action, status FROM task"
    tasks = {run: Counter(tkw.db(n, run, q)) for run in ("kill", "ctl")}
    if tasks["kill"] != tasks["ctl"]:
        problems.append("tasks differ from the control: missing %s, extra %s" % (
            list(tasks["ctl"] - tasks["kill"])[:10], list(tasks["kill"] - tasks["ctl"])[:10]))
    outs = {run: Counter(tkw.db(n, run, "SELECT topic, event_id FROM outbox"))
            for run in ("kill", "ctl")}
    lost_out, doubled_out = outs["ctl"] - outs["kill"], outs["kill"] - outs["ctl"]
    if lost_out or doubled_out:
        problems.append("outbox differs from the control: missing %s, doubled %s" % (
            list(lost_out.items())[:10], list(doubled_out.items())[:10]))
    emitted, seen = check_tasks_topic(n)
    missing = emitted - set(seen)
    if missing or set(seen) - emitted:
        problems.append("tasks topic: %d task ids missing %s, %d unknown" % (
            len(missing), sorted(missing)[:10], len(set(seen) - emitted)))
    dups = sum(seen.values()) - len(seen)
    wrong, extra, dlq_rows, dlq_dups = check_dlq(n, planted)
    if wrong or extra or dlq_rows != len(planted):
        problems.append("DLQ: %d planted wrong or missing %s, %d not planted %s, %d outbox rows "
                        "for %d planted" % (len(wrong), wrong[:5], len(extra), extra[:5],
                                            dlq_rows, len(planted)))
    cases, pending, missing_c, stale, cache_bad = check_cache(n)
    still_owed = owed(n)
    if cache_bad or pending or stale or still_owed:
        problems.append("cache: %d of %d cases differ %s; %d one version behind %s; %d writes "
                        "still pending, %d batches still owed" % (
                            len(cache_bad), cases, cache_bad[:5], len(stale), stale[:5],
                            pending, still_owed))
    lost = sum(lost_out.values()) + len(missing) + len(wrong)
    doubled = sum(doubled_out.values()) + max(dlq_rows - len(planted), 0) + len(extra)
    stats = {"tasks": sum(tasks["kill"].values()), "task_ids_on_topic": len(seen),
             "task_duplicates_dropped": dups, "dlq": len(planted), "dlq_duplicates": dlq_dups,
             "cases": cases, "cache_missing": missing_c,
             "cache_stale": len(stale), "invoices": sum(len(c.invoices) for c in ref.values()),
             "promises": sum(len(c.promises) for c in ref.values()),
             "plans": sum(len(c.plans) for c in ref.values()), "lost": lost, "doubled": doubled}
    return problems, stats


# ---- main --------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=20261130)
    ap.add_argument("--keep", action="store_true", help="keep the databases and topics")
    ap.add_argument("--logs", default=None, help="where the services' logs go")
    args = ap.parse_args()
    started = time.time()
    rng = random.Random(args.seed)
    rid = "%d" % args.seed + su.run_id()[:4]
    n_debtors = max(int(args.events / EVENTS_PER_DEBTOR), 10)
    replication = min(3, len(su.BROKERS.split(",")))
    log("seed %d (replay: %s --events %d --seed %d); %d debtors; brokers %s" % (
        args.seed, sys.argv[0], args.events, args.seed, n_debtors, su.BROKERS))
    su.recobroctl("migrate")
    n = make_names(rid, replication)
    s, ref, _ = rpl.generate(rid, n["creditor"], rng, n_debtors=n_debtors)
    eras = {e: tkw.with_duplicates([("%s/%s" % (s.creditor, d), ev)
                                    for _, era, _, d, ev in s.events if era == e], rng)
            for e in WORKERS}
    dups = sum(len(m) for m in eras.values()) - len(s.events)
    planted = plant_bad(n, eras, rng)
    del s
    sched = plan_schedule(rng)
    total = sum(len(m) for m in eras.values())
    log("%d events: %d generated, %d re-sent, %d planted bad inputs (+1 base case); eras %s" % (
        total, total - dups - len(planted) - 1, dups, len(planted),
        {e: len(m) for e, m in eras.items()}))
    log("schedule: %s" % ", ".join("era %d@%.0f%% %s" % (e, f * 100, a) for e, f, a in sched))
    log_dir = Path(args.logs or (su.ROOT / ".local" / "soak-logs" / rid))
    log_dir.mkdir(parents=True, exist_ok=True)
    fleet = Fleet(log_dir)
    relays = [fleet.start("recobro-relay", envs(n, "kill", "relay", rpl.T0))
              for _ in range(RELAYS)]
    published = Counter()
    p = su.producer()
    ok = False
    try:
        for era in WORKERS:
            run_era(n, era, eras[era], published, sched, rng, fleet, relays, p)
            eras[era] = None
        swept = final_sweep(n, rng, fleet)
        su.wait_for(lambda: backlog(n) == 0, timeout=3600, interval=0.5, what="outbox drained")
        fleet.stop(relays)
        t_run = time.time() - started
        log("ran in %.0f s; %d cases swept at the final clock; kills %s; landing mid-stream %s" %
            (t_run, swept, dict(fleet.kills), dict(fleet.landed)))
        problems, stats = verify(n, ref, planted, fleet)
        log("checked: %s" % json.dumps(stats))
        log("RESULT events %d (%d re-sent, %d bad), debtors %d, kills %s, wall %.0f s, lost %d, "
            "doubled %d, task duplicates dropped %d" % (
                total, dups, len(planted), n_debtors, dict(fleet.kills), time.time() - started,
                stats["lost"], stats["doubled"], stats["task_duplicates_dropped"]))
        for pr in problems:
            log("FAIL " + pr)
        ok = not problems
    finally:
        for w in relays:
            w.stop()
        if ok and not args.keep:
            su.delete_topics_of(rid)
            for db in n["db"].values():
                su.drop_database(db)
    log("%s (seed %d, logs in %s)" % ("PASS" if ok else "FAILED", args.seed, log_dir))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
