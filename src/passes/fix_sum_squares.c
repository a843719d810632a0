/* Symptom: x^2 overflows fp16 for |x| > ~256, so L2 norms, RMSNorm and variances come out
 *          inf (or 0 downstream).
 * Scope: mk_ir_sum_of_squares' fixable reductions (src/ir/fp16_chains.c, shared with the
 *        lint rule), rewritten as: float reduce_l2_norm with constant (or absent) axes; the
 *        RMSNorm / L2 chain
 *        sqrt|rsqrt([add(] reduce_mean|reduce_sum(square(x) | mul(x, x) | pow(x, 2)), axes
 *        constant or absent [, one-element constant eps >= 0)]); and any other live sum of
 *        squares: reduce_mean|reduce_sum of those squares, or reduce_sum_square(x) (variances).
 * Evidence: H12 (coremltools rms_norm comment; coremltools #2821 on the eps variant).
 * Rewrite: reduce_l2_norm: m = maximum(reduce_max(abs(x)), tiny) over all axes (a scalar);
 *          y = mul(reduce_l2_norm(real_div(x, m), axes, keep_dims), m).
 *          RMSNorm chain, per row (the reduction's axes): m = maximum(reduce_max(abs(x)), f)
 *          with f = max(sqrt(eps), tiny); s = reduce(square(x / m)) + square(sqrt(eps) / m);
 *          sqrt -> m * sqrt(s), rsqrt -> 1 / (m * sqrt(s)); eps includes rsqrt's epsilon.
 *          Other sums of squares (after the chains, so those keep the tighter form): m as
 *          above (keep_dims), s = the same reduction of square(x / m), y = (s * m') * m' with
 *          m' = m squeezed to the reduction's output shape. Equal in real arithmetic; every
 *          square stays <= 1 (never eps / m^2 or s * m^2: m^2 overflows fp16 for m > 256). */
#include <math.h>

#include "passes_int.h"

static int rewrite_l2(mk_program *p, mk_op *op, mk_err *e)
{
    int fixable = 0;
    mk_value *x = mk_ir_sum_of_squares(op, &fixable);
    if (!x || !fixable) return 0;
    mk_dtype dt = x->type.dtype;
    pb b;
    mk_pb_init(&b, p, op, e);
    mk_value *a = mk_pb_unary(&b, MK_OP_ABS, "h12_abs", x);
    mk_op *mx = mk_pb_op(&b, MK_OP_REDUCE_MAX, "h12_max");
    mk_pb_in(&b, mx, "x", a);
    mk_pb_in(&b, mx, "keep_dims", mk_pb_bool(&b, "h12_keep", 0));
    mk_value *m = mk_pb_binary(&b, MK_OP_MAXIMUM, "h12_scale", mk_pb_emit(&b, mx),
                               mk_pb_float(&b, "h12_tiny", dt, dt == MK_DT_FP16 ? 0x1p-14 : 1e-30));
    mk_value *xs = mk_pb_binary(&b, MK_OP_REAL_DIV, "h12_scaled", x, m);
    mk_op *n = mk_pb_op(&b, MK_OP_REDUCE_L2_NORM, "h12_norm");
    mk_pb_in(&b, n, "x", xs);
    static const char *const skip[] = {"x", NULL};
    mk_pb_copy_inputs(&b, op, n, skip);
    mk_value *y = mk_pb_binary(&b, MK_OP_MUL, "h12_rescaled", mk_pb_emit(&b, n), m);
    mk_pb_replace(&b, op->outputs[0], y);
    return mk_pb_done(&b, 1);
}

