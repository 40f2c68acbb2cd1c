/* test_hold.c - vectors of follow-up planning (CONTRACT.md, "Additions, version 2"): promise and
 * plan holds at their grace boundaries in several zones, promise reminders across DST, the
 * follow-up after a break, callbacks inside and outside the window, skip tracing, restores and
 * task queues. Each case runs the planning the workers run (casefile_plan() under
 * deploy/policy/default.json) over a case file, with the store's round trip between plannings
 * reduced to what matters (new tasks become loaded ones). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "calendar.h"
#include "callback.h"
#include "casedecide.h"
#include "caseinteract.h"
#include "casefile.h"
#include "hold.h"
#include "policy.h"

static policy_t *pol;

static int64_t at(const char *s)
{
    int64_t t = 0;
    assert_int_equal(cal_parse_instant(s, &t, NULL), 0);
    return t;
}

static int setup(void **state)
{
    char path[4096], err[POLICY_ERR_MAX];
    const char *src = getenv("RECOBRO_SOURCE_DIR");

    (void)state;
    snprintf(path, sizeof(path), "%s/deploy/policy/default.json", src ? src : ".");
    pol = policy_load_file(path, err, sizeof(err));
    if (pol == NULL)
        fprintf(stderr, "%s\n", err);
    return pol ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    policy_free(pol);
    return 0;
}

/* What the store's round trip keeps of a planning: tasks become loaded ones. */
static void persist(casefile_t *cf, casefile_plan_t *plan)
{
    for (size_t i = 0; i < cf->n_tasks; i++) {
        cf->tasks[i].is_new = false;
        cf->tasks[i].status_dirty = false;
        json_decref(cf->tasks[i].data);
        cf->tasks[i].data = NULL;
    }
    casefile_plan_clear(plan);
}

static void plan_at(casefile_t *cf, casefile_plan_t *plan, int64_t now)
{
    char err[256];
    persist(cf, plan);
    assert_int_equal(casefile_plan(cf, pol, now, plan, err, sizeof(err)), 0);
}

/* A documented EUR case in `zone`, due `due`, with `features` (JSON), planned at `now`: an
 * evasive case ({"ever_contacted": true}, more than 30 days past due) by default. */
static void new_case(casefile_t *cf, casefile_plan_t *plan, const char *zone, const char *features,
                     const char *due, int64_t now)
{
    casefile_invoice_t inv;
    json_error_t jerr;

    assert_int_equal(casefile_init(cf, "acme", "D-1"), 0);
    strcpy(cf->creditor_name, "ACME");
    strcpy(cf->timezone, zone);
    strcpy(cf->currency, "EUR");
    memset(&inv, 0, sizeof(inv));
    strcpy(inv.id, "INV-1");
    strcpy(inv.currency, "EUR");
    inv.amount = inv.open_amount = 40000;
    strcpy(inv.due_on, due);
    assert_non_null(casefile_add_invoice(cf, &inv));
    json_t *f = json_loads(features ? features : "{\"ever_contacted\": true}", 0, &jerr);
    assert_int_equal(casefile_set_features(cf, f), 0);
    json_decref(f);
    plan_at(cf, plan, now);
}

/* The n-th output (0 first) of `type` and, for tasks, `action`; NULL when none. */
static const json_t *output(const casefile_plan_t *plan, const char *type, const char *action,
                            int n)
{
    for (size_t i = 0; i < plan->n_outputs; i++) {
        const json_t *d = plan->outputs[i].data;
        const char *a = json_string_value(json_object_get(d, "action"));
        if (strcmp(plan->outputs[i].type, type) != 0 ||
            (action != NULL && (a == NULL || strcmp(a, action) != 0)))
            continue;
        if (n-- == 0)
            return d;
    }
    return NULL;
}

static const char *str(const json_t *d, const char *key)
{
    return json_string_value(json_object_get(d, key));
}

/* The instant of a task's field, parsed. */
static int64_t when(const json_t *d, const char *key)
{
    return at(str(d, key));
}

