/* runner.c - overdue scenario vectors: invoice events in, the case and its tasks and case events
 * out, through exactly the pure code recobro-overdue runs (casefile.h), with no I/O.
 *
 * A case folder holds:
 *   events.json  {"creditor_id", "debtor_id", "steps": [step, ...]} where a step is
 *                  {"now": RFC 3339, "event": <a CloudEvent, as it would arrive on Kafka>}, or
 *                  {"features": {...}} (the counters other services keep, segment.h's names)
 *   expect.json  "outputs": [{"topic": "tasks"|"case-events", "type", "data": {...}}, ...] every
 *                  output in order (each data compared on the keys given);
 *                "rejections": ["currency_mismatch", ...] the rejected events' codes in order
 *                  (default: none);
 *                "case": {...} keys of the hot-cache document (casefile_cache_new()) plus
 *                  "rule", "segment_seq", "last_step", "segmented" compared after the last step
 *   policy.json  optional: the policy to use instead of deploy/policy/default.json
 * Every event runs the validator first (validate_event()), as the worker does. The case is
 * copied through its persisted shape between steps only in what matters (new tasks become
 * loaded ones). Exit 0 on pass, 1 with one line on stderr per failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "casefile.h"
#include "clock.h"
#include "policy.h"
#include "validate.h"
#include "vecutil.h"
#include "calendar.h"

int main(int argc, char **argv)
{
    char err[POLICY_ERR_MAX + 600], path[4096];
    casefile_t cf;
    policy_t *policy;

    if (argc != 2) {
        fprintf(stderr, "usage: vec_overdue CASE_DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    json_t *events = vec_load(dir, "events.json", true),
           *expect = vec_load(dir, "expect.json", true);
    if (events == NULL || expect == NULL)
        return 1;
    snprintf(path, sizeof(path), "%s/policy.json", dir);
    if (access(path, F_OK) != 0) {
        const char *src = getenv("RECOBRO_SOURCE_DIR");
        snprintf(path, sizeof(path), "%s/deploy/policy/default.json", src ? src : ".");
    }
    if ((policy = policy_load_file(path, err, sizeof(err))) == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (casefile_init(&cf, json_string_value(json_object_get(events, "creditor_id")),
                      json_string_value(json_object_get(events, "debtor_id"))) < 0) {
        fprintf(stderr, "events.json: creditor_id and debtor_id are required\n");
        return 1;
    }
    json_t *outputs = json_array(), *rejections = json_array();
    int64_t now = 0;
    size_t i;
    json_t *step;
    json_array_foreach(json_object_get(events, "steps"), i, step)
    {
        json_t *features = json_object_get(step, "features");
        if (features != NULL) {
            if (casefile_set_features(&cf, features) < 0)
                vec_fail("steps[%zu].features: not an object", i);
            continue;
        }
        if (cal_parse_instant(json_string_value(json_object_get(step, "now")), &now, NULL) < 0) {
            vec_fail("steps[%zu].now: not an RFC 3339 instant", i);
            continue;
        }
        char *raw = json_dumps(json_object_get(step, "event"), JSON_COMPACT);
        ce_event_t ev = CE_EVENT_INIT;
        reason_t cerr;
        if (raw == NULL || ce_parse(raw, strlen(raw), &ev, &cerr) < 0 ||
            validate_event(&ev, &cerr) < 0 ||
            casefile_apply_event(&cf, ev.type, ev.data, &cerr) < 0) {
            json_array_append_new(rejections, json_string(cerr.code));
        } else {
            casefile_plan_t plan = CASEFILE_PLAN_INIT;
            if (casefile_plan(&cf, policy, now, &plan, err, sizeof(err)) < 0)
                vec_fail("steps[%zu]: plan failed: %s", i, err);
            for (size_t k = 0; k < plan.n_outputs; k++) {
                const casefile_output_t *o = &plan.outputs[k];
                json_array_append_new(
                    outputs, json_pack("{s:s, s:s, s:s, s:O}", "topic",
                                       o->topic == CASEFILE_TOPIC_TASKS ? "tasks" : "case-events",
                                       "type", o->type, "id", o->id, "data", o->data));
            }
            casefile_plan_clear(&plan);
            /* What casestore_save() and the next load would do: new tasks become loaded ones. */
            for (size_t t = 0; t < cf.n_tasks; t++)
                cf.tasks[t].is_new = cf.tasks[t].status_dirty = false;
        }
        ce_event_clear(&ev);
        free(raw);
    }

    /* Outputs, in order. */
    json_t *want = json_object_get(expect, "outputs");
    if (want != NULL) {
        if (json_array_size(want) != json_array_size(outputs))
            vec_fail("outputs: expected %zu, got %zu", json_array_size(want),
                     json_array_size(outputs));
        for (i = 0; i < json_array_size(want) && i < json_array_size(outputs); i++) {
            char where[64];
            snprintf(where, sizeof(where), "outputs[%zu]", i);
            vec_compare(where, json_array_get(want, i), json_array_get(outputs, i));
        }
    }
    json_t *rej = json_object_get(expect, "rejections");
    json_t *none = json_array();
    if (!json_equal(rej ? rej : none, rejections)) {
        char *s = json_dumps(rejections, JSON_COMPACT);
        vec_fail("rejections: got %s", s ? s : "?");
        free(s);
    }
    json_decref(none);
    /* The case after the last step. */
    json_t *want_case = json_object_get(expect, "case");
    if (want_case != NULL) {
        json_t *doc = casefile_cache_new(&cf, policy, now);
        if (doc == NULL)
            doc = json_object();
        json_object_set_new(doc, "rule", json_string(cf.rule));
        json_object_set_new(doc, "segment_seq", json_integer(cf.segment_seq));
        json_object_set_new(doc, "last_step", json_integer(cf.last_step));
        json_object_set_new(doc, "segmented", json_boolean(cf.segmented));
        json_object_set_new(doc, "invoices", casefile_invoices_new(&cf));
        vec_compare("case", want_case, doc);
        json_decref(doc);
    }
    /* Same input, same ids: replaying gives identical outputs (checked by running twice in CI
     * through stable UUIDv5 ids; here, ids must at least be unique). */
    for (i = 0; i < json_array_size(outputs); i++)
        for (size_t k = i + 1; k < json_array_size(outputs); k++)
            if (json_equal(json_object_get(json_array_get(outputs, i), "id"),
                           json_object_get(json_array_get(outputs, k), "id")))
                vec_fail("outputs[%zu] and outputs[%zu] have the same id", i, k);
    if (vec_failures > 0 && getenv("VEC_DUMP")) {
        char *s = json_dumps(outputs, JSON_INDENT(2));
        fprintf(stderr, "%s\n", s ? s : "");
        free(s);
    }
    json_decref(outputs);
    json_decref(rejections);
    json_decref(events);
    json_decref(expect);
    casefile_clear(&cf);
    policy_free(policy);
    return vec_failures ? 1 : 0;
}
