/* policyset.c - the policies in force, by creditor (see policyset.h). */
#include "policyset.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

policyset_t *policyset_new(void)
{
    return calloc(1, sizeof(policyset_t));
}

void policyset_free(policyset_t *set)
{
    if (set == NULL)
        return;
    for (size_t i = 0; i < set->n_policies; i++)
        policy_free(set->policies[i]);
    free(set->policies);
    free(set->creditors);
    free(set);
}

/* The held policy of `policy`'s version, or `policy` itself added to the held ones (stolen in
 * both cases). NULL when out of memory (policy freed). */
static const policy_t *hold(policyset_t *set, policy_t *policy)
{
    for (size_t i = 0; i < set->n_policies; i++) {
        if (set->policies[i]->version == policy->version) {
            policy_free(policy);
            return set->policies[i];
        }
    }
    policy_t **grown = realloc(set->policies, (set->n_policies + 1) * sizeof(*grown));
    if (grown == NULL) {
        policy_free(policy);
        return NULL;
    }
    set->policies = grown;
    set->policies[set->n_policies++] = policy;
    return policy;
}

/* The index of the first entry whose creditor_id is >= `id` (binary search). */
static size_t lower_bound(const policyset_t *set, const char *id)
{
    size_t lo = 0, hi = set->n_creditors;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(set->creditors[mid].creditor_id, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Puts `policy` under creditor `id`, keeping the entries sorted. */
static int put_creditor(policyset_t *set, const char *id, const policy_t *policy)
{
    size_t at = lower_bound(set, id);

    if (at < set->n_creditors && strcmp(set->creditors[at].creditor_id, id) == 0) {
        set->creditors[at].policy = policy;
        return 0;
    }
    policyset_entry_t *grown =
        realloc(set->creditors, (set->n_creditors + 1) * sizeof(*set->creditors));
    if (grown == NULL)
        return -1;
    set->creditors = grown;
    memmove(&grown[at + 1], &grown[at], (set->n_creditors - at) * sizeof(*grown));
    memset(&grown[at], 0, sizeof(grown[at]));
    memcpy(grown[at].creditor_id, id, strlen(id) + 1);
    grown[at].policy = policy;
    set->n_creditors++;
    return 0;
}

/* True when `id` may name a creditor here: NULL (the default), or 1..64 characters. */
static bool scope_ok(const char *id)
{
    return id == NULL || (id[0] != '\0' && strlen(id) < POLICYSET_ID_MAX);
}

int policyset_use(policyset_t *set, const char *creditor_id, int version)
{
    if (set == NULL || !scope_ok(creditor_id))
        return -1;
    for (size_t i = 0; i < set->n_policies; i++) {
        if (set->policies[i]->version != version)
            continue;
        if (creditor_id == NULL) {
            set->fallback = set->policies[i];
            return 0;
        }
        return put_creditor(set, creditor_id, set->policies[i]);
    }
    return -1;
}

int policyset_add(policyset_t *set, const char *creditor_id, policy_t *policy)
{
    if (set == NULL || policy == NULL || !scope_ok(creditor_id)) {
        policy_free(policy);
        return -1;
    }
    const policy_t *held = hold(set, policy);
    if (held == NULL)
        return -1;
    if (creditor_id == NULL) {
        set->fallback = held;
        return 0;
    }
    return put_creditor(set, creditor_id, held);
}

const policy_t *policyset_own(const policyset_t *set, const char *creditor_id)
{
    if (set == NULL || creditor_id == NULL)
        return NULL;
    size_t at = lower_bound(set, creditor_id);
    if (at < set->n_creditors && strcmp(set->creditors[at].creditor_id, creditor_id) == 0)
        return set->creditors[at].policy;
    return NULL;
}

const policy_t *policyset_for(const policyset_t *set, const char *creditor_id)
{
    const policy_t *own = policyset_own(set, creditor_id);

    return own != NULL ? own : set != NULL ? set->fallback : NULL;
}
