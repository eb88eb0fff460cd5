/* kv.h: the PT 1.0 key=value microformats. Client arguments arrive over SOCKS as "k=v;k=v"
 * with '\' escaping '\' and ';' (tor does not escape '=' or ':'); SMETHOD ARGS go out as
 * "k=v,k=v" with '\' escaping '=', ',' and '\'. Parsed arguments become a JSON object of
 * strings so they merge with -options key by key. Pure code. */
#ifndef WARREN_CORE_KV_H
#define WARREN_CORE_KV_H

#include <jansson.h>
#include <stddef.h>

/* The tokenizer every "k=v;k=v" format shares (PT 1.0 client arguments, SIP003 plugin options,
 * tor's server transport options): ';' separates items, the first unescaped '=' ends the key,
 * '\' makes the next byte literal. each() gets every item unescaped, empty ones in the middle
 * included (a trailing ';' ends the list); has_value says whether it had an '='. It returns 0
 * to go on, or -1 with err filled to stop. Returns 0, or -1 (a trailing lone backslash, or
 * each()'s error). */
typedef int wr_kv_item_fn(void *arg, const char *key, size_t kl, const char *val, size_t vl,
                          int has_value, char *err, size_t errlen);
int wr_kv_split(const char *s, size_t len, wr_kv_item_fn *each, void *arg, char *err, size_t errlen);

/* Parses "k=v;k=v" (goptlib parseClientParameters rules). Returns a new object, or NULL with
 * err filled (empty key, missing '=', trailing lone backslash). An empty string is {}. */
json_t *wr_kv_parse_client_args(const char *s, size_t len, char *err, size_t errlen);

/* Appends ",key=value" (or "key=value" when out is empty) with SMETHOD ARGS escaping.
 * Returns 0, or -1 when it does not fit (out unchanged). */
int wr_kv_append_arg(char *out, size_t outlen, const char *key, const char *value);

#endif
