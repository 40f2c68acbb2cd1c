"""test_poison.py - a message that crashes the worker every time it is applied (the test hook
recobro-test-crashworker: the real overdue worker that abort()s on data.x_test_crash) ends in the
DLQ as `poison` after RECOBRO_POISON_ATTEMPTS crashes alone, while the good messages around it,
on its partition and on another, are applied exactly once. The attempts are counted in
PostgreSQL (consumer_attempt) before each batch runs, so each crash is known to the next start."""
import json

import pytest

import stackutil as su
from conftest import worker_env
from test_overdue import POLICY, overdue

NOW = "2026-11-25T10:00:00Z"
ATTEMPTS = 2


@pytest.fixture
def po(names, tmp_path):
    names["tmp"] = tmp_path
    names["events"] = "it.%s.events" % names["rid"]
    su.create_topics([names["events"]])
    names["creditor"] = "cr-" + names["rid"]
    return names


def env(names, **extra):
    e = worker_env(names, RECOBRO_TOPIC_CASE_EVENTS=names["events"], RECOBRO_NOW=NOW,
                   RECOBRO_POLICY_FILE=str(POLICY), RECOBRO_POISON_ATTEMPTS=str(ATTEMPTS),
                   RECOBRO_BATCH_MS="300", RECOBRO_KAFKA_GROUP_INSTANCE_ID="poison-" + names["rid"],
                   RECOBRO_KAFKA_SESSION_TIMEOUT_MS="6000")
    e.update(extra)
    return e


def crashing(rid, eid, cr, d):
    ev = json.loads(overdue(rid, eid, cr, d, "INV-P", "99.00", "2026-10-01"))
    ev["data"]["x_test_crash"] = True
    return json.dumps(ev)


def poison_counted(w):
    try:
        return w.metric("recobro_poison_total") == 1
    except OSError:
        return False


def cases(cr):
    return {r[0]: (r[1], r[2]) for r in su.query(
        "SELECT c.debtor_id, c.version, (SELECT count(*) FROM invoice i WHERE i.creditor_id = "
        "c.creditor_id AND i.debtor_id = c.debtor_id) FROM debt_case c WHERE c.creditor_id = %s",
        cr)}


def run_until_poison_set_aside(po):
    """Starts the crash worker until it has set the poison aside; returns (crashes, the last
    worker, still running)."""
    crashes = 0
    w = None
    for _ in range(ATTEMPTS + 3):
        w = su.Service("recobro-test-crashworker", env(po), po["tmp"]).start()
        # Runs until it crashes, or until it has set the poison aside.
        su.wait_for(lambda: w.proc.poll() is not None or poison_counted(w), timeout=90,
                    what="a crash or the poison set aside")
        if w.proc.poll() is None:
            break
        assert "crashing on purpose" in w.tail(200)
        crashes += 1
        w.log.close()
    return crashes, w


def check_applied_once(po, services, w, good):
    """Every good debtor's three invoices applied exactly once, the poison never, and the poison
    alone in the DLQ."""
    rid, cr = po["rid"], po["creditor"]
    want = {d: 3 for d in good}
    su.wait_for(lambda: {d: n for d, (_, n) in cases(cr).items()} == want or None,
                timeout=60, what="every good invoice applied")
    assert "D-P" not in cases(cr)  # the poison was never applied
    # Exactly once: three events per debtor, three case versions, nothing applied twice.
    versions = {d: v for d, (v, _) in cases(cr).items()}
    assert len(set(versions.values())) == 1, versions
    assert su.query("SELECT count(*) FROM processed_event WHERE event_id LIKE %s",
                    rid + "-g%") == [(3 * len(good),)]
    assert su.query("SELECT count(*) FROM processed_event WHERE event_id = %s",
                    rid + "-poison") == [(0,)]
    # The attempt records are gone once everything committed.
    assert su.query("SELECT count(*) FROM consumer_attempt WHERE group_id = %s",
                    po["group"]) == [(0,)]
    assert w.metric("recobro_poison_total") == 1
    services("recobro-relay", env(po))
    dlq = su.consume(po["dlq"], 1, timeout=60)
    assert len(dlq) == 1
    h = dict(dlq[0].headers())
    assert h["recobro-error"] == b"poison"
    assert b"crashed the worker 2 times" in h["recobro-error-detail"]
    assert json.loads(dlq[0].value())["id"] == rid + "-poison"  # byte for byte
    assert '"event":"event.poison"' in w.tail(400)


def test_poison_message_goes_to_dlq_and_the_rest_is_applied_once(po, services):
    rid, cr = po["rid"], po["creditor"]
    # Two keys share the poison's partition only by chance; the keys of one debtor always do.
    # Six debtors of one key each, the poison in the middle of the key "D-0"'s partition.
    good = ["D-%d" % i for i in range(6)]
    msgs = []
    for n in range(3):
        for d in good:
            msgs.append(("%s/%s" % (cr, d),
                         overdue(rid, "g%d-%s" % (n, d), cr, d, "INV-%d" % n, "10.00",
                                 "2026-10-01"), None))
        if n == 1:
            msgs.append(("%s/D-0" % cr, crashing(rid, "poison", cr, "D-P"), None))
    su.produce(po["in"], msgs)

    crashes, w = run_until_poison_set_aside(po)
    # One crash of the batch it came in, then ATTEMPTS crashes alone, then set aside.
    assert crashes == ATTEMPTS + 1, crashes
    try:
        check_applied_once(po, services, w, good)
    finally:
        w.stop()


def test_messages_of_other_partitions_held_behind_the_poison_are_not_poison(po, services):
    """After a crash the batch goes one message at a time; the messages of other partitions
    that wait behind the poison are in hand at every crash without ever being applied alone:
    they are not counted as crashing the worker, and are applied once the poison is aside."""
    rid, cr = po["rid"], po["creditor"]
    good = ["D-%d" % i for i in range(6)]
    p = su.producer()
    # The poison second on partition 0; every other partition's messages follow it in the
    # order the worker receives them (partition order), on three or more starts in a row.
    for n in range(3):
        for i, d in enumerate(good):
            p.produce(po["in"], key="%s/%s" % (cr, d), partition=i,
                      value=overdue(rid, "g%d-%s" % (n, d), cr, d, "INV-%d" % n, "10.00",
                                    "2026-10-01").encode())
            if n == 0 and i == 0:
                p.produce(po["in"], key="%s/D-0" % cr, partition=0,
                          value=crashing(rid, "poison", cr, "D-P").encode())
    assert p.flush(60) == 0

    crashes, w = run_until_poison_set_aside(po)
    assert crashes == ATTEMPTS + 1, crashes
    try:
        check_applied_once(po, services, w, good)
    finally:
        w.stop()


def test_bad_poison_setting_stops_the_worker(po):
    w = su.Service("recobro-overdue", env(po, RECOBRO_POISON_ATTEMPTS="0"), po["tmp"]).start()
    assert w.proc.wait(timeout=30) == 2
    assert "RECOBRO_POISON_ATTEMPTS" in w.tail()
    w.log.close()
