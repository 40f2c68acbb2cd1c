/* promise.h - the promise-to-pay and instalment-plan state machines (pure functions).
 *
 * DOMAIN.md, "Promises to pay and instalment plans": a promise has an amount, a currency and a
 * due date; it is kept when at least the amount is paid by the due date plus the policy's grace
 * days (policy_t.promise_grace_days). An instalment plan is a list of dated instalments, each of
 * which behaves like a promise sharing the plan's grace, and the plan defaults when the number
 * of missed instalments reaches policy_t.plan_default_missed_installments.
 *
 * Whether an agreement is allowed at all (negotiation limits, future date, amount <= balance) is
 * policy_check_promise() / policy_check_plan()'s job, called before these; this module only
 * tracks what happens to an agreement once applied.
 *
 * Days are day numbers (days since 1970-01-01, cal_days_from_civil()), money is int64_t
 * minor units of the agreement's currency. Nothing here reads a clock or does I/O: every
 * operation carries the day it happens on, and the scheduler's tick is promise_evaluate() /
 * plan_evaluate() with the day of the tick. Values are plain structs with no pointers inside:
 * copy them, store them, compare them.
 *
 * ---- Promise rules (the exact boundaries) ----------------------------------------------------
 *
 * deadline = due_day + grace_days, the last day a payment still counts.
 *   - A promise keeps an "as of" day, the latest day any operation carried; time never goes
 *     backwards (an operation dated earlier is taken as happening on the as-of day).
 *   - A payment counts toward the promise (paid_toward) while the as-of day is <= deadline and
 *     the promise is pending or kept. Reaching the amount turns pending into kept at once
 *     (promise.kept). Money beyond the amount still counts, so that reversals stay exact.
 *   - Once as-of > deadline, a pending promise settles: kept if paid_toward >= amount (it cannot
 *     be pending then), partially_kept if 0 < paid_toward < amount, broken if nothing was paid.
 *     So with grace 3 and due day D: paid on D+3 is kept, the tick of D+3 leaves it pending,
 *     the tick of D+4 settles it. Payments after the deadline never count (paid late = broken).
 *   - partially_kept and broken are final against payments.
 *   - A reversal takes back `amount` of what counted (at most paid_toward) and re-settles:
 *       kept, still >= amount       -> kept (nothing happens)
 *       kept, inside the grace      -> pending again, no event; it settles again later
 *       kept, after the grace       -> partially_kept or broken, promise.broken (revised)
 *       partially_kept, all of it   -> broken, promise.broken (revised, partial false)
 *       pending                     -> pending (or settled, if the reversal's day is late)
 *       cancelled                   -> cancelled (paid_toward keeps the books exact)
 *   - Cancel (a new promise, a plan, a dispute) only cancels a promise still pending on the
 *     cancel's day; a promise that settled already (or settles by that day) keeps its outcome.
 *     A cancelled promise emits nothing and counts in no counter (so a promise reported kept,
 *     re-opened by a reversal and then cancelled leaves "kept" as its last event: the case's
 *     counters and the promise's state, not the event stream, are the truth).
 *
 * Events and counters (segment_features_t): an analyst wants the promise-kept rate to mean
 * "paid in full on time", and the follow-up of a half-kept promise to be the follow-up of a
 * broken one, while the segmentation tells "paid part of it" (willing_unable) from "paid
 * nothing" (evasive, chronic; deploy/policy/default.json's "broken outright"). Hence:
 *       kept            promise.kept                       promises_kept += 1
 *       partially_kept  promise.broken with partial: true  promises_partially_kept += 1
 *       broken          promise.broken with partial: false promises_broken += 1
 * The three counters are disjoint: every settled promise is in exactly one. When a reversal
 * moves a settled promise, its counter moves too (result.delta: -1 on the old, +1 on the new),
 * and a second event for the same promise_id carries `revised: true`: the last event of a
 * promise_id is its outcome.
 *
 * ---- Plan rules -------------------------------------------------------------------------------
 *
 *   - The down payment, when there is one, is instalment 0, due on the day the plan is agreed.
 *   - Payments fill unpaid instalments oldest first, never beyond an instalment's amount; one
 *     payment may fill several. What is left over is not taken (result.applied tells how much
 *     was), and the lines of what was taken are returned so that a reversal can undo them.
 *   - Every instalment has a promise state and follows the promise rules above with the plan's
 *     grace: kept as soon as it is fully paid by its due_day + grace_days; once past that day
 *     unpaid it is missed: broken (nothing paid) or partially_kept. A miss is for good: paying it
 *     later fills it but the miss still counts (otherwise a debtor could stay one instalment
 *     behind for ever).
 *   - State: active; completed when every instalment is fully paid; defaulted when the missed
 *     count reaches default_missed (plan.defaulted; plan_defaulted_count += 1); cancelled.
 *     Defaulted and cancelled are final: payments no longer apply.
 *   - A reversal un-pays exactly the lines a payment filled. A completed plan becomes active
 *     again, or defaulted if the un-paid instalments are past their grace and that makes enough
 *     misses; an active plan may default the same way.
 *   - Instalments emit promise.kept / promise.broken like promises (proto/schemas: with plan_id
 *     and installment set, promise_id "<plan_id>-<k>" for the k-th instalment of plan.agreed,
 *     "<plan_id>-down" for the down payment), listed in result.changes; build them with
 *     plan_installment_event(). They do not move the promise counters: a plan is measured as a
 *     plan (plan_active, plan_defaulted_count), and its misses already count toward its default.
 *     They stop once the plan is defaulted or cancelled.
 *
 * Errors: status functions return PROMISE_OK (0) or a negative promise_err_t and leave the
 * promise or plan unchanged on error. */
