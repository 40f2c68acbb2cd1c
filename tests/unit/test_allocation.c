/* test_allocation.c - unit tests for allocation.c: named invoices first, then oldest first with
 * ties by id, over-payment credit, credit applied to a new invoice, exact reversal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "allocation.h"

/* Three open invoices, deliberately not in due order: INV-B (day 100), INV-A and INV-C tied on
 * day 200. */
static void three_invoices(alloc_invoice_t inv[3])
{
    inv[0] = (alloc_invoice_t){"INV-C", 200, 3000};
    inv[1] = (alloc_invoice_t){"INV-A", 200, 2000};
    inv[2] = (alloc_invoice_t){"INV-B", 100, 1000};
}

static void assert_line(const alloc_line_t *l, const char *id, int64_t amount)
{
    assert_string_equal(l->invoice_id, id);
    assert_true(l->amount == amount);
}

static void test_oldest_first_ties_by_id(void **state)
{
    alloc_invoice_t inv[3];
    alloc_line_t lines[3];
    alloc_result_t r;

    (void)state;
    three_invoices(inv);
    assert_int_equal(alloc_payment(inv, 3, 3500, NULL, 0, lines, 3, &r), ALLOC_OK);
    assert_int_equal(r.nlines, 3);
    assert_line(&lines[0], "INV-B", 1000);
    assert_line(&lines[1], "INV-A", 2000);
    assert_line(&lines[2], "INV-C", 500);
    assert_true(r.allocated == 3500 && r.credit == 0);
    assert_true(inv[0].open_amount == 2500 && inv[1].open_amount == 0 && inv[2].open_amount == 0);
}

static void test_named_first_in_order(void **state)
{
    alloc_invoice_t inv[3];
    alloc_line_t lines[3];
    alloc_result_t r;
    const char *named[] = {"INV-C", "INV-UNKNOWN", "INV-A", "INV-C"};

    (void)state;
    three_invoices(inv);
    /* INV-C in full, INV-A in full, then the oldest (INV-B) gets what is left. */
    assert_int_equal(alloc_payment(inv, 3, 5400, named, 4, lines, 3, &r), ALLOC_OK);
    assert_int_equal(r.nlines, 3);
    assert_line(&lines[0], "INV-C", 3000);
    assert_line(&lines[1], "INV-A", 2000);
    assert_line(&lines[2], "INV-B", 400);
    assert_int_equal(r.named_unknown, 1);
    assert_true(r.credit == 0);
    /* A named invoice never takes more than its open amount, even when the payment could. */
    three_invoices(inv);
    assert_int_equal(alloc_payment(inv, 3, 1500, named, 1, lines, 3, &r), ALLOC_OK);
    assert_int_equal(r.nlines, 1);
    assert_line(&lines[0], "INV-C", 1500);
    /* A named invoice already closed takes nothing; the oldest open one does. */
    three_invoices(inv);
    inv[0].open_amount = 0;
    assert_int_equal(alloc_payment(inv, 3, 100, named, 1, lines, 3, &r), ALLOC_OK);
    assert_int_equal(r.nlines, 1);
    assert_line(&lines[0], "INV-B", 100);
    assert_int_equal(r.named_unknown, 0);
}

static void test_over_payment_credit(void **state)
{
    alloc_invoice_t inv[3];
    alloc_line_t lines[3], credit_lines[1];
    alloc_result_t r;
    alloc_invoice_t later = {"INV-D", 300, 2500};

    (void)state;
    three_invoices(inv);
    assert_int_equal(alloc_payment(inv, 3, 8000, NULL, 0, lines, 3, &r), ALLOC_OK);
    assert_true(r.allocated == 6000);
    assert_true(r.credit == 2000);
    /* The credit pays the later invoice as far as it goes. */
    assert_int_equal(alloc_credit(&later, 1, r.credit, credit_lines, 1, &r), ALLOC_OK);
    assert_int_equal(r.nlines, 1);
    assert_line(&credit_lines[0], "INV-D", 2000);
    assert_true(r.credit == 0);
    assert_true(later.open_amount == 500);
    /* A credit larger than the invoice leaves the rest. */
    later.open_amount = 500;
    assert_int_equal(alloc_credit(&later, 1, 900, credit_lines, 1, &r), ALLOC_OK);
    assert_true(r.credit == 400 && later.open_amount == 0);
    /* No credit, no lines. */
    assert_int_equal(alloc_credit(&later, 1, 0, credit_lines, 1, &r), ALLOC_OK);
    assert_int_equal(r.nlines, 0);
    /* No invoices at all: everything is credit. */
    assert_int_equal(alloc_payment(NULL, 0, 700, NULL, 0, NULL, 0, &r), ALLOC_OK);
    assert_true(r.credit == 700 && r.nlines == 0);
}

