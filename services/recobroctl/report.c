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
 *   segment_history entry that is not `resolved`) with that entry's strategy and variant, so a
 *   cured case credits the segment and strategy variant that cured it. Variants are compared only
 *   within their strategy (report_analytics.c).
 * - The distribution by days-past-due bucket is of the open cases now; the roll rates between
 *   buckets come from the daily snapshots (report_analytics.c).
 *
 * All queries run in one read-only, repeatable-read transaction: one consistent snapshot. */
#include <errno.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "clock.h"
#include "commands.h"
#include "money.h"
#include "pg.h"
#include "report.h"
#include "service.h"

static const char *const usage_text =
    "recobroctl: usage: recobroctl report [--creditor ID] [--from YYYY-MM-DD] [--to YYYY-MM-DD] "
    "[--format json|text|csv|html] [--out FILE]\n";

/* The days-past-due buckets, best to worst (snapshot_bucket()'s). */
static const char *const buckets[] = {"current", "1-30", "31-60", "61-90", "91-180", "181+"};
#define N_BUCKETS 6

/* The groupings of the report: the query's `dim` value and the output's key for it. */
static const struct {
    const char *dim;
    const char *section; /* member of the document; NULL for the overall figures */
    const char *field;   /* the group's name field in each row */
} dims[] = {
    {"all", NULL, NULL},
    {"segment", "by_segment", "segment"},
    {"strategy_variant", "champion_challenger", NULL}, /* report_champion_challenger() */
};
#define N_DIMS 3

/* ---- SQL ------------------------------------------------------------------------------------
 * $1 creditor (NULL: every creditor), $2 and $3 the cohort's first and last due date (NULL: no
 * bound). The prefix defines `cs` (one row per case of the report with its facts) and `grp`
 * (case -> (dim, key)); each query aggregates one measure over grp. */
#define BUCKET(d)                                                                                  \
    "CASE WHEN " d " <= 0 THEN 'current' WHEN " d " <= 30 THEN '1-30' WHEN " d " <= 60 "           \
    "THEN '31-60' WHEN " d " <= 90 THEN '61-90' WHEN " d " <= 180 THEN '91-180' ELSE '181+' END"

#define REPORT_CTE                                                                                 \
    REPORT_CASES_CTE                                                                               \
    ", grp AS ("                                                                                   \
    " SELECT creditor_id, debtor_id, 'all'::text AS dim, ''::text AS key FROM cs"                  \
    " UNION ALL SELECT creditor_id, debtor_id, 'segment', seg FROM cs"                             \
    " UNION ALL SELECT creditor_id, debtor_id, 'strategy_variant', strategy || '/' || variant"     \
    "  FROM cs"                                                                                    \
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

/* ---- Arguments ------------------------------------------------------------------------------ */

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
enum { OPT_CREDITOR, OPT_FROM, OPT_TO, OPT_FORMAT, OPT_OUT, N_OPTS };
static const char *const option_names[N_OPTS] = {"--creditor", "--from", "--to", "--format",
                                                 "--out"};
static const char *const formats[] = {"json", "text", "csv", "html"}; /* report_format_t */

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

/* The report_format_t named s, or -1. */
static int format_index(const char *s)
{
    for (int f = 0; f < (int)(sizeof(formats) / sizeof(formats[0])); f++)
        if (strcmp(s, formats[f]) == 0)
            return f;
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
    if (which == OPT_FORMAT && format_index(v) < 0) {
        fprintf(stderr, "recobroctl: report: unknown format '%s' (json, text, csv or html)\n", v);
        return -1;
    }
    return 0;
}

/* Fills o from argv; returns 0, or -1 on a usage error (with a reason on stderr). The strings
 * in o are borrowed from argv. */
static int parse_args(int argc, char **argv, report_opts_t *o)
{
    const char **targets[N_OPTS] = {&o->creditor, &o->from, &o->to, NULL, &o->out};

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
            o->format = (report_format_t)format_index(v);
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

json_t *report_rate_new(long long num, long long den)
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
                     " s:[]}",
                     "cases", 0, "open_cases", 0, "cure", "ever_overdue", 0, "cured", 0,
                     "resolved_without_payment", 0, "rate", "recovery", "promises", "kept", 0,
                     "partially_kept", 0, "broken", 0, "settled", 0, "pending", 0,
                     "pending_approval", 0, "cancelled", 0, "kept_rate", "partially_kept_rate",
                     "contacts", "attempts", 0, "right_party", 0, "rate", "phone", "attempts", 0,
                     "right_party", 0, "rate", "buckets");
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
    json_object_set_new(cure, "rate", report_rate_new(cured, overdue));
    return 0;
}

