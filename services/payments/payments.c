/* payments.c - the payments worker's part (see payments.h): a payment or a reversal applied to
 * its case through paystore.h. */
#include "payments.h"

#include <stdio.h>
#include <string.h>

#include "casestore.h"
#include "paystore.h"

static const char *const consumed_types[] = {"payment.received", "payment.reversed"};

static int payments_apply(void *ud, const policy_t *policy, PGconn *conn, casefile_t *cf,
                          wk_msg_t *m, int64_t now, casefile_plan_t *plan)
{
    reason_t cerr;
    char err[600];
    int rc;

    (void)ud;
    if (strcmp(m->ev.type, "payment.received") == 0)
        rc = paystore_payment_received(conn, cf, policy, &m->ev, now, PAYMENTS_SOURCE, plan, &cerr,
                                       err, sizeof(err));
    else
        rc = paystore_payment_reversed(conn, cf, policy, &m->ev, now, PAYMENTS_SOURCE, plan, &cerr,
                                       err, sizeof(err));
    if (rc == RESULT_REJECTED) {
        /* Nothing of it was written: the decision refused it first. */
        wk_reject(m, cerr.code, "%s", cerr.detail);
        return RESULT_OK;
    }
    if (rc != 0)
        return caseworker_store_error(rc == RESULT_TRANSIENT ? RESULT_TRANSIENT : rc, "payment",
                                      err);
    snprintf(cf->last_event, sizeof(cf->last_event), "%s", m->ev.type);
    return RESULT_OK;
}

void payments_spec(caseworker_spec_t *spec)
{
    *spec = (caseworker_spec_t){"payments",
                                PAYMENTS_SOURCE,
                                consumed_types,
                                sizeof(consumed_types) / sizeof(consumed_types[0]),
                                NULL,
                                payments_apply,
                                NULL};
}
