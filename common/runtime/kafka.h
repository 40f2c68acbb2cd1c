/* kafka.h - librdkafka set-up from the configuration, and topic administration. */
#ifndef RECOBRO_KAFKA_H
#define RECOBRO_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "config.h"

/* A new librdkafka configuration with bootstrap.servers, client.id (recobro-<service>) and
 * every RECOBRO_KAFKA_<PROPERTY> applied, in that order, so an explicit property wins. Returns
 * NULL with "RECOBRO_KAFKA_X: <librdkafka's reason>" in err when one is refused. The caller owns
 * the result until rd_kafka_new() takes it. */
rd_kafka_conf_t *kafka_conf_new(const config_t *cfg, char *err, size_t errlen);

/* Sets the consuming workers' memory defaults on `conf` (a bounded prefetch, see kafka.c), for
 * the caller to apply RECOBRO_KAFKA_* after, so an explicit property still wins. Returns 0 or -1
 * with err filled. */
int kafka_consumer_defaults(rd_kafka_conf_t *conf, char *err, size_t errlen);

/* Sets one property on `conf`; returns 0 or -1 with err filled ("<name>: <reason>"). */
int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                   size_t errlen);

/* Creates each of `topics` with `partitions` and `replication` unless it exists (an existing
 * topic is left as it is, and reported in *existing). `configs` is a NULL-terminated list of
 * name, value pairs applied to new topics (may be NULL). Returns 0, or -1 with err filled. */
int kafka_topics_ensure(const config_t *cfg, const char *const *topics, size_t n, int partitions,
                        int replication, const char *const *configs, int *created, int *existing,
                        char *err, size_t errlen);

/* Asks `rk` for the cluster's metadata, waiting at most a few seconds: 0 when a broker answered,
 * else -1 with one line naming the bootstrap servers in err. For command-line tools, which should
 * fail fast rather than wait for librdkafka's own timeouts. */
int kafka_probe(rd_kafka_t *rk, const config_t *cfg, char *err, size_t errlen);

#endif
