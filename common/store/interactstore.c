/* interactstore.c - the interactions tables in PostgreSQL (see interactstore.h). */
#include "interactstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"
#include "pgpipe.h"

static const pg_statement_t statements[] = {
    {"is_log",
     /* In its bulk form (pgbulk.h): $k is the array of the k-th values of every row. */
     "INSERT INTO contact_log (creditor_id, debtor_id, event_source, event_id, channel, at, "
     "outcome, agent_id, stage, techniques, objections, task_id) "
     "SELECT u.creditor_id, u.debtor_id, u.event_source, u.event_id, u.channel, u.at, "
     " u.outcome, u.agent_id, u.stage, "
     " ARRAY(SELECT jsonb_array_elements_text(coalesce(u.techniques, '[]'))), "
     " ARRAY(SELECT jsonb_array_elements_text(coalesce(u.objections, '[]'))), u.task_id "
     "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], "
     " $6::timestamptz[], $7::text[], $8::text[], $9::text[], $10::jsonb[], $11::jsonb[], "
     " $12::text[]) AS u(creditor_id, debtor_id, event_source, event_id, channel, at, outcome, "
     " agent_id, stage, techniques, objections, task_id) "
     "ON CONFLICT DO NOTHING"},
    /* Bulk form too (pgbulk.h): one statement for a batch's disputes opened. */
    {"is_dispute_open",
     "INSERT INTO dispute (creditor_id, debtor_id, event_source, event_id, opened_at, reason, "
     "invoice_id) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "
     " $5::timestamptz[], $6::text[], $7::text[]) ON CONFLICT DO NOTHING"},
    /* The open disputes of a batch's cases: $1, $2 arrays with one element per case, each row
     * with its case's place in them (ord, from 1), each case's oldest first. */
    {"is_disputes_many",
     "SELECT u.ord, d.event_source, d.event_id, d.invoice_id "
     "FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(creditor_id, debtor_id, ord) "
     "CROSS JOIN LATERAL (SELECT event_source, event_id, invoice_id, opened_at FROM dispute d "
     " WHERE d.creditor_id = u.creditor_id AND d.debtor_id = u.debtor_id "
     " AND d.resolved_at IS NULL OFFSET 0) d "
     "ORDER BY u.ord, d.opened_at, d.event_source, d.event_id"},
    {"is_dispute_resolve",
     "UPDATE dispute SET resolved_at = $5::timestamptz, outcome = $6, updated_at = now() "
     "WHERE creditor_id = $1 AND debtor_id = $2 AND event_source = $3 AND event_id = $4 "
     "AND resolved_at IS NULL"},
    /* Bulk form too: each event's preferences merged (only the fields it carries change; a
     * case's keys are distinct in one statement, pgbulk.h). */
    {"is_prefs",
     "WITH u AS (SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[], $4::boolean[], "
     " $5::boolean[], $6::boolean[], $7::text[]) AS u(creditor_id, debtor_id, dnc, dns, dne, cc, "
     " tz)) "
     "INSERT INTO contact_preference (creditor_id, debtor_id, do_not_call, do_not_sms, "
     "do_not_email, cease_communication, timezone) "
     "SELECT u.creditor_id, u.debtor_id, coalesce(u.dnc, false), coalesce(u.dns, false), "
     " coalesce(u.dne, false), coalesce(u.cc, false), u.tz FROM u "
     "ON CONFLICT (creditor_id, debtor_id) DO UPDATE SET (do_not_call, do_not_sms, "
     "do_not_email, cease_communication, timezone, updated_at) = (SELECT "
     " coalesce(u.dnc, contact_preference.do_not_call), "
     " coalesce(u.dns, contact_preference.do_not_sms), "
     " coalesce(u.dne, contact_preference.do_not_email), "
     " coalesce(u.cc, contact_preference.cease_communication), "
     " coalesce(u.tz, contact_preference.timezone), now() FROM u "
     " WHERE u.creditor_id = EXCLUDED.creditor_id AND u.debtor_id = EXCLUDED.debtor_id)"},
    {"is_forbearance",
     "INSERT INTO forbearance (creditor_id, debtor_id, event_source, event_id, from_on, "
     "until_on, reason, agent_id) VALUES ($1, $2, $3, $4, $5::date, $6::date, $7, $8) "
     "ON CONFLICT DO NOTHING"},
    /* version 2: forbearance.ended (forbear.h, 0011_followup.sql). */
    {"is_forbearance_end",
     "UPDATE forbearance SET ended_on = least(coalesce(ended_on, $5::date), $5::date), "
     "ended_reason = $6, ended_by = $7 WHERE creditor_id = $1 AND debtor_id = $2 "
     "AND from_on = $3::date AND least(until_on, ended_on - 1) = $4::date"},
    {"is_contacts",
     "SELECT coalesce(json_agg(json_build_object('at', to_char(x.at AT TIME ZONE 'UTC', "
     "  'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'channel', x.channel, 'outcome', x.outcome, "
     "  'agent_id', x.agent_id, 'stage', x.stage, 'techniques', to_json(x.techniques), "
     "  'objections', to_json(x.objections), 'task_id', x.task_id) ORDER BY x.at DESC), "
     "  '[]')::text AS contacts FROM ("
     " SELECT * FROM contact_log WHERE creditor_id = $1 AND debtor_id = $2 "
     " ORDER BY at DESC LIMIT $3) x"},
};