#ifndef RECOBRO_PROMISE_H
#define RECOBRO_PROMISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "policy.h"

/* Longest promise_id / plan_id in bytes: CONTRACT.md ids are 1-128 characters, UTF-8. */
#define PROMISE_ID_MAX 512

/* Day numbers accepted: 0001-01-01 .. 9999-12-31 (cal_parse_date()'s years). */
#define PROMISE_DAY_MIN (-719162)
#define PROMISE_DAY_MAX 2932896

/* Most grace days accepted (the policy allows 0..60). */
#define PROMISE_GRACE_MAX 365

/* Most instalments of a plan, down payment excluded (the policy allows max_installments up to
 * 360), and the size of a plan's instalment array. */
#define PLAN_MAX_INSTALLMENTS 360
#define PLAN_MAX_SLOTS        (PLAN_MAX_INSTALLMENTS + 1)

typedef enum promise_err {
    PROMISE_OK = 0,
    PROMISE_EINVAL = -1,    /* NULL argument, amount <= 0, day out of range, bad lines... */
    PROMISE_EOVERFLOW = -2, /* a sum does not fit in 64-bit minor units */
} promise_err_t;

/* ---- Events and counters ------------------------------------------------------------------ */

typedef enum promise_event_type {
    PROMISE_EVENT_NONE = 0,       /* nothing to emit */
    PROMISE_EVENT_KEPT,           /* "promise.kept" */
    PROMISE_EVENT_BROKEN,         /* "promise.broken" (also a partially kept promise) */
    PROMISE_EVENT_PLAN_DEFAULTED, /* "plan.defaulted" */
} promise_event_type_t;

/* The case event a transition asks for. For plan.defaulted, `amount` and `paid` are the plan's
 * totals, `due_day` the due day of the first missed instalment and `missed` the missed count. */
typedef struct promise_event {
    promise_event_type_t type;
    char id[PROMISE_ID_MAX + 1]; /* promise_id; plan_id for plan.defaulted and instalments */
    char currency[4];
    bool of_plan;        /* promise.kept / promise.broken of a plan's instalment */
    int32_t installment; /* of_plan: 1-based position in plan.agreed, 0 for the down payment */
    int64_t amount;      /* promised (the plan's total for plan.defaulted) */
    int64_t paid;        /* counted toward it */
    int64_t due_day;     /* due_on */
    int64_t day;         /* the as-of day the outcome was reached */
    bool partial;        /* promise.broken of a partially kept promise */
    bool revised;        /* an earlier event of this id is replaced by this one */
    int32_t missed;      /* plan.defaulted only */
} promise_event_t;

/* "promise.kept", "promise.broken", "plan.defaulted"; NULL for PROMISE_EVENT_NONE. */
const char *promise_event_type_name(promise_event_type_t type);

