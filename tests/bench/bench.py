"""bench.py - `make bench`: the runtime's throughput and latency against the real local stack,
as ratios to a floor measured in the same run (see DESIGN.md, "Performance targets").

1. N test.add events are produced to a fresh 6-partition topic.
2. Floor: recobro-benchfloor consumes them with plain librdkafka and writes processed_event
   with one bulk COPY.
3. Runtime: recobro-testsum (consume -> one transaction per batch: dedupe, effect, outbox,
   offsets) and recobro-relay (outbox -> Kafka) on the same messages, timed to the last stored
   offset (worker) and to the last published output (end to end); the worker's RSS (VmRSS) at its
   first stored offset and once the relay is done too, and its peak while it consumed, sampled
   every 50 ms (BENCH_EVENTS=1000000 for the one-million-event run).
4. Latency: a steady 1,000 events/s for a while, each event's time from its production to its
   output on Kafka (p50/p99).
5. The case workers (recobro-overdue, -interactions, -payments) on a sample portfolio, each
   beside its own floor (the same messages, plain librdkafka + one bulk COPY), with its RSS.
6. The REAL overdue worker's latency: BENCH_RATE new debtors/s (one invoice.overdue each) for
   BENCH_RATE_SECONDS, paced; from the producer's call to the Kafka timestamp of the debtor's
   first task.created on the tasks topic (published by the relay): p50, p99, max.
7. The scheduler: one `recobroctl scheduler tick --now` 45 days ahead over the portfolio (every
   open case due), timed as a process: due cases/s; then the same tick again (nothing due).
Prints numbers only; nothing here asserts on time (machines are noisy)."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "local"))
import portfolio  # noqa: E402
import stackutil as su  # noqa: E402
from confluent_kafka import Consumer, TopicPartition  # noqa: E402

N = int(os.environ.get("BENCH_EVENTS", "200000"))
N_OVERDUE_DEBTORS = int(os.environ.get("BENCH_OVERDUE_DEBTORS", "12000"))
RATE = int(os.environ.get("BENCH_RATE", "1000"))
RATE_SECONDS = int(os.environ.get("BENCH_RATE_SECONDS", "15"))


def high_watermarks(topic):
    c = Consumer({"bootstrap.servers": su.BROKERS, "group.id": "bench-wm-" + su.run_id()})
    md = c.list_topics(topic, timeout=10)
    total = 0
    for p in md.topics[topic].partitions:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)
        total += hi
    c.close()
    return total


def stored(group):
    return su.query("SELECT coalesce(sum(next_offset), 0) FROM consumer_offset "
                    "WHERE group_id = %s", group)[0][0]


def rss_kib(pid):
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def run_floor(topic, count, rid):
    env = dict(os.environ)
    env.update(su.ENV)
    out = subprocess.run([str(su.BIN / "recobro-benchfloor"), topic, "bench-floor-" + rid,
                          str(count)], env=env, capture_output=True, text=True, check=True,
                         timeout=600)
    secs = float(out.stdout.split("floor_seconds=")[1].split()[0])
    su.query("DELETE FROM processed_event WHERE service = 'bench-floor' RETURNING 1")
    return count / secs


def time_worker(name, env, group, count):
    """Starts a worker and times it from its first stored offset to the last. Returns
    (events/s, RSS KiB at the first stored offset, RSS KiB at the last)."""
    logs = Path(su.ROOT / ".local" / "logs")
    logs.mkdir(parents=True, exist_ok=True)
    w = su.Service(name, env, logs).start()
    try:
        first = rss_start = None
        deadline = time.time() + 900
        while time.time() < deadline:
            done = stored(group)
            if first is None and done > 0:
                first = time.time()
                rss_start = rss_kib(w.proc.pid)
            if done >= count:
                return count / (time.time() - first), rss_start, rss_kib(w.proc.pid)
            assert w.proc.poll() is None, w.tail()
            time.sleep(0.05)
        raise AssertionError("%s did not finish in time" % name)
    finally:
        w.stop()


def bench_overdue(rid):
    """The overdue worker on a realistic portfolio (every event a real case change)."""
    import datetime as dt
    import random
    topics = {k: "bench.%s.ov.%s" % (rid, k) for k in ("in", "tasks", "cases", "dlq")}
    su.create_topics(list(topics.values()))
    su.recobroctl("policy", "load", str(su.ROOT / "deploy" / "policy" / "default.json"),
                  check=False)
    msgs = portfolio.build(N_OVERDUE_DEBTORS, dt.date.today(), random.Random(7), tag=rid + "-")
    p = su.producer()
    su.produce(topics["in"], ((k, v, None) for k, v in msgs), p=p)
    assert p.flush(120) == 0
    floor = run_floor(topics["in"], len(msgs), rid + "ov")
    group = "bench-ov-" + rid
    env = {"RECOBRO_TOPIC_INVOICES": topics["in"], "RECOBRO_TOPIC_TASKS": topics["tasks"],
           "RECOBRO_TOPIC_CASE_EVENTS": topics["cases"], "RECOBRO_TOPIC_DLQ": topics["dlq"],
           "RECOBRO_GROUP_ID": group, "RECOBRO_LOG_LEVEL": "warn"}
    rate, rss0, rss1 = time_worker("recobro-overdue", env, group, len(msgs))
    rows = [("recobro-overdue", "cases, segments, tasks", len(msgs), floor, rate, rss0, rss1)]

    # The same cases' next events: a contact attempt each (interactions), then a partial
    # payment each (payments). Every event loads, changes, re-plans and saves a case.
    book = []
    portfolio.build(N_OVERDUE_DEBTORS, dt.date.today(), random.Random(7), tag=rid + "-",
                    book=book)
    today = dt.date.today().isoformat()
    book = [e for e in book if e["clean"]]
    phases = {
        "interactions": [
            (e["key"], su.event("crm/bench", "c-" + e["debtor"], "contact.attempted",
                                {"creditor_id": e["creditor"], "debtor_id": e["debtor"],
                                 "channel": "phone", "outcome": "no_answer",
                                 "at": today + "T09:00:00Z"})) for e in book],
        "payments": [
            (e["key"], su.event("psp/bench", "p-" + e["debtor"], "payment.received",
                                {"creditor_id": e["creditor"], "debtor_id": e["debtor"],
                                 "payment_id": "P-" + e["debtor"], "currency": e["currency"],
                                 "amount": portfolio.money(1, e["currency"]),
                                 "received_at": today + "T10:00:00Z"})) for e in book],
    }
    for svc, events in phases.items():
        topic = "bench.%s.%s" % (rid, svc)
        su.create_topics([topic])
        su.produce(topic, ((k, v, None) for k, v in events))
        floor_svc = run_floor(topic, len(events), rid + svc)
        g = "bench-%s-%s" % (svc, rid)
        env_svc = dict(env, RECOBRO_GROUP_ID=g, **{"RECOBRO_TOPIC_" + svc.upper(): topic})
        rate_svc, rss0, rss1 = time_worker("recobro-" + svc, env_svc, g, len(events))
        what = "contacts, features, re-plan" if svc == "interactions" else \
            "allocation, settlement, re-plan"
        rows.append(("recobro-" + svc, what, len(events), floor_svc, rate_svc, rss0, rss1))
    return rows, env


def lat_event(debtor, due):
    """The latency phase's invoice.overdue of a new debtor."""
    return su.event("erp/benchlat", "lat-" + debtor, "invoice.overdue", {
        "creditor_id": "benchlat", "creditor_name": "Bench Latency S.L.", "debtor_id": debtor,
        "debtor": {"id": debtor, "name": "Bench Debtor", "timezone": "Europe/Madrid",
                   "country": "ES"},
        "invoice": {"id": "INV-1", "currency": "EUR", "amount": "120.00",
                    "open_amount": "120.00", "due_on": due}})


