/* test_pt1.c: tor's PT 1.0 environment (ipc/pt1.c): version negotiation, the variables as
 * flags with tor's quirks (empty = unset, bracketed IPv6 bind address, server transport options
 * escaping), and the ENV-ERROR texts of notes/pt-ipc.md §2 and Appendix A. */
#include "unit.h"

#include <arpa/inet.h>
#include <stdlib.h>

#include "cli/config.h"
#include "ipc/pt1.h"

static const char *const vars[] = {
    "TOR_PT_MANAGED_TRANSPORT_VER", "TOR_PT_STATE_LOCATION", "TOR_PT_EXIT_ON_STDIN_CLOSE",
    "TOR_PT_CLIENT_TRANSPORTS", "TOR_PT_PROXY", "TOR_PT_SERVER_TRANSPORTS",
    "TOR_PT_SERVER_BINDADDR", "TOR_PT_SERVER_TRANSPORT_OPTIONS", "TOR_PT_ORPORT",
    "TOR_PT_EXTENDED_SERVER_PORT", "TOR_PT_AUTH_COOKIE_FILE", "TOR_PT_OUTBOUND_BIND_ADDRESS_V4",
    "TOR_PT_OUTBOUND_BIND_ADDRESS_V6",
};

static int clear_env(void **state)
{
    for (size_t i = 0; i < N_ELEMS(vars); i++)
        unsetenv(vars[i]);
    return 0;
}

static void parse_empty(struct wr_flags *f)
{
    char *argv[] = { "warren", NULL };
    assert_int_equal(wr_flags_parse(f, 1, argv), 0);
}

static void test_detect_and_version(void **state)
{
    struct wr_flags f;
    parse_empty(&f);
    assert_false(wr_pt1_detect(&f));
    setenv("TOR_PT_MANAGED_TRANSPORT_VER", "1", 1);
    assert_true(wr_pt1_detect(&f));
    CHECK_STR("1", wr_pt1_version(), "1");
    setenv("TOR_PT_MANAGED_TRANSPORT_VER", "2,1", 1);
    CHECK_STR("2,1", wr_pt1_version(), "1");
    setenv("TOR_PT_MANAGED_TRANSPORT_VER", "2,3,11", 1);
    CHECK_STR("2,3,11", wr_pt1_version(), NULL);
    setenv("TOR_PT_MANAGED_TRANSPORT_VER", "", 1);
    CHECK_STR("empty", wr_pt1_version(), NULL);
    /* -ptversion on the command line means PT 3.0, whatever the environment says. */
    char *argv[] = { "warren", "-ptversion", "3.0", NULL };
    assert_int_equal(wr_flags_parse(&f, 3, argv), 0);
    assert_false(wr_pt1_detect(&f));
}

static void test_client_env(void **state)
{
    struct wr_flags f;
    struct wr_pt1 p;
    char err[300];
    parse_empty(&f);
    setenv("TOR_PT_MANAGED_TRANSPORT_VER", "1", 1);
    setenv("TOR_PT_STATE_LOCATION", "/tmp/warren-pt1-test/", 1);
    setenv("TOR_PT_CLIENT_TRANSPORTS", "obfs4,plain", 1);
    setenv("TOR_PT_EXIT_ON_STDIN_CLOSE", "1", 1);
    setenv("TOR_PT_PROXY", "socks5://user1:pass:word@127.0.0.1:1080", 1);
    assert_int_equal(wr_pt1_apply_flags(&f, &p, err, sizeof err), 0);
    assert_int_equal(f.client, 1);
    CHECK_STR("transports", f.transports, "obfs4,plain");
    CHECK_STR("state", f.state, "/tmp/warren-pt1-test/");
    CHECK_STR("proxy", f.proxy, "socks5://user1:pass:word@127.0.0.1:1080");
    assert_int_equal(f.exit_on_stdin_close, 1);
    struct wr_config cfg;
    assert_int_equal(wr_config_build(&cfg, &f, err, sizeof err), 0);
    CHECK_STR("state dir without its trailing slash", cfg.state_dir, "/tmp/warren-pt1-test");
    setenv("TOR_PT_OUTBOUND_BIND_ADDRESS_V4", "127.0.0.5", 1);
    setenv("TOR_PT_OUTBOUND_BIND_ADDRESS_V6", "[::1]", 1);
    assert_int_equal(wr_pt1_apply_config(&cfg, err, sizeof err), 0);
    assert_int_equal(cfg.proxy_percent_encoded, 0);
    assert_true(cfg.has_outbound_v4 && cfg.has_outbound_v6);
    char a[64];
    inet_ntop(AF_INET, &cfg.outbound_v4.sin_addr, a, sizeof a);
    CHECK_STR("v4", a, "127.0.0.5");
    inet_ntop(AF_INET6, &cfg.outbound_v6.sin6_addr, a, sizeof a);
    CHECK_STR("v6", a, "::1");
    setenv("TOR_PT_OUTBOUND_BIND_ADDRESS_V6", "127.0.0.1", 1);
    assert_int_equal(wr_pt1_apply_config(&cfg, err, sizeof err), -1);
    CHECK_CONTAINS("v6 bad", err, "TOR_PT_OUTBOUND_BIND_ADDRESS_V6");
    wr_config_free(&cfg);
    wr_pt1_free(&p);
    /* Anything but "1" leaves stdin alone. */
    parse_empty(&f);
    setenv("TOR_PT_EXIT_ON_STDIN_CLOSE", "0", 1);
    assert_int_equal(wr_pt1_apply_flags(&f, &p, err, sizeof err), 0);
    assert_int_equal(f.exit_on_stdin_close, 0);
    wr_pt1_free(&p);
}

