/* http.c - /metrics, /healthz and /readyz over libmicrohttpd (see http.h). */
#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "metrics.h"

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
    s->daemon =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port, NULL,
                         NULL, handle, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
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
