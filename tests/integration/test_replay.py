"""test_replay.py - issue 5's replay test: one generated stream of mixed events (invoices overdue,
adjusted and cancelled; payments, some before their invoice, over-payments and reversals;
contacts; promises, superseding promises and promises outside the limits; instalment plans
and discounted settlements; disputes upheld, rejected and left open) in time order for a few
thousand debtors, under default.json with late interest (10% a year) and settlements allowed
(replay_policy()), applied
through the real workers (recobro-overdue, -interactions, -payments, the relay and a final
`recobroctl scheduler tick`), then compared with an INDEPENDENT reference calculation written
here in plain Python (nothing of recobro's C code is imported or called): every invoice's open
amount and status (written_off included), every case's balance, open interest and settlement
(settled, what was written off), every promise's state and paid amount, every plan's state,
missed count and paid amount. Segments are compared where the reference reproduces the
default policy's first rules (resolved at zero, disputed while a dispute is open); the others
depend on contact and payment-pattern features the reference does not model.

Ordering: events of one case on different topics are consumed by different workers at once, so
the stream is generated in eras, each a contiguous time window in which only one topic has
events, and an era is published only once the previous one is fully consumed (the workers'
committed offsets in PostgreSQL reach the number of messages published). Inside an era the
per-case order is Kafka's (one key per case). The eras, in stream time order:
  1. invoices (recobro-overdue at T0): invoice.overdue, then some invoice.adjusted (down) and
     invoice.cancelled;
  2. interactions (recobro-interactions at T0, so promises are made on T0's local day):
     contact.attempted, debt.disputed / dispute.resolved, promise.made, plan.agreed;
  3. payments (recobro-payments with its clock at T0+20 days: a payment happens on its
     received_at's local day, a reversal on the worker's day): payment.received between T0+1
     and T0+19, payment.reversed some time after its payment;
  4. invoices again (recobro-overdue restarted at T0+21): late invoices for debtors who paid
     before being invoiced, and new invoices that use over-payment credit;
  5. `recobroctl scheduler tick --now` at T0+40: every promise and instalment past its grace.

Interest, as the reference computes it: a worker's pass over a case first accrues the local days
since the last pass (each day on that day's open principal past due, rounded half-even, nothing
while a dispute is open), from the day the case was first known with its zone; so the worker
clocks above decide the days (T0 for eras 1-2, T0+20 for era 3, T0+21 for era 4, the tick's day).
A payment pays the open interest first (the policy's allocation order), then the invoices; a
reversal re-opens what it paid of both. A settlement plan (settlement_amount = the plan's
total, 10% forgiven) completed by a payment writes off every open invoice and the interest; a
reversal that takes it back from completed re-opens exactly that, before over-payment credit
meets what is open again: the invoices oldest first, then the interest.
"""
import json
import random
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

import stackutil as su
from conftest import worker_env

DEFAULT_POLICY = su.ROOT / "deploy" / "policy" / "default.json"
RATE_PCT = 10       # the replay policy's charges.late_interest_annual_pct
SETTLE_OFF_PCT = 10  # what a settlement forgives of the balance (inside every segment's limit)


def replay_policy():
    """default.json with late interest (10% a year, interest first: its allocation order) and
    settlements allowed (20% by default; willing_unable 10% and chronic 15% keep theirs), written
    once per process to a file of its own; test_kill_workers.py uses it too."""
    doc = json.loads(DEFAULT_POLICY.read_text())
    doc["name"] = "replay"
    doc["charges"].update(late_interest_annual_pct=str(RATE_PCT),
                          late_interest_cap_annual_pct=str(RATE_PCT + 2))
    doc["negotiation"]["limits"]["default"]["max_settlement_discount_pct"] = 20
    path = Path(tempfile.mkdtemp(prefix="recobro-replay-")) / "replay.json"
    path.write_text(json.dumps(doc))
    return path


POLICY = replay_policy()
TZ = "Europe/Madrid"
DAY0 = date(2026, 11, 25)
T0 = "2026-11-25T10:00:00Z"
PAY_NOW_DAY = DAY0 + timedelta(days=20)
PAY_NOW = "2026-12-15T12:00:00Z"
ERA4_NOW = "2026-12-16T12:00:00Z"
ERA4_DAY = date(2026, 12, 16)
TICK_NOW = "2027-01-04T12:00:00Z"
TICK_DAY = date(2027, 1, 4)
GRACE = 3           # deploy/policy/default.json negotiation.promise_grace_days
DEFAULT_MISSED = 2  # negotiation.plan_default_missed_installments
N_DEBTORS = 3600
SEED = 20261125