static void set_promise(casefile_t *cf, const char *id, const char *amount, const char *due)
{
    json_decref(cf->open_promise);
    cf->open_promise =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "promise_id", id, "amount", amount, "currency",
                  "EUR", "paid", "0.00", "due_on", due, "state", "pending");
}

/* ---- Promise holds at the grace boundary, in several zones ----------------------------------- */

static void test_hold_ends_at_local_midnight_after_grace(void **state)
{
    static const struct {
        const char *zone, *end; /* due 2026-11-10 + 3 days' grace: the start of the 14th */
    } v[] = {
        {"Europe/Madrid", "2026-11-13T23:00:00Z"},
        {"America/Los_Angeles", "2026-11-14T08:00:00Z"},
        {"Pacific/Auckland", "2026-11-13T11:00:00Z"},
        {"Asia/Kolkata", "2026-11-13T18:30:00Z"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        casefile_t cf;
        casefile_plan_t plan = CASEFILE_PLAN_INIT;
        int64_t until, end = at(v[i].end);
        new_case(&cf, &plan, v[i].zone, NULL, "2026-09-01", at("2026-11-02T12:00:00Z"));
        set_promise(&cf, "P-1", "100.00", "2026-11-10");
        assert_int_equal(hold_agreement_end(&cf, pol, end - 1), end);
        assert_true(hold_blocks(&cf, pol, VOCAB_ACTION_CALL, end - 1, &until));
        assert_int_equal(until, end);
        assert_true(hold_blocks(&cf, pol, VOCAB_ACTION_LEGAL_REVIEW, end - 1, &until));
        assert_false(hold_blocks(&cf, pol, VOCAB_ACTION_CALL, end, &until));
        /* Documentation and the reminder itself are never held. */
        assert_false(hold_blocks(&cf, pol, VOCAB_ACTION_INVOICE_COPY, end - 1, &until));
        assert_false(hold_blocks(&cf, pol, VOCAB_ACTION_PROMISE_REMINDER, end - 1, &until));
        casefile_plan_clear(&plan);
        casefile_clear(&cf);
    }
}

/* An evasive case's day-7 call waits for the end of the grace, then goes. */
static void test_ladder_call_held_then_released(void **state)
{
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;

    (void)state;
    new_case(&cf, &plan, "Europe/Madrid", NULL, "2026-09-01", at("2026-11-02T09:00:00Z"));
    assert_string_equal(segment_name(cf.segment), "evasive");
    set_promise(&cf, "P-1", "100.00", "2026-11-10");
    plan_at(&cf, &plan, at("2026-11-09T09:00:00Z")); /* day 7: the call is due */
    assert_null(output(&plan, "task.created", "call", 0));
    assert_int_equal(cf.last_step, 1);
    assert_string_equal(cf.next_action, "call");
    assert_true(cf.next_not_before >= at("2026-11-13T23:00:00Z"));
    plan_at(&cf, &plan, at("2026-11-13T22:59:59Z")); /* the last second of the grace */
    assert_null(output(&plan, "task.created", "call", 0));
    json_decref(cf.open_promise); /* broken at the tick of the 14th (casepay.h) */
    cf.open_promise = NULL;
    plan_at(&cf, &plan, at("2026-11-13T23:00:00Z"));
    const json_t *call = output(&plan, "task.created", "call", 0);
    assert_non_null(call);
    assert_true(when(call, "not_before") >= at("2026-11-13T23:00:00Z"));
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
}

static void test_pending_collection_tasks_withdrawn(void **state)
{
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;

    (void)state;
    new_case(&cf, &plan, "Europe/Madrid", NULL, "2026-09-01", at("2026-11-02T09:00:00Z"));
    plan_at(&cf, &plan, at("2026-11-09T06:00:00Z")); /* day 7, before the window: deferred */
    const json_t *call = output(&plan, "task.created", "call", 0);
    assert_non_null(call);
    char id[CASEFILE_UUID_MAX];
    snprintf(id, sizeof(id), "%s", str(call, "task_id"));
    set_promise(&cf, "P-1", "100.00", "2026-11-20");
    plan_at(&cf, &plan, at("2026-11-09T06:30:00Z"));
    const json_t *c = output(&plan, "task.cancelled", NULL, 0);
    assert_non_null(c);
    assert_string_equal(str(c, "task_id"), id);
    assert_string_equal(str(c, "reason"), "promise_pending");
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
}

/* ---- Reminders across DST -------------------------------------------------------------------- */

static void check_reminder(const char *zone, const char *due, const char *opens,
                           const char *not_before)
{
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;

    new_case(&cf, &plan, zone, NULL, "2026-08-01", at(opens) - 5 * 86400);
    set_promise(&cf, "P-7", "120.50", due);
    plan_at(&cf, &plan, at(opens) - 1);
    assert_null(output(&plan, "task.created", "promise_reminder", 0));
    assert_string_equal(cf.next_action, "promise_reminder");
    assert_int_equal(cf.next_not_before, at(opens));
    plan_at(&cf, &plan, at(opens));
    const json_t *r = output(&plan, "task.created", "promise_reminder", 0);
    assert_non_null(r);
    assert_string_equal(str(r, "channel"), "sms");
    assert_int_equal(when(r, "not_before"), at(not_before));
    const json_t *p = json_object_get(r, "promise");
    assert_string_equal(str(p, "promise_id"), "P-7");
    assert_string_equal(str(p, "amount"), "120.50");
    assert_string_equal(str(p, "currency"), "EUR");
    assert_string_equal(str(p, "due_on"), due);
    assert_string_equal(str(r, "queue"), "standard");
    /* The metrics keep static names, never a pointer into a task on the stack. */
    assert_true(plan.n_created > 0);
    assert_ptr_equal(plan.created[plan.n_created - 1],
                     vocab_action_name(VOCAB_ACTION_PROMISE_REMINDER));
    plan_at(&cf, &plan, at(opens) + 3600); /* once */
    assert_null(output(&plan, "task.created", "promise_reminder", 0));
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
}

static void test_reminder_day_before_across_dst(void **state)
{
    (void)state;
    /* Madrid falls back on Sunday 25 October 2026: the day opens at 00:00 CEST (22:00Z), the
     * window at 08:00 CET (07:00Z). */
    check_reminder("Europe/Madrid", "2026-10-26", "2026-10-24T22:00:00Z", "2026-10-25T07:00:00Z");
    /* New York springs forward on Sunday 14 March 2027: 00:00 EST (05:00Z), 08:00 EDT (12:00Z). */
    check_reminder("America/New_York", "2027-03-15", "2027-03-14T05:00:00Z",
                   "2027-03-14T12:00:00Z");
    /* Auckland springs forward on Sunday 27 September 2026: 00:00 NZST (12:00Z on the 26th). */
    check_reminder("Pacific/Auckland", "2026-09-28", "2026-09-26T12:00:00Z",
                   "2026-09-26T19:00:00Z");
}

static void test_reminder_falls_back_to_email_on_sms_opt_out(void **state)
{
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;

    (void)state;
    new_case(&cf, &plan, "Europe/Madrid", NULL, "2026-09-01", at("2026-11-02T09:00:00Z"));
    cf.do_not_sms = true;
    set_promise(&cf, "P-2", "50.00", "2026-11-05");
    plan_at(&cf, &plan, at("2026-11-04T10:00:00Z"));
    const json_t *r = output(&plan, "task.created", "promise_reminder", 0);
    assert_non_null(r);
    assert_string_equal(str(r, "channel"), "email");
    assert_int_equal(when(r, "not_before"), at("2026-11-04T10:00:00Z"));
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
}

/* A plan holds the ladder and gets a reminder before each instalment. */
static void test_plan_holds_and_reminds_each_installment(void **state)
{
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;
    int64_t until;

    (void)state;
    new_case(&cf, &plan, "America/Chicago", NULL, "2026-09-01", at("2026-11-02T15:00:00Z"));
    cf.active_plan =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "plan_id", "PL-1", "currency", "EUR", "state",
                  "active", "next_due_on", "2026-11-20", "next_amount", "80.00");
    assert_true(hold_blocks(&cf, pol, VOCAB_ACTION_CALL, at("2026-11-24T05:59:59Z"), &until));
    assert_false(hold_blocks(&cf, pol, VOCAB_ACTION_CALL, at("2026-11-24T06:00:00Z"), &until));
    plan_at(&cf, &plan, at("2026-11-19T06:00:00Z")); /* 00:00 CST on the 19th */
    const json_t *r = output(&plan, "task.created", "promise_reminder", 0);
    assert_non_null(r);
    assert_string_equal(str(json_object_get(r, "promise"), "plan_id"), "PL-1");
    assert_string_equal(str(json_object_get(r, "promise"), "amount"), "80.00");
    assert_string_equal(str(r, "reason"), "plan PL-1 instalment due 2026-11-20");
    json_object_set_new(cf.active_plan, "next_due_on", json_string("2026-12-20"));
    plan_at(&cf, &plan, at("2026-12-19T14:00:00Z"));
    r = output(&plan, "task.created", "promise_reminder", 0);
    assert_non_null(r);
    assert_string_equal(str(json_object_get(r, "promise"), "due_on"), "2026-12-20");
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
}

