/* cloudevent.h - the CloudEvents 1.0 envelope (structured JSON mode) of every Kafka message.
 *
 * ce_parse() turns the raw bytes of a message into a ce_event_t holding the parsed document
 * and borrowed views of its required attributes. It checks only the envelope; what `data` must
 * hold for each `type` is the business of validate.h. Rejections carry a stable DLQ code
 * (CONTRACT.md, "Output: recobro.dlq") and a detail text that never quotes the message. */
#ifndef RECOBRO_CLOUDEVENT_H
#define RECOBRO_CLOUDEVENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "result.h"

/* Largest message accepted; longer ones are rejected as "too_large". */
#define CE_MAX_BYTES (1024 * 1024)

typedef struct ce_event {
    json_t *root;        /* new reference: the whole document, freed by ce_event_clear() */
    const char *id;      /* borrowed from root */
    const char *source;  /* borrowed from root */
    const char *type;    /* borrowed from root */
    const char *subject; /* borrowed from root; NULL when absent */
    const char *time;    /* borrowed from root; NULL when absent */
    json_t *data;        /* borrowed from root; always a JSON object */
} ce_event_t;

#define CE_EVENT_INIT                                                                              \
    {                                                                                              \
        NULL, NULL, NULL, NULL, NULL, NULL, NULL                                                   \
    }

/* Parses `len` bytes at `buf` (need not be NUL-terminated). On success fills *ev (clear it with
 * ce_event_clear()) and returns 0. On rejection returns -1 with *err filled and *ev empty. */
__attribute__((warn_unused_result)) int ce_parse(const char *buf, size_t len, ce_event_t *ev,
                                                 reason_t *err);

/* Releases what ce_parse() filled and resets *ev to CE_EVENT_INIT. NULL is a no-op. */
void ce_event_clear(ce_event_t *ev);

/* Builds a new envelope {specversion, id, source, type, time, subject, datacontenttype, data}
 * around `data`, which it steals. Returns a new reference, or NULL when out of memory. `subject`
 * and `time` may be NULL (then omitted). */
json_t *ce_build_new(const char *id, const char *source, const char *type, const char *time,
                     const char *subject, json_t *data);

/* The envelope of one of recobro's own outputs about the case (creditor_id, debtor_id): time
 * `at` (Unix seconds) in UTC, subject "<creditor_id>/<debtor_id>", `source` the acting service
 * ("recobro/payments"). Borrows `data` (the envelope holds a new reference to it). Returns a new
 * reference, or NULL when out of memory. */
json_t *ce_case_output_new(const char *id, const char *source, const char *type, int64_t at,
                           const char *creditor_id, const char *debtor_id, json_t *data);

/* The compact text of ce_case_output_new()'s envelope, byte for byte its json_dumps(JSON_COMPACT),
 * written without building the envelope; its length in *len (may be NULL). Borrows `data`.
 * Returns a new string (free() it), or NULL when out of memory or when the tree would drop a
 * member (a NULL or non-UTF-8 value): then build the tree. */
__attribute__((warn_unused_result)) char *ce_case_output_text(const char *id, const char *source,
                                                              const char *type, int64_t at,
                                                              const char *creditor_id,
                                                              const char *debtor_id,
                                                              const json_t *data, size_t *len);

#endif
