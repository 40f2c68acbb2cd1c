"""test_caseload.py - the case load (caseload.c: plain rows, one statement per table, driven by the
batch's keys) fills every case file byte for byte like the loader it replaced (server-built JSON
parsed with jansson, kept as the reference in integration/loadcmp.c), on a database holding every
shape a case can take: stubs and paid invoices, pending and closed tasks, more phone attempts than
are kept, fractional times, preferences with and without a zone, forbearances granted, ended early
and cancelled, charges with a settlement, cases without debtor or creditor rows, odd JSON columns.

recobro-test-loadcmp loads each case with casestore_load_many() (locking, in a transaction rolled
back) and casestore_load() (no lock), compares with the reference, and checks that its comparison
sees a change in an invoice, a task, a phone attempt and a forbearance. Then the plans: under the
generic plan, with every join method but the nested loop discouraged by the statistics, no load
statement scans a whole table. Each test has a migrated database of its own, dropped after."""
import os
import subprocess

import psycopg
import pytest

import stackutil as su

LOADCMP = os.path.join(os.environ.get("RECOBRO_BIN", str(su.ROOT / "build" / "bin")),
                       "recobro-test-loadcmp")
CR = "cr-load"


@pytest.fixture
def db():
    name = "recobro_load_" + su.run_id()
    dsn = su.create_database(name)
    yield dsn
    su.drop_database(name)


def run(dsn, *args):
    env = dict(os.environ, RECOBRO_PG_DSN=dsn)
    return subprocess.run([LOADCMP, *args], env=env, capture_output=True, text=True, timeout=300)


