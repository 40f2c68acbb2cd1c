/* conversation.h - the policy's "conversation" section: the objection codes it understands
 * (which of them say the debtor cannot pay: hardship), the negotiation techniques of the desk,
 * and the stage rules that move a case's negotiation stage (DOMAIN.md, principles 3 and 4).
 *
 *   "conversation": {
 *     "objections": {"temporary_unemployment": {"hardship": true, "description": "..."},
 *                    "not_my_debt": {}, ...},
 *     "hardship_prefixes": ["hardship_"],
 *     "techniques": {"empathy": {"description": "..."}, "precise_date": {}, ...},
 *     "stages": {
 *       "reported": "raise",
 *       "rules": [{"id": "dispute.back_to_none", "event": "debt.disputed", "back_to": "none"},
 *                 {"id": "objection.not_my_debt", "objection": "not_my_debt", "back_to": "none"},
 *                 {"id": "promise.date_agreed", "event": "promise.made",
 *                  "raise_to": "date_agreed"}]
 *     }
 *   }
 *
 * Codes are machine codes as the events carry them (^[a-z][a-z0-9_]{0,63}$). A contact's
 * objection is hardship when the catalogue says so or it starts with one of hardship_prefixes;
 * hardship_objections (segment.h) grows by one per contact that raises at least one. Codes an
 * event carries that the catalogue does not list are recorded all the same and have no effect.
 *
 * The stage (none < recognized < accepted < amount_agreed < date_agreed): a contact's reported
 * `stage` raises the case's stage ("reported": "raise", the default) or sets it to what the
 * agent reports, lower or not ("set"). Then the rules, in order: a rule fires on an event type
 * (payment.received, promise.made, plan.agreed, debt.disputed, dispute.resolved) or on an
 * objection code a contact raises (the code must be in the catalogue); "raise_to" moves the
 * stage up to its stage (never down), "back_to" down to it (never up): a debtor who recognised
 * the debt and then disputes it goes back to `none`.
 *
 * A policy without the section keeps the rules of policy documents written before it existed,
 * so that a stored policy version decides the same after an upgrade: the hardship codes
 * hardship, cannot_pay, unemployed, illness, no_income, reduced_income, bereavement and the
 * prefix hardship_; no technique catalogue; the reported stage only raises; no stage rules.
 *
 * Pure: jansson values in, values out. A parsed conv_rules_t is immutable and owned by its
 * policy. */
#ifndef RECOBRO_CONVERSATION_H
#define RECOBRO_CONVERSATION_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "vocab.h"

/* A code of 1..64 characters plus the NUL. */
#define CONV_CODE_MAX 65

typedef struct conv_objection {
    char code[CONV_CODE_MAX];
    bool hardship;
} conv_objection_t;

/* One stage rule: on `event` (an input type) or on `objection` (a catalogue code), move the
 * stage up to (raise) or down to (!raise) `stage`. */
typedef struct conv_stage_rule {
    char id[CONV_CODE_MAX];
    char event[CONV_CODE_MAX];     /* "" when the rule is on an objection */
    char objection[CONV_CODE_MAX]; /* "" when the rule is on an event */
    bool raise;
    vocab_stage_t stage;
} conv_stage_rule_t;

typedef struct conv_rules {
    bool defined;                 /* the policy has the section (false: the legacy rules) */
    conv_objection_t *objections; /* owned */
    size_t n_objections;
    char (*prefixes)[CONV_CODE_MAX]; /* owned: hardship prefixes */
    size_t n_prefixes;
    char (*techniques)[CONV_CODE_MAX]; /* owned; n_techniques 0 with !defined: no catalogue */
    size_t n_techniques;
    bool reported_sets;       /* "reported": "set" */
    conv_stage_rule_t *rules; /* owned */
    size_t n_rules;
} conv_rules_t;

/* Reads the "conversation" section `obj` (NULL: absent, the legacy rules) into *out. Returns 0,
 * or -1 with err "<JSON path>: <problem>" (then conv_rules_clear() what *out got). */
__attribute__((warn_unused_result)) int conv_rules_from_json(const json_t *obj, conv_rules_t *out,
                                                             char *err, size_t errlen);

/* Frees what *r owns and zeroes it. NULL is a no-op. */
void conv_rules_clear(conv_rules_t *r);

/* True when objection `code` says the debtor cannot pay (see above). NULL is false. */
bool conv_is_hardship(const conv_rules_t *r, const char *code);

/* True when the catalogue lists `code` (objection, or technique); without a catalogue (a policy
 * without the section) every code is listed. NULL is false. */
bool conv_objection_known(const conv_rules_t *r, const char *code);
bool conv_technique_known(const conv_rules_t *r, const char *code);

/* Applies the rules to an event of `type` with `data` (borrowed, validated) over a case's
 * `features` object (segment.h's names: "stage", "hardship_objections"): the reported stage
 * and the hardship count of a contact.attempted, then the stage rules. *changed is set true when
 * a feature changed. Returns 0, or -1 when out of memory. */
__attribute__((warn_unused_result)) int conv_apply(const conv_rules_t *r, json_t *features,
                                                   const char *type, const json_t *data,
                                                   bool *changed);

#endif
