/* Index kernels: gather (with batch_dims), gather_along_axis, gather_nd, the three scatters
 * (modes update/add/sub/mul/div/max/min), one_hot, topk, argsort and non_zero. Out-of-bound
 * indices follow Core ML's definition per opset (index_policy); an index milkit cannot use is
 * an error naming the op. */
#include <stdlib.h>
#include <string.h>

#include "interp_int.h"

static size_t esz(const mk_rt *r)
{
    return mk_interp_elem_size(r->type.dtype);
}

/* What an index outside [0, len) means. Before iOS17 a negative index counts from the end.
 * From iOS17 on (coremltools ops/defs/iOS17/scatter_gather.py) negative indices are out of
 * bounds: with validate_indices=true any out-of-bound index fails the prediction; with false
 * the result is undefined but memory safe, and the prediction runs. Unvalidated, milkit keeps
 * counting a negative index from the end (what the producer meant; lint H6 says the device
 * does not), and its scatters skip an update whose index is still out of range where its
 * gathers, which have no value to give, fail. */
enum { IX_WRAP, IX_STRICT, IX_SKIP };

static mk_status index_policy(mk_kctx *k, int scatter, int *pol)
{
    int v = 0;
    *pol = IX_WRAP;
    if (mk_ir_op_ios(k->op) < 17) return MK_OK;
    mk_status st = mk_kbool(k, "validate_indices", 0, &v);
    if (st) return st;
    *pol = v ? IX_STRICT : scatter ? IX_SKIP : IX_WRAP;
    return MK_OK;
}

/* Index i of ind against len under pol; *out = -1 for an IX_SKIP index out of bounds. */
static mk_status index_at(mk_kctx *k, const mk_rt *ind, size_t i, int64_t len, int pol,
                          int64_t *out)
{
    int64_t v = mk_rt_i64(ind, i);
    if (v < 0 && pol != IX_STRICT) v += len;
    if (v < 0 || v >= len) {
        if (pol == IX_SKIP) return *out = -1, MK_OK;
        return mk_kerr(k, MK_EINVAL, "index %lld out of range [0, %lld)%s",
                       (long long)mk_rt_i64(ind, i), (long long)len,
                       pol == IX_STRICT ? " (validate_indices)" : "");
    }
    *out = v;
    return MK_OK;
}

static int64_t prod(const int64_t *d, int lo, int hi)
{
    int64_t p = 1;
    for (int i = lo; i < hi; i++) p *= d[i];
    return p;
}

mk_status mk_k_gather(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *ind = mk_kin(k, "indices"), *out = k->outs[0];
    if (!x || !ind) return mk_kerr(k, MK_EINVAL, "needs x and indices");
    int64_t a64, bd;
    int axis, pol;
    mk_status st;
    if ((st = mk_kint(k, "axis", 0, &a64)) || (st = mk_kaxis(k, a64, x->type.rank, &axis)) ||
        (st = mk_kint(k, "batch_dims", 0, &bd)) || (st = index_policy(k, 0, &pol)))
        return st;
    if (bd < 0 || bd > axis || bd > ind->type.rank) return mk_kerr(k, MK_EINVAL, "bad batch_dims");
    int64_t B = prod(x->type.dims, 0, (int)bd), outer = prod(x->type.dims, (int)bd, axis);
    int64_t len = x->type.dims[axis], inner = prod(x->type.dims, axis + 1, x->type.rank);
    int64_t ni = prod(ind->type.dims, (int)bd, ind->type.rank);
    if (prod(ind->type.dims, 0, (int)bd) != B || (size_t)(B * outer * ni * inner) != out->numel ||
        mk_interp_layout(x->type.dtype) != mk_interp_layout(out->type.dtype))
        return mk_kerr(k, MK_EINVAL, "output shape mismatch");
    size_t es = esz(x), chunk = (size_t)inner * es;
    char *o = out->data;
    for (int64_t b = 0; b < B; b++)
        for (int64_t p = 0; p < outer; p++)
            for (int64_t j = 0; j < ni; j++) {
                int64_t idx;
                if ((st = index_at(k, ind, (size_t)(b * ni + j), len, pol, &idx))) return st;
                memcpy(o,
                       (const char *)x->data + (size_t)(((b * outer + p) * len + idx) * inner) * es,
                       chunk);
                o += chunk;
            }
    return MK_OK;
}

