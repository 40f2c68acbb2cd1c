"""badcorpus.py - a corpus of bad input messages, generated, for test_bad_inputs.py: every one
with the DLQ code the contract (proto/README.md) says it gets, for each case worker (overdue,
payments, interactions). Each generator returns a list of (payload bytes, code); the good events
the test puts behind them come from good_*(). Ids carry the run id, so every payload is distinct.

The base cases (base_invoice()) owe 300.00 EUR on INV-1, due 2026-10-01; the workers' clock is
T0. Events whose invoice_id, payment_id or agent_id starts with REFUSE are refused by triggers
the test installs in its private database: the `processing_error` of a valid-looking event."""
import copy
import json

T0 = "2026-11-25T10:00:00Z"
DEL = object()  # a value that removes the field
WIDE = ["\u00e9", "\u4e2d", "\U0001F600"]  # 2-, 3- and 4-byte UTF-8 characters
BAD_MONEY = ["5.", ".5", "05", "+5", " 5", "1e3", "1,000", "0x10", "1.001", "-1.00",
             "92233720368547758.08", "abc", 12.5, 120]


def envelope(rid, eid, etype, data, source="erp/acme-billing"):
    return {"specversion": "1.0", "id": "%s-%s" % (rid, eid), "source": source, "type": etype,
            "time": "2026-11-20T10:00:00Z", "datacontenttype": "application/json",
            "data": data}


def dump(ev):
    return json.dumps(ev, ensure_ascii=False).encode()


def mutate(ev, path, value):
    """A copy of ev with the dotted path set to value (DEL removes it)."""
    ev = copy.deepcopy(ev)
    parts = path.split(".")
    o = ev
    for p in parts[:-1]:
        o = o[p]
    if value is DEL:
        o.pop(parts[-1], None)
    else:
        o[parts[-1]] = value
    return ev


class Corpus:
    """Numbered bad events of one run: each gets an id of its own."""

    def __init__(self, rid, cr):
        self.rid, self.cr, self.n = rid, cr, 0
        self.items = []

    def eid(self):
        self.n += 1
        return "bad%d" % self.n

    def add(self, code, ev):
        if isinstance(ev, dict):
            if isinstance(ev.get("id"), str) and ev["id"].endswith("-ID"):
                ev["id"] = "%s-%s" % (self.rid, self.eid())
            ev = dump(ev)
        self.items.append((ev, code))

    def event(self, etype, data, source="erp/acme-billing"):
        return envelope(self.rid, "ID", etype, data, source)


def base_invoice(cr, debtor, inv="INV-1", amount="300.00", currency="EUR"):
    return {"creditor_id": cr, "debtor_id": debtor, "creditor_name": "ACME Telecom S.L.",
            "debtor": {"id": debtor, "name": "Lucía Fernández Ortega", "timezone": "Europe/Madrid",
                       "country": "ES", "locale": "es-ES", "phone": "+34600111222",
                       "email": "lucia@example.com"},
            "invoice": {"id": inv, "number": "F-" + inv, "currency": currency, "amount": amount,
                        "open_amount": amount, "due_on": "2026-10-01", "issued_on": "2026-09-01"}}


