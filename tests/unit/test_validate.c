/* test_validate.c - unit tests for validate.c: dates, instants, time zones, identifiers, and
 * the rules of the input events (the examples in proto/examples/ cover them end to end). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "validate.h"
#include "calendar.h"

static void test_date(void **state)
{
    int y = 0, m = 0, d = 0;

    (void)state;
    assert_int_equal(cal_parse_date("2026-11-25", &y, &m, &d), 0);
    assert_int_equal(y, 2026);
    assert_int_equal(m, 11);
    assert_int_equal(d, 25);
    assert_int_equal(cal_parse_date("2024-02-29", NULL, NULL, NULL), 0); /* leap year */
    assert_int_equal(cal_parse_date("2000-02-29", NULL, NULL, NULL), 0); /* 400-year rule */
    assert_int_equal(cal_parse_date("0001-01-01", NULL, NULL, NULL), 0);
    assert_int_equal(cal_parse_date("9999-12-31", NULL, NULL, NULL), 0);

    y = 7;
    assert_int_equal(cal_parse_date("2026-02-29", &y, NULL, NULL), -1);
    assert_int_equal(y, 7); /* untouched */
    assert_int_equal(cal_parse_date("2026-02-30", NULL, NULL, NULL), -1);
    assert_int_equal(cal_parse_date("1900-02-29", NULL, NULL, NULL), -1); /* 100-year rule */
    assert_int_equal(cal_parse_date("2026-04-31", NULL, NULL, NULL), -1);
    assert_int_equal(cal_parse_date("2026-13-01", NULL, NULL, NULL), -1);
    assert_int_equal(cal_parse_date("2026-00-10", NULL, NULL, NULL), -1);
    assert_int_equal(cal_parse_date("2026-01-00", NULL, NULL, NULL), -1);
    assert_int_equal(cal_parse_date("0000-01-01", NULL, NULL, NULL), -1);
    assert_int_equal(cal_parse_date("2026-2-03", NULL, NULL, NULL), -1);
    assert_int_equal(cal_parse_date("2026/02/03", NULL, NULL, NULL), -1);
    assert_int_equal(cal_parse_date("2026-02-03T00:00:00Z", NULL, NULL, NULL), -1);
    assert_int_equal(cal_parse_date(" 2026-02-03", NULL, NULL, NULL), -1);
    assert_int_equal(cal_parse_date("+2026-02-03", NULL, NULL, NULL), -1);
    assert_int_equal(cal_parse_date("", NULL, NULL, NULL), -1);
    assert_int_equal(cal_parse_date(NULL, NULL, NULL, NULL), -1);
}

static void test_days_from_civil(void **state)
{
    (void)state;
    assert_true(cal_days_from_civil(1970, 1, 1) == 0);
    assert_true(cal_days_from_civil(1969, 12, 31) == -1);
    assert_true(cal_days_from_civil(2000, 3, 1) == 11017);
    assert_true(cal_days_from_civil(2026, 11, 25) == 20782);
    assert_true(cal_days_from_civil(1, 1, 1) == -719162);
}

