"""test_charges.py - late interest, fees and their allocation end to end through Kafka: an
invoice (fees agreed) through recobro-overdue under deploy/policy/es.json (3.25% a year, a
30 EUR fee, interest first), a month later a payment and its reversal through recobro-payments;
the hot case in Redis and the rows in PostgreSQL checked against values computed here (Decimal,
half-even), not by recobro's code."""
import json
from decimal import Decimal, ROUND_HALF_EVEN

import psycopg
import pytest

import stackutil as su
from conftest import worker_env
from test_overdue import overdue, wait_cache
from test_payments import payment, reversal, send

ES = su.ROOT / "deploy" / "policy" / "es.json"
NOW = "2026-11-25T10:00:00Z"        # the invoice: accrual starts on 2026-11-25 (Madrid)
PAY_NOW = "2026-12-25T10:00:00Z"    # the payment: 30 days accrued first (Nov 25..Dec 24)


def daily(cents, pct):
    return int((Decimal(cents) * Decimal(pct) / 100 / 365).to_integral_value(ROUND_HALF_EVEN))


@pytest.fixture
def ch(names):
    """Topics, and a database of the test's own: the workers import es.json there as the active
    policy, which must not become the policy of the other suites' shared database."""
    names["events"] = "it.%s.events" % names["rid"]
    names["pay"] = "it.%s.pay" % names["rid"]
    su.create_topics([names["events"], names["pay"]])
    names["creditor"] = "cr-" + names["rid"]
    names["db"] = "it_charges_" + names["rid"].replace("-", "_")
    names["dsn"] = su.create_database(names["db"])
    yield names
    su.drop_database(names["db"])  # the services fixture stopped the workers first


def query(ch, sql, *params):
    with psycopg.connect(ch["dsn"], autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def test_interest_fee_payment_and_reversal(ch, services):
    rid, cr, d = ch["rid"], ch["creditor"], "D-int"
    base = dict(RECOBRO_TOPIC_CASE_EVENTS=ch["events"], RECOBRO_TOPIC_PAYMENTS=ch["pay"],
                RECOBRO_POLICY_FILE=str(ES), RECOBRO_PG_DSN=ch["dsn"])
    ev = overdue(rid, "o1", cr, d, "INV-1", "1000.00", "2026-10-31")
    ev_fee = overdue(rid, "o2", cr, d, "INV-2", "0.01", "2026-12-31")
    ev_fee_data = ev_fee  # a second invoice, not yet due, agreeing fees
    doc = json.loads(ev_fee_data)
    doc["data"]["invoice"]["fees_agreed"] = True
    send(ch["in"], cr, d, ev, json.dumps(doc))
    services("recobro-overdue", worker_env(ch, **dict(base, RECOBRO_NOW=NOW)))
    c = wait_cache(cr, d, lambda c: c.get("fees") == "30.00", "fee charged")
    assert c["principal"] == "1000.01" and c["interest"] == "0.00" and c["balance"] == "1030.01"

    services("recobro-payments",
             worker_env(ch, **dict(base, RECOBRO_NOW=PAY_NOW, RECOBRO_GROUP_ID=ch["group"] + "-p")))
    send(ch["pay"], cr, d, payment(rid, "p1", cr, d, "PAY-1", "100.00",
                                   received_at="2026-12-25T09:00:00Z"))
    interest = 30 * daily(100000, "3.25")   # INV-2 is not past due before Jan 1
    principal = 100001 - (10000 - interest - 3000)
    c = wait_cache(cr, d, lambda c: c.get("interest_through") == "2026-12-24", "interest accrued")
    assert c["interest"] == "0.00" and c["fees"] == "0.00"
    assert c["principal"] == "%d.%02d" % divmod(principal, 100)
    row = query(ch, "SELECT interest, fees FROM payment_charge WHERE creditor_id = %s "
                   "AND debtor_id = %s AND payment_id = 'PAY-1'", cr, d)
    assert row == [(interest, 3000)]
    assert query(ch, "SELECT interest_total, accrued_through::text FROM case_charges "
                    "WHERE creditor_id = %s AND debtor_id = %s", cr, d) == [(interest, "2026-12-24")]

    # The reversal re-opens exactly what the payment paid: principal, interest and the fee.
    send(ch["pay"], cr, d, reversal(rid, "r1", cr, d, "PAY-1"))
    c = wait_cache(cr, d, lambda c: c.get("fees") == "30.00", "reversal re-opened")
    assert c["principal"] == "1000.01"
    assert c["interest"] == "%d.%02d" % divmod(interest, 100)
    assert c["balance"] == "%d.%02d" % divmod(100001 + interest + 3000, 100)
