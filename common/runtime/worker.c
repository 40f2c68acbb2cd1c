/* worker.c - the consume loop with exactly-once effects (see worker.h). */
#include "worker.h"

#include <glib.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attempts.h"
#include "backoff.h"
#include "cache.h"
#include "cacheowe.h"
#include "clock.h"
#include "grow.h"
#include "http.h"
#include "kafka.h"
#include "lag.h"
#include "log.h"
#include "metrics.h"
#include "pg.h"
#include "pgpipe.h"

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig)
{
    (void)sig;
    if (stop_requested)
        _exit(1); /* second signal: the operator wants out now */
    stop_requested = 1;
}

volatile sig_atomic_t *wk_install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return &stop_requested;
}

volatile sig_atomic_t *wk_stop_flag(void)
{
    return &stop_requested;
}

typedef struct cache_write {
    char *key, *json;
    char *creditor_id, *debtor_id; /* NULL: not recorded in cache_owed */
    int64_t version;
} cache_write_t;

/* A counter increment a handler asked for, added to /metrics only once the batch committed. */
typedef struct count_write {
    const char *name, *help; /* static */
    char *labels;            /* NULL: none */
    long n;
} count_write_t;

typedef struct worker {
    const config_t *cfg;
    const wk_handler_t *h;
    const char *const *topics;
    size_t ntopics;
    rd_kafka_t *rk;
    char app[64]; /* application_name, borrowed by db */
    pg_session_t db;
    PGconn *conn; /* db.conn while connected, NULL otherwise */
    cache_t *cache;
    outbox_t *outbox;
    http_server_t *http;
    backoff_t backoff;
    wk_msg_t *batch;
    size_t n, cap;
    /* One message at a time (process_one_by_one()): the batch is one message, the rest wait
     * here, from heldpos on, and messages polled meanwhile join them. */
    int one_by_one;
    wk_msg_t *held;
    size_t heldpos, nheld, capheld;
    /* The next batch: messages polled while a batch is in hand (in_hand), most of them while its
     * COMMIT runs in PostgreSQL (prepare_next()), parsed and validated already; they come after
     * the batch in every partition and become the batch once it is done (process_batch()). */
    int in_hand;
    wk_msg_t *next;
    size_t nnext, capnext;
    int64_t next_first_us, batch_first_us; /* when their first message was polled */
    /* The batch's COMMIT sent and not read yet (commit_send(), commit_finish()): nothing else
     * may use the connection meanwhile, and a rebalance reads it first. */
    int committing;
    int commit_rc; /* commit_finish()'s answer, kept for a second call */
    pgpipe_stmt_t cst[4];
    size_t ncst;
    int64_t commit_owed_id;
    cache_write_t *writes;
    size_t nwrites, capwrites;
    count_write_t *counts;
    size_t ncounts, capcounts;
    int cache_backlog;  /* cache_pending may hold rows */
    int64_t owed_id;    /* the committed batch's cache_owed record, 0: none */
    int outbox_written; /* the batch's transaction wrote outbox rows (a NOTIFY is due) */
    int dedupe_clean;   /* batches in a row whose dedupe found no duplicate (begin_dedupe()) */
    int64_t next_owed_us;
    int64_t next_drain_us, next_lag_us, next_forget_us;
    atomic_int ready;
    atomic_int pg_ok;
    atomic_int rebalanced;
} worker_t;

struct wk_tx {
    worker_t *w;
};

PGconn *wk_tx_conn(wk_tx_t *tx)
{
    return tx->w->conn;
}

outbox_t *wk_tx_outbox(wk_tx_t *tx)
{
    return tx->w->outbox;
}

const config_t *wk_tx_config(wk_tx_t *tx)
{
    return tx->w->cfg;
}

int wk_tx_cache(wk_tx_t *tx, const char *key, const char *json, int64_t version)
{
    return wk_tx_cache_case(tx, NULL, NULL, key, json, version);
}

int wk_tx_cache_case(wk_tx_t *tx, const char *creditor_id, const char *debtor_id, const char *key,
                     const char *json, int64_t version)
{
    worker_t *w = tx->w;

    if (GROW(w->writes, w->capwrites, w->nwrites, 64) != 0)
        return -1;
    cache_write_t *cw = &w->writes[w->nwrites];
    cw->key = strdup(key);
    cw->json = strdup(json);
    cw->version = version;
    cw->creditor_id = creditor_id != NULL ? strdup(creditor_id) : NULL;
    cw->debtor_id = debtor_id != NULL ? strdup(debtor_id) : NULL;
    if (cw->key == NULL || cw->json == NULL || (creditor_id != NULL && cw->creditor_id == NULL) ||
        (debtor_id != NULL && cw->debtor_id == NULL)) {
        free(cw->key);
        free(cw->json);
        free(cw->creditor_id);
        free(cw->debtor_id);
        return -1;
    }
    w->nwrites++;
    return 0;
}

int wk_tx_count(wk_tx_t *tx, const char *name, const char *help, const char *labels, long n)
{
    worker_t *w = tx->w;

    if (GROW(w->counts, w->capcounts, w->ncounts, 64) != 0)
        return -1;
    count_write_t *c = &w->counts[w->ncounts];
    *c = (count_write_t){name, help, labels != NULL ? strdup(labels) : NULL, n};
    if (labels != NULL && c->labels == NULL)
        return -1;
    w->ncounts++;
    return 0;
}

/* Forgets the counter increments queued after the first `keep` (a rollback undid them). */
static void drop_counts(worker_t *w, size_t keep)
{
    while (w->ncounts > keep)
        free(w->counts[--w->ncounts].labels);
}

/* Adds the committed batch's counter increments to /metrics. */
static void apply_counts(worker_t *w)
{
    for (size_t i = 0; i < w->ncounts; i++)
        metrics_inc(w->counts[i].name, w->counts[i].help, w->counts[i].labels,
                    (double)w->counts[i].n);
    drop_counts(w, 0);
}

/* Frees the queued cache writes after the first `keep`. */
static void drop_cache_writes(worker_t *w, size_t keep)
{
    while (w->nwrites > keep) {
        cache_write_t *cw = &w->writes[--w->nwrites];
        free(cw->key);
        free(cw->json);
        free(cw->creditor_id);
        free(cw->debtor_id);
    }
}

static void clear_cache_writes(worker_t *w)
{
    drop_cache_writes(w, 0);
}

int wk_tx_sql_error(wk_tx_t *tx, PGresult *res, const char *what)
{
    char err[600];
    int transient = pg_is_transient(tx->w->conn, res);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    snprintf(err, sizeof(err), "%s", pg_error_text(tx->w->conn, res));
    LOG_WARN("db.statement_failed", "\"what\":\"%s\",\"sqlstate\":\"%s\",\"transient\":%s", what,
             state ? state : "", transient ? "true" : "false");
    LOG_DEBUG("db.statement_error", "\"what\":\"%s\",\"error\":\"%s\"", what,
              log_json_escape(err, (char[600]){0}, 600));
    PQclear(res);
    return transient ? RESULT_TRANSIENT : RESULT_PERMANENT;
}

void wk_reject(wk_msg_t *m, const char *code, const char *fmt, ...)
{
    va_list ap;

    m->state = WK_MSG_REJECTED;
    m->reject.code = code;
    va_start(ap, fmt);
    vsnprintf(m->reject.detail, sizeof(m->reject.detail), fmt, ap);
    va_end(ap);
}

/* ---- Connections ---------------------------------------------------------------------------*/

/* Drops the database connection (after a failure); the next batch reconnects. */
static void pg_drop(worker_t *w)
{
    pg_session_drop(&w->db);
    w->conn = NULL;
    atomic_store(&w->pg_ok, 0);
    atomic_store(&w->ready, 0);
}

/* Makes sure a healthy connection exists (w->conn). Returns 0 or -1 (logged, rate-limited). */
static int pg_ensure(worker_t *w)
{
    w->conn = pg_session_conn(&w->db, NULL);
    if (w->conn == NULL) {
        pg_drop(w);
        return -1;
    }
    atomic_store(&w->pg_ok, 1);
    if (atomic_load(&w->rebalanced))
        atomic_store(&w->ready, 1);
    return 0;
}

static int is_ready(void *ud)
{
    worker_t *w = ud;
    return atomic_load(&w->ready);
}

/* ---- Messages and the batch ----------------------------------------------------------------*/

static void msg_free(wk_msg_t *m)
{
    ce_event_clear(&m->ev);
    if (m->rkm != NULL)
        rd_kafka_message_destroy(m->rkm);
    m->rkm = NULL;
}

