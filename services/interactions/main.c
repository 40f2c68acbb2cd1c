/* main.c - recobro-interactions: contacts, disputes, preferences, forbearances, promises and plans
 * in; tasks and case events out. Only launches. */
#include <stdio.h>

#include "interactions.h"
#include "service.h"

int main(int argc, char **argv)
{
    config_t cfg;
    char err[600];
    wk_handler_t h;
    int rc = service_init(&cfg, "interactions",
                          "Records contact attempts, disputes, contact preferences, forbearances, "
                          "promises and plans, and re-plans each case's compliant tasks.",
                          argc, argv);
    if (rc >= 0)
        return rc;
    interactions_t *it = interactions_new(&cfg, err, sizeof(err));
    if (it == NULL) {
        fprintf(stderr, "recobro-interactions: %s\n", err);
        return EXIT_FAIL;
    }
    interactions_handler(it, &h);
    const char *topics[] = {cfg.topic_interactions};
    rc = wk_run(&cfg, topics, 1, &h);
    interactions_free(it);
    return rc;
}
