/* test_sweep.c - the pure part of the scheduler's sweep: its one-line JSON summary (what
 * `recobroctl scheduler tick` prints). The sweep itself runs against the real stack in
 * tests/integration/test_scheduler.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "sweep.h"

static void summary_has_every_count(void **state)
{
    sweep_stats_t st = SWEEP_STATS_INIT;
    (void)state;
    st.cases = 200;
    st.tasks_created = 201;
    st.segment_changes = 3;
    st.case_events = 4;
    st.promises_settled = 1;
    char *text = sweep_stats_json(&st, 1795867200); /* 2026-11-28T12:00:00Z */
    assert_non_null(text);
    assert_null(strchr(text, '\n'));
    json_error_t jerr;
    json_t *o = json_loads(text, 0, &jerr);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "now")), "2026-11-28T12:00:00Z");
    assert_int_equal(json_integer_value(json_object_get(o, "cases")), 200);
    assert_int_equal(json_integer_value(json_object_get(o, "failed")), 0);
    assert_int_equal(json_integer_value(json_object_get(o, "tasks_created")), 201);
    assert_int_equal(json_integer_value(json_object_get(o, "tasks_cancelled")), 0);
    assert_int_equal(json_integer_value(json_object_get(o, "segment_changes")), 3);
    assert_int_equal(json_integer_value(json_object_get(o, "case_events")), 4);
    assert_int_equal(json_integer_value(json_object_get(o, "promises_settled")), 1);
    assert_int_equal(json_integer_value(json_object_get(o, "cache_failed")), 0);
    assert_int_equal(json_object_size(o), 9);
    json_decref(o);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(summary_has_every_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
