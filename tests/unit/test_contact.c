/* test_contact.c - unit tests for contact.c: the policy section parser, zones, instants, and the
 * contact decision's edge cases (DST invariants checked against GLib's GDateTime). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <glib.h>
#include <jansson.h>

#include "contact.h"
#include "calendar.h"

/* An RFC 3339 instant with an offset, as Unix seconds. */
static int64_t at(const char *s)
{
    GDateTime *dt = g_date_time_new_from_iso8601(s, NULL);
    int64_t t;

    assert_non_null(dt);
    t = g_date_time_to_unix(dt);
    g_date_time_unref(dt);
    return t;
}

static void assert_instant(int64_t t, const char *zone, const char *want)
{
    char buf[CONTACT_INSTANT_MAX];

    assert_true(contact_format_instant(t, zone, buf, sizeof(buf)) > 0);
    assert_string_equal(buf, want);
}

/* Parses JSON text as a contact section. */
static int parse(const char *text, contact_rules_t *r, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *obj = json_loads(text, JSON_DECODE_ANY, &jerr);
    int rc;

    assert_non_null(obj);
    rc = contact_rules_from_json(obj, r, err, errlen);
    json_decref(obj);
    return rc;
}

static void expect_error(const char *text, const char *want)
{
    contact_rules_t r;
    char err[CONTACT_ERR_MAX];

    contact_rules_default(&r);
    r.call_cap_max = 99; /* a marker: *out must stay untouched on error */
    if (parse(text, &r, err, sizeof(err)) == 0)
        fail_msg("accepted: %s", text);
    assert_string_equal(err, want);
    assert_int_equal(r.call_cap_max, 99);
}

/* ---- the parser ---------------------------------------------------------------------------- */

static void test_defaults(void **state)
{
    contact_rules_t r, p;
    char err[CONTACT_ERR_MAX];

    (void)state;
    contact_rules_default(&r);
    for (int i = 0; i < 7; i++) {
        assert_true(r.weekday[i].open);
        assert_int_equal(r.weekday[i].start_min, 8 * 60);
        assert_int_equal(r.weekday[i].end_min, 21 * 60);
    }
    assert_int_equal(r.n_no_contact, 0);
    assert_int_equal(r.call_cap_max, 7);
    assert_int_equal(r.call_cap_days, 7);
    assert_int_equal(r.quiet_days_after_rpc, 7);
    assert_int_equal(r.defer_horizon_days, 30);
    assert_true(r.cease_exempt & contact_action_bit(VOCAB_ACTION_VALIDATION_NOTICE));
    assert_true(r.cease_exempt & contact_action_bit(VOCAB_ACTION_INVOICE_COPY));
    assert_true(r.cease_exempt & contact_action_bit(VOCAB_ACTION_FINAL_NOTICE));
    assert_false(r.cease_exempt & contact_action_bit(VOCAB_ACTION_CALL));
    assert_true(r.dispute_exempt & contact_action_bit(VOCAB_ACTION_INVOICE_COPY));
    assert_false(r.dispute_exempt & contact_action_bit(VOCAB_ACTION_FINAL_NOTICE));
    assert_false(r.dispute_exempt & contact_action_bit(VOCAB_ACTION_LEGAL_REVIEW));

    /* An absent section and an empty one are the defaults. */
    assert_int_equal(contact_rules_from_json(NULL, &p, err, sizeof(err)), 0);
    assert_memory_equal(&p, &r, sizeof(r));
    assert_int_equal(parse("{}", &p, err, sizeof(err)), 0);
    assert_memory_equal(&p, &r, sizeof(r));
}

