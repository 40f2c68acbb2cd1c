/* payments.c - the payments worker's handler (see payments.h): per event, load and lock the
 * case, apply the payment or reversal (paystore.h), plan, save, and queue the tasks and case
 * events in the outbox and the hot case for the cache, all inside the batch's transaction. */
#include "payments.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casefile.h"
#include "casestore.h"
#include "clock.h"
#include "log.h"
#include "paystore.h"
#include "metrics.h"
#include "pg.h"
#include "policystore.h"
#include "validate.h"

struct payments {
    const config_t *cfg; /* borrowed */
    policy_t *policy;    /* owned: the active policy */
    int64_t next_check_us;
};

static const char *const consumed_types[] = {"payment.received", "payment.reversed"};

/* The source of the events this service emits. */
#define PAYMENTS_SOURCE "recobro/payments"

/* ---- The policy ------------------------------------------------------------------------------ */

/* Loads RECOBRO_POLICY_FILE into an empty policy table. Returns 0 or -1 (err filled). */
static int import_file(PGconn *conn, const char *path, char *err, size_t errlen)
{
    char perr[POLICY_ERR_MAX + 600];
    char *text = policystore_read_file(path, err, errlen);
    if (text == NULL)
        return -1;
    policy_t *p = policy_parse(text, perr, sizeof(perr));
    if (p == NULL) {
        snprintf(err, errlen, "RECOBRO_POLICY_FILE %s: %s", path, perr);
        free(text);
        return -1;
    }
    int rc = policystore_add(conn, text, p, 1, err, errlen);
    if (rc == 0)
        LOG_INFO("policy.imported", "\"version\":%d", p->version);
    policy_free(p);
    free(text);
    return rc < 0 ? -1 : 0;
}

