"""test_overdue.py - recobro-overdue end to end against the real stack: invoice events in through
Kafka; tasks, case events, the DLQ, PostgreSQL, the Redis hot case and `recobroctl case show`
checked. Each test has its own topics, consumer group, creditor and debtors; the clock is fixed
with RECOBRO_NOW and moved by restarting the worker (its offsets live in PostgreSQL)."""
import json
import subprocess
from datetime import datetime
from zoneinfo import ZoneInfo

import jsonschema
import pytest
import referencing
import referencing.jsonschema

import stackutil as su
from conftest import worker_env

POLICY = su.ROOT / "deploy" / "policy" / "default.json"
SCHEMAS = su.ROOT / "proto" / "schemas"


# ---- helpers ---------------------------------------------------------------------------------

def _registry():
    resources = []
    for path in SCHEMAS.rglob("*.schema.json"):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], referencing.jsonschema.DRAFT202012.create_resource(schema)))
    return referencing.Registry().with_resources(resources)


REGISTRY = _registry()


def check_schema(rel, instance):
    schema = json.loads((SCHEMAS / rel).read_text())
    jsonschema.Draft202012Validator(schema, registry=REGISTRY).validate(instance)


def envs(names, now, **extra):
    env = worker_env(names, RECOBRO_TOPIC_CASE_EVENTS=names["events"], RECOBRO_NOW=now,
                     RECOBRO_POLICY_FILE=str(POLICY))
    env.update(extra)
    return env


@pytest.fixture
def ov(names):
    names["events"] = "it.%s.events" % names["rid"]
    su.create_topics([names["events"]])
    names["creditor"] = "cr-" + names["rid"]
    return names


def overdue(rid, eid, creditor, debtor, inv, amount, due_on, tz="Europe/Madrid", currency="EUR",
            open_amount=None, number=None, source="erp/acme-billing"):
    invoice = {"id": inv, "currency": currency, "amount": amount,
               "open_amount": open_amount or amount, "due_on": due_on, "issued_on": "2026-09-01"}
    if number:
        invoice["number"] = number
    data = {"creditor_id": creditor, "debtor_id": debtor, "creditor_name": "ACME Telecom S.L.",
            "debtor": {"id": debtor, "name": "Lucía Fernández Ortega", "timezone": tz,
                       "country": "ES", "phone": "+34600111222",
                       "email": "lucia@example.com"},
            "invoice": invoice}
    return su.event(source, "%s-%s" % (rid, eid), "invoice.overdue", data)


def adjusted(rid, eid, creditor, debtor, inv, open_amount, currency="EUR"):
    return su.event("erp/acme-billing", "%s-%s" % (rid, eid), "invoice.adjusted",
                    {"creditor_id": creditor, "debtor_id": debtor, "invoice_id": inv,
                     "open_amount": open_amount, "currency": currency})


def cancelled(rid, eid, creditor, debtor, inv):
    return su.event("erp/acme-billing", "%s-%s" % (rid, eid), "invoice.cancelled",
                    {"creditor_id": creditor, "debtor_id": debtor, "invoice_id": inv,
                     "reason": "billing error"})


def send(names, debtor, *payloads):
    key = "%s/%s" % (names["creditor"], debtor)
    su.produce(names["in"], [(key, p, None) for p in payloads])


def read(topic, want, timeout=90, debtor=None, etype=None):
    def pred(m):
        ev = json.loads(m.value())
        return ((debtor is None or ev["data"]["debtor_id"] == debtor) and
                (etype is None or ev["type"] == etype))
    return [json.loads(m.value()) for m in su.consume(topic, want, timeout=timeout,
                                                      predicate=pred)]


def cached(creditor, debtor):
    raw = su.rds().get("recobro:case:%s:%s" % (creditor, debtor))
    return json.loads(raw) if raw else None


def wait_cache(creditor, debtor, pred, what):
    return su.wait_for(lambda: (lambda c: c if c and pred(c) else None)(cached(creditor, debtor)),
                       timeout=90, what=what)


