/* Hash maps with open addressing and linear probing: mk_strmap (string keys, FNV-1a, compared
 * by content) and mk_ptrmap (pointer keys, compared by address) share one table and one
 * implementation. Keys are borrowed, never copied; there is no removal. */
#include <string.h>

#include "base.h"

static size_t hash(const mk_strmap *m, const void *key)
{
    if (m->by_address) {
        uintptr_t x = (uintptr_t)key;
        x ^= x >> 17;
        x *= (uintptr_t)0x9E3779B97F4A7C15ull;
        return (size_t)(x ^ (x >> 29));
    }
    uint64_t h = 1469598103934665603ull;
    for (const char *s = key; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)h;
}

static int same(const mk_strmap *m, const void *a, const void *b)
{
    return m->by_address ? a == b : strcmp(a, b) == 0;
}

/* Index of key's slot, or of the empty slot where it would go (cap > 0). */
static size_t find(const mk_strmap *m, const void *key)
{
    size_t i = hash(m, key) & (m->cap - 1);
    while (m->keys[i] && !same(m, m->keys[i], key)) i = (i + 1) & (m->cap - 1);
    return i;
}

static void init(mk_strmap *m, const mk_allocator *a, int by_address)
{
    memset(m, 0, sizeof *m);
    m->alloc = a ? a : mk_alloc_default();
    m->by_address = by_address;
}

static void *get(const mk_strmap *m, const void *key)
{
    if (!m->cap) return NULL;
    size_t i = find(m, key);
    return m->keys[i] ? m->vals[i] : NULL;
}

static int grow(mk_strmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 64;
    const void **nk = mk_calloc(m->alloc, ncap, sizeof *nk);
    void **nv = mk_calloc(m->alloc, ncap, sizeof *nv);
    if (!nk || !nv) {
        mk_free(m->alloc, nk, ncap * sizeof *nk);
        mk_free(m->alloc, nv, ncap * sizeof *nv);
        return 0;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t j = hash(m, m->keys[i]) & (ncap - 1);
        while (nk[j]) j = (j + 1) & (ncap - 1);
        nk[j] = m->keys[i];
        nv[j] = m->vals[i];
    }
    mk_free(m->alloc, m->keys, m->cap * sizeof *m->keys);
    mk_free(m->alloc, m->vals, m->cap * sizeof *m->vals);
    m->keys = nk;
    m->vals = nv;
    m->cap = ncap;
    return 1;
}

static int put(mk_strmap *m, const void *key, void *val)
{
    if ((m->count + 1) * 2 > m->cap && !grow(m)) return 0;
    size_t i = find(m, key);
    if (!m->keys[i]) m->count++;
    m->keys[i] = key;
    m->vals[i] = val;
    return 1;
}

void mk_strmap_init(mk_strmap *m, const mk_allocator *a)
{
    init(m, a, 0);
}

void mk_ptrmap_init(mk_ptrmap *m, const mk_allocator *a)
{
    init(m, a, 1);
}

void mk_strmap_free(mk_strmap *m)
{
    mk_free(m->alloc, m->keys, m->cap * sizeof *m->keys);
    mk_free(m->alloc, m->vals, m->cap * sizeof *m->vals);
    m->keys = NULL;
    m->vals = NULL;
    m->cap = m->count = 0;
}

void mk_ptrmap_free(mk_ptrmap *m)
{
    mk_strmap_free(m);
}

void *mk_strmap_get(const mk_strmap *m, const char *key)
{
    return get(m, key);
}

void *mk_ptrmap_get(const mk_ptrmap *m, const void *key)
{
    return get(m, key);
}

int mk_strmap_put(mk_strmap *m, const char *key, void *val)
{
    return put(m, key, val);
}

int mk_ptrmap_put(mk_ptrmap *m, const void *key, void *val)
{
    return put(m, key, val);
}
