/* report_csv.c - `recobroctl report --format csv` (see report.h): the document as one flat table
 * for a BI tool, one row per group and measure:
 *   section,group,subgroup,measure,value
 * e.g. `segment,forgetful,,cure.rate,0.4167`, `champion_challenger,forgetful,challenger,
 * cure.difference,-0.0312`, `roll,1-30,31-60,cases,12`. Nested objects give dotted measure
 * names, arrays of two numbers (intervals) give .lo and .hi; money stays the decimal string of
 * the JSON. Fields are quoted (RFC 4180) when they hold a comma, a quote or a line break. */
#include <stdio.h>
#include <string.h>

#include "report.h"

static void field(FILE *out, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

/* True for the members that name a row (already in its group and subgroup columns). */
static int is_name(const char *measure)
{
    const char *dot = strrchr(measure, '.');
    measure = dot ? dot + 1 : measure;
    static const char *const names[] = {"technique", "objection", "agent_id", "variant", "against",
                                        "from",      "to",        "currency", "bucket",  NULL};
    for (int i = 0; names[i] != NULL; i++)
        if (strcmp(measure, names[i]) == 0)
            return 1;
    return 0;
}

/* Writes one row per scalar under v, named `prefix` (dotted). */
static void rows(FILE *out, const char *section, const char *group, const char *sub,
                 const char *prefix, const json_t *v)
{
    char name[256], num[64];
    const char *key;
    json_t *e;

    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, e)
        {
            snprintf(name, sizeof(name), "%s%s%s", prefix, prefix[0] ? "." : "", key);
            rows(out, section, group, sub, name, e);
        }
        return;
    }
    if (json_is_array(v)) {
        /* An interval [lo, hi]; other arrays (recovery per currency, buckets) have their own rows.
         */
        if (json_array_size(v) == 2 && json_is_number(json_array_get(v, 0))) {
            snprintf(name, sizeof(name), "%s.lo", prefix);
            rows(out, section, group, sub, name, json_array_get(v, 0));
            snprintf(name, sizeof(name), "%s.hi", prefix);
            rows(out, section, group, sub, name, json_array_get(v, 1));
        }
        return;
    }
    if (json_is_integer(v))
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(num, sizeof(num), "%.6g", json_real_value(v));
    else if (json_is_true(v) || json_is_false(v))
        snprintf(num, sizeof(num), "%s", json_is_true(v) ? "true" : "false");
    else if (json_is_string(v) && !is_name(prefix))
        snprintf(num, sizeof(num), "%s", "");
    else
        return; /* null: no row */
    field(out, section);
    fputc(',', out);
    field(out, group);
    fputc(',', out);
    field(out, sub);
    fputc(',', out);
    field(out, prefix);
    fputc(',', out);
    field(out, json_is_string(v) ? json_string_value(v) : num);
    fputc('\n', out);
}

/* The measures of a group of report.c (cases, cure, promises, contacts as rows; recovery and
 * buckets as sub-groups by currency and bucket). */
static void group_rows(FILE *out, const char *section, const char *group, const json_t *m)
{
    const char *key;
    json_t *e;
    size_t i;

    json_object_foreach((json_t *)m, key, e)
    {
        if (strcmp(key, "recovery") == 0 || strcmp(key, "buckets") == 0 || json_is_string(e))
            continue;
        rows(out, section, group, "", key, e);
    }
    json_array_foreach(json_object_get(m, "recovery"), i, e)
    {
        rows(out, section, group, json_string_value(json_object_get(e, "currency")), "recovery", e);
    }
    json_array_foreach(json_object_get(m, "buckets"), i, e)
    {
        rows(out, section, group, json_string_value(json_object_get(e, "bucket")), "open", e);
    }
}

/* The rows of an array section whose entries are named by `field`. */
static void named_rows(FILE *out, const json_t *doc, const char *section, const char *field)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(doc, section), i, e)
    {
        rows(out, section, json_string_value(json_object_get(e, field)), "", "", e);
    }
}

static void champion_rows(FILE *out, const json_t *doc)
{
    size_t i, j;
    json_t *s, *v;

    json_array_foreach(json_object_get(doc, "champion_challenger"), i, s)
    {
        const char *st = json_string_value(json_object_get(s, "strategy"));
        json_array_foreach(json_object_get(s, "variants"), j, v)
        {
            const char *name = json_string_value(json_object_get(v, "variant"));
            json_t *copy = json_deep_copy(v);
            json_object_del(copy, "recovery");
            rows(out, "champion_challenger", st, name, "", copy);
            json_decref(copy);
            size_t k;
            json_t *rc;
            json_array_foreach(json_object_get(v, "recovery"), k, rc)
            {
                char sub[160];
                snprintf(sub, sizeof(sub), "%s %s", name,
                         json_string_value(json_object_get(rc, "currency")));
                rows(out, "champion_challenger", st, sub, "recovery", rc);
            }
        }
        json_array_foreach(json_object_get(s, "comparisons"), j, v)
        {
            char sub[160];
            snprintf(sub, sizeof(sub), "%s vs %s", json_string_value(json_object_get(v, "variant")),
                     json_string_value(json_object_get(v, "against")));
            rows(out, "champion_challenger", st, sub, "", v);
        }
    }
}

int report_write_csv(FILE *out, const json_t *doc)
{
    size_t i;
    json_t *e;

    fputs("section,group,subgroup,measure,value\n", out);
    group_rows(out, "overall", "", json_object_get(doc, "overall"));
    json_array_foreach(json_object_get(doc, "by_segment"), i, e)
    {
        group_rows(out, "segment", json_string_value(json_object_get(e, "segment")), e);
    }
    champion_rows(out, doc);
    json_array_foreach(json_object_get(json_object_get(doc, "roll"), "matrix"), i, e)
    {
        rows(out, "roll", json_string_value(json_object_get(e, "from")),
             json_string_value(json_object_get(e, "to")), "cases", json_object_get(e, "cases"));
    }
    json_array_foreach(json_object_get(json_object_get(doc, "roll"), "rates"), i, e)
    {
        rows(out, "roll_rates", json_string_value(json_object_get(e, "from")), "", "", e);
    }
    named_rows(out, doc, "techniques", "technique");
    named_rows(out, doc, "objections", "objection");
    named_rows(out, doc, "agents", "agent_id");
    return ferror(out) ? -1 : 0;
}
