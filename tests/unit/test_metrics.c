/* test_metrics.c - the /metrics exposition: declared families (one help and type per name),
 * buckets per family, the cardinality cap and its dropped counter, removal of a series, the
 * catalogue's series at 0 at start, build info and the process metrics, and the text format
 * itself (every sample line belongs to a family announced by # TYPE, names and values parse). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "metrics_catalog.h"

static char *render(void)
{
    size_t len;
    char *text = metrics_render(&len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

/* Checks the text format line by line: # HELP then # TYPE once per family, each sample's name
 * is its family's (with _bucket/_sum/_count for a histogram), braces balanced, a numeric value.
 * Returns the number of samples. */
static int check_exposition(const char *text)
{
    char fam[128] = "", type[16] = "", seen[8192] = " ";
    int samples = 0;

    for (const char *line = text; *line != '\0';) {
        const char *nl = strchr(line, '\n');
        assert_non_null(nl); /* every line ends */
        char buf[1024];
        size_t n = (size_t)(nl - line);
        assert_true(n > 0 && n < sizeof(buf));
        memcpy(buf, line, n);
        buf[n] = '\0';
        line = nl + 1;
        if (strncmp(buf, "# HELP ", 7) == 0)
            continue;
        if (strncmp(buf, "# TYPE ", 7) == 0) {
            char key[140];
            assert_int_equal(sscanf(buf + 7, "%127s %15s", fam, type), 2);
            snprintf(key, sizeof(key), " %s ", fam);
            assert_null(strstr(seen, key)); /* one TYPE per name */
            strncat(seen, key + 1, sizeof(seen) - strlen(seen) - 1);
            continue;
        }
        char name[128], *end;
        size_t nl2 = strcspn(buf, "{ ");
        assert_true(nl2 < sizeof(name));
        memcpy(name, buf, nl2);
        name[nl2] = '\0';
        if (strcmp(type, "histogram") == 0) {
            size_t fl = strlen(fam);
            assert_int_equal(strncmp(name, fam, fl), 0);
            assert_true(strcmp(name + fl, "_bucket") == 0 || strcmp(name + fl, "_sum") == 0 ||
                        strcmp(name + fl, "_count") == 0);
        } else {
            assert_string_equal(name, fam);
        }
        const char *v = strrchr(buf, ' ');
        if (buf[nl2] == '{')
            assert_true(strchr(buf, '}') != NULL && strchr(buf, '}') < v);
        strtod(v + 1, &end);
        assert_true(end != v + 1 && *end == '\0');
        samples++;
    }
    return samples;
}

static void declared_help_and_type_win(void **state)
{
    (void)state;
    metrics_reset();
    assert_int_equal(
        metrics_declare("t_errors_total", "Errors of every kind", METRIC_COUNTER, NULL, 0), 0);
    metrics_inc("t_errors_total", "Another meaning", NULL, 2);
    assert_int_equal(metrics_declare("t_errors_total", "Again", METRIC_GAUGE, NULL, 0), -1);
    metrics_set("t_errors_total", NULL, NULL, 7); /* the wrong type: refused, counted */
    char *text = render();
    assert_non_null(strstr(text, "# HELP t_errors_total Errors of every kind\n"));
    assert_null(strstr(text, "Another meaning"));
    assert_non_null(strstr(text, "t_errors_total 2\n"));
    assert_non_null(strstr(text, METRICS_DROPPED " 1\n"));
    check_exposition(text);
    free(text);
}

static void buckets_per_family(void **state)
{
    (void)state;
    metrics_reset();
    metrics_declare("t_e2e_seconds", "End to end", METRIC_HISTOGRAM, metrics_buckets_latency,
                    metrics_buckets_latency_n);
    metrics_observe("t_e2e_seconds", NULL, NULL, 200); /* minutes, not 10 s */
    metrics_observe("t_e2e_seconds", NULL, NULL, 0.02);
    metrics_observe("t_fast_seconds", "Undeclared: fast buckets", NULL, 0.003);
    char *text = render();
    assert_non_null(strstr(text, "t_e2e_seconds_bucket{le=\"120\"} 1\n"));
    assert_non_null(strstr(text, "t_e2e_seconds_bucket{le=\"300\"} 2\n"));
    assert_non_null(strstr(text, "t_e2e_seconds_bucket{le=\"3600\"} 2\n"));
    assert_non_null(strstr(text, "t_e2e_seconds_count 2\n"));
    assert_non_null(strstr(text, "t_fast_seconds_bucket{le=\"0.005\"} 1\n"));
    assert_non_null(strstr(text, "t_fast_seconds_bucket{le=\"10\"} 1\n"));
    check_exposition(text);
    free(text);
}

