/* test_timefmt.c - instants written without printf read as printf wrote them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "calendar.h"
#include "contact.h"

/* printf's text of a wall-clock reading, as the formatters wrote it before. */
static int ref_wall(int64_t wall, char *buf, size_t n)
{
    int64_t day = wall / CAL_SECS_PER_DAY - (wall % CAL_SECS_PER_DAY < 0);
    int64_t sod = wall - day * CAL_SECS_PER_DAY, y;
    int m, d;

    cal_civil_from_days(day, &y, &m, &d);
    return snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d", (int)y, m, d, (int)(sod / 3600),
                    (int)(sod / 60 % 60), (int)(sod % 60));
}

static void wall_and_utc_as_printf(void **state)
{
    /* Years -1..10001, every few hours and odd seconds, and every buffer size around 20. */
    const int64_t from = cal_days_from_civil(-1, 6, 1) * CAL_SECS_PER_DAY;
    const int64_t to = cal_days_from_civil(10001, 6, 1) * CAL_SECS_PER_DAY;

    (void)state;
    for (int64_t t = from; t < to; t += 7 * 86400 * 53 + 3 * 3600 + 61) {
        for (size_t n = 1; n <= 24; n += (n < 18 ? 6 : 1)) {
            char got[32] = "", want[32] = "";
            assert_int_equal(cal_format_wall(t, got, n), ref_wall(t, want, n));
            assert_string_equal(got, want);
            char u_want[40];
            snprintf(u_want, n, "%sZ", want);
            if (n >= 21)
                assert_string_equal(cal_format_utc(t, got, n), u_want);
        }
    }
}

static void local_instants_as_printf(void **state)
{
    static const char *const zones[] = {"Europe/Madrid",   "America/St_Johns",    "Asia/Kolkata",
                                        "Pacific/Chatham", "America/Los_Angeles", "UTC"};
    const int64_t from = cal_days_from_civil(1969, 1, 1) * CAL_SECS_PER_DAY;
    const int64_t to = cal_days_from_civil(2040, 1, 1) * CAL_SECS_PER_DAY;

    (void)state;
    for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
        GTimeZone *tz = cal_zone_get(zones[z]);
        for (int64_t t = from; t < to; t += 86400 * 11 + 3599) {
            int64_t off = cal_offset_at(tz, t) / 60 * 60, aoff = off < 0 ? -off : off;
            char want[40], wall[32], got[40];
            ref_wall(t + off, wall, sizeof(wall));
            snprintf(want, sizeof(want), "%s%c%02d:%02d", wall, off < 0 ? '-' : '+',
                     (int)(aoff / 3600), (int)(aoff / 60 % 60));
            assert_int_equal(contact_format_instant(t, zones[z], got, sizeof(got)), 25);
            assert_string_equal(got, want);
        }
        g_time_zone_unref(tz);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wall_and_utc_as_printf),
        cmocka_unit_test(local_instants_as_printf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
