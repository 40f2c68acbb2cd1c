/* stats.c - shares, their intervals and two-proportion tests (see stats.h). */
#include "stats.h"

#include <math.h>
#include <string.h>

static double clamp(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

stats_interval_t stats_wilson(long k, long n)
{
    const double z = STATS_Z95, z2 = z * z;

    if (n <= 0)
        return (stats_interval_t){0.0, 1.0};
    double p = (double)k / (double)n, nn = (double)n;
    double centre = (p + z2 / (2 * nn)) / (1 + z2 / nn);
    double half = z * sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn)) / (1 + z2 / nn);
    return (stats_interval_t){clamp(centre - half, 0.0, 1.0), clamp(centre + half, 0.0, 1.0)};
}

int stats_compare(long ka, long na, long kb, long nb, long min_n, stats_compare_t *out)
{
    memset(out, 0, sizeof(*out));
    out->p_value = 1.0;
    if (na <= 0 || nb <= 0)
        return -1;
    double pa = (double)ka / (double)na, pb = (double)kb / (double)nb;
    double se = sqrt(pa * (1 - pa) / (double)na + pb * (1 - pb) / (double)nb);
    out->diff = pb - pa;
    out->ci = (stats_interval_t){clamp(out->diff - STATS_Z95 * se, -1.0, 1.0),
                                 clamp(out->diff + STATS_Z95 * se, -1.0, 1.0)};
    /* Under the null hypothesis both shares are the pooled one. */
    double pool = (double)(ka + kb) / (double)(na + nb);
    double se0 = sqrt(pool * (1 - pool) * (1.0 / (double)na + 1.0 / (double)nb));
    if (se0 > 0) {
        out->z = out->diff / se0;
        out->p_value = erfc(fabs(out->z) / sqrt(2.0));
    }
    out->enough = na >= min_n && nb >= min_n;
    return 0;
}
