/* test_ipc.c: the lines warren writes to its parent: formatting (ASCII only, \xNN escapes,
 * truncation that keeps the '\n'), which fd each line goes to in PT 3.0 and PT 1.0 mode, and
 * the exact text of every writer. */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "ipc/ipc.h"

/* ---------------------------------------------------------------- wr_ipc_format */

struct fmt_case {
    const char *name;
    size_t len;                /* buffer size given */
    const char *keyword, *args;
    const char *want;          /* exact bytes, '\n' included */
};

static const struct fmt_case fmt_cases[] = {
    { "plain", 64, "VERSION", "3.0", "VERSION 3.0\n" },
    { "no args", 64, "CMETHODS", NULL, "CMETHODS\n" },
    { "empty args", 64, "CMETHODS", "", "CMETHODS\n" },
    { "spaces and quotes kept", 64, "LOG", "a \"b\" \\c", "LOG a \"b\" \\c\n" },
    { "newline escaped", 64, "ENV-ERROR", "line1\nline2", "ENV-ERROR line1\\x0aline2\n" },
    { "CR, tab, ESC, DEL", 64, "X", "\r\t\x1b\x7f", "X \\x0d\\x09\\x1b\\x7f\n" },
    { "0x01 and 0x1f", 64, "X", "\x01\x1f", "X \\x01\\x1f\n" },
    { "non-ASCII", 64, "X", "caf\xc3\xa9 \xff\x80", "X caf\\xc3\\xa9 \\xff\\x80\n" },
    { "printable edge", 64, "X", " ~", "X  ~\n" },
    /* truncation: the line always ends in '\n' and fits in len */
    { "room to spare", 13, "VERSION", "3.0", "VERSION 3.0\n" },
    { "exact fit (no NUL is written)", 12, "VERSION", "3.0", "VERSION 3.0\n" },
    { "one short", 11, "VERSION", "3.0", "VERSION 3.\n" },
    { "cut in args", 10, "VERSION", "3.0", "VERSION 3\n" },
    { "only room for the space", 9, "VERSION", "3.0", "VERSION \n" },
    { "no room for the space", 8, "VERSION", "3.0", "VERSION\n" },
    { "cut in keyword", 5, "VERSION", "3.0", "VERS\n" },
    { "smallest", 2, "VERSION", "3.0", "V\n" },
    { "escape fits exactly", 9, "K", "ab\x01", "K ab\\x01\n" },
    { "escape never split", 8, "K", "ab\x01", "K ab\n" },
    { "escape never split 2", 7, "K", "ab\x01" "c", "K ab\n" },
    { "printable after a dropped escape is dropped too", 8, "K", "ab\x01" "c", "K ab\n" },
};

static void test_format(void **state)
{
    for (size_t i = 0; i < N_ELEMS(fmt_cases); i++) {
        const struct fmt_case *c = &fmt_cases[i];
        char buf[128];
        memset(buf, '#', sizeof buf);
        size_t n = wr_ipc_format(buf, c->len, c->keyword, c->args);
        CHECK_MEM(c->name, buf, n, c->want, strlen(c->want));
        CHECK_INT(c->name, n <= c->len, 1);
        CHECK_INT(c->name, buf[n - 1], '\n');
        for (size_t k = c->len; k < sizeof buf; k++)
            if (buf[k] != '#')
                fail_msg("[%s] wrote byte %zu, past len %zu", c->name, k, c->len);
    }
}

static void test_format_tiny(void **state)
{
    char buf[4] = "###";
    assert_int_equal(wr_ipc_format(buf, 0, "VERSION", "3.0"), 0);
    assert_int_equal(wr_ipc_format(buf, 1, "VERSION", "3.0"), 0);
    assert_int_equal(buf[0], '#');
}

