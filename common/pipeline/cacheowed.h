/* cacheowed.h - re-writes the hot cases whose cache writes a killed process owed.
 *
 * A batch records the cases it changed in table cache_owed in its own transaction
 * (cacheowe.h) and deletes the record once their cache writes went through. A record left
 * behind belongs to a process killed between its COMMIT and its cache writes (or to one still
 * alive and slow). Every case worker and the scheduler, at start and then periodically, take
 * such records (FOR UPDATE SKIP LOCKED: two re-writers never take one record), re-read each
 * case from PostgreSQL and build its document as the normal path does, write them to Redis
 * (whose version guard keeps any newer document), and delete the records. Stealing the record
 * of a process still alive is harmless: the re-written document is the current version, and the
 * owner's own later write carries that version or an older one, so it changes nothing (an equal
 * version is the same committed state) or is refused. */
#ifndef RECOBRO_CACHEOWED_H
#define RECOBRO_CACHEOWED_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "cacheowe.h"
#include "policyset.h"

/* Re-writes the cases of up to `max_records` records older than `min_age_s` seconds, on `conn`
 * (prepared by pipeline_prepare(); not in a transaction), each under its creditor's policy in
 * `policies`, as of `now`. Returns the number of cases written, or -1 (Redis or PostgreSQL
 * failed; the records stay; err filled). */
int cacheowed_rewrite(PGconn *conn, cache_t *cache, const policyset_t *policies, int64_t now,
                      int min_age_s, int max_records, char *err, size_t errlen);

#endif
