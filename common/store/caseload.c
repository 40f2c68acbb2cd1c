/* caseload.c - a batch's case files from plain rows, one statement per table (see caseload.h). */
#include "caseload.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chargestore.h"
#include "pg.h"

/* ---- The statements -------------------------------------------------------------------------- */

/* The batch's keys, each with its place in the arrays (ord, from 1). Every table below is reached
 * from them through a LATERAL subquery with OFFSET 0 (or LIMIT, or FOR UPDATE), which the planner
 * cannot pull up: each becomes the inner side of a nested loop, an index scan on the case key per
 * key, so no plan ever reads a whole table (a hash join over debt_case did under the generic
 * plan). */
#define CL_KEYS                                                                                    \
    "FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(creditor_id, debtor_id, ord) "
#define CL_CASE_KEY(a) a ".creditor_id = u.creditor_id AND " a ".debtor_id = u.debtor_id "
#define CL_DAY(x)      "to_char(" x ", 'YYYY-MM-DD')"

/* The case rows with their creditor, debtor and charges; CL_CASE_HEAD [FOR UPDATE] CL_CASE_TAIL.
 * Locked inside the nested loop, one key after the other: in the order of the arrays. */
#define CL_CASE_HEAD                                                                               \
    "SELECT u.ord, c.currency, c.balance, c.days_past_due, c.segment, c.rule, c.strategy, "        \
    " c.variant, c.policy_version, c.high_value, "                                                 \
    " coalesce(extract(epoch FROM c.segment_since)::bigint, 0) AS segment_since, "                 \
    " c.segment_seq, c.last_step, c.stage, c.status, c.features::text AS features, "               \
    " c.followup::text AS followup, c.next_action, c.next_channel, "                               \
    " coalesce(extract(epoch FROM c.next_not_before)::bigint, 0) AS next_not_before, "             \
    " c.version, extract(epoch FROM c.updated_at)::bigint AS updated_at, "                         \
    " cr.name AS creditor_name, d.name AS debtor_name, d.timezone, d.country, d.locale, "          \
    " d.phone, d.email, " CHARGESTORE_LOAD_COLS CL_KEYS                                            \
    "CROSS JOIN LATERAL (SELECT * FROM debt_case c WHERE " CL_CASE_KEY("c") "OFFSET 0"
#define CL_CASE_TAIL                                                                               \
    ") c "                                                                                         \
    "LEFT JOIN LATERAL (SELECT cr.name FROM creditor cr WHERE cr.creditor_id = c.creditor_id "     \
    " OFFSET 0) cr ON true "                                                                       \
    "LEFT JOIN LATERAL (SELECT d.name, d.timezone, d.country, d.locale, d.phone, d.email "         \
    " FROM debtor d WHERE d.creditor_id = c.creditor_id AND d.debtor_id = c.debtor_id "            \
    " OFFSET 0) d ON true "                                                                        \
    "LEFT JOIN LATERAL (SELECT * FROM case_charges ch WHERE ch.creditor_id = c.creditor_id "       \
    " AND ch.debtor_id = c.debtor_id OFFSET 0) ch ON true "                                        \
    "ORDER BY u.ord"

_Static_assert(CASEFILE_MAX_CALLS == 64, "cl_calls keeps CASEFILE_MAX_CALLS phone attempts");

