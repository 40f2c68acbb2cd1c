/* test_log.c - the JSON log line: always one valid JSON object on one line, at most
 * LOG_LINE_MAX bytes; a long line is cut in its longest string (never inside a string's
 * escaping, never inside a UTF-8 character) and says "truncated"; a fragment that is not JSON
 * is kept as a string; a member cannot replace ts, level, service or event. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <glib.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Runs fn with stderr sent to a temporary file; returns what was written (g_free). */
static char *capture(void (*fn)(void))
{
    char path[] = "/tmp/test_log_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fd);
    char *text = NULL;
    assert_true(g_file_get_contents(path, &text, NULL, NULL));
    unlink(path);
    return text;
}

/* The one line of text, checked: ends with a newline, has no other, fits, parses. */
static json_t *one_line(const char *text)
{
    size_t n = strlen(text);
    assert_true(n > 1 && text[n - 1] == '\n');
    assert_null(memchr(text, '\n', n - 1));
    assert_true(n <= LOG_LINE_MAX);
    json_error_t e;
    json_t *obj = json_loadb(text, n, 0, &e);
    if (obj == NULL)
        fail_msg("not JSON (%s): %.200s", e.text, text);
    assert_true(json_is_object(obj));
    return obj;
}

static char *long_value;

static void emit_long(void)
{
    char esc[16384];
    LOG_WARN("test.long", "\"topic\":\"t\",\"error\":\"%s\",\"n\":7",
             log_json_escape(long_value, esc, sizeof(esc)));
}

static void a_4k_line_is_cut_between_characters(void **state)
{
    (void)state;
    /* quotes and backslashes (escaped: two bytes each) and two-byte characters, 6,000 bytes */
    GString *v = g_string_new(NULL);
    while (v->len < 6000)
        g_string_append(v, "a\"b\\c\xc3\xa9");
    long_value = v->str;
    char *text = capture(emit_long);
    json_t *obj = one_line(text);
    const char *cut = json_string_value(json_object_get(obj, "error"));
    assert_non_null(cut);
    assert_true(strlen(cut) > 3000);                        /* cut, not dropped */
    assert_int_equal(strncmp(cut, v->str, strlen(cut)), 0); /* a prefix of the value */
    assert_true(g_utf8_validate(cut, -1, NULL));
    assert_true(json_is_true(json_object_get(obj, "truncated")));
    assert_int_equal(json_integer_value(json_object_get(obj, "n")), 7);
    assert_string_equal(json_string_value(json_object_get(obj, "event")), "test.long");
    json_decref(obj);
    g_free(text);
    g_string_free(v, TRUE);
}

static void emit_short(void)
{
    LOG_INFO("test.short", "\"offset\":%lld,\"ms\":%.1f,\"ok\":true", 12345678901LL, 12.3);
}

static void a_short_line_is_unchanged(void **state)
{
    (void)state;
    char *text = capture(emit_short);
    json_t *obj = one_line(text);
    assert_non_null(strstr(text, "\"event\":\"test.short\",\"offset\":12345678901,\"ms\":12.3,"
                                 "\"ok\":true}\n"));
    assert_true(strncmp(text, "{\"ts\":\"", 7) == 0);
    assert_null(json_object_get(obj, "truncated"));
    json_decref(obj);
    g_free(text);
}

static void emit_bad(void)
{
    /* a caller's bug: the value is not escaped, and holds a byte that is not UTF-8 */
    LOG_ERROR("test.bad", "\"why\":\"%s\",\"event\":\"spoofed\"", "say \"hi\"\xff");
}

static void emit_spoof(void)
{
    LOG_ERROR("test.spoof", "\"event\":\"spoofed\",\"level\":\"debug\",\"x\":1");
}

static void bad_fragments_still_give_json(void **state)
{
    (void)state;
    char *text = capture(emit_bad);
    json_t *obj = one_line(text);
    assert_string_equal(json_string_value(json_object_get(obj, "event")), "test.bad");
    assert_non_null(json_string_value(json_object_get(obj, "fields_unparsed")));
    json_decref(obj);
    g_free(text);
    text = capture(emit_spoof);
    obj = one_line(text);
    assert_string_equal(json_string_value(json_object_get(obj, "event")), "test.spoof");
    assert_string_equal(json_string_value(json_object_get(obj, "level")), "error");
    assert_int_equal(json_integer_value(json_object_get(obj, "x")), 1);
    json_decref(obj);
    g_free(text);
}

static void emit_many(void)
{
    GString *f = g_string_new(NULL);
    for (int i = 0; i < 900; i++)
        g_string_append_printf(f, "%s\"k%d\":%d", i ? "," : "", i, i);
    LOG_INFO("test.many", "%s", f->str);
    g_string_free(f, TRUE);
}

static void many_small_members_are_dropped_whole(void **state)
{
    (void)state;
    char *text = capture(emit_many);
    json_t *obj = one_line(text);
    assert_true(json_is_true(json_object_get(obj, "truncated")));
    assert_string_equal(json_string_value(json_object_get(obj, "event")), "test.many");
    json_decref(obj);
    g_free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_4k_line_is_cut_between_characters),
        cmocka_unit_test(a_short_line_is_unchanged),
        cmocka_unit_test(bad_fragments_still_give_json),
        cmocka_unit_test(many_small_members_are_dropped_whole),
    };
    log_set_service("test");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
