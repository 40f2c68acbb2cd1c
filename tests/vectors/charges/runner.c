/* runner.c - charges and settlement vectors: invoice, payment and interaction events over days,
 * through exactly the pure code the workers run (validate_event(), casecharge_accrue() before the
 * decision, the service's casedecide function, casefile_plan(), casecharge_accrue() and
 * casecharge_annotate_plan() after it: pipeline.c's decide()), with the store simulated in memory
 * (payments with their lines and charge parts, plans, disputes), so late interest, fees,
 * allocation orders and settlements are checked day by day without I/O.
 *
 * A case folder holds:
 *   events.json {"creditor_id", "debtor_id",
 *                "charges": {...}            the policy's charges section (on default.json),
 *                "policy_patch": {...}       optional: merged into default.json first, or
 *                "policy_error": "text"      the charges must be refused with this in the error,
 *                "steps": [{"now": RFC 3339, "event": <CloudEvent>} | {"now", "tick": true},
 *                          each optionally with "case": {...} keys checked after the step]}
 *   expect.json {"rejections": [codes in order], "case_events": [{"type", "data": {...}}] every
 *                case event in order (data compared on the keys given), "case": {...} the
 *                hot-cache document's keys after the last step, plus "invoice_status": {id: s}}
 * Exit 0 on pass, 1 with one line on stderr per failure. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "calendar.h"
#include "casecharge.h"
#include "casedecide.h"
#include "casefile.h"
#include "policy.h"
#include "validate.h"

static int failures;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    failures++;
}

static void compare(const char *where, const json_t *expect, const json_t *actual)
{
    const char *key;
    json_t *e;
    json_object_foreach((json_t *)expect, key, e)
    {
        json_t *a = json_object_get(actual, key);
        if (json_is_object(e) && json_is_object(a)) {
            char sub[512];
            snprintf(sub, sizeof(sub), "%s.%s", where, key);
            compare(sub, e, a);
        } else if (a == NULL || !json_equal(e, a)) {
            char *es = json_dumps(e, JSON_ENCODE_ANY | JSON_COMPACT);
            char *as = a ? json_dumps(a, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
            fail("%s.%s: expected %s, got %s", where, key, es ? es : "?", as ? as : "(absent)");
            free(es);
            free(as);
        }
    }
}

/* ---- The simulated store ----------------------------------------------------------------------
 */

typedef struct spay {
    casefile_payment_row_t row; /* lines and plan_lines owned here */
    int64_t interest, fees;
} spay_t;

static spay_t pays[64];
static size_t npays;
static casefile_plan_row_t plans[16];
static size_t nplans;
static casefile_dispute_row_t disputes[16];
static size_t ndisputes;

static spay_t *find_pay(const char *id)
{
    for (size_t i = 0; i < npays; i++)
        if (strcmp(pays[i].row.payment_id, id) == 0)
            return &pays[i];
    return NULL;
}

static casefile_plan_row_t *find_plan(const char *id)
{
    for (size_t i = 0; i < nplans; i++)
        if (strcmp(plans[i].pl.id, id) == 0)
            return &plans[i];
    return NULL;
}

static casefile_plan_row_t *copy_plan(const casefile_plan_row_t *p)
{
    casefile_plan_row_t *c = p ? malloc(sizeof(*c)) : NULL;
    if (c)
        *c = *p;
    return c;
}

static casefile_plan_row_t *active_plan(void)
{
    for (size_t i = nplans; i-- > 0;)
        if (plans[i].pl.state == PLAN_ACTIVE && !plans[i].pending_approval)
            return &plans[i];
    return NULL;
}

static void *dup_mem(const void *p, size_t n)
{
    void *c = malloc(n ? n : 1);
    if (c && n)
        memcpy(c, p, n);
    return c;
}

