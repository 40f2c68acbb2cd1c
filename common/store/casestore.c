/* casestore.c - loading and saving case files in PostgreSQL (see casestore.h). */
#include "casestore.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caseinteract.h"
#include "chargestore.h"
#include "interactstore.h"
#include "paystore.h"
#include "pg.h"
#include "pgpipe.h"

/* ---- The statements -------------------------------------------------------------------------- */

static const struct {
    const char *name;
    const char *sql;
} statements[] = {
    {"cs_touch", "INSERT INTO debt_case (creditor_id, debtor_id) VALUES ($1, $2) "
                 "ON CONFLICT DO NOTHING"},
    /* The case, its parties, invoices and pending tasks in one round trip. %s: FOR UPDATE. */
    {"cs_load",
     "SELECT c.currency, c.balance, c.days_past_due, c.segment, c.rule, c.strategy, c.variant, "
     " c.policy_version, c.high_value, "
     " coalesce(extract(epoch FROM c.segment_since)::bigint, 0) AS segment_since, "
     " c.segment_seq, c.last_step, c.stage, c.status, c.features::text AS features, "
     " c.followup::text AS followup, "
     " c.next_action, c.next_channel, "
     " coalesce(extract(epoch FROM c.next_not_before)::bigint, 0) AS next_not_before, "
     " c.version, extract(epoch FROM c.updated_at)::bigint AS updated_at, "
     " cr.name AS creditor_name, d.name AS debtor_name, d.timezone, d.country, d.locale, "
     " d.phone, d.email, "
     " (SELECT coalesce(json_agg(json_build_object('id', i.invoice_id, 'number', i.number, "
     "   'currency', i.currency, 'amount', i.amount, 'open_amount', i.open_amount, "
     "   'due_on', i.due_on, 'issued_on', i.issued_on, 'status', i.status, "
     "   'adjusted', i.adjusted) ORDER BY i.invoice_id), '[]')::text "
     "  FROM invoice i WHERE i.creditor_id = $1 AND i.debtor_id = $2) AS invoices, "
     " (SELECT coalesce(json_agg(json_build_object('task_id', t.task_id, 'action', t.action, "
     "   'channel', t.channel, 'segment', t.segment, 'segment_seq', t.segment_seq, "
     "   'step', t.step, 'template', t.template, 'priority', t.priority, "
     "   'not_before', coalesce(extract(epoch FROM t.not_before)::bigint, 0), "
     "   'not_after', coalesce(extract(epoch FROM t.not_after)::bigint, 0)) "
     "   ORDER BY t.created_at, t.step), '[]')::text "
     "  FROM task t WHERE t.creditor_id = $1 AND t.debtor_id = $2 AND t.status = 'pending') "
     "  AS tasks, "
     /* interactions: the contact state planning obeys (0004_interactions.sql). */
     " (SELECT json_build_object("
     "   'calls', (SELECT coalesce(json_agg(x.e), '[]') FROM (SELECT "
     "     extract(epoch FROM l.at)::bigint AS e FROM contact_log l WHERE l.creditor_id = $1 "
     "     AND l.debtor_id = $2 AND l.channel = 'phone' ORDER BY l.at DESC LIMIT 64) x), "
     "   'last_rpc_at', (SELECT extract(epoch FROM max(l.at))::bigint FROM contact_log l "
     "     WHERE l.creditor_id = $1 AND l.debtor_id = $2 AND l.channel = 'phone' "
     "     AND l.outcome IN ('right_party', 'refused')), "
     "   'last_contact_at', (SELECT extract(epoch FROM max(l.at))::bigint FROM contact_log l "
     "     WHERE l.creditor_id = $1 AND l.debtor_id = $2), "
     "   'prefs', (SELECT json_build_object('do_not_call', p.do_not_call, 'do_not_sms', "
     "     p.do_not_sms, 'do_not_email', p.do_not_email, 'cease_communication', "
     "     p.cease_communication, 'timezone', p.timezone) FROM contact_preference p "
     "     WHERE p.creditor_id = $1 AND p.debtor_id = $2), "
     "   'forbearance', (SELECT json_build_object('from', f.from_on, 'until', f.until_on) "
     "     FROM forbearance f WHERE f.creditor_id = $1 AND f.debtor_id = $2 "
     "     AND (f.ended_on IS NULL OR f.ended_on > f.from_on) "
     "     ORDER BY f.until_on DESC, f.from_on DESC LIMIT 1), "
     /* version 2 (forbear.h): every period, shortened by its early end (0011). */
     "   'forbearances', (SELECT coalesce(json_agg(json_build_object('from', f.from_on, "
     "     'until', least(f.until_on, f.ended_on - 1)) ORDER BY f.from_on, f.until_on), '[]') "
     "     FROM forbearance f WHERE f.creditor_id = $1 AND f.debtor_id = $2 "
     "     AND (f.ended_on IS NULL OR f.ended_on > f.from_on))))::text AS contact "
     "FROM debt_case c "
     "LEFT JOIN creditor cr ON cr.creditor_id = c.creditor_id "
     "LEFT JOIN debtor d ON d.creditor_id = c.creditor_id AND d.debtor_id = c.debtor_id "
     "WHERE c.creditor_id = $1 AND c.debtor_id = $2"},
    {"cs_creditor", "INSERT INTO creditor (creditor_id, name) VALUES ($1, $2) "
                    "ON CONFLICT (creditor_id) DO UPDATE SET name = EXCLUDED.name, "
                    "updated_at = now() WHERE creditor.name IS DISTINCT FROM EXCLUDED.name"},
    {"cs_debtor",
     "INSERT INTO debtor (creditor_id, debtor_id, name, timezone, country, locale, phone, email) "
     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
     /* A field the case does not know ($3, $5-$8 NULL) never erases what is stored. */
     "ON CONFLICT (creditor_id, debtor_id) DO UPDATE SET "
     "name = COALESCE(EXCLUDED.name, debtor.name), timezone = EXCLUDED.timezone, "
     "country = COALESCE(EXCLUDED.country, debtor.country), "
     "locale = COALESCE(EXCLUDED.locale, debtor.locale), "
     "phone = COALESCE(EXCLUDED.phone, debtor.phone), "
     "email = COALESCE(EXCLUDED.email, debtor.email), updated_at = now()"},
    {"cs_case",
     "UPDATE debt_case SET currency = $3, balance = $4, days_past_due = $5, segment = $6, "
     "rule = $7, strategy = $8, variant = $9, policy_version = $10, high_value = $11, "
     "segment_since = to_timestamp($12::bigint), segment_seq = $13, last_step = $14, "
     "stage = $15, status = $16, next_action = $17, next_channel = $18, "
     "next_not_before = to_timestamp($19::bigint), version = $20, "
     "updated_at = to_timestamp($21::bigint) "
     "WHERE creditor_id = $1 AND debtor_id = $2"},
    {"cs_invoice",
     "INSERT INTO invoice (creditor_id, debtor_id, invoice_id, number, currency, amount, "
     "open_amount, due_on, issued_on, status, adjusted) "
     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8::date, $9::date, $10, $11) "
     "ON CONFLICT (creditor_id, debtor_id, invoice_id) DO UPDATE SET number = EXCLUDED.number, "
     "currency = EXCLUDED.currency, amount = EXCLUDED.amount, "
     "open_amount = EXCLUDED.open_amount, due_on = EXCLUDED.due_on, "
     "issued_on = EXCLUDED.issued_on, status = EXCLUDED.status, adjusted = EXCLUDED.adjusted, "
     "updated_at = now()"},
    {"cs_task_new",
     "INSERT INTO task (creditor_id, debtor_id, task_id, segment, segment_seq, step, action, "
     "channel, template, priority, not_before, not_after, status, reason, payload) "
     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, to_timestamp($11::bigint), "
     "to_timestamp($12::bigint), $13, $14, $15::jsonb) ON CONFLICT DO NOTHING"},
    /* interactions: the counters caseinteract.c moves. */
    {"cs_features", "UPDATE debt_case SET features = $3::jsonb "
                    "WHERE creditor_id = $1 AND debtor_id = $2"},
    /* version 2: follow-up planning's state (0011_followup.sql). */
    {"cs_followup", "UPDATE debt_case SET followup = $3::jsonb "
                    "WHERE creditor_id = $1 AND debtor_id = $2"},
    {"cs_task_status", "UPDATE task SET status = $4, reason = $5, updated_at = now() "
                       "WHERE creditor_id = $1 AND debtor_id = $2 AND task_id = $3"},
    {"cs_history",
     "INSERT INTO segment_history (creditor_id, debtor_id, seq, from_segment, to_segment, rule, "
     "policy_version, strategy, variant, high_value, days_past_due, balance, at) "
     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, to_timestamp($13::bigint)) "
     "ON CONFLICT DO NOTHING"},
    {"cs_tasks",
     "SELECT coalesce(json_agg(x ORDER BY x.created_at DESC, x.step DESC), '[]')::text AS tasks "
     "FROM (SELECT task_id, status, reason, action, channel, template, step, segment, "
     "  to_char(not_before AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS not_before, "
     "  to_char(not_after AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS not_after, "
     "  created_at "
     "  FROM task WHERE creditor_id = $1 AND debtor_id = $2 "
     "  ORDER BY created_at DESC, step DESC LIMIT $3) x"},
};

