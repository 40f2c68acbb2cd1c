/* test_casedecide.c - unit tests of casedecide.c, the pure decision of each event type over a
 * case and the rows the pipeline loaded: what it marks for the store (payment rows, disputes,
 * the event as a row) and what it leaves alone (repeats). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "casefixture.h"
#include "casedecide.h"

static casedecide_in_t in_of(const char *type, json_t *data)
{
    casedecide_in_t in = {type, data, NULL, 1764061200, "recobro/test"};
    return in;
}

static casefile_payment_row_t *payment_row(casefile_t *cf, const char *id)
{
    cf->rows.payment = calloc(1, sizeof(*cf->rows.payment));
    assert_non_null(cf->rows.payment);
    strcpy(cf->rows.payment->payment_id, id);
    return cf->rows.payment;
}

static json_t *payment_data(const char *id, const char *amount)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "creditor_id", "acme", "debtor_id", "D-1",
                     "payment_id", id, "amount", amount, "currency", "EUR", "received_at",
                     "2026-11-25T09:00:00Z");
}

static void test_payment_received_marks_the_row_to_insert(void **state)
{
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;
    reason_t why;
    (void)state;
    init_case(&cf);
    add_invoice(&cf, "INV-1", 10000, "2026-10-01");
    casefile_payment_row_t *row = payment_row(&cf, "PAY-1");
    json_t *data = payment_data("PAY-1", "150.00");
    casedecide_in_t in = in_of("payment.received", data);
    assert_int_equal(casedecide_payment_received(&cf, &in, &plan, &why), RESULT_OK);
    assert_int_equal(row->write, CASEFILE_PAYMENT_INSERT);
    assert_int_equal(row->amount, 15000);
    assert_int_equal(row->unallocated, 5000);
    assert_int_equal(row->nlines, 1);
    assert_string_equal(row->lines[0].invoice_id, "INV-1");
    assert_int_equal(cf.invoices[0].status, CASEFILE_INVOICE_PAID);
    assert_int_equal(cf.n_credits, 1);
    assert_false(cf.credits[0].dirty); /* written with the payment row */
    assert_string_equal(cf.last_event, "payment.received");
    json_decref(data);
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
}

static void test_payment_received_again_has_no_effect(void **state)
{
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;
    reason_t why;
    (void)state;
    init_case(&cf);
    add_invoice(&cf, "INV-1", 10000, "2026-10-01");
    payment_row(&cf, "PAY-1")->known = true;
    json_t *data = payment_data("PAY-1", "50.00");
    casedecide_in_t in = in_of("payment.received", data);
    assert_int_equal(casedecide_payment_received(&cf, &in, &plan, &why), RESULT_OK);
    assert_int_equal(cf.rows.payment->write, CASEFILE_PAYMENT_KEEP);
    assert_int_equal(cf.invoices[0].open_amount, 10000);
    assert_int_equal(plan.n_outputs, 0);
    json_decref(data);
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
}

static void test_payment_in_another_currency_is_rejected_before_the_row(void **state)
{
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;
    reason_t why;
    (void)state;
    init_case(&cf);
    strcpy(cf.currency, "USD");
    json_t *data = payment_data("PAY-1", "50.00");
    casedecide_in_t in = in_of("payment.received", data);
    assert_int_equal(casedecide_payment_received(&cf, &in, &plan, &why), RESULT_REJECTED);
    assert_string_equal(why.code, "currency_mismatch");
    json_decref(data);
    casefile_clear(&cf);
}

static void test_reversal_of_an_unknown_payment_is_a_stub(void **state)
{
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;
    reason_t why;
    (void)state;
    init_case(&cf);
    casefile_payment_row_t *row = payment_row(&cf, "PAY-9");
    json_t *data = json_pack("{s:s, s:s, s:s, s:s}", "creditor_id", "acme", "debtor_id", "D-1",
                             "payment_id", "PAY-9", "reason", "chargeback");
    casedecide_in_t in = in_of("payment.reversed", data);
    assert_int_equal(casedecide_payment_reversed(&cf, &in, &plan, &why), RESULT_OK);
    assert_int_equal(row->write, CASEFILE_PAYMENT_STUB);
    assert_int_equal(row->at, in.now);
    assert_string_equal(row->reason, "chargeback");
    /* Reversed already: nothing to write. */
    row->known = true;
    row->write = CASEFILE_PAYMENT_KEEP;
    assert_int_equal(casedecide_payment_reversed(&cf, &in, &plan, &why), RESULT_OK);
    assert_int_equal(row->write, CASEFILE_PAYMENT_KEEP);
    json_decref(data);
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
}

