/* test_promise.c - unit tests for promise.c: every promise and plan transition, every grace
 * boundary (grace 0 and 3: the due day, the last grace day, the day after), reversals, events,
 * counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "promise.h"
#include "validate.h"
#include "calendar.h"

/* Today (2026-11-25) and a due day a week later (2026-12-02). */
#define TODAY ((int64_t)20782)
#define DUE   ((int64_t)20789)
#define AT    "2026-12-06T00:05:00+01:00"

static promise_t make_promise(int64_t amount, int32_t grace)
{
    promise_t p;

    assert_int_equal(promise_init(&p, "P-1", "EUR", amount, TODAY, DUE, grace), PROMISE_OK);
    return p;
}

static void assert_no_event(const promise_result_t *r)
{
    assert_int_equal(r->event.type, PROMISE_EVENT_NONE);
}

static void assert_delta(const promise_counts_t *d, int kept, int broken, int partial)
{
    assert_int_equal(d->kept, kept);
    assert_int_equal(d->broken, broken);
    assert_int_equal(d->partially_kept, partial);
}

/* ---- Promises ---------------------------------------------------------------------------- */

static void test_days_are_day_numbers(void **state)
{
    char buf[16];

    (void)state;
    assert_true(cal_days_from_civil(2026, 11, 25) == TODAY);
    assert_true(cal_days_from_civil(2026, 12, 2) == DUE);
    assert_string_equal(promise_format_day(DUE, buf, sizeof(buf)), "2026-12-02");
    assert_string_equal(promise_format_day(0, buf, sizeof(buf)), "1970-01-01");
    assert_string_equal(promise_format_day(PROMISE_DAY_MIN, buf, sizeof(buf)), "0001-01-01");
    assert_string_equal(promise_format_day(PROMISE_DAY_MAX, buf, sizeof(buf)), "9999-12-31");
    assert_string_equal(promise_format_day(cal_days_from_civil(2028, 2, 29), buf, 16),
                        "2028-02-29");
    assert_string_equal(promise_format_day(PROMISE_DAY_MAX + 1, buf, sizeof(buf)), "");
    assert_string_equal(promise_format_day(DUE, buf, 10), "");
}

static void test_names(void **state)
{
    promise_state_t s;
    plan_state_t ps;

    (void)state;
    assert_string_equal(promise_state_name(PROMISE_PARTIALLY_KEPT), "partially_kept");
    assert_null(promise_state_name((promise_state_t)99));
    assert_int_equal(promise_state_from_name("broken", &s), 0);
    assert_int_equal(s, PROMISE_BROKEN);
    assert_int_equal(promise_state_from_name("lost", &s), -1);
    assert_string_equal(plan_state_name(PLAN_DEFAULTED), "defaulted");
    assert_int_equal(plan_state_from_name("completed", &ps), 0);
    assert_int_equal(ps, PLAN_COMPLETED);
    assert_int_equal(plan_state_from_name(NULL, &ps), -1);
    assert_string_equal(promise_event_type_name(PROMISE_EVENT_KEPT), "promise.kept");
    assert_string_equal(promise_event_type_name(PROMISE_EVENT_BROKEN), "promise.broken");
    assert_string_equal(promise_event_type_name(PROMISE_EVENT_PLAN_DEFAULTED), "plan.defaulted");
    assert_null(promise_event_type_name(PROMISE_EVENT_NONE));
    assert_string_equal(promise_cancel_reason_name(PROMISE_CANCEL_DISPUTE), "disputed");
    assert_null(promise_cancel_reason_name(PROMISE_CANCEL_NONE));
}

