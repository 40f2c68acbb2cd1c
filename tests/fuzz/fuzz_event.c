/* fuzz_event.c - libFuzzer harness for the input path of a case worker without its I/O: the raw
 * bytes of up to 8 Kafka messages (separated by a line "---") are parsed as CloudEvents
 * (cloudevent.h), validated (validate.h), and the valid invoice events applied, one after the
 * other, to one case (casefile_apply_event()), which is planned after each under the default
 * policy (casefile_plan()) and rendered for the cache (casefile_cache_new()), as the overdue
 * worker does. Any input must end in a clean rejection or a consistent case: no crash, no leak,
 * no undefined behaviour. The policy is deploy/policy/default.json (RECOBRO_SOURCE_DIR, else the
 * path compiled in). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casefile.h"
#include "cloudevent.h"
#include "policy.h"
#include "validate.h"

#define MAX_EVENTS 8
#define NOW        1795600800 /* 2026-11-25T10:00:00Z: one clock for every run */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static policy_t *the_policy(void)
{
    static policy_t *policy;
    char path[1024], err[512];

    if (policy != NULL)
        return policy;
    const char *root = getenv("RECOBRO_SOURCE_DIR");
    snprintf(path, sizeof(path), "%s/deploy/policy/default.json", root ? root : RECOBRO_SOURCE_DIR);
    policy = policy_load_file(path, err, sizeof(err));
    if (policy == NULL) {
        fprintf(stderr, "fuzz_event: %s\n", err);
        abort();
    }
    return policy;
}

/* One message: parse, validate, and apply it to *cf with a planning, as the worker would. */
static void one_message(casefile_t *cf, const policy_t *policy, const char *msg, size_t len,
                        int64_t now)
{
    ce_event_t ev = CE_EVENT_INIT;
    reason_t why;
    char err[512];

    if (ce_parse(msg, len, &ev, &why) < 0)
        return;
    if (validate_event(&ev, &why) == 0 && strncmp(ev.type, "invoice.", 8) == 0 &&
        casefile_apply_event(cf, ev.type, ev.data, &why) == 0) {
        casefile_plan_t plan = CASEFILE_PLAN_INIT;
        if (casefile_plan(cf, policy, now, &plan, err, sizeof(err)) == 0) {
            json_decref(casefile_cache_new(cf, policy, now));
            /* What saving does: the tasks planned now become loaded ones. */
            for (size_t t = 0; t < cf->n_tasks; t++)
                cf->tasks[t].is_new = cf->tasks[t].status_dirty = false;
        }
        casefile_plan_clear(&plan);
    }
    ce_event_clear(&ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const policy_t *policy = the_policy();
    const char *p = (const char *)data, *end = p + size;
    casefile_t cf;

    if (casefile_init(&cf, "acme", "D-1001") < 0)
        return 0;
    for (int i = 0; i < MAX_EVENTS && p < end; i++) {
        const char *sep = memmem(p, (size_t)(end - p), "\n---\n", 5);
        size_t len = sep ? (size_t)(sep - p) : (size_t)(end - p);
        one_message(&cf, policy, p, len, NOW + (int64_t)i * 86400);
        p += len + (sep ? 5 : 0);
    }
    casefile_clear(&cf);
    return 0;
}
