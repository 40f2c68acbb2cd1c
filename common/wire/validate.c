/* validate.c - the rules for the `data` of every input event, as one declarative table per
 * type, and the checkers for dates, instants, time zones and identifiers they use. */
#include "validate.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "calendar.h"
#include "money.h"

/* ==== Reusable checkers ================================================================== */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The top-level names of the tz database (zones and backward links) that have no area. */
static const char *const tz_single_names[] = {
    "CET",       "CST6CDT",  "Cuba",    "EET",    "EST",       "EST5EDT", "Egypt",     "Eire",
    "GB",        "GB-Eire",  "GMT",     "GMT+0",  "GMT-0",     "GMT0",    "Greenwich", "HST",
    "Hongkong",  "Iceland",  "Iran",    "Israel", "Jamaica",   "Japan",   "Kwajalein", "Libya",
    "MET",       "MST",      "MST7MDT", "NZ",     "NZ-CHAT",   "Navajo",  "PRC",       "PST8PDT",
    "Poland",    "Portugal", "ROC",     "ROK",    "Singapore", "Turkey",  "UCT",       "UTC",
    "Universal", "W-SU",     "WET",     "Zulu",   NULL};

/* The areas of the tz database, current and backward ("US/Eastern", "Brazil/East"). */
static const char *const tz_areas[] = {"Africa",   "America",   "Antarctica", "Arctic", "Asia",
                                       "Atlantic", "Australia", "Brazil",     "Canada", "Chile",
                                       "Etc",      "Europe",    "Indian",     "Mexico", "Pacific",
                                       "US",       NULL};

static bool in_list(const char *const *list, const char *s, size_t len)
{
    for (size_t i = 0; list[i] != NULL; i++)
        if (strlen(list[i]) == len && strncmp(list[i], s, len) == 0)
            return true;
    return false;
}

/* The shape of an IANA name: a known area and one or two more components, or a known
 * single name. Each component starts with a letter and holds [A-Za-z0-9_+-], so that
 * offsets, POSIX rules, paths and "." / ".." never reach GLib. */
static bool tz_name_shape(const char *name)
{
    const char *slash = strchr(name, '/');
    const char *p = name;
    int components = 0;

    if (slash == NULL)
        return in_list(tz_single_names, name, strlen(name));
    if (!in_list(tz_areas, name, (size_t)(slash - name)))
        return false;
    while (*p != '\0') {
        const char *start = p;

        if (!g_ascii_isalpha(*p))
            return false;
        while (*p != '\0' && *p != '/') {
            if (!g_ascii_isalnum(*p) && *p != '_' && *p != '+' && *p != '-')
                return false;
            p++;
        }
        if (p - start > 32)
            return false;
        components++;
        if (*p == '/')
            p++;
        if (*p == '\0' && p[-1] == '/')
            return false;
    }
    return components >= 2 && components <= 3;
}

bool validate_timezone(const char *name)
{
    GTimeZone *tz;

    if (name == NULL || strlen(name) > 64 || !tz_name_shape(name))
        return false;
    tz = cal_zone_get(name); /* NULL for a name the tz database does not know */
    if (tz == NULL)
        return false;
    g_time_zone_unref(tz);
    return true;
}

/* Counts the Unicode characters of valid UTF-8 text (jansson only hands out valid UTF-8). */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

/* True when s holds a C0 control character or DEL. */
static bool has_control(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7F)
            return true;
    return false;
}

bool validate_identifier(const char *s, size_t max_chars)
{
    size_t n;

    if (s == NULL || *s == '\0' || has_control(s))
        return false;
    n = utf8_chars(s);
    return n >= 1 && n <= max_chars;
}

bool validate_creditor_id(const char *s)
{
    size_t n = 0;

    if (s == NULL)
        return false;
    for (; s[n] != '\0'; n++)
        if (!g_ascii_isalnum(s[n]) && s[n] != '.' && s[n] != '_' && s[n] != '-')
            return false;
    return n >= 1 && n <= VALIDATE_CASE_ID_MAX;
}

/* ==== The rules of each input type ======================================================= */

