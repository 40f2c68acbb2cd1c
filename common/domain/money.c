/* money.c - exact money: ISO 4217 minor units, strict decimal parsing and formatting. */
#include "money.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ISO 4217 "list one" alphabetic codes with their minor-unit digits, sorted by code for
 * bsearch(). Every code that has minor units is here (funds codes such as CLF, BOV and UYI
 * included); codes whose minor units are "N.A." (gold, silver, SDR, test codes, XXX) are not:
 * they do not denominate debts. Codes in their withdrawal period (ANG, BGN, SLL, ZWL, CUC) are
 * kept, because invoices issued in them are still being collected; HRK is not (the kuna was
 * converted to EUR by law in 2023). The list includes the 2024-2025 additions ZWG and XCG. */
typedef struct money_currency {
    char code[4];
    int digits;
} money_currency_t;

static const money_currency_t currencies[] = {
    {"AED", 2}, {"AFN", 2}, {"ALL", 2}, {"AMD", 2}, {"ANG", 2}, {"AOA", 2}, {"ARS", 2}, {"AUD", 2},
    {"AWG", 2}, {"AZN", 2}, {"BAM", 2}, {"BBD", 2}, {"BDT", 2}, {"BGN", 2}, {"BHD", 3}, {"BIF", 0},
    {"BMD", 2}, {"BND", 2}, {"BOB", 2}, {"BOV", 2}, {"BRL", 2}, {"BSD", 2}, {"BTN", 2}, {"BWP", 2},
    {"BYN", 2}, {"BZD", 2}, {"CAD", 2}, {"CDF", 2}, {"CHE", 2}, {"CHF", 2}, {"CHW", 2}, {"CLF", 4},
    {"CLP", 0}, {"CNY", 2}, {"COP", 2}, {"COU", 2}, {"CRC", 2}, {"CUC", 2}, {"CUP", 2}, {"CVE", 2},
    {"CZK", 2}, {"DJF", 0}, {"DKK", 2}, {"DOP", 2}, {"DZD", 2}, {"EGP", 2}, {"ERN", 2}, {"ETB", 2},
    {"EUR", 2}, {"FJD", 2}, {"FKP", 2}, {"GBP", 2}, {"GEL", 2}, {"GHS", 2}, {"GIP", 2}, {"GMD", 2},
    {"GNF", 0}, {"GTQ", 2}, {"GYD", 2}, {"HKD", 2}, {"HNL", 2}, {"HTG", 2}, {"HUF", 2}, {"IDR", 2},
    {"ILS", 2}, {"INR", 2}, {"IQD", 3}, {"IRR", 2}, {"ISK", 0}, {"JMD", 2}, {"JOD", 3}, {"JPY", 0},
    {"KES", 2}, {"KGS", 2}, {"KHR", 2}, {"KMF", 0}, {"KPW", 2}, {"KRW", 0}, {"KWD", 3}, {"KYD", 2},
    {"KZT", 2}, {"LAK", 2}, {"LBP", 2}, {"LKR", 2}, {"LRD", 2}, {"LSL", 2}, {"LYD", 3}, {"MAD", 2},
    {"MDL", 2}, {"MGA", 2}, {"MKD", 2}, {"MMK", 2}, {"MNT", 2}, {"MOP", 2}, {"MRU", 2}, {"MUR", 2},
    {"MVR", 2}, {"MWK", 2}, {"MXN", 2}, {"MXV", 2}, {"MYR", 2}, {"MZN", 2}, {"NAD", 2}, {"NGN", 2},
    {"NIO", 2}, {"NOK", 2}, {"NPR", 2}, {"NZD", 2}, {"OMR", 3}, {"PAB", 2}, {"PEN", 2}, {"PGK", 2},
    {"PHP", 2}, {"PKR", 2}, {"PLN", 2}, {"PYG", 0}, {"QAR", 2}, {"RON", 2}, {"RSD", 2}, {"RUB", 2},
    {"RWF", 0}, {"SAR", 2}, {"SBD", 2}, {"SCR", 2}, {"SDG", 2}, {"SEK", 2}, {"SGD", 2}, {"SHP", 2},
    {"SLE", 2}, {"SLL", 2}, {"SOS", 2}, {"SRD", 2}, {"SSP", 2}, {"STN", 2}, {"SVC", 2}, {"SYP", 2},
    {"SZL", 2}, {"THB", 2}, {"TJS", 2}, {"TMT", 2}, {"TND", 3}, {"TOP", 2}, {"TRY", 2}, {"TTD", 2},
    {"TWD", 2}, {"TZS", 2}, {"UAH", 2}, {"UGX", 0}, {"USD", 2}, {"USN", 2}, {"UYI", 0}, {"UYU", 2},
    {"UYW", 4}, {"UZS", 2}, {"VED", 2}, {"VES", 2}, {"VND", 0}, {"VUV", 0}, {"WST", 2}, {"XAF", 0},
    {"XCD", 2}, {"XCG", 2}, {"XOF", 0}, {"XPF", 0}, {"YER", 2}, {"ZAR", 2}, {"ZMW", 2}, {"ZWG", 2},
    {"ZWL", 2},
};

#define CURRENCY_COUNT (sizeof(currencies) / sizeof(currencies[0]))

static int currency_cmp(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const money_currency_t *)elem)->code);
}

