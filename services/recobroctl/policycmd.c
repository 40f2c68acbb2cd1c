/* policycmd.c - recobroctl's policy commands: `policy load FILE [--creditor ID]`, `policy show
 * [--creditor ID]` and `policy list` (policystore.h: the default policy and the creditors' own). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "pg.h"
#include "policy.h"
#include "policystore.h"
#include "service.h"
#include "validate.h"

/* The command's arguments: the positional ones (at most `max_pos`) and --creditor. Returns 0, or
 * -1 after printing `usage` (and why) on stderr. */
static int parse_args(int argc, char **argv, const char *usage, int max_pos, const char **pos,
                      int *npos, const char **creditor)
{
    *npos = 0;
    *creditor = NULL;
    for (int i = 0; i < argc; i++) {
        const char *v = NULL;
        if (strcmp(argv[i], "--creditor") == 0 && i + 1 < argc)
            v = argv[++i];
        else if (strncmp(argv[i], "--creditor=", 11) == 0)
            v = argv[i] + 11;
        else if (argv[i][0] != '-' && *npos < max_pos) {
            pos[(*npos)++] = argv[i];
            continue;
        } else {
            fprintf(stderr, "recobroctl: unexpected argument '%s'\n%s", argv[i], usage);
            return -1;
        }
        if (*creditor != NULL || !validate_creditor_id(v)) {
            fprintf(stderr, "recobroctl: --creditor: %s\n%s",
                    *creditor != NULL ? "given twice"
                                      : "must be 1-64 characters of A-Z a-z 0-9 . _ -",
                    usage);
            return -1;
        }
        *creditor = v;
    }
    if (*npos != max_pos) {
        fputs(usage, stderr);
        return -1;
    }
    return 0;
}

/* Connects for a command; prints the reason and returns NULL on failure. */
static PGconn *connect_db(const config_t *cfg)
{
    char err[600];
    PGconn *conn = pg_connect(cfg->pg_dsn, "recobroctl", err, sizeof(err));
    if (conn == NULL)
        fprintf(stderr, "recobroctl: %s\n", err);
    return conn;
}

int ctl_policy_load(const config_t *cfg, int argc, char **argv)
{
    static const char usage[] = "usage: recobroctl policy load FILE [--creditor CREDITOR_ID]\n";
    char err[POLICY_ERR_MAX + 600];
    const char *pos[1], *creditor;
    int npos;

    if (parse_args(argc, argv, usage, 1, pos, &npos, &creditor) < 0)
        return EXIT_USAGE;
    policy_t *p = policy_load_file(pos[0], err, sizeof(err));
    if (p == NULL) {
        fprintf(stderr, "recobroctl: %s\n", err);
        return EXIT_FAIL;
    }
    char *text = policystore_read_file(pos[0], err, sizeof(err));
    PGconn *conn = text ? connect_db(cfg) : NULL;
    int rc = -1;
    if (text == NULL)
        fprintf(stderr, "recobroctl: %s\n", err);
    if (conn != NULL) {
        rc = policystore_add_for(conn, creditor, text, p, 0, err, sizeof(err));
        if (rc != 0)
            fprintf(stderr, "recobroctl: %s\n", err);
        else if (creditor != NULL)
            printf("policy \"%s\" version %d loaded and active for creditor %s\n", p->name,
                   p->version, creditor);
        else
            printf("policy \"%s\" version %d loaded and active\n", p->name, p->version);
        PQfinish(conn);
    }
    free(text);
    policy_free(p);
    return rc == 0 ? EXIT_OK : EXIT_FAIL;
}

int ctl_policy_show(const config_t *cfg, int argc, char **argv)
{
    static const char usage[] = "usage: recobroctl policy show [--creditor CREDITOR_ID]\n";
    char err[POLICY_ERR_MAX + 600];
    const char *pos[1], *creditor;
    int npos;
    policy_t *p = NULL;
    char *doc = NULL;
    bool own = false;

    if (parse_args(argc, argv, usage, 0, pos, &npos, &creditor) < 0)
        return EXIT_USAGE;
    PGconn *conn = connect_db(cfg);
    if (conn == NULL)
        return EXIT_FAIL;
    int rc = policystore_load_for(conn, creditor, &p, &doc, &own, err, sizeof(err));
    PQfinish(conn);
    if (rc != 0) {
        fprintf(stderr, "recobroctl: %s\n", err);
        return EXIT_FAIL;
    }
    if (creditor != NULL && !own)
        fprintf(stderr,
                "recobroctl: creditor %s has no policy of its own: the default policy (below) "
                "applies\n",
                creditor);
    printf("%s\n", doc);
    free(doc);
    policy_free(p);
    return EXIT_OK;
}

int ctl_policy_list(const config_t *cfg, int argc, char **argv)
{
    char err[600];
    json_t *list = NULL;

    (void)argv;
    if (argc != 0) {
        fputs("usage: recobroctl policy list\n", stderr);
        return EXIT_USAGE;
    }
    PGconn *conn = connect_db(cfg);
    if (conn == NULL)
        return EXIT_FAIL;
    int rc = policystore_list(conn, &list, err, sizeof(err));
    PQfinish(conn);
    if (rc != 0) {
        fprintf(stderr, "recobroctl: %s\n", err);
        return EXIT_FAIL;
    }
    return ctl_print_json(list);
}