/* Where a polled message goes, after every message polled before it: to the next batch while a
 * batch is in hand (one by one: once the next batch has any), to the messages waiting their
 * turn one by one, else to the batch. */
typedef struct msg_list {
    wk_msg_t **v;
    size_t *n, *cap;
} msg_list_t;

static msg_list_t intake_list(worker_t *w)
{
    if (w->in_hand && (!w->one_by_one || w->nnext > 0))
        return (msg_list_t){&w->next, &w->nnext, &w->capnext};
    if (w->one_by_one)
        return (msg_list_t){&w->held, &w->nheld, &w->capheld};
    return (msg_list_t){&w->batch, &w->n, &w->cap};
}

/* Takes ownership of rkm: parses and validates it into a new slot of intake_list(). */
static int batch_add(worker_t *w, rd_kafka_message_t *rkm)
{
    msg_list_t l = intake_list(w);
    wk_msg_t **v = l.v;
    size_t *n = l.n, *cap = l.cap;

    if (GROW(*v, *cap, *n, 256) != 0)
        return -1;
    if (*n == 0 && v == &w->next)
        w->next_first_us = clock_mono_us();
    else if (*n == 0 && v == &w->batch)
        w->batch_first_us = clock_mono_us();
    wk_msg_t *m = &(*v)[(*n)++];
    memset(m, 0, sizeof(*m));
    m->rkm = rkm;
    m->ev = (ce_event_t)CE_EVENT_INIT;
    if (ce_parse(rkm->payload, rkm->len, &m->ev, &m->reject) < 0 ||
        w->h->validate(w->h->ud, &m->ev, &m->reject) < 0) {
        m->state = WK_MSG_REJECTED;
        m->pre_rejected = 1;
    }
    return 0;
}

static void batch_clear(worker_t *w)
{
    for (size_t i = 0; i < w->n; i++)
        msg_free(&w->batch[i]);
    w->n = 0;
}

/* Removes from the batch the messages of partitions we no longer own, or (when `committed` is
 * set) those at offsets below what PostgreSQL already has: after an unknown commit outcome, or
 * messages of a partition handed back to us. */
static void msgs_drop_if(wk_msg_t *v, size_t from, size_t *n,
                         const rd_kafka_topic_partition_list_t *parts, int committed)
{
    size_t o = from;

    for (size_t i = from; i < *n; i++) {
        wk_msg_t *m = &v[i];
        const char *topic = rd_kafka_topic_name(m->rkm->rkt);
        rd_kafka_topic_partition_t *p =
            rd_kafka_topic_partition_list_find(parts, topic, m->rkm->partition);
        int drop = committed ? (p != NULL && m->rkm->offset < p->offset) : (p != NULL);
        if (drop)
            msg_free(m);
        else
            v[o++] = *m;
    }
    *n = o;
}

/* The same for the batch and, in one-by-one mode, the messages waiting their turn. */
static void batch_drop_if(worker_t *w, const rd_kafka_topic_partition_list_t *parts, int committed)
{
    msgs_drop_if(w->batch, 0, &w->n, parts, committed);
    if (w->held != NULL)
        msgs_drop_if(w->held, w->heldpos, &w->nheld, parts, committed);
}

/* The messages of `parts` we no longer own, dropped: from the next batch and those waiting their
 * turn, and from the batch unless it committed (then it only has its metrics and cache writes
 * left to do, and the new owner starts after it). */
static void drop_revoked(worker_t *w, const rd_kafka_topic_partition_list_t *parts,
                         int batch_committed)
{
    if (!batch_committed)
        msgs_drop_if(w->batch, 0, &w->n, parts, 0);
    if (w->held != NULL)
        msgs_drop_if(w->held, w->heldpos, &w->nheld, parts, 0);
    msgs_drop_if(w->next, 0, &w->nnext, parts, 0);
}

/* ---- Offsets in PostgreSQL -----------------------------------------------------------------*/

/* Reads the stored next offsets of `parts` into their .offset (RD_KAFKA_OFFSET_INVALID when
 * none is stored, so Kafka's committed offset, then auto.offset.reset, decide). */
static int offsets_load(worker_t *w, rd_kafka_topic_partition_list_t *parts)
{
    pgarr_t topics, partitions;
    char err[512];
    int rc = -1;

    if (pg_ensure(w) < 0)
        return -1;
    pgarr_init(&topics);
    pgarr_init(&partitions);
    for (int i = 0; i < parts->cnt; i++) {
        pgarr_add_cstr(&topics, parts->elems[i].topic);
        pgarr_add_int64(&partitions, parts->elems[i].partition);
        parts->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
    }
    const char *params[3] = {w->cfg->group_id, pgarr_str(&topics), pgarr_str(&partitions)};
    PGresult *res = PQexecParams(w->conn,
                                 "SELECT o.topic, o.kafka_partition, o.next_offset "
                                 "FROM consumer_offset o "
                                 "JOIN unnest($2::text[], $3::int[]) AS u(topic, kafka_partition) "
                                 "  USING (topic, kafka_partition) "
                                 "WHERE o.group_id = $1",
                                 3, NULL, params, NULL, NULL, 0);
    if (pg_expect(res, PGRES_TUPLES_OK, "offsets.load", err, sizeof(err)) < 0) {
        LOG_WARN("offsets.load_failed", NULL);
        pg_drop(w);
        goto out;
    }
    int ft = PQfnumber(res, "topic"), fp = PQfnumber(res, "kafka_partition"),
        fo = PQfnumber(res, "next_offset");
    for (int r = 0; r < PQntuples(res); r++) {
        rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(
            parts, PQgetvalue(res, r, ft), atoi(PQgetvalue(res, r, fp)));
        if (p != NULL)
            p->offset = strtoll(PQgetvalue(res, r, fo), NULL, 10);
    }
    PQclear(res);
    rc = 0;
out:
    pgarr_free(&topics);
    pgarr_free(&partitions);
    return rc;
}

/* Sleeps up to ms in short slices, returning early when a stop is requested. */
static void nap(int ms)
{
    while (ms > 0 && !stop_requested) {
        int slice = ms > 100 ? 100 : ms;
        struct timespec ts = {0, (long)slice * 1000000L};
        nanosleep(&ts, NULL);
        ms -= slice;
    }
}

static int commit_finish(worker_t *w);
static int batch_take(worker_t *w, rd_kafka_message_t *rkm);

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    worker_t *w = opaque;
    int cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    /* Called while the batch's COMMIT runs (prepare_next()): its outcome first, so the offsets
     * read below, or the new owner's, include it. */
    int in_commit = w->committing;
    int committed = in_commit && commit_finish(w) == RESULT_OK;
    size_t next_before = w->nnext;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        /* PostgreSQL holds the truth about progress: wait for it rather than guess. */
        backoff_t b;
        backoff_init(&b, w->cfg->backoff_initial_ms, w->cfg->backoff_max_ms, (uint64_t)getpid());
        while (offsets_load(w, parts) < 0 && !stop_requested)
            nap(backoff_next_ms(&b));
        lag_assigned(parts);
        for (int i = 0; i < parts->cnt; i++)
            LOG_INFO("partition.assigned", "\"topic\":\"%s\",\"partition\":%d,\"offset\":%" PRId64,
                     parts->elems[i].topic, parts->elems[i].partition, parts->elems[i].offset);
        rd_kafka_error_t *e = NULL;
        if (cooperative)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            rd_kafka_assign(rk, parts);
        if (e != NULL) {
            LOG_ERROR("partition.assign_failed", "\"error\":\"%s\"", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    } else {
        /* Revoked or lost: the new owner starts from PostgreSQL's offsets, so messages of these
         * partitions still in hand are simply dropped. */
        drop_revoked(w, parts, committed);
        for (int i = 0; i < parts->cnt; i++)
            LOG_INFO("partition.revoked", "\"topic\":\"%s\",\"partition\":%d",
                     parts->elems[i].topic, parts->elems[i].partition);
        lag_revoked(parts);
        if (cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
            if (e != NULL)
                rd_kafka_error_destroy(e);
        } else {
            rd_kafka_assign(rk, NULL);
        }
    }
    if (in_commit)
        LOG_INFO("rebalance.during_commit",
                 "\"revoked\":%s,\"committed\":%s,\"batch\":%zu,\"next_dropped\":%zu",
                 err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? "false" : "true",
                 committed ? "true" : "false", w->n, next_before - w->nnext);
    atomic_store(&w->rebalanced, 1);
    if (atomic_load(&w->pg_ok))
        atomic_store(&w->ready, 1);
}