static void test_init_rejects(void **state)
{
    promise_t p;
    char long_id[PROMISE_ID_MAX + 2];

    (void)state;
    memset(long_id, 'x', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    assert_int_equal(promise_init(NULL, "P", "EUR", 1, TODAY, DUE, 3), PROMISE_EINVAL);
    assert_int_equal(promise_init(&p, NULL, "EUR", 1, TODAY, DUE, 3), PROMISE_EINVAL);
    assert_int_equal(promise_init(&p, "", "EUR", 1, TODAY, DUE, 3), PROMISE_EINVAL);
    assert_int_equal(promise_init(&p, long_id, "EUR", 1, TODAY, DUE, 3), PROMISE_EINVAL);
    assert_int_equal(promise_init(&p, "P", "EUX", 1, TODAY, DUE, 3), PROMISE_EINVAL);
    assert_int_equal(promise_init(&p, "P", "EUR", 0, TODAY, DUE, 3), PROMISE_EINVAL);
    assert_int_equal(promise_init(&p, "P", "EUR", -5, TODAY, DUE, 3), PROMISE_EINVAL);
    assert_int_equal(promise_init(&p, "P", "EUR", 1, DUE, TODAY, 3), PROMISE_EINVAL);
    assert_int_equal(promise_init(&p, "P", "EUR", 1, TODAY, DUE, -1), PROMISE_EINVAL);
    assert_int_equal(promise_init(&p, "P", "EUR", 1, TODAY, DUE, PROMISE_GRACE_MAX + 1),
                     PROMISE_EINVAL);
    assert_int_equal(promise_init(&p, "P", "EUR", 1, TODAY, PROMISE_DAY_MAX + 1, 0),
                     PROMISE_EINVAL);
    long_id[PROMISE_ID_MAX] = '\0';
    assert_int_equal(promise_init(&p, long_id, "EUR", 1, TODAY, TODAY, 0), PROMISE_OK);
    assert_int_equal(p.state, PROMISE_PENDING);
    assert_true(promise_deadline(&p) == TODAY);
}

static void test_kept_in_full_at_once(void **state)
{
    promise_t p = make_promise(10000, 3);
    promise_result_t r;

    (void)state;
    assert_int_equal(promise_apply_payment(&p, 10000, TODAY + 1, &r), PROMISE_OK);
    assert_int_equal(r.from, PROMISE_PENDING);
    assert_int_equal(r.to, PROMISE_KEPT);
    assert_true(r.applied == 10000);
    assert_int_equal(r.event.type, PROMISE_EVENT_KEPT);
    assert_string_equal(r.event.id, "P-1");
    assert_string_equal(r.event.currency, "EUR");
    assert_true(r.event.amount == 10000 && r.event.paid == 10000);
    assert_true(r.event.due_day == DUE && r.event.day == TODAY + 1);
    assert_false(r.event.partial);
    assert_false(r.event.revised);
    assert_delta(&r.delta, 1, 0, 0);
    /* The ticks that follow change nothing. */
    assert_int_equal(promise_evaluate(&p, DUE + 10, &r), PROMISE_OK);
    assert_int_equal(r.to, PROMISE_KEPT);
    assert_no_event(&r);
    assert_delta(&r.delta, 0, 0, 0);
}

/* Payment on `day` of the whole amount, with `grace`: kept (true) or not counted (false). */
static void check_paid_on(int32_t grace, int64_t day, bool kept)
{
    promise_t p = make_promise(5000, grace);
    promise_result_t r;

    assert_int_equal(promise_apply_payment(&p, 5000, day, &r), PROMISE_OK);
    if (kept) {
        assert_int_equal(r.to, PROMISE_KEPT);
        assert_int_equal(r.event.type, PROMISE_EVENT_KEPT);
        assert_true(r.applied == 5000);
    } else {
        /* Late: the promise settles as broken first and the payment does not count. */
        assert_int_equal(r.to, PROMISE_BROKEN);
        assert_int_equal(r.event.type, PROMISE_EVENT_BROKEN);
        assert_false(r.event.partial);
        assert_true(r.applied == 0);
        assert_true(p.paid_toward == 0);
        assert_delta(&r.delta, 0, 1, 0);
    }
}

/* The scheduler's tick on `day` of an unpaid promise with `grace`: pending (true) or broken. */
static void check_tick_on(int32_t grace, int64_t day, bool pending)
{
    promise_t p = make_promise(5000, grace);
    promise_result_t r;

    assert_int_equal(promise_evaluate(&p, day, &r), PROMISE_OK);
    if (pending) {
        assert_int_equal(r.to, PROMISE_PENDING);
        assert_no_event(&r);
    } else {
        assert_int_equal(r.to, PROMISE_BROKEN);
        assert_int_equal(r.event.type, PROMISE_EVENT_BROKEN);
        assert_true(r.event.day == day);
        assert_delta(&r.delta, 0, 1, 0);
    }
}

static void test_grace_boundaries(void **state)
{
    (void)state;
    /* grace 0: the due day is the last day. */
    check_paid_on(0, DUE, true);
    check_paid_on(0, DUE + 1, false);
    check_tick_on(0, DUE, true);
    check_tick_on(0, DUE + 1, false);
    /* grace 3: due day, last grace day, the day after. */
    check_paid_on(3, DUE, true);
    check_paid_on(3, DUE + 3, true);
    check_paid_on(3, DUE + 4, false);
    check_tick_on(3, DUE, true);
    check_tick_on(3, DUE + 3, true);
    check_tick_on(3, DUE + 4, false);
    /* Paid before the promise was made's day is taken as the made day: it counts. */
    check_paid_on(3, TODAY - 5, true);
}

static void test_partial_payments(void **state)
{
    promise_t p = make_promise(10000, 3);
    promise_result_t r;

    (void)state;
    assert_int_equal(promise_apply_payment(&p, 4000, DUE - 1, &r), PROMISE_OK);
    assert_int_equal(r.to, PROMISE_PENDING);
    assert_no_event(&r);
    assert_int_equal(promise_apply_payment(&p, 5999, DUE + 3, &r), PROMISE_OK);
    assert_int_equal(r.to, PROMISE_PENDING);
    assert_true(p.paid_toward == 9999);
    /* The last grace day's tick leaves it open; the next one settles it. */
    assert_int_equal(promise_evaluate(&p, DUE + 3, &r), PROMISE_OK);
    assert_int_equal(r.to, PROMISE_PENDING);
    assert_int_equal(promise_evaluate(&p, DUE + 4, &r), PROMISE_OK);
    assert_int_equal(r.from, PROMISE_PENDING);
    assert_int_equal(r.to, PROMISE_PARTIALLY_KEPT);
    assert_int_equal(r.event.type, PROMISE_EVENT_BROKEN);
    assert_true(r.event.partial);
    assert_true(r.event.paid == 9999 && r.event.amount == 10000);
    assert_delta(&r.delta, 0, 0, 1);
    /* Final against payments: a late cent does not make it kept. */
    assert_int_equal(promise_apply_payment(&p, 1, DUE + 5, &r), PROMISE_OK);
    assert_int_equal(r.to, PROMISE_PARTIALLY_KEPT);
    assert_true(r.applied == 0);
    assert_no_event(&r);
}

static void test_partials_reach_the_amount(void **state)
{
    promise_t p = make_promise(10000, 0);
    promise_result_t r;

    (void)state;
    assert_int_equal(promise_apply_payment(&p, 2500, TODAY, &r), PROMISE_OK);
    assert_int_equal(promise_apply_payment(&p, 2500, TODAY + 2, &r), PROMISE_OK);
    assert_int_equal(r.to, PROMISE_PENDING);
    assert_int_equal(promise_apply_payment(&p, 6000, DUE, &r), PROMISE_OK);
    assert_int_equal(r.to, PROMISE_KEPT);
    assert_true(r.event.paid == 11000);
    /* More money while still inside the window keeps counting (for exact reversals). */
    assert_int_equal(promise_apply_payment(&p, 100, DUE, &r), PROMISE_OK);
    assert_true(r.applied == 100 && p.paid_toward == 11100);
    assert_no_event(&r);
    assert_int_equal(promise_apply_payment(&p, 100, DUE + 1, &r), PROMISE_OK);
    assert_true(r.applied == 0 && p.paid_toward == 11100);
}

static void test_reversal_after_kept_inside_grace(void **state)
{
    promise_t p = make_promise(10000, 3);
    promise_result_t r;

    (void)state;
    assert_int_equal(promise_apply_payment(&p, 10000, DUE, &r), PROMISE_OK);
    assert_int_equal(r.to, PROMISE_KEPT);
    /* Bounced on the last grace day: open again, no event, the kept count taken back. */
    assert_int_equal(promise_apply_reversal(&p, 10000, DUE + 3, &r), PROMISE_OK);
    assert_int_equal(r.from, PROMISE_KEPT);
    assert_int_equal(r.to, PROMISE_PENDING);
    assert_true(r.applied == 10000 && p.paid_toward == 0);
    assert_no_event(&r);
    assert_delta(&r.delta, -1, 0, 0);
    /* The debtor still has the day: paying again keeps it, and the event says revised. */
    {
        promise_t q = p;

        assert_int_equal(promise_apply_payment(&q, 10000, DUE + 3, &r), PROMISE_OK);
        assert_int_equal(r.to, PROMISE_KEPT);
        assert_int_equal(r.event.type, PROMISE_EVENT_KEPT);
        assert_true(r.event.revised);
        assert_delta(&r.delta, 1, 0, 0);
    }
    /* Otherwise the next tick breaks it, revising the kept event. */
    assert_int_equal(promise_evaluate(&p, DUE + 4, &r), PROMISE_OK);
    assert_int_equal(r.to, PROMISE_BROKEN);
    assert_int_equal(r.event.type, PROMISE_EVENT_BROKEN);
    assert_true(r.event.revised);
    assert_false(r.event.partial);
    assert_delta(&r.delta, 0, 1, 0);
}

static void test_reversal_after_kept_after_grace(void **state)
{
    promise_t p = make_promise(10000, 3), q;
    promise_result_t r;

    (void)state;
    assert_int_equal(promise_apply_payment(&p, 3000, TODAY, &r), PROMISE_OK);
    assert_int_equal(promise_apply_payment(&p, 7000, DUE + 1, &r), PROMISE_OK);
    assert_int_equal(r.to, PROMISE_KEPT);
    q = p;
    /* The 7000 bounces on the day after the grace: partially kept (3000 stayed). */
    assert_int_equal(promise_apply_reversal(&p, 7000, DUE + 4, &r), PROMISE_OK);
    assert_int_equal(r.from, PROMISE_KEPT);
    assert_int_equal(r.to, PROMISE_PARTIALLY_KEPT);
    assert_int_equal(r.event.type, PROMISE_EVENT_BROKEN);
    assert_true(r.event.partial);
    assert_true(r.event.revised);
    assert_true(r.event.paid == 3000);
    assert_delta(&r.delta, -1, 0, 1);
    /* Then the 3000 bounces too: broken outright. */
    assert_int_equal(promise_apply_reversal(&p, 3000, DUE + 20, &r), PROMISE_OK);
    assert_int_equal(r.to, PROMISE_BROKEN);
    assert_false(r.event.partial);
    assert_true(r.event.revised);
    assert_delta(&r.delta, 0, 1, -1);
    /* Nothing left to reverse. */
    assert_int_equal(promise_apply_reversal(&p, 1, DUE + 21, &r), PROMISE_EINVAL);

    /* Both at once, long after: kept -> broken in one step. */
    assert_int_equal(promise_apply_reversal(&q, 3000, DUE + 30, &r), PROMISE_OK);
    assert_int_equal(r.to, PROMISE_PARTIALLY_KEPT);
    assert_int_equal(promise_apply_reversal(&q, 7000, DUE + 30, &r), PROMISE_OK);
    assert_int_equal(r.to, PROMISE_BROKEN);
}

static void test_reversal_leaving_enough_keeps(void **state)
{
    promise_t p = make_promise(10000, 0);
    promise_result_t r;

    (void)state;
    assert_int_equal(promise_apply_payment(&p, 10000, TODAY, &r), PROMISE_OK);
    assert_int_equal(promise_apply_payment(&p, 500, TODAY, &r), PROMISE_OK);
    assert_int_equal(promise_apply_reversal(&p, 500, DUE + 9, &r), PROMISE_OK);
    assert_int_equal(r.to, PROMISE_KEPT);
    assert_no_event(&r);
    assert_delta(&r.delta, 0, 0, 0);
}

static void test_reversal_of_pending_and_errors(void **state)
{
    promise_t p = make_promise(10000, 3), before;
    promise_result_t r;

    (void)state;
    assert_int_equal(promise_apply_payment(&p, 4000, TODAY, &r), PROMISE_OK);
    before = p;
    assert_int_equal(promise_apply_reversal(&p, 4001, TODAY, &r), PROMISE_EINVAL);
    assert_int_equal(promise_apply_reversal(&p, 0, TODAY, &r), PROMISE_EINVAL);
    assert_int_equal(promise_apply_reversal(&p, -1, TODAY, &r), PROMISE_EINVAL);
    assert_int_equal(promise_apply_reversal(NULL, 1, TODAY, &r), PROMISE_EINVAL);
    assert_int_equal(promise_apply_payment(&p, 0, TODAY, &r), PROMISE_EINVAL);
    assert_int_equal(promise_apply_payment(&p, 10, PROMISE_DAY_MAX + 1, &r), PROMISE_EINVAL);
    assert_int_equal(promise_evaluate(&p, PROMISE_DAY_MIN - 1, &r), PROMISE_EINVAL);
    assert_memory_equal(&p, &before, sizeof(p));
    /* A reversal on a pending promise inside the window: still pending, nothing paid. */
    assert_int_equal(promise_apply_reversal(&p, 4000, DUE, NULL), PROMISE_OK);
    assert_int_equal(p.state, PROMISE_PENDING);
    assert_true(p.paid_toward == 0);
}

static void test_overflow(void **state)
{
    promise_t p = make_promise(INT64_MAX, 0), before;
    promise_result_t r;

    (void)state;
    assert_int_equal(promise_apply_payment(&p, INT64_MAX - 1, TODAY, &r), PROMISE_OK);
    before = p;
    assert_int_equal(promise_apply_payment(&p, 2, TODAY, &r), PROMISE_EOVERFLOW);
    assert_memory_equal(&p, &before, sizeof(p));
    assert_int_equal(promise_apply_payment(&p, 1, TODAY, &r), PROMISE_OK);
    assert_int_equal(r.to, PROMISE_KEPT);
}

static void test_cancel(void **state)
{
    promise_t p = make_promise(10000, 3), q;
    promise_result_t r;

    (void)state;
    q = p;
    assert_int_equal(promise_cancel(&p, PROMISE_CANCEL_NONE, TODAY, &r), PROMISE_EINVAL);
    assert_int_equal(promise_cancel(&p, (promise_cancel_reason_t)42, TODAY, &r), PROMISE_EINVAL);
    /* Pending on its last grace day: cancelled, no event, no counter. */
    assert_int_equal(promise_apply_payment(&p, 2000, TODAY, &r), PROMISE_OK);
    assert_int_equal(promise_cancel(&p, PROMISE_CANCEL_NEW_PROMISE, DUE + 3, &r), PROMISE_OK);
    assert_int_equal(r.from, PROMISE_PENDING);
    assert_int_equal(r.to, PROMISE_CANCELLED);
    assert_no_event(&r);
    assert_delta(&r.delta, 0, 0, 0);
    assert_int_equal(p.cancel_reason, PROMISE_CANCEL_NEW_PROMISE);
    assert_string_equal(promise_cancel_reason_name(p.cancel_reason), "superseded_by_promise");
    /* A cancelled promise takes no payment, and tick leaves it be; a reversal of what it had
     * counted keeps the books exact. */
    assert_int_equal(promise_apply_payment(&p, 8000, DUE, &r), PROMISE_OK);
    assert_true(r.applied == 0);
    assert_int_equal(promise_evaluate(&p, DUE + 100, &r), PROMISE_OK);
    assert_int_equal(r.to, PROMISE_CANCELLED);
    assert_int_equal(promise_apply_reversal(&p, 2000, DUE + 100, &r), PROMISE_OK);
    assert_int_equal(r.to, PROMISE_CANCELLED);
    assert_true(p.paid_toward == 0);

    /* Cancelled the day after the grace, before the tick: it was broken already. */
    p = q;
    assert_int_equal(promise_cancel(&p, PROMISE_CANCEL_DISPUTE, DUE + 4, &r), PROMISE_OK);
    assert_int_equal(r.to, PROMISE_BROKEN);
    assert_int_equal(r.event.type, PROMISE_EVENT_BROKEN);
    assert_delta(&r.delta, 0, 1, 0);

    /* A kept promise stays kept when a plan supersedes it. */
    p = q;
    assert_int_equal(promise_apply_payment(&p, 10000, TODAY, &r), PROMISE_OK);
    assert_int_equal(promise_cancel(&p, PROMISE_CANCEL_PLAN, TODAY + 1, &r), PROMISE_OK);
    assert_int_equal(r.to, PROMISE_KEPT);
    assert_no_event(&r);
}

static void test_time_does_not_go_back(void **state)
{
    promise_t p = make_promise(10000, 3);
    promise_result_t r;

    (void)state;
    assert_int_equal(promise_evaluate(&p, DUE + 4, &r), PROMISE_OK);
    assert_int_equal(r.to, PROMISE_BROKEN);
    /* A payment dated inside the window but applied after the tick settled: final. */
    assert_int_equal(promise_apply_payment(&p, 10000, DUE, &r), PROMISE_OK);
    assert_int_equal(r.to, PROMISE_BROKEN);
    assert_true(r.applied == 0);
}

static void test_event_json(void **state)
{
    promise_t p = make_promise(10000, 3);
    promise_result_t r;
    json_t *j;
    promise_event_t none = {0};

    (void)state;
    assert_null(promise_event_to_json(&none, AT));
    assert_null(promise_event_to_json(NULL, AT));
    assert_int_equal(promise_apply_payment(&p, 2550, TODAY, &r), PROMISE_OK);
    assert_int_equal(promise_evaluate(&p, DUE + 4, &r), PROMISE_OK);
    assert_null(promise_event_to_json(&r.event, NULL));
    assert_null(promise_event_to_json(&r.event, "2026-12-06"));
    j = promise_event_to_json(&r.event, AT);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "promise_id")), "P-1");
    assert_string_equal(json_string_value(json_object_get(j, "amount")), "100.00");
    assert_string_equal(json_string_value(json_object_get(j, "paid")), "25.50");
    assert_string_equal(json_string_value(json_object_get(j, "currency")), "EUR");
    assert_string_equal(json_string_value(json_object_get(j, "due_on")), "2026-12-02");
    assert_string_equal(json_string_value(json_object_get(j, "at")), AT);
    assert_string_equal(json_string_value(json_object_get(j, "outcome")), "partially_kept");
    assert_true(json_is_true(json_object_get(j, "partial")));
    assert_true(json_is_false(json_object_get(j, "revised")));
    assert_null(json_object_get(j, "plan_id"));
    assert_null(json_object_get(j, "installment"));
    json_decref(j);
    /* promise.kept has no "partial" (proto/schemas/data/promise.kept.schema.json). */
    p = make_promise(10000, 3);
    assert_int_equal(promise_apply_payment(&p, 10000, TODAY, &r), PROMISE_OK);
    j = promise_event_to_json(&r.event, AT);
    assert_non_null(j);
    assert_null(json_object_get(j, "partial"));
    assert_string_equal(json_string_value(json_object_get(j, "outcome")), "kept");
    json_decref(j);
}