/* A broken promise gets the ladder's call at the next allowed moment. */
static void test_broken_promise_follow_up_at_once(void **state)
{
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;
    char err[256];

    (void)state;
    new_case(&cf, &plan, "Europe/Madrid", NULL, "2026-09-01", at("2026-11-02T09:00:00Z"));
    cf.last_step = 2; /* the day-7 call was made: the ladder's next call is on day 14 */
    persist(&cf, &plan);
    int64_t now = at("2026-11-12T05:00:00Z"); /* 06:00 local: before the window */
    assert_int_equal(casefile_emit(&plan, CASEFILE_TOPIC_CASE_EVENTS, "promise.broken", "e1", now,
                                   json_pack("{s:s}", "promise_id", "P-9")),
                     0);
    assert_int_equal(casefile_plan(&cf, pol, now, &plan, err, sizeof(err)), 0);
    const json_t *f = output(&plan, "task.created", "call", 0);
    assert_non_null(f);
    assert_string_equal(str(f, "channel"), "phone");
    assert_string_equal(str(f, "template"), "evasive.firm_call");
    assert_int_equal(when(f, "not_before"), at("2026-11-12T07:00:00Z"));
    assert_string_equal(str(f, "reason"),
                        "promise P-9 broken: follow-up, deferred (outside_window)");
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
}

