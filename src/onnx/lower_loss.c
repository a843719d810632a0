/* Lowering of ONNX NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (opset 12+) to MIL
 * ops the Neural Engine runs: the target becomes a class mask (one_hot, or a folded constant
 * when the target is constant) times the per-class weight, multiplied into the input and
 * reduce_sum'ed; ignore_index maps to an all-zero mask row. SCE takes log_softmax in the
 * explicit max-shifted form (H11). Does not handle fp16/double inputs or an unknown class
 * count, and never uses gather_along_axis (H29). */
#include <string.h>

#include "onnx_int.h"

#define FOLD_MAX ((size_t)1 << 22) /* mask elements folded into one constant at most */

enum { RED_NONE, RED_SUM, RED_MEAN, RED_BAD };

static int reduction(ox_ctx *c, const Onnx__NodeProto *n)
{
    const char *r = mk_onnx_attr_s(c, n, "reduction", "mean");
    if (!r) return RED_BAD;
    if (strcmp(r, "none") == 0) return RED_NONE;
    if (strcmp(r, "sum") == 0) return RED_SUM;
    if (strcmp(r, "mean") == 0) return RED_MEAN;
    return RED_BAD;
}

OX_WHY(mk_onnx_why_loss)
{
    return reduction(c, n) == RED_BAD ? "reduction is not none, sum or mean" : NULL;
}

/* reduce_sum / reduce_max of x over axes ax (all axes when nax < 0). */
static mk_value *reduce(ox_ctx *c, mk_op_kind k, mk_value *x, int nax, const int32_t *ax, int keep,
                        const char *name)
{
    int r = x->type.rank;
    int32_t all[MK_MAX_RANK];
    if (nax < 0) {
        for (int i = 0; i < r; i++) all[i] = i;
        nax = r;
        ax = all;
    }
    mk_op *op = mk_onnx_op(c, k, name);
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_i32s(c, op, "axes", nax, ax) ||
        !mk_onnx_in_bool(c, op, "keep_dims", keep))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

static mk_value *scale(ox_ctx *c, mk_value *x, float s, const char *name)
{
    mk_value *k = mk_onnx_cf32(c, "loss_scale", 0, NULL, &s);
    return k ? mk_onnx_binary(c, MK_OP_MUL, x, k, name) : NULL;
}

/* log_softmax along axis 1 as d = x - max(x); d - log(sum(exp(d))), all explicit (H11). */
static mk_value *log_softmax1(ox_ctx *c, mk_value *x, const char *name)
{
    const int32_t ax = 1;
    mk_value *m = reduce(c, MK_OP_REDUCE_MAX, x, 1, &ax, 1, NULL);
    mk_value *d = m ? mk_onnx_binary(c, MK_OP_SUB, x, m, NULL) : NULL;
    mk_value *e = d ? mk_onnx_unary(c, MK_OP_EXP, d, NULL) : NULL;
    mk_value *s = e ? reduce(c, MK_OP_REDUCE_SUM, e, 1, &ax, 1, NULL) : NULL;
    mk_op *op = s ? mk_onnx_op(c, MK_OP_LOG, NULL) : NULL;
    if (!op || !mk_onnx_in_mil(c, op, "x", s) || !mk_onnx_in_f32(c, op, "epsilon", 0.0f))
        return NULL;
    mk_value *l = mk_onnx_out(c, op, NULL);
    return l ? mk_onnx_binary(c, MK_OP_SUB, d, l, name) : NULL;
}

/* The loss of log-probabilities x [N, C, d...] against target t [N, d...] with optional
 * weight w [C], written to o. */
