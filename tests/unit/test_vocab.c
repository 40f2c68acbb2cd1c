/* test_vocab.c - unit tests for vocab.c: every name round-trips, CONTRACT.md's lists exactly,
 * unknown names and out-of-range values refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "vocab.h"

/* CONTRACT.md's lists, in the order of the enums. */
static const char *const actions[] = {
    "reminder",         "call",         "validation_notice", "invoice_copy", "plan_offer",
    "promise_reminder", "final_notice", "restrict_service",  "legal_review", "supervisor_review",
    "thank_you",        "skip_trace",   "restore_service"};
static const char *const channels[] = {"phone", "sms", "email", "letter", "visit", "internal"};
static const char *const stages[] = {"none", "recognized", "accepted", "amount_agreed",
                                     "date_agreed"};

/* Names that are none of the above: other case, spaces, prefixes, other lists' names. */
static const char *const strangers[] = {"",          "Call",       "call ", " call",
                                        "cal",       "calls",      "fax",   "SMS",
                                        "skiptrace", "high_value", "none_", "default"};

static void test_actions_round_trip(void **state)
{
    (void)state;
    assert_int_equal(VOCAB_ACTION_COUNT, sizeof(actions) / sizeof(actions[0]));
    for (int i = 0; i < VOCAB_ACTION_COUNT; i++) {
        vocab_action_t a = VOCAB_ACTION_COUNT;
        assert_string_equal(vocab_action_name((vocab_action_t)i), actions[i]);
        assert_int_equal(vocab_action_from_name(actions[i], &a), 0);
        assert_int_equal(a, i);
        assert_int_equal(vocab_action_from_name(vocab_action_name(a), &a), 0);
        assert_int_equal(a, i);
    }
}

static void test_channels_round_trip(void **state)
{
    (void)state;
    assert_int_equal(VOCAB_CHANNEL_COUNT, sizeof(channels) / sizeof(channels[0]));
    for (int i = 0; i < VOCAB_CHANNEL_COUNT; i++) {
        vocab_channel_t c = VOCAB_CHANNEL_COUNT;
        assert_string_equal(vocab_channel_name((vocab_channel_t)i), channels[i]);
        assert_int_equal(vocab_channel_from_name(channels[i], &c), 0);
        assert_int_equal(c, i);
    }
}

static void test_stages_round_trip(void **state)
{
    (void)state;
    assert_int_equal(VOCAB_STAGE_COUNT, sizeof(stages) / sizeof(stages[0]));
    for (int i = 0; i < VOCAB_STAGE_COUNT; i++) {
        vocab_stage_t s = VOCAB_STAGE_COUNT;
        assert_string_equal(vocab_stage_name((vocab_stage_t)i), stages[i]);
        assert_int_equal(vocab_stage_from_name(stages[i], &s), 0);
        assert_int_equal(s, i);
    }
    /* The order is the negotiation's. */
    assert_true(VOCAB_STAGE_NONE < VOCAB_STAGE_RECOGNIZED);
    assert_true(VOCAB_STAGE_AMOUNT_AGREED < VOCAB_STAGE_DATE_AGREED);
}

static void test_unknown_names_refused(void **state)
{
    vocab_action_t a = VOCAB_ACTION_LEGAL_REVIEW;
    vocab_channel_t c = VOCAB_CHANNEL_VISIT;
    vocab_stage_t s = VOCAB_STAGE_ACCEPTED;

    (void)state;
    for (size_t i = 0; i < sizeof(strangers) / sizeof(strangers[0]); i++) {
        assert_int_equal(vocab_action_from_name(strangers[i], &a), -1);
        assert_int_equal(vocab_channel_from_name(strangers[i], &c), -1);
        assert_int_equal(vocab_stage_from_name(strangers[i], &s), -1);
    }
    assert_int_equal(vocab_action_from_name(NULL, &a), -1);
    assert_int_equal(vocab_channel_from_name(NULL, &c), -1);
    assert_int_equal(vocab_stage_from_name(NULL, &s), -1);
    /* A name of one list is not a name of another. */
    assert_int_equal(vocab_action_from_name("phone", &a), -1);
    assert_int_equal(vocab_channel_from_name("call", &c), -1);
    assert_int_equal(vocab_stage_from_name("reminder", &s), -1);
    /* *out untouched on refusal. */
    assert_int_equal(a, VOCAB_ACTION_LEGAL_REVIEW);
    assert_int_equal(c, VOCAB_CHANNEL_VISIT);
    assert_int_equal(s, VOCAB_STAGE_ACCEPTED);
}

static void test_out_of_range_values(void **state)
{
    (void)state;
    assert_null(vocab_action_name(VOCAB_ACTION_COUNT));
    assert_null(vocab_action_name((vocab_action_t)-1));
    assert_null(vocab_channel_name(VOCAB_CHANNEL_COUNT));
    assert_null(vocab_channel_name((vocab_channel_t)42));
    assert_null(vocab_stage_name(VOCAB_STAGE_COUNT));
    assert_null(vocab_stage_name((vocab_stage_t)-1));
}

static void test_collection_actions(void **state)
{
    static const vocab_action_t pressing[] = {
        VOCAB_ACTION_REMINDER,         VOCAB_ACTION_CALL,         VOCAB_ACTION_PLAN_OFFER,
        VOCAB_ACTION_PROMISE_REMINDER, VOCAB_ACTION_FINAL_NOTICE, VOCAB_ACTION_RESTRICT_SERVICE,
        VOCAB_ACTION_LEGAL_REVIEW};
    int n = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(pressing) / sizeof(pressing[0]); i++)
        assert_true(vocab_action_is_collection(pressing[i]));
    for (int i = 0; i < VOCAB_ACTION_COUNT; i++)
        n += vocab_action_is_collection((vocab_action_t)i);
    assert_int_equal(n, (int)(sizeof(pressing) / sizeof(pressing[0])));
    assert_false(vocab_action_is_collection(VOCAB_ACTION_VALIDATION_NOTICE));
    assert_false(vocab_action_is_collection(VOCAB_ACTION_SUPERVISOR_REVIEW));
    assert_false(vocab_action_is_collection(VOCAB_ACTION_COUNT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_actions_round_trip),  cmocka_unit_test(test_channels_round_trip),
        cmocka_unit_test(test_stages_round_trip),   cmocka_unit_test(test_unknown_names_refused),
        cmocka_unit_test(test_out_of_range_values), cmocka_unit_test(test_collection_actions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
