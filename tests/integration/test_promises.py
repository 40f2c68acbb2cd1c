"""test_promises.py - promises to pay and instalment plans end to end against the real stack:
invoices through recobro-overdue, promise.made / plan.agreed through recobro-interactions,
payments and reversals through recobro-payments, time moved with `recobroctl scheduler tick
--now`, tasks and case events read from Kafka through the relay; PostgreSQL rows, the Redis hot
case and `recobroctl case show` checked.

Each test has its own topics, consumer groups, creditor and a private database (created,
migrated and dropped here, like test_scheduler.py), so a sweep sees only that test's cases.

Clocks: every worker runs with a fixed RECOBRO_NOW. The day a promise is made is the
interactions worker's local day of its clock; a payment happens on the debtor's local day of its
received_at; a reversal happens on the payments worker's local day of its clock; a tick on the
local day of --now. Workers whose clock must move are stopped and started again (their offsets
live in PostgreSQL), always forward in time. Debtors are in Europe/Madrid (UTC+1 in
November-December), so 23:00Z is already the next local day."""
import json

import psycopg
import pytest

import stackutil as su
from conftest import worker_env

POLICY = su.ROOT / "deploy" / "policy" / "default.json"
TZ = "Europe/Madrid"
T0 = "2026-11-25T10:00:00Z"  # 11:00 in Madrid: the cases are fed, promises made


# ---- helpers ---------------------------------------------------------------------------------

@pytest.fixture
def pr(names):
    names["inv"] = "it.%s.inv" % names["rid"]
    names["pay"] = "it.%s.pay" % names["rid"]
    names["events"] = "it.%s.events" % names["rid"]
    su.create_topics([names["inv"], names["pay"], names["events"]])
    names["creditor"] = "cr-" + names["rid"]
    names["db"] = db = "recobro_prm_" + names["rid"]
    names["dsn"] = su.create_database(db)
    yield names
    # `services` was set up after this fixture, so it is torn down before: nothing connected.
    su.drop_database(db)


def envs(n, now, group):
    env = worker_env(n, RECOBRO_TOPIC_INVOICES=n["inv"], RECOBRO_TOPIC_PAYMENTS=n["pay"],
                     RECOBRO_TOPIC_INTERACTIONS=n["in"], RECOBRO_TOPIC_CASE_EVENTS=n["events"],
                     RECOBRO_NOW=now, RECOBRO_POLICY_FILE=str(POLICY), RECOBRO_PG_DSN=n["dsn"])
    env["RECOBRO_GROUP_ID"] = n["group"] + "-" + group
    return env


def start(services, n, now=T0):
    """overdue, interactions and relay at `now` (payments are started per phase)."""
    services("recobro-relay", envs(n, now, "relay"))
    services("recobro-overdue", envs(n, now, "ov"))
    return services("recobro-interactions", envs(n, now, "ia"))


def payments_at(services, n, now):
    return services("recobro-payments", envs(n, now, "pay"))


def key(n, d):
    return "%s/%s" % (n["creditor"], d)


def send(n, topic, d, *payloads):
    su.produce(n[topic], [(key(n, d), p, None) for p in payloads])


def overdue(n, d, amount="300.00", due_on="2026-11-10", inv="INV-1"):
    data = {"creditor_id": n["creditor"], "debtor_id": d, "creditor_name": "ACME Telecom S.L.",
            "debtor": {"id": d, "name": "Lucía Fernández", "timezone": TZ, "country": "ES"},
            "invoice": {"id": inv, "currency": "EUR", "amount": amount, "open_amount": amount,
                        "due_on": due_on}}
    return su.event("erp/acme", "%s-%s-%s" % (n["rid"], d, inv), "invoice.overdue", data)


def inter(n, eid, d, etype, **data):
    data.update({"creditor_id": n["creditor"], "debtor_id": d})
    return su.event("crm/desk", "%s-%s-%s" % (n["rid"], d, eid), etype, data)


