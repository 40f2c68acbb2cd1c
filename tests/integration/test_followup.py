"""test_followup.py - follow-up planning end to end (CONTRACT.md, "Additions, version 2"):
promises and plans hold the ladder and get a promise_reminder, a broken promise its follow-up at
once, callbacks at the asked time with the debtor's consent, skip tracing, restore_service and
the task's queue. Events go through Kafka to the real workers (recobro-overdue,
recobro-interactions, recobro-payments), time moves with `recobroctl scheduler tick --now`, and
tasks are read from Kafka through the relay.

Each test has its own topics, groups, creditor and private database (test_promises.py's
fixture and helpers). Debtors are in Europe/Madrid (UTC+1 in November-December)."""
import json

import stackutil as su
from test_promises import (T0, cached, db, inter, key, open_cases, overdue, payment,  # noqa: F401
                           payments_at, pr, promise, read, rpc, send, start, tick, wait_cache)


def tasks(n, d, want=10 ** 6, settle=4, pred=None):
    """The task.created / task.cancelled of debtor d so far, in order."""
    return read(n, "out", want, d, timeout=settle, pred=pred)


def created(n, d, **kw):
    return [t["data"] for t in tasks(n, d, **kw) if t["type"] == "task.created"]


def wait_task(n, d, pred, what, timeout=60):
    got = read(n, "out", 1, d, timeout=timeout,
               pred=lambda e: e["type"] == "task.created" and pred(e["data"]))
    assert got, "no task: " + what
    return got[0]["data"]


def restart_interactions(services, n, now, old):
    old.stop()
    from test_promises import envs
    return services("recobro-interactions", envs(n, now, "ia"))


def contact(n, eid, d, outcome, at, channel="phone", **extra):
    return inter(n, eid, d, "contact.attempted", channel=channel, outcome=outcome, at=at, **extra)


# ---- Promises steer the work ------------------------------------------------------------------

def test_promise_holds_the_ladder_reminds_and_follows_up(pr, services):
    """A forgetful case (15 days past due, reached at T0) promises 100.00 for 1 December. Its
    ladder's day-3 reminder (28 November) waits; the promise_reminder opens at 00:00 on 30
    November in Madrid (the tick of 23:00Z) for 08:00; nothing else presses until the end of the
    grace (4 December); the tick of 5 December 00:00 breaks the promise and plans the new
    segment's first call at once, for 08:00 that morning."""
    d = "D-hold"
    start(services, pr)
    open_cases(pr, [d])
    send(pr, "in", d, rpc(pr, d), promise(pr, "p1", d, "PR-H", "100.00", "2026-12-01"))
    c = wait_cache(pr, d, lambda c: c["open_promise"] is not None, "promise open")
    assert c["next_action"]["action"] == "promise_reminder"
    assert c["next_action"]["not_before"] == "2026-11-30T00:00:00+01:00"
    tick(pr, "2026-11-28T23:30:00Z")  # 29 Nov 00:30 local: day 4, the day-3 reminder is held
    tick(pr, "2026-11-29T22:59:59Z")
    assert not [t for t in created(pr, d) if t["action"] == "promise_reminder"]
    tick(pr, "2026-11-29T23:00:00Z")  # 30 Nov 00:00 local: the reminder opens
    r = wait_task(pr, d, lambda t: t["action"] == "promise_reminder", "promise_reminder")
    assert (r["channel"], r["not_before"], r["queue"]) == \
        ("sms", "2026-11-30T08:00:00+01:00", "standard")
    assert r["promise"] == {"promise_id": "PR-H", "amount": "100.00", "currency": "EUR",
                            "due_on": "2026-12-01"}
    tick(pr, "2026-12-04T22:59:59Z")  # the last second of the grace: still held
    pressing = {"reminder", "call", "final_notice", "plan_offer", "restrict_service",
                "legal_review"}
    assert not [t for t in created(pr, d) if t["action"] in pressing]
    tick(pr, "2026-12-04T23:00:00Z")  # 5 Dec 00:00 local: broken
    assert read(pr, "events", 1, d, "promise.broken")
    f = wait_task(pr, d, lambda t: t["action"] == "call", "follow-up call")
    assert f["reason"].startswith("promise PR-H broken: follow-up"), f["reason"]
    assert (f["channel"], f["not_before"]) == ("phone", "2026-12-05T08:00:00+01:00")
    # Exactly one reminder, whatever the ticks in between.
    assert len([t for t in created(pr, d) if t["action"] == "promise_reminder"]) == 1


