/* casefile.h - one collections case in memory, and the pure decisions over it: apply an invoice
 * event, recompute balance and days past due, re-segment, plan the strategy's next steps, and
 * render the task, case-event and hot-cache documents.
 *
 * A casefile_t is the whole state the workers need about one case (creditor, debtor, invoices,
 * pending tasks, segment, ladder position, credit, contact state), plus the rows the event in
 * hand needs (promises, plans, the payment, open disputes: see "rows" below). The PostgreSQL
 * side (casestore.h) loads it and saves what changed; everything here is pure: no I/O, no clock
 * read (`now` is an argument), so the scenario vectors (tests/vectors/overdue/) run exactly the
 * code the worker runs.
 *
 * The rules written down here (DOMAIN.md leaves them to us):
 *  - A case is (creditor_id, debtor_id) and has one currency, fixed by its first amount; an
 *    amount in another currency is rejected as "currency_mismatch".
 *  - An invoice counts in the documented balance once it is documented (an invoice.overdue gave
 *    its amount and due date) and while it is open. invoice.cancelled is terminal: a re-sent
 *    overdue does not reopen it. An adjusted or cancelled event for an invoice not yet known is
 *    kept as a stub; when the overdue arrives, a stub's adjusted open amount wins over the
 *    overdue's (the overdue's snapshot is older), later re-sends update it normally.
 *  - Nothing is segmented or planned until the case is complete (a creditor name, a debtor time
 *    zone and a currency are known: an invoice.overdue arrived) and has owed something: a case
 *    whose only invoices were cancelled before they were documented is never segmented (no
 *    thank-you to someone who never owed).
 *  - Days past due: local days, in the debtor's zone, from the oldest open documented invoice's
 *    due date to today; never below 0.
 *  - A segment entry restarts the ladder at step 1 (day 0 = the entry's local day), unless the
 *    new strategy carries the days already spent (carry_days, escalation.h). Entries are
 *    numbered per case (segment_seq), and a task's id is a UUIDv5 of (creditor, debtor,
 *    segment_seq, segment, step): the same step of the same entry always has the same id, and
 *    the ladder position (last_step) is saved with the case, so a step is never emitted twice.
 *  - Each planning emits the next step when due, then the steps after it that are due on the same
 *    ladder day (the day-0 letter and e-mail go out together); a step for a later day waits for
 *    the next planning (the next event or the scheduler), so a late case never gets a burst.
 *  - A step the contact rules suppress is recorded as suppressed and the ladder moves on; a
 *    deferred one is emitted with its later window.
 *  - On a segment change the pending tasks whose window has not ended are withdrawn
 *    (task.cancelled, "superseded"): collection tasks only, documentation stays; entering
 *    `resolved` withdraws all of them ("resolved") and emits case.resolved.
 *
 * Ownership follows jansson's words: functions named _new return new references. */
#ifndef RECOBRO_CASEFILE_H
#define RECOBRO_CASEFILE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "result.h"
#include "allocation.h"
#include "contact.h"
#include "policy.h"
#include "promise.h"
#include "segment.h"

/* The contract limits ids and names in characters (JSON Schema's maxLength); a character is up to
 * 4 bytes of UTF-8, so the buffers hold the limit times 4, plus the NUL. */
#define CASEFILE_ID_MAX   (128 * 4 + 1) /* ids: 1-128 characters */
#define CASEFILE_NAME_MAX (256 * 4 + 1) /* names: 1-256 characters (and e-mails: 254) */
#define CASEFILE_UUID_MAX 37            /* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" + NUL */
/* interactions: phone attempts kept for the call cap (policies cap at most this many). */
#define CASEFILE_MAX_CALLS 64

typedef enum {
    CASEFILE_INVOICE_OPEN = 0,
    CASEFILE_INVOICE_CANCELLED,
    CASEFILE_INVOICE_PAID,
    CASEFILE_INVOICE_WRITTEN_OFF, /* money: forgiven by a settlement (settlement.h) */
} casefile_invoice_status_t;

