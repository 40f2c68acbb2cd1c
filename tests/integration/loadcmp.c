/* loadcmp.c - recobro-test-loadcmp, a TEST TOOL: loads every case of a database twice, with
 * casestore.c's loaders (casestore_load_many() locking, and casestore_load() without the lock)
 * and with the loader they replaced (kept here as the reference: one statement per batch whose
 * correlated subqueries built each case's invoices, tasks and contact state as JSON, parsed with
 * jansson), and compares the two case files byte for byte: the struct itself (pointers aside),
 * every invoice and task, and every JSON document. Exits 0 when every case is identical, 1 on the
 * first difference (named), 2 on a usage or database error.
 *
 * Usage: recobro-test-loadcmp [LIMIT]  (RECOBRO_PG_DSN: the database; LIMIT cases at most)
 *        recobro-test-loadcmp --time [BATCH]  (old and new loaders' time per case, batches of
 *                                       BATCH: 100; three rounds over every case)
 *        recobro-test-loadcmp --sql    (prints the load statements as prepared, and the
 *                                       reference's as ref_many: "name<TAB>text" a line)
 *
 * The comparison is checked too: on the first case with an invoice, a task, a forbearance and a
 * phone attempt, changing one of them must be seen as a difference. Never installed. */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "caseinteract.h"
#include "casestore.h"
#include "chargestore.h"
#include "paystore.h"
#include "pg.h"
#include "pgbulk.h"
#include "pgpipe.h"

#define BATCH 100

/* ---- The reference: the loader before caseload.c -------------------------------------------- */

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
    "   ORDER BY t.created_at, t.step, t.task_id), '[]')::text "                                   \
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

static const char *const ref_one = "SELECT " CS_LOAD_COLS "FROM debt_case c " CS_LOAD_JOINS
                                   "WHERE c.creditor_id = $1 AND c.debtor_id = $2";
static const char *const ref_many =
    "SELECT u.ord, " CS_LOAD_COLS ", " CHARGESTORE_LOAD_COLS
    "FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(creditor_id, debtor_id, ord) "
    "JOIN debt_case c ON c.creditor_id = u.creditor_id AND c.debtor_id = "
    "u.debtor_id " CS_LOAD_JOINS
    "LEFT JOIN case_charges ch ON ch.creditor_id = c.creditor_id AND ch.debtor_id = c.debtor_id "
    "ORDER BY u.ord FOR UPDATE OF c";

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
    set_str(cf->debtor_zone, sizeof(cf->debtor_zone), col(res, row, "timezone"));
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

/* The reference batch load: the old statement, then the payments side as casestore does it. */
/* The reference's case rows (ref_many) into its case files, as the old on_cases() did. */
typedef struct ref_set {
    casefile_t **cfs;
    size_t n;
} ref_set_t;

static int on_ref_cases(pgpipe_t *pp, void *target, const PGresult *res, char *err, size_t errlen)
{
    ref_set_t *rs = target;
    int rc = 0;

    (void)pp;
    if ((size_t)PQntuples(res) != rs->n) {
        snprintf(err, errlen, "reference load: %d rows for %zu cases", PQntuples(res), rs->n);
        return -1;
    }
    for (int r = 0; rc == 0 && r < PQntuples(res); r++) {
        casefile_t *cf = rs->cfs[col_i64(res, r, "ord") - 1];
        rc = case_from_res(res, r, cf, err, errlen);
        if (rc == 0)
            rc = chargestore_from_row(res, r, cf, err, errlen);
    }
    return rc;
}

/* The reference batch load, as casestore_load_many() did it before caseload.c (its requests
 * asking for no event rows): in one pipeline, the missing case rows created, the old statement
 * (prepared as ref_many), the payments side. */
