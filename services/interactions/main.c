/* main.c - recobro-interactions: contacts, disputes, preferences, forbearances, promises and plans
 * in; tasks and case events out. Only launches. */
#include "interactions.h"

int main(int argc, char **argv)
{
    return pipeline_main(argc, argv, &interactions_spec);
}