/* What casestore_load_many() would load for event `type` naming `name`. */
static void load_rows(casefile_t *cf, const char *type, const char *name)
{
    casefile_rows_t *r = &cf->rows;
    memset(r, 0, sizeof(*r));
    snprintf(cf->charges.pay_id, sizeof(cf->charges.pay_id), "%s", name ? name : "");
    cf->charges.pay_interest = cf->charges.pay_fees = 0;
    if (strcmp(type, "payment.received") == 0 || strcmp(type, "payment.reversed") == 0) {
        spay_t *sp = find_pay(name);
        r->payment = calloc(1, sizeof(*r->payment));
        snprintf(r->payment->payment_id, sizeof(r->payment->payment_id), "%s", name);
        if (sp != NULL) {
            *r->payment = sp->row;
            r->payment->lines = dup_mem(sp->row.lines, sp->row.nlines * sizeof(alloc_line_t));
            r->payment->plan_lines =
                dup_mem(sp->row.plan_lines, sp->row.n_plan_lines * sizeof(plan_line_t));
            r->payment->write = CASEFILE_PAYMENT_KEEP;
            cf->charges.pay_interest = sp->interest;
            cf->charges.pay_fees = sp->fees;
        }
        if (strcmp(type, "payment.received") == 0)
            r->open_plan = copy_plan(active_plan());
        else if (sp != NULL && sp->row.plan_id[0])
            r->plan = copy_plan(find_plan(sp->row.plan_id));
    } else if (strcmp(type, "plan.agreed") == 0) {
        r->plan = copy_plan(find_plan(name));
        r->open_plan = copy_plan(active_plan());
    } else if (strcmp(type, "scheduler.tick") == 0) {
        r->open_plan = copy_plan(active_plan());
    } else if (strcmp(type, "dispute.resolved") == 0) {
        r->disputes = calloc(ndisputes + 1, sizeof(*r->disputes));
        for (size_t i = 0; i < ndisputes; i++) {
            r->disputes[i] = disputes[i];
            r->disputes[i].event_source = strdup(disputes[i].event_source);
            r->disputes[i].event_id = strdup(disputes[i].event_id);
        }
        r->n_disputes = ndisputes;
    }
}

static void put_plan(const casefile_plan_row_t *p)
{
    casefile_plan_row_t *have;
    if (p == NULL || !p->dirty)
        return;
    if ((have = find_plan(p->pl.id)) == NULL && nplans < 16)
        have = &plans[nplans++];
    if (have != NULL) {
        *have = *p;
        have->dirty = false;
    }
}

/* What casestore_save() would write, then the rows freed. */
static void save_rows(casefile_t *cf, const ce_event_t *ev)
{
    casefile_rows_t *r = &cf->rows;
    casefile_payment_row_t *row = r->payment;
    if (row != NULL && row->write == CASEFILE_PAYMENT_INSERT && npays < 64) {
        spay_t *sp = &pays[npays++];
        sp->row = *row;
        sp->row.known = sp->row.received = true;
        sp->interest = cf->charges.pay_interest;
        sp->fees = cf->charges.pay_fees;
        row->lines = NULL;
        row->plan_lines = NULL;
    } else if (row != NULL && row->write == CASEFILE_PAYMENT_REVERSE) {
        find_pay(row->payment_id)->row.received = false;
    }
    /* Lines paid out of credit belong to their payment. */
    for (size_t i = 0; i < cf->n_credit_lines; i++) {
        spay_t *sp = find_pay(cf->credit_lines[i].payment_id);
        if (sp == NULL)
            continue;
        sp->row.lines = realloc(sp->row.lines, (sp->row.nlines + 1) * sizeof(alloc_line_t));
        snprintf(sp->row.lines[sp->row.nlines].invoice_id, sizeof(sp->row.lines[0].invoice_id),
                 "%s", cf->credit_lines[i].invoice_id);
        sp->row.lines[sp->row.nlines++].amount = cf->credit_lines[i].amount;
    }
    cf->n_credit_lines = 0;
    put_plan(r->plan);
    put_plan(r->open_plan);
    if (r->record == CASEFILE_RECORD_DISPUTE && ndisputes < 16) {
        casefile_dispute_row_t *d = &disputes[ndisputes++];
        memset(d, 0, sizeof(*d));
        d->event_source = strdup(ev->source);
        d->event_id = strdup(ev->id);
        const char *inv = json_string_value(json_object_get(ev->data, "invoice_id"));
        snprintf(d->invoice_id, sizeof(d->invoice_id), "%s", inv ? inv : "");
    }
    for (size_t i = 0; i < r->n_disputes; i++)
        for (size_t k = 0; r->disputes[i].resolved && k < ndisputes; k++)
            if (strcmp(disputes[k].event_id, r->disputes[i].event_id) == 0)
                disputes[k] = disputes[--ndisputes];
}

static void free_rows(casefile_t *cf)
{
    casefile_rows_t *r = &cf->rows;
    if (r->payment) {
        free(r->payment->lines);
        free(r->payment->plan_lines);
    }
    free(r->payment);
    free(r->plan);
    free(r->open_plan);
    free(r->promise);
    free(r->open_promise);
    free(r->pending);
    for (size_t i = 0; i < r->n_disputes; i++) {
        free(r->disputes[i].event_source);
        free(r->disputes[i].event_id);
    }
    free(r->disputes);
    memset(r, 0, sizeof(*r));
    for (size_t i = 0; i < cf->n_tasks; i++)
        cf->tasks[i].is_new = cf->tasks[i].status_dirty = false;
    for (size_t i = 0; i < cf->n_invoices; i++)
        cf->invoices[i].dirty = false;
    cf->charges.dirty = cf->charges.pay_insert = false;
}

