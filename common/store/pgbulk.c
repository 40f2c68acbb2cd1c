/* pgbulk.c - gathering a batch's save commands into one statement per table (see pgbulk.h). */
#include "pgbulk.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

/* The rows of a set statement that go out in one statement: one array per parameter. */
typedef struct chunk {
    pgarr_t *cols;
    size_t rows;
    GHashTable *keys; /* the keys of its rows (owned strings); NULL when nkey is 0 */
    struct chunk *next;
} chunk_t;

/* What was gathered for one statement of the order. */
typedef struct slot {
    const pgbulk_stmt_t *st;
    int nparams;           /* set by the first row; -1 before */
    chunk_t *first, *last; /* set statements */
    char ***rows;          /* row statements: each row nparams strings (NULL for NULL) */
    size_t nrows, caprows;
} slot_t;

struct pgbulk {
    PGconn *conn; /* borrowed */
    slot_t *slots;
    size_t n;
    size_t total; /* rows gathered */
};

/* The thread's open collector: pgpipe_cmd() asks it about every command. */
static _Thread_local pgbulk_t *active;

pgbulk_t *pgbulk_open(PGconn *conn, const pgbulk_stmt_t *order, size_t n)
{
    if (active != NULL)
        return NULL;
    pgbulk_t *b = calloc(1, sizeof(*b));
    if (b == NULL || (b->slots = calloc(n ? n : 1, sizeof(*b->slots))) == NULL) {
        free(b);
        return NULL;
    }
    b->conn = conn;
    b->n = n;
    for (size_t i = 0; i < n; i++)
        b->slots[i] = (slot_t){&order[i], -1, NULL, NULL, NULL, 0, 0};
    active = b;
    return b;
}

static void chunk_free(chunk_t *c, int nparams)
{
    for (int k = 0; c->cols != NULL && k < nparams; k++)
        pgarr_free(&c->cols[k]);
    free(c->cols);
    if (c->keys != NULL)
        g_hash_table_destroy(c->keys);
    free(c);
}

/* Empties a slot (it keeps its statement and its number of parameters). */
static void slot_reset(slot_t *s)
{
    while (s->first != NULL) {
        chunk_t *next = s->first->next;
        chunk_free(s->first, s->nparams);
        s->first = next;
    }
    s->last = NULL;
    for (size_t r = 0; r < s->nrows; r++) {
        for (int k = 0; k < s->nparams; k++)
            free(s->rows[r][k]);
        free(s->rows[r]);
    }
    s->nrows = 0;
}

void pgbulk_close(pgbulk_t *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->n; i++) {
        slot_reset(&b->slots[i]);
        free(b->slots[i].rows);
    }
    if (active == b)
        active = NULL;
    free(b->slots);
    free(b);
}

size_t pgbulk_rows(const pgbulk_t *b)
{
    return b->total;
}

size_t pgbulk_statements(const pgbulk_t *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++) {
        for (const chunk_t *c = b->slots[i].first; c != NULL; c = c->next)
            n++;
        n += b->slots[i].nrows;
    }
    return n;
}

static chunk_t *chunk_new(int nparams, int nkey)
{
    chunk_t *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->cols = calloc((size_t)nparams, sizeof(*c->cols))) == NULL) {
        free(c);
        return NULL;
    }
    for (int k = 0; k < nparams; k++)
        pgarr_init(&c->cols[k]);
    if (nkey > 0)
        c->keys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    return c;
}

/* The row's key: its first nkey parameters, separated by a byte no id holds. */
static char *row_key(int nkey, const char *const *params)
{
    GString *k = g_string_new(NULL);
    for (int i = 0; i < nkey; i++) {
        g_string_append(k, params[i] != NULL ? params[i] : "\x1e");
        g_string_append_c(k, '\x1f');
    }
    return g_string_free(k, FALSE);
}

/* The chunk a row with `key` goes into: the first one after those holding the key already (a
 * key's k-th row goes into the k-th chunk, so a case's repeated rows, gathered one after the
 * other, take as many statements as the most any key repeats), or NULL when a new chunk is
 * needed. A NULL key (nkey 0) never repeats: the last chunk. */
static chunk_t *chunk_for(const slot_t *s, const char *key)
{
    chunk_t *c = key != NULL ? s->first : s->last;

    while (c != NULL && key != NULL && g_hash_table_contains(c->keys, key))
        c = c->next;
    return c;
}

