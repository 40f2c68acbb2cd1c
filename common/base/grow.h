/* grow.h - arrays that grow by doubling: the one place that makes room for one more element
 * (a batch's messages, a case's invoices and tasks, a pipeline's queued statements...). */
#ifndef RECOBRO_GROW_H
#define RECOBRO_GROW_H

#include <stddef.h>

/* Makes room in *arr (`n` elements of `size` bytes in use, room for *cap) for one more: when
 * full, reallocates it to twice the capacity (`first` elements the first time). Returns 0, or -1
 * when out of memory, with *arr and *cap as they were (the caller still frees *arr). */
__attribute__((warn_unused_result)) int grow_array(void **arr, size_t *cap, size_t n, size_t size,
                                                   size_t first);

/* grow_array() on a typed array `arr` with its capacity `cap`: GROW(p->items, p->cap, p->n, 8). */
#define GROW(arr, cap, n, first) grow_array((void **)&(arr), &(cap), (n), sizeof(*(arr)), (first))

#endif
