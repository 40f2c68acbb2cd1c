/* jsonout.h - compact JSON text of a jansson value, byte for byte json_dumps(v, JSON_COMPACT).
 *
 * jansson's dumper calls back per token and decodes every string one code point at a time; the
 * case workers dump every task, outbox event and cache document they write, which made
 * json_dumps() a fifth of their time. This writer walks the same tree in one buffer. Its output
 * is jansson's own for every value (object members in insertion order, strings with the same
 * escapes, integers in decimal); reals are handed to jansson itself, so their text is the same
 * by construction. */
#ifndef RECOBRO_JSONOUT_H
#define RECOBRO_JSONOUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* ---- Building a text ---------------------------------------------------------------------------
 * A text written piece by piece, for documents whose fixed parts would otherwise be built as a
 * tree only to be dumped. `buf` holds `len` bytes (not NUL-terminated until jsonout_finish());
 * once an append fails (out of memory, a NULL or non-UTF-8 string) `failed` stays set and
 * jsonout_finish() returns NULL. */
typedef struct {
    char *buf;
    size_t len, cap;
    bool failed;
} jsonout_t;
#define JSONOUT_INIT                                                                               \
    {                                                                                              \
        NULL, 0, 0, false                                                                          \
    }

/* Appends text as is (the caller's JSON). */
void jsonout_raw(jsonout_t *o, const char *text, size_t len);

/* Appends s as a JSON string, as jansson writes it; a NULL s fails the text. */
void jsonout_string(jsonout_t *o, const char *s);

/* Appends v's compact text (any type), as jansson writes it; a NULL v fails the text. */
void jsonout_value(jsonout_t *o, const json_t *v);

/* The text as a new string (free() it), its length in *len (may be NULL), or NULL when an append
 * failed. Resets o to JSONOUT_INIT either way. */
__attribute__((warn_unused_result)) char *jsonout_finish(jsonout_t *o, size_t *len);

/* The text json_dumps(v, JSON_COMPACT) would give, as a new string (free() it), or NULL when v
 * is NULL or not an object or array (as jansson without JSON_ENCODE_ANY), on a string that is not
 * UTF-8, on nesting deeper than jansson allows, or out of memory. */
__attribute__((warn_unused_result)) char *jsonout_dumps(const json_t *v);

#endif
