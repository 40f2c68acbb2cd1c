"""test_roundtrip.py - Kafka -> worker (one transaction per batch) -> PostgreSQL + outbox ->
relay -> Kafka, with the hot cache in Redis and the HTTP endpoints, against the real stack."""
import json

import psycopg

import stackutil as su
from conftest import worker_env


def test_round_trip(names, services):
    rid = names["rid"]
    keys = ["%s-k%d" % (rid, i) for i in range(7)]
    msgs, expected = [], {k: 0 for k in keys}
    for i in range(300):
        k = keys[i % len(keys)]
        amount = (i * 37) % 1000
        expected[k] += amount
        msgs.append(("acme/" + k, su.event("erp/test", "%s-%d" % (rid, i), "test.add",
                                            {"key": k, "amount": str(amount)}), None))
    su.produce(names["in"], msgs)

    worker = services("recobro-testsum", worker_env(names))
    relay = services("recobro-relay", worker_env(names))

    out = su.consume(names["out"], 300, timeout=120)
    ids = {json.loads(m.value())["id"] for m in out}
    assert ids == {"out-erp/test-%s-%d" % (rid, i) for i in range(300)}
    # Output is keyed like the input: everything about one key stays in order.
    for m in out:
        body = json.loads(m.value())
        assert m.key().decode() == body["data"]["key"]
        assert dict(m.headers())["content-type"].startswith(b"application/cloudevents+json")

    rows = dict(su.query("SELECT key, total FROM test_total WHERE key = ANY(%s)", keys))
    assert rows == expected
    r = su.rds()
    for k in keys:
        doc = json.loads(r.get("recobro:test:" + k))
        assert doc["total"] == expected[k]

    # Offsets are in PostgreSQL, per partition, and cover every message.
    stored = su.query("SELECT sum(next_offset) FROM consumer_offset WHERE group_id = %s",
                      names["group"])[0][0]
    assert stored == 300

    assert worker.http("/healthz")[0] == 200
    assert worker.http("/readyz")[0] == 200
    assert worker.metric("recobro_events_total", 'type="test.add",result="applied"') == 300
    assert "recobro_processing_seconds_bucket" in worker.http("/metrics")[1]
    assert relay.metric("recobro_outbox_published_total") >= 300
    assert worker.http("/nope")[0] == 404


def test_duplicates_in_one_batch_and_across_batches(names, services):
    rid = names["rid"]
    k = rid + "-dup"
    ev = su.event("erp/test", rid + "-same", "test.add", {"key": k, "amount": "5"})
    su.produce(names["in"], [("acme/" + k, ev, None)] * 3)
    worker = services("recobro-testsum", worker_env(names))
    su.wait_for(lambda: su.query("SELECT total FROM test_total WHERE key = %s", k), what="total")
    su.produce(names["in"], [("acme/" + k, ev, None)] * 2)
    su.wait_for(lambda: worker.metric("recobro_events_total",
                                      'type="test.add",result="duplicate"') == 4,
                what="duplicates counted")
    assert su.query("SELECT total, events FROM test_total WHERE key = %s", k) == [(5, 1)]


def test_old_event_ids_are_forgotten_after_the_retention(names, services):
    rid = names["rid"]
    with su.pg() as conn:
        conn.execute("INSERT INTO processed_event (source, event_id, service, topic, "
                     "kafka_partition, kafka_offset, processed_at) VALUES "
                     "('erp/old', %s, 'testsum', 't', 0, 0, now() - interval '2 days'), "
                     "('erp/old', %s, 'testsum', 't', 0, 1, now() - interval '10 minutes')",
                     (rid + "-old", rid + "-recent"))
    services("recobro-testsum", worker_env(names, RECOBRO_DEDUPE_RETENTION="86400"))
    su.wait_for(lambda: su.query("SELECT event_id FROM processed_event WHERE source = 'erp/old' "
                                 "AND event_id LIKE %s", rid + "-%") == [(rid + "-recent",)],
                timeout=30, what="the old id forgotten, the recent one kept")
    with su.pg() as conn:
        conn.execute("DELETE FROM processed_event WHERE source = 'erp/old'")


def test_a_long_backlog_of_old_event_ids_is_forgotten_in_chunks(names, services):
    """60,000 ids past the retention (a worker back after a long stop, or a steady load above
    what one statement every 10 minutes forgot: 83 events/s) are all forgotten within seconds,
    a chunk at a time between batches, while the worker goes on with its events; a recent id
    stays. Before: 50,000 at start, the rest 10 minutes later."""
    rid = names["rid"]
    name = "forget_%s" % rid
    dsn = su.create_database(name)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("INSERT INTO processed_event (source, event_id, service, topic, "
                         "kafka_partition, kafka_offset, processed_at) SELECT 'erp/old', "
                         "'old-' || g, 'testsum', 't', 0, g, now() - interval '2 days' "
                         "FROM generate_series(1, 60000) g")
            conn.execute("INSERT INTO processed_event (source, event_id, service, topic, "
                         "kafka_partition, kafka_offset, processed_at) VALUES ('erp/old', "
                         "'recent', 'testsum', 't', 0, 0, now() - interval '10 minutes')")
        worker = services("recobro-testsum", worker_env(
            names, RECOBRO_PG_DSN=dsn, RECOBRO_DEDUPE_RETENTION="86400"))

        def left():
            with psycopg.connect(dsn, autocommit=True) as conn:
                return conn.execute("SELECT event_id FROM processed_event WHERE source = "
                                    "'erp/old' ORDER BY event_id LIMIT 2").fetchall()
        su.wait_for(lambda: left() == [("recent",)], timeout=30,
                    what="the old ids forgotten, the recent one kept")
        k = rid + "-f"
        su.produce(names["in"], [("acme/" + k, su.event("test/forget", rid, "test.add",
                                                         {"key": k, "amount": "2"}), None)])
        su.wait_for(lambda: worker.metric("recobro_events_total",
                                          'type="test.add",result="applied"') >= 1,
                    what="the worker still applying events")
    finally:
        su.drop_database(name)

