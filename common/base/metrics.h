/* metrics.h - a process-wide Prometheus registry: counters, gauges and histograms, rendered in
 * the text exposition format for /metrics. Thread-safe.
 *
 * A series is a family name plus a label set rendered by the caller (`type="invoice.overdue",
 * result="applied"`). Label values are codes and ids of topics, never personal data.
 *
 * One meaning per name: a family is declared once (metrics_declare(), done for every family of
 * recobro at start by the runtime's catalogue, metrics_catalog.h) with its help, type and, for
 * a histogram, its buckets; the help a caller passes to metrics_inc() and friends is used only
 * for a family nobody declared (tests), and an update of the wrong type is refused. Known label
 * values are created at 0 (metrics_touch()) so that every series exists from the start.
 *
 * Bounded: at most METRICS_FAMILY_MAX_SERIES series per family and METRICS_MAX_SERIES in all; an
 * update that would need one more series (or has labels longer than METRICS_MAX_LABELS, or the
 * wrong type) is dropped and counted in recobro_metrics_series_dropped_total.
 *
 * metrics_render() also writes the process metrics of the Prometheus client conventions
 * (process_resident_memory_bytes, process_cpu_seconds_total, process_open_fds,
 * process_max_fds, process_start_time_seconds), read from /proc at each scrape. */
#ifndef RECOBRO_METRICS_H
#define RECOBRO_METRICS_H

#include <stddef.h>

#define METRICS_MAX_FAMILIES      96
#define METRICS_MAX_SERIES        2048
#define METRICS_FAMILY_MAX_SERIES 256
#define METRICS_MAX_LABELS        255 /* characters of a rendered label set */
#define METRICS_MAX_BUCKETS       20

#define METRICS_DROPPED "recobro_metrics_series_dropped_total"

typedef enum { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } metric_type_t;

/* Bucket sets (upper bounds in seconds) for metrics_declare(). */
extern const double metrics_buckets_fast[]; /* 1 ms .. 10 s: one batch, one sweep */
extern const size_t metrics_buckets_fast_n;
extern const double metrics_buckets_latency[]; /* 10 ms .. 1 h: an event's end-to-end time */
extern const size_t metrics_buckets_latency_n;

/* Declares family `name` (help, type; for a histogram `buckets`, n of them ascending, at most
 * METRICS_MAX_BUCKETS; NULL: metrics_buckets_fast). The first declaration wins. Returns 0, or -1
 * when the name was declared (or used) before with another type or the registry is full. */
int metrics_declare(const char *name, const char *help, metric_type_t type, const double *buckets,
                    size_t nbuckets);

/* Creates the series `labels` (NULL or "" for none) of a declared family at 0, if absent. */
void metrics_touch(const char *name, const char *labels);

/* Removes a series (e.g. the lag of a partition no longer assigned). No-op when absent. */
void metrics_remove(const char *name, const char *labels);

/* Adds v (>= 0) to a counter. `labels` may be NULL or "" for none. */
void metrics_inc(const char *name, const char *help, const char *labels, double v);

/* Sets a gauge. */
void metrics_set(const char *name, const char *help, const char *labels, double v);

/* Records one observation (in seconds) in a histogram. */
void metrics_observe(const char *name, const char *help, const char *labels, double seconds);

/* Current value of a counter or gauge series, 0 when absent (for tests and /readyz). */
double metrics_value(const char *name, const char *labels);

/* Whether the series exists (tests). */
int metrics_has(const char *name, const char *labels);

/* The whole registry in Prometheus text format: a new malloc'd string (free() it), *len set to
 * its length. NULL when out of memory. */
char *metrics_render(size_t *len);

/* Forgets every family and series (tests only). */
void metrics_reset(void);

#endif
