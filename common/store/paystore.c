/* paystore.c - payments, promises and plans in PostgreSQL (see paystore.h). Rows are read as
 * JSON documents built by the server (row_to_json), so one parser serves every query. */
#include "paystore.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casepay.h"
#include "money.h"
#include "pg.h"
#include "validate.h"
#include "calendar.h"

/* ---- The statements -------------------------------------------------------------------------- */

#define D0 "date '1970-01-01'"
#define PROMISE_COLS                                                                               \
    "promise_id, amount, currency, (due_on - " D0 ") AS due_day, (made_on - " D0 ") AS made_day, " \
    "grace_days, paid_toward, state, (as_of - " D0 ") AS as_of, "                                  \
    "(settled_on - " D0 ") AS settled_day, last_reported, cancel_reason, pending_approval, "       \
    "approved_by "
#define PLAN_COLS                                                                                  \
    "plan_id, currency, (agreed_on - " D0 ") AS agreed_day, grace_days, default_missed, "          \
    "has_down_payment, total, paid, missed, state, (as_of - " D0 ") AS as_of, "                    \
    "(settled_on - " D0 ") AS settled_day, reported, pending_approval, approved_by, "              \
    "(SELECT json_agg(json_build_object('slot', i.slot, 'due_day', i.due_on - " D0 ", "            \
    "  'amount', i.amount, 'paid', i.paid, 'state', i.state, 'missed', i.missed, "                 \
    "  'last_reported', i.last_reported) ORDER BY i.slot) FROM plan_installment i "                \
    "  WHERE i.creditor_id = pl.creditor_id AND i.debtor_id = pl.debtor_id "                       \
    "  AND i.plan_id = pl.plan_id) AS installments "

static const pg_statement_t statements[] = {
    {"ps_case",
     "SELECT (SELECT coalesce(json_agg(json_build_object('payment_id', payment_id, "
     "  'currency', currency, 'unallocated', unallocated, "
     "  'received_at', coalesce(extract(epoch FROM received_at)::bigint, 0))), '[]') "
     "  FROM payment WHERE creditor_id = $1 AND debtor_id = $2 AND status = 'received' "
     "  AND unallocated > 0)::text AS credits, "
     " (SELECT row_to_json(x) FROM (SELECT " PROMISE_COLS " FROM promise WHERE creditor_id = $1 "
     "  AND debtor_id = $2 AND state = 'pending' AND NOT pending_approval "
     "  ORDER BY created_at DESC, promise_id LIMIT 1) x)::text AS promise, "
     " (SELECT row_to_json(x) FROM (SELECT " PLAN_COLS " FROM plan pl WHERE creditor_id = $1 "
     "  AND debtor_id = $2 AND state = 'active' AND NOT pending_approval "
     "  ORDER BY created_at DESC, plan_id LIMIT 1) x)::text AS plan"},
    /* The promise a payment counts toward: the latest applied one still pending or kept. */
    {"ps_promise_open",
     "SELECT row_to_json(x)::text AS doc FROM (SELECT " PROMISE_COLS " FROM promise "
     "WHERE creditor_id = $1 AND debtor_id = $2 AND state IN ('pending', 'kept') "
     "AND NOT pending_approval ORDER BY created_at DESC, promise_id LIMIT 1) x"},
    {"ps_promise_pending",
     "SELECT row_to_json(x)::text AS doc FROM (SELECT " PROMISE_COLS " FROM promise "
     "WHERE creditor_id = $1 AND debtor_id = $2 AND state = 'pending' "
     "AND NOT pending_approval ORDER BY created_at DESC, promise_id) x"},
    {"ps_promise_get",
     "SELECT row_to_json(x)::text AS doc FROM (SELECT " PROMISE_COLS " FROM promise "
     "WHERE creditor_id = $1 AND debtor_id = $2 AND promise_id = $3) x"},
    {"ps_promise_put",
     "INSERT INTO promise (creditor_id, debtor_id, promise_id, amount, currency, due_on, made_on, "
     "grace_days, paid_toward, state, as_of, settled_on, last_reported, cancel_reason, "
     "pending_approval, limit_broken, approved_by, agent_id, channel) "
     "VALUES ($1, $2, $3, $4, $5, " D0 " + $6::integer, " D0 " + $7::integer, $8, $9, $10, " D0
     " + $11::integer, " D0 " + $12::integer, $13, $14, $15, $16, $17, $18, $19) "
     "ON CONFLICT (creditor_id, debtor_id, promise_id) DO UPDATE SET "
     "paid_toward = EXCLUDED.paid_toward, state = EXCLUDED.state, as_of = EXCLUDED.as_of, "
     "settled_on = EXCLUDED.settled_on, last_reported = EXCLUDED.last_reported, "
     "cancel_reason = EXCLUDED.cancel_reason, pending_approval = EXCLUDED.pending_approval, "
     "approved_by = coalesce(EXCLUDED.approved_by, promise.approved_by), updated_at = now()"},
    {"ps_plan_open",
     "SELECT row_to_json(x)::text AS doc FROM (SELECT " PLAN_COLS " FROM plan pl "
     "WHERE creditor_id = $1 AND debtor_id = $2 AND state = 'active' AND NOT pending_approval "
     "ORDER BY created_at DESC, plan_id LIMIT 1) x"},
    {"ps_plan_get", "SELECT row_to_json(x)::text AS doc FROM (SELECT " PLAN_COLS " FROM plan pl "
                    "WHERE creditor_id = $1 AND debtor_id = $2 AND plan_id = $3) x"},
    {"ps_plan_put",
     "INSERT INTO plan (creditor_id, debtor_id, plan_id, currency, agreed_on, grace_days, "
     "default_missed, has_down_payment, total, paid, missed, state, as_of, settled_on, reported, "
     "pending_approval, limit_broken, approved_by, agent_id) "
     "VALUES ($1, $2, $3, $4, " D0 " + $5::integer, $6, $7, $8, $9, $10, $11, $12, " D0
     " + $13::integer, " D0 " + $14::integer, $15, $16, $17, $18, $19) "
     "ON CONFLICT (creditor_id, debtor_id, plan_id) DO UPDATE SET paid = EXCLUDED.paid, "
     "missed = EXCLUDED.missed, state = EXCLUDED.state, as_of = EXCLUDED.as_of, "
     "settled_on = EXCLUDED.settled_on, reported = EXCLUDED.reported, "
     "pending_approval = EXCLUDED.pending_approval, "
     "approved_by = coalesce(EXCLUDED.approved_by, plan.approved_by), updated_at = now()"},
    {"ps_inst_put",
     "INSERT INTO plan_installment (creditor_id, debtor_id, plan_id, slot, due_on, amount, paid, "
     "state, missed, last_reported) VALUES ($1, $2, $3, $4, " D0 " + $5::integer, $6, $7, $8, "
     "$9, $10) ON CONFLICT (creditor_id, debtor_id, plan_id, slot) DO UPDATE SET "
     "paid = EXCLUDED.paid, state = EXCLUDED.state, missed = EXCLUDED.missed, "
     "last_reported = EXCLUDED.last_reported"},
    {"ps_payment_get",
     "SELECT status, promise_id, promise_applied, plan_id, plan_lines::text AS plan_lines "
     "FROM payment WHERE creditor_id = $1 AND debtor_id = $2 AND payment_id = $3"},
    {"ps_payment_put",
     "INSERT INTO payment (creditor_id, debtor_id, payment_id, amount, currency, received_at, "
     "method, invoice_ids, status, unallocated, promise_id, promise_applied, plan_id, plan_lines) "
     "VALUES ($1, $2, $3, $4, $5, to_timestamp($6::bigint), $7, $8::jsonb, 'received', $9, $10, "
     "$11, $12, $13::jsonb)"},
    {"ps_payment_stub",
     "INSERT INTO payment (creditor_id, debtor_id, payment_id, status, reversed_at, reason) "
     "VALUES ($1, $2, $3, 'reversed', to_timestamp($4::bigint), $5)"},
    {"ps_payment_reverse",
     "UPDATE payment SET status = 'reversed', unallocated = 0, "
     "reversed_at = to_timestamp($4::bigint), reason = $5, updated_at = now() "
     "WHERE creditor_id = $1 AND debtor_id = $2 AND payment_id = $3"},
    {"ps_alloc_get",
     "SELECT coalesce(json_agg(json_build_object('invoice_id', invoice_id, 'amount', amount) "
     "ORDER BY line_id), '[]')::text AS lines FROM payment_allocation "
     "WHERE creditor_id = $1 AND debtor_id = $2 AND payment_id = $3 AND NOT reversed"},
    {"ps_alloc_reverse", "UPDATE payment_allocation SET reversed = true "
                         "WHERE creditor_id = $1 AND debtor_id = $2 AND payment_id = $3"},
    {"ps_alloc_put",
     "INSERT INTO payment_allocation (creditor_id, debtor_id, payment_id, invoice_id, amount, "
     "from_credit) VALUES ($1, $2, $3, $4, $5, $6)"},
    {"ps_credit_put", "UPDATE payment SET unallocated = $4, updated_at = now() "
                      "WHERE creditor_id = $1 AND debtor_id = $2 AND payment_id = $3"},
};

