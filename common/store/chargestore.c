/* chargestore.c - loading and saving a case's charges (see chargestore.h). */
#include "chargestore.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "pg.h"

static const pg_statement_t statements[] = {
    {"ch_load",
     "SELECT interest, fees, interest_total, fees_total, fee_charged, settlement::text AS "
     "settlement, (accrued_through - date '1970-01-01') AS accrued_through "
     "FROM case_charges WHERE creditor_id = $1 AND debtor_id = $2"},
    /* The saves are in their bulk form (pgbulk.h, casestore.c's save_order): $k is the array of
     * the k-th values of every row of the batch. */
    {"ch_put",
     "INSERT INTO case_charges (creditor_id, debtor_id, interest, fees, interest_total, "
     "fees_total, accrued_through, fee_charged, settlement) "
     "SELECT u.creditor_id, u.debtor_id, u.interest, u.fees, u.interest_total, u.fees_total, "
     " date '1970-01-01' + u.accrued_day, u.fee_charged, u.settlement "
     "FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], "
     " $7::integer[], $8::boolean[], $9::jsonb[]) AS u(creditor_id, debtor_id, interest, fees, "
     " interest_total, fees_total, accrued_day, fee_charged, settlement) "
     "ON CONFLICT (creditor_id, debtor_id) DO UPDATE SET interest = EXCLUDED.interest, "
     "fees = EXCLUDED.fees, interest_total = EXCLUDED.interest_total, "
     "fees_total = EXCLUDED.fees_total, accrued_through = EXCLUDED.accrued_through, "
     "fee_charged = EXCLUDED.fee_charged, settlement = EXCLUDED.settlement, updated_at = now()"},
    {"ch_payment_put",
     "INSERT INTO payment_charge (creditor_id, debtor_id, payment_id, interest, fees) "
     "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) "
     "ON CONFLICT DO NOTHING"},
    /* What the payment's over-payment credit paid later (casecharge_use_credit()), added: after
     * ch_payment_put (save_order), so the payment's own row is there first; a payment twice in
     * one batch goes into a second statement (pgbulk.h), so both amounts are added. */
    {"ch_payment_add",
     "INSERT INTO payment_charge (creditor_id, debtor_id, payment_id, interest, fees) "
     "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) "
     "ON CONFLICT (creditor_id, debtor_id, payment_id) DO UPDATE "
     "SET interest = payment_charge.interest + EXCLUDED.interest, "
     "fees = payment_charge.fees + EXCLUDED.fees"},
};

int chargestore_prepare(PGconn *conn, char *err, size_t errlen)
{
    return pg_prepare_all(conn, statements, sizeof(statements) / sizeof(statements[0]), err,
                          errlen);
}

static int64_t col_i64(const PGresult *res, int row, const char *name)
{
    int f = PQfnumber(res, name);
    return f >= 0 && !PQgetisnull(res, row, f) ? strtoll(PQgetvalue(res, row, f), NULL, 10) : 0;
}

/* Row `row` of res into cf->charges, its columns named `prefix` + the case_charges column. */
static int charges_from(const PGresult *res, int row, const char *prefix, casefile_t *cf, char *err,
                        size_t errlen)
{
    charges_state_t *c = &cf->charges;
    json_error_t jerr;
    char name[40];

#define CH_COL(col) (snprintf(name, sizeof(name), "%s%s", prefix, col), name)
    c->loaded = true;
    c->interest = col_i64(res, row, CH_COL("interest"));
    c->fees = col_i64(res, row, CH_COL("fees"));
    c->interest_total = col_i64(res, row, CH_COL("interest_total"));
    c->fees_total = col_i64(res, row, CH_COL("fees_total"));
    c->accrued_through = col_i64(res, row, CH_COL("accrued_through"));
    int f = PQfnumber(res, CH_COL("fee_charged"));
    c->fee_charged = f >= 0 && PQgetvalue(res, row, f)[0] == 't';
    f = PQfnumber(res, CH_COL("settlement"));
#undef CH_COL
    if (f >= 0 && !PQgetisnull(res, row, f)) {
        json_t *doc = json_loads(PQgetvalue(res, row, f), 0, &jerr);
        int rc = charges_settlement_from_json(doc, &c->settlement);
        json_decref(doc);
        if (doc == NULL || rc < 0) {
            snprintf(err, errlen, "case_charges.settlement is not a settlement");
            return -1;
        }
    }
    return 0;
}

