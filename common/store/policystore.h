/* policystore.h - the collections policy in PostgreSQL (table `policy`, 0002_cases.sql): one
 * active version at a time, newer versions added by `recobroctl policy load`, the workers reading
 * the active one and noticing a new one without a restart.
 *
 * Returns: 0, POLICYSTORE_NONE where said, -1 (a failure retrying will not fix, or a refused
 * policy) or RESULT_TRANSIENT, with a one-line text in err. Results are always cleared. */
#ifndef RECOBRO_POLICYSTORE_H
#define RECOBRO_POLICYSTORE_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "result.h"

#include "policy.h"

#define POLICYSTORE_NONE 1

/* The active version into *version, or POLICYSTORE_NONE when no policy is loaded. */
__attribute__((warn_unused_result)) int policystore_active_version(PGconn *conn, int *version,
                                                                   char *err, size_t errlen);

/* The active policy, parsed: a new policy_t into *out (policy_free() it), and its document as a
 * new malloc'd string into *document when document is not NULL. POLICYSTORE_NONE when none. */
__attribute__((warn_unused_result)) int
policystore_load_active(PGconn *conn, policy_t **out, char **document, char *err, size_t errlen);

/* Stores `text` (a policy document that policy_parse() accepted as `parsed`) as a new version
 * and makes it active, in its own transaction. With `only_if_empty`, does nothing (returns 0)
 * when a policy is already active (a worker's first start from RECOBRO_POLICY_FILE). Otherwise
 * refuses (-1, err "policy version N is not newer than the active version M") a version that
 * is not newer than the active one. */
__attribute__((warn_unused_result)) int policystore_add(PGconn *conn, const char *text,
                                                        const policy_t *parsed, int only_if_empty,
                                                        char *err, size_t errlen);

/* Reads the whole file at `path` into a new malloc'd NUL-terminated string, or NULL with err. */
char *policystore_read_file(const char *path, char *err, size_t errlen);

/* Loads the policy file at `path` into an EMPTY policy table (a service's first start with
 * RECOBRO_POLICY_FILE, so a fresh stack needs no separate `policy load`). Does nothing when a
 * policy is already active. Returns 0 or -1 with err. */
int policystore_import_file(PGconn *conn, const char *path, char *err, size_t errlen);

/* The policy a service works with, kept current: the active version, swapped for a newer one
 * that `recobroctl policy load` adds, checked at most every `period_us`. */
typedef struct policy_holder {
    policy_t *policy; /* owned; NULL until the first policystore_refresh() succeeds */
    int64_t period_us;
    int64_t next_check_us;
    const char *file; /* RECOBRO_POLICY_FILE, imported into an empty table; "" for none */
} policy_holder_t;

/* Makes sure h->policy is the active policy (on `conn`, which may be inside the caller's
 * transaction). Returns 0 with a policy in hand; RESULT_TRANSIENT when the database failed
 * (a statement failed: the caller's transaction must be retried); -1 when there is no policy at
 * all (err: "no policy: ..."), or the file to import was refused. A policy once held is never
 * dropped for a later failure. */
int policystore_refresh(policy_holder_t *h, PGconn *conn, char *err, size_t errlen);

/* Frees the policy held. */
void policystore_holder_clear(policy_holder_t *h);

#endif
