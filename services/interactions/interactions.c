/* interactions.c - the interactions worker's handler (see interactions.h): per event, load and
 * lock the case, apply the interaction (caseinteract.h) and record it (interactstore.h), plan,
 * save, and queue the tasks and case events in the outbox and the hot case for the cache, all
 * inside the batch's transaction. */
#include "interactions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caseinteract.h"
#include "casefile.h"
#include "casestore.h"
#include "clock.h"
#include "interactstore.h"
#include "log.h"
#include "paystore.h"
#include "metrics.h"
#include "pg.h"
#include "policystore.h"
#include "validate.h"

struct interactions {
    const config_t *cfg; /* borrowed */
    policy_t *policy;    /* owned: the active policy */
    int64_t next_check_us;
};

static const char *const consumed_types[] = {
    "contact.attempted", "promise.made",        "plan.agreed",        "debt.disputed",
    "dispute.resolved",  "contact.preferences", "forbearance.granted"};

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
    policy_free(p);
    free(text);
    return rc < 0 ? -1 : 0;
}

interactions_t *interactions_new(const config_t *cfg, char *err, size_t errlen)
{
    interactions_t *it = calloc(1, sizeof(*it));
    if (it == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    it->cfg = cfg;
    PGconn *conn = pg_connect(cfg->pg_dsn, "recobro-interactions", err, errlen);
    if (conn == NULL) {
        free(it);
        return NULL;
    }
    int rc = policystore_load_active(conn, &it->policy, NULL, err, errlen);
    if (rc == POLICYSTORE_NONE && cfg->policy_file[0] != '\0') {
        rc = import_file(conn, cfg->policy_file, err, errlen);
        if (rc == 0)
            rc = policystore_load_active(conn, &it->policy, NULL, err, errlen);
    } else if (rc == POLICYSTORE_NONE) {
        snprintf(err, errlen,
                 "no policy: load one with `recobroctl policy load FILE` or set "
                 "RECOBRO_POLICY_FILE");
        rc = -1;
    }
    PQfinish(conn);
    if (rc != 0) {
        free(it);
        return NULL;
    }
    LOG_INFO("policy.active", "\"version\":%d", it->policy->version);
    return it;
}

void interactions_free(interactions_t *it)
{
    if (it == NULL)
        return;
    policy_free(it->policy);
    free(it);
}

/* Picks up a newer active policy, at most every INTERACTIONS_POLICY_CHECK_US. */
static int refresh_policy(interactions_t *it, PGconn *conn)
{
    char err[600], esc[700];
    int version;

    if (clock_mono_us() < it->next_check_us)
        return WK_OK;
    it->next_check_us = clock_mono_us() + INTERACTIONS_POLICY_CHECK_US;
    int rc = policystore_active_version(conn, &version, err, sizeof(err));
    if (rc == POLICYSTORE_TRANSIENT)
        return WK_TRANSIENT;
    if (rc != 0 || version == it->policy->version)
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
    LOG_INFO("policy.changed", "\"from\":%d,\"to\":%d", it->policy->version, p->version);
    policy_free(it->policy);
    it->policy = p;
    return WK_OK;
}

/* ---- The handler ----------------------------------------------------------------------------- */

static int interactions_validate(void *ud, const ce_event_t *ev, ce_error_t *err)
{
    bool ours = false;

    (void)ud;
    for (size_t i = 0; i < sizeof(consumed_types) / sizeof(consumed_types[0]); i++)
        ours = ours || strcmp(ev->type, consumed_types[i]) == 0;
    if (!ours)
        return ce_fail(err, "unknown_type", "type is not one the interactions service consumes");
    return validate_event(ev, err);
}

static int interactions_connect(void *ud, PGconn *conn, char *err, size_t errlen)
{
    (void)ud;
    if (casestore_prepare(conn, err, errlen) != 0)
        return -1;
    return interactstore_prepare(conn, err, errlen) == 0 ? 0 : -1;
}

/* Maps a store's failure to the runtime's result (both stores share the transient code). */
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

static void count_task_outcome(caseinteract_task_t t)
{
    static const char *const names[] = {NULL, "done", "failed", "not_pending"};
    char labels[64];
    if (t == CASEINTERACT_TASK_NONE)
        return;
    snprintf(labels, sizeof(labels), "result=\"%s\"", names[t]);
    metrics_inc("recobro_task_reports_total",
                "contact.attempted reports carrying a task_id, by what they did to the task",
                labels, 1);
}

/* Applies the interaction itself to the locked case: the pure decision and its rows. Returns
 * WK_OK (maybe with m rejected), WK_TRANSIENT or WK_PERMANENT. */
static int apply_interaction(interactions_t *it, PGconn *conn, casefile_t *cf, wk_msg_t *m,
                             int64_t now, casefile_plan_t *plan)
{
    const ce_event_t *ev = &m->ev;
    const contact_rules_t *rules = &it->policy->contact;
    ce_error_t cerr;
    char err[600];
    int rc = 0;

    if (strcmp(ev->type, "contact.attempted") == 0) {
        caseinteract_task_t task;
        if (caseinteract_contact(cf, ev->data, &task, &cerr) < 0) {
            wk_reject(m, cerr.code, "%s", cerr.detail);
            return WK_OK;
        }
        count_task_outcome(task);
        rc = interactstore_log_contact(conn, cf->creditor_id, cf->debtor_id, ev, err, sizeof(err));
    } else if (strcmp(ev->type, "debt.disputed") == 0) {
        if (caseinteract_dispute_opened(cf, now, plan) < 0)
            return WK_PERMANENT;
        rc = interactstore_open_dispute(conn, cf->creditor_id, cf->debtor_id, ev, err, sizeof(err));
    } else if (strcmp(ev->type, "dispute.resolved") == 0) {
        json_t *invoices = NULL;
        bool still_open = false;
        rc = interactstore_resolve_disputes(conn, cf->creditor_id, cf->debtor_id, ev, &invoices,
                                            &still_open, err, sizeof(err));
        if (rc == 0) {
            const char *ids[64];
            size_t n = 0, i;
            json_t *v;
            json_array_foreach(invoices, i, v)
            {
                if (n < sizeof(ids) / sizeof(ids[0]))
                    ids[n++] = json_string_value(v);
            }
            bool upheld =
                strcmp(json_string_value(json_object_get(ev->data, "outcome")), "upheld") == 0;
            int r = caseinteract_dispute_resolved(
                cf, upheld, json_string_value(json_object_get(ev->data, "invoice_id")), ids, n,
                still_open, &cerr);
            json_decref(invoices);
            if (r < 0) {
                LOG_WARN("dispute.resolve_failed", "\"code\":\"%s\"", cerr.code);
                return WK_PERMANENT;
            }
        }
    } else if (strcmp(ev->type, "contact.preferences") == 0) {
        if (caseinteract_preferences(cf, ev->data, rules, now, plan) < 0)
            return WK_PERMANENT;
        rc = interactstore_save_preferences(conn, cf->creditor_id, cf->debtor_id, ev, err,
                                            sizeof(err));
    } else if (strcmp(ev->type, "forbearance.granted") == 0) {
        if (caseinteract_forbearance(cf, json_string_value(json_object_get(ev->data, "from")),
                                     json_string_value(json_object_get(ev->data, "until")), rules,
                                     now, plan, &cerr) < 0) {
            wk_reject(m, cerr.code, "%s", cerr.detail);
            return WK_OK;
        }
        rc = interactstore_add_forbearance(conn, cf->creditor_id, cf->debtor_id, ev, err,
                                           sizeof(err));
    } else {
        /* promise.made / plan.agreed: recorded, checked against the negotiation limits and
         * applied (or sent to a supervisor) by the payments side. */
        bool promise = strcmp(ev->type, "promise.made") == 0;
        rc = promise ? paystore_record_promise(conn, cf, it->policy, ev, now, INTERACTIONS_SOURCE,
                                               plan, &cerr, err, sizeof(err))
                     : paystore_record_plan(conn, cf, it->policy, ev, now, INTERACTIONS_SOURCE,
                                            plan, &cerr, err, sizeof(err));
        if (rc == PAYSTORE_REJECTED) {
            wk_reject(m, cerr.code, "%s", cerr.detail);
            return WK_OK;
        }
        if (rc == PAYSTORE_TRANSIENT)
            rc = CASESTORE_TRANSIENT;
    }
    return rc == 0 ? WK_OK : store_error(rc, ev->type, err);
}

/* Applies one event: load, interaction, plan, save, outbox, cache. */
static int apply_one(interactions_t *it, wk_tx_t *tx, wk_msg_t *m, int64_t now)
{
    const config_t *cfg = wk_tx_config(tx);
    PGconn *conn = wk_tx_conn(tx);
    const char *creditor_id, *debtor_id;
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;
    char err[600], key[2 * CASEFILE_ID_MAX + 2];
    int rc;

    if (validate_case_ids(&m->ev, &creditor_id, &debtor_id) < 0) {
        wk_reject(m, "schema_violation", "data: creditor_id and debtor_id are required");
        return WK_OK;
    }
    rc = casestore_load(conn, creditor_id, debtor_id, true, &cf, err, sizeof(err));
    cf.source = INTERACTIONS_SOURCE;
    if (rc != 0) {
        casefile_clear(&cf);
        return store_error(rc, "load", err);
    }
    rc = apply_interaction(it, conn, &cf, m, now, &plan);
    if (rc != WK_OK || m->state == WK_MSG_REJECTED)
        goto out;
    if (casefile_plan(&cf, it->policy, now, &plan, err, sizeof(err)) < 0) {
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
    json_t *cache = casefile_cache_new(&cf, it->policy, now);
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

static int interactions_apply(void *ud, wk_tx_t *tx, wk_msg_t *const *msgs, size_t n)
{
    interactions_t *it = ud;
    int rc = refresh_policy(it, wk_tx_conn(tx));
    int64_t now = clock_now();

    for (size_t i = 0; i < n && rc == WK_OK; i++)
        rc = apply_one(it, tx, msgs[i], now);
    return rc;
}

void interactions_handler(interactions_t *it, wk_handler_t *h)
{
    h->service = "interactions";
    h->validate = interactions_validate;
    h->on_connect = interactions_connect;
    h->apply = interactions_apply;
    h->ud = it;
}
