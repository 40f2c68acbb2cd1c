/* overdue.h - the overdue worker: invoice events in, cases, tasks and case events out
 * (DESIGN.md, "Services"). The decisions are casefile.h's; the frame around them (load, plan,
 * save, outbox, cache) is caseworker.h's; this is the part only the overdue worker does. */
#ifndef RECOBRO_OVERDUE_H
#define RECOBRO_OVERDUE_H

#include "caseworker.h"

#define OVERDUE_SOURCE "recobro/overdue"

/* Fills *spec with the overdue worker's part of caseworker_new(). */
void overdue_spec(caseworker_spec_t *spec);

#endif