static int row_money(json_t *m, const PGresult *res, int row)
{
    const char *cur = col_str(res, row, PQfnumber(res, "currency"));
    long long documented = col_ll(res, row, PQfnumber(res, "documented"));
    long long received = col_ll(res, row, PQfnumber(res, "received"));
    long long reversed = col_ll(res, row, PQfnumber(res, "reversed"));
    long long collected = received - reversed; /* reversed is a part of received */
    json_t *line = json_pack(
        "{s:s, s:o, s:o, s:o, s:o, s:o}", "currency", cur, "documented", money_new(documented, cur),
        "received", money_new(received, cur), "reversed", money_new(reversed, cur), "collected",
        money_new(collected, cur), "rate", report_rate_new(collected, documented));
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
    json_object_set_new(p, "kept_rate", report_rate_new(kept, settled));
    json_object_set_new(p, "partially_kept_rate", report_rate_new(partial, settled));
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
    json_object_set_new(c, "rate", report_rate_new(rpc, att));
    set_int(ph, "attempts", patt);
    set_int(ph, "right_party", prpc);
    json_object_set_new(ph, "rate", report_rate_new(prpc, patt));
    return 0;
}

static int row_distribution(json_t *m, const PGresult *res, int row)
{
    json_t *dist = json_object_get(m, "buckets");
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

static int bucket_index(const char *b)
{
    for (int i = 0; i < N_BUCKETS; i++)
        if (strcmp(buckets[i], b) == 0)
            return i;
    return -1;
}

/* Orders a group's distribution by days past due, best bucket first. */
static int sort_buckets(json_t *m)
{
    json_t *dist = json_object_get(m, "buckets"), *sorted = json_array();
    size_t i;
    json_t *e;

    for (int b = 0; b < N_BUCKETS && sorted != NULL; b++)
        json_array_foreach(dist, i, e)
        {
            if (bucket_index(json_string_value(json_object_get(e, "bucket"))) == b)
                json_array_append(sorted, e);
        }
    return sorted == NULL ? -1 : json_object_set_new(m, "buckets", sorted);
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
        "[s, s, s, s, s, s, s, s, s, s]",
        "period: --from/--to select the cases whose earliest documented invoice fell due in "
        "the period; each measure covers those cases' whole history up to now (roll rates "
        "excepted: see roll)",
        "cure: resolved cases with at least one payment allocation that was not reversed, over "
        "cases with a documented invoice; resolved cases without one (cancelled or adjusted to "
        "zero) are counted apart as resolved_without_payment and stay in the denominator",
        "recovery: per currency, never summed across currencies; collected = payments received "
        "- those reversed; documented = original amounts of documented invoices not cancelled",
        "promises: kept_rate = kept / (kept + partially_kept + broken); plan instalments, "
        "pending and cancelled promises are not settled promises",
        "contacts: every contact.attempted is an attempt (all channels, including notifier "
        "delivery reports); phone counts the phone channel only",
        "segment, strategy and variant: the last segment the case was worked in (not `resolved`) "
        "and its strategy and variant, from segment_history; variants are compared only within "
        "their strategy, against the champion, with a 95% interval of the difference (Wald) and "
        "a pooled two-proportion z-test; below 30 on either side: not enough cases yet",
        "roll: the days-past-due bucket of each case on the last daily snapshot on or before "
        "roll.from (the scheduler writes one per open case per local day) against its state on "
        "or before roll.to (a later snapshot, or resolved when its resolution came after); "
        "roll.from defaults to 30 days before roll.to, roll.to to the last snapshot; every case "
        "of the creditor, not the cohort",
        "techniques: per right-party contact; a contact is followed by a promise when a promise "
        "was made on its local day or the 7 days after; kept share = kept / settled of those "
        "promises; each technique against the right-party contacts without it; shares with "
        "Wilson 95% intervals",
        "objections: per right-party contact that raised it against those that did not; ends in "
        "a plan (agreed within 30 days) or a dispute (opened within 30 days); agents: contacts "
        "and promises carrying their agent_id; complaints are disputes opened within 30 days "
        "after the agent's last contact with the case; limits broken are their promises and "
        "plans sent to a supervisor",
        "rates are ratios (null when the denominator is 0); money is a decimal string in the "
        "currency's minor-unit digits");
}

