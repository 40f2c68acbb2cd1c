/* jsonfield.h - small readers of JSON object members that report errors as "<path>: <problem>".
 *
 * The parsers of the policy document (policy.c, segment.c's condition language, strategy.c's
 * ladders) share these so that every refusal reads the same way and names the JSON path of the
 * value refused, e.g. `strategies.evasive.steps[2].day: must be an integer`. They live in their
 * own module so that those parsers need not include one another (policy.c uses segment.c and
 * strategy.c, never the other way round). Pure: jansson values in, values out; every json_t is
 * borrowed. Error texts are truncated to errlen; err may be NULL (nothing is written). */
#ifndef RECOBRO_JSONFIELD_H
#define RECOBRO_JSONFIELD_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Room for the longest JSON path a policy produces (ids and names are at most 64 bytes). */
#define JSONFIELD_PATH_MAX 320

/* Writes "<path>: <printf text>" into err (NULL is fine; an empty or NULL path reads "(root)")
 * and returns -1, so that parsers can `return jsonfield_error(...)`. */
int jsonfield_error(char *err, size_t errlen, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Writes `path` + "." + `key` (or just `key` when path is NULL or empty) into buf. Returns
 * buf. */
char *jsonfield_path(char *buf, size_t size, const char *path, const char *key);

/* Refuses a key of object `obj` (at `path`) that is not in the NULL-terminated list `allowed`:
 * returns 0, or -1 with err = "<path>.<key>: unknown key". */
__attribute__((warn_unused_result)) int jsonfield_expect_keys(const json_t *obj, const char *path,
                                                              const char *const *allowed, char *err,
                                                              size_t errlen);

/* Reads the integer member `key` of `obj` (at `path`) into *out, within [min, max]. Returns 0,
 * or -1 with err = "<path>: missing "<key>"", "<path>.<key>: must be an integer" or
 * "<path>.<key>: <v> is out of range <min>..<max>" (*out untouched). */
__attribute__((warn_unused_result)) int jsonfield_int(const json_t *obj, const char *path,
                                                      const char *key, int min, int max, int *out,
                                                      char *err, size_t errlen);

/* Reads the string member `key` of `obj` (at `path`) into *out, borrowed from `obj`. Returns 0,
 * or -1 with err = "<path>: missing "<key>"" or "<path>.<key>: must be a string". */
__attribute__((warn_unused_result)) int jsonfield_string(const json_t *obj, const char *path,
                                                         const char *key, const char **out,
                                                         char *err, size_t errlen);

/* Reads the optional boolean member `key` of `obj` (at `path`) into *out, left alone when the
 * member is absent. Returns 0, or -1 with err = "<path>.<key>: must be true or false". */
__attribute__((warn_unused_result)) int jsonfield_bool(const json_t *obj, const char *path,
                                                       const char *key, bool *out, char *err,
                                                       size_t errlen);

#endif
