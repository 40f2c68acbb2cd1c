"""test_report.py - `recobroctl report` against a database of the test's own: the business
measures of DOMAIN.md (cure, recovery per currency, promise-kept, right-party contact, days-past-due
buckets and their movements) overall, by segment, variant and technique, the --creditor and
--from/--to scoping, the text format and the usage errors.

Two portfolios: one written straight into the tables (fast and exact, every corner on purpose:
a case cured by payment, one resolved by cancellation, a reversed payment, two currencies, another
creditor), and one built through the real workers (recobro-overdue, recobro-payments,
recobro-interactions, recobro-relay) from CloudEvents on Kafka."""
import json
import os
import subprocess

import psycopg
import pytest

import stackutil as su
from conftest import worker_env

POLICY = su.ROOT / "deploy" / "policy" / "default.json"
NOW = "2026-11-25T10:00:00Z"


@pytest.fixture
def db():
    """A fresh database of this test's own, migrated; dropped at the end. Yields its DSN."""
    name = "report_%s" % su.run_id()
    try:
        yield su.create_database(name)
    finally:
        su.drop_database(name)


def report(dsn, *args, check=True):
    return su.recobroctl("report", *args, env={"RECOBRO_PG_DSN": dsn}, check=check)


def report_json(dsn, *args):
    return json.loads(report(dsn, *args).stdout)


def row(rows, field, key):
    found = [r for r in rows if r[field] == key]
    assert len(found) == 1, (field, key, rows)
    return found[0]


# ---- a portfolio written into the tables ------------------------------------------------------

def case(c, cr, d, currency, status, segment, variant, balance, dpd):
    c.execute("INSERT INTO creditor (creditor_id, name) VALUES (%s, %s) ON CONFLICT DO NOTHING",
              (cr, cr.upper()))
    c.execute("INSERT INTO debtor (creditor_id, debtor_id, timezone) VALUES (%s, %s, "
              "'Europe/Madrid')", (cr, d))
    c.execute("INSERT INTO debt_case (creditor_id, debtor_id, currency, status, segment, variant, "
              "strategy, balance, days_past_due) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
              (cr, d, currency, status, segment, variant, segment, balance, dpd))


def invoice(c, cr, d, inv, currency, amount, open_amount, due_on, status="open"):
    c.execute("INSERT INTO invoice (creditor_id, debtor_id, invoice_id, currency, amount, "
              "open_amount, due_on, status) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
              (cr, d, inv, currency, amount, open_amount, due_on, status))


def payment(c, cr, d, pid, currency, amount, inv, reversed_=False):
    c.execute("INSERT INTO payment (creditor_id, debtor_id, payment_id, amount, currency, "
              "received_at, status) VALUES (%s, %s, %s, %s, %s, '2026-11-20T10:00:00Z', %s)",
              (cr, d, pid, amount, currency, "reversed" if reversed_ else "received"))
    c.execute("INSERT INTO payment_allocation (creditor_id, debtor_id, payment_id, invoice_id, "
              "amount, reversed) VALUES (%s, %s, %s, %s, %s, %s)",
              (cr, d, pid, inv, amount, reversed_))


def promise(c, cr, d, pid, currency, amount, state):
    c.execute("INSERT INTO promise (creditor_id, debtor_id, promise_id, amount, currency, due_on, "
              "made_on, grace_days, state, as_of, settled_on) VALUES (%s, %s, %s, %s, %s, "
              "'2026-11-10', '2026-11-01', 2, %s, '2026-11-20', '2026-11-12')",
              (cr, d, pid, amount, currency, state))


def history(c, cr, d, *entries):
    for seq, (seg, variant, dpd) in enumerate(entries, 1):
        c.execute("INSERT INTO segment_history (creditor_id, debtor_id, seq, to_segment, rule, "
                  "policy_version, variant, days_past_due, balance, at) VALUES (%s, %s, %s, %s, "
                  "'r', 1, %s, %s, 0, '2026-11-01T00:00:00Z'::timestamptz + %s * interval '1 day')",
                  (cr, d, seq, seg, variant, dpd, seq))


