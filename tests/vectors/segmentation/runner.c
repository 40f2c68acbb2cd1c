/* runner.c - segmentation vectors: a case's features in, segment, rule, overlay, variant and next
 * strategy step out, checked against the case folder's expect.json.
 *
 * A case folder holds:
 *   features.json  {"creditor_id", "debtor_id", "features": {<segment_features_from_json()>},
 *                   "last_step_done": n (optional, default 0)}; the features' days_in_segment
 *                   is the day the next step is computed for
 *   expect.json    any of "segment", "rule", "high_value", "senior_agent", "strategy",
 *                  "variant", and "next": null (the ladder is exhausted) or any of "step",
 *                  "day", "due", "repeat", "action", "channel", "template", "priority", "reason"
 *   policy.json    optional: the policy to use instead of deploy/policy/default.json
 * Only the keys given in expect.json are compared. Every case is evaluated twice to check that
 * the same input gives the same output. Exit 0 on pass, 1 with one line on stderr on failure. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "policy.h"
#include "segment.h"
#include "strategy.h"
#include "vecutil.h"

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

/* Compares expect[key] (when present) with a string, an integer or a boolean actual value. */
static int check_str(const json_t *expect, const char *key, const char *actual)
{
    json_t *e = json_object_get(expect, key);

    if (e == NULL)
        return 0;
    if (!json_is_string(e) || actual == NULL || strcmp(json_string_value(e), actual) != 0)
        return fail("%s: expected \"%s\", got \"%s\"", key,
                    json_is_string(e) ? json_string_value(e) : "?", actual ? actual : "(null)");
    return 0;
}

static int check_int(const json_t *expect, const char *key, long long actual)
{
    json_t *e = json_object_get(expect, key);

    if (e == NULL)
        return 0;
    if (!json_is_integer(e) || json_integer_value(e) != actual)
        return fail("%s: expected %lld, got %lld", key,
                    json_is_integer(e) ? (long long)json_integer_value(e) : -999999, actual);
    return 0;
}

static int check_bool(const json_t *expect, const char *key, bool actual)
{
    json_t *e = json_object_get(expect, key);

    if (e == NULL)
        return 0;
    if (!json_is_boolean(e) || json_is_true(e) != actual)
        return fail("%s: expected %s, got %s", key, json_is_true(e) ? "true" : "false",
                    actual ? "true" : "false");
    return 0;
}

static int only_keys(const json_t *obj, const char *what, const char *const *allowed)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)obj, key, v)
    {
        size_t i;
        for (i = 0; allowed[i] != NULL; i++)
            if (strcmp(allowed[i], key) == 0)
                break;
        if (allowed[i] == NULL)
            return fail("%s: unknown key \"%s\"", what, key);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const char *const expect_keys[] = {"segment",  "rule",    "high_value", "senior_agent",
                                              "strategy", "variant", "next",       NULL};
    static const char *const next_keys[] = {"step",    "day",      "due",      "repeat", "action",
                                            "channel", "template", "priority", "reason", NULL};
    const char *src = getenv("RECOBRO_SOURCE_DIR");
    json_t *input = NULL, *expect = NULL, *next_e;
    segment_features_t features;
    segment_result_t r1, r2;
    strategy_next_t n1, n2;
    strategy_status_t s1, s2;
    policy_t *policy = NULL;
    char err[POLICY_ERR_MAX], path[4096];
    const char *creditor, *debtor;
    int last_done = 0, rc = 1;

    if (argc != 2)
        return fail("usage: %s CASE_DIR", argv[0]);
    input = vec_load(argv[1], "features.json", true);
    expect = vec_load(argv[1], "expect.json", true);
    if (input == NULL || expect == NULL)
        goto out;
    if (only_keys(expect, "expect.json", expect_keys) != 0)
        goto out;

    snprintf(path, sizeof(path), "%s/policy.json", argv[1]);
    if (access(path, F_OK) != 0)
        snprintf(path, sizeof(path), "%s/deploy/policy/default.json", src ? src : ".");
    policy = policy_load_file(path, err, sizeof(err));
    if (policy == NULL) {
        fail("policy: %s", err);
        goto out;
    }

    creditor = json_string_value(json_object_get(input, "creditor_id"));
    debtor = json_string_value(json_object_get(input, "debtor_id"));
    if (creditor == NULL || debtor == NULL) {
        fail("features.json: creditor_id and debtor_id are required strings");
        goto out;
    }
    if (json_object_get(input, "last_step_done") != NULL)
        last_done = (int)json_integer_value(json_object_get(input, "last_step_done"));
    if (segment_features_from_json(json_object_get(input, "features"), &features, err,
                                   sizeof(err)) != 0) {
        fail("features.json: features.%s", err);
        goto out;
    }

    if (policy_segment(policy, &features, creditor, debtor, &r1) != SEGMENT_OK ||
        policy_segment(policy, &features, creditor, debtor, &r2) != SEGMENT_OK) {
        fail("policy_segment failed");
        goto out;
    }
    if (memcmp(&r1, &r2, sizeof(r1)) != 0) {
        fail("policy_segment gave two different results for the same input");
        goto out;
    }
    if (check_str(expect, "segment", segment_name(r1.segment)) ||
        check_str(expect, "rule", r1.rule_id) || check_bool(expect, "high_value", r1.high_value) ||
        check_bool(expect, "senior_agent", r1.senior_agent) ||
        check_str(expect, "strategy", r1.strategy) || check_str(expect, "variant", r1.variant))
        goto out;

    s1 = strategy_next_step(policy_strategy_for(policy, r1.segment), &r1, features.days_in_segment,
                            last_done, &n1);
    s2 = strategy_next_step(policy_strategy_for(policy, r1.segment), &r1, features.days_in_segment,
                            last_done, &n2);
    if (s1 < 0 || s1 != s2 || (s1 == STRATEGY_STEP && memcmp(&n1, &n2, sizeof(n1)) != 0)) {
        fail("strategy_next_step failed or was not repeatable (status %d)", (int)s1);
        goto out;
    }
    next_e = json_object_get(expect, "next");
    if (next_e != NULL) {
        if (json_is_null(next_e)) {
            if (s1 != STRATEGY_NONE) {
                fail("next: expected none, got step %d (%s)", n1.step, n1.reason);
                goto out;
            }
        } else {
            if (only_keys(next_e, "expect.json next", next_keys) != 0)
                goto out;
            if (s1 != STRATEGY_STEP) {
                fail("next: expected a step, the ladder is exhausted");
                goto out;
            }
            if (check_int(next_e, "step", n1.step) || check_int(next_e, "day", n1.day) ||
                check_bool(next_e, "due", n1.due) || check_bool(next_e, "repeat", n1.repeat) ||
                check_str(next_e, "action", vocab_action_name(n1.action)) ||
                check_str(next_e, "channel", vocab_channel_name(n1.channel)) ||
                check_str(next_e, "template", n1.template_name) ||
                check_int(next_e, "priority", n1.priority) ||
                check_str(next_e, "reason", n1.reason))
                goto out;
        }
    }
    rc = 0;
out:
    policy_free(policy);
    json_decref(input);
    json_decref(expect);
    return rc;
}
