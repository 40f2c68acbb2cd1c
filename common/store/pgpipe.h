/* pgpipe.h - statements in one round trip with libpq's pipeline mode: the case pipeline sends
 * every load (or every save) of a batch's cases, then reads the results in the order they were
 * sent, so a batch costs one round trip per stage, not one per statement; and the statements
 * every batch runs (the attempt record, BEGIN and the dedupe insert, the offsets and COMMIT) go
 * out as one fixed sequence (pgpipe_exec()).
 *
 * Inside a pipeline three kinds of statements are sent:
 *  - queries (pgpipe_query()): a SELECT whose result is handed to a callback, in order;
 *  - commands (pgpipe_cmd()): an INSERT/UPDATE whose result only has to be COMMAND_OK. Outside a
 *    pipeline pgpipe_cmd() runs the command at once (pg_run_cmd()), so the stores' save code is
 *    the same for one case and for a batch;
 *  - the statements of a sequence (pgpipe_exec()), each with the status it must return, its
 *    result kept when asked for, and the index and SQLSTATE of the one that failed.
 * Queries return PGRES_TUPLES_OK and commands PGRES_COMMAND_OK, which is how pgpipe_run() tells
 * whose result it holds. The first failure aborts the rest of the pipeline (PostgreSQL skips
 * every statement up to the sync; an explicit transaction it was in stays open and aborted); the
 * caller then rolls back its transaction.
 *
 * Errors: 0, -1 for a failure retrying will not fix, or RESULT_TRANSIENT, with a one-line text in
 * err. Every result is cleared inside, except those a sequence keeps. */
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

/* pgpipe_run() in two halves, so the caller can work while PostgreSQL runs what was sent:
 * pgpipe_sync() sends the sync (everything queued goes out; 0, or the failure with the pipeline
 * drained and left); pgpipe_wait() then reads the results as pgpipe_run() does (it syncs first
 * when pgpipe_sync() was not called). Between the two the connection is busy: nothing else may
 * be sent on it, and no query may be queued. pgpipe_free() of a synced queue reads and drops its
 * results. */
__attribute__((warn_unused_result)) int pgpipe_sync(pgpipe_t *pp, char *err, size_t errlen);
__attribute__((warn_unused_result)) int pgpipe_wait(pgpipe_t *pp, char *err, size_t errlen);

/* One statement of a fixed sequence (pgpipe_exec()). */
typedef struct pgpipe_stmt {
    const char *sql;      /* the statement's text, or NULL when `prepared` names it */
    const char *prepared; /* a prepared statement's name (used when sql is NULL) */
    const char *what;     /* what it does, for error texts (static) */
    int nparams;
    const char *const *params; /* text parameters (borrowed; may be NULL when nparams is 0) */
    ExecStatusType want;       /* PGRES_COMMAND_OK or PGRES_TUPLES_OK */
    PGresult *res; /* out: the statement's result when keep is set (PQclear() it), else NULL */
    int keep;
    char sqlstate[6]; /* out: the SQLSTATE when this statement failed with one, else "" */
} pgpipe_stmt_t;

/* Runs st[0..n) on `conn` (not in pipeline mode) in one round trip: a statement's text is sent
 * unnamed with its parameters out of line, a prepared one by name. Returns 0 (every statement
 * returned its status; the results asked for are in st[i].res), or RESULT_TRANSIENT / -1 (see
 * pg_fail()) with err filled and *failed set to the index of the first statement that did not
 * succeed (n when the failure came after them, e.g. the connection broke at the sync); no result
 * is kept then. `failed` may be NULL. The connection is out of pipeline mode on return, whatever
 * happened. */
__attribute__((warn_unused_result)) int pgpipe_exec(PGconn *conn, pgpipe_stmt_t *st, size_t n,
                                                    size_t *failed, char *err, size_t errlen);

/* pgpipe_exec() in two halves, so the caller can work while PostgreSQL runs the statements:
 * pgpipe_send() sends st[0..n) and the sync (0, or a failure as pgpipe_exec()'s, the pipeline
 * drained and left); pgpipe_recv() then reads their results (as pgpipe_exec() does). Between the
 * two the connection is busy: nothing else may be sent on it. `st` must stay alive until
 * pgpipe_recv() returns; the parameters are copied at send. */
__attribute__((warn_unused_result)) int pgpipe_send(PGconn *conn, pgpipe_stmt_t *st, size_t n,
                                                    size_t *failed, char *err, size_t errlen);
__attribute__((warn_unused_result)) int pgpipe_recv(PGconn *conn, pgpipe_stmt_t *st, size_t n,
                                                    size_t *failed, char *err, size_t errlen);

#endif
