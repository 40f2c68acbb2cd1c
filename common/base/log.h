/* log.h - JSON-line logging on stderr, one event per line, with a level check before any
 * formatting.
 *
 * Every line is {"ts":..., "level":..., "service":..., "event":..., <fields>}. Callers pass the
 * extra fields as a printf-style fragment of JSON members (`"\"n\":%d", n`); string values that
 * come from outside go through log_json_escape() first. Never log personal data: names, phones,
 * e-mails, free text. Ids (creditor, debtor, event, task) are fine.
 *
 * The line is built and serialized by jansson, so it is always one valid JSON object: a fragment
 * that is not valid JSON is kept as the string member "fields_unparsed"; a line longer than
 * LOG_LINE_MAX bytes has its longest string members cut, on a UTF-8 character boundary and never
 * inside a string's escaping, and carries "truncated":true. */
#ifndef RECOBRO_LOG_H
#define RECOBRO_LOG_H

#include <stddef.h>

/* Longest line, newline included: one write(2) of at most PIPE_BUF bytes never interleaves. */
#define LOG_LINE_MAX 4096

typedef enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 } log_level_t;

/* The process-wide minimum level and service name; set once at start, before threads. */
extern log_level_t log_min_level;
void log_set_service(const char *service);

/* Parses "debug", "info", "warn", "error" into *out. Returns 0, or -1 when unknown. */
int log_level_parse(const char *s, log_level_t *out);

/* Writes one line. Use the LOG_* macros instead, which skip formatting below the level.
 * `fields` may be NULL or "" for none. */
void log_emit(log_level_t level, const char *event, const char *fields, ...)
    __attribute__((format(printf, 3, 4)));

/* Copies `s` into buf as the inside of a JSON string (quotes not included), truncating to fit.
 * Returns buf. NULL is written as "". */
const char *log_json_escape(const char *s, char *buf, size_t size);

#define LOG_AT(lvl, event, ...)                                                                    \
    do {                                                                                           \
        if ((lvl) >= log_min_level)                                                                \
            log_emit((lvl), (event), __VA_ARGS__);                                                 \
    } while (0)
#define LOG_DEBUG(event, ...) LOG_AT(LOG_DEBUG, event, __VA_ARGS__)
#define LOG_INFO(event, ...)  LOG_AT(LOG_INFO, event, __VA_ARGS__)
#define LOG_WARN(event, ...)  LOG_AT(LOG_WARN, event, __VA_ARGS__)
#define LOG_ERROR(event, ...) LOG_AT(LOG_ERROR, event, __VA_ARGS__)

#endif
