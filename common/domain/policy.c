/* policy.c - loading and checking the collections policy; segmenting a case under it;
 * negotiation-limit checks. */
#include "policy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonfield.h"
#include "money.h"

/* Largest policy file read: a policy is a page of rules, never megabytes. */
#define POLICY_FILE_MAX (4 * 1024 * 1024)

/* True when `s` is a rule id: 1..64 of [a-z0-9_.-]. */
static bool valid_id(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* Reads the segment name `name` (at `path`) into *out; the overlay is not a segment. */
static int segment_member(const char *name, const char *path, segment_id_t *out, char *err,
                          size_t errlen)
{
    if (strcmp(name, SEGMENT_OVERLAY_HIGH_VALUE) == 0)
        return jsonfield_error(err, errlen, path,
                               "\"%s\" is an overlay (segmentation.high_value), not a segment",
                               name);
    if (segment_from_name(name, out) != 0)
        return jsonfield_error(
            err, errlen, path,
            "unknown segment \"%s\" (unaware, forgetful, willing_unable, evasive, "
            "chronic, disputed, resolved)",
            name);
    return 0;
}

/* ---- Amounts -------------------------------------------------------------------------------- */

int policy_amount_in(const policy_amount_t *a, const char *currency, int64_t *out)
{
    if (a == NULL || out == NULL || !money_currency_known(currency))
        return -1;
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->by_currency[i].currency, currency) == 0) {
            *out = a->by_currency[i].minor;
            return 0;
        }
    }
    if (!a->has_default)
        return -2;
    /* The default is a whole amount checked at load time: it reads in every currency. */
    return money_parse(a->default_text, currency, 0, out) == MONEY_OK ? 0 : -1;
}

/* Reads an amount (a whole decimal string, or an object by currency) at `path` into *a. */
static int amount_from_json(const json_t *v, const char *path, policy_amount_t *a, char *err,
                            size_t errlen)
{
    const char *key;
    json_t *item;
    char sub[JSONFIELD_PATH_MAX];

    memset(a, 0, sizeof(*a));
    if (json_is_string(v)) {
        if (!segment_amount_is_whole(json_string_value(v)))
            return jsonfield_error(err, errlen, path,
                                   "\"%s\" is not a whole amount; write \"5000\", or give amounts "
                                   "by currency {\"EUR\": \"49.50\"}",
                                   json_string_value(v));
        a->has_default = true;
        snprintf(a->default_text, sizeof(a->default_text), "%s", json_string_value(v));
        return 0;
    }
    if (!json_is_object(v))
        return jsonfield_error(err, errlen, path,
                               "must be an amount as a decimal string or an object of them by "
                               "currency");
    if (json_object_size(v) == 0)
        return jsonfield_error(err, errlen, path, "needs at least one amount");
    json_object_foreach((json_t *)v, key, item)
    {
        jsonfield_path(sub, sizeof(sub), path, key);
        if (strcmp(key, "default") == 0) {
            if (!json_is_string(item) || !segment_amount_is_whole(json_string_value(item)))
                return jsonfield_error(err, errlen, sub,
                                       "must be a whole amount as a decimal string, e.g. \"5000\"");
            a->has_default = true;
            snprintf(a->default_text, sizeof(a->default_text), "%s", json_string_value(item));
            continue;
        }
        if (!money_currency_known(key))
            return jsonfield_error(err, errlen, sub, "unknown currency \"%s\"", key);
        if (!json_is_string(item))
            return jsonfield_error(err, errlen, sub, "must be a decimal string");
        if (a->n == POLICY_AMOUNT_MAX_CURRENCIES)
            return jsonfield_error(err, errlen, path, "more than %d currencies",
                                   POLICY_AMOUNT_MAX_CURRENCIES);
        money_err_t merr =
            money_parse(json_string_value(item), key, 0, &a->by_currency[a->n].minor);
        if (merr != MONEY_OK)
            return jsonfield_error(err, errlen, sub, "\"%s\": %s", json_string_value(item),
                                   money_strerror(merr));
        memcpy(a->by_currency[a->n].currency, key, 4);
        a->n++;
    }
    return 0;
}

/* ---- Sections ------------------------------------------------------------------------------- */

/* The path of step `i` of variant `vi` of strategy `name`, as the document spells it: plain
 * ladders have no "variants" level. */
static void step_path(char *buf, size_t size, const json_t *sj, const char *name, size_t vi,
                      size_t i)
{
    if (json_object_get(sj, "variants") != NULL)
        snprintf(buf, size, "strategies.%s.variants[%zu].steps[%zu].action", name, vi, i);
    else
        snprintf(buf, size, "strategies.%s.steps[%zu].action", name, i);
}

