/* pipecheck.c - pgpipe.h against a real PostgreSQL (it.pgpipe): a fixed sequence that succeeds
 * (its kept result), whole or sent and read in two halves, and the ones that fail - a unique
 * violation, a syntax error, an unknown prepared statement, a status other than the one wanted -
 * each naming the statement that failed and its SQLSTATE, keeping no result, leaving the connection
 * out of pipeline mode with its transaction aborted; then queries with callbacks and commands in
 * one pipeline, and a failed command among them; then a pipeline synced and read in two halves
 * (pgpipe_sync() returns while PostgreSQL still runs it; pgpipe_wait() reads it, or reports its
 * failure; a synced queue freed unread leaves the connection usable). Prints "pipecheck: ok" or the
 * first check that failed (exit 1). RECOBRO_PG_DSN names the database (a scratch one: the test
 * makes and drops it).
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pgpipe.h"

static int failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("pipecheck: line %d: %s\n", __LINE__, #cond);                                   \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static void exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    CHECK(PQresultStatus(r) == PGRES_COMMAND_OK);
    PQclear(r);
}

/* A sequence that succeeds: BEGIN, an insert, a kept query with a parameter, COMMIT. */
static void good_sequence(PGconn *c)
{
    const char *p[1] = {"41"};
    pgpipe_stmt_t st[4] = {
        {.sql = "BEGIN", .what = "begin", .want = PGRES_COMMAND_OK},
        {.prepared = "put", .what = "put", .nparams = 1, .params = p, .want = PGRES_COMMAND_OK},
        {.sql = "SELECT $1::int + 1 AS v",
         .what = "add",
         .nparams = 1,
         .params = p,
         .want = PGRES_TUPLES_OK,
         .keep = 1},
        {.sql = "COMMIT", .what = "commit", .want = PGRES_COMMAND_OK},
    };
    size_t bad = 99;
    char err[256] = "";

    CHECK(pgpipe_exec(c, st, 4, &bad, err, sizeof(err)) == 0);
    CHECK(bad == 99); /* untouched on success */
    CHECK(st[2].res != NULL && strcmp(PQgetvalue(st[2].res, 0, 0), "42") == 0);
    CHECK(st[1].res == NULL && st[1].sqlstate[0] == '\0');
    PQclear(st[2].res);
    CHECK(PQpipelineStatus(c) == PQ_PIPELINE_OFF);
    CHECK(PQtransactionStatus(c) == PQTRANS_IDLE);
}

/* The same in two halves: sent, then (the connection busy meanwhile) read. */
static void sent_then_read(PGconn *c)
{
    const char *p[1] = {"7"};
    pgpipe_stmt_t st[3] = {
        {.sql = "BEGIN", .what = "begin", .want = PGRES_COMMAND_OK},
        {.sql = "SELECT $1::int * 6 AS v",
         .what = "mul",
         .nparams = 1,
         .params = p,
         .want = PGRES_TUPLES_OK,
         .keep = 1},
        {.sql = "COMMIT", .what = "commit", .want = PGRES_COMMAND_OK},
    };
    size_t bad = 99;
    char err[256] = "";

    CHECK(pgpipe_send(c, st, 3, &bad, err, sizeof(err)) == 0);
    CHECK(PQpipelineStatus(c) == PQ_PIPELINE_ON);
    CHECK(pgpipe_recv(c, st, 3, &bad, err, sizeof(err)) == 0);
    CHECK(bad == 99 && st[1].res != NULL && strcmp(PQgetvalue(st[1].res, 0, 0), "42") == 0);
    PQclear(st[1].res);
    CHECK(PQpipelineStatus(c) == PQ_PIPELINE_OFF);
    st[1].sql = "SELECT $1::int / 0";
    CHECK(pgpipe_send(c, st, 3, &bad, err, sizeof(err)) == 0);
    CHECK(pgpipe_recv(c, st, 3, &bad, err, sizeof(err)) != 0);
    CHECK(bad == 1 && strcmp(st[1].sqlstate, "22012") == 0 && st[1].res == NULL);
    CHECK(PQpipelineStatus(c) == PQ_PIPELINE_OFF);
    CHECK(PQtransactionStatus(c) == PQTRANS_INERROR);
    exec_ok(c, "ROLLBACK");
}

/* A sequence whose statement `at` fails: *failed, its SQLSTATE, no result kept, out of pipeline
 * mode, the transaction aborted (and rolled back here). */
