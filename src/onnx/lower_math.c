/* Lowering of elementwise, activation, matrix, reduction and selection ONNX ops to MIL:
 * binary arithmetic and comparisons (broadcasting), unary math, activations (LeakyRelu,
 * PRelu, HardSigmoid, HardSwish, Gelu, Clip...), Softmax/LogSoftmax (opset < 13 coercion),
 * MatMul, Gemm (linear when the weight is constant), Reduce*, ArgMax/ArgMin, Cast, Where,
 * CumSum. Output types come from src/ir's type rules (mk_onnx_out); constant inputs become
 * const ops on first use. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "onnx_int.h"

/* ---- binary ---- */
static mk_value *ci32(ox_ctx *c, const char *name, int32_t v)
{
    return mk_ir_const_i32(c->p, c->blk, name, 1, &v, 1);
}

static mk_value *select3(ox_ctx *c, mk_value *cond, mk_value *a, mk_value *b, const char *name)
{
    mk_type t1, t;
    if (!cond || !a || !b) return NULL;
    if (!mk_onnx_bcast(&cond->type, &a->type, &t1) || !mk_onnx_bcast(&t1, &b->type, &t)) {
        mk_err_set(c->err, MK_EINVAL, "%s: select: shapes do not broadcast", c->file);
        return NULL;
    }
    mk_op *op = mk_onnx_op(c, MK_OP_SELECT, name);
    if (!op || !mk_onnx_in_mil(c, op, "cond", cond) || !mk_onnx_in_mil(c, op, "a", a) ||
        !mk_onnx_in_mil(c, op, "b", b))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

/* ONNX integer Div truncates toward zero; MIL floor_div floors. The two differ by one when
 * the remainder is non-zero and the operands' signs differ. */
static mk_value *trunc_div(ox_ctx *c, mk_value *x, mk_value *y, const char *name)
{
    mk_value *q = mk_onnx_binary(c, MK_OP_FLOOR_DIV, x, y, NULL);
    mk_value *qy = q ? mk_onnx_binary(c, MK_OP_MUL, q, y, NULL) : NULL;
    mk_value *r = qy ? mk_onnx_binary(c, MK_OP_SUB, x, qy, NULL) : NULL;
    mk_value *zero = r ? ci32(c, "zero", 0) : NULL;
    mk_value *rnz = zero ? mk_onnx_binary(c, MK_OP_NOT_EQUAL, r, zero, NULL) : NULL;
    mk_value *xn = rnz ? mk_onnx_binary(c, MK_OP_LESS, x, zero, NULL) : NULL;
    mk_value *yn = xn ? mk_onnx_binary(c, MK_OP_LESS, y, zero, NULL) : NULL;
    mk_value *sd = yn ? mk_onnx_binary(c, MK_OP_LOGICAL_XOR, xn, yn, NULL) : NULL;
    mk_value *fix = sd ? mk_onnx_binary(c, MK_OP_LOGICAL_AND, rnz, sd, NULL) : NULL;
    mk_value *q1 = fix ? mk_onnx_binary(c, MK_OP_ADD, q, ci32(c, "one", 1), NULL) : NULL;
    return q1 ? select3(c, fix, q1, q, name) : NULL;
}

static mk_status binary(ox_ctx *c, const Onnx__NodeProto *n, ox_val **in, int n_in, ox_val *o,
                        mk_op_kind k)
{
    if (n_in != 2 || !in[0] || !in[1]) return mk_onnx_unsupported(c, n, "expects 2 inputs");
    mk_value *x = mil(c, in[0]), *y = mil(c, in[1]);
    if (!x || !y) return fail(c);
    if (k == MK_OP_REAL_DIV && mk_dtype_is_int(x->type.dtype))
        return done(c, o, trunc_div(c, x, y, oname(n, 0)));
    if (k == MK_OP_EQUAL && x->type.dtype == MK_DT_BOOL) {
        /* MIL equal takes no bool: a == b is not (a xor b) */
        mk_value *d = mk_onnx_binary(c, MK_OP_LOGICAL_XOR, x, y, NULL);
        return done(c, o, d ? mk_onnx_unary(c, MK_OP_LOGICAL_NOT, d, oname(n, 0)) : NULL);
    }
    if (k == MK_OP_POW && y->type.dtype != x->type.dtype) {
        /* ONNX Pow allows a differently typed exponent; MIL wants one dtype */
        mk_op *op = mk_onnx_op(c, MK_OP_CAST, NULL);
        if (!op || !mk_onnx_in_mil(c, op, "x", y) ||
            !mk_onnx_in_str(c, op, "dtype", mk_dtype_name(x->type.dtype)))
            return fail(c);
        if (!(y = mk_onnx_out(c, op, NULL))) return fail(c);
    }
    return done(c, o, mk_onnx_binary(c, k, x, y, oname(n, 0)));
}

#define BINARY(fn, kind)                                                                           \
    OX_LOWER(fn)                                                                                   \
    {                                                                                              \
        (void)n_out;                                                                               \
        return binary(c, n, in, n_in, out[0], kind);                                               \
    }
BINARY(mk_onnx_lower_div, MK_OP_REAL_DIV)
BINARY(mk_onnx_lower_pow, MK_OP_POW)
BINARY(mk_onnx_lower_equal, MK_OP_EQUAL)

/* Mod: fmod=0 is MIL mod (the sign of the divisor); fmod=1 takes the dividend's sign: a
 * non-zero floor remainder whose sign differs from x's moves back by y. */
OX_LOWER(mk_onnx_lower_mod)
{
    (void)n_out;
    if (!mk_onnx_attr_i(n, "fmod", 0)) return binary(c, n, in, n_in, out[0], MK_OP_MOD);
    if (n_in != 2 || !in[0] || !in[1]) return mk_onnx_unsupported(c, n, "expects 2 inputs");
    mk_value *x = mil(c, in[0]), *y = mil(c, in[1]);
    if (!x || !y) return fail(c);
    int isf = x->type.dtype == MK_DT_FP32;
    float fz = 0;
    mk_value *zero = isf ? mk_onnx_cf32(c, "zero", 0, NULL, &fz) : ci32(c, "zero", 0);
    mk_value *m = zero ? mk_onnx_binary(c, MK_OP_MOD, x, y, NULL) : NULL;
    mk_value *mnz = m ? mk_onnx_binary(c, MK_OP_NOT_EQUAL, m, zero, NULL) : NULL;
    mk_value *mn = mnz ? mk_onnx_binary(c, MK_OP_LESS, m, zero, NULL) : NULL;
    mk_value *xn = mn ? mk_onnx_binary(c, MK_OP_LESS, x, zero, NULL) : NULL;
    mk_value *sd = xn ? mk_onnx_binary(c, MK_OP_LOGICAL_XOR, mn, xn, NULL) : NULL;
    mk_value *fix = sd ? mk_onnx_binary(c, MK_OP_LOGICAL_AND, mnz, sd, NULL) : NULL;
    mk_value *my = fix ? mk_onnx_binary(c, MK_OP_SUB, m, y, NULL) : NULL;
    return done(c, out[0], my ? select3(c, fix, my, m, oname(n, 0)) : NULL);
}

/* Variadic Min / Max / Sum / Mean: a chain of binary ops. */
static mk_status variadic(ox_ctx *c, const Onnx__NodeProto *n, ox_val **in, int n_in, ox_val *o,
                          mk_op_kind k, int mean)
{
    if (n_in < 1 || !in[0]) return mk_onnx_unsupported(c, n, "no inputs");
    mk_value *acc = mil(c, in[0]);
    for (int i = 1; i < n_in && acc; i++) {
        if (!in[i]) continue;
        acc = mk_onnx_binary(c, k, acc, mil(c, in[i]), i == n_in - 1 && !mean ? oname(n, 0) : NULL);
    }
    if (n_in == 1 && acc) acc = mk_onnx_unary(c, MK_OP_IDENTITY, acc, oname(n, 0));
    if (mean && acc && n_in > 1) {
        float inv = 1.0f / (float)n_in;
        acc = mk_onnx_binary(c, MK_OP_MUL, acc, mk_onnx_cf32(c, "mean_scale", 0, NULL, &inv),
                             oname(n, 0));
    }
    return done(c, o, acc);
}

OX_LOWER(mk_onnx_lower_min)
{
    (void)n_out;
    return variadic(c, n, in, n_in, out[0], MK_OP_MINIMUM, 0);
}
OX_LOWER(mk_onnx_lower_max)
{
    (void)n_out;
    return variadic(c, n, in, n_in, out[0], MK_OP_MAXIMUM, 0);
}
OX_LOWER(mk_onnx_lower_sum)
{
    (void)n_out;
    return variadic(c, n, in, n_in, out[0], MK_OP_ADD, 0);
}
OX_LOWER(mk_onnx_lower_mean)
{
    (void)n_out;
    return variadic(c, n, in, n_in, out[0], MK_OP_ADD, 1);
}

/* ---- unary ---- */
OX_LOWER(mk_onnx_lower_log)
{
    (void)n_out;
    if (!in[0]) return mk_onnx_unsupported(c, n, "missing input");
    mk_value *x = mil(c, in[0]);
    mk_op *op = x ? mk_onnx_op(c, MK_OP_LOG, oname(n, 0)) : NULL;
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_f32(c, op, "epsilon", 0.0f))
        return fail(c);
    (void)n_in;
    return done(c, out[0], mk_onnx_out(c, op, NULL));
}

