/* report.c - `recobroctl report`: the business measures of DOMAIN.md (cure rate, recovery rate
 * per currency, promise-kept rate, right-party-contact rate, days-past-due buckets and the roll
 * between them), overall and by segment, by strategy variant and by negotiation technique,
 * computed by aggregate queries in PostgreSQL and printed as one JSON document or a text table.
 *
 * Definitions (also printed in the document's "notes", so a reader of the output has them):
 * - The population is the cases of the creditor (all creditors without --creditor). --from and
 *   --to select a cohort: the cases whose earliest documented invoice fell due in the period
 *   (inclusive). Every measure of a case is then taken over its whole history up to now, so one
 *   period means one set of cases for every figure.
 * - A case is "ever overdue" when it has a documented invoice (an invoice.overdue with an
 *   amount). It is "cured" when it is resolved (balance back to zero) and money paid it: it keeps
 *   at least one allocation of a payment to an invoice that was not reversed. A resolved case
 *   without one was closed by a cancellation or an adjustment (or arrived already at zero): it is
 *   counted as resolved_without_payment, not cured. The case.resolved event carries that reason
 *   but is not kept in a table (the outbox is purged), hence the allocations.
 * - Recovery, per currency, never summed across currencies: received = payments received,
 *   reversed = those of them reversed since, collected = received - reversed; documented = the
 *   original amounts of the documented invoices that are not cancelled. rate = collected /
 *   documented.
 * - Promises: settled = kept + partially_kept + broken; kept_rate = kept / settled. Plan
 *   instalments are in their own table and never counted; cancelled and pending promises are
 *   shown but are not settled.
 * - Contacts: every contact.attempted is an attempt; right_party is its outcome. The phone
 *   figures count the phone channel only.
 * - Segment and variant: a case counts under the last segment it was worked in (its last
 *   segment_history entry that is not `resolved`) with that entry's variant, so a cured case
 *   credits the segment and strategy variant that cured it. Technique: a case counts under every
 *   technique its contact log records (so technique rows overlap).
 * - Days past due are not kept day by day. The distribution is of the open cases now; the
 *   movements between buckets are those observed at segment changes (segment_history keeps
 *   days_past_due at each entry): an approximation of the roll rate, not a monthly roll.
 *
 * All queries run in one read-only, repeatable-read transaction: one consistent snapshot. */
#include <jansson.h>
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "commands.h"
#include "money.h"
#include "pg.h"
#include "service.h"
#include "calendar.h"

static const char *const usage_text =
    "recobroctl: usage: recobroctl report [--creditor ID] [--from YYYY-MM-DD] [--to YYYY-MM-DD] "
    "[--format json|text]\n";

/* The days-past-due buckets, best to worst; `resolved` is the case back at zero. */
static const char *const buckets[] = {"current", "1-30", "31-60", "61-90", "90+", "resolved"};
#define N_BUCKETS       6
#define BUCKET_RESOLVED 5

/* The groupings of the report: the query's `dim` value and the output's key for it. */
static const struct {
    const char *dim;
    const char *section; /* member of the document; NULL for the overall figures */
    const char *field;   /* the group's name field in each row */
} dims[] = {
    {"all", NULL, NULL},
    {"segment", "by_segment", "segment"},
    {"variant", "by_variant", "variant"},
    {"technique", "by_technique", "technique"},
};
#define N_DIMS 4

/* ---- SQL ------------------------------------------------------------------------------------
 * $1 creditor (NULL: every creditor), $2 and $3 the cohort's first and last due date (NULL: no
 * bound). The prefix defines `cs` (one row per case of the report with its facts) and `grp`
 * (case -> (dim, key)); each query aggregates one measure over grp. */
#define BUCKET(d)                                                                                  \
    "CASE WHEN " d " <= 0 THEN 'current' WHEN " d " <= 30 THEN '1-30' WHEN " d " <= 60 "           \
    "THEN '31-60' WHEN " d " <= 90 THEN '61-90' ELSE '90+' END"