# ---- the independent reference ---------------------------------------------------------------

def daily_interest(principal):
    """One local day's simple interest on `principal` (minor units) at RATE_PCT a year, rounded
    half-even to the minor unit."""
    q, r = divmod(principal * RATE_PCT, 100 * 365)
    if 2 * r > 100 * 365 or (2 * r == 100 * 365 and q % 2 == 1):
        q += 1
    return q


class RefPromise:
    def __init__(self, pid, amount, due, made, pending_approval=False):
        self.pid, self.amount, self.due = pid, amount, due
        self.deadline = due + timedelta(days=GRACE)
        self.paid, self.state, self.as_of = 0, "pending", made
        self.pending_approval = pending_approval

    def _settle(self):
        if self.state == "pending" and self.as_of > self.deadline:
            self.state = ("kept" if self.paid >= self.amount else
                          "partially_kept" if self.paid > 0 else "broken")

    def pay(self, amount, day):
        """Returns what counted."""
        self.as_of = max(self.as_of, day)
        self._settle()
        if self.state not in ("pending", "kept") or self.as_of > self.deadline:
            return 0
        self.paid += amount
        if self.state == "pending" and self.paid >= self.amount:
            self.state = "kept"
        return amount

    def reverse(self, amount, day):
        amount = min(amount, self.paid)
        if amount <= 0:
            return
        self.as_of = max(self.as_of, day)
        self.paid -= amount
        if self.state == "kept":
            if self.paid >= self.amount:
                pass
            elif self.as_of <= self.deadline:
                self.state = "pending"
            else:
                self.state = "partially_kept" if self.paid > 0 else "broken"
        elif self.state == "partially_kept" and self.paid == 0:
            self.state = "broken"
        elif self.state == "pending":
            self._settle()

    def tick(self, day):
        self.as_of = max(self.as_of, day)
        self._settle()


class RefPlan:
    def __init__(self, plan_id, slots, agreed):
        self.plan_id = plan_id
        self.slots = [{"due": d, "amount": a, "paid": 0, "missed": False} for d, a in slots]
        self.state, self.as_of, self.missed = "active", agreed, 0

    @property
    def paid(self):
        return sum(s["paid"] for s in self.slots)

    def _settle(self):
        for s in self.slots:
            if (not s["missed"] and s["paid"] < s["amount"] and
                    self.as_of > s["due"] + timedelta(days=GRACE)):
                s["missed"] = True
                if self.state in ("active", "completed"):
                    self.missed += 1
        if self.state == "active" and self.missed >= DEFAULT_MISSED:
            self.state = "defaulted"

    def pay(self, amount, day):
        """Returns the lines filled [(slot, amount)]."""
        self.as_of = max(self.as_of, day)
        self._settle()
        lines = []
        if self.state != "active":
            return lines
        for i, s in enumerate(self.slots):
            if amount <= 0:
                break
            take = min(amount, s["amount"] - s["paid"])
            if take > 0:
                s["paid"] += take
                amount -= take
                lines.append((i, take))
        if all(s["paid"] == s["amount"] for s in self.slots):
            self.state = "completed"
        return lines

    def reverse(self, lines, day):
        self.as_of = max(self.as_of, day)
        for i, a in lines:
            self.slots[i]["paid"] -= a
        if self.state == "completed" and any(s["paid"] < s["amount"] for s in self.slots):
            self.state = "active"
        self._settle()

    def tick(self, day):
        self.as_of = max(self.as_of, day)
        self._settle()


