/* overdue.h - the overdue worker's handler: invoice events in, cases, tasks and case events out
 * (DESIGN.md, "Services"). The decisions are casefile.h's; this file is the edge that loads and
 * saves cases (casestore.h) inside the runtime's batch transaction (worker.h). */
#ifndef RECOBRO_OVERDUE_H
#define RECOBRO_OVERDUE_H

#include <stddef.h>

#include "config.h"
#include "worker.h"

/* How often, at most, apply() checks whether a newer policy version was loaded. */
#define OVERDUE_POLICY_CHECK_US (3 * 1000000LL)

typedef struct overdue overdue_t;

/* Prepares the worker: connects to PostgreSQL once to read the active policy; when the policy
 * table is empty and RECOBRO_POLICY_FILE is set, loads that file into it first. Returns a new
 * overdue_t (overdue_free() it), or NULL with a one-line reason in err (no policy anywhere, a
 * refused policy file, the database unreachable or not migrated). */
overdue_t *overdue_new(const config_t *cfg, char *err, size_t errlen);
void overdue_free(overdue_t *od);

/* Fills *h with the handler for wk_run(); `od` is borrowed and must outlive the run. */
void overdue_handler(overdue_t *od, wk_handler_t *h);

#endif