def fill(dsn, cases=40):
    """`cases` cases of every shape (case i's shape is i % 8), plus filler cases."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO creditor (creditor_id, name) VALUES (%s, 'Acme Ltd')", (CR,))
        for i in range(cases):
            shape(conn, i)


def shape(conn, i):
    d = "D-%03d" % i
    x = conn.execute
    cr = CR if i % 8 != 7 else "cr-unknown"  # no creditor row
    if i % 8 != 6:  # no debtor row
        x("INSERT INTO debtor (creditor_id, debtor_id, name, timezone, country, locale, phone, "
          "email) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
          (cr, d, "Ana Núñez" if i % 2 else None, ["Europe/Madrid", "America/New_York"][i % 2],
           "ES" if i % 3 else None, "es-ES" if i % 4 else None, "+34600000%03d" % i,
           None if i % 5 == 0 else "a%d@example.com" % i))
    x("INSERT INTO debt_case (creditor_id, debtor_id, currency, balance, days_past_due, segment, "
      "rule, strategy, variant, policy_version, high_value, segment_since, segment_seq, last_step, "
      "stage, status, features, followup, next_action, next_channel, next_not_before, version, "
      "updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
      "%s, %s, %s, %s, %s, %s)",
      (cr, d, "EUR" if i % 4 else None, 12345 + i, i, ["evasive", "bogus", None, "forgetful"][i % 4],
       "r%d" % i if i % 2 else None, "s" if i % 3 else None, "v" if i % 5 else None,
       i if i % 2 else None, i % 2 == 0, "2026-01-02T03:04:05.6Z" if i % 3 else None, i % 4,
       i % 3, ["none", "recognized"][i % 2], ["open", "paused", "resolved"][i % 3],
       '{"b": 1, "a": {"z": [1, 2]}, "dispute_open": %s}' % ("true" if i % 2 else "false"),
       ['{}', '{"reminders": ["p1"], "callback_at": 1790000000}', '[1, 2]'][i % 3],
       "call" if i % 2 else None, "phone" if i % 2 else None,
       "2026-03-01T09:00:00.4Z" if i % 2 else None, i * 7, "2026-02-03T04:05:06.5Z"))
    invoices(x, cr, d, i)
    tasks(x, cr, d, i)
    contacts(x, cr, d, i)
    if i % 3 != 1:
        x("INSERT INTO case_charges (creditor_id, debtor_id, interest, fees, interest_total, "
          "fees_total, accrued_through, fee_charged, settlement) VALUES (%s, %s, %s, %s, %s, %s, "
          "%s, %s, %s)",
          (cr, d, i, 2 * i, 3 * i, 4 * i, "2026-01-31" if i % 2 else None, i % 2 == 1,
           None if i % 3 else '{"plan_id": "PL-%d", "amount": 5000, "settled": false, '
           '"written_off": 100, "interest": 10, "fees": 5, '
           '"lines": [{"invoice_id": "INV-1", "amount": 85}]}' % i))


def invoices(x, cr, d, i):
    for k in range(i % 5):
        stub = k == 3
        x("INSERT INTO invoice (creditor_id, debtor_id, invoice_id, number, currency, amount, "
          "open_amount, due_on, issued_on, status, adjusted) VALUES (%s, %s, %s, %s, %s, %s, %s, "
          "%s, %s, %s, %s)",
          (cr, d, ["INV-b", "INV-a", "inv-C", "INV-stub"][k], None if k == 1 else "N%d" % k,
           None if stub else "EUR", None if stub else 1000 * (k + 1),
           None if stub else 500 * k, None if stub else "2025-12-%02d" % (k + 1),
           "2025-11-01" if k == 0 else None, ["open", "paid", "cancelled", "open"][k], stub))


def tasks(x, cr, d, i):
    for k in range(i % 6):
        x("INSERT INTO task (creditor_id, debtor_id, task_id, segment, segment_seq, step, action, "
          "channel, template, priority, not_before, not_after, status, reason, payload, "
          "created_at) VALUES (%s, %s, %s, 'evasive', 1, %s, 'call', 'phone', 'tpl', %s, %s, %s, "
          "%s, NULL, '{}', %s)",
          (cr, d, "T-%d-%d" % (i, 9 - k), k, 10 - k, None if k == 2 else "2026-01-05T08:00:00Z",
           None if k == 1 else "2026-01-05T18:00:00.7Z",
           "pending" if k != 4 else "done",
           "2026-01-01T00:00:00Z" if k < 3 else "2026-01-01T00:00:0%dZ" % k))


def contacts(x, cr, d, i):
    phones = [0, 1, 70, 3][i % 4]  # 70: more than the 64 kept
    for k in range(phones):
        x("INSERT INTO contact_log (creditor_id, debtor_id, event_source, event_id, channel, at, "
          "outcome) VALUES (%s, %s, 'crm', %s, 'phone', %s, %s)",
          (cr, d, "e%d" % k, "2026-01-%02dT09:%02d:00.%dZ" % (1 + k % 28, k % 60, k % 10),
           ["no_answer", "right_party", "refused", "voicemail"][k % 4]))
    if i % 5 == 1:
        x("INSERT INTO contact_log (creditor_id, debtor_id, event_source, event_id, channel, at, "
          "outcome) VALUES (%s, %s, 'crm', 'sms', 'sms', '2026-02-10T10:00:00Z', 'delivered')",
          (cr, d))
    if i % 4 != 0:
        x("INSERT INTO contact_preference (creditor_id, debtor_id, do_not_call, do_not_sms, "
          "do_not_email, cease_communication, timezone) VALUES (%s, %s, %s, %s, %s, %s, %s)",
          (cr, d, i % 2 == 1, i % 3 == 1, i % 5 == 1, i % 7 == 1,
           [None, "Asia/Tokyo", "", None][i % 4]))
    spans = [("2026-01-01", "2026-01-10", None), ("2026-02-01", "2026-02-20", "2026-02-05"),
             ("2026-03-01", "2026-03-05", "2026-03-01"), ("2026-01-15", "2026-02-20", None),
             ("2026-04-01", "2026-04-03", "2026-05-01")]
    for k, (f, u, e) in enumerate(spans[:i % 6]):
        x("INSERT INTO forbearance (creditor_id, debtor_id, event_source, event_id, from_on, "
          "until_on, reason, ended_on) VALUES (%s, %s, 'crm', %s, %s, %s, 'words', %s)",
          (cr, d, "f%d" % k, f, u, e))


def test_new_load_equals_the_old_one_field_by_field(db):
    fill(db)
    out = run(db)
    assert out.returncode == 0, out.stderr
    assert "loadcmp: 40 cases identical" in out.stdout, out.stdout
    # The comparison itself saw a change in each part (it can fail).
    assert "self-checked: invoices tasks calls forbearances" in out.stdout, out.stdout


def test_bad_stored_rows_are_refused_with_their_reason(db):
    """The new loader (casestore_load(), through `recobroctl case show`) on stored rows it cannot
    read: a missing case, features that are not a JSON object, a settlement that is not one."""
    fill(db, cases=3)
    env = {"RECOBRO_PG_DSN": db}
    assert su.recobroctl("case", "show", CR, "D-001", env=env).returncode == 0
    r = su.recobroctl("case", "show", CR, "D-nobody", env=env, check=False)
    assert r.returncode == 1 and "no case" in r.stderr, r.stderr
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("UPDATE debt_case SET features = '[1]' WHERE debtor_id = 'D-001'")
        conn.execute("UPDATE case_charges SET settlement = '7' WHERE debtor_id = 'D-002'")
    r = su.recobroctl("case", "show", CR, "D-001", env=env, check=False)
    assert r.returncode == 1 and "case features are not a JSON object" in r.stderr, r.stderr
    r = su.recobroctl("case", "show", CR, "D-002", env=env, check=False)
    assert r.returncode == 1 and "settlement is not a settlement" in r.stderr, r.stderr
    # The comparison tool stops on them too (exit 2), instead of calling the cases identical.
    out = run(db)
    assert out.returncode == 2, (out.stdout, out.stderr)


def test_bad_arguments_are_a_usage_error(db):
    for args in (["x"], ["0"], ["1", "2"]):
        out = run(db, *args)
        assert out.returncode == 2 and "usage" in out.stderr, (args, out.stderr)


# Other cases' rows in every table the load reads (debtor ids F-1 ... F-3000).
FILLERS = [
    "creditor (creditor_id, name) SELECT 'cr-f' || g, 'x'",
    "debt_case (creditor_id, debtor_id) SELECT 'cr-f' || g, 'F-' || g",
    "debtor (creditor_id, debtor_id, timezone) SELECT 'cr-f' || g, 'F-' || g, 'UTC'",
    "case_charges (creditor_id, debtor_id) SELECT 'cr-f' || g, 'F-' || g",
    "invoice (creditor_id, debtor_id, invoice_id) SELECT 'cr-f' || g, 'F-' || g, 'I'",
    "task (creditor_id, debtor_id, task_id, segment, segment_seq, step, action, channel, "
    " template, priority, status) SELECT 'cr-f' || g, 'F-' || g, 'T', 's', 1, 1, 'call', 'phone', "
    " 't', 1, 'pending'",
    "contact_log (creditor_id, debtor_id, event_source, event_id, channel, at, outcome) "
    " SELECT 'cr-f' || g, 'F-' || g, 's', 'e', 'phone', now(), 'right_party'",
    "contact_preference (creditor_id, debtor_id) SELECT 'cr-f' || g, 'F-' || g",
    "forbearance (creditor_id, debtor_id, event_source, event_id, from_on, until_on, reason) "
    " SELECT 'cr-f' || g, 'F-' || g, 's', 'e', current_date, current_date, 'r'",
]

STATEMENTS = ["ref_many", "cl_cases", "cl_cases_lock", "cl_invoices", "cl_tasks", "cl_calls", "cl_contact",
              "cl_forbearances"]


def test_plans_read_only_the_batch_cases(db):
    """With 3,000 other cases holding rows in every table and the planner told to avoid nested
    loops (hash and merge joins look cheaper), the generic plan of every load statement still
    reaches each table through the batch's keys: no sequential scan, no hash or merge join."""
    fill(db, cases=40)
    with psycopg.connect(db, autocommit=True) as conn:
        for sql in FILLERS:
            conn.execute("INSERT INTO " + sql + " FROM generate_series(1, 3000) g")
        conn.execute("ANALYZE")
    sql = run_sql(db)
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("SET plan_cache_mode = force_generic_plan")
        conn.execute("SET enable_nestloop = off")  # every other join method looks cheaper
        for name, text in sql:
            conn.execute("PREPARE %s(text[], text[]) AS %s" % (name, text))
        keys = conn.execute("SELECT array_agg(creditor_id ORDER BY debtor_id), "
                            "array_agg(debtor_id ORDER BY debtor_id) FROM debt_case "
                            "WHERE debtor_id LIKE 'D-%%'").fetchone()
        conn.execute("BEGIN")  # the locking ones take their locks, rolled back
        for name, _ in sql:
            plan = explain(conn, name, keys)
            if name == "ref_many":  # the loader replaced: the test can tell a bad plan
                assert "Seq Scan on debt_case" in plan, plan
                continue
            assert "Seq Scan" not in plan and "Hash" not in plan and "Merge" not in plan, plan
            assert "Index" in plan, plan
        conn.execute("ROLLBACK")


def explain(conn, name, keys):
    cur = psycopg.ClientCursor(conn)  # EXECUTE takes no bind parameters: the arrays inline
    return "\n".join(r[0] for r in cur.execute(
        "EXPLAIN (ANALYZE, COSTS OFF) EXECUTE %s(%%s, %%s)" % name, keys))


def run_sql(dsn):
    """The load statements as the workers prepare them, and the reference's (ref_many):
    `recobro-test-loadcmp --sql` prints them, one "name<TAB>text" a line."""
    out = run(dsn, "--sql")
    assert out.returncode == 0, out.stderr
    stmts = []
    for line in out.stdout.splitlines():
        name, _, text = line.partition("\t")
        if name in STATEMENTS:
            stmts.append((name, text))
    assert sorted(n for n, _ in stmts) == sorted(STATEMENTS), out.stdout
    return stmts
