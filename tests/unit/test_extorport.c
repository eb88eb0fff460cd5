/* test_extorport.c: the Extended ORPort client (ipc/extorport.c) against the fixed vectors of
 * notes/pt-ipc.md §3 (computed independently with Python and openssl), and its codec driven
 * through every step, a byte at a time, with the failure paths: a wrong server hash, a refused
 * status, DENY, no SAFE_COOKIE; plus the cookie file checks. */
#include "unit.h"

#include <event2/buffer.h>
#include <sodium.h>
#include <stdlib.h>
#include <unistd.h>

#include "ipc/extorport.h"

static void hex(const char *h, uint8_t *out, size_t len)
{
    size_t n = 0;
    assert_int_equal(sodium_hex2bin(out, len, h, strlen(h), NULL, &n, NULL), 0);
    assert_int_equal(n, len);
}

static void cookie_nonces(uint8_t cookie[32], uint8_t cn[32], uint8_t sn[32])
{
    for (int i = 0; i < 32; i++)
        cookie[i] = (uint8_t)i;
    memset(cn, 0x11, 32);
    memset(sn, 0x22, 32);
}

static void test_hash_vectors(void **state)
{
    uint8_t cookie[32], cn[32], sn[32], got[32], want[32];
    cookie_nonces(cookie, cn, sn);
    wr_extor_server_hash(cookie, cn, sn, got);
    hex("faba8ab71bbdd5a5727e157d5adf5d886e93a52146e2089469d3ce3a011ba7ac", want, 32);
    assert_memory_equal(got, want, 32);
    wr_extor_client_hash(cookie, cn, sn, got);
    hex("13738865f77e411dbdbba912d60c06e3fafe1bb762dcd94bff70c0b8ca152d50", want, 32);
    assert_memory_equal(got, want, 32);
}

/* Feeds tor's side a byte at a time; returns the codec's last result. */
static int feed(void *st, struct evbuffer *out, struct evbuffer *plain, const uint8_t *p, size_t n)
{
    struct evbuffer *in = evbuffer_new();
    int r = WR_CODEC_OK;
    for (size_t i = 0; i < n && r == WR_CODEC_OK; i++) {
        evbuffer_add(in, p + i, 1);
        r = wr_extor_codec.decode(st, in, plain, out);
    }
    evbuffer_free(in);
    return r;
}

struct run {
    void *st;
    struct evbuffer *out, *plain;
};

/* Up to the status byte: auth types 3, 1, 0 (an unknown type first), the server hash. */
static void handshake_to_status_as(struct run *r, const uint8_t *server_hash_override,
                                   const char *user_addr, const char *transport)
{
    uint8_t cookie[32], cn[32], sn[32], m[64];
    cookie_nonces(cookie, cn, sn);
    r->st = wr_extor_codec_new(cookie, user_addr, transport, cn);
    r->out = evbuffer_new();
    r->plain = evbuffer_new();
    assert_int_equal(wr_extor_codec.start(r->st, r->out), WR_CODEC_OK);
    assert_int_equal(evbuffer_get_length(r->out), 0);   /* tor speaks first */
    const uint8_t types[] = { 3, 1, 0 };
    assert_int_equal(feed(r->st, r->out, r->plain, types, 3), WR_CODEC_OK);
    uint8_t sent[33];
    assert_int_equal(evbuffer_get_length(r->out), 33);
    evbuffer_remove(r->out, sent, 33);
    assert_int_equal(sent[0], 1);
    assert_memory_equal(sent + 1, cn, 32);
    if (server_hash_override)
        memcpy(m, server_hash_override, 32);
    else
        wr_extor_server_hash(cookie, cn, sn, m);
    memcpy(m + 32, sn, 32);
    int res = feed(r->st, r->out, r->plain, m, 64);
    if (server_hash_override) {
        assert_int_equal(res, WR_CODEC_ERROR);
        assert_int_equal(evbuffer_get_length(r->out), 0);   /* nothing sent to a wrong tor */
        CHECK_CONTAINS("error", wr_extor_codec_error(r->st), "server hash");
        return;
    }
    assert_int_equal(res, WR_CODEC_OK);
    uint8_t ch[32], want[32];
    hex("13738865f77e411dbdbba912d60c06e3fafe1bb762dcd94bff70c0b8ca152d50", want, 32);
    assert_int_equal(evbuffer_get_length(r->out), 32);
    evbuffer_remove(r->out, ch, 32);
    assert_memory_equal(ch, want, 32);
    assert_false(wr_extor_codec.is_ready(r->st));
}

static void handshake_to_status(struct run *r, const uint8_t *server_hash_override)
{
    handshake_to_status_as(r, server_hash_override, "1.2.3.4:5678", "plain");
}

static void run_free(struct run *r)
{
    wr_extor_codec.free(r->st);
    evbuffer_free(r->out);
    evbuffer_free(r->plain);
}