static mk_status nll(ox_ctx *c, const Onnx__NodeProto *n, mk_value *x, ox_val *t, ox_val *w,
                     ox_val *o)
{
    int red = reduction(c, n);
    if (red == RED_BAD) return mk_onnx_unsupported(c, n, "reduction is not none, sum or mean");
    if (x->type.dtype != MK_DT_FP32) return mk_onnx_unsupported(c, n, "input must be float32");
    int r = x->type.rank;
    int64_t C = r >= 2 ? x->type.dims[1] : -1;
    if (r < 2 || t->type.rank != r - 1)
        return mk_err_set(c->err, MK_EINVAL,
                          "%s: %s: input must be [N, C, d...] and target "
                          "[N, d...]",
                          c->file, n->op_type);
    if (C < 1 || C > INT32_MAX - 1) return mk_onnx_unsupported(c, n, "class count unknown");
    for (int i = 0; i < r - 1; i++) {
        int64_t a = x->type.dims[i ? i + 1 : 0], b = t->type.dims[i];
        if (a >= 0 && b >= 0 && a != b)
            return mk_err_set(c->err, MK_EINVAL, "%s: %s: target shape does not match input",
                              c->file, n->op_type);
    }
    if (w && (w->type.rank != 1 || (w->type.dims[0] >= 0 && w->type.dims[0] != C)))
        return mk_err_set(c->err, MK_EINVAL, "%s: %s: weight must be [C]", c->file, n->op_type);
    if (w && w->type.dtype != MK_DT_FP32)
        return mk_onnx_unsupported(c, n, "weight must be float32");
    int has_ii = mk_onnx_attr(n, "ignore_index") != NULL;
    int64_t ii = mk_onnx_attr_i(n, "ignore_index", 0);
    /* mask type [N, C, d...] */
    mk_type mt = mk_type_make(MK_DT_FP32, r, NULL);
    for (int i = 0; i < r; i++) mt.dims[i] = i == 1 ? C : t->type.dims[i ? i - 1 : 0];
    mk_value *g = NULL, *tv = NULL;
    double den = 0;
    if (t->data) {
        /* constant target: checked now, ignored entries mapped to C */
        size_t nt = mk_onnx_numel(&t->type), ng;
        int32_t *q = mk_arena_array(c->p->arena, nt ? nt : 1, sizeof *q);
        if (!q) return fail(c);
        for (size_t i = 0; i < nt; i++) {
            int64_t v = mk_onnx_cget_i(t, i);
            if (has_ii && v == ii)
                v = C;
            else if (v < 0 || v >= C)
                return mk_err_set(c->err, MK_EINVAL, "%s: %s: target %lld out of range [0, %lld)",
                                  c->file, n->op_type, (long long)v, (long long)C);
            q[i] = (int32_t)v;
        }
        if ((!w || w->data) && mk_mul_size(nt, (size_t)C, &ng) && ng <= FOLD_MAX) {
            /* fold the weighted mask: g[n, q, d] = w[q] */
            float *gv = mk_onnx_weight_alloc(c, ng * sizeof *gv);
            if (!gv) return fail(c);
            size_t inner = t->type.dims[0] ? nt / (size_t)t->type.dims[0] : 0;
            for (size_t i = 0; i < nt; i++) {
                if (q[i] == C) continue;
                float wv = w ? (float)mk_onnx_cget_f(w, (size_t)q[i]) : 1.0f;
                size_t bi = i / inner, di = i % inner;
                gv[(bi * (size_t)C + (size_t)q[i]) * inner + di] = wv;
                den += wv;
            }
            g = mk_onnx_cf32_own(c, "loss_mask", r, mt.dims, gv);
            if (!g) return fail(c);
        } else {
            mk_type it = t->type;
            it.dtype = MK_DT_INT32;
            tv = mk_ir_const(c->p, c->blk, "loss_target", &it, q, nt * sizeof *q, 1);
            if (!tv) return fail(c);
        }
    } else {
        tv = mil(c, t);
        if (!tv) return fail(c);
        if (tv->type.dtype != MK_DT_INT32) return mk_onnx_unsupported(c, n, "target not integer");
        if (has_ii) {
            int32_t iv = ii < INT32_MIN || ii > INT32_MAX ? (int32_t)C : (int32_t)ii;
            int32_t cv = (int32_t)C;
            mk_value *iiv = mk_ir_const_i32(c->p, c->blk, "ignore_index", 1, &iv, 1);
            mk_value *eq = iiv ? mk_onnx_binary(c, MK_OP_EQUAL, tv, iiv, NULL) : NULL;
            mk_value *cc = eq ? mk_ir_const_i32(c->p, c->blk, "class_count", 1, &cv, 1) : NULL;
            mk_op *op = cc ? mk_onnx_op(c, MK_OP_SELECT, NULL) : NULL;
            if (!op || !mk_onnx_in_mil(c, op, "cond", eq) || !mk_onnx_in_mil(c, op, "a", cc) ||
                !mk_onnx_in_mil(c, op, "b", tv))
                return fail(c);
            tv = mk_onnx_out(c, op, NULL);
            if (!tv) return fail(c);
        }
    }
    if (!g) {
        /* run-time mask: one_hot(target) along axis 1 (index C gives a zero row) */
        mk_op *op = mk_onnx_op(c, MK_OP_ONE_HOT, NULL);
        if (!op || !mk_onnx_in_mil(c, op, "indices", tv) ||
            !mk_onnx_in_i32(c, op, "one_hot_vector_size", (int32_t)C) ||
            !mk_onnx_in_i32(c, op, "axis", 1) || !mk_onnx_in_f32(c, op, "on_value", 1.0f) ||
            !mk_onnx_in_f32(c, op, "off_value", 0.0f))
            return fail(c);
        g = mk_onnx_out(c, op, NULL);
        if (g && w) {
            int64_t wd[MK_MAX_RANK];
            for (int i = 0; i < r; i++) wd[i] = i == 1 ? C : 1;
            mk_value *wv = mil(c, w);
            mk_value *wr = wv ? mk_onnx_reshape(c, wv, r, wd, NULL) : NULL;
            g = wr ? mk_onnx_binary(c, MK_OP_MUL, g, wr, NULL) : NULL;
        }
        if (!g) return fail(c);
    }
    mk_value *p = mk_onnx_binary(c, MK_OP_MUL, x, g, NULL);
    if (!p) return fail(c);
    const char *nm = oname(n, 0);
    if (red == RED_NONE) {
        const int32_t ax = 1;
        mk_value *s = reduce(c, MK_OP_REDUCE_SUM, p, 1, &ax, 0, NULL);
        return done(c, o, s ? scale(c, s, -1.0f, nm) : NULL);
    }
    mk_value *tot = reduce(c, MK_OP_REDUCE_SUM, p, -1, NULL, 0, NULL);
    if (!tot) return fail(c);
    if (red == RED_SUM) return done(c, o, scale(c, tot, -1.0f, nm));
    if (tv == NULL) return done(c, o, scale(c, tot, (float)(-1.0 / den), nm));
    /* run-time mask: divide by the summed weights of the targets that count */
    mk_value *sw = reduce(c, MK_OP_REDUCE_SUM, g, -1, NULL, 0, NULL);
    mk_value *neg = sw ? scale(c, tot, -1.0f, NULL) : NULL;
    return done(c, o, neg ? mk_onnx_binary(c, MK_OP_REAL_DIV, neg, sw, nm) : NULL);
}

OX_LOWER(mk_onnx_lower_nll_loss)
{
    (void)n_out;
    if (n_in < 2 || !in[0] || !in[1]) return mk_onnx_unsupported(c, n, "expects input, target");
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    return nll(c, n, x, in[1], n_in > 2 ? in[2] : NULL, out[0]);
}

OX_LOWER(mk_onnx_lower_sce_loss)
{
    if (n_in < 2 || !in[0] || !in[1]) return mk_onnx_unsupported(c, n, "expects scores, labels");
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    if (x->type.rank < 2 || x->type.dtype != MK_DT_FP32)
        return mk_onnx_unsupported(c, n, "scores must be float32 [N, C, d...]");
    mk_value *lp = log_softmax1(c, x, n_out > 1 ? oname(n, 1) : NULL);
    if (!lp) return fail(c);
    if (n_out > 1) mk_onnx_set(out[1], lp);
    return nll(c, n, lp, in[1], n_in > 2 ? in[2] : NULL, out[0]);
}
