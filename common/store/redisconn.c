/* redisconn.c - one blocking connection to Redis, plain or TLS (see redisconn.h). */
#include "redisconn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct rconn {
    int fd;
    SSL_CTX *ctx; /* NULL: plain TCP */
    SSL *ssl;
    redisReader *reader;
    char *out; /* queued commands (malloc'd), outlen bytes */
    size_t outlen;
    char errstr[256];
};

/* A peer that closes the connection must not end the process with SIGPIPE, whatever the
 * program's disposition of that signal (recobroctl does not ignore it). The plain socket is
 * written with send(MSG_NOSIGNAL); OpenSSL writes with write(2), so around its calls SIGPIPE is
 * blocked in this thread and one it raised is taken back before the mask is restored (the way
 * libpq does it). */
typedef struct {
    sigset_t old;
    int was_pending;
} nopipe_t;

static void nopipe_begin(nopipe_t *np)
{
    sigset_t pipe_set, pending;

    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    np->was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &np->old);
}

static void nopipe_end(nopipe_t *np)
{
    sigset_t pipe_set, pending;
    int saved = errno;

    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    if (!np->was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
        struct timespec now = {0, 0};
        sigtimedwait(&pipe_set, NULL, &now);
    }
    pthread_sigmask(SIG_SETMASK, &np->old, NULL);
    errno = saved;
}

static void fail(rconn_t *c, const char *what, const char *why)
{
    snprintf(c->errstr, sizeof(c->errstr), "%s: %s", what, why);
}

/* OpenSSL's reason for the last failure (its error queue, emptied), or `fallback`. */
static const char *ssl_reason(const char *fallback)
{
    static _Thread_local char buf[200];
    unsigned long e = ERR_get_error();

    ERR_clear_error();
    if (e == 0)
        return fallback;
    ERR_error_string_n(e, buf, sizeof(buf));
    return buf;
}