/* ---- Plans ------------------------------------------------------------------------------- */

/* Three monthly instalments of 100.00 from DUE, grace 3, default after 2 missed. */
static const policy_installment_t three[] = {
    {(int32_t)DUE, 10000}, {(int32_t)DUE + 30, 10000}, {(int32_t)DUE + 60, 10000}};

static plan_t make_plan(int64_t down, int32_t default_missed)
{
    plan_t pl;

    assert_int_equal(plan_init(&pl, "PL-1", "EUR", TODAY, down, three, 3, 3, default_missed),
                     PROMISE_OK);
    return pl;
}

static void test_plan_init(void **state)
{
    plan_t pl, before;
    policy_installment_t bad[2] = {{(int32_t)DUE, 100}, {(int32_t)DUE, 100}};

    (void)state;
    pl = make_plan(5000, 2);
    assert_true(pl.has_down_payment);
    assert_int_equal(pl.n, 4);
    assert_true(pl.installments[0].due_day == TODAY && pl.installments[0].amount == 5000);
    assert_true(pl.installments[3].due_day == DUE + 60);
    assert_true(pl.total == 35000 && pl.paid == 0);
    assert_int_equal(pl.state, PLAN_ACTIVE);
    before = pl;
    assert_int_equal(plan_init(&pl, "PL", "EUR", TODAY, 0, bad, 2, 3, 2), PROMISE_EINVAL);
    bad[1].due_day = (int32_t)DUE + 1;
    bad[1].amount = 0;
    assert_int_equal(plan_init(&pl, "PL", "EUR", TODAY, 0, bad, 2, 3, 2), PROMISE_EINVAL);
    bad[1].amount = 100;
    assert_int_equal(plan_init(&pl, "PL", "EUR", DUE + 1, 0, bad, 2, 3, 2), PROMISE_EINVAL);
    assert_int_equal(plan_init(&pl, "PL", "EUR", TODAY, -1, bad, 2, 3, 2), PROMISE_EINVAL);
    assert_int_equal(plan_init(&pl, "PL", "EUR", TODAY, 0, bad, 0, 3, 2), PROMISE_EINVAL);
    assert_int_equal(plan_init(&pl, "PL", "EUR", TODAY, 0, bad, 2, 3, 0), PROMISE_EINVAL);
    assert_int_equal(plan_init(&pl, "PL", "XXZ", TODAY, 0, bad, 2, 3, 2), PROMISE_EINVAL);
    assert_int_equal(plan_init(&pl, "", "EUR", TODAY, 0, bad, 2, 3, 2), PROMISE_EINVAL);
    bad[0].amount = INT64_MAX;
    assert_int_equal(plan_init(&pl, "PL", "EUR", TODAY, 0, bad, 2, 3, 2), PROMISE_EOVERFLOW);
    assert_memory_equal(&pl, &before, sizeof(pl));
    assert_int_equal(plan_init_with_policy(&pl, NULL, "PL", "EUR", TODAY, 0, three, 3),
                     PROMISE_EINVAL);
}

