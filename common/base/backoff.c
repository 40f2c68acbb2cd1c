/* backoff.c - capped exponential backoff with jitter (see backoff.h). */
#include "backoff.h"

void backoff_init(backoff_t *b, int initial_ms, int max_ms, uint64_t seed)
{
    if (initial_ms < 1)
        initial_ms = 1;
    if (max_ms < initial_ms)
        max_ms = initial_ms;
    b->initial_ms = initial_ms;
    b->max_ms = max_ms;
    b->attempt = 0;
    b->seed = seed ? seed : 0x9e3779b97f4a7c15ULL;
}

static uint64_t xorshift64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

int backoff_next_ms(backoff_t *b)
{
    int64_t base = b->initial_ms;

    for (int i = 0; i < b->attempt && base < b->max_ms; i++)
        base *= 2;
    if (base > b->max_ms)
        base = b->max_ms;
    if (b->attempt < 64)
        b->attempt++;
    int64_t half = base / 2;
    int64_t jitter = (int64_t)(xorshift64(&b->seed) % (uint64_t)(base - half + 1));
    return (int)(half + jitter);
}

void backoff_reset(backoff_t *b)
{
    b->attempt = 0;
}
