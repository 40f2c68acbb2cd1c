/* report_analytics.c - the analytics of `recobroctl report` (see report.h): exact roll rates
 * between days-past-due buckets from the daily snapshots, champion/challenger per strategy,
 * technique and objection effectiveness per right-party contact, and the agents. Counting is done
 * by PostgreSQL; the shares, intervals and tests by stats.h. */
#include <stdlib.h>
#include <string.h>

#include "pg.h"
#include "report.h"
#include "stats.h"

/* ---- Shares and comparisons ------------------------------------------------------------------ */

static json_t *interval_new(stats_interval_t ci)
{
    return json_pack("[f, f]", ci.lo, ci.hi);
}

json_t *report_share_new(long long k, long long n)
{
    return json_pack("{s:I, s:I, s:o, s:o}", "count", (json_int_t)k, "of", (json_int_t)n, "rate",
                     report_rate_new(k, n), "ci95",
                     n > 0 ? interval_new(stats_wilson((long)k, (long)n)) : json_null());
}

json_t *report_compare_new(long long ka, long long na, long long kb, long long nb)
{
    stats_compare_t c;

    if (stats_compare((long)ka, (long)na, (long)kb, (long)nb, REPORT_MIN_SAMPLE, &c) < 0)
        return json_pack("{s:s, s:i}", "status", "not enough cases yet", "min_sample",
                         REPORT_MIN_SAMPLE);
    return json_pack("{s:s, s:i, s:f, s:o, s:f, s:f, s:b}", "status",
                     c.enough ? "ok" : "not enough cases yet", "min_sample", REPORT_MIN_SAMPLE,
                     "difference", c.diff, "ci95", interval_new(c.ci), "z", c.z, "p_value",
                     c.p_value, "significant", c.enough && c.p_value < 0.05);
}

/* ---- Queries --------------------------------------------------------------------------------- */

PGresult *report_query(PGconn *conn, const char *sql, const char *what, const char *const p[3],
                       char *err, size_t errlen)
{
    PGresult *res = PQexecParams(conn, sql, 3, NULL, p, NULL, NULL, 0);
    return pg_expect(res, PGRES_TUPLES_OK, what, err, errlen) < 0 ? NULL : res;
}

long long report_col_ll(const PGresult *res, int row, const char *name)
{
    int col = PQfnumber(res, name);
    return col < 0 || PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

const char *report_col_str(const PGresult *res, int row, const char *name)
{
    int col = PQfnumber(res, name);
    return col < 0 || PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col);
}

/* ---- Champion / challenger ------------------------------------------------------------------- */

/* One variant's figures from its group's measures m (borrowed). */
static json_t *variant_new(const char *variant, const json_t *m)
{
    const json_t *cure = json_object_get(m, "cure"), *p = json_object_get(m, "promises");

    return json_pack("{s:s, s:O, s:o, s:o, s:O}", "variant", variant, "cases",
                     json_object_get(m, "cases"), "cure",
                     report_share_new(json_integer_value(json_object_get(cure, "cured")),
                                      json_integer_value(json_object_get(cure, "ever_overdue"))),
                     "promise_kept",
                     report_share_new(json_integer_value(json_object_get(p, "kept")),
                                      json_integer_value(json_object_get(p, "settled"))),
                     "recovery", json_object_get(m, "recovery"));
}

/* share `what` ("cure", "promise_kept") of variant b against baseline a. */
static json_t *compare_what(const json_t *a, const json_t *b, const char *what)
{
    const json_t *sa = json_object_get(a, what), *sb = json_object_get(b, what);
    return report_compare_new(json_integer_value(json_object_get(sa, "count")),
                              json_integer_value(json_object_get(sa, "of")),
                              json_integer_value(json_object_get(sb, "count")),
                              json_integer_value(json_object_get(sb, "of")));
}

/* Fills entry's "baseline" and "comparisons": every variant against the champion (or, without
 * one, the variant with the most cases). */
