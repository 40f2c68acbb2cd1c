/* casestore.c - loading and saving case files in PostgreSQL (see casestore.h). */
#include "casestore.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caseinteract.h"
#include "caseload.h"
#include "chargestore.h"
#include "interactstore.h"
#include "jsonout.h"
#include "nextdue.h"
#include "paystore.h"
#include "pg.h"
#include "pgbulk.h"
#include "pgpipe.h"

/* ---- The statements -------------------------------------------------------------------------- */

static const pg_statement_t statements[] = {
    {"cs_touch", "INSERT INTO debt_case (creditor_id, debtor_id) VALUES ($1, $2) "
                 "ON CONFLICT DO NOTHING"},
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
     "features = coalesce(u.features, c.features), followup = coalesce(u.followup, c.followup), "
     /* When the scheduler looks again (nextdue.h, computed in C: NULL = never). A save that
      * moves neither the planning time, the status, the segment nor the debtor's zone keeps
      * the stored value (a case the scheduler set aside keeps its retry time), as migration
      * 0005's trigger did (it did not see a zone move: the value then depended on which save of
      * a batch moved the segment, and a batch saves once, so carried and reloaded cases
      * differed). */
     "next_due_at = CASE WHEN NOT u.rezone "
     " AND c.updated_at IS NOT DISTINCT FROM to_timestamp(u.updated_at) "
     " AND c.status IS NOT DISTINCT FROM u.status AND c.segment IS NOT DISTINCT FROM u.segment "
     " THEN c.next_due_at ELSE to_timestamp(u.next_due_at) END "
     "FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::integer[], $6::text[], "
     " $7::text[], $8::text[], $9::text[], $10::integer[], $11::boolean[], $12::bigint[], "
     " $13::integer[], $14::integer[], $15::text[], $16::text[], $17::text[], $18::text[], "
     " $19::bigint[], $20::bigint[], $21::bigint[], $22::jsonb[], $23::jsonb[], $24::bigint[], "
     " $25::boolean[]) "
     " AS u(creditor_id, debtor_id, currency, balance, days_past_due, segment, rule, strategy, "
     " variant, policy_version, high_value, segment_since, segment_seq, last_step, stage, status, "
     " next_action, next_channel, next_not_before, version, updated_at, features, followup, "
     " next_due_at, rezone) "
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
     /* json, not jsonb (0015_overdue_writes.sql): the payload is stored as published, only
      * validated, never parsed into jsonb's binary form. */
     " $13::text[], $14::text[], $15::json[]) "
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
    if (prc == 0)
        prc = caseload_prepare(conn, err, errlen); /* the loads (caseload.h) */
    if (prc != 0)
        return prc;
    return pg_prepare_all(conn, statements, sizeof(statements) / sizeof(statements[0]), err,
                          errlen);
}

/* ---- Loading --------------------------------------------------------------------------------- */

/* The keys of cfs[0..n) as two PostgreSQL text arrays (caseload_queue()'s keys), into cr and de.
 * Returns 0, or -1 when out of memory. */
static int case_keys(casefile_t *const *cfs, size_t n, pgarr_t *cr, pgarr_t *de,
                     const char *keys[2])
{
    pgarr_init(cr);
    pgarr_init(de);
    for (size_t i = 0; i < n; i++) {
        pgarr_add_cstr(cr, cfs[i]->creditor_id);
        pgarr_add_cstr(de, cfs[i]->debtor_id);
    }
    keys[0] = pgarr_str(cr);
    keys[1] = pgarr_str(de);
    return keys[0] != NULL && keys[1] != NULL ? 0 : -1;
}