/* A reduce_max(abs(x)) over the reduction's axes, floored at f. */
static mk_value *row_max(pb *b, const mk_op *red, mk_value *x, int keep, mk_dtype dt, double f)
{
    mk_op *mx = mk_pb_op(b, MK_OP_REDUCE_MAX, "h12_rowmax");
    mk_pb_in(b, mx, "x", mk_pb_unary(b, MK_OP_ABS, "h12_abs", x));
    if (mk_ir_arg(red, "axes")) mk_pb_in(b, mx, "axes", mk_ir_arg(red, "axes"));
    mk_pb_in(b, mx, "keep_dims", mk_pb_bool(b, "h12_keep", keep));
    return mk_pb_binary(b, MK_OP_MAXIMUM, "h12_scale", mk_pb_emit(b, mx),
                        mk_pb_float(b, "h12_floor", dt, f));
}

/* Unlink o when nothing reads its output any more (the replaced chain's add / reduction /
 * square), so the general rewrite below does not take a dead reduction for a live one. */
static void drop_dead(mk_op *o)
{
    if (o && o->parent && o->n_outputs == 1 && !mk_ir_count_uses(o->parent, o->outputs[0]))
        mk_ir_unlink(o);
}

static int rewrite_rms(mk_program *p, mk_op *op, mk_err *e)
{
    mk_value *a = mk_ir_arg(op, "x");
    if (!a || !a->producer || !mk_dtype_is_float(a->type.dtype)) return 0;
    double eps = 0;
    float f;
    if (op->kind == MK_OP_RSQRT) {
        mk_value *re = mk_ir_arg(op, "epsilon");
        if (!re)
            eps = 1e-12; /* the MIL default */
        else if (!mk_pass_numel1(re) || !mk_pass_const_floats(re, &f, 1))
            return 0;
        else
            eps = f;
    }
    mk_value *r = a;
    mk_op *ad = a->producer;
    if (ad->kind == MK_OP_ADD) {
        mk_value *ax = mk_ir_arg(ad, "x"), *ay = mk_ir_arg(ad, "y");
        mk_value *c = ay && ay->cst ? ay : ax && ax->cst ? ax : NULL;
        r = c == ay ? ax : ay;
        if (!c || !r || !mk_pass_numel1(c) || !mk_pass_const_floats(c, &f, 1) || !(f >= 0) ||
            c->type.rank > r->type.rank)
            return 0;
        eps += f;
    }
    mk_op *red = r->producer;
    int fixable = 0, keep = 0;
    if (!red || (red->kind != MK_OP_REDUCE_MEAN && red->kind != MK_OP_REDUCE_SUM)) return 0;
    mk_value *x = mk_ir_sum_of_squares(red, &fixable);
    if (!x || !fixable || !mk_type_is_static(&x->type)) return 0;
    if (mk_ir_arg(red, "keep_dims") && !mk_ir_arg_bool(red, "keep_dims", &keep)) return 0;
    mk_dtype dt = x->type.dtype;
    double se = sqrt(eps), tiny = dt == MK_DT_FP16 ? 0x1p-14 : 1e-30;
    pb b;
    mk_pb_init(&b, p, op, e);
    mk_value *mk = row_max(&b, red, x, 1, dt, se > tiny ? se : tiny);
    mk_value *mr = keep ? mk : row_max(&b, red, x, 0, dt, se > tiny ? se : tiny);
    mk_value *xs = mk_pb_binary(&b, MK_OP_REAL_DIV, "h12_scaled", x, mk);
    mk_op *n = mk_pb_op(&b, red->kind, "h12_sumsq");
    mk_pb_in(&b, n, "x", mk_pb_unary(&b, MK_OP_SQUARE, "h12_sq", xs));
    static const char *const skip[] = {"x", NULL};
    mk_pb_copy_inputs(&b, red, n, skip);
    mk_value *s = mk_pb_emit(&b, n);
    if (eps > 0) {
        mk_value *t = mk_pb_binary(&b, MK_OP_REAL_DIV, "h12_eps_scaled",
                                   mk_pb_float(&b, "h12_sqrt_eps", dt, se), mr);
        s = mk_pb_binary(&b, MK_OP_ADD, "h12_plus_eps", s,
                         mk_pb_unary(&b, MK_OP_SQUARE, "h12_eps_sq", t));
    }
    mk_value *y =
        mk_pb_binary(&b, MK_OP_MUL, "h12_rms", mk_pb_unary(&b, MK_OP_SQRT, "h12_sqrt", s), mr);
    if (op->kind == MK_OP_RSQRT)
        y = mk_pb_binary(&b, MK_OP_REAL_DIV, "h12_inv_rms", mk_pb_float(&b, "h12_one", dt, 1.0), y);
    mk_pb_replace(&b, op->outputs[0], y);
    if (b.failed) return -1;
    mk_op *sq = mk_ir_arg(red, "x")->producer;
    if (ad != red) drop_dead(ad);
    drop_dead(red);
    drop_dead(sq);
    return 1;
}

