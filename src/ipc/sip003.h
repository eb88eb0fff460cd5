/* sip003.h: warren as a Shadowsocks SIP003 plugin. shadowsocks-libev starts a plugin with no
 * arguments and describes the job in its environment (SS_REMOTE_HOST/PORT, SS_LOCAL_HOST/PORT,
 * SS_PLUGIN_OPTIONS). This module turns that environment into the command line warren would
 * otherwise be given, so the rest of warren does not know the difference:
 *   client: -client -mode transparent-TCP -proxylistenaddr SS_LOCAL, serverAddress = SS_REMOTE
 *   server (the word "server" in the options): -server -bindaddr T-SS_REMOTE -target SS_LOCAL
 * SS_PLUGIN_OPTIONS is "k=v;k=v;word" with '\' escaping; transport=NAME picks the transport
 * (default plain), state=DIR is -state (where obfs4 keeps its identity), the other pairs are
 * the transport's options. */
#ifndef WARREN_IPC_SIP003_H
#define WARREN_IPC_SIP003_H

#include <stddef.h>

/* 1 when the environment asks for a SIP003 plugin (then *argv and *argc are set, to free with
 * wr_sip003_free), 0 when it does not, -1 with err when it is malformed. */
int wr_sip003_argv(char ***argv, int *argc, char *err, size_t errlen);
void wr_sip003_free(char **argv, int argc);

/* Pure: parses SS_PLUGIN_OPTIONS into a JSON text {"k":"v",...} (without "server" and
 * "transport"), the transport name and the server flag. 0, or -1 with err. */
int wr_sip003_parse_options(const char *opts, char *json_out, size_t json_len, char *transport,
                            size_t transport_len, int *is_server, char *err, size_t errlen);

#endif
