/* Symptom: slice_update (iOS18) leaves the Neural Engine, and with a rank-0 update it is not
 *          supported by the runtime at all; index assignment failed to declare in some models.
 * Scope: slice_update with a static x, a static update, constant begin/end, stride absent or
 *        all 1 and no begin/end/squeeze masks; the update has the slice's shape (or is a
 *        scalar written into a one-element slice).
 * Evidence: H5 (coremltools frontend/torch/ops.py comments, rdar://128221986; coremltools
 *           issue #2019).
 * Rewrite: y = select(mask, pad(update, [b_i, dim_i - e_i]...), x) with a constant bool
 *          mask that is true inside the slice. Cost: one pad and one select over x. */
#include <string.h>

#include "passes_int.h"

static int rewrite(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    int64_t bg[MK_MAX_RANK], box[MK_MAX_RANK];
    if (!mk_ir_slice_update_box(op, bg, box)) return 0;
    mk_value *x = mk_ir_arg(op, "x"), *u = mk_ir_arg(op, "update");
    int r = x->type.rank;
    size_t n = 0;
    mk_type_numel(&x->type, &n);
    uint8_t *mask = mk_arena_alloc(p->arena, n ? n : 1);
    if (!mask) {
        MK_OOM(e);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        size_t rem = i;
        int in = 1;
        for (int a = r - 1; a >= 0; a--) {
            int64_t c = (int64_t)(rem % (size_t)x->type.dims[a]);
            rem /= (size_t)x->type.dims[a];
            in &= c >= bg[a] && c < bg[a] + box[a];
        }
        mask[i] = (uint8_t)in;
    }
    pb b;
    mk_pb_init(&b, p, op, e);
    mk_value *upd = u;
    if (u->type.rank == 0) {
        int32_t ones[MK_MAX_RANK];
        for (int i = 0; i < r; i++) ones[i] = 1;
        mk_op *rs = mk_pb_op(&b, MK_OP_RESHAPE, "h5_update_1");
        mk_pb_in(&b, rs, "x", u);
        mk_pb_in(&b, rs, "shape", mk_pb_i32s(&b, "h5_ones", r, ones));
        upd = mk_pb_emit(&b, rs);
    }
    int32_t pads[2 * MK_MAX_RANK];
    for (int i = 0; i < r; i++) {
        pads[2 * i] = (int32_t)bg[i];
        pads[2 * i + 1] = (int32_t)(x->type.dims[i] - bg[i] - box[i]);
    }
    mk_op *pd = mk_pb_op(&b, MK_OP_PAD, "h5_place_update");
    mk_pb_in(&b, pd, "x", upd);
    mk_pb_in(&b, pd, "pad", mk_pb_i32s(&b, "h5_pad", 2 * r, pads));
    mk_pb_in(&b, pd, "mode", mk_pb_str(&b, "h5_mode", "constant"));
    mk_pb_in(&b, pd, "constant_val",
             x->type.dtype == MK_DT_INT32 ? mk_pb_i32(&b, "h5_zero", 0)
                                          : mk_pb_float(&b, "h5_zero", x->type.dtype, 0));
    mk_value *placed = mk_pb_emit(&b, pd);
    mk_type mt = x->type;
    mt.dtype = MK_DT_BOOL;
    mk_op *sel = mk_pb_op(&b, MK_OP_SELECT, "h5_select");
    mk_pb_in(&b, sel, "cond", mk_pb_const_borrow(&b, "h5_mask", &mt, mask, n));
    mk_pb_in(&b, sel, "a", placed);
    mk_pb_in(&b, sel, "b", x);
    mk_pb_replace(&b, op->outputs[0], mk_pb_emit(&b, sel));
    return mk_pb_done(&b, 1);
}

int mk_pass_fix_slice_update(mk_program *p, mk_err *e)
{
    return mk_pass_each_op(p, rewrite, NULL, e);
}
