/* clock.c - the one clock (see clock.h). */
#include "clock.h"

#include <time.h>

static int clock_is_fixed;
static int64_t clock_fixed_at;

void clock_fix(int fixed, int64_t unix_seconds)
{
    clock_is_fixed = fixed;
    clock_fixed_at = unix_seconds;
}

int64_t clock_now(void)
{
    if (clock_is_fixed)
        return clock_fixed_at;
    return (int64_t)time(NULL);
}

int64_t clock_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
