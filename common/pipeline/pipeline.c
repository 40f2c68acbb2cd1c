/* pipeline.c - the one case pipeline and the case worker around it (see pipeline.h). */
#include "pipeline.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cacheowed.h"
#include "casecarry.h"
#include "casecharge.h"
#include "casestore.h"
#include "clock.h"
#include "grow.h"
#include "interactstore.h"
#include "jsonout.h"
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

/* One output written as text without building its envelope (ce_case_output_text()). Returns 0,
 * or -1 when the text could not be written that way (the envelope tree then decides). */
static int to_outbox_text(const pipeline_ctx_t *ctx, const char *topic, const char *key,
                          const casefile_t *cf, const casefile_output_t *o)
{
    size_t len;
    char *text = ce_case_output_text(o->id, ctx->source, o->type, o->at, cf->creditor_id,
                                     cf->debtor_id, o->data, &len);
    int rc = text != NULL ? outbox_add_event_text(ctx->outbox, topic, key, text, len, o->id) : -1;

    free(text);
    return rc;
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
        if (to_outbox_text(ctx, topic, key, cf, o) == 0)
            continue;
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
    char *json = doc != NULL ? jsonout_dumps(doc) : NULL;
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

/* Case files kept zeroed between batches (casefile_clear() zeroes them): a batch took a 16 KB
 * calloc per case and freed them all again, and the frees made glibc consolidate its small
 * chunks each time (5% of the overdue worker with the memset). Bounded; the lock in case batches
 * are ever applied on more than one thread. */
#define PW_SPARE_MAX 4096
typedef struct pw_block {
    void *p; /* NULL, or `size` bytes no batch is using */
    size_t size;
} pw_block_t;

typedef struct pw_spare {
    GMutex lock;
    casefile_t **files;
    size_t n, cap;
    pw_block_t evs, cases; /* the last batch's arrays, for the next (the same reason) */
} pw_spare_t;

typedef struct pipeline_worker {
    const pipeline_spec_t *spec; /* borrowed */
    policy_holder_t policy;
    bool check; /* RECOBRO_TEST_CARRY_CHECK (TEST ONLY): every carry checked against a reload */
    pw_spare_t spare;
} pipeline_worker_t;

/* A zeroed case file from the spares, or a new one; NULL when out of memory. */
static casefile_t *spare_take(pw_spare_t *sp)
{
    casefile_t *cf = NULL;

    g_mutex_lock(&sp->lock);
    if (sp->n > 0)
        cf = sp->files[--sp->n];
    g_mutex_unlock(&sp->lock);
    return cf != NULL ? cf : calloc(1, sizeof(*cf));
}

/* Clears cf and keeps it for a later batch (or frees it past PW_SPARE_MAX). */
static void spare_give(pw_spare_t *sp, casefile_t *cf)
{
    casefile_clear(cf); /* zeroes it */
    g_mutex_lock(&sp->lock);
    /* Room for one more until the capacity reached PW_SPARE_MAX (a failed growth: freed). */
    if ((sp->n < sp->cap || sp->cap < PW_SPARE_MAX) && GROW(sp->files, sp->cap, sp->n, 64) == 0) {
        sp->files[sp->n++] = cf;
        cf = NULL;
    }
    g_mutex_unlock(&sp->lock);
    free(cf);
}

/* `size` zeroed bytes, from the block kept in *blk when it is large enough; *cap gets the size
 * of what it returns (give that back to block_give()). NULL when out of memory. */
static void *block_take(pw_spare_t *sp, pw_block_t *blk, size_t size, size_t *cap)
{
    g_mutex_lock(&sp->lock);
    pw_block_t got = *blk;
    *blk = (pw_block_t){NULL, 0};
    g_mutex_unlock(&sp->lock);
    if (got.p != NULL && got.size >= size) {
        memset(got.p, 0, size);
        *cap = got.size;
        return got.p;
    }
    free(got.p);
    *cap = size;
    return calloc(1, size);
}

/* Keeps p (`cap` bytes, from block_take()) for the next batch, or frees it. */
static void block_give(pw_spare_t *sp, pw_block_t *blk, void *p, size_t cap)
{
    g_mutex_lock(&sp->lock);
    if (blk->p == NULL) {
        *blk = (pw_block_t){p, cap};
        p = NULL;
    }
    g_mutex_unlock(&sp->lock);
    free(p);
}

static void spare_free(pw_spare_t *sp)
{
    for (size_t i = 0; i < sp->n; i++)
        free(sp->files[i]);
    free(sp->files);
    free(sp->evs.p);
    free(sp->cases.p);
    g_mutex_clear(&sp->lock);
}

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

/* ---- A batch: every case loaded once, its events applied in memory, saved once ---------------
 * The batch's events are grouped by case, in the partition's order. A round loads and locks each
 * case that still has events in one round trip, applies its events one after the other in
 * memory (casecarry.h settles the case after each, so the next meets it exactly as a reload
 * would show it, each event with its own plan and outputs), and saves every case once, in one
 * round trip, with the union of what its events changed. A case goes on in a further round only
 * where carrying is not exact: its next event names rows to load (payments, promises, plans,
 * disputes), or the one before wrote payments, promise or plan rows, a forbearance, used
 * credit, ... (casecarry_settle()), or an event carried in memory was rejected (the case is then
 * re-run one event per round, so a rejected event leaves it exactly as before). On the overdue
 * worker's batches that is one round; contact attempts, contact preferences and disputes opened
 * carry too (their rows are kept aside in order and written by the one save). The outputs go
 * into the outbox in the order the rounds-per-event pipeline gave them: every case's first event,
 * then every case's second... */

/* An event of the batch on its way through the pipeline. */
typedef struct pw_event {
    wk_msg_t *m;
    const pipeline_handler_t *h;
    const char *creditor_id, *debtor_id; /* borrowed from the event */
    size_t seq;                          /* its place in the batch */
    size_t rank;                         /* its place among its case's events */
    casefile_t *cf;                      /* the case file it was applied to (the batch's) */
    casefile_plan_t plan;
    reason_t rej;
    int rc;          /* once applied: RESULT_OK or RESULT_REJECTED */
    bool applied;    /* decided, and its case saved or its rejection final */
    int task_report; /* its rows.task_report (the case file's is the last event's): observe() */
} pw_event_t;

/* A case of the batch: its events and what the current round made of it. */
typedef struct pw_case {
    pw_event_t *evs; /* its events, in the partition's order (in the batch's array) */
    size_t n, next;  /* next: the first not applied yet */
    bool single;     /* one event per round from here on (a carried event was rejected) */
    bool save;       /* this round applied an event to cf */
    bool checked;    /* RECOBRO_TEST_CARRY_CHECK saved it in the middle of this round */
    casefile_t *cf;  /* this round's case file (the batch's) */
    casecarry_t cc;
    size_t batch_tasks;     /* pending tasks it saved in this transaction (casecarry_begin()) */
    casestore_hist_t *hist; /* segment changes of this round's events: owned shallow copies */
    size_t nhist, caphist;
} pw_case_t;

typedef struct pw_batch {
    pipeline_worker_t *pw;
    wk_tx_t *tx;
    pipeline_ctx_t ctx;
    pw_event_t *evs;
    size_t ne;
    pw_case_t *cases;
    size_t nc;
    casefile_t **files; /* every round's case files, freed with the batch */
    size_t nfiles, capfiles;
    size_t evs_cap, cases_cap;  /* bytes at evs and cases (block_take()) */
    size_t checked, mismatches; /* RECOBRO_TEST_CARRY_CHECK */
} pw_batch_t;

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
    *e = (pw_event_t){
        .m = m, .h = h, .creditor_id = creditor_id, .debtor_id = debtor_id, .seq = seq};
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

static bool same_case(const pw_event_t *a, const pw_event_t *b)
{
    return strcmp(a->creditor_id, b->creditor_id) == 0 && strcmp(a->debtor_id, b->debtor_id) == 0;
}

/* Sorts the events by case and groups them into b->cases (in (creditor_id, debtor_id) order: the
 * order rows are locked in). Returns 0 or -1 (out of memory). */
static int pw_group(pw_batch_t *b)
{
    qsort(b->evs, b->ne, sizeof(*b->evs), by_case_then_seq);
    b->cases = block_take(&b->pw->spare, &b->pw->spare.cases,
                          (b->ne ? b->ne : 1) * sizeof(*b->cases), &b->cases_cap);
    if (b->cases == NULL)
        return -1;
    for (size_t i = 0; i < b->ne; i++) {
        if (i == 0 || !same_case(&b->evs[i], &b->evs[i - 1]))
            b->cases[b->nc++] = (pw_case_t){.evs = &b->evs[i], .cc = CASECARRY_INIT};
        pw_case_t *c = &b->cases[b->nc - 1];
        b->evs[i].rank = c->n++;
    }
    return 0;
}

/* A new zeroed case file owned by the batch, or NULL when out of memory. */
static casefile_t *pw_file(pw_batch_t *b)
{
    if (GROW(b->files, b->capfiles, b->nfiles, 64) != 0)
        return NULL;
    casefile_t *cf = spare_take(&b->pw->spare);
    if (cf != NULL)
        b->files[b->nfiles++] = cf;
    return cf;
}

/* The pipeline's item for event e on case file cf. */
static pipeline_item_t pw_item(pw_event_t *e, casefile_t *cf)
{
    return (pipeline_item_t){e->creditor_id, e->debtor_id, e->h,      &e->m->ev, cf,
                             &e->plan,       {NULL, ""},   RESULT_OK, e->m};
}

/* Loads and locks, in one round trip, the `k` cases of `act` (in case order) with the rows their
 * next event asks for. */
static int pw_load(pw_batch_t *b, pw_case_t **act, size_t k, char *err, size_t errlen)
{
    pipeline_item_t *items = calloc(k ? k : 1, sizeof(*items));
    pipeline_item_t **order = calloc(k ? k : 1, sizeof(*order));
    int rc = items != NULL && order != NULL ? RESULT_OK : RESULT_TRANSIENT;

    for (size_t i = 0; i < k && rc == RESULT_OK; i++) {
        act[i]->cf = pw_file(b);
        if (act[i]->cf == NULL)
            rc = RESULT_TRANSIENT;
        else
            items[i] = pw_item(&act[i]->evs[act[i]->next], act[i]->cf);
        order[i] = &items[i];
    }
    if (rc == RESULT_OK)
        rc = load(wk_tx_conn(b->tx), order, k, err, errlen);
    else
        snprintf(err, errlen, "out of memory");
    for (size_t i = 0; i < k && rc == RESULT_OK; i++)
        casecarry_begin(&act[i]->cc, act[i]->cf, act[i]->batch_tasks);
    free(items);
    free(order);
    return rc;
}

/* Keeps the segment_history row of an event whose planning changed the segment, as the case
 * stands now (casestore_save_batch()). */
static int pw_keep_history(pw_case_t *c, pw_event_t *e)
{
    if (!e->plan.segment_changed)
        return RESULT_OK;
    if (GROW(c->hist, c->caphist, c->nhist, 4) != 0)
        return RESULT_TRANSIENT;
    casefile_t *copy = malloc(sizeof(*copy));
    if (copy == NULL)
        return RESULT_TRANSIENT;
    memcpy(copy, c->cf, sizeof(*copy)); /* shallow: the history reads scalars only */
    c->hist[c->nhist++] = (casestore_hist_t){copy, &e->plan};
    return RESULT_OK;
}

static void pw_forget_history(pw_case_t *c)
{
    for (size_t i = 0; i < c->nhist; i++)
        free((void *)c->hist[i].cf);
    c->nhist = 0;
}

/* A carried event of case c was rejected: what its round did so far is dropped (nothing of it
 * was saved) and the case is re-run from the round's first event, one event per round. */
static void pw_rerun(pw_case_t *c, size_t from)
{
    for (size_t j = from; j < c->n && c->evs[j].cf == c->cf; j++) {
        casefile_plan_clear(&c->evs[j].plan);
        c->evs[j].cf = NULL;
        c->evs[j].applied = false;
    }
    casecarry_saved(&c->cc);
    pw_forget_history(c);
    c->next = from;
    c->single = true;
    c->save = false;
}

static int pw_check_carry(pw_batch_t *b, pw_case_t *c, char *err, size_t errlen);

/* Whether event e of case c can meet the case as the events before it left it in memory. */
static bool pw_carries(const pw_case_t *c, const pw_event_t *e, int settled)
{
    return !c->single && settled == 0 && e->h->load == 0;
}

/* Case c's events from c->next on, in memory, as far as carrying is exact. */
static int pw_run_case(pw_batch_t *b, pw_case_t *c, char *err, size_t errlen)
{
    size_t from = c->next;
    int settled = 0, rc = RESULT_OK;

    c->save = c->checked = false;
    for (size_t i = from; i < c->n && rc == RESULT_OK; i++) {
        pw_event_t *e = &c->evs[i];
        if (i > from) {
            if (!pw_carries(c, e, settled))
                break;
            if (b->pw->check && (rc = pw_check_carry(b, c, err, errlen)) != RESULT_OK)
                break;
            c->cf->rows.event_data = e->m->ev.data;
            c->cf->rows.event_source = e->m->ev.source;
            c->cf->rows.event_id = e->m->ev.id;
        }
        pipeline_item_t it = pw_item(e, c->cf);
        if ((rc = decide(&b->ctx, &it, err, errlen)) != RESULT_OK)
            break;
        e->cf = c->cf;
        e->rc = it.rc;
        e->rej = it.rej;
        e->task_report = c->cf->rows.task_report;
        if (it.rc == RESULT_REJECTED && i > from) {
            if (c->checked) { /* its earlier events are saved already: isolate them */
                snprintf(err, errlen, "carry check: a carried event was rejected");
                return RESULT_PERMANENT;
            }
            pw_rerun(c, from);
            break;
        }
        e->applied = true;
        c->next = i + 1;
        if (it.rc == RESULT_REJECTED)
            break; /* the round's first event: nothing of the case is saved */
        c->save = true;
        if ((rc = pw_keep_history(c, e)) == RESULT_OK &&
            (settled = casecarry_settle(c->cf, &c->cc)) < 0)
            rc = RESULT_TRANSIENT;
        if (rc != RESULT_OK)
            snprintf(err, errlen, "out of memory");
    }
    return rc;
}

/* Sends the save of the `k` cases of `act` that took an event, in one round trip: each case's
 * row state, and the task rows and segment history its events left (casecarry.h); *saving then
 * awaits its results (pw_save_wait()). On return the cases stand as saved. */
static int pw_save_send(pw_batch_t *b, pw_case_t **act, size_t k, casestore_saving_t **saving,
                        char *err, size_t errlen)
{
    casefile_t **cfs = calloc(k ? k : 1, sizeof(*cfs));
    const casefile_plan_t **plans = calloc(k ? k : 1, sizeof(*plans));
    size_t nh = 0, nr = 0, j = 0, m = 0;
    int rc = cfs != NULL && plans != NULL ? RESULT_OK : RESULT_TRANSIENT;

    for (size_t i = 0; i < k; i++) {
        nh += act[i]->save ? act[i]->nhist : 0;
        nr += act[i]->save ? act[i]->cc.n_recs : 0;
    }
    casestore_hist_t *hist = calloc(nh ? nh : 1, sizeof(*hist));
    casestore_rec_t *recs = calloc(nr ? nr : 1, sizeof(*recs));
    if (rc != RESULT_OK || hist == NULL || recs == NULL) {
        free(cfs);
        free(plans);
        free(hist);
        free(recs);
        snprintf(err, errlen, "out of memory");
        return RESULT_TRANSIENT;
    }
    for (size_t i = 0; i < k; i++) {
        if (!act[i]->save)
            continue;
        cfs[i] = act[i]->cf;
        for (size_t r = 0; r < act[i]->cc.n_recs; r++)
            recs[m++] = (casestore_rec_t){act[i]->cf, &act[i]->cc.recs[r]};
        casecarry_swap(act[i]->cf, &act[i]->cc);
        for (size_t h = 0; h < act[i]->nhist; h++)
            hist[j++] = act[i]->hist[h];
    }
    rc = casestore_save_send(wk_tx_conn(b->tx), cfs, plans, k, hist, nh, recs, nr, saving, err,
                             errlen);
    if (rc != 0)
        rc = stage_failed(rc, "save", err);
    for (size_t i = 0; i < k; i++) {
        if (!act[i]->save)
            continue;
        casecarry_swap(act[i]->cf, &act[i]->cc);
        casecarry_saved(&act[i]->cc);
        pw_forget_history(act[i]);
        act[i]->batch_tasks = casecarry_batch_tasks(&act[i]->cc, act[i]->cf);
    }
    free(cfs);
    free(plans);
    free(hist);
    free(recs);
    return rc;
}

/* The results of a save sent by pw_save_send() (NULL: none). */
static int pw_save_wait(casestore_saving_t *saving, char *err, size_t errlen)
{
    int rc = casestore_save_wait(saving, err, errlen);

    return rc != 0 ? stage_failed(rc, "save", err) : RESULT_OK;
}

/* pw_save_send() and its results at once. */
static int pw_save(pw_batch_t *b, pw_case_t **act, size_t k, char *err, size_t errlen)
{
    casestore_saving_t *saving = NULL;
    int rc = pw_save_send(b, act, k, &saving, err, errlen);

    return rc != RESULT_OK ? rc : pw_save_wait(saving, err, errlen);
}

/* ---- RECOBRO_TEST_CARRY_CHECK (TEST ONLY): every carried case against a reload ----------------
 * With RECOBRO_TEST_CARRY_CHECK=1 in its environment, the worker checks the carry: before each
 * event it applies in memory it saves the case as it stands and reloads it from PostgreSQL, and
 * after each round it reloads every case it saved; each reload must equal the case in memory
 * field by field (casecarry_diff()), else a "carry.mismatch" error line names the field. Each
 * batch logs "carry.check" with its counts. Slower, and a carried event rejected after a check's
 * save fails the batch (the worker then isolates its events): for tests only. */

/* Reloads the `k` cases and compares each with the case in memory. */
static int pw_compare(pw_batch_t *b, casefile_t *const *mem, size_t k, char *err, size_t errlen)
{
    casestore_req_t *reqs = calloc(k ? k : 1, sizeof(*reqs));
    casefile_t *got = calloc(k ? k : 1, sizeof(*got));
    int rc = reqs != NULL && got != NULL ? 0 : RESULT_TRANSIENT;

    for (size_t i = 0; i < k && rc == 0; i++)
        reqs[i] = (casestore_req_t){mem[i]->creditor_id, mem[i]->debtor_id, 0, NULL, &got[i], NULL};
    if (rc == 0)
        rc = casestore_load_many(wk_tx_conn(b->tx), reqs, k, err, errlen);
    for (size_t i = 0; i < k && rc == 0; i++) {
        char what[64], ec[300], ed[300];
        b->checked++;
        if (casecarry_diff(mem[i], &got[i], what, sizeof(what)) == 0)
            continue;
        b->mismatches++;
        LOG_ERROR("carry.mismatch", "\"creditor_id\":\"%s\",\"debtor_id\":\"%s\",\"field\":\"%s\"",
                  log_json_escape(mem[i]->creditor_id, ec, sizeof(ec)),
                  log_json_escape(mem[i]->debtor_id, ed, sizeof(ed)), what);
    }
    for (size_t i = 0; i < k && got != NULL; i++)
        casefile_clear(&got[i]);
    free(got);
    free(reqs);
    return rc == 0 ? RESULT_OK : stage_failed(rc, "carry check", err);
}

/* Before an event meets case c in memory: the case saved as it stands, then compared with a
 * reload. */
static int pw_check_carry(pw_batch_t *b, pw_case_t *c, char *err, size_t errlen)
{
    pw_case_t *act[1] = {c};
    casefile_t *mem[1] = {c->cf};
    int rc = pw_save(b, act, 1, err, errlen);

    c->checked = true;
    return rc == RESULT_OK ? pw_compare(b, mem, 1, err, errlen) : rc;
}

/* After a round's save: every case it saved compared with a reload. */
static int pw_check_saved(pw_batch_t *b, pw_case_t **act, size_t k, char *err, size_t errlen)
{
    casefile_t **mem = calloc(k ? k : 1, sizeof(*mem));
    size_t m = 0;

    if (mem == NULL) {
        snprintf(err, errlen, "out of memory");
        return RESULT_TRANSIENT;
    }
    for (size_t i = 0; i < k; i++)
        if (act[i]->save)
            mem[m++] = act[i]->cf;
    int rc = pw_compare(b, mem, m, err, errlen);
    free(mem);
    return rc;
}

/* One round: the cases with events left, loaded once, run, saved once. Sets *more when a case
 * still has events. The last round (none has) leaves its save's results to read in *saving, so
 * the outputs are built while PostgreSQL runs it (pw_emit()). */
static int pw_round(pw_batch_t *b, bool *more, casestore_saving_t **saving, char *err,
                    size_t errlen)
{
    pw_case_t **act = calloc(b->nc ? b->nc : 1, sizeof(*act));
    size_t k = 0;
    int rc = act != NULL ? RESULT_OK : RESULT_TRANSIENT;

    if (act == NULL)
        snprintf(err, errlen, "out of memory");
    for (size_t i = 0; i < b->nc && act != NULL; i++)
        if (b->cases[i].next < b->cases[i].n)
            act[k++] = &b->cases[i];
    if (rc == RESULT_OK)
        rc = pw_load(b, act, k, err, errlen);
    for (size_t i = 0; i < k && rc == RESULT_OK; i++)
        rc = pw_run_case(b, act[i], err, errlen);
    *more = false;
    for (size_t i = 0; i < k && rc == RESULT_OK; i++)
        *more = *more || act[i]->next < act[i]->n;
    if (rc == RESULT_OK && !*more && !b->pw->check)
        rc = pw_save_send(b, act, k, saving, err, errlen);
    else if (rc == RESULT_OK)
        rc = pw_save(b, act, k, err, errlen);
    if (rc == RESULT_OK && b->pw->check)
        rc = pw_check_saved(b, act, k, err, errlen);
    free(act);
    return rc;
}

/* What an applied event leaves in the outbox (its outputs) and, the last applied event of its
 * case, the hot case queued for the cache (written after the commit): built while PostgreSQL runs
 * the batch's last save, and dropped with the transaction when that save fails. */
static int pw_finish_out(pw_batch_t *b, pw_event_t *e, bool last)
{
    if (e->rc == RESULT_REJECTED)
        return RESULT_OK;
    char err[600];
    int rc = to_outbox(&b->ctx, e->cf, &e->plan, err, sizeof(err));
    if (rc != RESULT_OK)
        return stage_failed(rc, "outbox", err);
    return last ? to_cache(b->tx, e->cf, policyset_for(b->pw->policy.set, e->creditor_id),
                           b->ctx.now)
                : RESULT_OK;
}

/* The rest, once the save succeeded: a rejected event's DLQ mark, or an applied one's handler
 * observation, its counts (added after the commit) and its log line. */
static int pw_finish_rest(pw_batch_t *b, pw_event_t *e, bool last)
{
    (void)last;
    if (e->rc == RESULT_REJECTED) {
        wk_reject(e->m, e->rej.code, "%s", e->rej.detail);
        return RESULT_OK;
    }
    if (e->h->observe != NULL) {
        e->cf->rows.task_report = e->task_report; /* what this event of the case did */
        e->h->observe(e->cf);
    }
    count_plan(&e->plan, count_after_commit, b->tx);
    log_applied(e->cf, e->m->ev.type, &e->plan);
    return RESULT_OK;
}

typedef int (*pw_finish_fn)(pw_batch_t *b, pw_event_t *e, bool last);

/* fn on every applied event, every case's first event first, then every second one... (the
 * order the rounds-per-event pipeline gave the outputs); `last`: no later event of its case was
 * applied. */
static int pw_each(pw_batch_t *b, pw_finish_fn fn)
{
    int rc = RESULT_OK;
    bool any = true;

    for (size_t r = 0; any && rc == RESULT_OK; r++) {
        any = false;
        for (size_t i = 0; i < b->nc && rc == RESULT_OK; i++) {
            pw_case_t *c = &b->cases[i];
            if (r >= c->n)
                continue;
            any = true;
            bool last = true;
            for (size_t j = r + 1; j < c->n; j++)
                last = last && !(c->evs[j].applied && c->evs[j].rc == RESULT_OK);
            if (c->evs[r].applied)
                rc = fn(b, &c->evs[r], last);
        }
    }
    return rc;
}

/* Every event's outputs, built while the last round's save (`saving`, or NULL) runs; then its
 * results; then, if it succeeded, the rest. A failed save fails the batch as before (its built
 * outputs and cache writes go with the rolled-back attempt: worker.c). */
static int pw_emit(pw_batch_t *b, casestore_saving_t *saving)
{
    char err[600];
    int rc = pw_each(b, pw_finish_out);
    int saved = pw_save_wait(saving, err, sizeof(err));

    if (saved != RESULT_OK)
        return saved;
    return rc == RESULT_OK ? pw_each(b, pw_finish_rest) : rc;
}

static void pw_free(pw_batch_t *b)
{
    for (size_t i = 0; i < b->ne; i++)
        casefile_plan_clear(&b->evs[i].plan);
    for (size_t i = 0; i < b->nc; i++) {
        casecarry_clear(&b->cases[i].cc);
        pw_forget_history(&b->cases[i]);
        free(b->cases[i].hist);
    }
    for (size_t i = 0; i < b->nfiles; i++)
        spare_give(&b->pw->spare, b->files[i]);
    free(b->files);
    if (b->cases != NULL)
        block_give(&b->pw->spare, &b->pw->spare.cases, b->cases, b->cases_cap);
    block_give(&b->pw->spare, &b->pw->spare.evs, b->evs, b->evs_cap);
}

/* The batch through the pipeline (see "A batch" above). */
static int pw_apply(void *ud, wk_tx_t *tx, wk_msg_t *const *msgs, size_t n)
{
    pipeline_worker_t *pw = ud;
    char err[600];
    int rc = policystore_refresh(&pw->policy, wk_tx_conn(tx), err, sizeof(err));
    const config_t *cfg = wk_tx_config(tx);
    pw_batch_t b = {.pw = pw,
                    .tx = tx,
                    .ctx = {pw->policy.policy, clock_now(), pw->spec->source, cfg->topic_tasks,
                            cfg->topic_case_events, wk_tx_outbox(tx), pw->policy.set}};

    b.evs = block_take(&pw->spare, &pw->spare.evs, (n ? n : 1) * sizeof(*b.evs), &b.evs_cap);
    if (rc != 0 || b.evs == NULL) {
        if (b.evs != NULL)
            block_give(&pw->spare, &pw->spare.evs, b.evs, b.evs_cap);
        return RESULT_TRANSIENT; /* a policy is always held after the start */
    }
    for (size_t i = 0; i < n; i++)
        if (pw_event(pw, msgs[i], i, &b.evs[b.ne]) == 0)
            b.ne++;
    rc = pw_group(&b) == 0 ? RESULT_OK : RESULT_TRANSIENT;
    bool more = b.ne > 0;
    size_t rounds = 0, most = 0;
    casestore_saving_t *saving = NULL; /* the last round's save, its results not read yet: set
                                        * only by a round that succeeded, and it is the last */
    while (more && rc == RESULT_OK) {
        rounds++;
        rc = pw_round(&b, &more, &saving, err, sizeof(err));
    }
    for (size_t i = 0; i < b.nc; i++)
        most = b.cases[i].n > most ? b.cases[i].n : most;
    LOG_DEBUG("batch.rounds", "\"events\":%zu,\"cases\":%zu,\"most\":%zu,\"rounds\":%zu", b.ne,
              b.nc, most, rounds);
    if (rc == RESULT_OK)
        rc = pw_emit(&b, saving);
    if (pw->check)
        LOG_INFO("carry.check", "\"events\":%zu,\"checked\":%zu,\"mismatches\":%zu", b.ne,
                 b.checked, b.mismatches);
    pw_free(&b);
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
    const char *check = getenv("RECOBRO_TEST_CARRY_CHECK");
    pipeline_worker_t pw = {.spec = spec, .check = check != NULL && strcmp(check, "1") == 0};
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
    g_mutex_init(&pw.spare.lock);
    wk_handler_t h = {spec->service, pw_validate, pw_connect, pw_apply, &pw, pw_rewrite_owed};
    const char *topics[] = {(const char *)&cfg + spec->topic};
    rc = wk_run(&cfg, topics, 1, &h);
    policystore_holder_clear(&pw.policy);
    spare_free(&pw.spare);
    return rc;
}
