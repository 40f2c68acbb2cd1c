"""test_payments.py - recobro-payments end to end against the real stack: invoices through
recobro-overdue, payments and reversals through recobro-payments, tasks and case events through
the relay; PostgreSQL, the DLQ and the Redis hot case checked. Each test has its own topics,
consumer groups, creditor and debtors."""
import json

import pytest

import stackutil as su
from conftest import worker_env
from test_overdue import POLICY, cached, overdue, read, wait_cache

NOW = "2026-11-25T10:00:00Z"


@pytest.fixture
def pay(names):
    names["events"] = "it.%s.events" % names["rid"]
    names["pay"] = "it.%s.pay" % names["rid"]
    su.create_topics([names["events"], names["pay"]])
    names["creditor"] = "cr-" + names["rid"]
    return names


def start(services, names, now=NOW):
    base = dict(RECOBRO_TOPIC_CASE_EVENTS=names["events"], RECOBRO_TOPIC_PAYMENTS=names["pay"],
                RECOBRO_NOW=now, RECOBRO_POLICY_FILE=str(POLICY))
    services("recobro-overdue", worker_env(names, **base))
    services("recobro-payments",
             worker_env(names, **dict(base, RECOBRO_GROUP_ID=names["group"] + "-pay")))
    services("recobro-relay", worker_env(names, **base))


def payment(rid, eid, cr, d, pid, amount, currency="EUR", invoice_ids=None,
            received_at="2026-11-25T09:00:00Z"):
    data = {"creditor_id": cr, "debtor_id": d, "payment_id": pid, "amount": amount,
            "currency": currency, "received_at": received_at, "method": "transfer"}
    if invoice_ids:
        data["invoice_ids"] = invoice_ids
    return su.event("bank/acme", "%s-%s" % (rid, eid), "payment.received", data)


def reversal(rid, eid, cr, d, pid):
    return su.event("bank/acme", "%s-%s" % (rid, eid), "payment.reversed",
                    {"creditor_id": cr, "debtor_id": d, "payment_id": pid,
                     "reason": "insufficient_funds"})


def send(topic, cr, d, *payloads):
    su.produce(topic, [("%s/%s" % (cr, d), p, None) for p in payloads])


def invoices(cr, d):
    return {r[0]: (r[1], r[2]) for r in su.query(
        "SELECT invoice_id, open_amount, status FROM invoice "
        "WHERE creditor_id = %s AND debtor_id = %s", cr, d)}


def features(cr, d):
    return su.query("SELECT features FROM debt_case WHERE creditor_id = %s AND debtor_id = %s",
                    cr, d)[0][0]


def wait_invoices(cr, d, want, what):
    return su.wait_for(lambda: invoices(cr, d) == want or None, timeout=90, what=what)


# ---- the scenarios ---------------------------------------------------------------------------

def test_full_payment_resolves_the_case(pay, services):
    rid, cr, d = pay["rid"], pay["creditor"], "D-full"
    send(pay["in"], cr, d, overdue(rid, "o1", cr, d, "INV-1", "120.00", "2026-10-31"))
    start(services, pay)
    wait_cache(cr, d, lambda c: c["balance"] == "120.00", "case open")
    send(pay["pay"], cr, d, payment(rid, "p1", cr, d, "PAY-1", "120.00"))

    resolved = read(pay["events"], 1, debtor=d, etype="case.resolved")
    assert resolved and resolved[0]["data"]["reason"] == "paid"
    assert resolved[0]["source"] == "recobro/payments"  # who acted (CONTRACT.md)
    c = wait_cache(cr, d, lambda c: c["status"] == "resolved", "resolved in the cache")
    assert c["balance"] == "0.00" and c["segment"] == "resolved"
    assert invoices(cr, d) == {"INV-1": (0, "paid")}
    # Pending collection tasks withdrawn, and a thank-you.
    tasks = read(pay["out"], 1, debtor=d, etype="task.cancelled")
    assert tasks and tasks[0]["data"]["reason"] == "resolved"
    thanks = [t for t in read(pay["out"], 10, timeout=20, debtor=d, etype="task.created")
              if t["data"]["action"] == "thank_you"]
    assert len(thanks) == 1
    assert features(cr, d)["payments_count"] == 1


