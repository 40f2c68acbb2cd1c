/* relay.h - the outbox relay: publishes outbox rows to Kafka with an idempotent producer
 * (acks=all) and marks them sent only once the broker has acknowledged them.
 *
 * Rows are published shard by shard (outbox.h); a relay holds a shard's advisory lock for the
 * length of one transaction, so several relays share the work without publishing a row twice in
 * the normal case and per-key order is kept. A crash between the broker's acknowledgement and
 * the commit republishes those rows: downstream dedupes on the stable ids. */
#ifndef RECOBRO_RELAY_H
#define RECOBRO_RELAY_H

#include "config.h"

/* Runs until SIGTERM/SIGINT. Returns the process exit status. */
int relay_run(const config_t *cfg);

#endif
