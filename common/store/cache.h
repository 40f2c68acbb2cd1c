/* cache.h - the hot case cache in Redis, written after the database commit, never before.
 *
 * A value is a JSON document carrying a numeric "version"; a write never replaces a newer
 * version (checked atomically in Redis by a Lua script). Redis being away never blocks
 * processing: a failed write is remembered in PostgreSQL (table cache_pending) and re-written
 * by cache_drain() when Redis answers again. Errors live on the cache (`errstr`), as in
 * hiredis. */
#ifndef RECOBRO_CACHE_H
#define RECOBRO_CACHE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cache cache_t;

/* The TLS files that rediss:// connections of every cache use (RECOBRO_REDIS_TLS_CA, _CERT,
 * _KEY; NULL or "": the system's CAs, no client certificate). Set once at start-up, before
 * any cache connects (service_init() does): a process has one Redis configuration, and the
 * services that make caches need not pass it along. */
void cache_set_tls(const char *ca_file, const char *cert_file, const char *key_file);

/* A new cache client for `url` (redis[s]://[[user]:password@]host:port[/db]; rediss: TLS,
 * user: an ACL user) writing with a TTL of
 * `ttl_s` seconds. It connects lazily, on first use. Returns NULL with a reason in err when the
 * URL is not valid. Free with cache_free() (NULL is a no-op). */
cache_t *cache_new(const char *url, int ttl_s, char *err, size_t errlen);

/* A new client for the same server, database and TTL as `c` (its own connection, made on first
 * use: a cache_t serves one thread at a time, so each thread takes its own). Returns NULL when
 * out of memory or when c is NULL. Free with cache_free(). */
cache_t *cache_dup(const cache_t *c);
void cache_free(cache_t *c);

/* Writes `json` under `key` unless Redis holds a newer version. Returns 1 when written, 0 when a
 * newer version was kept, -1 when Redis could not be reached or failed (see cache_errstr()).
 * After a failure, reconnection is attempted at most once a second. */
int cache_put(cache_t *c, const char *key, const char *json, int64_t version);

/* One write of cache_put_many(). `result` is set to 1 (written), 0 (a newer version was kept)
 * or -1 (failed). */
typedef struct cache_entry {
    const char *key;
    const char *json;
    int64_t version;
    int result;
} cache_entry_t;

/* Writes `n` entries in one pipelined round trip (what cache_put() does for one). Returns the
 * number that failed (0 when all went through). */
int cache_put_many(cache_t *c, cache_entry_t *entries, size_t n);

/* The last error text ("" when none). */
const char *cache_errstr(const cache_t *c);

/* Records a write that failed, in `conn`'s current transaction or as its own statement, keeping
 * only the newest version per key. Returns 0 or -1 with err filled. */
int cache_remember(PGconn *conn, const char *key, const char *json, int64_t version, char *err,
                   size_t errlen);

/* Re-writes up to `max` remembered entries and forgets those written. Returns how many were
 * written, or -1 (Redis or PostgreSQL failed; err filled). */
int cache_drain(cache_t *c, PGconn *conn, int max, char *err, size_t errlen);

/* Reads `key` (tests and tools): a new malloc'd string, or NULL when absent or on error. */
char *cache_get(cache_t *c, const char *key);

#endif