/* What a field holds. Limits are in characters (as JSON Schema's maxLength counts). */
typedef enum {
    K_CREDITOR_ID, /* validate_creditor_id() */
    K_CASE_ID,     /* debtor ids: identifier of 1-64 characters */
    K_ID,          /* other ids (invoice, payment, promise, plan, task, agent): 1-128 */
    K_NAME,        /* a person's or company's name: 1-256 characters, no control characters */
    K_TEXT,        /* free text (reasons): 1-1000 characters, never quoted in details */
    K_CODE,        /* a machine code (techniques, objections, method): ^[a-z][a-z0-9_]{0,63}$ */
    K_CURRENCY,    /* an ISO 4217 code known to money.h; sets the currency of later money */
    K_MONEY,       /* a decimal string of the current currency, >= 0 */
    K_MONEY_POS,   /* the same, > 0 */
    K_DATE,        /* cal_parse_date() */
    K_INSTANT,     /* cal_parse_instant() */
    K_TIMEZONE,    /* validate_timezone() */
    K_BOOL,        /* a JSON boolean */
    K_ENUM,        /* one of .values */
    K_COUNTRY,     /* ISO 3166-1 alpha-2 shape: two upper-case letters */
    K_LOCALE,      /* BCP 47 shape: "es", "es-ES", "ca-ES-valencia" */
    K_PHONE,       /* E.164: "+" then 7-15 digits, the first not 0 */
    K_EMAIL,       /* one "@", no white space, a dot in the domain, at most 254 characters */
    K_OBJECT,      /* a JSON object checked against .fields */
    K_ARRAY,       /* a JSON array of .min_items-.max_items items, each checked as *.item */
} kind_t;

typedef struct field {
    const char *name; /* NULL ends a list of fields */
    kind_t kind;
    bool required;
    const char *const *values;  /* K_ENUM: NULL-terminated */
    const struct field *fields; /* K_OBJECT: the object's fields */
    const struct field *item;   /* K_ARRAY: how each item is checked (its name is unused) */
    size_t min_items, max_items;
} field_t;

/* clang-format off */
#define REQ(n, k)        {.name = (n), .kind = (k), .required = true}
#define OPT(n, k)        {.name = (n), .kind = (k), .required = false}
#define REQ_ENUM(n, v)   {.name = (n), .kind = K_ENUM, .required = true, .values = (v)}
#define OPT_ENUM(n, v)   {.name = (n), .kind = K_ENUM, .required = false, .values = (v)}
#define REQ_OBJECT(n, f) {.name = (n), .kind = K_OBJECT, .required = true, .fields = (f)}
#define ARRAY(n, r, it, lo, hi) \
    {.name = (n), .kind = K_ARRAY, .required = (r), .item = (it), .min_items = (lo), .max_items = (hi)}
#define END              {.name = NULL}
/* clang-format on */

static const char *const channels[] = {"phone", "sms", "email", "letter", "visit", NULL};
static const char *const outcomes[] = {"no_answer",   "voicemail",       "wrong_party",
                                       "right_party", "refused",         "callback_requested",
                                       "delivered",   "delivery_failed", NULL};
static const char *const stages[] = {"recognized", "accepted", "amount_agreed", "date_agreed",
                                     NULL};
static const char *const dispute_outcomes[] = {"upheld", "rejected", NULL};

static const field_t code_item = REQ("", K_CODE);
static const field_t id_item = REQ("", K_ID);

/* clang-format off */
static const field_t debtor_fields[] = {
    REQ("id", K_CASE_ID),
    REQ("name", K_NAME),
    REQ("timezone", K_TIMEZONE),
    OPT("country", K_COUNTRY),
    OPT("locale", K_LOCALE),
    OPT("phone", K_PHONE),
    OPT("email", K_EMAIL),
    END,
};

static const field_t invoice_fields[] = {
    REQ("id", K_ID),
    REQ("currency", K_CURRENCY), /* before the amounts, which are read in it */
    REQ("amount", K_MONEY),
    REQ("open_amount", K_MONEY),
    REQ("due_on", K_DATE),
    OPT("number", K_ID),
    OPT("issued_on", K_DATE),
    OPT("fees_agreed", K_BOOL), /* money: the contract allows the policy's fixed fee */
    END,
};
/* clang-format on */

