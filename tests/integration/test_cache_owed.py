"""test_cache_owed.py - a process SIGKILLed between its batch's COMMIT and the batch's Redis writes
leaves no hot case behind PostgreSQL for good: the batch recorded the cases it owed the cache
(table cache_owed) in its own transaction, and the next process to start re-writes them from
PostgreSQL's current state.

The kill comes from the test hook RECOBRO_TEST_CRASH_AFTER_COMMIT=N (cacheowe.h, TEST ONLY): the
process SIGKILLs itself right after its N-th commit that owes cache writes, before writing them.
Before the fix, the killed worker's cases were missing from Redis (the scheduler's: one version
behind) until the case changed again or the TTL ended.

Each test has its own topics, creditor and database (created, migrated and dropped here)."""
import json
from decimal import Decimal

import psycopg

import stackutil as su
# The scheduler suite's fixtures: topics, a creditor and a private migrated database, dropped after.
from test_scheduler import _drop_private_db, envs, overdue, sc  # noqa: F401 (fixtures)

CASES = 30


def db(n, sql, *params):
    with psycopg.connect(n["dsn"], autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def segmented(n):
    return db(n, "SELECT count(*) FROM debt_case WHERE creditor_id = %s AND segment IS NOT NULL",
              n["creditor"])[0][0]


def mismatches(n):
    """Every case whose hot-case document differs from PostgreSQL in version, balance or next
    action (or is missing)."""
    rows = db(n, "SELECT debtor_id, version, balance, next_action FROM debt_case "
                 "WHERE creditor_id = %s AND segment IS NOT NULL ORDER BY debtor_id", n["creditor"])
    r = su.rds()
    bad = []
    for debtor, version, balance, action in rows:
        raw = r.get("recobro:case:%s:%s" % (n["creditor"], debtor))
        if raw is None:
            bad.append("%s: missing (PostgreSQL version %d)" % (debtor, version))
            continue
        doc = json.loads(raw)
        got_action = (doc.get("next_action") or {}).get("action")
        if (doc["version"] != version or Decimal(doc["balance"]) * 100 != balance
                or got_action != action):
            bad.append("%s: cache v%s %s %s, PostgreSQL v%d %d %s" % (
                debtor, doc["version"], doc["balance"], got_action, version, balance, action))
    return bad


def wait_exit(svc, timeout=60):
    svc.proc.wait(timeout)
    return svc.proc.returncode


def test_worker_killed_after_commit_owes_nothing(sc, services):
    """recobro-overdue SIGKILLed after its first commit: its cases are in PostgreSQL but not in
    Redis; the restarted worker writes them from PostgreSQL (and applies the rest)."""
    services("recobro-relay", envs(sc))
    su.produce(sc["in"], [overdue(sc, "D-%03d" % i, "2026-10-31") for i in range(CASES)])
    ov = services("recobro-overdue", envs(sc, RECOBRO_TEST_CRASH_AFTER_COMMIT="1"), ready=False)
    assert wait_exit(ov) == -9, ov.tail()
    done = segmented(sc)
    assert done > 0
    assert db(sc, "SELECT count(*) FROM cache_owed")[0][0] >= 1
    assert len(mismatches(sc)) == done  # the gap the fix closes: none of them is cached

    services("recobro-overdue", envs(sc))
    su.wait_for(lambda: segmented(sc) == CASES, timeout=120, what="every case applied")
    su.wait_for(lambda: not mismatches(sc), timeout=30, what="cache equal to PostgreSQL")
    assert not mismatches(sc)
    su.wait_for(lambda: db(sc, "SELECT count(*) FROM cache_owed")[0][0] == 0, timeout=30,
                what="cache_owed emptied")
    # Exactly once: each event applied once, one invoice per case.
    assert db(sc, "SELECT count(*) FROM invoice i JOIN debt_case c USING (creditor_id, debtor_id) "
                  "WHERE c.creditor_id = %s", sc["creditor"])[0][0] == CASES


def test_scheduler_killed_mid_sweep_owes_nothing(sc, services):
    """recobro-scheduler SIGKILLed after committing its first batch of swept cases: their new
    versions are in PostgreSQL, Redis still has the old ones; the restarted scheduler re-writes
    them from PostgreSQL."""
    services("recobro-relay", envs(sc))
    ov = services("recobro-overdue", envs(sc))
    su.produce(sc["in"], [overdue(sc, "D-%03d" % i, "2026-10-31") for i in range(CASES)])
    su.wait_for(lambda: segmented(sc) == CASES, timeout=120, what="cases segmented")
    su.wait_for(lambda: not mismatches(sc), timeout=30, what="cache written")
    ov.stop()
    before = dict(db(sc, "SELECT debtor_id, version FROM debt_case WHERE creditor_id = %s",
                     sc["creditor"]))

    later = "2026-11-30T12:00:00Z"
    s = services("recobro-scheduler", envs(sc, now=later, RECOBRO_SCHEDULER_PERIOD_MS="200",
                                           RECOBRO_TEST_CRASH_AFTER_COMMIT="1"), ready=False)
    assert wait_exit(s) == -9, s.tail()
    after = dict(db(sc, "SELECT debtor_id, version FROM debt_case WHERE creditor_id = %s",
                    sc["creditor"]))
    swept = [d for d in after if after[d] != before[d]]
    assert swept, "the sweep changed no case"
    assert db(sc, "SELECT count(*) FROM cache_owed")[0][0] >= 1
    stale = mismatches(sc)
    assert len(stale) == len(swept), stale  # the gap: one version behind

    s2 = services("recobro-scheduler", envs(sc, now=later, RECOBRO_SCHEDULER_PERIOD_MS="200"))
    su.wait_for(lambda: not mismatches(sc), timeout=30, what="cache equal to PostgreSQL")
    su.wait_for(lambda: db(sc, "SELECT count(*) FROM cache_owed")[0][0] == 0, timeout=30,
                what="cache_owed emptied")
    s2.stop()
    assert not mismatches(sc)
