/* metrics_catalog.h - every metric family recobro exports, declared in one place with its one
 * help text, type and buckets (one meaning per name), and the series whose label values are
 * known created at 0 at start, so that a fresh process already exposes them (a rate() over a
 * counter that appears only at its first increment misses that increment, and an alert on
 * "absent" cannot tell a new process from a broken one).
 *
 * Families by role: all services (build info, database and cache errors, retries), the case
 * workers (events, DLQ, latency, batches, consumer lag, tasks), the scheduler and the relay. The
 * names here are the ones the shipped alert rules and dashboard use (deploy/observability/);
 * tests/deploy/check_observability.py checks that those name nothing else. */
#ifndef RECOBRO_METRICS_CATALOG_H
#define RECOBRO_METRICS_CATALOG_H

/* The consumer lag gauge: messages between a partition's committed position and its end. */
#define METRIC_CONSUMER_LAG "recobro_consumer_lag_messages"

/* Declares the families of `service` ("overdue", "payments", "interactions", "scheduler",
 * "relay"; any other name gets the common families and the case worker's) and creates their
 * known series at 0, and recobro_build_info{version,commit} = 1. Idempotent. */
void metrics_catalog_register(const char *service);

#endif
