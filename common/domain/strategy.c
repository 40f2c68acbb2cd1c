/* strategy.c - strategy ladders: parsing and checking them, variant assignment, the next step. */
#include "strategy.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

static const char *const action_names[STRATEGY_ACTION_COUNT] = {
    [STRATEGY_ACTION_REMINDER] = "reminder",
    [STRATEGY_ACTION_CALL] = "call",
    [STRATEGY_ACTION_VALIDATION_NOTICE] = "validation_notice",
    [STRATEGY_ACTION_INVOICE_COPY] = "invoice_copy",
    [STRATEGY_ACTION_PLAN_OFFER] = "plan_offer",
    [STRATEGY_ACTION_PROMISE_REMINDER] = "promise_reminder",
    [STRATEGY_ACTION_FINAL_NOTICE] = "final_notice",
    [STRATEGY_ACTION_RESTRICT_SERVICE] = "restrict_service",
    [STRATEGY_ACTION_LEGAL_REVIEW] = "legal_review",
    [STRATEGY_ACTION_SUPERVISOR_REVIEW] = "supervisor_review",
    [STRATEGY_ACTION_THANK_YOU] = "thank_you",
};

static const char *const channel_names[STRATEGY_CHANNEL_COUNT] = {
    [STRATEGY_CHANNEL_PHONE] = "phone", [STRATEGY_CHANNEL_SMS] = "sms",
    [STRATEGY_CHANNEL_EMAIL] = "email", [STRATEGY_CHANNEL_LETTER] = "letter",
    [STRATEGY_CHANNEL_VISIT] = "visit", [STRATEGY_CHANNEL_INTERNAL] = "internal",
};

const char *strategy_action_name(strategy_action_t action)
{
    if ((int)action < 0 || action >= STRATEGY_ACTION_COUNT)
        return NULL;
    return action_names[action];
}

const char *strategy_channel_name(strategy_channel_t channel)
{
    if ((int)channel < 0 || channel >= STRATEGY_CHANNEL_COUNT)
        return NULL;
    return channel_names[channel];
}

int strategy_action_from_name(const char *name, strategy_action_t *out)
{
    if (name == NULL)
        return -1;
    for (int i = 0; i < STRATEGY_ACTION_COUNT; i++) {
        if (strcmp(action_names[i], name) == 0) {
            *out = (strategy_action_t)i;
            return 0;
        }
    }
    return -1;
}

int strategy_channel_from_name(const char *name, strategy_channel_t *out)
{
    if (name == NULL)
        return -1;
    for (int i = 0; i < STRATEGY_CHANNEL_COUNT; i++) {
        if (strcmp(channel_names[i], name) == 0) {
            *out = (strategy_channel_t)i;
            return 0;
        }
    }
    return -1;
}

/* Actions carried out inside the organisation (the creditor's systems, the legal desk, a
 * supervisor): they, and only they, use the `internal` channel. */
static bool action_is_internal(strategy_action_t a)
{
    return a == STRATEGY_ACTION_RESTRICT_SERVICE || a == STRATEGY_ACTION_LEGAL_REVIEW ||
           a == STRATEGY_ACTION_SUPERVISOR_REVIEW;
}

/* Whether `channel` can carry `action`: a call needs a voice (phone, or in person on a visit)
 * and phone and visit carry nothing but calls; internal actions stay internal; everything
 * else is a message (sms, email, letter). */
static bool channel_carries(strategy_channel_t channel, strategy_action_t action)
{
    switch (channel) {
    case STRATEGY_CHANNEL_PHONE:
    case STRATEGY_CHANNEL_VISIT:
        return action == STRATEGY_ACTION_CALL;
    case STRATEGY_CHANNEL_INTERNAL:
        return action_is_internal(action);
    case STRATEGY_CHANNEL_SMS:
    case STRATEGY_CHANNEL_EMAIL:
    case STRATEGY_CHANNEL_LETTER:
        return action != STRATEGY_ACTION_CALL && !action_is_internal(action);
    case STRATEGY_CHANNEL_COUNT:
        break;
    }
    return false;
}

bool strategy_action_is_collection(strategy_action_t a)
{
    switch (a) {
    case STRATEGY_ACTION_REMINDER:
    case STRATEGY_ACTION_CALL:
    case STRATEGY_ACTION_PLAN_OFFER:
    case STRATEGY_ACTION_PROMISE_REMINDER:
    case STRATEGY_ACTION_FINAL_NOTICE:
    case STRATEGY_ACTION_RESTRICT_SERVICE:
    case STRATEGY_ACTION_LEGAL_REVIEW:
        return true;
    default:
        return false;
    }
}

/* ---- Parsing -------------------------------------------------------------------------------- */

