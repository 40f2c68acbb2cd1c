/* runner.c - promise and plan vectors: a promise or an instalment plan, a sequence of operations
 * (payments, reversals, scheduler ticks, cancels) with their days and amounts, and after each
 * one the state, event and counter changes expected, checked against promise.h.
 *
 * A case folder holds case.json:
 *   {
 *     "description": "...",
 *     "promise": {"id", "currency", "amount", "made_on", "due_on", "grace_days" (optional)}
 *       or
 *     "plan": {"id", "currency", "agreed_on", "down_payment" (optional), "installments":
 *              [{"due_on", "amount"}], "grace_days" and "default_missed" (both optional)},
 *     "steps": [ {"op": "pay", "on": DATE, "amount": MONEY, "as": LABEL (optional),
 *                 "expect": {...}},
 *                {"op": "reverse", "on": DATE, "payment": LABEL}   reverses what LABEL counted
 *                {"op": "reverse", "on": DATE, "amount": MONEY}    promises only
 *                {"op": "tick", "on": DATE}
 *                {"op": "cancel", "on": DATE, "reason": "superseded_by_promise" | ...} ]
 *   }
 * Grace days and the default rule not given come from deploy/policy/default.json (under
 * $RECOBRO_SOURCE_DIR). Every step has an "expect" object:
 *   "error"        "einval" or "eoverflow": the call must fail so, and change nothing
 *   "state"        the state after the step (required unless "error")
 *   "applied"      money counted (payment) or taken back (reversal); default not checked
 *   "paid"         paid toward the promise / the plan after the step; default not checked
 *   "event"        {"type": "promise.kept" | "promise.broken" | "plan.defaulted", <any keys of
 *                  promise_event_to_json()'s data>}; absent or null: no event allowed. The
 *                  event's "at" is the step's day at 12:00:00Z
 *   "installment_events"  plans: the instalments' promise.kept / promise.broken events, in
 *                  order, each like "event"; absent: none allowed
 *   "delta"        {"kept", "broken", "partially_kept", "plan_defaulted"}; absent keys are 0,
 *                  and an absent "delta" means no counter moves
 *   "missed", "newly_missed"   plans: the missed count, and those marked by this step
 *   "lines"        plans: [[slot, MONEY], ...] the lines a payment filled
 * Exit 0 on pass, 1 with one line on stderr naming the step on failure. Money strings are in
 * the case's currency; dates are YYYY-MM-DD. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "money.h"
#include "policy.h"
#include "promise.h"
#include "validate.h"
#include "calendar.h"

#define MAX_PAYMENTS 64

typedef struct payment_rec {
    char label[64];
    int64_t applied;
    plan_line_t lines[PLAN_MAX_SLOTS];
    size_t nlines;
} payment_rec_t;

static payment_rec_t payments[MAX_PAYMENTS];
static size_t npayments;
static char currency[4];
static const char *case_dir;
static int step_no;

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "FAIL %s step %d: ", case_dir, step_no);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

/* The string value of j, or "" when it is not a string. */
static const char *str_of(const json_t *j)
{
    const char *s = json_string_value(j);

    return s != NULL ? s : "";
}

static int get_day(const json_t *obj, const char *key, int64_t *out)
{
    int y, m, d;

    if (cal_parse_date(json_string_value(json_object_get(obj, key)), &y, &m, &d) != 0)
        return fail("\"%s\" must be a YYYY-MM-DD date", key);
    *out = cal_days_from_civil(y, m, d);
    return 0;
}

static int get_money(const json_t *obj, const char *key, int64_t *out)
{
    const char *s = json_string_value(json_object_get(obj, key));

    if (s == NULL || money_parse(s, currency, MONEY_ALLOW_NEGATIVE, out) != MONEY_OK)
        return fail("\"%s\" must be a money string in %s", key, currency);
    return 0;
}

