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
#include "pgbulk.h"
#include "pgpipe.h"

/* ---- The statements -------------------------------------------------------------------------- */

/* The case, its parties, invoices, pending tasks and contact state: the select list of cs_load
 * (one case) and cs_load_many (a batch's cases), over "debt_case c" and CS_LOAD_JOINS. */
#define CS_LOAD_COLS                                                                               \
    "c.currency, c.balance, c.days_past_due, c.segment, c.rule, c.strategy, c.variant, "           \
    " c.policy_version, c.high_value, "                                                            \
    " coalesce(extract(epoch FROM c.segment_since)::bigint, 0) AS segment_since, "                 \
    " c.segment_seq, c.last_step, c.stage, c.status, c.features::text AS features, "               \
    " c.followup::text AS followup, "                                                              \
    " c.next_action, c.next_channel, "                                                             \
    " coalesce(extract(epoch FROM c.next_not_before)::bigint, 0) AS next_not_before, "             \
    " c.version, extract(epoch FROM c.updated_at)::bigint AS updated_at, "                         \
    " cr.name AS creditor_name, d.name AS debtor_name, d.timezone, d.country, d.locale, "          \
    " d.phone, d.email, "                                                                          \
    " (SELECT coalesce(json_agg(json_build_object('id', i.invoice_id, 'number', i.number, "        \
    "   'currency', i.currency, 'amount', i.amount, 'open_amount', i.open_amount, "                \
    "   'due_on', i.due_on, 'issued_on', i.issued_on, 'status', i.status, "                        \
    "   'adjusted', i.adjusted) ORDER BY i.invoice_id), '[]')::text "                              \
    "  FROM invoice i WHERE i.creditor_id = c.creditor_id AND i.debtor_id = c.debtor_id) AS "      \
    "invoices, "                                                                                   \
    " (SELECT coalesce(json_agg(json_build_object('task_id', t.task_id, 'action', t.action, "      \
    "   'channel', t.channel, 'segment', t.segment, 'segment_seq', t.segment_seq, "                \
    "   'step', t.step, 'template', t.template, 'priority', t.priority, "                          \
    "   'not_before', coalesce(extract(epoch FROM t.not_before)::bigint, 0), "                     \
    "   'not_after', coalesce(extract(epoch FROM t.not_after)::bigint, 0)) "                       \
    "   ORDER BY t.created_at, t.step), '[]')::text "                                              \
    "  FROM task t WHERE t.creditor_id = c.creditor_id AND t.debtor_id = c.debtor_id AND "         \
    "t.status = 'pending') "                                                                       \
    "  AS tasks, " /* interactions: the contact state planning obeys (0004_interactions.sql). */   \
    " (SELECT json_build_object("                                                                  \
    "   'calls', (SELECT coalesce(json_agg(x.e), '[]') FROM (SELECT "                              \
    "     extract(epoch FROM l.at)::bigint AS e FROM contact_log l WHERE l.creditor_id = "         \
    "c.creditor_id "                                                                               \
    "     AND l.debtor_id = c.debtor_id AND l.channel = 'phone' ORDER BY l.at DESC LIMIT 64) x), " \
    "   'last_rpc_at', (SELECT extract(epoch FROM max(l.at))::bigint FROM contact_log l "          \
    "     WHERE l.creditor_id = c.creditor_id AND l.debtor_id = c.debtor_id AND l.channel = "      \
    "'phone' "                                                                                     \
    "     AND l.outcome IN ('right_party', 'refused')), "                                          \
    "   'last_contact_at', (SELECT extract(epoch FROM max(l.at))::bigint FROM contact_log l "      \
    "     WHERE l.creditor_id = c.creditor_id AND l.debtor_id = c.debtor_id), "                    \
    "   'prefs', (SELECT json_build_object('do_not_call', p.do_not_call, 'do_not_sms', "           \
    "     p.do_not_sms, 'do_not_email', p.do_not_email, 'cease_communication', "                   \
    "     p.cease_communication, 'timezone', p.timezone) FROM contact_preference p "               \
    "     WHERE p.creditor_id = c.creditor_id AND p.debtor_id = c.debtor_id), "                    \
    "   'forbearance', (SELECT json_build_object('from', f.from_on, 'until', f.until_on) "         \
    "     FROM forbearance f WHERE f.creditor_id = c.creditor_id AND f.debtor_id = c.debtor_id "   \
    "     AND (f.ended_on IS NULL OR f.ended_on > f.from_on) "                                     \
    "     ORDER BY f.until_on DESC, f.from_on DESC LIMIT 1), " /* version 2 (forbear.h): every     \
                                                                  period, shortened by its early   \
                                                                  end (0011). */                   \
    "   'forbearances', (SELECT coalesce(json_agg(json_build_object('from', f.from_on, "           \
    "     'until', least(f.until_on, f.ended_on - 1)) ORDER BY f.from_on, f.until_on), '[]') "     \
    "     FROM forbearance f WHERE f.creditor_id = c.creditor_id AND f.debtor_id = c.debtor_id "   \
    "     AND (f.ended_on IS NULL OR f.ended_on > f.from_on))))::text AS contact "                 \
    " "
