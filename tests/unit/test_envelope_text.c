/* test_envelope_text.c - a case output's envelope written as text is the dump of its tree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cloudevent.h"

/* The text path against json_dumps() of ce_case_output_new(): equal, or NULL where the tree
 * would drop a member (`drops`). */
static void check(const char *id, const char *source, const char *creditor, const char *debtor,
                  json_t *data, int64_t at, int drops)
{
    json_t *tree = ce_case_output_new(id, source, "task.created", at, creditor, debtor, data);
    char *want = json_dumps(tree, JSON_COMPACT);
    size_t len = 0;
    char *got = ce_case_output_text(id, source, "task.created", at, creditor, debtor, data, &len);

    if (drops) {
        assert_null(got);
    } else {
        assert_non_null(got);
        assert_string_equal(got, want);
        assert_int_equal(len, strlen(want));
    }
    free(want);
    free(got);
    json_decref(tree);
}

static void same_text_as_the_tree(void **state)
{
    json_t *data = json_loads("{\"task_id\":\"t-1\",\"amount\":\"12.30\",\"priority\":3,"
                              "\"note\":\"caf\\u00e9 \\\"q\\\" \\n\",\"invoices\":[{\"id\":\"I\"}],"
                              "\"promise\":null,\"high_value\":false}",
                              0, NULL);

    (void)state;
    check("0b9e-uuid", "recobro/overdue", "acme", "D-1", data, 1795165200, 0);
    check("id\t\"x\"", "recobro/payments", "acme \\ co", "D/2\x01", data, -86400 * 400, 0);
    json_t *empty = json_object();
    check("x", "recobro/interactions", "c", "d", empty, 0, 0);
    json_decref(empty);
    json_decref(data);
}

static void a_member_the_tree_would_drop_gives_null(void **state)
{
    json_t *data = json_object();
    char longid[700];

    (void)state;
    check(NULL, "recobro/overdue", "acme", "D-1", data, 0, 1);
    check("x", "recobro/overdue", "acme", "D-\xC3", data, 0, 1); /* not UTF-8 */
    check("x", "recobro/overdue", "acme", "D-1", NULL, 0, 1);
    /* A subject cut at 511 bytes inside a two-byte character: not UTF-8, dropped by the tree. */
    memset(longid, 'a', sizeof(longid));
    longid[sizeof(longid) - 1] = '\0';
    for (size_t i = 500; i < 520; i += 2)
        memcpy(longid + i, "\xC3\xA9", 2);
    check("x", "recobro/overdue", "c", longid, data, 0, 1);
    json_decref(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_text_as_the_tree),
        cmocka_unit_test(a_member_the_tree_would_drop_gives_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
