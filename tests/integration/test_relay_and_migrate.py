"""test_relay_and_migrate.py - two relays sharing one outbox publish each row once, in per-key
order; the relay keeps rows until the broker acknowledges them; migrations are idempotent and
refuse a database newer than the build; recobroctl's usage errors exit 2."""
import json

import psycopg

import stackutil as su
from conftest import worker_env


def insert_outbox(topic, rid, n, keys):
    """Writes n outbox rows directly, as a worker's transaction would."""
    with su.pg() as conn:
        with conn.cursor() as cur:
            rows = []
            for i in range(n):
                k = keys[i % len(keys)]
                body = json.dumps({"specversion": "1.0", "id": "%s-%d" % (rid, i),
                                   "source": "recobro/test", "type": "test.seq",
                                   "data": {"key": k, "seq": i}}).encode()
                shard = sum(k.encode()) % 16  # any shard works; per-key constant is what matters
                rows.append((shard, topic, k.encode(), body, "%s-%d" % (rid, i)))
            cur.executemany("INSERT INTO outbox (shard, topic, msg_key, payload, event_id) "
                            "VALUES (%s, %s, %s, %s, %s)", rows)


def test_two_relays_publish_each_row_once_in_key_order(names, services):
    rid = names["rid"]
    keys = ["%s-k%d" % (rid, i) for i in range(40)]
    env = worker_env(names, RECOBRO_RELAY_BATCH="100")
    services("recobro-relay", env)
    services("recobro-relay", env)
    insert_outbox(names["out"], rid, 3000, keys)
    out = su.consume(names["out"], 3000, timeout=120)
    got = [json.loads(m.value()) for m in out]
    ids = [g["id"] for g in got]
    assert len(ids) == 3000 and len(set(ids)) == 3000  # no row published twice
    last = {}
    for g in got:  # consumption order within a partition is publication order
        k, seq = g["data"]["key"], g["data"]["seq"]
        assert seq > last.get(k, -1), "key %s out of order" % k
        last[k] = seq
    su.wait_for(lambda: su.query("SELECT count(*) FROM outbox WHERE event_id LIKE %s AND "
                                 "sent_at IS NULL", rid + "-%") == [(0,)], what="all marked")


def test_relay_keeps_rows_for_an_unknown_topic(names, services):
    """A row the broker refuses (no such topic, auto-creation aside) stays in the outbox."""
    rid = names["rid"]
    env = worker_env(names, RECOBRO_KAFKA_ALLOW_AUTO_CREATE_TOPICS="false",
                     RECOBRO_KAFKA_MESSAGE_TIMEOUT_MS="3000")
    insert_outbox("it.%s.missing" % rid, rid, 3, ["k"])
    relay = services("recobro-relay", env)
    su.wait_for(lambda: relay.metric("recobro_relay_errors_total") >= 3, timeout=60,
                what="delivery failures")
    assert su.query("SELECT count(*) FROM outbox WHERE event_id LIKE %s AND sent_at IS NULL",
                    rid + "-%") == [(3,)]
    with su.pg() as conn:  # leave nothing behind for other tests' relays
        conn.execute("DELETE FROM outbox WHERE event_id LIKE %s", (rid + "-%",))


def test_migrate_is_idempotent_and_refuses_newer(names):
    name = "scratch_%s" % names["rid"]
    dsn = su.create_database(name, migrate=False)  # the test migrates it itself
    try:
        r = su.recobroctl("migrate", env={"RECOBRO_PG_DSN": dsn})
        assert "migrated from version 0" in r.stdout
        r = su.recobroctl("migrate", env={"RECOBRO_PG_DSN": dsn})
        assert "up to date" in r.stdout
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("INSERT INTO schema_migrations (version, name) VALUES (9999, 'future')")
        r = su.recobroctl("migrate", env={"RECOBRO_PG_DSN": dsn}, check=False)
        assert r.returncode == 1
        assert "newer than this build" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    finally:
        su.drop_database(name)


def test_recobroctl_usage_and_errors():
    for args in ([], ["frobnicate"], ["migrate", "extra"], ["topics"]):
        r = su.recobroctl(*args, check=False)
        assert r.returncode == 2, args
        assert r.stderr
    r = su.recobroctl("migrate", env={"RECOBRO_PG_DSN": "host=127.0.0.1 port=1 dbname=x"},
                      check=False)
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1
    r = su.recobroctl("migrate", env={"RECOBRO_LOG_LEVEL": "chatty"}, check=False)
    assert r.returncode == 2 and "RECOBRO_LOG_LEVEL" in r.stderr
    r = su.recobroctl("topics", "ensure")
    assert "already present" in r.stdout
    r = su.recobroctl("help")
    assert "RECOBRO_PG_DSN" in r.stdout
