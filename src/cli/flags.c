/* flags.c: Go-flag-compatible argv parsing; see flags.h. */
#include "cli/flags.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum kind { STR, BOOL, VERSION };

struct flagdef {
    const char *name;
    enum kind kind;
    size_t off;                       /* offset in struct wr_flags */
};

#define S(n, f) { n, STR, offsetof(struct wr_flags, f) }
#define B(n, f) { n, BOOL, offsetof(struct wr_flags, f) }

static const struct flagdef defs[] = {
    S("ptversion", ptversion), S("state", state), S("ipcLogLevel", ipc_log_level),
    S("transport", transport), S("transports", transports), S("options", options),
    S("optionsFile", options_file), S("mode", mode), S("proxylistenaddr", proxylistenaddr),
    S("proxylistenhost", proxylistenhost), S("proxylistenport", proxylistenport),
    S("proxy", proxy), S("bindaddr", bindaddr), S("bindhost", bindhost), S("bindport", bindport),
    S("target", target), S("targethost", targethost), S("targetport", targetport),
    S("extorport", extorport), S("authcookie", authcookie),
    B("exit-on-stdin-close", exit_on_stdin_close), B("client", client), B("server", server),
    /* Spellings from earlier PT versions and shapeshifter-dispatcher that parents still send. */
    S("orport", target), S("logLevel", log_level),
    B("transparent", transparent), B("udp", udp), B("enableLogging", enable_logging),
    B("unsafeLogging", unsafe_logging), B("showVersion", show_version),
    { "version", VERSION, 0 },
    B("h", help), B("help", help),
    { "enableLocket", BOOL, (size_t)-1 },   /* accepted and ignored */
};

static int parse_bool(const char *s, int *out)
{
    static const char *const t[] = { "1", "t", "T", "true", "TRUE", "True" };
    static const char *const f[] = { "0", "f", "F", "false", "FALSE", "False" };
    for (size_t i = 0; i < 6; i++) {
        if (!strcmp(s, t[i])) { *out = 1; return 0; }
        if (!strcmp(s, f[i])) { *out = 0; return 0; }
    }
    return -1;
}

/* A token that may follow a bare bool flag as its value ("-exit-on-stdin-close 1"): only the
 * unambiguous spellings, since anything else would be a positional argument. */
static int is_bool_word(const char *s)
{
    return !strcmp(s, "1") || !strcmp(s, "0") || !strcmp(s, "true") || !strcmp(s, "false");
}

static void set_error(struct wr_flags *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct wr_flags *f, const char *fmt, ...)
{
    if (!f->error[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(f->error, sizeof f->error, fmt, ap);
        va_end(ap);
    }
}

int wr_flags_parse(struct wr_flags *f, int argc, char *const *argv)
{
    memset(f, 0, sizeof *f);
    int *bools[] = { &f->exit_on_stdin_close, &f->client, &f->server, &f->transparent, &f->udp,
                     &f->enable_logging, &f->unsafe_logging, &f->show_version, &f->help };
    for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++)
        *bools[i] = -1;

    int i = 1;
    for (; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--")) {
            i++;
            break;
        }
        if (arg[0] != '-' || arg[1] == '\0') {
            if (!strcmp(arg, "managed"))      /* from old torrc lines: "exec /path managed" */
                continue;
            set_error(f, "unexpected argument '%s' (flags start with '-')", arg);
            continue;
        }
        const char *name = arg + 1 + (arg[1] == '-');
        if (!*name || *name == '-' || *name == '=') {
            set_error(f, "bad flag syntax: %s", arg);
            continue;
        }
        const char *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        const struct flagdef *d = NULL;
        for (size_t k = 0; k < sizeof defs / sizeof defs[0]; k++) {
            if (strlen(defs[k].name) == nl && !strncmp(defs[k].name, name, nl)) {
                d = &defs[k];
                break;
            }
        }
        if (!d) {
            char nm[96];
            snprintf(nm, sizeof nm, "%.*s", (int)(nl > 80 ? 80 : nl), name);
            set_error(f, "flag provided but not defined: -%s", nm);
            continue;
        }
        if (d->kind == STR) {
            const char *val;
            if (eq) {
                val = eq + 1;
            } else if (i + 1 < argc) {
                val = argv[++i];
            } else {
                set_error(f, "flag needs an argument: -%s", d->name);
                continue;
            }
            *(const char **)((char *)f + d->off) = val;
            if (!strcmp(d->name, "orport"))
                f->orport_used = 1;
            continue;
        }
        if (d->kind == VERSION) {
            /* Bare "-version" printed the version in 2016-2019 dispatchers; "-version 2" (still in
             * shapeshifter's usage text) meant -ptversion. */
            int b;
            if (eq) {
                if (parse_bool(eq + 1, &b) == 0)
                    f->show_version = b;
                else
                    f->ptversion = eq + 1;
            } else if (i + 1 < argc && argv[i + 1][0] != '-' && !is_bool_word(argv[i + 1])) {
                f->ptversion = argv[++i];
            } else {
                f->show_version = 1;
                if (i + 1 < argc && is_bool_word(argv[i + 1]))
                    parse_bool(argv[++i], &f->show_version);
            }
            continue;
        }
        int val = 1;
        if (eq) {
            if (parse_bool(eq + 1, &val) != 0) {
                set_error(f, "invalid boolean value for flag %s", arg);
                continue;
            }
        } else if (i + 1 < argc && is_bool_word(argv[i + 1])) {
            parse_bool(argv[++i], &val);
        }
        if (d->off != (size_t)-1)
            *(int *)((char *)f + d->off) = val;
    }
    for (; i < argc; i++)
        set_error(f, "unexpected argument '%s' after '--'", argv[i]);
    return f->error[0] ? -1 : 0;
}

