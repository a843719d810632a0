/* Symptom: on the Neural Engine, linear is lowered less efficiently than a 1x1 conv and
 *          "may fall back to CPU"; every Apple Neural Engine port replaces it.
 * Scope: float linear with a constant 2-D weight on a rank-3 (B, S, C) x. Opt-in only
 *        (--ane-layout): it adds transposes unless the whole block is kept in BC1S.
 * Evidence: H25 (apple/ml-ane-transformers, apple/ml-stable-diffusion linear_to_conv2d_map,
 *           whisper.cpp Core ML converter).
 * Rewrite: transpose(x, [0,2,1]) -> expand_dims(axis 2) = (B, C, 1, S) -> conv with weight
 *          [O, C, 1, 1] (the same payload) and the same bias -> squeeze(2) -> transpose
 *          back. Exactly the same math. */
#include "passes_int.h"

static mk_value *transpose(pb *b, mk_value *x)
{
    mk_op *op = pb_op(b, MK_OP_TRANSPOSE, "h25_transpose");
    pb_in(b, op, "x", x);
    pb_in(b, op, "perm", pb_i32s(b, "h25_perm", 3, (int32_t[]){0, 2, 1}));
    return pb_emit(b, op);
}

static int rewrite(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    mk_value *x = mk_ir_arg(op, "x"), *w = mk_ir_arg(op, "weight");
    if (op->kind != MK_OP_LINEAR || !x || !w || !w->cst || w->type.rank != 2 || x->type.rank != 3 ||
        !mk_dtype_is_float(x->type.dtype))
        return 0;
    pb b;
    pb_init(&b, p, op, e);
    mk_op *ex = pb_op(&b, MK_OP_EXPAND_DIMS, "h25_bc1s");
    pb_in(&b, ex, "x", transpose(&b, x));
    pb_in(&b, ex, "axes", pb_i32s(&b, "h25_axis", 1, (int32_t[]){2}));
    mk_value *x4 = pb_emit(&b, ex);
    mk_type wt = w->type;
    wt.rank = 4;
    wt.dims[2] = wt.dims[3] = 1;
    mk_op *cv = pb_op(&b, MK_OP_CONV, "h25_conv1x1");
    pb_in(&b, cv, "x", x4);
    pb_in(&b, cv, "weight", pb_const_borrow(&b, "h25_weight", &wt, w->cst->data, w->cst->nbytes));
    if (mk_ir_arg(op, "bias")) pb_in(&b, cv, "bias", mk_ir_arg(op, "bias"));
    pb_in(&b, cv, "strides", pb_i32s(&b, "h25_strides", 2, (int32_t[]){1, 1}));
    pb_in(&b, cv, "pad_type", pb_str(&b, "h25_pad_type", "valid"));
    pb_in(&b, cv, "pad", pb_i32s(&b, "h25_pad", 4, (int32_t[]){0, 0, 0, 0}));
    pb_in(&b, cv, "dilations", pb_i32s(&b, "h25_dilations", 2, (int32_t[]){1, 1}));
    pb_in(&b, cv, "groups", pb_i32(&b, "h25_groups", 1));
    mk_op *sq = pb_op(&b, MK_OP_SQUEEZE, "h25_squeeze");
    pb_in(&b, sq, "x", pb_emit(&b, cv));
    pb_in(&b, sq, "axes", pb_i32s(&b, "h25_axis", 1, (int32_t[]){2}));
    mk_value *y = transpose(&b, pb_emit(&b, sq));
    pb_replace(&b, op->outputs[0], y);
    return pb_done(&b, 1);
}

int mk_pass_fix_linear_to_conv(mk_program *p, mk_err *e)
{
    return pass_each_op(p, rewrite, NULL, e);
}
