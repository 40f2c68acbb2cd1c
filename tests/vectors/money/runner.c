/* runner.c - the money vector suite: parse one case's text with money_parse(), format it back.
 *
 * A case is a folder holding:
 *   input     the amount text; read as is, except that one trailing newline is dropped (so an
 *             editor's final newline does not matter; spaces are kept)
 *   currency  the ISO 4217 code (surrounding white space trimmed)
 *   flags     optional: "allow_negative"
 *   expect    "ok <minor> <formatted>" or "err <syntax|precision|negative|overflow|currency>"
 * Exits 0 when the result matches, 1 with one line on stderr otherwise. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "money.h"

/* Reads the file `name` of folder `dir` into buf (NUL-terminated). Returns its length, or -1
 * when it cannot be read (and -2 when it does not exist, for optional files). */
static long read_case_file(const char *dir, const char *name, char *buf, size_t size)
{
    char path[4096];
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (f == NULL)
        return errno == ENOENT ? -2 : -1;
    n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (long)n;
}

static void trim(char *s)
{
    size_t n = strlen(s), start = 0;

    while (n > 0 && strchr(" \t\r\n", s[n - 1]) != NULL)
        s[--n] = '\0';
    while (s[start] != '\0' && strchr(" \t\r\n", s[start]) != NULL)
        start++;
    memmove(s, s + start, n - start + 1);
}

static const char *err_name(money_err_t e)
{
    switch (e) {
    case MONEY_OK:
        return "ok";
    case MONEY_ERR_SYNTAX:
        return "syntax";
    case MONEY_ERR_PRECISION:
        return "precision";
    case MONEY_ERR_NEGATIVE:
        return "negative";
    case MONEY_ERR_OVERFLOW:
        return "overflow";
    case MONEY_ERR_CURRENCY:
        return "currency";
    }
    return "?";
}

static int fail(const char *dir, const char *why)
{
    fprintf(stderr, "FAIL %s: %s\n", dir, why);
    return 1;
}

int main(int argc, char **argv)
{
    char input[512], currency[64], flags_text[128], expect[512], why[1024];
    char want_kind[16] = "", want_a[128] = "", want_b[128] = "";
    unsigned flags = 0;
    long n;
    int64_t minor = 0;
    money_err_t rc;
    const char *dir;

    if (argc != 2) {
        fprintf(stderr, "usage: %s CASE_DIR\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    n = read_case_file(dir, "input", input, sizeof(input));
    if (n < 0)
        return fail(dir, "cannot read 'input'");
    if (n > 0 && input[n - 1] == '\n')
        input[n - 1] = '\0';
    if (read_case_file(dir, "currency", currency, sizeof(currency)) < 0)
        return fail(dir, "cannot read 'currency'");
    trim(currency);
    if (read_case_file(dir, "expect", expect, sizeof(expect)) < 0)
        return fail(dir, "cannot read 'expect'");
    n = read_case_file(dir, "flags", flags_text, sizeof(flags_text));
    if (n == -1)
        return fail(dir, "cannot read 'flags'");
    if (n >= 0) {
        trim(flags_text);
        if (strcmp(flags_text, "allow_negative") == 0)
            flags |= MONEY_ALLOW_NEGATIVE;
        else if (flags_text[0] != '\0')
            return fail(dir, "unknown flag in 'flags'");
    }
    if (sscanf(expect, "%15s %127s %127s", want_kind, want_a, want_b) < 2)
        return fail(dir, "'expect' must be 'ok <minor> <formatted>' or 'err <name>'");

    rc = money_parse(input, currency, flags, &minor);
    if (strcmp(want_kind, "err") == 0) {
        if (rc == MONEY_OK) {
            snprintf(why, sizeof(why), "expected err %s, got ok %" PRId64, want_a, minor);
            return fail(dir, why);
        }
        if (strcmp(err_name(rc), want_a) != 0) {
            snprintf(why, sizeof(why), "expected err %s, got err %s", want_a, err_name(rc));
            return fail(dir, why);
        }
        return 0;
    }
    if (strcmp(want_kind, "ok") == 0) {
        char got_minor[32], formatted[MONEY_FMT_MAX];

        if (rc != MONEY_OK) {
            snprintf(why, sizeof(why), "expected ok %s, got err %s", want_a, err_name(rc));
            return fail(dir, why);
        }
        snprintf(got_minor, sizeof(got_minor), "%" PRId64, minor);
        if (strcmp(got_minor, want_a) != 0) {
            snprintf(why, sizeof(why), "expected minor %s, got %s", want_a, got_minor);
            return fail(dir, why);
        }
        if (money_format(minor, currency, formatted, sizeof(formatted)) < 0)
            return fail(dir, "money_format failed");
        if (strcmp(formatted, want_b) != 0) {
            snprintf(why, sizeof(why), "expected formatted %s, got %s", want_b, formatted);
            return fail(dir, why);
        }
        /* The formatted text must parse back to the same value: formatting is canonical. */
        {
            int64_t again = 0;

            if (money_parse(formatted, currency, MONEY_ALLOW_NEGATIVE, &again) != MONEY_OK ||
                again != minor)
                return fail(dir, "formatted text does not parse back to the same value");
        }
        return 0;
    }
    return fail(dir, "'expect' must start with 'ok' or 'err'");
}
