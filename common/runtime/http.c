/* http.c - /metrics, /healthz and /readyz over libmicrohttpd (see http.h). */
#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "config.h"
#include "log.h"
#include "metrics.h"

/* Connections the endpoints hold at most, all peers together, and from one peer address. Probes
 * and scrapes need a handful; the limits keep a flood of idle connections (a misbehaving client,
 * a port scan) from exhausting the process's descriptors, which Kafka and PostgreSQL need too.
 * epoll has no FD_SETSIZE ceiling, so a descriptor above 1024 is served like any other. */
#define HTTP_MAX_CONNECTIONS 4096
#define HTTP_MAX_PER_PEER    256
#define HTTP_FD_RESERVE      256 /* descriptors kept for Kafka, PostgreSQL, Redis and logs */
#define HTTP_IDLE_TIMEOUT_S  10

struct http_server {
    struct MHD_Daemon *daemon;
    http_ready_fn ready;
    void *ud;
    int port;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
                             char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, mode);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", type);
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    http_server_t *s = cls;

    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "method not allowed\n", 19,
                     MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/metrics") == 0) {
        size_t len;
        metrics_set("recobro_ready", NULL, NULL, s->ready == NULL || s->ready(s->ud) ? 1 : 0);
        char *body = metrics_render(&len);
        if (body == NULL)
            return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", "out of memory\n", 14,
                         MHD_RESPMEM_PERSISTENT);
        return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4", body, len,
                     MHD_RESPMEM_MUST_FREE);
    }
    if (strcmp(url, "/healthz") == 0)
        return reply(conn, MHD_HTTP_OK, "text/plain", "ok\n", 3, MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/readyz") == 0) {
        if (s->ready == NULL || s->ready(s->ud))
            return reply(conn, MHD_HTTP_OK, "text/plain", "ready\n", 6, MHD_RESPMEM_PERSISTENT);
        return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", "not ready\n", 10,
                     MHD_RESPMEM_PERSISTENT);
    }
    return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n", 10, MHD_RESPMEM_PERSISTENT);
}

/* libmicrohttpd's own messages (a refused connection, a socket error) as JSON log lines. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512], esc[1100];
    size_t n;

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    LOG_WARN("http.server", "\"message\":\"%s\"", log_json_escape(msg, esc, sizeof(esc)));
}

/* How many connections the endpoints may hold: HTTP_MAX_CONNECTIONS, or fewer when the
 * process's descriptor limit is lower. The soft limit is first raised to the hard one (allowed
 * without privileges), since a default soft limit of 1024 is meant for select(), not epoll. */
static unsigned connection_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 512;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max == RLIM_INFINITY ? 65536 : rl.rlim_max;
        struct rlimit up = {want, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl.rlim_cur = want;
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > HTTP_MAX_CONNECTIONS + HTTP_FD_RESERVE)
        return HTTP_MAX_CONNECTIONS;
    return rl.rlim_cur > 2 * HTTP_FD_RESERVE ? (unsigned)(rl.rlim_cur - HTTP_FD_RESERVE)
                                             : (unsigned)(rl.rlim_cur / 2);
}

http_server_t *http_server_new(const char *addr, http_ready_fn ready, void *ud, char *err,
                               unsigned errlen)
{
    char host[256];
    int port;
    struct sockaddr_in sin;
    http_server_t *s;

    if (config_parse_addr(addr, host, sizeof(host), &port) < 0) {
        snprintf(err, errlen, "RECOBRO_HTTP_ADDR: \"%s\" is not host:port", addr);
        return NULL;
    }
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0) {
        sin.sin_addr.s_addr = htonl(INADDR_ANY);
    } else if (strcmp(host, "localhost") == 0) {
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
        snprintf(err, errlen, "RECOBRO_HTTP_ADDR: \"%s\" is not an IPv4 address", host);
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->ready = ready;
    s->ud = ud;
    /* One internal thread on epoll; idle connections are closed after HTTP_IDLE_TIMEOUT_S. */
    s->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, (uint16_t)port, NULL,
        NULL, handle, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT,
        connection_limit(), MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)HTTP_MAX_PER_PEER,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
        NULL, MHD_OPTION_END);
    if (s->daemon == NULL) {
        snprintf(err, errlen, "RECOBRO_HTTP_ADDR: cannot listen on %s (in use or not allowed)",
                 addr);
        free(s);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : port;
    return s;
}

int http_server_port(const http_server_t *s)
{
    return s->port;
}

void http_server_free(http_server_t *s)
{
    if (s == NULL)
        return;
    MHD_stop_daemon(s->daemon);
    free(s);
}
