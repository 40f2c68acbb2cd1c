/* contact.c - contact compliance: contact windows in the debtor's zone, caps, opt-outs, pauses.
 *
 * Local time is computed with GLib's GTimeZone only through g_time_zone_find_interval() in
 * universal time (the zone's offset at an instant), which is continuous and always defined; the
 * mapping of a local wall-clock time back to an instant, across DST gaps and repeats, is done
 * here so that its rules are ours and documented (contact.h), not a library's default. */
#include "contact.h"

#include <glib.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "jsonfield.h"

#define SECS_PER_DAY 86400

/* ---- Names --------------------------------------------------------------------------------- */

static const char *const weekday_names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

/* The exempt sets are bit sets of vocab_action_t in a uint32_t. */
_Static_assert(VOCAB_ACTION_COUNT <= 32, "task actions no longer fit the exempt bit sets");

uint32_t contact_action_bit(vocab_action_t action)
{
    return (unsigned)action < VOCAB_ACTION_COUNT ? 1u << action : 0u;
}

/* The bit of the action called `name`; 0 for NULL or an unknown name (exempt from nothing). */
static uint32_t action_bit(const char *name)
{
    vocab_action_t a;

    return vocab_action_from_name(name, &a) == 0 ? contact_action_bit(a) : 0u;
}

const char *contact_verdict_name(contact_verdict_t v)
{
    switch (v) {
    case CONTACT_ALLOW:
        return "allow";
    case CONTACT_DEFER:
        return "defer";
    case CONTACT_SUPPRESS:
        return "suppress";
    }
    return "unknown";
}

/* ---- Calendar arithmetic (proleptic Gregorian, days since 1970-01-01) ----------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* 0 = Monday .. 6 = Sunday. */
static int weekday_of(int64_t days)
{
    return cal_weekday(days);
}

/* Dates in the rules are kept as yyyymmdd numbers (sortable, and cheap to compare). */
static int32_t ymd_of(int64_t days)
{
    int64_t y;
    int m, d;

    cal_civil_from_days(days, &y, &m, &d);
    return (int32_t)(y * 10000 + m * 100 + d);
}

/* Parses exactly "YYYY-MM-DD" (a real calendar date, year 0001-9999) into yyyymmdd. */
static bool parse_date(const char *s, int32_t *ymd)
{
    int y, m, d;

    if (cal_parse_date(s, &y, &m, &d) < 0)
        return false;
    *ymd = (int32_t)(y * 10000 + m * 100 + d);
    return true;
}

static int64_t days_of_ymd(int32_t ymd)
{
    return cal_days_from_civil(ymd / 10000, (int)(ymd / 100 % 100), (int)(ymd % 100));
}

/* ---- Time zones ----------------------------------------------------------------------------- */

/* A new reference to a named zone ("" is not one here: a case's zone is always known). */
static GTimeZone *zone_get(const char *name)
{
    return name == NULL || name[0] == '\0' ? NULL : cal_zone_get(name);
}

bool contact_zone_known(const char *zone)
{
    GTimeZone *tz = zone_get(zone);

    if (tz == NULL)
        return false;
    g_time_zone_unref(tz);
    return true;
}

static int64_t offset_at(GTimeZone *tz, int64_t t)
{
    return cal_offset_at(tz, t);
}

/* The local clock reading at t, as seconds since 1970-01-01T00:00 local. */
static int64_t local_clock(GTimeZone *tz, int64_t t)
{
    return t + offset_at(tz, t);
}

static int64_t local_day(GTimeZone *tz, int64_t t)
{
    return floor_div(local_clock(tz, t), SECS_PER_DAY);
}

typedef enum { MAP_EARLIEST, MAP_LATEST } map_mode_t;

/* The instant at which the local clock reads `wall` (seconds since 1970-01-01T00:00 local).
 * A repeated reading gives its earliest or latest occurrence by `mode`; a reading inside a gap
 * gives the first instant after it (the transition, where the clock jumps past it). */
