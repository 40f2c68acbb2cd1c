"""test_settlements.py - discounted settlements end to end through Kafka (CONTRACT.md, "Additions,
version 2", Settlements): invoices through recobro-overdue, plan.agreed with settlement_amount
through recobro-interactions, instalments and a reversal through recobro-payments, time moved
with `recobroctl scheduler tick --now`, case events read from Kafka through the relay; the
PostgreSQL rows and the Redis hot case checked against values written here.

Three debtors, each owing 600.00 + 400.00 (due 2026-11-10 and 2026-11-15, Europe/Madrid), agree
at T0 to settle for 850.00 in three instalments (300.00, 275.00, 275.00 due 1, 8 and 15
December): 150.00 forgiven, 15% of the balance, inside the test policy's 20%.
  D-set pays every instalment: case.settled {settled_amount 850.00, written_off 150.00} and then
        case.resolved (reason settled); the invoice left open is written_off.
  D-def pays the first only: the tick of 19 December finds the second and third missed (grace
        3 days) and the plan defaults: nothing is forgiven, 700.00 stays owed.
  D-rev pays every instalment (settled), then the bank bounces the last one: exactly what was
        written off re-opens with what the payment had paid, 150.00 + 275.00, and the case is
        collected again.
The policy is deploy/policy/default.json with the default limits allowing a 20% discount and
no down payment (the shipped default allows no discount)."""
import json

import pytest

import stackutil as su
from test_promises import (case_show, cached, db, inter, overdue, payment, read, reversal, send,
                           wait_cache, wait_db)
from conftest import worker_env

POLICY = su.ROOT / "deploy" / "policy" / "default.json"
T0 = "2026-11-25T10:00:00Z"
SLOTS = [("2026-12-01", "300.00"), ("2026-12-08", "275.00"), ("2026-12-15", "275.00")]


@pytest.fixture
def st(names, tmp_path):
    names["inv"] = "it.%s.inv" % names["rid"]
    names["pay"] = "it.%s.pay" % names["rid"]
    names["events"] = "it.%s.events" % names["rid"]
    su.create_topics([names["inv"], names["pay"], names["events"]])
    names["creditor"] = "cr-" + names["rid"]
    names["db"] = db_name = "recobro_stl_" + names["rid"]
    names["dsn"] = su.create_database(db_name)
    policy = json.loads(POLICY.read_text())
    policy["name"] = "default-settlements"
    limits = policy["negotiation"]["limits"]["default"]
    limits["max_settlement_discount_pct"] = 20
    limits["min_down_payment_pct"] = 0
    names["policy"] = tmp_path / "settlements.json"
    names["policy"].write_text(json.dumps(policy))
    yield names
    su.drop_database(db_name)  # `services` was torn down first: nothing is connected


def envs(n, now, group):
    env = worker_env(n, RECOBRO_TOPIC_INVOICES=n["inv"], RECOBRO_TOPIC_PAYMENTS=n["pay"],
                     RECOBRO_TOPIC_INTERACTIONS=n["in"], RECOBRO_TOPIC_CASE_EVENTS=n["events"],
                     RECOBRO_NOW=now, RECOBRO_POLICY_FILE=str(n["policy"]),
                     RECOBRO_PG_DSN=n["dsn"])
    env["RECOBRO_GROUP_ID"] = n["group"] + "-" + group
    return env


def settlement_plan(n, d, amount="850.00"):
    return inter(n, "pl", d, "plan.agreed", plan_id="PL-" + d, currency="EUR",
                 installments=[{"due_on": a, "amount": b} for a, b in SLOTS],
                 settlement_amount=amount, agent_id="ag-1")


def invoices(n, d):
    return db(n, "SELECT invoice_id, status, open_amount FROM invoice WHERE creditor_id = %s AND "
                 "debtor_id = %s ORDER BY invoice_id", n["creditor"], d)


def pay_phase(services, n, now, items):
    w = services("recobro-payments", envs(n, now, "pay"))
    for d, p in items:
        send(n, "pay", d, p)
    for d, p in items:
        ev = json.loads(p)
        wait_db(n, "SELECT count(*) FROM payment WHERE creditor_id = %s AND debtor_id = %s AND "
                   "payment_id = %s AND status = %s",
                (n["creditor"], d, ev["data"]["payment_id"],
                 "reversed" if ev["type"] == "payment.reversed" else "received"),
                [(1,)], "%s %s" % (d, ev["type"]))
    assert w.stop() == 0


def settlement_events(n, d, settle=3):
    return read(n, "events", 10 ** 6, d, timeout=settle,
                pred=lambda e: e["type"] in ("case.settled", "case.resolved", "plan.defaulted",
                                             "plan.completed"))


