/* contact.h - contact compliance: windows in the debtor's time zone, call caps, opt-outs, pauses.
 *
 * Pure arithmetic over values (DOMAIN.md, "Contact rules"): no clock reads, no I/O of its own,
 * no setenv("TZ"). Time is an argument: an instant is an int64_t count of Unix seconds (UTC);
 * local times are computed in the debtor's IANA zone with GLib's GTimeZone (zones are looked up
 * once by name and kept in a small thread-safe cache; GLib reads the system's tzdata).
 *
 * The policy's "contact" section (all keys optional; an absent key keeps its default; unknown
 * keys are rejected):
 *
 *   "contact": {
 *     "window": {"start": "08:00", "end": "21:00"},       every day, debtor's local time
 *     "weekdays": {"sat": {"start": "09:00", "end": "14:00"},   per-weekday override, or
 *                  "sun": null},                             null = no contact that weekday
 *     "no_contact_dates": ["2026-12-25"],                    every debtor (YYYY-MM-DD, local)
 *     "no_contact_dates_by_country": {"ES": ["2026-10-12"]}, debtors of that country only
 *     "call_cap": {"max_calls": 7, "days": 7},               phone attempts per rolling period
 *     "quiet_days_after_rpc": 7,                             no call after a right-party call
 *     "defer_horizon_days": 30,                              look no further than this ahead
 *     "cease_exempt_actions": ["validation_notice", "invoice_copy", "final_notice"],
 *     "dispute_exempt_actions": ["validation_notice", "invoice_copy", "supervisor_review"],
 *     "forbearance_exempt_actions": ["validation_notice", "invoice_copy", "supervisor_review"]
 *   }
 *
 * A window may also be written as a pair ["09:00", "14:00"]. Times are "HH:MM", 24-hour; "24:00"
 * is allowed as an end (the next local midnight); the end must be after the start (a window
 * never crosses midnight). Weekday keys are mon, tue, wed, thu, fri, sat, sun. Country codes are
 * ISO 3166-1 alpha-2 in capitals. Action and channel names are vocab.h's (CONTRACT.md's). Limits:
 * max_calls 1..1000, days 1..366, quiet_days_after_rpc 0..366 (0 = no quiet period),
 * defer_horizon_days 1..366, at most CONTACT_MAX_DATES dates in all.
 *
 * Which channel obeys what (the choice made here, after Regulation F, 12 CFR 1006):
 *   - phone, sms, email, visit reach the person at a moment: they get the hourly window of an
 *     allowed day (sms and email count as made when sent, as Reg F reads them).
 *   - letter is received whenever the post delivers it: it gets a whole allowed local day
 *     [00:00, next 00:00) instead of the hourly window; no-contact dates and null weekdays still
 *     apply (nothing is dispatched on a holiday).
 *   - internal (supervisor_review, legal_review, restrict_service) is not a communication: no
 *     window, cap, opt-out or cease applies; it gets the rest of the local day [now, next 00:00).
 *     An open dispute and a forbearance are pauses of collection, not contact rules, and they
 *     pause internal actions too unless the action is in the exempt list (supervisor_review is,
 *     by default; legal_review and restrict_service are not).
 *   - only phone counts against the call cap and the quiet period after a right-party call.
 *
 * Local times that do not exist or that repeat (DST): the window of a day is the set of instants
 * whose local clock, on that date, reads a time in [start, end), and the interval returned is
 * the strict one, in which the local clock never reads a time outside the window:
 *   - a time in a spring-forward gap (02:30 when 02:00 jumps to 03:00) maps to the first valid
 *     instant after it (the transition, when the clock reads 03:00), for starts and ends alike;
 *   - a time that repeats on a fall-back day maps to its later occurrence for a start and to
 *     its earlier occurrence for an end.
 * The usual 08:00-21:00 window is untouched by both; a 23 h or 25 h day just has a shorter or
 * longer night. A local date that does not exist at all (a zone that skipped a day across the
 * date line) has an empty window and is skipped.
 *
 * The call cap and the quiet period are rolling, in absolute time: a call attempt at t counts
 * until t + days * 86400 s, and no call is placed before last_rpc_at + quiet_days * 86400 s.
 * That is never earlier than Reg F's "seven consecutive days" counted in calendar days, so it is
 * compliant there too, and it needs no time zone. */
#ifndef RECOBRO_CONTACT_H
#define RECOBRO_CONTACT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vocab.h"

/* Most no-contact dates a policy may list (all countries together). */
#define CONTACT_MAX_DATES 512

/* Longest text contact_format_instant() writes, with its terminating NUL. */
#define CONTACT_INSTANT_MAX 40

/* A buffer of this size always holds a contact_rules_from_json() error text whole. */
#define CONTACT_ERR_MAX 256

