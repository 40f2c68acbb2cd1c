/* backoff.h - capped exponential backoff with jitter, for retrying transient failures
 * (database down, serialization failure, broker unreachable). Pure: the caller sleeps. */
#ifndef RECOBRO_BACKOFF_H
#define RECOBRO_BACKOFF_H

#include <stdint.h>

typedef struct backoff {
    int initial_ms; /* first delay */
    int max_ms;     /* no delay is longer than this */
    int attempt;    /* failures so far; 0 after backoff_reset() */
    uint64_t seed;  /* jitter state (xorshift); any non-zero value */
} backoff_t;

/* Initialises *b. `initial_ms` >= 1 and `max_ms` >= initial_ms (clamped otherwise). */
void backoff_init(backoff_t *b, int initial_ms, int max_ms, uint64_t seed);

/* The delay to wait before the next attempt, and counts the failure. The base delay doubles
 * with each failure up to max_ms; the result lies in [base/2, base] ("equal jitter"), so
 * replicas that failed together do not retry together, and never exceeds max_ms. */
int backoff_next_ms(backoff_t *b);

/* Forgets past failures (call after a success). */
void backoff_reset(backoff_t *b);

#endif
