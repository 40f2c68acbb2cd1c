/* casefile.c - one collections case in memory and the pure decisions over it (see casefile.h). */
#include "casefile.h"

#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casecharge.h"
#include "callback.h"
#include "contact.h"
#include "escalation.h"
#include "forbear.h"
#include "grow.h"
#include "hold.h"
#include "money.h"
#include "outreach.h"
#include "strategy.h"
#include "calendar.h"

/* ---- Names ----------------------------------------------------------------------------------- */

static const char *const status_names[] = {"open", "paused", "resolved"};
static const char *const invoice_status_names[] = {"open", "cancelled", "paid", "written_off"};
static const char *const task_status_names[] = {"pending", "cancelled", "done", "suppressed",
                                                "failed"};

#define NAMES_LEN(a) (sizeof(a) / sizeof((a)[0]))

static int name_lookup(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; name != NULL && i < n; i++)
        if (strcmp(names[i], name) == 0)
            return (int)i;
    return -1;
}

const char *casefile_status_name(casefile_status_t s)
{
    return (size_t)s < NAMES_LEN(status_names) ? status_names[s] : "unknown";
}

const char *casefile_invoice_status_name(casefile_invoice_status_t s)
{
    return (size_t)s < NAMES_LEN(invoice_status_names) ? invoice_status_names[s] : "unknown";
}

const char *casefile_task_status_name(casefile_task_status_t s)
{
    return (size_t)s < NAMES_LEN(task_status_names) ? task_status_names[s] : "unknown";
}

int casefile_status_from_name(const char *name, casefile_status_t *out)
{
    int i = name_lookup(status_names, NAMES_LEN(status_names), name);
    if (i < 0)
        return -1;
    *out = (casefile_status_t)i;
    return 0;
}

int casefile_invoice_status_from_name(const char *name, casefile_invoice_status_t *out)
{
    int i = name_lookup(invoice_status_names, NAMES_LEN(invoice_status_names), name);
    if (i < 0)
        return -1;
    *out = (casefile_invoice_status_t)i;
    return 0;
}

int casefile_task_status_from_name(const char *name, casefile_task_status_t *out)
{
    int i = name_lookup(task_status_names, NAMES_LEN(task_status_names), name);
    if (i < 0)
        return -1;
    *out = (casefile_task_status_t)i;
    return 0;
}

/* ---- Life cycle ------------------------------------------------------------------------------ */

/* Copies s into a fixed buffer; returns -1 (dst "") when it does not fit. */
static int copy_str(char *dst, size_t size, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n >= size) {
        dst[0] = '\0';
        return -1;
    }
    memcpy(dst, s ? s : "", n + 1);
    return 0;
}

int casefile_init(casefile_t *cf, const char *creditor_id, const char *debtor_id)
{
    memset(cf, 0, sizeof(*cf));
    if (copy_str(cf->creditor_id, sizeof(cf->creditor_id), creditor_id) < 0 ||
        copy_str(cf->debtor_id, sizeof(cf->debtor_id), debtor_id) < 0)
        return -1;
    strcpy(cf->stage, vocab_stage_name(VOCAB_STAGE_NONE));
    cf->status = CASEFILE_OPEN;
    cf->features = json_object();
    cf->followup = json_object();
    return cf->features && cf->followup ? 0 : -1;
}

static void rows_clear(casefile_rows_t *r)
{
    if (r->payment != NULL) {
        free(r->payment->plan_lines);
        free(r->payment->lines);
    }
    free(r->payment);
    free(r->promise);
    free(r->plan);
    free(r->open_promise);
    free(r->open_plan);
    free(r->pending);
    for (size_t i = 0; i < r->n_disputes; i++) {
        free(r->disputes[i].event_source);
        free(r->disputes[i].event_id);
    }
    free(r->disputes);
}

void casefile_clear(casefile_t *cf)
{
    if (cf == NULL)
        return;
    rows_clear(&cf->rows);
    for (size_t i = 0; i < cf->n_tasks; i++)
        json_decref(cf->tasks[i].data);
    free(cf->tasks);
    free(cf->invoices);
    json_decref(cf->features);
    json_decref(cf->followup);
    json_decref(cf->forbearances);
    /* payments */
    free(cf->credits);
    free(cf->credit_lines);
    json_decref(cf->open_promise);
    json_decref(cf->active_plan);
    memset(cf, 0, sizeof(*cf));
}

casefile_invoice_t *casefile_add_invoice(casefile_t *cf, const casefile_invoice_t *inv)
{
    if (GROW(cf->invoices, cf->cap_invoices, cf->n_invoices, 8) < 0)
        return NULL;
    cf->invoices[cf->n_invoices] = *inv;
    return &cf->invoices[cf->n_invoices++];
}

casefile_task_t *casefile_add_task(casefile_t *cf, const casefile_task_t *task)
{
    if (GROW(cf->tasks, cf->cap_tasks, cf->n_tasks, 8) < 0)
        return NULL;
    cf->tasks[cf->n_tasks] = *task;
    return &cf->tasks[cf->n_tasks++];
}

casefile_invoice_t *casefile_find_invoice(casefile_t *cf, const char *id)
{
    for (size_t i = 0; i < cf->n_invoices; i++)
        if (strcmp(cf->invoices[i].id, id) == 0)
            return &cf->invoices[i];
    return NULL;
}

int casefile_set_features(casefile_t *cf, const json_t *features)
{
    if (!json_is_object(features))
        return -1;
    json_t *copy = json_deep_copy(features);
    if (copy == NULL)
        return -1;
    json_decref(cf->features);
    cf->features = copy;
    return 0;
}

/* ---- Applying events ------------------------------------------------------------------------- */

