/* grow.c - arrays that grow by doubling (see grow.h). */
#include "grow.h"

#include <stdlib.h>

int grow_array(void **arr, size_t *cap, size_t n, size_t size, size_t first)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : first;
    void *p = realloc(*arr, ncap * size);
    if (p == NULL)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}
