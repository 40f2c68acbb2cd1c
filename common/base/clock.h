/* clock.h - the one clock every decision reads. RECOBRO_NOW (RFC 3339) fixes it for tests and
 * replays; otherwise it is the real time. Pure domain code never calls this: it receives the
 * time as an argument from the edge that did. */
#ifndef RECOBRO_CLOCK_H
#define RECOBRO_CLOCK_H

#include <stdint.h>

/* Fixes the clock at `unix_seconds`, or returns it to real time when `fixed` is 0. */
void clock_fix(int fixed, int64_t unix_seconds);

/* Now, in Unix seconds (UTC). */
int64_t clock_now(void);

/* A monotonic clock in microseconds, for durations and timeouts only (never for decisions). */
int64_t clock_mono_us(void);

/* Parsing and formatting instants: calendar.h. */

#endif
