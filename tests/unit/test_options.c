/* test_options.c: option documents (keyed or flat), merging, and the typed accessors that take a
 * value as a JSON string or as the native number or boolean. */
#include "unit.h"

#include <jansson.h>
#include <stdlib.h>

#include "core/options.h"

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    if (!j)
        fail_msg("test JSON %s: %s", text, e.text);
    return j;
}

/* j equals the JSON text want (NULL text: j must be NULL). */
static void check_json(const char *row, const json_t *j, const char *want)
{
    if (!want) {
        if (j)
            fail_msg("[%s] got a document, want NULL", row);
        return;
    }
    json_t *w = J(want);
    if (!j || !json_equal((json_t *)j, w)) {
        char *g = j ? json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
        print_error("[%s] got %s, want %s\n", row, g ? g : "NULL", want);
        free(g);
        json_decref(w);
        fail_msg("[%s] JSON mismatch", row);
    }
    json_decref(w);
}

/* ---------------------------------------------------------------- wr_options_parse */

static void test_parse(void **state)
{
    static const struct {
        const char *in;
        const char *want;   /* JSON, or NULL for an error */
        const char *err;    /* substring of the error */
    } rows[] = {
        { "{}", "{}", NULL },
        { "{\"serverAddress\":\"192.0.2.1:443\",\"n\":1}", "{\"serverAddress\":\"192.0.2.1:443\",\"n\":1}", NULL },
        { " \n{\"plain\":{\"a\":true}}\n ", "{\"plain\":{\"a\":true}}", NULL },
        { "[]", NULL, "must be a JSON object, like {\"serverAddress\":\"192.0.2.1:443\"}" },
        { "[{\"a\":1}]", NULL, "must be a JSON object" },
        /* jansson itself refuses a scalar at the top */
        { "\"str\"", NULL, "not valid JSON: '[' or '{' expected" },
        { "42", NULL, "not valid JSON: " },
        { "null", NULL, "not valid JSON: " },
        { "", NULL, "not valid JSON: " },
        { "{", NULL, "not valid JSON: " },
        { "{\"a\":1,}", NULL, "not valid JSON: " },
        { "{\"a\":1} x", NULL, "not valid JSON: " },
        { "{\"a\":1,\"a\":2}", NULL, "not valid JSON: duplicate object key" },
        { "{'a':1}", NULL, "(line 1, column " },
    };
    for (size_t i = 0; i < N_ELEMS(rows); i++) {
        char err[256] = "";
        json_t *d = wr_options_parse(rows[i].in, strlen(rows[i].in), err, sizeof err);
        check_json(rows[i].in, d, rows[i].want);
        if (!rows[i].want)
            CHECK_CONTAINS(rows[i].in, err, rows[i].err);
        json_decref(d);
    }
}

static void test_parse_honours_len(void **state)
{
    const char text[] = "{\"a\":1}garbage";
    char err[128];
    json_t *d = wr_options_parse(text, 7, err, sizeof err);
    check_json("len", d, "{\"a\":1}");
    json_decref(d);
    /* not NUL-terminated input */
    char raw[2] = { '{', '}' };
    d = wr_options_parse(raw, 2, err, sizeof err);
    check_json("raw", d, "{}");
    json_decref(d);
}

/* ---------------------------------------------------------------- wr_options_for */