def case_show(creditor, debtor, env=None, check=True):
    r = su.recobroctl("case", "show", creditor, debtor, env=env, check=check)
    return json.loads(r.stdout) if r.returncode == 0 else r


def start(services, names, now, relay=True, **extra):
    ov_ = services("recobro-overdue", envs(names, now, **extra))
    if relay:
        services("recobro-relay", envs(names, now, **extra))
    return ov_


def local(instant, tz):
    t = datetime.fromisoformat(instant)
    return t, t.astimezone(ZoneInfo(tz))


def assert_in_window(task, tz):
    """not_before/not_after carry the zone's own offset and, for channels with hours, lie inside
    08:00-21:00 local time."""
    nb, nb_local = local(task["not_before"], tz)
    na, na_local = local(task["not_after"], tz)
    assert nb.utcoffset() == nb_local.utcoffset(), task["not_before"]
    assert na.utcoffset() == na_local.utcoffset(), task["not_after"]
    assert nb < na
    if task["channel"] in ("phone", "sms", "email", "visit"):
        assert nb_local.date() == na_local.date()
        assert (8, 0) <= (nb_local.hour, nb_local.minute)
        assert (na_local.hour, na_local.minute) <= (21, 0)


# ---- the scenarios ---------------------------------------------------------------------------

def test_new_debtor_first_task_documents_the_debt(ov, services):
    rid, cr, d = ov["rid"], ov["creditor"], "D-new"
    send(ov, d, overdue(rid, "e1", cr, d, "INV-1", "120.00", "2026-10-31", number="F-0001"))
    ovd = start(services, ov, "2026-11-25T10:00:00Z")

    tasks = read(ov["out"], 2, debtor=d)
    assert [t["type"] for t in tasks] == ["task.created", "task.created"]
    first = tasks[0]
    for ev in tasks:
        check_schema("cloudevent.schema.json", ev)
        check_schema("data/task.created.schema.json", ev["data"])
        assert ev["id"] == ev["data"]["task_id"]
        assert ev["source"] == "recobro/overdue"
    t = first["data"]
    # The first contact identifies the creditor and carries the invoice.
    assert t["action"] == "validation_notice" and t["channel"] == "letter"
    assert t["creditor_name"] == "ACME Telecom S.L."
    assert t["invoices"] == [{"id": "INV-1", "number": "F-0001", "open_amount": "120.00",
                              "due_on": "2026-10-31"}]
    assert (t["creditor_id"], t["debtor_id"], t["currency"], t["balance"]) == (cr, d, "EUR",
                                                                               "120.00")
    assert t["days_past_due"] == 25
    assert (t["segment"], t["strategy"], t["step"]) == ("unaware", "unaware", 1)
    assert t["variant"] == "champion" and t["policy_version"] >= 1
    assert t["reason"].startswith("segment unaware, step 1")
    assert t["promise"] is None and t["template"] == "unaware.validation_notice"
    assert t["not_before"] == "2026-11-25T11:00:00+01:00"  # now, Madrid time
    second = tasks[1]["data"]
    assert (second["action"], second["channel"], second["step"]) == ("invoice_copy", "email", 2)
    for ev in tasks:
        assert_in_window(ev["data"], "Europe/Madrid")
    # Keyed by the case.
    msgs = su.consume(ov["out"], 2, timeout=30)
    assert {m.key().decode() for m in msgs} == {"%s/%s" % (cr, d)}

    seg = read(ov["events"], 1, debtor=d)
    assert seg[0]["type"] == "case.segment_changed"
    check_schema("data/case.segment_changed.schema.json", seg[0]["data"])
    assert (seg[0]["data"]["from"], seg[0]["data"]["to"]) == (None, "unaware")
    assert seg[0]["data"]["rule"] == "unaware.no_right_party_contact"

    c = wait_cache(cr, d, lambda c: c["version"] >= 1, "hot case")
    check_schema("cache.case.schema.json", c)
    assert (c["balance"], c["segment"], c["status"], c["stage"]) == ("120.00", "unaware", "open",
                                                                     "none")
    assert c["days_past_due"] == 25 and c["calls_left_7d"] == 7
    assert c["next_action"]["action"] == "reminder"  # step 3, day 5
    assert c["next_action"]["not_before"].startswith("2026-11-30T")
    assert su.rds().ttl("recobro:case:%s:%s" % (cr, d)) > 0

    shown = case_show(cr, d)
    for k, v in c.items():
        if k != "updated_at":
            assert shown[k] == v, k
    assert shown["invoices"][0]["id"] == "INV-1"
    assert shown["promises"] == [] and shown["plan"] is None and shown["recent_contacts"] == []
    assert [x["action"] for x in shown["tasks"]] == ["invoice_copy", "validation_notice"]
    assert all(x["status"] == "pending" for x in shown["tasks"])
    missing = case_show(cr, "nobody", check=False)
    assert missing.returncode == 1 and len(missing.stderr.strip().splitlines()) == 1

    assert ovd.metric("recobro_tasks_created_total", 'action="validation_notice"') >= 1
    # No personal data in the logs.
    assert "Lucía" not in ovd.tail(200) and "600111222" not in ovd.tail(200)


