/* test_nextdue.c - when the scheduler looks at a case again (nextdue.h): local midnight read as
 * PostgreSQL reads it (cal_next_local_midnight(), the values below are PostgreSQL 15's
 * `((t AT TIME ZONE z)::date + 1)::timestamp AT TIME ZONE z`, including midnights that a DST
 * change skips or repeats and a day a zone skipped), and which cases are due at all. The same
 * rule against PostgreSQL over a whole portfolio: tests/integration/test_next_due.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "calendar.h"
#include "casefile.h"
#include "nextdue.h"

static int64_t at(const char *s)
{
    int64_t t = 0;
    assert_int_equal(cal_parse_instant(s, &t, NULL), 0);
    return t;
}

/* zone, instant, PostgreSQL's next local midnight */
static const struct {
    const char *zone, *t, *want;
} pg_midnights[] = {
    {"America/Santiago", "2026-09-05T12:00:00Z", "2026-09-06T04:00:00Z"},
    {"America/Santiago", "2026-09-06T03:59:59Z", "2026-09-06T04:00:00Z"},
    {"America/Santiago", "2026-04-04T12:00:00Z", "2026-04-05T04:00:00Z"},
    {"America/Santiago", "2026-04-05T03:30:00Z", "2026-04-05T04:00:00Z"},
    {"Atlantic/Azores", "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z"},
    {"Atlantic/Azores", "2026-10-24T12:00:00Z", "2026-10-25T01:00:00Z"},
    {"Atlantic/Azores", "2026-10-25T00:30:00Z", "2026-10-26T01:00:00Z"},
    {"America/Havana", "2026-03-07T12:00:00Z", "2026-03-08T05:00:00Z"},
    {"America/Havana", "2026-10-31T12:00:00Z", "2026-11-01T05:00:00Z"},
    {"Africa/Cairo", "2026-04-23T12:00:00Z", "2026-04-23T22:00:00Z"},
    {"Africa/Cairo", "2026-10-29T12:00:00Z", "2026-10-29T22:00:00Z"},
    {"Asia/Beirut", "2026-03-28T12:00:00Z", "2026-03-28T22:00:00Z"},
    {"Asia/Beirut", "2026-10-24T12:00:00Z", "2026-10-24T22:00:00Z"},
    {"America/Asuncion", "2024-10-05T12:00:00Z", "2024-10-06T04:00:00Z"},
    {"America/Asuncion", "2024-03-23T12:00:00Z", "2024-03-24T04:00:00Z"},
    {"Pacific/Apia", "2011-12-29T12:00:00Z", "2011-12-30T10:00:00Z"},
    {"Pacific/Apia", "2011-12-30T10:00:00Z", "2011-12-31T10:00:00Z"},
    {"Australia/Lord_Howe", "2026-10-03T12:00:00Z", "2026-10-03T13:30:00Z"},
    {"Asia/Kathmandu", "2026-11-30T18:14:59Z", "2026-11-30T18:15:00Z"},
    {"Asia/Kathmandu", "2026-11-30T18:15:00Z", "2026-12-01T18:15:00Z"},
    {"Pacific/Chatham", "2026-09-26T12:00:00Z", "2026-09-27T10:15:00Z"},
    {"America/New_York", "2026-03-08T04:59:59Z", "2026-03-08T05:00:00Z"},
    {"America/New_York", "2026-11-01T05:00:00Z", "2026-11-02T05:00:00Z"},
    {"Europe/Madrid", "2026-03-29T12:00:00Z", "2026-03-29T22:00:00Z"},
    {"Europe/Madrid", "2026-11-30T22:59:59Z", "2026-11-30T23:00:00Z"},
    {"Europe/Madrid", "2026-11-30T23:00:00Z", "2026-12-01T23:00:00Z"},
    {"Pacific/Kiritimati", "2026-11-30T09:59:59Z", "2026-11-30T10:00:00Z"},
    {"Pacific/Pago_Pago", "2026-11-30T10:59:59Z", "2026-11-30T11:00:00Z"},
    {"UTC", "2026-11-30T23:59:59Z", "2026-12-01T00:00:00Z"},
    {"Europe/Dublin", "2026-10-24T23:30:00Z", "2026-10-26T00:00:00Z"},
    {"America/St_Johns", "2026-03-08T12:00:00Z", "2026-03-09T02:30:00Z"},
    {"Antarctica/Troll", "2026-03-29T00:30:00Z", "2026-03-29T22:00:00Z"},

};

