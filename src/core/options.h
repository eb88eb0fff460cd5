/* options.h: transport options as JSON. -options/-optionsFile come keyed by transport name
 * ({"obfs4":{...},"shadow":{...}}) or flat (one object for every transport); per-connection
 * settings (SOCKS JSON block or PT 1.0 k=v) override them key by key. Every accessor takes a
 * value as a JSON string or as the native number or boolean, since parents send both. */
#ifndef WARREN_CORE_OPTIONS_H
#define WARREN_CORE_OPTIONS_H

#include <jansson.h>
#include <stddef.h>

/* Parses an options document; it must be a JSON object. NULL with err on failure. */
json_t *wr_options_parse(const char *text, size_t len, char *err, size_t errlen);

/* The options that apply to transport `name`: its sub-object when the document is keyed (any
 * top-level key names a requested transport, case-insensitively, and holds an object),
 * otherwise the whole flat document. Returns a new reference (never NULL unless OOM). */
json_t *wr_options_for(const json_t *doc, const char *name, const char *const *requested,
                       size_t n_requested);

/* base overridden by over (either may be NULL); new reference. */
json_t *wr_options_merge(const json_t *base, const json_t *over);

/* String value of key: a string as is, a number or boolean in its JSON spelling. NULL when
 * absent or null; *bad set when present with an unusable type (object, array). */
const char *wr_opt_str(const json_t *obj, const char *key, char *buf, size_t buflen, int *bad);
/* 1/0 from true/false, "true"/"false", "1"/"0", 1/0. Returns -1 when malformed, def when absent. */
int wr_opt_bool(const json_t *obj, const char *key, int def);
/* Unsigned integer from a number or a decimal string; -1 when malformed or > max, 0 ok. */
int wr_opt_uint(const json_t *obj, const char *key, unsigned long def, unsigned long max,
                unsigned long *out);

#endif
