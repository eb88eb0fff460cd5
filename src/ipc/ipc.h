/* ipc.h: the lines warren writes to its parent (seed 004 §1.2). Each line is written with one
 * write(2), so it is flushed at once and never interleaves; nothing else goes to stdout.
 * In PT 3.0 mode errors go to stderr and everything else to stdout; in PT 1.0 (tor) mode
 * every line goes to stdout. Arguments are made safe: ASCII only, no control bytes
 * (goptlib-derived parents panic on bytes >= 0x80), others written as \xNN. */
#ifndef WARREN_IPC_IPC_H
#define WARREN_IPC_IPC_H

#include <stddef.h>

#include "core/log.h"

enum wr_ipc_proto { WR_IPC_PT3 = 3, WR_IPC_PT1 = 1 };

void wr_ipc_set_proto(enum wr_ipc_proto proto);
/* Overrides the file descriptors (tests); defaults 1 and 2. */
void wr_ipc_set_fds(int out_fd, int err_fd);

/* Formats "KEYWORD args\n" into buf with args made safe; returns the length (truncated lines
 * still end in '\n'). Pure; used by every writer below. */
size_t wr_ipc_format(char *buf, size_t len, const char *keyword, const char *args);

void wr_ipc_version(const char *version);
void wr_ipc_version_error(const char *msg);
void wr_ipc_env_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void wr_ipc_proxy_done(void);
void wr_ipc_proxy_error(const char *msg);
void wr_ipc_cmethod(const char *transport, const char *mode, const char *addr);
void wr_ipc_cmethod_error(const char *transport, const char *msg);
void wr_ipc_cmethods_done(void);
/* args: already escaped "k=v,k=v" (see wr_kv_append_arg), or NULL/"" for none. */
void wr_ipc_smethod(const char *transport, const char *addr, const char *args);
void wr_ipc_smethod_error(const char *transport, const char *msg);
void wr_ipc_smethods_done(void);
/* PT 1.0 only (nothing in PT 3.0): "STATUS TRANSPORT=t ADDRESS=a CONNECT=Success|Failed
 * [ERRSTR="..."]", the outcome of a client connection to a bridge, which tor logs. */
void wr_ipc_status(const char *transport, const char *address, int ok, const char *err);
/* The logger's sink: "LOG <LEVEL> <msg>" (PT 3.0) or "LOG SEVERITY=.. MESSAGE=.." (PT 1.0). */
void wr_ipc_log(enum wr_log_level level, const char *msg);

#endif
