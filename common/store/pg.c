/* pg.c - libpq helpers and array literals (see pg.h). */
#include "pg.h"

#include "clock.h"
#include "log.h"
#include "metrics.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Server notices ("relation already exists, skipping") are not errors: they go to the debug
 * log as JSON, never raw onto stderr where they would break the one-line error rule. */
static void on_notice(void *arg, const char *message)
{
    char esc[600];

    (void)arg;
    LOG_DEBUG("db.notice", "\"message\":\"%s\"",
              log_json_escape(pg_oneline(message), esc, sizeof(esc)));
}

/* Copies msg to out (size bytes) with every occurrence of secret (NULL or "": none) replaced by
 * "***": a server or libpq message may quote a host or option that holds the password. */
static void redact(const char *msg, const char *secret, char *out, size_t size)
{
    size_t sl = secret ? strlen(secret) : 0, o = 0;

    while (*msg != '\0' && o + 1 < size) {
        if (sl > 0 && strncmp(msg, secret, sl) == 0) {
            o += (size_t)snprintf(out + o, size - o, "***");
            msg += sl;
            continue;
        }
        out[o++] = *msg++;
    }
    out[o < size ? o : size - 1] = '\0';
}

/* Copies msg to out (size bytes) with the inside of every "quoted" token replaced by "...",
 * except a lone punctuation mark ("=", "]"), which is libpq's grammar, not the user's text. */
static void mask_quoted(const char *msg, char *out, size_t size)
{
    size_t o = 0;

    while (*msg != '\0' && o + 1 < size) {
        const char *close = *msg == '"' ? strchr(msg + 1, '"') : NULL;
        if (close == NULL) {
            out[o++] = *msg++;
            continue;
        }
        size_t n = (size_t)(close - msg - 1);
        if (n == 1 && !isalnum((unsigned char)msg[1]))
            o += (size_t)snprintf(out + o, size - o, "\"%c\"", msg[1]);
        else
            o += (size_t)snprintf(out + o, size - o, "\"...\"");
        msg = close + 1;
    }
    out[o < size ? o : size - 1] = '\0';
}

