/* main.c - recobroctl, the operations tool: parses the command line and dispatches to
 * commands.c. Exit codes: 0 ok, 1 failure, 2 usage error (CONTRACT.md). */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "service.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: recobroctl COMMAND [ARGS]\n"
        "\n"
        "commands:\n"
        "  migrate              create or upgrade the database schema (idempotent)\n"
        "  migrate status       print the schema version of the database and build\n"
        "  topics ensure        create the contract's topics if missing (idempotent)\n"
        "  policy load FILE     check a policy and make it the active version\n"
        "  policy show          print the active policy\n"
        "  case show CREDITOR DEBTOR\n"
        "                       print a case as an agent sees it (JSON)\n"
        "  scheduler tick [--now INSTANT]\n"
        "                       run one due-work sweep as of INSTANT (RFC 3339 with\n"
        "                       an offset; default now), print a JSON summary\n"
        "  dlq replay [--reason CODE] [--source-topic TOPIC] [--to TOPIC] [--limit N] [--dry-run]\n"
        "                       send rejected messages back to their topic\n"
        "  report [--creditor ID] [--from DATE] [--to DATE] [--format json|text]\n"
        "                       print the business measures (JSON by default)\n"
        "  version              print the version\n"
        "  help                 this text, and the configuration variables\n"
        "\n"
        "Exit codes: 0 ok, 1 failure, 2 usage error.\n");
}

int main(int argc, char **argv)
{
    config_t cfg;

    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        config_print_help(stdout, "recobroctl");
        return EXIT_OK;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("recobroctl %s\n", RECOBRO_VERSION);
        return EXIT_OK;
    }
    const ctl_command_t *cmd = ctl_find(argc - 1, argv + 1);
    if (cmd == NULL) {
        fprintf(stderr, "recobroctl: unknown command '%s'\n", argv[1]);
        usage(stderr);
        return EXIT_USAGE;
    }
    /* service_init() reads the configuration (exit 2 with one line on a bad setting); the
     * command's own arguments were already matched, so none are passed to it. */
    char *none[] = {argv[0], NULL};
    int rc = service_init(&cfg, "recobroctl", "", 1, none);
    if (rc >= 0)
        return rc;
    return cmd->run(&cfg, argc - 1 - cmd->words, argv + 1 + cmd->words);
}
