/* dlq.c - `recobroctl dlq replay`: sends rejected messages back to the topic they came from,
 * byte for byte with their key and their producer's headers, once whatever made them fail
 * (a missing currency, a worker bug, a policy) has been fixed.
 *
 * Only to an input topic (RECOBRO_TOPIC_INVOICES, _PAYMENTS, _INTERACTIONS, renames included):
 * the recobro-source-topic header is data, and anyone who can write to the DLQ could otherwise
 * make an operator's replay publish into recobro.tasks. A message naming another topic is
 * refused: counted ("refused" in the summary) and named on stderr (partition/offset), never
 * sent; `--to TOPIC` sends the selected messages to TOPIC instead, whatever they name.
 *
 * It reads recobro.dlq with its own consumer group up to the end the topic had when it started
 * (so it always terminates), and commits what it read, so a message is replayed once; with
 * --limit N it commits the messages it read up to the N-th replayed, so the next run goes on
 * after them. Refused messages are read, so they are committed too (replay them with another
 * RECOBRO_GROUP_ID, --source-topic and --to). With a filter (--reason, --source-topic) nothing
 * is committed: skipped messages stay available to a later replay. A replayed event that is
 * still invalid goes back to the DLQ; one that is now valid is applied exactly once, like any
 * re-sent event. */
#include <glib.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "kafka.h"
#include "log.h"
#include "service.h"

typedef struct replay_opts {
    const char *reason;       /* only this recobro-error, or NULL */
    const char *source_topic; /* only messages from this topic, or NULL */
    const char *to;           /* send everything selected here instead, or NULL */
    const char *inputs[3];    /* the only topics a message may name (without --to) */
    int dry_run;
    long limit; /* at most this many replayed; 0: no limit */
} replay_opts_t;

static int usage(void)
{
    fprintf(stderr, "recobroctl: usage: recobroctl dlq replay [--reason CODE] "
                    "[--source-topic TOPIC] [--to TOPIC] [--limit N] [--dry-run]\n");
    return EXIT_USAGE;
}

/* The value of header `name` as a C string in buf ("" when absent). Header values are anyone's
 * bytes: what is not UTF-8 (or was cut inside a character by the buffer) becomes U+FFFD, so that
 * the value can be compared, printed and escaped as text. */
static const char *header(rd_kafka_headers_t *hdrs, const char *name, char *buf, size_t size)
{
    const void *val;
    size_t len;
    gchar *valid;

    buf[0] = '\0';
    if (hdrs == NULL ||
        rd_kafka_header_get_last(hdrs, name, &val, &len) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        val == NULL)
        return buf;
    valid = g_utf8_make_valid(val, (gssize)len);
    g_strlcpy(buf, valid, size);
    g_free(valid);
    if (!g_utf8_validate(buf, -1, NULL)) {
        /* cut inside a character: drop the partial one */
        const gchar *end;
        g_utf8_validate(buf, -1, &end);
        buf[end - buf] = '\0';
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

/* One replay in progress: its clients, where each partition stops, how far each got and the
 * counts. replay() owns it; replay_end() frees what it holds. */
typedef struct replay_run {
    const replay_opts_t *o;                   /* borrowed */
    rd_kafka_t *consumer, *producer;          /* NULL until created */
    rd_kafka_topic_partition_list_t *ends;    /* where each partition stops (exclusive) */
    rd_kafka_topic_partition_list_t *reached; /* the next offset of each partition */
    int open;                                 /* partitions not read up to their end yet */
    long replayed, skipped, refused;
    char err[600]; /* why the replay failed */
} replay_run_t;

/* Creates the consumer (our own group, manual commits, from the earliest offset when the group
 * has none) and the idempotent producer into r. Returns 0, or -1 with r->err filled; whatever
 * was created stays in r for replay_end() to free. */
static int clients_new(const config_t *cfg, replay_run_t *r)
{
    rd_kafka_conf_t *cconf = kafka_conf_new(cfg, r->err, sizeof(r->err));
    rd_kafka_conf_t *pconf = kafka_conf_new(cfg, r->err, sizeof(r->err));
    int rc = -1;

    if (cconf == NULL || pconf == NULL)
        goto out;
    if (kafka_conf_set(cconf, "group.id", cfg->group_id, r->err, sizeof(r->err)) < 0 ||
        kafka_conf_set(cconf, "enable.auto.commit", "false", r->err, sizeof(r->err)) < 0 ||
        kafka_conf_set(cconf, "auto.offset.reset", "earliest", r->err, sizeof(r->err)) < 0 ||
        kafka_conf_set(pconf, "enable.idempotence", "true", r->err, sizeof(r->err)) < 0 ||
        kafka_conf_set(pconf, "message.max.bytes", "16777216", r->err, sizeof(r->err)) < 0)
        goto out;
    r->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, r->err, sizeof(r->err));
    if (r->consumer == NULL)
        goto out;
    cconf = NULL; /* now owned by the consumer */
    r->producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, r->err, sizeof(r->err));
    if (r->producer == NULL)
        goto out;
    pconf = NULL; /* now owned by the producer */
    rd_kafka_poll_set_consumer(r->consumer);
    rc = kafka_probe(r->producer, cfg, r->err, sizeof(r->err));
out:
    if (cconf != NULL)
        rd_kafka_conf_destroy(cconf);
    if (pconf != NULL)
        rd_kafka_conf_destroy(pconf);
    return rc;
}

