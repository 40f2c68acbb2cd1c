/* scheduler.h - recobro-scheduler: every RECOBRO_SCHEDULER_PERIOD_MS, one due-work sweep
 * (sweep.h) as of the clock, until SIGTERM/SIGINT. Several replicas may run: the sweep takes each
 * due case with `FOR UPDATE SKIP LOCKED` and task ids are stable, so none acts twice.
 *
 * /metrics: recobro_scheduler_sweeps_total{result}, recobro_scheduler_cases_swept_total,
 * recobro_scheduler_tasks_released_total, recobro_scheduler_promises_settled_total,
 * recobro_scheduler_sweep_seconds, plus the tasks created/deferred/suppressed by the plannings;
 * /readyz: connected to PostgreSQL with an active policy. */
#ifndef RECOBRO_SCHEDULER_H
#define RECOBRO_SCHEDULER_H

#include "config.h"

/* How often, at most, a newer active policy is looked for. */
#define SCHEDULER_POLICY_CHECK_US (3 * 1000000LL)

/* Runs until SIGTERM/SIGINT. Returns the process exit status (0 after a clean stop, 1 when it
 * could not start: the reason is printed in one line). */
int scheduler_run(const config_t *cfg);

#endif
