/* test_runtime.c - the pure parts of the worker runtime: envelopes, array literals, outbox
 * shards, the clock's RFC 3339 parser, log escaping, metrics rendering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cloudevent.h"
#include "log.h"
#include "metrics.h"
#include "outbox.h"
#include "pg.h"
#include "calendar.h"

static const char *reject_code(const char *text)
{
    static reason_t err;
    ce_event_t ev;
    if (ce_parse(text, strlen(text), &ev, &err) == 0) {
        ce_event_clear(&ev);
        return NULL;
    }
    assert_null(ev.root);
    return err.code;
}

static void envelope_accepts_valid(void **state)
{
    const char *text = "{\"specversion\":\"1.0\",\"id\":\"e1\",\"source\":\"erp/x\",\"type\":"
                       "\"invoice.overdue\",\"subject\":\"acme/D-1\",\"extra\":1,\"data\":{}}";
    ce_event_t ev;
    reason_t err;

    (void)state;
    assert_int_equal(ce_parse(text, strlen(text), &ev, &err), 0);
    assert_string_equal(ev.id, "e1");
    assert_string_equal(ev.source, "erp/x");
    assert_string_equal(ev.type, "invoice.overdue");
    assert_string_equal(ev.subject, "acme/D-1");
    assert_null(ev.time);
    assert_true(json_is_object(ev.data));
    ce_event_clear(&ev);
    ce_event_clear(&ev); /* twice is harmless */
    ce_event_clear(NULL);
}

static void envelope_rejections(void **state)
{
    (void)state;
    assert_string_equal(reject_code(""), "malformed_json");
    assert_string_equal(reject_code("{"), "malformed_json");
    assert_string_equal(reject_code("not json"), "malformed_json");
    /* JSON text must be an object or an array (jansson's default): a bare scalar is not JSON we
     * accept; an array is JSON, just not an event (proto/README.md's table says both). */
    assert_string_equal(reject_code("5"), "malformed_json");
    assert_string_equal(reject_code("\"x\""), "malformed_json");
    assert_string_equal(reject_code("null"), "malformed_json");
    assert_string_equal(reject_code("[1,2]"), "schema_violation");
    assert_string_equal(reject_code("{\"id\":\"1\",\"source\":\"s\",\"type\":\"t\",\"data\":{}}"),
                        "schema_violation");
    assert_string_equal(
        reject_code("{\"specversion\":\"0.3\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\","
                    "\"data\":{}}"),
        "schema_violation");
    assert_string_equal(
        reject_code("{\"specversion\":\"1.0\",\"id\":1,\"source\":\"s\",\"type\":\"t\","
                    "\"data\":{}}"),
        "schema_violation");
    assert_string_equal(
        reject_code("{\"specversion\":\"1.0\",\"id\":\"\",\"source\":\"s\",\"type\":\"t\","
                    "\"data\":{}}"),
        "schema_violation");
    assert_string_equal(
        reject_code("{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\"}"),
        "schema_violation");
    assert_string_equal(
        reject_code("{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\","
                    "\"data\":\"x\"}"),
        "schema_violation");
    /* A duplicated key would make the meaning depend on which one wins. */
    assert_string_equal(
        reject_code("{\"specversion\":\"1.0\",\"id\":\"1\",\"id\":\"2\",\"source\":\"s\","
                    "\"type\":\"t\",\"data\":{}}"),
        "malformed_json");
}

static void envelope_too_large(void **state)
{
    size_t n = CE_MAX_BYTES + 10;
    char *big = malloc(n);
    ce_event_t ev;
    reason_t err;

    (void)state;
    memset(big, ' ', n);
    assert_int_equal(ce_parse(big, n, &ev, &err), -1);
    assert_string_equal(err.code, "too_large");
    free(big);
}

static void array_literals(void **state)
{
    pgarr_t a;

    (void)state;
    pgarr_init(&a);
    assert_string_equal(pgarr_str(&a), "{}");
    pgarr_add_cstr(&a, "plain");
    pgarr_add_cstr(&a, "with \"quotes\" and \\ backslash");
    pgarr_add_cstr(&a, NULL);
    pgarr_add_int64(&a, -42);
    pgarr_add_bytea(&a, "AB", 2);
    assert_string_equal(pgarr_str(&a),
                        "{\"plain\",\"with \\\"quotes\\\" and \\\\ backslash\",NULL,-42,"
                        "\"\\\\x4142\"}");
    assert_int_equal(a.count, 5);
    pgarr_reset(&a);
    assert_string_equal(pgarr_str(&a), "{}");
    for (int i = 0; i < 10000; i++)
        pgarr_add_int64(&a, i);
    assert_int_equal(a.count, 10000);
    assert_non_null(pgarr_str(&a));
    pgarr_free(&a);
}

