/* pipeline.c - the one case pipeline and the case worker around it (see pipeline.h). */
#include "pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cacheowed.h"
#include "casecharge.h"
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

/* Orders items by (creditor_id, debtor_id): the order their case rows are locked and saved in. */
static int by_case(const void *a, const void *b)
{
    const pipeline_item_t *x = *(pipeline_item_t *const *)a, *y = *(pipeline_item_t *const *)b;
    int c = strcmp(x->creditor_id, y->creditor_id);
    return c != 0 ? c : strcmp(x->debtor_id, y->debtor_id);
}

/* Loads and locks every item's case with the rows its handler asks for, in `order`; each event
 * is what the rows it becomes are written from. */
static int load(PGconn *conn, pipeline_item_t *const *order, size_t n, char *err, size_t errlen)
{
    casestore_req_t *reqs = calloc(n ? n : 1, sizeof(*reqs));
    int rc;

    if (reqs == NULL) {
        snprintf(err, errlen, "out of memory");
        return RESULT_TRANSIENT;
    }
    for (size_t k = 0; k < n; k++) {
        const pipeline_item_t *it = order[k];
        const char *name = it->ev != NULL && it->h->names != NULL
                               ? json_string_value(json_object_get(it->ev->data, it->h->names))
                               : NULL;
        memset(it->cf, 0, sizeof(*it->cf));
        reqs[k] =
            (casestore_req_t){it->creditor_id, it->debtor_id, it->h->load, name, it->cf, NULL};
    }
    rc = casestore_load_many(conn, reqs, n, err, errlen);
    free(reqs);
    for (size_t k = 0; k < n && rc == 0; k++) {
        if (order[k]->ev != NULL) {
            order[k]->cf->rows.event_data = order[k]->ev->data;
            order[k]->cf->rows.event_source = order[k]->ev->source;
            order[k]->cf->rows.event_id = order[k]->ev->id;
        }
    }
    return rc == 0 ? RESULT_OK : stage_failed(rc, "load", err);
}

const policy_t *pipeline_policy_for(const pipeline_ctx_t *ctx, const char *creditor_id)
{
    const policy_t *own = policyset_own(ctx->policies, creditor_id);
    return own != NULL ? own : ctx->policy;
}

/* The item's pure decision, then the planning, under the policy of its creditor. A rejection is
 * the item's outcome (it->rc), not a failure: nothing of it is saved. */
static int decide(const pipeline_ctx_t *ctx, pipeline_item_t *it, char *err, size_t errlen)
{
    const policy_t *policy = pipeline_policy_for(ctx, it->creditor_id);
    casedecide_in_t in = {it->ev ? it->ev->type : it->h->type, it->ev ? it->ev->data : NULL, policy,
                          ctx->now, ctx->source};
    /* money: the interest of the days since the last pass, before the event (casecharge.h). */
    if (casecharge_accrue(it->cf, &policy->charges, ctx->now) < 0) {
        snprintf(err, errlen, "interest overflows 64-bit minor units");
        return stage_failed(RESULT_PERMANENT, "decide", err);
    }
    int rc = it->h->decide(it->cf, &in, it->plan, &it->rej);

    it->rc = rc;
    if (rc == RESULT_REJECTED)
        return RESULT_OK;
    if (rc != RESULT_OK) {
        snprintf(err, errlen, "%s: %s", it->rej.code, it->rej.detail);
        return stage_failed(rc, "decide", err);
    }
    /* The policy's conversation rules: hardship objections, the negotiation stage (up or back). */
    bool moved = false;
    if (conv_apply(&policy->conversation, it->cf->features, in.type, in.data, &moved) < 0) {
        snprintf(err, errlen, "conversation rules: out of memory");
        return stage_failed(RESULT_PERMANENT, "decide", err);
    }
    it->cf->features_dirty = it->cf->features_dirty || moved;
    if (casefile_plan(it->cf, policy, ctx->now, it->plan, err, errlen) < 0) {
        char esc[700];
        LOG_WARN("case.plan_failed", "\"error\":\"%s\"", log_json_escape(err, esc, sizeof(esc)));
        return RESULT_PERMANENT;
    }
    /* money: a case complete only now starts accruing today; then principal, interest and fees
     * into its tasks. */
    if (casecharge_accrue(it->cf, &policy->charges, ctx->now) < 0 ||
        casecharge_annotate_plan(it->cf, it->plan) < 0) {
        snprintf(err, errlen, "out of memory");
        return RESULT_TRANSIENT;
    }
    return RESULT_OK;
}

