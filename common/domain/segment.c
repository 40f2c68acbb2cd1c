/* segment.c - debtor segmentation: the feature table, the condition language, rule evaluation. */
#include "segment.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "jsonfield.h"
#include "money.h"

static const char *const segment_names[SEGMENT_COUNT] = {
    [SEGMENT_UNAWARE] = "unaware",
    [SEGMENT_FORGETFUL] = "forgetful",
    [SEGMENT_WILLING_UNABLE] = "willing_unable",
    [SEGMENT_EVASIVE] = "evasive",
    [SEGMENT_CHRONIC] = "chronic",
    [SEGMENT_DISPUTED] = "disputed",
    [SEGMENT_RESOLVED] = "resolved",
};

const char *segment_name(segment_id_t seg)
{
    if ((int)seg < 0 || seg >= SEGMENT_COUNT)
        return NULL;
    return segment_names[seg];
}

int segment_from_name(const char *name, segment_id_t *out)
{
    if (name == NULL)
        return -1;
    for (int i = 0; i < SEGMENT_COUNT; i++) {
        if (strcmp(segment_names[i], name) == 0) {
            *out = (segment_id_t)i;
            return 0;
        }
    }
    return -1;
}

/* ---- The feature table ---------------------------------------------------------------------- */

#define F(field, type, text)                                                                       \
    {                                                                                              \
#field, SEGMENT_FEATURE_##type, offsetof(segment_features_t, field), text                  \
    }

/* Every feature a condition may test, in the order of segment_features_t. */
static const segment_feature_t features_table[] = {
    F(days_past_due, INT, "days past due of the oldest open invoice"),
    F(balance, MONEY, "open balance, in the case's currency"),
    F(invoices_open, INT, "invoices with an open amount"),
    F(promises_kept, INT, "promises settled as kept"),
    F(promises_broken, INT, "promises settled as broken"),
    F(promises_partially_kept, INT, "promises settled as partially kept"),
    F(right_party_contacts, INT, "conversations with the debtor"),
    F(contact_attempts, INT, "contact attempts, any outcome"),
    F(attempts_without_answer, INT, "consecutive no_answer/voicemail attempts"),
    F(wrong_party_contacts, INT, "attempts that reached someone else"),
    F(open_dispute, BOOL, "a dispute is open"),
    F(partial_payments, INT, "payments smaller than what was due or promised"),
    F(payments_count, INT, "payments received"),
    F(stage, STAGE, "negotiation stage reached"),
    F(hardship_objections, INT, "hardship objections recorded"),
    F(refusal_count, INT, "contacts with the outcome refused"),
    F(delivery_failures, INT, "letters, SMS and e-mails not delivered"),
    F(days_in_segment, INT, "days since the case entered its segment"),
    F(plan_active, BOOL, "an instalment plan is active"),
    F(plan_defaulted_count, INT, "instalment plans that defaulted"),
    F(ever_contacted, BOOL, "at least one right-party contact, ever"),
};

#undef F

#define FEATURE_COUNT (sizeof(features_table) / sizeof(features_table[0]))

size_t segment_feature_count(void)
{
    return FEATURE_COUNT;
}

const segment_feature_t *segment_feature_at(size_t i)
{
    return i < FEATURE_COUNT ? &features_table[i] : NULL;
}

const segment_feature_t *segment_feature_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < FEATURE_COUNT; i++)
        if (strcmp(features_table[i].name, name) == 0)
            return &features_table[i];
    return NULL;
}

int64_t segment_feature_value(const segment_feature_t *f, const segment_features_t *features)
{
    const char *p = (const char *)features + f->offset;

    switch (f->type) {
    case SEGMENT_FEATURE_INT: {
        int32_t v;
        memcpy(&v, p, sizeof(v));
        return v;
    }
    case SEGMENT_FEATURE_BOOL: {
        bool v;
        memcpy(&v, p, sizeof(v));
        return v ? 1 : 0;
    }
    case SEGMENT_FEATURE_MONEY: {
        int64_t v;
        memcpy(&v, p, sizeof(v));
        return v;
    }
    case SEGMENT_FEATURE_STAGE: {
        vocab_stage_t v;
        memcpy(&v, p, sizeof(v));
        return (int64_t)v;
    }
    }
    return 0;
}

