/* MaxPool forms MIL max_pool lacks, and MaxUnpool. Integer MaxPool runs max_pool on an fp32
 * cast (ONNX allows int8/uint8 there, exact in fp32). Dilations or the Indices output:
 * window taps as strided slices of x padded with -inf, combined in window order by maximum
 * (values) or by greater + select, which keeps the first maximum as ONNX does (indices:
 * n/c base + the window origin + the winning tap's offset, row- or column-major). MaxUnpool:
 * scatter_nd of X at the flat Indices into zeros of the output shape. */
#include <math.h>
#include <string.h>

#include "onnx_int.h"

typedef struct {
    int ns;
    int64_t k[3], s[3], d[3], pb[3], pe[3], o[3];
} mp_geom;

/* Window geometry of a MaxPool node on input dims in[ns]; NULL or the reason it is bad. */
static const char *mp_read(ox_ctx *c, const Onnx__NodeProto *n, const int64_t *in, mp_geom *g)
{
    const int64_t *v;
    int ns = g->ns;
    if (mk_onnx_attr_ints(n, "kernel_shape", &v) != ns) return "kernel_shape must match the rank";
    for (int i = 0; i < ns; i++) g->k[i] = v[i], g->s[i] = g->d[i] = 1, g->pb[i] = g->pe[i] = 0;
    int m = mk_onnx_attr_ints(n, "strides", &v);
    for (int i = 0; i < ns && m == ns; i++) g->s[i] = v[i];
    if (m >= 0 && m != ns) return "strides must match the rank";
    m = mk_onnx_attr_ints(n, "dilations", &v);
    for (int i = 0; i < ns && m == ns; i++) g->d[i] = v[i];
    if (m >= 0 && m != ns) return "dilations must match the rank";
    m = mk_onnx_attr_ints(n, "pads", &v);
    for (int i = 0; i < ns && m == 2 * ns; i++) g->pb[i] = v[i], g->pe[i] = v[ns + i];
    if (m >= 0 && m != 2 * ns) return "pads must have 2 per spatial axis";
    const char *ap = mk_onnx_attr_s(c, n, "auto_pad", "NOTSET");
    int ceil_mode = mk_onnx_attr_i(n, "ceil_mode", 0) != 0;
    if (!ap) return "out of memory";
    for (int i = 0; i < ns; i++) {
        if (g->k[i] < 1 || g->k[i] > 64 || g->s[i] < 1 || g->s[i] > 1024 || g->d[i] < 1 ||
            g->d[i] > 1024 || g->pb[i] < 0 || g->pe[i] < 0 || g->pb[i] > 4096 || g->pe[i] > 4096)
            return "kernel_shape, strides, dilations or pads out of range";
        int64_t ek = (g->k[i] - 1) * g->d[i] + 1;
        if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
            int64_t o = (in[i] + g->s[i] - 1) / g->s[i], t = (o - 1) * g->s[i] + ek - in[i];
            t = t > 0 ? t : 0;
            g->pb[i] = !strcmp(ap, "SAME_UPPER") ? t / 2 : t - t / 2;
            g->pe[i] = t - g->pb[i];
            g->o[i] = o;
            continue;
        }
        if (!strcmp(ap, "VALID")) g->pb[i] = g->pe[i] = 0;
        int64_t span = in[i] + g->pb[i] + g->pe[i] - ek;
        if (span < 0) return "kernel larger than the padded input";
        int64_t o = ceil_mode ? (span + g->s[i] - 1) / g->s[i] + 1 : span / g->s[i] + 1;
        if (ceil_mode && (o - 1) * g->s[i] >= in[i] + g->pb[i]) o--;
        g->o[i] = o;
    }
    return NULL;
}

static mk_value *cast_to(ox_ctx *c, mk_value *x, const char *dt, const char *name)
{
    mk_op *op = mk_onnx_op(c, MK_OP_CAST, name);
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_str(c, op, "dtype", dt)) return NULL;
    return mk_onnx_out(c, op, NULL);
}

