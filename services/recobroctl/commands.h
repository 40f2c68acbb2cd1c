/* commands.h - the commands of recobroctl, one function each, found by their words. */
#ifndef RECOBRO_CTL_COMMANDS_H
#define RECOBRO_CTL_COMMANDS_H

#include <jansson.h>
#include <libpq-fe.h>

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

/* `policy load FILE [--creditor ID]`, `policy show [--creditor ID]`, `policy list` (policycmd.c).
 */
int ctl_policy_load(const config_t *cfg, int argc, char **argv);
int ctl_policy_show(const config_t *cfg, int argc, char **argv);
int ctl_policy_list(const config_t *cfg, int argc, char **argv);

/* Adds to the `case show` document `out` what the hot case lacks (caseshow.c): "policy_id"
 * (the policy of its policy_version), "policy_in_force", "payments" with their allocations,
 * "disputes" with their reasons, "segment_history" with rule and policy, and each promise's
 * "techniques". Returns 0, or -1 with err. */
int ctl_case_extras(PGconn *conn, const char *creditor_id, const char *debtor_id, json_t *out,
                    char *err, size_t errlen);

/* Prints doc as indented JSON on stdout and releases it. Returns EXIT_OK, or EXIT_FAIL (out of
 * memory, said in one line). */
int ctl_print_json(json_t *doc);

/* Writes the list of commands (synopsis and sentence, one table for all) to `out`. */
void ctl_usage(FILE *out);

/* Writes one command's usage ("usage: recobroctl case show CREDITOR DEBTOR" and its sentence). */
void ctl_command_usage(FILE *out, const ctl_command_t *cmd);

/* The command whose words start argv, the longest match first; NULL when none. */
const ctl_command_t *ctl_find(int argc, char **argv);

#endif
