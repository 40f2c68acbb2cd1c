/* cacheowe.c - the cache writes a committed batch still owes (see cacheowe.h). */
#include "cacheowe.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "pg.h"

int64_t cacheowe_id(void)
{
    uint64_t v = 0;

    if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
        v = ((uint64_t)getpid() << 32) ^ (uint64_t)rand();
    v &= INT64_MAX;
    return v == 0 ? 1 : (int64_t)v;
}

/* The array literal of `vals` as an SQL string literal (PQfreemem() it), or NULL. */
static char *array_literal(PGconn *conn, const char *const *vals, size_t n)
{
    pgarr_t a;

    pgarr_init(&a);
    for (size_t i = 0; i < n; i++)
        pgarr_add_cstr(&a, vals[i]);
    const char *s = pgarr_str(&a);
    char *lit = s != NULL ? PQescapeLiteral(conn, s, strlen(s)) : NULL;
    pgarr_free(&a);
    return lit;
}

PGresult *cacheowe_commit(PGconn *conn, int64_t id, const char *const *creditor_ids,
                          const char *const *debtor_ids, size_t n)
{
    if (n == 0)
        return PQexec(conn, "COMMIT");
    char *c = array_literal(conn, creditor_ids, n), *d = array_literal(conn, debtor_ids, n);
    PGresult *res = NULL;
    if (c != NULL && d != NULL) {
        size_t len = strlen(c) + strlen(d) + 200;
        char *sql = malloc(len);
        if (sql != NULL) {
            snprintf(sql, len,
                     "INSERT INTO cache_owed (id, creditor_ids, debtor_ids) "
                     "VALUES (%" PRId64 ", %s::text[], %s::text[]); COMMIT",
                     id, c, d);
            res = PQexec(conn, sql);
            free(sql);
        }
    }
    PQfreemem(c);
    PQfreemem(d);
    return res != NULL ? res : PQexec(conn, "COMMIT"); /* out of memory: commit unrecorded */
}

int cacheowe_clear(PGconn *conn, int64_t id)
{
    char sql[200];

    snprintf(sql, sizeof(sql),
             "BEGIN; SET LOCAL synchronous_commit TO off; "
             "DELETE FROM cache_owed WHERE id = %" PRId64 "; COMMIT",
             id);
    PGresult *res = PQexec(conn, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok && PQtransactionStatus(conn) == PQTRANS_INERROR)
        PQclear(PQexec(conn, "ROLLBACK"));
    return ok ? 0 : -1;
}

void cacheowe_test_crash_point(void)
{
    static long seen;
    const char *v = getenv("RECOBRO_TEST_CRASH_AFTER_COMMIT");

    if (v == NULL || atol(v) <= 0)
        return;
    if (++seen >= atol(v)) {
        fprintf(stderr, "recobro: RECOBRO_TEST_CRASH_AFTER_COMMIT: killed after the commit\n");
        raise(SIGKILL);
    }
}
