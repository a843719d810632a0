/* Symptom: instance_norm on a rank-5 tensor [N, C, D, H, W] aborts on the GPU (MPS
 *          reductions support axis <= 3); the CPU works. MIL's instance_norm takes rank 3-4,
 *          so in valid programs the case arrives decomposed into reductions over D, H, W.
 * Scope: a static rank-5 x under instance_norm, or under reduce_mean/reduce_sum whose
 *        constant axes are exactly the three spatial axes.
 * Evidence: H32 (coremltools issue #2667).
 * Rewrite: instance_norm: reshape x to [N, C, D*H, W], instance_norm (same gamma, beta,
 *          epsilon), reshape back. Reductions: reshape x to [N, C, D*H*W], reduce axis 2
 *          (same keep_dims), reshape to [N, C, 1, 1, 1] when keep_dims. The reduced set is
 *          unchanged in both. */
#include "passes_int.h"

static mk_value *reshape(pb *b, mk_value *x, int r, const int64_t *dims)
{
    int32_t d[5];
    for (int i = 0; i < r; i++) d[i] = (int32_t)dims[i];
    mk_op *op = mk_pb_op(b, MK_OP_RESHAPE, "h32_reshape");
    mk_pb_in(b, op, "x", x);
    mk_pb_in(b, op, "shape", mk_pb_i32s(b, "h32_shape", r, d));
    return mk_pb_emit(b, op);
}

static int rewrite_reduce(mk_program *p, mk_op *op, mk_err *e)
{
    mk_value *x = mk_ir_arg(op, "x");
    const int64_t *d = x->type.dims;
    int keep = 0;
    mk_ir_arg_bool(op, "keep_dims", &keep);
    int64_t d3[3] = {d[0], d[1], d[2] * d[3] * d[4]}, d5[5] = {d[0], d[1], 1, 1, 1};
    pb b;
    mk_pb_init(&b, p, op, e);
    mk_op *r = mk_pb_op(&b, op->kind, "h32_reduce");
    mk_pb_in(&b, r, "x", reshape(&b, x, 3, d3));
    mk_pb_in(&b, r, "axes", mk_pb_i32s(&b, "h32_axes", 1, (int32_t[]){2}));
    mk_pb_in(&b, r, "keep_dims", mk_pb_bool(&b, "h32_keep", keep));
    mk_value *y = mk_pb_emit(&b, r);
    if (keep) y = reshape(&b, y, 5, d5);
    mk_pb_replace(&b, op->outputs[0], y);
    return mk_pb_done(&b, 1);
}

static int rewrite(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    int fixable = 0;
    if (!mk_ir_rank5_spatial(op, &fixable) || !fixable) return 0;
    if (op->kind != MK_OP_INSTANCE_NORM) return rewrite_reduce(p, op, e);
    mk_value *x = mk_ir_arg(op, "x");
    const int64_t *d = x->type.dims;
    int64_t d4[4] = {d[0], d[1], d[2] * d[3], d[4]};
    pb b;
    mk_pb_init(&b, p, op, e);
    mk_op *n = mk_pb_op(&b, MK_OP_INSTANCE_NORM, "h32_instance_norm");
    mk_pb_in(&b, n, "x", reshape(&b, x, 4, d4));
    static const char *const skip[] = {"x", NULL};
    mk_pb_copy_inputs(&b, op, n, skip);
    mk_value *y = reshape(&b, mk_pb_emit(&b, n), 5, d);
    mk_pb_replace(&b, op->outputs[0], y);
    return mk_pb_done(&b, 1);
}

int mk_pass_fix_instance_norm_5d(mk_program *p, mk_err *e)
{
    return mk_pass_each_op(p, rewrite, NULL, e);
}
