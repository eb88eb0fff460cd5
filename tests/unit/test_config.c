/* test_config.c: -ptversion negotiation and every ENV-ERROR rule of wr_config_build. */
#include "unit.h"

#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/config.h"
#include "cli/flags.h"

/* ---------------------------------------------------------------- wr_config_version */

struct version_case {
    const char *list;
    const char *want;     /* NULL: VERSION-ERROR */
};

static const struct version_case version_cases[] = {
    { NULL, "3.0" },               /* no -ptversion: answer 3.0 */
    { "3.0", "3.0" },
    { "1,2,3.0", "3.0" },          /* the best we support */
    { "3.0,2,1", "3.0" },
    { "1,2", "2" },
    { "1,2.1", "2.1" },
    { "2.2.1", "2.2.1" },
    { "3", "3" },                  /* echoed as sent */
    { "2,3", "3" },
    { "1", NULL },
    { "4.0", NULL },
    { "3.00", NULL },
    { "v3.0", NULL },
    { "", NULL },                  /* empty */
    { ",", NULL },
    { ",3.0", NULL },              /* leading empty token */
    { "1,", NULL },                /* trailing comma */
    { "1,2,", NULL },
    { "3.0, 2", NULL },            /* spaces */
    { " 3.0", NULL },
    { "3.0 ", NULL },
    { "3.0\t", NULL },
    { "3.0\n", NULL },
    { "3.0,\x7f", NULL },
    { "3.0,\xc3\xa9", NULL },      /* non-ASCII */
};

static void test_version(void **state)
{
    for (size_t i = 0; i < N_ELEMS(version_cases); i++) {
        const struct version_case *c = &version_cases[i];
        char row[64];
        snprintf(row, sizeof row, "ptversion %s%s%s", c->list ? "\"" : "", c->list ? c->list : "NULL",
                 c->list ? "\"" : "");
        CHECK_STR(row, wr_config_version(c->list), c->want);
    }
}

/* Every token must be well formed, even those after the one we pick: a list with an empty
 * token is a VERSION-ERROR wherever the empty token is (a regression test: "3.0," used to be
 * answered 3.0 because matching stopped at the first good token). */
static const struct version_case empty_token_cases[] = {
    { "3.0,", NULL },              /* trailing comma after a supported version */
    { "1,3.0,", NULL },
    { "3.0,,2", NULL },            /* empty token after a supported version */
    { "2,,1", NULL },
    { "3.0,,", NULL },
    { "3,2,1,", NULL },
};

static void test_version_empty_token_after_match(void **state)
{
    int bad = 0;
    for (size_t i = 0; i < N_ELEMS(empty_token_cases); i++) {
        const char *got = wr_config_version(empty_token_cases[i].list);
        if (got) {
            print_error("ptversion \"%s\": got \"%s\", want NULL (VERSION-ERROR)\n",
                        empty_token_cases[i].list, got);
            bad++;
        }
    }
    if (bad)
        fail_msg("%d list(s) with an empty token were accepted", bad);
}

/* The answer is a copy of the token, not a pointer into the list. */
static void test_version_answer_is_copied(void **state)
{
    char list[] = "1,3";
    const char *v = wr_config_version(list);
    assert_non_null(v);
    assert_string_equal(v, "3");
    assert_true(v < list || v >= list + sizeof list);
}

/* ---------------------------------------------------------------- wr_config_build */

