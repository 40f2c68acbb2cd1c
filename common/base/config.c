/* config.c - the settings table and its parser (see config.h). */
#include "config.h"

#include <glib.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "calendar.h"

config_check_fn config_dsn_check;

typedef enum {
    CT_STRING,
    CT_INT,
    CT_LOGLEVEL,
    CT_ADDR,
    CT_REDIS_URL,
    CT_DSN,
    CT_INSTANT,
    CT_TOPIC
} config_type_t;

typedef struct config_entry {
    const char *name;
    config_type_t type;
    const char *def; /* NULL: computed per service (see default_for) */
    size_t offset;
    size_t size; /* of the target, for strings */
    long min, max;
    const char *desc;
} config_entry_t;

#define STR(field) offsetof(config_t, field), sizeof(((config_t *)0)->field)
#define NUM(field) offsetof(config_t, field), sizeof(int)

/* The one table: every variable, its type, default and meaning. */
static const config_entry_t config_table[] = {
    {"RECOBRO_KAFKA_BROKERS", CT_STRING, "127.0.0.1:19092", STR(kafka_brokers), 0, 0,
     "Kafka bootstrap servers"},
    {"RECOBRO_PG_DSN", CT_DSN, "host=127.0.0.1 port=15432 dbname=recobro user=recobro", STR(pg_dsn),
     0, 0, "libpq connection string"},
    {"RECOBRO_REDIS_URL", CT_REDIS_URL, "redis://127.0.0.1:16379/0", STR(redis_url), 0, 0,
     "Redis for the hot case cache: redis[s]://[[user]:password@]host:port[/db] (rediss: TLS)"},
    {"RECOBRO_REDIS_TLS_CA", CT_STRING, "", STR(redis_tls_ca), 0, 0,
     "CA certificate file (PEM) that verifies a rediss:// server; unset: the system's CAs"},
    {"RECOBRO_REDIS_TLS_CERT", CT_STRING, "", STR(redis_tls_cert), 0, 0,
     "client certificate file (PEM) for rediss:// servers that ask for one"},
    {"RECOBRO_REDIS_TLS_KEY", CT_STRING, "", STR(redis_tls_key), 0, 0,
     "private key file (PEM) of RECOBRO_REDIS_TLS_CERT"},
    {"RECOBRO_GROUP_ID", CT_STRING, NULL, STR(group_id), 0, 0,
     "Kafka consumer group, recobro-<service> unless set"},
    {"RECOBRO_HTTP_ADDR", CT_ADDR, NULL, STR(http_addr), 0, 0,
     "host:port of /metrics, /healthz, /readyz"},
    {"RECOBRO_LOG_LEVEL", CT_LOGLEVEL, "info", offsetof(config_t, log_level), 0, 0, 0,
     "debug, info, warn or error"},
    {"RECOBRO_NOW", CT_INSTANT, "", STR(now), 0, 0,
     "a fixed clock (RFC 3339) for tests and replays; unset: the real clock"},
    {"RECOBRO_TOPIC_INVOICES", CT_TOPIC, "recobro.invoices", STR(topic_invoices), 0, 0,
     "topic of invoice events"},
    {"RECOBRO_TOPIC_PAYMENTS", CT_TOPIC, "recobro.payments", STR(topic_payments), 0, 0,
     "topic of payment events"},
    {"RECOBRO_TOPIC_INTERACTIONS", CT_TOPIC, "recobro.interactions", STR(topic_interactions), 0, 0,
     "topic of interaction events"},
    {"RECOBRO_TOPIC_TASKS", CT_TOPIC, "recobro.tasks", STR(topic_tasks), 0, 0,
     "topic of follow-up tasks (out)"},
    {"RECOBRO_TOPIC_CASE_EVENTS", CT_TOPIC, "recobro.case-events", STR(topic_case_events), 0, 0,
     "topic of case events (out)"},
    {"RECOBRO_TOPIC_DLQ", CT_TOPIC, "recobro.dlq", STR(topic_dlq), 0, 0,
     "topic of rejected input messages (out)"},
    {"RECOBRO_TOPIC_PARTITIONS", CT_INT, "6", NUM(topic_partitions), 1, 10000,
     "partitions per topic for `recobroctl topics ensure`"},
    {"RECOBRO_TOPIC_REPLICATION", CT_INT, "1", NUM(topic_replication), 1, 32,
     "replication factor for `recobroctl topics ensure`"},
    {"RECOBRO_BATCH_MAX", CT_INT, "500", NUM(batch_max), 1, 100000,
     "most messages applied in one transaction"},
    {"RECOBRO_BATCH_MS", CT_INT, "20", NUM(batch_ms), 1, 60000,
     "longest wait in milliseconds to fill a batch"},
    {"RECOBRO_BACKOFF_INITIAL_MS", CT_INT, "100", NUM(backoff_initial_ms), 1, 600000,
     "first retry delay after a transient failure"},
    {"RECOBRO_BACKOFF_MAX_MS", CT_INT, "10000", NUM(backoff_max_ms), 1, 3600000,
     "longest retry delay after repeated transient failures"},
    {"RECOBRO_CACHE_TTL", CT_INT, "604800", NUM(cache_ttl_s), 1, INT_MAX,
     "seconds a hot case stays in Redis"},
    {"RECOBRO_DEDUPE_RETENTION", CT_INT, "2592000", NUM(dedupe_retention_s), 0, INT_MAX,
     "seconds an applied event's (source, id) is remembered against re-sends (0: forever)"},
    {"RECOBRO_POISON_ATTEMPTS", CT_INT, "3", NUM(poison_attempts), 1, 100,
     "times a message may crash the worker before it goes to the DLQ as poison"},
    {"RECOBRO_SHUTDOWN_TIMEOUT_MS", CT_INT, "8000", NUM(shutdown_timeout_ms), 100, 600000,
     "longest graceful shutdown before giving up on the batch in hand"},
    {"RECOBRO_RELAY_BATCH", CT_INT, "1000", NUM(relay_batch), 1, 100000,
     "outbox rows the relay publishes per transaction"},
    {"RECOBRO_RELAY_POLL_MS", CT_INT, "500", NUM(relay_poll_ms), 1, 60000,
     "relay poll period when no notification arrives"},
    {"RECOBRO_OUTBOX_RETENTION", CT_INT, "3600", NUM(outbox_retention_s), 0, INT_MAX,
     "seconds a published outbox row is kept for audit"},
    {"RECOBRO_SCHEDULER_PERIOD_MS", CT_INT, "60000", NUM(scheduler_period_ms), 10, 86400000,
     "scheduler: milliseconds between two sweeps for due work"},
    {"RECOBRO_SNAPSHOT_RETENTION_DAYS", CT_INT, "731", NUM(snapshot_retention_days), 0, 36600,
     "scheduler: days the daily case snapshots (roll rates) are kept (0: forever)"},
    {"RECOBRO_POLICY_FILE", CT_STRING, "", STR(policy_file), 0, 0,
     "policy to load when the database has none"},
};

