/* main.c - recobroctl, the operations tool: parses the command line and dispatches to
 * commands.c. Exit codes: 0 ok, 1 failure, 2 usage error (CONTRACT.md). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "service.h"

static void usage(FILE *out)
{
    fputs("usage: recobroctl COMMAND [ARGS]\n\ncommands:\n", out);
    ctl_usage(out);
    fputs("  version              print the version\n"
          "  help                 this text, and the configuration variables\n"
          "  COMMAND --help       that command's usage\n"
          "\n"
          "Exit codes: 0 ok, 1 failure, 2 usage error.\n",
          out);
}

/* True when the arguments after the command's words ask for its usage. */
static bool wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
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
    if (wants_help(argc - 1 - cmd->words, argv + 1 + cmd->words)) {
        ctl_command_usage(stdout, cmd);
        return EXIT_OK;
    }
    /* service_init() reads the configuration (exit 2 with one line on a bad setting); the
     * command's own arguments were already matched, so none are passed to it. */
    char *none[] = {argv[0], NULL};
    int rc = service_init(&cfg, "recobroctl", "", 1, none);
    if (rc >= 0)
        return rc;
    return cmd->run(&cfg, argc - 1 - cmd->words, argv + 1 + cmd->words);
}
