/* pgseq.c - a fixed sequence of statements in one round trip (see pgseq.h). */
#include "pgseq.h"

#include <stdio.h>

#include "pg.h"

static int send_one(PGconn *conn, const pgseq_stmt_t *s)
{
    if (s->sql != NULL)
        return PQsendQueryParams(conn, s->sql, s->nparams, NULL, s->params, NULL, NULL, 0);
    return PQsendQueryPrepared(conn, s->prepared, s->nparams, s->params, NULL, NULL, 0);
}

/* After a failure: reads and drops what is left up to the sync (sending it first when it was
 * not sent), then leaves pipeline mode. A broken connection ends the reading. */
static void drain(PGconn *conn, int synced)
{
    int nulls = 0;

    if (!synced && PQstatus(conn) == CONNECTION_OK && PQpipelineSync(conn) == 1)
        synced = 1;
    while (synced && nulls < 2 && PQstatus(conn) == CONNECTION_OK) {
        PGresult *res = PQgetResult(conn);
        nulls = res == NULL ? nulls + 1 : 0;
        if (PQresultStatus(res) == PGRES_PIPELINE_SYNC)
            synced = 0;
        PQclear(res);
    }
    (void)PQexitPipelineMode(conn);
}

/* Reads statement s's result (then the NULL that ends it). Returns 0 or pg_fail()'s code. */
static int read_one(PGconn *conn, pgseq_stmt_t *s, char *err, size_t errlen)
{
    PGresult *res = PQgetResult(conn);

    if (res == NULL || PQresultStatus(res) != s->want) {
        const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        snprintf(s->sqlstate, sizeof(s->sqlstate), "%s", state != NULL ? state : "");
        return pg_fail(conn, res, s->what, err, errlen);
    }
    PGresult *end = PQgetResult(conn);
    if (end != NULL) { /* a statement returns one result: anything else is a broken protocol */
        PQclear(res);
        return pg_fail(conn, end, s->what, err, errlen);
    }
    if (s->keep)
        s->res = res;
    else
        PQclear(res);
    return 0;
}

/* After a failure: drops every kept result, drains the pipeline and leaves it. */
static int fail_out(PGconn *conn, pgseq_stmt_t *st, size_t n, int synced, size_t bad,
                    size_t *failed, int rc)
{
    for (size_t i = 0; i < n; i++) {
        PQclear(st[i].res);
        st[i].res = NULL;
    }
    if (PQpipelineStatus(conn) != PQ_PIPELINE_OFF)
        drain(conn, synced);
    if (failed != NULL)
        *failed = bad;
    return rc;
}

int pgseq_send(PGconn *conn, pgseq_stmt_t *st, size_t n, size_t *failed, char *err, size_t errlen)
{
    size_t sent = 0;
    int rc;

    for (size_t i = 0; i < n; i++) {
        st[i].res = NULL;
        st[i].sqlstate[0] = '\0';
    }
    if (PQenterPipelineMode(conn) != 1) {
        rc = pg_fail(conn, NULL, "enter pipeline mode", err, errlen);
        return fail_out(conn, st, n, 0, 0, failed, rc);
    }
    for (; sent < n; sent++)
        if (send_one(conn, &st[sent]) != 1) {
            rc = pg_fail(conn, NULL, st[sent].what, err, errlen);
            return fail_out(conn, st, n, 0, sent, failed, rc);
        }
    if (PQpipelineSync(conn) != 1) {
        rc = pg_fail(conn, NULL, "pipeline sync", err, errlen);
        return fail_out(conn, st, n, 0, n, failed, rc);
    }
    return 0;
}

int pgseq_recv(PGconn *conn, pgseq_stmt_t *st, size_t n, size_t *failed, char *err, size_t errlen)
{
    size_t bad = 0;
    int rc;

    for (; bad < n; bad++)
        if ((rc = read_one(conn, &st[bad], err, errlen)) != 0)
            return fail_out(conn, st, n, 1, bad, failed, rc);
    PGresult *res = PQgetResult(conn);
    if (PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
        rc = pg_fail(conn, res, "pipeline sync", err, errlen);
        return fail_out(conn, st, n, 1, n, failed, rc);
    }
    PQclear(res);
    if (PQexitPipelineMode(conn) != 1) {
        rc = pg_fail(conn, NULL, "exit pipeline mode", err, errlen);
        return fail_out(conn, st, n, 0, n, failed, rc);
    }
    return 0;
}

int pgseq_run(PGconn *conn, pgseq_stmt_t *st, size_t n, size_t *failed, char *err, size_t errlen)
{
    int rc = pgseq_send(conn, st, n, failed, err, errlen);

    return rc != 0 ? rc : pgseq_recv(conn, st, n, failed, err, errlen);
}