int casestore_prepare(PGconn *conn, char *err, size_t errlen)
{
    int prc = paystore_prepare(conn, err, errlen); /* payments: its statements too */
    if (prc == 0)
        prc = chargestore_prepare(conn, err, errlen); /* money */
    if (prc != 0)
        return prc;
    for (size_t i = 0; i < sizeof(statements) / sizeof(statements[0]); i++) {
        char sql[8192]; /* the load query grows with each service's columns */
        const char *text = statements[i].sql;
        if (strcmp(statements[i].name, "cs_load") == 0) {
            /* A second, locking variant of the load. */
            PGresult *res = PQprepare(conn, "cs_load", text, 0, NULL);
            if (PQresultStatus(res) != PGRES_COMMAND_OK)
                return pg_fail(conn, res, "prepare cs_load", err, errlen);
            PQclear(res);
            snprintf(sql, sizeof(sql), "%s FOR UPDATE OF c", text);
            res = PQprepare(conn, "cs_load_lock", sql, 0, NULL);
            if (PQresultStatus(res) != PGRES_COMMAND_OK)
                return pg_fail(conn, res, "prepare cs_load_lock", err, errlen);
            PQclear(res);
            continue;
        }
        PGresult *res = PQprepare(conn, statements[i].name, text, 0, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            return pg_fail(conn, res, statements[i].name, err, errlen);
        PQclear(res);
    }
    return 0;
}

/* ---- Loading --------------------------------------------------------------------------------- */

static const char *col(const PGresult *res, const char *name)
{
    int f = PQfnumber(res, name);
    if (f < 0 || PQgetisnull(res, 0, f))
        return NULL;
    return PQgetvalue(res, 0, f);
}

static void set_str(char *dst, size_t size, const char *s)
{
    snprintf(dst, size, "%s", s ? s : "");
}

static int64_t col_i64(const PGresult *res, const char *name)
{
    const char *v = col(res, name);
    return v ? strtoll(v, NULL, 10) : 0;
}

static int load_invoices(casefile_t *cf, const char *text, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *arr = json_loads(text ? text : "[]", 0, &jerr);
    size_t i;
    json_t *o;

    if (!json_is_array(arr)) {
        json_decref(arr);
        snprintf(err, errlen, "invoices of the case are not a JSON array");
        return -1;
    }
    json_array_foreach(arr, i, o)
    {
        casefile_invoice_t inv;
        memset(&inv, 0, sizeof(inv));
        set_str(inv.id, sizeof(inv.id), json_string_value(json_object_get(o, "id")));
        set_str(inv.number, sizeof(inv.number), json_string_value(json_object_get(o, "number")));
        set_str(inv.currency, sizeof(inv.currency),
                json_string_value(json_object_get(o, "currency")));
        json_t *a = json_object_get(o, "amount"), *oa = json_object_get(o, "open_amount");
        inv.amount = json_is_integer(a) ? json_integer_value(a) : -1;
        inv.open_amount = json_is_integer(oa) ? json_integer_value(oa) : -1;
        set_str(inv.due_on, sizeof(inv.due_on), json_string_value(json_object_get(o, "due_on")));
        set_str(inv.issued_on, sizeof(inv.issued_on),
                json_string_value(json_object_get(o, "issued_on")));
        if (casefile_invoice_status_from_name(json_string_value(json_object_get(o, "status")),
                                              &inv.status) < 0)
            inv.status = CASEFILE_INVOICE_OPEN;
        inv.adjusted = json_is_true(json_object_get(o, "adjusted"));
        if (casefile_add_invoice(cf, &inv) == NULL) {
            json_decref(arr);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    json_decref(arr);
    return 0;
}

static int load_tasks(casefile_t *cf, const char *text, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *arr = json_loads(text ? text : "[]", 0, &jerr);
    size_t i;
    json_t *o;

    if (!json_is_array(arr)) {
        json_decref(arr);
        snprintf(err, errlen, "tasks of the case are not a JSON array");
        return -1;
    }
    json_array_foreach(arr, i, o)
    {
        casefile_task_t t;
        memset(&t, 0, sizeof(t));
        set_str(t.task_id, sizeof(t.task_id), json_string_value(json_object_get(o, "task_id")));
        set_str(t.action, sizeof(t.action), json_string_value(json_object_get(o, "action")));
        set_str(t.channel, sizeof(t.channel), json_string_value(json_object_get(o, "channel")));
        set_str(t.segment, sizeof(t.segment), json_string_value(json_object_get(o, "segment")));
        set_str(t.template_name, sizeof(t.template_name),
                json_string_value(json_object_get(o, "template")));
        t.segment_seq = (int)json_integer_value(json_object_get(o, "segment_seq"));
        t.step = (int)json_integer_value(json_object_get(o, "step"));
        t.priority = (int)json_integer_value(json_object_get(o, "priority"));
        t.not_before = json_integer_value(json_object_get(o, "not_before"));
        t.not_after = json_integer_value(json_object_get(o, "not_after"));
        t.status = CASEFILE_TASK_PENDING;
        if (casefile_add_task(cf, &t) == NULL) {
            json_decref(arr);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    json_decref(arr);
    return 0;
}

/* The case row's own columns into *cf. */
static void case_columns(const PGresult *res, casefile_t *cf)
{
    set_str(cf->currency, sizeof(cf->currency), col(res, "currency"));
    cf->balance = col_i64(res, "balance");
    cf->days_past_due = (int32_t)col_i64(res, "days_past_due");
    const char *seg = col(res, "segment");
    cf->segmented = seg != NULL && segment_from_name(seg, &cf->segment) == 0;
    set_str(cf->rule, sizeof(cf->rule), col(res, "rule"));
    set_str(cf->strategy, sizeof(cf->strategy), col(res, "strategy"));
    set_str(cf->variant, sizeof(cf->variant), col(res, "variant"));
    cf->policy_version = (int)col_i64(res, "policy_version");
    cf->high_value = col(res, "high_value") && col(res, "high_value")[0] == 't';
    cf->segment_since = col_i64(res, "segment_since");
    cf->segment_seq = (int)col_i64(res, "segment_seq");
    cf->last_step = (int)col_i64(res, "last_step");
    set_str(cf->stage, sizeof(cf->stage), col(res, "stage"));
    if (casefile_status_from_name(col(res, "status"), &cf->status) < 0)
        cf->status = CASEFILE_OPEN;
    const char *na = col(res, "next_action");
    cf->has_next = na != NULL;
    set_str(cf->next_action, sizeof(cf->next_action), na);
    set_str(cf->next_channel, sizeof(cf->next_channel), col(res, "next_channel"));
    cf->next_not_before = col_i64(res, "next_not_before");
    cf->version = col_i64(res, "version");
    cf->updated_at = col_i64(res, "updated_at");
    set_str(cf->creditor_name, sizeof(cf->creditor_name), col(res, "creditor_name"));
    set_str(cf->debtor_name, sizeof(cf->debtor_name), col(res, "debtor_name"));
    set_str(cf->timezone, sizeof(cf->timezone), col(res, "timezone"));
    set_str(cf->country, sizeof(cf->country), col(res, "country"));
    set_str(cf->locale, sizeof(cf->locale), col(res, "locale"));
    set_str(cf->phone, sizeof(cf->phone), col(res, "phone"));
    set_str(cf->email, sizeof(cf->email), col(res, "email"));
}

/* cs_load's row (one) into *cf: the case, its parties, features, invoices, pending tasks and
 * contact state. Returns 0 or -1. */
static int case_from_res(const PGresult *res, casefile_t *cf, char *err, size_t errlen)
{
    json_error_t jerr;
    int rc;

    case_columns(res, cf);
    json_t *features = json_loads(col(res, "features") ? col(res, "features") : "{}", 0, &jerr);
    rc = features != NULL ? casefile_set_features(cf, features) : -1;
    json_decref(features);
    if (rc < 0) {
        snprintf(err, errlen, "case features are not a JSON object");
        return -1;
    }
    if (col(res, "followup") != NULL) { /* version 2 (hold.h) */
        json_t *fu = json_loads(col(res, "followup"), 0, &jerr);
        if (json_is_object(fu)) {
            json_decref(cf->followup);
            cf->followup = fu;
        } else {
            json_decref(fu);
        }
    }
    rc = load_invoices(cf, col(res, "invoices"), err, errlen);
    if (rc == 0)
        rc = load_tasks(cf, col(res, "tasks"), err, errlen);
    if (rc == 0) { /* interactions */
        json_t *contact =
            json_loads(col(res, "contact") ? col(res, "contact") : "null", JSON_DECODE_ANY, &jerr);
        if (caseinteract_state_from_json(cf, contact) < 0) {
            snprintf(err, errlen, "contact state of the case is not a JSON object");
            rc = -1;
        }
        json_decref(contact);
    }
    return rc;
}

int casestore_load(PGconn *conn, const char *creditor_id, const char *debtor_id, bool lock,
                   casefile_t *cf, char *err, size_t errlen)
{
    const char *params[2] = {creditor_id, debtor_id};
    int rc;

    if (casefile_init(cf, creditor_id, debtor_id) < 0) {
        snprintf(err, errlen, "case ids too long, or out of memory");
        return -1;
    }
    if (lock && (rc = pgpipe_cmd(conn, "cs_touch", 2, params, err, errlen)) != 0)
        return rc;
    PGresult *res = pg_run(conn, lock ? "cs_load_lock" : "cs_load", 2, params, PGRES_TUPLES_OK, &rc,
                           err, errlen);
    if (res == NULL)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        snprintf(err, errlen, "no case %s/%s", creditor_id, debtor_id);
        return CASESTORE_NOT_FOUND;
    }
    rc = case_from_res(res, cf, err, errlen);
    PQclear(res);
    /* payments: the case's credits, open promise and active plan (paystore.h). */
    if (rc == 0)
        rc = paystore_load_case(conn, cf, err, errlen);
    if (rc == 0) { /* money: the case's interest, fees and settlement (chargestore.h) */
        pgpipe_t *pp = pgpipe_new(conn);
        rc = pp != NULL ? chargestore_queue_case(pp, cf, 0, NULL, err, errlen) : -1;
        if (rc == 0)
            rc = pgpipe_run(pp, err, errlen);
        pgpipe_free(pp);
    }
    return rc;
}

/* cs_load_lock's row into the case file (target); the case row was created first, so there is
 * one. */
static int on_case(pgpipe_t *pp, void *target, const PGresult *res, char *err, size_t errlen)
{
    casefile_t *cf = target;

    (void)pp;
    if (PQntuples(res) != 1) {
        snprintf(err, errlen, "cs_load_lock: no case row");
        return -1;
    }
    return case_from_res(res, cf, err, errlen);
}

/* Queues one request's statements: create the case row when missing, load and lock it, its
 * payments side, and the rows its event needs. */
static int queue_case(pgpipe_t *pp, casestore_req_t *r, char *err, size_t errlen)
{
    const char *params[2] = {r->creditor_id, r->debtor_id};
    int rc = pgpipe_begin(pp, err, errlen);

    if (rc == 0 && casefile_init(r->cf, r->creditor_id, r->debtor_id) < 0) {
        snprintf(err, errlen, "case ids too long, or out of memory");
        return -1;
    }
    if (rc == 0)
        rc = pgpipe_cmd(r->conn, "cs_touch", 2, params, err, errlen);
    if (rc == 0)
        rc = pgpipe_query(pp, "cs_load_lock", 2, params, on_case, r->cf, err, errlen);
    if (rc == 0)
        rc = paystore_queue_case(pp, r->cf, err, errlen);
    if (rc == 0 && r->need != 0)
        rc = paystore_queue_rows(pp, r->cf, r->need, r->name, err, errlen);
    if (rc == 0 && (r->need & CASEFILE_ROW_DISPUTES))
        rc = interactstore_queue_disputes(pp, r->cf, err, errlen);
    if (rc == 0) /* money */
        rc = chargestore_queue_case(pp, r->cf, r->need, r->name, err, errlen);
    return rc;
}

int casestore_load_many(PGconn *conn, casestore_req_t *reqs, size_t n, char *err, size_t errlen)
{
    pgpipe_t *pp = pgpipe_new(conn);
    int rc = pp != NULL ? 0 : -1;

    if (pp == NULL)
        snprintf(err, errlen, "out of memory");
    for (size_t i = 0; i < n && rc == 0; i++) {
        reqs[i].conn = conn;
        rc = queue_case(pp, &reqs[i], err, errlen);
    }
    if (rc == 0)
        rc = pgpipe_run(pp, err, errlen);
    pgpipe_free(pp);
    return rc;
}

/* ---- Saving ---------------------------------------------------------------------------------- */

static const char *opt(const char *s)
{
    return s && s[0] ? s : NULL;
}

static int save_parties(PGconn *conn, const casefile_t *cf, char *err, size_t errlen)
{
    const char *cp[2] = {cf->creditor_id, cf->creditor_name};
    int rc = pgpipe_cmd(conn, "cs_creditor", 2, cp, err, errlen);
    if (rc != 0)
        return rc;
    const char *dp[8] = {cf->creditor_id,  cf->debtor_id,   opt(cf->debtor_name), cf->timezone,
                         opt(cf->country), opt(cf->locale), opt(cf->phone),       opt(cf->email)};
    return pgpipe_cmd(conn, "cs_debtor", 8, dp, err, errlen);
}

static int save_case(PGconn *conn, const casefile_t *cf, char *err, size_t errlen)
{
    char balance[24], dpd[16], pv[16], since[24], seq[16], step[16], nnb[24], version[24],
        updated[24];
    snprintf(balance, sizeof(balance), "%" PRId64, cf->balance);
    snprintf(dpd, sizeof(dpd), "%d", (int)cf->days_past_due);
    snprintf(pv, sizeof(pv), "%d", cf->policy_version);
    snprintf(since, sizeof(since), "%" PRId64, cf->segment_since);
    snprintf(seq, sizeof(seq), "%d", cf->segment_seq);
    snprintf(step, sizeof(step), "%d", cf->last_step);
    snprintf(nnb, sizeof(nnb), "%" PRId64, cf->next_not_before);
    snprintf(version, sizeof(version), "%" PRId64, cf->version);
    snprintf(updated, sizeof(updated), "%" PRId64, cf->updated_at);
    const char *p[21] = {
        cf->creditor_id,
        cf->debtor_id,
        opt(cf->currency),
        balance,
        dpd,
        cf->segmented ? segment_name(cf->segment) : NULL,
        cf->segmented ? opt(cf->rule) : NULL,
        cf->segmented ? opt(cf->strategy) : NULL,
        cf->segmented ? opt(cf->variant) : NULL,
        cf->segmented ? pv : NULL,
        cf->high_value ? "true" : "false",
        cf->segmented ? since : NULL,
        seq,
        step,
        cf->stage,
        casefile_status_name(cf->status),
        cf->has_next ? cf->next_action : NULL,
        cf->has_next ? cf->next_channel : NULL,
        cf->has_next ? nnb : NULL,
        version,
        updated,
    };
    return pgpipe_cmd(conn, "cs_case", 21, p, err, errlen);
}

static int save_invoice(PGconn *conn, const casefile_t *cf, const casefile_invoice_t *inv,
                        char *err, size_t errlen)
{
    char amount[24], open[24];
    snprintf(amount, sizeof(amount), "%" PRId64, inv->amount);
    snprintf(open, sizeof(open), "%" PRId64, inv->open_amount);
    const char *p[11] = {cf->creditor_id,
                         cf->debtor_id,
                         inv->id,
                         opt(inv->number),
                         opt(inv->currency),
                         inv->amount >= 0 ? amount : NULL,
                         inv->open_amount >= 0 ? open : NULL,
                         opt(inv->due_on),
                         opt(inv->issued_on),
                         casefile_invoice_status_name(inv->status),
                         inv->adjusted ? "true" : "false"};
    return pgpipe_cmd(conn, "cs_invoice", 11, p, err, errlen);
}

static int save_task(PGconn *conn, const casefile_t *cf, const casefile_task_t *t, char *err,
                     size_t errlen)
{
    char seq[16], step[16], prio[16], nb[24], na[24];
    char *payload = t->data ? json_dumps(t->data, JSON_COMPACT) : NULL;
    snprintf(seq, sizeof(seq), "%d", t->segment_seq);
    snprintf(step, sizeof(step), "%d", t->step);
    snprintf(prio, sizeof(prio), "%d", t->priority);
    snprintf(nb, sizeof(nb), "%" PRId64, t->not_before);
    snprintf(na, sizeof(na), "%" PRId64, t->not_after);
    bool timed = t->status != CASEFILE_TASK_SUPPRESSED;
    const char *p[15] = {cf->creditor_id,
                         cf->debtor_id,
                         t->task_id,
                         t->segment,
                         seq,
                         step,
                         t->action,
                         t->channel,
                         t->template_name,
                         prio,
                         timed ? nb : NULL,
                         timed ? na : NULL,
                         casefile_task_status_name(t->status),
                         opt(t->reason),
                         payload};
    int rc = pgpipe_cmd(conn, "cs_task_new", 15, p, err, errlen);
    free(payload);
    return rc;
}

static int save_history(PGconn *conn, const casefile_t *cf, const casefile_plan_t *plan, char *err,
                        size_t errlen)
{
    char seq[16], pv[16], dpd[16], bal[24], at[24];
    snprintf(seq, sizeof(seq), "%d", cf->segment_seq);
    snprintf(pv, sizeof(pv), "%d", cf->policy_version);
    snprintf(dpd, sizeof(dpd), "%d", (int)cf->days_past_due);
    snprintf(bal, sizeof(bal), "%" PRId64, cf->balance);
    snprintf(at, sizeof(at), "%" PRId64, cf->segment_since);
    const char *p[13] = {cf->creditor_id,
                         cf->debtor_id,
                         seq,
                         plan->from_segmented ? segment_name(plan->from_segment) : NULL,
                         segment_name(cf->segment),
                         cf->rule,
                         pv,
                         opt(cf->strategy),
                         opt(cf->variant),
                         cf->high_value ? "true" : "false",
                         dpd,
                         bal,
                         at};
    return pgpipe_cmd(conn, "cs_history", 13, p, err, errlen);
}

/* The counters other services keep, when a decision moved them. */
static int save_features(PGconn *conn, casefile_t *cf, char *err, size_t errlen)
{
    if (!cf->features_dirty)
        return 0;
    char *features = json_dumps(cf->features, JSON_COMPACT);
    const char *fp[3] = {cf->creditor_id, cf->debtor_id, features};
    int rc = features ? pgpipe_cmd(conn, "cs_features", 3, fp, err, errlen) : -1;
    free(features);
    if (features == NULL)
        snprintf(err, errlen, "out of memory");
    cf->features_dirty = rc != 0;
    return rc;
}

/* version 2: follow-up planning's state, when planning changed it (hold.h). */
static int save_followup(PGconn *conn, casefile_t *cf, char *err, size_t errlen)
{
    if (!cf->followup_dirty)
        return 0;
    char *text = json_dumps(cf->followup, JSON_COMPACT);
    const char *fp[3] = {cf->creditor_id, cf->debtor_id, text};
    int rc = text ? pgpipe_cmd(conn, "cs_followup", 3, fp, err, errlen) : -1;
    free(text);
    if (text == NULL)
        snprintf(err, errlen, "out of memory");
    cf->followup_dirty = rc != 0;
    return rc;
}

/* New tasks (inserted once) and tasks whose status changed. */
static int save_tasks(PGconn *conn, casefile_t *cf, char *err, size_t errlen)
{
    int rc;
    for (size_t i = 0; i < cf->n_tasks; i++) {
        casefile_task_t *t = &cf->tasks[i];
        if (t->is_new) {
            if ((rc = save_task(conn, cf, t, err, errlen)) != 0)
                return rc;
            t->is_new = false;
        }
        if (t->status_dirty) {
            const char *p[5] = {cf->creditor_id, cf->debtor_id, t->task_id,
                                casefile_task_status_name(t->status), opt(t->reason)};
            if ((rc = pgpipe_cmd(conn, "cs_task_status", 5, p, err, errlen)) != 0)
                return rc;
            t->status_dirty = false;
        }
    }
    return 0;
}

int casestore_save(PGconn *conn, casefile_t *cf, const casefile_plan_t *plan, char *err,
                   size_t errlen)
{
    int rc;

    /* The rows the event's decision marked (payments, promises, plans, interactions). */
    if ((rc = paystore_save_rows(conn, cf, err, errlen)) != 0 ||
        (rc = interactstore_save_rows(conn, cf, err, errlen)) != 0)
        return rc;
    if (cf->parties_dirty && cf->creditor_name[0] && cf->timezone[0]) {
        if ((rc = save_parties(conn, cf, err, errlen)) != 0)
            return rc;
        cf->parties_dirty = false;
    }
    if ((rc = save_case(conn, cf, err, errlen)) != 0 ||
        (rc = save_features(conn, cf, err, errlen)) != 0 ||
        (rc = save_followup(conn, cf, err, errlen)) != 0)
        return rc;
    for (size_t i = 0; i < cf->n_invoices; i++) {
        if (!cf->invoices[i].dirty)
            continue;
        if ((rc = save_invoice(conn, cf, &cf->invoices[i], err, errlen)) != 0)
            return rc;
        cf->invoices[i].dirty = false;
    }
    if ((rc = save_tasks(conn, cf, err, errlen)) != 0)
        return rc;
    if (plan != NULL && plan->segment_changed &&
        (rc = save_history(conn, cf, plan, err, errlen)) != 0)
        return rc;
    /* payments: credits used and their allocation lines (paystore.h). */
    if ((rc = paystore_save_case(conn, cf, err, errlen)) != 0)
        return rc;
    return chargestore_save_case(conn, cf, err, errlen); /* money: interest, fees, settlement */
}

int casestore_save_many(PGconn *conn, casefile_t *const *cfs, const casefile_plan_t *const *plans,
                        size_t n, char *err, size_t errlen)
{
    pgpipe_t *pp = pgpipe_new(conn);
    int rc = pp != NULL ? pgpipe_begin(pp, err, errlen) : -1;

    if (pp == NULL)
        snprintf(err, errlen, "out of memory");
    for (size_t i = 0; i < n && rc == 0; i++)
        if (cfs[i] != NULL)
            rc = casestore_save(conn, cfs[i], plans[i], err, errlen);
    if (rc == 0)
        rc = pgpipe_run(pp, err, errlen);
    pgpipe_free(pp);
    return rc;
}

int casestore_tasks_json(PGconn *conn, const char *creditor_id, const char *debtor_id, int limit,
                         json_t **out, char *err, size_t errlen)
{
    char lim[16];
    int rc;
    snprintf(lim, sizeof(lim), "%d", limit);
    const char *p[3] = {creditor_id, debtor_id, lim};
    PGresult *res = pg_run(conn, "cs_tasks", 3, p, PGRES_TUPLES_OK, &rc, err, errlen);
    if (res == NULL)
        return rc;
    json_error_t jerr;
    *out = json_loads(col(res, "tasks") ? col(res, "tasks") : "[]", 0, &jerr);
    PQclear(res);
    if (*out == NULL) {
        snprintf(err, errlen, "tasks: %s", jerr.text);
        return -1;
    }
    return 0;
}