static int ref_load_many(PGconn *conn, casefile_t **cfs, size_t n, const char *const keys[2],
                         char *err, size_t errlen)
{
    ref_set_t rs = {cfs, n};
    paystore_cases_t pay = {cfs, n, NULL};
    pgpipe_t *pp = pgpipe_new(conn);
    int rc = pp != NULL ? pgpipe_begin(pp, err, errlen) : -1;

    if (rc == 0)
        rc = pgpipe_cmd(conn, "cs_touch_many", 2, keys, err, errlen);
    if (rc == 0)
        rc = pgpipe_query(pp, "ref_many", 2, keys, on_ref_cases, &rs, err, errlen);
    if (rc == 0)
        rc = paystore_queue_cases(pp, &pay, keys, err, errlen);
    if (rc == 0)
        rc = pgpipe_run(pp, err, errlen);
    pgpipe_free(pp);
    return rc;
}

/* The reference single load (casestore_load() without the lock). */
static int ref_load_one(PGconn *conn, casefile_t *cf, char *err, size_t errlen)
{
    const char *p[2] = {cf->creditor_id, cf->debtor_id};
    PGresult *res = PQexecParams(conn, ref_one, 2, NULL, p, NULL, NULL, 0);
    int rc = pg_expect(res, PGRES_TUPLES_OK, "reference load", err, errlen);
    if (rc != 0)
        res = NULL; /* cleared by pg_expect() */

    if (rc == 0 && PQntuples(res) != 1) {
        snprintf(err, errlen, "reference load: no case");
        rc = -1;
    }
    if (rc == 0)
        rc = case_from_res(res, 0, cf, err, errlen);
    PQclear(res);
    if (rc == 0)
        rc = paystore_load_case(conn, cf, err, errlen);
    pgpipe_t *pp = pgpipe_new(conn);
    if (rc == 0)
        rc = chargestore_queue_case(pp, cf, err, errlen);
    if (rc == 0)
        rc = pgpipe_run(pp, err, errlen);
    pgpipe_free(pp);
    return rc;
}

/* ---- The comparison -------------------------------------------------------------------------- */

#define F(x)                                                                                       \
    {                                                                                              \
#x, offsetof(casefile_t, x), sizeof(((casefile_t *)0)->x)                                  \
    }
static const struct {
    const char *name;
    size_t off, size;
} fields[] = {
    F(creditor_id),
    F(debtor_id),
    F(creditor_name),
    F(debtor_name),
    F(phone),
    F(email),
    F(locale),
    F(timezone),
    F(debtor_zone),
    F(country),
    F(parties_dirty),
    F(currency),
    F(balance),
    F(days_past_due),
    F(n_invoices),
    F(segmented),
    F(segment),
    F(rule),
    F(strategy),
    F(variant),
    F(policy_version),
    F(high_value),
    F(segment_since),
    F(segment_seq),
    F(last_step),
    F(stage),
    F(status),
    F(has_next),
    F(next_action),
    F(next_channel),
    F(next_not_before),
    F(n_tasks),
    F(version),
    F(updated_at),
    F(last_event),
    F(n_credits),
    F(n_credit_lines),
    F(call_attempts),
    F(n_call_attempts),
    F(last_rpc_at),
    F(last_contact_at),
    F(do_not_call),
    F(do_not_sms),
    F(do_not_email),
    F(cease_communication),
    F(tz_override),
    F(forbearance_from),
    F(forbearance_until),
    F(features_dirty),
    F(principal),
    F(charges),
    F(rows),
    F(followup_dirty),
};
#undef F

/* *cf without what it points to (compared apart) nor its capacities. */
static void neutral(casefile_t *c)
{
    casefile_rows_t *r = &c->rows;

    c->invoices = NULL;
    c->tasks = NULL;
    c->credits = NULL;
    c->credit_lines = NULL;
    c->cap_invoices = c->cap_tasks = c->cap_credits = c->cap_credit_lines = 0;
    c->features = c->open_promise = c->active_plan = c->followup = c->forbearances = NULL;
    r->payment = NULL;
    r->promise = r->open_promise = r->pending = NULL;
    r->plan = r->open_plan = NULL;
    r->disputes = NULL;
    r->resolved_at = r->outcome = r->event_source = r->event_id = r->ended_on = NULL;
    r->event_data = NULL;
}

