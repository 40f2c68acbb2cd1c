/* test_policy.c - unit tests for policy.c, segment.c and strategy.c: the default policy, refused
 * policies with their exact messages, variant assignment, ladders, negotiation limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <cmocka.h>

#include <jansson.h>

#include "money.h"
#include "policy.h"
#include "segment.h"
#include "strategy.h"

static char default_path[4096];

static const char *source_dir(void)
{
    const char *s = getenv("RECOBRO_SOURCE_DIR");
    return s != NULL ? s : ".";
}

static policy_t *load_default(void)
{
    char err[POLICY_ERR_MAX] = "";
    policy_t *p = policy_load_file(default_path, err, sizeof(err));

    if (p == NULL)
        fail_msg("default policy refused: %s", err);
    return p;
}

/* ---- The default policy --------------------------------------------------------------------- */

static void test_default_policy_loads(void **state)
{
    policy_t *p = load_default();
    const policy_rule_t *last;

    (void)state;
    assert_int_equal(p->version, 1);
    assert_string_equal(p->name, "default");
    assert_int_equal(p->nrules, 16);
    last = &p->rules[p->nrules - 1];
    assert_true(last->is_default);
    assert_int_equal(last->nconds, 0);
    assert_string_equal(p->rules[0].id, "resolved.zero_balance");
    assert_int_equal(p->rules[0].segment, SEGMENT_RESOLVED);
    assert_string_equal(p->rules[1].id, "disputed.open_dispute");
    assert_int_equal(p->rules[1].segment, SEGMENT_DISPUTED);
    for (int s = 0; s < SEGMENT_COUNT; s++)
        assert_non_null(policy_strategy_for(p, (segment_id_t)s));

    /* The champion/challenger pair. */
    const strategy_t *fg = policy_strategy_for(p, SEGMENT_FORGETFUL);
    assert_int_equal(fg->nvariants, 2);
    assert_string_equal(fg->variants[0].name, "champion");
    assert_int_equal(fg->variants[0].weight, 80);
    assert_string_equal(fg->variants[1].name, "challenger");
    assert_int_equal(fg->variants[1].weight, 20);
    assert_int_equal(fg->total_weight, 100);
    assert_int_equal(fg->variants[0].steps[0].channel, VOCAB_CHANNEL_SMS);
    assert_int_equal(fg->variants[1].steps[0].channel, VOCAB_CHANNEL_EMAIL);

    /* No ladder starts with a call; the disputed one holds documentation only. */
    for (int s = 0; s < SEGMENT_COUNT; s++) {
        const strategy_t *st = policy_strategy_for(p, (segment_id_t)s);
        for (size_t v = 0; v < st->nvariants; v++)
            assert_int_not_equal(st->variants[v].steps[0].action, VOCAB_ACTION_CALL);
    }
    const strategy_t *ds = policy_strategy_for(p, SEGMENT_DISPUTED);
    for (size_t i = 0; i < ds->variants[0].nsteps; i++)
        assert_false(vocab_action_is_collection(ds->variants[0].steps[i].action));

    /* Overlay, promises, plans, contact rules (Regulation F defaults). */
    assert_true(p->high_value.enabled);
    assert_int_equal(p->high_value.priority, 1);
    assert_true(p->high_value.senior_agent);
    assert_int_equal(p->promise_grace_days, 3);
    assert_int_equal(p->plan_default_missed_installments, 2);
    for (int d = 0; d < 7; d++) {
        assert_true(p->contact.weekday[d].open);
        assert_int_equal(p->contact.weekday[d].start_min, 8 * 60);
        assert_int_equal(p->contact.weekday[d].end_min, 21 * 60);
    }
    assert_int_equal(p->contact.call_cap_max, 7);
    assert_int_equal(p->contact.call_cap_days, 7);
    assert_int_equal(p->contact.quiet_days_after_rpc, 7);
    policy_free(p);
}

/* Every policy shipped in deploy/policy/ loads. */
static void test_every_deployed_policy_loads(void **state)
{
    char dir[4096], path[8192], err[POLICY_ERR_MAX];
    struct dirent *e;
    int n = 0;
    DIR *d;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/deploy/policy", source_dir());
    d = opendir(dir);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        policy_t *p = policy_load_file(path, err, sizeof(err));
        if (p == NULL)
            fail_msg("%s", err);
        policy_free(p);
        n++;
    }
    closedir(d);
    assert_true(n >= 1);
}

