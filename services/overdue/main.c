/* main.c - recobro-overdue: invoice events in, cases, tasks and case events out. Only launches. */
#include <stdio.h>

#include "overdue.h"
#include "service.h"

int main(int argc, char **argv)
{
    config_t cfg;
    char err[600];
    wk_handler_t h;
    int rc = service_init(&cfg, "overdue",
                          "Creates and updates cases from invoice events, segments them and "
                          "plans their next compliant tasks.",
                          argc, argv);
    if (rc >= 0)
        return rc;
    overdue_t *od = overdue_new(&cfg, err, sizeof(err));
    if (od == NULL) {
        fprintf(stderr, "recobro-overdue: %s\n", err);
        return EXIT_FAIL;
    }
    overdue_handler(od, &h);
    const char *topics[] = {cfg.topic_invoices};
    rc = wk_run(&cfg, topics, 1, &h);
    overdue_free(od);
    return rc;
}
