/* The fp16 pass's large weight conversions, done after the pass when the program's final shape
 * is known: an fp32 payload in anonymous memory the program owns, read by no live constant,
 * becomes fp16 in place (no second buffer, no page faults; its upper half is handed back to the
 * kernel); any other payload converts into a new buffer. Infinities are clipped to +-65504
 * when the payload has any (H14), as the eager path does. Nothing here decides dtypes. */
#include <stdlib.h>
#include <string.h>

#include "passes_int.h"

typedef struct fp16_pending {
    mk_const *dst;
    const unsigned char *src;
    size_t n;
    int over; /* the fp32 payload has values beyond +-65504 */
} fp16_pending;

typedef struct span {
    uintptr_t lo, hi;
} span;

int mk_fp16_payload_defer(mk_fp16_payloads *q, const mk_const *dst, const mk_value *src, size_t n)
{
    if (q->n == q->cap) {
        int cap = q->cap ? 2 * q->cap : 16;
        fp16_pending *it =
            mk_realloc(q->alloc, q->items, (size_t)q->cap * sizeof *it, (size_t)cap * sizeof *it);
        if (!it) return 0;
        q->items = it;
        q->cap = cap;
    }
    q->items[q->n++] =
        (fp16_pending){(mk_const *)dst, src->cst->data, n, mk_ir_const_beyond_f16(src, 0)};
    return 1;
}

void mk_fp16_payload_free(mk_fp16_payloads *q)
{
    mk_free(q->alloc, q->items, (size_t)q->cap * sizeof *q->items);
    memset(q, 0, sizeof *q);
}

typedef struct live {
    mk_ptrmap seen; /* mk_const -> itself: each payload counted once */
    mk_ptrmap deferred;
    span *s;
    size_t n, cap;
    const mk_allocator *alloc;
} live;

static int note(live *l, const mk_value *v)
{
    const mk_const *k = v ? v->cst : NULL;
    if (!k || !k->data || !k->nbytes || mk_ptrmap_get(&l->deferred, k) ||
        mk_ptrmap_get(&l->seen, k))
        return 1;
    if (!mk_ptrmap_put(&l->seen, k, (void *)k)) return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        span *s = mk_realloc(l->alloc, l->s, l->cap * sizeof *s, cap * sizeof *s);
        if (!s) return 0;
        l->s = s;
        l->cap = cap;
    }
    l->s[l->n++] = (span){(uintptr_t)k->data, (uintptr_t)k->data + k->nbytes};
    return 1;
}

static int collect(live *l, const mk_block *b)
{
    MK_FOR_OPS(b, op)
    {
        for (int i = 0; i < op->n_attrs; i++)
            if (!note(l, op->attrs[i].value)) return 0;
        for (int i = 0; i < op->n_inputs; i++)
            for (int j = 0; j < op->inputs[i].n_args; j++)
                if (!note(l, op->inputs[i].args[j])) return 0;
        for (int i = 0; i < op->n_blocks; i++)
            if (!collect(l, op->blocks[i])) return 0;
    }
    return 1;
}

static int by_lo(const void *a, const void *b)
{
    uintptr_t x = ((const span *)a)->lo, y = ((const span *)b)->lo;
    return x < y ? -1 : x > y;
}

static int by_src(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const fp16_pending *)a)->src;
    uintptr_t y = (uintptr_t)((const fp16_pending *)b)->src;
    return x < y ? -1 : x > y;
}

/* Whether [lo, hi) meets a span; s sorted by lo, top[i] = max hi of s[0..i]. */
static int overlaps(const span *s, const uintptr_t *top, size_t n, uintptr_t lo, uintptr_t hi)
{
    size_t a = 0, b = n; /* first index with s.lo >= hi */
    while (a < b) {
        size_t m = a + (b - a) / 2;
        if (s[m].lo < hi)
            a = m + 1;
        else
            b = m;
    }
    return a > 0 && top[a - 1] > lo;
}

static void clip_infinities(uint16_t *h, size_t n, mk_fp16_stats *st)
{
    for (size_t i = 0; i < n; i++)
        if ((h[i] & 0x7fff) == 0x7c00) {
            h[i] = (uint16_t)((h[i] & 0x8000) | 0x7bff);
            st->n_clipped++;
        }
}

static int convert_all(mk_fp16_payloads *q, mk_program *p, const live *l, const uintptr_t *top,
                       mk_fp16_stats *st)
{
    qsort(q->items, (size_t)q->n, sizeof *q->items, by_src);
    uintptr_t prev_hi = 0;
    for (int k = 0; k < q->n; k++) {
        fp16_pending *it = &q->items[k];
        uintptr_t lo = (uintptr_t)it->src, hi = lo + 4 * it->n;
        int shared = prev_hi > lo || (k + 1 < q->n && (uintptr_t)q->items[k + 1].src < hi) ||
                     overlaps(l->s, top, l->n, lo, hi);
        if (hi > prev_hi) prev_hi = hi;
        uint16_t *h;
        if (!shared && mk_ir_program_owns_anon(p, it->src, 4 * it->n)) {
            h = (uint16_t *)(void *)it->src;
            mk_f32_to_f16_inplace(h, it->n);
            mk_file_release(h + it->n, 2 * it->n);
        } else {
            h = mk_ir_program_alloc_payload(p, 2 * it->n);
            if (!h) return 0;
            mk_f32_to_f16_n((const float *)(const void *)it->src, h, it->n);
            const mk_const old = {it->src, 4 * it->n, MK_STORE_AUTO, 0, 0};
            if (!shared) mk_ir_release_const(p, &old);
        }
        if (it->over) clip_infinities(h, it->n, st);
        it->dst->data = h;
    }
    return 1;
}

int mk_fp16_payload_finish(mk_fp16_payloads *q, mk_program *p, mk_fp16_stats *st, mk_err *e)
{
    if (!q->n) return 0;
    live l;
    memset(&l, 0, sizeof l);
    l.alloc = p->alloc;
    mk_ptrmap_init(&l.seen, p->alloc);
    mk_ptrmap_init(&l.deferred, p->alloc);
    int ok = 1;
    for (int k = 0; k < q->n && ok; k++) ok = mk_ptrmap_put(&l.deferred, q->items[k].dst, q) != 0;
    for (int i = 0; i < p->n_functions && ok; i++) ok = collect(&l, p->functions[i]->block);
    uintptr_t *top = NULL;
    if (ok) {
        qsort(l.s, l.n, sizeof *l.s, by_lo);
        top = mk_malloc(p->alloc, (l.n ? l.n : 1) * sizeof *top);
        ok = top != NULL;
        for (size_t i = 0; ok && i < l.n; i++)
            top[i] = i && top[i - 1] > l.s[i].hi ? top[i - 1] : l.s[i].hi;
    }
    if (ok) ok = convert_all(q, p, &l, top, st);
    mk_free(p->alloc, top, (l.n ? l.n : 1) * sizeof *top);
    mk_free(p->alloc, l.s, l.cap * sizeof *l.s);
    mk_ptrmap_free(&l.seen);
    mk_ptrmap_free(&l.deferred);
    if (!ok) return MK_OOM(e), -1;
    return 0;
}
