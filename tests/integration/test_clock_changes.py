"""test_clock_changes.py - the scheduler under a wall clock that jumps (RECOBRO_NOW / --now moved
between sweeps): forward by days, due work is neither skipped nor done twice (a case swept once
after the jump does the first due ladder day at once and catches up one ladder day per local day,
ending with the same tasks, in the same order, as a case swept every day); back by an hour (also across
the debtor's local midnight), nothing is done again, and when the clock comes forward again the
next day's work is done once."""
import psycopg

import test_scheduler as ts
from test_scheduler import db, feed, tick, tasks_of

sc = ts.sc
_drop_private_db = ts._drop_private_db


def execute(n, sql, *params):
    with psycopg.connect(n["dsn"], autocommit=True) as conn:
        conn.execute(sql, params)


def steps(n, d):
    return [(s, a) for s, a, _ in tasks_of(n, d)]


def test_jump_forward_days_skips_nothing(sc, services):
    daily, jumped = "D-daily", "D-jumped"
    feed(services, sc, [(daily, "2026-10-31"), (jumped, "2026-10-31")])
    # Keep the daily case alone due each day: the jumped one is parked until after the jump.
    execute(sc, "UPDATE debt_case SET next_due_at = '2026-12-20T00:00:00Z' WHERE creditor_id = %s "
           "AND debtor_id = %s", sc["creditor"], jumped)
    for day in range(26, 31):
        tick(sc, "2026-11-%02dT10:00:00Z" % day)
    for day in range(1, 10):
        tick(sc, "2026-12-%02dT10:00:00Z" % day)
    # The other case: its clock jumps from 25 November to 9 December in one sweep.
    execute(sc, "UPDATE debt_case SET next_due_at = '2026-11-26T00:00:00+01:00' WHERE creditor_id = "
           "%s AND debtor_id = %s", sc["creditor"], jumped)
    s = tick(sc, "2026-12-09T10:00:00Z")
    assert s["cases"] == 1 and s["failed"] == 0
    want = steps(sc, daily)
    assert len(want) > 3  # the ladder moved on during the jump: there was work to skip
    # The sweep after the jump does the first ladder day that was due (a sweep plans the next
    # due step and the steps of the same ladder day, casefile.c plan_steps()), and the case is
    # due again at its next local midnight: a later ladder day is never skipped, only caught up
    # one per local day, so the debtor does not get a week of reminders at once.
    got = steps(sc, jumped)
    assert got == want[:len(got)] and len(got) >= 3
    # Once done, the same instant and the hour after do nothing more.
    assert tick(sc, "2026-12-09T10:00:00Z")["cases"] == 0
    assert tick(sc, "2026-12-09T11:00:00Z")["cases"] == 0
    assert steps(sc, jumped) == got
    # The daily case stays where it is; the jumped one catches up on the following days.
    execute(sc, "UPDATE debt_case SET next_due_at = '2027-06-01T00:00:00Z' WHERE creditor_id = "
                "%s AND debtor_id = %s", sc["creditor"], daily)
    for day in range(10, 10 + len(want)):
        if len(steps(sc, jumped)) >= len(want):
            break
        tick(sc, "2026-12-%02dT10:00:00Z" % day)
    # Every step the daily case had, in order, none twice (days went on meanwhile, so the
    # jumped case may already be further).
    assert steps(sc, jumped)[:len(want)] == want
    nums = [n for n, _ in steps(sc, jumped)]
    assert nums == list(range(1, len(nums) + 1))


def test_clock_back_an_hour_acts_once(sc, services):
    d = "D-back"
    feed(services, sc, [(d, "2026-10-31")])
    # 00:30 on 30 November in Madrid: day 5, the SMS reminder.
    s = tick(sc, "2026-11-29T23:30:00Z")
    assert (s["cases"], s["tasks_created"]) == (1, 1)
    before = steps(sc, d)
    # The clock goes back an hour, to 23:30 on the 29th in Madrid, then forward again.
    for now in ("2026-11-29T22:30:00Z", "2026-11-29T22:59:59Z", "2026-11-29T23:30:00Z",
                "2026-11-29T23:45:00Z"):
        s = tick(sc, now)
        assert (s["cases"], s["tasks_created"], s["tasks_cancelled"]) == (0, 0, 0), now
    assert steps(sc, d) == before
    # The next local day is swept once, whatever the clock did before.
    s = tick(sc, "2026-11-30T23:00:01Z")
    assert s["cases"] == 1 and s["failed"] == 0
    assert tick(sc, "2026-11-30T22:30:00Z")["cases"] == 0  # back an hour again
    assert tick(sc, "2026-11-30T23:30:00Z")["cases"] == 0
    ids = db(sc, "SELECT task_id FROM task WHERE creditor_id = %s", sc["creditor"])
    assert len(ids) == len(set(ids))
