/* Symptom: x^2 overflows fp16 for |x| > ~256, so L2 norms come out inf (or 0 downstream).
 * Scope: float reduce_l2_norm with constant (or absent) axes. The RMSNorm pattern
 *        (reduce_mean of a square) is only linted: its exact rewrite needs the whole
 *        normalisation expression.
 * Evidence: H12 (coremltools rms_norm comment; coremltools #2821 on the eps variant).
 * Rewrite: m = maximum(reduce_max(abs(x)), tiny) over all axes (a scalar);
 *          y = mul(reduce_l2_norm(real_div(x, m), axes, keep_dims), m) - equal in real
 *          arithmetic, and the squares stay <= 1. */
#include "passes_int.h"

static int rewrite(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    mk_value *x = mk_ir_arg(op, "x"), *axes = mk_ir_arg(op, "axes");
    if (op->kind != MK_OP_REDUCE_L2_NORM || !x || !mk_dtype_is_float(x->type.dtype)) return 0;
    if (axes && !axes->cst) return 0;
    const mk_op *d = x->producer, *prev = d && d->kind == MK_OP_REAL_DIV && mk_ir_arg(d, "y")
                                              ? mk_ir_arg(d, "y")->producer
                                              : NULL;
    if (prev && prev->kind == MK_OP_MAXIMUM) return 0; /* already rescaled */
    mk_dtype dt = x->type.dtype;
    pb b;
    pb_init(&b, p, op, e);
    mk_value *a = pb_unary(&b, MK_OP_ABS, "h12_abs", x);
    mk_op *mx = pb_op(&b, MK_OP_REDUCE_MAX, "h12_max");
    pb_in(&b, mx, "x", a);
    pb_in(&b, mx, "keep_dims", pb_bool(&b, "h12_keep", 0));
    mk_value *m = pb_binary(&b, MK_OP_MAXIMUM, "h12_scale", pb_emit(&b, mx),
                            pb_float(&b, "h12_tiny", dt, dt == MK_DT_FP16 ? 0x1p-14 : 1e-30));
    mk_value *xs = pb_binary(&b, MK_OP_REAL_DIV, "h12_scaled", x, m);
    mk_op *n = pb_op(&b, MK_OP_REDUCE_L2_NORM, "h12_norm");
    pb_in(&b, n, "x", xs);
    static const char *const skip[] = {"x", NULL};
    pb_copy_inputs(&b, op, n, skip);
    mk_value *y = pb_binary(&b, MK_OP_MUL, "h12_rescaled", pb_emit(&b, n), m);
    pb_replace(&b, op->outputs[0], y);
    return pb_done(&b, 1);
}

int mk_pass_fix_sum_squares(mk_program *p, mk_err *e)
{
    return pass_each_op(p, rewrite, NULL, e);
}
