/* casefixture.h - the small case files the unit tests of the case decisions start from
 * (test_casepay.c, test_casedecide.c): an EUR case of acme/D-1 in Europe/Madrid, and documented
 * open invoices added to it. Header-only (static functions), for cmocka tests. */
#ifndef RECOBRO_TEST_CASEFIXTURE_H
#define RECOBRO_TEST_CASEFIXTURE_H

#include <string.h>

#include "casefile.h"

/* Adds a documented open EUR invoice `id` of `open` minor units, due `due` (YYYY-MM-DD). */
static inline void add_invoice(casefile_t *cf, const char *id, int64_t open, const char *due)
{
    casefile_invoice_t inv;
    memset(&inv, 0, sizeof(inv));
    strcpy(inv.id, id);
    strcpy(inv.currency, "EUR");
    inv.amount = inv.open_amount = open;
    strcpy(inv.due_on, due);
    assert_non_null(casefile_add_invoice(cf, &inv));
}

/* An empty EUR case acme/D-1 in Europe/Madrid (release with casefile_clear()). */
static inline void init_case(casefile_t *cf)
{
    assert_int_equal(casefile_init(cf, "acme", "D-1"), 0);
    strcpy(cf->currency, "EUR");
    strcpy(cf->timezone, "Europe/Madrid");
}

#endif
