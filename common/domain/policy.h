/* policy.h - the collections policy: segmentation rules, strategies, negotiation limits, contact.
 *
 * One JSON document (deploy/policy/default.json, schema proto/policy.schema.json) decides how
 * every case is treated, before any conversation (DOMAIN.md, principles 1 and 2):
 *
 *   {
 *     "version": 3, "name": "default", "description": "...",
 *     "segmentation": {
 *       "rules": [ {"id": "disputed.open_dispute", "segment": "disputed",
 *                   "when": {"open_dispute": true}},
 *                  ...,
 *                  {"id": "evasive.default", "segment": "evasive", "default": true} ],
 *       "high_value": {"threshold": {"default": "5000", "JPY": "750000"}, "priority": 1,
 *                      "senior_agent": true}
 *     },
 *     "strategies": { "<segment>": <strategy, see strategy.h>, ... },
 *     "negotiation": {
 *       "promise_grace_days": 3, "plan_default_missed_installments": 2,
 *       "limits": { "default": {...all limits...}, "<segment>": {...some limits...} }
 *     },
 *     "contact": { <contact.h's section> },
 *     "conversation": { <conversation.h's section: objection codes, techniques, stage rules> }
 *   }
 *
 * Rules are evaluated in order and the first whose conditions hold wins (segment.h documents
 * the condition language); the last rule, and only it, is the default: {"default": true} and
 * no "when". Every segment a rule names needs a strategy. Rule ids are unique.
 *
 * Amounts (the high_value threshold, min_installment) are either a whole amount as a decimal
 * string ("5000": that many major units of the case's currency, whatever it is) or an object
 * {"default": "5000", "JPY": "750000", "EUR": "4999.99"} whose per-currency entries are read
 * with that currency's decimals; "default" may then be omitted, and a currency without an entry
 * and without a default has no such amount (segmentation and limit checks report it).
 *
 * Negotiation limits: `limits.default` gives all of max_installments (0 = no plans),
 * min_installment, max_plan_days, min_down_payment_pct and max_settlement_discount_pct (whole
 * percents 0..100), max_promise_days (how far ahead a promise's date may be) and optionally
 * supervisor_only (every agreement goes to a supervisor); a segment's entry overrides only the
 * keys it gives.
 *
 * Refused policies: policy_parse() reports the first problem as "<JSON path>: <problem>", e.g.
 *   strategies.evasive.steps[2].channel: unknown channel "fax"
 *   segmentation.rules[4].segment: no strategy for segment "chronic"
 * Unknown keys are refused too, so that a misspelt limit never goes unnoticed; a free-text
 * "description" is allowed in every object outside "contact" and when-conditions, and "$schema"
 * at the top.
 *
 * Who does what: this module owns the document, its sections and the negotiation limits, and
 * evaluates a case against the whole policy (policy_segment(): the rules, the high_value
 * overlay, the strategy variant). segment.h owns the features and the condition language,
 * strategy.h the ladders and the next step, contact.h the "contact" section, vocab.h the names
 * of actions, channels and stages, jsonfield.h the "<path>: <problem>" readers all of them
 * share. policy includes those; none of them includes policy.h.
 *
 * A loaded policy is immutable: share it between threads freely, free it once. Everything but
 * policy_load_file() is pure. */
#ifndef RECOBRO_POLICY_H
#define RECOBRO_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "charges.h"
#include "contact.h"
#include "conversation.h"
#include "planrules.h"
#include "segment.h"
#include "strategy.h"

/* A comfortable size for error texts of this module (they are truncated to errlen). */
#define POLICY_ERR_MAX 256

/* Most per-currency entries one amount may have. */
#define POLICY_AMOUNT_MAX_CURRENCIES 32

/* An amount that depends on the case's currency (see above). */
typedef struct policy_amount {
    bool has_default;
    char default_text[SEGMENT_AMOUNT_MAX]; /* a whole amount, e.g. "5000" */
    size_t n;                              /* per-currency entries */
    struct {
        char currency[4];
        int64_t minor;
    } by_currency[POLICY_AMOUNT_MAX_CURRENCIES];
} policy_amount_t;

