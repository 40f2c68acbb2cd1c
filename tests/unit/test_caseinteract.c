/* test_caseinteract.c - unit tests for caseinteract.c: contact attempts moving features and the
 * contact state, task loops closed, disputes, preferences and forbearances withdrawing tasks,
 * and the contact state reaching planning (quiet period, opt-outs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "caseinteract.h"
#include "casefile.h"
#include "clock.h"
#include "policy.h"
#include "policystore.h"
#include "calendar.h"

static int64_t at(const char *s)
{
    int64_t t = 0;
    assert_int_equal(cal_parse_instant(s, &t, NULL), 0);
    return t;
}

static json_t *js(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    assert_non_null(j);
    return j;
}

static void contact(casefile_t *cf, const char *json, caseinteract_task_t *task)
{
    reason_t err;
    caseinteract_task_t t;
    json_t *d = js(json);
    assert_int_equal(caseinteract_contact(cf, d, task ? task : &t, &err), 0);
    json_decref(d);
}

static json_int_t feat(const casefile_t *cf, const char *k)
{
    return json_integer_value(json_object_get(cf->features, k));
}

static void test_contacts_move_features(void **state)
{
    casefile_t cf;
    (void)state;
    assert_int_equal(casefile_init(&cf, "acme", "D-1"), 0);
    contact(&cf,
            "{\"channel\":\"phone\",\"at\":\"2026-11-20T10:00:00Z\",\"outcome\":\"no_answer\"}",
            NULL);
    contact(&cf,
            "{\"channel\":\"phone\",\"at\":\"2026-11-21T10:00:00Z\",\"outcome\":\"voicemail\"}",
            NULL);
    assert_int_equal(feat(&cf, "attempts_without_answer"), 2);
    contact(&cf,
            "{\"channel\":\"phone\",\"at\":\"2026-11-22T10:00:00Z\",\"outcome\":\"refused\","
            "\"stage\":\"accepted\",\"objections\":[\"no_time\",\"cannot_pay\"]}",
            NULL);
    assert_int_equal(feat(&cf, "attempts_without_answer"), 0);
    assert_int_equal(feat(&cf, "refusal_count"), 1);
    assert_int_equal(feat(&cf, "right_party_contacts"), 1);
    /* Objections and stage are the policy's conversation rules (test_conversation.c). */
    assert_null(json_object_get(cf.features, "hardship_objections"));
    assert_null(json_object_get(cf.features, "stage"));
    assert_true(json_is_true(json_object_get(cf.features, "ever_contacted")));
    contact(&cf,
            "{\"channel\":\"sms\",\"at\":\"2026-11-22T11:00:00Z\",\"outcome\":\"delivery_failed\","
            "\"stage\":\"recognized\"}",
            NULL);
    assert_int_equal(feat(&cf, "delivery_failures"), 1);
    contact(&cf,
            "{\"channel\":\"phone\",\"at\":\"2026-11-19T10:00:00Z\",\"outcome\":\"wrong_party\"}",
            NULL);
    assert_int_equal(feat(&cf, "wrong_party_contacts"), 1);
    assert_int_equal(feat(&cf, "contact_attempts"), 5);
    /* Four phone attempts, newest first; the last right-party call and the last contact. */
    assert_int_equal(cf.n_call_attempts, 4);
    assert_true(cf.call_attempts[0] == at("2026-11-22T10:00:00Z"));
    assert_true(cf.call_attempts[3] == at("2026-11-19T10:00:00Z"));
    assert_true(cf.last_rpc_at == at("2026-11-22T10:00:00Z"));
    assert_true(cf.last_contact_at == at("2026-11-22T11:00:00Z"));
    assert_true(cf.features_dirty);
    /* The state seen by planning carries them. */
    contact_state_t st;
    casefile_contact_state(&cf, &st);
    assert_int_equal(st.n_call_attempts, 4);
    assert_true(st.last_rpc_at == cf.last_rpc_at);
    casefile_clear(&cf);
}

static casefile_task_t *add_task(casefile_t *cf, const char *id, const char *action,
                                 const char *channel, int64_t nb, int64_t na)
{
    casefile_task_t t;
    memset(&t, 0, sizeof(t));
    snprintf(t.task_id, sizeof(t.task_id), "%s", id);
    snprintf(t.action, sizeof(t.action), "%s", action);
    snprintf(t.channel, sizeof(t.channel), "%s", channel);
    t.not_before = nb;
    t.not_after = na;
    t.status = CASEFILE_TASK_PENDING;
    casefile_task_t *p = casefile_add_task(cf, &t);
    assert_non_null(p);
    return p;
}

