/* commands.h - the commands of recobroctl, one function each, found by their words. */
#ifndef RECOBRO_CTL_COMMANDS_H
#define RECOBRO_CTL_COMMANDS_H

#include "config.h"

#include <stdio.h>

typedef struct ctl_command {
    const char *word[3]; /* e.g. {"topics", "ensure", NULL} */
    int words;           /* how many of them */
    /* Runs with the arguments after the words. Returns the exit status. */
    int (*run)(const config_t *cfg, int argc, char **argv);
    const char *args;  /* the arguments' synopsis, "CREDITOR DEBTOR"; "" for none */
    const char *about; /* one sentence for the usage text */
} ctl_command_t;

/* `dlq replay` (dlq.c). */
int ctl_dlq_replay(const config_t *cfg, int argc, char **argv);
int ctl_report(const config_t *cfg, int argc, char **argv); /* `report` (report.c) */

/* Writes the list of commands (synopsis and sentence, one table for all) to `out`. */
void ctl_usage(FILE *out);

/* Writes one command's usage ("usage: recobroctl case show CREDITOR DEBTOR" and its sentence). */
void ctl_command_usage(FILE *out, const ctl_command_t *cmd);

/* The command whose words start argv, the longest match first; NULL when none. */
const ctl_command_t *ctl_find(int argc, char **argv);

#endif