static void test_plan_completed_on_time(void **state)
{
    plan_t pl = make_plan(0, 2);
    plan_line_t lines[PLAN_MAX_SLOTS];
    plan_result_t r;

    (void)state;
    for (int i = 0; i < 3; i++) {
        /* Each paid on its last grace day, after the previous one's tick. */
        assert_int_equal(plan_evaluate(&pl, three[i].due_day + 3, &r), PROMISE_OK);
        assert_int_equal(r.to, PLAN_ACTIVE);
        assert_int_equal(r.newly_missed, 0);
        assert_int_equal(
            plan_apply_payment(&pl, 10000, three[i].due_day + 3, lines, PLAN_MAX_SLOTS, &r),
            PROMISE_OK);
        assert_int_equal(r.nlines, 1);
        assert_int_equal(lines[0].slot, i);
        assert_true(lines[0].amount == 10000);
    }
    assert_int_equal(r.from, PLAN_ACTIVE);
    assert_int_equal(r.to, PLAN_COMPLETED);
    assert_int_equal(r.event.type, PROMISE_EVENT_NONE);
    assert_int_equal(pl.missed, 0);
    /* A completed plan takes nothing more. */
    assert_int_equal(plan_apply_payment(&pl, 100, DUE + 90, lines, PLAN_MAX_SLOTS, &r), PROMISE_OK);
    assert_true(r.applied == 0 && r.nlines == 0);
}