def contact(c, cr, d, eid, channel, outcome, techniques=()):
    c.execute("INSERT INTO contact_log (creditor_id, debtor_id, event_source, event_id, channel, "
              "at, outcome, techniques) VALUES (%s, %s, 'crm', %s, %s, '2026-11-20T10:00:00Z', "
              "%s, %s)", (cr, d, eid, channel, outcome, list(techniques)))


@pytest.fixture
def portfolio(db):
    """acme: A cured by payment (EUR), B open with a reversed payment (EUR), C resolved by a
    cancellation (EUR), D open and partly paid (JPY); other: E cured (must never show in acme's
    figures)."""
    with psycopg.connect(db, autocommit=True) as c:
        # A: 100.00 EUR paid in full; worked in unaware then forgetful (champion), then resolved.
        case(c, "acme", "A", "EUR", "resolved", "resolved", "champion", 0, 40)
        invoice(c, "acme", "A", "A1", "EUR", 10000, 0, "2026-09-01", "paid")
        payment(c, "acme", "A", "PA1", "EUR", 10000, "A1")
        history(c, "acme", "A", ("unaware", "champion", 10), ("forgetful", "champion", 35),
                ("resolved", "champion", 40))
        contact(c, "acme", "A", "a1", "phone", "right_party", ["empathy", "options"])
        promise(c, "acme", "A", "P1", "EUR", 10000, "kept")
        # B: 300.00 EUR, 50.00 paid, 20.00 paid then reversed; evasive (challenger), 116 days.
        case(c, "acme", "B", "EUR", "open", "evasive", "challenger", 25000, 116)
        invoice(c, "acme", "B", "B1", "EUR", 30000, 25000, "2026-08-01")
        payment(c, "acme", "B", "PB1", "EUR", 5000, "B1")
        payment(c, "acme", "B", "PB2", "EUR", 2000, "B1", reversed_=True)
        history(c, "acme", "B", ("unaware", "champion", 20), ("evasive", "challenger", 70))
        contact(c, "acme", "B", "b1", "phone", "no_answer")
        contact(c, "acme", "B", "b2", "phone", "right_party", ["firmness"])
        contact(c, "acme", "B", "b3", "sms", "delivered")
        promise(c, "acme", "B", "P2", "EUR", 10000, "broken")
        promise(c, "acme", "B", "P3", "EUR", 10000, "partially_kept")
        promise(c, "acme", "B", "P4", "EUR", 10000, "pending")
        # C: 80.00 EUR cancelled by the creditor: resolved, but not by money.
        case(c, "acme", "C", "EUR", "resolved", "resolved", "champion", 0, 6)
        invoice(c, "acme", "C", "C1", "EUR", 8000, 0, "2026-11-01", "cancelled")
        history(c, "acme", "C", ("unaware", "champion", 5), ("resolved", "champion", 6))
        # D: 15000 JPY, 5000 paid; willing_unable (champion), 36 days.
        case(c, "acme", "D", "JPY", "open", "willing_unable", "champion", 10000, 36)
        invoice(c, "acme", "D", "D1", "JPY", 15000, 10000, "2026-10-20")
        payment(c, "acme", "D", "PD1", "JPY", 5000, "D1")
        history(c, "acme", "D", ("willing_unable", "champion", 36))
        contact(c, "acme", "D", "d1", "phone", "right_party", ["empathy"])
        promise(c, "acme", "D", "P5", "JPY", 5000, "kept")
        # E: another creditor's cured case.
        case(c, "other", "E", "EUR", "resolved", "resolved", "champion", 0, 10)
        invoice(c, "other", "E", "E1", "EUR", 99900, 0, "2026-10-01", "paid")
        payment(c, "other", "E", "PE1", "EUR", 99900, "E1")
        contact(c, "other", "E", "e1", "phone", "right_party", ["empathy"])
        promise(c, "other", "E", "PE", "EUR", 99900, "broken")
    return db


