/* payments.h - the payments worker: payment.received / payment.reversed in; invoices paid and
 * re-opened, credit kept, promises and instalments settled, cases resolved (DESIGN.md,
 * "Services"). Its handler table says which rows each payment event loads (the payment it names,
 * the open promise and plan) and which decision (casedecide.h, over casepay.h) it runs; the case
 * pipeline (pipeline.h) loads, saves and emits. */
#ifndef RECOBRO_PAYMENTS_H
#define RECOBRO_PAYMENTS_H

#include "pipeline.h"

#define PAYMENTS_SOURCE "recobro/payments"

/* The payments worker for pipeline_main(). */
extern const pipeline_spec_t payments_spec;

#endif
