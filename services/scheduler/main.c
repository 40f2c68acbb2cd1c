/* main.c - recobro-scheduler: the clock in, due work planned. Only launches. */
#include "scheduler.h"
#include "service.h"

int main(int argc, char **argv)
{
    config_t cfg;
    int rc = service_init(&cfg, "scheduler",
                          "Finds due work in PostgreSQL every period (strategy steps whose day "
                          "has come, re-segmentation as days pass) and plans it.",
                          argc, argv);
    if (rc >= 0)
        return rc;
    return scheduler_run(&cfg);
}
