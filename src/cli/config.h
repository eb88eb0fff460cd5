/* config.h: the validated settings of one run, built from the flags by the rules of seed 004
 * §1.1 and ../docs (exclusions, required pairs, defaults). Every rule broken gives one
 * specific ENV-ERROR text. */
#ifndef WARREN_CLI_CONFIG_H
#define WARREN_CLI_CONFIG_H

#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>

#include "cli/flags.h"
#include "core/addr.h"
#include "core/log.h"
#include "transports/transport.h"

#define WR_MAX_TRANSPORTS 16

struct wr_transport_req {
    char name[64];                          /* as the parent spelled it */
    const struct wr_transport *t;           /* NULL: unknown, ignored silently */
    struct wr_endpoint bind;                /* server; client with an old -bindaddr */
    int has_bind;
};

struct wr_config {
    int is_server;
    enum wr_mode mode;
    char state_dir[PATH_MAX];
    int state_given;                        /* -state was given (else state_dir is the cwd) */
    int exit_on_stdin_close;
    enum wr_log_level ipc_level, log_level;
    int enable_logging, unsafe_logging;
    struct wr_transport_req transports[WR_MAX_TRANSPORTS];
    size_t n_transports;
    json_t *options;                        /* the -options/-optionsFile document, or NULL */
    struct wr_endpoint listen;              /* client */
    const char *proxy;                      /* client: -proxy URI, validated at start */
    struct wr_endpoint target;              /* server */
    int has_target;
    struct wr_endpoint extorport;           /* server behind tor: -extorport, -authcookie */
    int has_extorport;
    uint8_t extor_cookie[32];
    int proxy_percent_encoded;              /* -proxy is (PT 3.0); TOR_PT_PROXY is not */
    /* Source addresses for outgoing connections (tor's OutboundBindAddressPT). */
    struct sockaddr_in outbound_v4;
    struct sockaddr_in6 outbound_v6;
    int has_outbound_v4, has_outbound_v6;
    const char *client_server_address;      /* client given -target (old parents) */
};

/* Negotiates -ptversion. Returns the version to answer with, or NULL (VERSION-ERROR). */
const char *wr_config_version(const char *ptversion_list);

/* Builds cfg from flags; -1 with the ENV-ERROR text in err. Creates the state directory. */
int wr_config_build(struct wr_config *cfg, const struct wr_flags *flags, char *err, size_t errlen);
void wr_config_free(struct wr_config *cfg);

#endif
