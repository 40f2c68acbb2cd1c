/* vocab.c - the name tables of task actions, channels and negotiation stages (one each). */
#include "vocab.h"

#include <stddef.h>
#include <string.h>

/* tests/proto/check_policy.py reads action_names and channel_names with a regex: keep them
 * designated initializers, one `= "name"` per value. */
static const char *const action_names[VOCAB_ACTION_COUNT] = {
    [VOCAB_ACTION_REMINDER] = "reminder",
    [VOCAB_ACTION_CALL] = "call",
    [VOCAB_ACTION_VALIDATION_NOTICE] = "validation_notice",
    [VOCAB_ACTION_INVOICE_COPY] = "invoice_copy",
    [VOCAB_ACTION_PLAN_OFFER] = "plan_offer",
    [VOCAB_ACTION_PROMISE_REMINDER] = "promise_reminder",
    [VOCAB_ACTION_FINAL_NOTICE] = "final_notice",
    [VOCAB_ACTION_RESTRICT_SERVICE] = "restrict_service",
    [VOCAB_ACTION_LEGAL_REVIEW] = "legal_review",
    [VOCAB_ACTION_SUPERVISOR_REVIEW] = "supervisor_review",
    [VOCAB_ACTION_THANK_YOU] = "thank_you",
    [VOCAB_ACTION_SKIP_TRACE] = "skip_trace",
    [VOCAB_ACTION_RESTORE_SERVICE] = "restore_service",
};

static const char *const channel_names[VOCAB_CHANNEL_COUNT] = {
    [VOCAB_CHANNEL_PHONE] = "phone", [VOCAB_CHANNEL_SMS] = "sms",
    [VOCAB_CHANNEL_EMAIL] = "email", [VOCAB_CHANNEL_LETTER] = "letter",
    [VOCAB_CHANNEL_VISIT] = "visit", [VOCAB_CHANNEL_INTERNAL] = "internal",
};

static const char *const stage_names[VOCAB_STAGE_COUNT] = {
    [VOCAB_STAGE_NONE] = "none",
    [VOCAB_STAGE_RECOGNIZED] = "recognized",
    [VOCAB_STAGE_ACCEPTED] = "accepted",
    [VOCAB_STAGE_AMOUNT_AGREED] = "amount_agreed",
    [VOCAB_STAGE_DATE_AGREED] = "date_agreed",
};

/* The index of `name` in `table` of `n` names, or -1. */
static int find(const char *const *table, int n, const char *name)
{
    if (name == NULL)
        return -1;
    for (int i = 0; i < n; i++)
        if (strcmp(table[i], name) == 0)
            return i;
    return -1;
}

const char *vocab_action_name(vocab_action_t action)
{
    return (unsigned)action < VOCAB_ACTION_COUNT ? action_names[action] : NULL;
}

const char *vocab_channel_name(vocab_channel_t channel)
{
    return (unsigned)channel < VOCAB_CHANNEL_COUNT ? channel_names[channel] : NULL;
}

const char *vocab_stage_name(vocab_stage_t stage)
{
    return (unsigned)stage < VOCAB_STAGE_COUNT ? stage_names[stage] : NULL;
}

int vocab_action_from_name(const char *name, vocab_action_t *out)
{
    int i = find(action_names, VOCAB_ACTION_COUNT, name);

    if (i < 0)
        return -1;
    *out = (vocab_action_t)i;
    return 0;
}

int vocab_channel_from_name(const char *name, vocab_channel_t *out)
{
    int i = find(channel_names, VOCAB_CHANNEL_COUNT, name);

    if (i < 0)
        return -1;
    *out = (vocab_channel_t)i;
    return 0;
}

int vocab_stage_from_name(const char *name, vocab_stage_t *out)
{
    int i = find(stage_names, VOCAB_STAGE_COUNT, name);

    if (i < 0)
        return -1;
    *out = (vocab_stage_t)i;
    return 0;
}

bool vocab_action_is_collection(vocab_action_t action)
{
    switch (action) {
    case VOCAB_ACTION_REMINDER:
    case VOCAB_ACTION_CALL:
    case VOCAB_ACTION_PLAN_OFFER:
    case VOCAB_ACTION_PROMISE_REMINDER:
    case VOCAB_ACTION_FINAL_NOTICE:
    case VOCAB_ACTION_RESTRICT_SERVICE:
    case VOCAB_ACTION_LEGAL_REVIEW:
        return true;
    default:
        return false;
    }
}
