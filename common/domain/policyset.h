/* policyset.h - the policies in force, by creditor: the default policy and the creditors that
 * have one of their own (CONTRACT.md, "Per-creditor policies").
 *
 * A case is planned under its creditor's own policy when the creditor has one, else under the
 * default policy. Several creditors may share one policy document; the set keeps each version
 * once. A version number names one document across the whole installation (the store refuses a
 * second document under a used version), so a task's `policy_version` alone says which policy
 * it was planned under.
 *
 * Pure: no I/O. A built set is read-only: share it between threads freely, free it once. */
#ifndef RECOBRO_POLICYSET_H
#define RECOBRO_POLICYSET_H

#include <stddef.h>

#include "policy.h"

/* Longest creditor id (CONTRACT.md: 1-64 characters), plus the NUL. */
#define POLICYSET_ID_MAX 65

typedef struct policyset_entry {
    char creditor_id[POLICYSET_ID_MAX];
    const policy_t *policy; /* borrowed from the set's `policies` */
} policyset_entry_t;

typedef struct policyset {
    const policy_t *fallback;     /* the default policy (borrowed from `policies`), or NULL */
    policyset_entry_t *creditors; /* owned, sorted by creditor_id, n_creditors of them */
    size_t n_creditors;
    policy_t **policies; /* owned: every distinct version, each once */
    size_t n_policies;
} policyset_t;

/* A new empty set (no default, no creditor), or NULL when out of memory. */
policyset_t *policyset_new(void);

/* Frees the set and every policy it holds. NULL is a no-op. */
void policyset_free(policyset_t *set);

/* Adds `policy` (steals it, even on error) as the default (creditor_id NULL) or as the policy of
 * `creditor_id` (1..64 characters), replacing what that scope had. A policy whose version the
 * set already holds is freed and the held one is used. Returns 0; -1 when an argument is NULL,
 * the creditor id is empty or too long, or out of memory. */
__attribute__((warn_unused_result)) int policyset_add(policyset_t *set, const char *creditor_id,
                                                      policy_t *policy);

/* Gives `creditor_id` (NULL: the default) the policy of `version` the set already holds.
 * Returns 0; -1 when the set holds no such version (add it with policyset_add()), or on a bad
 * argument or out of memory. */
__attribute__((warn_unused_result)) int policyset_use(policyset_t *set, const char *creditor_id,
                                                      int version);

/* The policy a case of `creditor_id` is planned under (borrowed): the creditor's own, else the
 * default; NULL when neither exists or `set` is NULL. creditor_id may be NULL (the default). */
const policy_t *policyset_for(const policyset_t *set, const char *creditor_id);

/* The creditor's own policy (borrowed), or NULL when it has none. */
const policy_t *policyset_own(const policyset_t *set, const char *creditor_id);

#endif