/* Every byte value: printable ASCII as is, everything else \xNN; nothing else ever appears. */
static void test_format_all_bytes(void **state)
{
    char args[256];
    for (int i = 1; i < 256; i++)
        args[i - 1] = (char)i;
    args[255] = '\0';
    char buf[2048];
    size_t n = wr_ipc_format(buf, sizeof buf, "K", args);
    char want[2048];
    size_t w = (size_t)snprintf(want, sizeof want, "K ");
    for (int i = 1; i < 256; i++) {
        if (i >= 0x20 && i < 0x7f)
            want[w++] = (char)i;
        else
            w += (size_t)snprintf(want + w, sizeof want - w, "\\x%02x", i);
    }
    want[w++] = '\n';
    CHECK_MEM("all bytes", buf, n, want, w);
    for (size_t k = 0; k < n; k++)
        assert_true((buf[k] >= 0x20 && buf[k] < 0x7f) || (k == n - 1 && buf[k] == '\n'));
}

/* ---------------------------------------------------------------- the writers */

static int out_pipe[2], err_pipe[2];

static int setup(void **state)
{
    if (pipe2(out_pipe, O_NONBLOCK) != 0 || pipe2(err_pipe, O_NONBLOCK) != 0)
        return -1;
    wr_ipc_set_fds(out_pipe[1], err_pipe[1]);
    return 0;
}

static int teardown(void **state)
{
    wr_ipc_set_fds(1, 2);
    wr_ipc_set_proto(WR_IPC_PT3);
    close(out_pipe[0]);
    close(out_pipe[1]);
    close(err_pipe[0]);
    close(err_pipe[1]);
    return 0;
}

/* Everything written to fd so far, as a C string. */
static const char *drain(int fd)
{
    static char buf[2][8192];
    static int which;
    char *b = buf[which ^= 1];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, b + n, sizeof buf[0] - 1 - n);
        if (r > 0) {
            n += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        break;                              /* EAGAIN: nothing more */
    }
    b[n] = '\0';
    return b;
}

enum which { W_VERSION, W_VERSION_ERROR, W_ENV_ERROR, W_PROXY_DONE, W_PROXY_ERROR, W_CMETHOD,
             W_CMETHOD_ERROR, W_CMETHODS_DONE, W_SMETHOD, W_SMETHOD_ERROR, W_SMETHODS_DONE, W_LOG };

struct writer_case {
    const char *name;
    enum which w;
    const char *a, *b, *c;
    enum wr_log_level level;
    enum wr_ipc_proto proto;
    const char *out;           /* exactly what stdout gets */
    const char *err;           /* exactly what stderr gets */
};

