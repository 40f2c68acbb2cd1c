/* test_limits.c - the limits of ids, names and free text agree between the contract (JSON
 * Schema's maxLength, in characters) and the code: for every limited field of every input type,
 * a value of exactly the limit in 1-, 2-, 3- and 4-byte UTF-8 characters is accepted, one more
 * character is refused as schema_violation; and the domain keeps such values whole (never
 * blanked), and keeps what it knew when a re-send omits an optional field. The base events are
 * the valid examples of proto/examples/valid. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "casefile.h"
#include "cloudevent.h"
#include "validate.h"

/* One character of each UTF-8 width: a, é, 中, 😀. */
static const char *const chars[] = {"a", "\xc3\xa9", "\xe4\xb8\xad", "\xf0\x9f\x98\x80"};

typedef struct limit {
    const char *example; /* proto/examples/valid/<example>.json */
    const char *path;    /* "data.debtor.name"; "id" / "source" for the envelope */
    size_t max;          /* characters */
    const char *suffix;  /* appended after the characters ("@example.com" for an e-mail) */
} limit_t;

static const limit_t limits[] = {
    {"invoice.overdue--first-notice-eur", "id", 256, ""},
    {"invoice.overdue--first-notice-eur", "source", 1024, ""},
    {"invoice.overdue--first-notice-eur", "data.creditor_name", 256, ""},
    {"invoice.overdue--first-notice-eur", "data.debtor.name", 256, ""},
    {"invoice.overdue--first-notice-eur", "data.debtor.id", 64, ""}, /* and data.debtor_id */
    {"invoice.overdue--first-notice-eur", "data.debtor.email", 64, "@example.com"},
    {"invoice.overdue--first-notice-eur", "data.invoice.id", 128, ""},
    {"invoice.overdue--first-notice-eur", "data.invoice.number", 128, ""},
    {"invoice.adjusted--late-fee-removed", "data.invoice_id", 128, ""},
    {"invoice.adjusted--late-fee-removed", "data.debtor_id", 64, ""},
    {"invoice.cancelled--billing-error", "data.reason", 1000, ""},
    {"payment.received--partial-transfer", "data.payment_id", 128, ""},
    {"payment.reversed--bounced-direct-debit", "data.payment_id", 128, ""},
    {"contact.attempted--right-party-call", "data.agent_id", 128, ""},
    {"contact.attempted--sms-delivered", "data.task_id", 128, ""},
    {"promise.made--supervisor-approved", "data.promise_id", 128, ""},
    {"promise.made--supervisor-approved", "data.approved_by", 128, ""},
    {"plan.agreed--three-installments", "data.plan_id", 128, ""},
    {"debt.disputed--not-my-contract", "data.reason", 1000, ""},
    {"debt.disputed--not-my-contract", "data.invoice_id", 128, ""},
    {"forbearance.granted--hardship-30-days", "data.reason", 1000, ""},
};

static json_t *load_example(const char *name)
{
    const char *src = getenv("RECOBRO_SOURCE_DIR");
    char path[1024];
    json_error_t jerr;

    snprintf(path, sizeof(path), "%s/proto/examples/valid/%s.json", src ? src : ".", name);
    json_t *ev = json_load_file(path, 0, &jerr);
    if (ev == NULL)
        fail_msg("%s: %s", path, jerr.text);
    return ev;
}

/* n copies of c, then suffix: a new string. */
static char *repeat(const char *c, size_t n, const char *suffix)
{
    size_t w = strlen(c);
    char *s = malloc(w * n + strlen(suffix) + 1);

    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * w, c, w);
    strcpy(s + w * n, suffix);
    return s;
}

/* Sets the string at a dotted path of ev (the parents exist). */
static void set_path(json_t *ev, const char *path, const char *value)
{
    char buf[128], *last;
    json_t *o = ev;

    snprintf(buf, sizeof(buf), "%s", path);
    while ((last = strchr(buf, '.')) != NULL) {
        *last = '\0';
        o = json_object_get(o, buf);
        assert_non_null(o);
        memmove(buf, last + 1, strlen(last + 1) + 1);
    }
    json_object_set_new(o, buf, json_string(value));
}