/* Writes the value `v` (already checked) of feature `f` into `features`. */
static void feature_store(const segment_feature_t *f, segment_features_t *features, int64_t v)
{
    char *p = (char *)features + f->offset;

    switch (f->type) {
    case SEGMENT_FEATURE_INT: {
        int32_t x = (int32_t)v;
        memcpy(p, &x, sizeof(x));
        break;
    }
    case SEGMENT_FEATURE_BOOL: {
        bool x = v != 0;
        memcpy(p, &x, sizeof(x));
        break;
    }
    case SEGMENT_FEATURE_MONEY:
        memcpy(p, &v, sizeof(v));
        break;
    case SEGMENT_FEATURE_STAGE: {
        vocab_stage_t x = (vocab_stage_t)v;
        memcpy(p, &x, sizeof(x));
        break;
    }
    }
}

/* Reads the value `v` of feature `feat` (its key `key`) into *f. A money feature is only
 * checked to be a string, kept in *money_text: its currency may come later in the object. */
static int feature_from_json(const segment_feature_t *feat, const char *key, const json_t *v,
                             segment_features_t *f, const char **money_text, char *err,
                             size_t errlen)
{
    vocab_stage_t st;

    switch (feat->type) {
    case SEGMENT_FEATURE_INT:
        if (!json_is_integer(v) || json_integer_value(v) < INT32_MIN ||
            json_integer_value(v) > INT32_MAX)
            return jsonfield_error(err, errlen, key, "must be a 32-bit integer");
        feature_store(feat, f, json_integer_value(v));
        return 0;
    case SEGMENT_FEATURE_BOOL:
        if (!json_is_boolean(v))
            return jsonfield_error(err, errlen, key, "must be true or false");
        feature_store(feat, f, json_is_true(v));
        return 0;
    case SEGMENT_FEATURE_STAGE:
        if (!json_is_string(v) || vocab_stage_from_name(json_string_value(v), &st) != 0)
            return jsonfield_error(err, errlen, key, "must be a stage name");
        feature_store(feat, f, st);
        return 0;
    case SEGMENT_FEATURE_MONEY:
        if (!json_is_string(v))
            return jsonfield_error(err, errlen, key, "must be a decimal string");
        *money_text = json_string_value(v);
        return 0;
    }
    return jsonfield_error(err, errlen, key, "unsupported feature type");
}

/* Reads the balance `text` in the currency of *f (which must have one) into f->balance. */
static int balance_from_text(const char *text, segment_features_t *f, char *err, size_t errlen)
{
    money_err_t merr;
    int64_t minor;

    if (f->currency[0] == '\0')
        return jsonfield_error(err, errlen, "currency", "required with balance");
    merr = money_parse(text, f->currency, MONEY_ALLOW_NEGATIVE, &minor);
    if (merr != MONEY_OK)
        return jsonfield_error(err, errlen, "balance", "\"%s\": %s", text, money_strerror(merr));
    f->balance = minor;
    return 0;
}

int segment_features_from_json(const json_t *obj, segment_features_t *out, char *err, size_t errlen)
{
    segment_features_t f = SEGMENT_FEATURES_INIT;
    const char *key, *balance_text = NULL;
    json_t *v;

    if (!json_is_object(obj))
        return jsonfield_error(err, errlen, "features", "must be an object");
    json_object_foreach((json_t *)obj, key, v)
    {
        const segment_feature_t *feat;

        if (strcmp(key, "currency") == 0) {
            if (!json_is_string(v) || !money_currency_known(json_string_value(v)))
                return jsonfield_error(err, errlen, key, "must be a known ISO 4217 code");
            memcpy(f.currency, json_string_value(v), 4);
            continue;
        }
        feat = segment_feature_find(key);
        if (feat == NULL)
            return jsonfield_error(err, errlen, key, "unknown feature");
        if (feature_from_json(feat, key, v, &f, &balance_text, err, errlen) != 0)
            return -1;
    }
    if (balance_text != NULL && balance_from_text(balance_text, &f, err, errlen) != 0)
        return -1;
    *out = f;
    return 0;
}

