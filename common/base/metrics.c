/* metrics.c - the Prometheus registry (see metrics.h). Small and linear on purpose: a service
 * has a few hundred series, and a mutex-guarded array is easy to reason about. */
#include "metrics.h"

#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

const double metrics_buckets_fast[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                       0.25,  0.5,    1,     2.5,  5,     10};
const size_t metrics_buckets_fast_n = sizeof(metrics_buckets_fast) / sizeof(double);
const double metrics_buckets_latency[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,    2.5,  5,
                                          10,   30,    60,   120, 300,  600, 1200, 1800, 3600};
const size_t metrics_buckets_latency_n = sizeof(metrics_buckets_latency) / sizeof(double);

typedef struct family {
    char name[96];
    char help[200];
    metric_type_t type;
    int declared; /* by metrics_declare(), not by a first use */
    int nseries;
    size_t nbuckets;
    double buckets[METRICS_MAX_BUCKETS];
} family_t;

typedef struct series {
    int family;
    char labels[METRICS_MAX_LABELS + 1];
    double value;                              /* counter/gauge; histogram: sum */
    unsigned long count;                       /* histogram */
    unsigned long bucket[METRICS_MAX_BUCKETS]; /* histogram, cumulative at render time */
} series_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static family_t families[METRICS_MAX_FAMILIES];
static int nfamilies;
static series_t series[METRICS_MAX_SERIES];
static int nseries;
static double dropped; /* recobro_metrics_series_dropped_total */

/* The family called name, or -1. Call with the lock held. */
static int family_find(const char *name)
{
    for (int f = 0; f < nfamilies; f++)
        if (strcmp(families[f].name, name) == 0)
            return f;
    return -1;
}

/* Creates a family; -1 when the registry is full. Call with the lock held. */
static int family_add(const char *name, const char *help, metric_type_t type, const double *b,
                      size_t nb)
{
    if (nfamilies == METRICS_MAX_FAMILIES || strlen(name) >= sizeof(families[0].name))
        return -1;
    family_t *fam = &families[nfamilies];
    memset(fam, 0, sizeof(*fam));
    snprintf(fam->name, sizeof(fam->name), "%s", name);
    snprintf(fam->help, sizeof(fam->help), "%s", help ? help : name);
    fam->type = type;
    if (b == NULL || nb == 0 || nb > METRICS_MAX_BUCKETS) {
        b = metrics_buckets_fast;
        nb = metrics_buckets_fast_n;
    }
    memcpy(fam->buckets, b, nb * sizeof(double));
    fam->nbuckets = nb;
    return nfamilies++;
}

int metrics_declare(const char *name, const char *help, metric_type_t type, const double *buckets,
                    size_t nbuckets)
{
    int rc = 0;

    pthread_mutex_lock(&lock);
    int f = family_find(name);
    if (f < 0)
        f = family_add(name, help, type, buckets, nbuckets);
    if (f < 0 || families[f].type != type)
        rc = -1;
    else
        families[f].declared = 1;
    pthread_mutex_unlock(&lock);
    return rc;
}

static series_t *series_find(int f, const char *labels)
{
    for (int i = 0; i < nseries; i++)
        if (series[i].family == f && strcmp(series[i].labels, labels) == 0)
            return &series[i];
    return NULL;
}

/* Finds or creates the series; NULL (and counted as dropped) when it may not exist. Call with
 * the lock held. */
static series_t *lookup(const char *name, const char *help, metric_type_t type, const char *labels)
{
    if (labels == NULL)
        labels = "";
    int f = family_find(name);
    if (f < 0)
        f = family_add(name, help, type, NULL, 0);
    if (f < 0 || families[f].type != type || strlen(labels) > METRICS_MAX_LABELS) {
        dropped++;
        return NULL;
    }
    series_t *s = series_find(f, labels);
    if (s != NULL)
        return s;
    if (nseries == METRICS_MAX_SERIES || families[f].nseries >= METRICS_FAMILY_MAX_SERIES) {
        dropped++;
        return NULL;
    }
    s = &series[nseries++];
    memset(s, 0, sizeof(*s));
    s->family = f;
    families[f].nseries++;
    snprintf(s->labels, sizeof(s->labels), "%s", labels);
    return s;
}

void metrics_touch(const char *name, const char *labels)
{
    pthread_mutex_lock(&lock);
    int f = family_find(name);
    if (f >= 0)
        lookup(name, NULL, families[f].type, labels);
    pthread_mutex_unlock(&lock);
}

void metrics_remove(const char *name, const char *labels)
{
    pthread_mutex_lock(&lock);
    int f = family_find(name);
    series_t *s = f >= 0 ? series_find(f, labels ? labels : "") : NULL;
    if (s != NULL) {
        size_t i = (size_t)(s - series);
        memmove(&series[i], &series[i + 1], (size_t)(nseries - (int)i - 1) * sizeof(series[0]));
        nseries--;
        families[f].nseries--;
    }
    pthread_mutex_unlock(&lock);
}

void metrics_inc(const char *name, const char *help, const char *labels, double v)
{
    pthread_mutex_lock(&lock);
    series_t *s = lookup(name, help, METRIC_COUNTER, labels);
    if (s != NULL && v > 0)
        s->value += v;
    pthread_mutex_unlock(&lock);
}

void metrics_set(const char *name, const char *help, const char *labels, double v)
{
    pthread_mutex_lock(&lock);
    series_t *s = lookup(name, help, METRIC_GAUGE, labels);
    if (s != NULL)
        s->value = v;
    pthread_mutex_unlock(&lock);
}