typedef enum {
    CASEFILE_TASK_PENDING = 0,
    CASEFILE_TASK_CANCELLED,
    CASEFILE_TASK_DONE,
    CASEFILE_TASK_SUPPRESSED,
    CASEFILE_TASK_FAILED, /* interactions: reported delivery_failed by its notifier */
} casefile_task_status_t;

typedef enum {
    CASEFILE_OPEN = 0,
    CASEFILE_PAUSED,
    CASEFILE_RESOLVED,
} casefile_status_t;

typedef struct casefile_invoice {
    char id[CASEFILE_ID_MAX];
    char number[CASEFILE_ID_MAX]; /* "" when not given */
    char currency[4];             /* "" when not known yet (a cancelled stub) */
    int64_t amount;               /* minor units; -1 when not known yet */
    int64_t open_amount;          /* minor units; -1 when not known yet */
    char due_on[11];              /* "" until documented */
    char issued_on[11];           /* "" when not given */
    casefile_invoice_status_t status;
    bool adjusted; /* an adjustment arrived while it was a stub */
    bool dirty;    /* changed since loaded: casestore saves it */
} casefile_invoice_t;

typedef struct casefile_task {
    char task_id[CASEFILE_UUID_MAX];
    char action[24];
    char channel[12];
    char segment[24];
    int segment_seq;
    int step;
    int64_t not_before, not_after; /* Unix seconds; 0 for a suppressed step */
    casefile_task_status_t status;
    char reason[64]; /* suppression or cancellation reason, "" otherwise */
    char template_name[129];
    int priority;
    json_t *data;      /* owned: the task.created data of a task planned now; NULL if loaded */
    bool is_new;       /* planned now: casestore inserts it */
    bool status_dirty; /* cancelled now: casestore updates it */
} casefile_task_t;

/* payments: one received payment's over-payment credit (casepay.h), and a line of an invoice
 * paid out of it since the case was loaded (paystore.h saves both). */
typedef struct casefile_credit {
    char payment_id[CASEFILE_ID_MAX];
    char currency[4];
    int64_t unallocated; /* minor units still unused */
    int64_t received_at; /* Unix seconds: the oldest credit is used first */
    bool dirty;
} casefile_credit_t;

typedef struct casefile_credit_line {
    char payment_id[CASEFILE_ID_MAX];
    char invoice_id[CASEFILE_ID_MAX];
    int64_t amount;
} casefile_credit_line_t;

/* ---- The rows an event's decision needs beyond the case ---------------------------------------
 * The pipeline (pipeline.h) loads them as the event's handler asks (CASEFILE_ROW_* flags, the
 * store's casestore_load_many()), the pure decision reads them and marks what it changed
 * (dirty, or a `write` to do), and ONE save (casestore_save()) writes what was marked, in the
 * batch's transaction. Nothing here is read or written by the domain's I/O: there is none. */

/* What a handler asks to be loaded. */
enum {
    CASEFILE_ROW_PAYMENT = 1u << 0,      /* the payment the event names, with its allocation
                                            lines and the promise and plan it counted toward */
    CASEFILE_ROW_PROMISE = 1u << 1,      /* the promise the event names (rows.promise) */
    CASEFILE_ROW_PLAN = 1u << 2,         /* the plan the event names (rows.plan) */
    CASEFILE_ROW_OPEN_PROMISE = 1u << 3, /* the latest applied promise pending or kept */
    CASEFILE_ROW_OPEN_PLAN = 1u << 4,    /* the latest applied active plan */
    CASEFILE_ROW_PENDING = 1u << 5,      /* every applied pending promise (rows.pending) */
    CASEFILE_ROW_DISPUTES = 1u << 6,     /* the open disputes */
};

/* A stored promise: the state machine's value plus what only the store knows. The insert-only
 * columns (limit, approved_by, agent_id, channel) are borrowed: static, or the event's data; NULL
 * when not set (approved_by also updates a stored row when set). */