/* ce_parse() + validate_event() of ev: 0, or -1 with *err. */
static int check(const json_t *ev, reason_t *err)
{
    char *text = json_dumps(ev, JSON_COMPACT);
    ce_event_t parsed = CE_EVENT_INIT;
    int rc =
        ce_parse(text, strlen(text), &parsed, err) < 0 || validate_event(&parsed, err) < 0 ? -1 : 0;

    ce_event_clear(&parsed);
    free(text);
    return rc;
}

static void test_every_limit_in_every_width(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        const limit_t *l = &limits[i];
        for (size_t w = 0; w < 4; w++) {
            for (size_t extra = 0; extra <= 1; extra++) {
                json_t *ev = load_example(l->example);
                char *v = repeat(chars[w], l->max + extra, l->suffix);
                reason_t err = {NULL, ""};
                set_path(ev, l->path, v);
                if (strcmp(l->path, "data.debtor.id") == 0)
                    set_path(ev, "data.debtor_id", v);
                int rc = check(ev, &err);
                if (extra == 0 && rc != 0)
                    fail_msg("%s %s: %zu chars of %zu bytes refused: %s %s", l->example, l->path,
                             l->max, w + 1, err.code, err.detail);
                if (extra == 1 && (rc == 0 || strcmp(err.code, "schema_violation") != 0))
                    fail_msg("%s %s: %zu chars of %zu bytes accepted (%s)", l->example, l->path,
                             l->max + 1, w + 1, rc == 0 ? "ok" : err.code);
                free(v);
                json_decref(ev);
            }
        }
    }
}

/* An invoice.overdue with every limited field at its limit in 4-byte characters, applied to a
 * case: every value kept whole. */
static void test_domain_keeps_values_at_the_limit(void **state)
{
    (void)state;
    for (size_t w = 0; w < 4; w++) {
        json_t *ev = load_example("invoice.overdue--first-notice-eur");
        char *debtor = repeat(chars[w], 64, ""), *name = repeat(chars[w], 256, "");
        char *inv = repeat(chars[w], 128, ""), *email = repeat(chars[w], 64, "@example.com");
        reason_t err = {NULL, ""};
        casefile_t cf;

        set_path(ev, "data.debtor_id", debtor);
        set_path(ev, "data.debtor.id", debtor);
        set_path(ev, "data.debtor.name", name);
        set_path(ev, "data.creditor_name", name);
        set_path(ev, "data.debtor.email", email);
        set_path(ev, "data.invoice.id", inv);
        set_path(ev, "data.invoice.number", inv);
        assert_int_equal(check(ev, &err), 0);
        assert_int_equal(casefile_init(&cf, "acme", debtor), 0);
        json_t *data = json_object_get(ev, "data");
        if (casefile_apply_event(&cf, "invoice.overdue", data, &err) != 0)
            fail_msg("%zu-byte characters: %s %s", w + 1, err.code, err.detail);
        assert_string_equal(cf.debtor_id, debtor);
        assert_string_equal(cf.debtor_name, name);
        assert_string_equal(cf.creditor_name, name);
        assert_string_equal(cf.email, email);
        assert_non_null(casefile_find_invoice(&cf, inv));
        assert_string_equal(casefile_find_invoice(&cf, inv)->number, inv);

        /* A re-send without the optional e-mail and phone keeps them. */
        json_object_del(json_object_get(data, "debtor"), "email");
        json_object_del(json_object_get(data, "debtor"), "phone");
        assert_int_equal(casefile_apply_event(&cf, "invoice.overdue", data, &err), 0);
        assert_string_equal(cf.email, email);
        assert_string_equal(cf.phone, "+34600111222");
        casefile_clear(&cf);
        free(debtor);
        free(name);
        free(inv);
        free(email);
        json_decref(ev);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_limit_in_every_width),
        cmocka_unit_test(test_domain_keeps_values_at_the_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
