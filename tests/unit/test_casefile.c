/* test_casefile.c - unit tests for casefile.c: stable ids, local days across DST, rejections
 * that leave the case untouched, invoice ordering. Whole scenarios are vectors
 * (tests/vectors/overdue/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "casefile.h"
#include "cloudevent.h"
#include "clock.h"
#include "calendar.h"

static void test_uuid5_is_rfc4122(void **state)
{
    char id[CASEFILE_UUID_MAX];

    (void)state;
    /* Python: uuid.uuid5(UUID('6c3f0e6a-8d2b-4b1e-9f57-72c6a1d0be10'),
     *                    'task\x1facme\x1fD-1001\x1f1\x1funaware\x1f1') */
    casefile_uuid5("task\x1f"
                   "acme\x1f"
                   "D-1001\x1f"
                   "1\x1funaware\x1f"
                   "1",
                   id);
    assert_string_equal(id, "b4df98d1-8647-5a07-8534-5fe1cc9bb4c6");
}

static int64_t at(const char *s)
{
    int64_t t = 0;
    assert_int_equal(cal_parse_instant(s, &t, NULL), 0);
    return t;
}

static void test_local_days(void **state)
{
    int32_t days;

    (void)state;
    /* 23:30 in Los Angeles on 31 Oct to 00:30 on 1 Nov (the fall-back night): one day. */
    assert_int_equal(cal_local_days_between("America/Los_Angeles", at("2026-11-01T06:30:00Z"),
                                            at("2026-11-01T08:30:00Z"), &days),
                     0);
    assert_int_equal(days, 1);
    /* Same UTC instants, UTC zone: the same day. */
    assert_int_equal(cal_local_days_between("UTC", at("2026-11-01T06:30:00Z"),
                                            at("2026-11-01T08:30:00Z"), &days),
                     0);
    assert_int_equal(days, 0);
    /* Auckland is already tomorrow. */
    assert_int_equal(cal_local_days_between("Pacific/Auckland", at("2026-11-25T10:00:00Z"),
                                            at("2026-11-25T11:00:00Z"), &days),
                     0);
    assert_int_equal(days, 1);
    assert_int_equal(cal_local_days_between("Mars/Olympus", 0, 0, &days), -1);
}

static int apply_json(casefile_t *cf, const char *json, reason_t *err)
{
    ce_event_t ev = CE_EVENT_INIT;
    assert_int_equal(ce_parse(json, strlen(json), &ev, err), 0);
    int rc = casefile_apply_event(cf, ev.type, ev.data, err);
    ce_event_clear(&ev);
    return rc;
}

#define OVERDUE(inv, cur, amount, due)                                                             \
    "{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"s\",\"type\":\"invoice.overdue\","         \
    "\"data\":{\"creditor_id\":\"acme\",\"debtor_id\":\"D1\",\"creditor_name\":\"ACME\","          \
    "\"debtor\":{\"id\":\"D1\",\"name\":\"N\",\"timezone\":\"Europe/Madrid\"},"                    \
    "\"invoice\":{\"id\":\"" inv "\",\"currency\":\"" cur "\",\"amount\":\"" amount "\","          \
    "\"open_amount\":\"" amount "\",\"due_on\":\"" due "\"}}}"

static void test_currency_mismatch_leaves_case_untouched(void **state)
{
    casefile_t cf;
    reason_t err;

    (void)state;
    assert_int_equal(casefile_init(&cf, "acme", "D1"), 0);
    assert_int_equal(apply_json(&cf, OVERDUE("I1", "EUR", "10.00", "2026-11-01"), &err), 0);
    assert_int_equal(apply_json(&cf, OVERDUE("I2", "USD", "10.00", "2026-11-01"), &err), -1);
    assert_string_equal(err.code, "currency_mismatch");
    assert_int_equal(cf.n_invoices, 1);
    assert_string_equal(cf.currency, "EUR");
    assert_string_equal(cf.last_event, "invoice.overdue");
    casefile_clear(&cf);
    casefile_clear(NULL);
}

static void test_invoices_oldest_first_open_only(void **state)
{
    casefile_t cf;
    reason_t err;

    (void)state;
    assert_int_equal(casefile_init(&cf, "acme", "D1"), 0);
    assert_int_equal(apply_json(&cf, OVERDUE("late", "EUR", "5.00", "2026-11-20"), &err), 0);
    assert_int_equal(apply_json(&cf, OVERDUE("early", "EUR", "7.50", "2026-10-02"), &err), 0);
    assert_int_equal(apply_json(&cf, OVERDUE("paid", "EUR", "0", "2026-09-02"), &err), 0);
    json_t *arr = casefile_invoices_new(&cf);
    assert_non_null(arr);
    assert_int_equal(json_array_size(arr), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "id")), "early");
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "open_amount")),
                        "7.50");
    assert_null(json_object_get(json_array_get(arr, 0), "number"));
    json_decref(arr);
    casefile_clear(&cf);
}

