/* cache.c - the Redis hot case cache and its PostgreSQL backlog (see cache.h). */
#include "cache.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "clock.h"
#include "config.h"
#include "pg.h"
#include "redisconn.h"

/* KEYS[1] key; ARGV[1] json, ARGV[2] version, ARGV[3] ttl. Keeps a newer version. */
static const char put_script[] =
    "local cur = redis.call('GET', KEYS[1]) "
    "if cur then "
    "  local ok, doc = pcall(cjson.decode, cur) "
    "  if ok and type(doc) == 'table' and tonumber(doc['version']) "
    "     and tonumber(doc['version']) > tonumber(ARGV[2]) then return 0 end "
    "end "
    "redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3]) "
    "return 1";

struct cache {
    rconn_t *ctx;
    config_redis_url_t url;
    int ttl_s;
    int64_t next_attempt_us;
    char errstr[256];
};

/* The TLS files of every cache of the process (cache_set_tls()); "" none. */
static char tls_ca[512], tls_cert[512], tls_key[512];

void cache_set_tls(const char *ca_file, const char *cert_file, const char *key_file)
{
    snprintf(tls_ca, sizeof(tls_ca), "%s", ca_file ? ca_file : "");
    snprintf(tls_cert, sizeof(tls_cert), "%s", cert_file ? cert_file : "");
    snprintf(tls_key, sizeof(tls_key), "%s", key_file ? key_file : "");
}

cache_t *cache_new(const char *url, int ttl_s, char *err, size_t errlen)
{
    cache_t *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (config_parse_redis_url(url, &c->url) < 0) {
        snprintf(err, errlen,
                 "RECOBRO_REDIS_URL: not a URL of the form "
                 "redis[s]://[[user]:password@]host:port[/db]");
        free(c);
        return NULL;
    }
    c->ttl_s = ttl_s;
    return c;
}

cache_t *cache_dup(const cache_t *c)
{
    cache_t *d = c != NULL ? calloc(1, sizeof(*d)) : NULL;

    if (d == NULL)
        return NULL;
    d->url = c->url;
    d->ttl_s = c->ttl_s;
    return d;
}

void cache_free(cache_t *c)
{
    if (c == NULL)
        return;
    rconn_free(c->ctx);
    free(c);
}

const char *cache_errstr(const cache_t *c)
{
    return c->errstr;
}

static void disconnect(cache_t *c, const char *why)
{
    snprintf(c->errstr, sizeof(c->errstr), "redis: %s", why);
    rconn_free(c->ctx);
    c->ctx = NULL;
    c->next_attempt_us = clock_mono_us() + 1000000;
}

