"""test_relay_and_migrate.py - two relays sharing one outbox publish each row once, in per-key
order; the relay keeps rows until the broker acknowledges them; migrations are idempotent and
refuse a database newer than the build; recobroctl's usage errors exit 2."""
import json
import time

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


def test_relay_publishes_each_rows_headers_exactly_as_stored(names, services):
    """The relay reads the header arrays in binary and hands their bytes to Kafka as they are:
    names and values in order, binary and empty values, non-ASCII names, rows without headers,
    and (as the SQL aggregation it replaced did) a name without a value dropped. The rows are
    written with SQL, in the columns every writer so far has used (outbox.c's COPY, older
    builds), so this is also what the relay makes of rows written before it was upgraded."""
    rid = names["rid"]
    ce = b"application/cloudevents+json; charset=UTF-8"
    rows = [  # (header names, header values, headers expected on the wire)
        (["content-type"], [ce], [("content-type", ce)]),
        (["recobro-error", "recobro-bytes", "recobro-empty", "recobro-\u00e9t\u00e9"],
         [b"invalid_date", bytes(range(256)), b"", "\u00e9".encode()],
         [("recobro-error", b"invalid_date"), ("recobro-bytes", bytes(range(256))),
          ("recobro-empty", b""), ("recobro-\u00e9t\u00e9", "\u00e9".encode())]),
        ([], [], None),
        (["a", "b"], [b"1"], [("a", b"1")]),
        (["dup", "dup"], [b"1", b"2"], [("dup", b"1"), ("dup", b"2")]),
    ]
    with su.pg() as conn:
        for i, (hn, hv, _) in enumerate(rows):
            conn.execute("INSERT INTO outbox (shard, topic, msg_key, payload, header_names, "
                         "header_values, event_id) VALUES (0, %s, %s, %s, %s, %s, %s)",
                         (names["out"], b"k", json.dumps({"i": i}).encode(), hn, hv,
                          "%s-%d" % (rid, i)))
    services("recobro-relay", worker_env(names))
    out = su.consume(names["out"], len(rows), timeout=60)
    assert [json.loads(m.value())["i"] for m in out] == list(range(len(rows)))
    for m, (_, _, want) in zip(out, rows):
        assert m.headers() == want


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


def test_postgresql_errors_carry_no_detail_and_no_password(names):
    """A failed statement is reported with the server's primary message and SQLSTATE, never its
    DETAIL (which quotes the row's values); a connection error never quotes the password."""
    name = "scratch_%s" % names["rid"]
    dsn = su.create_database(name, migrate=False)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text "
                         "NOT NULL CHECK (name <> '0001_runtime.sql'), applied_at timestamptz "
                         "NOT NULL DEFAULT now())")
        r = su.recobroctl("migrate", env={"RECOBRO_PG_DSN": dsn}, check=False)
        assert r.returncode == 1
        assert "SQLSTATE 23514" in r.stderr and "violates check constraint" in r.stderr
        assert "Failing row" not in r.stderr and "0001_runtime.sql," not in r.stderr, r.stderr
    finally:
        su.drop_database(name)
    bad = " ".join(p for p in su.DSN.split() if not p.startswith("user="))
    r = su.recobroctl("migrate", env={"RECOBRO_PG_DSN": bad + " user=hunter2 password=hunter2"},
                      check=False)
    assert r.returncode == 1 and "hunter2" not in r.stderr and "***" in r.stderr, r.stderr


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
    assert "(default recobro-<service>) (default:" not in r.stdout  # one default, said once
    # A command's --help: its usage on stdout, exit 0, no configuration needed.
    for words in (["case", "show"], ["scheduler", "tick"], ["dlq", "replay"], ["report"]):
        r = su.recobroctl(*words, "--help", env={"RECOBRO_LOG_LEVEL": "chatty"}, check=False)
        assert r.returncode == 0 and r.stdout.startswith("usage: recobroctl " + " ".join(words))
        assert r.stderr == ""
    # No broker: the Kafka commands fail within seconds with one line, not librdkafka's chatter.
    for words in (["topics", "ensure"], ["dlq", "replay", "--dry-run"]):
        t0 = time.monotonic()
        r = su.recobroctl(*words, env={"RECOBRO_KAFKA_BROKERS": "127.0.0.1:1"}, check=False)
        assert r.returncode == 1, words
        assert time.monotonic() - t0 < 15, words
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "no broker answered at 127.0.0.1:1" in lines[0], r.stderr