mk_status mk_k_gather_along_axis(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *ind = mk_kin(k, "indices"), *out = k->outs[0];
    if (!x || !ind) return mk_kerr(k, MK_EINVAL, "needs x and indices");
    int64_t a64;
    int axis, pol, r = x->type.rank;
    mk_status st;
    if ((st = mk_kint(k, "axis", 0, &a64)) || (st = mk_kaxis(k, a64, r, &axis)) ||
        (st = index_policy(k, 0, &pol)))
        return st;
    if (ind->type.rank != r || out->numel != ind->numel)
        return mk_kerr(k, MK_EINVAL, "indices rank mismatch");
    for (int i = 0; i < r; i++)
        if (i != axis && ind->type.dims[i] > x->type.dims[i])
            return mk_kerr(k, MK_EINVAL, "indices larger than x on axis %d", i);
    int64_t xs[MK_MAX_RANK], c[MK_MAX_RANK] = {0};
    mk_strides(&x->type, xs);
    size_t es = esz(x);
    for (size_t e = 0; e < ind->numel; e++) {
        int64_t idx, off = 0;
        if ((st = index_at(k, ind, e, x->type.dims[axis], pol, &idx))) return st;
        for (int i = 0; i < r; i++) off += (i == axis ? idx : c[i]) * xs[i];
        memcpy((char *)out->data + e * es, (const char *)x->data + (size_t)off * es, es);
        for (int i = r - 1; i >= 0; i--) {
            if (++c[i] < ind->type.dims[i]) break;
            c[i] = 0;
        }
    }
    return MK_OK;
}

mk_status mk_k_gather_nd(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *ind = mk_kin(k, "indices"), *out = k->outs[0];
    if (!x || !ind) return mk_kerr(k, MK_EINVAL, "needs x and indices");
    int64_t bd;
    int pol;
    mk_status st = mk_kint(k, "batch_dims", 0, &bd);
    if (st || (st = index_policy(k, 0, &pol))) return st;
    int ir = ind->type.rank;
    if (ir < 1) return mk_kerr(k, MK_EINVAL, "indices must have rank >= 1");
    int64_t K = ind->type.dims[ir - 1];
    if (bd < 0 || bd + K > x->type.rank || bd > ir - 1)
        return mk_kerr(k, MK_EINVAL, "bad index depth");
    int64_t B = prod(x->type.dims, 0, (int)bd), M = prod(ind->type.dims, (int)bd, ir - 1);
    int64_t inner = prod(x->type.dims, (int)(bd + K), x->type.rank);
    int64_t xs[MK_MAX_RANK];
    mk_strides(&x->type, xs);
    int64_t bstride = prod(x->type.dims, (int)bd, x->type.rank);
    if ((size_t)(B * M * inner) != out->numel)
        return mk_kerr(k, MK_EINVAL, "output shape mismatch");
    size_t es = esz(x);
    char *o = out->data;
    for (int64_t b = 0; b < B; b++)
        for (int64_t m = 0; m < M; m++) {
            int64_t off = b * bstride;
            for (int64_t q = 0; q < K; q++) {
                int64_t idx;
                if ((st = index_at(k, ind, (size_t)((b * M + m) * K + q), x->type.dims[bd + q], pol,
                                   &idx)))
                    return st;
                off += idx * xs[bd + q];
            }
            memcpy(o, (const char *)x->data + (size_t)off * es, (size_t)inner * es);
            o += (size_t)inner * es;
        }
    return MK_OK;
}

static mk_status scatter_mode(mk_kctx *k, int *m)
{
    static const char *const names[] = {"update", "add", "sub", "mul", "div", "max", "min"};
    const char *s = mk_kstr(k, "mode", "add");
    for (int i = 0; i < 7; i++)
        if (strcmp(s, names[i]) == 0) return *m = i, MK_OK;
    return mk_kerr(k, MK_EINVAL, "unknown scatter mode '%s'", s);
}