/* The event's `data` as a new JSON object, as proto/schemas/data/<type>.schema.json has it (the
 * caller adds creditor_id / debtor_id, and frees it with json_decref()). `at` is the RFC 3339
 * instant of the operation that reached the outcome (the payment's received_at, the tick's
 * --now), copied as is.
 *   promise.kept / promise.broken: "promise_id", "currency", "amount", "paid", "due_on", "at",
 *     "partial" (promise.broken only), and for an instalment "plan_id" and "installment" (no
 *     "installment" for the down payment, "down_payment": true instead); beyond the schema,
 *     "outcome" ("kept", "partially_kept", "broken") and "revised".
 *   plan.defaulted: "plan_id", "currency", "missed_installments", "outstanding" (total - paid),
 *     "at"; beyond the schema, "amount", "paid" and "first_missed_due_on".
 * Money as decimal strings of the currency, days as YYYY-MM-DD. Returns NULL for
 * PROMISE_EVENT_NONE, an `at` that is not an RFC 3339 instant, an unknown currency or no
 * memory. */
__attribute__((warn_unused_result)) json_t *promise_event_to_json(const promise_event_t *ev,
                                                                  const char *at);

/* Changes of the case's segmentation counters (segment_features_t) a transition makes. */
typedef struct promise_counts {
    int32_t kept;           /* promises_kept */
    int32_t broken;         /* promises_broken */
    int32_t partially_kept; /* promises_partially_kept */
    int32_t plan_defaulted; /* plan_defaulted_count */
} promise_counts_t;

/* Writes "YYYY-MM-DD" of day number `day` into buf (at least 11 bytes). Returns buf, or ""
 * when the day is outside PROMISE_DAY_MIN..PROMISE_DAY_MAX. */
char *promise_format_day(int64_t day, char *buf, size_t size);

/* ---- Promises ---------------------------------------------------------------------------- */

typedef enum promise_state {
    PROMISE_PENDING = 0,
    PROMISE_KEPT,
    PROMISE_PARTIALLY_KEPT,
    PROMISE_BROKEN,
    PROMISE_CANCELLED,
} promise_state_t;

/* "pending", "kept", "partially_kept", "broken", "cancelled"; NULL when out of range. */
const char *promise_state_name(promise_state_t state);

/* Returns 0 and sets *out, or -1 when `name` is not a state name (or NULL). */
int promise_state_from_name(const char *name, promise_state_t *out);

typedef enum promise_cancel_reason {
    PROMISE_CANCEL_NONE = 0,
    PROMISE_CANCEL_NEW_PROMISE, /* "superseded_by_promise" */
    PROMISE_CANCEL_PLAN,        /* "superseded_by_plan" */
    PROMISE_CANCEL_DISPUTE,     /* "disputed" */
} promise_cancel_reason_t;

/* The stable code of a reason (above); NULL when out of range. */
const char *promise_cancel_reason_name(promise_cancel_reason_t reason);

typedef struct promise {
    char id[PROMISE_ID_MAX + 1]; /* promise_id */
    char currency[4];            /* ISO 4217 */
    int64_t amount;              /* promised, > 0 */
    int64_t made_day;            /* the day it was made */
    int64_t due_day;             /* due_on, >= made_day */
    int32_t grace_days;          /* policy_t.promise_grace_days when made */
    int64_t paid_toward;         /* payments counted toward it, reversals deducted */
    promise_state_t state;
    int64_t as_of;       /* the latest day an operation carried (>= made_day) */
    int64_t settled_day; /* the as-of day of the last change of state; made_day at first */
    promise_state_t last_reported; /* outcome of the last event; PROMISE_PENDING when none */
    promise_cancel_reason_t cancel_reason;
} promise_t;

/* What an operation did. */
typedef struct promise_result {
    promise_state_t from, to; /* to == from when nothing changed */
    int64_t applied;          /* minor units counted toward (payment) or taken back (reversal) */
    promise_event_t event;    /* type PROMISE_EVENT_NONE when there is nothing to emit */
    promise_counts_t delta;   /* changes of the case's counters */
} promise_result_t;

/* Fills *p with a new pending promise. `id` 1..PROMISE_ID_MAX bytes, `currency` a known ISO
 * 4217 code, amount > 0, made_day <= due_day, both in range, 0 <= grace_days <=
 * PROMISE_GRACE_MAX (pass policy->promise_grace_days). Returns PROMISE_OK, or PROMISE_EINVAL
 * (*p untouched). */
