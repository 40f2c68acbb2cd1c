/* overdue.c - the overdue worker's part (see overdue.h): an invoice event applied to its case. */
#include "overdue.h"

static const char *const consumed_types[] = {"invoice.overdue", "invoice.adjusted",
                                             "invoice.cancelled"};

static int overdue_apply(void *ud, const policy_t *policy, PGconn *conn, casefile_t *cf,
                         wk_msg_t *m, int64_t now, casefile_plan_t *plan)
{
    reason_t cerr;

    (void)ud;
    (void)policy;
    (void)conn;
    (void)now;
    (void)plan;
    if (casefile_apply_event(cf, m->ev.type, m->ev.data, &cerr) < 0)
        wk_reject(m, cerr.code, "%s", cerr.detail);
    return RESULT_OK;
}

void overdue_spec(caseworker_spec_t *spec)
{
    *spec = (caseworker_spec_t){"overdue",
                                OVERDUE_SOURCE,
                                consumed_types,
                                sizeof(consumed_types) / sizeof(consumed_types[0]),
                                NULL,
                                overdue_apply,
                                NULL};
}