def test_promise_withdraws_pending_collection_tasks(pr, services):
    """An unaware case's day-5 SMS reminder is planned at 07:00 on 30 November for 08:00; a
    promise made at 07:30 withdraws it (promise_pending) before it goes out."""
    d = "D-wd"
    ia = start(services, pr)
    open_cases(pr, [d], segment="unaware")
    tick(pr, "2026-11-30T06:00:00Z")
    rem = wait_task(pr, d, lambda t: t["action"] == "reminder", "day-5 reminder")
    assert rem["not_before"] == "2026-11-30T08:00:00+01:00"
    restart_interactions(services, pr, "2026-11-30T06:30:00Z", ia)
    send(pr, "in", d, promise(pr, "p1", d, "PR-W", "300.00", "2026-12-03"))
    got = read(pr, "out", 1, d, timeout=60, pred=lambda e: e["type"] == "task.cancelled")
    assert got and got[0]["data"]["task_id"] == rem["task_id"]
    assert got[0]["data"]["reason"] == "promise_pending"


def test_plan_reminds_before_each_installment(pr, services):
    """An instalment plan (down payment none, 150.00 on 10 and 20 December) holds the ladder and
    gets a promise_reminder the day before each instalment, with plan_id."""
    from test_promises import plan
    d = "D-plan"
    start(services, pr)
    open_cases(pr, [d])
    send(pr, "in", d, rpc(pr, d),
         plan(pr, "pl1", d, "PL-1", [("2026-12-10", "150.00"), ("2026-12-20", "150.00")]))
    wait_cache(pr, d, lambda c: c["active_plan"] is not None, "plan active")
    tick(pr, "2026-12-08T23:00:00Z")
    r = wait_task(pr, d, lambda t: t["action"] == "promise_reminder", "first instalment")
    assert r["promise"]["plan_id"] == "PL-1" and r["promise"]["due_on"] == "2026-12-10"
    assert r["not_before"] == "2026-12-09T08:00:00+01:00"
    pay = payments_at(services, pr, "2026-12-10T12:00:00Z")
    send(pr, "pay", d, payment(pr, d, "PAY-1", "150.00", "2026-12-10T09:00:00Z"))
    wait_cache(pr, d, lambda c: c["balance"] == "150.00", "first instalment paid")
    pay.stop()
    tick(pr, "2026-12-18T23:00:00Z")
    r = wait_task(pr, d, lambda t: t["action"] == "promise_reminder" and
                  t["promise"]["due_on"] == "2026-12-20", "second instalment")
    assert r["promise"]["amount"] == "150.00"
    assert not [t for t in created(pr, d) if t["action"] in ("call", "reminder")]


# ---- Callbacks -----------------------------------------------------------------------------------

