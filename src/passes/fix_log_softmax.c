/* Symptom: log(softmax(x)) in fp16 on the Neural Engine underflows small probabilities to 0
 *          and returns -inf (or saturates near -45440).
 * Scope: a float log whose x is produced by softmax with a constant (or default) axis.
 * Evidence: H11 (coremltools #2728, #2729; FluidInference/mobius PR #39). Deliberately not
 *           reduce_log_sum_exp, which H10 shows is unsafe on the Neural Engine.
 * Rewrite: d = sub(x, reduce_max(x, [axis], keep_dims=true));
 *          y = sub(d, log(reduce_sum(exp(d), [axis], keep_dims=true))), all explicit. */
#include "passes_int.h"

static int rewrite(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    mk_value *lx = mk_ir_arg(op, "x");
    if (op->kind != MK_OP_LOG || !lx || !lx->producer || lx->producer->kind != MK_OP_SOFTMAX)
        return 0;
    const mk_op *sm = lx->producer;
    mk_value *x = mk_ir_arg(sm, "x");
    int32_t axis = -1;
    if (!x || !mk_dtype_is_float(x->type.dtype)) return 0;
    if (mk_ir_arg(sm, "axis") && !mk_ir_arg_i32(sm, "axis", &axis)) return 0;
    mk_dtype dt = x->type.dtype;
    pb b;
    pb_init(&b, p, op, e);
    mk_value *ax = pb_i32s(&b, "h11_axes", 1, &axis);
    mk_op *mx = pb_op(&b, MK_OP_REDUCE_MAX, "h11_max");
    pb_in(&b, mx, "x", x);
    pb_in(&b, mx, "axes", ax);
    pb_in(&b, mx, "keep_dims", pb_bool(&b, "h11_keep", 1));
    mk_value *d = pb_binary(&b, MK_OP_SUB, "h11_shift", x, pb_emit(&b, mx));
    mk_value *ex = pb_unary(&b, MK_OP_EXP, "h11_exp", d);
    mk_op *rs = pb_op(&b, MK_OP_REDUCE_SUM, "h11_sum");
    pb_in(&b, rs, "x", ex);
    pb_in(&b, rs, "axes", ax);
    pb_in(&b, rs, "keep_dims", pb_bool(&b, "h11_keep", 1));
    mk_op *lg = pb_op(&b, MK_OP_LOG, "h11_log");
    pb_in(&b, lg, "x", pb_emit(&b, rs));
    pb_in(&b, lg, "epsilon", pb_float(&b, "h11_eps", dt, 0));
    mk_value *y = pb_binary(&b, MK_OP_SUB, "h11_log_softmax", d, pb_emit(&b, lg));
    pb_replace(&b, op->outputs[0], y);
    return pb_done(&b, 1);
}

int mk_pass_fix_log_softmax(mk_program *p, mk_err *e)
{
    return pass_each_op(p, rewrite, NULL, e);
}