static const struct {
    const char *service;
    const char *http_addr;
} service_ports[] = {
    {"overdue", "127.0.0.1:9101"},      {"payments", "127.0.0.1:9102"},
    {"interactions", "127.0.0.1:9103"}, {"scheduler", "127.0.0.1:9104"},
    {"relay", "127.0.0.1:9105"},        {"recobroctl", "127.0.0.1:9106"},
    {"testsum", "127.0.0.1:9109"},
};

const char *config_default_http_addr(const char *service)
{
    for (size_t i = 0; i < sizeof(service_ports) / sizeof(service_ports[0]); i++)
        if (strcmp(service_ports[i].service, service) == 0)
            return service_ports[i].http_addr;
    return "127.0.0.1:9100";
}

static const char *default_for(const config_entry_t *e, const char *service, char *buf, size_t len)
{
    if (e->def != NULL)
        return e->def;
    if (strcmp(e->name, "RECOBRO_GROUP_ID") == 0) {
        snprintf(buf, len, "recobro-%s", service);
        return buf;
    }
    return config_default_http_addr(service);
}

int config_parse_addr(const char *s, char *host, size_t hostlen, int *port)
{
    const char *colon;
    char *end;
    long p;
    size_t hl;

    if (s == NULL || *s == '\0')
        return -1;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        hl = (size_t)(close - s - 1);
        if (hl + 1 > hostlen)
            return -1;
        memcpy(host, s + 1, hl);
        host[hl] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return -1;
        hl = (size_t)(colon - s);
        if (hl + 1 > hostlen)
            return -1;
        memcpy(host, s, hl);
        host[hl] = '\0';
        if (strcmp(host, "*") == 0)
            host[0] = '\0';
    }
    errno = 0;
    p = strtol(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || *end != '\0' || p < 0 || p > 65535)
        return -1;
    *port = (int)p;
    return 0;
}

