/* relay.c - the outbox relay (see relay.h). */
#include "relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include "backoff.h"
#include "clock.h"
#include "http.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "outbox.h"
#include "pg.h"
#include "pgbinarr.h"
#include "worker.h"

/* Names the relay's shard locks among advisory locks. */
#define RELAY_LOCK_CLASS 7420118

typedef struct relay {
    const config_t *cfg;
    pg_session_t db;
    PGconn *conn; /* db.conn while connected, NULL otherwise */
    rd_kafka_t *rk;
    http_server_t *http;
    backoff_t backoff;
    volatile sig_atomic_t *stop;
    atomic_int ready;
    int64_t next_cleanup_us;
    int64_t next_gauge_us; /* when recobro_outbox_retry_waiting is next recounted */
} relay_t;

/* A delivery report lands here, through the message's opaque pointer. */
typedef struct delivery {
    int done;
    rd_kafka_resp_err_t err;
} delivery_t;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    (void)rk;
    (void)opaque;
    delivery_t *d = rkm->_private;
    d->done = 1;
    d->err = rkm->err;
}

static int is_ready(void *ud)
{
    relay_t *r = ud;
    return atomic_load(&r->ready);
}

static rd_kafka_t *producer_new(const config_t *cfg, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = kafka_conf_new(cfg, err, errlen);
    char why[512];

    if (conf == NULL)
        return NULL;
    if (kafka_conf_set(conf, "enable.idempotence", "true", err, errlen) < 0 ||
        kafka_conf_set(conf, "acks", "all", err, errlen) < 0 ||
        kafka_conf_set(conf, "linger.ms", "5", err, errlen) < 0 ||
        kafka_conf_set(conf, "message.timeout.ms", "60000", err, errlen) < 0 ||
        /* DLQ copies may be larger than the usual 1 MB; the topic's limit decides. */
        kafka_conf_set(conf, "message.max.bytes", "16777216", err, errlen) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    for (int i = 0; i < cfg->n_kafka_props; i++) {
        const config_kafka_prop_t *p = &cfg->kafka_props[i];
        if (rd_kafka_conf_set(conf, p->name, p->value, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
            snprintf(err, errlen, "%s: %s", p->env, why);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (rk == NULL) {
        snprintf(err, errlen, "kafka: %s", why);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return rk; /* conf is now owned by rk */
}

static void pg_drop(relay_t *r)
{
    pg_session_drop(&r->db);
    r->conn = NULL;
    atomic_store(&r->ready, 0);
}

/* The statements of every pass, prepared on each connection (see on_connect). */
static const char lock_sql[] = "SELECT coalesce(array_agg(s), '{}') AS shards FROM "
                               "generate_series(0, $2::int) AS s WHERE "
                               "pg_try_advisory_xact_lock($1::int, s)";

/* See select_pending() for what it selects and why it is written so. */
static const char select_sql[] =
    "WITH failing AS MATERIALIZED (SELECT shard, msg_key, min(id) AS first_id FROM outbox "
    "  WHERE sent_at IS NULL AND next_attempt_at IS NOT NULL AND shard = ANY($1::int[]) "
    "  GROUP BY shard, msg_key) "
    "SELECT id, topic, msg_key, payload, attempts, header_names, header_values "
    "FROM outbox o WHERE sent_at IS NULL AND shard = ANY($1::int[]) "
    "  AND (next_attempt_at IS NULL OR next_attempt_at <= now()) "
    "  AND o.id <= coalesce((SELECT f.first_id FROM failing f WHERE f.shard = o.shard "
    "    AND f.msg_key IS NOT DISTINCT FROM o.msg_key), o.id) "
    "ORDER BY id LIMIT $2::int";

static const char mark_sql[] = "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])";

static const pg_statement_t relay_statements[] = {
    {"relay.lock", lock_sql},
    {"relay.select", select_sql},
    {"relay.mark", mark_sql},
};

/* Every new connection listens for the workers' notifications, and plans the relay's queries
 * so that a pass costs what it publishes, whatever the outbox's statistics say:
 *
 * - No bitmap scans. Every published row leaves a dead entry in outbox_pending (sent_at is
 *   indexed, so the UPDATE is never HOT) until VACUUM, which on a busy or new database may be
 *   minutes away. A plain index scan marks each dead entry it meets (LP_DEAD) and never visits
 *   its heap page again; a bitmap scan cannot, so with statistics that misjudge the pending rows
 *   (a table not yet analyzed, or analyzed during a burst) the planner's "Bitmap Heap Scan on
 *   outbox_pending + Sort" visits every row published since the last VACUUM on every pass:
 *   209,399 index entries and 12,343 heap pages for 79 rows in one pass of `make bench`, and
 *   passes of 0.4 s to 12 s in a row while the backlog grew behind them.
 * - No JIT: misjudged statistics also push the estimated cost over jit_above_cost, and each
 *   pass then compiled its plan (14 ms) for a query that runs in 1-5 ms.
 *
 * And two more settings of the session:
 * - client_encoding UTF8: the header names arrive in binary (select_pending), that is in the
 *   client encoding, and Kafka header names are UTF-8 (the former query converted them itself).
 * - synchronous_commit off: a pass's COMMIT (rows marked sent, put off, deleted by the
 *   retention) does not wait for its WAL to reach the disk. A commit lost in a server crash
 *   leaves those rows as they were before the pass: published again, exactly as after a relay
 *   crash between the broker's acknowledgement and the commit (relay.h; downstream dedupes on
 *   the stable ids), retried sooner, or deleted by a later pass. The rows themselves were made
 *   durable by the workers' commits, which keep waiting.
 * - plan_cache_mode force_custom_plan: a pass's statements are prepared (parsed once per
 *   connection), but still planned for their parameters on every run, as the unnamed statements
 *   before them were: a generic plan of the select would not know how many shards it reads. */
static int on_connect(void *ud, PGconn *conn, char *err, size_t errlen)
{
    (void)ud;
    if (pg_exec_ok(conn,
                   "SET enable_bitmapscan = off; SET jit = off; SET client_encoding = 'UTF8'; "
                   "SET synchronous_commit = off; SET plan_cache_mode = force_custom_plan; "
                   "LISTEN " OUTBOX_CHANNEL,
                   PGRES_COMMAND_OK, err, errlen) < 0)
        return -1;
    return pg_prepare_all(conn, relay_statements,
                          sizeof(relay_statements) / sizeof(relay_statements[0]), err, errlen) == 0
               ? 0
               : -1;
}

static int pg_ensure(relay_t *r)
{
    r->conn = pg_session_conn(&r->db, NULL);
    atomic_store(&r->ready, r->conn != NULL);
    return r->conn != NULL ? 0 : -1;
}

static uint64_t be64(const char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | (unsigned char)p[i];
    return v;
}

/* Builds the Kafka headers of row i from its header_names (text[]) and header_values (bytea[])
 * columns, received in binary: the names' and values' own bytes, in order, pair by pair (a pair
 * with a NULL or missing side is skipped, as the former SQL aggregation did). Returns a new list
 * for the message to own, or NULL when a column is not a well-formed array. */
static rd_kafka_headers_t *headers_from(const PGresult *res, int i, int fnames, int fvalues)
{
    pgbinarr_t names, values;
    const char *n, *v;
    size_t nl, vl;

    if (pgbinarr_open(&names, PQgetvalue(res, i, fnames), (size_t)PQgetlength(res, i, fnames)) <
            0 ||
        pgbinarr_open(&values, PQgetvalue(res, i, fvalues), (size_t)PQgetlength(res, i, fvalues)) <
            0)
        return NULL;
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new((size_t)pgbinarr_count(&names));
    while (pgbinarr_next(&names, &n, &nl) == 1 && pgbinarr_next(&values, &v, &vl) == 1)
        if (n != NULL && v != NULL)
            rd_kafka_header_add(hdrs, n, (ssize_t)nl, v, (ssize_t)vl);
    return hdrs;
}

/* The column numbers of the pending-rows query, looked up by name once per batch. */
typedef struct outbox_cols {
    int id, topic, key, payload, names, values, attempts;
} outbox_cols_t;

static outbox_cols_t outbox_cols(const PGresult *res)
{
    return (outbox_cols_t){PQfnumber(res, "id"),           PQfnumber(res, "topic"),
                           PQfnumber(res, "msg_key"),      PQfnumber(res, "payload"),
                           PQfnumber(res, "header_names"), PQfnumber(res, "header_values"),
                           PQfnumber(res, "attempts")};
}

static int32_t be32(const char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = (v << 8) | (unsigned char)p[i];
    return (int32_t)v;
}

/* Takes, inside the open transaction, the advisory lock of every shard no other relay holds
 * and writes their numbers to `shards` as an array literal ("{0,3}"). Returns 1 when it holds
 * at least one shard, 0 when every shard is held elsewhere, -1 with err filled on failure. */
static int lock_shards(relay_t *r, char *shards, size_t size, char *err, size_t errlen)
{
    char cls[16], nshards[16];
    const char *params[2] = {cls, nshards};

    snprintf(cls, sizeof(cls), "%d", RELAY_LOCK_CLASS);
    snprintf(nshards, sizeof(nshards), "%d", OUTBOX_SHARDS - 1);
    PGresult *res = PQexecPrepared(r->conn, "relay.lock", 2, params, NULL, NULL, 0);
    if (pg_expect(res, PGRES_TUPLES_OK, "relay.lock", err, errlen) < 0)
        return -1;
    snprintf(shards, size, "%s", PQgetvalue(res, 0, PQfnumber(res, "shards")));
    PQclear(res);
    return strcmp(shards, "{}") != 0;
}

/* The first relay_batch rows of `shards` that may be published now, in id order, in binary
 * (bytea as raw bytes, ids as big-endian int8, attempts as int4, the header arrays in
 * array_send's layout, read by headers_from()). The headers used to be aggregated here into one
 * hex string per row (string_agg(encode(...)) over unnest): 80% of the select's time, 2.5 times
 * its cost without them, all of it on the server the workers share; the arrays go out as
 * stored.
 *
 * Per-key order: a row that failed waits for its next_attempt_at, and every later row of its
 * key waits behind it (the NOT EXISTS) until it is published, however long that takes; the
 * other keys go on. So a row the broker refuses for good (too large for the topic) holds its
 * own case's output, visibly (recobro_outbox_retry_waiting, relay.publish_failed), and nothing
 * else. A row that failed is therefore always alone of its key in a pass.
 *
 * The plan's cost follows the rows published, not the outbox's history: the keys that wait
 * (`failing`: the first failed row of each, from the small outbox_failing index) are computed
 * once per pass, and the pending rows are read in id order from outbox_pending, each compared
 * with that short list in a subplan (not a join the planner could turn into a hash join and a
 * sort over the whole backlog), so the scan stops at relay_batch rows (see on_connect for the
 * scan type). Returns a new result for the caller to PQclear(), or NULL with err filled. */
static PGresult *select_pending(relay_t *r, const char *shards, char *err, size_t errlen)
{
    char lim[16];
    const char *params[2] = {shards, lim};

    snprintf(lim, sizeof(lim), "%d", r->cfg->relay_batch);
    /* Binary results: bytea as its bytes, the header arrays as array_send writes them. */
    PGresult *res = PQexecPrepared(r->conn, "relay.select", 2, params, NULL, NULL, 1);
    if (pg_expect(res, PGRES_TUPLES_OK, "relay.select", err, errlen) < 0)
        return NULL;
    return res;
}

/* Hands row i of res to the producer, waiting while its queue is full; its delivery report
 * lands in *d. A row the producer refuses at once is marked done with that error in *d (a row
 * whose header arrays cannot be read: RD_KAFKA_RESP_ERR__BAD_MSG, retried like any refusal).
 *
 * The payload is not copied (no RD_KAFKA_MSG_F_COPY): it stays in res, which the caller keeps
 * until every message is reported (produce_all() flushes before it returns). The key and the
 * headers are copied by librdkafka. */
static void produce_row(relay_t *r, const PGresult *res, int i, const outbox_cols_t *c,
                        delivery_t *d)
{
    char topic[256];
    int tl = PQgetlength(res, i, c->topic);

    snprintf(topic, sizeof(topic), "%.*s", tl, PQgetvalue(res, i, c->topic));
    rd_kafka_headers_t *hdrs = headers_from(res, i, c->names, c->values);
    if (hdrs == NULL) {
        d->done = 1;
        d->err = RD_KAFKA_RESP_ERR__BAD_MSG;
        return;
    }
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            r->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(0),
            RD_KAFKA_V_KEY(PQgetisnull(res, i, c->key) ? NULL : PQgetvalue(res, i, c->key),
                           (size_t)PQgetlength(res, i, c->key)),
            RD_KAFKA_V_VALUE(PQgetvalue(res, i, c->payload),
                             (size_t)PQgetlength(res, i, c->payload)),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            return; /* hdrs now owned by the message */
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(r->rk, 50);
            continue;
        }
        rd_kafka_headers_destroy(hdrs);
        d->done = 1;
        d->err = e;
        return;
    }
}

/* Waits until every message handed to the producer is reported (message.timeout.ms bounds
 * it). */
static void flush_all(relay_t *r)
{
    while (rd_kafka_outq_len(r->rk) > 0)
        rd_kafka_flush(r->rk, 1000);
}

/* Produces every row of res (dl[i] receives row i's delivery report) and waits until every
 * message is reported, so that dl may be freed afterwards. A row that failed before goes out
 * alone: the broker refuses a whole record batch when one record in it is too large, so a good
 * row that shared a batch with a bad one must not share it again. */
static void produce_all(relay_t *r, const PGresult *res, delivery_t *dl)
{
    outbox_cols_t c = outbox_cols(res);
    int alone = 1;
    char *sent = calloc((size_t)PQntuples(res), 1);

    /* One at a time only while the broker answers: after a timeout (broker away) the others
     * go with the batch, so that a pass never waits message.timeout.ms once per row. */
    for (int i = 0; i < PQntuples(res) && alone && sent != NULL; i++) {
        if (be32(PQgetvalue(res, i, c.attempts)) > 0) {
            produce_row(r, res, i, &c, &dl[i]);
            flush_all(r);
            sent[i] = 1;
            alone = dl[i].err != RD_KAFKA_RESP_ERR__MSG_TIMED_OUT;
        }
    }
    for (int i = 0; i < PQntuples(res); i++)
        if (sent == NULL || !sent[i])
            produce_row(r, res, i, &c, &dl[i]);
    flush_all(r);
    free(sent);
}

/* The reason label of a delivery error: librdkafka's error name in lower case without the
 * leading underscore of its local errors ("msg_size_too_large", "msg_timed_out"). */
static void reason_of(rd_kafka_resp_err_t e, char *out, size_t size)
{
    const char *name = rd_kafka_err2name(e);
    size_t n = 0;

    while (*name == '_')
        name++;
    for (; name[n] != '\0' && n + 1 < size; n++)
        out[n] = (char)(name[n] >= 'A' && name[n] <= 'Z' ? name[n] - 'A' + 'a' : name[n]);
    out[n] = '\0';
}

static rd_kafka_resp_err_t delivery_err(const delivery_t *d)
{
    return d->done ? d->err : RD_KAFKA_RESP_ERR__MSG_TIMED_OUT;
}

/* Counts the failed rows of res by reason and logs one line per reason (with the first row's
 * id, topic and attempts, never its key or payload). */
static void report_failures(const PGresult *res, const delivery_t *dl, int failed)
{
    outbox_cols_t c = outbox_cols(res);
    char *seen = calloc((size_t)PQntuples(res), 1);

    metrics_inc("recobro_relay_errors_total", "Outbox rows the broker did not acknowledge", NULL,
                failed);
    for (int i = 0; i < PQntuples(res); i++) {
        rd_kafka_resp_err_t e = delivery_err(&dl[i]);
        int rows = 0;
        char reason[64], labels[96], topic[256], esc[520];

        if (e == RD_KAFKA_RESP_ERR_NO_ERROR || (seen != NULL && seen[i]))
            continue;
        for (int j = i; j < PQntuples(res); j++) {
            if (delivery_err(&dl[j]) == e) {
                rows++;
                if (seen != NULL)
                    seen[j] = 1;
            }
        }
        reason_of(e, reason, sizeof(reason));
        snprintf(labels, sizeof(labels), "reason=\"%s\"", reason);
        metrics_inc("recobro_outbox_failed_total",
                    "Outbox rows whose publication failed (each will be retried), by reason",
                    labels, rows);
        snprintf(topic, sizeof(topic), "%.*s", PQgetlength(res, i, c.topic),
                 PQgetvalue(res, i, c.topic));
        LOG_WARN("relay.publish_failed",
                 "\"reason\":\"%s\",\"rows\":%d,\"first_id\":%" PRId64
                 ",\"topic\":\"%s\",\"attempts\":%d,\"error\":\"%s\"",
                 reason, rows, (int64_t)be64(PQgetvalue(res, i, c.id)),
                 log_json_escape(topic, esc, sizeof(esc)), be32(PQgetvalue(res, i, c.attempts)) + 1,
                 rd_kafka_err2str(e));
        if (seen == NULL)
            break; /* out of memory: one line for the first reason is better than none */
    }
    free(seen);
}

/* Adds to ids the id of every row of res the broker acknowledged and to fids/freasons the id
 * and reason of every other one (dl: their reports), which it counts and logs. Returns the
 * number acknowledged; *failed the others. */
static int collect(const PGresult *res, const delivery_t *dl, pgarr_t *ids, pgarr_t *fids,
                   pgarr_t *freasons, int *failed)
{
    int fid = PQfnumber(res, "id"), ok = 0;
    char reason[64];

    *failed = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        rd_kafka_resp_err_t e = delivery_err(&dl[i]);
        int64_t id = (int64_t)be64(PQgetvalue(res, i, fid));
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            pgarr_add_int64(ids, id);
            ok++;
        } else {
            reason_of(e, reason, sizeof(reason));
            pgarr_add_int64(fids, id);
            pgarr_add_cstr(freasons, reason);
            (*failed)++;
        }
    }
    if (*failed > 0)
        report_failures(res, dl, *failed);
    return ok;
}

/* Puts the rows fids off until their backoff has passed (RECOBRO_BACKOFF_INITIAL_MS doubled per
 * attempt up to RECOBRO_BACKOFF_MAX_MS), inside the open transaction; their keys' later rows
 * wait behind them (select_pending). Returns 0, or -1 with err filled. */
static int mark_failed(relay_t *r, pgarr_t *fids, pgarr_t *freasons, char *err, size_t errlen)
{
    char init[16], max[16];
    const char *params[4] = {pgarr_str(fids), pgarr_str(freasons), init, max};

    snprintf(init, sizeof(init), "%d", r->cfg->backoff_initial_ms);
    snprintf(max, sizeof(max), "%d", r->cfg->backoff_max_ms);
    PGresult *res =
        PQexecParams(r->conn,
                     "UPDATE outbox o SET attempts = o.attempts + 1, last_error = f.reason, "
                     "  next_attempt_at = now() + make_interval(secs => least($4::float8, "
                     "    $3::float8 * power(2, least(o.attempts, 30))) / 1000) "
                     "FROM unnest($1::bigint[], $2::text[]) AS f(id, reason) WHERE o.id = f.id",
                     4, NULL, params, NULL, NULL, 0);

    if (pg_expect(res, PGRES_COMMAND_OK, "relay.mark_failed", err, errlen) < 0)
        return -1;
    PQclear(res);
    return 0;
}

/* Marks the rows `ids` sent, inside the open transaction. Returns 0, or -1 with err filled. */
static int mark_sent(relay_t *r, pgarr_t *ids, char *err, size_t errlen)
{
    const char *params[1] = {pgarr_str(ids)};
    PGresult *res = PQexecPrepared(r->conn, "relay.mark", 1, params, NULL, NULL, 0);

    if (pg_expect(res, PGRES_COMMAND_OK, "relay.mark", err, errlen) < 0)
        return -1;
    PQclear(res);
    return 0;
}

/* Produces the rows of res, marks those acknowledged sent and puts the others off, inside the
 * open transaction. Returns the number acknowledged (*failed: the others), or -1 with err
 * filled when the rows cannot be marked. res stays the caller's. */
static int publish_rows(relay_t *r, const PGresult *res, int *failed, char *err, size_t errlen)
{
    delivery_t *dl = calloc((size_t)PQntuples(res), sizeof(*dl));
    pgarr_t ids, fids, freasons;
    int ok;

    if (dl == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    produce_all(r, res, dl);
    pgarr_init(&ids);
    pgarr_init(&fids);
    pgarr_init(&freasons);
    ok = collect(res, dl, &ids, &fids, &freasons, failed);
    free(dl);
    if (ok > 0 && mark_sent(r, &ids, err, errlen) < 0)
        ok = -1;
    if (ok >= 0 && *failed > 0 && mark_failed(r, &fids, &freasons, err, errlen) < 0)
        ok = -1;
    pgarr_free(&ids);
    pgarr_free(&fids);
    pgarr_free(&freasons);
    return ok;
}

/* Ends a failed pass: logs err and rolls back, or forgets the connection when it is lost.
 * Returns -1. */
static int batch_failed(relay_t *r, const char *err)
{
    char esc[600];

    LOG_WARN("relay.failed", "\"error\":\"%s\"", log_json_escape(err, esc, sizeof(esc)));
    if (r->conn != NULL && PQstatus(r->conn) == CONNECTION_OK)
        PQclear(PQexec(r->conn, "ROLLBACK"));
    else
        pg_drop(r);
    return -1;
}

/* Ends a pass that found nothing to publish: clears res (may be NULL) and rolls back, which
 * also releases the shard locks. Returns 0. */
static int nothing_to_publish(relay_t *r, PGresult *res)
{
    PQclear(res);
    PQclear(PQexec(r->conn, "ROLLBACK"));
    return 0;
}

/* Publishes up to relay_batch pending rows, in id order, of every shard no other relay holds,
 * in one transaction: one flush and one round of acknowledgements per pass, whatever the number
 * of shards. Rows the broker refused are put off with backoff (see select_pending) and do not
 * fail the pass. Returns the number of rows tried, 0 when there was nothing to publish (or every
 * shard was held elsewhere), -1 on failure (the transaction is rolled back and nothing is
 * marked). */
static int publish_batch(relay_t *r)
{
    char err[512], shards[128];
    int held, ok, failed = 0;
    PGresult *res;

    if (pg_exec_ok(r->conn, "BEGIN", PGRES_COMMAND_OK, err, sizeof(err)) < 0)
        return -1;
    held = lock_shards(r, shards, sizeof(shards), err, sizeof(err));
    if (held < 0)
        return batch_failed(r, err);
    if (held == 0)
        return nothing_to_publish(r, NULL);
    res = select_pending(r, shards, err, sizeof(err));
    if (res == NULL)
        return batch_failed(r, err);
    if (PQntuples(res) == 0)
        return nothing_to_publish(r, res);
    ok = publish_rows(r, res, &failed, err, sizeof(err));
    PQclear(res);
    if (ok < 0)
        return batch_failed(r, err);
    res = PQexec(r->conn, "COMMIT");
    if (pg_expect(res, PGRES_COMMAND_OK, "relay.commit", err, sizeof(err)) < 0)
        return batch_failed(r, err);
    PQclear(res);
    if (ok > 0)
        metrics_inc("recobro_outbox_published_total", "Outbox rows published", NULL, ok);
    if (failed > 0)
        r->next_gauge_us = 0; /* recount now */
    return ok + failed;
}

/* Frees the notifications libpq holds. Returns how many there were. */
static int drain_notifies(relay_t *r)
{
    PGnotify *n;
    int count = 0;

    while ((n = PQnotifies(r->conn)) != NULL) {
        PQfreemem(n);
        count++;
    }
    return count;
}

/* Waits up to ms for a NOTIFY from a worker (or the timeout). A notification libpq already read
 * (with the results of the pass that just found nothing: a worker that committed after that
 * pass's snapshot) ends the wait at once; select() alone would not see it and the rows would
 * wait for the next commit or the timeout. */
static void wait_notify(relay_t *r, int ms)
{
    int sock = PQsocket(r->conn);
    fd_set rfds;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    if (sock < 0)
        return;
    if (!PQconsumeInput(r->conn)) {
        pg_drop(r);
        return;
    }
    if (drain_notifies(r) > 0)
        return;
    FD_ZERO(&rfds);
    FD_SET(sock, &rfds);
    if (select(sock + 1, &rfds, NULL, NULL, &tv) < 0 && errno != EINTR)
        return;
    if (!PQconsumeInput(r->conn)) {
        pg_drop(r);
        return;
    }
    drain_notifies(r);
}

/* Rows deleted by one cleanup statement: about 15-35 ms of the relay's loop on this machine. */
#define CLEANUP_CHUNK 5000

/* Deletes rows published longer ago than the retention, oldest first, CLEANUP_CHUNK at a time:
 * once a second, or again after the next pass while whole chunks come back. Before, 50,000 rows
 * once a minute: each statement held the relay (and so every row waiting to be published) for
 * a long pause, and 833 rows/s was less than a worker writes at 1,000 new debtors/s (a task and
 * a case event each), so the outbox grew without end. */
static void cleanup(relay_t *r)
{
    char err[512], ret[24], lim[16];
    const char *params[2] = {ret, lim};

    if (clock_mono_us() < r->next_cleanup_us)
        return;
    r->next_cleanup_us = clock_mono_us() + 1000000LL;
    snprintf(ret, sizeof(ret), "%d", r->cfg->outbox_retention_s);
    snprintf(lim, sizeof(lim), "%d", CLEANUP_CHUNK);
    /* In sent_at order from outbox_sent: the scan stops at the retention's edge, so a pass
     * with nothing to delete costs a probe whatever the size of the outbox. */
    PGresult *res = PQexecParams(r->conn,
                                 "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox "
                                 "WHERE sent_at < now() - make_interval(secs => $1::int) "
                                 "ORDER BY sent_at LIMIT $2::int)",
                                 2, NULL, params, NULL, NULL, 0);
    if (pg_expect(res, PGRES_COMMAND_OK, "relay.cleanup", err, sizeof(err)) < 0)
        return;
    if (atoi(PQcmdTuples(res)) >= CLEANUP_CHUNK)
        r->next_cleanup_us = 0; /* more to delete: again after the next pass */
    PQclear(res);
}

/* Sets the outbox gauges, at most every 5 s or at once after a failure, over every shard:
 * recobro_outbox_backlog_rows (rows not yet published), recobro_outbox_oldest_age_seconds (the
 * oldest of them) and recobro_outbox_retry_waiting (those that failed and wait for a retry). */
static void count_waiting(relay_t *r)
{
    char err[512];

    if (clock_mono_us() < r->next_gauge_us)
        return;
    r->next_gauge_us = clock_mono_us() + 5 * 1000000LL;
    PGresult *res = PQexec(r->conn, "SELECT count(*) AS n, count(next_attempt_at) AS waiting, "
                                    "coalesce(extract(epoch FROM now() - min(created_at)), 0) "
                                    "AS age FROM outbox WHERE sent_at IS NULL");
    if (pg_expect(res, PGRES_TUPLES_OK, "relay.count_waiting", err, sizeof(err)) < 0)
        return;
    metrics_set("recobro_outbox_backlog_rows", NULL, NULL,
                atof(PQgetvalue(res, 0, PQfnumber(res, "n"))));
    metrics_set("recobro_outbox_oldest_age_seconds", NULL, NULL,
                atof(PQgetvalue(res, 0, PQfnumber(res, "age"))));
    metrics_set("recobro_outbox_retry_waiting", NULL, NULL,
                atof(PQgetvalue(res, 0, PQfnumber(res, "waiting"))));
    PQclear(res);
}

int relay_run(const config_t *cfg)
{
    relay_t r;
    char err[600];
    int status = 1;

    memset(&r, 0, sizeof(r));
    r.cfg = cfg;
    r.db = (pg_session_t){cfg->pg_dsn, "recobro-relay", on_connect, NULL, NULL, 0};
    r.stop = wk_stop_flag(); /* installed by service_init() */
    backoff_init(&r.backoff, cfg->backoff_initial_ms, cfg->backoff_max_ms, (uint64_t)getpid());
    r.rk = producer_new(cfg, err, sizeof(err));
    if (r.rk == NULL) {
        fprintf(stderr, "recobro-relay: %s\n", err);
        goto out;
    }
    r.http = http_server_new(cfg->http_addr, is_ready, &r, err, sizeof(err));
    if (r.http == NULL) {
        fprintf(stderr, "recobro-relay: %s\n", err);
        goto out;
    }
    LOG_INFO("relay.started", "\"http\":\"%s\",\"batch\":%d", cfg->http_addr, cfg->relay_batch);
    while (!*r.stop) {
        rd_kafka_poll(r.rk, 0);
        if (rd_kafka_fatal_error(r.rk, err, sizeof(err)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            /* The idempotent producer cannot go on (e.g. a gap it cannot repair): start a new
             * one; unacknowledged rows are still in the outbox. */
            char esc[600];
            LOG_ERROR("relay.producer_fatal", "\"error\":\"%s\"",
                      log_json_escape(err, esc, sizeof(esc)));
            rd_kafka_destroy(r.rk);
            r.rk = producer_new(cfg, err, sizeof(err));
            if (r.rk == NULL)
                goto out;
        }
        if (pg_ensure(&r) < 0) {
            int d = backoff_next_ms(&r.backoff);
            for (int t = 0; t < d && !*r.stop; t += 100)
                usleep(100000);
            continue;
        }
        int n = publish_batch(&r);
        if (n < 0) {
            metrics_inc("recobro_db_retries_total", "Relay passes retried after a failure", NULL,
                        1);
            int d = backoff_next_ms(&r.backoff);
            for (int t = 0; t < d && !*r.stop; t += 100)
                usleep(100000);
            continue;
        }
        backoff_reset(&r.backoff);
        if (r.conn != NULL)
            cleanup(&r);
        if (r.conn != NULL)
            count_waiting(&r);
        /* A pass that found fewer rows than it could take has seen every row committed before
         * it began: the next rows come with a NOTIFY (already read or still to come, see
         * wait_notify), so an immediate pass would find nothing. At a steady rate that empty
         * pass was every other pass (its BEGIN, lock, select and ROLLBACK on the server the
         * workers share). */
        if (n < cfg->relay_batch && r.conn != NULL)
            wait_notify(&r, cfg->relay_poll_ms);
    }
    status = 0;
out:
    if (r.rk != NULL) {
        rd_kafka_flush(r.rk, 5000);
        rd_kafka_destroy(r.rk);
    }
    http_server_free(r.http);
    pg_session_drop(&r.db);
    LOG_INFO("relay.stopped", NULL);
    return status;
}
