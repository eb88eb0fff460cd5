/* pt1.c: the PT 1.0 environment as warren flags; see pt1.h. */
#include "ipc/pt1.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kv.h"

/* tor sends "" for a variable it means as unset (TOR_PT_EXTENDED_SERVER_PORT). */
static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

int wr_pt1_detect(const struct wr_flags *f)
{
    return !f->ptversion && env("TOR_PT_MANAGED_TRANSPORT_VER") != NULL;
}

const char *wr_pt1_version(void)
{
    const char *list = getenv("TOR_PT_MANAGED_TRANSPORT_VER");
    for (const char *p = list; p && *p;) {
        size_t n = strcspn(p, ",");
        if (n == 1 && *p == '1')
            return "1";
        p += n + (p[n] == ',');
    }
    return NULL;
}

struct opts_build {
    json_t *doc;
};

static int option_item(void *arg, const char *key, size_t kl, const char *val, size_t vl,
                       int has_value, char *err, size_t errlen)
{
    struct opts_build *b = arg;
    if (kl == 0 && !has_value)
        return 0;                               /* an empty item */
    const char *colon = memchr(key, ':', kl);
    if (!colon || colon == key) {
        snprintf(err, errlen, "TOR_PT_SERVER_TRANSPORT_OPTIONS: no transport name and colon in \"%.*s\"",
                 (int)(kl > 60 ? 60 : kl), key);
        return -1;
    }
    if (!has_value || colon + 1 == key + kl) {
        snprintf(err, errlen, "TOR_PT_SERVER_TRANSPORT_OPTIONS: \"%.*s\" is not transport:key=value",
                 (int)(kl > 60 ? 60 : kl), key);
        return -1;
    }
    char name[64];
    size_t nl = (size_t)(colon - key);
    if (nl >= sizeof name) {
        snprintf(err, errlen, "TOR_PT_SERVER_TRANSPORT_OPTIONS: transport name too long");
        return -1;
    }
    memcpy(name, key, nl);
    name[nl] = '\0';
    json_t *t = json_object_get(b->doc, name);
    if (!t) {
        t = json_object();
        json_object_set_new(b->doc, name, t);
    }
    json_t *v = json_stringn(val, vl);
    if (!t || !v || json_object_setn_new(t, colon + 1, kl - nl - 1, v) != 0) {
        snprintf(err, errlen, "TOR_PT_SERVER_TRANSPORT_OPTIONS: out of memory or not UTF-8");
        return -1;
    }
    return 0;
}

char *wr_pt1_server_options(const char *s, char *err, size_t errlen)
{
    struct opts_build b = { json_object() };
    if (!b.doc) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (wr_kv_split(s, strlen(s), option_item, &b, err, errlen) != 0) {
        if (!strstr(err, "TOR_PT_"))
            snprintf(err, errlen, "TOR_PT_SERVER_TRANSPORT_OPTIONS ends in a lone backslash");
        json_decref(b.doc);
        return NULL;
    }
    char *text = json_dumps(b.doc, JSON_COMPACT);
    json_decref(b.doc);
    if (!text)
        snprintf(err, errlen, "out of memory");
    return text;
}

