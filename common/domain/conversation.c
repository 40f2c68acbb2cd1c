/* conversation.c - objection codes, techniques and stage rules of the policy (see
 * conversation.h). */
#include "conversation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonfield.h"

/* The hardship codes of policies written before the section existed (conversation.h). */
static const char *const legacy_hardship[] = {"hardship",   "cannot_pay", "unemployed",
                                              "illness",    "no_income",  "reduced_income",
                                              "bereavement"};

/* The input events a stage rule may fire on. */
static const char *const rule_events[] = {"payment.received", "promise.made", "plan.agreed",
                                          "debt.disputed", "dispute.resolved"};

/* True when `s` is a machine code: ^[a-z][a-z0-9_]{0,63}$ (as the events' codes). */
static bool is_code(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;

    if (n == 0 || n >= CONV_CODE_MAX || s[0] < 'a' || s[0] > 'z')
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

/* The legacy rules (no section). */
static int legacy(conv_rules_t *out)
{
    size_t n = sizeof(legacy_hardship) / sizeof(legacy_hardship[0]);

    out->objections = calloc(n, sizeof(*out->objections));
    out->prefixes = calloc(1, sizeof(*out->prefixes));
    if (out->objections == NULL || out->prefixes == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        snprintf(out->objections[i].code, CONV_CODE_MAX, "%s", legacy_hardship[i]);
        out->objections[i].hardship = true;
    }
    out->n_objections = n;
    snprintf(out->prefixes[0], CONV_CODE_MAX, "hardship_");
    out->n_prefixes = 1;
    return 0;
}

/* "objections": {code: {"hardship": bool, "description": str}} into out->objections. */
static int parse_objections(const json_t *obj, conv_rules_t *out, char *err, size_t errlen)
{
    static const char *const keys[] = {"hardship", "description", NULL};
    char path[JSONFIELD_PATH_MAX];
    const char *code;
    json_t *v;

    if (!json_is_object(obj))
        return jsonfield_error(err, errlen, "conversation.objections",
                               "must be an object by objection code");
    out->objections = calloc(json_object_size(obj) + 1, sizeof(*out->objections));
    if (out->objections == NULL)
        return jsonfield_error(err, errlen, "conversation.objections", "out of memory");
    json_object_foreach((json_t *)obj, code, v)
    {
        conv_objection_t *o = &out->objections[out->n_objections];
        jsonfield_path(path, sizeof(path), "conversation.objections", code);
        if (!is_code(code))
            return jsonfield_error(err, errlen, path,
                                   "not an objection code (^[a-z][a-z0-9_]{0,63}$)");
        if (!json_is_object(v))
            return jsonfield_error(err, errlen, path, "must be an object");
        if (jsonfield_expect_keys(v, path, keys, err, errlen) != 0 ||
            jsonfield_bool(v, path, "hardship", &o->hardship, err, errlen) != 0)
            return -1;
        snprintf(o->code, CONV_CODE_MAX, "%s", code);
        out->n_objections++;
    }
    return 0;
}

/* A list of codes: an array (hardship_prefixes) or an object by code (techniques, whose values
 * are {"description": str}). */
static int parse_codes(const json_t *v, const char *path, bool prefixes,
                       char (**list)[CONV_CODE_MAX], size_t *n, char *err, size_t errlen)
{
    static const char *const keys[] = {"description", NULL};
    char sub[JSONFIELD_PATH_MAX];
    size_t size = json_is_array(v) ? json_array_size(v) : json_object_size(v), i;
    const char *code;
    json_t *item;

    if (prefixes ? !json_is_array(v) : !json_is_object(v))
        return jsonfield_error(err, errlen, path,
                               prefixes ? "must be an array of code prefixes"
                                        : "must be an object by technique code");
    if ((*list = calloc(size + 1, sizeof(**list))) == NULL)
        return jsonfield_error(err, errlen, path, "out of memory");
    json_array_foreach(prefixes ? v : NULL, i, item)
    {
        snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
        if (!is_code(json_string_value(item)))
            return jsonfield_error(err, errlen, sub, "must be a code prefix (^[a-z][a-z0-9_]*$)");
        snprintf((*list)[(*n)++], CONV_CODE_MAX, "%s", json_string_value(item));
    }
    json_object_foreach(prefixes ? NULL : (json_t *)v, code, item)
    {
        jsonfield_path(sub, sizeof(sub), path, code);
        if (!is_code(code))
            return jsonfield_error(err, errlen, sub,
                                   "not a technique code (^[a-z][a-z0-9_]{0,63}$)");
        if (!json_is_object(item) || jsonfield_expect_keys(item, sub, keys, err, errlen) != 0)
            return jsonfield_error(err, errlen, sub, "must be an object ({\"description\": ...})");
        snprintf((*list)[(*n)++], CONV_CODE_MAX, "%s", code);
    }
    return 0;
}

/* The trigger of rule `r` at `path`: exactly one of "event" (a rule event) and "objection" (a
 * catalogue code). */
static int rule_trigger(const json_t *rj, const char *path, const conv_rules_t *out,
                        conv_stage_rule_t *r, char *err, size_t errlen)
{
    const char *event = json_string_value(json_object_get(rj, "event"));
    const char *objection = json_string_value(json_object_get(rj, "objection"));
    char sub[JSONFIELD_PATH_MAX];

    if ((json_object_get(rj, "event") != NULL) == (json_object_get(rj, "objection") != NULL))
        return jsonfield_error(err, errlen, path,
                               "needs exactly one of \"event\" and \"objection\"");
    if (event != NULL) {
        for (size_t i = 0; i < sizeof(rule_events) / sizeof(rule_events[0]); i++)
            if (strcmp(event, rule_events[i]) == 0) {
                snprintf(r->event, CONV_CODE_MAX, "%s", event);
                return 0;
            }
        return jsonfield_error(err, errlen, jsonfield_path(sub, sizeof(sub), path, "event"),
                               "must be one of payment.received, promise.made, plan.agreed, "
                               "debt.disputed, dispute.resolved");
    }
    jsonfield_path(sub, sizeof(sub), path, "objection");
    if (objection == NULL || !conv_objection_known(out, objection))
        return jsonfield_error(err, errlen, sub,
                               "must be an objection code of conversation.objections");
    snprintf(r->objection, CONV_CODE_MAX, "%s", objection);
    return 0;
}

/* One stage rule at `path` into *r: an id, its trigger and one of raise_to / back_to. */
static int parse_rule(const json_t *rj, const char *path, const conv_rules_t *out,
                      conv_stage_rule_t *r, char *err, size_t errlen)
{
    static const char *const keys[] = {"id",      "event",       "objection", "raise_to",
                                       "back_to", "description", NULL};
    const char *id = json_string_value(json_object_get(rj, "id"));
    const json_t *up = json_object_get(rj, "raise_to"), *down = json_object_get(rj, "back_to");
    char sub[JSONFIELD_PATH_MAX];

    if (!json_is_object(rj))
        return jsonfield_error(err, errlen, path, "must be an object");
    if (jsonfield_expect_keys(rj, path, keys, err, errlen) != 0)
        return -1;
    if (id == NULL || strlen(id) >= CONV_CODE_MAX || id[0] == '\0')
        return jsonfield_error(err, errlen, path, "needs an \"id\" of 1 to 64 characters");
    for (size_t j = 0; j < out->n_rules; j++)
        if (strcmp(out->rules[j].id, id) == 0)
            return jsonfield_error(err, errlen, path, "duplicate rule id \"%s\"", id);
    snprintf(r->id, CONV_CODE_MAX, "%s", id);
    if (rule_trigger(rj, path, out, r, err, errlen) != 0)
        return -1;
    if ((up != NULL) == (down != NULL))
        return jsonfield_error(err, errlen, path,
                               "needs exactly one of \"raise_to\" and \"back_to\"");
    r->raise = up != NULL;
    jsonfield_path(sub, sizeof(sub), path, up != NULL ? "raise_to" : "back_to");
    if (vocab_stage_from_name(json_string_value(up != NULL ? up : down), &r->stage) != 0)
        return jsonfield_error(err, errlen, sub,
                               "must be a stage (none, recognized, accepted, amount_agreed, "
                               "date_agreed)");
    return 0;
}

/* "stages": {"reported": "raise"|"set", "rules": [...]}. */
static int parse_stages(const json_t *obj, conv_rules_t *out, char *err, size_t errlen)
{
    static const char *const keys[] = {"reported", "rules", "description", NULL};
    static const char path[] = "conversation.stages";
    const json_t *rules = json_object_get(obj, "rules"), *rep = json_object_get(obj, "reported");
    char sub[JSONFIELD_PATH_MAX];
    size_t i;
    json_t *rj;

    if (!json_is_object(obj))
        return jsonfield_error(err, errlen, path, "must be an object");
    if (jsonfield_expect_keys(obj, path, keys, err, errlen) != 0)
        return -1;
    if (rep != NULL && !(json_is_string(rep) && (strcmp(json_string_value(rep), "raise") == 0 ||
                                                 strcmp(json_string_value(rep), "set") == 0)))
        return jsonfield_error(err, errlen, "conversation.stages.reported",
                               "must be \"raise\" or \"set\"");
    out->reported_sets = rep != NULL && strcmp(json_string_value(rep), "set") == 0;
    if (rules == NULL)
        return 0;
    if (!json_is_array(rules))
        return jsonfield_error(err, errlen, "conversation.stages.rules", "must be an array");
    if ((out->rules = calloc(json_array_size(rules) + 1, sizeof(*out->rules))) == NULL)
        return jsonfield_error(err, errlen, path, "out of memory");
    json_array_foreach(rules, i, rj)
    {
        snprintf(sub, sizeof(sub), "conversation.stages.rules[%zu]", i);
        if (parse_rule(rj, sub, out, &out->rules[i], err, errlen) != 0)
            return -1;
        out->n_rules++;
    }
    return 0;
}

int conv_rules_from_json(const json_t *obj, conv_rules_t *out, char *err, size_t errlen)
{
    static const char *const keys[] = {"objections", "hardship_prefixes", "techniques",
                                       "stages",     "description",       NULL};
    const json_t *v;

    memset(out, 0, sizeof(*out));
    if (obj == NULL)
        return legacy(out) == 0 ? 0 : jsonfield_error(err, errlen, "conversation", "out of memory");
    if (!json_is_object(obj))
        return jsonfield_error(err, errlen, "conversation", "must be an object");
    if (jsonfield_expect_keys(obj, "conversation", keys, err, errlen) != 0)
        return -1;
    out->defined = true;
    if ((v = json_object_get(obj, "objections")) != NULL &&
        parse_objections(v, out, err, errlen) != 0)
        return -1;
    if ((v = json_object_get(obj, "hardship_prefixes")) != NULL &&
        parse_codes(v, "conversation.hardship_prefixes", true, &out->prefixes, &out->n_prefixes,
                    err, errlen) != 0)
        return -1;
    if ((v = json_object_get(obj, "techniques")) != NULL &&
        parse_codes(v, "conversation.techniques", false, &out->techniques, &out->n_techniques, err,
                    errlen) != 0)
        return -1;
    if ((v = json_object_get(obj, "stages")) != NULL && parse_stages(v, out, err, errlen) != 0)
        return -1;
    return 0;
}

void conv_rules_clear(conv_rules_t *r)
{
    if (r == NULL)
        return;
    free(r->objections);
    free(r->prefixes);
    free(r->techniques);
    free(r->rules);
    memset(r, 0, sizeof(*r));
}

static const conv_objection_t *find_objection(const conv_rules_t *r, const char *code)
{
    for (size_t i = 0; code != NULL && i < r->n_objections; i++)
        if (strcmp(r->objections[i].code, code) == 0)
            return &r->objections[i];
    return NULL;
}

bool conv_is_hardship(const conv_rules_t *r, const char *code)
{
    const conv_objection_t *o = find_objection(r, code);

    if (o != NULL)
        return o->hardship;
    for (size_t i = 0; code != NULL && i < r->n_prefixes; i++)
        if (strncmp(code, r->prefixes[i], strlen(r->prefixes[i])) == 0)
            return true;
    return false;
}

bool conv_objection_known(const conv_rules_t *r, const char *code)
{
    return code != NULL && (!r->defined || find_objection(r, code) != NULL);
}

bool conv_technique_known(const conv_rules_t *r, const char *code)
{
    if (code == NULL)
        return false;
    if (!r->defined)
        return true;
    for (size_t i = 0; i < r->n_techniques; i++)
        if (strcmp(r->techniques[i], code) == 0)
            return true;
    return false;
}

/* ---- Applying ---------------------------------------------------------------------------------
 */

/* The case's stage from its features (none when absent or unknown). */
static vocab_stage_t stage_of(const json_t *features)
{
    vocab_stage_t s;
    if (vocab_stage_from_name(json_string_value(json_object_get(features, "stage")), &s) != 0)
        return VOCAB_STAGE_NONE;
    return s;
}

/* Sets the stage to `to` when it differs. */
static int set_stage(json_t *features, vocab_stage_t to, bool *changed)
{
    if (stage_of(features) == to && json_object_get(features, "stage") != NULL)
        return 0;
    *changed = true;
    return json_object_set_new(features, "stage", json_string(vocab_stage_name(to)));
}

/* Moves the stage by rule `r`: up to its stage, or down to it. */
static int move(json_t *features, const conv_stage_rule_t *r, bool *changed)
{
    vocab_stage_t have = stage_of(features);

    if (r->raise ? have >= r->stage : have <= r->stage)
        return 0;
    return set_stage(features, r->stage, changed);
}

/* True when the contact's objections include `code`. */
static bool raised(const json_t *objections, const char *code)
{
    size_t i;
    json_t *o;

    json_array_foreach(objections, i, o)
    {
        if (json_is_string(o) && strcmp(json_string_value(o), code) == 0)
            return true;
    }
    return false;
}

/* A contact's reported stage and its hardship objections (counted once per contact). */
static int contact_facts(const conv_rules_t *r, json_t *features, const json_t *data, bool *changed)
{
    const json_t *objections = json_object_get(data, "objections");
    vocab_stage_t got;
    size_t i;
    json_t *o;
    int rc = 0;

    if (vocab_stage_from_name(json_string_value(json_object_get(data, "stage")), &got) == 0 &&
        (r->reported_sets ? got != stage_of(features) : got > stage_of(features)))
        rc |= set_stage(features, got, changed);
    json_array_foreach(objections, i, o)
    {
        if (conv_is_hardship(r, json_string_value(o))) {
            json_int_t n = json_integer_value(json_object_get(features, "hardship_objections"));
            rc |= json_object_set_new(features, "hardship_objections", json_integer(n + 1));
            *changed = true;
            break;
        }
    }
    return rc;
}

int conv_apply(const conv_rules_t *r, json_t *features, const char *type, const json_t *data,
               bool *changed)
{
    bool contact = type != NULL && strcmp(type, "contact.attempted") == 0;
    const json_t *objections = json_object_get(data, "objections");
    int rc = 0;

    if (r == NULL || features == NULL || type == NULL)
        return 0;
    if (contact)
        rc |= contact_facts(r, features, data, changed);
    for (size_t i = 0; i < r->n_rules; i++) {
        const conv_stage_rule_t *rule = &r->rules[i];
        bool fires = rule->event[0] != '\0' ? strcmp(rule->event, type) == 0
                                            : contact && raised(objections, rule->objection);
        if (fires)
            rc |= move(features, rule, changed);
    }
    return rc != 0 ? -1 : 0;
}
