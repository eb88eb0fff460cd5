/* unit.h: what every cmocka unit test includes, plus checks that name the table row that
 * failed (cmocka's own asserts only give the line of the loop). */
#ifndef WARREN_TESTS_UNIT_H
#define WARREN_TESTS_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Strings equal; either may be NULL (NULL only equals NULL). */
#define CHECK_STR(row, got, want)                                                               \
    do {                                                                                        \
        const char *g_ = (got), *w_ = (want);                                                   \
        if ((g_ == NULL) != (w_ == NULL) || (g_ && strcmp(g_, w_) != 0))                        \
            fail_msg("[%s] %s: got \"%s\", want \"%s\"", (row), #got, g_ ? g_ : "(null)",       \
                     w_ ? w_ : "(null)");                                                       \
    } while (0)

/* got contains want (want NULL: nothing to check). */
#define CHECK_CONTAINS(row, got, want)                                                          \
    do {                                                                                        \
        const char *g_ = (got), *w_ = (want);                                                   \
        if (w_ && (!g_ || !strstr(g_, w_)))                                                     \
            fail_msg("[%s] %s: \"%s\" does not contain \"%s\"", (row), #got,                    \
                     g_ ? g_ : "(null)", w_);                                                   \
    } while (0)

#define CHECK_INT(row, got, want)                                                               \
    do {                                                                                        \
        long long g_ = (long long)(got), w_ = (long long)(want);                                \
        if (g_ != w_)                                                                           \
            fail_msg("[%s] %s: got %lld, want %lld", (row), #got, g_, w_);                      \
    } while (0)

#define CHECK_MEM(row, got, got_len, want, want_len)                                            \
    do {                                                                                        \
        size_t gl_ = (got_len), wl_ = (want_len);                                               \
        if (gl_ != wl_ || memcmp((got), (want), gl_) != 0) {                                    \
            char gh_[512], wh_[512];                                                            \
            unit_hex(gh_, sizeof gh_, (const uint8_t *)(got), gl_);                             \
            unit_hex(wh_, sizeof wh_, (const uint8_t *)(want), wl_);                            \
            fail_msg("[%s] %s: got %zu bytes %s, want %zu bytes %s", (row), #got, gl_, gh_,     \
                     wl_, wh_);                                                                 \
        }                                                                                       \
    } while (0)

static inline void unit_hex(char *out, size_t outlen, const uint8_t *p, size_t n)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && o + 4 < outlen; i++)
        o += (size_t)snprintf(out + o, outlen - o, "%02x", p[i]);
    if (o + 4 >= outlen && outlen > 4)
        snprintf(out + outlen - 4, 4, "...");
}

#endif
