/* main.c - recobro-payments: payment events in, allocations, promise/plan settlement, tasks and
 * case events out. Only launches. */
#include <stdio.h>

#include "payments.h"
#include "service.h"

int main(int argc, char **argv)
{
    config_t cfg;
    caseworker_spec_t spec;
    char err[600];
    wk_handler_t h;
    int rc =
        service_init(&cfg, "payments",
                     "Allocates payments and reversals to cases, settles promises and instalment "
                     "plans, and resolves cases paid in full.",
                     argc, argv);
    if (rc >= 0)
        return rc;
    payments_spec(&spec);
    caseworker_t *cw = caseworker_new(&cfg, &spec, err, sizeof(err));
    if (cw == NULL) {
        fprintf(stderr, "recobro-payments: %s\n", err);
        return EXIT_FAIL;
    }
    caseworker_handler(cw, &h);
    const char *topics[] = {cfg.topic_payments};
    rc = wk_run(&cfg, topics, 1, &h);
    caseworker_free(cw);
    return rc;
}
