/* test_flags.c: wr_flags_parse reads argv as Go's flag package does, plus the old spellings. */
#include "unit.h"

#include <stdlib.h>

#include "cli/flags.h"

/* Fields a table row can name in its expectations. */
struct field {
    const char *name;
    size_t off;
    int is_str;
};

#define FS(f) { #f, offsetof(struct wr_flags, f), 1 }
#define FB(f) { #f, offsetof(struct wr_flags, f), 0 }

static const struct field fields[] = {
    FS(ptversion), FS(state), FS(ipc_log_level), FS(log_level), FS(transport), FS(transports),
    FS(options), FS(options_file), FS(mode), FS(proxylistenaddr), FS(proxylistenhost),
    FS(proxylistenport), FS(proxy), FS(bindaddr), FS(bindhost), FS(bindport), FS(target),
    FS(targethost), FS(targetport), FS(extorport), FS(authcookie),
    FB(exit_on_stdin_close), FB(client), FB(server), FB(transparent), FB(udp),
    FB(enable_logging), FB(unsafe_logging), FB(show_version), FB(help), FB(orport_used),
};

static const struct field *field_find(const char *name)
{
    for (size_t i = 0; i < N_ELEMS(fields); i++)
        if (!strcmp(fields[i].name, name))
            return &fields[i];
    return NULL;
}

#define MAXARGS 12
#define MAXEXP 6

struct expect {
    const char *field;
    const char *value;          /* string fields: the value or NULL; int fields: decimal */
};

struct flag_case {
    const char *name;
    const char *args[MAXARGS];  /* after argv[0], NULL-terminated */
    int rc;
    const char *error;          /* exact flags.error; "" when rc is 0 */
    struct expect exp[MAXEXP];
};

