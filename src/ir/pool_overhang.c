/* The H17 trigger, shared by the lint rule and its opt-in rewrite so both agree: an avg_pool
 * with ceil_mode=true and exclude_padding_from_average=false whose last window on some
 * spatial axis hangs past the input plus its explicit pads. Reads constant parameters only;
 * builds and changes nothing. */
#include <string.h>

#include "ir.h"

int mk_ir_avg_pool_overhang(const mk_op *op, mk_pool_overhang *out)
{
    mk_pool_overhang g;
    memset(&g, 0, sizeof g);
    g.axis = -1;
    if (out) *out = g;
    const mk_value *x = op->kind == MK_OP_AVG_POOL ? mk_ir_arg(op, "x") : NULL;
    if (!x || x->type.rank < 3 || x->type.rank > 5) return 0;
    int ceil_mode = 0, excl = 0;
    if (!mk_ir_arg_bool(op, "ceil_mode", &ceil_mode) || !ceil_mode) return 0;
    mk_ir_arg_bool(op, "exclude_padding_from_average", &excl);
    if (excl) return 0;
    g.ns = x->type.rank - 2;
    int64_t v[6];
    int n;
    for (int i = 0; i < g.ns; i++) {
        g.in[i] = x->type.dims[2 + i];
        g.s[i] = 1;
        if (g.in[i] < 0) return 0;
    }
    if (!mk_ir_arg_i64s(op, "kernel_sizes", v, 3, &n) || n != g.ns) return 0;
    for (int i = 0; i < n; i++) g.k[i] = v[i];
    if (mk_ir_arg_i64s(op, "strides", v, 3, &n) && n == g.ns)
        for (int i = 0; i < n; i++) g.s[i] = v[i];
    const char *pt = mk_ir_arg_str(op, "pad_type");
    g.custom = pt && strcmp(pt, "custom") == 0;
    g.valid = !pt || strcmp(pt, "valid") == 0;
    if (g.custom && mk_ir_arg_i64s(op, "pad", v, 6, &n) && n == 2 * g.ns)
        for (int i = 0; i < 2 * g.ns; i++) g.pad[i] = v[i];
    for (int i = 0; i < g.ns; i++) {
        if (g.k[i] <= 0 || g.s[i] <= 0 || g.pad[2 * i] < 0 || g.pad[2 * i + 1] < 0) return 0;
        g.explicit_pads |= g.pad[2 * i] != 0 || g.pad[2 * i + 1] != 0;
    }
    /* the output size the program declares (what the interpreter computes), else the MIL
     * ceil_mode formula */
    const mk_value *y = op->n_outputs > 0 ? op->outputs[0] : NULL;
    int known = y && y->type.rank == x->type.rank;
    for (int i = 0; i < g.ns && g.axis < 0; i++) {
        int64_t padded = g.in[i] + g.pad[2 * i] + g.pad[2 * i + 1], span = padded - g.k[i];
        if (span < 0) continue;
        int64_t o = (span + g.s[i] - 1) / g.s[i] + 1;
        if (known && y->type.dims[2 + i] > 0) o = y->type.dims[2 + i];
        if ((o - 1) * g.s[i] + g.k[i] > padded) g.axis = i;
    }
    if (out) *out = g;
    return g.axis >= 0;
}