static void test_reversal_reopens_what_the_stored_lines_paid(void **state)
{
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;
    reason_t why;
    (void)state;
    init_case(&cf);
    add_invoice(&cf, "INV-1", 0, "2026-10-01");
    cf.invoices[0].amount = 10000;
    cf.invoices[0].status = CASEFILE_INVOICE_PAID;
    casefile_payment_row_t *row = payment_row(&cf, "PAY-1");
    row->known = row->received = true;
    row->lines = calloc(1, sizeof(*row->lines));
    strcpy(row->lines[0].invoice_id, "INV-1");
    row->lines[0].amount = 10000;
    row->nlines = 1;
    json_t *data = json_pack("{s:s, s:s, s:s}", "creditor_id", "acme", "debtor_id", "D-1",
                             "payment_id", "PAY-1");
    casedecide_in_t in = in_of("payment.reversed", data);
    assert_int_equal(casedecide_payment_reversed(&cf, &in, &plan, &why), RESULT_OK);
    assert_int_equal(row->write, CASEFILE_PAYMENT_REVERSE);
    assert_int_equal(cf.invoices[0].open_amount, 10000);
    assert_int_equal(cf.invoices[0].status, CASEFILE_INVOICE_OPEN);
    json_decref(data);
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
}

static void add_dispute(casefile_t *cf, const char *id, const char *invoice_id)
{
    casefile_rows_t *r = &cf->rows;
    r->disputes = realloc(r->disputes, (r->n_disputes + 1) * sizeof(*r->disputes));
    assert_non_null(r->disputes);
    casefile_dispute_row_t *d = &r->disputes[r->n_disputes++];
    memset(d, 0, sizeof(*d));
    d->event_source = strdup("crm");
    d->event_id = strdup(id);
    strcpy(d->invoice_id, invoice_id);
}

static void test_dispute_resolution_marks_its_disputes_and_the_whole_debt_ones(void **state)
{
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;
    reason_t why;
    (void)state;
    init_case(&cf);
    add_invoice(&cf, "INV-1", 10000, "2026-10-01");
    add_invoice(&cf, "INV-2", 5000, "2026-10-15");
    add_dispute(&cf, "d1", "");
    add_dispute(&cf, "d2", "INV-1");
    add_dispute(&cf, "d3", "INV-2");
    json_t *data =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "creditor_id", "acme", "debtor_id", "D-1", "at",
                  "2026-11-25T09:00:00Z", "outcome", "upheld", "invoice_id", "INV-1");
    casedecide_in_t in = in_of("dispute.resolved", data);
    assert_int_equal(casedecide_dispute_resolved(&cf, &in, &plan, &why), RESULT_OK);
    assert_true(cf.rows.disputes[0].resolved);
    assert_true(cf.rows.disputes[1].resolved);
    assert_false(cf.rows.disputes[2].resolved);
    assert_string_equal(cf.rows.resolved_at, "2026-11-25T09:00:00Z");
    assert_string_equal(cf.rows.outcome, "upheld");
    assert_int_equal(cf.invoices[0].status, CASEFILE_INVOICE_CANCELLED);
    assert_int_equal(cf.invoices[1].status, CASEFILE_INVOICE_OPEN);
    assert_true(json_is_true(json_object_get(cf.features, "open_dispute"))); /* d3 stays open */
    json_decref(data);
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
}

static void test_invoice_event_uses_the_credit(void **state)
{
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;
    reason_t why;
    (void)state;
    init_case(&cf);
    add_invoice(&cf, "INV-1", 10000, "2026-10-01");
    casefile_credit_t cr;
    memset(&cr, 0, sizeof(cr));
    strcpy(cr.payment_id, "PAY-0");
    strcpy(cr.currency, "EUR");
    cr.unallocated = 2500;
    cf.credits = calloc(1, sizeof(cr));
    cf.credits[0] = cr;
    cf.n_credits = cf.cap_credits = 1;
    json_t *data = json_pack("{s:s, s:s, s:s, s:s, s:s}", "creditor_id", "acme", "debtor_id", "D-1",
                             "invoice_id", "INV-1", "open_amount", "100.00", "currency", "EUR");
    casedecide_in_t in = in_of("invoice.adjusted", data);
    assert_int_equal(casedecide_invoice(&cf, &in, &plan, &why), RESULT_OK);
    assert_int_equal(cf.invoices[0].open_amount, 7500);
    assert_int_equal(cf.n_credit_lines, 1);
    assert_int_equal(cf.credits[0].unallocated, 0);
    assert_string_equal(cf.last_event, "invoice.adjusted");
    json_decref(data);
    casefile_plan_clear(&plan);
    casefile_clear(&cf);
}

static void test_tick_without_promise_or_plan_does_nothing(void **state)
{
    casefile_t cf;
    casefile_plan_t plan = CASEFILE_PLAN_INIT;
    reason_t why;
    (void)state;
    init_case(&cf);
    casedecide_in_t in = in_of("scheduler.tick", NULL);
    assert_int_equal(casedecide_tick(&cf, &in, &plan, &why), RESULT_OK);
    assert_int_equal(plan.n_outputs, 0);
    casefile_clear(&cf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_payment_received_marks_the_row_to_insert),
        cmocka_unit_test(test_payment_received_again_has_no_effect),
        cmocka_unit_test(test_payment_in_another_currency_is_rejected_before_the_row),
        cmocka_unit_test(test_reversal_of_an_unknown_payment_is_a_stub),
        cmocka_unit_test(test_reversal_reopens_what_the_stored_lines_paid),
        cmocka_unit_test(test_dispute_resolution_marks_its_disputes_and_the_whole_debt_ones),
        cmocka_unit_test(test_invoice_event_uses_the_credit),
        cmocka_unit_test(test_tick_without_promise_or_plan_does_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
