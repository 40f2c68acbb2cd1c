"""test_overlap_rebalance.py - the worker polls the next batch while the batch's COMMIT runs
(worker.c, prepare_next()): a rebalance served in that window must read the COMMIT first and
drop the prepared messages of the partitions it loses, or the new owner would redo a committed
batch, or skip or reorder messages the old one held. Here events come at a steady rate while
every COMMIT is made slow (so the workers spend most of their time in that window, a next batch
part prepared), and workers join and leave the group mid-stream; then every total is exact,
every output id is there at least once, and each key's outputs came in the order of its
inputs."""
import json
import random
import threading
import time

import stackutil as su
from conftest import worker_env

N = 6_000
RATE = 300  # events/s: below what the workers manage, so their queues are often empty


def test_rebalance_while_next_batch_prepared(names, services):
    rid = names["rid"]
    rng = random.Random(rid)
    keys = ["%s-k%d" % (rid, i) for i in range(60)]
    expected = {k: 0 for k in keys}
    stream = []
    for i in range(N):
        k = keys[i % len(keys)]
        amount = rng.randint(1, 100_000)
        expected[k] += amount
        stream.append(("acme/" + k, su.event("erp/test", "%s-%d" % (rid, i), "test.add",
                                              {"key": k, "amount": str(amount)})))
    # Every COMMIT of a batch with this test's keys takes a few ms per row (a deferred trigger).
    fn = "slow_%s" % rid
    ddl(["CREATE TABLE IF NOT EXISTS test_total (key text PRIMARY KEY, total bigint NOT NULL, "
         "events bigint NOT NULL)",
         "CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
         "PERFORM pg_sleep(0.003); RETURN NULL; END $$" % fn,
         "CREATE CONSTRAINT TRIGGER %s AFTER INSERT OR UPDATE ON test_total "
         "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.key LIKE '%s-%%') "
         "EXECUTE FUNCTION %s()" % (fn, rid, fn)])
    try:
        run(names, services, keys, expected, stream)
    finally:
        ddl(["DROP TRIGGER IF EXISTS %s ON test_total" % fn, "DROP FUNCTION IF EXISTS %s()" % fn])


def ddl(statements):
    with su.pg() as conn:
        for sql in statements:
            conn.execute(sql.replace("%%", "%"))


def produce_paced(topic, stream, failures):
    try:
        p = su.producer()
        start = time.time()
        for i, (k, v) in enumerate(stream):
            delay = start + i / RATE - time.time()
            if delay > 0:
                time.sleep(delay)
            p.produce(topic, key=k, value=v)
            p.poll(0)
        assert p.flush(60) == 0
    except Exception as e:  # noqa: BLE001 - reported by the test's thread
        failures.append(e)


def run(names, services, keys, expected, stream):
    rid = names["rid"]
    env = worker_env(names, RECOBRO_BATCH_MAX="100", RECOBRO_KAFKA_SESSION_TIMEOUT_MS="6000")
    services("recobro-relay", env)

    def progress():
        return su.query("SELECT coalesce(sum(next_offset), 0) FROM consumer_offset "
                        "WHERE group_id = %s", names["group"])[0][0]

    first = services("recobro-testsum", env)
    failures = []
    producer = threading.Thread(target=produce_paced, args=(names["in"], stream, failures))
    producer.start()
    su.wait_for(lambda: progress() >= N // 20, timeout=120, interval=0.01, what="a first commit")
    # Members join (each join revokes partitions of the running ones) and leave (each leave
    # assigns theirs to the others) while events come; ready means assigned.
    second = services("recobro-testsum", env)
    third = services("recobro-testsum", env)
    assert second.stop() == 0
    fourth = services("recobro-testsum", env)
    assert progress() < N, "the stream ended before the members came and went"
    producer.join()
    assert not failures, failures
    su.wait_for(lambda: progress() == N, timeout=300, what="all offsets stored")

    rows = dict(su.query("SELECT key, total FROM test_total WHERE key = ANY(%s)", keys))
    assert rows == expected
    counts = su.query("SELECT sum(events) FROM test_total WHERE key = ANY(%s)", keys)[0][0]
    assert counts == N  # each event applied exactly once

    out = su.consume(names["out"], N, timeout=300)
    order = {k: [] for k in keys}
    seen = set()
    for m in out:
        v = json.loads(m.value())
        if v["id"] in seen:
            continue  # the relay's at-least-once
        seen.add(v["id"])
        order[v["data"]["key"]].append(int(v["data"]["input_id"].rsplit("-", 1)[1]))
    assert seen == {"out-erp/test-%s-%d" % (rid, i) for i in range(N)}
    for k, idx in order.items():
        assert idx == sorted(idx), "outputs of %s out of order" % k

    # The window this test is about was hit: a partition revoked while a COMMIT ran, with
    # prepared messages of it dropped.
    for w in (first, third, fourth):
        assert w.proc.poll() is None
    logs = "".join(p.read_text(errors="replace")
                   for p in first.log_path.parent.glob("recobro-testsum-*.log"))
    during = [json.loads(line) for line in logs.splitlines()
              if '"event":"rebalance.during_commit"' in line]
    assert any(e["revoked"] for e in during), logs[-3000:]
    assert any(e["revoked"] and e["next_dropped"] > 0 for e in during), during