def test_callback_at_the_asked_time_with_consent(pr, services):
    """A conversation at T0 starts the quiet period; the debtor then asks to be called back at
    19:30 the next evening: a call at 19:30-20:30, reason callback, inside the quiet period. A
    callback asked for 20:30 (half an hour of window left) goes to 08:00 the day after. A
    callback_at that is not an instant goes to the DLQ."""
    start(services, pr)
    open_cases(pr, ["D-cb", "D-late"], segment="unaware")
    for d, cb in (("D-cb", "2026-11-26T19:30:00+01:00"), ("D-late", "2026-11-26T20:30:00+01:00")):
        send(pr, "in", d, rpc(pr, d),
             contact(pr, "cb", d, "callback_requested", "2026-11-25T09:30:00Z", callback_at=cb))
    c = wait_task(pr, "D-cb", lambda t: t["reason"] == "callback", "callback")
    assert (c["action"], c["channel"], c["not_before"], c["not_after"]) == \
        ("call", "phone", "2026-11-26T19:30:00+01:00", "2026-11-26T20:30:00+01:00")
    c = wait_task(pr, "D-late", lambda t: t["reason"] == "callback", "late callback")
    assert (c["not_before"], c["not_after"]) == \
        ("2026-11-27T08:00:00+01:00", "2026-11-27T09:00:00+01:00")
    # The callback itself started no quiet period: the last conversation is still T0's.
    assert db(pr, "SELECT followup->'callback'->>'until' FROM debt_case WHERE creditor_id = %s "
                  "AND debtor_id = %s", pr["creditor"], "D-cb")[0][0] is not None
    # Bad input: callback_at not an instant.
    bad = contact(pr, "bad", "D-cb", "callback_requested", "2026-11-25T09:40:00Z",
                  callback_at="tomorrow evening")
    send(pr, "in", "D-cb", bad)
    dlq = su.consume(pr["dlq"], 1, timeout=60)
    assert dlq and dict(dlq[0].headers())["recobro-error"] == b"invalid_date"


# ---- Skip tracing, restore, queue --------------------------------------------------------------

def test_skip_trace_after_six_unreached_attempts_or_a_wrong_party(pr, services):
    start(services, pr)
    open_cases(pr, ["D-st", "D-wp"], segment="unaware")
    for i, day in enumerate(["01", "05", "09", "13", "17"]):
        send(pr, "in", "D-st", contact(pr, "a%d" % i, "D-st", "no_answer",
                                       "2026-11-%sT10:00:00Z" % day))
    su.wait_for(lambda: cached(pr, "D-st") and cached(pr, "D-st")["version"] >= 6, timeout=60,
                what="five attempts applied")
    assert not [t for t in created(pr, "D-st") if t["action"] == "skip_trace"]
    send(pr, "in", "D-st", contact(pr, "a5", "D-st", "voicemail", "2026-11-21T10:00:00Z"))
    s = wait_task(pr, "D-st", lambda t: t["action"] == "skip_trace", "skip trace")
    assert (s["channel"], s["reason"]) == ("internal", "unreached: 6 attempts in 30 days")
    send(pr, "in", "D-st", contact(pr, "a6", "D-st", "no_answer", "2026-11-24T10:00:00Z"))
    send(pr, "in", "D-wp", contact(pr, "w", "D-wp", "wrong_party", "2026-11-24T10:00:00Z"))
    w = wait_task(pr, "D-wp", lambda t: t["action"] == "skip_trace", "wrong party")
    assert w["reason"] == "wrong party reached: skip trace"
    assert len([t for t in created(pr, "D-st") if t["action"] == "skip_trace"]) == 1


def test_restore_service_after_restriction_and_senior_queue(pr, services):
    """An evasive case walks its ladder to the day-45 restrict_service; paid in full, it gets a
    restore_service. A high-value case's tasks go to the senior queue."""
    d = "D-rs"
    start(services, pr)
    send(pr, "inv", d, overdue(pr, d, due_on="2026-09-01"))
    send(pr, "in", d, rpc(pr, d))
    send(pr, "inv", "D-hv", overdue(pr, "D-hv", amount="6000.00"))
    wait_cache(pr, d, lambda c: c["segment"] == "evasive", "evasive")
    for day in ("2026-12-02", "2026-12-09", "2026-12-16", "2026-12-25", "2027-01-09"):
        tick(pr, day + "T10:00:00Z")
    r = wait_task(pr, d, lambda t: t["action"] == "restrict_service", "restrict_service")
    assert r["queue"] == "standard"
    payments_at(services, pr, "2027-01-10T10:00:00Z")
    send(pr, "pay", d, payment(pr, d, "PAY-R", "300.00", "2027-01-10T09:00:00Z"))
    s = wait_task(pr, d, lambda t: t["action"] == "restore_service", "restore_service")
    assert (s["channel"], s["reason"]) == ("internal", "restore service: case resolved")
    hv = created(pr, "D-hv", settle=10)
    assert hv and all(t["queue"] == "senior" for t in hv), [t.get("queue") for t in hv]