def test_librdkafka_logs_are_json_lines(tmp_path):
    """A worker whose broker does not answer: librdkafka's own complaints reach stderr as JSON
    lines of the one logger (event kafka.log), never as raw text."""
    s = su.Service("recobro-testsum", {"RECOBRO_KAFKA_BROKERS": "127.0.0.1:1",
                                       "RECOBRO_GROUP_ID": "it-nobroker"}, tmp_path).start()
    try:
        su.wait_for(lambda: "kafka.log" in s.log_path.read_text(), timeout=30,
                    what="a librdkafka log line")
    finally:
        s.stop()
    lines = [l for l in s.log_path.read_text().splitlines() if l.strip()]
    for line in lines:
        json.loads(line)
    assert any(json.loads(l)["event"] == "kafka.log" for l in lines)


def test_relay_retries_refused_rows_and_keeps_key_order(names, services):
    """Rows the broker refuses (larger than the topic's max.message.bytes) are retried with
    backoff, counted and logged, while the rows of other keys behind them are published; the
    later rows of a refused row's key wait behind it and follow it in order once the topic
    accepts it. Before: the refused rows filled every batch and nothing else went out."""
    from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
    rid = names["rid"]
    name = "relayfail_%s" % rid
    dsn = su.create_database(name)  # its own outbox: no other test's relay takes these rows
    topic = "it.%s.small" % rid
    admin = AdminClient({"bootstrap.servers": su.BROKERS})
    for f in admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1,
                                           config={"max.message.bytes": "2000"})]).values():
        f.result(timeout=60)
    rows = []  # (key, seq, size): 15 refused rows first, more than one batch of 10
    rows += [("bad-%d" % i, 0, 5000) for i in range(15)]
    rows += [("held", 0, 5000), ("held", 1, 10), ("held", 2, 10)]
    rows += [("good-%d" % (i % 10), i, 10) for i in range(60)]
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO outbox (shard, topic, msg_key, payload, event_id) "
                    "VALUES (%s, %s, %s, %s, %s)",
                    [(sum(k.encode()) % 16, topic, k.encode(),
                      json.dumps({"id": "%s-%s-%d" % (rid, k, s), "key": k, "seq": s,
                                  "pad": "x" * size}).encode(), "%s-%s-%d" % (rid, k, s))
                     for k, s, size in rows])
        relay = services("recobro-relay", {"RECOBRO_PG_DSN": dsn, "RECOBRO_RELAY_BATCH": "10",
                                           "RECOBRO_BACKOFF_INITIAL_MS": "200",
                                           "RECOBRO_BACKOFF_MAX_MS": "1000"})
        good = su.consume(topic, 60, timeout=60,
                          predicate=lambda m: m.key().startswith(b"good-"))
        assert len(good) == 60, relay.tail()
        su.wait_for(lambda: relay.metric("recobro_outbox_failed_total",
                                         'reason="msg_size_too_large"') >= 16, timeout=30,
                    what="failures counted")
        # 16 refused rows, plus "held"'s later rows when they shared the refused record batch
        su.wait_for(lambda: relay.metric("recobro_outbox_retry_waiting") >= 16, timeout=30,
                    what="the retry gauge")
        log = relay.log_path.read_text()
        assert '"event":"relay.publish_failed"' in log and '"reason":"msg_size_too_large"' in log
        with psycopg.connect(dsn, autocommit=True) as conn:
            held = conn.execute("SELECT event_id, sent_at IS NOT NULL, attempts FROM outbox "
                                "WHERE msg_key = 'held' ORDER BY id").fetchall()
        assert [s for _, s, _ in held] == [False, False, False], held  # all wait behind seq 0
        assert held[0][2] > 0, held
        # The topic now takes them: the refused rows go out, then "held"'s rows in order.
        for f in admin.alter_configs([ConfigResource("topic", topic, set_config={
                "max.message.bytes": str(1024 * 1024)})]).values():
            f.result(timeout=30)
        out = su.consume(topic, 78, timeout=60)
        assert len(out) == 78, relay.tail()
        seqs = [json.loads(m.value())["seq"] for m in out if m.key() == b"held"]
        assert seqs == [0, 1, 2]
        su.wait_for(lambda: relay.metric("recobro_outbox_retry_waiting") == 0, timeout=30,
                    what="the gauge back at 0")
    finally:
        admin.delete_topics([topic])
        su.drop_database(name)


