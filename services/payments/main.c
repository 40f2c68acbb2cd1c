/* main.c - recobro-payments: payment events in, allocations, promise/plan settlement, tasks and
 * case events out. Only launches. */
#include "payments.h"

int main(int argc, char **argv)
{
    return pipeline_main(argc, argv, &payments_spec);
}
