/* charges.c - late interest and fees: the policy section and the exact arithmetic (charges.h). */
#include "charges.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "jsonfield.h"
#include "money.h"

/* ---- Percents -------------------------------------------------------------------------------- */

int charges_parse_pct(const char *s, int64_t *out_e4)
{
    int64_t whole = 0, frac = 0;
    int nfrac = 0;
    const char *p = s;

    if (s == NULL || *p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        whole = whole * 10 + (*p - '0');
        if (whole > 1000)
            return -1;
    }
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        for (; *p >= '0' && *p <= '9'; p++, nfrac++) {
            if (nfrac == 4)
                return -1;
            frac = frac * 10 + (*p - '0');
        }
    }
    if (*p != '\0')
        return -1;
    for (int i = nfrac; i < 4; i++)
        frac *= 10;
    int64_t v = whole * CHARGES_PCT_SCALE + frac;
    if (v > 1000 * CHARGES_PCT_SCALE)
        return -1;
    *out_e4 = v;
    return 0;
}

char *charges_format_pct(int64_t e4, char *buf, size_t size)
{
    int64_t frac = e4 % CHARGES_PCT_SCALE;
    int digits = 4;

    while (digits > 0 && frac % 10 == 0) {
        frac /= 10;
        digits--;
    }
    if (digits == 0)
        snprintf(buf, size, "%" PRId64, e4 / CHARGES_PCT_SCALE);
    else
        snprintf(buf, size, "%" PRId64 ".%0*" PRId64, e4 / CHARGES_PCT_SCALE, digits, frac);
    return buf;
}

/* ---- Arithmetic ------------------------------------------------------------------------------ */

int64_t charges_daily_interest(int64_t principal, int64_t rate_e4)
{
    /* principal * rate_e4 / (100 * 10^4 * 365): up to 2^63 * 10^7 needs 128 bits. */
    const unsigned __int128 den =
        (unsigned __int128)100 * CHARGES_PCT_SCALE * CHARGES_DAYS_PER_YEAR;

    if (principal < 0 || rate_e4 < 0)
        return -1;
    unsigned __int128 num = (unsigned __int128)principal * (unsigned __int128)rate_e4;
    unsigned __int128 q = num / den, r = num % den;
    if (2 * r > den || (2 * r == den && (q & 1) != 0))
        q++; /* half-even: a tie goes to the even neighbour */
    return (int64_t)q;
}

void charges_take(int64_t amount, int64_t *interest, int64_t *fees, int64_t *took_interest,
                  int64_t *took_fees)
{
    int64_t ti = amount < *interest ? amount : *interest;
    int64_t left = amount - ti;
    int64_t tf = left < *fees ? left : *fees;

    *interest -= ti;
    *fees -= tf;
    *took_interest = ti;
    *took_fees = tf;
}

int64_t charges_fee_in(const charges_rules_t *rules, const char *currency)
{
    for (size_t i = 0; rules != NULL && currency != NULL && i < rules->n_fees; i++)
        if (strcmp(rules->fees[i].currency, currency) == 0)
            return rules->fees[i].minor;
    return 0;
}

/* ---- The policy section ---------------------------------------------------------------------- */

static int pct_member(const json_t *obj, const char *key, bool *has, int64_t *out, char *err,
                      size_t errlen)
{
    const json_t *v = json_object_get(obj, key);
    char path[64];

    *has = v != NULL;
    if (v == NULL)
        return 0;
    jsonfield_path(path, sizeof(path), "charges", key);
    if (!json_is_string(v) || charges_parse_pct(json_string_value(v), out) < 0)
        return jsonfield_error(err, errlen, path,
                               "must be a percent as a decimal string with at most 4 decimals, "
                               "0 to 1000 (\"3.25\")");
    return 0;
}

static int fees_member(const json_t *obj, charges_rules_t *out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(obj, "fixed_fee");
    const char *cur;
    json_t *item;
    char sub[JSONFIELD_PATH_MAX];

    if (v == NULL)
        return 0;
    if (!json_is_object(v))
        return jsonfield_error(err, errlen, "charges.fixed_fee",
                               "must be an object of amounts by currency ({\"EUR\": \"30.00\"})");
    json_object_foreach((json_t *)v, cur, item)
    {
        jsonfield_path(sub, sizeof(sub), "charges.fixed_fee", cur);
        if (!money_currency_known(cur))
            return jsonfield_error(err, errlen, sub, "unknown currency \"%s\"", cur);
        if (out->n_fees == CHARGES_MAX_FEE_CURRENCIES)
            return jsonfield_error(err, errlen, "charges.fixed_fee", "more than %d currencies",
                                   CHARGES_MAX_FEE_CURRENCIES);
        money_err_t merr = json_is_string(item) ? money_parse(json_string_value(item), cur, 0,
                                                              &out->fees[out->n_fees].minor)
                                                : MONEY_ERR_SYNTAX;
        if (merr != MONEY_OK)
            return jsonfield_error(err, errlen, sub, "must be an amount as a decimal string: %s",
                                   money_strerror(merr));
        memcpy(out->fees[out->n_fees].currency, cur, 4);
        out->n_fees++;
    }
    return 0;
}

