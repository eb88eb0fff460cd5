/* fuzz.h: helpers shared by the harnesses. */
#ifndef WARREN_FUZZ_H
#define WARREN_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of the code under test failed: a finding, like a sanitizer report. */
#define FUZZ_CHECK(cond)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);       \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

/* A heap copy of p[0..n) with nothing readable after it (ASan flags any overread). */
static inline uint8_t *fuzz_exact(const uint8_t *p, size_t n)
{
    uint8_t *b = malloc(n);          /* malloc(0) too: ASan flags any read of it */
    if (!b && n)
        abort();
    if (n)
        memcpy(b, p, n);
    return b;
}

/* A NUL-terminated heap copy of p[0..n), cut at the first NUL. */
static inline char *fuzz_cstr(const uint8_t *p, size_t n)
{
    const uint8_t *z = memchr(p, 0, n);
    size_t len = z ? (size_t)(z - p) : n;
    char *s = malloc(len + 1);
    if (!s)
        abort();
    memcpy(s, p, len);
    s[len] = '\0';
    return s;
}

/* A growable byte buffer for the reference decoders of the differential harnesses. */
struct buf {
    uint8_t *p;
    size_t n, cap;
};

static inline void buf_reserve(struct buf *b, size_t more)
{
    if (b->n + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + more)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p)
        abort();
    b->p = p;
    b->cap = cap;
}

static inline void buf_add(struct buf *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
}

static inline int buf_eq(const struct buf *b, const uint8_t *p, size_t n)
{
    return b->n == n && (!n || memcmp(b->p, p, n) == 0);
}

#endif