#define REPORT_CTE                                                                                 \
    "WITH cs AS ("                                                                                 \
    " SELECT c.creditor_id, c.debtor_id, c.currency, c.status, c.balance, c.days_past_due,"        \
    "  c.segment IS NOT NULL AS segmented,"                                                        \
    "  coalesce(w.to_segment, c.segment, 'unsegmented') AS seg,"                                   \
    "  coalesce(w.variant, c.variant, 'none') AS variant,"                                         \
    "  f.first_due IS NOT NULL AS overdue,"                                                        \
    "  c.status = 'resolved' AND coalesce(a.paid, 0) > 0 AS cured,"                                \
    "  c.status = 'resolved' AND coalesce(a.paid, 0) = 0 AS resolved_nopay"                        \
    " FROM debt_case c"                                                                            \
    " CROSS JOIN LATERAL (SELECT min(i.due_on) AS first_due FROM invoice i"                        \
    "  WHERE i.creditor_id = c.creditor_id AND i.debtor_id = c.debtor_id"                          \
    "  AND i.amount IS NOT NULL) f"                                                                \
    " LEFT JOIN LATERAL (SELECT h.to_segment, h.variant FROM segment_history h"                    \
    "  WHERE h.creditor_id = c.creditor_id AND h.debtor_id = c.debtor_id"                          \
    "  AND h.to_segment <> 'resolved' ORDER BY h.seq DESC LIMIT 1) w ON true"                      \
    " CROSS JOIN LATERAL (SELECT sum(pa.amount) AS paid FROM payment_allocation pa"                \
    "  WHERE pa.creditor_id = c.creditor_id AND pa.debtor_id = c.debtor_id"                        \
    "  AND NOT pa.reversed) a"                                                                     \
    " WHERE ($1::text IS NULL OR c.creditor_id = $1::text)"                                        \
    "  AND ($2::date IS NULL OR f.first_due >= $2::date)"                                          \
    "  AND ($3::date IS NULL OR f.first_due <= $3::date)"                                          \
    "), grp AS ("                                                                                  \
    " SELECT creditor_id, debtor_id, 'all'::text AS dim, ''::text AS key FROM cs"                  \
    " UNION ALL SELECT creditor_id, debtor_id, 'segment', seg FROM cs"                             \
    " UNION ALL SELECT creditor_id, debtor_id, 'variant', variant FROM cs"                         \
    " UNION ALL SELECT DISTINCT l.creditor_id, l.debtor_id, 'technique', t.t"                      \
    "  FROM contact_log l JOIN cs USING (creditor_id, debtor_id)"                                  \
    "  CROSS JOIN LATERAL unnest(l.techniques) AS t(t)"                                            \
    ") "

static const char *const sql_cases = REPORT_CTE
    "SELECT g.dim, g.key, count(*) AS cases,"
    " count(*) FILTER (WHERE cs.status <> 'resolved') AS open_cases,"
    " count(*) FILTER (WHERE cs.overdue) AS ever_overdue,"
    " count(*) FILTER (WHERE cs.overdue AND cs.cured) AS cured,"
    " count(*) FILTER (WHERE cs.overdue AND cs.resolved_nopay) AS resolved_without_payment"
    " FROM grp g JOIN cs USING (creditor_id, debtor_id)"
    " GROUP BY g.dim, g.key ORDER BY g.dim, g.key";

static const char *const sql_money =
    REPORT_CTE ", m AS ("
               " SELECT i.creditor_id, i.debtor_id, i.currency, i.amount AS documented,"
               "  0::bigint AS received, 0::bigint AS reversed"
               " FROM invoice i JOIN cs USING (creditor_id, debtor_id)"
               " WHERE i.amount IS NOT NULL AND i.currency IS NOT NULL AND i.status <> 'cancelled'"
               " UNION ALL"
               " SELECT p.creditor_id, p.debtor_id, p.currency, 0, p.amount,"
               "  CASE WHEN p.status = 'reversed' THEN p.amount ELSE 0 END"
               " FROM payment p JOIN cs USING (creditor_id, debtor_id)"
               " WHERE p.amount IS NOT NULL AND p.currency IS NOT NULL"
               ")"
               "SELECT g.dim, g.key, m.currency, sum(m.documented)::bigint AS documented,"
               " sum(m.received)::bigint AS received, sum(m.reversed)::bigint AS reversed"
               " FROM grp g JOIN m USING (creditor_id, debtor_id)"
               " GROUP BY g.dim, g.key, m.currency ORDER BY g.dim, g.key, m.currency";

static const char *const sql_promises = REPORT_CTE
    "SELECT g.dim, g.key,"
    " count(*) FILTER (WHERE p.state = 'kept') AS kept,"
    " count(*) FILTER (WHERE p.state = 'partially_kept') AS partially_kept,"
    " count(*) FILTER (WHERE p.state = 'broken') AS broken,"
    " count(*) FILTER (WHERE p.state = 'pending' AND NOT p.pending_approval) AS pending,"
    " count(*) FILTER (WHERE p.state = 'pending' AND p.pending_approval) AS pending_approval,"
    " count(*) FILTER (WHERE p.state = 'cancelled') AS cancelled"
    " FROM grp g JOIN promise p USING (creditor_id, debtor_id)"
    " GROUP BY g.dim, g.key ORDER BY g.dim, g.key";