OX_LOWER(mk_onnx_lower_neg)
{
    (void)n_out;
    (void)n_in;
    mk_value *x = mil(c, in[0]), *m;
    if (!x) return fail(c);
    if (x->type.dtype == MK_DT_FP32) {
        float v = -1.0f;
        m = mk_onnx_cf32(c, "neg_one", 0, NULL, &v);
    } else {
        int32_t v = -1;
        m = mk_ir_const_i32(c->p, c->blk, "neg_one", 1, &v, 1);
    }
    return done(c, out[0], mk_onnx_binary(c, MK_OP_MUL, x, m, oname(n, 0)));
}

OX_LOWER(mk_onnx_lower_reciprocal)
{
    (void)n_out;
    (void)n_in;
    mk_value *x = mil(c, in[0]);
    float one = 1.0f;
    if (!x) return fail(c);
    return done(
        c, out[0],
        mk_onnx_binary(c, MK_OP_REAL_DIV, mk_onnx_cf32(c, "one", 0, NULL, &one), x, oname(n, 0)));
}

/* ---- 1:1 rows: the ONNX op is one MIL op (the row's ox_direct, table.c) ---- */
OX_LOWER(mk_onnx_lower_direct)
{
    (void)n_out;
    const ox_importer *im = mk_onnx_row(n->op_type);
    if (!im) return mk_err_set(c->err, MK_EINTERNAL, "no importer table row");
    const ox_direct *d = &im->mil;
    switch (d->form) {
    case OX_BINARY: return binary(c, n, in, n_in, out[0], d->kind);
    case OX_UNARY:
    case OX_ALPHA:
    case OX_ALPHA_BETA: break;
    case OX_OWN: return mk_err_set(c->err, MK_EINTERNAL, "table row names no MIL op");
    }
    if (n_in < 1 || !in[0]) return mk_onnx_unsupported(c, n, "missing input");
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    if (!d->any_dtype && x->type.dtype != MK_DT_FP32)
        return mk_onnx_unsupported(c, n, "non-float input");
    if (d->form == OX_UNARY) return done(c, out[0], mk_onnx_unary(c, d->kind, x, oname(n, 0)));
    /* activations with parameters: the ONNX attributes carry MIL's parameter names */
    mk_op *op = mk_onnx_op(c, d->kind, oname(n, 0));
    if (!op || !mk_onnx_in_mil(c, op, "x", x) ||
        !mk_onnx_in_f32(c, op, "alpha", mk_onnx_attr_f(n, "alpha", d->a)))
        return fail(c);
    if (d->form == OX_ALPHA_BETA && !mk_onnx_in_f32(c, op, "beta", mk_onnx_attr_f(n, "beta", d->b)))
        return fail(c);
    return done(c, out[0], mk_onnx_out(c, op, NULL));
}

