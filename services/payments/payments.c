/* payments.c - the payments worker's handler table (see payments.h). */
#include "payments.h"

#include <stddef.h>

static const pipeline_handler_t handlers[] = {
    {"payment.received", CASEFILE_ROW_PAYMENT | CASEFILE_ROW_OPEN_PROMISE | CASEFILE_ROW_OPEN_PLAN,
     "payment_id", casedecide_payment_received, NULL},
    /* The payment row brings the promise and the plan it counted toward. */
    {"payment.reversed", CASEFILE_ROW_PAYMENT, "payment_id", casedecide_payment_reversed, NULL},
};

const pipeline_spec_t payments_spec = {
    "payments",
    "Allocates payments and reversals to cases, settles promises and instalment plans, and "
    "resolves cases paid in full.",
    PAYMENTS_SOURCE,
    offsetof(config_t, topic_payments),
    handlers,
    sizeof(handlers) / sizeof(handlers[0]),
};
