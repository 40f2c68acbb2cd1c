/* strategy.h - strategy ladders per segment, champion/challenger variants, the next step due.
 *
 * Each segment of a policy has one strategy. A strategy is one ladder of steps, or several
 * variants (champion/challenger), each its own ladder, with integer weights. A step is due on a
 * `day` counted from the day the case entered the segment (day 0) and says what to do: an
 * `action` on a `channel` (vocab.h's) with a `template`, at a `priority` (1 most urgent .. 5
 * least).
 *
 * Steps run in order and none is skipped: step N+1 is next after step N, even when the case is
 * late on the ladder (the scheduler was down, the contact rules deferred a step); the caller
 * schedules an overdue step for the first allowed moment. This keeps the first step, which
 * identifies the creditor and sends the documentation, always first.
 *
 * When the ladder is exhausted a strategy either repeats its last step every
 * `repeat_every_days` days (the steps keep their numbering: N+1, N+2, ... at last.day + k *
 * repeat_every_days) or, without that setting, has nothing more to do: the case waits for a
 * new fact (a payment, a contact, a change of segment, which restarts at day 0). The default
 * policy repeats the ladders that must keep the case active and lets the terminal ones
 * (legal review, dispute documentation, thank-you) wait.
 *
 * Variant assignment is deterministic: FNV-1a (64-bit) of creditor_id, debtor_id and the
 * strategy name, modulo the sum of the weights, walked over the variants in policy order. The
 * same case always gets the same variant of a strategy while the weights stay the same. */
#ifndef RECOBRO_STRATEGY_H
#define RECOBRO_STRATEGY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "segment.h"
#include "vocab.h"

/* Highest and lowest urgency of a step. */
#define STRATEGY_PRIORITY_MIN 1
#define STRATEGY_PRIORITY_MAX 5

/* Longest ladder: a step's day is at most this (ten years). */
#define STRATEGY_DAY_MAX 3650

typedef struct strategy_step {
    int day; /* days after entering the segment, >= the previous step's */
    vocab_action_t action;
    vocab_channel_t channel;
    char *template_name; /* owned: "evasive.firm_call" */
    int priority;        /* 1..5, 1 most urgent */
    /* version 2: where a delivery_failed falls back to, in order ("fallback_channels"; each
     * carries the action, none is the step's own channel); used when the policy's
     * delivery.fallback is on (planrules.h). */
    vocab_channel_t fallback[VOCAB_CHANNEL_COUNT];
    int n_fallback;
} strategy_step_t;

typedef struct strategy_variant {
    char *name;             /* owned: "champion", "challenger", ... */
    int weight;             /* > 0 */
    strategy_step_t *steps; /* owned, nsteps >= 1, in day order */
    size_t nsteps;
    int repeat_every_days; /* > 0: the last step repeats this often; 0: the ladder ends */
} strategy_variant_t;

typedef struct strategy {
    segment_id_t segment;         /* the segment it serves */
    const char *name;             /* its name: the segment's name (static) */
    strategy_variant_t *variants; /* owned, nvariants >= 1 */
    size_t nvariants;
    int64_t total_weight; /* sum of the weights */
    int carry_days;       /* version 2 (escalation.h): days of the previous segment carried over,
                             0..STRATEGY_DAY_MAX; 0 = every entry starts at day 0 */
} strategy_t;

/* Compiles the JSON strategy `obj` for segment `seg` into *out (overwritten; release it with
 * strategy_clear(); on failure nothing is left to release). Two forms: {"steps": [...],
 * "repeat_every_days": n} (one variant called "champion") or {"variants": [{"name", "weight",
 * "steps", "repeat_every_days"}, ...]}. A step is {"day", "action", "channel", "template",
 * "priority"}. Also refused: steps out of day order, a call as the first step (a first contact
 * identifies the creditor in writing), an action on a channel that cannot carry it (`call` goes by
 * phone or visit and they carry only calls; `restrict_service`, `legal_review` and
 * `supervisor_review` are internal, and only they are). What a segment's ladder may contain
 * (documentation only while disputed, no collection once resolved) is checked by policy.c, which
 * knows the contact rules. `path` is the strategy's JSON path for messages. Returns 0, or -1 with
 * err filled as
 * "<path>: problem", e.g. `strategies.evasive.steps[2].channel: unknown channel "fax"`. */
__attribute__((warn_unused_result)) int strategy_from_json(const json_t *obj, const char *path,
                                                           segment_id_t seg, strategy_t *out,
                                                           char *err, size_t errlen);

/* Frees what *s owns and zeroes it. NULL is a no-op. */
void strategy_clear(strategy_t *s);

/* FNV-1a 64 over creditor_id, a 0x1f separator, debtor_id, 0x1f, strategy_name. Stable across
 * platforms and releases; NULL strings hash as "". */
uint64_t strategy_hash(const char *creditor_id, const char *debtor_id, const char *strategy_name);

/* The variant of `s` assigned to the case (creditor_id, debtor_id), and its index in *index
 * (may be NULL). Returns a pointer borrowed from `s`, or NULL when `s` is NULL or empty. */
const strategy_variant_t *strategy_pick_variant(const strategy_t *s, const char *creditor_id,
                                                const char *debtor_id, size_t *index);

/* The next step of a case, as strategy_next_step() returns it. */
typedef struct strategy_next {
    int step;    /* 1-based step number; > the ladder's length for a repeat */
    int day;     /* the day (since entering the segment) it is due on */
    bool due;    /* day <= days_in_segment: act now */
    bool repeat; /* a repetition of the ladder's last step */
    vocab_action_t action;
    vocab_channel_t channel;
    const char *template_name; /* borrowed from the policy */
    int priority;              /* the step's, raised by the high_value overlay */
    char reason[128];          /* "segment evasive, step 2 (day 7)" */
} strategy_next_t;

typedef enum strategy_status {
    STRATEGY_NONE = 0,     /* the ladder is exhausted and does not repeat: the case waits */
    STRATEGY_STEP = 1,     /* *next holds the next step */
    STRATEGY_ERR_ARG = -1, /* NULL argument, last_step_done < 0, or a result from another
                              strategy or policy (no such strategy or variant) */
} strategy_status_t;

/* The step after `last_step_done` (0 when none was done yet) of strategy `s` in the variant that
 * policy_segment() chose in `result`, for a case `days_in_segment` days into its segment; `s`
 * is the policy's strategy for result->segment (policy_strategy_for(), may be NULL).
 * The reason reads "segment <segment>, step <n> (day <d>)", followed by ", repeat of step <m>"
 * for a repetition and ", high_value overlay" when the overlay applies. Pure. Returns
 * STRATEGY_STEP with *next filled, STRATEGY_NONE (and *next untouched), or STRATEGY_ERR_ARG. */
__attribute__((warn_unused_result)) strategy_status_t
strategy_next_step(const strategy_t *s, const segment_result_t *result, int days_in_segment,
                   int last_step_done, strategy_next_t *next);

#endif
