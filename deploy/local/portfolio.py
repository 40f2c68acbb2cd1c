"""portfolio.py - a realistic sample portfolio for `make demo`, published as accounting systems
would: several creditors, debtors in many time zones, invoices with varied amounts and days past
due (some re-sent as days pass, some adjusted or cancelled, some with a claim fee the contract
agreed), and a few bad messages; then what agents' tools and payment platforms publish.

ACME Telecom (Spanish, EUR) is planned under deploy/policy/es.json (late interest, a 30 EUR fee
where agreed, Spanish contact hours); every other creditor under default.json (which charges a
25 USD fee where agreed: Northwind's). Debtors who pay "everything" pay the balance recobro
shows them: principal plus the fee and, later on, the interest.

Deterministic (seeded): running it twice publishes the same events with the same ids, which
recobro recognises as duplicates, so re-running the demo is safe. What the first versions drew
from the seeded generators is drawn in the same order (the report's analytics depend on it); the
version 2 additions (fees, callbacks, forbearances, settlements, resolved disputes) draw from a
generator of their own per debtor.

usage: portfolio.py [--debtors N] [--today YYYY-MM-DD]
                    [--stage invoices|interactions|payments|late-payments|reconnections]
                    [--at INSTANT]
(RECOBRO_* from .local/env; late-payments and reconnections read the hot cases in Redis and,
reconnections, the restrict_service tasks on the tasks topic, as the creditors' systems would)"""
import argparse
import datetime as dt
import json
import os
import random
import sys
import zoneinfo

from confluent_kafka import Producer

CREDITORS = [
    ("acme", "ACME Telecom S.L.", "EUR", "erp/acme-billing"),
    ("iberluz", "Iberluz Energía S.A.", "EUR", "erp/iberluz-sap"),
    ("northwind", "Northwind Broadband Inc.", "USD", "erp/northwind-billing"),
    ("sakura", "Sakura Mobile K.K.", "JPY", "erp/sakura-oss"),
    ("gulf-util", "Gulf Utilities Co.", "KWD", "erp/gulf-utilities"),
]
ZONES = {
    "EUR": ["Europe/Madrid", "Europe/Lisbon", "Atlantic/Canary", "Europe/Berlin",
            "Europe/Paris", "Europe/Dublin", "Europe/Helsinki"],
    "USD": ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
            "America/Anchorage", "Pacific/Honolulu", "America/Phoenix"],
    "JPY": ["Asia/Tokyo"],
    "KWD": ["Asia/Kuwait"],
}
# The creditor planned under its own policy (recobroctl policy load es.json --creditor acme, as the
# demo does); every other creditor is planned under the default policy.
POLICY_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "policy")
CREDITOR_POLICY = {"acme": "es.json"}
DEFAULT_POLICY = "default.json"
# Creditors whose contracts agree a claim fee with some debtors (invoice.fees_agreed): the policy
# says how much (es.json: 30 EUR; default.json: 25 USD).
FEE_CREDITORS = {"acme": 0.30, "northwind": 0.25}
_fees = {}


def fixed_fee(creditor, currency):
    """The fixed fee (minor units) the creditor's policy charges in `currency` when agreed."""
    name = CREDITOR_POLICY.get(creditor, DEFAULT_POLICY)
    if name not in _fees:
        with open(os.path.join(POLICY_DIR, name), encoding="utf-8") as f:
            _fees[name] = json.load(f).get("charges", {}).get("fixed_fee", {})
    fee = _fees[name].get(currency)
    return minor(fee, currency) if fee else 0


FIRST = ["Lucía", "Javier", "Carmen", "Pedro", "Ana", "John", "Mary", "Kenji", "Yuki",
         "Ahmed", "Fatima", "Laura", "Miguel", "Sofía", "David"]
LAST = ["García", "Fernández", "López", "Smith", "Johnson", "Tanaka", "Sato", "Al-Sabah",
        "Martín", "Ruiz", "Brown", "Suzuki"]