void metrics_observe(const char *name, const char *help, const char *labels, double seconds)
{
    pthread_mutex_lock(&lock);
    series_t *s = lookup(name, help, METRIC_HISTOGRAM, labels);
    if (s != NULL) {
        const family_t *fam = &families[s->family];
        s->value += seconds;
        s->count++;
        for (size_t b = 0; b < fam->nbuckets; b++) {
            if (seconds <= fam->buckets[b]) {
                s->bucket[b]++;
                break;
            }
        }
    }
    pthread_mutex_unlock(&lock);
}

double metrics_value(const char *name, const char *labels)
{
    double v = 0;

    pthread_mutex_lock(&lock);
    int f = family_find(name);
    const series_t *s = f >= 0 ? series_find(f, labels ? labels : "") : NULL;
    if (s != NULL)
        v = s->value;
    else if (strcmp(name, METRICS_DROPPED) == 0)
        v = dropped;
    pthread_mutex_unlock(&lock);
    return v;
}

int metrics_has(const char *name, const char *labels)
{
    pthread_mutex_lock(&lock);
    int f = family_find(name);
    int has = f >= 0 && series_find(f, labels ? labels : "") != NULL;
    pthread_mutex_unlock(&lock);
    return has;
}

/* A growing buffer for rendering; all appends are checked once at the end. */
typedef struct rbuf {
    char *p;
    size_t len, cap;
    int oom;
} rbuf_t;

static void rb_printf(rbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rb_printf(rbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->oom)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = b->cap * 2 + (size_t)(n > 0 ? n : 0);
        char *np = realloc(b->p, ncap);
        if (np == NULL) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
}

static const char *type_name(metric_type_t t)
{
    return t == METRIC_COUNTER ? "counter" : t == METRIC_GAUGE ? "gauge" : "histogram";
}

static void render_series(rbuf_t *b, const family_t *fam, const series_t *s)
{
    const char *open = s->labels[0] ? "{" : "", *close = s->labels[0] ? "}" : "";
    const char *sep = s->labels[0] ? "," : "";

    if (fam->type != METRIC_HISTOGRAM) {
        rb_printf(b, "%s%s%s%s %.17g\n", fam->name, open, s->labels, close, s->value);
        return;
    }
    unsigned long cum = 0;
    for (size_t k = 0; k < fam->nbuckets; k++) {
        cum += s->bucket[k];
        rb_printf(b, "%s_bucket{%s%sle=\"%g\"} %lu\n", fam->name, s->labels, sep, fam->buckets[k],
                  cum);
    }
    rb_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %lu\n", fam->name, s->labels, sep, s->count);
    rb_printf(b, "%s_sum%s%s%s %.17g\n", fam->name, open, s->labels, close, s->value);
    rb_printf(b, "%s_count%s%s%s %lu\n", fam->name, open, s->labels, close, s->count);
}

/* Seconds since the epoch at which the system booted (/proc/stat btime), 0 when unknown. */
static long boot_time(void)
{
    char line[256];
    long btime = 0;
    FILE *f = fopen("/proc/stat", "r");

    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "btime %ld", &btime) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return btime;
}

static long open_fds(void)
{
    long n = 0;
    DIR *d = opendir("/proc/self/fd");

    if (d == NULL)
        return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

/* The process_* metrics from /proc/self/stat (fields 14, 15, 22 and 24 after the command). */
static void render_process(rbuf_t *b)
{
    char buf[1024];
    unsigned long utime, stime;
    unsigned long long start;
    long rss;
    double tick = (double)sysconf(_SC_CLK_TCK);
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n = f != NULL ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    struct rlimit rl;

    if (f != NULL)
        fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    if (p == NULL || tick <= 0 ||
        sscanf(p + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d "
               "%llu %*u %ld",
               &utime, &stime, &start, &rss) != 4)
        return;
    rb_printf(b,
              "# HELP process_cpu_seconds_total User and system CPU time spent, in seconds\n"
              "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.2f\n",
              (double)(utime + stime) / tick);
    rb_printf(b,
              "# HELP process_resident_memory_bytes Resident memory size, in bytes\n"
              "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %ld\n",
              rss * sysconf(_SC_PAGESIZE));
    rb_printf(b,
              "# HELP process_start_time_seconds Start time of the process since the epoch\n"
              "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %.2f\n",
              (double)boot_time() + (double)start / tick);
    rb_printf(b,
              "# HELP process_open_fds Open file descriptors\n"
              "# TYPE process_open_fds gauge\nprocess_open_fds %ld\n",
              open_fds());
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        rb_printf(b,
                  "# HELP process_max_fds Most open file descriptors allowed\n"
                  "# TYPE process_max_fds gauge\nprocess_max_fds %llu\n",
                  (unsigned long long)rl.rlim_cur);
}

char *metrics_render(size_t *len)
{
    rbuf_t b = {malloc(16384), 0, 16384, 0};

    if (b.p == NULL)
        return NULL;
    b.p[0] = '\0';
    pthread_mutex_lock(&lock);
    for (int f = 0; f < nfamilies; f++) {
        const family_t *fam = &families[f];
        rb_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name,
                  type_name(fam->type));
        for (int i = 0; i < nseries; i++)
            if (series[i].family == f)
                render_series(&b, fam, &series[i]);
    }
    rb_printf(&b,
              "# HELP %s Metric updates refused: a series over the cardinality cap, labels too "
              "long, or the wrong type for the name\n# TYPE %s counter\n%s %.17g\n",
              METRICS_DROPPED, METRICS_DROPPED, METRICS_DROPPED, dropped);
    pthread_mutex_unlock(&lock);
    render_process(&b);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

void metrics_reset(void)
{
    pthread_mutex_lock(&lock);
    nfamilies = 0;
    nseries = 0;
    dropped = 0;
    pthread_mutex_unlock(&lock);
}
