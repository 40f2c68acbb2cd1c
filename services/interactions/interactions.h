/* interactions.h - the interactions worker's handler: contact attempts, disputes, contact
 * preferences, forbearances (and promises and plans, through paystore.h) in; tasks withdrawn and
 * planned, case events out (DESIGN.md, "Services"). The decisions are caseinteract.h's and
 * casefile.h's; this file is the edge that loads and saves cases (casestore.h) and writes the
 * interactions tables (interactstore.h) inside the runtime's batch transaction (worker.h). */
#ifndef RECOBRO_INTERACTIONS_H
#define RECOBRO_INTERACTIONS_H

#include "caseworker.h"

#define INTERACTIONS_SOURCE "recobro/interactions"

/* Fills *spec with the interactions worker's part of caseworker_new(). */
void interactions_spec(caseworker_spec_t *spec);

#endif