def invoices(rid, cr, debtor):
    """Bad messages for recobro-overdue (debtor: a base case, for the database-aware codes)."""
    c = Corpus(rid, cr)
    good = c.event("invoice.overdue", base_invoice(cr, "N-" + rid))
    ok = lambda: copy.deepcopy(good)
    # malformed_json
    text = dump(ok())
    for raw in [b"", b"{", b"{not json", b"\xff\xfe binary", b"{'single': 'quotes'}",
                b'{"x": 01}', b'{"a": 1, "a": 2}', text[:10], text[:len(text) // 2],
                text[:-1], text.replace(b'"specversion"', b'"specversion": "1.0", "specversion"', 1),
                text.replace(b"Luc\xc3\xada", b"Luc\xc3\x28a", 1), b"\x00\x01\x02"]:
        c.add("malformed_json", raw)
    c.add("too_large", b'{"pad":"' + b"x" * (1100 * 1024) + b'"}')
    # schema_violation: the message, the envelope, required fields, types, lengths, patterns
    c.add("schema_violation", b"[1]")  # JSON, but not an object
    for raw in [b'"text"', b"null", b"42"]:  # a scalar is not a JSON text jansson takes
        c.add("malformed_json", raw)
    for p in ["specversion", "id", "source", "type", "data", "data.creditor_id",
              "data.creditor_name", "data.debtor", "data.invoice", "data.debtor.id",
              "data.debtor.name", "data.debtor.timezone", "data.invoice.id",
              "data.invoice.currency", "data.invoice.amount", "data.invoice.open_amount",
              "data.invoice.due_on"]:
        c.add("schema_violation", mutate(ok(), p, DEL))
    for p in ["data.creditor_id", "data.creditor_name", "data.debtor.name", "data.invoice.id",
              "data.invoice.number", "data.debtor.email", "data.debtor.phone",
              "data.debtor.country", "data.debtor.locale"]:
        c.add("schema_violation", mutate(ok(), p, None))
        c.add("schema_violation", mutate(ok(), p, 7))
    for p in ["data.creditor_id", "data.creditor_name", "data.debtor.name", "data.invoice.id",
              "data.invoice.number"]:
        c.add("schema_violation", mutate(ok(), p, ""))
    for w in ["a"] + WIDE:
        ev = mutate(ok(), "data.debtor.id", w * 65)
        c.add("schema_violation", mutate(ev, "data.debtor_id", w * 65))
        c.add("schema_violation", mutate(ok(), "data.debtor.name", w * 257))
        c.add("schema_violation", mutate(ok(), "data.invoice.id", w * 129))
        c.add("schema_violation", mutate(ok(), "data.invoice.number", w * 129))
        c.add("schema_violation", mutate(ok(), "data.creditor_name", w * 257))
    c.add("schema_violation", mutate(ok(), "data.creditor_id", "a" * 65))
    for v in ["ac me", "acme/x", "\u00e1cme", "acme:1"]:
        c.add("schema_violation", mutate(ok(), "data.creditor_id", v))
    for p, v in [("data.debtor.phone", "600111222"), ("data.debtor.phone", "+0123456"),
                 ("data.debtor.phone", "+34 600"), ("data.debtor.email", "no-at"),
                 ("data.debtor.email", "a@b"), ("data.debtor.email", "a b@c.de"),
                 ("data.debtor.locale", "spanish_spain"), ("data.debtor.country", "ESP"),
                 ("data.debtor.country", "es"), ("data.debtor_id", "someone-else"),
                 ("specversion", "0.3"), ("data", "text"), ("data", []),
                 ("data.debtor.id", "D\u0001"), ("data.debtor.name", "Ana\nLopez")]:
        c.add("schema_violation", mutate(ok(), p, v))
    # unknown_type
    for t in ["invoice.exploded", "payment.received", "task.created", "case.resolved",
              "Invoice.Overdue"]:
        c.add("unknown_type", mutate(ok(), "type", t))
    # invalid_amount, invalid_currency, invalid_date, invalid_timezone
    for p in ["data.invoice.amount", "data.invoice.open_amount"]:
        for v in BAD_MONEY:
            c.add("invalid_amount", mutate(ok(), p, v))
    for v in ["eur", "EUD", "XAU", "EURO"]:
        c.add("invalid_currency", mutate(ok(), "data.invoice.currency", v))
    for v in ["2026-02-30", "2026-13-01", "26-10-01", "2026/10/01", "2026-10-1", "20261001"]:
        c.add("invalid_date", mutate(ok(), "data.invoice.due_on", v))
    for v in ["2026-02-29", "yesterday"]:
        c.add("invalid_date", mutate(ok(), "data.invoice.issued_on", v))
    for v in ["2026-11-20 10:00:00", "2026-11-20T10:00:00", "2026-11-20T25:00:00Z"]:
        c.add("invalid_date", mutate(ok(), "time", v))
    for v in ["Mars/Olympus", "+01:00", "CET-1CEST", "Europe/Madrd"]:
        c.add("invalid_timezone", mutate(ok(), "data.debtor.timezone", v))
    # the other invoice events
    adj = c.event("invoice.adjusted", {"creditor_id": cr, "debtor_id": debtor,
                                       "invoice_id": "INV-1", "open_amount": "100.00",
                                       "currency": "EUR"})
    for v in ["1.001", "-1.00", 5]:
        c.add("invalid_amount", mutate(adj, "data.open_amount", v))
    c.add("invalid_currency", mutate(adj, "data.currency", "EUD"))
    c.add("schema_violation", mutate(adj, "data.invoice_id", DEL))
    c.add("schema_violation", mutate(adj, "data.reason", ""))
    can = c.event("invoice.cancelled", {"creditor_id": cr, "debtor_id": debtor,
                                        "invoice_id": "INV-1"})
    c.add("schema_violation", mutate(can, "data.invoice_id", DEL))
    c.add("schema_violation", mutate(can, "data.invoice_id", "\u4e2d" * 129))
    c.add("schema_violation", mutate(can, "data.reason", "x" * 1001))
    # needs the database: the base case is in EUR; triggers refuse REFUSE-* invoices
    c.add("currency_mismatch", mutate(mutate(adj, "data.currency", "USD"), "id", "x-ID"))
    usd = c.event("invoice.overdue", base_invoice(cr, debtor, "INV-USD", currency="USD"))
    c.add("currency_mismatch", usd)
    for k in range(2):
        c.add("processing_error",
              c.event("invoice.overdue", base_invoice(cr, "R%d-%s" % (k, rid), "REFUSE-%d" % k)))
    return c.items


def payments(rid, cr, debtor):
    c = Corpus(rid, cr)
    good = c.event("payment.received", {"creditor_id": cr, "debtor_id": debtor,
                                        "payment_id": "P-X", "amount": "1.00", "currency": "EUR",
                                        "received_at": T0, "method": "transfer"}, "bank/acme")
    ok = lambda: copy.deepcopy(good)
    c.add("malformed_json", b'{"specversion": "1.0", "id": ')
    c.add("malformed_json", dump(ok())[:-2])
    for v in ["0.00", "0", "-5.00", "1.001", 3, "1e2"]:
        c.add("invalid_amount", mutate(ok(), "data.amount", v))
    for v in ["eur", "XAU", "EUD"]:
        c.add("invalid_currency", mutate(ok(), "data.currency", v))
    for v in ["2026-11-25", "2026-11-25T10:00:00", "today"]:
        c.add("invalid_date", mutate(ok(), "data.received_at", v))
    for p in ["data.payment_id", "data.amount", "data.currency", "data.received_at",
              "data.creditor_id", "data.debtor_id"]:
        c.add("schema_violation", mutate(ok(), p, DEL))
    for p, v in [("data.method", "Card!"), ("data.invoice_ids", []), ("data.invoice_ids", [1]),
                 ("data.invoice_ids", "INV-1"), ("data.payment_id", "\U0001F600" * 129),
                 ("data.debtor_id", "\u00e9" * 65)]:
        c.add("schema_violation", mutate(ok(), p, v))
    c.add("unknown_type", mutate(ok(), "type", "invoice.overdue"))
    c.add("unknown_type", mutate(ok(), "type", "promise.made"))
    rev = c.event("payment.reversed", {"creditor_id": cr, "debtor_id": debtor,
                                       "payment_id": "P-X"}, "bank/acme")
    c.add("schema_violation", mutate(rev, "data.payment_id", DEL))
    c.add("schema_violation", mutate(rev, "data.payment_id", "\u4e2d" * 129))
    c.add("schema_violation", mutate(rev, "data.reason", ""))
    for k in range(2):
        c.add("currency_mismatch", mutate(mutate(ok(), "data.currency", "USD"),
                                          "data.payment_id", "P-USD-%d" % k))
        c.add("processing_error", mutate(ok(), "data.payment_id", "REFUSE-%d" % k))
    return c.items


def interactions(rid, cr, debtor):
    c = Corpus(rid, cr)
    base = {"creditor_id": cr, "debtor_id": debtor}
    con = c.event("contact.attempted", dict(base, channel="phone", at=T0, outcome="no_answer"),
                  "crm/acme")
    ok = lambda: copy.deepcopy(con)
    c.add("malformed_json", b'{"specversion": "1.0", "id": ')
    c.add("malformed_json", b"\xc0\xaf")
    for p, v in [("data.channel", "pigeon"), ("data.channel", "Phone"), ("data.channel", None),
                 ("data.outcome", "maybe"), ("data.outcome", ""), ("data.stage", "happy"),
                 ("data.techniques", "empathy"), ("data.techniques", ["Empathy"]),
                 ("data.techniques", ["t%d" % i for i in range(33)]),
                 ("data.objections", [""]), ("data.agent_id", "\u4e2d" * 129),
                 ("data.task_id", ""), ("data.channel", DEL), ("data.outcome", DEL),
                 ("data.at", DEL)]:
        c.add("schema_violation", mutate(ok(), p, v))
    for v in ["2026-11-25 10:00", "2026-11-25", "2026-11-31T10:00:00Z"]:
        c.add("invalid_date", mutate(ok(), "data.at", v))
    c.add("unknown_type", mutate(ok(), "type", "invoice.overdue"))
    c.add("unknown_type", mutate(ok(), "type", "promise.kept"))
    prom = c.event("promise.made", dict(base, promise_id="PR-X", amount="50.00", currency="EUR",
                                        due_on="2026-12-01"), "crm/acme")
    c.add("invalid_promise", mutate(mutate(prom, "data.amount", "9999.00"), "data.promise_id",
                                    "PR-big"))
    c.add("invalid_promise", mutate(mutate(prom, "data.due_on", "2026-11-01"), "data.promise_id",
                                    "PR-past"))
    c.add("invalid_promise", mutate(mutate(prom, "data.debtor_id", "NOCASE-" + rid),
                                    "data.promise_id", "PR-nocase"))
    c.add("invalid_amount", mutate(prom, "data.amount", "0.00"))
    c.add("invalid_date", mutate(prom, "data.due_on", "2026-02-30"))
    c.add("invalid_currency", mutate(prom, "data.currency", "eur"))
    c.add("schema_violation", mutate(prom, "data.promise_id", DEL))
    c.add("currency_mismatch", mutate(mutate(prom, "data.currency", "USD"), "data.promise_id",
                                      "PR-usd"))
    plan = c.event("plan.agreed", dict(base, plan_id="PL-X", currency="EUR", installments=[
        {"due_on": "2026-12-05", "amount": "50.00"}, {"due_on": "2027-01-05", "amount": "50.00"}]),
        "crm/acme")
    c.add("invalid_plan", mutate(mutate(plan, "data.installments", [
        {"due_on": "2027-01-05", "amount": "50.00"}, {"due_on": "2026-12-05", "amount": "50.00"}]),
        "data.plan_id", "PL-order"))
    c.add("invalid_plan", mutate(mutate(plan, "data.installments", [
        {"due_on": "2026-11-01", "amount": "50.00"}]), "data.plan_id", "PL-past"))
    c.add("invalid_plan", mutate(mutate(plan, "data.installments", [
        {"due_on": "2026-12-05", "amount": "9000.00"}]), "data.plan_id", "PL-big"))
    c.add("invalid_plan", mutate(mutate(plan, "data.debtor_id", "NOCASE-" + rid),
                                 "data.plan_id", "PL-nocase"))
    c.add("schema_violation", mutate(plan, "data.installments", []))
    c.add("invalid_amount", mutate(plan, "data.installments", [
        {"due_on": "2026-12-05", "amount": "0.00"}]))
    dis = c.event("debt.disputed", dict(base, at=T0, reason="not mine"), "crm/acme")
    c.add("schema_violation", mutate(dis, "data.reason", DEL))
    c.add("schema_violation", mutate(dis, "data.reason", ""))
    c.add("invalid_date", mutate(dis, "data.at", "2026-11-25"))
    res = c.event("dispute.resolved", dict(base, at=T0, outcome="upheld"), "crm/acme")
    c.add("schema_violation", mutate(res, "data.outcome", "maybe"))
    pref = c.event("contact.preferences", dict(base, do_not_call=True), "crm/acme")
    c.add("schema_violation", mutate(pref, "data.do_not_call", DEL))
    c.add("schema_violation", mutate(pref, "data.do_not_call", "yes"))
    for v in ["+01:00", "Mars/Olympus"]:
        c.add("invalid_timezone", mutate(pref, "data.timezone", v))
    fb = c.event("forbearance.granted", dict(base, reason="hardship", **{
        "from": "2026-11-20", "until": "2026-12-20"}), "crm/acme")
    c.add("schema_violation", mutate(fb, "data.until", "2026-11-01"))
    c.add("schema_violation", mutate(fb, "data.reason", DEL))
    c.add("invalid_date", mutate(fb, "data.from", "2026-11-31"))
    for k in range(2):
        c.add("processing_error", mutate(ok(), "data.agent_id", "REFUSE-%d" % k))
    return c.items


def good_invoice(rid, cr, debtor, i):
    return dump(envelope(rid, "good-inv-%d" % i, "invoice.overdue",
                         base_invoice(cr, debtor, "INV-G%d" % i, "1.00")))


def good_payment(rid, cr, debtor, i):
    return dump(envelope(rid, "good-pay-%d" % i, "payment.received", {
        "creditor_id": cr, "debtor_id": debtor, "payment_id": "PAY-G%d" % i, "amount": "0.01",
        "currency": "EUR", "received_at": T0}, "bank/acme"))


def good_contact(rid, cr, debtor, i):
    return dump(envelope(rid, "good-ia-%d" % i, "contact.attempted", {
        "creditor_id": cr, "debtor_id": debtor, "channel": "letter", "outcome": "delivered",
        "at": "2026-11-2%dT%02d:%02d:00Z" % (1 + i % 4, 8 + i % 10, i % 60)}, "crm/acme"))
