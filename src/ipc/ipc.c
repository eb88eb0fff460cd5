/* ipc.c: parent-protocol line writer; see ipc.h. */
#include "ipc/ipc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static enum wr_ipc_proto proto = WR_IPC_PT3;
static int out_fd = 1, err_fd = 2;

void wr_ipc_set_proto(enum wr_ipc_proto p) { proto = p; }

void wr_ipc_set_fds(int o, int e)
{
    out_fd = o;
    err_fd = e;
}

size_t wr_ipc_format(char *buf, size_t len, const char *keyword, const char *args)
{
    static const char hex[] = "0123456789abcdef";
    if (len < 2)
        return 0;
    size_t n = 0, lim = len - 1; /* room for '\n' */
    for (const char *k = keyword; *k && n < lim; k++)
        buf[n++] = *k;
    if (args && *args && n < lim)
        buf[n++] = ' ';
    for (const unsigned char *a = (const unsigned char *)args; a && *a; a++) {
        if (*a >= 0x20 && *a < 0x7f) {
            if (n >= lim)
                break;
            buf[n++] = (char)*a;
        } else {
            if (n + 4 > lim)
                break;
            buf[n++] = '\\';
            buf[n++] = 'x';
            buf[n++] = hex[*a >> 4];
            buf[n++] = hex[*a & 15];
        }
    }
    buf[n++] = '\n';
    return n;
}

static void emit(int is_error, const char *keyword, const char *args)
{
    char line[2048];
    size_t n = wr_ipc_format(line, sizeof line, keyword, args);
    int fd = (is_error && proto == WR_IPC_PT3) ? err_fd : out_fd;
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, line + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* the parent is gone; nothing useful to do */
        off += (size_t)w;
    }
}

static void emit2(int is_error, const char *keyword, const char *a, const char *b)
{
    char args[1800];
    snprintf(args, sizeof args, "%s %s", a, b);
    emit(is_error, keyword, args);
}

void wr_ipc_version(const char *v) { emit(0, "VERSION", v); }
void wr_ipc_version_error(const char *msg) { emit(1, "VERSION-ERROR", msg); }

void wr_ipc_env_error(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    emit(1, "ENV-ERROR", msg);
}

void wr_ipc_proxy_done(void) { emit(0, "PROXY", "DONE"); }
void wr_ipc_proxy_error(const char *msg) { emit(1, "PROXY-ERROR", msg); }

void wr_ipc_cmethod(const char *transport, const char *mode, const char *addr)
{
    char args[1800];
    snprintf(args, sizeof args, "%s %s %s", transport, mode, addr);
    emit(0, "CMETHOD", args);
}

void wr_ipc_cmethod_error(const char *transport, const char *msg) { emit2(1, "CMETHOD-ERROR", transport, msg); }
void wr_ipc_cmethods_done(void) { emit(0, "CMETHODS", "DONE"); }

void wr_ipc_smethod(const char *transport, const char *addr, const char *args)
{
    char line[1800];
    if (args && *args)
        snprintf(line, sizeof line, "%s %s ARGS:%s", transport, addr, args);
    else
        snprintf(line, sizeof line, "%s %s", transport, addr);
    emit(0, "SMETHOD", line);
}

void wr_ipc_smethod_error(const char *transport, const char *msg) { emit2(1, "SMETHOD-ERROR", transport, msg); }
void wr_ipc_smethods_done(void) { emit(0, "SMETHODS", "DONE"); }

void wr_ipc_status(const char *transport, const char *address, int ok, const char *err)
{
    if (proto != WR_IPC_PT1)
        return;
    char args[600], e[300];
    if (ok) {
        snprintf(args, sizeof args, "TRANSPORT=%s ADDRESS=%s CONNECT=Success", transport, address);
    } else {
        /* ERRSTR is a quoted string: a '"' or '\\' in the reason would end it early. */
        snprintf(e, sizeof e, "%s", err);
        for (char *q = e; *q; q++)
            if (*q == '"' || *q == '\\')
                *q = '\'';
        snprintf(args, sizeof args, "TRANSPORT=%s ADDRESS=%s CONNECT=Failed ERRSTR=\"%s\"",
                 transport, address, e);
    }
    emit(0, "STATUS", args);
}

void wr_ipc_log(enum wr_log_level level, const char *msg)
{
    if (proto == WR_IPC_PT1) {
        static const char *const sev[] = { "", "error", "warning", "info", "debug" };
        char args[1200];
        /* tor's CString form: the message quoted, with '"' and '\' escaped. */
        size_t n = (size_t)snprintf(args, sizeof args, "SEVERITY=%s MESSAGE=\"", sev[level]);
        for (const char *m = msg; *m && n + 3 < sizeof args; m++) {
            if (*m == '"' || *m == '\\')
                args[n++] = '\\';
            args[n++] = *m;
        }
        args[n++] = '"';
        args[n] = '\0';
        emit(0, "LOG", args);
        return;
    }
    emit2(0, "LOG", wr_log_level_name(level), msg);
}
