/* caseshow.c - what `recobroctl case show` adds to the hot case beyond its cache fields: the
 * policy the case is planned under (policy_id beside policy_version, and the policy now in force
 * for its creditor), its payments with their allocations, its disputes with their reasons and
 * its segment history with rule and policy version. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "money.h"
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

/* Runs `sql` with (creditor_id, debtor_id) and returns its single text column parsed as JSON (a
 * new reference), or NULL with err. */
static json_t *json_query(PGconn *conn, const char *sql, const char *what, const char *creditor_id,
                          const char *debtor_id, char *err, size_t errlen)
{
    const char *p[2] = {creditor_id, debtor_id};
    PGresult *res = PQexecParams(conn, sql, 2, NULL, p, NULL, NULL, 0);

    if (pg_expect(res, PGRES_TUPLES_OK, what, err, errlen) < 0)
        return NULL;
    json_t *doc = PQntuples(res) == 1 ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
    PQclear(res);
    if (doc == NULL)
        snprintf(err, errlen, "%s: no document, or out of memory", what);
    return doc;
}

/* Replaces the integer member `key` of `obj` (minor units) with the amount as a decimal string
 * of `currency` (left alone when it is not an integer or the currency is unknown). */
static void to_money(json_t *obj, const char *key, const char *currency)
{
    const json_t *v = json_object_get(obj, key);
    char buf[MONEY_FMT_MAX];

    if (json_is_integer(v) && currency != NULL &&
        money_format(json_integer_value(v), currency, buf, sizeof(buf)) >= 0)
        json_object_set_new(obj, key, json_string(buf));
}

/* The payments, newest first, each with its allocations to invoices (lines made later out of
 * the payment's credit marked from_credit; reversed lines marked reversed). */
#define SQL_PAYMENTS                                                                               \
    "SELECT coalesce(json_agg(x ORDER BY x.received_at DESC NULLS LAST, x.payment_id), '[]')"      \
    "::text FROM (SELECT p.payment_id, p.amount, p.currency, p.received_at, p.method, p.status, "  \
    "p.unallocated, p.promise_id, p.plan_id, p.reversed_at, p.reason AS reversal_reason, "         \
    "(SELECT coalesce(json_agg(json_build_object('invoice_id', a.invoice_id, 'amount', a.amount, " \
    "'from_credit', a.from_credit, 'reversed', a.reversed) ORDER BY a.line_id), '[]') FROM "       \
    "payment_allocation a WHERE a.creditor_id = p.creditor_id AND a.debtor_id = p.debtor_id AND "  \
    "a.payment_id = p.payment_id) AS allocations FROM payment p WHERE p.creditor_id = $1 AND "     \
    "p.debtor_id = $2 ORDER BY p.received_at DESC NULLS LAST LIMIT 50) x"

/* The disputes, newest first, with the debtor's reason and the outcome. */
#define SQL_DISPUTES                                                                               \
    "SELECT coalesce(json_agg(json_build_object('opened_at', opened_at, 'reason', reason, "        \
    "'invoice_id', invoice_id, 'resolved_at', resolved_at, 'outcome', outcome) ORDER BY "          \
    "opened_at DESC), '[]')::text FROM (SELECT * FROM dispute WHERE creditor_id = $1 AND "         \
    "debtor_id = $2 ORDER BY opened_at DESC LIMIT 20) d"

/* The segment history, newest first: which rule of which policy version put the case where. */
#define SQL_SEGMENTS                                                                               \
    "SELECT coalesce(json_agg(json_build_object('seq', h.seq, 'at', h.at, 'from', "                \
    "h.from_segment, "                                                                             \
    "'to', h.to_segment, 'rule', h.rule, 'policy_id', p.name, 'policy_version', "                  \
    "h.policy_version, 'strategy', h.strategy, 'variant', h.variant, 'high_value', h.high_value, " \
    "'days_past_due', h.days_past_due, 'balance', h.balance) ORDER BY h.seq DESC), '[]')::text "   \
    "FROM (SELECT * FROM segment_history WHERE creditor_id = $1 AND debtor_id = $2 ORDER BY seq "  \
    "DESC LIMIT 50) h LEFT JOIN policy p ON p.version = h.policy_version"

/* promise.made's techniques by promise_id. */
#define SQL_TECHNIQUES                                                                             \
    "SELECT coalesce(json_object_agg(promise_id, techniques), '{}')::text FROM promise WHERE "     \
    "creditor_id = $1 AND debtor_id = $2 AND techniques IS NOT NULL"

static void payments_money(json_t *payments, const char *case_currency)
{
    size_t i, j;
    json_t *p, *a;

    json_array_foreach(payments, i, p)
    {
        const char *cur = json_string_value(json_object_get(p, "currency"));
        cur = cur != NULL ? cur : case_currency;
        to_money(p, "amount", cur);
        to_money(p, "unallocated", cur);
        json_array_foreach(json_object_get(p, "allocations"), j, a)
        {
            to_money(a, "amount", cur);
        }
    }
}

/* Sets each promise's "techniques" in out["promises"] (null when none were stored). */
static void promise_techniques(json_t *out, const json_t *by_id)
{
    size_t i;
    json_t *p;

    json_array_foreach(json_object_get(out, "promises"), i, p)
    {
        const json_t *t =
            json_object_get(by_id, json_string_value(json_object_get(p, "promise_id")));
        json_object_set_new(p, "techniques", t != NULL ? json_deep_copy(t) : json_null());
    }
}

int ctl_case_extras(PGconn *conn, const char *creditor_id, const char *debtor_id, json_t *out,
                    char *err, size_t errlen)
{
    const char *cur = json_string_value(json_object_get(out, "currency"));
    size_t i;
    json_t *h;

    if (add_policy(conn, creditor_id, out, err, errlen) != 0)
        return -1;
    json_t *pay =
        json_query(conn, SQL_PAYMENTS, "case.payments", creditor_id, debtor_id, err, errlen);
    json_t *dis =
        pay ? json_query(conn, SQL_DISPUTES, "case.disputes", creditor_id, debtor_id, err, errlen)
            : NULL;
    json_t *seg = dis ? json_query(conn, SQL_SEGMENTS, "case.segment_history", creditor_id,
                                   debtor_id, err, errlen)
                      : NULL;
    json_t *tec = seg ? json_query(conn, SQL_TECHNIQUES, "case.techniques", creditor_id, debtor_id,
                                   err, errlen)
                      : NULL;
    if (tec != NULL) {
        payments_money(pay, cur);
        json_array_foreach(seg, i, h)
        {
            to_money(h, "balance", cur);
        }
        promise_techniques(out, tec);
        json_object_set(out, "payments", pay);
        json_object_set(out, "disputes", dis);
        json_object_set(out, "segment_history", seg);
    }
    json_decref(pay);
    json_decref(dis);
    json_decref(seg);
    json_decref(tec);
    return tec != NULL ? 0 : -1;
}