def warm_up(p, topics, rid, due):
    """One debtor through the whole path before the clock starts, so that the measurement is of
    the steady rate it names: without it the producer's first delivery (its idempotent producer
    id and the new topic's metadata, about 0.5 s here) and the worker's first batch (the
    messages queued meanwhile) were the first 800 debtors' latency, 0.3-0.7 s, and the p99."""
    debtor = "W-%s" % rid
    p.produce(topics["in"], key="benchlat/" + debtor, value=lat_event(debtor, due))
    assert p.flush(60) == 0
    got = su.consume(topics["tasks"], 1, timeout=60,
                     predicate=lambda m: json.loads(m.value())["type"] == "task.created")
    assert got, "the warm-up debtor got no task"


def bench_overdue_latency(rid):
    """invoice.overdue -> its first task.created on the tasks topic, through the REAL overdue
    worker and the relay, at a steady RATE new debtors/s for RATE_SECONDS: each debtor's time
    from the producer's call to the Kafka timestamp of its first task (set when the relay
    published it). Returns (debtors sent, debtors with a task, p50 ms, p99 ms, max ms)."""
    import datetime as dt
    topics = {k: "bench.%s.lat.%s" % (rid, k) for k in ("in", "tasks", "cases", "dlq")}
    su.create_topics(list(topics.values()))
    # The throughput runs above ran without a relay: their outbox is a backlog this run's relay
    # must not publish first (the benchmark's own database, dropped at the end).
    with su.pg() as conn:
        conn.execute("UPDATE outbox SET sent_at = now() WHERE sent_at IS NULL")
    group = "bench-lat-" + rid
    env = {"RECOBRO_TOPIC_INVOICES": topics["in"], "RECOBRO_TOPIC_TASKS": topics["tasks"],
           "RECOBRO_TOPIC_CASE_EVENTS": topics["cases"], "RECOBRO_TOPIC_DLQ": topics["dlq"],
           "RECOBRO_GROUP_ID": group, "RECOBRO_LOG_LEVEL": "warn"}
    logs = Path(su.ROOT / ".local" / "logs")
    worker = su.Service("recobro-overdue", env, logs).start()
    relay = su.Service("recobro-relay", env, logs).start()
    sent = {}
    try:
        worker.wait_ready()
        relay.wait_ready()
        due = (dt.date.today() - dt.timedelta(days=20)).isoformat()
        p = su.producer()
        warm_up(p, topics, rid, due)
        interval = 1.0 / RATE
        start = time.time()
        for i in range(RATE * RATE_SECONDS):
            debtor = "L-%s-%06d" % (rid, i)
            key = "benchlat/" + debtor
            value = lat_event(debtor, due)
            delay = start + i * interval - time.time()
            if delay > 0:
                time.sleep(delay)
            sent[debtor] = time.time()
            p.produce(topics["in"], key=key, value=value)
            p.poll(0)
        assert p.flush(60) == 0
        first = {}
        c = Consumer({"bootstrap.servers": su.BROKERS, "group.id": "bench-latr-" + rid,
                      "auto.offset.reset": "earliest", "enable.auto.commit": False})
        c.subscribe([topics["tasks"]])
        deadline = time.time() + 120
        try:
            while len(first) < len(sent) and time.time() < deadline:
                for m in c.consume(num_messages=1000, timeout=0.5):
                    if m.error():
                        continue
                    ev = json.loads(m.value())
                    if ev["type"] != "task.created":
                        continue
                    d = ev["data"]["debtor_id"]
                    t = m.timestamp()[1] / 1000.0
                    if d in sent and (d not in first or t < first[d]):
                        first[d] = t
        finally:
            c.close()
    finally:
        worker.stop()
        relay.stop()
    lats = sorted((first[d] - sent[d]) * 1000 for d in first)
    if not lats:
        return len(sent), 0, float("nan"), float("nan"), float("nan")
    return (len(sent), len(lats), lats[len(lats) // 2], lats[max(0, int(len(lats) * 0.99) - 1)],
            lats[-1])


def bench_scheduler():
    """One `recobroctl scheduler tick --now` 45 days ahead over the whole bench portfolio (every
    open case's next step due), timed as a process; then the same tick again (nothing due any
    more: the cost of a sweep with no work). Returns (cases in the portfolio, summary of the
    first tick, its seconds, seconds of the second tick, cases the second swept)."""
    import datetime as dt
    now = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=45)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    cases = su.query("SELECT count(*) FROM debt_case")[0][0]
    t0 = time.time()
    r = su.recobroctl("scheduler", "tick", "--now", now)
    secs = time.time() - t0
    t0 = time.time()
    r2 = su.recobroctl("scheduler", "tick", "--now", now)
    secs2 = time.time() - t0
    return cases, json.loads(r.stdout), secs, secs2, json.loads(r2.stdout)["cases"]