/* Most steps in one ladder, and variants in one strategy: far more than any desk uses. */
#define STRATEGY_MAX_STEPS    64
#define STRATEGY_MAX_VARIANTS 16
#define STRATEGY_MAX_WEIGHT   1000000

/* True when `s` is a template or variant name: 1..64 of [a-z0-9_.-]. */
static bool valid_name(const char *s, bool dots)
{
    size_t len = strlen(s);

    if (len == 0 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              (dots && (c == '.' || c == '-'))))
            return false;
    }
    return true;
}

/* Reads the string member `key` of `obj` (borrowed into *out). */
static int string_member(const json_t *obj, const char *path, const char *key, const char **out,
                         char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    char sub[320];

    if (v == NULL)
        return policy_error(err, errlen, path, "missing \"%s\"", key);
    snprintf(sub, sizeof(sub), "%s.%s", path, key);
    if (!json_is_string(v))
        return policy_error(err, errlen, sub, "must be a string");
    *out = json_string_value(v);
    return 0;
}

static int step_from_json(const json_t *obj, const char *path, int prev_day, strategy_step_t *st,
                          char *err, size_t errlen)
{
    static const char *const keys[] = {"day",      "action",      "channel", "template",
                                       "priority", "description", NULL};
    const char *action, *channel, *tmpl;
    char sub[320];

    if (!json_is_object(obj))
        return policy_error(err, errlen, path, "must be an object");
    if (policy_expect_keys(obj, path, keys, err, errlen) != 0)
        return -1;
    if (policy_int_member(obj, path, "day", 0, STRATEGY_DAY_MAX, &st->day, err, errlen) != 0)
        return -1;
    if (st->day < prev_day) {
        snprintf(sub, sizeof(sub), "%s.day", path);
        return policy_error(err, errlen, sub, "%d is before the previous step's day %d", st->day,
                            prev_day);
    }
    if (string_member(obj, path, "action", &action, err, errlen) != 0)
        return -1;
    if (strategy_action_from_name(action, &st->action) != 0) {
        snprintf(sub, sizeof(sub), "%s.action", path);
        return policy_error(err, errlen, sub, "unknown action \"%s\"", action);
    }
    if (string_member(obj, path, "channel", &channel, err, errlen) != 0)
        return -1;
    snprintf(sub, sizeof(sub), "%s.channel", path);
    if (strategy_channel_from_name(channel, &st->channel) != 0)
        return policy_error(err, errlen, sub, "unknown channel \"%s\"", channel);
    if (!channel_carries(st->channel, st->action))
        return policy_error(err, errlen, sub, "action \"%s\" cannot go by \"%s\"", action, channel);
    if (string_member(obj, path, "template", &tmpl, err, errlen) != 0)
        return -1;
    if (!valid_name(tmpl, true)) {
        snprintf(sub, sizeof(sub), "%s.template", path);
        return policy_error(err, errlen, sub, "\"%s\" is not a template name ([a-z0-9_.-]{1,64})",
                            tmpl);
    }
    if (policy_int_member(obj, path, "priority", STRATEGY_PRIORITY_MIN, STRATEGY_PRIORITY_MAX,
                          &st->priority, err, errlen) != 0)
        return -1;
    st->template_name = strdup(tmpl);
    if (st->template_name == NULL)
        return policy_error(err, errlen, path, "out of memory");
    return 0;
}

/* Reads the ladder `steps` (path `path`) and the optional repeat_every_days of `obj` into *v. */
static int ladder_from_json(const json_t *obj, const char *path, strategy_variant_t *v, char *err,
                            size_t errlen)
{
    json_t *steps = json_object_get(obj, "steps"), *rep;
    char sub[320], spath[352];
    int prev_day = 0;

    if (steps == NULL)
        return policy_error(err, errlen, path, "missing \"steps\"");
    snprintf(sub, sizeof(sub), "%s.steps", path);
    if (!json_is_array(steps) || json_array_size(steps) == 0)
        return policy_error(err, errlen, sub, "must be a non-empty array of steps");
    if (json_array_size(steps) > STRATEGY_MAX_STEPS)
        return policy_error(err, errlen, sub, "more than %d steps", STRATEGY_MAX_STEPS);
    v->steps = calloc(json_array_size(steps), sizeof(*v->steps));
    if (v->steps == NULL)
        return policy_error(err, errlen, sub, "out of memory");
    for (size_t i = 0; i < json_array_size(steps); i++) {
        strategy_step_t *st = &v->steps[i];

        snprintf(spath, sizeof(spath), "%s[%zu]", sub, i);
        if (step_from_json(json_array_get(steps, i), spath, prev_day, st, err, errlen) != 0)
            return -1;
        v->nsteps++;
        prev_day = st->day;
        if (i == 0 && st->action == STRATEGY_ACTION_CALL) {
            snprintf(spath, sizeof(spath), "%s[0].action", sub);
            return policy_error(err, errlen, spath,
                                "the first step must not be a call (a first contact identifies "
                                "the creditor in writing)");
        }
    }
    v->repeat_every_days = 0;
    rep = json_object_get(obj, "repeat_every_days");
    if (rep != NULL && policy_int_member(obj, path, "repeat_every_days", 1, STRATEGY_DAY_MAX,
                                         &v->repeat_every_days, err, errlen) != 0)
        return -1;
    return 0;
}

