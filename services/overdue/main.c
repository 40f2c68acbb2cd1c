/* main.c - recobro-overdue: invoice events in, cases, tasks and case events out. Only launches. */
#include "overdue.h"

int main(int argc, char **argv)
{
    return pipeline_main(argc, argv, &overdue_spec);
}
