"""test_dedupe.py - the dedupe insert's two ways (worker.c, begin_dedupe()): after a run of
batches without a duplicate the worker inserts the batch's (source, id) pairs without ON CONFLICT;
a batch holding a re-sent event (seen in an earlier batch, or twice in the same batch) fails that
insert, is rolled back and redone with ON CONFLICT. Either way every event has its effect exactly
once, every duplicate is counted as one, and bad events beside them still go to the DLQ."""
import stackutil as su
from conftest import worker_env

CLEAN = 4000  # 40 batches of 100 without a duplicate: the worker goes the plain way


def add(rid, i, key, amount, **extra):
    data = {"key": key, "amount": str(amount)}
    data.update(extra)
    return ("acme/" + key, su.event("erp/dedupe", "%s-%d" % (rid, i), "test.add", data), None)


def test_duplicates_after_a_clean_run_are_found_and_the_rest_applied(names, services):
    rid = names["rid"]
    keys = ["%s-k%d" % (rid, i) for i in range(20)]
    expected = {k: 0 for k in keys}
    first = []
    for i in range(CLEAN):
        k = keys[i % len(keys)]
        expected[k] += i + 1
        first.append(add(rid, i, k, i + 1))
    env = worker_env(names, RECOBRO_BATCH_MAX="100")
    w = services("recobro-testsum", env)
    services("recobro-relay", env)  # the DLQ copies go out through the outbox
    su.produce(names["in"], first)

    def stored():
        return su.query("SELECT coalesce(sum(next_offset), 0) FROM consumer_offset "
                        "WHERE group_id = %s", names["group"])[0][0]

    su.wait_for(lambda: stored() == CLEAN, timeout=120, what="the clean run stored")

    # Then new events mixed with re-sends: of the clean run's events (earlier batches), and of
    # this stream's own, right behind the original (most likely in the same batch).
    second, dups = [], 0
    for j in range(300):
        i = CLEAN + j
        k = keys[j % len(keys)]
        expected[k] += 7
        second.append(add(rid, i, k, 7))
        if j % 3 == 0:
            second.append(add(rid, i, k, 7))  # the same event twice in a row
            dups += 1
        if j % 3 == 1:
            old = j * 13 % CLEAN
            second.append(add(rid, old, keys[old % len(keys)], old + 1))  # an old one again
            dups += 1
    # Bad input among them: a data error (validate) and a rejection inside the transaction.
    second.append(add(rid, 90001, keys[0], "x"))
    second.append(add(rid, 90002, keys[1], 5, reject_in_tx=True))
    su.produce(names["in"], second)
    total = CLEAN + len(second)
    su.wait_for(lambda: stored() == total, timeout=120, what="every offset stored")

    rows = dict(su.query("SELECT key, total FROM test_total WHERE key = ANY(%s)", keys))
    assert rows == expected
    assert su.query("SELECT sum(events) FROM test_total WHERE key = ANY(%s)",
                    keys)[0][0] == CLEAN + 300
    assert w.metric("recobro_events_total", 'type="test.add",result="applied"') == CLEAN + 300
    assert w.metric("recobro_events_total", 'type="test.add",result="duplicate"') == dups
    assert w.metric("recobro_events_total", 'type="test.add",result="rejected"') == 2
    # Each applied pair recorded once; the one rejected inside the transaction forgotten (a
    # corrected re-send will be applied), the invalid one never recorded.
    assert su.query("SELECT count(*) FROM processed_event WHERE source = 'erp/dedupe' "
                    "AND event_id LIKE %s", rid + "-%")[0][0] == CLEAN + 300
    dlq = su.consume(names["dlq"], 2, timeout=60)
    reasons = sorted(dict(m.headers())["recobro-error"].decode() for m in dlq)
    assert reasons == ["currency_mismatch", "invalid_amount"]
