/* report_svg.h - the charts of the report page (report_html.c), drawn here as inline SVG: no
 * script, no external file, no network. Every chart scales with its container (viewBox, width
 * 100%), has a title and a legend, and every bar carries a <title> with its exact figure (shown
 * on hover or long press), so the page reads on a phone and prints. */
#ifndef RECOBRO_CTL_REPORT_SVG_H
#define RECOBRO_CTL_REPORT_SVG_H

#include <stdbool.h>
#include <stdio.h>

/* Writes s to out escaped for XML/HTML text and attributes (& < > " '). NULL writes nothing. */
void svg_text(FILE *out, const char *s);

/* One bar: a share in [0, 1] with its 95% interval, or no value (drawn as "n/a"). */
typedef struct svg_bar {
    bool has_value;
    double value;
    bool has_ci;
    double lo, hi;
    long n; /* the sample behind it (shown in its tooltip); < 0: not shown */
} svg_bar_t;

/* A grouped horizontal bar chart of shares: one group of n_series bars per label. */
typedef struct svg_chart {
    const char *id;            /* the figure's id, [a-z0-9-] */
    const char *title;         /* caption */
    const char *const *series; /* n_series names (the legend) */
    int n_series;              /* 1..6 */
    const char *const *labels; /* n_groups names */
    int n_groups;              /* >= 0 (0: an empty chart saying so) */
    const svg_bar_t *bars;     /* n_groups * n_series, group by group */
} svg_chart_t;

/* Writes <figure class="chart" id=...><svg>...</svg><figcaption>...</figcaption></figure>. */
void svg_grouped_bars(FILE *out, const svg_chart_t *c);

/* A stacked horizontal bar chart: one bar per label split into n_parts shares (each row's counts
 * are divided by their sum). counts: n_groups * n_parts. */
typedef struct svg_stack {
    const char *id, *title;
    const char *const *parts; /* n_parts names (the legend), at most 6 */
    int n_parts;
    const char *const *labels;
    int n_groups;
    const long long *counts;
} svg_stack_t;

void svg_stacked_bars(FILE *out, const svg_stack_t *s);

#endif
