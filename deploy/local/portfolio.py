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


def build(n_debtors, today, rng, tag=""):
    """Returns a list of (key, value bytes) in the order an ERP would send them. `tag` makes the
    debtor and event ids distinct from another run's (the benchmark uses it)."""
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
            r = rng.random()
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--debtors", type=int, default=1200)
    ap.add_argument("--today", default=None)
    args = ap.parse_args()
    today = dt.date.fromisoformat(args.today) if args.today else dt.date.today()
    msgs = build(args.debtors, today, random.Random(20261125))
    p = Producer({"bootstrap.servers": os.environ["RECOBRO_KAFKA_BROKERS"],
                  "enable.idempotence": True, "linger.ms": 10})
    topic = os.environ.get("RECOBRO_TOPIC_INVOICES", "recobro.invoices")
    for key, value in msgs:
        while True:
            try:
                p.produce(topic, key=key, value=value)
                break
            except BufferError:
                p.poll(0.1)
    if p.flush(60) != 0:
        sys.exit("portfolio: not every message was acknowledged")
    # The topic's end, summed over partitions: what the worker must have consumed.
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": os.environ["RECOBRO_KAFKA_BROKERS"],
                  "group.id": "demo-portfolio"})
    md = c.list_topics(topic, timeout=10)
    end = sum(c.get_watermark_offsets(TopicPartition(topic, q), timeout=10)[1]
              for q in md.topics[topic].partitions)
    c.close()
    print(len(msgs), end)


if __name__ == "__main__":
    main()
