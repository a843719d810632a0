/* String-keyed hash map with open addressing (FNV-1a); keys are borrowed, not copied. */
#include <string.h>

#include "base.h"

static size_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)h;
}

void mk_strmap_init(mk_strmap *m, const mk_allocator *a)
{
    memset(m, 0, sizeof *m);
    m->alloc = a ? a : mk_alloc_default();
}

void mk_strmap_free(mk_strmap *m)
{
    mk_free(m->alloc, m->keys, m->cap * sizeof *m->keys);
    mk_free(m->alloc, m->vals, m->cap * sizeof *m->vals);
    m->keys = NULL;
    m->vals = NULL;
    m->cap = m->count = 0;
}

void *mk_strmap_get(const mk_strmap *m, const char *key)
{
    if (!m->cap) return NULL;
    for (size_t i = hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i]) return NULL;
        if (strcmp(m->keys[i], key) == 0) return m->vals[i];
    }
}

static int grow(mk_strmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 64;
    const char **nk = mk_calloc(m->alloc, ncap, sizeof *nk);
    void **nv = mk_calloc(m->alloc, ncap, sizeof *nv);
    if (!nk || !nv) {
        mk_free(m->alloc, nk, ncap * sizeof *nk);
        mk_free(m->alloc, nv, ncap * sizeof *nv);
        return 0;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t j = hash(m->keys[i]) & (ncap - 1);
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

int mk_strmap_put(mk_strmap *m, const char *key, void *val)
{
    if ((m->count + 1) * 2 > m->cap && !grow(m)) return 0;
    size_t i = hash(key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0) i = (i + 1) & (m->cap - 1);
    if (!m->keys[i]) m->count++;
    m->keys[i] = key;
    m->vals[i] = val;
    return 1;
}
