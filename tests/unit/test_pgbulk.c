/* test_pgbulk.c - the collector that turns a batch's save rows into one statement per table
 * (pgbulk.h): which commands it takes, the arrays it builds, and the second statement a
 * repeated key needs. Sending needs no server here: a connection that is not in pipeline mode
 * and not connected fails the flush, which is checked too. The statements themselves run against
 * the real stack in every case worker's integration suite. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pgbulk.h"

static const pgbulk_stmt_t order[] = {
    {"t_case", 2, true},  /* one row per case */
    {"t_log", 0, true},   /* rows never collide */
    {"t_rare", 2, false}, /* sent row by row */
};

/* A stand-in connection: the collector only compares the pointer until it flushes. */
static PGconn *const fake = (PGconn *)&order;

static void takes_only_its_statements_on_its_connection(void **state)
{
    char err[200];
    const char *p[3] = {"acme", "d1", "x"};
    (void)state;
    pgbulk_t *b = pgbulk_open(fake, order, 3);
    assert_non_null(b);
    assert_null(pgbulk_open(fake, order, 3)); /* one per thread */
    assert_int_equal(pgbulk_take(fake, "t_case", 3, p, err, sizeof(err)), 1);
    assert_int_equal(pgbulk_take(fake, "other", 3, p, err, sizeof(err)), 0);
    assert_int_equal(pgbulk_take((PGconn *)&p, "t_case", 3, p, err, sizeof(err)), 0);
    assert_int_equal(pgbulk_rows(b), 1);
    pgbulk_close(b);
    assert_int_equal(pgbulk_take(fake, "t_case", 3, p, err, sizeof(err)), 0); /* closed */
}

static void one_statement_per_table_and_one_more_per_repeated_key(void **state)
{
    char err[200], d[16];
    (void)state;
    pgbulk_t *b = pgbulk_open(fake, order, 3);
    for (int i = 0; i < 500; i++) {
        snprintf(d, sizeof(d), "d%d", i);
        const char *p[3] = {"acme", d, "v"};
        assert_int_equal(pgbulk_take(fake, "t_case", 3, p, err, sizeof(err)), 1);
        assert_int_equal(pgbulk_take(fake, "t_log", 3, p, err, sizeof(err)), 1);
        assert_int_equal(pgbulk_take(fake, "t_log", 3, p, err, sizeof(err)), 1);
    }
    assert_int_equal(pgbulk_rows(b), 1500);
    assert_int_equal(pgbulk_statements(b), 2);
    /* The same case again (two writes of one promise by one save): a second statement, after
     * the first, so the later row wins as it would one at a time. */
    const char *again[3] = {"acme", "d7", "w"};
    assert_int_equal(pgbulk_take(fake, "t_case", 3, again, err, sizeof(err)), 1);
    assert_int_equal(pgbulk_statements(b), 3);
    /* A NULL is part of a key like any value: ("acme", NULL) twice repeats. A key's k-th row
     * goes into the k-th statement: ("acme", NULL) into the first, its repeat into the second
     * (no third). */
    const char *n1[3] = {"acme", NULL, "v"};
    assert_int_equal(pgbulk_take(fake, "t_case", 3, n1, err, sizeof(err)), 1);
    assert_int_equal(pgbulk_statements(b), 3);
    assert_int_equal(pgbulk_take(fake, "t_case", 3, n1, err, sizeof(err)), 1);
    assert_int_equal(pgbulk_statements(b), 3);
    assert_int_equal(pgbulk_take(fake, "t_case", 3, n1, err, sizeof(err)), 1);
    assert_int_equal(pgbulk_statements(b), 4);
    /* Cases whose rows repeat one after the other (a case carried through several events):
     * as many statements as the most repeated key, not one per repeat. */
    for (int i = 0; i < 100; i++) {
        snprintf(d, sizeof(d), "e%d", i);
        const char *p[3] = {"acme", d, "v"};
        assert_int_equal(pgbulk_take(fake, "t_case", 3, p, err, sizeof(err)), 1);
        assert_int_equal(pgbulk_take(fake, "t_case", 3, p, err, sizeof(err)), 1);
    }
    assert_int_equal(pgbulk_statements(b), 4);
    /* Row statements: one statement per row. */
    const char *r[2] = {"acme", "d1"};
    assert_int_equal(pgbulk_take(fake, "t_rare", 2, r, err, sizeof(err)), 1);
    assert_int_equal(pgbulk_take(fake, "t_rare", 2, r, err, sizeof(err)), 1);
    assert_int_equal(pgbulk_statements(b), 6);
    pgbulk_close(b);
}

static void a_row_of_another_width_is_refused(void **state)
{
    char err[200] = "";
    const char *p[3] = {"acme", "d1", "x"};
    (void)state;
    pgbulk_t *b = pgbulk_open(fake, order, 3);
    assert_int_equal(pgbulk_take(fake, "t_case", 3, p, err, sizeof(err)), 1);
    assert_int_equal(pgbulk_take(fake, "t_case", 2, p, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "t_case"));
    assert_int_equal(pgbulk_rows(b), 1);
    pgbulk_close(b);
}

static void a_flush_that_cannot_send_fails_and_empties(void **state)
{
    char err[200] = "";
    const char *p[3] = {"acme", "d1", "x"};
    (void)state;
    PGconn *conn = PQconnectStart("host=/nonexistent-recobro-test port=1 connect_timeout=1");
    assert_non_null(conn);
    pgbulk_t *b = pgbulk_open(conn, order, 3);
    assert_int_equal(pgbulk_take(conn, "t_case", 3, p, err, sizeof(err)), 1);
    assert_int_not_equal(pgbulk_flush(b, err, sizeof(err)), 0);
    assert_true(err[0] != '\0');
    assert_int_equal(pgbulk_rows(b), 0);
    assert_int_equal(pgbulk_statements(b), 0);
    pgbulk_close(b);
    PQfinish(conn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(takes_only_its_statements_on_its_connection),
        cmocka_unit_test(one_statement_per_table_and_one_more_per_repeated_key),
        cmocka_unit_test(a_row_of_another_width_is_refused),
        cmocka_unit_test(a_flush_that_cannot_send_fails_and_empties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
