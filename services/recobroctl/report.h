/* report.h - the parts of `recobroctl report` (CONTRACT.md "Reports"): report.c reads the
 * arguments, runs the business measures and prints json or text; report_analytics.c adds the
 * exact roll rates (daily snapshots), champion/challenger per strategy, technique and objection
 * effectiveness and the agents; report_csv.c and report_html.c (with report_svg.c's charts) write
 * the same document as one flat table or one self-contained page. */
#ifndef RECOBRO_CTL_REPORT_H
#define RECOBRO_CTL_REPORT_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>

/* Below this many cases (or contacts) on either side a comparison says "not enough cases yet". */
#define REPORT_MIN_SAMPLE 30
/* A right-party contact counts as followed by a promise made within this many local days. */
#define REPORT_PROMISE_DAYS 7
/* ... and as ending in a plan or a dispute within this many. */
#define REPORT_OUTCOME_DAYS 30
/* The roll period when --from is not given: this many days before --to (or the last snapshot). */
#define REPORT_ROLL_DAYS 30

typedef enum { REPORT_JSON, REPORT_TEXT, REPORT_CSV, REPORT_HTML } report_format_t;

typedef struct report_opts {
    const char *creditor; /* NULL: every creditor */
    const char *from;     /* YYYY-MM-DD or NULL */
    const char *to;       /* YYYY-MM-DD or NULL */
    report_format_t format;
    const char *out; /* file to write; NULL: stdout */
} report_opts_t;

/* The cases of the report, one row each with their facts, as the SQL CTE `cs`. $1 creditor (NULL:
 * every creditor), $2 and $3 the cohort's first and last due date (NULL: no bound). The case
 * counts under the last segment it was worked in (not `resolved`), with that entry's strategy and
 * variant. */
#define REPORT_CASES_CTE                                                                           \
    "WITH cs AS ("                                                                                 \
    " SELECT c.creditor_id, c.debtor_id, c.currency, c.status, c.balance, c.days_past_due,"        \
    "  c.segment IS NOT NULL AS segmented,"                                                        \
    "  coalesce(w.to_segment, c.segment, 'unsegmented') AS seg,"                                   \
    "  coalesce(w.strategy, w.to_segment, c.strategy, c.segment, 'none') AS strategy,"             \
    "  coalesce(w.variant, c.variant, 'none') AS variant,"                                         \
    "  f.first_due IS NOT NULL AS overdue,"                                                        \
    "  c.status = 'resolved' AND coalesce(a.paid, 0) > 0 AS cured,"                                \
    "  c.status = 'resolved' AND coalesce(a.paid, 0) = 0 AS resolved_nopay"                        \
    " FROM debt_case c"                                                                            \
    " CROSS JOIN LATERAL (SELECT min(i.due_on) AS first_due FROM invoice i"                        \
    "  WHERE i.creditor_id = c.creditor_id AND i.debtor_id = c.debtor_id"                          \
    "  AND i.amount IS NOT NULL) f"                                                                \
    " LEFT JOIN LATERAL (SELECT h.to_segment, h.strategy, h.variant FROM segment_history h"        \
    "  WHERE h.creditor_id = c.creditor_id AND h.debtor_id = c.debtor_id"                          \
    "  AND h.to_segment <> 'resolved' ORDER BY h.seq DESC LIMIT 1) w ON true"                      \
    " CROSS JOIN LATERAL (SELECT sum(pa.amount) AS paid FROM payment_allocation pa"                \
    "  WHERE pa.creditor_id = c.creditor_id AND pa.debtor_id = c.debtor_id"                        \
    "  AND NOT pa.reversed) a"                                                                     \
    " WHERE ($1::text IS NULL OR c.creditor_id = $1::text)"                                        \
    "  AND ($2::date IS NULL OR f.first_due >= $2::date)"                                          \
    "  AND ($3::date IS NULL OR f.first_due <= $3::date)"                                          \
    ")"

/* num / den as a JSON number (new reference), null when den is 0. */
json_t *report_rate_new(long long num, long long den);

/* A share with its interval (new reference): {"count": k, "of": n, "rate": k/n or null,
 * "ci95": [lo, hi] (Wilson) or null}. */
json_t *report_share_new(long long k, long long n);

/* share b against share a (new reference): {"difference", "ci95": [lo, hi], "z", "p_value",
 * "significant": p < 0.05} when both sides have REPORT_MIN_SAMPLE, else {"status": "not enough
 * cases yet", "min_sample": REPORT_MIN_SAMPLE} (with the figures when both sides have any). */
json_t *report_compare_new(long long ka, long long na, long long kb, long long nb);

/* Runs one query with the report's three parameters (o's creditor, from, to; NULL when not set)
 * expecting rows. Returns the result (the caller clears it), or NULL with err filled. */
PGresult *report_query(PGconn *conn, const char *sql, const char *what, const char *const p[3],
                       char *err, size_t errlen);

/* Reads column `name` of row `row` as an integer (0 when NULL) or a string ("" when NULL). */
long long report_col_ll(const PGresult *res, int row, const char *name);
const char *report_col_str(const PGresult *res, int row, const char *name);

/* Adds "champion_challenger" to doc from the groups of dimension "strategy_variant" (borrowed;
 * keys "strategy/variant", each with the measures of report.c). Returns 0, or -1 out of memory. */
int report_champion_challenger(json_t *doc, json_t *groups);

/* Adds "roll_rates", "techniques", "objections" and "agents" to doc, inside the caller's
 * read-only transaction. Returns 0, or -1 with err filled. */
int report_analytics(PGconn *conn, json_t *doc, const report_opts_t *o, char *err, size_t errlen);

/* Writes doc as one flat CSV table (group, key, measure, value...). Returns 0, or -1 when the
 * write failed. */
int report_write_csv(FILE *out, const json_t *doc);

/* Writes doc as one self-contained HTML page with inline SVG charts. Returns 0 or -1. */
int report_write_html(FILE *out, const json_t *doc);

#endif
