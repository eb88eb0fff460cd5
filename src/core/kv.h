/* kv.h: the PT 1.0 key=value microformats. Client arguments arrive over SOCKS as "k=v;k=v"
 * with '\' escaping '\' and ';' (tor does not escape '=' or ':'); SMETHOD ARGS go out as
 * "k=v,k=v" with '\' escaping '=', ',' and '\'. Parsed arguments become a JSON object of
 * strings so they merge with -options key by key. Pure code. */
#ifndef WARREN_CORE_KV_H
#define WARREN_CORE_KV_H

#include <jansson.h>
#include <stddef.h>

/* Parses "k=v;k=v" (goptlib parseClientParameters rules). Returns a new object, or NULL with
 * err filled (empty key, missing '=', trailing lone backslash). An empty string is {}. */
json_t *wr_kv_parse_client_args(const char *s, size_t len, char *err, size_t errlen);

/* Appends ",key=value" (or "key=value" when out is empty) with SMETHOD ARGS escaping.
 * Returns 0, or -1 when it does not fit (out unchanged). */
int wr_kv_append_arg(char *out, size_t outlen, const char *key, const char *value);

#endif
