/* config.c: flag validation; see config.h. */
#include "cli/config.h"
#include "ipc/extorport.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/options.h"

#define OPTIONS_FILE_MAX (1024 * 1024)

static const char *const supported_versions[] = { "3.0", "3", "2.2.1", "2.2", "2.1", "2.0", "2" };

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

const char *wr_config_version(const char *list)
{
    static char answer[64];
    if (!list)
        return "3.0";
    /* The whole list must be well formed before any token counts: tokens of printable ASCII,
     * no space, separated by single commas, none empty. */
    if (!*list || *list == ',' || list[strlen(list) - 1] == ',' || strstr(list, ",,"))
        return NULL;
    for (const char *p = list; *p; p++)
        if (*p <= ' ' || *p > '~')
            return NULL;
    for (size_t v = 0; v < sizeof supported_versions / sizeof supported_versions[0]; v++) {
        size_t vl = strlen(supported_versions[v]);
        for (const char *p = list; *p; p += *p == ',') {
            size_t n = strcspn(p, ",");
            if (n == vl && !strncmp(p, supported_versions[v], n)) {
                memcpy(answer, p, n);
                answer[n] = '\0';
                return answer;
            }
            p += n;
        }
    }
    return NULL;
}

static int valid_transport_name(const char *s, size_t n)
{
    if (n == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

static int add_transport(struct wr_config *cfg, const char *name, size_t n, char *err, size_t errlen)
{
    if (!valid_transport_name(name, n))
        return fail(err, errlen, "bad transport name '%.*s' (want letters, digits and '_')",
                    (int)(n > 64 ? 64 : n), name);
    if (n >= sizeof cfg->transports[0].name)
        return fail(err, errlen, "transport name too long: '%.*s...'", 32, name);
    for (size_t i = 0; i < cfg->n_transports; i++)
        if (strlen(cfg->transports[i].name) == n && !strncasecmp(cfg->transports[i].name, name, n))
            return 0; /* a repeat: the first spelling stands */
    if (cfg->n_transports == WR_MAX_TRANSPORTS)
        return fail(err, errlen, "too many transports (at most %d)", WR_MAX_TRANSPORTS);
    struct wr_transport_req *r = &cfg->transports[cfg->n_transports++];
    memcpy(r->name, name, n);
    r->name[n] = '\0';
    r->t = wr_transport_find(r->name);
    return 0;
}

static int parse_transports(struct wr_config *cfg, const struct wr_flags *f, char *err, size_t errlen)
{
    if (f->transport && f->transports)
        return fail(err, errlen, "-transport and -transports are mutually exclusive; give one");
    const char *list = f->transport ? f->transport : f->transports;
    if (!list)
        return fail(err, errlen, "need -transport NAME or -transports LIST");
    if (f->transport && strchr(list, ','))
        return fail(err, errlen, "-transport takes one name; use -transports for a list");
    if (!strcmp(list, "*")) {
        for (size_t i = 0; wr_transports[i]; i++)
            if (add_transport(cfg, wr_transports[i]->name, strlen(wr_transports[i]->name), err, errlen))
                return -1;
        return 0;
    }
    for (const char *p = list;;) {
        size_t n = strcspn(p, ",");
        if (n == 0)
            return fail(err, errlen, "empty name in transport list '%s'", list);
        if (add_transport(cfg, p, n, err, errlen) != 0)
            return -1;
        p += n;
        if (!*p)
            break;
        p++;
    }
    return 0;
}

static int parse_mode(struct wr_config *cfg, const struct wr_flags *f, char *err, size_t errlen)
{
    int old = f->transparent == 1 || f->udp == 1;
    if (f->mode && old)
        return fail(err, errlen, "-mode cannot be combined with -transparent or -udp");
    cfg->mode = WR_MODE_SOCKS5;
    if (f->mode) {
        static const enum wr_mode modes[] = { WR_MODE_SOCKS5, WR_MODE_TRANSPARENT_TCP,
                                              WR_MODE_TRANSPARENT_UDP, WR_MODE_STUN };
        size_t i;
        for (i = 0; i < 4; i++)
            if (!strcasecmp(f->mode, wr_mode_name(modes[i])))
                break;
        if (i == 4)
            return fail(err, errlen, "bad -mode '%s' (want socks5, transparent-TCP, transparent-UDP or STUN)",
                        f->mode);
        cfg->mode = modes[i];
    } else if (old) {
        cfg->mode = f->udp == 1 ? (f->transparent == 1 ? WR_MODE_TRANSPARENT_UDP : WR_MODE_STUN)
                                : WR_MODE_TRANSPARENT_TCP;
    }
    return 0;
}

static int parse_options(struct wr_config *cfg, const struct wr_flags *f, char *err, size_t errlen)
{
    if (f->options && f->options_file)
        return fail(err, errlen, "-options and -optionsFile are mutually exclusive; give one");
    char e[200];
    if (f->options) {
        cfg->options = wr_options_parse(f->options, strlen(f->options), e, sizeof e);
        if (!cfg->options)
            return fail(err, errlen, "-options %s", e);
    } else if (f->options_file) {
        FILE *fp = fopen(f->options_file, "rb");
        if (!fp)
            return fail(err, errlen, "cannot read -optionsFile %s: %s", f->options_file, strerror(errno));
        char *buf = malloc(OPTIONS_FILE_MAX + 1);
        size_t n = buf ? fread(buf, 1, OPTIONS_FILE_MAX + 1, fp) : 0;
        int rd_err = ferror(fp);
        fclose(fp);
        if (!buf || rd_err || n > OPTIONS_FILE_MAX) {
            free(buf);
            return fail(err, errlen, "cannot read -optionsFile %s: %s", f->options_file,
                        n > OPTIONS_FILE_MAX ? "larger than 1 MiB" : "read error");
        }
        cfg->options = wr_options_parse(buf, n, e, sizeof e);
        free(buf);
        if (!cfg->options)
            return fail(err, errlen, "-optionsFile %s: %s", f->options_file, e);
    }
    return 0;
}

static int make_state_dir(struct wr_config *cfg, const struct wr_flags *f, char *err, size_t errlen)
{
    if (!f->state || !*f->state) {
        if (!getcwd(cfg->state_dir, sizeof cfg->state_dir))
            return fail(err, errlen, "cannot find the current directory for state: %s", strerror(errno));
        return 0;
    }
    if (strlen(f->state) >= sizeof cfg->state_dir)
        return fail(err, errlen, "-state path too long");
    cfg->state_given = 1;
    strcpy(cfg->state_dir, f->state);
    for (size_t n = strlen(cfg->state_dir); n > 1 && cfg->state_dir[n - 1] == '/'; n--)
        cfg->state_dir[n - 1] = '\0';         /* tor sends "<DataDirectory>/pt_state/" */
    /* mkdir -p, each new component 0700. */
    char path[PATH_MAX];
    strcpy(path, f->state);
    for (char *p = path + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(path, 0700) != 0 && errno != EEXIST)
                return fail(err, errlen, "cannot create -state directory %s: %s", path, strerror(errno));
            *p = c;
            if (!c)
                break;
        }
    }
    struct stat st;
    if (stat(cfg->state_dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return fail(err, errlen, "-state %s is not a directory", cfg->state_dir);
    if (access(cfg->state_dir, W_OK) != 0)
        return fail(err, errlen, "-state directory %s is not writable: %s", cfg->state_dir, strerror(errno));
    return 0;
}

/* A combined "-NAME host:port" or the pair "-PREFIXhost"/"-PREFIXport", never both. */
static int parse_host_port(const char *combined, const char *host, const char *port,
                           const char *name, const char *prefix, int flags,
                           struct wr_endpoint *ep, int *has, char *err, size_t errlen)
{
    char e[200];
    *has = 0;
    if (combined && (host || port))
        return fail(err, errlen, "-%s cannot be combined with -%shost/-%sport", name, prefix, prefix);
    if (combined) {
        if (wr_endpoint_parse(combined, flags, ep, e, sizeof e) != 0)
            return fail(err, errlen, "bad -%s: %s", name, e);
        *has = 1;
    } else if (host || port) {
        if (!host || !port)
            return fail(err, errlen, "-%shost and -%sport must be given together", prefix, prefix);
        if (wr_endpoint_from_parts(host, port, flags, ep, e, sizeof e) != 0)
            return fail(err, errlen, "bad -%shost/-%sport: %s", prefix, prefix, e);
        *has = 1;
    }
    return 0;
}

/* "name-ip:port,name-ip:port": each entry binds the transport of that name. */
static int parse_bindaddr(struct wr_config *cfg, const char *list, char *err, size_t errlen)
{
    char seen[WR_MAX_TRANSPORTS * 2][64];
    size_t n_seen = 0;
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        char item[WR_ADDRSTRLEN + 70];
        if (n == 0 || n >= sizeof item)
            return fail(err, errlen, "bad -bindaddr entry in '%s' (want name-ip:port)", list);
        memcpy(item, p, n);
        item[n] = '\0';
        p += n + (p[n] == ',');
        char *dash = strchr(item, '-');
        if (!dash || dash == item)
            return fail(err, errlen, "bad -bindaddr entry '%s' (want name-ip:port)", item);
        *dash = '\0';
        if ((size_t)(dash - item) >= 64)
            return fail(err, errlen, "bad -bindaddr entry: name too long");
        for (size_t i = 0; i < n_seen; i++)
            if (!strcasecmp(seen[i], item))
                return fail(err, errlen, "-bindaddr names transport '%s' twice", item);
        if (n_seen < sizeof seen / sizeof seen[0])
            strcpy(seen[n_seen++], item);
        struct wr_endpoint ep;
        char e[200];
        if (wr_endpoint_parse(dash + 1, WR_EP_IP_ONLY, &ep, e, sizeof e) != 0)
            return fail(err, errlen, "bad -bindaddr for %s: %s", item, e);
        for (size_t i = 0; i < cfg->n_transports; i++) {
            if (!strcasecmp(cfg->transports[i].name, item)) {
                cfg->transports[i].bind = ep;
                cfg->transports[i].has_bind = 1;
            }
        }
    }
    return 0;
}

static int client_rules(struct wr_config *cfg, const struct wr_flags *f, char *err, size_t errlen)
{
    static const struct { const char *name; size_t off; } server_only[] = {
        { "bindhost", offsetof(struct wr_flags, bindhost) },
        { "bindport", offsetof(struct wr_flags, bindport) },
        { "targethost", offsetof(struct wr_flags, targethost) },
        { "targetport", offsetof(struct wr_flags, targetport) },
        { "extorport", offsetof(struct wr_flags, extorport) },
        { "authcookie", offsetof(struct wr_flags, authcookie) },
    };
    for (size_t i = 0; i < sizeof server_only / sizeof server_only[0]; i++)
        if (*(const char *const *)((const char *)f + server_only[i].off))
            return fail(err, errlen, "-%s is a server flag (add -server)", server_only[i].name);
    int has;
    if (parse_host_port(f->proxylistenaddr, f->proxylistenhost, f->proxylistenport,
                        "proxylistenaddr", "proxylisten", WR_EP_IP_ONLY, &cfg->listen, &has, err,
                        errlen) != 0)
        return -1;
    if (!has)
        wr_endpoint_set(&cfg->listen, WR_EP_IPV4, "127.0.0.1", 0);
    /* Old dispatchers took the server as -target and the listen address as -bindaddr. */
    if (f->target)
        cfg->client_server_address = f->target;
    if (f->bindaddr && parse_bindaddr(cfg, f->bindaddr, err, errlen) != 0)
        return -1;
    cfg->proxy = f->proxy;
    return 0;
}

static int server_rules(struct wr_config *cfg, const struct wr_flags *f, char *err, size_t errlen)
{
    if (f->proxy)
        return fail(err, errlen, "-proxy is a client flag; a server makes no outgoing transport connections");
    if (f->proxylistenaddr || f->proxylistenhost || f->proxylistenport)
        return fail(err, errlen, "-proxylistenaddr/-proxylistenhost/-proxylistenport are client flags (use -bindaddr)");
    if (f->bindaddr && (f->bindhost || f->bindport))
        return fail(err, errlen, "-bindaddr cannot be combined with -bindhost/-bindport");
    if (f->bindaddr) {
        if (parse_bindaddr(cfg, f->bindaddr, err, errlen) != 0)
            return -1;
    } else if (f->bindhost || f->bindport) {
        if (!f->bindhost || !f->bindport || !f->transport)
            return fail(err, errlen, "-bindhost and -bindport must be given together, with -transport");
        struct wr_endpoint ep;
        char e[200];
        if (wr_endpoint_from_parts(f->bindhost, f->bindport, WR_EP_IP_ONLY, &ep, e, sizeof e) != 0)
            return fail(err, errlen, "bad -bindhost/-bindport: %s", e);
        cfg->transports[0].bind = ep;
        cfg->transports[0].has_bind = 1;
    } else {
        return fail(err, errlen, "need -bindaddr name-ip:port, or -transport with -bindhost and -bindport");
    }
    if (f->target && f->orport_used && (f->targethost || f->targetport))
        return fail(err, errlen, "-orport cannot be combined with -targethost/-targetport");
    if (parse_host_port(f->target, f->targethost, f->targetport, "target", "target", WR_EP_NONZERO_PORT,
                        &cfg->target, &cfg->has_target, err, errlen) != 0)
        return -1;
    if (f->extorport && !f->authcookie)
        return fail(err, errlen, "No -authcookie when -extorport set");
    if (f->authcookie && !f->extorport)
        return fail(err, errlen, "-authcookie is only used with -extorport");
    int udp = cfg->mode == WR_MODE_TRANSPARENT_UDP || cfg->mode == WR_MODE_STUN;
    if (udp && (f->extorport || !cfg->has_target))
        return fail(err, errlen, "mode %s needs -target (the UDP %s the datagrams go to)",
                    wr_mode_name(cfg->mode), cfg->mode == WR_MODE_STUN ? "TURN server" : "server");
    if (f->extorport) {
        char e[200];
        if (wr_endpoint_parse(f->extorport, WR_EP_NONZERO_PORT, &cfg->extorport, e, sizeof e) != 0)
            return fail(err, errlen, "bad -extorport: %s", e);
        if (wr_extor_read_cookie(f->authcookie, cfg->extor_cookie, e, sizeof e) != 0)
            return fail(err, errlen, "%s", e);
        cfg->has_extorport = 1;
        return 0;
    }
    /* Free: the transport names destinations itself, or a mux stream's OPEN does. */
    int any_free = 0;
    const char *names[WR_MAX_TRANSPORTS];
    for (size_t i = 0; i < cfg->n_transports; i++)
        names[i] = cfg->transports[i].name;
    for (size_t i = 0; i < cfg->n_transports; i++) {
        json_t *o = cfg->transports[i].t ? wr_options_for(cfg->options, names[i], names, cfg->n_transports) : NULL;
        if (cfg->transports[i].t && (cfg->transports[i].t->free_server || wr_opt_bool(o, "mux", 0) == 1))
            any_free = 1;
        json_decref(o);
    }
    if (!cfg->has_target && !any_free)
        return fail(err, errlen, "need -target host:port (or -targethost and -targetport)");
    return 0;
}

int wr_config_build(struct wr_config *cfg, const struct wr_flags *f, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->proxy_percent_encoded = 1;
    if (f->error[0])
        return fail(err, errlen, "%s", f->error);
    if (f->client == 1 && f->server == 1)
        return fail(err, errlen, "-client and -server are mutually exclusive");
    cfg->is_server = f->server == 1;
    cfg->exit_on_stdin_close = f->exit_on_stdin_close == 1;
    cfg->ipc_level = WR_LOG_NONE;
    if (f->ipc_log_level && (wr_log_level_parse(f->ipc_log_level, &cfg->ipc_level) != 0 ||
                             !strcasecmp(f->ipc_log_level, "WARNING")))
        return fail(err, errlen, "bad -ipcLogLevel '%s' (want NONE, ERROR, WARN, INFO or DEBUG)",
                    f->ipc_log_level);
    cfg->log_level = WR_LOG_WARN;
    if (f->log_level && wr_log_level_parse(f->log_level, &cfg->log_level) != 0)
        return fail(err, errlen, "bad -logLevel '%s' (want NONE, ERROR, WARN, INFO or DEBUG)", f->log_level);
    cfg->enable_logging = f->enable_logging == 1;
    cfg->unsafe_logging = f->unsafe_logging == 1;
    if (parse_transports(cfg, f, err, errlen) != 0 || parse_mode(cfg, f, err, errlen) != 0 ||
        parse_options(cfg, f, err, errlen) != 0)
        return -1;
    if ((cfg->is_server ? server_rules : client_rules)(cfg, f, err, errlen) != 0)
        return -1;
    return make_state_dir(cfg, f, err, errlen);
}

void wr_config_free(struct wr_config *cfg)
{
    json_decref(cfg->options);
    cfg->options = NULL;
}