static void outbox_shards_are_stable(void **state)
{
    (void)state;
    assert_int_equal(outbox_shard(NULL, 0), 0);
    int s = outbox_shard("acme/D-1001", 11);
    assert_in_range(s, 0, OUTBOX_SHARDS - 1);
    assert_int_equal(outbox_shard("acme/D-1001", 11), s);
    int seen[OUTBOX_SHARDS] = {0};
    char key[32];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(key, sizeof(key), "acme/D-%d", i);
        seen[outbox_shard(key, (size_t)n)]++;
    }
    for (int i = 0; i < OUTBOX_SHARDS; i++)
        assert_true(seen[i] > 20); /* roughly even spread */
}

static void rfc3339(void **state)
{
    int64_t t;

    (void)state;
    assert_int_equal(cal_parse_instant("1970-01-01T00:00:00Z", &t, NULL), 0);
    assert_int_equal(t, 0);
    assert_int_equal(cal_parse_instant("2026-11-20T10:00:00+01:00", &t, NULL), 0);
    assert_int_equal(t, 1795165200);
    assert_int_equal(cal_parse_instant("2026-11-20T04:15:00.123-04:45", &t, NULL), 0);
    assert_int_equal(t, 1795165200);
    assert_int_equal(cal_parse_instant("2024-02-29T00:00:00Z", &t, NULL), 0);
    assert_int_equal(cal_parse_instant("2026-02-29T00:00:00Z", &t, NULL), -1);
    assert_int_equal(cal_parse_instant("2026-11-20T10:00:00", &t, NULL), -1);
    assert_int_equal(cal_parse_instant("2026-11-20 10:00:00Z", &t, NULL), -1);
    assert_int_equal(cal_parse_instant("2026-13-01T00:00:00Z", &t, NULL), -1);
    assert_int_equal(cal_parse_instant("2026-11-20T24:00:00Z", &t, NULL), -1);
    assert_int_equal(cal_parse_instant("2026-11-20T10:00:00Zjunk", &t, NULL), -1);
    assert_int_equal(cal_parse_instant(NULL, &t, NULL), -1);
    char buf[32];
    assert_string_equal(cal_format_utc(1795165200, buf, sizeof(buf)), "2026-11-20T09:00:00Z");
}

static void fixed_clock(void **state)
{
    (void)state;
    clock_fix(1, 1795165200);
    assert_int_equal(clock_now(), 1795165200);
    clock_fix(0, 0);
    assert_true(clock_now() > 1795165200 - 86400 * 365 * 10);
}

static void log_escaping(void **state)
{
    char buf[64];

    (void)state;
    assert_string_equal(log_json_escape("a\"b\\c\n", buf, sizeof(buf)), "a\\\"b\\\\c\\u000a");
    assert_string_equal(log_json_escape(NULL, buf, sizeof(buf)), "");
    char small[8];
    log_json_escape("0123456789", small, sizeof(small));
    assert_true(strlen(small) < sizeof(small));
    log_level_t l;
    assert_int_equal(log_level_parse("warn", &l), 0);
    assert_int_equal(l, LOG_WARN);
    assert_int_equal(log_level_parse("loud", &l), -1);
}

static void metrics_text(void **state)
{
    size_t len;

    (void)state;
    metrics_reset();
    metrics_inc("recobro_events_total", "Events", "type=\"a\",result=\"applied\"", 2);
    metrics_inc("recobro_events_total", "Events", "type=\"a\",result=\"applied\"", 1);
    metrics_set("recobro_lag", "Lag", NULL, 7);
    metrics_observe("recobro_latency_seconds", "Latency", NULL, 0.003);
    metrics_observe("recobro_latency_seconds", "Latency", NULL, 20);
    assert_true(metrics_value("recobro_events_total", "type=\"a\",result=\"applied\"") == 3);
    char *text = metrics_render(&len);
    assert_non_null(text);
    assert_non_null(strstr(text, "# TYPE recobro_events_total counter\n"));
    assert_non_null(strstr(text, "recobro_events_total{type=\"a\",result=\"applied\"} 3\n"));
    assert_non_null(strstr(text, "recobro_lag 7\n"));
    assert_non_null(strstr(text, "recobro_latency_seconds_bucket{le=\"0.0025\"} 0\n"));
    assert_non_null(strstr(text, "recobro_latency_seconds_bucket{le=\"0.005\"} 1\n"));
    assert_non_null(strstr(text, "recobro_latency_seconds_bucket{le=\"+Inf\"} 2\n"));
    assert_non_null(strstr(text, "recobro_latency_seconds_count 2\n"));
    free(text);
    metrics_reset();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(envelope_accepts_valid),
        cmocka_unit_test(envelope_rejections),
        cmocka_unit_test(envelope_too_large),
        cmocka_unit_test(array_literals),
        cmocka_unit_test(outbox_shards_are_stable),
        cmocka_unit_test(rfc3339),
        cmocka_unit_test(fixed_clock),
        cmocka_unit_test(log_escaping),
        cmocka_unit_test(metrics_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
