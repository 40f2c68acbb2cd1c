/* paystore.c - payments, promises and plans in PostgreSQL (see paystore.h). Rows are read as
 * JSON documents built by the server (row_to_json), so one parser serves every query. */
#include "paystore.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casepay.h"
#include "chargestore.h"
#include "grow.h"
#include "pg.h"
#include "pgpipe.h"

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

/* A case's credits, open promise and active plan, for the case u(creditor_id, debtor_id). */
#define PS_CASE_COLS                                                                               \
    "(SELECT coalesce(json_agg(json_build_object('payment_id', payment_id, "                       \
    "  'currency', currency, 'unallocated', unallocated, "                                         \
    "  'received_at', coalesce(extract(epoch FROM received_at)::bigint, 0))), '[]') "              \
    "  FROM payment WHERE creditor_id = u.creditor_id AND debtor_id = u.debtor_id "                \
    "  AND status = 'received' AND unallocated > 0)::text AS credits, "                            \
    " (SELECT row_to_json(x) FROM (SELECT " PROMISE_COLS " FROM promise "                          \
    "  WHERE creditor_id = u.creditor_id AND debtor_id = u.debtor_id AND state = 'pending' "       \
    "  AND NOT pending_approval ORDER BY created_at DESC, promise_id LIMIT 1) x)::text AS "        \
    "promise, "                                                                                    \
    " (SELECT row_to_json(x) FROM (SELECT " PLAN_COLS " FROM plan pl "                             \
    "  WHERE creditor_id = u.creditor_id AND debtor_id = u.debtor_id AND state = 'active' "        \
    "  AND NOT pending_approval ORDER BY created_at DESC, plan_id LIMIT 1) x)::text AS plan "