typedef struct casefile_promise_row {
    promise_t p;
    bool pending_approval; /* recorded outside the limits, waiting for approved_by */
    bool has_approver;
    bool dirty; /* changed by the decision: the store upserts it */
    const char *limit, *approved_by, *agent_id, *channel;
    const json_t *techniques; /* promise.made's techniques (borrowed from the event), or NULL */
} casefile_promise_row_t;

typedef struct casefile_plan_row {
    plan_t pl;
    bool pending_approval;
    bool has_approver;
    bool dirty;
    const char *limit, *approved_by, *agent_id;
} casefile_plan_row_t;

/* What the save does with the payment row. */
typedef enum {
    CASEFILE_PAYMENT_KEEP = 0, /* nothing */
    CASEFILE_PAYMENT_INSERT,   /* received now: the row and its receipt lines */
    CASEFILE_PAYMENT_STUB,     /* reversed before it arrived: a reversed stub */
    CASEFILE_PAYMENT_REVERSE,  /* reversed now: the row and its lines marked reversed */
} casefile_payment_write_t;

/* The payment an event names: as loaded, then as the decision leaves it. Owned arrays. */
typedef struct casefile_payment_row {
    char payment_id[CASEFILE_ID_MAX];
    bool known;    /* a row exists */
    bool received; /* its status is received (not reversed) */
    char promise_id[PROMISE_ID_MAX + 1], plan_id[PROMISE_ID_MAX + 1]; /* "" when none */
    int64_t promise_applied;
    plan_line_t *plan_lines; /* instalments it filled */
    size_t n_plan_lines;
    alloc_line_t *lines; /* loaded: its allocation lines not reversed; INSERT: receipt lines */
    size_t nlines;
    casefile_payment_write_t write;
    /* INSERT: the payment as received (currency, method and invoice_ids borrowed from the
     * event's data); STUB / REVERSE: when and why. */
    int64_t amount, received_at, unallocated;
    const char *currency, *method;
    const json_t *invoice_ids;
    int64_t at;
    const char *reason;
} casefile_payment_row_t;

/* An open dispute ((event_source, event_id) is its key; owned strings). */
typedef struct casefile_dispute_row {
    char *event_source, *event_id;
    char invoice_id[CASEFILE_ID_MAX]; /* "" for a dispute of the whole debt */
    bool resolved;                    /* resolved now: the store updates it */
} casefile_dispute_row_t;

/* The interaction row an event itself becomes (written from the event, borrowed). */
typedef enum {
    CASEFILE_RECORD_NONE = 0,
    CASEFILE_RECORD_CONTACT,         /* contact_log */
    CASEFILE_RECORD_DISPUTE,         /* dispute opened */
    CASEFILE_RECORD_PREFERENCES,     /* contact_preference merged */
    CASEFILE_RECORD_FORBEARANCE,     /* forbearance */
    CASEFILE_RECORD_FORBEARANCE_END, /* forbearance.ended: ended_* below (version 2) */
} casefile_record_t;

typedef struct casefile_rows {
    casefile_payment_row_t *payment;      /* owned; NULL when not loaded */
    casefile_promise_row_t *promise;      /* owned; NULL when not loaded or none */
    casefile_plan_row_t *plan;            /* owned; NULL when not loaded or none */
    casefile_promise_row_t *open_promise; /* owned; NULL when not loaded or none */
    casefile_plan_row_t *open_plan;       /* owned; NULL when not loaded or none */
    casefile_promise_row_t *pending;      /* owned, n_pending of them */
    size_t n_pending;
    casefile_dispute_row_t *disputes; /* owned, n_disputes of them */
    size_t n_disputes;
    /* dispute.resolved: the resolution the resolved disputes take (borrowed from the event). */
    const char *resolved_at, *outcome;
    /* The event itself as a row (borrowed from the event: valid while it is being applied). */
    casefile_record_t record;
    const json_t *event_data;
    const char *event_source, *event_id;
    int task_report; /* contact.attempted: what it did to its task (caseinteract_task_t) */
    /* forbearance.ended (forbear.h): the period it ended, as stored, and the day collection
     * resumes (borrowed from the event). */
    char ended_from[11], ended_until[11];
    const char *ended_on;
} casefile_rows_t;