/* Assigns every partition of r->ends at the group's committed offset (the beginning when it
 * has none), sets r->reached to those starts (a new list, freed by replay_end()) and counts in
 * r->open the partitions that have something to read. */
static void assign_from_committed(replay_run_t *r)
{
    rd_kafka_topic_partition_list_t *start = rd_kafka_topic_partition_list_copy(r->ends);

    for (int i = 0; i < start->cnt; i++)
        start->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
    rd_kafka_committed(r->consumer, start, 10000);
    for (int i = 0; i < start->cnt; i++)
        if (start->elems[i].offset < 0)
            start->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(r->consumer, start);
    r->open = 0;
    for (int i = 0; i < start->cnt; i++)
        r->open += start->elems[i].offset == RD_KAFKA_OFFSET_BEGINNING ||
                   start->elems[i].offset < r->ends->elems[i].offset;
    r->reached = rd_kafka_topic_partition_list_copy(start);
    rd_kafka_topic_partition_list_destroy(start);
}

/* Records that m was read. Returns 1 when m lies before the end its partition had at the
 * start (it belongs to this replay), 0 when it arrived after (the next replay's business). */
static int advance(replay_run_t *r, const rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    rd_kafka_topic_partition_t *end =
        rd_kafka_topic_partition_list_find(r->ends, topic, m->partition);
    rd_kafka_topic_partition_t *at =
        rd_kafka_topic_partition_list_find(r->reached, topic, m->partition);

    if (end == NULL || m->offset >= end->offset)
        return 0;
    at->offset = m->offset + 1;
    if (at->offset >= end->offset)
        r->open--;
    return 1;
}

/* The filter: true when a message rejected for `reason` from topic `source` is to be replayed.
 * One without a source topic has nowhere to go and is skipped, unless --to names one. */
static int wanted(const replay_opts_t *o, const char *reason, const char *source)
{
    if (source[0] == '\0' && o->to == NULL)
        return 0;
    if (o->reason != NULL && strcmp(o->reason, reason) != 0)
        return 0;
    return o->source_topic == NULL || strcmp(o->source_topic, source) == 0;
}

/* The headers of m's copy (a new list; the producer owns it once produced): the producer's
 * own headers go back, recobro's diagnosis does not, and recobro-replayed-from says where the
 * copy was read. hdrs (m's headers, borrowed) may be NULL. */
static rd_kafka_headers_t *replay_headers_new(rd_kafka_headers_t *hdrs, const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *out = rd_kafka_headers_new(8);
    size_t n = hdrs ? rd_kafka_header_cnt(hdrs) : 0;
    char offset[32];

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
    return out;
}

/* Produces m's key and payload (copied) with the headers `out` (stolen) to `topic`, waiting
 * while the producer's queue is full. Returns 0, or -1 with err filled (out freed). */
static int publish(rd_kafka_t *producer, const rd_kafka_message_t *m, const char *topic,
                   rd_kafka_headers_t *out, char *err, size_t errlen)
{
    rd_kafka_resp_err_t e;

    do {
        e = rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(m->key, m->key_len),
                              RD_KAFKA_V_VALUE(m->payload, m->len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(out),
                              RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(producer, 100);
    } while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_headers_destroy(out);
        snprintf(err, errlen, "cannot produce to %s: %s", topic, rd_kafka_err2str(e));
        return -1;
    }
    return 0; /* out is now owned by the message */
}

/* True when `topic` is one of the input topics a replay may publish to. */
static int is_input(const replay_opts_t *o, const char *topic)
{
    for (size_t i = 0; i < sizeof(o->inputs) / sizeof(o->inputs[0]); i++)
        if (o->inputs[i] != NULL && strcmp(o->inputs[i], topic) == 0)
            return 1;
    return 0;
}

/* Counts and reports on stderr a message whose source topic is not an input topic. */
static void refuse(replay_run_t *r, const rd_kafka_message_t *m, const char *source)
{
    char esc[600];

    r->refused++;
    fprintf(stderr,
            "recobroctl: refused DLQ message %" PRId32 "/%" PRId64
            ": its recobro-source-topic \"%s\" is not an input topic (--to TOPIC sends it "
            "elsewhere)\n",
            m->partition, m->offset, log_json_escape(source, esc, sizeof(esc)));
}

/* Handles one message read from the DLQ (borrowed; the caller destroys it): counts it as
 * skipped or refused, prints it (--dry-run) or sends it back to its source topic (or --to).
 * Returns 0, or -1 with r->err filled when the producer refused it. */