static const pg_statement_t statements[] = {
    {"ps_case",
     "SELECT " PS_CASE_COLS "FROM (SELECT $1::text AS creditor_id, $2::text AS debtor_id) u"},
    /* ps_case for a batch's cases, each row with its place in the arrays (ord, from 1). */
    {"ps_case_many",
     "SELECT u.ord, " PS_CASE_COLS
     "FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(creditor_id, debtor_id, ord)"},
    /* ---- The rows a batch's events name or need (paystore_queue_rows_many()): $1, $2 (and $3,
     * the id each event names) are arrays with one element per case; each row carries its case's
     * place in them (ord, from 1). Each case is a LATERAL probe of the table's primary key (OFFSET
     * 0 / LIMIT keeps the subquery from being flattened into a join that may scan the table), so
     * the plan stays index-driven whatever the tables' sizes, statistics and generic plan. ---- */
    /* The promise a payment counts toward: the latest applied one still pending or kept. */
    {"ps_promise_open_many",
     "SELECT u.ord, row_to_json(x)::text AS doc "
     "FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(creditor_id, debtor_id, ord) "
     "JOIN LATERAL (SELECT " PROMISE_COLS " FROM promise "
     " WHERE creditor_id = u.creditor_id AND debtor_id = u.debtor_id "
     " AND state IN ('pending', 'kept') AND NOT pending_approval "
     " ORDER BY created_at DESC, promise_id LIMIT 1) x ON true"},
    /* Every applied pending promise, each case's newest first (sort_at: created_at). */
    {"ps_promise_pending_many",
     "SELECT u.ord, row_to_json(x)::text AS doc "
     "FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(creditor_id, debtor_id, ord) "
     "JOIN LATERAL (SELECT created_at AS sort_at, " PROMISE_COLS " FROM promise "
     " WHERE creditor_id = u.creditor_id AND debtor_id = u.debtor_id AND state = 'pending' "
     " AND NOT pending_approval OFFSET 0) x ON true "
     "ORDER BY u.ord, x.sort_at DESC, x.promise_id"},
    {"ps_promise_get_many", "SELECT u.ord, row_to_json(x)::text AS doc "
                            "FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY "
                            " AS u(creditor_id, debtor_id, promise_id, ord) "
                            "JOIN LATERAL (SELECT " PROMISE_COLS " FROM promise "
                            " WHERE creditor_id = u.creditor_id AND debtor_id = u.debtor_id "
                            " AND promise_id = u.promise_id OFFSET 0) x ON true"},
    {"ps_plan_open_many",
     "SELECT u.ord, row_to_json(x)::text AS doc "
     "FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(creditor_id, debtor_id, ord) "
     "JOIN LATERAL (SELECT " PLAN_COLS " FROM plan pl "
     " WHERE pl.creditor_id = u.creditor_id AND pl.debtor_id = u.debtor_id "
     " AND pl.state = 'active' AND NOT pl.pending_approval "
     " ORDER BY pl.created_at DESC, pl.plan_id LIMIT 1) x ON true"},
    {"ps_plan_get_many", "SELECT u.ord, row_to_json(x)::text AS doc "
                         "FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY "
                         " AS u(creditor_id, debtor_id, plan_id, ord) "
                         "JOIN LATERAL (SELECT " PLAN_COLS " FROM plan pl "
                         " WHERE pl.creditor_id = u.creditor_id AND pl.debtor_id = u.debtor_id "
                         " AND pl.plan_id = u.plan_id OFFSET 0) x ON true"},
    /* The payment each event names, one row per case, known or not (status NULL); when it stands
     * received, its allocation lines not reversed and the promise and plan it counted toward;
     * and its charge parts (chargestore.h). */
    {"ps_payment_many",
     "SELECT u.ord, p.status, p.promise_id, p.promise_applied, p.plan_id, "
     " p.plan_lines::text AS plan_lines, "
     " CASE WHEN p.status = 'received' THEN (SELECT coalesce(json_agg(json_build_object("
     "  'invoice_id', a.invoice_id, 'amount', a.amount) ORDER BY a.line_id), '[]') "
     "  FROM payment_allocation a WHERE a.creditor_id = u.creditor_id "
     "  AND a.debtor_id = u.debtor_id AND a.payment_id = u.payment_id AND NOT a.reversed)::text "
     " END AS lines, "
     " CASE WHEN p.status = 'received' AND p.promise_id <> '' THEN (SELECT row_to_json(x)::text "
     "  FROM (SELECT " PROMISE_COLS " FROM promise WHERE creditor_id = u.creditor_id "
     "  AND debtor_id = u.debtor_id AND promise_id = p.promise_id) x) END AS promise, "
     " CASE WHEN p.status = 'received' AND p.plan_id <> '' THEN (SELECT row_to_json(x)::text "
     "  FROM (SELECT " PLAN_COLS " FROM plan pl WHERE pl.creditor_id = u.creditor_id "
     "  AND pl.debtor_id = u.debtor_id AND pl.plan_id = p.plan_id) x) END AS "
     "plan, " CHARGESTORE_PAYMENT_COLS
     "FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY "
     " AS u(creditor_id, debtor_id, payment_id, ord) "
     "LEFT JOIN LATERAL (SELECT status, promise_id, promise_applied, plan_id, plan_lines "
     " FROM payment WHERE creditor_id = u.creditor_id AND debtor_id = u.debtor_id "
     " AND payment_id = u.payment_id OFFSET 0) p ON true " CHARGESTORE_PAYMENT_JOIN},
    /* The saves are in their bulk form (pgbulk.h, casestore.c's save_order): $k is the array of
     * the k-th values of every row of the batch. */
    {"ps_promise_put",
     "INSERT INTO promise (creditor_id, debtor_id, promise_id, amount, currency, due_on, made_on, "
     "grace_days, paid_toward, state, as_of, settled_on, last_reported, cancel_reason, "
     "pending_approval, limit_broken, approved_by, agent_id, channel) "
     "SELECT u.creditor_id, u.debtor_id, u.promise_id, u.amount, u.currency, " D0
     " + u.due_day, " D0 " + u.made_day, u.grace_days, u.paid_toward, u.state, " D0
     " + u.as_of, " D0 " + u.settled_day, u.last_reported, u.cancel_reason, u.pending_approval, "
     " u.limit_broken, u.approved_by, u.agent_id, u.channel "
     "FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::integer[], "
     " $7::integer[], $8::integer[], $9::bigint[], $10::text[], $11::integer[], $12::integer[], "
     " $13::text[], $14::text[], $15::boolean[], $16::text[], $17::text[], $18::text[], "
     " $19::text[]) AS u(creditor_id, debtor_id, promise_id, amount, currency, due_day, "
     " made_day, grace_days, paid_toward, state, as_of, settled_day, last_reported, "
     " cancel_reason, pending_approval, limit_broken, approved_by, agent_id, channel) "
     "ON CONFLICT (creditor_id, debtor_id, promise_id) DO UPDATE SET "
     "paid_toward = EXCLUDED.paid_toward, state = EXCLUDED.state, as_of = EXCLUDED.as_of, "
     "settled_on = EXCLUDED.settled_on, last_reported = EXCLUDED.last_reported, "
     "cancel_reason = EXCLUDED.cancel_reason, pending_approval = EXCLUDED.pending_approval, "
     "approved_by = coalesce(EXCLUDED.approved_by, promise.approved_by), updated_at = now()"},
    {"ps_plan_put",
     "INSERT INTO plan (creditor_id, debtor_id, plan_id, currency, agreed_on, grace_days, "
     "default_missed, has_down_payment, total, paid, missed, state, as_of, settled_on, reported, "
     "pending_approval, limit_broken, approved_by, agent_id) "
     "SELECT u.creditor_id, u.debtor_id, u.plan_id, u.currency, " D0 " + u.agreed_day, "
     " u.grace_days, u.default_missed, u.has_down_payment, u.total, u.paid, u.missed, u.state, " D0
     " + u.as_of, " D0 " + u.settled_day, u.reported, u.pending_approval, u.limit_broken, "
     " u.approved_by, u.agent_id "
     "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::integer[], $6::integer[], "
     " $7::integer[], $8::boolean[], $9::bigint[], $10::bigint[], $11::integer[], $12::text[], "
     " $13::integer[], $14::integer[], $15::boolean[], $16::boolean[], $17::text[], $18::text[], "
     " $19::text[]) AS u(creditor_id, debtor_id, plan_id, currency, agreed_day, grace_days, "
     " default_missed, has_down_payment, total, paid, missed, state, as_of, settled_day, "
     " reported, pending_approval, limit_broken, approved_by, agent_id) "
     "ON CONFLICT (creditor_id, debtor_id, plan_id) DO UPDATE SET paid = EXCLUDED.paid, "
     "missed = EXCLUDED.missed, state = EXCLUDED.state, as_of = EXCLUDED.as_of, "
     "settled_on = EXCLUDED.settled_on, reported = EXCLUDED.reported, "
     "pending_approval = EXCLUDED.pending_approval, "
     "approved_by = coalesce(EXCLUDED.approved_by, plan.approved_by), updated_at = now()"},
    {"ps_inst_put",
     "INSERT INTO plan_installment (creditor_id, debtor_id, plan_id, slot, due_on, amount, paid, "
     "state, missed, last_reported) "
     "SELECT u.creditor_id, u.debtor_id, u.plan_id, u.slot, " D0 " + u.due_day, u.amount, "
     " u.paid, u.state, u.missed, u.last_reported "
     "FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::integer[], $6::bigint[], "
     " $7::bigint[], $8::text[], $9::boolean[], $10::text[]) AS u(creditor_id, debtor_id, "
     " plan_id, slot, due_day, amount, paid, state, missed, last_reported) "
     "ON CONFLICT (creditor_id, debtor_id, plan_id, slot) DO UPDATE SET "
     "paid = EXCLUDED.paid, state = EXCLUDED.state, missed = EXCLUDED.missed, "
     "last_reported = EXCLUDED.last_reported"},
    {"ps_payment_put",
     "INSERT INTO payment (creditor_id, debtor_id, payment_id, amount, currency, received_at, "
     "method, invoice_ids, status, unallocated, promise_id, promise_applied, plan_id, plan_lines) "
     "SELECT u.creditor_id, u.debtor_id, u.payment_id, u.amount, u.currency, "
     " to_timestamp(u.received_at), u.method, u.invoice_ids, 'received', u.unallocated, "
     " u.promise_id, u.promise_applied, u.plan_id, u.plan_lines "
     "FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::bigint[], "
     " $7::text[], $8::jsonb[], $9::bigint[], $10::text[], $11::bigint[], $12::text[], "
     " $13::jsonb[]) AS u(creditor_id, debtor_id, payment_id, amount, currency, received_at, "
     " method, invoice_ids, unallocated, promise_id, promise_applied, plan_id, plan_lines)"},
    {"ps_payment_stub",
     "INSERT INTO payment (creditor_id, debtor_id, payment_id, status, reversed_at, reason) "
     "SELECT u.creditor_id, u.debtor_id, u.payment_id, 'reversed', to_timestamp(u.at), u.reason "
     "FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[]) "
     " AS u(creditor_id, debtor_id, payment_id, at, reason)"},
    {"ps_payment_reverse",
     "UPDATE payment p SET status = 'reversed', unallocated = 0, "
     "reversed_at = to_timestamp(u.at), reason = u.reason, updated_at = now() "
     "FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[]) "
     " AS u(creditor_id, debtor_id, payment_id, at, reason) "
     "WHERE p.creditor_id = u.creditor_id AND p.debtor_id = u.debtor_id "
     "AND p.payment_id = u.payment_id"},
    {"ps_alloc_reverse",
     "UPDATE payment_allocation a SET reversed = true "
     "FROM unnest($1::text[], $2::text[], $3::text[]) AS u(creditor_id, debtor_id, payment_id) "
     "WHERE a.creditor_id = u.creditor_id AND a.debtor_id = u.debtor_id "
     "AND a.payment_id = u.payment_id"},
    {"ps_alloc_put",
     "INSERT INTO payment_allocation (creditor_id, debtor_id, payment_id, invoice_id, amount, "
     "from_credit) "
     "SELECT u.creditor_id, u.debtor_id, u.payment_id, u.invoice_id, u.amount, u.from_credit "
     "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::boolean[]) "
     " WITH ORDINALITY AS u(creditor_id, debtor_id, payment_id, invoice_id, amount, from_credit, "
     " ord) ORDER BY u.ord"}, /* line_id in the order given */
    {"ps_credit_put", "UPDATE payment p SET unallocated = u.unallocated, updated_at = now() "
                      "FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) "
                      " AS u(creditor_id, debtor_id, payment_id, unallocated) "
                      "WHERE p.creditor_id = u.creditor_id AND p.debtor_id = u.debtor_id "
                      "AND p.payment_id = u.payment_id"},
    /* promise.made's techniques, kept from the event that made the promise: $4 holds each row's
     * text[] as its array literal. */
    {"ps_promise_techniques", "UPDATE promise p SET techniques = u.techniques::text[] "
                              "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) "
                              " AS u(creditor_id, debtor_id, promise_id, techniques) "
                              "WHERE p.creditor_id = u.creditor_id AND p.debtor_id = u.debtor_id "
                              "AND p.promise_id = u.promise_id AND p.techniques IS NULL"},
};