static const struct writer_case writer_cases[] = {
    /* PT 3.0: errors to the err fd, everything else to stdout */
    { "version", W_VERSION, "3.0", NULL, NULL, 0, WR_IPC_PT3, "VERSION 3.0\n", "" },
    { "version error", W_VERSION_ERROR, "no-version", NULL, NULL, 0, WR_IPC_PT3, "", "VERSION-ERROR no-version\n" },
    { "env error", W_ENV_ERROR, "need -transport NAME or -transports LIST", NULL, NULL, 0, WR_IPC_PT3,
      "", "ENV-ERROR need -transport NAME or -transports LIST\n" },
    { "proxy done", W_PROXY_DONE, NULL, NULL, NULL, 0, WR_IPC_PT3, "PROXY DONE\n", "" },
    { "proxy error", W_PROXY_ERROR, "proxy URI has invalid scheme", NULL, NULL, 0, WR_IPC_PT3,
      "", "PROXY-ERROR proxy URI has invalid scheme\n" },
    { "cmethod", W_CMETHOD, "plain", "socks5", "127.0.0.1:40000", 0, WR_IPC_PT3,
      "CMETHOD plain socks5 127.0.0.1:40000\n", "" },
    { "cmethod v6", W_CMETHOD, "obfs4", "transparent-TCP", "[::1]:1", 0, WR_IPC_PT3,
      "CMETHOD obfs4 transparent-TCP [::1]:1\n", "" },
    { "cmethod error", W_CMETHOD_ERROR, "plain", "bad option\n\"x\"", NULL, 0, WR_IPC_PT3,
      "", "CMETHOD-ERROR plain bad option\\x0a\"x\"\n" },
    { "cmethods done", W_CMETHODS_DONE, NULL, NULL, NULL, 0, WR_IPC_PT3, "CMETHODS DONE\n", "" },
    { "smethod", W_SMETHOD, "plain", "0.0.0.0:443", NULL, 0, WR_IPC_PT3, "SMETHOD plain 0.0.0.0:443\n", "" },
    { "smethod empty args", W_SMETHOD, "plain", "0.0.0.0:443", "", 0, WR_IPC_PT3, "SMETHOD plain 0.0.0.0:443\n", "" },
    { "smethod args", W_SMETHOD, "obfs4", "[::]:443", "cert=ab\\=\\,c,iat-mode=0", 0, WR_IPC_PT3,
      "SMETHOD obfs4 [::]:443 ARGS:cert=ab\\=\\,c,iat-mode=0\n", "" },
    { "smethod error", W_SMETHOD_ERROR, "plain", "cannot listen: Address in use", NULL, 0, WR_IPC_PT3,
      "", "SMETHOD-ERROR plain cannot listen: Address in use\n" },
    { "smethods done", W_SMETHODS_DONE, NULL, NULL, NULL, 0, WR_IPC_PT3, "SMETHODS DONE\n", "" },
    { "log error", W_LOG, "boom", NULL, NULL, WR_LOG_ERROR, WR_IPC_PT3, "LOG ERROR boom\n", "" },
    { "log warn", W_LOG, "careful \"x\"", NULL, NULL, WR_LOG_WARN, WR_IPC_PT3, "LOG WARN careful \"x\"\n", "" },
    { "log info", W_LOG, "listening", NULL, NULL, WR_LOG_INFO, WR_IPC_PT3, "LOG INFO listening\n", "" },
    { "log debug", W_LOG, "a\tb\xc3\xa9", NULL, NULL, WR_LOG_DEBUG, WR_IPC_PT3, "LOG DEBUG a\\x09b\\xc3\\xa9\n", "" },
    /* PT 1.0 (tor): every line to stdout, LOG in tor's form */
    { "pt1 version", W_VERSION, "1", NULL, NULL, 0, WR_IPC_PT1, "VERSION 1\n", "" },
    { "pt1 version error", W_VERSION_ERROR, "no-version", NULL, NULL, 0, WR_IPC_PT1, "VERSION-ERROR no-version\n", "" },
    { "pt1 env error", W_ENV_ERROR, "bad", NULL, NULL, 0, WR_IPC_PT1, "ENV-ERROR bad\n", "" },
    { "pt1 proxy error", W_PROXY_ERROR, "bad proxy", NULL, NULL, 0, WR_IPC_PT1, "PROXY-ERROR bad proxy\n", "" },
    { "pt1 cmethod error", W_CMETHOD_ERROR, "plain", "no", NULL, 0, WR_IPC_PT1, "CMETHOD-ERROR plain no\n", "" },
    { "pt1 smethod error", W_SMETHOD_ERROR, "plain", "no", NULL, 0, WR_IPC_PT1, "SMETHOD-ERROR plain no\n", "" },
    { "pt1 log error", W_LOG, "boom", NULL, NULL, WR_LOG_ERROR, WR_IPC_PT1,
      "LOG SEVERITY=error MESSAGE=\"boom\"\n", "" },
    { "pt1 log warning", W_LOG, "say \"hi\" \\ now", NULL, NULL, WR_LOG_WARN, WR_IPC_PT1,
      "LOG SEVERITY=warning MESSAGE=\"say \\\"hi\\\" \\\\ now\"\n", "" },
    { "pt1 log info", W_LOG, "x", NULL, NULL, WR_LOG_INFO, WR_IPC_PT1, "LOG SEVERITY=info MESSAGE=\"x\"\n", "" },
    { "pt1 log debug", W_LOG, "", NULL, NULL, WR_LOG_DEBUG, WR_IPC_PT1, "LOG SEVERITY=debug MESSAGE=\"\"\n", "" },
    { "pt1 log control bytes", W_LOG, "a\nb", NULL, NULL, WR_LOG_INFO, WR_IPC_PT1,
      "LOG SEVERITY=info MESSAGE=\"a\\x0ab\"\n", "" },
};

