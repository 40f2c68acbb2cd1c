/* pgbinarr.h - reading a PostgreSQL array received in binary format (a column of
 * a result requested with resultFormat 1: array_send's layout), element by element, without
 * copying. The relay reads the outbox's header arrays this way, so the server sends the stored
 * bytes as they are instead of hex-encoding and aggregating every header of every row.
 *
 * The layout (PostgreSQL's array_send): int32 number of dimensions (0 for an empty array), int32
 * has-nulls flag, uint32 element type OID, per dimension int32 length and int32 lower bound, then
 * each element (in storage order, as unnest() reads them) as int32 byte length (-1: NULL) and its
 * bytes, all big-endian. An element's bytes are the type's binary form: for text and bytea, the
 * bytes themselves. */
#ifndef RECOBRO_PGBINARR_H
#define RECOBRO_PGBINARR_H

#include <stddef.h>
#include <stdint.h>

/* A validated array: borrows the buffer given to pgbinarr_open(), which must outlive it. */
typedef struct pgbinarr {
    const unsigned char *next; /* the next element's length word */
    const unsigned char *end;
    int32_t count; /* elements in the array */
    int32_t left;  /* elements not yet read */
} pgbinarr_t;

/* Checks that buf[0..len) is a well-formed array (up to PostgreSQL's 6 dimensions, read as one
 * list) whose elements fill the buffer exactly, and positions *a on its first element. An empty
 * buffer (len 0, e.g. a NULL column) reads as an empty array. Returns 0, or -1 when the bytes are
 * not such an array (then *a reads as empty). */
__attribute__((warn_unused_result)) int pgbinarr_open(pgbinarr_t *a, const void *buf, size_t len);

/* The number of elements of an opened array. */
static inline int32_t pgbinarr_count(const pgbinarr_t *a)
{
    return a->count;
}

/* Reads the next element: *p (borrowed, not NUL-terminated) and *len, or *p NULL and *len 0
 * for a NULL element. Returns 1, or 0 when every element has been read. */
int pgbinarr_next(pgbinarr_t *a, const char **p, size_t *len);

#endif