static void test_load_file_errors(void **state)
{
    char err[POLICY_ERR_MAX];

    (void)state;
    assert_null(policy_load_file("/nonexistent/policy.json", err, sizeof(err)));
    assert_string_equal(err, "/nonexistent/policy.json: No such file or directory");
    assert_null(policy_load_file(NULL, err, sizeof(err)));
    assert_null(policy_parse(NULL, NULL, 0)); /* err may be NULL */
    assert_null(policy_parse("{", err, sizeof(err)));
    assert_memory_equal(err, "line 1, column 1: ", 18);
    assert_null(policy_parse("[]", err, sizeof(err)));
    assert_string_equal(err, "(root): a policy must be a JSON object");
    assert_null(policy_parse("{\"version\": 1, \"version\": 2}", err, sizeof(err)));
    assert_non_null(strstr(err, "duplicate object key"));
    policy_free(NULL);
}

/* ---- Refused policies ----------------------------------------------------------------------- */

/* One change to the default policy and the exact message it must produce. `path` is a
 * '/'-separated path into the document (array indexes as numbers; an index equal to the array's
 * size appends); `value` is JSON text, or NULL to delete. */
typedef struct broken {
    const char *path;
    const char *value;
    const char *message; /* exact, or a prefix when `prefix` is set */
    bool prefix;
} broken_t;