/* ---- Callbacks ------------------------------------------------------------------------------- */

static void contact(casefile_t *cf, casefile_plan_t *plan, const char *json, int64_t now)
{
    json_error_t jerr;
    reason_t why;
    json_t *data = json_loads(json, 0, &jerr);
    casedecide_in_t in = {"contact.attempted", data, pol, now, "test"};
    persist(cf, plan);
    assert_int_equal(casedecide_contact(cf, &in, plan, &why), RESULT_OK);
    char err[256];
    assert_int_equal(casefile_plan(cf, pol, now, plan, err, sizeof(err)), 0);
    json_decref(data);
}

#define CALLBACK(at_, cb)                                                                          \
    "{\"creditor_id\":\"acme\",\"debtor_id\":\"D-1\",\"channel\":\"phone\",\"at\":\"" at_          \
    "\",\"outcome\":\"callback_requested\",\"callback_at\":\"" cb "\"}"

static void test_callback_inside_the_window(void **state)
{
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;

    (void)state;
    new_case(&cf, &plan, "Europe/Madrid", NULL, "2026-09-01", at("2026-11-02T09:00:00Z"));
    cf.last_rpc_at = at("2026-11-08T10:00:00Z"); /* a conversation two days before */
    contact(&cf, &plan, CALLBACK("2026-11-10T09:00:00+01:00", "2026-11-10T17:30:00+01:00"),
            at("2026-11-10T08:00:01Z"));
    assert_int_equal(cf.last_rpc_at, at("2026-11-08T10:00:00Z")); /* no new quiet period */
    const json_t *c = output(&plan, "task.created", "call", 0);
    assert_non_null(c);
    assert_string_equal(str(c, "reason"), "callback");
    assert_string_equal(str(c, "channel"), "phone");
    assert_int_equal(when(c, "not_before"), at("2026-11-10T16:30:00Z"));
    assert_int_equal(when(c, "not_after"), at("2026-11-10T17:30:00Z"));
    /* The ladder's day-14 call waits until the callback's hour has passed. */
    int64_t until;
    assert_true(hold_blocks(&cf, pol, VOCAB_ACTION_CALL, at("2026-11-10T17:00:00Z"), &until));
    assert_int_equal(until, at("2026-11-10T17:30:00Z"));
    assert_false(hold_blocks(&cf, pol, VOCAB_ACTION_REMINDER, at("2026-11-10T17:00:00Z"), &until));
    /* Another planning keeps it (consent: neither the quiet period nor a segment change). */
    plan_at(&cf, &plan, at("2026-11-10T12:00:00Z"));
    assert_null(output(&plan, "task.cancelled", NULL, 0));
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
}

