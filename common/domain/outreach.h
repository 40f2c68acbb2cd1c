/* outreach.h - skip tracing the debtor never reached, and restoring a restricted service
 * (CONTRACT.md, "Additions, version 2"). Pure.
 *
 *  - skip_trace: the contact attempts that reached nobody (no_answer, voicemail, wrong_party,
 *    delivery_failed) are remembered with their time; a right-party contact (right_party,
 *    refused, callback_requested) clears the count. When the policy's unreached.attempts
 *    (default 6) of them fall within the last unreached.days (default 30) days after the last
 *    right-party contact, or a wrong_party came since the last skip trace, a `skip_trace` task
 *    (channel internal, template "skip_trace") goes out, at most once per unreached.days.
 *  - restore_service: once a restrict_service task was planned, a `restore_service` task
 *    (channel internal, template "restore_service") goes out when the case is resolved or a
 *    plan is active, once per restriction.
 * Both are planned like every internal action (contact.h: the rest of the local day; an open
 * dispute or a forbearance defers them unless the policy exempts the action).
 * The case's follow-up state keeps "unreached" (times), "reached_at", "wrong_party_at",
 * "skip_trace_at", "restricted" and "restores". */
#ifndef RECOBRO_OUTREACH_H
#define RECOBRO_OUTREACH_H

#include <jansson.h>
#include <stdint.h>

#include "casefile.h"
#include "policy.h"

/* Notes what a contact.attempted's `data` (borrowed, validated) says about reaching the
 * debtor. Returns 0, or -1 (out of memory). */
__attribute__((warn_unused_result)) int outreach_note(casefile_t *cf, const json_t *data);

/* Plans the skip_trace and restore_service tasks that are due (see above). Returns 0 or -1. */
__attribute__((warn_unused_result)) int outreach_plan(casefile_t *cf, const policy_t *policy,
                                                      int64_t now, casefile_plan_t *plan);

#endif