static int on_charges(pgpipe_t *pp, void *target, const PGresult *res, char *err, size_t errlen)
{
    (void)pp;
    if (PQntuples(res) == 0)
        return 0; /* never charged: zeros */
    return charges_from(res, 0, "", target, err, errlen);
}

int chargestore_from_row(const PGresult *res, int row, casefile_t *cf, char *err, size_t errlen)
{
    int f = PQfnumber(res, "ch_found");

    if (f < 0 || PQgetvalue(res, row, f)[0] != 't')
        return 0; /* never charged: zeros */
    return charges_from(res, row, "ch_", cf, err, errlen);
}

int chargestore_payment_from_row(const PGresult *res, int row, casefile_t *cf,
                                 const char *payment_id, char *err, size_t errlen)
{
    int f = PQfnumber(res, "chp_interest");

    (void)err;
    (void)errlen;
    snprintf(cf->charges.pay_id, sizeof(cf->charges.pay_id), "%s", payment_id);
    if (f < 0 || PQgetisnull(res, row, f))
        return 0; /* nothing charged through it */
    cf->charges.pay_interest = col_i64(res, row, "chp_interest");
    cf->charges.pay_fees = col_i64(res, row, "chp_fees");
    return 0;
}

int chargestore_queue_case(pgpipe_t *pp, casefile_t *cf, char *err, size_t errlen)
{
    const char *params[2] = {cf->creditor_id, cf->debtor_id};
    return pgpipe_query(pp, "ch_load", 2, params, on_charges, cf, err, errlen);
}

int chargestore_save_case(PGconn *conn, casefile_t *cf, char *err, size_t errlen)
{
    charges_state_t *c = &cf->charges;
    char v[6][24];
    int rc = 0;

    if (c->pay_insert) {
        snprintf(v[0], sizeof(v[0]), "%" PRId64, c->pay_interest);
        snprintf(v[1], sizeof(v[1]), "%" PRId64, c->pay_fees);
        const char *p[5] = {cf->creditor_id, cf->debtor_id, c->pay_id, v[0], v[1]};
        if ((rc = pgpipe_cmd(conn, "ch_payment_put", 5, p, err, errlen)) != 0)
            return rc;
        c->pay_insert = false;
    }
    for (size_t i = 0; i < c->n_credit_paid; i++) {
        snprintf(v[0], sizeof(v[0]), "%" PRId64, c->credit_paid[i].interest);
        snprintf(v[1], sizeof(v[1]), "%" PRId64, c->credit_paid[i].fees);
        const char *p[5] = {cf->creditor_id, cf->debtor_id, c->credit_paid[i].payment_id, v[0],
                            v[1]};
        if ((rc = pgpipe_cmd(conn, "ch_payment_add", 5, p, err, errlen)) != 0)
            return rc;
    }
    c->n_credit_paid = 0;
    if (!c->dirty)
        return 0;
    json_t *sj = c->settlement.plan_id[0] ? charges_settlement_to_json(&c->settlement) : NULL;
    char *settlement = sj != NULL ? json_dumps(sj, JSON_COMPACT) : NULL;
    json_decref(sj);
    snprintf(v[0], sizeof(v[0]), "%" PRId64, c->interest);
    snprintf(v[1], sizeof(v[1]), "%" PRId64, c->fees);
    snprintf(v[2], sizeof(v[2]), "%" PRId64, c->interest_total);
    snprintf(v[3], sizeof(v[3]), "%" PRId64, c->fees_total);
    snprintf(v[4], sizeof(v[4]), "%" PRId64, c->accrued_through);
    const char *p[9] = {cf->creditor_id,
                        cf->debtor_id,
                        v[0],
                        v[1],
                        v[2],
                        v[3],
                        c->accrued_through > 0 ? v[4] : NULL,
                        c->fee_charged ? "true" : "false",
                        settlement};
    if (c->settlement.plan_id[0] && settlement == NULL) {
        snprintf(err, errlen, "out of memory");
        return RESULT_TRANSIENT;
    }
    rc = pgpipe_cmd(conn, "ch_put", 9, p, err, errlen);
    free(settlement);
    c->dirty = rc != 0;
    return rc;
}
