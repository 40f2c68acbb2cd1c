/* snapshot.h - the daily snapshot of open cases (deploy/migrations/0008_case_snapshot.sql): one
 * row per case per local day (days past due, its bucket, segment, strategy variant, balance),
 * written by the scheduler's sweep in the transaction that planned the cases, and read by
 * `recobroctl report` for exact roll rates between days-past-due buckets. */
#ifndef RECOBRO_SNAPSHOT_H
#define RECOBRO_SNAPSHOT_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/* The days-past-due bucket of a case as the snapshot and the report write it: "current" (not
 * past due), "1-30", "31-60", "61-90", "91-180" or "181+". A static string. */
const char *snapshot_bucket(int days_past_due);

/* Prepares the statements on `conn` (after each connection). Returns 0 or pg_fail()'s code
 * (RESULT_TRANSIENT, or -1) with err filled. */
__attribute__((warn_unused_result)) int snapshot_prepare(PGconn *conn, char *err, size_t errlen);

/* Writes the snapshot of the `n` cases (creditor_ids[i], debtor_ids[i], borrowed) for the local
 * day of `now` (Unix seconds) in each debtor's zone, from their debt_case rows as they stand in
 * the caller's open transaction: one INSERT ... SELECT for all of them. Resolved and unsegmented
 * cases are left out; a row already there for that case and day is overwritten (idempotent).
 * Returns 0, or pg_fail()'s code with err filled (the caller rolls back). */
__attribute__((warn_unused_result)) int snapshot_write(PGconn *conn,
                                                       const char *const *creditor_ids,
                                                       const char *const *debtor_ids, size_t n,
                                                       int64_t now, char *err, size_t errlen);

/* Deletes up to `limit` snapshot rows older than `retention_days` days before the UTC day of
 * `now` (a day more or less for zones far from UTC). retention_days <= 0 keeps everything.
 * Returns the rows deleted (>= 0), or pg_fail()'s code (negative) with err filled. */
long snapshot_prune(PGconn *conn, int64_t now, int retention_days, long limit, char *err,
                    size_t errlen);

#endif
