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


# ---- Interactions and payments: several events of one case in one batch ------------------------

def at(days=0, hour=9, minute=0):
    """An instant `days` before TODAY (UTC)."""
    return "%sT%02d:%02d:00Z" % ((TODAY - dt.timedelta(days=days)).isoformat(), hour, minute)


def day(n):
    return (TODAY + dt.timedelta(days=n)).isoformat()


def ia(rid, eid, creditor, debtor, etype, **data):
    data.update({"creditor_id": creditor, "debtor_id": debtor})
    return su.event("crm/desk", "%s-%s" % (rid, eid), etype, data)


def carried_events(rid, c, d, i):
    """Wave 1 for debtor d: only events whose rows carry (contact attempts, preferences, a
    dispute opened), several of each kind, varied by i."""
    e = lambda n, t, **x: ia(rid, "%s-w1-%d" % (d, n), c, d, t, **x)  # noqa: E731
    evs = [e(1, "contact.attempted", channel="phone", outcome="no_answer", at=at(1, 9)),
           e(2, "contact.attempted", channel="phone", outcome="no_answer", at=at(1, 15)),
           e(3, "contact.attempted", channel="sms", outcome="delivered", at=at(0, 8)),
           e(4, "contact.preferences", do_not_sms=True),
           e(5, "contact.attempted", channel="phone", outcome="right_party", at=at(0, 9),
             agent_id="ag-1", stage="recognized", techniques=["empathy"],
             objections=["temporary_unemployment"])]
    if i % 3 == 0:
        evs.append(e(6, "contact.preferences", timezone="America/Lima", do_not_sms=False))
        evs.append(e(7, "contact.attempted", channel="phone", outcome="callback_requested",
                     at=at(0, 9, 30), callback_at=at(-1, 17)))
    if i % 3 == 1:
        evs.append(e(6, "contact.attempted", channel="email", outcome="delivered", at=at(0, 9, 40)))
        evs.append(e(7, "contact.preferences", do_not_email=True, cease_communication=False))
        evs.append(e(8, "contact.attempted", channel="phone", outcome="right_party",
                     at=at(0, 9, 41), stage="amount_agreed"))
    if i % 3 == 2:
        evs.append(e(6, "debt.disputed", at=at(0, 9, 45), reason="not mine", invoice_id="I1"))
        evs.append(e(7, "contact.attempted", channel="phone", outcome="refused", at=at(0, 9, 50)))
        evs.append(e(8, "contact.preferences", do_not_call=True))
    evs.append(e(10, "contact.attempted", channel="phone", outcome="no_answer", at=at(2, 11)))
    return evs


def mixed_events(rid, c, d, i):
    """Wave 2 for debtor d: carried events around ones that end the carry (a promise made, a
    dispute resolved, a contact reporting on a task it does not know)."""
    e = lambda n, t, **x: ia(rid, "%s-w2-%d" % (d, n), c, d, t, **x)  # noqa: E731
    evs = [e(1, "contact.attempted", channel="phone", outcome="no_answer", at=at(0, 9, 55)),
           e(2, "promise.made", promise_id="PR-%d" % i, amount="50.00", currency="EUR",
             due_on=day(7), agent_id="ag-1"),
           e(3, "contact.attempted", channel="sms", outcome="delivered", at=at(0, 9, 56))]
    if i % 3 == 2:
        evs.insert(2, e(4, "dispute.resolved", at=at(0, 9, 57), outcome="rejected"))
    evs.append(e(5, "contact.attempted", channel="sms", outcome="delivered", at=at(0, 9, 58),
                 task_id="no-such-task"))
    evs.append(e(6, "contact.preferences", do_not_email=True))
    evs.append(e(7, "promise.made", promise_id="PR-%d-b" % i, amount="20.00", currency="EUR",
                 due_on=day(9), agent_id="ag-1"))
    return evs