static int64_t local_to_instant(GTimeZone *tz, int64_t wall, map_mode_t mode)
{
    static const int64_t probes[] = {-2 * SECS_PER_DAY, -SECS_PER_DAY, -SECS_PER_DAY / 2, 0,
                                     SECS_PER_DAY / 2,  SECS_PER_DAY,  2 * SECS_PER_DAY};
    int64_t offs[sizeof(probes) / sizeof(probes[0])];
    size_t n_offs = 0;
    bool found = false;
    int64_t best = 0, off_lo = INT64_MAX, off_hi = INT64_MIN;

    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        int64_t o = offset_at(tz, wall + probes[i]);
        bool dup = false;
        for (size_t j = 0; j < n_offs; j++)
            dup = dup || offs[j] == o;
        if (!dup)
            offs[n_offs++] = o;
    }
    for (size_t j = 0; j < n_offs; j++) {
        int64_t u = wall - offs[j];
        if (offs[j] < off_lo)
            off_lo = offs[j];
        if (offs[j] > off_hi)
            off_hi = offs[j];
        if (offset_at(tz, u) != offs[j])
            continue;
        if (!found || (mode == MAP_EARLIEST ? u < best : u > best))
            best = u;
        found = true;
    }
    if (found)
        return best;

    /* A gap: the clock reads below `wall` at lo and at or above it at hi; find the jump. */
    int64_t lo = wall - off_hi, hi = wall - off_lo;
    if (local_clock(tz, hi) < wall || local_clock(tz, lo) >= wall)
        return wall - offset_at(tz, wall); /* not a simple gap: cannot happen with real tzdata */
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (local_clock(tz, mid) >= wall)
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}

int contact_format_instant(int64_t t, const char *zone, char *buf, size_t n)
{
    GTimeZone *tz;
    int64_t off, y;
    int mo, d, len;

    if (buf != NULL && n > 0)
        buf[0] = '\0';
    if (buf == NULL || n == 0)
        return -1;
    tz = zone_get(zone);
    if (tz == NULL)
        return -1;
    /* Whole minutes, as RFC 3339 writes them (only pre-1900 LMT offsets have seconds); the
     * local time printed is consistent with the rounded offset, so the text is still `t`. */
    off = offset_at(tz, t) / 60 * 60;
    g_time_zone_unref(tz);

    int64_t wall = t + off;
    int64_t aoff = off < 0 ? -off : off;
    len = cal_format_wall(wall, buf, n);
    if (len == 19 && aoff < 100 * 3600 && n > 25) { /* the usual case, without printf */
        char *p = buf + 19;
        *p++ = off < 0 ? '-' : '+';
        *p++ = (char)('0' + aoff / 36000);
        *p++ = (char)('0' + aoff / 3600 % 10);
        *p++ = ':';
        *p++ = (char)('0' + aoff / 60 % 60 / 10);
        *p++ = (char)('0' + aoff / 60 % 10);
        *p = '\0';
        return 25;
    }
    int64_t days = floor_div(wall, SECS_PER_DAY);
    int64_t sod = wall - days * SECS_PER_DAY;
    cal_civil_from_days(days, &y, &mo, &d);
    len = snprintf(buf, n, "%04lld-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", (long long)y, mo, d,
                   (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), off < 0 ? '-' : '+',
                   (int)(aoff / 3600), (int)(aoff / 60 % 60));
    if (len < 0 || (size_t)len >= n) {
        buf[0] = '\0';
        return -1;
    }
    return len;
}

int contact_local_day_start(const char *zone, const char *date, int64_t *out)
{
    int32_t ymd;
    GTimeZone *tz;

    if (out == NULL || !parse_date(date, &ymd))
        return -1;
    tz = zone_get(zone);
    if (tz == NULL)
        return -1;
    *out = local_to_instant(tz, days_of_ymd(ymd) * SECS_PER_DAY, MAP_EARLIEST);
    g_time_zone_unref(tz);
    return 0;
}

int contact_forbearance_interval(const char *zone, const char *from_date, const char *until_date,
                                 int64_t *from, int64_t *until)
{
    int32_t f, u;
    GTimeZone *tz;

    if (from == NULL || until == NULL || !parse_date(from_date, &f) ||
        !parse_date(until_date, &u) || u < f)
        return -1;
    tz = zone_get(zone);
    if (tz == NULL)
        return -1;
    *from = local_to_instant(tz, days_of_ymd(f) * SECS_PER_DAY, MAP_EARLIEST);
    *until = local_to_instant(tz, (days_of_ymd(u) + 1) * SECS_PER_DAY, MAP_EARLIEST);
    g_time_zone_unref(tz);
    return 0;
}