static int check_money(const json_t *expect, const char *key, int64_t actual)
{
    int64_t want;
    char buf[MONEY_FMT_MAX];

    if (json_object_get(expect, key) == NULL)
        return 0;
    if (get_money(expect, key, &want) != 0)
        return 1;
    if (want != actual) {
        money_format(actual, currency, buf, sizeof(buf));
        return fail("%s: expected %s, got %s", key, json_string_value(json_object_get(expect, key)),
                    buf);
    }
    return 0;
}

static int check_int(const json_t *expect, const char *key, int64_t actual)
{
    json_t *w = json_object_get(expect, key);

    if (w == NULL)
        return 0;
    if (!json_is_integer(w) || json_integer_value(w) != actual)
        return fail("%s: expected %" PRId64 ", got %" PRId64, key,
                    json_is_integer(w) ? (int64_t)json_integer_value(w) : -1, actual);
    return 0;
}

static char at[32];

/* Compares event `ev` with `want` (NULL or JSON null: no event), naming it `what`. */
static int check_one_event(const char *what, json_t *want, const promise_event_t *ev)
{
    json_t *data;
    const char *key;
    json_t *value;
    const char *type = promise_event_type_name(ev->type);

    if (want == NULL || json_is_null(want)) {
        if (type != NULL)
            return fail("%s: expected none, got %s", what, type);
        return 0;
    }
    if (type == NULL)
        return fail("%s: expected %s, got none", what,
                    json_string_value(json_object_get(want, "type")));
    if (strcmp(type, str_of(json_object_get(want, "type"))) != 0)
        return fail("%s: expected %s, got %s", what,
                    json_string_value(json_object_get(want, "type")), type);
    data = promise_event_to_json(ev, at);
    if (data == NULL)
        return fail("%s: promise_event_to_json() failed", what);
    json_object_foreach(want, key, value)
    {
        json_t *got = json_object_get(data, key);

        if (strcmp(key, "type") == 0)
            continue;
        if (got == NULL || !json_equal(got, value)) {
            char *g = got ? json_dumps(got, JSON_ENCODE_ANY) : NULL;
            char *w = json_dumps(value, JSON_ENCODE_ANY);
            int rc = fail("%s.%s: expected %s, got %s", what, key, w ? w : "?", g ? g : "(absent)");

            free(g);
            free(w);
            json_decref(data);
            return rc;
        }
    }
    json_decref(data);
    return 0;
}

static int check_event(const json_t *expect, const promise_event_t *ev)
{
    return check_one_event("event", json_object_get(expect, "event"), ev);
}

/* The instalments' events of a plan operation against expect.installment_events. */
static int check_installment_events(const json_t *expect, const plan_t *pl, const plan_result_t *r)
{
    json_t *want = json_object_get(expect, "installment_events");
    size_t k = 0;

    for (size_t i = 0; i < r->nchanges; i++) {
        promise_event_t ev;
        char what[64];

        if (plan_installment_event(pl, &r->changes[i], &ev) != PROMISE_OK)
            return fail("plan_installment_event() failed");
        if (ev.type == PROMISE_EVENT_NONE)
            continue;
        snprintf(what, sizeof(what), "installment_events[%zu]", k);
        if (k >= json_array_size(want))
            return fail("%s: unexpected %s of slot %u", what, promise_event_type_name(ev.type),
                        r->changes[i].slot);
        if (check_one_event(what, json_array_get(want, k), &ev))
            return 1;
        k++;
    }
    if (k != json_array_size(want))
        return fail("installment_events: expected %zu, got %zu", json_array_size(want), k);
    return 0;
}

static int check_delta(const json_t *expect, const promise_counts_t *d)
{
    json_t *want = json_object_get(expect, "delta");
    static const char *const keys[] = {"kept", "broken", "partially_kept", "plan_defaulted"};
    const int32_t got[] = {d->kept, d->broken, d->partially_kept, d->plan_defaulted};
    const char *key;
    json_t *value;

    json_object_foreach(want, key, value)
    {
        bool known = false;

        for (size_t i = 0; i < 4; i++)
            known = known || strcmp(key, keys[i]) == 0;
        if (!known)
            return fail("delta: unknown counter \"%s\"", key);
    }
    for (size_t i = 0; i < 4; i++) {
        json_t *w = json_object_get(want, keys[i]);
        int64_t n = w != NULL ? json_integer_value(w) : 0;

        if (n != got[i])
            return fail("delta.%s: expected %" PRId64 ", got %d", keys[i], n, (int)got[i]);
    }
    return 0;
}

