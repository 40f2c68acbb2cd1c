"""make_cases.py - writes the charges vectors (cases/*) with their expected values computed here,
independently of recobro's C code (Python Decimal, half-even), so the vectors check the C arithmetic.
Run: python3 tests/vectors/charges/make_cases.py tests/vectors/charges/cases"""
import json, os, sys
from decimal import Decimal, ROUND_HALF_EVEN
from datetime import date, timedelta
OUT = sys.argv[1]
n = [0]
def ev(t, data, at):
    n[0] += 1
    data = dict(data, creditor_id="acme", debtor_id="D-1")
    return {"specversion": "1.0", "id": "ev-%03d" % n[0], "source": "test/vectors", "type": t,
            "time": at, "data": data}
def inv(iid, amount, due, at, **kw):
    i = {"id": iid, "currency": "EUR", "amount": amount, "open_amount": amount, "due_on": due}
    i.update(kw)
    return {"now": at, "event": ev("invoice.overdue", {"creditor_name": "ACME", "debtor": {"id": "D-1", "name": "Ana", "timezone": "Europe/Madrid"}, "invoice": i}, at)}
def pay(pid, amount, at):
    return {"now": at, "event": ev("payment.received", {"payment_id": pid, "amount": amount, "currency": "EUR", "received_at": at}, at)}
def rev(pid, at):
    return {"now": at, "event": ev("payment.reversed", {"payment_id": pid}, at)}
def tick(at):
    return {"now": at, "tick": True}
def daily(p_cents, pct):
    return int((Decimal(p_cents) * Decimal(pct) / Decimal(100) / Decimal(365)).to_integral_value(ROUND_HALF_EVEN))
def eur(c):
    return "%d.%02d" % divmod(c, 100)
def write(name, events, expect):
    d = os.path.join(OUT, name); os.makedirs(d, exist_ok=True)
    json.dump(events, open(d + "/events.json", "w"), indent=1); open(d + "/events.json", "a").write("\n")
    if expect is not None:
        json.dump(expect, open(d + "/expect.json", "w"), indent=1); open(d + "/expect.json", "a").write("\n")

def months(order):
    n[0] = 0
    # 1000.00 due 2026-01-31, placed 2026-02-01; 10% a year.
    I = 0
    d1 = daily(100000, "10")
    I += 28 * d1                       # Feb 1..28
    steps = [inv("INV-1", "1000.00", "2026-01-31", "2026-02-01T10:00:00Z"),
             tick("2026-03-01T10:00:00Z")]
    steps[-1]["case"] = {"interest": eur(I), "principal": "1000.00", "interest_through": "2026-02-28"}
    steps.append({"now": "2026-03-01T11:00:00Z", "event": ev("debt.disputed", {"at": "2026-03-01T11:00:00Z", "reason": "not_mine"}, "2026-03-01T11:00:00Z")})
    steps.append(tick("2026-03-15T10:00:00Z"))
    steps[-1]["case"] = {"interest": eur(I), "interest_through": "2026-03-14"}  # paused
    steps.append({"now": "2026-03-20T10:00:00Z", "event": ev("dispute.resolved", {"at": "2026-03-20T10:00:00Z", "outcome": "rejected"}, "2026-03-20T10:00:00Z")})
    I += 12 * d1                       # Mar 20..31 (Mar 1..19 paused)
    steps.append(pay("PAY-1", "100.00", "2026-04-01T10:00:00Z"))
    P = 100000
    if order == "interest_first":
        P -= 10000 - I; I = 0
    else:
        P -= 10000
    steps[-1]["case"] = {"principal": eur(P), "interest": eur(I)}
    I += 30 * daily(P, "10")           # April
    steps.append(tick("2026-05-01T10:00:00Z"))
    steps[-1]["case"] = {"principal": eur(P), "interest": eur(I), "balance": eur(P + I), "interest_through": "2026-04-30"}
    if order == "principal_first":
        # The principal paid first: the interest stays owed, the case stays open.
        steps.append(pay("PAY-2", eur(P), "2026-05-01T11:00:00Z"))
        steps[-1]["case"] = {"principal": "0.00", "interest": eur(I), "balance": eur(I), "status": "open"}
        steps.append(tick("2026-06-01T10:00:00Z"))
        steps[-1]["case"] = {"interest": eur(I), "interest_through": "2026-05-31"}  # no principal: no interest
        steps.append(pay("PAY-3", eur(I), "2026-06-01T11:00:00Z"))
    else:
        steps.append(pay("PAY-2", eur(P + I), "2026-05-01T11:00:00Z"))
    expect = {"case": {"principal": "0.00", "interest": "0.00", "fees": "0.00", "balance": "0.00", "status": "resolved", "segment": "resolved"},
              "case_events": None}
    events = {"creditor_id": "acme", "debtor_id": "D-1",
              "charges": {"late_interest_annual_pct": "10", "late_interest_cap_annual_pct": "12", "allocation_order": order},
              "steps": steps}
    del expect["case_events"]
    write("interest-months-dispute-%s" % order.replace("_", "-"), events, expect)

