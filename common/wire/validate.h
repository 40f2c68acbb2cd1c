/* validate.h - checks the `data` of every input event type of CONTRACT.md, and the small
 * checkers (dates, instants, time zones, identifiers) that handlers reuse.
 *
 * ce_parse() (cloudevent.h) checks the envelope; validate_event() checks what `data` must hold
 * for the event's `type`: required and optional fields, JSON types, enums, lengths, money as
 * strings in a known currency with at most its minor digits, real calendar dates, RFC 3339
 * instants with an offset, real IANA time zones. Unknown extra fields are ignored (forward
 * compatibility); an optional field is either omitted or of its type (JSON null is not
 * "absent", it is a wrong type). The first problem found is reported, fields in the order of
 * CONTRACT.md's table. A rejection carries a stable DLQ code (below) and a detail naming the
 * JSON path ("data.invoice.amount: more decimals than EUR allows"); a detail never quotes the
 * value of a field, so it never holds personal data.
 *
 * DLQ codes produced here (the full list, with those of cloudevent.c, is in proto/README.md):
 *   schema_violation  a required field is missing, a field has the wrong JSON type, a string is
 *                     empty/too long/not in its enum or pattern, an array is empty where it may
 *                     not be, or a rule across fields is broken (forbearance `until` < `from`,
 *                     contact.attempted `callback_at` with an outcome other than
 *                     callback_requested)
 *   unknown_type      the envelope's `type` is not an input type of CONTRACT.md
 *   invalid_amount    a money field is a JSON number, is not a plain decimal string, has more
 *                     decimals than its currency, is negative, is zero where it must be
 *                     positive, or does not fit in 64-bit minor units
 *   invalid_currency  a `currency` string that is not a known ISO 4217 code (money.h)
 *   invalid_date      a date that is not YYYY-MM-DD or does not exist (2026-02-30), or an
 *                     instant that is not RFC 3339 with an offset (including the envelope's
 *                     optional `time`), or a contact.attempted `callback_at` before its `at`
 *                     or more than VALIDATE_CALLBACK_MAX_DAYS days after it
 *   invalid_timezone  a time zone that is not an IANA name known to the system's tz database
 *
 * Every function here is pure (no I/O but GLib's read of the tz database), thread-safe, and
 * keeps no reference to its arguments. */
#ifndef RECOBRO_VALIDATE_H
#define RECOBRO_VALIDATE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "cloudevent.h"

/* Furthest a callback may be asked for after the contact that asks for it, in days. */
#define VALIDATE_CALLBACK_MAX_DAYS 90

/* Longest `creditor_id` / `debtor_id`, in characters (CONTRACT.md: 1-64). */
#define VALIDATE_CASE_ID_MAX 64

/* ---- Events ---------------------------------------------------------------------------- */

/* True when `type` is one of the twelve input event types of CONTRACT.md. NULL gives false. */
bool validate_is_input_type(const char *type);

/* Checks ev->data (and the envelope's optional `time` and `datacontenttype`) against the rules
 * of ev->type. Returns 0 when the event may be applied, or -1 with *err filled (code and
 * detail as above). `ev` must come from a successful ce_parse(); nothing is kept or freed. */
__attribute__((warn_unused_result)) int validate_event(const ce_event_t *ev, reason_t *err);

/* The case an input event is about, borrowed from ev->data: `creditor_id`, and `debtor_id`
 * (for invoice.overdue, `debtor.id` when `debtor_id` is absent). Call it after
 * validate_event() succeeded. Returns 0, or -1 (out-parameters untouched) when they are
 * missing. The strings live as long as ev. */
__attribute__((warn_unused_result)) int
validate_case_ids(const ce_event_t *ev, const char **creditor_id, const char **debtor_id);

/* ---- Reusable checkers ----------------------------------------------------------------- */

/* Dates and instants: calendar.h (cal_parse_date(), cal_parse_instant()). */

/* True when `name` is an IANA time zone name ("Europe/Madrid", "America/Argentina/Salta",
 * "UTC", "Etc/GMT+5") that the system's tz database (through GLib's GTimeZone) knows.
 * Offsets ("+01:00"), POSIX TZ rules ("CET-1CEST", "ABC3"), paths, "localtime", "posixrules",
 * "Factory" and the "posix/" and "right/" trees are not IANA names and give false. */
bool validate_timezone(const char *name);

/* True when `s` is a valid `creditor_id`: 1-64 characters of [A-Za-z0-9._-]. Creditors are
 * configured by the agency, and keeping '/' and ':' out of them keeps the Kafka key
 * "<creditor_id>/<debtor_id>" and the Redis key "recobro:case:<c>:<d>" unambiguous. */
bool validate_creditor_id(const char *s);

/* True when `s` is a valid `debtor_id` (or any other identifier of at most `max_chars`
 * characters): non-empty, at most `max_chars` Unicode characters, no control characters. */
bool validate_identifier(const char *s, size_t max_chars);

#endif