def money(minor, currency):
    digits = {"JPY": 0, "KWD": 3}.get(currency, 2)
    if digits == 0:
        return str(minor)
    return "%d.%0*d" % (minor // 10 ** digits, digits, minor % 10 ** digits)


def minor(text, currency):
    """'30.00' in `currency` -> 3000 (the money strings of the policies and the cache)."""
    digits = {"JPY": 0, "KWD": 3}.get(currency, 2)
    whole, _, frac = text.partition(".")
    return int(whole) * 10 ** digits + (int(frac.ljust(digits, "0")) if digits else 0)


def extra_rng(kind, key):
    """The per-debtor generator of the version 2 additions (leaves the first draws alone)."""
    return random.Random("%s/%s" % (kind, key))


def envelope(source, eid, etype, subject, when, data):
    return {"specversion": "1.0", "id": eid, "source": source, "type": etype,
            "time": when, "subject": subject, "datacontenttype": "application/json",
            "data": data}


def build(n_debtors, today, rng, tag="", book=None):
    """Returns a list of (key, value bytes) in the order an ERP would send them. `tag` makes the
    debtor and event ids distinct from another run's (the benchmark uses it). When `book` is a
    list, one entry per debtor is appended to it for activity(): who owes what."""
    out = []
    for d in range(n_debtors):
        cid, cname, cur, source = CREDITORS[d % len(CREDITORS)]
        debtor_id = "D-%s%05d" % (tag, d)
        key = "%s/%s" % (cid, debtor_id)
        zone = rng.choice(ZONES[cur])
        debtor = {"id": debtor_id, "name": "%s %s" % (rng.choice(FIRST), rng.choice(LAST)),
                  "timezone": zone, "locale": "es-ES" if cur == "EUR" else "en-US",
                  "phone": "+34600%06d" % d, "email": "debtor%d@example.com" % d}
        # Days past due: most cases are early, a long tail is old (a real portfolio's shape).
        n_inv = rng.choice([1, 1, 1, 2, 2, 3])
        # The contract of some debtors agrees a claim fee: recobro charges the policy's fee once.
        fees = extra_rng("fees", key).random() < FEE_CREDITORS.get(cid, 0)
        entry = {"creditor": cid, "debtor": debtor_id, "currency": cur, "key": key,
                 "zone": zone, "invoices": [], "clean": True,
                 "fee": fixed_fee(cid, cur) if fees else 0}
        if book is not None:
            book.append(entry)
        for k in range(n_inv):
            dpd = int(min(400, rng.expovariate(1 / 35.0))) + 1
            due = today - dt.timedelta(days=dpd)
            scale = {"JPY": 1, "KWD": 1000}.get(cur, 100)
            base = rng.choice([25, 39, 60, 85, 120, 240, 450, 900, 2500, 7200])
            amount = int(base * scale * rng.uniform(0.8, 1.3))
            if cur == "JPY":
                amount *= 120
            inv_id = "INV-%s-%s%05d-%d" % (cid.upper(), tag, d, k)
            data = {"creditor_id": cid, "debtor_id": debtor_id, "creditor_name": cname,
                    "debtor": debtor,
                    "invoice": {"id": inv_id, "number": "F-%05d-%d" % (d, k), "currency": cur,
                                "amount": money(amount, cur), "open_amount": money(amount, cur),
                                "issued_on": (due - dt.timedelta(days=30)).isoformat(),
                                "due_on": due.isoformat()}}
            if fees:
                data["invoice"]["fees_agreed"] = True
            when = "%sT06:00:00Z" % today.isoformat()
            out.append((key, envelope(source, "%s-od-%s" % (inv_id, today.isoformat()),
                                      "invoice.overdue", key, when, data)))
            entry["invoices"].append((inv_id, amount, due))
            r = rng.random()
            if r < 0.06:
                entry["clean"] = False  # adjusted or cancelled: the debt is not what was billed
            if r < 0.04:  # a credit note lowered the invoice
                out.append((key, envelope(source, inv_id + "-adj", "invoice.adjusted", key, when,
                                          {"creditor_id": cid, "debtor_id": debtor_id,
                                           "invoice_id": inv_id, "currency": cur,
                                           "open_amount": money(amount // 2, cur),
                                           "reason": "credit note"})))
            elif r < 0.06:  # billed by mistake
                out.append((key, envelope(source, inv_id + "-cxl", "invoice.cancelled", key,
                                          when, {"creditor_id": cid, "debtor_id": debtor_id,
                                                 "invoice_id": inv_id,
                                                 "reason": "billing error"})))
    # A few bad messages, as real integrations produce them.
    bad = [
        ("acme/D-BAD1", b"{\"specversion\":\"1.0\",\"id\":\"bad-1\""),
        ("acme/D-BAD2", json.dumps(envelope("erp/acme-billing", "bad-2", "invoice.exploded",
                                            "acme/D-BAD2", None, {"creditor_id": "acme"})).encode()),
        ("acme/D-BAD3", json.dumps(envelope("erp/acme-billing", "bad-3", "invoice.overdue",
                                            "acme/D-BAD3", None,
                                            {"creditor_id": "acme", "debtor_id": "D-BAD3"})).encode()),
        ("acme/D-BAD4", json.dumps(envelope("erp/acme-billing", "bad-4", "invoice.adjusted",
                                            "acme/D-BAD4", None,
                                            {"creditor_id": "acme", "debtor_id": "D-BAD4",
                                             "invoice_id": "X", "currency": "EUR",
                                             "open_amount": 12.5})).encode()),
        ("acme/D-BAD5", json.dumps(envelope("erp/acme-billing", "bad-5", "invoice.adjusted",
                                            "acme/D-BAD5", None,
                                            {"creditor_id": "acme", "debtor_id": "D-BAD5",
                                             "invoice_id": "X", "currency": "EUR",
                                             "open_amount": "12.555"})).encode()),
    ]
    res = [(k, json.dumps(v, ensure_ascii=False).encode()) for k, v in out]
    # Interleave the bad ones so good messages sit behind them.
    for i, b in enumerate(bad):
        res.insert((i + 1) * len(res) // (len(bad) + 1), b)
    return res


# The desk's agents, each with their own habits: how often their calls reach the debtor, how well
# they close a promise and how well its promises hold, the techniques they reach for, how often
# they agree outside the negotiation limits (sent to a supervisor). The report should tell them
# apart (DOMAIN.md, "What the business measures").
AGENTS = {
    "agent-001": dict(reach=0.42, close=1.25, keep=1.12, loose=0.02,
                      style=["empathy", "precise_date", "options_offer"]),
    "agent-002": dict(reach=0.38, close=1.10, keep=1.00, loose=0.04,
                      style=["empathy", "options_offer"]),
    "agent-003": dict(reach=0.36, close=1.00, keep=1.05, loose=0.03,
                      style=["precise_date", "active_listening"]),
    "agent-004": dict(reach=0.33, close=0.95, keep=0.88, loose=0.10,
                      style=["firm_answer", "consequences"]),
    "agent-005": dict(reach=0.30, close=0.85, keep=0.85, loose=0.22, style=["firm_answer"]),
    "agent-006": dict(reach=0.28, close=0.72, keep=0.80, loose=0.15,
                      style=["consequences", "firm_answer"]),
}
# The techniques and objection codes are those of the policies' conversation catalogue.
TECHNIQUES = ["empathy", "options_offer", "precise_date", "firm_answer", "consequences",
              "active_listening"]
# Effect of each technique on the chance that the conversation ends in a promise, and on the
# chance that the promise is kept (a precise date is a promise that holds; threats of consequences
# get a promise to end the call, and a complaint).
CLOSE = {"empathy": 0.05, "options_offer": 0.08, "precise_date": 0.14, "firm_answer": 0.03,
         "consequences": -0.04, "active_listening": 0.04}
KEEP = {"empathy": 0.04, "options_offer": 0.02, "precise_date": 0.12, "firm_answer": -0.03,
        "consequences": -0.10, "active_listening": 0.03}
# ("will_pay_later": short of money until payday, not hardship; the hardship codes lead to the
# willing_unable segment.)
OBJECTIONS = [None, "forgot", "temporary_unemployment", "amount_wrong", "already_paid",
              "will_pay_later"]
HARDSHIP = ("temporary_unemployment",)


def variant_of(creditor, debtor, strategy="forgetful", weights=(("champion", 80),
                                                                 ("challenger", 20))):
    """The variant recobro assigns (strategy.h: FNV-1a 64 of creditor, debtor and strategy,
    modulo the weights), so the demo's debtors can answer the challenger's ladder differently."""
    h = 14695981039346656037
    for part in (creditor, "\x1f", debtor, "\x1f", strategy):
        for byte in part.encode():
            h = ((h ^ byte) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    bucket = h % sum(w for _, w in weights)
    for name, w in weights:
        if bucket < w:
            return name
        bucket -= w
    return weights[-1][0]


def conversation(rng, agent, challenger):
    """What one right-party call brings: techniques, objection, and the chances of a promise, of
    keeping it, of a plan and of a dispute."""
    a = AGENTS[agent]
    tech = sorted(set(t for t in a["style"] if rng.random() < 0.75) |
                  set(t for t in TECHNIQUES if rng.random() < 0.12))
    objection = rng.choices(OBJECTIONS, [40, 20, 15, 10, 8, 7])[0]
    close = 0.42 * a["close"] + sum(CLOSE[t] for t in tech) + (0.10 if challenger else 0)
    keep = 0.60 * a["keep"] + sum(KEEP[t] for t in tech) + (0.08 if challenger else 0)
    plan = 0.45 + 0.2 * ("options_offer" in tech) if objection == "temporary_unemployment" else 0
    dispute = (0.30 + 0.12 * ("consequences" in tech)
               if objection in ("amount_wrong", "already_paid") else
               0.04 * ("consequences" in tech))
    clamp = lambda x: min(0.95, max(0.02, x))
    return tech, objection, clamp(close), clamp(keep), plan, dispute


def activity(book, today, rng):
    """What happens next to the portfolio, as agents' tools and payment systems publish it:
    contact attempts by six agents with their own habits and techniques, the debtors' objections,
    promises to pay (kept or not, as the technique and the agent make likely), instalment plans
    (a down payment and monthly instalments; some discounted settlements, paid to the end on day
    12), disputes (some answered the same day), forbearances for hardship, callbacks asked by
    debtors the dialer missed, opt-outs, full and partial payments; the forgetful debtors that
    recobro puts on the challenger ladder answer it a little better. Plus a few bad messages.
    Returns {stage: [(key, value bytes)]} for "interactions" and "payments", and
    "late-payments": [(key, value bytes, pays_balance)], payments that come in days later (the
    demo publishes them after some scheduler days; received_at "LATE"), pays_balance when the
    debtor pays what recobro then shows (interest and fees included) rather than the amount."""
    inter, pay, late = [], [], []
    day = today.isoformat()

    def ev(source, eid, etype, e, data):
        data = dict(data, creditor_id=e["creditor"], debtor_id=e["debtor"])
        return (e["key"], json.dumps(envelope(source, eid, etype, e["key"], day + "T12:00:00Z",
                                              data), ensure_ascii=False).encode())

    for e in book:
        if not e["clean"]:
            continue
        cur = e["currency"]
        owed = sum(a for _, a, _ in e["invoices"])
        base = "%s-%s" % (e["creditor"], e["debtor"])
        crm, bank = "crm/collections-desk", "psp/%s-payments" % e["creditor"]
        young = max((today - due).days for _, _, due in e["invoices"]) <= 30
        challenger = young and variant_of(e["creditor"], e["debtor"]) == "challenger"
        charged = e["fee"] > 0 or e["creditor"] in CREDITOR_POLICY
        xr = extra_rng("activity", e["key"])
        r = rng.random()
        if r < 0.10:  # pays everything after the first reminder (the fee too): a cure
            pay.append(ev(bank, base + "-pay-full", "payment.received", e,
                          {"payment_id": base + "-P1", "amount": money(owed + e["fee"], cur),
                           "currency": cur, "received_at": day + "T09:30:00Z",
                           "method": "card"}))
            continue
        part = 0
        if r < 0.17:  # pays part of it
            part = max(1, owed * rng.randint(25, 60) // 100)
            pay.append(ev(bank, base + "-pay-part", "payment.received", e,
                          {"payment_id": base + "-P1", "amount": money(part, cur),
                           "currency": cur, "received_at": day + "T09:30:00Z",
                           "method": "bank_transfer"}))
        desk = dict(e=e, rng=rng, xr=xr, today=today, ev=ev, crm=crm, bank=bank, inter=inter,
                    pay=pay, late=late, charged=charged)
        if r < 0.80:  # the dialer calls
            calls(desk, owed - part, part, challenger)
            if challenger and rng.random() < 0.2:  # the challenger's e-mails bring late payers
                late.append(ev(bank, base + "-pay-late-ch", "payment.received", e,
                               {"payment_id": base + "-P4", "amount": money(owed - part, cur),
                                "currency": cur, "received_at": "LATE", "method": "card"}) +
                            (charged,))
        elif r < 0.82:
            inter.append(ev(crm, base + "-dispute", "debt.disputed", e,
                            {"at": day + "T11:00:00Z", "reason": "does not recognise the line"}))
            answer_dispute(desk)
        elif r < 0.84:
            inter.append(ev(crm, base + "-prefs", "contact.preferences", e,
                            {"do_not_call": True}))
        elif r < 0.90:  # pays late, unprompted
            late.append(ev(bank, base + "-pay-late", "payment.received", e,
                           {"payment_id": base + "-P3", "amount": money(owed - part, cur),
                            "currency": cur, "received_at": "LATE", "method": "card"}) +
                        (charged,))
    bad = [("acme/D-BAD6", json.dumps(envelope("crm/collections-desk", "bad-6",
                                               "contact.attempted", "acme/D-BAD6", None,
                                               {"creditor_id": "acme", "debtor_id": "D-BAD6",
                                                "channel": "fax", "outcome": "no_answer",
                                                "at": day + "T10:00:00Z"})).encode()),
           ("acme/D-BAD7", json.dumps(envelope("psp/acme-payments", "bad-7", "payment.received",
                                               "acme/D-BAD7", None,
                                               {"creditor_id": "acme", "debtor_id": "D-BAD7",
                                                "payment_id": "X", "amount": "-5.00",
                                                "currency": "EUR",
                                                "received_at": day + "T10:00:00Z"})).encode())]
    inter.append(bad[0])
    pay.append(bad[1])
    return {"interactions": inter, "payments": pay, "late-payments": late}


def calls(desk, open_, part, challenger):
    """Up to three calls by one agent until a right-party contact, and what it leads to; a
    debtor the dialer never reached may call back and ask to be called at a given hour."""
    e, rng, ev, crm, bank = desk["e"], desk["rng"], desk["ev"], desk["crm"], desk["bank"]
    today, inter, pay, late = desk["today"], desk["inter"], desk["pay"], desk["late"]
    cur, base, day = e["currency"], "%s-%s" % (e["creditor"], e["debtor"]), today.isoformat()
    agent = rng.choice(sorted(AGENTS))
    refusals, first = 0, len(inter)
    for k in range(rng.randint(1, 3)):
        at = (today - dt.timedelta(days=3 - k)).isoformat() + "T10:15:00Z"
        reached = rng.random() < AGENTS[agent]["reach"] + 0.2
        outcome = "right_party" if reached else rng.choices(
            ["no_answer", "voicemail", "refused", "wrong_party"], [55, 25, 13, 7])[0]
        data = {"channel": "phone", "outcome": outcome, "at": at, "agent_id": agent}
        if outcome != "right_party":
            refusals += outcome == "refused"
            inter.append(ev(crm, "%s-call-%d" % (base, k), "contact.attempted", e, data))
            continue
        tech, objection, p_close, p_keep, p_plan, p_dispute = conversation(rng, agent, challenger)
        data.update(stage="date_agreed", techniques=tech,
                    objections=[objection] if objection else [])
        inter.append(ev(crm, "%s-call-%d" % (base, k), "contact.attempted", e, data))
        loose = rng.random() < AGENTS[agent]["loose"]  # outside the limits: a supervisor's review
        if rng.random() < p_dispute:
            inter.append(ev(crm, base + "-dispute", "debt.disputed", e,
                            {"at": day + "T11:00:00Z", "reason": "says the amount is wrong"}))
            answer_dispute(desk)
        elif rng.random() < p_plan and open_ >= 4:
            n = 8 if loose else rng.randint(2, 4)
            plan(desk, agent, n, loose, part, settle_ok=refusals < 2)
        elif rng.random() < p_close:  # half or all of what recobro shows (the fee included)
            amount = max(1, (open_ + e["fee"]) * rng.choice([50, 100]) // 100)
            due = today + dt.timedelta(days=40 if loose else rng.randint(2, 6))
            inter.append(ev(crm, base + "-promise", "promise.made", e,
                            {"promise_id": base + "-PR1", "amount": money(amount, cur),
                             "currency": cur, "due_on": due.isoformat(), "agent_id": agent,
                             "channel": "phone", "techniques": tech}))
            if rng.random() < p_keep:  # kept: paid on the day
                pay.append(ev(bank, base + "-pay-promised", "payment.received", e,
                              {"payment_id": base + "-P2", "amount": money(amount, cur),
                               "currency": cur, "received_at": day + "T16:00:00Z",
                               "method": "bank_transfer"}))
            elif amount < open_ + e["fee"] and rng.random() < 0.4:  # broken, paid in full later
                late.append(ev(bank, base + "-pay-late", "payment.received", e,
                               {"payment_id": base + "-P3", "amount": money(open_, cur),
                                "currency": cur, "received_at": "LATE", "method": "card"}) +
                            (desk["charged"],))
        elif objection in HARDSHIP and desk["xr"].random() < 0.8:
            # No money now: the creditor grants a month's pause (collection tasks wait).
            inter.append(ev(crm, base + "-forbearance", "forbearance.granted", e,
                            {"from": day, "until": (today + dt.timedelta(days=30)).isoformat(),
                             "reason": "hardship: " + objection.replace("_", " "),
                             "agent_id": agent}))
        break
    else:
        if not call_back(desk, agent) and desk["xr"].random() < 0.5:
            unreached = sum(1 for _, v in inter[first:] if b'"refused"' not in v)
            inter[first:first] = earlier_attempts(desk, agent, 6 - unreached)


def earlier_attempts(desk, agent, n):
    """The dialer's attempts of the weeks before that reached nobody either (no answer or
    voicemail): with the calls above, the 6 attempts in 30 days after which the policy sends the
    case to skip tracing. Returns the events."""
    e, xr, today, base = desk["e"], desk["xr"], desk["today"], "%s-%s" % (desk["e"]["creditor"],
                                                                          desk["e"]["debtor"])
    return [desk["ev"](desk["crm"], "%s-call-early-%d" % (base, i), "contact.attempted", e,
                       {"channel": "phone", "at": (today - dt.timedelta(days=24 - 4 * i))
                        .isoformat() + "T%02d:40:00Z" % xr.choice([9, 11, 15, 17]),
                        "outcome": xr.choice(["no_answer", "no_answer", "voicemail"]),
                        "agent_id": agent}) for i in range(max(0, n))]


def call_back(desk, agent):
    """A quarter of the debtors the dialer missed call the desk back the day before and ask to
    be called at an hour of their choosing (one in five at 22:30, outside the contact window:
    recobro calls at the first allowed moment after it). Returns True when they did."""
    e, xr, today = desk["e"], desk["xr"], desk["today"]
    if xr.random() >= 0.25:
        return False
    zone = zoneinfo.ZoneInfo(e["zone"])
    asked = dt.datetime.combine(today - dt.timedelta(days=1), dt.time(17, 10), zone)
    hour = dt.time(22, 30) if xr.random() < 0.2 else dt.time(xr.choice([10, 12, 17, 18]), 30)
    back = dt.datetime.combine(today + dt.timedelta(days=xr.randint(1, 3)), hour, zone)
    desk["inter"].append(desk["ev"](desk["crm"], "%s-%s-callback" % (e["creditor"], e["debtor"]),
                                    "contact.attempted", e,
                                    {"channel": "phone", "outcome": "callback_requested",
                                     "at": asked.isoformat(), "callback_at": back.isoformat(),
                                     "agent_id": agent}))
    return True


def answer_dispute(desk):
    """Some disputes are answered the same afternoon: most by the documents that prove the debt
    (rejected: collection resumes), a few upheld (the debt is withdrawn)."""
    e, xr, day = desk["e"], desk["xr"], desk["today"].isoformat()
    if xr.random() >= 0.35:
        return
    outcome = "upheld" if xr.random() < 0.2 else "rejected"
    desk["inter"].append(desk["ev"](desk["crm"], "%s-%s-dispute-answer" % (e["creditor"],
                                                                           e["debtor"]),
                                    "dispute.resolved", e,
                                    {"at": day + "T15:00:00Z", "outcome": outcome}))


def plan(desk, agent, n, loose, part, settle_ok):
    """An instalment plan for the balance recobro holds (principal and fee): within the limits, a
    10% down payment (paid today by most) and n monthly instalments; an agent outside the limits
    gives 8 instalments without a down payment (a supervisor's review). Four in ten of the other
    hardship plans are discounted settlements (willing_unable allows 10%, chronic 15%): 90% of
    the balance, 30% down today and the rest on day 12, which nine in ten pay: the remaining 10%
    is written off (case.settled). Not offered to a debtor who refused calls (evasive: no
    discount)."""
    e, xr, today, ev = desk["e"], desk["xr"], desk["today"], desk["ev"]
    cur, base, day = e["currency"], "%s-%s" % (e["creditor"], e["debtor"]), today.isoformat()
    total = sum(a for _, a, _ in e["invoices"]) + e["fee"]
    data = {"plan_id": base + "-PL1", "currency": cur, "agent_id": agent}
    settle = not loose and part == 0 and settle_ok and xr.random() < 0.4
    if settle:
        amount = total - total * 10 // 100
        down = -(-total * 30 // 100)
        data.update(settlement_amount=money(amount, cur), down_payment=money(down, cur),
                    installments=[{"due_on": (today + dt.timedelta(days=12)).isoformat(),
                                   "amount": money(amount - down, cur)}])
    else:
        down = 0 if loose else -(-total * 10 // 100)
        each = (total - down) // n
        data["installments"] = [
            {"due_on": (today + dt.timedelta(days=30 * (i + 1))).isoformat(),
             "amount": money(each + (total - down - each * n if i == n - 1 else 0), cur)}
            for i in range(n)]
        if down:
            data["down_payment"] = money(down, cur)
    desk["inter"].append(ev(desk["crm"], base + "-plan", "plan.agreed", e, data))
    if down > part and xr.random() < (1.0 if settle else 0.85):
        desk["pay"].append(ev(desk["bank"], base + "-pay-down", "payment.received", e,
                              {"payment_id": base + "-PD", "amount": money(down - part, cur),
                               "currency": cur, "received_at": day + "T16:30:00Z",
                               "method": "bank_transfer"}))
    if settle and xr.random() < 0.9:
        desk["late"].append(ev(desk["bank"], base + "-pay-settlement", "payment.received", e,
                               {"payment_id": base + "-PS", "amount": money(amount - down, cur),
                                "currency": cur, "received_at": "LATE",
                                "method": "bank_transfer"}) + (False,))


def publish(topic, msgs):
    """Produces (key, value) pairs; returns the topic's end (summed over partitions)."""
    from confluent_kafka import Consumer, TopicPartition
    p = Producer({"bootstrap.servers": os.environ["RECOBRO_KAFKA_BROKERS"],
                  "enable.idempotence": True, "linger.ms": 10})
    for key, value in msgs:
        while True:
            try:
                p.produce(topic, key=key, value=value)
                break
            except BufferError:
                p.poll(0.1)
    if p.flush(60) != 0:
        sys.exit("portfolio: not every message was acknowledged")
    c = Consumer({"bootstrap.servers": os.environ["RECOBRO_KAFKA_BROKERS"],
                  "group.id": "demo-portfolio"})
    md = c.list_topics(topic, timeout=10)
    end = sum(c.get_watermark_offsets(TopicPartition(topic, q), timeout=10)[1]
              for q in md.topics[topic].partitions)
    c.close()
    return end


def hot_balance(r, key):
    """The balance (minor units, interest and fees included) of the hot case `key`
    ("creditor/debtor") in Redis, or None when the case is not open or not cached."""
    creditor, debtor = key.split("/", 1)
    raw = r.get("recobro:case:%s:%s" % (creditor, debtor))
    doc = json.loads(raw) if raw else {}
    if doc.get("status") not in ("open", "paused") or not doc.get("balance"):
        return None
    amount = minor(doc["balance"], doc["currency"])
    return (amount, doc["balance"]) if amount > 0 else None


def late_payments(more, at):
    """The late payments, received at `at`: a debtor paying off the case pays the balance recobro
    shows now (with the interest accrued and the fee) when that is more than the principal."""
    import redis
    r = redis.Redis.from_url(os.environ["RECOBRO_REDIS_URL"])
    out = []
    for key, value, pays_balance in more:
        doc = json.loads(value)
        doc["data"]["received_at"] = at
        if pays_balance:
            shown = hot_balance(r, key)
            if shown and shown[0] > minor(doc["data"]["amount"], doc["data"]["currency"]):
                doc["data"]["amount"] = shown[1]
        out.append((key, json.dumps(doc, ensure_ascii=False).encode()))
    return out


def reconnections(today, at):
    """The creditors' own systems act on recobro's restrict_service tasks (read from the tasks
    topic): they suspend the service. Half of those debtors then pay the whole balance to get it
    back (recobro answers with a restore_service task)."""
    import redis
    from demo_report import read_topic
    topic = os.environ.get("RECOBRO_TOPIC_TASKS", "recobro.tasks")
    restricted = set()
    for m in read_topic(topic):
        ev = json.loads(m.value())
        if ev["type"] == "task.created" and ev["data"]["action"] == "restrict_service":
            restricted.add("%s/%s" % (ev["data"]["creditor_id"], ev["data"]["debtor_id"]))
    r = redis.Redis.from_url(os.environ["RECOBRO_REDIS_URL"])
    out = []
    for key in sorted(restricted):
        shown = hot_balance(r, key)
        if shown is None or extra_rng("reconnect", key).random() >= 0.5:
            continue
        creditor, debtor = key.split("/", 1)
        base = "%s-%s" % (creditor, debtor)
        data = {"creditor_id": creditor, "debtor_id": debtor, "payment_id": base + "-P5",
                "amount": shown[1], "currency": json.loads(r.get(
                    "recobro:case:%s:%s" % (creditor, debtor)))["currency"],
                "received_at": at, "method": "card"}
        out.append((key, json.dumps(envelope("psp/%s-payments" % creditor, base + "-pay-reconnect",
                                             "payment.received", key, at, data),
                                    ensure_ascii=False).encode()))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--debtors", type=int, default=3000)
    ap.add_argument("--today", default=None)
    ap.add_argument("--stage", choices=["invoices", "interactions", "payments", "late-payments",
                                        "reconnections"],
                    default="invoices")
    ap.add_argument("--at", default=None,
                    help="late-payments, reconnections: when they are received (RFC 3339); "
                         "default today + 12 d (late-payments), + 45 d (reconnections)")
    args = ap.parse_args()
    today = dt.date.fromisoformat(args.today) if args.today else dt.date.today()
    t = lambda name, default: os.environ.get("RECOBRO_TOPIC_" + name, default)
    if args.stage == "reconnections":
        at = args.at or (today + dt.timedelta(days=45)).isoformat() + "T15:00:00Z"
        more = reconnections(today, at)
        print(len(more), publish(t("PAYMENTS", "recobro.payments"), more))
        return
    book = []
    msgs = build(args.debtors, today, random.Random(20261125), book=book)
    if args.stage == "invoices":
        end = publish(t("INVOICES", "recobro.invoices"), msgs)
        print(len(msgs), end)
        return
    more = activity(book, today, random.Random(7))[args.stage]
    if args.stage == "late-payments":
        at = args.at or (today + dt.timedelta(days=12)).isoformat() + "T11:00:00Z"
        end = publish(t("PAYMENTS", "recobro.payments"), late_payments(more, at))
    else:
        end = publish(t(args.stage.upper(), "recobro." + args.stage), more)
    print(len(more), end)


if __name__ == "__main__":
    main()