def promise(n, eid, d, pid, amount, due_on, **extra):
    return inter(n, eid, d, "promise.made", promise_id=pid, amount=amount, currency="EUR",
                 due_on=due_on, agent_id="ag-1", **extra)


def plan(n, eid, d, plan_id, installments, down=None, **extra):
    if down is not None:
        extra["down_payment"] = down
    return inter(n, eid, d, "plan.agreed", plan_id=plan_id, currency="EUR",
                 installments=[{"due_on": a, "amount": b} for a, b in installments],
                 agent_id="ag-1", **extra)


def rpc(n, d):
    """A right-party phone contact at T0: the debtor is reached (ever_contacted)."""
    return inter(n, "rpc", d, "contact.attempted", channel="phone", outcome="right_party",
                 at="2026-11-25T09:00:00Z")


def payment(n, d, pid, amount, received_at):
    return su.event("bank/acme", "%s-%s-%s" % (n["rid"], d, pid), "payment.received",
                    {"creditor_id": n["creditor"], "debtor_id": d, "payment_id": pid,
                     "amount": amount, "currency": "EUR", "received_at": received_at,
                     "method": "transfer"})


def reversal(n, d, pid):
    return su.event("bank/acme", "%s-%s-%s-rev" % (n["rid"], d, pid), "payment.reversed",
                    {"creditor_id": n["creditor"], "debtor_id": d, "payment_id": pid,
                     "reason": "insufficient_funds"})