int wr_pt1_apply_flags(struct wr_flags *f, struct wr_pt1 *p, char *err, size_t errlen)
{
    const char *ct = env("TOR_PT_CLIENT_TRANSPORTS"), *st = env("TOR_PT_SERVER_TRANSPORTS");
    memset(p, 0, sizeof *p);
    if (ct && st) {
        snprintf(err, errlen, "TOR_PT_[CLIENT,SERVER]_TRANSPORTS both set");
        return -1;
    }
    if (!ct && !st) {
        snprintf(err, errlen, "neither TOR_PT_CLIENT_TRANSPORTS nor TOR_PT_SERVER_TRANSPORTS set");
        return -1;
    }
    f->state = env("TOR_PT_STATE_LOCATION");
    if (!f->state) {
        snprintf(err, errlen, "no TOR_PT_STATE_LOCATION environment variable");
        return -1;
    }
    const char *eosc = getenv("TOR_PT_EXIT_ON_STDIN_CLOSE");
    if (eosc)
        f->exit_on_stdin_close = !strcmp(eosc, "1");
    f->transport = NULL;
    f->mode = NULL;
    f->transparent = f->udp = -1;
    if (ct) {
        f->client = 1;
        f->server = -1;
        f->transports = ct;
        f->proxy = env("TOR_PT_PROXY");
        return 0;
    }
    f->server = 1;
    f->client = -1;
    f->transports = st;
    f->bindaddr = env("TOR_PT_SERVER_BINDADDR");
    f->bindhost = f->bindport = NULL;
    if (!f->bindaddr) {
        snprintf(err, errlen, "no TOR_PT_SERVER_BINDADDR environment variable");
        return -1;
    }
    f->target = f->targethost = f->targetport = NULL;
    f->extorport = env("TOR_PT_EXTENDED_SERVER_PORT");
    f->authcookie = env("TOR_PT_AUTH_COOKIE_FILE");
    if (f->extorport && !f->authcookie) {
        snprintf(err, errlen, "need TOR_PT_AUTH_COOKIE_FILE environment variable with TOR_PT_EXTENDED_SERVER_PORT");
        return -1;
    }
    if (!f->extorport) {
        f->authcookie = NULL;
        f->target = env("TOR_PT_ORPORT");
        if (!f->target) {
            snprintf(err, errlen, "need TOR_PT_ORPORT or TOR_PT_EXTENDED_SERVER_PORT environment variable");
            return -1;
        }
    }
    const char *opts = env("TOR_PT_SERVER_TRANSPORT_OPTIONS");
    if (opts) {
        p->options = wr_pt1_server_options(opts, err, errlen);
        if (!p->options)
            return -1;
        f->options = p->options;
        f->options_file = NULL;
    }
    return 0;
}

int wr_pt1_parse_bind(const char *s, int family, void *sa_out)
{
    char host[64];
    size_t n = strlen(s);
    if (family == AF_INET6 && n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        s++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof host)
        return -1;
    memcpy(host, s, n);
    host[n] = '\0';
    if (family == AF_INET) {
        struct sockaddr_in *sin = sa_out;
        memset(sin, 0, sizeof *sin);
        sin->sin_family = AF_INET;
        return inet_pton(AF_INET, host, &sin->sin_addr) == 1 ? 0 : -1;
    }
    struct sockaddr_in6 *sin6 = sa_out;
    memset(sin6, 0, sizeof *sin6);
    sin6->sin6_family = AF_INET6;
    return inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1 ? 0 : -1;
}

int wr_pt1_apply_config(struct wr_config *cfg, char *err, size_t errlen)
{
    const char *v4 = env("TOR_PT_OUTBOUND_BIND_ADDRESS_V4"), *v6 = env("TOR_PT_OUTBOUND_BIND_ADDRESS_V6");
    cfg->proxy_percent_encoded = 0;     /* tor writes TOR_PT_PROXY's userinfo as is */
    if (v4) {
        if (wr_pt1_parse_bind(v4, AF_INET, &cfg->outbound_v4) != 0) {
            snprintf(err, errlen, "TOR_PT_OUTBOUND_BIND_ADDRESS_V4 is not an IPv4 address: %.60s", v4);
            return -1;
        }
        cfg->has_outbound_v4 = 1;
    }
    if (v6) {
        if (wr_pt1_parse_bind(v6, AF_INET6, &cfg->outbound_v6) != 0) {
            snprintf(err, errlen, "TOR_PT_OUTBOUND_BIND_ADDRESS_V6 is not an IPv6 address: %.60s", v6);
            return -1;
        }
        cfg->has_outbound_v6 = 1;
    }
    return 0;
}

void wr_pt1_free(struct wr_pt1 *p)
{
    free(p->options);
    p->options = NULL;
}
