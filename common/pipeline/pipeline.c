/* pipeline.c - the one case pipeline and the case worker around it (see pipeline.h). */
#include "pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casestore.h"
#include "clock.h"
#include "interactstore.h"
#include "log.h"
#include "metrics.h"
#include "pg.h"
#include "policystore.h"
#include "service.h"
#include "validate.h"
#include "worker.h"

/* ---- The table and the statements ------------------------------------------------------------ */

const pipeline_handler_t *pipeline_find(const pipeline_spec_t *spec, const char *type)
{
    for (size_t i = 0; type != NULL && i < spec->nhandlers; i++)
        if (strcmp(spec->handlers[i].type, type) == 0)
            return &spec->handlers[i];
    return NULL;
}

int pipeline_prepare(PGconn *conn, char *err, size_t errlen)
{
    int rc = casestore_prepare(conn, err, errlen); /* paystore's statements too */
    return rc != 0 ? rc : interactstore_prepare(conn, err, errlen);
}

/* ---- One case -------------------------------------------------------------------------------- */

/* Logs a failed stage and passes its result on: a transient one stays transient. */
static int stage_failed(int rc, const char *what, const char *err)
{
    char esc[700];
    LOG_WARN("case.store_failed", "\"what\":\"%s\",\"error\":\"%s\"", what,
             log_json_escape(err, esc, sizeof(esc)));
    return rc == RESULT_TRANSIENT ? RESULT_TRANSIENT : RESULT_PERMANENT;
}

/* Loads and locks the case with the rows the handler asks for; the event, when there is one, is
 * what the rows it becomes are written from. */
static int load(PGconn *conn, const char *creditor_id, const char *debtor_id,
                const pipeline_handler_t *h, const ce_event_t *ev, casefile_t *cf, char *err,
                size_t errlen)
{
    const char *name = ev != NULL && h->names != NULL
                           ? json_string_value(json_object_get(ev->data, h->names))
                           : NULL;
    int rc = casestore_load(conn, creditor_id, debtor_id, true, cf, err, errlen);

    if (rc == 0 && h->load != 0)
        rc = casestore_load_rows(conn, cf, h->load, name, err, errlen);
    if (rc == 0 && ev != NULL) {
        cf->rows.event_data = ev->data;
        cf->rows.event_source = ev->source;
        cf->rows.event_id = ev->id;
    }
    return rc == 0 ? RESULT_OK : stage_failed(rc, "load", err);
}

/* The outputs of the plan, in the envelope with the service's source, into the outbox. */
static int to_outbox(const pipeline_ctx_t *ctx, const casefile_t *cf, const casefile_plan_t *plan,
                     char *err, size_t errlen)
{
    char key[2 * CASEFILE_ID_MAX + 2];

    snprintf(key, sizeof(key), "%s/%s", cf->creditor_id, cf->debtor_id);
    for (size_t i = 0; i < plan->n_outputs; i++) {
        const casefile_output_t *o = &plan->outputs[i];
        const char *topic =
            o->topic == CASEFILE_TOPIC_TASKS ? ctx->topic_tasks : ctx->topic_case_events;
        json_t *ev = ce_case_output_new(o->id, ctx->source, o->type, o->at, cf->creditor_id,
                                        cf->debtor_id, o->data);
        int added = ev != NULL ? outbox_add_event(ctx->outbox, topic, key, ev) : -1;
        json_decref(ev);
        if (added < 0) {
            snprintf(err, errlen, "out of memory");
            return RESULT_TRANSIENT;
        }
    }
    return RESULT_OK;
}

int pipeline_run_case(const pipeline_ctx_t *ctx, PGconn *conn, const char *creditor_id,
                      const char *debtor_id, const pipeline_handler_t *h, const ce_event_t *ev,
                      casefile_t *cf, casefile_plan_t *plan, reason_t *rej, char *err,
                      size_t errlen)
{
    casedecide_in_t in = {ev ? ev->type : h->type, ev ? ev->data : NULL, ctx->policy, ctx->now,
                          ctx->source};
    int rc = load(conn, creditor_id, debtor_id, h, ev, cf, err, errlen);

    if (rc != RESULT_OK)
        return rc;
    if ((rc = h->decide(cf, &in, plan, rej)) != RESULT_OK) {
        if (rc == RESULT_REJECTED)
            return rc;
        snprintf(err, errlen, "%s: %s", rej->code, rej->detail);
        return stage_failed(rc, "decide", err);
    }
    if (casefile_plan(cf, ctx->policy, ctx->now, plan, err, errlen) < 0) {
        char esc[700];
        LOG_WARN("case.plan_failed", "\"error\":\"%s\"", log_json_escape(err, esc, sizeof(esc)));
        return RESULT_PERMANENT;
    }
    if ((rc = casestore_save(conn, cf, plan, err, errlen)) != 0)
        return stage_failed(rc, "save", err);
    if ((rc = to_outbox(ctx, cf, plan, err, errlen)) != RESULT_OK)
        return rc;
    if (h->observe != NULL)
        h->observe(cf);
    return RESULT_OK;
}

void pipeline_cache_key(const casefile_t *cf, char *key, size_t size)
{
    snprintf(key, size, "recobro:case:%s:%s", cf->creditor_id, cf->debtor_id);
}

char *pipeline_cache_json(const casefile_t *cf, const policy_t *policy, int64_t now)
{
    json_t *doc = casefile_cache_new(cf, policy, now);
    char *json = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return json;
}

void pipeline_count_plan(const casefile_plan_t *plan)
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

/* ---- The case worker ------------------------------------------------------------------------- */

typedef struct pipeline_worker {
    const pipeline_spec_t *spec; /* borrowed */
    policy_holder_t policy;
} pipeline_worker_t;

