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

int policystore_add(PGconn *conn, const char *text, const policy_t *parsed, int only_if_empty,
                    char *err, size_t errlen)
{
    char version[16];
    int active = 0, rc;
    PGresult *res;

    if (pg_exec_ok(conn, "BEGIN", PGRES_COMMAND_OK, err, errlen) < 0)
        return pg_is_transient(conn, NULL) ? RESULT_TRANSIENT : -1;
    /* One loader at a time: the version check and the switch are atomic. */
    if (pg_exec_ok(conn, "LOCK TABLE policy IN SHARE ROW EXCLUSIVE MODE", PGRES_COMMAND_OK, err,
                   errlen) < 0) {
        rc = pg_is_transient(conn, NULL) ? RESULT_TRANSIENT : -1;
        goto rollback;
    }
    rc = policystore_active_version(conn, &active, err, errlen);
    if (rc < 0)
        goto rollback;
    if (rc == 0 && only_if_empty) {
        rc = 0;
        goto rollback; /* someone else loaded one: nothing to do */
    }
    if (rc == 0 && parsed->version <= active) {
        snprintf(err, errlen, "policy version %d is not newer than the active version %d",
                 parsed->version, active);
        rc = -1;
        goto rollback;
    }
    res = PQexecParams(conn, "UPDATE policy SET active = false WHERE active", 0, NULL, NULL, NULL,
                       NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = fail(conn, res, "policy deactivate", err, errlen);
        goto rollback;
    }
    PQclear(res);
    snprintf(version, sizeof(version), "%d", parsed->version);
    const char *params[3] = {version, parsed->name, text};
    res = PQexecParams(conn,
                       "INSERT INTO policy (version, name, document, active) "
                       "VALUES ($1, $2, $3::jsonb, true)",
                       3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = fail(conn, res, "policy insert", err, errlen);
        goto rollback;
    }
    PQclear(res);
    if (pg_exec_ok(conn, "COMMIT", PGRES_COMMAND_OK, err, errlen) < 0)
        return pg_is_transient(conn, NULL) ? RESULT_TRANSIENT : -1;
    return 0;
rollback:
    PQclear(PQexec(conn, "ROLLBACK"));
    return rc;
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

int policystore_refresh(policy_holder_t *h, PGconn *conn, char *err, size_t errlen)
{
    int version, rc;

    if (h->policy != NULL && clock_mono_us() < h->next_check_us)
        return 0;
    rc = policystore_active_version(conn, &version, err, errlen);
    if (rc == POLICYSTORE_NONE && h->file != NULL && h->file[0] != '\0') {
        if (policystore_import_file(conn, h->file, err, errlen) < 0)
            return h->policy != NULL ? 0 : -1;
        rc = policystore_active_version(conn, &version, err, errlen);
    }
    if (rc == POLICYSTORE_NONE) {
        snprintf(err, errlen,
                 "no policy: load one with `recobroctl policy load FILE` or set "
                 "RECOBRO_POLICY_FILE");
        return h->policy != NULL ? 0 : -1;
    }
    if (rc != 0)
        return RESULT_TRANSIENT; /* the statement failed: the transaction is gone */
    h->next_check_us = clock_mono_us() + h->period_us;
    if (h->policy != NULL && h->policy->version == version)
        return 0;
    policy_t *p = NULL;
    rc = policystore_load_active(conn, &p, NULL, err, errlen);
    if (rc == RESULT_TRANSIENT)
        return rc;
    if (rc != 0) {
        char esc[700];
        LOG_WARN("policy.refresh_failed", "\"error\":\"%s\"",
                 log_json_escape(err, esc, sizeof(esc)));
        return h->policy != NULL ? 0 : -1;
    }
    if (h->policy != NULL)
        LOG_INFO("policy.changed", "\"from\":%d,\"to\":%d", h->policy->version, p->version);
    else
        LOG_INFO("policy.active", "\"version\":%d", p->version);
    policy_free(h->policy);
    h->policy = p;
    return 0;
}

void policystore_holder_clear(policy_holder_t *h)
{
    policy_free(h->policy);
    h->policy = NULL;
}
