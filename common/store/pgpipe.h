/* pgpipe.h - many prepared statements in one round trip with libpq's pipeline mode: the case
 * pipeline sends every load (or every save) of a batch's cases, then reads the results in the
 * order they were sent, so a batch costs one round trip per stage, not one per statement.
 *
 * Inside a pipeline two kinds of statements are sent:
 *  - queries (pgpipe_query()): a SELECT whose result is handed to a callback, in order;
 *  - commands (pgpipe_cmd()): an INSERT/UPDATE whose result only has to be COMMAND_OK. Outside a
 *    pipeline pgpipe_cmd() runs the command at once (pg_run_cmd()), so the stores' save code is
 *    the same for one case and for a batch.
 * Queries return PGRES_TUPLES_OK and commands PGRES_COMMAND_OK, which is how pgpipe_run() tells
 * whose result it holds. The first failure aborts the rest of the pipeline (PostgreSQL skips
 * every statement up to the sync); the caller then rolls back its transaction.
 *
 * Errors: 0, -1 for a failure retrying will not fix, or RESULT_TRANSIENT, with a one-line text in
 * err. Every result is cleared inside. */
#ifndef RECOBRO_PGPIPE_H
#define RECOBRO_PGPIPE_H

#include <libpq-fe.h>
#include <stddef.h>

#include "result.h"

typedef struct pgpipe pgpipe_t;

/* Called with a query's result (borrowed: cleared after the call) and the `target` given to
 * pgpipe_query(). It may queue more queries on `pp` (they go out with the next pgpipe_run()).
 * Returns 0 or -1 / RESULT_TRANSIENT with err filled. */
typedef int (*pgpipe_fn)(pgpipe_t *pp, void *target, const PGresult *res, char *err, size_t errlen);

/* A new, empty queue on `conn` (borrowed); NULL when out of memory. Free with pgpipe_free()
 * (NULL is a no-op), which leaves pipeline mode if a failed run left it on. */
pgpipe_t *pgpipe_new(PGconn *conn);
void pgpipe_free(pgpipe_t *pp);

/* Queries sent and not yet run. */
size_t pgpipe_pending(const pgpipe_t *pp);

/* Enters pipeline mode on the connection (a no-op when already in it). */
__attribute__((warn_unused_result)) int pgpipe_begin(pgpipe_t *pp, char *err, size_t errlen);

/* Sends prepared query `name` (entering pipeline mode first); `fn` gets its result in
 * pgpipe_run(). The parameters are copied at once. */
__attribute__((warn_unused_result)) int pgpipe_query(pgpipe_t *pp, const char *name, int n,
                                                     const char *const *params, pgpipe_fn fn,
                                                     void *target, char *err, size_t errlen);

/* While a collector (pgbulk.h) that takes `name` is open on `conn`, gathers the row into it;
 * otherwise, in pipeline mode, sends prepared command `name` (checked by the next pgpipe_run()),
 * and outside it runs the command at once. */
__attribute__((warn_unused_result)) int pgpipe_cmd(PGconn *conn, const char *name, int n,
                                                   const char *const *params, char *err,
                                                   size_t errlen);

/* Syncs the pipeline, reads every result in order (queries to their callbacks, commands checked)
 * and leaves pipeline mode. Queries a callback queued are sent and run too, until none is left.
 * Returns 0, or the first failure (the pipeline is drained and left in every case). */
__attribute__((warn_unused_result)) int pgpipe_run(pgpipe_t *pp, char *err, size_t errlen);

#endif
