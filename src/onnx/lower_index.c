/* Lowering of ONNX index and selection ops to MIL: OneHot (one_hot), TopK (topk, both
 * outputs), GatherND (gather_nd; batch_dims as explicit coordinates), ScatterND / ScatterElements /
 * Scatter (scatter_nd / scatter_along_axis with reduction none/add/mul/max/min), Hardmax
 * (argmax + one_hot), EyeLike and Compress with a constant condition (constants / gather).
 * Negative indices are wrapped at convert time when constant, with a select otherwise
 * (hazard H6); every index op gets validate_indices=false where MIL has it. */
#include <string.h>

#include "onnx_int.h"

static mk_value *ci32(ox_ctx *c, int32_t v)
{
    return mk_ir_const_i32(c->p, c->blk, "index_scalar", 1, &v, 1);
}

static int ios(ox_ctx *c)
{
    return mk_ir_ios_for_spec(c->p->spec_version);
}

/* Indices as int32 with negatives wrapped: dims[j] bounds index element j along the last
 * axis when per_col (gather_nd/scatter_nd), else dims[0] bounds every element. Constant
 * indices are wrapped now (a bad one is an error); run-time ones with a select. */
static mk_value *wrap_indices(ox_ctx *c, ox_val *ix, const int64_t *dims, int per_col)
{
    int r = ix->type.rank;
    int64_t K = per_col && r > 0 ? ix->type.dims[r - 1] : 1;
    if (ix->data) {
        size_t k = mk_onnx_numel(&ix->type);
        int32_t *q = mk_arena_array(c->p->arena, k ? k : 1, sizeof *q);
        if (!q) return NULL;
        for (size_t i = 0; i < k; i++) {
            int64_t v = mk_onnx_cget_i(ix, i), d = dims[per_col ? i % (size_t)K : 0];
            if (v < 0 && d >= 0) v += d;
            if (v < 0 || (d >= 0 && v >= d)) {
                mk_err_set(c->err, MK_EINVAL, "index %lld out of range for an axis of %lld",
                           (long long)mk_onnx_cget_i(ix, i), (long long)d);
                return NULL;
            }
            q[i] = (int32_t)v;
        }
        mk_type it = ix->type;
        it.dtype = MK_DT_INT32;
        return mk_ir_const(c->p, c->blk, "indices", &it, q, k * 4, 1);
    }
    mk_value *iv = mk_onnx_mil(c, ix);
    if (!iv) return NULL;
    if (iv->type.dtype != MK_DT_INT32) {
        mk_err_set(c->err, MK_EUNSUPPORTED, "indices must be integers");
        return NULL;
    }
    int32_t dv[MK_MAX_RANK];
    for (int64_t j = 0; j < K; j++) {
        int64_t d = dims[per_col ? j : 0];
        if (d < 0) return iv; /* unknown bound: left as is */
        dv[j] = (int32_t)d;
    }
    mk_value *bound =
        per_col ? mk_ir_const_i32(c->p, c->blk, "index_bound", (int)K, dv, 0) : ci32(c, dv[0]);
    mk_value *neg = bound ? mk_onnx_binary(c, MK_OP_LESS, iv, ci32(c, 0), NULL) : NULL;
    mk_value *up = neg ? mk_onnx_binary(c, MK_OP_ADD, iv, bound, NULL) : NULL;
    mk_op *op = up ? mk_onnx_op(c, MK_OP_SELECT, NULL) : NULL;
    if (!op || !mk_onnx_in_mil(c, op, "cond", neg) || !mk_onnx_in_mil(c, op, "a", up) ||
        !mk_onnx_in_mil(c, op, "b", iv))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

/* ---- OneHot ---- */
OX_LOWER(mk_onnx_lower_one_hot)
{
    (void)n_out;
    if (n_in < 3 || !in[0] || !in[1] || !in[2])
        return mk_onnx_unsupported(c, n, "expects 3 inputs");
    ox_val *ix = in[0], *dv = in[1], *vals = in[2];
    if (!dv->data || !vals->data)
        return mk_onnx_unsupported(c, n, "depth and values must be constants");
    if (mk_onnx_numel(&dv->type) != 1 || mk_onnx_numel(&vals->type) != 2)
        return mk_err_set(c->err, MK_EINVAL, "depth must have 1 element and values 2");
    int64_t depth = (int64_t)mk_onnx_cget_f(dv, 0);
    if (depth < 1 || depth > INT32_MAX) return mk_err_set(c->err, MK_EINVAL, "bad depth");
    int r = ix->type.rank, ax;
    if (r + 1 > MK_MAX_RANK) return mk_onnx_unsupported(c, n, "rank above %d", MK_MAX_RANK);
    if (!norm_axis(mk_onnx_attr_i(n, "axis", -1), r + 1, &ax))
        return mk_err_set(c->err, MK_EINVAL, "bad axis");
    mk_value *iv;
    if (ix->type.dtype == MK_DT_FP32 && !ix->data) {
        /* float indices are truncated to integers */
        mk_value *xf = mk_onnx_mil(c, ix);
        mk_op *op = xf ? mk_onnx_op(c, MK_OP_CAST, NULL) : NULL;
        if (!op || !mk_onnx_in_mil(c, op, "x", xf) || !mk_onnx_in_str(c, op, "dtype", "int32"))
            return fail(c);
        mk_value *cv = mk_onnx_out(c, op, NULL);
        if (!cv) return fail(c);
        ox_val tmp = {ix->name, cv->type, NULL, 0, 0, cv, NULL, 0, NULL, 0, NULL};
        iv = wrap_indices(c, &tmp, &depth, 0);
    } else {
        /* out-of-range indices give all-off rows in both ONNX and MIL: only wrap negatives */
        if (ix->data) {
            size_t k = mk_onnx_numel(&ix->type);
            int32_t *q = mk_arena_array(c->p->arena, k ? k : 1, sizeof *q);
            if (!q) return fail(c);
            for (size_t i = 0; i < k; i++) {
                int64_t v = mk_onnx_cget_i(ix, i);
                if (v < 0) v += depth;
                q[i] = v < 0 || v >= depth ? (int32_t)depth : (int32_t)v;
            }
            mk_type it = ix->type;
            it.dtype = MK_DT_INT32;
            iv = mk_ir_const(c->p, c->blk, "indices", &it, q, k * 4, 1);
        } else {
            iv = wrap_indices(c, ix, &depth, 0);
        }
    }
    if (!iv) return fail(c);
    mk_dtype vt = vals->type.dtype == MK_DT_INT64 ? MK_DT_INT32 : vals->type.dtype;
    mk_op *op = mk_onnx_op(c, MK_OP_ONE_HOT, oname(n, 0));
    if (!op || !mk_onnx_in_mil(c, op, "indices", iv) ||
        !mk_onnx_in_i32(c, op, "one_hot_vector_size", (int32_t)depth) ||
        !mk_onnx_in_i32(c, op, "axis", ax))
        return fail(c);
    if (vt == MK_DT_FP32) {
        if (!mk_onnx_in_f32(c, op, "on_value", (float)mk_onnx_cget_f(vals, 1)) ||
            !mk_onnx_in_f32(c, op, "off_value", (float)mk_onnx_cget_f(vals, 0)))
            return fail(c);
    } else if (vt == MK_DT_INT32) {
        if (!mk_onnx_in_i32(c, op, "on_value", (int32_t)mk_onnx_cget_i(vals, 1)) ||
            !mk_onnx_in_i32(c, op, "off_value", (int32_t)mk_onnx_cget_i(vals, 0)))
            return fail(c);
    } else {
        if (!mk_onnx_in_bool(c, op, "on_value", (int)mk_onnx_cget_i(vals, 1)) ||
            !mk_onnx_in_bool(c, op, "off_value", (int)mk_onnx_cget_i(vals, 0)))
            return fail(c);
    }
    return done(c, out[0], mk_onnx_out(c, op, NULL));
}

/* ---- TopK ---- */
/* TopK with K known only at run time: MIL's topk wants a constant k (H35), so sort the whole
 * axis (argsort), keep the first K indices (slice_by_size with a run-time size) and gather the
 * values (gather_along_axis). Sorted output, as ONNX's default; argsort and gather_along_axis
 * run on the CPU (H29) as topk itself does. */
static mk_status topk_runtime_k(ox_ctx *c, const Onnx__NodeProto *n, mk_value *x, ox_val *kv,
                                int ax, int largest, ox_val **out, int n_out)
{
    int r = x->type.rank;
    for (int i = 0; i < r; i++)
        if (i != ax && x->type.dims[i] < 0)
            return mk_onnx_unsupported(c, n, "run-time K with a dynamic dim on axis %d", i);
    if (mk_onnx_numel(&kv->type) != 1)
        return mk_err_set(c->err, MK_EINVAL, "K must have 1 element");
    mk_value *k = mk_onnx_mil(c, kv);
    if (!k) return fail(c);
    if (k->type.rank != 1) {
        int64_t one = 1;
        if (!(k = mk_onnx_reshape(c, k, 1, &one, "topk_k"))) return fail(c);
    }
    mk_op *as = mk_onnx_op(c, MK_OP_ARGSORT, "topk_order");
    if (!as || !mk_onnx_in_mil(c, as, "x", x) || !mk_onnx_in_i32(c, as, "axis", ax) ||
        !mk_onnx_in_bool(c, as, "ascending", !largest))
        return fail(c);
    mk_value *order = mk_onnx_out(c, as, NULL);
    /* size = dims of x with K on the axis */
    mk_value *size = k;
    if (r > 1) {
        mk_op *cc = mk_onnx_op(c, MK_OP_CONCAT, "topk_size");
        if (!cc) return fail(c);
        for (int i = 0; i < r; i++) {
            int32_t d = (int32_t)x->type.dims[i];
            mk_value *part = i == ax ? k : mk_ir_const_i32(c->p, c->blk, "topk_dim", 1, &d, 0);
            if (!part || !mk_onnx_in_mil(c, cc, "values", part)) return fail(c);
        }
        if (!mk_onnx_in_i32(c, cc, "axis", 0) || !(size = mk_onnx_out(c, cc, NULL))) return fail(c);
    }
    int32_t zeros[MK_MAX_RANK] = {0};
    mk_op *sl = mk_onnx_op(c, MK_OP_SLICE_BY_SIZE, oname(n, 1));
    if (!order || !sl || !mk_onnx_in_mil(c, sl, "x", order) ||
        !mk_onnx_in_i32s(c, sl, "begin", r, zeros) || !mk_onnx_in_mil(c, sl, "size", size))
        return fail(c);
    mk_value *idx = mk_onnx_out(c, sl, n_out > 1 ? oname(n, 1) : NULL);
    mk_op *g = mk_onnx_op(c, MK_OP_GATHER_ALONG_AXIS, oname(n, 0));
    if (!idx || !g || !mk_onnx_in_mil(c, g, "x", x) || !mk_onnx_in_mil(c, g, "indices", idx) ||
        !mk_onnx_in_i32(c, g, "axis", ax))
        return fail(c);
    mk_value *v = mk_onnx_out(c, g, NULL);
    if (!v) return fail(c);
    mk_onnx_set(out[0], v);
    if (n_out > 1) mk_onnx_set(out[1], idx);
    return MK_OK;
}

OX_LOWER(mk_onnx_lower_topk)
{
    mk_value *x = mk_onnx_mil(c, in[0]);
    if (!x) return fail(c);
    int64_t k;
    if (c->opset < 10) {
        k = mk_onnx_attr_i(n, "k", -1);
    } else {
        if (n_in < 2 || !in[1]) return mk_err_set(c->err, MK_EINVAL, "missing K");
        if (!in[1]->data) {
            int r0 = x->type.rank, ax0;
            if (!norm_axis(mk_onnx_attr_i(n, "axis", -1), r0, &ax0) || r0 == 0)
                return mk_err_set(c->err, MK_EINVAL, "bad axis");
            return topk_runtime_k(c, n, x, in[1], ax0,
                                  c->opset < 11 || mk_onnx_attr_i(n, "largest", 1) != 0, out,
                                  n_out);
        }
        if (mk_onnx_numel(&in[1]->type) != 1)
            return mk_err_set(c->err, MK_EINVAL, "K must have 1 element");
        k = mk_onnx_cget_i(in[1], 0);
    }
    int r = x->type.rank, ax;
    if (!norm_axis(mk_onnx_attr_i(n, "axis", -1), r, &ax) || r == 0)
        return mk_err_set(c->err, MK_EINVAL, "bad axis");
    int64_t dim = x->type.dims[ax];
    if (k < 1 || (dim >= 0 && k > dim) || k > INT32_MAX)
        return mk_onnx_unsupported(c, n, "K = %lld for an axis of %lld", (long long)k,
                                   (long long)dim);
    int largest = c->opset < 11 || mk_onnx_attr_i(n, "largest", 1) != 0;
    mk_op *op = mk_onnx_op(c, MK_OP_TOPK, oname(n, 0));
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_i32(c, op, "k", (int32_t)k) ||
        !mk_onnx_in_i32(c, op, "axis", ax) || !mk_onnx_in_bool(c, op, "ascending", !largest))
        return fail(c);
    mk_value *v = mk_onnx_out(c, op, NULL);
    mk_value *ii = v ? mk_onnx_out(c, op, n_out > 1 ? oname(n, 1) : NULL) : NULL;
    if (!ii) return fail(c);
    mk_onnx_set(out[0], v);
    if (n_out > 1) mk_onnx_set(out[1], ii);
    return MK_OK;
}