/* The amount `a` in `currency`, in minor units, into *out. Returns 0; -1 when the currency is
 * unknown (or an argument NULL); -2 when `a` has neither an entry for it nor a default. */
__attribute__((warn_unused_result)) int policy_amount_in(const policy_amount_t *a,
                                                         const char *currency, int64_t *out);

typedef struct policy_rule {
    char *id; /* owned, unique in the policy */
    segment_id_t segment;
    segment_cond_t *conds; /* owned, NULL when nconds is 0 */
    size_t nconds;
    bool is_default; /* the last rule: no conditions, always matches */
} policy_rule_t;

typedef struct policy_high_value {
    bool enabled;              /* the policy has a high_value section */
    policy_amount_t threshold; /* the overlay applies when balance >= threshold (and > 0) */
    int priority;              /* tasks of such cases are at least this urgent (1..5) */
    bool senior_agent;         /* route calls and visits to a senior agent */
} policy_high_value_t;

typedef struct policy_limits {
    int max_installments;            /* 0: no instalment plans in this segment */
    policy_amount_t min_installment; /* every instalment but the last; every partial promise */
    int max_plan_days;               /* last instalment at most this many days from today */
    int min_down_payment_pct;        /* of the balance, 0..100 */
    int max_settlement_discount_pct; /* of the balance a plan may leave unpaid, 0..100 */
    int max_promise_days;            /* a promise's due date at most this many days ahead */
    bool supervisor_only;            /* no agreement applies without a supervisor */
} policy_limits_t;

typedef struct policy {
    int version;          /* > 0, recorded with every decision */
    char *name;           /* owned */
    policy_rule_t *rules; /* owned, nrules >= 1, the last one the default */
    size_t nrules;
    policy_high_value_t high_value;
    strategy_t strategies[SEGMENT_COUNT];  /* by segment; nvariants == 0 when it has none */
    int promise_grace_days;                /* a promise is kept if paid by due + grace */
    int plan_default_missed_installments;  /* missed instalments that default a plan */
    policy_limits_t limits[SEGMENT_COUNT]; /* by segment, defaults already merged in */
    contact_rules_t contact;
    charges_rules_t charges;   /* late interest and fees (charges.h); zero: none */
    conv_rules_t conversation; /* objection codes, techniques, stage rules (conversation.h) */
    planrules_t planning;      /* "promise", "unreached", "delivery" (planrules.h) */
} policy_t;

/* ---- Loading -------------------------------------------------------------------------------- */

/* Parses and checks the policy document `json` (NUL-terminated). Returns a new policy_t (free
 * it with policy_free()), or NULL with the first problem in err (may be NULL; truncated to
 * errlen), as "<JSON path>: <problem>", or "line L, column C: <problem>" for bad JSON. */
__attribute__((warn_unused_result)) policy_t *policy_parse(const char *json, char *err,
                                                           size_t errlen);

/* Reads the file at `path` and parses it as policy_parse() does. Returns a new policy_t, or
 * NULL with err filled as "<path>: <problem>". */
__attribute__((warn_unused_result)) policy_t *policy_load_file(const char *path, char *err,
                                                               size_t errlen);

/* Frees the policy and all it owns. NULL is a no-op. */
void policy_free(policy_t *policy);

/* The strategy of segment `seg` (borrowed), or NULL when the policy has none for it. */
const strategy_t *policy_strategy_for(const policy_t *policy, segment_id_t seg);

/* The negotiation limits of segment `seg` (borrowed; the defaults merged in), or NULL when
 * `policy` is NULL or `seg` is out of range. */
const policy_limits_t *policy_limits_for(const policy_t *policy, segment_id_t seg);

/* ---- Segmentation -------------------------------------------------------------------------- */

/* Segments one case: the first rule of `policy` whose conditions hold (segment.h), the
 * high_value overlay, and the variant of the segment's strategy assigned to (creditor_id,
 * debtor_id) (strategy_pick_variant()). Pure. Returns SEGMENT_OK with *out filled, or a
 * negative segment_err_t (and *out untouched). No argument may be NULL. The next step of the
 * ladder is then strategy_next_step(policy_strategy_for(policy, out->segment), out, ...). */
