/* Constant kernels: const (a view of its value), the constexpr decompressors (affine
 * dequantize, blockwise shift/scale, fp16 cast, palette lookup in its iOS16 packed form and its
 * iOS18 per-block form with vector size 1), runtime quantize/dequantize, and control flow
 * (cond, while_loop) which runs nested blocks through the engine. */
#include <math.h>
#include <string.h>

#include "interp_int.h"

mk_status mk_k_const(mk_kctx *k)
{
    mk_rt *v = mk_kin(k, "val"), *out = k->outs[0];
    if (!v) return mk_kerr(k, MK_EINVAL, "const has no val");
    if (out->data) return MK_OK; /* already materialised from the output's own constant */
    mk_rt_release(k->ip, out);
    *out = *v;
    out->cap = 0;
    out->persist = 1;
    return MK_OK;
}

/* Index of element i along axis of a tensor (outer x len x inner). */
static size_t along(size_t i, int64_t len, int64_t inner)
{
    return (size_t)((int64_t)(i / (size_t)inner) % len);
}

static mk_status per_axis(mk_kctx *k, const mk_rt *p, const mk_rt *x, int axis, const char *nm)
{
    if (p->numel != 1 && p->numel != (size_t)x->type.dims[axis])
        return mk_kerr(k, MK_EINVAL, "%s must be a scalar or have %lld values", nm,
                       (long long)x->type.dims[axis]);
    return MK_OK;
}

static mk_status affine(mk_kctx *k, mk_rt *q, mk_rt *zp, mk_rt *sc, int64_t a64, int quant)
{
    mk_rt *out = k->outs[0];
    if (!q || !sc) return mk_kerr(k, MK_EINVAL, "needs data and scale");
    if (q->numel != out->numel) return mk_kerr(k, MK_EINVAL, "output size mismatch");
    int axis = 0;
    mk_status st;
    int scalar = sc->numel == 1 && (!zp || zp->numel == 1);
    if (!scalar) {
        if ((st = mk_kaxis(k, a64, q->type.rank, &axis)) ||
            (st = per_axis(k, sc, q, axis, "scale")) ||
            (zp && (st = per_axis(k, zp, q, axis, "zero_point"))))
            return st;
    }
    int64_t len = q->type.rank ? q->type.dims[axis] : 1, inner = 1;
    for (int i = axis + 1; i < q->type.rank; i++) inner *= q->type.dims[i];
    if (!inner || !len) return MK_OK;
    double lo = -128, hi = 127;
    if (quant && out->type.dtype == MK_DT_UINT8) lo = 0, hi = 255;
    for (size_t i = 0; i < q->numel; i++) {
        size_t c = scalar ? 0 : along(i, len, inner);
        double s = mk_rt_f64(sc, sc->numel == 1 ? 0 : c);
        double z = zp ? mk_rt_f64(zp, zp->numel == 1 ? 0 : c) : 0;
        if (quant) {
            double v = nearbyint(mk_rt_f64(q, i) / s) + z;
            v = v < lo ? lo : v > hi ? hi : v;
            ((int32_t *)out->data)[i] = (int32_t)v;
        } else {
            ((float *)out->data)[i] = (float)((mk_rt_f64(q, i) - z) * s);
        }
    }
    return MK_OK;
}

mk_status mk_k_constexpr_affine(mk_kctx *k)
{
    int64_t axis;
    mk_status st = mk_kint(k, "axis", 0, &axis);
    if (st) return st;
    if (mk_interp_layout(k->outs[0]->type.dtype) != MK_L_F32)
        return mk_kerr(k, MK_EINVAL, "output must be float");
    return affine(k, mk_kin(k, "quantized_data"), mk_kin(k, "zero_point"), mk_kin(k, "scale"), axis,
                  0);
}

mk_status mk_k_dequantize(mk_kctx *k)
{
    int64_t axis;
    mk_status st = mk_kint(k, "axis", 0, &axis);
    if (st) return st;
    if (mk_interp_layout(k->outs[0]->type.dtype) != MK_L_F32)
        return mk_kerr(k, MK_EINVAL, "output must be float");
    return affine(k, mk_kin(k, "input"), mk_kin(k, "zero_point"), mk_kin(k, "scale"), axis, 0);
}

mk_status mk_k_quantize(mk_kctx *k)
{
    int64_t axis;
    mk_status st = mk_kint(k, "axis", 0, &axis);
    if (st) return st;
    if (mk_interp_layout(k->outs[0]->type.dtype) != MK_L_I32)
        return mk_kerr(k, MK_EINVAL, "output must be int8 or uint8");
    return affine(k, mk_kin(k, "input"), mk_kin(k, "zero_point"), mk_kin(k, "scale"), axis, 1);
}

