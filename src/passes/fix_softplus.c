/* Symptom: softplus in fp16 on the Neural Engine drops to 0 once x > ~10.4 (exp overflows
 *          65504); Mish = x * tanh(softplus(x)) inherits the cliff.
 * Scope: every float softplus.
 * Evidence: H9 (coremltools #2687 with an independent M4 confirmation, #2359; PRs #2725,
 *           #2814).
 * Rewrite: softplus(x) -> add(relu(x), log(add(exp(mul(abs(x), -1)), 1))), log with an
 *          explicit epsilon 0; the exp argument is <= 0 and cannot overflow. */
#include "passes_int.h"

static int rewrite(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    mk_value *x = mk_ir_arg(op, "x");
    if (!mk_ir_softplus_form(op)) return 0;
    mk_dtype dt = x->type.dtype;
    pb b;
    mk_pb_init(&b, p, op, e);
    mk_value *a = mk_pb_unary(&b, MK_OP_ABS, "h9_abs", x);
    mk_value *na =
        mk_pb_binary(&b, MK_OP_MUL, "h9_neg_abs", a, mk_pb_float(&b, "h9_minus1", dt, -1));
    mk_value *ex = mk_pb_unary(&b, MK_OP_EXP, "h9_exp", na);
    mk_value *s = mk_pb_binary(&b, MK_OP_ADD, "h9_one_plus", ex, mk_pb_float(&b, "h9_one", dt, 1));
    mk_op *lg = mk_pb_op(&b, MK_OP_LOG, "h9_log");
    mk_pb_in(&b, lg, "x", s);
    mk_pb_in(&b, lg, "epsilon", mk_pb_float(&b, "h9_eps", dt, 0));
    mk_value *l = mk_pb_emit(&b, lg);
    mk_value *r = mk_pb_unary(&b, MK_OP_RELU, "h9_relu", x);
    mk_value *y = mk_pb_binary(&b, MK_OP_ADD, "h9_softplus", r, l);
    mk_pb_replace(&b, op->outputs[0], y);
    return mk_pb_done(&b, 1);
}

int mk_pass_fix_softplus(mk_program *p, mk_err *e)
{
    return mk_pass_each_op(p, rewrite, NULL, e);
}