static void test_parse_full(void **state)
{
    contact_rules_t r;
    char err[CONTACT_ERR_MAX] = "untouched";

    (void)state;
    assert_int_equal(
        parse("{\"weekdays\": {\"sat\": [\"09:00\", \"14:00\"], \"sun\": null, \"fri\": {\"end\": "
              "\"24:00\"}},"
              " \"window\": {\"start\": \"09:30\", \"end\": \"20:00\"},"
              " \"no_contact_dates\": [\"2026-12-25\", \"2028-02-29\"],"
              " \"no_contact_dates_by_country\": {\"ES\": [\"2026-10-12\"], \"US\": []},"
              " \"call_cap\": {\"max_calls\": 3, \"days\": 5},"
              " \"quiet_days_after_rpc\": 0, \"defer_horizon_days\": 366,"
              " \"cease_exempt_actions\": [],"
              " \"dispute_exempt_actions\": [\"invoice_copy\"],"
              " \"forbearance_exempt_actions\": [\"thank_you\", \"thank_you\"]}",
              &r, err, sizeof(err)),
        0);
    assert_string_equal(err, "");
    /* mon..thu take the general window, whatever the key order in the document */
    for (int i = 0; i < 4; i++) {
        assert_true(r.weekday[i].open);
        assert_int_equal(r.weekday[i].start_min, 9 * 60 + 30);
        assert_int_equal(r.weekday[i].end_min, 20 * 60);
    }
    assert_int_equal(r.weekday[4].start_min, 9 * 60 + 30); /* fri inherits the start */
    assert_int_equal(r.weekday[4].end_min, 1440);
    assert_int_equal(r.weekday[5].start_min, 9 * 60);
    assert_int_equal(r.weekday[5].end_min, 14 * 60);
    assert_false(r.weekday[6].open);
    assert_int_equal(r.n_no_contact, 3);
    assert_int_equal(r.no_contact[0].ymd, 20261225);
    assert_string_equal(r.no_contact[0].country, "");
    assert_int_equal(r.no_contact[1].ymd, 20280229);
    assert_int_equal(r.no_contact[2].ymd, 20261012);
    assert_string_equal(r.no_contact[2].country, "ES");
    assert_int_equal(r.call_cap_max, 3);
    assert_int_equal(r.call_cap_days, 5);
    assert_int_equal(r.quiet_days_after_rpc, 0);
    assert_int_equal(r.defer_horizon_days, 366);
    assert_int_equal(r.cease_exempt, 0);
    assert_int_equal(r.dispute_exempt, contact_action_bit(VOCAB_ACTION_INVOICE_COPY));
    assert_int_equal(r.forbearance_exempt, contact_action_bit(VOCAB_ACTION_THANK_YOU));
}

