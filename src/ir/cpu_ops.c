/* H4's trigger, shared by the lint rule and fix_cpu_ops: cumsum, fill, fill_like and range_1d
 * run on the CPU. Fills and ranges of constants fold to a constant of at most MK_IR_FOLD_MAX
 * elements; a float cumsum along a static axis becomes a matmul with a triangular constant
 * (axes longer than MK_IR_TRI_MAX in blocks, forward and inclusive only). */
#include <math.h>

#include "ir.h"

static int storable(mk_dtype dt)
{
    return dt == MK_DT_FP16 || dt == MK_DT_FP32 || dt == MK_DT_INT32 || dt == MK_DT_BOOL;
}

int64_t mk_ir_cumsum_block(int64_t n)
{
    for (int64_t bs = MK_IR_TRI_MAX; bs >= 16; bs--)
        if (n % bs == 0 && n / bs <= MK_IR_TRI_MAX) return bs;
    return 0;
}

static int const_flag(const mk_op *op, const char *param, int *v)
{
    *v = 0;
    return !mk_ir_arg(op, param) || mk_ir_arg_bool(op, param, v);
}

static int cumsum_fixable(const mk_op *op, int64_t *block)
{
    const mk_value *x = mk_ir_arg(op, "x");
    int32_t axis = 0;
    int rev, exc;
    if (!x || !mk_dtype_is_float(x->type.dtype) || x->type.rank < 1) return 0;
    if (mk_ir_arg(op, "axis") && !mk_ir_arg_i32(op, "axis", &axis)) return 0;
    if (!const_flag(op, "reverse", &rev) || !const_flag(op, "exclusive", &exc)) return 0;
    int r = x->type.rank;
    if (axis < 0) axis += r;
    if (axis < 0 || axis >= r) return 0;
    int64_t n = x->type.dims[axis];
    *block = 0;
    if (n <= 0) return 0;
    if (n <= MK_IR_TRI_MAX) return 1;
    *block = mk_ir_cumsum_block(n);
    return *block && !rev && !exc && mk_type_is_static(&x->type) && r + 1 <= 5;
}

static int fill_fixable(const mk_op *op)
{
    const mk_value *val = mk_ir_arg(op, "value");
    if (val && (!val->cst || val->type.rank != 0)) return 0;
    mk_type t;
    if (op->kind == MK_OP_FILL) {
        int64_t dims[MK_MAX_RANK];
        int n = 0;
        if (!mk_ir_arg_i64s(op, "shape", dims, MK_MAX_RANK, &n)) return 0;
        for (int i = 0; i < n; i++)
            if (dims[i] < 0) return 0;
        t = mk_type_make(MK_DT_FP32, n, dims);
    } else {
        const mk_value *r = mk_ir_arg(op, "ref_tensor");
        if (!r || !mk_type_is_static(&r->type)) return 0;
        t = r->type;
    }
    t.dtype = op->n_outputs && op->outputs[0]->type.dtype != MK_DT_INVALID
                  ? op->outputs[0]->type.dtype
              : val ? val->type.dtype
                    : MK_DT_FP32;
    size_t n = 0;
    return storable(t.dtype) && mk_type_numel(&t, &n) && n <= MK_IR_FOLD_MAX;
}

static int range_fixable(const mk_op *op)
{
    const mk_value *st = mk_ir_arg(op, "start"), *en = mk_ir_arg(op, "end"),
                   *sp = mk_ir_arg(op, "step");
    if (!st || !en || !sp || !st->cst || !en->cst || !sp->cst || !storable(st->type.dtype))
        return 0;
    double a = mk_const_get_f64(st, 0), z = mk_const_get_f64(en, 0), s = mk_const_get_f64(sp, 0);
    if (s == 0 || !isfinite(a) || !isfinite(z) || !isfinite(s)) return 0;
    return ceil((z - a) / s) <= (double)MK_IR_FOLD_MAX;
}

int mk_ir_cpu_op(const mk_op *op, int64_t *block, int *fixable)
{
    *block = 0;
    if (op->kind == MK_OP_CUMSUM)
        *fixable = cumsum_fixable(op, block);
    else if (op->kind == MK_OP_FILL || op->kind == MK_OP_FILL_LIKE)
        *fixable = fill_fixable(op);
    else if (op->kind == MK_OP_RANGE_1D)
        *fixable = range_fixable(op);
    else
        return 0;
    return 1;
}
