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
#include <stddef.h>

/* The text json_dumps(v, JSON_COMPACT) would give, as a new string (free() it), or NULL when v
 * is NULL or not an object or array (as jansson without JSON_ENCODE_ANY), on a string that is not
 * UTF-8, on nesting deeper than jansson allows, or out of memory. */
__attribute__((warn_unused_result)) char *jsonout_dumps(const json_t *v);

#endif