int paystore_prepare(PGconn *conn, char *err, size_t errlen)
{
    return pg_prepare_all(conn, statements, sizeof(statements) / sizeof(statements[0]), err,
                          errlen);
}

/* Sends prepared command `name` inside the batch's pipeline (pgpipe.h): every read of the
 * payments side is a batch statement now (paystore_queue_rows_many()), only writes go through here.
 */
static int run(PGconn *conn, const char *name, int n, const char *const *params, char *err,
               size_t errlen)
{
    return pgpipe_cmd(conn, name, n, params, err, errlen);
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

static int promise_from_text(const char *text, casefile_promise_row_t *sp)
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

static int plan_from_text(const char *text, casefile_plan_row_t *sp)
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

/* Column `name` of row `row` of a query into a new promise row (*out, free() it), or NULL when
 * the column is SQL NULL or missing; the previous *out is freed. Returns 0 or -1. */
static int promise_from_col(const PGresult *res, int row, const char *name,
                            casefile_promise_row_t **out, char *err, size_t errlen)
{
    int f = PQfnumber(res, name);

    free(*out);
    *out = NULL;
    if (f < 0 || PQgetisnull(res, row, f))
        return 0;
    if ((*out = malloc(sizeof(**out))) == NULL ||
        promise_from_text(PQgetvalue(res, row, f), *out) != 0) {
        free(*out);
        *out = NULL;
        snprintf(err, errlen, "a promise row did not parse, or out of memory");
        return -1;
    }
    return 0;
}

/* promise_from_col() for a plan row. */
static int plan_from_col(const PGresult *res, int row, const char *name, casefile_plan_row_t **out,
                         char *err, size_t errlen)
{
    int f = PQfnumber(res, name);

    free(*out);
    *out = NULL;
    if (f < 0 || PQgetisnull(res, row, f))
        return 0;
    if ((*out = malloc(sizeof(**out))) == NULL ||
        plan_from_text(PQgetvalue(res, row, f), *out) != 0) {
        free(*out);
        *out = NULL;
        snprintf(err, errlen, "a plan row did not parse, or out of memory");
        return -1;
    }
    return 0;
}

/* Stores the techniques of the promise.made that made the promise (once). */
static int save_techniques(PGconn *conn, const casefile_t *cf, const casefile_promise_row_t *sp,
                           char *err, size_t errlen)
{
    pgarr_t arr;
    size_t i;
    json_t *t;

    pgarr_init(&arr);
    json_array_foreach(sp->techniques, i, t)
    {
        if (json_is_string(t))
            pgarr_add_cstr(&arr, json_string_value(t));
    }
    const char *lit = pgarr_str(&arr);
    const char *params[4] = {cf->creditor_id, cf->debtor_id, sp->p.id, lit};
    int rc = lit != NULL ? run(conn, "ps_promise_techniques", 4, params, err, errlen)
                         : (snprintf(err, errlen, "out of memory"), -1);
    pgarr_free(&arr);
    return rc;
}

/* Upserts a promise row; the insert-only columns come from the row (casefile.h). */
static int save_promise(PGconn *conn, const casefile_t *cf, const casefile_promise_row_t *sp,
                        char *err, size_t errlen)
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
                              sp->limit,
                              sp->approved_by,
                              sp->agent_id,
                              sp->channel};
    int rc = run(conn, "ps_promise_put", 19, params, err, errlen);
    if (rc == 0 && json_array_size(sp->techniques) > 0)
        rc = save_techniques(conn, cf, sp, err, errlen);
    return rc;
}

