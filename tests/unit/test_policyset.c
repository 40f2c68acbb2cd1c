/* test_policyset.c - unit tests of policyset.c: the default policy and the creditors' own,
 * which one a creditor's cases are planned under, one copy per version, refused arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policyset.h"

/* The default policy of the source tree, renamed and renumbered. */
static policy_t *load(int version, const char *name)
{
    const char *src = getenv("RECOBRO_SOURCE_DIR");
    char path[4096], err[POLICY_ERR_MAX];

    snprintf(path, sizeof(path), "%s/deploy/policy/default.json", src ? src : ".");
    json_t *doc = json_load_file(path, 0, NULL);
    assert_non_null(doc);
    json_object_set_new(doc, "version", json_integer(version));
    json_object_set_new(doc, "name", json_string(name));
    char *text = json_dumps(doc, 0);
    json_decref(doc);
    policy_t *p = policy_parse(text, err, sizeof(err));
    free(text);
    assert_non_null(p);
    return p;
}

static void test_own_policy_else_default(void **state)
{
    (void)state;
    policyset_t *set = policyset_new();
    assert_null(policyset_for(set, "acme")); /* nothing loaded: no policy at all */
    assert_int_equal(policyset_add(set, "acme", load(2, "es")), 0);
    assert_null(policyset_for(set, "other")); /* no default yet */
    assert_int_equal(policyset_add(set, NULL, load(1, "default")), 0);
    assert_int_equal(policyset_add(set, "zeta", load(3, "z")), 0);
    assert_int_equal(policyset_add(set, "beta", load(4, "b")), 0);
    assert_int_equal(policyset_for(set, "acme")->version, 2);
    assert_int_equal(policyset_for(set, "beta")->version, 4);
    assert_int_equal(policyset_for(set, "zeta")->version, 3);
    assert_int_equal(policyset_for(set, "other")->version, 1);
    assert_int_equal(policyset_for(set, "acm")->version, 1); /* a prefix is another creditor */
    assert_int_equal(policyset_for(set, NULL)->version, 1);
    assert_null(policyset_own(set, "other"));
    assert_string_equal(policyset_own(set, "acme")->name, "es");
    /* A later policy for a creditor replaces its earlier one. */
    assert_int_equal(policyset_add(set, "acme", load(5, "es2")), 0);
    assert_int_equal(policyset_for(set, "acme")->version, 5);
    assert_int_equal(set->n_creditors, 3);
    policyset_free(set);
}

static void test_one_copy_per_version(void **state)
{
    (void)state;
    policyset_t *set = policyset_new();
    assert_int_equal(policyset_add(set, NULL, load(1, "default")), 0);
    assert_int_equal(policyset_add(set, "a", load(2, "es")), 0);
    assert_int_equal(policyset_add(set, "b", load(2, "es")), 0);
    assert_int_equal(policyset_use(set, "c", 2), 0);
    assert_int_equal(policyset_use(set, "d", 9), -1); /* not held: add it first */
    assert_int_equal(set->n_policies, 2);
    assert_ptr_equal(policyset_for(set, "a"), policyset_for(set, "b"));
    assert_ptr_equal(policyset_for(set, "a"), policyset_for(set, "c"));
    assert_int_equal(policyset_use(set, NULL, 2), 0); /* the default may be any held version */
    assert_int_equal(policyset_for(set, "x")->version, 2);
    policyset_free(set);
}

static void test_bad_arguments(void **state)
{
    char longid[80];
    (void)state;
    memset(longid, 'x', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    policyset_t *set = policyset_new();
    assert_int_equal(policyset_add(set, "", load(1, "d")), -1);
    assert_int_equal(policyset_add(set, longid, load(1, "d")), -1);
    assert_int_equal(policyset_add(set, "a", NULL), -1);
    assert_int_equal(policyset_add(NULL, "a", load(1, "d")), -1); /* freed, not leaked */
    assert_int_equal(policyset_use(set, "", 1), -1);
    assert_int_equal(set->n_creditors, 0);
    assert_null(policyset_for(NULL, "a"));
    policyset_free(set);
    policyset_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_own_policy_else_default),
        cmocka_unit_test(test_one_copy_per_version),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