static int parse_strategy(const json_t *obj, const char *path, segment_id_t seg, strategy_t *out,
                          char *err, size_t errlen)
{
    static const char *const plain_keys[] = {"steps", "repeat_every_days", "description", NULL};
    static const char *const variants_keys[] = {"variants", "description", NULL};
    static const char *const variant_keys[] = {
        "name", "weight", "steps", "repeat_every_days", "description", NULL};
    json_t *variants;
    char sub[320], vpath[352];

    memset(out, 0, sizeof(*out));
    out->segment = seg;
    out->name = segment_name(seg);
    if (!json_is_object(obj))
        return policy_error(err, errlen, path, "must be an object");
    variants = json_object_get(obj, "variants");
    if (variants == NULL) {
        /* One ladder: a single variant, the champion. */
        if (policy_expect_keys(obj, path, plain_keys, err, errlen) != 0)
            return -1;
        out->variants = calloc(1, sizeof(*out->variants));
        if (out->variants == NULL)
            return policy_error(err, errlen, path, "out of memory");
        out->nvariants = 1;
        out->variants[0].weight = 1;
        out->variants[0].name = strdup("champion");
        if (out->variants[0].name == NULL)
            return policy_error(err, errlen, path, "out of memory");
        out->total_weight = 1;
        return ladder_from_json(obj, path, &out->variants[0], err, errlen);
    }

    if (policy_expect_keys(obj, path, variants_keys, err, errlen) != 0)
        return -1;
    snprintf(sub, sizeof(sub), "%s.variants", path);
    if (!json_is_array(variants) || json_array_size(variants) == 0)
        return policy_error(err, errlen, sub, "must be a non-empty array of variants");
    if (json_array_size(variants) > STRATEGY_MAX_VARIANTS)
        return policy_error(err, errlen, sub, "more than %d variants", STRATEGY_MAX_VARIANTS);
    out->variants = calloc(json_array_size(variants), sizeof(*out->variants));
    if (out->variants == NULL)
        return policy_error(err, errlen, sub, "out of memory");
    for (size_t i = 0; i < json_array_size(variants); i++) {
        json_t *vj = json_array_get(variants, i), *w;
        strategy_variant_t *v = &out->variants[i];
        const char *name;

        snprintf(vpath, sizeof(vpath), "%s[%zu]", sub, i);
        if (!json_is_object(vj))
            return policy_error(err, errlen, vpath, "must be an object");
        if (policy_expect_keys(vj, vpath, variant_keys, err, errlen) != 0)
            return -1;
        out->nvariants++;
        if (string_member(vj, vpath, "name", &name, err, errlen) != 0)
            return -1;
        if (!valid_name(name, false)) {
            snprintf(vpath, sizeof(vpath), "%s[%zu].name", sub, i);
            return policy_error(err, errlen, vpath,
                                "\"%s\" is not a variant name ([a-z0-9_]{1,64})", name);
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(out->variants[j].name, name) == 0) {
                snprintf(vpath, sizeof(vpath), "%s[%zu].name", sub, i);
                return policy_error(err, errlen, vpath, "duplicate variant \"%s\"", name);
            }
        }
        v->name = strdup(name);
        if (v->name == NULL)
            return policy_error(err, errlen, vpath, "out of memory");
        w = json_object_get(vj, "weight");
        if (w == NULL)
            return policy_error(err, errlen, vpath, "missing \"weight\"");
        if (!json_is_integer(w) || json_integer_value(w) <= 0 ||
            json_integer_value(w) > STRATEGY_MAX_WEIGHT) {
            snprintf(vpath, sizeof(vpath), "%s[%zu].weight", sub, i);
            return policy_error(err, errlen, vpath, "must be an integer from 1 to %d",
                                STRATEGY_MAX_WEIGHT);
        }
        v->weight = (int)json_integer_value(w);
        out->total_weight += v->weight;
        if (ladder_from_json(vj, vpath, v, err, errlen) != 0)
            return -1;
    }
    return 0;
}

