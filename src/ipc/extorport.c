/* extorport.c: the Extended ORPort client as a codec; see extorport.h. */
#include "ipc/extorport.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

static const char cookie_header[] = "! Extended ORPort Auth Cookie !\x0a";
#define COOKIE_FILE_LEN 64
#define AUTH_SAFE_COOKIE 1

enum { CMD_DONE = 0x0000, CMD_USERADDR = 0x0001, CMD_TRANSPORT = 0x0002,
       CMD_OKAY = 0x1000, CMD_DENY = 0x1001 };

enum { ST_AUTH_TYPES, ST_SERVER_HASH, ST_STATUS, ST_REPLY, ST_OPEN };

struct extor {
    int state;
    int have_safe_cookie;
    uint8_t cookie[WR_EXTOR_COOKIE_LEN];
    uint8_t nonce[WR_EXTOR_NONCE_LEN];
    char user_addr[80];
    char transport[64];
    const char *error;
};

int wr_extor_read_cookie(const char *path, uint8_t cookie[WR_EXTOR_COOKIE_LEN], char *err,
                         size_t errlen)
{
    uint8_t buf[COOKIE_FILE_LEN + 1];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot read the ExtORPort cookie file %s: %s", path, strerror(errno));
        return -1;
    }
    ssize_t n = 0, r;
    while (n < (ssize_t)sizeof buf && (r = read(fd, buf + n, sizeof buf - (size_t)n)) > 0)
        n += r;
    close(fd);
    if (n != COOKIE_FILE_LEN) {
        snprintf(err, errlen, "the ExtORPort cookie file %s has %s bytes, not %d", path,
                 n > COOKIE_FILE_LEN ? "more than 64" : n < 0 ? "unreadable" : "fewer", COOKIE_FILE_LEN);
        return -1;
    }
    if (memcmp(buf, cookie_header, 32) != 0) {
        snprintf(err, errlen, "the ExtORPort cookie file %s does not start with tor's header", path);
        return -1;
    }
    memcpy(cookie, buf + 32, WR_EXTOR_COOKIE_LEN);
    sodium_memzero(buf, sizeof buf);
    return 0;
}

static void hash(const uint8_t cookie[WR_EXTOR_COOKIE_LEN], const char *label,
                 const uint8_t cn[WR_EXTOR_NONCE_LEN], const uint8_t sn[WR_EXTOR_NONCE_LEN],
                 uint8_t out[WR_EXTOR_HASH_LEN])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, cookie, WR_EXTOR_COOKIE_LEN);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)label, strlen(label));
    crypto_auth_hmacsha256_update(&st, cn, WR_EXTOR_NONCE_LEN);
    crypto_auth_hmacsha256_update(&st, sn, WR_EXTOR_NONCE_LEN);
    crypto_auth_hmacsha256_final(&st, out);
}

void wr_extor_server_hash(const uint8_t cookie[WR_EXTOR_COOKIE_LEN],
                          const uint8_t client_nonce[WR_EXTOR_NONCE_LEN],
                          const uint8_t server_nonce[WR_EXTOR_NONCE_LEN],
                          uint8_t out[WR_EXTOR_HASH_LEN])
{
    hash(cookie, "ExtORPort authentication server-to-client hash", client_nonce, server_nonce, out);
}

void wr_extor_client_hash(const uint8_t cookie[WR_EXTOR_COOKIE_LEN],
                          const uint8_t client_nonce[WR_EXTOR_NONCE_LEN],
                          const uint8_t server_nonce[WR_EXTOR_NONCE_LEN],
                          uint8_t out[WR_EXTOR_HASH_LEN])
{
    hash(cookie, "ExtORPort authentication client-to-server hash", client_nonce, server_nonce, out);
}

static void add_cmd(struct evbuffer *out, uint16_t cmd, const char *body)
{
    size_t len = strlen(body);
    uint8_t h[4] = { (uint8_t)(cmd >> 8), (uint8_t)cmd, (uint8_t)(len >> 8), (uint8_t)len };
    evbuffer_add(out, h, 4);
    evbuffer_add(out, body, len);
}

void *wr_extor_codec_new(const uint8_t cookie[WR_EXTOR_COOKIE_LEN], const char *user_addr,
                         const char *transport, const uint8_t *nonce)
{
    struct extor *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    memcpy(x->cookie, cookie, WR_EXTOR_COOKIE_LEN);
    if (nonce)
        memcpy(x->nonce, nonce, WR_EXTOR_NONCE_LEN);
    else
        randombytes_buf(x->nonce, sizeof x->nonce);
    snprintf(x->user_addr, sizeof x->user_addr, "%s", user_addr);
    snprintf(x->transport, sizeof x->transport, "%s", transport);
    x->error = "";
    return x;
}