static const char *const sql_contacts =
    REPORT_CTE "SELECT g.dim, g.key, count(*) AS attempts,"
               " count(*) FILTER (WHERE l.outcome = 'right_party') AS right_party,"
               " count(*) FILTER (WHERE l.channel = 'phone') AS phone_attempts,"
               " count(*) FILTER (WHERE l.channel = 'phone' AND l.outcome = 'right_party')"
               "  AS phone_right_party"
               " FROM grp g JOIN contact_log l USING (creditor_id, debtor_id)"
               " GROUP BY g.dim, g.key ORDER BY g.dim, g.key";

static const char *const sql_distribution = REPORT_CTE "SELECT g.dim, g.key, " BUCKET(
    "cs.days_past_due") " AS bucket, cs.currency,"
                        " count(*) AS cases, sum(cs.balance)::bigint AS balance"
                        " FROM grp g JOIN cs USING (creditor_id, debtor_id)"
                        " WHERE cs.status <> 'resolved' AND cs.segmented AND cs.currency IS NOT "
                        "NULL"
                        " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4";

static const char *const sql_moves = REPORT_CTE
    ", e AS ("
    " SELECT h.creditor_id, h.debtor_id, h.seq,"
    "  CASE WHEN h.to_segment = 'resolved' THEN 'resolved' ELSE " BUCKET(
        "h.days_past_due") " END"
                           "  AS b"
                           " FROM segment_history h JOIN cs USING (creditor_id, debtor_id)"
                           "), mv AS ("
                           " SELECT creditor_id, debtor_id,"
                           "  lag(b) OVER (PARTITION BY creditor_id, debtor_id ORDER BY seq) AS "
                           "from_b, b AS to_b"
                           " FROM e"
                           ")"
                           "SELECT g.dim, g.key, mv.from_b, mv.to_b, count(*) AS moves"
                           " FROM grp g JOIN mv USING (creditor_id, debtor_id) WHERE mv.from_b IS "
                           "NOT NULL"
                           " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4";

/* ---- Arguments ------------------------------------------------------------------------------ */

typedef struct report_opts {
    const char *creditor; /* NULL: every creditor */
    const char *from;     /* YYYY-MM-DD or NULL */
    const char *to;       /* YYYY-MM-DD or NULL */
    int text;             /* --format text */
} report_opts_t;

/* True when s is a real calendar date written YYYY-MM-DD. */
static int is_date(const char *s)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return 0;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1 || m < 1 || m > 12 || d < 1)
        return 0;
    return d <= mdays[m - 1] + (m == 2 && leap);
}

/* The options, in the order of option_names. */
enum { OPT_CREDITOR, OPT_FROM, OPT_TO, OPT_FORMAT, N_OPTS };
static const char *const option_names[N_OPTS] = {"--creditor", "--from", "--to", "--format"};

/* Which option argv[*i] is, as "--name value" (then *i moves to the value) or "--name=value".
 * Sets *v to the value (borrowed; NULL when "--name" is the last argument). Returns the
 * option's index, or -1 for an argument that is no option. */
static int match_option(int argc, char **argv, int *i, const char **v)
{
    const char *a = argv[*i];

    for (int n = 0; n < N_OPTS; n++) {
        size_t len = strlen(option_names[n]);
        if (strcmp(a, option_names[n]) == 0) {
            *v = *i + 1 < argc ? argv[++*i] : NULL;
            return n;
        }
        if (strncmp(a, option_names[n], len) == 0 && a[len] == '=') {
            *v = a + len + 1;
            return n;
        }
    }
    return -1;
}

/* Checks the value v (may be NULL) of option `which`. Returns 0, or -1 with the reason on
 * stderr. */
static int check_option(int which, const char *v)
{
    if (v == NULL || v[0] == '\0') {
        fprintf(stderr, "recobroctl: report: %s needs a value\n", option_names[which]);
        return -1;
    }
    if ((which == OPT_FROM || which == OPT_TO) && !is_date(v)) {
        fprintf(stderr, "recobroctl: report: %s '%s' is not a date (YYYY-MM-DD)\n",
                option_names[which], v);
        return -1;
    }
    if (which == OPT_FORMAT && strcmp(v, "json") != 0 && strcmp(v, "text") != 0) {
        fprintf(stderr, "recobroctl: report: unknown format '%s' (json or text)\n", v);
        return -1;
    }
    return 0;
}

/* Fills o from argv; returns 0, or -1 on a usage error (with a reason on stderr). The strings
 * in o are borrowed from argv. */