/* ---- Conditions ----------------------------------------------------------------------------- */

static const struct {
    const char *name;
    segment_op_t op;
} ops_table[] = {
    {"eq", SEGMENT_OP_EQ},   {"ne", SEGMENT_OP_NE}, {"lt", SEGMENT_OP_LT},
    {"lte", SEGMENT_OP_LTE}, {"gt", SEGMENT_OP_GT}, {"gte", SEGMENT_OP_GTE},
};

#define OPS_COUNT (sizeof(ops_table) / sizeof(ops_table[0]))

/* Largest whole amount accepted in a money condition: times 10^4 (the most minor-unit digits
 * of any currency) it still fits in an int64_t, so it reads in every currency. */
#define WHOLE_AMOUNT_MAX INT64_C(922337203685477)

bool segment_amount_is_whole(const char *s)
{
    size_t len = s == NULL ? 0 : strlen(s);
    int64_t v = 0;

    if (len == 0 || len >= SEGMENT_AMOUNT_MAX || (s[0] == '0' && len > 1))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        if (v > (WHOLE_AMOUNT_MAX - (s[i] - '0')) / 10)
            return false;
        v = v * 10 + (s[i] - '0');
    }
    return true;
}

/* Reads the operand `v` of one test on feature `f` into *c. `path` names the operand. */
static int operand_from_json(const segment_feature_t *f, const json_t *v, segment_op_t op,
                             const char *path, segment_cond_t *c, char *err, size_t errlen)
{
    switch (f->type) {
    case SEGMENT_FEATURE_INT:
        if (!json_is_integer(v))
            return jsonfield_error(err, errlen, path, "must be an integer");
        if (json_integer_value(v) < INT32_MIN || json_integer_value(v) > INT32_MAX)
            return jsonfield_error(err, errlen, path, "out of range");
        c->value = json_integer_value(v);
        return 0;
    case SEGMENT_FEATURE_BOOL:
        if (op != SEGMENT_OP_EQ && op != SEGMENT_OP_NE)
            return jsonfield_error(err, errlen, path, "a boolean feature takes only eq or ne");
        if (!json_is_boolean(v))
            return jsonfield_error(err, errlen, path, "must be true or false");
        c->value = json_is_true(v);
        return 0;
    case SEGMENT_FEATURE_STAGE: {
        vocab_stage_t st;
        if (!json_is_string(v) || vocab_stage_from_name(json_string_value(v), &st) != 0)
            return jsonfield_error(err, errlen, path,
                                   "must be a stage (none, recognized, accepted, amount_agreed, "
                                   "date_agreed)");
        c->value = st;
        return 0;
    }
    case SEGMENT_FEATURE_MONEY:
        if (!json_is_string(v) || !segment_amount_is_whole(json_string_value(v)))
            return jsonfield_error(err, errlen, path,
                                   "must be a whole amount as a decimal string, e.g. \"5000\"");
        snprintf(c->amount, sizeof(c->amount), "%s", json_string_value(v));
        return 0;
    }
    return jsonfield_error(err, errlen, path, "unsupported feature type");
}

/* A growing array of compiled conditions. */
typedef struct cond_list {
    segment_cond_t *items;
    size_t n, cap;
} cond_list_t;

static int cond_list_push(cond_list_t *l, const segment_cond_t *c)
{
    if (GROW(l->items, l->cap, l->n, 8) != 0)
        return -1;
    l->items[l->n++] = *c;
    return 0;
}