static void apply(mk_rt *out, size_t o, const mk_rt *u, size_t ui, int mode)
{
    double a = mk_rt_f64(out, o), b = mk_rt_f64(u, ui), r;
    switch (mode) {
    case 0: r = b; break;
    case 1: r = a + b; break;
    case 2: r = a - b; break;
    case 3: r = a * b; break;
    case 4: r = a / b; break;
    case 5: r = a > b ? a : b; break;
    default: r = a < b ? a : b; break;
    }
    switch (mk_interp_layout(out->type.dtype)) {
    case MK_L_F32: ((float *)out->data)[o] = (float)r; break;
    case MK_L_I32: ((int32_t *)out->data)[o] = (int32_t)r; break;
    case MK_L_BOOL:
    case MK_L_STR: ((uint8_t *)out->data)[o] = r != 0; break;
    }
}

static mk_status scatter_setup(mk_kctx *k, mk_rt **d, mk_rt **ind, mk_rt **u, int *mode)
{
    *d = mk_kin(k, "data");
    *ind = mk_kin(k, "indices");
    *u = mk_kin(k, "updates");
    if (!*d || !*ind || !*u) return mk_kerr(k, MK_EINVAL, "needs data, indices and updates");
    mk_rt *out = k->outs[0];
    if (out->numel != (*d)->numel ||
        mk_interp_layout(out->type.dtype) != mk_interp_layout((*d)->type.dtype))
        return mk_kerr(k, MK_EINVAL, "output must match data");
    memcpy(out->data, (*d)->data, out->numel * esz(out));
    return scatter_mode(k, mode);
}

mk_status mk_k_scatter(mk_kctx *k)
{
    mk_rt *d, *ind, *u, *out = k->outs[0];
    int mode, axis, pol;
    int64_t a64;
    mk_status st = scatter_setup(k, &d, &ind, &u, &mode);
    if (st || (st = mk_kint(k, "axis", 0, &a64)) || (st = mk_kaxis(k, a64, d->type.rank, &axis)) ||
        (st = index_policy(k, 1, &pol)))
        return st;
    int64_t outer = prod(d->type.dims, 0, axis), len = d->type.dims[axis];
    int64_t inner = prod(d->type.dims, axis + 1, d->type.rank), ni = (int64_t)ind->numel;
    if (u->numel != (size_t)(outer * ni * inner))
        return mk_kerr(k, MK_EINVAL, "updates shape mismatch");
    for (int64_t p = 0; p < outer; p++)
        for (int64_t j = 0; j < ni; j++) {
            int64_t idx;
            if ((st = index_at(k, ind, (size_t)j, len, pol, &idx))) return st;
            if (idx < 0) continue;
            for (int64_t q = 0; q < inner; q++)
                apply(out, (size_t)((p * len + idx) * inner + q), u,
                      (size_t)((p * ni + j) * inner + q), mode);
        }
    return MK_OK;
}

mk_status mk_k_scatter_along_axis(mk_kctx *k)
{
    mk_rt *d, *ind, *u, *out = k->outs[0];
    int mode, axis, r, pol;
    int64_t a64;
    mk_status st = scatter_setup(k, &d, &ind, &u, &mode);
    if (st || (st = mk_kint(k, "axis", 0, &a64)) || (st = mk_kaxis(k, a64, d->type.rank, &axis)) ||
        (st = index_policy(k, 1, &pol)))
        return st;
    r = d->type.rank;
    if (ind->type.rank != r || u->numel != ind->numel)
        return mk_kerr(k, MK_EINVAL, "indices/updates mismatch");
    for (int i = 0; i < r; i++)
        if (i != axis && ind->type.dims[i] > d->type.dims[i])
            return mk_kerr(k, MK_EINVAL, "indices larger than data on axis %d", i);
    int64_t ds[MK_MAX_RANK], c[MK_MAX_RANK] = {0};
    mk_strides(&d->type, ds);
    for (size_t e = 0; e < ind->numel; e++) {
        int64_t idx, off = 0;
        if ((st = index_at(k, ind, e, d->type.dims[axis], pol, &idx))) return st;
        for (int i = 0; i < r; i++) off += (i == axis ? idx : c[i]) * ds[i];
        if (idx >= 0) apply(out, (size_t)off, u, e, mode);
        for (int i = r - 1; i >= 0; i--) {
            if (++c[i] < ind->type.dims[i]) break;
            c[i] = 0;
        }
    }
    return MK_OK;
}