static const broken_t broken_policies[] = {
    {"strategies/evasive/steps/2/channel", "\"fax\"",
     "strategies.evasive.steps[2].channel: unknown channel \"fax\"", false},
    {"strategies/chronic/steps/3/action", "\"sue\"",
     "strategies.chronic.steps[3].action: unknown action \"sue\"", false},
    {"strategies/evasive/steps/3/day", "3",
     "strategies.evasive.steps[3].day: 3 is before the previous step's day 14", false},
    {"strategies/forgetful/variants/1/weight", "0",
     "strategies.forgetful.variants[1].weight: must be an integer from 1 to 1000000", false},
    {"strategies/forgetful/variants/0/weight", "-5",
     "strategies.forgetful.variants[0].weight: must be an integer from 1 to 1000000", false},
    {"strategies/forgetful/variants/1/name", "\"champion\"",
     "strategies.forgetful.variants[1].name: duplicate variant \"champion\"", false},
    {"segmentation/rules/15", NULL,
     "segmentation.rules: the last rule must be the default: {\"id\": ..., \"segment\": ..., "
     "\"default\": true}",
     false},
    {"segmentation/rules/3/default", "true",
     "segmentation.rules[3]: only the last rule may be the default (rules after it could never "
     "match)",
     false},
    {"segmentation/rules/4/id", "\"chronic.repeat_breaker\"",
     "segmentation.rules[4].id: duplicate rule id \"chronic.repeat_breaker\" (also rules[2])",
     false},
    {"segmentation/rules/1/segment", "\"vip\"",
     "segmentation.rules[1].segment: unknown segment \"vip\" (unaware, forgetful, "
     "willing_unable, evasive, chronic, disputed, resolved)",
     false},
    {"segmentation/rules/1/segment", "\"high_value\"",
     "segmentation.rules[1].segment: \"high_value\" is an overlay (segmentation.high_value), not "
     "a segment",
     false},
    {"strategies/chronic", NULL,
     "segmentation.rules[2].segment: no strategy for segment \"chronic\"", false},
    {"strategies/vip", "{\"steps\": []}",
     "strategies.vip: unknown segment \"vip\" (unaware, forgetful, willing_unable, evasive, "
     "chronic, disputed, resolved)",
     false},
    {"segmentation/rules/2/when/promises_brokn", "3",
     "segmentation.rules[2].when.promises_brokn: unknown feature", false},
    {"segmentation/rules/2/when/days_past_due", "{\"ge\": 91}",
     "segmentation.rules[2].when.days_past_due: unknown operator \"ge\" (eq, ne, lt, lte, gt, "
     "gte)",
     false},
    {"segmentation/rules/2/when/days_past_due", "{\"gte\": \"91\"}",
     "segmentation.rules[2].when.days_past_due.gte: must be an integer", false},
    {"segmentation/rules/1/when/open_dispute", "{\"gte\": true}",
     "segmentation.rules[1].when.open_dispute.gte: a boolean feature takes only eq or ne", false},
    {"segmentation/rules/0/when/balance", "{\"lte\": \"0.50\"}",
     "segmentation.rules[0].when.balance.lte: must be a whole amount as a decimal string, e.g. "
     "\"5000\"",
     false},
    {"segmentation/rules/3/when", "{}", "segmentation.rules[3].when: needs at least one condition",
     false},
    {"segmentation/rules/3/when", NULL,
     "segmentation.rules[3]: missing \"when\" (only the last rule, the default, has none)", false},
    {"segmentation/high_value/threshold/JPY", "\"7500.5\"",
     "segmentation.high_value.threshold.JPY: \"7500.5\": more decimals than the currency allows",
     false},
    {"segmentation/high_value/threshold/XYZ", "\"1\"",
     "segmentation.high_value.threshold.XYZ: unknown currency \"XYZ\"", false},
    {"segmentation/high_value/threshold/default", "\"5000.00\"",
     "segmentation.high_value.threshold.default: must be a whole amount as a decimal string, "
     "e.g. \"5000\"",
     false},
    {"negotiation/limits/evasive/max_installments", "-1",
     "negotiation.limits.evasive.max_installments: -1 is out of range 0..360", false},
    {"negotiation/limits/chronic/max_settlement_discount_pct", "150",
     "negotiation.limits.chronic.max_settlement_discount_pct: 150 is out of range 0..100", false},
    {"negotiation/limits/default/min_installment", "\"-25\"",
     "negotiation.limits.default.min_installment: \"-25\" is not a whole amount; write "
     "\"5000\", or give amounts by currency {\"EUR\": \"49.50\"}",
     false},
    {"negotiation/limits/default/max_plan_days", NULL,
     "negotiation.limits.default: missing \"max_plan_days\"", false},
    {"negotiation/limits/chronic/max_instalments", "3",
     "negotiation.limits.chronic.max_instalments: unknown key", false},
    {"negotiation/limits/vip", "{}",
     "negotiation.limits.vip: unknown segment \"vip\" (unaware, forgetful, willing_unable, "
     "evasive, chronic, disputed, resolved)",
     false},
    {"negotiation/promise_grace_days", "-3",
     "negotiation.promise_grace_days: -3 is out of range 0..60", false},
    {"strategies/disputed/steps/2",
     "{\"day\": 30, \"action\": \"call\", \"channel\": \"phone\", \"template\": \"disputed.call\", "
     "\"priority\": 3}",
     "strategies.disputed.steps[2].action: \"call\" is not allowed while a dispute is open "
     "(contact.dispute_exempt_actions)",
     false},
    {"strategies/resolved/steps/1",
     "{\"day\": 3, \"action\": \"reminder\", \"channel\": \"email\", \"template\": \"resolved.x\", "
     "\"priority\": 5}",
     "strategies.resolved.steps[1].action: \"reminder\" presses for payment; a resolved case "
     "gets none",
     false},
    {"strategies/evasive/steps/0",
     "{\"day\": 0, \"action\": \"call\", \"channel\": \"phone\", \"template\": \"evasive.x\", "
     "\"priority\": 2}",
     "strategies.evasive.steps[0].action: the first step must not be a call (a first contact "
     "identifies the creditor in writing)",
     false},
    {"strategies/chronic/steps/3/channel", "\"email\"",
     "strategies.chronic.steps[3].channel: action \"legal_review\" cannot go by \"email\"", false},
    {"strategies/unaware/steps/0/priority", "0",
     "strategies.unaware.steps[0].priority: 0 is out of range 1..5", false},
    {"strategies/unaware/steps/1/template", "\"Unaware Invoice\"",
     "strategies.unaware.steps[1].template: \"Unaware Invoice\" is not a template name "
     "([a-z0-9_.-]{1,64})",
     false},
    {"strategies/unaware/steps/1/priority", NULL,
     "strategies.unaware.steps[1]: missing \"priority\"", false},
    {"strategies/unaware/repeat_every_days", "0",
     "strategies.unaware.repeat_every_days: 0 is out of range 1..3650", false},
    {"version", "0", "version: 0 is out of range 1..2147483647", false},
    {"version", "\"1\"", "version: must be an integer", false},
    {"name", NULL, "(root): missing \"name\"", false},
    {"negotiation", NULL, "(root): missing \"negotiation\"", false},
    {"strategy", "{}", "strategy: unknown key", false},
    /* The contact section is contact.c's to judge: only its path is ours to check. */
    {"contact/window/start", "\"25:00\"", "contact.window.start: ", true},
};