int charges_rules_from_json(const json_t *obj, charges_rules_t *out, char *err, size_t errlen)
{
    static const char *const keys[] = {"late_interest_annual_pct",
                                       "late_interest_cap_annual_pct",
                                       "fixed_fee",
                                       "allocation_order",
                                       "description",
                                       NULL};
    bool has_rate;
    char a[32], b[32];

    memset(out, 0, sizeof(*out));
    if (obj == NULL)
        return 0;
    if (!json_is_object(obj))
        return jsonfield_error(err, errlen, "charges", "must be an object");
    if (jsonfield_expect_keys(obj, "charges", keys, err, errlen) != 0 ||
        pct_member(obj, "late_interest_annual_pct", &has_rate, &out->rate_e4, err, errlen) != 0 ||
        pct_member(obj, "late_interest_cap_annual_pct", &out->has_cap, &out->cap_e4, err, errlen) !=
            0 ||
        fees_member(obj, out, err, errlen) != 0)
        return -1;
    const json_t *d = json_object_get(obj, "description");
    if (d != NULL && !json_is_string(d))
        return jsonfield_error(err, errlen, "charges.description", "must be a string");
    const json_t *order = json_object_get(obj, "allocation_order");
    if (order != NULL) {
        const char *o = json_string_value(order);
        if (o != NULL && strcmp(o, "interest_first") == 0)
            out->order = CHARGES_INTEREST_FIRST;
        else if (o != NULL && strcmp(o, "principal_first") == 0)
            out->order = CHARGES_PRINCIPAL_FIRST;
        else
            return jsonfield_error(err, errlen, "charges.allocation_order",
                                   "must be \"interest_first\" or \"principal_first\"");
    }
    if (out->has_cap && out->rate_e4 > out->cap_e4)
        return jsonfield_error(err, errlen, "charges.late_interest_annual_pct",
                               "%s is above late_interest_cap_annual_pct %s",
                               charges_format_pct(out->rate_e4, a, sizeof(a)),
                               charges_format_pct(out->cap_e4, b, sizeof(b)));
    return 0;
}

/* ---- The settlement as stored ---------------------------------------------------------------- */

json_t *charges_settlement_to_json(const charges_settlement_t *s)
{
    json_t *lines = json_array();
    for (size_t i = 0; lines != NULL && i < s->n_lines; i++)
        json_array_append_new(lines, json_pack("{s:s, s:I}", "invoice_id", s->lines[i].invoice_id,
                                               "amount", (json_int_t)s->lines[i].amount));
    return json_pack("{s:s, s:I, s:b, s:I, s:I, s:I, s:o}", "plan_id", s->plan_id, "amount",
                     (json_int_t)s->amount, "settled", (int)s->settled, "written_off",
                     (json_int_t)s->written_off, "interest", (json_int_t)s->wo_interest, "fees",
                     (json_int_t)s->wo_fees, "lines", lines);
}

int charges_settlement_from_json(const json_t *doc, charges_settlement_t *s)
{
    size_t i;
    json_t *l;

    memset(s, 0, sizeof(*s));
    if (doc == NULL || json_is_null(doc))
        return 0;
    if (!json_is_object(doc))
        return -1;
    const char *pid = json_string_value(json_object_get(doc, "plan_id"));
    snprintf(s->plan_id, sizeof(s->plan_id), "%s", pid ? pid : "");
    s->amount = json_integer_value(json_object_get(doc, "amount"));
    s->settled = json_is_true(json_object_get(doc, "settled"));
    s->written_off = json_integer_value(json_object_get(doc, "written_off"));
    s->wo_interest = json_integer_value(json_object_get(doc, "interest"));
    s->wo_fees = json_integer_value(json_object_get(doc, "fees"));
    json_array_foreach(json_object_get(doc, "lines"), i, l)
    {
        if (s->n_lines == CHARGES_MAX_WRITEOFF_LINES)
            return -1;
        const char *iid = json_string_value(json_object_get(l, "invoice_id"));
        snprintf(s->lines[s->n_lines].invoice_id, sizeof(s->lines[0].invoice_id), "%s",
                 iid ? iid : "");
        s->lines[s->n_lines++].amount = json_integer_value(json_object_get(l, "amount"));
    }
    return 0;
}
