/* vecutil.c - see vecutil.h. */
#include "vecutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int vec_failures;

void vec_fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    vec_failures++;
}

json_t *vec_load(const char *dir, const char *name, bool required)
{
    char path[4096];
    json_error_t jerr;
    json_t *j;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (!required && access(path, F_OK) != 0)
        return NULL;
    j = json_load_file(path, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (j == NULL)
        vec_fail("%s: line %d: %s", path, jerr.line, jerr.text);
    return j;
}

void vec_compare(const char *where, const json_t *expect, const json_t *actual)
{
    const char *key;
    json_t *e;

    json_object_foreach((json_t *)expect, key, e)
    {
        json_t *a = json_object_get(actual, key);
        if (json_is_object(e) && json_is_object(a)) {
            char sub[512];
            snprintf(sub, sizeof(sub), "%s.%s", where, key);
            vec_compare(sub, e, a);
        } else if (a == NULL || !json_equal(e, a)) {
            char *es = json_dumps(e, JSON_ENCODE_ANY | JSON_COMPACT);
            char *as = a ? json_dumps(a, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
            vec_fail("%s.%s: expected %s, got %s", where, key, es ? es : "?", as ? as : "(absent)");
            free(es);
            free(as);
        }
    }
}
