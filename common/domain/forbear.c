/* forbear.c - every forbearance of a case, the one in force, its early end (see forbear.h). */
#include "forbear.h"

#include <stdio.h>
#include <string.h>

#include "calendar.h"
#include "contact.h"

#define FORBEAR_MAX 64 /* periods kept per case: far more than any case gets */

static const char *str_of(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* The [start, end) instants of period `p` in the case's zone. -1 when it cannot be placed. */
static int interval(const casefile_t *cf, const json_t *p, int64_t *start, int64_t *end)
{
    const char *from = str_of(p, "from"), *until = str_of(p, "until");
    if (from == NULL || until == NULL || cf->timezone[0] == '\0')
        return -1;
    return contact_forbearance_interval(cf->timezone, from, until, start, end);
}

/* The index of the period planning obeys at `now` (forbear.h), or -1. */
static int pick_index(const casefile_t *cf, int64_t now)
{
    int in_force = -1, next = -1, last = -1;
    int64_t in_end = 0, next_start = 0, last_end = 0;
    size_t i;
    json_t *p;

    json_array_foreach(cf->forbearances, i, p)
    {
        int64_t s, e;
        if (interval(cf, p, &s, &e) < 0)
            continue;
        if (s <= now && now < e && (in_force < 0 || e > in_end))
            in_force = (int)i, in_end = e;
        else if (s > now && (next < 0 || s < next_start))
            next = (int)i, next_start = s;
        else if (e <= now && (last < 0 || e > last_end))
            last = (int)i, last_end = e;
    }
    return in_force >= 0 ? in_force : next >= 0 ? next : last;
}

void forbear_pick(casefile_t *cf, int64_t now)
{
    int i = pick_index(cf, now);
    const json_t *p = i >= 0 ? json_array_get(cf->forbearances, (size_t)i) : NULL;

    if (json_array_size(cf->forbearances) == 0)
        return; /* nothing loaded this way: keep what the case has */
    snprintf(cf->forbearance_from, sizeof(cf->forbearance_from), "%s", p ? str_of(p, "from") : "");
    snprintf(cf->forbearance_until, sizeof(cf->forbearance_until), "%s",
             p ? str_of(p, "until") : "");
}

int forbear_load(casefile_t *cf, const json_t *arr)
{
    json_t *copy = json_is_array(arr) ? json_deep_copy(arr) : json_array();
    if (copy == NULL)
        return -1;
    json_decref(cf->forbearances);
    cf->forbearances = copy;
    return 0;
}

int forbear_add(casefile_t *cf, const char *from, const char *until, int64_t now)
{
    if (cf->forbearances == NULL && (cf->forbearances = json_array()) == NULL)
        return -1;
    if (json_array_size(cf->forbearances) == 0 && cf->forbearance_from[0] != '\0' &&
        json_array_append_new(cf->forbearances,
                              json_pack("{s:s, s:s}", "from", cf->forbearance_from, "until",
                                        cf->forbearance_until)) < 0)
        return -1;
    if (json_array_append_new(cf->forbearances,
                              json_pack("{s:s, s:s}", "from", from, "until", until)) < 0)
        return -1;
    while (json_array_size(cf->forbearances) > FORBEAR_MAX)
        json_array_remove(cf->forbearances, 0);
    forbear_pick(cf, now);
    return 0;
}

int forbear_end(casefile_t *cf, const char *on, int64_t now, char *ended_from, char *ended_until)
{
    int64_t day;
    char buf[16];

    ended_from[0] = ended_until[0] = '\0';
    if (on == NULL || cal_parse_day(on, &day) < 0)
        return -1;
    int i = pick_index(cf, now);
    json_t *p = i >= 0 ? json_array_get(cf->forbearances, (size_t)i) : NULL;
    int64_t s, e;
    if (p == NULL || interval(cf, p, &s, &e) < 0 || e <= now)
        return 1; /* none in force or ahead */
    snprintf(ended_from, 11, "%s", str_of(p, "from"));
    snprintf(ended_until, 11, "%s", str_of(p, "until"));
    int64_t from_day;
    if (cal_parse_day(ended_from, &from_day) < 0)
        return -1;
    if (day <= from_day) {
        json_array_remove(cf->forbearances, (size_t)i); /* cancelled whole */
    } else if (strcmp(cal_format_day(day - 1, buf, sizeof(buf)), ended_until) < 0) {
        if (json_object_set_new(p, "until", json_string(buf)) < 0)
            return -1;
    }
    forbear_pick(cf, now);
    if (pick_index(cf, now) < 0 || json_array_size(cf->forbearances) == 0)
        cf->forbearance_from[0] = cf->forbearance_until[0] = '\0';
    return 0;
}