class RefCase:
    def __init__(self, debtor):
        self.debtor = debtor
        self.invoices = {}   # id -> {"due": date, "open": int, "cancelled": bool}
        self.credits = []    # [payment_id, unallocated] in receipt order
        self.payments = {}   # payment_id -> {"lines": [(inv, amt)], "promise": p, "applied": n,
        #                                     "plan": pl, "plan_lines": [...], "reversed": bool}
        self.promises = {}   # promise_id -> RefPromise, in creation order
        self.plans = {}
        self.dispute_open = False
        self.segmented = False
        # Charges: interest accrues per local day on the open principal past due (due < day),
        # except while a dispute is open, from the day the case is first known with its zone.
        self.interest = 0
        self.accrued = None      # the last local day accrued; None before the first pass
        self.interest_paid = {}  # payment_id -> the interest it paid (re-opened on reversal)
        self.settle_plan = None  # the plan_id of the settlement agreed
        self.settled = None      # once settled: {"lines": [(inv, amount)], "interest": n}

    def _live(self, i):
        return not i["cancelled"] and not i["written_off"]

    def principal(self):
        return sum(i["open"] for i in self.invoices.values() if self._live(i))

    def balance(self):
        return self.principal() + self.interest

    def _open_by_age(self):
        return sorted((k for k, i in self.invoices.items() if self._live(i) and i["open"] > 0),
                      key=lambda k: self.invoices[k]["due"])

    def before(self, today):
        """A worker's pass over the case on local day `today`, before the event: the interest
        of the days since the last pass, each day on that day's past-due principal."""
        if self.accrued is None:
            return
        d = self.accrued + timedelta(days=1)
        while d < today:
            if not self.dispute_open:
                self.interest += daily_interest(sum(
                    i["open"] for i in self.invoices.values()
                    if self._live(i) and i["open"] > 0 and i["due"] < d))
            d += timedelta(days=1)
        self.accrued = max(self.accrued, today - timedelta(days=1))

    def after(self, today):
        """After the event: a case known with its zone only now starts accruing today."""
        if self.accrued is None and self.invoices:
            self.accrued = today - timedelta(days=1)

    def use_credit(self):
        for cr in self.credits:
            for k in self._open_by_age():
                if cr[1] <= 0:
                    break
                take = min(cr[1], self.invoices[k]["open"])
                self.invoices[k]["open"] -= take
                cr[1] -= take
                self.payments[cr[0]]["lines"].append((k, take))
        # What is left of the credit pays the open interest (a reversal re-opened it); the
        # payment's reversal re-opens that too.
        for cr in self.credits:
            take = min(cr[1], self.interest)
            if take > 0:
                self.interest -= take
                cr[1] -= take
                self.interest_paid[cr[0]] = self.interest_paid.get(cr[0], 0) + take

    def overdue(self, inv, amount, due):
        self.invoices[inv] = {"due": due, "open": amount, "cancelled": False,
                              "written_off": False}
        self.use_credit()
        # A case is segmented the first time it owes something documented; one whose invoice
        # arrives already paid by earlier credit never owed anything: not segmented, no
        # case.resolved (casefile_plan(): "nothing to collect, nobody to thank").
        self.segmented = self.segmented or self.balance() > 0

    def adjusted(self, inv, open_amount):
        self.invoices[inv]["open"] = open_amount
        self.use_credit()

    def cancelled(self, inv):
        self.invoices[inv]["cancelled"] = True

    def promise(self, pid, amount, due, pending_approval=False):
        if not pending_approval:
            for p in self.promises.values():
                if p.state == "pending" and not p.pending_approval:
                    p.state = "cancelled"
        self.promises[pid] = RefPromise(pid, amount, due, DAY0, pending_approval)

    def plan(self, plan_id, slots, settlement=False):
        for p in self.promises.values():
            if p.state == "pending" and not p.pending_approval:
                p.state = "cancelled"
        self.plans[plan_id] = RefPlan(plan_id, slots, DAY0)
        self.settle_plan = plan_id if settlement else None

    def _write_off(self, plan):
        """A settlement plan completed: everything still open is forgiven."""
        if plan is None or plan.plan_id != self.settle_plan or self.settled is not None or \
                plan.state != "completed":
            return
        lines = [(k, i["open"]) for k, i in self.invoices.items() if self._live(i) and i["open"] > 0]
        for k, _ in lines:
            self.invoices[k]["open"] = 0
            self.invoices[k]["written_off"] = True
        self.settled = {"lines": lines, "interest": self.interest}
        self.interest = 0

    def _reopen_settlement(self, plan):
        if plan is None or plan.plan_id != self.settle_plan or self.settled is None or \
                plan.state == "completed":
            return
        for k, a in self.settled["lines"]:
            i = self.invoices[k]
            if not i["cancelled"]:
                i["open"] += a
                i["written_off"] = False
        self.interest += self.settled["interest"]
        self.settled = None

    def payment(self, pid, amount, day):
        # Interest first (the policy's allocation order), then the invoices oldest first.
        took = min(amount, self.interest)
        self.interest -= took
        self.interest_paid[pid] = took
        lines, left = [], amount - took
        for k in self._open_by_age():
            if left <= 0:
                break
            take = min(left, self.invoices[k]["open"])
            self.invoices[k]["open"] -= take
            left -= take
            lines.append((k, take))
        rec = {"lines": lines, "promise": None, "applied": 0, "plan": None, "plan_lines": [],
               "reversed": False}
        self.payments[pid] = rec
        if left > 0:
            self.credits.append([pid, left])
        live = [p for p in self.promises.values()
                if p.state in ("pending", "kept") and not p.pending_approval]
        if live:
            p = live[-1]
            rec["promise"], rec["applied"] = p, p.pay(amount, day)
        active = [pl for pl in self.plans.values() if pl.state == "active"]
        if active:
            rec["plan"] = active[-1]
            rec["plan_lines"] = active[-1].pay(amount, day)
            self._write_off(rec["plan"])

    def reversal(self, pid, day):
        rec = self.payments[pid]
        rec["reversed"] = True
        for k, a in rec["lines"]:
            if not self.invoices[k]["cancelled"]:
                self.invoices[k]["open"] += a
                self.invoices[k]["written_off"] = False
        rec["lines"] = []
        self.interest += self.interest_paid.pop(pid, 0)
        for cr in self.credits:
            if cr[0] == pid:
                cr[1] = 0
        if rec["promise"] is not None and rec["applied"] > 0:
            rec["promise"].reverse(rec["applied"], day)
        if rec["plan"] is not None and rec["plan_lines"]:
            rec["plan"].reverse(rec["plan_lines"], day)
            self._reopen_settlement(rec["plan"])
        self.use_credit()

    def tick(self, day):
        for p in self.promises.values():
            if not p.pending_approval:
                p.tick(day)
        for pl in self.plans.values():
            pl.tick(day)


