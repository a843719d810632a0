/* The H25 trigger shared by the lint rule and fix_linear_to_conv: linear / matmul with a
 * constant weight on (B, S, C) activations, which Apple's Neural Engine ports run as a 1x1
 * conv in (B, C, 1, S) layout. */
#include "ir.h"

int mk_ir_is_const_weight(const mk_value *w)
{
    if (!w) return 0;
    if (w->cst) return 1;
    const mk_op *p = w->producer;
    return p &&
           (p->kind == MK_OP_CONST || p->kind == MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE ||
            p->kind == MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE || p->kind == MK_OP_CONSTEXPR_CAST ||
            p->kind == MK_OP_CONSTEXPR_LUT_TO_DENSE || p->kind == MK_OP_CONSTEXPR_SPARSE_TO_DENSE);
}

int mk_ir_linear_on_bsc(const mk_op *op, int *fixable)
{
    const mk_value *x = mk_ir_arg(op, "x");
    if (!x || x->type.rank != 3) return 0;
    if (op->kind == MK_OP_LINEAR && mk_ir_is_const_weight(mk_ir_arg(op, "weight"))) {
        const mk_value *w = mk_ir_arg(op, "weight");
        *fixable = w->cst && w->cst->data && w->type.rank == 2 && mk_dtype_is_float(x->type.dtype);
        return 1;
    }
    if (op->kind == MK_OP_MATMUL && mk_ir_is_const_weight(mk_ir_arg(op, "y"))) {
        *fixable = 0;
        return 1;
    }
    return 0;
}
