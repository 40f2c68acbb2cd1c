"""conftest.py - shared fixtures: a fresh set of topics and names per test, services that are
always stopped, and the schema migrated once."""
import os

import pytest

import stackutil as su


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


@pytest.fixture(scope="session", autouse=True)
def migrated():
    su.recobroctl("migrate")


@pytest.fixture(autouse=True)
def _delete_topics(request):
    """Set up before (so torn down after) every other fixture of the test, services included:
    then deletes the test's topics."""
    yield
    names = request.node.funcargs.get("names")
    if isinstance(names, dict) and names.get("rid"):
        su.delete_topics_of(names["rid"])


@pytest.fixture
def names():
    rid = su.run_id()
    n = {"rid": rid, "in": "it.%s.in" % rid, "out": "it.%s.out" % rid, "dlq": "it.%s.dlq" % rid,
         "group": "it-%s" % rid}
    su.create_topics([n["in"], n["out"], n["dlq"]])
    return n


@pytest.fixture
def services(tmp_path):
    """Starts services on demand; stops every one at the end of the test."""
    started = []

    def start(name, env, ready=True):
        s = su.Service(name, env, tmp_path).start()
        started.append(s)
        if ready:
            s.wait_ready()
        return s

    yield start
    reports = []
    for s in started:
        code = s.stop()
        # Under `make sanitize-it` (RECOBRO_SANITIZED=1) every service must stop cleanly with no
        # AddressSanitizer, LeakSanitizer or UBSan report in its log.
        if os.environ.get("RECOBRO_SANITIZED") == "1":
            log = s.log_path.read_text(errors="replace")
            if code not in (0, None, -9) or any(m in log for m in SANITIZER_MARKS):
                reports.append("%s exited %s:\n%s" % (s.name, code, s.tail(60)))
    assert not reports, "\n\n".join(reports)


def worker_env(names, **extra):
    env = {"RECOBRO_TOPIC_INVOICES": names["in"], "RECOBRO_TOPIC_TASKS": names["out"],
           "RECOBRO_TOPIC_DLQ": names["dlq"], "RECOBRO_GROUP_ID": names["group"]}
    env.update(extra)
    return env