/* A live sum of squares no root chain took: reduce_mean|reduce_sum(square-like(x)) or
 * reduce_sum_square(x) -> (reduce(square(x / m)) * m) * m, m the row max of |x|. */
static int rewrite_general(mk_program *p, mk_op *op, mk_err *e)
{
    mk_value *axes = mk_ir_arg(op, "axes");
    int fixable = 0, keep = 0;
    mk_value *x = mk_ir_sum_of_squares(op, &fixable);
    if (!x || !fixable) return 0;
    if (mk_ir_arg(op, "keep_dims") && !mk_ir_arg_bool(op, "keep_dims", &keep)) return 0;
    mk_dtype dt = x->type.dtype;
    pb b;
    mk_pb_init(&b, p, op, e);
    mk_value *m = row_max(&b, op, x, 1, dt, dt == MK_DT_FP16 ? 0x1p-14 : 1e-30);
    mk_value *xs = mk_pb_binary(&b, MK_OP_REAL_DIV, "h12_scaled", x, m);
    mk_op *n = mk_pb_op(&b, op->kind, "h12_sumsq");
    mk_pb_in(&b, n, "x",
             op->kind == MK_OP_REDUCE_SUM_SQUARE ? xs
                                                 : mk_pb_unary(&b, MK_OP_SQUARE, "h12_sq", xs));
    static const char *const skip[] = {"x", NULL};
    mk_pb_copy_inputs(&b, op, n, skip);
    mk_value *s = mk_pb_emit(&b, n), *mr = m;
    if (!keep) {
        mk_op *sq = mk_pb_op(&b, MK_OP_SQUEEZE, "h12_scale_row");
        mk_pb_in(&b, sq, "x", m);
        if (axes) mk_pb_in(&b, sq, "axes", axes);
        mr = mk_pb_emit(&b, sq);
    }
    mk_value *y = mk_pb_binary(&b, MK_OP_MUL, "h12_times_scale", s, mr);
    y = mk_pb_binary(&b, MK_OP_MUL, "h12_sum_squares", y, mr);
    mk_pb_replace(&b, op->outputs[0], y);
    return mk_pb_done(&b, 1);
}

static int rewrite(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    if (op->kind == MK_OP_REDUCE_L2_NORM) return rewrite_l2(p, op, e);
    if (op->kind == MK_OP_SQRT || op->kind == MK_OP_RSQRT) return rewrite_rms(p, op, e);
    return 0;
}

static int rewrite_rest(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    if (op->kind == MK_OP_REDUCE_MEAN || op->kind == MK_OP_REDUCE_SUM ||
        op->kind == MK_OP_REDUCE_SUM_SQUARE)
        return rewrite_general(p, op, e);
    return 0;
}

int mk_pass_fix_sum_squares(mk_program *p, mk_err *e)
{
    int n = mk_pass_each_op(p, rewrite, NULL, e);
    if (n < 0) return -1;
    int m = mk_pass_each_op(p, rewrite_rest, NULL, e);
    return m < 0 ? -1 : n + m;
}