typedef struct casefile {
    /* Who. */
    char creditor_id[CASEFILE_ID_MAX];
    char debtor_id[CASEFILE_ID_MAX];
    char creditor_name[CASEFILE_NAME_MAX]; /* "" until known; never logged */
    char debtor_name[CASEFILE_NAME_MAX];   /* personal data: stored, never logged */
    char phone[40], email[CASEFILE_NAME_MAX], locale[40];
    char timezone[72];  /* IANA; "" until known */
    char country[3];    /* "" when not given */
    bool parties_dirty; /* creditor or debtor changed: casestore upserts them */
    /* The zone the debtor row holds (as loaded, then as saved): the scheduler's day follows it
     * (nextdue.h). It differs from `timezone` only until the case is saved after the debtor gave
     * a zone of their own (contact.preferences): casefile_parties_due() then writes it. */
    char debtor_zone[72];
    /* What is owed. */
    char currency[4]; /* "" until the first amount */
    int64_t balance;
    int32_t days_past_due;
    casefile_invoice_t *invoices; /* owned, n_invoices of them */
    size_t n_invoices, cap_invoices;
    /* Where it stands. */
    bool segmented; /* a segment was assigned (complete cases only) */
    segment_id_t segment;
    char rule[129];
    char strategy[32];
    char variant[65];
    int policy_version;
    bool high_value;
    int64_t segment_since; /* Unix seconds of the current segment's entry */
    int segment_seq;       /* entries so far, 1 for the first */
    int last_step;         /* ladder steps done in the current entry */
    char stage[16];        /* "none" ... (from features) */
    casefile_status_t status;
    json_t *features; /* owned object: counters kept by the other services (segment.h names) */
    /* The next action (the cache's next_action); has_next false when none. */
    bool has_next;
    char next_action[24], next_channel[12];
    int64_t next_not_before;
    /* Tasks: the pending ones loaded, plus those planned now. */
    casefile_task_t *tasks; /* owned */
    size_t n_tasks, cap_tasks;
    int64_t version;    /* grows with every applied event */
    int64_t updated_at; /* Unix seconds */
    /* What the last applied event did (planning reads it). */
    char last_event[24]; /* its type */
    /* payments (casepay.h, paystore.h): the over-payment credits and the lines made out of them
     * since loading; the open promise and active plan as the cache shows them (owned, NULL when
     * none or not loaded: the cache then shows null). */
    casefile_credit_t *credits;
    size_t n_credits, cap_credits;
    casefile_credit_line_t *credit_lines;
    size_t n_credit_lines, cap_credit_lines;
    json_t *open_promise, *active_plan;
    /* interactions (caseinteract.h, interactstore.h): the contact state every planning obeys,
     * loaded by casestore_load() from the interactions tables (0004_interactions.sql) and moved
     * by caseinteract.c when an interaction applies. Planning feeds it to contact_decide(). */
    int64_t call_attempts[CASEFILE_MAX_CALLS]; /* the newest phone attempts, newest first */
    size_t n_call_attempts;
    int64_t last_rpc_at;     /* last right-party phone conversation; 0 = none */
    int64_t last_contact_at; /* last contact attempt of any kind; 0 = none */
    bool do_not_call, do_not_sms, do_not_email, cease_communication;
    char tz_override[72];                             /* contact.preferences' zone; "" = none */
    char forbearance_from[11], forbearance_until[11]; /* the latest forbearance; "" = none */
    bool features_dirty; /* features changed: casestore_save() writes them */
    /* money (charges.h, casecharge.h): `balance` is principal + charges.interest + charges.fees;
     * principal is the open documented invoices' sum. chargestore.h loads and saves charges. */
    int64_t principal;
    charges_state_t charges;
    casefile_rows_t rows; /* the rows the event's decision needed (see above) */
    /* version 2 (hold.h, callback.h, outreach.h): what follow-up planning remembers between
     * events (debt_case.followup, 0011_followup.sql): promise reminders sent, the callback
     * asked for, attempts that reached nobody, the last skip trace, a restriction to restore.
     * Owned object, never NULL after casefile_init(); followup_dirty: casestore saves it. */
    json_t *followup;
    bool followup_dirty;
    /* version 2 (forbear.h): every forbearance [{"from", "until"}]; owned, NULL when none. */
    json_t *forbearances;
} casefile_t;