def test_resent_invoice_moves_the_case_across_segments(ov, services):
    rid, cr, d = ov["rid"], ov["creditor"], "D-seg"
    inv = lambda n: overdue(rid, "e%d" % n, cr, d, "INV-1", "300.00", "2026-11-10")

    send(ov, d, inv(1))
    o = start(services, ov, "2026-11-25T10:00:00Z")
    wait_cache(cr, d, lambda c: c["segment"] == "unaware", "unaware")
    # The interactions service would record a conversation; simulate its counters.
    su.query("UPDATE debt_case SET features = %s::jsonb WHERE creditor_id = %s AND "
             "debtor_id = %s RETURNING 1",
             json.dumps({"ever_contacted": True, "right_party_contacts": 1}), cr, d)
    send(ov, d, inv(2))
    wait_cache(cr, d, lambda c: c["segment"] == "forgetful", "forgetful at 15 days")
    o.stop()

    send(ov, d, inv(3))
    o = start(services, ov, "2026-12-20T10:00:00Z", relay=False)
    wait_cache(cr, d, lambda c: c["segment"] == "evasive", "evasive at 40 days")
    o.stop()

    send(ov, d, inv(4))
    start(services, ov, "2027-05-20T10:00:00Z", relay=False)
    c = wait_cache(cr, d, lambda c: c["segment"] == "chronic", "chronic at 191 days")
    assert c["days_past_due"] == 191

    seg = read(ov["events"], 4, debtor=d)
    assert [(e["data"]["from"], e["data"]["to"], e["data"]["rule"]) for e in seg] == [
        (None, "unaware", "unaware.no_right_party_contact"),
        ("unaware", "forgetful", "forgetful.early"),
        ("forgetful", "evasive", "evasive.default"),
        ("evasive", "chronic", "chronic.long_unpaid")]
    assert [e["data"]["days_past_due"] for e in seg] == [15, 15, 40, 191]
    for e in seg:
        check_schema("data/case.segment_changed.schema.json", e["data"])
    tasks = read(ov["out"], 4, debtor=d, etype="task.created")
    firsts = [(t["data"]["segment"], t["data"]["step"], t["data"]["action"]) for t in tasks]
    # carry_days (default.json: 30 on evasive and chronic): a segment change does not restart the
    # escalation. forgetful -> evasive after 25 days skips evasive's day-0 letter; evasive ->
    # chronic after 151 days goes straight to chronic's day-30 legal review (as the vector
    # overdue/resent-invoice-crosses-segments).
    assert firsts == [("unaware", 1, "validation_notice"), ("unaware", 2, "invoice_copy"),
                      ("forgetful", 1, "invoice_copy"), ("chronic", 4, "legal_review")]
    assert su.query("SELECT to_segment FROM segment_history WHERE creditor_id = %s AND "
                    "debtor_id = %s ORDER BY seq", cr, d) == [
        ("unaware",), ("forgetful",), ("evasive",), ("chronic",)]