/* The hourly window of one weekday, in minutes after local midnight. */
typedef struct contact_window {
    bool open;         /* false: no contact at all on that weekday */
    int16_t start_min; /* 0..1439 */
    int16_t end_min;   /* start_min+1..1440 (1440 = the next local midnight) */
} contact_window_t;

/* One no-contact date: a local calendar day as yyyymmdd (20261225). */
typedef struct contact_date {
    int32_t ymd;
    char country[3]; /* "" = every debtor, else ISO 3166-1 alpha-2 ("ES") */
} contact_date_t;

/* The policy's contact rules. A plain value: no pointers, copy it freely, nothing to free.
 * Fill it with contact_rules_default() or contact_rules_from_json(). */
typedef struct contact_rules {
    contact_window_t weekday[7]; /* [0] = Monday .. [6] = Sunday, overrides applied */
    contact_date_t no_contact[CONTACT_MAX_DATES];
    size_t n_no_contact;
    int call_cap_max;  /* call attempts allowed per rolling period */
    int call_cap_days; /* the rolling period, in days of 86400 s */
    int quiet_days_after_rpc;
    int defer_horizon_days;
    /* Sets of actions, bit contact_action_bit(action): */
    uint32_t cease_exempt;       /* still allowed under cease_communication */
    uint32_t dispute_exempt;     /* still allowed while a dispute is open */
    uint32_t forbearance_exempt; /* still allowed during a forbearance */
} contact_rules_t;

/* What is known about the debtor when deciding. All fields are values or borrowed pointers. */
typedef struct contact_state {
    const int64_t *call_attempts; /* borrowed; phone call attempt instants, in any order (older
                                     ones than the cap period are ignored); NULL if n is 0 */
    size_t n_call_attempts;
    int64_t last_rpc_at; /* last right-party phone conversation; 0 = none */
    bool do_not_call;
    bool do_not_sms;
    bool do_not_email;
    bool cease_communication;
    bool dispute_open;
    int64_t forbearance_from;  /* forbearance pause [from, until); both 0 = none (see */
    int64_t forbearance_until; /* contact_forbearance_interval() for CONTRACT's dates) */
    const char *country;       /* borrowed; ISO 3166-1 alpha-2 or NULL (global dates only) */
} contact_state_t;

#define CONTACT_STATE_INIT                                                                         \
    {                                                                                              \
        NULL, 0, 0, false, false, false, false, false, 0, 0, NULL                                  \
    }

typedef enum {
    CONTACT_ALLOW = 0, /* act now: [not_before = now, not_after) */
    CONTACT_DEFER,     /* act later: [not_before, not_after), not_before > now */
    CONTACT_SUPPRESS,  /* never: not_before and not_after are 0 */
} contact_verdict_t;

typedef struct contact_decision {
    contact_verdict_t verdict;
    const char *reason; /* static string, never NULL; "allowed" for CONTACT_ALLOW, else one
                           of the CONTACT_REASON_* codes below */
    int64_t not_before;
    int64_t not_after;
} contact_decision_t;

/* Stable reason codes, for recobro_tasks_deferred_total{reason} and
 * recobro_tasks_suppressed_total{reason}. */
#define CONTACT_REASON_ALLOWED "allowed"
/* deferred: */
#define CONTACT_REASON_OUTSIDE_WINDOW  "outside_window"  /* before/after today's hours */
#define CONTACT_REASON_NO_CONTACT_DAY  "no_contact_day"  /* holiday or a null weekday */
#define CONTACT_REASON_CALL_CAP        "call_cap"        /* max_calls in the period */
#define CONTACT_REASON_QUIET_AFTER_RPC "quiet_after_rpc" /* right-party call recently */
#define CONTACT_REASON_FORBEARANCE     "forbearance"     /* inside a forbearance */
/* suppressed: */
#define CONTACT_REASON_OPT_OUT_CALL      "opt_out_call"
#define CONTACT_REASON_OPT_OUT_SMS       "opt_out_sms"
#define CONTACT_REASON_OPT_OUT_EMAIL     "opt_out_email"
#define CONTACT_REASON_CEASE             "cease_communication"
#define CONTACT_REASON_DISPUTE           "dispute_open"
#define CONTACT_REASON_NO_ALLOWED_MOMENT "no_allowed_moment" /* beyond defer_horizon_days */

/* --- Rules ------------------------------------------------------------------------------- */

/* Fills *out with the defaults shown above (08:00-21:00 every day, no dates, 7 calls in 7
 * days, 7 quiet days, a 30-day horizon, the exempt lists shown). */
void contact_rules_default(contact_rules_t *out);

