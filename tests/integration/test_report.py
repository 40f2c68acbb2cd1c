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

import report_reference
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
    doc = json.loads(report(dsn, *args).stdout)
    su.check_schema("report.schema.json", doc)
    return doc


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
    # Buckets: the open cases now (B at 116 days is in 91-180).
    assert o["buckets"] == [
        {"bucket": "31-60", "cases": 1, "balance": [{"currency": "JPY", "amount": "10000"}]},
        {"bucket": "91-180", "cases": 1, "balance": [{"currency": "EUR", "amount": "250.00"}]}]
    # No snapshot yet: no roll period.
    assert r["roll"] == {"from": None, "to": None, "matrix": [], "rates": []}
    assert any("snapshot" in n for n in r["notes"])


def test_segments_and_champion_challenger_per_strategy(portfolio):
    r = report_json(portfolio, "--creditor", "acme")
    assert "by_variant" not in r and "by_technique" not in r  # merged across strategies: gone
    # A counts under the segment it was cured in, not under `resolved`.
    assert [s["segment"] for s in r["by_segment"]] == ["evasive", "forgetful", "unaware",
                                                       "willing_unable"]
    assert row(r["by_segment"], "segment", "forgetful")["cure"]["rate"] == 1.0
    unaware = row(r["by_segment"], "segment", "unaware")  # C, cancelled
    assert (unaware["cure"]["cured"], unaware["cure"]["resolved_without_payment"]) == (0, 1)
    # Strategies (the segment's, as segment_history names none here), each with its variants.
    cc = {s["strategy"]: s for s in r["champion_challenger"]}
    assert sorted(cc) == ["evasive", "forgetful", "unaware", "willing_unable"]
    ev = cc["evasive"]  # B alone, challenger: no champion to compare with
    assert [v["variant"] for v in ev["variants"]] == ["challenger"] and ev["comparisons"] == []
    assert ev["variants"][0]["recovery"] == [
        {"currency": "EUR", "documented": "300.00", "received": "70.00", "reversed": "20.00",
         "collected": "50.00", "rate": 0.1667}]
    assert ev["variants"][0]["promise_kept"]["count"] == 0
    assert ev["variants"][0]["promise_kept"]["of"] == 2
    fg = cc["forgetful"]["variants"][0]  # A: cured, its promise kept
    assert (fg["variant"], fg["cases"], fg["cure"]["count"], fg["cure"]["of"]) == \
        ("champion", 1, 1, 1)
    assert fg["cure"]["ci95"][0] == pytest.approx(0.2065, abs=1e-4)  # Wilson, 1 of 1


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
    assert "overall" in out and "segment evasive" in out
    assert "25.0%" in out  # the cure rate
    assert "400.00" in out and "150.00" in out and "37.5%" in out  # EUR recovery


@pytest.mark.parametrize("args", [
    ["--bogus"], ["--from"], ["--from", "2026-13-01"], ["--from", "2026-02-30"],
    ["--to", "25/11/2026"], ["--from", "2026-11-02", "--to", "2026-11-01"],
    ["--format", "xml"], ["extra"], ["--creditor="], ["--to=2026-13-01"], ["--format=xml"],
    ["--creditorx=acme"], ["--out"], ["--out="], ["--format", "html", "--out"],
    ["--format", "CSV"], ["--format="]])
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
    tech = report_json(db, "--creditor", cr)["techniques"]
    # One right-party contact, with empathy, followed the same day by a promise still pending.
    assert [(t["technique"], t["with"]["contacts"], t["with"]["promise"]["count"],
             t["with"]["kept"]["of"], t["without"]["contacts"]) for t in tech] == \
        [("empathy", 1, 1, 0, 0)]


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
    # (as recobro-payments' save would leave it: since 0013 the saver, not a trigger, clears
    # next_due_at of a resolved case)
    q("UPDATE debt_case SET status = 'resolved', balance = 0, segment = 'resolved', "
      "next_due_at = NULL WHERE debtor_id = 'S1'")
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


# ---- the analytics against an independent computation (report_reference.py) -------------------

