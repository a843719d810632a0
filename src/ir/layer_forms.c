/* Layer-parameter hazards' triggers, one predicate for each lint rule and its fix: H1 1-D
 * conv_transpose with a bias (fix_conv_transpose_1d), H33 prelu with one shared slope
 * (fix_prelu_slope), H37 linear on integers (fix_int_linear). */
#include "ir.h"

int mk_ir_prelu_shared_slope(const mk_op *op, int *fixable)
{
    const mk_value *a = mk_ir_arg(op, "alpha"), *x = mk_ir_arg(op, "x");
    size_t n = 0;
    if (op->kind != MK_OP_PRELU || !x || !a || !a->cst || !mk_type_numel(&a->type, &n) || n != 1)
        return 0;
    *fixable = x->type.rank >= 2 && x->type.dims[1] > 1 && x->type.dims[1] <= MK_IR_PRELU_MAX_C &&
               (a->type.dtype == MK_DT_FP16 || a->type.dtype == MK_DT_FP32);
    return 1;
}

int mk_ir_int_linear(const mk_op *op)
{
    const mk_value *x = mk_ir_arg(op, "x");
    return op->kind == MK_OP_LINEAR && x && mk_ir_arg(op, "weight") &&
           mk_dtype_is_int(x->type.dtype);
}

int mk_ir_conv_transpose_1d_bias(const mk_op *op, int *fixable)
{
    static const char *const lifted[] = {"strides", "dilations", "pad", "output_shape"};
    const mk_value *x = mk_ir_arg(op, "x"), *w = mk_ir_arg(op, "weight"),
                   *b = mk_ir_arg(op, "bias");
    size_t n = 0;
    if (op->kind != MK_OP_CONV_TRANSPOSE || !x || x->type.rank != 3 || !b) return 0;
    int nonzero = !b->cst || !mk_type_numel(&b->type, &n);
    for (size_t i = 0; i < n && !nonzero; i++) nonzero = mk_const_get_f64(b, i) != 0.0;
    if (!nonzero) return 0;
    *fixable = w && w->type.rank == 3;
    for (int i = 0; i < 4 && *fixable; i++) {
        int64_t v[4];
        int k;
        *fixable = !mk_ir_arg(op, lifted[i]) || mk_ir_arg_i64s(op, lifted[i], v, 4, &k);
    }
    return 1;
}