int casestore_load(PGconn *conn, const char *creditor_id, const char *debtor_id, bool lock,
                   casefile_t *cf, char *err, size_t errlen)
{
    const char *params[2] = {creditor_id, debtor_id}, *keys[2];
    caseload_t ls = {&cf, 1, lock, 0};
    pgarr_t cr, de;
    int rc;

    if (casefile_init(cf, creditor_id, debtor_id) < 0) {
        snprintf(err, errlen, "case ids too long, or out of memory");
        return -1;
    }
    if (lock && (rc = pgpipe_cmd(conn, "cs_touch", 2, params, err, errlen)) != 0)
        return rc;
    pgpipe_t *pp = pgpipe_new(conn);
    rc = case_keys(&cf, 1, &cr, &de, keys) == 0 && pp != NULL ? 0 : -1;
    if (rc != 0)
        snprintf(err, errlen, "out of memory");
    if (rc == 0)
        rc = caseload_queue(pp, &ls, keys, err, errlen);
    if (rc == 0)
        rc = pgpipe_run(pp, err, errlen);
    pgpipe_free(pp);
    pgarr_free(&cr);
    pgarr_free(&de);
    if (rc == 0 && ls.found == 0) {
        snprintf(err, errlen, "no case %s/%s", creditor_id, debtor_id);
        return CASESTORE_NOT_FOUND;
    }
    /* payments: the case's credits, open promise and active plan (paystore.h). */
    return rc == 0 ? paystore_load_case(conn, cf, err, errlen) : rc;
}

/* The requests of one load_many(): the targets of its batch queries. */
typedef struct load_set {
    casestore_req_t *reqs;
    size_t n;
    paystore_cases_t pay; /* reqs[i].cf in pay.cfs[i], for paystore_queue_cases() */
    caseload_t cases;     /* the same case files, for caseload_queue() */
} load_set_t;

/* What one load_many() reads besides the cases: paystore's and interactstore's targets, freed
 * after the run. */
typedef struct row_targets {
    paystore_rows_t *pay;
    interactstore_disputes_t *disputes;
} row_targets_t;

/* Queues the rows the requests' events need (their cases themselves come with the batch's):
 * one statement per kind of payments row for the whole batch (paystore.h), one for the open
 * disputes (interactstore.h). */
static int queue_rows(pgpipe_t *pp, casestore_req_t *reqs, size_t n, row_targets_t *t, char *err,
                      size_t errlen)
{
    paystore_rowreq_t *pr = calloc(n ? n : 1, sizeof(*pr));
    casefile_t **dc = calloc(n ? n : 1, sizeof(*dc));
    size_t nd = 0;
    int rc = pr != NULL && dc != NULL ? 0 : -1;

    if (rc != 0)
        snprintf(err, errlen, "out of memory");
    for (size_t i = 0; i < n && rc == 0; i++) {
        /* The active plan comes with the case's own row (paystore_cases_t's need). */
        pr[i] = (paystore_rowreq_t){reqs[i].cf, reqs[i].need & ~(unsigned)CASEFILE_ROW_OPEN_PLAN,
                                    reqs[i].name};
        if (reqs[i].need & CASEFILE_ROW_DISPUTES)
            dc[nd++] = reqs[i].cf;
    }
    if (rc == 0)
        rc = paystore_queue_rows_many(pp, pr, n, &t->pay, err, errlen);
    if (rc == 0)
        rc = interactstore_queue_disputes_many(pp, dc, nd, &t->disputes, err, errlen);
    free(pr);
    free(dc);
    return rc;
}

/* Sends one statement creating every missing case row of the batch, then the loads locking them
 * all in the requests' order (caseload.h), and one for their payments side. */
static int queue_cases(pgpipe_t *pp, PGconn *conn, load_set_t *ls, char *err, size_t errlen)
{
    const char *params[2];
    pgarr_t cr, de;
    int rc = pgpipe_begin(pp, err, errlen);

    if (case_keys(ls->pay.cfs, ls->n, &cr, &de, params) < 0 && rc == 0) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    if (rc == 0)
        rc = pgpipe_cmd(conn, "cs_touch_many", 2, params, err, errlen);
    if (rc == 0)
        rc = caseload_queue(pp, &ls->cases, params, err, errlen);
    if (rc == 0)
        rc = paystore_queue_cases(pp, &ls->pay, params, err, errlen);
    pgarr_free(&cr);
    pgarr_free(&de);
    return rc;
}