static int same_json(const json_t *a, const json_t *b, const char *what, const char *who)
{
    char *sa = a ? json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    char *sb = b ? json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    int same = (sa == NULL && sb == NULL) || (sa && sb && strcmp(sa, sb) == 0);
    if (!same)
        fprintf(stderr, "%s: %s differs: %s / %s\n", who, what, sa ? sa : "NULL", sb ? sb : "NULL");
    free(sa);
    free(sb);
    return same;
}

/* Whether the rows' pointers agree (the payments side is loaded by the same code either way). */
static int same_rows(const casefile_rows_t *a, const casefile_rows_t *b)
{
    return !a->payment == !b->payment && !a->promise == !b->promise && !a->plan == !b->plan &&
           !a->open_promise == !b->open_promise && !a->open_plan == !b->open_plan &&
           a->n_pending == b->n_pending && a->n_disputes == b->n_disputes;
}

static int same_arrays(const casefile_t *a, const casefile_t *b, const char *who)
{
    if (a->n_invoices == b->n_invoices && a->n_invoices > 0 &&
        memcmp(a->invoices, b->invoices, a->n_invoices * sizeof(*a->invoices)) != 0) {
        fprintf(stderr, "%s: invoices differ\n", who);
        return 0;
    }
    if (a->n_tasks == b->n_tasks && a->n_tasks > 0 &&
        memcmp(a->tasks, b->tasks, a->n_tasks * sizeof(*a->tasks)) != 0) {
        fprintf(stderr, "%s: tasks differ\n", who);
        return 0;
    }
    if (a->n_credits == b->n_credits && a->n_credits > 0 &&
        memcmp(a->credits, b->credits, a->n_credits * sizeof(*a->credits)) != 0) {
        fprintf(stderr, "%s: credits differ\n", who);
        return 0;
    }
    return same_rows(&a->rows, &b->rows);
}

/* 1 when *a and *b hold the same case, byte for byte; 0 (the difference named on stderr). */
static int same_case(const casefile_t *a, const casefile_t *b, const char *who)
{
    casefile_t na = *a, nb = *b;

    neutral(&na);
    neutral(&nb);
    if (memcmp(&na, &nb, sizeof(na)) != 0) {
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
            if (memcmp((char *)&na + fields[i].off, (char *)&nb + fields[i].off, fields[i].size) !=
                0)
                fprintf(stderr, "%s %s/%s: %s differs\n", who, a->creditor_id, a->debtor_id,
                        fields[i].name);
        fprintf(stderr, "%s %s/%s: the case files differ\n", who, a->creditor_id, a->debtor_id);
        return 0;
    }
    return same_arrays(a, b, who) && same_json(a->features, b->features, "features", who) &&
           same_json(a->followup, b->followup, "followup", who) &&
           same_json(a->forbearances, b->forbearances, "forbearances", who) &&
           same_json(a->open_promise, b->open_promise, "open_promise", who) &&
           same_json(a->active_plan, b->active_plan, "active_plan", who);
}

/* The parts a self-check changed on purpose (SEEN_*): each must have been seen as a difference
 * once in the run, or the comparison could not fail. */
enum { SEEN_INVOICE = 1, SEEN_TASK = 2, SEEN_CALL = 4, SEEN_FORBEARANCE = 8, SEEN_ALL = 15 };
static unsigned seen;

/* Changes one part of *b that *a has too and is not checked yet, expects a difference, and
 * restores it. Returns 0, or -1 when the comparison missed it. */
static int self_check(const casefile_t *a, casefile_t *b)
{
    const char *who = "(self-check: a difference is expected here)";
    int missed = 0;

    if (!(seen & SEEN_INVOICE) && b->n_invoices > 0) {
        b->invoices[0].open_amount++;
        missed |= same_case(a, b, who);
        b->invoices[0].open_amount--;
        seen |= SEEN_INVOICE;
    }
    if (!(seen & SEEN_TASK) && b->n_tasks > 0) {
        b->tasks[0].not_after++;
        missed |= same_case(a, b, who);
        b->tasks[0].not_after--;
        seen |= SEEN_TASK;
    }
    if (!(seen & SEEN_CALL) && b->n_call_attempts > 0) {
        b->call_attempts[b->n_call_attempts - 1]++;
        missed |= same_case(a, b, who);
        b->call_attempts[b->n_call_attempts - 1]--;
        seen |= SEEN_CALL;
    }
    if (!(seen & SEEN_FORBEARANCE) && json_array_size(b->forbearances) > 0) {
        json_t *f = json_array_get(b->forbearances, 0);
        json_t *was = json_incref(json_object_get(f, "until"));
        json_object_set_new(f, "until", json_string("9999-12-31"));
        missed |= same_case(a, b, who);
        json_object_set_new(f, "until", was);
        seen |= SEEN_FORBEARANCE;
    }
    return missed ? -1 : 0;
}

