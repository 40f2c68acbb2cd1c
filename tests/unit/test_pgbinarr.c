/* test_pgbinarr.c - reading arrays in PostgreSQL's binary format (pgbinarr.h): the layouts the
 * server sends (empty, one and two dimensions, NULL and empty elements) read element by element,
 * and every malformed buffer refused instead of read past its end. The server's own bytes are
 * checked against the real stack by it.relay_and_migrate (headers on the wire). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pgbinarr.h"

/* A buffer under construction: big-endian words and raw bytes. */
typedef struct buf {
    unsigned char b[256];
    size_t n;
} buf_t;

static void put32(buf_t *b, int32_t v)
{
    uint32_t u = (uint32_t)v;
    unsigned char w[4] = {(unsigned char)(u >> 24), (unsigned char)(u >> 16),
                          (unsigned char)(u >> 8), (unsigned char)u};
    memcpy(b->b + b->n, w, 4);
    b->n += 4;
}

static void put_elem(buf_t *b, const char *s)
{
    if (s == NULL) {
        put32(b, -1);
        return;
    }
    put32(b, (int32_t)strlen(s));
    memcpy(b->b + b->n, s, strlen(s));
    b->n += strlen(s);
}

/* The header of a one-dimensional text[] of n elements, as array_send writes it. */
static void put_head1(buf_t *b, int32_t n)
{
    put32(b, 1);  /* ndim */
    put32(b, 0);  /* has nulls */
    put32(b, 25); /* text */
    put32(b, n);
    put32(b, 1); /* lower bound */
}

static void expect_next(pgbinarr_t *a, const char *want)
{
    const char *p;
    size_t len;
    assert_int_equal(pgbinarr_next(a, &p, &len), 1);
    if (want == NULL) {
        assert_null(p);
        assert_int_equal(len, 0);
    } else {
        assert_int_equal(len, strlen(want));
        assert_memory_equal(p, want, len);
    }
}

static void reads_the_elements_in_order(void **state)
{
    buf_t b = {.n = 0};
    pgbinarr_t a;
    const char *p;
    size_t len;
    (void)state;
    put_head1(&b, 4);
    put_elem(&b, "content-type");
    put_elem(&b, "");
    put_elem(&b, NULL);
    put_elem(&b, "a");
    assert_int_equal(pgbinarr_open(&a, b.b, b.n), 0);
    assert_int_equal(pgbinarr_count(&a), 4);
    expect_next(&a, "content-type");
    expect_next(&a, "");
    expect_next(&a, NULL);
    expect_next(&a, "a");
    assert_int_equal(pgbinarr_next(&a, &p, &len), 0);
    assert_int_equal(pgbinarr_next(&a, &p, &len), 0);
}

static void an_empty_array_and_an_empty_buffer_have_no_elements(void **state)
{
    buf_t b = {.n = 0};
    pgbinarr_t a;
    const char *p;
    size_t len;
    (void)state;
    put32(&b, 0);
    put32(&b, 0);
    put32(&b, 17); /* bytea */
    assert_int_equal(pgbinarr_open(&a, b.b, b.n), 0);
    assert_int_equal(pgbinarr_count(&a), 0);
    assert_int_equal(pgbinarr_next(&a, &p, &len), 0);
    assert_int_equal(pgbinarr_open(&a, NULL, 0), 0); /* a NULL column */
    assert_int_equal(pgbinarr_next(&a, &p, &len), 0);
}

static void two_dimensions_read_as_one_list(void **state)
{
    buf_t b = {.n = 0};
    pgbinarr_t a;
    (void)state;
    put32(&b, 2);
    put32(&b, 0);
    put32(&b, 25);
    put32(&b, 2); /* 2 x 1 */
    put32(&b, 1);
    put32(&b, 1);
    put32(&b, 1);
    put_elem(&b, "x");
    put_elem(&b, "yz");
    assert_int_equal(pgbinarr_open(&a, b.b, b.n), 0);
    assert_int_equal(pgbinarr_count(&a), 2);
    expect_next(&a, "x");
    expect_next(&a, "yz");
}

/* Opens buf[0..n) expecting a refusal, and checks that the array then reads as empty. */
static void expect_refused(const buf_t *b, size_t n)
{
    pgbinarr_t a;
    const char *p;
    size_t len;
    assert_int_equal(pgbinarr_open(&a, b->b, n), -1);
    assert_int_equal(pgbinarr_count(&a), 0);
    assert_int_equal(pgbinarr_next(&a, &p, &len), 0);
}

static void a_truncated_buffer_is_refused_at_every_length(void **state)
{
    buf_t b = {.n = 0};
    (void)state;
    put_head1(&b, 2);
    put_elem(&b, "abc");
    put_elem(&b, "de");
    for (size_t n = 1; n < b.n; n++)
        expect_refused(&b, n);
}

static void trailing_bytes_are_refused(void **state)
{
    buf_t b = {.n = 0};
    (void)state;
    put_head1(&b, 1);
    put_elem(&b, "abc");
    b.b[b.n++] = 'x';
    expect_refused(&b, b.n);
    b.n = 0;
    put32(&b, 0); /* empty, then junk */
    put32(&b, 0);
    put32(&b, 25);
    put32(&b, 7);
    expect_refused(&b, b.n);
}

static void bad_counts_and_lengths_are_refused(void **state)
{
    buf_t b = {.n = 0};
    (void)state;
    put_head1(&b, -1); /* negative dimension */
    expect_refused(&b, b.n);
    b.n = 0;
    put_head1(&b, 1);
    put32(&b, -2); /* element length below -1 */
    expect_refused(&b, b.n);
    b.n = 0;
    put_head1(&b, 1);
    put32(&b, INT32_MAX); /* element longer than the buffer */
    expect_refused(&b, b.n);
    b.n = 0;
    put_head1(&b, INT32_MAX); /* more elements than could fit */
    put_elem(&b, "a");
    expect_refused(&b, b.n);
    b.n = 0;
    put32(&b, 7); /* more dimensions than PostgreSQL allows */
    put32(&b, 0);
    put32(&b, 25);
    for (int d = 0; d < 7; d++) {
        put32(&b, 1);
        put32(&b, 1);
    }
    put_elem(&b, "a");
    expect_refused(&b, b.n);
    b.n = 0;
    put32(&b, -1); /* negative number of dimensions */
    put32(&b, 0);
    put32(&b, 25);
    expect_refused(&b, b.n);
}

static void dimensions_whose_product_overflows_are_refused(void **state)
{
    buf_t b = {.n = 0};
    (void)state;
    put32(&b, 2);
    put32(&b, 0);
    put32(&b, 25);
    put32(&b, 65536);
    put32(&b, 1);
    put32(&b, 65536); /* 2^32 elements: 0 in 32 bits */
    put32(&b, 1);
    expect_refused(&b, b.n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_the_elements_in_order),
        cmocka_unit_test(an_empty_array_and_an_empty_buffer_have_no_elements),
        cmocka_unit_test(two_dimensions_read_as_one_list),
        cmocka_unit_test(a_truncated_buffer_is_refused_at_every_length),
        cmocka_unit_test(trailing_bytes_are_refused),
        cmocka_unit_test(bad_counts_and_lengths_are_refused),
        cmocka_unit_test(dimensions_whose_product_overflows_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