/* What a segment's ladder may hold: a disputed case gets only what the contact rules let out
 * during a dispute (documentation), a resolved case nothing that presses for payment. */
static int check_ladder_for_segment(const policy_t *p, const strategy_t *s, const json_t *sj,
                                    char *err, size_t errlen)
{
    char path[JSONFIELD_PATH_MAX];

    if (s->segment != SEGMENT_DISPUTED && s->segment != SEGMENT_RESOLVED)
        return 0;
    for (size_t vi = 0; vi < s->nvariants; vi++) {
        const strategy_variant_t *v = &s->variants[vi];
        for (size_t i = 0; i < v->nsteps; i++) {
            const char *action = vocab_action_name(v->steps[i].action);
            step_path(path, sizeof(path), sj, s->name, vi, i);
            if (s->segment == SEGMENT_DISPUTED) {
                if ((p->contact.dispute_exempt & contact_action_bit(v->steps[i].action)) == 0)
                    return jsonfield_error(err, errlen, path,
                                           "\"%s\" is not allowed while a dispute is open "
                                           "(contact.dispute_exempt_actions)",
                                           action);
            } else if (vocab_action_is_collection(v->steps[i].action)) {
                return jsonfield_error(err, errlen, path,
                                       "\"%s\" presses for payment; a resolved case gets none",
                                       action);
            }
        }
    }
    return 0;
}