/* One save of every case whose decision was not a rejection, in `order`. */
static int save(PGconn *conn, pipeline_item_t *const *order, size_t n, char *err, size_t errlen)
{
    casefile_t **cfs = calloc(n ? n : 1, sizeof(*cfs));
    const casefile_plan_t **plans = calloc(n ? n : 1, sizeof(*plans));
    int rc = cfs != NULL && plans != NULL ? 0 : RESULT_TRANSIENT;

    if (rc != 0)
        snprintf(err, errlen, "out of memory");
    for (size_t k = 0; k < n && rc == 0; k++) {
        cfs[k] = order[k]->rc == RESULT_OK ? order[k]->cf : NULL;
        plans[k] = order[k]->plan;
    }
    if (rc == 0 && (rc = casestore_save_many(conn, cfs, plans, n, err, errlen)) != 0)
        rc = stage_failed(rc, "save", err);
    free(cfs);
    free(plans);
    return rc;
}

int pipeline_run_cases(const pipeline_ctx_t *ctx, PGconn *conn, pipeline_item_t *items, size_t n,
                       char *err, size_t errlen)
{
    pipeline_item_t **order = malloc((n ? n : 1) * sizeof(*order));
    int rc = order != NULL ? RESULT_OK : RESULT_TRANSIENT;

    if (order == NULL)
        snprintf(err, errlen, "out of memory");
    for (size_t i = 0; i < n && order != NULL; i++)
        order[i] = &items[i];
    if (rc == RESULT_OK) {
        qsort(order, n, sizeof(*order), by_case);
        rc = load(conn, order, n, err, errlen);
    }
    for (size_t i = 0; i < n && rc == RESULT_OK; i++)
        rc = decide(ctx, &items[i], err, errlen);
    if (rc == RESULT_OK)
        rc = save(conn, order, n, err, errlen);
    for (size_t i = 0; i < n && rc == RESULT_OK; i++) {
        if (items[i].rc != RESULT_OK)
            continue;
        rc = to_outbox(ctx, items[i].cf, items[i].plan, err, errlen);
        if (rc == RESULT_OK && items[i].h->observe != NULL)
            items[i].h->observe(items[i].cf);
    }
    free(order);
    return rc;
}

