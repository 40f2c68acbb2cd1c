/* pgpipe.c - many prepared statements in one round trip (see pgpipe.h). */
#include "pgpipe.h"

#include <stdio.h>
#include <stdlib.h>

#include "pg.h"
#include "pgbulk.h"

typedef struct pgpipe_entry {
    const char *name; /* static: the prepared statement's name */
    pgpipe_fn fn;
    void *target;
} pgpipe_entry_t;

struct pgpipe {
    PGconn *conn; /* borrowed */
    pgpipe_entry_t *entries;
    size_t n, head, cap; /* entries[head..n) are sent and wait for their result */
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
    drain(pp->conn, 0);
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
    if (pp->n == pp->cap) {
        size_t cap = pp->cap ? pp->cap * 2 : 64;
        pgpipe_entry_t *e = realloc(pp->entries, cap * sizeof(*e));
        if (e == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        pp->entries = e;
        pp->cap = cap;
    }
    if (PQsendQueryPrepared(pp->conn, name, n, params, NULL, NULL, 0) != 1)
        return pg_fail(pp->conn, NULL, name, err, errlen);
    pp->entries[pp->n++] = (pgpipe_entry_t){name, fn, target};
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

/* One result of the pipeline: a command's is checked, a query's goes to its callback. Returns
 * 0 or the failure (res is cleared in every case). */
static int take(pgpipe_t *pp, PGresult *res, char *err, size_t errlen)
{
    ExecStatusType st = PQresultStatus(res);
    const char *what = pp->head < pp->n ? pp->entries[pp->head].name : "pipeline";
    int rc = 0;

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

int pgpipe_run(pgpipe_t *pp, char *err, size_t errlen)
{
    PGconn *conn = pp->conn;
    int rc = 0, syncs = 0, nulls = 0;

    if (PQpipelineStatus(conn) == PQ_PIPELINE_OFF)
        return 0;
    if (PQpipelineSync(conn) != 1)
        rc = pg_fail(conn, NULL, "pipeline sync", err, errlen);
    else
        syncs = 1;
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
    pp->n = pp->head = 0;
    return rc;
}