/* Tap t's strided slice of the padded input xp (rank r = ns + 2). */
static mk_value *tap(ox_ctx *c, mk_value *xp, const mp_geom *g, const int64_t *a)
{
    int r = g->ns + 2;
    int32_t b[5] = {0}, e[5], st[5] = {1, 1, 1, 1, 1};
    e[0] = (int32_t)xp->type.dims[0], e[1] = (int32_t)xp->type.dims[1];
    for (int i = 0; i < g->ns; i++) {
        b[2 + i] = (int32_t)(a[i] * g->d[i]);
        e[2 + i] = (int32_t)(b[2 + i] + (g->o[i] - 1) * g->s[i] + 1);
        st[2 + i] = (int32_t)g->s[i];
    }
    mk_op *op = mk_onnx_op(c, MK_OP_SLICE_BY_INDEX, "pool_tap");
    if (!op || !mk_onnx_in_mil(c, op, "x", xp) || !mk_onnx_in_i32s(c, op, "begin", r, b) ||
        !mk_onnx_in_i32s(c, op, "end", r, e) || !mk_onnx_in_i32s(c, op, "stride", r, st))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

static mk_status max_pool_taps(ox_ctx *c, const Onnx__NodeProto *n, mk_value *x, int is_int,
                               ox_val **out, int want_idx)
{
    int col = mk_onnx_attr_i(n, "storage_order", 0) != 0;
    int r = x->type.rank;
    mp_geom g;
    g.ns = r - 2;
    const char *why = mp_read(c, n, x->type.dims + 2, &g);
    if (why) return mk_err_set(c->err, MK_EINVAL, "%s: node %s: %s", c->file, oname(n, 0), why);
    int64_t ntap = 1, in_sz[3], str[3], outn = x->type.dims[0] * x->type.dims[1], acc = 1;
    for (int i = 0; i < g.ns; i++) ntap *= g.k[i], in_sz[i] = x->type.dims[2 + i], outn *= g.o[i];
    for (int j = 0; j < g.ns; j++) { /* element strides in the plane (column-major: reversed) */
        int i = col ? j : g.ns - 1 - j;
        str[i] = acc, acc *= in_sz[i];
    }
    if (ntap > 256) return mk_onnx_unsupported(c, n, "a window of %lld taps", (long long)ntap);
    if (want_idx && (outn > INT32_MAX / 4 || x->type.dims[0] * x->type.dims[1] * acc > INT32_MAX))
        return mk_onnx_unsupported(c, n, "Indices past the int32 range");
    /* pad with -inf: pb before, and after whatever the last window reaches past the input */
    int32_t pads[6];
    int need = 0;
    for (int i = 0; i < g.ns; i++) {
        int64_t reach = (g.o[i] - 1) * g.s[i] + (g.k[i] - 1) * g.d[i] + 1 - g.pb[i] - in_sz[i];
        pads[2 * i] = (int32_t)g.pb[i];
        pads[2 * i + 1] = (int32_t)(reach > 0 ? reach : 0);
        need |= pads[2 * i] || pads[2 * i + 1];
    }
    mk_value *xf = is_int ? cast_to(c, x, "fp32", NULL) : x, *xp = xf;
    if (xf && need) {
        mk_op *pop = mk_onnx_op(c, MK_OP_PAD, "pool_pad");
        if (!pop || !mk_onnx_in_mil(c, pop, "x", xf) ||
            !mk_onnx_in_i32s(c, pop, "pad", 2 * g.ns, pads) ||
            !mk_onnx_in_str(c, pop, "mode", "constant") ||
            !mk_onnx_in_f32(c, pop, "constant_val", -INFINITY))
            return fail(c);
        xp = mk_onnx_out(c, pop, NULL);
    }
    if (!xp) return fail(c);
    int32_t *off = mk_arena_array(c->p->arena, (size_t)ntap, sizeof *off);
    if (!off) return fail(c);
    mk_value *best = NULL, *bt = NULL;
    for (int64_t t = 0; t < ntap; t++) {
        int64_t a[3] = {0, 0, 0}, rem = t, o = 0;
        for (int i = g.ns - 1; i >= 0; i--) a[i] = rem % g.k[i], rem /= g.k[i];
        for (int i = 0; i < g.ns; i++) o += a[i] * g.d[i] * str[i];
        off[t] = (int32_t)o;
        mk_value *v = tap(c, xp, &g, a);
        if (!v) return fail(c);
        if (!best) {
            best = v;
            if (want_idx) { /* full-shaped: coremltools types select by a and b only */
                mk_type zt = mk_type_make(MK_DT_INT32, r, v->type.dims);
                int32_t *z = mk_arena_array(c->p->arena, (size_t)outn, sizeof *z);
                bt = z ? mk_ir_const(c->p, c->blk, "pool_tap0", &zt, z, (size_t)outn * 4, 1) : NULL;
                if (!bt) return fail(c);
            }
            continue;
        }
        if (!want_idx) {
            if (!(best = mk_onnx_binary(c, MK_OP_MAXIMUM, best, v, NULL))) return fail(c);
            continue;
        }
        int32_t ti = (int32_t)t;
        mk_value *gt = mk_onnx_binary(c, MK_OP_GREATER, v, best, NULL);
        mk_value *tv = gt ? mk_ir_const_i32(c->p, c->blk, "pool_tap", 1, &ti, 1) : NULL;
        mk_op *s1 = tv ? mk_onnx_op(c, MK_OP_SELECT, NULL) : NULL;
        if (!s1 || !mk_onnx_in_mil(c, s1, "cond", gt) || !mk_onnx_in_mil(c, s1, "a", v) ||
            !mk_onnx_in_mil(c, s1, "b", best) || !(best = mk_onnx_out(c, s1, NULL)))
            return fail(c);
        mk_op *s2 = mk_onnx_op(c, MK_OP_SELECT, NULL);
        if (!s2 || !mk_onnx_in_mil(c, s2, "cond", gt) || !mk_onnx_in_mil(c, s2, "a", tv) ||
            !mk_onnx_in_mil(c, s2, "b", bt) || !(bt = mk_onnx_out(c, s2, NULL)))
            return fail(c);
    }
    mk_value *y = is_int ? cast_to(c, best, "int32", oname(n, 0)) : best;
    if (!y) return fail(c);
    mk_onnx_set(out[0], y);
    if (!want_idx) return MK_OK;
    /* index = (n*C + c) * prod(in) + window origin offset + offset of the winning tap */
    int64_t plane = 1, on = 1;
    for (int i = 0; i < g.ns; i++) plane *= in_sz[i], on *= g.o[i];
    int32_t *org =
        mk_arena_array(c->p->arena, (size_t)(on + x->type.dims[0] * x->type.dims[1]), sizeof *org);
    if (!org) return fail(c);
    for (int64_t j = 0; j < on; j++) {
        int64_t rem = j, p = 0;
        for (int i = g.ns - 1; i >= 0; i--)
            p += (rem % g.o[i] * g.s[i] - g.pb[i]) * str[i], rem /= g.o[i];
        org[j] = (int32_t)p;
    }
    int32_t *base = org + on;
    for (int64_t j = 0; j < x->type.dims[0] * x->type.dims[1]; j++) base[j] = (int32_t)(j * plane);
    int64_t od[5] = {1, 1, 1, 1, 1}, bd[5] = {x->type.dims[0], x->type.dims[1], 1, 1, 1}, nt = ntap;
    for (int i = 0; i < g.ns; i++) od[2 + i] = g.o[i], bd[2 + i] = 1;
    mk_type ot = mk_type_make(MK_DT_INT32, r, od), btt = mk_type_make(MK_DT_INT32, r, bd),
            tt = mk_type_make(MK_DT_INT32, 1, &nt);
    mk_value *ov = mk_ir_const(c->p, c->blk, "pool_origin", &ot, org, (size_t)on * 4, 1);
    mk_value *bv = ov ? mk_ir_const(c->p, c->blk, "pool_base", &btt, base,
                                    (size_t)(x->type.dims[0] * x->type.dims[1]) * 4, 1)
                      : NULL;
    mk_value *tov =
        bv ? mk_ir_const(c->p, c->blk, "pool_tap_offset", &tt, off, (size_t)nt * 4, 1) : NULL;
    mk_op *ga = tov ? mk_onnx_op(c, MK_OP_GATHER, NULL) : NULL;
    if (!ga || !mk_onnx_in_mil(c, ga, "x", tov) || !mk_onnx_in_mil(c, ga, "indices", bt) ||
        !mk_onnx_in_i32(c, ga, "axis", 0))
        return fail(c);
    mk_value *iv = mk_onnx_out(c, ga, NULL);
    iv = iv ? mk_onnx_binary(c, MK_OP_ADD, iv, ov, NULL) : NULL;
    iv = iv ? mk_onnx_binary(c, MK_OP_ADD, iv, bv, oname(n, 1)) : NULL;
    return done(c, out[1], iv);
}

OX_WHY(mk_onnx_why_max_pool)
{
    const int64_t *v;
    if (mk_onnx_attr_ints(n, "kernel_shape", &v) < 0) return "missing kernel_shape";
    return mk_onnx_why_conv(c, n);
}

OX_LOWER(mk_onnx_lower_max_pool_any)
{
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    int r = x->type.rank, dil = 0, want_idx = n_out > 1 && oname(n, 1);
    const int64_t *v;
    int k = mk_onnx_attr_ints(n, "dilations", &v);
    for (int i = 0; i < k; i++) dil |= v[i] != 1;
    int is_int = mk_dtype_is_int(x->type.dtype);
    if (!is_int && x->type.dtype != MK_DT_FP32)
        return mk_onnx_unsupported(c, n, "data type %s", mk_dtype_name(x->type.dtype));
    if (!dil && !want_idx && !is_int) return mk_onnx_lower_max_pool(c, n, in, n_in, out, 1);
    if (r < 3 || r > 5) return mk_onnx_unsupported(c, n, "pooling of rank %d", r);
    for (int i = 0; i < r; i++)
        if (x->type.dims[i] < 0) return mk_onnx_unsupported(c, n, "needs a static input shape");
    if (!dil && !want_idx) { /* integer: max_pool of the fp32 cast */
        ox_val tin, tout, *pi = &tin, *po = &tout;
        memset(&tin, 0, sizeof tin);
        memset(&tout, 0, sizeof tout);
        tin.name = in[0]->name;
        mk_value *xf = cast_to(c, x, "fp32", NULL);
        if (!xf) return fail(c);
        mk_onnx_set(&tin, xf);
        mk_status st = mk_onnx_lower_max_pool(c, n, &pi, 1, &po, 1);
        if (st != MK_OK) return st;
        return done(c, out[0], cast_to(c, tout.mil, "int32", oname(n, 0)));
    }
    return max_pool_taps(c, n, x, is_int, out, want_idx);
}

/* MaxUnpool: zeros of the output size (tile of a [1] zero), scatter_nd of X's values at the
 * flat Indices, reshaped to the output shape (output_shape when given as a constant). */
OX_LOWER(mk_onnx_lower_max_unpool)
{
    (void)n_out;
    mk_value *x = mil(c, in[0]), *ix = x ? mil(c, in[1]) : NULL;
    if (!ix) return fail(c);
    int r = x->type.rank, ns = r - 2;
    if (r < 3 || r > 5 || ix->type.rank != r)
        return mk_err_set(c->err, MK_EINVAL, "%s: node %s: X and I must have rank 3-5 and agree",
                          c->file, oname(n, 0));
    for (int i = 0; i < r; i++)
        if (x->type.dims[i] < 0 || ix->type.dims[i] != x->type.dims[i])
            return mk_onnx_unsupported(c, n, "X and I need the same static shape");
    if (x->type.dtype != MK_DT_FP32 || ix->type.dtype != MK_DT_INT32)
        return mk_onnx_unsupported(c, n, "X must be float and I integer");
    int64_t od[5], want[5];
    od[0] = x->type.dims[0], od[1] = x->type.dims[1];
    const int64_t *k, *s = NULL, *p = NULL;
    if (mk_onnx_attr_ints(n, "kernel_shape", &k) != ns)
        return mk_err_set(c->err, MK_EINVAL, "%s: node %s: kernel_shape must match the rank",
                          c->file, oname(n, 0));
    int nst = mk_onnx_attr_ints(n, "strides", &s), np = mk_onnx_attr_ints(n, "pads", &p);
    if ((nst >= 0 && nst != ns) || (np >= 0 && np != 2 * ns))
        return mk_err_set(c->err, MK_EINVAL, "%s: node %s: strides or pads do not match", c->file,
                          oname(n, 0));
    for (int i = 0; i < ns; i++) {
        if (k[i] < 1 || k[i] > 4096 || (nst > 0 && (s[i] < 1 || s[i] > 4096)) ||
            (np > 0 && (p[i] < 0 || p[ns + i] < 0 || p[i] > 4096 || p[ns + i] > 4096)))
            return mk_err_set(c->err, MK_EINVAL,
                              "%s: node %s: kernel, strides or pads out of "
                              "range",
                              c->file, oname(n, 0));
        od[2 + i] = (x->type.dims[2 + i] - 1) * (nst > 0 ? s[i] : 1) -
                    (np > 0 ? p[i] + p[ns + i] : 0) + k[i];
    }
    memcpy(want, od, sizeof od);
    /* output_shape: the indices still address the inferred shape, padded at the end */
    ox_val *os = n_in > 2 ? in[2] : NULL;
    int grow = 0;
    if (os) {
        if (!os->data || mk_onnx_numel(&os->type) != (size_t)r)
            return mk_onnx_unsupported(c, n, "output_shape must be a constant of %d values", r);
        for (int i = 0; i < r; i++) {
            want[i] = mk_onnx_cget_i(os, (size_t)i);
            if (want[i] < od[i] || (i < 2 && want[i] != od[i]) || want[i] > INT32_MAX)
                return mk_onnx_unsupported(c, n,
                                           "output_shape smaller than the pooled input's "
                                           "or changing N, C");
            grow |= want[i] != od[i];
        }
    }
    size_t tot = 1;
    for (int i = 0; i < r; i++)
        if (od[i] < 1 || od[i] > INT32_MAX || !mk_mul_size(tot, (size_t)od[i], &tot))
            return mk_err_set(c->err, MK_EINVAL, "%s: node %s: output dim %lld out of range",
                              c->file, oname(n, 0), (long long)od[i]);
    if (tot > INT32_MAX) return mk_onnx_unsupported(c, n, "output past the int32 index range");
    float zero = 0;
    int64_t one = 1, m = (int64_t)mk_onnx_numel(&x->type), md[2] = {m, 1};
    int32_t reps = (int32_t)tot;
    mk_value *z = mk_onnx_cf32(c, "unpool_zero", 1, &one, &zero);
    mk_op *tl = z ? mk_onnx_op(c, MK_OP_TILE, "unpool_zeros") : NULL;
    if (!tl || !mk_onnx_in_mil(c, tl, "x", z) || !mk_onnx_in_i32s(c, tl, "reps", 1, &reps))
        return fail(c);
    mk_value *zs = mk_onnx_out(c, tl, NULL);
    mk_value *iv = zs ? mk_onnx_reshape(c, ix, 2, md, NULL) : NULL;
    mk_value *xv = iv ? mk_onnx_reshape(c, x, 1, &m, NULL) : NULL;
    mk_op *sc = xv ? mk_onnx_op(c, MK_OP_SCATTER_ND, "unpool_scatter") : NULL;
    if (!sc || !mk_onnx_in_mil(c, sc, "data", zs) || !mk_onnx_in_mil(c, sc, "indices", iv) ||
        !mk_onnx_in_mil(c, sc, "updates", xv) || !mk_onnx_in_str(c, sc, "mode", "update"))
        return fail(c);
    mk_value *y = mk_onnx_out(c, sc, NULL);
    y = y ? mk_onnx_reshape(c, y, r, od, grow ? NULL : oname(n, 0)) : NULL;
    if (!y || !grow) return done(c, out[0], y);
    int32_t pads[6];
    for (int i = 0; i < ns; i++)
        pads[2 * i] = 0, pads[2 * i + 1] = (int32_t)(want[2 + i] - od[2 + i]);
    mk_op *pop = mk_onnx_op(c, MK_OP_PAD, oname(n, 0));
    if (!pop || !mk_onnx_in_mil(c, pop, "x", y) || !mk_onnx_in_i32s(c, pop, "pad", 2 * ns, pads) ||
        !mk_onnx_in_str(c, pop, "mode", "constant") || !mk_onnx_in_f32(c, pop, "constant_val", 0))
        return fail(c);
    return done(c, out[0], mk_onnx_out(c, pop, NULL));
}
