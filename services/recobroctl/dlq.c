/* dlq.c - `recobroctl dlq replay`: sends rejected messages back to the topic they came from,
 * byte for byte with their key and their producer's headers, once whatever made them fail
 * (a missing currency, a worker bug, a policy) has been fixed.
 *
 * It reads recobro.dlq with its own consumer group up to the end the topic had when it started
 * (so it always terminates), and commits what it read, so a message is replayed once. With a
 * filter (--reason, --source-topic) nothing is committed: skipped messages stay available to a
 * later replay. A replayed event that is still invalid goes back to the DLQ; one that is now
 * valid is applied exactly once, like any re-sent event. */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "kafka.h"
#include "service.h"

typedef struct replay_opts {
    const char *reason;       /* only this recobro-error, or NULL */
    const char *source_topic; /* only messages from this topic, or NULL */
    int dry_run;
    long limit; /* at most this many replayed; 0: no limit */
} replay_opts_t;

static int usage(void)
{
    fprintf(stderr, "recobroctl: usage: recobroctl dlq replay [--reason CODE] "
                    "[--source-topic TOPIC] [--limit N] [--dry-run]\n");
    return EXIT_USAGE;
}

/* The value of header `name` as a C string in buf ("" when absent). */
static const char *header(rd_kafka_headers_t *hdrs, const char *name, char *buf, size_t size)
{
    const void *val;
    size_t len;

    buf[0] = '\0';
    if (hdrs != NULL &&
        rd_kafka_header_get_last(hdrs, name, &val, &len) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (len >= size)
            len = size - 1;
        memcpy(buf, val, len);
        buf[len] = '\0';
    }
    return buf;
}

/* The end offsets of every partition of `topic` now: the replay stops there. */
static rd_kafka_topic_partition_list_t *ends_now(rd_kafka_t *rk, const char *topic, char *err,
                                                 size_t errlen)
{
    const rd_kafka_metadata_t *md;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);

    rd_kafka_topic_destroy(rkt);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1 || md->topics[0].err) {
        snprintf(err, errlen, "cannot read the metadata of %s: %s", topic,
                 e ? rd_kafka_err2str(e)
                   : rd_kafka_err2str(md->topic_cnt ? md->topics[0].err
                                                    : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            rd_kafka_metadata_destroy(md);
        return NULL;
    }
    rd_kafka_topic_partition_list_t *ends = rd_kafka_topic_partition_list_new(8);
    for (int i = 0; i < md->topics[0].partition_cnt; i++) {
        int32_t p = md->topics[0].partitions[i].id;
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000) ==
                RD_KAFKA_RESP_ERR_NO_ERROR &&
            hi > lo)
            rd_kafka_topic_partition_list_add(ends, topic, p)->offset = hi;
    }
    rd_kafka_metadata_destroy(md);
    return ends;
}