def test_overall_figures(portfolio):
    r = report_json(portfolio, "--creditor", "acme")
    assert r["creditor_id"] == "acme"
    o = r["overall"]
    assert (o["cases"], o["open_cases"]) == (4, 2)
    # Cure: A only (C was cancelled, counted apart); all four were overdue.
    assert o["cure"] == {"ever_overdue": 4, "cured": 1, "resolved_without_payment": 1,
                         "rate": 0.25}
    # Recovery per currency; the cancelled C1 is not documented debt; PB2 was reversed.
    assert o["recovery"] == [
        {"currency": "EUR", "documented": "400.00", "received": "170.00", "reversed": "20.00",
         "collected": "150.00", "rate": 0.375},
        {"currency": "JPY", "documented": "15000", "received": "5000", "reversed": "0",
         "collected": "5000", "rate": 0.3333}]
    assert o["promises"] == {"kept": 2, "partially_kept": 1, "broken": 1, "settled": 4,
                             "pending": 1, "pending_approval": 0, "cancelled": 0,
                             "kept_rate": 0.5, "partially_kept_rate": 0.25}
    assert o["contacts"] == {"attempts": 5, "right_party": 3, "rate": 0.6,
                             "phone": {"attempts": 4, "right_party": 3, "rate": 0.75}}
    # Buckets: the open cases now; movements seen at segment changes.
    assert o["roll"]["distribution"] == [
        {"bucket": "31-60", "cases": 1, "balance": [{"currency": "JPY", "amount": "10000"}]},
        {"bucket": "90+", "cases": 1, "balance": [{"currency": "EUR", "amount": "250.00"}]}]
    assert sorted((m["from"], m["to"], m["count"]) for m in o["roll"]["movements"]) == [
        ("1-30", "31-60", 1), ("1-30", "61-90", 1), ("1-30", "resolved", 1),
        ("31-60", "resolved", 1)]
    assert o["roll"]["rates"] == [
        {"from": "1-30", "observed": 3, "stayed": 0, "rolled_forward": 2, "rolled_back": 0,
         "resolved": 1, "roll_forward_rate": 0.6667, "resolved_rate": 0.3333},
        {"from": "31-60", "observed": 1, "stayed": 0, "rolled_forward": 0, "rolled_back": 0,
         "resolved": 1, "roll_forward_rate": 0.0, "resolved_rate": 1.0}]
    assert any("approximated" in n for n in r["notes"])


def test_by_technique_segment_and_variant(portfolio):
    r = report_json(portfolio, "--creditor", "acme")
    assert [t["technique"] for t in r["by_technique"]] == ["empathy", "firmness", "options"]
    emp = row(r["by_technique"], "technique", "empathy")  # cases A and D
    assert emp["cases"] == 2
    assert emp["cure"]["rate"] == 0.5
    assert (emp["promises"]["kept"], emp["promises"]["settled"], emp["promises"]["kept_rate"]) \
        == (2, 2, 1.0)
    firm = row(r["by_technique"], "technique", "firmness")  # case B
    assert firm["cure"] == {"ever_overdue": 1, "cured": 0, "resolved_without_payment": 0,
                            "rate": 0.0}
    assert (firm["promises"]["kept_rate"], firm["promises"]["partially_kept_rate"]) == (0.0, 0.5)
    assert firm["contacts"]["phone"] == {"attempts": 2, "right_party": 1, "rate": 0.5}
    # A counts under the segment it was cured in, not under `resolved`.
    assert [s["segment"] for s in r["by_segment"]] == ["evasive", "forgetful", "unaware",
                                                       "willing_unable"]
    assert row(r["by_segment"], "segment", "forgetful")["cure"]["rate"] == 1.0
    unaware = row(r["by_segment"], "segment", "unaware")  # C, cancelled
    assert (unaware["cure"]["cured"], unaware["cure"]["resolved_without_payment"]) == (0, 1)
    champ = row(r["by_variant"], "variant", "champion")  # A, C, D
    assert (champ["cases"], champ["cure"]["cured"], champ["cure"]["rate"]) == (3, 1, 0.3333)
    chall = row(r["by_variant"], "variant", "challenger")  # B
    assert chall["recovery"] == [{"currency": "EUR", "documented": "300.00", "received": "70.00",
                                  "reversed": "20.00", "collected": "50.00",
                                  "rate": 0.1667}]


