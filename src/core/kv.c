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

json_t *wr_kv_parse_client_args(const char *s, size_t len, char *err, size_t errlen)
{
    json_t *obj = json_object();
    if (!obj)
        return NULL;
    if (len == 0)
        return obj;
    /* Worst case every byte is a literal: the unescaped key and value fit in len+1 each. */
    char *key = malloc(len + 1), *val = malloc(len + 1);
    if (!key || !val)
        goto fail_nomsg;
    size_t i = 0;
    while (i <= len) {
        size_t kl = 0, vl = 0;
        int in_value = 0;
        for (; i < len && s[i] != ';'; i++) {
            char c = s[i];
            if (c == '\\') {
                if (++i == len) {
                    set_err(err, errlen, "trailing backslash in arguments");
                    goto fail;
                }
                c = s[i];
            } else if (c == '=' && !in_value) {
                in_value = 1;
                continue;
            }
            if (in_value)
                val[vl++] = c;
            else
                key[kl++] = c;
        }
        key[kl] = val[vl] = '\0';
        if (!in_value) {
            set_err(err, errlen, kl ? "argument without '=' (want k=v)" : "empty argument");
            goto fail;
        }
        if (kl == 0) {
            set_err(err, errlen, "argument with an empty key");
            goto fail;
        }
        if (memchr(key, '\0', kl) || memchr(val, '\0', vl)) {
            set_err(err, errlen, "NUL byte in arguments");
            goto fail;
        }
        if (json_object_set_new(obj, key, json_stringn(val, vl)) != 0) {
            set_err(err, errlen, "argument is not valid UTF-8");
            goto fail;
        }
        i++; /* skip ';' (or step past the end) */
        if (i == len)
            break; /* a trailing ';' ends the list, as goptlib reads it */
    }
    free(key);
    free(val);
    return obj;
fail_nomsg:
    set_err(err, errlen, "out of memory");
fail:
    free(key);
    free(val);
    json_decref(obj);
    return NULL;
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
