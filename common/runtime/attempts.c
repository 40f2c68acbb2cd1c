/* attempts.c - the attempt record that finds poison messages (see attempts.h). */
#include "attempts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"
#include "pgpipe.h"

/* The record statement ($1 the group; $2..$5 the arrays of topics, partitions, first and last
 * offsets; $6 1 when the batch is one message alone). */
#define ATTEMPTS_RECORD_SQL                                                                        \
    "WITH u AS (SELECT * FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[]) "          \
    "AS u(t, p, f, l)), "                                                                          \
    "old AS (SELECT a.topic, a.kafka_partition, a.first_offset FROM consumer_attempt a "           \
    "JOIN u ON a.group_id = $1 AND a.topic = u.t AND a.kafka_partition = u.p), "                   \
    "ins AS (INSERT INTO consumer_attempt AS a (group_id, topic, kafka_partition, "                \
    "first_offset, last_offset, attempts) "                                                        \
    "SELECT $1, t, p, f, l, 1 FROM u "                                                             \
    "ON CONFLICT (group_id, topic, kafka_partition) DO UPDATE SET "                                \
    "attempts = CASE WHEN a.first_offset = EXCLUDED.first_offset THEN a.attempts + $6::int "       \
    "ELSE 1 END, "                                                                                 \
    "last_offset = CASE WHEN a.first_offset = EXCLUDED.first_offset THEN GREATEST("                \
    "a.last_offset, EXCLUDED.last_offset) ELSE EXCLUDED.last_offset END, "                         \
    "first_offset = EXCLUDED.first_offset, updated_at = now() "                                    \
    "RETURNING topic, kafka_partition, first_offset, attempts) "                                   \
    "SELECT i.topic, i.kafka_partition, i.attempts, "                                              \
    "COALESCE(o.first_offset = i.first_offset, false) AS resumed FROM ins i "                      \
    "LEFT JOIN old o ON o.topic = i.topic AND o.kafka_partition = i.kafka_partition"

#define ATTEMPTS_RECORD_STMT "attempts_record"

int attempts_prepare(PGconn *conn, char *err, size_t errlen)
{
    const pg_statement_t st = {ATTEMPTS_RECORD_STMT, ATTEMPTS_RECORD_SQL};
    return pg_prepare_all(conn, &st, 1, err, errlen);
}

/* Ends a failed transaction, when the connection still stands (else it is redone anyway). */
static void rollback(PGconn *conn)
{
    if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE)
        PQclear(PQexec(conn, "ROLLBACK"));
}

/* The RETURNING rows of the record statement into spans[0..n). */
static void fill_spans(const PGresult *res, attempt_span_t *spans, size_t n)
{
    int ft = PQfnumber(res, "topic"), fp = PQfnumber(res, "kafka_partition"),
        fa = PQfnumber(res, "attempts"), fr = PQfnumber(res, "resumed");
    for (int r = 0; r < PQntuples(res); r++) {
        int32_t p = (int32_t)atoi(PQgetvalue(res, r, fp));
        for (size_t i = 0; i < n; i++)
            if (spans[i].partition == p && strcmp(spans[i].topic, PQgetvalue(res, r, ft)) == 0) {
                spans[i].attempts = atoi(PQgetvalue(res, r, fa));
                spans[i].resumed = PQgetvalue(res, r, fr)[0] == 't';
            }
    }
}

int attempts_begin(PGconn *conn, const char *group, attempt_span_t *spans, size_t n, int alone,
                   char *err, size_t errlen)
{
    pgarr_t topics, partitions, firsts, lasts;
    int rc = -1;

    if (n == 0)
        return 0;
    pgarr_init(&topics);
    pgarr_init(&partitions);
    pgarr_init(&firsts);
    pgarr_init(&lasts);
    for (size_t i = 0; i < n; i++) {
        pgarr_add_cstr(&topics, spans[i].topic);
        pgarr_add_int64(&partitions, spans[i].partition);
        pgarr_add_int64(&firsts, spans[i].first);
        pgarr_add_int64(&lasts, spans[i].last);
    }
    const char *params[6] = {group,
                             pgarr_str(&topics),
                             pgarr_str(&partitions),
                             pgarr_str(&firsts),
                             pgarr_str(&lasts),
                             alone ? "1" : "0"};
    if (params[1] == NULL || params[2] == NULL || params[3] == NULL || params[4] == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    /* Committed on its own but without waiting for the WAL flush (synchronous_commit off for
     * this transaction only): the record must be there when this process dies, which an
     * asynchronous commit gives (PostgreSQL has it); only a crash of PostgreSQL itself could
     * lose it, and then one start goes uncounted. Saves one disk flush per batch. The four
     * statements go in one round trip (pgpipe.h).
     *
     * In DO UPDATE, a.* is the record as it was: the same first offset is another start of the
     * same message (counted when alone, $6 = 1); anything else begins a new record. `old` is the
     * records as they were before the statement, to tell a resumed record from a new one. */
    pgpipe_stmt_t st[4] = {
        {.sql = "BEGIN", .what = "attempts.begin", .want = PGRES_COMMAND_OK},
        {.sql = "SET LOCAL synchronous_commit = off",
         .what = "attempts.begin",
         .want = PGRES_COMMAND_OK},
        {.prepared = ATTEMPTS_RECORD_STMT,
         .what = "attempts.begin",
         .nparams = 6,
         .params = params,
         .want = PGRES_TUPLES_OK,
         .keep = 1},
        {.sql = "COMMIT", .what = "attempts.commit", .want = PGRES_COMMAND_OK},
    };
    if (pgpipe_exec(conn, st, 4, NULL, err, errlen) != 0) {
        rollback(conn);
        goto out;
    }
    fill_spans(st[2].res, spans, n);
    PQclear(st[2].res);
    rc = 0;
out:
    pgarr_free(&topics);
    pgarr_free(&partitions);
    pgarr_free(&firsts);
    pgarr_free(&lasts);
    return rc;
}