static void test_next_local_midnight_as_postgresql(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(pg_midnights) / sizeof(pg_midnights[0]); i++) {
        int64_t got = 0;
        char buf[CAL_INSTANT_MAX];
        assert_int_equal(cal_next_local_midnight(pg_midnights[i].zone, at(pg_midnights[i].t), &got),
                         0);
        if (got != at(pg_midnights[i].want))
            fail_msg("%s at %s: %s, PostgreSQL says %s", pg_midnights[i].zone, pg_midnights[i].t,
                     cal_format_utc(got, buf, sizeof(buf)), pg_midnights[i].want);
    }
}

static void test_unknown_zone(void **state)
{
    int64_t got = 42;
    (void)state;
    assert_int_equal(cal_next_local_midnight("Mars/Olympus_Mons", 0, &got), -1);
    assert_int_equal(got, 42);
    assert_int_equal(cal_next_local_midnight("CET-1CEST,M3.5.0", 0, &got), -1);
}

static void segmented(casefile_t *cf, const char *zone, const char *updated)
{
    assert_int_equal(casefile_init(cf, "acme", "D-1"), 0);
    strcpy(cf->debtor_zone, zone);
    strcpy(cf->timezone, zone);
    cf->segmented = true;
    cf->status = CASEFILE_OPEN;
    cf->updated_at = at(updated);
}

static void test_due_next_local_midnight_of_the_debtor_row_zone(void **state)
{
    casefile_t cf;
    int64_t due = 0;

    (void)state;
    segmented(&cf, "America/Santiago", "2026-09-05T12:00:00Z");
    assert_int_equal(nextdue_of(&cf, &due), 1);
    assert_int_equal(due, at("2026-09-06T04:00:00Z"));
    /* A contact.preferences zone moves the planning's clock, not the debtor row (nor the day
     * the scheduler has always followed). */
    strcpy(cf.timezone, "Asia/Tokyo");
    assert_int_equal(nextdue_of(&cf, &due), 1);
    assert_int_equal(due, at("2026-09-06T04:00:00Z"));
    cf.status = CASEFILE_PAUSED; /* paused cases are still looked at every day */
    assert_int_equal(nextdue_of(&cf, &due), 1);
    casefile_clear(&cf);
}

static void test_never_due(void **state)
{
    casefile_t cf;
    int64_t due = 7;

    (void)state;
    segmented(&cf, "Europe/Madrid", "2026-11-30T10:00:00Z");
    cf.status = CASEFILE_RESOLVED;
    assert_int_equal(nextdue_of(&cf, &due), 0);
    cf.status = CASEFILE_OPEN;
    cf.segmented = false; /* not complete yet */
    assert_int_equal(nextdue_of(&cf, &due), 0);
    cf.segmented = true;
    cf.debtor_zone[0] = '\0'; /* no debtor row yet */
    assert_int_equal(nextdue_of(&cf, &due), 0);
    assert_int_equal(due, 7);
    strcpy(cf.debtor_zone, "Not/A_Zone");
    assert_int_equal(nextdue_of(&cf, &due), -1);
    casefile_clear(&cf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_local_midnight_as_postgresql),
        cmocka_unit_test(test_unknown_zone),
        cmocka_unit_test(test_due_next_local_midnight_of_the_debtor_row_zone),
        cmocka_unit_test(test_never_due),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