/* ---- activations with parameters ---- */

OX_LOWER(mk_onnx_lower_selu)
{
    (void)n_in, (void)n_out;
    float alpha = mk_onnx_attr_f(n, "alpha", 1.67326319217681884765625f);
    float gamma = mk_onnx_attr_f(n, "gamma", 1.05070102214813232421875f);
    mk_value *x = mil(c, in[0]);
    mk_op *op = x ? mk_onnx_op(c, MK_OP_ELU, NULL) : NULL;
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_f32(c, op, "alpha", alpha))
        return fail(c);
    mk_value *e = mk_onnx_out(c, op, NULL);
    mk_value *g = e ? mk_onnx_cf32(c, "selu_gamma", 0, NULL, &gamma) : NULL;
    return done(c, out[0], g ? mk_onnx_binary(c, MK_OP_MUL, e, g, oname(n, 0)) : NULL);
}

OX_LOWER(mk_onnx_lower_hard_swish)
{
    (void)n_in, (void)n_out;
    mk_value *x = mil(c, in[0]);
    mk_op *op = x ? mk_onnx_op(c, MK_OP_SIGMOID_HARD, NULL) : NULL;
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_f32(c, op, "alpha", 1.0f / 6) ||
        !mk_onnx_in_f32(c, op, "beta", 0.5f))
        return fail(c);
    mk_value *hs = mk_onnx_out(c, op, NULL);
    return done(c, out[0], hs ? mk_onnx_binary(c, MK_OP_MUL, x, hs, oname(n, 0)) : NULL);
}

OX_WHY(mk_onnx_why_gelu)
{
    const char *a = mk_onnx_attr_s(c, n, "approximate", "none");
    return strcmp(a, "none") && strcmp(a, "tanh") ? "Gelu approximate mode unsupported" : NULL;
}

OX_LOWER(mk_onnx_lower_gelu)
{
    (void)n_in, (void)n_out;
    const char *a = mk_onnx_attr_s(c, n, "approximate", "none");
    mk_value *x = mil(c, in[0]);
    mk_op *op = x ? mk_onnx_op(c, MK_OP_GELU, oname(n, 0)) : NULL;
    if (!op || !mk_onnx_in_mil(c, op, "x", x) ||
        !mk_onnx_in_str(c, op, "mode", strcmp(a, "tanh") == 0 ? "TANH_APPROXIMATION" : "EXACT"))
        return fail(c);
    return done(c, out[0], mk_onnx_out(c, op, NULL));
}

OX_LOWER(mk_onnx_lower_clip)
{
    (void)n_out;
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    int has_lo = 0, has_hi = 0;
    float lo = -FLT_MAX, hi = FLT_MAX;
    ox_val *lov = NULL, *hiv = NULL;
    if (c->opset < 11) {
        has_lo = mk_onnx_attr(n, "min") != NULL;
        has_hi = mk_onnx_attr(n, "max") != NULL;
        lo = mk_onnx_attr_f(n, "min", lo);
        hi = mk_onnx_attr_f(n, "max", hi);
    } else {
        lov = n_in > 1 ? in[1] : NULL;
        hiv = n_in > 2 ? in[2] : NULL;
        has_lo = lov != NULL;
        has_hi = hiv != NULL;
        if (lov && lov->data) lo = (float)mk_onnx_cget_f(lov, 0);
        if (hiv && hiv->data) hi = (float)mk_onnx_cget_f(hiv, 0);
    }
    int consts = (!lov || lov->data) && (!hiv || hiv->data);
    if (x->type.dtype == MK_DT_FP32 && consts && has_lo && has_hi) {
        mk_op *op = mk_onnx_op(c, MK_OP_CLIP, oname(n, 0));
        if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_f32(c, op, "alpha", lo) ||
            !mk_onnx_in_f32(c, op, "beta", hi))
            return fail(c);
        return done(c, out[0], mk_onnx_out(c, op, NULL));
    }
    /* one-sided, integer or run-time bounds: maximum / minimum */
    mk_value *v = x;
    if (has_lo) {
        mk_value *b = lov ? mil(c, lov) : mk_onnx_cf32(c, "clip_min", 0, NULL, &lo);
        v = mk_onnx_binary(c, MK_OP_MAXIMUM, v, b, has_hi ? NULL : oname(n, 0));
    }
    if (has_hi && v) {
        mk_value *b = hiv ? mil(c, hiv) : mk_onnx_cf32(c, "clip_max", 0, NULL, &hi);
        v = mk_onnx_binary(c, MK_OP_MINIMUM, v, b, oname(n, 0));
    }
    if (!has_lo && !has_hi) v = mk_onnx_unary(c, MK_OP_IDENTITY, x, oname(n, 0));
    return done(c, out[0], v);
}

