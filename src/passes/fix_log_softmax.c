/* Symptom: log(softmax(x)) in fp16 on the Neural Engine underflows small probabilities to 0
 *          and returns -inf (or saturates near -45440); log(cumsum(exp(x))) (logcumsumexp)
 *          overflows to inf/NaN for x > ~11.
 * Scope: mk_ir_log_softmax_form's fixable cases (src/ir/fp16_chains.c, shared with the
 *        lint rule): a float log (epsilon absent or <= 1e-30) of softmax, or of cumsum of
 *        exp(x) unless x is already shifted by a reduce_max, with a constant (or default) axis.
 * Evidence: H11 (coremltools #2728, #2729; FluidInference/mobius PR #39). Deliberately not
 *           reduce_log_sum_exp, which H10 shows is unsafe on the Neural Engine.
 * Rewrite: d = sub(x, reduce_max(x, [axis], keep_dims=true));
 *          log_softmax: y = sub(d, log(reduce_sum(exp(d), [axis], keep_dims=true)));
 *          logcumsumexp: y = add(log(cumsum(exp(d), axis, exclusive, reverse)), max), all
 *          explicit. The global max along the axis is the catalog's shift: prefixes far below
 *          it (x_i - max < ~-17 in fp16) still underflow to -inf, as in the original. */
#include "passes_int.h"

static int rewrite_lcse(mk_program *p, mk_op *op, mk_value *x, mk_err *e)
{
    const mk_op *cs = mk_ir_arg(op, "x")->producer;
    int32_t axis = 0;
    if (mk_ir_arg(cs, "axis")) mk_ir_arg_i32(cs, "axis", &axis);
    mk_dtype dt = x->type.dtype;
    pb b;
    mk_pb_init(&b, p, op, e);
    mk_op *mx = mk_pb_op(&b, MK_OP_REDUCE_MAX, "h11_max");
    mk_pb_in(&b, mx, "x", x);
    mk_pb_in(&b, mx, "axes", mk_pb_i32s(&b, "h11_axes", 1, &axis));
    mk_pb_in(&b, mx, "keep_dims", mk_pb_bool(&b, "h11_keep", 1));
    mk_value *m = mk_pb_emit(&b, mx);
    mk_value *d = mk_pb_binary(&b, MK_OP_SUB, "h11_shift", x, m);
    mk_op *c = mk_pb_op(&b, MK_OP_CUMSUM, "h11_cumsum");
    mk_pb_in(&b, c, "x", mk_pb_unary(&b, MK_OP_EXP, "h11_exp", d));
    static const char *const skip[] = {"x", NULL};
    mk_pb_copy_inputs(&b, cs, c, skip);
    mk_op *lg = mk_pb_op(&b, MK_OP_LOG, "h11_log");
    mk_pb_in(&b, lg, "x", mk_pb_emit(&b, c));
    mk_pb_in(&b, lg, "epsilon", mk_pb_float(&b, "h11_eps", dt, 0));
    mk_value *y = mk_pb_binary(&b, MK_OP_ADD, "h11_logcumsumexp", mk_pb_emit(&b, lg), m);
    mk_pb_replace(&b, op->outputs[0], y);
    return mk_pb_done(&b, 1);
}

static int rewrite(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    mk_value *x = NULL;
    int fixable = 0;
    mk_log_softmax_form f = mk_ir_log_softmax_form(op, &x, &fixable);
    if (!f || !fixable) return 0;
    if (f == MK_LSM_CUMSUM) return rewrite_lcse(p, op, x, e);
    const mk_op *sm = mk_ir_arg(op, "x")->producer;
    int32_t axis = -1;
    if (mk_ir_arg(sm, "axis")) mk_ir_arg_i32(sm, "axis", &axis);
    mk_dtype dt = x->type.dtype;
    pb b;
    mk_pb_init(&b, p, op, e);
    mk_value *ax = mk_pb_i32s(&b, "h11_axes", 1, &axis);
    mk_op *mx = mk_pb_op(&b, MK_OP_REDUCE_MAX, "h11_max");
    mk_pb_in(&b, mx, "x", x);
    mk_pb_in(&b, mx, "axes", ax);
    mk_pb_in(&b, mx, "keep_dims", mk_pb_bool(&b, "h11_keep", 1));
    mk_value *d = mk_pb_binary(&b, MK_OP_SUB, "h11_shift", x, mk_pb_emit(&b, mx));
    mk_value *ex = mk_pb_unary(&b, MK_OP_EXP, "h11_exp", d);
    mk_op *rs = mk_pb_op(&b, MK_OP_REDUCE_SUM, "h11_sum");
    mk_pb_in(&b, rs, "x", ex);
    mk_pb_in(&b, rs, "axes", ax);
    mk_pb_in(&b, rs, "keep_dims", mk_pb_bool(&b, "h11_keep", 1));
    mk_op *lg = mk_pb_op(&b, MK_OP_LOG, "h11_log");
    mk_pb_in(&b, lg, "x", mk_pb_emit(&b, rs));
    mk_pb_in(&b, lg, "epsilon", mk_pb_float(&b, "h11_eps", dt, 0));
    mk_value *y = mk_pb_binary(&b, MK_OP_SUB, "h11_log_softmax", d, mk_pb_emit(&b, lg));
    mk_pb_replace(&b, op->outputs[0], y);
    return mk_pb_done(&b, 1);
}

int mk_pass_fix_log_softmax(mk_program *p, mk_err *e)
{
    return mk_pass_each_op(p, rewrite, NULL, e);
}