TECHNIQUES = ["empathy", "options_offer", "precise_date", "firmness", "consequences"]
OBJECTIONS = ["forgot", "temporary_unemployment", "disagrees_amount"]
ZONES = ["Europe/Madrid", "America/New_York", "Asia/Tokyo"]


def random_portfolio(c, rng, cr, n):
    """n cases of creditor cr written straight into the tables, every fact the analytics read
    drawn at random (seeded): strategies with champion and challenger, contacts with techniques
    and objections, promises, plans and disputes after them, daily snapshots and resolutions."""
    import datetime as dt
    c.execute("INSERT INTO creditor (creditor_id, name) VALUES (%s, 'X') ON CONFLICT DO NOTHING",
              (cr,))
    t0 = dt.datetime(2026, 9, 1, 8, 0, tzinfo=dt.timezone.utc)
    for i in range(n):
        d = "R%04d" % i
        strat = rng.choice(["forgetful", "evasive", "unaware"])
        variant = "champion" if strat == "unaware" or rng.random() < 0.6 else "challenger"
        better = variant == "challenger" and strat == "forgetful"
        resolved = rng.random() < (0.45 if better else 0.3)
        due = dt.date(2026, 6, 1) + dt.timedelta(days=rng.randint(0, 150))
        c.execute("INSERT INTO debtor (creditor_id, debtor_id, timezone) VALUES (%s, %s, %s)",
                  (cr, d, rng.choice(ZONES)))
        c.execute("INSERT INTO debt_case (creditor_id, debtor_id, currency, status, segment, "
                  "strategy, variant, balance, days_past_due) VALUES (%s, %s, 'EUR', %s, %s, %s, "
                  "%s, %s, %s)", (cr, d, "resolved" if resolved else "open",
                                  "resolved" if resolved else strat, strat, variant,
                                  0 if resolved else 5000, 0 if resolved else 40))
        invoice(c, cr, d, "I" + d, "EUR", 5000, 0 if resolved else 5000, due)
        if resolved and rng.random() < 0.85:
            payment(c, cr, d, "P" + d, "EUR", 5000, "I" + d)
        elif rng.random() < 0.2:
            payment(c, cr, d, "P" + d, "EUR", 1000, "I" + d, reversed_=True)
        end = t0 + dt.timedelta(days=rng.randint(20, 85), hours=rng.randint(0, 23))
        c.execute("INSERT INTO segment_history (creditor_id, debtor_id, seq, to_segment, rule, "
                  "policy_version, strategy, variant, days_past_due, balance, at) VALUES "
                  "(%s, %s, 1, %s, 'r', 1, %s, %s, 10, 5000, %s)",
                  (cr, d, strat, strat, variant, t0))
        if resolved:
            c.execute("INSERT INTO segment_history (creditor_id, debtor_id, seq, to_segment, rule, "
                      "policy_version, strategy, variant, days_past_due, balance, at) VALUES "
                      "(%s, %s, 2, 'resolved', 'r', 1, 'resolved', 'champion', 0, 0, %s)",
                      (cr, d, end))
        # Daily snapshots (every few days) while open.
        day = t0.date()
        while day <= (end.date() if resolved else dt.date(2026, 11, 25)):
            dpd = (day - due).days
            c.execute("INSERT INTO case_snapshot (creditor_id, debtor_id, day, days_past_due, "
                      "bucket, segment, strategy, variant, currency, balance) VALUES (%s, %s, %s, "
                      "%s, %s, %s, %s, %s, 'EUR', 5000)",
                      (cr, d, day, dpd, bucket_of(dpd), strat, strat, variant))
            day += dt.timedelta(days=rng.randint(1, 9))
        random_activity(c, rng, cr, d, t0, better)


def bucket_of(dpd):
    return ("current" if dpd <= 0 else "1-30" if dpd <= 30 else "31-60" if dpd <= 60 else
            "61-90" if dpd <= 90 else "91-180" if dpd <= 180 else "181+")