/* ---- GatherND ---- */
OX_LOWER(mk_onnx_lower_gather_nd)
{
    (void)n_out;
    if (n_in < 2 || !in[0] || !in[1]) return mk_onnx_unsupported(c, n, "expects 2 inputs");
    mk_value *x = mk_onnx_mil(c, in[0]);
    ox_val *ix = in[1];
    if (!x) return fail(c);
    int r = x->type.rank, q = ix->type.rank;
    int64_t bd = mk_onnx_attr_i(n, "batch_dims", 0);
    if (q < 1 || bd < 0 || bd >= q || bd >= r)
        return mk_err_set(c->err, MK_EINVAL, "bad indices rank %d or batch_dims %lld", q,
                          (long long)bd);
    int64_t K = ix->type.dims[q - 1];
    if (K < 1 || K > r - bd)
        return mk_onnx_unsupported(c, n, "indices last dim %lld", (long long)K);
    mk_value *iv = wrap_indices(c, ix, x->type.dims + bd, 1);
    if (!iv) return fail(c);
    if (bd > 0) {
        /* batch_dims as explicit leading coordinates: every index tuple is prefixed with its
         * own batch position, so gather_nd runs without batch_dims (iOS15; hazard H6 notes a
         * converter bug with batch_dims > 0) */
        mk_type gt = iv->type;
        gt.dims[q - 1] = bd;
        size_t cells = 1;
        for (int i = 0; i < q - 1; i++) {
            if (gt.dims[i] < 0) return mk_onnx_unsupported(c, n, "batch_dims with dynamic indices");
            cells *= (size_t)gt.dims[i];
        }
        if (cells > ((size_t)1 << 22)) return mk_onnx_unsupported(c, n, "too many indices");
        int32_t *g = mk_arena_array(c->p->arena, cells * (size_t)bd + 1, sizeof *g);
        if (!g) return fail(c);
        int64_t pos[MK_MAX_RANK] = {0};
        for (size_t e = 0; e < cells; e++) {
            for (int j = 0; j < bd; j++) g[e * (size_t)bd + (size_t)j] = (int32_t)pos[j];
            for (int i = q - 2; i >= 0; i--) {
                if (++pos[i] < gt.dims[i]) break;
                pos[i] = 0;
            }
        }
        mk_value *gv = mk_ir_const(c->p, c->blk, "batch_coords", &gt, g, cells * (size_t)bd * 4, 1);
        mk_op *cop = gv ? mk_onnx_op(c, MK_OP_CONCAT, NULL) : NULL;
        if (!cop || !mk_onnx_in_mil(c, cop, "values", gv) ||
            !mk_onnx_in_mil(c, cop, "values", iv) || !mk_onnx_in_i32(c, cop, "axis", q - 1) ||
            !mk_onnx_in_bool(c, cop, "interleave", 0))
            return fail(c);
        if (!(iv = mk_onnx_out(c, cop, NULL))) return fail(c);
    }
    int orank = q - 1 + r - (int)bd - (int)K;
    if (orank > MK_MAX_RANK) return mk_onnx_unsupported(c, n, "rank above %d", MK_MAX_RANK);
    mk_op *op = mk_onnx_op(c, MK_OP_GATHER_ND, oname(n, 0));
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_mil(c, op, "indices", iv) ||
        (ios(c) >= 17 && !mk_onnx_in_bool(c, op, "validate_indices", 0)))
        return fail(c);
    return done(c, out[0], mk_onnx_out(c, op, NULL));
}

