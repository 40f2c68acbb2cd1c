/* vecutil.h - what every vector runner needs: counted failures, a case folder's JSON files, and
 * the comparison of an expected document's keys with an actual one. */
#ifndef RECOBRO_VECUTIL_H
#define RECOBRO_VECUTIL_H

#include <stdbool.h>

#include <jansson.h>

/* Failures reported so far; a runner exits 1 when it is not zero. */
extern int vec_failures;

/* One line on stderr, and one failure more. */
void vec_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* dir/name parsed (duplicate keys refused, any JSON value accepted). NULL when the file is absent
 * and not required (no failure), or when it cannot be read or parsed (a failure naming the file,
 * line and problem). */
json_t *vec_load(const char *dir, const char *name, bool required);

/* Every key of `expect` (an object) against `actual`'s, objects compared key by key again, so an
 * expectation names only what it cares about; each difference is a failure naming its path from
 * `where`. */
void vec_compare(const char *where, const json_t *expect, const json_t *actual);

#endif