mk_status mk_k_scatter_nd(mk_kctx *k)
{
    mk_rt *d, *ind, *u, *out = k->outs[0];
    int mode, pol;
    mk_status st = scatter_setup(k, &d, &ind, &u, &mode);
    if (st || (st = index_policy(k, 1, &pol))) return st;
    int ir = ind->type.rank;
    if (ir < 1) return mk_kerr(k, MK_EINVAL, "indices must have rank >= 1");
    int64_t K = ind->type.dims[ir - 1];
    if (K > d->type.rank) return mk_kerr(k, MK_EINVAL, "index depth exceeds data rank");
    int64_t M = prod(ind->type.dims, 0, ir - 1), inner = prod(d->type.dims, (int)K, d->type.rank);
    if (u->numel != (size_t)(M * inner)) return mk_kerr(k, MK_EINVAL, "updates shape mismatch");
    int64_t ds[MK_MAX_RANK];
    mk_strides(&d->type, ds);
    for (int64_t m = 0; m < M; m++) {
        int64_t off = 0;
        int skip = 0;
        for (int64_t q = 0; q < K; q++) {
            int64_t idx;
            if ((st = index_at(k, ind, (size_t)(m * K + q), d->type.dims[q], pol, &idx))) return st;
            if (idx < 0) skip = 1;
            off += idx * ds[q];
        }
        if (skip) continue;
        for (int64_t q = 0; q < inner; q++)
            apply(out, (size_t)(off + q), u, (size_t)(m * inner + q), mode);
    }
    return MK_OK;
}

mk_status mk_k_one_hot(mk_kctx *k)
{
    mk_rt *ind = mk_kin(k, "indices"), *out = k->outs[0];
    if (!ind) return mk_kerr(k, MK_EINVAL, "needs indices");
    int64_t depth, a64;
    double on, off;
    int axis;
    mk_status st;
    if ((st = mk_kint(k, "one_hot_vector_size", 0, &depth)) ||
        (st = mk_kint(k, "axis", -1, &a64)) || (st = mk_kaxis(k, a64, ind->type.rank + 1, &axis)) ||
        (st = mk_kfloat(k, "on_value", 1, &on)) || (st = mk_kfloat(k, "off_value", 0, &off)))
        return st;
    int64_t outer = prod(ind->type.dims, 0, axis),
            inner = prod(ind->type.dims, axis, ind->type.rank);
    if (depth < 0 || (size_t)(outer * depth * inner) != out->numel)
        return mk_kerr(k, MK_EINVAL, "output shape mismatch");
    for (int64_t p = 0; p < outer; p++)
        for (int64_t c = 0; c < depth; c++)
            for (int64_t q = 0; q < inner; q++) {
                int64_t v = mk_rt_i64(ind, (size_t)(p * inner + q));
                if (v < 0) v += depth;
                double val = v == c ? on : off;
                size_t o = (size_t)((p * depth + c) * inner + q);
                if (mk_interp_layout(out->type.dtype) == MK_L_F32)
                    ((float *)out->data)[o] = (float)val;
                else if (mk_interp_layout(out->type.dtype) == MK_L_I32)
                    ((int32_t *)out->data)[o] = (int32_t)val;
                else
                    ((uint8_t *)out->data)[o] = val != 0;
            }
    return MK_OK;
}

/* Stable index sort of one strided lane (insertion for short lanes, merge otherwise). */
typedef struct lane {
    const mk_rt *x;
    size_t base;
    int64_t stride;
    int asc;
} lane;

static int before(const lane *l, int64_t a, int64_t b)
{
    double va = mk_rt_f64(l->x, l->base + (size_t)(a * l->stride));
    double vb = mk_rt_f64(l->x, l->base + (size_t)(b * l->stride));
    if (va != vb) return l->asc ? va < vb : va > vb;
    return a < b;
}

static void merge_sort(const lane *l, int64_t *idx, int64_t *tmp, int64_t n)
{
    if (n < 2) return;
    int64_t h = n / 2;
    merge_sort(l, idx, tmp, h);
    merge_sort(l, idx + h, tmp, n - h);
    int64_t i = 0, j = h, o = 0;
    while (i < h && j < n) tmp[o++] = before(l, idx[j], idx[i]) ? idx[j++] : idx[i++];
    while (i < h) tmp[o++] = idx[i++];
    while (j < n) tmp[o++] = idx[j++];
    memcpy(idx, tmp, (size_t)n * sizeof *idx);
}

