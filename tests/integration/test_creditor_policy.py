"""test_creditor_policy.py - per-creditor policies end to end (CONTRACT.md, "Per-creditor
policies"), in a database of the test's own so the shared active policy is never changed: the
default policy (deploy/policy/default.json) and es.json for one creditor loaded with `recobroctl
policy load --creditor`; invoice events of two creditors through Kafka, recobro-overdue and the
relay; each creditor's tasks carry the policy_version of its own policy; a policy loaded for a
creditor while the worker runs is picked up without a restart; the scheduler's sweep plans each
case under its creditor's policy; `case show` names the policy; bad arguments are refused."""
import json

import pytest
from confluent_kafka.admin import AdminClient

import stackutil as su
from conftest import worker_env

DEFAULT = su.ROOT / "deploy" / "policy" / "default.json"
ES = su.ROOT / "deploy" / "policy" / "es.json"
T0 = "2026-11-25T10:00:00Z"


@pytest.fixture
def db(names):
    name = "recobro_it_" + names["rid"]
    dsn = su.create_database(name)
    names["env"] = {"RECOBRO_PG_DSN": dsn}
    names["events"] = "it.%s.events" % names["rid"]
    su.create_topics([names["events"]])
    yield names
    names["drop_db"] = name


@pytest.fixture(autouse=True)
def _drop_private_db(request):
    yield
    names = request.node.funcargs.get("db")
    if names and names.get("drop_db"):
        su.drop_database(names["drop_db"])
    if names:  # the broker keeps a file per partition: leave no test topics behind
        topics = [names[k] for k in ["in", "out", "dlq"] + ["events"]]
        AdminClient({"bootstrap.servers": su.BROKERS}).delete_topics(topics, operation_timeout=10)


def ctl(names, *args, check=True):
    env = dict(names["env"], RECOBRO_TOPIC_TASKS=names["out"],
               RECOBRO_TOPIC_CASE_EVENTS=names["events"])
    return su.recobroctl(*args, env=env, check=check)


def envs(names, now=T0):
    return worker_env(names, RECOBRO_TOPIC_CASE_EVENTS=names["events"], RECOBRO_NOW=now,
                      RECOBRO_POLICY_FILE="", **names["env"])


def overdue(names, eid, creditor, debtor, amount="120.00", due_on="2026-10-20"):
    data = {"creditor_id": creditor, "debtor_id": debtor, "creditor_name": "Creditor " + creditor,
            "debtor": {"id": debtor, "name": "Ana Ruiz", "timezone": "Europe/Madrid",
                       "country": "ES"},
            "invoice": {"id": "INV-1", "currency": "EUR", "amount": amount,
                        "open_amount": amount, "due_on": due_on}}
    return su.event("erp/billing", "%s-%s" % (names["rid"], eid), "invoice.overdue", data)


def send(names, creditor, debtor, payload):
    su.produce(names["in"], [("%s/%s" % (creditor, debtor), payload, None)])


def tasks_of(names, creditor, debtor, want=1, timeout=90):
    def pred(m):
        ev = json.loads(m.value())
        return ev["data"]["creditor_id"] == creditor and ev["data"]["debtor_id"] == debtor
    return [json.loads(m.value())["data"]
            for m in su.consume(names["out"], want, timeout=timeout, predicate=pred)]


