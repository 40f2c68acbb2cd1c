/* policystore.h - the collections policies in PostgreSQL (table `policy`, 0002_cases.sql, and
 * `creditor_policy`, 0010_creditor_policy.sql): every document by version, one active DEFAULT
 * version (policy.active) and at most one active version per creditor that has a policy of its
 * own; newer versions added by `recobroctl policy load [--creditor ID]`, the workers reading them
 * all (policyset.h) and noticing a change without a restart.
 *
 * A version number names one document across the installation: a document may be stored under a
 * version only once (the same document may then be given to more creditors, or made the
 * default), so the `policy_version` a task or case event carries says which policy it was
 * planned under. Within one scope (the default, or one creditor) a new version must be newer
 * than the active one.
 *
 * Returns: 0, POLICYSTORE_NONE where said, -1 (a failure retrying will not fix, or a refused
 * policy) or RESULT_TRANSIENT, with a one-line text in err. Results are always cleared. */
#ifndef RECOBRO_POLICYSTORE_H
#define RECOBRO_POLICYSTORE_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "result.h"

#include "policy.h"
#include "policyset.h"

#define POLICYSTORE_NONE 1

/* The active version into *version, or POLICYSTORE_NONE when no policy is loaded. */
__attribute__((warn_unused_result)) int policystore_active_version(PGconn *conn, int *version,
                                                                   char *err, size_t errlen);

/* The active policy, parsed: a new policy_t into *out (policy_free() it), and its document as a
 * new malloc'd string into *document when document is not NULL. POLICYSTORE_NONE when none. */
__attribute__((warn_unused_result)) int
policystore_load_active(PGconn *conn, policy_t **out, char **document, char *err, size_t errlen);

/* Stores `text` (a policy document that policy_parse() accepted as `parsed`) as a new version
 * and makes it the active default, in its own transaction. With `only_if_empty`, does nothing
 * (returns 0) when a default policy is already active (a worker's first start from
 * RECOBRO_POLICY_FILE). Otherwise refuses (-1, err "policy version N is not newer than the
 * active version M") a version that is not newer than the active one. */
__attribute__((warn_unused_result)) int policystore_add(PGconn *conn, const char *text,
                                                        const policy_t *parsed, int only_if_empty,
                                                        char *err, size_t errlen);

/* policystore_add() for one scope: `creditor_id` NULL is the default policy, else that
 * creditor's own policy. Refuses (-1 with err) a version not newer than the scope's active one,
 * and a version already stored with a different document ("policy version N is already used by
 * another document (policy \"es\"); give this one a version of its own"). Storing a version
 * that holds the same document again only assigns it. */
__attribute__((warn_unused_result)) int
policystore_add_for(PGconn *conn, const char *creditor_id, const char *text, const policy_t *parsed,
                    int only_if_empty, char *err, size_t errlen);

/* The policy `creditor_id` is planned under, parsed: its own when it has one (*own set true),
 * else the default (*own false); with its document into *document when not NULL (a new string).
 * creditor_id NULL: the default. Returns 0, POLICYSTORE_NONE when neither exists, -1 or
 * RESULT_TRANSIENT. */
__attribute__((warn_unused_result)) int policystore_load_for(PGconn *conn, const char *creditor_id,
                                                             policy_t **out, char **document,
                                                             bool *own, char *err, size_t errlen);

/* Every policy in force, parsed into a new set (*out, policyset_free() it): the default and
 * each creditor's own. Returns 0, POLICYSTORE_NONE when no default policy is loaded (*out then
 * holds the creditors' policies, possibly none), -1 (a stored document the build refuses) or
 * RESULT_TRANSIENT. */
__attribute__((warn_unused_result)) int policystore_load_set(PGconn *conn, policyset_t **out,
                                                             char *err, size_t errlen);

/* The policies in force as JSON (a new reference into *out): {"default": {"policy_id",
 * "policy_version", "loaded_at"} or null, "creditors": [{"creditor_id", "policy_id",
 * "policy_version", "assigned_at"}, ...] by creditor_id}. Returns 0, -1 or RESULT_TRANSIENT. */
__attribute__((warn_unused_result)) int policystore_list(PGconn *conn, json_t **out, char *err,
                                                         size_t errlen);

/* Reads the whole file at `path` into a new malloc'd NUL-terminated string, or NULL with err. */
char *policystore_read_file(const char *path, char *err, size_t errlen);

/* Loads the policy file at `path` into an EMPTY policy table (a service's first start with
 * RECOBRO_POLICY_FILE, so a fresh stack needs no separate `policy load`). Does nothing when a
 * policy is already active. Returns 0 or -1 with err. */
int policystore_import_file(PGconn *conn, const char *path, char *err, size_t errlen);

/* The policies a service works with, kept current: the default and every creditor's own
 * (policyset.h), reloaded when `recobroctl policy load` changes any of them, checked at most
 * every `period_us`. */
typedef struct policy_holder {
    const policy_t *policy; /* the default (borrowed from set); NULL until the first refresh */
    int64_t period_us;
    int64_t next_check_us;
    const char *file; /* RECOBRO_POLICY_FILE, imported into an empty table; "" for none */
    policyset_t *set; /* owned: every policy in force; NULL until the first refresh */
    char *signature;  /* owned: which versions are in force, to notice a change */
} policy_holder_t;

/* Makes sure h->set holds the policies in force and h->policy the default (on `conn`, which may
 * be inside the caller's transaction). Returns 0 with policies in hand; RESULT_TRANSIENT when
 * the database failed (a statement failed: the caller's transaction must be retried); -1 when
 * there is no default policy at all (err: "no policy: ..."), or the file to import was refused.
 * Policies once held are never dropped for a later failure. */
int policystore_refresh(policy_holder_t *h, PGconn *conn, char *err, size_t errlen);

/* Frees the policies held. */
void policystore_holder_clear(policy_holder_t *h);

#endif
