/* jsonout.c - compact JSON text of a jansson value, as json_dumps() writes it (see jsonout.h). */
#include "jsonout.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* jansson's JSON_PARSER_MAX_DEPTH, which its dumper also refuses to go past. */
#define JSONOUT_MAX_DEPTH 2048

typedef jsonout_t jo_buf_t;

/* Grows the buffer to hold `more` bytes and the final NUL; false when it cannot. */
static bool jo_grow(jo_buf_t *b, size_t more)
{
    if (b->failed)
        return false;
    size_t cap = b->cap ? b->cap : 512;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->buf, cap);
    if (p == NULL) {
        b->failed = true;
        return false;
    }
    b->buf = p;
    b->cap = cap;
    return true;
}

static inline bool jo_reserve(jo_buf_t *b, size_t more)
{
    return b->len + more < b->cap || jo_grow(b, more);
}

static inline void jo_put(jo_buf_t *b, const char *s, size_t n)
{
    if (jo_reserve(b, n)) {
        memcpy(b->buf + b->len, s, n);
        b->len += n;
    }
}

static inline void jo_putc(jo_buf_t *b, char c)
{
    if (jo_reserve(b, 1))
        b->buf[b->len++] = c;
}

/* The length of the UTF-8 sequence starting with byte c and valid as jansson's utf8_check_full()
 * sees it, or 0. */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;

    if (c < 0x80)
        return 1;
    if (c < 0xC2 || c > 0xF4)
        return 0;
    n = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (left < n)
        return 0;
    cp = c & (0xFF >> (n + 1));
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || (n == 3 && cp < 0x800) ||
        (n == 4 && cp < 0x10000))
        return 0;
    return n;
}

/* Whether byte c stands for itself in a JSON string (printable ASCII but '"' and '\\'). */
static inline bool plain(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* The string in quotes, escaped as jansson's dump_string() without JSON_ENSURE_ASCII or
 * JSON_ESCAPE_SLASH: '"', '\\' and the C0 controls (short forms where JSON has them, else
 * \u00XX in upper-case hex); everything else as is. */
static void jo_string(jo_buf_t *b, const char *str, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *s = (const unsigned char *)str;
    size_t run = 0, i = 0;

    if (!jo_reserve(b, len + 2)) /* the usual case, nothing escaped, in one go */
        return;
    b->buf[b->len++] = '"';
    while (i < len) {
        while (i < len && plain(s[i])) /* the ASCII that is written as it is */
            i++;
        if (i == len)
            break;
        unsigned char c = s[i];
        if (c >= 0x80) {
            size_t n = utf8_seq(s + i, len - i);
            if (n == 0) {
                b->failed = true;
                return;
            }
            i += n;
            continue;
        }
        jo_put(b, str + run, i - run);
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        switch (c) {
        case '"':
            jo_put(b, "\\\"", 2);
            break;
        case '\\':
            jo_put(b, "\\\\", 2);
            break;
        case '\b':
            jo_put(b, "\\b", 2);
            break;
        case '\f':
            jo_put(b, "\\f", 2);
            break;
        case '\n':
            jo_put(b, "\\n", 2);
            break;
        case '\r':
            jo_put(b, "\\r", 2);
            break;
        case '\t':
            jo_put(b, "\\t", 2);
            break;
        default:
            jo_put(b, esc, sizeof(esc));
            break;
        }
        run = ++i;
    }
    jo_put(b, str + run, len - run);
    jo_putc(b, '"');
}

/* An integer in decimal, as "%" JSON_INTEGER_FORMAT writes it (without printf's cost). */
static void jo_integer(jo_buf_t *b, json_int_t i)
{
    char num[24];
    size_t at = sizeof(num);
    /* In unsigned arithmetic, so that the most negative value has a magnitude. */
    unsigned long long u = i < 0 ? 0ull - (unsigned long long)i : (unsigned long long)i;

    do {
        num[--at] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (i < 0)
        num[--at] = '-';
    jo_put(b, num + at, sizeof(num) - at);
}

/* A real as jansson writes it (its own dumper, so the digits are its digits). */
static void jo_real(jo_buf_t *b, const json_t *v)
{
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

    if (text == NULL) {
        b->failed = true;
        return;
    }
    jo_put(b, text, strlen(text));
    free(text);
}

static void jo_value(jo_buf_t *b, const json_t *v, int depth);

static void jo_object(jo_buf_t *b, const json_t *v, int depth)
{
    bool first = true;

    jo_putc(b, '{');
    for (void *it = json_object_iter((json_t *)v); it != NULL && !b->failed;
         it = json_object_iter_next((json_t *)v, it)) {
        if (!first)
            jo_putc(b, ',');
        first = false;
        jo_string(b, json_object_iter_key(it), json_object_iter_key_len(it));
        jo_putc(b, ':');
        jo_value(b, json_object_iter_value(it), depth + 1);
    }
    jo_putc(b, '}');
}

static void jo_array(jo_buf_t *b, const json_t *v, int depth)
{
    size_t n = json_array_size(v);

    jo_putc(b, '[');
    for (size_t i = 0; i < n && !b->failed; i++) {
        if (i > 0)
            jo_putc(b, ',');
        jo_value(b, json_array_get(v, i), depth + 1);
    }
    jo_putc(b, ']');
}

static void jo_value(jo_buf_t *b, const json_t *v, int depth)
{
    if (depth > JSONOUT_MAX_DEPTH) {
        b->failed = true;
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        jo_object(b, v, depth);
        break;
    case JSON_ARRAY:
        jo_array(b, v, depth);
        break;
    case JSON_STRING:
        jo_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        jo_integer(b, json_integer_value(v));
        break;
    case JSON_REAL:
        jo_real(b, v);
        break;
    case JSON_TRUE:
        jo_put(b, "true", 4);
        break;
    case JSON_FALSE:
        jo_put(b, "false", 5);
        break;
    case JSON_NULL:
        jo_put(b, "null", 4);
        break;
    }
}

void jsonout_raw(jsonout_t *o, const char *text, size_t len)
{
    jo_put(o, text, len);
}

void jsonout_string(jsonout_t *o, const char *s)
{
    if (s == NULL)
        o->failed = true;
    else
        jo_string(o, s, strlen(s));
}

void jsonout_value(jsonout_t *o, const json_t *v)
{
    if (v == NULL)
        o->failed = true;
    else
        jo_value(o, v, 0);
}

char *jsonout_finish(jsonout_t *o, size_t *len)
{
    char *text = o->buf;

    if (o->failed || text == NULL) {
        free(text);
        text = NULL;
    } else {
        text[o->len] = '\0';
        if (len != NULL)
            *len = o->len;
    }
    *o = (jsonout_t)JSONOUT_INIT;
    return text;
}

char *jsonout_dumps(const json_t *v)
{
    jsonout_t o = JSONOUT_INIT;

    if (!json_is_object(v) && !json_is_array(v)) /* NULL too: jansson needs JSON_ENCODE_ANY */
        return NULL;
    jo_value(&o, v, 0);
    return jsonout_finish(&o, NULL);
}