static const char *str_at(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* Parses a validated amount; the validator already accepted it, so failure means a bug or an
 * unvalidated event: reported as schema_violation. */
static int amount_of(const json_t *obj, const char *key, const char *currency, int64_t *out,
                     reason_t *err)
{
    const char *s = str_at(obj, key);
    if (s == NULL || money_parse(s, currency, 0, out) != MONEY_OK)
        return reason_set(err, "invalid_amount", "data.%s: not an amount in the case currency",
                          key);
    return 0;
}

/* Sets the status an amount implies for a documented, not cancelled invoice. */
static void settle_status(casefile_invoice_t *inv)
{
    if (inv->status != CASEFILE_INVOICE_CANCELLED && inv->due_on[0] != '\0')
        inv->status = inv->open_amount == 0 ? CASEFILE_INVOICE_PAID : CASEFILE_INVOICE_OPEN;
}

/* Checks an invoice.overdue before anything changes: complete, in the case's and the invoice's
 * currency, amounts that parse, an id that fits. Fills the amounts. */
static int check_overdue(casefile_t *cf, const json_t *data, int64_t *amount, int64_t *open_amount,
                         reason_t *err)
{
    const json_t *invj = json_object_get(data, "invoice");
    const char *currency = str_at(invj, "currency");
    const char *inv_id = str_at(invj, "id");

    if (currency == NULL || inv_id == NULL || json_object_get(data, "debtor") == NULL)
        return reason_set(err, "schema_violation", "data.invoice: incomplete");
    if (cf->currency[0] != '\0' && strcmp(cf->currency, currency) != 0)
        return reason_set(err, "currency_mismatch", "data.invoice.currency: the case is in %s",
                          cf->currency);
    const casefile_invoice_t *inv = casefile_find_invoice(cf, inv_id);
    if (inv != NULL && inv->currency[0] != '\0' && strcmp(inv->currency, currency) != 0)
        return reason_set(err, "currency_mismatch", "data.invoice.currency: the invoice is in %s",
                          inv->currency);
    if (amount_of(invj, "amount", currency, amount, err) < 0 ||
        amount_of(invj, "open_amount", currency, open_amount, err) < 0)
        return -1;
    if (strlen(inv_id) >= CASEFILE_ID_MAX)
        return reason_set(err, "schema_violation", "data.invoice.id: too long");
    return 0;
}

/* The invoice as the overdue documents it (added when new). */
static int document_invoice(casefile_t *cf, const json_t *invj, int64_t amount, int64_t open_amount,
                            reason_t *err)
{
    const char *inv_id = str_at(invj, "id");
    casefile_invoice_t *inv = casefile_find_invoice(cf, inv_id);

    if (inv == NULL) {
        casefile_invoice_t fresh;
        memset(&fresh, 0, sizeof(fresh));
        strcpy(fresh.id, inv_id);
        fresh.amount = fresh.open_amount = -1;
        if ((inv = casefile_add_invoice(cf, &fresh)) == NULL)
            return reason_set(err, "processing_error", "out of memory");
    }
    bool stub = inv->due_on[0] == '\0';
    strcpy(inv->currency, str_at(invj, "currency"));
    inv->amount = amount;
    if (!(stub && inv->adjusted))
        inv->open_amount = open_amount; /* a stub's earlier adjustment wins over the snapshot */
    inv->adjusted = false;
    /* Validated values always fit (the buffers hold their limits in bytes); one that does not is
     * refused, never blanked. */
    if (copy_str(inv->due_on, sizeof(inv->due_on), str_at(invj, "due_on")) < 0 ||
        (str_at(invj, "issued_on") &&
         copy_str(inv->issued_on, sizeof(inv->issued_on), str_at(invj, "issued_on")) < 0) ||
        (str_at(invj, "number") &&
         copy_str(inv->number, sizeof(inv->number), str_at(invj, "number")) < 0))
        return reason_set(err, "schema_violation",
                          "data.invoice: a field is longer than its limit");
    settle_status(inv);
    inv->dirty = true;
    return 0;
}

/* Copies the optional field `name` of `obj` into dst when the event carries it: a re-send that
 * omits it keeps what was known. Sets *changed when dst differs now. Returns 0, or -1 when it does
 * not fit (dst unchanged). */
static int copy_known(char *dst, size_t size, const json_t *obj, const char *name, bool *changed)
{
    const char *s = str_at(obj, name);
    if (s == NULL || strcmp(dst, s) == 0)
        return 0;
    *changed = true;
    return strlen(s) < size ? copy_str(dst, size, s) : -1;
}

/* The creditor and the debtor as the overdue names them; marked for saving only when a field
 * differs from what the case was loaded with (most events re-send the same parties). A debtor
 * has one zone: the one they gave in contact.preferences wins over the accounting system's, so
 * while there is one the overdue's zone is not taken (the debtor row keeps the debtor's own,
 * which the scheduler's day follows too: nextdue.h). Returns 0, or -1 with err filled when a
 * value does not fit its buffer (never blanked: validated values always fit). */
static int name_parties(casefile_t *cf, const json_t *data, reason_t *err)
{
    const json_t *debtor = json_object_get(data, "debtor");
    const json_t *zone_from = cf->tz_override[0] ? NULL : debtor;
    bool changed = false;

    if (copy_known(cf->creditor_name, sizeof(cf->creditor_name), data, "creditor_name", &changed) <
            0 ||
        copy_known(cf->debtor_name, sizeof(cf->debtor_name), debtor, "name", &changed) < 0 ||
        copy_known(cf->timezone, sizeof(cf->timezone), zone_from, "timezone", &changed) < 0 ||
        copy_known(cf->country, sizeof(cf->country), debtor, "country", &changed) < 0 ||
        copy_known(cf->locale, sizeof(cf->locale), debtor, "locale", &changed) < 0 ||
        copy_known(cf->phone, sizeof(cf->phone), debtor, "phone", &changed) < 0 ||
        copy_known(cf->email, sizeof(cf->email), debtor, "email", &changed) < 0)
        return reason_set(err, "schema_violation", "data.debtor: a field is longer than its limit");
    cf->parties_dirty = cf->parties_dirty || changed;
    return 0;
}

bool casefile_parties_due(const casefile_t *cf)
{
    if (cf->creditor_name[0] == '\0' || cf->timezone[0] == '\0')
        return false;
    return cf->parties_dirty || (cf->debtor_zone[0] && strcmp(cf->debtor_zone, cf->timezone) != 0);
}

static int apply_overdue(casefile_t *cf, const json_t *data, reason_t *err)
{
    const json_t *invj = json_object_get(data, "invoice");
    int64_t amount, open_amount;

    if (check_overdue(cf, data, &amount, &open_amount, err) < 0)
        return -1;
    /* Checked everything: from here on the case changes. */
    if (document_invoice(cf, invj, amount, open_amount, err) < 0)
        return -1;
    strcpy(cf->currency, str_at(invj, "currency"));
    return name_parties(cf, data, err);
}

static int apply_adjusted(casefile_t *cf, const json_t *data, reason_t *err)
{
    const char *currency = str_at(data, "currency");
    const char *inv_id = str_at(data, "invoice_id");
    int64_t open_amount;

    if (currency == NULL || inv_id == NULL || strlen(inv_id) >= CASEFILE_ID_MAX)
        return reason_set(err, "schema_violation", "data.invoice_id: missing or too long");
    if (cf->currency[0] != '\0' && strcmp(cf->currency, currency) != 0)
        return reason_set(err, "currency_mismatch", "data.currency: the case is in %s",
                          cf->currency);
    casefile_invoice_t *inv = casefile_find_invoice(cf, inv_id);
    if (inv != NULL && inv->currency[0] != '\0' && strcmp(inv->currency, currency) != 0)
        return reason_set(err, "currency_mismatch", "data.currency: the invoice is in %s",
                          inv->currency);
    if (amount_of(data, "open_amount", currency, &open_amount, err) < 0)
        return -1;
    if (inv == NULL) {
        casefile_invoice_t fresh;
        memset(&fresh, 0, sizeof(fresh));
        strcpy(fresh.id, inv_id);
        fresh.amount = -1;
        if ((inv = casefile_add_invoice(cf, &fresh)) == NULL)
            return reason_set(err, "processing_error", "out of memory");
    }
    if (inv->status != CASEFILE_INVOICE_CANCELLED) {
        inv->open_amount = open_amount;
        if (inv->due_on[0] == '\0')
            inv->adjusted = true;
        settle_status(inv);
    }
    strcpy(inv->currency, currency);
    inv->dirty = true;
    if (cf->currency[0] == '\0')
        strcpy(cf->currency, currency);
    return 0;
}

static int apply_cancelled(casefile_t *cf, const json_t *data, reason_t *err)
{
    const char *inv_id = str_at(data, "invoice_id");

    if (inv_id == NULL || strlen(inv_id) >= CASEFILE_ID_MAX)
        return reason_set(err, "schema_violation", "data.invoice_id: missing or too long");
    casefile_invoice_t *inv = casefile_find_invoice(cf, inv_id);
    if (inv == NULL) {
        casefile_invoice_t fresh;
        memset(&fresh, 0, sizeof(fresh));
        strcpy(fresh.id, inv_id);
        fresh.amount = fresh.open_amount = -1;
        if ((inv = casefile_add_invoice(cf, &fresh)) == NULL)
            return reason_set(err, "processing_error", "out of memory");
    }
    inv->status = CASEFILE_INVOICE_CANCELLED;
    inv->dirty = true;
    return 0;
}

/* The invoice events and what applies each. */
static const struct {
    const char *type;
    int (*apply)(casefile_t *cf, const json_t *data, reason_t *err);
} invoice_events[] = {
    {"invoice.overdue", apply_overdue},
    {"invoice.adjusted", apply_adjusted},
    {"invoice.cancelled", apply_cancelled},
};

int casefile_apply_event(casefile_t *cf, const char *type, const json_t *data, reason_t *err)
{
    for (size_t i = 0; i < sizeof(invoice_events) / sizeof(invoice_events[0]); i++) {
        if (strcmp(type, invoice_events[i].type) != 0)
            continue;
        int rc = invoice_events[i].apply(cf, data, err);
        if (rc == 0)
            copy_str(cf->last_event, sizeof(cf->last_event), type);
        return rc;
    }
    return reason_set(err, "unknown_type", "type is not one this service consumes");
}

/* ---- Time and ids ---------------------------------------------------------------------------- */

void casefile_uuid5(const char *name, char out[CASEFILE_UUID_MAX])
{
    /* recobro's namespace: a fixed random UUID (6c3f0e6a-8d2b-4b1e-9f57-72c6a1d0be10). */
    static const guint8 ns[16] = {0x6c, 0x3f, 0x0e, 0x6a, 0x8d, 0x2b, 0x4b, 0x1e,
                                  0x9f, 0x57, 0x72, 0xc6, 0xa1, 0xd0, 0xbe, 0x10};
    guint8 digest[20];
    gsize len = sizeof(digest);
    GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA1);

    g_checksum_update(ck, ns, sizeof(ns));
    g_checksum_update(ck, (const guchar *)name, (gssize)strlen(name));
    g_checksum_get_digest(ck, digest, &len);
    g_checksum_free(ck);
    digest[6] = (guint8)((digest[6] & 0x0f) | 0x50); /* version 5 */
    digest[8] = (guint8)((digest[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, CASEFILE_UUID_MAX,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", digest[0],
             digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7], digest[8],
             digest[9], digest[10], digest[11], digest[12], digest[13], digest[14], digest[15]);
}

/* A UUIDv5 of the parts joined by 0x1f (unit separator). */
static void uuid_of(char out[CASEFILE_UUID_MAX], const char *kind, const casefile_t *cf,
                    const char *extra)
{
    char name[1024];
    snprintf(name, sizeof(name), "%s\x1f%s\x1f%s\x1f%s", kind, cf->creditor_id, cf->debtor_id,
             extra);
    casefile_uuid5(name, out);
}

/* ---- Planning -------------------------------------------------------------------------------- */

void casefile_plan_clear(casefile_plan_t *plan)
{
    if (plan == NULL)
        return;
    for (size_t i = 0; i < plan->n_outputs; i++)
        json_decref(plan->outputs[i].data);
    free(plan->outputs);
    memset(plan, 0, sizeof(*plan));
}

int casefile_emit(casefile_plan_t *plan, casefile_topic_t topic, const char *type, const char *id,
                  int64_t at, json_t *data)
{
    casefile_output_t *o;

    if (data == NULL || GROW(plan->outputs, plan->cap_outputs, plan->n_outputs, 8) < 0) {
        json_decref(data);
        return -1;
    }
    if (topic == CASEFILE_TOPIC_TASKS && strcmp(type, "task.created") == 0 &&
        json_object_get(data, "queue") == NULL) {
        /* version 2: the routing queue; senior for the high_value overlay and supervisors. */
        const char *action = json_string_value(json_object_get(data, "action"));
        bool senior = json_is_true(json_object_get(data, "high_value")) ||
                      (action != NULL && strcmp(action, "supervisor_review") == 0);
        json_object_set_new(data, "queue", json_string(senior ? "senior" : "standard"));
    }
    o = &plan->outputs[plan->n_outputs++];
    o->topic = topic;
    o->type = type;
    snprintf(o->id, sizeof(o->id), "%s", id);
    o->at = at;
    o->data = data;
    return 0;
}

static void count(const char **arr, size_t *n, const char *what)
{
    if (*n < 16)
        arr[(*n)++] = what;
}

static json_t *money_json(int64_t minor, const char *currency)
{
    char buf[MONEY_FMT_MAX];
    if (money_format(minor, currency, buf, sizeof(buf)) < 0)
        return NULL;
    return json_string(buf);
}

static json_t *instant_json(int64_t t, const char *zone)
{
    char buf[CONTACT_INSTANT_MAX];
    if (contact_format_instant(t, zone, buf, sizeof(buf)) < 0)
        return NULL;
    return json_string(buf);
}

static bool is_documented_open(const casefile_invoice_t *inv)
{
    return inv->status == CASEFILE_INVOICE_OPEN && inv->due_on[0] != '\0' && inv->open_amount > 0;
}

static int cmp_due(const void *a, const void *b)
{
    const casefile_invoice_t *x = *(const casefile_invoice_t *const *)a;
    const casefile_invoice_t *y = *(const casefile_invoice_t *const *)b;
    int c = strcmp(x->due_on, y->due_on);
    return c ? c : strcmp(x->id, y->id);
}

json_t *casefile_invoices_new(const casefile_t *cf)
{
    json_t *arr = json_array();
    const casefile_invoice_t **sorted = malloc((cf->n_invoices + 1) * sizeof(*sorted));
    size_t n = 0;

    if (arr == NULL || sorted == NULL) {
        json_decref(arr);
        free(sorted);
        return NULL;
    }
    for (size_t i = 0; i < cf->n_invoices; i++)
        if (is_documented_open(&cf->invoices[i]))
            sorted[n++] = &cf->invoices[i];
    qsort(sorted, n, sizeof(*sorted), cmp_due);
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_pack("{s:s, s:o, s:s}", "id", sorted[i]->id, "open_amount",
                              money_json(sorted[i]->open_amount, cf->currency), "due_on",
                              sorted[i]->due_on);
        if (o != NULL && sorted[i]->number[0] != '\0')
            json_object_set_new(o, "number", json_string(sorted[i]->number));
        if (o == NULL || json_array_append_new(arr, o) < 0) {
            json_decref(arr);
            free(sorted);
            return NULL;
        }
    }
    free(sorted);
    return arr;
}

