"""test_interactions.py - recobro-interactions end to end against the real stack: invoice events
through recobro-overdue, interaction events through recobro-interactions, tasks and case events
through the relay; features, segments, contact compliance (quiet period, opt-outs), disputes,
forbearance, task loops and the DLQ checked in Kafka, PostgreSQL, Redis and `recobroctl case
show`. The overdue worker runs at T0 and the interactions worker may run days later (RECOBRO_NOW),
so the strategy's later steps (a day-7 call) are due without a scheduler."""
import json
from datetime import datetime, timedelta

import pytest

import stackutil as su
from conftest import worker_env

POLICY = su.ROOT / "deploy" / "policy" / "default.json"
T0 = "2026-11-25T10:00:00Z"
T7 = "2026-12-02T10:00:00Z"


@pytest.fixture
def it(names):
    names["inv"] = "it.%s.inv" % names["rid"]
    names["events"] = "it.%s.events" % names["rid"]
    su.create_topics([names["inv"], names["events"]])
    names["creditor"] = "cr-" + names["rid"]
    return names


def envs(names, now, group):
    env = worker_env(names, RECOBRO_TOPIC_INVOICES=names["inv"],
                     RECOBRO_TOPIC_INTERACTIONS=names["in"],
                     RECOBRO_TOPIC_CASE_EVENTS=names["events"], RECOBRO_NOW=now,
                     RECOBRO_POLICY_FILE=str(POLICY))
    env["RECOBRO_GROUP_ID"] = names["group"] + "-" + group
    return env


def start(services, names, ov_now=T0, it_now=T0):
    ov = services("recobro-overdue", envs(names, ov_now, "ov"))
    ia = services("recobro-interactions", envs(names, it_now, "ia"))
    services("recobro-relay", envs(names, ov_now, "relay"))
    return ov, ia


def overdue(names, eid, debtor, inv="INV-1", amount="300.00", due_on="2026-10-01"):
    data = {"creditor_id": names["creditor"], "debtor_id": debtor,
            "creditor_name": "ACME Telecom S.L.",
            "debtor": {"id": debtor, "name": "Lucía Fernández", "timezone": "Europe/Madrid",
                       "country": "ES"},
            "invoice": {"id": inv, "currency": "EUR", "amount": amount, "open_amount": amount,
                        "due_on": due_on}}
    return su.event("erp/acme", "%s-%s" % (names["rid"], eid), "invoice.overdue", data)


def inter(names, eid, debtor, etype, **data):
    data.update({"creditor_id": names["creditor"], "debtor_id": debtor})
    return su.event("crm/desk", "%s-%s" % (names["rid"], eid), etype, data)


def contact(names, eid, debtor, channel, outcome, at=T0, **extra):
    return inter(names, eid, debtor, "contact.attempted", channel=channel, outcome=outcome, at=at,
                 **extra)


def send(names, topic, debtor, *payloads):
    key = "%s/%s" % (names["creditor"], debtor)
    su.produce(names[topic], [(key, p, None) for p in payloads])


def cached(names, debtor):
    raw = su.rds().get("recobro:case:%s:%s" % (names["creditor"], debtor))
    return json.loads(raw) if raw else None


def wait_cache(names, debtor, pred, what):
    return su.wait_for(lambda: (lambda c: c if c and pred(c) else None)(cached(names, debtor)),
                       timeout=90, what=what)


def read(names, topic, want, debtor, etype=None, timeout=90, pred=None):
    def p(m):
        ev = json.loads(m.value())
        return (ev["data"].get("debtor_id") == debtor and (etype is None or ev["type"] == etype)
                and (pred is None or pred(ev)))
    return [json.loads(m.value()) for m in su.consume(names[topic], want, timeout=timeout,
                                                      predicate=p)]


def features(names, debtor):
    return su.query("SELECT features FROM debt_case WHERE creditor_id = %s AND debtor_id = %s",
                    names["creditor"], debtor)[0][0]


def case_show(names, debtor):
    return json.loads(su.recobroctl("case", "show", names["creditor"], debtor).stdout)