/* ---- Applying a batch ----------------------------------------------------------------------*/

static char *pair_key(const char *source, const char *id)
{
    return g_strconcat(source, "\x1f", id, NULL);
}

/* The dedupe insert: every candidate's (source, id), with where it came from. $3 is the service.
 * DEDUPE_SQL returns the pairs it inserted (the others were there: duplicates); DEDUPE_PLAIN_SQL
 * inserts without ON CONFLICT, which costs PostgreSQL about half as much per row, and fails with
 * unique_violation (23505) when any pair is there already. */
#define DEDUPE_INSERT_SQL                                                                          \
    "INSERT INTO processed_event (source, event_id, service, topic, kafka_partition, "             \
    "kafka_offset) "                                                                               \
    "SELECT s, i, $3, t, p, o FROM unnest($1::text[], $2::text[], $4::text[], $5::int[], "         \
    "$6::bigint[]) AS u(s, i, t, p, o)"
#define DEDUPE_SQL                                                                                 \
    DEDUPE_INSERT_SQL " ON CONFLICT (source, event_id) DO NOTHING RETURNING source, event_id"
#define DEDUPE_PLAIN_SQL  DEDUPE_INSERT_SQL
#define DEDUPE_STMT       "wk_dedupe"
#define DEDUPE_PLAIN_STMT "wk_dedupe_plain"
#define OFFSETS_STMT      "wk_offsets"
#define CACHEOWE_STMT     "wk_cache_owed"

/* Batches in a row without a duplicate before the dedupe insert is tried without ON CONFLICT
 * again (after one that found a duplicate): re-sent events tend to come in runs, and a plain
 * insert that meets one is rolled back and redone. */
#define DEDUPE_CLEAN_BATCHES 16

/* Logs a failed statement of a pgpipe_exec() (st[bad], or the sequence when bad == n) and returns
 * RESULT_TRANSIENT or RESULT_PERMANENT, as wk_tx_sql_error() does. */
static int seq_error(const pgpipe_stmt_t *st, size_t n, size_t bad, int rc, const char *err)
{
    char esc[600];
    const char *what = bad < n ? st[bad].what : "pipeline";
    const char *state = bad < n ? st[bad].sqlstate : "";

    LOG_WARN("db.statement_failed", "\"what\":\"%s\",\"sqlstate\":\"%s\",\"transient\":%s", what,
             state, rc == RESULT_TRANSIENT ? "true" : "false");
    LOG_DEBUG("db.statement_error", "\"what\":\"%s\",\"error\":\"%s\"", what,
              log_json_escape(err, esc, sizeof(esc)));
    return rc == RESULT_TRANSIENT ? RESULT_TRANSIENT : RESULT_PERMANENT;
}

/* Marks duplicate every candidate whose pair is not among the rows DEDUPE_SQL inserted (`res`),
 * and every later message of the batch with the same pair as an inserted one. Returns the number
 * of duplicates, or -1 when out of memory. */
static long mark_duplicates(worker_t *w, const PGresult *res)
{
    GHashTable *fresh = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    int fs = PQfnumber(res, "source"), fi = PQfnumber(res, "event_id");
    long dups = 0;

    for (int r = 0; r < PQntuples(res); r++)
        g_hash_table_add(fresh, pair_key(PQgetvalue(res, r, fs), PQgetvalue(res, r, fi)));
    for (size_t i = 0; i < w->n; i++) {
        wk_msg_t *m = &w->batch[i];
        if (m->state != WK_MSG_NEW)
            continue;
        char *k = pair_key(m->ev.source, m->ev.id);
        if (!g_hash_table_remove(fresh, k)) {
            m->state = WK_MSG_DUPLICATE;
            dups++;
        }
        g_free(k);
    }
    g_hash_table_destroy(fresh);
    return dups;
}

/* The dedupe insert's arrays (sources, ids, topics, partitions, offsets) of the batch's
 * candidates, its new messages; returns how many. */
static size_t dedupe_arrays(const worker_t *w, pgarr_t a[5])
{
    size_t candidates = 0;

    for (size_t i = 0; i < w->n; i++) {
        const wk_msg_t *m = &w->batch[i];
        if (m->state != WK_MSG_NEW)
            continue;
        pgarr_add_cstr(&a[0], m->ev.source);
        pgarr_add_cstr(&a[1], m->ev.id);
        pgarr_add_cstr(&a[2], rd_kafka_topic_name(m->rkm->rkt));
        pgarr_add_int64(&a[3], m->rkm->partition);
        pgarr_add_int64(&a[4], m->rkm->offset);
        candidates++;
    }
    return candidates;
}

/* Counts the batch's outcome in w->dedupe_clean: one more clean batch, or back to 0. */
static void dedupe_tally(worker_t *w, long dups)
{
    if (dups != 0)
        w->dedupe_clean = 0;
    else if (w->dedupe_clean < DEDUPE_CLEAN_BATCHES)
        w->dedupe_clean++;
}

/* BEGINs the batch's transaction and records every candidate's (source, id), in one round trip;
 * those already present (in PostgreSQL, or earlier in the batch) are duplicates. */
static int begin_dedupe(worker_t *w)
{
    pgarr_t a[5]; /* sources, ids, topics, partitions, offsets */
    size_t bad = 0;
    char err[512];
    int rc;

    for (int k = 0; k < 5; k++)
        pgarr_init(&a[k]);
    size_t candidates = dedupe_arrays(w, a);
    const char *params[6] = {pgarr_str(&a[0]), pgarr_str(&a[1]), w->cfg->service,
                             pgarr_str(&a[2]), pgarr_str(&a[3]), pgarr_str(&a[4])};
    int plain = w->dedupe_clean >= DEDUPE_CLEAN_BATCHES;
    pgpipe_stmt_t st[2] = {
        {.sql = "BEGIN", .what = "begin", .want = PGRES_COMMAND_OK},
        {.prepared = plain ? DEDUPE_PLAIN_STMT : DEDUPE_STMT,
         .what = "dedupe",
         .nparams = 6,
         .params = params,
         .want = plain ? PGRES_COMMAND_OK : PGRES_TUPLES_OK,
         .keep = !plain},
    };
    if (params[0] == NULL || params[1] == NULL || params[3] == NULL || params[4] == NULL ||
        params[5] == NULL) {
        rc = RESULT_TRANSIENT;
        goto out;
    }
    size_t nst = candidates > 0 ? 2 : 1;
    rc = pgpipe_exec(w->conn, st, nst, &bad, err, sizeof(err));
    if (rc != 0 && plain && bad == 1 && strcmp(st[1].sqlstate, "23505") == 0) {
        /* A pair was there already: again, the careful way. */
        LOG_DEBUG("dedupe.duplicate_found", NULL);
        PQclear(PQexec(w->conn, "ROLLBACK"));
        plain = 0;
        st[1].prepared = DEDUPE_STMT;
        st[1].want = PGRES_TUPLES_OK;
        st[1].keep = 1;
        rc = pgpipe_exec(w->conn, st, nst, &bad, err, sizeof(err));
    }
    if (rc != 0) {
        rc = seq_error(st, nst, bad, rc, err);
        goto out;
    }
    long dups = st[1].res != NULL ? mark_duplicates(w, st[1].res) : 0;
    PQclear(st[1].res);
    dedupe_tally(w, dups);
out:
    for (int k = 0; k < 5; k++)
        pgarr_free(&a[k]);
    return rc;
}