static void test_plan_spill_over(void **state)
{
    plan_t pl = make_plan(5000, 2);
    plan_line_t lines[PLAN_MAX_SLOTS];
    plan_result_t r;

    (void)state;
    /* 150.00: the down payment (50), the first instalment (100). */
    assert_int_equal(plan_apply_payment(&pl, 15000, TODAY, lines, PLAN_MAX_SLOTS, &r), PROMISE_OK);
    assert_int_equal(r.nlines, 2);
    assert_true(lines[0].slot == 0 && lines[0].amount == 5000);
    assert_true(lines[1].slot == 1 && lines[1].amount == 10000);
    /* 250.00 more: 200 fills the rest, 50 is left over (not taken). */
    assert_int_equal(plan_apply_payment(&pl, 25000, TODAY + 1, lines, PLAN_MAX_SLOTS, &r),
                     PROMISE_OK);
    assert_int_equal(r.nlines, 2);
    assert_true(r.applied == 20000);
    assert_int_equal(r.to, PLAN_COMPLETED);
    /* Half an instalment, then a spill from it into the next. */
    pl = make_plan(0, 2);
    assert_int_equal(plan_apply_payment(&pl, 5000, TODAY, lines, PLAN_MAX_SLOTS, &r), PROMISE_OK);
    assert_int_equal(plan_apply_payment(&pl, 8000, TODAY, lines, PLAN_MAX_SLOTS, &r), PROMISE_OK);
    assert_int_equal(r.nlines, 2);
    assert_true(lines[0].slot == 0 && lines[0].amount == 5000);
    assert_true(lines[1].slot == 1 && lines[1].amount == 3000);
    assert_true(pl.paid == 13000);
    /* Too few lines: refused, nothing changed. */
    {
        plan_t before = pl;

        assert_int_equal(plan_apply_payment(&pl, 20000, TODAY, lines, 1, &r), PROMISE_EINVAL);
        assert_memory_equal(&pl, &before, sizeof(pl));
    }
}

