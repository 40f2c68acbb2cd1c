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

/* Every new connection listens for the workers' notifications. */
static int on_connect(void *ud, PGconn *conn, char *err, size_t errlen)
{
    (void)ud;
    return pg_exec_ok(conn, "LISTEN " OUTBOX_CHANNEL, PGRES_COMMAND_OK, err, errlen);
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

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decodes `n` hex digits at `s` into a new buffer (NUL-terminated for convenience). */
static char *unhex(const char *s, size_t n, size_t *out_len)
{
    char *out = malloc(n / 2 + 1);
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i + 1 < n; i += 2)
        out[i / 2] = (char)(hexval(s[i]) << 4 | hexval(s[i + 1]));
    out[n / 2] = '\0';
    *out_len = n / 2;
    return out;
}

/* Builds the Kafka headers of a row from "namehex:valuehex,..." (NULL/empty: none). */
static rd_kafka_headers_t *headers_from(const char *s, int len)
{
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(8);
    const char *p = s, *end = s + len;

    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        const char *colon = memchr(p, ':', (size_t)(stop - p));
        if (colon != NULL) {
            size_t nl, vl;
            char *name = unhex(p, (size_t)(colon - p), &nl);
            char *val = unhex(colon + 1, (size_t)(stop - colon - 1), &vl);
            if (name != NULL && val != NULL)
                rd_kafka_header_add(hdrs, name, (ssize_t)nl, val, (ssize_t)vl);
            free(name);
            free(val);
        }
        p = stop + 1;
    }
    return hdrs;
}

/* Publishes up to relay_batch pending rows, in id order, of every shard no other relay holds,
 * in one transaction: one flush and one round of acknowledgements per pass, whatever the number
 * of shards. Returns the number of rows published, 0 when there was nothing to publish (or
 * every shard was held elsewhere), -1 on failure (the transaction is rolled back and nothing is
 * marked). */