static void test_parse_errors(void **state)
{
    (void)state;
    expect_error("[]", "contact: must be an object");
    expect_error("{\"window\": {\"start\": \"25:00\"}}",
                 "contact.window.start: \"25:00\" is not a time HH:MM");
    expect_error("{\"window\": {\"start\": \"24:00\"}}",
                 "contact.window.start: \"24:00\" is not a time HH:MM");
    expect_error("{\"window\": {\"start\": \"8:00\"}}",
                 "contact.window.start: \"8:00\" is not a time HH:MM");
    expect_error("{\"window\": {\"end\": \"21:60\"}}",
                 "contact.window.end: \"21:60\" is not a time HH:MM");
    expect_error("{\"window\": {\"start\": 8}}",
                 "contact.window.start: must be a string \"HH:MM\"");
    expect_error("{\"window\": {\"start\": \"21:00\", \"end\": \"08:00\"}}",
                 "contact.window: end \"08:00\" is not after start \"21:00\"");
    expect_error("{\"window\": {\"begin\": \"08:00\"}}", "contact.window.begin: unknown key");
    expect_error("{\"window\": [\"08:00\"]}",
                 "contact.window: must be {\"start\": \"HH:MM\", \"end\": \"HH:MM\"} or "
                 "[\"HH:MM\", \"HH:MM\"]");
    expect_error("{\"weekdays\": {\"sat\": [\"09:00\", \"9pm\"]}}",
                 "contact.weekdays.sat[1]: \"9pm\" is not a time HH:MM");
    expect_error("{\"weekdays\": {\"sat\": false}}",
                 "contact.weekdays.sat: must be {\"start\": \"HH:MM\", \"end\": \"HH:MM\"} or "
                 "[\"HH:MM\", \"HH:MM\"]");
    expect_error("{\"weekdays\": {\"sat\": {\"end\": \"07:00\"}}}",
                 "contact.weekdays.sat: end \"07:00\" is not after start \"08:00\"");
    expect_error("{\"weekdays\": {\"funday\": null}}",
                 "contact.weekdays.funday: unknown weekday (mon, tue, wed, thu, fri, sat, sun)");
    expect_error("{\"weekdays\": [\"sun\"]}", "contact.weekdays: must be an object of mon..sun");
    expect_error("{\"no_contact_dates\": \"2026-12-25\"}",
                 "contact.no_contact_dates: must be an array of \"YYYY-MM-DD\"");
    expect_error("{\"no_contact_dates\": [\"2026-12-25\", \"2026-02-29\"]}",
                 "contact.no_contact_dates[1]: \"2026-02-29\" is not a date YYYY-MM-DD");
    expect_error("{\"no_contact_dates\": [\"2026-12-25T00:00:00Z\"]}",
                 "contact.no_contact_dates[0]: \"2026-12-25T00:00:00Z\" is not a date YYYY-MM-DD");
    expect_error("{\"no_contact_dates\": [20261225]}",
                 "contact.no_contact_dates[0]: must be a string \"YYYY-MM-DD\"");
    expect_error("{\"no_contact_dates_by_country\": {\"es\": [\"2026-10-12\"]}}",
                 "contact.no_contact_dates_by_country.es: not an ISO 3166-1 alpha-2 code (two "
                 "capitals)");
    expect_error("{\"no_contact_dates_by_country\": {\"ES\": [\"2026-13-01\"]}}",
                 "contact.no_contact_dates_by_country.ES[0]: \"2026-13-01\" is not a date "
                 "YYYY-MM-DD");
    expect_error("{\"no_contact_dates_by_country\": [\"ES\"]}",
                 "contact.no_contact_dates_by_country: must be an object of country codes");
    expect_error("{\"call_cap\": {\"max_calls\": 0}}",
                 "contact.call_cap.max_calls: must be an integer from 1 to 1000");
    expect_error("{\"call_cap\": {\"days\": 7.0}}",
                 "contact.call_cap.days: must be an integer from 1 to 366");
    expect_error("{\"call_cap\": {\"calls\": 7}}", "contact.call_cap.calls: unknown key");
    expect_error("{\"call_cap\": 7}", "contact.call_cap: must be {\"max_calls\": N, \"days\": N}");
    expect_error("{\"quiet_days_after_rpc\": -1}",
                 "contact.quiet_days_after_rpc: must be an integer from 0 to 366");
    expect_error("{\"defer_horizon_days\": \"30\"}",
                 "contact.defer_horizon_days: must be an integer from 1 to 366");
    expect_error("{\"cease_exempt_actions\": [\"validation_notice\", \"fax_blast\"]}",
                 "contact.cease_exempt_actions[1]: \"fax_blast\" is not a task action");
    expect_error("{\"dispute_exempt_actions\": \"invoice_copy\"}",
                 "contact.dispute_exempt_actions: must be an array of task actions");
    expect_error("{\"forbearance_exempt_actions\": [null]}",
                 "contact.forbearance_exempt_actions[0]: must be a string");
    expect_error("{\"colour\": \"red\"}", "contact.colour: unknown key");
}

static void test_parse_too_many_dates(void **state)
{
    json_t *obj = json_object(), *dates = json_array();
    contact_rules_t r;
    char err[CONTACT_ERR_MAX];
    char date[16];

    (void)state;
    for (int i = 0; i <= CONTACT_MAX_DATES; i++) {
        snprintf(date, sizeof(date), "2026-%02d-%02d", i % 12 + 1, i % 28 + 1);
        json_array_append_new(dates, json_string(date));
    }
    json_object_set_new(obj, "no_contact_dates", dates);
    assert_int_equal(contact_rules_from_json(obj, &r, err, sizeof(err)), -1);
    assert_string_equal(err, "contact.no_contact_dates[512]: more than 512 no-contact dates");
    json_array_remove(dates, CONTACT_MAX_DATES);
    assert_int_equal(contact_rules_from_json(obj, &r, err, sizeof(err)), 0);
    assert_int_equal(r.n_no_contact, CONTACT_MAX_DATES);
    json_decref(obj);
}