static const field_t invoice_overdue[] = {
    REQ("creditor_id", K_CREDITOR_ID),
    OPT("debtor_id", K_CASE_ID), /* optional here: debtor.id names the debtor */
    REQ("creditor_name", K_NAME),
    REQ_OBJECT("debtor", debtor_fields),
    REQ_OBJECT("invoice", invoice_fields),
    END,
};

#define CASE_FIELDS REQ("creditor_id", K_CREDITOR_ID), REQ("debtor_id", K_CASE_ID)

static const field_t invoice_adjusted[] = {
    CASE_FIELDS,
    REQ("invoice_id", K_ID),
    REQ("currency", K_CURRENCY),
    REQ("open_amount", K_MONEY),
    OPT("reason", K_TEXT),
    END,
};

static const field_t invoice_cancelled[] = {
    CASE_FIELDS,
    REQ("invoice_id", K_ID),
    OPT("reason", K_TEXT),
    END,
};

static const field_t payment_received[] = {
    CASE_FIELDS,
    REQ("payment_id", K_ID),
    REQ("currency", K_CURRENCY),
    REQ("amount", K_MONEY_POS),
    REQ("received_at", K_INSTANT),
    OPT("method", K_CODE),
    ARRAY("invoice_ids", false, &id_item, 1, 100),
    END,
};

static const field_t payment_reversed[] = {
    CASE_FIELDS,
    REQ("payment_id", K_ID),
    OPT("reason", K_TEXT),
    END,
};

static const field_t contact_attempted[] = {
    CASE_FIELDS,
    REQ_ENUM("channel", channels),
    REQ("at", K_INSTANT),
    REQ_ENUM("outcome", outcomes),
    OPT("agent_id", K_ID),
    OPT_ENUM("stage", stages),
    ARRAY("techniques", false, &code_item, 0, 32),
    ARRAY("objections", false, &code_item, 0, 32),
    OPT("task_id", K_ID),
    OPT("callback_at", K_INSTANT), /* version 2: when the debtor asked to be called back */
    END,
};

static const field_t promise_made[] = {
    CASE_FIELDS,
    REQ("promise_id", K_ID),
    REQ("currency", K_CURRENCY),
    REQ("amount", K_MONEY_POS),
    REQ("due_on", K_DATE),
    OPT("agent_id", K_ID),
    OPT_ENUM("channel", channels),
    ARRAY("techniques", false, &code_item, 0, 32),
    OPT("approved_by", K_ID),
    END,
};

static const field_t installment_fields[] = {
    REQ("due_on", K_DATE),
    REQ("amount", K_MONEY_POS),
    END,
};
static const field_t installment_item = REQ_OBJECT("", installment_fields);

static const field_t plan_agreed[] = {
    CASE_FIELDS,
    REQ("plan_id", K_ID),
    REQ("currency", K_CURRENCY),
    ARRAY("installments", true, &installment_item, 1, 360),
    OPT("agent_id", K_ID),
    OPT("down_payment", K_MONEY),
    OPT("approved_by", K_ID),
    OPT("settlement_amount", K_MONEY_POS), /* money: a discounted settlement (settlement.h) */
    END,
};

static const field_t debt_disputed[] = {
    CASE_FIELDS, REQ("at", K_INSTANT), REQ("reason", K_TEXT), OPT("invoice_id", K_ID), END,
};

static const field_t dispute_resolved[] = {
    CASE_FIELDS,
    REQ("at", K_INSTANT),
    REQ_ENUM("outcome", dispute_outcomes),
    OPT("invoice_id", K_ID),
    END,
};

static const field_t contact_preferences[] = {
    CASE_FIELDS,
    OPT("do_not_call", K_BOOL),
    OPT("do_not_sms", K_BOOL),
    OPT("do_not_email", K_BOOL),
    OPT("cease_communication", K_BOOL),
    OPT("timezone", K_TIMEZONE),
    END,
};

static const field_t forbearance_granted[] = {
    CASE_FIELDS,           REQ("from", K_DATE),   REQ("until", K_DATE),
    REQ("reason", K_TEXT), OPT("agent_id", K_ID), END,
};