/* Forgets the (source, id) of events apply() rejected, so a corrected re-send is applied. */
static int forget_rejected(worker_t *w, wk_tx_t *tx)
{
    pgarr_t sources, ids;
    size_t count = 0;
    int rc = RESULT_OK;

    pgarr_init(&sources);
    pgarr_init(&ids);
    for (size_t i = 0; i < w->n; i++) {
        wk_msg_t *m = &w->batch[i];
        if (m->state == WK_MSG_REJECTED && !m->pre_rejected) {
            pgarr_add_cstr(&sources, m->ev.source);
            pgarr_add_cstr(&ids, m->ev.id);
            count++;
        }
    }
    if (count > 0) {
        const char *params[2] = {pgarr_str(&sources), pgarr_str(&ids)};
        PGresult *res = PQexecParams(w->conn,
                                     "DELETE FROM processed_event p USING unnest($1::text[], "
                                     "$2::text[]) AS u(s, i) WHERE p.source = u.s AND "
                                     "p.event_id = u.i",
                                     2, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = wk_tx_sql_error(tx, res, "forget_rejected");
        else
            PQclear(res);
    }
    pgarr_free(&sources);
    pgarr_free(&ids);
    return rc;
}

/* Copies each rejected message to the DLQ, through the outbox, with the contract's headers. */
static int dlq_copy(worker_t *w)
{
    for (size_t i = 0; i < w->n; i++) {
        wk_msg_t *m = &w->batch[i];
        if (m->state != WK_MSG_REJECTED)
            continue;
        rd_kafka_headers_t *orig = NULL;
        size_t norig = 0;
        if (rd_kafka_message_headers(m->rkm, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR)
            norig = rd_kafka_header_cnt(orig);
        outbox_header_t *hs = calloc(norig + 6, sizeof(*hs));
        if (hs == NULL)
            return -1;
        size_t nh = 0;
        for (size_t k = 0; k < norig; k++) {
            const char *name;
            const void *val;
            size_t len;
            if (rd_kafka_header_get_all(orig, k, &name, &val, &len) == RD_KAFKA_RESP_ERR_NO_ERROR)
                hs[nh++] = (outbox_header_t){name, val, len};
        }
        char part[16], off[24];
        const char *topic = rd_kafka_topic_name(m->rkm->rkt);
        snprintf(part, sizeof(part), "%" PRId32, m->rkm->partition);
        snprintf(off, sizeof(off), "%" PRId64, m->rkm->offset);
        hs[nh++] = (outbox_header_t){"recobro-error", m->reject.code, strlen(m->reject.code)};
        hs[nh++] =
            (outbox_header_t){"recobro-error-detail", m->reject.detail, strlen(m->reject.detail)};
        hs[nh++] = (outbox_header_t){"recobro-source-topic", topic, strlen(topic)};
        hs[nh++] = (outbox_header_t){"recobro-source-partition", part, strlen(part)};
        hs[nh++] = (outbox_header_t){"recobro-source-offset", off, strlen(off)};
        hs[nh++] = (outbox_header_t){"recobro-service", w->cfg->service, strlen(w->cfg->service)};
        int rc = outbox_add(w->outbox, w->cfg->topic_dlq, m->rkm->key, m->rkm->key_len,
                            m->rkm->payload ? m->rkm->payload : "", m->rkm->len, NULL, hs, nh);
        free(hs);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Stores each partition's next offset (the highest offset in the batch + 1), and moves the
 * partitions' attempt records past it (attempts.h): $1 the group, $2, $3, $4 the arrays of
 * topics, partitions and next offsets. */
#define OFFSETS_SQL                                                                                \
    "WITH u AS (SELECT * FROM unnest($2::text[], $3::int[], $4::bigint[]) AS u(t, p, "             \
    "o)), " ATTEMPTS_COMMIT_SQL                                                                    \
    "INSERT INTO consumer_offset (group_id, topic, kafka_partition, next_offset) "                 \
    "SELECT $1, t, p, o FROM u "                                                                   \
    "ON CONFLICT (group_id, topic, kafka_partition) DO UPDATE "                                    \
    "SET next_offset = GREATEST(consumer_offset.next_offset, EXCLUDED.next_offset), "              \
    "updated_at = now()"

/* The arrays of OFFSETS_SQL for the batch: each partition once, with its highest offset + 1.
 * Partitions are few: a linear search over those already seen. */
static void offsets_arrays(worker_t *w, pgarr_t *topics, pgarr_t *partitions, pgarr_t *offsets)
{
    const rd_kafka_message_t **seen = malloc((w->n ? w->n : 1) * sizeof(*seen));
    size_t nseen = 0;

    if (seen == NULL) {
        topics->oom = 1;
        return;
    }
    /* Walk backwards so the first sighting of a partition is its highest offset. */
    for (size_t i = w->n; i-- > 0;) {
        const rd_kafka_message_t *rkm = w->batch[i].rkm;
        size_t k = 0;
        while (k < nseen && (seen[k]->partition != rkm->partition || seen[k]->rkt != rkm->rkt))
            k++;
        if (k < nseen)
            continue;
        seen[nseen++] = rkm;
        pgarr_add_cstr(topics, rd_kafka_topic_name(rkm->rkt));
        pgarr_add_int64(partitions, rkm->partition);
        pgarr_add_int64(offsets, rkm->offset + 1);
    }
    free(seen);
}

/* The creditor and debtor ids of the cases whose cache writes the batch owes (cacheowe.h), as
 * arrays; returns how many. */
static size_t owed_arrays(worker_t *w, pgarr_t *creditors, pgarr_t *debtors)
{
    size_t n = 0;

    for (size_t i = 0; i < w->nwrites; i++) {
        if (w->writes[i].creditor_id == NULL || w->writes[i].debtor_id == NULL)
            continue;
        pgarr_add_cstr(creditors, w->writes[i].creditor_id);
        pgarr_add_cstr(debtors, w->writes[i].debtor_id);
        n++;
    }
    return n;
}

/* Rolls back the batch's open transaction after a failure `rc`, dropping the connection when
 * rc is transient (or the connection broke). Returns rc. */
static int abort_tx(worker_t *w, int rc)
{
    if (w->conn != NULL && PQstatus(w->conn) == CONNECTION_OK)
        PQclear(PQexec(w->conn, "ROLLBACK"));
    if (rc == RESULT_TRANSIENT)
        pg_drop(w);
    return rc;
}

/* Sends the end of the batch's transaction in one round trip, without waiting: stores the
 * offsets, wakes the relays when the outbox got rows, records the cases whose cache writes it
 * owes (cacheowe.h: a kill before write_cache() leaves them for cacheowed.h to re-write), and
 * COMMITs. commit_finish() reads the outcome; meanwhile the connection is busy (w->committing).
 * A failure to send is returned as any failed statement (the caller rolls back). */
static int commit_send(worker_t *w)
{
    pgarr_t a[5]; /* topics, partitions, offsets, creditor ids, debtor ids */
    char err[512], idtext[24];
    size_t n = 0, bad = 0;
    int rc = RESULT_TRANSIENT;

    for (int k = 0; k < 5; k++)
        pgarr_init(&a[k]);
    offsets_arrays(w, &a[0], &a[1], &a[2]);
    size_t owed = owed_arrays(w, &a[3], &a[4]);
    int64_t id = owed > 0 ? cacheowe_id() : 0;
    snprintf(idtext, sizeof(idtext), "%" PRId64, id);
    const char *off[4] = {w->cfg->group_id, pgarr_str(&a[0]), pgarr_str(&a[1]), pgarr_str(&a[2])};
    const char *ids[3] = {idtext, pgarr_str(&a[3]), pgarr_str(&a[4])};
    pgpipe_stmt_t *st = w->cst;
    if (off[1] == NULL || off[2] == NULL || off[3] == NULL || ids[1] == NULL || ids[2] == NULL)
        goto out;
    st[n++] = (pgpipe_stmt_t){.prepared = OFFSETS_STMT,
                              .what = "offsets.store",
                              .nparams = 4,
                              .params = off,
                              .want = PGRES_COMMAND_OK};
    if (w->outbox_written)
        st[n++] = (pgpipe_stmt_t){
            .sql = OUTBOX_NOTIFY_SQL, .what = "outbox.notify", .want = PGRES_COMMAND_OK};
    if (owed > 0)
        st[n++] = (pgpipe_stmt_t){.prepared = CACHEOWE_STMT,
                                  .what = "cache_owed",
                                  .nparams = 3,
                                  .params = ids,
                                  .want = PGRES_COMMAND_OK};
    st[n++] = (pgpipe_stmt_t){.sql = "COMMIT", .what = "commit", .want = PGRES_COMMAND_OK};
    w->owed_id = 0;
    rc = pgpipe_send(w->conn, st, n, &bad, err, sizeof(err));
    if (rc != 0) {
        rc = seq_error(st, n, bad, rc, err);
        goto out;
    }
    for (size_t i = 0; i < n; i++) /* sent: the parameters were copied */
        st[i].params = NULL;
    w->ncst = n;
    w->commit_owed_id = id;
    w->committing = 1;
out:
    for (int k = 0; k < 5; k++)
        pgarr_free(&a[k]);
    return rc;
}

/* Reads the outcome of the COMMIT commit_send() sent; once (again: the same answer). A
 * statement that failed before the COMMIT is rolled back as any failed statement; a failed
 * COMMIT leaves the outcome unknown when the connection died: the connection is dropped and the
 * retry re-reads the offsets (RESULT_TRANSIENT). */
static int commit_finish(worker_t *w)
{
    char err[512];
    size_t bad = 0, n = w->ncst;

    if (!w->committing)
        return w->commit_rc;
    w->committing = 0;
    int rc = pgpipe_recv(w->conn, w->cst, n, &bad, err, sizeof(err));
    if (rc == 0) {
        w->owed_id = w->commit_owed_id;
        return w->commit_rc = RESULT_OK;
    }
    rc = seq_error(w->cst, n, bad, rc, err);
    if (bad >= n - 1) { /* the COMMIT itself */
        pg_drop(w);
        return w->commit_rc = RESULT_TRANSIENT;
    }
    return w->commit_rc = abort_tx(w, rc);
}

/* Writes the outbox buffer; maps its failure onto RESULT_TRANSIENT / RESULT_PERMANENT. */
static int flush_outbox(worker_t *w)
{
    char err[512];

    if (outbox_count(w->outbox) == 0)
        return RESULT_OK;
    w->outbox_written = 1; /* the COMMIT's round trip wakes the relays (commit_batch()) */
    int rc = outbox_copy(w->outbox, w->conn, err, sizeof(err));
    if (rc == 0)
        return RESULT_OK;
    char esc[600];
    LOG_WARN("outbox.write_failed", "\"error\":\"%s\"", log_json_escape(err, esc, sizeof(esc)));
    return rc == RESULT_TRANSIENT ? RESULT_TRANSIENT : RESULT_PERMANENT;
}

/* Calls apply() on every new event; in `isolate` mode one at a time under a savepoint, with its
 * outbox rows written inside it, so an event that fails permanently is rejected alone (its
 * effects, rows and cache writes undone) and the others go through. */
static int apply_events(worker_t *w, wk_tx_t *tx, int isolate)
{
    wk_msg_t **todo = malloc((w->n ? w->n : 1) * sizeof(*todo));
    size_t nt = 0;
    int rc = RESULT_OK;

    if (todo == NULL)
        return RESULT_TRANSIENT;
    for (size_t i = 0; i < w->n; i++)
        if (w->batch[i].state == WK_MSG_NEW)
            todo[nt++] = &w->batch[i];
    if (nt > 0 && !isolate) {
        rc = w->h->apply(w->h->ud, tx, todo, nt);
    } else {
        for (size_t i = 0; i < nt && rc == RESULT_OK; i++) {
            char err[512];
            if (pg_exec_ok(w->conn, "SAVEPOINT wk_event", PGRES_COMMAND_OK, err, sizeof(err)) < 0) {
                rc = RESULT_TRANSIENT;
                break;
            }
            size_t writes_before = w->nwrites, counts_before = w->ncounts;
            int r = w->h->apply(w->h->ud, tx, &todo[i], 1);
            if (r == RESULT_OK)
                r = flush_outbox(w);
            if (r == RESULT_PERMANENT) {
                if (pg_exec_ok(w->conn, "ROLLBACK TO SAVEPOINT wk_event", PGRES_COMMAND_OK, err,
                               sizeof(err)) < 0) {
                    rc = RESULT_TRANSIENT;
                    break;
                }
                outbox_clear(w->outbox);
                drop_counts(w, counts_before);
                drop_cache_writes(w, writes_before);
                wk_reject(todo[i], "processing_error",
                          "the event could not be applied (database refused it); see logs");
            } else if (r != RESULT_OK) {
                rc = r;
            } else if (pg_exec_ok(w->conn, "RELEASE SAVEPOINT wk_event", PGRES_COMMAND_OK, err,
                                  sizeof(err)) < 0) {
                rc = RESULT_TRANSIENT;
            }
        }
    }
    free(todo);
    return rc;
}

/* True once the COMMIT's results have arrived, or the connection cannot tell (then reading them
 * reports it); waits up to ms for them. */
static int commit_ready(worker_t *w, int ms)
{
    struct pollfd pfd = {.fd = PQsocket(w->conn), .events = POLLIN};

    if (pfd.fd < 0 || PQconsumeInput(w->conn) != 1 || !PQisBusy(w->conn))
        return 1;
    if (poll(&pfd, 1, ms) != 0 && PQconsumeInput(w->conn) != 1)
        return 1;
    return !PQisBusy(w->conn);
}

/* Polls messages into the next batch (parsed and validated) while the batch's COMMIT runs: what
 * librdkafka has at hand, then what arrives until the COMMIT's results do, up to batch_max, or
 * until a rebalance read the COMMIT's outcome (rebalance_cb()). Not one message at a time (the
 * poison hunt). */
static void prepare_next(worker_t *w)
{
    while (w->committing && !w->one_by_one && !stop_requested &&
           w->nnext < (size_t)w->cfg->batch_max) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(w->rk, 0);
        if (rkm != NULL) {
            if (batch_take(w, rkm) < 0)
                break;
        } else if (w->committing && commit_ready(w, 1)) {
            break;
        }
    }
}

/* One attempt at the whole batch in one transaction. Returns RESULT_OK, RESULT_TRANSIENT or
 * RESULT_PERMANENT; on anything but RESULT_OK the transaction is rolled back. */
static int apply_batch(worker_t *w, int isolate)
{
    wk_tx_t tx = {w};
    int rc;

    for (size_t i = 0; i < w->n; i++)
        if (!w->batch[i].pre_rejected)
            w->batch[i].state = WK_MSG_NEW;
    outbox_clear(w->outbox);
    w->outbox_written = 0;
    clear_cache_writes(w);
    drop_counts(w, 0);
    if ((rc = begin_dedupe(w)) != RESULT_OK)
        goto fail;
    if ((rc = apply_events(w, &tx, isolate)) != RESULT_OK)
        goto fail;
    if ((rc = forget_rejected(w, &tx)) != RESULT_OK)
        goto fail;
    if (dlq_copy(w) < 0) {
        rc = RESULT_TRANSIENT;
        goto fail;
    }
    if ((rc = flush_outbox(w)) != RESULT_OK)
        goto fail;
    if ((rc = commit_send(w)) != RESULT_OK)
        goto fail;
    prepare_next(w); /* the worker's share of the next batch, while PostgreSQL commits */
    return commit_finish(w);
fail:
    return abort_tx(w, rc);
}

/* After a failed attempt whose commit may have happened, drops the messages PostgreSQL
 * already has. Returns 0, or -1 when the offsets cannot be read now. */
static int batch_drop_committed(worker_t *w)
{
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(8);

    for (size_t i = 0; i < w->n; i++) {
        const char *topic = rd_kafka_topic_name(w->batch[i].rkm->rkt);
        if (!rd_kafka_topic_partition_list_find(parts, topic, w->batch[i].rkm->partition))
            rd_kafka_topic_partition_list_add(parts, topic, w->batch[i].rkm->partition);
    }
    int rc = offsets_load(w, parts);
    if (rc == 0)
        batch_drop_if(w, parts, 1);
    rd_kafka_topic_partition_list_destroy(parts);
    return rc;
}

/* Waits out a backoff delay with consumption paused, still polling so that the group session
 * and rebalances are served. Messages that arrive anyway join the batch (in order). */
static void wait_paused(worker_t *w, int ms)
{
    rd_kafka_topic_partition_list_t *assigned = NULL;
    int64_t until = clock_mono_us() + (int64_t)ms * 1000;

    if (rd_kafka_assignment(w->rk, &assigned) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_pause_partitions(w->rk, assigned);
    while (!stop_requested && clock_mono_us() < until) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(w->rk, 100);
        if (rkm == NULL)
            continue;
        if (rkm->err || batch_add(w, rkm) < 0)
            rd_kafka_message_destroy(rkm);
    }
    if (assigned != NULL) {
        /* Resume what we still own (a rebalance may have changed it meanwhile). */
        rd_kafka_topic_partition_list_t *now = NULL;
        if (rd_kafka_assignment(w->rk, &now) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_resume_partitions(w->rk, now);
            rd_kafka_topic_partition_list_destroy(now);
        }
        rd_kafka_topic_partition_list_destroy(assigned);
    }
}

/* Writes the committed batch's case snapshots to Redis. A write Redis refuses is counted and
 * remembered in PostgreSQL (cache_pending) for drain_cache_backlog() to redo; one that cannot
 * be remembered either is counted as a database error. Frees the pending writes. */
static void write_cache(worker_t *w)
{
    char err[512];
    int owed = 0; /* writes neither done nor remembered */
    cache_entry_t *entries = calloc(w->nwrites ? w->nwrites : 1, sizeof(*entries));

    for (size_t i = 0; entries != NULL && i < w->nwrites; i++)
        entries[i] = (cache_entry_t){w->writes[i].key, w->writes[i].json, w->writes[i].version, -1};
    if (entries != NULL)
        cache_put_many(w->cache, entries, w->nwrites);
    for (size_t i = 0; i < w->nwrites; i++) {
        cache_write_t *cw = &w->writes[i];
        if (entries != NULL && entries[i].result >= 0)
            continue;
        metrics_inc("recobro_cache_errors_total", "Cache writes that failed", NULL, 1);
        if (w->conn != NULL &&
            cache_remember(w->conn, cw->key, cw->json, cw->version, err, sizeof(err)) == 0)
            w->cache_backlog = 1;
        else {
            owed = 1;
            metrics_inc("recobro_db_errors_total", "Database errors", "kind=\"cache_backlog\"", 1);
        }
    }
    free(entries);
    /* Done or remembered: the record is no longer needed (lost, it costs a redundant re-write). */
    if (w->owed_id != 0 && !owed && w->conn != NULL && cacheowe_clear(w->conn, w->owed_id) < 0)
        LOG_DEBUG("cache.owed_not_cleared", NULL);
    w->owed_id = 0;
    if (w->nwrites > 0 && cache_errstr(w->cache)[0] != '\0')
        LOG_DEBUG("cache.unavailable", NULL);
    clear_cache_writes(w);
}

/* The type label of m: its type, unless it is missing, outside the contract or too long
 * (an attacker could mint any number of labels), then "unknown". Borrowed from m. */
static const char *type_label(const wk_msg_t *m)
{
    if (m->ev.type == NULL || strlen(m->ev.type) >= 64)
        return "unknown";
    if (m->reject.code != NULL && strcmp(m->reject.code, "unknown_type") == 0)
        return "unknown";
    return m->ev.type;
}

static const char *result_label(const wk_msg_t *m)
{
    return m->state == WK_MSG_NEW         ? "applied"
           : m->state == WK_MSG_DUPLICATE ? "duplicate"
                                          : "rejected";
}

/* Counts one committed message's rejection (recobro_dlq_total and a log line; nothing when it
 * was not rejected) and observes its time from production to now_ms. */
static void count_message(const wk_msg_t *m, int64_t now_ms)
{
    char labels[200];
    rd_kafka_timestamp_type_t tstype;
    int64_t produced_ms = rd_kafka_message_timestamp(m->rkm, &tstype);

    if (m->state == WK_MSG_REJECTED) {
        snprintf(labels, sizeof(labels), "reason=\"%s\"", m->reject.code);
        metrics_inc("recobro_dlq_total", "Messages sent to the DLQ by reason", labels, 1);
        if (strcmp(m->reject.code, "poison") == 0)
            metrics_inc("recobro_poison_total",
                        "Messages that crashed the worker repeatedly, sent to the DLQ unapplied",
                        NULL, 1);
        LOG_INFO(
            "event.rejected",
            "\"topic\":\"%s\",\"partition\":%" PRId32 ",\"offset\":%" PRId64 ",\"code\":\"%s\"",
            rd_kafka_topic_name(m->rkm->rkt), m->rkm->partition, m->rkm->offset, m->reject.code);
    }
    if (produced_ms > 0 && now_ms >= produced_ms)
        metrics_observe("recobro_processing_seconds", "From an event's production to its commit",
                        NULL, (double)(now_ms - produced_ms) / 1000.0);
}

/* Adds the committed batch to recobro_events_total by type and result: one increment per pair
 * (a batch holds few), not one per message. */
static void count_events(const worker_t *w)
{
    struct {
        const char *type, *result;
        long n;
    } tally[16];
    size_t nt = 0;
    char labels[200];

    for (size_t i = 0; i < w->n; i++) {
        const char *type = type_label(&w->batch[i]), *result = result_label(&w->batch[i]);
        size_t k = 0;
        while (k < nt && (tally[k].result != result || strcmp(tally[k].type, type) != 0))
            k++;
        if (k < nt) {
            tally[k].n++;
            continue;
        }
        if (nt == sizeof(tally) / sizeof(tally[0])) { /* many types in one batch: as they come */
            snprintf(labels, sizeof(labels), "type=\"%s\",result=\"%s\"", type, result);
            metrics_inc("recobro_events_total", "Input events by type and result", labels, 1);
            continue;
        }
        tally[nt].type = type;
        tally[nt].result = result;
        tally[nt++].n = 1;
    }
    for (size_t k = 0; k < nt; k++) {
        snprintf(labels, sizeof(labels), "type=\"%s\",result=\"%s\"", tally[k].type,
                 tally[k].result);
        metrics_inc("recobro_events_total", "Input events by type and result", labels,
                    (double)tally[k].n);
    }
}

/* Commits to Kafka, without waiting, the offset after the batch's last message of each
 * partition. Kafka's committed offsets are only a hint for tools; PostgreSQL has the truth. */
static void commit_hint(worker_t *w)
{
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(8);

    for (size_t i = 0; i < w->n; i++) {
        const rd_kafka_message_t *rkm = w->batch[i].rkm;
        const char *topic = rd_kafka_topic_name(rkm->rkt);
        rd_kafka_topic_partition_t *p =
            rd_kafka_topic_partition_list_find(offs, topic, rkm->partition);
        if (p == NULL)
            p = rd_kafka_topic_partition_list_add(offs, topic, rkm->partition);
        p->offset = rkm->offset + 1;
    }
    rd_kafka_commit(w->rk, offs, 1);
    rd_kafka_topic_partition_list_destroy(offs);
}

/* After a commit: cache writes (remembered in PostgreSQL when Redis fails), the Kafka offset
 * hint, metrics. */
static void after_commit(worker_t *w, int64_t started_us)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts); /* the real clock, even under RECOBRO_NOW */
    int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (w->owed_id != 0)
        cacheowe_test_crash_point();
    write_cache(w);
    apply_counts(w);
    count_events(w);
    for (size_t i = 0; i < w->n; i++)
        count_message(&w->batch[i], now_ms);
    commit_hint(w);
    metrics_inc("recobro_batches_total", "Batches committed", NULL, 1);
    metrics_observe("recobro_batch_seconds", "Time to apply and commit one batch", NULL,
                    (double)(clock_mono_us() - started_us) / 1e6);
    LOG_DEBUG("batch.committed", "\"messages\":%zu,\"ms\":%.1f", w->n,
              (double)(clock_mono_us() - started_us) / 1000.0);
}

/* ---- Poison messages ---------------------------------------------------------------------- */

/* Records in PostgreSQL, committed before anything of the batch runs, that the batch starts: the
 * first message of each partition not recorded yet gets its attempt count (wk_msg_t.attempts),
 * so a retry in the same process (after a transient failure) counts nothing twice. Returns 0 or
 * -1 (PostgreSQL failed: retried like any transient failure). */
static int record_attempts(worker_t *w)
{
    attempt_span_t *spans = calloc(w->n ? w->n : 1, sizeof(*spans));
    wk_msg_t **heads = calloc(w->n ? w->n : 1, sizeof(*heads));
    size_t ns = 0;
    char err[512];
    int rc = -1;

    if (spans == NULL || heads == NULL)
        goto out;
    for (size_t i = 0; i < w->n; i++) {
        wk_msg_t *m = &w->batch[i];
        const char *topic = rd_kafka_topic_name(m->rkm->rkt);
        size_t k = 0;
        while (k < ns &&
               (spans[k].partition != m->rkm->partition || strcmp(spans[k].topic, topic) != 0))
            k++;
        if (k == ns) {
            spans[ns] = (attempt_span_t){topic, m->rkm->partition, m->rkm->offset, 0, 0, 0};
            heads[ns++] = m;
        }
        spans[k].last = m->rkm->offset;
    }
    size_t nr = 0; /* the spans whose head this process has not recorded yet, first */
    for (size_t k = 0; k < ns; k++) {
        if (heads[k]->attempts != 0)
            continue;
        spans[nr] = spans[k];
        heads[nr++] = heads[k];
    }
    int alone = w->n == 1;
    if (attempts_begin(w->conn, w->cfg->group_id, spans, nr, alone, err, sizeof(err)) < 0) {
        char esc[600];
        LOG_WARN("attempts.record_failed", "\"error\":\"%s\"",
                 log_json_escape(err, esc, sizeof(esc)));
        goto out;
    }
    for (size_t k = 0; k < nr; k++) {
        heads[k]->resumed = spans[k].resumed;
        /* A resumed head in a batch of several: recorded again when it starts alone. */
        heads[k]->attempts = spans[k].resumed && !alone ? 0
                             : spans[k].attempts > 0    ? spans[k].attempts
                                                        : 1;
    }
    rc = 0;
out:
    free(spans);
    free(heads);
    return rc;
}

/* True when a message of the batch was in hand when a process died (its partition's first
 * message was started before without a commit). */
static int batch_suspect(const worker_t *w)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->batch[i].resumed)
            return 1;
    return 0;
}