# ---- Forbearances, delivery fallback, carried escalation ---------------------------------------

def test_forbearance_in_force_and_its_early_end(pr, services):
    """A forbearance 25 Nov - 10 Dec, then a back-dated one that ended in October: planning still
    obeys the first (the bug of issue 13): the day-5 reminder waits for 11 December.
    forbearance.ended on 1 December ends it: the day-10 call goes out on 5 December instead of
    waiting for the 11th. A bad `on` goes to the DLQ."""
    d = "D-fb"
    ia = start(services, pr)
    open_cases(pr, [d], segment="unaware")
    send(pr, "in", d,
         inter(pr, "f1", d, "forbearance.granted", **{"from": "2026-11-25", "until": "2026-12-10",
                                                       "reason": "hardship"}),
         inter(pr, "f2", d, "forbearance.granted", **{"from": "2026-10-01", "until": "2026-10-05",
                                                       "reason": "old"}))
    c = wait_cache(pr, d, lambda c: c["version"] >= 3, "both forbearances applied")
    assert (c["status"], c.get("paused_until")) == ("paused", "2026-12-10")
    tick(pr, "2026-11-30T06:00:00Z")
    r = wait_task(pr, d, lambda t: t["action"] == "reminder", "day-5 reminder")
    assert r["not_before"] == "2026-12-11T08:00:00+01:00", r["not_before"]
    restart_interactions(services, pr, "2026-11-30T07:00:00Z", ia)
    send(pr, "in", d, inter(pr, "f3", d, "forbearance.ended", on="2026-12-01",
                            reason="back at work"))
    wait_cache(pr, d, lambda c: c.get("paused_until") == "2026-11-30", "ended early")
    assert db(pr, "SELECT from_on::text, ended_on::text FROM forbearance WHERE creditor_id = %s "
                  "AND ended_on IS NOT NULL", pr["creditor"]) == [("2026-11-25", "2026-12-01")]
    tick(pr, "2026-12-04T23:10:00Z")  # 5 Dec 00:10 local: day 10
    call = wait_task(pr, d, lambda t: t["action"] == "call", "day-10 call after the early end")
    assert call["not_before"] == "2026-12-05T08:00:00+01:00", call["not_before"]
    send(pr, "in", d, inter(pr, "f4", d, "forbearance.ended", on="tomorrow"))
    dlq = su.consume(pr["dlq"], 1, timeout=60)
    assert dlq and dict(dlq[0].headers())["recobro-error"] == b"invalid_date"


def test_delivery_failure_falls_back_and_escalation_is_carried(pr, services):
    """The unaware day-0 invoice copy by e-mail bounces: it goes again by SMS (default.json's
    fallback_channels). A forgetful case that becomes evasive after 25 days continues the
    evasive ladder at day 25 (carry_days 30): no day-0 letter again."""
    start(services, pr)
    open_cases(pr, ["D-df"], segment="unaware")
    e = wait_task(pr, "D-df", lambda t: t["action"] == "invoice_copy", "invoice copy")
    assert e["channel"] == "email"
    send(pr, "in", "D-df", contact(pr, "df", "D-df", "delivery_failed", "2026-11-25T09:50:00Z",
                                   channel="email", task_id=e["task_id"]))
    s = wait_task(pr, "D-df", lambda t: t["action"] == "invoice_copy" and t["channel"] == "sms",
                  "fallback by sms")
    assert s["reason"] == "step 2: email failed, fallback to sms"
    d = "D-carry"
    send(pr, "inv", d, overdue(pr, d))
    send(pr, "in", d, rpc(pr, d))
    wait_cache(pr, d, lambda c: c["segment"] == "forgetful", "forgetful")
    tick(pr, "2026-12-20T10:00:00Z")  # 40 days past due: evasive, 25 days after entering
    c = wait_cache(pr, d, lambda c: c["segment"] == "evasive", "evasive")
    assert not [t for t in created(pr, d) if t["segment"] == "evasive"]
    assert (c["next_action"]["action"], c["next_action"]["not_before"][:10]) == \
        ("call", "2026-12-25")