/* Block index of element coordinates c for a parameter shaped p (block = dims / p dims). */
static size_t block_index(const mk_type *x, const mk_type *p, const int64_t *c)
{
    size_t idx = 0;
    for (int i = 0; i < x->rank; i++) {
        int64_t bs = x->dims[i] / p->dims[i];
        idx = idx * (size_t)p->dims[i] + (size_t)(c[i] / bs);
    }
    return idx;
}

static mk_status check_blocks(mk_kctx *k, const mk_rt *x, const mk_rt *p, const char *nm)
{
    if (p->type.rank != x->type.rank)
        return mk_kerr(k, MK_EINVAL, "%s must have rank %d", nm, x->type.rank);
    for (int i = 0; i < x->type.rank; i++)
        if (p->type.dims[i] < 1 || x->type.dims[i] % p->type.dims[i])
            return mk_kerr(k, MK_EINVAL, "%s dim %d does not divide data", nm, i);
    return MK_OK;
}

mk_status mk_k_constexpr_blockwise(mk_kctx *k)
{
    mk_rt *d = mk_kin(k, "data"), *sc = mk_kin(k, "scale"), *off = mk_kin(k, "offset");
    mk_rt *out = k->outs[0];
    if (!d || !sc) return mk_kerr(k, MK_EINVAL, "needs data and scale");
    mk_status st;
    if ((st = check_blocks(k, d, sc, "scale")) || (off && (st = check_blocks(k, d, off, "offset"))))
        return st;
    if (d->numel != out->numel || mk_interp_layout(out->type.dtype) != MK_L_F32)
        return mk_kerr(k, MK_EINVAL, "output must be float and match data");
    if (off && !mk_type_equal(&off->type, &sc->type) && off->numel != sc->numel)
        return mk_kerr(k, MK_EINVAL, "offset must be shaped like scale");
    int64_t c[MK_MAX_RANK] = {0};
    for (size_t i = 0; i < d->numel; i++) {
        size_t b = block_index(&d->type, &sc->type, c);
        double v = mk_rt_f64(d, i) - (off ? mk_rt_f64(off, b) : 0);
        ((float *)out->data)[i] = (float)(v * mk_rt_f64(sc, b));
        for (int j = d->type.rank - 1; j >= 0; j--) {
            if (++c[j] < d->type.dims[j]) break;
            c[j] = 0;
        }
    }
    return MK_OK;
}

mk_status mk_k_constexpr_cast(mk_kctx *k)
{
    mk_rt *s = mk_kin(k, "source_val"), *out = k->outs[0];
    if (!s || s->numel != out->numel)
        return mk_kerr(k, MK_EINVAL, "needs source_val of the output's size");
    for (size_t i = 0; i < s->numel; i++) {
        double v = mk_rt_f64(s, i);
        if (mk_interp_layout(out->type.dtype) == MK_L_F32)
            ((float *)out->data)[i] = (float)v;
        else
            ((int32_t *)out->data)[i] = (int32_t)v;
    }
    return MK_OK;
}

mk_status mk_k_constexpr_lut(mk_kctx *k)
{
    mk_rt *ind = mk_kin(k, "indices"), *lut = mk_kin(k, "lut"), *shape = mk_kin(k, "shape");
    mk_rt *out = k->outs[0];
    if (!ind || !lut) return mk_kerr(k, MK_EINVAL, "needs indices and lut");
    int fl = mk_interp_layout(out->type.dtype) == MK_L_F32;
    if (shape) { /* iOS16: 1-D lut of 2^nbits entries, indices packed LSB first in bytes */
        int nbits = 0;
        while (nbits < 9 && ((size_t)1 << nbits) < lut->numel) nbits++;
        if (((size_t)1 << nbits) != lut->numel || nbits < 1 || nbits > 8)
            return mk_kerr(k, MK_EINVAL, "lut length %zu is not 2^nbits", lut->numel);
        size_t need;
        if (!mk_mul_size(out->numel, (size_t)nbits, &need) || (need + 7) / 8 > ind->numel)
            return mk_kerr(k, MK_EINVAL, "indices too short for the shape");
        for (size_t i = 0; i < out->numel; i++) {
            unsigned v = 0;
            size_t bit = i * (size_t)nbits;
            for (int j = 0; j < nbits; j++, bit++)
                v |= (unsigned)((mk_rt_i64(ind, bit / 8) >> (bit % 8)) & 1) << j;
            double e = mk_rt_f64(lut, v);
            if (fl)
                ((float *)out->data)[i] = (float)e;
            else
                ((int32_t *)out->data)[i] = (int32_t)e;
        }
        return MK_OK;
    }
    /* iOS18: lut [*blocks, palettes, vector_size]; indices shaped like the output */
    int r = ind->type.rank;
    if (lut->type.rank != r + 2 || ind->numel != out->numel)
        return mk_kerr(k, MK_EINVAL, "lut must have rank %d", r + 2);
    if (lut->type.dims[r + 1] != 1)
        return mk_kerr(k, MK_EUNSUPPORTED, "vector palettization (vector_size > 1) not supported");
    mk_type bt = lut->type;
    bt.rank = r;
    mk_rt view = {.type = bt};
    if (check_blocks(k, ind, &view, "lut")) return k->e ? k->e->code : MK_EINVAL;
    int64_t pal = lut->type.dims[r], c[MK_MAX_RANK] = {0};
    for (size_t i = 0; i < ind->numel; i++) {
        size_t b = block_index(&ind->type, &bt, c);
        int64_t v = mk_rt_i64(ind, i);
        if (v < 0 || v >= pal)
            return mk_kerr(k, MK_EINVAL, "palette index %lld out of range", (long long)v);
        double e = mk_rt_f64(lut, b * (size_t)pal + (size_t)v);
        if (fl)
            ((float *)out->data)[i] = (float)e;
        else
            ((int32_t *)out->data)[i] = (int32_t)e;
        for (int j = r - 1; j >= 0; j--) {
            if (++c[j] < ind->type.dims[j]) break;
            c[j] = 0;
        }
    }
    return MK_OK;
}