def test_scoping_by_creditor_and_period(portfolio):
    everyone = report_json(portfolio)["overall"]
    assert everyone["cases"] == 5
    assert everyone["cure"]["cured"] == 2
    assert [x["received"] for x in everyone["recovery"]] == ["1169.00", "5000"]
    # The cohort of cases first due in Sep-Dec: A, C, D (B fell due in August).
    r = report_json(portfolio, "--creditor", "acme", "--from", "2026-09-01", "--to", "2026-12-31")
    assert r["period"]["from"] == "2026-09-01" and r["overall"]["cases"] == 3
    assert r["overall"]["contacts"]["attempts"] == 2
    assert report_json(portfolio, "--creditor", "nobody")["overall"]["cases"] == 0


def test_text_format(portfolio):
    out = report(portfolio, "--creditor", "acme", "--format", "text").stdout
    assert "creditor acme" in out
    assert "overall" in out and "technique empathy" in out and "segment evasive" in out
    assert "25.0%" in out  # the cure rate
    assert "400.00" in out and "150.00" in out and "37.5%" in out  # EUR recovery


@pytest.mark.parametrize("args", [
    ["--bogus"], ["--from"], ["--from", "2026-13-01"], ["--from", "2026-02-30"],
    ["--to", "25/11/2026"], ["--from", "2026-11-02", "--to", "2026-11-01"],
    ["--format", "xml"], ["extra"], ["--creditor="], ["--to=2026-13-01"], ["--format=xml"],
    ["--creditorx=acme"]])
def test_usage_errors(db, args):
    r = report(db, *args, check=False)
    assert r.returncode == 2, r
    assert r.stdout == ""
    assert "usage: recobroctl report" in r.stderr


def test_database_failure_is_one_line():
    r = su.recobroctl("report", env={"RECOBRO_PG_DSN": "host=127.0.0.1 port=1 dbname=x "
                                                        "connect_timeout=2"}, check=False)
    assert r.returncode == 1
    assert r.stdout == "" and len(r.stderr.strip().splitlines()) == 1


# ---- a portfolio built by the real workers ---------------------------------------------------

def ev(rid, source, eid, etype, cr, d, **data):
    data.update({"creditor_id": cr, "debtor_id": d})
    return su.event(source, "%s-%s" % (rid, eid), etype, data)


def overdue(rid, eid, cr, d, inv, amount, due_on):
    return ev(rid, "erp/acme", eid, "invoice.overdue", cr, d, creditor_name="ACME",
              debtor={"id": d, "name": "X", "timezone": "Europe/Madrid", "country": "ES"},
              invoice={"id": inv, "currency": "EUR", "amount": amount, "open_amount": amount,
                       "due_on": due_on})


