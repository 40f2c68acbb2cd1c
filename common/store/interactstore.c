/* interactstore.c - the interactions tables in PostgreSQL (see interactstore.h). */
#include "interactstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

static const pg_statement_t statements[] = {
    {"is_log",
     "INSERT INTO contact_log (creditor_id, debtor_id, event_source, event_id, channel, at, "
     "outcome, agent_id, stage, techniques, objections, task_id) "
     "VALUES ($1, $2, $3, $4, $5, $6::timestamptz, $7, $8, $9, "
     " ARRAY(SELECT jsonb_array_elements_text(coalesce($10::jsonb, '[]'))), "
     " ARRAY(SELECT jsonb_array_elements_text(coalesce($11::jsonb, '[]'))), $12) "
     "ON CONFLICT DO NOTHING"},
    {"is_dispute_open",
     "INSERT INTO dispute (creditor_id, debtor_id, event_source, event_id, opened_at, reason, "
     "invoice_id) VALUES ($1, $2, $3, $4, $5::timestamptz, $6, $7) ON CONFLICT DO NOTHING"},
    /* The CTE's update is invisible to the count (one snapshot): subtract what it resolved. */
    {"is_dispute_resolve",
     "WITH r AS (UPDATE dispute SET resolved_at = $3::timestamptz, outcome = $4, "
     "  updated_at = now() "
     "  WHERE creditor_id = $1 AND debtor_id = $2 AND resolved_at IS NULL "
     "  AND ($5::text IS NULL OR invoice_id = $5 OR invoice_id IS NULL) RETURNING invoice_id) "
     "SELECT (SELECT coalesce(json_agg(DISTINCT invoice_id) "
     "          FILTER (WHERE invoice_id IS NOT NULL), '[]') FROM r)::text AS invoices, "
     " (SELECT count(*) FROM dispute d WHERE d.creditor_id = $1 AND d.debtor_id = $2 "
     "   AND d.resolved_at IS NULL) - (SELECT count(*) FROM r) AS still_open"},
    {"is_prefs",
     "INSERT INTO contact_preference (creditor_id, debtor_id, do_not_call, do_not_sms, "
     "do_not_email, cease_communication, timezone) "
     "VALUES ($1, $2, coalesce($3::boolean, false), coalesce($4::boolean, false), "
     " coalesce($5::boolean, false), coalesce($6::boolean, false), $7) "
     "ON CONFLICT (creditor_id, debtor_id) DO UPDATE SET "
     "do_not_call = coalesce($3::boolean, contact_preference.do_not_call), "
     "do_not_sms = coalesce($4::boolean, contact_preference.do_not_sms), "
     "do_not_email = coalesce($5::boolean, contact_preference.do_not_email), "
     "cease_communication = coalesce($6::boolean, contact_preference.cease_communication), "
     "timezone = coalesce($7, contact_preference.timezone), updated_at = now()"},
    {"is_forbearance",
     "INSERT INTO forbearance (creditor_id, debtor_id, event_source, event_id, from_on, "
     "until_on, reason, agent_id) VALUES ($1, $2, $3, $4, $5::date, $6::date, $7, $8) "
     "ON CONFLICT DO NOTHING"},
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

int interactstore_log_contact(PGconn *conn, const char *creditor_id, const char *debtor_id,
                              const ce_event_t *ev, char *err, size_t errlen)
{
    const json_t *d = ev->data;
    const json_t *tech = json_object_get(d, "techniques"), *obj = json_object_get(d, "objections");
    char *techs = tech ? json_dumps(tech, JSON_COMPACT) : NULL;
    char *objs = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    const char *p[12] = {creditor_id,
                         debtor_id,
                         ev->source,
                         ev->id,
                         str_at(d, "channel"),
                         str_at(d, "at"),
                         str_at(d, "outcome"),
                         str_at(d, "agent_id"),
                         str_at(d, "stage"),
                         techs,
                         objs,
                         str_at(d, "task_id")};
    int rc = pg_run_cmd(conn, "is_log", 12, p, err, errlen);
    free(techs);
    free(objs);
    return rc;
}

int interactstore_open_dispute(PGconn *conn, const char *creditor_id, const char *debtor_id,
                               const ce_event_t *ev, char *err, size_t errlen)
{
    const json_t *d = ev->data;
    const char *p[7] = {creditor_id,
                        debtor_id,
                        ev->source,
                        ev->id,
                        str_at(d, "at"),
                        str_at(d, "reason"),
                        str_at(d, "invoice_id")};
    return pg_run_cmd(conn, "is_dispute_open", 7, p, err, errlen);
}

int interactstore_resolve_disputes(PGconn *conn, const char *creditor_id, const char *debtor_id,
                                   const ce_event_t *ev, json_t **invoices, bool *still_open,
                                   char *err, size_t errlen)
{
    const json_t *d = ev->data;
    const char *p[5] = {creditor_id, debtor_id, str_at(d, "at"), str_at(d, "outcome"),
                        str_at(d, "invoice_id")};
    int rc;
    *invoices = NULL;
    PGresult *res = pg_run(conn, "is_dispute_resolve", 5, p, PGRES_TUPLES_OK, &rc, err, errlen);
    if (res == NULL)
        return rc;
    int fi = PQfnumber(res, "invoices"), fo = PQfnumber(res, "still_open");
    if (PQntuples(res) != 1 || fi < 0 || fo < 0) {
        PQclear(res);
        snprintf(err, errlen, "is_dispute_resolve: unexpected result");
        return -1;
    }
    json_error_t jerr;
    *invoices = json_loads(PQgetvalue(res, 0, fi), 0, &jerr);
    *still_open = strtoll(PQgetvalue(res, 0, fo), NULL, 10) > 0;
    PQclear(res);
    if (!json_is_array(*invoices)) {
        json_decref(*invoices);
        *invoices = NULL;
        snprintf(err, errlen, "is_dispute_resolve: invoices are not a JSON array");
        return -1;
    }
    return 0;
}

int interactstore_save_preferences(PGconn *conn, const char *creditor_id, const char *debtor_id,
                                   const ce_event_t *ev, char *err, size_t errlen)
{
    const json_t *d = ev->data;
    const char *p[7] = {creditor_id,
                        debtor_id,
                        bool_at(d, "do_not_call"),
                        bool_at(d, "do_not_sms"),
                        bool_at(d, "do_not_email"),
                        bool_at(d, "cease_communication"),
                        str_at(d, "timezone")};
    return pg_run_cmd(conn, "is_prefs", 7, p, err, errlen);
}

int interactstore_add_forbearance(PGconn *conn, const char *creditor_id, const char *debtor_id,
                                  const ce_event_t *ev, char *err, size_t errlen)
{
    const json_t *d = ev->data;
    const char *p[8] = {
        creditor_id,       debtor_id,          ev->source,          ev->id,
        str_at(d, "from"), str_at(d, "until"), str_at(d, "reason"), str_at(d, "agent_id")};
    return pg_run_cmd(conn, "is_forbearance", 8, p, err, errlen);
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
