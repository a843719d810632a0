/* Symptom: linear with int32 operands (emitted for integer torch.mm) fails at run time.
 * Scope: linear whose x has an integer dtype.
 * Evidence: H37 (coremltools commit e95804f9, PR #2673).
 * Rewrite: matmul(x, weight, transpose_x=false, transpose_y=true), then add(bias) when a
 *          bias is bound; same integer math. */
#include "passes_int.h"

static int rewrite(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    mk_value *x = mk_ir_arg(op, "x"), *w = mk_ir_arg(op, "weight"), *bias = mk_ir_arg(op, "bias");
    if (!mk_ir_int_linear(op)) return 0;
    pb b;
    mk_pb_init(&b, p, op, e);
    mk_op *mm = mk_pb_op(&b, MK_OP_MATMUL, "h37_matmul");
    mk_pb_in(&b, mm, "x", x);
    mk_pb_in(&b, mm, "y", w);
    mk_pb_in(&b, mm, "transpose_x", mk_pb_bool(&b, "h37_tx", 0));
    mk_pb_in(&b, mm, "transpose_y", mk_pb_bool(&b, "h37_ty", 1));
    mk_value *y = mk_pb_emit(&b, mm);
    if (bias) y = mk_pb_binary(&b, MK_OP_ADD, "h37_bias", y, bias);
    mk_pb_replace(&b, op->outputs[0], y);
    return mk_pb_done(&b, 1);
}

int mk_pass_fix_int_linear(mk_program *p, mk_err *e)
{
    return mk_pass_each_op(p, rewrite, NULL, e);
}