def evasive_case(names, debtor):
    """A case in `evasive` since T0 (an earlier right-party contact recorded in its counters),
    whose day-7 call is due when the interactions worker runs at T7."""
    send(names, "inv", debtor, overdue(names, debtor + "-o1", debtor))
    wait_cache(names, debtor, lambda c: c["segment"] == "unaware", "unaware")
    su.query("UPDATE debt_case SET features = %s::jsonb WHERE creditor_id = %s AND "
             "debtor_id = %s RETURNING 1",
             json.dumps({"ever_contacted": True, "right_party_contacts": 1}),
             names["creditor"], debtor)
    send(names, "inv", debtor, overdue(names, debtor + "-o2", debtor))
    wait_cache(names, debtor, lambda c: c["segment"] == "evasive", "evasive")


def due_call(names, debtor):
    """Triggers planning at T7 with a harmless contact and returns the day-7 call task."""
    send(names, "in", debtor, contact(names, debtor + "-sms", debtor, "sms", "delivered", at=T7))
    calls = read(names, "out", 1, debtor, "task.created",
                 pred=lambda e: e["data"]["action"] == "call")
    return calls[0]["data"]


# ---- the scenarios ---------------------------------------------------------------------------

def test_contact_attempts_change_features_and_segment(it, services):
    d = "D-refuse"
    send(it, "inv", d, overdue(it, "o1", d, due_on="2026-10-31"))
    _, ia = start(services, it)
    wait_cache(it, d, lambda c: c["segment"] == "unaware", "unaware")
    send(it, "in", d,
         contact(it, "c1", d, "phone", "no_answer", at="2026-11-24T09:00:00Z"),
         contact(it, "c2", d, "phone", "refused", at="2026-11-24T12:00:00Z", agent_id="ag-7",
                 stage="recognized", techniques=["empathy"], objections=["not_now"]),
         contact(it, "c3", d, "visit", "refused", at="2026-11-25T09:00:00Z",
                 objections=["cannot_pay"]))
    c = wait_cache(it, d, lambda c: c["segment"] == "evasive", "evasive after two refusals")
    f = features(it, d)
    assert (f["contact_attempts"], f["refusal_count"], f["right_party_contacts"]) == (3, 2, 2)
    assert f["attempts_without_answer"] == 0 and f["ever_contacted"] is True
    assert f["hardship_objections"] == 1 and f["stage"] == "recognized"
    assert c["stage"] == "recognized" and c["calls_left_7d"] == 5
    assert c["last_contact_at"] == "2026-11-25T10:00:00+01:00"
    # The phone is in its quiet period after the right-party call of the 24th.
    assert c["next_allowed"]["phone"] >= "2026-12-01T13:00:00+01:00"
    assert c["next_allowed"]["sms"] is not None
    seg = read(it, "events", 2, d, "case.segment_changed")
    assert seg[-1]["data"]["rule"] == "evasive.refusals"
    shown = case_show(it, d)
    assert [x["outcome"] for x in shown["recent_contacts"]] == ["refused", "refused", "no_answer"]
    assert shown["recent_contacts"][1]["techniques"] == ["empathy"]
    assert shown["calls_left_7d"] == 5
    assert su.query("SELECT count(*) FROM contact_log WHERE creditor_id = %s", it["creditor"]) \
        == [(3,)]
    assert "Lucía" not in ia.tail(200)


def test_right_party_call_defers_the_next_call_seven_days(it, services):
    d = "D-quiet"
    start(services, it, it_now=T7)
    evasive_case(it, d)
    # A right-party phone conversation just before the day-7 call is planned.
    send(it, "in", d, contact(it, "rpc", d, "phone", "right_party", at="2026-12-02T09:00:00Z"))
    call = read(it, "out", 1, d, "task.created", pred=lambda e: e["data"]["action"] == "call")[0]
    t = call["data"]
    nb = datetime.fromisoformat(t["not_before"])
    assert nb >= datetime.fromisoformat("2026-12-09T09:00:00+00:00")
    assert nb - datetime.fromisoformat("2026-12-02T09:00:00+00:00") >= timedelta(days=7)
    assert t["reason"].endswith("deferred (quiet_after_rpc)")


def test_right_party_call_withdraws_a_call_already_planned(it, services):
    """Regression (found by the compliance checker): a call planned before a right-party phone
    conversation must not stay live inside the quiet days that conversation starts."""
    d = "D-late-rpc"
    start(services, it, it_now=T7)
    evasive_case(it, d)
    call = due_call(it, d)
    assert call["not_before"] == "2026-12-02T11:00:00+01:00"
    send(it, "in", d, contact(it, "rpc", d, "phone", "right_party", at="2026-12-02T10:00:00Z"))
    cancels = read(it, "out", 1, d, "task.cancelled")
    assert [(c["data"]["task_id"], c["data"]["reason"]) for c in cancels] == \
        [(call["task_id"], "quiet_after_rpc")]
    assert su.query("SELECT status, reason FROM task WHERE creditor_id = %s AND task_id = %s",
                    it["creditor"], call["task_id"]) == [("cancelled", "quiet_after_rpc")]


