"""demo_report.py - what came out of `make demo`, read back from Kafka (tasks, case events, DLQ),
PostgreSQL (cases, charges, settlements, through psql and recobroctl) and Redis, laid out
for someone seeing recobro for the first time: the policy each creditor is planned under, cases
per segment, tasks by action and queue and why they went out, case events, promises, plans and
settlements, interest and fees by currency, rejected messages, a task as a notifier receives it,
the business measures, and two cases as an agent sees them (one with interest and a promise, one
settled).

usage: demo_report.py --ctl PATH/TO/recobroctl   (RECOBRO_* from the demo's environment)"""
import argparse
import collections
import json
import os
import subprocess
import sys

import redis
from confluent_kafka import Consumer

from portfolio import money

WIDTH = 96


def read_topic(topic):
    """Every message of `topic` now present (reads to the high watermarks)."""
    from confluent_kafka import TopicPartition
    c = Consumer({"bootstrap.servers": os.environ["RECOBRO_KAFKA_BROKERS"],
                  "group.id": "demo-report", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest"})
    md = c.list_topics(topic, timeout=10)
    parts = []
    for p in md.topics[topic].partitions:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        if hi > lo:
            parts.append((p, lo, hi))
    c.assign([TopicPartition(topic, p, lo) for p, lo, _ in parts])
    left = {p: hi for p, _, hi in parts}
    out = []
    while left:
        for m in c.consume(1000, timeout=2):
            if m.error():
                continue
            out.append(m)
            if m.offset() + 1 >= left.get(m.partition(), 0):
                left.pop(m.partition(), None)
        if not parts:
            break
    c.close()
    return out


def sql(query):
    """Rows of a query on the demo's database (psql, as the demo script uses it)."""
    out = subprocess.run(["psql", os.environ["RECOBRO_PG_DSN"], "-AtF", "\t", "-c", query],
                         check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def heading(n, title, source):
    print("\n%d. %s" % (n, title))
    print("   (%s)" % source)


def table(counter, width=48, total=True):
    for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])):
        print("   %-*s %7d" % (width, k, v))
    if total:
        print("   %-*s %7d" % (width, "total", sum(counter.values())))


def grid(rows, cols, width=34):
    """rows: {row: {col: n}}; prints one line per row with a column per `cols` and a total."""
    print("   %-*s" % (width, "") + "".join("%9s" % c for c in cols) + "%9s" % "total")
    for row in sorted(rows, key=lambda r: (-sum(rows[r].values()), r)):
        print("   %-*s" % (width, row) + "".join("%9d" % rows[row].get(c, 0) for c in cols) +
              "%9d" % sum(rows[row].values()))
    print("   %-*s" % (width, "total") +
          "".join("%9d" % sum(r.get(c, 0) for r in rows.values()) for c in cols) +
          "%9d" % sum(sum(r.values()) for r in rows.values()))


def why(task):
    """Why a task went out, in a new user's words (from its action and reason)."""
    reason, action = task.get("reason") or "", task["action"]
    if action == "promise_reminder":
        return ("reminder of a plan instalment before it is due" if "instalment" in reason
                else "reminder of a promise before its due date")
    if "broken: follow-up" in reason:
        return "follow-up call of a broken promise"
    if "defaulted: follow-up" in reason:
        return "follow-up call of a defaulted plan"
    if reason.startswith("callback"):
        return "callback at the hour the debtor asked"
    if action == "skip_trace":
        return ("skip trace: a wrong party answered" if "wrong party" in reason
                else "skip trace: never reached")
    if action == "restore_service":
        return "restore the service (paid or on a plan)"
    if action == "supervisor_review":
        return "supervisor review (outside the limits)"
    if "fallback to" in reason:
        return "delivery failed: next channel of the step"
    return "step of the segment's ladder"


def policies(ctl, cases):
    """Section 1: the policy each creditor is planned under."""
    listed = json.loads(subprocess.run([ctl, "policy", "list"], check=True, capture_output=True,
                                       text=True).stdout)
    default = listed.get("default") or {}
    own = {c["creditor_id"]: c for c in listed.get("creditors", [])}
    names = dict(sql("SELECT creditor_id, name FROM creditor"))
    heading(1, "The policy each creditor is planned under", "recobroctl policy list")
    print("   %-10s %-28s %-8s %-26s %6s" % ("creditor", "name", "currency", "policy", "cases"))
    for cid in sorted(cases):
        p = own.get(cid) or default
        label = "%s v%s (%s)" % (p.get("policy_id"), p.get("policy_version"),
                                 "its own" if cid in own else "the default")
        print("   %-10s %-28s %-8s %-26s %6d" % (cid, names.get(cid, "")[:28],
                                                 "/".join(sorted(cases[cid]["currency"])), label,
                                                 cases[cid]["n"]))