OX_LOWER(mk_onnx_lower_prelu)
{
    (void)n_in, (void)n_out;
    mk_value *x = mil(c, in[0]);
    ox_val *s = in[1];
    if (!x || !s) return mk_onnx_unsupported(c, n, "missing input");
    /* MIL prelu: rank >= 3 and one slope per channel (axis 1) */
    int r = x->type.rank;
    size_t ns = mk_onnx_numel(&s->type);
    int per_channel =
        s->data && r >= 3 && x->type.dims[1] > 0 && (ns == 1 || ns == (size_t)x->type.dims[1]);
    if (per_channel && ns == (size_t)x->type.dims[1]) {
        /* slope must broadcast as [C, 1, ..., 1] */
        int ok = s->type.rank <= r;
        for (int i = 0; i < s->type.rank && ok; i++) {
            int xi = i + (r - s->type.rank);
            ok = xi == 1 ? s->type.dims[i] == x->type.dims[1] : s->type.dims[i] == 1;
        }
        per_channel = ok;
    }
    if (per_channel) {
        int64_t cdim = x->type.dims[1];
        float *a = mk_arena_array(c->p->arena, (size_t)cdim, sizeof *a);
        if (!a) return fail(c);
        for (int64_t i = 0; i < cdim; i++) a[i] = (float)mk_onnx_cget_f(s, ns == 1 ? 0 : (size_t)i);
        mk_op *op = mk_onnx_op(c, MK_OP_PRELU, oname(n, 0));
        mk_value *av = mk_onnx_cf32_own(c, "prelu_alpha", 1, &cdim, a);
        if (!op || !av || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_mil(c, op, "alpha", av))
            return fail(c);
        return done(c, out[0], mk_onnx_out(c, op, NULL));
    }
    /* general: relu(x) + slope * min(x, 0) */
    float zero = 0;
    mk_value *z = mk_onnx_cf32(c, "zero", 0, NULL, &zero);
    mk_value *pos = mk_onnx_binary(c, MK_OP_MAXIMUM, x, z, NULL);
    mk_value *neg = mk_onnx_binary(c, MK_OP_MINIMUM, x, z, NULL);
    mk_value *sn = neg ? mk_onnx_binary(c, MK_OP_MUL, neg, mil(c, s), NULL) : NULL;
    return done(c, out[0], pos && sn ? mk_onnx_binary(c, MK_OP_ADD, pos, sn, oname(n, 0)) : NULL);
}

/* ---- softmax ---- */
static mk_value *log_softmax_axis(ox_ctx *c, mk_value *x, int axis, const char *name)
{
    mk_op *op = mk_onnx_op(c, MK_OP_REDUCE_LOG_SUM_EXP, NULL);
    int32_t ax = axis;
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_i32s(c, op, "axes", 1, &ax) ||
        !mk_onnx_in_bool(c, op, "keep_dims", 1))
        return NULL;
    mk_value *l = mk_onnx_out(c, op, NULL);
    return l ? mk_onnx_binary(c, MK_OP_SUB, x, l, name) : NULL;
}

static mk_value *softmax_axis(ox_ctx *c, mk_value *x, int axis, int logsm, const char *name)
{
    if (logsm) return log_softmax_axis(c, x, axis, name);
    mk_op *op = mk_onnx_op(c, MK_OP_SOFTMAX, name);
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_i32(c, op, "axis", axis)) return NULL;
    return mk_onnx_out(c, op, NULL);
}

static mk_status softmax(ox_ctx *c, const Onnx__NodeProto *n, ox_val *xin, ox_val *o, int logsm)
{
    mk_value *x = mil(c, xin);
    if (!x) return fail(c);
    int r = x->type.rank, ax;
    int64_t a = mk_onnx_attr_i(n, "axis", c->opset >= 13 ? -1 : 1);
    if (r == 0 || !norm_axis(a, r, &ax)) return mk_onnx_unsupported(c, n, "bad axis");
    if (c->opset >= 13 || ax == r - 1)
        return done(c, o, softmax_axis(c, x, ax, logsm, oname(n, 0)));
    /* opset < 13: coerce to 2-D [prod(:axis), prod(axis:)] */
    int64_t d2[2] = {1, 1};
    for (int i = 0; i < r; i++) {
        if (x->type.dims[i] < 0) return mk_onnx_unsupported(c, n, "dynamic shape with axis");
        d2[i < ax ? 0 : 1] *= x->type.dims[i];
    }
    mk_value *f = mk_onnx_reshape(c, x, 2, d2, NULL);
    mk_value *s = f ? softmax_axis(c, f, 1, logsm, NULL) : NULL;
    return done(c, o, s ? mk_onnx_reshape(c, s, r, x->type.dims, oname(n, 0)) : NULL);
}

