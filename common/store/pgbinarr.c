/* pgbinarr.c - reading PostgreSQL arrays received in binary format (see pgbinarr.h). */
#include "pgbinarr.h"

static int32_t be32(const unsigned char *p)
{
    return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
                     (uint32_t)p[3]);
}

/* Walks the `count` elements from p to end, checking that each lies inside the buffer and that
 * they fill it exactly. Returns 0 or -1. */
static int check_elements(const unsigned char *p, const unsigned char *end, int32_t count)
{
    for (int32_t i = 0; i < count; i++) {
        if (end - p < 4)
            return -1;
        int32_t n = be32(p);
        p += 4;
        if (n < -1 || (n > 0 && end - p < n))
            return -1;
        if (n > 0)
            p += n;
    }
    return p == end ? 0 : -1;
}

/* The element count of `ndim` dimensions whose (length, lower bound) pairs start at p, or -1
 * when a length is negative or the count could not fit in `room` bytes (4 at least each). */
static int32_t element_count(const unsigned char *p, int32_t ndim, size_t room)
{
    int64_t count = 1;

    for (int32_t d = 0; d < ndim; d++) {
        int32_t n = be32(p + 8 * d);
        if (n < 0)
            return -1;
        count *= n;
        if (count > (int64_t)(room / 4))
            return -1;
    }
    return (int32_t)count;
}

int pgbinarr_open(pgbinarr_t *a, const void *buf, size_t len)
{
    const unsigned char *p = buf, *end = p + len;

    *a = (pgbinarr_t){NULL, NULL, 0, 0};
    if (len == 0)
        return 0;
    if (len < 12)
        return -1;
    int32_t ndim = be32(p);
    if (ndim == 0)
        return len == 12 ? 0 : -1;
    /* PostgreSQL allows 6 dimensions (MAXDIM); elements are read in storage order, as unnest()
     * flattens them. */
    if (ndim < 0 || ndim > 6 || len < 12 + 8 * (size_t)ndim)
        return -1;
    const unsigned char *first = p + 12 + 8 * ndim;
    int32_t count = element_count(p + 12, ndim, (size_t)(end - first));
    if (count < 0 || check_elements(first, end, count) < 0)
        return -1;
    *a = (pgbinarr_t){first, end, count, count};
    return 0;
}

int pgbinarr_next(pgbinarr_t *a, const char **p, size_t *len)
{
    if (a->left <= 0)
        return 0;
    int32_t n = be32(a->next);
    a->next += 4;
    a->left--;
    if (n < 0) {
        *p = NULL;
        *len = 0;
        return 1;
    }
    *p = (const char *)a->next;
    *len = (size_t)n;
    a->next += n;
    return 1;
}
