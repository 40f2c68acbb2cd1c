/* casecarry.h - one case carried in memory from one event of a batch to the next: after an
 * event's decision and planning, casecarry_settle() turns the case file into exactly what a
 * reload from the store would give (the pipeline's next event then meets it as it would alone),
 * and keeps aside what the save still has to write. The pipeline (pipeline.c) loads each case of
 * a batch once, applies its events in the partition's order with a settle after each, and saves
 * it once.
 *
 * What a reload gives, and so what settle makes of the case (casestore.c's load):
 *  - tasks: the pending ones only, without their data and reason, those of earlier batches in
 *    their loaded order, then those planned in this batch by step and id (the load's ORDER BY
 *    created_at, step, task_id: one transaction's tasks share created_at); cancelled,
 *    suppressed and new tasks' rows go to the writes kept here (casecarry_swap() hands them to
 *    the save);
 *  - invoices by id (byte order: the databases' collation is C.UTF-8);
 *  - last_event "", principal 0 (neither is stored), charges.loaded once its row is written,
 *    no next action's fields when there is none (stored as NULLs).
 * The event's rows (cf->rows) are left alone: an event that had any ends the carry.
 * The dirty marks (invoices, parties, features, follow-up, charges) stay: the one save writes
 * the union of what the events changed, each row as the last event left it.
 *
 * An event's record (rows.record) moves to the records kept here (the save writes them in order,
 * casestore_save_carried()). A contact attempt, contact preferences or a dispute opened carry:
 * what they changed in the case (contact state, features) is what a reload of the tables shows.
 * A forbearance granted or ended does not: a reload's forbearance_from/until are the latest
 * granted, memory's the one in force (forbear_pick()).
 *
 * Where carrying is not exact, settle says so (CASECARRY_RELOAD) and the pipeline saves the case
 * and reloads it before its next event: the event named rows (payments, promises, plans,
 * disputes) or reported on a task, over-payment credit was used, the parties are not complete
 * enough to be saved, or a task id was planned twice. Pure: no I/O. */
#ifndef RECOBRO_CASECARRY_H
#define RECOBRO_CASECARRY_H

#include <stdbool.h>
#include <stddef.h>

#include "casefile.h"

/* casecarry_settle(): the case must be saved and reloaded before its next event. */
#define CASECARRY_RELOAD 1

/* What the save of a carried case still has to write besides its state: task rows, and the
 * events' own rows that carry exactly (records: contact_log, contact_preference, dispute
 * opened, forbearance granted or ended; casefile.h's rows.record). */
typedef struct casecarry {
    casefile_task_t *writes; /* owned (and their data): inserts and status updates, in order */
    size_t n_writes, cap_writes;
    size_t n_old; /* cf->tasks[0..n_old) were loaded before the batch, in the load's order */
    /* Each event's record, in order: only the record's fields are set (record, event_data,
     * event_source, event_id, ended_*; borrowed from the events, valid for the batch). */
    casefile_rows_t *recs;
    size_t n_recs, cap_recs;
} casecarry_t;

#define CASECARRY_INIT                                                                             \
    {                                                                                              \
        NULL, 0, 0, 0, NULL, 0, 0                                                                  \
    }

/* Starts carrying *cf, just loaded: its last `batch_tasks` tasks were planned earlier in the same
 * transaction (a case reloaded in the batch: they share its created_at), the others before. */
void casecarry_begin(casecarry_t *cc, const casefile_t *cf, size_t batch_tasks);

/* This batch's pending tasks in the settled *cf (what casecarry_begin() takes after a reload). */
size_t casecarry_batch_tasks(const casecarry_t *cc, const casefile_t *cf);

/* After the writes (and records) were saved: frees them (and their data); the carry goes on. */
void casecarry_saved(casecarry_t *cc);

/* After one applied event (decision and planning done): moves the task rows to write into *cc and
 * makes *cf what a reload would give (see the top of this file). Returns 0; CASECARRY_RELOAD
 * when the next event must meet a reloaded case instead (*cf and *cc are settled all the same and
 * can be saved); -1 when out of memory (*cf and *cc are then only fit for the save). */
__attribute__((warn_unused_result)) int casecarry_settle(casefile_t *cf, casecarry_t *cc);

/* Swaps cf's task list with the writes kept in *cc: call it before the save (the save then
 * writes exactly the kept rows) and again after it. */
void casecarry_swap(casefile_t *cf, casecarry_t *cc);

/* Frees the writes kept (and their data). NULL is a no-op. */
void casecarry_clear(casecarry_t *cc);

/* Compares two cases field by field as a reload shows them (the dirty marks and the event's rows
 * aside). Returns 0 when equal, else 1 with the first different field named in `what`. */
int casecarry_diff(const casefile_t *a, const casefile_t *b, char *what, size_t whatlen);

#endif
