/* test_backoff.c - capped exponential backoff with jitter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "backoff.h"

static void grows_and_caps(void **state)
{
    backoff_t b;
    int expected_base[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000};

    (void)state;
    backoff_init(&b, 100, 5000, 42);
    for (size_t i = 0; i < sizeof(expected_base) / sizeof(expected_base[0]); i++) {
        int d = backoff_next_ms(&b);
        assert_in_range(d, expected_base[i] / 2, expected_base[i]);
    }
}

static void reset_starts_over(void **state)
{
    backoff_t b;

    (void)state;
    backoff_init(&b, 50, 1000, 7);
    for (int i = 0; i < 10; i++)
        (void)backoff_next_ms(&b);
    backoff_reset(&b);
    assert_in_range(backoff_next_ms(&b), 25, 50);
}

static void never_exceeds_max_even_after_many_failures(void **state)
{
    backoff_t b;

    (void)state;
    backoff_init(&b, 1, 30000, 1);
    for (int i = 0; i < 10000; i++)
        assert_in_range(backoff_next_ms(&b), 0, 30000);
    assert_in_range(backoff_next_ms(&b), 15000, 30000);
}

static void bad_parameters_are_clamped(void **state)
{
    backoff_t b;

    (void)state;
    backoff_init(&b, 0, -5, 0);
    assert_int_equal(b.initial_ms, 1);
    assert_int_equal(b.max_ms, 1);
    assert_in_range(backoff_next_ms(&b), 0, 1);
}

static void jitter_differs_between_seeds(void **state)
{
    backoff_t a, b;
    int same = 0;

    (void)state;
    backoff_init(&a, 1000, 1000, 1);
    backoff_init(&b, 1000, 1000, 2);
    for (int i = 0; i < 20; i++)
        same += backoff_next_ms(&a) == backoff_next_ms(&b);
    assert_true(same < 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(grows_and_caps),
        cmocka_unit_test(reset_starts_over),
        cmocka_unit_test(never_exceeds_max_even_after_many_failures),
        cmocka_unit_test(bad_parameters_are_clamped),
        cmocka_unit_test(jitter_differs_between_seeds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
