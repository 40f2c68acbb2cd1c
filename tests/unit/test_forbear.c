/* test_forbear.c - every forbearance held, the one in force planned under, early ends
 * (forbear.h), including issue 13's bug: a later, already-ended, back-dated forbearance used to
 * replace the one in force for the rest of that event's planning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "calendar.h"
#include "caseinteract.h"
#include "casefile.h"
#include "contact.h"
#include "forbear.h"

static int64_t at(const char *s)
{
    int64_t t = 0;
    assert_int_equal(cal_parse_instant(s, &t, NULL), 0);
    return t;
}

static void init(casefile_t *cf)
{
    assert_int_equal(casefile_init(cf, "acme", "D-1"), 0);
    strcpy(cf->timezone, "Europe/Madrid");
}

static void test_back_dated_ended_forbearance_does_not_replace_the_one_in_force(void **state)
{
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;
    contact_rules_t rules;
    reason_t why;
    contact_state_t cs;

    (void)state;
    init(&cf);
    contact_rules_default(&rules);
    int64_t now = at("2026-11-10T10:00:00Z");
    assert_int_equal(
        caseinteract_forbearance(&cf, "2026-11-01", "2026-11-30", &rules, now, &plan, &why), 0);
    assert_int_equal(
        caseinteract_forbearance(&cf, "2026-10-01", "2026-10-05", &rules, now, &plan, &why), 0);
    assert_string_equal(cf.forbearance_from, "2026-11-01");
    assert_string_equal(cf.forbearance_until, "2026-11-30");
    casefile_contact_state(&cf, &cs);
    assert_true(cs.forbearance_from <= now && now < cs.forbearance_until);
    /* A future one waits for its turn, and is obeyed once it starts. */
    assert_int_equal(
        caseinteract_forbearance(&cf, "2026-12-10", "2026-12-20", &rules, now, &plan, &why), 0);
    assert_string_equal(cf.forbearance_from, "2026-11-01");
    forbear_pick(&cf, at("2026-12-01T10:00:00Z"));
    assert_string_equal(cf.forbearance_from, "2026-12-10");
    forbear_pick(&cf, at("2026-12-12T10:00:00Z"));
    assert_string_equal(cf.forbearance_until, "2026-12-20");
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
}

static void test_early_end(void **state)
{
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;
    contact_rules_t rules;
    reason_t why;
    char from[11], until[11];

    (void)state;
    init(&cf);
    contact_rules_default(&rules);
    int64_t now = at("2026-11-10T10:00:00Z");
    assert_int_equal(
        caseinteract_forbearance(&cf, "2026-11-01", "2026-11-30", &rules, now, &plan, &why), 0);
    assert_int_equal(forbear_end(&cf, "2026-11-15", now, from, until), 0);
    assert_string_equal(from, "2026-11-01");
    assert_string_equal(until, "2026-11-30");
    assert_string_equal(cf.forbearance_until, "2026-11-14");
    contact_state_t cs;
    casefile_contact_state(&cf, &cs);
    assert_int_equal(cs.forbearance_until, at("2026-11-14T23:00:00Z")); /* 15 Nov 00:00 local */
    /* Ended again, now on or before its first day: cancelled whole. */
    assert_int_equal(forbear_end(&cf, "2026-11-01", now, from, until), 0);
    assert_string_equal(until, "2026-11-14");
    assert_string_equal(cf.forbearance_from, "");
    /* Nothing in force or ahead: no effect. */
    assert_int_equal(forbear_end(&cf, "2026-11-12", now, from, until), 1);
    assert_string_equal(from, "");
    assert_int_equal(forbear_end(&cf, "12/11/2026", now, from, until), -1);
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
}

static void test_loaded_periods(void **state)
{
    casefile_t cf;
    json_error_t jerr;

    (void)state;
    init(&cf);
    json_t *arr = json_loads("[{\"from\": \"2026-10-01\", \"until\": \"2026-10-05\"},"
                             " {\"from\": \"2026-11-01\", \"until\": \"2026-11-30\"}]",
                             0, &jerr);
    assert_int_equal(forbear_load(&cf, arr), 0);
    json_decref(arr);
    forbear_pick(&cf, at("2026-11-10T10:00:00Z"));
    assert_string_equal(cf.forbearance_from, "2026-11-01");
    forbear_pick(&cf, at("2026-10-03T10:00:00Z"));
    assert_string_equal(cf.forbearance_from, "2026-10-01");
    forbear_pick(&cf, at("2026-12-03T10:00:00Z")); /* all over: the one that ended last */
    assert_string_equal(cf.forbearance_until, "2026-11-30");
    casefile_clear(&cf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_back_dated_ended_forbearance_does_not_replace_the_one_in_force),
        cmocka_unit_test(test_early_end),
        cmocka_unit_test(test_loaded_periods),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
