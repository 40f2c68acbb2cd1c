/* worker.h - the runtime every consuming service runs: consume a batch from Kafka, apply it in
 * ONE PostgreSQL transaction that also records each event's (source, id) and the partitions'
 * next offsets, then write the hot cache. See DESIGN.md, "Guarantees".
 *
 * What a service provides is a wk_handler_t: a pure validate() for each parsed event and an
 * apply() that runs inside the batch's transaction. Everything else is here:
 *  - exactly-once effects: a (source, id) seen before is a duplicate and never reaches apply();
 *    offsets live in PostgreSQL and the consumer seeks to them on assignment;
 *  - rejected messages (bad JSON, bad envelope, bad data, or rejected by apply()) are copied
 *    unchanged to the DLQ topic through the outbox, with the contract's headers;
 *  - transient failures are retried with capped exponential backoff, consumption paused, no
 *    offset moved; a permanent failure of one event is isolated with savepoints and that event
 *    goes to the DLQ as "processing_error";
 *  - poison messages: before a batch runs, its offsets are recorded in PostgreSQL (attempts.h).
 *    After a batch that never committed (the process died), its messages are applied one at a
 *    time; one that crashed the process RECOBRO_POISON_ATTEMPTS times alone goes to the DLQ as
 *    "poison" and the partition goes on;
 *  - SIGTERM/SIGINT finish and commit the batch in hand and leave the group; a second signal
 *    exits at once;
 *  - /metrics, /healthz, /readyz. */
#ifndef RECOBRO_WORKER_H
#define RECOBRO_WORKER_H

#include <libpq-fe.h>
#include <signal.h>
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "result.h"

#include "cache.h"
#include "cloudevent.h"
#include "config.h"
#include "outbox.h"

typedef enum { WK_MSG_NEW, WK_MSG_DUPLICATE, WK_MSG_REJECTED } wk_msg_state_t;

typedef struct wk_msg {
    rd_kafka_message_t *rkm; /* owned by the runtime */
    ce_event_t ev;           /* parsed envelope; empty when rejected before parsing finished */
    wk_msg_state_t state;
    int pre_rejected; /* rejected before the transaction: stays rejected on retries */
    reason_t reject;  /* why, when state == WK_MSG_REJECTED */
    /* The first message of its partition in a batch: its count in the attempt record, as
     * recorded in PostgreSQL before the batch ran (attempts.h); 0 otherwise, and 0 again for a
     * resumed one in a batch of several, whose start did not count: its start alone will. */
    int attempts;
    int resumed; /* its partition's record was there at this offset: a process died with it */
} wk_msg_t;

typedef struct wk_tx wk_tx_t;

typedef struct wk_handler {
    const char *service; /* "overdue", "payments", ... (also the DLQ's recobro-service) */
    /* Checks a parsed event before any I/O: its type is one this service consumes, its data is
     * valid. Returns 0, or -1 with err filled (the message goes to the DLQ). */
    int (*validate)(void *ud, const ce_event_t *ev, reason_t *err);
    /* Called after each (re)connection, e.g. to prepare statements. May be NULL. Returns 0, or
     * -1 with err filled (the connection is dropped and retried). */
    int (*on_connect)(void *ud, PGconn *conn, char *err, size_t errlen);
    /* Applies `n` new (non-duplicate) events, in partition order, inside the batch's
     * transaction (wk_tx_conn()). It may reject an event with wk_reject() BEFORE applying any of
     * its effects. Returns RESULT_OK, RESULT_TRANSIENT or RESULT_PERMANENT (wk_tx_sql_error()
     * decides). */
    int (*apply)(void *ud, wk_tx_t *tx, wk_msg_t *const *msgs, size_t n);
    void *ud;
    /* Re-writes to `cache` the cases of cache_owed records older than `min_age_s` (cacheowe.h),
     * from PostgreSQL's current state; called at start and every CACHEOWED_PERIOD_US. Returns
     * the number of cases written or -1 with err filled. May be NULL. */
    int (*rewrite_owed)(void *ud, PGconn *conn, cache_t *cache, int min_age_s, char *err,
                        size_t errlen);
} wk_handler_t;

/* The transaction's connection (borrowed). */
PGconn *wk_tx_conn(wk_tx_t *tx);

/* The transaction's outbox buffer (borrowed): tasks and case events added here are written in
 * the same transaction. */
outbox_t *wk_tx_outbox(wk_tx_t *tx);

/* The configuration the worker runs with (borrowed). */
const config_t *wk_tx_config(wk_tx_t *tx);

/* Queues a cache write to happen after the commit (copied). Returns 0 or -1 (out of memory). */
int wk_tx_cache(wk_tx_t *tx, const char *key, const char *json, int64_t version);
/* wk_tx_cache() for the case (creditor_id, debtor_id), also recorded in cache_owed in the batch's
 * COMMIT and cleared once written, so a process killed in between leaves it to be re-written
 * (cacheowe.h). */
int wk_tx_cache_case(wk_tx_t *tx, const char *creditor_id, const char *debtor_id, const char *key,
                     const char *json, int64_t version);

/* Queues a counter increment (metrics_inc()) to happen after the commit, so that a batch retried
 * or rolled back counts nothing twice. `name` and `help` are borrowed (static); `labels` (may be
 * NULL) is copied. Returns 0 or -1 (out of memory). */
int wk_tx_count(wk_tx_t *tx, const char *name, const char *help, const char *labels, long n);

/* Classifies a failed statement: clears `res`, logs `what` with the server's message, and
 * returns RESULT_TRANSIENT or RESULT_PERMANENT. */
int wk_tx_sql_error(wk_tx_t *tx, PGresult *res, const char *what);

/* Marks `m` rejected with a stable `code` and a detail without personal data. */
void wk_reject(wk_msg_t *m, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Runs the service until SIGTERM/SIGINT: consumes `topics` (n of them) with handler `h`.
 * Returns the process exit status (0 after a clean shutdown, 1 when it could not start; the
 * reason is logged in one line). */
int wk_run(const config_t *cfg, const char *const *topics, size_t n, const wk_handler_t *h);

/* Installs the SIGTERM/SIGINT handlers shared by all services (first: stop gracefully; second:
 * exit at once) and returns a pointer to the stop flag. Called once per process, by
 * service_init() (service.h); a loop reads the flag through wk_stop_flag(). */
volatile sig_atomic_t *wk_install_signals(void);

/* The stop flag the signal handlers set (never NULL); installs nothing. */
volatile sig_atomic_t *wk_stop_flag(void);

#endif