/* Upserts a plan row and its instalments. */
static int save_plan(PGconn *conn, const casefile_t *cf, const casefile_plan_row_t *sp, char *err,
                     size_t errlen)
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
                              sp->limit,
                              sp->approved_by,
                              sp->agent_id};
    int rc = run(conn, "ps_plan_put", 19, params, err, errlen);
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
        rc = run(conn, "ps_inst_put", 10, ip, err, errlen);
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

/* The active plan from row `row` of ps_case(_many) into cf->active_plan, and into
 * cf->rows.open_plan too when `open_plan` (as ps_plan_open_many would: its row is the same).
 * Returns 0, or -1 when the row asked for as open_plan does not parse. */
static int case_plan(const PGresult *res, int row, casefile_t *cf, bool open_plan)
{
    int fl = PQfnumber(res, "plan");

    if (fl < 0 || PQgetisnull(res, row, fl))
        return 0;
    casefile_plan_row_t *sp = malloc(sizeof(*sp));
    if (sp != NULL && plan_from_text(PQgetvalue(res, row, fl), sp) == 0) {
        set_doc(&cf->active_plan, casepay_plan_json(&sp->pl));
        if (open_plan) {
            free(cf->rows.open_plan);
            cf->rows.open_plan = sp;
            return 0;
        }
    } else if (open_plan) {
        free(sp);
        return -1;
    }
    free(sp);
    return 0;
}

