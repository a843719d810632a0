/* Symptom: pooling with a kernel larger than 13 (or stride > 2) was logged as leaving the
 *          Neural Engine; a global pool written as avg_pool/max_pool is the common case.
 * Scope: avg_pool/max_pool whose kernel equals the static spatial size, with no padding
 *        (pad_type valid, or custom with zero pads) and a kernel > 13 or stride > 2.
 * Evidence: H27 (hollance/neural-engine issues #1, #2 os_log lines; folklore-strength).
 * Rewrite: reduce_mean / reduce_max over the spatial axes with keep_dims=true - exactly the
 *          same numbers (a global avg_pool has no padding to exclude). */
#include <string.h>

#include "passes_int.h"

static int rewrite(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    int axis, global;
    int64_t k, s;
    if (!mk_ir_pool_ne_limit(op, &axis, &k, &s, &global) || !global) return 0;
    mk_value *x = mk_ir_arg(op, "x");
    int ns = x->type.rank - 2;
    int32_t axes[3];
    for (int i = 0; i < ns; i++) axes[i] = 2 + i;
    pb b;
    mk_pb_init(&b, p, op, e);
    mk_op *r = mk_pb_op(&b, op->kind == MK_OP_AVG_POOL ? MK_OP_REDUCE_MEAN : MK_OP_REDUCE_MAX,
                        "h27_global_pool");
    mk_pb_in(&b, r, "x", x);
    mk_pb_in(&b, r, "axes", mk_pb_i32s(&b, "h27_axes", ns, axes));
    mk_pb_in(&b, r, "keep_dims", mk_pb_bool(&b, "h27_keep", 1));
    mk_pb_replace(&b, op->outputs[0], mk_pb_emit(&b, r));
    return mk_pb_done(&b, 1);
}

int mk_pass_fix_global_pool(mk_program *p, mk_err *e)
{
    return mk_pass_each_op(p, rewrite, NULL, e);
}