payments_t *payments_new(const config_t *cfg, char *err, size_t errlen)
{
    payments_t *ps = calloc(1, sizeof(*ps));
    if (ps == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ps->cfg = cfg;
    PGconn *conn = pg_connect(cfg->pg_dsn, "recobro-payments", err, errlen);
    if (conn == NULL) {
        free(ps);
        return NULL;
    }
    int rc = policystore_load_active(conn, &ps->policy, NULL, err, errlen);
    if (rc == POLICYSTORE_NONE && cfg->policy_file[0] != '\0') {
        rc = import_file(conn, cfg->policy_file, err, errlen);
        if (rc == 0)
            rc = policystore_load_active(conn, &ps->policy, NULL, err, errlen);
    } else if (rc == POLICYSTORE_NONE) {
        snprintf(err, errlen,
                 "no policy: load one with `recobroctl policy load FILE` or set "
                 "RECOBRO_POLICY_FILE");
        rc = -1;
    }
    PQfinish(conn);
    if (rc != 0) {
        free(ps);
        return NULL;
    }
    LOG_INFO("policy.active", "\"version\":%d", ps->policy->version);
    return ps;
}

void payments_free(payments_t *ps)
{
    if (ps == NULL)
        return;
    policy_free(ps->policy);
    free(ps);
}

/* Picks up a newer active policy, at most every PAYMENTS_POLICY_CHECK_US. A failure keeps the
 * current policy (logged); only a lost connection is worth reporting. */
static int refresh_policy(payments_t *ps, PGconn *conn)
{
    char err[600], esc[700];
    int version;

    if (clock_mono_us() < ps->next_check_us)
        return WK_OK;
    ps->next_check_us = clock_mono_us() + PAYMENTS_POLICY_CHECK_US;
    int rc = policystore_active_version(conn, &version, err, sizeof(err));
    if (rc == POLICYSTORE_TRANSIENT)
        return WK_TRANSIENT;
    if (rc != 0 || version == ps->policy->version)
        return WK_OK;
    policy_t *p = NULL;
    rc = policystore_load_active(conn, &p, NULL, err, sizeof(err));
    if (rc == POLICYSTORE_TRANSIENT)
        return WK_TRANSIENT;
    if (rc != 0) {
        LOG_WARN("policy.refresh_failed", "\"error\":\"%s\"",
                 log_json_escape(err, esc, sizeof(esc)));
        return WK_OK;
    }
    LOG_INFO("policy.changed", "\"from\":%d,\"to\":%d", ps->policy->version, p->version);
    policy_free(ps->policy);
    ps->policy = p;
    return WK_OK;
}

/* ---- The handler ----------------------------------------------------------------------------- */

static int payments_validate(void *ud, const ce_event_t *ev, ce_error_t *err)
{
    bool ours = false;

    (void)ud;
    for (size_t i = 0; i < sizeof(consumed_types) / sizeof(consumed_types[0]); i++)
        ours = ours || strcmp(ev->type, consumed_types[i]) == 0;
    if (!ours)
        return ce_fail(err, "unknown_type", "type is not one the payments service consumes");
    return validate_event(ev, err);
}

static int payments_connect(void *ud, PGconn *conn, char *err, size_t errlen)
{
    (void)ud;
    return casestore_prepare(conn, err, errlen) == 0 ? 0 : -1;
}

static int store_error(int rc, const char *what, const char *err)
{
    char esc[700];
    LOG_WARN("case.store_failed", "\"what\":\"%s\",\"error\":\"%s\"", what,
             log_json_escape(err, esc, sizeof(esc)));
    return rc == CASESTORE_TRANSIENT ? WK_TRANSIENT : WK_PERMANENT;
}

static void count_plan(const casefile_plan_t *plan)
{
    char labels[128];
    for (size_t i = 0; i < plan->n_created; i++) {
        snprintf(labels, sizeof(labels), "action=\"%s\"", plan->created[i]);
        metrics_inc("recobro_tasks_created_total", "Tasks created, by action", labels, 1);
    }
    for (size_t i = 0; i < plan->n_deferred; i++) {
        snprintf(labels, sizeof(labels), "reason=\"%s\"", plan->deferred[i]);
        metrics_inc("recobro_tasks_deferred_total", "Tasks deferred by the contact rules", labels,
                    1);
    }
    for (size_t i = 0; i < plan->n_suppressed; i++) {
        snprintf(labels, sizeof(labels), "reason=\"%s\"", plan->suppressed[i]);
        metrics_inc("recobro_tasks_suppressed_total", "Tasks suppressed by the contact rules",
                    labels, 1);
    }
}

/* Applies one event: load, apply, plan, save, outbox, cache. */
static int apply_one(payments_t *ps, wk_tx_t *tx, wk_msg_t *m, int64_t now)
{
    const config_t *cfg = wk_tx_config(tx);
    PGconn *conn = wk_tx_conn(tx);
    const char *creditor_id, *debtor_id;
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;
    ce_error_t cerr;
    char err[600], key[2 * CASEFILE_ID_MAX + 2];
    int rc;

    if (validate_case_ids(&m->ev, &creditor_id, &debtor_id) < 0) {
        wk_reject(m, "schema_violation", "data: creditor_id and debtor_id are required");
        return WK_OK;
    }
    rc = casestore_load(conn, creditor_id, debtor_id, true, &cf, err, sizeof(err));
    cf.source = PAYMENTS_SOURCE;
    if (rc != 0) {
        casefile_clear(&cf);
        return store_error(rc, "load", err);
    }
    if (strcmp(m->ev.type, "payment.received") == 0)
        rc = paystore_payment_received(conn, &cf, ps->policy, &m->ev, now, PAYMENTS_SOURCE, &plan,
                                       &cerr, err, sizeof(err));
    else
        rc = paystore_payment_reversed(conn, &cf, ps->policy, &m->ev, now, PAYMENTS_SOURCE, &plan,
                                       &cerr, err, sizeof(err));
    if (rc == PAYSTORE_REJECTED) {
        /* Nothing of it is saved: the savepoint of this event is not needed, nothing was
         * written before the decision refused it. */
        wk_reject(m, cerr.code, "%s", cerr.detail);
        casefile_plan_clear(&plan);
        casefile_clear(&cf);
        return WK_OK;
    }
    if (rc != 0) {
        rc = store_error(rc, "payment", err);
        goto out;
    }
    snprintf(cf.last_event, sizeof(cf.last_event), "%s", m->ev.type);
    if (casefile_plan(&cf, ps->policy, now, &plan, err, sizeof(err)) < 0) {
        char esc[700];
        LOG_WARN("case.plan_failed", "\"error\":\"%s\"", log_json_escape(err, esc, sizeof(esc)));
        rc = WK_PERMANENT;
        goto out;
    }
    if ((rc = casestore_save(conn, &cf, &plan, err, sizeof(err))) != 0) {
        rc = store_error(rc, "save", err);
        goto out;
    }
    snprintf(key, sizeof(key), "%s/%s", cf.creditor_id, cf.debtor_id);
    for (size_t i = 0; i < plan.n_outputs; i++) {
        const char *topic = plan.outputs[i].topic == CASEFILE_TOPIC_TASKS ? cfg->topic_tasks
                                                                          : cfg->topic_case_events;
        if (outbox_add_event(wk_tx_outbox(tx), topic, key, plan.outputs[i].event) < 0) {
            rc = WK_TRANSIENT;
            goto out;
        }
    }
    json_t *cache = casefile_cache_new(&cf, ps->policy, now);
    if (cache != NULL) {
        char ckey[2 * CASEFILE_ID_MAX + 16];
        char *json = json_dumps(cache, JSON_COMPACT);
        json_decref(cache);
        snprintf(ckey, sizeof(ckey), "recobro:case:%s:%s", cf.creditor_id, cf.debtor_id);
        if (json == NULL || wk_tx_cache(tx, ckey, json, cf.version) < 0) {
            free(json);
            rc = WK_TRANSIENT;
            goto out;
        }
        free(json);
    }
    count_plan(&plan);
    if (log_min_level <= LOG_DEBUG) {
        char ec[300], ed[300];
        LOG_DEBUG("case.applied",
                  "\"creditor_id\":\"%s\",\"debtor_id\":\"%s\",\"type\":\"%s\",\"segment\":\"%s\","
                  "\"outputs\":%zu,\"version\":%lld",
                  log_json_escape(cf.creditor_id, ec, sizeof(ec)),
                  log_json_escape(cf.debtor_id, ed, sizeof(ed)), m->ev.type,
                  cf.segmented ? segment_name(cf.segment) : "", plan.n_outputs,
                  (long long)cf.version);
    }
    rc = WK_OK;
out:
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
    return rc;
}

static int payments_apply(void *ud, wk_tx_t *tx, wk_msg_t *const *msgs, size_t n)
{
    payments_t *ps = ud;
    int rc = refresh_policy(ps, wk_tx_conn(tx));
    int64_t now = clock_now();

    for (size_t i = 0; i < n && rc == WK_OK; i++)
        rc = apply_one(ps, tx, msgs[i], now);
    return rc;
}

void payments_handler(payments_t *ps, wk_handler_t *h)
{
    h->service = "payments";
    h->validate = payments_validate;
    h->on_connect = payments_connect;
    h->apply = payments_apply;
    h->ud = ps;
}