/* ---- Rules ---------------------------------------------------------------------------------- */

void contact_rules_default(contact_rules_t *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < 7; i++) {
        out->weekday[i].open = true;
        out->weekday[i].start_min = 8 * 60;
        out->weekday[i].end_min = 21 * 60;
    }
    out->call_cap_max = 7;
    out->call_cap_days = 7;
    out->quiet_days_after_rpc = 7;
    out->defer_horizon_days = 30;
    out->cease_exempt = contact_action_bit(VOCAB_ACTION_VALIDATION_NOTICE) |
                        contact_action_bit(VOCAB_ACTION_INVOICE_COPY) |
                        contact_action_bit(VOCAB_ACTION_FINAL_NOTICE);
    out->dispute_exempt = contact_action_bit(VOCAB_ACTION_VALIDATION_NOTICE) |
                          contact_action_bit(VOCAB_ACTION_INVOICE_COPY) |
                          contact_action_bit(VOCAB_ACTION_SUPERVISOR_REVIEW);
    out->forbearance_exempt = out->dispute_exempt;
}

/* Parses "HH:MM" (two digits each; "24:00" only when allow_24) into minutes. */
static bool parse_hhmm(const char *s, bool allow_24, int *minutes)
{
    int h, m;

    if (strlen(s) != 5 || s[2] != ':' || !g_ascii_isdigit(s[0]) || !g_ascii_isdigit(s[1]) ||
        !g_ascii_isdigit(s[3]) || !g_ascii_isdigit(s[4]))
        return false;
    h = (s[0] - '0') * 10 + (s[1] - '0');
    m = (s[3] - '0') * 10 + (s[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && (!allow_24 || m != 0)))
        return false;
    *minutes = h * 60 + m;
    return true;
}

/* Writes minutes after midnight (0..1440) as "HH:MM" into buf (at least 8 bytes). */
static void format_hhmm(int minutes, char *buf)
{
    unsigned m = (unsigned)minutes % 1500u;

    snprintf(buf, 8, "%02u:%02u", m / 60u, m % 60u);
}

static int parse_time_value(const json_t *v, const char *path, bool is_end, int *minutes, char *err,
                            size_t errlen)
{
    if (!json_is_string(v))
        return jsonfield_error(err, errlen, path, "must be a string \"HH:MM\"");
    if (!parse_hhmm(json_string_value(v), is_end, minutes))
        return jsonfield_error(err, errlen, path, "\"%.40s\" is not a time HH:MM",
                               json_string_value(v));
    return 0;
}

#define WINDOW_SHAPE "must be {\"start\": \"HH:MM\", \"end\": \"HH:MM\"} or [\"HH:MM\", \"HH:MM\"]"

/* Parses a window (object or pair) at `path` over the inherited *w (missing keys keep it). */
static int parse_window(const json_t *v, const char *path, contact_window_t *w, char *err,
                        size_t errlen)
{
    char sub[256];
    int start = w->start_min, end = w->end_min;

    if (json_is_array(v)) {
        if (json_array_size(v) != 2)
            return jsonfield_error(err, errlen, path, WINDOW_SHAPE);
        snprintf(sub, sizeof(sub), "%s[0]", path);
        if (parse_time_value(json_array_get(v, 0), sub, false, &start, err, errlen) < 0)
            return -1;
        snprintf(sub, sizeof(sub), "%s[1]", path);
        if (parse_time_value(json_array_get(v, 1), sub, true, &end, err, errlen) < 0)
            return -1;
    } else if (json_is_object(v)) {
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)v, key, val)
        {
            bool is_end = strcmp(key, "end") == 0;
            snprintf(sub, sizeof(sub), "%s.%.40s", path, key);
            if (!is_end && strcmp(key, "start") != 0)
                return jsonfield_error(err, errlen, sub, "unknown key");
            if (parse_time_value(val, sub, is_end, is_end ? &end : &start, err, errlen) < 0)
                return -1;
        }
    } else {
        return jsonfield_error(err, errlen, path, WINDOW_SHAPE);
    }
    if (end <= start) {
        char s1[8], s2[8];
        format_hhmm(start, s1);
        format_hhmm(end, s2);
        return jsonfield_error(err, errlen, path, "end \"%s\" is not after start \"%s\"", s2, s1);
    }
    w->open = true;
    w->start_min = (int16_t)start;
    w->end_min = (int16_t)end;
    return 0;
}

