/* registry.c: the built-in transports, and helpers every transport shares. */
#include "transports/transport.h"

#include <stdio.h>
#include <strings.h>

#include "core/options.h"

extern const struct wr_transport wr_transport_plain;
extern const struct wr_transport wr_transport_shadow;
extern const struct wr_transport wr_transport_obfs4;

const struct wr_transport *const wr_transports[] = {
    &wr_transport_plain,
    &wr_transport_shadow,
    &wr_transport_obfs4,
    NULL,
};

const char *wr_mode_name(enum wr_mode mode)
{
    static const char *const names[] = { "socks5", "transparent-TCP", "transparent-UDP", "STUN" };
    return names[mode];
}

const struct wr_transport *wr_transport_find(const char *name)
{
    for (size_t i = 0; wr_transports[i]; i++)
        if (strcasecmp(wr_transports[i]->name, name) == 0)
            return wr_transports[i];
    return NULL;
}

int wr_transport_server_addr(const struct wr_open_req *req, struct wr_endpoint *out, char *err,
                             size_t errlen)
{
    if (req->dst && !wr_endpoint_is_unspecified(req->dst)) {
        *out = *req->dst;
        return 0;
    }
    char buf[32];
    int bad;
    const char *sa = wr_opt_str(req->args, "serverAddress", buf, sizeof buf, &bad);
    if (!sa) {
        snprintf(err, errlen, "no server address: give a SOCKS destination or the option serverAddress");
        return -1;
    }
    char e[160];
    if (wr_endpoint_parse(sa, WR_EP_NONZERO_PORT, out, e, sizeof e) != 0) {
        snprintf(err, errlen, "bad serverAddress: %s", e);
        return -1;
    }
    return 0;
}

int wr_transport_check_server_address(const json_t *opts, int required, char *err, size_t errlen)
{
    char buf[32], e[160];
    int bad;
    struct wr_endpoint ep;
    const char *sa = wr_opt_str(opts, "serverAddress", buf, sizeof buf, &bad);
    if (bad) {
        snprintf(err, errlen, "serverAddress must be a string like \"192.0.2.1:443\"");
        return -1;
    }
    if (!sa) {
        if (required)
            snprintf(err, errlen, "outside socks5 mode the client needs the option serverAddress (host:port)");
        return required ? -1 : 0;
    }
    if (wr_endpoint_parse(sa, WR_EP_NONZERO_PORT, &ep, e, sizeof e) != 0) {
        snprintf(err, errlen, "bad serverAddress: %s", e);
        return -1;
    }
    return 0;
}