/* ---- Main ------------------------------------------------------------------------------------ */

static int die(const char *what, const char *err)
{
    fprintf(stderr, "recobro-test-loadcmp: %s: %s\n", what, err);
    return 2;
}

/* Each case of ref[0..n) loaded alone, by the reference and by casestore_load() without the
 * lock. Returns 0, 1 (a difference) or 2. */
static int compare_singles(PGconn *conn, const casefile_t *ref, size_t n)
{
    char err[512] = "";
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < n; i++) {
        casefile_t a, b;
        memset(&b, 0, sizeof(b));
        if (casefile_init(&a, ref[i].creditor_id, ref[i].debtor_id) < 0 ||
            ref_load_one(conn, &a, err, sizeof(err)) != 0 ||
            casestore_load(conn, a.creditor_id, a.debtor_id, false, &b, err, sizeof(err)) != 0)
            rc = die("single load", err);
        else if (!same_case(&a, &b, "single"))
            rc = 1;
        casefile_clear(&a);
        casefile_clear(&b);
    }
    return rc;
}

/* The batch loads of the cases of reqs[0..n) into refs[i] (reference) and reqs[i].cf
 * (casestore_load_many()), in one transaction rolled back. Returns 0 or 2. */
static int load_batch(PGconn *conn, casefile_t **refs, casestore_req_t *reqs, size_t n)
{
    pgarr_t cr, de;
    char err[512] = "out of memory";
    int rc = 0;

    pgarr_init(&cr);
    pgarr_init(&de);
    for (size_t i = 0; i < n; i++) {
        pgarr_add_cstr(&cr, reqs[i].creditor_id);
        pgarr_add_cstr(&de, reqs[i].debtor_id);
    }
    const char *arrays[2] = {pgarr_str(&cr), pgarr_str(&de)};
    if (arrays[0] == NULL || arrays[1] == NULL)
        rc = -1;
    if (rc == 0)
        rc = pg_exec_ok(conn, "BEGIN", PGRES_COMMAND_OK, err, sizeof(err));
    if (rc == 0)
        rc = ref_load_many(conn, refs, n, arrays, err, sizeof(err));
    if (rc == 0)
        rc = casestore_load_many(conn, reqs, n, err, sizeof(err));
    if (pg_exec_ok(conn, "ROLLBACK", PGRES_COMMAND_OK, err, sizeof(err)) != 0 || rc != 0)
        rc = die("batch load", err);
    pgarr_free(&cr);
    pgarr_free(&de);
    return rc;
}

/* Cases [from, from + n) of `keys`: the batch loads, then each single load. Returns 0, 1 (a
 * difference) or 2. */
static int compare_batch(PGconn *conn, const PGresult *keys, int from, size_t n)
{
    casefile_t *ref = calloc(n, sizeof(*ref)), *got = calloc(n, sizeof(*got));
    casefile_t **refs = calloc(n, sizeof(*refs));
    casestore_req_t *reqs = calloc(n, sizeof(*reqs));
    int rc = ref && got && refs && reqs ? 0 : die("batch", "out of memory");

    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *c = PQgetvalue(keys, from + (int)i, 0), *d = PQgetvalue(keys, from + (int)i, 1);
        refs[i] = &ref[i];
        reqs[i] = (casestore_req_t){c, d, 0, NULL, &got[i], NULL};
        if (casefile_init(&ref[i], c, d) < 0)
            rc = die("batch", "case ids too long, or out of memory");
    }
    if (rc == 0)
        rc = load_batch(conn, refs, reqs, n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = !same_case(&ref[i], &got[i], "batch") || self_check(&ref[i], &got[i]) != 0 ? 1 : 0;
    if (rc == 0)
        rc = compare_singles(conn, ref, n);
    for (size_t i = 0; ref && got && i < n; i++) {
        casefile_clear(&ref[i]);
        casefile_clear(&got[i]);
    }
    free(ref);
    free(got);
    free(refs);
    free(reqs);
    return rc;
}

