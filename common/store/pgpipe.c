/* pgpipe.c - many prepared statements in one round trip (see pgpipe.h). */
#include "pgpipe.h"

#include <stdio.h>
#include <stdlib.h>

#include "grow.h"
#include "pg.h"
#include "pgbulk.h"

/* A statement sent whose result is awaited: a query (fn/target) or a sequence's (stmt). */
typedef struct pgpipe_entry {
    const char *name; /* static: the prepared statement's name, or the sequence's `what` */
    pgpipe_fn fn;
    void *target;
    pgpipe_stmt_t *stmt; /* a sequence's statement (pgpipe_exec()), else NULL */
} pgpipe_entry_t;

struct pgpipe {
    PGconn *conn; /* borrowed */
    pgpipe_entry_t *entries;
    size_t n, head, cap; /* entries[head..n) are sent and wait for their result */
    int synced;          /* pgpipe_sync() sent the sync; pgpipe_wait() has not read it yet */
};

pgpipe_t *pgpipe_new(PGconn *conn)
{
    pgpipe_t *pp = calloc(1, sizeof(*pp));
    if (pp != NULL)
        pp->conn = conn;
    return pp;
}

/* Reads and drops whatever a failed or abandoned pipeline still holds, up to its last sync
 * (`syncs` sent and not read yet; with none, one is sent), then leaves pipeline mode. */
static void drain(PGconn *conn, int syncs)
{
    int nulls = 0;

    if (PQpipelineStatus(conn) == PQ_PIPELINE_OFF)
        return;
    if (syncs == 0 && PQstatus(conn) == CONNECTION_OK && PQpipelineSync(conn) == 1)
        syncs = 1;
    while (syncs > 0 && nulls < 2 && PQstatus(conn) == CONNECTION_OK) {
        PGresult *res = PQgetResult(conn);
        nulls = res == NULL ? nulls + 1 : 0;
        if (PQresultStatus(res) == PGRES_PIPELINE_SYNC)
            syncs--;
        PQclear(res);
    }
    (void)PQexitPipelineMode(conn);
}

void pgpipe_free(pgpipe_t *pp)
{
    if (pp == NULL)
        return;
    drain(pp->conn, pp->synced);
    free(pp->entries);
    free(pp);
}

size_t pgpipe_pending(const pgpipe_t *pp)
{
    return pp->n - pp->head;
}

int pgpipe_begin(pgpipe_t *pp, char *err, size_t errlen)
{
    if (PQpipelineStatus(pp->conn) != PQ_PIPELINE_OFF)
        return 0;
    if (PQenterPipelineMode(pp->conn) != 1)
        return pg_fail(pp->conn, NULL, "enter pipeline mode", err, errlen);
    return 0;
}

int pgpipe_query(pgpipe_t *pp, const char *name, int n, const char *const *params, pgpipe_fn fn,
                 void *target, char *err, size_t errlen)
{
    int rc = pgpipe_begin(pp, err, errlen);

    if (rc != 0)
        return rc;
    if (GROW(pp->entries, pp->cap, pp->n, 64) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (PQsendQueryPrepared(pp->conn, name, n, params, NULL, NULL, 0) != 1)
        return pg_fail(pp->conn, NULL, name, err, errlen);
    pp->entries[pp->n++] = (pgpipe_entry_t){name, fn, target, NULL};
    return 0;
}

int pgpipe_cmd(PGconn *conn, const char *name, int n, const char *const *params, char *err,
               size_t errlen)
{
    int taken = pgbulk_take(conn, name, n, params, err, errlen); /* a batch's save (pgbulk.h) */

    if (taken != 0)
        return taken > 0 ? 0 : -1;
    if (PQpipelineStatus(conn) == PQ_PIPELINE_OFF)
        return pg_run_cmd(conn, name, n, params, err, errlen);
    if (PQsendQueryPrepared(conn, name, n, params, NULL, NULL, 0) != 1)
        return pg_fail(conn, NULL, name, err, errlen);
    return 0;
}

/* A sequence's statement s's result: checked against the status s wants, then kept in s->res
 * or cleared. Returns 0 or the failure (res cleared, s->sqlstate set). */
static int take_stmt(pgpipe_t *pp, pgpipe_stmt_t *s, PGresult *res, char *err, size_t errlen)
{
    if (PQresultStatus(res) != s->want) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        snprintf(s->sqlstate, sizeof(s->sqlstate), "%s", state != NULL ? state : "");
        return pg_fail(pp->conn, res, s->what, err, errlen);
    }
    pp->head++;
    if (s->keep)
        s->res = res;
    else
        PQclear(res);
    return 0;
}

/* One result of the pipeline: a sequence's statement's is checked (take_stmt()), a command's
 * too, a query's goes to its callback. Returns 0 or the failure (res is cleared in every case,
 * unless a sequence keeps it). */
static int take(pgpipe_t *pp, PGresult *res, char *err, size_t errlen)
{
    ExecStatusType st = PQresultStatus(res);
    const char *what = pp->head < pp->n ? pp->entries[pp->head].name : "pipeline";
    int rc = 0;

    if (pp->head < pp->n && pp->entries[pp->head].stmt != NULL)
        return take_stmt(pp, pp->entries[pp->head].stmt, res, err, errlen);
    if (st == PGRES_COMMAND_OK) {
        PQclear(res);
        return 0;
    }
    if (st != PGRES_TUPLES_OK || pp->head >= pp->n)
        return pg_fail(pp->conn, res, what, err, errlen);
    pgpipe_entry_t e = pp->entries[pp->head++];
    if (e.fn != NULL)
        rc = e.fn(pp, e.target, res, err, errlen);
    PQclear(res);
    return rc;
}