static int check_error(const json_t *expect, int rc)
{
    const char *want = json_string_value(json_object_get(expect, "error"));
    const char *got = rc == PROMISE_OK          ? "ok"
                      : rc == PROMISE_EINVAL    ? "einval"
                      : rc == PROMISE_EOVERFLOW ? "eoverflow"
                                                : "?";

    if (want == NULL)
        want = "ok";
    if (strcmp(want, got) != 0)
        return fail("expected %s, got %s", want, got);
    return 0;
}

static payment_rec_t *find_payment(const char *label)
{
    for (size_t i = 0; label != NULL && i < npayments; i++)
        if (strcmp(payments[i].label, label) == 0)
            return &payments[i];
    return NULL;
}

static payment_rec_t *new_payment(const json_t *step)
{
    const char *label = json_string_value(json_object_get(step, "as"));
    payment_rec_t *p;

    if (npayments == MAX_PAYMENTS)
        return NULL;
    p = &payments[npayments++];
    memset(p, 0, sizeof(*p));
    snprintf(p->label, sizeof(p->label), "%s", label != NULL ? label : "");
    return p;
}

/* ---- Promises ------------------------------------------------------------------------------ */

static int run_promise(const json_t *spec, const json_t *steps, const policy_t *policy)
{
    promise_t p;
    int64_t amount, made, due;
    json_t *g = json_object_get(spec, "grace_days");
    int32_t grace = g != NULL ? (int32_t)json_integer_value(g) : policy->promise_grace_days;
    size_t i;
    json_t *step;

    if (get_money(spec, "amount", &amount) || get_day(spec, "made_on", &made) ||
        get_day(spec, "due_on", &due))
        return 1;
    if (promise_init(&p, json_string_value(json_object_get(spec, "id")), currency, amount, made,
                     due, grace) != PROMISE_OK)
        return fail("promise_init refused the promise");
    json_array_foreach(steps, i, step)
    {
        const char *op = json_string_value(json_object_get(step, "op"));
        json_t *expect = json_object_get(step, "expect");
        promise_result_t r;
        promise_t before = p;
        int64_t day, value = 0;
        int rc;

        step_no = (int)i + 1;
        if (op == NULL || !json_is_object(expect) || get_day(step, "on", &day))
            return fail("a step needs \"op\", \"on\" and an \"expect\" object");
        snprintf(at, sizeof(at), "%sT12:00:00Z", str_of(json_object_get(step, "on")));
        memset(&r, 0, sizeof(r));
        if (strcmp(op, "pay") == 0) {
            payment_rec_t *rec;

            if (get_money(step, "amount", &value))
                return 1;
            rc = promise_apply_payment(&p, value, day, &r);
            if ((rec = new_payment(step)) == NULL)
                return fail("too many payments");
            rec->applied = rc == PROMISE_OK ? r.applied : 0;
        } else if (strcmp(op, "reverse") == 0) {
            payment_rec_t *rec = find_payment(json_string_value(json_object_get(step, "payment")));

            if (rec != NULL)
                value = rec->applied;
            else if (get_money(step, "amount", &value))
                return 1;
            rc = promise_apply_reversal(&p, value, day, &r);
        } else if (strcmp(op, "tick") == 0) {
            rc = promise_evaluate(&p, day, &r);
        } else if (strcmp(op, "cancel") == 0) {
            const char *reason = json_string_value(json_object_get(step, "reason"));
            promise_cancel_reason_t cr = PROMISE_CANCEL_NONE;

            for (int k = 1; k <= PROMISE_CANCEL_DISPUTE; k++)
                if (reason != NULL &&
                    strcmp(reason, promise_cancel_reason_name((promise_cancel_reason_t)k)) == 0)
                    cr = (promise_cancel_reason_t)k;
            rc = promise_cancel(&p, cr, day, &r);
        } else {
            return fail("unknown op \"%s\"", op);
        }
        if (check_error(expect, rc))
            return 1;
        if (rc != PROMISE_OK) {
            if (memcmp(&p, &before, sizeof(p)) != 0)
                return fail("a refused operation changed the promise");
            continue;
        }
        if (strcmp(str_of(json_object_get(expect, "state")), promise_state_name(p.state)) != 0)
            return fail("state: expected %s, got %s",
                        json_string_value(json_object_get(expect, "state")),
                        promise_state_name(p.state));
        if (r.to != p.state || r.from != before.state)
            return fail("result from/to disagree with the promise");
        if (check_money(expect, "applied", r.applied) ||
            check_money(expect, "paid", p.paid_toward) || check_event(expect, &r.event) ||
            check_delta(expect, &r.delta))
            return 1;
    }
    return 0;
}

