/* kv.c: PT 1.0 argument microformats; see kv.h. */
#include "core/kv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
    return -1;
}

int wr_kv_split(const char *s, size_t len, wr_kv_item_fn *each, void *arg, char *err, size_t errlen)
{
    if (len == 0)
        return 0;
    /* Unescaped, a key or a value is never longer than the input. */
    char *key = malloc(len + 1), *val = malloc(len + 1);
    int r = -1;
    if (!key || !val) {
        set_err(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < len;) {
        size_t kl = 0, vl = 0;
        int has_value = 0;
        for (; i < len && s[i] != ';'; i++) {
            char c = s[i];
            if (c == '\\') {
                if (++i == len) {
                    set_err(err, errlen, "trailing backslash in arguments");
                    goto out;
                }
                c = s[i];
            } else if (c == '=' && !has_value) {
                has_value = 1;
                continue;
            }
            if (has_value)
                val[vl++] = c;
            else
                key[kl++] = c;
        }
        i++; /* past the ';' (a trailing one ends the list, as goptlib reads it) */
        key[kl] = val[vl] = '\0';
        if (each(arg, key, kl, val, vl, has_value, err, errlen) != 0)
            goto out;
    }
    r = 0;
out:
    free(key);
    free(val);
    return r;
}

static int add_client_arg(void *arg, const char *key, size_t kl, const char *val, size_t vl,
                          int has_value, char *err, size_t errlen)
{
    if (!has_value)
        return set_err(err, errlen, kl ? "argument without '=' (want k=v)" : "empty argument");
    if (kl == 0)
        return set_err(err, errlen, "argument with an empty key");
    if (memchr(key, '\0', kl) || memchr(val, '\0', vl))
        return set_err(err, errlen, "NUL byte in arguments");
    if (json_object_set_new(arg, key, json_stringn(val, vl)) != 0)
        return set_err(err, errlen, "argument is not valid UTF-8");
    return 0;
}

json_t *wr_kv_parse_client_args(const char *s, size_t len, char *err, size_t errlen)
{
    json_t *obj = json_object();
    if (obj && wr_kv_split(s, len, add_client_arg, obj, err, errlen) != 0) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

static size_t escape_into(char *dst, const char *src)
{
    size_t n = 0;
    for (; *src; src++) {
        if (*src == '=' || *src == ',' || *src == '\\') {
            if (dst)
                dst[n] = '\\';
            n++;
        }
        if (dst)
            dst[n] = *src;
        n++;
    }
    return n;
}

int wr_kv_append_arg(char *out, size_t outlen, const char *key, const char *value)
{
    size_t cur = strlen(out);
    size_t need = (cur ? 1 : 0) + escape_into(NULL, key) + 1 + escape_into(NULL, value);
    if (cur + need + 1 > outlen)
        return -1;
    char *p = out + cur;
    if (cur)
        *p++ = ',';
    p += escape_into(p, key);
    *p++ = '=';
    p += escape_into(p, value);
    *p = '\0';
    return 0;
}