/* The statements read as SQL, one clause a line. */
/* clang-format off */
static const pg_statement_t statements[] = {
    {"cl_cases", CL_CASE_HEAD CL_CASE_TAIL},
    {"cl_cases_lock", CL_CASE_HEAD " FOR UPDATE" CL_CASE_TAIL},
    /* Every invoice, by id. */
    {"cl_invoices",
     "SELECT u.ord, i.invoice_id, i.number, i.currency, i.amount, i.open_amount, "
     " " CL_DAY("i.due_on") " AS due_on, " CL_DAY("i.issued_on") " AS issued_on, "
     " i.status, i.adjusted "
     CL_KEYS
     "CROSS JOIN LATERAL (SELECT * FROM invoice i WHERE " CL_CASE_KEY("i") "OFFSET 0) i "
     "ORDER BY u.ord, i.invoice_id"},
    /* The pending tasks (index task_pending), oldest first; one transaction's by step, then id
     * (a total order: casecarry.c settles a carried case's tasks in it). */
    {"cl_tasks",
     "SELECT u.ord, t.task_id, t.action, t.channel, t.segment, t.segment_seq, t.step, "
     " t.template, t.priority, "
     " coalesce(extract(epoch FROM t.not_before)::bigint, 0) AS not_before, "
     " coalesce(extract(epoch FROM t.not_after)::bigint, 0) AS not_after "
     CL_KEYS
     "CROSS JOIN LATERAL (SELECT * FROM task t WHERE " CL_CASE_KEY("t")
     " AND t.status = 'pending' OFFSET 0) t "
     "ORDER BY u.ord, t.created_at, t.step, t.task_id"},
    /* The newest phone attempts (index contact_log_recent), newest first. */
    {"cl_calls",
     "SELECT u.ord, l.at "
     CL_KEYS
     "CROSS JOIN LATERAL (SELECT extract(epoch FROM l.at)::bigint AS at, l.at AS ts "
     " FROM contact_log l WHERE " CL_CASE_KEY("l") " AND l.channel = 'phone' "
     " ORDER BY l.at DESC LIMIT 64) l "
     "ORDER BY u.ord, l.ts DESC"},
    /* One row per key: the last right-party call, the last contact, the preferences. */
    {"cl_contact",
     "SELECT u.ord, "
     " (SELECT extract(epoch FROM max(l.at))::bigint FROM contact_log l "
     "  WHERE " CL_CASE_KEY("l") " AND l.channel = 'phone' "
     "  AND l.outcome IN ('right_party', 'refused')) AS last_rpc_at, "
     " (SELECT extract(epoch FROM max(l.at))::bigint FROM contact_log l "
     "  WHERE " CL_CASE_KEY("l") ") AS last_contact_at, "
     " p.found AS prefs, p.do_not_call, p.do_not_sms, p.do_not_email, p.cease_communication, "
     " p.timezone "
     CL_KEYS
     "LEFT JOIN LATERAL (SELECT true AS found, p.do_not_call, p.do_not_sms, p.do_not_email, "
     " p.cease_communication, p.timezone FROM contact_preference p "
     " WHERE " CL_CASE_KEY("p") " OFFSET 0) p ON true "
     "ORDER BY u.ord"},
    /* Every forbearance not cancelled (version 2, forbear.h): as granted, and shortened by its
     * early end (0011). */
    {"cl_forbearances",
     "SELECT u.ord, " CL_DAY("f.from_on") " AS from_on, " CL_DAY("f.until_on") " AS until_on, "
     " " CL_DAY("least(f.until_on, f.ended_on - 1)") " AS ends_on "
     CL_KEYS
     "CROSS JOIN LATERAL (SELECT * FROM forbearance f WHERE " CL_CASE_KEY("f")
     " AND (f.ended_on IS NULL OR f.ended_on > f.from_on) OFFSET 0) f "
     "ORDER BY u.ord, f.from_on, f.until_on"},
};
/* clang-format on */

int caseload_prepare(PGconn *conn, char *err, size_t errlen)
{
    return pg_prepare_all(conn, statements, sizeof(statements) / sizeof(statements[0]), err,
                          errlen);
}

/* ---- Reading the rows ------------------------------------------------------------------------ */

/* Column numbers of one result, found once by name (not per row). */
#define CL_MAX_COLS 32

typedef struct cols {
    const PGresult *res;
    int f[CL_MAX_COLS];
} cols_t;

static void cols_find(cols_t *c, const PGresult *res, const char *const *names, size_t n)
{
    c->res = res;
    for (size_t i = 0; i < n && i < CL_MAX_COLS; i++)
        c->f[i] = PQfnumber(res, names[i]);
}

/* Column i of row r, or NULL when SQL NULL or missing (borrowed from the result). */
static const char *val(const cols_t *c, int r, int i)
{
    int f = c->f[i];
    return f < 0 || PQgetisnull(c->res, r, f) ? NULL : PQgetvalue(c->res, r, f);
}

static int64_t val_i64(const cols_t *c, int r, int i)
{
    const char *v = val(c, r, i);
    return v ? strtoll(v, NULL, 10) : 0;
}

static bool val_true(const cols_t *c, int r, int i)
{
    const char *v = val(c, r, i);
    return v != NULL && v[0] == 't';
}

static void set_str(char *dst, size_t size, const char *s)
{
    snprintf(dst, size, "%s", s ? s : "");
}

/* The case file of row r (its column 0 is u.ord), or NULL with err filled. */
static casefile_t *row_case(const caseload_t *ls, const cols_t *c, int r, const char *what,
                            char *err, size_t errlen)
{
    int64_t ord = val_i64(c, r, 0);
    if (ord < 1 || (size_t)ord > ls->n) {
        snprintf(err, errlen, "%s: row %d has no case", what, r);
        return NULL;
    }
    return ls->cfs[ord - 1];
}

/* ---- The case rows --------------------------------------------------------------------------- */

