/* metrics_catalog.c - the declared metric families of recobro (see metrics_catalog.h). */
#include "metrics_catalog.h"

#include <stdio.h>
#include <string.h>

#include "contact.h"
#include "metrics.h"
#include "vocab.h"

#ifndef RECOBRO_COMMIT
#define RECOBRO_COMMIT "unknown"
#endif

typedef struct family_def {
    const char *name;
    metric_type_t type;
    const char *help;
    int bare; /* no labels: its one series is created at 0 */
} family_def_t;

static const family_def_t common_families[] = {
    {"recobro_build_info", METRIC_GAUGE, "Always 1: the version and commit of this build", 0},
    {"recobro_ready", METRIC_GAUGE,
     "1 when /readyz answers 200 (connected and, for a consumer, assigned), else 0; set at "
     "each scrape",
     1},
    {"recobro_db_errors_total", METRIC_COUNTER,
     "Database errors, by kind (connect: no session; cache_backlog: a failed cache write could "
     "not be remembered)",
     0},
    {"recobro_db_retries_total", METRIC_COUNTER,
     "Transactions retried after a transient failure (a worker's batch, a scheduler sweep, a "
     "relay pass)",
     1},
    {"recobro_cache_errors_total", METRIC_COUNTER,
     "Hot-case writes to Redis that failed (remembered in PostgreSQL and written later)", 1},
};

static const family_def_t worker_families[] = {
    {"recobro_events_total", METRIC_COUNTER, "Input events committed, by type and result", 0},
    {"recobro_dlq_total", METRIC_COUNTER, "Input messages sent to the DLQ, by reason", 0},
    {"recobro_poison_total", METRIC_COUNTER,
     "Messages set aside because processing them kept failing (poison messages)", 0},
    {"recobro_processing_seconds", METRIC_HISTOGRAM,
     "End-to-end time of an input event: from its production in Kafka to the commit of its "
     "effects",
     1},
    {"recobro_batches_total", METRIC_COUNTER, "Batches committed", 1},
    {"recobro_batch_seconds", METRIC_HISTOGRAM, "Time to apply and commit one batch", 1},
    {METRIC_CONSUMER_LAG, METRIC_GAUGE,
     "Messages between the consumer's position and the end of each assigned partition", 0},
};

static const family_def_t task_families[] = {
    {"recobro_tasks_created_total", METRIC_COUNTER, "Tasks created, by action", 0},
    {"recobro_tasks_deferred_total", METRIC_COUNTER,
     "Tasks deferred by the contact rules, by reason", 0},
    {"recobro_tasks_suppressed_total", METRIC_COUNTER,
     "Tasks suppressed by the contact rules, by reason", 0},
};

static const family_def_t scheduler_families[] = {
    {"recobro_scheduler_sweep_seconds", METRIC_HISTOGRAM, "Duration of one sweep", 1},
    {"recobro_scheduler_sweeps_total", METRIC_COUNTER, "Sweeps, by result", 0},
    {"recobro_scheduler_cases_swept_total", METRIC_COUNTER, "Due cases planned by the scheduler",
     1},
    {"recobro_scheduler_cases_failed_total", METRIC_COUNTER,
     "Due cases that could not be planned (set aside)", 1},
    {"recobro_scheduler_tasks_released_total", METRIC_COUNTER,
     "Tasks emitted by the scheduler because their day came", 1},
    {"recobro_scheduler_promises_settled_total", METRIC_COUNTER,
     "Promises and instalments settled by the scheduler", 1},
    {"recobro_scheduler_segment_changes_total", METRIC_COUNTER,
     "Segment changes found by the scheduler as days passed", 1},
};

static const family_def_t relay_families[] = {
    {"recobro_outbox_published_total", METRIC_COUNTER, "Outbox rows published", 1},
    {"recobro_relay_errors_total", METRIC_COUNTER,
     "Outbox rows the broker did not acknowledge (all reasons)", 1},
    {"recobro_outbox_failed_total", METRIC_COUNTER,
     "Outbox rows whose publication failed (each will be retried), by reason", 0},
    {"recobro_outbox_retry_waiting", METRIC_GAUGE,
     "Unsent outbox rows that failed and wait for a retry (their keys' later rows wait behind "
     "them)",
     1},
    {"recobro_outbox_backlog_rows", METRIC_GAUGE, "Outbox rows not yet published", 1},
    {"recobro_outbox_oldest_age_seconds", METRIC_GAUGE,
     "Age of the oldest outbox row not yet published (0 when none)", 1},
};

/* The DLQ reason codes of proto/README.md. */
static const char *const dlq_reasons[] = {
    "malformed_json",    "too_large",        "schema_violation", "unknown_type",
    "invalid_amount",    "invalid_currency", "invalid_date",     "invalid_timezone",
    "currency_mismatch", "invalid_promise",  "invalid_plan",     "processing_error"};