OX_LOWER(mk_onnx_lower_softmax)
{
    (void)n_in, (void)n_out;
    return softmax(c, n, in[0], out[0], 0);
}

OX_LOWER(mk_onnx_lower_log_softmax)
{
    (void)n_in, (void)n_out;
    return softmax(c, n, in[0], out[0], 1);
}

/* ---- matrix products ---- */
static mk_value *matmul(ox_ctx *c, mk_value *x, mk_value *y, int tx, int ty, const char *name)
{
    mk_op *op = mk_onnx_op(c, MK_OP_MATMUL, name);
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_mil(c, op, "y", y) ||
        !mk_onnx_in_bool(c, op, "transpose_x", tx) || !mk_onnx_in_bool(c, op, "transpose_y", ty))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

OX_LOWER(mk_onnx_lower_matmul)
{
    (void)n_in, (void)n_out;
    mk_value *x = mil(c, in[0]), *y = mil(c, in[1]);
    if (!x || !y) return fail(c);
    if (x->type.dtype != MK_DT_FP32) return mk_onnx_unsupported(c, n, "integer MatMul");
    return done(c, out[0], matmul(c, x, y, 0, 0, oname(n, 0)));
}

OX_LOWER(mk_onnx_lower_gemm)
{
    (void)n_out;
    float alpha = mk_onnx_attr_f(n, "alpha", 1.0f), beta = mk_onnx_attr_f(n, "beta", 1.0f);
    int ta = (int)mk_onnx_attr_i(n, "transA", 0), tb = (int)mk_onnx_attr_i(n, "transB", 0);
    ox_val *A = in[0], *B = in[1], *C = n_in > 2 ? in[2] : NULL;
    if (!A || !B || A->type.rank != 2 || B->type.rank != 2)
        return mk_onnx_unsupported(c, n, "Gemm needs 2-D A and B");
    int64_t N = tb ? B->type.dims[0] : B->type.dims[1], K = tb ? B->type.dims[1] : B->type.dims[0];
    size_t nc = C ? mk_onnx_numel(&C->type) : 0;
    int c_vec =
        !C || (C->data && (nc == 1 || (nc == (size_t)N && C->type.dims[C->type.rank - 1] == N)));
    if (B->data && !ta && c_vec && N > 0 && K > 0) {
        /* linear(x, W[N,K], b[N]) with alpha and beta folded into the constants */
        size_t wn;
        if (!mk_mul_size((size_t)N, (size_t)K, &wn) || !mk_mul_size(wn, sizeof(float), &wn))
            return mk_err_set(c->err, MK_EINVAL, "weight too large");
        float *w = mk_onnx_weight_alloc(c, wn);
        float *b = mk_onnx_weight_alloc(c, (size_t)N * sizeof *b);
        if (!w || !b) return fail(c);
        for (int64_t i = 0; i < N; i++)
            for (int64_t k = 0; k < K; k++)
                w[i * K + k] =
                    alpha * (float)mk_onnx_cget_f(B, (size_t)(tb ? i * K + k : k * N + i));
        for (int64_t i = 0; i < N; i++)
            b[i] = C ? beta * (float)mk_onnx_cget_f(C, nc == 1 ? 0 : (size_t)i) : 0.0f;
        int64_t wd[2] = {N, K};
        mk_value *x = mil(c, A);
        mk_value *wv = mk_onnx_cf32_own(c, oname(n, 0) ? oname(n, 0) : "gemm_w", 2, wd, w);
        mk_value *bv = mk_onnx_cf32_own(c, "gemm_b", 1, &N, b);
        mk_op *op = x && wv && bv ? mk_onnx_op(c, MK_OP_LINEAR, oname(n, 0)) : NULL;
        if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_mil(c, op, "weight", wv) ||
            !mk_onnx_in_mil(c, op, "bias", bv))
            return fail(c);
        return done(c, out[0], mk_onnx_out(c, op, NULL));
    }
    mk_value *v = matmul(c, mil(c, A), mil(c, B), ta, tb, C || alpha != 1 ? NULL : oname(n, 0));
    if (v && alpha != 1.0f)
        v = mk_onnx_binary(c, MK_OP_MUL, v, mk_onnx_cf32(c, "alpha", 0, NULL, &alpha),
                           C ? NULL : oname(n, 0));
    if (v && C) {
        mk_value *cv = mil(c, C);
        if (beta != 1.0f && cv)
            cv = mk_onnx_binary(c, MK_OP_MUL, cv, mk_onnx_cf32(c, "beta", 0, NULL, &beta), NULL);
        v = cv ? mk_onnx_binary(c, MK_OP_ADD, v, cv, oname(n, 0)) : NULL;
    }
    return done(c, out[0], v);
}