def want_invoice(i):
    """(status, open amount) of a reference invoice as recobro stores it (open amount None when
    cancelled)."""
    if i["cancelled"]:
        return ("cancelled", None)
    if i["written_off"]:
        return ("written_off", 0)
    return ("paid" if i["open"] == 0 else "open", i["open"])


def want_charges(ref):
    """{debtor: (interest open, settled, written off)} of the reference, for every case that ever
    accrued or agreed a settlement."""
    out = {}
    for d, c in ref.items():
        if c.accrued is None and c.settle_plan is None:
            continue
        wo = sum(a for _, a in c.settled["lines"]) + c.settled["interest"] if c.settled else 0
        out[d] = (c.interest, c.settled is not None, wo)
    return out


def got_charges(rows):
    """The same from (debtor_id, interest, settlement jsonb) rows of case_charges."""
    out = {}
    for d, interest, st in rows:
        st = st or {}
        out[d] = (interest, bool(st.get("settled")),
                  st.get("written_off", 0) if st.get("settled") else 0)
    return out


# ---- the stream ------------------------------------------------------------------------------

def money(minor):
    return "%d.%02d" % divmod(minor, 100)


def local_day(instant):
    """Day in Madrid (UTC+1 in November to January) of an instant in UTC."""
    return (instant + timedelta(hours=1)).date()


class Stream:
    """The generated events, in time order, each with its era and its effect on the reference."""

    def __init__(self, rid, creditor):
        self.rid, self.creditor = rid, creditor
        self.events = []  # (instant, era, topic, debtor, cloudevent json)
        self.n = 0

    def add(self, at, era, topic, debtor, etype, data, source):
        self.n += 1
        data = dict(data, creditor_id=self.creditor, debtor_id=debtor)
        ev = {"specversion": "1.0", "id": "%s-%06d" % (self.rid, self.n), "source": source,
              "type": etype, "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
              "subject": "%s/%s" % (self.creditor, debtor),
              "datacontenttype": "application/json", "data": data}
        self.events.append((at, era, topic, debtor, json.dumps(ev)))