/* Balance and days past due of the documented open invoices at `now`. */
static int recompute(casefile_t *cf, int64_t now, int32_t *invoices_open, char *err, size_t errlen)
{
    int64_t balance = 0, today, oldest = INT64_MAX;

    *invoices_open = 0;
    for (size_t i = 0; i < cf->n_invoices; i++) {
        const casefile_invoice_t *inv = &cf->invoices[i];
        int y, m, d;
        if (!is_documented_open(inv))
            continue;
        if (!money_add(balance, inv->open_amount, &balance)) {
            snprintf(err, errlen, "balance overflows 64-bit minor units");
            return -1;
        }
        (*invoices_open)++;
        if (cal_parse_date(inv->due_on, &y, &m, &d) == 0) {
            int64_t due = cal_days_from_civil(y, m, d);
            if (due < oldest)
                oldest = due;
        }
    }
    if (cal_local_day(cf->timezone, now, &today) < 0) {
        snprintf(err, errlen, "unknown time zone");
        return -1;
    }
    cf->principal = balance; /* money: the charges come on top (casecharge.h) */
    if (!money_add(balance, cf->charges.interest, &balance) ||
        !money_add(balance, cf->charges.fees, &balance)) {
        snprintf(err, errlen, "balance overflows 64-bit minor units");
        return -1;
    }
    cf->balance = balance;
    cf->days_past_due = oldest == INT64_MAX || today <= oldest ? 0 : (int32_t)(today - oldest);
    return 0;
}