def random_activity(c, rng, cr, d, t0, better):
    import datetime as dt
    for k in range(rng.randint(0, 4)):
        at = t0 + dt.timedelta(days=rng.randint(0, 80), hours=rng.randint(0, 23))
        rpc = rng.random() < 0.6
        tech = rng.sample(TECHNIQUES, rng.randint(0, 3)) if rpc else []
        obj = rng.sample(OBJECTIONS, rng.randint(0, 2)) if rpc else []
        agent = rng.choice(["ag-1", "ag-2", "ag-3", "ag-4", None])
        c.execute("INSERT INTO contact_log (creditor_id, debtor_id, event_source, event_id, "
                  "channel, at, outcome, agent_id, techniques, objections) VALUES (%s, %s, 'crm', "
                  "%s, 'phone', %s, %s, %s, %s, %s)",
                  (cr, d, "c%d" % k, at, "right_party" if rpc else "no_answer", agent, tech, obj))
        p_promise = 0.35 + 0.3 * ("precise_date" in tech) + 0.1 * better
        if rpc and rng.random() < p_promise:
            made = at.date() + dt.timedelta(days=rng.randint(0, 9))
            state = rng.choices(["kept", "partially_kept", "broken", "pending", "cancelled"],
                                [5 + 3 * ("empathy" in tech), 1, 3, 1, 1])[0]
            c.execute("INSERT INTO promise (creditor_id, debtor_id, promise_id, amount, currency, "
                      "due_on, made_on, grace_days, state, as_of, settled_on, agent_id, "
                      "limit_broken) VALUES (%s, %s, %s, 100, 'EUR', %s, %s, 2, %s, %s, %s, %s, "
                      "%s)", (cr, d, "p%d" % k, made + dt.timedelta(days=5), made, state, made,
                              made, agent, "max_installments" if rng.random() < 0.1 else None))
        if rpc and "temporary_unemployment" in obj and rng.random() < 0.5:
            on = at.date() + dt.timedelta(days=rng.randint(0, 40))
            c.execute("INSERT INTO plan (creditor_id, debtor_id, plan_id, currency, agreed_on, "
                      "grace_days, default_missed, total, state, as_of, settled_on, agent_id, "
                      "limit_broken) VALUES (%s, %s, %s, 'EUR', %s, 2, 2, 300, 'active', %s, %s, "
                      "%s, %s)", (cr, d, "pl%d" % k, on, on, on, agent,
                                  "min_installment" if rng.random() < 0.2 else None))
        if rpc and "disagrees_amount" in obj and rng.random() < 0.5:
            c.execute("INSERT INTO dispute (creditor_id, debtor_id, event_source, event_id, "
                      "opened_at, reason) VALUES (%s, %s, 'crm', %s, %s, 'x')",
                      (cr, d, "x%d" % k, at + dt.timedelta(days=rng.randint(0, 40))))


@pytest.fixture(scope="module")
def analytics_db():
    import random
    name = "report_ref_%s" % su.run_id()
    dsn = su.create_database(name)
    try:
        rng = random.Random(14)
        with psycopg.connect(dsn, autocommit=True) as c:
            random_portfolio(c, rng, "acme", 600)
            random_portfolio(c, rng, "other", 40)  # must never count in acme's figures
        yield dsn
    finally:
        su.drop_database(name)


def approx(x):
    return pytest.approx(x, rel=1e-3, abs=2e-4)


def check_share(share, k, n):
    assert (share["count"], share["of"]) == (k, n)
    if n:
        lo, hi = report_reference.wilson(k, n)
        assert share["rate"] == approx(k / n) and share["ci95"] == [approx(lo), approx(hi)]
    else:
        assert share["rate"] is None and share["ci95"] is None


def check_compare(got, ka, na, kb, nb):
    want = report_reference.compare(ka, na, kb, nb)
    if want is None:
        assert got["status"] == "not enough cases yet" and "difference" not in got
        return
    assert got["status"] == ("ok" if want["enough"] else "not enough cases yet")
    assert got["difference"] == approx(want["difference"])
    assert got["ci95"] == [approx(want["ci95"][0]), approx(want["ci95"][1])]
    assert got["z"] == approx(want["z"]) and got["p_value"] == approx(want["p_value"])
    assert got["significant"] == (want["enough"] and want["p_value"] < 0.05)


