/* H5's slice_update form, shared by the lint rule and fix_slice_update: a static x and update,
 * constant begin/end inside x, stride 1, no masks, fp32/fp16/int32 data of at most 2^28
 * elements, and an update shaped like the box (or a scalar for a one-element box) can become
 * pad + select with a constant mask. */
#include "ir.h"

static int flags_clear(const mk_op *op, const char *param)
{
    int64_t v[MK_MAX_RANK];
    int n = 0;
    if (!mk_ir_arg(op, param) && !mk_ir_attr(op, param)) return 1;
    if (!mk_ir_arg_i64s(op, param, v, MK_MAX_RANK, &n)) return 0;
    for (int i = 0; i < n; i++)
        if (v[i]) return 0;
    return 1;
}

int mk_ir_slice_update_box(const mk_op *op, int64_t *bg, int64_t *box)
{
    const mk_value *x = mk_ir_arg(op, "x"), *u = mk_ir_arg(op, "update");
    if (op->kind != MK_OP_SLICE_UPDATE || !x || !u || !mk_type_is_static(&x->type) ||
        !mk_type_is_static(&u->type))
        return 0;
    if (!flags_clear(op, "begin_mask") || !flags_clear(op, "end_mask") ||
        !flags_clear(op, "squeeze_mask"))
        return 0;
    int r = x->type.rank, nb = 0, ne = 0, ns = 0;
    int64_t en[MK_MAX_RANK], st[MK_MAX_RANK];
    if (r < 1 || !mk_ir_arg_i64s(op, "begin", bg, MK_MAX_RANK, &nb) ||
        !mk_ir_arg_i64s(op, "end", en, MK_MAX_RANK, &ne) || nb != r || ne != r)
        return 0;
    if (mk_ir_arg(op, "stride") || mk_ir_attr(op, "stride")) {
        if (!mk_ir_arg_i64s(op, "stride", st, MK_MAX_RANK, &ns) || ns != r) return 0;
        for (int i = 0; i < r; i++)
            if (st[i] != 1) return 0;
    }
    if (x->type.dtype != MK_DT_FP32 && x->type.dtype != MK_DT_FP16 && x->type.dtype != MK_DT_INT32)
        return 0;
    int all_one = 1;
    for (int i = 0; i < r; i++) {
        int64_t d = x->type.dims[i];
        if (bg[i] < 0) bg[i] += d;
        if (en[i] < 0) en[i] += d;
        if (bg[i] < 0 || en[i] > d || bg[i] >= en[i]) return 0;
        box[i] = en[i] - bg[i];
        all_one &= box[i] == 1;
    }
    if (u->type.rank == 0 ? !all_one : u->type.rank != r) return 0;
    for (int i = 0; i < u->type.rank; i++)
        if (u->type.dims[i] != box[i]) return 0;
    size_t n = 0;
    return mk_type_numel(&x->type, &n) && n <= ((size_t)1 << 28);
}
