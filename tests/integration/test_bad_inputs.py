"""test_bad_inputs.py - more than 200 distinct bad inputs (badcorpus.py) pushed end to end
through the real workers (recobro-overdue, -payments, -interactions) and the relay: every one
lands on the DLQ, byte for byte, with the code the contract gives it and the service that
refused it, while a good event put right behind each bad one, on the same key (so the same
partition), is applied. Every code of proto/README.md is produced; `poison` through the test hook
recobro-test-crashworker, the real overdue worker that crashes on data.x_test_crash.

The database is the test's own (created, migrated and dropped here): triggers refuse invoices,
payments and contacts whose id starts with REFUSE, which is how a valid-looking event meets a
database that refuses it (`processing_error`). One bounded run: about a minute."""
import collections
import json
import time

import psycopg
import pytest

import badcorpus as bc
import stackutil as su
from conftest import worker_env

POLICY = su.ROOT / "deploy" / "policy" / "default.json"
README = su.ROOT / "proto" / "README.md"
BASES = ["B-%d" % k for k in range(6)]

REFUSE = """
CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF to_jsonb(NEW) ->> TG_ARGV[0] LIKE 'REFUSE%' THEN
    RAISE EXCEPTION 'refused by the test';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER test_refuse BEFORE INSERT ON invoice FOR EACH ROW
  EXECUTE FUNCTION test_refuse('invoice_id');
CREATE TRIGGER test_refuse BEFORE INSERT ON payment FOR EACH ROW
  EXECUTE FUNCTION test_refuse('payment_id');
CREATE TRIGGER test_refuse BEFORE INSERT ON contact_log FOR EACH ROW
  EXECUTE FUNCTION test_refuse('agent_id');
"""


@pytest.fixture
def bi(names, tmp_path):
    n = names
    n["tmp"] = tmp_path
    for t in ("inv", "pay", "events", "crash"):
        n[t] = "it.%s.%s" % (n["rid"], t)
    su.create_topics([n["inv"], n["pay"], n["events"], n["crash"]])
    n["creditor"] = "cr-" + n["rid"]
    n["db"] = "recobro_bad_" + n["rid"]
    n["dsn"] = su.create_database(n["db"])
    with psycopg.connect(n["dsn"], autocommit=True) as conn:
        conn.execute(REFUSE)
    yield n
    su.drop_database(n["db"])


def envs(n, group, **extra):
    env = worker_env(n, RECOBRO_TOPIC_INVOICES=n["inv"], RECOBRO_TOPIC_PAYMENTS=n["pay"],
                     RECOBRO_TOPIC_INTERACTIONS=n["in"], RECOBRO_TOPIC_CASE_EVENTS=n["events"],
                     RECOBRO_NOW=bc.T0, RECOBRO_POLICY_FILE=str(POLICY), RECOBRO_PG_DSN=n["dsn"],
                     RECOBRO_GROUP_ID=n["group"] + "-" + group)
    env.update(extra)
    return env


