/* test_casecarry.c - unit tests for casecarry.c: what settling a case after an event keeps as
 * state (what a reload gives) and what it keeps aside for the save, when it asks for a reload,
 * and that casecarry_diff() names the first field that differs. The end-to-end proof against
 * PostgreSQL is tests/integration/test_batch_carry.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "casecarry.h"
#include "casefixture.h"

static casefile_task_t *add_task(casefile_t *cf, const char *id, int step,
                                 casefile_task_status_t status, bool is_new, bool dirty)
{
    casefile_task_t t;
    memset(&t, 0, sizeof(t));
    strcpy(t.task_id, id);
    strcpy(t.action, "email");
    t.step = step;
    t.status = status;
    t.is_new = is_new;
    t.status_dirty = dirty;
    t.not_before = 100;
    t.not_after = 200;
    if (is_new) {
        t.data = json_object();
        strcpy(t.reason, is_new && status == CASEFILE_TASK_PENDING ? "deferred" : "cancelled");
    }
    casefile_task_t *p = casefile_add_task(cf, &t);
    assert_non_null(p);
    return p;
}

/* Loaded tasks stay first, in their order; this batch's pending ones follow by step, without
 * data or reason; cancelled and suppressed ones leave the state; every row to write is kept. */
static void test_settle_tasks(void **state)
{
    casefile_t cf;
    casecarry_t cc = CASECARRY_INIT;

    (void)state;
    init_case(&cf);
    add_task(&cf, "old-2", 2, CASEFILE_TASK_PENDING, false, false);
    add_task(&cf, "old-1", 1, CASEFILE_TASK_PENDING, false, false);
    add_task(&cf, "old-3", 3, CASEFILE_TASK_PENDING, false, false);
    casecarry_begin(&cc, &cf, 0);
    cf.tasks[1].status = CASEFILE_TASK_CANCELLED; /* old-1 withdrawn */
    cf.tasks[1].status_dirty = true;
    add_task(&cf, "new-3", 3, CASEFILE_TASK_PENDING, true, false);
    add_task(&cf, "new-s", 2, CASEFILE_TASK_SUPPRESSED, true, false);
    add_task(&cf, "new-1", 1, CASEFILE_TASK_PENDING, true, false);
    assert_int_equal(casecarry_settle(&cf, &cc), 0);
    const char *want[] = {"old-2", "old-3", "new-1", "new-3"};
    assert_int_equal(cf.n_tasks, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(cf.tasks[i].task_id, want[i]);
        assert_null(cf.tasks[i].data);
        assert_string_equal(cf.tasks[i].reason, "");
        assert_false(cf.tasks[i].is_new || cf.tasks[i].status_dirty);
    }
    assert_int_equal(casecarry_batch_tasks(&cc, &cf), 2);
    /* The writes: old-1's status, and the three inserts with their data. */
    assert_int_equal(cc.n_writes, 4);
    assert_string_equal(cc.writes[0].task_id, "old-1");
    assert_true(cc.writes[0].status_dirty);
    assert_true(cc.writes[1].is_new && cc.writes[1].data != NULL);
    assert_string_equal(cc.writes[1].reason, "deferred");
    /* A second event withdraws new-1: one more write, new-1 leaves the state. */
    cf.tasks[2].status = CASEFILE_TASK_CANCELLED;
    cf.tasks[2].status_dirty = true;
    add_task(&cf, "new-0", 0, CASEFILE_TASK_PENDING, true, false);
    assert_int_equal(casecarry_settle(&cf, &cc), 0);
    assert_int_equal(cf.n_tasks, 4);
    assert_string_equal(cf.tasks[2].task_id, "new-0"); /* step 0 before step 3 */
    assert_string_equal(cf.tasks[3].task_id, "new-3");
    assert_int_equal(cc.n_writes, 6);
    /* The save sees the writes, then the state comes back. */
    casecarry_swap(&cf, &cc);
    assert_int_equal(cf.n_tasks, 6);
    casecarry_swap(&cf, &cc);
    assert_int_equal(cf.n_tasks, 4);
    casecarry_saved(&cc);
    assert_int_equal(cc.n_writes, 0);
    casecarry_clear(&cc);
    casefile_clear(&cf);
}

/* A task id planned twice, rows of the event, used credit, parties that cannot be saved: the
 * case must be reloaded before its next event. */
static void test_settle_asks_for_reload(void **state)
{
    casefile_t cf;
    casecarry_t cc = CASECARRY_INIT;

    (void)state;
    init_case(&cf);
    casecarry_begin(&cc, &cf, 0);
    add_task(&cf, "t", 1, CASEFILE_TASK_PENDING, true, false);
    assert_int_equal(casecarry_settle(&cf, &cc), 0);
    add_task(&cf, "t", 1, CASEFILE_TASK_PENDING, true, false);
    assert_int_equal(casecarry_settle(&cf, &cc), CASECARRY_RELOAD);

    cf.rows.task_report = 1; /* a contact that reported on a task */
    assert_int_equal(casecarry_settle(&cf, &cc), CASECARRY_RELOAD);
    cf.rows.task_report = 0;
    cf.parties_dirty = true; /* no creditor name: the save would skip the parties */
    assert_int_equal(casecarry_settle(&cf, &cc), CASECARRY_RELOAD);
    strcpy(cf.creditor_name, "ACME");
    assert_int_equal(casecarry_settle(&cf, &cc), 0);
    cf.charges.n_credit_paid = 1;
    assert_int_equal(casecarry_settle(&cf, &cc), CASECARRY_RELOAD);
    casecarry_clear(&cc);
    casefile_clear(&cf);
}

/* An event's record carries: it moves to the records kept, in order, with its own fields only;
 * the save (casecarry_saved()) forgets them. */
