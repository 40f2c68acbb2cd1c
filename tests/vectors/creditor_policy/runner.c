/* runner.c - per-creditor policy vectors: which policy each case is planned under
 * (policyset.h), and what that policy then decides, with no I/O.
 *
 * A case folder holds set.json:
 *   {"policies": [{"file": "deploy/policy/es.json" (from the source tree) | "policy": {...},
 *                  "creditor": "acme" (absent: the default policy),
 *                  "patch": {"version": 7, "name": "x"} (optional top-level keys to replace)},
 *                 ...],
 *    "cases": [{"creditor_id", "debtor_id", "features": {segment.h's features},
 *               "expect": {"policy_id", "policy_version", "segment", "rule", "own": bool}
 *                 | {"policy": null} (no policy applies)}, ...]}
 * Policies are added in order (a later one replaces the scope's earlier one). Exit 0 on pass, 1
 * with one line on stderr per failure. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "policy.h"
#include "policyset.h"
#include "segment.h"

static int failures;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    failures++;
}

/* One entry of "policies" parsed (the file or the inline document, patched). */
static policy_t *policy_of(const json_t *entry, size_t i)
{
    const char *src = getenv("RECOBRO_SOURCE_DIR"), *file;
    char path[4096], err[POLICY_ERR_MAX];
    json_t *doc;

    if ((file = json_string_value(json_object_get(entry, "file"))) != NULL) {
        snprintf(path, sizeof(path), "%s/%s", src ? src : ".", file);
        doc = json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
    } else {
        doc = json_deep_copy(json_object_get(entry, "policy"));
    }
    if (doc == NULL) {
        fail("policies[%zu]: no file or policy", i);
        return NULL;
    }
    json_object_update(doc, json_object_get(entry, "patch"));
    char *text = json_dumps(doc, 0);
    json_decref(doc);
    policy_t *p = policy_parse(text, err, sizeof(err));
    free(text);
    if (p == NULL)
        fail("policies[%zu]: %s", i, err);
    return p;
}

static void check_case(const policyset_t *set, const json_t *c, size_t i)
{
    const char *cr = json_string_value(json_object_get(c, "creditor_id"));
    const char *db = json_string_value(json_object_get(c, "debtor_id"));
    const json_t *ex = json_object_get(c, "expect");
    const policy_t *p = policyset_for(set, cr);
    segment_features_t f;
    segment_result_t r;
    char err[POLICY_ERR_MAX];

    if (json_is_null(json_object_get(ex, "policy"))) {
        if (p != NULL)
            fail("cases[%zu]: expected no policy, got version %d", i, p->version);
        return;
    }
    if (p == NULL || cr == NULL || db == NULL) {
        fail("cases[%zu]: no policy applies (or no creditor_id/debtor_id)", i);
        return;
    }
    if (segment_features_from_json(json_object_get(c, "features"), &f, err, sizeof(err)) != 0 ||
        policy_segment(p, &f, cr, db, &r) != SEGMENT_OK) {
        fail("cases[%zu]: features or segmentation failed: %s", i, err);
        return;
    }
    const char *want_id = json_string_value(json_object_get(ex, "policy_id"));
    const char *want_seg = json_string_value(json_object_get(ex, "segment"));
    const char *want_rule = json_string_value(json_object_get(ex, "rule"));
    const json_t *own = json_object_get(ex, "own");
    if (json_integer_value(json_object_get(ex, "policy_version")) != r.policy_version)
        fail("cases[%zu]: policy_version %d", i, r.policy_version);
    if (want_id != NULL && strcmp(want_id, p->name) != 0)
        fail("cases[%zu]: policy_id \"%s\"", i, p->name);
    if (want_seg != NULL && strcmp(want_seg, segment_name(r.segment)) != 0)
        fail("cases[%zu]: segment %s", i, segment_name(r.segment));
    if (want_rule != NULL && strcmp(want_rule, r.rule_id) != 0)
        fail("cases[%zu]: rule %s", i, r.rule_id);
    if (own != NULL && json_is_true(own) != (policyset_own(set, cr) != NULL))
        fail("cases[%zu]: own policy %s", i, json_is_true(own) ? "expected" : "not expected");
}

int main(int argc, char **argv)
{
    char path[4096];
    json_error_t jerr;
    size_t i;
    json_t *e;

    if (argc != 2) {
        fprintf(stderr, "usage: %s CASE_DIR\n", argv[0]);
        return 1;
    }
    snprintf(path, sizeof(path), "%s/set.json", argv[1]);
    json_t *in = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    policyset_t *set = policyset_new();
    if (in == NULL || set == NULL) {
        fprintf(stderr, "%s: line %d: %s\n", path, jerr.line, jerr.text);
        return 1;
    }
    json_array_foreach(json_object_get(in, "policies"), i, e)
    {
        policy_t *p = policy_of(e, i);
        const char *cr = json_string_value(json_object_get(e, "creditor"));
        if (p != NULL && policyset_add(set, cr, p) != 0)
            fail("policies[%zu]: policyset_add refused it", i);
    }
    json_array_foreach(json_object_get(in, "cases"), i, e)
    {
        check_case(set, e, i);
    }
    if (json_array_size(json_object_get(in, "cases")) == 0)
        fail("set.json: no cases");
    policyset_free(set);
    json_decref(in);
    return failures ? 1 : 0;
}
