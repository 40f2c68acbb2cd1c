/* test_calendar.c - the zone cache and the offset memo answer as a fresh GLib look-up does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "calendar.h"

/* Zones with DST both ways, a half-hour DST, a skipped day (Apia, 2011-12-30), a zone that
 * dropped DST (Sao Paulo, 2019) and one without any. */
static const char *const zones[] = {
    "Europe/Madrid",     "America/New_York", "Australia/Lord_Howe", "Pacific/Apia",
    "America/Sao_Paulo", "Asia/Kolkata",     "Australia/Adelaide",  "UTC"};
#define NZONES (sizeof(zones) / sizeof(zones[0]))

/* GLib's offset at t from a zone made for this question alone. */
static int64_t fresh_offset(const char *name, int64_t t)
{
    GTimeZone *tz = g_time_zone_new_identifier(name);
    int64_t off;

    assert_non_null(tz);
    off = g_time_zone_get_offset(tz, g_time_zone_find_interval(tz, G_TIME_TYPE_UNIVERSAL, t));
    g_time_zone_unref(tz);
    return off;
}

/* The first second at which the offset differs from the one at lo (the offset at hi does). */
static int64_t transition(GTimeZone *tz, int64_t lo, int64_t hi)
{
    int64_t before = cal_offset_at(tz, lo);

    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (cal_offset_at(tz, mid) == before)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

/* Every zone, 2009..2031 every 6 h 17 s (twice: the second pass answers from the memo), the
 * seconds around every transition found, against a fresh look-up. */
static void offsets_match_a_fresh_lookup_across_dst(void **state)
{
    const int64_t from = cal_days_from_civil(2009, 1, 1) * CAL_SECS_PER_DAY;
    const int64_t to = cal_days_from_civil(2031, 1, 1) * CAL_SECS_PER_DAY;
    const int64_t step = 6 * 3600 + 17;
    int transitions = 0;

    (void)state;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t z = 0; z < NZONES; z++) {
            GTimeZone *tz = cal_zone_get(zones[z]);
            assert_non_null(tz);
            for (int64_t t = from; t < to; t += step) {
                assert_int_equal(cal_offset_at(tz, t), fresh_offset(zones[z], t));
                if (cal_offset_at(tz, t + step) == cal_offset_at(tz, t))
                    continue;
                int64_t x = transition(tz, t, t + step);
                for (int64_t d = -2; d <= 2; d++)
                    assert_int_equal(cal_offset_at(tz, x + d), fresh_offset(zones[z], x + d));
                transitions++;
            }
            g_time_zone_unref(tz);
        }
    }
    /* About two a year in five of the zones, twice over. */
    assert_true(transitions > 300);
}

/* Interleaved zones at the same instants: the memo keys by zone, not only by day. */
static void zones_do_not_share_entries(void **state)
{
    GTimeZone *tz[NZONES];
    const int64_t t0 = cal_days_from_civil(2026, 3, 28) * CAL_SECS_PER_DAY;

    (void)state;
    for (size_t z = 0; z < NZONES; z++)
        tz[z] = cal_zone_get(zones[z]);
    for (int64_t t = t0; t < t0 + 4 * CAL_SECS_PER_DAY; t += 1800)
        for (size_t z = 0; z < NZONES; z++)
            assert_int_equal(cal_offset_at(tz[z], t), fresh_offset(zones[z], t));
    for (size_t z = 0; z < NZONES; z++)
        g_time_zone_unref(tz[z]);
}

/* A zone the caller made and dropped: the memo's reference keeps its entries valid, and a zone
 * made afterwards (perhaps at the same address) gets its own answers. */
static void a_dropped_zone_cannot_answer_for_another(void **state)
{
    const int64_t t = cal_days_from_civil(2026, 7, 1) * CAL_SECS_PER_DAY;

    (void)state;
    for (int i = 0; i < 50; i++) {
        GTimeZone *a = g_time_zone_new_offset(3600 * (i % 5));
        assert_int_equal(cal_offset_at(a, t), 3600 * (i % 5));
        g_time_zone_unref(a);
    }
}

/* The cache gives the same zone object per name, and NULL for names that are not zones. */
static void the_zone_cache_by_name(void **state)
{
    GTimeZone *a = cal_zone_get("Europe/Madrid"), *b = cal_zone_get("Europe/Madrid");

    (void)state;
    assert_non_null(a);
    assert_ptr_equal(a, b);
    g_time_zone_unref(a);
    g_time_zone_unref(b);
    assert_null(cal_zone_get("Europe/Nowhere"));
    assert_null(cal_zone_get("+01:00"));
    assert_null(cal_zone_get("../etc/passwd"));
}

/* More zones than a thread keeps at hand, asked for in turns: each name gets its own zone. */
static void recent_zones_answer_by_name(void **state)
{
    static const char *const names[] = {"Europe/Madrid",    "Europe/Paris",    "Europe/Berlin",
                                        "Europe/Lisbon",    "Asia/Tokyo",      "Asia/Kuwait",
                                        "America/Chicago",  "America/Denver",  "America/Phoenix",
                                        "Pacific/Honolulu", "Atlantic/Canary", "Europe/Dublin"};
    const size_t n = sizeof(names) / sizeof(names[0]);

    (void)state;
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < n; i++) {
            size_t k = (i * 5 + (size_t)round) % n;
            GTimeZone *tz = cal_zone_get(names[k]);
            assert_non_null(tz);
            assert_string_equal(g_time_zone_get_identifier(tz), names[k]);
            g_time_zone_unref(tz);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(offsets_match_a_fresh_lookup_across_dst),
        cmocka_unit_test(zones_do_not_share_entries),
        cmocka_unit_test(a_dropped_zone_cannot_answer_for_another),
        cmocka_unit_test(the_zone_cache_by_name),
        cmocka_unit_test(recent_zones_answer_by_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
