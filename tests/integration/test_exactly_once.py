"""test_exactly_once.py - 10,000 events, 5% of them re-sent duplicates, the worker killed with
SIGKILL at two random moments and restarted: every total is exactly right and no output id is
missing."""
import json
import random
import signal
import time

import stackutil as su
from conftest import worker_env

N = 10_000


def test_exactly_once_under_sigkill(names, services):
    rid = names["rid"]
    rng = random.Random(rid)
    keys = ["%s-k%d" % (rid, i) for i in range(50)]
    expected = {k: 0 for k in keys}
    events = []
    for i in range(N):
        k = rng.choice(keys)
        amount = rng.randint(1, 100_000)
        expected[k] += amount
        events.append(("acme/" + k, su.event("erp/test", "%s-%d" % (rid, i), "test.add",
                                              {"key": k, "amount": str(amount)})))
    # 5% duplicates, re-sent later in the stream (same source and id, same key).
    stream = list(events)
    for i in rng.sample(range(N), N // 20):
        pos = rng.randint(i + 1, len(stream))
        stream.insert(pos, events[i])
    su.produce(names["in"], [(k, v, None) for k, v in stream])

    # A killed member is noticed after the session timeout: keep it short (6 s is the broker's
    # minimum) so the restarted worker gets the partitions soon.
    env = worker_env(names, RECOBRO_BATCH_MAX="200", RECOBRO_KAFKA_SESSION_TIMEOUT_MS="6000")
    relay = services("recobro-relay", env)

    def progress():
        return su.query("SELECT coalesce(sum(next_offset), 0) FROM consumer_offset "
                        "WHERE group_id = %s", names["group"])[0][0]

    # Two kills, each at a random point of the run; a restart after each.
    kill_points = sorted(rng.sample(range(1500, len(stream) - 1500), 2))
    for point in kill_points:
        w = services("recobro-testsum", env)
        su.wait_for(lambda: progress() >= point, timeout=180, interval=0.01,
                    what="progress to %d" % point)
        time.sleep(rng.random() * 0.05)
        w.kill(signal.SIGKILL)
        w.proc.wait()
    services("recobro-testsum", env)
    su.wait_for(lambda: progress() == len(stream), timeout=300, what="all offsets stored")

    rows = dict(su.query("SELECT key, total FROM test_total WHERE key = ANY(%s)", keys))
    assert rows == expected
    counts = su.query("SELECT sum(events) FROM test_total WHERE key = ANY(%s)", keys)[0][0]
    assert counts == N

    out = su.consume(names["out"], N, timeout=300)
    ids = {json.loads(m.value())["id"] for m in out}
    assert len(ids) == N  # none missing; each produced at least once
    assert ids == {"out-erp/test-%s-%d" % (rid, i) for i in range(N)}
    assert relay.proc.poll() is None
