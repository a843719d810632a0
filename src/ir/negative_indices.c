/* H6's trigger, shared by the lint rule and fix_negative_indices: from iOS17 a negative
 * gather/scatter index is out of bounds, so constant negative indices and unguarded signed
 * run-time indices are hazards; gather / gather_along_axis on a static positive axis size with
 * int32 indices can be rewritten (constants wrapped, run-time ones guarded by a select). */
#include "ir.h"

static int gather_like(mk_op_kind k)
{
    return k == MK_OP_GATHER || k == MK_OP_GATHER_ND || k == MK_OP_GATHER_ALONG_AXIS ||
           k == MK_OP_SCATTER || k == MK_OP_SCATTER_ND || k == MK_OP_SCATTER_ALONG_AXIS;
}

/* select(i >= 0, i, i + dim): the guard the fix writes. */
static int guarded(const mk_value *ix)
{
    const mk_op *pr = ix->producer;
    const mk_value *cond = pr && pr->kind == MK_OP_SELECT ? mk_ir_arg(pr, "cond") : NULL;
    return cond && cond->producer && cond->producer->kind == MK_OP_GREATER_EQUAL;
}

mk_neg_index mk_ir_negative_indices(const mk_op *op, int ios, int64_t *first, int *fixable)
{
    const mk_value *ix = gather_like(op->kind) && ios >= 17 ? mk_ir_arg(op, "indices") : NULL;
    if (!ix) return MK_NEG_NONE;
    mk_neg_index r = MK_NEG_NONE;
    if (ix->cst) {
        size_t n = 0;
        if (!mk_type_numel(&ix->type, &n)) return MK_NEG_NONE;
        for (size_t i = 0; i < n && !r; i++)
            if (mk_const_get_i64(ix, i) < 0) {
                *first = mk_const_get_i64(ix, i);
                r = MK_NEG_CONST;
            }
    } else if (!guarded(ix) && (ix->type.dtype == MK_DT_INT32 || ix->type.dtype == MK_DT_INT16 ||
                                ix->type.dtype == MK_DT_INT8 || ix->type.dtype == MK_DT_INT64)) {
        r = MK_NEG_RUNTIME;
    }
    if (!r) return r;
    const mk_value *x = mk_ir_arg(op, "x");
    int32_t axis = 0;
    *fixable =
        (op->kind == MK_OP_GATHER || (op->kind == MK_OP_GATHER_ALONG_AXIS && r == MK_NEG_CONST)) &&
        x && x->type.rank >= 1 && ix->type.dtype == MK_DT_INT32 &&
        (!mk_ir_arg(op, "axis") || mk_ir_arg_i32(op, "axis", &axis));
    if (*fixable && axis < 0) axis += x->type.rank;
    *fixable = *fixable && axis >= 0 && axis < x->type.rank && x->type.dims[axis] > 0 &&
               x->type.dims[axis] <= INT32_MAX;
    return r;
}
