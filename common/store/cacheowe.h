/* cacheowe.h - the cache writes a committed batch still owes (table cache_owed).
 *
 * A batch records, in its own transaction and in the same round trip as its COMMIT, the cases
 * whose hot-case documents it is about to write to Redis (cacheowe_commit()). Once the writes
 * went through (or failed and were remembered in cache_pending), the record is deleted
 * (cacheowe_clear(), asynchronous commit: losing it only costs a redundant re-write). A process
 * killed between the two leaves the record; cacheowed.h (pipeline) re-writes those cases from
 * PostgreSQL's current state. */
#ifndef RECOBRO_CACHEOWE_H
#define RECOBRO_CACHEOWE_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/* How old a record must be before a periodic re-write pass takes it (a live owner clears its
 * own within milliseconds); the pass at a process's start takes every record. */
#define CACHEOWED_MIN_AGE_S 10
/* How often the periodic pass runs. */
#define CACHEOWED_PERIOD_US (5 * 1000000LL)

/* A new record id (random, positive). */
int64_t cacheowe_id(void);

/* Inserts the record `id` of the n cases (creditor_ids[i], debtor_ids[i]) and COMMITs the
 * caller's transaction, in one round trip (one simple-protocol query of two statements). n == 0:
 * only COMMIT. Returns the result of the COMMIT, or that of the failed INSERT (the transaction is
 * then aborted and not committed): the caller checks it as the result of a plain COMMIT. */
PGresult *cacheowe_commit(PGconn *conn, int64_t id, const char *const *creditor_ids,
                          const char *const *debtor_ids, size_t n);

/* The record's INSERT, for a caller that sends it with its own statements before its COMMIT
 * (cacheowe_commit() does the same): $1 the id, $2 and $3 the arrays of creditor and debtor ids. */
#define CACHEOWE_INSERT_SQL                                                                        \
    "INSERT INTO cache_owed (id, creditor_ids, debtor_ids) VALUES ($1::bigint, $2::text[], "       \
    "$3::text[])"

/* Deletes record `id` in its own transaction with synchronous_commit off, one round trip.
 * Returns 0 or -1. */
int cacheowe_clear(PGconn *conn, int64_t id);

/* The test hook RECOBRO_TEST_CRASH_AFTER_COMMIT (TEST ONLY: never set it in production): when
 * it is set to a number N > 0, the process SIGKILLs itself after its N-th committed batch that
 * owes cache writes, before writing them. Unset or anything else: nothing. */
void cacheowe_test_crash_point(void);

#endif