int casefile_cancel_task(casefile_t *cf, casefile_plan_t *plan, casefile_task_t *t, int64_t now,
                         const char *reason)
{
    t->status = CASEFILE_TASK_CANCELLED;
    copy_str(t->reason, sizeof(t->reason), reason);
    t->status_dirty = true;
    char id[CASEFILE_UUID_MAX], name[128];
    snprintf(name, sizeof(name), "cancel\x1f%s", t->task_id);
    casefile_uuid5(name, id);
    json_t *data = json_pack("{s:s, s:s, s:s, s:s}", "creditor_id", cf->creditor_id, "debtor_id",
                             cf->debtor_id, "task_id", t->task_id, "reason", reason);
    if (data == NULL ||
        casefile_emit(plan, CASEFILE_TOPIC_TASKS, "task.cancelled", id, now, data) < 0)
        return -1;
    return 0;
}

static int withdraw(casefile_t *cf, casefile_plan_t *plan, int64_t now, bool all,
                    const char *reason)
{
    for (size_t i = 0; i < cf->n_tasks; i++) {
        casefile_task_t *t = &cf->tasks[i];
        vocab_action_t a;
        if (t->status != CASEFILE_TASK_PENDING || t->not_after <= now)
            continue;
        if (!all && vocab_action_from_name(t->action, &a) == 0 && !vocab_action_is_collection(a))
            continue;
        /* version 2: a callback the debtor asked for outlives a segment change (callback.h). */
        if (!all && strcmp(reason, "superseded") == 0 && callback_is_task(cf, t))
            continue;
        if (casefile_cancel_task(cf, plan, t, now, reason) < 0)
            return -1;
    }
    return 0;
}