static const field_t forbearance_ended[] = {
    CASE_FIELDS, REQ("on", K_DATE), OPT("reason", K_TEXT), OPT("agent_id", K_ID), END,
};

/* ==== Rules across fields ================================================================ */

/* invoice.overdue: a `debtor_id`, when given, must name the same debtor as `debtor.id`. */
static int check_invoice_overdue(json_t *data, reason_t *err)
{
    json_t *debtor_id = json_object_get(data, "debtor_id");
    json_t *id = json_object_get(json_object_get(data, "debtor"), "id");

    if (debtor_id != NULL && !json_equal(debtor_id, id))
        return reason_set(err, "schema_violation", "data.debtor_id: differs from data.debtor.id");
    return 0;
}

/* contact.preferences: an event that changes nothing is a producer's bug, not a no-op. */
static int check_contact_preferences(json_t *data, reason_t *err)
{
    static const char *const names[] = {"do_not_call",         "do_not_sms", "do_not_email",
                                        "cease_communication", "timezone",   NULL};

    for (size_t i = 0; names[i] != NULL; i++)
        if (json_object_get(data, names[i]) != NULL)
            return 0;
    return reason_set(err, "schema_violation",
                      "data: needs at least one of do_not_call, do_not_sms, do_not_email, "
                      "cease_communication, timezone");
}

/* forbearance.granted: the pause may start in the past but may not end before it starts. */
static int check_forbearance_granted(json_t *data, reason_t *err)
{
    /* Both are valid YYYY-MM-DD here, so text order is date order. */
    if (strcmp(json_string_value(json_object_get(data, "until")),
               json_string_value(json_object_get(data, "from"))) < 0)
        return reason_set(err, "schema_violation", "data.until: before data.from");
    return 0;
}

typedef struct event_rules {
    const char *type;
    const field_t *fields;
    int (*check)(json_t *data, reason_t *err); /* after the fields; NULL when none */
} event_rules_t;

static const event_rules_t rules[] = {
    {"invoice.overdue", invoice_overdue, check_invoice_overdue},
    {"invoice.adjusted", invoice_adjusted, NULL},
    {"invoice.cancelled", invoice_cancelled, NULL},
    {"payment.received", payment_received, NULL},
    {"payment.reversed", payment_reversed, NULL},
    {"contact.attempted", contact_attempted, NULL},
    {"promise.made", promise_made, NULL},
    {"plan.agreed", plan_agreed, NULL},
    {"debt.disputed", debt_disputed, NULL},
    {"dispute.resolved", dispute_resolved, NULL},
    {"contact.preferences", contact_preferences, check_contact_preferences},
    {"forbearance.granted", forbearance_granted, check_forbearance_granted},
    {"forbearance.ended", forbearance_ended, NULL},
};

#define RULES_COUNT (sizeof(rules) / sizeof(rules[0]))

static const event_rules_t *rules_for(const char *type)
{
    if (type == NULL)
        return NULL;
    for (size_t i = 0; i < RULES_COUNT; i++)
        if (strcmp(rules[i].type, type) == 0)
            return &rules[i];
    return NULL;
}

bool validate_is_input_type(const char *type)
{
    return rules_for(type) != NULL;
}

/* ==== The walk =========================================================================== */

/* State of one validation: where we are (for details) and the currency money is in. */
typedef struct walk {
    char path[256];       /* "data.invoice.amount", "data.installments[2].amount" */
    const char *currency; /* borrowed; set by the last K_CURRENCY seen, NULL before */
    reason_t *err;
} walk_t;

static int check_field(walk_t *w, const field_t *f, json_t *v);

static bool matches_code(const char *s)
{
    size_t n = 0;

    if (!(s[0] >= 'a' && s[0] <= 'z'))
        return false;
    for (; s[n] != '\0'; n++)
        if (!(s[n] >= 'a' && s[n] <= 'z') && !is_digit(s[n]) && s[n] != '_')
            return false;
    return n <= 64;
}

