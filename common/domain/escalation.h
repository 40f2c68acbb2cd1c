/* escalation.h - a segment change that does not restart escalation (version 2).
 *
 * A strategy may set `carry_days` (policy, per strategy; 0 or absent: every entry restarts the
 * ladder at day 0). When a case that was already segmented enters such a segment, the days it
 * spent in its previous segment, up to carry_days, count as days already spent on the new
 * ladder, when that ladder has a step for them (its last step is on or after that day, or it
 * repeats): the entry's day 0 is moved back by those days (segment_since is the start of that
 * local day) and the ladder's position is after the steps before that day, so the next step is
 * the one for the days already spent. An evasive debtor who becomes chronic after 20 days keeps
 * being escalated instead of getting the day-0 letter again. The first segmentation, and
 * entries into disputed or resolved, always start at day 0. Pure. */
#ifndef RECOBRO_ESCALATION_H
#define RECOBRO_ESCALATION_H

#include <stdint.h>

#include "casefile.h"
#include "policy.h"

/* Applies carry_days to the entry just made (cf->segment, its segment_since = now and
 * last_step = 0), given the previous entry's start `prev_since`. Returns the days carried (0:
 * none). */
int escalation_carry(casefile_t *cf, const policy_t *policy, const segment_result_t *r,
                     int64_t prev_since, int64_t now);

#endif