/* A call planned before the request that would come before the callback is withdrawn. */
static void test_callback_withdraws_an_earlier_call(void **state)
{
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;

    (void)state;
    new_case(&cf, &plan, "Europe/Madrid", NULL, "2026-09-01", at("2026-11-02T09:00:00Z"));
    plan_at(&cf, &plan, at("2026-11-09T06:00:00Z")); /* day 7: the call, for 08:00-21:00 */
    const json_t *call = output(&plan, "task.created", "call", 0);
    assert_non_null(call);
    char id[CASEFILE_UUID_MAX];
    snprintf(id, sizeof(id), "%s", str(call, "task_id"));
    contact(&cf, &plan, CALLBACK("2026-11-09T07:00:00+01:00", "2026-11-09T18:00:00+01:00"),
            at("2026-11-09T06:05:00Z"));
    const json_t *c = output(&plan, "task.cancelled", NULL, 0);
    assert_non_null(c);
    assert_string_equal(str(c, "task_id"), id);
    assert_string_equal(str(c, "reason"), "callback");
    assert_non_null(output(&plan, "task.created", "call", 0));
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
}

static void test_callback_outside_the_window(void **state)
{
    static const struct {
        const char *cb, *nb, *na;
    } v[] = {
        /* 22:00 local: tomorrow at 08:00. */
        {"2026-11-10T22:00:00+01:00", "2026-11-11T07:00:00Z", "2026-11-11T08:00:00Z"},
        /* 20:30 local: half an hour left is not an hour: tomorrow at 08:00. */
        {"2026-11-10T20:30:00+01:00", "2026-11-11T07:00:00Z", "2026-11-11T08:00:00Z"},
        /* 20:00 local: exactly the last hour. */
        {"2026-11-10T20:00:00+01:00", "2026-11-10T19:00:00Z", "2026-11-10T20:00:00Z"},
        /* 06:15 local, given in UTC: at 08:00. */
        {"2026-11-11T05:15:00Z", "2026-11-11T07:00:00Z", "2026-11-11T08:00:00Z"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        casefile_t cf;
        casefile_plan_t plan = CASEFILE_PLAN_INIT;
        char ev[512];
        new_case(&cf, &plan, "Europe/Madrid", NULL, "2026-09-01", at("2026-11-02T09:00:00Z"));
        snprintf(ev, sizeof(ev), CALLBACK("2026-11-10T09:00:00+01:00", "%s"), v[i].cb);
        contact(&cf, &plan, ev, at("2026-11-10T08:00:01Z"));
        const json_t *c = output(&plan, "task.created", "call", 0);
        assert_non_null(c);
        assert_int_equal(when(c, "not_before"), at(v[i].nb));
        assert_int_equal(when(c, "not_after"), at(v[i].na));
        casefile_plan_clear(&plan);
        casefile_clear(&cf);
    }
}

/* ---- Skip tracing, restores, queues ---------------------------------------------------------- */

#define ATTEMPT(at_, outcome)                                                                      \
    "{\"creditor_id\":\"acme\",\"debtor_id\":\"D-1\",\"channel\":\"phone\",\"at\":\"" at_          \
    "\",\"outcome\":\"" outcome "\"}"

static void test_skip_trace_after_six_unreached_attempts(void **state)
{
    static const char *const days[] = {"2026-11-03", "2026-11-06", "2026-11-10",
                                       "2026-11-14", "2026-11-18", "2026-11-22"};
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;
    char ev[512], t[64];

    (void)state;
    new_case(&cf, &plan, "Europe/Madrid", NULL, "2026-09-01", at("2026-11-02T09:00:00Z"));
    for (size_t i = 0; i < 6; i++) {
        snprintf(t, sizeof(t), "%sT10:00:00+01:00", days[i]);
        snprintf(ev, sizeof(ev), ATTEMPT("%s", "no_answer"), t);
        contact(&cf, &plan, ev, at(t) + 60);
        const json_t *s = output(&plan, "task.created", "skip_trace", 0);
        if (i < 5) {
            assert_null(s);
            continue;
        }
        assert_non_null(s);
        assert_string_equal(str(s, "channel"), "internal");
        assert_string_equal(str(s, "reason"), "unreached: 6 attempts in 30 days");
    }
    /* Once per 30 days, whatever comes in between. */
    contact(&cf, &plan, ATTEMPT("2026-11-25T10:00:00+01:00", "no_answer"),
            at("2026-11-25T09:01:00Z"));
    assert_null(output(&plan, "task.created", "skip_trace", 0));
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
}

/* A dispute opened while a skip_trace is pending withdraws it: tracing is collecting (the
 * compliance checker found them planned the moment a dispute opened, and left live). */
static void test_skip_trace_withdrawn_when_a_dispute_opens(void **state)
{
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;
    char task_id[CASEFILE_UUID_MAX];

    (void)state;
    new_case(&cf, &plan, "Europe/Madrid", NULL, "2026-09-01", at("2026-11-02T09:00:00Z"));
    contact(&cf, &plan, ATTEMPT("2026-11-21T10:00:00+01:00", "wrong_party"),
            at("2026-11-21T09:01:00Z"));
    const json_t *s = output(&plan, "task.created", "skip_trace", 0);
    assert_non_null(s);
    snprintf(task_id, sizeof(task_id), "%s", str(s, "task_id"));
    persist(&cf, &plan);
    assert_int_equal(caseinteract_dispute_opened(&cf, at("2026-11-21T09:01:00Z"), &plan), 0);
    const json_t *c = output(&plan, "task.cancelled", NULL, 0);
    bool withdrawn = false;
    for (int i = 0; c != NULL; c = output(&plan, "task.cancelled", NULL, ++i))
        withdrawn = withdrawn || (strcmp(str(c, "task_id"), task_id) == 0 &&
                                  strcmp(str(c, "reason"), "disputed") == 0);
    assert_true(withdrawn);
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
}

static void test_skip_trace_counts_only_after_a_right_party_contact(void **state)
{
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;
    char ev[512], t[64];

    (void)state;
    new_case(&cf, &plan, "Europe/Madrid", NULL, "2026-09-01", at("2026-11-02T09:00:00Z"));
    for (int i = 0; i < 5; i++) {
        snprintf(t, sizeof(t), "2026-11-%02dT10:00:00+01:00", 3 + i);
        snprintf(ev, sizeof(ev), ATTEMPT("%s", "voicemail"), t);
        contact(&cf, &plan, ev, at(t) + 60);
    }
    contact(&cf, &plan, ATTEMPT("2026-11-09T10:00:00+01:00", "right_party"),
            at("2026-11-09T09:01:00Z"));
    contact(&cf, &plan, ATTEMPT("2026-11-20T10:00:00+01:00", "no_answer"),
            at("2026-11-20T09:01:00Z"));
    assert_null(output(&plan, "task.created", "skip_trace", 0));
    /* A wrong party is enough at once. */
    contact(&cf, &plan, ATTEMPT("2026-11-21T10:00:00+01:00", "wrong_party"),
            at("2026-11-21T09:01:00Z"));
    const json_t *s = output(&plan, "task.created", "skip_trace", 0);
    assert_non_null(s);
    assert_string_equal(str(s, "reason"), "wrong party reached: skip trace");
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
}

static void test_restore_after_restriction_when_resolved(void **state)
{
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;

    (void)state;
    new_case(&cf, &plan, "Europe/Madrid", NULL, "2026-09-01", at("2026-11-02T09:00:00Z"));
    cf.last_step = 5; /* the evasive ladder's restrict_service (day 45) is next */
    plan_at(&cf, &plan, at("2026-12-17T10:00:00Z"));
    assert_non_null(output(&plan, "task.created", "restrict_service", 0));
    assert_null(output(&plan, "task.created", "restore_service", 0));
    plan_at(&cf, &plan, at("2026-12-18T10:00:00Z"));
    assert_null(output(&plan, "task.created", "restore_service", 0));
    cf.invoices[0].status = CASEFILE_INVOICE_PAID;
    cf.invoices[0].open_amount = 0;
    plan_at(&cf, &plan, at("2026-12-19T10:00:00Z"));
    const json_t *r = output(&plan, "task.created", "restore_service", 0);
    assert_non_null(r);
    assert_string_equal(str(r, "channel"), "internal");
    assert_string_equal(str(r, "reason"), "restore service: case resolved");
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
}

/* A delivery_failed goes again on the next channel of its ladder step. */
static void test_delivery_failure_falls_back_to_the_next_channel(void **state)
{
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;
    char ev[512], id[CASEFILE_UUID_MAX];

    (void)state;
    new_case(&cf, &plan, "Europe/Madrid", "{}", "2026-11-01", at("2026-11-02T09:00:00Z"));
    const json_t *t = output(&plan, "task.created", "invoice_copy", 0);
    assert_non_null(t);
    assert_string_equal(str(t, "channel"), "email");
    snprintf(id, sizeof(id), "%s", str(t, "task_id"));
    snprintf(ev, sizeof(ev),
             "{\"creditor_id\":\"acme\",\"debtor_id\":\"D-1\",\"channel\":\"email\","
             "\"at\":\"2026-11-02T10:00:00Z\",\"outcome\":\"delivery_failed\","
             "\"task_id\":\"%s\"}",
             id);
    contact(&cf, &plan, ev, at("2026-11-02T10:00:05Z"));
    t = output(&plan, "task.created", "invoice_copy", 0);
    assert_non_null(t);
    assert_string_equal(str(t, "channel"), "sms");
    assert_int_equal(json_integer_value(json_object_get(t, "step")), 2);
    assert_string_equal(str(t, "reason"), "step 2: email failed, fallback to sms");
    snprintf(id, sizeof(id), "%s", str(t, "task_id"));
    snprintf(ev, sizeof(ev),
             "{\"creditor_id\":\"acme\",\"debtor_id\":\"D-1\",\"channel\":\"sms\","
             "\"at\":\"2026-11-02T10:30:00Z\",\"outcome\":\"delivery_failed\","
             "\"task_id\":\"%s\"}",
             id);
    contact(&cf, &plan, ev, at("2026-11-02T10:30:05Z"));
    t = output(&plan, "task.created", "invoice_copy", 0);
    assert_non_null(t);
    assert_string_equal(str(t, "channel"), "letter");
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
}

static void test_queue_senior_for_high_value(void **state)
{
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;

    (void)state;
    assert_int_equal(casefile_init(&cf, "acme", "D-2"), 0);
    casefile_invoice_t inv;
    memset(&inv, 0, sizeof(inv));
    strcpy(inv.id, "INV-9");
    strcpy(inv.currency, "EUR");
    inv.amount = inv.open_amount = 900000;
    strcpy(inv.due_on, "2026-10-01");
    strcpy(cf.creditor_name, "ACME");
    strcpy(cf.timezone, "Europe/Madrid");
    strcpy(cf.currency, "EUR");
    assert_non_null(casefile_add_invoice(&cf, &inv));
    plan_at(&cf, &plan, at("2026-11-02T09:00:00Z"));
    const json_t *t = output(&plan, "task.created", NULL, 0);
    assert_non_null(t);
    assert_string_equal(str(t, "queue"), "senior");
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
    new_case(&cf, &plan, "Europe/Madrid", NULL, "2026-09-01", at("2026-11-02T09:00:00Z"));
    t = output(&plan, "task.created", NULL, 0);
    assert_non_null(t);
    assert_string_equal(str(t, "queue"), "standard");
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
}

/* The policy's version-2 settings are checked at load, with the path of the bad value. */
static void test_bad_policy_settings_are_refused(void **state)
{
    static const struct {
        const char *path, *value, *err;
    } v[] = {
        {"promise", "{\"reminder_days_before\": 31}",
         "promise.reminder_days_before: 31 is out of range 0..30"},
        {"promise", "{\"reminder_channel\": \"letter\"}",
         "promise.reminder_channel: must be \"sms\" or \"email\""},
        {"promise", "{\"follow_up\": {\"action\": \"call\", \"channel\": \"sms\"}}",
         "promise.follow_up.channel: action \"call\" cannot go by \"sms\""},
        {"promise", "{\"remind\": 1}", "promise.remind: unknown key"},
        {"unreached", "{\"attempts\": 0}", "unreached.attempts: 0 is out of range 1..100"},
        {"delivery", "{\"fallback\": \"yes\"}", "delivery.fallback: must be true or false"},
    };
    char path[4096], err[POLICY_ERR_MAX];
    json_error_t jerr;

    (void)state;
    snprintf(path, sizeof(path), "%s/deploy/policy/default.json",
             getenv("RECOBRO_SOURCE_DIR") ? getenv("RECOBRO_SOURCE_DIR") : ".");
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        json_t *doc = json_load_file(path, 0, &jerr);
        assert_non_null(doc);
        json_object_set_new(doc, v[i].path, json_loads(v[i].value, 0, &jerr));
        char *text = json_dumps(doc, 0);
        policy_t *p = policy_parse(text, err, sizeof(err));
        assert_null(p);
        assert_string_equal(err, v[i].err);
        free(text);
        json_decref(doc);
    }
    /* carry_days and fallback_channels, in a strategy. */
    json_t *doc = json_load_file(path, 0, &jerr);
    json_t *ev = json_object_get(json_object_get(doc, "strategies"), "evasive");
    json_object_set_new(ev, "carry_days", json_integer(-1));
    char *text = json_dumps(doc, 0);
    assert_null(policy_parse(text, err, sizeof(err)));
    assert_string_equal(err, "strategies.evasive.carry_days: -1 is out of range 0..3650");
    free(text);
    json_object_set_new(ev, "carry_days", json_integer(30));
    json_t *step = json_array_get(json_object_get(ev, "steps"), 1); /* the day-7 call */
    json_object_set_new(step, "fallback_channels", json_pack("[s]", "email"));
    text = json_dumps(doc, 0);
    assert_null(policy_parse(text, err, sizeof(err)));
    assert_string_equal(err, "strategies.evasive.steps[1].fallback_channels: item 0: not a "
                             "channel that can carry the step's action");
    free(text);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hold_ends_at_local_midnight_after_grace),
        cmocka_unit_test(test_ladder_call_held_then_released),
        cmocka_unit_test(test_pending_collection_tasks_withdrawn),
        cmocka_unit_test(test_reminder_day_before_across_dst),
        cmocka_unit_test(test_reminder_falls_back_to_email_on_sms_opt_out),
        cmocka_unit_test(test_plan_holds_and_reminds_each_installment),
        cmocka_unit_test(test_broken_promise_follow_up_at_once),
        cmocka_unit_test(test_callback_inside_the_window),
        cmocka_unit_test(test_callback_withdraws_an_earlier_call),
        cmocka_unit_test(test_callback_outside_the_window),
        cmocka_unit_test(test_skip_trace_after_six_unreached_attempts),
        cmocka_unit_test(test_skip_trace_counts_only_after_a_right_party_contact),
        cmocka_unit_test(test_skip_trace_withdrawn_when_a_dispute_opens),
        cmocka_unit_test(test_restore_after_restriction_when_resolved),
        cmocka_unit_test(test_delivery_failure_falls_back_to_the_next_channel),
        cmocka_unit_test(test_queue_senior_for_high_value),
        cmocka_unit_test(test_bad_policy_settings_are_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
