/* report_svg.c - inline SVG charts for the report page (see report_svg.h). Coordinates are in a
 * fixed 400-unit-wide viewBox that the browser scales to the column's width (at most 560 px, see
 * report_html.c's style): narrow enough that the text stays readable on a phone. Each group's
 * label sits on its own line above its bars, so the bars get the whole width. */
#include "report_svg.h"

#include <stdio.h>
#include <string.h>

#define W         400 /* viewBox width */
#define LABEL_W   12  /* left margin: 0% is here */
#define PLOT_W    330 /* the bars' area: 0% at LABEL_W, 100% at LABEL_W + PLOT_W (data-plot-width) */
#define LABEL_H   16  /* a group's label line */
#define BAR_H     14
#define GROUP_PAD 8
#define TOP       44 /* legend and axis */

/* Fill colours of the series, told apart also by their order in the legend (print in grey). */
static const char *const palette[] = {"#1f6fb4", "#e07b1a", "#3a9a4a",
                                      "#b3393e", "#7a55b3", "#6b6b6b"};

void svg_text(FILE *out, const char *s)
{
    for (; s != NULL && *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\'':
            fputs("&#39;", out);
            break;
        default:
            fputc(*s, out);
        }
    }
}

static double x_of(double share)
{
    share = share < 0 ? 0 : share > 1 ? 1 : share;
    return LABEL_W + share * PLOT_W;
}

/* The opening of a figure and its svg of height h, with the legend and the 0-100% axis. */
static void open_figure(FILE *out, const char *id, const char *title, const char *const *names,
                        int n, int h, const char *kind)
{
    fprintf(out, "<figure class=\"chart\" id=\"%s\" data-chart=\"%s\" data-plot-width=\"%d\">\n",
            id, kind, PLOT_W);
    fprintf(out,
            "<svg class=\"chart-svg\" viewBox=\"0 0 %d %d\" width=\"100%%\" role=\"img\" "
            "aria-labelledby=\"%s-t\" xmlns=\"http://www.w3.org/2000/svg\">\n<title id=\"%s-t\">",
            W, h, id, id);
    svg_text(out, title);
    fputs("</title>\n", out);
    for (int s = 0, x = LABEL_W; s < n; s++) {
        fprintf(out,
                "<rect class=\"legend\" x=\"%d\" y=\"6\" width=\"12\" height=\"12\" "
                "fill=\"%s\"/><text x=\"%d\" y=\"16\" class=\"lg\">",
                x, palette[s % 6], x + 16);
        svg_text(out, names[s]);
        fputs("</text>\n", out);
        x += 24 + 7 * (int)(names[s] ? strlen(names[s]) : 0);
    }
    for (int t = 0; t <= 4; t++)
        fprintf(out,
                "<line class=\"grid\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
                "<text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d%%</text>\n",
                x_of(t / 4.0), TOP - 8, x_of(t / 4.0), h - 4, x_of(t / 4.0), TOP - 12, t * 25);
}

static void close_figure(FILE *out, const char *title)
{
    fputs("</svg>\n<figcaption>", out);
    svg_text(out, title);
    fputs("</figcaption>\n</figure>\n", out);
}

/* One bar of series s at height y, with its whisker and its tooltip. */
static void bar(FILE *out, const char *label, const char *series, int s, const svg_bar_t *b, int y)
{
    if (!b->has_value) {
        fprintf(out, "<text class=\"na\" x=\"%d\" y=\"%d\">n/a</text>\n", LABEL_W + 4,
                y + BAR_H - 3);
        return;
    }
    fprintf(out,
            "<rect class=\"bar\" x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\" "
            "data-share=\"%.4f\"><title>",
            LABEL_W, y, x_of(b->value) - LABEL_W, BAR_H - 2, palette[s % 6], b->value);
    svg_text(out, label);
    fputs(" - ", out);
    svg_text(out, series);
    fprintf(out, ": %.1f%%", b->value * 100);
    if (b->has_ci)
        fprintf(out, " (95%% CI %.1f-%.1f%%)", b->lo * 100, b->hi * 100);
    if (b->n >= 0)
        fprintf(out, ", n=%ld", b->n);
    fputs("</title></rect>\n", out);
    if (b->has_ci)
        fprintf(out, "<path class=\"ci\" d=\"M%.1f %d V%d M%.1f %d H%.1f M%.1f %d V%d\"/>\n",
                x_of(b->lo), y + 2, y + BAR_H - 4, x_of(b->lo), y + BAR_H / 2 - 1, x_of(b->hi),
                x_of(b->hi), y + 2, y + BAR_H - 4);
    fprintf(out, "<text class=\"val\" x=\"%.1f\" y=\"%d\">%.0f%%</text>\n",
            (b->has_ci ? x_of(b->hi) : x_of(b->value)) + 4, y + BAR_H - 3, b->value * 100);
}

