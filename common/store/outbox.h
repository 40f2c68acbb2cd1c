/* outbox.h - the transactional outbox, writer side: messages a batch wants published (tasks,
 * case events, DLQ copies) are buffered here and written with one COPY inside the batch's
 * transaction, so they exist if and only if the state change that caused them committed. The
 * relay service publishes them (relay.h). */
#ifndef RECOBRO_OUTBOX_H
#define RECOBRO_OUTBOX_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>

#include "result.h"

/* Shards of the outbox: one relay at a time publishes a shard, in id order. */
#define OUTBOX_SHARDS 16

/* The PostgreSQL NOTIFY channel that wakes relays when rows are written. */
#define OUTBOX_CHANNEL "recobro_outbox"

typedef struct outbox outbox_t;

/* One Kafka header: name and value bytes (the value may hold any bytes). */
typedef struct outbox_header {
    const char *name;
    const void *value;
    size_t len;
} outbox_header_t;

/* A new, empty buffer; NULL when out of memory. Free with outbox_free() (NULL is a no-op). */
outbox_t *outbox_new(void);
void outbox_free(outbox_t *ob);

/* Forgets what was buffered (after a rollback, or after outbox_flush()). */
void outbox_clear(outbox_t *ob);

/* Messages buffered since the last clear. */
size_t outbox_count(const outbox_t *ob);

/* Buffers one message for `topic`. `key` may be NULL (no key); headers may be NULL when nh is 0;
 * `event_id` (may be NULL) is recorded for audit. Everything is copied. Returns 0, or -1 when out
 * of memory. */
__attribute__((warn_unused_result)) int outbox_add(outbox_t *ob, const char *topic, const void *key,
                                                   size_t keylen, const void *payload, size_t len,
                                                   const char *event_id,
                                                   const outbox_header_t *headers, size_t nh);

/* Buffers a CloudEvent already serialised (`text`, `len` bytes), as outbox_add_event() does its
 * text: keyed by `key` (a C string), `event_id` its "id", with the content-type header. Returns 0
 * or -1. */
__attribute__((warn_unused_result)) int outbox_add_event_text(outbox_t *ob, const char *topic,
                                                              const char *key, const char *text,
                                                              size_t len, const char *event_id);

/* Buffers a CloudEvent: serialised compactly, keyed by `key` (a C string), with its "id" as the
 * event id and a content-type header. Borrows `event`. Returns 0 or -1. */
__attribute__((warn_unused_result)) int outbox_add_event(outbox_t *ob, const char *topic,
                                                         const char *key, const json_t *event);

/* Writes the buffered messages with COPY on `conn`, which must be inside the caller's
 * transaction, and queues a NOTIFY for the relays (delivered at commit). Clears the buffer on
 * success. Returns 0, or -1 / RESULT_TRANSIENT with err filled (the buffer is kept: the caller
 * rolls back and may retry). */
__attribute__((warn_unused_result)) int outbox_flush(outbox_t *ob, PGconn *conn, char *err,
                                                     size_t errlen);

/* outbox_flush() without the NOTIFY: only the COPY, for a caller that sends OUTBOX_NOTIFY_SQL
 * itself with its other statements (one round trip less). Same returns. */
__attribute__((warn_unused_result)) int outbox_copy(outbox_t *ob, PGconn *conn, char *err,
                                                    size_t errlen);

/* The statement that wakes the relays (delivered at the commit of the transaction it is in). */
#define OUTBOX_NOTIFY_SQL "NOTIFY " OUTBOX_CHANNEL

/* The shard of a key (FNV-1a); a NULL key is shard 0. */
int outbox_shard(const void *key, size_t keylen);

#endif