static bool matches_locale(const char *s)
{
    size_t n = 0, len = strlen(s);

    /* language: 2-3 lower-case letters */
    while (s[n] >= 'a' && s[n] <= 'z')
        n++;
    if (n < 2 || n > 3 || len > 35)
        return false;
    /* subtags: "-" then 2-8 letters or digits */
    while (s[n] == '-') {
        size_t start = ++n;

        while (g_ascii_isalnum(s[n]))
            n++;
        if (n - start < 2 || n - start > 8)
            return false;
    }
    return s[n] == '\0';
}

static bool matches_phone(const char *s)
{
    size_t n = 1;

    if (s[0] != '+' || !(s[1] >= '1' && s[1] <= '9'))
        return false;
    while (is_digit(s[n]))
        n++;
    return s[n] == '\0' && n - 1 >= 7 && n - 1 <= 15;
}

static bool matches_email(const char *s)
{
    const char *at = strchr(s, '@');

    /* The local part's 64 and the whole's 254 are characters, as in the schema. */
    if (at == NULL || at == s || g_utf8_strlen(s, at - s) > 64 || strchr(at + 1, '@') != NULL ||
        utf8_chars(s) > 254)
        return false;
    for (const char *p = s; *p != '\0'; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7F)
            return false;
    /* The domain: a dot with something on both sides. */
    {
        const char *dot = strrchr(at + 1, '.');

        return dot != NULL && dot > at + 1 && dot[1] != '\0';
    }
}

/* Checks a money string against the walk's currency. */
static int check_money(walk_t *w, json_t *v, bool positive)
{
    int64_t minor;
    money_err_t rc;

    if (json_is_number(v))
        return reason_set(w->err, "invalid_amount",
                          "%s: money must be a JSON string such as \"120.00\", not a number",
                          w->path);
    if (!json_is_string(v))
        return reason_set(w->err, "schema_violation", "%s: must be a string", w->path);
    if (w->currency == NULL)
        return reason_set(w->err, "schema_violation", "%s: no currency to read it in", w->path);
    rc = money_parse(json_string_value(v), w->currency, 0, &minor);
    if (rc == MONEY_ERR_PRECISION)
        return reason_set(w->err, "invalid_amount", "%s: more decimals than %s allows", w->path,
                          w->currency);
    if (rc != MONEY_OK)
        return reason_set(w->err, money_err_code(rc), "%s: %s", w->path, money_strerror(rc));
    if (positive && minor == 0)
        return reason_set(w->err, "invalid_amount", "%s: must be greater than zero", w->path);
    return 0;
}

/* ---- String kinds, as a table -------------------------------------------------------------
 * Each predicate says whether s is a valid value of its kind (f: the field, for K_ENUM's
 * values); string_rules gives the reason code and the detail after "<path>: " when it is not. */
typedef bool string_pred(const field_t *f, const char *s);

static bool is_creditor_id(const field_t *f, const char *s)
{
    (void)f;
    return validate_creditor_id(s);
}

static bool is_case_id(const field_t *f, const char *s)
{
    (void)f;
    return validate_identifier(s, VALIDATE_CASE_ID_MAX);
}

static bool is_id(const field_t *f, const char *s)
{
    (void)f;
    return validate_identifier(s, 128);
}

static bool is_name(const field_t *f, const char *s)
{
    (void)f;
    return validate_identifier(s, 256);
}

static bool is_text(const field_t *f, const char *s)
{
    (void)f;
    return *s != '\0' && utf8_chars(s) <= 1000;
}

static bool is_code(const field_t *f, const char *s)
{
    (void)f;
    return matches_code(s);
}

static bool is_currency(const field_t *f, const char *s)
{
    (void)f;
    return money_currency_known(s);
}

static bool is_date(const field_t *f, const char *s)
{
    (void)f;
    return cal_parse_date(s, NULL, NULL, NULL) >= 0;
}

static bool is_instant(const field_t *f, const char *s)
{
    (void)f;
    return cal_parse_instant(s, NULL, NULL) >= 0;
}

static bool is_timezone(const field_t *f, const char *s)
{
    (void)f;
    return validate_timezone(s);
}

static bool is_enum_value(const field_t *f, const char *s)
{
    for (size_t i = 0; f->values[i] != NULL; i++)
        if (strcmp(f->values[i], s) == 0)
            return true;
    return false;
}

