/* interactions.h - the interactions worker's handler: contact attempts, disputes, contact
 * preferences, forbearances (and promises and plans, through paystore.h) in; tasks withdrawn and
 * planned, case events out (DESIGN.md, "Services"). The decisions are caseinteract.h's and
 * casefile.h's; this file is the edge that loads and saves cases (casestore.h) and writes the
 * interactions tables (interactstore.h) inside the runtime's batch transaction (worker.h). */
#ifndef RECOBRO_INTERACTIONS_H
#define RECOBRO_INTERACTIONS_H

#include <stddef.h>

#include "config.h"
#include "worker.h"

/* How often, at most, apply() checks whether a newer policy version was loaded. */
#define INTERACTIONS_POLICY_CHECK_US (3 * 1000000LL)

/* The CloudEvents source of what this service emits through paystore.h. */
#define INTERACTIONS_SOURCE "recobro/interactions"

typedef struct interactions interactions_t;

/* Prepares the worker: connects to PostgreSQL once to read the active policy (importing
 * RECOBRO_POLICY_FILE into an empty policy table first, like the overdue worker). Returns a new
 * interactions_t (interactions_free() it), or NULL with a one-line reason in err. */
interactions_t *interactions_new(const config_t *cfg, char *err, size_t errlen);
void interactions_free(interactions_t *it);

/* Fills *h with the handler for wk_run(); `it` is borrowed and must outlive the run. */
void interactions_handler(interactions_t *it, wk_handler_t *h);

#endif
