/* fuzz_options.c: option documents and the typed accessors.
 *
 * The input is parsed as an -options document; on success, the options for each of a few
 * transport names (keyed or flat), merged over the document, and every key read back with
 * wr_opt_str, wr_opt_bool and wr_opt_uint. */
#include "fuzz.h"

#include <jansson.h>
#include <limits.h>

#include "core/options.h"

static const char *const names[] = { "plain", "obfs4", "Shadow", "meek_lite" };

static void read_all(const json_t *obj)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        char buf[64];
        int bad = 7;
        const char *s = wr_opt_str(obj, k, buf, sizeof buf, &bad);
        FUZZ_CHECK(bad == 0 || bad == 1);
        FUZZ_CHECK(!(s && bad));
        FUZZ_CHECK(bad == (json_is_object(v) || json_is_array(v)));
        FUZZ_CHECK((s == NULL) == (bad || json_is_null(v)));
        if (s && s == buf)
            FUZZ_CHECK(strlen(buf) < sizeof buf);
        int b = wr_opt_bool(obj, k, 5);
        FUZZ_CHECK(b == -1 || b == 0 || b == 1 || (b == 5 && json_is_null(v)));
        unsigned long u = 42;
        int r = wr_opt_uint(obj, k, 7, 65535, &u);
        FUZZ_CHECK(r == 0 || r == -1);
        if (r == 0)
            FUZZ_CHECK(u <= 65535 || (json_is_null(v) && u == 7));
        else
            FUZZ_CHECK(u == 42);
        r = wr_opt_uint(obj, k, 0, ULONG_MAX, &u);
        if (r == 0 && json_is_integer(v))
            FUZZ_CHECK((json_int_t)u == json_integer_value(v));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256] = "";
    char *text = (char *)fuzz_exact(data, size);
    json_t *doc = wr_options_parse(text, size, err, sizeof err);
    free(text);
    if (!doc) {
        FUZZ_CHECK(err[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(json_is_object(doc));
    read_all(doc);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        json_t *o = wr_options_for(doc, names[i], names, sizeof names / sizeof names[0]);
        FUZZ_CHECK(o && json_is_object(o));
        read_all(o);
        json_t *m = wr_options_merge(doc, o);
        FUZZ_CHECK(m && json_is_object(m));
        /* every key of o is in the merge with o's value */
        const char *k;
        json_t *v;
        json_object_foreach(o, k, v)
            FUZZ_CHECK(json_equal(json_object_get(m, k), v));
        read_all(m);
        json_decref(m);
        json_decref(o);
        /* only the requested name: the flat/keyed decision may differ, but never fails */
        o = wr_options_for(doc, names[i], &names[i], 1);
        FUZZ_CHECK(o && json_is_object(o));
        json_decref(o);
    }
    json_t *none = wr_options_for(NULL, "plain", names, 1);
    FUZZ_CHECK(none && json_object_size(none) == 0);
    json_decref(none);
    json_decref(doc);
    return 0;
}