int casefile_withdraw(casefile_t *cf, casefile_plan_t *plan, int64_t now, bool all,
                      const char *reason)
{
    return withdraw(cf, plan, now, all, reason);
}

/* interactions: the contact state planning obeys (casefile.h). */
void casefile_contact_state(const casefile_t *cf, contact_state_t *out)
{
    contact_state_t st = CONTACT_STATE_INIT;
    st.call_attempts = cf->n_call_attempts ? cf->call_attempts : NULL;
    st.n_call_attempts = cf->n_call_attempts;
    st.last_rpc_at = cf->last_rpc_at;
    st.do_not_call = cf->do_not_call;
    st.do_not_sms = cf->do_not_sms;
    st.do_not_email = cf->do_not_email;
    st.cease_communication = cf->cease_communication;
    st.dispute_open = json_is_true(json_object_get(cf->features, "open_dispute"));
    if (cf->forbearance_from[0] && cf->forbearance_until[0] && cf->timezone[0] &&
        contact_forbearance_interval(cf->timezone, cf->forbearance_from, cf->forbearance_until,
                                     &st.forbearance_from, &st.forbearance_until) < 0)
        st.forbearance_from = st.forbearance_until = 0;
    st.country = cf->country[0] ? cf->country : NULL;
    *out = st;
}

static const char *resolved_reason(const casefile_t *cf)
{
    if (cf->charges.settlement.settled && strcmp(cf->last_event, "payment.received") == 0)
        return "settled";
    if (strcmp(cf->last_event, "invoice.cancelled") == 0)
        return "cancelled";
    if (strcmp(cf->last_event, "invoice.adjusted") == 0)
        return "adjusted";
    return "paid";
}

/* Withdraws the pending tasks the contact rules no longer allow, given what is known now: a
 * right-party call or a call that reached the cap after the task was planned, an opt-out, a
 * pause. A task stays live only while the rules would still allow its window from its start
 * (or from now, once it has started) to its end; otherwise a notifier respecting the window
 * could break a rule, so it is withdrawn with the rule's reason. */
static int recheck_pending(casefile_t *cf, const policy_t *policy, int64_t now,
                           casefile_plan_t *plan)
{
    contact_state_t cs;

    casefile_contact_state(cf, &cs);
    for (size_t i = 0; i < cf->n_tasks; i++) {
        casefile_task_t *t = &cf->tasks[i];
        vocab_channel_t ch;
        contact_decision_t d;
        if (t->status != CASEFILE_TASK_PENDING || t->not_after <= now ||
            vocab_channel_from_name(t->channel, &ch) < 0 || ch == VOCAB_CHANNEL_INTERNAL)
            continue;
        int64_t from = t->not_before > now ? t->not_before : now;
        contact_state_t tcs = cs;
        if (callback_is_task(cf, t)) /* version 2: placed with consent (callback.h) */
            callback_consent_state(&tcs);
        if (contact_decide(&policy->contact, &tcs, t->action, ch, from, cf->timezone, &d) < 0)
            continue;
        if (d.verdict == CONTACT_ALLOW && d.not_before <= from && d.not_after >= t->not_after)
            continue;
        if (casefile_cancel_task(cf, plan, t, now, d.reason) < 0)
            return -1;
    }
    return 0;
}

/* Records the segment change in the case and the plan (events, withdrawals). */
static int enter_segment(casefile_t *cf, const policy_t *policy, const segment_result_t *r,
                         int64_t now, casefile_plan_t *plan)
{
    int64_t prev_since = cf->segmented ? cf->segment_since : 0;
    char id[CASEFILE_UUID_MAX], seq[16];
    json_t *from = cf->segmented ? json_string(segment_name(cf->segment)) : json_null();

    plan->segment_changed = true;
    plan->from_segmented = cf->segmented;
    plan->from_segment = cf->segment;
    cf->segmented = true;
    cf->segment = r->segment;
    cf->segment_seq++;
    cf->segment_since = now;
    cf->last_step = 0;
    escalation_carry(cf, policy, r, prev_since, now); /* version 2: carry_days */
    snprintf(seq, sizeof(seq), "%d", cf->segment_seq);
    uuid_of(id, "segment_changed", cf, seq);
    char at[32];
    cal_format_utc(now, at, sizeof(at));
    json_t *data =
        json_pack("{s:s, s:s, s:o, s:s, s:s, s:i, s:s, s:b, s:s, s:s, s:i, s:s, s:o}",
                  "creditor_id", cf->creditor_id, "debtor_id", cf->debtor_id, "from", from, "to",
                  segment_name(r->segment), "rule", r->rule_id, "policy_version", r->policy_version,
                  "at", at, "high_value", (int)r->high_value, "strategy", r->strategy, "variant",
                  r->variant, "days_past_due", (int)cf->days_past_due, "currency", cf->currency,
                  "balance", money_json(cf->balance, cf->currency));
    if (data == NULL ||
        casefile_emit(plan, CASEFILE_TOPIC_CASE_EVENTS, "case.segment_changed", id, now, data) < 0)
        return -1;
    bool resolved = r->segment == SEGMENT_RESOLVED;
    if (withdraw(cf, plan, now, resolved, resolved ? "resolved" : "superseded") < 0)
        return -1;
    if (resolved) {
        uuid_of(id, "case_resolved", cf, seq);
        data = json_pack("{s:s, s:s, s:s, s:s, s:s}", "creditor_id", cf->creditor_id, "debtor_id",
                         cf->debtor_id, "reason", resolved_reason(cf), "at", at, "currency",
                         cf->currency);
        if (data == NULL ||
            casefile_emit(plan, CASEFILE_TOPIC_CASE_EVENTS, "case.resolved", id, now, data) < 0)
            return -1;
    }
    return 0;
}

