"""test_batch_carry.py - the case pipeline applies a batch's events of one case in memory, one
load and one save per case (pipeline.c, casecarry.h): the same invoice stream (a 400-debtor
portfolio of five creditors, one under es.json's interest and fees, plus cases built to hit the
edges: stubs adjusted or cancelled before their overdue, a currency mismatch in the middle of a
case's events, a case resolved and re-opened in one batch, re-sent invoices, segment changes) is
applied three times, each into a database of its own, with the clock fixed:
  A. batches of 500 with RECOBRO_TEST_CARRY_CHECK=1: before each event met in memory the case is
     saved and reloaded, and after each round every saved case is reloaded; every reload must
     equal the case in memory field by field (no "carry.mismatch");
  B. batches of 500, as in production;
  C. one event per batch (RECOBRO_BATCH_MAX=1): every event meets its case freshly loaded.
B and A must leave exactly what C leaves: every case, debtor, invoice, task (payload included),
segment_history and case_charges row, the outbox's documents in order per case, and the DLQ."""
import datetime as dt
import json
import random
import sys
import time

import psycopg
import pytest

import stackutil as su
from conftest import worker_env
from test_overdue import adjusted, cancelled, overdue

sys.path.insert(0, str(su.ROOT / "deploy" / "local"))
import portfolio  # noqa: E402

TODAY = dt.date.today()
NOW = TODAY.isoformat() + "T10:00:00Z"
POLICY = su.ROOT / "deploy" / "policy"


def edge_events(rid, creditor):
    """(debtor, [events]) built to meet the carry's edges, each case's events in order."""
    d = lambda n: (TODAY - dt.timedelta(days=n)).isoformat()  # noqa: E731
    c = creditor
    return [
        ("E-stub", [adjusted(rid, "s1", c, "E-stub", "I1", "50.00"),
                    overdue(rid, "s2", c, "E-stub", "I1", "100.00", d(20)),
                    overdue(rid, "s3", c, "E-stub", "I2", "30.00", d(5)),
                    cancelled(rid, "s4", c, "E-stub", "I1")]),
        ("E-cxl", [cancelled(rid, "x1", c, "E-cxl", "I1"),
                   overdue(rid, "x2", c, "E-cxl", "I2", "80.00", d(40))]),
        ("E-mix", [overdue(rid, "m1", c, "E-mix", "I1", "100.00", d(10)),
                   overdue(rid, "m2", c, "E-mix", "I2", "50.00", d(10), currency="USD"),
                   overdue(rid, "m3", c, "E-mix", "I3", "70.00", d(90)),
                   adjusted(rid, "m4", c, "E-mix", "I1", "0.00")]),
        ("E-first", [adjusted(rid, "f1", c, "E-first", "I1", "10.00", currency="USD"),
                     overdue(rid, "f2", c, "E-first", "I2", "10.00", d(3)),
                     overdue(rid, "f3", c, "E-first", "I3", "20.00", d(3), currency="USD")]),
        ("E-resolve", [overdue(rid, "r1", c, "E-resolve", "I1", "200.00", d(15)),
                       adjusted(rid, "r2", c, "E-resolve", "I1", "0.00"),
                       overdue(rid, "r3", c, "E-resolve", "I2", "80.00", d(61)),
                       cancelled(rid, "r4", c, "E-resolve", "I2"),
                       overdue(rid, "r5", c, "E-resolve", "I3", "9000.00", d(120))]),
        ("E-grow", [overdue(rid, "g1", c, "E-grow", "I1", "10.00", d(2)),
                    overdue(rid, "g2", c, "E-grow", "I2", "5000.00", d(35)),
                    overdue(rid, "g3", c, "E-grow", "I3", "700.00", d(200), tz="America/Lima"),
                    adjusted(rid, "g4", c, "E-grow", "I2", "4000.00")]),
        ("E-resend", [overdue(rid, "e1", c, "E-resend", "I1", "100.00", d(30)),
                      overdue(rid, "e2", c, "E-resend", "I1", "100.00", d(30), open_amount="60.00"),
                      overdue(rid, "e3", c, "E-resend", "I1", "100.00", d(30), open_amount="60.00"),
                      overdue(rid, "e1", c, "E-resend", "I1", "100.00", d(30))]),  # a duplicate
    ]


@pytest.fixture
def stream(names):
    """The input topic filled once; returns the number of messages."""
    rid, creditor = names["rid"], "cr-" + names["rid"]
    msgs = portfolio.build(400, TODAY, random.Random(11), tag=rid + "-")
    for debtor, evs in edge_events(rid, creditor):
        msgs += [("%s/%s" % (creditor, debtor), json.dumps(e).encode()) for e in evs]
    su.produce(names["in"], ((k, v, None) for k, v in msgs))
    return len(msgs)


