/* snapshot.c - the daily snapshot of open cases (see snapshot.h). */
#include "snapshot.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "pg.h"
#include "result.h"

/* $1 creditor ids, $2 debtor ids (arrays of the same length), $3 the sweep's instant (Unix s).
 * The day is the debtor's local day of that instant: the day the sweep planned the case for. The
 * bucket's boundaries are snapshot_bucket()'s. */
#define SQL_SNAPSHOT_WRITE                                                                         \
    "INSERT INTO case_snapshot (creditor_id, debtor_id, day, days_past_due, bucket, segment,"      \
    " strategy, variant, currency, balance)"                                                       \
    " SELECT c.creditor_id, c.debtor_id,"                                                          \
    "  (to_timestamp($3::bigint) AT TIME ZONE d.timezone)::date, c.days_past_due,"                 \
    "  CASE WHEN c.days_past_due <= 0 THEN 'current' WHEN c.days_past_due <= 30 THEN '1-30'"       \
    "   WHEN c.days_past_due <= 60 THEN '31-60' WHEN c.days_past_due <= 90 THEN '61-90'"           \
    "   WHEN c.days_past_due <= 180 THEN '91-180' ELSE '181+' END,"                                \
    "  c.segment, c.strategy, c.variant, c.currency, c.balance"                                    \
    " FROM unnest($1::text[], $2::text[]) AS k(cr, dt)"                                            \
    " JOIN debt_case c ON c.creditor_id = k.cr AND c.debtor_id = k.dt"                             \
    " JOIN debtor d ON d.creditor_id = c.creditor_id AND d.debtor_id = c.debtor_id"                \
    " WHERE c.status <> 'resolved' AND c.segment IS NOT NULL"                                      \
    " ON CONFLICT (creditor_id, debtor_id, day) DO UPDATE SET"                                     \
    " days_past_due = EXCLUDED.days_past_due, bucket = EXCLUDED.bucket,"                           \
    " segment = EXCLUDED.segment, strategy = EXCLUDED.strategy, variant = EXCLUDED.variant,"       \
    " currency = EXCLUDED.currency, balance = EXCLUDED.balance"

/* $1 the first day kept (days since 1970-01-01), $2 the most rows deleted at once (short
 * statements: the sweep's transaction stays short even when a long retention is shortened). */
#define SQL_SNAPSHOT_PRUNE                                                                         \
    "DELETE FROM case_snapshot WHERE ctid IN (SELECT ctid FROM case_snapshot"                      \
    " WHERE day < DATE '1970-01-01' + $1::integer LIMIT $2::bigint)"

const char *snapshot_bucket(int days_past_due)
{
    if (days_past_due <= 0)
        return "current";
    if (days_past_due <= 30)
        return "1-30";
    if (days_past_due <= 60)
        return "31-60";
    if (days_past_due <= 90)
        return "61-90";
    return days_past_due <= 180 ? "91-180" : "181+";
}

int snapshot_prepare(PGconn *conn, char *err, size_t errlen)
{
    static const pg_statement_t st[] = {{"snap_write", SQL_SNAPSHOT_WRITE},
                                        {"snap_prune", SQL_SNAPSHOT_PRUNE}};
    return pg_prepare_all(conn, st, sizeof(st) / sizeof(st[0]), err, errlen);
}

int snapshot_write(PGconn *conn, const char *const *creditor_ids, const char *const *debtor_ids,
                   size_t n, int64_t now, char *err, size_t errlen)
{
    pgarr_t cr, dt;
    char at[24];
    int rc;

    if (n == 0)
        return 0;
    pgarr_init(&cr);
    pgarr_init(&dt);
    for (size_t i = 0; i < n; i++) {
        pgarr_add_cstr(&cr, creditor_ids[i]);
        pgarr_add_cstr(&dt, debtor_ids[i]);
    }
    snprintf(at, sizeof(at), "%" PRId64, now);
    const char *p[3] = {pgarr_str(&cr), pgarr_str(&dt), at};
    if (p[0] == NULL || p[1] == NULL) {
        snprintf(err, errlen, "snapshot: out of memory");
        rc = RESULT_TRANSIENT;
    } else {
        rc = pg_run_cmd(conn, "snap_write", 3, p, err, errlen);
    }
    pgarr_free(&cr);
    pgarr_free(&dt);
    return rc;
}

long snapshot_prune(PGconn *conn, int64_t now, int retention_days, long limit, char *err,
                    size_t errlen)
{
    char first[16], lim[24];
    int rc;

    if (retention_days <= 0)
        return 0;
    /* The UTC civil day of `now`, then retention_days back: days since 1970-01-01. */
    int64_t day = (now >= 0 ? now : now - 86399) / 86400 - retention_days;
    snprintf(first, sizeof(first), "%" PRId64, day);
    snprintf(lim, sizeof(lim), "%ld", limit);
    const char *p[2] = {first, lim};
    PGresult *res = pg_run(conn, "snap_prune", 2, p, PGRES_COMMAND_OK, &rc, err, errlen);
    if (res == NULL)
        return rc;
    long n = atol(PQcmdTuples(res));
    PQclear(res);
    return n;
}