static void test_server_env(void **state)
{
    struct wr_flags f;
    struct wr_pt1 p;
    char err[300];
    parse_empty(&f);
    setenv("TOR_PT_MANAGED_TRANSPORT_VER", "1", 1);
    setenv("TOR_PT_STATE_LOCATION", "/tmp/warren-pt1-test", 1);
    setenv("TOR_PT_SERVER_TRANSPORTS", "obfs4", 1);
    setenv("TOR_PT_SERVER_BINDADDR", "obfs4-127.0.0.1:19003", 1);
    setenv("TOR_PT_ORPORT", "127.0.0.1:19001", 1);
    setenv("TOR_PT_EXTENDED_SERVER_PORT", "", 1);       /* tor's "not configured" */
    setenv("TOR_PT_SERVER_TRANSPORT_OPTIONS", "obfs4:iat-mode=1;obfs4:k=a\\:b=c", 1);
    assert_int_equal(wr_pt1_apply_flags(&f, &p, err, sizeof err), 0);
    assert_int_equal(f.server, 1);
    CHECK_STR("bindaddr", f.bindaddr, "obfs4-127.0.0.1:19003");
    CHECK_STR("target", f.target, "127.0.0.1:19001");
    CHECK_STR("extorport", f.extorport, NULL);
    CHECK_STR("options", f.options, "{\"obfs4\":{\"iat-mode\":\"1\",\"k\":\"a:b=c\"}}");
    wr_pt1_free(&p);

    /* The ExtORPort wins over the ORPort and needs the cookie file. */
    parse_empty(&f);
    setenv("TOR_PT_EXTENDED_SERVER_PORT", "127.0.0.1:19002", 1);
    assert_int_equal(wr_pt1_apply_flags(&f, &p, err, sizeof err), -1);
    CHECK_STR("no cookie", err,
              "need TOR_PT_AUTH_COOKIE_FILE environment variable with TOR_PT_EXTENDED_SERVER_PORT");
    wr_pt1_free(&p);
    parse_empty(&f);
    setenv("TOR_PT_AUTH_COOKIE_FILE", "/nonexistent/cookie", 1);
    assert_int_equal(wr_pt1_apply_flags(&f, &p, err, sizeof err), 0);
    CHECK_STR("extorport", f.extorport, "127.0.0.1:19002");
    CHECK_STR("no target", f.target, NULL);
    struct wr_config cfg;
    assert_int_equal(wr_config_build(&cfg, &f, err, sizeof err), -1);
    CHECK_CONTAINS("cookie checked at start", err, "cookie file");
    wr_config_free(&cfg);
    wr_pt1_free(&p);

    parse_empty(&f);
    unsetenv("TOR_PT_EXTENDED_SERVER_PORT");
    unsetenv("TOR_PT_ORPORT");
    assert_int_equal(wr_pt1_apply_flags(&f, &p, err, sizeof err), -1);
    CHECK_STR("no orport", err, "need TOR_PT_ORPORT or TOR_PT_EXTENDED_SERVER_PORT environment variable");
    wr_pt1_free(&p);
}

