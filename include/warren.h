/* warren.h: the embeddable API of warren, a Pluggable Transport v3.0 dispatcher.
 *
 * The dispatcher is meant to run as a child process that speaks the PT IPC protocol on its
 * stdout; an application that prefers to link it can call warren_main() from a thread or a
 * forked child with the same arguments it would pass on the command line. Everything warren
 * does (flags, protocol lines, exit codes) is then exactly what the `warren` program does. */
#ifndef WARREN_H
#define WARREN_H

#ifdef __cplusplus
extern "C" {
#endif

/* Exit codes of seed 004: 0 after a graceful shutdown, 64 after ENV-ERROR, 69 after
 * PROXY-ERROR, 78 after VERSION-ERROR. */
enum {
    WARREN_EXIT_OK = 0,
    WARREN_EXIT_USAGE = 64,
    WARREN_EXIT_UNAVAILABLE = 69,
    WARREN_EXIT_CONFIG = 78,
};

/* "0.1.0" */
const char *warren_version(void);

/* Runs the dispatcher with command-line arguments (argv[0] is the program name) until it is
 * told to stop (SIGTERM, SIGINT, stdin closed with -exit-on-stdin-close, or the parent
 * process gone), and returns the exit code. */
int warren_main(int argc, char **argv);

/* Asks a running warren_main() to shut down gracefully, as SIGTERM would. Safe to call from
 * a signal handler or another thread. */
void warren_request_stop(void);

#ifdef __cplusplus
}
#endif

#endif
