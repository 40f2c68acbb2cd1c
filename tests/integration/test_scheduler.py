"""test_scheduler.py - the scheduler end to end against the real stack: cases fed through
recobro-overdue with a fixed clock (RECOBRO_NOW), then time moved with `recobroctl scheduler tick
--now` or a running recobro-scheduler; tasks and case events read from Kafka (through the relay)
and the task table checked in PostgreSQL.

Each test has its own topics, consumer group, creditor, and a database of its own (created,
migrated and dropped here), so a sweep sees only that test's cases and its counts are exact."""
import json
import subprocess
from pathlib import Path

import psycopg
import pytest

import stackutil as su
from conftest import worker_env

POLICY = su.ROOT / "deploy" / "policy" / "default.json"
TZ = "Europe/Madrid"
CREATED = "2026-11-25T10:00:00Z"  # when the cases are fed (11:00 in Madrid)


# ---- helpers ---------------------------------------------------------------------------------

@pytest.fixture
def sc(names):
    """Topics, a creditor, and a private database with the schema (and the policy, on the
    overdue worker's first start)."""
    names["events"] = "it.%s.events" % names["rid"]
    su.create_topics([names["events"]])
    names["creditor"] = "cr-" + names["rid"]
    names["db"] = "recobro_sch_" + names["rid"]
    names["dsn"] = su.create_database(names["db"])
    yield names


@pytest.fixture(autouse=True)
def _drop_private_db(request):
    yield
    names = request.node.funcargs.get("sc")
    if names and names.get("db"):
        # The services fixture tears down before this one: nothing is connected any more.
        su.drop_database(names["db"])


def envs(n, now=CREATED, **extra):
    env = worker_env(n, RECOBRO_TOPIC_CASE_EVENTS=n["events"], RECOBRO_NOW=now,
                     RECOBRO_POLICY_FILE=str(POLICY), RECOBRO_PG_DSN=n["dsn"])
    env.update(extra)
    return env


def overdue(n, debtor, due_on, amount="120.00", eid=None):
    data = {"creditor_id": n["creditor"], "debtor_id": debtor, "creditor_name": "ACME Telecom S.L.",
            "debtor": {"id": debtor, "name": "Lucía Fernández Ortega", "timezone": TZ,
                       "country": "ES"},
            "invoice": {"id": "INV-1", "currency": "EUR", "amount": amount,
                        "open_amount": amount, "due_on": due_on}}
    return ("%s/%s" % (n["creditor"], debtor),
            su.event("erp/acme-billing", "%s-%s" % (n["rid"], eid or debtor), "invoice.overdue",
                     data), None)


def feed(services, n, cases, prepare=None):
    """Feeds invoice.overdue for every (debtor, due_on) through recobro-overdue at CREATED, with a
    relay running, and waits until every case is segmented. `prepare(conn)` runs first."""
    if prepare:
        with psycopg.connect(n["dsn"], autocommit=True) as conn:
            prepare(conn)
    services("recobro-relay", envs(n))
    ov = services("recobro-overdue", envs(n))
    su.produce(n["in"], [overdue(n, d, due) for d, due in cases])
    su.wait_for(lambda: db(n, "SELECT count(*) FROM debt_case WHERE creditor_id = %s AND "
                              "segment IS NOT NULL", n["creditor"])[0][0] == len(cases),
                timeout=120, what="cases segmented")
    ov.stop()


