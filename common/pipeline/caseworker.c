/* caseworker.c - the per-event frame shared by the case-keeping workers (see caseworker.h). */
#include "caseworker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casestore.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "pg.h"
#include "policystore.h"
#include "validate.h"

struct caseworker {
    caseworker_spec_t spec;
    policy_holder_t policy;
};

caseworker_t *caseworker_new(const config_t *cfg, const caseworker_spec_t *spec, char *err,
                             size_t errlen)
{
    char app[64];
    caseworker_t *cw = calloc(1, sizeof(*cw));

    if (cw == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    cw->spec = *spec;
    cw->policy = (policy_holder_t){NULL, CASEWORKER_POLICY_CHECK_US, 0, cfg->policy_file};
    snprintf(app, sizeof(app), "recobro-%s", spec->service);
    PGconn *conn = pg_connect(cfg->pg_dsn, app, err, errlen);
    if (conn == NULL) {
        free(cw);
        return NULL;
    }
    int rc = policystore_refresh(&cw->policy, conn, err, errlen);
    PQfinish(conn);
    if (rc != 0) {
        free(cw);
        return NULL;
    }
    return cw;
}

void caseworker_free(caseworker_t *cw)
{
    if (cw == NULL)
        return;
    policystore_holder_clear(&cw->policy);
    free(cw);
}

int caseworker_store_error(int rc, const char *what, const char *err)
{
    char esc[700];
    LOG_WARN("case.store_failed", "\"what\":\"%s\",\"error\":\"%s\"", what,
             log_json_escape(err, esc, sizeof(esc)));
    return rc == RESULT_TRANSIENT ? RESULT_TRANSIENT : RESULT_PERMANENT;
}

void caseworker_count_plan(const casefile_plan_t *plan)
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

static int cw_validate(void *ud, const ce_event_t *ev, reason_t *err)
{
    caseworker_t *cw = ud;
    bool ours = false;

    for (size_t i = 0; i < cw->spec.ntypes; i++)
        ours = ours || strcmp(ev->type, cw->spec.types[i]) == 0;
    if (!ours)
        return reason_set(err, "unknown_type", "type is not one the %s service consumes",
                          cw->spec.service);
    return validate_event(ev, err);
}

static int cw_connect(void *ud, PGconn *conn, char *err, size_t errlen)
{
    caseworker_t *cw = ud;

    if (casestore_prepare(conn, err, errlen) != 0)
        return -1;
    return cw->spec.prepare == NULL || cw->spec.prepare(conn, err, errlen) == 0 ? 0 : -1;
}

/* The outputs to the outbox and the hot case to the cache, after the save. */
static int emit(caseworker_t *cw, wk_tx_t *tx, casefile_t *cf, const casefile_plan_t *plan,
                int64_t now)
{
    const config_t *cfg = wk_tx_config(tx);
    char key[2 * CASEFILE_ID_MAX + 2], ckey[2 * CASEFILE_ID_MAX + 16];

    snprintf(key, sizeof(key), "%s/%s", cf->creditor_id, cf->debtor_id);
    for (size_t i = 0; i < plan->n_outputs; i++) {
        const char *topic = plan->outputs[i].topic == CASEFILE_TOPIC_TASKS ? cfg->topic_tasks
                                                                           : cfg->topic_case_events;
        const casefile_output_t *o = &plan->outputs[i];
        json_t *ev = ce_case_output_new(o->id, cw->spec.source, o->type, o->at, cf->creditor_id,
                                        cf->debtor_id, o->data);
        int added = ev != NULL ? outbox_add_event(wk_tx_outbox(tx), topic, key, ev) : -1;
        json_decref(ev);
        if (added < 0)
            return RESULT_TRANSIENT;
    }
    json_t *cache = casefile_cache_new(cf, cw->policy.policy, now);
    if (cache == NULL)
        return RESULT_OK;
    char *json = json_dumps(cache, JSON_COMPACT);
    json_decref(cache);
    snprintf(ckey, sizeof(ckey), "recobro:case:%s:%s", cf->creditor_id, cf->debtor_id);
    int rc = json != NULL && wk_tx_cache(tx, ckey, json, cf->version) == 0 ? RESULT_OK
                                                                           : RESULT_TRANSIENT;
    free(json);
    return rc;
}

/* One event: load, the service's apply, plan, save, outbox, cache. */
static int apply_one(caseworker_t *cw, wk_tx_t *tx, wk_msg_t *m, int64_t now)
{
    PGconn *conn = wk_tx_conn(tx);
    const policy_t *policy = cw->policy.policy;
    const char *creditor_id, *debtor_id;
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;
    char err[600];
    int rc;

    if (validate_case_ids(&m->ev, &creditor_id, &debtor_id) < 0) {
        wk_reject(m, "schema_violation", "data: creditor_id and debtor_id are required");
        return RESULT_OK;
    }
    rc = casestore_load(conn, creditor_id, debtor_id, true, &cf, err, sizeof(err));
    if (rc != 0) {
        casefile_clear(&cf);
        return caseworker_store_error(rc, "load", err);
    }
    rc = cw->spec.apply(cw->spec.ud, policy, conn, &cf, m, now, &plan);
    if (rc != RESULT_OK || m->state == WK_MSG_REJECTED)
        goto out;
    if (casefile_plan(&cf, policy, now, &plan, err, sizeof(err)) < 0) {
        char esc[700];
        LOG_WARN("case.plan_failed", "\"error\":\"%s\"", log_json_escape(err, esc, sizeof(esc)));
        rc = RESULT_PERMANENT;
        goto out;
    }
    if ((rc = casestore_save(conn, &cf, &plan, err, sizeof(err))) != 0) {
        rc = caseworker_store_error(rc, "save", err);
        goto out;
    }
    if ((rc = emit(cw, tx, &cf, &plan, now)) != RESULT_OK)
        goto out;
    caseworker_count_plan(&plan);
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
out:
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
    return rc;
}

static int cw_apply(void *ud, wk_tx_t *tx, wk_msg_t *const *msgs, size_t n)
{
    caseworker_t *cw = ud;
    char err[600];
    int rc = policystore_refresh(&cw->policy, wk_tx_conn(tx), err, sizeof(err));
    int64_t now = clock_now();

    if (rc != 0)
        return RESULT_TRANSIENT; /* a policy is always held after caseworker_new() */
    for (size_t i = 0; i < n && rc == RESULT_OK; i++)
        rc = apply_one(cw, tx, msgs[i], now);
    return rc;
}

void caseworker_handler(caseworker_t *cw, wk_handler_t *h)
{
    h->service = cw->spec.service;
    h->validate = cw_validate;
    h->on_connect = cw_connect;
    h->apply = cw_apply;
    h->ud = cw;
}
