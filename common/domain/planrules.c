/* planrules.c - the policy's follow-up sections: promise, unreached, delivery (see planrules.h). */
#include "planrules.h"

#include <stdio.h>
#include <string.h>

#include "jsonfield.h"

void planrules_default(planrules_t *out)
{
    memset(out, 0, sizeof(*out));
    out->reminder_days_before = 1;
    out->reminder_channel = VOCAB_CHANNEL_SMS;
    snprintf(out->reminder_template, sizeof(out->reminder_template), "promise.reminder");
    out->has_follow_up = true;
    out->follow_up_from_ladder = true;
    out->follow_up_action = VOCAB_ACTION_CALL;
    out->follow_up_channel = VOCAB_CHANNEL_PHONE;
    out->follow_up_priority = 2;
    out->unreached_attempts = 6;
    out->unreached_days = 30;
    out->delivery_fallback = false;
}

/* A template name: 1..64 of [a-z0-9_.]. */
static int read_template(const json_t *obj, const char *path, char *out, size_t size, char *err,
                         size_t errlen)
{
    char sub[JSONFIELD_PATH_MAX];
    const char *s;

    if (json_object_get(obj, "template") == NULL)
        return 0;
    if (jsonfield_string(obj, path, "template", &s, err, errlen) != 0)
        return -1;
    size_t n = strlen(s);
    bool ok = n > 0 && n < size && n <= 64;
    for (size_t i = 0; ok && i < n; i++)
        ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
             s[i] == '.';
    if (!ok)
        return jsonfield_error(err, errlen, jsonfield_path(sub, sizeof(sub), path, "template"),
                               "\"%s\" is not a template name ([a-z0-9_.]{1,64})", s);
    memcpy(out, s, n + 1);
    return 0;
}

/* "follow_up": null, or {"action", "channel", "template", "priority"}: a call by phone or visit,
 * or a reminder, plan_offer or final_notice by sms, email or letter. */
static int read_follow_up(const json_t *fu, planrules_t *out, char *err, size_t errlen)
{
    static const char *const keys[] = {"action",   "channel",     "template",
                                       "priority", "description", NULL};
    static const char path[] = "promise.follow_up";
    const char *a, *c;

    if (json_is_null(fu)) {
        out->has_follow_up = false;
        return 0;
    }
    if (!json_is_object(fu))
        return jsonfield_error(err, errlen, path, "must be an object or null");
    if (jsonfield_expect_keys(fu, path, keys, err, errlen) != 0 ||
        jsonfield_string(fu, path, "action", &a, err, errlen) != 0 ||
        jsonfield_string(fu, path, "channel", &c, err, errlen) != 0)
        return -1;
    vocab_action_t action;
    vocab_channel_t channel;
    if (vocab_action_from_name(a, &action) != 0 ||
        (action != VOCAB_ACTION_CALL && action != VOCAB_ACTION_REMINDER &&
         action != VOCAB_ACTION_PLAN_OFFER && action != VOCAB_ACTION_FINAL_NOTICE))
        return jsonfield_error(err, errlen, "promise.follow_up.action",
                               "must be call, reminder, plan_offer or final_notice");
    bool voice = action == VOCAB_ACTION_CALL;
    if (vocab_channel_from_name(c, &channel) != 0 ||
        (voice != (channel == VOCAB_CHANNEL_PHONE || channel == VOCAB_CHANNEL_VISIT)) ||
        channel == VOCAB_CHANNEL_INTERNAL)
        return jsonfield_error(err, errlen, "promise.follow_up.channel",
                               "action \"%s\" cannot go by \"%s\"", a, c);
    snprintf(out->follow_up_template, sizeof(out->follow_up_template), "promise.follow_up");
    if (read_template(fu, path, out->follow_up_template, sizeof(out->follow_up_template), err,
                      errlen) != 0)
        return -1;
    if (json_object_get(fu, "priority") != NULL &&
        jsonfield_int(fu, path, "priority", 1, 5, &out->follow_up_priority, err, errlen) != 0)
        return -1;
    out->has_follow_up = true;
    out->follow_up_from_ladder = false;
    out->follow_up_action = action;
    out->follow_up_channel = channel;
    return 0;
}