static const char *const deferred_reasons[] = {
    CONTACT_REASON_OUTSIDE_WINDOW, CONTACT_REASON_NO_CONTACT_DAY, CONTACT_REASON_CALL_CAP,
    CONTACT_REASON_QUIET_AFTER_RPC, CONTACT_REASON_FORBEARANCE};

static const char *const suppressed_reasons[] = {
    CONTACT_REASON_OPT_OUT_CALL, CONTACT_REASON_OPT_OUT_SMS, CONTACT_REASON_OPT_OUT_EMAIL,
    CONTACT_REASON_CEASE,        CONTACT_REASON_DISPUTE,     CONTACT_REASON_NO_ALLOWED_MOMENT};

/* The input types each case worker consumes (CONTRACT.md's topics), and "unknown". */
static const char *const overdue_types[] = {"invoice.overdue", "invoice.adjusted",
                                            "invoice.cancelled", "unknown", NULL};
static const char *const payments_types[] = {"payment.received", "payment.reversed", "unknown",
                                             NULL};
static const char *const interactions_types[] = {
    "contact.attempted",   "promise.made",     "plan.agreed",
    "debt.disputed",       "dispute.resolved", "contact.preferences",
    "forbearance.granted", "unknown",          NULL};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void declare(const family_def_t *defs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int latency = strcmp(defs[i].name, "recobro_processing_seconds") == 0 ||
                      strcmp(defs[i].name, "recobro_scheduler_sweep_seconds") == 0;
        metrics_declare(defs[i].name, defs[i].help, defs[i].type,
                        latency ? metrics_buckets_latency : metrics_buckets_fast,
                        latency ? metrics_buckets_latency_n : metrics_buckets_fast_n);
        if (defs[i].bare)
            metrics_touch(defs[i].name, NULL);
    }
}

/* Creates name{key="value"} at 0 for each value. */
static void touch_values(const char *name, const char *key, const char *const *values, size_t n)
{
    char labels[160];

    for (size_t i = 0; i < n && values[i] != NULL; i++) {
        snprintf(labels, sizeof(labels), "%s=\"%s\"", key, values[i]);
        metrics_touch(name, labels);
    }
}

static void register_tasks(void)
{
    const char *actions[VOCAB_ACTION_COUNT];

    declare(task_families, N(task_families));
    for (int a = 0; a < VOCAB_ACTION_COUNT; a++)
        actions[a] = vocab_action_name((vocab_action_t)a);
    touch_values("recobro_tasks_created_total", "action", actions, VOCAB_ACTION_COUNT);
    touch_values("recobro_tasks_deferred_total", "reason", deferred_reasons, N(deferred_reasons));
    touch_values("recobro_tasks_suppressed_total", "reason", suppressed_reasons,
                 N(suppressed_reasons));
}

static void register_worker(const char *service)
{
    static const char *const results[] = {"applied", "duplicate", "rejected"};
    static const char *const reports[] = {"done", "failed", "not_pending"};
    const char *const *types = strcmp(service, "payments") == 0       ? payments_types
                               : strcmp(service, "interactions") == 0 ? interactions_types
                                                                      : overdue_types;
    char labels[160];

    declare(worker_families, N(worker_families));
    touch_values("recobro_dlq_total", "reason", dlq_reasons, N(dlq_reasons));
    for (size_t t = 0; types[t] != NULL; t++)
        for (size_t r = 0; r < N(results); r++) {
            snprintf(labels, sizeof(labels), "type=\"%s\",result=\"%s\"", types[t], results[r]);
            metrics_touch("recobro_events_total", labels);
        }
    register_tasks();
    if (strcmp(service, "interactions") == 0) {
        metrics_declare("recobro_task_reports_total",
                        "contact.attempted reports carrying a task_id, by what they did to the "
                        "task",
                        METRIC_COUNTER, NULL, 0);
        touch_values("recobro_task_reports_total", "result", reports, N(reports));
    }
}

void metrics_catalog_register(const char *service)
{
    static const char *const sweep_results[] = {"ok", "error"};
    static const char *const db_kinds[] = {"connect", "cache_backlog"};
    static const char *const publish_failures[] = {"msg_timed_out", "msg_size_too_large",
                                                   "unknown_topic_or_part"};

    declare(common_families, N(common_families));
    touch_values("recobro_db_errors_total", "kind", db_kinds, N(db_kinds));
    metrics_set("recobro_build_info", NULL,
                "version=\"" RECOBRO_VERSION "\",commit=\"" RECOBRO_COMMIT "\"", 1);
    if (strcmp(service, "scheduler") == 0) {
        declare(scheduler_families, N(scheduler_families));
        touch_values("recobro_scheduler_sweeps_total", "result", sweep_results, N(sweep_results));
        register_tasks();
    } else if (strcmp(service, "relay") == 0) {
        declare(relay_families, N(relay_families));
        touch_values("recobro_outbox_failed_total", "reason", publish_failures,
                     N(publish_failures));
    } else {
        register_worker(service);
    }
}