static void test_instant(void **state)
{
    int64_t t = 0;
    int off = 99;

    (void)state;
    assert_int_equal(cal_parse_instant("2026-11-20T10:00:00Z", &t, &off), 0);
    assert_true(t == 1795168800);
    assert_int_equal(off, 0);
    /* The same instant, written in Madrid's winter offset and in New York's. */
    assert_int_equal(cal_parse_instant("2026-11-20T11:00:00+01:00", &t, &off), 0);
    assert_true(t == 1795168800);
    assert_int_equal(off, 3600);
    assert_int_equal(cal_parse_instant("2026-11-20T05:00:00-05:00", &t, &off), 0);
    assert_true(t == 1795168800);
    assert_int_equal(off, -18000);
    assert_int_equal(cal_parse_instant("2026-11-20T15:45:00+05:45", &t, NULL), 0);
    assert_true(t == 1795168800);
    /* Fractions are dropped, towards the past. */
    assert_int_equal(cal_parse_instant("2026-11-20T10:00:00.999999999Z", &t, NULL), 0);
    assert_true(t == 1795168800);
    assert_int_equal(cal_parse_instant("1970-01-01T00:00:00Z", &t, NULL), 0);
    assert_true(t == 0);
    assert_int_equal(cal_parse_instant("1969-12-31T23:59:59Z", &t, NULL), 0);
    assert_true(t == -1);
    /* Crossing a day and a leap day through the offset. */
    assert_int_equal(cal_parse_instant("2024-03-01T00:30:00+01:00", &t, NULL), 0);
    assert_true(t == cal_days_from_civil(2024, 2, 29) * 86400 + 23 * 3600 + 30 * 60);

    t = 42;
    assert_int_equal(cal_parse_instant("2026-11-20T10:00:00", &t, NULL), -1); /* no offset */
    assert_true(t == 42);
    assert_int_equal(cal_parse_instant("2026-11-20 10:00:00Z", NULL, NULL), -1);
    assert_int_equal(cal_parse_instant("2026-11-20t10:00:00z", NULL, NULL), -1);
    assert_int_equal(cal_parse_instant("2026-11-20T24:00:00Z", NULL, NULL), -1);
    assert_int_equal(cal_parse_instant("2026-11-20T10:60:00Z", NULL, NULL), -1);
    assert_int_equal(cal_parse_instant("2026-06-30T23:59:60Z", NULL, NULL), -1); /* leap second */
    assert_int_equal(cal_parse_instant("2026-02-30T10:00:00Z", NULL, NULL), -1);
    assert_int_equal(cal_parse_instant("2026-11-20T10:00Z", NULL, NULL), -1);
    assert_int_equal(cal_parse_instant("2026-11-20T10:00:00.Z", NULL, NULL), -1);
    assert_int_equal(cal_parse_instant("2026-11-20T10:00:00.1234567890Z", NULL, NULL), -1);
    assert_int_equal(cal_parse_instant("2026-11-20T10:00:00+0100", NULL, NULL), -1);
    assert_int_equal(cal_parse_instant("2026-11-20T10:00:00+01", NULL, NULL), -1);
    assert_int_equal(cal_parse_instant("2026-11-20T10:00:00+24:00", NULL, NULL), -1);
    assert_int_equal(cal_parse_instant("2026-11-20T10:00:00Z ", NULL, NULL), -1);
    assert_int_equal(cal_parse_instant("2026-11-20", NULL, NULL), -1);
    assert_int_equal(cal_parse_instant("", NULL, NULL), -1);
    assert_int_equal(cal_parse_instant(NULL, NULL, NULL), -1);
}

static void test_timezone(void **state)
{
    (void)state;
    assert_true(validate_timezone("Europe/Madrid"));
    assert_true(validate_timezone("America/New_York"));
    assert_true(validate_timezone("America/Argentina/Buenos_Aires"));
    assert_true(validate_timezone("Asia/Kolkata"));
    assert_true(validate_timezone("Etc/GMT+5"));
    assert_true(validate_timezone("UTC"));
    assert_true(validate_timezone("US/Eastern")); /* a backward link, still an IANA name */

    assert_false(validate_timezone("Europe/Atlantis"));
    assert_false(validate_timezone("Mars/Olympus"));
    assert_false(validate_timezone("europe/madrid"));
    assert_false(validate_timezone("+01:00"));
    assert_false(validate_timezone("Z"));
    assert_false(validate_timezone("CET-1CEST"));
    assert_false(validate_timezone("ABC3"));
    assert_false(validate_timezone("localtime"));
    assert_false(validate_timezone("posixrules"));
    assert_false(validate_timezone("Factory"));
    assert_false(validate_timezone("right/UTC"));
    assert_false(validate_timezone("posix/Europe/Madrid"));
    assert_false(validate_timezone("/usr/share/zoneinfo/Europe/Madrid"));
    assert_false(validate_timezone("Europe/../Europe/Madrid"));
    assert_false(validate_timezone("Europe/"));
    assert_false(validate_timezone("Europe"));
    assert_false(validate_timezone(""));
    assert_false(validate_timezone(NULL));
}