static int parse_args(int argc, char **argv, report_opts_t *o)
{
    const char **targets[N_OPTS] = {&o->creditor, &o->from, &o->to, NULL};

    memset(o, 0, sizeof(*o));
    for (int i = 0; i < argc; i++) {
        const char *v = NULL;
        int which = match_option(argc, argv, &i, &v);
        if (which < 0) {
            fprintf(stderr, "recobroctl: report: unknown argument '%s'\n", argv[i]);
            return -1;
        }
        if (check_option(which, v) < 0)
            return -1;
        if (which == OPT_FORMAT)
            o->text = strcmp(v, "text") == 0;
        else
            *targets[which] = v;
    }
    /* YYYY-MM-DD strings order like the dates they write. */
    if (o->from != NULL && o->to != NULL && strcmp(o->from, o->to) > 0) {
        fprintf(stderr, "recobroctl: report: --from %s is after --to %s\n", o->from, o->to);
        return -1;
    }
    return 0;
}

/* ---- Building the document ------------------------------------------------------------------ */

/* numerator / denominator as a JSON number (new reference), null when nothing to divide. */
static json_t *rate_new(long long num, long long den)
{
    return den > 0 ? json_real((double)num / (double)den) : json_null();
}

static json_t *money_new(int64_t minor, const char *currency)
{
    char buf[MONEY_FMT_MAX];
    if (money_format(minor, currency, buf, sizeof(buf)) < 0) /* unknown code: minor units */
        snprintf(buf, sizeof(buf), "%lld", (long long)minor);
    return json_string(buf);
}

/* The measures of a group before any row: every figure zero (new reference). */
static json_t *measures_new(void)
{
    return json_pack("{s:i, s:i,"
                     " s:{s:i, s:i, s:i, s:n},"
                     " s:[],"
                     " s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:n, s:n},"
                     " s:{s:i, s:i, s:n, s:{s:i, s:i, s:n}},"
                     " s:{s:[], s:[], s:[]}}",
                     "cases", 0, "open_cases", 0, "cure", "ever_overdue", 0, "cured", 0,
                     "resolved_without_payment", 0, "rate", "recovery", "promises", "kept", 0,
                     "partially_kept", 0, "broken", 0, "settled", 0, "pending", 0,
                     "pending_approval", 0, "cancelled", 0, "kept_rate", "partially_kept_rate",
                     "contacts", "attempts", 0, "right_party", 0, "rate", "phone", "attempts", 0,
                     "right_party", 0, "rate", "roll", "distribution", "movements", "rates");
}

/* The report under construction: dim -> key -> measures, in query order. */
typedef struct report {
    json_t *groups; /* {dim: {key: measures}} */
} report_t;

/* The measures of (dim, key), created when new (borrowed; NULL when out of memory). */
static json_t *group_get(report_t *r, const char *dim, const char *key)
{
    json_t *d = json_object_get(r->groups, dim);
    if (d == NULL) {
        d = json_object();
        if (d == NULL || json_object_set_new(r->groups, dim, d) < 0)
            return NULL;
    }
    json_t *m = json_object_get(d, key);
    if (m == NULL) {
        m = measures_new();
        if (m == NULL || json_object_set_new(d, key, m) < 0)
            return NULL;
    }
    return m;
}

static long long col_ll(const PGresult *res, int row, int col)
{
    return col < 0 || PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static const char *col_str(const PGresult *res, int row, int col)
{
    return col < 0 || PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col);
}

static void set_int(json_t *o, const char *k, long long v)
{
    json_object_set_new(o, k, json_integer(v));
}

/* Applies one row of a measure query to its group. */
typedef int (*row_fn)(json_t *m, const PGresult *res, int row);

static int row_cases(json_t *m, const PGresult *res, int row)
{
    json_t *cure = json_object_get(m, "cure");
    long long overdue = col_ll(res, row, PQfnumber(res, "ever_overdue"));
    long long cured = col_ll(res, row, PQfnumber(res, "cured"));

    set_int(m, "cases", col_ll(res, row, PQfnumber(res, "cases")));
    set_int(m, "open_cases", col_ll(res, row, PQfnumber(res, "open_cases")));
    set_int(cure, "ever_overdue", overdue);
    set_int(cure, "cured", cured);
    set_int(cure, "resolved_without_payment",
            col_ll(res, row, PQfnumber(res, "resolved_without_payment")));
    json_object_set_new(cure, "rate", rate_new(cured, overdue));
    return 0;
}

static int row_money(json_t *m, const PGresult *res, int row)
{
    const char *cur = col_str(res, row, PQfnumber(res, "currency"));
    long long documented = col_ll(res, row, PQfnumber(res, "documented"));
    long long received = col_ll(res, row, PQfnumber(res, "received"));
    long long reversed = col_ll(res, row, PQfnumber(res, "reversed"));
    long long collected = received - reversed; /* reversed is a part of received */
    json_t *line = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o}", "currency", cur, "documented",
                             money_new(documented, cur), "received", money_new(received, cur),
                             "reversed", money_new(reversed, cur), "collected",
                             money_new(collected, cur), "rate", rate_new(collected, documented));
    return line == NULL ? -1 : json_array_append_new(json_object_get(m, "recovery"), line);
}