static void test_plan_defaulted_at_exactly_n(void **state)
{
    plan_t pl = make_plan(0, 2);
    plan_result_t r;
    json_t *j;

    (void)state;
    /* Instalment 1 missed the day after its grace: one miss, still active. */
    assert_int_equal(plan_evaluate(&pl, DUE + 3, &r), PROMISE_OK);
    assert_int_equal(r.newly_missed, 0);
    assert_int_equal(plan_evaluate(&pl, DUE + 4, &r), PROMISE_OK);
    assert_int_equal(r.newly_missed, 1);
    assert_int_equal(r.to, PLAN_ACTIVE);
    assert_int_equal(pl.missed, 1);
    /* Instalment 2's last grace day: still active; the day after: defaulted. */
    assert_int_equal(plan_evaluate(&pl, DUE + 33, &r), PROMISE_OK);
    assert_int_equal(r.to, PLAN_ACTIVE);
    assert_int_equal(plan_evaluate(&pl, DUE + 34, &r), PROMISE_OK);
    assert_int_equal(r.from, PLAN_ACTIVE);
    assert_int_equal(r.to, PLAN_DEFAULTED);
    assert_int_equal(r.event.type, PROMISE_EVENT_PLAN_DEFAULTED);
    assert_int_equal(r.event.missed, 2);
    assert_true(r.event.due_day == DUE && r.event.day == DUE + 34);
    assert_int_equal(r.delta.plan_defaulted, 1);
    j = promise_event_to_json(&r.event, AT);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "plan_id")), "PL-1");
    assert_string_equal(json_string_value(json_object_get(j, "currency")), "EUR");
    assert_int_equal(json_integer_value(json_object_get(j, "missed_installments")), 2);
    assert_string_equal(json_string_value(json_object_get(j, "outstanding")), "300.00");
    assert_string_equal(json_string_value(json_object_get(j, "at")), AT);
    assert_string_equal(json_string_value(json_object_get(j, "amount")), "300.00");
    assert_string_equal(json_string_value(json_object_get(j, "paid")), "0.00");
    assert_string_equal(json_string_value(json_object_get(j, "first_missed_due_on")), "2026-12-02");
    json_decref(j);
    /* Final: no payment applies, no second event. */
    assert_int_equal(plan_apply_payment(&pl, 30000, DUE + 35, NULL, 0, &r), PROMISE_OK);
    assert_true(r.applied == 0);
    assert_int_equal(r.event.type, PROMISE_EVENT_NONE);
    assert_int_equal(plan_evaluate(&pl, DUE + 90, &r), PROMISE_OK);
    assert_int_equal(r.to, PLAN_DEFAULTED);
    assert_int_equal(r.delta.plan_defaulted, 0);
}

static void test_plan_late_payment_fills_but_miss_stays(void **state)
{
    plan_t pl = make_plan(0, 2);
    plan_line_t lines[PLAN_MAX_SLOTS];
    plan_result_t r;

    (void)state;
    /* Instalment 1 paid the day after its grace: missed, then filled. */
    assert_int_equal(plan_apply_payment(&pl, 10000, DUE + 4, lines, PLAN_MAX_SLOTS, &r),
                     PROMISE_OK);
    assert_int_equal(r.newly_missed, 1);
    assert_int_equal(r.nlines, 1);
    assert_int_equal(lines[0].slot, 0);
    assert_true(pl.installments[0].missed && pl.installments[0].paid == 10000);
    /* The others paid on time: completed with one miss on record. */
    assert_int_equal(plan_apply_payment(&pl, 20000, DUE + 30, lines, PLAN_MAX_SLOTS, &r),
                     PROMISE_OK);
    assert_int_equal(r.to, PLAN_COMPLETED);
    assert_int_equal(pl.missed, 1);
}

static void test_plan_payment_on_defaulting_day(void **state)
{
    plan_t pl = make_plan(0, 1);
    plan_line_t lines[PLAN_MAX_SLOTS];
    plan_result_t r;

    (void)state;
    /* default after one miss: a payment the day after the first grace comes too late. */
    assert_int_equal(plan_apply_payment(&pl, 10000, DUE + 4, lines, PLAN_MAX_SLOTS, &r),
                     PROMISE_OK);
    assert_int_equal(r.to, PLAN_DEFAULTED);
    assert_int_equal(r.event.type, PROMISE_EVENT_PLAN_DEFAULTED);
    assert_true(r.applied == 0 && r.nlines == 0);
}