static int parse_int(const json_t *v, const char *path, int lo, int hi, int *out, char *err,
                     size_t errlen)
{
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return jsonfield_error(err, errlen, path, "must be an integer from %d to %d", lo, hi);
    *out = (int)json_integer_value(v);
    return 0;
}

static int parse_dates(const json_t *v, const char *path, const char *country, contact_rules_t *r,
                       char *err, size_t errlen)
{
    char sub[256];
    size_t i;
    json_t *item;

    if (!json_is_array(v))
        return jsonfield_error(err, errlen, path, "must be an array of \"YYYY-MM-DD\"");
    json_array_foreach((json_t *)v, i, item)
    {
        int32_t ymd;
        snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
        if (!json_is_string(item))
            return jsonfield_error(err, errlen, sub, "must be a string \"YYYY-MM-DD\"");
        if (!parse_date(json_string_value(item), &ymd))
            return jsonfield_error(err, errlen, sub, "\"%.40s\" is not a date YYYY-MM-DD",
                                   json_string_value(item));
        if (r->n_no_contact >= CONTACT_MAX_DATES)
            return jsonfield_error(err, errlen, sub, "more than %d no-contact dates",
                                   CONTACT_MAX_DATES);
        r->no_contact[r->n_no_contact].ymd = ymd;
        snprintf(r->no_contact[r->n_no_contact].country, 3, "%s", country);
        r->n_no_contact++;
    }
    return 0;
}

static int parse_actions(const json_t *v, const char *path, uint32_t *mask, char *err,
                         size_t errlen)
{
    char sub[256];
    size_t i;
    json_t *item;
    uint32_t m = 0;
    vocab_action_t a;

    if (!json_is_array(v))
        return jsonfield_error(err, errlen, path, "must be an array of task actions");
    json_array_foreach((json_t *)v, i, item)
    {
        snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
        if (!json_is_string(item))
            return jsonfield_error(err, errlen, sub, "must be a string");
        if (vocab_action_from_name(json_string_value(item), &a) != 0)
            return jsonfield_error(err, errlen, sub, "\"%.40s\" is not a task action",
                                   json_string_value(item));
        m |= contact_action_bit(a);
    }
    *mask = m;
    return 0;
}

static bool country_ok(const char *c)
{
    return strlen(c) == 2 && g_ascii_isupper(c[0]) && g_ascii_isupper(c[1]);
}