static void test_options_for(void **state)
{
    static const char *const plain_only[] = { "plain" };
    static const char *const two[] = { "plain", "obfs4" };
    static const char *const upper[] = { "OBFS4", "plain" };
    static const struct {
        const char *name;
        const char *doc;          /* NULL: no document */
        const char *transport;
        const char *const *req;
        size_t n_req;
        const char *want;
    } rows[] = {
        { "keyed", "{\"plain\":{\"a\":\"1\"},\"obfs4\":{\"cert\":\"x\"}}", "plain", two, 2, "{\"a\":\"1\"}" },
        { "keyed other", "{\"plain\":{\"a\":\"1\"},\"obfs4\":{\"cert\":\"x\"}}", "obfs4", two, 2, "{\"cert\":\"x\"}" },
        { "keyed key case-insensitive", "{\"PLAIN\":{\"a\":1}}", "plain", plain_only, 1, "{\"a\":1}" },
        { "keyed name case-insensitive", "{\"plain\":{\"a\":1}}", "Plain", plain_only, 1, "{\"a\":1}" },
        { "keyed, requested list case-insensitive", "{\"obfs4\":{\"a\":1}}", "plain", upper, 2, "{}" },
        { "keyed, nothing for this transport", "{\"obfs4\":{\"cert\":\"x\"}}", "plain", two, 2, "{}" },
        { "keyed, extra flat keys dropped", "{\"plain\":{\"a\":1},\"serverAddress\":\"1.2.3.4:5\"}", "plain", plain_only, 1, "{\"a\":1}" },
        { "flat", "{\"serverAddress\":\"1.2.3.4:5\",\"n\":2}", "plain", two, 2, "{\"serverAddress\":\"1.2.3.4:5\",\"n\":2}" },
        { "flat with an object value under an unrequested name", "{\"shadow\":{\"x\":1},\"a\":2}", "plain", plain_only, 1,
          "{\"shadow\":{\"x\":1},\"a\":2}" },
        { "transport key with a non-object value is flat", "{\"plain\":\"yes\",\"a\":2}", "plain", plain_only, 1,
          "{\"plain\":\"yes\",\"a\":2}" },
        { "no requested names: flat", "{\"plain\":{\"a\":1}}", "plain", NULL, 0, "{\"plain\":{\"a\":1}}" },
        { "empty", "{}", "plain", plain_only, 1, "{}" },
        { "no document", NULL, "plain", plain_only, 1, "{}" },
    };
    for (size_t i = 0; i < N_ELEMS(rows); i++) {
        json_t *doc = rows[i].doc ? J(rows[i].doc) : NULL;
        json_t *before = doc ? json_deep_copy(doc) : NULL;
        json_t *o = wr_options_for(doc, rows[i].transport, rows[i].req, rows[i].n_req);
        check_json(rows[i].name, o, rows[i].want);
        /* a new reference: changing it leaves the document alone */
        json_object_set_new(o, "__changed", json_true());
        if (doc && !json_equal(doc, before))
            fail_msg("[%s] the document changed", rows[i].name);
        json_decref(o);
        json_decref(doc);
        json_decref(before);
    }
}

/* ---------------------------------------------------------------- wr_options_merge */

static void test_merge(void **state)
{
    static const struct { const char *name, *base, *over, *want; } rows[] = {
        { "override key by key", "{\"a\":\"1\",\"b\":\"2\"}", "{\"b\":\"3\",\"c\":4}", "{\"a\":\"1\",\"b\":\"3\",\"c\":4}" },
        { "types may change", "{\"a\":\"1\"}", "{\"a\":1}", "{\"a\":1}" },
        { "not deep", "{\"o\":{\"x\":1,\"y\":2}}", "{\"o\":{\"x\":3}}", "{\"o\":{\"x\":3}}" },
        { "no base", NULL, "{\"a\":1}", "{\"a\":1}" },
        { "no over", "{\"a\":1}", NULL, "{\"a\":1}" },
        { "neither", NULL, NULL, "{}" },
        { "empty over", "{\"a\":1}", "{}", "{\"a\":1}" },
    };
    for (size_t i = 0; i < N_ELEMS(rows); i++) {
        json_t *b = rows[i].base ? J(rows[i].base) : NULL;
        json_t *o = rows[i].over ? J(rows[i].over) : NULL;
        json_t *bc = b ? json_deep_copy(b) : NULL;
        json_t *m = wr_options_merge(b, o);
        check_json(rows[i].name, m, rows[i].want);
        if (b && !json_equal(b, bc))
            fail_msg("[%s] base changed", rows[i].name);
        json_decref(m);
        json_decref(b);
        json_decref(o);
        json_decref(bc);
    }
}

