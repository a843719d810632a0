/* The ops a large negative mask value flows through on its way to an additive softmax mask
 * or an fp16 cast (H14): dtype changes, scaling by a constant, selects and broadcasts. One
 * predicate for the lint rule that finds such a mask and the fix that clips it. */
#include "ir.h"

int mk_ir_mask_path_op(mk_op_kind k)
{
    switch (k) {
    case MK_OP_CAST:
    case MK_OP_MUL:
    case MK_OP_ADD:
    case MK_OP_SUB:
    case MK_OP_SELECT:
    case MK_OP_EXPAND_DIMS:
    case MK_OP_RESHAPE:
    case MK_OP_SQUEEZE:
    case MK_OP_TILE:
    case MK_OP_TRANSPOSE:
    case MK_OP_SLICE_BY_INDEX:
    case MK_OP_SLICE_BY_SIZE:
    case MK_OP_CONCAT:
    case MK_OP_MINIMUM:
    case MK_OP_MAXIMUM:
    case MK_OP_FILL:
    case MK_OP_FILL_LIKE:
    case MK_OP_IDENTITY: return 1;
    default: return 0;
    }
}
