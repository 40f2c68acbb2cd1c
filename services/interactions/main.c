/* main.c - recobro-interactions: contacts, disputes, preferences, forbearances, promises and plans
 * in; tasks and case events out. Only launches. */
#include <stdio.h>

#include "interactions.h"
#include "service.h"

int main(int argc, char **argv)
{
    config_t cfg;
    caseworker_spec_t spec;
    char err[600];
    wk_handler_t h;
    int rc = service_init(&cfg, "interactions",
                          "Records contact attempts, disputes, contact preferences, forbearances, "
                          "promises and plans, and re-plans each case's compliant tasks.",
                          argc, argv);
    if (rc >= 0)
        return rc;
    interactions_spec(&spec);
    caseworker_t *cw = caseworker_new(&cfg, &spec, err, sizeof(err));
    if (cw == NULL) {
        fprintf(stderr, "recobro-interactions: %s\n", err);
        return EXIT_FAIL;
    }
    caseworker_handler(cw, &h);
    const char *topics[] = {cfg.topic_interactions};
    rc = wk_run(&cfg, topics, 1, &h);
    caseworker_free(cw);
    return rc;
}