/* ---- The services' tables ---------------------------------------------------------------------
 */

static const struct {
    const char *type, *names;
    casedecide_fn decide;
} handlers[] = {
    {"invoice.overdue", NULL, casedecide_invoice},
    {"invoice.adjusted", NULL, casedecide_invoice},
    {"invoice.cancelled", NULL, casedecide_invoice},
    {"payment.received", "payment_id", casedecide_payment_received},
    {"payment.reversed", "payment_id", casedecide_payment_reversed},
    {"plan.agreed", "plan_id", casedecide_plan_agreed},
    {"debt.disputed", NULL, casedecide_dispute_opened},
    {"dispute.resolved", NULL, casedecide_dispute_resolved},
    {"forbearance.granted", NULL, casedecide_forbearance},
    {"scheduler.tick", NULL, casedecide_tick},
};

/* ---- One step ----------------------------------------------------------------------------------
 */

typedef struct run {
    casefile_t cf;
    policy_t *policy;
    json_t *case_events, *rejections;
} run_t;

/* pipeline.c's decide() for one event (ev NULL: the scheduler's tick). */
static void pass(run_t *r, const ce_event_t *ev, int64_t now, size_t i)
{
    const char *type = ev ? ev->type : "scheduler.tick";
    char err[300];
    reason_t why;
    size_t h = 0;

    while (h < sizeof(handlers) / sizeof(handlers[0]) && strcmp(handlers[h].type, type) != 0)
        h++;
    if (h == sizeof(handlers) / sizeof(handlers[0])) {
        fail("steps[%zu]: no handler for %s", i, type);
        return;
    }
    const char *name = ev && handlers[h].names
                           ? json_string_value(json_object_get(ev->data, handlers[h].names))
                           : NULL;
    load_rows(&r->cf, type, name);
    casedecide_in_t in = {type, ev ? ev->data : NULL, r->policy, now, "recobro/vectors"};
    casefile_plan_t plan = CASEFILE_PLAN_INIT;
    if (casecharge_accrue(&r->cf, &r->policy->charges, now) < 0)
        fail("steps[%zu]: accrual failed", i);
    int rc = handlers[h].decide(&r->cf, &in, &plan, &why);
    if (rc == RESULT_REJECTED) {
        json_array_append_new(r->rejections, json_string(why.code));
    } else if (rc != RESULT_OK) {
        fail("steps[%zu]: %s: %s", i, why.code, why.detail);
    } else {
        if (casefile_plan(&r->cf, r->policy, now, &plan, err, sizeof(err)) < 0 ||
            casecharge_accrue(&r->cf, &r->policy->charges, now) < 0 ||
            casecharge_annotate_plan(&r->cf, &plan) < 0)
            fail("steps[%zu]: plan failed: %s", i, err);
        for (size_t k = 0; k < plan.n_outputs; k++)
            if (plan.outputs[k].topic == CASEFILE_TOPIC_CASE_EVENTS)
                json_array_append_new(r->case_events,
                                      json_pack("{s:s, s:O}", "type", plan.outputs[k].type, "data",
                                                plan.outputs[k].data));
        save_rows(&r->cf, ev);
    }
    casefile_plan_clear(&plan);
    free_rows(&r->cf);
}

static json_t *case_doc(run_t *r, int64_t now)
{
    json_t *doc = casefile_cache_new(&r->cf, r->policy, now);
    json_t *st = json_object();
    if (doc == NULL)
        doc = json_object();
    for (size_t k = 0; k < r->cf.n_invoices; k++)
        json_object_set_new(st, r->cf.invoices[k].id,
                            json_string(casefile_invoice_status_name(r->cf.invoices[k].status)));
    json_object_set_new(doc, "invoice_status", st);
    return doc;
}

static void step(run_t *r, json_t *s, size_t i, int64_t *now)
{
    if (cal_parse_instant(json_string_value(json_object_get(s, "now")), now, NULL) < 0) {
        fail("steps[%zu].now: not an RFC 3339 instant", i);
        return;
    }
    if (json_is_true(json_object_get(s, "tick"))) {
        pass(r, NULL, *now, i);
    } else {
        char *raw = json_dumps(json_object_get(s, "event"), JSON_COMPACT);
        ce_event_t ev = CE_EVENT_INIT;
        reason_t cerr;
        if (raw == NULL || ce_parse(raw, strlen(raw), &ev, &cerr) < 0 ||
            validate_event(&ev, &cerr) < 0)
            json_array_append_new(r->rejections, json_string(cerr.code));
        else
            pass(r, &ev, *now, i);
        ce_event_clear(&ev);
        free(raw);
    }
    json_t *want = json_object_get(s, "case");
    if (want != NULL) {
        char where[32];
        json_t *doc = case_doc(r, *now);
        snprintf(where, sizeof(where), "steps[%zu].case", i);
        compare(where, want, doc);
        json_decref(doc);
    }
}

