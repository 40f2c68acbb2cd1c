/* calendar.h - the one calendar: civil days, RFC 3339 instants, and local days in IANA time
 * zones through one cached zone look-up (GLib's GTimeZone).
 *
 * Day numbers are days since 1970-01-01 in the proleptic Gregorian calendar (negative before
 * it); instants are Unix seconds (UTC). Nothing here reads the clock or the process's TZ: the
 * time is always an argument. Thread-safe. */
#ifndef RECOBRO_CALENDAR_H
#define RECOBRO_CALENDAR_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAL_SECS_PER_DAY 86400
#define CAL_DATE_MAX     11 /* "YYYY-MM-DD" + NUL */
#define CAL_INSTANT_MAX  21 /* "YYYY-MM-DDTHH:MM:SSZ" + NUL */

/* ---- Civil days ------------------------------------------------------------------------------ */

/* Days since 1970-01-01 of y-m-d (Howard Hinnant's days_from_civil; exact for every proleptic
 * Gregorian date). */
int64_t cal_days_from_civil(int64_t y, int m, int d);

/* The inverse: the civil date of day number `day`. */
void cal_civil_from_days(int64_t day, int64_t *y, int *m, int *d);

/* 0 = Monday .. 6 = Sunday. */
int cal_weekday(int64_t day);

/* Parses a date written exactly "YYYY-MM-DD" (years 0001-9999) that exists in the calendar.
 * Returns 0 and fills the non-NULL out-parameters, or -1 (they are untouched). "2026-02-30",
 * "2026-2-3", "2026-02-03T00:00Z", "" and NULL are rejected. */
__attribute__((warn_unused_result)) int cal_parse_date(const char *s, int *y, int *m, int *d);

/* The same, giving the day number. Returns 0 or -1 (*day untouched). */
__attribute__((warn_unused_result)) int cal_parse_day(const char *s, int64_t *day);

/* Writes day number `day` as "YYYY-MM-DD" into buf (at least CAL_DATE_MAX bytes; "" for a year
 * outside 0001-9999). Returns buf. */
char *cal_format_day(int64_t day, char *buf, size_t size);

/* ---- Instants -------------------------------------------------------------------------------- */

/* Parses an RFC 3339 instant with a mandatory offset, upper-case 'T' and 'Z'
 * ("2026-11-20T10:00:00Z", "2026-11-20T10:00:00.250+01:00"): a real date, hours 00-23, minutes
 * and seconds 00-59 (no leap second), 1-9 fraction digits, an offset of at most +/-23:59. On
 * success returns 0 and fills the non-NULL out-parameters: *epoch with Unix seconds (the
 * fraction dropped, towards the past), *offset_s with the offset in seconds east of UTC.
 * Returns -1 otherwise (out-parameters untouched). */
__attribute__((warn_unused_result)) int cal_parse_instant(const char *s, int64_t *epoch,
                                                          int *offset_s);

/* Formats a wall-clock reading (seconds since 1970-01-01T00:00 on that clock) as
 * "YYYY-MM-DDTHH:MM:SS" into buf, as snprintf("%04d-%02d-%02dT%02d:%02d:%02d") would. Returns
 * the length of the full text (as snprintf: truncated when it is size or more). */
int cal_format_wall(int64_t wall, char *buf, size_t size);

/* Formats Unix seconds as "YYYY-MM-DDTHH:MM:SSZ" into buf (at least CAL_INSTANT_MAX bytes).
 * Returns buf. */
char *cal_format_utc(int64_t t, char *buf, size_t size);

/* ---- Time zones ------------------------------------------------------------------------------ */

/* A new reference to the IANA zone `name` (g_time_zone_unref() it), from a process-wide cache,
 * or NULL when the name is not a zone the tz database knows. NULL or "" give UTC. */
GTimeZone *cal_zone_get(const char *name);

/* The zone's UTC offset, in seconds, at instant t: GLib's answer, memoised per thread and (zone,
 * UTC day) for the zone cache's zones on days without a transition. */
int64_t cal_offset_at(GTimeZone *tz, int64_t t);

/* The local day number of instant t in `zone` (UTC when zone is NULL or ""). Returns 0, or -1
 * for an unknown zone (*day untouched). */
__attribute__((warn_unused_result)) int cal_local_day(const char *zone, int64_t t, int64_t *day);

/* The instant at which the local clock of `tz` reads `wall` (seconds since 1970-01-01T00:00
 * local), as PostgreSQL reads `timestamp AT TIME ZONE zone`, so that C and SQL agree to the
 * second: a reading the clock shows twice (a fall-back) gives the later instant; a reading it
 * skips (a spring-forward gap) is taken at the offset in force before the gap, which lands past
 * the gap (local midnight skipped at 00:00 -> the instant the clock jumps to 01:00). Assumes, as
 * PostgreSQL does, at most one offset change within a day of `wall`. */
int64_t cal_local_to_instant(GTimeZone *tz, int64_t wall);

/* The start of the local day after the one instant t falls on in `zone` (UTC when NULL or ""):
 * PostgreSQL's `((t AT TIME ZONE zone)::date + 1)::timestamp AT TIME ZONE zone`. Returns 0 with
 * *out, or -1 for an unknown zone (*out untouched). */
__attribute__((warn_unused_result)) int cal_next_local_midnight(const char *zone, int64_t t,
                                                                int64_t *out);

/* Local days from a to b in `zone`: day(b) - day(a). Returns 0, or -1 for an unknown zone. */
__attribute__((warn_unused_result)) int cal_local_days_between(const char *zone, int64_t a,
                                                               int64_t b, int32_t *days);

#endif
