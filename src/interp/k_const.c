/* Constant kernels: const (a view of its value), the constexpr decompressors (affine
 * dequantize, blockwise shift/scale, fp16 cast, palette lookup in its iOS16 packed form and its
 * iOS18 per-block scalar/vector form, sparse bit masks in their iOS16 packed and iOS18 uint1
 * forms, and the iOS18 sparse-to-sparse lut/shift-scale ops that feed them), runtime
 * quantize/dequantize, and control flow (cond, while_loop) which runs nested blocks through the
 * engine. */
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

static mk_status lut18(mk_kctx *k, const mk_type *it, const mk_rt *ind, const mk_rt *mask,
                       const mk_rt *lut, int64_t ax64, const mk_rt *out);
static void put_dense(mk_kctx *k, mk_rt *out);
static int lut_fast(const mk_type *it, const mk_rt *ind, const mk_rt *lut, mk_rt *out);

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
    int64_t ax = 0;
    mk_status st = mk_kint(k, "vector_axis", 0, &ax);
    if (st) return st;
    int fast = ind->numel ? lut_fast(&ind->type, ind, lut, out) : 0;
    if (fast < 0) return mk_kerr(k, MK_EINVAL, "palette index out of range");
    if (!fast && ind->numel && !(st = lut18(k, &ind->type, ind, NULL, lut, ax, out)))
        put_dense(k, out);
    return st;
}

/* lut18 for the common case (dense indices, scalar entries, float output), straight into out:
 * 1 done, 0 not this case, -1 an index out of range */
static int lut_fast(const mk_type *it, const mk_rt *ind, const mk_rt *lut, mk_rt *out)
{
    int r = it->rank;
    if (r < 1 || lut->type.rank != r + 2 || lut->type.dims[r + 1] != 1 ||
        mk_interp_layout(ind->type.dtype) != MK_L_I32 ||
        mk_interp_layout(lut->type.dtype) != MK_L_F32 ||
        mk_interp_layout(out->type.dtype) != MK_L_F32 || ind->numel != out->numel)
        return 0;
    const int64_t *bd = lut->type.dims;
    for (int j = 0; j < r; j++)
        if (bd[j] < 1 || it->dims[j] % bd[j]) return 0;
    size_t pal = (size_t)bd[r], last = (size_t)it->dims[r - 1];
    size_t seg = last / (size_t)bd[r - 1], rows = last ? out->numel / last : 0;
    const int32_t *ix = ind->data;
    const float *lv = lut->data;
    float *o = out->data;
    int64_t c[MK_MAX_RANK] = {0};
    for (size_t row = 0; row < rows; row++) {
        size_t b = 0;
        for (int j = 0; j < r - 1; j++)
            b = b * (size_t)bd[j] + (size_t)(c[j] / (it->dims[j] / bd[j]));
        b *= (size_t)bd[r - 1];
        const int32_t *x = ix + row * last;
        float *y = o + row * last;
        for (size_t q0 = 0; q0 < last; q0 += seg, b++) {
            const float *e = lv + b * pal;
            for (size_t q = q0; q < q0 + seg; q++) {
                if ((uint32_t)x[q] >= pal) return -1;
                y[q] = e[x[q]];
            }
        }
        for (int j = r - 2; j >= 0; j--) {
            if (++c[j] < it->dims[j]) break;
            c[j] = 0;
        }
    }
    return 1;
}

/* Store the dense scratch values (doubles) into out, float or integer. */
static void put_dense(mk_kctx *k, mk_rt *out)
{
    const double *d = mk_interp_scratch(k, 0);
    int fl = mk_interp_layout(out->type.dtype) == MK_L_F32;
    for (size_t i = 0; i < out->numel; i++)
        if (fl)
            ((float *)out->data)[i] = (float)d[i];
        else
            ((int32_t *)out->data)[i] = (int32_t)d[i];
}

static void step(int64_t *c, const mk_type *t)
{
    for (int j = t->rank - 1; j >= 0; j--) {
        if (++c[j] < t->dims[j]) break;
        c[j] = 0;
    }
}

/* iOS18 lookup: lut [*blocks, palettes, vector_size], indices of shape `it` given densely by
 * `ind` or sparsely by `mask` + the nonzero entries of `ind` (0 where the mask is clear). Each
 * index expands to vector_size values laid along axis `ax`. Dense values go to the run's
 * scratch as doubles, numel(out) of them. */
