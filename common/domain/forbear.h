/* forbear.h - every forbearance of a case, the one in force, and its early end (version 2).
 *
 * A case keeps every forbearance granted (casefile_t.forbearances: [{"from", "until"}], dates
 * YYYY-MM-DD, until already shortened by an early end), not just the latest one, and planning
 * obeys the one in force at its `now`: the period whose [start of local day from, start of the
 * day after until) holds now (the one ending last when several overlap), else the next one to
 * start, else the one that ended last (nothing in force: it only shows in the cache's
 * paused_until while in the future). So a back-dated forbearance that has already ended never
 * replaces one in force (the bug of issue 13), and a future one waits its turn.
 *
 * `forbearance.ended` {on (date), reason?, agent_id?} ends early the forbearance in force at the
 * event (or, none in force, the next one to start): collection may resume from the start of
 * local day `on`; `on` on or before its first day cancels it whole. Without a forbearance in
 * force or ahead it has no effect. Pure. */
#ifndef RECOBRO_FORBEAR_H
#define RECOBRO_FORBEAR_H

#include <jansson.h>
#include <stdint.h>

#include "casefile.h"

/* Replaces the case's periods with `arr` (borrowed, [{"from", "until"}], as loaded; NULL or not
 * an array: none). Returns 0 or -1 (out of memory). */
__attribute__((warn_unused_result)) int forbear_load(casefile_t *cf, const json_t *arr);

/* Adds the period [from, until] (dates, checked by the caller) and picks the one in force at
 * `now`. Returns 0 or -1 (out of memory). */
__attribute__((warn_unused_result)) int forbear_add(casefile_t *cf, const char *from,
                                                    const char *until, int64_t now);

/* Sets cf->forbearance_from/until to the period planning obeys at `now` (see above); "" when
 * the case has none or no zone. */
void forbear_pick(casefile_t *cf, int64_t now);

/* Ends early the forbearance in force at `now` (or the next one) so that collection resumes on
 * local day `on`, and picks again. Fills ended_from/ended_until (11 bytes each) with the period
 * it changed, as stored (before the change), or "" when there was none. Returns 0, 1 when there
 * was none, or -1 (a bad date, out of memory). */
__attribute__((warn_unused_result)) int forbear_end(casefile_t *cf, const char *on, int64_t now,
                                                    char *ended_from, char *ended_until);

#endif