/* The case's credits, open promise and active plan from row `row` of ps_case(_many). */
static int case_row(const PGresult *res, int row, casefile_t *cf, bool open_plan)
{
    json_error_t jerr;
    size_t i;
    json_t *o;

    int fc = PQfnumber(res, "credits"), fp = PQfnumber(res, "promise");
    json_t *credits = json_loads(PQgetvalue(res, row, fc), 0, &jerr);
    json_array_foreach(credits, i, o)
    {
        casefile_credit_t cr;
        memset(&cr, 0, sizeof(cr));
        snprintf(cr.payment_id, sizeof(cr.payment_id), "%s", jstr(o, "payment_id"));
        snprintf(cr.currency, sizeof(cr.currency), "%s", jstr(o, "currency"));
        cr.unallocated = jint(o, "unallocated");
        cr.received_at = jint(o, "received_at");
        if (GROW(cf->credits, cf->cap_credits, cf->n_credits, 4) != 0)
            break;
        cf->credits[cf->n_credits++] = cr;
    }
    json_decref(credits);
    if (fp >= 0 && !PQgetisnull(res, row, fp)) {
        casefile_promise_row_t sp;
        if (promise_from_text(PQgetvalue(res, row, fp), &sp) == 0)
            set_doc(&cf->open_promise, casepay_promise_json(&sp.p));
    }
    return case_plan(res, row, cf, open_plan);
}

/* ps_case's row (target: the case file). */
static int on_case(pgpipe_t *pp, void *target, const PGresult *res, char *err, size_t errlen)
{
    (void)pp;
    if (PQntuples(res) != 1) {
        snprintf(err, errlen, "ps_case: no row");
        return -1;
    }
    (void)case_row(res, 0, target, false);
    return 0;
}

/* ps_case_many's rows into their case files (target: the paystore_cases_t). */
static int on_cases(pgpipe_t *pp, void *target, const PGresult *res, char *err, size_t errlen)
{
    const paystore_cases_t *cs = target;
    int f = PQfnumber(res, "ord");

    (void)pp;
    if ((size_t)PQntuples(res) != cs->n || f < 0) {
        snprintf(err, errlen, "ps_case_many: %d rows for %zu cases", PQntuples(res), cs->n);
        return -1;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        long long ord = strtoll(PQgetvalue(res, r, f), NULL, 10);
        if (ord < 1 || (size_t)ord > cs->n) {
            snprintf(err, errlen, "ps_case_many: row %d has no case", r);
            return -1;
        }
        bool open_plan = cs->need != NULL && (cs->need[ord - 1] & CASEFILE_ROW_OPEN_PLAN);
        if (case_row(res, r, cs->cfs[ord - 1], open_plan) != 0) {
            snprintf(err, errlen, "a plan row did not parse, or out of memory");
            return -1;
        }
    }
    return 0;
}

int paystore_queue_case(pgpipe_t *pp, casefile_t *cf, char *err, size_t errlen)
{
    const char *params[2] = {cf->creditor_id, cf->debtor_id};
    return pgpipe_query(pp, "ps_case", 2, params, on_case, cf, err, errlen);
}

int paystore_queue_cases(pgpipe_t *pp, const paystore_cases_t *cases, const char *const *arrays,
                         char *err, size_t errlen)
{
    return pgpipe_query(pp, "ps_case_many", 2, arrays, on_cases, (void *)cases, err, errlen);
}

int paystore_load_case(PGconn *conn, casefile_t *cf, char *err, size_t errlen)
{
    pgpipe_t *pp = pgpipe_new(conn);
    int rc = pp != NULL ? paystore_queue_case(pp, cf, err, errlen) : -1;

    if (pp == NULL)
        snprintf(err, errlen, "out of memory");
    if (rc == 0)
        rc = pgpipe_run(pp, err, errlen);
    pgpipe_free(pp);
    return rc;
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
        rc = run(conn, "ps_credit_put", 4, p, err, errlen);
        cr->dirty = rc != 0;
    }
    for (size_t i = 0; i < cf->n_credit_lines && rc == 0; i++) {
        const casefile_credit_line_t *l = &cf->credit_lines[i];
        char amount[24];
        snprintf(amount, sizeof(amount), "%" PRId64, l->amount);
        const char *p[6] = {cf->creditor_id, cf->debtor_id, l->payment_id,
                            l->invoice_id,   amount,        "true"};
        rc = run(conn, "ps_alloc_put", 6, p, err, errlen);
    }
    if (rc == 0)
        cf->n_credit_lines = 0;
    return rc;
}

/* ---- The rows the events' decisions need (casefile.h, "rows"), a batch at a time ----------- */

