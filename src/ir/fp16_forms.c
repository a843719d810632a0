/* Triggers of the fp16 overflow hazards whose rewrite is one op's explicit form, shared by the
 * lint rules and their fixes: H9 softplus (fix_softplus), H10 reduce_log_sum_exp
 * (fix_logsumexp). The rules add the fp16 condition; the fixes rewrite regardless. */
#include "ir.h"

int mk_ir_softplus_form(const mk_op *op)
{
    const mk_value *x = mk_ir_arg(op, "x");
    return op->kind == MK_OP_SOFTPLUS && x && mk_dtype_is_float(x->type.dtype);
}

int mk_ir_logsumexp_form(const mk_op *op, int *fixable)
{
    const mk_value *x = mk_ir_arg(op, "x"), *axes = mk_ir_arg(op, "axes");
    const mk_value *keep = mk_ir_arg(op, "keep_dims");
    if (op->kind != MK_OP_REDUCE_LOG_SUM_EXP || !x || !mk_dtype_is_float(x->type.dtype)) return 0;
    *fixable = (!axes || axes->cst) && (!keep || keep->cst);
    return 1;
}