/* Runs every measure's query (inside the caller's transaction) and adds its rows to r's groups.
 * Returns 0, or -1 with err filled. */
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
    };
    const char *params[3] = {o->creditor, o->from, o->to};

    for (size_t i = 0; i < sizeof(measures) / sizeof(measures[0]); i++)
        if (run_measure(conn, r, measures[i].sql, measures[i].what, measures[i].fn, params, err,
                        errlen) < 0)
            return -1;
    return 0;
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
 * overall figures as "overall", the strategy variants as "champion_challenger", the others as an
 * array of rows under dims[d].section, each named by dims[d].field. Sorts each group's buckets
 * first. Returns 0, or -1 when out of memory. */
static int add_dimension(json_t *doc, int d, json_t *groups)
{
    const char *key;
    json_t *m;

    json_object_foreach(groups, key, m)
    {
        if (sort_buckets(m) < 0)
            return -1;
    }
    if (dims[d].section == NULL) {
        m = json_object_get(groups, "");
        return json_object_set_new(doc, "overall", m ? json_incref(m) : measures_new());
    }
    if (dims[d].field == NULL)
        return report_champion_challenger(doc, groups);
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

/* The document from the measures' groups (new reference), or NULL when out of memory. */
static json_t *document_new(const report_t *r, const report_opts_t *o)
{
    json_t *doc = head_new(o);

    for (int d = 0; doc != NULL && d < N_DIMS; d++)
        if (add_dimension(doc, d, json_object_get(r->groups, dims[d].dim)) < 0) {
            json_decref(doc);
            return NULL;
        }
    return doc;
}

/* The report document (new reference), or NULL with err filled. Every query runs in one
 * read-only, repeatable-read transaction: one consistent snapshot. */
static json_t *report_new(PGconn *conn, const report_opts_t *o, char *err, size_t errlen)
{
    report_t r = {json_object()};
    json_t *doc = NULL;

    if (r.groups == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (pg_exec_ok(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", PGRES_COMMAND_OK, err,
                   errlen) < 0 ||
        run_measures(conn, &r, o, err, errlen) < 0)
        goto out;
    doc = document_new(&r, o);
    if (doc == NULL || json_object_set_new(doc, "notes", notes_new()) < 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (report_analytics(conn, doc, o, err, errlen) < 0 ||
        pg_exec_ok(conn, "COMMIT", PGRES_COMMAND_OK, err, errlen) < 0)
        goto out;
    json_decref(r.groups);
    return doc;
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

static void text_buckets(FILE *out, const char *label, const json_t *m)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(m, "buckets"), i, e)
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
}

/* The roll rates: from each bucket on roll.from, where the cases stood on roll.to. */
static void text_roll(FILE *out, const json_t *doc)
{
    const json_t *roll = json_object_get(doc, "roll");
    size_t i;
    json_t *e;

    fprintf(out, "\nroll rates from %s to %s (daily snapshots)\n",
            json_string_value(json_object_get(roll, "from")),
            json_string_value(json_object_get(roll, "to")));
    json_array_foreach(json_object_get(roll, "rates"), i, e)
    {
        char f[16], r[16];
        pct(f, sizeof(f), json_object_get(e, "roll_forward_rate"));
        pct(r, sizeof(r), json_object_get(e, "resolved_rate"));
        fprintf(out,
                "from %-8s %6lld cases: %lld stayed, %lld worse (%s), %lld better, %lld "
                "resolved (%s)\n",
                json_string_value(json_object_get(e, "from")), geti(e, "cases"), geti(e, "stayed"),
                geti(e, "worse"), f, geti(e, "better"), geti(e, "resolved"), r);
    }
}

typedef void (*text_fn)(FILE *out, const char *label, const json_t *m);

/* Calls fn for the overall figures and every group row. */
static void text_each(FILE *out, const json_t *doc, text_fn fn)
{
    fn(out, "overall", json_object_get(doc, "overall"));
    for (int d = 1; d < N_DIMS && dims[d].field != NULL; d++) {
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

/* A comparison as "+4.1 pts [-1.2, +9.4] p=0.13" or "not enough cases yet" into buf. */
static const char *text_compare(const json_t *c, char *buf, size_t size)
{
    const json_t *ci = json_object_get(c, "ci95");
    if (strcmp(json_string_value(json_object_get(c, "status")), "ok") != 0)
        snprintf(buf, size, "not enough cases yet");
    else
        snprintf(buf, size, "%+.1f pts [%+.1f, %+.1f] p=%.3g%s",
                 json_number_value(json_object_get(c, "difference")) * 100,
                 json_number_value(json_array_get(ci, 0)) * 100,
                 json_number_value(json_array_get(ci, 1)) * 100,
                 json_number_value(json_object_get(c, "p_value")),
                 json_is_true(json_object_get(c, "significant")) ? " *" : "");
    return buf;
}

/* Champion/challenger, techniques and agents, one line each. */
static void text_analytics(FILE *out, const json_t *doc)
{
    char a[96], b[96];
    size_t i, j;
    json_t *e, *c;

    fprintf(out, "\nchampion/challenger per strategy (challenger - champion)\n");
    json_array_foreach(json_object_get(doc, "champion_challenger"), i, e)
    {
        json_array_foreach(json_object_get(e, "comparisons"), j, c)
        {
            fprintf(out, "%-16.16s %s vs %s: cure %s; promise kept %s\n",
                    json_string_value(json_object_get(e, "strategy")),
                    json_string_value(json_object_get(c, "variant")),
                    json_string_value(json_object_get(c, "against")),
                    text_compare(json_object_get(c, "cure"), a, sizeof(a)),
                    text_compare(json_object_get(c, "promise_kept"), b, sizeof(b)));
        }
    }
    fprintf(out, "\ntechniques per right-party contact (with - without)\n");
    json_array_foreach(json_object_get(doc, "techniques"), i, e)
    {
        fprintf(out, "%-22.22s %5lld contacts: promise %s; kept %s\n",
                json_string_value(json_object_get(e, "technique")),
                geti(json_object_get(e, "with"), "contacts"),
                text_compare(json_object_get(e, "promise_difference"), a, sizeof(a)),
                text_compare(json_object_get(e, "kept_difference"), b, sizeof(b)));
    }
    fprintf(out, "\nagents\n");
    json_array_foreach(json_object_get(doc, "agents"), i, e)
    {
        pct(a, sizeof(a), json_object_get(json_object_get(e, "kept"), "rate"));
        fprintf(out,
                "%-22.22s %5lld attempts %5lld rpc %4lld promises kept %-6s %3lld complaints "
                "%3lld limits broken\n",
                json_string_value(json_object_get(e, "agent_id")), geti(e, "attempts"),
                geti(e, "right_party"), geti(e, "promises"), a, geti(e, "complaints"),
                geti(e, "limits_broken"));
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
    fprintf(out, "\ndays past due: open cases by bucket\n");
    text_each(out, doc, text_buckets);
    text_roll(out, doc);
    text_analytics(out, doc);
    fprintf(out, "\nnotes:\n");
    json_array_foreach(json_object_get(doc, "notes"), i, n)
    {
        fprintf(out, "- %s\n", json_string_value(n));
    }
}

/* ---- The command ---------------------------------------------------------------------------- */

/* Writes doc to out in format f. Returns 0, or -1 when out of memory or the write failed. */
static int write_doc(FILE *out, const json_t *doc, report_format_t f)
{
    if (f == REPORT_TEXT) {
        print_text(out, doc);
        return ferror(out) ? -1 : 0;
    }
    if (f == REPORT_CSV)
        return report_write_csv(out, doc);
    if (f == REPORT_HTML)
        return report_write_html(out, doc);
    /* Rates are ratios, not money: four significant digits are enough to read them. */
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(4));
    if (text == NULL)
        return -1;
    int rc = fprintf(out, "%s\n", text) < 0 ? -1 : 0;
    free(text);
    return rc;
}

/* Writes doc to o->out (stdout when NULL). Returns the exit status (a failure said in one line). */
static int output(const json_t *doc, const report_opts_t *o)
{
    FILE *out = o->out != NULL ? fopen(o->out, "w") : stdout;

    if (out == NULL) {
        fprintf(stderr, "recobroctl: report: cannot write %s: %s\n", o->out, strerror(errno));
        return EXIT_FAIL;
    }
    int rc = write_doc(out, doc, o->format);
    if (o->out != NULL && fclose(out) != 0)
        rc = -1;
    else if (o->out == NULL && fflush(out) != 0)
        rc = -1;
    if (rc < 0) {
        fprintf(stderr, "recobroctl: report: writing %s failed\n", o->out ? o->out : "stdout");
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

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
    int rc = output(doc, &o);
    json_decref(doc);
    return rc;
}
