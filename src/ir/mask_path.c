/* The ops a large negative mask value flows through on its way to an additive softmax mask
 * or an fp16 cast (H14): dtype changes, scaling by a constant, selects and broadcasts. One
 * predicate for the lint rule that finds such a mask and the fix that clips it. */
#include "ir.h"

int mk_ir_mask_path_op(mk_op_kind k)
{
    static const mk_op_kind path[] = {
        MK_OP_CAST,           MK_OP_MUL,           MK_OP_ADD,      MK_OP_SUB,     MK_OP_SELECT,
        MK_OP_EXPAND_DIMS,    MK_OP_RESHAPE,       MK_OP_SQUEEZE,  MK_OP_TILE,    MK_OP_TRANSPOSE,
        MK_OP_SLICE_BY_INDEX, MK_OP_SLICE_BY_SIZE, MK_OP_CONCAT,   MK_OP_MINIMUM, MK_OP_MAXIMUM,
        MK_OP_FILL,           MK_OP_FILL_LIKE,     MK_OP_IDENTITY,
    };
    return mk_ir_op_in(k, path, (int)(sizeof path / sizeof *path));
}
