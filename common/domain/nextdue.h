/* nextdue.h - when the scheduler must look at a case again (debt_case.next_due_at), decided from
 * the case file as it is saved (DOMAIN.md, "Constant, active management").
 *
 * The rule: a segmented case that is not resolved is due again at the start of the next local
 * day, in its debtor's zone, after its last planning (cf->updated_at): days past due, the ladder's
 * day, promise and instalment due dates plus grace and forbearance ends all move at local
 * midnight, so one look per local day finds each on the day it happens and nothing in between.
 * A case that is not complete (never segmented) or is resolved is never due.
 *
 * The zone is the one the debtor row holds (cf->debtor_zone), which is what the scheduler's day
 * has always followed (migration 0005's trigger, which this replaces from 0013 on): the debtor's
 * one zone, the same planning uses, as the save writes it there first (casefile_parties_due()), and
 * local midnight is read exactly as PostgreSQL's `AT TIME ZONE` reads it (cal_local_to_instant()),
 * so the value is the one that trigger wrote, to the second. */
#ifndef RECOBRO_NEXTDUE_H
#define RECOBRO_NEXTDUE_H

#include <stdint.h>

#include "casefile.h"

/* When case *cf (as it is about to be saved) is due again. Returns 1 with *at (Unix seconds),
 * 0 when it is never due (not segmented, resolved, or its debtor's zone is not known yet: *at
 * untouched), or -1 when the debtor's zone is not one the tz database knows. */
__attribute__((warn_unused_result)) int nextdue_of(const casefile_t *cf, int64_t *at);

#endif
