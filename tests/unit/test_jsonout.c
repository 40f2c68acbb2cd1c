/* test_jsonout.c - jsonout_dumps() writes what json_dumps(v, JSON_COMPACT) writes, byte for byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "jsonout.h"

/* Both writers on v: the same text, or both NULL. */
static void same_text(const json_t *v)
{
    char *want = json_dumps(v, JSON_COMPACT), *got = jsonout_dumps(v);

    if (want == NULL)
        assert_null(got);
    else {
        assert_non_null(got);
        assert_string_equal(got, want);
    }
    free(want);
    free(got);
}

static void same_as_jansson_on_fixed_documents(void **state)
{
    static const char *const docs[] = {
        "{}",
        "[]",
        "[[],{},[[]],{\"a\":{}}]",
        "{\"specversion\":\"1.0\",\"id\":\"t-1\",\"data\":{\"amount\":-12345,\"ok\":true,"
        "\"no\":false,\"none\":null,\"list\":[1,2,3]}}",
        "{\"q\":\"a \\\"quoted\\\" \\\\ "
        "back/slash\",\"c\":\"\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f\"}",
        "{\"\\u00e9t\\u00e9\":\"caf\\u00e9 \\u20ac \\ud83d\\ude00 \\u2028\"}",
        "{\"k\\n\":\"v\",\"z\":1,\"a\":2,\"m\":3}",
        "[9223372036854775807,-9223372036854775808,0,-1]",
        "[0.1,1e300,-0.0,3.0,1.5e-7,123456789.125,2.5,-1e-300]",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        json_error_t jerr;
        json_t *v = json_loads(docs[i], 0, &jerr);
        assert_non_null(v);
        same_text(v);
        json_decref(v);
    }
}

static void same_as_jansson_on_odd_strings(void **state)
{
    json_t *o = json_object();

    (void)state;
    json_object_set_new(o, "nul", json_stringn("a\0b", 3));
    json_object_setn_new(o, "k\0y", 3, json_integer(1));
    json_object_set_new(o, "empty", json_string(""));
    same_text(o);
    json_decref(o);

    /* Not UTF-8 (a lone continuation byte, an overlong form, a surrogate): both refuse. */
    static const char *const bad[] = {"a\x80", "\xC0\xAF", "\xED\xA0\x80", "\xF5\x80\x80\x80",
                                      "\xE2\x82"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *a = json_array();
        json_array_append_new(a, json_string_nocheck(bad[i]));
        same_text(a);
        json_decref(a);
    }
}

static void scalars_and_null_need_encode_any(void **state)
{
    json_t *s = json_string("x"), *n = json_integer(3);

    (void)state;
    assert_null(jsonout_dumps(NULL));
    same_text(s);
    same_text(n);
    same_text(json_null());
    json_decref(s);
    json_decref(n);
}

/* A random string from pieces that need every kind of treatment. */
static json_t *random_string(unsigned *seed)
{
    static const char *const pieces[] = {"a",
                                         "Z",
                                         "0",
                                         " ",
                                         "\"",
                                         "\\",
                                         "/",
                                         "\n",
                                         "\t",
                                         "\x01",
                                         "\x1f",
                                         "\x7f",
                                         "\xc3\xa9",
                                         "\xe2\x82\xac",
                                         "\xf0\x9f\x98\x80",
                                         "\xe2\x80\xa8",
                                         "key",
                                         "\b",
                                         "\f"};
    char buf[128] = "";
    int n = rand_r(seed) % 12;

    for (int i = 0; i < n; i++)
        strcat(buf, pieces[rand_r(seed) % (sizeof(pieces) / sizeof(pieces[0]))]);
    return json_string(buf);
}

static json_t *random_value(unsigned *seed, int depth)
{
    int kind = rand_r(seed) % (depth > 4 ? 6 : 8);

    switch (kind) {
    case 0:
        return json_integer((json_int_t)rand_r(seed) * (rand_r(seed) % 2 ? -7919 : 104729));
    case 1:
        return json_real((double)rand_r(seed) / ((rand_r(seed) % 1000) + 1));
    case 2:
        return random_string(seed);
    case 3:
        return json_true();
    case 4:
        return json_false();
    case 5:
        return json_null();
    case 6: {
        json_t *a = json_array();
        for (int i = rand_r(seed) % 5; i > 0; i--)
            json_array_append_new(a, random_value(seed, depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (int i = rand_r(seed) % 6; i > 0; i--) {
            json_t *k = random_string(seed);
            json_object_set_new(o, json_string_value(k), random_value(seed, depth + 1));
            json_decref(k);
        }
        return o;
    }
    }
}

static void same_as_jansson_on_random_trees(void **state)
{
    unsigned seed = 20261130;

    (void)state;
    for (int i = 0; i < 3000; i++) {
        json_t *a = json_array();
        json_array_append_new(a, random_value(&seed, 0));
        same_text(a);
        same_text(json_array_get(a, 0));
        json_decref(a);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_as_jansson_on_fixed_documents),
        cmocka_unit_test(same_as_jansson_on_odd_strings),
        cmocka_unit_test(scalars_and_null_need_encode_any),
        cmocka_unit_test(same_as_jansson_on_random_trees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