static int replay(const config_t *cfg, const replay_opts_t *o)
{
    char err[600];
    long replayed = 0, skipped = 0;
    int rc = EXIT_FAIL;
    rd_kafka_conf_t *cconf = kafka_conf_new(cfg, err, sizeof(err));
    rd_kafka_conf_t *pconf = kafka_conf_new(cfg, err, sizeof(err));
    rd_kafka_t *consumer = NULL, *producer = NULL;
    rd_kafka_topic_partition_list_t *ends = NULL;

    if (cconf == NULL || pconf == NULL)
        goto out;
    if (kafka_conf_set(cconf, "group.id", cfg->group_id, err, sizeof(err)) < 0 ||
        kafka_conf_set(cconf, "enable.auto.commit", "false", err, sizeof(err)) < 0 ||
        kafka_conf_set(cconf, "auto.offset.reset", "earliest", err, sizeof(err)) < 0 ||
        kafka_conf_set(pconf, "enable.idempotence", "true", err, sizeof(err)) < 0 ||
        kafka_conf_set(pconf, "message.max.bytes", "16777216", err, sizeof(err)) < 0)
        goto out;
    consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, err, sizeof(err));
    if (consumer == NULL)
        goto out;
    cconf = NULL; /* now owned by consumer */
    producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, err, sizeof(err));
    if (producer == NULL)
        goto out;
    pconf = NULL; /* now owned by producer */
    rd_kafka_poll_set_consumer(consumer);
    ends = ends_now(consumer, cfg->topic_dlq, err, sizeof(err));
    if (ends == NULL)
        goto out;
    if (ends->cnt == 0) {
        printf("{\"replayed\":0,\"skipped\":0,\"dry_run\":%s}\n", o->dry_run ? "true" : "false");
        rc = EXIT_OK;
        goto out;
    }
    /* Start each partition at the group's committed offset (earliest when none). */
    rd_kafka_topic_partition_list_t *start = rd_kafka_topic_partition_list_copy(ends);
    for (int i = 0; i < start->cnt; i++)
        start->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
    rd_kafka_committed(consumer, start, 10000);
    for (int i = 0; i < start->cnt; i++)
        if (start->elems[i].offset < 0)
            start->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(consumer, start);
    int open = 0;
    for (int i = 0; i < start->cnt; i++)
        open += start->elems[i].offset == RD_KAFKA_OFFSET_BEGINNING ||
                start->elems[i].offset < ends->elems[i].offset;
    rd_kafka_topic_partition_list_t *reached = rd_kafka_topic_partition_list_copy(start);
    rd_kafka_topic_partition_list_destroy(start);

    int idle = 0;
    while (open > 0 && idle < 30 && (o->limit == 0 || replayed < o->limit)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 1000);
        if (m == NULL) {
            idle++;
            continue;
        }
        idle = 0;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        rd_kafka_topic_partition_t *end =
            rd_kafka_topic_partition_list_find(ends, rd_kafka_topic_name(m->rkt), m->partition);
        rd_kafka_topic_partition_t *at =
            rd_kafka_topic_partition_list_find(reached, rd_kafka_topic_name(m->rkt), m->partition);
        if (end == NULL || m->offset >= end->offset) {
            rd_kafka_message_destroy(m);
            continue; /* arrived after we started: the next replay's business */
        }
        at->offset = m->offset + 1;
        if (at->offset >= end->offset)
            open--;
        rd_kafka_headers_t *hdrs = NULL;
        rd_kafka_message_headers(m, &hdrs);
        char reason[64], source[256], offset[32];
        header(hdrs, "recobro-error", reason, sizeof(reason));
        header(hdrs, "recobro-source-topic", source, sizeof(source));
        if (source[0] == '\0' || (o->reason && strcmp(o->reason, reason) != 0) ||
            (o->source_topic && strcmp(o->source_topic, source) != 0)) {
            skipped++;
            rd_kafka_message_destroy(m);
            continue;
        }
        if (o->dry_run) {
            printf("{\"partition\":%" PRId32 ",\"offset\":%" PRId64
                   ",\"reason\":\"%s\",\"source_topic\":\"%s\"}\n",
                   m->partition, m->offset, reason, source);
            replayed++;
            rd_kafka_message_destroy(m);
            continue;
        }
        /* The producer's own headers go back; recobro's diagnosis does not. */
        rd_kafka_headers_t *out = rd_kafka_headers_new(8);
        size_t n = hdrs ? rd_kafka_header_cnt(hdrs) : 0;
        for (size_t k = 0; k < n; k++) {
            const char *name;
            const void *val;
            size_t len;
            if (rd_kafka_header_get_all(hdrs, k, &name, &val, &len) == RD_KAFKA_RESP_ERR_NO_ERROR &&
                strncmp(name, "recobro-", 8) != 0)
                rd_kafka_header_add(out, name, -1, val, (ssize_t)len);
        }
        snprintf(offset, sizeof(offset), "%" PRId32 "/%" PRId64, m->partition, m->offset);
        rd_kafka_header_add(out, "recobro-replayed-from", -1, offset, -1);
        rd_kafka_resp_err_t e;
        do {
            e = rd_kafka_producev(
                producer, RD_KAFKA_V_TOPIC(source), RD_KAFKA_V_KEY(m->key, m->key_len),
                RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_HEADERS(out), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(producer, 100);
        } while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_headers_destroy(out);
            snprintf(err, sizeof(err), "cannot produce to %s: %s", source, rd_kafka_err2str(e));
            rd_kafka_message_destroy(m);
            rd_kafka_topic_partition_list_destroy(reached);
            goto out;
        }
        replayed++;
        rd_kafka_message_destroy(m);
    }
    if (!o->dry_run && rd_kafka_flush(producer, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, sizeof(err), "the broker did not acknowledge every replayed message");
        rd_kafka_topic_partition_list_destroy(reached);
        goto out;
    }
    /* Commit only an unfiltered, real replay: what it read is done. */
    if (!o->dry_run && o->reason == NULL && o->source_topic == NULL && o->limit == 0)
        rd_kafka_commit(consumer, reached, 0);
    rd_kafka_topic_partition_list_destroy(reached);
    printf("{\"replayed\":%ld,\"skipped\":%ld,\"dry_run\":%s}\n", replayed, skipped,
           o->dry_run ? "true" : "false");
    rc = EXIT_OK;
out:
    if (rc != EXIT_OK)
        fprintf(stderr, "recobroctl: %s\n", err);
    if (ends != NULL)
        rd_kafka_topic_partition_list_destroy(ends);
    if (cconf != NULL)
        rd_kafka_conf_destroy(cconf);
    if (pconf != NULL)
        rd_kafka_conf_destroy(pconf);
    if (consumer != NULL) {
        rd_kafka_consumer_close(consumer);
        rd_kafka_destroy(consumer);
    }
    if (producer != NULL)
        rd_kafka_destroy(producer);
    return rc;
}

int ctl_dlq_replay(const config_t *cfg, int argc, char **argv)
{
    replay_opts_t o = {NULL, NULL, 0, 0};

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--dry-run") == 0) {
            o.dry_run = 1;
        } else if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc) {
            o.reason = argv[++i];
        } else if (strcmp(argv[i], "--source-topic") == 0 && i + 1 < argc) {
            o.source_topic = argv[++i];
        } else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
            char *end;
            o.limit = strtol(argv[++i], &end, 10);
            if (*end != '\0' || o.limit <= 0)
                return usage();
        } else {
            return usage();
        }
    }
    return replay(cfg, &o);
}