static mk_status sort_lanes(mk_kctx *k, const mk_rt *x, int axis, int asc, int64_t keep,
                            mk_rt *vals, mk_rt *inds)
{
    int64_t outer = prod(x->type.dims, 0, axis), len = x->type.dims[axis];
    int64_t inner = prod(x->type.dims, axis + 1, x->type.rank);
    if (keep > len)
        return mk_kerr(k, MK_EINVAL, "k %lld exceeds axis length %lld", (long long)keep,
                       (long long)len);
    if ((vals && vals->numel != (size_t)(outer * keep * inner)) ||
        (inds && inds->numel != (size_t)(outer * keep * inner)))
        return mk_kerr(k, MK_EINVAL, "output shape mismatch");
    size_t nb = (size_t)(len ? len : 1) * 2 * sizeof(int64_t);
    int64_t *idx = mk_malloc(k->alloc, nb);
    if (!idx) return MK_OOM(k->e);
    size_t es = esz(x);
    for (int64_t p = 0; p < outer; p++)
        for (int64_t q = 0; q < inner; q++) {
            lane l = {x, (size_t)(p * len * inner + q), inner, asc};
            for (int64_t i = 0; i < len; i++) idx[i] = i;
            merge_sort(&l, idx, idx + len, len);
            for (int64_t i = 0; i < keep; i++) {
                size_t o = (size_t)((p * keep + i) * inner + q);
                if (vals)
                    memcpy((char *)vals->data + o * es,
                           (const char *)x->data + (l.base + (size_t)(idx[i] * inner)) * es, es);
                if (inds) {
                    if (mk_interp_layout(inds->type.dtype) == MK_L_F32)
                        ((float *)inds->data)[o] = (float)idx[i];
                    else
                        ((int32_t *)inds->data)[o] = (int32_t)idx[i];
                }
            }
        }
    mk_free(k->alloc, idx, nb);
    return MK_OK;
}

mk_status mk_k_topk(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x");
    if (!x) return mk_kerr(k, MK_EINVAL, "needs input x");
    int64_t kk, a64;
    int axis, asc;
    mk_status st;
    if ((st = mk_kint(k, "k", 1, &kk)) || (st = mk_kint(k, "axis", -1, &a64)) ||
        (st = mk_kaxis(k, a64, x->type.rank, &axis)) || (st = mk_kbool(k, "ascending", 0, &asc)))
        return st;
    if (kk < 0) return mk_kerr(k, MK_EINVAL, "k must be >= 0");
    return sort_lanes(k, x, axis, asc, kk, k->outs[0], k->n_outs > 1 ? k->outs[1] : NULL);
}

mk_status mk_k_argsort(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x");
    if (!x) return mk_kerr(k, MK_EINVAL, "needs input x");
    int64_t a64;
    int axis, asc;
    mk_status st;
    if ((st = mk_kint(k, "axis", -1, &a64)) || (st = mk_kaxis(k, a64, x->type.rank, &axis)) ||
        (st = mk_kbool(k, "ascending", 0, &asc)))
        return st;
    return sort_lanes(k, x, axis, asc, x->type.dims[axis], NULL, k->outs[0]);
}

mk_status mk_k_non_zero(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *out = k->outs[0];
    if (!x) return mk_kerr(k, MK_EINVAL, "needs input x");
    int r = x->type.rank;
    int64_t n = 0;
    for (size_t i = 0; i < x->numel; i++) n += mk_rt_f64(x, i) != 0;
    mk_type t = out->type;
    t.dtype = t.dtype == MK_DT_INVALID ? MK_DT_INT32 : t.dtype;
    t.rank = 2;
    t.dims[0] = n;
    t.dims[1] = r;
    mk_status st = mk_rt_alloc(k, out, &t);
    if (st) return st;
    int64_t c[MK_MAX_RANK] = {0}, row = 0;
    for (size_t i = 0; i < x->numel; i++) {
        if (mk_rt_f64(x, i) != 0) {
            for (int d = 0; d < r; d++) ((int32_t *)out->data)[row * r + d] = (int32_t)c[d];
            row++;
        }
        for (int d = r - 1; d >= 0; d--) {
            if (++c[d] < x->type.dims[d]) break;
            c[d] = 0;
        }
    }
    return MK_OK;
}
