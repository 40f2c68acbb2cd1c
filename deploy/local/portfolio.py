"""portfolio.py - a realistic sample portfolio for `make demo`, published as accounting systems
would: several creditors, debtors in many time zones, invoices with varied amounts and days past
due (some re-sent as days pass, some adjusted or cancelled), and a few bad messages.

Deterministic (seeded): running it twice publishes the same events with the same ids, which
recobro recognises as duplicates, so re-running the demo is safe.

usage: portfolio.py [--debtors N] [--today YYYY-MM-DD]   (RECOBRO_* from .local/env)"""
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


def activity(book, today, rng):
    """What happens next to the portfolio, as agents' tools and payment systems publish it:
    contact attempts with their outcomes, promises to pay (most kept, some not), full and partial
    payments, disputes and opt-outs, plus a few bad messages. Returns {topic name: [(key, value
    bytes)]} for the interactions and payments topics."""
    inter, pay = [], []
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
        r = rng.random()
        if r < 0.12:  # pays everything after the first reminder: a cure
            pay.append(ev(bank, base + "-pay-full", "payment.received", e,
                          {"payment_id": base + "-P1", "amount": money(owed, cur),
                           "currency": cur, "received_at": day + "T09:30:00Z",
                           "method": "card"}))
            continue
        part = 0
        if r < 0.20:  # pays part of it
            part = max(1, owed * rng.randint(25, 60) // 100)
            pay.append(ev(bank, base + "-pay-part", "payment.received", e,
                          {"payment_id": base + "-P1", "amount": money(part, cur),
                           "currency": cur, "received_at": day + "T09:30:00Z",
                           "method": "bank_transfer"}))
        if r < 0.55:  # the dialer calls
            for k in range(rng.randint(1, 3)):
                outcome = rng.choices(["no_answer", "voicemail", "right_party", "refused",
                                       "wrong_party"], [40, 15, 30, 10, 5])[0]
                data = {"channel": "phone", "outcome": outcome,
                        "at": (today - dt.timedelta(days=3 - k)).isoformat() + "T10:15:00Z",
                        "agent_id": "agent-%03d" % rng.randint(1, 40)}
                if outcome == "right_party":
                    data.update(stage="date_agreed", techniques=["empathy", "options_offer"],
                                objections=rng.choice([[], ["temporary_unemployment"],
                                                       ["forgot"]]))
                inter.append(ev(crm, "%s-call-%d" % (base, k), "contact.attempted", e, data))
                if outcome == "right_party" and rng.random() < 0.6:
                    amount = max(1, (owed - part) * rng.choice([50, 100]) // 100)
                    due = today + dt.timedelta(days=rng.randint(2, 6))
                    inter.append(ev(crm, base + "-promise", "promise.made", e,
                                    {"promise_id": base + "-PR1", "amount": money(amount, cur),
                                     "currency": cur, "due_on": due.isoformat(),
                                     "agent_id": data["agent_id"], "channel": "phone",
                                     "techniques": ["precise_date"]}))
                    if rng.random() < 0.7:  # most promises are kept
                        pay.append(ev(bank, base + "-pay-promised", "payment.received", e,
                                      {"payment_id": base + "-P2", "amount": money(amount, cur),
                                       "currency": cur, "received_at": day + "T16:00:00Z",
                                       "method": "bank_transfer"}))
                    break
        elif r < 0.57:
            inter.append(ev(crm, base + "-dispute", "debt.disputed", e,
                            {"at": day + "T11:00:00Z", "reason": "does not recognise the line"}))
        elif r < 0.59:
            inter.append(ev(crm, base + "-prefs", "contact.preferences", e,
                            {"do_not_call": True}))
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
    return {"interactions": inter, "payments": pay}


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
    ap.add_argument("--debtors", type=int, default=1200)
    ap.add_argument("--today", default=None)
    ap.add_argument("--stage", choices=["invoices", "interactions", "payments"],
                    default="invoices")
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
    end = publish(t(args.stage.upper(), "recobro." + args.stage), more)
    print(len(more), end)


if __name__ == "__main__":
    main()
