/* test_kv.c: PT 1.0 client arguments ("k=v;k=v", tor's escaping) and SMETHOD ARGS escaping. */
#include "unit.h"

#include <jansson.h>

#include "core/kv.h"

struct kv { const char *k, *v; };

struct parse_case {
    const char *name;
    const char *in;
    size_t len;                 /* 0: strlen(in) */
    const char *err;            /* NULL: must parse; else the exact error */
    struct kv want[4];          /* the whole object, in any order */
};

static const struct parse_case cases[] = {
    { "empty", "", 0, NULL, { { NULL, NULL } } },
    { "one", "k=v", 0, NULL, { { "k", "v" } } },
    { "empty value", "k=", 0, NULL, { { "k", "" } } },
    { "two", "shared-secret=rahasia;secrets-file=/tmp/blob", 0, NULL,
      { { "shared-secret", "rahasia" }, { "secrets-file", "/tmp/blob" } } },
    /* tor escapes only '\' and ';': '=' and ':' arrive bare, the first '=' splits */
    { "tor escaping", "k1=v1;k2=a=b:c\\\\d;k3=v", 0, NULL,
      { { "k1", "v1" }, { "k2", "a=b:c\\d" }, { "k3", "v" } } },
    { "escaped semicolon", "cert=AAAA\\;x;iat-mode=0", 0, NULL,
      { { "cert", "AAAA;x" }, { "iat-mode", "0" } } },
    { "escaped '=' in key", "a\\=b=c", 0, NULL, { { "a=b", "c" } } },
    { "escaped ordinary char", "k=\\v\\a\\l", 0, NULL, { { "k", "val" } } },
    { "escaped backslash at end", "k=v\\\\", 0, NULL, { { "k", "v\\" } } },
    { "spaces kept", " k = v ", 0, NULL, { { " k ", " v " } } },
    { "repeat: last wins", "k=1;k=2", 0, NULL, { { "k", "2" } } },
    { "UTF-8 value", "k=caf\xc3\xa9", 0, NULL, { { "k", "caf\xc3\xa9" } } },
    { "len honoured", "k=v;junk", 3, NULL, { { "k", "v" } } },
    /* errors */
    { "no '='", "novalue", 0, "argument without '=' (want k=v)", { { NULL, NULL } } },
    { "no '=' in second", "k=v;x", 0, "argument without '=' (want k=v)", { { NULL, NULL } } },
    { "escaped '=' is not a separator", "k\\=v", 0, "argument without '=' (want k=v)", { { NULL, NULL } } },
    { "empty key", "=v", 0, "argument with an empty key", { { NULL, NULL } } },
    { "empty key later", "a=b;=v", 0, "argument with an empty key", { { NULL, NULL } } },
    { "trailing backslash", "k=v\\", 0, "trailing backslash in arguments", { { NULL, NULL } } },
    { "trailing backslash in key", "k\\", 0, "trailing backslash in arguments", { { NULL, NULL } } },
    { "trailing semicolon ends the list", "k=v;", 0, NULL, { { "k", "v" } } },
    { "trailing semicolon after two", "a=1;b=2;", 0, NULL, { { "a", "1" }, { "b", "2" } } },
    { "escaped trailing semicolon is data", "k=v\\;", 0, NULL, { { "k", "v;" } } },
    { "two trailing semicolons", "k=v;;", 0, "empty argument", { { NULL, NULL } } },
    { "lone semicolon", ";", 0, "empty argument", { { NULL, NULL } } },
    { "empty middle", "a=b;;c=d", 0, "empty argument", { { NULL, NULL } } },
    { "NUL in value", "k=a\0b", 5, "NUL byte in arguments", { { NULL, NULL } } },
    { "NUL in key", "k\0=v", 4, "NUL byte in arguments", { { NULL, NULL } } },
    { "bad UTF-8 value", "k=\xff", 0, "argument is not valid UTF-8", { { NULL, NULL } } },
    { "bad UTF-8 key", "\xc3=v", 0, "argument is not valid UTF-8", { { NULL, NULL } } },
};

static void test_parse_table(void **state)
{
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        const struct parse_case *c = &cases[i];
        char err[128] = "";
        size_t len = c->len ? c->len : strlen(c->in);
        json_t *o = wr_kv_parse_client_args(c->in, len, err, sizeof err);
        if (c->err) {
            if (o)
                fail_msg("[%s] parsed, want error \"%s\"", c->name, c->err);
            CHECK_STR(c->name, err, c->err);
            continue;
        }
        if (!o)
            fail_msg("[%s] error \"%s\", want an object", c->name, err);
        assert_true(json_is_object(o));
        size_t n = 0;
        for (; n < N_ELEMS(c->want) && c->want[n].k; n++) {
            json_t *v = json_object_get(o, c->want[n].k);
            if (!json_is_string(v))
                fail_msg("[%s] key \"%s\" missing or not a string", c->name, c->want[n].k);
            CHECK_STR(c->name, json_string_value(v), c->want[n].v);
        }
        CHECK_INT(c->name, json_object_size(o), n);
        json_decref(o);
    }
}

