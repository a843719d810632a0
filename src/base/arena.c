/* Arena: chunks from the allocator hook, bump-allocated, freed all at once. Programs keep
 * their IR in one arena; nothing in it is freed object by object. */
#include <string.h>

#include "base.h"

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    unsigned char *mem;
} chunk;

struct mk_arena {
    const mk_allocator *alloc;
    chunk *head;
    size_t total;
};

enum { CHUNK_MIN = 64 * 1024, ALIGN = 16 };

mk_arena *mk_arena_new(const mk_allocator *a)
{
    if (!a) a = mk_alloc_default();
    mk_arena *ar = mk_malloc(a, sizeof *ar);
    if (!ar) return NULL;
    ar->alloc = a;
    ar->head = NULL;
    ar->total = 0;
    return ar;
}

void mk_arena_free(mk_arena *ar)
{
    if (!ar) return;
    chunk *c = ar->head;
    while (c) {
        chunk *n = c->next;
        mk_free(ar->alloc, c, sizeof *c + c->size + ALIGN);
        c = n;
    }
    mk_free(ar->alloc, ar, sizeof *ar);
}

const mk_allocator *mk_arena_allocator(const mk_arena *ar)
{
    return ar->alloc;
}

size_t mk_arena_bytes(const mk_arena *ar)
{
    return ar->total;
}

void *mk_arena_alloc(mk_arena *ar, size_t n)
{
    size_t need;
    if (!mk_add_size(n, ALIGN - 1, &need)) return NULL;
    need &= ~(size_t)(ALIGN - 1);
    if (need == 0) need = ALIGN;
    chunk *c = ar->head;
    if (!c || c->size - c->used < need) {
        size_t sz = need > CHUNK_MIN ? need : CHUNK_MIN, all;
        if (!mk_add_size(sizeof(chunk) + ALIGN, sz, &all)) return NULL;
        c = mk_malloc(ar->alloc, all);
        if (!c) return NULL;
        c->size = sz;
        c->used = 0;
        uintptr_t base = (uintptr_t)(c + 1);
        c->mem = (unsigned char *)((base + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1));
        /* large one-off blocks go behind the head so the head keeps its free space */
        if (ar->head && sz > CHUNK_MIN) {
            c->next = ar->head->next;
            ar->head->next = c;
        } else {
            c->next = ar->head;
            ar->head = c;
        }
        ar->total += sz;
    }
    void *p = c->mem + c->used;
    c->used += need;
    memset(p, 0, need);
    return p;
}

void *mk_arena_array(mk_arena *ar, size_t count, size_t size)
{
    size_t n;
    if (!mk_mul_size(count, size, &n)) return NULL;
    return mk_arena_alloc(ar, n);
}

char *mk_arena_strndup(mk_arena *ar, const char *s, size_t n)
{
    char *d = mk_arena_alloc(ar, n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

char *mk_arena_strdup(mk_arena *ar, const char *s)
{
    return s ? mk_arena_strndup(ar, s, strlen(s)) : NULL;
}

void *mk_arena_memdup(mk_arena *ar, const void *p, size_t n)
{
    void *d = mk_arena_alloc(ar, n);
    if (d && n) memcpy(d, p, n);
    return d;
}

char *mk_arena_printf(mk_arena *ar, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *d = n < 0 ? NULL : mk_arena_alloc(ar, (size_t)n + 1);
    if (d) vsnprintf(d, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return d;
}
