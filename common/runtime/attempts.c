/* attempts.c - the attempt record that finds poison messages (see attempts.h). */
#include "attempts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

int attempts_begin(PGconn *conn, const char *group, attempt_span_t *spans, size_t n, char *err,
                   size_t errlen)
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
    const char *params[5] = {group, pgarr_str(&topics), pgarr_str(&partitions), pgarr_str(&firsts),
                             pgarr_str(&lasts)};
    if (params[1] == NULL || params[2] == NULL || params[3] == NULL || params[4] == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    /* In DO UPDATE, a.* is the record as it was: the same first offset is another start of the
     * same message; anything else begins a new record. */
    PGresult *res = PQexecParams(
        conn,
        "INSERT INTO consumer_attempt AS a (group_id, topic, kafka_partition, first_offset, "
        "last_offset, attempts) "
        "SELECT $1, t, p, f, l, 1 FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[]) "
        "AS u(t, p, f, l) "
        "ON CONFLICT (group_id, topic, kafka_partition) DO UPDATE SET "
        "attempts = CASE WHEN a.first_offset = EXCLUDED.first_offset THEN a.attempts + 1 ELSE 1 "
        "END, "
        "last_offset = CASE WHEN a.first_offset = EXCLUDED.first_offset THEN GREATEST("
        "a.last_offset, EXCLUDED.last_offset) ELSE EXCLUDED.last_offset END, "
        "first_offset = EXCLUDED.first_offset, updated_at = now() "
        "RETURNING topic, kafka_partition, attempts",
        5, NULL, params, NULL, NULL, 0);
    if (pg_expect(res, PGRES_TUPLES_OK, "attempts.begin", err, errlen) < 0)
        goto out;
    int ft = PQfnumber(res, "topic"), fp = PQfnumber(res, "kafka_partition"),
        fa = PQfnumber(res, "attempts");
    for (int r = 0; r < PQntuples(res); r++) {
        int32_t p = (int32_t)atoi(PQgetvalue(res, r, fp));
        for (size_t i = 0; i < n; i++)
            if (spans[i].partition == p && strcmp(spans[i].topic, PQgetvalue(res, r, ft)) == 0)
                spans[i].attempts = atoi(PQgetvalue(res, r, fa));
    }
    PQclear(res);
    rc = 0;
out:
    pgarr_free(&topics);
    pgarr_free(&partitions);
    pgarr_free(&firsts);
    pgarr_free(&lasts);
    return rc;
}
