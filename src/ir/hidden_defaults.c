/* The MIL defaults that differ from the source frameworks' (H15 epsilons of inverse, rsqrt and
 * log; H16 resampling modes; H39 gelu's mode): one table for the lint rules that report an
 * unbound one and fix_explicit_params, which binds it. */
#include "ir.h"

static const mk_hidden_default defaults[] = {
    {MK_OP_INVERSE, "epsilon", 'f', 1e-4, NULL, "1e-4"},
    {MK_OP_RSQRT, "epsilon", 'f', 1e-12, NULL, "1e-12"},
    {MK_OP_LOG, "epsilon", 'f', 1e-45, NULL, "1e-45"},
    {MK_OP_UPSAMPLE_BILINEAR, "align_corners", 'b', 1, NULL, "true"},
    {MK_OP_RESIZE_BILINEAR, "sampling_mode", 's', 0, "DEFAULT", "DEFAULT"},
    {MK_OP_GELU, "mode", 's', 0, "EXACT", "EXACT"},
};

const mk_hidden_default *mk_ir_hidden_default(const mk_op *op)
{
    for (size_t i = 0; i < sizeof defaults / sizeof *defaults; i++) {
        const mk_hidden_default *d = &defaults[i];
        if (d->kind != op->kind || mk_ir_arg(op, d->param) || mk_ir_attr(op, d->param)) continue;
        const mk_value *x = mk_ir_arg(op, "x");
        if (d->type == 'f' && (!x || !mk_dtype_is_float(x->type.dtype))) continue;
        return d;
    }
    return NULL;
}