/* The statements casestore_prepare() made whose name starts with cl_ (caseload.c), and the
 * reference's, for EXPLAIN. */
static int print_sql(PGconn *conn)
{
    char err[512];
    PGresult *res = PQexec(conn, "SELECT name, statement FROM pg_prepared_statements "
                                 "WHERE name LIKE 'cl\\_%' ORDER BY name");

    if (pg_expect(res, PGRES_TUPLES_OK, "prepared statements", err, sizeof(err)) != 0)
        return die("--sql", err);
    for (int r = 0; r < PQntuples(res); r++)
        printf("%s\t%s\n", PQgetvalue(res, r, 0), PQgetvalue(res, r, 1));
    printf("ref_many\t%s\n", ref_many);
    PQclear(res);
    return 0;
}

/* Every case of the database (LIMIT at most), BATCH at a time. Returns 0, 1 or 2. */
static int compare_all(PGconn *conn, long limit)
{
    char lim[24], err[512];
    snprintf(lim, sizeof(lim), "%ld", limit);
    const char *p[1] = {lim};
    PGresult *keys = PQexecParams(conn,
                                  "SELECT creditor_id, debtor_id FROM debt_case "
                                  "ORDER BY creditor_id, debtor_id LIMIT $1",
                                  1, NULL, p, NULL, NULL, 0);

    if (pg_expect(keys, PGRES_TUPLES_OK, "cases", err, sizeof(err)) != 0)
        return die("cases", err);
    int total = PQntuples(keys), rc = 0;
    for (int from = 0; from < total && rc == 0; from += BATCH)
        rc = compare_batch(conn, keys, from, (size_t)(total - from < BATCH ? total - from : BATCH));
    PQclear(keys);
    if (rc == 0)
        printf("loadcmp: %d cases identical (batch and single loads); self-checked: %s%s%s%s\n",
               total, seen & SEEN_INVOICE ? "invoices " : "", seen & SEEN_TASK ? "tasks " : "",
               seen & SEEN_CALL ? "calls " : "", seen & SEEN_FORBEARANCE ? "forbearances" : "");
    return rc;
}

/* ---- Timing (--time) ------------------------------------------------------------------------ */

static double now_s(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One batch of `n` cases (keys rows from..) loaded by the reference (old) or casestore (new),
 * in a transaction rolled back; adds its wall and process CPU seconds to t[0], t[1]. */
static int time_batch(PGconn *conn, const PGresult *keys, int from, size_t n, bool old, double *t)
{
    casefile_t *cfs = calloc(n, sizeof(*cfs));
    casefile_t **ptrs = calloc(n, sizeof(*ptrs));
    casestore_req_t *reqs = calloc(n, sizeof(*reqs));
    char err[512] = "out of memory";
    pgarr_t cr, de;
    int rc = cfs && ptrs && reqs ? 0 : -1;

    pgarr_init(&cr);
    pgarr_init(&de);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *c = PQgetvalue(keys, from + (int)i, 0), *d = PQgetvalue(keys, from + (int)i, 1);
        ptrs[i] = &cfs[i];
        reqs[i] = (casestore_req_t){c, d, 0, NULL, &cfs[i], NULL};
        rc = old ? casefile_init(&cfs[i], c, d) : 0;
        pgarr_add_cstr(&cr, c);
        pgarr_add_cstr(&de, d);
    }
    const char *arrays[2] = {pgarr_str(&cr), pgarr_str(&de)};
    if (rc == 0)
        rc = pg_exec_ok(conn, "BEGIN", PGRES_COMMAND_OK, err, sizeof(err));
    double w = now_s(CLOCK_MONOTONIC), c = now_s(CLOCK_PROCESS_CPUTIME_ID);
    if (rc == 0)
        rc = old ? ref_load_many(conn, ptrs, n, arrays, err, sizeof(err))
                 : casestore_load_many(conn, reqs, n, err, sizeof(err));
    t[0] += now_s(CLOCK_MONOTONIC) - w;
    t[1] += now_s(CLOCK_PROCESS_CPUTIME_ID) - c;
    if (pg_exec_ok(conn, "ROLLBACK", PGRES_COMMAND_OK, err, sizeof(err)) != 0 || rc != 0)
        rc = die("timed load", err);
    for (size_t i = 0; cfs && i < n; i++)
        casefile_clear(&cfs[i]);
    free(cfs);
    free(ptrs);
    free(reqs);
    pgarr_free(&cr);
    pgarr_free(&de);
    return rc;
}

