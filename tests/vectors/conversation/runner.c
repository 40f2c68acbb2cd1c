/* runner.c - conversation vectors: the policy's objection codes, hardship codes and stage rules
 * (conversation.h) over a case's features, event by event, with no I/O.
 *
 * A case folder holds:
 *   steps.json   {"features": {...} (optional start), "steps": [{"type": "contact.attempted",
 *                 "data": {...}, "expect": {"stage": "...", "hardship_objections": N}}, ...]}
 *   policy.json  optional: the policy instead of deploy/policy/default.json; or
 *   conversation.json  optional: only its "conversation" section replaced (null: removed)
 * Expected features are compared after each step ("stage" absent reads "none"; a missing
 * hardship_objections reads 0). Exit 0 on pass, 1 with one line on stderr per failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "conversation.h"
#include "policy.h"

static int failures;

static json_t *load(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (access(path, F_OK) != 0)
        return NULL;
    json_error_t jerr;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (j == NULL) {
        fprintf(stderr, "%s: line %d: %s\n", path, jerr.line, jerr.text);
        failures++;
    }
    return j;
}

/* The policy: policy.json, else default.json with conversation.json's section. */
static policy_t *the_policy(const char *dir)
{
    const char *src = getenv("RECOBRO_SOURCE_DIR");
    char path[4096], err[POLICY_ERR_MAX];
    json_t *doc = load(dir, "policy.json"), *conv = load(dir, "conversation.json");

    if (doc == NULL) {
        snprintf(path, sizeof(path), "%s/deploy/policy/default.json", src ? src : ".");
        doc = json_load_file(path, 0, NULL);
    }
    if (doc != NULL && conv != NULL) {
        if (json_is_null(conv))
            json_object_del(doc, "conversation");
        else
            json_object_set(doc, "conversation", conv);
    }
    char *text = doc != NULL ? json_dumps(doc, 0) : NULL;
    policy_t *p = text != NULL ? policy_parse(text, err, sizeof(err)) : NULL;
    if (p == NULL)
        fprintf(stderr, "policy: %s\n", text != NULL ? err : "not found");
    free(text);
    json_decref(doc);
    json_decref(conv);
    return p;
}

static void check_step(const json_t *features, const json_t *expect, size_t i)
{
    const char *want = json_string_value(json_object_get(expect, "stage"));
    const char *got = json_string_value(json_object_get(features, "stage"));
    const json_t *h = json_object_get(expect, "hardship_objections");

    if (want != NULL && strcmp(want, got != NULL ? got : "none") != 0) {
        fprintf(stderr, "steps[%zu]: stage %s, expected %s\n", i, got ? got : "none", want);
        failures++;
    }
    if (h != NULL && json_integer_value(json_object_get(features, "hardship_objections")) !=
                         json_integer_value(h)) {
        fprintf(stderr, "steps[%zu]: hardship_objections %lld, expected %lld\n", i,
                (long long)json_integer_value(json_object_get(features, "hardship_objections")),
                (long long)json_integer_value(h));
        failures++;
    }
}

int main(int argc, char **argv)
{
    size_t i;
    json_t *step;

    if (argc != 2) {
        fprintf(stderr, "usage: %s CASE_DIR\n", argv[0]);
        return 1;
    }
    policy_t *p = the_policy(argv[1]);
    json_t *in = load(argv[1], "steps.json");
    if (p == NULL || in == NULL || json_array_size(json_object_get(in, "steps")) == 0) {
        fprintf(stderr, "steps.json: missing, or no steps\n");
        return 1;
    }
    json_t *features = json_object_get(in, "features")
                           ? json_deep_copy(json_object_get(in, "features"))
                           : json_object();
    json_array_foreach(json_object_get(in, "steps"), i, step)
    {
        bool changed = false;
        const char *type = json_string_value(json_object_get(step, "type"));
        json_t *before = json_deep_copy(features);
        if (conv_apply(&p->conversation, features, type, json_object_get(step, "data"), &changed) <
            0) {
            fprintf(stderr, "steps[%zu]: conv_apply failed\n", i);
            failures++;
        }
        if (changed != !json_equal(before, features)) {
            fprintf(stderr, "steps[%zu]: changed says %d\n", i, (int)changed);
            failures++;
        }
        json_decref(before);
        check_step(features, json_object_get(step, "expect"), i);
    }
    json_decref(features);
    json_decref(in);
    policy_free(p);
    return failures ? 1 : 0;
}