def charges():
    """Section 7: interest and fees by currency."""
    rows = sql("SELECT d.currency, sum(c.interest_total), sum(c.fees_total), sum(c.interest), "
               "sum(c.fees), count(*) FILTER (WHERE c.interest_total > 0), "
               "count(*) FILTER (WHERE c.fees_total > 0) FROM case_charges c JOIN debt_case d "
               "USING (creditor_id, debtor_id) WHERE d.currency IS NOT NULL GROUP BY 1 ORDER BY 1")
    print("   %-8s %16s %8s %14s %8s %16s %14s" % ("currency", "interest charged", "cases",
                                                   "fees charged", "cases", "interest open",
                                                   "fees open"))
    for cur, it, ft, io, fo, ni, nf in rows:
        print("   %-8s %16s %8s %14s %8s %16s %14s" % (
            cur, money(int(it), cur), ni, money(int(ft), cur), nf, money(int(io), cur),
            money(int(fo), cur)))
    return rows


def disputes():
    """Section 6: disputes (answered or open) and forbearances."""
    d = sql("SELECT count(*), count(*) FILTER (WHERE outcome = 'rejected'), "
            "count(*) FILTER (WHERE outcome = 'upheld'), count(*) FILTER (WHERE resolved_at IS "
            "NULL) FROM dispute")[0]
    f = sql("SELECT count(*), coalesce(round(avg(until_on - from_on + 1)), 0) "
            "FROM forbearance")[0]
    print("   disputes opened %s: rejected (the debt proven, collection resumes) %s, upheld (the "
          "debt withdrawn) %s, still open (documentation only) %s" % tuple(d))
    print("   forbearances granted %s (hardship: collection tasks and interest pause), %s days "
          "on average" % tuple(f))


def settlements(events):
    """Section 5, the settlements: agreed (PostgreSQL), settled and written off (case.settled)."""
    agreed = sql("SELECT count(*), count(*) FILTER (WHERE (settlement->>'settled')::boolean) "
                 "FROM case_charges WHERE settlement IS NOT NULL AND settlement <> 'null'")
    per = collections.defaultdict(lambda: [0, 0, 0])
    for e in events:
        if e["type"] == "case.settled":
            d = e["data"]
            s = per[d["currency"]]
            s[0] += 1
            s[1] += minor(d["settled_amount"], d["currency"])
            s[2] += minor(d["written_off"], d["currency"])
    print("   settlements agreed (plan.agreed with settlement_amount): %s, paid to the end: %s" %
          (agreed[0][0] if agreed else 0, agreed[0][1] if agreed else 0))
    print("   %-8s %8s %18s %18s" % ("currency", "settled", "paid (settled_amount)",
                                     "written off"))
    for cur in sorted(per):
        n, paid, off = per[cur]
        print("   %-8s %8d %18s %18s" % (cur, n, money(paid, cur), money(off, cur)))
    return sum(v[0] for v in per.values())


def minor(text, currency):
    digits = {"JPY": 0, "KWD": 3}.get(currency, 2)
    whole, _, frac = text.partition(".")
    sign = -1 if whole.startswith("-") else 1
    value = abs(int(whole)) * 10 ** digits + (int(frac.ljust(digits, "0")) if digits else 0)
    return sign * value