def test_opt_out_of_calls_withdraws_the_pending_call(it, services):
    d = "D-optout"
    _, ia = start(services, it, it_now=T7)
    evasive_case(it, d)
    call = due_call(it, d)
    assert call["not_before"] == "2026-12-02T11:00:00+01:00"
    send(it, "in", d, inter(it, "pref", d, "contact.preferences", do_not_call=True))
    cancels = read(it, "out", 1, d, "task.cancelled")
    assert cancels[0]["data"] == {"creditor_id": it["creditor"], "debtor_id": d,
                                  "task_id": call["task_id"], "reason": "opt_out_call"}
    assert cancels[0]["source"] == "recobro/interactions"  # who acted (CONTRACT.md)
    c = wait_cache(it, d, lambda c: c["next_allowed"]["phone"] is None, "phone closed")
    assert c["next_allowed"]["email"] is not None
    assert su.query("SELECT do_not_call, do_not_sms FROM contact_preference WHERE "
                    "creditor_id = %s", it["creditor"]) == [(True, False)]
    assert su.query("SELECT status, reason FROM task WHERE creditor_id = %s AND task_id = %s",
                    it["creditor"], call["task_id"]) == [("cancelled", "opt_out_call")]


def test_dispute_upheld_and_rejected(it, services):
    up, rej = "D-upheld", "D-rejected"
    start(services, it, it_now=T7)
    evasive_case(it, up)
    evasive_case(it, rej)
    send(it, "inv", up, overdue(it, "up-o3", up, inv="INV-2", amount="50.00"))
    wait_cache(it, up, lambda c: c["balance"] == "350.00", "two invoices")
    call_up, call_rej = due_call(it, up), due_call(it, rej)
    for d, call in ((up, call_up), (rej, call_rej)):
        send(it, "in", d, inter(it, d + "-dis", d, "debt.disputed", at=T7,
                                reason="Says the line was never hers", invoice_id="INV-1"))
        cancel = read(it, "out", 1, d, "task.cancelled",
                      pred=lambda e, i=call["task_id"]: e["data"]["task_id"] == i)[0]
        assert cancel["data"]["reason"] == "disputed"
        c = wait_cache(it, d, lambda c: c["segment"] == "disputed", "disputed")
        assert c["status"] == "paused"
        docs = read(it, "out", 2, d, "task.created",
                    pred=lambda e: e["data"]["segment"] == "disputed")
        assert {x["data"]["action"] for x in docs} == {"validation_notice", "invoice_copy"}
    # Upheld: INV-1 is cancelled, INV-2 stays; paying... the balance follows.
    send(it, "in", up, inter(it, "up-res", up, "dispute.resolved", at=T7, outcome="upheld"))
    c = wait_cache(it, up, lambda c: c["balance"] == "50.00", "INV-1 cancelled")
    assert c["segment"] != "disputed" and c["status"] == "open"
    assert su.query("SELECT invoice_id, status FROM invoice WHERE creditor_id = %s AND "
                    "debtor_id = %s ORDER BY invoice_id", it["creditor"], up) == [
        ("INV-1", "cancelled"), ("INV-2", "open")]
    # Upheld on the last invoice resolves the case.
    send(it, "in", up, inter(it, "up-dis2", up, "debt.disputed", at=T7, reason="x",
                             invoice_id="INV-2"),
         inter(it, "up-res2", up, "dispute.resolved", at=T7, outcome="upheld",
               invoice_id="INV-2"))
    c = wait_cache(it, up, lambda c: c["status"] == "resolved", "resolved")
    assert c["balance"] == "0.00"
    assert read(it, "events", 1, up, "case.resolved")[0]["data"]["reason"] == "cancelled"
    # Rejected: the strategy resumes (out of `disputed`, collection planned again).
    send(it, "in", rej, inter(it, "rej-res", rej, "dispute.resolved", at=T7, outcome="rejected"))
    c = wait_cache(it, rej, lambda c: c["segment"] == "evasive", "strategy resumed")
    assert c["status"] == "open" and c["balance"] == "300.00"
    assert features(it, rej)["open_dispute"] is False
    assert su.query("SELECT outcome FROM dispute WHERE creditor_id = %s AND debtor_id = %s",
                    it["creditor"], rej) == [("rejected",)]