static mk_status lut18(mk_kctx *k, const mk_type *it, const mk_rt *ind, const mk_rt *mask,
                       const mk_rt *lut, int64_t ax64, const mk_rt *out)
{
    int r = it->rank, ax = 0;
    if (lut->type.rank != r + 2) return mk_kerr(k, MK_EINVAL, "lut must have rank %d", r + 2);
    int64_t pal = lut->type.dims[r], vs = lut->type.dims[r + 1];
    mk_status st;
    if (vs < 1) return mk_kerr(k, MK_EINVAL, "lut vector size must be at least 1");
    if (vs > 1 && (st = mk_kaxis(k, ax64, r, &ax))) return st;
    mk_type bt = lut->type;
    bt.rank = r;
    mk_rt view = {.type = bt};
    mk_rt iv = {.type = *it};
    if (check_blocks(k, &iv, &view, "lut")) return k->e ? k->e->code : MK_EINVAL;
    size_t n = 1, bytes;
    for (int i = 0; i < r; i++) n *= (size_t)it->dims[i];
    if (!mk_mul_size(n, (size_t)vs, &n) || n != out->numel ||
        !mk_mul_size(n, sizeof(double), &bytes))
        return mk_kerr(k, MK_EINVAL, "output size mismatch");
    double *d = mk_interp_scratch(k, bytes ? bytes : 1);
    if (!d) return mk_kerr(k, MK_ENOMEM, "out of memory");
    /* output strides: element (c, t) lands at c with c[ax] = c[ax] * vs + t */
    size_t ostr[MK_MAX_RANK];
    size_t acc = 1;
    for (int j = r - 1; j >= 0; j--) {
        ostr[j] = acc;
        acc *= (size_t)(it->dims[j] * (j == ax ? vs : 1));
    }
    int64_t c[MK_MAX_RANK] = {0};
    size_t nz = 0, total = n / (size_t)vs;
    for (size_t i = 0; i < total; i++, step(c, it)) {
        size_t o = 0;
        for (int j = 0; j < r; j++) o += (size_t)(c[j] * (j == ax ? vs : 1)) * ostr[j];
        int64_t v = -1;
        if (!mask) {
            v = mk_rt_i64(ind, i);
        } else if (mk_rt_i64(mask, i)) {
            if (nz >= ind->numel) return mk_kerr(k, MK_EINVAL, "mask has more set bits than data");
            v = mk_rt_i64(ind, nz++);
        }
        if (v >= pal || v < -1 || (!mask && v < 0))
            return mk_kerr(k, MK_EINVAL, "palette index %lld out of range", (long long)v);
        size_t base = (block_index(it, &bt, c) * (size_t)pal + (size_t)v) * (size_t)vs;
        for (int64_t t = 0; t < vs; t++)
            d[o + (size_t)t * ostr[ax]] = v < 0 ? 0 : mk_rt_f64(lut, base + (size_t)t);
    }
    if (mask && nz != ind->numel)
        return mk_kerr(k, MK_EINVAL, "mask has %zu set bits for %zu values", nz, ind->numel);
    return MK_OK;
}

/* Scatter `nz` into the dense output along the set bits of mask (bit i of a uint8 byte array
 * when packed, else element i). */
static mk_status scatter(mk_kctx *k, const mk_rt *nz, const mk_rt *mask, int packed, mk_rt *out)
{
    int fl = mk_interp_layout(out->type.dtype) == MK_L_F32;
    size_t j = 0;
    if (packed ? (out->numel + 7) / 8 > mask->numel : mask->numel != out->numel)
        return mk_kerr(k, MK_EINVAL, "mask size does not match the output");
    for (size_t i = 0; i < out->numel; i++) {
        int on = packed ? (int)((mk_rt_i64(mask, i / 8) >> (i % 8)) & 1) : mk_rt_i64(mask, i) != 0;
        double v = 0;
        if (on) {
            if (j >= nz->numel) return mk_kerr(k, MK_EINVAL, "mask has more set bits than data");
            v = mk_rt_f64(nz, j++);
        }
        if (fl)
            ((float *)out->data)[i] = (float)v;
        else
            ((int32_t *)out->data)[i] = (int32_t)v;
    }
    if (j != nz->numel)
        return mk_kerr(k, MK_EINVAL, "mask has %zu set bits for %zu values", j, nz->numel);
    return MK_OK;
}

mk_status mk_k_constexpr_sparse(mk_kctx *k)
{
    mk_rt *nz = mk_kin(k, "nonzero_data"), *mask = mk_kin(k, "mask");
    if (!nz || !mask) return mk_kerr(k, MK_EINVAL, "needs nonzero_data and mask");
    return scatter(k, nz, mask, mk_kin(k, "shape") != NULL, k->outs[0]);
}

/* Output 0 of the sparse-to-sparse ops: the mask, repeated vs times along ax. */
static void put_mask(const mk_rt *mask, int ax, int64_t vs, mk_rt *out)
{
    int64_t c[MK_MAX_RANK] = {0};
    size_t inner = 1;
    for (int j = ax + 1; j < mask->type.rank; j++) inner *= (size_t)mask->type.dims[j];
    for (size_t i = 0; i < mask->numel; i++, step(c, &mask->type)) {
        size_t outer = i / (inner * (size_t)mask->type.dims[ax]), in = i % inner;
        for (int64_t t = 0; t < vs; t++) {
            size_t o =
                (outer * (size_t)(mask->type.dims[ax] * vs) + (size_t)(c[ax] * vs + t)) * inner +
                in;
            ((int32_t *)out->data)[o] = mk_rt_i64(mask, i) != 0;
        }
    }
}

