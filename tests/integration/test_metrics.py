"""test_metrics.py - /metrics of fresh processes: every family of the catalogue
(common/runtime/metrics_catalog.c) is exposed by the services of its role before anything
happened, its known series at 0; build info and process metrics are there; the text passes
`promtool check metrics` when promtool is installed. And the consumer lag: a partition handed to
another worker of the group loses its series in the first one, so the group's sum counts each
partition once."""
import re
import shutil
import subprocess
import time

import pytest

import stackutil as su
from conftest import worker_env

CATALOG = su.ROOT / "common" / "runtime" / "metrics_catalog.c"
POLICY = su.ROOT / "deploy" / "policy" / "default.json"
ROLES = {"recobro-overdue": ["common_families", "worker_families", "task_families"],
         "recobro-relay": ["common_families", "relay_families"],
         "recobro-scheduler": ["common_families", "scheduler_families", "task_families"]}


def catalogue():
    """{array name: [family names]} from the catalogue's source."""
    text = CATALOG.read_text()
    out = {}
    for m in re.finditer(r"static const family_def_t (\w+)\[\] = \{(.*?)\n\};", text, re.S):
        out[m.group(1)] = [n if n.startswith("recobro_") else "recobro_consumer_lag_messages"
                           for n in re.findall(r'\{\s*("?)(recobro_\w+|METRIC_CONSUMER_LAG)\1,',
                                               m.group(2))
                           for n in [n[1]]]
    return out


def samples(body):
    """[(name, labels, value)] of every sample line."""
    out = []
    for line in body.splitlines():
        if line.startswith("#") or not line:
            continue
        m = re.match(r"^([a-zA-Z_:][\w:]*)(\{.*\})? (\S+)$", line)
        assert m, "not a sample line: %r" % line
        out.append((m.group(1), m.group(2) or "", float(m.group(3))))
    return out


def families(body):
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", body, re.M))


def check_fresh(svc, expect):
    body = svc.http("/metrics")[1]
    types = families(body)
    missing = [f for f in expect if f not in types]
    assert not missing, "%s does not expose %s" % (svc.name, missing)
    for name, labels, value in samples(body):
        if svc.name == "recobro-scheduler" and name.startswith("recobro_scheduler_"):
            continue  # it sweeps once at start
        if name.startswith("recobro_") and name not in (
                "recobro_build_info", "recobro_ready", "recobro_consumer_lag_messages",
                "recobro_outbox_backlog_rows", "recobro_outbox_oldest_age_seconds",
                "recobro_outbox_retry_waiting", "recobro_db_errors_total"):
            assert value == 0, "%s: %s%s is %g on a fresh process" % (svc.name, name, labels, value)
    names = {s[0] for s in samples(body)}
    for f in expect:
        if types[f] == "histogram":
            assert f + "_count" in names, "%s: histogram %s has no series" % (svc.name, f)
    assert re.search(r'^recobro_build_info\{version="[\d.]+",commit="[0-9a-f]+"\} 1$', body, re.M)
    for p in ("process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds",
              "process_start_time_seconds"):
        assert p in names, p
    promtool = shutil.which("promtool")
    if promtool:
        r = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
    return body


@pytest.fixture
def fresh_db(names):
    """An empty database of the test's own: the shared one holds earlier suites' due cases, which
    the scheduler's first sweep would plan (tasks counted on a "fresh" process)."""
    db = "it_metrics_" + names["rid"]
    dsn = su.create_database(db)
    yield dsn
    su.drop_database(db)  # after the services fixture stopped the processes


def test_fresh_services_expose_every_series_at_zero(fresh_db, names, services):
    cat = catalogue()
    env = worker_env(names, RECOBRO_POLICY_FILE=str(POLICY), RECOBRO_SCHEDULER_PERIOD_MS="600000",
                     RECOBRO_PG_DSN=fresh_db)
    for binary, arrays in ROLES.items():
        expect = [f for a in arrays for f in cat[a]]
        assert len(expect) > 5
        svc = services(binary, env)
        body = check_fresh(svc, expect)
        if binary == "recobro-overdue":
            assert 'recobro_dlq_total{reason="schema_violation"} 0' in body
            assert 'recobro_events_total{type="invoice.overdue",result="applied"} 0' in body
            assert 'recobro_tasks_suppressed_total{reason="opt_out_sms"} 0' in body
            assert 'recobro_processing_seconds_bucket{le="1800"} 0' in body
        svc.stop()


def lag_series(svc):
    return {labels: v for n, labels, v in samples(svc.http("/metrics")[1])
            if n == "recobro_consumer_lag_messages"}


def test_lag_series_follow_the_assignment(names, services):
    env = worker_env(names, RECOBRO_POLICY_FILE=str(POLICY))  # whatever ran before it
    # Messages on every partition, so that each has a position (and a lag) once consumed.
    su.produce(names["in"], [("k%d" % i, b"not json at all", None) for i in range(60)])
    first = services("recobro-overdue", env)
    # All six partitions are the first worker's: six series.
    su.wait_for(lambda: len(lag_series(first)) == 6, timeout=30, what="6 lag series")
    second = services("recobro-overdue", env)
    # A partition has a position (and a lag) in its new owner once it consumed from it.
    su.produce(names["in"], [("k%d" % i, b"not json at all", None) for i in range(60)])
    # After the rebalance each partition is reported by one worker only.
    def split():
        a, b = lag_series(first), lag_series(second)
        return len(a) + len(b) == 6 and a and b and not set(a) & set(b)
    try:
        su.wait_for(split, timeout=60, what="lag series split between the two workers")
    except AssertionError:
        raise AssertionError("lag series: first %s, second %s" % (lag_series(first),
                                                                   lag_series(second)))
    second.stop()
    su.wait_for(lambda: len(lag_series(first)) == 6, timeout=60, what="6 series back in one")