static void test_plan_down_payment_missed(void **state)
{
    plan_t pl = make_plan(5000, 2);
    plan_result_t r;

    (void)state;
    assert_int_equal(plan_evaluate(&pl, TODAY + 3, &r), PROMISE_OK);
    assert_int_equal(r.newly_missed, 0);
    assert_int_equal(plan_evaluate(&pl, TODAY + 4, &r), PROMISE_OK);
    assert_int_equal(r.newly_missed, 1);
    assert_true(pl.installments[0].missed);
    assert_int_equal(r.to, PLAN_ACTIVE);
}

static void test_plan_reversal_of_completing_payment(void **state)
{
    plan_t pl = make_plan(0, 2), done;
    plan_line_t lines[PLAN_MAX_SLOTS], last[PLAN_MAX_SLOTS];
    plan_result_t r;
    size_t nlast;

    (void)state;
    assert_int_equal(plan_apply_payment(&pl, 10000, DUE, lines, PLAN_MAX_SLOTS, &r), PROMISE_OK);
    assert_int_equal(plan_apply_payment(&pl, 20000, DUE + 10, last, PLAN_MAX_SLOTS, &r),
                     PROMISE_OK);
    nlast = r.nlines;
    assert_int_equal(nlast, 2);
    assert_int_equal(r.to, PLAN_COMPLETED);
    done = pl;

    /* Bounced before instalment 2's deadline: active again, instalments 2 and 3 open. */
    assert_int_equal(plan_apply_reversal(&pl, last, nlast, DUE + 33, &r), PROMISE_OK);
    assert_int_equal(r.from, PLAN_COMPLETED);
    assert_int_equal(r.to, PLAN_ACTIVE);
    assert_true(r.applied == 20000);
    assert_true(pl.paid == 10000);
    assert_true(pl.installments[1].paid == 0 && pl.installments[2].paid == 0);
    assert_int_equal(r.event.type, PROMISE_EVENT_NONE);

    /* Bounced after instalments 2 and 3 are past their grace: two misses, defaulted. */
    pl = done;
    assert_int_equal(plan_apply_reversal(&pl, last, nlast, DUE + 64, &r), PROMISE_OK);
    assert_int_equal(r.from, PLAN_COMPLETED);
    assert_int_equal(r.to, PLAN_DEFAULTED);
    assert_int_equal(r.newly_missed, 2);
    assert_int_equal(r.event.type, PROMISE_EVENT_PLAN_DEFAULTED);
    assert_true(r.event.due_day == DUE + 30);
    assert_int_equal(r.delta.plan_defaulted, 1);

    /* Bounced after only instalment 2's grace: one miss, active. */
    pl = done;
    assert_int_equal(plan_apply_reversal(&pl, last, nlast, DUE + 34, &r), PROMISE_OK);
    assert_int_equal(r.to, PLAN_ACTIVE);
    assert_int_equal(r.newly_missed, 1);

    /* Lines that do not match what was paid are refused, all or nothing. */
    pl = done;
    {
        plan_line_t bad[2] = {{1, 10000}, {7, 1}};
        plan_line_t too_much[2] = {{1, 10000}, {1, 1}};

        assert_int_equal(plan_apply_reversal(&pl, bad, 2, DUE, &r), PROMISE_EINVAL);
        assert_int_equal(plan_apply_reversal(&pl, too_much, 2, DUE, &r), PROMISE_EINVAL);
        assert_memory_equal(&pl, &done, sizeof(pl));
    }
}

/* The promise_id an instalment change's event carries. */
static const char *change_promise_id(const plan_t *pl, const plan_change_t *ch, char *buf,
                                     size_t size)
{
    promise_event_t ev;
    json_t *j;

    assert_int_equal(plan_installment_event(pl, ch, &ev), PROMISE_OK);
    j = promise_event_to_json(&ev, AT);
    assert_non_null(j);
    snprintf(buf, size, "%s", json_string_value(json_object_get(j, "promise_id")));
    json_decref(j);
    return buf;
}