/* Applies one change to `doc` (see broken_t). */
static void mutate(json_t *doc, const char *path, const char *value)
{
    char buf[256], *save = NULL, *tok, *next;
    json_t *cur = doc;

    snprintf(buf, sizeof(buf), "%s", path);
    tok = strtok_r(buf, "/", &save);
    while (tok != NULL) {
        next = strtok_r(NULL, "/", &save);
        bool is_index = json_is_array(cur);
        size_t idx = is_index ? strtoul(tok, NULL, 10) : 0;

        if (next == NULL) {
            json_t *v = NULL;
            if (value != NULL) {
                json_error_t jerr;
                v = json_loads(value, JSON_DECODE_ANY, &jerr);
                assert_non_null(v);
            }
            if (is_index) {
                if (v == NULL)
                    assert_int_equal(json_array_remove(cur, idx), 0);
                else if (idx == json_array_size(cur))
                    assert_int_equal(json_array_append_new(cur, v), 0);
                else
                    assert_int_equal(json_array_set_new(cur, idx, v), 0);
            } else {
                if (v == NULL)
                    assert_int_equal(json_object_del(cur, tok), 0);
                else
                    assert_int_equal(json_object_set_new(cur, tok, v), 0);
            }
            return;
        }
        cur = is_index ? json_array_get(cur, idx) : json_object_get(cur, tok);
        assert_non_null(cur);
        tok = next;
    }
}

static void test_broken_policies(void **state)
{
    json_error_t jerr;
    json_t *base = json_load_file(default_path, 0, &jerr);
    size_t n = sizeof(broken_policies) / sizeof(broken_policies[0]);

    (void)state;
    assert_non_null(base);
    assert_true(n >= 10);
    for (size_t i = 0; i < n; i++) {
        const broken_t *b = &broken_policies[i];
        json_t *doc = json_deep_copy(base);
        char err[POLICY_ERR_MAX] = "", *text;
        policy_t *p;

        mutate(doc, b->path, b->value);
        text = json_dumps(doc, 0);
        p = policy_parse(text, err, sizeof(err));
        free(text);
        json_decref(doc);
        if (p != NULL) {
            policy_free(p);
            fail_msg("case %zu (%s): the policy was accepted", i, b->path);
        }
        if (b->prefix ? strncmp(err, b->message, strlen(b->message)) != 0
                      : strcmp(err, b->message) != 0)
            fail_msg("case %zu (%s):\n  expected: %s\n  got:      %s", i, b->path, b->message, err);
    }
    json_decref(base);
}

/* ---- Names, hashing, variants --------------------------------------------------------------- */

static void test_names(void **state)
{
    /* Action, channel and stage names are vocab.c's: tests/unit/test_vocab.c. */
    segment_id_t seg;

    (void)state;
    assert_int_equal(segment_from_name("willing_unable", &seg), 0);
    assert_int_equal(seg, SEGMENT_WILLING_UNABLE);
    assert_int_equal(segment_from_name("high_value", &seg), -1);
    assert_null(segment_name(SEGMENT_COUNT));
    assert_non_null(segment_feature_find("attempts_without_answer"));
    assert_null(segment_feature_find("nope"));
    for (size_t i = 0; i < segment_feature_count(); i++)
        assert_ptr_equal(segment_feature_find(segment_feature_at(i)->name), segment_feature_at(i));
    assert_true(segment_amount_is_whole("0"));
    assert_true(segment_amount_is_whole("922337203685477"));
    assert_false(segment_amount_is_whole("922337203685478"));
    assert_false(segment_amount_is_whole("05"));
    assert_false(segment_amount_is_whole("5.0"));
    assert_false(segment_amount_is_whole(""));
    assert_false(segment_amount_is_whole(NULL));
}

static void test_hash_is_fnv1a(void **state)
{
    (void)state;
    /* Reference values computed independently (Python) over "acme\x1fD-1001\x1fforgetful". */
    assert_true(strategy_hash("acme", "D-1001", "forgetful") == UINT64_C(12425408134860450970));
    assert_true(strategy_hash("acme", "D-1014", "forgetful") % 100 == 88);
    /* The separator keeps neighbouring ids apart. */
    assert_true(strategy_hash("ab", "c", "s") != strategy_hash("a", "bc", "s"));
    assert_true(strategy_hash(NULL, NULL, NULL) == strategy_hash("", "", ""));
}

static void test_variant_split_follows_weights(void **state)
{
    policy_t *p = load_default();
    const strategy_t *fg = policy_strategy_for(p, SEGMENT_FORGETFUL);
    int counts[2] = {0, 0};
    char debtor[32];

    (void)state;
    for (int i = 0; i < 10000; i++) {
        size_t idx = 99, again = 99;
        snprintf(debtor, sizeof(debtor), "D-%d", i);
        assert_non_null(strategy_pick_variant(fg, "acme", debtor, &idx));
        assert_non_null(strategy_pick_variant(fg, "acme", debtor, &again));
        assert_int_equal(idx, again); /* stable */
        counts[idx]++;
    }
    /* 80/20 within a generous margin: the hash spreads ids evenly. */
    assert_in_range(counts[0], 7700, 8300);
    assert_in_range(counts[1], 1700, 2300);
    assert_null(strategy_pick_variant(NULL, "a", "b", NULL));
    policy_free(p);
}