int paystore_prepare(PGconn *conn, char *err, size_t errlen)
{
    return pg_prepare_all(conn, statements, sizeof(statements) / sizeof(statements[0]), err,
                          errlen);
}

/* Runs a prepared statement. With `text` (may be NULL), expects one row and copies column
 * `column` of it (NULL when SQL NULL or no row) into a new string (*text, free() it). */
static int run(PGconn *conn, const char *name, int n, const char *const *params, const char *column,
               char **text, char *err, size_t errlen)
{
    PGresult *res = PQexecPrepared(conn, name, n, params, NULL, NULL, 0);
    ExecStatusType want = column ? PGRES_TUPLES_OK : PGRES_COMMAND_OK;
    if (PQresultStatus(res) != want)
        return pg_fail(conn, res, name, err, errlen);
    if (column != NULL) {
        int f = PQfnumber(res, column);
        *text = NULL;
        if (f >= 0 && PQntuples(res) > 0 && !PQgetisnull(res, 0, f)) {
            *text = strdup(PQgetvalue(res, 0, f));
            if (*text == NULL) {
                PQclear(res);
                snprintf(err, errlen, "out of memory");
                return -1;
            }
        }
    }
    PQclear(res);
    return 0;
}

/* ---- Rows as JSON ---------------------------------------------------------------------------- */