/* A batch of one message that was started alone RECOBRO_POISON_ATTEMPTS times without a commit,
 * after the crash of the batch it came in (attempts counts that start and this one too, not the
 * starts where it only waited in a batch gone one by one), is poison: it goes to the DLQ
 * unapplied. */
static void mark_poison(worker_t *w)
{
    wk_msg_t *m = &w->batch[0];

    if (w->n != 1 || m->pre_rejected || m->attempts < w->cfg->poison_attempts + 2)
        return;
    wk_reject(m, "poison", "the message crashed the worker %d times while it was applied alone",
              m->attempts - 2);
    m->pre_rejected = 1;
    LOG_ERROR("event.poison",
              "\"topic\":\"%s\",\"partition\":%" PRId32 ",\"offset\":%" PRId64 ",\"crashes\":%d",
              rd_kafka_topic_name(m->rkm->rkt), m->rkm->partition, m->rkm->offset, m->attempts - 1);
}

/* ---- The batch until it commits ------------------------------------------------------------ */

/* Applies the batch in hand until it commits. Gives up only when a stop was requested and the
 * shutdown timeout passed (nothing committed then: the next owner redoes it). Returns 1, with
 * the batch untouched, when it holds messages a process died with and more than one message:
 * they go one at a time (process_one_by_one()); 0 otherwise, the batch cleared. */