/* The task.created data of task t, step `step`, with `promise` (stolen; NULL: null). New
 * reference, NULL when out of memory. */
static json_t *task_doc_new(const casefile_t *cf, const casefile_task_t *t, int step,
                            const char *reason, json_t *promise)
{
    json_t *nb = instant_json(t->not_before, cf->timezone);
    json_t *na = instant_json(t->not_after, cf->timezone);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:o, s:o, s:s, s:b, s:s, s:s,"
                     " s:i, s:i, s:s, s:s, s:o, s:i, s:o, s:o}",
                     "task_id", t->task_id, "creditor_id", cf->creditor_id, "creditor_name",
                     cf->creditor_name, "debtor_id", cf->debtor_id, "channel", t->channel, "action",
                     t->action, "template", t->template_name, "priority", t->priority, "not_before",
                     nb, "not_after", na, "segment", segment_name(cf->segment), "high_value",
                     (int)cf->high_value, "strategy", cf->strategy, "variant", cf->variant, "step",
                     step, "policy_version", cf->policy_version, "reason", reason, "currency",
                     cf->currency, "balance", money_json(cf->balance, cf->currency),
                     "days_past_due", (int)cf->days_past_due, "invoices", casefile_invoices_new(cf),
                     "promise", promise ? promise : json_null());
}

/* The task.created data of one step (new reference, NULL when out of memory). */
static json_t *task_data_new(const casefile_t *cf, const casefile_task_t *t,
                             const strategy_next_t *nx, const char *reason)
{
    return task_doc_new(cf, t, nx->step, reason, NULL);
}

int casefile_emit_task(casefile_t *cf, casefile_task_t *t, const char *reason, const char *rule,
                       json_t *promise, int64_t now, casefile_plan_t *plan)
{
    copy_str(t->segment, sizeof(t->segment), segment_name(cf->segment));
    t->segment_seq = cf->segment_seq;
    t->is_new = true;
    /* The metric counters keep static strings only: the action's name from vocab.c, the
     * contact rule's static reason. */
    vocab_action_t a;
    const char *action = vocab_action_from_name(t->action, &a) == 0 ? vocab_action_name(a) : NULL;
    if (t->status == CASEFILE_TASK_SUPPRESSED) {
        json_decref(promise);
        count(plan->suppressed, &plan->n_suppressed, rule ? rule : "suppressed");
        return casefile_add_task(cf, t) == NULL ? -1 : 0;
    }
    t->status = CASEFILE_TASK_PENDING;
    t->data = task_doc_new(cf, t, t->step, reason, promise);
    if (t->data == NULL)
        return -1;
    json_t *data = json_incref(t->data);
    if (casefile_add_task(cf, t) == NULL) {
        json_decref(t->data);
        json_decref(data);
        return -1;
    }
    if (casefile_emit(plan, CASEFILE_TOPIC_TASKS, "task.created", t->task_id, now, data) < 0)
        return -1;
    if (rule != NULL)
        count(plan->deferred, &plan->n_deferred, rule);
    if (action != NULL)
        count(plan->created, &plan->n_created, action);
    return 0;
}

/* The step is not for now: records it as the case's next action, at the first moment the
 * contact rules allow from its day (or its day, when they would suppress it). */
static void set_next_action(casefile_t *cf, const policy_t *policy, const contact_state_t *state,
                            const strategy_next_t *nx, int32_t days_in_segment, int64_t now)
{
    contact_decision_t d;
    int64_t when =
        now + (int64_t)(nx->day > days_in_segment ? nx->day - days_in_segment : 0) * 86400;

    if (contact_decide(&policy->contact, state, vocab_action_name(nx->action), nx->channel, when,
                       cf->timezone, &d) < 0)
        d.not_before = when;
    cf->has_next = true;
    copy_str(cf->next_action, sizeof(cf->next_action), vocab_action_name(nx->action));
    copy_str(cf->next_channel, sizeof(cf->next_channel), vocab_channel_name(nx->channel));
    cf->next_not_before = d.verdict == CONTACT_SUPPRESS ? when : d.not_before;
}

/* A new task for ladder step `nx` of the current segment entry, with its stable id. */
static void step_task(const casefile_t *cf, const strategy_next_t *nx, casefile_task_t *t)
{
    char name[512];

    memset(t, 0, sizeof(*t));
    snprintf(name, sizeof(name), "%d\x1f%s\x1f%d", cf->segment_seq, segment_name(cf->segment),
             nx->step);
    uuid_of(t->task_id, "task", cf, name);
    copy_str(t->action, sizeof(t->action), vocab_action_name(nx->action));
    copy_str(t->channel, sizeof(t->channel), vocab_channel_name(nx->channel));
    copy_str(t->segment, sizeof(t->segment), segment_name(cf->segment));
    copy_str(t->template_name, sizeof(t->template_name), nx->template_name);
    t->segment_seq = cf->segment_seq;
    t->step = nx->step;
    t->priority = nx->priority;
    t->is_new = true;
}

/* Emits the due step `nx` as the contact rules decided (d): recorded as suppressed, or a
 * task.created with its window (deferred or not). Moves the ladder position. Returns 0, or -1
 * when out of memory. */