static void test_identifiers(void **state)
{
    char long_id[80];

    (void)state;
    assert_true(validate_creditor_id("acme"));
    assert_true(validate_creditor_id("sakura-mobile.jp_01"));
    assert_false(validate_creditor_id("acme/es"));
    assert_false(validate_creditor_id("acme:es"));
    assert_false(validate_creditor_id("acme es"));
    assert_false(validate_creditor_id(""));
    assert_false(validate_creditor_id(NULL));
    memset(long_id, 'a', 64);
    long_id[64] = '\0';
    assert_true(validate_creditor_id(long_id));
    assert_true(validate_identifier(long_id, 64));
    long_id[64] = 'a';
    long_id[65] = '\0';
    assert_false(validate_creditor_id(long_id));
    assert_false(validate_identifier(long_id, 64));

    assert_true(validate_identifier("D-1001", 64));
    assert_true(validate_identifier("CLI/2024/001 B", 64));
    /* 64 characters of two bytes each: the limit counts characters, as JSON Schema does. */
    {
        char wide[200] = "";

        for (int i = 0; i < 64; i++)
            strcat(wide, "\xc3\xb1"); /* n with tilde */
        assert_true(validate_identifier(wide, 64));
        strcat(wide, "\xc3\xb1");
        assert_false(validate_identifier(wide, 64));
    }
    assert_false(validate_identifier("D-1001\n", 64));
    assert_false(validate_identifier("D\x7f", 64));
    assert_false(validate_identifier("", 64));
    assert_false(validate_identifier(NULL, 64));
}

static void test_input_types(void **state)
{
    (void)state;
    assert_true(validate_is_input_type("invoice.overdue"));
    assert_true(validate_is_input_type("forbearance.granted"));
    assert_false(validate_is_input_type("task.created"));
    assert_false(validate_is_input_type("invoice.paid"));
    assert_false(validate_is_input_type(""));
    assert_false(validate_is_input_type(NULL));
}

/* Parses `json` as an envelope and validates it. Returns the error code, or "ok". */
static const char *check(const char *json, char *detail, size_t size)
{
    static reason_t err;
    ce_event_t ev = CE_EVENT_INIT;
    const char *code = "ok";

    err.code = NULL;
    err.detail[0] = '\0';
    if (ce_parse(json, strlen(json), &ev, &err) < 0 || validate_event(&ev, &err) < 0)
        code = err.code;
    if (detail != NULL)
        snprintf(detail, size, "%s", err.detail);
    ce_event_clear(&ev);
    return code;
}

#define ENV(type, data)                                                                            \
    "{\"specversion\":\"1.0\",\"id\":\"e-1\",\"source\":\"test\",\"type\":\"" type "\","           \
    "\"data\":" data "}"