/* A NULL err buffer is allowed. */
static void test_parse_null_err(void **state)
{
    assert_null(wr_kv_parse_client_args("x", 1, NULL, 0));
    json_t *o = wr_kv_parse_client_args("a=b", 3, NULL, 0);
    assert_non_null(o);
    json_decref(o);
}

/* The 510-byte worst case from SOCKS (255 + 255): every byte escaped. */
static void test_parse_long(void **state)
{
    char in[511];
    size_t n = 0;
    in[n++] = 'k';
    in[n++] = '=';
    while (n + 2 <= 510) {
        in[n++] = '\\';
        in[n++] = ';';
    }
    json_t *o = wr_kv_parse_client_args(in, n, NULL, 0);
    assert_non_null(o);
    const char *v = json_string_value(json_object_get(o, "k"));
    assert_non_null(v);
    assert_int_equal(strlen(v), (n - 2) / 2);
    for (size_t i = 0; v[i]; i++)
        assert_int_equal(v[i], ';');
    json_decref(o);
}

struct append_step {
    const char *k, *v;
    int rc;
    const char *out;            /* the buffer after the call */
};

static void test_append_escaping(void **state)
{
    static const struct append_step steps[] = {
        { "cert", "abc", 0, "cert=abc" },
        { "iat-mode", "0", 0, "cert=abc,iat-mode=0" },
        { "a=b", "c,d\\e", 0, "cert=abc,iat-mode=0,a\\=b=c\\,d\\\\e" },
        { "semi;colon", "x:y", 0, "cert=abc,iat-mode=0,a\\=b=c\\,d\\\\e,semi;colon=x:y" },
        { "empty", "", 0, "cert=abc,iat-mode=0,a\\=b=c\\,d\\\\e,semi;colon=x:y,empty=" },
    };
    char out[256] = "";
    for (size_t i = 0; i < N_ELEMS(steps); i++) {
        CHECK_INT(steps[i].k, wr_kv_append_arg(out, sizeof out, steps[i].k, steps[i].v), steps[i].rc);
        CHECK_STR(steps[i].k, out, steps[i].out);
    }
}

static void test_append_fits_exactly(void **state)
{
    /* "k\=v" + NUL = 5 bytes */
    char out[8];
    memset(out, '#', sizeof out);
    out[0] = '\0';
    assert_int_equal(wr_kv_append_arg(out, 4, "k=", ""), -1);
    assert_string_equal(out, "");
    assert_int_equal(out[1], '#');
    assert_int_equal(wr_kv_append_arg(out, 5, "k=", ""), 0);
    assert_string_equal(out, "k\\==");
    assert_int_equal(out[5], '#');

    /* A second argument: ",x=\\\\" needs 5 more bytes (9 with "a=b" and the NUL); out is
     * unchanged when it does not fit. */
    char o2[16] = "a=b";
    assert_int_equal(wr_kv_append_arg(o2, 8, "x", "\\"), -1);
    assert_string_equal(o2, "a=b");
    assert_int_equal(wr_kv_append_arg(o2, 9, "x", "\\"), 0);
    assert_string_equal(o2, "a=b,x=\\\\");
}

/* What append writes, split on unescaped ',' and '=' and unescaped, is what went in. */
static void test_append_round_trip(void **state)
{
    static const struct kv in[] = {
        { "k", "v" }, { "=", "=" }, { ",", "," }, { "\\", "\\" }, { "a\\,=b", "=,\\=" },
    };
    char out[512] = "";
    for (size_t i = 0; i < N_ELEMS(in); i++)
        assert_int_equal(wr_kv_append_arg(out, sizeof out, in[i].k, in[i].v), 0);
    size_t idx = 0;
    char key[64], val[64];
    size_t kl = 0, vl = 0;
    int in_val = 0;
    for (const char *p = out;; p++) {
        if (*p == '\0' || (*p == ',')) {
            key[kl] = val[vl] = '\0';
            assert_true(idx < N_ELEMS(in));
            CHECK_STR(in[idx].k, key, in[idx].k);
            CHECK_STR(in[idx].k, val, in[idx].v);
            idx++;
            kl = vl = 0;
            in_val = 0;
            if (!*p)
                break;
            continue;
        }
        char c = *p;
        if (c == '\\') {
            c = *++p;
            assert_true(c == '\\' || c == '=' || c == ',');
        } else if (c == '=' && !in_val) {
            in_val = 1;
            continue;
        }
        if (in_val)
            val[vl++] = c;
        else
            key[kl++] = c;
    }
    assert_int_equal(idx, N_ELEMS(in));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_parse_null_err),
        cmocka_unit_test(test_parse_long),
        cmocka_unit_test(test_append_escaping),
        cmocka_unit_test(test_append_fits_exactly),
        cmocka_unit_test(test_append_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