/* ---------------------------------------------------------------- accessors */

static const char *const acc_doc =
    "{\"s\":\"text\",\"s0\":\"0\",\"i0\":0,\"i1\":1,\"i42\":42,\"ineg\":-1,\"big\":9007199254740993,"
    "\"r\":1.5,\"r1\":1.0,\"t\":true,\"f\":false,\"st\":\"true\",\"sf\":\"false\",\"sT\":\"T\",\"sF\":\"f\","
    "\"syes\":\"yes\",\"sNo\":\"No\",\"s1\":\"1\",\"s42\":\"42\",\"s2\":\"2\",\"n\":null,\"o\":{},\"a\":[],"
    "\"empty\":\"\",\"maybe\":\"maybe\",\"sneg\":\"-1\",\"splus\":\"+1\",\"sspace\":\" 1\",\"strail\":\"1 \","
    "\"shex\":\"0x10\",\"s65535\":\"65535\",\"s65536\":\"65536\",\"i65536\":65536,"
    "\"shuge\":\"18446744073709551616\",\"i2\":2}";

static void test_opt_str(void **state)
{
    static const struct { const char *key; const char *want; int bad; } rows[] = {
        { "s", "text", 0 }, { "s0", "0", 0 }, { "i0", "0", 0 }, { "i42", "42", 0 }, { "ineg", "-1", 0 },
        { "big", "9007199254740993", 0 }, { "r", "1.5", 0 }, { "r1", "1", 0 }, { "t", "true", 0 },
        { "f", "false", 0 }, { "empty", "", 0 }, { "n", NULL, 0 }, { "absent", NULL, 0 },
        { "o", NULL, 1 }, { "a", NULL, 1 },
    };
    json_t *d = J(acc_doc);
    for (size_t i = 0; i < N_ELEMS(rows); i++) {
        char buf[64];
        int bad = 7;
        const char *s = wr_opt_str(d, rows[i].key, buf, sizeof buf, &bad);
        CHECK_STR(rows[i].key, s, rows[i].want);
        CHECK_INT(rows[i].key, bad, rows[i].bad);
    }
    /* bad may be NULL; obj may be NULL */
    char buf[8];
    assert_null(wr_opt_str(d, "o", buf, sizeof buf, NULL));
    int bad = 7;
    assert_null(wr_opt_str(NULL, "s", buf, sizeof buf, &bad));
    assert_int_equal(bad, 0);
    /* a short buffer truncates the number's spelling, still a C string */
    assert_string_equal(wr_opt_str(d, "big", buf, 4, NULL), "900");
    json_decref(d);
}

static void test_opt_bool(void **state)
{
    static const struct { const char *key; int def, want; } rows[] = {
        { "t", 0, 1 }, { "st", 0, 1 }, { "sT", 0, 1 }, { "syes", 0, 1 }, { "s1", 0, 1 }, { "i1", 0, 1 },
        { "r1", 0, 1 },
        { "f", 1, 0 }, { "sf", 1, 0 }, { "sF", 1, 0 }, { "sNo", 1, 0 }, { "s0", 1, 0 }, { "i0", 1, 0 },
        { "absent", 1, 1 }, { "absent", 0, 0 }, { "absent", -7, -7 }, { "n", 1, 1 }, { "n", 0, 0 },
        { "maybe", 0, -1 }, { "empty", 0, -1 }, { "i2", 0, -1 }, { "s2", 0, -1 }, { "ineg", 0, -1 },
        { "r", 0, -1 }, { "o", 0, -1 }, { "a", 1, -1 }, { "s", 0, -1 },
    };
    json_t *d = J(acc_doc);
    for (size_t i = 0; i < N_ELEMS(rows); i++) {
        char row[64];
        snprintf(row, sizeof row, "%s (def %d)", rows[i].key, rows[i].def);
        CHECK_INT(row, wr_opt_bool(d, rows[i].key, rows[i].def), rows[i].want);
    }
    assert_int_equal(wr_opt_bool(NULL, "t", 1), 1);
    json_decref(d);
}

