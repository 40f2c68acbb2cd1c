/* test_casecharge.c - unit tests for casecharge.c's daily accrual around forbearances: the days
 * a forbearance pauses are the periods the case keeps (forbear.h), each as shortened by its
 * early end, whether the case was just loaded or carried in memory after planning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "calendar.h"
#include "casecharge.h"
#include "casefixture.h"

static int64_t day(const char *date)
{
    int y, m, d;
    assert_int_equal(cal_parse_date(date, &y, &m, &d), 0);
    return cal_days_from_civil(y, m, d);
}

/* 10,000.00 EUR past due since October, 3.65% a year: 1.00 EUR of interest a day, accrued
 * through 2026-11-14; the clock is 2026-11-20 12:00 UTC (Madrid: the 20th), so the pass accrues
 * the 15th to the 19th. */
static void fixture(casefile_t *cf, charges_rules_t *rules)
{
    init_case(cf);
    add_invoice(cf, "I1", 1000000, "2026-10-01");
    memset(rules, 0, sizeof(*rules));
    assert_int_equal(charges_parse_pct("3.65", &rules->rate_e4), 0);
    cf->charges.accrued_through = day("2026-11-14");
}

/* The case's list of periods: [from, until] alone. */
static int forbear_test_set(casefile_t *cf, const char *from, const char *until)
{
    json_decref(cf->forbearances);
    cf->forbearances = json_pack("[{s:s, s:s}]", "from", from, "until", until);
    return cf->forbearances != NULL ? 0 : -1;
}

static const int64_t NOW = 1795176000; /* 2026-11-20T12:00:00Z */

/* As the loader gives it: the period granted 1-30 November and ended early on the 17th is in
 * the list as 1-16, and forbearance_from/until hold it as granted (planning re-picks later). The
 * 17th to the 19th accrue. */
static void test_a_loaded_case_accrues_after_an_early_end(void **state)
{
    casefile_t cf;
    charges_rules_t rules;

    (void)state;
    fixture(&cf, &rules);
    assert_int_equal(forbear_test_set(&cf, "2026-11-01", "2026-11-16"), 0);
    strcpy(cf.forbearance_from, "2026-11-01");
    strcpy(cf.forbearance_until, "2026-11-30");
    assert_int_equal(casecharge_accrue(&cf, &rules, NOW), 0);
    assert_int_equal(cf.charges.interest, 300); /* the 17th, 18th and 19th */
    assert_int_equal(cf.charges.accrued_through, day("2026-11-19"));
    casefile_clear(&cf);
}

/* Without the list (a case stored before every period was kept) its one period pauses. */
static void test_without_the_list_the_one_period_pauses(void **state)
{
    casefile_t cf;
    charges_rules_t rules;

    (void)state;
    fixture(&cf, &rules);
    strcpy(cf.forbearance_from, "2026-11-16");
    strcpy(cf.forbearance_until, "2026-11-18");
    assert_int_equal(casecharge_accrue(&cf, &rules, NOW), 0);
    assert_int_equal(cf.charges.interest, 200); /* the 15th and the 19th */
    casefile_clear(&cf);
}

/* Two periods between two passes both pause, whichever one planning picked. */
static void test_every_period_in_the_list_pauses(void **state)
{
    casefile_t cf;
    charges_rules_t rules;

    (void)state;
    fixture(&cf, &rules);
    assert_int_equal(forbear_test_set(&cf, "2026-11-15", "2026-11-15"), 0);
    json_array_append_new(cf.forbearances,
                          json_pack("{s:s, s:s}", "from", "2026-11-18", "until", "2026-11-18"));
    strcpy(cf.forbearance_from, "2026-11-18");
    strcpy(cf.forbearance_until, "2026-11-18");
    assert_int_equal(casecharge_accrue(&cf, &rules, NOW), 0);
    assert_int_equal(cf.charges.interest, 300); /* the 16th, 17th and 19th */
    casefile_clear(&cf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_loaded_case_accrues_after_an_early_end),
        cmocka_unit_test(test_without_the_list_the_one_period_pauses),
        cmocka_unit_test(test_every_period_in_the_list_pauses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
