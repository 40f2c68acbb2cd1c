/* test_money.c - unit tests for money.c: the currency table, parsing, formatting, arithmetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "money.h"

static void test_currency_digits(void **state)
{
    (void)state;
    assert_int_equal(money_currency_digits("JPY"), 0);
    assert_int_equal(money_currency_digits("KRW"), 0);
    assert_int_equal(money_currency_digits("CLP"), 0);
    assert_int_equal(money_currency_digits("EUR"), 2);
    assert_int_equal(money_currency_digits("USD"), 2);
    assert_int_equal(money_currency_digits("GBP"), 2);
    assert_int_equal(money_currency_digits("KWD"), 3);
    assert_int_equal(money_currency_digits("BHD"), 3);
    assert_int_equal(money_currency_digits("JOD"), 3);
    assert_int_equal(money_currency_digits("OMR"), 3);
    assert_int_equal(money_currency_digits("TND"), 3);
    assert_int_equal(money_currency_digits("CLF"), 4);
    assert_int_equal(money_currency_digits("AED"), 2); /* first entry of the table */
    assert_int_equal(money_currency_digits("ZWL"), 2); /* last entry */
    assert_int_equal(money_currency_digits("eur"), -1);
    assert_int_equal(money_currency_digits("EURO"), -1);
    assert_int_equal(money_currency_digits("EU"), -1);
    assert_int_equal(money_currency_digits(""), -1);
    assert_int_equal(money_currency_digits("XAU"), -1); /* gold: no minor unit */
    assert_int_equal(money_currency_digits("XXX"), -1);
    assert_int_equal(money_currency_digits("HRK"), -1);
    assert_int_equal(money_currency_digits(NULL), -1);
    assert_true(money_currency_known("EUR"));
    assert_false(money_currency_known("ABC"));
    assert_false(money_currency_known(NULL));
}

static void expect_parse(const char *s, const char *cur, unsigned flags, int64_t want)
{
    int64_t got = 12345;

    assert_int_equal(money_parse(s, cur, flags, &got), MONEY_OK);
    assert_true(got == want);
}

static void expect_reject(const char *s, const char *cur, unsigned flags, money_err_t want)
{
    int64_t got = 777;

    assert_int_equal(money_parse(s, cur, flags, &got), want);
    assert_true(got == 777); /* untouched on error */
}

static void test_parse_ok(void **state)
{
    (void)state;
    expect_parse("120.00", "EUR", 0, 12000);
    expect_parse("99.5", "EUR", 0, 9950);
    expect_parse("0", "EUR", 0, 0);
    expect_parse("0.01", "EUR", 0, 1);
    expect_parse("1500", "JPY", 0, 1500);
    expect_parse("1.234", "KWD", 0, 1234);
    expect_parse("1.2", "KWD", 0, 1200);
    expect_parse("-3.50", "EUR", MONEY_ALLOW_NEGATIVE, -350);
    expect_parse("-0", "EUR", MONEY_ALLOW_NEGATIVE, 0);
    expect_parse("92233720368547758.07", "EUR", 0, INT64_MAX);
    expect_parse("-92233720368547758.08", "EUR", MONEY_ALLOW_NEGATIVE, INT64_MIN);
    expect_parse("9223372036854775807", "JPY", 0, INT64_MAX);
    expect_parse("-9223372036854775808", "JPY", MONEY_ALLOW_NEGATIVE, INT64_MIN);
    expect_parse("9223372036854775.807", "KWD", 0, INT64_MAX);
}

static void test_parse_reject(void **state)
{
    (void)state;
    const char *syntax[] = {"",    "-",     "+5",  " 5",  "5 ",    "5.",   ".5",
                            "05",  "00.10", "1e3", "1E3", "1,000", "0x10", "1.2.3",
                            "NaN", "inf",   "-.5", "--5", "1 000", "١٢"};

    for (size_t i = 0; i < sizeof(syntax) / sizeof(syntax[0]); i++)
        expect_reject(syntax[i], "EUR", MONEY_ALLOW_NEGATIVE, MONEY_ERR_SYNTAX);
    expect_reject("1.001", "EUR", 0, MONEY_ERR_PRECISION);
    expect_reject("1.000", "EUR", 0, MONEY_ERR_PRECISION);
    expect_reject("1.5", "JPY", 0, MONEY_ERR_PRECISION);
    expect_reject("1.0", "JPY", 0, MONEY_ERR_PRECISION);
    expect_reject("1.2345", "KWD", 0, MONEY_ERR_PRECISION);
    expect_reject("-1", "EUR", 0, MONEY_ERR_NEGATIVE);
    expect_reject("-0.00", "EUR", 0, MONEY_ERR_NEGATIVE);
    expect_reject("92233720368547758.08", "EUR", 0, MONEY_ERR_OVERFLOW);
    expect_reject("-92233720368547758.09", "EUR", MONEY_ALLOW_NEGATIVE, MONEY_ERR_OVERFLOW);
    expect_reject("9223372036854775808", "JPY", 0, MONEY_ERR_OVERFLOW);
    expect_reject("99999999999999999999999999", "JPY", 0, MONEY_ERR_OVERFLOW);
    expect_reject("1", "XYZ", 0, MONEY_ERR_CURRENCY);
    expect_reject("1", "", 0, MONEY_ERR_CURRENCY);
    /* Order of checks: currency before syntax, sign before precision. */
    expect_reject("abc", "XYZ", 0, MONEY_ERR_CURRENCY);
    expect_reject("-1.234", "EUR", 0, MONEY_ERR_NEGATIVE);
}

