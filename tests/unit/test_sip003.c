/* test_sip003.c: SS_PLUGIN_OPTIONS parsing and the command line built from a SIP003
 * environment (ipc/sip003.c). */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "ipc/sip003.h"

static void parse(const char *opts, const char *want_json, const char *want_transport, int want_server)
{
    char json[512], transport[64], err[200];
    int is_server = -1;
    if (wr_sip003_parse_options(opts, json, sizeof json, transport, sizeof transport, &is_server,
                                err, sizeof err) != 0)
        fail_msg("'%s': %s", opts, err);
    assert_string_equal(json, want_json);
    assert_string_equal(transport, want_transport);
    assert_int_equal(is_server, want_server);
}

static void test_options(void **state)
{
    parse("", "{}", "plain", 0);
    parse("server", "{}", "plain", 1);
    parse("client", "{}", "plain", 0);
    parse("server;foo=bar\\;baz", "{\"foo\":\"bar;baz\"}", "plain", 1);
    parse("transport=shadow;password=a\\=b\\\\c;cipherName=aes-128-gcm",
          "{\"password\":\"a=b\\\\c\",\"cipherName\":\"aes-128-gcm\"}", "shadow", 0);
    parse("k=v=w;;mux", "{\"k\":\"v=w\",\"mux\":true}", "plain", 0);
    parse("cert=AB+/c==", "{\"cert\":\"AB+/c==\"}", "plain", 0);
    parse("server=1;transport=plain", "{}", "plain", 1);
    parse("server=false", "{}", "plain", 0);
}

static void test_bad_options(void **state)
{
    static const char *const bad[] = { "a=b\\", "=v", "x=\xff\xfe", "server=maybe", "transport",
                                       "transport=" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[512], transport[64], err[200] = "";
        int is_server;
        if (wr_sip003_parse_options(bad[i], json, sizeof json, transport, sizeof transport,
                                    &is_server, err, sizeof err) == 0)
            fail_msg("'%s' was accepted", bad[i]);
        assert_true(strlen(err) > 0);
    }
}

static void test_argv_client_and_server(void **state)
{
    char **argv, err[300];
    int argc;
    unsetenv("SS_REMOTE_HOST");
    unsetenv("SS_LOCAL_HOST");
    assert_int_equal(wr_sip003_argv(&argv, &argc, err, sizeof err), 0);

    setenv("SS_REMOTE_HOST", "192.0.2.7|198.51.100.1", 1);
    setenv("SS_REMOTE_PORT", "8388", 1);
    setenv("SS_LOCAL_HOST", "127.0.0.1", 1);
    setenv("SS_LOCAL_PORT", "40000", 1);
    setenv("SS_PLUGIN_OPTIONS", "transport=shadow;password=pw", 1);
    assert_int_equal(wr_sip003_argv(&argv, &argc, err, sizeof err), 1);
    const char *want_c[] = { "warren", "-client", "-transport", "shadow", "-mode", "transparent-TCP",
                             "-proxylistenaddr", "127.0.0.1:40000", "-options",
                             "{\"shadow\":{\"password\":\"pw\",\"serverAddress\":\"192.0.2.7:8388\"}}" };
    assert_int_equal(argc, 10);
    for (int i = 0; i < argc; i++)
        assert_string_equal(argv[i], want_c[i]);
    wr_sip003_free(argv, argc);

    setenv("SS_PLUGIN_OPTIONS", "server", 1);
    setenv("SS_REMOTE_HOST", "::", 1);
    assert_int_equal(wr_sip003_argv(&argv, &argc, err, sizeof err), 1);
    const char *want_s[] = { "warren", "-server", "-transport", "plain", "-bindaddr",
                             "plain-[::]:8388", "-target", "127.0.0.1:40000", "-options",
                             "{\"plain\":{}}" };
    assert_int_equal(argc, 10);
    for (int i = 0; i < argc; i++)
        assert_string_equal(argv[i], want_s[i]);
    wr_sip003_free(argv, argc);

    unsetenv("SS_LOCAL_PORT");
    assert_int_equal(wr_sip003_argv(&argv, &argc, err, sizeof err), -1);
    assert_non_null(strstr(err, "SS_LOCAL_PORT"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_argv_client_and_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