#define CS_LOAD_JOINS                                                                              \
    "LEFT JOIN creditor cr ON cr.creditor_id = c.creditor_id "                                     \
    "LEFT JOIN debtor d ON d.creditor_id = c.creditor_id AND d.debtor_id = c.debtor_id "

static const struct {
    const char *name;
    const char *sql;
} statements[] = {
    {"cs_touch", "INSERT INTO debt_case (creditor_id, debtor_id) VALUES ($1, $2) "
                 "ON CONFLICT DO NOTHING"},
    /* The case, its parties, invoices and pending tasks in one round trip; casestore_prepare()
     * adds the locking variant cs_load_lock. */
    {"cs_load", "SELECT " CS_LOAD_COLS "FROM debt_case c " CS_LOAD_JOINS
                "WHERE c.creditor_id = $1 AND c.debtor_id = $2"},
    /* cs_load_lock for a batch: the cases of the arrays, locked in the order given (the sort
     * sits below the lock), each row with its place in the arrays (ord, from 1). */
    {"cs_load_many",
     "SELECT u.ord, " CS_LOAD_COLS ", " CHARGESTORE_LOAD_COLS
     "FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(creditor_id, debtor_id, ord) "
     "JOIN debt_case c ON c.creditor_id = u.creditor_id AND c.debtor_id = "
     "u.debtor_id " CS_LOAD_JOINS
     "LEFT JOIN case_charges ch ON ch.creditor_id = c.creditor_id AND ch.debtor_id = c.debtor_id "
     "ORDER BY u.ord FOR UPDATE OF c"},
    /* ---- The saves, in their bulk form (pgbulk.h): each takes one array per column, the
     * k-th value of every row of the batch in $k, and is sent once per batch. A new column is
     * one more array in unnest(), one more name in AS u(...), its use in the statement, and one
     * more value in the caller's parameter list (same position). ---- */
    /* The same creditor may come with several cases: the last name wins, as one at a time. */
    {"cs_creditor",
     "INSERT INTO creditor (creditor_id, name) "
     "SELECT DISTINCT ON (u.creditor_id) u.creditor_id, u.name "
     "FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(creditor_id, name, ord) "
     "ORDER BY u.creditor_id, u.ord DESC "
     "ON CONFLICT (creditor_id) DO UPDATE SET name = EXCLUDED.name, "
     "updated_at = now() WHERE creditor.name IS DISTINCT FROM EXCLUDED.name"},
    {"cs_debtor",
     "INSERT INTO debtor (creditor_id, debtor_id, name, timezone, country, locale, phone, email) "
     "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], "
     " $6::text[], $7::text[], $8::text[]) "
     /* A field the case does not know ($3, $5-$8 NULL) never erases what is stored. */
     "ON CONFLICT (creditor_id, debtor_id) DO UPDATE SET "
     "name = COALESCE(EXCLUDED.name, debtor.name), timezone = EXCLUDED.timezone, "
     "country = COALESCE(EXCLUDED.country, debtor.country), "
     "locale = COALESCE(EXCLUDED.locale, debtor.locale), "
     "phone = COALESCE(EXCLUDED.phone, debtor.phone), "
     "email = COALESCE(EXCLUDED.email, debtor.email), updated_at = now()"},
    {"cs_case",
     "UPDATE debt_case c SET currency = u.currency, balance = u.balance, "
     "days_past_due = u.days_past_due, segment = u.segment, rule = u.rule, "
     "strategy = u.strategy, variant = u.variant, policy_version = u.policy_version, "
     "high_value = u.high_value, segment_since = to_timestamp(u.segment_since), "
     "segment_seq = u.segment_seq, last_step = u.last_step, stage = u.stage, status = u.status, "
     "next_action = u.next_action, next_channel = u.next_channel, "
     "next_not_before = to_timestamp(u.next_not_before), version = u.version, "
     "updated_at = to_timestamp(u.updated_at), "
     /* The counters other services keep and follow-up planning's state, in the same row
      * version: NULL when the decision did not move them (kept as stored). */
     "features = coalesce(u.features, c.features), followup = coalesce(u.followup, c.followup) "
     "FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::integer[], $6::text[], "
     " $7::text[], $8::text[], $9::text[], $10::integer[], $11::boolean[], $12::bigint[], "
     " $13::integer[], $14::integer[], $15::text[], $16::text[], $17::text[], $18::text[], "
     " $19::bigint[], $20::bigint[], $21::bigint[], $22::jsonb[], $23::jsonb[]) "
     " AS u(creditor_id, debtor_id, currency, balance, days_past_due, segment, rule, strategy, "
     " variant, policy_version, high_value, segment_since, segment_seq, last_step, stage, status, "
     " next_action, next_channel, next_not_before, version, updated_at, features, followup) "
     "WHERE c.creditor_id = u.creditor_id AND c.debtor_id = u.debtor_id"},
    {"cs_invoice",
     "INSERT INTO invoice (creditor_id, debtor_id, invoice_id, number, currency, amount, "
     "open_amount, due_on, issued_on, status, adjusted) "
     "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], "
     " $6::bigint[], $7::bigint[], $8::date[], $9::date[], $10::text[], $11::boolean[]) "
     "ON CONFLICT (creditor_id, debtor_id, invoice_id) DO UPDATE SET number = EXCLUDED.number, "
     "currency = EXCLUDED.currency, amount = EXCLUDED.amount, "
     "open_amount = EXCLUDED.open_amount, due_on = EXCLUDED.due_on, "
     "issued_on = EXCLUDED.issued_on, status = EXCLUDED.status, adjusted = EXCLUDED.adjusted, "
     "updated_at = now()"},
    {"cs_task_new",
     "INSERT INTO task (creditor_id, debtor_id, task_id, segment, segment_seq, step, action, "
     "channel, template, priority, not_before, not_after, status, reason, payload) "
     "SELECT u.creditor_id, u.debtor_id, u.task_id, u.segment, u.segment_seq, u.step, u.action, "
     " u.channel, u.template, u.priority, to_timestamp(u.not_before), to_timestamp(u.not_after), "
     " u.status, u.reason, u.payload "
     "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::integer[], $6::integer[], "
     " $7::text[], $8::text[], $9::text[], $10::integer[], $11::bigint[], $12::bigint[], "
     " $13::text[], $14::text[], $15::jsonb[]) "
     " AS u(creditor_id, debtor_id, task_id, segment, segment_seq, step, action, channel, "
     " template, priority, not_before, not_after, status, reason, payload) "
     "ON CONFLICT DO NOTHING"},
    {"cs_task_status", "UPDATE task t SET status = u.status, reason = u.reason, updated_at = now() "
                       "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) "
                       " AS u(creditor_id, debtor_id, task_id, status, reason) "
                       "WHERE t.creditor_id = u.creditor_id AND t.debtor_id = u.debtor_id "
                       "AND t.task_id = u.task_id"},
    {"cs_history",
     "INSERT INTO segment_history (creditor_id, debtor_id, seq, from_segment, to_segment, rule, "
     "policy_version, strategy, variant, high_value, days_past_due, balance, at) "
     "SELECT u.creditor_id, u.debtor_id, u.seq, u.from_segment, u.to_segment, u.rule, "
     " u.policy_version, u.strategy, u.variant, u.high_value, u.days_past_due, u.balance, "
     " to_timestamp(u.at) "
     "FROM unnest($1::text[], $2::text[], $3::integer[], $4::text[], $5::text[], $6::text[], "
     " $7::integer[], $8::text[], $9::text[], $10::boolean[], $11::integer[], $12::bigint[], "
     " $13::bigint[]) AS u(creditor_id, debtor_id, seq, from_segment, to_segment, rule, "
     " policy_version, strategy, variant, high_value, days_past_due, balance, at) "
     "ON CONFLICT DO NOTHING"},
    /* The batch's case rows created when missing, in the (sorted) order given. */
    {"cs_touch_many", "INSERT INTO debt_case (creditor_id, debtor_id) "
                      "SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING"},
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

/* Column `name` of row `row`, or NULL when SQL NULL or missing (borrowed from res). */
static const char *col(const PGresult *res, int row, const char *name)
{
    int f = PQfnumber(res, name);
    if (f < 0 || PQgetisnull(res, row, f))
        return NULL;
    return PQgetvalue(res, row, f);
}

static void set_str(char *dst, size_t size, const char *s)
{
    snprintf(dst, size, "%s", s ? s : "");
}

static int64_t col_i64(const PGresult *res, int row, const char *name)
{
    const char *v = col(res, row, name);
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
static void case_columns(const PGresult *res, int row, casefile_t *cf)
{
    set_str(cf->currency, sizeof(cf->currency), col(res, row, "currency"));
    cf->balance = col_i64(res, row, "balance");
    cf->days_past_due = (int32_t)col_i64(res, row, "days_past_due");
    const char *seg = col(res, row, "segment");
    cf->segmented = seg != NULL && segment_from_name(seg, &cf->segment) == 0;
    set_str(cf->rule, sizeof(cf->rule), col(res, row, "rule"));
    set_str(cf->strategy, sizeof(cf->strategy), col(res, row, "strategy"));
    set_str(cf->variant, sizeof(cf->variant), col(res, row, "variant"));
    cf->policy_version = (int)col_i64(res, row, "policy_version");
    cf->high_value = col(res, row, "high_value") && col(res, row, "high_value")[0] == 't';
    cf->segment_since = col_i64(res, row, "segment_since");
    cf->segment_seq = (int)col_i64(res, row, "segment_seq");
    cf->last_step = (int)col_i64(res, row, "last_step");
    set_str(cf->stage, sizeof(cf->stage), col(res, row, "stage"));
    if (casefile_status_from_name(col(res, row, "status"), &cf->status) < 0)
        cf->status = CASEFILE_OPEN;
    const char *na = col(res, row, "next_action");
    cf->has_next = na != NULL;
    set_str(cf->next_action, sizeof(cf->next_action), na);
    set_str(cf->next_channel, sizeof(cf->next_channel), col(res, row, "next_channel"));
    cf->next_not_before = col_i64(res, row, "next_not_before");
    cf->version = col_i64(res, row, "version");
    cf->updated_at = col_i64(res, row, "updated_at");
    set_str(cf->creditor_name, sizeof(cf->creditor_name), col(res, row, "creditor_name"));
    set_str(cf->debtor_name, sizeof(cf->debtor_name), col(res, row, "debtor_name"));
    set_str(cf->timezone, sizeof(cf->timezone), col(res, row, "timezone"));
    set_str(cf->country, sizeof(cf->country), col(res, row, "country"));
    set_str(cf->locale, sizeof(cf->locale), col(res, row, "locale"));
    set_str(cf->phone, sizeof(cf->phone), col(res, row, "phone"));
    set_str(cf->email, sizeof(cf->email), col(res, row, "email"));
}

/* version 2 (hold.h): follow-up planning's state, when the column holds a JSON object. */
static void load_followup(casefile_t *cf, const char *text)
{
    json_error_t jerr;

    if (text == NULL)
        return;
    json_t *fu = json_loads(text, 0, &jerr);
    if (json_is_object(fu)) {
        json_decref(cf->followup);
        cf->followup = fu;
    } else {
        json_decref(fu);
    }
}

/* Row `row` of cs_load or cs_load_many into *cf: the case, its parties, features, invoices, pending
 * tasks and contact state. Returns 0 or -1. */
static int case_from_res(const PGresult *res, int row, casefile_t *cf, char *err, size_t errlen)
{
    json_error_t jerr;
    int rc;

    case_columns(res, row, cf);
    json_t *features =
        json_loads(col(res, row, "features") ? col(res, row, "features") : "{}", 0, &jerr);
    rc = features != NULL ? casefile_set_features(cf, features) : -1;
    json_decref(features);
    if (rc < 0) {
        snprintf(err, errlen, "case features are not a JSON object");
        return -1;
    }
    load_followup(cf, col(res, row, "followup"));
    rc = load_invoices(cf, col(res, row, "invoices"), err, errlen);
    if (rc == 0)
        rc = load_tasks(cf, col(res, row, "tasks"), err, errlen);
    if (rc == 0) { /* interactions */
        json_t *contact = json_loads(col(res, row, "contact") ? col(res, row, "contact") : "null",
                                     JSON_DECODE_ANY, &jerr);
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
    rc = case_from_res(res, 0, cf, err, errlen);
    PQclear(res);
    /* payments: the case's credits, open promise and active plan (paystore.h). */
    if (rc == 0)
        rc = paystore_load_case(conn, cf, err, errlen);
    if (rc == 0) { /* money: the case's interest, fees and settlement (chargestore.h) */
        pgpipe_t *pp = pgpipe_new(conn);
        rc = pp != NULL ? chargestore_queue_case(pp, cf, err, errlen) : -1;
        if (rc == 0)
            rc = pgpipe_run(pp, err, errlen);
        pgpipe_free(pp);
    }
    return rc;
}

/* The requests of one load_many(): the targets of its batch queries. */
typedef struct load_set {
    casestore_req_t *reqs;
    size_t n;
    paystore_cases_t pay; /* reqs[i].cf in pay.cfs[i], for paystore_queue_cases() */
} load_set_t;

/* cs_load_many's rows into the requests' case files (target: the load_set_t); every case row
 * was created first, so each request has exactly one. */
static int on_cases(pgpipe_t *pp, void *target, const PGresult *res, char *err, size_t errlen)
{
    load_set_t *ls = target;
    int rc = 0;

    (void)pp;
    if ((size_t)PQntuples(res) != ls->n) {
        snprintf(err, errlen, "cs_load_many: %d case rows for %zu cases", PQntuples(res), ls->n);
        return -1;
    }
    for (int r = 0; r < PQntuples(res) && rc == 0; r++) {
        int64_t ord = col_i64(res, r, "ord");
        if (ord < 1 || (size_t)ord > ls->n) {
            snprintf(err, errlen, "cs_load_many: row %d has no case", r);
            return -1;
        }
        rc = case_from_res(res, r, ls->reqs[ord - 1].cf, err, errlen);
        if (rc == 0) /* money: the case's interest, fees and settlement (chargestore.h) */
            rc = chargestore_from_row(res, r, ls->reqs[ord - 1].cf, err, errlen);
    }
    return rc;
}

/* Queues the rows the requests' events need (their cases themselves come with the batch's):
 * one statement per kind of payments row for the whole batch (paystore.h), the open disputes
 * case by case. *rows gets paystore's targets (paystore_rows_free() them after the run). */
static int queue_rows(pgpipe_t *pp, casestore_req_t *reqs, size_t n, paystore_rows_t **rows,
                      char *err, size_t errlen)
{
    paystore_rowreq_t *pr = calloc(n ? n : 1, sizeof(*pr));
    int rc = pr != NULL ? 0 : -1;

    *rows = NULL;
    if (pr == NULL)
        snprintf(err, errlen, "out of memory");
    for (size_t i = 0; i < n && rc == 0; i++)
        pr[i] = (paystore_rowreq_t){reqs[i].cf, reqs[i].need, reqs[i].name};
    if (rc == 0)
        rc = paystore_queue_rows_many(pp, pr, n, rows, err, errlen);
    free(pr);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (reqs[i].need & CASEFILE_ROW_DISPUTES)
            rc = interactstore_queue_disputes(pp, reqs[i].cf, err, errlen);
    return rc;
}

/* Sends one statement creating every missing case row of the batch, then one loading and
 * locking them all, in the requests' order, and one for their payments side. */
static int queue_cases(pgpipe_t *pp, PGconn *conn, load_set_t *ls, char *err, size_t errlen)
{
    const casestore_req_t *reqs = ls->reqs;
    size_t n = ls->n;
    pgarr_t cr, de;
    int rc = pgpipe_begin(pp, err, errlen);

    pgarr_init(&cr);
    pgarr_init(&de);
    for (size_t i = 0; i < n; i++) {
        pgarr_add_cstr(&cr, reqs[i].creditor_id);
        pgarr_add_cstr(&de, reqs[i].debtor_id);
    }
    const char *params[2] = {pgarr_str(&cr), pgarr_str(&de)};
    if (rc == 0 && (params[0] == NULL || params[1] == NULL)) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    if (rc == 0)
        rc = pgpipe_cmd(conn, "cs_touch_many", 2, params, err, errlen);
    if (rc == 0)
        rc = pgpipe_query(pp, "cs_load_many", 2, params, on_cases, ls, err, errlen);
    if (rc == 0)
        rc = paystore_queue_cases(pp, &ls->pay, params, err, errlen);
    pgarr_free(&cr);
    pgarr_free(&de);
    return rc;
}

int casestore_load_many(PGconn *conn, casestore_req_t *reqs, size_t n, char *err, size_t errlen)
{
    pgpipe_t *pp = pgpipe_new(conn);
    load_set_t ls = {reqs, n, {calloc(n ? n : 1, sizeof(casefile_t *)), n}};
    paystore_rows_t *rows = NULL;
    int rc = pp != NULL && ls.pay.cfs != NULL ? 0 : -1;

    if (rc != 0)
        snprintf(err, errlen, "out of memory");
    for (size_t i = 0; i < n && rc == 0; i++) {
        reqs[i].conn = conn;
        ls.pay.cfs[i] = reqs[i].cf;
        if (casefile_init(reqs[i].cf, reqs[i].creditor_id, reqs[i].debtor_id) < 0) {
            snprintf(err, errlen, "case ids too long, or out of memory");
            rc = -1;
        }
    }
    if (rc == 0 && n > 0)
        rc = queue_cases(pp, conn, &ls, err, errlen);
    if (rc == 0)
        rc = queue_rows(pp, reqs, n, &rows, err, errlen);
    if (rc == 0)
        rc = pgpipe_run(pp, err, errlen);
    pgpipe_free(pp);
    paystore_rows_free(rows);
    free(ls.pay.cfs);
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

static int save_case_row(PGconn *conn, const casefile_t *cf, const char *features,
                         const char *followup, char *err, size_t errlen)
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
    const char *p[23] = {
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
        features,
        followup,
    };
    return pgpipe_cmd(conn, "cs_case", 23, p, err, errlen);
}

/* The case row, with its features (interactions: the counters caseinteract.c moves) and its
 * follow-up state (version 2, 0011_followup.sql) when the decision changed them: one UPDATE, so
 * one new row version per case and batch round. */
static int save_case(PGconn *conn, casefile_t *cf, char *err, size_t errlen)
{
    char *features = cf->features_dirty ? json_dumps(cf->features, JSON_COMPACT) : NULL;
    char *followup = cf->followup_dirty ? json_dumps(cf->followup, JSON_COMPACT) : NULL;
    if ((cf->features_dirty && features == NULL) || (cf->followup_dirty && followup == NULL)) {
        free(features);
        free(followup);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = save_case_row(conn, cf, features, followup, err, errlen);
    free(features);
    free(followup);
    if (rc == 0)
        cf->features_dirty = cf->followup_dirty = false;
    return rc;
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

/* casestore_save() of one case, its rows gathered by the batch's collector (pgbulk.h). */
static int save_one(PGconn *conn, casefile_t *cf, const casefile_plan_t *plan, char *err,
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
    if ((rc = save_case(conn, cf, err, errlen)) != 0)
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

/* Every save statement of casestore, paystore, interactstore and chargestore, in the order one
 * case's save writes them (save_one()): a batch's rows are flushed statement by statement in this
 * order, so a row never goes before one it needs (a payment before its lines, a plan before its
 * instalments, a forbearance before its early end). nkey: the leading parameters naming the row; a
 * repeated key goes into a second statement after the first. "set": prepared in its bulk form
 * (arrays); the others are queued and sent one row at a time at their place (rare events: not worth
 * a bulk form). */
static const pgbulk_stmt_t save_order[] = {
    {"ps_payment_put", 3, true},
    {"ps_payment_stub", 3, true},
    {"ps_payment_reverse", 3, true},
    {"ps_alloc_reverse", 3, true},
    {"ps_alloc_put", 0, true},
    {"ps_promise_put", 3, true},
    {"ps_promise_techniques", 3, true},
    {"ps_plan_put", 3, true},
    {"ps_inst_put", 4, true},
    {"is_log", 0, true},
    {"is_dispute_open", 4, false},
    {"is_prefs", 2, false},
    {"is_forbearance", 4, false},
    {"is_forbearance_end", 4, false},
    {"is_dispute_resolve", 4, false},
    {"cs_creditor", 0, true},
    {"cs_debtor", 2, true},
    {"cs_case", 2, true},
    {"cs_invoice", 3, true},
    {"cs_task_new", 0, true},
    {"cs_task_status", 3, true},
    {"cs_history", 0, true},
    {"ps_credit_put", 3, true},
    {"ch_payment_put", 3, true}, /* money (chargestore.c) */
    {"ch_payment_add", 3, true},
    {"ch_put", 2, true},
};

int casestore_save(PGconn *conn, casefile_t *cf, const casefile_plan_t *plan, char *err,
                   size_t errlen)
{
    casefile_t *cfs[1] = {cf};
    const casefile_plan_t *plans[1] = {plan};
    return casestore_save_many(conn, cfs, plans, 1, err, errlen);
}

int casestore_save_many(PGconn *conn, casefile_t *const *cfs, const casefile_plan_t *const *plans,
                        size_t n, char *err, size_t errlen)
{
    pgpipe_t *pp = pgpipe_new(conn);
    pgbulk_t *bulk = pgbulk_open(conn, save_order, sizeof(save_order) / sizeof(save_order[0]));
    int rc = pp != NULL && bulk != NULL ? pgpipe_begin(pp, err, errlen) : -1;

    if (pp == NULL || bulk == NULL)
        snprintf(err, errlen, "out of memory");
    for (size_t i = 0; i < n && rc == 0; i++)
        if (cfs[i] != NULL)
            rc = save_one(conn, cfs[i], plans[i], err, errlen);
    if (rc == 0)
        rc = pgbulk_flush(bulk, err, errlen);
    pgbulk_close(bulk);
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
    *out = json_loads(col(res, 0, "tasks") ? col(res, 0, "tasks") : "[]", 0, &jerr);
    PQclear(res);
    if (*out == NULL) {
        snprintf(err, errlen, "tasks: %s", jerr.text);
        return -1;
    }
    return 0;
}