def generate(rid, creditor, rng, n_debtors=None):
    """The stream and its reference for n_debtors (default N_DEBTORS); test_kill_workers.py
    reuses it with a smaller population."""
    s = Stream(rid, creditor)
    ref = {}
    clock = {"t": datetime(2026, 11, 24, 0, 0, tzinfo=timezone.utc)}

    def tick_clock(era_start=None):
        if era_start is not None:
            clock["t"] = max(clock["t"], era_start)
        clock["t"] += timedelta(seconds=rng.randint(1, 3))
        return clock["t"]

    debtors = ["D-%04d" % i for i in range(N_DEBTORS if n_debtors is None else n_debtors)]
    kind = {}
    for d in debtors:
        ref[d] = RefCase(d)
        r = rng.random()
        kind[d] = ("late_invoice" if r < 0.08 else "dispute" if r < 0.16 else
                   "plan" if r < 0.23 else "settlement" if r < 0.30 else
                   "promise" if r < 0.70 else "plain")

    # Era 1: invoices (24 November, before T0).
    inv_of = {}
    for d in debtors:
        if kind[d] == "late_invoice":
            continue
        n = rng.choice([1, 1, 2, 3])
        dues = sorted(rng.sample(range(0, 80), n))
        inv_of[d] = []
        for k, off in enumerate(dues):
            inv = "INV-%d" % (k + 1)
            amount = rng.randint(5000, 60000)
            due = date(2026, 9, 1) + timedelta(days=off)
            s.add(tick_clock(), 1, "inv", d, "invoice.overdue", {
                "creditor_name": "ACME Telecom S.L.",
                "debtor": {"id": d, "name": "Debtor %s" % d, "timezone": TZ, "country": "ES"},
                "invoice": {"id": inv, "currency": "EUR", "amount": money(amount),
                            "open_amount": money(amount), "due_on": due.isoformat()}},
                "erp/acme-billing")
            ref[d].overdue(inv, amount, due)
            ref[d].after(DAY0)  # recobro-overdue's clock is T0: accrual starts on DAY0
            inv_of[d].append(inv)
    for d in debtors:
        if d not in inv_of:
            continue
        if rng.random() < 0.2:
            inv = rng.choice(inv_of[d])
            new = rng.randint(1000, ref[d].invoices[inv]["open"])
            s.add(tick_clock(), 1, "inv", d, "invoice.adjusted",
                  {"invoice_id": inv, "open_amount": money(new), "currency": "EUR",
                   "reason": "credit note"}, "erp/acme-billing")
            ref[d].adjusted(inv, new)
        if len(inv_of[d]) > 1 and rng.random() < 0.15:
            inv = rng.choice(inv_of[d])
            s.add(tick_clock(), 1, "inv", d, "invoice.cancelled",
                  {"invoice_id": inv, "reason": "billing error"}, "erp/acme-billing")
            ref[d].cancelled(inv)

    # Era 2: interactions at T0 (25 November, 10:00Z onwards).
    era2 = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
    outcomes = ["no_answer", "voicemail", "right_party", "refused", "callback_requested"]
    for d in debtors:
        if d not in inv_of:
            continue
        for _ in range(rng.choice([0, 0, 1, 2])):
            at = tick_clock(era2)
            s.add(at, 2, "in", d, "contact.attempted",
                  {"channel": "phone", "outcome": rng.choice(outcomes),
                   "at": (at - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")}, "crm/desk")
        bal = ref[d].balance()
        if kind[d] == "dispute":
            live = [i for i in inv_of[d] if not ref[d].invoices[i]["cancelled"]]
            inv = rng.choice(live)
            at = tick_clock(era2)
            s.add(at, 2, "in", d, "debt.disputed",
                  {"at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "reason": "not mine",
                   "invoice_id": inv}, "crm/desk")
            ref[d].dispute_open = True
            outcome = rng.choice(["upheld", "rejected", None])
            if outcome:
                at = tick_clock(era2)
                s.add(at, 2, "in", d, "dispute.resolved",
                      {"at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "outcome": outcome,
                       "invoice_id": inv}, "crm/desk")
                ref[d].dispute_open = False
                if outcome == "upheld":
                    ref[d].cancelled(inv)
        elif kind[d] == "promise" and bal > 0:
            for k in range(rng.choice([1, 1, 2])):
                amount = bal if bal < 2500 else rng.randint(2500, bal)
                due = DAY0 + timedelta(days=rng.randint(1, 7))
                pid = "PR-%d" % (k + 1)
                s.add(tick_clock(era2), 2, "in", d, "promise.made",
                      {"promise_id": pid, "amount": money(amount), "currency": "EUR",
                       "due_on": due.isoformat(), "agent_id": "ag-1"}, "crm/desk")
                ref[d].promise(pid, amount, due)
            if rng.random() < 0.15:  # 60 days ahead: outside every segment's limits
                due = DAY0 + timedelta(days=60)
                s.add(tick_clock(era2), 2, "in", d, "promise.made",
                      {"promise_id": "PR-FAR", "amount": money(min(bal, 5000)),
                       "currency": "EUR", "due_on": due.isoformat()}, "crm/desk")
                ref[d].promise("PR-FAR", min(bal, 5000), due, pending_approval=True)
        elif kind[d] in ("plan", "settlement") and bal >= 20000:
            # A settlement forgives SETTLE_OFF_PCT of the balance: the debtor pays the rest.
            total = bal - bal * SETTLE_OFF_PCT // 100 if kind[d] == "settlement" else bal
            down = -(-bal * 30 // 100)
            rest = total - down
            part = rest // 3
            amounts = [part, part, rest - 2 * part]
            slots = [(DAY0, down)] + [(DAY0 + timedelta(days=7 * (k + 1)), a)
                                      for k, a in enumerate(amounts)]
            data = {"plan_id": "PL-1", "currency": "EUR", "down_payment": money(down),
                    "installments": [{"due_on": dd.isoformat(), "amount": money(a)}
                                     for dd, a in slots[1:]], "agent_id": "ag-1"}
            if kind[d] == "settlement":
                data["settlement_amount"] = money(total)
            s.add(tick_clock(era2), 2, "in", d, "plan.agreed", data, "crm/desk")
            ref[d].plan("PL-1", slots, settlement=kind[d] == "settlement")
        elif kind[d] in ("plan", "settlement"):
            kind[d] = "plain"

    # Era 3: payments with received_at from 26 November to 14 December, reversals after them.
    pays = []  # (at, debtor, payment_id, amount) planned per debtor, then merged by time
    for d in debtors:
        times = sorted(datetime(2026, 11, 26, 7, tzinfo=timezone.utc) +
                       timedelta(minutes=rng.randint(0, 18 * 24 * 60))
                       for _ in range(rng.choice([0, 1, 1, 2, 2, 3, 4])))
        if kind[d] in ("plan", "settlement"):  # around each instalment's due day, some late
            times = [datetime(2026, 11, 26, 7, tzinfo=timezone.utc) +
                     timedelta(days=7 * k + rng.randint(-1, 4), minutes=rng.randint(0, 600))
                     for k in range(4) if rng.random() < 0.9]
        bal = ref[d].balance()
        for k, at in enumerate(times):
            r = rng.random()
            if kind[d] in ("plan", "settlement"):
                pl = ref[d].plans["PL-1"]
                amount = pl.slots[min(k, 3)]["amount"] if r < 0.8 else rng.randint(1000, 8000)
            elif kind[d] == "promise" and r < 0.5:
                live = [p for p in ref[d].promises.values() if p.state == "pending" and
                        not p.pending_approval]
                amount = live[-1].amount if live and r < 0.35 else rng.randint(500, 20000)
            elif r < 0.3 and bal > 0:
                amount = bal + (rng.randint(100, 10000) if r < 0.1 else 0)
            else:
                amount = rng.randint(500, 30000)
            pays.append((at, d, "PAY-%d" % (k + 1), amount))
    events3 = []
    for at, d, pid, amount in pays:
        events3.append((at, "pay", d, pid, amount))
        if rng.random() < 0.12:
            events3.append((at + timedelta(minutes=rng.randint(1, 3 * 24 * 60)), "rev", d, pid,
                            None))
    events3.sort(key=lambda e: e[0])
    for at, what, d, pid, amount in events3:
        t = tick_clock(at)
        if what == "pay":
            s.add(t, 3, "pay", d, "payment.received",
                  {"payment_id": pid, "amount": money(amount), "currency": "EUR",
                   "received_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "method": "transfer"},
                  "bank/acme")
            ref[d].before(PAY_NOW_DAY)  # recobro-payments' clock: the interest since T0 first
            ref[d].payment(pid, amount, local_day(at))
        else:
            s.add(t, 3, "pay", d, "payment.reversed",
                  {"payment_id": pid, "reason": "insufficient_funds"}, "bank/acme")
            ref[d].before(PAY_NOW_DAY)
            ref[d].reversal(pid, PAY_NOW_DAY)

    # Era 4: late invoices, and new invoices for some (credit from over-payments pays them).
    era4 = datetime(2026, 12, 16, 12, tzinfo=timezone.utc)
    for d in debtors:
        if kind[d] == "late_invoice" or rng.random() < 0.1:
            inv = "INV-9"
            amount = rng.randint(3000, 40000)
            due = date(2026, 12, 1)
            s.add(tick_clock(era4), 4, "inv", d, "invoice.overdue", {
                "creditor_name": "ACME Telecom S.L.",
                "debtor": {"id": d, "name": "Debtor %s" % d, "timezone": TZ, "country": "ES"},
                "invoice": {"id": inv, "currency": "EUR", "amount": money(amount),
                            "open_amount": money(amount), "due_on": due.isoformat()}},
                "erp/acme-billing")
            ref[d].before(ERA4_DAY)
            ref[d].overdue(inv, amount, due)
            ref[d].after(ERA4_DAY)

    # Era 5: the final tick.
    for d in debtors:
        ref[d].before(TICK_DAY)  # the sweep plans every case: interest up to the day before
        ref[d].tick(TICK_DAY)
    times = [e[0] for e in s.events]
    assert times == sorted(times), "the stream is in time order"
    return s, ref, kind


# ---- running it ------------------------------------------------------------------------------

@pytest.fixture
def rp(names):
    names["inv"] = "it.%s.inv" % names["rid"]
    names["pay"] = "it.%s.pay" % names["rid"]
    names["events"] = "it.%s.events" % names["rid"]
    su.create_topics([names["inv"], names["pay"], names["events"]])
    names["creditor"] = "cr-" + names["rid"]
    names["db"] = db = "recobro_rpl_" + names["rid"]
    names["dsn"] = su.create_database(db)
    yield names
    su.drop_database(db)


def envs(n, now, group):
    env = worker_env(n, RECOBRO_TOPIC_INVOICES=n["inv"], RECOBRO_TOPIC_PAYMENTS=n["pay"],
                     RECOBRO_TOPIC_INTERACTIONS=n["in"], RECOBRO_TOPIC_CASE_EVENTS=n["events"],
                     RECOBRO_NOW=now, RECOBRO_POLICY_FILE=str(POLICY), RECOBRO_PG_DSN=n["dsn"])
    env["RECOBRO_GROUP_ID"] = n["group"] + "-" + group
    return env


def db(n, sql, *params):
    with psycopg.connect(n["dsn"], autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def publish_era(n, s, era, published, worker):
    msgs = [(topic, "%s/%s" % (s.creditor, d), ev) for _, e, topic, d, ev in s.events
            if e == era]
    if not msgs:
        return 0
    p = su.producer()
    for topic, k, ev in msgs:
        su.produce(n[topic], [(k, ev, None)], p=p)
        published[topic] += 1
    assert p.flush(60) == 0
    topic = msgs[0][0]
    want = published[topic]

    def done():
        got = db(n, "SELECT coalesce(sum(next_offset), 0) FROM consumer_offset WHERE topic = %s",
                 n[topic])[0][0]
        assert worker.proc.poll() is None, worker.tail()
        return got >= want
    su.wait_for(done, timeout=300, interval=0.5, what="era %d consumed (%d on %s)" %
                (era, want, topic))
    return len(msgs)


def test_replay_matches_the_reference(rp, services):
    started = time.time()
    rng = random.Random(SEED)
    s, ref, kind = generate(rp["rid"], rp["creditor"], rng)
    print("\nreplay: %d events for %d debtors" % (len(s.events), N_DEBTORS))

    services("recobro-relay", envs(rp, T0, "relay"))
    ov = services("recobro-overdue", envs(rp, T0, "ov"))
    ia = services("recobro-interactions", envs(rp, T0, "ia"))
    pay = services("recobro-payments", envs(rp, PAY_NOW, "pay"))
    published = {"inv": 0, "in": 0, "pay": 0}
    counts = {}
    counts[1] = publish_era(rp, s, 1, published, ov)
    counts[2] = publish_era(rp, s, 2, published, ia)
    counts[3] = publish_era(rp, s, 3, published, pay)
    ov.stop()
    ov = services("recobro-overdue", envs(rp, ERA4_NOW, "ov"))
    counts[4] = publish_era(rp, s, 4, published, ov)
    r = su.recobroctl("scheduler", "tick", "--now", TICK_NOW, env=envs(rp, TICK_NOW, "tick"))
    sweep = json.loads(r.stdout)
    print("replay: eras %s, tick %s, %.1f s" % (counts, sweep, time.time() - started))
    assert sweep["failed"] == 0

    # Nothing was rejected: every event was meant to apply.
    dlq = db(rp, "SELECT count(*) FROM outbox WHERE topic = %s", rp["dlq"])[0][0]
    assert dlq == 0, "%d events went to the DLQ" % dlq

    cr = rp["creditor"]
    # Balances and invoices.
    got_inv = {}
    for d, inv, open_amount, status in db(rp, "SELECT debtor_id, invoice_id, open_amount, status "
                                              "FROM invoice WHERE creditor_id = %s", cr):
        got_inv[(d, inv)] = (status, None if status == "cancelled" else open_amount)
    want_inv = {(d, inv): want_invoice(i) for d, c in ref.items() for inv, i in c.invoices.items()}
    bad = sorted(k for k in set(want_inv) | set(got_inv) if want_inv.get(k) != got_inv.get(k))
    assert not bad, ["%s: want %s got %s" % (k, want_inv.get(k), got_inv.get(k))
                     for k in bad[:20]]
    got_bal = dict(db(rp, "SELECT debtor_id, balance FROM debt_case WHERE creditor_id = %s", cr))
    want_bal = {d: c.balance() for d, c in ref.items()}
    bad = sorted(d for d in want_bal if got_bal.get(d) != want_bal[d])
    assert not bad, ["%s (%s): want %s got %s" % (d, kind[d], want_bal[d], got_bal.get(d))
                     for d in bad[:20]]
    credits = dict(((d, p), u) for d, p, u in db(
        rp, "SELECT debtor_id, payment_id, unallocated FROM payment WHERE creditor_id = %s "
            "AND status = 'received'", cr))
    want_credits = {(d, cr_[0]): cr_[1] for d, c in ref.items() for cr_ in c.credits
                    if not c.payments[cr_[0]]["reversed"]}
    for k, v in credits.items():
        assert want_credits.get(k, 0) == v, (k, want_credits.get(k, 0), v)

    # Interest and settlements.
    got_ch = got_charges(db(rp, "SELECT debtor_id, interest, settlement FROM case_charges "
                                "WHERE creditor_id = %s", cr))
    want_ch = want_charges(ref)
    bad = sorted(d for d in set(want_ch) | set(got_ch)
                 if want_ch.get(d) != got_ch.get(d, (0, False, 0) if d in want_ch else None))
    assert not bad, ["%s (%s): want %s got %s" % (d, kind[d], want_ch.get(d), got_ch.get(d))
                     for d in bad[:20]]

    # Promises.
    got_p = {(d, pid): (state, paid, appr) for d, pid, state, paid, appr in db(
        rp, "SELECT debtor_id, promise_id, state, paid_toward, pending_approval FROM promise "
            "WHERE creditor_id = %s", cr)}
    want_p = {(d, pid): (p.state, p.paid, p.pending_approval)
              for d, c in ref.items() for pid, p in c.promises.items()}
    bad = sorted(k for k in set(want_p) | set(got_p) if want_p.get(k) != got_p.get(k))
    assert not bad, ["%s: want %s got %s" % (k, want_p.get(k), got_p.get(k)) for k in bad[:20]]
    # Plans.
    got_pl = {(d, pid): (state, missed, paid) for d, pid, state, missed, paid in db(
        rp, "SELECT debtor_id, plan_id, state, missed, paid FROM plan WHERE creditor_id = %s",
        cr)}
    want_pl = {(d, pid): (pl.state, pl.missed, pl.paid)
               for d, c in ref.items() for pid, pl in c.plans.items()}
    bad = sorted(k for k in set(want_pl) | set(got_pl) if want_pl.get(k) != got_pl.get(k))
    assert not bad, ["%s: want %s got %s" % (k, want_pl.get(k), got_pl.get(k)) for k in bad[:20]]

    # Segments, where the default policy's first rules decide.
    got_seg = dict(db(rp, "SELECT debtor_id, segment FROM debt_case WHERE creditor_id = %s", cr))
    checked = 0
    wrong = []
    for d, c in ref.items():
        if not c.segmented:
            want = None
        elif c.balance() <= 0:
            want = "resolved"
        elif c.dispute_open:
            want = "disputed"
        else:
            continue
        checked += 1
        if got_seg.get(d) != want:
            wrong.append((d, kind[d], want, db(
                rp, "SELECT segment, status, balance, next_due_at FROM debt_case WHERE "
                    "creditor_id = %s AND debtor_id = %s", cr, d)))
    assert not wrong, wrong
    states = {}
    for v in want_p.values():
        states[v[0]] = states.get(v[0], 0) + 1
    plans = {}
    for v in want_pl.values():
        plans[v[0]] = plans.get(v[0], 0) + 1
    print("replay: %d invoices, %d promises %s, %d plans %s, %d segments checked, %.1f s" %
          (len(want_inv), len(want_p), states, len(want_pl), plans, checked,
           time.time() - started))
    print("replay: interest %s open on %d cases, %d settlements agreed, %d settled (%s "
          "written off), %d invoices written off" % (
              money(sum(c.interest for c in ref.values())),
              sum(1 for v in want_ch.values() if v[0] or v[1]),
              sum(1 for c in ref.values() if c.settle_plan), sum(1 for v in want_ch.values()
                                                                 if v[1]),
              money(sum(v[2] for v in want_ch.values())),
              sum(1 for v in want_inv.values() if v[0] == "written_off")))
    # The stream really exercised them.
    assert sum(1 for v in want_ch.values() if v[1]) > 0
    assert sum(1 for c in ref.values() if c.interest > 0) > 0
