/* nextdue.c - when the scheduler must look at a case again (see nextdue.h). */
#include "nextdue.h"

#include "calendar.h"

int nextdue_of(const casefile_t *cf, int64_t *at)
{
    if (!cf->segmented || cf->status == CASEFILE_RESOLVED || cf->debtor_zone[0] == '\0')
        return 0;
    return cal_next_local_midnight(cf->debtor_zone, cf->updated_at, at) < 0 ? -1 : 1;
}
