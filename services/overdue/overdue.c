/* overdue.c - the overdue worker's handler table (see overdue.h). */
#include "overdue.h"

#include <stddef.h>

static const pipeline_handler_t handlers[] = {
    /* type                 rows  named by  decision            observe */
    {"invoice.overdue", 0, NULL, casedecide_invoice, NULL},
    {"invoice.adjusted", 0, NULL, casedecide_invoice, NULL},
    {"invoice.cancelled", 0, NULL, casedecide_invoice, NULL},
};

const pipeline_spec_t overdue_spec = {
    "overdue",
    "Creates and updates cases from invoice events, segments them and plans their next compliant "
    "tasks.",
    OVERDUE_SOURCE,
    offsetof(config_t, topic_invoices),
    handlers,
    sizeof(handlers) / sizeof(handlers[0]),
};