def test_adjustment_and_cancellation_change_the_balance(ov, services):
    rid, cr, d = ov["rid"], ov["creditor"], "D-adj"
    send(ov, d, overdue(rid, "o1", cr, d, "INV-1", "100.00", "2026-10-01"),
         overdue(rid, "o2", cr, d, "INV-2", "50.00", "2026-11-01"))
    start(services, ov, "2026-11-25T10:00:00Z")
    wait_cache(cr, d, lambda c: c["balance"] == "150.00", "both invoices")
    send(ov, d, adjusted(rid, "a1", cr, d, "INV-1", "80.00"))
    c = wait_cache(cr, d, lambda c: c["balance"] == "130.00", "adjusted")
    assert c["days_past_due"] == 55
    send(ov, d, cancelled(rid, "c2", cr, d, "INV-2"))
    wait_cache(cr, d, lambda c: c["balance"] == "80.00", "INV-2 cancelled")
    assert [i["id"] for i in case_show(cr, d)["invoices"]] == ["INV-1"]
    send(ov, d, cancelled(rid, "c1", cr, d, "INV-1"))
    c = wait_cache(cr, d, lambda c: c["status"] == "resolved", "resolved")
    assert (c["balance"], c["segment"]) == ("0.00", "resolved")

    created = read(ov["out"], 3, debtor=d, etype="task.created")
    ids = [t["data"]["task_id"] for t in created[:2]]
    cancels = read(ov["out"], 2, debtor=d, etype="task.cancelled")
    for ev in cancels:
        check_schema("data/task.cancelled.schema.json", ev["data"])
    assert sorted(e["data"]["task_id"] for e in cancels) == sorted(ids)
    assert {e["data"]["reason"] for e in cancels} == {"resolved"}
    assert created[2]["data"]["action"] == "thank_you"
    assert created[2]["data"]["balance"] == "0.00" and created[2]["data"]["invoices"] == []
    evs = read(ov["events"], 3, debtor=d)
    resolved = [e for e in evs if e["type"] == "case.resolved"]
    assert len(resolved) == 1 and resolved[0]["data"]["reason"] == "cancelled"
    check_schema("data/case.resolved.schema.json", resolved[0]["data"])
    assert su.query("SELECT status, count(*) FROM task WHERE creditor_id = %s AND debtor_id = %s "
                    "GROUP BY status ORDER BY status", cr, d) == [("cancelled", 2), ("pending", 1)]


def test_duplicate_event_has_no_second_effect(ov, services):
    rid, cr, d = ov["rid"], ov["creditor"], "D-dup"
    e1 = overdue(rid, "e1", cr, d, "INV-1", "75.50", "2026-11-01")
    send(ov, d, e1, e1, cancelled(rid, "marker", cr, d, "INV-unknown"))
    o = start(services, ov, "2026-11-25T10:00:00Z")
    c = wait_cache(cr, d, lambda c: c["version"] >= 2, "both events")
    send(ov, d, e1)  # once more, after the commit
    o.stop()
    start(services, ov, "2026-11-25T10:00:00Z", relay=False)
    assert len(read(ov["out"], 10, timeout=8, debtor=d)) == 2
    assert len(read(ov["events"], 10, timeout=3, debtor=d)) == 1
    assert case_show(cr, d)["version"] == 2 == c["version"]
    assert su.query("SELECT count(*) FROM task WHERE creditor_id = %s", cr) == [(2,)]