/* ---- reductions ---- */
static mk_status reduce(ox_ctx *c, const Onnx__NodeProto *n, ox_val **in, int n_in, ox_val *o,
                        mk_op_kind k, int axes_input_since)
{
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    int r = x->type.rank;
    int64_t axes[MK_MAX_RANK];
    int na;
    if (c->opset >= axes_input_since) {
        if (n_in > 1 && in[1]) {
            if (!in[1]->data) return mk_onnx_unsupported(c, n, "axes computed at run time");
            na = (int)mk_onnx_numel(&in[1]->type);
            if (na > MK_MAX_RANK) return mk_onnx_unsupported(c, n, "bad axes");
            for (int i = 0; i < na; i++) axes[i] = mk_onnx_cget_i(in[1], (size_t)i);
        } else {
            na = 0;
        }
    } else {
        const int64_t *v;
        na = mk_onnx_attr_ints(n, "axes", &v);
        if (na > MK_MAX_RANK) return mk_onnx_unsupported(c, n, "bad axes");
        if (na > 0) memcpy(axes, v, (size_t)na * sizeof *v);
        if (na < 0) na = 0;
    }
    int keep = (int)mk_onnx_attr_i(n, "keepdims", 1);
    if (na == 0 && mk_onnx_attr_i(n, "noop_with_empty_axes", 0))
        return done(c, o, mk_onnx_unary(c, MK_OP_IDENTITY, x, oname(n, 0)));
    int red[MK_MAX_RANK] = {0};
    int32_t ax32[MK_MAX_RANK];
    int nax = 0;
    for (int i = 0; i < na; i++) {
        int a;
        if (!norm_axis(axes[i], r, &a)) return mk_onnx_unsupported(c, n, "bad axis");
        red[a] = 1;
    }
    for (int i = 0; i < r; i++)
        if (red[i] || na == 0) ax32[nax++] = i;
    if (r == 0) return done(c, o, mk_onnx_unary(c, MK_OP_IDENTITY, x, oname(n, 0)));
    mk_op *op = mk_onnx_op(c, k, oname(n, 0));
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_i32s(c, op, "axes", nax, ax32) ||
        !mk_onnx_in_bool(c, op, "keep_dims", keep))
        return fail(c);
    return done(c, o, mk_onnx_out(c, op, NULL));
}

#define REDUCE(fn, kind, since)                                                                    \
    OX_LOWER(fn)                                                                                   \
    {                                                                                              \
        (void)n_out;                                                                               \
        return reduce(c, n, in, n_in, out[0], kind, since);                                        \
    }
REDUCE(mk_onnx_lower_reduce_mean, MK_OP_REDUCE_MEAN, 18)
REDUCE(mk_onnx_lower_reduce_sum, MK_OP_REDUCE_SUM, 13)
REDUCE(mk_onnx_lower_reduce_max, MK_OP_REDUCE_MAX, 18)
REDUCE(mk_onnx_lower_reduce_min, MK_OP_REDUCE_MIN, 18)
REDUCE(mk_onnx_lower_reduce_prod, MK_OP_REDUCE_PROD, 18)
REDUCE(mk_onnx_lower_reduce_l1, MK_OP_REDUCE_L1_NORM, 18)
REDUCE(mk_onnx_lower_reduce_l2, MK_OP_REDUCE_L2_NORM, 18)
REDUCE(mk_onnx_lower_reduce_log_sum, MK_OP_REDUCE_LOG_SUM, 18)
REDUCE(mk_onnx_lower_reduce_log_sum_exp, MK_OP_REDUCE_LOG_SUM_EXP, 18)
REDUCE(mk_onnx_lower_reduce_sum_square, MK_OP_REDUCE_SUM_SQUARE, 18)

static mk_status argx(ox_ctx *c, const Onnx__NodeProto *n, ox_val *xin, ox_val *o, mk_op_kind k)
{
    mk_value *x = mil(c, xin);
    if (!x) return fail(c);
    int r = x->type.rank, ax;
    if (!norm_axis(mk_onnx_attr_i(n, "axis", 0), r, &ax))
        return mk_onnx_unsupported(c, n, "bad axis");
    int keep = (int)mk_onnx_attr_i(n, "keepdims", 1);
    int last = (int)mk_onnx_attr_i(n, "select_last_index", 0);
    int64_t dim = x->type.dims[ax];
    if (last && dim < 0) return mk_onnx_unsupported(c, n, "select_last_index on a dynamic axis");
    mk_value *xv = x;
    if (last) {
        /* the last extremum is the first one of the reversed axis, counted from the end */
        mk_op *rv = mk_onnx_op(c, MK_OP_REVERSE, NULL);
        int32_t a32 = ax;
        if (!rv || !mk_onnx_in_mil(c, rv, "x", x) || !mk_onnx_in_i32s(c, rv, "axes", 1, &a32) ||
            !(xv = mk_onnx_out(c, rv, NULL)))
            return fail(c);
    }
    mk_op *op = mk_onnx_op(c, k, last ? NULL : oname(n, 0));
    if (!op || !mk_onnx_in_mil(c, op, "x", xv) || !mk_onnx_in_i32(c, op, "axis", ax) ||
        !mk_onnx_in_bool(c, op, "keep_dims", keep))
        return fail(c);
    mk_value *v = mk_onnx_out(c, op, NULL);
    if (v && last)
        v = mk_onnx_binary(c, MK_OP_SUB, ci32(c, "last_index", (int32_t)(dim - 1)), v, oname(n, 0));
    return done(c, o, v);
}

OX_LOWER(mk_onnx_lower_argmax)
{
    (void)n_in, (void)n_out;
    return argx(c, n, in[0], out[0], MK_OP_REDUCE_ARGMAX);
}

OX_LOWER(mk_onnx_lower_argmin)
{
    (void)n_in, (void)n_out;
    return argx(c, n, in[0], out[0], MK_OP_REDUCE_ARGMIN);
}

/* ---- cast, where, cumsum ---- */
OX_WHY(mk_onnx_why_cast)
{
    (void)c;
    int to = (int)mk_onnx_attr_i(n, "to", 0);
    return mk_onnx_run_dtype(to) == MK_DT_INVALID ? "Cast to an unsupported type" : NULL;
}

