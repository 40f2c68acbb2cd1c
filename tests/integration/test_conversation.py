"""test_conversation.py - the policy's conversation rules end to end (objection and hardship
codes, techniques, stage rules of deploy/policy/default.json): interaction events through Kafka,
recobro-overdue and recobro-interactions, the case checked in PostgreSQL and `recobroctl case
show` (payments with their allocations, disputes with their reasons, the segment history with
rule and policy, promise techniques). A hardship code the old hard-coded list did not know (temporary_unemployment) makes the
debtor willing_unable; a debtor who accepted the debt and then disputes it goes back to stage
none; promise.made's techniques are stored with the promise."""
import json

import psycopg
import pytest
from confluent_kafka.admin import AdminClient

import stackutil as su
from conftest import worker_env

POLICY = su.ROOT / "deploy" / "policy" / "default.json"
T0 = "2026-11-25T10:00:00Z"


@pytest.fixture
def cv(names):
    name = "recobro_it_" + names["rid"]
    names["dsn"] = su.create_database(name)
    names["inv"] = "it.%s.inv" % names["rid"]
    names["pay"] = "it.%s.pay" % names["rid"]
    names["events"] = "it.%s.events" % names["rid"]
    su.create_topics([names["inv"], names["pay"], names["events"]])
    names["creditor"] = "cr-" + names["rid"]
    yield names
    names["drop_db"] = name


@pytest.fixture(autouse=True)
def _drop_private_db(request):
    yield
    names = request.node.funcargs.get("cv")
    if names and names.get("drop_db"):
        su.drop_database(names["drop_db"])
    if names:  # the broker keeps a file per partition: leave no test topics behind
        topics = [names[k] for k in ["in", "out", "dlq"] + ["inv", "pay", "events"]]
        AdminClient({"bootstrap.servers": su.BROKERS}).delete_topics(topics, operation_timeout=10)


def envs(names, group):
    env = worker_env(names, RECOBRO_TOPIC_INVOICES=names["inv"],
                     RECOBRO_TOPIC_INTERACTIONS=names["in"], RECOBRO_TOPIC_PAYMENTS=names["pay"],
                     RECOBRO_TOPIC_CASE_EVENTS=names["events"], RECOBRO_NOW=T0,
                     RECOBRO_POLICY_FILE=str(POLICY), RECOBRO_PG_DSN=names["dsn"])
    env["RECOBRO_GROUP_ID"] = names["group"] + "-" + group
    return env


def event(names, eid, etype, debtor_id, **data):
    data.update({"creditor_id": names["creditor"], "debtor_id": debtor_id})
    return su.event("crm/desk", "%s-%s" % (names["rid"], eid), etype, data)


def send(names, topic, debtor, *payloads):
    su.produce(names[topic], [("%s/%s" % (names["creditor"], debtor), p, None) for p in payloads])


def case_row(names, debtor):
    with psycopg.connect(names["dsn"], autocommit=True) as c:
        r = c.execute("SELECT segment, rule, stage, features FROM debt_case WHERE creditor_id = %s "
                      "AND debtor_id = %s", (names["creditor"], debtor)).fetchone()
    return r


def wait_case(names, debtor, pred, what):
    return su.wait_for(lambda: (lambda r: r if r and pred(r) else None)(case_row(names, debtor)),
                       timeout=90, what=what)


