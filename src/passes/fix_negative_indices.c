/* Symptom: from the iOS17 opset, negative gather/scatter indices count as out of bounds and
 *          give undefined results (ONNX allows them).
 * Scope: gather / gather_along_axis whose x has a static size along a constant axis; with
 *        constant int32 indices holding a negative value, or (gather only) run-time int32
 *        indices.
 * Evidence: H6 (coremltools iOS17 scatter_gather op docs and its pass
 *           guard_negative_gather_indices; coremltools PR #2794).
 * Rewrite: constant indices: a new constant with the axis size added to negative entries.
 *          Run-time: indices -> select(greater_equal(i, 0), i, add(i, dim)). */
#include "passes_int.h"

static int rewrite(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    int64_t first;
    int fixable = 0;
    mk_neg_index r = mk_ir_negative_indices(op, mk_ir_op_ios(op), &first, &fixable);
    if (!r || !fixable) return 0;
    mk_value *x = mk_ir_arg(op, "x"), *ix = mk_ir_arg(op, "indices");
    int32_t axis = 0;
    mk_ir_arg_i32(op, "axis", &axis);
    if (axis < 0) axis += x->type.rank;
    int32_t dim = (int32_t)x->type.dims[axis];
    pb b;
    mk_pb_init(&b, p, op, e);
    if (r == MK_NEG_CONST) {
        size_t n = 0;
        mk_type_numel(&ix->type, &n);
        int32_t *buf = mk_arena_array(p->arena, n ? n : 1, sizeof *buf);
        if (!buf) {
            MK_OOM(e);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            int64_t v = mk_const_get_i64(ix, i);
            buf[i] = (int32_t)(v < 0 ? v + dim : v);
        }
        mk_pb_set(&b, op, "indices", mk_pb_const_borrow(&b, "h6_indices", &ix->type, buf, n * 4));
        return mk_pb_done(&b, 1);
    }
    mk_value *ge =
        mk_pb_binary(&b, MK_OP_GREATER_EQUAL, "h6_nonneg", ix, mk_pb_i32(&b, "h6_zero", 0));
    mk_value *wrapped = mk_pb_binary(&b, MK_OP_ADD, "h6_wrapped", ix, mk_pb_i32(&b, "h6_dim", dim));
    mk_op *sel = mk_pb_op(&b, MK_OP_SELECT, "h6_indices");
    mk_pb_in(&b, sel, "cond", ge);
    mk_pb_in(&b, sel, "a", ix);
    mk_pb_in(&b, sel, "b", wrapped);
    mk_pb_set(&b, op, "indices", mk_pb_emit(&b, sel));
    return mk_pb_done(&b, 1);
}

int mk_pass_fix_negative_indices(mk_program *p, mk_err *e)
{
    return mk_pass_each_op(p, rewrite, NULL, e);
}
