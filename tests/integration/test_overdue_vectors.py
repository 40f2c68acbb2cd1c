"""test_overdue_vectors.py - a subset of the overdue scenario vectors (tests/vectors/overdue/cases,
which ctest also runs through the pure code) run through the real stack: the same events through
Kafka into recobro-overdue, the same outputs expected on the tasks and case-events topics, the
same rejections on the DLQ, the same case in Redis. Only vectors whose steps share one clock and
set no features are eligible (the clock is per process, features belong to other services)."""
import json

import pytest

import stackutil as su
from conftest import worker_env

CASES = su.ROOT / "tests" / "vectors" / "overdue" / "cases"
POLICY = su.ROOT / "deploy" / "policy" / "default.json"
ON_STACK = ["new-debtor-documentation-first", "adjusted-then-cancelled-resolves",
            "adjustment-before-overdue-wins", "currency-mismatch-rejected",
            "auckland-email-deferred-to-morning", "high-value-overlay", "jpy-no-decimals"]
RUNNER_ONLY = {"rule", "segment_seq", "last_step", "segmented", "invoices"}


def subset(expect, actual, where):
    for k, v in expect.items():
        assert k in actual, "%s.%s missing" % (where, k)
        if isinstance(v, dict) and isinstance(actual[k], dict):
            subset(v, actual[k], where + "." + k)
        else:
            assert actual[k] == v, "%s.%s: expected %r, got %r" % (where, k, v, actual[k])


@pytest.mark.parametrize("case", ON_STACK)
def test_vector_on_the_stack(names, services, case):
    events = json.loads((CASES / case / "events.json").read_text())
    expect = json.loads((CASES / case / "expect.json").read_text())
    rid = names["rid"]
    creditor, debtor = "vec-" + rid, events["debtor_id"]
    nows = {s["now"] for s in events["steps"]}
    assert len(nows) == 1 and all("event" in s for s in events["steps"]), "not eligible"
    msgs = []
    for s in events["steps"]:
        ev = s["event"]
        ev["id"] = "%s-%s" % (rid, ev["id"])
        ev["data"]["creditor_id"] = creditor
        msgs.append(("%s/%s" % (creditor, debtor), json.dumps(ev), None))
    names["events"] = "it.%s.events" % rid
    su.create_topics([names["events"]])
    su.produce(names["in"], msgs)
    env = worker_env(names, RECOBRO_TOPIC_CASE_EVENTS=names["events"], RECOBRO_NOW=nows.pop(),
                     RECOBRO_POLICY_FILE=str(POLICY))
    services("recobro-overdue", env)
    services("recobro-relay", env)

    for topic_name, topic in (("tasks", names["out"]), ("case-events", names["events"])):
        want = [o for o in expect["outputs"] if o["topic"] == topic_name]
        got = [json.loads(m.value()) for m in su.consume(topic, len(want), timeout=90)]
        assert len(got) == len(want), topic_name
        for i, (w, g) in enumerate(zip(want, got)):
            assert g["type"] == w["type"], "%s[%d]" % (topic_name, i)
            subset(w["data"], g["data"], "%s[%d].data" % (topic_name, i))
            assert g["data"]["creditor_id"] == creditor
    rejections = expect.get("rejections", [])
    dlq = su.consume(names["dlq"], len(rejections), timeout=60 if rejections else 3)
    assert sorted(dict(m.headers())["recobro-error"].decode() for m in dlq) == sorted(rejections)

    want_case = {k: v for k, v in expect.get("case", {}).items() if k not in RUNNER_ONLY}
    key = "recobro:case:%s:%s" % (creditor, debtor)
    version = want_case.get("version", len(events["steps"]) - len(rejections))
    cached = su.wait_for(lambda: (lambda raw: json.loads(raw) if raw and json.loads(raw)[
        "version"] >= version else None)(su.rds().get(key)), timeout=60, what="hot case")
    subset(want_case, cached, "case")
    if "invoices" in expect.get("case", {}):
        shown = json.loads(su.recobroctl("case", "show", creditor, debtor).stdout)
        want_inv = expect["case"]["invoices"]
        assert len(shown["invoices"]) == len(want_inv)
        for i, (w, g) in enumerate(zip(want_inv, shown["invoices"])):
            subset(w, g, "case.invoices[%d]" % i)