const char *wr_flags_usage(void)
{
    return
"Usage: warren [-client|-server] -transport NAME|-transports A,B [flags]\n"
"\n"
"warren is a Pluggable Transport v3.0 dispatcher. An application starts it as a child\n"
"process and reads the protocol lines it prints on stdout (VERSION, CMETHOD/SMETHOD, ...).\n"
"Flags take one or two dashes, and a value as '-flag value' or '-flag=value'.\n"
"\n"
"Common:\n"
"  -ptversion LIST         PT versions the parent supports, e.g. 3.0 (default: answer 3.0)\n"
"  -state DIR              directory for persistent state (default: current directory)\n"
"  -exit-on-stdin-close    exit cleanly when stdin is closed\n"
"  -ipcLogLevel LEVEL      LOG lines to the parent: NONE (default), ERROR, WARN, INFO, DEBUG\n"
"  -transport NAME         one transport (plain; '*' with -transports means all)\n"
"  -transports A,B         several transports; unknown names are ignored\n"
"  -options JSON           transport options: {\"plain\":{...}} or one flat object\n"
"  -optionsFile PATH       the same, read from a file\n"
"  -mode MODE              socks5 (default) or transparent-TCP\n"
"  -client / -server       role (default: client)\n"
"Client:\n"
"  -proxylistenaddr IP:PORT   where the client listens (default 127.0.0.1:0)\n"
"  -proxylistenhost IP -proxylistenport PORT   the same, in two parts\n"
"  -proxy URI              upstream proxy: socks5://[user:pass@]ip:port, socks4a://[user@]ip:port,\n"
"                          http://[user:pass@]ip:port; if it fails, connections fail\n"
"Server:\n"
"  -bindaddr NAME-IP:PORT[,NAME-IP:PORT]   where each transport listens\n"
"  -bindhost IP -bindport PORT   the same for the single -transport\n"
"  -target HOST:PORT       where the server forwards (IPv4, [IPv6] or a DNS name)\n"
"  -targethost HOST -targetport PORT   the same, in two parts\n"
"  -extorport IP:PORT -authcookie PATH   forward through tor's Extended ORPort\n"
"Logging and compatibility:\n"
"  -logLevel LEVEL         stderr log level (default WARN); -enableLogging writes it to\n"
"                          warren.log in the state directory instead\n"
"  -unsafeLogging          log addresses instead of [scrubbed]\n"
"  -transparent, -udp      old spelling of -mode; -orport = -target; -version N = -ptversion N\n"
"  -showVersion, -version  print the version and exit; -h this help\n";
}
