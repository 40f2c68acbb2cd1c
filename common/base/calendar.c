/* calendar.c - civil days, RFC 3339 and cached time zones (see calendar.h). */
#include "calendar.h"

#include <stdio.h>
#include <string.h>

/* Floor division (C's '/' truncates towards zero). */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* ==== Civil days ============================================================================== */

int64_t cal_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}

void cal_civil_from_days(int64_t day, int64_t *y, int *m, int *d)
{
    int64_t z = day + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;

    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

int cal_weekday(int64_t day)
{
    return (int)(((day + 3) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Reads exactly `n` decimal digits at s into *out. Returns false when one is not a digit. */
static bool read_digits(const char *s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : days[m - 1];
}

/* Parses "YYYY-MM-DD" at the start of s (s may go on). Returns true for a real date. */
static bool parse_date_prefix(const char *s, int *y, int *m, int *d)
{
    int yy, mm, dd;

    if (!read_digits(s, 4, &yy) || s[4] != '-' || !read_digits(s + 5, 2, &mm) || s[7] != '-' ||
        !read_digits(s + 8, 2, &dd))
        return false;
    if (yy < 1 || mm < 1 || mm > 12 || dd < 1 || dd > days_in_month(yy, mm))
        return false;
    *y = yy;
    *m = mm;
    *d = dd;
    return true;
}

int cal_parse_date(const char *s, int *y, int *m, int *d)
{
    int yy, mm, dd;

    if (s == NULL || strlen(s) != 10 || !parse_date_prefix(s, &yy, &mm, &dd))
        return -1;
    if (y)
        *y = yy;
    if (m)
        *m = mm;
    if (d)
        *d = dd;
    return 0;
}

int cal_parse_day(const char *s, int64_t *day)
{
    int y, m, d;

    if (cal_parse_date(s, &y, &m, &d) < 0)
        return -1;
    *day = cal_days_from_civil(y, m, d);
    return 0;
}

char *cal_format_day(int64_t day, char *buf, size_t size)
{
    int64_t y;
    int m, d;

    if (buf == NULL || size == 0)
        return buf;
    buf[0] = '\0';
    cal_civil_from_days(day, &y, &m, &d);
    if (y >= 1 && y <= 9999 && size >= CAL_DATE_MAX)
        snprintf(buf, size, "%04d-%02d-%02d", (int)y, m, d);
    return buf;
}

/* ==== Instants ================================================================================ */

/* True when s has the shape "HH:MM:SS" (GLib checks the hour and minute); a leap second (:60)
 * is refused here, as GLib would take it as :59.999999. */
static bool clock_shape(const char *s)
{
    int v, sec;
    return read_digits(s, 2, &v) && s[2] == ':' && read_digits(s + 3, 2, &v) && s[5] == ':' &&
           read_digits(s + 6, 2, &sec) && sec <= 59;
}

/* True when p is "Z" or "+HH:MM" / "-HH:MM" (hours to 23), then the end. */
static bool offset_shape(const char *p)
{
    int oh, om;

    if (p[0] == 'Z' && p[1] == '\0')
        return true;
    return (p[0] == '+' || p[0] == '-') && strlen(p) == 6 && read_digits(p + 1, 2, &oh) &&
           p[3] == ':' && read_digits(p + 4, 2, &om) && oh <= 23 && om <= 59;
}

/* RFC 3339 is a strict profile of ISO 8601: the shape is checked here (ISO 8601 would also take
 * week dates, a missing offset, "," fractions, "+HHMM"), then GLib checks the values (month,
 * day of that month, hour, minute, second) and does the arithmetic. */
int cal_parse_instant(const char *s, int64_t *epoch, int *offset_s)
{
    const char *p;
    GDateTime *dt;
    int y, mo, d;

    if (s == NULL || strlen(s) < 20 || !parse_date_prefix(s, &y, &mo, &d) || s[10] != 'T' ||
        !clock_shape(s + 11))
        return -1;
    p = s + 19;
    if (*p == '.') {
        const char *frac = ++p;

        while (is_digit(*p))
            p++;
        if (p == frac || p - frac > 9)
            return -1;
    }
    if (!offset_shape(p) || (dt = g_date_time_new_from_iso8601(s, NULL)) == NULL)
        return -1;
    if (epoch)
        *epoch = g_date_time_to_unix(dt);
    if (offset_s)
        *offset_s = (int)(g_date_time_get_utc_offset(dt) / G_TIME_SPAN_SECOND);
    g_date_time_unref(dt);
    return 0;
}

/* Two decimal digits of v (0..99). */
static char *put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

int cal_format_wall(int64_t wall, char *buf, size_t size)
{
    int64_t day = floor_div(wall, CAL_SECS_PER_DAY), secs = wall - day * CAL_SECS_PER_DAY, y;
    int m, d;

    cal_civil_from_days(day, &y, &m, &d);
    if (y < 0 || y > 9999 || size < 20) /* what printf's %04d would write, the slow way */
        return snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d", (int)y, m, d,
                        (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
    char *p = put2(put2(buf, (int)(y / 100)), (int)(y % 100));
    *p++ = '-';
    p = put2(p, m);
    *p++ = '-';
    p = put2(p, d);
    *p++ = 'T';
    p = put2(p, (int)(secs / 3600));
    *p++ = ':';
    p = put2(p, (int)(secs / 60 % 60));
    *p++ = ':';
    p = put2(p, (int)(secs % 60));
    *p = '\0';
    return 19;
}

char *cal_format_utc(int64_t t, char *buf, size_t size)
{
    int n = cal_format_wall(t, buf, size);

    if (n >= 0 && (size_t)n + 1 < size) {
        buf[n] = 'Z';
        buf[n + 1] = '\0';
    }
    return buf;
}

/* ==== Time zones ============================================================================== */

/* Zones by name, each holding one reference; GTimeZone is immutable and refcounted, so a
 * cached zone may be used by any thread. Bounded: past ZONE_CACHE_MAX names, zones are made
 * and dropped per call. */
#define ZONE_CACHE_MAX 512
static GMutex zone_lock;
static GHashTable *zone_cache; /* char* (owned) -> GTimeZone* (one reference) */

/* An IANA name's shape: letters first, then letters, digits, '_', '-', '+', '/', no "..".
 * Keeps offsets ("+01:00") and POSIX rules ("CET-1CEST,M3.5.0") out, which GLib would accept. */
static bool zone_name_ok(const char *zone)
{
    size_t n;

    if (zone == NULL || !g_ascii_isalpha(zone[0]))
        return false;
    n = strlen(zone);
    if (n > 64 || strstr(zone, "..") != NULL || zone[n - 1] == '/')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = zone[i];
        if (!g_ascii_isalnum(c) && c != '_' && c != '-' && c != '+' && c != '/')
            return false;
    }
    return true;
}

/* The zones this thread got from the cache last, by name: a case worker asks for the same few
 * zones many times per event, and the cache's lock and hash were a few percent of its time. The
 * cache never drops a zone, so these borrowed pointers stay valid. */
#define ZONE_RECENT 8
static _Thread_local struct {
    char name[65]; /* zone_name_ok() allows 64 bytes */
    GTimeZone *tz; /* borrowed from zone_cache; NULL for an empty slot */
} zone_recent[ZONE_RECENT];
static _Thread_local unsigned zone_recent_next;

GTimeZone *cal_zone_get(const char *name)
{
    GTimeZone *tz;

    if (name == NULL || name[0] == '\0')
        return g_time_zone_new_utc();
    if (!zone_name_ok(name))
        return NULL;
    for (unsigned i = 0; i < ZONE_RECENT; i++)
        if (zone_recent[i].tz != NULL && strcmp(zone_recent[i].name, name) == 0)
            return g_time_zone_ref(zone_recent[i].tz);
    g_mutex_lock(&zone_lock);
    if (zone_cache == NULL)
        zone_cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                           (GDestroyNotify)g_time_zone_unref);
    tz = g_hash_table_lookup(zone_cache, name);
    if (tz != NULL) {
        unsigned slot = zone_recent_next++ % ZONE_RECENT;
        g_strlcpy(zone_recent[slot].name, name, sizeof(zone_recent[slot].name));
        zone_recent[slot].tz = tz;
        g_time_zone_ref(tz);
        g_mutex_unlock(&zone_lock);
        return tz;
    }
    g_mutex_unlock(&zone_lock);

    /* Reads tzdata: outside the lock. The _identifier variant returns NULL for a name it cannot
     * load (g_time_zone_new() would fall back to UTC), which is what tells a real zone. */
    tz = g_time_zone_new_identifier(name);
    if (tz == NULL)
        return NULL;

    g_mutex_lock(&zone_lock);
    if (g_hash_table_size(zone_cache) < ZONE_CACHE_MAX && !g_hash_table_contains(zone_cache, name))
        g_hash_table_insert(zone_cache, g_strdup(name), g_time_zone_ref(tz));
    g_mutex_unlock(&zone_lock);
    return tz;
}

/* The offset memo. g_time_zone_find_interval() searches a zone's transitions one by one (about
 * 180 of them before today for a European zone), and the contact rules ask for offsets a dozen
 * times per event: that search was a fifth of a case worker's time. The memo keeps, for a (zone,
 * UTC day) whose whole day lies in one of the zone's intervals, that interval's offset; a day with
 * a transition in it is not kept and always searched, so every answer is GLib's. Only zones the
 * zone cache holds are kept: it never drops them, so the pointer an entry is keyed by cannot be
 * freed and reused by another zone. One memo per thread (no lock on the way); direct-mapped, a
 * collision replaces the older entry. */
#define OFFSET_MEMO_SIZE 512
typedef struct {
    const GTimeZone *tz; /* a zone of the zone cache, or NULL for an empty slot */
    int64_t day;         /* UTC day number */
    int32_t offset;
} offset_memo_t;
static _Thread_local offset_memo_t offset_memo[OFFSET_MEMO_SIZE];

static size_t offset_slot(const GTimeZone *tz, int64_t day)
{
    uint64_t h = ((uint64_t)(uintptr_t)tz >> 4) ^ ((uint64_t)day * 0x9E3779B97F4A7C15ull);

    h ^= h >> 29;
    return (size_t)(h & (OFFSET_MEMO_SIZE - 1));
}

/* Whether tz is the zone cache's own object for its name (held until the process ends). */
static bool zone_pinned(GTimeZone *tz)
{
    const char *id = g_time_zone_get_identifier(tz);
    bool pinned;

    g_mutex_lock(&zone_lock);
    pinned = zone_cache != NULL && id != NULL && g_hash_table_lookup(zone_cache, id) == tz;
    g_mutex_unlock(&zone_lock);
    return pinned;
}

/* GLib's answer, and whether the whole UTC day `day` lies in the same interval as t. */
static int32_t offset_search(GTimeZone *tz, int64_t t, int64_t day, bool *whole_day)
{
    int i = g_time_zone_find_interval(tz, G_TIME_TYPE_UNIVERSAL, t);

    *whole_day =
        g_time_zone_find_interval(tz, G_TIME_TYPE_UNIVERSAL, day * CAL_SECS_PER_DAY) == i &&
        g_time_zone_find_interval(tz, G_TIME_TYPE_UNIVERSAL, (day + 1) * CAL_SECS_PER_DAY - 1) == i;
    return g_time_zone_get_offset(tz, i);
}

int64_t cal_offset_at(GTimeZone *tz, int64_t t)
{
    int64_t day = floor_div(t, CAL_SECS_PER_DAY);
    offset_memo_t *slot = &offset_memo[offset_slot(tz, day)];
    bool whole_day;
    int32_t off;

    if (slot->tz == tz && slot->day == day)
        return slot->offset;
    off = offset_search(tz, t, day, &whole_day);
    if (whole_day && zone_pinned(tz))
        *slot = (offset_memo_t){tz, day, off};
    return off;
}

int cal_local_day(const char *zone, int64_t t, int64_t *day)
{
    GTimeZone *tz = cal_zone_get(zone);

    if (tz == NULL)
        return -1;
    *day = floor_div(t + cal_offset_at(tz, t), CAL_SECS_PER_DAY);
    g_time_zone_unref(tz);
    return 0;
}

int cal_local_days_between(const char *zone, int64_t a, int64_t b, int32_t *days)
{
    int64_t da, db;

    if (cal_local_day(zone, a, &da) < 0 || cal_local_day(zone, b, &db) < 0)
        return -1;
    *days = (int32_t)(db - da);
    return 0;
}

int64_t cal_local_to_instant(GTimeZone *tz, int64_t wall)
{
    /* The offsets before and after the (at most one) change near `wall`; each candidate instant
     * is a real reading when the zone has that offset at it. */
    int64_t before = cal_offset_at(tz, wall - CAL_SECS_PER_DAY);
    int64_t after = cal_offset_at(tz, wall + CAL_SECS_PER_DAY);
    int64_t ub = wall - before, ua = wall - after;
    bool b_ok = cal_offset_at(tz, ub) == before, a_ok = cal_offset_at(tz, ua) == after;

    if (before == after || (b_ok && !a_ok))
        return ub;
    if (a_ok && !b_ok)
        return ua;
    if (a_ok && b_ok) /* read twice: the later */
        return ua > ub ? ua : ub;
    return ub; /* skipped: at the offset before the gap */
}

int cal_next_local_midnight(const char *zone, int64_t t, int64_t *out)
{
    GTimeZone *tz = cal_zone_get(zone);

    if (tz == NULL)
        return -1;
    int64_t day = floor_div(t + cal_offset_at(tz, t), CAL_SECS_PER_DAY);
    *out = cal_local_to_instant(tz, (day + 1) * CAL_SECS_PER_DAY);
    g_time_zone_unref(tz);
    return 0;
}
