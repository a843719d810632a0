/* The allocator hook: every heap request in milkit goes through an mk_allocator, so tests
 * can make the Nth allocation fail. Also overflow-checked size arithmetic. */
#include <stdlib.h>
#include <string.h>

#include "base.h"

static void *std_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, nsize);
}

static const mk_allocator std_allocator = {std_alloc, NULL};

const mk_allocator *mk_alloc_default(void)
{
    return &std_allocator;
}

void *mk_malloc(const mk_allocator *a, size_t n)
{
    if (!a) a = &std_allocator;
    return a->fn(a->ud, NULL, 0, n ? n : 1);
}

void *mk_calloc(const mk_allocator *a, size_t count, size_t size)
{
    size_t n;
    if (!mk_mul_size(count, size, &n)) return NULL;
    void *p = mk_malloc(a, n);
    if (p) memset(p, 0, n ? n : 1);
    return p;
}

void *mk_realloc(const mk_allocator *a, void *p, size_t old_n, size_t new_n)
{
    if (!a) a = &std_allocator;
    return a->fn(a->ud, p, old_n, new_n ? new_n : 1);
}

void mk_free(const mk_allocator *a, void *p, size_t n)
{
    if (!p) return;
    if (!a) a = &std_allocator;
    a->fn(a->ud, p, n, 0);
}

static void *failing_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    mk_failing_alloc *fa = ud;
    if (nsize == 0) return std_alloc(NULL, ptr, osize, 0);
    fa->calls++;
    if (fa->fail_at > 0 && fa->calls >= fa->fail_at) return NULL;
    return std_alloc(NULL, ptr, osize, nsize);
}

void mk_failing_alloc_init(mk_failing_alloc *fa, long fail_at)
{
    fa->base.fn = failing_alloc;
    fa->base.ud = fa;
    fa->calls = 0;
    fa->fail_at = fail_at;
}

int mk_mul_size(size_t a, size_t b, size_t *out)
{
    if (a && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

int mk_add_size(size_t a, size_t b, size_t *out)
{
    if (b > SIZE_MAX - a) return 0;
    *out = a + b;
    return 1;
}