static void test_parse_error_buffer(void **state)
{
    contact_rules_t r;
    char small[16];

    (void)state;
    assert_int_equal(parse("{\"colour\": 1}", &r, NULL, 0), -1);
    assert_int_equal(parse("{\"colour\": 1}", &r, small, sizeof(small)), -1);
    assert_string_equal(small, "contact.colour:");
}

/* ---- names ---------------------------------------------------------------------------------- */

static void test_names(void **state)
{
    (void)state;
    /* Channel and action names are vocab.c's (tests/unit/test_vocab.c); here only the bits. */
    assert_string_equal(contact_verdict_name(CONTACT_DEFER), "defer");
    assert_int_equal(contact_action_bit(VOCAB_ACTION_REMINDER), 1u);
    assert_int_equal(contact_action_bit(VOCAB_ACTION_THANK_YOU), 1u << VOCAB_ACTION_THANK_YOU);
    assert_int_equal(contact_action_bit(VOCAB_ACTION_COUNT), 0u);
    assert_int_equal(contact_action_bit((vocab_action_t)-1), 0u);
}

/* ---- zones and instants --------------------------------------------------------------------- */

static void test_zones(void **state)
{
    (void)state;
    assert_true(contact_zone_known("Europe/Madrid"));
    assert_true(contact_zone_known("UTC"));
    assert_true(contact_zone_known("America/Argentina/Buenos_Aires"));
    assert_true(contact_zone_known("Etc/GMT+5"));
    assert_false(contact_zone_known(NULL));
    assert_false(contact_zone_known(""));
    assert_false(contact_zone_known("+01:00"));
    assert_false(contact_zone_known("Nowhere/Atlantis"));
    assert_false(contact_zone_known("../../etc/passwd"));
    assert_false(contact_zone_known("Europe/"));
    assert_false(contact_zone_known("CET-1CEST,M3.5.0,M10.5.0/3"));
}

static void test_format_instant(void **state)
{
    char buf[CONTACT_INSTANT_MAX];

    (void)state;
    assert_instant(0, "UTC", "1970-01-01T00:00:00+00:00");
    assert_instant(at("2026-11-23T07:00:00Z"), "Europe/Madrid", "2026-11-23T08:00:00+01:00");
    assert_instant(at("2026-11-23T07:00:00Z"), "America/St_Johns", "2026-11-23T03:30:00-03:30");
    assert_instant(at("2026-11-23T07:00:00Z"), "Asia/Kathmandu", "2026-11-23T12:45:00+05:45");
    assert_instant(at("2026-11-23T07:00:00Z"), "Pacific/Chatham", "2026-11-23T20:45:00+13:45");
    assert_instant(at("2026-11-23T23:59:59Z"), "Pacific/Kiritimati", "2026-11-24T13:59:59+14:00");
    assert_instant(at("1969-12-31T23:59:59Z"), "UTC", "1969-12-31T23:59:59+00:00");
    assert_int_equal(contact_format_instant(0, "UTC", buf, 25), -1); /* needs 26 */
    assert_string_equal(buf, "");
    assert_int_equal(contact_format_instant(0, "UTC", buf, 26), 25);
    assert_int_equal(contact_format_instant(0, "Nowhere/Atlantis", buf, sizeof(buf)), -1);
    assert_string_equal(buf, "");
    assert_int_equal(contact_format_instant(0, "UTC", NULL, 0), -1);
}