static void test_plan_installment_events(void **state)
{
    plan_t pl = make_plan(5000, 2), done;
    plan_line_t lines[PLAN_MAX_SLOTS];
    plan_result_t r;
    promise_event_t ev;
    char id[64];
    json_t *j;

    (void)state;
    /* The down payment and instalment 1 in one payment: two promise.kept. */
    assert_int_equal(plan_apply_payment(&pl, 15000, TODAY, lines, PLAN_MAX_SLOTS, &r), PROMISE_OK);
    assert_int_equal(r.nchanges, 2);
    assert_true(r.changes[0].slot == 0 && r.changes[0].to == PROMISE_KEPT);
    assert_int_equal(r.changes[0].event, PROMISE_EVENT_KEPT);
    assert_string_equal(change_promise_id(&pl, &r.changes[0], id, sizeof(id)), "PL-1-down");
    assert_string_equal(change_promise_id(&pl, &r.changes[1], id, sizeof(id)), "PL-1-1");
    assert_int_equal(plan_installment_event(&pl, &r.changes[1], &ev), PROMISE_OK);
    j = promise_event_to_json(&ev, AT);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "plan_id")), "PL-1");
    assert_int_equal(json_integer_value(json_object_get(j, "installment")), 1);
    assert_string_equal(json_string_value(json_object_get(j, "due_on")), "2026-12-02");
    assert_string_equal(json_string_value(json_object_get(j, "amount")), "100.00");
    json_decref(j);
    assert_delta(&r.delta, 0, 0, 0); /* instalments move no promise counter */
    /* Instalment 2 half paid: partially kept the day after its grace, one miss. */
    assert_int_equal(plan_apply_payment(&pl, 4000, DUE + 20, lines, PLAN_MAX_SLOTS, &r),
                     PROMISE_OK);
    assert_int_equal(r.nchanges, 0);
    assert_int_equal(plan_evaluate(&pl, DUE + 34, &r), PROMISE_OK);
    assert_int_equal(r.nchanges, 1);
    assert_true(r.changes[0].slot == 2 && r.changes[0].from == PROMISE_PENDING);
    assert_int_equal(r.changes[0].to, PROMISE_PARTIALLY_KEPT);
    assert_int_equal(r.changes[0].event, PROMISE_EVENT_BROKEN);
    assert_int_equal(plan_installment_event(&pl, &r.changes[0], &ev), PROMISE_OK);
    assert_true(ev.partial && ev.paid == 4000 && ev.installment == 2);
    assert_int_equal(r.newly_missed, 1);
    assert_int_equal(r.to, PLAN_ACTIVE);
    /* Paid late: filled, still missed, no event for it. */
    assert_int_equal(plan_apply_payment(&pl, 16000, DUE + 40, lines, PLAN_MAX_SLOTS, &r),
                     PROMISE_OK);
    assert_int_equal(r.to, PLAN_COMPLETED);
    assert_int_equal(r.nchanges, 1); /* instalment 3 kept */
    assert_int_equal(r.changes[0].slot, 3);
    assert_int_equal(pl.installments[2].state, PROMISE_PARTIALLY_KEPT);
    done = pl;
    /* The down payment's money bounces later: kept -> broken, revised; that is the 2nd miss. */
    {
        plan_line_t first[2] = {{0, 5000}, {1, 10000}};

        assert_int_equal(plan_apply_reversal(&pl, first, 1, DUE + 41, &r), PROMISE_OK);
        assert_int_equal(r.nchanges, 1);
        assert_int_equal(r.changes[0].to, PROMISE_BROKEN);
        assert_true(r.changes[0].revised);
        assert_int_equal(r.to, PLAN_DEFAULTED);
        /* Bad change records are refused. */
        r.changes[0].slot = 99;
        assert_int_equal(plan_installment_event(&pl, &r.changes[0], &ev), PROMISE_EINVAL);
    }
    /* Inside instalment 3's grace, its money bouncing makes it pending again: no event. */
    pl = done;
    {
        plan_line_t last[1] = {{3, 10000}};

        assert_int_equal(plan_apply_reversal(&pl, last, 1, DUE + 60, &r), PROMISE_OK);
        assert_int_equal(r.nchanges, 1);
        assert_int_equal(r.changes[0].to, PROMISE_PENDING);
        assert_int_equal(r.changes[0].event, PROMISE_EVENT_NONE);
        assert_int_equal(plan_installment_event(&pl, &r.changes[0], &ev), PROMISE_OK);
        assert_int_equal(ev.type, PROMISE_EVENT_NONE);
        assert_int_equal(r.to, PLAN_ACTIVE);
    }
}

static void test_plan_cancel(void **state)
{
    plan_t pl = make_plan(0, 2), q;
    plan_line_t lines[PLAN_MAX_SLOTS];
    plan_result_t r;

    (void)state;
    q = pl;
    assert_int_equal(plan_cancel(&pl, DUE, &r), PROMISE_OK);
    assert_int_equal(r.to, PLAN_CANCELLED);
    assert_int_equal(r.event.type, PROMISE_EVENT_NONE);
    assert_int_equal(plan_apply_payment(&pl, 100, DUE, lines, PLAN_MAX_SLOTS, &r), PROMISE_OK);
    assert_true(r.applied == 0);
    assert_int_equal(plan_evaluate(&pl, DUE + 100, &r), PROMISE_OK);
    assert_int_equal(r.to, PLAN_CANCELLED);
    /* Completed stays completed. */
    pl = q;
    assert_int_equal(plan_apply_payment(&pl, 30000, TODAY, lines, PLAN_MAX_SLOTS, &r), PROMISE_OK);
    assert_int_equal(plan_cancel(&pl, DUE, &r), PROMISE_OK);
    assert_int_equal(r.to, PLAN_COMPLETED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_days_are_day_numbers),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_init_rejects),
        cmocka_unit_test(test_kept_in_full_at_once),
        cmocka_unit_test(test_grace_boundaries),
        cmocka_unit_test(test_partial_payments),
        cmocka_unit_test(test_partials_reach_the_amount),
        cmocka_unit_test(test_reversal_after_kept_inside_grace),
        cmocka_unit_test(test_reversal_after_kept_after_grace),
        cmocka_unit_test(test_reversal_leaving_enough_keeps),
        cmocka_unit_test(test_reversal_of_pending_and_errors),
        cmocka_unit_test(test_overflow),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_time_does_not_go_back),
        cmocka_unit_test(test_event_json),
        cmocka_unit_test(test_plan_init),
        cmocka_unit_test(test_plan_completed_on_time),
        cmocka_unit_test(test_plan_spill_over),
        cmocka_unit_test(test_plan_defaulted_at_exactly_n),
        cmocka_unit_test(test_plan_late_payment_fills_but_miss_stays),
        cmocka_unit_test(test_plan_payment_on_defaulting_day),
        cmocka_unit_test(test_plan_down_payment_missed),
        cmocka_unit_test(test_plan_reversal_of_completing_payment),
        cmocka_unit_test(test_plan_installment_events),
        cmocka_unit_test(test_plan_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
