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
    if (op->kind != MK_OP_LINEAR || !x || !w || !mk_dtype_is_int(x->type.dtype)) return 0;
    pb b;
    pb_init(&b, p, op, e);
    mk_op *mm = pb_op(&b, MK_OP_MATMUL, "h37_matmul");
    pb_in(&b, mm, "x", x);
    pb_in(&b, mm, "y", w);
    pb_in(&b, mm, "transpose_x", pb_bool(&b, "h37_tx", 0));
    pb_in(&b, mm, "transpose_y", pb_bool(&b, "h37_ty", 1));
    mk_value *y = pb_emit(&b, mm);
    if (bias) y = pb_binary(&b, MK_OP_ADD, "h37_bias", y, bias);
    pb_replace(&b, op->outputs[0], y);
    return pb_done(&b, 1);
}

int mk_pass_fix_int_linear(mk_program *p, mk_err *e)
{
    return pass_each_op(p, rewrite, NULL, e);
}
