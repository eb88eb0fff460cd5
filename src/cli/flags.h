/* flags.h: argv as Go's flag package reads it (one or two dashes, "-f v" and "-f=v", bool
 * flags bare or "-f=true"), with every flag of seed 004 §1.1 and the spellings real parents
 * still send. Pure: fills struct wr_flags and reports the first problem; checking that the
 * flags make sense together is config.c's job. */
#ifndef WARREN_CLI_FLAGS_H
#define WARREN_CLI_FLAGS_H

#include <stddef.h>

struct wr_flags {
    /* Strings: NULL when not given (the last one wins when repeated, as in Go). */
    const char *ptversion, *state, *ipc_log_level, *log_level;
    const char *transport, *transports, *options, *options_file, *mode;
    const char *proxylistenaddr, *proxylistenhost, *proxylistenport, *proxy;
    const char *bindaddr, *bindhost, *bindport;
    const char *target, *targethost, *targetport, *extorport, *authcookie;
    /* Bools: -1 when not given, else 0/1. */
    int exit_on_stdin_close, client, server, transparent, udp;
    int enable_logging, unsafe_logging, show_version, help;
    int orport_used;                  /* -orport (an old name of -target) was given */
    char error[256];                  /* first problem found, "" if none */
};

/* Returns 0, or -1 with flags->error set. Parsing goes on after an error so that -ptversion is
 * still known for the VERSION line that must precede the ENV-ERROR. */
int wr_flags_parse(struct wr_flags *flags, int argc, char *const *argv);

/* The usage text for -h. */
const char *wr_flags_usage(void);

#endif