static void cardinality_cap_counts_dropped(void **state)
{
    char labels[64], longer[400];

    (void)state;
    metrics_reset();
    for (int i = 0; i < METRICS_FAMILY_MAX_SERIES + 44; i++) {
        snprintf(labels, sizeof(labels), "id=\"%d\"", i);
        metrics_inc("t_ids_total", "Per id", labels, 1);
    }
    assert_true(metrics_has("t_ids_total", "id=\"0\""));
    assert_false(metrics_has("t_ids_total", "id=\"256\""));
    assert_true(metrics_value(METRICS_DROPPED, NULL) == 44);
    memset(longer, 'x', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    metrics_set("t_gauge", "A gauge", longer, 1); /* never cut: refused */
    assert_true(metrics_value(METRICS_DROPPED, NULL) == 45);
    char *text = render();
    assert_int_equal(check_exposition(text) >= METRICS_FAMILY_MAX_SERIES, 1);
    assert_null(strstr(text, "xxxxxxxx"));
    free(text);
}

static void removed_series_disappear(void **state)
{
    (void)state;
    metrics_reset();
    metrics_set(METRIC_CONSUMER_LAG, "Lag", "topic=\"a\",partition=\"0\"", 5);
    metrics_set(METRIC_CONSUMER_LAG, "Lag", "topic=\"a\",partition=\"1\"", 7);
    metrics_remove(METRIC_CONSUMER_LAG, "topic=\"a\",partition=\"0\"");
    metrics_remove(METRIC_CONSUMER_LAG, "topic=\"a\",partition=\"9\""); /* absent: no-op */
    char *text = render();
    assert_null(strstr(text, "partition=\"0\""));
    assert_non_null(strstr(text, "recobro_consumer_lag_messages{topic=\"a\",partition=\"1\"} 7\n"));
    free(text);
    /* the freed slot is reusable, the family's count went down */
    metrics_set(METRIC_CONSUMER_LAG, "Lag", "topic=\"a\",partition=\"0\"", 1);
    assert_true(metrics_value(METRIC_CONSUMER_LAG, "topic=\"a\",partition=\"0\"") == 1);
}

static void catalogue_exposes_everything_at_zero(void **state)
{
    static const char *const expected[] = {
        "recobro_events_total{type=\"invoice.overdue\",result=\"applied\"} 0\n",
        "recobro_events_total{type=\"unknown\",result=\"rejected\"} 0\n",
        "recobro_dlq_total{reason=\"malformed_json\"} 0\n",
        "recobro_dlq_total{reason=\"processing_error\"} 0\n",
        "recobro_tasks_created_total{action=\"legal_review\"} 0\n",
        "recobro_tasks_deferred_total{reason=\"outside_window\"} 0\n",
        "recobro_tasks_suppressed_total{reason=\"dispute_open\"} 0\n",
        "recobro_processing_seconds_bucket{le=\"3600\"} 0\n",
        "recobro_batch_seconds_bucket{le=\"10\"} 0\n",
        "recobro_db_errors_total{kind=\"connect\"} 0\n",
        "recobro_db_retries_total 0\n",
        "recobro_cache_errors_total 0\n",
        "# TYPE recobro_consumer_lag_messages gauge\n",
        "recobro_build_info{version=\"" RECOBRO_VERSION "\",commit=\"",
        METRICS_DROPPED " 0\n",
        "# TYPE process_cpu_seconds_total counter\n",
        "# TYPE process_resident_memory_bytes gauge\n",
        "# TYPE process_open_fds gauge\n",
        "# TYPE process_start_time_seconds gauge\n",
    };

    (void)state;
    metrics_reset();
    metrics_catalog_register("overdue");
    metrics_catalog_register("overdue"); /* idempotent */
    char *text = render();
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
        if (strstr(text, expected[i]) == NULL)
            fail_msg("missing: %s", expected[i]);
    assert_null(strstr(text, "recobro_events_total 0")); /* no unlabelled labelled family */
    assert_null(strstr(text, "payment.received"));       /* the overdue worker's types only */
    assert_null(strstr(text, "recobro_outbox_backlog_rows"));
    check_exposition(text);
    free(text);

    metrics_reset();
    metrics_catalog_register("relay");
    text = render();
    assert_non_null(strstr(text, "recobro_outbox_backlog_rows 0\n"));
    assert_non_null(strstr(text, "recobro_outbox_oldest_age_seconds 0\n"));
    assert_non_null(strstr(text, "recobro_outbox_failed_total{reason=\"msg_timed_out\"} 0\n"));
    assert_null(strstr(text, "recobro_events_total"));
    check_exposition(text);
    free(text);
    metrics_reset();
}

static void process_metrics_are_real(void **state)
{
    double rss = 0, start = 0, fds = 0;

    (void)state;
    metrics_reset();
    char *text = render();
    const char *p = strstr(text, "\nprocess_resident_memory_bytes ");
    assert_non_null(p);
    rss = strtod(p + 31, NULL);
    p = strstr(text, "\nprocess_start_time_seconds ");
    assert_non_null(p);
    start = strtod(p + 28, NULL);
    p = strstr(text, "\nprocess_open_fds ");
    assert_non_null(p);
    fds = strtod(p + 18, NULL);
    assert_true(rss > 100000);       /* more than 100 kB resident */
    assert_true(start > 1600000000); /* after 2020 */
    assert_true(fds >= 3);           /* stdin, stdout, stderr */
    check_exposition(text);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(declared_help_and_type_win),
        cmocka_unit_test(buckets_per_family),
        cmocka_unit_test(cardinality_cap_counts_dropped),
        cmocka_unit_test(removed_series_disappear),
        cmocka_unit_test(catalogue_exposes_everything_at_zero),
        cmocka_unit_test(process_metrics_are_real),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
