/* callback.h - callbacks the debtor asked for (CONTRACT.md, "Additions, version 2").
 *
 * A contact.attempted with outcome `callback_requested` may carry `callback_at` (RFC 3339). The
 * case then gets a `call` task on the phone, reason `callback`, template "callback", priority 1:
 *  - not_before = callback_at, or the first moment after it the contact rules allow (window,
 *    no-contact days, forbearance; opt-outs, cease and disputes still suppress it), and a moment
 *    in the past becomes now;
 *  - not_after = not_before + 1 hour, inside the window: when less than an hour of the window is
 *    left, the call moves to the next allowed window;
 *  - it is placed with the debtor's consent: neither the quiet period after a conversation nor
 *    the call cap holds it, and the callback_requested contact itself starts no quiet period
 *    (caseinteract.c);
 *  - no other call is planned before its window ends (hold.h holds the ladder's calls, and
 *    pending calls that would act before its end are withdrawn, reason "callback"), a
 *    segment change does not withdraw it, and a new callback_at replaces it (the old task is
 *    withdrawn, "superseded").
 * The case's follow-up state (casefile_t.followup) keeps {"callback": {"at", "task_id",
 * "until"}}. Pure. */
#ifndef RECOBRO_CALLBACK_H
#define RECOBRO_CALLBACK_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "casefile.h"
#include "policy.h"

/* Notes the callback a contact.attempted's `data` (borrowed, validated) asks for, if any.
 * Returns 0, or -1 (out of memory). */
__attribute__((warn_unused_result)) int callback_note(casefile_t *cf, const json_t *data);

/* Plans the noted callback not planned yet (see above). Returns 0, or -1 (out of memory, a zone
 * that cannot place a day). */
__attribute__((warn_unused_result)) int callback_plan(casefile_t *cf, const policy_t *policy,
                                                      int64_t now, casefile_plan_t *plan);

/* True when `t` is the case's callback task. */
bool callback_is_task(const casefile_t *cf, const casefile_task_t *t);

/* The contact state a callback is checked against: `cs` without the calls and the last
 * right-party conversation (the debtor's consent). */
void callback_consent_state(contact_state_t *cs);

#endif
