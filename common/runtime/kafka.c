/* kafka.c - librdkafka configuration and topic administration (see kafka.h). */
#include "kafka.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

/* How long a command-line tool waits for a first broker to answer before it gives up. */
#define KAFKA_PROBE_MS 5000

/* librdkafka's own log lines (syslog levels) as JSON lines through the one logger: event
 * "kafka.log" with librdkafka's facility and message. Called from librdkafka's threads. */
static void log_cb(const rd_kafka_t *rk, int level, const char *facility, const char *message)
{
    char fac[64], msg[900];
    log_level_t l = level <= 3   ? LOG_ERROR
                    : level == 4 ? LOG_WARN
                    : level <= 6 ? LOG_INFO
                                 : LOG_DEBUG;

    (void)rk;
    LOG_AT(l, "kafka.log", "\"facility\":\"%s\",\"message\":\"%s\"",
           log_json_escape(facility, fac, sizeof(fac)), log_json_escape(message, msg, sizeof(msg)));
}

int kafka_probe(rd_kafka_t *rk, const config_t *cfg, char *err, size_t errlen)
{
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, NULL, &md, KAFKA_PROBE_MS);

    if (md != NULL)
        rd_kafka_metadata_destroy(md);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    snprintf(err, errlen, "kafka: no broker answered at %s within %d s (%s)", cfg->kafka_brokers,
             KAFKA_PROBE_MS / 1000, rd_kafka_err2str(e));
    return -1;
}

int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                   size_t errlen)
{
    char why[512];

    if (rd_kafka_conf_set(conf, name, value, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "%s: %s", name, why);
        return -1;
    }
    return 0;
}

/* A consuming worker's prefetch. librdkafka's defaults queue up to 100,000 messages (or 64 MB)
 * ahead of the worker and fetch up to 1 MB per partition at a time: `make bench`'s test worker
 * over a million events was at 44-74 MB at its first commit and 80-84 MB once its queue was full.
 * 50,000 messages still hold about a second of the fastest worker's events (45,000-50,000/s),
 * which librdkafka 2.0 needs: once the queue is full it fetches again only at its broker thread's
 * next one-second wake-up (fetch.queue.backoff.ms came in 2.1; fetch.error.backoff.ms plays no
 * part), and a queue that runs dry before then stalls the worker (10,000 messages cost a quarter
 * of the throughput, 30,000 a tenth or more). Fetches of 256 KB per partition keep small the
 * buffers the queued messages pin (a larger message still comes whole: the broker returns a
 * partition's first batch whatever its size). fetch.max.bytes stays librdkafka's: it must be at
 * least message.max.bytes, which an operator may raise. With these the queue is full by the first
 * commit: 39-46 MB then, 45-47 MB at the peak. See deploy/README.md, "Memory". */
static const char *const consumer_defaults[][2] = {
    {"queued.min.messages", "50000"},
    {"max.partition.fetch.bytes", "262144"},
};

int kafka_consumer_defaults(rd_kafka_conf_t *conf, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof(consumer_defaults) / sizeof(consumer_defaults[0]); i++)
        if (kafka_conf_set(conf, consumer_defaults[i][0], consumer_defaults[i][1], err, errlen) < 0)
            return -1;
    return 0;
}

