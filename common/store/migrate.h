/* migrate.h - versioned schema migrations, compiled into the binaries from
 * deploy/migrations/NNNN_name.sql (see cmake/embed_sql.cmake). */
#ifndef RECOBRO_MIGRATE_H
#define RECOBRO_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

typedef struct migration {
    int version;
    const char *name;
    const char *sql;
} migration_t;

/* The embedded migrations, in version order. */
extern const migration_t migrations[];
extern const size_t migrations_count;

/* The newest version these binaries know. */
int migrate_latest_version(void);

/* Brings the database to the newest version: each migration not recorded in schema_migrations
 * (whatever its number) runs in its own transaction, in version order, and is recorded;
 * concurrent runs serialise on an advisory lock. Idempotent. Refuses a database newer than
 * this build (-1, err "database schema version N is newer than this build knows (M)").
 * On success returns 0 and sets *from and *to (may be NULL). */
__attribute__((warn_unused_result)) int migrate_run(PGconn *conn, int *from, int *to, char *err,
                                                    size_t errlen);

/* The database's current version into *version (0 for an empty database). Returns 0 or -1. */
int migrate_current(PGconn *conn, int *version, char *err, size_t errlen);

#endif
