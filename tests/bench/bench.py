"""bench.py - `make bench`: the runtime's throughput and latency against the real local stack,
as ratios to a floor measured in the same run (see DESIGN.md, "Performance targets").

1. N test.add events are produced to a fresh 6-partition topic.
2. Floor: recobro-benchfloor consumes them with plain librdkafka and writes processed_event
   with one bulk COPY.
3. Runtime: recobro-testsum (consume -> one transaction per batch: dedupe, effect, outbox,
   offsets) and recobro-relay (outbox -> Kafka) on the same messages, timed to the last stored
   offset (worker) and to the last published output (end to end).
4. Latency: a steady 1,000 events/s for a while, each event's time from its production to its
   output on Kafka (p50/p99).
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
    """Starts a worker and times it from its first stored offset to the last."""
    logs = Path(su.ROOT / ".local" / "logs")
    logs.mkdir(parents=True, exist_ok=True)
    w = su.Service(name, env, logs).start()
    try:
        first = None
        deadline = time.time() + 900
        while time.time() < deadline:
            done = stored(group)
            if first is None and done > 0:
                first = time.time()
            if done >= count:
                return count / (time.time() - first)
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
    rate = time_worker("recobro-overdue", env, group, len(msgs))
    rows = [("recobro-overdue", "cases, segments, tasks", len(msgs), floor, rate)]

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
        rate_svc = time_worker("recobro-" + svc, env_svc, g, len(events))
        what = "contacts, features, re-plan" if svc == "interactions" else \
            "allocation, settlement, re-plan"
        rows.append(("recobro-" + svc, what, len(events), floor_svc, rate_svc))
    return rows


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
    db = own_database(rid)
    try:
        run(rid)
    finally:
        drop_database(db, admin_dsn)


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
        worker_done = e2e_done = None
        deadline = time.time() + 900
        while time.time() < deadline and (worker_done is None or e2e_done is None):
            done = stored("bench-" + rid)
            now = time.time()
            if first is None and done > 0:
                first = now
                rss_start = rss_kib(worker.proc.pid)
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
    print("  worker RSS: %d KiB at start, %d KiB after %d events" % (rss_start, rss_end, N))

    if os.environ.get("BENCH_OVERDUE", "1") != "0":
        rows = bench_overdue(rid)
        print("\nthe case workers on a sample portfolio (%d debtors, 6 partitions, one worker "
              "each; floor: the same messages, plain librdkafka + one bulk COPY)" %
              N_OVERDUE_DEBTORS)
        for name, what, n, floor_w, rate in rows:
            print("  %-21s %-32s %6d events %7.0f events/s  floor %7.0f  ratio %.3f" %
                  (name, "(" + what + ")", n, rate, floor_w, rate / floor_w))


if __name__ == "__main__":
    main()