rd_kafka_conf_t *kafka_conf_new(const config_t *cfg, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char client_id[64], why[512];

    snprintf(client_id, sizeof(client_id), "recobro-%s", cfg->service);
    if (kafka_conf_set(conf, "bootstrap.servers", cfg->kafka_brokers, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "RECOBRO_KAFKA_BROKERS: %s", why);
        goto fail;
    }
    if (kafka_conf_set(conf, "client.id", client_id, err, errlen) < 0)
        goto fail;
    rd_kafka_conf_set_log_cb(conf, log_cb);
    /* The command-line tool says what failed in one line of its own; librdkafka's lines (a
     * refused connection, every retry) are for RECOBRO_LOG_LEVEL=debug there. */
    if (strcmp(cfg->service, "recobroctl") == 0 && cfg->log_level > LOG_DEBUG &&
        kafka_conf_set(conf, "log_level", "0", err, errlen) < 0)
        goto fail;
    for (int i = 0; i < cfg->n_kafka_props; i++) {
        const config_kafka_prop_t *p = &cfg->kafka_props[i];
        if (rd_kafka_conf_set(conf, p->name, p->value, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
            snprintf(err, errlen, "%s: %s", p->env, why);
            goto fail;
        }
    }
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* Counts the CreateTopics results: created, already there, or refused (the last refusal's
 * reason in err). Returns 0, or -1 when a topic was refused. */
static int count_created(rd_kafka_event_t *ev, int *created, int *existing, char *err,
                         size_t errlen)
{
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    size_t cnt;
    const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &cnt);
    int rc = 0;

    for (size_t i = 0; i < cnt; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            (*created)++;
        } else if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            (*existing)++;
        } else {
            const char *why = rd_kafka_topic_result_error_string(tr[i]);
            snprintf(err, errlen, "topic %s: %s", rd_kafka_topic_result_name(tr[i]),
                     why ? why : rd_kafka_err2str(e));
            rc = -1;
        }
    }
    return rc;
}

/* Sends CreateTopics for the n new topics on rk and waits for the answer. Returns 0, or -1 with
 * err filled (no answer, a request error, a topic refused). */
static int create_topics(rd_kafka_t *rk, const config_t *cfg, rd_kafka_NewTopic_t **newt, size_t n,
                         int *created, int *existing, char *err, size_t errlen)
{
    char why[512];
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    int rc = -1;

    rd_kafka_AdminOptions_set_operation_timeout(opts, 30000, why, sizeof(why));
    rd_kafka_AdminOptions_set_request_timeout(opts, 30000, why, sizeof(why));
    rd_kafka_CreateTopics(rk, newt, n, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
    if (ev == NULL)
        snprintf(err, errlen, "kafka: no answer to CreateTopics within 60 s from %s",
                 cfg->kafka_brokers);
    else if (rd_kafka_event_error(ev))
        snprintf(err, errlen, "kafka: %s", rd_kafka_event_error_string(ev));
    else
        rc = count_created(ev, created, existing, err, errlen);
    if (ev != NULL)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_AdminOptions_destroy(opts);
    return rc;
}

int kafka_topics_ensure(const config_t *cfg, const char *const *topics, size_t n, int partitions,
                        int replication, const char *const *configs, int *created, int *existing,
                        char *err, size_t errlen)
{
    char why[512];
    rd_kafka_conf_t *conf = kafka_conf_new(cfg, err, errlen);
    rd_kafka_NewTopic_t *newt[32];
    int rc;

    *created = *existing = 0;
    if (conf == NULL)
        return -1;
    if (n > 32) {
        snprintf(err, errlen, "too many topics");
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (rk == NULL) {
        snprintf(err, errlen, "kafka: %s", why);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    conf = NULL; /* now owned by rk */
    if (kafka_probe(rk, cfg, err, errlen) < 0) {
        rd_kafka_destroy(rk);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        newt[i] = rd_kafka_NewTopic_new(topics[i], partitions, replication, why, sizeof(why));
        if (newt[i] == NULL) {
            snprintf(err, errlen, "topic %s: %s", topics[i], why);
            rd_kafka_NewTopic_destroy_array(newt, i);
            rd_kafka_destroy(rk);
            return -1;
        }
        for (size_t c = 0; configs != NULL && configs[c] != NULL; c += 2)
            rd_kafka_NewTopic_set_config(newt[i], configs[c], configs[c + 1]);
    }
    rc = create_topics(rk, cfg, newt, n, created, existing, err, errlen);
    rd_kafka_NewTopic_destroy_array(newt, n);
    rd_kafka_destroy(rk);
    return rc;
}