static void test_env_errors(void **state)
{
    struct wr_flags f;
    struct wr_pt1 p;
    char err[300];
    setenv("TOR_PT_MANAGED_TRANSPORT_VER", "1", 1);
    parse_empty(&f);
    assert_int_equal(wr_pt1_apply_flags(&f, &p, err, sizeof err), -1);
    CHECK_CONTAINS("neither", err, "neither TOR_PT_CLIENT_TRANSPORTS nor TOR_PT_SERVER_TRANSPORTS");
    setenv("TOR_PT_CLIENT_TRANSPORTS", "obfs4", 1);
    setenv("TOR_PT_SERVER_TRANSPORTS", "obfs4", 1);
    assert_int_equal(wr_pt1_apply_flags(&f, &p, err, sizeof err), -1);
    CHECK_STR("both", err, "TOR_PT_[CLIENT,SERVER]_TRANSPORTS both set");
    unsetenv("TOR_PT_SERVER_TRANSPORTS");
    assert_int_equal(wr_pt1_apply_flags(&f, &p, err, sizeof err), -1);
    CHECK_STR("state", err, "no TOR_PT_STATE_LOCATION environment variable");
    setenv("TOR_PT_STATE_LOCATION", "/tmp/x", 1);
    unsetenv("TOR_PT_CLIENT_TRANSPORTS");
    setenv("TOR_PT_SERVER_TRANSPORTS", "obfs4", 1);
    assert_int_equal(wr_pt1_apply_flags(&f, &p, err, sizeof err), -1);
    CHECK_STR("bindaddr", err, "no TOR_PT_SERVER_BINDADDR environment variable");
}

static void test_server_options(void **state)
{
    static const struct {
        const char *in, *json, *err;
    } rows[] = {
        { "obfs4:a=1", "{\"obfs4\":{\"a\":\"1\"}}", NULL },
        { "fakept:k1=a\\:b=c;fakept:k2=x\\\\y", "{\"fakept\":{\"k1\":\"a:b=c\",\"k2\":\"x\\\\y\"}}", NULL },
        { "a:x=1;b:y=2;a:z=\\;", "{\"a\":{\"x\":\"1\",\"z\":\";\"},\"b\":{\"y\":\"2\"}}", NULL },
        { "a:x=", "{\"a\":{\"x\":\"\"}}", NULL },
        { "obfs4", NULL, "no transport name and colon" },
        { ":x=1", NULL, "no transport name and colon" },
        { "a:x", NULL, "transport:key=value" },
        { "a:=1", NULL, "transport:key=value" },
        { "a:x=1\\", NULL, "backslash" },
    };
    for (size_t i = 0; i < N_ELEMS(rows); i++) {
        char err[200] = "";
        char *got = wr_pt1_server_options(rows[i].in, err, sizeof err);
        CHECK_STR(rows[i].in, got, rows[i].json);
        if (rows[i].err)
            CHECK_CONTAINS(rows[i].in, err, rows[i].err);
        free(got);
    }
}

static void test_parse_bind(void **state)
{
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    assert_int_equal(wr_pt1_parse_bind("10.1.2.3", AF_INET, &sin), 0);
    assert_int_equal(wr_pt1_parse_bind("[fe80::1]", AF_INET6, &sin6), 0);
    assert_int_equal(wr_pt1_parse_bind("fe80::1", AF_INET6, &sin6), 0);
    assert_int_equal(wr_pt1_parse_bind("[10.1.2.3]", AF_INET, &sin), -1);
    assert_int_equal(wr_pt1_parse_bind("10.1.2.3:5", AF_INET, &sin), -1);
    assert_int_equal(wr_pt1_parse_bind("[]", AF_INET6, &sin6), -1);
    assert_int_equal(wr_pt1_parse_bind("name.example", AF_INET, &sin), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_detect_and_version, clear_env),
        cmocka_unit_test_setup(test_client_env, clear_env),
        cmocka_unit_test_setup(test_server_env, clear_env),
        cmocka_unit_test_setup(test_env_errors, clear_env),
        cmocka_unit_test(test_server_options),
        cmocka_unit_test(test_parse_bind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
