/* stats.h - the statistics of the report (`recobroctl report`): a share with its 95% confidence
 * interval, and two shares compared (difference, its 95% interval, a two-proportion z-test).
 * Shares of cases and contacts are not money: doubles are fine here; money never comes here. */
#ifndef RECOBRO_STATS_H
#define RECOBRO_STATS_H

#include <stdbool.h>

/* The normal quantile of a two-sided 95% interval. */
#define STATS_Z95 1.959963984540054

/* A closed interval [lo, hi] within [0, 1] (for a difference, within [-1, 1]). */
typedef struct stats_interval {
    double lo, hi;
} stats_interval_t;

/* The Wilson score 95% interval of k successes in n trials (0 <= k <= n). It stays inside [0, 1]
 * and is sound for small n and for shares near 0 or 1, unlike the plain normal interval. n <= 0:
 * the whole [0, 1] (nothing is known). */
stats_interval_t stats_wilson(long k, long n);

/* Share b = kb/nb compared with share a = ka/na (a: the baseline, e.g. the champion or the
 * contacts without a technique). */
typedef struct stats_compare {
    double diff;         /* b - a */
    stats_interval_t ci; /* 95% interval of the difference (unpooled normal, Wald) */
    double z;            /* pooled two-proportion z statistic; 0 when undefined */
    double p_value;      /* two-sided; 1 when undefined (both shares 0 or both 1) */
    bool enough;         /* both na and nb >= the minimum sample */
} stats_compare_t;

/* Compares kb/nb with ka/na (0 <= k <= n). `min_n`: the smallest sample either side needs for
 * the comparison to be worth reading (enough is false below it; the figures are still filled
 * when both n > 0). Returns 0, or -1 when na or nb is 0 (nothing to compare; *out zeroed). */
int stats_compare(long ka, long na, long kb, long nb, long min_n, stats_compare_t *out);

#endif