static int publish_batch(relay_t *r)
{
    char err[512], lim[16], cls[16], nshards[16];
    const char *lock_params[2] = {cls, nshards};
    PGresult *res;
    int published = -1;

    snprintf(lim, sizeof(lim), "%d", r->cfg->relay_batch);
    snprintf(cls, sizeof(cls), "%d", RELAY_LOCK_CLASS);
    snprintf(nshards, sizeof(nshards), "%d", OUTBOX_SHARDS - 1);
    if (pg_exec_ok(r->conn, "BEGIN", PGRES_COMMAND_OK, err, sizeof(err)) < 0)
        return -1;
    res = PQexecParams(r->conn,
                       "SELECT coalesce(array_agg(s), '{}') AS shards FROM generate_series(0, "
                       "$2::int) AS s WHERE pg_try_advisory_xact_lock($1::int, s)",
                       2, NULL, lock_params, NULL, NULL, 0);
    if (pg_expect(res, PGRES_TUPLES_OK, "relay.lock", err, sizeof(err)) < 0)
        goto fail;
    char shards[128];
    snprintf(shards, sizeof(shards), "%s", PQgetvalue(res, 0, PQfnumber(res, "shards")));
    PQclear(res);
    if (strcmp(shards, "{}") == 0) {
        PQclear(PQexec(r->conn, "ROLLBACK"));
        return 0;
    }
    const char *params[2] = {shards, lim};
    /* Binary results: bytea comes back as raw bytes, ids as big-endian int8. */
    res = PQexecParams(
        r->conn,
        "SELECT id, topic, msg_key, payload, "
        "  (SELECT string_agg(encode(convert_to(h.n, 'UTF8'), 'hex') || ':' || encode(h.v, "
        "'hex'), ',' ORDER BY h.ord) "
        "   FROM unnest(o.header_names, o.header_values) WITH ORDINALITY AS h(n, v, ord)) "
        "  AS headers "
        "FROM outbox o WHERE sent_at IS NULL AND shard = ANY($1::int[]) ORDER BY id LIMIT $2::int",
        2, NULL, params, NULL, NULL, 1);
    if (pg_expect(res, PGRES_TUPLES_OK, "relay.select", err, sizeof(err)) < 0)
        goto fail;
    int rows = PQntuples(res);
    if (rows == 0) {
        PQclear(res);
        PQclear(PQexec(r->conn, "ROLLBACK"));
        return 0;
    }
    int fid = PQfnumber(res, "id"), ftopic = PQfnumber(res, "topic"),
        fkey = PQfnumber(res, "msg_key"), fpay = PQfnumber(res, "payload"),
        fh = PQfnumber(res, "headers");
    delivery_t *dl = calloc((size_t)rows, sizeof(*dl));
    if (dl == NULL) {
        PQclear(res);
        goto fail;
    }
    for (int i = 0; i < rows; i++) {
        char topic[256];
        int tl = PQgetlength(res, i, ftopic);
        snprintf(topic, sizeof(topic), "%.*s", tl, PQgetvalue(res, i, ftopic));
        rd_kafka_headers_t *hdrs = headers_from(
            PQgetvalue(res, i, fh), PQgetisnull(res, i, fh) ? 0 : PQgetlength(res, i, fh));
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                r->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_KEY(PQgetisnull(res, i, fkey) ? NULL : PQgetvalue(res, i, fkey),
                               (size_t)PQgetlength(res, i, fkey)),
                RD_KAFKA_V_VALUE(PQgetvalue(res, i, fpay), (size_t)PQgetlength(res, i, fpay)),
                RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(&dl[i]), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
                break; /* hdrs now owned by the message */
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(r->rk, 50);
                continue;
            }
            rd_kafka_headers_destroy(hdrs);
            dl[i].done = 1;
            dl[i].err = e;
            break;
        }
    }
    /* Every message must be reported before dl is freed: wait, however long the broker takes
     * (message.timeout.ms bounds it). */
    while (rd_kafka_outq_len(r->rk) > 0)
        rd_kafka_flush(r->rk, 1000);
    pgarr_t ids;
    pgarr_init(&ids);
    int ok = 0, failed = 0;
    rd_kafka_resp_err_t first_err = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int i = 0; i < rows; i++) {
        if (dl[i].done && dl[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            pgarr_add_int64(&ids, (int64_t)be64(PQgetvalue(res, i, fid)));
            ok++;
        } else {
            failed++;
            if (first_err == RD_KAFKA_RESP_ERR_NO_ERROR)
                first_err = dl[i].done ? dl[i].err : RD_KAFKA_RESP_ERR__TIMED_OUT;
        }
    }
    free(dl);
    PQclear(res);
    if (failed > 0) {
        metrics_inc("recobro_relay_errors_total", "Outbox rows the broker did not acknowledge",
                    NULL, failed);
        LOG_WARN("relay.not_acknowledged", "\"rows\":%d,\"error\":\"%s\"", failed,
                 rd_kafka_err2str(first_err));
    }
    if (ok > 0) {
        const char *p1[1] = {pgarr_str(&ids)};
        res =
            PQexecParams(r->conn, "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])",
                         1, NULL, p1, NULL, NULL, 0);
        if (pg_expect(res, PGRES_COMMAND_OK, "relay.mark", err, sizeof(err)) < 0) {
            pgarr_free(&ids);
            goto fail;
        }
        PQclear(res);
    }
    pgarr_free(&ids);
    res = PQexec(r->conn, "COMMIT");
    if (pg_expect(res, PGRES_COMMAND_OK, "relay.commit", err, sizeof(err)) < 0)
        goto fail;
    PQclear(res);
    if (ok > 0)
        metrics_inc("recobro_outbox_published_total", "Outbox rows published", NULL, ok);
    published = failed > 0 && ok == 0 ? -1 : ok;
    return published;
fail : {
    char esc[600];
    LOG_WARN("relay.failed", "\"error\":\"%s\"", log_json_escape(err, esc, sizeof(esc)));
}
    if (r->conn != NULL && PQstatus(r->conn) == CONNECTION_OK)
        PQclear(PQexec(r->conn, "ROLLBACK"));
    else
        pg_drop(r);
    return -1;
}

/* Waits up to ms for a NOTIFY from a worker (or the timeout). */
static void wait_notify(relay_t *r, int ms)
{
    int sock = PQsocket(r->conn);
    fd_set rfds;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    PGnotify *n;

    if (sock < 0)
        return;
    FD_ZERO(&rfds);
    FD_SET(sock, &rfds);
    if (select(sock + 1, &rfds, NULL, NULL, &tv) < 0 && errno != EINTR)
        return;
    if (!PQconsumeInput(r->conn)) {
        pg_drop(r);
        return;
    }
    while ((n = PQnotifies(r->conn)) != NULL)
        PQfreemem(n);
}

/* Deletes rows published longer ago than the retention, a bounded number at a time. */
static void cleanup(relay_t *r)
{
    char err[512], ret[24];
    const char *params[1] = {ret};

    if (clock_mono_us() < r->next_cleanup_us)
        return;
    r->next_cleanup_us = clock_mono_us() + 60 * 1000000LL;
    snprintf(ret, sizeof(ret), "%d", r->cfg->outbox_retention_s);
    PGresult *res = PQexecParams(r->conn,
                                 "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox "
                                 "WHERE sent_at < now() - make_interval(secs => $1::int) "
                                 "LIMIT 50000)",
                                 1, NULL, params, NULL, NULL, 0);
    if (pg_expect(res, PGRES_COMMAND_OK, "relay.cleanup", err, sizeof(err)) == 0)
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
        if (n == 0 && r.conn != NULL)
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
