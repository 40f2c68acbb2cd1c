/* test_conversation.c - unit tests of conversation.c: the policy's "conversation" section is
 * checked at load (codes, stage rules) with the JSON path of the first problem, and its codes
 * answer hardship and catalogue questions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conversation.h"

/* Parses `text` as a conversation section; returns 0 or -1 with err. */
static int parse(const char *text, conv_rules_t *r, char *err, size_t errlen)
{
    json_t *obj = json_loads(text, 0, NULL);
    assert_non_null(obj);
    int rc = conv_rules_from_json(obj, r, err, errlen);
    json_decref(obj);
    return rc;
}

static void refused(const char *text, const char *want)
{
    conv_rules_t r;
    char err[256];

    assert_int_equal(parse(text, &r, err, sizeof(err)), -1);
    if (strstr(err, want) == NULL)
        fail_msg("error \"%s\" does not name \"%s\"", err, want);
    conv_rules_clear(&r);
}

static void test_bad_sections_are_refused(void **state)
{
    (void)state;
    refused("{\"objections\": {\"Bad-Code\": {}}}", "conversation.objections.Bad-Code");
    refused("{\"objections\": {\"x\": {\"hardship\": 1}}}", "conversation.objections.x.hardship");
    refused("{\"objections\": {\"x\": {\"weight\": 1}}}", "conversation.objections.x.weight");
    refused("{\"objections\": []}", "conversation.objections");
    refused("{\"hardship_prefixes\": [\"9x\"]}", "conversation.hardship_prefixes[0]");
    refused("{\"techniques\": [\"empathy\"]}", "conversation.techniques");
    refused("{\"techniques\": {\"empathy\": 1}}", "conversation.techniques.empathy");
    refused("{\"colour\": 1}", "conversation.colour");
    refused("{\"stages\": {\"reported\": \"lower\"}}", "conversation.stages.reported");
    refused("{\"stages\": {\"rules\": [{\"id\": \"a\", \"event\": \"invoice.overdue\", "
            "\"back_to\": \"none\"}]}}",
            "conversation.stages.rules[0].event");
    refused("{\"stages\": {\"rules\": [{\"id\": \"a\", \"objection\": \"unknown\", "
            "\"back_to\": \"none\"}]}}",
            "conversation.stages.rules[0].objection");
    refused("{\"stages\": {\"rules\": [{\"id\": \"a\", \"event\": \"debt.disputed\"}]}}",
            "exactly one of \"raise_to\" and \"back_to\"");
    refused("{\"stages\": {\"rules\": [{\"id\": \"a\", \"event\": \"debt.disputed\", "
            "\"back_to\": \"paid\"}]}}",
            "conversation.stages.rules[0].back_to");
    refused("{\"objections\": {\"x\": {}}, \"stages\": {\"rules\": [{\"id\": \"a\", \"event\": "
            "\"debt.disputed\", \"objection\": \"x\", \"back_to\": \"none\"}]}}",
            "exactly one of \"event\" and \"objection\"");
    refused("{\"stages\": {\"rules\": [{\"id\": \"a\", \"event\": \"debt.disputed\", "
            "\"back_to\": \"none\"}, {\"id\": \"a\", \"event\": \"plan.agreed\", "
            "\"raise_to\": \"accepted\"}]}}",
            "duplicate rule id");
}

static void test_codes(void **state)
{
    conv_rules_t r;
    char err[256];

    (void)state;
    assert_int_equal(parse("{\"objections\": {\"temporary_unemployment\": {\"hardship\": true}, "
                           "\"not_now\": {}}, \"hardship_prefixes\": [\"hardship_\"], "
                           "\"techniques\": {\"empathy\": {\"description\": \"d\"}}}",
                           &r, err, sizeof(err)),
                     0);
    assert_true(conv_is_hardship(&r, "temporary_unemployment"));
    assert_true(conv_is_hardship(&r, "hardship_medical"));
    assert_false(conv_is_hardship(&r, "not_now"));
    assert_false(conv_is_hardship(&r, "unemployed")); /* not in this catalogue */
    assert_false(conv_is_hardship(&r, NULL));
    assert_true(conv_objection_known(&r, "not_now"));
    assert_false(conv_objection_known(&r, "unemployed"));
    assert_true(conv_technique_known(&r, "empathy"));
    assert_false(conv_technique_known(&r, "shouting"));
    conv_rules_clear(&r);
    /* No section: the rules of policies written before it. */
    assert_int_equal(conv_rules_from_json(NULL, &r, err, sizeof(err)), 0);
    assert_false(r.defined);
    assert_true(conv_is_hardship(&r, "unemployed"));
    assert_true(conv_is_hardship(&r, "hardship_x"));
    assert_false(conv_is_hardship(&r, "temporary_unemployment"));
    assert_true(conv_technique_known(&r, "anything"));
    conv_rules_clear(&r);
    conv_rules_clear(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_sections_are_refused),
        cmocka_unit_test(test_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