static const struct flag_case cases[] = {
    /* Value syntaxes. */
    { "space value", { "-transport", "plain" }, 0, "", { { "transport", "plain" } } },
    { "equals value", { "-transport=plain" }, 0, "", { { "transport", "plain" } } },
    { "double dash equals", { "--transport=plain" }, 0, "", { { "transport", "plain" } } },
    { "double dash space", { "--transport", "plain" }, 0, "", { { "transport", "plain" } } },
    { "empty value after =", { "-state=" }, 0, "", { { "state", "" } } },
    { "value with '='", { "-options={\"a\":\"b=c\"}" }, 0, "", { { "options", "{\"a\":\"b=c\"}" } } },
    { "value that looks like a flag", { "-transport", "-client" }, 0, "",
      { { "transport", "-client" }, { "client", "-1" } } },
    { "last value wins", { "-transport", "a", "-transport=b", "--transport", "c" }, 0, "",
      { { "transport", "c" } } },
    { "nothing given", { NULL }, 0, "",
      { { "transport", NULL }, { "client", "-1" }, { "server", "-1" }, { "exit_on_stdin_close", "-1" },
        { "show_version", "-1" }, { "orport_used", "0" } } },

    /* Bools. */
    { "bool bare", { "-client" }, 0, "", { { "client", "1" }, { "server", "-1" } } },
    { "bool =true", { "-client=true" }, 0, "", { { "client", "1" } } },
    { "bool =false", { "-client=false" }, 0, "", { { "client", "0" } } },
    { "bool --=1", { "--server=1" }, 0, "", { { "server", "1" } } },
    { "bool =0", { "-server=0" }, 0, "", { { "server", "0" } } },
    { "bool =T", { "-unsafeLogging=T" }, 0, "", { { "unsafe_logging", "1" } } },
    { "bool =F", { "-enableLogging=F" }, 0, "", { { "enable_logging", "0" } } },
    { "bool =TRUE", { "-udp=TRUE" }, 0, "", { { "udp", "1" } } },
    { "bool last wins", { "-client", "-client=false" }, 0, "", { { "client", "0" } } },
    { "bool bad value", { "-client=maybe" }, -1, "invalid boolean value for flag -client=maybe",
      { { "client", "-1" } } },
    { "exit-on-stdin-close 1 consumes the literal", { "-exit-on-stdin-close", "1", "-client" }, 0, "",
      { { "exit_on_stdin_close", "1" }, { "client", "1" } } },
    { "exit-on-stdin-close 0", { "-exit-on-stdin-close", "0" }, 0, "",
      { { "exit_on_stdin_close", "0" } } },
    { "exit-on-stdin-close false", { "--exit-on-stdin-close", "false" }, 0, "",
      { { "exit_on_stdin_close", "0" } } },
    { "exit-on-stdin-close true", { "-exit-on-stdin-close", "true" }, 0, "",
      { { "exit_on_stdin_close", "1" } } },
    { "bool does not eat other words", { "-exit-on-stdin-close", "yes" }, -1,
      "unexpected argument 'yes' (flags start with '-')", { { "exit_on_stdin_close", "1" } } },
    { "bool does not eat the next flag", { "-client", "-transport", "plain" }, 0, "",
      { { "client", "1" }, { "transport", "plain" } } },
    { "enableLocket accepted and ignored", { "-enableLocket", "-client" }, 0, "", { { "client", "1" } } },

    /* Positional arguments and "--". */
    { "managed ignored", { "managed", "-client" }, 0, "", { { "client", "1" } } },
    { "managed ignored at the end", { "-transport", "plain", "managed" }, 0, "",
      { { "transport", "plain" } } },
    { "other positional", { "foo" }, -1, "unexpected argument 'foo' (flags start with '-')", { { NULL, NULL } } },
    { "lone dash", { "-" }, -1, "unexpected argument '-' (flags start with '-')", { { NULL, NULL } } },
    { "-- ends flags", { "-client", "--" }, 0, "", { { "client", "1" } } },
    { "-- then a flag is an argument", { "-client", "--", "-server" }, -1,
      "unexpected argument '-server' after '--'", { { "client", "1" }, { "server", "-1" } } },
    { "-- then managed is still an argument", { "--", "managed" }, -1,
      "unexpected argument 'managed' after '--'", { { NULL, NULL } } },
    { "three dashes", { "---client" }, -1, "bad flag syntax: ---client", { { "client", "-1" } } },
    { "dash equals", { "-=x" }, -1, "bad flag syntax: -=x", { { NULL, NULL } } },

    /* Errors. */
    { "unknown flag", { "-bogus" }, -1, "flag provided but not defined: -bogus", { { NULL, NULL } } },
    { "unknown flag with value", { "--bogus=1" }, -1, "flag provided but not defined: -bogus",
      { { NULL, NULL } } },
    { "flag names are case-sensitive", { "-Client" }, -1, "flag provided but not defined: -Client",
      { { NULL, NULL } } },
    { "prefix is not a flag", { "-trans", "x" }, -1, "flag provided but not defined: -trans",
      { { NULL, NULL } } },
    { "missing argument", { "-transport" }, -1, "flag needs an argument: -transport",
      { { "transport", NULL } } },
    { "missing argument, double dash", { "-client", "--state" }, -1, "flag needs an argument: -state",
      { { "client", "1" } } },
    { "first error is kept, parsing goes on", { "-bogus", "-other", "-ptversion", "3.0" }, -1,
      "flag provided but not defined: -bogus", { { "ptversion", "3.0" } } },

    /* -version in its two old meanings. */
    { "-version N is -ptversion", { "-version", "2" }, 0, "",
      { { "ptversion", "2" }, { "show_version", "-1" } } },
    { "-version=3.0 is -ptversion", { "-version=3.0" }, 0, "",
      { { "ptversion", "3.0" }, { "show_version", "-1" } } },
    { "bare -version", { "-version" }, 0, "", { { "show_version", "1" }, { "ptversion", NULL } } },
    { "bare -version then a flag", { "-version", "-client" }, 0, "",
      { { "show_version", "1" }, { "client", "1" }, { "ptversion", NULL } } },
    { "-version 1 is a bool", { "-version", "1" }, 0, "", { { "show_version", "1" }, { "ptversion", NULL } } },
    { "-version false", { "--version", "false" }, 0, "",
      { { "show_version", "0" }, { "ptversion", NULL } } },
    { "-version=true", { "-version=true" }, 0, "", { { "show_version", "1" }, { "ptversion", NULL } } },
    { "-showVersion", { "-showVersion" }, 0, "", { { "show_version", "1" } } },

    /* Old spellings. */
    { "-orport is -target", { "-orport", "127.0.0.1:9000" }, 0, "",
      { { "target", "127.0.0.1:9000" }, { "orport_used", "1" } } },
    { "-target does not set orport_used", { "-target", "127.0.0.1:9000" }, 0, "",
      { { "target", "127.0.0.1:9000" }, { "orport_used", "0" } } },
    { "-logLevel", { "-logLevel", "DEBUG", "-ipcLogLevel=INFO" }, 0, "",
      { { "log_level", "DEBUG" }, { "ipc_log_level", "INFO" } } },
    { "-transparent -udp", { "-transparent", "-udp" }, 0, "", { { "transparent", "1" }, { "udp", "1" } } },
    { "-h", { "-h" }, 0, "", { { "help", "1" } } },
    { "--help", { "--help" }, 0, "", { { "help", "1" } } },

    /* Every string flag by name. */
    { "all string flags",
      { "-proxylistenaddr=1.1.1.1:1", "-proxylistenhost=h", "-proxylistenport=2", "-proxy=p",
        "-bindaddr=b", "-bindhost=bh", "-bindport=3", "-targethost=th", "-targetport=4", "-extorport=e",
        "-authcookie=a" },
      0, "",
      { { "proxylistenaddr", "1.1.1.1:1" }, { "proxylistenhost", "h" }, { "proxy", "p" },
        { "bindport", "3" }, { "targethost", "th" }, { "authcookie", "a" } } },
    { "more string flags",
      { "-transports=a,b", "-optionsFile=/x", "-mode=socks5", "-options={}", "-state=/s", "-proxylistenport", "9" },
      0, "",
      { { "transports", "a,b" }, { "options_file", "/x" }, { "mode", "socks5" }, { "options", "{}" },
        { "state", "/s" }, { "proxylistenport", "9" } } },
};