static void bad_sequence(PGconn *c, pgpipe_stmt_t *st, size_t n, size_t at, const char *state)
{
    size_t bad = 99;
    char err[256] = "";

    CHECK(pgpipe_exec(c, st, n, &bad, err, sizeof(err)) != 0);
    CHECK(bad == at);
    CHECK(strcmp(st[at].sqlstate, state) == 0);
    CHECK(strstr(err, st[at].what) != NULL);
    for (size_t i = 0; i < n; i++)
        CHECK(st[i].res == NULL);
    CHECK(PQpipelineStatus(c) == PQ_PIPELINE_OFF);
    CHECK(PQtransactionStatus(c) == PQTRANS_INERROR);
    exec_ok(c, "ROLLBACK");
}

static void bad_sequences(PGconn *c)
{
    const char *dup[1] = {"41"}; /* there since good_sequence() */
    pgpipe_stmt_t unique[3] = {
        {.sql = "BEGIN", .what = "begin", .want = PGRES_COMMAND_OK},
        {.sql = "SELECT 1", .what = "one", .want = PGRES_TUPLES_OK, .keep = 1},
        {.prepared = "put", .what = "put", .nparams = 1, .params = dup, .want = PGRES_COMMAND_OK},
    };
    bad_sequence(c, unique, 3, 2, "23505");
    pgpipe_stmt_t syntax[3] = {
        {.sql = "BEGIN", .what = "begin", .want = PGRES_COMMAND_OK},
        {.sql = "SELEC nothing", .what = "typo", .want = PGRES_TUPLES_OK},
        {.sql = "COMMIT", .what = "commit", .want = PGRES_COMMAND_OK},
    };
    bad_sequence(c, syntax, 3, 1, "42601");
    pgpipe_stmt_t unknown[2] = {
        {.sql = "BEGIN", .what = "begin", .want = PGRES_COMMAND_OK},
        {.prepared = "no_such_statement", .what = "unknown", .want = PGRES_COMMAND_OK},
    };
    bad_sequence(c, unknown, 2, 1, "26000");
    /* PostgreSQL ran it well: only the status is not the one wanted (the transaction is open). */
    pgpipe_stmt_t status[2] = {
        {.sql = "BEGIN", .what = "begin", .want = PGRES_COMMAND_OK},
        {.sql = "SELECT 1", .what = "rows", .want = PGRES_COMMAND_OK, .keep = 1},
    };
    size_t bad = 99;
    char err[256] = "";
    CHECK(pgpipe_exec(c, status, 2, &bad, err, sizeof(err)) != 0);
    CHECK(bad == 1 && status[1].sqlstate[0] == '\0' && status[1].res == NULL);
    CHECK(PQpipelineStatus(c) == PQ_PIPELINE_OFF);
    CHECK(PQtransactionStatus(c) == PQTRANS_INTRANS);
    exec_ok(c, "ROLLBACK");
}

static int on_count(pgpipe_t *pp, void *target, const PGresult *res, char *err, size_t errlen)
{
    (void)pp, (void)err, (void)errlen;
    *(long *)target = atol(PQgetvalue(res, 0, 0));
    return 0;
}

