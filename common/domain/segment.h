/* segment.h - debtor segmentation: a case's features in, its segment out, by the policy's rules.
 *
 * A policy (policy.h) holds an ordered list of segmentation rules. Each rule names a segment and
 * a set of conditions over the case features below; the first rule whose conditions all hold
 * wins, and the policy's last rule is a default without conditions, so every case gets exactly
 * one segment. The `high_value` overlay is evaluated separately: it never replaces the base
 * segment (and its strategy), it only marks the case for priority and senior handling.
 *
 * The condition language (a rule's "when" object), documented here once:
 *
 *   "when": { "<feature>": <test>, ... }      every test must hold (AND); use several rules
 *                                             for the same segment to express OR, so that the
 *                                             rule id recorded says which reason applied
 *   <test> := <integer>                       shorthand for {"eq": <integer>}
 *           | true | false                    boolean features only
 *           | "<stage>"                       the `stage` feature only: {"eq": "<stage>"}
 *           | { "<op>": <value>, ... }        every operator must hold
 *   <op>   := "eq" | "ne" | "lt" | "lte" | "gt" | "gte"
 *   <value>:= an integer for counts and days, true/false for booleans (eq/ne only), a stage
 *             name for `stage` (ordered none < recognized < accepted < amount_agreed <
 *             date_agreed), and for money features (`balance`) a whole amount as a decimal
 *             string such as "0" or "5000", read in the case's own currency (5000 EUR for a
 *             EUR case, 5000 JPY for a JPY case).
 *
 *   {"promises_broken": {"gte": 2}, "days_past_due": {"gte": 31, "lte": 90}, "plan_active": false}
 *
 * The features are described by one declarative table (segment_feature_at()); adding a feature
 * is one field in segment_features_t plus one row in that table, and the condition language,
 * segment_features_from_json() and the policy schema's feature list follow from it.
 *
 * This module owns the features and the condition language; the rule list, the overlay and the
 * strategy variant are the policy's, and policy_segment() (policy.h) evaluates them on a case,
 * so that this file needs neither policy.h nor strategy.h.
 *
 * Everything here is pure: no I/O, no clock, no global state. The same policy and features
 * always give the same result. */
#ifndef RECOBRO_SEGMENT_H
#define RECOBRO_SEGMENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vocab.h"

/* The base segments of DOMAIN.md. `high_value` is not among them: it is an overlay. */
typedef enum segment_id {
    SEGMENT_UNAWARE = 0,
    SEGMENT_FORGETFUL,
    SEGMENT_WILLING_UNABLE,
    SEGMENT_EVASIVE,
    SEGMENT_CHRONIC,
    SEGMENT_DISPUTED,
    SEGMENT_RESOLVED,
    SEGMENT_COUNT
} segment_id_t;

/* The name of the high-value overlay, as it appears in policies and reasons. */
#define SEGMENT_OVERLAY_HIGH_VALUE "high_value"

/* The stable name of a segment ("evasive"), or NULL when `seg` is out of range. */
const char *segment_name(segment_id_t seg);

/* Looks up a segment by name. Returns 0 and sets *out, or -1 when the name is unknown (this
 * includes "high_value", which is an overlay). `name` may be NULL (-1). */
int segment_from_name(const char *name, segment_id_t *out);

/* What segmentation looks at: a plain value, filled by whoever knows the case (the database
 * layer, a test). Counts are over the case's whole history unless said otherwise. */
typedef struct segment_features {
    int32_t days_past_due;           /* of the oldest open invoice; <= 0 when none is overdue */
    int64_t balance;                 /* open balance in minor units of `currency` */
    char currency[4];                /* ISO 4217 code of the balance, NUL-terminated */
    int32_t invoices_open;           /* invoices with an open amount */
    int32_t promises_kept;           /* promises settled as kept */
    int32_t promises_broken;         /* promises settled as broken (nothing or too little paid) */
    int32_t promises_partially_kept; /* promises settled as partially kept */
    int32_t right_party_contacts;    /* conversations with the debtor */
    int32_t contact_attempts;        /* all contact attempts, any outcome */
    int32_t attempts_without_answer; /* consecutive no_answer/voicemail since the last answer */
    int32_t wrong_party_contacts;    /* attempts that reached someone else */
    bool open_dispute;               /* a dispute is open on the case or one of its invoices */
    int32_t partial_payments;        /* payments smaller than what was due or promised */
    int32_t payments_count;          /* payments received (reversed ones excluded) */
    vocab_stage_t stage;             /* negotiation stage reached */
    int32_t hardship_objections;     /* objections recorded as hardship (cannot pay) */
    int32_t refusal_count;           /* contacts with the outcome `refused` */
    int32_t delivery_failures;       /* letters, SMS, e-mails reported as delivery_failed */
    int32_t days_in_segment;         /* days since the case entered its current segment */
    bool plan_active;                /* an instalment plan is active */
    int32_t plan_defaulted_count;    /* instalment plans that defaulted */
    bool ever_contacted;             /* at least one right-party contact, ever */
} segment_features_t;