static void test_task_loop_closed(void **state)
{
    casefile_t cf;
    caseinteract_task_t r;
    (void)state;
    assert_int_equal(casefile_init(&cf, "acme", "D-2"), 0);
    add_task(&cf, "t-1", "reminder", "sms", 0, at("2026-12-01T00:00:00Z"));
    add_task(&cf, "t-2", "invoice_copy", "email", 0, at("2026-12-01T00:00:00Z"));
    contact(&cf,
            "{\"channel\":\"sms\",\"at\":\"2026-11-25T10:00:00Z\",\"outcome\":\"delivered\","
            "\"task_id\":\"t-1\"}",
            &r);
    assert_int_equal(r, CASEINTERACT_TASK_DONE);
    assert_int_equal(cf.tasks[0].status, CASEFILE_TASK_DONE);
    assert_true(cf.tasks[0].status_dirty);
    contact(
        &cf,
        "{\"channel\":\"email\",\"at\":\"2026-11-25T10:00:00Z\",\"outcome\":\"delivery_failed\","
        "\"task_id\":\"t-2\"}",
        &r);
    assert_int_equal(r, CASEINTERACT_TASK_FAILED);
    assert_string_equal(casefile_task_status_name(cf.tasks[1].status), "failed");
    contact(&cf,
            "{\"channel\":\"sms\",\"at\":\"2026-11-25T10:00:00Z\",\"outcome\":\"delivered\","
            "\"task_id\":\"t-1\"}",
            &r);
    assert_int_equal(r, CASEINTERACT_TASK_NOT_PENDING);
    casefile_clear(&cf);
}

static void test_dispute_withdraws_collection_only(void **state)
{
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;
    int64_t now = at("2026-11-25T10:00:00Z");
    (void)state;
    assert_int_equal(casefile_init(&cf, "acme", "D-3"), 0);
    add_task(&cf, "call", "call", "phone", now, now + 3600);
    add_task(&cf, "doc", "invoice_copy", "email", now, now + 3600);
    assert_int_equal(caseinteract_dispute_opened(&cf, now, &plan), 0);
    assert_int_equal(cf.tasks[0].status, CASEFILE_TASK_CANCELLED);
    assert_string_equal(cf.tasks[0].reason, "disputed");
    assert_int_equal(cf.tasks[1].status, CASEFILE_TASK_PENDING);
    assert_int_equal(plan.n_outputs, 1);
    assert_true(json_is_true(json_object_get(cf.features, "open_dispute")));
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
}

static void add_invoice(casefile_t *cf, const char *id, int64_t open)
{
    casefile_invoice_t inv;
    memset(&inv, 0, sizeof(inv));
    snprintf(inv.id, sizeof(inv.id), "%s", id);
    strcpy(inv.currency, "EUR");
    strcpy(inv.due_on, "2026-10-01");
    inv.amount = inv.open_amount = open;
    assert_non_null(casefile_add_invoice(cf, &inv));
}

static void test_dispute_resolutions(void **state)
{
    casefile_t cf;
    reason_t err;
    const char *named[] = {"INV-2"};
    (void)state;
    assert_int_equal(casefile_init(&cf, "acme", "D-4"), 0);
    add_invoice(&cf, "INV-1", 1000);
    add_invoice(&cf, "INV-2", 2000);
    add_invoice(&cf, "INV-3", 3000);
    /* Rejected: nothing cancelled, the feature follows still_open. */
    assert_int_equal(caseinteract_dispute_resolved(&cf, false, NULL, NULL, 0, true, &err), 0);
    assert_true(json_is_true(json_object_get(cf.features, "open_dispute")));
    assert_int_equal(cf.invoices[0].status, CASEFILE_INVOICE_OPEN);
    /* Upheld, the dispute named INV-2. */
    assert_int_equal(caseinteract_dispute_resolved(&cf, true, NULL, named, 1, false, &err), 0);
    assert_int_equal(cf.invoices[1].status, CASEFILE_INVOICE_CANCELLED);
    assert_int_equal(cf.invoices[0].status, CASEFILE_INVOICE_OPEN);
    assert_false(json_is_true(json_object_get(cf.features, "open_dispute")));
    /* Upheld naming one invoice in the event. */
    assert_int_equal(caseinteract_dispute_resolved(&cf, true, "INV-3", NULL, 0, false, &err), 0);
    assert_int_equal(cf.invoices[2].status, CASEFILE_INVOICE_CANCELLED);
    /* Upheld on the whole debt: every open invoice. */
    assert_int_equal(caseinteract_dispute_resolved(&cf, true, NULL, NULL, 0, false, &err), 0);
    assert_int_equal(cf.invoices[0].status, CASEFILE_INVOICE_CANCELLED);
    assert_string_equal(cf.last_event, "invoice.cancelled");
    casefile_clear(&cf);
}