static int fail(struct extor *x, const char *why)
{
    x->error = why;
    return WR_CODEC_ERROR;
}

static int extor_start(void *st, struct evbuffer *wire_out)
{
    return WR_CODEC_OK; /* tor speaks first */
}

static int extor_decode(void *st, struct evbuffer *in, struct evbuffer *plain_out,
                        struct evbuffer *out)
{
    struct extor *x = st;
    for (;;) {
        size_t have = evbuffer_get_length(in);
        switch (x->state) {
        case ST_AUTH_TYPES: {
            uint8_t t;
            if (have < 1)
                return WR_CODEC_OK;
            evbuffer_remove(in, &t, 1);
            if (t == AUTH_SAFE_COOKIE)
                x->have_safe_cookie = 1;
            if (t != 0)
                break;
            if (!x->have_safe_cookie)
                return fail(x, "tor offers no SAFE_COOKIE authentication");
            uint8_t choice = AUTH_SAFE_COOKIE;
            evbuffer_add(out, &choice, 1);
            evbuffer_add(out, x->nonce, sizeof x->nonce);
            x->state = ST_SERVER_HASH;
            break;
        }
        case ST_SERVER_HASH: {
            uint8_t m[WR_EXTOR_HASH_LEN + WR_EXTOR_NONCE_LEN], want[WR_EXTOR_HASH_LEN];
            if (have < sizeof m)
                return WR_CODEC_OK;
            evbuffer_remove(in, m, sizeof m);
            const uint8_t *server_nonce = m + WR_EXTOR_HASH_LEN;
            wr_extor_server_hash(x->cookie, x->nonce, server_nonce, want);
            if (sodium_memcmp(want, m, WR_EXTOR_HASH_LEN) != 0)
                return fail(x, "tor's server hash is wrong (a stale or different cookie file?)");
            wr_extor_client_hash(x->cookie, x->nonce, server_nonce, want);
            evbuffer_add(out, want, sizeof want);
            x->state = ST_STATUS;
            break;
        }
        case ST_STATUS: {
            uint8_t s;
            if (have < 1)
                return WR_CODEC_OK;
            evbuffer_remove(in, &s, 1);
            if (s != 1)
                return fail(x, "tor refused our authentication");
            add_cmd(out, CMD_USERADDR, x->user_addr);
            add_cmd(out, CMD_TRANSPORT, x->transport);
            add_cmd(out, CMD_DONE, "");
            x->state = ST_REPLY;
            break;
        }
        case ST_REPLY: {
            uint8_t h[4];
            if (have < 4)
                return WR_CODEC_OK;
            evbuffer_copyout(in, h, 4);
            uint16_t cmd = (uint16_t)(h[0] << 8 | h[1]), len = (uint16_t)(h[2] << 8 | h[3]);
            if (have < 4u + len)
                return WR_CODEC_OK;
            evbuffer_drain(in, 4u + len);
            if (cmd == CMD_DENY)
                return fail(x, "tor denied the connection");
            if (cmd == CMD_OKAY)
                x->state = ST_OPEN;
            break;      /* others (CONTROL, unknown): skipped, as the spec says */
        }
        case ST_OPEN:
            evbuffer_add_buffer(plain_out, in);
            return WR_CODEC_OK;
        }
    }
}

static int extor_encode(void *st, struct evbuffer *plain_in, struct evbuffer *wire_out)
{
    evbuffer_add_buffer(wire_out, plain_in);
    return WR_CODEC_OK;
}

static int extor_ready(const void *st)
{
    return ((const struct extor *)st)->state == ST_OPEN;
}

static void extor_free(void *st)
{
    sodium_memzero(st, sizeof(struct extor));
    free(st);
}

const char *wr_extor_codec_error(const void *st)
{
    return ((const struct extor *)st)->error;
}

const struct wr_codec_ops wr_extor_codec = {
    .name = "ExtORPort",
    .start = extor_start,
    .decode = extor_decode,
    .encode = extor_encode,
    .is_ready = extor_ready,
    .free = extor_free,
    /* Auth types (at most 255 and a 0), hashes, status and a few replies. */
    .handshake_max = 4096,
    .error = wr_extor_codec_error,
    .dial_timeout_ms = WR_EXTOR_HANDSHAKE_MS,
};