static void check_case(const struct flag_case *c)
{
    char *argv[MAXARGS + 2];
    int argc = 0;
    argv[argc++] = (char *)"warren";
    for (size_t i = 0; i < MAXARGS && c->args[i]; i++)
        argv[argc++] = (char *)c->args[i];
    argv[argc] = NULL;

    struct wr_flags f;
    memset(&f, 0xa5, sizeof f);    /* the parser must set every field itself */
    int rc = wr_flags_parse(&f, argc, argv);
    CHECK_INT(c->name, rc, c->rc);
    CHECK_STR(c->name, f.error, c->error);
    for (size_t i = 0; i < MAXEXP && c->exp[i].field; i++) {
        const struct field *fd = field_find(c->exp[i].field);
        if (!fd)
            fail_msg("[%s] test table names unknown field %s", c->name, c->exp[i].field);
        char row[160];
        snprintf(row, sizeof row, "%s: %s", c->name, fd->name);
        if (fd->is_str) {
            const char *got = *(const char *const *)((const char *)&f + fd->off);
            CHECK_STR(row, got, c->exp[i].value);
        } else {
            int got = *(const int *)((const char *)&f + fd->off);
            CHECK_INT(row, got, atoi(c->exp[i].value));
        }
    }
}

static void test_table(void **state)
{
    for (size_t i = 0; i < N_ELEMS(cases); i++)
        check_case(&cases[i]);
}

/* Values point into argv (no copies): the config keeps them. */
static void test_values_alias_argv(void **state)
{
    char a1[] = "-proxy", a2[] = "socks5://127.0.0.1:1080";
    char *argv[] = { (char *)"warren", a1, a2, NULL };
    struct wr_flags f;
    assert_int_equal(wr_flags_parse(&f, 3, argv), 0);
    assert_ptr_equal(f.proxy, a2);
}

/* Every bool not given is -1, every string not given is NULL. */
static void test_defaults(void **state)
{
    char *argv[] = { (char *)"warren", NULL };
    struct wr_flags f;
    memset(&f, 0x5a, sizeof f);
    assert_int_equal(wr_flags_parse(&f, 1, argv), 0);
    for (size_t i = 0; i < N_ELEMS(fields); i++) {
        if (fields[i].is_str)
            CHECK_STR(fields[i].name, *(const char *const *)((const char *)&f + fields[i].off), NULL);
        else if (strcmp(fields[i].name, "orport_used") != 0)
            CHECK_INT(fields[i].name, *(const int *)((const char *)&f + fields[i].off), -1);
    }
    assert_int_equal(f.orport_used, 0);
    assert_string_equal(f.error, "");
}

/* A very long unknown flag name is cut in the message, which stays a C string. */
static void test_long_unknown_flag(void **state)
{
    char arg[600];
    arg[0] = '-';
    memset(arg + 1, 'x', sizeof arg - 2);
    arg[sizeof arg - 1] = '\0';
    char *argv[] = { (char *)"warren", arg, NULL };
    struct wr_flags f;
    assert_int_equal(wr_flags_parse(&f, 2, argv), -1);
    char want[128];
    snprintf(want, sizeof want, "flag provided but not defined: -%.80s", arg + 1);
    assert_string_equal(f.error, want);
}

static void test_usage(void **state)
{
    const char *u = wr_flags_usage();
    assert_non_null(u);
    assert_non_null(strstr(u, "Usage: warren"));
    assert_non_null(strstr(u, "-ptversion"));
    assert_non_null(strstr(u, "-exit-on-stdin-close"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_values_alias_argv),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_long_unknown_flag),
        cmocka_unit_test(test_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