def outbox_heap_blocks(dsn):
    """Heap pages of the outbox read so far (from cache or disk), as PostgreSQL counts them."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute("SELECT heap_blks_hit + heap_blks_read FROM pg_statio_user_tables "
                            "WHERE relname = 'outbox'").fetchone()[0]


def outbox_pending(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]


def test_relay_pass_cost_follows_rows_not_history(names, services):
    """An outbox with a long history (100,000 rows published since the last VACUUM, so as many
    dead entries in outbox_pending) and no statistics yet, as `make bench` left it before its
    latency phase: the relay publishes a steady trickle of new rows in per-key order, reading a
    few heap pages per row. Before: the planner took a bitmap scan of outbox_pending, which
    cannot mark dead entries, and every pass visited every page of the history (102 pages
    per row published here, 5 since; up to 12 s per pass in `make bench`)."""
    rid = names["rid"]
    name = "relayhist_%s" % rid
    dsn = su.create_database(name)  # its own outbox, its own statistics
    keys = ["%s-k%d" % (rid, i) for i in range(20)]
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            # No VACUUM or ANALYZE may clean the history up during the test.
            conn.execute("ALTER TABLE outbox SET (autovacuum_enabled = off)")
            conn.execute("INSERT INTO outbox (shard, topic, msg_key, payload, event_id) "
                         "SELECT g %% 16, %s, 'old'::bytea, convert_to(repeat('x', 500), "
                         "'UTF8'), 'old' FROM generate_series(1, 100000) g", (names["out"],))
            conn.execute("UPDATE outbox SET sent_at = now() WHERE sent_at IS NULL")
        relay = services("recobro-relay", {"RECOBRO_PG_DSN": dsn})
        time.sleep(2)  # its first passes (and their statistics) before the count starts
        before = outbox_heap_blocks(dsn)
        sent = {}
        with psycopg.connect(dsn, autocommit=True) as conn:
            for b in range(40):  # 2,000 rows in 4 s, 50 every 100 ms
                rows = []
                for i in range(b * 50, b * 50 + 50):
                    k = keys[i % len(keys)]
                    rows.append((sum(k.encode()) % 16, names["out"], k.encode(), json.dumps(
                        {"id": "%s-%d" % (rid, i), "key": k, "seq": i}).encode(),
                        "%s-%d" % (rid, i)))
                with conn.cursor() as cur:
                    cur.executemany("INSERT INTO outbox (shard, topic, msg_key, payload, "
                                    "event_id) VALUES (%s, %s, %s, %s, %s)", rows)
                for r in rows:
                    sent[r[4]] = time.time()
                time.sleep(0.1)
        out = su.consume(names["out"], 2000, timeout=60)
        assert len(out) == 2000, relay.tail()
        last, delays = {}, []
        for m in out:
            g = json.loads(m.value())
            assert g["seq"] > last.get(g["key"], -1), "key %s out of order" % g["key"]
            last[g["key"]] = g["seq"]
            delays.append(m.timestamp()[1] / 1000.0 - sent[g["id"]])
        su.wait_for(lambda: outbox_pending(dsn) == 0, what="all marked")
        time.sleep(2.5)  # the relay, idle, reports its counts (at most once a second)
        blocks = outbox_heap_blocks(dsn) - before
        assert blocks / 2000 < 20, "%d heap pages read for 2,000 rows" % blocks
        assert max(delays) < 2, "slowest row %.2f s" % max(delays)
    finally:
        su.drop_database(name)


def test_relay_deletes_a_long_backlog_of_published_rows_in_chunks(names, services):
    """60,000 rows published longer ago than the retention (more than a minute of a steady
    1,000 new debtors/s, a task and a case event each) are all deleted within seconds, a chunk
    at a time between passes, while the relay goes on publishing; rows inside the retention and
    rows not yet published stay until their time. Before: 50,000 once a minute, 833 rows/s, so
    such a load grew the outbox without end, and each statement held every row waiting behind
    it."""
    rid = names["rid"]
    name = "relayclean_%s" % rid
    dsn = su.create_database(name)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("INSERT INTO outbox (shard, topic, msg_key, payload, event_id, sent_at) "
                         "SELECT g %% 16, %s, 'k'::bytea, 'x'::bytea, 'old', now() - interval "
                         "'2 hours' FROM generate_series(1, 60000) g", (names["out"],))
            conn.execute("INSERT INTO outbox (shard, topic, msg_key, payload, event_id, sent_at) "
                         "VALUES (0, %s, 'k'::bytea, 'x'::bytea, 'recent', now() - interval "
                         "'10 minutes')", (names["out"],))
        services("recobro-relay", {"RECOBRO_PG_DSN": dsn, "RECOBRO_OUTBOX_RETENTION": "3600"})

        def left():
            with psycopg.connect(dsn, autocommit=True) as conn:
                return conn.execute("SELECT event_id, count(*) FROM outbox GROUP BY event_id "
                                    "ORDER BY event_id").fetchall()
        su.wait_for(lambda: left() == [("recent", 1)], timeout=30,
                    what="the old rows deleted, the recent one kept")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("INSERT INTO outbox (shard, topic, msg_key, payload, event_id) VALUES "
                         "(0, %s, 'k'::bytea, %s, 'new')",
                         (names["out"], json.dumps({"id": rid + "-new"}).encode()))
        got = su.consume(names["out"], 1, timeout=30,
                         predicate=lambda m: json.loads(m.value()).get("id") == rid + "-new")
        assert len(got) == 1
        assert left() == [("new", 1), ("recent", 1)]
    finally:
        su.drop_database(name)