static int row_promises(json_t *m, const PGresult *res, int row)
{
    json_t *p = json_object_get(m, "promises");
    long long kept = col_ll(res, row, PQfnumber(res, "kept"));
    long long partial = col_ll(res, row, PQfnumber(res, "partially_kept"));
    long long broken = col_ll(res, row, PQfnumber(res, "broken"));
    long long settled = kept + partial + broken;

    set_int(p, "kept", kept);
    set_int(p, "partially_kept", partial);
    set_int(p, "broken", broken);
    set_int(p, "settled", settled);
    set_int(p, "pending", col_ll(res, row, PQfnumber(res, "pending")));
    set_int(p, "pending_approval", col_ll(res, row, PQfnumber(res, "pending_approval")));
    set_int(p, "cancelled", col_ll(res, row, PQfnumber(res, "cancelled")));
    json_object_set_new(p, "kept_rate", rate_new(kept, settled));
    json_object_set_new(p, "partially_kept_rate", rate_new(partial, settled));
    return 0;
}

static int row_contacts(json_t *m, const PGresult *res, int row)
{
    json_t *c = json_object_get(m, "contacts");
    json_t *ph = json_object_get(c, "phone");
    long long att = col_ll(res, row, PQfnumber(res, "attempts"));
    long long rpc = col_ll(res, row, PQfnumber(res, "right_party"));
    long long patt = col_ll(res, row, PQfnumber(res, "phone_attempts"));
    long long prpc = col_ll(res, row, PQfnumber(res, "phone_right_party"));

    set_int(c, "attempts", att);
    set_int(c, "right_party", rpc);
    json_object_set_new(c, "rate", rate_new(rpc, att));
    set_int(ph, "attempts", patt);
    set_int(ph, "right_party", prpc);
    json_object_set_new(ph, "rate", rate_new(prpc, patt));
    return 0;
}

static int row_distribution(json_t *m, const PGresult *res, int row)
{
    json_t *dist = json_object_get(json_object_get(m, "roll"), "distribution");
    const char *b = col_str(res, row, PQfnumber(res, "bucket"));
    const char *cur = col_str(res, row, PQfnumber(res, "currency"));
    long long n = col_ll(res, row, PQfnumber(res, "cases"));
    json_t *entry = NULL;
    size_t i;
    json_t *e;

    json_array_foreach(dist, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "bucket")), b) == 0)
            entry = e;
    }
    if (entry == NULL) {
        entry = json_pack("{s:s, s:i, s:[]}", "bucket", b, "cases", 0, "balance");
        if (entry == NULL || json_array_append_new(dist, entry) < 0)
            return -1;
    }
    set_int(entry, "cases", json_integer_value(json_object_get(entry, "cases")) + n);
    json_t *bal = json_pack("{s:s, s:o}", "currency", cur, "amount",
                            money_new(col_ll(res, row, PQfnumber(res, "balance")), cur));
    return bal == NULL ? -1 : json_array_append_new(json_object_get(entry, "balance"), bal);
}

static int row_moves(json_t *m, const PGresult *res, int row)
{
    json_t *mv = json_pack("{s:s, s:s, s:I}", "from", col_str(res, row, PQfnumber(res, "from_b")),
                           "to", col_str(res, row, PQfnumber(res, "to_b")), "count",
                           (json_int_t)col_ll(res, row, PQfnumber(res, "moves")));
    return mv == NULL ? -1
                      : json_array_append_new(
                            json_object_get(json_object_get(m, "roll"), "movements"), mv);
}

static int bucket_index(const char *b)
{
    for (int i = 0; i < N_BUCKETS; i++)
        if (strcmp(buckets[i], b) == 0)
            return i;
    return -1;
}

/* Orders each distribution best bucket first and derives the roll rates from the movements:
 * from each bucket, the share that stayed, rolled to a worse bucket, rolled back to a better
 * one, or was resolved. */
