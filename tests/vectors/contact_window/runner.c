/* runner.c - the contact_window vector suite: one contact decision per case folder.
 *
 * A case is a folder holding case.json:
 *   {
 *     "about": "...",                               optional: what the case shows
 *     "zone": "Europe/Madrid",                      the debtor's IANA zone
 *     "now": "2026-11-23T07:00:00+01:00",           RFC 3339 with an offset
 *     "rules": { ... },                             optional: the policy's contact section
 *     "state": {                                    optional, every key optional
 *       "call_attempts": ["<RFC 3339>", ...], "last_rpc_at": "<RFC 3339>",
 *       "do_not_call": true, "do_not_sms": true, "do_not_email": true,
 *       "cease_communication": true, "dispute_open": true,
 *       "forbearance": {"from": "YYYY-MM-DD", "until": "YYYY-MM-DD"},   (until inclusive)
 *       "country": "ES"
 *     },
 *     "action": "call",                             optional (absent: a collection action)
 *     "channel": "phone",
 *     "expect": {"decision": "allow|defer|suppress", "reason": "...",
 *                "not_before": "<RFC 3339, local offset>", "not_after": "...",
 *                "calls_left": 7}                   calls_left optional
 *   }
 * not_before/not_after are compared as text (so the local offset is checked) and as instants.
 * Exits 0 when the decision matches, 1 with one line on stderr otherwise. */
#include <glib.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "contact.h"

static int failf(const char *dir, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int failf(const char *dir, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", dir);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

/* Parses an RFC 3339 instant that carries its own offset ("Z" or "+hh:mm"). */
static bool parse_instant(const char *s, int64_t *out)
{
    size_t n = s == NULL ? 0 : strlen(s);
    GDateTime *dt;

    if (n < 20 || !(s[n - 1] == 'Z' || s[n - 6] == '+' || s[n - 6] == '-'))
        return false; /* no offset: GLib would use the machine's zone */
    dt = g_date_time_new_from_iso8601(s, NULL);
    if (dt == NULL)
        return false;
    *out = g_date_time_to_unix(dt);
    g_date_time_unref(dt);
    return true;
}

static const char *str_or_null(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* Fills *st from the case's "state"; attempts[] receives the call attempt instants. */
static int read_state(const char *dir, const json_t *js, const char *zone, contact_state_t *st,
                      int64_t *attempts, size_t max_attempts)
{
    const json_t *calls = json_object_get(js, "call_attempts");
    const json_t *forb = json_object_get(js, "forbearance");
    size_t i;
    json_t *item;

    if (calls != NULL) {
        if (!json_is_array(calls) || json_array_size(calls) > max_attempts)
            return failf(dir, "state.call_attempts must be an array of at most %zu", max_attempts);
        json_array_foreach(calls, i, item)
        {
            if (!parse_instant(json_string_value(item), &attempts[i]))
                return failf(dir, "state.call_attempts[%zu] is not an RFC 3339 instant", i);
        }
        st->call_attempts = attempts;
        st->n_call_attempts = json_array_size(calls);
    }
    if (json_object_get(js, "last_rpc_at") != NULL &&
        !parse_instant(str_or_null(js, "last_rpc_at"), &st->last_rpc_at))
        return failf(dir, "state.last_rpc_at is not an RFC 3339 instant");
    st->do_not_call = json_is_true(json_object_get(js, "do_not_call"));
    st->do_not_sms = json_is_true(json_object_get(js, "do_not_sms"));
    st->do_not_email = json_is_true(json_object_get(js, "do_not_email"));
    st->cease_communication = json_is_true(json_object_get(js, "cease_communication"));
    st->dispute_open = json_is_true(json_object_get(js, "dispute_open"));
    st->country = str_or_null(js, "country");
    if (forb != NULL &&
        contact_forbearance_interval(zone, str_or_null(forb, "from"), str_or_null(forb, "until"),
                                     &st->forbearance_from, &st->forbearance_until) != 0)
        return failf(dir, "state.forbearance is not {\"from\": date, \"until\": date}");
    return 0;
}

/* Compares one bound of the decision with the expected text. */
static int check_bound(const char *dir, const char *name, const json_t *expect, int64_t got,
                       const char *zone)
{
    const char *want = str_or_null(expect, name);
    char text[CONTACT_INSTANT_MAX];
    int64_t want_t;

    if (want == NULL)
        return failf(dir, "expect.%s is missing", name);
    if (!parse_instant(want, &want_t))
        return failf(dir, "expect.%s \"%s\" is not an RFC 3339 instant", name, want);
    if (contact_format_instant(got, zone, text, sizeof(text)) < 0)
        return failf(dir, "contact_format_instant failed for %s", name);
    if (strcmp(text, want) != 0 || got != want_t)
        return failf(dir, "%s: got %s, want %s", name, text, want);
    return 0;
}

static int run_case(const char *dir, const json_t *c)
{
    const char *zone = str_or_null(c, "zone"), *action = str_or_null(c, "action");
    const json_t *expect = json_object_get(c, "expect");
    const char *want_decision = str_or_null(expect, "decision");
    const char *want_reason = str_or_null(expect, "reason");
    contact_state_t st = CONTACT_STATE_INIT;
    contact_rules_t rules;
    contact_decision_t d;
    vocab_channel_t ch;
    int64_t now, attempts[64];
    char err[CONTACT_ERR_MAX];

    if (zone == NULL || !parse_instant(str_or_null(c, "now"), &now))
        return failf(dir, "case.json needs \"zone\" and an RFC 3339 \"now\" with an offset");
    if (vocab_channel_from_name(str_or_null(c, "channel"), &ch) != 0)
        return failf(dir, "unknown channel");
    if (want_decision == NULL || want_reason == NULL)
        return failf(dir, "expect needs \"decision\" and \"reason\"");
    if (contact_rules_from_json(json_object_get(c, "rules"), &rules, err, sizeof(err)) != 0)
        return failf(dir, "rules rejected: %s", err);
    if (json_object_get(c, "state") != NULL &&
        read_state(dir, json_object_get(c, "state"), zone, &st, attempts, 64) != 0)
        return 1;

    if (contact_decide(&rules, &st, action, ch, now, zone, &d) != 0)
        return failf(dir, "contact_decide failed (unknown zone?)");
    if (strcmp(contact_verdict_name(d.verdict), want_decision) != 0 ||
        strcmp(d.reason, want_reason) != 0)
        return failf(dir, "decision: got %s/%s, want %s/%s", contact_verdict_name(d.verdict),
                     d.reason, want_decision, want_reason);
    if (d.verdict != CONTACT_SUPPRESS) {
        if (check_bound(dir, "not_before", expect, d.not_before, zone) != 0 ||
            check_bound(dir, "not_after", expect, d.not_after, zone) != 0)
            return 1;
    }
    if (json_object_get(expect, "calls_left") != NULL) {
        int got = contact_calls_left(&rules, &st, now);
        json_int_t want = json_integer_value(json_object_get(expect, "calls_left"));
        if (got != want)
            return failf(dir, "calls_left: got %d, want %lld", got, (long long)want);
    }
    return 0;
}

int main(int argc, char **argv)
{
    char path[4096];
    json_error_t jerr;
    json_t *c;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: %s CASE_DIR\n", argv[0]);
        return 2;
    }
    snprintf(path, sizeof(path), "%s/case.json", argv[1]);
    c = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (c == NULL)
        return failf(argv[1], "case.json: %s (line %d)", jerr.text, jerr.line);
    rc = run_case(argv[1], c);
    json_decref(c);
    return rc;
}
