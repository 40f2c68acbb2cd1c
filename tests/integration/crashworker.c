/* crashworker.c - recobro-test-crashworker, a TEST HOOK: one of the real case workers (overdue,
 * payments or interactions: RECOBRO_TEST_SERVICE, default overdue) whose process crashes
 * (abort()) while it applies an event whose data carries "x_test_crash": true. Nothing else
 * differs from the real binary: the same handler table, pipeline and runtime.
 *
 * It exists to test poison messages (worker.h, attempts.h): a message that crashes the worker
 * every time must end in the DLQ as "poison" while the messages around it are applied exactly
 * once. It is built only into build/bin for the tests and never shipped (the image installs the
 * binaries of services/ only); the production workers ignore "x_test_crash" like any unknown data
 * field. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interactions.h"
#include "overdue.h"
#include "payments.h"

#define MAX_HANDLERS 32

static pipeline_handler_t handlers[MAX_HANDLERS];
static const pipeline_spec_t *real; /* the wrapped service */

/* The real decision of the event's type, unless the event asks for a crash. */
static int crashing_decide(casefile_t *cf, const casedecide_in_t *in, casefile_plan_t *plan,
                           reason_t *why)
{
    if (in->data != NULL && json_is_true(json_object_get(in->data, "x_test_crash"))) {
        fprintf(stderr, "recobro-test-crashworker: crashing on purpose (x_test_crash)\n");
        abort();
    }
    return pipeline_find(real, in->type)->decide(cf, in, plan, why);
}

int main(int argc, char **argv)
{
    const char *name = getenv("RECOBRO_TEST_SERVICE");

    real = &overdue_spec;
    if (name != NULL && strcmp(name, "payments") == 0)
        real = &payments_spec;
    else if (name != NULL && strcmp(name, "interactions") == 0)
        real = &interactions_spec;
    if (real->nhandlers > MAX_HANDLERS)
        return 1;
    for (size_t i = 0; i < real->nhandlers; i++) {
        handlers[i] = real->handlers[i];
        handlers[i].decide = crashing_decide;
    }
    pipeline_spec_t spec = *real;
    spec.handlers = handlers;
    return pipeline_main(argc, argv, &spec);
}