static bool is_country(const field_t *f, const char *s)
{
    (void)f;
    return strlen(s) == 2 && g_ascii_isupper(s[0]) && g_ascii_isupper(s[1]);
}

static bool is_locale(const field_t *f, const char *s)
{
    (void)f;
    return matches_locale(s);
}

static bool is_phone(const field_t *f, const char *s)
{
    (void)f;
    return matches_phone(s);
}

static bool is_email(const field_t *f, const char *s)
{
    (void)f;
    return matches_email(s);
}

static const struct {
    string_pred *ok; /* NULL: the kind is not a string */
    const char *code;
    const char *detail;
} string_rules[] = {
    [K_CREDITOR_ID] = {is_creditor_id, "schema_violation",
                       "must be 1-64 characters of A-Z a-z 0-9 . _ -"},
    [K_CASE_ID] = {is_case_id, "schema_violation",
                   "must be 1-64 characters without control characters"},
    [K_ID] = {is_id, "schema_violation", "must be 1-128 characters without control characters"},
    [K_NAME] = {is_name, "schema_violation", "must be 1-256 characters without control characters"},
    [K_TEXT] = {is_text, "schema_violation", "must be 1-1000 characters"},
    [K_CODE] = {is_code, "schema_violation",
                "must be a code of a-z 0-9 _ (at most 64, starting with a letter)"},
    [K_CURRENCY] = {is_currency, "invalid_currency", "not a known ISO 4217 currency code"},
    [K_DATE] = {is_date, "invalid_date", "not an existing date as YYYY-MM-DD"},
    [K_INSTANT] = {is_instant, "invalid_date",
                   "not an RFC 3339 instant with an offset (Z or +hh:mm)"},
    [K_TIMEZONE] = {is_timezone, "invalid_timezone", "not a known IANA time zone name"},
    [K_ENUM] = {is_enum_value, "schema_violation", "not one of the allowed values"},
    [K_COUNTRY] = {is_country, "schema_violation",
                   "must be an ISO 3166-1 alpha-2 code (two upper-case letters)"},
    [K_LOCALE] = {is_locale, "schema_violation", "must be a BCP 47 tag like es-ES"},
    [K_PHONE] = {is_phone, "schema_violation", "must be an E.164 number (+ and 7-15 digits)"},
    [K_EMAIL] = {is_email, "schema_violation", "must be an e-mail address"},
};

/* Checks the string kinds. v is known to be a JSON string without embedded NUL. A currency,
 * once valid, becomes the walk's currency (s is borrowed from the event). Returns 0, or -1
 * with w->err filled. */
static int check_string(walk_t *w, const field_t *f, const char *s)
{
    size_t k = (size_t)f->kind;

    if (k >= sizeof(string_rules) / sizeof(string_rules[0]) || string_rules[k].ok == NULL)
        return reason_set(w->err, "schema_violation", "%s: unexpected string", w->path);
    if (!string_rules[k].ok(f, s))
        return reason_set(w->err, string_rules[k].code, "%s: %s", w->path, string_rules[k].detail);
    if (f->kind == K_CURRENCY)
        w->currency = s;
    return 0;
}

/* Checks every field of `fields` in the object `obj`, whose path is w->path. */
static int check_object(walk_t *w, const field_t *fields, json_t *obj)
{
    size_t base = strlen(w->path);
    const char *saved_currency = w->currency;
    int rc = 0;

    for (const field_t *f = fields; f->name != NULL && rc == 0; f++) {
        json_t *v = json_object_get(obj, f->name);

        snprintf(w->path + base, sizeof(w->path) - base, ".%s", f->name);
        if (v == NULL) {
            if (f->required)
                rc = reason_set(w->err, "schema_violation", "%s: is required", w->path);
            continue;
        }
        rc = check_field(w, f, v);
    }
    w->path[base] = '\0';
    /* A currency read inside this object applies to it and what it holds, not to siblings. */
    w->currency = saved_currency;
    return rc;
}