static int finish_roll(json_t *m)
{
    json_t *roll = json_object_get(m, "roll");
    json_t *dist = json_object_get(roll, "distribution"), *sorted = json_array();
    long long n[N_BUCKETS][4] = {{0}}; /* stayed, forward, back, resolved */
    size_t i;
    json_t *e;

    for (int b = 0; b < N_BUCKETS && sorted != NULL; b++)
        json_array_foreach(dist, i, e)
        {
            if (bucket_index(json_string_value(json_object_get(e, "bucket"))) == b)
                json_array_append(sorted, e);
        }
    if (sorted == NULL || json_object_set_new(roll, "distribution", sorted) < 0)
        return -1;
    json_array_foreach(json_object_get(roll, "movements"), i, e)
    {
        int f = bucket_index(json_string_value(json_object_get(e, "from")));
        int t = bucket_index(json_string_value(json_object_get(e, "to")));
        long long c = json_integer_value(json_object_get(e, "count"));
        if (f < 0 || t < 0)
            continue;
        n[f][t == BUCKET_RESOLVED ? 3 : t == f ? 0 : t > f ? 1 : 2] += c;
    }
    json_t *rates = json_object_get(roll, "rates");
    for (int b = 0; b < N_BUCKETS; b++) {
        long long obs = n[b][0] + n[b][1] + n[b][2] + n[b][3];
        if (obs == 0)
            continue;
        json_t *r = json_pack(
            "{s:s, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "from", buckets[b], "observed",
            (json_int_t)obs, "stayed", (json_int_t)n[b][0], "rolled_forward", (json_int_t)n[b][1],
            "rolled_back", (json_int_t)n[b][2], "resolved", (json_int_t)n[b][3],
            "roll_forward_rate", rate_new(n[b][1], obs), "resolved_rate", rate_new(n[b][3], obs));
        if (r == NULL || json_array_append_new(rates, r) < 0)
            return -1;
    }
    return 0;
}

/* Runs one measure query and applies its rows. Returns 0, or -1 with err filled. */
static int run_measure(PGconn *conn, report_t *r, const char *sql, const char *what, row_fn fn,
                       const char *const params[3], char *err, size_t errlen)
{
    PGresult *res = PQexecParams(conn, sql, 3, NULL, params, NULL, NULL, 0);
    if (pg_expect(res, PGRES_TUPLES_OK, what, err, errlen) < 0)
        return -1;
    int fdim = PQfnumber(res, "dim"), fkey = PQfnumber(res, "key");
    for (int row = 0; row < PQntuples(res); row++) {
        json_t *m = group_get(r, col_str(res, row, fdim), col_str(res, row, fkey));
        if (m == NULL || fn(m, res, row) < 0) {
            snprintf(err, errlen, "%s: out of memory", what);
            PQclear(res);
            return -1;
        }
    }
    PQclear(res);
    return 0;
}

static json_t *notes_new(void)
{
    return json_pack(
        "[s, s, s, s, s, s, s, s]",
        "period: --from/--to select the cases whose earliest documented invoice fell due in "
        "the period; each measure covers those cases' whole history up to now",
        "cure: resolved cases with at least one payment allocation that was not reversed, over "
        "cases with a documented invoice; resolved cases without one (cancelled or adjusted to "
        "zero) are counted apart as resolved_without_payment and stay in the denominator",
        "recovery: per currency, never summed across currencies; collected = payments received "
        "- those reversed; documented = original amounts of documented invoices not cancelled",
        "promises: kept_rate = kept / (kept + partially_kept + broken); plan instalments, "
        "pending and cancelled promises are not settled promises",
        "contacts: every contact.attempted is an attempt (all channels, including notifier "
        "delivery reports); phone counts the phone channel only",
        "segment and variant: the last segment the case was worked in (not `resolved`) and its "
        "variant, from segment_history; technique: a case counts under each technique its "
        "contact log records, so technique rows overlap",
        "roll rates are approximated: days past due are not kept day by day, so the movements "
        "between buckets are those observed at segment changes (segment_history.days_past_due); "
        "the distribution is of the open cases as last planned",
        "rates are ratios (null when the denominator is 0); money is a decimal string in the "
        "currency's minor-unit digits");
}

/* Runs every measure's query in one read-only, repeatable-read transaction and adds its rows to
 * r's groups. Returns 0, or -1 with err filled. */
static int run_measures(PGconn *conn, report_t *r, const report_opts_t *o, char *err, size_t errlen)
{
    const struct {
        const char *sql;
        const char *what;
        row_fn fn;
    } measures[] = {
        {sql_cases, "report cases", row_cases}, /* first: it creates every group */
        {sql_money, "report money", row_money},
        {sql_promises, "report promises", row_promises},
        {sql_contacts, "report contacts", row_contacts},
        {sql_distribution, "report distribution", row_distribution},
        {sql_moves, "report movements", row_moves},
    };
    const char *params[3] = {o->creditor, o->from, o->to};

    if (pg_exec_ok(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", PGRES_COMMAND_OK, err,
                   errlen) < 0)
        return -1;
    for (size_t i = 0; i < sizeof(measures) / sizeof(measures[0]); i++)
        if (run_measure(conn, r, measures[i].sql, measures[i].what, measures[i].fn, params, err,
                        errlen) < 0)
            return -1;
    return pg_exec_ok(conn, "COMMIT", PGRES_COMMAND_OK, err, errlen);
}

/* The head of the document: what it is, its scope and when it was made (new reference), or
 * NULL when out of memory. */
