"""portfolio.py - a realistic sample portfolio for `make demo`, published as accounting systems
would: several creditors, debtors in many time zones, invoices with varied amounts and days past
due (some re-sent as days pass, some adjusted or cancelled), and a few bad messages.

Deterministic (seeded): running it twice publishes the same events with the same ids, which
recobro recognises as duplicates, so re-running the demo is safe.

usage: portfolio.py [--debtors N] [--today YYYY-MM-DD]
                    [--stage invoices|interactions|payments|late-payments] [--at INSTANT]
(RECOBRO_* from .local/env)"""
import argparse
import datetime as dt
import json
import os
import random
import sys

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
FIRST = ["Lucía", "Javier", "Carmen", "Pedro", "Ana", "John", "Mary", "Kenji", "Yuki",
         "Ahmed", "Fatima", "Laura", "Miguel", "Sofía", "David"]
LAST = ["García", "Fernández", "López", "Smith", "Johnson", "Tanaka", "Sato", "Al-Sabah",
        "Martín", "Ruiz", "Brown", "Suzuki"]


def money(minor, currency):
    digits = {"JPY": 0, "KWD": 3}.get(currency, 2)
    if digits == 0:
        return str(minor)
    return "%d.%0*d" % (minor // 10 ** digits, digits, minor % 10 ** digits)


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
        entry = {"creditor": cid, "debtor": debtor_id, "currency": cur, "key": key,
                 "zone": zone, "invoices": [], "clean": True}
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
                      style=["precise_date", "reciprocity"]),
    "agent-004": dict(reach=0.33, close=0.95, keep=0.88, loose=0.10,
                      style=["firmness", "consequences"]),
    "agent-005": dict(reach=0.30, close=0.85, keep=0.85, loose=0.22, style=["firmness"]),
    "agent-006": dict(reach=0.28, close=0.72, keep=0.80, loose=0.15,
                      style=["consequences", "firmness"]),
}
TECHNIQUES = ["empathy", "options_offer", "precise_date", "firmness", "consequences",
              "reciprocity"]
# Effect of each technique on the chance that the conversation ends in a promise, and on the
# chance that the promise is kept (a precise date is a promise that holds; threats of consequences
# get a promise to end the call, and a complaint).
CLOSE = {"empathy": 0.05, "options_offer": 0.08, "precise_date": 0.14, "firmness": 0.03,
         "consequences": -0.04, "reciprocity": 0.04}
KEEP = {"empathy": 0.04, "options_offer": 0.02, "precise_date": 0.12, "firmness": -0.03,
        "consequences": -0.10, "reciprocity": 0.03}
OBJECTIONS = [None, "forgot", "temporary_unemployment", "disagrees_amount", "already_paid",
              "no_money"]


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
               if objection in ("disagrees_amount", "already_paid") else
               0.04 * ("consequences" in tech))
    clamp = lambda x: min(0.95, max(0.02, x))
    return tech, objection, clamp(close), clamp(keep), plan, dispute


