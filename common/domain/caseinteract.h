/* caseinteract.h - the pure decisions of interaction events over a case file (casefile.h):
 * contact attempts moving the case features and the contact state, task loops closed by their
 * notifier, disputes opened and resolved, contact preferences, forbearances.
 *
 * Pure like casefile.c: no I/O, no clock read (`now` is an argument). The interactions worker's
 * decisions (casedecide.h) call ONE of the caseinteract_* functions over the case the pipeline
 * (pipeline.h) loaded and locked, and mark the rows to write; the pipeline then plans
 * (casefile_plan(), with the contact state) and saves everything (casestore_save(), which calls
 * interactstore.h), all in the batch's transaction.
 *
 * The rules written down here (DOMAIN.md leaves them to us):
 *  - A right-party contact is an attempt with outcome right_party, refused or
 *    callback_requested: in all three the debtor was reached. It resets attempts_without_answer,
 *    sets ever_contacted, and on the phone starts the quiet period (no call for
 *    quiet_days_after_rpc days), except callback_requested: a callback asked for is consent, not
 *    a conversation (callback.h).
 *  - attempts_without_answer counts consecutive no_answer / voicemail; wrong_party and the
 *    written channels' outcomes neither count nor reset it.
 *  - Every phone attempt counts against the call cap, whatever its outcome.
 *  - The objections and the negotiation stage of a contact are the policy's conversation rules
 *    (conversation.h: which codes are hardship, how the stage moves, up and back), applied by
 *    the case pipeline after every decision (conv_apply()), not here.
 *  - A task_id closes the loop on a pending task: delivery_failed makes it `failed`, any other
 *    outcome `done` (the task was carried out). A task that is not pending any more (done,
 *    cancelled) is left alone.
 *  - An open dispute sets the open_dispute feature (the policy's `disputed` segment) and
 *    withdraws pending collection tasks ("disputed"); documentation stays. Resolution upheld
 *    cancels the disputed invoices (the named one, else those the resolved disputes named, else
 *    every open invoice) through casefile's invoice logic; rejected only clears the feature
 *    (once no dispute is left open) so the strategy resumes.
 *  - contact.preferences changes only the fields it carries; pending tasks that now break an
 *    opt-out or cease_communication are withdrawn with the contact rules' reason
 *    ("opt_out_call", "opt_out_sms", "opt_out_email", "cease_communication"). A new time zone
 *    applies to every task planned from now on (pending tasks keep their window).
 *  - A forbearance withdraws the pending tasks not exempt from it (policy:
 *    forbearance_exempt_actions) whose window meets the pause ("forbearance"); later planning
 *    defers or suppresses through contact_decide(). The case shows `paused` while it lasts. */
#ifndef RECOBRO_CASEINTERACT_H
#define RECOBRO_CASEINTERACT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "casefile.h"
#include "result.h"
#include "contact.h"

/* What a contact attempt did to its task, for logs and metrics. */
typedef enum {
    CASEINTERACT_TASK_NONE = 0,   /* no task_id */
    CASEINTERACT_TASK_DONE,       /* a pending task became done */
    CASEINTERACT_TASK_FAILED,     /* a pending task became failed (delivery_failed) */
    CASEINTERACT_TASK_NOT_PENDING /* the task is not pending in this case (closed, unknown) */
} caseinteract_task_t;

/* Applies a validated contact.attempted `data` (borrowed) to *cf: outcome counters (features_dirty
 * set), the contact state (call attempts, last right-party call, last contact) and the task named
 * by task_id. *task says what happened to it. Returns 0, or -1 with *err filled
 * ("schema_violation" for an unreadable `at`, "processing_error" when out of memory). */
__attribute__((warn_unused_result)) int
caseinteract_contact(casefile_t *cf, const json_t *data, caseinteract_task_t *task, reason_t *err);

/* A dispute was opened: sets open_dispute and withdraws pending collection tasks ("disputed")
 * into *plan. Returns 0 or -1 (out of memory). */
__attribute__((warn_unused_result)) int caseinteract_dispute_opened(casefile_t *cf, int64_t now,
                                                                    casefile_plan_t *plan);

/* A dispute was resolved. `upheld`: cancels `invoice_id` when not NULL, else the n invoices of
 * `disputed` (borrowed ids the resolved disputes named), else every open documented invoice.
 * `still_open`: another dispute stays open (open_dispute keeps true). Returns 0, or -1 with
 * *err filled. */
__attribute__((warn_unused_result)) int caseinteract_dispute_resolved(casefile_t *cf, bool upheld,
                                                                      const char *invoice_id,
                                                                      const char *const *disputed,
                                                                      size_t n, bool still_open,
                                                                      reason_t *err);

/* Applies a validated contact.preferences `data` (borrowed) with the policy's contact `rules`,
 * withdrawing the pending tasks that now break it into *plan. Returns 0 or -1 (out of memory). */
__attribute__((warn_unused_result)) int caseinteract_preferences(casefile_t *cf, const json_t *data,
                                                                 const contact_rules_t *rules,
                                                                 int64_t now,
                                                                 casefile_plan_t *plan);

/* A forbearance from local day `from` to local day `until` ("YYYY-MM-DD", until included):
 * records it in *cf and withdraws the pending tasks it pauses into *plan. Returns 0, or -1
 * with *err filled ("invalid_date" for dates the case's zone cannot place, "processing_error"). */
__attribute__((warn_unused_result)) int caseinteract_forbearance(casefile_t *cf, const char *from,
                                                                 const char *until,
                                                                 const contact_rules_t *rules,
                                                                 int64_t now, casefile_plan_t *plan,
                                                                 reason_t *err);

/* Fills the contact state of *cf from the document casestore_load() reads:
 * {"calls": [epoch...], "last_rpc_at": epoch|null, "last_contact_at": epoch|null,
 *  "prefs": {"do_not_call": bool, ..., "timezone": str|null}|null,
 *  "forbearance": {"from": "YYYY-MM-DD", "until": "YYYY-MM-DD"}|null}. `doc` is borrowed; NULL
 * or null leaves the state empty. A time-zone preference replaces cf->timezone. Returns 0 or -1
 * (not an object). */
__attribute__((warn_unused_result)) int caseinteract_state_from_json(casefile_t *cf,
                                                                     const json_t *doc);

#endif
