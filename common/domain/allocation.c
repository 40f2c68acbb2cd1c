/* allocation.c - payment allocation to open invoices, and its exact inverse (rules in
 * allocation.h).
 *
 * No memory is allocated: the oldest-first pass picks the oldest open invoice again after each
 * one it fills (O(n^2) for n invoices, which is a case's handful, not a portfolio). */
#include <stdbool.h>
#include <string.h>

#include "allocation.h"
#include "money.h"

static bool id_ok(const char *id)
{
    size_t len;

    if (id == NULL)
        return false;
    len = strlen(id);
    return len >= 1 && len <= ALLOC_ID_MAX;
}

/* True when every invoice has a good, unique id and a non-negative open amount. */
static bool invoices_ok(const alloc_invoice_t *inv, size_t n)
{
    if (n > 0 && inv == NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!id_ok(inv[i].id) || inv[i].open_amount < 0)
            return false;
        for (size_t j = 0; j < i; j++)
            if (strcmp(inv[i].id, inv[j].id) == 0)
                return false;
    }
    return true;
}

static ptrdiff_t find_invoice(const alloc_invoice_t *inv, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(inv[i].id, id) == 0)
            return (ptrdiff_t)i;
    return -1;
}

/* The oldest open invoice (due day, then id), or -1 when none is open. */
static ptrdiff_t oldest_open(const alloc_invoice_t *inv, size_t n)
{
    ptrdiff_t best = -1;

    for (size_t i = 0; i < n; i++) {
        if (inv[i].open_amount <= 0)
            continue;
        if (best < 0 || inv[i].due_day < inv[best].due_day ||
            (inv[i].due_day == inv[best].due_day && strcmp(inv[i].id, inv[best].id) < 0))
            best = (ptrdiff_t)i;
    }
    return best;
}

/* Pays invoice i with up to *left, writing a line. */
static void pay(alloc_invoice_t *inv, alloc_line_t *lines, alloc_result_t *res, int64_t *left)
{
    int64_t take = inv->open_amount < *left ? inv->open_amount : *left;
    alloc_line_t *l;

    if (take <= 0)
        return;
    inv->open_amount -= take;
    *left -= take;
    l = &lines[res->nlines++];
    memset(l, 0, sizeof(*l));
    memcpy(l->invoice_id, inv->id, strlen(inv->id) + 1);
    l->amount = take;
    res->allocated += take;
}

/* alloc_payment() and alloc_credit(), once the arguments are checked. */
static void allocate(alloc_invoice_t *inv, size_t n, int64_t amount, const char *const *named,
                     size_t nnamed, alloc_line_t *lines, alloc_result_t *res)
{
    int64_t left = amount;
    ptrdiff_t i;

    memset(res, 0, sizeof(*res));
    for (size_t k = 0; k < nnamed; k++) {
        i = find_invoice(inv, n, named[k]);
        if (i < 0)
            res->named_unknown++;
        else
            pay(&inv[i], lines, res, &left);
    }
    /* An invoice is only left open when the payment ran out, so each is paid at most once. */
    while (left > 0 && (i = oldest_open(inv, n)) >= 0)
        pay(&inv[i], lines, res, &left);
    res->credit = left;
}

int alloc_payment(alloc_invoice_t *invoices, size_t n, int64_t amount, const char *const *named,
                  size_t nnamed, alloc_line_t *lines, size_t cap, alloc_result_t *res)
{
    if (amount <= 0 || res == NULL || cap < n || (n > 0 && lines == NULL) ||
        (nnamed > 0 && named == NULL) || !invoices_ok(invoices, n))
        return ALLOC_EINVAL;
    for (size_t k = 0; k < nnamed; k++)
        if (named[k] == NULL)
            return ALLOC_EINVAL;
    allocate(invoices, n, amount, named, nnamed, lines, res);
    return ALLOC_OK;
}

int alloc_credit(alloc_invoice_t *invoices, size_t n, int64_t credit, alloc_line_t *lines,
                 size_t cap, alloc_result_t *res)
{
    if (credit < 0 || res == NULL || cap < n || (n > 0 && lines == NULL) ||
        !invoices_ok(invoices, n))
        return ALLOC_EINVAL;
    allocate(invoices, n, credit, NULL, 0, lines, res);
    return ALLOC_OK;
}

int alloc_reverse(alloc_invoice_t *invoices, size_t n, const alloc_line_t *lines, size_t nlines,
                  alloc_reversal_t *res)
{
    int64_t reopened = 0, unmatched = 0;

    if (res == NULL || (nlines > 0 && lines == NULL) || !invoices_ok(invoices, n))
        return ALLOC_EINVAL;
    for (size_t k = 0; k < nlines; k++) {
        if (lines[k].amount <= 0 ||
            memchr(lines[k].invoice_id, '\0', sizeof(lines[k].invoice_id)) == NULL ||
            lines[k].invoice_id[0] == '\0')
            return ALLOC_EINVAL;
        if (find_invoice(invoices, n, lines[k].invoice_id) < 0) {
            if (!money_add(unmatched, lines[k].amount, &unmatched))
                return ALLOC_EOVERFLOW;
        } else if (!money_add(reopened, lines[k].amount, &reopened)) {
            return ALLOC_EOVERFLOW;
        }
    }
    /* Every invoice's new open amount must fit before any is written. */
    for (size_t i = 0; i < n; i++) {
        int64_t open = invoices[i].open_amount;

        for (size_t k = 0; k < nlines; k++)
            if (strcmp(lines[k].invoice_id, invoices[i].id) == 0 &&
                !money_add(open, lines[k].amount, &open))
                return ALLOC_EOVERFLOW;
    }
    for (size_t k = 0; k < nlines; k++) {
        ptrdiff_t i = find_invoice(invoices, n, lines[k].invoice_id);

        if (i >= 0)
            invoices[i].open_amount += lines[k].amount;
    }
    res->reopened = reopened;
    res->unmatched = unmatched;
    return ALLOC_OK;
}