/* Sets *cf to an empty case of (creditor_id, debtor_id): no invoices, not segmented, stage
 * "none", status open, features {}, version 0. Returns 0, or -1 when out of memory or an id is
 * too long. Release with casefile_clear(). */
__attribute__((warn_unused_result)) int casefile_init(casefile_t *cf, const char *creditor_id,
                                                      const char *debtor_id);

/* Frees what *cf owns (invoices, tasks and their data, features, rows). NULL is a no-op. */
void casefile_clear(casefile_t *cf);

/* Appends an invoice or a task (copied; the task's data is stolen). Return a pointer to the new
 * element (valid until the next append), or NULL when out of memory. */
casefile_invoice_t *casefile_add_invoice(casefile_t *cf, const casefile_invoice_t *inv);
casefile_task_t *casefile_add_task(casefile_t *cf, const casefile_task_t *task);

/* The invoice with `id`, or NULL. */
casefile_invoice_t *casefile_find_invoice(casefile_t *cf, const char *id);

/* Applies one validated invoice event (invoice.overdue, invoice.adjusted, invoice.cancelled) to
 * the case. Returns 0, or -1 with *err filled ("currency_mismatch", or "unknown_type" for
 * another type) and *cf unchanged. Does not plan (casefile_plan() does) and does not use the
 * case's credit (the invoice events' decision, casedecide.h, calls casepay_use_credit()). */
__attribute__((warn_unused_result)) int casefile_apply_event(casefile_t *cf, const char *type,
                                                             const json_t *data, reason_t *err);

/* Replaces the counters other services keep (segment features: promises_broken,
 * ever_contacted, stage...). Borrows `features` (copied). Returns 0 or -1 (not an object, OOM). */
__attribute__((warn_unused_result)) int casefile_set_features(casefile_t *cf,
                                                              const json_t *features);

/* What one planning produced for the outbox and the metrics. */
typedef enum { CASEFILE_TOPIC_TASKS = 0, CASEFILE_TOPIC_CASE_EVENTS } casefile_topic_t;

/* One document to publish. The domain decides what (type, id, when, data); the pipeline wraps
 * it in the CloudEvents envelope with the acting service's source (cloudevent.h). */
typedef struct casefile_output {
    casefile_topic_t topic;
    const char *type;           /* static: "task.created", "case.resolved", ... */
    char id[CASEFILE_UUID_MAX]; /* the event's stable id (a task's task_id) */
    int64_t at;                 /* the event's time, Unix seconds */
    json_t *data;               /* owned: the event's data */
} casefile_output_t;

typedef struct casefile_plan {
    casefile_output_t *outputs; /* owned, in the order to publish */
    size_t n_outputs, cap_outputs;
    bool segment_changed; /* a segment_history row: from `from_segment` to cf->segment */
    bool from_segmented;
    segment_id_t from_segment;
    /* Metric increments: task actions created, deferral and suppression reasons (static). */
    const char *created[16], *deferred[16], *suppressed[16];
    size_t n_created, n_deferred, n_suppressed;
} casefile_plan_t;

#define CASEFILE_PLAN_INIT                                                                         \
    {                                                                                              \
        0                                                                                          \
    }

/* Appends an output to the plan; steals `data` (NULL fails). `type` is borrowed and must be
 * static. Returns 0, or -1 when out of memory (data released). */
__attribute__((warn_unused_result)) int casefile_emit(casefile_plan_t *plan, casefile_topic_t topic,
                                                      const char *type, const char *id, int64_t at,
                                                      json_t *data);

