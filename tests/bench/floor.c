/* floor.c - recobro-benchfloor, the benchmark's floor: the same messages consumed with plain
 * librdkafka (no batching logic, no dedupe, no outbox) and written to processed_event with ONE
 * bulk COPY. What the runtime achieves is reported as a ratio to this.
 *
 * usage: recobro-benchfloor TOPIC GROUP COUNT   (RECOBRO_KAFKA_BROKERS, RECOBRO_PG_DSN)
 * Prints one line: "floor_events=N floor_seconds=S". */
#include <inttypes.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

int main(int argc, char **argv)
{
    char err[512];
    const char *brokers = getenv("RECOBRO_KAFKA_BROKERS");
    const char *dsn = getenv("RECOBRO_PG_DSN");

    if (argc != 4 || brokers == NULL || dsn == NULL) {
        fprintf(stderr, "usage: recobro-benchfloor TOPIC GROUP COUNT (with RECOBRO_KAFKA_BROKERS "
                        "and RECOBRO_PG_DSN set)\n");
        return 2;
    }
    long want = strtol(argv[3], NULL, 10);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "group.id", argv[2], err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err))) {
        fprintf(stderr, "recobro-benchfloor: %s\n", err);
        return 1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (rk == NULL) {
        fprintf(stderr, "recobro-benchfloor: %s\n", err);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(subs, argv[1], RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    PGconn *conn = PQconnectdb(dsn);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "recobro-benchfloor: %s", PQerrorMessage(conn));
        return 1;
    }

    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    long got = 0;
    int64_t start = 0;
    while (got < want) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 1000);
        if (m == NULL)
            continue;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        if (start == 0)
            start = clock_mono_us();
        json_t *root = json_loadb(m->payload, m->len, 0, NULL);
        const char *src = json_string_value(json_object_get(root, "source"));
        const char *id = json_string_value(json_object_get(root, "id"));
        if (src != NULL && id != NULL) {
            if (len + 1024 > cap) {
                cap *= 2;
                buf = realloc(buf, cap);
            }
            len += (size_t)snprintf(buf + len, cap - len,
                                    "%s\t%s\tbench-floor\t%s\t%" PRId32 "\t%" PRId64 "\n", src, id,
                                    argv[1], m->partition, m->offset);
        }
        json_decref(root);
        rd_kafka_message_destroy(m);
        got++;
    }
    PQclear(PQexec(conn, "BEGIN"));
    PGresult *res = PQexec(conn, "COPY processed_event (source, event_id, service, topic, "
                                 "kafka_partition, kafka_offset) FROM STDIN");
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        fprintf(stderr, "recobro-benchfloor: %s", PQresultErrorMessage(res));
        return 1;
    }
    PQclear(res);
    PQputCopyData(conn, buf, (int)len);
    PQputCopyEnd(conn, NULL);
    while ((res = PQgetResult(conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            fprintf(stderr, "recobro-benchfloor: %s", PQresultErrorMessage(res));
            return 1;
        }
        PQclear(res);
    }
    PQclear(PQexec(conn, "COMMIT"));
    double secs = (double)(clock_mono_us() - start) / 1e6;
    printf("floor_events=%ld floor_seconds=%.3f\n", got, secs);
    free(buf);
    PQfinish(conn);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return 0;
}
