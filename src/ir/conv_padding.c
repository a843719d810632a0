/* H2's trigger, shared by the lint rule and fix_conv_padding(_explicit): a conv with custom
 * padding, a static input and constant geometry whose declared trailing pad on some axis is
 * more than its last window uses (ML Programs then get the last row/column wrong). */
#include <string.h>

#include "ir.h"

int mk_ir_conv_unused_pad(const mk_op *op, mk_conv_pad *g)
{
    const mk_value *x = mk_ir_arg(op, "x"), *w = mk_ir_arg(op, "weight");
    const char *pt = mk_ir_arg_str(op, "pad_type");
    if (op->kind != MK_OP_CONV || !x || !w || !pt || strcmp(pt, "custom") != 0) return 0;
    if (x->type.rank < 3 || x->type.rank > 5 || w->type.rank != x->type.rank) return 0;
    memset(g, 0, sizeof *g);
    g->ns = x->type.rank - 2;
    g->axis = -1;
    int64_t in[3], k[3], s[3] = {1, 1, 1}, d[3] = {1, 1, 1};
    int n;
    for (int i = 0; i < g->ns; i++) {
        in[i] = x->type.dims[2 + i];
        k[i] = w->type.dims[2 + i];
        if (in[i] < 0 || k[i] <= 0) return 0;
    }
    if (mk_ir_arg(op, "strides") && !(mk_ir_arg_i64s(op, "strides", s, 3, &n) && n == g->ns))
        return 0;
    if (mk_ir_arg(op, "dilations") && !(mk_ir_arg_i64s(op, "dilations", d, 3, &n) && n == g->ns))
        return 0;
    if (!mk_ir_arg_i64s(op, "pad", g->pad, 6, &n) || n != 2 * g->ns) return 0;
    for (int i = 0; i < g->ns; i++) {
        if (s[i] <= 0 || d[i] <= 0) return 0;
        int64_t keff = (k[i] - 1) * d[i] + 1, pbeg = g->pad[2 * i], e = g->pad[2 * i + 1];
        int64_t span = in[i] + pbeg + e - keff;
        if (span < 0) return 0;
        int64_t need = (span / s[i]) * s[i] + keff - in[i] - pbeg;
        if (need < 0) need = 0;
        g->need[i] = need < e ? need : e;
        if (need < e && g->axis < 0) g->axis = i;
    }
    return g->axis >= 0;
}
