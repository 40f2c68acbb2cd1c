/* chargestore.h - the PostgreSQL side of a case's charges (charges.h): its case_charges row and
 * the charge parts of the payment its event names (deploy/migrations/0009_charges.sql). Loaded
 * with the case in the batch's pipeline (casestore_load_many()) and saved with it
 * (casestore_save()), in the same transaction, so interest accrues exactly once.
 *
 * Errors: 0, -1 for a failure retrying will not fix, or RESULT_TRANSIENT, with a one-line text in
 * err. Every result is cleared inside. */
#ifndef RECOBRO_CHARGESTORE_H
#define RECOBRO_CHARGESTORE_H

#include <libpq-fe.h>
#include <stddef.h>

#include "casefile.h"
#include "pgpipe.h"

/* Prepares the statements on `conn`. */
__attribute__((warn_unused_result)) int chargestore_prepare(PGconn *conn, char *err, size_t errlen);

/* Queues the load of cf's charges (one case; a batch's come with its case rows). */
__attribute__((warn_unused_result)) int chargestore_queue_case(pgpipe_t *pp, casefile_t *cf,
                                                               char *err, size_t errlen);

/* The charges columns a batch load selects with its case rows (LEFT JOIN case_charges ch ON the
 * case key), named ch_*: the batch's charges without a statement per case. */
#define CHARGESTORE_LOAD_COLS                                                                      \
    "ch.creditor_id IS NOT NULL AS ch_found, ch.interest AS ch_interest, ch.fees AS ch_fees, "     \
    "ch.interest_total AS ch_interest_total, ch.fees_total AS ch_fees_total, "                     \
    "ch.fee_charged AS ch_fee_charged, ch.settlement::text AS ch_settlement, "                     \
    "(ch.accrued_through - date '1970-01-01') AS ch_accrued_through "

/* Row `row` of a result with CHARGESTORE_LOAD_COLS into cf->charges (zeros when the case was
 * never charged). */
__attribute__((warn_unused_result)) int
chargestore_from_row(const PGresult *res, int row, casefile_t *cf, char *err, size_t errlen);

/* The charge parts of the payment an event names, for a batch statement that reads payments
 * (paystore.c's ps_payment_many): the columns (named chp_*) and the join that brings them, one
 * index probe per row of "u" (creditor_id, debtor_id, payment_id). */
#define CHARGESTORE_PAYMENT_COLS "pc.interest AS chp_interest, pc.fees AS chp_fees "
#define CHARGESTORE_PAYMENT_JOIN                                                                   \
    "LEFT JOIN LATERAL (SELECT interest, fees FROM payment_charge "                                \
    " WHERE creditor_id = u.creditor_id AND debtor_id = u.debtor_id "                              \
    " AND payment_id = u.payment_id OFFSET 0) pc ON true "

/* Row `row` of a result with CHARGESTORE_PAYMENT_COLS: the charge parts of payment `payment_id`
 * into cf->charges (pay_id; zeros when it has none). Returns 0. */
__attribute__((warn_unused_result)) int chargestore_payment_from_row(const PGresult *res, int row,
                                                                     casefile_t *cf,
                                                                     const char *payment_id,
                                                                     char *err, size_t errlen);

/* Writes cf's charges when they changed, and a received payment's charge parts. */
__attribute__((warn_unused_result)) int chargestore_save_case(PGconn *conn, casefile_t *cf,
                                                              char *err, size_t errlen);

#endif
