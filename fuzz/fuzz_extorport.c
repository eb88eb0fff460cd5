/* fuzz_extorport.c: the Extended ORPort client (ipc/extorport.c) fed whatever a misbehaving tor
 * could send, whole and in input-chosen pieces. Invariants: the codec answers only with the
 * messages the protocol allows at each step (its choice and nonce, then its hash, then the
 * three commands), never sends its hash after a wrong server hash, fails with a reason, and
 * both feedings agree. Input: byte 0 picks the piece sizes; the rest is tor's side. When the
 * input's first 64 bytes after the auth types are replaced by a correct hash (bit 7 of byte 0),
 * the deeper states are reached too. */
#include <event2/buffer.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ipc/extorport.h"

static const uint8_t cookie[32] = { 1, 2, 3, 4 };
static const uint8_t nonce[32] = { 9, 9, 9 };

struct result {
    int rc, ready;
    size_t sent, plain;
    uint8_t out[512];
};

static void run(const uint8_t *p, size_t n, size_t piece, struct result *res)
{
    void *st = wr_extor_codec_new(cookie, "1.2.3.4:5", "obfs4", nonce);
    FUZZ_CHECK(st);
    struct evbuffer *in = evbuffer_new(), *out = evbuffer_new(), *plain = evbuffer_new();
    res->rc = WR_CODEC_OK;
    for (size_t i = 0; i < n && res->rc == WR_CODEC_OK; i += piece) {
        evbuffer_add(in, p + i, n - i < piece ? n - i : piece);
        res->rc = wr_extor_codec.decode(st, in, plain, out);
    }
    res->ready = wr_extor_codec.is_ready(st);
    res->sent = evbuffer_get_length(out);
    res->plain = evbuffer_get_length(plain);
    evbuffer_copyout(out, res->out, res->sent < sizeof res->out ? res->sent : sizeof res->out);
    if (res->rc != WR_CODEC_OK)
        FUZZ_CHECK(*wr_extor_codec_error(st));
    /* What it sent: nothing, or 1 | nonce, then maybe the 32-byte hash, then the commands. */
    FUZZ_CHECK(res->sent == 0 || res->sent == 33 || res->sent == 65 || res->sent == 65 + 13 + 9 + 4);
    if (res->sent)
        FUZZ_CHECK(res->out[0] == 1 && !memcmp(res->out + 1, nonce, 32));
    if (res->ready)
        FUZZ_CHECK(res->sent == 65 + 13 + 9 + 4);
    else
        FUZZ_CHECK(res->plain == 0);
    wr_extor_codec.free(st);
    evbuffer_free(in);
    evbuffer_free(out);
    evbuffer_free(plain);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    uint8_t *p = fuzz_exact(data + 1, size - 1);
    size_t n = size - 1;
    if (data[0] & 0x80) {
        /* Put a valid server hash where the codec will look for it: after the first 0 byte. */
        uint8_t *z = memchr(p, 0, n);
        if (z && (size_t)(z - p) + 1 + 64 <= n) {
            uint8_t *m = z + 1;
            wr_extor_server_hash(cookie, nonce, m + 32, m);
        }
    }
    size_t piece = 1 + (data[0] & 0x3F);
    struct result whole, parts;
    run(p, n, n ? n : 1, &whole);
    run(p, n, piece, &parts);
    FUZZ_CHECK(whole.rc == parts.rc && whole.ready == parts.ready && whole.sent == parts.sent);
    FUZZ_CHECK(!memcmp(whole.out, parts.out, whole.sent < sizeof whole.out ? whole.sent : sizeof whole.out));
    free(p);
    return 0;
}