/* Queries (callbacks, in order) and commands in one pipeline; then a failing command. */
static void queries_and_commands(PGconn *c)
{
    const char *p2[1] = {"2"}, *p3[1] = {"3"}, *p41[1] = {"41"};
    long before = -1, after = -1;
    char err[256] = "";
    pgpipe_t *pp = pgpipe_new(c);

    CHECK(pp != NULL);
    CHECK(pgpipe_query(pp, "count", 0, NULL, on_count, &before, err, sizeof(err)) == 0);
    CHECK(pgpipe_cmd(c, "put", 1, p2, err, sizeof(err)) == 0);
    CHECK(pgpipe_cmd(c, "put", 1, p3, err, sizeof(err)) == 0);
    CHECK(pgpipe_query(pp, "count", 0, NULL, on_count, &after, err, sizeof(err)) == 0);
    CHECK(pgpipe_pending(pp) == 2);
    CHECK(pgpipe_run(pp, err, sizeof(err)) == 0);
    CHECK(before == 1 && after == 3);
    CHECK(pgpipe_cmd(c, "put", 1, p41, err, sizeof(err)) != 0); /* outside: runs at once, fails */
    CHECK(pgpipe_begin(pp, err, sizeof(err)) == 0);
    CHECK(pgpipe_cmd(c, "put", 1, p41, err, sizeof(err)) == 0); /* sent; fails at the run */
    CHECK(pgpipe_query(pp, "count", 0, NULL, on_count, &after, err, sizeof(err)) == 0);
    CHECK(pgpipe_run(pp, err, sizeof(err)) != 0);
    CHECK(strstr(err, "put") != NULL || strstr(err, "duplicate") != NULL);
    CHECK(PQpipelineStatus(c) == PQ_PIPELINE_OFF);
    pgpipe_free(pp);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* pgpipe_sync() then pgpipe_wait(): the sync does not wait for the statements (a 0.4 s nap),
 * the wait reads them; a failure shows at the wait; a synced queue freed unread is drained. */
static void synced_then_waited(PGconn *c)
{
    const char *p7[1] = {"7"}, *p8[1] = {"8"};
    long count = -1;
    char err[256] = "";
    pgpipe_t *pp = pgpipe_new(c);

    CHECK(pp != NULL);
    CHECK(pgpipe_cmd(c, "put", 1, p7, err, sizeof(err)) == 0); /* outside: at once */
    CHECK(pgpipe_begin(pp, err, sizeof(err)) == 0);
    CHECK(pgpipe_query(pp, "nap", 0, NULL, NULL, NULL, err, sizeof(err)) == 0);
    CHECK(pgpipe_cmd(c, "put", 1, p8, err, sizeof(err)) == 0);
    CHECK(pgpipe_query(pp, "count", 0, NULL, on_count, &count, err, sizeof(err)) == 0);
    double t0 = now_s();
    CHECK(pgpipe_sync(pp, err, sizeof(err)) == 0);
    double t1 = now_s();
    CHECK(t1 - t0 < 0.3);                          /* sent, not waited for */
    CHECK(count == -1);                            /* nothing read yet */
    CHECK(pgpipe_sync(pp, err, sizeof(err)) == 0); /* a second sync is a no-op */
    CHECK(pgpipe_wait(pp, err, sizeof(err)) == 0);
    CHECK(now_s() - t0 >= 0.35); /* the nap ran */
    CHECK(count == 5);           /* 41, 2, 3 (queries_and_commands()), 7, 8 */
    CHECK(PQpipelineStatus(c) == PQ_PIPELINE_OFF);
    CHECK(pgpipe_wait(pp, err, sizeof(err)) == 0); /* nothing left: 0 */

    CHECK(pgpipe_begin(pp, err, sizeof(err)) == 0);
    CHECK(pgpipe_cmd(c, "put", 1, p8, err, sizeof(err)) == 0); /* a duplicate: fails */
    CHECK(pgpipe_sync(pp, err, sizeof(err)) == 0);
    CHECK(pgpipe_wait(pp, err, sizeof(err)) != 0);
    CHECK(strstr(err, "duplicate") != NULL);
    CHECK(PQpipelineStatus(c) == PQ_PIPELINE_OFF);

    CHECK(pgpipe_begin(pp, err, sizeof(err)) == 0);
    CHECK(pgpipe_query(pp, "count", 0, NULL, on_count, &count, err, sizeof(err)) == 0);
    CHECK(pgpipe_sync(pp, err, sizeof(err)) == 0);
    pgpipe_free(pp); /* synced, never read: drained */
    CHECK(PQpipelineStatus(c) == PQ_PIPELINE_OFF);
    PGresult *r = PQexec(c, "SELECT count(*) FROM t");
    CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && strcmp(PQgetvalue(r, 0, 0), "5") == 0);
    PQclear(r);
}

int main(void)
{
    const char *dsn = getenv("RECOBRO_PG_DSN");
    PGconn *c = PQconnectdb(dsn != NULL ? dsn : "");

    if (PQstatus(c) != CONNECTION_OK) {
        printf("pipecheck: cannot connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return 1;
    }
    exec_ok(c, "CREATE TEMP TABLE t (k int PRIMARY KEY)");
    PQclear(PQprepare(c, "put", "INSERT INTO t VALUES ($1::int)", 0, NULL));
    PQclear(PQprepare(c, "count", "SELECT count(*) FROM t", 0, NULL));
    PQclear(PQprepare(c, "nap", "SELECT pg_sleep(0.4)", 0, NULL));
    good_sequence(c);
    sent_then_read(c);
    bad_sequences(c);
    queries_and_commands(c);
    synced_then_waited(c);
    PQfinish(c);
    if (failures == 0)
        printf("pipecheck: ok\n");
    return failures == 0 ? 0 : 1;
}