/* Every case, `batch` at a time, three rounds, old and new loaders in turn on each batch (which
 * goes first alternates): their wall and client CPU time per case. */
static int time_all(PGconn *conn, long batch)
{
    char err[512];
    PGresult *keys = PQexec(conn, "SELECT creditor_id, debtor_id FROM debt_case "
                                  "ORDER BY creditor_id, debtor_id");
    if (pg_expect(keys, PGRES_TUPLES_OK, "cases", err, sizeof(err)) != 0)
        return die("cases", err);
    int total = PQntuples(keys), rc = 0, k = 0;
    for (int round = 1; round <= 3 && rc == 0; round++) {
        double t[2][2] = {{0, 0}, {0, 0}}; /* [old, new][wall, cpu] */
        for (int from = 0; from < total && rc == 0; from += (int)batch, k++) {
            size_t n = (size_t)(total - from < batch ? total - from : batch);
            rc = time_batch(conn, keys, from, n, k % 2 == 0, t[k % 2 == 0 ? 0 : 1]);
            if (rc == 0)
                rc = time_batch(conn, keys, from, n, k % 2 != 0, t[k % 2 != 0 ? 0 : 1]);
        }
        printf("round %d: %d cases, batches of %ld: old %.1f us/case (client CPU %.1f), "
               "new %.1f us/case (client CPU %.1f)\n",
               round, total, batch, t[0][0] * 1e6 / total, t[0][1] * 1e6 / total,
               t[1][0] * 1e6 / total, t[1][1] * 1e6 / total);
    }
    PQclear(keys);
    return rc;
}

/* The reference's statement, prepared as ref_many. */
static int prepare_ref(PGconn *conn, char *err, size_t errlen)
{
    PGresult *res = PQprepare(conn, "ref_many", ref_many, 0, NULL);
    return pg_expect(res, PGRES_COMMAND_OK, "prepare ref_many", err, errlen) != 0
               ? -1
               : (PQclear(res), 0);
}

int main(int argc, char **argv)
{
    const char *dsn = getenv("RECOBRO_PG_DSN");
    char *end = NULL, err[512];
    bool sql = argc == 2 && strcmp(argv[1], "--sql") == 0;
    bool timed = argc > 1 && strcmp(argv[1], "--time") == 0;
    const char *num = timed              ? (argc > 2 ? argv[2] : "100")
                      : argc > 1 && !sql ? argv[1]
                                         : "1000000000";
    long limit = strtol(num, &end, 10);

    if (argc > 2 + timed || *end != '\0' || limit < 1 || dsn == NULL) {
        fprintf(
            stderr,
            "usage: RECOBRO_PG_DSN=... recobro-test-loadcmp [LIMIT | --sql | --time [BATCH]]\n");
        return 2;
    }
    PGconn *conn = pg_connect(dsn, "recobro-test-loadcmp", err, sizeof(err));
    if (conn == NULL)
        return die("connect", err);
    int rc =
        casestore_prepare(conn, err, sizeof(err)) != 0 || prepare_ref(conn, err, sizeof(err)) != 0
            ? die("prepare", err)
        : timed ? time_all(conn, limit)
        : sql   ? print_sql(conn)
                : compare_all(conn, limit);
    PQfinish(conn);
    return rc;
}