def target_line(what, met, measured):
    """One line of the targets summary."""
    return "  %-7s %-66s %s" % ("met" if met else "MISSED", what, measured)


def own_database(rid):
    """A database and a Redis db of the run's own, so the benchmark's cases never mix with the
    demo's or the tests'. Points stackutil and every process started here at them."""
    db = "recobro_bench_" + rid
    with su.pg() as conn:
        conn.execute('CREATE DATABASE "%s"' % db)
    su.DSN = su.ENV["RECOBRO_PG_DSN"] = os.environ["RECOBRO_PG_DSN"] = su.dsn_for(db)
    base = su.REDIS_URL.rsplit("/", 1)[0]
    su.REDIS_URL = su.ENV["RECOBRO_REDIS_URL"] = os.environ["RECOBRO_REDIS_URL"] = base + "/9"
    return db


def drop_database(db, admin_dsn):
    import psycopg
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % db)
    su.rds().flushdb()


def main():
    rid = su.run_id()
    admin_dsn = su.DSN
    started = time.time()
    db = own_database(rid)
    try:
        run(rid)
    finally:
        drop_database(db, admin_dsn)
    print("\nbench took %.0f s" % (time.time() - started))


def run(rid):
    src = "bench/" + rid
    tin, tout, tdlq = "bench.%s.in" % rid, "bench.%s.out" % rid, "bench.%s.dlq" % rid
    su.recobroctl("migrate")
    su.create_topics([tin, tout, tdlq])
    keys = ["%s-k%d" % (rid, i) for i in range(1000)]

    t0 = time.time()
    p = su.producer()
    su.produce(tin, (("acme/" + keys[i % 1000],
                      su.event(src, str(i), "test.add", {"key": keys[i % 1000], "amount": "1"}),
                      None) for i in range(N)), p=p)
    assert p.flush(120) == 0
    print("produced %d events in %.1f s" % (N, time.time() - t0))

    floor = run_floor(tin, N, rid)

    logs = Path(su.ROOT / ".local" / "logs")
    logs.mkdir(parents=True, exist_ok=True)
    wenv = {"RECOBRO_TOPIC_INVOICES": tin, "RECOBRO_TOPIC_TASKS": tout,
            "RECOBRO_TOPIC_DLQ": tdlq, "RECOBRO_GROUP_ID": "bench-" + rid,
            "RECOBRO_LOG_LEVEL": "warn"}
    worker = su.Service("recobro-testsum", wenv, logs).start()
    relay = su.Service("recobro-relay", wenv, logs).start()
    try:
        first = None
        rss_start = None
        rss_peak = 0
        worker_done = e2e_done = None
        deadline = time.time() + 900
        while time.time() < deadline and (worker_done is None or e2e_done is None):
            done = stored("bench-" + rid)
            now = time.time()
            if first is None and done > 0:
                first = now
                rss_start = rss_kib(worker.proc.pid)
            if worker_done is None:
                rss_peak = max(rss_peak, rss_kib(worker.proc.pid))
            if worker_done is None and done >= N:
                worker_done = now
            if worker_done is not None and e2e_done is None and high_watermarks(tout) >= N:
                e2e_done = time.time()
            time.sleep(0.05)
        assert worker_done and e2e_done, "the runtime did not finish in time"
        rss_end = rss_kib(worker.proc.pid)
        rt = N / (worker_done - first)
        e2e = N / (e2e_done - first)

        # Latency at a steady rate: production time of each input vs. its output on Kafka.
        lat_src = "benchlat/" + rid
        sent = {}
        p = su.producer()
        # A fresh producer's first delivery (its idempotent producer id, the topic's metadata)
        # takes up to 0.5 s: one event before the clock starts, as in warm_up().
        p.produce(tin, key="acme/" + keys[0], value=su.event(
            "benchwarm/" + rid, "0", "test.add", {"key": keys[0], "amount": "1"}))
        assert p.flush(60) == 0
        interval = 1.0 / RATE
        start = time.time()
        for i in range(RATE * RATE_SECONDS):
            target = start + i * interval
            delay = target - time.time()
            if delay > 0:
                time.sleep(delay)
            sent[str(i)] = time.time()
            p.produce(tin, key="acme/" + keys[i % 1000],
                      value=su.event(lat_src, str(i), "test.add",
                                     {"key": keys[i % 1000], "amount": "1"}))
            p.poll(0)
        p.flush(60)
        got = su.consume(tout, len(sent), timeout=120,
                         predicate=lambda m: json.loads(m.value())["source"] == "recobro/testsum"
                         and json.loads(m.value())["id"].startswith("out-" + lat_src + "-"))
        lats = []
        for m in got:
            iid = json.loads(m.value())["id"][len("out-" + lat_src + "-"):]
            _, ts = m.timestamp()
            lats.append(ts / 1000.0 - sent[iid])
        lats.sort()
        p50 = lats[len(lats) // 2] * 1000
        p99 = lats[int(len(lats) * 0.99) - 1] * 1000
    finally:
        worker.stop()
        relay.stop()

    print()
    print("recobro bench (%d events, 6 partitions, one worker, batch %s)" %
          (N, os.environ.get("RECOBRO_BATCH_MAX", "500")))
    print("  floor (plain librdkafka + one bulk COPY)       %9.0f events/s" % floor)
    print("  runtime (consume -> tx per batch -> outbox)    %9.0f events/s   ratio %.2f" %
          (rt, rt / floor))
    print("  end to end (... -> relay -> Kafka)             %9.0f events/s   ratio %.2f" %
          (e2e, e2e / floor))
    print("  latency at %d events/s for %d s (%d events): p50 %.0f ms, p99 %.0f ms" %
          (RATE, RATE_SECONDS, len(lats), p50, p99))
    print("  worker RSS: %d KiB at start, %d KiB after %d events (peak %d KiB)" %
          (rss_start, rss_end, N, rss_peak))
    targets = [target_line("runtime at least 50% of its floor", rt / floor >= 0.5,
                      "ratio %.2f" % (rt / floor)),
               target_line("worker RSS flat over one million events",
                      N >= 1000000 and rss_end <= rss_start * 1.1 + 4096,
                      "%+d KiB over %d events%s" % (rss_end - rss_start, N, "" if N >= 1000000
                                                    else "; run with BENCH_EVENTS=1000000"))]

    if os.environ.get("BENCH_OVERDUE", "1") != "0":
        rows, _ = bench_overdue(rid)
        print("\nthe case workers on a sample portfolio (%d debtors, 6 partitions, one worker "
              "each; floor: the same messages, plain librdkafka + one bulk COPY)" %
              N_OVERDUE_DEBTORS)
        for name, what, n, floor_w, rate, rss0, rss1 in rows:
            print("  %-21s %-32s %6d events %7.0f events/s  floor %7.0f  ratio %.3f  "
                  "RSS %d -> %d KiB" % (name, "(" + what + ")", n, rate, floor_w, rate / floor_w,
                                        rss0, rss1))
            targets.append(target_line("%s at least 10,000 events/s and 10%% of its floor" % name,
                                  rate >= 10000 and rate / floor_w >= 0.10,
                                  "%.0f events/s, ratio %.3f" % (rate, rate / floor_w)))
        n_sent, n_got, p50, p99, pmax = bench_overdue_latency(rid)
        print("  recobro-overdue latency, invoice.overdue -> first task.created on the tasks "
              "topic (worker + relay),")
        print("    %d new debtors/s for %d s: %d sent, %d with a task: p50 %.0f ms, p99 %.0f ms, "
              "max %.0f ms" % (RATE, RATE_SECONDS, n_sent, n_got, p50, p99, pmax))
        targets.append(target_line("invoice -> task p99 under 250 ms at 1,000 new debtors/s",
                              RATE >= 1000 and n_got == n_sent and p99 < 250,
                              "p99 %.0f ms at %d/s, %d of %d with a task" % (p99, RATE, n_got,
                                                                              n_sent)))
        cases, summary, secs, secs2, cases2 = bench_scheduler()
        print("  scheduler tick (recobroctl, one process) over %d cases, 45 days ahead: %d due "
              "cases swept in %.2f s = %.0f due cases/s (%d tasks created, %d cancelled, "
              "%d failed); the same tick again: %d due, %.2f s" % (
                  cases, summary["cases"], secs, summary["cases"] / secs,
                  summary["tasks_created"], summary["tasks_cancelled"], summary["failed"],
                  cases2, secs2))
        targets.append(target_line("scheduler at least 5,000 due cases/s",
                              summary["cases"] / secs >= 5000,
                              "%.0f due cases/s" % (summary["cases"] / secs)))
    print("\ntargets (issue 10; printed, not asserted: machines are noisy)")
    for line in targets:
        print(line)


if __name__ == "__main__":
    main()
