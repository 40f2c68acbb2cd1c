"""test_dlq.py - rejected messages reach the DLQ byte for byte, with their key and the
contract's headers, and the messages behind them on the same partition are applied."""
import json

import stackutil as su
from conftest import worker_env


def test_bad_messages_go_to_dlq_and_good_ones_pass(names, services):
    rid = names["rid"]
    k = rid + "-k"
    key = "acme/" + k  # one key: one partition, so the good messages sit behind the bad ones
    good = lambda i, a: su.event("erp/test", "%s-g%d" % (rid, i), "test.add",
                                 {"key": k, "amount": str(a)})
    bad = [
        ("malformed_json", b"{not json"),
        ("malformed_json", b"\xff\xfe binary"),
        ("schema_violation", json.dumps({"id": "x", "source": "s", "type": "test.add",
                                         "data": {}}).encode()),
        ("schema_violation", json.dumps({"specversion": "1.0", "id": rid + "-b3",
                                         "source": "s", "type": "test.add",
                                         "data": "text"}).encode()),
        ("unknown_type", su.event("erp/test", rid + "-b4", "invoice.exploded",
                                  {"key": k, "amount": "1"}).encode()),
        ("invalid_amount", su.event("erp/test", rid + "-b5", "test.add",
                                    {"key": k, "amount": 12.5}).encode()),
        ("too_large", b'{"pad":"' + b"x" * (1200 * 1024) + b'"}'),
        ("currency_mismatch", su.event("erp/test", rid + "-b7", "test.add",
                                       {"key": k, "amount": "9", "reject_in_tx": True}).encode()),
    ]
    msgs = []
    for i, (code, payload) in enumerate(bad):
        msgs.append((key, good(i, 10 + i), None))
        msgs.append((key, payload, [("trace-id", b"t-%d" % i)]))
    msgs.append((key, good(99, 1000), None))
    su.produce(names["in"], msgs)

    services("recobro-testsum", worker_env(names))
    services("recobro-relay", worker_env(names))

    dlq = su.consume(names["dlq"], len(bad), timeout=120)
    assert len(dlq) == len(bad)
    by_payload = {m.value(): m for m in dlq}
    for code, payload in bad:
        m = by_payload[payload]  # byte for byte
        h = dict(m.headers())
        assert m.key().decode() == key
        assert h["recobro-error"].decode() == code
        assert h["recobro-error-detail"]
        assert h["recobro-source-topic"].decode() == names["in"]
        assert int(h["recobro-source-partition"]) >= 0
        assert int(h["recobro-source-offset"]) >= 0
        assert h["recobro-service"] == b"testsum"
        assert h["trace-id"].startswith(b"t-")  # the producer's own headers are kept
    # Every good message was applied, including the one after the last bad message.
    total = sum(10 + i for i in range(len(bad))) + 1000
    su.wait_for(lambda: su.query("SELECT total FROM test_total WHERE key = %s", k) == [(total,)],
                what="good messages applied")
    # A rejected event is not remembered as processed: a corrected re-send will be applied.
    assert su.query("SELECT count(*) FROM processed_event WHERE event_id = %s",
                    rid + "-b7") == [(0,)]


def test_detail_has_no_personal_data(names, services):
    rid = names["rid"]
    secret = "Maria Lopez +34 600 000 000 " * 3  # longer than a key may be
    ev = su.event("erp/test", rid + "-p", "test.add", {"key": secret, "amount": "1"})
    su.produce(names["in"], [("acme/x", ev, None)])
    services("recobro-testsum", worker_env(names))
    services("recobro-relay", worker_env(names))
    dlq = su.consume(names["dlq"], 1, timeout=60)
    assert len(dlq) == 1
    h = dict(dlq[0].headers())
    assert h["recobro-error"] == b"schema_violation"
    assert b"Maria" not in h["recobro-error-detail"] and b"600" not in h["recobro-error-detail"]
