/* sip003.c: the SIP003 plugin environment as warren flags; see sip003.h. */
#include "ipc/sip003.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "core/kv.h"

struct plugin_opts {
    json_t *obj;
    char *transport;
    size_t transport_len;
    int *is_server;
};

static int plugin_item(void *arg, const char *key, size_t kl, const char *val, size_t vl,
                       int has_value, char *err, size_t errlen)
{
    struct plugin_opts *po = arg;
    if (kl == 0) {
        if (!has_value)
            return 0;                           /* an empty item: "a=b;;c=d" */
        snprintf(err, errlen, "SS_PLUGIN_OPTIONS has an option with an empty name");
        return -1;
    }
    if (!strcmp(key, "server")) {
        /* "server", or "server=true|1|false|0" */
        if (has_value && strcmp(val, "true") && strcmp(val, "1") && strcmp(val, "false") &&
            strcmp(val, "0")) {
            snprintf(err, errlen, "SS_PLUGIN_OPTIONS: server takes no value, or true/false");
            return -1;
        }
        *po->is_server = !has_value || !strcmp(val, "true") || !strcmp(val, "1");
        return 0;
    }
    if (!strcmp(key, "transport")) {
        if (!has_value || vl == 0 || vl >= po->transport_len) {
            snprintf(err, errlen, "SS_PLUGIN_OPTIONS: transport needs a name (transport=NAME)");
            return -1;
        }
        memcpy(po->transport, val, vl + 1);
        return 0;
    }
    if (!has_value) {
        if (strcmp(key, "client") != 0)
            json_object_set_new(po->obj, key, json_true());
        return 0;
    }
    if (json_object_set_new(po->obj, key, json_stringn(val, vl)) != 0) {
        snprintf(err, errlen, "SS_PLUGIN_OPTIONS is not valid UTF-8");
        return -1;
    }
    return 0;
}

int wr_sip003_parse_options(const char *opts, char *json_out, size_t json_len, char *transport,
                            size_t transport_len, int *is_server, char *err, size_t errlen)
{
    struct plugin_opts po = { json_object(), transport, transport_len, is_server };
    int r = -1;
    *is_server = 0;
    snprintf(transport, transport_len, "plain");
    if (!po.obj) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (wr_kv_split(opts, strlen(opts), plugin_item, &po, err, errlen) == 0) {
        char *text = json_dumps(po.obj, JSON_COMPACT);
        if (text && strlen(text) < json_len) {
            strcpy(json_out, text);
            r = 0;
        } else {
            snprintf(err, errlen, "SS_PLUGIN_OPTIONS too long");
        }
        free(text);
    }
    json_decref(po.obj);
    return r;
}

/* host (maybe "a|b": the first) and port from the environment, as "ip:port" or "[ip6]:port". */
static int env_endpoint(const char *hvar, const char *pvar, char *out, size_t outlen, char *err,
                        size_t errlen)
{
    const char *h = getenv(hvar), *p = getenv(pvar);
    if (!h || !*h || !p || !*p) {
        snprintf(err, errlen, "SIP003: %s and %s must both be set", hvar, pvar);
        return -1;
    }
    char host[WR_HOST_MAX + 1];
    size_t hl = strcspn(h, "|");
    if (hl > WR_HOST_MAX) {
        snprintf(err, errlen, "SIP003: %s too long", hvar);
        return -1;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    snprintf(out, outlen, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, p);
    return 0;
}

int wr_sip003_argv(char ***argv_out, int *argc_out, char *err, size_t errlen)
{
    if (!getenv("SS_REMOTE_HOST") && !getenv("SS_LOCAL_HOST"))
        return 0;
    char remote[WR_ADDRSTRLEN + 4], local[WR_ADDRSTRLEN + 4];
    char json[4096], transport[64], opts_json[4200], bind[WR_ADDRSTRLEN + 80];
    int is_server;
    const char *po = getenv("SS_PLUGIN_OPTIONS");
    if (env_endpoint("SS_REMOTE_HOST", "SS_REMOTE_PORT", remote, sizeof remote, err, errlen) ||
        env_endpoint("SS_LOCAL_HOST", "SS_LOCAL_PORT", local, sizeof local, err, errlen) ||
        wr_sip003_parse_options(po ? po : "", json, sizeof json, transport, sizeof transport,
                                &is_server, err, errlen))
        return -1;
    json_error_t jerr;
    json_t *o = json_loads(json, 0, &jerr);
    if (!o) {
        snprintf(err, errlen, "SIP003: internal options error");
        return -1;
    }
    /* state=DIR is warren's own -state (obfs4 keeps its identity there), not an option. */
    char state[1024] = "";
    const char *sv = json_string_value(json_object_get(o, "state"));
    if (sv && strlen(sv) >= sizeof state) {
        json_decref(o);
        snprintf(err, errlen, "SIP003: state directory path too long");
        return -1;
    }
    if (sv) {
        strcpy(state, sv);
        json_object_del(o, "state");
    }
    if (!is_server)
        json_object_set_new(o, "serverAddress", json_string(remote));
    json_t *keyed = json_object();
    json_object_set_new(keyed, transport, o);
    char *text = json_dumps(keyed, JSON_COMPACT);
    json_decref(keyed);
    if (!text || strlen(text) >= sizeof opts_json) {
        free(text);
        snprintf(err, errlen, "SIP003: options too long");
        return -1;
    }
    strcpy(opts_json, text);
    free(text);
    const char *args[18];
    int n = 0;
    args[n++] = "warren";
    if (is_server) {
        /* The server listens where clients connect and forwards to ss-server. */
        snprintf(bind, sizeof bind, "%s-%s", transport, remote);
        args[n++] = "-server";
        args[n++] = "-transport";
        args[n++] = transport;
        args[n++] = "-bindaddr";
        args[n++] = bind;
        args[n++] = "-target";
        args[n++] = local;
    } else {
        args[n++] = "-client";
        args[n++] = "-transport";
        args[n++] = transport;
        args[n++] = "-mode";
        args[n++] = "transparent-TCP";
        args[n++] = "-proxylistenaddr";
        args[n++] = local;
    }
    if (state[0]) {
        args[n++] = "-state";
        args[n++] = state;
    }
    args[n++] = "-options";
    args[n++] = opts_json;
    char **argv = calloc((size_t)n + 1, sizeof *argv);
    if (!argv) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        argv[i] = strdup(args[i]);
        if (!argv[i]) {
            wr_sip003_free(argv, i);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    *argv_out = argv;
    *argc_out = n;
    return 1;
}

void wr_sip003_free(char **argv, int argc)
{
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    free(argv);
}