/* The parties are marked for saving only when the event changes one of their fields. */
static void test_parties_saved_only_when_changed(void **state)
{
    casefile_t cf;
    reason_t err;

    (void)state;
    assert_int_equal(casefile_init(&cf, "acme", "D1"), 0);
    assert_int_equal(apply_json(&cf, OVERDUE("I1", "EUR", "10.00", "2026-11-01"), &err), 0);
    assert_true(cf.parties_dirty); /* a new case: its parties are new */
    cf.parties_dirty = false;      /* as after the save */
    assert_int_equal(apply_json(&cf, OVERDUE("I2", "EUR", "10.00", "2026-11-01"), &err), 0);
    assert_false(cf.parties_dirty); /* the same parties again: nothing to write */
    assert_int_equal(
        apply_json(&cf,
                   "{\"specversion\":\"1.0\",\"id\":\"y\",\"source\":\"s\","
                   "\"type\":\"invoice.overdue\",\"data\":{\"creditor_id\":\"acme\","
                   "\"debtor_id\":\"D1\",\"creditor_name\":\"ACME\",\"debtor\":{\"id\":\"D1\","
                   "\"name\":\"N\",\"timezone\":\"Europe/Lisbon\"},\"invoice\":{\"id\":\"I3\","
                   "\"currency\":\"EUR\",\"amount\":\"1.00\",\"open_amount\":\"1.00\","
                   "\"due_on\":\"2026-11-01\"}}}",
                   &err),
        0);
    assert_true(cf.parties_dirty); /* the debtor moved: written */
    assert_string_equal(cf.timezone, "Europe/Lisbon");
    casefile_clear(&cf);
}

/* A debtor has one zone: the one they gave (contact.preferences) wins over the accounting
 * system's, so an overdue naming another zone neither moves the case's clock nor marks the
 * debtor row, and a debtor row holding another zone than the debtor's is written on the save. */
static void test_the_debtors_own_zone_wins(void **state)
{
    casefile_t cf;
    reason_t err;

    (void)state;
    assert_int_equal(casefile_init(&cf, "acme", "D1"), 0);
    assert_int_equal(apply_json(&cf, OVERDUE("I1", "EUR", "10.00", "2026-11-01"), &err), 0);
    assert_true(casefile_parties_due(&cf)); /* a new debtor: written */
    cf.parties_dirty = false;               /* as after the save */
    strcpy(cf.debtor_zone, cf.timezone);
    assert_false(casefile_parties_due(&cf));

    /* The debtor says they live in Tokyo (as the loader or caseinteract set it). */
    strcpy(cf.tz_override, "Asia/Tokyo");
    strcpy(cf.timezone, "Asia/Tokyo");
    assert_true(casefile_parties_due(&cf)); /* the row still says Madrid */
    strcpy(cf.debtor_zone, "Asia/Tokyo");   /* as after that save */
    assert_false(casefile_parties_due(&cf));

    /* Accounting re-sends Madrid: the debtor's own zone stays, nothing to write. */
    assert_int_equal(apply_json(&cf, OVERDUE("I2", "EUR", "10.00", "2026-11-01"), &err), 0);
    assert_string_equal(cf.timezone, "Asia/Tokyo");
    assert_false(cf.parties_dirty);
    assert_false(casefile_parties_due(&cf));

    /* Parties not complete (no creditor name known yet): nothing is written. */
    cf.creditor_name[0] = '\0';
    strcpy(cf.debtor_zone, "Europe/Madrid");
    assert_false(casefile_parties_due(&cf));
    casefile_clear(&cf);
}

static void test_status_names_round_trip(void **state)
{
    casefile_task_status_t t;
    casefile_status_t s;

    (void)state;
    assert_int_equal(casefile_task_status_from_name("suppressed", &t), 0);
    assert_string_equal(casefile_task_status_name(t), "suppressed");
    assert_int_equal(casefile_status_from_name("paused", &s), 0);
    assert_string_equal(casefile_status_name(s), "paused");
    assert_int_equal(casefile_status_from_name("closed", &s), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uuid5_is_rfc4122),
        cmocka_unit_test(test_local_days),
        cmocka_unit_test(test_currency_mismatch_leaves_case_untouched),
        cmocka_unit_test(test_invoices_oldest_first_open_only),
        cmocka_unit_test(test_parties_saved_only_when_changed),
        cmocka_unit_test(test_the_debtors_own_zone_wins),
        cmocka_unit_test(test_status_names_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