int money_currency_digits(const char *code)
{
    const money_currency_t *c;

    /* Exactly three upper-case ASCII letters: "eur", "EURO" and "EU" are not codes. */
    if (code == NULL || strlen(code) != 3)
        return -1;
    for (int i = 0; i < 3; i++)
        if (code[i] < 'A' || code[i] > 'Z')
            return -1;
    c = bsearch(code, currencies, CURRENCY_COUNT, sizeof(currencies[0]), currency_cmp);
    return c ? c->digits : -1;
}

bool money_currency_known(const char *code)
{
    return money_currency_digits(code) >= 0;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

money_err_t money_parse(const char *s, const char *currency, unsigned flags, int64_t *out)
{
    const char *p = s, *int_start, *frac_start = NULL;
    size_t int_len, frac_len = 0;
    bool negative = false;
    int digits = money_currency_digits(currency);
    int64_t acc = 0;

    if (digits < 0)
        return MONEY_ERR_CURRENCY;

    /* Syntax: -?(0|[1-9][0-9]*)(\.[0-9]+)? and nothing else, checked in full before any
     * value is computed, so that the reported error does not depend on where it was found. */
    if (*p == '-') {
        negative = true;
        p++;
    }
    int_start = p;
    while (is_digit(*p))
        p++;
    int_len = (size_t)(p - int_start);
    if (int_len == 0)
        return MONEY_ERR_SYNTAX; /* "", "-", ".5", "+5", " 5", "abc" */
    if (int_len > 1 && int_start[0] == '0')
        return MONEY_ERR_SYNTAX; /* "05", "00.10": ambiguous in many systems, as in JSON */
    if (*p == '.') {
        frac_start = ++p;
        while (is_digit(*p))
            p++;
        frac_len = (size_t)(p - frac_start);
        if (frac_len == 0)
            return MONEY_ERR_SYNTAX; /* "5." */
    }
    if (*p != '\0')
        return MONEY_ERR_SYNTAX; /* "1e3", "1,000", "0x10", "5 ", "1.2.3" */

    if (negative && !(flags & MONEY_ALLOW_NEGATIVE))
        return MONEY_ERR_NEGATIVE;
    /* Digits are counted as written: "1.000" in EUR is rejected even though the extra digit
     * is zero, because the producer's system evidently does not think in cents. */
    if (frac_len > (size_t)digits)
        return MONEY_ERR_PRECISION;

    /* Accumulate towards the sign so that INT64_MIN itself is representable. Each step checks
     * acc * 10 +/- d against the bound before doing it. */
    for (size_t i = 0; i < int_len + (size_t)digits; i++) {
        int d = 0;

        if (i < int_len)
            d = int_start[i] - '0';
        else if (i - int_len < frac_len)
            d = frac_start[i - int_len] - '0';
        if (negative) {
            if (acc < (INT64_MIN + d) / 10)
                return MONEY_ERR_OVERFLOW;
            acc = acc * 10 - d;
        } else {
            if (acc > (INT64_MAX - d) / 10)
                return MONEY_ERR_OVERFLOW;
            acc = acc * 10 + d;
        }
    }
    *out = acc;
    return MONEY_OK;
}

int money_format(int64_t minor, const char *currency, char *buf, size_t size)
{
    int digits = money_currency_digits(currency);
    uint64_t mag, scale = 1;
    int n;

    if (size > 0)
        buf[0] = '\0';
    if (digits < 0 || size == 0)
        return -1;
    /* The magnitude as unsigned, so that INT64_MIN does not overflow when negated. */
    mag = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    for (int i = 0; i < digits; i++)
        scale *= 10;
    if (digits == 0)
        n = snprintf(buf, size, "%s%llu", minor < 0 ? "-" : "", (unsigned long long)mag);
    else
        n = snprintf(buf, size, "%s%llu.%0*llu", minor < 0 ? "-" : "",
                     (unsigned long long)(mag / scale), digits, (unsigned long long)(mag % scale));
    if (n < 0 || (size_t)n >= size) {
        buf[0] = '\0';
        return -1;
    }
    return n;
}

bool money_add(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;

    if (__builtin_add_overflow(a, b, &r))
        return false;
    *out = r;
    return true;
}

bool money_sub(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;

    if (__builtin_sub_overflow(a, b, &r))
        return false;
    *out = r;
    return true;
}

const char *money_err_code(money_err_t err)
{
    switch (err) {
    case MONEY_OK:
        return "ok";
    case MONEY_ERR_CURRENCY:
        return "invalid_currency";
    case MONEY_ERR_SYNTAX:
    case MONEY_ERR_PRECISION:
    case MONEY_ERR_NEGATIVE:
    case MONEY_ERR_OVERFLOW:
        break;
    }
    return "invalid_amount";
}

const char *money_strerror(money_err_t err)
{
    switch (err) {
    case MONEY_OK:
        return "ok";
    case MONEY_ERR_SYNTAX:
        return "not a plain decimal number";
    case MONEY_ERR_PRECISION:
        return "more decimals than the currency allows";
    case MONEY_ERR_NEGATIVE:
        return "negative amount not allowed";
    case MONEY_ERR_OVERFLOW:
        return "amount does not fit in 64-bit minor units";
    case MONEY_ERR_CURRENCY:
        return "unknown ISO 4217 currency";
    }
    return "unknown money error";
}
