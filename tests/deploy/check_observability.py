#!/usr/bin/env python3
"""check_observability.py - the alert rules and the dashboard against the code (ctest
"deploy.observability").

- The metrics the code exports: every family of common/runtime/metrics_catalog.c (with its
  type), every other "recobro_*" name a C file of common/ or services/ passes to metrics_inc/
  _set/_observe, recobro_metrics_series_dropped_total and the process_* metrics of
  common/base/metrics.c, and Prometheus' own `up`.
- deploy/observability/rules.yml and every expression of deploy/observability/dashboard.json
  name only those metrics (a histogram through _bucket/_sum/_count, a counter only inside
  rate()/increase()/irate()); every alert has a severity, a summary and a runbook.
- The PrometheusRule of deploy/kubernetes/components/monitoring carries rules.yml's groups.
- The alerts cover what operators must hear about (lag growing, DLQ, outbox backlog, not ready,
  database and cache errors, poison messages), and the dashboard shows throughput, lag, latency
  histograms, DLQ by reason, tasks by action, deferred and suppressed by reason and the outbox
  backlog; every panel has an expression, ids are unique, panels fit the 24-column grid.

Then it breaks in-memory copies on purpose (an unknown metric in a panel, a raw counter, a
missing alert) and requires each break to be reported. No network, no Prometheus.
"""
import copy
import json
import os
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(os.environ.get("RECOBRO_SOURCE_DIR", Path(__file__).resolve().parents[2]))
OBS = ROOT / "deploy" / "observability"
PROM_RULE = ROOT / "deploy" / "kubernetes" / "components" / "monitoring" / "prometheusrule.yaml"

REQUIRED_ALERTS = {
    "lag growing": "recobro_consumer_lag_messages",
    "DLQ": "recobro_dlq_total",
    "outbox backlog": "recobro_outbox_oldest_age_seconds",
    "not ready": "recobro_ready",
    "database errors": "recobro_db_errors_total",
    "cache errors": "recobro_cache_errors_total",
    "poison messages": "recobro_poison_total",
}
REQUIRED_PANELS = {
    "throughput": "recobro_events_total",
    "lag": "recobro_consumer_lag_messages",
    "latency histogram": "recobro_processing_seconds_bucket",
    "DLQ by reason": "recobro_dlq_total",
    "tasks by action": "recobro_tasks_created_total",
    "deferred by reason": "recobro_tasks_deferred_total",
    "suppressed by reason": "recobro_tasks_suppressed_total",
    "outbox backlog": "recobro_outbox_backlog_rows",
}
TYPES = {"METRIC_COUNTER": "counter", "METRIC_GAUGE": "gauge", "METRIC_HISTOGRAM": "histogram"}
CALL_TYPES = {"metrics_inc": "counter", "metrics_set": "gauge", "metrics_observe": "histogram"}


def exported():
    """{metric name: type} of everything /metrics can show."""
    names = {"up": "gauge"}
    cat = (ROOT / "common" / "runtime" / "metrics_catalog.c").read_text()
    header = (ROOT / "common" / "runtime" / "metrics_catalog.h").read_text()
    defines = dict(re.findall(r'#define (METRIC_\w+) "(\w+)"', header))
    for name, kind in re.findall(r'\{\s*"?(recobro_\w+|METRIC_CONSUMER_LAG)"?,\s*(METRIC_\w+)', cat):
        names[defines.get(name, name)] = TYPES[kind]
    for path in list((ROOT / "common").rglob("*.c")) + list((ROOT / "services").rglob("*.c")):
        text = path.read_text()
        for call, name in re.findall(r'(metrics_inc|metrics_set|metrics_observe)\(\s*"(recobro_\w+)"',
                                     text):
            names.setdefault(name, CALL_TYPES[call])
    base = (ROOT / "common" / "base" / "metrics.c").read_text()
    for name, kind in re.findall(r"# TYPE (process_\w+) (\w+)", base):
        names[name] = kind
    names["recobro_metrics_series_dropped_total"] = "counter"
    return names


def series_names(metrics):
    """Every name a query may use: histograms as _bucket/_sum/_count."""
    out = {}
    for n, t in metrics.items():
        if t == "histogram":
            for s in ("_bucket", "_sum", "_count"):
                out[n + s] = "histogram"
        else:
            out[n] = t
    return out


def check_expr(where, expr, names, errors):
    """Appends to errors what is wrong with one PromQL expression; returns the names it uses."""
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    stripped = re.sub(r"\{[^}]*\}", "", stripped)
    used = set(re.findall(r"\b((?:recobro|process)_[a-z0-9_]+)\b", stripped))
    used |= set(re.findall(r"\b(up)\b(?!\s*\()", stripped))
    if not used:
        errors.append("%s: names no metric: %s" % (where, expr))
    for n in sorted(used):
        if n not in names:
            errors.append("%s: %s is not a metric the code exports" % (where, n))
        elif names[n] == "counter" and not re.search(
                r"\b(rate|increase|irate)\(\s*%s\b" % re.escape(n), stripped):
            errors.append("%s: counter %s outside rate()/increase()" % (where, n))
    return used