static void test_opt_uint(void **state)
{
    static const struct { const char *key; unsigned long def, max; int rc; unsigned long want; } rows[] = {
        { "s0", 9, 100, 0, 0 }, { "i0", 9, 100, 0, 0 }, { "s42", 9, 100, 0, 42 }, { "i42", 9, 100, 0, 42 },
        { "s65535", 0, 65535, 0, 65535 }, { "s65536", 0, 65535, -1, 0 }, { "i65536", 0, 65535, -1, 0 },
        { "i42", 0, 42, 0, 42 }, { "i42", 0, 41, -1, 0 },
        { "absent", 9, 100, 0, 9 }, { "n", 9, 100, 0, 9 },
        { "sneg", 0, 100, -1, 0 }, { "ineg", 0, 100, -1, 0 }, { "splus", 0, 100, -1, 0 },
        { "sspace", 0, 100, -1, 0 }, { "strail", 0, 100, -1, 0 }, { "shex", 0, 100, -1, 0 },
        { "empty", 0, 100, -1, 0 }, { "s", 0, 100, -1, 0 }, { "shuge", 0, (unsigned long)-1, -1, 0 },
        { "r", 0, 100, -1, 0 }, { "r1", 0, 100, 0, 1 }, { "t", 0, 100, -1, 0 }, { "o", 0, 100, -1, 0 },
        { "a", 0, 100, -1, 0 },
    };
    json_t *d = J(acc_doc);
    for (size_t i = 0; i < N_ELEMS(rows); i++) {
        unsigned long out = 12345;
        char row[64];
        snprintf(row, sizeof row, "%s (max %lu)", rows[i].key, rows[i].max);
        CHECK_INT(row, wr_opt_uint(d, rows[i].key, rows[i].def, rows[i].max, &out), rows[i].rc);
        if (rows[i].rc == 0)
            CHECK_INT(row, out, rows[i].want);
        else
            CHECK_INT(row, out, 12345);     /* untouched on error */
    }
    json_decref(d);
}

/* The whole path a connection takes: -options keyed, SOCKS settings flat, merged. */
static void test_keyed_then_merge(void **state)
{
    static const char *const names[] = { "plain", "obfs4" };
    char err[128];
    const char *doc_text = "{\"plain\":{\"serverAddress\":\"192.0.2.1:443\",\"mtu\":\"1400\"},\"obfs4\":{\"iat-mode\":0}}";
    json_t *doc = wr_options_parse(doc_text, strlen(doc_text), err, sizeof err);
    assert_non_null(doc);
    json_t *base = wr_options_for(doc, "plain", names, 2);
    json_t *conn = J("{\"mtu\":1200,\"extra\":true}");
    json_t *mine = wr_options_for(conn, "plain", names, 1);
    json_t *m = wr_options_merge(base, mine);
    check_json("merged", m, "{\"serverAddress\":\"192.0.2.1:443\",\"mtu\":1200,\"extra\":true}");
    unsigned long mtu;
    assert_int_equal(wr_opt_uint(m, "mtu", 0, 65535, &mtu), 0);
    assert_int_equal(mtu, 1200);
    assert_int_equal(wr_opt_bool(m, "extra", 0), 1);
    json_decref(m);
    json_decref(mine);
    json_decref(conn);
    json_decref(base);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_honours_len),
        cmocka_unit_test(test_options_for),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_opt_str),
        cmocka_unit_test(test_opt_bool),
        cmocka_unit_test(test_opt_uint),
        cmocka_unit_test(test_keyed_then_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