def test_bad_events_go_to_dlq_and_good_ones_behind_them_apply(ov, services):
    rid, cr, d = ov["rid"], ov["creditor"], "D-bad"
    good = lambda n, amt: overdue(rid, "g%d" % n, cr, d, "INV-%d" % n, amt, "2026-11-01")
    ev = lambda eid, t, data: su.event("erp/acme-billing", "%s-%s" % (rid, eid), t, data)
    base = json.loads(good(0, "1.00"))["data"]

    def variant(**changes):
        data = json.loads(json.dumps(base))
        for path, value in changes.items():
            obj = data
            keys = path.split("__")
            for k in keys[:-1]:
                obj = obj[k]
            if value is None:
                del obj[keys[-1]]
            else:
                obj[keys[-1]] = value
        return data

    bad = [
        ("malformed_json", b'{"specversion": "1.0", "id": '),
        ("schema_violation", ev("b1", "invoice.overdue", variant(debtor__timezone=None))),
        ("unknown_type", ev("b2", "payment.received",
                            {"creditor_id": cr, "debtor_id": d, "payment_id": "P1",
                             "amount": "1.00", "currency": "EUR",
                             "received_at": "2026-11-20T10:00:00Z"})),
        ("invalid_amount", ev("b3", "invoice.overdue", variant(invoice__amount=12.5))),
        ("invalid_currency", ev("b4", "invoice.overdue", variant(invoice__currency="EUD"))),
        ("invalid_date", ev("b5", "invoice.overdue", variant(invoice__due_on="2026-02-30"))),
        ("invalid_timezone", ev("b6", "invoice.overdue", variant(debtor__timezone="+01:00"))),
        ("currency_mismatch", ev("b7", "invoice.overdue",
                                 variant(invoice__currency="USD", invoice__id="INV-usd"))),
        ("currency_mismatch", adjusted(rid, "b8", cr, d, "INV-1", "1.00", currency="GBP")),
    ]
    msgs = [good(1, "10.00")]
    for i, (_, payload) in enumerate(bad):
        msgs.append(payload)
        msgs.append(good(i + 2, "10.00"))
    send(ov, d, *msgs)
    start(services, ov, "2026-11-25T10:00:00Z")

    dlq = su.consume(ov["dlq"], len(bad), timeout=90)
    assert sorted(dict(m.headers())["recobro-error"].decode() for m in dlq) == \
        sorted(code for code, _ in bad)
    sent = {p if isinstance(p, bytes) else p.encode() for _, p in bad}
    for m in dlq:
        h = dict(m.headers())
        assert m.value() in sent  # byte for byte
        assert h["recobro-service"] == b"overdue"
        assert m.key().decode() == "%s/%s" % (cr, d)
    total = "%.2f" % (10 * (len(bad) + 1))
    c = wait_cache(cr, d, lambda c: c["balance"] == total, "every good event applied")
    assert c["currency"] == "EUR"
    assert su.query("SELECT count(*) FROM invoice WHERE creditor_id = %s", cr) == [(len(bad) + 1,)]


@pytest.mark.parametrize("tz, now, first_local, email_nb", [
    # Auckland (+13:00 in summer): 23:00 local, the e-mail waits for 08:00 next morning.
    ("Pacific/Auckland", "2026-11-25T10:00:00Z", "2026-11-25T23:00:00+13:00",
     "2026-11-26T08:00:00+13:00"),
    # Los Angeles the night the clocks go back (1 Nov 2026): 23:30 PDT, the e-mail at 08:00 PST.
    ("America/Los_Angeles", "2026-11-01T06:30:00Z", "2026-10-31T23:30:00-07:00",
     "2026-11-01T08:00:00-08:00"),
    # Madrid the night the clocks go back (25 Oct 2026): 22:30 CEST, the e-mail at 08:00 CET.
    ("Europe/Madrid", "2026-10-24T20:30:00Z", "2026-10-24T22:30:00+02:00",
     "2026-10-25T08:00:00+01:00"),
])
def test_far_time_zones_get_local_windows(ov, services, tz, now, first_local, email_nb):
    rid, cr, d = ov["rid"], ov["creditor"], "D-tz"
    send(ov, d, overdue(rid, "e1", cr, d, "INV-1", "40.00", "2026-10-01", tz=tz))
    o = start(services, ov, now)
    tasks = [t["data"] for t in read(ov["out"], 2, debtor=d)]
    letter, email = tasks
    assert letter["channel"] == "letter" and letter["not_before"] == first_local
    assert email["channel"] == "email" and email["not_before"] == email_nb
    assert email["reason"].endswith("deferred (outside_window)")
    for t in tasks:
        assert_in_window(t, tz)
    assert o.metric("recobro_tasks_deferred_total", 'reason="outside_window"') >= 1
    c = wait_cache(cr, d, lambda c: True, "hot case")
    assert local(c["next_action"]["not_before"], tz)[0].utcoffset() == \
        local(c["next_action"]["not_before"], tz)[1].utcoffset()


