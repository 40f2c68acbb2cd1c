/* interactions.h - the interactions worker: contact attempts, promises, plans, disputes, contact
 * preferences, forbearances in; tasks withdrawn and planned, case events out (DESIGN.md,
 * "Services"). Its handler table says which rows each interaction loads and which decision
 * (casedecide.h, over caseinteract.h and casepay.h) it runs; the case pipeline (pipeline.h)
 * loads, saves (the interactions tables through interactstore.h) and emits. */
#ifndef RECOBRO_INTERACTIONS_H
#define RECOBRO_INTERACTIONS_H

#include "pipeline.h"

#define INTERACTIONS_SOURCE "recobro/interactions"

/* The interactions worker for pipeline_main(). */
extern const pipeline_spec_t interactions_spec;

#endif