static char tmpdir[64];
static char state_default[128], optfile_ok[128], optfile_bad[128], optfile_big[128];
static char optfile_array[128], state_file[128], state_nested[160], state_under_file[160];
static char long_state[PATH_MAX + 16];

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int setup(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/warren-test-config.XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(state_default, sizeof state_default, "%s/state", tmpdir);
    snprintf(optfile_ok, sizeof optfile_ok, "%s/options.json", tmpdir);
    snprintf(optfile_bad, sizeof optfile_bad, "%s/bad.json", tmpdir);
    snprintf(optfile_big, sizeof optfile_big, "%s/big.json", tmpdir);
    snprintf(optfile_array, sizeof optfile_array, "%s/array.json", tmpdir);
    snprintf(state_file, sizeof state_file, "%s/a-file", tmpdir);
    snprintf(state_nested, sizeof state_nested, "%s/n1/n2/n3", tmpdir);
    snprintf(state_under_file, sizeof state_under_file, "%s/a-file/sub", tmpdir);
    memset(long_state, 'x', sizeof long_state - 1);
    long_state[0] = '/';
    long_state[sizeof long_state - 1] = '\0';
    write_file(optfile_ok, "{\"plain\":{\"k\":\"v\"}}", 19);
    write_file(optfile_bad, "{\"a\":", 5);
    write_file(optfile_array, "[1,2]", 5);
    write_file(state_file, "x", 1);
    /* 1 MiB + 1 byte: one byte over the limit. */
    size_t big = 1024 * 1024 + 1;
    char *buf = malloc(big);
    assert_non_null(buf);
    memset(buf, ' ', big);
    buf[0] = '{';
    buf[big - 1] = '}';
    write_file(optfile_big, buf, big);
    free(buf);
    return 0;
}