/* ---- Segmentation and ladders through the API ----------------------------------------------- */

static void test_evaluate_and_next_step(void **state)
{
    policy_t *p = load_default();
    segment_features_t f = SEGMENT_FEATURES_INIT;
    segment_result_t r;
    strategy_next_t n;

    (void)state;
    memcpy(f.currency, "EUR", 4);
    f.balance = 42000;
    f.days_past_due = 53;
    f.ever_contacted = true;
    f.promises_broken = 2;
    assert_int_equal(policy_segment(p, &f, "acme", "D-1001", &r), SEGMENT_OK);
    assert_int_equal(r.segment, SEGMENT_EVASIVE);
    assert_string_equal(r.rule_id, "evasive.broken_promises");
    assert_string_equal(r.strategy, "evasive");
    assert_string_equal(r.variant, "champion");
    assert_int_equal(r.policy_version, 1);
    assert_false(r.high_value);

    assert_int_equal(strategy_next_step(policy_strategy_for(p, r.segment), &r, 7, 1, &n),
                     STRATEGY_STEP);
    assert_int_equal(n.step, 2);
    assert_int_equal(n.day, 7);
    assert_true(n.due);
    assert_int_equal(n.action, VOCAB_ACTION_CALL);
    assert_int_equal(n.channel, VOCAB_CHANNEL_PHONE);
    assert_string_equal(n.template_name, "evasive.firm_call");
    assert_int_equal(n.priority, 2);
    assert_string_equal(n.reason, "segment evasive, step 2 (day 7)");

    /* Ladder walk: every step's day is non-decreasing, repeats come every 14 days after 52. */
    int prev = -1;
    for (int done = 0; done < 12; done++) {
        assert_int_equal(strategy_next_step(policy_strategy_for(p, r.segment), &r, 0, done, &n),
                         STRATEGY_STEP);
        assert_int_equal(n.step, done + 1);
        assert_true(n.day >= prev);
        prev = n.day;
    }
    assert_int_equal(n.day, 52 + 5 * 14);
    assert_true(n.repeat);

    /* Errors: bad arguments, a result from another policy. */
    assert_int_equal(strategy_next_step(policy_strategy_for(p, r.segment), &r, 0, -1, &n),
                     STRATEGY_ERR_ARG);
    assert_int_equal(strategy_next_step(NULL, &r, 0, 0, &n), STRATEGY_ERR_ARG);
    segment_result_t forged = r;
    forged.variant_index = 5;
    assert_int_equal(strategy_next_step(policy_strategy_for(p, forged.segment), &forged, 0, 0, &n),
                     STRATEGY_ERR_ARG);
    /* The strategy of another segment than the result's. */
    assert_int_equal(strategy_next_step(policy_strategy_for(p, SEGMENT_UNAWARE), &r, 0, 0, &n),
                     STRATEGY_ERR_ARG);
    assert_int_equal(policy_segment(p, NULL, "a", "b", &r), SEGMENT_ERR_ARG);

    /* An unknown currency cannot be compared with the policy's amounts. */
    memcpy(f.currency, "XXX", 4);
    assert_int_equal(policy_segment(p, &f, "acme", "D-1001", &r), SEGMENT_ERR_CURRENCY);
    policy_free(p);
}

static void test_features_from_json(void **state)
{
    segment_features_t f;
    char err[POLICY_ERR_MAX];
    json_t *j;

    (void)state;
    j = json_pack("{s:s, s:s, s:i, s:b, s:s}", "currency", "EUR", "balance", "120.50",
                  "days_past_due", 40, "open_dispute", 1, "stage", "date_agreed");
    assert_int_equal(segment_features_from_json(j, &f, err, sizeof(err)), 0);
    assert_true(f.balance == 12050);
    assert_string_equal(f.currency, "EUR");
    assert_int_equal(f.days_past_due, 40);
    assert_true(f.open_dispute);
    assert_int_equal(f.stage, VOCAB_STAGE_DATE_AGREED);
    json_decref(j);

    j = json_pack("{s:s, s:s}", "currency", "EUR", "balance", "1.234");
    assert_int_equal(segment_features_from_json(j, &f, err, sizeof(err)), -1);
    assert_string_equal(err, "balance: \"1.234\": more decimals than the currency allows");
    json_decref(j);
    j = json_pack("{s:i}", "days_pastdue", 3);
    assert_int_equal(segment_features_from_json(j, &f, err, sizeof(err)), -1);
    assert_string_equal(err, "days_pastdue: unknown feature");
    json_decref(j);
}

