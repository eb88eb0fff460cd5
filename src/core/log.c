/* log.c: formatting and routing of log lines; see log.h. */
#include "core/log.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static enum wr_log_level stderr_level = WR_LOG_WARN;
static enum wr_log_level sink_level = WR_LOG_NONE;
static wr_log_sink_fn *sink;
static FILE *logfile;
static int unsafe_logging;

static const char *const level_names[] = { "NONE", "ERROR", "WARN", "INFO", "DEBUG" };

int wr_log_level_parse(const char *s, enum wr_log_level *out)
{
    for (int i = 0; i <= WR_LOG_DEBUG; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum wr_log_level)i;
            return 0;
        }
    }
    if (strcasecmp(s, "WARNING") == 0) {
        *out = WR_LOG_WARN;
        return 0;
    }
    return -1;
}

const char *wr_log_level_name(enum wr_log_level level)
{
    return level <= WR_LOG_DEBUG ? level_names[level] : "?";
}

void wr_log_set_stderr_level(enum wr_log_level level) { stderr_level = level; }
void wr_log_set_unsafe(int unsafe) { unsafe_logging = unsafe; }

void wr_log_set_file(FILE *f)
{
    if (logfile)
        fclose(logfile);
    logfile = f;
}

void wr_log_set_sink(wr_log_sink_fn *fn, enum wr_log_level level)
{
    sink = fn;
    sink_level = level;
}

int wr_log_enabled(enum wr_log_level level)
{
    return level != WR_LOG_NONE && (level <= stderr_level || (sink && level <= sink_level));
}

const char *wr_safe(const char *s)
{
    return unsafe_logging ? s : "[scrubbed]";
}

void wr_log(enum wr_log_level level, const char *fmt, ...)
{
    if (!wr_log_enabled(level))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    if (level <= stderr_level) {
        char line[1200];
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        int n = snprintf(line, sizeof line, "%04d-%02d-%02d %02d:%02d:%02d.%03ld warren[%ld] %s: %s\n",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                         tm.tm_sec, ts.tv_nsec / 1000000, (long)getpid(), level_names[level], msg);
        if (n > (int)sizeof line - 1)
            n = (int)sizeof line - 1;
        if (logfile) {
            fwrite(line, 1, (size_t)n, logfile);
            fflush(logfile);
        } else {
            /* One write per line so lines from concurrent writers never interleave. */
            ssize_t w = write(STDERR_FILENO, line, (size_t)n);
            (void)w;
        }
    }
    if (sink && level <= sink_level)
        sink(level, msg);
}

int wr_ratelim_allow(struct wr_ratelim *rl, int secs, unsigned *suppressed_out)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (rl->last && ts.tv_sec - rl->last < secs) {
        rl->suppressed++;
        return 0;
    }
    rl->last = ts.tv_sec ? ts.tv_sec : 1;
    if (suppressed_out)
        *suppressed_out = rl->suppressed;
    rl->suppressed = 0;
    return 1;
}
