/* caseload.h - reading a batch's case files from PostgreSQL as plain rows: the case rows (with
 * creditor, debtor and charges, locked FOR UPDATE in the batch's order when asked), then one
 * statement per child table for the whole batch (invoices, pending tasks, phone attempts,
 * contact state and preferences, forbearances), all queued in one pipeline (pgpipe.h) and read
 * column by column into the casefile_t. Nothing is built as JSON by the server, nor parsed by the
 * worker (but the case's own JSON columns: features, followup, settlement).
 *
 * Every statement is driven by the batch's keys: unnest($1, $2) WITH ORDINALITY, each table
 * reached through a LATERAL subquery on its primary key (or its case index) that the planner can
 * neither flatten nor turn into a hash join, so a load reads the batch's rows only, whatever the
 * portfolio's size and statistics, generic plan or custom.
 *
 * Errors: 0, -1 for a failure retrying will not fix, or RESULT_TRANSIENT, with a one-line text in
 * err. Every result is cleared inside (pgpipe.h). */
#ifndef RECOBRO_CASELOAD_H
#define RECOBRO_CASELOAD_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "casefile.h"
#include "pgpipe.h"

/* The cases of one load: the target of its queries, kept by the caller until pgpipe_run(). */
typedef struct caseload {
    casefile_t **cfs; /* borrowed: n case files, initialised (casefile_init()) by the caller */
    size_t n;
    bool lock;    /* lock the case rows FOR UPDATE, in the order of the arrays */
    size_t found; /* out: case rows read (n with `lock`: every row was created first) */
} caseload_t;

/* Prepares the load statements on `conn` (casestore_prepare() calls it). Returns 0, -1 or
 * RESULT_TRANSIENT. */
__attribute__((warn_unused_result)) int caseload_prepare(PGconn *conn, char *err, size_t errlen);

/* Queues on `pp` the statements loading the cases whose keys are keys[0] (creditor ids) and
 * keys[1] (debtor ids), two PostgreSQL text arrays in the order of ls->cfs (borrowed: copied at
 * once). pgpipe_run() fills every case found: its row and parties, charges, invoices (by id),
 * pending tasks (by creation), contact state and forbearances. With ls->lock a missing case row
 * is an error (create them first); without it, ls->found tells how many were there. */
__attribute__((warn_unused_result)) int
caseload_queue(pgpipe_t *pp, caseload_t *ls, const char *const keys[2], char *err, size_t errlen);

#endif
