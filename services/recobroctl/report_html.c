/* report_html.c - `recobroctl report --format html` (see report.h): the document as one
 * self-contained page: inline CSS, inline SVG charts (report_svg.c), no script and no external
 * resource, so it opens offline, reads on a phone (viewport, fluid charts, tables that scroll
 * sideways) and prints (a print style sheet, no chart split across pages). Sections: overview,
 * segments, champion/challenger per strategy, roll rates, techniques, objections, agents, notes. */
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "report_svg.h"
#include "stats.h"

static const char *const css =
    "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
    "color:#1d1d1f;margin:0 auto;max-width:980px;padding:12px 16px 40px}"
    "h1{font-size:1.5em;margin:.4em 0}h2{font-size:1.2em;margin:1.6em 0 .4em;"
    "border-bottom:2px solid #1f6fb4;padding-bottom:.2em}"
    ".meta{color:#555;font-size:.9em}.kpis{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0}"
    ".kpi{flex:1 1 140px;border:1px solid #ddd;border-radius:8px;padding:8px 10px}"
    ".kpi b{display:block;font-size:1.4em}.scroll{overflow-x:auto}"
    "table{border-collapse:collapse;font-size:.85em;margin:.5em 0;min-width:100%}"
    "th,td{border-bottom:1px solid #e3e3e3;padding:4px 6px;text-align:right;white-space:nowrap}"
    "th:first-child,td:first-child{text-align:left}th{background:#f3f6fa}"
    "figure.chart{margin:8px 0 16px}.chart-svg{display:block;max-width:560px;height:auto}"
    "figcaption{font-size:.85em;color:#555}.chart-svg text{font-size:12px;fill:#1d1d1f}"
    ".chart-svg .label{font-weight:600}.chart-svg .tick{fill:#777;font-size:10px}.chart-svg "
    ".grid{stroke:#e5e5e5}"
    ".chart-svg .ci{stroke:#111;stroke-width:1.4;fill:none}.chart-svg .in{fill:#fff}"
    ".sig{color:#0a7d32;font-weight:600}.ns{color:#777}.notes li{font-size:.85em;color:#444}"
    "@media (max-width:600px){body{font-size:14px;padding:8px}}"
    "@media print{body{max-width:none;font-size:11px}h2{break-after:avoid}"
    "figure.chart,table{break-inside:avoid}.scroll{overflow:visible}"
    "th{background:none}}";

/* ---- Small writers ----------------------------------------------------------------------- */