def pay_events(rid, c, d, i):
    """Payments: two or three for the case in one batch, the promise of wave 2 kept in part."""
    def p(n, amount):
        return su.event("bank/acme", "%s-%s-p%d" % (rid, d, n), "payment.received", {
            "creditor_id": c, "debtor_id": d, "payment_id": "PAY-%s-%d" % (d, n),
            "amount": amount, "currency": "EUR", "received_at": at(0, 8, n),
            "method": "transfer"})
    evs = [p(1, "30.00"), p(2, "25.00")]
    if i % 2 == 0:
        evs.append(p(3, "400.00"))  # more than is owed: credit
    return evs


def run_worker(names, services, svc, dsn, topic_env, topic, tag, count, extra):
    """One worker over `topic` (count messages) into the database dsn; returns its log."""
    group = "carry-%s-%s-%s" % (names["rid"], tag, svc)
    tasks, dlq = ["it.%s.%s.%s" % (names["rid"], tag, t) for t in ("tasks", "dlq")]
    env = worker_env(names, RECOBRO_PG_DSN=dsn, RECOBRO_NOW=NOW, RECOBRO_TOPIC_TASKS=tasks,
                     RECOBRO_TOPIC_CASE_EVENTS=tasks, RECOBRO_TOPIC_DLQ=dlq,
                     RECOBRO_GROUP_ID=group, RECOBRO_POLICY_FILE=str(POLICY / "default.json"),
                     RECOBRO_LOG_LEVEL="debug", **{topic_env: topic})
    env.update(extra)
    w = services(svc, env)

    def done():
        with psycopg.connect(dsn, autocommit=True) as conn:
            return conn.execute("SELECT coalesce(sum(next_offset), 0) FROM consumer_offset "
                                "WHERE group_id = %s", (group,)).fetchone()[0] >= count
    su.wait_for(done, timeout=300, what="%s %s consumed" % (tag, svc))
    w.stop()
    return w.log_path.read_text(errors="replace")


INTERACTION_TABLES = {
    "contact_log": "SELECT creditor_id, debtor_id, event_source, event_id, channel, at, outcome, "
                   "agent_id, stage, techniques, objections, task_id FROM contact_log "
                   "ORDER BY 1, 2, 3, 4",
    "contact_preference": "SELECT creditor_id, debtor_id, do_not_call, do_not_sms, "
                          "do_not_email, cease_communication, timezone FROM contact_preference "
                          "ORDER BY 1, 2",
    "dispute": "SELECT creditor_id, debtor_id, event_source, event_id, opened_at, reason, "
               "invoice_id, resolved_at, outcome FROM dispute ORDER BY 1, 2, 3, 4",
    "forbearance": "SELECT creditor_id, debtor_id, event_source, event_id, from_on, until_on, "
                   "reason, agent_id, ended_on, ended_reason, ended_by FROM forbearance "
                   "ORDER BY 1, 2, 3, 4",
    "promise": "SELECT creditor_id, debtor_id, promise_id, amount, currency, due_on, made_on, "
               "paid_toward, state, settled_on FROM promise ORDER BY 1, 2, 3",
    "payment": "SELECT creditor_id, debtor_id, payment_id, amount, currency, status, "
               "unallocated, promise_id, promise_applied FROM payment ORDER BY 1, 2, 3",
    "payment_allocation": "SELECT creditor_id, debtor_id, payment_id, invoice_id, amount, "
                          "reversed FROM payment_allocation ORDER BY 1, 2, 3, 4, 5",
}