PGconn *pg_connect(const char *dsn, const char *app, char *err, size_t errlen)
{
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {dsn, "5", app ? app : "recobro", NULL};
    /* expand_dbname=1: the first "dbname" is the whole DSN; later keys fill what it lacks. */
    PGconn *conn = PQconnectdbParams(keys, vals, 1);

    if (conn == NULL) {
        snprintf(err, errlen, "postgresql: out of memory");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        char msg[512];
        redact(pg_oneline(PQerrorMessage(conn)), PQpass(conn), msg, sizeof(msg));
        snprintf(err, errlen, "postgresql: %s", msg);
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeProcessor(conn, on_notice, NULL);
    return conn;
}

PGconn *pg_session_conn(pg_session_t *s, int *fresh)
{
    char err[512];

    if (fresh != NULL)
        *fresh = 0;
    if (s->conn != NULL && PQstatus(s->conn) == CONNECTION_OK)
        return s->conn;
    pg_session_drop(s);
    s->conn = pg_connect(s->dsn, s->app, err, sizeof(err));
    if (s->conn != NULL && s->on_connect != NULL &&
        s->on_connect(s->ud, s->conn, err, sizeof(err)) < 0)
        pg_session_drop(s);
    if (s->conn == NULL) {
        metrics_inc("recobro_db_errors_total", "Database errors", "kind=\"connect\"", 1);
        if (clock_mono_us() >= s->next_log_us) {
            char esc[600];
            LOG_WARN("db.unavailable", "\"error\":\"%s\"", log_json_escape(err, esc, sizeof(esc)));
            s->next_log_us = clock_mono_us() + 5000000;
        }
        return NULL;
    }
    LOG_INFO("db.connected", NULL);
    if (fresh != NULL)
        *fresh = 1;
    return s->conn;
}

void pg_session_drop(pg_session_t *s)
{
    if (s->conn != NULL)
        PQfinish(s->conn);
    s->conn = NULL;
}

const char *pg_oneline(const char *msg)
{
    static _Thread_local char buf[512];
    size_t o = 0;

    for (; msg != NULL && *msg != '\0' && o + 1 < sizeof(buf); msg++)
        buf[o++] = (*msg == '\n' || *msg == '\r' || *msg == '\t') ? ' ' : *msg;
    while (o > 0 && buf[o - 1] == ' ')
        o--;
    buf[o] = '\0';
    return buf;
}

const char *pg_error_text(const PGconn *conn, const PGresult *res)
{
    static _Thread_local char buf[512];
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    if (primary != NULL) {
        snprintf(buf, sizeof(buf), "%s (SQLSTATE %s)", primary, state ? state : "?");
    } else {
        /* No server error in hand: libpq's own text (connection lost, out of memory). Only its
         * first line: after a failed statement it repeats the server's whole report. */
        const char *msg = conn ? PQerrorMessage(conn) : "";
        size_t n = strcspn(msg, "\n");
        if (n == 0 && res == NULL)
            snprintf(buf, sizeof(buf), "no result (connection lost?)");
        else if (n == 0)
            snprintf(buf, sizeof(buf), "%s", PQresStatus(PQresultStatus(res)));
        else
            snprintf(buf, sizeof(buf), "%.*s", (int)n, msg);
    }
    for (char *c = buf; *c != '\0'; c++)
        if (*c == '\n' || *c == '\r' || *c == '\t')
            *c = ' ';
    return buf;
}

int pg_expect(PGresult *res, ExecStatusType want, const char *what, char *err, size_t errlen)
{
    if (res != NULL && PQresultStatus(res) == want)
        return 0;
    snprintf(err, errlen, "%s: %s", what, pg_error_text(NULL, res));
    PQclear(res);
    return -1;
}

int pg_exec_ok(PGconn *conn, const char *sql, ExecStatusType want, char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, sql);
    if (pg_expect(res, want, "postgresql", err, errlen) < 0)
        return -1;
    PQclear(res);
    return 0;
}

bool pg_is_transient(PGconn *conn, const PGresult *res)
{
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
        return true;
    if (res == NULL)
        return true;
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (state == NULL)
        return PQstatus(conn) != CONNECTION_OK;
    /* 08: connection exception; 40001 serialization failure; 40P01 deadlock; 53: insufficient
     * resources; 57P0x: operator intervention (shutdown, crash); 55P03 lock not available. */
    return strncmp(state, "08", 2) == 0 || strcmp(state, "40001") == 0 ||
           strcmp(state, "40P01") == 0 || strncmp(state, "53", 2) == 0 ||
           strncmp(state, "57P", 3) == 0 || strcmp(state, "55P03") == 0;
}

int pg_fail(PGconn *conn, PGresult *res, const char *what, char *err, size_t errlen)
{
    int transient = pg_is_transient(conn, res);
    snprintf(err, errlen, "%s: %s", what, pg_error_text(conn, res));
    PQclear(res);
    return transient ? RESULT_TRANSIENT : -1;
}

int pg_prepare_all(PGconn *conn, const pg_statement_t *st, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        PGresult *res = PQprepare(conn, st[i].name, st[i].sql, 0, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            return pg_fail(conn, res, st[i].name, err, errlen);
        PQclear(res);
    }
    return 0;
}

PGresult *pg_run(PGconn *conn, const char *name, int n, const char *const *params,
                 ExecStatusType want, int *rc, char *err, size_t errlen)
{
    PGresult *res = PQexecPrepared(conn, name, n, params, NULL, NULL, 0);
    if (PQresultStatus(res) != want) {
        *rc = pg_fail(conn, res, name, err, errlen);
        return NULL;
    }
    *rc = 0;
    return res;
}

int pg_run_cmd(PGconn *conn, const char *name, int n, const char *const *params, char *err,
               size_t errlen)
{
    int rc;
    PQclear(pg_run(conn, name, n, params, PGRES_COMMAND_OK, &rc, err, errlen));
    return rc;
}