def check_rules(rules, names, errors, where="rules.yml"):
    used, alerts = set(), {}
    for g in rules.get("groups", []):
        for r in g.get("rules", []):
            a = r.get("alert") or r.get("record")
            u = check_expr("%s %s" % (where, a), r.get("expr", ""), names, errors)
            used |= u
            if "alert" in r:
                alerts[a] = u
                lab, ann = r.get("labels", {}), r.get("annotations", {})
                if lab.get("severity") not in ("critical", "warning", "info"):
                    errors.append("%s %s: no severity" % (where, a))
                for k in ("summary", "runbook"):
                    if not ann.get(k):
                        errors.append("%s %s: no %s annotation" % (where, a, k))
    for what, metric in REQUIRED_ALERTS.items():
        if not any(metric in u for u in alerts.values()):
            errors.append("%s: no alert on %s (%s)" % (where, what, metric))
    return used


def panels_of(dash):
    for p in dash.get("panels", []):
        yield p
        yield from p.get("panels", [])


def check_dashboard(dash, names, errors):
    used, ids = set(), set()
    for p in panels_of(dash):
        if p.get("type") == "row":
            continue
        title = p.get("title", "?")
        if p.get("id") in ids:
            errors.append("dashboard: duplicate panel id %s" % p.get("id"))
        ids.add(p.get("id"))
        g = p.get("gridPos", {})
        if g.get("x", 0) + g.get("w", 0) > 24 or g.get("w", 0) <= 0 or g.get("h", 0) <= 0:
            errors.append("dashboard: panel %r does not fit the grid" % title)
        exprs = [t.get("expr", "") for t in p.get("targets", [])]
        if not exprs or not all(exprs):
            errors.append("dashboard: panel %r has a target without an expression" % title)
        for e in exprs:
            used |= check_expr("dashboard panel %r" % title, e, names, errors)
    for what, metric in REQUIRED_PANELS.items():
        if metric not in used:
            errors.append("dashboard: no panel shows %s (%s)" % (what, metric))
    return used


def run(rules, prom_rule, dash, names):
    errors = []
    check_rules(rules, names, errors)
    if prom_rule.get("kind") != "PrometheusRule" or prom_rule.get("spec", {}).get(
            "groups") != rules.get("groups"):
        errors.append("prometheusrule.yaml: its groups are not rules.yml's")
    check_dashboard(dash, names, errors)
    return errors


def self_check(rules, prom_rule, dash, names):
    """Each deliberate break must be reported."""
    breaks = []
    d = copy.deepcopy(dash)
    next(p for p in panels_of(d) if p.get("targets"))["targets"][0]["expr"] = "sum(recobro_nonsense_total)"
    breaks.append(("unknown metric in a panel", rules, prom_rule, d))
    d = copy.deepcopy(dash)
    next(p for p in panels_of(d) if p.get("targets"))["targets"][0]["expr"] = "sum(recobro_dlq_total)"
    breaks.append(("raw counter in a panel", rules, prom_rule, d))
    r = copy.deepcopy(rules)
    for g in r["groups"]:
        g["rules"] = [x for x in g["rules"] if "recobro_poison_total" not in x.get("expr", "")]
    breaks.append(("poison alert removed", r, {"kind": "PrometheusRule", "spec": {"groups": r["groups"]}}, dash))
    pr = copy.deepcopy(prom_rule)
    pr["spec"]["groups"][0]["rules"][0]["expr"] = "up == 2"
    breaks.append(("PrometheusRule drifted", rules, pr, dash))
    r = copy.deepcopy(rules)
    r["groups"][0]["rules"][0]["expr"] = "recobro_lag > 1"
    breaks.append(("old metric name in a rule", r, {"kind": "PrometheusRule", "spec": {"groups": r["groups"]}}, dash))
    failed = []
    for what, a, b, c in breaks:
        if not run(a, b, c, names):
            failed.append(what)
    return failed


def main():
    names = series_names(exported())
    rules = yaml.safe_load((OBS / "rules.yml").read_text())
    prom_rule = yaml.safe_load(PROM_RULE.read_text())
    dash = json.loads((OBS / "dashboard.json").read_text())
    errors = run(rules, prom_rule, dash, names)
    for e in errors:
        print("FAIL " + e)
    missed = self_check(rules, prom_rule, dash, names)
    for m in missed:
        print("FAIL self-check: a break went unreported: " + m)
    if errors or missed:
        return 1
    n_alerts = sum(1 for g in rules["groups"] for r in g["rules"] if "alert" in r)
    n_panels = sum(1 for p in panels_of(dash) if p.get("type") != "row")
    print("ok: %d alerts and %d panels name only the %d exported metric names; self-check ok"
          % (n_alerts, n_panels, len(names)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
