/* Lowering of ConstantOfShape, Range and NonZero when their inputs are computed at run time:
 * MIL fill, range_1d and non_zero (+ transpose). Constant inputs never reach here: convert-
 * time folding (fold.c) handles them first, so Core ML gets static values whenever it can.
 * Output dims that depend on values are MK_DIM_UNKNOWN; these ops run on the CPU on Core ML.
 * Forms MIL cannot express (unknown ranks, int64 fill values past int32) are refused. */
#include <string.h>

#include "onnx_int.h"

/* The fill value of a ConstantOfShape node as a scalar MIL constant in its run-time dtype
 * (fp32, int32 or bool; default fp32 0). NULL with *why set when MIL cannot express it. */
static mk_value *fill_value(ox_ctx *c, const Onnx__NodeProto *n, const char **why)
{
    const Onnx__AttributeProto *a = mk_onnx_attr(n, "value");
    mk_type st = mk_type_scalar(MK_DT_FP32);
    float zero = 0;
    *why = NULL;
    if (!a || !a->t) return mk_ir_const(c->p, c->blk, "fill_value", &st, &zero, 4, 0);
    ox_val fv;
    memset(&fv, 0, sizeof fv);
    fv.name = "fill_value";
    if (mk_onnx_tensor(c, a->t, &fv) != MK_OK) return NULL;
    if (mk_onnx_numel(&fv.type) != 1) {
        *why = "value must have exactly one element";
        return NULL;
    }
    if (fv.type.dtype == MK_DT_FP32) {
        float f = (float)mk_onnx_cget_f(&fv, 0);
        return mk_ir_const(c->p, c->blk, "fill_value", &st, &f, 4, 0);
    }
    if (fv.type.dtype == MK_DT_INT64) {
        int64_t x = mk_onnx_cget_i(&fv, 0);
        if (x < INT32_MIN || x > INT32_MAX) {
            *why = "int64 fill value outside the int32 range MIL computes in";
            return NULL;
        }
        int32_t i = (int32_t)x;
        st.dtype = MK_DT_INT32;
        return mk_ir_const(c->p, c->blk, "fill_value", &st, &i, 4, 0);
    }
    if (fv.type.dtype == MK_DT_BOOL) {
        uint8_t b = mk_onnx_cget_i(&fv, 0) != 0;
        st.dtype = MK_DT_BOOL;
        return mk_ir_const(c->p, c->blk, "fill_value", &st, &b, 1, 0);
    }
    *why = "value data type unsupported";
    return NULL;
}

/* ConstantOfShape with a run-time shape: MIL fill. */
OX_LOWER(mk_onnx_lower_constant_of_shape)
{
    (void)n_out;
    if (n_in < 1 || !in[0]) return mk_onnx_unsupported(c, n, "missing shape input");
    size_t numel = 1;
    for (size_t i = 0; in[0]->data && i < mk_onnx_numel(&in[0]->type); i++) {
        int64_t d = mk_onnx_cget_i(in[0], i);
        if (d < 0 || d > INT32_MAX || !mk_mul_size(numel, (size_t)d, &numel))
            return mk_err_set(c->err, MK_EINVAL, "shape value %lld out of range", (long long)d);
    }
    int len;
    mk_value *s = mk_onnx_i32_vector(c, in[0], &len);
    if (!s) {
        if (c->err->code) return c->err->code;
        return len < 0 ? mk_onnx_unsupported(c, n,
                                             "run-time shape must be an int vector of"
                                             " static length (at most %d)",
                                             MK_MAX_RANK)
                       : fail(c);
    }
    const char *why;
    mk_value *v = fill_value(c, n, &why);
    if (!v) {
        if (c->err->code) return c->err->code;
        return why ? mk_onnx_unsupported(c, n, "%s", why) : fail(c);
    }
    /* tile of a [1, ..., 1] constant by the run-time shape: fill without fill (H4) */
    mk_type ct = mk_type_make(v->type.dtype, len, NULL);
    for (int i = 0; i < len; i++) ct.dims[i] = 1;
    mk_value *one = len ? mk_ir_const(c->p, c->blk, "fill_value", &ct, v->cst->data,
                                      (size_t)mk_dtype_bits(ct.dtype) / 8, 0)
                        : v;
    mk_op *op = one ? mk_onnx_op(c, MK_OP_TILE, oname(n, 0)) : NULL;
    if (!op || !mk_onnx_in_mil(c, op, "x", one) || !mk_onnx_in_mil(c, op, "reps", s))
        return fail(c);
    return done(c, out[0], mk_onnx_out(c, op, NULL));
}

/* A Range bound as a MIL scalar: rank-1 single-element values are reshaped to rank 0.
 * NULL with *bad set when the value is not a scalar, without it on OOM or error. */
static mk_value *bound(ox_ctx *c, ox_val *v, int *bad)
{
    mk_value *x = mil(c, v);
    *bad = 0;
    if (!x || x->type.rank == 0) return x;
    if (x->type.rank != 1 || x->type.dims[0] != 1) {
        *bad = 1;
        return NULL;
    }
    return mk_onnx_reshape(c, x, 0, NULL, NULL);
}

/* Integer Range(start, limit, delta) with constant start and delta and a run-time limit
 * that has an upper bound (a flexible input's range): slice_by_size of the constant range up
 * to the bound, a Neural Engine form where range_1d runs on the CPU (H4). 0 when not. */
