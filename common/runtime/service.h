/* service.h - what every service binary does before its real work: parse the command line
 * (--help, --version), load the configuration (a bad setting stops here with one line naming
 * it, exit 2), set up logging and the clock, and install the signal handlers. */
#ifndef RECOBRO_SERVICE_H
#define RECOBRO_SERVICE_H

#include "config.h"

/* Exit statuses shared by every binary (CONTRACT.md, recobroctl). */
#define EXIT_OK    0
#define EXIT_FAIL  1
#define EXIT_USAGE 2

/* Prepares `service` from argv and the environment into *cfg. Returns -1 when the caller should
 * go on, or an exit status to return at once (0 after --help, 2 for a bad argument or setting;
 * the reason was printed on stderr in one line). `about` is a one-line description for --help. */
int service_init(config_t *cfg, const char *service, const char *about, int argc, char **argv);

#endif
