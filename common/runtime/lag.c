/* lag.c - the consumer lag series (see lag.h). */
#include "lag.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "metrics.h"
#include "metrics_catalog.h"

typedef struct lag_part {
    char *topic;
    int32_t partition;
    int64_t assigned_at; /* the offset it was assigned at; negative: from the start */
} lag_part_t;

static lag_part_t *parts_held;
static size_t nheld, capheld;

static void labels_of(const char *topic, int32_t partition, char *out, size_t size)
{
    snprintf(out, size, "topic=\"%s\",partition=\"%" PRId32 "\"", topic, partition);
}

static lag_part_t *find(const char *topic, int32_t partition)
{
    for (size_t i = 0; i < nheld; i++)
        if (parts_held[i].partition == partition && strcmp(parts_held[i].topic, topic) == 0)
            return &parts_held[i];
    return NULL;
}

void lag_assigned(const rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        lag_part_t *h = find(p->topic, p->partition);
        if (h == NULL) {
            if (GROW(parts_held, capheld, nheld, 16) != 0)
                return; /* not reported: a missing series, never a wrong one */
            char *topic = strdup(p->topic);
            if (topic == NULL)
                return;
            h = &parts_held[nheld++];
            h->topic = topic;
            h->partition = p->partition;
        }
        h->assigned_at = p->offset;
    }
}

void lag_revoked(const rd_kafka_topic_partition_list_t *parts)
{
    char labels[320];

    for (int i = 0; i < parts->cnt; i++) {
        lag_part_t *h = find(parts->elems[i].topic, parts->elems[i].partition);
        labels_of(parts->elems[i].topic, parts->elems[i].partition, labels, sizeof(labels));
        metrics_remove(METRIC_CONSUMER_LAG, labels);
        if (h == NULL)
            continue;
        free(h->topic);
        *h = parts_held[--nheld];
    }
}

void lag_report(rd_kafka_t *rk)
{
    char labels[320];

    if (nheld == 0)
        return;
    rd_kafka_topic_partition_list_t *pos = rd_kafka_topic_partition_list_new((int)nheld);
    for (size_t i = 0; i < nheld; i++)
        rd_kafka_topic_partition_list_add(pos, parts_held[i].topic, parts_held[i].partition);
    rd_kafka_position(rk, pos);
    for (int i = 0; i < pos->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &pos->elems[i];
        const lag_part_t *h = find(p->topic, p->partition);
        int64_t lo, hi;
        if (h == NULL ||
            rd_kafka_get_watermark_offsets(rk, p->topic, p->partition, &lo, &hi) !=
                RD_KAFKA_RESP_ERR_NO_ERROR ||
            hi < 0)
            continue;
        int64_t at = p->offset >= 0 ? p->offset : h->assigned_at >= 0 ? h->assigned_at : lo;
        if (at < 0)
            continue;
        labels_of(p->topic, p->partition, labels, sizeof(labels));
        metrics_set(METRIC_CONSUMER_LAG, NULL, labels, (double)(hi > at ? hi - at : 0));
    }
    rd_kafka_topic_partition_list_destroy(pos);
}
