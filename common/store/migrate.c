/* migrate.c - applies the embedded SQL migrations (see migrate.h). */
#include "migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

/* An arbitrary constant naming the migration lock among advisory locks. */
#define MIGRATE_LOCK_KEY 7420117

int migrate_latest_version(void)
{
    return migrations_count ? migrations[migrations_count - 1].version : 0;
}

int migrate_current(PGconn *conn, int *version, char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, "SELECT to_regclass('schema_migrations') IS NOT NULL AS present");
    if (pg_expect(res, PGRES_TUPLES_OK, "migrate.probe", err, errlen) < 0)
        return -1;
    int present = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!present) {
        *version = 0;
        return 0;
    }
    res = PQexec(conn, "SELECT coalesce(max(version), 0) AS version FROM schema_migrations");
    if (pg_expect(res, PGRES_TUPLES_OK, "migrate.current", err, errlen) < 0)
        return -1;
    *version = atoi(PQgetvalue(res, 0, PQfnumber(res, "version")));
    PQclear(res);
    return 0;
}

int migrate_run(PGconn *conn, int *from, int *to, char *err, size_t errlen)
{
    int current = 0, latest = migrate_latest_version();
    char lock_sql[96];

    snprintf(lock_sql, sizeof(lock_sql), "SELECT pg_advisory_lock(%d)", MIGRATE_LOCK_KEY);
    if (pg_exec_ok(conn, lock_sql, PGRES_TUPLES_OK, err, errlen) < 0)
        return -1;
    int rc = -1;
    if (pg_exec_ok(conn,
                   "CREATE TABLE IF NOT EXISTS schema_migrations ("
                   " version integer PRIMARY KEY, name text NOT NULL,"
                   " applied_at timestamptz NOT NULL DEFAULT now())",
                   PGRES_COMMAND_OK, err, errlen) < 0)
        goto out;
    if (migrate_current(conn, &current, err, errlen) < 0)
        goto out;
    if (from != NULL)
        *from = current;
    if (current > latest) {
        snprintf(err, errlen, "database schema version %d is newer than this build knows (%d)",
                 current, latest);
        goto out;
    }
    for (size_t i = 0; i < migrations_count; i++) {
        const migration_t *m = &migrations[i];
        char v[16];
        const char *params[2] = {v, m->name};
        snprintf(v, sizeof(v), "%d", m->version);
        /* Every missing version runs, not only those above the newest applied: migrations
         * written in parallel may land out of number order. */
        PGresult *res = PQexecParams(conn, "SELECT 1 FROM schema_migrations WHERE version = $1", 1,
                                     NULL, params, NULL, NULL, 0);
        if (pg_expect(res, PGRES_TUPLES_OK, "migrate.check", err, errlen) < 0)
            goto out;
        int applied = PQntuples(res) > 0;
        PQclear(res);
        if (applied)
            continue;
        if (pg_exec_ok(conn, "BEGIN", PGRES_COMMAND_OK, err, errlen) < 0)
            goto out;
        res = PQexec(conn, m->sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
            snprintf(err, errlen, "migration %s failed: %s", m->name, pg_error_text(conn, res));
            PQclear(res);
            PQclear(PQexec(conn, "ROLLBACK"));
            goto out;
        }
        PQclear(res);
        res = PQexecParams(conn, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2,
                           NULL, params, NULL, NULL, 0);
        if (pg_expect(res, PGRES_COMMAND_OK, "migrate.record", err, errlen) < 0) {
            PQclear(PQexec(conn, "ROLLBACK"));
            goto out;
        }
        PQclear(res);
        if (pg_exec_ok(conn, "COMMIT", PGRES_COMMAND_OK, err, errlen) < 0)
            goto out;
        if (m->version > current)
            current = m->version;
    }
    if (to != NULL)
        *to = current;
    rc = 0;
out:
    snprintf(lock_sql, sizeof(lock_sql), "SELECT pg_advisory_unlock(%d)", MIGRATE_LOCK_KEY);
    PQclear(PQexec(conn, lock_sql));
    return rc;
}
