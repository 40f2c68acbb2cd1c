/* pgbulk.h - a batch's writes as one statement per table: while a collector is open on a
 * connection, the stores' save commands (pgpipe_cmd()) are not sent one row at a time but
 * gathered, column by column, into PostgreSQL array literals; pgbulk_flush() then sends each
 * statement ONCE with one array per parameter, in the collector's fixed order, so a batch of 500
 * cases costs one statement per table instead of one per row (PostgreSQL's per-statement
 * executor setup was half of its time).
 *
 * A "set" statement is prepared in its bulk form: parameter $k is the array of the k-th values
 * of every row (`INSERT ... SELECT ... FROM unnest($1::text[], $2::bigint[], ...)`), so the
 * callers pass exactly the values they would pass for one row, and adding a column to a table is
 * one more array in the SQL and one more value in the caller's parameter list. A "row" statement
 * keeps its one-row form and is queued: its rows are sent one by one, at its place in the order.
 *
 * Exactness: the rows of a set statement whose key (its first `nkey` parameters) repeats go into
 * a second statement sent after the first (an `ON CONFLICT DO UPDATE` cannot touch one row twice,
 * and the later row must win, as it would one at a time): a key's k-th row goes into the k-th
 * statement, so there are as many as the most any key repeats. Statements are flushed in the order
 * of the table given to pgbulk_open(): the order in which the save code writes a case's rows, so a
 * row is never written before the row it depends on (a plan before its instalments).
 *
 * One collector per thread at a time. Errors: 0, -1 or RESULT_TRANSIENT with err filled. */
#ifndef RECOBRO_PGBULK_H
#define RECOBRO_PGBULK_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "result.h"

/* One save statement the collector takes, in flush order. */
typedef struct pgbulk_stmt {
    const char *name; /* the prepared statement; static */
    int nkey;         /* leading parameters that name the row (0: rows never collide) */
    bool set;         /* prepared in its bulk form (arrays); false: sent row by row */
} pgbulk_stmt_t;

typedef struct pgbulk pgbulk_t;

/* Opens a collector on `conn` (borrowed) for the `n` statements of `order` (borrowed, static):
 * from now on, on this thread, pgpipe_cmd() on `conn` with one of those names gathers the row.
 * Returns a new collector (pgbulk_close() it), or NULL when out of memory or when the thread
 * already has one open. */
pgbulk_t *pgbulk_open(PGconn *conn, const pgbulk_stmt_t *order, size_t n);

/* Forgets what was gathered and stops collecting. NULL is a no-op. */
void pgbulk_close(pgbulk_t *b);

/* If the thread's open collector is on `conn` and takes `name`, copies the row (`n` parameters,
 * any may be NULL) into it and returns 1; returns 0 when the command is not collected (send it
 * as usual), or -1 with err filled (out of memory, or a row with a different number of
 * parameters than the statement's first). */
int pgbulk_take(PGconn *conn, const char *name, int n, const char *const *params, char *err,
                size_t errlen);

/* Sends everything gathered, statement by statement in the collector's order (in pipeline mode
 * when the connection is in it: the results are checked by pgpipe_run(); otherwise each is run
 * and checked at once), then empties the collector, which goes on collecting. Returns 0, -1 or
 * RESULT_TRANSIENT. */
__attribute__((warn_unused_result)) int pgbulk_flush(pgbulk_t *b, char *err, size_t errlen);

/* Rows gathered and not flushed yet. */
size_t pgbulk_rows(const pgbulk_t *b);

/* Statements pgbulk_flush() would send now: one per set statement with rows (one more for each
 * repeated key), one per row of a row statement. */
size_t pgbulk_statements(const pgbulk_t *b);

#endif