static int read_promise(const json_t *obj, planrules_t *out, char *err, size_t errlen)
{
    static const char *const keys[] = {"reminder_days_before", "reminder_channel",
                                       "reminder_template",    "follow_up",
                                       "description",          NULL};
    static const char path[] = "promise";
    const char *ch;

    if (obj == NULL)
        return 0;
    if (!json_is_object(obj))
        return jsonfield_error(err, errlen, path, "must be an object");
    if (jsonfield_expect_keys(obj, path, keys, err, errlen) != 0)
        return -1;
    if (json_object_get(obj, "reminder_days_before") != NULL &&
        jsonfield_int(obj, path, "reminder_days_before", 0, 30, &out->reminder_days_before, err,
                      errlen) != 0)
        return -1;
    if (json_object_get(obj, "reminder_channel") != NULL) {
        if (jsonfield_string(obj, path, "reminder_channel", &ch, err, errlen) != 0)
            return -1;
        if (strcmp(ch, "sms") != 0 && strcmp(ch, "email") != 0)
            return jsonfield_error(err, errlen, "promise.reminder_channel",
                                   "must be \"sms\" or \"email\"");
        out->reminder_channel = ch[0] == 's' ? VOCAB_CHANNEL_SMS : VOCAB_CHANNEL_EMAIL;
    }
    if (json_object_get(obj, "reminder_template") != NULL) {
        json_t *wrap = json_pack("{s:O}", "template", json_object_get(obj, "reminder_template"));
        int rc = wrap ? read_template(wrap, path, out->reminder_template,
                                      sizeof(out->reminder_template), err, errlen)
                      : jsonfield_error(err, errlen, path, "out of memory");
        json_decref(wrap);
        if (rc != 0)
            return -1;
    }
    json_t *fu = json_object_get(obj, "follow_up");
    return fu != NULL ? read_follow_up(fu, out, err, errlen) : 0;
}

static int read_unreached(const json_t *obj, planrules_t *out, char *err, size_t errlen)
{
    static const char *const keys[] = {"attempts", "days", "description", NULL};
    static const char path[] = "unreached";

    if (obj == NULL)
        return 0;
    if (!json_is_object(obj))
        return jsonfield_error(err, errlen, path, "must be an object");
    if (jsonfield_expect_keys(obj, path, keys, err, errlen) != 0)
        return -1;
    if (json_object_get(obj, "attempts") != NULL &&
        jsonfield_int(obj, path, "attempts", 1, 100, &out->unreached_attempts, err, errlen) != 0)
        return -1;
    if (json_object_get(obj, "days") != NULL &&
        jsonfield_int(obj, path, "days", 1, 366, &out->unreached_days, err, errlen) != 0)
        return -1;
    return 0;
}

static int read_delivery(const json_t *obj, planrules_t *out, char *err, size_t errlen)
{
    static const char *const keys[] = {"fallback", "description", NULL};

    if (obj == NULL)
        return 0;
    if (!json_is_object(obj))
        return jsonfield_error(err, errlen, "delivery", "must be an object");
    if (jsonfield_expect_keys(obj, "delivery", keys, err, errlen) != 0)
        return -1;
    return jsonfield_bool(obj, "delivery", "fallback", &out->delivery_fallback, err, errlen);
}

int planrules_from_json(const json_t *root, planrules_t *out, char *err, size_t errlen)
{
    planrules_t r = *out;

    if (read_promise(json_object_get(root, "promise"), &r, err, errlen) != 0 ||
        read_unreached(json_object_get(root, "unreached"), &r, err, errlen) != 0 ||
        read_delivery(json_object_get(root, "delivery"), &r, err, errlen) != 0)
        return -1;
    *out = r;
    return 0;
}