static void expect_format(int64_t minor, const char *cur, const char *want)
{
    char buf[MONEY_FMT_MAX];

    assert_int_equal(money_format(minor, cur, buf, sizeof(buf)), (int)strlen(want));
    assert_string_equal(buf, want);
}

static void test_format(void **state)
{
    char buf[MONEY_FMT_MAX];
    char small[4];

    (void)state;
    expect_format(12000, "EUR", "120.00");
    expect_format(-350, "EUR", "-3.50");
    expect_format(5, "EUR", "0.05");
    expect_format(-5, "EUR", "-0.05");
    expect_format(0, "EUR", "0.00");
    expect_format(1500, "JPY", "1500");
    expect_format(1, "KWD", "0.001");
    expect_format(12345, "CLF", "1.2345");
    expect_format(INT64_MAX, "EUR", "92233720368547758.07");
    expect_format(INT64_MIN, "EUR", "-92233720368547758.08");
    expect_format(INT64_MIN, "JPY", "-9223372036854775808");
    expect_format(INT64_MIN, "CLF", "-922337203685477.5808");
    assert_int_equal(money_format(1, "XYZ", buf, sizeof(buf)), -1);
    assert_string_equal(buf, "");
    assert_int_equal(money_format(12000, "EUR", small, sizeof(small)), -1);
    assert_string_equal(small, "");
}

static void test_round_trip(void **state)
{
    const char *cases[][2] = {{"120.00", "EUR"}, {"0.00", "USD"},   {"1500", "JPY"},
                              {"0.001", "BHD"},  {"7.0000", "UYW"}, {"-42.10", "GBP"}};
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t v;
        char buf[MONEY_FMT_MAX];

        assert_int_equal(money_parse(cases[i][0], cases[i][1], MONEY_ALLOW_NEGATIVE, &v), MONEY_OK);
        assert_true(money_format(v, cases[i][1], buf, sizeof(buf)) > 0);
        assert_string_equal(buf, cases[i][0]);
    }
}

static void test_arithmetic(void **state)
{
    int64_t r = 99;

    (void)state;
    assert_true(money_add(12000, 350, &r));
    assert_true(r == 12350);
    assert_true(money_sub(350, 12000, &r));
    assert_true(r == -11650);
    assert_true(money_add(INT64_MAX - 1, 1, &r));
    assert_true(r == INT64_MAX);
    r = 99;
    assert_false(money_add(INT64_MAX, 1, &r));
    assert_true(r == 99);
    assert_false(money_add(INT64_MIN, -1, &r));
    assert_false(money_sub(INT64_MIN, 1, &r));
    assert_false(money_sub(0, INT64_MIN, &r));
    assert_false(money_sub(INT64_MAX, -1, &r));
    assert_true(r == 99);
    assert_true(money_sub(-1, INT64_MAX, &r));
    assert_true(r == INT64_MIN);
}

static void test_error_codes(void **state)
{
    (void)state;
    assert_string_equal(money_err_code(MONEY_ERR_SYNTAX), "invalid_amount");
    assert_string_equal(money_err_code(MONEY_ERR_PRECISION), "invalid_amount");
    assert_string_equal(money_err_code(MONEY_ERR_NEGATIVE), "invalid_amount");
    assert_string_equal(money_err_code(MONEY_ERR_OVERFLOW), "invalid_amount");
    assert_string_equal(money_err_code(MONEY_ERR_CURRENCY), "invalid_currency");
    assert_non_null(money_strerror(MONEY_ERR_PRECISION));
    assert_non_null(money_strerror((money_err_t)-99));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_currency_digits), cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_parse_reject),    cmocka_unit_test(test_format),
        cmocka_unit_test(test_round_trip),      cmocka_unit_test(test_arithmetic),
        cmocka_unit_test(test_error_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
