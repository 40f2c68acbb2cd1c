/* main.c - recobro-overdue: invoice events in, cases, tasks and case events out. Only launches. */
#include <stdio.h>

#include "overdue.h"
#include "service.h"

int main(int argc, char **argv)
{
    config_t cfg;
    caseworker_spec_t spec;
    char err[600];
    wk_handler_t h;
    int rc = service_init(&cfg, "overdue",
                          "Creates and updates cases from invoice events, segments them and "
                          "plans their next compliant tasks.",
                          argc, argv);
    if (rc >= 0)
        return rc;
    overdue_spec(&spec);
    caseworker_t *cw = caseworker_new(&cfg, &spec, err, sizeof(err));
    if (cw == NULL) {
        fprintf(stderr, "recobro-overdue: %s\n", err);
        return EXIT_FAIL;
    }
    caseworker_handler(cw, &h);
    const char *topics[] = {cfg.topic_invoices};
    rc = wk_run(&cfg, topics, 1, &h);
    caseworker_free(cw);
    return rc;
}
