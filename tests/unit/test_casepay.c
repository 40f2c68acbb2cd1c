/* test_casepay.c - unit tests of casepay.c's pure decisions: allocation and credit on a case
 * file, later invoices using credit, exact reversal, promise counting and reversal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "casefixture.h"
#include "casepay.h"
#include "validate.h"

static casepay_payment_t pay_of(const char *id, int64_t amount)
{
    casepay_payment_t p = {id, "EUR", amount, 1764061200, 20417, NULL, 0, NULL};
    return p;
}

static void test_overpayment_becomes_credit_and_pays_later_invoice(void **state)
{
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;
    casepay_effect_t eff;
    reason_t err;
    (void)state;
    init_case(&cf);
    add_invoice(&cf, "INV-2", 5000, "2026-11-01");
    add_invoice(&cf, "INV-1", 10000, "2026-10-01");
    casepay_payment_t p = pay_of("PAY-1", 20000);
    assert_int_equal(casepay_receive(&cf, &p, NULL, NULL, "recobro/payments", &plan, &eff, &err),
                     0);
    assert_int_equal(eff.nlines, 2);
    assert_string_equal(eff.lines[0].invoice_id, "INV-1"); /* oldest first */
    assert_int_equal(eff.credit, 5000);
    assert_false(eff.partial);
    assert_int_equal(cf.n_credits, 1);
    assert_int_equal(cf.invoices[0].status, CASEFILE_INVOICE_PAID);
    casepay_effect_clear(&eff);
    /* A later invoice uses the credit. */
    add_invoice(&cf, "INV-3", 3000, "2026-11-20");
    assert_int_equal(casepay_use_credit(&cf), 0);
    assert_int_equal(cf.invoices[2].open_amount, 0);
    assert_int_equal(cf.credits[0].unallocated, 2000);
    assert_int_equal(cf.n_credit_lines, 1);
    assert_int_equal(json_integer_value(json_object_get(cf.features, "payments_count")), 1);
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
}

static void test_currency_mismatch_changes_nothing(void **state)
{
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;
    casepay_effect_t eff;
    reason_t err;
    (void)state;
    init_case(&cf);
    add_invoice(&cf, "INV-1", 10000, "2026-10-01");
    casepay_payment_t p = pay_of("PAY-1", 100);
    p.currency = "USD";
    assert_int_equal(casepay_receive(&cf, &p, NULL, NULL, "s", &plan, &eff, &err), -1);
    assert_string_equal(err.code, "currency_mismatch");
    assert_int_equal(cf.invoices[0].open_amount, 10000);
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
}

static void test_partial_payment_keeps_promise_then_reversal_breaks_it(void **state)
{
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;
    casepay_effect_t eff;
    reason_t err;
    promise_t pr;
    (void)state;
    init_case(&cf);
    add_invoice(&cf, "INV-1", 20000, "2026-10-01");
    assert_int_equal(promise_init(&pr, "PR-1", "EUR", 5000, 20400, 20410, 3), PROMISE_OK);
    casepay_payment_t p = pay_of("PAY-1", 5000);
    p.day = 20409;
    assert_int_equal(casepay_receive(&cf, &p, &pr, NULL, "s", &plan, &eff, &err), 0);
    assert_int_equal(pr.state, PROMISE_KEPT);
    assert_int_equal(eff.promise_applied, 5000);
    assert_int_equal(plan.n_outputs, 1); /* promise.kept */
    assert_int_equal(json_integer_value(json_object_get(cf.features, "promises_kept")), 1);
    assert_int_equal(cf.invoices[0].open_amount, 15000);
    casepay_undo_t u = {"PAY-1", eff.lines, eff.nlines, 5000, NULL, 0, 20417, 1764061200, 0, 0};
    assert_int_equal(casepay_reverse(&cf, &u, &pr, NULL, "s", &plan, &err), 0);
    assert_int_equal(pr.state, PROMISE_BROKEN);
    assert_int_equal(cf.invoices[0].open_amount, 20000);
    assert_int_equal(json_integer_value(json_object_get(cf.features, "promises_kept")), 0);
    assert_int_equal(json_integer_value(json_object_get(cf.features, "promises_broken")), 1);
    assert_int_equal(json_integer_value(json_object_get(cf.features, "payments_count")), 0);
    assert_int_equal(plan.n_outputs, 2); /* promise.broken, revised */
    casepay_effect_clear(&eff);
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
}

/* A promise above the balance is refused, and the DLQ detail names the limit, never the
 * amounts (the policy check's own text quotes both). */
static void test_refused_promise_detail_has_no_amounts(void **state)
{
    char path[4096], perr[512];
    const char *root = getenv("RECOBRO_SOURCE_DIR");
    casefile_t cf;
    policy_check_t check;
    reason_t why;
    (void)state;
    snprintf(path, sizeof(path), "%s/deploy/policy/default.json", root ? root : ".");
    policy_t *policy = policy_load_file(path, perr, sizeof(perr));
    assert_non_null(policy);
    init_case(&cf);
    add_invoice(&cf, "INV-1", 12345, "2026-10-01");
    cf.balance = 12345;
    cf.segmented = true;
    cf.segment = SEGMENT_FORGETFUL;
    int rc = casepay_decide_promise(&cf, policy, "EUR", 98765, 20430, 20417, false, &check, &why);
    assert_true(rc < 0);
    assert_string_equal(why.code, "invalid_promise");
    assert_non_null(strstr(why.detail, "exceeds_balance"));
    assert_null(strstr(why.detail, "987"));
    assert_null(strstr(why.detail, "123"));
    casefile_clear(&cf);
    policy_free(policy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overpayment_becomes_credit_and_pays_later_invoice),
        cmocka_unit_test(test_currency_mismatch_changes_nothing),
        cmocka_unit_test(test_partial_payment_keeps_promise_then_reversal_breaks_it),
        cmocka_unit_test(test_refused_promise_detail_has_no_amounts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