int interactstore_prepare(PGconn *conn, char *err, size_t errlen)
{
    return pg_prepare_all(conn, statements, sizeof(statements) / sizeof(statements[0]), err,
                          errlen);
}

static const char *str_at(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* "true"/"false" for a boolean field, NULL when absent. */
static const char *bool_at(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? (json_is_true(v) ? "true" : "false") : NULL;
}

/* The case a record is written for. */
typedef struct rec_key {
    const char *creditor_id, *debtor_id;
} rec_key_t;

/* The event as a contact_log row. */
static int log_contact(PGconn *conn, rec_key_t k, const casefile_rows_t *r, char *err,
                       size_t errlen)
{
    const json_t *d = r->event_data;
    const json_t *tech = json_object_get(d, "techniques"), *obj = json_object_get(d, "objections");
    char *techs = tech ? json_dumps(tech, JSON_COMPACT) : NULL;
    char *objs = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    const char *p[12] = {k.creditor_id,
                         k.debtor_id,
                         r->event_source,
                         r->event_id,
                         str_at(d, "channel"),
                         str_at(d, "at"),
                         str_at(d, "outcome"),
                         str_at(d, "agent_id"),
                         str_at(d, "stage"),
                         techs,
                         objs,
                         str_at(d, "task_id")};
    int rc = pgpipe_cmd(conn, "is_log", 12, p, err, errlen);
    free(techs);
    free(objs);
    return rc;
}

/* The event as an open dispute. */
static int open_dispute(PGconn *conn, rec_key_t k, const casefile_rows_t *r, char *err,
                        size_t errlen)
{
    const json_t *d = r->event_data;
    const char *p[7] = {k.creditor_id,   k.debtor_id,         r->event_source,        r->event_id,
                        str_at(d, "at"), str_at(d, "reason"), str_at(d, "invoice_id")};
    return pgpipe_cmd(conn, "is_dispute_open", 7, p, err, errlen);
}

/* The event merged into the case's preferences: only the fields it carries change. */
static int save_preferences(PGconn *conn, rec_key_t k, const casefile_rows_t *r, char *err,
                            size_t errlen)
{
    const json_t *d = r->event_data;
    const char *p[7] = {k.creditor_id,
                        k.debtor_id,
                        bool_at(d, "do_not_call"),
                        bool_at(d, "do_not_sms"),
                        bool_at(d, "do_not_email"),
                        bool_at(d, "cease_communication"),
                        str_at(d, "timezone")};
    return pgpipe_cmd(conn, "is_prefs", 7, p, err, errlen);
}

/* The event as a forbearance. */
static int add_forbearance(PGconn *conn, rec_key_t k, const casefile_rows_t *r, char *err,
                           size_t errlen)
{
    const json_t *d = r->event_data;
    const char *p[8] = {k.creditor_id,       k.debtor_id,          r->event_source,
                        r->event_id,         str_at(d, "from"),    str_at(d, "until"),
                        str_at(d, "reason"), str_at(d, "agent_id")};
    return pgpipe_cmd(conn, "is_forbearance", 8, p, err, errlen);
}

/* The early end of a forbearance (version 2). */
static int end_forbearance(PGconn *conn, rec_key_t k, const casefile_rows_t *r, char *err,
                           size_t errlen)
{
    const json_t *d = r->event_data;
    if (r->ended_from[0] == '\0')
        return 0; /* none in force or ahead: nothing to write */
    const char *p[7] = {k.creditor_id, k.debtor_id,         r->ended_from,        r->ended_until,
                        r->ended_on,   str_at(d, "reason"), str_at(d, "agent_id")};
    return pgpipe_cmd(conn, "is_forbearance_end", 7, p, err, errlen);
}

/* The cases one is_disputes_many reads for, in the order of its arrays. */
struct interactstore_disputes {
    casefile_t **cfs;
    size_t n;
};

void interactstore_disputes_free(interactstore_disputes_t *ds)
{
    if (ds == NULL)
        return;
    free(ds->cfs);
    free(ds);
}

static const char *col_at(const PGresult *res, int r, const char *name)
{
    int f = PQfnumber(res, name);
    return f >= 0 && !PQgetisnull(res, r, f) ? PQgetvalue(res, r, f) : NULL;
}

/* Sizes every case's cf->rows.disputes to its rows (a case with none gets an empty array).
 * Returns 0, or -1 with err filled. */
static int size_disputes(const interactstore_disputes_t *ds, const PGresult *res, char *err,
                         size_t errlen)
{
    size_t *count = calloc(ds->n + 1, sizeof(*count));

    if (count == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        const char *v = col_at(res, r, "ord");
        long long ord = v != NULL ? strtoll(v, NULL, 10) : 0;
        if (ord < 1 || (size_t)ord > ds->n) {
            free(count);
            snprintf(err, errlen, "is_disputes_many: row %d has no case", r);
            return -1;
        }
        count[ord - 1]++;
    }
    int rc = 0;
    for (size_t i = 0; i < ds->n && rc == 0; i++) {
        casefile_rows_t *rows = &ds->cfs[i]->rows;
        rows->disputes = calloc(count[i] + 1, sizeof(*rows->disputes));
        rows->n_disputes = 0;
        rc = rows->disputes != NULL ? 0 : -1;
    }
    free(count);
    if (rc != 0)
        snprintf(err, errlen, "out of memory");
    return rc;
}

/* is_disputes_many's rows into their cases' rows.disputes (target: the
 * interactstore_disputes_t). */
static int on_disputes(pgpipe_t *pp, void *target, const PGresult *res, char *err, size_t errlen)
{
    const interactstore_disputes_t *ds = target;
    int rc = size_disputes(ds, res, err, errlen);

    (void)pp;
    for (int r = 0; r < PQntuples(res) && rc == 0; r++) {
        casefile_rows_t *rows = &ds->cfs[strtoll(col_at(res, r, "ord"), NULL, 10) - 1]->rows;
        casefile_dispute_row_t *d = &rows->disputes[rows->n_disputes++];
        const char *src = col_at(res, r, "event_source"), *id = col_at(res, r, "event_id");
        const char *inv = col_at(res, r, "invoice_id");
        d->event_source = strdup(src ? src : "");
        d->event_id = strdup(id ? id : "");
        snprintf(d->invoice_id, sizeof(d->invoice_id), "%s", inv ? inv : "");
        if (d->event_source == NULL || d->event_id == NULL) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
    }
    return rc;
}

int interactstore_queue_disputes_many(pgpipe_t *pp, casefile_t *const *cfs, size_t n,
                                      interactstore_disputes_t **out, char *err, size_t errlen)
{
    interactstore_disputes_t *ds = calloc(1, sizeof(*ds));
    pgarr_t cr, de;
    int rc = 0;

    *out = ds;
    if (ds == NULL || (ds->cfs = calloc(n ? n : 1, sizeof(*ds->cfs))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pgarr_init(&cr);
    pgarr_init(&de);
    for (size_t i = 0; i < n; i++) {
        ds->cfs[ds->n++] = cfs[i];
        pgarr_add_cstr(&cr, cfs[i]->creditor_id);
        pgarr_add_cstr(&de, cfs[i]->debtor_id);
    }
    const char *p[2] = {pgarr_str(&cr), pgarr_str(&de)};
    if (p[0] == NULL || p[1] == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    if (rc == 0 && n > 0)
        rc = pgpipe_query(pp, "is_disputes_many", 2, p, on_disputes, ds, err, errlen);
    pgarr_free(&cr);
    pgarr_free(&de);
    return rc;
}

/* The disputes the decision resolved, with the event's resolution. */
static int resolve_disputes(PGconn *conn, casefile_t *cf, char *err, size_t errlen)
{
    int rc = 0;
    for (size_t i = 0; i < cf->rows.n_disputes && rc == 0; i++) {
        casefile_dispute_row_t *d = &cf->rows.disputes[i];
        if (!d->resolved)
            continue;
        const char *p[6] = {cf->creditor_id, cf->debtor_id,        d->event_source,
                            d->event_id,     cf->rows.resolved_at, cf->rows.outcome};
        rc = pgpipe_cmd(conn, "is_dispute_resolve", 6, p, err, errlen);
        d->resolved = rc != 0;
    }
    return rc;
}

int interactstore_save_record(PGconn *conn, const char *creditor_id, const char *debtor_id,
                              const casefile_rows_t *r, char *err, size_t errlen)
{
    rec_key_t k = {creditor_id, debtor_id};

    switch (r->record) {
    case CASEFILE_RECORD_CONTACT:
        return log_contact(conn, k, r, err, errlen);
    case CASEFILE_RECORD_DISPUTE:
        return open_dispute(conn, k, r, err, errlen);
    case CASEFILE_RECORD_PREFERENCES:
        return save_preferences(conn, k, r, err, errlen);
    case CASEFILE_RECORD_FORBEARANCE:
        return add_forbearance(conn, k, r, err, errlen);
    case CASEFILE_RECORD_FORBEARANCE_END:
        return end_forbearance(conn, k, r, err, errlen);
    default:
        return 0;
    }
}

int interactstore_save_rows(PGconn *conn, casefile_t *cf, char *err, size_t errlen)
{
    int rc =
        interactstore_save_record(conn, cf->creditor_id, cf->debtor_id, &cf->rows, err, errlen);

    if (rc == 0)
        cf->rows.record = CASEFILE_RECORD_NONE;
    return rc == 0 ? resolve_disputes(conn, cf, err, errlen) : rc;
}

int interactstore_recent_contacts(PGconn *conn, const char *creditor_id, const char *debtor_id,
                                  int limit, json_t **out, char *err, size_t errlen)
{
    char lim[16];
    int rc;
    snprintf(lim, sizeof(lim), "%d", limit);
    const char *p[3] = {creditor_id, debtor_id, lim};
    *out = NULL;
    PGresult *res = pg_run(conn, "is_contacts", 3, p, PGRES_TUPLES_OK, &rc, err, errlen);
    if (res == NULL)
        return rc;
    int f = PQfnumber(res, "contacts");
    json_error_t jerr;
    *out = f >= 0 && PQntuples(res) == 1 ? json_loads(PQgetvalue(res, 0, f), 0, &jerr) : NULL;
    PQclear(res);
    if (*out == NULL) {
        snprintf(err, errlen, "is_contacts: unexpected result");
        return -1;
    }
    return 0;
}
