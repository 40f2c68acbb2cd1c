/* pgseq.h - a fixed sequence of statements in ONE round trip (libpq pipeline mode), for the
 * statements every batch runs (the attempt record, BEGIN and the dedupe insert, the offsets and
 * COMMIT): sent together, one sync, results read in order.
 *
 * Each statement has its SQL text (sent unnamed, with parameters out of line) or the name of a
 * statement prepared on the connection, and the status it must return. The first statement that
 * fails makes PostgreSQL skip the rest up to the sync; an explicit transaction it was in stays
 * open and aborted, for the caller to roll back as after any failed statement. */
#ifndef RECOBRO_PGSEQ_H
#define RECOBRO_PGSEQ_H

#include <libpq-fe.h>
#include <stddef.h>

#include "result.h"

typedef struct pgseq_stmt {
    const char *sql;      /* the statement's text, or NULL when `prepared` names it */
    const char *prepared; /* a prepared statement's name (used when sql is NULL) */
    const char *what;     /* what it does, for error texts (static) */
    int nparams;
    const char *const *params; /* text parameters (borrowed; may be NULL when nparams is 0) */
    ExecStatusType want;       /* PGRES_COMMAND_OK or PGRES_TUPLES_OK */
    PGresult *res; /* out: the statement's result when keep is set (PQclear() it), else NULL */
    int keep;
    char sqlstate[6]; /* out: the SQLSTATE when this statement failed with one, else "" */
} pgseq_stmt_t;

/* Runs st[0..n) in one round trip. Returns 0 (every statement returned its status; the results
 * asked for are in st[i].res), or RESULT_TRANSIENT / -1 (see pg_fail()) with err filled and
 * *failed set to the index of the first statement that did not succeed (n when the failure came
 * after them, e.g. the connection broke at the sync); no result is kept then. `failed` may be
 * NULL. The connection is out of pipeline mode on return, whatever happened. */
__attribute__((warn_unused_result)) int pgseq_run(PGconn *conn, pgseq_stmt_t *st, size_t n,
                                                  size_t *failed, char *err, size_t errlen);

/* pgseq_run() in two halves, so the caller can work while PostgreSQL runs the statements:
 * pgseq_send() sends st[0..n) and the sync (0, or a failure as pgseq_run()'s, the pipeline
 * drained and left); pgseq_recv() then reads their results (as pgseq_run() does). Between the
 * two the connection is busy: nothing else may be sent on it. `st` must stay alive until
 * pgseq_recv() returns; the parameters are copied at send. */
__attribute__((warn_unused_result)) int pgseq_send(PGconn *conn, pgseq_stmt_t *st, size_t n,
                                                   size_t *failed, char *err, size_t errlen);
__attribute__((warn_unused_result)) int pgseq_recv(PGconn *conn, pgseq_stmt_t *st, size_t n,
                                                   size_t *failed, char *err, size_t errlen);

#endif
