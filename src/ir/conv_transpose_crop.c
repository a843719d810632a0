/* H3's trigger, shared by the lint rule and fix_conv_transpose_pad: a conv_transpose with
 * output_shape or asymmetric custom padding; with constant geometry and static sizes whose
 * wanted window lies inside the full (unpadded) result it becomes a valid conv_transpose and a
 * crop (slice_by_index begin/end on the spatial axes). */
#include <string.h>

#include "ir.h"

int mk_ir_conv_transpose_crop(const mk_op *op, mk_ct_crop *c)
{
    memset(c, 0, sizeof *c);
    c->axis = -1;
    if (op->kind != MK_OP_CONV_TRANSPOSE || !op->n_outputs) return 0;
    const mk_value *x = mk_ir_arg(op, "x"), *w = mk_ir_arg(op, "weight");
    const char *pt = mk_ir_arg_str(op, "pad_type");
    if (!pt) pt = "valid";
    int custom = strcmp(pt, "custom") == 0, ns = x && x->type.rank >= 3 ? x->type.rank - 2 : 0;
    int64_t s[3] = {1, 1, 1}, d[3] = {1, 1, 1}, pad[6] = {0}, v[6];
    int n, ok = x && w && ns >= 1 && ns <= 3 && (custom || strcmp(pt, "valid") == 0);
    if (custom && mk_ir_arg(op, "pad")) {
        ok = ok && mk_ir_arg_i64s(op, "pad", v, 6, &n) && n == 2 * ns;
        if (ok) memcpy(pad, v, sizeof(int64_t) * (size_t)n);
    }
    if (mk_ir_arg(op, "output_shape") || mk_ir_attr(op, "output_shape"))
        c->form = MK_CT_OUTPUT_SHAPE;
    for (int i = 0; i < ns && ok && !c->form; i++)
        if (pad[2 * i] != pad[2 * i + 1]) {
            c->form = MK_CT_ASYMMETRIC;
            c->axis = i;
            c->pb = pad[2 * i];
            c->pe = pad[2 * i + 1];
        }
    if (!c->form) return 0;
    const mk_type *yt = &op->outputs[0]->type;
    ok = ok && yt->rank == x->type.rank;
    if (ok && mk_ir_arg(op, "strides")) ok = mk_ir_arg_i64s(op, "strides", s, 3, &n) && n == ns;
    if (ok && mk_ir_arg(op, "dilations")) ok = mk_ir_arg_i64s(op, "dilations", d, 3, &n) && n == ns;
    for (int i = 0; i < ns && ok; i++) {
        int64_t in = x->type.dims[2 + i], k = w->type.dims[2 + i], out = yt->dims[2 + i];
        ok = in >= 0 && k > 0 && out >= 0 && s[i] > 0 && d[i] > 0;
        int64_t full = ok ? (in - 1) * s[i] + (k - 1) * d[i] + 1 : 0;
        ok = ok && pad[2 * i] + out <= full && full <= INT32_MAX; /* else zero padding needed */
        c->beg[2 + i] = (int32_t)pad[2 * i];
        c->end[2 + i] = (int32_t)(pad[2 * i] + out);
    }
    c->fixable = ok;
    return c->form;
}
