/* Symptom: instance_norm on a rank-5 tensor [N, C, D, H, W] aborts on the GPU (MPS
 *          reductions support axis <= 3); the CPU works.
 * Scope: instance_norm whose x is rank 5 with a static shape.
 * Evidence: H32 (coremltools issue #2667).
 * Rewrite: reshape x to [N, C, D*H, W], instance_norm (same gamma, beta, epsilon), reshape
 *          back: the normalisation set (all of D, H, W per instance and channel) is
 *          unchanged. */
#include "passes_int.h"

static mk_value *reshape(pb *b, mk_value *x, int r, const int64_t *dims)
{
    int32_t d[5];
    for (int i = 0; i < r; i++) d[i] = (int32_t)dims[i];
    mk_op *op = pb_op(b, MK_OP_RESHAPE, "h32_reshape");
    pb_in(b, op, "x", x);
    pb_in(b, op, "shape", pb_i32s(b, "h32_shape", r, d));
    return pb_emit(b, op);
}

static int rewrite(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    mk_value *x = mk_ir_arg(op, "x");
    if (op->kind != MK_OP_INSTANCE_NORM || !x || x->type.rank != 5 ||
        !mk_type_is_static(&x->type))
        return 0;
    const int64_t *d = x->type.dims;
    if (d[2] * d[3] > INT32_MAX) return 0;
    int64_t d4[4] = {d[0], d[1], d[2] * d[3], d[4]};
    pb b;
    pb_init(&b, p, op, e);
    mk_op *n = pb_op(&b, MK_OP_INSTANCE_NORM, "h32_instance_norm");
    pb_in(&b, n, "x", reshape(&b, x, 4, d4));
    static const char *const skip[] = {"x", NULL};
    pb_copy_inputs(&b, op, n, skip);
    mk_value *y = reshape(&b, pb_emit(&b, n), 5, d);
    pb_replace(&b, op->outputs[0], y);
    return pb_done(&b, 1);
}

int mk_pass_fix_instance_norm_5d(mk_program *p, mk_err *e)
{
    return pass_each_op(p, rewrite, NULL, e);
}