/* "no_contact_dates_by_country": {"ES": [dates], ...} at `path`. */
static int parse_dates_by_country(const json_t *v, const char *path, contact_rules_t *r, char *err,
                                  size_t errlen)
{
    const char *cc;
    json_t *list;
    char sub[256];

    if (!json_is_object(v))
        return jsonfield_error(err, errlen, path, "must be an object of country codes");
    json_object_foreach((json_t *)v, cc, list)
    {
        snprintf(sub, sizeof(sub), "%s.%.40s", path, cc);
        if (!country_ok(cc))
            return jsonfield_error(err, errlen, sub,
                                   "not an ISO 3166-1 alpha-2 code (two capitals)");
        if (parse_dates(list, sub, cc, r, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* "call_cap": {"max_calls": N, "days": N} at `path`; a missing key keeps its value. */
static int parse_call_cap(const json_t *v, const char *path, contact_rules_t *r, char *err,
                          size_t errlen)
{
    const char *k;
    json_t *item;
    char sub[256];

    if (!json_is_object(v))
        return jsonfield_error(err, errlen, path, "must be {\"max_calls\": N, \"days\": N}");
    json_object_foreach((json_t *)v, k, item)
    {
        snprintf(sub, sizeof(sub), "%s.%.40s", path, k);
        if (strcmp(k, "max_calls") == 0) {
            if (parse_int(item, sub, 1, 1000, &r->call_cap_max, err, errlen) < 0)
                return -1;
        } else if (strcmp(k, "days") == 0) {
            if (parse_int(item, sub, 1, 366, &r->call_cap_days, err, errlen) < 0)
                return -1;
        } else {
            return jsonfield_error(err, errlen, sub, "unknown key");
        }
    }
    return 0;
}

/* "weekdays": {"sat": window, "sun": null, ...}: a window over the general one `base`, or null
 * for no contact that weekday. */
static int parse_weekdays(const json_t *v, const contact_window_t *base, contact_rules_t *r,
                          char *err, size_t errlen)
{
    const char *wd;
    json_t *w;
    char path[128];

    if (!json_is_object(v))
        return jsonfield_error(err, errlen, "contact.weekdays", "must be an object of mon..sun");
    json_object_foreach((json_t *)v, wd, w)
    {
        int i;
        contact_window_t day = *base;

        snprintf(path, sizeof(path), "contact.weekdays.%.40s", wd);
        for (i = 0; i < 7; i++)
            if (strcmp(wd, weekday_names[i]) == 0)
                break;
        if (i == 7)
            return jsonfield_error(err, errlen, path,
                                   "unknown weekday (mon, tue, wed, thu, fri, sat, sun)");
        if (json_is_null(w)) {
            r->weekday[i].open = false;
            continue;
        }
        if (parse_window(w, path, &day, err, errlen) < 0)
            return -1;
        r->weekday[i] = day;
    }
    return 0;
}

/* The keys of the section other than "window" and "weekdays", which parse_section() reads
 * first and last: how each is read and where it goes. */
typedef enum { KEY_DATES, KEY_DATES_BY_COUNTRY, KEY_CALL_CAP, KEY_DAYS, KEY_ACTIONS } key_kind_t;

static const struct section_key {
    const char *name;
    key_kind_t kind;
    size_t offset; /* KEY_DAYS: an int of contact_rules_t; KEY_ACTIONS: a uint32_t set */
    int lo, hi;    /* KEY_DAYS: the range */
} section_keys[] = {
    {"no_contact_dates", KEY_DATES, 0, 0, 0},
    {"no_contact_dates_by_country", KEY_DATES_BY_COUNTRY, 0, 0, 0},
    {"call_cap", KEY_CALL_CAP, 0, 0, 0},
    {"quiet_days_after_rpc", KEY_DAYS, offsetof(contact_rules_t, quiet_days_after_rpc), 0, 366},
    {"defer_horizon_days", KEY_DAYS, offsetof(contact_rules_t, defer_horizon_days), 1, 366},
    {"cease_exempt_actions", KEY_ACTIONS, offsetof(contact_rules_t, cease_exempt), 0, 0},
    {"dispute_exempt_actions", KEY_ACTIONS, offsetof(contact_rules_t, dispute_exempt), 0, 0},
    {"forbearance_exempt_actions", KEY_ACTIONS, offsetof(contact_rules_t, forbearance_exempt), 0,
     0},
};

/* Reads the value `v` of section key `key` (at `path`) into *r; an unknown key is refused. */
static int parse_key(const char *key, const json_t *v, const char *path, contact_rules_t *r,
                     char *err, size_t errlen)
{
    const struct section_key *k = NULL;

    for (size_t i = 0; i < sizeof(section_keys) / sizeof(section_keys[0]); i++)
        if (strcmp(key, section_keys[i].name) == 0)
            k = &section_keys[i];
    if (k == NULL)
        return jsonfield_error(err, errlen, path, "unknown key");
    switch (k->kind) {
    case KEY_DATES:
        return parse_dates(v, path, "", r, err, errlen);
    case KEY_DATES_BY_COUNTRY:
        return parse_dates_by_country(v, path, r, err, errlen);
    case KEY_CALL_CAP:
        return parse_call_cap(v, path, r, err, errlen);
    case KEY_DAYS:
        return parse_int(v, path, k->lo, k->hi, (int *)((char *)r + k->offset), err, errlen);
    case KEY_ACTIONS:
        return parse_actions(v, path, (uint32_t *)((char *)r + k->offset), err, errlen);
    }
    return jsonfield_error(err, errlen, path, "unknown key");
}

/* Reads the section `obj` over the defaults in *r. The general window comes first, so that the
 * weekday overrides inherit from it whatever the key order, and the weekdays last; the other
 * keys in document order, so the first problem reported is the first met. */
static int parse_section(const json_t *obj, contact_rules_t *r, char *err, size_t errlen)
{
    contact_window_t base = r->weekday[0];
    const json_t *weekdays = NULL;
    const char *key;
    json_t *val;
    char path[128];

    if (!json_is_object(obj))
        return jsonfield_error(err, errlen, "contact", "must be an object");
    if (json_object_get(obj, "window") != NULL &&
        parse_window(json_object_get(obj, "window"), "contact.window", &base, err, errlen) < 0)
        return -1;
    for (int i = 0; i < 7; i++)
        r->weekday[i] = base;

    json_object_foreach((json_t *)obj, key, val)
    {
        snprintf(path, sizeof(path), "contact.%.60s", key);
        if (strcmp(key, "window") == 0)
            continue;
        if (strcmp(key, "weekdays") == 0)
            weekdays = val;
        else if (parse_key(key, val, path, r, err, errlen) < 0)
            return -1;
    }
    return weekdays == NULL ? 0 : parse_weekdays(weekdays, &base, r, err, errlen);
}

int contact_rules_from_json(const json_t *obj, contact_rules_t *out, char *err, size_t errlen)
{
    contact_rules_t *r;
    int rc = 0;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (out == NULL)
        return jsonfield_error(err, errlen, "contact", "no output");
    r = g_new(contact_rules_t, 1); /* about 6 KiB: kept off the stack */
    contact_rules_default(r);
    if (obj != NULL)
        rc = parse_section(obj, r, err, errlen);
    if (rc == 0)
        *out = *r;
    g_free(r);
    return rc < 0 ? -1 : 0;
}

/* ---- Decisions ------------------------------------------------------------------------------ */

int contact_calls_left(const contact_rules_t *rules, const contact_state_t *state, int64_t now)
{
    int64_t period, count = 0;

    if (rules == NULL)
        return 0;
    if (state == NULL || state->call_attempts == NULL)
        return rules->call_cap_max;
    period = (int64_t)rules->call_cap_days * SECS_PER_DAY;
    for (size_t i = 0; i < state->n_call_attempts; i++)
        if (state->call_attempts[i] > now - period)
            count++;
    return count >= rules->call_cap_max ? 0 : (int)(rules->call_cap_max - count);
}

static int cmp_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x < y) - (x > y);
}

/* When the cap is reached at `now`, the instant at which one more call becomes allowed: the
 * max_calls-th newest attempt still counting leaves the period then. Else INT64_MIN. */
static int64_t call_cap_until(const contact_rules_t *rules, const contact_state_t *state,
                              int64_t now)
{
    int64_t period = (int64_t)rules->call_cap_days * SECS_PER_DAY;
    int64_t *recent, until = INT64_MIN;
    size_t n = 0;

    if (state->call_attempts == NULL || state->n_call_attempts < (size_t)rules->call_cap_max)
        return INT64_MIN;
    recent = g_new(int64_t, state->n_call_attempts);
    for (size_t i = 0; i < state->n_call_attempts; i++)
        if (state->call_attempts[i] > now - period)
            recent[n++] = state->call_attempts[i];
    if (n >= (size_t)rules->call_cap_max) {
        qsort(recent, n, sizeof(int64_t), cmp_desc);
        until = recent[rules->call_cap_max - 1] + period;
    }
    g_free(recent);
    return until;
}

/* A span of time in which the task may not go out, and why. */
typedef struct blackout {
    int64_t from, until; /* [from, until) */
    const char *reason;
} blackout_t;

typedef enum { KIND_HOURS, KIND_DAY, KIND_ANY_DAY } window_kind_t;

static window_kind_t window_kind(vocab_channel_t ch)
{
    switch (ch) {
    case VOCAB_CHANNEL_LETTER:
        return KIND_DAY;
    case VOCAB_CHANNEL_INTERNAL:
        return KIND_ANY_DAY;
    default:
        return KIND_HOURS;
    }
}

static bool date_blocked(const contact_rules_t *rules, int32_t ymd, const char *country)
{
    for (size_t i = 0; i < rules->n_no_contact; i++) {
        const contact_date_t *d = &rules->no_contact[i];
        if (d->ymd == ymd &&
            (d->country[0] == '\0' || (country != NULL && strcmp(country, d->country) == 0)))
            return true;
    }
    return false;
}

/* Whether local day `days` allows contact at all for this kind of window. */
static bool day_allowed(const contact_rules_t *rules, window_kind_t kind, int64_t days,
                        const char *country)
{
    if (kind == KIND_ANY_DAY)
        return true;
    if (!rules->weekday[weekday_of(days)].open)
        return false;
    return !date_blocked(rules, ymd_of(days), country);
}

/* The window [*ws, *we) of local day `days`; false when the day allows nothing. */
static bool day_window(GTimeZone *tz, const contact_rules_t *rules, window_kind_t kind,
                       int64_t days, const char *country, int64_t *ws, int64_t *we)
{
    int64_t midnight = days * SECS_PER_DAY;

    if (!day_allowed(rules, kind, days, country))
        return false;
    if (kind == KIND_HOURS) {
        const contact_window_t *w = &rules->weekday[weekday_of(days)];
        *ws = local_to_instant(tz, midnight + (int64_t)w->start_min * 60, MAP_LATEST);
        *we = local_to_instant(tz, midnight + (int64_t)w->end_min * 60, MAP_EARLIEST);
    } else {
        *ws = local_to_instant(tz, midnight, MAP_LATEST);
        *we = local_to_instant(tz, midnight + SECS_PER_DAY, MAP_EARLIEST);
    }
    return *we > *ws;
}

static const blackout_t *blackout_at(const blackout_t *b, size_t n, int64_t t)
{
    for (size_t i = 0; i < n; i++)
        if (b[i].from <= t && t < b[i].until)
            return &b[i];
    return NULL;
}

static void set_suppress(contact_decision_t *out, const char *reason)
{
    out->verdict = CONTACT_SUPPRESS;
    out->reason = reason;
    out->not_before = 0;
    out->not_after = 0;
}

/* Why the task may never go out on `channel`, whatever the time: an opt-out of that channel,
 * cease_communication, an open dispute (the last two unless the action is exempt: `bit` is its
 * bit, 0 for none). NULL when nothing forbids it. Internal tasks are not communications: no
 * opt-out or cease applies to them, a dispute does. */
static const char *refusal(const contact_rules_t *rules, const contact_state_t *state,
                           vocab_channel_t channel, uint32_t bit)
{
    if (window_kind(channel) != KIND_ANY_DAY) {
        if (channel == VOCAB_CHANNEL_PHONE && state->do_not_call)
            return CONTACT_REASON_OPT_OUT_CALL;
        if (channel == VOCAB_CHANNEL_SMS && state->do_not_sms)
            return CONTACT_REASON_OPT_OUT_SMS;
        if (channel == VOCAB_CHANNEL_EMAIL && state->do_not_email)
            return CONTACT_REASON_OPT_OUT_EMAIL;
        if (state->cease_communication && (rules->cease_exempt & bit) == 0)
            return CONTACT_REASON_CEASE;
    }
    if (state->dispute_open && (rules->dispute_exempt & bit) == 0)
        return CONTACT_REASON_DISPUTE;
    return NULL;
}

/* Most blackouts one decision has: a forbearance, the quiet period, the call cap. */
#define MAX_BLACKOUTS 3

/* Fills b with the spans in which the task may not go out, in the order of their reasons: a
 * forbearance (unless the action is exempt), and for phone the quiet period after a
 * right-party call and the call cap. Returns how many. */
static size_t blackouts_of(const contact_rules_t *rules, const contact_state_t *state,
                           vocab_channel_t channel, uint32_t bit, int64_t now,
                           blackout_t b[MAX_BLACKOUTS])
{
    size_t n = 0;

    if (state->forbearance_until > state->forbearance_from &&
        (rules->forbearance_exempt & bit) == 0)
        b[n++] = (blackout_t){state->forbearance_from, state->forbearance_until,
                              CONTACT_REASON_FORBEARANCE};
    if (channel != VOCAB_CHANNEL_PHONE)
        return n;
    if (state->last_rpc_at != 0 && rules->quiet_days_after_rpc > 0)
        b[n++] =
            (blackout_t){state->last_rpc_at,
                         state->last_rpc_at + (int64_t)rules->quiet_days_after_rpc * SECS_PER_DAY,
                         CONTACT_REASON_QUIET_AFTER_RPC};
    int64_t cap_until = call_cap_until(rules, state, now);
    if (cap_until > now)
        b[n++] = (blackout_t){INT64_MIN, cap_until, CONTACT_REASON_CALL_CAP};
    return n;
}

/* The first window [*ws, *we) of a local day from t's on (up to the horizon) that ends after
 * t. False when there is none. */
static bool next_window(GTimeZone *tz, const contact_rules_t *rules, window_kind_t kind,
                        const char *country, int64_t t, int64_t *ws, int64_t *we)
{
    int64_t day = local_day(tz, t);

    for (int64_t d = day; d <= day + rules->defer_horizon_days + 2; d++)
        if (day_window(tz, rules, kind, d, country, ws, we) && *we > t)
            return true;
    return false;
}

/* The search for the first allowed moment >= now: inside a window of the channel's kind, out
 * of every blackout, no later than the horizon. Fills *out (ALLOW, DEFER with the reason that
 * first pushed the moment from now, or SUPPRESS no_allowed_moment). */
static void first_moment(GTimeZone *tz, const contact_rules_t *rules, const contact_state_t *state,
                         window_kind_t kind, const blackout_t *blackouts, size_t n_black,
                         int64_t now, contact_decision_t *out)
{
    int64_t limit = now + (int64_t)rules->defer_horizon_days * SECS_PER_DAY, t = now;
    const char *reason = NULL;

    /* Each pass moves t forward to the end of a blackout or to the next window; the number of
     * passes is bounded by the blackouts plus the days up to the horizon. */
    for (int pass = 0; pass < 4 * (rules->defer_horizon_days + 8) && t <= limit; pass++) {
        const blackout_t *b = blackout_at(blackouts, n_black, t);
        int64_t ws = 0, we = 0;

        if (b != NULL) {
            reason = reason != NULL ? reason : b->reason;
            t = b->until;
            continue;
        }
        if (!next_window(tz, rules, kind, state->country, t, &ws, &we))
            break;
        if (ws > t) {
            if (reason == NULL)
                reason = day_allowed(rules, kind, local_day(tz, t), state->country)
                             ? CONTACT_REASON_OUTSIDE_WINDOW
                             : CONTACT_REASON_NO_CONTACT_DAY;
            t = ws;
            continue; /* t may now sit in a blackout, or beyond the horizon */
        }
        /* t is inside a window and in no blackout: end before the next blackout begins. */
        for (size_t i = 0; i < n_black; i++)
            if (blackouts[i].from > t && blackouts[i].from < we)
                we = blackouts[i].from;
        out->verdict = t == now ? CONTACT_ALLOW : CONTACT_DEFER;
        out->reason = t == now ? CONTACT_REASON_ALLOWED : reason;
        out->not_before = t;
        out->not_after = we;
        return;
    }
    set_suppress(out, CONTACT_REASON_NO_ALLOWED_MOMENT);
}

int contact_decide(const contact_rules_t *rules, const contact_state_t *state, const char *action,
                   vocab_channel_t channel, int64_t now, const char *zone, contact_decision_t *out)
{
    contact_state_t none = CONTACT_STATE_INIT;
    blackout_t blackouts[MAX_BLACKOUTS];
    uint32_t bit = action_bit(action);
    const char *refused;
    GTimeZone *tz;

    if (out == NULL)
        return -1;
    set_suppress(out, CONTACT_REASON_NO_ALLOWED_MOMENT);
    if (rules == NULL || (unsigned)channel >= VOCAB_CHANNEL_COUNT)
        return -1;
    if (state == NULL)
        state = &none;
    tz = zone_get(zone);
    if (tz == NULL)
        return -1;
    refused = refusal(rules, state, channel, bit);
    if (refused != NULL)
        set_suppress(out, refused);
    else
        first_moment(tz, rules, state, window_kind(channel), blackouts,
                     blackouts_of(rules, state, channel, bit, now, blackouts), now, out);
    g_time_zone_unref(tz);
    return 0;
}

int contact_next_allowed(const contact_rules_t *rules, const contact_state_t *state,
                         vocab_channel_t channel, int64_t now, const char *zone,
                         contact_decision_t *out)
{
    return contact_decide(rules, state, NULL, channel, now, zone, out);
}
