/* attempts.h - the attempt record that finds poison messages (migration 0007_poison.sql).
 *
 * Before a batch runs, the worker records, in its own committed statement, which offsets of each
 * partition it starts; the batch's transaction moves the record past what it committed
 * (ATTEMPTS_COMMIT_SQL). A record still there at the next start means the attempt before never
 * committed: the process died with those messages in hand. The worker then applies them one at a
 * time, and a message started alone too often is poison (worker.c). */
#ifndef RECOBRO_ATTEMPTS_H
#define RECOBRO_ATTEMPTS_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/* The offsets of one partition a batch starts. */
typedef struct attempt_span {
    const char *topic; /* borrowed */
    int32_t partition;
    int64_t first, last; /* the batch's first and last offsets of the partition */
    int attempts; /* out: the record's count for the message at `first` (see attempts_begin) */
    int resumed;  /* out: the record was there with this first offset: a process died with the
                   * message in hand */
} attempt_span_t;

/* Prepares the record statement on a new connection; attempts_begin() runs it. Returns 0, or
 * pg_fail()'s code with err filled. */
__attribute__((warn_unused_result)) int attempts_prepare(PGconn *conn, char *err, size_t errlen);

/* Records that spans[0..n) start now, in one statement committed on its own, without waiting for
 * the disk flush (a dying worker cannot lose it; call it outside a transaction). A span whose first
 * offset is not the first offset of the partition's record starts a record of one attempt. One
 * whose first offset is (resumed) adds one to its attempts only when `alone` is set (the start
 * applies that one message by itself): a batch of several messages that resumes a record is not
 * applied as such (the worker goes one message at a time), so its start counts for nothing;
 * counting it would blame a message waiting behind the one that crashes for every crash. So the
 * count is 1 (the start a process died in) plus the starts of the message alone. Fills
 * spans[i].attempts and spans[i].resumed. Needs attempts_prepare() on `conn`. Returns 0, or -1 with
 * err filled (the caller retries as after any transient failure). */
__attribute__((warn_unused_result)) int attempts_begin(PGconn *conn, const char *group,
                                                       attempt_span_t *spans, size_t n, int alone,
                                                       char *err, size_t errlen);

/* The statement a batch runs in its transaction with the offsets it stores ($1 the group; $2,
 * $3, $4 the arrays of topics, partitions and next offsets): a record all of whose offsets are
 * now committed goes; one that reaches further starts at the next offset, with one attempt (its
 * next message was in hand when the process died). As a data-modifying WITH, so it can lead the
 * INSERT of consumer_offset that stores the same offsets. */
#define ATTEMPTS_COMMIT_SQL                                                                        \
    "gone AS (DELETE FROM consumer_attempt a USING u WHERE a.group_id = $1 AND a.topic = u.t "     \
    "AND a.kafka_partition = u.p AND a.last_offset < u.o), "                                       \
    "moved AS (UPDATE consumer_attempt a SET first_offset = u.o, attempts = 1, updated_at = "      \
    "now() FROM u WHERE a.group_id = $1 AND a.topic = u.t AND a.kafka_partition = u.p AND "        \
    "a.last_offset >= u.o AND a.first_offset < u.o) "

#endif