__attribute__((warn_unused_result)) int promise_init(promise_t *p, const char *id,
                                                     const char *currency, int64_t amount,
                                                     int64_t made_day, int64_t due_day,
                                                     int32_t grace_days);

/* The last day a payment counts: due_day + grace_days. */
int64_t promise_deadline(const promise_t *p);

/* A payment of `amount` (> 0) made on `day`. Counts it when the rules above allow
 * (res->applied is then `amount`, else 0) and settles the promise as of that day. Returns
 * PROMISE_OK with *res filled (res may be NULL), PROMISE_EINVAL or PROMISE_EOVERFLOW. */
__attribute__((warn_unused_result)) int promise_apply_payment(promise_t *p, int64_t amount,
                                                              int64_t day, promise_result_t *res);

/* A reversal on `day` of `amount` (> 0, <= paid_toward) that an earlier payment counted (its
 * result's `applied`; call nothing when that was 0). Re-settles as documented above. Returns
 * PROMISE_OK with *res filled (may be NULL), or PROMISE_EINVAL. */
__attribute__((warn_unused_result)) int promise_apply_reversal(promise_t *p, int64_t amount,
                                                               int64_t day, promise_result_t *res);

/* The scheduler's tick on `day`: settles a pending promise once day > deadline. Returns
 * PROMISE_OK with *res filled (may be NULL), or PROMISE_EINVAL. */
__attribute__((warn_unused_result)) int promise_evaluate(promise_t *p, int64_t day,
                                                         promise_result_t *res);

/* Cancels the promise on `day` for `reason` if it is still pending as of that day; otherwise
 * it only settles as promise_evaluate() would (res->to says which). Returns PROMISE_OK, or
 * PROMISE_EINVAL (reason PROMISE_CANCEL_NONE or out of range, bad day). */
__attribute__((warn_unused_result)) int promise_cancel(promise_t *p, promise_cancel_reason_t reason,
                                                       int64_t day, promise_result_t *res);

/* ---- Instalment plans -------------------------------------------------------------------- */

typedef enum plan_state {
    PLAN_ACTIVE = 0,
    PLAN_COMPLETED,
    PLAN_DEFAULTED,
    PLAN_CANCELLED,
} plan_state_t;

/* "active", "completed", "defaulted", "cancelled"; NULL when out of range. */
const char *plan_state_name(plan_state_t state);

/* Returns 0 and sets *out, or -1 when `name` is not a plan state name (or NULL). */
int plan_state_from_name(const char *name, plan_state_t *out);

typedef struct plan_installment {
    int64_t due_day;
    int64_t amount;                /* > 0 */
    int64_t paid;                  /* 0..amount */
    promise_state_t state;         /* pending, kept, partially_kept or broken */
    bool missed;                   /* partially_kept or broken: past due + grace not fully paid */
    promise_state_t last_reported; /* outcome of its last event; PROMISE_PENDING when none */
} plan_installment_t;

typedef struct plan {
    char id[PROMISE_ID_MAX + 1]; /* plan_id */
    char currency[4];
    int64_t agreed_day;
    int32_t grace_days;     /* policy_t.promise_grace_days */
    int32_t default_missed; /* policy_t.plan_default_missed_installments */
    bool has_down_payment;  /* slot 0 is the down payment, due on agreed_day */
    size_t n;               /* slots used, down payment included */
    plan_installment_t installments[PLAN_MAX_SLOTS];
    int64_t total; /* sum of the amounts */
    int64_t paid;  /* sum of the paid amounts */
    int32_t missed;
    plan_state_t state;
    int64_t as_of;       /* the latest day an operation carried */
    int64_t settled_day; /* the as-of day of the last change of state */
    bool reported;       /* plan.defaulted was emitted once */
} plan_t;

/* One instalment a payment filled; store them with the payment for its reversal. */
typedef struct plan_line {
    uint32_t slot; /* index in plan_t.installments (0 is the down payment when there is one) */
    int64_t amount;
} plan_line_t;

/* An instalment that changed state in an operation. */
typedef struct plan_change {
    uint32_t slot;
    promise_state_t from, to;
    promise_event_type_t event; /* what plan_installment_event() builds for it (maybe none) */
    bool revised;
} plan_change_t;

