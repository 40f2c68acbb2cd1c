/* money.h - exact money: decimal strings <-> 64-bit integer minor units, by ISO 4217 currency.
 *
 * Money is never held in floating point. An amount is an int64_t count of the currency's minor
 * units (cents for EUR, yen for JPY, fils for KWD). Parsing accepts exactly what CONTRACT.md
 * allows: a JSON string holding a plain decimal number ("120.00", "99.5", "1500") with at most
 * the currency's minor-unit digits. Arithmetic helpers report overflow instead of wrapping.
 *
 * The accepted grammar is deliberately the strictest reasonable one, the JSON number grammar
 * without exponent:  -?(0|[1-9][0-9]*)(\.[0-9]+)?
 *   accepted: "0", "0.5", "120.00", "99.5", "1500", "-3.50" (with MONEY_ALLOW_NEGATIVE)
 *   rejected: "" "-" "+5" " 5" "5 " "5." ".5" "05" "00.10" "1e3" "1,000" "0x10" "1.2.3" "NaN"
 * Rationale: a financial API should accept exactly one spelling family; "5." and ".5" look
 * like truncated values, and a leading zero ("05") is what a fixed-width or octal field leaks.
 * Fraction digits are counted as written: "1.000" in EUR is a precision error even though the
 * extra digit is zero. "-0" and "-0.00" are negative spellings (rejected without
 * MONEY_ALLOW_NEGATIVE, 0 with it). Errors are reported in this order: currency, syntax, sign,
 * precision, range. */
#ifndef RECOBRO_MONEY_H
#define RECOBRO_MONEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest text money_format() writes, with its terminating NUL. */
#define MONEY_FMT_MAX 32

typedef enum {
    MONEY_OK = 0,
    MONEY_ERR_SYNTAX = -1,    /* not a plain decimal number (empty, sign misuse, exponent...) */
    MONEY_ERR_PRECISION = -2, /* more decimals than the currency has */
    MONEY_ERR_NEGATIVE = -3,  /* negative where MONEY_ALLOW_NEGATIVE was not given */
    MONEY_ERR_OVERFLOW = -4,  /* does not fit in 64-bit minor units */
    MONEY_ERR_CURRENCY = -5,  /* not a known ISO 4217 alphabetic code */
} money_err_t;

/* Flags for money_parse(). */
#define MONEY_ALLOW_NEGATIVE 0x1

/* Minor-unit digits of an ISO 4217 code (e.g. 2 for "EUR", 0 for "JPY", 3 for "KWD", 4 for
 * "CLF"), or -1 when the code is unknown. The table (money.c) holds every code of ISO 4217 list
 * one that has minor units, plus those still in their withdrawal period; proto/schemas'
 * currency enum is checked against it. `code` may be NULL (returns -1). */
int money_currency_digits(const char *code);

/* True when `code` is a known ISO 4217 code (exactly three upper-case letters in the table).
 * `code` may be NULL (false). */
bool money_currency_known(const char *code);

/* Parses the decimal text `s` in `currency` into minor units in *out. Returns MONEY_OK or a
 * negative money_err_t; *out is untouched on error. `s` and `currency` may not be NULL. */
__attribute__((warn_unused_result)) money_err_t money_parse(const char *s, const char *currency,
                                                            unsigned flags, int64_t *out);

/* Writes `minor` in `currency` as a decimal string with exactly the currency's digits
 * ("120.00", "-3.50", "1500") into buf (at least MONEY_FMT_MAX bytes). Returns the length, or
 * -1 when the currency is unknown (buf then holds ""). */
int money_format(int64_t minor, const char *currency, char *buf, size_t size);

/* *out = a + b, or a - b. Return false (and leave *out untouched) on overflow. */
__attribute__((warn_unused_result)) bool money_add(int64_t a, int64_t b, int64_t *out);
__attribute__((warn_unused_result)) bool money_sub(int64_t a, int64_t b, int64_t *out);

/* A stable error code for the DLQ ("invalid_amount" for every parse error but an unknown
 * currency, which is "invalid_currency") and a short English text for `err`. Never NULL. */
const char *money_err_code(money_err_t err);
const char *money_strerror(money_err_t err);

#endif