static void test_settle_keeps_records(void **state)
{
    casefile_t cf;
    casecarry_t cc = CASECARRY_INIT;
    json_t *d1 = json_pack("{s:s}", "channel", "phone"), *d2 = json_pack("{s:b}", "do_not_sms", 1);

    (void)state;
    init_case(&cf);
    casecarry_begin(&cc, &cf, 0);
    cf.rows.record = CASEFILE_RECORD_CONTACT;
    cf.rows.event_data = d1;
    cf.rows.event_source = "crm";
    cf.rows.event_id = "e1";
    assert_int_equal(casecarry_settle(&cf, &cc), 0);
    assert_int_equal(cf.rows.record, CASEFILE_RECORD_NONE);
    cf.rows.record = CASEFILE_RECORD_PREFERENCES;
    cf.rows.event_data = d2;
    cf.rows.event_id = "e2";
    assert_int_equal(casecarry_settle(&cf, &cc), 0);
    cf.rows.record = CASEFILE_RECORD_FORBEARANCE_END; /* kept, but the carry ends */
    strcpy(cf.rows.ended_from, "2026-12-01");
    cf.rows.ended_on = "2026-12-05";
    cf.rows.event_id = "e3";
    assert_int_equal(casecarry_settle(&cf, &cc), CASECARRY_RELOAD);
    assert_int_equal(cc.n_recs, 3);
    assert_int_equal(cc.recs[0].record, CASEFILE_RECORD_CONTACT);
    assert_ptr_equal(cc.recs[0].event_data, d1);
    assert_string_equal(cc.recs[0].event_id, "e1");
    assert_int_equal(cc.recs[1].record, CASEFILE_RECORD_PREFERENCES);
    assert_ptr_equal(cc.recs[1].event_data, d2);
    assert_string_equal(cc.recs[2].ended_from, "2026-12-01");
    assert_string_equal(cc.recs[2].ended_on, "2026-12-05");
    assert_null(cc.recs[2].payment);
    assert_int_equal(cc.recs[2].n_disputes, 0);
    casecarry_saved(&cc);
    assert_int_equal(cc.n_recs, 0);
    casecarry_clear(&cc);
    memset(&cf.rows, 0, sizeof(cf.rows));
    casefile_clear(&cf);
    json_decref(d1);
    json_decref(d2);
}

/* Invoices by id, no last event, no principal, no stale next action: as a reload shows them. */
static void test_settle_scalars(void **state)
{
    casefile_t cf;
    casecarry_t cc = CASECARRY_INIT;

    (void)state;
    init_case(&cf);
    add_invoice(&cf, "I-2", 100, "2026-01-01");
    add_invoice(&cf, "I-10", 100, "2026-01-01");
    add_invoice(&cf, "I-1", 100, "2026-01-01");
    strcpy(cf.last_event, "invoice.overdue");
    cf.principal = 300;
    strcpy(cf.next_action, "call");
    cf.next_not_before = 5;
    cf.charges.dirty = true;
    casecarry_begin(&cc, &cf, 0);
    assert_int_equal(casecarry_settle(&cf, &cc), 0);
    assert_string_equal(cf.invoices[0].id, "I-1");
    assert_string_equal(cf.invoices[1].id, "I-10");
    assert_string_equal(cf.invoices[2].id, "I-2");
    assert_string_equal(cf.last_event, "");
    assert_int_equal(cf.principal, 0);
    assert_string_equal(cf.next_action, "");
    assert_int_equal(cf.next_not_before, 0);
    assert_true(cf.charges.loaded);
    casecarry_clear(&cc);
    casefile_clear(&cf);
}

/* The comparison finds a difference in any part of the case and names it. */
static void test_diff_names_the_field(void **state)
{
    casefile_t a, b;
    char what[64];

    (void)state;
    init_case(&a);
    init_case(&b);
    add_invoice(&a, "I-1", 100, "2026-01-01");
    add_invoice(&b, "I-1", 100, "2026-01-01");
    add_task(&a, "t", 1, CASEFILE_TASK_PENDING, false, false);
    add_task(&b, "t", 1, CASEFILE_TASK_PENDING, false, false);
    assert_int_equal(casecarry_diff(&a, &b, what, sizeof(what)), 0);
    b.invoices[0].open_amount = 99;
    assert_int_equal(casecarry_diff(&a, &b, what, sizeof(what)), 1);
    assert_string_equal(what, "invoices[0]");
    b.invoices[0].open_amount = 100;
    b.invoices[0].dirty = true; /* a mark to write, not state */
    assert_int_equal(casecarry_diff(&a, &b, what, sizeof(what)), 0);
    b.tasks[0].not_after = 1;
    assert_int_equal(casecarry_diff(&a, &b, what, sizeof(what)), 1);
    assert_string_equal(what, "tasks[0]");
    b.tasks[0].not_after = a.tasks[0].not_after;
    assert_int_equal(json_object_set_new(b.features, "promises_broken", json_integer(1)), 0);
    assert_int_equal(casecarry_diff(&a, &b, what, sizeof(what)), 1);
    assert_string_equal(what, "features");
    json_object_clear(b.features);
    b.charges.fees = 2500;
    assert_int_equal(casecarry_diff(&a, &b, what, sizeof(what)), 1);
    assert_string_equal(what, "charges.open");
    b.charges.fees = 0;
    b.version = 7;
    assert_int_equal(casecarry_diff(&a, &b, what, sizeof(what)), 1);
    assert_string_equal(what, "version");
    casefile_clear(&a);
    casefile_clear(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settle_tasks),         cmocka_unit_test(test_settle_asks_for_reload),
        cmocka_unit_test(test_settle_keeps_records), cmocka_unit_test(test_settle_scalars),
        cmocka_unit_test(test_diff_names_the_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