def test_report_of_a_portfolio_built_by_the_workers(names, services, db):
    rid, cr = names["rid"], "cr-" + names["rid"]
    pay_t, ia_t, ev_t = ("it.%s.%s" % (rid, t) for t in ("pay", "ia", "events"))
    su.create_topics([pay_t, ia_t, ev_t])
    base = dict(RECOBRO_PG_DSN=db, RECOBRO_TOPIC_PAYMENTS=pay_t, RECOBRO_TOPIC_INTERACTIONS=ia_t,
                RECOBRO_TOPIC_CASE_EVENTS=ev_t, RECOBRO_NOW=NOW, RECOBRO_POLICY_FILE=str(POLICY))
    for svc, grp in (("recobro-overdue", "ov"), ("recobro-payments", "pay"),
                     ("recobro-interactions", "ia"), ("recobro-relay", "relay")):
        services(svc, worker_env(names, **dict(base, RECOBRO_GROUP_ID=names["group"] + grp)))

    def send(topic, d, *payloads):
        su.produce(topic, [("%s/%s" % (cr, d), p, None) for p in payloads])

    def q(sql, *params):
        with psycopg.connect(db, autocommit=True) as c:
            return c.execute(sql, params).fetchall()

    send(names["in"], "D1", overdue(rid, "o1", cr, "D1", "I1", "100.00", "2026-10-01"))
    send(names["in"], "D2", overdue(rid, "o2", cr, "D2", "I2", "200.00", "2026-10-15"))
    su.wait_for(lambda: q("SELECT count(*) FROM debt_case WHERE segment IS NOT NULL")[0][0] == 2,
                timeout=90, what="two segmented cases")
    pay = lambda eid, d, pid, amt: ev(rid, "bank/acme", eid, "payment.received", cr, d,
                                      payment_id=pid, amount=amt, currency="EUR",
                                      received_at="2026-11-25T09:00:00Z")
    send(pay_t, "D1", pay("p1", "D1", "PAY-1", "100.00"))
    send(pay_t, "D2", pay("p2", "D2", "PAY-2", "50.00"), pay("p3", "D2", "PAY-3", "30.00"),
         ev(rid, "bank/acme", "r3", "payment.reversed", cr, "D2", payment_id="PAY-3"))
    at = "2026-11-25T09:30:00Z"
    send(ia_t, "D2",
         ev(rid, "crm/desk", "c1", "contact.attempted", cr, "D2", channel="phone",
            outcome="no_answer", at=at),
         ev(rid, "crm/desk", "c2", "contact.attempted", cr, "D2", channel="phone",
            outcome="right_party", at=at, stage="date_agreed", techniques=["empathy"]),
         ev(rid, "crm/desk", "pm", "promise.made", cr, "D2", promise_id="PR-1", amount="50.00",
            currency="EUR", due_on="2026-11-30"))
    su.wait_for(lambda: q("SELECT status FROM debt_case WHERE debtor_id = 'D1'") == [("resolved",)]
                and q("SELECT count(*) FROM payment WHERE status = 'reversed'")[0][0] == 1
                and q("SELECT count(*) FROM contact_log")[0][0] == 2
                and q("SELECT count(*) FROM promise")[0][0] == 1,
                timeout=90, what="payments and interactions applied")

    o = report_json(db, "--creditor", cr)["overall"]
    assert o["cure"] == {"ever_overdue": 2, "cured": 1, "resolved_without_payment": 0,
                         "rate": 0.5}
    assert o["recovery"] == [{"currency": "EUR", "documented": "300.00", "received": "180.00",
                              "reversed": "30.00", "collected": "150.00", "rate": 0.5}]
    assert o["contacts"] == {"attempts": 2, "right_party": 1, "rate": 0.5,
                             "phone": {"attempts": 2, "right_party": 1, "rate": 0.5}}
    assert (o["promises"]["pending"], o["promises"]["settled"]) == (1, 0)
    emp = report_json(db, "--creditor", cr)["by_technique"]
    assert [(t["technique"], t["cases"], t["cure"]["rate"]) for t in emp] == [("empathy", 1, 0.0)]


# ---- the daily snapshot written by the scheduler's sweep ---------------------------------------

def tick(dsn, now, **env):
    return su.recobroctl("scheduler", "tick", "--now", now,
                         env=dict({"RECOBRO_PG_DSN": dsn}, **env))


