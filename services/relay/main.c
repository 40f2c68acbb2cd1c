/* main.c - recobro-relay: publishes the transactional outbox to Kafka. Only launches. */
#include "relay.h"
#include "service.h"

int main(int argc, char **argv)
{
    config_t cfg;
    int rc = service_init(&cfg, "relay",
                          "Publishes tasks, case events and DLQ copies from the outbox to Kafka.",
                          argc, argv);
    if (rc >= 0)
        return rc;
    return relay_run(&cfg);
}
