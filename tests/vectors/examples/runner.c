/* runner.c - runs one example of proto/examples/ through ce_parse() and validate_event().
 *
 * The argument is the example's file. Its folder says what must happen:
 *   valid/<type>--<slug>.json         accepted. An input type must pass validate_event(); an
 *                                     output type (task.*, case.*, promise.kept/broken,
 *                                     plan.defaulted) is recobro's own, so only its envelope
 *                                     is checked here (its data is checked by the schemas,
 *                                     tests/proto/check_schemas.py) and it must not be taken
 *                                     for an input type.
 *   invalid/<error_code>--<slug>.json rejected, by ce_parse() or validate_event(), with
 *                                     exactly <error_code>.
 * tests/CMakeLists.txt gives every example its own ctest. Exits 0 on pass, 1 with one line on
 * stderr on failure, 2 on a usage error. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloudevent.h"
#include "validate.h"
#include "calendar.h"

/* Reads the whole file at `path` into a new malloc'd buffer (*len bytes, plus a NUL). Returns
 * NULL when it cannot be read. The caller frees. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;

    if (f == NULL)
        return NULL;
    for (;;) {
        size_t got;

        if (cap - n < 65536) {
            char *grown = realloc(buf, cap + 1048576 + 1);

            if (grown == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = grown;
            cap += 1048576;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* recobro's own output types: never accepted on an input topic. */
static bool is_output_type(const char *type)
{
    static const char *const outputs[] = {"task.created",  "task.cancelled", "case.segment_changed",
                                          "promise.kept",  "promise.broken", "plan.defaulted",
                                          "case.resolved", "case.settled",   NULL};

    for (size_t i = 0; type != NULL && outputs[i] != NULL; i++)
        if (strcmp(outputs[i], type) == 0)
            return true;
    return false;
}

/* Runs the example as an input consumer would: ce_parse() then validate_event(). Returns 0
 * when accepted, -1 with *err filled when rejected. *output tells whether the envelope parsed
 * and its type is one of recobro's output types. */
static int run(const char *buf, size_t len, reason_t *err, bool *output)
{
    ce_event_t ev = CE_EVENT_INIT;
    int rc;

    *output = false;
    if (ce_parse(buf, len, &ev, err) < 0)
        return -1;
    *output = is_output_type(ev.type);
    rc = validate_event(&ev, err);
    if (rc == 0) {
        const char *creditor, *debtor;

        if (validate_case_ids(&ev, &creditor, &debtor) < 0)
            rc = reason_set(err, "internal", "validate_case_ids failed on a valid event");
    } else if (*output && ev.time != NULL && cal_parse_instant(ev.time, NULL, NULL) < 0) {
        rc = reason_set(err, "invalid_date", "time: not an RFC 3339 instant");
        *output = false; /* a broken envelope, whatever its type */
    }
    ce_event_clear(&ev);
    return rc;
}

int main(int argc, char **argv)
{
    char *path_copy, *dir_copy, *base, *kind, *sep;
    char expected[64];
    reason_t err = {NULL, ""};
    bool output;
    size_t len = 0;
    char *buf;
    int rc, status = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: %s proto/examples/{valid,invalid}/FILE\n", argv[0]);
        return 2;
    }
    path_copy = strdup(argv[1]);
    dir_copy = strdup(argv[1]);
    if (path_copy == NULL || dir_copy == NULL)
        return 2;
    base = basename(path_copy);
    kind = basename(dirname(dir_copy));
    sep = strstr(base, "--");
    if (sep == NULL || (size_t)(sep - base) >= sizeof(expected) ||
        (strcmp(kind, "valid") != 0 && strcmp(kind, "invalid") != 0)) {
        fprintf(stderr, "FAIL %s: not named {valid,invalid}/<type-or-code>--<slug>\n", argv[1]);
        return 2;
    }
    memcpy(expected, base, (size_t)(sep - base));
    expected[sep - base] = '\0';

    buf = read_file(argv[1], &len);
    if (buf == NULL) {
        fprintf(stderr, "FAIL %s: cannot read the file\n", argv[1]);
        return 1;
    }
    rc = run(buf, len, &err, &output);
    if (strcmp(kind, "valid") == 0 && output) {
        /* recobro's own output: a valid envelope, and an input consumer says unknown_type. */
        if (rc == 0 || strcmp(err.code, "unknown_type") != 0) {
            fprintf(stderr, "FAIL %s: an output event must be unknown_type as input, got %s\n",
                    base, rc == 0 ? "accepted" : err.code);
            status = 1;
        }
    } else if (strcmp(kind, "valid") == 0) {
        if (rc < 0) {
            fprintf(stderr, "FAIL %s: rejected as %s (%s)\n", base, err.code, err.detail);
            status = 1;
        }
    } else if (rc == 0) {
        fprintf(stderr, "FAIL %s: accepted, expected %s\n", base, expected);
        status = 1;
    } else if (strcmp(err.code, expected) != 0) {
        fprintf(stderr, "FAIL %s: rejected as %s (%s), expected %s\n", base, err.code, err.detail,
                expected);
        status = 1;
    } else {
        printf("ok %s: %s (%s)\n", base, err.code, err.detail);
    }
    free(buf);
    free(path_copy);
    free(dir_copy);
    return status;
}