/* Copies src (may be NULL: "") into dst of size bytes; -1 when it does not fit. */
static int copy_part(char *dst, size_t size, const char *src)
{
    if (src == NULL)
        src = "";
    if (strlen(src) >= size)
        return -1;
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

/* The database number of the URL's path ("" or "/": 0; "/N": N of 0-1000) into *db; -1 when
 * it is anything else. */
static int redis_url_db(const char *path, int *db)
{
    char *end;
    long v;

    *db = 0;
    if (path[0] == '\0' || strcmp(path, "/") == 0)
        return 0;
    if (path[0] != '/' || !g_ascii_isdigit(path[1]))
        return -1;
    errno = 0;
    v = strtol(path + 1, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0 || v > 1000)
        return -1;
    *db = (int)v;
    return 0;
}

/* The parts of a Redis URL, split by GLib's RFC 3986 parser (user-info percent-decoded), into
 * *out; -1 when one is missing, extra or does not fit. */
static int redis_url_parts(const char *scheme, const char *user, const char *password,
                           const char *host, int port, const char *path, config_redis_url_t *out)
{
    if (strcmp(scheme, "redis") != 0 && strcmp(scheme, "rediss") != 0)
        return -1;
    out->tls = strcmp(scheme, "rediss") == 0;
    /* "word@" (a user without a password) and "user:@" are refused: a user cannot AUTH
     * without a password, and an old "redis://password@host" must fail at start. */
    if (user != NULL && (password == NULL || password[0] == '\0'))
        return -1;
    if (host == NULL || host[0] == '\0' || port == 0 ||
        copy_part(out->host, sizeof(out->host), host) < 0 ||
        copy_part(out->user, sizeof(out->user), user) < 0 ||
        copy_part(out->password, sizeof(out->password), password) < 0)
        return -1;
    out->port = port < 0 ? 6379 : port;
    return redis_url_db(path, &out->db);
}

/* s with the characters of its user-info (between "://" and the last '@') that would end the
 * user-info early ('@', '/', '?', '#': a password may hold them) percent-encoded, so that GLib
 * splits where the old parser did: a new string (g_free). */
static char *redis_url_escape_userinfo(const char *s)
{
    const char *start = strstr(s, "://"), *at = strrchr(s, '@');

    if (start == NULL || at == NULL || at < start + 3)
        return g_strdup(s);
    start += 3;
    GString *out = g_string_new_len(s, start - s);
    for (const char *c = start; c < at; c++) {
        if (strchr("@/?#", *c) != NULL)
            g_string_append_printf(out, "%%%02X", (unsigned char)*c);
        else
            g_string_append_c(out, *c);
    }
    g_string_append(out, at);
    return g_string_free(out, FALSE);
}

int config_parse_redis_url(const char *s, config_redis_url_t *out)
{
    char *scheme = NULL, *user = NULL, *password = NULL, *host = NULL, *path = NULL;
    char *query = NULL, *fragment = NULL;
    int port = -1, rc = -1;

    if (s == NULL)
        return -1;
    memset(out, 0, sizeof(*out));
    char *escaped = redis_url_escape_userinfo(s);
    if (g_uri_split_with_user(escaped, G_URI_FLAGS_HAS_PASSWORD, &scheme, &user, &password, NULL,
                              &host, &port, &path, &query, &fragment, NULL) &&
        scheme != NULL && query == NULL && fragment == NULL)
        rc = redis_url_parts(scheme, user, password, host, port, path, out);
    memset(escaped, 0, strlen(escaped));
    g_free(escaped);
    g_free(scheme);
    if (password != NULL)
        memset(password, 0, strlen(password)); /* no copy of a secret left in the heap */
    g_free(user);
    g_free(password);
    g_free(host);
    g_free(path);
    g_free(query);
    g_free(fragment);
    if (rc < 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

/* A Kafka topic name: 1-249 of [a-zA-Z0-9._-], not "." or "..". */
static int valid_topic(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 249 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return 0;
    return 1;
}

/* ---- Checking and applying one value ------------------------------------------------------
 * One function per type: each checks v (never NULL) for entry e and returns 0, or -1 with err
 * starting with e's name. The numeric ones also store the value; a string type's value is
 * copied by config_apply() once checked. */
typedef int apply_fn(config_t *cfg, const config_entry_t *e, const char *v, char *err,
                     size_t errlen);

static int apply_int(config_t *cfg, const config_entry_t *e, const char *v, char *err,
                     size_t errlen)
{
    char *end;

    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < e->min || n > e->max) {
        snprintf(err, errlen, "%s: \"%s\" is not an integer between %ld and %ld", e->name, v,
                 e->min, e->max);
        return -1;
    }
    *(int *)((char *)cfg + e->offset) = (int)n;
    return 0;
}

static int apply_loglevel(config_t *cfg, const config_entry_t *e, const char *v, char *err,
                          size_t errlen)
{
    if (log_level_parse(v, (log_level_t *)((char *)cfg + e->offset)) < 0) {
        snprintf(err, errlen, "%s: \"%s\" is not one of debug, info, warn, error", e->name, v);
        return -1;
    }
    return 0;
}

static int check_topic(config_t *cfg, const config_entry_t *e, const char *v, char *err,
                       size_t errlen)
{
    (void)cfg;
    if (!valid_topic(v)) {
        snprintf(err, errlen, "%s: \"%s\" is not a valid Kafka topic name", e->name, v);
        return -1;
    }
    return 0;
}

static int check_addr(config_t *cfg, const config_entry_t *e, const char *v, char *err,
                      size_t errlen)
{
    char host[256];
    int port;

    (void)cfg;
    if (config_parse_addr(v, host, sizeof(host), &port) < 0) {
        snprintf(err, errlen, "%s: \"%s\" is not host:port", e->name, v);
        return -1;
    }
    return 0;
}

static int check_redis_url(config_t *cfg, const config_entry_t *e, const char *v, char *err,
                           size_t errlen)
{
    config_redis_url_t u;

    (void)cfg;
    if (config_parse_redis_url(v, &u) < 0) {
        /* Never echo the value: it may hold a password. */
        snprintf(err, errlen,
                 "%s: not a URL of the form redis[s]://[[user]:password@]host:port[/db]", e->name);
        return -1;
    }
    return 0;
}

static int check_dsn(config_t *cfg, const config_entry_t *e, const char *v, char *err,
                     size_t errlen)
{
    char why[400];

    (void)cfg;
    /* libpq judges a connection string; base may not link it, so the store lends its check
     * (config_dsn_check). Its text never holds the password. */
    if (config_dsn_check != NULL && config_dsn_check(v, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "%s: not a valid libpq connection string (%s)", e->name, why);
        return -1;
    }
    return 0;
}

/* Also sets cfg->now_unix; "" (the real clock) is accepted and leaves it 0. */
static int check_instant(config_t *cfg, const config_entry_t *e, const char *v, char *err,
                         size_t errlen)
{
    if (v[0] != '\0' && cal_parse_instant(v, &cfg->now_unix, NULL) < 0) {
        snprintf(err, errlen, "%s: \"%s\" is not an RFC 3339 instant with an offset", e->name, v);
        return -1;
    }
    return 0;
}

/* How each type is applied: `string` types are copied into a char array of e->size bytes
 * after `check` (NULL: any text) accepts them; the others are stored by `check` itself. */
static const struct {
    bool string;
    apply_fn *check;
} config_types[] = {
    [CT_STRING] = {true, NULL},
    [CT_INT] = {false, apply_int},
    [CT_LOGLEVEL] = {false, apply_loglevel},
    [CT_ADDR] = {true, check_addr},
    [CT_REDIS_URL] = {true, check_redis_url},
    [CT_DSN] = {true, check_dsn},
    [CT_INSTANT] = {true, check_instant},
    [CT_TOPIC] = {true, check_topic},
};

/* Applies one value to its target. Returns 0 or -1 with err filled. */
static int config_apply(config_t *cfg, const config_entry_t *e, const char *v, char *err,
                        size_t errlen)
{
    bool string = config_types[e->type].string;
    apply_fn *check = config_types[e->type].check;

    if (string && strlen(v) + 1 > e->size) {
        snprintf(err, errlen, "%s: value is too long (at most %zu characters)", e->name,
                 e->size - 1);
        return -1;
    }
    if (check != NULL && check(cfg, e, v, err, errlen) < 0)
        return -1;
    if (string)
        strcpy((char *)cfg + e->offset, v);
    return 0;
}

static const char *config_getenv_default(const char *name, void *ud)
{
    (void)ud;
    return getenv(name);
}

/* Turns RECOBRO_KAFKA_SECURITY_PROTOCOL into security.protocol. */
static int kafka_prop_name(const char *suffix, char *out, size_t len)
{
    size_t i;
    for (i = 0; suffix[i] != '\0'; i++) {
        if (i + 1 >= len)
            return -1;
        char c = suffix[i];
        if (c == '_')
            out[i] = '.';
        else if (isalnum((unsigned char)c))
            out[i] = (char)tolower((unsigned char)c);
        else
            return -1;
    }
    out[i] = '\0';
    return i > 0 ? 0 : -1;
}

/* Reads entry e through get (NULL: unset, then e's default for `service`) and applies it.
 * An empty value counts as set: only RECOBRO_NOW and the string entries other than the
 * brokers accept one. Returns 0, or -1 with err filled. */
static int load_entry(config_t *cfg, const config_entry_t *e, const char *service,
                      config_getenv_fn get, void *ud, char *err, size_t errlen)
{
    char buf[256];
    const char *v = get(e->name, ud);

    if (v == NULL) {
        v = default_for(e, service, buf, sizeof(buf));
    } else if (v[0] == '\0' && ((e->type != CT_INSTANT && e->type != CT_STRING) ||
                                strcmp(e->name, "RECOBRO_KAFKA_BROKERS") == 0)) {
        snprintf(err, errlen, "%s: is set but empty", e->name);
        return -1;
    }
    return config_apply(cfg, e, v, err, errlen);
}

/* Adds the environment entry kv ("NAME=value") to cfg's librdkafka properties when it is a
 * RECOBRO_KAFKA_<PROPERTY> other than the brokers. Returns 0 (added or not one), or -1 with
 * err filled (too many, too long, or not a property name). */
static int add_kafka_prop(config_t *cfg, const char *kv, char *err, size_t errlen)
{
    const char *eq = strchr(kv, '=');
    config_kafka_prop_t *p;

    if (strncmp(kv, "RECOBRO_KAFKA_", 14) != 0 || eq == NULL)
        return 0;
    size_t nl = (size_t)(eq - kv);
    if (nl == strlen("RECOBRO_KAFKA_BROKERS") && strncmp(kv, "RECOBRO_KAFKA_BROKERS", nl) == 0)
        return 0;
    if (cfg->n_kafka_props == CONFIG_MAX_KAFKA_PROPS) {
        snprintf(err, errlen, "RECOBRO_KAFKA_*: more than %d properties", CONFIG_MAX_KAFKA_PROPS);
        return -1;
    }
    p = &cfg->kafka_props[cfg->n_kafka_props];
    if (nl >= sizeof(p->env) || strlen(eq + 1) >= sizeof(p->value)) {
        snprintf(err, errlen, "%.*s: name or value too long", (int)(nl > 100 ? 100 : nl), kv);
        return -1;
    }
    memcpy(p->env, kv, nl);
    p->env[nl] = '\0';
    if (kafka_prop_name(p->env + 14, p->name, sizeof(p->name)) < 0) {
        snprintf(err, errlen, "%s: not a librdkafka property name", p->env);
        return -1;
    }
    strcpy(p->value, eq + 1);
    cfg->n_kafka_props++;
    return 0;
}

int config_load(config_t *cfg, const char *service, config_getenv_fn get, void *ud,
                char *const *environ_list, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->service, sizeof(cfg->service), "%s", service);
    if (get == NULL)
        get = config_getenv_default;
    for (size_t i = 0; i < sizeof(config_table) / sizeof(config_table[0]); i++)
        if (load_entry(cfg, &config_table[i], service, get, ud, err, errlen) < 0)
            return -1;
    for (size_t i = 0; environ_list != NULL && environ_list[i] != NULL; i++)
        if (add_kafka_prop(cfg, environ_list[i], err, errlen) < 0)
            return -1;
    return 0;
}

void config_print_help(FILE *out, const char *service)
{
    char buf[256];

    fprintf(out, "Configuration (environment variables):\n");
    for (size_t i = 0; i < sizeof(config_table) / sizeof(config_table[0]); i++) {
        const config_entry_t *e = &config_table[i];
        const char *def = default_for(e, service, buf, sizeof(buf));
        fprintf(out, "  %-28s %s (default: %s)\n", e->name, e->desc, def[0] ? def : "unset");
    }
    fprintf(out,
            "  %-28s any librdkafka property, '_' for '.' (e.g. "
            "RECOBRO_KAFKA_SECURITY_PROTOCOL)\n",
            "RECOBRO_KAFKA_<PROPERTY>");
}