static void test_exact_reversal(void **state)
{
    alloc_invoice_t inv[3], orig[3];
    alloc_line_t lines[3], all[4];
    alloc_result_t r;
    alloc_reversal_t rv;
    alloc_invoice_t later = {"INV-D", 300, 2500};
    const char *named[] = {"INV-A"};
    int64_t credit;

    (void)state;
    three_invoices(inv);
    three_invoices(orig);
    assert_int_equal(alloc_payment(inv, 3, 9000, named, 1, lines, 3, &r), ALLOC_OK);
    credit = r.credit;
    assert_true(credit == 3000);
    memcpy(all, lines, r.nlines * sizeof(lines[0]));
    /* Its credit pays a later invoice: that line belongs to the payment too. */
    assert_int_equal(alloc_credit(&later, 1, credit, &all[3], 1, &r), ALLOC_OK);
    credit = r.credit;
    assert_true(credit == 500);
    /* The reversal gets every invoice, the later one included. */
    {
        alloc_invoice_t every[4] = {inv[0], inv[1], inv[2], later};

        assert_int_equal(alloc_reverse(every, 4, all, 4, &rv), ALLOC_OK);
        assert_true(rv.reopened == 8500 && rv.unmatched == 0);
        for (int i = 0; i < 3; i++)
            assert_true(every[i].open_amount == orig[i].open_amount);
        assert_true(every[3].open_amount == 2500);
    }
    /* What the caller then takes off the case's credit: the 500 this payment left unused. */
    assert_true(credit == 500);
}

static void test_reversal_unmatched_and_errors(void **state)
{
    alloc_invoice_t inv[3], before[3];
    alloc_line_t lines[3];
    alloc_result_t r;
    alloc_reversal_t rv;

    (void)state;
    three_invoices(inv);
    assert_int_equal(alloc_payment(inv, 3, 6000, NULL, 0, lines, 3, &r), ALLOC_OK);
    /* INV-A was cancelled since: its line re-opens nothing and is reported. */
    {
        alloc_invoice_t left[2] = {inv[0], inv[2]};

        assert_int_equal(alloc_reverse(left, 2, lines, 3, &rv), ALLOC_OK);
        assert_true(rv.reopened == 4000 && rv.unmatched == 2000);
        assert_true(left[0].open_amount == 3000 && left[1].open_amount == 1000);
    }
    memcpy(before, inv, sizeof(inv));
    lines[1].amount = 0;
    assert_int_equal(alloc_reverse(inv, 3, lines, 3, &rv), ALLOC_EINVAL);
    lines[1].amount = 2000;
    inv[0].open_amount = INT64_MAX - 100;
    before[0].open_amount = INT64_MAX - 100;
    assert_int_equal(alloc_reverse(inv, 3, lines, 3, &rv), ALLOC_EOVERFLOW);
    assert_memory_equal(inv, before, sizeof(inv));
    assert_int_equal(alloc_reverse(inv, 3, lines, 3, NULL), ALLOC_EINVAL);
}

static void test_rejects(void **state)
{
    alloc_invoice_t inv[3], before[3];
    alloc_line_t lines[3];
    alloc_result_t r;
    const char *bad_named[] = {NULL};

    (void)state;
    three_invoices(inv);
    memcpy(before, inv, sizeof(inv));
    assert_int_equal(alloc_payment(inv, 3, 0, NULL, 0, lines, 3, &r), ALLOC_EINVAL);
    assert_int_equal(alloc_payment(inv, 3, -100, NULL, 0, lines, 3, &r), ALLOC_EINVAL);
    assert_int_equal(alloc_credit(inv, 3, -1, lines, 3, &r), ALLOC_EINVAL);
    assert_int_equal(alloc_payment(inv, 3, 100, NULL, 0, lines, 2, &r), ALLOC_EINVAL);
    assert_int_equal(alloc_payment(inv, 3, 100, NULL, 0, lines, 3, NULL), ALLOC_EINVAL);
    assert_int_equal(alloc_payment(inv, 3, 100, bad_named, 1, lines, 3, &r), ALLOC_EINVAL);
    assert_int_equal(alloc_payment(inv, 3, 100, NULL, 1, lines, 3, &r), ALLOC_EINVAL);
    inv[1].id = "INV-C"; /* duplicate id */
    assert_int_equal(alloc_payment(inv, 3, 100, NULL, 0, lines, 3, &r), ALLOC_EINVAL);
    inv[1].id = "";
    assert_int_equal(alloc_payment(inv, 3, 100, NULL, 0, lines, 3, &r), ALLOC_EINVAL);
    inv[1].id = "INV-A";
    inv[1].open_amount = -1;
    assert_int_equal(alloc_payment(inv, 3, 100, NULL, 0, lines, 3, &r), ALLOC_EINVAL);
    inv[1].open_amount = 2000;
    assert_memory_equal(inv, before, sizeof(inv));
}

static void test_deterministic(void **state)
{
    alloc_invoice_t a[3], b[3];
    alloc_line_t la[3], lb[3];
    alloc_result_t ra, rb;

    (void)state;
    three_invoices(a);
    /* The same invoices in another order give the same lines. */
    b[0] = (alloc_invoice_t){"INV-A", 200, 2000};
    b[1] = (alloc_invoice_t){"INV-B", 100, 1000};
    b[2] = (alloc_invoice_t){"INV-C", 200, 3000};
    assert_int_equal(alloc_payment(a, 3, 4200, NULL, 0, la, 3, &ra), ALLOC_OK);
    assert_int_equal(alloc_payment(b, 3, 4200, NULL, 0, lb, 3, &rb), ALLOC_OK);
    assert_int_equal(ra.nlines, rb.nlines);
    for (size_t i = 0; i < ra.nlines; i++) {
        assert_string_equal(la[i].invoice_id, lb[i].invoice_id);
        assert_true(la[i].amount == lb[i].amount);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oldest_first_ties_by_id),
        cmocka_unit_test(test_named_first_in_order),
        cmocka_unit_test(test_over_payment_credit),
        cmocka_unit_test(test_exact_reversal),
        cmocka_unit_test(test_reversal_unmatched_and_errors),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
