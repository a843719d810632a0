/* Symptom: scatter, scatter_nd and scatter_along_axis leave the Neural Engine (CPU fallback
 *          splits the partition).
 * Scope: the three scatters with constant in-range indices, static data/updates shapes, data of
 *        at most 2^24 elements, fp16/fp32 data (int32 for mode update); modes other than update
 *        only without duplicate indices (mk_ir_scatter_map decides, shared with lint H5).
 * Evidence: H5 (coremltools frontend/torch/ops.py comment: scatter_nd "falls off ANE").
 * Rewrite: placed = gather(reshape(updates, [M]), const src shaped like data, axis 0);
 *          y = select(const mask, op(data, placed), data), op = placed itself for update,
 *          else add/sub/mul/real_div/maximum/minimum (the select is dropped when every element
 *          is written). Cost: one gather, one elementwise op, one select. */
#include <string.h>

#include "passes_int.h"

static mk_op_kind mode_op(int mode)
{
    static const mk_op_kind k[] = {MK_OP__COUNT,   MK_OP_ADD,     MK_OP_SUB,    MK_OP_MUL,
                                   MK_OP_REAL_DIV, MK_OP_MAXIMUM, MK_OP_MINIMUM};
    return mode >= 1 && mode <= 6 ? k[mode] : MK_OP__COUNT;
}

static int rewrite(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    if (op->kind != MK_OP_SCATTER && op->kind != MK_OP_SCATTER_ND &&
        op->kind != MK_OP_SCATTER_ALONG_AXIS)
        return 0;
    int ok = mk_ir_scatter_map(op, p->alloc, NULL, NULL);
    if (ok < 0) {
        MK_OOM(e);
        return -1;
    }
    if (!ok) return 0;
    mk_value *d = mk_ir_arg(op, "data"), *u = mk_ir_arg(op, "updates");
    int mode = mk_ir_scatter_mode(op);
    size_t n = 0, nu = 0, nb = 0;
    if (!mk_type_numel(&d->type, &n) || !mk_type_numel(&u->type, &nu) ||
        !mk_mul_size(n, sizeof(int32_t), &nb))
        return 0;
    int32_t *src = mk_arena_alloc(p->arena, nb ? nb : 1);
    uint8_t *mask = mk_arena_alloc(p->arena, n ? n : 1);
    if (!src || !mask) {
        MK_OOM(e);
        return -1;
    }
    if (mk_ir_scatter_map(op, p->alloc, src, NULL) != 1) return 0;
    int all = 1;
    for (size_t i = 0; i < n; i++) {
        mask[i] = src[i] >= 0;
        all &= mask[i];
        if (src[i] < 0) src[i] = 0;
    }
    pb b;
    mk_pb_init(&b, p, op, e);
    mk_value *u1 = u;
    if (u->type.rank != 1) {
        int32_t m = (int32_t)nu;
        mk_op *rs = mk_pb_op(&b, MK_OP_RESHAPE, "h5_updates_flat");
        mk_pb_in(&b, rs, "x", u);
        mk_pb_in(&b, rs, "shape", mk_pb_i32s(&b, "h5_updates_len", 1, &m));
        u1 = mk_pb_emit(&b, rs);
    }
    mk_type it = d->type, mt = d->type;
    it.dtype = MK_DT_INT32;
    mt.dtype = MK_DT_BOOL;
    mk_op *g = mk_pb_op(&b, MK_OP_GATHER, "h5_placed");
    mk_pb_in(&b, g, "x", u1);
    mk_pb_in(&b, g, "indices", mk_pb_const_borrow(&b, "h5_src", &it, src, nb));
    mk_pb_in(&b, g, "axis", mk_pb_i32(&b, "h5_axis", 0));
    mk_value *y = mk_pb_emit(&b, g);
    if (mode != 0) y = mk_pb_binary(&b, mode_op(mode), "h5_combine", d, y);
    if (!all) {
        mk_op *sel = mk_pb_op(&b, MK_OP_SELECT, "h5_select");
        mk_pb_in(&b, sel, "cond", mk_pb_const_borrow(&b, "h5_mask", &mt, mask, n));
        mk_pb_in(&b, sel, "a", y);
        mk_pb_in(&b, sel, "b", d);
        y = mk_pb_emit(&b, sel);
    }
    mk_pb_replace(&b, op->outputs[0], y);
    return mk_pb_done(&b, 1);
}

int mk_pass_fix_scatter(mk_program *p, mk_err *e)
{
    return mk_pass_each_op(p, rewrite, NULL, e);
}
