/* fuzz_kv.c: PT 1.0 client arguments and SMETHOD ARGS escaping.
 *
 * 1. The input as "k=v;k=v": on success the object, written back with tor's escaping, parses to
 *    the same object; on failure there is an error text.
 * 2. Each parsed pair appended with wr_kv_append_arg, and the input split at NUL bytes into
 *    key and value appended into a buffer of input-chosen size: -1 leaves the buffer untouched;
 *    0 writes a C string that fits and unescapes back to exactly what went in. */
#include "fuzz.h"

#include <jansson.h>

#include "core/kv.h"

/* tor's escaping of one client argument ('\' and ';', and '=' in keys so they split right) */
static size_t tor_escape(char *out, const char *s, int is_key)
{
    size_t n = 0;
    for (; *s; s++) {
        if (*s == '\\' || *s == ';' || (is_key && *s == '='))
            out[n++] = '\\';
        out[n++] = *s;
    }
    return n;
}

/* Splits one SMETHOD ARGS item back: unescaped '=' ends the key, unescaped ',' the item. */
static const char *unescape_item(const char *p, char *key, char *val)
{
    size_t kl = 0, vl = 0;
    int in_val = 0;
    for (; *p && *p != ','; p++) {
        char c = *p;
        if (c == '\\') {
            c = *++p;
            FUZZ_CHECK(c == '\\' || c == '=' || c == ',');
        } else if (c == '=' && !in_val) {
            in_val = 1;
            continue;
        }
        if (in_val)
            val[vl++] = c;
        else
            key[kl++] = c;
    }
    FUZZ_CHECK(in_val);
    key[kl] = val[vl] = '\0';
    return p;
}

static void check_append(char *out, size_t outlen, const char *k, const char *v)
{
    size_t before = strlen(out);
    char *copy = malloc(before + 1);
    if (!copy)
        abort();
    memcpy(copy, out, before + 1);
    int rc = wr_kv_append_arg(out, outlen, k, v);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc == -1) {
        FUZZ_CHECK(memcmp(out, copy, before + 1) == 0);
    } else {
        size_t after = strlen(out);
        FUZZ_CHECK(after < outlen && after > before);
        FUZZ_CHECK(memcmp(out, copy, before) == 0);
        const char *item = out + before + (before ? 1 : 0);
        if (before)
            FUZZ_CHECK(out[before] == ',');
        size_t cap = after + 1;
        char *key = malloc(cap), *val = malloc(cap);
        if (!key || !val)
            abort();
        const char *end = unescape_item(item, key, val);
        FUZZ_CHECK(*end == '\0');
        FUZZ_CHECK(strcmp(key, k) == 0 && strcmp(val, v) == 0);
        free(key);
        free(val);
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* 1. client arguments */
    char *in = (char *)fuzz_exact(data, size);
    char err[128] = "";
    json_t *o = wr_kv_parse_client_args(in, size, err, sizeof err);
    free(in);
    if (!o) {
        FUZZ_CHECK(err[0] != '\0' || size == 0);
    } else {
        FUZZ_CHECK(json_is_object(o));
        FUZZ_CHECK(size != 0 || json_object_size(o) == 0);
        /* written back and parsed again: the same object */
        char *re = malloc(2 * size + 2);
        if (!re)
            abort();
        size_t n = 0;
        const char *k;
        json_t *v;
        json_object_foreach(o, k, v) {
            FUZZ_CHECK(json_is_string(v));
            if (n)
                re[n++] = ';';
            n += tor_escape(re + n, k, 1);
            re[n++] = '=';
            n += tor_escape(re + n, json_string_value(v), 0);
        }
        FUZZ_CHECK(n <= 2 * size + 1);
        json_t *o2 = wr_kv_parse_client_args(re, n, err, sizeof err);
        FUZZ_CHECK(o2 && json_equal(o, o2));
        json_decref(o2);

        /* 2a. every pair as SMETHOD ARGS */
        char out[1024] = "";
        json_object_foreach(o, k, v)
            check_append(out, sizeof out, k, json_string_value(v));
        free(re);
        json_decref(o);
    }

    /* 2b. raw bytes as key and value, into a buffer of input-chosen size */
    if (size >= 1) {
        size_t outlen = 1 + data[0] % 64;
        char *rest = fuzz_cstr(data + 1, size - 1);
        size_t kl = strlen(rest);
        const uint8_t *vstart = data + 1 + kl + (kl < size - 1 ? 1 : 0);
        char *val = fuzz_cstr(vstart, (size_t)(data + size - vstart));
        char *out = malloc(outlen);
        if (!out)
            abort();
        out[0] = '\0';
        for (int i = 0; i < 3; i++)
            check_append(out, outlen, rest, val);
        free(out);
        free(rest);
        free(val);
    }
    return 0;
}