static int emit_step(casefile_t *cf, const strategy_next_t *nx, const contact_decision_t *d,
                     int64_t now, casefile_plan_t *plan)
{
    casefile_task_t t;
    char reason[300];

    step_task(cf, nx, &t);
    cf->last_step = nx->step;
    if (d->verdict == CONTACT_SUPPRESS) {
        t.status = CASEFILE_TASK_SUPPRESSED;
        copy_str(t.reason, sizeof(t.reason), d->reason);
        count(plan->suppressed, &plan->n_suppressed, d->reason);
        return casefile_add_task(cf, &t) == NULL ? -1 : 0;
    }
    t.status = CASEFILE_TASK_PENDING;
    t.not_before = d->not_before;
    t.not_after = d->not_after;
    if (d->verdict == CONTACT_DEFER) {
        snprintf(reason, sizeof(reason), "%s, deferred (%s)", nx->reason, d->reason);
        count(plan->deferred, &plan->n_deferred, d->reason);
    } else {
        snprintf(reason, sizeof(reason), "%s", nx->reason);
    }
    t.data = task_data_new(cf, &t, nx, reason);
    if (t.data == NULL)
        return -1;
    json_t *data = json_incref(t.data);
    if (casefile_add_task(cf, &t) == NULL) {
        json_decref(t.data);
        json_decref(data);
        return -1;
    }
    if (casefile_emit(plan, CASEFILE_TOPIC_TASKS, "task.created", t.task_id, now, data) < 0)
        return -1;
    count(plan->created, &plan->n_created, vocab_action_name(nx->action));
    return 0;
}

/* Plans the due steps of the current segment's ladder (see casefile.h): the next step when
 * due, then the steps after it due on the same ladder day; the first one not for now becomes
 * the case's next action. */