void pgarr_init(pgarr_t *a)
{
    a->cap = 256;
    a->buf = malloc(a->cap);
    a->oom = a->buf == NULL;
    if (a->oom)
        a->cap = 0;
    pgarr_reset(a);
}

void pgarr_free(pgarr_t *a)
{
    free(a->buf);
    a->buf = NULL;
    a->cap = a->len = a->count = 0;
}

void pgarr_reset(pgarr_t *a)
{
    a->len = 0;
    a->count = 0;
    if (a->cap >= 2) {
        a->buf[a->len++] = '{';
        a->buf[a->len] = '\0';
    }
}

static int reserve(pgarr_t *a, size_t more)
{
    if (a->oom)
        return -1;
    if (a->len + more + 2 <= a->cap)
        return 0;
    size_t ncap = a->cap ? a->cap : 256;
    while (a->len + more + 2 > ncap)
        ncap *= 2;
    char *nb = realloc(a->buf, ncap);
    if (nb == NULL) {
        a->oom = 1;
        return -1;
    }
    a->buf = nb;
    a->cap = ncap;
    return 0;
}

static void separator(pgarr_t *a)
{
    if (a->count++ > 0)
        a->buf[a->len++] = ',';
}

void pgarr_add_text(pgarr_t *a, const char *s, size_t len)
{
    if (reserve(a, 2 * len + 3) < 0)
        return;
    separator(a);
    a->buf[a->len++] = '"';
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\')
            a->buf[a->len++] = '\\';
        a->buf[a->len++] = s[i];
    }
    a->buf[a->len++] = '"';
    a->buf[a->len] = '\0';
}

void pgarr_add_cstr(pgarr_t *a, const char *s)
{
    if (s == NULL)
        pgarr_add_null(a);
    else
        pgarr_add_text(a, s, strlen(s));
}

void pgarr_add_int64(pgarr_t *a, int64_t v)
{
    if (reserve(a, 24) < 0)
        return;
    separator(a);
    a->len += (size_t)snprintf(a->buf + a->len, a->cap - a->len, "%" PRId64, v);
}

void pgarr_add_bytea(pgarr_t *a, const void *p, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *b = p;

    if (p == NULL) {
        pgarr_add_null(a);
        return;
    }
    if (reserve(a, 2 * len + 6) < 0)
        return;
    separator(a);
    /* "\\x...": the array parser turns \\ into \, and bytea reads \x as hex. */
    memcpy(a->buf + a->len, "\"\\\\x", 4);
    a->len += 4;
    for (size_t i = 0; i < len; i++) {
        a->buf[a->len++] = hex[b[i] >> 4];
        a->buf[a->len++] = hex[b[i] & 15];
    }
    a->buf[a->len++] = '"';
    a->buf[a->len] = '\0';
}

void pgarr_add_null(pgarr_t *a)
{
    if (reserve(a, 5) < 0)
        return;
    separator(a);
    memcpy(a->buf + a->len, "NULL", 4);
    a->len += 4;
    a->buf[a->len] = '\0';
}

const char *pgarr_str(pgarr_t *a)
{
    if (reserve(a, 1) < 0)
        return NULL;
    a->buf[a->len] = '}';
    a->buf[a->len + 1] = '\0';
    /* The closing brace is not counted in len, so adding more elements stays possible. */
    return a->buf;
}

int pg_check_dsn(const char *dsn, char *why, size_t whylen)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(dsn, &perr);

    if (opts != NULL) {
        PQconninfoFree(opts);
        return 0;
    }
    /* libpq's message quotes pieces of the string ("missing \"=\" after \"er2\"", or the whole
     * URI), which can be pieces of the password: say what is wrong, not what was written. */
    if (perr != NULL)
        mask_quoted(pg_oneline(perr), why, whylen);
    else
        snprintf(why, whylen, "out of memory");
    PQfreemem(perr);
    return -1;
}