/* ---- Negotiation limits --------------------------------------------------------------------- */

#define EUR(major) ((int64_t)(major)*100)

static void test_limits_for(void **state)
{
    policy_t *p = load_default();
    const policy_limits_t *l;
    int64_t min;

    (void)state;
    l = policy_limits_for(p, SEGMENT_WILLING_UNABLE);
    assert_int_equal(l->max_installments, 12);
    assert_int_equal(l->max_plan_days, 365);
    assert_int_equal(l->min_down_payment_pct, 5);
    assert_int_equal(l->max_settlement_discount_pct, 10);
    assert_int_equal(l->max_promise_days, 30); /* inherited */
    assert_int_equal(policy_amount_in(&l->min_installment, "EUR", &min), 0);
    assert_true(min == EUR(20));
    assert_int_equal(policy_amount_in(&l->min_installment, "JPY", &min), 0);
    assert_true(min == 2500);
    assert_int_equal(policy_amount_in(&l->min_installment, "KWD", &min), 0);
    assert_true(min == 20000); /* "20" in a three-decimal currency */

    l = policy_limits_for(p, SEGMENT_EVASIVE);
    assert_int_equal(l->max_installments, 4);
    assert_int_equal(l->max_promise_days, 7);
    assert_int_equal(l->min_down_payment_pct, 20);
    assert_int_equal(policy_amount_in(&l->min_installment, "EUR", &min), 0);
    assert_true(min == EUR(25)); /* inherited from the default */

    l = policy_limits_for(p, SEGMENT_UNAWARE);
    assert_int_equal(l->max_installments, 6);
    assert_false(l->supervisor_only);
    assert_true(policy_limits_for(p, SEGMENT_DISPUTED)->supervisor_only);
    assert_null(policy_limits_for(p, SEGMENT_COUNT));
    assert_null(policy_limits_for(NULL, SEGMENT_EVASIVE));
    assert_int_equal(policy_amount_in(&l->min_installment, "ABC", &min), -1);
    policy_free(p);
}

static void expect_promise(const policy_t *p, segment_id_t seg, int64_t balance, int64_t amount,
                           int32_t today, int32_t due, policy_limit_t want)
{
    policy_check_t c;

    assert_int_equal(policy_check_promise(p, seg, "EUR", balance, amount, today, due, &c), 0);
    if (c.limit != want)
        fail_msg("promise %lld on %d: expected %s, got %s (%s)", (long long)amount, (int)due,
                 policy_limit_name(want), policy_limit_name(c.limit), c.detail);
}

static void test_check_promise(void **state)
{
    policy_t *p = load_default();
    const int32_t today = 20782; /* 2026-11-25 as days since 1970-01-01 */
    policy_check_t c;

    (void)state;
    expect_promise(p, SEGMENT_FORGETFUL, EUR(420), EUR(420), today, today + 30, POLICY_LIMIT_OK);
    expect_promise(p, SEGMENT_FORGETFUL, EUR(420), EUR(100), today, today, POLICY_LIMIT_OK);
    expect_promise(p, SEGMENT_FORGETFUL, EUR(420), EUR(420), today, today + 31,
                   POLICY_LIMIT_MAX_PROMISE_DAYS);
    expect_promise(p, SEGMENT_EVASIVE, EUR(420), EUR(420), today, today + 7, POLICY_LIMIT_OK);
    expect_promise(p, SEGMENT_EVASIVE, EUR(420), EUR(420), today, today + 8,
                   POLICY_LIMIT_MAX_PROMISE_DAYS);
    expect_promise(p, SEGMENT_FORGETFUL, EUR(420), EUR(421), today, today + 1,
                   POLICY_LIMIT_EXCEEDS_BALANCE);
    expect_promise(p, SEGMENT_FORGETFUL, EUR(420), 0, today, today + 1,
                   POLICY_LIMIT_INVALID_AMOUNT);
    expect_promise(p, SEGMENT_FORGETFUL, EUR(420), EUR(100), today, today - 1,
                   POLICY_LIMIT_INVALID_DATE);
    /* A partial promise below the minimum instalment; paying the whole small balance is fine. */
    expect_promise(p, SEGMENT_FORGETFUL, EUR(420), EUR(10), today, today + 5,
                   POLICY_LIMIT_MIN_INSTALLMENT);
    expect_promise(p, SEGMENT_FORGETFUL, EUR(15), EUR(15), today, today + 5, POLICY_LIMIT_OK);
    expect_promise(p, SEGMENT_DISPUTED, EUR(420), EUR(420), today, today + 5,
                   POLICY_LIMIT_SUPERVISOR_ONLY);

    assert_int_equal(
        policy_check_promise(p, SEGMENT_EVASIVE, "EUR", EUR(420), EUR(10), today, today + 3, &c),
        0);
    assert_string_equal(policy_limit_name(c.limit), "min_installment");
    assert_string_equal(c.detail, "partial promise of 10.00 EUR is below the minimum of 25.00 "
                                  "EUR for segment evasive");
    assert_int_equal(policy_check_promise(p, SEGMENT_COUNT, "EUR", 1, 1, 0, 0, &c), -1);
    assert_int_equal(policy_check_promise(p, SEGMENT_EVASIVE, NULL, 1, 1, 0, 0, &c), -1);
    policy_free(p);
}