static int plan_steps(casefile_t *cf, const policy_t *policy, const segment_result_t *r,
                      const segment_features_t *f, int32_t days_in_segment, int64_t now,
                      casefile_plan_t *plan, char *err, size_t errlen)
{
    contact_state_t state;
    int first_day = -1;

    casefile_contact_state(cf, &state); /* interactions: the real contact state */
    state.dispute_open = f->open_dispute;
    cf->has_next = false;
    for (int k = 0; k < 32; k++) {
        strategy_next_t nx;
        contact_decision_t d;
        strategy_status_t st = strategy_next_step(policy_strategy_for(policy, r->segment), r,
                                                  days_in_segment, cf->last_step, &nx);
        if (st == STRATEGY_NONE)
            return 0;
        if (st != STRATEGY_STEP) {
            snprintf(err, errlen, "no strategy step for segment %s", segment_name(r->segment));
            return -1;
        }
        if (!nx.due || (first_day >= 0 && nx.day != first_day)) {
            int64_t until; /* version 2: a held step is next at the end of its hold (hold.h) */
            set_next_action(cf, policy, &state, &nx, days_in_segment, now);
            if (hold_blocks(cf, policy, nx.action, cf->next_not_before, &until))
                set_next_action(cf, policy, &state, &nx, nx.day, until);
            return 0;
        }
        first_day = nx.day;
        int64_t held_until;
        if (hold_blocks(cf, policy, nx.action, now, &held_until)) {
            /* version 2: a promise, a plan or a callback holds the ladder (hold.h). */
            set_next_action(cf, policy, &state, &nx, nx.day, held_until);
            return 0;
        }
        if (contact_decide(&policy->contact, &state, vocab_action_name(nx.action), nx.channel, now,
                           cf->timezone, &d) < 0) {
            snprintf(err, errlen, "contact rules cannot decide in the debtor's zone");
            return -1;
        }
        if (emit_step(cf, &nx, &d, now, plan) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* The segmentation features of the case as of `now` (the counters other services keep, plus
 * what recompute() derived). Returns 0, or -1 with err filled. */
static int features_of(const casefile_t *cf, int32_t invoices_open, int64_t now,
                       segment_features_t *f, char *err, size_t errlen)
{
    int32_t days_in_segment = 0;
    char ferr[256];

    if (segment_features_from_json(cf->features, f, ferr, sizeof(ferr)) < 0) {
        snprintf(err, errlen, "case features: %s", ferr);
        return -1;
    }
    f->days_past_due = cf->days_past_due;
    f->balance = cf->balance;
    memcpy(f->currency, cf->currency, sizeof(f->currency));
    f->invoices_open = invoices_open;
    if (cf->segmented &&
        cal_local_days_between(cf->timezone, cf->segment_since, now, &days_in_segment) < 0)
        days_in_segment = 0;
    f->days_in_segment = days_in_segment < 0 ? 0 : days_in_segment;
    return 0;
}

/* Where the case stands after segmentation: resolved, paused (open dispute, cease
 * communication, a forbearance in force) or open; and its negotiation stage. */
static void set_case_status(casefile_t *cf, const segment_features_t *f, const segment_result_t *r,
                            int64_t now)
{
    const char *stage = vocab_stage_name(f->stage);

    copy_str(cf->stage, sizeof(cf->stage), stage ? stage : vocab_stage_name(VOCAB_STAGE_NONE));
    cf->status = r->segment == SEGMENT_RESOLVED ? CASEFILE_RESOLVED
                 : f->open_dispute              ? CASEFILE_PAUSED
                                                : CASEFILE_OPEN;
    if (cf->status == CASEFILE_OPEN) { /* interactions: cease or a forbearance pause it too */
        contact_state_t cs;
        casefile_contact_state(cf, &cs);
        if (cs.cease_communication || (cs.forbearance_from <= now && now < cs.forbearance_until))
            cf->status = CASEFILE_PAUSED;
    }
}

int casefile_plan(casefile_t *cf, const policy_t *policy, int64_t now, casefile_plan_t *plan,
                  char *err, size_t errlen)
{
    segment_features_t f = SEGMENT_FEATURES_INIT;
    segment_result_t r;
    int32_t invoices_open;

    cf->version++;
    cf->updated_at = now;
    if (cf->tz_override[0]) /* interactions: the debtor's own zone wins over accounting's */
        copy_str(cf->timezone, sizeof(cf->timezone), cf->tz_override);
    forbear_pick(cf, now); /* version 2: the forbearance in force now (forbear.h) */
    if (cf->creditor_name[0] == '\0' || cf->timezone[0] == '\0' || cf->currency[0] == '\0')
        return 0; /* not complete yet: the facts are kept, nothing is decided */
    if (recompute(cf, now, &invoices_open, err, errlen) < 0)
        return -1;
    if (!cf->segmented && cf->balance <= 0)
        return 0; /* never owed anything documented: nothing to collect, nobody to thank */
    if (features_of(cf, invoices_open, now, &f, err, errlen) < 0)
        return -1;
    segment_err_t se = policy_segment(policy, &f, cf->creditor_id, cf->debtor_id, &r);
    if (se != SEGMENT_OK) {
        snprintf(err, errlen, "segmentation: %s", segment_strerror(se));
        return -1;
    }
    cf->high_value = r.high_value;
    copy_str(cf->rule, sizeof(cf->rule), r.rule_id);
    copy_str(cf->strategy, sizeof(cf->strategy), r.strategy);
    copy_str(cf->variant, sizeof(cf->variant), r.variant);
    cf->policy_version = r.policy_version;
    int32_t days_in_segment = f.days_in_segment;
    if (!cf->segmented || cf->segment != r.segment) {
        if (enter_segment(cf, policy, &r, now, plan) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        /* 0, or the days carried from the previous segment (escalation.h) */
        if (cal_local_days_between(cf->timezone, cf->segment_since, now, &days_in_segment) < 0 ||
            days_in_segment < 0)
            days_in_segment = 0;
    }
    set_case_status(cf, &f, &r, now);
    if (recheck_pending(cf, policy, now, plan) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (plan_steps(cf, policy, &r, &f, days_in_segment, now, plan, err, errlen) < 0)
        return -1;
    /* version 2: promise holds and reminders, callbacks, skip tracing and restores. */
    if (hold_plan(cf, policy, now, plan) < 0 || callback_plan(cf, policy, now, plan) < 0 ||
        outreach_plan(cf, policy, now, plan) < 0) {
        snprintf(err, errlen, "out of memory, or a zone that cannot place a day");
        return -1;
    }
    return 0;
}

/* ---- The hot cache --------------------------------------------------------------------------- */

/* interactions: the next moment each channel may be used for a collection action (null: never,
 * e.g. opted out), as of `asof`. */
static json_t *next_allowed_json(const casefile_t *cf, const contact_rules_t *rules,
                                 const contact_state_t *state, int64_t asof)
{
    json_t *allowed = json_object();

    for (int ch = VOCAB_CHANNEL_PHONE; allowed && ch <= VOCAB_CHANNEL_VISIT; ch++) {
        contact_decision_t d;
        int rc = contact_next_allowed(rules, state, (vocab_channel_t)ch, asof, cf->timezone, &d);
        json_object_set_new(allowed, vocab_channel_name((vocab_channel_t)ch),
                            rc == 0 && d.verdict != CONTACT_SUPPRESS
                                ? instant_json(d.not_before, cf->timezone)
                                : json_null());
    }
    return allowed;
}

json_t *casefile_cache_new(const casefile_t *cf, const policy_t *policy, int64_t now)
{
    contact_rules_t defaults;
    contact_state_t state;
    char updated[32];

    if (!cf->segmented || cf->currency[0] == '\0' || cf->timezone[0] == '\0')
        return NULL;
    if (policy == NULL)
        contact_rules_default(&defaults);
    json_t *next = json_null();
    if (cf->has_next)
        next = json_pack("{s:s, s:s, s:o}", "action", cf->next_action, "channel", cf->next_channel,
                         "not_before", instant_json(cf->next_not_before, cf->timezone));
    cal_format_utc(cf->updated_at, updated, sizeof(updated));
    casefile_contact_state(cf, &state); /* interactions */
    const contact_rules_t *rules = policy ? &policy->contact : &defaults;
    json_t *last_contact =
        cf->last_contact_at ? instant_json(cf->last_contact_at, cf->timezone) : json_null();
    int calls_left = contact_calls_left(rules, &state, now);
    json_t *doc = json_pack(
        "{s:s, s:s, s:s, s:o, s:i, s:s, s:b, s:s, s:s, s:O, s:O, s:o, s:o, s:i,"
        " s:i, s:s, s:I}",
        "creditor_id", cf->creditor_id, "debtor_id", cf->debtor_id, "currency", cf->currency,
        "balance", money_json(cf->balance, cf->currency), "days_past_due", (int)cf->days_past_due,
        "segment", segment_name(cf->segment), "high_value", (int)cf->high_value, "stage", cf->stage,
        "status", casefile_status_name(cf->status), "open_promise",
        cf->open_promise ? cf->open_promise : json_null(), "active_plan",
        cf->active_plan ? cf->active_plan : json_null(), "next_action", next, "last_contact_at",
        last_contact, "calls_left_7d", calls_left, "policy_version", cf->policy_version,
        "updated_at", updated, "version", (json_int_t)cf->version);
    /* interactions: as of the case's last change (so the cache and `case show` agree whatever
     * the reader's clock), and the end of a forbearance pause. */
    int64_t asof = cf->updated_at ? cf->updated_at : now;
    if (doc)
        json_object_set_new(doc, "next_allowed", next_allowed_json(cf, rules, &state, asof));
    if (doc && cf->forbearance_until[0] && state.forbearance_until > asof)
        json_object_set_new(doc, "paused_until", json_string(cf->forbearance_until));
    if (doc && casecharge_cache(cf, doc) < 0) { /* money: principal, interest, fees, settlement */
        json_decref(doc);
        return NULL;
    }
    return doc;
}
