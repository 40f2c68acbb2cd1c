"""test_faults.py - dependencies failing under the worker: PostgreSQL stopped mid-stream (the
worker retries and recovers by itself, nothing lost or doubled), Redis stopped (processing
goes on; the cache is re-written when Redis returns), SIGTERM while busy (exit 0 within 10 s
with everything consumed so far committed)."""
import json
import signal
import threading
import time

import stackutil as su
from conftest import worker_env


def make_events(rid, n, keys, start=0):
    expected = {k: 0 for k in keys}
    msgs = []
    for i in range(start, start + n):
        k = keys[i % len(keys)]
        amount = i % 977 + 1
        expected[k] += amount
        msgs.append(("acme/" + k, su.event("erp/test", "%s-%d" % (rid, i), "test.add",
                                            {"key": k, "amount": str(amount)}), None))
    return msgs, expected


def totals(keys):
    return dict(su.query("SELECT key, total FROM test_total WHERE key = ANY(%s)", keys))


def test_postgres_outage(names, services):
    rid = names["rid"]
    keys = ["%s-k%d" % (rid, i) for i in range(10)]
    msgs, expected = make_events(rid, 4000, keys)
    worker = services("recobro-testsum", worker_env(names, RECOBRO_BACKOFF_MAX_MS="1000"))

    def feed():
        for i in range(0, len(msgs), 100):
            su.produce(names["in"], msgs[i:i + 100])
            time.sleep(0.05)

    t = threading.Thread(target=feed)
    t.start()
    time.sleep(1.0)
    su.stack("pg-stop")
    time.sleep(4)
    su.stack("pg-start")
    t.join()
    su.wait_for(lambda: totals(keys) == expected, timeout=180, what="totals after outage")
    assert worker.proc.poll() is None
    assert worker.metric("recobro_db_retries_total") >= 1
    assert worker.metric("recobro_dlq_total", 'reason="processing_error"') == 0
    su.wait_for(lambda: worker.http("/readyz")[0] == 200, timeout=30, what="ready again")


def test_redis_outage(names, services):
    rid = names["rid"]
    keys = ["%s-k%d" % (rid, i) for i in range(5)]
    msgs, expected = make_events(rid, 500, keys)
    worker = services("recobro-testsum", worker_env(names))
    su.stack("redis-stop")
    try:
        su.produce(names["in"], msgs)
        su.wait_for(lambda: totals(keys) == expected, timeout=120, what="totals without redis")
        assert worker.metric("recobro_cache_errors_total") >= 1
        assert worker.proc.poll() is None
    finally:
        su.stack("redis-start")
    # The writes that failed were remembered, and are re-written now that Redis answers.
    r = su.rds()

    def cached():
        try:
            return all(r.get("recobro:test:" + k) is not None and
                       json.loads(r.get("recobro:test:" + k))["total"] == expected[k]
                       for k in keys)
        except Exception:
            return False

    su.wait_for(cached, timeout=60, what="cache re-written after outage")


def test_sigterm_while_busy(names, services):
    rid = names["rid"]
    keys = ["%s-k%d" % (rid, i) for i in range(10)]
    msgs, _ = make_events(rid, 20000, keys)
    su.produce(names["in"], msgs)
    worker = services("recobro-testsum", worker_env(names, RECOBRO_BATCH_MAX="100"))
    su.wait_for(lambda: su.query("SELECT coalesce(sum(next_offset), 0) FROM consumer_offset "
                                 "WHERE group_id = %s", names["group"])[0][0] > 1000,
                what="busy")
    started = time.time()
    worker.kill(signal.SIGTERM)
    rc = worker.proc.wait(timeout=10)
    assert rc == 0
    assert time.time() - started < 10
    assert '"worker.stopped"' in worker.tail(10)
    # Everything consumed was committed: the stored offsets and the totals agree exactly.
    offsets = su.query("SELECT kafka_partition, next_offset FROM consumer_offset "
                       "WHERE group_id = %s", names["group"])
    applied = su.query("SELECT sum(events) FROM test_total WHERE key = ANY(%s)", keys)[0][0]
    assert applied == sum(o for _, o in offsets)
    assert 1000 < applied


def test_bad_setting_stops_at_start(names):
    import subprocess
    env = dict(su.ENV)
    env["RECOBRO_BATCH_MAX"] = "lots"
    r = subprocess.run([str(su.BIN / "recobro-testsum")], env=env, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "RECOBRO_BATCH_MAX" in lines[0]
    env = dict(su.ENV)
    env["RECOBRO_KAFKA_NO_SUCH_PROPERTY"] = "1"
    r = subprocess.run([str(su.BIN / "recobro-testsum")], env=env, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1
    assert "RECOBRO_KAFKA_NO_SUCH_PROPERTY" in r.stderr
    r = subprocess.run([str(su.BIN / "recobro-relay"), "--bogus"], env=env, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2


def test_cache_backlog_of_a_stopped_worker_drains_whole(names, services):
    """More cache writes remembered during a Redis outage than one drain takes (500): a worker
    started afterwards re-writes all of them, not only the first 500 (found by tests/soak: a
    worker stopped before its own drain left 1,509 rows in cache_pending for good)."""
    rid = names["rid"]
    keys = ["%s-k%d" % (rid, i) for i in range(1200)]
    msgs, expected = make_events(rid, len(keys), keys)
    ckeys = ["recobro:test:" + k for k in keys]
    pending = lambda: su.query("SELECT count(*) FROM cache_pending WHERE cache_key = ANY(%s)",
                               ckeys)[0][0]
    su.stack("redis-stop")
    try:
        worker = services("recobro-testsum", worker_env(names))
        su.produce(names["in"], msgs)
        su.wait_for(lambda: totals(keys) == expected, timeout=120, what="totals without redis")
        assert worker.stop() == 0
        assert pending() == len(keys)
    finally:
        su.stack("redis-start")
    services("recobro-testsum", worker_env(names))
    su.wait_for(lambda: pending() == 0, timeout=60, what="the whole backlog written")
    r = su.rds()
    assert all(json.loads(v)["total"] == expected[k] for k, v in zip(keys, r.mget(ckeys)))
