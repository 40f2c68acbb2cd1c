/* test_stats.c - the report's statistics against values computed by hand and by R
 * (Wilson intervals; the pooled z of prop.test(correct = FALSE), whose X-squared is z^2). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "stats.h"

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-4)

static void wilson_known_values(void **state)
{
    (void)state;
    stats_interval_t ci = stats_wilson(50, 100); /* 0.4038 .. 0.5962 */
    NEAR(ci.lo, 0.4038);
    NEAR(ci.hi, 0.5962);
    ci = stats_wilson(0, 10); /* 0 .. 0.2775: never below zero */
    NEAR(ci.lo, 0.0);
    NEAR(ci.hi, 0.2775);
    ci = stats_wilson(10, 10);
    NEAR(ci.hi, 1.0);
    NEAR(ci.lo, 0.7225);
    ci = stats_wilson(0, 0); /* nothing known */
    NEAR(ci.lo, 0.0);
    NEAR(ci.hi, 1.0);
}

static void compare_known_values(void **state)
{
    stats_compare_t c;
    (void)state;
    /* 60/200 against 45/200: diff -0.075, pooled p 0.2625, z -1.7046, p 0.0883. */
    assert_int_equal(stats_compare(60, 200, 45, 200, 30, &c), 0);
    NEAR(c.diff, -0.075);
    NEAR(c.z, -1.7046);
    NEAR(c.p_value, 0.0883);
    /* Wald: se = sqrt(.3*.7/200 + .225*.775/200) = 0.04384 -> +-0.08592. */
    NEAR(c.ci.lo, -0.075 - 0.08592);
    NEAR(c.ci.hi, -0.075 + 0.08592);
    assert_true(c.enough);
}

static void compare_small_and_empty(void **state)
{
    stats_compare_t c;
    (void)state;
    assert_int_equal(stats_compare(3, 10, 8, 40, 30, &c), 0);
    assert_false(c.enough); /* 10 < 30 */
    NEAR(c.diff, -0.1);
    assert_int_equal(stats_compare(0, 0, 1, 5, 1, &c), -1);
    NEAR(c.p_value, 1.0);
    /* Both shares 0: no variance, no test. */
    assert_int_equal(stats_compare(0, 50, 0, 50, 30, &c), 0);
    NEAR(c.z, 0.0);
    NEAR(c.p_value, 1.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wilson_known_values),
        cmocka_unit_test(compare_known_values),
        cmocka_unit_test(compare_small_and_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