static void test_events(void **state)
{
    char detail[256];

    (void)state;
    assert_string_equal(check(ENV("payment.received",
                                  "{\"creditor_id\":\"acme\",\"debtor_id\":\"D-1\",\"payment_id\":"
                                  "\"P-1\",\"currency\":\"EUR\",\"amount\":\"10.5\","
                                  "\"received_at\":\"2026-11-20T10:00:00Z\",\"extra\":[1,2]}"),
                              NULL, 0),
                        "ok");
    assert_string_equal(check(ENV("payment.received",
                                  "{\"creditor_id\":\"acme\",\"debtor_id\":\"D-1\",\"payment_id\":"
                                  "\"P-1\",\"currency\":\"EUR\",\"amount\":\"10.505\","
                                  "\"received_at\":\"2026-11-20T10:00:00Z\"}"),
                              detail, sizeof(detail)),
                        "invalid_amount");
    assert_string_equal(detail, "data.amount: more decimals than EUR allows");

    /* The currency of an installment is the plan's; the path names the installment. */
    assert_string_equal(
        check(ENV("plan.agreed", "{\"creditor_id\":\"acme\",\"debtor_id\":\"D-1\",\"plan_id\":"
                                 "\"PL-1\",\"currency\":\"KWD\",\"installments\":["
                                 "{\"due_on\":\"2026-12-01\",\"amount\":\"1.250\"},"
                                 "{\"due_on\":\"2027-01-01\",\"amount\":\"1.2505\"}]}"),
              detail, sizeof(detail)),
        "invalid_amount");
    assert_string_equal(detail, "data.installments[1].amount: more decimals than KWD allows");

    /* A detail names the path, never the value of a personal field. */
    assert_string_equal(
        check(ENV("invoice.overdue",
                  "{\"creditor_id\":\"acme\",\"creditor_name\":\"ACME\",\"debtor\":{\"id\":\"D-1\","
                  "\"name\":\"Ana\",\"timezone\":\"Europe/Madrid\",\"email\":\"ana at example\"},"
                  "\"invoice\":{\"id\":\"I-1\",\"currency\":\"EUR\",\"amount\":\"1\","
                  "\"open_amount\":\"1\",\"due_on\":\"2026-10-01\"}}"),
              detail, sizeof(detail)),
        "schema_violation");
    assert_string_equal(detail, "data.debtor.email: must be an e-mail address");
    assert_null(strstr(detail, "ana"));

    /* contact.preferences: at least one field; forbearance: until >= from. */
    assert_string_equal(
        check(ENV("contact.preferences", "{\"creditor_id\":\"acme\",\"debtor_id\":\"D-1\"}"), NULL,
              0),
        "schema_violation");
    assert_string_equal(check(ENV("contact.preferences", "{\"creditor_id\":\"acme\",\"debtor_id\":"
                                                         "\"D-1\",\"cease_communication\":true}"),
                              NULL, 0),
                        "ok");
    assert_string_equal(check(ENV("forbearance.granted",
                                  "{\"creditor_id\":\"acme\",\"debtor_id\":\"D-1\",\"from\":"
                                  "\"2026-12-01\",\"until\":\"2026-11-30\",\"reason\":\"x\"}"),
                              NULL, 0),
                        "schema_violation");

    /* A string holding NUL never reaches the rules: jansson refuses "\u0000" unless asked
     * (validate.c checks again, in case ce_parse() ever allows it). */
    assert_string_equal(check(ENV("invoice.cancelled", "{\"creditor_id\":\"acme\",\"debtor_id\":"
                                                       "\"D\\u00001\",\"invoice_id\":\"I-1\"}"),
                              NULL, 0),
                        "malformed_json");
    assert_string_equal(check(ENV("invoice.paid", "{}"), detail, sizeof(detail)), "unknown_type");
    assert_string_equal(detail, "type \"invoice.paid\" is not an input event type");
}

/* invoice.overdue with every string kind of the debtor and the invoice, and contact.attempted
 * with an enum, an instant and codes: one value at a time is made bad below. */
#define OVERDUE_FMT                                                                                \
    ENV("invoice.overdue",                                                                         \
        "{\"creditor_id\":\"%s\",\"creditor_name\":\"%s\",\"debtor\":{\"id\":\"%s\",\"name\":"     \
        "\"Ana\",\"timezone\":\"%s\",\"country\":\"%s\",\"locale\":\"%s\",\"phone\":\"%s\","       \
        "\"email\":\"%s\"},\"invoice\":{\"id\":\"%s\",\"currency\":\"%s\",\"amount\":\"1\","       \
        "\"open_amount\":\"1\",\"due_on\":\"%s\"}}")