def run(names, services, tag, count, **extra):
    """The overdue worker over the whole input topic into a database and topics of its own.
    Returns (dsn, dlq topic, the worker's log)."""
    db = "it_carry_%s_%s" % (names["rid"], tag)
    dsn = su.create_database(db)
    names.setdefault("dbs", []).append(db)
    su.recobroctl("policy", "load", str(POLICY / "es.json"), "--creditor", "acme",
                  env={"RECOBRO_PG_DSN": dsn})
    tasks, dlq = ["it.%s.%s.%s" % (names["rid"], tag, t) for t in ("tasks", "dlq")]
    su.create_topics([tasks, dlq])
    env = worker_env(names, RECOBRO_PG_DSN=dsn, RECOBRO_NOW=NOW, RECOBRO_TOPIC_TASKS=tasks,
                     RECOBRO_TOPIC_CASE_EVENTS=tasks, RECOBRO_TOPIC_DLQ=dlq,
                     RECOBRO_GROUP_ID="carry-%s-%s" % (names["rid"], tag),
                     RECOBRO_POLICY_FILE=str(POLICY / "default.json"), RECOBRO_LOG_LEVEL="debug")
    env.update(extra)
    w = services("recobro-overdue", env)
    group = env["RECOBRO_GROUP_ID"]

    def done():
        with psycopg.connect(dsn, autocommit=True) as conn:
            return conn.execute("SELECT coalesce(sum(next_offset), 0) FROM consumer_offset "
                                "WHERE group_id = %s", (group,)).fetchone()[0] >= count
    su.wait_for(done, timeout=300, what="%s consumed" % tag)
    w.stop()
    return dsn, dlq, w.log_path.read_text(errors="replace")


def tables(dsn):
    """Everything the runs must agree on, in a comparable form."""
    q = {
        "debt_case": "SELECT * FROM debt_case ORDER BY creditor_id, debtor_id",
        "debtor": "SELECT creditor_id, debtor_id, name, timezone, country, locale, phone, email "
                  "FROM debtor ORDER BY 1, 2",
        "creditor": "SELECT creditor_id, name FROM creditor ORDER BY 1",
        "invoice": "SELECT creditor_id, debtor_id, invoice_id, number, currency, amount, "
                   "open_amount, due_on, issued_on, status, adjusted FROM invoice ORDER BY 1, 2, 3",
        "task": "SELECT creditor_id, debtor_id, task_id, segment, segment_seq, step, action, "
                "channel, template, priority, not_before, not_after, status, reason, payload "
                "FROM task ORDER BY 1, 2, 3",
        "segment_history": "SELECT * FROM segment_history ORDER BY 1, 2, 3",
        "case_charges": "SELECT creditor_id, debtor_id, interest, fees, interest_total, "
                        "fees_total, accrued_through, fee_charged, settlement FROM case_charges "
                        "ORDER BY 1, 2",
        "outbox": "SELECT msg_key, payload FROM outbox WHERE topic NOT LIKE '%%.dlq' "
                  "ORDER BY msg_key, id",
    }
    out = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name, sql in q.items():
            cur = conn.execute(sql)
            cols = [c.name for c in cur.description]
            rows = cur.fetchall()
            skip = {"created_at"} | ({"updated_at"} if name != "debt_case" else set())
            out[name] = [tuple(v for c, v in zip(cols, r) if c not in skip) for r in rows]
    return out


def dlq(dsn, topic):
    """The DLQ's messages (written through the outbox): each event's id and headers (the reason
    and the source offset), in a stable order (a message that did not parse has no id)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return sorted(conn.execute("SELECT event_id, header_names, header_values FROM outbox "
                                   "WHERE topic = %s", (topic,)).fetchall(), key=repr)


def log_lines(log, event):
    return [json.loads(line) for line in log.splitlines()
            if line.startswith("{") and '"event":"%s"' % event in line]


def same(a, b, what):
    for name in a:
        assert len(a[name]) == len(b[name]), "%s: %s has %d rows, the reference %d" % (
            what, name, len(a[name]), len(b[name]))
        for x, y in zip(a[name], b[name]):
            assert x == y, "%s: %s differs:\n%r\nreference:\n%r" % (what, name, x, y)


@pytest.fixture
def _drop_dbs(names):
    yield
    for db in names.get("dbs", []):
        su.drop_database(db)


def test_batch_in_memory_equals_one_event_at_a_time(names, services, stream, _drop_dbs):
    count = stream
    dsn_c, dlq_c, _ = run(names, services, "c", count, RECOBRO_BATCH_MAX="1")
    dsn_b, dlq_b, log_b = run(names, services, "b", count)
    dsn_a, dlq_a, log_a = run(names, services, "a", count, RECOBRO_TEST_CARRY_CHECK="1")

    # A: every carried case equals its reload.
    assert not log_lines(log_a, "carry.mismatch"), [
        x for x in log_a.splitlines() if "carry.mismatch" in x][:5]
    checks = log_lines(log_a, "carry.check")
    assert sum(c["checked"] for c in checks) > 500, checks[:3]
    assert sum(c["mismatches"] for c in checks) == 0
    # B really applied cases of several events in one round.
    rounds = log_lines(log_b, "batch.rounds")
    assert any(r["most"] >= 3 and r["rounds"] == 1 for r in rounds), rounds[:5]
    assert sum(r["rounds"] for r in rounds) < sum(r["most"] for r in rounds), rounds[:5]

    ref = tables(dsn_c)
    assert len(ref["task"]) > 400 and len(ref["segment_history"]) > 400
    assert any(r[0] == "acme" and r[3] > 0 for r in ref["case_charges"]), "no fee charged"
    same(tables(dsn_b), ref, "B (batches of 500)")
    same(tables(dsn_a), ref, "A (checked)")
    want = dlq(dsn_c, dlq_c)
    assert len(want) >= 8, want  # the portfolio's five bad messages, the currency mismatches
    assert dlq(dsn_b, dlq_b) == want
    assert dlq(dsn_a, dlq_a) == want
