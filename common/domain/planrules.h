/* planrules.h - the policy's follow-up sections: promise reminders and follow-ups, the unreached
 * debtor (skip tracing), delivery fallback.
 *
 * Three optional top-level sections of the policy document (policy.h); every key is optional, an
 * absent key keeps its default, unknown keys are refused, a free-text "description" is allowed:
 *
 *   "promise": {
 *     "reminder_days_before": 1,      days before due_on the promise_reminder opens (0..30;
 *                                     0 = on the due day itself)
 *     "reminder_channel": "sms",      sms or email; when the debtor cannot be reached on it (an
 *                                     opt-out) the other one is used
 *     "reminder_template": "promise.reminder",
 *     "follow_up": {"action": "call", "channel": "phone", "template": "promise.broken_call",
 *                   "priority": 2}    what a broken promise or a defaulted plan gets at the next
 *                                     allowed moment; absent: the first call of the segment's
 *                                     ladder (its channel, template and priority); null: nothing
 *   },
 *   "unreached": {"attempts": 6, "days": 30},
 *                                     a skip_trace task after `attempts` attempts that reached
 *                                     nobody (no_answer, voicemail, wrong_party,
 *                                     delivery_failed) within `days` days with no right-party
 *                                     contact, or after any wrong_party; at most one per `days`
 *   "delivery": {"fallback": true}    a task reported delivery_failed is re-planned on the next
 *                                     channel of its ladder step's "fallback_channels"
 *
 * Pure: values in, values out. */
#ifndef RECOBRO_PLANRULES_H
#define RECOBRO_PLANRULES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "vocab.h"

typedef struct planrules {
    int reminder_days_before;
    vocab_channel_t reminder_channel; /* sms or email */
    char reminder_template[65];
    bool has_follow_up;         /* false: `follow_up` is null, nothing after a break */
    bool follow_up_from_ladder; /* true: the first call of the segment's ladder */
    vocab_action_t follow_up_action;
    vocab_channel_t follow_up_channel;
    char follow_up_template[65];
    int follow_up_priority;
    int unreached_attempts; /* 1..100 */
    int unreached_days;     /* 1..366 */
    bool delivery_fallback;
} planrules_t;

/* Fills *out with the defaults shown above (delivery fallback off). */
void planrules_default(planrules_t *out);

/* Reads the sections "promise", "unreached" and "delivery" of the policy document `root`
 * (borrowed) over *out (already holding the defaults). Returns 0, or -1 with err filled as
 * "<path>: <problem>", e.g. `promise.reminder_channel: must be "sms" or "email"`. */
__attribute__((warn_unused_result)) int planrules_from_json(const json_t *root, planrules_t *out,
                                                            char *err, size_t errlen);

#endif
