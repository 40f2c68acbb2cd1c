/* jsonfield.c - JSON member readers with "<path>: <problem>" errors, for the policy parsers. */
#include "jsonfield.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int jsonfield_error(char *err, size_t errlen, const char *path, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (err == NULL || errlen == 0)
        return -1;
    n = snprintf(err, errlen, "%s: ", (path != NULL && path[0] != '\0') ? path : "(root)");
    if (n >= 0 && (size_t)n < errlen) {
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

char *jsonfield_path(char *buf, size_t size, const char *path, const char *key)
{
    if (path == NULL || path[0] == '\0')
        snprintf(buf, size, "%s", key);
    else
        snprintf(buf, size, "%s.%s", path, key);
    return buf;
}

int jsonfield_expect_keys(const json_t *obj, const char *path, const char *const *allowed,
                          char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    char sub[JSONFIELD_PATH_MAX];

    json_object_foreach((json_t *)obj, key, v)
    {
        size_t i;

        for (i = 0; allowed[i] != NULL; i++)
            if (strcmp(allowed[i], key) == 0)
                break;
        if (allowed[i] == NULL)
            return jsonfield_error(err, errlen, jsonfield_path(sub, sizeof(sub), path, key),
                                   "unknown key");
    }
    return 0;
}

int jsonfield_int(const json_t *obj, const char *path, const char *key, int min, int max, int *out,
                  char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    char sub[JSONFIELD_PATH_MAX];

    if (v == NULL)
        return jsonfield_error(err, errlen, path, "missing \"%s\"", key);
    jsonfield_path(sub, sizeof(sub), path, key);
    if (!json_is_integer(v))
        return jsonfield_error(err, errlen, sub, "must be an integer");
    if (json_integer_value(v) < min || json_integer_value(v) > max)
        return jsonfield_error(err, errlen, sub, "%" JSON_INTEGER_FORMAT " is out of range %d..%d",
                               json_integer_value(v), min, max);
    *out = (int)json_integer_value(v);
    return 0;
}

int jsonfield_string(const json_t *obj, const char *path, const char *key, const char **out,
                     char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    char sub[JSONFIELD_PATH_MAX];

    if (v == NULL)
        return jsonfield_error(err, errlen, path, "missing \"%s\"", key);
    if (!json_is_string(v))
        return jsonfield_error(err, errlen, jsonfield_path(sub, sizeof(sub), path, key),
                               "must be a string");
    *out = json_string_value(v);
    return 0;
}

int jsonfield_bool(const json_t *obj, const char *path, const char *key, bool *out, char *err,
                   size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    char sub[JSONFIELD_PATH_MAX];

    if (v == NULL)
        return 0;
    if (!json_is_boolean(v))
        return jsonfield_error(err, errlen, jsonfield_path(sub, sizeof(sub), path, key),
                               "must be true or false");
    *out = json_is_true(v);
    return 0;
}
