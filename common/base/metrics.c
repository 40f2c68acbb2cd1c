/* metrics.c - the Prometheus registry (see metrics.h). Small and linear on purpose: a service
 * has a few dozen series, and a mutex-guarded list is easy to reason about. */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_MAX_FAMILIES 64
#define METRICS_MAX_SERIES   512

static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,  0.5,    1,     2.5,  5,     10};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

typedef enum { MT_COUNTER, MT_GAUGE, MT_HISTOGRAM } mtype_t;

typedef struct family {
    char name[96];
    char help[160];
    mtype_t type;
} family_t;

typedef struct series {
    int family;
    char labels[256];
    double value;                   /* counter/gauge; histogram: sum */
    unsigned long count;            /* histogram */
    unsigned long bucket[NBUCKETS]; /* histogram, cumulative at render time */
} series_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static family_t families[METRICS_MAX_FAMILIES];
static int nfamilies;
static series_t series[METRICS_MAX_SERIES];
static int nseries;

/* Finds or creates the series; NULL when the registry is full. Call with the lock held. */
static series_t *lookup(const char *name, const char *help, mtype_t type, const char *labels)
{
    int f;

    if (labels == NULL)
        labels = "";
    for (f = 0; f < nfamilies; f++)
        if (strcmp(families[f].name, name) == 0)
            break;
    if (f == nfamilies) {
        if (nfamilies == METRICS_MAX_FAMILIES)
            return NULL;
        snprintf(families[f].name, sizeof(families[f].name), "%s", name);
        snprintf(families[f].help, sizeof(families[f].help), "%s", help ? help : name);
        families[f].type = type;
        nfamilies++;
    }
    for (int i = 0; i < nseries; i++)
        if (series[i].family == f && strcmp(series[i].labels, labels) == 0)
            return &series[i];
    if (nseries == METRICS_MAX_SERIES)
        return NULL;
    series_t *s = &series[nseries++];
    memset(s, 0, sizeof(*s));
    s->family = f;
    snprintf(s->labels, sizeof(s->labels), "%s", labels);
    return s;
}

void metrics_inc(const char *name, const char *help, const char *labels, double v)
{
    pthread_mutex_lock(&lock);
    series_t *s = lookup(name, help, MT_COUNTER, labels);
    if (s != NULL)
        s->value += v;
    pthread_mutex_unlock(&lock);
}

void metrics_set(const char *name, const char *help, const char *labels, double v)
{
    pthread_mutex_lock(&lock);
    series_t *s = lookup(name, help, MT_GAUGE, labels);
    if (s != NULL)
        s->value = v;
    pthread_mutex_unlock(&lock);
}

void metrics_observe(const char *name, const char *help, const char *labels, double seconds)
{
    pthread_mutex_lock(&lock);
    series_t *s = lookup(name, help, MT_HISTOGRAM, labels);
    if (s != NULL) {
        s->value += seconds;
        s->count++;
        for (size_t b = 0; b < NBUCKETS; b++) {
            if (seconds <= buckets[b]) {
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

    if (labels == NULL)
        labels = "";
    pthread_mutex_lock(&lock);
    for (int i = 0; i < nseries; i++)
        if (strcmp(families[series[i].family].name, name) == 0 &&
            strcmp(series[i].labels, labels) == 0)
            v = series[i].value;
    pthread_mutex_unlock(&lock);
    return v;
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

static const char *type_name(mtype_t t)
{
    return t == MT_COUNTER ? "counter" : t == MT_GAUGE ? "gauge" : "histogram";
}

char *metrics_render(size_t *len)
{
    rbuf_t b = {malloc(8192), 0, 8192, 0};

    if (b.p == NULL)
        return NULL;
    b.p[0] = '\0';
    pthread_mutex_lock(&lock);
    for (int f = 0; f < nfamilies; f++) {
        const family_t *fam = &families[f];
        rb_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name,
                  type_name(fam->type));
        for (int i = 0; i < nseries; i++) {
            const series_t *s = &series[i];
            if (s->family != f)
                continue;
            const char *sep = s->labels[0] ? "," : "";
            if (fam->type != MT_HISTOGRAM) {
                rb_printf(&b, "%s%s%s%s %.17g\n", fam->name, s->labels[0] ? "{" : "", s->labels,
                          s->labels[0] ? "}" : "", s->value);
                continue;
            }
            unsigned long cum = 0;
            for (size_t k = 0; k < NBUCKETS; k++) {
                cum += s->bucket[k];
                rb_printf(&b, "%s_bucket{%s%sle=\"%g\"} %lu\n", fam->name, s->labels, sep,
                          buckets[k], cum);
            }
            rb_printf(&b, "%s_bucket{%s%sle=\"+Inf\"} %lu\n", fam->name, s->labels, sep, s->count);
            rb_printf(&b, "%s_sum%s%s%s %.17g\n", fam->name, s->labels[0] ? "{" : "", s->labels,
                      s->labels[0] ? "}" : "", s->value);
            rb_printf(&b, "%s_count%s%s%s %lu\n", fam->name, s->labels[0] ? "{" : "", s->labels,
                      s->labels[0] ? "}" : "", s->count);
        }
    }
    pthread_mutex_unlock(&lock);
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
    pthread_mutex_unlock(&lock);
}