months("interest_first")
months("principal_first")

# Half-even: 36.5% a year is P/1000 a day: 25.00 -> 2.5 cents -> 2; 35.00 -> 3.5 -> 4.
n[0] = 0
steps = [inv("A", "25.00", "2026-01-10", "2026-01-20T10:00:00Z"), tick("2026-01-21T10:00:00Z")]
steps[-1]["case"] = {"interest": "0.02"}
steps.append(inv("B", "10.00", "2026-01-10", "2026-01-21T11:00:00Z"))
steps.append(tick("2026-01-22T10:00:00Z"))
steps[-1]["case"] = {"interest": "0.06", "principal": "35.00", "balance": "35.06"}
assert daily(2500, "36.5") == 2 and daily(3500, "36.5") == 4
write("rounding-half-even", {"creditor_id": "acme", "debtor_id": "D-1",
      "charges": {"late_interest_annual_pct": "36.5"}, "steps": steps}, {"case": {"interest": "0.06"}})

# A rate above its cap refuses the policy.
write("cap-rejects-policy", {"creditor_id": "acme", "debtor_id": "D-1",
      "charges": {"late_interest_annual_pct": "9.5", "late_interest_cap_annual_pct": "6.25"},
      "policy_error": "charges.late_interest_annual_pct: 9.5 is above late_interest_cap_annual_pct 6.25", "steps": []}, None)
write("bad-allocation-order-rejects-policy", {"creditor_id": "acme", "debtor_id": "D-1",
      "charges": {"late_interest_annual_pct": "5", "allocation_order": "fees_first"},
      "policy_error": "charges.allocation_order: must be", "steps": []}, None)

# Fees: only when the invoice says fees_agreed, once per case; interest_first pays them first.
n[0] = 0
steps = [inv("A", "100.00", "2026-01-10", "2026-01-20T10:00:00Z")]
steps[-1]["case"] = {"fees": "0.00", "balance": "100.00"}
steps.append(inv("B", "50.00", "2026-01-12", "2026-01-20T11:00:00Z", fees_agreed=False))
steps[-1]["case"] = {"fees": "0.00", "balance": "150.00"}
steps.append(inv("C", "20.00", "2026-01-15", "2026-01-20T12:00:00Z", fees_agreed=True))
steps[-1]["case"] = {"fees": "30.00", "principal": "170.00", "balance": "200.00"}
steps.append(inv("D", "20.00", "2026-01-16", "2026-01-20T13:00:00Z", fees_agreed=True))
steps[-1]["case"] = {"fees": "30.00", "principal": "190.00", "balance": "220.00"}
steps.append(pay("PAY-1", "40.00", "2026-01-20T14:00:00Z"))
steps[-1]["case"] = {"fees": "0.00", "principal": "180.00", "balance": "180.00"}
steps.append(rev("PAY-1", "2026-01-20T15:00:00Z"))
write("fee-only-when-agreed", {"creditor_id": "acme", "debtor_id": "D-1",
      "charges": {"fixed_fee": {"EUR": "30.00", "USD": "25.00"}, "allocation_order": "interest_first"}, "steps": steps},
      {"case": {"fees": "30.00", "principal": "190.00", "balance": "220.00", "interest": "0.00"}})

# Settlements.
PATCH = {"negotiation": {"limits": {"default": {"max_settlement_discount_pct": 20, "min_down_payment_pct": 0}}}}
def plan(pid, at, slots, settlement=None):
    d = {"plan_id": pid, "currency": "EUR", "installments": [{"due_on": a, "amount": b} for a, b in slots]}
    if settlement:
        d["settlement_amount"] = settlement
    return {"now": at, "event": ev("plan.agreed", d, at)}
