/* payments.h - the payments worker's handler: payment.received / payment.reversed in; invoices
 * paid and re-opened, credit kept, promises and instalments settled, cases resolved (DESIGN.md,
 * "Services"). The decisions are casepay.h's and casefile.h's; this file is the edge that loads
 * and saves (casestore.h, paystore.h) inside the runtime's batch transaction (worker.h). */
#ifndef RECOBRO_PAYMENTS_H
#define RECOBRO_PAYMENTS_H

#include <stddef.h>

#include "config.h"
#include "worker.h"

/* How often, at most, apply() checks whether a newer policy version was loaded. */
#define PAYMENTS_POLICY_CHECK_US (3 * 1000000LL)

typedef struct payments payments_t;

/* Prepares the worker: connects to PostgreSQL once to read the active policy; when the policy
 * table is empty and RECOBRO_POLICY_FILE is set, loads that file into it first. Returns a new
 * payments_t (payments_free() it), or NULL with a one-line reason in err (no policy anywhere, a
 * refused policy file, the database unreachable or not migrated). */
payments_t *payments_new(const config_t *cfg, char *err, size_t errlen);
void payments_free(payments_t *ps);

/* Fills *h with the handler for wk_run(); `ps` is borrowed and must outlive the run. */
void payments_handler(payments_t *ps, wk_handler_t *h);

#endif