static policy_limit_t plan(const policy_t *p, segment_id_t seg, int64_t balance, int64_t down,
                           const policy_installment_t *inst, size_t n, policy_check_t *c)
{
    assert_int_equal(policy_check_plan(p, seg, "EUR", balance, down, inst, n, 1000, c), 0);
    return c->limit;
}

static void test_check_plan(void **state)
{
    policy_t *p = load_default();
    policy_installment_t inst[14];
    policy_check_t c;

    (void)state;
    /* willing_unable: 1000.00 EUR, 5% down (50.00), ten monthly instalments of 95.00. */
    for (int i = 0; i < 14; i++) {
        inst[i].due_day = 1000 + 30 * (i + 1);
        inst[i].amount = EUR(95);
    }
    assert_int_equal(plan(p, SEGMENT_WILLING_UNABLE, EUR(1000), EUR(50), inst, 10, &c),
                     POLICY_LIMIT_OK);
    assert_int_equal(plan(p, SEGMENT_WILLING_UNABLE, EUR(1000), EUR(50), inst, 0, &c),
                     POLICY_LIMIT_INVALID_AMOUNT);
    /* Thirteen instalments: over the 12 allowed. */
    assert_int_equal(plan(p, SEGMENT_WILLING_UNABLE, EUR(1300), EUR(65), inst, 13, &c),
                     POLICY_LIMIT_MAX_INSTALLMENTS);
    assert_string_equal(c.detail, "13 instalments exceed the maximum of 12 for segment "
                                  "willing_unable");
    /* The same plan is too long for evasive (4 instalments). */
    assert_int_equal(plan(p, SEGMENT_EVASIVE, EUR(1000), EUR(50), inst, 10, &c),
                     POLICY_LIMIT_MAX_INSTALLMENTS);
    /* A plan adding up to more than the balance. */
    assert_int_equal(plan(p, SEGMENT_WILLING_UNABLE, EUR(1000), EUR(100), inst, 10, &c),
                     POLICY_LIMIT_EXCEEDS_BALANCE);
    /* Dates: the last one beyond 365 days; out of order; in the past. */
    inst[9].due_day = 1000 + 366;
    assert_int_equal(plan(p, SEGMENT_WILLING_UNABLE, EUR(1000), EUR(50), inst, 10, &c),
                     POLICY_LIMIT_MAX_PLAN_DAYS);
    inst[9].due_day = inst[8].due_day;
    assert_int_equal(plan(p, SEGMENT_WILLING_UNABLE, EUR(1000), EUR(50), inst, 10, &c),
                     POLICY_LIMIT_INVALID_DATE);
    inst[9].due_day = 1000 + 300;
    inst[0].due_day = 999;
    assert_int_equal(plan(p, SEGMENT_WILLING_UNABLE, EUR(1000), EUR(50), inst, 10, &c),
                     POLICY_LIMIT_INVALID_DATE);
    inst[0].due_day = 1030;
    /* Instalments below the minimum (20.00), except the last which may be the remainder. */
    policy_installment_t small[3] = {{1030, EUR(15)}, {1060, EUR(500)}, {1090, EUR(435)}};
    assert_int_equal(plan(p, SEGMENT_WILLING_UNABLE, EUR(1000), EUR(50), small, 3, &c),
                     POLICY_LIMIT_MIN_INSTALLMENT);
    assert_string_equal(c.detail, "instalment 1 of 15.00 EUR is below the minimum of 20.00 EUR "
                                  "for segment willing_unable");
    policy_installment_t remainder[3] = {{1030, EUR(500)}, {1060, EUR(440)}, {1090, EUR(10)}};
    assert_int_equal(plan(p, SEGMENT_WILLING_UNABLE, EUR(1000), EUR(50), remainder, 3, &c),
                     POLICY_LIMIT_OK);
    /* Down payment: 5% of 1000.00 is 50.00; 5% of 10.01 rounds up to 0.51. */
    assert_int_equal(plan(p, SEGMENT_WILLING_UNABLE, EUR(1000), EUR(49), inst, 10, &c),
                     POLICY_LIMIT_MIN_DOWN_PAYMENT);
    policy_installment_t one[1] = {{1030, 950}};
    assert_int_equal(plan(p, SEGMENT_WILLING_UNABLE, 1001, 50, one, 1, &c),
                     POLICY_LIMIT_MIN_DOWN_PAYMENT);
    assert_int_equal(plan(p, SEGMENT_WILLING_UNABLE, 1001, 51, one, 1, &c), POLICY_LIMIT_OK);
    /* Settlement: willing_unable may forgive 10%, evasive nothing. */
    policy_installment_t settle[2] = {{1030, EUR(400)}, {1060, EUR(450)}};
    assert_int_equal(plan(p, SEGMENT_WILLING_UNABLE, EUR(1000), EUR(50), settle, 2, &c),
                     POLICY_LIMIT_OK); /* 100.00 unpaid: exactly 10% */
    assert_int_equal(plan(p, SEGMENT_WILLING_UNABLE, EUR(1000), EUR(49), settle, 2, &c),
                     POLICY_LIMIT_MIN_DOWN_PAYMENT);
    settle[1].amount = EUR(449);
    assert_int_equal(plan(p, SEGMENT_WILLING_UNABLE, EUR(1000), EUR(50), settle, 2, &c),
                     POLICY_LIMIT_MAX_DISCOUNT);
    settle[1].amount = EUR(400) - 1; /* one cent short */
    assert_int_equal(plan(p, SEGMENT_EVASIVE, EUR(1000), EUR(200), settle, 2, &c),
                     POLICY_LIMIT_MAX_DISCOUNT);
    settle[1].amount = EUR(400);
    assert_int_equal(plan(p, SEGMENT_EVASIVE, EUR(1000), EUR(200), settle, 2, &c), POLICY_LIMIT_OK);
    /* Amounts: non-positive, overflowing totals. */
    policy_installment_t zero[1] = {{1030, 0}};
    assert_int_equal(plan(p, SEGMENT_WILLING_UNABLE, EUR(1000), 0, zero, 1, &c),
                     POLICY_LIMIT_INVALID_AMOUNT);
    policy_installment_t huge[2] = {{1030, INT64_MAX}, {1060, INT64_MAX}};
    assert_int_equal(plan(p, SEGMENT_WILLING_UNABLE, INT64_MAX, 0, huge, 2, &c),
                     POLICY_LIMIT_INVALID_AMOUNT);
    /* Supervisor-only segments. */
    assert_int_equal(plan(p, SEGMENT_DISPUTED, EUR(1000), EUR(50), inst, 10, &c),
                     POLICY_LIMIT_SUPERVISOR_ONLY);
    assert_int_equal(policy_check_plan(p, SEGMENT_EVASIVE, "EUR", 100, 0, NULL, 2, 0, &c), -1);
    assert_string_equal(policy_limit_name(POLICY_LIMIT_MAX_DISCOUNT),
                        "max_settlement_discount_pct");
    assert_string_equal(policy_limit_name((policy_limit_t)99), "unknown");
    policy_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_policy_loads),
        cmocka_unit_test(test_every_deployed_policy_loads),
        cmocka_unit_test(test_load_file_errors),
        cmocka_unit_test(test_broken_policies),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_hash_is_fnv1a),
        cmocka_unit_test(test_variant_split_follows_weights),
        cmocka_unit_test(test_evaluate_and_next_step),
        cmocka_unit_test(test_features_from_json),
        cmocka_unit_test(test_limits_for),
        cmocka_unit_test(test_check_promise),
        cmocka_unit_test(test_check_plan),
    };

    snprintf(default_path, sizeof(default_path), "%s/deploy/policy/default.json", source_dir());
    return cmocka_run_group_tests(tests, NULL, NULL);
}
