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

/* Parses an RFC 3339 instant with a mandatory offset ("2026-11-20T10:00:00Z",
 * "2026-11-20T10:00:00.250+01:00") into Unix seconds (fraction dropped). Returns 0, or -1 when
 * it is not one. */
int clock_parse_rfc3339(const char *s, int64_t *out);

/* Formats Unix seconds as "YYYY-MM-DDTHH:MM:SSZ" into buf (at least 21 bytes). Returns buf. */
char *clock_format_utc(int64_t t, char *buf, unsigned size);

#endif
