/* warren.c: one run of the dispatcher, in the order seed 004 prescribes: flags, VERSION,
 * validation (ENV-ERROR), the upstream proxy (PROXY DONE/PROXY-ERROR), one listener per known
 * transport (CMETHOD/SMETHOD or their -ERROR), DONE, then the event loop until a stop request:
 * SIGTERM/SIGINT, stdin closed (with -exit-on-stdin-close) or the parent gone. */
#include "warren.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "cli/config.h"
#include "cli/flags.h"
#include "core/ctx.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/options.h"
#include "ipc/ipc.h"
#include "ipc/pt1.h"
#include "ipc/sip003.h"
#include "modes/modes.h"

struct run {
    struct wr_config cfg;
    struct wr_ctx ctx;
    struct wr_proxy proxy;
    struct wr_method methods[WR_MAX_TRANSPORTS];
    size_t n_methods;
    struct event *sigterm, *sigint, *sighup, *stdin_ev, *parent_timer, *stop_ev;
    pid_t parent;
    int stopping;
};

static struct event *volatile stop_event;

const char *warren_version(void)
{
    return WARREN_VERSION;
}

void warren_request_stop(void)
{
    struct event *ev = stop_event;
    if (ev)
        event_active(ev, EV_READ, 0);
}

static void stop(struct run *r, const char *why)
{
    if (r->stopping)
        return;
    r->stopping = 1;
    wr_info("shutting down: %s", why);
    for (size_t i = 0; i < r->n_methods; i++) {
        wr_listener_free(r->methods[i].listener);
        r->methods[i].listener = NULL;
    }
    wr_ctx_kill_all(&r->ctx);
    event_base_loopexit(r->ctx.base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    if (sig == SIGHUP) {
        wr_info("ignoring SIGHUP");
        return;
    }
    stop(arg, sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void on_stop_request(evutil_socket_t fd, short what, void *arg)
{
    stop(arg, "stop requested");
}

static void on_stdin(evutil_socket_t fd, short what, void *arg)
{
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        stop(arg, "stdin closed");
}

static void on_parent_check(evutil_socket_t fd, short what, void *arg)
{
    struct run *r = arg;
    if (getppid() != r->parent)
        stop(r, "the parent process exited");
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int setup_loop(struct run *r)
{
    struct event_base *base = r->ctx.base;
    r->sigterm = evsignal_new(base, SIGTERM, on_signal, r);
    r->sigint = evsignal_new(base, SIGINT, on_signal, r);
    r->sighup = evsignal_new(base, SIGHUP, on_signal, r);
    r->stop_ev = event_new(base, -1, 0, on_stop_request, r);
    r->parent_timer = event_new(base, -1, EV_PERSIST, on_parent_check, r);
    if (!r->sigterm || !r->sigint || !r->sighup || !r->stop_ev || !r->parent_timer)
        return -1;
    event_add(r->sigterm, NULL);
    event_add(r->sigint, NULL);
    event_add(r->sighup, NULL);
    event_add(r->stop_ev, NULL);
    stop_event = r->stop_ev;
    struct timeval sec = { 1, 0 };
    event_add(r->parent_timer, &sec);
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
    if (r->cfg.exit_on_stdin_close) {
        /* Only pipes, sockets and terminals can be polled. epoll refuses a file or /dev/null,
         * but only when the loop runs (the changelist defers the add), so decide now: read
         * such a stdin once; EOF means closed. */
        struct stat st;
        int pollable = fstat(STDIN_FILENO, &st) == 0 &&
                       (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || isatty(STDIN_FILENO));
        if (pollable)
            r->stdin_ev = event_new(base, STDIN_FILENO, EV_READ | EV_PERSIST, on_stdin, r);
        if (!pollable || !r->stdin_ev || event_add(r->stdin_ev, NULL) != 0) {
            char c;
            if (read(STDIN_FILENO, &c, 1) <= 0)
                event_active(r->stop_ev, EV_READ, 0);
        }
    }
    return 0;
}

static const char *const *requested_names(const struct wr_config *cfg, const char **names)
{
    for (size_t i = 0; i < cfg->n_transports; i++)
        names[i] = cfg->transports[i].name;
    return names;
}

/* Starts one transport; prints its CMETHOD/SMETHOD or the -ERROR line. */
static void start_method(struct run *r, const struct wr_transport_req *req)
{
    const struct wr_config *cfg = &r->cfg;
    struct wr_method *m = &r->methods[r->n_methods];
    char err[512], args[WR_SMETHOD_ARGS_MAX], addr[WR_ADDRSTRLEN];
    const char *names[WR_MAX_TRANSPORTS];
    memset(m, 0, sizeof *m);
    m->ctx = &r->ctx;
    m->name = req->name;
    m->t = req->t;
    m->mode = cfg->mode;
    m->is_server = cfg->is_server;
    m->opts = wr_options_for(cfg->options, req->name, requested_names(cfg, names), cfg->n_transports);
    if (!m->opts) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    if (!cfg->is_server && cfg->client_server_address && !json_object_get(m->opts, "serverAddress")) {
        wr_warn("-target on a client is an old spelling; using it as the option serverAddress");
        json_object_set_new(m->opts, "serverAddress", json_string(cfg->client_server_address));
    }
    const struct wr_endpoint *bind = &cfg->listen;
    if (cfg->is_server) {
        if (!req->has_bind) {
            snprintf(err, sizeof err, "no bind address for this transport in -bindaddr");
            goto fail;
        }
        bind = &req->bind;
        m->target = cfg->target;
        m->has_target = cfg->has_target;
        m->mux = wr_opt_bool(m->opts, "mux", 0);
        if (m->mux < 0) {
            snprintf(err, sizeof err, "mux must be true or false");
            goto fail;
        }
        m->has_extorport = cfg->has_extorport;
        m->extorport = cfg->extorport;
        m->extor_cookie = cfg->extor_cookie;
        if (!m->has_target && !m->has_extorport && !m->t->free_server && !m->mux) {
            snprintf(err, sizeof err, "needs -target host:port (it cannot take destinations from clients)");
            goto fail;
        }
        m->allow_private = wr_opt_bool(m->opts, "allowPrivateDestinations", 0);
        if (m->allow_private < 0) {
            snprintf(err, sizeof err, "allowPrivateDestinations must be true or false");
            goto fail;
        }
        if (m->t->server_init(&r->ctx, m->opts, cfg->mode, cfg->state_given ? cfg->state_dir : NULL,
                              &m->tstate, args, err,
                              sizeof err) != 0)
            goto fail;
    } else {
        if (req->has_bind) {
            wr_warn("-bindaddr on a client is an old spelling of -proxylistenaddr");
            bind = &req->bind;
        }
        if (wr_opt_bool(m->opts, "mux", 0) < 0) {
            snprintf(err, sizeof err, "mux must be true or false");
            goto fail;
        }
        if (m->t->client_init(&r->ctx, m->opts, cfg->mode, &m->tstate, err, sizeof err) != 0)
            goto fail;
    }
    int udp = cfg->mode == WR_MODE_TRANSPARENT_UDP || cfg->mode == WR_MODE_STUN;
    if (udp && !cfg->is_server) {
        if (!wr_udp_client_new(m, bind, err, sizeof err)) {
            m->t->free_state(m->tstate);
            goto fail;
        }
        wr_endpoint_format(wr_udp_client_addr(m->udp), addr, sizeof addr);
    } else {
        wr_accept_cb *accept = cfg->is_server ? (udp ? wr_udp_server_accept : wr_server_accept)
                             : cfg->mode == WR_MODE_SOCKS5 ? wr_socks5_accept : wr_transparent_tcp_accept;
        m->listener = wr_listener_new(&r->ctx, bind, accept, m, err, sizeof err);
        if (!m->listener) {
            m->t->free_state(m->tstate);
            goto fail;
        }
        wr_endpoint_format(wr_listener_addr(m->listener), addr, sizeof addr);
    }
    if (cfg->is_server) {
        wr_ipc_smethod(m->name, addr, args);
        if (m->t->server_announce)
            m->t->server_announce(m->tstate, wr_listener_addr(m->listener));
        if (m->has_extorport)
            wr_info("%s server listening on %s, forwarding to tor's ExtORPort %s", m->name, addr,
                    cfg->extorport.host);
        else if (m->has_target)
            wr_info("%s server listening on %s, forwarding to %s", m->name, addr,
                    wr_safe(cfg->target.host));
        else
            wr_info("%s server listening on %s, forwarding where each client asks%s", m->name,
                    addr, m->allow_private ? " (private destinations allowed)" : "");
    } else {
        wr_ipc_cmethod(m->name, wr_mode_name(cfg->mode), addr);
        wr_info("%s client (%s) listening on %s", m->name, wr_mode_name(cfg->mode), addr);
    }
    r->n_methods++;
    return;
fail:
    json_decref(m->opts);
    if (cfg->is_server)
        wr_ipc_smethod_error(req->name, err);
    else
        wr_ipc_cmethod_error(req->name, err);
    wr_warn("%s: %s", req->name, err);
}

static void teardown(struct run *r)
{
    stop_event = NULL;
    for (size_t i = 0; i < r->n_methods; i++)
        wr_listener_free(r->methods[i].listener);
    wr_ctx_free(&r->ctx);
    for (size_t i = 0; i < r->n_methods; i++) {
        r->methods[i].t->free_state(r->methods[i].tstate);
        json_decref(r->methods[i].opts);
    }
    struct event *evs[] = { r->sigterm, r->sigint, r->sighup, r->stdin_ev, r->parent_timer, r->stop_ev };
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i])
            event_free(evs[i]);
    if (r->ctx.base)
        event_base_free(r->ctx.base);
    wr_config_free(&r->cfg);
    wr_log_set_sink(NULL, WR_LOG_NONE);
    wr_log_set_file(NULL);
}

static int run(int argc, char **argv);

int warren_main(int argc, char **argv)
{
    /* Started bare by shadowsocks-libev as a SIP003 plugin: the environment says what to do. */
    if (argc <= 1) {
        char **sargv, err[300];
        int sargc;
        int r = wr_sip003_argv(&sargv, &sargc, err, sizeof err);
        if (r < 0) {
            fprintf(stderr, "warren: %s\n", err);
            return WARREN_EXIT_USAGE;
        }
        if (r > 0) {
            int rc = run(sargc, sargv);
            wr_sip003_free(sargv, sargc);
            return rc;
        }
    }
    return run(argc, argv);
}

static int run(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    struct wr_flags flags;
    wr_flags_parse(&flags, argc, argv);
    if (flags.help == 1) {
        fputs(wr_flags_usage(), stdout);
        return WARREN_EXIT_OK;
    }
    if (flags.show_version == 1) {
        printf("warren %s\n", WARREN_VERSION);
        return WARREN_EXIT_OK;
    }
    int pt1 = wr_pt1_detect(&flags);
    wr_ipc_set_proto(pt1 ? WR_IPC_PT1 : WR_IPC_PT3);
    const char *version = pt1 ? wr_pt1_version() : wr_config_version(flags.ptversion);
    if (!version) {
        wr_ipc_version_error("no-version");
        return WARREN_EXIT_CONFIG;
    }
    wr_ipc_version(version);

    struct run *r = calloc(1, sizeof *r);
    char err[512];
    if (!r) {
        wr_ipc_env_error("out of memory");
        return WARREN_EXIT_USAGE;
    }
    struct wr_pt1 pt1_env = { 0 };
    int bad = pt1 && wr_pt1_apply_flags(&flags, &pt1_env, err, sizeof err) != 0;
    bad = bad || wr_config_build(&r->cfg, &flags, err, sizeof err) != 0;
    bad = bad || (pt1 && wr_pt1_apply_config(&r->cfg, err, sizeof err) != 0);
    wr_pt1_free(&pt1_env);
    if (bad) {
        wr_ipc_env_error("%s", err);
        wr_config_free(&r->cfg);
        free(r);
        return WARREN_EXIT_USAGE;
    }
    struct wr_config *cfg = &r->cfg;
    wr_log_set_stderr_level(cfg->log_level);
    wr_log_set_unsafe(cfg->unsafe_logging);
    wr_log_set_sink(wr_ipc_log, cfg->ipc_level);
    if (cfg->enable_logging) {
        char path[PATH_MAX + 16];
        snprintf(path, sizeof path, "%s/warren.log", cfg->state_dir);
        FILE *f = fopen(path, "a");
        if (!f) {
            wr_ipc_env_error("cannot open the log file %s: %s", path, strerror(errno));
            teardown(r);
            free(r);
            return WARREN_EXIT_USAGE;
        }
        wr_log_set_file(f);
    }
    raise_fd_limit();
    r->parent = getppid();
    /* The changelist merges the add and delete of one socket's events made within one
     * callback into a single epoll_ctl (or none): a tunnel's set-up does several. */
    struct event_config *ecfg = event_config_new();
    if (ecfg)
        event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    struct event_base *base = ecfg ? event_base_new_with_config(ecfg) : NULL;
    if (ecfg)
        event_config_free(ecfg);
    if (!base || wr_ctx_init(&r->ctx, base, err, sizeof err) != 0) {
        if (base)
            r->ctx.base = base;
        wr_ipc_env_error("cannot start the event loop: %s", base ? err : "event_base_new failed");
        teardown(r);
        free(r);
        return WARREN_EXIT_USAGE;
    }
    if (!cfg->is_server && cfg->proxy) {
        if (wr_proxy_parse(cfg->proxy, cfg->proxy_percent_encoded, &r->proxy, err, sizeof err) != 0) {
            wr_ipc_proxy_error(err);
            teardown(r);
            free(r);
            return WARREN_EXIT_UNAVAILABLE;
        }
        r->ctx.proxy = &r->proxy;
        wr_ipc_proxy_done();
    }
    if (cfg->has_outbound_v4)
        r->ctx.bind_v4 = (const struct sockaddr *)&cfg->outbound_v4;
    if (cfg->has_outbound_v6)
        r->ctx.bind_v6 = (const struct sockaddr *)&cfg->outbound_v6;
    const char *hs = getenv("WARREN_HANDSHAKE_TIMEOUT");
    if (hs && atoi(hs) > 0)
        r->ctx.handshake_timeout_s = atoi(hs);
    const char *ct = getenv("WARREN_CONNECT_TIMEOUT");
    if (ct && atoi(ct) > 0)
        r->ctx.connect_timeout_s = atoi(ct);
    if (setup_loop(r) != 0) {
        wr_ipc_env_error("cannot set up signal handling");
        teardown(r);
        free(r);
        return WARREN_EXIT_USAGE;
    }
    for (size_t i = 0; i < cfg->n_transports; i++) {
        struct wr_transport_req *req = &cfg->transports[i];
        if (req->t)
            start_method(r, req);
        else if (pt1 && strcmp(req->name, "*") != 0) {
            /* PT 3.0 ignores unknown names; tor (PT 1.0) is told, as obfs4proxy tells it. */
            if (cfg->is_server)
                wr_ipc_smethod_error(req->name, "no such transport is supported");
            else
                wr_ipc_cmethod_error(req->name, "no such transport is supported");
        }
    }
    if (cfg->is_server)
        wr_ipc_smethods_done();
    else
        wr_ipc_cmethods_done();

    event_base_dispatch(r->ctx.base);
    teardown(r);
    free(r);
    return WARREN_EXIT_OK;
}