/* ---- Plans --------------------------------------------------------------------------------- */

static int check_lines(const json_t *expect, const payment_rec_t *rec)
{
    json_t *want = json_object_get(expect, "lines"), *line;
    size_t i;

    if (want == NULL)
        return 0;
    if (json_array_size(want) != rec->nlines)
        return fail("lines: expected %zu, got %zu", json_array_size(want), rec->nlines);
    json_array_foreach(want, i, line)
    {
        int64_t amount;
        const char *s = json_string_value(json_array_get(line, 1));

        if (s == NULL || money_parse(s, currency, 0, &amount) != MONEY_OK)
            return fail("lines[%zu]: must be [slot, \"amount\"]", i);
        if ((json_int_t)rec->lines[i].slot != json_integer_value(json_array_get(line, 0)) ||
            rec->lines[i].amount != amount)
            return fail("lines[%zu]: expected slot %d amount %s, got slot %u amount %" PRId64, i,
                        (int)json_integer_value(json_array_get(line, 0)), s, rec->lines[i].slot,
                        rec->lines[i].amount);
    }
    return 0;
}

static int run_plan(const json_t *spec, const json_t *steps, const policy_t *policy)
{
    static plan_t pl, before;
    policy_installment_t inst[PLAN_MAX_INSTALLMENTS];
    json_t *list = json_object_get(spec, "installments"), *item, *step;
    json_t *g = json_object_get(spec, "grace_days"), *dm = json_object_get(spec, "default_missed");
    int64_t agreed, down = 0;
    size_t i, n = json_array_size(list);

    if (get_day(spec, "agreed_on", &agreed))
        return 1;
    if (json_object_get(spec, "down_payment") != NULL && get_money(spec, "down_payment", &down))
        return 1;
    if (n == 0 || n > PLAN_MAX_INSTALLMENTS)
        return fail("\"installments\" must hold 1..%d instalments", PLAN_MAX_INSTALLMENTS);
    json_array_foreach(list, i, item)
    {
        int64_t day;

        if (get_day(item, "due_on", &day) || get_money(item, "amount", &inst[i].amount))
            return 1;
        inst[i].due_day = (int32_t)day;
    }
    if (g == NULL && dm == NULL) {
        if (plan_init_with_policy(&pl, policy, json_string_value(json_object_get(spec, "id")),
                                  currency, agreed, down, inst, n) != PROMISE_OK)
            return fail("plan_init_with_policy refused the plan");
    } else if (plan_init(&pl, json_string_value(json_object_get(spec, "id")), currency, agreed,
                         down, inst, n,
                         g ? (int32_t)json_integer_value(g) : policy->promise_grace_days,
                         dm ? (int32_t)json_integer_value(dm)
                            : policy->plan_default_missed_installments) != PROMISE_OK) {
        return fail("plan_init refused the plan");
    }
    json_array_foreach(steps, i, step)
    {
        const char *op = json_string_value(json_object_get(step, "op"));
        json_t *expect = json_object_get(step, "expect");
        payment_rec_t *rec = NULL;
        plan_result_t r;
        int64_t day, value;
        int rc;

        step_no = (int)i + 1;
        before = pl;
        if (op == NULL || !json_is_object(expect) || get_day(step, "on", &day))
            return fail("a step needs \"op\", \"on\" and an \"expect\" object");
        snprintf(at, sizeof(at), "%sT12:00:00Z", str_of(json_object_get(step, "on")));
        memset(&r, 0, sizeof(r));
        if (strcmp(op, "pay") == 0) {
            if (get_money(step, "amount", &value))
                return 1;
            if ((rec = new_payment(step)) == NULL)
                return fail("too many payments");
            rc = plan_apply_payment(&pl, value, day, rec->lines, PLAN_MAX_SLOTS, &r);
            rec->applied = rc == PROMISE_OK ? r.applied : 0;
            rec->nlines = rc == PROMISE_OK ? r.nlines : 0;
        } else if (strcmp(op, "reverse") == 0) {
            payment_rec_t *paid = find_payment(json_string_value(json_object_get(step, "payment")));

            if (paid == NULL)
                return fail("reverse: no payment labelled so");
            rc = plan_apply_reversal(&pl, paid->lines, paid->nlines, day, &r);
        } else if (strcmp(op, "tick") == 0) {
            rc = plan_evaluate(&pl, day, &r);
        } else if (strcmp(op, "cancel") == 0) {
            rc = plan_cancel(&pl, day, &r);
        } else {
            return fail("unknown op \"%s\"", op);
        }
        if (check_error(expect, rc))
            return 1;
        if (rc != PROMISE_OK) {
            if (memcmp(&pl, &before, sizeof(pl)) != 0)
                return fail("a refused operation changed the plan");
            continue;
        }
        if (strcmp(str_of(json_object_get(expect, "state")), plan_state_name(pl.state)) != 0)
            return fail("state: expected %s, got %s",
                        json_string_value(json_object_get(expect, "state")),
                        plan_state_name(pl.state));
        if (r.to != pl.state || r.from != before.state)
            return fail("result from/to disagree with the plan");
        if (check_money(expect, "applied", r.applied) || check_money(expect, "paid", pl.paid) ||
            check_int(expect, "missed", pl.missed) ||
            check_int(expect, "newly_missed", r.newly_missed) || check_event(expect, &r.event) ||
            check_installment_events(expect, &pl, &r) || check_delta(expect, &r.delta) ||
            (rec != NULL && check_lines(expect, rec)))
            return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    char path[4096], err[POLICY_ERR_MAX] = "";
    const char *src = getenv("RECOBRO_SOURCE_DIR");
    json_error_t jerr;
    json_t *c, *spec;
    policy_t *policy;
    const char *cur;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: %s CASE_DIR\n", argv[0]);
        return 2;
    }
    case_dir = argv[1];
    snprintf(path, sizeof(path), "%s/deploy/policy/default.json", src != NULL ? src : ".");
    policy = policy_load_file(path, err, sizeof(err));
    if (policy == NULL)
        return fail("default policy: %s", err);
    snprintf(path, sizeof(path), "%s/case.json", case_dir);
    c = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (c == NULL) {
        policy_free(policy);
        return fail("%s: line %d: %s", path, jerr.line, jerr.text);
    }
    spec = json_object_get(c, "promise");
    if (spec == NULL)
        spec = json_object_get(c, "plan");
    cur = json_string_value(json_object_get(spec, "currency"));
    if (spec == NULL || cur == NULL || !money_currency_known(cur) ||
        !json_is_array(json_object_get(c, "steps"))) {
        rc = fail("case.json needs a \"promise\" or \"plan\" with a currency, and \"steps\"");
    } else {
        memcpy(currency, cur, 4);
        rc = json_object_get(c, "promise") != NULL
                 ? run_promise(spec, json_object_get(c, "steps"), policy)
                 : run_plan(spec, json_object_get(c, "steps"), policy);
    }
    json_decref(c);
    policy_free(policy);
    return rc;
}
