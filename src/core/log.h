/* log.h: the one logger. Human lines go to stderr (and optionally a file in the state
 * directory); the same events go to the parent as IPC "LOG" lines through a sink that the IPC
 * module installs, filtered by -ipcLogLevel. Addresses are scrubbed unless -unsafeLogging. */
#ifndef WARREN_CORE_LOG_H
#define WARREN_CORE_LOG_H

#include <stdio.h>

enum wr_log_level { WR_LOG_NONE = 0, WR_LOG_ERROR, WR_LOG_WARN, WR_LOG_INFO, WR_LOG_DEBUG };

typedef void wr_log_sink_fn(enum wr_log_level level, const char *msg);

/* Parses NONE|ERROR|WARN|INFO|DEBUG (case-insensitive; WARNING accepted); 0 ok, -1 bad. */
int wr_log_level_parse(const char *s, enum wr_log_level *out);
const char *wr_log_level_name(enum wr_log_level level);

void wr_log_set_stderr_level(enum wr_log_level level);
void wr_log_set_file(FILE *f);                 /* takes ownership; NULL closes */
void wr_log_set_sink(wr_log_sink_fn *sink, enum wr_log_level level);
void wr_log_set_unsafe(int unsafe);
int  wr_log_enabled(enum wr_log_level level);

void wr_log(enum wr_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define wr_err(...)   wr_log(WR_LOG_ERROR, __VA_ARGS__)
#define wr_warn(...)  wr_log(WR_LOG_WARN, __VA_ARGS__)
#define wr_info(...)  wr_log(WR_LOG_INFO, __VA_ARGS__)
#define wr_debug(...) wr_log(WR_LOG_DEBUG, __VA_ARGS__)

/* Returns s, or "[scrubbed]" unless unsafe logging is on: for addresses of users and targets. */
const char *wr_safe(const char *s);

/* Rate limit for lines a remote party can trigger: true at most once per `secs` per limiter. */
struct wr_ratelim { long long last; unsigned suppressed; };
int wr_ratelim_allow(struct wr_ratelim *rl, int secs, unsigned *suppressed_out);

#endif