static int pw_validate(void *ud, const ce_event_t *ev, reason_t *err)
{
    pipeline_worker_t *pw = ud;

    if (pipeline_find(pw->spec, ev->type) == NULL)
        return reason_set(err, "unknown_type", "type is not one the %s service consumes",
                          pw->spec->service);
    return validate_event(ev, err);
}

static int pw_connect(void *ud, PGconn *conn, char *err, size_t errlen)
{
    (void)ud;
    return pipeline_prepare(conn, err, errlen) == 0 ? 0 : -1;
}

/* Queues the hot case for the cache, written after the commit. */
static int to_cache(wk_tx_t *tx, const casefile_t *cf, const policy_t *policy, int64_t now)
{
    char key[2 * CASEFILE_ID_MAX + 16];
    char *json = pipeline_cache_json(cf, policy, now);

    if (json == NULL)
        return RESULT_OK;
    pipeline_cache_key(cf, key, sizeof(key));
    int rc = wk_tx_cache(tx, key, json, cf->version) == 0 ? RESULT_OK : RESULT_TRANSIENT;
    free(json);
    return rc;
}

static void log_applied(const casefile_t *cf, const char *type, const casefile_plan_t *plan)
{
    char ec[300], ed[300];

    if (log_min_level > LOG_DEBUG)
        return;
    LOG_DEBUG("case.applied",
              "\"creditor_id\":\"%s\",\"debtor_id\":\"%s\",\"type\":\"%s\",\"segment\":\"%s\","
              "\"outputs\":%zu,\"version\":%lld",
              log_json_escape(cf->creditor_id, ec, sizeof(ec)),
              log_json_escape(cf->debtor_id, ed, sizeof(ed)), type,
              cf->segmented ? segment_name(cf->segment) : "", plan->n_outputs,
              (long long)cf->version);
}

/* One event of the batch through the pipeline; a rejection goes to the DLQ (wk_reject()). */
static int apply_one(pipeline_worker_t *pw, wk_tx_t *tx, wk_msg_t *m, int64_t now)
{
    const config_t *cfg = wk_tx_config(tx);
    const pipeline_ctx_t ctx = {pw->policy.policy,      now,
                                pw->spec->source,       cfg->topic_tasks,
                                cfg->topic_case_events, wk_tx_outbox(tx)};
    const pipeline_handler_t *h = pipeline_find(pw->spec, m->ev.type);
    const char *creditor_id, *debtor_id;
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;
    reason_t rej;
    char err[600];

    if (h == NULL) { /* pw_validate() let only the table's types through */
        wk_reject(m, "unknown_type", "type is not one the %s service consumes", pw->spec->service);
        return RESULT_OK;
    }
    if (validate_case_ids(&m->ev, &creditor_id, &debtor_id) < 0) {
        wk_reject(m, "schema_violation", "data: creditor_id and debtor_id are required");
        return RESULT_OK;
    }
    memset(&cf, 0, sizeof(cf));
    int rc = pipeline_run_case(&ctx, wk_tx_conn(tx), creditor_id, debtor_id, h, &m->ev, &cf, &plan,
                               &rej, err, sizeof(err));
    if (rc == RESULT_REJECTED) {
        wk_reject(m, rej.code, "%s", rej.detail);
        rc = RESULT_OK;
    } else if (rc == RESULT_OK && (rc = to_cache(tx, &cf, ctx.policy, now)) == RESULT_OK) {
        pipeline_count_plan(&plan);
        log_applied(&cf, m->ev.type, &plan);
    }
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
    return rc;
}

static int pw_apply(void *ud, wk_tx_t *tx, wk_msg_t *const *msgs, size_t n)
{
    pipeline_worker_t *pw = ud;
    char err[600];
    int rc = policystore_refresh(&pw->policy, wk_tx_conn(tx), err, sizeof(err));
    int64_t now = clock_now();

    if (rc != 0)
        return RESULT_TRANSIENT; /* a policy is always held after the start */
    for (size_t i = 0; i < n && rc == RESULT_OK; i++)
        rc = apply_one(pw, tx, msgs[i], now);
    return rc;
}

/* Connects once to read the active policy (importing RECOBRO_POLICY_FILE into an empty table).
 * Returns 0, or -1 with a one-line reason in err. */
static int read_policy(pipeline_worker_t *pw, const config_t *cfg, char *err, size_t errlen)
{
    char app[64];

    pw->policy = (policy_holder_t){NULL, PIPELINE_POLICY_CHECK_US, 0, cfg->policy_file};
    snprintf(app, sizeof(app), "recobro-%s", pw->spec->service);
    PGconn *conn = pg_connect(cfg->pg_dsn, app, err, errlen);
    if (conn == NULL)
        return -1;
    int rc = policystore_refresh(&pw->policy, conn, err, errlen);
    PQfinish(conn);
    return rc == 0 ? 0 : -1;
}

int pipeline_main(int argc, char **argv, const pipeline_spec_t *spec)
{
    pipeline_worker_t pw = {spec, {0}};
    config_t cfg;
    char err[600];
    int rc = service_init(&cfg, spec->service, spec->about, argc, argv);

    if (rc >= 0)
        return rc;
    if (read_policy(&pw, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "recobro-%s: %s\n", spec->service, err);
        policystore_holder_clear(&pw.policy);
        return EXIT_FAIL;
    }
    wk_handler_t h = {spec->service, pw_validate, pw_connect, pw_apply, &pw};
    const char *topics[] = {(const char *)&cfg + spec->topic};
    rc = wk_run(&cfg, topics, 1, &h);
    policystore_holder_clear(&pw.policy);
    return rc;
}