static int replay_message(replay_run_t *r, const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *hdrs = NULL;
    char reason[64], source[256], ereason[400], esource[1600];
    const char *dest;

    if (!advance(r, m))
        return 0;
    rd_kafka_message_headers(m, &hdrs);
    header(hdrs, "recobro-error", reason, sizeof(reason));
    header(hdrs, "recobro-source-topic", source, sizeof(source));
    if (!wanted(r->o, reason, source)) {
        r->skipped++;
        return 0;
    }
    dest = r->o->to != NULL ? r->o->to : source;
    if (r->o->to == NULL && !is_input(r->o, source)) {
        refuse(r, m, source);
        return 0;
    }
    if (r->o->dry_run) {
        /* The headers are anyone's bytes: escaped, so that every line stays one JSON object. */
        char edest[1600];
        log_json_escape(reason, ereason, sizeof(ereason));
        log_json_escape(source, esource, sizeof(esource));
        log_json_escape(dest, edest, sizeof(edest));
        printf("{\"partition\":%" PRId32 ",\"offset\":%" PRId64
               ",\"reason\":\"%s\",\"source_topic\":\"%s\",\"to\":\"%s\"}\n",
               m->partition, m->offset, ereason, esource, edest);
    } else if (publish(r->producer, m, dest, replay_headers_new(hdrs, m), r->err, sizeof(r->err)) <
               0) {
        return -1;
    }
    r->replayed++;
    return 0;
}

/* Reads the DLQ until every partition reaches its end, --limit messages are replayed or 30
 * seconds pass without a message. Returns 0, or -1 with r->err filled. */
static int read_all(replay_run_t *r)
{
    int idle = 0;

    while (r->open > 0 && idle < 30 && (r->o->limit == 0 || r->replayed < r->o->limit)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->consumer, 1000);
        if (m == NULL) {
            idle++;
            continue;
        }
        idle = 0;
        int rc = m->err ? 0 : replay_message(r, m);
        rd_kafka_message_destroy(m);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Waits until the broker has every copy, then commits what was read, only for an unfiltered,
 * real replay (what it read is done; with --limit, up to the last message replayed). Returns 0, or
 * -1 with r->err filled (nothing committed). */
static int finish(replay_run_t *r)
{
    const replay_opts_t *o = r->o;

    if (o->dry_run)
        return 0;
    if (rd_kafka_flush(r->producer, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(r->err, sizeof(r->err), "the broker did not acknowledge every replayed message");
        return -1;
    }
    /* r->reached holds, per partition, the offset after the last message handled: with
     * --limit, after the last one replayed, so the next run starts with the next one. */
    if (o->reason == NULL && o->source_topic == NULL)
        rd_kafka_commit(r->consumer, r->reached, 0);
    return 0;
}

/* Frees what r holds, leaving the consumer group cleanly. */
static void replay_end(replay_run_t *r)
{
    if (r->reached != NULL)
        rd_kafka_topic_partition_list_destroy(r->reached);
    if (r->ends != NULL)
        rd_kafka_topic_partition_list_destroy(r->ends);
    if (r->consumer != NULL) {
        rd_kafka_consumer_close(r->consumer);
        rd_kafka_destroy(r->consumer);
    }
    if (r->producer != NULL)
        rd_kafka_destroy(r->producer);
}

/* Replays the DLQ as `o` says and prints the summary. Returns EXIT_OK, or EXIT_FAIL with the
 * reason on stderr. */
static int replay(const config_t *cfg, const replay_opts_t *o)
{
    replay_run_t r = {.o = o};
    int rc = EXIT_FAIL;

    if (clients_new(cfg, &r) < 0)
        goto out;
    r.ends = ends_now(r.consumer, cfg->topic_dlq, r.err, sizeof(r.err));
    if (r.ends == NULL)
        goto out;
    if (r.ends->cnt > 0) { /* else an empty DLQ: nothing to read */
        assign_from_committed(&r);
        if (read_all(&r) < 0 || finish(&r) < 0)
            goto out;
    }
    printf("{\"replayed\":%ld,\"skipped\":%ld,\"refused\":%ld,\"dry_run\":%s}\n", r.replayed,
           r.skipped, r.refused, o->dry_run ? "true" : "false");
    rc = EXIT_OK;
out:
    if (rc != EXIT_OK)
        fprintf(stderr, "recobroctl: %s\n", r.err);
    replay_end(&r);
    return rc;
}

int ctl_dlq_replay(const config_t *cfg, int argc, char **argv)
{
    replay_opts_t o = {
        .inputs = {cfg->topic_invoices, cfg->topic_payments, cfg->topic_interactions}};

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--dry-run") == 0) {
            o.dry_run = 1;
        } else if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc) {
            o.reason = argv[++i];
        } else if (strcmp(argv[i], "--source-topic") == 0 && i + 1 < argc) {
            o.source_topic = argv[++i];
        } else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc && argv[i + 1][0] != '\0') {
            o.to = argv[++i];
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