def all_tables(dsn):
    out = tables(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name, sql in INTERACTION_TABLES.items():
            out[name] = conn.execute(sql).fetchall()
        out["dlq"] = sorted(conn.execute("SELECT event_id, header_names, header_values FROM "
                                         "outbox WHERE topic LIKE '%%.dlq'").fetchall(), key=repr)
    return out


def test_interactions_and_payments_carry(names, services, _drop_dbs):
    """30 cases, each with 7-9 carried interactions in one batch (wave 1: one round), then
    promises, dispute resolutions and task reports among them (wave 2), then 2-3 payments each:
    batches of 500 (checked and not) leave exactly what one event per batch leaves."""
    rid, c = names["rid"], "cr-" + names["rid"]
    debtors = ["N-%02d" % i for i in range(30)]
    topics = {k: "it.%s.%s" % (rid, k) for k in ("w1", "w2", "pay")}
    su.create_topics(list(topics.values()))
    inv = [("%s/%s" % (c, d), overdue(rid, "o-" + d, c, d, "I1", "300.00", day(-40)))
           for d in debtors]
    inv += [("%s/%s" % (c, d), overdue(rid, "o2-" + d, c, d, "I2", "120.00", day(-10)))
            for d in debtors[::2]]
    waves = {"w1": carried_events, "w2": mixed_events, "pay": pay_events}
    msgs = {k: [("%s/%s" % (c, d), e) for i, d in enumerate(debtors) for e in f(rid, c, d, i)]
            for k, f in waves.items()}
    su.produce(names["in"], ((k, v, None) for k, v in inv))
    for k, ms in msgs.items():
        su.produce(topics[k], ((key, v, None) for key, v in ms))

    def run_all(tag, **extra):
        db = "it_carry_%s_%s" % (rid, tag)
        dsn = su.create_database(db)
        names.setdefault("dbs", []).append(db)
        logs = {"ov": run_worker(names, services, "recobro-overdue", dsn, "RECOBRO_TOPIC_INVOICES",
                                 names["in"], tag, len(inv), extra)}
        for k, svc, env in (("w1", "recobro-interactions", "RECOBRO_TOPIC_INTERACTIONS"),
                            ("w2", "recobro-interactions", "RECOBRO_TOPIC_INTERACTIONS"),
                            ("pay", "recobro-payments", "RECOBRO_TOPIC_PAYMENTS")):
            logs[k] = run_worker(names, services, svc, dsn, env, topics[k], tag + k,
                                 len(msgs[k]), extra)
        return dsn, logs

    dsn_c, _ = run_all("ic", RECOBRO_BATCH_MAX="1")
    dsn_b, logs_b = run_all("ib")
    dsn_a, logs_a = run_all("ia", RECOBRO_TEST_CARRY_CHECK="1")

    for k in ("w1", "w2", "pay"):
        assert not log_lines(logs_a[k], "carry.mismatch"), (k, sorted(
            {(x["debtor_id"], x["field"]) for x in log_lines(logs_a[k], "carry.mismatch")}))
        assert sum(x["checked"] for x in log_lines(logs_a[k], "carry.check")) >= 30
    # Wave 1: every case's 7-11 events in memory, one round per batch.
    ref = all_tables(dsn_c)
    assert not ref["dlq"], ref["dlq"][:3]
    r1 = log_lines(logs_b["w1"], "batch.rounds")
    assert sum(r["events"] for r in r1) == len(msgs["w1"]), r1
    assert all(r["rounds"] == 1 for r in r1) and any(r["most"] >= 7 for r in r1), r1
    # Wave 2: the carried events around those that end the carry share rounds.
    r2 = log_lines(logs_b["w2"], "batch.rounds")
    assert sum(r["rounds"] for r in r2) < sum(r["most"] for r in r2), r2
    assert len(ref["contact_log"]) > 200, len(ref["contact_log"])
    assert len(ref["contact_preference"]) == 30 and len(ref["dispute"]) == 10
    assert len(ref["promise"]) >= 40 and len(ref["payment"]) >= 60, ref["promise"]
    assert sum(r[8] == "rejected" for r in ref["dispute"]) == 10, ref["dispute"][:2]
    same(all_tables(dsn_b), ref, "B (batches of 500)")
    same(all_tables(dsn_a), ref, "A (checked)")
