/* paystore.h - the PostgreSQL side of payments, promises and instalment plans (tables in
 * deploy/migrations/0003_payments.sql): load the rows an event's decision needs into the case
 * file (casefile.h, "rows": the payment an event names with its allocation lines, the promise or
 * plan it names, the open promise, the active plan, the pending promises) and write back what the
 * decision marked; and keep the case's over-payment credit. It decides nothing: the decisions are
 * casedecide.h's and casepay.h's (pure), called by the case pipeline (pipeline.h) between
 * casestore_load_many() and casestore_save(), which call this module.
 *
 * Errors: 0 on success; -1 for a failure retrying will not fix, RESULT_TRANSIENT for a lost
 * connection or serialization failure, both with a one-line text in err. Every statement is
 * prepared (paystore_prepare()), parameterised, and scoped by creditor_id. */
#ifndef RECOBRO_PAYSTORE_H
#define RECOBRO_PAYSTORE_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "result.h"

#include "casefile.h"
#include "pgpipe.h"

/* Prepares this module's statements on `conn` (call after each connection, after
 * casestore_prepare()). Returns 0, -1 or RESULT_TRANSIENT. */
__attribute__((warn_unused_result)) int paystore_prepare(PGconn *conn, char *err, size_t errlen);

/* ---- The rows of one event (casestore.h calls these) --------------------------------------- */

/* One case of a batch's rows (paystore_queue_rows_many()). */
typedef struct paystore_rowreq {
    casefile_t *cf;   /* borrowed: initialised (casefile_init()), its rows NULL */
    unsigned need;    /* CASEFILE_ROW_* flags (PAYMENT, PROMISE, PLAN, OPEN_PROMISE, OPEN_PLAN,
                         PENDING; others are ignored) */
    const char *name; /* borrowed: the id its event names (payment_id, promise_id or plan_id), or
                         NULL, which skips the named rows */
} paystore_rowreq_t;

/* The targets of a batch's row queries (paystore_queue_rows_many()). */
typedef struct paystore_rows paystore_rows_t;

/* Queues on `pp`, for the `n` cases of `reqs`, the rows each one's `need` asks for: ONE statement
 * per kind of row for the whole batch (arrays of the cases' keys, each case an index probe),
 * none for a kind no case asks for; their results fill each cf->rows when the caller runs the
 * pipeline. A payment (CASEFILE_ROW_PAYMENT with a name) is always loaded, known or not, with,
 * when it stands received, its allocation lines and the promise and plan it counted toward, and
 * its charge parts (cf->charges.pay_*, chargestore.h); a named promise or plan that does not
 * exist stays NULL. `reqs` may go once this returns; the case files must stay where they are.
 * *out gets a new paystore_rows_t (also on failure, then possibly NULL): free it with
 * paystore_rows_free() after pgpipe_run(). Returns 0, or -1 with err filled (out of memory, or a
 * failure to send). */
__attribute__((warn_unused_result)) int paystore_queue_rows_many(pgpipe_t *pp,
                                                                 const paystore_rowreq_t *reqs,
                                                                 size_t n, paystore_rows_t **out,
                                                                 char *err, size_t errlen);

/* Frees what paystore_queue_rows_many() gave; NULL is a no-op. */
void paystore_rows_free(paystore_rows_t *rows);

/* Writes the rows the decision marked: the payment row (received, stub or reversed, with its
 * lines), then every dirty promise and plan (with its instalments); clears the marks. */
__attribute__((warn_unused_result)) int paystore_save_rows(PGconn *conn, casefile_t *cf, char *err,
                                                           size_t errlen);

/* ---- For casestore (the case's credit) ------------------------------------------------------ */

/* Loads the case's payments side into *cf: the credits (received payments with unallocated >
 * 0) and the cache's open_promise / active_plan documents. casestore_load() calls it. */
__attribute__((warn_unused_result)) int paystore_load_case(PGconn *conn, casefile_t *cf, char *err,
                                                           size_t errlen);

/* paystore_load_case() for a batch: queues ps_case on `pp`; its result fills *cf when the caller
 * runs the pipeline. */
__attribute__((warn_unused_result)) int paystore_queue_case(pgpipe_t *pp, casefile_t *cf, char *err,
                                                            size_t errlen);

/* The case files of a batch, in the order of the arrays given to paystore_queue_cases(). */
typedef struct paystore_cases {
    casefile_t **cfs; /* borrowed */
    size_t n;
    /* borrowed, NULL for none: each case's CASEFILE_ROW_* flags. CASEFILE_ROW_OPEN_PLAN: the
     * active plan the case's row reads also fills cf->rows.open_plan (the same row
     * ps_plan_open_many reads: leave OPEN_PLAN out of paystore_queue_rows_many()'s requests). */
    const unsigned *need;
} paystore_cases_t;

/* paystore_queue_case() for a batch's cases in one statement: `arrays` are the PostgreSQL array
 * literals of their creditor_ids and debtor_ids (in the order of cases->cfs). `cases` must stay
 * where it is until the pipeline ran. */
__attribute__((warn_unused_result)) int paystore_queue_cases(pgpipe_t *pp,
                                                             const paystore_cases_t *cases,
                                                             const char *const *arrays, char *err,
                                                             size_t errlen);

/* Saves the credits marked dirty and inserts cf->credit_lines (allocation lines made out of
 * credit since loading), then clears those marks. casestore_save() calls it. */
__attribute__((warn_unused_result)) int paystore_save_case(PGconn *conn, casefile_t *cf, char *err,
                                                           size_t errlen);

#endif