static int process_unit(worker_t *w)
{
    int64_t started = clock_mono_us(), stop_deadline = 0;
    int failed = 0, isolate = 0;

    while (w->n > 0) {
        if (stop_requested) {
            if (stop_deadline == 0)
                stop_deadline = clock_mono_us() + (int64_t)w->cfg->shutdown_timeout_ms * 1000;
            else if (clock_mono_us() > stop_deadline) {
                LOG_WARN("batch.abandoned", "\"messages\":%zu", w->n);
                batch_clear(w);
                return 0;
            }
        }
        int rc = RESULT_TRANSIENT;
        if (pg_ensure(w) == 0 && (!failed || batch_drop_committed(w) == 0)) {
            if (w->n == 0)
                break;
            if (record_attempts(w) == 0) {
                if (!w->one_by_one && w->n > 1 && batch_suspect(w))
                    return 1;
                mark_poison(w);
                rc = apply_batch(w, isolate);
            }
        }
        if (rc == RESULT_OK) {
            after_commit(w, started);
            backoff_reset(&w->backoff);
            break;
        }
        failed = 1;
        if (rc == RESULT_PERMANENT) {
            if (isolate) /* the isolation itself failed: treat as transient */
                rc = RESULT_TRANSIENT;
            isolate = 1;
            LOG_WARN("batch.isolating", "\"messages\":%zu", w->n);
            if (rc == RESULT_PERMANENT)
                continue;
        }
        metrics_inc("recobro_db_retries_total", "Batches retried after a transient failure", NULL,
                    1);
        int delay = backoff_next_ms(&w->backoff);
        LOG_WARN("batch.retry", "\"messages\":%zu,\"delay_ms\":%d", w->n, delay);
        wait_paused(w, delay);
    }
    batch_clear(w);
    return 0;
}