enum {
    CC_ORD,
    CC_CURRENCY,
    CC_BALANCE,
    CC_DPD,
    CC_SEGMENT,
    CC_RULE,
    CC_STRATEGY,
    CC_VARIANT,
    CC_POLICY_VERSION,
    CC_HIGH_VALUE,
    CC_SEGMENT_SINCE,
    CC_SEGMENT_SEQ,
    CC_LAST_STEP,
    CC_STAGE,
    CC_STATUS,
    CC_FEATURES,
    CC_FOLLOWUP,
    CC_NEXT_ACTION,
    CC_NEXT_CHANNEL,
    CC_NEXT_NOT_BEFORE,
    CC_VERSION,
    CC_UPDATED_AT,
    CC_CREDITOR_NAME,
    CC_DEBTOR_NAME,
    CC_TIMEZONE,
    CC_COUNTRY,
    CC_LOCALE,
    CC_PHONE,
    CC_EMAIL,
    CC_N
};

static const char *const case_names[CC_N] = {
    "ord",           "currency",    "balance",       "days_past_due",  "segment",
    "rule",          "strategy",    "variant",       "policy_version", "high_value",
    "segment_since", "segment_seq", "last_step",     "stage",          "status",
    "features",      "followup",    "next_action",   "next_channel",   "next_not_before",
    "version",       "updated_at",  "creditor_name", "debtor_name",    "timezone",
    "country",       "locale",      "phone",         "email"};

/* The case row's own columns and its parties into *cf. */
static void case_columns(const cols_t *c, int r, casefile_t *cf)
{
    set_str(cf->currency, sizeof(cf->currency), val(c, r, CC_CURRENCY));
    cf->balance = val_i64(c, r, CC_BALANCE);
    cf->days_past_due = (int32_t)val_i64(c, r, CC_DPD);
    const char *seg = val(c, r, CC_SEGMENT);
    cf->segmented = seg != NULL && segment_from_name(seg, &cf->segment) == 0;
    set_str(cf->rule, sizeof(cf->rule), val(c, r, CC_RULE));
    set_str(cf->strategy, sizeof(cf->strategy), val(c, r, CC_STRATEGY));
    set_str(cf->variant, sizeof(cf->variant), val(c, r, CC_VARIANT));
    cf->policy_version = (int)val_i64(c, r, CC_POLICY_VERSION);
    cf->high_value = val_true(c, r, CC_HIGH_VALUE);
    cf->segment_since = val_i64(c, r, CC_SEGMENT_SINCE);
    cf->segment_seq = (int)val_i64(c, r, CC_SEGMENT_SEQ);
    cf->last_step = (int)val_i64(c, r, CC_LAST_STEP);
    set_str(cf->stage, sizeof(cf->stage), val(c, r, CC_STAGE));
    if (casefile_status_from_name(val(c, r, CC_STATUS), &cf->status) < 0)
        cf->status = CASEFILE_OPEN;
    const char *na = val(c, r, CC_NEXT_ACTION);
    cf->has_next = na != NULL;
    set_str(cf->next_action, sizeof(cf->next_action), na);
    set_str(cf->next_channel, sizeof(cf->next_channel), val(c, r, CC_NEXT_CHANNEL));
    cf->next_not_before = val_i64(c, r, CC_NEXT_NOT_BEFORE);
    cf->version = val_i64(c, r, CC_VERSION);
    cf->updated_at = val_i64(c, r, CC_UPDATED_AT);
    set_str(cf->creditor_name, sizeof(cf->creditor_name), val(c, r, CC_CREDITOR_NAME));
    set_str(cf->debtor_name, sizeof(cf->debtor_name), val(c, r, CC_DEBTOR_NAME));
    set_str(cf->timezone, sizeof(cf->timezone), val(c, r, CC_TIMEZONE));
    set_str(cf->debtor_zone, sizeof(cf->debtor_zone), val(c, r, CC_TIMEZONE));
    set_str(cf->country, sizeof(cf->country), val(c, r, CC_COUNTRY));
    set_str(cf->locale, sizeof(cf->locale), val(c, r, CC_LOCALE));
    set_str(cf->phone, sizeof(cf->phone), val(c, r, CC_PHONE));
    set_str(cf->email, sizeof(cf->email), val(c, r, CC_EMAIL));
}

/* The case's JSON columns (features; version 2: follow-up planning's state, when an object) and
 * its list of forbearances, empty until cl_forbearances fills it. Returns 0 or -1. */