static long long ival(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static const char *sval(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* A share {count, of, rate, ci95} as a bar. */
static svg_bar_t share_bar(const json_t *share)
{
    svg_bar_t b = {false, 0, false, 0, 0, ival(share, "of")};
    const json_t *ci = json_object_get(share, "ci95");

    if (json_is_number(json_object_get(share, "rate"))) {
        b.has_value = true;
        b.value = json_number_value(json_object_get(share, "rate"));
    }
    if (json_array_size(ci) == 2) {
        b.has_ci = true;
        b.lo = json_number_value(json_array_get(ci, 0));
        b.hi = json_number_value(json_array_get(ci, 1));
    }
    return b;
}

/* k of n as a bar with its Wilson interval. */
static svg_bar_t count_bar(long long k, long long n)
{
    stats_interval_t ci = stats_wilson((long)k, (long)n);
    return (svg_bar_t){n > 0, n > 0 ? (double)k / (double)n : 0, n > 0, ci.lo, ci.hi, (long)n};
}

static void pct_cell(FILE *out, const json_t *rate)
{
    if (json_is_number(rate))
        fprintf(out, "<td>%.1f%%</td>", json_number_value(rate) * 100);
    else
        fputs("<td>-</td>", out);
}

/* A share as "41.2% (35.0-47.5) 87/211". */
static void share_cell(FILE *out, const json_t *s)
{
    const json_t *ci = json_object_get(s, "ci95");
    if (!json_is_number(json_object_get(s, "rate"))) {
        fprintf(out, "<td>- (0/%lld)</td>", ival(s, "of"));
        return;
    }
    fprintf(out, "<td>%.1f%% <small>(%.1f&ndash;%.1f) %lld/%lld</small></td>",
            json_number_value(json_object_get(s, "rate")) * 100,
            json_number_value(json_array_get(ci, 0)) * 100,
            json_number_value(json_array_get(ci, 1)) * 100, ival(s, "count"), ival(s, "of"));
}

/* A comparison as "+4.1 pts (-1.2 to 9.4), p=0.13" or "not enough cases yet". */
static void compare_cell(FILE *out, const json_t *c)
{
    const json_t *ci = json_object_get(c, "ci95");
    if (strcmp(sval(c, "status"), "ok") != 0) {
        fputs("<td class=\"ns\">not enough cases yet</td>", out);
        return;
    }
    fprintf(out, "<td class=\"%s\">%+.1f pts <small>(%+.1f to %+.1f) p=%.3g</small></td>",
            json_is_true(json_object_get(c, "significant")) ? "sig" : "ns",
            json_number_value(json_object_get(c, "difference")) * 100,
            json_number_value(json_array_get(ci, 0)) * 100,
            json_number_value(json_array_get(ci, 1)) * 100,
            json_number_value(json_object_get(c, "p_value")));
}

static void th_row(FILE *out, const char *const *heads)
{
    fputs("<div class=\"scroll\"><table><thead><tr>", out);
    for (; *heads != NULL; heads++) {
        fputs("<th>", out);
        svg_text(out, *heads);
        fputs("</th>", out);
    }
    fputs("</tr></thead><tbody>\n", out);
}

static void name_cell(FILE *out, const char *s)
{
    fputs("<tr><td>", out);
    svg_text(out, s);
    fputs("</td>", out);
}

static const char *const table_end = "</tbody></table></div>\n";

/* ---- Sections ---------------------------------------------------------------------------- */

static void head(FILE *out, const json_t *doc)
{
    const json_t *p = json_object_get(doc, "period");
    const char *cr = json_string_value(json_object_get(doc, "creditor_id"));

    fprintf(out,
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<title>recobro collections report</title>\n<style>%s</style></head>\n<body>\n",
            css);
    fputs("<header><h1>Collections report</h1><p class=\"meta\">Creditor ", out);
    svg_text(out, cr ? cr : "all creditors");
    fputs(" &middot; cases first due ", out);
    svg_text(out, json_is_string(json_object_get(p, "from")) ? sval(p, "from") : "any time");
    fputs(" to ", out);
    svg_text(out, json_is_string(json_object_get(p, "to")) ? sval(p, "to") : "now");
    fputs(" &middot; generated ", out);
    svg_text(out, sval(doc, "generated_at"));
    fputs("</p></header>\n", out);
}

static void kpi(FILE *out, const char *name, const json_t *rate, long long k, long long n)
{
    fputs("<div class=\"kpi\">", out);
    svg_text(out, name);
    if (json_is_number(rate))
        fprintf(out, "<b>%.1f%%</b>", json_number_value(rate) * 100);
    else
        fputs("<b>-</b>", out);
    fprintf(out, "<small>%lld of %lld</small></div>\n", k, n);
}

static void overview(FILE *out, const json_t *doc)
{
    const json_t *o = json_object_get(doc, "overall"), *e;
    const json_t *cure = json_object_get(o, "cure"), *p = json_object_get(o, "promises");
    const json_t *c = json_object_get(o, "contacts");
    static const char *const heads[] = {"currency",  "documented", "received", "reversed",
                                        "collected", "recovery",   NULL};
    size_t i;

    fprintf(out,
            "<section id=\"overview\"><h2>Overview</h2><div class=\"kpis\">"
            "<div class=\"kpi\">cases<b>%lld</b><small>%lld open</small></div>\n",
            ival(o, "cases"), ival(o, "open_cases"));
    kpi(out, "cure rate", json_object_get(cure, "rate"), ival(cure, "cured"),
        ival(cure, "ever_overdue"));
    kpi(out, "promise-kept rate", json_object_get(p, "kept_rate"), ival(p, "kept"),
        ival(p, "settled"));
    kpi(out, "right-party contact rate", json_object_get(c, "rate"), ival(c, "right_party"),
        ival(c, "attempts"));
    fputs("</div>\n", out);
    th_row(out, heads);
    json_array_foreach(json_object_get(o, "recovery"), i, e)
    {
        name_cell(out, sval(e, "currency"));
        fprintf(out, "<td>%s</td><td>%s</td><td>%s</td><td>%s</td>", sval(e, "documented"),
                sval(e, "received"), sval(e, "reversed"), sval(e, "collected"));
        pct_cell(out, json_object_get(e, "rate"));
        fputs("</tr>\n", out);
    }
    fputs(table_end, out);
    fputs("</section>\n", out);
}

static void segments(FILE *out, const json_t *doc)
{
    const json_t *segs = json_object_get(doc, "by_segment"), *s;
    static const char *const series[] = {"cure rate", "promise-kept rate"};
    static const char *const heads[] = {
        "segment", "cases", "open", "cure", "promise kept", "right-party contacts", NULL};
    size_t n = json_array_size(segs), i;
    const char **labels = calloc(n + 1, sizeof(*labels));
    svg_bar_t *bars = calloc(2 * n + 1, sizeof(*bars));

    fputs("<section id=\"segments\"><h2>Cure and promise-kept rates by segment</h2>\n", out);
    if (labels == NULL || bars == NULL)
        n = 0; /* out of memory: the table alone */
    for (i = 0; i < n; i++) {
        s = json_array_get(segs, i);
        const json_t *cure = json_object_get(s, "cure"), *p = json_object_get(s, "promises");
        labels[i] = sval(s, "segment");
        bars[2 * i] = count_bar(ival(cure, "cured"), ival(cure, "ever_overdue"));
        bars[2 * i + 1] = count_bar(ival(p, "kept"), ival(p, "settled"));
    }
    svg_grouped_bars(out, &(svg_chart_t){"chart-segments",
                                         "Cure and promise-kept rates by segment (95% intervals)",
                                         series, 2, labels, (int)n, bars});
    th_row(out, heads);
    json_array_foreach(segs, i, s)
    {
        const json_t *cure = json_object_get(s, "cure"), *p = json_object_get(s, "promises");
        const json_t *c = json_object_get(s, "contacts");
        name_cell(out, sval(s, "segment"));
        fprintf(out, "<td>%lld</td><td>%lld</td>", ival(s, "cases"), ival(s, "open_cases"));
        pct_cell(out, json_object_get(cure, "rate"));
        pct_cell(out, json_object_get(p, "kept_rate"));
        pct_cell(out, json_object_get(c, "rate"));
        fputs("</tr>\n", out);
    }
    fputs(table_end, out);
    fputs("</section>\n", out);
    free(labels);
    free(bars);
}

/* The strategies with a comparison (two variants or more); all of them when none has one. */
static int compared(const json_t *strategy, int any)
{
    return any || json_array_size(json_object_get(strategy, "variants")) > 1;
}

static void champion_chart(FILE *out, const json_t *cc)
{
    static const char *const series[] = {"cure rate", "promise-kept rate"};
    size_t n = 0, i, j;
    const json_t *s, *v;
    int any = 1;

    json_array_foreach(cc, i, s)
    {
        any = any && json_array_size(json_object_get(s, "variants")) <= 1;
        n += json_array_size(json_object_get(s, "variants"));
    }
    char(*labels)[140] = calloc(n + 1, sizeof(*labels));
    const char **lp = calloc(n + 1, sizeof(*lp));
    svg_bar_t *bars = calloc(2 * n + 1, sizeof(*bars));
    int g = 0;
    json_array_foreach(cc, i, s)
    {
        json_array_foreach(json_object_get(s, "variants"), j, v)
        {
            if (labels == NULL || lp == NULL || bars == NULL || !compared(s, any))
                continue;
            snprintf(labels[g], sizeof(labels[g]), "%s: %s", sval(s, "strategy"),
                     sval(v, "variant"));
            lp[g] = labels[g];
            bars[2 * g] = share_bar(json_object_get(v, "cure"));
            bars[2 * g + 1] = share_bar(json_object_get(v, "promise_kept"));
            g++;
        }
    }
    svg_grouped_bars(out, &(svg_chart_t){"chart-champion",
                                         "Champion against challenger, per strategy (95% "
                                         "intervals)",
                                         series, 2, lp, g, bars});
    free(labels);
    free(lp);
    free(bars);
}

static void champion(FILE *out, const json_t *doc)
{
    const json_t *cc = json_object_get(doc, "champion_challenger"), *s, *c;
    static const char *const heads[] = {
        "strategy", "variant", "against", "cure difference", "promise-kept difference", NULL};
    size_t i, j;

    fputs("<section id=\"champion\"><h2>Champion and challenger, per strategy</h2>\n", out);
    champion_chart(out, cc);
    th_row(out, heads);
    json_array_foreach(cc, i, s)
    {
        json_array_foreach(json_object_get(s, "comparisons"), j, c)
        {
            name_cell(out, sval(s, "strategy"));
            fputs("<td>", out);
            svg_text(out, sval(c, "variant"));
            fputs("</td><td>", out);
            svg_text(out, sval(c, "against"));
            fputs("</td>", out);
            compare_cell(out, json_object_get(c, "cure"));
            compare_cell(out, json_object_get(c, "promise_kept"));
            fputs("</tr>\n", out);
        }
    }
    fputs(table_end, out);
    fputs("<p class=\"meta\">Each variant is compared with its own strategy's champion only; a "
          "difference is marked significant when its two-proportion z-test gives p &lt; 0.05 "
          "with at least 30 cases on each side.</p></section>\n",
          out);
}

/* The roll: per start bucket, where the cases stood at the end. */
static void roll(FILE *out, const json_t *doc)
{
    static const char *const parts[] = {"stayed", "worse bucket", "better bucket", "resolved"};
    static const char *const heads[] = {"from",   "cases",    "stayed",       "worse",
                                        "better", "resolved", "roll forward", NULL};
    const json_t *r = json_object_get(doc, "roll"), *rates = json_object_get(r, "rates"), *e;
    size_t n = json_array_size(rates), i;
    const char **labels = calloc(n + 1, sizeof(*labels));
    long long *counts = calloc(4 * n + 1, sizeof(*counts));

    fputs("<section id=\"roll\"><h2>Roll rates between days-past-due buckets</h2>\n", out);
    fprintf(out,
            "<p class=\"meta\">From the daily snapshots: where the cases open on %s stood "
            "on %s.</p>\n",
            json_is_string(json_object_get(r, "from")) ? sval(r, "from") : "-",
            json_is_string(json_object_get(r, "to")) ? sval(r, "to") : "-");
    for (i = 0; labels != NULL && counts != NULL && i < n; i++) {
        e = json_array_get(rates, i);
        labels[i] = sval(e, "from");
        counts[4 * i] = ival(e, "stayed");
        counts[4 * i + 1] = ival(e, "worse");
        counts[4 * i + 2] = ival(e, "better");
        counts[4 * i + 3] = ival(e, "resolved");
    }
    svg_stacked_bars(out, &(svg_stack_t){"chart-roll", "Roll rates by days-past-due bucket", parts,
                                         4, labels, labels && counts ? (int)n : 0, counts});
    th_row(out, heads);
    json_array_foreach(rates, i, e)
    {
        name_cell(out, sval(e, "from"));
        fprintf(out, "<td>%lld</td><td>%lld</td><td>%lld</td><td>%lld</td><td>%lld</td>",
                ival(e, "cases"), ival(e, "stayed"), ival(e, "worse"), ival(e, "better"),
                ival(e, "resolved"));
        pct_cell(out, json_object_get(e, "roll_forward_rate"));
        fputs("</tr>\n", out);
    }
    fputs(table_end, out);
    fputs("</section>\n", out);
    free(labels);
    free(counts);
}

/* A chart of share `measure` of each entry of arr (named by `field`), with against without. */
static void effect_chart(FILE *out, const char *id, const char *title, const json_t *arr,
                         const char *field, const char *measure)
{
    static const char *const series[] = {"with", "without"};
    size_t n = json_array_size(arr), i;
    const char **labels = calloc(n + 1, sizeof(*labels));
    svg_bar_t *bars = calloc(2 * n + 1, sizeof(*bars));

    for (i = 0; labels != NULL && bars != NULL && i < n; i++) {
        const json_t *e = json_array_get(arr, i);
        labels[i] = sval(e, field);
        bars[2 * i] = share_bar(json_object_get(json_object_get(e, "with"), measure));
        bars[2 * i + 1] = share_bar(json_object_get(json_object_get(e, "without"), measure));
    }
    svg_grouped_bars(
        out, &(svg_chart_t){id, title, series, 2, labels, labels && bars ? (int)n : 0, bars});
    free(labels);
    free(bars);
}

/* The table of techniques or objections: per entry, both shares with and without, and their
 * differences. */
static void effect_table(FILE *out, const json_t *arr, const char *field, const char *m1,
                         const char *m2, const char *const *heads)
{
    char d1[48], d2[48];
    size_t i;
    const json_t *e;

    snprintf(d1, sizeof(d1), "%s_difference", m1);
    snprintf(d2, sizeof(d2), "%s_difference", m2);
    th_row(out, heads);
    json_array_foreach(arr, i, e)
    {
        const json_t *w = json_object_get(e, "with"), *wo = json_object_get(e, "without");
        name_cell(out, sval(e, field));
        fprintf(out, "<td>%lld</td>", ival(w, "contacts"));
        share_cell(out, json_object_get(w, m1));
        share_cell(out, json_object_get(wo, m1));
        compare_cell(out, json_object_get(e, d1));
        share_cell(out, json_object_get(w, m2));
        share_cell(out, json_object_get(wo, m2));
        compare_cell(out, json_object_get(e, d2));
        fputs("</tr>\n", out);
    }
    fputs(table_end, out);
}

static void techniques(FILE *out, const json_t *doc)
{
    static const char *const heads[] = {"technique", "contacts with", "promise within 7 days: with",
                                        "without",   "difference",    "kept: with",
                                        "without",   "difference",    NULL};
    const json_t *t = json_object_get(doc, "techniques");

    fputs("<section id=\"techniques\"><h2>Technique effectiveness, per right-party "
          "contact</h2>\n",
          out);
    effect_chart(out, "chart-techniques",
                 "Share of right-party contacts followed by a promise "
                 "within 7 days, with and without each technique",
                 t, "technique", "promise");
    effect_chart(out, "chart-techniques-kept",
                 "Share of those promises kept, with and without each technique", t, "technique",
                 "kept");
    effect_table(out, t, "technique", "promise", "kept", heads);
    fputs("</section>\n", out);
}

static void objections(FILE *out, const json_t *doc)
{
    static const char *const heads[] = {"objection", "contacts with", "ends in a plan: with",
                                        "without",   "difference",    "ends in a dispute: with",
                                        "without",   "difference",    NULL};
    const json_t *o = json_object_get(doc, "objections");

    fputs("<section id=\"objections\"><h2>Objections: which end in a plan, which in a "
          "dispute</h2>\n",
          out);
    effect_chart(out, "chart-objections-plan",
                 "Share of right-party contacts ending in a plan within 30 days, with and without "
                 "each objection",
                 o, "objection", "plan");
    effect_chart(out, "chart-objections-dispute",
                 "Share ending in a dispute within 30 days, with and without each objection", o,
                 "objection", "dispute");
    effect_table(out, o, "objection", "plan", "dispute", heads);
    fputs("</section>\n", out);
}

static void agents(FILE *out, const json_t *doc)
{
    static const char *const series[] = {"right-party rate", "promise-kept rate"};
    static const char *const heads[] = {"agent",      "attempts",      "right-party contacts",
                                        "promises",   "plans",         "kept",
                                        "complaints", "limits broken", NULL};
    const json_t *arr = json_object_get(doc, "agents"), *a;
    size_t n = json_array_size(arr), i;
    const char **labels = calloc(n + 1, sizeof(*labels));
    svg_bar_t *bars = calloc(2 * n + 1, sizeof(*bars));

    fputs("<section id=\"agents\"><h2>Agents</h2>\n", out);
    for (i = 0; labels != NULL && bars != NULL && i < n; i++) {
        a = json_array_get(arr, i);
        labels[i] = sval(a, "agent_id");
        bars[2 * i] = count_bar(ival(a, "right_party"), ival(a, "attempts"));
        bars[2 * i + 1] = share_bar(json_object_get(a, "kept"));
    }
    svg_grouped_bars(out, &(svg_chart_t){"chart-agents",
                                         "Right-party contact and promise-kept rates per agent",
                                         series, 2, labels, labels && bars ? (int)n : 0, bars});
    free(labels);
    free(bars);
    th_row(out, heads);
    json_array_foreach(arr, i, a)
    {
        name_cell(out, sval(a, "agent_id"));
        fprintf(out, "<td>%lld</td><td>%lld</td><td>%lld</td><td>%lld</td>", ival(a, "attempts"),
                ival(a, "right_party"), ival(a, "promises"), ival(a, "plans"));
        share_cell(out, json_object_get(a, "kept"));
        fprintf(out, "<td>%lld</td><td>%lld</td></tr>\n", ival(a, "complaints"),
                ival(a, "limits_broken"));
    }
    fputs(table_end, out);
    fputs("</section>\n", out);
}

static void notes(FILE *out, const json_t *doc)
{
    size_t i;
    const json_t *n;

    fputs("<section id=\"notes\"><h2>How the figures are defined</h2><ul class=\"notes\">\n", out);
    json_array_foreach(json_object_get(doc, "notes"), i, n)
    {
        fputs("<li>", out);
        svg_text(out, json_string_value(n));
        fputs("</li>\n", out);
    }
    fputs("</ul></section>\n", out);
}

int report_write_html(FILE *out, const json_t *doc)
{
    head(out, doc);
    fputs("<main>\n", out);
    overview(out, doc);
    segments(out, doc);
    champion(out, doc);
    roll(out, doc);
    techniques(out, doc);
    objections(out, doc);
    agents(out, doc);
    notes(out, doc);
    fputs("</main>\n</body></html>\n", out);
    return ferror(out) ? -1 : 0;
}
