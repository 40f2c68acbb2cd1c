/* vocab.h - the one vocabulary of task actions, channels and negotiation stages, and their names.
 *
 * Every name a task, a policy or a case carries for these three comes from the tables of
 * vocab.c and from nowhere else: strategies, contact rules, segmentation conditions and the case
 * all parse and print through the functions below, so that a new action or channel is one
 * enum value and one table row. The names are CONTRACT.md's, exactly ("validation_notice",
 * "sms", "amount_agreed"); proto/ carries the same lists and tests/proto/check_policy.py checks
 * that the policy schema agrees with the tables of vocab.c.
 *
 * The enums are dense from 0 and end with a _COUNT, so they index arrays and bit sets
 * (contact.h keeps its exemption lists as bits 1u << action). Pure: static tables, no state. */
#ifndef RECOBRO_VOCAB_H
#define RECOBRO_VOCAB_H

#include <stdbool.h>

/* The task actions of CONTRACT.md ("recobro.tasks", `action`), exactly. */
typedef enum vocab_action {
    VOCAB_ACTION_REMINDER = 0,
    VOCAB_ACTION_CALL,
    VOCAB_ACTION_VALIDATION_NOTICE,
    VOCAB_ACTION_INVOICE_COPY,
    VOCAB_ACTION_PLAN_OFFER,
    VOCAB_ACTION_PROMISE_REMINDER,
    VOCAB_ACTION_FINAL_NOTICE,
    VOCAB_ACTION_RESTRICT_SERVICE,
    VOCAB_ACTION_LEGAL_REVIEW,
    VOCAB_ACTION_SUPERVISOR_REVIEW,
    VOCAB_ACTION_THANK_YOU,
    VOCAB_ACTION_SKIP_TRACE,      /* internal: find a current phone or address (version 2) */
    VOCAB_ACTION_RESTORE_SERVICE, /* internal: undo a restrict_service (version 2) */
    VOCAB_ACTION_COUNT
} vocab_action_t;

/* The task channels of CONTRACT.md ("recobro.tasks", `channel`), exactly. A contact.attempted
 * event uses the first five; `internal` is for work inside the organisation. */
typedef enum vocab_channel {
    VOCAB_CHANNEL_PHONE = 0,
    VOCAB_CHANNEL_SMS,
    VOCAB_CHANNEL_EMAIL,
    VOCAB_CHANNEL_LETTER,
    VOCAB_CHANNEL_VISIT,
    VOCAB_CHANNEL_INTERNAL,
    VOCAB_CHANNEL_COUNT
} vocab_channel_t;

/* The negotiation stages of DOMAIN.md (principle 4), in the order a case moves through them;
 * `none` is a case that has reached none yet (contact.attempted never sends it). Ordered: a
 * later stage compares greater. */
typedef enum vocab_stage {
    VOCAB_STAGE_NONE = 0,
    VOCAB_STAGE_RECOGNIZED,
    VOCAB_STAGE_ACCEPTED,
    VOCAB_STAGE_AMOUNT_AGREED,
    VOCAB_STAGE_DATE_AGREED,
    VOCAB_STAGE_COUNT
} vocab_stage_t;

/* ---- Names ---------------------------------------------------------------------------------- */

/* The name of a value ("final_notice", "sms", "amount_agreed"): a static string, or NULL when
 * the value is out of range (the _COUNT included). */
const char *vocab_action_name(vocab_action_t action);
const char *vocab_channel_name(vocab_channel_t channel);
const char *vocab_stage_name(vocab_stage_t stage);

/* Look-ups by exact, case-sensitive name. Return 0 and set *out, or -1 (and *out untouched)
 * when `name` is NULL or not in the table. */
int vocab_action_from_name(const char *name, vocab_action_t *out);
int vocab_channel_from_name(const char *name, vocab_channel_t *out);
int vocab_stage_from_name(const char *name, vocab_stage_t *out);

/* ---- What an action is ---------------------------------------------------------------------- */

/* True for the actions that press for payment (reminder, call, plan_offer, promise_reminder,
 * final_notice, restrict_service, legal_review); false for documentation (validation_notice,
 * invoice_copy), thank_you, supervisor_review and values out of range. */
bool vocab_action_is_collection(vocab_action_t action);

#endif