static int add_comparisons(json_t *entry)
{
    json_t *vars = json_object_get(entry, "variants"), *cmp = json_array(), *base = NULL, *v;
    size_t i;

    json_array_foreach(vars, i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "variant")), "champion") == 0) {
            base = v;
            break;
        }
        if (base == NULL || json_integer_value(json_object_get(v, "cases")) >
                                json_integer_value(json_object_get(base, "cases")))
            base = v;
    }
    json_array_foreach(vars, i, v)
    {
        if (v == base)
            continue;
        json_t *c =
            json_pack("{s:O, s:O, s:o, s:o}", "variant", json_object_get(v, "variant"), "against",
                      json_object_get(base, "variant"), "cure", compare_what(base, v, "cure"),
                      "promise_kept", compare_what(base, v, "promise_kept"));
        if (c == NULL || json_array_append_new(cmp, c) < 0) {
            json_decref(cmp);
            return -1;
        }
    }
    if (json_object_set_new(entry, "comparisons", cmp) < 0)
        return -1;
    return base == NULL ? 0 : json_object_set(entry, "baseline", json_object_get(base, "variant"));
}

int report_champion_challenger(json_t *doc, json_t *groups)
{
    json_t *out = json_array(), *entry = NULL, *m;
    const char *key;

    if (out == NULL || json_object_set_new(doc, "champion_challenger", out) < 0)
        return -1;
    json_object_foreach(groups, key, m)
    {
        const char *slash = strchr(key, '/');
        size_t len = slash ? (size_t)(slash - key) : strlen(key);
        const char *sname = json_string_value(json_object_get(entry, "strategy"));
        if (entry == NULL || strlen(sname) != len || strncmp(sname, key, len) != 0) {
            entry = json_pack("{s:s%, s:n, s:[]}", "strategy", key, len, "baseline", "variants");
            if (entry == NULL || json_array_append_new(out, entry) < 0)
                return -1;
        }
        json_t *v = variant_new(slash ? slash + 1 : "", m);
        if (v == NULL || json_array_append_new(json_object_get(entry, "variants"), v) < 0)
            return -1;
    }
    size_t i;
    json_array_foreach(out, i, entry)
    {
        if (add_comparisons(entry) < 0)
            return -1;
    }
    return 0;
}

/* ---- Roll rates ------------------------------------------------------------------------------ */

/* The roll period: $3 (or the last snapshot's day) and $2 (or REPORT_ROLL_DAYS = 30 before
 * it). */
static const char *const sql_roll_period =
    "SELECT to_day::text AS to_day, coalesce($2::date, to_day - 30)::text AS from_day FROM (SELECT "
    "coalesce($3::date, (SELECT max(day) FROM case_snapshot"
    " WHERE $1::text IS NULL OR creditor_id = $1::text)) AS to_day) b";

/* Each case's state on $2 and on $3: its latest snapshot's bucket or its resolution (from
 * segment_history, on the debtor's local day; the later of the two wins, a resolution over a
 * snapshot of the same day); the cases open on $2, counted by (from, to). */
static const char *const sql_roll =
    "WITH ev AS ("
    " SELECT s.creditor_id, s.debtor_id, s.day, s.bucket AS state, 0 AS ord FROM case_snapshot s"
    "  WHERE ($1::text IS NULL OR s.creditor_id = $1::text) AND s.day <= $3::date"
    " UNION ALL"
    " SELECT h.creditor_id, h.debtor_id, (h.at AT TIME ZONE d.timezone)::date, 'resolved', 1"
    "  FROM segment_history h JOIN debtor d"
    "  ON d.creditor_id = h.creditor_id AND d.debtor_id = h.debtor_id"
    "  WHERE h.to_segment = 'resolved' AND ($1::text IS NULL OR h.creditor_id = $1::text)"
    "), st AS (SELECT DISTINCT ON (creditor_id, debtor_id) creditor_id, debtor_id, state FROM ev"
    "  WHERE day <= $2::date ORDER BY creditor_id, debtor_id, day DESC, ord DESC"
    "), en AS (SELECT DISTINCT ON (creditor_id, debtor_id) creditor_id, debtor_id, state FROM ev"
    "  WHERE day <= $3::date ORDER BY creditor_id, debtor_id, day DESC, ord DESC)"
    "SELECT st.state AS from_b, en.state AS to_b, count(*) AS cases"
    " FROM st JOIN en USING (creditor_id, debtor_id) WHERE st.state <> 'resolved'"
    " GROUP BY 1, 2 ORDER BY 1, 2";

