/* redisconn.h - one blocking connection to Redis, plain TCP or TLS (OpenSSL), with hiredis'
 * command formatter and reply reader.
 *
 * Why not redisContext: Debian 12's hiredis is 0.14, which has no TLS (hiredis_ssl came with
 * 1.0), and its context reads and writes the socket itself. hiredis' formatter and reader work
 * on buffers, so the socket (and TLS over it) is ours and everything Redis-specific is still
 * hiredis'. Errors live on the connection (rconn_errstr()), as in hiredis; after one the
 * connection is unusable: free it and connect again. */
#ifndef RECOBRO_REDISCONN_H
#define RECOBRO_REDISCONN_H

#include <hiredis/hiredis.h>
#include <stddef.h>

typedef struct rconn rconn_t;

/* TLS settings; NULL or "" fields: the system's CAs, no client certificate. */
typedef struct rconn_tls {
    const char *ca_file;
    const char *cert_file;
    const char *key_file;
} rconn_tls_t;

/* Connects to host:port within connect_ms, over TLS when tls is not NULL (the server's
 * certificate must chain to the CA and name host, as a DNS name or an IP address), and sets
 * io_ms as the limit of every later read and write. Returns a new connection (rconn_free()),
 * or NULL with the reason in err. */
rconn_t *rconn_connect(const char *host, int port, int connect_ms, int io_ms,
                       const rconn_tls_t *tls, char *err, size_t errlen);
void rconn_free(rconn_t *c);

/* Queues a command (printf-like, as redisCommand()). Returns 0, or -1 (out of memory or a bad
 * format; see rconn_errstr()). Nothing is sent until rconn_get_reply(). */
int rconn_append(rconn_t *c, const char *fmt, ...);

/* Sends what is queued and reads the next reply: a new reply (freeReplyObject()), or NULL on
 * a failure of the connection (see rconn_errstr()). */
redisReply *rconn_get_reply(rconn_t *c);

/* rconn_append() then rconn_get_reply(). */
redisReply *rconn_command(rconn_t *c, const char *fmt, ...);

/* The last error ("" when none); borrowed. */
const char *rconn_errstr(const rconn_t *c);

#endif