def test_partial_payments_oldest_first_and_duplicate(pay, services):
    rid, cr, d = pay["rid"], pay["creditor"], "D-part"
    send(pay["in"], cr, d, overdue(rid, "o1", cr, d, "INV-1", "100.00", "2026-10-01"),
         overdue(rid, "o2", cr, d, "INV-2", "50.00", "2026-11-01"))
    start(services, pay)
    wait_cache(cr, d, lambda c: c["balance"] == "150.00", "case open")
    p1 = payment(rid, "p1", cr, d, "PAY-1", "30.00")
    send(pay["pay"], cr, d, p1, p1,  # the same event twice
         payment(rid, "p1b", cr, d, "PAY-1", "30.00"),  # the same payment, another event id
         payment(rid, "p2", cr, d, "PAY-2", "20.00", invoice_ids=["INV-2"]))
    wait_invoices(cr, d, {"INV-1": (7000, "open"), "INV-2": (3000, "open")}, "allocation")
    c = wait_cache(cr, d, lambda c: c["balance"] == "100.00", "balance 100")
    assert c["status"] == "open"
    f = features(cr, d)
    assert f["payments_count"] == 2 and f["partial_payments"] == 2
    assert su.query("SELECT count(*) FROM payment WHERE creditor_id = %s", cr)[0][0] == 2


def test_payment_before_invoice_and_overpayment_credit(pay, services):
    rid, cr, d = pay["rid"], pay["creditor"], "D-early"
    send(pay["pay"], cr, d, payment(rid, "p1", cr, d, "PAY-1", "150.00"))
    start(services, pay)
    su.wait_for(lambda: su.query("SELECT unallocated FROM payment WHERE creditor_id = %s "
                                 "AND payment_id = 'PAY-1'", cr) == [(15000,)] or None,
                timeout=90, what="payment kept as credit")
    # The invoice arrives: the credit pays it, 30.00 left.
    send(pay["in"], cr, d, overdue(rid, "o1", cr, d, "INV-1", "120.00", "2026-10-31"))
    wait_invoices(cr, d, {"INV-1": (0, "paid")}, "credit used")
    assert su.query("SELECT unallocated FROM payment WHERE creditor_id = %s", cr) == [(3000,)]
    # A later invoice consumes the rest.
    send(pay["in"], cr, d, overdue(rid, "o2", cr, d, "INV-2", "50.00", "2026-11-10"))
    wait_invoices(cr, d, {"INV-1": (0, "paid"), "INV-2": (2000, "open")}, "rest of credit")
    assert su.query("SELECT unallocated FROM payment WHERE creditor_id = %s", cr) == [(0,)]
    lines = su.query("SELECT invoice_id, amount, from_credit FROM payment_allocation "
                     "WHERE creditor_id = %s ORDER BY line_id", cr)
    assert lines == [("INV-1", 12000, True), ("INV-2", 3000, True)]
    wait_cache(cr, d, lambda c: c["balance"] == "20.00", "balance 20")
    # Reversing the payment re-opens both invoices exactly.
    send(pay["pay"], cr, d, reversal(rid, "r1", cr, d, "PAY-1"))
    wait_invoices(cr, d, {"INV-1": (12000, "open"), "INV-2": (5000, "open")}, "reversal")
    wait_cache(cr, d, lambda c: c["balance"] == "170.00", "balance back")


def test_reversal_after_kept_promise_breaks_it(pay, services):
    rid, cr, d = pay["rid"], pay["creditor"], "D-prom"
    send(pay["in"], cr, d, overdue(rid, "o1", cr, d, "INV-1", "200.00", "2026-10-31"))
    start(services, pay, now="2026-11-25T10:00:00Z")
    wait_cache(cr, d, lambda c: c["balance"] == "200.00", "case open")
    # A promise made on 2026-11-10, due 2026-11-20 (grace 3 in the default policy).
    su.query("INSERT INTO promise (creditor_id, debtor_id, promise_id, amount, currency, due_on, "
             "made_on, grace_days, state, as_of, settled_on) VALUES (%s, %s, 'PR-1', 5000, "
             "'EUR', '2026-11-20', '2026-11-10', 3, 'pending', '2026-11-10', '2026-11-10') "
             "RETURNING 1", cr, d)
    send(pay["pay"], cr, d, payment(rid, "p1", cr, d, "PAY-1", "50.00",
                                    received_at="2026-11-19T09:00:00Z"))
    kept = read(pay["events"], 1, debtor=d, etype="promise.kept")
    assert kept and kept[0]["data"]["promise_id"] == "PR-1"
    assert features(cr, d)["promises_kept"] == 1
    # Bounced on the 25th, after the grace: the promise is broken (revised).
    send(pay["pay"], cr, d, reversal(rid, "r1", cr, d, "PAY-1"))
    broken = read(pay["events"], 1, debtor=d, etype="promise.broken")
    assert broken and broken[0]["data"]["revised"] is True
    f = features(cr, d)
    assert f["promises_kept"] == 0 and f["promises_broken"] == 1 and f["payments_count"] == 0
    assert su.query("SELECT state, paid_toward FROM promise WHERE creditor_id = %s",
                    cr) == [("broken", 0)]
    wait_cache(cr, d, lambda c: c["balance"] == "200.00", "balance back")