static void test_day_start_and_forbearance(void **state)
{
    int64_t t = 0, from = 0, until = 0;

    (void)state;
    assert_int_equal(contact_local_day_start("Europe/Madrid", "2026-03-29", &t), 0);
    assert_instant(t, "Europe/Madrid", "2026-03-29T00:00:00+01:00");
    /* Havana springs forward at midnight: the day starts at 01:00 CDT. */
    assert_int_equal(contact_local_day_start("America/Havana", "2026-03-08", &t), 0);
    assert_instant(t, "America/Havana", "2026-03-08T01:00:00-04:00");
    /* Samoa skipped 2011-12-30: its "start" is the jump, which is already the 31st. */
    assert_int_equal(contact_local_day_start("Pacific/Apia", "2011-12-30", &t), 0);
    assert_instant(t, "Pacific/Apia", "2011-12-31T00:00:00+14:00");
    assert_int_equal(contact_local_day_start("Europe/Madrid", "2026-02-29", &t), -1);
    assert_int_equal(contact_local_day_start("Nowhere/Atlantis", "2026-02-28", &t), -1);
    assert_int_equal(contact_local_day_start("UTC", NULL, &t), -1);

    assert_int_equal(
        contact_forbearance_interval("Europe/Madrid", "2026-10-20", "2026-10-25", &from, &until),
        0);
    assert_instant(from, "Europe/Madrid", "2026-10-20T00:00:00+02:00");
    assert_instant(until, "Europe/Madrid", "2026-10-26T00:00:00+01:00");
    assert_int_equal(
        contact_forbearance_interval("Europe/Madrid", "2026-10-20", "2026-10-20", &from, &until),
        0);
    assert_true(until - from == 86400);
    assert_int_equal(
        contact_forbearance_interval("Europe/Madrid", "2026-10-21", "2026-10-20", &from, &until),
        -1);
    assert_int_equal(
        contact_forbearance_interval("Europe/Madrid", "2026-10-21", "soon", &from, &until), -1);
}

/* ---- decisions ------------------------------------------------------------------------------ */

static void test_calls_left(void **state)
{
    contact_rules_t r;
    contact_state_t st = CONTACT_STATE_INIT;
    int64_t now = at("2026-11-23T12:00:00+01:00");
    int64_t calls[] = {now - 3600, now - 7 * 86400, now - 7 * 86400 + 1, now + 60, now - 86400};

    (void)state;
    contact_rules_default(&r);
    assert_int_equal(contact_calls_left(&r, NULL, now), 7);
    assert_int_equal(contact_calls_left(&r, &st, now), 7);
    assert_int_equal(contact_calls_left(NULL, &st, now), 0);
    st.call_attempts = calls;
    st.n_call_attempts = 5;
    /* exactly 7 days old no longer counts; one second younger does; a future one counts */
    assert_int_equal(contact_calls_left(&r, &st, now), 3);
    r.call_cap_max = 2;
    assert_int_equal(contact_calls_left(&r, &st, now), 0);
}

static void test_decide_errors(void **state)
{
    contact_rules_t r;
    contact_decision_t d;
    int64_t now = at("2026-11-23T12:00:00+01:00");

    (void)state;
    contact_rules_default(&r);
    assert_int_equal(contact_decide(&r, NULL, "call", VOCAB_CHANNEL_PHONE, now, "Mars/Olympus", &d),
                     -1);
    assert_int_equal(d.verdict, CONTACT_SUPPRESS);
    assert_string_equal(d.reason, CONTACT_REASON_NO_ALLOWED_MOMENT);
    assert_int_equal(
        contact_decide(NULL, NULL, "call", VOCAB_CHANNEL_PHONE, now, "Europe/Madrid", &d), -1);
    assert_int_equal(contact_decide(&r, NULL, "call", (vocab_channel_t)9, now, "Europe/Madrid", &d),
                     -1);
    assert_int_equal(contact_decide(&r, NULL, "call", VOCAB_CHANNEL_PHONE, now, NULL, &d), -1);
    assert_int_equal(
        contact_decide(&r, NULL, "call", VOCAB_CHANNEL_PHONE, now, "Europe/Madrid", NULL), -1);
    /* A NULL state is a debtor about whom nothing is known. */
    assert_int_equal(
        contact_decide(&r, NULL, "call", VOCAB_CHANNEL_PHONE, now, "Europe/Madrid", &d), 0);
    assert_int_equal(d.verdict, CONTACT_ALLOW);
    assert_string_equal(d.reason, "allowed");
}

