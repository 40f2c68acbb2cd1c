/* cloudevent.c - parsing and building CloudEvents 1.0 envelopes (structured JSON mode). */
#include "cloudevent.h"

#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "calendar.h"
#include "jsonout.h"

/* Reads the required string attribute `name` of `root` into *out. Returns 0, or -1 with *err
 * filled when it is missing, not a string or empty. */
static int required_string(json_t *root, const char *name, const char **out, reason_t *err)
{
    json_t *v = json_object_get(root, name);

    if (v == NULL)
        return reason_set(err, "schema_violation", "envelope attribute '%s' is missing", name);
    if (!json_is_string(v))
        return reason_set(err, "schema_violation", "envelope attribute '%s' must be a string",
                          name);
    if (json_string_length(v) == 0)
        return reason_set(err, "schema_violation", "envelope attribute '%s' must not be empty",
                          name);
    *out = json_string_value(v);
    return 0;
}

/* Reads the optional string attribute `name`: NULL when absent, -1 when of the wrong type. */
static int optional_string(json_t *root, const char *name, const char **out, reason_t *err)
{
    json_t *v = json_object_get(root, name);

    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return reason_set(err, "schema_violation", "envelope attribute '%s' must be a string",
                          name);
    *out = json_string_value(v);
    return 0;
}

int ce_parse(const char *buf, size_t len, ce_event_t *ev, reason_t *err)
{
    json_error_t jerr;
    json_t *root, *data;
    const char *specversion;

    *ev = (ce_event_t)CE_EVENT_INIT;
    if (buf == NULL || len == 0)
        return reason_set(err, "malformed_json", "empty message");
    if (len > CE_MAX_BYTES)
        return reason_set(err, "too_large", "message of %zu bytes exceeds the limit of %d", len,
                          CE_MAX_BYTES);
    /* JSON_REJECT_DUPLICATES: an event whose meaning depends on which duplicate key wins is
     * not one we can apply with confidence. */
    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return reason_set(err, "malformed_json", "not valid JSON at line %d column %d", jerr.line,
                          jerr.column);
    if (!json_is_object(root)) {
        json_decref(root);
        return reason_set(err, "schema_violation", "the message is not a JSON object");
    }
    ev->root = root;
    if (required_string(root, "specversion", &specversion, err) < 0)
        goto fail;
    if (strcmp(specversion, "1.0") != 0) {
        reason_set(err, "schema_violation", "specversion must be \"1.0\"");
        goto fail;
    }
    if (required_string(root, "id", &ev->id, err) < 0 ||
        required_string(root, "source", &ev->source, err) < 0 ||
        required_string(root, "type", &ev->type, err) < 0 ||
        optional_string(root, "subject", &ev->subject, err) < 0 ||
        optional_string(root, "time", &ev->time, err) < 0)
        goto fail;
    /* Limits in characters, as the schema's maxLength counts (jansson hands out valid UTF-8). */
    if (g_utf8_strlen(ev->id, -1) > 256 || g_utf8_strlen(ev->source, -1) > 1024) {
        reason_set(err, "schema_violation", "envelope 'id' or 'source' is too long");
        goto fail;
    }
    data = json_object_get(root, "data");
    if (data == NULL) {
        reason_set(err, "schema_violation", "envelope attribute 'data' is missing");
        goto fail;
    }
    if (!json_is_object(data)) {
        reason_set(err, "schema_violation", "envelope attribute 'data' must be a JSON object");
        goto fail;
    }
    ev->data = data;
    return 0;

fail:
    ce_event_clear(ev);
    return -1;
}

void ce_event_clear(ce_event_t *ev)
{
    if (ev == NULL)
        return;
    json_decref(ev->root);
    *ev = (ce_event_t)CE_EVENT_INIT;
}

json_t *ce_build_new(const char *id, const char *source, const char *type, const char *time,
                     const char *subject, json_t *data)
{
    json_t *ev = json_object();

    if (ev == NULL) {
        json_decref(data);
        return NULL;
    }
    json_object_set_new(ev, "specversion", json_string("1.0"));
    json_object_set_new(ev, "id", json_string(id));
    json_object_set_new(ev, "source", json_string(source));
    json_object_set_new(ev, "type", json_string(type));
    if (time != NULL)
        json_object_set_new(ev, "time", json_string(time));
    if (subject != NULL)
        json_object_set_new(ev, "subject", json_string(subject));
    json_object_set_new(ev, "datacontenttype", json_string("application/json"));
    json_object_set_new(ev, "data", data);
    return ev;
}

json_t *ce_case_output_new(const char *id, const char *source, const char *type, int64_t at,
                           const char *creditor_id, const char *debtor_id, json_t *data)
{
    char when[CAL_INSTANT_MAX + 8], subject[512];

    cal_format_utc(at, when, sizeof(when));
    snprintf(subject, sizeof(subject), "%s/%s", creditor_id, debtor_id);
    return ce_build_new(id, source, type, when, subject, json_incref(data));
}

/* One member ,"name":"value" of the envelope's text. */
static void text_member(jsonout_t *o, const char *name_colon, const char *value)
{
    jsonout_raw(o, name_colon, strlen(name_colon));
    jsonout_string(o, value);
}

char *ce_case_output_text(const char *id, const char *source, const char *type, int64_t at,
                          const char *creditor_id, const char *debtor_id, const json_t *data,
                          size_t *len)
{
    char when[CAL_INSTANT_MAX + 8], subject[512];
    jsonout_t o = JSONOUT_INIT;

    cal_format_utc(at, when, sizeof(when));
    snprintf(subject, sizeof(subject), "%s/%s", creditor_id, debtor_id);
    /* ce_build_new()'s members in its order; a value it would drop fails the text instead. */
    text_member(&o, "{\"specversion\":", "1.0");
    text_member(&o, ",\"id\":", id);
    text_member(&o, ",\"source\":", source);
    text_member(&o, ",\"type\":", type);
    text_member(&o, ",\"time\":", when);
    text_member(&o, ",\"subject\":", subject);
    text_member(&o, ",\"datacontenttype\":", "application/json");
    jsonout_raw(&o, ",\"data\":", 8);
    jsonout_value(&o, data);
    jsonout_raw(&o, "}", 1);
    return jsonout_finish(&o, len);
}