/* Plans one task outside the ladder (a promise reminder, a callback, a follow-up, a skip trace,
 * a restore, a delivery fallback): *t carries its id, action, channel, template, priority, step
 * (0 outside the ladder) and window (not_before, not_after), or status CASEFILE_TASK_SUPPRESSED
 * with its reason. The task is added to the case (segment fields from the case) and, unless
 * suppressed, its task.created (with `reason` and the task's `promise` field: `promise` is stolen,
 * NULL for null) appended to the plan and counted. `rule` is the contact rule's static reason
 * (contact.h) that deferred or suppressed it, NULL when allowed at once: counted as the deferral or
 * suppression reason (the metrics keep the pointer: never a buffer). Returns 0 or -1. */
__attribute__((warn_unused_result)) int casefile_emit_task(casefile_t *cf, casefile_task_t *t,
                                                           const char *reason, const char *rule,
                                                           json_t *promise, int64_t now,
                                                           casefile_plan_t *plan);

/* Frees what *plan owns and zeroes it. */
void casefile_plan_clear(casefile_plan_t *plan);

/* Whether the creditor and debtor rows must be written when *cf is saved: a party's field
 * changed, or the debtor row does not hold the debtor's one zone (the one they gave in
 * contact.preferences wins over the accounting system's, for planning and for the scheduler's
 * day alike; rows stored before that rule heal on their case's next save). Only complete parties
 * (the creditor's name and a zone known) are written, and a debtor row that does not exist yet
 * comes with the debtor's first invoice.overdue. */
bool casefile_parties_due(const casefile_t *cf);

/* Recomputes balance, days past due and status at `now`, re-segments with `policy` and plans the
 * next steps (see the top of this file), updating *cf and appending to *plan. Call it once after
 * each applied event; it increments cf->version. Returns 0, or -1 with a reason in err (out of
 * memory; a policy that cannot segment the case's currency). */
__attribute__((warn_unused_result)) int casefile_plan(casefile_t *cf, const policy_t *policy,
                                                      int64_t now, casefile_plan_t *plan, char *err,
                                                      size_t errlen);

/* The hot-cache document of the case (proto/schemas/cache.case.schema.json), as of `now` for
 * calls_left_7d. Returns a new reference, or NULL for a case not yet complete or out of memory. */
json_t *casefile_cache_new(const casefile_t *cf, const policy_t *policy, int64_t now);

/* The open documented invoices as the task's `invoices` array, oldest due date first. Returns a
 * new reference, or NULL when out of memory. */
json_t *casefile_invoices_new(const casefile_t *cf);

/* A UUIDv5 (SHA-1, recobro's namespace) of `name` into out (CASEFILE_UUID_MAX bytes). */
void casefile_uuid5(const char *name, char out[CASEFILE_UUID_MAX]);

/* Stable names for the enums ("open", "pending", ...). */
/* ---- interactions: contact state and task withdrawals (caseinteract.h uses them) ---------- */

/* Fills *out with the case's contact state (call attempts, last right-party call, opt-outs,
 * cease, open dispute from the features, the forbearance as instants in the debtor's zone).
 * Borrows from *cf: valid while cf is unchanged. */
void casefile_contact_state(const casefile_t *cf, contact_state_t *out);

/* Withdraws one pending task: status cancelled with `reason`, and a task.cancelled appended to
 * the plan. Returns 0 or -1 (out of memory). */
__attribute__((warn_unused_result)) int casefile_cancel_task(casefile_t *cf, casefile_plan_t *plan,
                                                             casefile_task_t *t, int64_t now,
                                                             const char *reason);

/* Withdraws the pending tasks whose window has not ended: all of them, or (all false) the
 * collection ones only (documentation stays). Returns 0 or -1 (out of memory). */
__attribute__((warn_unused_result)) int
casefile_withdraw(casefile_t *cf, casefile_plan_t *plan, int64_t now, bool all, const char *reason);

const char *casefile_status_name(casefile_status_t s);
const char *casefile_invoice_status_name(casefile_invoice_status_t s);
const char *casefile_task_status_name(casefile_task_status_t s);
int casefile_invoice_status_from_name(const char *name, casefile_invoice_status_t *out);
int casefile_task_status_from_name(const char *name, casefile_task_status_t *out);
int casefile_status_from_name(const char *name, casefile_status_t *out);

#endif