def db(n, sql, *params):
    with psycopg.connect(n["dsn"], autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def tick(n, now, check=True):
    r = su.recobroctl("scheduler", "tick", "--now", now, env=envs(n), check=check)
    return json.loads(r.stdout) if check else r


def read(topic, want, timeout=60, debtor=None, etype=None):
    def pred(m):
        ev = json.loads(m.value())
        return ((debtor is None or ev["data"].get("debtor_id") == debtor) and
                (etype is None or ev["type"] == etype))
    return [json.loads(m.value()) for m in su.consume(topic, want, timeout=timeout,
                                                      predicate=pred)]


def tasks_of(n, debtor):
    return db(n, "SELECT step, action, status FROM task WHERE creditor_id = %s AND debtor_id = %s "
                 "ORDER BY segment_seq, step", n["creditor"], debtor)


# ---- the scenarios ---------------------------------------------------------------------------

def test_ladder_step_waits_for_its_local_day(sc, services):
    """unaware: day-0 letter and e-mail at once, the day-5 SMS reminder only once day 5 has come
    in Madrid (UTC is still on day 4 for the first hour of it)."""
    d = "D-ladder"
    feed(services, sc, [(d, "2026-10-31")])
    assert [a for _, a, _ in tasks_of(sc, d)] == ["validation_notice", "invoice_copy"]
    due = db(sc, "SELECT next_due_at = '2026-11-26T00:00:00+01:00'::timestamptz FROM debt_case "
                 "WHERE creditor_id = %s", sc["creditor"])
    assert due == [(True,)]  # the next local midnight after the planning

    # Not due yet: a sweep before the case's next local day touches nothing.
    s = tick(sc, "2026-11-25T22:59:00Z")
    assert s["cases"] == 0 and s["tasks_created"] == 0
    # Days 1 to 4: swept once a day, nothing to emit.
    for now in ("2026-11-26T09:00:00+01:00", "2026-11-28T12:00:00Z", "2026-11-29T22:59:59Z"):
        s = tick(sc, now)
        assert (s["cases"], s["tasks_created"], s["failed"]) == (1, 0, 0), now
        s = tick(sc, now)  # the same instant again: already planned, not due
        assert s["cases"] == 0, now
    assert len(tasks_of(sc, d)) == 2
    # 2026-11-29T23:00:30Z is 00:00:30 on 30 November in Madrid: day 5.
    s = tick(sc, "2026-11-29T23:00:30Z")
    assert (s["cases"], s["tasks_created"]) == (1, 1)
    assert [a for _, a, _ in tasks_of(sc, d)] == ["validation_notice", "invoice_copy", "reminder"]

    created = read(sc["out"], 3, debtor=d, etype="task.created")
    assert [t["data"]["action"] for t in created] == ["validation_notice", "invoice_copy",
                                                      "reminder"]
    r = created[2]
    assert r["source"] == "recobro/scheduler" and r["id"] == r["data"]["task_id"]
    assert (r["data"]["step"], r["data"]["channel"], r["data"]["days_past_due"]) == (3, "sms", 30)
    assert r["data"]["not_before"].startswith("2026-11-30T08:00:00+01:00")
    # The hot case moved with it.
    raw = su.rds().get("recobro:case:%s:%s" % (sc["creditor"], d))
    assert raw and json.loads(raw)["days_past_due"] == 30
    # Ticking again at the same instant does nothing more.
    assert tick(sc, "2026-11-29T23:00:30Z")["cases"] == 0


def test_days_passing_move_forgetful_to_evasive(sc, services):
    """A reached debtor 29 days past due is forgetful (up to 30); when day 31 comes in Madrid the
    sweep re-segments it to evasive and says so."""
    d = "D-drift"
    feed(services, sc, [(d, "2026-10-27")],
         prepare=lambda conn: conn.execute(
             "INSERT INTO debt_case (creditor_id, debtor_id, features) VALUES (%s, %s, %s)",
             (sc["creditor"], d, json.dumps({"ever_contacted": True}))))
    first = read(sc["events"], 1, debtor=d, etype="case.segment_changed")[0]["data"]
    assert (first["from"], first["to"], first["days_past_due"]) == (None, "forgetful", 29)

    s = tick(sc, "2026-11-26T10:00:00Z")  # day 30: still forgetful
    assert (s["cases"], s["segment_changes"]) == (1, 0)
    s = tick(sc, "2026-11-26T23:00:01Z")  # 27 November in Madrid: 31 days past due
    assert (s["cases"], s["segment_changes"]) == (1, 1)

    changes = read(sc["events"], 2, debtor=d, etype="case.segment_changed")
    assert len(changes) == 2
    ev = changes[1]
    assert ev["source"] == "recobro/scheduler"
    data = ev["data"]
    assert (data["from"], data["to"], data["rule"]) == ("forgetful", "evasive", "evasive.default")
    assert data["days_past_due"] == 31
    assert db(sc, "SELECT segment, days_past_due FROM debt_case WHERE creditor_id = %s",
              sc["creditor"]) == [("evasive", 31)]
    hist = db(sc, "SELECT from_segment, to_segment FROM segment_history WHERE creditor_id = %s "
                  "ORDER BY seq", sc["creditor"])
    assert hist == [(None, "forgetful"), ("forgetful", "evasive")]
    # The evasive ladder starts at once (its day 0), with the scheduler's ids.
    assert any(t[2] == "pending" for t in tasks_of(sc, d))


def test_two_schedulers_act_exactly_once(sc, services):
    """200 due cases, two sweeps at once: every case is planned by exactly one of them, every
    day-5 task exists once in the table and once on the topic."""
    n_cases = 200
    feed(services, sc, [("D-%03d" % i, "2026-10-31") for i in range(n_cases)])
    env = {**su.ENV, **envs(sc)}
    cmd = [str(su.BIN / "recobroctl"), "scheduler", "tick", "--now", "2026-11-30T12:00:00Z"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
    sums = [json.loads(o[0]) for o in outs]
    assert sum(s["cases"] for s in sums) == n_cases
    assert sum(s["tasks_created"] for s in sums) == n_cases
    assert sum(s["failed"] for s in sums) == 0

    rows = db(sc, "SELECT debtor_id, count(*) FROM task WHERE creditor_id = %s AND step = 3 "
                  "GROUP BY debtor_id", sc["creditor"])
    assert len(rows) == n_cases and all(c == 1 for _, c in rows)
    # Exactly once on the topic: wait for them all, then keep reading a while for duplicates.
    want = 3 * n_cases
    msgs = read(sc["out"], want + 1, timeout=45)
    ids = [m["data"]["task_id"] for m in msgs]
    assert len(ids) == want and len(set(ids)) == want
    assert sum(1 for m in msgs if m["data"]["step"] == 3) == n_cases


def test_bad_now_is_a_usage_error(sc):
    for args in (["--now", "2026-11-30"], ["--now", "2026-11-30T12:00:00"], ["--now"],
                 ["--later"]):
        r = su.recobroctl("scheduler", "tick", *args, env=envs(sc), check=False)
        assert r.returncode == 2, args
        assert len(r.stderr.strip().splitlines()) == 1 and "usage" in r.stderr
        assert r.stdout == ""


def test_service_sweeps_and_stops_on_sigterm(sc, services):
    d = "D-svc"
    feed(services, sc, [(d, "2026-10-31")])
    s = services("recobro-scheduler", envs(sc, now="2026-11-30T12:00:00Z",
                                           RECOBRO_SCHEDULER_PERIOD_MS="200"))
    assert s.http("/healthz")[0] == 200
    su.wait_for(lambda: len(tasks_of(sc, d)) == 3, timeout=30, what="day-5 task")
    su.wait_for(lambda: s.metric("recobro_scheduler_cases_swept_total") == 1, timeout=10,
                what="metrics")
    assert s.metric("recobro_scheduler_tasks_released_total") == 1
    _, body = s.http("/metrics")
    assert "recobro_scheduler_promises_settled_total" in body
    reminder = read(sc["out"], 1, debtor=d, etype="task.created",
                    timeout=30) and read(sc["out"], 3, debtor=d, etype="task.created")[2]
    assert reminder["data"]["action"] == "reminder"
    # Later periods at the same (fixed) clock find nothing more to do.
    su.wait_for(lambda: s.metric("recobro_scheduler_sweeps_total", 'result="ok"') >= 3,
                timeout=10, what="more sweeps")
    assert s.metric("recobro_scheduler_cases_swept_total") == 1
    assert s.stop() == 0
    assert "scheduler.stopped" in Path(s.log_path).read_text()