def db(n, sql, *params):
    with psycopg.connect(n["dsn"], autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def readme_codes():
    text = README.read_text()
    table = text[text.index("## Error codes"):text.index("Which check wins")]
    return {line.split("`")[1] for line in table.splitlines() if line.startswith("| `")}


def interleave(n, topic_items, good):
    """(key, payload, None) messages: each bad one followed by a good one of the same key."""
    cr, msgs, goods = n["creditor"], [], []
    for i, (payload, _) in enumerate(topic_items):
        d = BASES[i % len(BASES)]
        msgs.append(("%s/%s" % (cr, d), payload, None))
        g = good(n["rid"], cr, d, i)
        goods.append(json.loads(g)["id"])
        msgs.append(("%s/%s" % (cr, d), g, None))
    return msgs, goods


def poison_phase(n):
    """The poison: one crashing event between good ones on one partition, through the crash hook
    with RECOBRO_POISON_ATTEMPTS=1 (two crashes: its batch's, then one alone)."""
    cr, rid = n["creditor"], n["rid"]
    key = "%s/%s" % (cr, BASES[0])
    crash = bc.envelope(rid, "poison", "invoice.overdue", bc.base_invoice(cr, "P-" + rid, "P-1"))
    crash["data"]["x_test_crash"] = True
    msgs = [(key, bc.good_invoice(rid, cr, BASES[0], 1000), None), (key, bc.dump(crash), None),
            (key, bc.good_invoice(rid, cr, BASES[0], 1001), None)]
    su.produce(n["crash"], msgs)
    env = envs(n, "crash", RECOBRO_TOPIC_INVOICES=n["crash"], RECOBRO_POISON_ATTEMPTS="1",
               RECOBRO_KAFKA_GROUP_INSTANCE_ID="crash-" + rid,
               RECOBRO_KAFKA_SESSION_TIMEOUT_MS="6000")
    for _ in range(4):
        w = su.Service("recobro-test-crashworker", env, n["tmp"]).start()
        su.wait_for(lambda: w.proc.poll() is not None or
                    db(n, "SELECT count(*) FROM processed_event WHERE event_id = %s",
                       "%s-good-inv-1001" % rid)[0][0] == 1, timeout=60, what="crash or done")
        if w.proc.poll() is None:
            w.stop()
            return [(bc.dump(crash), "poison")], ["%s-good-inv-1000" % rid,
                                                   "%s-good-inv-1001" % rid]
        w.log.close()
    raise AssertionError("the poison was not set aside: " + w.tail())


def test_every_bad_input_lands_in_the_dlq_and_the_good_ones_apply(bi, services):
    n, cr, rid = bi, bi["creditor"], bi["rid"]
    started = time.time()
    corpus = {
        "inv": bc.invoices(rid, cr, BASES[0]),
        "pay": bc.payments(rid, cr, BASES[0]),
        "in": bc.interactions(rid, cr, BASES[0]),
    }
    services("recobro-relay", envs(n, "relay"))
    # The base cases first (300.00 EUR each), so the database-aware checks have a case to see.
    su.produce(n["inv"], [("%s/%s" % (cr, d), bc.dump(bc.envelope(
        rid, "base-" + d, "invoice.overdue", bc.base_invoice(cr, d))), None) for d in BASES])
    services("recobro-overdue", envs(n, "ov"))
    su.wait_for(lambda: db(n, "SELECT count(*) FROM debt_case WHERE creditor_id = %s",
                           cr)[0][0] == len(BASES) or None, timeout=60, what="base cases")

    goods = []
    for topic, items in corpus.items():
        good = {"inv": bc.good_invoice, "pay": bc.good_payment, "in": bc.good_contact}[topic]
        msgs, g = interleave(n, items, good)
        goods += g
        su.produce(n[topic], msgs)
    services("recobro-payments", envs(n, "pay"))
    services("recobro-interactions", envs(n, "ia"))
    poison, poison_goods = poison_phase(n)
    goods += poison_goods

    want = {(n[t], p): c for t, items in corpus.items() for p, c in items}
    want.update({(n["crash"], p): c for p, c in poison})
    assert len(want) >= 200 and len(want) == sum(len(v) for v in corpus.values()) + 1
    service = {n["inv"]: b"overdue", n["pay"]: b"payments", n["in"]: b"interactions",
               n["crash"]: b"overdue"}
    dlq = su.consume(n["dlq"], len(want), timeout=90)
    got, wrong = {}, []
    for m in dlq:
        h = dict(m.headers())
        src = h["recobro-source-topic"].decode()
        got[(src, m.value())] = h["recobro-error"].decode()
        assert h["recobro-service"] == service[src]
        assert h["recobro-error-detail"]
        assert m.key().decode().startswith(cr + "/")
    for k, code in want.items():
        if got.get(k) != code:
            wrong.append("%s: want %s, got %s: %r" % (k[0], code, got.get(k), k[1][:160]))
    assert not wrong, "%d of %d wrong:\n%s" % (len(wrong), len(want), "\n".join(wrong))
    assert len(dlq) == len(want)  # nothing else was refused
    assert set(got.values()) == readme_codes()  # every code of the contract, produced

    # Every good event behind a bad one was applied.
    applied = {r[0] for r in db(n, "SELECT event_id FROM processed_event WHERE event_id LIKE %s",
                                rid + "-good-%")}
    missing = [g for g in goods if g not in applied]
    assert not missing, "good events not applied: %s" % missing[:10]
    counts = collections.Counter(code for code in want.values())
    print("bad inputs: %d %s; good: %d; %.0f s" % (len(want), dict(counts), len(goods),
                                                   time.time() - started))
    assert time.time() - started < 120
