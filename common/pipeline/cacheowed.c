/* cacheowed.c - re-writes the hot cases a killed process owed (see cacheowed.h). */
#include "cacheowed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casestore.h"
#include "pg.h"
#include "pipeline.h"

/* The documents of one pass, and the records they came from. */
typedef struct owed_pass {
    cache_entry_t *entries;
    char **keys, **jsons;
    size_t n;
    pgarr_t ids;
} owed_pass_t;

static void pass_free(owed_pass_t *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->keys[i]);
        free(p->jsons[i]);
    }
    free(p->entries);
    free(p->keys);
    free(p->jsons);
    pgarr_free(&p->ids);
}

/* Builds the current document of (creditor_id, debtor_id) into p (none for a case gone or not
 * yet complete). Returns 0, or -1 / RESULT_TRANSIENT with err filled. */
static int rebuild_one(PGconn *conn, const policyset_t *policies, int64_t now, const char *c,
                       const char *d, owed_pass_t *p, char *err, size_t errlen)
{
    casefile_t cf;
    int rc = casestore_load(conn, c, d, false, &cf, err, errlen);

    if (rc == CASESTORE_NOT_FOUND) {
        casefile_clear(&cf);
        return 0;
    }
    if (rc == 0) {
        char key[2 * CASEFILE_ID_MAX + 16];
        char *json = pipeline_cache_json(&cf, policies ? policyset_for(policies, c) : NULL, now);
        pipeline_cache_key(&cf, key, sizeof(key));
        if (json != NULL) {
            p->keys[p->n] = strdup(key);
            p->jsons[p->n] = json;
            p->entries[p->n] = (cache_entry_t){p->keys[p->n], json, cf.version, -1};
            if (p->keys[p->n] == NULL) {
                free(json);
                snprintf(err, errlen, "out of memory");
                rc = -1;
            } else {
                p->n++;
            }
        }
    }
    casefile_clear(&cf);
    return rc;
}

/* Takes the records (locked until the transaction ends) and rebuilds their cases into p. */
static int take_and_rebuild(PGconn *conn, const policyset_t *policies, int64_t now, int min_age_s,
                            int max_records, owed_pass_t *p, char *err, size_t errlen)
{
    char age[16], lim[16];
    snprintf(age, sizeof(age), "%d", min_age_s);
    snprintf(lim, sizeof(lim), "%d", max_records);
    const char *params[2] = {age, lim};
    PGresult *res = PQexecParams(
        conn,
        "SELECT o.id, u.c, u.d FROM (SELECT id, creditor_ids, debtor_ids FROM cache_owed "
        "WHERE created_at <= now() - make_interval(secs => $1::int) ORDER BY created_at "
        "LIMIT $2::int FOR UPDATE SKIP LOCKED) o, unnest(o.creditor_ids, o.debtor_ids) AS u(c, d)",
        2, NULL, params, NULL, NULL, 0);
    int rc = 0;

    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return pg_fail(conn, res, "cache_owed.take", err, errlen);
    size_t rows = (size_t)PQntuples(res);
    p->entries = calloc(rows + 1, sizeof(*p->entries));
    p->keys = calloc(rows + 1, sizeof(char *));
    p->jsons = calloc(rows + 1, sizeof(char *));
    if (p->entries == NULL || p->keys == NULL || p->jsons == NULL) {
        PQclear(res);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < rows && rc == 0; i++) {
        pgarr_add_cstr(&p->ids, PQgetvalue(res, (int)i, 0));
        rc = rebuild_one(conn, policies, now, PQgetvalue(res, (int)i, 1),
                         PQgetvalue(res, (int)i, 2), p, err, errlen);
    }
    PQclear(res);
    return rc;
}

int cacheowed_rewrite(PGconn *conn, cache_t *cache, const policyset_t *policies, int64_t now,
                      int min_age_s, int max_records, char *err, size_t errlen)
{
    owed_pass_t p = {0};
    int rc;

    pgarr_init(&p.ids);
    if (pg_exec_ok(conn, "BEGIN", PGRES_COMMAND_OK, err, errlen) < 0) {
        pgarr_free(&p.ids);
        return -1;
    }
    rc = take_and_rebuild(conn, policies, now, min_age_s, max_records, &p, err, errlen);
    if (rc == 0 && p.n > 0 && cache_put_many(cache, p.entries, p.n) > 0) {
        snprintf(err, errlen, "redis: %s", cache_errstr(cache));
        rc = -1;
    }
    if (rc == 0 && pgarr_str(&p.ids) != NULL) {
        const char *params[1] = {pgarr_str(&p.ids)};
        PGresult *res = PQexecParams(conn, "DELETE FROM cache_owed WHERE id = ANY($1::bigint[])", 1,
                                     NULL, params, NULL, NULL, 0);
        rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
        if (rc != 0)
            pg_fail(conn, res, "cache_owed.delete", err, errlen);
        else
            PQclear(res);
    }
    if (rc == 0)
        rc = pg_exec_ok(conn, "COMMIT", PGRES_COMMAND_OK, err, errlen) < 0 ? -1 : 0;
    else if (PQstatus(conn) == CONNECTION_OK)
        PQclear(PQexec(conn, "ROLLBACK"));
    int n = rc == 0 ? (int)p.n : -1;
    pass_free(&p);
    return n;
}