#define ATTEMPT_FMT                                                                                \
    ENV("contact.attempted", "{\"creditor_id\":\"acme\",\"debtor_id\":\"D-1\",\"channel\":\"%s\"," \
                             "\"at\":\"%s\",\"outcome\":\"no_answer\",\"techniques\":[\"%s\"]}")
#define CANCELLED_FMT                                                                              \
    ENV("invoice.cancelled", "{\"creditor_id\":\"acme\",\"debtor_id\":\"D-1\",\"invoice_id\":"     \
                             "\"I-1\",\"reason\":\"%s\"}")

/* The code of validating an event built from fmt with value `which` replaced by `bad` (-1:
 * none), its detail in detail. */
static const char *check_with(char fmt, int which, const char *bad, char *detail)
{
    const char *v[11] = {"acme",         "ACME",   "D-1", "Europe/Madrid", "ES",        "es-ES",
                         "+34600000000", "a@b.es", "I-1", "EUR",           "2026-10-01"};
    char json[2048];

    if (fmt == 'a') {
        v[0] = "phone", v[1] = "2026-11-20T10:00:00Z", v[2] = "empathy";
    } else if (fmt == 'c') {
        v[0] = "duplicate";
    }
    if (which >= 0)
        v[which] = bad;
    if (fmt == 'o')
        snprintf(json, sizeof(json), OVERDUE_FMT, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7],
                 v[8], v[9], v[10]);
    else if (fmt == 'a')
        snprintf(json, sizeof(json), ATTEMPT_FMT, v[0], v[1], v[2]);
    else
        snprintf(json, sizeof(json), CANCELLED_FMT, v[0]);
    return check(json, detail, 256);
}

/* Each string kind: its reason code and its exact detail, which names the path, not the
 * value. */
static void test_string_kinds(void **state)
{
    static const struct {
        char fmt;
        int which;
        const char *bad, *code, *detail;
    } cases[] = {
        {'o', 0, "ac me", "schema_violation",
         "data.creditor_id: must be 1-64 characters of A-Z a-z 0-9 . _ -"},
        {'o', 1, "", "schema_violation",
         "data.creditor_name: must be 1-256 characters without control characters"},
        {'o', 2, "", "schema_violation",
         "data.debtor.id: must be 1-64 characters without control characters"},
        {'o', 3, "Mars/Base", "invalid_timezone",
         "data.debtor.timezone: not a known IANA time zone name"},
        {'o', 4, "es", "schema_violation",
         "data.debtor.country: must be an ISO 3166-1 alpha-2 code (two upper-case letters)"},
        {'o', 5, "e", "schema_violation", "data.debtor.locale: must be a BCP 47 tag like es-ES"},
        {'o', 6, "600", "schema_violation",
         "data.debtor.phone: must be an E.164 number (+ and 7-15 digits)"},
        {'o', 7, "ab.es", "schema_violation", "data.debtor.email: must be an e-mail address"},
        {'o', 8, "", "schema_violation",
         "data.invoice.id: must be 1-128 characters without control characters"},
        {'o', 9, "ZZZ", "invalid_currency",
         "data.invoice.currency: not a known ISO 4217 currency code"},
        {'o', 10, "2026-02-30", "invalid_date",
         "data.invoice.due_on: not an existing date as YYYY-MM-DD"},
        {'a', 0, "fax", "schema_violation", "data.channel: not one of the allowed values"},
        {'a', 1, "yesterday", "invalid_date",
         "data.at: not an RFC 3339 instant with an offset (Z or +hh:mm)"},
        {'a', 2, "Empathy", "schema_violation",
         "data.techniques[0]: must be a code of a-z 0-9 _ (at most 64, starting with a letter)"},
        {'c', 0, "", "schema_violation", "data.reason: must be 1-1000 characters"},
    };
    char detail[256];

    (void)state;
    assert_string_equal(check_with('o', -1, NULL, detail), "ok");
    assert_string_equal(check_with('a', -1, NULL, detail), "ok");
    assert_string_equal(check_with('c', -1, NULL, detail), "ok");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *code = check_with(cases[i].fmt, cases[i].which, cases[i].bad, detail);
        if (strcmp(code, cases[i].code) != 0 || strcmp(detail, cases[i].detail) != 0)
            fail_msg("case %zu: %s / %s", i, code, detail);
    }
}