/* ---- ScatterND / ScatterElements / Scatter ---- */
static const char *scatter_mode(ox_ctx *c, const Onnx__NodeProto *n)
{
    const char *red = mk_onnx_attr_s(c, n, "reduction", "none");
    if (!strcmp(red, "none")) return "update";
    if (!strcmp(red, "add") || !strcmp(red, "mul") || !strcmp(red, "max") || !strcmp(red, "min"))
        return red;
    return NULL;
}

OX_WHY(mk_onnx_why_scatter)
{
    return scatter_mode(c, n) ? NULL : "unknown reduction";
}

static mk_status scatter(ox_ctx *c, const Onnx__NodeProto *n, ox_val **in, int n_in, ox_val *o,
                         int nd)
{
    if (n_in < 3 || !in[0] || !in[1] || !in[2])
        return mk_onnx_unsupported(c, n, "expects 3 inputs");
    mk_value *x = mk_onnx_mil(c, in[0]), *u = mk_onnx_mil(c, in[2]);
    ox_val *ix = in[1];
    if (!x || !u) return fail(c);
    int r = x->type.rank, ax = 0;
    mk_value *iv;
    if (nd) {
        int64_t K = ix->type.rank > 0 ? ix->type.dims[ix->type.rank - 1] : -1;
        if (K < 1 || K > r)
            return mk_err_set(c->err, MK_EINVAL, "indices last dim %lld", (long long)K);
        iv = wrap_indices(c, ix, x->type.dims, 1);
    } else {
        if (!norm_axis(mk_onnx_attr_i(n, "axis", 0), r, &ax))
            return mk_err_set(c->err, MK_EINVAL, "bad axis");
        if (ix->type.rank != r) return mk_err_set(c->err, MK_EINVAL, "indices rank differs");
        iv = wrap_indices(c, ix, x->type.dims + ax, 0);
    }
    if (!iv) return fail(c);
    if (u->type.dtype != x->type.dtype) return mk_onnx_unsupported(c, n, "updates dtype differs");
    mk_op *op = mk_onnx_op(c, nd ? MK_OP_SCATTER_ND : MK_OP_SCATTER_ALONG_AXIS, oname(n, 0));
    if (!op || !mk_onnx_in_mil(c, op, "data", x) || !mk_onnx_in_mil(c, op, "indices", iv) ||
        !mk_onnx_in_mil(c, op, "updates", u) || (!nd && !mk_onnx_in_i32(c, op, "axis", ax)) ||
        !mk_onnx_in_str(c, op, "mode", scatter_mode(c, n)) ||
        (ios(c) >= 17 && !mk_onnx_in_bool(c, op, "validate_indices", 0)))
        return fail(c);
    return done(c, o, mk_onnx_out(c, op, NULL));
}

