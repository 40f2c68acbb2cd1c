/* log.c - JSON-line logging on stderr (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

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

void log_emit(log_level_t level, const char *event, const char *fields, ...)
{
    char line[4096], ts[40];
    struct timeval tv;
    struct tm tm;
    size_t n;
    va_list ap;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
    n = (size_t)snprintf(line, sizeof(line),
                         "{\"ts\":\"%s\",\"level\":\"%s\",\"service\":\"%s\",\"event\":\"%s\"", ts,
                         level_names[level], log_service, event);
    if (fields != NULL && fields[0] != '\0' && n < sizeof(line) - 2) {
        line[n++] = ',';
        va_start(ap, fields);
        int w = vsnprintf(line + n, sizeof(line) - n, fields, ap);
        va_end(ap);
        n = (w < 0) ? n - 1 : n + (size_t)w;
        if (n > sizeof(line) - 3)
            n = sizeof(line) - 3; /* truncated: still close the object */
    }
    line[n++] = '}';
    line[n++] = '\n';
    /* One write per line, so concurrent threads never interleave within a line. */
    fwrite(line, 1, n, stderr);
    fflush(stderr);
}