/* ---- The vector -------------------------------------------------------------------------------
 */

static json_t *load(const char *dir, const char *name, int required)
{
    char path[4096];
    json_error_t jerr;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (!required && access(path, F_OK) != 0)
        return NULL;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL)
        fprintf(stderr, "%s: line %d: %s\n", path, jerr.line, jerr.text);
    return j;
}

/* default.json with the vector's charges section. NULL with err filled when refused. */
static policy_t *policy_of(const json_t *events, char *err, size_t errlen)
{
    char path[4096];
    const char *src = getenv("RECOBRO_SOURCE_DIR");
    json_error_t jerr;
    snprintf(path, sizeof(path), "%s/deploy/policy/default.json", src ? src : ".");
    json_t *doc = json_load_file(path, 0, &jerr);
    if (doc == NULL) {
        snprintf(err, errlen, "%s: %s", path, jerr.text);
        return NULL;
    }
    json_t *charges = json_object_get(events, "charges");
    json_t *patch = json_object_get(events, "policy_patch");
    if (patch != NULL)
        json_object_update_recursive(doc, patch);
    if (charges != NULL)
        json_object_set(doc, "charges", charges);
    char *text = json_dumps(doc, 0);
    policy_t *p = text ? policy_parse(text, err, errlen) : NULL;
    free(text);
    json_decref(doc);
    return p;
}

/* Compares the run with expect.json. */
static void check(run_t *r, const json_t *expect, int64_t now)
{
    size_t i;
    json_t *rej = json_object_get(expect, "rejections"), *none = json_array();
    if (!json_equal(rej ? rej : none, r->rejections)) {
        char *t = json_dumps(r->rejections, JSON_COMPACT);
        fail("rejections: got %s", t ? t : "?");
        free(t);
    }
    json_decref(none);
    json_t *want = json_object_get(expect, "case_events");
    if (want != NULL) {
        if (json_array_size(want) != json_array_size(r->case_events))
            fail("case_events: expected %zu, got %zu", json_array_size(want),
                 json_array_size(r->case_events));
        for (i = 0; i < json_array_size(want) && i < json_array_size(r->case_events); i++) {
            char where[64];
            snprintf(where, sizeof(where), "case_events[%zu]", i);
            compare(where, json_array_get(want, i), json_array_get(r->case_events, i));
        }
    }
    if (json_object_get(expect, "case") != NULL) {
        json_t *doc = case_doc(r, now);
        compare("case", json_object_get(expect, "case"), doc);
        json_decref(doc);
    }
}

int main(int argc, char **argv)
{
    char err[512];
    run_t r = {0};
    int64_t now = 0;
    size_t i;
    json_t *s;

    if (argc != 2) {
        fprintf(stderr, "usage: %s CASE_DIR\n", argv[0]);
        return 2;
    }
    json_t *events = load(argv[1], "events.json", 1), *expect = load(argv[1], "expect.json", 0);
    if (events == NULL)
        return 1;
    r.policy = policy_of(events, err, sizeof(err));
    const char *want_err = json_string_value(json_object_get(events, "policy_error"));
    if (want_err != NULL) {
        if (r.policy != NULL || strstr(err, want_err) == NULL)
            fail("policy: expected an error with \"%s\", got \"%s\"", want_err,
                 r.policy ? "(accepted)" : err);
        policy_free(r.policy);
        json_decref(events);
        json_decref(expect);
        return failures ? 1 : 0;
    }
    if (r.policy == NULL || expect == NULL) {
        fprintf(stderr, "policy: %s\n", r.policy ? "expect.json missing" : err);
        return 1;
    }
    if (casefile_init(&r.cf, json_string_value(json_object_get(events, "creditor_id")),
                      json_string_value(json_object_get(events, "debtor_id"))) < 0)
        return 1;
    r.case_events = json_array();
    r.rejections = json_array();
    json_array_foreach(json_object_get(events, "steps"), i, s) step(&r, s, i, &now);

    check(&r, expect, now);
    if (failures > 0 && getenv("VEC_DUMP")) {
        char *t = json_dumps(r.case_events, JSON_INDENT(2));
        fprintf(stderr, "%s\n", t ? t : "");
        free(t);
    }
    json_decref(r.case_events);
    json_decref(r.rejections);
    json_decref(events);
    json_decref(expect);
    casefile_clear(&r.cf);
    policy_free(r.policy);
    return failures ? 1 : 0;
}