void svg_grouped_bars(FILE *out, const svg_chart_t *c)
{
    int gh = LABEL_H + c->n_series * BAR_H + GROUP_PAD;
    int h = TOP + (c->n_groups > 0 ? c->n_groups * gh : 30) + 8;

    open_figure(out, c->id, c->title, c->series, c->n_series, h, "bars");
    if (c->n_groups == 0)
        fprintf(out, "<text class=\"empty\" x=\"%d\" y=\"%d\">no data yet</text>\n", LABEL_W + 4,
                TOP + 18);
    for (int g = 0; g < c->n_groups; g++) {
        int y = TOP + g * gh;
        fprintf(out, "<text class=\"label\" x=\"%d\" y=\"%d\">", LABEL_W, y + LABEL_H - 4);
        svg_text(out, c->labels[g]);
        fputs("</text>\n", out);
        for (int s = 0; s < c->n_series; s++)
            bar(out, c->labels[g], c->series[s], s, &c->bars[g * c->n_series + s],
                y + LABEL_H + s * BAR_H);
    }
    close_figure(out, c->title);
}

/* One stacked row: its parts left to right, each with its tooltip. */
static void stack_row(FILE *out, const svg_stack_t *s, int g, int y)
{
    long long tot = 0;
    double x = LABEL_W;

    for (int p = 0; p < s->n_parts; p++)
        tot += s->counts[g * s->n_parts + p];
    fprintf(out, "<text class=\"label\" x=\"%d\" y=\"%d\">", LABEL_W, y + LABEL_H - 4);
    svg_text(out, s->labels[g]);
    fprintf(out, "</text><text class=\"val\" x=\"%d\" y=\"%d\" text-anchor=\"end\">n=%lld</text>\n",
            LABEL_W + PLOT_W, y + LABEL_H - 4, tot);
    y += LABEL_H;
    for (int p = 0; p < s->n_parts && tot > 0; p++) {
        long long c = s->counts[g * s->n_parts + p];
        double w = (double)c / (double)tot * PLOT_W;
        if (c == 0)
            continue;
        fprintf(out,
                "<rect class=\"bar\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"18\" "
                "fill=\"%s\" data-share=\"%.4f\"><title>",
                x, y, w, palette[p % 6], (double)c / (double)tot);
        svg_text(out, s->labels[g]);
        fputs(" - ", out);
        svg_text(out, s->parts[p]);
        fprintf(out, ": %lld of %lld (%.1f%%)</title></rect>\n", c, tot, 100.0 * c / tot);
        if (w > 24)
            fprintf(out, "<text class=\"in\" x=\"%.1f\" y=\"%d\">%.0f%%</text>\n", x + 3, y + 13,
                    100.0 * c / tot);
        x += w;
    }
}

void svg_stacked_bars(FILE *out, const svg_stack_t *s)
{
    int h = TOP + (s->n_groups > 0 ? s->n_groups * (LABEL_H + 24) : 30) + 8;

    open_figure(out, s->id, s->title, s->parts, s->n_parts, h, "stacked");
    if (s->n_groups == 0)
        fprintf(out, "<text class=\"empty\" x=\"%d\" y=\"%d\">no snapshots yet</text>\n",
                LABEL_W + 4, TOP + 18);
    for (int g = 0; g < s->n_groups; g++)
        stack_row(out, s, g, TOP + g * (LABEL_H + 24));
    close_figure(out, s->title);
}