/* Reads the results of the `syncs` syncs sent (queries to their callbacks, commands and a
 * sequence's statements checked), syncing again for queries the callbacks queued, then leaves
 * pipeline mode. Returns 0 or the first failure (the pipeline drained and left); pp->head is
 * where a failure stopped. */
static int finish(pgpipe_t *pp, int syncs, char *err, size_t errlen)
{
    PGconn *conn = pp->conn;
    int rc = 0, nulls = 0;

    while (syncs > 0 && rc == 0) {
        PGresult *res = PQgetResult(conn);
        if (res == NULL) {
            /* Between two statements' results; twice in a row: nothing more will come. */
            if (PQstatus(conn) != CONNECTION_OK || ++nulls > 1)
                rc = pg_fail(conn, NULL, "pipeline", err, errlen);
            continue;
        }
        nulls = 0;
        if (PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
            rc = take(pp, res, err, errlen);
            continue;
        }
        PQclear(res);
        syncs--;
        /* Queries the callbacks queued went out after the sync: sync again for them. */
        if (pp->head < pp->n) {
            if (PQpipelineSync(conn) != 1)
                rc = pg_fail(conn, NULL, "pipeline sync", err, errlen);
            else
                syncs++;
        }
    }
    if (rc != 0)
        drain(conn, syncs);
    else if (PQexitPipelineMode(conn) != 1)
        rc = pg_fail(conn, NULL, "exit pipeline mode", err, errlen);
    return rc;
}

int pgpipe_sync(pgpipe_t *pp, char *err, size_t errlen)
{
    int rc = 0;

    if (PQpipelineStatus(pp->conn) == PQ_PIPELINE_OFF || pp->synced)
        return 0;
    if (PQpipelineSync(pp->conn) != 1) {
        rc = pg_fail(pp->conn, NULL, "pipeline sync", err, errlen);
        drain(pp->conn, 0);
        pp->n = pp->head = 0;
    } else {
        pp->synced = 1;
    }
    return rc;
}

int pgpipe_wait(pgpipe_t *pp, char *err, size_t errlen)
{
    int rc = pgpipe_sync(pp, err, errlen);

    if (rc != 0 || !pp->synced)
        return rc;
    rc = finish(pp, 1, err, errlen);
    pp->synced = 0;
    pp->n = pp->head = 0;
    return rc;
}

int pgpipe_run(pgpipe_t *pp, char *err, size_t errlen)
{
    return pgpipe_wait(pp, err, errlen);
}

/* Queues sequence statement s's entry and, when `send`, sends it (pipeline mode on). Returns 0
 * or the failure. */
static int seq_entry(pgpipe_t *pp, pgpipe_stmt_t *s, int send, char *err, size_t errlen)
{
    int ok = 1;

    if (GROW(pp->entries, pp->cap, pp->n, 8) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (send && s->sql != NULL)
        ok = PQsendQueryParams(pp->conn, s->sql, s->nparams, NULL, s->params, NULL, NULL, 0);
    else if (send)
        ok = PQsendQueryPrepared(pp->conn, s->prepared, s->nparams, s->params, NULL, NULL, 0);
    if (ok != 1)
        return pg_fail(pp->conn, NULL, s->what, err, errlen);
    pp->entries[pp->n++] = (pgpipe_entry_t){s->what, NULL, NULL, s};
    return 0;
}

/* After a sequence's failure at st[bad]: drops every kept result, drains the pipeline and
 * leaves it. Returns rc. */
static int seq_fail(PGconn *conn, pgpipe_stmt_t *st, size_t n, size_t bad, size_t *failed, int rc)
{
    for (size_t i = 0; i < n; i++) {
        PQclear(st[i].res);
        st[i].res = NULL;
    }
    drain(conn, 0);
    if (failed != NULL)
        *failed = bad;
    return rc;
}

int pgpipe_send(PGconn *conn, pgpipe_stmt_t *st, size_t n, size_t *failed, char *err, size_t errlen)
{
    pgpipe_t pp = {.conn = conn};
    int rc = pgpipe_begin(&pp, err, errlen);
    size_t bad = 0;

    for (size_t i = 0; i < n; i++) {
        st[i].res = NULL;
        st[i].sqlstate[0] = '\0';
    }
    while (rc == 0 && pp.n < n)
        rc = seq_entry(&pp, &st[pp.n], 1, err, errlen);
    bad = pp.n; /* not sent: nothing of the sequence was read */
    if (rc == 0 && PQpipelineSync(conn) != 1) {
        rc = pg_fail(conn, NULL, "pipeline sync", err, errlen);
        bad = n;
    }
    free(pp.entries);
    return rc != 0 ? seq_fail(conn, st, n, bad, failed, rc) : 0;
}

int pgpipe_recv(PGconn *conn, pgpipe_stmt_t *st, size_t n, size_t *failed, char *err, size_t errlen)
{
    pgpipe_t pp = {.conn = conn};
    int rc = 0;

    while (rc == 0 && pp.n < n)
        rc = seq_entry(&pp, &st[pp.n], 0, err, errlen);
    if (rc == 0)
        rc = finish(&pp, 1, err, errlen);
    size_t bad = pp.head;
    free(pp.entries);
    return rc != 0 ? seq_fail(conn, st, n, bad, failed, rc) : 0;
}

int pgpipe_exec(PGconn *conn, pgpipe_stmt_t *st, size_t n, size_t *failed, char *err, size_t errlen)
{
    int rc = pgpipe_send(conn, st, n, failed, err, errlen);

    return rc != 0 ? rc : pgpipe_recv(conn, st, n, failed, err, errlen);
}