static int parse_strategies(policy_t *p, const json_t *obj, char *err, size_t errlen)
{
    const char *key;
    json_t *sj;
    char path[JSONFIELD_PATH_MAX];

    if (obj == NULL)
        return jsonfield_error(err, errlen, "", "missing \"strategies\"");
    if (!json_is_object(obj))
        return jsonfield_error(err, errlen, "strategies", "must be an object by segment");
    json_object_foreach((json_t *)obj, key, sj)
    {
        segment_id_t seg;

        jsonfield_path(path, sizeof(path), "strategies", key);
        if (segment_member(key, path, &seg, err, errlen) != 0)
            return -1;
        if (strategy_from_json(sj, path, seg, &p->strategies[seg], err, errlen) != 0)
            return -1;
        if (check_ladder_for_segment(p, &p->strategies[seg], sj, err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int parse_rule(policy_t *p, const json_t *rj, size_t i, size_t last, policy_rule_t *r,
                      char *err, size_t errlen)
{
    static const char *const keys[] = {"id", "segment", "when", "default", "description", NULL};
    char path[64], sub[JSONFIELD_PATH_MAX];
    json_t *id, *seg, *when;
    bool is_default = false;

    snprintf(path, sizeof(path), "segmentation.rules[%zu]", i);
    if (!json_is_object(rj))
        return jsonfield_error(err, errlen, path, "must be an object");
    if (jsonfield_expect_keys(rj, path, keys, err, errlen) != 0)
        return -1;

    id = json_object_get(rj, "id");
    if (id == NULL)
        return jsonfield_error(err, errlen, path, "missing \"id\"");
    jsonfield_path(sub, sizeof(sub), path, "id");
    if (!json_is_string(id) || !valid_id(json_string_value(id)))
        return jsonfield_error(err, errlen, sub, "must be a rule id ([a-z0-9_.-]{1,64})");
    for (size_t j = 0; j < i; j++)
        if (strcmp(p->rules[j].id, json_string_value(id)) == 0)
            return jsonfield_error(err, errlen, sub, "duplicate rule id \"%s\" (also rules[%zu])",
                                   json_string_value(id), j);
    r->id = strdup(json_string_value(id));
    if (r->id == NULL)
        return jsonfield_error(err, errlen, path, "out of memory");

    seg = json_object_get(rj, "segment");
    if (seg == NULL)
        return jsonfield_error(err, errlen, path, "missing \"segment\"");
    jsonfield_path(sub, sizeof(sub), path, "segment");
    if (!json_is_string(seg))
        return jsonfield_error(err, errlen, sub, "must be a string");
    if (segment_member(json_string_value(seg), sub, &r->segment, err, errlen) != 0)
        return -1;
    if (p->strategies[r->segment].nvariants == 0)
        return jsonfield_error(err, errlen, sub, "no strategy for segment \"%s\"",
                               json_string_value(seg));

    if (jsonfield_bool(rj, path, "default", &is_default, err, errlen) != 0)
        return -1;
    when = json_object_get(rj, "when");
    if (is_default) {
        if (i != last)
            return jsonfield_error(err, errlen, path,
                                   "only the last rule may be the default (rules after it could "
                                   "never match)");
        if (when != NULL)
            return jsonfield_error(err, errlen, path, "the default rule has no \"when\"");
        r->is_default = true;
        return 0;
    }
    if (when == NULL)
        return jsonfield_error(err, errlen, path,
                               "missing \"when\" (only the last rule, the default, has none)");
    jsonfield_path(sub, sizeof(sub), path, "when");
    if (json_is_object(when) && json_object_size(when) == 0)
        return jsonfield_error(err, errlen, sub, "needs at least one condition");
    return segment_conds_from_json(when, sub, &r->conds, &r->nconds, err, errlen);
}

static int parse_high_value(policy_t *p, const json_t *obj, char *err, size_t errlen)
{
    static const char *const keys[] = {"threshold", "priority", "senior_agent", "description",
                                       NULL};
    static const char path[] = "segmentation.high_value";
    policy_high_value_t *hv = &p->high_value;
    json_t *t;

    if (!json_is_object(obj))
        return jsonfield_error(err, errlen, path, "must be an object");
    if (jsonfield_expect_keys(obj, path, keys, err, errlen) != 0)
        return -1;
    t = json_object_get(obj, "threshold");
    if (t == NULL)
        return jsonfield_error(err, errlen, path, "missing \"threshold\"");
    if (amount_from_json(t, "segmentation.high_value.threshold", &hv->threshold, err, errlen) != 0)
        return -1;
    if (jsonfield_int(obj, path, "priority", STRATEGY_PRIORITY_MIN, STRATEGY_PRIORITY_MAX,
                      &hv->priority, err, errlen) != 0)
        return -1;
    if (jsonfield_bool(obj, path, "senior_agent", &hv->senior_agent, err, errlen) != 0)
        return -1;
    hv->enabled = true;
    return 0;
}

static int parse_segmentation(policy_t *p, const json_t *obj, char *err, size_t errlen)
{
    static const char *const keys[] = {"rules", "high_value", "description", NULL};
    json_t *rules, *hv;
    size_t n;

    if (obj == NULL)
        return jsonfield_error(err, errlen, "", "missing \"segmentation\"");
    if (!json_is_object(obj))
        return jsonfield_error(err, errlen, "segmentation", "must be an object");
    if (jsonfield_expect_keys(obj, "segmentation", keys, err, errlen) != 0)
        return -1;
    rules = json_object_get(obj, "rules");
    if (rules == NULL)
        return jsonfield_error(err, errlen, "segmentation", "missing \"rules\"");
    if (!json_is_array(rules) || json_array_size(rules) == 0)
        return jsonfield_error(err, errlen, "segmentation.rules", "must be a non-empty array");
    n = json_array_size(rules);
    p->rules = calloc(n, sizeof(*p->rules));
    if (p->rules == NULL)
        return jsonfield_error(err, errlen, "segmentation.rules", "out of memory");
    for (size_t i = 0; i < n; i++) {
        p->nrules = i + 1; /* so that policy_free() releases what this rule got */
        if (parse_rule(p, json_array_get(rules, i), i, n - 1, &p->rules[i], err, errlen) != 0)
            return -1;
    }
    if (!p->rules[n - 1].is_default)
        return jsonfield_error(err, errlen, "segmentation.rules",
                               "the last rule must be the default: {\"id\": ..., \"segment\": ..., "
                               "\"default\": true}");
    hv = json_object_get(obj, "high_value");
    if (hv != NULL && parse_high_value(p, hv, err, errlen) != 0)
        return -1;
    return 0;
}

/* Reads one entry of negotiation.limits into *l; `full` requires every limit (the default). */
static int parse_limits(const json_t *obj, const char *path, bool full, policy_limits_t *l,
                        char *err, size_t errlen)
{
    static const char *const keys[] = {"max_installments",
                                       "min_installment",
                                       "max_plan_days",
                                       "min_down_payment_pct",
                                       "max_settlement_discount_pct",
                                       "max_promise_days",
                                       "supervisor_only",
                                       "description",
                                       NULL};
    static const struct {
        const char *key;
        int max;
        size_t offset;
    } ints[] = {
        {"max_installments", 360, offsetof(policy_limits_t, max_installments)},
        {"max_plan_days", 3650, offsetof(policy_limits_t, max_plan_days)},
        {"min_down_payment_pct", 100, offsetof(policy_limits_t, min_down_payment_pct)},
        {"max_settlement_discount_pct", 100,
         offsetof(policy_limits_t, max_settlement_discount_pct)},
        {"max_promise_days", 365, offsetof(policy_limits_t, max_promise_days)},
    };
    char sub[JSONFIELD_PATH_MAX];
    json_t *mi;

    if (!json_is_object(obj))
        return jsonfield_error(err, errlen, path, "must be an object");
    if (jsonfield_expect_keys(obj, path, keys, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        int *target = (int *)(void *)((char *)l + ints[i].offset);
        if (!full && json_object_get(obj, ints[i].key) == NULL)
            continue;
        if (jsonfield_int(obj, path, ints[i].key, 0, ints[i].max, target, err, errlen) != 0)
            return -1;
    }
    mi = json_object_get(obj, "min_installment");
    if (mi == NULL && full)
        return jsonfield_error(err, errlen, path, "missing \"min_installment\"");
    if (mi != NULL &&
        amount_from_json(mi, jsonfield_path(sub, sizeof(sub), path, "min_installment"),
                         &l->min_installment, err, errlen) != 0)
        return -1;
    return jsonfield_bool(obj, path, "supervisor_only", &l->supervisor_only, err, errlen);
}

static int parse_negotiation(policy_t *p, const json_t *obj, char *err, size_t errlen)
{
    static const char *const keys[] = {"promise_grace_days", "plan_default_missed_installments",
                                       "limits", "description", NULL};
    json_t *limits, *def, *entry;
    policy_limits_t defaults;
    const char *key;
    char path[JSONFIELD_PATH_MAX];

    if (obj == NULL)
        return jsonfield_error(err, errlen, "", "missing \"negotiation\"");
    if (!json_is_object(obj))
        return jsonfield_error(err, errlen, "negotiation", "must be an object");
    if (jsonfield_expect_keys(obj, "negotiation", keys, err, errlen) != 0)
        return -1;
    if (jsonfield_int(obj, "negotiation", "promise_grace_days", 0, 60, &p->promise_grace_days, err,
                      errlen) != 0)
        return -1;
    if (jsonfield_int(obj, "negotiation", "plan_default_missed_installments", 1, 24,
                      &p->plan_default_missed_installments, err, errlen) != 0)
        return -1;
    limits = json_object_get(obj, "limits");
    if (limits == NULL)
        return jsonfield_error(err, errlen, "negotiation", "missing \"limits\"");
    if (!json_is_object(limits))
        return jsonfield_error(err, errlen, "negotiation.limits", "must be an object by segment");
    def = json_object_get(limits, "default");
    if (def == NULL)
        return jsonfield_error(err, errlen, "negotiation.limits", "missing \"default\"");
    memset(&defaults, 0, sizeof(defaults));
    if (parse_limits(def, "negotiation.limits.default", true, &defaults, err, errlen) != 0)
        return -1;
    for (int s = 0; s < SEGMENT_COUNT; s++)
        p->limits[s] = defaults;
    json_object_foreach(limits, key, entry)
    {
        segment_id_t seg;

        if (strcmp(key, "default") == 0)
            continue;
        jsonfield_path(path, sizeof(path), "negotiation.limits", key);
        if (segment_member(key, path, &seg, err, errlen) != 0)
            return -1;
        /* Starts from the defaults, so the entry overrides only what it gives. */
        policy_limits_t l = defaults;
        if (parse_limits(entry, path, false, &l, err, errlen) != 0)
            return -1;
        p->limits[seg] = l;
    }
    return 0;
}

/* ---- Loading -------------------------------------------------------------------------------- */

static int parse_document(policy_t *p, const json_t *root, char *err, size_t errlen)
{
    static const char *const keys[] = {
        "$schema",    "version",     "name",     "description", "segmentation",
        "strategies", "negotiation", "contact",  "charges",     "conversation",
        "promise",    "unreached",   "delivery", NULL};
    json_t *v;

    if (!json_is_object(root))
        return jsonfield_error(err, errlen, "", "a policy must be a JSON object");
    if (jsonfield_expect_keys(root, "", keys, err, errlen) != 0)
        return -1;
    v = json_object_get(root, "$schema");
    if (v != NULL && !json_is_string(v))
        return jsonfield_error(err, errlen, "$schema", "must be a string");
    v = json_object_get(root, "description");
    if (v != NULL && !json_is_string(v))
        return jsonfield_error(err, errlen, "description", "must be a string");
    if (jsonfield_int(root, "", "version", 1, INT32_MAX, &p->version, err, errlen) != 0)
        return -1;
    v = json_object_get(root, "name");
    if (v == NULL)
        return jsonfield_error(err, errlen, "", "missing \"name\"");
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 64)
        return jsonfield_error(err, errlen, "name", "must be a string of 1 to 64 characters");
    p->name = strdup(json_string_value(v));
    if (p->name == NULL)
        return jsonfield_error(err, errlen, "name", "out of memory");

    /* Contact first: the disputed ladder is checked against its dispute exemptions. Strategies
     * before rules: every rule's segment needs one. */
    if (contact_rules_from_json(json_object_get(root, "contact"), &p->contact, err, errlen) != 0)
        return -1;
    if (parse_strategies(p, json_object_get(root, "strategies"), err, errlen) != 0)
        return -1;
    if (parse_segmentation(p, json_object_get(root, "segmentation"), err, errlen) != 0)
        return -1;
    if (charges_rules_from_json(json_object_get(root, "charges"), &p->charges, err, errlen) != 0)
        return -1;
    if (parse_negotiation(p, json_object_get(root, "negotiation"), err, errlen) != 0)
        return -1;
    if (planrules_from_json(root, &p->planning, err, errlen) != 0)
        return -1;
    return conv_rules_from_json(json_object_get(root, "conversation"), &p->conversation, err,
                                errlen);
}

policy_t *policy_parse(const char *json, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root;
    policy_t *p;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (json == NULL) {
        jsonfield_error(err, errlen, "", "no policy text");
        return NULL;
    }
    /* A key given twice would silently keep one value: refuse it. */
    root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        if (err != NULL)
            snprintf(err, errlen, "line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        json_decref(root);
        jsonfield_error(err, errlen, "", "out of memory");
        return NULL;
    }
    contact_rules_default(&p->contact);
    planrules_default(&p->planning);
    if (parse_document(p, root, err, errlen) != 0) {
        policy_free(p);
        p = NULL;
    }
    json_decref(root);
    return p;
}

policy_t *policy_load_file(const char *path, char *err, size_t errlen)
{
    char inner[POLICY_ERR_MAX];
    char *text = NULL;
    size_t len = 0;
    policy_t *p = NULL;
    FILE *f;

    if (path == NULL) {
        jsonfield_error(err, errlen, "", "no policy file given");
        return NULL;
    }
    f = fopen(path, "rb");
    if (f == NULL) {
        if (err != NULL)
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    text = malloc(POLICY_FILE_MAX + 1);
    if (text == NULL) {
        fclose(f);
        if (err != NULL)
            snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    len = fread(text, 1, POLICY_FILE_MAX + 1, f);
    if (ferror(f)) {
        if (err != NULL)
            snprintf(err, errlen, "%s: read error", path);
    } else if (len > POLICY_FILE_MAX) {
        if (err != NULL)
            snprintf(err, errlen, "%s: larger than %d bytes", path, POLICY_FILE_MAX);
    } else {
        text[len] = '\0';
        if (strlen(text) != len) {
            if (err != NULL)
                snprintf(err, errlen, "%s: contains a NUL byte", path);
        } else {
            p = policy_parse(text, inner, sizeof(inner));
            if (p == NULL && err != NULL)
                snprintf(err, errlen, "%s: %s", path, inner);
        }
    }
    fclose(f);
    free(text);
    return p;
}

void policy_free(policy_t *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->nrules; i++) {
        free(p->rules[i].id);
        free(p->rules[i].conds);
    }
    free(p->rules);
    for (int s = 0; s < SEGMENT_COUNT; s++)
        strategy_clear(&p->strategies[s]);
    conv_rules_clear(&p->conversation);
    free(p->name);
    free(p);
}

const strategy_t *policy_strategy_for(const policy_t *p, segment_id_t seg)
{
    if (p == NULL || (int)seg < 0 || seg >= SEGMENT_COUNT || p->strategies[seg].nvariants == 0)
        return NULL;
    return &p->strategies[seg];
}

const policy_limits_t *policy_limits_for(const policy_t *p, segment_id_t seg)
{
    if (p == NULL || (int)seg < 0 || seg >= SEGMENT_COUNT)
        return NULL;
    return &p->limits[seg];
}

/* ---- Segmentation -------------------------------------------------------------------------- */

/* 1 when every condition of `rule` holds, 0 when one does not, -1 on a currency problem. */
static int rule_matches(const policy_rule_t *rule, const segment_features_t *features)
{
    for (size_t i = 0; i < rule->nconds; i++) {
        int r = segment_cond_test(&rule->conds[i], features);
        if (r != 1)
            return r;
    }
    return 1;
}

/* The first rule of `p` that matches into *index: SEGMENT_OK, SEGMENT_ERR_CURRENCY, or
 * SEGMENT_ERR_NO_RULE. */
static segment_err_t first_rule(const policy_t *p, const segment_features_t *features,
                                size_t *index)
{
    for (size_t i = 0; i < p->nrules; i++) {
        int m = rule_matches(&p->rules[i], features);
        if (m < 0)
            return SEGMENT_ERR_CURRENCY;
        if (m == 1) {
            *index = i;
            return SEGMENT_OK;
        }
    }
    return SEGMENT_ERR_NO_RULE;
}

/* Marks *r with the high_value overlay when the case's balance reaches the policy's threshold
 * in its currency. Returns SEGMENT_OK or SEGMENT_ERR_CURRENCY. */
static segment_err_t apply_overlay(const policy_t *p, const segment_features_t *features,
                                   segment_result_t *r)
{
    int64_t threshold;
    int got;

    if (!p->high_value.enabled || features->balance <= 0)
        return SEGMENT_OK;
    got = policy_amount_in(&p->high_value.threshold, features->currency, &threshold);
    /* -2: the policy sets no threshold for this currency, so the overlay cannot apply. */
    if (got == -1)
        return SEGMENT_ERR_CURRENCY;
    if (got == 0 && features->balance >= threshold) {
        r->high_value = true;
        r->senior_agent = p->high_value.senior_agent;
        r->priority_cap = p->high_value.priority;
    }
    return SEGMENT_OK;
}

segment_err_t policy_segment(const policy_t *p, const segment_features_t *features,
                             const char *creditor_id, const char *debtor_id, segment_result_t *out)
{
    segment_result_t r;
    const policy_rule_t *rule;
    const strategy_t *s;
    const strategy_variant_t *v;
    segment_err_t e;
    size_t i = 0;

    if (p == NULL || features == NULL || creditor_id == NULL || debtor_id == NULL || out == NULL)
        return SEGMENT_ERR_ARG;
    e = first_rule(p, features, &i);
    if (e != SEGMENT_OK)
        return e;
    rule = &p->rules[i];

    memset(&r, 0, sizeof(r));
    r.segment = rule->segment;
    r.rule_id = rule->id;
    r.rule_index = i;
    r.priority_cap = STRATEGY_PRIORITY_MAX;
    r.policy_version = p->version;
    e = apply_overlay(p, features, &r);
    if (e != SEGMENT_OK)
        return e;

    s = policy_strategy_for(p, rule->segment);
    if (s == NULL)
        return SEGMENT_ERR_NO_RULE; /* a loaded policy has a strategy for every rule */
    v = strategy_pick_variant(s, creditor_id, debtor_id, &r.variant_index);
    r.strategy = s->name;
    r.variant = v->name;
    *out = r;
    return SEGMENT_OK;
}

/* ---- Negotiation limits --------------------------------------------------------------------- */

static const char *const limit_names[] = {
    [POLICY_LIMIT_OK] = "ok",
    [POLICY_LIMIT_SUPERVISOR_ONLY] = "supervisor_only",
    [POLICY_LIMIT_INVALID_AMOUNT] = "invalid_amount",
    [POLICY_LIMIT_EXCEEDS_BALANCE] = "exceeds_balance",
    [POLICY_LIMIT_INVALID_DATE] = "invalid_date",
    [POLICY_LIMIT_MAX_PROMISE_DAYS] = "max_promise_days",
    [POLICY_LIMIT_MAX_INSTALLMENTS] = "max_installments",
    [POLICY_LIMIT_MAX_PLAN_DAYS] = "max_plan_days",
    [POLICY_LIMIT_MIN_INSTALLMENT] = "min_installment",
    [POLICY_LIMIT_MIN_DOWN_PAYMENT] = "min_down_payment_pct",
    [POLICY_LIMIT_MAX_DISCOUNT] = "max_settlement_discount_pct",
    [POLICY_LIMIT_NO_AMOUNT] = "no_min_installment",
};

const char *policy_limit_name(policy_limit_t limit)
{
    if ((int)limit < 0 || (size_t)limit >= sizeof(limit_names) / sizeof(limit_names[0]))
        return "unknown";
    return limit_names[limit];
}

static void vfill(policy_check_t *out, policy_limit_t limit, const char *fmt, va_list ap)
{
    out->limit = limit;
    vsnprintf(out->detail, sizeof(out->detail), fmt, ap);
}

/* Fills *out with `limit` and a detail sentence. Returns 0 (the check itself succeeded). */
static int verdict(policy_check_t *out, policy_limit_t limit, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int verdict(policy_check_t *out, policy_limit_t limit, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfill(out, limit, fmt, ap);
    va_end(ap);
    return 0;
}

/* Fills *out as verdict() does and returns true: a limit is broken, stop checking. */
static bool broken(policy_check_t *out, policy_limit_t limit, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool broken(policy_check_t *out, policy_limit_t limit, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfill(out, limit, fmt, ap);
    va_end(ap);
    return true;
}

/* `amount` in `currency` as text ("25.00 EUR") into buf, for details. */
static const char *fmt_money(int64_t amount, const char *currency, char *buf, size_t size)
{
    char num[MONEY_FMT_MAX];

    if (money_format(amount, currency, num, sizeof(num)) < 0)
        snprintf(num, sizeof(num), "%" PRId64, amount);
    snprintf(buf, size, "%s %s", num, currency);
    return buf;
}

/* ceil(balance * pct / 100) and floor(balance * pct / 100) for 0 <= pct <= 100, balance >= 0,
 * without overflow. */
static int64_t pct_ceil(int64_t balance, int pct)
{
    return balance / 100 * pct + (balance % 100 * pct + 99) / 100;
}

static int64_t pct_floor(int64_t balance, int pct)
{
    return balance / 100 * pct + balance % 100 * pct / 100;
}

/* The minimum instalment of `l` in `currency` into *min; a verdict when there is none. */
static int min_installment(const policy_limits_t *l, const char *seg_name, const char *currency,
                           int64_t *min, policy_check_t *out)
{
    if (policy_amount_in(&l->min_installment, currency, min) == 0)
        return 0;
    verdict(out, POLICY_LIMIT_NO_AMOUNT, "no minimum instalment for %s in segment %s", currency,
            seg_name);
    return 1;
}

int policy_check_promise(const policy_t *p, segment_id_t seg, const char *currency, int64_t balance,
                         int64_t amount, int32_t today, int32_t due_day, policy_check_t *out)
{
    const policy_limits_t *l = policy_limits_for(p, seg);
    const char *name = segment_name(seg);
    char a[64], b[64];
    int64_t min;

    if (l == NULL || currency == NULL || out == NULL)
        return -1;
    if (l->supervisor_only)
        return verdict(out, POLICY_LIMIT_SUPERVISOR_ONLY,
                       "segment %s takes no agreement without a supervisor", name);
    if (amount <= 0)
        return verdict(out, POLICY_LIMIT_INVALID_AMOUNT, "the promised amount must be positive");
    if (amount > balance)
        return verdict(out, POLICY_LIMIT_EXCEEDS_BALANCE, "promise of %s exceeds the balance of %s",
                       fmt_money(amount, currency, a, sizeof(a)),
                       fmt_money(balance, currency, b, sizeof(b)));
    if (due_day < today)
        return verdict(out, POLICY_LIMIT_INVALID_DATE, "the promise is due %d days in the past",
                       (int)(today - due_day));
    if ((int64_t)due_day - today > l->max_promise_days)
        return verdict(out, POLICY_LIMIT_MAX_PROMISE_DAYS,
                       "promise due in %" PRId64 " days, beyond the maximum of %d for segment %s",
                       (int64_t)due_day - today, l->max_promise_days, name);
    if (amount != balance) {
        if (min_installment(l, name, currency, &min, out) != 0)
            return 0;
        if (amount < min)
            return verdict(out, POLICY_LIMIT_MIN_INSTALLMENT,
                           "partial promise of %s is below the minimum of %s for segment %s",
                           fmt_money(amount, currency, a, sizeof(a)),
                           fmt_money(min, currency, b, sizeof(b)), name);
    }
    return verdict(out, POLICY_LIMIT_OK, "within the limits of segment %s", name);
}

/* An instalment plan under check, and the limits it is checked against. */
typedef struct plan_check {
    const policy_limits_t *l;
    const char *name; /* the segment's */
    const char *currency;
    int64_t balance;
    int64_t down_payment;
    const policy_installment_t *inst;
    size_t n;
    int32_t today;
} plan_check_t;

/* The terms the segment allows at all: no supervisor_only, 1..max_installments instalments.
 * True when one is broken (and *out says which). */
static bool plan_terms_broken(const plan_check_t *pc, policy_check_t *out)
{
    if (pc->l->supervisor_only)
        return broken(out, POLICY_LIMIT_SUPERVISOR_ONLY,
                      "segment %s takes no agreement without a supervisor", pc->name);
    if (pc->n == 0)
        return broken(out, POLICY_LIMIT_INVALID_AMOUNT, "a plan needs at least one instalment");
    if (pc->n > (size_t)pc->l->max_installments)
        return broken(out, POLICY_LIMIT_MAX_INSTALLMENTS,
                      "%zu instalments exceed the maximum of %d for segment %s", pc->n,
                      pc->l->max_installments, pc->name);
    return false;
}

/* The amounts: a down payment >= 0, instalments > 0, a total that fits and does not exceed the
 * balance (into *total). True when one is broken. */
static bool plan_amounts_broken(const plan_check_t *pc, int64_t *total, policy_check_t *out)
{
    char a[64], b[64];

    if (pc->down_payment < 0)
        return broken(out, POLICY_LIMIT_INVALID_AMOUNT, "the down payment must not be negative");
    *total = pc->down_payment;
    for (size_t i = 0; i < pc->n; i++) {
        if (pc->inst[i].amount <= 0)
            return broken(out, POLICY_LIMIT_INVALID_AMOUNT,
                          "instalment %zu must be a positive amount", i + 1);
        if (!money_add(*total, pc->inst[i].amount, total))
            return broken(out, POLICY_LIMIT_INVALID_AMOUNT, "the plan's total overflows");
    }
    if (*total > pc->balance)
        return broken(out, POLICY_LIMIT_EXCEEDS_BALANCE,
                      "plan total of %s exceeds the balance of %s",
                      fmt_money(*total, pc->currency, a, sizeof(a)),
                      fmt_money(pc->balance, pc->currency, b, sizeof(b)));
    return false;
}

/* The dates: none in the past, strictly increasing, the last within max_plan_days. True when
 * one is broken. */
static bool plan_dates_broken(const plan_check_t *pc, policy_check_t *out)
{
    const policy_installment_t *inst = pc->inst;
    int64_t days = (int64_t)inst[pc->n - 1].due_day - pc->today;

    for (size_t i = 0; i < pc->n; i++) {
        if (inst[i].due_day < pc->today)
            return broken(out, POLICY_LIMIT_INVALID_DATE, "instalment %zu is due in the past",
                          i + 1);
        if (i > 0 && inst[i].due_day <= inst[i - 1].due_day)
            return broken(out, POLICY_LIMIT_INVALID_DATE,
                          "instalment %zu is not due after instalment %zu", i + 1, i);
    }
    if (days > pc->l->max_plan_days)
        return broken(out, POLICY_LIMIT_MAX_PLAN_DAYS,
                      "the plan ends in %" PRId64 " days, beyond the maximum of %d for segment %s",
                      days, pc->l->max_plan_days, pc->name);
    return false;
}

/* The shares of the balance: every instalment but the last >= min_installment, the down
 * payment >= min_down_payment_pct, what is left unpaid <= max_settlement_discount_pct. True when
 * one is broken. */
static bool plan_shares_broken(const plan_check_t *pc, int64_t total, policy_check_t *out)
{
    const policy_limits_t *l = pc->l;
    int64_t min, least = pct_ceil(pc->balance, l->min_down_payment_pct);
    int64_t unpaid = pc->balance - total;
    char a[64], b[64];

    if (min_installment(l, pc->name, pc->currency, &min, out) != 0)
        return true;
    for (size_t i = 0; i + 1 < pc->n; i++)
        if (pc->inst[i].amount < min)
            return broken(out, POLICY_LIMIT_MIN_INSTALLMENT,
                          "instalment %zu of %s is below the minimum of %s for segment %s", i + 1,
                          fmt_money(pc->inst[i].amount, pc->currency, a, sizeof(a)),
                          fmt_money(min, pc->currency, b, sizeof(b)), pc->name);
    if (pc->down_payment < least)
        return broken(out, POLICY_LIMIT_MIN_DOWN_PAYMENT,
                      "down payment of %s is below %d%% of the balance (%s) for segment %s",
                      fmt_money(pc->down_payment, pc->currency, a, sizeof(a)),
                      l->min_down_payment_pct, fmt_money(least, pc->currency, b, sizeof(b)),
                      pc->name);
    if (unpaid > pct_floor(pc->balance, l->max_settlement_discount_pct))
        return broken(out, POLICY_LIMIT_MAX_DISCOUNT,
                      "the plan leaves %s unpaid, more than the %d%% discount allowed for "
                      "segment %s",
                      fmt_money(unpaid, pc->currency, a, sizeof(a)), l->max_settlement_discount_pct,
                      pc->name);
    return false;
}

int policy_check_plan(const policy_t *p, segment_id_t seg, const char *currency, int64_t balance,
                      int64_t down_payment, const policy_installment_t *inst, size_t n,
                      int32_t today, policy_check_t *out)
{
    plan_check_t pc = {policy_limits_for(p, seg),
                       segment_name(seg),
                       currency,
                       balance,
                       down_payment,
                       inst,
                       n,
                       today};
    int64_t total = 0;

    if (pc.l == NULL || currency == NULL || out == NULL || (n > 0 && inst == NULL) || balance < 0)
        return -1;
    if (plan_terms_broken(&pc, out) || plan_amounts_broken(&pc, &total, out) ||
        plan_dates_broken(&pc, out) || plan_shares_broken(&pc, total, out))
        return 0;
    return verdict(out, POLICY_LIMIT_OK, "within the limits of segment %s", pc.name);
}