/* A set statement's row into its chunk (chunk_for()), a new one at the end when none. */
static int take_set(slot_t *s, const char *const *params)
{
    int nkey = s->st->nkey < s->nparams ? s->st->nkey : s->nparams;
    char *key = nkey > 0 ? row_key(nkey, params) : NULL;
    chunk_t *c = chunk_for(s, key);

    if (c == NULL) {
        if ((c = chunk_new(s->nparams, nkey)) == NULL) {
            g_free(key);
            return -1;
        }
        if (s->last != NULL)
            s->last->next = c;
        else
            s->first = c;
        s->last = c;
    }
    if (key != NULL)
        g_hash_table_add(c->keys, key);
    for (int k = 0; k < s->nparams; k++)
        pgarr_add_cstr(&c->cols[k], params[k]);
    c->rows++;
    return 0;
}

/* A row statement's row, copied, at the end of its queue. */
static int take_row(slot_t *s, const char *const *params)
{
    if (s->nrows == s->caprows) {
        size_t cap = s->caprows ? 2 * s->caprows : 16;
        char ***rows = realloc(s->rows, cap * sizeof(*rows));
        if (rows == NULL)
            return -1;
        s->rows = rows;
        s->caprows = cap;
    }
    char **row = calloc((size_t)s->nparams, sizeof(*row));
    if (row == NULL)
        return -1;
    for (int k = 0; k < s->nparams; k++) {
        if (params[k] != NULL && (row[k] = strdup(params[k])) == NULL) {
            for (int j = 0; j < k; j++)
                free(row[j]);
            free(row);
            return -1;
        }
    }
    s->rows[s->nrows++] = row;
    return 0;
}

int pgbulk_take(PGconn *conn, const char *name, int n, const char *const *params, char *err,
                size_t errlen)
{
    pgbulk_t *b = active;
    slot_t *s = NULL;

    if (b == NULL || b->conn != conn)
        return 0;
    for (size_t i = 0; i < b->n && s == NULL; i++)
        if (strcmp(b->slots[i].st->name, name) == 0)
            s = &b->slots[i];
    if (s == NULL)
        return 0;
    if (s->nparams < 0)
        s->nparams = n;
    if (n != s->nparams) {
        snprintf(err, errlen, "%s: %d parameters, %d before", name, n, s->nparams);
        return -1;
    }
    if ((s->st->set ? take_set(s, params) : take_row(s, params)) < 0) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    b->total++;
    return 1;
}

/* Sends one statement: queued in pipeline mode, run at once otherwise. */
static int send_one(PGconn *conn, const char *name, int n, const char *const *params, char *err,
                    size_t errlen)
{
    if (PQpipelineStatus(conn) == PQ_PIPELINE_OFF)
        return pg_run_cmd(conn, name, n, params, err, errlen);
    if (PQsendQueryPrepared(conn, name, n, params, NULL, NULL, 0) != 1)
        return pg_fail(conn, NULL, name, err, errlen);
    return 0;
}

static int flush_slot(PGconn *conn, slot_t *s, char *err, size_t errlen)
{
    const char *params[128];
    int rc = 0;

    if (s->nparams > (int)(sizeof(params) / sizeof(params[0]))) {
        snprintf(err, errlen, "%s: too many parameters", s->st->name);
        return -1;
    }
    for (chunk_t *c = s->first; c != NULL && rc == 0; c = c->next) {
        for (int k = 0; k < s->nparams && rc == 0; k++)
            if ((params[k] = pgarr_str(&c->cols[k])) == NULL) {
                snprintf(err, errlen, "%s: out of memory", s->st->name);
                rc = -1;
            }
        if (rc == 0)
            rc = send_one(conn, s->st->name, s->nparams, params, err, errlen);
    }
    for (size_t r = 0; r < s->nrows && rc == 0; r++)
        rc = send_one(conn, s->st->name, s->nparams, (const char *const *)s->rows[r], err, errlen);
    slot_reset(s);
    return rc;
}

int pgbulk_flush(pgbulk_t *b, char *err, size_t errlen)
{
    int rc = 0;

    for (size_t i = 0; i < b->n; i++) {
        if (rc == 0)
            rc = flush_slot(b->conn, &b->slots[i], err, errlen);
        else
            slot_reset(&b->slots[i]); /* the transaction is aborted: the rest need not go */
    }
    b->total = 0;
    return rc;
}
