/* payments.h - the payments worker: payment.received / payment.reversed in; invoices paid and
 * re-opened, credit kept, promises and instalments settled, cases resolved (DESIGN.md,
 * "Services"). The decisions are casepay.h's and casefile.h's, the storage paystore.h's, the
 * frame around them (load, plan, save, outbox, cache) caseworker.h's. */
#ifndef RECOBRO_PAYMENTS_H
#define RECOBRO_PAYMENTS_H

#include "caseworker.h"

#define PAYMENTS_SOURCE "recobro/payments"

/* Fills *spec with the payments worker's part of caseworker_new(). */
void payments_spec(caseworker_spec_t *spec);

#endif