static void test_full_exchange(void **state)
{
    struct run r;
    handshake_to_status(&r, NULL);
    const uint8_t ok = 1;
    assert_int_equal(feed(r.st, r.out, r.plain, &ok, 1), WR_CODEC_OK);
    uint8_t cmds[64], want[64];
    size_t n = evbuffer_get_length(r.out);
    /* USERADDR 1.2.3.4:5678 | TRANSPORT plain | DONE, byte for byte as in the note */
    hex("0001000c312e322e332e343a35363738" "00020005706c61696e" "00000000", want, 16 + 9 + 4);
    assert_int_equal(n, 16 + 9 + 4);
    evbuffer_remove(r.out, cmds, n);
    assert_memory_equal(cmds, want, n);
    /* An unknown command and CONTROL are skipped; OKAY opens; bytes after it are payload. */
    const uint8_t reply[] = { 0x00, 0x03, 0x00, 0x02, 'x', 'y', 0x10, 0x02, 0x00, 0x00,
                              0x10, 0x00, 0x00, 0x00, 'h', 'i' };
    assert_int_equal(feed(r.st, r.out, r.plain, reply, sizeof reply), WR_CODEC_OK);
    assert_true(wr_extor_codec.is_ready(r.st));
    assert_int_equal(evbuffer_get_length(r.plain), 2);
    struct evbuffer *p = evbuffer_new();
    evbuffer_add(p, "data", 4);
    assert_int_equal(wr_extor_codec.encode(r.st, p, r.out), WR_CODEC_OK);
    assert_int_equal(evbuffer_get_length(r.out), 4);
    evbuffer_free(p);
    run_free(&r);
}

static void test_ipv6_useraddr(void **state)
{
    struct run r;
    handshake_to_status_as(&r, NULL, "[2001:db8::7]:4321", "obfs4");
    const uint8_t ok = 1;
    assert_int_equal(feed(r.st, r.out, r.plain, &ok, 1), WR_CODEC_OK);
    uint8_t cmds[64], want[64];
    hex("000100125b323030313a6462383a3a375d3a34333231" "000200056f62667334" "00000000", want,
        22 + 9 + 4);
    assert_int_equal(evbuffer_get_length(r.out), 22 + 9 + 4);
    evbuffer_remove(r.out, cmds, 22 + 9 + 4);
    assert_memory_equal(cmds, want, 22 + 9 + 4);
    run_free(&r);
}

static void test_failures(void **state)
{
    struct run r;
    uint8_t bad[32] = { 9 };
    handshake_to_status(&r, bad);
    run_free(&r);

    handshake_to_status(&r, NULL);
    const uint8_t refused = 0;
    assert_int_equal(feed(r.st, r.out, r.plain, &refused, 1), WR_CODEC_ERROR);
    CHECK_CONTAINS("status", wr_extor_codec_error(r.st), "refused");
    run_free(&r);

    handshake_to_status(&r, NULL);
    const uint8_t ok = 1, deny[] = { 0x10, 0x01, 0x00, 0x00 };
    feed(r.st, r.out, r.plain, &ok, 1);
    assert_int_equal(feed(r.st, r.out, r.plain, deny, 4), WR_CODEC_ERROR);
    CHECK_CONTAINS("deny", wr_extor_codec_error(r.st), "denied");
    run_free(&r);

    uint8_t cookie[32] = { 0 };
    void *st = wr_extor_codec_new(cookie, "1.2.3.4:5", "plain", NULL);
    struct evbuffer *o = evbuffer_new(), *pl = evbuffer_new();
    const uint8_t types[] = { 2, 3, 0 };
    assert_int_equal(feed(st, o, pl, types, 3), WR_CODEC_ERROR);
    CHECK_CONTAINS("types", wr_extor_codec_error(st), "SAFE_COOKIE");
    wr_extor_codec.free(st);
    evbuffer_free(o);
    evbuffer_free(pl);
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static void test_cookie_file(void **state)
{
    char path[] = "/tmp/warren-cookie-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    uint8_t file[65], cookie[32];
    char err[200];
    memcpy(file, "! Extended ORPort Auth Cookie !\x0a", 32);
    for (int i = 0; i < 32; i++)
        file[32 + i] = (uint8_t)(i * 7);
    write_file(path, file, 64);
    assert_int_equal(wr_extor_read_cookie(path, cookie, err, sizeof err), 0);
    assert_memory_equal(cookie, file + 32, 32);
    write_file(path, file, 63);
    assert_int_equal(wr_extor_read_cookie(path, cookie, err, sizeof err), -1);
    CHECK_CONTAINS("short", err, "bytes");
    file[64] = 0;
    write_file(path, file, 65);
    assert_int_equal(wr_extor_read_cookie(path, cookie, err, sizeof err), -1);
    file[0] = '?';
    write_file(path, file, 64);
    assert_int_equal(wr_extor_read_cookie(path, cookie, err, sizeof err), -1);
    CHECK_CONTAINS("header", err, "header");
    unlink(path);
    assert_int_equal(wr_extor_read_cookie(path, cookie, err, sizeof err), -1);
    CHECK_CONTAINS("missing", err, "cannot read");
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_vectors),
        cmocka_unit_test(test_full_exchange),
        cmocka_unit_test(test_ipv6_useraddr),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_cookie_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