/* After a crash, the batch one message per transaction, in order, each recorded before it runs,
 * so the message that crashes the process is found and, after RECOBRO_POISON_ATTEMPTS crashes
 * alone, set aside (mark_poison()). Stops early on a stop request: what was not committed is
 * redone by the next owner. */
static void process_one_by_one(worker_t *w)
{
    LOG_WARN("batch.one_by_one", "\"messages\":%zu", w->n);
    w->held = w->batch;
    w->nheld = w->n;
    w->capheld = w->cap;
    w->heldpos = 0;
    w->batch = malloc(16 * sizeof(*w->batch));
    w->n = 0;
    w->cap = w->batch != NULL ? 16 : 0;
    w->one_by_one = 1;
    while (w->batch != NULL && w->heldpos < w->nheld && !stop_requested) {
        w->batch[0] = w->held[w->heldpos++];
        w->n = 1;
        process_unit(w);
    }
    w->one_by_one = 0;
    while (w->heldpos < w->nheld)
        msg_free(&w->held[w->heldpos++]);
    free(w->held);
    w->held = NULL;
    w->nheld = w->capheld = w->heldpos = 0;
}

/* The batch in hand, as one transaction, or one message at a time after a crash; then the next
 * batch, prepared meanwhile, is the batch (fill_batch() may top it up). After a stop request
 * the next batch is dropped: what was in hand may not all have committed (abandoned), and the
 * next owner starts from PostgreSQL's offsets anyway. */
static void process_batch(worker_t *w)
{
    w->in_hand = 1;
    if (process_unit(w))
        process_one_by_one(w);
    w->in_hand = 0;
    if (stop_requested) {
        for (size_t i = 0; i < w->nnext; i++)
            msg_free(&w->next[i]);
        w->nnext = 0;
    }
    wk_msg_t *v = w->batch;
    size_t cap = w->cap;
    w->batch = w->next;
    w->cap = w->capnext;
    w->n = w->nnext;
    w->batch_first_us = w->next_first_us;
    w->next = v;
    w->capnext = cap;
    w->nnext = 0;
}

/* ---- Housekeeping ----------------------------------------------------------------------------*/

static void drain_cache_backlog(worker_t *w)
{
    char err[512];

    if (clock_mono_us() < w->next_drain_us || w->conn == NULL)
        return;
    w->next_drain_us = clock_mono_us() + 2000000;
    int n = cache_drain(w->cache, w->conn, 500, err, sizeof(err));
    if (n > 0)
        LOG_INFO("cache.backlog_written", "\"entries\":%d", n);
    /* Until a drain finds nothing: the backlog may be longer than one drain (a worker that
     * starts after another one's outage has no failure of its own to keep it draining). */
    w->cache_backlog = n != 0; /* n < 0: Redis or PostgreSQL away, try again later */
}

/* Re-writes the hot cases other processes (killed between their commit and their cache writes)
 * owed (cacheowed.h): at start every record, then those older than a live owner would leave. */
static void rewrite_owed(worker_t *w)
{
    char err[512];

    if (w->h->rewrite_owed == NULL || clock_mono_us() < w->next_owed_us || w->conn == NULL)
        return;
    int min_age = w->next_owed_us == 0 ? 0 : CACHEOWED_MIN_AGE_S;
    w->next_owed_us = clock_mono_us() + CACHEOWED_PERIOD_US;
    int n = w->h->rewrite_owed(w->h->ud, w->conn, w->cache, min_age, err, sizeof(err));
    if (n > 0)
        LOG_INFO("cache.owed_written", "\"cases\":%d", n);
    else if (n < 0)
        LOG_DEBUG("cache.owed_failed", NULL);
}

/* Rows of processed_event one forget statement deletes: a few tens of ms between two batches. */
#define FORGET_CHUNK 5000

/* Forgets the (source, id) of this service's events applied longer ago than the retention,
 * FORGET_CHUNK at a time: once a minute, or again between the next batches while whole chunks
 * come back. The retention outlives the input topics' (7 days by default), so a duplicate still
 * in Kafka is always recognised. Before, 50,000 every 10 minutes: a long pause of the worker's
 * loop each time, and 83 events/s forgotten at most, so processed_event grew without end under
 * any steady load above that. */
static void forget_old_events(worker_t *w)
{
    char err[512], ret[24], lim[16];
    const char *params[3] = {w->cfg->service, ret, lim};

    if (w->cfg->dedupe_retention_s == 0 || w->conn == NULL || clock_mono_us() < w->next_forget_us)
        return;
    w->next_forget_us = clock_mono_us() + 60 * 1000000LL;
    snprintf(ret, sizeof(ret), "%d", w->cfg->dedupe_retention_s);
    snprintf(lim, sizeof(lim), "%d", FORGET_CHUNK);
    PGresult *res = PQexecParams(w->conn,
                                 "DELETE FROM processed_event WHERE ctid IN (SELECT ctid FROM "
                                 "processed_event WHERE service = $1 AND processed_at < now() - "
                                 "make_interval(secs => $2::int) LIMIT $3::int)",
                                 3, NULL, params, NULL, NULL, 0);
    if (pg_expect(res, PGRES_COMMAND_OK, "dedupe.forget", err, sizeof(err)) == 0) {
        int n = atoi(PQcmdTuples(res));
        if (n > 0)
            LOG_INFO("dedupe.forgotten", "\"events\":%d", n);
        if (n >= FORGET_CHUNK)
            w->next_forget_us = 1; /* more to forget: again after the next batch */
        PQclear(res);
    }
}