def test_currency_mismatch_goes_to_dlq(pay, services):
    rid, cr, d = pay["rid"], pay["creditor"], "D-cur"
    send(pay["in"], cr, d, overdue(rid, "o1", cr, d, "INV-1", "120.00", "2026-10-31"))
    start(services, pay)
    wait_cache(cr, d, lambda c: c["balance"] == "120.00", "case open")
    send(pay["pay"], cr, d, payment(rid, "p1", cr, d, "PAY-1", "120.00", currency="USD"),
         payment(rid, "p2", cr, d, "PAY-2", "20.00"))
    dlq = su.consume(pay["dlq"], 1, timeout=90)
    assert len(dlq) == 1
    h = dict(dlq[0].headers())
    assert h["recobro-error"].decode() == "currency_mismatch"
    assert h["recobro-service"].decode() == "payments"
    assert json.loads(dlq[0].value())["data"]["payment_id"] == "PAY-1"
    # The good one behind it applied.
    wait_cache(cr, d, lambda c: c["balance"] == "100.00", "good payment applied")
    assert cached(cr, d)["status"] == "open"


def test_rejected_event_between_two_good_ones_of_one_case(pay, services):
    """The case workers apply a batch case by case in rounds: a good payment, a refused one and
    another good one of the same case, sent together, must leave the case as if the refused one
    never came (nothing of it saved, cached or emitted) and apply the other two in order."""
    rid, cr, d = pay["rid"], pay["creditor"], "D-mid"
    send(pay["in"], cr, d, overdue(rid, "o1", cr, d, "INV-1", "120.00", "2026-10-31"))
    start(services, pay)
    wait_cache(cr, d, lambda c: c["balance"] == "120.00", "case open")
    send(pay["pay"], cr, d, payment(rid, "p1", cr, d, "PAY-1", "50.00"),
         payment(rid, "p2", cr, d, "PAY-2", "20.00", currency="USD"),
         payment(rid, "p3", cr, d, "PAY-3", "30.00"))
    dlq = su.consume(pay["dlq"], 1, timeout=90)
    assert len(dlq) == 1
    assert dict(dlq[0].headers())["recobro-error"].decode() == "currency_mismatch"
    assert json.loads(dlq[0].value())["data"]["payment_id"] == "PAY-2"
    wait_cache(cr, d, lambda c: c["balance"] == "40.00", "both good payments applied")
    wait_invoices(cr, d, {"INV-1": (4000, "open")}, "invoice paid down")
    assert su.query("SELECT payment_id, amount, status FROM payment WHERE creditor_id = %s "
                    "ORDER BY payment_id", cr) == [("PAY-1", 5000, "received"),
                                                   ("PAY-3", 3000, "received")]
    assert su.query("SELECT count(*) FROM payment_allocation WHERE creditor_id = %s "
                    "AND payment_id = 'PAY-2'", cr) == [(0,)]
    assert cached(cr, d)["status"] == "open"


def test_one_batch_of_many_cases_with_a_refused_event(pay, services):
    """The case workers write a batch with one statement per table (common/store/pgbulk.h):
    several cases of one creditor, each with several events in the same batch and one of them
    refused, must end exactly as if every event had been applied alone, in order: each case's
    payments, allocation lines in order, invoices and balance, nothing of the refused one."""
    rid, cr = pay["rid"], pay["creditor"]
    debtors = ["D-b%d" % i for i in range(4)]
    for d in debtors:
        send(pay["in"], cr, d, overdue(rid, "o1" + d, cr, d, "INV-1", "120.00", "2026-10-01"),
             overdue(rid, "o2" + d, cr, d, "INV-2", "50.00", "2026-11-01"))
    start(services, pay)
    for d in debtors:
        wait_cache(cr, d, lambda c: c["balance"] == "170.00", "case %s open" % d)
    # Every payment of every case in one produce call: one batch for the payments worker.
    msgs = []
    for d in debtors:
        bad = d == "D-b1"
        msgs += [("%s/%s" % (cr, d), p, None) for p in (
            payment(rid, "p1" + d, cr, d, "PAY-1", "30.00"),
            payment(rid, "p2" + d, cr, d, "PAY-2", "20.00", currency="USD" if bad else "EUR"),
            payment(rid, "p3" + d, cr, d, "PAY-3", "10.00"))]
    su.produce(pay["pay"], msgs)
    dlq = su.consume(pay["dlq"], 1, timeout=90)
    assert len(dlq) == 1
    assert json.loads(dlq[0].value())["data"]["debtor_id"] == "D-b1"
    for d in debtors:
        paid = 4000 if d == "D-b1" else 6000
        wait_invoices(cr, d, {"INV-1": (12000 - paid, "open"), "INV-2": (5000, "open")},
                      "payments of %s" % d)
        wait_cache(cr, d, lambda c, p=paid: c["balance"] == "%.2f" % ((17000 - p) / 100),
                   "balance of %s" % d)
        want = [("PAY-1", "INV-1", 3000), ("PAY-3", "INV-1", 1000)] if d == "D-b1" else \
            [("PAY-1", "INV-1", 3000), ("PAY-2", "INV-1", 2000), ("PAY-3", "INV-1", 1000)]
        assert su.query("SELECT payment_id, invoice_id, amount FROM payment_allocation "
                        "WHERE creditor_id = %s AND debtor_id = %s ORDER BY line_id",
                        cr, d) == want
        assert features(cr, d)["payments_count"] == len(want)
    assert su.query("SELECT count(*) FROM creditor WHERE creditor_id = %s", cr) == [(1,)]


