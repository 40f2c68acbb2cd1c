/* outbox.c - buffering and COPY-writing outbox rows (see outbox.h). */
#include "outbox.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonout.h"
#include "pg.h"

struct outbox {
    char *buf; /* COPY text lines, one per message */
    size_t len, cap;
    size_t count;
};

outbox_t *outbox_new(void)
{
    return calloc(1, sizeof(outbox_t));
}

void outbox_free(outbox_t *ob)
{
    if (ob == NULL)
        return;
    free(ob->buf);
    free(ob);
}

void outbox_clear(outbox_t *ob)
{
    ob->len = 0;
    ob->count = 0;
}

size_t outbox_count(const outbox_t *ob)
{
    return ob->count;
}

int outbox_shard(const void *key, size_t keylen)
{
    const unsigned char *p = key;
    uint32_t h = 2166136261u;

    if (key == NULL)
        return 0;
    for (size_t i = 0; i < keylen; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return (int)(h % OUTBOX_SHARDS);
}

static int reserve(outbox_t *ob, size_t more)
{
    if (ob->len + more <= ob->cap)
        return 0;
    size_t ncap = ob->cap ? ob->cap : 65536;
    while (ob->len + more > ncap)
        ncap *= 2;
    char *nb = realloc(ob->buf, ncap);
    if (nb == NULL)
        return -1;
    ob->buf = nb;
    ob->cap = ncap;
    return 0;
}

/* Appends text escaped for COPY's text format (backslash, tab, newline, carriage return). */
static void put_copy_text(outbox_t *ob, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        switch (c) {
        case '\\':
            ob->buf[ob->len++] = '\\';
            ob->buf[ob->len++] = '\\';
            break;
        case '\t':
            ob->buf[ob->len++] = '\\';
            ob->buf[ob->len++] = 't';
            break;
        case '\n':
            ob->buf[ob->len++] = '\\';
            ob->buf[ob->len++] = 'n';
            break;
        case '\r':
            ob->buf[ob->len++] = '\\';
            ob->buf[ob->len++] = 'r';
            break;
        default:
            ob->buf[ob->len++] = c;
        }
    }
}

/* Appends bytes as a bytea in hex form, escaped for COPY ("\\x4142"). */
static void put_copy_bytea(outbox_t *ob, const void *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *b = p;
    char *o = ob->buf + ob->len; /* a local, not ob->len: the loop keeps it in a register */

    memcpy(o, "\\\\x", 3);
    o += 3;
    for (size_t i = 0; i < n; i++, o += 2) {
        o[0] = hex[b[i] >> 4];
        o[1] = hex[b[i] & 15];
    }
    ob->len = (size_t)(o - ob->buf);
}

int outbox_add(outbox_t *ob, const char *topic, const void *key, size_t keylen, const void *payload,
               size_t len, const char *event_id, const outbox_header_t *headers, size_t nh)
{
    char shard[16];
    pgarr_t names, values;
    const char *ns, *vs;
    int rc = -1;

    pgarr_init(&names);
    pgarr_init(&values);
    for (size_t i = 0; i < nh; i++) {
        pgarr_add_cstr(&names, headers[i].name);
        pgarr_add_bytea(&values, headers[i].value ? headers[i].value : "", headers[i].len);
    }
    ns = pgarr_str(&names);
    vs = pgarr_str(&values);
    if (ns == NULL || vs == NULL)
        goto out;
    size_t idlen = event_id ? strlen(event_id) : 0;
    /* Worst case every byte doubles when escaped; bytea hex doubles again. */
    size_t need = 16 + 2 * strlen(topic) + 4 * keylen + 8 + 4 * len + 8 + 2 * strlen(ns) +
                  2 * strlen(vs) + 2 * idlen + 16;
    if (reserve(ob, need) < 0)
        goto out;
    int sl = snprintf(shard, sizeof(shard), "%d\t", outbox_shard(key, keylen));
    memcpy(ob->buf + ob->len, shard, (size_t)sl);
    ob->len += (size_t)sl;
    put_copy_text(ob, topic, strlen(topic));
    ob->buf[ob->len++] = '\t';
    if (key == NULL) {
        memcpy(ob->buf + ob->len, "\\N", 2);
        ob->len += 2;
    } else {
        put_copy_bytea(ob, key, keylen);
    }
    ob->buf[ob->len++] = '\t';
    put_copy_bytea(ob, payload, len);
    ob->buf[ob->len++] = '\t';
    put_copy_text(ob, ns, strlen(ns));
    ob->buf[ob->len++] = '\t';
    put_copy_text(ob, vs, strlen(vs));
    ob->buf[ob->len++] = '\t';
    if (event_id == NULL) {
        memcpy(ob->buf + ob->len, "\\N", 2);
        ob->len += 2;
    } else {
        put_copy_text(ob, event_id, idlen);
    }
    ob->buf[ob->len++] = '\n';
    ob->count++;
    rc = 0;
out:
    pgarr_free(&names);
    pgarr_free(&values);
    return rc;
}

int outbox_add_event_text(outbox_t *ob, const char *topic, const char *key, const char *text,
                          size_t len, const char *event_id)
{
    static const char ctype[] = "application/cloudevents+json; charset=UTF-8";
    outbox_header_t h = {"content-type", ctype, sizeof(ctype) - 1};

    return outbox_add(ob, topic, key, key ? strlen(key) : 0, text, len, event_id, &h, 1);
}

int outbox_add_event(outbox_t *ob, const char *topic, const char *key, const json_t *event)
{
    char *text = jsonout_dumps(event);
    const char *id = json_string_value(json_object_get(event, "id"));
    int rc;

    if (text == NULL)
        return -1;
    rc = outbox_add_event_text(ob, topic, key, text, strlen(text), id);
    free(text);
    return rc;
}

int outbox_copy(outbox_t *ob, PGconn *conn, char *err, size_t errlen)
{
    PGresult *res;

    if (ob->count == 0)
        return 0;
    res = PQexec(conn, "COPY outbox (shard, topic, msg_key, payload, header_names, header_values,"
                       " event_id) FROM STDIN");
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        int rc = pg_is_transient(conn, res) ? RESULT_TRANSIENT : -1;
        pg_expect(res, PGRES_COPY_IN, "outbox.copy", err, errlen);
        return rc;
    }
    PQclear(res);
    if (PQputCopyData(conn, ob->buf, (int)ob->len) != 1 || PQputCopyEnd(conn, NULL) != 1) {
        snprintf(err, errlen, "outbox.copy: %s", pg_error_text(conn, NULL));
        while ((res = PQgetResult(conn)) != NULL)
            PQclear(res);
        return RESULT_TRANSIENT;
    }
    int rc = 0;
    while ((res = PQgetResult(conn)) != NULL) {
        if (rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK) {
            rc = pg_is_transient(conn, res) ? RESULT_TRANSIENT : -1;
            snprintf(err, errlen, "outbox.copy: %s", pg_error_text(conn, res));
        }
        PQclear(res);
    }
    if (rc < 0)
        return rc;
    outbox_clear(ob);
    return 0;
}

int outbox_flush(outbox_t *ob, PGconn *conn, char *err, size_t errlen)
{
    if (ob->count == 0)
        return 0;
    int rc = outbox_copy(ob, conn, err, errlen);
    if (rc != 0)
        return rc;
    PGresult *res = PQexec(conn, OUTBOX_NOTIFY_SQL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = pg_is_transient(conn, res) ? RESULT_TRANSIENT : -1;
        pg_expect(res, PGRES_COMMAND_OK, "outbox.notify", err, errlen);
        return rc;
    }
    PQclear(res);
    return 0;
}