static int check_array(walk_t *w, const field_t *f, json_t *arr)
{
    size_t base = strlen(w->path), n = json_array_size(arr);

    if (n < f->min_items)
        return reason_set(w->err, "schema_violation", "%s: needs at least %zu item%s", w->path,
                          f->min_items, f->min_items == 1 ? "" : "s");
    if (n > f->max_items)
        return reason_set(w->err, "schema_violation", "%s: has more than %zu items", w->path,
                          f->max_items);
    for (size_t i = 0; i < n; i++) {
        int rc;

        snprintf(w->path + base, sizeof(w->path) - base, "[%zu]", i);
        rc = check_field(w, f->item, json_array_get(arr, i));
        if (rc < 0)
            return rc;
    }
    w->path[base] = '\0';
    return 0;
}

/* Checks one value `v` against `f`; w->path names it. */
static int check_field(walk_t *w, const field_t *f, json_t *v)
{
    switch (f->kind) {
    case K_MONEY:
    case K_MONEY_POS:
        return check_money(w, v, f->kind == K_MONEY_POS);
    case K_BOOL:
        if (!json_is_boolean(v))
            return reason_set(w->err, "schema_violation", "%s: must be true or false", w->path);
        return 0;
    case K_OBJECT:
        if (!json_is_object(v))
            return reason_set(w->err, "schema_violation", "%s: must be an object", w->path);
        return check_object(w, f->fields, v);
    case K_ARRAY:
        if (!json_is_array(v))
            return reason_set(w->err, "schema_violation", "%s: must be an array", w->path);
        return check_array(w, f, v);
    default:
        if (!json_is_string(v))
            return reason_set(w->err, "schema_violation", "%s: must be a string", w->path);
        /* jansson allows "\u0000" inside a string; no field of ours may hold one. */
        if (strlen(json_string_value(v)) != json_string_length(v))
            return reason_set(w->err, "schema_violation", "%s: holds a NUL character", w->path);
        return check_string(w, f, json_string_value(v));
    }
}

/* A `type` is quoted in a detail only when it looks like an identifier, never as given. */
static bool quotable_type(const char *s)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++)
        if (!g_ascii_isalnum(s[n]) && s[n] != '.' && s[n] != '_' && s[n] != '-')
            return false;
    return n >= 1 && n <= 64;
}

int validate_event(const ce_event_t *ev, reason_t *err)
{
    const event_rules_t *r = rules_for(ev->type);
    json_t *dct;
    walk_t w;

    if (r == NULL) {
        if (ev->type != NULL && quotable_type(ev->type))
            return reason_set(err, "unknown_type", "type \"%s\" is not an input event type",
                              ev->type);
        return reason_set(err, "unknown_type", "type is not an input event type");
    }
    if (ev->time != NULL && cal_parse_instant(ev->time, NULL, NULL) < 0)
        return reason_set(err, "invalid_date",
                          "time: not an RFC 3339 instant with an offset (Z or +hh:mm)");
    dct = json_object_get(ev->root, "datacontenttype");
    if (dct != NULL && !json_is_null(dct)) {
        const char *s = json_string_value(dct);
        size_t n = strlen("application/json");

        if (s == NULL || strncmp(s, "application/json", n) != 0 || (s[n] != '\0' && s[n] != ';'))
            return reason_set(err, "schema_violation",
                              "datacontenttype: must be application/json when given");
    }
    if (!json_is_object(ev->data))
        return reason_set(err, "schema_violation", "data: must be an object");

    memset(&w, 0, sizeof(w));
    snprintf(w.path, sizeof(w.path), "data");
    w.err = err;
    if (check_object(&w, r->fields, ev->data) < 0)
        return -1;
    if (r->check != NULL && r->check(ev->data, err) < 0)
        return -1;
    return 0;
}

int validate_case_ids(const ce_event_t *ev, const char **creditor_id, const char **debtor_id)
{
    const char *c, *d;

    if (ev == NULL || ev->data == NULL)
        return -1;
    c = json_string_value(json_object_get(ev->data, "creditor_id"));
    d = json_string_value(json_object_get(ev->data, "debtor_id"));
    if (d == NULL)
        d = json_string_value(json_object_get(json_object_get(ev->data, "debtor"), "id"));
    if (c == NULL || d == NULL)
        return -1;
    *creditor_id = c;
    *debtor_id = d;
    return 0;
}
