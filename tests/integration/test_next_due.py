"""test_next_due.py - debt_case.next_due_at written in C (common/domain/nextdue.h, casestore's
cs_case, migration 0013) equals what migration 0005's trigger wrote, on every path that moves
what the trigger read: the same events through the real overdue, interactions and payments
workers and the same `recobroctl scheduler tick`s go into two private databases, one migrated as
shipped (no trigger: the value comes from C) and one with 0005's trigger put back (it overwrites
whatever the savers send, as before 0013). Every case must end with the same next_due_at in both.

The portfolio is chosen to be varied: debtors in 20 zones, among them zones whose midnight a DST
change skips or repeats (America/Santiago, Atlantic/Azores, America/Havana, Africa/Cairo,
Asia/Beirut), half-hour and 45-minute offsets, both sides of the date line; a debtor whose zone
changes (a later invoice.overdue names another zone: the debtor row moves), a debtor whose
contact.preferences name another zone (the debtor has one zone: the planning's clock, the debtor
row and so the scheduler's day all move to it, and a later invoice.overdue naming the accounting
system's zone moves none of them back),
cases resolved by payment (no due time), partial payments, a case set aside by hand and saved
again at the same instant (its stored value is kept), a policy switch, and scheduler ticks across
the DST changes of October and November 2026 and April 2027."""
import re

import psycopg
import pytest

import stackutil as su
from conftest import worker_env

POLICY = su.ROOT / "deploy" / "policy" / "default.json"
POLICY_ES = su.ROOT / "deploy" / "policy" / "es.json"
ZONES = ["America/Santiago", "Atlantic/Azores", "America/Havana", "Africa/Cairo", "Asia/Beirut",
         "America/New_York", "Europe/Madrid", "Europe/Dublin", "Australia/Lord_Howe",
         "Pacific/Chatham", "Asia/Kathmandu", "America/St_Johns", "Pacific/Kiritimati",
         "Pacific/Pago_Pago", "Asia/Tokyo", "Australia/Sydney", "America/Asuncion",
         "Antarctica/Troll", "Pacific/Apia", "UTC"]
T1 = "2026-10-24T12:00:00Z"  # the invoices (the eve of Europe's and the Azores' fall-back)
T2 = "2026-10-25T00:30:00Z"  # zone changes, preferences, payments
TICKS = ["2026-10-24T22:30:00Z", "2026-10-25T02:00:00Z", "2026-10-26T12:00:00Z",
         "2026-11-01T04:30:00Z", "2026-11-01T12:00:00Z", "2026-11-02T06:00:00Z",
         "2026-12-01T00:00:00Z", "2027-04-04T03:30:00Z", "2027-04-05T12:00:00Z"]
WORKERS = ["recobro-overdue", "recobro-interactions", "recobro-payments"]


@pytest.fixture
def nd(names):
    rid = names["rid"]
    for t in ("inv", "pay", "int", "events"):
        names[t] = "it.%s.%s" % (rid, t)
    su.create_topics([names[t] for t in ("inv", "pay", "int", "events")])
    names["creditor"] = "cr-" + rid
    names["dbs"] = {"c": "recobro_ndc_" + rid, "trigger": "recobro_ndt_" + rid}
    names["dsn"] = {k: su.create_database(db) for k, db in names["dbs"].items()}
    # 0005's trigger, as it was, in the second database.
    sql = (su.ROOT / "deploy" / "migrations" / "0005_scheduler.sql").read_text()
    body = re.search(r"CREATE FUNCTION debt_case_next_due\(\).*?FOR EACH ROW EXECUTE FUNCTION "
                     r"debt_case_next_due\(\);", sql, re.S).group(0)
    with psycopg.connect(names["dsn"]["trigger"], autocommit=True) as conn:
        conn.execute(body)
    yield names
    for db in names["dbs"].values():
        su.drop_database(db)