def activity(book, today, rng):
    """What happens next to the portfolio, as agents' tools and payment systems publish it:
    contact attempts by six agents with their own habits and techniques, the debtors' objections,
    promises to pay (kept or not, as the technique and the agent make likely), instalment plans,
    disputes and opt-outs, full and partial payments; the forgetful debtors that recobro puts on
    the challenger ladder answer it a little better. Plus a few bad messages. Returns {topic name:
    [(key, value bytes)]} for the interactions and payments topics, and "late-payments": payments
    that come in days later (the demo publishes them after some scheduler days)."""
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
        r = rng.random()
        if r < 0.10:  # pays everything after the first reminder: a cure
            pay.append(ev(bank, base + "-pay-full", "payment.received", e,
                          {"payment_id": base + "-P1", "amount": money(owed, cur),
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
        if r < 0.80:  # the dialer calls
            calls(e, rng, today, owed - part, challenger, ev, crm, bank, inter, pay, late)
            if challenger and rng.random() < 0.2:  # the challenger's e-mails bring late payers
                late.append(ev(bank, base + "-pay-late-ch", "payment.received", e,
                               {"payment_id": base + "-P4", "amount": money(owed - part, cur),
                                "currency": cur, "received_at": "LATE", "method": "card"}))
        elif r < 0.82:
            inter.append(ev(crm, base + "-dispute", "debt.disputed", e,
                            {"at": day + "T11:00:00Z", "reason": "does not recognise the line"}))
        elif r < 0.84:
            inter.append(ev(crm, base + "-prefs", "contact.preferences", e,
                            {"do_not_call": True}))
        elif r < 0.90:  # pays late, unprompted
            late.append(ev(bank, base + "-pay-late", "payment.received", e,
                           {"payment_id": base + "-P3", "amount": money(owed - part, cur),
                            "currency": cur, "received_at": "LATE", "method": "card"}))
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


def calls(e, rng, today, open_, challenger, ev, crm, bank, inter, pay, late):
    """Up to three calls by one agent until a right-party contact, and what it leads to."""
    cur, base, day = e["currency"], "%s-%s" % (e["creditor"], e["debtor"]), today.isoformat()
    agent = rng.choice(sorted(AGENTS))
    for k in range(rng.randint(1, 3)):
        at = (today - dt.timedelta(days=3 - k)).isoformat() + "T10:15:00Z"
        reached = rng.random() < AGENTS[agent]["reach"] + 0.2
        outcome = "right_party" if reached else rng.choices(
            ["no_answer", "voicemail", "refused", "wrong_party"], [55, 25, 13, 7])[0]
        data = {"channel": "phone", "outcome": outcome, "at": at, "agent_id": agent}
        if outcome != "right_party":
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
        elif rng.random() < p_plan and open_ >= 4:
            n = 8 if loose else rng.randint(2, 4)
            each = open_ // n
            inst = [{"due_on": (today + dt.timedelta(days=30 * (i + 1))).isoformat(),
                     "amount": money(each + (open_ - each * n if i == n - 1 else 0), cur)}
                    for i in range(n)]
            inter.append(ev(crm, base + "-plan", "plan.agreed", e,
                            {"plan_id": base + "-PL1", "currency": cur, "installments": inst,
                             "agent_id": agent}))
        elif rng.random() < p_close:
            amount = max(1, open_ * rng.choice([50, 100]) // 100)
            due = today + dt.timedelta(days=40 if loose else rng.randint(2, 6))
            inter.append(ev(crm, base + "-promise", "promise.made", e,
                            {"promise_id": base + "-PR1", "amount": money(amount, cur),
                             "currency": cur, "due_on": due.isoformat(), "agent_id": agent,
                             "channel": "phone"}))
            if rng.random() < p_keep:  # kept: paid on the day
                pay.append(ev(bank, base + "-pay-promised", "payment.received", e,
                              {"payment_id": base + "-P2", "amount": money(amount, cur),
                               "currency": cur, "received_at": day + "T16:00:00Z",
                               "method": "bank_transfer"}))
            elif amount < open_ and rng.random() < 0.4:  # broken now, paid in full later
                late.append(ev(bank, base + "-pay-late", "payment.received", e,
                               {"payment_id": base + "-P3", "amount": money(open_, cur),
                                "currency": cur, "received_at": "LATE", "method": "card"}))
        break


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--debtors", type=int, default=3000)
    ap.add_argument("--today", default=None)
    ap.add_argument("--stage", choices=["invoices", "interactions", "payments", "late-payments"],
                    default="invoices")
    ap.add_argument("--at", default=None,
                    help="late-payments: when they are received (RFC 3339); default today + 12 d")
    args = ap.parse_args()
    today = dt.date.fromisoformat(args.today) if args.today else dt.date.today()
    book = []
    msgs = build(args.debtors, today, random.Random(20261125), book=book)
    t = lambda name, default: os.environ.get("RECOBRO_TOPIC_" + name, default)
    if args.stage == "invoices":
        end = publish(t("INVOICES", "recobro.invoices"), msgs)
        print(len(msgs), end)
        return
    more = activity(book, today, random.Random(7))[args.stage]
    if args.stage == "late-payments":
        at = args.at or (today + dt.timedelta(days=12)).isoformat() + "T11:00:00Z"
        more = [(k, v.replace(b'"LATE"', json.dumps(at).encode())) for k, v in more]
        end = publish(t("PAYMENTS", "recobro.payments"), more)
    else:
        end = publish(t(args.stage.upper(), "recobro." + args.stage), more)
    print(len(more), end)


if __name__ == "__main__":
    main()