static json_t *head_new(const report_opts_t *o)
{
    char at[32];

    return json_pack("{s:s, s:o, s:{s:o, s:o, s:s}, s:s}", "report", "recobro.business_measures",
                     "creditor_id", o->creditor ? json_string(o->creditor) : json_null(), "period",
                     "from", o->from ? json_string(o->from) : json_null(), "to",
                     o->to ? json_string(o->to) : json_null(), "cohort",
                     "cases whose earliest documented invoice fell due in the period",
                     "generated_at", cal_format_utc(clock_now(), at, sizeof(at)));
}

/* Adds grouping d to doc from its groups (borrowed; may be NULL when no case has it): the
 * overall figures as "overall", the others as an array of rows under dims[d].section, each
 * named by dims[d].field. Completes each group's roll rates first. Returns 0, or -1 when out
 * of memory. */
static int add_dimension(json_t *doc, int d, json_t *groups)
{
    const char *key;
    json_t *m;

    json_object_foreach(groups, key, m)
    {
        if (finish_roll(m) < 0)
            return -1;
    }
    if (dims[d].section == NULL) {
        m = json_object_get(groups, "");
        return json_object_set_new(doc, "overall", m ? json_incref(m) : measures_new());
    }
    json_t *rows = json_array();
    if (rows == NULL || json_object_set_new(doc, dims[d].section, rows) < 0)
        return -1;
    json_object_foreach(groups, key, m)
    {
        json_t *row = json_pack("{s:s}", dims[d].field, key);
        if (row == NULL || json_object_update(row, m) < 0 || json_array_append_new(rows, row) < 0) {
            json_decref(row);
            return -1;
        }
    }
    return 0;
}

/* The report document (new reference), or NULL with err filled. */
static json_t *report_new(PGconn *conn, const report_opts_t *o, char *err, size_t errlen)
{
    report_t r = {json_object()};
    json_t *doc = NULL;

    if (r.groups == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (run_measures(conn, &r, o, err, errlen) < 0)
        goto out;
    doc = head_new(o);
    if (doc == NULL)
        goto oom;
    for (int d = 0; d < N_DIMS; d++)
        if (add_dimension(doc, d, json_object_get(r.groups, dims[d].dim)) < 0)
            goto oom;
    if (json_object_set_new(doc, "notes", notes_new()) < 0)
        goto oom;
    json_decref(r.groups);
    return doc;
oom:
    snprintf(err, errlen, "out of memory");
out:
    json_decref(doc);
    json_decref(r.groups);
    return NULL;
}

/* ---- Text rendering ------------------------------------------------------------------------- */

static void pct(char *buf, size_t size, const json_t *rate)
{
    if (json_is_number(rate))
        snprintf(buf, size, "%.1f%%", json_number_value(rate) * 100.0);
    else
        snprintf(buf, size, "-");
}

static long long geti(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static void text_row(FILE *out, const char *label, const json_t *m)
{
    const json_t *cure = json_object_get(m, "cure"), *p = json_object_get(m, "promises");
    const json_t *c = json_object_get(m, "contacts"), *ph = json_object_get(c, "phone");
    char cr[16], kr[16], pr[16], rr[16], prr[16], a[32], b[32], x[32], y[32];

    pct(cr, sizeof(cr), json_object_get(cure, "rate"));
    pct(kr, sizeof(kr), json_object_get(p, "kept_rate"));
    pct(pr, sizeof(pr), json_object_get(p, "partially_kept_rate"));
    pct(rr, sizeof(rr), json_object_get(c, "rate"));
    pct(prr, sizeof(prr), json_object_get(ph, "rate"));
    snprintf(a, sizeof(a), "%lld/%lld", geti(cure, "cured"), geti(cure, "ever_overdue"));
    snprintf(b, sizeof(b), "%lld/%lld/%lld", geti(p, "kept"), geti(p, "partially_kept"),
             geti(p, "broken"));
    snprintf(x, sizeof(x), "%lld/%lld", geti(c, "right_party"), geti(c, "attempts"));
    snprintf(y, sizeof(y), "%lld/%lld", geti(ph, "right_party"), geti(ph, "attempts"));
    fprintf(out, "%-28.28s %6lld %9s %7s %11s %7s %7s %9s %7s %9s %7s\n", label, geti(m, "cases"),
            a, cr, b, kr, pr, x, rr, y, prr);
}

static void text_recovery(FILE *out, const char *label, const json_t *m)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(m, "recovery"), i, e)
    {
        char r[16];
        pct(r, sizeof(r), json_object_get(e, "rate"));
        fprintf(out, "%-28.28s %-4s %16s %16s %16s %16s %7s\n", label,
                json_string_value(json_object_get(e, "currency")),
                json_string_value(json_object_get(e, "documented")),
                json_string_value(json_object_get(e, "received")),
                json_string_value(json_object_get(e, "reversed")),
                json_string_value(json_object_get(e, "collected")), r);
    }
}