static int teardown(void **state)
{
    return nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Placeholders in the table, replaced by the temp paths above. */
static const char *subst(const char *a)
{
    if (!strcmp(a, "@OPT")) return optfile_ok;
    if (!strcmp(a, "@BADOPT")) return optfile_bad;
    if (!strcmp(a, "@BIGOPT")) return optfile_big;
    if (!strcmp(a, "@ARRAYOPT")) return optfile_array;
    if (!strcmp(a, "@STATEFILE")) return state_file;
    if (!strcmp(a, "@NESTED")) return state_nested;
    if (!strcmp(a, "@UNDERFILE")) return state_under_file;
    if (!strcmp(a, "@LONG")) return long_state;
    return a;
}

#define MAXARGS 24

struct cfg_case {
    const char *name;
    const char *args[MAXARGS];
    const char *err;           /* NULL: must succeed; else a substring of the ENV-ERROR text */
};

/* Each row breaks exactly one rule (rules are checked in a fixed order, so the rest of the
 * row is valid). "-state <tmp>/state" is put before the row's own arguments. */
static const struct cfg_case bad_cases[] = {
    /* flags errors pass through */
    { "unknown flag", { "-bogus", "-transport", "plain" }, "flag provided but not defined: -bogus" },
    { "missing argument", { "-transport" }, "flag needs an argument: -transport" },
    { "client and server", { "-client", "-server", "-transport", "plain" },
      "-client and -server are mutually exclusive" },
    { "bad ipcLogLevel", { "-transport", "plain", "-ipcLogLevel", "LOUD" },
      "bad -ipcLogLevel 'LOUD' (want NONE, ERROR, WARN, INFO or DEBUG)" },
    { "ipcLogLevel WARNING is not a PT 3.0 level", { "-transport", "plain", "-ipcLogLevel", "WARNING" },
      "bad -ipcLogLevel 'WARNING'" },
    { "bad logLevel", { "-transport", "plain", "-logLevel", "chatty" },
      "bad -logLevel 'chatty' (want NONE, ERROR, WARN, INFO or DEBUG)" },
    /* transports */
    { "transport and transports", { "-transport", "plain", "-transports", "plain" },
      "-transport and -transports are mutually exclusive; give one" },
    { "no transport", { "-client" }, "need -transport NAME or -transports LIST" },
    { "transport with a list", { "-transport", "plain,obfs4" },
      "-transport takes one name; use -transports for a list" },
    { "bad transport name", { "-transports", "plain,1abc" },
      "bad transport name '1abc' (want letters, digits and '_')" },
    { "bad transport char", { "-transport", "ob-fs4" }, "bad transport name 'ob-fs4'" },
    { "empty transport", { "-transport", "" }, "empty name in transport list ''" },
    { "empty name in list", { "-transports", "plain,,obfs4" }, "empty name in transport list 'plain,,obfs4'" },
    { "trailing comma in list", { "-transports", "plain," }, "empty name in transport list 'plain,'" },
    { "transport name too long",
      { "-transport", "a123456789012345678901234567890123456789012345678901234567890123" },
      "transport name too long: 'a1234567890123456789012345678901...'" },
    { "too many transports",
      { "-transports", "t1,t2,t3,t4,t5,t6,t7,t8,t9,t10,t11,t12,t13,t14,t15,t16,t17" },
      "too many transports (at most 16)" },
    /* mode */
    { "mode with transparent", { "-transport", "plain", "-mode", "socks5", "-transparent" },
      "-mode cannot be combined with -transparent or -udp" },
    { "mode with udp", { "-transport", "plain", "-mode", "socks5", "-udp" },
      "-mode cannot be combined with -transparent or -udp" },
    { "bad mode", { "-transport", "plain", "-mode", "tun" },
      "bad -mode 'tun' (want socks5, transparent-TCP, transparent-UDP or STUN)" },
    { "UDP server needs a target", { "-server", "-transport", "plain", "-bindaddr", "plain-127.0.0.1:1", "-mode", "transparent-UDP" },
      "mode transparent-UDP needs -target (the UDP server the datagrams go to)" },
    { "STUN server needs a target", { "-server", "-transport", "plain", "-bindaddr", "plain-127.0.0.1:1", "-mode", "stun" },
      "mode STUN needs -target (the UDP TURN server the datagrams go to)" },
    { "old -udp is STUN", { "-server", "-transport", "plain", "-bindaddr", "plain-127.0.0.1:1", "-udp" },
      "mode STUN needs -target" },
    { "old -transparent -udp is transparent-UDP", { "-server", "-transport", "plain", "-bindaddr", "plain-127.0.0.1:1", "-transparent", "-udp" },
      "mode transparent-UDP needs -target" },
    { "UDP server behind tor", { "-server", "-transport", "plain", "-bindaddr", "plain-127.0.0.1:1", "-mode", "transparent-UDP", "-target", "127.0.0.1:2", "-extorport", "127.0.0.1:3", "-authcookie", "/c" },
      "mode transparent-UDP needs -target" },
    /* options */
    { "options and optionsFile", { "-transport", "plain", "-options", "{}", "-optionsFile", "@OPT" },
      "-options and -optionsFile are mutually exclusive; give one" },
    { "options not JSON", { "-transport", "plain", "-options", "{\"a\":" }, "-options not valid JSON: " },
    { "options not an object", { "-transport", "plain", "-options", "[1]" },
      "-options must be a JSON object" },
    { "options duplicate key", { "-transport", "plain", "-options", "{\"a\":1,\"a\":2}" },
      "-options not valid JSON: duplicate object key" },
    { "optionsFile missing", { "-transport", "plain", "-optionsFile", "/nonexistent/warren.json" },
      "cannot read -optionsFile /nonexistent/warren.json: No such file or directory" },
    { "optionsFile not JSON", { "-transport", "plain", "-optionsFile", "@BADOPT" }, ": not valid JSON: " },
    { "optionsFile not an object", { "-transport", "plain", "-optionsFile", "@ARRAYOPT" },
      ": must be a JSON object" },
    { "optionsFile too big", { "-transport", "plain", "-optionsFile", "@BIGOPT" }, ": larger than 1 MiB" },
    /* client rules */
    { "client bindhost", { "-transport", "plain", "-bindhost", "127.0.0.1" },
      "-bindhost is a server flag (add -server)" },
    { "client bindport", { "-transport", "plain", "-bindport", "1" }, "-bindport is a server flag (add -server)" },
    { "client targethost", { "-transport", "plain", "-targethost", "h" },
      "-targethost is a server flag (add -server)" },
    { "client targetport", { "-transport", "plain", "-targetport", "1" },
      "-targetport is a server flag (add -server)" },
    { "client extorport", { "-transport", "plain", "-extorport", "127.0.0.1:1" },
      "-extorport is a server flag (add -server)" },
    { "client authcookie", { "-transport", "plain", "-authcookie", "/x" },
      "-authcookie is a server flag (add -server)" },
    { "proxylistenaddr with host", { "-transport", "plain", "-proxylistenaddr", "127.0.0.1:1", "-proxylistenhost", "127.0.0.1" },
      "-proxylistenaddr cannot be combined with -proxylistenhost/-proxylistenport" },
    { "proxylistenaddr with port", { "-transport", "plain", "-proxylistenaddr", "127.0.0.1:1", "-proxylistenport", "2" },
      "-proxylistenaddr cannot be combined with -proxylistenhost/-proxylistenport" },
    { "proxylistenaddr name", { "-transport", "plain", "-proxylistenaddr", "localhost:1080" },
      "bad -proxylistenaddr: 'localhost' is not an IP address" },
    { "proxylistenaddr bad port", { "-transport", "plain", "-proxylistenaddr", "127.0.0.1:70000" },
      "bad -proxylistenaddr: bad port in '127.0.0.1:70000'" },
    { "proxylistenhost alone", { "-transport", "plain", "-proxylistenhost", "127.0.0.1" },
      "-proxylistenhost and -proxylistenport must be given together" },
    { "proxylistenport alone", { "-transport", "plain", "-proxylistenport", "1" },
      "-proxylistenhost and -proxylistenport must be given together" },
    { "proxylistenhost bad", { "-transport", "plain", "-proxylistenhost", "::zz", "-proxylistenport", "1" },
      "bad -proxylistenhost/-proxylistenport: " },
    { "client old bindaddr bad", { "-transport", "plain", "-bindaddr", "plain-localhost:1" },
      "bad -bindaddr for plain: 'localhost' is not an IP address" },
    /* server rules */
    { "server proxy", { "-server", "-transport", "plain", "-proxy", "socks5://127.0.0.1:1080" },
      "-proxy is a client flag; a server makes no outgoing transport connections" },
    { "server proxylistenaddr", { "-server", "-transport", "plain", "-proxylistenaddr", "127.0.0.1:1" },
      "-proxylistenaddr/-proxylistenhost/-proxylistenport are client flags (use -bindaddr)" },
    { "server proxylistenport", { "-server", "-transport", "plain", "-proxylistenport", "1" },
      "-proxylistenaddr/-proxylistenhost/-proxylistenport are client flags (use -bindaddr)" },
    { "bindaddr with bindhost", { "-server", "-transport", "plain", "-bindaddr", "plain-127.0.0.1:1", "-bindhost", "127.0.0.1" },
      "-bindaddr cannot be combined with -bindhost/-bindport" },
    { "bindhost without bindport", { "-server", "-transport", "plain", "-bindhost", "127.0.0.1", "-target", "127.0.0.1:1" },
      "-bindhost and -bindport must be given together, with -transport" },
    { "bindhost with -transports", { "-server", "-transports", "plain", "-bindhost", "127.0.0.1", "-bindport", "1" },
      "-bindhost and -bindport must be given together, with -transport" },
    { "bindhost not IP", { "-server", "-transport", "plain", "-bindhost", "localhost", "-bindport", "1" },
      "bad -bindhost/-bindport: 'localhost' is not an IP address" },
    { "bindport bad", { "-server", "-transport", "plain", "-bindhost", "127.0.0.1", "-bindport", "x" },
      "bad -bindhost/-bindport: bad port 'x' (want 0-65535)" },
    { "server no bind", { "-server", "-transport", "plain", "-target", "127.0.0.1:1" },
      "need -bindaddr name-ip:port, or -transport with -bindhost and -bindport" },
    { "bindaddr empty entry", { "-server", "-transport", "plain", "-bindaddr", ",plain-127.0.0.1:1" },
      "bad -bindaddr entry in ',plain-127.0.0.1:1' (want name-ip:port)" },
    { "bindaddr no dash", { "-server", "-transport", "plain", "-bindaddr", "127.0.0.1:1" },
      "bad -bindaddr entry '127.0.0.1:1' (want name-ip:port)" },
    { "bindaddr no name", { "-server", "-transport", "plain", "-bindaddr", "-127.0.0.1:1" },
      "bad -bindaddr entry '-127.0.0.1:1' (want name-ip:port)" },
    { "bindaddr name too long",
      { "-server", "-transport", "plain", "-bindaddr",
        "a123456789012345678901234567890123456789012345678901234567890123-127.0.0.1:1" },
      "bad -bindaddr entry: name too long" },
    { "bindaddr twice", { "-server", "-transport", "plain", "-bindaddr", "plain-127.0.0.1:1,PLAIN-127.0.0.1:2" },
      "-bindaddr names transport 'PLAIN' twice" },
    { "bindaddr name host", { "-server", "-transport", "plain", "-bindaddr", "plain-localhost:1" },
      "bad -bindaddr for plain: 'localhost' is not an IP address (host names are not allowed here)" },
    { "bindaddr no port", { "-server", "-transport", "plain", "-bindaddr", "plain-127.0.0.1" },
      "bad -bindaddr for plain: missing ':port' in '127.0.0.1'" },
    { "orport with targethost", { "-server", "-transport", "plain", "-bindaddr", "plain-127.0.0.1:1", "-orport", "127.0.0.1:2", "-targethost", "h" },
      "-orport cannot be combined with -targethost/-targetport" },
    { "target with targetport", { "-server", "-transport", "plain", "-bindaddr", "plain-127.0.0.1:1", "-target", "127.0.0.1:2", "-targetport", "3" },
      "-target cannot be combined with -targethost/-targetport" },
    { "target port 0", { "-server", "-transport", "plain", "-bindaddr", "plain-127.0.0.1:1", "-target", "127.0.0.1:0" },
      "bad -target: port 0 is not allowed in '127.0.0.1'" },
    { "target bad", { "-server", "-transport", "plain", "-bindaddr", "plain-127.0.0.1:1", "-target", "bad..name:80" },
      "bad -target: bad host name 'bad..name'" },
    { "targethost alone", { "-server", "-transport", "plain", "-bindaddr", "plain-127.0.0.1:1", "-targethost", "h" },
      "-targethost and -targetport must be given together" },
    { "targetport bad", { "-server", "-transport", "plain", "-bindaddr", "plain-127.0.0.1:1", "-targethost", "h", "-targetport", "-1" },
      "bad -targethost/-targetport: bad port '-1' (want 0-65535)" },
    { "extorport without authcookie", { "-server", "-transport", "plain", "-bindaddr", "plain-127.0.0.1:1", "-extorport", "127.0.0.1:2" },
      "No -authcookie when -extorport set" },
    { "authcookie without extorport", { "-server", "-transport", "plain", "-bindaddr", "plain-127.0.0.1:1", "-target", "127.0.0.1:2", "-authcookie", "/c" },
      "-authcookie is only used with -extorport" },
    { "extorport cookie missing", { "-server", "-transport", "plain", "-bindaddr", "plain-127.0.0.1:1", "-extorport", "127.0.0.1:2", "-authcookie", "/nonexistent/c" },
      "cannot read the ExtORPort cookie file /nonexistent/c" },
    { "extorport bad address", { "-server", "-transport", "plain", "-bindaddr", "plain-127.0.0.1:1", "-extorport", "127.0.0.1", "-authcookie", "/c" },
      "bad -extorport" },
    { "server no target", { "-server", "-transport", "plain", "-bindaddr", "plain-127.0.0.1:1" },
      "need -target host:port (or -targethost and -targetport)" },
    /* state directory */
    { "state too long", { "-transport", "plain", "-state", "@LONG" }, "-state path too long" },
    { "state is a file", { "-transport", "plain", "-state", "@STATEFILE" }, " is not a directory" },
    { "state under a file", { "-transport", "plain", "-state", "@UNDERFILE" },
      "cannot create -state directory " },
};

struct built {
    struct wr_config cfg;
    int rc;
    char err[512];
};

static void build(const char *const *args, struct built *b, const char *row)
{
    char *argv[MAXARGS + 4];
    int argc = 0;
    argv[argc++] = (char *)"warren";
    argv[argc++] = (char *)"-state";
    argv[argc++] = state_default;
    for (size_t i = 0; i < MAXARGS && args[i]; i++)
        argv[argc++] = (char *)subst(args[i]);
    argv[argc] = NULL;
    struct wr_flags f;
    wr_flags_parse(&f, argc, argv);
    memset(b->err, 0, sizeof b->err);
    b->rc = wr_config_build(&b->cfg, &f, b->err, sizeof b->err);
}

static void test_build_errors(void **state)
{
    for (size_t i = 0; i < N_ELEMS(bad_cases); i++) {
        const struct cfg_case *c = &bad_cases[i];
        struct built b;
        build(c->args, &b, c->name);
        CHECK_INT(c->name, b.rc, -1);
        CHECK_CONTAINS(c->name, b.err, c->err);
        wr_config_free(&b.cfg);   /* the caller frees after a failure too */
    }
}

static void test_state_dir_is_not_a_dir_message(void **state)
{
    const char *args[] = { "-transport", "plain", "-state", "@STATEFILE", NULL };
    struct built b;
    build(args, &b, "state file");
    assert_int_equal(b.rc, -1);
    char want[256];
    snprintf(want, sizeof want, "-state %s is not a directory", state_file);
    assert_string_equal(b.err, want);
}

static void test_client_defaults(void **state)
{
    const char *args[] = { "-transport", "plain", NULL };
    struct built b;
    build(args, &b, "client defaults");
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.cfg.is_server, 0);
    assert_int_equal(b.cfg.mode, WR_MODE_SOCKS5);
    assert_string_equal(wr_mode_name(b.cfg.mode), "socks5");
    assert_int_equal(b.cfg.exit_on_stdin_close, 0);
    assert_int_equal(b.cfg.ipc_level, WR_LOG_NONE);
    assert_int_equal(b.cfg.log_level, WR_LOG_WARN);
    assert_int_equal(b.cfg.n_transports, 1);
    assert_string_equal(b.cfg.transports[0].name, "plain");
    assert_non_null(b.cfg.transports[0].t);
    assert_null(b.cfg.options);
    assert_null(b.cfg.proxy);
    char a[WR_ADDRSTRLEN];
    wr_endpoint_format(&b.cfg.listen, a, sizeof a);
    assert_string_equal(a, "127.0.0.1:0");
    assert_string_equal(b.cfg.state_dir, state_default);
    wr_config_free(&b.cfg);
}