/* Output 1: the dense scratch values at the set bits of output 0. */
static void gather_set(mk_kctx *k, const mk_rt *m, mk_rt *out)
{
    const double *d = mk_interp_scratch(k, 0);
    int fl = mk_interp_layout(out->type.dtype) == MK_L_F32;
    size_t j = 0;
    for (size_t i = 0; i < m->numel && j < out->numel; i++) {
        if (!((const int32_t *)m->data)[i]) continue;
        if (fl)
            ((float *)out->data)[j++] = (float)d[i];
        else
            ((int32_t *)out->data)[j++] = (int32_t)d[i];
    }
}

static mk_status sparse_outs_ok(mk_kctx *k, const mk_rt *mask, int64_t vs)
{
    if (k->n_outs != 2 || mk_interp_layout(k->outs[0]->type.dtype) != MK_L_I32)
        return mk_kerr(k, MK_EINVAL, "needs a mask and a data output");
    size_t n;
    if (!mk_mul_size(mask->numel, (size_t)vs, &n) || k->outs[0]->numel != n)
        return mk_kerr(k, MK_EINVAL, "mask output size mismatch");
    return MK_OK;
}

mk_status mk_k_constexpr_lut_sparse(mk_kctx *k)
{
    mk_rt *mask = mk_kin(k, "indices_mask"), *ind = mk_kin(k, "indices_nonzero_data");
    mk_rt *lut = mk_kin(k, "lut");
    if (!mask || !ind || !lut)
        return mk_kerr(k, MK_EINVAL, "needs indices_mask, indices_nonzero_data and lut");
    int64_t ax64 = 0, vs = lut->type.rank >= 1 ? lut->type.dims[lut->type.rank - 1] : 1;
    int ax = 0;
    mk_status st = mk_kint(k, "vector_axis", 0, &ax64);
    if (st || (vs > 1 && (st = mk_kaxis(k, ax64, mask->type.rank, &ax))) ||
        (st = sparse_outs_ok(k, mask, vs)))
        return st;
    size_t dense = k->outs[0]->numel;
    mk_rt dv = {.numel = dense};
    if ((st = lut18(k, &mask->type, ind, mask, lut, ax64, &dv))) return st;
    if (k->outs[1]->numel != ind->numel * (size_t)vs)
        return mk_kerr(k, MK_EINVAL, "data output size mismatch");
    put_mask(mask, ax, vs, k->outs[0]);
    gather_set(k, k->outs[0], k->outs[1]);
    return MK_OK;
}

mk_status mk_k_constexpr_sparse_shift(mk_kctx *k)
{
    mk_rt *mask = mk_kin(k, "data_mask"), *nz = mk_kin(k, "nonzero_data");
    mk_rt *sc = mk_kin(k, "scale"), *off = mk_kin(k, "offset");
    if (!mask || !nz || !sc) return mk_kerr(k, MK_EINVAL, "needs data_mask, nonzero_data, scale");
    mk_status st;
    if ((st = sparse_outs_ok(k, mask, 1)) || (st = check_blocks(k, mask, sc, "scale")) ||
        (off && (st = check_blocks(k, mask, off, "offset"))))
        return st;
    if (off && off->numel != sc->numel)
        return mk_kerr(k, MK_EINVAL, "offset must be shaped like scale");
    if (k->outs[1]->numel != nz->numel || mk_interp_layout(k->outs[1]->type.dtype) != MK_L_F32)
        return mk_kerr(k, MK_EINVAL, "data output must be float and match nonzero_data");
    int64_t c[MK_MAX_RANK] = {0};
    size_t j = 0;
    for (size_t i = 0; i < mask->numel; i++, step(c, &mask->type)) {
        int on = mk_rt_i64(mask, i) != 0;
        ((int32_t *)k->outs[0]->data)[i] = on;
        if (!on) continue;
        if (j >= nz->numel) return mk_kerr(k, MK_EINVAL, "mask has more set bits than data");
        size_t b = block_index(&mask->type, &sc->type, c);
        double v = mk_rt_f64(nz, j) - (off ? mk_rt_f64(off, b) : 0);
        ((float *)k->outs[1]->data)[j++] = (float)(v * mk_rt_f64(sc, b));
    }
    if (j != nz->numel)
        return mk_kerr(k, MK_EINVAL, "mask has %zu set bits for %zu values", j, nz->numel);
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
    MK_ASSERT(n <= (int)(sizeof ptrs / sizeof *ptrs));
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
