/* escalation.c - a segment change that does not restart escalation (see escalation.h). */
#include "escalation.h"

#include <stdio.h>

#include "calendar.h"
#include "contact.h"
#include "strategy.h"

int escalation_carry(casefile_t *cf, const policy_t *policy, const segment_result_t *r,
                     int64_t prev_since, int64_t now)
{
    const strategy_t *s = policy_strategy_for(policy, r->segment);
    int32_t spent;
    int64_t today, start;
    char buf[16];

    if (s == NULL || s->carry_days <= 0 || prev_since <= 0 || r->segment == SEGMENT_RESOLVED ||
        r->segment == SEGMENT_DISPUTED || r->variant_index >= s->nvariants ||
        cal_local_days_between(cf->timezone, prev_since, now, &spent) < 0 || spent <= 0)
        return 0;
    const strategy_variant_t *v = &s->variants[r->variant_index];
    int carried = spent < s->carry_days ? spent : s->carry_days;
    if (v->repeat_every_days <= 0 && v->steps[v->nsteps - 1].day < carried)
        return 0; /* no step for the days already spent: the ladder starts again */
    if (cal_local_day(cf->timezone, now, &today) < 0 ||
        contact_local_day_start(cf->timezone, cal_format_day(today - carried, buf, sizeof(buf)),
                                &start) < 0)
        return 0;
    int done = 0;
    while ((size_t)done < v->nsteps && v->steps[done].day < carried)
        done++;
    cf->segment_since = start;
    cf->last_step = done;
    return carried;
}