static mk_status cast_to(ox_ctx *c, const Onnx__NodeProto *n, mk_value *x, mk_dtype to, ox_val *o)
{
    if (to == x->type.dtype) return done(c, o, x);
    mk_op *op = mk_onnx_op(c, MK_OP_CAST, oname(n, 0));
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_str(c, op, "dtype", mk_dtype_name(to)))
        return fail(c);
    return done(c, o, mk_onnx_out(c, op, NULL));
}

OX_LOWER(mk_onnx_lower_cast)
{
    (void)n_in, (void)n_out;
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    return cast_to(c, n, x, mk_onnx_run_dtype((int)mk_onnx_attr_i(n, "to", 0)), out[0]);
}

/* CastLike: the run-time dtype of `like` (fp32, int32 or bool). */
OX_LOWER(mk_onnx_lower_cast_like)
{
    (void)n_out;
    if (n_in < 2 || !in[0] || !in[1]) return mk_onnx_unsupported(c, n, "expects 2 inputs");
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    mk_dtype to = in[1]->type.dtype == MK_DT_INT64 ? MK_DT_INT32 : in[1]->type.dtype;
    if (to != MK_DT_FP32 && to != MK_DT_INT32 && to != MK_DT_BOOL)
        return mk_onnx_unsupported(c, n, "CastLike to an unsupported type");
    return cast_to(c, n, x, to, out[0]);
}

OX_LOWER(mk_onnx_lower_where)
{
    (void)n_in, (void)n_out;
    mk_value *cd = mil(c, in[0]), *a = mil(c, in[1]), *b = mil(c, in[2]);
    mk_type t1, t;
    if (!cd || !a || !b) return fail(c);
    if (!mk_onnx_bcast(&cd->type, &a->type, &t1) || !mk_onnx_bcast(&t1, &b->type, &t))
        return mk_err_set(c->err, MK_EINVAL, "shapes do not broadcast");
    mk_op *op = mk_onnx_op(c, MK_OP_SELECT, oname(n, 0));
    if (!op || !mk_onnx_in_mil(c, op, "cond", cd) || !mk_onnx_in_mil(c, op, "a", a) ||
        !mk_onnx_in_mil(c, op, "b", b))
        return fail(c);
    return done(c, out[0], mk_onnx_out(c, op, NULL));
}

OX_LOWER(mk_onnx_lower_cumsum)
{
    (void)n_out;
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    if (n_in < 2 || !in[1] || !in[1]->data)
        return mk_onnx_unsupported(c, n, "axis computed at run time");
    int ax;
    if (!norm_axis(mk_onnx_cget_i(in[1], 0), x->type.rank, &ax))
        return mk_onnx_unsupported(c, n, "bad axis");
    mk_op *op = mk_onnx_op(c, MK_OP_CUMSUM, oname(n, 0));
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_i32(c, op, "axis", ax) ||
        !mk_onnx_in_bool(c, op, "exclusive", (int)mk_onnx_attr_i(n, "exclusive", 0)) ||
        !mk_onnx_in_bool(c, op, "reverse", (int)mk_onnx_attr_i(n, "reverse", 0)))
        return fail(c);
    return done(c, out[0], mk_onnx_out(c, op, NULL));
}

/* ---- elementwise ops MIL has no single op for ---- */
static mk_value *fconst(ox_ctx *c, float v)
{
    return mk_onnx_cf32(c, "scalar", 0, NULL, &v);
}

/* The fp32 MIL value of v, or the status to return. */
static mk_status float_in(ox_ctx *c, const Onnx__NodeProto *n, ox_val *v, mk_value **x)
{
    if (!(*x = mil(c, v))) return fail(c);
    return (*x)->type.dtype == MK_DT_FP32 ? MK_OK : mk_onnx_unsupported(c, n, "non-float input");
}

/* ThresholdedRelu: x where x > alpha, else 0. */
OX_LOWER(mk_onnx_lower_thresholded_relu)
{
    (void)n_in, (void)n_out;
    mk_value *x;
    mk_status fs = float_in(c, n, in[0], &x);
    if (fs != MK_OK) return fs;
    mk_value *gt =
        mk_onnx_binary(c, MK_OP_GREATER, x, fconst(c, mk_onnx_attr_f(n, "alpha", 1.0f)), NULL);
    return done(c, out[0], gt ? select3(c, gt, x, fconst(c, 0), oname(n, 0)) : NULL);
}

/* Shrink: x + bias below -lambd, x - bias above lambd, 0 between. */
OX_LOWER(mk_onnx_lower_shrink)
{
    (void)n_in, (void)n_out;
    mk_value *x;
    mk_status fs = float_in(c, n, in[0], &x);
    if (fs != MK_OK) return fs;
    float l = mk_onnx_attr_f(n, "lambd", 0.5f), b = mk_onnx_attr_f(n, "bias", 0.0f);
    mk_value *lo = mk_onnx_binary(c, MK_OP_LESS, x, fconst(c, -l), NULL);
    mk_value *hi = lo ? mk_onnx_binary(c, MK_OP_GREATER, x, fconst(c, l), NULL) : NULL;
    mk_value *xp = hi ? mk_onnx_binary(c, MK_OP_ADD, x, fconst(c, b), NULL) : NULL;
    mk_value *xm = xp ? mk_onnx_binary(c, MK_OP_SUB, x, fconst(c, b), NULL) : NULL;
    mk_value *inner = xm ? select3(c, hi, xm, fconst(c, 0), NULL) : NULL;
    return done(c, out[0], inner ? select3(c, lo, xp, inner, oname(n, 0)) : NULL);
}