@pytest.mark.parametrize("period", [(), ("--from", "2026-09-15", "--to", "2026-11-10")])
def test_analytics_match_an_independent_computation(analytics_db, period):
    import datetime as dt
    r = report_json(analytics_db, "--creditor", "acme", *period)
    dates = [dt.date.fromisoformat(x) for x in period[1::2]] or [None, None]
    ref = report_reference.compute(analytics_db, "acme", *dates)
    # Champion/challenger, per strategy, never merged.
    cc = {s["strategy"]: s for s in r["champion_challenger"]}
    assert sorted(cc) == sorted(ref["champion_challenger"])
    for strat, variants in ref["champion_challenger"].items():
        got = {v["variant"]: v for v in cc[strat]["variants"]}
        assert sorted(got) == sorted(variants)
        for name, w in variants.items():
            assert got[name]["cases"] == w["cases"]
            check_share(got[name]["cure"], w["cured"], w["overdue"])
            check_share(got[name]["promise_kept"], w["kept"], w["settled"])
        comps = {c["variant"]: c for c in cc[strat]["comparisons"]}
        assert sorted(comps) == sorted(v for v in variants if v != "champion")
        ch = variants.get("champion")
        for name, c in comps.items():
            w = variants[name]
            check_compare(c["cure"], ch["cured"], ch["overdue"], w["cured"], w["overdue"])
            check_compare(c["promise_kept"], ch["kept"], ch["settled"], w["kept"], w["settled"])
    # Techniques and objections, per right-party contact.
    for kind, field, m1, m2, k1, n1, k2, n2 in (
            ("techniques", "technique", "promise", "kept", "promised", "contacts", "kept",
             "settled"),
            ("objections", "objection", "plan", "dispute", "planned", "contacts", "disputed",
             "contacts")):
        got = {e[field]: e for e in r[kind]}
        assert sorted(got) == sorted(ref[kind]), kind
        for name, sides in ref[kind].items():
            g = got[name]
            for side, used in (("with", True), ("without", False)):
                s = sides[used]
                assert g[side]["contacts"] == s["contacts"]
                check_share(g[side][m1], s[k1], s[n1])
                check_share(g[side][m2], s[k2], s[n2])
            wi, wo = sides[True], sides[False]
            check_compare(g[m1 + "_difference"], wo[k1], wo[n1], wi[k1], wi[n1])
            check_compare(g[m2 + "_difference"], wo[k2], wo[n2], wi[k2], wi[n2])
    # Agents.
    got = {a["agent_id"]: a for a in r["agents"]}
    assert sorted(got) == sorted(ref["agents"])
    for agent, w in ref["agents"].items():
        a = got[agent]
        for f in ("attempts", "right_party", "promises", "plans", "complaints", "limits_broken"):
            assert a[f] == w[f], (agent, f)
        check_share(a["kept"], w["kept"], w["settled"])
    # Roll rates from the snapshots.
    roll = ref["roll"]
    assert (r["roll"]["from"], r["roll"]["to"]) == (roll["from"], roll["to"])
    assert {(m["from"], m["to"]): m["cases"] for m in r["roll"]["matrix"]} == roll["matrix"]
    assert sum(roll["matrix"].values()) > 100  # a real sample
    for rate in r["roll"]["rates"]:
        row_ = {t: n for (f, t), n in roll["matrix"].items() if f == rate["from"]}
        assert rate["cases"] == sum(row_.values())
        assert rate["resolved"] == row_.get("resolved", 0)
        assert rate["resolved_rate"] == approx(rate["resolved"] / rate["cases"])


CHARTS = ["chart-segments", "chart-champion", "chart-roll", "chart-techniques",
          "chart-techniques-kept", "chart-objections-plan", "chart-objections-dispute",
          "chart-agents"]


