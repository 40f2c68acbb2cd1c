#!/usr/bin/env python3
"""check_kustomize.py - the Kubernetes kit as `kubectl kustomize` renders it (ctest
"deploy.kustomize"): the base (deploy/kubernetes) and the overlays deploy/overlays/dev and
deploy/overlays/prod.

In every rendering: each Deployment and StatefulSet has startup, liveness and readiness probes,
a Service and a PodDisruptionBudget that select its pods, and carries the part-of label the
NetworkPolicy selects; a NetworkPolicy covers the pods. In the overlays: a PodMonitor per
workload on a port its pods name, the PrometheusRule. In prod: a KEDA ScaledObject per case
worker (a StatefulSet) with a kafka trigger on that worker's consumer group (RECOBRO_GROUP_ID's
default, recobro-<service>) and input topic, at most the topic's partitions, and no fixed
replica count on the workers it scales. In dev: one replica each. Then it breaks a rendering on
purpose (a probe removed, a Service removed) and requires the breaks to be reported.

kubectl is required (the test fails without it); no cluster is contacted.
"""
import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(os.environ.get("RECOBRO_SOURCE_DIR", Path(__file__).resolve().parents[2]))
TARGETS = {"base": ROOT / "deploy" / "kubernetes", "dev": ROOT / "deploy" / "overlays" / "dev",
           "prod": ROOT / "deploy" / "overlays" / "prod"}
CASE_WORKERS = {"recobro-overdue": "recobro.invoices", "recobro-payments": "recobro.payments",
                "recobro-interactions": "recobro.interactions"}


def render(path):
    r = subprocess.run(["kubectl", "kustomize", str(path)], capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0:
        raise SystemExit("FAIL kubectl kustomize %s: %s" % (path, r.stderr.strip()))
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_workloads(name, docs, errors):
    workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]
    services = [d for d in docs if d["kind"] == "Service"]
    pdbs = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    if len(workloads) != 5:
        errors.append("%s: %d workloads, expected 5" % (name, len(workloads)))
    for w in workloads:
        wn = w["metadata"]["name"]
        labels = w["spec"]["template"]["metadata"].get("labels", {})
        for c in w["spec"]["template"]["spec"]["containers"]:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                if probe not in c:
                    errors.append("%s: %s/%s has no %s" % (name, wn, c["name"], probe))
        if not any(selects(s["spec"].get("selector"), labels) for s in services):
            errors.append("%s: no Service selects %s" % (name, wn))
        if not any(selects(p["spec"].get("selector", {}).get("matchLabels"), labels) for p in pdbs):
            errors.append("%s: no PodDisruptionBudget selects %s" % (name, wn))
        if not any(selects(p["spec"]["podSelector"].get("matchLabels"), labels) for p in policies):
            errors.append("%s: no NetworkPolicy selects %s" % (name, wn))
    return workloads


def check_monitoring(name, docs, workloads, errors):
    monitors = [d for d in docs if d["kind"] == "PodMonitor"]
    for w in workloads:
        labels = w["spec"]["template"]["metadata"].get("labels", {})
        ports = {p.get("name") for c in w["spec"]["template"]["spec"]["containers"]
                 for p in c.get("ports", [])}
        m = [m for m in monitors if selects(m["spec"]["selector"].get("matchLabels"), labels)]
        if not m:
            errors.append("%s: no PodMonitor scrapes %s" % (name, w["metadata"]["name"]))
        elif any(e.get("port") not in ports for e in m[0]["spec"]["podMetricsEndpoints"]):
            errors.append("%s: PodMonitor of %s names a port its pods lack" % (name, w["metadata"]["name"]))
    if not any(d["kind"] == "PrometheusRule" for d in docs):
        errors.append("%s: no PrometheusRule" % name)


def check_scaling(name, docs, workloads, errors):
    scaled = {d["spec"]["scaleTargetRef"]["name"]: d for d in docs if d["kind"] == "ScaledObject"}
    partitions = int(next(d for d in docs if d["kind"] == "ConfigMap")["data"]["RECOBRO_TOPIC_PARTITIONS"])
    for wname, topic in CASE_WORKERS.items():
        so = scaled.get(wname)
        w = next((x for x in workloads if x["metadata"]["name"] == wname), None)
        if so is None or w is None:
            errors.append("%s: no ScaledObject for %s" % (name, wname))
            continue
        if so["spec"]["scaleTargetRef"].get("kind") != w["kind"]:
            errors.append("%s: ScaledObject %s targets a %s" % (name, wname, so["spec"]["scaleTargetRef"].get("kind")))
        trig = [t for t in so["spec"]["triggers"] if t["type"] == "kafka"]
        if not trig or trig[0]["metadata"].get("consumerGroup") != wname or \
                trig[0]["metadata"].get("topic") != topic:
            errors.append("%s: ScaledObject %s does not read group %s on %s" % (name, wname, wname, topic))
        if so["spec"].get("maxReplicaCount", 100) > partitions:
            errors.append("%s: ScaledObject %s may exceed the %d partitions" % (name, wname, partitions))
        if "replicas" in w["spec"]:
            errors.append("%s: %s keeps a fixed replica count under KEDA" % (name, wname))


def run(rendered):
    errors = []
    for name, docs in rendered.items():
        workloads = check_workloads(name, docs, errors)
        if name != "base":
            check_monitoring(name, docs, workloads, errors)
        if name == "prod":
            check_scaling(name, docs, workloads, errors)
        if name == "dev" and any(w["spec"].get("replicas") != 1 for w in workloads):
            errors.append("dev: a workload with more than one replica")
    return errors


def main():
    if shutil.which("kubectl") is None:
        print("FAIL kubectl is not installed (needed for `kubectl kustomize`)")
        return 1
    rendered = {name: render(path) for name, path in TARGETS.items()}
    errors = run(rendered)
    for e in errors:
        print("FAIL " + e)
    broken = []
    r = copy.deepcopy(rendered)
    w = next(d for d in r["prod"] if d["kind"] == "Deployment")
    del w["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
    broken.append(("startupProbe removed", r))
    r = copy.deepcopy(rendered)
    r["dev"] = [d for d in r["dev"] if not (d["kind"] == "Service" and d["metadata"]["name"] == "recobro-relay")]
    broken.append(("relay Service removed", r))
    r = copy.deepcopy(rendered)
    r["prod"] = [d for d in r["prod"] if not (d["kind"] == "ScaledObject" and d["metadata"]["name"] == "recobro-payments")]
    broken.append(("ScaledObject removed", r))
    r = copy.deepcopy(rendered)
    next(d for d in r["prod"] if d["kind"] == "StatefulSet")["spec"]["replicas"] = 3
    broken.append(("fixed replicas under KEDA", r))
    missed = [what for what, r in broken if not run(r)]
    for m in missed:
        print("FAIL self-check: a break went unreported: " + m)
    if errors or missed:
        return 1
    print("ok: %s render; probes, Services, PDBs, NetworkPolicy, PodMonitors, PrometheusRule and "
          "ScaledObjects in place; self-check ok" % ", ".join(TARGETS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