def db(n, sql, *params):
    with psycopg.connect(n["dsn"], autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def tick(n, now):
    r = su.recobroctl("scheduler", "tick", "--now", now, env=envs(n, now, "tick"))
    return json.loads(r.stdout)


def cached(n, d):
    raw = su.rds().get("recobro:case:%s:%s" % (n["creditor"], d))
    return json.loads(raw) if raw else None


def wait_cache(n, d, pred, what, timeout=90):
    return su.wait_for(lambda: (lambda c: c if c and pred(c) else None)(cached(n, d)),
                       timeout=timeout, what=what)


def wait_db(n, sql, params, want, what, timeout=90):
    return su.wait_for(lambda: db(n, sql, *params) == want or None, timeout=timeout, what=what)


def read(n, topic, want, d, etype=None, timeout=60, pred=None):
    def p(m):
        ev = json.loads(m.value())
        return (ev["data"].get("debtor_id") == d and (etype is None or ev["type"] == etype)
                and (pred is None or pred(ev)))
    return [json.loads(m.value()) for m in su.consume(n[topic], want, timeout=timeout,
                                                      predicate=p)]


def promise_events(n, d, settle=3):
    """Every promise.* / plan.* case event of debtor d so far (reads `settle` seconds)."""
    return read(n, "events", 10 ** 6, d, timeout=settle,
                pred=lambda e: e["type"].startswith(("promise.", "plan.")))


def promises(n, d):
    return db(n, "SELECT promise_id, state, paid_toward, pending_approval, cancel_reason "
                 "FROM promise WHERE creditor_id = %s AND debtor_id = %s ORDER BY promise_id",
              n["creditor"], d)


def features(n, d):
    return db(n, "SELECT features FROM debt_case WHERE creditor_id = %s AND debtor_id = %s",
              n["creditor"], d)[0][0]


def case_row(n, d):
    return db(n, "SELECT balance, segment, status FROM debt_case WHERE creditor_id = %s AND "
                 "debtor_id = %s", n["creditor"], d)[0]


def case_show(n, d):
    return json.loads(su.recobroctl("case", "show", n["creditor"], d,
                                    env={"RECOBRO_PG_DSN": n["dsn"]}).stdout)


def open_cases(n, debtors, segment=None):
    """Feeds one 300.00 invoice due 2026-11-10 per debtor (15 days past due at T0)."""
    for d in debtors:
        send(n, "inv", d, overdue(n, d))
    for d in debtors:
        wait_cache(n, d, lambda c: c["balance"] == "300.00" and
                   (segment is None or c["segment"] == segment), "case %s open" % d)


# ---- 1 and 2: the grace boundaries ----------------------------------------------------------

def test_promise_grace_boundaries_kept_broken_partial(pr, services):
    """A promise of 100.00 due 2026-12-01, made at T0 (grace 3: the last day a payment counts is
    2026-12-04 in Madrid). D-kept pays it all at 23:30 on the 4th (Madrid): kept. D-late pays it
    all at 00:30 on the 5th: broken (paid late), and the money still pays the invoice. D-none
    pays nothing: the tick of the 4th leaves it pending and emits nothing, the tick of the 5th
    breaks it, the counter moves and the case re-segments forgetful -> evasive. D-part pays
    40.00: broken with partial true, promises_partially_kept."""
    ds = ["D-kept", "D-late", "D-none", "D-part"]
    start(services, pr)
    open_cases(pr, ds, segment="unaware")
    for d in ds:
        send(pr, "in", d, rpc(pr, d), promise(pr, "p1", d, "PR-" + d, "100.00", "2026-12-01"))
    for d in ds:
        wait_cache(pr, d, lambda c: c["segment"] == "forgetful" and c["open_promise"] and
                   c["open_promise"]["promise_id"] == "PR-" + d, "promise open for " + d)
    assert promises(pr, "D-none") == [("PR-D-none", "pending", 0, False, None)]
    c = cached(pr, "D-none")["open_promise"]
    assert (c["amount"], c["due_on"], c["state"]) == ("100.00", "2026-12-01", "pending")

    # The payments, on their own days; the worker's clock is the 2nd (before any deadline).
    payments_at(services, pr, "2026-12-02T12:00:00Z")
    send(pr, "pay", "D-kept", payment(pr, "D-kept", "PAY-1", "100.00", "2026-12-04T22:30:00Z"))
    send(pr, "pay", "D-late", payment(pr, "D-late", "PAY-1", "100.00", "2026-12-04T23:30:00Z"))
    send(pr, "pay", "D-part", payment(pr, "D-part", "PAY-1", "40.00", "2026-12-02T09:00:00Z"))

    kept = read(pr, "events", 1, "D-kept", "promise.kept")
    assert kept, "no promise.kept for D-kept"
    k = kept[0]
    assert k["source"] == "recobro/payments"
    assert (k["data"]["promise_id"], k["data"]["amount"], k["data"]["paid"],
            k["data"]["due_on"]) == ("PR-D-kept", "100.00", "100.00", "2026-12-01")
    late = read(pr, "events", 1, "D-late", "promise.broken")
    assert late, "no promise.broken for the late payer"
    assert (late[0]["data"]["partial"], late[0]["data"]["paid"]) == (False, "0.00")
    wait_db(pr, "SELECT open_amount FROM invoice WHERE creditor_id = %s AND debtor_id = %s",
            (pr["creditor"], "D-part"), [(26000,)], "D-part's 40.00 allocated")
    wait_cache(pr, "D-late", lambda c: c["balance"] == "200.00", "late money still pays")
    assert promises(pr, "D-kept") == [("PR-D-kept", "kept", 10000, False, None)]
    assert promises(pr, "D-late") == [("PR-D-late", "broken", 0, False, None)]
    assert features(pr, "D-kept")["promises_kept"] == 1
    assert features(pr, "D-late")["promises_broken"] == 1
    assert promises(pr, "D-part") == [("PR-D-part", "pending", 4000, False, None)]

    # Tick on the last grace day (23:59 in Madrid): nothing settles, nothing is emitted.
    s = tick(pr, "2026-12-04T22:59:00Z")
    assert s["failed"] == 0 and s["promises_settled"] == 0, s
    assert promises(pr, "D-none") == [("PR-D-none", "pending", 0, False, None)]
    assert promises(pr, "D-part")[0][1] == "pending"
    assert promise_events(pr, "D-none") == []

    # The next local day: both settle.
    s = tick(pr, "2026-12-04T23:00:30Z")
    assert s["failed"] == 0 and s["promises_settled"] == 2, s
    assert promises(pr, "D-none") == [("PR-D-none", "broken", 0, False, None)]
    assert promises(pr, "D-part") == [("PR-D-part", "partially_kept", 4000, False, None)]
    ev = promise_events(pr, "D-none")
    assert [e["type"] for e in ev] == ["promise.broken"]
    b = ev[0]
    assert b["source"] == "recobro/scheduler"
    assert (b["data"]["promise_id"], b["data"]["partial"], b["data"]["paid"],
            b["data"]["due_on"]) == ("PR-D-none", False, "0.00", "2026-12-01")
    f = features(pr, "D-none")
    assert (f["promises_broken"], f.get("promises_kept", 0)) == (1, 0)
    # forgetful.early needs no broken promise: 25 days past due, one broken -> evasive.default.
    seg = read(pr, "events", 2, "D-none", "case.segment_changed")
    assert [(x["data"]["from"], x["data"]["to"]) for x in seg][-1] == ("forgetful", "evasive")
    assert seg[-1]["data"]["rule"] == "evasive.default"
    assert seg[-1]["source"] == "recobro/scheduler"
    c = wait_cache(pr, "D-none", lambda c: c["segment"] == "evasive", "D-none evasive")
    assert c["open_promise"] is None

    part = read(pr, "events", 1, "D-part", "promise.broken")
    assert part and part[0]["data"]["partial"] is True and part[0]["data"]["paid"] == "40.00"
    f = features(pr, "D-part")
    assert (f["promises_partially_kept"], f.get("promises_broken", 0)) == (1, 0)
    assert case_row(pr, "D-part")[1] == "willing_unable"

    # A kept promise is not touched by the ticks; the shown case tells the story.
    assert promise_events(pr, "D-kept", settle=1)[-1]["type"] == "promise.kept"
    shown = case_show(pr, "D-none")
    assert shown["open_promise"] is None and shown["segment"] == "evasive"
    # The agent sees the promise's history, not only the open one.
    assert [(p["promise_id"], p["state"], p["paid"]) for p in shown["promises"]] == \
        [("PR-D-none", "broken", "0.00")]
    shown = case_show(pr, "D-part")
    assert shown["balance"] == "260.00" and shown["invoices"][0]["open_amount"] == "260.00"


# ---- 3: a reversal after a kept promise -----------------------------------------------------

def test_reversal_after_the_grace_breaks_a_kept_promise(pr, services):
    d = "D-rev"
    start(services, pr)
    open_cases(pr, [d])
    send(pr, "in", d, promise(pr, "p1", d, "PR-1", "80.00", "2026-12-01"))
    wait_cache(pr, d, lambda c: c["open_promise"] is not None, "promise open")
    pay = payments_at(services, pr, "2026-11-28T12:00:00Z")
    send(pr, "pay", d, payment(pr, d, "PAY-1", "80.00", "2026-11-28T09:00:00Z"))
    assert read(pr, "events", 1, d, "promise.kept")
    c = wait_cache(pr, d, lambda c: c["balance"] == "220.00", "paid 80")
    assert c["open_promise"] is None
    assert db(pr, "SELECT open_amount, status FROM invoice WHERE creditor_id = %s",
              pr["creditor"]) == [(22000, "open")]
    pay.stop()

    # The bank bounces it on 10 December, after the grace (deadline 4 December).
    payments_at(services, pr, "2026-12-10T12:00:00Z")
    send(pr, "pay", d, reversal(pr, d, "PAY-1"))
    broken = read(pr, "events", 1, d, "promise.broken")
    assert broken, "no promise.broken after the reversal"
    data = broken[0]["data"]
    assert (data["promise_id"], data["revised"], data["partial"], data["paid"]) == \
        ("PR-1", True, False, "0.00")
    c = wait_cache(pr, d, lambda c: c["balance"] == "300.00", "balance back")
    assert db(pr, "SELECT open_amount, status FROM invoice WHERE creditor_id = %s",
              pr["creditor"]) == [(30000, "open")]
    assert promises(pr, d) == [("PR-1", "broken", 0, False, None)]
    f = features(pr, d)
    assert (f["promises_kept"], f["promises_broken"], f["payments_count"]) == (0, 1, 0)
    assert db(pr, "SELECT status FROM payment WHERE creditor_id = %s", pr["creditor"]) == \
        [("reversed",)]
    # The last event of the promise is its outcome.
    assert [e["type"] for e in promise_events(pr, d)] == ["promise.kept", "promise.broken"]


# ---- 4: plans ---------------------------------------------------------------------------------

PLAN = [("2026-12-05", "90.00"), ("2026-12-15", "90.00"), ("2026-12-25", "90.00")]


def test_plan_completed_and_plan_defaulted(pr, services):
    """Both plans inside the default limits (unaware: 30.00 down = 10% of 300.00, 3 instalments
    of 90.00, 30 days). D-ok pays every instalment on time: completed, and the case resolved at
    zero. D-def pays only the down payment: the tick after the first instalment's grace misses
    one, the tick after the second's defaults the plan (2 missed, the policy's rule)."""
    ok, bad = "D-ok", "D-def"
    start(services, pr)
    open_cases(pr, [ok, bad])
    for d in (ok, bad):
        send(pr, "in", d, plan(pr, "pl", d, "PL-" + d, PLAN, down="30.00"))
    for d in (ok, bad):
        c = wait_cache(pr, d, lambda c: c["active_plan"] is not None, "plan active " + d)
        assert (c["active_plan"]["total"], c["active_plan"]["installments"]) == ("300.00", 4)
        assert c["active_plan"]["installments_left"] == 4
        su.check_schema("cache.case.schema.json", c)
    assert features(pr, ok)["plan_active"] is True
    assert db(pr, "SELECT state, pending_approval, total FROM plan WHERE creditor_id = %s "
                  "ORDER BY plan_id", pr["creditor"]) == [("active", False, 30000)] * 2
    assert db(pr, "SELECT count(*) FROM task WHERE creditor_id = %s AND action = "
                  "'supervisor_review'", pr["creditor"]) == [(0,)]

    def pay_phase(now, items):
        w = payments_at(services, pr, now)
        for d, pid, amount, at in items:
            send(pr, "pay", d, payment(pr, d, pid, amount, at))
        for d, pid, _, _ in items:
            wait_db(pr, "SELECT count(*) FROM payment WHERE creditor_id = %s AND debtor_id = %s "
                        "AND payment_id = %s", (pr["creditor"], d, pid), [(1,)], pid)
        w.stop()

    def plan_row(d):
        return db(pr, "SELECT state, missed, paid FROM plan WHERE creditor_id = %s AND "
                      "debtor_id = %s", pr["creditor"], d)[0]

    pay_phase("2026-11-25T12:00:00Z", [(ok, "DOWN", "30.00", "2026-11-25T11:00:00Z"),
                                       (bad, "DOWN", "30.00", "2026-11-25T11:00:00Z")])
    pay_phase("2026-12-04T12:00:00Z", [(ok, "I1", "90.00", "2026-12-04T10:00:00Z")])
    s = tick(pr, "2026-12-08T12:00:00Z")  # the first instalment's last grace day
    assert s["failed"] == 0 and s["promises_settled"] == 0, s
    assert plan_row(bad) == ("active", 0, 3000)
    s = tick(pr, "2026-12-09T12:00:00Z")  # missed once: not yet defaulted
    assert s["failed"] == 0 and s["promises_settled"] == 1, s
    assert plan_row(bad) == ("active", 1, 3000)
    pay_phase("2026-12-14T12:00:00Z", [(ok, "I2", "90.00", "2026-12-14T10:00:00Z")])
    s = tick(pr, "2026-12-18T12:00:00Z")
    assert plan_row(bad) == ("active", 1, 3000)
    s = tick(pr, "2026-12-19T12:00:00Z")
    assert s["failed"] == 0
    assert plan_row(bad) == ("defaulted", 2, 3000)
    dft = read(pr, "events", 1, bad, "plan.defaulted")
    assert dft, "no plan.defaulted"
    assert (dft[0]["data"]["plan_id"], dft[0]["data"]["missed_installments"],
            dft[0]["data"]["outstanding"]) == ("PL-D-def", 2, "270.00")
    assert dft[0]["source"] == "recobro/scheduler"
    f = features(pr, bad)
    assert (f["plan_defaulted_count"], f["plan_active"]) == (1, False)
    shown = case_show(pr, bad)  # the agent sees the plan and which instalments were missed
    assert shown["plan"]["state"] == "defaulted" and shown["plan"]["missed"] == 2
    assert [i["missed"] for i in shown["plan"]["installments"]] == [False, True, True, False]
    assert wait_cache(pr, bad, lambda c: c["active_plan"] is None, "no active plan")
    missed = [e for e in promise_events(pr, bad) if e["type"] == "promise.broken"]
    assert [(e["data"]["plan_id"], e["data"]["installment"]) for e in missed] == \
        [("PL-D-def", 1), ("PL-D-def", 2)]

    pay_phase("2026-12-24T12:00:00Z", [(ok, "I3", "90.00", "2026-12-24T10:00:00Z")])
    assert plan_row(ok) == ("completed", 0, 30000)
    resolved = read(pr, "events", 1, ok, "case.resolved")
    assert resolved and resolved[0]["data"]["reason"] == "paid"
    c = wait_cache(pr, ok, lambda c: c["status"] == "resolved", "D-ok resolved")
    assert c["balance"] == "0.00" and c["active_plan"] is None
    assert case_row(pr, ok) == (0, "resolved", "resolved")
    kept = [e for e in promise_events(pr, ok) if e["type"] == "promise.kept"]
    assert len(kept) == 4 and all(e["data"]["plan_id"] == "PL-D-ok" for e in kept)
    assert not [e for e in promise_events(pr, ok, settle=1)
                if e["type"] in ("promise.broken", "plan.defaulted")]
    assert features(pr, ok)["plan_active"] is False


# ---- 5: outside the negotiation limits, then approved ---------------------------------------

def test_outside_limits_goes_to_a_supervisor_then_approved(pr, services):
    """unaware uses the default limits: a promise at most 30 days ahead, at most 6
    instalments. A promise 45 days ahead and a plan of 8 instalments are recorded, not applied,
    each with a supervisor_review task (internal); the same ids with approved_by apply them."""
    dp, dl = "D-far", "D-long"
    start(services, pr)
    open_cases(pr, [dp, dl], segment="unaware")
    send(pr, "in", dp, promise(pr, "p1", dp, "PR-FAR", "100.00", "2027-01-09"))
    eight = [("2026-12-%02d" % (1 + 3 * i), "30.00") for i in range(8)]
    send(pr, "in", dl, plan(pr, "pl1", dl, "PL-LONG", eight, down="60.00"))

    for d, kind, ident, limit in ((dp, "promise", "PR-FAR", "max_promise_days"),
                                  (dl, "plan", "PL-LONG", "max_installments")):
        t = read(pr, "out", 1, d, "task.created",
                 pred=lambda e: e["data"]["action"] == "supervisor_review")
        assert t, "no supervisor_review for " + d
        t = t[0]["data"]
        assert (t["channel"], t["template"]) == ("internal", kind + ".supervisor_review")
        assert ident in t["reason"] and limit in t["reason"], t["reason"]
        assert t["balance"] == "300.00"
    assert promises(pr, dp) == [("PR-FAR", "pending", 0, True, None)]
    assert db(pr, "SELECT state, pending_approval FROM plan WHERE creditor_id = %s",
              pr["creditor"]) == [("active", True)]
    for d in (dp, dl):
        c = cached(pr, d)
        assert c["open_promise"] is None and c["active_plan"] is None
    assert features(pr, dl).get("plan_active", False) is False

    # The supervisor approves: the same events, with approved_by.
    send(pr, "in", dp, promise(pr, "p2", dp, "PR-FAR", "100.00", "2027-01-09",
                               approved_by="sup-9"))
    send(pr, "in", dl, plan(pr, "pl2", dl, "PL-LONG", eight, down="60.00", approved_by="sup-9"))
    c = wait_cache(pr, dp, lambda c: c["open_promise"] is not None, "promise applied")
    assert (c["open_promise"]["promise_id"], c["open_promise"]["state"],
            c["open_promise"]["due_on"]) == ("PR-FAR", "pending", "2027-01-09")
    assert db(pr, "SELECT state, pending_approval, approved_by FROM promise WHERE "
                  "creditor_id = %s", pr["creditor"]) == [("pending", False, "sup-9")]
    c = wait_cache(pr, dl, lambda c: c["active_plan"] is not None, "plan applied")
    assert (c["active_plan"]["plan_id"], c["active_plan"]["installments"]) == ("PL-LONG", 9)
    assert db(pr, "SELECT state, pending_approval, approved_by FROM plan WHERE creditor_id = %s",
              pr["creditor"]) == [("active", False, "sup-9")]
    assert features(pr, dl)["plan_active"] is True
    # Exactly one review task each (the approval asks for no other).
    assert db(pr, "SELECT debtor_id, count(*) FROM task WHERE creditor_id = %s AND action = "
                  "'supervisor_review' GROUP BY debtor_id ORDER BY debtor_id",
              pr["creditor"]) == [(dp, 1), (dl, 1)]
    shown = case_show(pr, dp)
    assert shown["open_promise"]["promise_id"] == "PR-FAR"


# ---- 6: a new promise cancels the pending one -----------------------------------------------

def test_new_promise_cancels_the_pending_one(pr, services):
    d = "D-again"
    start(services, pr)
    open_cases(pr, [d])
    send(pr, "in", d, promise(pr, "p1", d, "PR-1", "100.00", "2026-12-01"))
    wait_cache(pr, d, lambda c: c["open_promise"] and c["open_promise"]["promise_id"] == "PR-1",
               "PR-1 open")
    send(pr, "in", d, promise(pr, "p2", d, "PR-2", "150.00", "2026-12-05"))
    c = wait_cache(pr, d, lambda c: c["open_promise"] and
                   c["open_promise"]["promise_id"] == "PR-2", "PR-2 open")
    assert c["open_promise"]["amount"] == "150.00"
    assert promises(pr, d) == [("PR-1", "cancelled", 0, False, "superseded_by_promise"),
                               ("PR-2", "pending", 0, False, None)]
    # A payment counts toward the new one only; the cancelled one never reports.
    payments_at(services, pr, "2026-12-03T12:00:00Z")
    send(pr, "pay", d, payment(pr, d, "PAY-1", "150.00", "2026-12-03T09:00:00Z"))
    kept = read(pr, "events", 1, d, "promise.kept")
    assert kept and kept[0]["data"]["promise_id"] == "PR-2"
    assert promises(pr, d) == [("PR-1", "cancelled", 0, False, "superseded_by_promise"),
                               ("PR-2", "kept", 15000, False, None)]
    assert [e["data"]["promise_id"] for e in promise_events(pr, d)] == ["PR-2"]
    s = tick(pr, "2026-12-20T12:00:00Z")  # long after both deadlines: nothing changes
    assert s["failed"] == 0 and s["promises_settled"] == 0
    f = features(pr, d)
    assert (f["promises_kept"], f.get("promises_broken", 0)) == (1, 0)