static void test_client_full(void **state)
{
    const char *args[] = { "-client", "-transports", "plain,Plain,nosuch", "-exit-on-stdin-close",
                           "-ipcLogLevel", "debug", "-logLevel", "WARNING", "-proxylistenhost", "::1",
                           "-proxylistenport", "1080", "-proxy", "socks5://127.0.0.1:9050",
                           "-options", "{\"plain\":{\"a\":1}}", "-mode", "TRANSPARENT-tcp",
                           "-target", "192.0.2.1:443", "-unsafeLogging", "-enableLogging", NULL };
    struct built b;
    build(args, &b, "client full");
    assert_int_equal(b.rc, 0);
    assert_string_equal(b.err, "");
    assert_int_equal(b.cfg.mode, WR_MODE_TRANSPARENT_TCP);
    assert_string_equal(wr_mode_name(b.cfg.mode), "transparent-TCP");
    assert_int_equal(b.cfg.exit_on_stdin_close, 1);
    assert_int_equal(b.cfg.ipc_level, WR_LOG_DEBUG);
    assert_int_equal(b.cfg.log_level, WR_LOG_WARN);
    assert_int_equal(b.cfg.unsafe_logging, 1);
    assert_int_equal(b.cfg.enable_logging, 1);
    /* a repeat (case-insensitive) is dropped, the first spelling stands; unknown kept, t NULL */
    assert_int_equal(b.cfg.n_transports, 2);
    assert_string_equal(b.cfg.transports[0].name, "plain");
    assert_string_equal(b.cfg.transports[1].name, "nosuch");
    assert_null(b.cfg.transports[1].t);
    char a[WR_ADDRSTRLEN];
    wr_endpoint_format(&b.cfg.listen, a, sizeof a);
    assert_string_equal(a, "[::1]:1080");
    assert_string_equal(b.cfg.proxy, "socks5://127.0.0.1:9050");
    assert_string_equal(b.cfg.client_server_address, "192.0.2.1:443");
    assert_non_null(b.cfg.options);
    assert_true(json_is_object(json_object_get(b.cfg.options, "plain")));
    wr_config_free(&b.cfg);
    assert_null(b.cfg.options);
}