/* The states of a case, best to worst, then resolved. */
static const char *const states[] = {"current", "1-30", "31-60",   "61-90",
                                     "91-180",  "181+", "resolved"};
#define N_STATES       7
#define STATE_RESOLVED 6

static int state_index(const char *s)
{
    for (int i = 0; i < N_STATES; i++)
        if (strcmp(states[i], s) == 0)
            return i;
    return -1;
}

/* The rates from the matrix n[from][to]: per bucket of the start, the share that stayed, went
 * to a worse or a better bucket, or was resolved. */
static json_t *roll_rates_new(long long n[N_STATES][N_STATES])
{
    json_t *rates = json_array();

    for (int f = 0; rates != NULL && f < STATE_RESOLVED; f++) {
        long long tot = 0, worse = 0, better = 0;
        for (int t = 0; t < N_STATES; t++) {
            tot += n[f][t];
            worse += t > f && t != STATE_RESOLVED ? n[f][t] : 0;
            better += t < f ? n[f][t] : 0;
        }
        if (tot == 0)
            continue;
        long long res = n[f][STATE_RESOLVED];
        json_t *r =
            json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o}", "from", states[f],
                      "cases", (json_int_t)tot, "stayed", (json_int_t)n[f][f], "worse",
                      (json_int_t)worse, "better", (json_int_t)better, "resolved", (json_int_t)res,
                      "stay_rate", report_rate_new(n[f][f], tot), "roll_forward_rate",
                      report_rate_new(worse, tot), "roll_back_rate", report_rate_new(better, tot),
                      "resolved_rate", report_rate_new(res, tot));
        if (r == NULL || json_array_append_new(rates, r) < 0) {
            json_decref(rates);
            return NULL;
        }
    }
    return rates;
}

