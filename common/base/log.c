/* log.c - JSON-line logging on stderr (see log.h), built and serialized by jansson. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <glib.h>
#include <jansson.h>

log_level_t log_min_level = LOG_INFO;
static char log_service[64] = "recobro";

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_service(const char *service)
{
    snprintf(log_service, sizeof(log_service), "%s", service ? service : "recobro");
}

int log_level_parse(const char *s, log_level_t *out)
{
    for (int i = 0; i < 4; i++) {
        if (s != NULL && strcmp(s, level_names[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    }
    return -1;
}

const char *log_json_escape(const char *s, char *buf, size_t size)
{
    size_t o = 0;

    if (size == 0)
        return buf;
    for (; s != NULL && *s != '\0' && o + 7 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(buf + o, size - o, "\\u%04x", c);
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o] = '\0';
    return buf;
}

/* The caller's fragment of members as a JSON object (a new reference): parsed by jansson, or,
 * when it is not valid JSON (a caller's bug: an unescaped value), kept as one string member
 * "fields_unparsed" so the line stays JSON. */
static json_t *fields_object(const char *fields, va_list ap)
{
    char *frag = g_strdup_vprintf(fields, ap);
    char *wrapped = g_strdup_printf("{%s}", frag);
    json_t *obj = json_loads(wrapped, JSON_REJECT_DUPLICATES, NULL);

    if (obj == NULL || !json_is_object(obj)) {
        json_decref(obj);
        char *valid = g_utf8_make_valid(frag, -1);
        obj = json_object();
        json_object_set_new(obj, "fields_unparsed", json_string(valid));
        g_free(valid);
    }
    g_free(frag);
    g_free(wrapped);
    return obj;
}

static int is_base_key(const char *key)
{
    return strcmp(key, "ts") == 0 || strcmp(key, "level") == 0 || strcmp(key, "service") == 0 ||
           strcmp(key, "event") == 0 || strcmp(key, "truncated") == 0;
}

/* Makes `line` shorter by about `over` bytes: cuts its longest string member (never inside a
 * UTF-8 character, never ts/level/service/event), or, when there is none left to cut, drops
 * every member but those. Marks it "truncated": true. */
static void shorten(json_t *line, size_t over)
{
    const char *key, *best = NULL;
    size_t blen = 0;
    json_t *v;
    void *tmp;

    json_object_foreach(line, key, v)
    {
        if (!is_base_key(key) && json_is_string(v) && json_string_length(v) > blen) {
            best = key;
            blen = json_string_length(v);
        }
    }
    json_object_set_new(line, "truncated", json_true());
    if (best == NULL) {
        json_object_foreach_safe(line, tmp, key, v)
        {
            if (!is_base_key(key))
                json_object_del(line, key);
        }
        return;
    }
    json_t *member = json_object_get(line, best);
    const char *str = json_string_value(member);
    /* `over` counts serialized bytes; escaping makes a string longer than its raw bytes */
    char *dumped = json_dumps(member, JSON_ENCODE_ANY | JSON_COMPACT);
    size_t dlen = dumped != NULL && strlen(dumped) > 2 ? strlen(dumped) - 2 : blen;
    free(dumped);
    size_t cut = (over * blen + dlen - 1) / dlen + 4;
    size_t keep = blen > cut ? blen - cut : 0;
    while (keep > 0 && ((unsigned char)str[keep] & 0xC0) == 0x80)
        keep--; /* back to the first byte of a character */
    json_object_set_new(line, best, json_stringn(str, keep));
}

/* `line` serialized in at most LOG_LINE_MAX - 1 bytes (a new string, free()), or NULL. */
static char *dump_fitting(json_t *line)
{
    for (int round = 0; round < 64; round++) {
        char *s = json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(12));
        if (s == NULL)
            return NULL;
        size_t n = strlen(s);
        if (n < LOG_LINE_MAX)
            return s;
        free(s);
        shorten(line, n + 1 - LOG_LINE_MAX);
    }
    return NULL;
}

void log_emit(log_level_t level, const char *event, const char *fields, ...)
{
    char ts[40];
    struct timeval tv;
    struct tm tm;
    va_list ap;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
    json_t *line = json_object();
    json_object_set_new(line, "ts", json_string(ts));
    json_object_set_new(line, "level", json_string(level_names[level]));
    json_object_set_new(line, "service", json_string(log_service));
    json_object_set_new(line, "event", json_string(event));
    if (fields != NULL && fields[0] != '\0') {
        va_start(ap, fields);
        json_t *extra = fields_object(fields, ap);
        va_end(ap);
        json_object_update_missing(line, extra); /* a member never replaces ts..event */
        json_decref(extra);
    }
    char *text = dump_fitting(line);
    json_decref(line);
    if (text == NULL)
        return;
    /* One write per line (at most PIPE_BUF bytes), so lines never interleave. */
    n = strlen(text);
    text[n] = '\n';
    fwrite(text, 1, n + 1, stderr);
    fflush(stderr);
    free(text);
}