static void text_roll(FILE *out, const char *label, const json_t *m)
{
    const json_t *roll = json_object_get(m, "roll");
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(roll, "distribution"), i, e)
    {
        size_t j;
        json_t *bal;
        fprintf(out, "%-28.28s open %-8s %6lld cases", label,
                json_string_value(json_object_get(e, "bucket")), geti(e, "cases"));
        json_array_foreach(json_object_get(e, "balance"), j, bal)
        {
            fprintf(out, "  %s %s", json_string_value(json_object_get(bal, "amount")),
                    json_string_value(json_object_get(bal, "currency")));
        }
        fputc('\n', out);
    }
    json_array_foreach(json_object_get(roll, "rates"), i, e)
    {
        char f[16], r[16];
        pct(f, sizeof(f), json_object_get(e, "roll_forward_rate"));
        pct(r, sizeof(r), json_object_get(e, "resolved_rate"));
        fprintf(out,
                "%-28.28s from %-8s %6lld seen: %lld stayed, %lld worse (%s), %lld better, "
                "%lld resolved (%s)\n",
                label, json_string_value(json_object_get(e, "from")), geti(e, "observed"),
                geti(e, "stayed"), geti(e, "rolled_forward"), f, geti(e, "rolled_back"),
                geti(e, "resolved"), r);
    }
}

typedef void (*text_fn)(FILE *out, const char *label, const json_t *m);

/* Calls fn for the overall figures and every group row. */
static void text_each(FILE *out, const json_t *doc, text_fn fn)
{
    fn(out, "overall", json_object_get(doc, "overall"));
    for (int d = 1; d < N_DIMS; d++) {
        size_t i;
        json_t *row;
        json_array_foreach(json_object_get(doc, dims[d].section), i, row)
        {
            char label[96];
            snprintf(label, sizeof(label), "%s %s", dims[d].field,
                     json_string_value(json_object_get(row, dims[d].field)));
            fn(out, label, row);
        }
    }
}

static void print_text(FILE *out, const json_t *doc)
{
    const json_t *period = json_object_get(doc, "period");
    const char *cr = json_string_value(json_object_get(doc, "creditor_id"));
    const char *from = json_string_value(json_object_get(period, "from"));
    const char *to = json_string_value(json_object_get(period, "to"));
    size_t i;
    json_t *n;

    fprintf(out, "recobro business measures - creditor %s, cases due %s to %s, generated %s\n\n",
            cr ? cr : "(all)", from ? from : "(start)", to ? to : "(now)",
            json_string_value(json_object_get(doc, "generated_at")));
    fprintf(out, "%-28s %6s %9s %7s %11s %7s %7s %9s %7s %9s %7s\n", "group", "cases", "cured",
            "cure", "kept/pk/brk", "kept", "partial", "rpc/att", "rpc", "phone", "ph.rpc");
    text_each(out, doc, text_row);
    fprintf(out, "\nrecovery (per currency)\n%-28s %-4s %16s %16s %16s %16s %7s\n", "group", "cur",
            "documented", "received", "reversed", "collected", "rate");
    text_each(out, doc, text_recovery);
    fprintf(out, "\ndays past due: open cases by bucket, and movements seen at segment changes\n");
    text_each(out, doc, text_roll);
    fprintf(out, "\nnotes:\n");
    json_array_foreach(json_object_get(doc, "notes"), i, n)
    {
        fprintf(out, "- %s\n", json_string_value(n));
    }
}

/* ---- The command ---------------------------------------------------------------------------- */

int ctl_report(const config_t *cfg, int argc, char **argv)
{
    report_opts_t o;
    char err[700];

    if (parse_args(argc, argv, &o) < 0) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    PGconn *conn = pg_connect(cfg->pg_dsn, "recobroctl", err, sizeof(err));
    if (conn == NULL) {
        fprintf(stderr, "recobroctl: %s\n", err);
        return EXIT_FAIL;
    }
    json_t *doc = report_new(conn, &o, err, sizeof(err));
    PQfinish(conn);
    if (doc == NULL) {
        fprintf(stderr, "recobroctl: %s\n", pg_oneline(err));
        return EXIT_FAIL;
    }
    int rc = EXIT_OK;
    if (o.text) {
        print_text(stdout, doc);
    } else {
        /* Rates are ratios, not money: four significant digits are enough to read them. */
        char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(4));
        if (text == NULL) {
            fprintf(stderr, "recobroctl: out of memory\n");
            rc = EXIT_FAIL;
        } else {
            printf("%s\n", text);
            free(text);
        }
    }
    json_decref(doc);
    return rc;
}