def env(n, which, now):
    return worker_env(n, RECOBRO_TOPIC_INVOICES=n["inv"], RECOBRO_TOPIC_PAYMENTS=n["pay"],
                      RECOBRO_TOPIC_INTERACTIONS=n["int"], RECOBRO_TOPIC_CASE_EVENTS=n["events"],
                      RECOBRO_GROUP_ID="%s-%s" % (n["group"], which), RECOBRO_NOW=now,
                      RECOBRO_POLICY_FILE=str(POLICY), RECOBRO_PG_DSN=n["dsn"][which])


def q(n, which, sql, *params):
    with psycopg.connect(n["dsn"][which], autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def both(n, sql, *params):
    for which in n["dsn"]:
        with psycopg.connect(n["dsn"][which], autocommit=True) as conn:
            conn.execute(sql, params)


def ev(n, etype, eid, data, source="erp/acme-billing"):
    data = dict(data, creditor_id=n["creditor"])
    return ("%s/%s" % (n["creditor"], data["debtor_id"]),
            su.event(source, "%s-%s" % (n["rid"], eid), etype, data), None)


def overdue(n, debtor, zone, inv, due_on, amount="150.00"):
    return ev(n, "invoice.overdue", "ov-%s-%s" % (debtor, inv), {
        "debtor_id": debtor, "creditor_name": "ACME Telecom S.L.",
        "debtor": {"id": debtor, "name": "Test Debtor", "timezone": zone},
        "invoice": {"id": inv, "currency": "EUR", "amount": amount, "open_amount": amount,
                    "due_on": due_on}})


def payment(n, debtor, pid, amount):
    return ev(n, "payment.received", "pay-" + pid, {
        "debtor_id": debtor, "payment_id": pid, "currency": "EUR", "amount": amount,
        "received_at": "2026-10-24T23:00:00Z", "method": "bank_transfer"},
        source="payments/bank-feed")


def prefs(n, debtor, eid, **fields):
    return ev(n, "contact.preferences", "pref-" + eid, dict(fields, debtor_id=debtor),
              source="crm/acme-desk")


def phase(services, n, now, batches):
    """Starts the three case workers on both databases with the clock at `now`, feeds
    `batches` ({topic key: [messages]}) and waits until both databases processed them all."""
    sent = sum(len(m) for m in batches.values())
    before = {w: q(n, w, "SELECT count(*) FROM processed_event")[0][0] for w in n["dsn"]}
    started = [services(name, env(n, which, now)) for which in n["dsn"] for name in WORKERS]
    for topic, msgs in batches.items():
        su.produce(n[topic], msgs)
    for which in n["dsn"]:
        su.wait_for(lambda: q(n, which, "SELECT count(*) FROM processed_event")[0][0] ==
                    before[which] + sent, timeout=120, what="%s processed %d" % (which, sent))
    for s in started:
        s.stop()


def cases(n, which):
    return q(n, which, "SELECT debtor_id, next_due_at, updated_at, status, segment, version "
                       "FROM debt_case WHERE creditor_id = %s ORDER BY debtor_id", n["creditor"])


def assert_same(n, when):
    c, t = cases(n, "c"), cases(n, "trigger")
    assert [r[0] for r in c] == [r[0] for r in t], when
    # Both databases saw the same history: the comparison means something.
    assert [r[2:] for r in c] == [r[2:] for r in t], when
    diff = [(a[0], a[1], b[1]) for a, b in zip(c, t) if a[1] != b[1]]
    assert not diff, "%s: next_due_at (C, trigger) differs: %s" % (when, diff)
    return c


def test_next_due_in_c_equals_the_trigger_on_every_path(nd, services):
    n = nd
    assert q(n, "c", "SELECT count(*) FROM pg_trigger WHERE tgname = 'debt_case_next_due'") == [(0,)]
    assert q(n, "trigger", "SELECT count(*) FROM pg_trigger WHERE tgname = "
                           "'debt_case_next_due'") == [(1,)]
    debtors = [("D-%02d-%d" % (i, k), z, "2026-%02d-%02d" % (8 + k, 3 + 7 * k))
               for i, z in enumerate(ZONES) for k in range(2)]
    phase(services, n, T1, {"inv": [overdue(n, d, z, "INV-1", due) for d, z, due in debtors]})
    assert_same(n, "invoices")

    # Set aside by hand (as the sweep does a case it cannot plan), then saved again at the same
    # instant: the stored value is kept, by the trigger and by cs_case alike.
    kept = "D-06-0"
    both(n, "UPDATE debt_case SET next_due_at = '2026-10-24T13:00:00Z' WHERE creditor_id = %s "
            "AND debtor_id = %s", n["creditor"], kept)
    phase(services, n, T1, {"int": [prefs(n, kept, "kept", do_not_sms=True)]})
    rows = assert_same(n, "saved at the same instant")
    assert [r[1].isoformat() for r in rows if r[0] == kept] == ["2026-10-24T13:00:00+00:00"]

    tick(n, TICKS[0])
    moved = {"D-00-1": "Asia/Kathmandu", "D-06-1": "America/Havana", "D-01-0": "Pacific/Apia"}
    phase(services, n, T2, {
        "inv": [overdue(n, d, z, "INV-2", "2026-10-01", "40.00") for d, z in moved.items()],
        "int": [prefs(n, "D-02-0", "tz1", timezone="Asia/Tokyo"),
                prefs(n, "D-07-1", "tz2", timezone="America/Santiago")],
        "pay": [payment(n, "D-03-0", "P1", "150.00"), payment(n, "D-04-1", "P2", "150.00"),
                payment(n, "D-05-0", "P3", "20.00"), payment(n, "D-08-0", "P4", "75.00")]})
    assert_same(n, "zone changes, preferences and payments")
    zones = dict(q(n, "c", "SELECT debtor_id, timezone FROM debtor WHERE creditor_id = %s",
                   n["creditor"]))
    assert all(zones[d] == z for d, z in moved.items())
    prefs_zones = {"D-02-0": "Asia/Tokyo", "D-07-1": "America/Santiago"}
    assert all(zones[d] == z for d, z in prefs_zones.items())
    # Accounting re-sends the debtor with its own zone (America/Havana): the debtor's stays.
    phase(services, n, T2, {"inv": [overdue(n, "D-02-0", ZONES[2], "INV-3", "2026-10-01", "9.00")]})
    assert_same(n, "an overdue naming the accounting zone after the debtor's own")
    zones = dict(q(n, "c", "SELECT debtor_id, timezone FROM debtor WHERE creditor_id = %s",
                   n["creditor"]))
    assert all(zones[d] == z for d, z in prefs_zones.items())
    tokyo = q(n, "c", "SELECT (next_due_at AT TIME ZONE 'Asia/Tokyo')::time FROM debt_case "
                      "WHERE creditor_id = %s AND debtor_id = 'D-02-0'", n["creditor"])
    assert [str(r[0]) for r in tokyo] == ["00:00:00"]  # due at the debtor's own midnight

    for i, now in enumerate(TICKS[1:]):
        if now == TICKS[4]:  # a policy switch: the next sweeps plan under the creditor's own
            for which in n["dsn"]:
                su.recobroctl("policy", "load", str(POLICY_ES), "--creditor", n["creditor"],
                              env=env(n, which, now))
        tick(n, now)
        rows = assert_same(n, "tick at " + now)

    # The portfolio was varied: many distinct due times, resolved cases without one.
    assert len({r[1] for r in rows if r[1] is not None}) >= 10
    assert [r[0] for r in rows if r[1] is None] == ["D-03-0", "D-04-1"]
    assert {r[3] for r in rows} == {"open", "resolved"}
    # And the C value is the rule itself (0005's formula) wherever nothing set it aside.
    off = q(n, "c", "SELECT c.debtor_id FROM debt_case c LEFT JOIN debtor d USING (creditor_id, "
                    "debtor_id) WHERE c.creditor_id = %s AND c.next_due_at IS DISTINCT FROM ("
                    "CASE WHEN c.segment IS NULL OR c.status = 'resolved' THEN NULL ELSE "
                    "((c.updated_at AT TIME ZONE d.timezone)::date + 1)::timestamp "
                    "AT TIME ZONE d.timezone END)", n["creditor"])
    assert off == []


def tick(n, now):
    for which in n["dsn"]:
        su.recobroctl("scheduler", "tick", "--now", now, env=env(n, which, now))