static void call_writer(const struct writer_case *c)
{
    switch (c->w) {
    case W_VERSION: wr_ipc_version(c->a); break;
    case W_VERSION_ERROR: wr_ipc_version_error(c->a); break;
    case W_ENV_ERROR: wr_ipc_env_error("%s", c->a); break;
    case W_PROXY_DONE: wr_ipc_proxy_done(); break;
    case W_PROXY_ERROR: wr_ipc_proxy_error(c->a); break;
    case W_CMETHOD: wr_ipc_cmethod(c->a, c->b, c->c); break;
    case W_CMETHOD_ERROR: wr_ipc_cmethod_error(c->a, c->b); break;
    case W_CMETHODS_DONE: wr_ipc_cmethods_done(); break;
    case W_SMETHOD: wr_ipc_smethod(c->a, c->b, c->c); break;
    case W_SMETHOD_ERROR: wr_ipc_smethod_error(c->a, c->b); break;
    case W_SMETHODS_DONE: wr_ipc_smethods_done(); break;
    case W_LOG: wr_ipc_log(c->level, c->a); break;
    }
}

static void test_writers(void **state)
{
    for (size_t i = 0; i < N_ELEMS(writer_cases); i++) {
        const struct writer_case *c = &writer_cases[i];
        wr_ipc_set_proto(c->proto);
        call_writer(c);
        const char *o = drain(out_pipe[0]);
        const char *e = drain(err_pipe[0]);
        CHECK_STR(c->name, o, c->out);
        CHECK_STR(c->name, e, c->err);
    }
    wr_ipc_set_proto(WR_IPC_PT3);
}

static void test_env_error_format(void **state)
{
    wr_ipc_set_proto(WR_IPC_PT3);
    wr_ipc_env_error("bad -%s '%s' (%d)", "mode", "tun", 7);
    assert_string_equal(drain(err_pipe[0]), "ENV-ERROR bad -mode 'tun' (7)\n");
    assert_string_equal(drain(out_pipe[0]), "");
}

/* A long line is cut but still one line ending in '\n', written with one write. */
static void test_long_lines(void **state)
{
    char msg[3000];
    memset(msg, 'm', sizeof msg - 1);
    msg[sizeof msg - 1] = '\0';
    wr_ipc_set_proto(WR_IPC_PT3);
    wr_ipc_cmethod_error("plain", msg);
    const char *e = drain(err_pipe[0]);
    size_t n = strlen(e);
    assert_true(n > 1000 && n <= 2048);
    assert_int_equal(e[n - 1], '\n');
    assert_ptr_equal(strchr(e, '\n'), e + n - 1);
    assert_memory_equal(e, "CMETHOD-ERROR plain mmm", 23);

    /* PT 1.0 LOG: the closing quote survives the cut */
    wr_ipc_set_proto(WR_IPC_PT1);
    wr_ipc_log(WR_LOG_WARN, msg);
    const char *o = drain(out_pipe[0]);
    n = strlen(o);
    assert_true(n > 1000);
    assert_int_equal(o[n - 1], '\n');
    assert_int_equal(o[n - 2], '"');
    assert_ptr_equal(strchr(o, '\n'), o + n - 1);

    /* every byte escaped: the message quadruples but the line still ends well */
    char ctl[1500];
    memset(ctl, '\x01', sizeof ctl - 1);
    ctl[sizeof ctl - 1] = '\0';
    wr_ipc_set_proto(WR_IPC_PT3);
    wr_ipc_log(WR_LOG_INFO, ctl);
    o = drain(out_pipe[0]);
    n = strlen(o);
    assert_true(n <= 2048);
    assert_int_equal(o[n - 1], '\n');
    assert_memory_equal(o, "LOG INFO \\x01\\x01", 17);
    assert_int_equal((n - 1 - strlen("LOG INFO ")) % 4, 0);
    wr_ipc_set_proto(WR_IPC_PT3);
}

/* The parent gone (EPIPE) or a closed fd: no crash, nothing else happens. */
static void test_write_to_closed_fd(void **state)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    wr_ipc_set_fds(p[1], p[1]);
    wr_ipc_version("3.0");
    wr_ipc_env_error("x");
    close(p[1]);
    wr_ipc_set_fds(-1, -1);
    wr_ipc_cmethods_done();
    wr_ipc_set_fds(out_pipe[1], err_pipe[1]);
    assert_string_equal(drain(out_pipe[0]), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_tiny),
        cmocka_unit_test(test_format_all_bytes),
        cmocka_unit_test(test_writers),
        cmocka_unit_test(test_env_error_format),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_write_to_closed_fd),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