def test_one_batch_of_reversals_known_unknown_and_credit(pay, services):
    """The payments worker reads a batch's payments with one statement per table and writes their
    reversals with one statement per table (paystore.c's *_many reads, pgbulk.h): several cases
    reversing in the same batch a payment each of them has (one paid in full plus a credit), one
    it never received (a reversed stub is kept) and one twice, must each end as if alone: every
    payment reversed, its lines reversed, its invoices re-opened, its credit gone, and a payment
    received after the reversals in the same batch allocated."""
    rid, cr = pay["rid"], pay["creditor"]
    debtors = ["D-r%d" % i for i in range(4)]
    for d in debtors:
        send(pay["in"], cr, d, overdue(rid, "o1" + d, cr, d, "INV-1", "120.00", "2026-10-01"))
    start(services, pay)
    for i, d in enumerate(debtors):
        wait_cache(cr, d, lambda c: c["balance"] == "120.00", "case %s open" % d)
        amount = "150.00" if i == 3 else "50.00"  # D-r3 over-pays: 30.00 of credit
        send(pay["pay"], cr, d, payment(rid, "p1" + d, cr, d, "PAY-1", amount))
    for i, d in enumerate(debtors):
        wait_invoices(cr, d, {"INV-1": (0, "paid") if i == 3 else (7000, "open")},
                      "first payment of %s" % d)
    assert su.query("SELECT unallocated FROM payment WHERE creditor_id = %s AND debtor_id = %s",
                    cr, "D-r3") == [(3000,)]
    # Every reversal of every case in one produce call: one batch for the payments worker.
    msgs = []
    for d in debtors:
        evs = [reversal(rid, "r1" + d, cr, d, "PAY-1"), reversal(rid, "rx" + d, cr, d, "PAY-X")]
        if d == "D-r1":
            evs.append(reversal(rid, "r1b" + d, cr, d, "PAY-1"))  # again, another event id
        if d == "D-r2":
            evs.append(payment(rid, "p2" + d, cr, d, "PAY-2", "30.00"))
        msgs += [("%s/%s" % (cr, d), p, None) for p in evs]
    su.produce(pay["pay"], msgs)
    for d in debtors:
        want = (9000, "open") if d == "D-r2" else (12000, "open")
        wait_invoices(cr, d, {"INV-1": want}, "reversals of %s" % d)
        wait_cache(cr, d, lambda c, w=want: c["balance"] == "%.2f" % (w[0] / 100),
                   "balance of %s" % d)
        rows = su.query("SELECT payment_id, status, amount, unallocated FROM payment "
                        "WHERE creditor_id = %s AND debtor_id = %s ORDER BY payment_id", cr, d)
        paid = 15000 if d == "D-r3" else 5000
        want_rows = [("PAY-1", "reversed", paid, 0)]
        if d == "D-r2":
            want_rows.append(("PAY-2", "received", 3000, 0))
        want_rows.append(("PAY-X", "reversed", None, 0))
        assert rows == want_rows, d
        lines = su.query("SELECT payment_id, amount, reversed FROM payment_allocation "
                         "WHERE creditor_id = %s AND debtor_id = %s ORDER BY line_id", cr, d)
        want_lines = [("PAY-1", 12000 if d == "D-r3" else 5000, True)]
        if d == "D-r2":
            want_lines.append(("PAY-2", 3000, False))
        assert lines == want_lines, d