/* Parses the policy's "contact" section `obj` (borrowed; NULL means absent: all defaults) into
 * *out, starting from the defaults. Returns 0, or -1 with a one-line text in err (may be NULL,
 * truncated to errlen) that names the path, e.g.
 *   contact.window.start: "25:00" is not a time HH:MM
 * *out is untouched on error. */
__attribute__((warn_unused_result)) int
contact_rules_from_json(const json_t *obj, contact_rules_t *out, char *err, size_t errlen);

/* The bit of task action `action` in the exempt sets of contact_rules_t (1u << action), or 0
 * for a value out of range. Channels and actions are vocab.h's. */
uint32_t contact_action_bit(vocab_action_t action);

/* "allow", "defer" or "suppress". */
const char *contact_verdict_name(contact_verdict_t v);

/* --- Decisions --------------------------------------------------------------------------- */

/* Decides whether task `action` (a CONTRACT.md action; NULL or unknown = a collection action
 * exempt from nothing) may go out on `channel` at `now` for a debtor in IANA `zone`, and fills
 * *out. Checks, first match wins:
 *   1. SUPPRESS opt_out_call / opt_out_sms / opt_out_email for an opted-out channel;
 *   2. SUPPRESS cease_communication unless the action is in cease_exempt_actions;
 *   3. SUPPRESS dispute_open unless the action is in dispute_exempt_actions;
 *   4. the first moment >= now inside an allowed window, out of a forbearance (unless exempt),
 *      for phone also past the quiet period and under the call cap: ALLOW if it is now, else
 *      DEFER with the reason that first pushed it from now (forbearance, quiet_after_rpc,
 *      call_cap, no_contact_day, outside_window, checked in that order); the interval also
 *      ends before a forbearance or quiet period that starts inside it;
 *   5. SUPPRESS no_allowed_moment when that moment is after now + defer_horizon_days.
 * Items 1 and 2 and the window's hours do not apply to internal (see the top of this file).
 * Returns 0, or -1 (out->verdict SUPPRESS, reason "no_allowed_moment") when an argument is NULL
 * or `zone` is not a known IANA zone. */
__attribute__((warn_unused_result)) int
contact_decide(const contact_rules_t *rules, const contact_state_t *state, const char *action,
               vocab_channel_t channel, int64_t now, const char *zone, contact_decision_t *out);

/* The next allowed interval on `channel` for an ordinary collection action (contact_decide()
 * with action NULL): what the cache's next_action and a notifier's planning need. Same returns
 * as contact_decide(). */
__attribute__((warn_unused_result)) int contact_next_allowed(const contact_rules_t *rules,
                                                             const contact_state_t *state,
                                                             vocab_channel_t channel, int64_t now,
                                                             const char *zone,
                                                             contact_decision_t *out);

/* Call attempts left under the cap at `now` (the cache's calls_left_7d): call_cap_max minus
 * the attempts in (now - days * 86400, now], never below 0. Attempts after `now` count too.
 * Only the cap: opt-outs, quiet days and pauses are contact_decide()'s business. */
int contact_calls_left(const contact_rules_t *rules, const contact_state_t *state, int64_t now);

/* --- Time zones and instants ------------------------------------------------------------- */

/* True when `zone` is a known IANA zone name ("Europe/Madrid", "UTC"). NULL, "", offsets
 * ("+01:00") and POSIX TZ strings are not zone names. */
bool contact_zone_known(const char *zone);

/* Writes `t` as RFC 3339 with the zone's local offset at that instant
 * ("2026-11-23T08:00:00+01:00"; "Z" is never used, UTC is "+00:00") into buf (at least
 * CONTACT_INSTANT_MAX bytes to be safe). Returns the length, or -1 (buf "" when n > 0) when the
 * zone is unknown or buf is too small. */
int contact_format_instant(int64_t t, const char *zone, char *buf, size_t n);

/* The first instant of local date `date` ("YYYY-MM-DD") in `zone` (its midnight, or the end of
 * a DST gap that swallows midnight) into *out. Returns 0, or -1 on a bad date or zone. */
__attribute__((warn_unused_result)) int contact_local_day_start(const char *zone, const char *date,
                                                                int64_t *out);

/* Turns a forbearance.granted's dates (CONTRACT.md: `from`, `until`, both "YYYY-MM-DD") into
 * the state's [from, until) instants: from the start of local day `from` to the start of the
 * day after `until` (the until day is paused too: "until 30 November" includes the 30th).
 * Returns 0, or -1 on a bad date or zone, or when until is before from. */
__attribute__((warn_unused_result)) int contact_forbearance_interval(const char *zone,
                                                                     const char *from_date,
                                                                     const char *until_date,
                                                                     int64_t *from, int64_t *until);

#endif