/* Move block results into the op's output slots. */
static void take(mk_kctx *k, mk_rt *res, int n)
{
    for (int i = 0; i < n; i++) {
        mk_rt_release(k->ip, k->outs[i]);
        *k->outs[i] = res[i];
        memset(&res[i], 0, sizeof res[i]);
    }
}

mk_status mk_k_cond(mk_kctx *k)
{
    mk_rt *pred = mk_kin(k, "pred");
    if (!pred || pred->numel != 1) return mk_kerr(k, MK_EINVAL, "pred must be a scalar");
    if (k->op->n_blocks != 2) return mk_kerr(k, MK_EINVAL, "cond needs two blocks");
    const mk_block *b = k->op->blocks[mk_rt_f64(pred, 0) != 0 ? 0 : 1];
    if (b->n_outputs != k->n_outs) return mk_kerr(k, MK_EINVAL, "branch output count mismatch");
    mk_rt res[16];
    memset(res, 0, sizeof res);
    if (k->n_outs > 16) return mk_kerr(k, MK_EUNSUPPORTED, "more than 16 outputs");
    mk_status st = mk_interp_block(k, b, NULL, 0, res, k->n_outs);
    if (st) {
        for (int i = 0; i < k->n_outs; i++) mk_rt_release(k->ip, &res[i]);
        return st;
    }
    take(k, res, k->n_outs);
    return MK_OK;
}

mk_status mk_k_while_loop(mk_kctx *k)
{
    int n;
    mk_rt **init = mk_kargs(k, "loop_vars", &n);
    if (!init || n < 1 || n > 16 || n != k->n_outs)
        return mk_kerr(k, MK_EINVAL, "needs 1-16 loop_vars, one per output");
    if (k->op->n_blocks != 2) return mk_kerr(k, MK_EINVAL, "while_loop needs cond and body blocks");
    const mk_block *cb = k->op->blocks[0], *body = k->op->blocks[1];
    mk_rt a[16], b[16], c[1];
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    memset(c, 0, sizeof c);
    mk_rt *cur = a, *nxt = b;
    mk_rt *ptrs[16];
    mk_status st = MK_OK;
    for (int i = 0; i < n; i++) ptrs[i] = init[i];
    long iter = 0;
    for (;;) {
        st = mk_interp_block(k, cb, ptrs, n, c, 1);
        if (st) break;
        int go = c[0].numel == 1 && mk_rt_f64(&c[0], 0) != 0;
        mk_rt_release(k->ip, &c[0]);
        if (!go) break;
        if (++iter > 100000000L) {
            st = mk_kerr(k, MK_EINVAL, "loop did not stop after 1e8 iterations");
            break;
        }
        st = mk_interp_block(k, body, ptrs, n, nxt, n);
        if (st) break;
        for (int i = 0; i < n; i++) mk_rt_release(k->ip, &cur[i]);
        mk_rt *t = cur;
        cur = nxt;
        nxt = t;
        for (int i = 0; i < n; i++) ptrs[i] = &cur[i];
    }
    if (!st && iter == 0) {
        /* no iteration: outputs are copies of the initial values */
        for (int i = 0; i < n && !st; i++) {
            st = mk_rt_alloc(k, &cur[i], &init[i]->type);
            if (!st && init[i]->numel)
                memcpy(cur[i].data, init[i]->data,
                       init[i]->numel * mk_interp_elem_size(init[i]->type.dtype));
        }
    }
    if (!st) take(k, cur, n);
    for (int i = 0; i < n; i++) {
        mk_rt_release(k->ip, &a[i]);
        mk_rt_release(k->ip, &b[i]);
    }
    return st;
}