static void test_preferences_and_forbearance(void **state)
{
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;
    contact_rules_t rules;
    reason_t err;
    int64_t now = at("2026-11-25T10:00:00Z");
    (void)state;
    contact_rules_default(&rules);
    assert_int_equal(casefile_init(&cf, "acme", "D-5"), 0);
    strcpy(cf.timezone, "Europe/Madrid");
    add_task(&cf, "call", "call", "phone", now, now + 3600);
    add_task(&cf, "sms", "reminder", "sms", now, now + 3600);
    add_task(&cf, "letter", "validation_notice", "letter", now, now + 86400);
    add_task(&cf, "later", "reminder", "email", now + 40 * 86400, now + 41 * 86400);
    json_t *d = js("{\"do_not_call\":true,\"timezone\":\"America/Bogota\"}");
    assert_int_equal(caseinteract_preferences(&cf, d, &rules, now, &plan), 0);
    json_decref(d);
    assert_int_equal(cf.tasks[0].status, CASEFILE_TASK_CANCELLED);
    assert_string_equal(cf.tasks[0].reason, "opt_out_call");
    assert_int_equal(cf.tasks[1].status, CASEFILE_TASK_PENDING);
    assert_string_equal(cf.timezone, "America/Bogota");
    assert_string_equal(cf.tz_override, "America/Bogota");
    assert_true(cf.do_not_call && !cf.do_not_sms);
    /* A forbearance this week pauses the SMS, not the validation notice nor the later e-mail. */
    assert_int_equal(
        caseinteract_forbearance(&cf, "2026-11-01", "2026-11-30", &rules, now, &plan, &err), 0);
    assert_int_equal(cf.tasks[1].status, CASEFILE_TASK_CANCELLED);
    assert_string_equal(cf.tasks[1].reason, "forbearance");
    assert_int_equal(cf.tasks[2].status, CASEFILE_TASK_PENDING);
    assert_int_equal(cf.tasks[3].status, CASEFILE_TASK_PENDING);
    assert_int_equal(plan.n_outputs, 2);
    contact_state_t st;
    casefile_contact_state(&cf, &st);
    assert_true(st.do_not_call && st.forbearance_from < now && now < st.forbearance_until);
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
}

static void test_state_from_json(void **state)
{
    casefile_t cf;
    (void)state;
    assert_int_equal(casefile_init(&cf, "acme", "D-6"), 0);
    strcpy(cf.timezone, "Europe/Madrid");
    json_t *d = js("{\"calls\":[100,300,200],\"last_rpc_at\":300,\"last_contact_at\":400,"
                   "\"prefs\":{\"do_not_call\":false,\"do_not_sms\":true,\"do_not_email\":false,"
                   "\"cease_communication\":false,\"timezone\":\"Asia/Kathmandu\"},"
                   "\"forbearance\":{\"from\":\"2026-11-01\",\"until\":\"2026-11-30\"}}");
    assert_int_equal(caseinteract_state_from_json(&cf, d), 0);
    json_decref(d);
    assert_int_equal(cf.n_call_attempts, 3);
    assert_true(cf.call_attempts[0] == 300 && cf.call_attempts[2] == 100);
    assert_true(cf.do_not_sms && !cf.do_not_call);
    assert_string_equal(cf.timezone, "Asia/Kathmandu");
    assert_string_equal(cf.forbearance_until, "2026-11-30");
    assert_int_equal(caseinteract_state_from_json(&cf, NULL), 0);
    json_t *bad = json_string("x");
    assert_int_equal(caseinteract_state_from_json(&cf, bad), -1);
    json_decref(bad);
    casefile_clear(&cf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contacts_move_features),
        cmocka_unit_test(test_task_loop_closed),
        cmocka_unit_test(test_dispute_withdraws_collection_only),
        cmocka_unit_test(test_dispute_resolutions),
        cmocka_unit_test(test_preferences_and_forbearance),
        cmocka_unit_test(test_state_from_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