static int64_t jint(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static promise_state_t state_of(const char *name)
{
    promise_state_t s = PROMISE_PENDING;
    (void)promise_state_from_name(name, &s);
    return s;
}

/* A stored promise: the state machine's value plus what only the store knows. */
typedef struct stored_promise {
    promise_t p;
    bool pending_approval;
    bool has_approver;
} stored_promise_t;

typedef struct stored_plan {
    plan_t pl;
    bool pending_approval;
    bool has_approver;
} stored_plan_t;

static int promise_from_text(const char *text, stored_promise_t *sp)
{
    json_error_t jerr;
    json_t *o = json_loads(text, 0, &jerr);
    if (!json_is_object(o)) {
        json_decref(o);
        return -1;
    }
    memset(sp, 0, sizeof(*sp));
    promise_t *p = &sp->p;
    snprintf(p->id, sizeof(p->id), "%s", jstr(o, "promise_id"));
    snprintf(p->currency, sizeof(p->currency), "%s", jstr(o, "currency"));
    p->amount = jint(o, "amount");
    p->made_day = jint(o, "made_day");
    p->due_day = jint(o, "due_day");
    p->grace_days = (int32_t)jint(o, "grace_days");
    p->paid_toward = jint(o, "paid_toward");
    p->state = state_of(jstr(o, "state"));
    p->as_of = jint(o, "as_of");
    p->settled_day = jint(o, "settled_day");
    p->last_reported = state_of(jstr(o, "last_reported"));
    p->cancel_reason = PROMISE_CANCEL_NONE;
    for (int r = PROMISE_CANCEL_NEW_PROMISE; r <= PROMISE_CANCEL_DISPUTE; r++)
        if (strcmp(jstr(o, "cancel_reason"), promise_cancel_reason_name(r)) == 0)
            p->cancel_reason = (promise_cancel_reason_t)r;
    sp->pending_approval = json_is_true(json_object_get(o, "pending_approval"));
    sp->has_approver = json_is_string(json_object_get(o, "approved_by"));
    json_decref(o);
    return 0;
}

static int plan_from_text(const char *text, stored_plan_t *sp)
{
    json_error_t jerr;
    json_t *o = json_loads(text, 0, &jerr), *inst;
    size_t i;
    if (!json_is_object(o)) {
        json_decref(o);
        return -1;
    }
    memset(sp, 0, sizeof(*sp));
    plan_t *pl = &sp->pl;
    snprintf(pl->id, sizeof(pl->id), "%s", jstr(o, "plan_id"));
    snprintf(pl->currency, sizeof(pl->currency), "%s", jstr(o, "currency"));
    pl->agreed_day = jint(o, "agreed_day");
    pl->grace_days = (int32_t)jint(o, "grace_days");
    pl->default_missed = (int32_t)jint(o, "default_missed");
    pl->has_down_payment = json_is_true(json_object_get(o, "has_down_payment"));
    pl->total = jint(o, "total");
    pl->paid = jint(o, "paid");
    pl->missed = (int32_t)jint(o, "missed");
    (void)plan_state_from_name(jstr(o, "state"), &pl->state);
    pl->as_of = jint(o, "as_of");
    pl->settled_day = jint(o, "settled_day");
    pl->reported = json_is_true(json_object_get(o, "reported"));
    json_array_foreach(json_object_get(o, "installments"), i, inst)
    {
        size_t slot = (size_t)jint(inst, "slot");
        if (slot >= PLAN_MAX_SLOTS)
            continue;
        plan_installment_t *in = &pl->installments[slot];
        in->due_day = jint(inst, "due_day");
        in->amount = jint(inst, "amount");
        in->paid = jint(inst, "paid");
        in->state = state_of(jstr(inst, "state"));
        in->missed = json_is_true(json_object_get(inst, "missed"));
        in->last_reported = state_of(jstr(inst, "last_reported"));
        if (slot + 1 > pl->n)
            pl->n = slot + 1;
    }
    sp->pending_approval = json_is_true(json_object_get(o, "pending_approval"));
    sp->has_approver = json_is_string(json_object_get(o, "approved_by"));
    json_decref(o);
    return 0;
}

/* Loads one promise by statement `stmt` (3 params with `id`, else 2) into *sp. Returns 0,
 * CASESTORE-like 1 when none, -1 or RESULT_TRANSIENT. */
static int load_promise(PGconn *conn, const casefile_t *cf, const char *stmt, const char *id,
                        stored_promise_t *sp, char *err, size_t errlen)
{
    const char *params[3] = {cf->creditor_id, cf->debtor_id, id};
    char *text = NULL;
    int rc = run(conn, stmt, id ? 3 : 2, params, "doc", &text, err, errlen);
    if (rc != 0)
        return rc;
    if (text == NULL)
        return 1;
    rc = promise_from_text(text, sp);
    free(text);
    if (rc < 0)
        snprintf(err, errlen, "%s: a promise row did not parse", stmt);
    return rc;
}

static int load_plan(PGconn *conn, const casefile_t *cf, const char *stmt, const char *id,
                     stored_plan_t *sp, char *err, size_t errlen)
{
    const char *params[3] = {cf->creditor_id, cf->debtor_id, id};
    char *text = NULL;
    int rc = run(conn, stmt, id ? 3 : 2, params, "doc", &text, err, errlen);
    if (rc != 0)
        return rc;
    if (text == NULL)
        return 1;
    rc = plan_from_text(text, sp);
    free(text);
    if (rc < 0)
        snprintf(err, errlen, "%s: a plan row did not parse", stmt);
    return rc;
}

static int save_promise(PGconn *conn, const casefile_t *cf, const stored_promise_t *sp,
                        const char *limit, const char *approved_by, const char *agent_id,
                        const char *channel, char *err, size_t errlen)
{
    const promise_t *p = &sp->p;
    char amount[24], due[16], made[16], grace[16], paid[24], asof[16], settled[16];
    snprintf(amount, sizeof(amount), "%" PRId64, p->amount);
    snprintf(due, sizeof(due), "%" PRId64, p->due_day);
    snprintf(made, sizeof(made), "%" PRId64, p->made_day);
    snprintf(grace, sizeof(grace), "%d", (int)p->grace_days);
    snprintf(paid, sizeof(paid), "%" PRId64, p->paid_toward);
    snprintf(asof, sizeof(asof), "%" PRId64, p->as_of);
    snprintf(settled, sizeof(settled), "%" PRId64, p->settled_day);
    const char *params[19] = {cf->creditor_id,
                              cf->debtor_id,
                              p->id,
                              amount,
                              p->currency,
                              due,
                              made,
                              grace,
                              paid,
                              promise_state_name(p->state),
                              asof,
                              settled,
                              promise_state_name(p->last_reported),
                              promise_cancel_reason_name(p->cancel_reason),
                              sp->pending_approval ? "true" : "false",
                              limit,
                              approved_by,
                              agent_id,
                              channel};
    return run(conn, "ps_promise_put", 19, params, NULL, NULL, err, errlen);
}

static int save_plan(PGconn *conn, const casefile_t *cf, const stored_plan_t *sp, const char *limit,
                     const char *approved_by, const char *agent_id, char *err, size_t errlen)
{
    const plan_t *pl = &sp->pl;
    char agreed[16], grace[16], dm[16], total[24], paid[24], missed[16], asof[16], settled[16];
    snprintf(agreed, sizeof(agreed), "%" PRId64, pl->agreed_day);
    snprintf(grace, sizeof(grace), "%d", (int)pl->grace_days);
    snprintf(dm, sizeof(dm), "%d", (int)pl->default_missed);
    snprintf(total, sizeof(total), "%" PRId64, pl->total);
    snprintf(paid, sizeof(paid), "%" PRId64, pl->paid);
    snprintf(missed, sizeof(missed), "%d", (int)pl->missed);
    snprintf(asof, sizeof(asof), "%" PRId64, pl->as_of);
    snprintf(settled, sizeof(settled), "%" PRId64, pl->settled_day);
    const char *params[19] = {cf->creditor_id,
                              cf->debtor_id,
                              pl->id,
                              pl->currency,
                              agreed,
                              grace,
                              dm,
                              pl->has_down_payment ? "true" : "false",
                              total,
                              paid,
                              missed,
                              plan_state_name(pl->state),
                              asof,
                              settled,
                              pl->reported ? "true" : "false",
                              sp->pending_approval ? "true" : "false",
                              limit,
                              approved_by,
                              agent_id};
    int rc = run(conn, "ps_plan_put", 19, params, NULL, NULL, err, errlen);
    for (size_t i = 0; i < pl->n && rc == 0; i++) {
        const plan_installment_t *in = &pl->installments[i];
        char slot[16], due[16], amount[24], ipaid[24];
        snprintf(slot, sizeof(slot), "%zu", i);
        snprintf(due, sizeof(due), "%" PRId64, in->due_day);
        snprintf(amount, sizeof(amount), "%" PRId64, in->amount);
        snprintf(ipaid, sizeof(ipaid), "%" PRId64, in->paid);
        const char *ip[10] = {cf->creditor_id,
                              cf->debtor_id,
                              pl->id,
                              slot,
                              due,
                              amount,
                              ipaid,
                              promise_state_name(in->state),
                              in->missed ? "true" : "false",
                              promise_state_name(in->last_reported)};
        rc = run(conn, "ps_inst_put", 10, ip, NULL, NULL, err, errlen);
    }
    return rc;
}

/* ---- The case's payments side (casestore hooks) ---------------------------------------------- */

/* Replaces cf->open_promise / cf->active_plan (steals doc; NULL clears). */
static void set_doc(json_t **slot, json_t *doc)
{
    json_decref(*slot);
    *slot = doc;
}

int paystore_load_case(PGconn *conn, casefile_t *cf, char *err, size_t errlen)
{
    const char *params[2] = {cf->creditor_id, cf->debtor_id};
    PGresult *res = PQexecPrepared(conn, "ps_case", 2, params, NULL, NULL, 0);
    json_error_t jerr;
    size_t i;
    json_t *o;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        return pg_fail(conn, res, "ps_case", err, errlen);
    int fc = PQfnumber(res, "credits"), fp = PQfnumber(res, "promise"), fl = PQfnumber(res, "plan");
    json_t *credits = json_loads(PQgetvalue(res, 0, fc), 0, &jerr);
    json_array_foreach(credits, i, o)
    {
        casefile_credit_t cr;
        memset(&cr, 0, sizeof(cr));
        snprintf(cr.payment_id, sizeof(cr.payment_id), "%s", jstr(o, "payment_id"));
        snprintf(cr.currency, sizeof(cr.currency), "%s", jstr(o, "currency"));
        cr.unallocated = jint(o, "unallocated");
        cr.received_at = jint(o, "received_at");
        if (cf->n_credits >= cf->cap_credits) {
            size_t cap = cf->cap_credits ? cf->cap_credits * 2 : 4;
            casefile_credit_t *p = realloc(cf->credits, cap * sizeof(*p));
            if (p == NULL)
                break;
            cf->credits = p;
            cf->cap_credits = cap;
        }
        cf->credits[cf->n_credits++] = cr;
    }
    json_decref(credits);
    if (fp >= 0 && !PQgetisnull(res, 0, fp)) {
        stored_promise_t sp;
        if (promise_from_text(PQgetvalue(res, 0, fp), &sp) == 0)
            set_doc(&cf->open_promise, casepay_promise_json(&sp.p));
    }
    if (fl >= 0 && !PQgetisnull(res, 0, fl)) {
        stored_plan_t *sp = malloc(sizeof(*sp));
        if (sp != NULL && plan_from_text(PQgetvalue(res, 0, fl), sp) == 0)
            set_doc(&cf->active_plan, casepay_plan_json(&sp->pl));
        free(sp);
    }
    PQclear(res);
    return 0;
}

int paystore_save_case(PGconn *conn, casefile_t *cf, char *err, size_t errlen)
{
    int rc = 0;
    for (size_t i = 0; i < cf->n_credits && rc == 0; i++) {
        casefile_credit_t *cr = &cf->credits[i];
        char un[24];
        if (!cr->dirty)
            continue;
        snprintf(un, sizeof(un), "%" PRId64, cr->unallocated);
        const char *p[4] = {cf->creditor_id, cf->debtor_id, cr->payment_id, un};
        rc = run(conn, "ps_credit_put", 4, p, NULL, NULL, err, errlen);
        cr->dirty = rc != 0;
    }
    for (size_t i = 0; i < cf->n_credit_lines && rc == 0; i++) {
        const casefile_credit_line_t *l = &cf->credit_lines[i];
        char amount[24];
        snprintf(amount, sizeof(amount), "%" PRId64, l->amount);
        const char *p[6] = {cf->creditor_id, cf->debtor_id, l->payment_id,
                            l->invoice_id,   amount,        "true"};
        rc = run(conn, "ps_alloc_put", 6, p, NULL, NULL, err, errlen);
    }
    if (rc == 0)
        cf->n_credit_lines = 0;
    return rc;
}

/* ---- Event fields ---------------------------------------------------------------------------- */

static const char *dstr(const ce_event_t *ev, const char *key)
{
    return json_string_value(json_object_get(ev->data, key));
}

static int day_of_date(const char *s, int64_t *day)
{
    int y, m, d;
    if (s == NULL || cal_parse_date(s, &y, &m, &d) < 0)
        return -1;
    *day = cal_days_from_civil(y, m, d);
    return 0;
}

static int today_of(const casefile_t *cf, int64_t now, int64_t *today, char *err, size_t errlen)
{
    if (cal_local_day(cf->timezone, now, today) < 0) {
        snprintf(err, errlen, "unknown time zone of the case");
        return -1;
    }
    return 0;
}

/* Refreshes the cache documents from the promise and plan as they now stand. */
static void refresh_docs(casefile_t *cf, const stored_promise_t *sp, const stored_plan_t *spl)
{
    if (sp != NULL)
        set_doc(&cf->open_promise, sp->p.state == PROMISE_PENDING && !sp->pending_approval
                                       ? casepay_promise_json(&sp->p)
                                       : NULL);
    if (spl != NULL)
        set_doc(&cf->active_plan, spl->pl.state == PLAN_ACTIVE && !spl->pending_approval
                                      ? casepay_plan_json(&spl->pl)
                                      : NULL);
}

/* ---- Payments -------------------------------------------------------------------------------- */

static int rejected(reason_t *rej, const reason_t *e)
{
    *rej = *e;
    return RESULT_REJECTED;
}

int paystore_payment_received(PGconn *conn, casefile_t *cf, const policy_t *policy,
                              const ce_event_t *ev, int64_t now, const char *source,
                              casefile_plan_t *plan, reason_t *rej, char *err, size_t errlen)
{
    const char *payment_id = dstr(ev, "payment_id"), *currency = dstr(ev, "currency");
    const char *amount_s = dstr(ev, "amount"), *received_s = dstr(ev, "received_at");
    const json_t *names = json_object_get(ev->data, "invoice_ids");
    casepay_payment_t pay;
    casepay_effect_t eff;
    stored_promise_t sp;
    stored_plan_t *spl = NULL;
    const char **named = NULL;
    char *text = NULL;
    reason_t e;
    int rc;

    (void)policy;
    (void)now;
    memset(&pay, 0, sizeof(pay));
    if (payment_id == NULL || currency == NULL || amount_s == NULL || received_s == NULL ||
        strlen(payment_id) >= CASEFILE_ID_MAX)
        return reason_set(rej, "schema_violation", "data.payment_id: missing or too long"),
               RESULT_REJECTED;
    if (money_parse(amount_s, currency, 0, &pay.amount) != MONEY_OK || pay.amount <= 0)
        return reason_set(rej, "invalid_amount", "data.amount: not a positive amount"),
               RESULT_REJECTED;
    if (cal_parse_instant(received_s, &pay.received_at, NULL) < 0)
        return reason_set(rej, "schema_violation", "data.received_at: not an RFC 3339 instant"),
               RESULT_REJECTED;
    if (cf->currency[0] != '\0' && strcmp(cf->currency, currency) != 0)
        return reason_set(rej, "currency_mismatch", "data.currency: the case is in %s",
                          cf->currency),
               RESULT_REJECTED;
    const char *gp[3] = {cf->creditor_id, cf->debtor_id, payment_id};
    if ((rc = run(conn, "ps_payment_get", 3, gp, "status", &text, err, errlen)) != 0)
        return rc;
    if (text != NULL) {
        free(text); /* known: a repeat, or reversed before it arrived: no second effect */
        return 0;
    }
    if (cal_local_day(cf->timezone, pay.received_at, &pay.day) < 0) {
        snprintf(err, errlen, "unknown time zone of the case");
        return -1;
    }
    pay.payment_id = payment_id;
    pay.currency = currency;
    if (json_is_array(names) && json_array_size(names) > 0) {
        size_t i;
        json_t *v;
        named = calloc(json_array_size(names), sizeof(*named));
        if (named == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        json_array_foreach(names, i, v) if (json_is_string(v)) named[pay.nnamed++] =
            json_string_value(v);
        pay.named = named;
    }
    rc = load_promise(conn, cf, "ps_promise_open", NULL, &sp, err, errlen);
    bool has_promise = rc == 0;
    if (rc < 0)
        goto out;
    spl = malloc(sizeof(*spl));
    if (spl == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
        goto out;
    }
    rc = load_plan(conn, cf, "ps_plan_open", NULL, spl, err, errlen);
    bool has_plan = rc == 0;
    if (rc < 0)
        goto out;
    if (casepay_receive(cf, &pay, has_promise ? &sp.p : NULL, has_plan ? &spl->pl : NULL, source,
                        plan, &eff, &e) < 0) {
        rc = rejected(rej, &e);
        goto out;
    }
    /* The payment row, with what it did. */
    json_t *pl_lines = json_array();
    for (size_t i = 0; i < eff.n_plan_lines; i++)
        json_array_append_new(pl_lines, json_pack("{s:i, s:I}", "slot", (int)eff.plan_lines[i].slot,
                                                  "amount", (json_int_t)eff.plan_lines[i].amount));
    char *pl_text = json_dumps(pl_lines, JSON_COMPACT);
    char *names_text = json_dumps(json_is_array(names) ? names : json_array(), JSON_COMPACT);
    json_decref(pl_lines);
    char amount[24], at[24], unalloc[24], applied[24];
    snprintf(amount, sizeof(amount), "%" PRId64, pay.amount);
    snprintf(at, sizeof(at), "%" PRId64, pay.received_at);
    snprintf(unalloc, sizeof(unalloc), "%" PRId64, eff.credit);
    snprintf(applied, sizeof(applied), "%" PRId64, eff.promise_applied);
    const char *pp[13] = {cf->creditor_id,
                          cf->debtor_id,
                          payment_id,
                          amount,
                          currency,
                          at,
                          dstr(ev, "method"),
                          names_text ? names_text : "[]",
                          unalloc,
                          has_promise && eff.promise_applied > 0 ? sp.p.id : NULL,
                          applied,
                          has_plan && eff.n_plan_lines > 0 ? spl->pl.id : NULL,
                          pl_text ? pl_text : "[]"};
    rc = run(conn, "ps_payment_put", 13, pp, NULL, NULL, err, errlen);
    free(pl_text);
    free(names_text);
    for (size_t i = 0; i < eff.nlines && rc == 0; i++) {
        char a[24];
        snprintf(a, sizeof(a), "%" PRId64, eff.lines[i].amount);
        const char *ap[6] = {cf->creditor_id, cf->debtor_id, payment_id, eff.lines[i].invoice_id, a,
                             "false"};
        rc = run(conn, "ps_alloc_put", 6, ap, NULL, NULL, err, errlen);
    }
    /* Its credit entry is in the row already. */
    for (size_t i = 0; i < cf->n_credits; i++)
        if (strcmp(cf->credits[i].payment_id, payment_id) == 0)
            cf->credits[i].dirty = false;
    if (rc == 0 && has_promise)
        rc = save_promise(conn, cf, &sp, NULL, NULL, NULL, NULL, err, errlen);
    if (rc == 0 && has_plan)
        rc = save_plan(conn, cf, spl, NULL, NULL, NULL, err, errlen);
    if (rc == 0)
        refresh_docs(cf, has_promise ? &sp : NULL, has_plan ? spl : NULL);
    casepay_effect_clear(&eff);
out:
    free(spl);
    free(named);
    return rc;
}

int paystore_payment_reversed(PGconn *conn, casefile_t *cf, const policy_t *policy,
                              const ce_event_t *ev, int64_t now, const char *source,
                              casefile_plan_t *plan, reason_t *rej, char *err, size_t errlen)
{
    const char *payment_id = dstr(ev, "payment_id");
    char at[24], *status = NULL;
    int rc;

    (void)policy;
    if (payment_id == NULL || strlen(payment_id) >= CASEFILE_ID_MAX)
        return reason_set(rej, "schema_violation", "data.payment_id: missing or too long"),
               RESULT_REJECTED;
    snprintf(at, sizeof(at), "%" PRId64, now);
    const char *gp[5] = {cf->creditor_id, cf->debtor_id, payment_id, at, dstr(ev, "reason")};
    PGresult *res = PQexecPrepared(conn, "ps_payment_get", 3, gp, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return pg_fail(conn, res, "ps_payment_get", err, errlen);
    if (PQntuples(res) == 0) {
        PQclear(res);
        return run(conn, "ps_payment_stub", 5, gp, NULL, NULL, err, errlen);
    }
    status = PQgetvalue(res, 0, PQfnumber(res, "status"));
    if (strcmp(status, "received") != 0) {
        PQclear(res);
        return 0; /* reversed already: no second effect */
    }
    int fpi = PQfnumber(res, "promise_id"), fpl = PQfnumber(res, "plan_id");
    char promise_id[PROMISE_ID_MAX + 1] = "", plan_id[PROMISE_ID_MAX + 1] = "";
    if (!PQgetisnull(res, 0, fpi))
        snprintf(promise_id, sizeof(promise_id), "%s", PQgetvalue(res, 0, fpi));
    if (!PQgetisnull(res, 0, fpl))
        snprintf(plan_id, sizeof(plan_id), "%s", PQgetvalue(res, 0, fpl));
    int64_t promise_applied =
        strtoll(PQgetvalue(res, 0, PQfnumber(res, "promise_applied")), NULL, 10);
    json_error_t jerr;
    json_t *pl_lines = json_loads(PQgetvalue(res, 0, PQfnumber(res, "plan_lines")), 0, &jerr);
    PQclear(res);

    casepay_undo_t u;
    stored_promise_t sp;
    stored_plan_t *spl = malloc(sizeof(*spl));
    alloc_line_t *lines = NULL;
    plan_line_t *plines = calloc(json_array_size(pl_lines) + 1, sizeof(*plines));
    json_t *alines = NULL;
    char *text = NULL;
    reason_t e;
    bool has_promise = false, has_plan = false;

    memset(&u, 0, sizeof(u));
    if (spl == NULL || plines == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
        goto out;
    }
    if ((rc = run(conn, "ps_alloc_get", 3, gp, "lines", &text, err, errlen)) != 0)
        goto out;
    alines = json_loads(text ? text : "[]", 0, &jerr);
    lines = calloc(json_array_size(alines) + 1, sizeof(*lines));
    if (lines == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
        goto out;
    }
    size_t i;
    json_t *o;
    json_array_foreach(alines, i, o)
    {
        snprintf(lines[u.nlines].invoice_id, sizeof(lines[u.nlines].invoice_id), "%s",
                 jstr(o, "invoice_id"));
        lines[u.nlines++].amount = jint(o, "amount");
    }
    json_array_foreach(pl_lines, i, o)
    {
        plines[u.n_plan_lines].slot = (uint32_t)jint(o, "slot");
        plines[u.n_plan_lines++].amount = jint(o, "amount");
    }
    if (promise_id[0]) {
        rc = load_promise(conn, cf, "ps_promise_get", promise_id, &sp, err, errlen);
        if (rc < 0)
            goto out;
        has_promise = rc == 0;
    }
    if (plan_id[0]) {
        rc = load_plan(conn, cf, "ps_plan_get", plan_id, spl, err, errlen);
        if (rc < 0)
            goto out;
        has_plan = rc == 0;
    }
    if ((rc = today_of(cf, now, &u.day, err, errlen)) != 0)
        goto out;
    u.payment_id = payment_id;
    u.lines = lines;
    u.promise_applied = promise_applied;
    u.plan_lines = plines;
    u.at = now;
    if (casepay_reverse(cf, &u, has_promise ? &sp.p : NULL, has_plan ? &spl->pl : NULL, source,
                        plan, &e) < 0) {
        rc = rejected(rej, &e);
        goto out;
    }
    if ((rc = run(conn, "ps_payment_reverse", 5, gp, NULL, NULL, err, errlen)) != 0 ||
        (rc = run(conn, "ps_alloc_reverse", 3, gp, NULL, NULL, err, errlen)) != 0)
        goto out;
    for (size_t c = 0; c < cf->n_credits; c++)
        if (strcmp(cf->credits[c].payment_id, payment_id) == 0)
            cf->credits[c].dirty = false; /* ps_payment_reverse zeroed it */
    if (has_promise && (rc = save_promise(conn, cf, &sp, NULL, NULL, NULL, NULL, err, errlen)) != 0)
        goto out;
    if (has_plan && (rc = save_plan(conn, cf, spl, NULL, NULL, NULL, err, errlen)) != 0)
        goto out;
    refresh_docs(cf, has_promise ? &sp : NULL, has_plan ? spl : NULL);
out:
    free(text);
    json_decref(alines);
    json_decref(pl_lines);
    free(lines);
    free(plines);
    free(spl);
    return rc;
}

/* ---- Promises and plans ---------------------------------------------------------------------- */

static int ce_to_err(const reason_t *e, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s", e->code, e->detail);
    return -1;
}

/* Cancels the case's pending applied promises (all but `keep`) on `today`. */
static int cancel_pending_promises(PGconn *conn, casefile_t *cf, const char *keep,
                                   promise_cancel_reason_t reason, int64_t today, int64_t now,
                                   const char *source, casefile_plan_t *plan, char *err,
                                   size_t errlen)
{
    const char *params[2] = {cf->creditor_id, cf->debtor_id};
    PGresult *res = PQexecPrepared(conn, "ps_promise_pending", 2, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return pg_fail(conn, res, "ps_promise_pending", err, errlen);
    int f = PQfnumber(res, "doc"), rc = 0;
    for (int r = 0; r < PQntuples(res) && rc == 0; r++) {
        stored_promise_t sp;
        reason_t e;
        if (promise_from_text(PQgetvalue(res, r, f), &sp) != 0 ||
            (keep != NULL && strcmp(sp.p.id, keep) == 0))
            continue;
        if (casepay_cancel_promise(cf, &sp.p, reason, today, now, source, plan, &e) < 0)
            rc = ce_to_err(&e, err, errlen);
        else
            rc = save_promise(conn, cf, &sp, NULL, NULL, NULL, NULL, err, errlen);
    }
    PQclear(res);
    return rc;
}

int paystore_record_promise(PGconn *conn, casefile_t *cf, const policy_t *policy,
                            const ce_event_t *ev, int64_t now, const char *source,
                            casefile_plan_t *plan, reason_t *rej, char *err, size_t errlen)
{
    const char *promise_id = dstr(ev, "promise_id"), *currency = dstr(ev, "currency");
    const char *approved_by = dstr(ev, "approved_by");
    int64_t amount, due_day, today;
    stored_promise_t sp;
    policy_check_t check;
    reason_t e;
    int rc;

    if (promise_id == NULL || currency == NULL || strlen(promise_id) >= CASEFILE_ID_MAX)
        return reason_set(rej, "schema_violation", "data.promise_id: missing or too long"),
               RESULT_REJECTED;
    if (dstr(ev, "amount") == NULL ||
        money_parse(dstr(ev, "amount"), currency, 0, &amount) != MONEY_OK)
        return reason_set(rej, "invalid_amount", "data.amount: not an amount"), RESULT_REJECTED;
    if (day_of_date(dstr(ev, "due_on"), &due_day) < 0)
        return reason_set(rej, "schema_violation", "data.due_on: not a date"), RESULT_REJECTED;
    if ((rc = today_of(cf, now, &today, err, errlen)) != 0)
        return rc;
    rc = load_promise(conn, cf, "ps_promise_get", promise_id, &sp, err, errlen);
    if (rc < 0)
        return rc;
    bool known = rc == 0;
    if (known && !(sp.pending_approval && approved_by != NULL))
        return 0; /* a repeat, or still waiting for its approval: no second effect */
    int verdict = casepay_decide_promise(cf, policy, currency, amount, due_day, today,
                                         approved_by != NULL, &check, &e);
    if (verdict < 0)
        return rejected(rej, &e);
    if (!known) {
        if (promise_init(&sp.p, promise_id, currency, amount, today, due_day,
                         (int32_t)policy->promise_grace_days) != PROMISE_OK)
            return reason_set(rej, "invalid_promise", "data: not a valid promise"), RESULT_REJECTED;
        sp.pending_approval = false;
    }
    if (verdict == CASEPAY_REVIEW) {
        sp.pending_approval = true;
        if (casepay_supervisor_task(cf, "promise", promise_id, &check, now, source, plan) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        return save_promise(conn, cf, &sp, policy_limit_name(check.limit), NULL,
                            dstr(ev, "agent_id"), dstr(ev, "channel"), err, errlen);
    }
    sp.pending_approval = false;
    rc = cancel_pending_promises(conn, cf, promise_id, PROMISE_CANCEL_NEW_PROMISE, today, now,
                                 source, plan, err, errlen);
    if (rc == 0)
        rc = save_promise(conn, cf, &sp, NULL, approved_by, dstr(ev, "agent_id"),
                          dstr(ev, "channel"), err, errlen);
    if (rc == 0)
        refresh_docs(cf, &sp, NULL);
    return rc;
}

int paystore_record_plan(PGconn *conn, casefile_t *cf, const policy_t *policy, const ce_event_t *ev,
                         int64_t now, const char *source, casefile_plan_t *plan, reason_t *rej,
                         char *err, size_t errlen)
{
    const char *plan_id = dstr(ev, "plan_id"), *currency = dstr(ev, "currency");
    const char *approved_by = dstr(ev, "approved_by");
    const json_t *arr = json_object_get(ev->data, "installments");
    policy_installment_t inst[PLAN_MAX_INSTALLMENTS];
    int64_t down = 0, today;
    size_t n = 0, i;
    policy_check_t check;
    reason_t e;
    json_t *o;
    int rc;

    if (plan_id == NULL || currency == NULL || strlen(plan_id) >= CASEFILE_ID_MAX)
        return reason_set(rej, "schema_violation", "data.plan_id: missing or too long"),
               RESULT_REJECTED;
    if (!json_is_array(arr) || json_array_size(arr) == 0 ||
        json_array_size(arr) > PLAN_MAX_INSTALLMENTS)
        return reason_set(rej, "invalid_plan", "data.installments: 1..%d expected",
                          PLAN_MAX_INSTALLMENTS),
               RESULT_REJECTED;
    json_array_foreach(arr, i, o)
    {
        int64_t day;
        const char *a = json_string_value(json_object_get(o, "amount"));
        if (day_of_date(json_string_value(json_object_get(o, "due_on")), &day) < 0 || a == NULL ||
            money_parse(a, currency, 0, &inst[n].amount) != MONEY_OK)
            return reason_set(rej, "invalid_plan", "data.installments[%zu]: bad date or amount", i),
                   RESULT_REJECTED;
        inst[n++].due_day = (int32_t)day;
    }
    if (dstr(ev, "down_payment") != NULL &&
        money_parse(dstr(ev, "down_payment"), currency, 0, &down) != MONEY_OK)
        return reason_set(rej, "invalid_amount", "data.down_payment: not an amount"),
               RESULT_REJECTED;
    if ((rc = today_of(cf, now, &today, err, errlen)) != 0)
        return rc;
    stored_plan_t *sp = malloc(sizeof(*sp)), *old = malloc(sizeof(*sp));
    if (sp == NULL || old == NULL) {
        free(sp);
        free(old);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rc = load_plan(conn, cf, "ps_plan_get", plan_id, sp, err, errlen);
    if (rc < 0)
        goto out;
    bool known = rc == 0;
    rc = 0;
    if (known && !(sp->pending_approval && approved_by != NULL))
        goto out; /* a repeat, or still waiting: no second effect */
    int verdict = casepay_decide_plan(cf, policy, currency, down, inst, n, today,
                                      approved_by != NULL, &check, &e);
    if (verdict < 0) {
        rc = rejected(rej, &e);
        goto out;
    }
    if (!known && plan_init_with_policy(&sp->pl, policy, plan_id, currency, today, down, inst, n) !=
                      PROMISE_OK) {
        reason_set(rej, "invalid_plan", "data: not a valid plan");
        rc = RESULT_REJECTED;
        goto out;
    }
    if (verdict == CASEPAY_REVIEW) {
        sp->pending_approval = true;
        if (casepay_supervisor_task(cf, "plan", plan_id, &check, now, source, plan) < 0) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
            goto out;
        }
        rc = save_plan(conn, cf, sp, policy_limit_name(check.limit), NULL, dstr(ev, "agent_id"),
                       err, errlen);
        goto out;
    }
    sp->pending_approval = false;
    /* A plan supersedes the pending promise and the previous active plan. */
    rc = cancel_pending_promises(conn, cf, NULL, PROMISE_CANCEL_PLAN, today, now, source, plan, err,
                                 errlen);
    if (rc == 0) {
        int lr = load_plan(conn, cf, "ps_plan_open", NULL, old, err, errlen);
        if (lr < 0)
            rc = lr;
        else if (lr == 0 && strcmp(old->pl.id, plan_id) != 0) {
            if (casepay_cancel_plan(cf, &old->pl, today, now, source, plan, &e) < 0)
                rc = ce_to_err(&e, err, errlen);
            else
                rc = save_plan(conn, cf, old, NULL, NULL, NULL, err, errlen);
        }
    }
    if (rc == 0 && casepay_feature_set_bool(cf, "plan_active", true) != 0) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    if (rc == 0)
        rc = save_plan(conn, cf, sp, NULL, approved_by, dstr(ev, "agent_id"), err, errlen);
    if (rc == 0) {
        set_doc(&cf->open_promise, NULL);
        refresh_docs(cf, NULL, sp);
    }
out:
    free(sp);
    free(old);
    return rc;
}

int paystore_evaluate(PGconn *conn, casefile_t *cf, const policy_t *policy, int64_t now,
                      const char *source, casefile_plan_t *plan, char *err, size_t errlen)
{
    stored_promise_t sp;
    int64_t today;
    reason_t e;
    int rc;

    (void)policy;
    if ((rc = today_of(cf, now, &today, err, errlen)) != 0)
        return rc;
    rc = load_promise(conn, cf, "ps_promise_open", NULL, &sp, err, errlen);
    if (rc < 0)
        return rc;
    bool has_promise = rc == 0 && sp.p.state == PROMISE_PENDING;
    stored_plan_t *spl = malloc(sizeof(*spl));
    if (spl == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rc = load_plan(conn, cf, "ps_plan_open", NULL, spl, err, errlen);
    bool has_plan = rc == 0;
    if (rc < 0)
        goto out;
    rc = 0;
    if (!has_promise && !has_plan)
        goto out;
    if (casepay_evaluate(cf, has_promise ? &sp.p : NULL, has_plan ? &spl->pl : NULL, today, now,
                         source, plan, &e) < 0) {
        rc = ce_to_err(&e, err, errlen);
        goto out;
    }
    if (has_promise)
        rc = save_promise(conn, cf, &sp, NULL, NULL, NULL, NULL, err, errlen);
    if (rc == 0 && has_plan)
        rc = save_plan(conn, cf, spl, NULL, NULL, NULL, err, errlen);
    if (rc == 0)
        refresh_docs(cf, has_promise ? &sp : NULL, has_plan ? spl : NULL);
out:
    free(spl);
    return rc;
}