/* "roll": {"from", "to", "buckets", "matrix": [{from, to, cases}], "rates"}. */
static int add_roll(PGconn *conn, json_t *doc, const report_opts_t *o, char *err, size_t errlen)
{
    const char *p[3] = {o->creditor, o->from, o->to};
    long long n[N_STATES][N_STATES] = {{0}};
    PGresult *res = report_query(conn, sql_roll_period, "report roll period", p, err, errlen);
    if (res == NULL)
        return -1;
    json_t *roll = json_pack(
        "{s:s?, s:s?, s:[], s:[]}", "from",
        PQgetisnull(res, 0, PQfnumber(res, "from_day")) ? NULL : report_col_str(res, 0, "from_day"),
        "to",
        PQgetisnull(res, 0, PQfnumber(res, "to_day")) ? NULL : report_col_str(res, 0, "to_day"),
        "matrix", "rates");
    PQclear(res);
    if (roll == NULL || json_object_set_new(doc, "roll", roll) < 0)
        goto oom;
    const char *q[3] = {o->creditor, json_string_value(json_object_get(roll, "from")),
                        json_string_value(json_object_get(roll, "to"))};
    if (q[1] == NULL || q[2] == NULL)
        return 0; /* no snapshot yet */
    if ((res = report_query(conn, sql_roll, "report roll", q, err, errlen)) == NULL)
        return -1;
    for (int row = 0; row < PQntuples(res); row++) {
        int f = state_index(report_col_str(res, row, "from_b"));
        int t = state_index(report_col_str(res, row, "to_b"));
        long long c = report_col_ll(res, row, "cases");
        json_t *e = json_pack("{s:s, s:s, s:I}", "from", report_col_str(res, row, "from_b"), "to",
                              report_col_str(res, row, "to_b"), "cases", (json_int_t)c);
        if (e == NULL || json_array_append_new(json_object_get(roll, "matrix"), e) < 0) {
            PQclear(res);
            goto oom;
        }
        if (f >= 0 && t >= 0)
            n[f][t] += c;
    }
    PQclear(res);
    if (json_object_set_new(roll, "rates", roll_rates_new(n)) == 0)
        return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* ---- Techniques and objections, per right-party contact -------------------------------------- */

/* Every right-party contact of the report's cases with what followed it: the first promise made
 * on its local day or the REPORT_PROMISE_DAYS after (its state), a plan agreed or a dispute
 * opened within REPORT_OUTCOME_DAYS; then, for each technique (kind 't') and objection ('o')
 * seen, the contacts with it and without it. */
static const char *const sql_effect = REPORT_CASES_CTE
    ", rpc AS ("
    " SELECT l.creditor_id, l.debtor_id, l.at, l.techniques, l.objections,"
    "  (l.at AT TIME ZONE d.timezone)::date AS day"
    " FROM contact_log l JOIN cs USING (creditor_id, debtor_id)"
    " JOIN debtor d USING (creditor_id, debtor_id) WHERE l.outcome = 'right_party'"
    "), fol AS ("
    " SELECT r.*, pm.state AS pstate,"
    "  EXISTS (SELECT 1 FROM plan p WHERE p.creditor_id = r.creditor_id"
    "   AND p.debtor_id = r.debtor_id AND p.agreed_on BETWEEN r.day AND r.day + 30) AS planned,"
    "  EXISTS (SELECT 1 FROM dispute x WHERE x.creditor_id = r.creditor_id"
    "   AND x.debtor_id = r.debtor_id AND x.opened_at >= r.at"
    "   AND x.opened_at < r.at + interval '30 days') AS disputed"
    " FROM rpc r LEFT JOIN LATERAL (SELECT p.state FROM promise p"
    "  WHERE p.creditor_id = r.creditor_id AND p.debtor_id = r.debtor_id"
    "  AND p.made_on BETWEEN r.day AND r.day + 7 ORDER BY p.made_on, p.promise_id LIMIT 1) pm"
    "  ON true"
    "), names AS ("
    " SELECT DISTINCT 't' AS kind, x AS name FROM fol, unnest(fol.techniques) AS x"
    " UNION SELECT DISTINCT 'o', x FROM fol, unnest(fol.objections) AS x"
    ")"
    "SELECT n.kind, n.name,"
    " CASE n.kind WHEN 't' THEN n.name = ANY (f.techniques) ELSE n.name = ANY (f.objections) END"
    "  AS used,"
    " count(*) AS contacts, count(*) FILTER (WHERE f.pstate IS NOT NULL) AS promised,"
    " count(*) FILTER (WHERE f.pstate IN ('kept', 'partially_kept', 'broken')) AS settled,"
    " count(*) FILTER (WHERE f.pstate = 'kept') AS kept,"
    " count(*) FILTER (WHERE f.planned) AS planned, count(*) FILTER (WHERE f.disputed) AS disputed"
    " FROM names n CROSS JOIN fol f GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";

/* The figures of one side (with / without) from row `row`. */
static json_t *side_new(const PGresult *res, int row, int technique)
{
    long long n = row < 0 ? 0 : report_col_ll(res, row, "contacts");
#define COL(name) (row < 0 ? 0 : report_col_ll(res, row, name))
    if (technique)
        return json_pack("{s:I, s:o, s:o}", "contacts", (json_int_t)n, "promise",
                         report_share_new(COL("promised"), n), "kept",
                         report_share_new(COL("kept"), COL("settled")));
    return json_pack("{s:I, s:o, s:o}", "contacts", (json_int_t)n, "plan",
                     report_share_new(COL("planned"), n), "dispute",
                     report_share_new(COL("disputed"), n));
#undef COL
}

/* The comparison of share `what` of side `with` against `without`. */
static json_t *side_compare(const json_t *without, const json_t *with, const char *what)
{
    const json_t *a = json_object_get(without, what), *b = json_object_get(with, what);
    return report_compare_new(json_integer_value(json_object_get(a, "count")),
                              json_integer_value(json_object_get(a, "of")),
                              json_integer_value(json_object_get(b, "count")),
                              json_integer_value(json_object_get(b, "of")));
}

/* One technique or objection from its rows (with: wi, without: wo; -1 when absent). */
static json_t *effect_new(const PGresult *res, const char *name, int wi, int wo, int technique)
{
    json_t *with = side_new(res, wi, technique), *without = side_new(res, wo, technique);
    const char *m1 = technique ? "promise" : "plan", *m2 = technique ? "kept" : "dispute";
    json_t *e = json_pack(
        "{s:s, s:O, s:O, s:o, s:o}", technique ? "technique" : "objection", name, "with", with,
        "without", without, technique ? "promise_difference" : "plan_difference",
        side_compare(without, with, m1), technique ? "kept_difference" : "dispute_difference",
        side_compare(without, with, m2));
    json_decref(with);
    json_decref(without);
    return e;
}

/* "techniques" and "objections". */
static int add_effects(PGconn *conn, json_t *doc, const char *const p[3], char *err, size_t errlen)
{
    json_t *tech = json_array(), *obj = json_array();
    PGresult *res = report_query(conn, sql_effect, "report techniques", p, err, errlen);
    int rc = -1;

    if (res == NULL || tech == NULL || obj == NULL)
        goto out;
    for (int row = 0; row < PQntuples(res);) {
        const char *kind = report_col_str(res, row, "kind"),
                   *name = report_col_str(res, row, "name");
        int wo = -1, wi = -1;
        for (; row < PQntuples(res) && strcmp(report_col_str(res, row, "kind"), kind) == 0 &&
               strcmp(report_col_str(res, row, "name"), name) == 0;
             row++)
            *(strcmp(report_col_str(res, row, "used"), "t") == 0 ? &wi : &wo) = row;
        int is_t = strcmp(kind, "t") == 0;
        json_t *e = effect_new(res, name, wi, wo, is_t);
        if (e == NULL || json_array_append_new(is_t ? tech : obj, e) < 0)
            goto oom;
    }
    if (json_object_set(doc, "techniques", tech) == 0 &&
        json_object_set(doc, "objections", obj) == 0)
        rc = 0;
    else
    oom:
        snprintf(err, errlen, "out of memory");
out:
    PQclear(res);
    json_decref(tech);
    json_decref(obj);
    return rc;
}

/* ---- Agents ---------------------------------------------------------------------------------- */

static const char *const sql_agents = REPORT_CASES_CTE
    ", con AS (SELECT l.agent_id, count(*) AS attempts,"
    "  count(*) FILTER (WHERE l.outcome = 'right_party') AS right_party"
    "  FROM contact_log l JOIN cs USING (creditor_id, debtor_id) WHERE l.agent_id IS NOT NULL"
    "  GROUP BY 1"
    "), pro AS (SELECT p.agent_id, count(*) AS promises,"
    "  count(*) FILTER (WHERE p.state IN ('kept', 'partially_kept', 'broken')) AS settled,"
    "  count(*) FILTER (WHERE p.state = 'kept') AS kept,"
    "  count(*) FILTER (WHERE p.limit_broken IS NOT NULL) AS limits"
    "  FROM promise p JOIN cs USING (creditor_id, debtor_id) WHERE p.agent_id IS NOT NULL"
    "  GROUP BY 1"
    "), pla AS (SELECT p.agent_id, count(*) AS plans,"
    "  count(*) FILTER (WHERE p.limit_broken IS NOT NULL) AS limits"
    "  FROM plan p JOIN cs USING (creditor_id, debtor_id) WHERE p.agent_id IS NOT NULL"
    "  GROUP BY 1"
    "), com AS (SELECT la.agent_id, count(*) AS complaints"
    "  FROM dispute x JOIN cs USING (creditor_id, debtor_id)"
    "  CROSS JOIN LATERAL (SELECT l.agent_id FROM contact_log l"
    "   WHERE l.creditor_id = x.creditor_id AND l.debtor_id = x.debtor_id"
    "   AND l.agent_id IS NOT NULL AND l.at <= x.opened_at"
    "   AND l.at > x.opened_at - interval '30 days'"
    "   ORDER BY l.at DESC, l.event_id DESC LIMIT 1) la GROUP BY 1"
    "), ag AS (SELECT agent_id FROM con UNION SELECT agent_id FROM pro"
    "  UNION SELECT agent_id FROM pla UNION SELECT agent_id FROM com)"
    "SELECT ag.agent_id, coalesce(con.attempts, 0) AS attempts,"
    " coalesce(con.right_party, 0) AS right_party, coalesce(pro.promises, 0) AS promises,"
    " coalesce(pro.settled, 0) AS settled, coalesce(pro.kept, 0) AS kept,"
    " coalesce(pla.plans, 0) AS plans, coalesce(com.complaints, 0) AS complaints,"
    " coalesce(pro.limits, 0) + coalesce(pla.limits, 0) AS limits_broken"
    " FROM ag LEFT JOIN con USING (agent_id) LEFT JOIN pro USING (agent_id)"
    " LEFT JOIN pla USING (agent_id) LEFT JOIN com USING (agent_id) ORDER BY 1";

static int add_agents(PGconn *conn, json_t *doc, const char *const p[3], char *err, size_t errlen)
{
    json_t *agents = json_array();
    PGresult *res = report_query(conn, sql_agents, "report agents", p, err, errlen);

    if (res == NULL) {
        json_decref(agents);
        return -1;
    }
    for (int r = 0; agents != NULL && r < PQntuples(res); r++) {
        long long att = report_col_ll(res, r, "attempts"),
                  rpc = report_col_ll(res, r, "right_party");
        json_t *a = json_pack(
            "{s:s, s:I, s:I, s:o, s:I, s:I, s:o, s:I, s:I}", "agent_id",
            report_col_str(res, r, "agent_id"), "attempts", (json_int_t)att, "right_party",
            (json_int_t)rpc, "right_party_rate", report_rate_new(rpc, att), "promises",
            (json_int_t)report_col_ll(res, r, "promises"), "plans",
            (json_int_t)report_col_ll(res, r, "plans"), "kept",
            report_share_new(report_col_ll(res, r, "kept"), report_col_ll(res, r, "settled")),
            "complaints", (json_int_t)report_col_ll(res, r, "complaints"), "limits_broken",
            (json_int_t)report_col_ll(res, r, "limits_broken"));
        if (a == NULL || json_array_append_new(agents, a) < 0) {
            json_decref(agents);
            agents = NULL;
        }
    }
    PQclear(res);
    if (agents == NULL || json_object_set_new(doc, "agents", agents) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int report_analytics(PGconn *conn, json_t *doc, const report_opts_t *o, char *err, size_t errlen)
{
    const char *p[3] = {o->creditor, o->from, o->to};

    if (add_roll(conn, doc, o, err, errlen) < 0 || add_effects(conn, doc, p, err, errlen) < 0)
        return -1;
    return add_agents(conn, doc, p, err, errlen);
}