/* A TCP connection to host:port within ms, blocking afterwards; -1 with c->errstr filled. */
static int tcp_connect(rconn_t *c, const char *host, int port, int ms)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai, *a;
    char ps[8];
    int fd = -1, rc;

    snprintf(ps, sizeof(ps), "%d", port);
    if ((rc = getaddrinfo(host, ps, &hints, &ai)) != 0) {
        fail(c, "connect", gai_strerror(rc));
        return -1;
    }
    for (a = ai; a != NULL; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        int flags = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        rc = connect(fd, a->ai_addr, a->ai_addrlen);
        if (rc < 0 && errno == EINPROGRESS) {
            struct pollfd pfd = {fd, POLLOUT, 0};
            int err = 0;
            socklen_t el = sizeof(err);
            rc = poll(&pfd, 1, ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 &&
                         err == 0
                     ? 0
                     : -1;
            if (rc < 0)
                errno = err != 0 ? err : ETIMEDOUT;
        }
        if (rc == 0) {
            fcntl(fd, F_SETFL, flags);
            break;
        }
        fail(c, "connect", strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    c->fd = fd;
    return fd < 0 ? -1 : 0;
}

/* The TLS handshake over c->fd, verifying the server against tls->ca_file and host. */
static int tls_connect(rconn_t *c, const char *host, const rconn_tls_t *tls)
{
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (c->ctx == NULL) {
        fail(c, "tls", ssl_reason("cannot create a context"));
        return -1;
    }
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    if ((tls->ca_file && tls->ca_file[0] ? SSL_CTX_load_verify_locations(c->ctx, tls->ca_file, NULL)
                                         : SSL_CTX_set_default_verify_paths(c->ctx)) != 1) {
        fail(c, "tls: CA file", ssl_reason("cannot be read"));
        return -1;
    }
    if (tls->cert_file && tls->cert_file[0] &&
        (SSL_CTX_use_certificate_chain_file(c->ctx, tls->cert_file) != 1 ||
         SSL_CTX_use_PrivateKey_file(
             c->ctx, tls->key_file && tls->key_file[0] ? tls->key_file : tls->cert_file,
             SSL_FILETYPE_PEM) != 1)) {
        fail(c, "tls: client certificate", ssl_reason("cannot be read"));
        return -1;
    }
    c->ssl = SSL_new(c->ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        fail(c, "tls", ssl_reason("cannot create a session"));
        return -1;
    }
    /* The name to verify: an IP address literal is matched against the certificate's IP
     * addresses, anything else against its DNS names (and sent as SNI). */
    unsigned char ip[16];
    X509_VERIFY_PARAM *param = SSL_get0_param(c->ssl);
    if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1) {
        X509_VERIFY_PARAM_set1_ip_asc(param, host);
    } else {
        SSL_set_tlsext_host_name(c->ssl, host);
        SSL_set1_host(c->ssl, host);
    }
    nopipe_t np;
    nopipe_begin(&np);
    int connected = SSL_connect(c->ssl);
    nopipe_end(&np);
    if (connected != 1) {
        long v = SSL_get_verify_result(c->ssl);
        fail(c, "tls handshake",
             v != X509_V_OK ? X509_verify_cert_error_string(v) : ssl_reason("failed"));
        return -1;
    }
    return 0;
}

rconn_t *rconn_connect(const char *host, int port, int connect_ms, int io_ms,
                       const rconn_tls_t *tls, char *err, size_t errlen)
{
    rconn_t *c = calloc(1, sizeof(*c));
    struct timeval tv = {io_ms / 1000, (io_ms % 1000) * 1000};

    if (c == NULL || (c->reader = redisReaderCreate()) == NULL) {
        snprintf(err, errlen, "out of memory");
        free(c);
        return NULL;
    }
    c->fd = -1;
    if (tcp_connect(c, host, port, connect_ms) < 0)
        goto failed;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (tls != NULL && tls_connect(c, host, tls) < 0)
        goto failed;
    return c;
failed:
    snprintf(err, errlen, "%s", c->errstr);
    rconn_free(c);
    return NULL;
}

void rconn_free(rconn_t *c)
{
    if (c == NULL)
        return;
    if (c->ssl != NULL)
        SSL_free(c->ssl);
    if (c->ctx != NULL)
        SSL_CTX_free(c->ctx);
    if (c->fd >= 0)
        close(c->fd);
    if (c->reader != NULL)
        redisReaderFree(c->reader);
    free(c->out);
    free(c);
}

static int vappend(rconn_t *c, const char *fmt, va_list ap)
{
    char *cmd = NULL;
    int n = redisvFormatCommand(&cmd, fmt, ap);

    if (n < 0) {
        fail(c, "format", "bad command");
        return -1;
    }
    char *grown = realloc(c->out, c->outlen + (size_t)n);
    if (grown == NULL) {
        redisFreeCommand(cmd);
        fail(c, "format", "out of memory");
        return -1;
    }
    memcpy(grown + c->outlen, cmd, (size_t)n);
    c->out = grown;
    c->outlen += (size_t)n;
    redisFreeCommand(cmd);
    return 0;
}

int rconn_append(rconn_t *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    int rc = vappend(c, fmt, ap);
    va_end(ap);
    return rc;
}

/* Writes n bytes; -1 with c->errstr filled. */
static int write_all(rconn_t *c, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w;
        if (c->ssl != NULL) {
            nopipe_t np;
            nopipe_begin(&np);
            w = SSL_write(c->ssl, p, n > 1 << 30 ? 1 << 30 : (int)n);
            nopipe_end(&np);
        } else {
            w = send(c->fd, p, n, MSG_NOSIGNAL);
        }
        if (w <= 0) {
            if (c->ssl == NULL && w < 0 && errno == EINTR)
                continue;
            fail(c, "write",
                 c->ssl ? ssl_reason("connection lost") : (w < 0 ? strerror(errno) : "closed"));
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

redisReply *rconn_get_reply(rconn_t *c)
{
    void *reply = NULL;
    char buf[16384];

    if (c->outlen > 0) {
        int rc = write_all(c, c->out, c->outlen);
        free(c->out);
        c->out = NULL;
        c->outlen = 0;
        if (rc < 0)
            return NULL;
    }
    for (;;) {
        if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) {
            fail(c, "protocol", c->reader->errstr);
            return NULL;
        }
        if (reply != NULL)
            return reply;
        ssize_t n;
        if (c->ssl != NULL) {
            nopipe_t np; /* reading TLS can write too (alerts, key updates) */
            nopipe_begin(&np);
            n = SSL_read(c->ssl, buf, sizeof(buf));
            nopipe_end(&np);
        } else {
            n = read(c->fd, buf, sizeof(buf));
        }
        if (n <= 0) {
            if (c->ssl == NULL && n < 0 && errno == EINTR)
                continue;
            fail(c, "read",
                 c->ssl ? ssl_reason("connection lost or timed out")
                        : (n < 0 ? (errno == EAGAIN ? "timed out" : strerror(errno)) : "closed"));
            return NULL;
        }
        if (redisReaderFeed(c->reader, buf, (size_t)n) != REDIS_OK) {
            fail(c, "protocol", c->reader->errstr);
            return NULL;
        }
    }
}

redisReply *rconn_command(rconn_t *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    int rc = vappend(c, fmt, ap);
    va_end(ap);
    return rc < 0 ? NULL : rconn_get_reply(c);
}

const char *rconn_errstr(const rconn_t *c)
{
    return c->errstr;
}
