/* H27's pooling trigger, shared by the lint rule and fix_global_pool: a pool with constant
 * geometry on a static input whose kernel exceeds 13 or stride exceeds 2 on some axis (old
 * Neural Engine limits); a global avg/max pool (kernel = input, no padding) is exactly a
 * reduction over the spatial axes. */
#include <string.h>

#include "ir.h"

int mk_ir_pool_ne_limit(const mk_op *op, int *axis, int64_t *k_out, int64_t *s_out, int *global)
{
    if (op->kind != MK_OP_AVG_POOL && op->kind != MK_OP_MAX_POOL && op->kind != MK_OP_L2_POOL)
        return 0;
    const mk_value *x = mk_ir_arg(op, "x");
    if (!x || x->type.rank < 3 || x->type.rank > 5) return 0;
    int ns = x->type.rank - 2, n = 0;
    int64_t k[3], s[3] = {1, 1, 1}, pad[6] = {0};
    if (!mk_ir_arg_i64s(op, "kernel_sizes", k, 3, &n) || n != ns) return 0;
    if (mk_ir_arg(op, "strides") && (!mk_ir_arg_i64s(op, "strides", s, 3, &n) || n != ns)) return 0;
    const char *pt = mk_ir_arg_str(op, "pad_type");
    int pads_ok = !pt || strcmp(pt, "valid") == 0;
    if (pt && strcmp(pt, "custom") == 0)
        pads_ok = mk_ir_arg_i64s(op, "pad", pad, 6, &n) && n == 2 * ns;
    *axis = -1;
    *global = op->kind != MK_OP_L2_POOL && pads_ok;
    for (int i = 0; i < ns; i++) {
        if (x->type.dims[2 + i] < 0 || k[i] <= 0 || s[i] <= 0) return 0;
        if (*axis < 0 && (k[i] > 13 || s[i] > 2)) {
            *axis = i;
            *k_out = k[i];
            *s_out = s[i];
        }
        *global &= k[i] == x->type.dims[2 + i] && !pad[2 * i] && !pad[2 * i + 1];
    }
    return *axis >= 0;
}
