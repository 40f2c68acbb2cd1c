/* metrics.h - a process-wide Prometheus registry: counters, gauges and latency histograms,
 * rendered in the text exposition format for /metrics. Thread-safe.
 *
 * A series is a family name plus a label set rendered by the caller (`type="invoice.overdue",
 * result="applied"`). Label values are codes and ids of topics, never personal data. Families
 * are created on first use with the help text given then. */
#ifndef RECOBRO_METRICS_H
#define RECOBRO_METRICS_H

#include <stddef.h>

/* Adds v (>= 0) to a counter. `labels` may be NULL or "" for none. */
void metrics_inc(const char *name, const char *help, const char *labels, double v);

/* Sets a gauge. */
void metrics_set(const char *name, const char *help, const char *labels, double v);

/* Records one observation (in seconds) in a histogram with buckets from 1 ms to 10 s. */
void metrics_observe(const char *name, const char *help, const char *labels, double seconds);

/* Current value of a counter or gauge series, 0 when absent (for tests and /readyz). */
double metrics_value(const char *name, const char *labels);

/* The whole registry in Prometheus text format: a new malloc'd string (free() it), *len set to
 * its length. NULL when out of memory. */
char *metrics_render(size_t *len);

/* Forgets every series (tests only). */
void metrics_reset(void);

#endif
