/* pt1.h: tor's PT 1.0 managed-proxy environment (pt-spec, TOR_PT_* variables). tor does not
 * pass the PT 3.0 flags; it describes the job in the environment. This module lays that
 * environment over the flags (the environment wins), so the rest of warren runs unchanged:
 *   TOR_PT_CLIENT_TRANSPORTS -> -client -transports;   TOR_PT_PROXY -> -proxy (not
 *   percent-encoded); TOR_PT_SERVER_TRANSPORTS -> -server -transports; TOR_PT_SERVER_BINDADDR
 *   -> -bindaddr; TOR_PT_ORPORT -> -target; TOR_PT_EXTENDED_SERVER_PORT (empty = unset) and
 *   TOR_PT_AUTH_COOKIE_FILE -> -extorport -authcookie; TOR_PT_SERVER_TRANSPORT_OPTIONS ->
 *   -options; TOR_PT_STATE_LOCATION -> -state; TOR_PT_EXIT_ON_STDIN_CLOSE=1 ->
 *   -exit-on-stdin-close; TOR_PT_OUTBOUND_BIND_ADDRESS_V4/_V6 -> source addresses.
 * A run speaks PT 1.0 when the command line has no -ptversion and TOR_PT_MANAGED_TRANSPORT_VER
 * is set; then every line goes to stdout and LOG lines take tor's form (ipc.h). */
#ifndef WARREN_IPC_PT1_H
#define WARREN_IPC_PT1_H

#include <stddef.h>

#include "cli/config.h"
#include "cli/flags.h"

struct wr_pt1 {
    char *options;                      /* -options built from the server transport options */
};

/* 1 when this run speaks PT 1.0. */
int wr_pt1_detect(const struct wr_flags *f);
/* "1" when TOR_PT_MANAGED_TRANSPORT_VER lists version 1, else NULL (VERSION-ERROR). */
const char *wr_pt1_version(void);
/* Lays the environment over f. 0, or -1 with the ENV-ERROR text. Strings in f then point into
 * the environment or into p (free with wr_pt1_free after the config is built). */
int wr_pt1_apply_flags(struct wr_flags *f, struct wr_pt1 *p, char *err, size_t errlen);
/* What flags cannot carry: the raw TOR_PT_PROXY form and the outbound bind addresses. */
int wr_pt1_apply_config(struct wr_config *cfg, char *err, size_t errlen);
void wr_pt1_free(struct wr_pt1 *p);

/* Pure: TOR_PT_SERVER_TRANSPORT_OPTIONS ("t:k=v;t:k2=v2", '\' escapes) as the keyed JSON
 * document {"t":{"k":"v","k2":"v2"}}; a malloc'd string, or NULL with err. */
char *wr_pt1_server_options(const char *s, char *err, size_t errlen);
/* Pure: "127.0.0.5" or "[::1]" (tor brackets IPv6) into a sockaddr of that family, port 0.
 * 0, or -1 when it is not an address of the family. */
int wr_pt1_parse_bind(const char *s, int family, void *sa_out);

#endif