def test_forbearance_withdraws_collection_tasks(it, services):
    d = "D-forb"
    start(services, it, it_now=T7)
    evasive_case(it, d)
    call = due_call(it, d)
    send(it, "in", d, inter(it, "forb", d, "forbearance.granted", reason="hospitalised",
                            **{"from": "2026-11-30", "until": "2026-12-20"}))
    cancel = read(it, "out", 1, d, "task.cancelled")[0]
    assert cancel["data"]["task_id"] == call["task_id"]
    assert cancel["data"]["reason"] == "forbearance"
    c = wait_cache(it, d, lambda c: c["status"] == "paused", "paused")
    assert c["paused_until"] == "2026-12-20"
    assert c["next_allowed"]["phone"] >= "2026-12-21T08:00:00+01:00"


def test_contact_with_task_id_closes_the_task(it, services):
    d = "D-loop"
    send(it, "inv", d, overdue(it, "o1", d))
    start(services, it)
    tasks = read(it, "out", 2, d, "task.created")
    letter, email = tasks[0]["data"], tasks[1]["data"]
    send(it, "in", d,
         contact(it, "l1", d, "letter", "delivered", task_id=letter["task_id"]),
         contact(it, "e1", d, "email", "delivery_failed", task_id=email["task_id"]))
    su.wait_for(lambda: su.query(
        "SELECT task_id, status FROM task WHERE creditor_id = %s AND debtor_id = %s AND "
        "status IN ('done', 'failed') ORDER BY status", it["creditor"], d) ==
        [(letter["task_id"], "done"), (email["task_id"], "failed")], what="tasks closed")
    f = features(it, d)
    assert f["delivery_failures"] == 1 and f["contact_attempts"] == 2


def test_bad_interaction_events_go_to_dlq_and_good_ones_apply(it, services):
    d = "D-bad"
    ev = lambda eid, t, **data: inter(it, eid, d, t, **data)
    bad = [
        ("malformed_json", b'{"specversion": "1.0", "id": '),
        ("unknown_type", ev("b1", "payment.received", payment_id="P1", amount="1.00",
                            currency="EUR", received_at=T0)),
        ("schema_violation", ev("b2", "contact.attempted", channel="pigeon", outcome="delivered",
                                at=T0)),
        ("invalid_date", ev("b3", "contact.attempted", channel="phone", outcome="no_answer",
                            at="2026-11-25 10:00")),
        ("invalid_timezone", ev("b4", "contact.preferences", timezone="+01:00")),
        ("schema_violation", ev("b5", "contact.preferences")),
        ("schema_violation", ev("b6", "forbearance.granted", reason="x",
                                **{"from": "2026-12-10", "until": "2026-12-01"})),
        ("schema_violation", ev("b7", "dispute.resolved", at=T0, outcome="maybe")),
    ]
    msgs = []
    for i, (_, payload) in enumerate(bad):
        msgs.append(contact(it, "g%d" % i, d, "phone", "no_answer",
                            at="2026-11-2%dT10:00:00Z" % (i % 5)))
        msgs.append(payload)
    send(it, "in", d, *msgs)
    send(it, "inv", d, overdue(it, "o1", d))
    start(services, it)
    dlq = su.consume(it["dlq"], len(bad), timeout=90)
    assert sorted(dict(m.headers())["recobro-error"].decode() for m in dlq) == \
        sorted(code for code, _ in bad)
    for m in dlq:
        assert dict(m.headers())["recobro-service"] == b"interactions"
    su.wait_for(lambda: features(it, d).get("contact_attempts") == len(bad),
                what="every good contact applied")
    assert features(it, d)["attempts_without_answer"] == len(bad)


def test_promise_made_is_recorded_through_the_payments_store(it, services):
    d = "D-promise"
    send(it, "inv", d, overdue(it, "o1", d))
    start(services, it)
    wait_cache(it, d, lambda c: c["segment"] == "unaware", "unaware")
    send(it, "in", d, inter(it, "p1", d, "promise.made", promise_id="PR-1", amount="100.00",
                            currency="EUR", due_on="2026-12-10", agent_id="ag-1"))
    su.wait_for(lambda: su.query("SELECT count(*) FROM promise WHERE creditor_id = %s AND "
                                 "debtor_id = %s", it["creditor"], d) == [(1,)],
                what="promise recorded")
