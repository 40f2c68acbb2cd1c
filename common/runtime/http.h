/* http.h - the operational endpoints of every service, served by libmicrohttpd on its own
 * thread: /metrics (Prometheus text), /healthz (alive), /readyz (ready for traffic). */
#ifndef RECOBRO_HTTP_H
#define RECOBRO_HTTP_H

typedef struct http_server http_server_t;

/* Answers whether the service is ready (connected and assigned); called from the HTTP thread,
 * so it must only read atomics. */
typedef int (*http_ready_fn)(void *ud);

/* Starts serving on `addr` ("host:port"; port 0 picks a free one). Returns a new server, or
 * NULL with a one-line reason in err (e.g. the port is taken). Free with http_server_free(). */
http_server_t *http_server_new(const char *addr, http_ready_fn ready, void *ud, char *err,
                               unsigned errlen);

/* The port actually bound (useful with port 0). */
int http_server_port(const http_server_t *s);

/* Stops serving and frees. NULL is a no-op. */
void http_server_free(http_server_t *s);

#endif
