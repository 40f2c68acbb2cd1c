/* hold.h - promises steer the work: the held ladder, promise reminders, follow-up after a break.
 *
 * CONTRACT.md, "Additions, version 2", as planning applies it to one case (pure: no I/O, the
 * time is an argument, days are the debtor's local days):
 *  - While the case's applied promise is pending, until the end of local day due_on + the
 *    policy's promise_grace_days, the collection ladder is held: a due step whose action is
 *    reminder, call, final_notice, plan_offer, restrict_service or legal_review is not planned
 *    (the ladder keeps its position and the case's next action is that step at the end of the
 *    hold), and pending tasks of those actions whose not_before is before the end are withdrawn
 *    with reason `promise_pending`. Documentation (validation_notice, invoice_copy) still goes.
 *    An active instalment plan holds the ladder the same way, up to its next unpaid instalment's
 *    due_on + grace (a plan past that holds nothing until it is paid up or defaulted).
 *  - A `promise_reminder` opens on local day due_on - promise.reminder_days_before (policy,
 *    default 1) at the first moment the contact rules allow, on promise.reminder_channel (sms by
 *    default; the other of sms and email when an opt-out forbids it), and carries the task's
 *    `promise` {promise_id, amount, currency, due_on}; one per promise (and per instalment of an
 *    active plan: promise_id is then the plan's id and plan_id is added), never after the due
 *    day. The case's scheduler sweep at each local midnight finds the day it opens.
 *  - When a promise breaks (promise.broken, partially kept included) or a plan defaults in the
 *    planning in hand, the follow-up of the policy (promise.follow_up; by default the first
 *    call of the segment's ladder) is planned at once, at the next moment the contact rules
 *    allow, with reason "promise <id> broken: follow-up".
 * Callbacks (callback.h) hold the ladder's calls until their window has passed. */
#ifndef RECOBRO_HOLD_H
#define RECOBRO_HOLD_H

#include <stdbool.h>
#include <stdint.h>

#include "casefile.h"
#include "policy.h"

/* The actions a pending promise or an active plan holds. */
bool hold_action_is_held(vocab_action_t action);

/* The end of the case's promise or plan hold at `now` (an instant: the start of the local day
 * after due_on + grace), or 0 when nothing holds the ladder. */
int64_t hold_agreement_end(const casefile_t *cf, const policy_t *policy, int64_t now);

/* True when ladder action `action` may not be planned at `now`, with *until the moment it may
 * (the end of the promise or plan hold; for a call, the end of a callback's window). */
bool hold_blocks(const casefile_t *cf, const policy_t *policy, vocab_action_t action, int64_t now,
                 int64_t *until);

/* After the ladder's planning: withdraws the held pending tasks, plans the promise or
 * instalment reminder that is due, and the follow-up of a promise broken or a plan defaulted in
 * `plan`. Returns 0, or -1 (out of memory, a zone that cannot place a day). */
__attribute__((warn_unused_result)) int hold_plan(casefile_t *cf, const policy_t *policy,
                                                  int64_t now, casefile_plan_t *plan);

/* followup helpers shared by hold.c, callback.c and outreach.c: the case's follow-up state
 * (casefile_t.followup). */

/* True when `key` is in the state's "sent" list (reminders and follow-ups planned). */
bool hold_sent(const casefile_t *cf, const char *key);

/* Appends value (stolen) to the array `name` of the case's follow-up state, keeping the last
 * max entries, and marks the state dirty. Returns 0, or -1 (out of memory). */
int hold_followup_push(casefile_t *cf, const char *name, json_t *value, size_t max);

/* Adds `key` to the "sent" list (the newest 32 are kept) and marks the state dirty. Returns 0
 * or -1 (out of memory). */
int hold_mark_sent(casefile_t *cf, const char *key);

/* A task id: UUIDv5 of (kind, creditor, debtor, key). */
void hold_task_id(const casefile_t *cf, const char *kind, const char *key,
                  char out[CASEFILE_UUID_MAX]);

#endif