/* All zero, no currency: a case with nothing known about it. */
#define SEGMENT_FEATURES_INIT                                                                      \
    {                                                                                              \
        0                                                                                          \
    }

/* ---- The feature table ---------------------------------------------------------------------- */

typedef enum segment_feature_type {
    SEGMENT_FEATURE_INT,   /* an int32_t count or number of days */
    SEGMENT_FEATURE_BOOL,  /* a bool */
    SEGMENT_FEATURE_MONEY, /* an int64_t amount in minor units of the case's currency */
    SEGMENT_FEATURE_STAGE, /* a vocab_stage_t */
} segment_feature_type_t;

typedef struct segment_feature {
    const char *name;            /* as used in conditions and JSON: "days_past_due" */
    segment_feature_type_t type; /* how to read and compare it */
    size_t offset;               /* offsetof(segment_features_t, ...) */
    const char *description;     /* one line, for documentation and tools */
} segment_feature_t;

/* The number of features, and the i-th one (borrowed, static; NULL when i is out of range). */
size_t segment_feature_count(void);
const segment_feature_t *segment_feature_at(size_t i);

/* The feature called `name` (borrowed, static), or NULL when there is none. */
const segment_feature_t *segment_feature_find(const char *name);

/* The value of feature `f` in `features`, widened to int64_t (booleans are 0/1, stages their
 * ordinal). */
int64_t segment_feature_value(const segment_feature_t *f, const segment_features_t *features);

/* Fills *out from a JSON object whose keys are feature names plus "currency" (required when
 * "balance" is given); "balance" is a decimal string (money_parse() rules), booleans are JSON
 * booleans, "stage" a stage name, the rest integers. Absent features are zero. Returns 0, or -1
 * with a message in err (e.g. `balance: "1.234" has more decimals than EUR allows`). */
__attribute__((warn_unused_result)) int
segment_features_from_json(const json_t *obj, segment_features_t *out, char *err, size_t errlen);

/* ---- Conditions ----------------------------------------------------------------------------- */

typedef enum segment_op {
    SEGMENT_OP_EQ,
    SEGMENT_OP_NE,
    SEGMENT_OP_LT,
    SEGMENT_OP_LTE,
    SEGMENT_OP_GT,
    SEGMENT_OP_GTE,
} segment_op_t;

/* The maximum length (with NUL) of a money condition's amount text. */
#define SEGMENT_AMOUNT_MAX 24

/* True when `s` is a whole amount that reads in every currency: "0" or digits without a
 * leading zero, small enough that times 10^4 (the most minor-unit digits of any currency) it
 * fits in an int64_t. NULL is false. */
bool segment_amount_is_whole(const char *s);

/* One compiled test: `feature op value`. */
typedef struct segment_cond {
    const segment_feature_t *feature; /* borrowed from the static table */
    segment_op_t op;
    int64_t value;                   /* integers, booleans (0/1), stage ordinals */
    char amount[SEGMENT_AMOUNT_MAX]; /* money features: a whole amount, e.g. "5000" */
} segment_cond_t;

/* Compiles a rule's "when" object (see the language above) into a new array *out of *n
 * conditions, freed with free(). An empty object gives *n = 0 and *out = NULL. `path` is the
 * JSON path of `when`, used in messages. Returns 0, or -1 with err filled as "<path>: problem"
 * (e.g. `segmentation.rules[2].when.days_past_due: unknown operator "ge"`). */
__attribute__((warn_unused_result)) int segment_conds_from_json(const json_t *when,
                                                                const char *path,
                                                                segment_cond_t **out, size_t *n,
                                                                char *err, size_t errlen);

/* Tests one condition. Returns 1 (holds), 0 (does not), or -1 when a money condition cannot
 * be read in the case's currency (an unknown currency). */
int segment_cond_test(const segment_cond_t *c, const segment_features_t *features);

/* ---- Results -------------------------------------------------------------------------------- */

typedef enum segment_err {
    SEGMENT_OK = 0,
    SEGMENT_ERR_ARG = -1,      /* a NULL argument */
    SEGMENT_ERR_CURRENCY = -2, /* an amount cannot be read in the case's currency */
    SEGMENT_ERR_NO_RULE = -3,  /* no rule matched: impossible with a loaded policy */
} segment_err_t;

/* What policy_segment() (policy.h) decided for one case. Pointers are borrowed from the policy
 * and live as long as it does. */
typedef struct segment_result {
    segment_id_t segment; /* the base segment */
    const char *rule_id;  /* the id of the rule that matched */
    size_t rule_index;    /* its position in the policy's rule list */
    bool high_value;      /* the high_value overlay applies */
    bool senior_agent;    /* route to a senior agent (the overlay asks for it) */
    int priority_cap;     /* 1..5: no task may be less urgent than this; 5 without overlay */
    const char *strategy; /* the strategy of the segment (its name) */
    const char *variant;  /* the variant of that strategy assigned to this case */
    size_t variant_index; /* its position in the strategy's variants */
    int policy_version;   /* the version of the policy that decided */
} segment_result_t;

/* A short English text for a segment_err_t. Never NULL. */
const char *segment_strerror(segment_err_t err);

#endif
