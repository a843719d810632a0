/* Runtime tensor storage: element layouts, the run's scratch buffer, and activation buffers
 * allocated through a pool of freed buffers (kept across runs, fewer page faults), or as views
 * into a concat's output. */
#include "ip_engine.h"

mk_layout mk_interp_layout(mk_dtype dt)
{
    if (dt == MK_DT_BOOL) return MK_L_BOOL;
    if (dt == MK_DT_STRING) return MK_L_STR;
    if (mk_dtype_is_float(dt)) return MK_L_F32;
    return MK_L_I32;
}

size_t mk_interp_elem_size(mk_dtype dt)
{
    switch (mk_interp_layout(dt)) {
    case MK_L_BOOL: return 1;
    case MK_L_STR: return sizeof(char *);
    case MK_L_F32:
    case MK_L_I32: return 4;
    }
    return 4;
}

void *mk_interp_scratch(mk_kctx *k, size_t bytes)
{
    mk_interp *ip = k->ip;
    if (bytes > ip->scratch_n) {
        mk_free(ip->alloc, ip->scratch, ip->scratch_n);
        ip->scratch_n = 0;
        ip->scratch = mk_malloc(ip->alloc, bytes);
        if (!ip->scratch) return NULL;
        ip->scratch_n = bytes;
    }
    return ip->scratch;
}

void mk_rt_release(mk_interp *ip, mk_rt *r)
{
    if (r->cap) {
        ip->live -= r->cap;
        /* keep while the pool stays below twice the largest live peak; the pool outlives
         * runs, so a session's later runs take no page faults */
        if (r->cap >= POOL_MIN_BYTES && ip->n_pool < POOL_MAX &&
            ip->pool_bytes + r->cap <= 2 * ip->hwm + (1u << 20)) {
            ip->pool[ip->n_pool] = r->data;
            ip->pool_cap[ip->n_pool++] = r->cap;
            ip->pool_bytes += r->cap;
        } else {
            mk_free(ip->alloc, r->data, r->cap);
        }
    }
    r->data = NULL;
    r->cap = 0;
    r->persist = 0;
    r->early = 0;
}

/* Sizes from POOL_MIN_BYTES up are rounded to 4 steps per power of two (at most 25% more),
 * so that a buffer released by one op fits the next op of about the same size. */
static size_t size_class(size_t n)
{
    if (n < POOL_MIN_BYTES) return n;
    int b = 63 - __builtin_clzll((unsigned long long)n); /* 2^b <= n < 2^(b+1) */
    size_t step = (size_t)1 << (b - 2);
    size_t r = (n + step - 1) & ~(step - 1);
    return r >= n ? r : n;
}

mk_status mk_ip_rt_alloc(mk_interp *ip, mk_rt *r, const mk_type *t, mk_err *e)
{
    size_t n, bytes;
    if (!mk_type_is_static(t) || !mk_type_numel(t, &n) ||
        !mk_mul_size(n, mk_interp_elem_size(t->dtype), &bytes))
        return mk_err_set(e, MK_EINVAL, "tensor of %s: bad or dynamic shape",
                          mk_dtype_name(t->dtype) ? mk_dtype_name(t->dtype) : "?");
    mk_rt_release(ip, r);
    size_t want = size_class(bytes ? bytes : 1);
    int best = -1;
    for (int i = 0; i < ip->n_pool; i++) /* best fit, at most 25% slack */
        if (ip->pool_cap[i] >= want && ip->pool_cap[i] - want <= want / 2 &&
            (best < 0 || ip->pool_cap[i] < ip->pool_cap[best]))
            best = i;
    if (best >= 0) {
        r->data = ip->pool[best];
        r->cap = ip->pool_cap[best];
        ip->pool_bytes -= r->cap;
        ip->pool[best] = ip->pool[--ip->n_pool];
        ip->pool_cap[best] = ip->pool_cap[ip->n_pool]; /* not cleared: kernels write it all */
    } else {
        r->data = mk_malloc(ip->alloc, want); /* not cleared: every kernel writes its outputs */
        if (!r->data) return MK_OOM(e);
        r->cap = want;
    }
    r->type = *t;
    r->numel = n;
    ip->live += r->cap;
    if (ip->live > ip->peak) ip->peak = ip->live;
    if (ip->peak > ip->hwm) ip->hwm = ip->peak;
    return MK_OK;
}

/* Allocate op output slot s: a view into its concat's output when the plan says so and the
 * size is as planned (the concat's buffer is allocated now if not yet), else a buffer. */
mk_status mk_ip_alloc_slot(mk_interp *ip, int s, const mk_type *t, mk_err *e)
{
    mk_rt *r = &ip->slots[s];
    const struct view *v = ip->view ? &ip->view[s] : NULL;
    size_t n;
    if (v && v->base >= 0 && mk_type_is_static(t) && mk_type_numel(t, &n) && n == v->numel) {
        mk_rt *b = &ip->slots[v->base];
        const mk_type *bt = &ip->slot_val[v->base]->type;
        if (!b->data) {
            mk_status st = mk_ip_rt_alloc(ip, b, bt, e);
            if (st) return st;
            b->early = 1;
        }
        if (b->early && mk_interp_layout(bt->dtype) == mk_interp_layout(t->dtype)) {
            mk_rt_release(ip, r);
            r->type = *t;
            r->numel = n;
            r->data = (char *)b->data + v->off;
            return MK_OK;
        }
    }
    return mk_ip_rt_alloc(ip, r, t, e);
}

mk_status mk_rt_alloc(mk_kctx *k, mk_rt *r, const mk_type *t)
{
    mk_status st = mk_ip_rt_alloc(k->ip, r, t, k->e);
    if (st && st != MK_ENOMEM) mk_err_prefix(k->e, "op %s: ", mk_ip_op_label(k->op));
    return st;
}
