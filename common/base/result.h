/* result.h - the one result type of every layer, and the reason an input was refused.
 *
 * A function that can fail for a reason worth retrying returns a result_t: RESULT_OK, or
 * RESULT_TRANSIENT (a lost connection, a serialization failure, a broker away: the caller retries
 * the whole batch later), or RESULT_PERMANENT (retrying will not help; the runtime isolates the
 * event and sends it to the DLQ as "processing_error"). RESULT_REJECTED is the business "no": the
 * event itself is refused, with a reason_t naming why, and nothing of it was applied.
 *
 * The values are fixed (0, -1, -2, 1) so that "status functions return 0 or a negative code"
 * (STYLE.md) holds for every one of them. */
#ifndef RECOBRO_RESULT_H
#define RECOBRO_RESULT_H

typedef enum {
    RESULT_OK = 0,
    RESULT_PERMANENT = -1, /* a failure retrying will not fix */
    RESULT_TRANSIENT = -2, /* connection lost, serialization failure...: retry later */
    RESULT_REJECTED = 1,   /* the input is refused as a business error (see reason_t) */
} result_t;

/* Why an input was rejected: `code` is a stable identifier (a static string such as
 * "malformed_json", the DLQ's recobro-error header), `detail` a human-readable sentence without
 * personal data (recobro-error-detail). */
typedef struct reason {
    const char *code;
    char detail[256];
} reason_t;

/* Fills *r with `code` (static, borrowed) and a printf-style detail. Returns -1, so callers can
 * `return reason_set(r, "schema_violation", "...")`. */
int reason_set(reason_t *r, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
