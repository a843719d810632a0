/* H32's trigger, shared by the lint rule and fix_instance_norm_5d: instance_norm on a rank-5 x,
 * or reduce_mean/reduce_sum over exactly its D, H, W axes, aborts on the GPU; with a static x
 * whose merged spatial size fits int32 (and a constant keep_dims) the op runs at rank 3-4
 * between reshapes. */
#include "ir.h"

int mk_ir_rank5_spatial(const mk_op *op, int *fixable)
{
    const mk_value *x = mk_ir_arg(op, "x");
    if (!x || x->type.rank != 5) return 0;
    const int64_t *d = x->type.dims;
    int st = mk_type_is_static(&x->type);
    if (op->kind == MK_OP_INSTANCE_NORM) {
        *fixable = st && d[2] * d[3] <= INT32_MAX;
        return 1;
    }
    if (op->kind != MK_OP_REDUCE_MEAN && op->kind != MK_OP_REDUCE_SUM) return 0;
    int64_t ax[8];
    int n = 0, seen = 0;
    if (!mk_ir_arg_i64s(op, "axes", ax, 8, &n)) return 0;
    for (int i = 0; i < n; i++) {
        int64_t a = ax[i] < 0 ? ax[i] + 5 : ax[i];
        if (a < 2 || a > 4) return 0;
        seen |= 1 << a;
    }
    if (seen != 0x1c) return 0;
    const mk_value *keep = mk_ir_arg(op, "keep_dims");
    *fixable =
        st && d[2] * d[3] <= INT32_MAX && d[2] * d[3] * d[4] <= INT32_MAX && (!keep || keep->cst);
    return 1;
}
