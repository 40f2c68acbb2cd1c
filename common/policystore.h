/* policystore.h - the collections policy in PostgreSQL (table `policy`, 0002_cases.sql): one
 * active version at a time, newer versions added by `recobroctl policy load`, the workers reading
 * the active one and noticing a new one without a restart.
 *
 * Returns: 0, POLICYSTORE_NONE where said, -1 (a failure retrying will not fix, or a refused
 * policy) or POLICYSTORE_TRANSIENT, with a one-line text in err. Results are always cleared. */
#ifndef RECOBRO_POLICYSTORE_H
#define RECOBRO_POLICYSTORE_H

#include <libpq-fe.h>
#include <stddef.h>

#include "policy.h"

#define POLICYSTORE_NONE      1
#define POLICYSTORE_TRANSIENT (-2)

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

#endif