static void report_lag(worker_t *w)
{
    if (clock_mono_us() < w->next_lag_us)
        return;
    w->next_lag_us = clock_mono_us() + 5000000;
    lag_report(w->rk);
}

/* The statements every batch runs, prepared on each new connection. */
static const pg_statement_t batch_statements[] = {
    {DEDUPE_STMT, DEDUPE_SQL},
    {DEDUPE_PLAIN_STMT, DEDUPE_PLAIN_SQL},
    {OFFSETS_STMT, OFFSETS_SQL},
    {CACHEOWE_STMT, CACHEOWE_INSERT_SQL},
};

/* After each (re)connection: the runtime's statements, then the handler's on_connect(). */
static int worker_connect(void *ud, PGconn *conn, char *err, size_t errlen)
{
    worker_t *w = ud;

    if (pg_prepare_all(conn, batch_statements,
                       sizeof(batch_statements) / sizeof(batch_statements[0]), err, errlen) != 0 ||
        attempts_prepare(conn, err, errlen) != 0)
        return -1;
    return w->h->on_connect != NULL ? w->h->on_connect(w->h->ud, conn, err, errlen) : 0;
}

/* ---- The loop --------------------------------------------------------------------------------*/

static rd_kafka_t *consumer_new(worker_t *w, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = kafka_conf_new(w->cfg, err, errlen);
    char why[512];

    if (conf == NULL)
        return NULL;
    /* Our defaults first; an explicit RECOBRO_KAFKA_* (applied by kafka_conf_new) would have
     * been overwritten, so re-apply them after. */
    if (kafka_conf_set(conf, "group.id", w->cfg->group_id, err, errlen) < 0 ||
        kafka_conf_set(conf, "partition.assignment.strategy", "cooperative-sticky", err, errlen) <
            0 ||
        kafka_conf_set(conf, "enable.auto.commit", "false", err, errlen) < 0 ||
        kafka_conf_set(conf, "auto.offset.reset", "earliest", err, errlen) < 0 ||
        kafka_conf_set(conf, "enable.partition.eof", "false", err, errlen) < 0 ||
        kafka_consumer_defaults(conf, err, errlen) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    for (int i = 0; i < w->cfg->n_kafka_props; i++) {
        const config_kafka_prop_t *p = &w->cfg->kafka_props[i];
        if (rd_kafka_conf_set(conf, p->name, p->value, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
            snprintf(err, errlen, "%s: %s", p->env, why);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, w);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    if (rk == NULL) {
        snprintf(err, errlen, "kafka: %s", why);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    conf = NULL; /* now owned by rk */
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

/* Sets up w for the handler h on `topics`: outbox, cache, consumer (subscribed) and HTTP
 * endpoints. Returns 0, or -1 with err filled; what was created stays in w for worker_close()
 * to free. */
static int worker_open(worker_t *w, const config_t *cfg, const char *const *topics, size_t n,
                       const wk_handler_t *h, char *err, size_t errlen)
{
    memset(w, 0, sizeof(*w));
    w->cfg = cfg;
    w->h = h;
    w->topics = topics;
    w->ntopics = n;
    snprintf(w->app, sizeof(w->app), "recobro-%s", cfg->service);
    w->db = (pg_session_t){cfg->pg_dsn, w->app, worker_connect, w, NULL, 0};
    w->dedupe_clean = DEDUPE_CLEAN_BATCHES; /* duplicates are the exception */
    backoff_init(&w->backoff, cfg->backoff_initial_ms, cfg->backoff_max_ms,
                 (uint64_t)getpid() * 2654435761u);
    w->outbox = outbox_new();
    w->cache = cache_new(cfg->redis_url, cfg->cache_ttl_s, err, errlen);
    if (w->outbox == NULL || w->cache == NULL) {
        if (w->cache != NULL)
            snprintf(err, errlen, "out of memory");
        return -1;
    }
    w->rk = consumer_new(w, err, errlen);
    if (w->rk == NULL)
        return -1;
    w->http = http_server_new(cfg->http_addr, is_ready, w, err, errlen);
    if (w->http == NULL)
        return -1;
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(subs, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(w->rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "cannot subscribe: %s", rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

/* Leaves the consumer group cleanly and frees everything w holds (what worker_open() made and
 * the batch in hand, if any). */
static void worker_close(worker_t *w)
{
    if (w->rk != NULL) {
        rd_kafka_consumer_close(w->rk);
        rd_kafka_destroy(w->rk);
    }
    batch_clear(w);
    free(w->batch);
    for (size_t i = 0; i < w->nnext; i++)
        msg_free(&w->next[i]);
    free(w->next);
    clear_cache_writes(w);
    free(w->writes);
    drop_counts(w, 0);
    free(w->counts);
    http_server_free(w->http);
    cache_free(w->cache);
    outbox_free(w->outbox);
    pg_session_drop(&w->db);
}

/* Adds a polled message to the batch (which then owns it), or destroys it when it carries an
 * error (logged unless it is a partition EOF). Returns 1 when added, 0 when destroyed, -1 when
 * out of memory (destroyed as well). */
static int batch_take(worker_t *w, rd_kafka_message_t *rkm)
{
    if (rkm->err) {
        if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            LOG_WARN("kafka.error", "\"error\":\"%s\"", rd_kafka_message_errstr(rkm));
        rd_kafka_message_destroy(rkm);
        return 0;
    }
    if (batch_add(w, rkm) < 0) {
        rd_kafka_message_destroy(rkm);
        LOG_ERROR("worker.oom", NULL);
        return -1;
    }
    return 1;
}

/* Polls messages into the batch until it holds batch_max, batch_ms have passed since its first
 * message, a stop is requested, or (with an empty batch) 100 ms pass without a message. */
static void fill_batch(worker_t *w)
{
    /* 0 until the first message; a batch prepared already counts from its first */
    int64_t deadline = w->n > 0 ? w->batch_first_us + (int64_t)w->cfg->batch_ms * 1000 : 0;

    while (!stop_requested && w->n < (size_t)w->cfg->batch_max) {
        int timeout = 100;
        if (deadline != 0) {
            int64_t left = (deadline - clock_mono_us()) / 1000;
            if (left <= 0)
                break;
            timeout = (int)left;
        }
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(w->rk, timeout);
        if (rkm == NULL) {
            if (deadline == 0)
                break; /* idle: go do housekeeping */
            continue;
        }
        int taken = batch_take(w, rkm);
        if (taken < 0)
            break;
        if (taken > 0 && deadline == 0)
            deadline = clock_mono_us() + (int64_t)w->cfg->batch_ms * 1000;
    }
}

/* What the loop does between batches, each at its own pace. */
static void housekeeping(worker_t *w)
{
    if (w->cache_backlog || w->next_drain_us == 0)
        drain_cache_backlog(w);
    rewrite_owed(w);
    forget_old_events(w);
    report_lag(w);
}

int wk_run(const config_t *cfg, const char *const *topics, size_t n, const wk_handler_t *h)
{
    worker_t w;
    char err[600];
    int status = 1;

    if (worker_open(&w, cfg, topics, n, h, err, sizeof(err)) < 0) {
        fprintf(stderr, "recobro-%s: %s\n", cfg->service, err);
        goto out;
    }
    LOG_INFO("worker.started", "\"group\":\"%s\",\"http\":\"%s\",\"batch_max\":%d", cfg->group_id,
             cfg->http_addr, cfg->batch_max);
    pg_ensure(&w);
    while (!stop_requested) {
        fill_batch(&w);
        if (w.n > 0)
            process_batch(&w);
        else if (w.conn == NULL)
            pg_ensure(&w); /* keep /readyz honest while idle */
        housekeeping(&w);
    }
    /* Graceful shutdown: the batch in hand (if any) is committed by process_batch above before
     * the loop ends; now leave the group cleanly. */
    if (w.n > 0)
        process_batch(&w);
    LOG_INFO("worker.stopping", NULL);
    status = 0;
out:
    worker_close(&w);
    if (status == 0)
        LOG_INFO("worker.stopped", NULL);
    return status;
}