OX_LOWER(mk_onnx_lower_is_inf)
{
    (void)n_in, (void)n_out;
    mk_value *x;
    mk_status fs = float_in(c, n, in[0], &x);
    if (fs != MK_OK) return fs;
    int pos = mk_onnx_attr_i(n, "detect_positive", 1) != 0;
    int neg = mk_onnx_attr_i(n, "detect_negative", 1) != 0;
    mk_value *v;
    if (pos && neg) {
        mk_value *a = mk_onnx_unary(c, MK_OP_ABS, x, NULL);
        v = a ? mk_onnx_binary(c, MK_OP_EQUAL, a, fconst(c, INFINITY), oname(n, 0)) : NULL;
    } else if (pos || neg) {
        v = mk_onnx_binary(c, MK_OP_EQUAL, x, fconst(c, pos ? INFINITY : -INFINITY), oname(n, 0));
    } else { /* nothing detected: x == inf and x == -inf, never true */
        mk_value *a = mk_onnx_binary(c, MK_OP_EQUAL, x, fconst(c, INFINITY), NULL);
        mk_value *b = a ? mk_onnx_binary(c, MK_OP_EQUAL, x, fconst(c, -INFINITY), NULL) : NULL;
        v = b ? mk_onnx_binary(c, MK_OP_LOGICAL_AND, a, b, oname(n, 0)) : NULL;
    }
    return done(c, out[0], v);
}

OX_LOWER(mk_onnx_lower_is_nan)
{
    (void)n_in, (void)n_out;
    mk_value *x;
    mk_status fs = float_in(c, n, in[0], &x);
    if (fs != MK_OK) return fs;
    return done(c, out[0], mk_onnx_binary(c, MK_OP_NOT_EQUAL, x, x, oname(n, 0)));
}

/* asinh(x) = sign(x) log(|x| + sqrt(x^2 + 1)) (odd, so large negative x keeps its digits);
 * acosh(x) = log(x + sqrt(x^2 - 1)). */
static mk_status inv_hyp(ox_ctx *c, const Onnx__NodeProto *n, ox_val *xin, ox_val *o, int cosh_)
{
    mk_value *x;
    mk_status fs = float_in(c, n, xin, &x);
    if (fs != MK_OK) return fs;
    mk_value *ax = cosh_ ? x : mk_onnx_unary(c, MK_OP_ABS, x, NULL);
    mk_value *sq = ax ? mk_onnx_binary(c, MK_OP_MUL, ax, ax, NULL) : NULL;
    mk_value *s1 =
        sq ? mk_onnx_binary(c, cosh_ ? MK_OP_SUB : MK_OP_ADD, sq, fconst(c, 1), NULL) : NULL;
    mk_value *rt = mk_onnx_unary(c, MK_OP_SQRT, s1, NULL);
    mk_value *sum = rt ? mk_onnx_binary(c, MK_OP_ADD, ax, rt, NULL) : NULL;
    mk_op *op = sum ? mk_onnx_op(c, MK_OP_LOG, cosh_ ? oname(n, 0) : NULL) : NULL;
    if (!op || !mk_onnx_in_mil(c, op, "x", sum) || !mk_onnx_in_f32(c, op, "epsilon", 0.0f))
        return fail(c);
    mk_value *l = mk_onnx_out(c, op, NULL);
    if (!cosh_ && l) {
        mk_value *sg = mk_onnx_unary(c, MK_OP_SIGN, x, NULL);
        l = sg ? mk_onnx_binary(c, MK_OP_MUL, sg, l, oname(n, 0)) : NULL;
    }
    return done(c, o, l);
}

OX_LOWER(mk_onnx_lower_asinh)
{
    (void)n_in, (void)n_out;
    return inv_hyp(c, n, in[0], out[0], 0);
}

OX_LOWER(mk_onnx_lower_acosh)
{
    (void)n_in, (void)n_out;
    return inv_hyp(c, n, in[0], out[0], 1);
}

/* Celu(x) = max(0, x) + min(0, alpha (e^(x/alpha) - 1)) = alpha * elu(x / alpha). */
OX_LOWER(mk_onnx_lower_celu)
{
    (void)n_in, (void)n_out;
    mk_value *x;
    mk_status fs = float_in(c, n, in[0], &x);
    if (fs != MK_OK) return fs;
    float alpha = mk_onnx_attr_f(n, "alpha", 1.0f);
    if (alpha == 0) return mk_err_set(c->err, MK_EINVAL, "alpha 0");
    mk_value *xs = alpha == 1 ? x : mk_onnx_binary(c, MK_OP_REAL_DIV, x, fconst(c, alpha), NULL);
    mk_op *op = xs ? mk_onnx_op(c, MK_OP_ELU, alpha == 1 ? oname(n, 0) : NULL) : NULL;
    if (!op || !mk_onnx_in_mil(c, op, "x", xs) || !mk_onnx_in_f32(c, op, "alpha", 1.0f))
        return fail(c);
    mk_value *e = mk_onnx_out(c, op, NULL);
    if (e && alpha != 1) e = mk_onnx_binary(c, MK_OP_MUL, e, fconst(c, alpha), oname(n, 0));
    return done(c, out[0], e);
}