def test_codes_and_stage_rules_of_the_policy(cv, services):
    services("recobro-overdue", envs(cv, "ov"))
    services("recobro-interactions", envs(cv, "ia"))
    services("recobro-payments", envs(cv, "pay"))
    d = "D-conv"
    overdue = {"creditor_name": "ACME", "debtor": {"id": d, "name": "Ana", "timezone":
                                                   "Europe/Madrid", "country": "ES"},
               "invoice": {"id": "INV-1", "currency": "EUR", "amount": "300.00",
                           "open_amount": "300.00", "due_on": "2026-10-01"}}
    send(cv, "inv", d, event(cv, "e1", "invoice.overdue", d, **overdue))
    wait_case(cv, d, lambda r: r[0] is not None, "the case")
    send(cv, "in", d, event(cv, "e2", "contact.attempted", d, channel="phone",
                            outcome="right_party", at="2026-11-25T09:00:00Z", stage="accepted",
                            objections=["temporary_unemployment"], techniques=["empathy"]))
    seg, rule, stage, f = wait_case(cv, d, lambda r: r[3].get("hardship_objections") == 1,
                                    "the hardship objection counted")
    assert (seg, rule, stage) == ("willing_unable", "willing_unable.hardship", "accepted")
    send(cv, "in", d, event(cv, "e3", "promise.made", d, promise_id="PR-1", amount="50.00",
                            currency="EUR", due_on="2026-11-30",
                            techniques=["precise_date", "options_offer"]))
    wait_case(cv, d, lambda r: r[2] == "date_agreed", "promise.made raises the stage")
    # The debtor who accepted the debt disputes it: back to the start.
    send(cv, "in", d, event(cv, "e4", "debt.disputed", d, at="2026-11-25T09:30:00Z",
                            reason="says the amount is not theirs"))
    seg, _, stage, f = wait_case(cv, d, lambda r: r[0] == "disputed", "the dispute")
    assert stage == "none" and f["stage"] == "none" and f["hardship_objections"] == 1
    with psycopg.connect(cv["dsn"], autocommit=True) as c:
        techniques = c.execute("SELECT techniques FROM promise WHERE creditor_id = %s AND "
                               "promise_id = 'PR-1'", (cv["creditor"],)).fetchone()[0]
    assert techniques == ["precise_date", "options_offer"]
    # A code the policy does not list is recorded and has no effect.
    send(cv, "in", d, event(cv, "e5", "contact.attempted", d, channel="phone",
                            outcome="right_party", at="2026-11-25T09:45:00Z",
                            objections=["made_up_excuse"]))
    with psycopg.connect(cv["dsn"], autocommit=True) as c:
        su.wait_for(lambda: c.execute("SELECT count(*) FROM contact_log WHERE creditor_id = %s "
                                      "AND 'made_up_excuse' = ANY(objections)",
                                      (cv["creditor"],)).fetchone()[0] == 1, what="recorded")
    assert case_row(cv, d)[3]["hardship_objections"] == 1
    send(cv, "pay", d, event(cv, "e6", "payment.received", d, payment_id="PAY-1", amount="50.00",
                             currency="EUR", received_at="2026-11-25T09:50:00Z",
                             method="bank_transfer"))
    with psycopg.connect(cv["dsn"], autocommit=True) as c:
        su.wait_for(lambda: c.execute("SELECT count(*) FROM payment WHERE creditor_id = %s",
                                      (cv["creditor"],)).fetchone()[0] == 1, what="the payment")
    shown = json.loads(su.recobroctl("case", "show", cv["creditor"], d,
                                     env={"RECOBRO_PG_DSN": cv["dsn"]}).stdout)
    assert shown["stage"] == "none" and shown["policy_id"] == "default"
    assert shown["policy_version"] == 1
    assert shown["policy_in_force"] == {"policy_id": "default", "policy_version": 1, "own": False}
    pay = shown["payments"]
    assert [(p["payment_id"], p["amount"], p["status"], p["method"]) for p in pay] == [
        ("PAY-1", "50.00", "received", "bank_transfer")]
    assert pay[0]["allocations"] == [{"invoice_id": "INV-1", "amount": "50.00",
                                      "from_credit": False, "reversed": False}]
    assert [(x["reason"], x["outcome"]) for x in shown["disputes"]] == [
        ("says the amount is not theirs", None)]
    hist = shown["segment_history"]
    assert [(h["from"], h["to"], h["rule"], h["policy_id"], h["policy_version"])
            for h in reversed(hist)][:3] == [
        (None, "unaware", "unaware.no_right_party_contact", "default", 1),
        ("unaware", "willing_unable", "willing_unable.hardship", "default", 1),
        ("willing_unable", "disputed", "disputed.open_dispute", "default", 1)]
    assert hist[0]["balance"].endswith(".00") and hist[0]["seq"] == len(hist)
    assert [(p["promise_id"], p["techniques"]) for p in shown["promises"]] == [
        ("PR-1", ["precise_date", "options_offer"])]