int pipeline_run_case(const pipeline_ctx_t *ctx, PGconn *conn, const char *creditor_id,
                      const char *debtor_id, const pipeline_handler_t *h, const ce_event_t *ev,
                      casefile_t *cf, casefile_plan_t *plan, reason_t *rej, char *err,
                      size_t errlen)
{
    pipeline_item_t it = {creditor_id, debtor_id, h, ev, cf, plan, {NULL, ""}, RESULT_OK, NULL};
    int rc = pipeline_run_cases(ctx, conn, &it, 1, err, errlen);

    *rej = it.rej;
    return rc == RESULT_OK ? it.rc : rc;
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

/* Counts one increment of a /metrics counter (pipeline_count_plan()'s sinks). */
typedef void (*count_fn)(void *ud, const char *name, const char *help, const char *labels);

static void count_plan(const casefile_plan_t *plan, count_fn inc, void *ud)
{
    char labels[128];
    for (size_t i = 0; i < plan->n_created; i++) {
        snprintf(labels, sizeof(labels), "action=\"%s\"", plan->created[i]);
        inc(ud, "recobro_tasks_created_total", "Tasks created, by action", labels);
    }
    for (size_t i = 0; i < plan->n_deferred; i++) {
        snprintf(labels, sizeof(labels), "reason=\"%s\"", plan->deferred[i]);
        inc(ud, "recobro_tasks_deferred_total", "Tasks deferred by the contact rules", labels);
    }
    for (size_t i = 0; i < plan->n_suppressed; i++) {
        snprintf(labels, sizeof(labels), "reason=\"%s\"", plan->suppressed[i]);
        inc(ud, "recobro_tasks_suppressed_total", "Tasks suppressed by the contact rules", labels);
    }
}

static void count_now(void *ud, const char *name, const char *help, const char *labels)
{
    (void)ud;
    metrics_inc(name, help, labels, 1);
}

/* Queued in the batch (ud: its wk_tx_t) and added once it committed (wk_tx_count()). */
static void count_after_commit(void *ud, const char *name, const char *help, const char *labels)
{
    if (wk_tx_count(ud, name, help, labels, 1) < 0)
        LOG_WARN("metrics.lost", "\"name\":\"%s\"", name);
}

void pipeline_count_plan(const casefile_plan_t *plan)
{
    count_plan(plan, count_now, NULL);
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
    int rc = wk_tx_cache_case(tx, cf->creditor_id, cf->debtor_id, key, json, cf->version) == 0
                 ? RESULT_OK
                 : RESULT_TRANSIENT;
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

/* An event of the batch on its way through the pipeline: its message, handler and case, and the
 * round it goes in (its rank among the batch's events of the same case). */
typedef struct pw_event {
    wk_msg_t *m;
    const pipeline_handler_t *h;
    const char *creditor_id, *debtor_id; /* borrowed from the event */
    size_t seq;                          /* its place in the batch */
    size_t round;
} pw_event_t;

/* Finds the event's handler and case; a message that has neither goes to the DLQ. Returns 0 when
 * the event goes on into *e, -1 when it was rejected. */
static int pw_event(pipeline_worker_t *pw, wk_msg_t *m, size_t seq, pw_event_t *e)
{
    const pipeline_handler_t *h = pipeline_find(pw->spec, m->ev.type);
    const char *creditor_id, *debtor_id;

    if (h == NULL) { /* pw_validate() let only the table's types through */
        wk_reject(m, "unknown_type", "type is not one the %s service consumes", pw->spec->service);
        return -1;
    }
    if (validate_case_ids(&m->ev, &creditor_id, &debtor_id) < 0) {
        wk_reject(m, "schema_violation", "data: creditor_id and debtor_id are required");
        return -1;
    }
    *e = (pw_event_t){m, h, creditor_id, debtor_id, seq, 0};
    return 0;
}

/* Orders events by case, then by their place in the batch (the partition's order). */
static int by_case_then_seq(const void *a, const void *b)
{
    const pw_event_t *x = a, *y = b;
    int c = strcmp(x->creditor_id, y->creditor_id);

    if (c == 0)
        c = strcmp(x->debtor_id, y->debtor_id);
    return c != 0 ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Sorts the events by case and numbers each case's events 0, 1, 2...: round r holds the r-th
 * event of every case, so a round has each case at most once. Returns the number of rounds. */
static size_t pw_rounds(pw_event_t *evs, size_t n)
{
    size_t rounds = 0;

    qsort(evs, n, sizeof(*evs), by_case_then_seq);
    for (size_t i = 0; i < n; i++) {
        int same = i > 0 && strcmp(evs[i].creditor_id, evs[i - 1].creditor_id) == 0 &&
                   strcmp(evs[i].debtor_id, evs[i - 1].debtor_id) == 0;
        evs[i].round = same ? evs[i - 1].round + 1 : 0;
        if (evs[i].round + 1 > rounds)
            rounds = evs[i].round + 1;
    }
    return rounds;
}

/* What an applied or rejected item leaves behind: its DLQ mark, or its hot case (written after
 * the commit), its counts (added after the commit) and its log line. */
static int pw_finish(pipeline_worker_t *pw, wk_tx_t *tx, pipeline_item_t *it, int64_t now)
{
    wk_msg_t *m = it->ud;

    if (it->rc == RESULT_REJECTED) {
        wk_reject(m, it->rej.code, "%s", it->rej.detail);
        return RESULT_OK;
    }
    int rc = to_cache(tx, it->cf, policyset_for(pw->policy.set, it->creditor_id), now);
    if (rc == RESULT_OK) {
        count_plan(it->plan, count_after_commit, tx);
        log_applied(it->cf, m->ev.type, it->plan);
    }
    return rc;
}

/* Round `r` of the batch: the r-th event of every case through the pipeline at once. */
static int pw_round(pipeline_worker_t *pw, wk_tx_t *tx, const pw_event_t *evs, size_t n, size_t r,
                    int64_t now)
{
    const config_t *cfg = wk_tx_config(tx);
    const pipeline_ctx_t ctx = {pw->policy.policy,      now,
                                pw->spec->source,       cfg->topic_tasks,
                                cfg->topic_case_events, wk_tx_outbox(tx),
                                pw->policy.set};
    pipeline_item_t *items = calloc(n, sizeof(*items));
    casefile_t *cfs = calloc(n, sizeof(*cfs));
    casefile_plan_t *plans = calloc(n, sizeof(*plans)); /* zeroed: CASEFILE_PLAN_INIT */
    size_t k = 0;
    char err[600];
    int rc = items != NULL && cfs != NULL && plans != NULL ? RESULT_OK : RESULT_TRANSIENT;

    for (size_t i = 0; i < n && rc == RESULT_OK; i++) {
        if (evs[i].round != r)
            continue;
        items[k] = (pipeline_item_t){evs[i].creditor_id, evs[i].debtor_id, evs[i].h,
                                     &evs[i].m->ev,      &cfs[k],          &plans[k],
                                     {NULL, ""},         RESULT_OK,        evs[i].m};
        k++;
    }
    if (rc == RESULT_OK)
        rc = pipeline_run_cases(&ctx, wk_tx_conn(tx), items, k, err, sizeof(err));
    for (size_t j = 0; j < k && rc == RESULT_OK; j++)
        rc = pw_finish(pw, tx, &items[j], now);
    for (size_t j = 0; j < k; j++) {
        casefile_plan_clear(&plans[j]);
        casefile_clear(&cfs[j]);
    }
    free(items);
    free(cfs);
    free(plans);
    return rc;
}

/* The batch through the pipeline in rounds (pw_rounds()): each round loads its cases in one
 * round trip and saves them in another, and sees what the rounds before it saved, so every event
 * meets its case exactly as it would alone, in the partition's order. */
static int pw_apply(void *ud, wk_tx_t *tx, wk_msg_t *const *msgs, size_t n)
{
    pipeline_worker_t *pw = ud;
    char err[600];
    int rc = policystore_refresh(&pw->policy, wk_tx_conn(tx), err, sizeof(err));
    int64_t now = clock_now();
    pw_event_t *evs = calloc(n ? n : 1, sizeof(*evs));
    size_t ne = 0;

    if (rc != 0 || evs == NULL) {
        free(evs);
        return RESULT_TRANSIENT; /* a policy is always held after the start */
    }
    for (size_t i = 0; i < n; i++)
        if (pw_event(pw, msgs[i], i, &evs[ne]) == 0)
            ne++;
    size_t rounds = pw_rounds(evs, ne);
    rc = RESULT_OK;
    for (size_t r = 0; r < rounds && rc == RESULT_OK; r++)
        rc = pw_round(pw, tx, evs, ne, r, now);
    free(evs);
    return rc;
}

/* The cases killed processes owed the cache, re-written under the policies in force. */
static int pw_rewrite_owed(void *ud, PGconn *conn, cache_t *cache, int min_age_s, char *err,
                           size_t errlen)
{
    pipeline_worker_t *pw = ud;

    return cacheowed_rewrite(conn, cache, pw->policy.set, clock_now(), min_age_s, 20, err, errlen);
}

/* Connects once to read the active policy (importing RECOBRO_POLICY_FILE into an empty table).
 * Returns 0, or -1 with a one-line reason in err. */
static int read_policy(pipeline_worker_t *pw, const config_t *cfg, char *err, size_t errlen)
{
    char app[64];

    pw->policy = (policy_holder_t){NULL, PIPELINE_POLICY_CHECK_US, 0, cfg->policy_file, NULL, NULL};
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
    wk_handler_t h = {spec->service, pw_validate, pw_connect, pw_apply, &pw, pw_rewrite_owed};
    const char *topics[] = {(const char *)&cfg + spec->topic};
    rc = wk_run(&cfg, topics, 1, &h);
    policystore_holder_clear(&pw.policy);
    return rc;
}
