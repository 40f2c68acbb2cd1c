"""demo_report.py - what came out of `make demo`, read back from Kafka and Redis: cases per
segment, tasks per action and channel, case events, DLQ messages per reason."""
import collections
import json
import os
import sys

import redis
from confluent_kafka import Consumer


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


def table(title, counter, width=34):
    print("\n%s" % title)
    total = sum(counter.values())
    for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])):
        print("  %-*s %6d" % (width, k, v))
    print("  %-*s %6d" % (width, "total", total))


def main():
    t = lambda name, default: os.environ.get("RECOBRO_TOPIC_" + name, default)
    r = redis.Redis.from_url(os.environ["RECOBRO_REDIS_URL"])
    segments, statuses = collections.Counter(), collections.Counter()
    for key in r.scan_iter("recobro:case:*", count=1000):
        doc = json.loads(r.get(key) or "{}")
        if doc:
            segments[doc.get("segment") or "none"] += 1
            statuses[doc.get("status") or "none"] += 1
    table("Cases per segment (Redis hot cases)", segments)

    created, cancelled = {}, set()
    for m in read_topic(t("TASKS", "recobro.tasks")):
        ev = json.loads(m.value())
        if ev["type"] == "task.created":
            created[ev["data"]["task_id"]] = ev["data"]
        elif ev["type"] == "task.cancelled":
            cancelled.add(ev["data"]["task_id"])
    table("Tasks created per action / channel (recobro.tasks; %d since withdrawn)" %
          len(cancelled & set(created)),
          collections.Counter("%s / %s" % (d["action"], d["channel"]) for d in created.values()))

    events = [json.loads(m.value()) for m in read_topic(t("CASE_EVENTS", "recobro.case-events"))]
    table("Case events (recobro.case-events)", collections.Counter(e["type"] for e in events))

    # The business measures (DOMAIN.md): the last word on each promise decides its outcome.
    outcome = {}
    for e in events:
        if e["type"] in ("promise.kept", "promise.broken") and not e["data"].get("plan_id"):
            outcome[e["data"]["promise_id"]] = e["type"]
    kept = sum(1 for v in outcome.values() if v == "promise.kept")
    cases = sum(segments.values())
    cured = statuses.get("resolved", 0)
    print("\nBusiness measures")
    print("  promises settled %d, kept %d: promise-kept rate %.0f%%" %
          (len(outcome), kept, 100.0 * kept / len(outcome) if outcome else 0))
    print("  cases %d, back to zero balance %d: cure rate %.1f%%" %
          (cases, cured, 100.0 * cured / cases if cases else 0))
    table("Cases per status", statuses)

    reasons = collections.Counter(dict(m.headers() or []).get("recobro-error", b"?").decode()
                                  for m in read_topic(t("DLQ", "recobro.dlq")))
    table("Rejected messages per reason (recobro.dlq)", reasons)
    if created:
        sample = sorted(created.values(), key=lambda d: (d["creditor_id"], d["debtor_id"]))[0]
        print("\nA task as a notifier receives it:")
        print(json.dumps(sample, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    sys.exit(main())
