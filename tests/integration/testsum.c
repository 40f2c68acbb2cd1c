/* testsum.c - recobro-testsum, a worker whose effect is easy to check, for the runtime's
 * integration tests and benchmark: each `test.add` event adds data.amount to a per-key total.
 *
 * Per event, inside the batch's transaction: the total of data.key grows by data.amount, and an
 * output event `test.added` (id "out-<source>-<id>", stable) goes to the outbox for
 * RECOBRO_TOPIC_TASKS. After the commit, "recobro:test:<key>" in Redis holds {total, version}.
 * data.reject_in_tx = true makes apply() reject the event (a database-aware rejection).
 * Consumes RECOBRO_TOPIC_INVOICES, so tests point that at a topic of their own. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloudevent.h"
#include "pg.h"
#include "service.h"
#include "worker.h"

static int testsum_validate(void *ud, const ce_event_t *ev, reason_t *err)
{
    (void)ud;
    if (strcmp(ev->type, "test.add") != 0)
        return reason_set(err, "unknown_type", "type is not one this service consumes");
    const char *key = json_string_value(json_object_get(ev->data, "key"));
    json_t *amount = json_object_get(ev->data, "amount");
    if (key == NULL || strlen(key) == 0 || strlen(key) > 64)
        return reason_set(err, "schema_violation", "data.key must be a string of 1-64 characters");
    if (!json_is_string(amount))
        return reason_set(err, "invalid_amount", "data.amount must be a string");
    const char *a = json_string_value(amount);
    if (a[0] == '\0' || strspn(a, "0123456789") != strlen(a) || strlen(a) > 15)
        return reason_set(err, "invalid_amount", "data.amount must hold a whole number");
    return 0;
}

static int testsum_connect(void *ud, PGconn *conn, char *err, size_t errlen)
{
    (void)ud;
    return pg_exec_ok(conn,
                      "CREATE TABLE IF NOT EXISTS test_total (key text PRIMARY KEY, "
                      "total bigint NOT NULL, events bigint NOT NULL)",
                      PGRES_COMMAND_OK, err, errlen);
}

static int testsum_apply(void *ud, wk_tx_t *tx, wk_msg_t *const *msgs, size_t n)
{
    const config_t *cfg = wk_tx_config(tx);
    pgarr_t keys, amounts;
    int rc = RESULT_OK;

    (void)ud;
    pgarr_init(&keys);
    pgarr_init(&amounts);
    for (size_t i = 0; i < n; i++) {
        wk_msg_t *m = msgs[i];
        if (json_is_true(json_object_get(m->ev.data, "reject_in_tx"))) {
            wk_reject(m, "currency_mismatch", "rejected by the handler inside the transaction");
            continue;
        }
        const char *key = json_string_value(json_object_get(m->ev.data, "key"));
        const char *amount = json_string_value(json_object_get(m->ev.data, "amount"));
        pgarr_add_cstr(&keys, key);
        pgarr_add_int64(&amounts, strtoll(amount, NULL, 10));
        char id[600];
        snprintf(id, sizeof(id), "out-%s-%s", m->ev.source, m->ev.id);
        json_t *out = ce_build_new(
            id, "recobro/testsum", "test.added", NULL, key,
            json_pack("{s:s, s:s, s:s}", "key", key, "amount", amount, "input_id", m->ev.id));
        if (out == NULL || outbox_add_event(wk_tx_outbox(tx), cfg->topic_tasks, key, out) < 0)
            rc = RESULT_TRANSIENT;
        json_decref(out);
    }
    if (rc != RESULT_OK || keys.count == 0)
        goto out;
    const char *params[2] = {pgarr_str(&keys), pgarr_str(&amounts)};
    PGresult *res = PQexecParams(
        wk_tx_conn(tx),
        "INSERT INTO test_total (key, total, events) "
        "SELECT k, sum(a), count(*) FROM unnest($1::text[], $2::bigint[]) AS u(k, a) GROUP BY k "
        "ON CONFLICT (key) DO UPDATE SET total = test_total.total + EXCLUDED.total, "
        "events = test_total.events + EXCLUDED.events RETURNING key, total, events",
        2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = wk_tx_sql_error(tx, res, "testsum.upsert");
        goto out;
    }
    int fk = PQfnumber(res, "key"), ft = PQfnumber(res, "total"), fe = PQfnumber(res, "events");
    for (int r = 0; r < PQntuples(res); r++) {
        char ckey[128], json[128];
        snprintf(ckey, sizeof(ckey), "recobro:test:%s", PQgetvalue(res, r, fk));
        snprintf(json, sizeof(json), "{\"total\":%s,\"version\":%s}", PQgetvalue(res, r, ft),
                 PQgetvalue(res, r, fe));
        if (wk_tx_cache(tx, ckey, json, strtoll(PQgetvalue(res, r, fe), NULL, 10)) < 0)
            rc = RESULT_TRANSIENT;
    }
    PQclear(res);
out:
    pgarr_free(&keys);
    pgarr_free(&amounts);
    return rc;
}

int main(int argc, char **argv)
{
    config_t cfg;
    int rc = service_init(&cfg, "testsum", "A test worker: adds each event's amount to a total.",
                          argc, argv);
    if (rc >= 0)
        return rc;
    wk_handler_t h = {"testsum", testsum_validate, testsum_connect, testsum_apply, NULL, NULL};
    const char *topics[] = {cfg.topic_invoices};
    return wk_run(&cfg, topics, 1, &h);
}
