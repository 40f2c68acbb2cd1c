/* pg.h - small helpers over libpq: connecting, checking result statuses, telling transient
 * failures (retry) from permanent ones, and building array literals for bulk statements
 * (`unnest($1::text[], ...)`) so a batch costs one round trip, not one per row. */
#ifndef RECOBRO_PG_H
#define RECOBRO_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "result.h"

/* Connects with `dsn`, a connect timeout of 5 s and application_name `app` (may be NULL).
 * Returns a new connection (PQfinish() it), or NULL with a one-line reason in err. */
PGconn *pg_connect(const char *dsn, const char *app, char *err, size_t errlen);

/* A connection kept alive across failures: connected on demand, dropped after a failure,
 * reconnected by the next pg_session_conn(). The services' loops use one each. */
typedef struct pg_session {
    const char *dsn; /* borrowed */
    const char *app; /* application_name; borrowed */
    /* Called after each (re)connection (prepare statements, LISTEN...); may be NULL. Returns 0,
     * or -1 with err filled (the connection is dropped). */
    int (*on_connect)(void *ud, PGconn *conn, char *err, size_t errlen);
    void *ud;
    PGconn *conn;        /* NULL while disconnected */
    int64_t next_log_us; /* failures are logged at most every 5 s */
} pg_session_t;

/* The session's healthy connection, connecting first when needed. NULL when PostgreSQL cannot
 * be reached now (logged at most every 5 s, counted in recobro_db_errors_total{kind="connect"}).
 * `*fresh` (may be NULL) is set to 1 when this call made a new connection. Borrowed. */
PGconn *pg_session_conn(pg_session_t *s, int *fresh);

/* Closes the connection after a failure; the next pg_session_conn() reconnects. */
void pg_session_drop(pg_session_t *s);

/* Checks that `res` has status `want`. On success returns 0 and leaves `res` to the caller. On
 * failure fills err with "<what>: <server message>", PQclear()s res and returns -1. */
int pg_expect(PGresult *res, ExecStatusType want, const char *what, char *err, size_t errlen);

/* Runs `sql` (no parameters), checks the status and clears the result. Returns 0 or -1. */
int pg_exec_ok(PGconn *conn, const char *sql, ExecStatusType want, char *err, size_t errlen);

/* `msg` with its line breaks folded, in a thread-local buffer (valid until the next call). */
const char *pg_oneline(const char *msg);

/* The text to log or put in an err for a failed statement: the server's primary message and its
 * SQLSTATE ("duplicate key value violates unique constraint \"x\" (SQLSTATE 23505)"), never
 * its DETAIL, HINT or CONTEXT, which can hold a row's values. res may be NULL (then the first
 * line of the connection's error, which libpq also fills from the last result, so the lines
 * after it are cut too); conn may be NULL. In a thread-local buffer (valid until the next call;
 * not the one of pg_oneline()). */
const char *pg_error_text(const PGconn *conn, const PGresult *res);

/* True when a failure is worth retrying as is: the connection is gone or broken, or the server
 * said serialization failure, deadlock, shutdown, too many connections, out of resources.
 * `res` may be NULL (connection-level failure). */
bool pg_is_transient(PGconn *conn, const PGresult *res);

/* ---- Prepared statements, as the stores (casestore, paystore, interactstore) use them ---- */

/* A named statement to prepare on every new connection. */
typedef struct pg_statement {
    const char *name;
    const char *sql;
} pg_statement_t;

/* A failed statement: fills err with "<what>: <server message>", clears `res` (may be NULL), and
 * returns RESULT_TRANSIENT when retrying may work, -1 otherwise. */
int pg_fail(PGconn *conn, PGresult *res, const char *what, char *err, size_t errlen);

/* Prepares the `n` statements. Returns 0, or pg_fail()'s code for the first that failed. */
int pg_prepare_all(PGconn *conn, const pg_statement_t *st, size_t n, char *err, size_t errlen);

/* Runs prepared statement `name` expecting status `want`: returns the result (the caller clears
 * it) with *rc 0, or NULL with *rc = pg_fail()'s code. */
PGresult *pg_run(PGconn *conn, const char *name, int n, const char *const *params,
                 ExecStatusType want, int *rc, char *err, size_t errlen);

/* pg_run() for a command: the result is cleared. Returns 0 or pg_fail()'s code. */
int pg_run_cmd(PGconn *conn, const char *name, int n, const char *const *params, char *err,
               size_t errlen);

/* Builds a PostgreSQL array literal ("{"a","b",NULL}") element by element. `buf` is never NULL
 * after pgarr_init(); pgarr_free() releases it. Out of memory is sticky and reported by
 * pgarr_str(). */
typedef struct pgarr {
    char *buf;
    size_t len, cap;
    size_t count;
    int oom;
} pgarr_t;

void pgarr_init(pgarr_t *a);
void pgarr_free(pgarr_t *a);
void pgarr_reset(pgarr_t *a);
void pgarr_add_text(pgarr_t *a, const char *s, size_t len);
void pgarr_add_cstr(pgarr_t *a, const char *s); /* NULL adds NULL */
void pgarr_add_int64(pgarr_t *a, int64_t v);
void pgarr_add_bytea(pgarr_t *a, const void *p, size_t len); /* hex form; p NULL adds NULL */
void pgarr_add_null(pgarr_t *a);
/* The finished literal (borrowed, valid until the next change), or NULL when out of memory. */
const char *pgarr_str(pgarr_t *a);

/* Checks a libpq connection string with libpq's own parser (config.h's config_dsn_check).
 * Returns 0, or -1 with libpq's reason in why, every quoted token of it (which can be a piece of
 * the string, password included) replaced by "...". */
int pg_check_dsn(const char *dsn, char *why, size_t whylen);

#endif