int casestore_load_many(PGconn *conn, casestore_req_t *reqs, size_t n, char *err, size_t errlen)
{
    pgpipe_t *pp = pgpipe_new(conn);
    casefile_t **cfs = calloc(n ? n : 1, sizeof(casefile_t *));
    unsigned *need = calloc(n ? n : 1, sizeof(*need));
    load_set_t ls = {reqs, n, {cfs, n, need}, {cfs, n, true, 0}};
    row_targets_t rows = {NULL, NULL};
    int rc = pp != NULL && cfs != NULL && need != NULL ? 0 : -1;

    if (rc != 0)
        snprintf(err, errlen, "out of memory");
    for (size_t i = 0; i < n && rc == 0; i++) {
        reqs[i].conn = conn;
        cfs[i] = reqs[i].cf;
        need[i] = reqs[i].need;
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
    paystore_rows_free(rows.pay);
    interactstore_disputes_free(rows.disputes);
    free(need);
    free(cfs);
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
                         const char *followup, bool rezone, char *err, size_t errlen)
{
    char balance[24], dpd[16], pv[16], since[24], seq[16], step[16], nnb[24], version[24],
        updated[24], due[24];
    int64_t due_at = 0;
    int has_due = nextdue_of(cf, &due_at); /* the debtor row's zone: parties are saved first */
    if (has_due < 0) {
        snprintf(err, errlen, "next due time: the debtor's zone is not a known time zone");
        return -1;
    }
    snprintf(due, sizeof(due), "%" PRId64, due_at);
    snprintf(balance, sizeof(balance), "%" PRId64, cf->balance);
    snprintf(dpd, sizeof(dpd), "%d", (int)cf->days_past_due);
    snprintf(pv, sizeof(pv), "%d", cf->policy_version);
    snprintf(since, sizeof(since), "%" PRId64, cf->segment_since);
    snprintf(seq, sizeof(seq), "%d", cf->segment_seq);
    snprintf(step, sizeof(step), "%d", cf->last_step);
    snprintf(nnb, sizeof(nnb), "%" PRId64, cf->next_not_before);
    snprintf(version, sizeof(version), "%" PRId64, cf->version);
    snprintf(updated, sizeof(updated), "%" PRId64, cf->updated_at);
    const char *p[25] = {
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
        has_due ? due : NULL,
        rezone ? "true" : "false",
    };
    return pgpipe_cmd(conn, "cs_case", 25, p, err, errlen);
}

/* The case row, with its features (interactions: the counters caseinteract.c moves) and its
 * follow-up state (version 2, 0011_followup.sql) when the decision changed them: one UPDATE, so
 * one new row version per case and batch round. */
/* The case row; `rezone`: this save moves the debtor's zone (next_due_at is computed again). */
static int save_case(PGconn *conn, casefile_t *cf, bool rezone, char *err, size_t errlen)
{
    char *features = cf->features_dirty ? jsonout_dumps(cf->features) : NULL;
    char *followup = cf->followup_dirty ? jsonout_dumps(cf->followup) : NULL;
    if ((cf->features_dirty && features == NULL) || (cf->followup_dirty && followup == NULL)) {
        free(features);
        free(followup);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = save_case_row(conn, cf, features, followup, rezone, err, errlen);
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
    char *payload = t->data ? jsonout_dumps(t->data) : NULL;
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
    bool rezone = false;

    /* The rows the event's decision marked (payments, promises, plans, interactions). */
    if ((rc = paystore_save_rows(conn, cf, err, errlen)) != 0 ||
        (rc = interactstore_save_rows(conn, cf, err, errlen)) != 0)
        return rc;
    if (casefile_parties_due(cf)) {
        rezone = strcmp(cf->debtor_zone, cf->timezone) != 0;
        if ((rc = save_parties(conn, cf, err, errlen)) != 0)
            return rc;
        cf->parties_dirty = false;
        /* The debtor row now holds this zone (the scheduler's day: nextdue.h). */
        snprintf(cf->debtor_zone, sizeof(cf->debtor_zone), "%s", cf->timezone);
    }
    if ((rc = save_case(conn, cf, rezone, err, errlen)) != 0)
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
    {"is_dispute_open", 4, true},
    {"is_prefs", 2, true},
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
    return casestore_save_batch(conn, cfs, plans, n, NULL, 0, err, errlen);
}

int casestore_save_batch(PGconn *conn, casefile_t *const *cfs, const casefile_plan_t *const *plans,
                         size_t n, const casestore_hist_t *hist, size_t nhist, char *err,
                         size_t errlen)
{
    return casestore_save_carried(conn, cfs, plans, n, hist, nhist, NULL, 0, err, errlen);
}

int casestore_save_carried(PGconn *conn, casefile_t *const *cfs,
                           const casefile_plan_t *const *plans, size_t n,
                           const casestore_hist_t *hist, size_t nhist, const casestore_rec_t *recs,
                           size_t nrecs, char *err, size_t errlen)
{
    casestore_saving_t *saving = NULL;
    int rc =
        casestore_save_send(conn, cfs, plans, n, hist, nhist, recs, nrecs, &saving, err, errlen);

    return rc != 0 ? rc : casestore_save_wait(saving, err, errlen);
}

int casestore_save_send(PGconn *conn, casefile_t *const *cfs, const casefile_plan_t *const *plans,
                        size_t n, const casestore_hist_t *hist, size_t nhist,
                        const casestore_rec_t *recs, size_t nrecs, casestore_saving_t **saving,
                        char *err, size_t errlen)
{
    pgpipe_t *pp = pgpipe_new(conn);
    pgbulk_t *bulk = pgbulk_open(conn, save_order, sizeof(save_order) / sizeof(save_order[0]));
    int rc = pp != NULL && bulk != NULL ? pgpipe_begin(pp, err, errlen) : -1;

    *saving = NULL;
    if (pp == NULL || bulk == NULL)
        snprintf(err, errlen, "out of memory");
    for (size_t i = 0; i < nrecs && rc == 0; i++)
        rc = interactstore_save_record(conn, recs[i].cf->creditor_id, recs[i].cf->debtor_id,
                                       recs[i].rows, err, errlen);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (cfs[i] != NULL)
            rc = save_one(conn, cfs[i], plans[i], err, errlen);
    for (size_t i = 0; i < nhist && rc == 0; i++)
        rc = save_history(conn, hist[i].cf, hist[i].plan, err, errlen);
    if (rc == 0)
        rc = pgbulk_flush(bulk, err, errlen);
    pgbulk_close(bulk);
    if (rc == 0)
        rc = pgpipe_sync(pp, err, errlen);
    if (rc != 0) {
        pgpipe_free(pp); /* drains what went out: the transaction is aborted */
        return rc;
    }
    *saving = (casestore_saving_t *)pp;
    return 0;
}

int casestore_save_wait(casestore_saving_t *saving, char *err, size_t errlen)
{
    pgpipe_t *pp = (pgpipe_t *)saving;

    if (pp == NULL)
        return 0;
    int rc = pgpipe_wait(pp, err, errlen);
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
    int f = PQfnumber(res, "tasks");
    *out = json_loads(f >= 0 && !PQgetisnull(res, 0, f) ? PQgetvalue(res, 0, f) : "[]", 0, &jerr);
    PQclear(res);
    if (*out == NULL) {
        snprintf(err, errlen, "tasks: %s", jerr.text);
        return -1;
    }
    return 0;
}
