/* allocation.h - payment allocation: which open invoices a payment (or a credit) pays, and the
 * exact inverse when the payment is reversed. Pure functions.
 *
 * The rules (DOMAIN.md, CONTRACT.md `payment.received` / `payment.reversed`):
 *   1. the invoices the payment names (`invoice_ids`), in the order named, each up to its open
 *      amount; a name that is not among the invoices given is skipped and counted
 *      (res->named_unknown: the invoice may not be known yet), a closed one takes nothing;
 *   2. then the oldest due first (due_on ascending), ties by invoice id (byte order, strcmp),
 *      so that the same payment always pays the same invoices;
 *   3. never more than an invoice's open amount; what is left is the over-payment credit
 *      (res->credit), returned, never lost: the caller keeps it on the case and applies it to
 *      later invoices with alloc_credit().
 * Every allocation returns its lines (invoice id, amount). The caller stores them with the
 * payment: a reversal is alloc_reverse() of exactly those lines, which re-opens what they paid.
 * Lines that alloc_credit() made out of a payment's credit belong to that payment: store them
 * with it too, and on reversal pass them as well and take the payment's unused credit off the
 * case (money_sub()).
 *
 * All invoices and the payment are in the case's currency (a payment in another currency goes
 * to the DLQ before it gets here). Money is int64_t minor units; days are day numbers.
 * Status functions return ALLOC_OK (0) or a negative alloc_err_t, and change nothing on error
 * (the invoices' open amounts are only written when the whole call succeeds). */
#ifndef RECOBRO_ALLOCATION_H
#define RECOBRO_ALLOCATION_H

#include <stddef.h>
#include <stdint.h>

/* Longest invoice id in bytes: CONTRACT.md ids are 1-128 characters, UTF-8. */
#define ALLOC_ID_MAX 512

typedef enum alloc_err {
    ALLOC_OK = 0,
    ALLOC_EINVAL = -1,    /* NULL, amount <= 0, bad or duplicate invoice id, cap too small... */
    ALLOC_EOVERFLOW = -2, /* re-opening would overflow an open amount */
} alloc_err_t;

/* An invoice of the case. The caller fills it from its store; the functions below update
 * open_amount in place. */
typedef struct alloc_invoice {
    const char *id;      /* borrowed invoice_id, 1..ALLOC_ID_MAX bytes, unique in the list */
    int64_t due_day;     /* due_on as a day number */
    int64_t open_amount; /* >= 0; 0 for a closed invoice */
} alloc_invoice_t;

/* One invoice paid by a payment or a credit (a plain value: copy and store it). */
typedef struct alloc_line {
    char invoice_id[ALLOC_ID_MAX + 1];
    int64_t amount; /* > 0 */
} alloc_line_t;

typedef struct alloc_result {
    size_t nlines;        /* lines written */
    int64_t allocated;    /* their sum */
    int64_t credit;       /* what is left of the payment or credit: the over-payment */
    size_t named_unknown; /* named invoice ids not among the invoices given */
} alloc_result_t;

/* Allocates a payment of `amount` (> 0) to `invoices` (n of them; NULL only when n is 0) by the
 * rules above. `named` holds `nnamed` invoice ids (NULL only when nnamed is 0; each one non-NULL)
 * to pay first. Writes at most n lines into lines[0..cap); cap must be >= n. Returns ALLOC_OK
 * with *res filled (not NULL), or ALLOC_EINVAL. */
__attribute__((warn_unused_result)) int alloc_payment(alloc_invoice_t *invoices, size_t n,
                                                      int64_t amount, const char *const *named,
                                                      size_t nnamed, alloc_line_t *lines,
                                                      size_t cap, alloc_result_t *res);

/* Applies a case's existing credit (>= 0; 0 allocates nothing) to its invoices, oldest first
 * (typically the new invoice that just arrived). Same contract as alloc_payment() without
 * names; res->credit is the credit left. */
__attribute__((warn_unused_result)) int alloc_credit(alloc_invoice_t *invoices, size_t n,
                                                     int64_t credit, alloc_line_t *lines,
                                                     size_t cap, alloc_result_t *res);

typedef struct alloc_reversal {
    int64_t reopened;  /* re-opened on the invoices given */
    int64_t unmatched; /* lines whose invoice is not among them (e.g. cancelled since) */
} alloc_reversal_t;

/* The exact inverse of an allocation: adds every line's amount back to the open amount of the
 * invoice it names. A line whose invoice is not in `invoices` re-opens nothing and is summed in
 * res->unmatched, for the caller to decide (a cancelled invoice is owed no more). Returns
 * ALLOC_OK with *res filled (not NULL), ALLOC_EINVAL (a line's amount <= 0, a bad or duplicate
 * invoice id), or ALLOC_EOVERFLOW. */
__attribute__((warn_unused_result)) int alloc_reverse(alloc_invoice_t *invoices, size_t n,
                                                      const alloc_line_t *lines, size_t nlines,
                                                      alloc_reversal_t *res);

#endif