static void test_unknown_action_is_collection(void **state)
{
    contact_rules_t r;
    contact_state_t st = CONTACT_STATE_INIT;
    contact_decision_t d;
    int64_t now = at("2026-11-23T12:00:00+01:00");

    (void)state;
    contact_rules_default(&r);
    st.dispute_open = true;
    assert_int_equal(
        contact_decide(&r, &st, "mystery", VOCAB_CHANNEL_LETTER, now, "Europe/Madrid", &d), 0);
    assert_string_equal(d.reason, CONTACT_REASON_DISPUTE);
    assert_int_equal(contact_next_allowed(&r, &st, VOCAB_CHANNEL_LETTER, now, "UTC", &d), 0);
    assert_string_equal(d.reason, CONTACT_REASON_DISPUTE);
    assert_int_equal(contact_decide(&r, &st, "invoice_copy", VOCAB_CHANNEL_LETTER, now, "UTC", &d),
                     0);
    assert_int_equal(d.verdict, CONTACT_ALLOW);
    assert_instant(d.not_after, "UTC", "2026-11-24T00:00:00+00:00");
    /* supervisor_review is exempt from a dispute by default, legal_review is not */
    assert_int_equal(
        contact_decide(&r, &st, "supervisor_review", VOCAB_CHANNEL_INTERNAL, now, "UTC", &d), 0);
    assert_int_equal(d.verdict, CONTACT_ALLOW);
}

/* Samoa skipped 2011-12-30 entirely: a day without a window is passed over. */
static void test_skipped_date(void **state)
{
    contact_rules_t r;
    contact_decision_t d;

    (void)state;
    contact_rules_default(&r);
    assert_int_equal(contact_decide(&r, NULL, "call", VOCAB_CHANNEL_PHONE,
                                    at("2011-12-29T22:00:00-10:00"), "Pacific/Apia", &d),
                     0);
    assert_int_equal(d.verdict, CONTACT_DEFER);
    assert_string_equal(d.reason, CONTACT_REASON_OUTSIDE_WINDOW);
    assert_instant(d.not_before, "Pacific/Apia", "2011-12-31T08:00:00+14:00");
    assert_instant(d.not_after, "Pacific/Apia", "2011-12-31T21:00:00+14:00");
}

/* A quiet period that starts inside the window cuts it short (an rpc logged ahead of now). */
static void test_window_clipped_by_later_blackout(void **state)
{
    contact_rules_t r;
    contact_state_t st = CONTACT_STATE_INIT;
    contact_decision_t d;
    int64_t now = at("2026-11-23T10:00:00+01:00");

    (void)state;
    contact_rules_default(&r);
    st.last_rpc_at = at("2026-11-23T15:00:00+01:00");
    assert_int_equal(contact_decide(&r, &st, "call", VOCAB_CHANNEL_PHONE, now, "Europe/Madrid", &d),
                     0);
    assert_int_equal(d.verdict, CONTACT_ALLOW);
    assert_instant(d.not_after, "Europe/Madrid", "2026-11-23T15:00:00+01:00");
    /* and a cap with fewer attempts than max_calls never defers */
    r.quiet_days_after_rpc = 0;
    assert_int_equal(contact_decide(&r, &st, "call", VOCAB_CHANNEL_PHONE, now, "Europe/Madrid", &d),
                     0);
    assert_instant(d.not_after, "Europe/Madrid", "2026-11-23T21:00:00+01:00");
}

/* Local wall-clock reading of t in zone, through GDateTime (an oracle independent of ours). */
static void local_hm(int64_t t, GTimeZone *tz, int *minutes, int *ymd)
{
    GDateTime *u = g_date_time_new_from_unix_utc(t);
    GDateTime *l = g_date_time_to_timezone(u, tz);

    *minutes = g_date_time_get_hour(l) * 60 + g_date_time_get_minute(l);
    *ymd = g_date_time_get_year(l) * 10000 + g_date_time_get_month(l) * 100 +
           g_date_time_get_day_of_month(l);
    g_date_time_unref(l);
    g_date_time_unref(u);
}