__attribute__((warn_unused_result)) segment_err_t
policy_segment(const policy_t *policy, const segment_features_t *features, const char *creditor_id,
               const char *debtor_id, segment_result_t *out);

/* ---- Negotiation limits --------------------------------------------------------------------- */

/* Which limit an agreement breaks. The names (policy_limit_name()) are stable codes for the
 * supervisor_review task's reason and for metrics. */
typedef enum policy_limit {
    POLICY_LIMIT_OK = 0,           /* "ok" */
    POLICY_LIMIT_SUPERVISOR_ONLY,  /* "supervisor_only": the segment allows none unapproved */
    POLICY_LIMIT_INVALID_AMOUNT,   /* "invalid_amount": an amount <= 0, or totals overflow */
    POLICY_LIMIT_EXCEEDS_BALANCE,  /* "exceeds_balance": more than the documented balance */
    POLICY_LIMIT_INVALID_DATE,     /* "invalid_date": in the past, or not in order */
    POLICY_LIMIT_MAX_PROMISE_DAYS, /* "max_promise_days" */
    POLICY_LIMIT_MAX_INSTALLMENTS, /* "max_installments" */
    POLICY_LIMIT_MAX_PLAN_DAYS,    /* "max_plan_days" */
    POLICY_LIMIT_MIN_INSTALLMENT,  /* "min_installment" */
    POLICY_LIMIT_MIN_DOWN_PAYMENT, /* "min_down_payment_pct" */
    POLICY_LIMIT_MAX_DISCOUNT,     /* "max_settlement_discount_pct" */
    POLICY_LIMIT_NO_AMOUNT,        /* "no_min_installment": none defined for the currency */
} policy_limit_t;

/* The stable code of a limit (see above); "unknown" when out of range. */
const char *policy_limit_name(policy_limit_t limit);

/* The outcome of a check: the first limit broken, and a sentence for the supervisor (no
 * personal data), e.g. "8 installments exceed the maximum of 6 for segment willing_unable". */
typedef struct policy_check {
    policy_limit_t limit;
    char detail[200];
} policy_check_t;

/* One instalment: a date as a day number (days since 1970-01-01, or any consistent count) and
 * an amount in minor units of the plan's currency. */
typedef struct policy_installment {
    int32_t due_day;
    int64_t amount;
} policy_installment_t;

/* Checks a promise of `amount` due on `due_day`, made on `today`, for a case of segment `seg`
 * with `balance` open in `currency`. Checked in this order: supervisor_only, amount > 0,
 * amount <= balance, today <= due_day, due_day - today <= max_promise_days, and amount >=
 * min_installment unless the promise pays the whole balance. Pure. Returns 0 with *out filled
 * (out->limit is POLICY_LIMIT_OK or the limit broken), or -1 when an argument is NULL or `seg`
 * is out of range. */
__attribute__((warn_unused_result)) int policy_check_promise(const policy_t *policy,
                                                             segment_id_t seg, const char *currency,
                                                             int64_t balance, int64_t amount,
                                                             int32_t today, int32_t due_day,
                                                             policy_check_t *out);

/* Checks an instalment plan agreed on `today`: `down_payment` (0 for none) plus `n`
 * instalments, for a case of segment `seg` with `balance` open in `currency`. Checked in this
 * order: supervisor_only; 1 <= n <= max_installments; amounts > 0 (down payment >= 0) and the
 * total fits; total <= balance; dates on or after today and strictly increasing; the last one
 * at most max_plan_days after today; every instalment but the last >= min_installment (the last
 * may be the smaller remainder); down payment >= min_down_payment_pct of the balance (rounded
 * up to the minor unit); the balance left unpaid (a settlement discount) <=
 * max_settlement_discount_pct of it. Pure. Returns like policy_check_promise(). */
__attribute__((warn_unused_result)) int
policy_check_plan(const policy_t *policy, segment_id_t seg, const char *currency, int64_t balance,
                  int64_t down_payment, const policy_installment_t *installments, size_t n,
                  int32_t today, policy_check_t *out);

#endif