static void test_client_old_transparent_and_optionsfile(void **state)
{
    const char *args[] = { "-transport", "plain", "-transparent", "-optionsFile", "@OPT", NULL };
    struct built b;
    build(args, &b, "transparent");
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.cfg.mode, WR_MODE_TRANSPARENT_TCP);
    assert_non_null(b.cfg.options);
    assert_string_equal(json_string_value(json_object_get(json_object_get(b.cfg.options, "plain"), "k")), "v");
    wr_config_free(&b.cfg);
}

static void test_client_old_bindaddr(void **state)
{
    const char *args[] = { "-transports", "plain,other", "-bindaddr", "plain-127.0.0.1:5000", NULL };
    struct built b;
    build(args, &b, "client bindaddr");
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.cfg.transports[0].has_bind, 1);
    assert_int_equal(b.cfg.transports[0].bind.port, 5000);
    assert_int_equal(b.cfg.transports[1].has_bind, 0);
    wr_config_free(&b.cfg);
}

static void test_transports_star(void **state)
{
    const char *args[] = { "-transports", "*", NULL };
    struct built b;
    build(args, &b, "star");
    assert_int_equal(b.rc, 0);
    size_t n = 0;
    while (wr_transports[n])
        n++;
    assert_int_equal(b.cfg.n_transports, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(b.cfg.transports[i].name, wr_transports[i]->name);
        assert_ptr_equal(b.cfg.transports[i].t, wr_transports[i]);
    }
    wr_config_free(&b.cfg);
}