/* A command that must answer OK or a number; returns 0 or -1 (and disconnects). */
static int simple(cache_t *c, redisReply *r)
{
    if (r == NULL) {
        disconnect(c, c->ctx ? rconn_errstr(c->ctx) : "no reply");
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        char why[200];
        snprintf(why, sizeof(why), "%.*s", (int)(r->len > 150 ? 150 : r->len), r->str);
        freeReplyObject(r);
        disconnect(c, why);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

/* Makes sure a connection exists. Returns 0 or -1 (not yet time to retry, or it failed). */
static int ensure(cache_t *c)
{
    char why[256];
    rconn_tls_t tls = {tls_ca, tls_cert, tls_key};
    const config_redis_url_t *u = &c->url;

    if (c->ctx != NULL)
        return 0;
    if (clock_mono_us() < c->next_attempt_us)
        return -1;
    /* The TLS handshake is a few more round trips than a TCP connect: allow it a little more. */
    c->ctx = rconn_connect(u->host, u->port, u->tls ? 1000 : 300, 500, u->tls ? &tls : NULL, why,
                           sizeof(why));
    if (c->ctx == NULL) {
        disconnect(c, why);
        return -1;
    }
    /* AUTH user password: an ACL user (Redis 6+); AUTH password: the default user. */
    if (u->user[0] != '\0' &&
        simple(c, rconn_command(c->ctx, "AUTH %s %s", u->user, u->password)) < 0)
        return -1;
    if (u->user[0] == '\0' && u->password[0] != '\0' &&
        simple(c, rconn_command(c->ctx, "AUTH %s", u->password)) < 0)
        return -1;
    if (u->db != 0 && simple(c, rconn_command(c->ctx, "SELECT %d", u->db)) < 0)
        return -1;
    c->errstr[0] = '\0';
    return 0;
}

int cache_put(cache_t *c, const char *key, const char *json, int64_t version)
{
    char v[24], ttl[16];
    redisReply *r;

    if (ensure(c) < 0)
        return -1;
    snprintf(v, sizeof(v), "%" PRId64, version);
    snprintf(ttl, sizeof(ttl), "%d", c->ttl_s);
    r = rconn_command(c->ctx, "EVAL %s 1 %s %s %s %s", put_script, key, json, v, ttl);
    if (r == NULL) {
        disconnect(c, rconn_errstr(c->ctx));
        return -1;
    }
    if (r->type != REDIS_REPLY_INTEGER) {
        char why[200];
        snprintf(why, sizeof(why), "unexpected reply to EVAL: %.*s",
                 (int)(r->type == REDIS_REPLY_ERROR && r->len < 150 ? r->len : 0),
                 r->type == REDIS_REPLY_ERROR ? r->str : "");
        freeReplyObject(r);
        disconnect(c, why);
        return -1;
    }
    int written = r->integer == 1;
    freeReplyObject(r);
    return written;
}

int cache_put_many(cache_t *c, cache_entry_t *entries, size_t n)
{
    char ttl[16];
    size_t sent = 0, failed = 0;

    for (size_t i = 0; i < n; i++)
        entries[i].result = -1;
    if (n == 0)
        return 0;
    if (ensure(c) < 0)
        return (int)n;
    snprintf(ttl, sizeof(ttl), "%d", c->ttl_s);
    for (; sent < n; sent++) {
        char v[24];
        snprintf(v, sizeof(v), "%" PRId64, entries[sent].version);
        if (rconn_append(c->ctx, "EVAL %s 1 %s %s %s %s", put_script, entries[sent].key,
                         entries[sent].json, v, ttl) < 0)
            break;
    }
    for (size_t i = 0; i < sent; i++) {
        redisReply *r = rconn_get_reply(c->ctx);
        if (r == NULL) {
            disconnect(c, rconn_errstr(c->ctx));
            break; /* the rest stay failed; the connection is gone */
        }
        if (r->type == REDIS_REPLY_INTEGER)
            entries[i].result = r->integer == 1;
        freeReplyObject(r);
    }
    for (size_t i = 0; i < n; i++)
        failed += entries[i].result < 0;
    if (failed > 0 && c->errstr[0] == '\0')
        snprintf(c->errstr, sizeof(c->errstr), "redis: %zu writes refused", failed);
    return (int)failed;
}

char *cache_get(cache_t *c, const char *key)
{
    redisReply *r;
    char *out = NULL;

    if (ensure(c) < 0)
        return NULL;
    r = rconn_command(c->ctx, "GET %s", key);
    if (r == NULL) {
        disconnect(c, rconn_errstr(c->ctx));
        return NULL;
    }
    if (r->type == REDIS_REPLY_STRING)
        out = strndup(r->str, r->len);
    freeReplyObject(r);
    return out;
}

int cache_remember(PGconn *conn, const char *key, const char *json, int64_t version, char *err,
                   size_t errlen)
{
    char v[24];
    const char *params[3] = {key, json, v};
    PGresult *res;

    snprintf(v, sizeof(v), "%" PRId64, version);
    res = PQexecParams(conn,
                       "INSERT INTO cache_pending (cache_key, value, version) VALUES ($1, $2, $3) "
                       "ON CONFLICT (cache_key) DO UPDATE SET value = EXCLUDED.value, "
                       "version = EXCLUDED.version, failed_at = now() "
                       "WHERE cache_pending.version <= EXCLUDED.version",
                       3, NULL, params, NULL, NULL, 0);
    if (pg_expect(res, PGRES_COMMAND_OK, "cache.remember", err, errlen) < 0)
        return -1;
    PQclear(res);
    return 0;
}

int cache_drain(cache_t *c, PGconn *conn, int max, char *err, size_t errlen)
{
    char lim[16];
    const char *p1[1] = {lim};
    PGresult *res;
    int written = 0;

    snprintf(lim, sizeof(lim), "%d", max);
    res = PQexecParams(conn,
                       "SELECT cache_key, value, version FROM cache_pending "
                       "ORDER BY failed_at LIMIT $1",
                       1, NULL, p1, NULL, NULL, 0);
    if (pg_expect(res, PGRES_TUPLES_OK, "cache.drain", err, errlen) < 0)
        return -1;
    int fk = PQfnumber(res, "cache_key"), fv = PQfnumber(res, "value"),
        fver = PQfnumber(res, "version");
    for (int i = 0; i < PQntuples(res); i++) {
        const char *key = PQgetvalue(res, i, fk);
        const char *ver = PQgetvalue(res, i, fver);
        if (cache_put(c, key, PQgetvalue(res, i, fv), strtoll(ver, NULL, 10)) < 0) {
            snprintf(err, errlen, "%s", c->errstr);
            PQclear(res);
            return -1;
        }
        const char *p2[2] = {key, ver};
        PGresult *d =
            PQexecParams(conn, "DELETE FROM cache_pending WHERE cache_key = $1 AND version = $2", 2,
                         NULL, p2, NULL, NULL, 0);
        if (pg_expect(d, PGRES_COMMAND_OK, "cache.forget", err, errlen) < 0) {
            PQclear(res);
            return -1;
        }
        PQclear(d);
        written++;
    }
    PQclear(res);
    return written;
}