def test_settlement_paid_defaulted_and_reversed(st, services):
    ds = ["D-set", "D-def", "D-rev"]
    services("recobro-relay", envs(st, T0, "relay"))
    services("recobro-overdue", envs(st, T0, "ov"))
    services("recobro-interactions", envs(st, T0, "ia"))
    for d in ds:
        send(st, "inv", d, overdue(st, d, "600.00", "2026-11-10", "INV-A"),
             overdue(st, d, "400.00", "2026-11-15", "INV-B"))
    for d in ds:
        wait_cache(st, d, lambda c: c["balance"] == "1000.00", "case %s open" % d)
    # A settlement forgiving more than the 20% limit is refused (DLQ, invalid_plan).
    send(st, "in", "D-set", inter(st, "pl-bad", "D-set", "plan.agreed", plan_id="PL-BAD",
                                  currency="EUR", installments=[{"due_on": "2026-12-01",
                                                                 "amount": "700.00"}],
                                  settlement_amount="700.00", agent_id="ag-1"))
    for d in ds:
        send(st, "in", d, settlement_plan(st, d))
    for d in ds:
        c = wait_cache(st, d, lambda c: c["active_plan"] is not None, "plan active " + d)
        assert c["settlement"]["plan_id"] == "PL-" + d
        assert (c["settlement"]["settlement_amount"], c["settlement"]["settled"]) == \
            ("850.00", False)
    bad = su.consume(st["dlq"], 1, timeout=60)
    assert len(bad) == 1 and dict(bad[0].headers())["recobro-error"] == b"invalid_plan"
    assert db(st, "SELECT count(*) FROM plan WHERE creditor_id = %s AND plan_id = 'PL-BAD'",
              st["creditor"]) == [(0,)]

    def paid(d, pid, amount, at):
        return (d, payment(st, d, pid, amount, at))
    pay_phase(services, st, "2026-12-15T12:00:00Z", [
        paid("D-set", "I1", "300.00", "2026-12-01T10:00:00Z"),
        paid("D-set", "I2", "275.00", "2026-12-08T10:00:00Z"),
        paid("D-set", "I3", "275.00", "2026-12-14T10:00:00Z"),
        paid("D-def", "I1", "300.00", "2026-12-01T10:00:00Z"),
        paid("D-rev", "I1", "300.00", "2026-12-01T10:00:00Z"),
        paid("D-rev", "I2", "275.00", "2026-12-08T10:00:00Z"),
        paid("D-rev", "I3", "275.00", "2026-12-14T10:00:00Z")])

    # D-set and D-rev: settled, 150.00 written off, then resolved.
    for d in ("D-set", "D-rev"):
        evs = read(st, "events", 2, d, pred=lambda e: e["type"] in ("case.settled",
                                                                    "case.resolved"))
        assert [e["type"] for e in evs] == ["case.settled", "case.resolved"], evs
        s = evs[0]["data"]
        assert (s["plan_id"], s["settled_amount"], s["written_off"], s["currency"]) == \
            ("PL-" + d, "850.00", "150.00", "EUR")
        assert evs[0]["source"] == "recobro/payments"
        assert evs[1]["data"]["reason"] == "settled"
        c = wait_cache(st, d, lambda c: c["status"] == "resolved", d + " resolved")
        assert (c["balance"], c["principal"]) == ("0.00", "0.00")
        assert (c["settlement"]["settled"], c["settlement"]["written_off"]) == (True, "150.00")
        assert invoices(st, d) == [("INV-A", "paid", 0), ("INV-B", "written_off", 0)]
    assert cached(st, "D-def")["settlement"]["settled"] is False

    # The bank bounces D-rev's last instalment: the payment and the write-off re-open.
    pay_phase(services, st, "2026-12-16T12:00:00Z", [("D-rev", reversal(st, "D-rev", "I3"))])
    c = wait_cache(st, "D-rev", lambda c: c["balance"] == "425.00", "D-rev re-opened")
    assert c["status"] == "open" and c["principal"] == "425.00"
    assert (c["settlement"]["settled"], c["settlement"]["written_off"]) == (False, "0.00")
    # I3 had paid INV-A's last 25.00 and 250.00 of INV-B, whose other 150.00 was written off.
    assert invoices(st, "D-rev") == [("INV-A", "open", 2500), ("INV-B", "open", 40000)]

    # The tick after the grace of the second and third instalments: D-def's plan defaults.
    r = su.recobroctl("scheduler", "tick", "--now", "2026-12-19T12:00:00Z",
                      env=envs(st, "2026-12-19T12:00:00Z", "tick"))
    assert json.loads(r.stdout)["failed"] == 0
    dft = read(st, "events", 1, "D-def", "plan.defaulted")
    assert dft and dft[0]["data"]["plan_id"] == "PL-D-def"
    c = wait_cache(st, "D-def", lambda c: c["active_plan"] is None, "D-def defaulted")
    assert c["balance"] == "700.00" and c["status"] == "open"
    assert (c["settlement"]["settled"], c["settlement"]["written_off"]) == (False, "0.00")
    assert invoices(st, "D-def") == [("INV-A", "open", 30000), ("INV-B", "open", 40000)]
    assert [e["type"] for e in settlement_events(st, "D-def")] == ["plan.defaulted"]
    # Neither a second settlement for D-rev nor one for D-def; `case show` tells the story.
    assert [e["type"] for e in settlement_events(st, "D-rev", settle=1)] == \
        ["case.settled", "case.resolved"]
    shown = case_show(st, "D-set")
    assert shown["status"] == "resolved" and shown["balance"] == "0.00"
