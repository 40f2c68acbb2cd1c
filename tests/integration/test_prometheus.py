"""test_prometheus.py - `deploy/local/stack prometheus-start` (what `stack up --with-prometheus`
adds): a real Prometheus (Debian's) with the shipped rules (deploy/observability/rules.yml)
scrapes every worker, evaluates every rule without error, and a planted fault fires its alert:
a malformed message sent to the overdue worker's topic goes to the DLQ and RecobroMessagesToDLQ
fires for that job and reason; a killed relay turns its target down and RecobroTargetDown
pending. Bounded: scrapes and evaluations every second, a Prometheus of its own (own port and
data directory, RECOBRO_STACK_DATA_DIR) so the shared stack's servers are never touched."""
import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

import pytest
import yaml

import stackutil as su
from conftest import worker_env

POLICY = su.ROOT / "deploy" / "policy" / "default.json"
SERVICES = ["recobro-overdue", "recobro-payments", "recobro-interactions", "recobro-scheduler",
            "recobro-relay"]


def api(port, path, **params):
    url = "http://127.0.0.1:%d/api/v1/%s" % (port, path)
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=5) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return body["data"]


@pytest.fixture
def prometheus(tmp_path):
    if shutil.which("prometheus") is None:
        pytest.fail("prometheus is not installed: apt-get install prometheus (make deps does)")
    port = su.free_port()
    env = dict(os.environ, RECOBRO_STACK_DATA_DIR=str(tmp_path / "stack"),
               RECOBRO_STACK_PROMETHEUS_PORT=str(port), RECOBRO_STACK_PROMETHEUS_INTERVAL="1s")
    targets = tmp_path / "stack" / "prometheus" / "targets"
    targets.mkdir(parents=True)

    def start(services):
        (targets / "local.json").write_text(json.dumps(
            [{"targets": ["127.0.0.1:%d" % s.port], "labels": {"job": s.name}} for s in services]))
        r = subprocess.run([str(su.STACK), "prometheus-start"], env=env, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        return port

    yield start
    subprocess.run([str(su.STACK), "prometheus-stop"], env=env, capture_output=True, timeout=60)


def alerts(port, name):
    return [a for a in api(port, "alerts")["alerts"] if a["labels"]["alertname"] == name]


def test_prometheus_scrapes_every_worker_and_fires_alerts(names, services, prometheus):
    for t in ("inv", "pay", "int", "events"):
        names[t] = "it.%s.%s" % (names["rid"], t)
    su.create_topics([names["inv"], names["pay"], names["int"], names["events"]])
    env = worker_env(names, RECOBRO_TOPIC_INVOICES=names["inv"], RECOBRO_TOPIC_PAYMENTS=names["pay"],
                     RECOBRO_TOPIC_INTERACTIONS=names["int"],
                     RECOBRO_TOPIC_CASE_EVENTS=names["events"], RECOBRO_POLICY_FILE=str(POLICY),
                     RECOBRO_SCHEDULER_PERIOD_MS="600000")
    procs = []
    for name in SERVICES:
        e = dict(env, RECOBRO_GROUP_ID="%s-%s" % (names["group"], name))
        procs.append(services(name, e))
    port = prometheus(procs)

    # Every worker scraped, by the job name the rules and the dashboard use.
    def all_up():
        active = api(port, "targets")["activeTargets"]
        return len(active) == len(SERVICES) and all(t["health"] == "up" for t in active) and active
    active = su.wait_for(all_up, timeout=30, what="every target up")
    assert sorted(t["labels"]["job"] for t in active) == sorted(SERVICES)

    # The shipped rules, all of them, evaluated without error.
    shipped = yaml.safe_load((su.ROOT / "deploy" / "observability" / "rules.yml").read_text())
    want = {r["alert"] for g in shipped["groups"] for r in g["rules"]}

    def rules_ok():
        groups = api(port, "rules")["groups"]
        got = {r["name"]: r for g in groups for r in g["rules"]}
        return set(got) == want and all(r["health"] == "ok" and r.get("lastEvaluation", "").startswith("20")
                                        for r in got.values()) and got
    su.wait_for(rules_ok, timeout=30, what="every shipped rule loaded and evaluated")
    # A fresh system is quiet: every series at 0 from the start, so nothing fires.
    time.sleep(3)
    firing = [a["labels"]["alertname"] for a in api(port, "alerts")["alerts"]]
    assert firing == [], firing
    got = api(port, "query", query='sum(recobro_events_total{job="recobro-overdue"})')["result"]
    assert got and float(got[0]["value"][1]) == 0

    # Fault 1: a malformed message -> the DLQ -> RecobroMessagesToDLQ fires at once.
    su.produce(names["inv"], [("k1", b"{not json", None)])
    t0 = time.time()

    def dlq_alert():
        return [a for a in alerts(port, "RecobroMessagesToDLQ") if a["state"] == "firing"]
    fired = su.wait_for(dlq_alert, timeout=60, what="RecobroMessagesToDLQ firing")
    print("RecobroMessagesToDLQ fired %.1f s after the bad message" % (time.time() - t0))
    assert fired[0]["labels"]["job"] == "recobro-overdue"
    assert fired[0]["labels"]["reason"] == "malformed_json"
    assert fired[0]["labels"]["severity"] == "warning"

    # Fault 2: the relay killed -> its target down -> RecobroTargetDown pending (it fires after
    # the rule's 5 minutes, which promtool's unit tests cover).
    relay = procs[-1]
    relay.kill()
    relay.proc.wait(10)
    su.wait_for(lambda: [a for a in alerts(port, "RecobroTargetDown")
                         if a["labels"]["job"] == "recobro-relay" and a["state"] == "pending"],
                timeout=30, what="RecobroTargetDown pending for the relay")