OX_LOWER(mk_onnx_lower_scatter_nd)
{
    (void)n_out;
    return scatter(c, n, in, n_in, out[0], 1);
}

OX_LOWER(mk_onnx_lower_scatter_elements)
{
    (void)n_out;
    return scatter(c, n, in, n_in, out[0], 0);
}

/* ---- Hardmax: one_hot(argmax) along the axis (the first maximum wins) ---- */
static mk_value *hardmax_axis(ox_ctx *c, mk_value *x, int ax, const char *name)
{
    mk_op *am = mk_onnx_op(c, MK_OP_REDUCE_ARGMAX, NULL);
    if (!am || !mk_onnx_in_mil(c, am, "x", x) || !mk_onnx_in_i32(c, am, "axis", ax) ||
        !mk_onnx_in_bool(c, am, "keep_dims", 0))
        return NULL;
    mk_value *iv = mk_onnx_out(c, am, NULL);
    mk_op *op = iv ? mk_onnx_op(c, MK_OP_ONE_HOT, name) : NULL;
    if (!op || !mk_onnx_in_mil(c, op, "indices", iv) ||
        !mk_onnx_in_i32(c, op, "one_hot_vector_size", (int32_t)x->type.dims[ax]) ||
        !mk_onnx_in_i32(c, op, "axis", ax) || !mk_onnx_in_f32(c, op, "on_value", 1.0f) ||
        !mk_onnx_in_f32(c, op, "off_value", 0.0f))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

OX_LOWER(mk_onnx_lower_hardmax)
{
    (void)n_in, (void)n_out;
    mk_value *x = mk_onnx_mil(c, in[0]);
    if (!x) return fail(c);
    int r = x->type.rank, ax;
    if (x->type.dtype != MK_DT_FP32) return mk_onnx_unsupported(c, n, "non-float input");
    if (r == 0 || !norm_axis(mk_onnx_attr_i(n, "axis", c->opset >= 13 ? -1 : 1), r, &ax))
        return mk_err_set(c->err, MK_EINVAL, "bad axis");
    if (c->opset >= 13 || ax == r - 1) {
        if (x->type.dims[ax] < 1 || x->type.dims[ax] > INT32_MAX)
            return mk_onnx_unsupported(c, n, "needs a static axis");
        return done(c, out[0], hardmax_axis(c, x, ax, oname(n, 0)));
    }
    /* before opset 13: over the flattened trailing axes */
    int64_t d2[2] = {1, 1};
    for (int i = 0; i < r; i++) {
        if (x->type.dims[i] < 0) return mk_onnx_unsupported(c, n, "needs a static shape");
        d2[i < ax ? 0 : 1] *= x->type.dims[i];
    }
    if (d2[1] > INT32_MAX) return mk_onnx_unsupported(c, n, "axis too large");
    mk_value *f = mk_onnx_reshape(c, x, 2, d2, NULL);
    mk_value *h = f ? hardmax_axis(c, f, 1, NULL) : NULL;
    return done(c, out[0], h ? mk_onnx_reshape(c, h, r, x->type.dims, oname(n, 0)) : NULL);
}

/* ---- EyeLike: only the input's shape matters, so the result is a constant ---- */
OX_LOWER(mk_onnx_lower_eye_like)
{
    (void)n_in, (void)n_out;
    ox_val *x = in[0];
    if (x->type.rank != 2) return mk_err_set(c->err, MK_EINVAL, "input must be 2-D");
    int64_t R = x->type.dims[0], C = x->type.dims[1], k = mk_onnx_attr_i(n, "k", 0);
    if (R < 0 || C < 0) return mk_onnx_unsupported(c, n, "needs a static input shape");
    const Onnx__AttributeProto *da = mk_onnx_attr(n, "dtype");
    mk_dtype dt = da ? mk_onnx_const_dtype((int)da->i) : x->type.dtype;
    if (dt == MK_DT_INT32) dt = MK_DT_INT64;
    if (dt != MK_DT_FP32 && dt != MK_DT_INT64 && dt != MK_DT_BOOL)
        return mk_onnx_unsupported(c, n, "dtype unsupported");
    size_t cells;
    if (!mk_mul_size((size_t)R, (size_t)C, &cells) || cells > ((size_t)1 << 24))
        return mk_onnx_unsupported(c, n, "too large");
    size_t es = dt == MK_DT_BOOL ? 1 : dt == MK_DT_FP32 ? 4 : 8;
    unsigned char *d = mk_arena_alloc(c->p->arena, cells * es + 1);
    if (!d) return fail(c);
    memset(d, 0, cells * es);
    for (int64_t i = 0; i < R; i++) {
        int64_t j;
        if (!mk_add_i64(i, k, &j) || j < 0 || j >= C) continue;
        size_t e = (size_t)(i * C + j);
        if (dt == MK_DT_FP32)
            ((float *)d)[e] = 1;
        else if (dt == MK_DT_INT64)
            ((int64_t *)d)[e] = 1;
        else
            d[e] = 1;
    }
    mk_type t = mk_type_make(dt, 2, (int64_t[]){R, C});
    return mk_onnx_set_const(c, out[0], &t, d);
}

/* ---- Compress with a constant condition: gather of the kept positions ---- */
OX_LOWER(mk_onnx_lower_compress)
{
    (void)n_out;
    if (n_in < 2 || !in[0] || !in[1]) return mk_onnx_unsupported(c, n, "expects 2 inputs");
    ox_val *cond = in[1];
    if (!cond->data) return mk_onnx_unsupported(c, n, "condition computed at run time");
    mk_value *x = mk_onnx_mil(c, in[0]);
    if (!x) return fail(c);
    int r = x->type.rank, ax = 0;
    const Onnx__AttributeProto *aa = mk_onnx_attr(n, "axis");
    if (aa && !norm_axis(aa->i, r, &ax)) return mk_err_set(c->err, MK_EINVAL, "bad axis");
    if (!aa) {
        /* no axis: over the flattened input */
        int64_t total = 1;
        for (int i = 0; i < r; i++) {
            if (x->type.dims[i] < 0) return mk_onnx_unsupported(c, n, "needs a static shape");
            total *= x->type.dims[i];
        }
        if (!(x = mk_onnx_reshape(c, x, 1, &total, NULL))) return fail(c);
        r = 1;
    }
    int64_t dim = x->type.dims[ax];
    if (dim < 0) return mk_onnx_unsupported(c, n, "needs a static axis");
    size_t nc = mk_onnx_numel(&cond->type), k = 0;
    int32_t *q = mk_arena_array(c->p->arena, nc ? nc : 1, sizeof *q);
    if (!q) return fail(c);
    for (size_t i = 0; i < nc && (int64_t)i < dim; i++)
        if (mk_onnx_cget_f(cond, i) != 0) q[k++] = (int32_t)i;
    if (k == 0) return mk_onnx_unsupported(c, n, "empty result");
    int64_t kk = (int64_t)k;
    mk_type it = mk_type_make(MK_DT_INT32, 1, &kk);
    mk_value *iv = mk_ir_const(c->p, c->blk, "compress_indices", &it, q, k * 4, 1);
    mk_op *op = iv ? mk_onnx_op(c, MK_OP_GATHER, oname(n, 0)) : NULL;
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_mil(c, op, "indices", iv) ||
        !mk_onnx_in_i32(c, op, "axis", ax))
        return fail(c);
    return done(c, out[0], mk_onnx_out(c, op, NULL));
}
