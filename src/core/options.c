/* options.c: JSON option documents and typed accessors; see options.h. */
#include "core/options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

json_t *wr_options_parse(const char *text, size_t len, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        snprintf(err, errlen, "not valid JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                 jerr.column);
        return NULL;
    }
    if (!json_is_object(doc)) {
        snprintf(err, errlen, "must be a JSON object, like {\"serverAddress\":\"192.0.2.1:443\"}");
        json_decref(doc);
        return NULL;
    }
    return doc;
}

static int names_a_transport(const char *key, const char *const *requested, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(key, requested[i]) == 0)
            return 1;
    return 0;
}

json_t *wr_options_for(const json_t *doc, const char *name, const char *const *requested,
                       size_t n_requested)
{
    if (!doc)
        return json_object();
    int keyed = 0;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)doc, key, val) {
        if (json_is_object(val) && names_a_transport(key, requested, n_requested)) {
            keyed = 1;
            break;
        }
    }
    if (!keyed)
        return json_deep_copy(doc);
    json_object_foreach((json_t *)doc, key, val) {
        if (strcasecmp(key, name) == 0 && json_is_object(val))
            return json_deep_copy(val);
    }
    return json_object();
}

json_t *wr_options_merge(const json_t *base, const json_t *over)
{
    json_t *out = base ? json_deep_copy(base) : json_object();
    if (out && over)
        json_object_update(out, (json_t *)over);
    return out;
}

const char *wr_opt_str(const json_t *obj, const char *key, char *buf, size_t buflen, int *bad)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    if (bad)
        *bad = 0;
    if (!v || json_is_null(v))
        return NULL;
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, buflen, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    if (json_is_real(v)) {
        snprintf(buf, buflen, "%.17g", json_real_value(v));
        return buf;
    }
    if (json_is_boolean(v)) {
        snprintf(buf, buflen, "%s", json_is_true(v) ? "true" : "false");
        return buf;
    }
    if (bad)
        *bad = 1;
    return NULL;
}

int wr_opt_bool(const json_t *obj, const char *key, int def)
{
    char buf[64];
    int bad;
    const char *s = wr_opt_str(obj, key, buf, sizeof buf, &bad);
    if (bad)
        return -1;
    if (!s)
        return def;
    if (!strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "t") || !strcasecmp(s, "yes"))
        return 1;
    if (!strcasecmp(s, "false") || !strcmp(s, "0") || !strcasecmp(s, "f") || !strcasecmp(s, "no"))
        return 0;
    return -1;
}

int wr_opt_uint(const json_t *obj, const char *key, unsigned long def, unsigned long max,
                unsigned long *out)
{
    char buf[64];
    int bad;
    const char *s = wr_opt_str(obj, key, buf, sizeof buf, &bad);
    if (bad)
        return -1;
    if (!s) {
        *out = def;
        return 0;
    }
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}
