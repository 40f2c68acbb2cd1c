/* strategy.c - strategy ladders: parsing and checking them, variant assignment, the next step. */
#include "strategy.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonfield.h"

/* Actions carried out inside the organisation (the creditor's systems, the legal desk, a
 * supervisor): they, and only they, use the `internal` channel. */
static bool action_is_internal(vocab_action_t a)
{
    return a == VOCAB_ACTION_RESTRICT_SERVICE || a == VOCAB_ACTION_LEGAL_REVIEW ||
           a == VOCAB_ACTION_SUPERVISOR_REVIEW || a == VOCAB_ACTION_SKIP_TRACE ||
           a == VOCAB_ACTION_RESTORE_SERVICE;
}

/* Whether `channel` can carry `action`: a call needs a voice (phone, or in person on a visit)
 * and phone and visit carry nothing but calls; internal actions stay internal; everything
 * else is a message (sms, email, letter). */
static bool channel_carries(vocab_channel_t channel, vocab_action_t action)
{
    switch (channel) {
    case VOCAB_CHANNEL_PHONE:
    case VOCAB_CHANNEL_VISIT:
        return action == VOCAB_ACTION_CALL;
    case VOCAB_CHANNEL_INTERNAL:
        return action_is_internal(action);
    case VOCAB_CHANNEL_SMS:
    case VOCAB_CHANNEL_EMAIL:
    case VOCAB_CHANNEL_LETTER:
        return action != VOCAB_ACTION_CALL && !action_is_internal(action);
    case VOCAB_CHANNEL_COUNT:
        break;
    }
    return false;
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

/* The step's optional "fallback_channels" (version 2): distinct channels that carry its action,
 * none its own channel. */
static int fallback_from_json(const json_t *obj, const char *path, strategy_step_t *st, char *err,
                              size_t errlen)
{
    const json_t *arr = json_object_get(obj, "fallback_channels");
    char sub[JSONFIELD_PATH_MAX + 32];
    size_t i;
    json_t *v;

    st->n_fallback = 0;
    if (arr == NULL)
        return 0;
    jsonfield_path(sub, sizeof(sub), path, "fallback_channels");
    if (!json_is_array(arr) || json_array_size(arr) >= VOCAB_CHANNEL_COUNT)
        return jsonfield_error(err, errlen, sub, "must be an array of at most %d channels",
                               VOCAB_CHANNEL_COUNT - 1);
    json_array_foreach(arr, i, v)
    {
        vocab_channel_t ch;
        bool seen = false;
        if (vocab_channel_from_name(json_string_value(v), &ch) != 0 ||
            !channel_carries(ch, st->action))
            return jsonfield_error(err, errlen, sub,
                                   "item %zu: not a channel that can carry the "
                                   "step's action",
                                   i);
        for (int k = 0; k < st->n_fallback; k++)
            seen = seen || st->fallback[k] == ch;
        if (seen || ch == st->channel)
            return jsonfield_error(err, errlen, sub, "item %zu: a channel given twice", i);
        st->fallback[st->n_fallback++] = ch;
    }
    return 0;
}

static int step_from_json(const json_t *obj, const char *path, int prev_day, strategy_step_t *st,
                          char *err, size_t errlen)
{
    static const char *const keys[] = {"day",         "action",   "channel",
                                       "template",    "priority", "fallback_channels",
                                       "description", NULL};
    const char *action, *channel, *tmpl;
    char sub[320];

    if (!json_is_object(obj))
        return jsonfield_error(err, errlen, path, "must be an object");
    if (jsonfield_expect_keys(obj, path, keys, err, errlen) != 0)
        return -1;
    if (jsonfield_int(obj, path, "day", 0, STRATEGY_DAY_MAX, &st->day, err, errlen) != 0)
        return -1;
    if (st->day < prev_day) {
        snprintf(sub, sizeof(sub), "%s.day", path);
        return jsonfield_error(err, errlen, sub, "%d is before the previous step's day %d", st->day,
                               prev_day);
    }
    if (jsonfield_string(obj, path, "action", &action, err, errlen) != 0)
        return -1;
    if (vocab_action_from_name(action, &st->action) != 0) {
        snprintf(sub, sizeof(sub), "%s.action", path);
        return jsonfield_error(err, errlen, sub, "unknown action \"%s\"", action);
    }
    if (jsonfield_string(obj, path, "channel", &channel, err, errlen) != 0)
        return -1;
    snprintf(sub, sizeof(sub), "%s.channel", path);
    if (vocab_channel_from_name(channel, &st->channel) != 0)
        return jsonfield_error(err, errlen, sub, "unknown channel \"%s\"", channel);
    if (!channel_carries(st->channel, st->action))
        return jsonfield_error(err, errlen, sub, "action \"%s\" cannot go by \"%s\"", action,
                               channel);
    if (jsonfield_string(obj, path, "template", &tmpl, err, errlen) != 0)
        return -1;
    if (!valid_name(tmpl, true)) {
        snprintf(sub, sizeof(sub), "%s.template", path);
        return jsonfield_error(err, errlen, sub,
                               "\"%s\" is not a template name ([a-z0-9_.-]{1,64})", tmpl);
    }
    if (jsonfield_int(obj, path, "priority", STRATEGY_PRIORITY_MIN, STRATEGY_PRIORITY_MAX,
                      &st->priority, err, errlen) != 0 ||
        fallback_from_json(obj, path, st, err, errlen) != 0)
        return -1;
    st->template_name = strdup(tmpl);
    if (st->template_name == NULL)
        return jsonfield_error(err, errlen, path, "out of memory");
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
        return jsonfield_error(err, errlen, path, "missing \"steps\"");
    snprintf(sub, sizeof(sub), "%s.steps", path);
    if (!json_is_array(steps) || json_array_size(steps) == 0)
        return jsonfield_error(err, errlen, sub, "must be a non-empty array of steps");
    if (json_array_size(steps) > STRATEGY_MAX_STEPS)
        return jsonfield_error(err, errlen, sub, "more than %d steps", STRATEGY_MAX_STEPS);
    v->steps = calloc(json_array_size(steps), sizeof(*v->steps));
    if (v->steps == NULL)
        return jsonfield_error(err, errlen, sub, "out of memory");
    for (size_t i = 0; i < json_array_size(steps); i++) {
        strategy_step_t *st = &v->steps[i];

        snprintf(spath, sizeof(spath), "%s[%zu]", sub, i);
        if (step_from_json(json_array_get(steps, i), spath, prev_day, st, err, errlen) != 0)
            return -1;
        v->nsteps++;
        prev_day = st->day;
        if (i == 0 && st->action == VOCAB_ACTION_CALL) {
            snprintf(spath, sizeof(spath), "%s[0].action", sub);
            return jsonfield_error(err, errlen, spath,
                                   "the first step must not be a call (a first contact identifies "
                                   "the creditor in writing)");
        }
    }
    v->repeat_every_days = 0;
    rep = json_object_get(obj, "repeat_every_days");
    if (rep != NULL && jsonfield_int(obj, path, "repeat_every_days", 1, STRATEGY_DAY_MAX,
                                     &v->repeat_every_days, err, errlen) != 0)
        return -1;
    return 0;
}

/* The plain form {"steps": [...], "repeat_every_days": n}: one variant, the champion. */
static int parse_plain(const json_t *obj, const char *path, strategy_t *out, char *err,
                       size_t errlen)
{
    static const char *const plain_keys[] = {"steps", "repeat_every_days", "carry_days",
                                             "description", NULL};

    if (jsonfield_expect_keys(obj, path, plain_keys, err, errlen) != 0)
        return -1;
    out->variants = calloc(1, sizeof(*out->variants));
    if (out->variants == NULL)
        return jsonfield_error(err, errlen, path, "out of memory");
    out->nvariants = 1;
    out->variants[0].weight = 1;
    out->variants[0].name = strdup("champion");
    if (out->variants[0].name == NULL)
        return jsonfield_error(err, errlen, path, "out of memory");
    out->total_weight = 1;
    return ladder_from_json(obj, path, &out->variants[0], err, errlen);
}

/* The name of variant `i` of `out` (at `vpath`): valid, and not one of the variants before it.
 * Copied into v->name. */
static int variant_name(const json_t *vj, const char *vpath, const strategy_t *out, size_t i,
                        strategy_variant_t *v, char *err, size_t errlen)
{
    const char *name;
    char sub[JSONFIELD_PATH_MAX + 32];

    if (jsonfield_string(vj, vpath, "name", &name, err, errlen) != 0)
        return -1;
    jsonfield_path(sub, sizeof(sub), vpath, "name");
    if (!valid_name(name, false))
        return jsonfield_error(err, errlen, sub, "\"%s\" is not a variant name ([a-z0-9_]{1,64})",
                               name);
    for (size_t j = 0; j < i; j++)
        if (strcmp(out->variants[j].name, name) == 0)
            return jsonfield_error(err, errlen, sub, "duplicate variant \"%s\"", name);
    v->name = strdup(name);
    if (v->name == NULL)
        return jsonfield_error(err, errlen, vpath, "out of memory");
    return 0;
}

/* Variant `i` {"name", "weight", "steps", "repeat_every_days"} of `out`, at `vpath`. */
static int variant_from_json(const json_t *vj, const char *vpath, strategy_t *out, size_t i,
                             char *err, size_t errlen)
{
    static const char *const variant_keys[] = {
        "name", "weight", "steps", "repeat_every_days", "description", NULL};
    strategy_variant_t *v = &out->variants[i];
    char sub[JSONFIELD_PATH_MAX + 32];
    json_t *w;

    if (!json_is_object(vj))
        return jsonfield_error(err, errlen, vpath, "must be an object");
    if (jsonfield_expect_keys(vj, vpath, variant_keys, err, errlen) != 0)
        return -1;
    out->nvariants++;
    if (variant_name(vj, vpath, out, i, v, err, errlen) != 0)
        return -1;
    w = json_object_get(vj, "weight");
    if (w == NULL)
        return jsonfield_error(err, errlen, vpath, "missing \"weight\"");
    if (!json_is_integer(w) || json_integer_value(w) <= 0 ||
        json_integer_value(w) > STRATEGY_MAX_WEIGHT)
        return jsonfield_error(err, errlen, jsonfield_path(sub, sizeof(sub), vpath, "weight"),
                               "must be an integer from 1 to %d", STRATEGY_MAX_WEIGHT);
    v->weight = (int)json_integer_value(w);
    out->total_weight += v->weight;
    return ladder_from_json(vj, vpath, v, err, errlen);
}

/* The champion/challenger form {"variants": [...]}. */
static int parse_variants(const json_t *obj, const char *path, strategy_t *out, char *err,
                          size_t errlen)
{
    static const char *const variants_keys[] = {"variants", "carry_days", "description", NULL};
    json_t *variants = json_object_get(obj, "variants");
    char sub[JSONFIELD_PATH_MAX], vpath[JSONFIELD_PATH_MAX + 32];

    if (jsonfield_expect_keys(obj, path, variants_keys, err, errlen) != 0)
        return -1;
    snprintf(sub, sizeof(sub), "%s.variants", path);
    if (!json_is_array(variants) || json_array_size(variants) == 0)
        return jsonfield_error(err, errlen, sub, "must be a non-empty array of variants");
    if (json_array_size(variants) > STRATEGY_MAX_VARIANTS)
        return jsonfield_error(err, errlen, sub, "more than %d variants", STRATEGY_MAX_VARIANTS);
    out->variants = calloc(json_array_size(variants), sizeof(*out->variants));
    if (out->variants == NULL)
        return jsonfield_error(err, errlen, sub, "out of memory");
    for (size_t i = 0; i < json_array_size(variants); i++) {
        snprintf(vpath, sizeof(vpath), "%s[%zu]", sub, i);
        if (variant_from_json(json_array_get(variants, i), vpath, out, i, err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int parse_strategy(const json_t *obj, const char *path, segment_id_t seg, strategy_t *out,
                          char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->segment = seg;
    out->name = segment_name(seg);
    if (!json_is_object(obj))
        return jsonfield_error(err, errlen, path, "must be an object");
    if (json_object_get(obj, "carry_days") != NULL && /* version 2 (escalation.h) */
        jsonfield_int(obj, path, "carry_days", 0, STRATEGY_DAY_MAX, &out->carry_days, err,
                      errlen) != 0)
        return -1;
    if (json_object_get(obj, "variants") == NULL)
        return parse_plain(obj, path, out, err, errlen);
    return parse_variants(obj, path, out, err, errlen);
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

/* The variant of `s` that `result` names, or NULL when `result` was not decided with `s` (its
 * strategy or variant is not there, or is another one under the same index). */
static const strategy_variant_t *variant_of(const strategy_t *s, const segment_result_t *result)
{
    const strategy_variant_t *v;

    if (s == NULL || result->strategy == NULL || strcmp(s->name, result->strategy) != 0)
        return NULL;
    if (result->variant_index >= s->nvariants || result->variant == NULL)
        return NULL;
    v = &s->variants[result->variant_index];
    return strcmp(v->name, result->variant) == 0 ? v : NULL;
}

/* Step number `k` (1-based) of ladder `v`: its step into *st and its day into *day, a repeat of
 * the last step past the end when the ladder repeats. False when there is no such step. */
static bool step_at(const strategy_variant_t *v, int k, const strategy_step_t **st, long long *day,
                    bool *repeat)
{
    *repeat = false;
    if ((size_t)k <= v->nsteps) {
        *st = &v->steps[k - 1];
        *day = (*st)->day;
        return true;
    }
    if (v->repeat_every_days <= 0)
        return false;
    *st = &v->steps[v->nsteps - 1];
    *day = (*st)->day + (long long)(k - (int)v->nsteps) * v->repeat_every_days;
    *repeat = true;
    return *day <= INT_MAX;
}

/* Writes n->reason: "segment <s>, step <n> (day <d>)[, repeat of step <m>][, high_value
 * overlay]". */
static void write_reason(strategy_next_t *n, const strategy_t *s, const strategy_variant_t *v,
                         bool high_value)
{
    int len = snprintf(n->reason, sizeof(n->reason), "segment %s, step %d (day %d)", s->name,
                       n->step, n->day);

    if (n->repeat && len >= 0 && (size_t)len < sizeof(n->reason))
        len += snprintf(n->reason + len, sizeof(n->reason) - (size_t)len, ", repeat of step %zu",
                        v->nsteps);
    if (high_value && len >= 0 && (size_t)len < sizeof(n->reason))
        snprintf(n->reason + len, sizeof(n->reason) - (size_t)len, ", %s overlay",
                 SEGMENT_OVERLAY_HIGH_VALUE);
}

strategy_status_t strategy_next_step(const strategy_t *s, const segment_result_t *result,
                                     int days_in_segment, int last_step_done, strategy_next_t *next)
{
    const strategy_variant_t *v;
    const strategy_step_t *st;
    strategy_next_t n;
    long long day;

    if (result == NULL || next == NULL || last_step_done < 0 || last_step_done == INT_MAX)
        return STRATEGY_ERR_ARG;
    v = variant_of(s, result);
    if (v == NULL)
        return STRATEGY_ERR_ARG;

    memset(&n, 0, sizeof(n));
    if (!step_at(v, last_step_done + 1, &st, &day, &n.repeat))
        return STRATEGY_NONE;
    n.step = last_step_done + 1;
    n.day = (int)day;
    n.due = day <= days_in_segment;
    n.action = st->action;
    n.channel = st->channel;
    n.template_name = st->template_name;
    n.priority = st->priority;
    if (result->priority_cap >= STRATEGY_PRIORITY_MIN && result->priority_cap < n.priority)
        n.priority = result->priority_cap;
    write_reason(&n, s, v, result->high_value);
    *next = n;
    return STRATEGY_STEP;
}