def test_sweep_writes_one_snapshot_per_case_per_local_day(names, services, db):
    """Cases fed through recobro-overdue; each tick of the scheduler writes every swept case's
    day (in the debtor's zone) with its days past due and bucket; a second sweep of the same day
    writes no second row; a case resolved meanwhile gets none; the retention deletes old days."""
    rid, cr = names["rid"], "cr-" + names["rid"]
    services("recobro-overdue", worker_env(names, RECOBRO_PG_DSN=db, RECOBRO_NOW=NOW,
                                           RECOBRO_POLICY_FILE=str(POLICY)))
    su.produce(names["in"], [("%s/%s" % (cr, d), overdue(rid, "o-" + d, cr, d, "I-" + d, "90.00",
                                                         due), None)
                             for d, due in (("S1", "2026-11-20"), ("S2", "2026-10-20"),
                                            ("S3", "2026-08-01"))])

    def q(sql, *params):
        with psycopg.connect(db, autocommit=True) as c:
            cur = c.execute(sql, params)
            return cur.fetchall() if cur.description else None

    su.wait_for(lambda: q("SELECT count(*) FROM debt_case WHERE segment IS NOT NULL")[0][0] == 3,
                timeout=90, what="three segmented cases")
    assert q("SELECT count(*) FROM case_snapshot") == [(0,)]  # only the sweep writes them
    # 2026-11-26 00:30 in Madrid is 2026-11-25 23:30 UTC: the local day is the 26th.
    tick(db, "2026-11-25T23:30:00Z")
    rows = q("SELECT debtor_id, day::text, days_past_due, bucket, segment, currency, balance "
             "FROM case_snapshot ORDER BY debtor_id, day")
    assert rows == [("S1", "2026-11-26", 6, "1-30", rows[0][4], "EUR", 9000),
                    ("S2", "2026-11-26", 37, "31-60", rows[1][4], "EUR", 9000),
                    ("S3", "2026-11-26", 117, "91-180", rows[2][4], "EUR", 9000)], rows
    assert all(r[4] for r in rows)
    # The same local day again (nothing due): no new row; a forced re-sweep overwrites.
    tick(db, "2026-11-26T10:00:00Z")
    q("UPDATE debt_case SET next_due_at = '2026-11-26T09:00:00Z'")
    tick(db, "2026-11-26T10:00:00Z")
    assert q("SELECT count(*) FROM case_snapshot")[0][0] == 3
    # S1 is paid (resolved, never swept again); the others roll on 60 days later.
    q("UPDATE debt_case SET status = 'resolved', balance = 0, segment = 'resolved' "
      "WHERE debtor_id = 'S1'")
    tick(db, "2027-02-05T12:00:00Z")
    assert q("SELECT debtor_id, day::text, days_past_due, bucket FROM case_snapshot "
             "WHERE day > '2026-11-26' ORDER BY 1") == [("S2", "2027-02-05", 108, "91-180"),
                                                       ("S3", "2027-02-05", 188, "181+")]
    # A retention of 30 days deletes the November rows at the next sweep.
    tick(db, "2027-02-06T12:00:00Z", RECOBRO_SNAPSHOT_RETENTION_DAYS="30")
    assert q("SELECT DISTINCT day::text FROM case_snapshot ORDER BY 1") == [
        ("2027-02-05",), ("2027-02-06",)]


@pytest.mark.parametrize("value", ["-1", "ten", "99999999"])
def test_bad_snapshot_retention_stops_at_start(value):
    for cmd in (["scheduler", "tick"], ["report"]):
        r = su.recobroctl(*cmd, env={"RECOBRO_SNAPSHOT_RETENTION_DAYS": value}, check=False)
        assert r.returncode == 2, r
        assert "RECOBRO_SNAPSHOT_RETENTION_DAYS" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    r = subprocess.run([str(su.BIN / "recobro-scheduler")], capture_output=True, text=True,
                       env=dict(os.environ, RECOBRO_SNAPSHOT_RETENTION_DAYS=value), timeout=30)
    assert r.returncode == 2 and "RECOBRO_SNAPSHOT_RETENTION_DAYS" in r.stderr