def test_policy_commands_and_live_reload(ov, services, tmp_path):
    """policy show/load against the shared database (read-only checks), and a full load cycle in a
    database of its own, so the shared active policy is never changed."""
    start(services, ov, "2026-11-25T10:00:00Z", relay=False).stop()  # a policy is loaded
    shown = su.recobroctl("policy", "show")
    active = json.loads(shown.stdout)
    assert active["version"] >= 1 and "segmentation" in active
    r = su.recobroctl("policy", "load", str(POLICY), check=False)
    assert r.returncode == 1 and "not newer than the active version" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    broken = tmp_path / "broken.json"
    broken.write_text('{"version": 9}')
    r = su.recobroctl("policy", "load", str(broken), check=False)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1

    db = "recobro_it_" + ov["rid"]
    dsn = su.create_database(db)
    ov["drop_db"] = db  # dropped after the services are stopped (_drop_private_db)
    env = {"RECOBRO_PG_DSN": dsn}
    # No policy anywhere: the worker refuses to start, with one line.
    e = envs(ov, "2026-11-25T10:00:00Z", RECOBRO_PG_DSN=dsn, RECOBRO_POLICY_FILE="")
    p = subprocess.run([str(su.BIN / "recobro-overdue")], env={**su.ENV, **e},
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "no policy" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    # First start imports RECOBRO_POLICY_FILE (version 1).
    start(services, ov, "2026-11-25T10:00:00Z", RECOBRO_PG_DSN=dsn)
    cr = ov["creditor"]
    send(ov, "D-p1", overdue(ov["rid"], "p1", cr, "D-p1", "INV-1", "10.00", "2026-11-01"))
    t1 = read(ov["out"], 1, debtor="D-p1")[0]["data"]
    assert t1["policy_version"] == 1
    v2 = json.loads(POLICY.read_text())
    v2["version"] = 2
    (tmp_path / "v2.json").write_text(json.dumps(v2))
    r = su.recobroctl("policy", "load", str(tmp_path / "v2.json"), env=env)
    assert "version 2" in r.stdout
    assert json.loads(su.recobroctl("policy", "show", env=env).stdout)["version"] == 2
    # The running worker picks it up within a few seconds, without a restart.
    def v2_task():
        v2_task.n += 1
        debtor = "D-p2-%d" % v2_task.n
        send(ov, debtor, overdue(ov["rid"], "p2-%d" % v2_task.n, cr, debtor, "INV-1", "10.00",
                                 "2026-11-01"))
        ts = read(ov["out"], 1, timeout=20, debtor=debtor)
        return ts and ts[0]["data"]["policy_version"] == 2
    v2_task.n = 0
    su.wait_for(v2_task, timeout=60, interval=1, what="policy version 2 in use")


@pytest.fixture(autouse=True)
def _drop_private_db(request):
    yield
    names = request.node.funcargs.get("ov")
    if names and names.get("drop_db"):
        # The services fixture tears down before this one: nothing is connected any more.
        su.drop_database(names["drop_db"])
