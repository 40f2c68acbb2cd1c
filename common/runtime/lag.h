/* lag.h - recobro_consumer_lag_messages for a consumer's assigned partitions: the messages
 * between the consumer's position and each partition's end (high watermark).
 *
 * A partition is reported from its assignment on, also while nothing was consumed from it yet
 * (librdkafka knows no position then: the offset it was assigned at is used, or the partition's
 * start when none was stored), and its series is removed when it is revoked or lost, so that
 * the sum over a group counts every partition once after a rebalance. Called from the thread
 * that polls the consumer (the rebalance callback runs there too); not thread-safe. */
#ifndef RECOBRO_LAG_H
#define RECOBRO_LAG_H

#include <librdkafka/rdkafka.h>

/* Remembers the partitions of `parts` and the offsets they were assigned at (their .offset;
 * negative: from the start). */
void lag_assigned(const rd_kafka_topic_partition_list_t *parts);

/* Forgets the partitions of `parts` and removes their series. */
void lag_revoked(const rd_kafka_topic_partition_list_t *parts);

/* Sets the series of every remembered partition from rk's positions and cached watermarks
 * (never blocks: a partition whose watermarks are not known yet is skipped this time). */
void lag_report(rd_kafka_t *rk);

#endif