/* The allocation lines not reversed (`lines`, JSON text; NULL reads as none) into row->lines. */
static int alloc_lines_from_text(casefile_payment_row_t *row, const char *lines, char *err,
                                 size_t errlen)
{
    json_error_t jerr;
    size_t i;
    json_t *o;
    json_t *alines = json_loads(lines ? lines : "[]", 0, &jerr);

    row->lines = calloc(json_array_size(alines) + 1, sizeof(*row->lines));
    if (row->lines == NULL) {
        json_decref(alines);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    json_array_foreach(alines, i, o)
    {
        snprintf(row->lines[row->nlines].invoice_id, sizeof(row->lines[0].invoice_id), "%s",
                 jstr(o, "invoice_id"));
        row->lines[row->nlines++].amount = jint(o, "amount");
    }
    json_decref(alines);
    return 0;
}

/* The instalments a payment filled (`plan_lines`, the row's JSON text; NULL reads as none). */
static int plan_lines_from_text(casefile_payment_row_t *row, const char *plan_lines, char *err,
                                size_t errlen)
{
    json_error_t jerr;
    size_t i;
    json_t *o;
    json_t *plines = json_loads(plan_lines ? plan_lines : "[]", 0, &jerr);

    row->plan_lines = calloc(json_array_size(plines) + 1, sizeof(*row->plan_lines));
    if (row->plan_lines == NULL) {
        json_decref(plines);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    json_array_foreach(plines, i, o)
    {
        row->plan_lines[row->n_plan_lines].slot = (uint32_t)jint(o, "slot");
        row->plan_lines[row->n_plan_lines++].amount = jint(o, "amount");
    }
    json_decref(plines);
    return 0;
}

/* Column `name` of row `row`, or NULL when SQL NULL or missing (borrowed from res). */
static const char *col_at(const PGresult *res, int row, const char *name)
{
    int f = PQfnumber(res, name);
    return f >= 0 && !PQgetisnull(res, row, f) ? PQgetvalue(res, row, f) : NULL;
}

/* A new cf->rows.payment for the payment `payment_id`, not known until its row is read. */
static int new_payment_row(casefile_t *cf, const char *payment_id, char *err, size_t errlen)
{
    casefile_payment_row_t *row = calloc(1, sizeof(*row));

    if (row == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(row->payment_id, sizeof(row->payment_id), "%s", payment_id);
    cf->rows.payment = row; /* cf is new: nothing was there */
    return 0;
}

/* Row `row` of ps_payment_many into cf->rows.payment (allocated when queued): known or not;
 * when it stands received, its lines, what it did and the promise and plan it counted toward
 * (rows.promise, rows.plan); and its charge parts (chargestore.h). */
static int fill_payment(casefile_t *cf, const PGresult *res, int r, char *err, size_t errlen)
{
    casefile_payment_row_t *row = cf->rows.payment;
    const char *status = col_at(res, r, "status");
    int rc = chargestore_payment_from_row(res, r, cf, row->payment_id, err, errlen);

    row->known = status != NULL;
    if (rc != 0 || !row->known || strcmp(status, "received") != 0)
        return rc;
    row->received = true;
    snprintf(row->promise_id, sizeof(row->promise_id), "%s",
             col_at(res, r, "promise_id") ? col_at(res, r, "promise_id") : "");
    snprintf(row->plan_id, sizeof(row->plan_id), "%s",
             col_at(res, r, "plan_id") ? col_at(res, r, "plan_id") : "");
    const char *applied = col_at(res, r, "promise_applied");
    row->promise_applied = applied ? strtoll(applied, NULL, 10) : 0;
    if ((rc = plan_lines_from_text(row, col_at(res, r, "plan_lines"), err, errlen)) != 0 ||
        (rc = alloc_lines_from_text(row, col_at(res, r, "lines"), err, errlen)) != 0)
        return rc;
    if (row->promise_id[0] &&
        (rc = promise_from_col(res, r, "promise", &cf->rows.promise, err, errlen)) != 0)
        return rc;
    if (row->plan_id[0])
        rc = plan_from_col(res, r, "plan", &cf->rows.plan, err, errlen);
    return rc;
}

static int fill_promise(casefile_t *cf, const PGresult *res, int r, char *err, size_t errlen)
{
    return promise_from_col(res, r, "doc", &cf->rows.promise, err, errlen);
}

static int fill_plan(casefile_t *cf, const PGresult *res, int r, char *err, size_t errlen)
{
    return plan_from_col(res, r, "doc", &cf->rows.plan, err, errlen);
}

static int fill_open_promise(casefile_t *cf, const PGresult *res, int r, char *err, size_t errlen)
{
    return promise_from_col(res, r, "doc", &cf->rows.open_promise, err, errlen);
}

static int fill_open_plan(casefile_t *cf, const PGresult *res, int r, char *err, size_t errlen)
{
    return plan_from_col(res, r, "doc", &cf->rows.open_plan, err, errlen);
}

/* One more pending promise at the end of cf->rows.pending (sized when queued: see
 * on_pending_many()); a row that does not parse is skipped, as one at a time. */
static int fill_pending(casefile_t *cf, const PGresult *res, int r, char *err, size_t errlen)
{
    const char *doc = col_at(res, r, "doc");

    (void)err;
    (void)errlen;
    if (doc != NULL && promise_from_text(doc, &cf->rows.pending[cf->rows.n_pending]) == 0)
        cf->rows.n_pending++;
    return 0;
}

/* What one batch statement reads: the CASEFILE_ROW_* flag that asks for it, whether it is keyed
 * by the id the event names too ($3), and where each of its rows goes. */
typedef int (*row_fill_fn)(casefile_t *cf, const PGresult *res, int r, char *err, size_t errlen);

typedef struct row_kind {
    unsigned flag;
    bool named;
    const char *stmt;
    row_fill_fn fill;
} row_kind_t;

/* In the order they are queued, and so filled: a received payment's promise and plan come last
 * (as they did when a second round trip read them), over a promise or plan read by name. */
static const row_kind_t row_kinds[] = {
    {CASEFILE_ROW_PROMISE, true, "ps_promise_get_many", fill_promise},
    {CASEFILE_ROW_PLAN, true, "ps_plan_get_many", fill_plan},
    {CASEFILE_ROW_OPEN_PROMISE, false, "ps_promise_open_many", fill_open_promise},
    {CASEFILE_ROW_OPEN_PLAN, false, "ps_plan_open_many", fill_open_plan},
    {CASEFILE_ROW_PENDING, false, "ps_promise_pending_many", fill_pending},
    {CASEFILE_ROW_PAYMENT, true, "ps_payment_many", fill_payment},
};
#define N_ROW_KINDS (sizeof(row_kinds) / sizeof(row_kinds[0]))

/* The cases one statement of the batch reads for, in the order of its arrays. */
typedef struct row_set {
    const row_kind_t *kind;
    casefile_t **cfs;
    size_t n;
} row_set_t;

struct paystore_rows {
    row_set_t sets[N_ROW_KINDS];
};

void paystore_rows_free(paystore_rows_t *rows)
{
    if (rows == NULL)
        return;
    for (size_t k = 0; k < N_ROW_KINDS; k++)
        free(rows->sets[k].cfs);
    free(rows);
}

/* The place in the set's arrays of the case row `r` of a batch statement's result is for (its
 * column ord, from 1, minus one), or -1 with err filled. */
static long row_place(const row_set_t *set, const PGresult *res, int r, char *err, size_t errlen)
{
    const char *v = col_at(res, r, "ord");
    long long ord = v != NULL ? strtoll(v, NULL, 10) : 0;

    if (ord < 1 || (size_t)ord > set->n) {
        snprintf(err, errlen, "%s: row %d has no case", set->kind->stmt, r);
        return -1;
    }
    return (long)(ord - 1);
}

/* A batch statement's rows into their cases (target: its row_set_t). */
static int on_rows_many(pgpipe_t *pp, void *target, const PGresult *res, char *err, size_t errlen)
{
    const row_set_t *set = target;
    int rc = 0;

    (void)pp;
    for (int r = 0; r < PQntuples(res) && rc == 0; r++) {
        long i = row_place(set, res, r, err, errlen);
        rc = i >= 0 ? set->kind->fill(set->cfs[i], res, r, err, errlen) : -1;
    }
    return rc;
}

/* ps_promise_pending_many's rows (each case's newest first): each case's array sized to its rows
 * first (a case with none gets an empty one, as one at a time), then filled in order. */
static int on_pending_many(pgpipe_t *pp, void *target, const PGresult *res, char *err,
                           size_t errlen)
{
    const row_set_t *set = target;
    size_t *count = calloc(set->n + 1, sizeof(*count));

    if (count == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        long i = row_place(set, res, r, err, errlen);
        if (i < 0) {
            free(count);
            return -1;
        }
        count[i]++;
    }
    for (size_t i = 0; i < set->n; i++) {
        casefile_rows_t *rows = &set->cfs[i]->rows;
        free(rows->pending);
        rows->n_pending = 0;
        if ((rows->pending = calloc(count[i] + 1, sizeof(*rows->pending))) == NULL) {
            free(count);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    free(count);
    return on_rows_many(pp, target, res, err, errlen);
}

/* Queues the statement of one kind of row for the requests that ask for it (none: nothing is
 * sent), its cases into *set. */
static int queue_kind(pgpipe_t *pp, const row_kind_t *kind, const paystore_rowreq_t *reqs, size_t n,
                      row_set_t *set, char *err, size_t errlen)
{
    pgarr_t arr[3];
    int rc = 0;

    set->kind = kind;
    if ((set->cfs = calloc(n ? n : 1, sizeof(*set->cfs))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int k = 0; k < 3; k++)
        pgarr_init(&arr[k]);
    for (size_t i = 0; i < n; i++) {
        if (!(reqs[i].need & kind->flag) || (kind->named && reqs[i].name == NULL))
            continue;
        set->cfs[set->n++] = reqs[i].cf;
        pgarr_add_cstr(&arr[0], reqs[i].cf->creditor_id);
        pgarr_add_cstr(&arr[1], reqs[i].cf->debtor_id);
        pgarr_add_cstr(&arr[2], reqs[i].name);
        if (kind->flag == CASEFILE_ROW_PAYMENT &&
            (rc = new_payment_row(reqs[i].cf, reqs[i].name, err, errlen)) != 0)
            break;
    }
    const char *params[3] = {pgarr_str(&arr[0]), pgarr_str(&arr[1]), pgarr_str(&arr[2])};
    if (rc == 0 && (params[0] == NULL || params[1] == NULL || params[2] == NULL)) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    if (rc == 0 && set->n > 0)
        rc = pgpipe_query(pp, kind->stmt, kind->named ? 3 : 2, params,
                          kind->flag == CASEFILE_ROW_PENDING ? on_pending_many : on_rows_many, set,
                          err, errlen);
    for (int k = 0; k < 3; k++)
        pgarr_free(&arr[k]);
    return rc;
}

int paystore_queue_rows_many(pgpipe_t *pp, const paystore_rowreq_t *reqs, size_t n,
                             paystore_rows_t **out, char *err, size_t errlen)
{
    paystore_rows_t *rows = calloc(1, sizeof(*rows));
    int rc = rows != NULL ? 0 : -1;

    if (rows == NULL)
        snprintf(err, errlen, "out of memory");
    for (size_t k = 0; k < N_ROW_KINDS && rc == 0; k++)
        rc = queue_kind(pp, &row_kinds[k], reqs, n, &rows->sets[k], err, errlen);
    *out = rows;
    return rc;
}

/* A received payment: its row, with what it did, and its receipt lines. */
static int insert_payment(PGconn *conn, const casefile_t *cf, const casefile_payment_row_t *row,
                          char *err, size_t errlen)
{
    json_t *pl_lines = json_array();
    for (size_t i = 0; i < row->n_plan_lines; i++)
        json_array_append_new(pl_lines,
                              json_pack("{s:i, s:I}", "slot", (int)row->plan_lines[i].slot,
                                        "amount", (json_int_t)row->plan_lines[i].amount));
    char *pl_text = json_dumps(pl_lines, JSON_COMPACT);
    char *names_text =
        json_is_array(row->invoice_ids) ? json_dumps(row->invoice_ids, JSON_COMPACT) : NULL;
    json_decref(pl_lines);
    char amount[24], at[24], unalloc[24], applied[24];
    snprintf(amount, sizeof(amount), "%" PRId64, row->amount);
    snprintf(at, sizeof(at), "%" PRId64, row->received_at);
    snprintf(unalloc, sizeof(unalloc), "%" PRId64, row->unallocated);
    snprintf(applied, sizeof(applied), "%" PRId64, row->promise_applied);
    const char *pp[13] = {cf->creditor_id,
                          cf->debtor_id,
                          row->payment_id,
                          amount,
                          row->currency,
                          at,
                          row->method,
                          names_text ? names_text : "[]",
                          unalloc,
                          row->promise_id[0] ? row->promise_id : NULL,
                          applied,
                          row->plan_id[0] ? row->plan_id : NULL,
                          pl_text ? pl_text : "[]"};
    int rc = run(conn, "ps_payment_put", 13, pp, err, errlen);
    free(pl_text);
    free(names_text);
    for (size_t i = 0; i < row->nlines && rc == 0; i++) {
        char a[24];
        snprintf(a, sizeof(a), "%" PRId64, row->lines[i].amount);
        const char *ap[6] = {
            cf->creditor_id, cf->debtor_id, row->payment_id, row->lines[i].invoice_id, a, "false"};
        rc = run(conn, "ps_alloc_put", 6, ap, err, errlen);
    }
    return rc;
}

static int save_payment(PGconn *conn, const casefile_t *cf, const casefile_payment_row_t *row,
                        char *err, size_t errlen)
{
    char at[24];
    snprintf(at, sizeof(at), "%" PRId64, row->at);
    const char *gp[5] = {cf->creditor_id, cf->debtor_id, row->payment_id, at, row->reason};
    int rc;

    switch (row->write) {
    case CASEFILE_PAYMENT_INSERT:
        return insert_payment(conn, cf, row, err, errlen);
    case CASEFILE_PAYMENT_STUB:
        return run(conn, "ps_payment_stub", 5, gp, err, errlen);
    case CASEFILE_PAYMENT_REVERSE:
        rc = run(conn, "ps_payment_reverse", 5, gp, err, errlen);
        return rc != 0 ? rc : run(conn, "ps_alloc_reverse", 3, gp, err, errlen);
    default:
        return 0;
    }
}

static int save_promise_if(PGconn *conn, const casefile_t *cf, casefile_promise_row_t *sp,
                           char *err, size_t errlen)
{
    int rc = sp != NULL && sp->dirty ? save_promise(conn, cf, sp, err, errlen) : 0;
    if (rc == 0 && sp != NULL)
        sp->dirty = false;
    return rc;
}

static int save_plan_if(PGconn *conn, const casefile_t *cf, casefile_plan_row_t *sp, char *err,
                        size_t errlen)
{
    int rc = sp != NULL && sp->dirty ? save_plan(conn, cf, sp, err, errlen) : 0;
    if (rc == 0 && sp != NULL)
        sp->dirty = false;
    return rc;
}

int paystore_save_rows(PGconn *conn, casefile_t *cf, char *err, size_t errlen)
{
    casefile_rows_t *r = &cf->rows;
    int rc = r->payment != NULL ? save_payment(conn, cf, r->payment, err, errlen) : 0;

    if (rc == 0 && r->payment != NULL)
        r->payment->write = CASEFILE_PAYMENT_KEEP;
    for (size_t i = 0; i < r->n_pending && rc == 0; i++)
        rc = save_promise_if(conn, cf, &r->pending[i], err, errlen);
    if (rc == 0)
        rc = save_promise_if(conn, cf, r->promise, err, errlen);
    if (rc == 0)
        rc = save_promise_if(conn, cf, r->open_promise, err, errlen);
    if (rc == 0)
        rc = save_plan_if(conn, cf, r->open_plan, err, errlen);
    if (rc == 0)
        rc = save_plan_if(conn, cf, r->plan, err, errlen);
    return rc;
}