typedef struct plan_result {
    plan_state_t from, to;
    int64_t applied;       /* minor units taken from a payment / un-paid by a reversal */
    size_t nlines;         /* lines written by plan_apply_payment() */
    int32_t newly_missed;  /* instalments marked missed by this operation */
    promise_event_t event; /* PROMISE_EVENT_PLAN_DEFAULTED or PROMISE_EVENT_NONE */
    promise_counts_t delta;
    size_t nchanges; /* instalments whose state changed, one record each */
    plan_change_t changes[PLAN_MAX_SLOTS];
} plan_result_t;

/* Builds into *ev the promise.kept / promise.broken event of instalment change `ch`, made by
 * the last operation on `pl` (amounts as they stand now). Returns PROMISE_OK (ev->type is
 * PROMISE_EVENT_NONE when the change emits nothing, e.g. kept -> pending), or PROMISE_EINVAL. */
__attribute__((warn_unused_result)) int
plan_installment_event(const plan_t *pl, const plan_change_t *ch, promise_event_t *ev);

/* Fills *pl with a new active plan agreed on `agreed_day`: an optional down payment (0 for
 * none) due that day, then the `n` instalments (the same array policy_check_plan() takes; 1 <=
 * n <= PLAN_MAX_INSTALLMENTS, amounts > 0, days strictly increasing and >= agreed_day). `grace`
 * and `default_missed` (>= 1) come from the policy. Returns PROMISE_OK, PROMISE_EINVAL or
 * PROMISE_EOVERFLOW (the total); *pl is untouched on error. */
__attribute__((warn_unused_result)) int plan_init(plan_t *pl, const char *id, const char *currency,
                                                  int64_t agreed_day, int64_t down_payment,
                                                  const policy_installment_t *installments,
                                                  size_t n, int32_t grace_days,
                                                  int32_t default_missed);

/* Same, with grace and default rule read from `policy` (promise_grace_days and
 * plan_default_missed_installments). PROMISE_EINVAL when policy is NULL. */
__attribute__((warn_unused_result)) int
plan_init_with_policy(plan_t *pl, const policy_t *policy, const char *id, const char *currency,
                      int64_t agreed_day, int64_t down_payment,
                      const policy_installment_t *installments, size_t n);

/* A payment of `amount` (> 0) on `day`. First settles the plan as of that day (a plan that
 * defaults by then takes nothing); then, while active, fills instalments oldest first. Writes
 * one line per instalment filled into lines[0..cap) (cap >= pl->n is always enough; lines may
 * be NULL only when cap is 0, and then a payment that would fill something is PROMISE_EINVAL).
 * Returns PROMISE_OK with *res filled (res may be NULL, lines count in res->nlines), or a
 * negative promise_err_t. */
__attribute__((warn_unused_result)) int plan_apply_payment(plan_t *pl, int64_t amount, int64_t day,
                                                           plan_line_t *lines, size_t cap,
                                                           plan_result_t *res);

/* Undoes on `day` the `nlines` lines a payment filled (all of them or none: every slot must
 * exist and hold at least the line's amount), then settles as of `day`. Works in every state;
 * a cancelled or defaulted plan keeps its state. Returns PROMISE_OK with *res filled (may be
 * NULL), or PROMISE_EINVAL. */
__attribute__((warn_unused_result)) int plan_apply_reversal(plan_t *pl, const plan_line_t *lines,
                                                            size_t nlines, int64_t day,
                                                            plan_result_t *res);

/* The scheduler's tick on `day`: marks instalments missed once past due + grace unpaid, and
 * defaults the plan when that makes enough. Returns PROMISE_OK or PROMISE_EINVAL. */
__attribute__((warn_unused_result)) int plan_evaluate(plan_t *pl, int64_t day, plan_result_t *res);

/* Cancels an active plan on `day` (a new plan, a dispute); a completed or defaulted plan keeps
 * its state. Settles as of `day` first, so a plan that defaults by then is defaulted, not
 * cancelled. Returns PROMISE_OK or PROMISE_EINVAL. */
__attribute__((warn_unused_result)) int plan_cancel(plan_t *pl, int64_t day, plan_result_t *res);

#endif