def settle_base():
    n[0] = 0
    return [inv("A", "600.00", "2026-01-10", "2026-01-20T10:00:00Z"),
            inv("B", "400.00", "2026-01-15", "2026-01-20T10:05:00Z"),
            plan("PL-1", "2026-01-21T10:00:00Z", [("2026-02-01", "400.00"), ("2026-03-01", "400.00")], "800.00")]
steps = settle_base() + [pay("P1", "400.00", "2026-02-01T10:00:00Z"), pay("P2", "400.00", "2026-03-01T10:00:00Z")]
steps[-2]["case"] = {"principal": "600.00", "settlement": {"plan_id": "PL-1", "settlement_amount": "800.00", "settled": False}}
settled_events = [{"type": "case.segment_changed", "data": {"to": "unaware"}},
                  {"type": "promise.kept"}, {"type": "promise.kept"},
                  {"type": "case.settled", "data": {"plan_id": "PL-1", "settled_amount": "800.00", "written_off": "200.00", "currency": "EUR"}},
                  {"type": "case.segment_changed", "data": {"to": "resolved"}},
                  {"type": "case.resolved", "data": {"reason": "settled"}}]
write("settlement-paid-writes-off", {"creditor_id": "acme", "debtor_id": "D-1", "policy_patch": PATCH,
      "charges": {"late_interest_annual_pct": "0"}, "steps": steps},
      {"case_events": settled_events,
       "case": {"balance": "0.00", "principal": "0.00", "status": "resolved", "invoice_status": {"A": "paid", "B": "written_off"},
                "settlement": {"plan_id": "PL-1", "settled": True, "written_off": "200.00"}}})
# Reversed: the last payment bounces: the write-off and the payment re-open.
steps = settle_base() + [pay("P1", "400.00", "2026-02-01T10:00:00Z"), pay("P2", "400.00", "2026-03-01T10:00:00Z"),
                         rev("P2", "2026-03-02T10:00:00Z")]
write("settlement-reversed-reopens", {"creditor_id": "acme", "debtor_id": "D-1", "policy_patch": PATCH,
      "charges": {"late_interest_annual_pct": "0"}, "steps": steps},
      {"case": {"balance": "600.00", "principal": "600.00", "status": "open", "invoice_status": {"A": "open", "B": "open"},
                "settlement": {"plan_id": "PL-1", "settled": False, "written_off": "0.00"}}})
# Defaulted: nothing forgiven, the whole balance stays owed.
steps = settle_base() + [pay("P1", "400.00", "2026-02-01T10:00:00Z"), tick("2026-03-10T10:00:00Z")]
DPATCH = {"negotiation": dict(PATCH["negotiation"], plan_default_missed_installments=1)}
write("settlement-defaulted-forgives-nothing", {"creditor_id": "acme", "debtor_id": "D-1", "policy_patch": DPATCH,
      "charges": {"late_interest_annual_pct": "0"}, "steps": steps},
      {"case": {"principal": "600.00", "balance": "600.00", "active_plan": None, "invoice_status": {"A": "open", "B": "open"},
                "settlement": {"plan_id": "PL-1", "settled": False}},
       "case_events": [{"type": "case.segment_changed"}, {"type": "promise.kept"}, {"type": "promise.broken"},
                       {"type": "plan.defaulted", "data": {"plan_id": "PL-1"}}]})
# Outside the limit (20%): refused as invalid_plan; a total that differs from the amount too.
n[0] = 0
steps = settle_base()[:2] + [plan("PL-2", "2026-01-21T10:00:00Z", [("2026-02-01", "350.00"), ("2026-03-01", "350.00")], "700.00"),
                             plan("PL-3", "2026-01-21T10:00:00Z", [("2026-02-01", "400.00"), ("2026-03-01", "450.00")], "800.00"),
                             plan("PL-4", "2026-01-21T10:00:00Z", [("2026-02-01", "400.00"), ("2026-03-01", "400.00")], "1200.00")]
write("settlement-outside-limit-rejected", {"creditor_id": "acme", "debtor_id": "D-1", "policy_patch": PATCH,
      "charges": {"late_interest_annual_pct": "0"}, "steps": steps},
      {"rejections": ["invalid_plan", "invalid_plan", "invalid_plan"], "case": {"active_plan": None, "settlement": None}})