static int range_bounded(ox_ctx *c, const Onnx__NodeProto *n, ox_val **in, mk_status *st, ox_val *o)
{
    const ox_kd *k = in[1]->kd;
    if (!in[0]->data || !in[2]->data || in[0]->type.dtype != MK_DT_INT64 ||
        in[2]->type.dtype != MK_DT_INT64 || !k || k->n != 1 || k->hi[0] < 0)
        return 0;
    int64_t s0 = mk_onnx_cget_i(in[0], 0), d = mk_onnx_cget_i(in[2], 0), hi = k->hi[0];
    if (d <= 0 || s0 < INT32_MIN || s0 > INT32_MAX || d > INT32_MAX || hi > INT32_MAX) return 0;
    int64_t cnt = hi > s0 ? (hi - s0 + d - 1) / d : 0;
    if (cnt > 65536) return 0; /* a constant that large is no better than range_1d */
    int32_t *vals = mk_arena_array(c->p->arena, (size_t)(cnt ? cnt : 1), sizeof *vals);
    if (!vals) return *st = fail(c), 1;
    for (int64_t i = 0; i < cnt; i++) vals[i] = (int32_t)(s0 + i * d);
    mk_type ct = mk_type_make(MK_DT_INT32, 1, &cnt);
    mk_value *all = mk_ir_const(c->p, c->blk, "range_values", &ct, vals, (size_t)cnt * 4, 1);
    /* size = max(ceil((limit - start) / delta), 0), as a [1] vector */
    mk_value *lim = mil(c, in[1]);
    int64_t one = 1;
    if (lim && lim->type.rank == 0) lim = mk_onnx_reshape(c, lim, 1, &one, NULL);
    mk_value *sz = lim;
    if (sz && (s0 != 0 || d != 1)) {
        int32_t a = (int32_t)(d - 1 - s0), dd = (int32_t)d, zero = 0;
        mk_value *av = mk_ir_const_i32(c->p, c->blk, "range_offset", 1, &a, 1);
        mk_value *dv = mk_ir_const_i32(c->p, c->blk, "range_step", 1, &dd, 1);
        mk_value *zv = mk_ir_const_i32(c->p, c->blk, "zero", 1, &zero, 1);
        sz = av && dv && zv ? mk_onnx_binary(c, MK_OP_ADD, sz, av, NULL) : NULL;
        sz = sz ? mk_onnx_binary(c, MK_OP_FLOOR_DIV, sz, dv, NULL) : NULL;
        sz = sz ? mk_onnx_binary(c, MK_OP_MAXIMUM, sz, zv, NULL) : NULL;
    }
    int32_t b0 = 0;
    mk_op *op = all && sz ? mk_onnx_op(c, MK_OP_SLICE_BY_SIZE, oname(n, 0)) : NULL;
    if (!op || !mk_onnx_in_mil(c, op, "x", all) || !mk_onnx_in_i32s(c, op, "begin", 1, &b0) ||
        !mk_onnx_in_mil(c, op, "size", sz))
        return *st = fail(c), 1;
    *st = done(c, o, mk_onnx_out(c, op, NULL));
    return 1;
}

/* Range with run-time start / limit / delta: MIL range_1d (fp32 or int32, as MIL computes). */
OX_LOWER(mk_onnx_lower_range)
{
    (void)n_out;
    mk_status rst;
    if (n_in == 3 && in[0] && in[1] && in[2] && range_bounded(c, n, in, &rst, out[0])) return rst;
    static const char *const names[3] = {"start", "end", "step"};
    mk_value *v[3];
    if (n_in != 3 || !in[0] || !in[1] || !in[2])
        return mk_onnx_unsupported(c, n, "needs start, limit and delta");
    static const char *const onnx_names[3] = {"start", "limit", "delta"};
    for (int i = 0; i < 3; i++) {
        int bad;
        if (!(v[i] = bound(c, in[i], &bad))) {
            if (bad) return mk_onnx_unsupported(c, n, "%s must be a scalar", onnx_names[i]);
            return fail(c);
        }
    }
    mk_dtype dt = v[0]->type.dtype;
    if (dt != MK_DT_FP32 && dt != MK_DT_INT32)
        return mk_onnx_unsupported(c, n, "data type %s unsupported (fp32 or int types)",
                                   mk_dtype_name(dt));
    if (v[1]->type.dtype != dt || v[2]->type.dtype != dt)
        return mk_onnx_unsupported(c, n, "start, limit and delta types differ");
    mk_op *op = mk_onnx_op(c, MK_OP_RANGE_1D, oname(n, 0));
    if (!op) return fail(c);
    for (int i = 0; i < 3; i++)
        if (!mk_onnx_in_mil(c, op, names[i], v[i])) return fail(c);
    return done(c, out[0], mk_onnx_out(c, op, NULL));
}

/* NonZero of a run-time tensor: MIL non_zero gives [N, rank]; ONNX wants [rank, N]. */
OX_LOWER(mk_onnx_lower_non_zero)
{
    (void)n_in, (void)n_out;
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    if (x->type.rank == MK_RANK_UNKNOWN) return mk_onnx_unsupported(c, n, "input of unknown rank");
    if (x->type.rank == 0) {
        int64_t one = 1;
        if (!(x = mk_onnx_reshape(c, x, 1, &one, NULL))) return fail(c);
    }
    mk_op *op = mk_onnx_op(c, MK_OP_NON_ZERO, NULL);
    if (!op || !mk_onnx_in_mil(c, op, "x", x)) return fail(c);
    mk_value *nz = mk_onnx_out(c, op, NULL);
    static const int perm[2] = {1, 0};
    return done(c, out[0], nz ? mk_onnx_transpose(c, nz, 2, perm, oname(n, 0)) : NULL);
}