static void test_sixteen_transports_ok(void **state)
{
    const char *args[] = { "-transports", "t1,t2,t3,t4,t5,t6,t7,t8,t9,t10,t11,t12,t13,t14,t15,t16,T16", NULL };
    struct built b;
    build(args, &b, "16");
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.cfg.n_transports, 16);
    wr_config_free(&b.cfg);
}

static void test_server_ok(void **state)
{
    struct {
        const char *name;
        const char *args[16];
        const char *target;
        const char *bind0;
    } rows[] = {
        { "bindhost/bindport + target", { "-server", "-transport", "plain", "-bindhost", "127.0.0.1", "-bindport", "0", "-target", "127.0.0.1:80" },
          "127.0.0.1:80", "127.0.0.1:0" },
        { "bindaddr + targethost/port", { "-server", "-transports", "plain", "-bindaddr", "plain-[::1]:443", "-targethost", "example.com", "-targetport", "8080" },
          "example.com:8080", "[::1]:443" },
        { "orport", { "-server", "-transport", "plain", "-bindaddr", "plain-0.0.0.0:9", "-orport", "[2001:db8::1]:9001" },
          "[2001:db8::1]:9001", "0.0.0.0:9" },
        { "bindaddr for other transport only", { "-server", "-transport", "plain", "-bindaddr", "obfs4-127.0.0.1:1", "-target", "127.0.0.1:2" },
          "127.0.0.1:2", NULL },
    };
    for (size_t i = 0; i < N_ELEMS(rows); i++) {
        struct built b;
        build(rows[i].args, &b, rows[i].name);
        CHECK_INT(rows[i].name, b.rc, 0);
        CHECK_STR(rows[i].name, b.err, "");
        CHECK_INT(rows[i].name, b.cfg.is_server, 1);
        CHECK_INT(rows[i].name, b.cfg.has_target, 1);
        char a[WR_ADDRSTRLEN];
        wr_endpoint_format(&b.cfg.target, a, sizeof a);
        CHECK_STR(rows[i].name, a, rows[i].target);
        CHECK_INT(rows[i].name, b.cfg.transports[0].has_bind, rows[i].bind0 != NULL);
        if (rows[i].bind0) {
            wr_endpoint_format(&b.cfg.transports[0].bind, a, sizeof a);
            CHECK_STR(rows[i].name, a, rows[i].bind0);
        }
        wr_config_free(&b.cfg);
    }
}