def show_case(ctl, title, row):
    print("\n%s" % title)
    if not row:
        print("   (none in this run)")
        return
    print("   recobroctl case show %s %s" % tuple(row[0]))
    sys.stdout.flush()
    subprocess.run([ctl, "case", "show", row[0][0], row[0][1]], check=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ctl", required=True, help="path of recobroctl")
    ctl = ap.parse_args().ctl
    t = lambda name, default: os.environ.get("RECOBRO_TOPIC_" + name, default)
    segments, statuses = collections.Counter(), collections.Counter()
    cases = collections.defaultdict(lambda: {"n": 0, "currency": set()})
    for creditor, currency, segment, status, n in sql(
            "SELECT creditor_id, coalesce(currency, '?'), coalesce(segment, 'none'), status, "
            "count(*) FROM debt_case GROUP BY 1, 2, 3, 4"):
        segments[segment] += int(n)
        statuses[status] += int(n)
        cases[creditor]["n"] += int(n)
        cases[creditor]["currency"].add(currency)
    hot = sum(1 for _ in redis.Redis.from_url(os.environ["RECOBRO_REDIS_URL"]).scan_iter(
        "recobro:case:*", count=1000))

    print("\n" + "=" * WIDTH)
    print("What recobro made of the portfolio")
    print("=" * WIDTH)
    policies(ctl, cases)

    heading(2, "Cases per segment and per status",
            "PostgreSQL; %d of them hot in the Redis cache" % hot)
    table(segments)
    print()
    table(statuses)

    created, cancelled = {}, {}
    for m in read_topic(t("TASKS", "recobro.tasks")):
        ev = json.loads(m.value())
        if ev["type"] == "task.created":
            created[ev["data"]["task_id"]] = ev["data"]
        elif ev["type"] == "task.cancelled":
            cancelled[ev["data"]["task_id"]] = ev["data"].get("reason") or "?"
    heading(3, "Tasks created, by action / channel and queue",
            "recobro.tasks; %d of them since withdrawn" % len(set(cancelled) & set(created)))
    rows = collections.defaultdict(collections.Counter)
    for d in created.values():
        rows["%s / %s" % (d["action"], d["channel"])][d.get("queue") or "-"] += 1
    grid(rows, ["standard", "senior"])
    print("   (queue senior: high-value cases and supervisor reviews; standard: the rest)")

    heading(4, "Why the tasks went out", "the task's reason; withdrawn ones too")
    table(collections.Counter(why(d) for d in created.values()))
    print("   withdrawn, by reason:")
    table(collections.Counter(cancelled[k] for k in set(cancelled) & set(created)), total=False)

    events = [json.loads(m.value()) for m in read_topic(t("CASE_EVENTS", "recobro.case-events"))]
    heading(5, "Case events, promises, plans and settlements", "recobro.case-events")
    table(collections.Counter(e["type"] for e in events))
    # The business measures (DOMAIN.md): the last word on each promise decides its outcome.
    outcome = {}
    for e in events:
        if e["type"] in ("promise.kept", "promise.broken") and not e["data"].get("plan_id"):
            outcome[e["data"]["promise_id"]] = e["type"]
    kept = sum(1 for v in outcome.values() if v == "promise.kept")
    n_cases = sum(segments.values())
    cured = statuses.get("resolved", 0)
    print("   promises settled %d, kept %d: promise-kept rate %.0f%%" %
          (len(outcome), kept, 100.0 * kept / len(outcome) if outcome else 0))
    print("   cases %d, resolved %d: %.1f%%" % (n_cases, cured,
                                               100.0 * cured / n_cases if n_cases else 0))
    settlements(events)

    heading(6, "Disputes and forbearances", "PostgreSQL")
    disputes()

    heading(7, "Interest and fees charged, by currency",
            "PostgreSQL; es.json charges late interest, each policy a fee where agreed")
    charges()

    reasons = collections.Counter(dict(m.headers() or []).get("recobro-error", b"?").decode()
                                  for m in read_topic(t("DLQ", "recobro.dlq")))
    heading(8, "Rejected messages per reason", "recobro.dlq: the bad messages the feeds sent")
    table(reasons)

    reminders = sorted((d for d in created.values() if d["action"] == "promise_reminder"),
                       key=lambda d: (d["creditor_id"] != "acme", d["debtor_id"]))
    sample = reminders[0] if reminders else (sorted(created.values(), key=lambda d: (
        d["creditor_id"], d["debtor_id"]))[0] if created else None)
    if sample:
        print("\n9. A task as a notifier receives it (%s)" % sample["action"])
        print(json.dumps(sample, indent=2, ensure_ascii=False))

    print("\n10. The business measures (recobroctl report --format text, first lines)")
    sys.stdout.flush()
    text = subprocess.run([ctl, "report", "--format", "text"], capture_output=True,
                          text=True).stdout
    print("\n".join(text.splitlines()[:17]))

    show_case(ctl, "11. A case with late interest and a promise, as an agent sees it", sql(
        "SELECT c.creditor_id, c.debtor_id FROM case_charges c JOIN promise p "
        "USING (creditor_id, debtor_id) WHERE c.interest > 0 AND NOT p.pending_approval "
        "ORDER BY p.state <> 'broken', c.interest DESC, c.debtor_id LIMIT 1"))
    show_case(ctl, "12. A settled case: the plan paid, the rest written off", sql(
        "SELECT creditor_id, debtor_id FROM case_charges WHERE "
        "(settlement->>'settled')::boolean ORDER BY creditor_id, debtor_id LIMIT 1"))


if __name__ == "__main__":
    sys.exit(main())
