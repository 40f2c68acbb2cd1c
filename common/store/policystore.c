/* policystore.c - the collections policy in PostgreSQL (see policystore.h). */
#include "policystore.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "pg.h"

static int fail(PGconn *conn, PGresult *res, const char *what, char *err, size_t errlen)
{
    int transient = pg_is_transient(conn, res);
    snprintf(err, errlen, "%s: %s", what, pg_error_text(conn, res));
    PQclear(res);
    return transient ? RESULT_TRANSIENT : -1;
}

int policystore_active_version(PGconn *conn, int *version, char *err, size_t errlen)
{
    PGresult *res =
        PQexecParams(conn, "SELECT version FROM policy WHERE active", 0, NULL, NULL, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail(conn, res, "policy version", err, errlen);
    int rc = POLICYSTORE_NONE;
    if (PQntuples(res) > 0) {
        *version = atoi(PQgetvalue(res, 0, PQfnumber(res, "version")));
        rc = 0;
    }
    PQclear(res);
    return rc;
}

int policystore_load_active(PGconn *conn, policy_t **out, char **document, char *err, size_t errlen)
{
    PGresult *res = PQexecParams(conn,
                                 "SELECT version, jsonb_pretty(document) AS document FROM policy "
                                 "WHERE active",
                                 0, NULL, NULL, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail(conn, res, "active policy", err, errlen);
    if (PQntuples(res) == 0) {
        PQclear(res);
        snprintf(err, errlen, "no policy is loaded");
        return POLICYSTORE_NONE;
    }
    const char *text = PQgetvalue(res, 0, PQfnumber(res, "document"));
    char perr[POLICY_ERR_MAX];
    policy_t *p = policy_parse(text, perr, sizeof(perr));
    if (p == NULL) {
        snprintf(err, errlen, "active policy version %s: %s",
                 PQgetvalue(res, 0, PQfnumber(res, "version")), perr);
        PQclear(res);
        return -1;
    }
    if (document != NULL && (*document = strdup(text)) == NULL) {
        policy_free(p);
        PQclear(res);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    PQclear(res);
    *out = p;
    return 0;
}

/* The active version of the scope (creditor_id NULL: the default) into *version. Returns 0,
 * POLICYSTORE_NONE, or pg_fail()'s code. */
static int scope_version(PGconn *conn, const char *creditor_id, int *version, char *err,
                         size_t errlen)
{
    if (creditor_id == NULL)
        return policystore_active_version(conn, version, err, errlen);
    const char *p[1] = {creditor_id};
    PGresult *res =
        PQexecParams(conn, "SELECT version FROM creditor_policy WHERE creditor_id = $1 AND active",
                     1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail(conn, res, "creditor policy version", err, errlen);
    int rc = POLICYSTORE_NONE;
    if (PQntuples(res) > 0) {
        *version = atoi(PQgetvalue(res, 0, PQfnumber(res, "version")));
        rc = 0;
    }
    PQclear(res);
    return rc;
}

/* Stores the document under its version unless that version is stored already; then checks
 * that the stored document is this one. Returns 0, -1 (another document) or pg_fail()'s code. */
static int store_document(PGconn *conn, const char *text, const policy_t *parsed, char *err,
                          size_t errlen)
{
    char version[16];

    snprintf(version, sizeof(version), "%d", parsed->version);
    const char *params[3] = {version, parsed->name, text};
    PGresult *res =
        PQexecParams(conn,
                     "INSERT INTO policy (version, name, document, active) "
                     "VALUES ($1, $2, $3::jsonb, false) ON CONFLICT (version) DO NOTHING",
                     3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return fail(conn, res, "policy insert", err, errlen);
    PQclear(res);
    const char *p2[2] = {version, text};
    res = PQexecParams(conn,
                       "SELECT name, document = $2::jsonb AS same FROM policy WHERE version = $1",
                       2, NULL, p2, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        return fail(conn, res, "policy check", err, errlen);
    int rc = 0;
    if (strcmp(PQgetvalue(res, 0, PQfnumber(res, "same")), "t") != 0) {
        snprintf(err, errlen,
                 "policy version %d is already used by another document (policy \"%s\"); give "
                 "this one a version of its own",
                 parsed->version, PQgetvalue(res, 0, PQfnumber(res, "name")));
        rc = -1;
    }
    PQclear(res);
    return rc;
}

/* Makes the stored version the scope's active one. Returns 0 or pg_fail()'s code. */
static int activate(PGconn *conn, const char *creditor_id, int version, char *err, size_t errlen)
{
    char v[16];
    PGresult *res;

    snprintf(v, sizeof(v), "%d", version);
    const char *p[2] = {v, creditor_id};
    if (creditor_id == NULL) {
        /* Two statements: the unique index on the active row is checked row by row. */
        res = PQexecParams(
            conn, "UPDATE policy SET active = false WHERE active AND version <> $1::integer", 1,
            NULL, p, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            return fail(conn, res, "policy deactivate", err, errlen);
        PQclear(res);
        res = PQexecParams(conn, "UPDATE policy SET active = true WHERE version = $1::integer", 1,
                           NULL, p, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            return fail(conn, res, "policy activate", err, errlen);
        PQclear(res);
        return 0;
    }
    res = PQexecParams(conn,
                       "UPDATE creditor_policy SET active = false WHERE creditor_id = $2 AND "
                       "active AND version <> $1::integer",
                       2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return fail(conn, res, "creditor policy deactivate", err, errlen);
    PQclear(res);
    res =
        PQexecParams(conn,
                     "INSERT INTO creditor_policy (creditor_id, version) VALUES ($2, $1::integer) "
                     "ON CONFLICT (creditor_id, version) DO UPDATE SET active = true, "
                     "assigned_at = now()",
                     2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return fail(conn, res, "creditor policy assign", err, errlen);
    PQclear(res);
    return 0;
}

int policystore_add_for(PGconn *conn, const char *creditor_id, const char *text,
                        const policy_t *parsed, int only_if_empty, char *err, size_t errlen)
{
    int active = 0, rc;

    if (pg_exec_ok(conn, "BEGIN", PGRES_COMMAND_OK, err, errlen) < 0)
        return pg_is_transient(conn, NULL) ? RESULT_TRANSIENT : -1;
    /* One loader at a time: the version checks and the switch are atomic. */
    if (pg_exec_ok(conn, "LOCK TABLE policy, creditor_policy IN SHARE ROW EXCLUSIVE MODE",
                   PGRES_COMMAND_OK, err, errlen) < 0) {
        rc = pg_is_transient(conn, NULL) ? RESULT_TRANSIENT : -1;
        goto rollback;
    }
    rc = scope_version(conn, creditor_id, &active, err, errlen);
    if (rc < 0)
        goto rollback;
    if (rc == 0 && only_if_empty) {
        rc = 0;
        goto rollback; /* someone else loaded one: nothing to do */
    }
    if (rc == 0 && parsed->version <= active) {
        snprintf(err, errlen, "policy version %d is not newer than the active version %d%s%s",
                 parsed->version, active, creditor_id ? " of creditor " : "",
                 creditor_id ? creditor_id : "");
        rc = -1;
        goto rollback;
    }
    if ((rc = store_document(conn, text, parsed, err, errlen)) != 0 ||
        (rc = activate(conn, creditor_id, parsed->version, err, errlen)) != 0)
        goto rollback;
    if (pg_exec_ok(conn, "COMMIT", PGRES_COMMAND_OK, err, errlen) < 0)
        return pg_is_transient(conn, NULL) ? RESULT_TRANSIENT : -1;
    return 0;
rollback:
    PQclear(PQexec(conn, "ROLLBACK"));
    return rc;
}

int policystore_add(PGconn *conn, const char *text, const policy_t *parsed, int only_if_empty,
                    char *err, size_t errlen)
{
    return policystore_add_for(conn, NULL, text, parsed, only_if_empty, err, errlen);
}

/* Parses a stored document of `version` (creditor_id NULL: the default) into *out. Returns 0 or
 * -1 with err. */
static int parse_stored(const char *text, const char *version, const char *creditor_id,
                        policy_t **out, char *err, size_t errlen)
{
    char perr[POLICY_ERR_MAX];

    *out = policy_parse(text, perr, sizeof(perr));
    if (*out != NULL)
        return 0;
    snprintf(err, errlen, "policy version %s%s%s: %s", version, creditor_id ? " of creditor " : "",
             creditor_id ? creditor_id : "", perr);
    return -1;
}

int policystore_load_for(PGconn *conn, const char *creditor_id, policy_t **out, char **document,
                         bool *own, char *err, size_t errlen)
{
    const char *p[1] = {creditor_id};
    PGresult *res = PQexecParams(
        conn,
        "SELECT p.version, jsonb_pretty(p.document) AS document, c.creditor_id IS NOT NULL AS own "
        "FROM policy p LEFT JOIN creditor_policy c ON c.version = p.version AND c.active AND "
        "c.creditor_id = $1 WHERE c.creditor_id IS NOT NULL OR p.active "
        "ORDER BY own DESC LIMIT 1",
        1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail(conn, res, "policy", err, errlen);
    if (PQntuples(res) == 0) {
        PQclear(res);
        snprintf(err, errlen, "no policy is loaded");
        return POLICYSTORE_NONE;
    }
    const char *text = PQgetvalue(res, 0, PQfnumber(res, "document"));
    bool is_own = strcmp(PQgetvalue(res, 0, PQfnumber(res, "own")), "t") == 0;
    int rc = parse_stored(text, PQgetvalue(res, 0, PQfnumber(res, "version")),
                          is_own ? creditor_id : NULL, out, err, errlen);
    if (rc == 0 && document != NULL && (*document = strdup(text)) == NULL) {
        policy_free(*out);
        *out = NULL;
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    if (rc == 0 && own != NULL)
        *own = is_own;
    PQclear(res);
    return rc;
}

/* Every policy in force: the default first (creditor_id NULL), then the creditors' own. */
#define SQL_IN_FORCE                                                                               \
    "SELECT NULL::text AS creditor_id, version, document::text AS document FROM policy "           \
    "WHERE active UNION ALL SELECT c.creditor_id, c.version, p.document::text FROM "               \
    "creditor_policy c JOIN policy p USING (version) WHERE c.active ORDER BY creditor_id NULLS "   \
    "FIRST"

/* Adds row r of SQL_IN_FORCE to the set (a version already held is not parsed again). */
static int add_row(policyset_t *set, PGresult *res, int r, char *err, size_t errlen)
{
    int fc = PQfnumber(res, "creditor_id"), fv = PQfnumber(res, "version");
    const char *creditor_id = PQgetisnull(res, r, fc) ? NULL : PQgetvalue(res, r, fc);
    int version = atoi(PQgetvalue(res, r, fv));
    policy_t *p = NULL;

    if (policyset_use(set, creditor_id, version) == 0)
        return 0;
    if (parse_stored(PQgetvalue(res, r, PQfnumber(res, "document")), PQgetvalue(res, r, fv),
                     creditor_id, &p, err, errlen) != 0)
        return -1;
    if (policyset_add(set, creditor_id, p) != 0) {
        snprintf(err, errlen, "policy version %d: out of memory, or a bad creditor id", version);
        return -1;
    }
    return 0;
}

int policystore_load_set(PGconn *conn, policyset_t **out, char *err, size_t errlen)
{
    PGresult *res = PQexecParams(conn, SQL_IN_FORCE, 0, NULL, NULL, NULL, NULL, 0);
    policyset_t *set;

    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail(conn, res, "policies in force", err, errlen);
    if ((set = policyset_new()) == NULL) {
        PQclear(res);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        if (add_row(set, res, r, err, errlen) != 0) {
            PQclear(res);
            policyset_free(set);
            return -1;
        }
    }
    PQclear(res);
    *out = set;
    if (set->fallback == NULL) {
        snprintf(err, errlen, "no default policy is loaded");
        return POLICYSTORE_NONE;
    }
    return 0;
}

int policystore_list(PGconn *conn, json_t **out, char *err, size_t errlen)
{
    PGresult *res = PQexecParams(
        conn,
        "SELECT json_build_object('default', (SELECT json_build_object('policy_id', name, "
        "'policy_version', version, 'loaded_at', loaded_at) FROM policy WHERE active), "
        "'creditors', coalesce((SELECT json_agg(json_build_object('creditor_id', c.creditor_id, "
        "'policy_id', p.name, 'policy_version', c.version, 'assigned_at', c.assigned_at) "
        "ORDER BY c.creditor_id) FROM creditor_policy c JOIN policy p USING (version) "
        "WHERE c.active), '[]'::json))::text AS doc",
        0, NULL, NULL, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        return fail(conn, res, "policy list", err, errlen);
    *out = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    PQclear(res);
    if (*out == NULL) {
        snprintf(err, errlen, "policy list: out of memory");
        return -1;
    }
    return 0;
}

char *policystore_read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;

    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 16384;
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                snprintf(err, errlen, "%s: out of memory", path);
                return NULL;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, 4096, f);
        len += n;
        if (n < 4096)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        snprintf(err, errlen, "%s: read error", path);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

int policystore_import_file(PGconn *conn, const char *path, char *err, size_t errlen)
{
    char perr[POLICY_ERR_MAX + 600];
    char *text = policystore_read_file(path, err, errlen);
    if (text == NULL)
        return -1;
    policy_t *p = policy_parse(text, perr, sizeof(perr));
    int rc = -1;
    if (p == NULL)
        snprintf(err, errlen, "RECOBRO_POLICY_FILE %s: %s", path, perr);
    else if ((rc = policystore_add(conn, text, p, 1, err, errlen) < 0 ? -1 : 0) == 0)
        LOG_INFO("policy.imported", "\"version\":%d", p->version);
    policy_free(p);
    free(text);
    return rc;
}

/* Which versions are in force, as one line ("3;acme=5,zeta=7"), into a new string (*out).
 * Returns 0, POLICYSTORE_NONE when no default is loaded (*out still set), or pg_fail()'s code. */
static int signature(PGconn *conn, char **out, char *err, size_t errlen)
{
    PGresult *res =
        PQexecParams(conn,
                     "SELECT (SELECT version FROM policy WHERE active) AS def, coalesce((SELECT "
                     "string_agg(creditor_id || '=' || version, ',' ORDER BY creditor_id) FROM "
                     "creditor_policy WHERE active), '') AS creditors",
                     0, NULL, NULL, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        return fail(conn, res, "policy versions", err, errlen);
    int fd = PQfnumber(res, "def");
    bool none = PQgetisnull(res, 0, fd);
    const char *creditors = PQgetvalue(res, 0, PQfnumber(res, "creditors"));
    size_t len = strlen(creditors) + 24;
    if ((*out = malloc(len)) != NULL)
        snprintf(*out, len, "%s;%s", none ? "-" : PQgetvalue(res, 0, fd), creditors);
    PQclear(res);
    if (*out == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return none ? POLICYSTORE_NONE : 0;
}

/* The signature of the versions in force, importing RECOBRO_POLICY_FILE into an empty table
 * first. Returns as signature(); -2 when the file was refused. */
static int current_signature(policy_holder_t *h, PGconn *conn, char **sig, char *err, size_t errlen)
{
    int rc = signature(conn, sig, err, errlen);

    if (rc == POLICYSTORE_NONE && h->file != NULL && h->file[0] != '\0') {
        free(*sig);
        *sig = NULL;
        if (policystore_import_file(conn, h->file, err, errlen) < 0)
            return -2;
        rc = signature(conn, sig, err, errlen);
    }
    return rc;
}

/* Takes a new set in hand (steals set and sig), logging the change. */
static void swap_in(policy_holder_t *h, policyset_t *set, char *sig)
{
    if (h->policy != NULL)
        LOG_INFO("policy.changed", "\"from\":%d,\"to\":%d,\"creditors\":%zu", h->policy->version,
                 set->fallback->version, set->n_creditors);
    else
        LOG_INFO("policy.active", "\"version\":%d,\"creditors\":%zu", set->fallback->version,
                 set->n_creditors);
    policyset_free(h->set);
    free(h->signature);
    h->set = set;
    h->policy = set->fallback;
    h->signature = sig;
}

int policystore_refresh(policy_holder_t *h, PGconn *conn, char *err, size_t errlen)
{
    char *sig = NULL;
    policyset_t *set = NULL;
    int rc;

    if (h->set != NULL && clock_mono_us() < h->next_check_us)
        return 0;
    rc = current_signature(h, conn, &sig, err, errlen);
    if (rc == POLICYSTORE_NONE)
        snprintf(err, errlen,
                 "no policy: load one with `recobroctl policy load FILE` or set "
                 "RECOBRO_POLICY_FILE");
    if (rc == -2 || rc == POLICYSTORE_NONE || rc == -1) {
        free(sig);
        return h->set != NULL ? 0 : -1;
    }
    if (rc != 0)
        return RESULT_TRANSIENT; /* the statement failed: the transaction is gone */
    h->next_check_us = clock_mono_us() + h->period_us;
    if (h->signature != NULL && strcmp(h->signature, sig) == 0) {
        free(sig);
        return 0;
    }
    rc = policystore_load_set(conn, &set, err, errlen);
    if (rc == 0) {
        swap_in(h, set, sig);
        return 0;
    }
    free(sig);
    policyset_free(set);
    if (rc == RESULT_TRANSIENT)
        return rc;
    char esc[700];
    LOG_WARN("policy.refresh_failed", "\"error\":\"%s\"", log_json_escape(err, esc, sizeof(esc)));
    return h->set != NULL ? 0 : -1;
}

void policystore_holder_clear(policy_holder_t *h)
{
    policyset_free(h->set);
    free(h->signature);
    h->set = NULL;
    h->signature = NULL;
    h->policy = NULL;
}