int strategy_from_json(const json_t *obj, const char *path, segment_id_t seg, strategy_t *out,
                       char *err, size_t errlen)
{
    if (parse_strategy(obj, path, seg, out, err, errlen) != 0) {
        strategy_clear(out);
        return -1;
    }
    return 0;
}

void strategy_clear(strategy_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->nvariants; i++) {
        strategy_variant_t *v = &s->variants[i];
        for (size_t j = 0; j < v->nsteps; j++)
            free(v->steps[j].template_name);
        free(v->steps);
        free(v->name);
    }
    free(s->variants);
    memset(s, 0, sizeof(*s));
}

/* ---- Variants ------------------------------------------------------------------------------- */

#define FNV64_OFFSET UINT64_C(14695981039346656037)
#define FNV64_PRIME  UINT64_C(1099511628211)

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        h ^= *p;
        h *= FNV64_PRIME;
    }
    return h;
}

uint64_t strategy_hash(const char *creditor_id, const char *debtor_id, const char *strategy_name)
{
    uint64_t h = FNV64_OFFSET;

    /* The separator keeps ("ab", "c") and ("a", "bc") apart. */
    h = fnv1a(h, creditor_id);
    h = fnv1a(h, "\x1f");
    h = fnv1a(h, debtor_id);
    h = fnv1a(h, "\x1f");
    return fnv1a(h, strategy_name);
}

const strategy_variant_t *strategy_pick_variant(const strategy_t *s, const char *creditor_id,
                                                const char *debtor_id, size_t *index)
{
    uint64_t bucket;

    if (s == NULL || s->nvariants == 0 || s->total_weight <= 0)
        return NULL;
    bucket = strategy_hash(creditor_id, debtor_id, s->name) % (uint64_t)s->total_weight;
    for (size_t i = 0; i < s->nvariants; i++) {
        if (bucket < (uint64_t)s->variants[i].weight) {
            if (index != NULL)
                *index = i;
            return &s->variants[i];
        }
        bucket -= (uint64_t)s->variants[i].weight;
    }
    /* Unreachable while total_weight is the sum of the weights. */
    if (index != NULL)
        *index = s->nvariants - 1;
    return &s->variants[s->nvariants - 1];
}

/* ---- The next step -------------------------------------------------------------------------- */

strategy_status_t strategy_next_step(const struct policy *policy, const segment_result_t *result,
                                     int days_in_segment, int last_step_done, strategy_next_t *next)
{
    const strategy_t *s;
    const strategy_variant_t *v;
    const strategy_step_t *st;
    strategy_next_t n;
    long long day;
    int k;

    if (policy == NULL || result == NULL || next == NULL || last_step_done < 0 ||
        last_step_done == INT_MAX)
        return STRATEGY_ERR_ARG;
    s = policy_strategy_for(policy, result->segment);
    if (s == NULL || result->strategy == NULL || strcmp(s->name, result->strategy) != 0)
        return STRATEGY_ERR_ARG;
    if (result->variant_index >= s->nvariants || result->variant == NULL ||
        strcmp(s->variants[result->variant_index].name, result->variant) != 0)
        return STRATEGY_ERR_ARG;
    v = &s->variants[result->variant_index];

    memset(&n, 0, sizeof(n));
    k = last_step_done + 1;
    if ((size_t)k <= v->nsteps) {
        st = &v->steps[k - 1];
        day = st->day;
    } else if (v->repeat_every_days > 0) {
        st = &v->steps[v->nsteps - 1];
        day = st->day + (long long)(k - (int)v->nsteps) * v->repeat_every_days;
        if (day > INT_MAX)
            return STRATEGY_NONE;
        n.repeat = true;
    } else {
        return STRATEGY_NONE;
    }
    n.step = k;
    n.day = (int)day;
    n.due = day <= days_in_segment;
    n.action = st->action;
    n.channel = st->channel;
    n.template_name = st->template_name;
    n.priority = st->priority;
    if (result->priority_cap >= STRATEGY_PRIORITY_MIN && result->priority_cap < n.priority)
        n.priority = result->priority_cap;

    int len = snprintf(n.reason, sizeof(n.reason), "segment %s, step %d (day %d)", s->name, n.step,
                       n.day);
    if (n.repeat && len >= 0 && (size_t)len < sizeof(n.reason))
        len += snprintf(n.reason + len, sizeof(n.reason) - (size_t)len, ", repeat of step %zu",
                        v->nsteps);
    if (result->high_value && len >= 0 && (size_t)len < sizeof(n.reason))
        snprintf(n.reason + len, sizeof(n.reason) - (size_t)len, ", %s overlay",
                 SEGMENT_OVERLAY_HIGH_VALUE);
    *next = n;
    return STRATEGY_STEP;
}
