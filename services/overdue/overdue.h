/* overdue.h - the overdue worker: invoice events in, cases, tasks and case events out
 * (DESIGN.md, "Services"). Its handler table says which decision (casedecide.h) each invoice
 * event type runs; the case pipeline (pipeline.h) does the rest. */
#ifndef RECOBRO_OVERDUE_H
#define RECOBRO_OVERDUE_H

#include "pipeline.h"

#define OVERDUE_SOURCE "recobro/overdue"

/* The overdue worker for pipeline_main(). */
extern const pipeline_spec_t overdue_spec;

#endif