static int case_json(const cols_t *c, int r, casefile_t *cf, char *err, size_t errlen)
{
    json_error_t jerr;
    const char *text = val(c, r, CC_FEATURES);
    json_t *features = json_loads(text ? text : "{}", 0, &jerr);
    int rc = features != NULL ? casefile_set_features(cf, features) : -1;

    json_decref(features);
    if (rc < 0) {
        snprintf(err, errlen, "case features are not a JSON object");
        return -1;
    }
    if ((text = val(c, r, CC_FOLLOWUP)) != NULL) {
        json_t *fu = json_loads(text, 0, &jerr);
        if (json_is_object(fu)) {
            json_decref(cf->followup);
            cf->followup = fu;
        } else {
            json_decref(fu);
        }
    }
    json_decref(cf->forbearances);
    if ((cf->forbearances = json_array()) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int on_cases(pgpipe_t *pp, void *target, const PGresult *res, char *err, size_t errlen)
{
    caseload_t *ls = target;
    cols_t c;
    int rc = 0;

    (void)pp;
    if (ls->lock && (size_t)PQntuples(res) != ls->n) {
        snprintf(err, errlen, "cl_cases: %d case rows for %zu cases", PQntuples(res), ls->n);
        return -1;
    }
    cols_find(&c, res, case_names, CC_N);
    for (int r = 0; r < PQntuples(res) && rc == 0; r++) {
        casefile_t *cf = row_case(ls, &c, r, "cl_cases", err, errlen);
        if (cf == NULL)
            return -1;
        case_columns(&c, r, cf);
        rc = case_json(&c, r, cf, err, errlen);
        if (rc == 0) /* money: the case's interest, fees and settlement (chargestore.h) */
            rc = chargestore_from_row(res, r, cf, err, errlen);
        ls->found++;
    }
    return rc;
}

/* ---- Invoices and tasks ---------------------------------------------------------------------- */

static int on_invoices(pgpipe_t *pp, void *target, const PGresult *res, char *err, size_t errlen)
{
    static const char *const names[] = {"ord",    "invoice_id",  "number", "currency",
                                        "amount", "open_amount", "due_on", "issued_on",
                                        "status", "adjusted"};
    cols_t c;

    (void)pp;
    cols_find(&c, res, names, sizeof(names) / sizeof(names[0]));
    for (int r = 0; r < PQntuples(res); r++) {
        casefile_t *cf = row_case(target, &c, r, "cl_invoices", err, errlen);
        casefile_invoice_t inv;
        if (cf == NULL)
            return -1;
        memset(&inv, 0, sizeof(inv));
        set_str(inv.id, sizeof(inv.id), val(&c, r, 1));
        set_str(inv.number, sizeof(inv.number), val(&c, r, 2));
        set_str(inv.currency, sizeof(inv.currency), val(&c, r, 3));
        inv.amount = val(&c, r, 4) ? val_i64(&c, r, 4) : -1; /* not known yet: a stub */
        inv.open_amount = val(&c, r, 5) ? val_i64(&c, r, 5) : -1;
        set_str(inv.due_on, sizeof(inv.due_on), val(&c, r, 6));
        set_str(inv.issued_on, sizeof(inv.issued_on), val(&c, r, 7));
        if (casefile_invoice_status_from_name(val(&c, r, 8), &inv.status) < 0)
            inv.status = CASEFILE_INVOICE_OPEN;
        inv.adjusted = val_true(&c, r, 9);
        if (casefile_add_invoice(cf, &inv) == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

static int on_tasks(pgpipe_t *pp, void *target, const PGresult *res, char *err, size_t errlen)
{
    static const char *const names[] = {"ord",      "task_id",     "action",   "channel",
                                        "segment",  "segment_seq", "step",     "template",
                                        "priority", "not_before",  "not_after"};
    cols_t c;

    (void)pp;
    cols_find(&c, res, names, sizeof(names) / sizeof(names[0]));
    for (int r = 0; r < PQntuples(res); r++) {
        casefile_t *cf = row_case(target, &c, r, "cl_tasks", err, errlen);
        casefile_task_t t;
        if (cf == NULL)
            return -1;
        memset(&t, 0, sizeof(t));
        set_str(t.task_id, sizeof(t.task_id), val(&c, r, 1));
        set_str(t.action, sizeof(t.action), val(&c, r, 2));
        set_str(t.channel, sizeof(t.channel), val(&c, r, 3));
        set_str(t.segment, sizeof(t.segment), val(&c, r, 4));
        t.segment_seq = (int)val_i64(&c, r, 5);
        t.step = (int)val_i64(&c, r, 6);
        set_str(t.template_name, sizeof(t.template_name), val(&c, r, 7));
        t.priority = (int)val_i64(&c, r, 8);
        t.not_before = val_i64(&c, r, 9);
        t.not_after = val_i64(&c, r, 10);
        t.status = CASEFILE_TASK_PENDING;
        if (casefile_add_task(cf, &t) == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* ---- Contact state (interactions: 0004_interactions.sql) ------------------------------------- */

/* The newest phone attempts, newest first (as caseinteract.c keeps them). */
static int on_calls(pgpipe_t *pp, void *target, const PGresult *res, char *err, size_t errlen)
{
    static const char *const names[] = {"ord", "at"};
    cols_t c;

    (void)pp;
    cols_find(&c, res, names, 2);
    for (int r = 0; r < PQntuples(res); r++) {
        casefile_t *cf = row_case(target, &c, r, "cl_calls", err, errlen);
        if (cf == NULL)
            return -1;
        if (cf->n_call_attempts < CASEFILE_MAX_CALLS)
            cf->call_attempts[cf->n_call_attempts++] = val_i64(&c, r, 1);
    }
    return 0;
}

static int on_contact(pgpipe_t *pp, void *target, const PGresult *res, char *err, size_t errlen)
{
    static const char *const names[] = {"ord",          "last_rpc_at",         "last_contact_at",
                                        "prefs",        "do_not_call",         "do_not_sms",
                                        "do_not_email", "cease_communication", "timezone"};
    cols_t c;

    (void)pp;
    cols_find(&c, res, names, sizeof(names) / sizeof(names[0]));
    for (int r = 0; r < PQntuples(res); r++) {
        casefile_t *cf = row_case(target, &c, r, "cl_contact", err, errlen);
        if (cf == NULL)
            return -1;
        cf->last_rpc_at = val_i64(&c, r, 1);
        cf->last_contact_at = val_i64(&c, r, 2);
        if (!val_true(&c, r, 3))
            continue; /* no preferences: no restriction */
        cf->do_not_call = val_true(&c, r, 4);
        cf->do_not_sms = val_true(&c, r, 5);
        cf->do_not_email = val_true(&c, r, 6);
        cf->cease_communication = val_true(&c, r, 7);
        const char *tz = val(&c, r, 8); /* overrides the accounting system's zone */
        if (tz != NULL && tz[0] != '\0') {
            set_str(cf->tz_override, sizeof(cf->tz_override), tz);
            set_str(cf->timezone, sizeof(cf->timezone), tz);
        }
    }
    return 0;
}

/* Every forbearance into cf->forbearances [{"from", "until" (its early end)}], and the latest
 * granted (greatest until, then from) into forbearance_from/until. */
static int on_forbearances(pgpipe_t *pp, void *target, const PGresult *res, char *err,
                           size_t errlen)
{
    static const char *const names[] = {"ord", "from_on", "until_on", "ends_on"};
    cols_t c;

    (void)pp;
    cols_find(&c, res, names, 4);
    for (int r = 0; r < PQntuples(res); r++) {
        casefile_t *cf = row_case(target, &c, r, "cl_forbearances", err, errlen);
        if (cf == NULL)
            return -1;
        const char *from = val(&c, r, 1), *until = val(&c, r, 2), *ends = val(&c, r, 3);
        if (from == NULL || until == NULL || ends == NULL)
            continue; /* NOT NULL columns */
        if (cf->forbearances == NULL ||
            json_array_append_new(cf->forbearances,
                                  json_pack("{s:s, s:s}", "from", from, "until", ends)) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        int cmp = strcmp(until, cf->forbearance_until);
        if (cmp > 0 || (cmp == 0 && strcmp(from, cf->forbearance_from) > 0)) {
            set_str(cf->forbearance_from, sizeof(cf->forbearance_from), from);
            set_str(cf->forbearance_until, sizeof(cf->forbearance_until), until);
        }
    }
    return 0;
}

/* ---- Queueing -------------------------------------------------------------------------------- */

int caseload_queue(pgpipe_t *pp, caseload_t *ls, const char *const keys[2], char *err,
                   size_t errlen)
{
    static const struct {
        const char *name;
        pgpipe_fn fn;
    } children[] = {{"cl_invoices", on_invoices},
                    {"cl_tasks", on_tasks},
                    {"cl_calls", on_calls},
                    {"cl_contact", on_contact},
                    {"cl_forbearances", on_forbearances}};
    int rc = pgpipe_query(pp, ls->lock ? "cl_cases_lock" : "cl_cases", 2, keys, on_cases, ls, err,
                          errlen);

    ls->found = 0;
    for (size_t i = 0; i < sizeof(children) / sizeof(children[0]) && rc == 0; i++)
        rc = pgpipe_query(pp, children[i].name, 2, keys, children[i].fn, ls, err, errlen);
    return rc;
}