def test_each_creditor_is_planned_under_its_own_policy(db, services, tmp_path):
    rid = db["rid"]
    es_cr, def_cr, late_cr = "es-" + rid, "us-" + rid, "late-" + rid
    ctl(db, "policy", "load", str(DEFAULT))
    r = ctl(db, "policy", "load", str(ES), "--creditor", es_cr)
    assert "version 2 loaded and active for creditor " + es_cr in r.stdout
    listed = json.loads(ctl(db, "policy", "list").stdout)
    assert listed["default"]["policy_id"] == "default"
    assert listed["default"]["policy_version"] == 1
    assert [(c["creditor_id"], c["policy_id"], c["policy_version"])
            for c in listed["creditors"]] == [(es_cr, "es", 2)]
    shown = ctl(db, "policy", "show", "--creditor", es_cr)
    assert json.loads(shown.stdout)["name"] == "es" and shown.stderr == ""
    shown = ctl(db, "policy", "show", "--creditor", def_cr)
    assert json.loads(shown.stdout)["name"] == "default"
    assert "no policy of its own" in shown.stderr

    services("recobro-overdue", envs(db))
    services("recobro-relay", envs(db))
    send(db, es_cr, "D-1", overdue(db, "e1", es_cr, "D-1"))
    send(db, def_cr, "D-1", overdue(db, "e2", def_cr, "D-1"))
    t_es = tasks_of(db, es_cr, "D-1")[0]
    t_def = tasks_of(db, def_cr, "D-1")[0]
    assert t_es["policy_version"] == 2 and t_def["policy_version"] == 1
    seg = su.consume(db["events"], 2, predicate=lambda m: json.loads(m.value())["type"] ==
                     "case.segment_changed")
    by_cr = {json.loads(m.value())["data"]["creditor_id"]: json.loads(m.value())["data"]
             for m in seg}
    assert by_cr[es_cr]["policy_version"] == 2 and by_cr[def_cr]["policy_version"] == 1

    # A policy given to one more creditor while the worker runs: picked up without a restart,
    # and the other creditors keep theirs.
    v3 = json.loads(DEFAULT.read_text())
    v3["version"], v3["name"] = 3, "us-strict"
    (tmp_path / "v3.json").write_text(json.dumps(v3))
    ctl(db, "policy", "load", str(tmp_path / "v3.json"), "--creditor", late_cr)

    def planned_under_v3():
        planned_under_v3.n += 1
        debtor = "D-late-%d" % planned_under_v3.n
        send(db, late_cr, debtor, overdue(db, "late-%d" % planned_under_v3.n, late_cr, debtor))
        ts = tasks_of(db, late_cr, debtor, timeout=20)
        return ts and ts[0]["policy_version"] == 3
    planned_under_v3.n = 0
    su.wait_for(planned_under_v3, timeout=60, interval=1, what="creditor policy version 3 in use")
    send(db, es_cr, "D-2", overdue(db, "e3", es_cr, "D-2"))
    assert tasks_of(db, es_cr, "D-2")[0]["policy_version"] == 2

    # The scheduler's sweep plans each case under its creditor's policy (days later, the
    # ladders' next steps are due).
    def task_ids():
        return {m["data"]["task_id"] for m in su.read_all(db["out"]) if m["type"] == "task.created"}
    before = len(task_ids())
    tick = ctl(db, "scheduler", "tick", "--now", "2026-12-09T10:00:00Z")
    stats = json.loads(tick.stdout)
    assert stats["cases"] >= 4 and stats["tasks_created"] > 0, stats
    got = ctl(db, "case", "show", es_cr, "D-1")
    case = json.loads(got.stdout)
    assert case["policy_id"] == "es" and case["policy_version"] == 2
    case = json.loads(ctl(db, "case", "show", def_cr, "D-1").stdout)
    assert case["policy_id"] == "default" and case["policy_version"] == 1

    def swept():
        ts = [m["data"] for m in su.read_all(db["out"]) if m["type"] == "task.created"]
        return ts if len({t["task_id"] for t in ts}) >= before + stats["tasks_created"] else None
    ts = su.wait_for(swept, timeout=60, interval=1, what="the sweep's tasks published")
    for t in ts:
        want = {es_cr: 2, def_cr: 1, late_cr: 3}[t["creditor_id"]]
        assert t["policy_version"] == want, t


def test_policy_commands_refuse_bad_input(db, tmp_path):
    ctl(db, "policy", "load", str(DEFAULT))
    for args in (["policy", "load", str(ES), "--creditor", "bad id"],
                 ["policy", "load", str(ES), "--creditor", "x" * 65],
                 ["policy", "load", str(ES), "--creditor"],
                 ["policy", "load", str(ES), "--creditor", "a", "--creditor", "b"],
                 ["policy", "load"],
                 ["policy", "load", str(ES), str(ES)],
                 ["policy", "load", str(ES), "--frob"],
                 ["policy", "show", "--creditor", "Ä"],
                 ["policy", "show", "extra"],
                 ["policy", "list", "extra"]):
        r = ctl(db, *args, check=False)
        assert r.returncode == 2, (args, r.stderr)
        assert "usage: recobroctl policy" in r.stderr, (args, r.stderr)
    r = ctl(db, "policy", "load", str(tmp_path / "missing.json"), "--creditor", "acme",
            check=False)
    assert r.returncode == 1 and "missing.json" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    broken = tmp_path / "broken.json"
    broken.write_text('{"version": 9, "name": "x"}')
    r = ctl(db, "policy", "load", str(broken), "--creditor", "acme", check=False)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    # A version names one document: another document under version 1 is refused...
    other = json.loads(DEFAULT.read_text())
    other["name"] = "other"
    (tmp_path / "other.json").write_text(json.dumps(other))
    r = ctl(db, "policy", "load", str(tmp_path / "other.json"), "--creditor", "acme", check=False)
    assert r.returncode == 1 and "already used by another document" in r.stderr
    # ... the same document may serve several creditors, and a scope never goes back.
    ctl(db, "policy", "load", str(ES), "--creditor", "acme")
    ctl(db, "policy", "load", str(ES), "--creditor", "zeta")
    r = ctl(db, "policy", "load", str(DEFAULT), "--creditor", "acme", check=False)
    assert r.returncode == 1 and "not newer than the active version 2 of creditor acme" in r.stderr
    assert json.loads(ctl(db, "policy", "list").stdout)["creditors"][1]["creditor_id"] == "zeta"