static void test_case_ids(void **state)
{
    const char *json = ENV("invoice.overdue",
                           "{\"creditor_id\":\"acme\",\"creditor_name\":\"ACME\",\"debtor\":{"
                           "\"id\":\"D-9\",\"name\":\"Ana\",\"timezone\":\"UTC\"},"
                           "\"invoice\":{\"id\":\"I-1\",\"currency\":\"JPY\",\"amount\":\"100\","
                           "\"open_amount\":\"100\",\"due_on\":\"2026-10-01\"}}");
    ce_event_t ev = CE_EVENT_INIT;
    reason_t err;
    const char *c = NULL, *d = NULL;

    (void)state;
    assert_int_equal(ce_parse(json, strlen(json), &ev, &err), 0);
    assert_int_equal(validate_event(&ev, &err), 0);
    assert_int_equal(validate_case_ids(&ev, &c, &d), 0);
    assert_string_equal(c, "acme");
    assert_string_equal(d, "D-9");
    ce_event_clear(&ev);
}

#define CALLBACK_EV(at_, outcome, cb)                                                              \
    ENV("contact.attempted", "{\"creditor_id\":\"acme\",\"debtor_id\":\"D-1\",\"channel\":"        \
                             "\"phone\",\"at\":\"" at_ "\",\"outcome\":\"" outcome "\","           \
                             "\"callback_at\":\"" cb "\"}")

/* callback_at: from the contact's `at` to 90 days after it, with outcome callback_requested. */
static void test_callback_at_range(void **state)
{
    char detail[256];

    (void)state;
    assert_string_equal(check(CALLBACK_EV("2026-11-25T10:00:00Z", "callback_requested",
                                          "2026-11-25T11:00:00+01:00"),
                              NULL, 0),
                        "ok"); /* the same instant: call me back right away */
    assert_string_equal(
        check(CALLBACK_EV("2026-11-25T10:00:00Z", "callback_requested", "2027-02-23T10:00:00Z"),
              NULL, 0),
        "ok"); /* exactly 90 days */
    assert_string_equal(
        check(CALLBACK_EV("2026-11-25T10:00:00Z", "callback_requested", "2027-02-23T10:00:01Z"),
              detail, sizeof(detail)),
        "invalid_date");
    assert_string_equal(detail, "data.callback_at: more than 90 days after data.at");
    assert_string_equal(check(CALLBACK_EV("2026-11-25T10:00:00Z", "callback_requested",
                                          "2026-11-25T10:59:59+01:00"),
                              detail, sizeof(detail)),
                        "invalid_date");
    assert_string_equal(detail, "data.callback_at: before data.at");
    assert_string_equal(
        check(CALLBACK_EV("2026-11-25T10:00:00Z", "callback_requested", "tomorrow"), NULL, 0),
        "invalid_date");
    assert_string_equal(
        check(CALLBACK_EV("2026-11-25T10:00:00Z", "voicemail", "2026-11-26T10:00:00Z"), detail,
              sizeof(detail)),
        "schema_violation");
    assert_string_equal(detail, "data.callback_at: only with outcome callback_requested");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_date),         cmocka_unit_test(test_days_from_civil),
        cmocka_unit_test(test_instant),      cmocka_unit_test(test_timezone),
        cmocka_unit_test(test_identifiers),  cmocka_unit_test(test_input_types),
        cmocka_unit_test(test_events),       cmocka_unit_test(test_case_ids),
        cmocka_unit_test(test_string_kinds), cmocka_unit_test(test_callback_at_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