/* Compiles the test of one feature (`test`, at `path`) onto the list. */
static int test_from_json(const segment_feature_t *f, const json_t *test, const char *path,
                          cond_list_t *l, char *err, size_t errlen)
{
    const char *opname;
    json_t *operand;
    char opath[320];
    segment_cond_t c;

    if (!json_is_object(test)) {
        /* The shorthand: a bare value means {"eq": value}. */
        memset(&c, 0, sizeof(c));
        c.feature = f;
        c.op = SEGMENT_OP_EQ;
        if (operand_from_json(f, test, c.op, path, &c, err, errlen) != 0)
            return -1;
        return cond_list_push(l, &c) == 0 ? 0 : jsonfield_error(err, errlen, path, "out of memory");
    }
    if (json_object_size(test) == 0)
        return jsonfield_error(err, errlen, path, "needs at least one operator");
    json_object_foreach((json_t *)test, opname, operand)
    {
        size_t k;

        for (k = 0; k < OPS_COUNT; k++)
            if (strcmp(ops_table[k].name, opname) == 0)
                break;
        if (k == OPS_COUNT)
            return jsonfield_error(err, errlen, path,
                                   "unknown operator \"%s\" (eq, ne, lt, lte, gt, gte)", opname);
        memset(&c, 0, sizeof(c));
        c.feature = f;
        c.op = ops_table[k].op;
        snprintf(opath, sizeof(opath), "%s.%s", path, opname);
        if (operand_from_json(f, operand, c.op, opath, &c, err, errlen) != 0)
            return -1;
        if (cond_list_push(l, &c) != 0)
            return jsonfield_error(err, errlen, path, "out of memory");
    }
    return 0;
}

int segment_conds_from_json(const json_t *when, const char *path, segment_cond_t **out, size_t *n,
                            char *err, size_t errlen)
{
    cond_list_t l = {NULL, 0, 0};
    const char *key;
    json_t *test;
    char sub[256];

    *out = NULL;
    *n = 0;
    if (!json_is_object(when))
        return jsonfield_error(err, errlen, path, "must be an object of conditions");
    json_object_foreach((json_t *)when, key, test)
    {
        const segment_feature_t *f = segment_feature_find(key);

        snprintf(sub, sizeof(sub), "%s.%s", path, key);
        if (f == NULL || test_from_json(f, test, sub, &l, err, errlen) != 0) {
            free(l.items);
            return f == NULL ? jsonfield_error(err, errlen, sub, "unknown feature") : -1;
        }
    }
    *out = l.items;
    *n = l.n;
    return 0;
}

static bool compare(int64_t a, segment_op_t op, int64_t b)
{
    switch (op) {
    case SEGMENT_OP_EQ:
        return a == b;
    case SEGMENT_OP_NE:
        return a != b;
    case SEGMENT_OP_LT:
        return a < b;
    case SEGMENT_OP_LTE:
        return a <= b;
    case SEGMENT_OP_GT:
        return a > b;
    case SEGMENT_OP_GTE:
        return a >= b;
    }
    return false;
}

int segment_cond_test(const segment_cond_t *c, const segment_features_t *features)
{
    int64_t have = segment_feature_value(c->feature, features);
    int64_t want = c->value;

    if (c->feature->type == SEGMENT_FEATURE_MONEY) {
        /* A whole amount checked at load time fits every known currency; only an unknown
         * currency can fail here. */
        if (money_parse(c->amount, features->currency, 0, &want) != MONEY_OK)
            return -1;
    }
    return compare(have, c->op, want) ? 1 : 0;
}

/* ---- Errors ------------------------------------------------------------------------------- */

const char *segment_strerror(segment_err_t err)
{
    switch (err) {
    case SEGMENT_OK:
        return "ok";
    case SEGMENT_ERR_ARG:
        return "missing argument";
    case SEGMENT_ERR_CURRENCY:
        return "an amount of the policy cannot be read in the case's currency";
    case SEGMENT_ERR_NO_RULE:
        return "no segmentation rule or strategy applies";
    }
    return "unknown error";
}