def test_csv_is_one_flat_table_of_the_same_figures(analytics_db):
    import csv
    import io
    r = report_json(analytics_db, "--creditor", "acme")
    out = report(analytics_db, "--creditor", "acme", "--format", "csv").stdout
    table = list(csv.reader(io.StringIO(out)))
    assert table[0] == ["section", "group", "subgroup", "measure", "value"]
    assert all(len(t) == 5 for t in table)
    val = {tuple(t[:4]): t[4] for t in table[1:]}
    assert len(val) == len(table) - 1  # one row per group and measure
    assert float(val[("overall", "", "", "cure.rate")]) == approx(r["overall"]["cure"]["rate"])
    fg = [s for s in r["champion_challenger"] if s["strategy"] == "forgetful"][0]
    cmp_ = fg["comparisons"][0]
    assert float(val[("champion_challenger", "forgetful", "challenger vs champion",
                      "cure.difference")]) == approx(cmp_["cure"]["difference"])
    assert float(val[("champion_challenger", "forgetful", "challenger vs champion",
                      "cure.ci95.lo")]) == approx(cmp_["cure"]["ci95"][0])
    for m in r["roll"]["matrix"]:
        assert val[("roll", m["from"], m["to"], "cases")] == str(m["cases"])
    for a in r["agents"]:
        assert val[("agents", a["agent_id"], "", "complaints")] == str(a["complaints"])
    emp = [t for t in r["techniques"] if t["technique"] == "empathy"][0]
    assert val[("techniques", "empathy", "", "with.promise.count")] == \
        str(emp["with"]["promise"]["count"])
    assert val[("overall", "", "EUR", "recovery.collected")] == \
        r["overall"]["recovery"][0]["collected"]  # money stays the exact decimal string


def test_html_page_is_self_contained(analytics_db, tmp_path):
    import re
    page = tmp_path / "report.html"
    r = report(analytics_db, "--creditor", "acme", "--format", "html", "--out", str(page))
    assert r.stdout == "" and r.stderr == ""
    html = page.read_text()
    assert html.startswith("<!doctype html>")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "@media print" in html
    # Nothing to fetch: no script, no link, no image, no url(); the SVG namespace is a name only.
    assert not re.search(r"<script|<link|<img|<iframe|url\(|@import", html, re.I)
    assert re.findall(r"https?://[^\"' ]+", html) == ["http://www.w3.org/2000/svg"] * len(
        re.findall("<svg", html))
    for chart in CHARTS:
        assert 'id="%s"' % chart in html
    # The figures of the page are the report's: the forgetful challenger's cure difference.
    fg = [s for s in report_json(analytics_db, "--creditor", "acme")["champion_challenger"]
          if s["strategy"] == "forgetful"][0]
    assert "%+.1f pts" % (fg["comparisons"][0]["cure"]["difference"] * 100) in html
    # stdout works too; an unwritable --out is one line and exit 1.
    assert report(analytics_db, "--format", "html").stdout.startswith("<!doctype html>")
    bad = report(analytics_db, "--format", "html", "--out", str(tmp_path / "no" / "x.html"),
                 check=False)
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1
    assert "cannot write" in bad.stderr


def test_schema_rejects_a_document_off_the_contract(analytics_db):
    import copy
    import jsonschema
    doc = report_json(analytics_db, "--creditor", "acme")
    for path, value in ((("roll", "matrix", 0, "from"), "90+"),
                        (("techniques", 0, "with", "promise", "rate"), 1.5),
                        (("champion_challenger", 0, "comparisons"), None),
                        (("agents", 0, "complaints"), -1)):
        bad = copy.deepcopy(doc)
        target = bad
        for k in path[:-1]:
            target = target[k]
        target[path[-1]] = value
        with pytest.raises(jsonschema.ValidationError):
            su.check_schema("report.schema.json", bad)


def test_text_format_has_the_analytics(analytics_db):
    out = report(analytics_db, "--creditor", "acme", "--format", "text").stdout
    r = report_json(analytics_db, "--creditor", "acme")
    fg = [s for s in r["champion_challenger"] if s["strategy"] == "forgetful"][0]
    assert "forgetful        challenger vs champion: cure %+.1f pts" % (
        fg["comparisons"][0]["cure"]["difference"] * 100) in out
    assert "roll rates from %s to %s" % (r["roll"]["from"], r["roll"]["to"]) in out
    for t in r["techniques"]:
        assert "\n%-22s %5d contacts" % (t["technique"], t["with"]["contacts"]) in out
    for a in r["agents"]:
        assert "\n%-22s %5d attempts" % (a["agent_id"], a["attempts"]) in out