/* Over a year in awkward zones, every answer for a call is a window whose ends read 08:00 (or
 * now) and 21:00 on one local date, and a deferral never skips an earlier window. */
static void test_window_invariants(void **state)
{
    static const char *zones[] = {"Europe/Madrid",      "America/New_York", "Australia/Lord_Howe",
                                  "Asia/Kathmandu",     "Pacific/Chatham",  "America/St_Johns",
                                  "Pacific/Kiritimati", "Pacific/Apia",     "America/Santiago",
                                  "Africa/Casablanca"};
    contact_rules_t r;
    contact_decision_t d;

    (void)state;
    contact_rules_default(&r);
    for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
        GTimeZone *tz = g_time_zone_new_identifier(zones[z]);
        assert_non_null(tz);
        for (int64_t now = at("2026-01-01T00:00:00Z"); now < at("2027-01-01T00:00:00Z");
             now += 5 * 3600 + 37 * 60 + 11) {
            int m_nb, m_na, m_now, d_nb, d_na, d_now;
            assert_int_equal(
                contact_decide(&r, NULL, "call", VOCAB_CHANNEL_PHONE, now, zones[z], &d), 0);
            assert_int_not_equal(d.verdict, CONTACT_SUPPRESS);
            assert_true(d.not_before >= now && d.not_after > d.not_before);
            local_hm(d.not_before, tz, &m_nb, &d_nb);
            local_hm(d.not_after, tz, &m_na, &d_na);
            local_hm(now, tz, &m_now, &d_now);
            assert_int_equal(m_na, 21 * 60);
            assert_int_equal(d_na, d_nb);
            assert_true(m_nb >= 8 * 60 && m_nb < 21 * 60);
            if (d.verdict == CONTACT_ALLOW) {
                assert_true(d.not_before == now);
            } else {
                assert_int_equal(m_nb, 8 * 60);
                /* now was outside the hours, and the window is today's or the next day's */
                assert_true(m_now < 8 * 60 || m_now >= 21 * 60);
                assert_true(d_nb == d_now ? m_now < 8 * 60 : d.not_before - now < 86400);
            }
        }
        g_time_zone_unref(tz);
    }
}

/* The zone cache is shared by threads. */
static gpointer decide_many(gpointer data)
{
    static const char *zones[] = {"Europe/Madrid", "Asia/Tokyo", "America/Chicago", "Europe/Berlin",
                                  "Asia/Kolkata"};
    const contact_rules_t *r = data;
    contact_decision_t d;
    int bad = 0;

    for (int i = 0; i < 2000; i++)
        if (contact_decide(r, NULL, "call", VOCAB_CHANNEL_SMS, 1795000000 + i * 977, zones[i % 5],
                           &d) != 0)
            bad++;
    return GINT_TO_POINTER(bad);
}

static void test_threads(void **state)
{
    contact_rules_t r;
    GThread *th[4];

    (void)state;
    contact_rules_default(&r);
    for (int i = 0; i < 4; i++)
        th[i] = g_thread_new("decide", decide_many, &r);
    for (int i = 0; i < 4; i++)
        assert_int_equal(GPOINTER_TO_INT(g_thread_join(th[i])), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_parse_full),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_too_many_dates),
        cmocka_unit_test(test_parse_error_buffer),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_zones),
        cmocka_unit_test(test_format_instant),
        cmocka_unit_test(test_day_start_and_forbearance),
        cmocka_unit_test(test_calls_left),
        cmocka_unit_test(test_decide_errors),
        cmocka_unit_test(test_unknown_action_is_collection),
        cmocka_unit_test(test_skipped_date),
        cmocka_unit_test(test_window_clipped_by_later_blackout),
        cmocka_unit_test(test_window_invariants),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