/* mkdir -p, each new component 0700. */
static void test_state_dir_created_0700(void **state)
{
    const char *args[] = { "-transport", "plain", "-state", "@NESTED", NULL };
    struct built b;
    mode_t old = umask(0);          /* 0700 must not depend on the umask letting more through */
    build(args, &b, "nested state");
    umask(old);
    assert_int_equal(b.rc, 0);
    assert_string_equal(b.cfg.state_dir, state_nested);
    char p[200];
    const char *parts[] = { "n1", "n1/n2", "n1/n2/n3" };
    for (size_t i = 0; i < N_ELEMS(parts); i++) {
        snprintf(p, sizeof p, "%s/%s", tmpdir, parts[i]);
        struct stat st;
        if (stat(p, &st) != 0)
            fail_msg("%s not created: %s", p, strerror(errno));
        assert_true(S_ISDIR(st.st_mode));
        CHECK_INT(p, st.st_mode & 07777, 0700);
    }
    wr_config_free(&b.cfg);

    /* An existing directory is fine, with a trailing slash too. */
    char again[200];
    snprintf(again, sizeof again, "%s/", state_nested);
    const char *args2[] = { "-transport", "plain", "-state", again, NULL };
    build(args2, &b, "existing state");
    assert_int_equal(b.rc, 0);
    wr_config_free(&b.cfg);
}

/* No -state (or an empty one): the current directory, nothing created. */
static void test_state_default_cwd(void **state)
{
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    const char *args[] = { "-transport", "plain", "-state", "", NULL };
    struct built b;
    build(args, &b, "empty state");
    assert_int_equal(b.rc, 0);
    assert_string_equal(b.cfg.state_dir, cwd);
    wr_config_free(&b.cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_version_empty_token_after_match),
        cmocka_unit_test(test_version_answer_is_copied),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_state_dir_is_not_a_dir_message),
        cmocka_unit_test(test_client_defaults),
        cmocka_unit_test(test_client_full),
        cmocka_unit_test(test_client_old_transparent_and_optionsfile),
        cmocka_unit_test(test_client_old_bindaddr),
        cmocka_unit_test(test_transports_star),
        cmocka_unit_test(test_sixteen_transports_ok),
        cmocka_unit_test(test_server_ok),
        cmocka_unit_test(test_state_dir_created_0700),
        cmocka_unit_test(test_state_default_cwd),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
