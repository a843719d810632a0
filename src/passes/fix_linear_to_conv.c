/* Symptom: on the Neural Engine, linear is lowered less efficiently than a 1x1 conv and
 *          "may fall back to CPU"; every Apple Neural Engine port replaces it.
 * Scope: float linear with a constant 2-D weight on a rank-3 (B, S, C) x (mk_ir_linear_on_bsc,
 *        src/ir/ne_layout.c, shared with the lint rule). Opt-in only
 *        (--ane-layout): it adds transposes unless the whole block is kept in BC1S.
 * Evidence: H25 (apple/ml-ane-transformers, apple/ml-stable-diffusion linear_to_conv2d_map,
 *           whisper.cpp Core ML converter).
 * Rewrite: transpose(x, [0,2,1]) -> expand_dims(axis 2) = (B, C, 1, S) -> conv with weight
 *          [O, C, 1, 1] (the same payload) and the same bias -> squeeze(2) -> transpose
 *          back. Exactly the same math. */
#include "passes_int.h"

static mk_value *transpose(pb *b, mk_value *x)
{
    mk_op *op = mk_pb_op(b, MK_OP_TRANSPOSE, "h25_transpose");
    mk_pb_in(b, op, "x", x);
    mk_pb_in(b, op, "perm", mk_pb_i32s(b, "h25_perm", 3, (int32_t[]){0, 2, 1}));
    return mk_pb_emit(b, op);
}

static int rewrite(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    mk_value *x = mk_ir_arg(op, "x"), *w = mk_ir_arg(op, "weight");
    int fixable = 0;
    if (op->kind != MK_OP_LINEAR || !mk_ir_linear_on_bsc(op, &fixable) || !fixable) return 0;
    pb b;
    mk_pb_init(&b, p, op, e);
    mk_op *ex = mk_pb_op(&b, MK_OP_EXPAND_DIMS, "h25_bc1s");
    mk_pb_in(&b, ex, "x", transpose(&b, x));
    mk_pb_in(&b, ex, "axes", mk_pb_i32s(&b, "h25_axis", 1, (int32_t[]){2}));
    mk_value *x4 = mk_pb_emit(&b, ex);
    mk_type wt = w->type;
    wt.rank = 4;
    wt.dims[2] = wt.dims[3] = 1;
    mk_op *cv = mk_pb_op(&b, MK_OP_CONV, "h25_conv1x1");
    mk_pb_in(&b, cv, "x", x4);
    mk_pb_in(&b, cv, "weight",
             mk_pb_const_borrow(&b, "h25_weight", &wt, w->cst->data, w->cst->nbytes));
    if (mk_ir_arg(op, "bias")) mk_pb_in(&b, cv, "bias", mk_ir_arg(op, "bias"));
    mk_pb_in(&b, cv, "strides", mk_pb_i32s(&b, "h25_strides", 2, (int32_t[]){1, 1}));
    mk_pb_in(&b, cv, "pad_type", mk_pb_str(&b, "h25_pad_type", "valid"));
    mk_pb_in(&b, cv, "pad", mk_pb_i32s(&b, "h25_pad", 4, (int32_t[]){0, 0, 0, 0}));
    mk_pb_in(&b, cv, "dilations", mk_pb_i32s(&b, "h25_dilations", 2, (int32_t[]){1, 1}));
    mk_pb_in(&b, cv, "groups", mk_pb_i32(&b, "h25_groups", 1));
    mk_op *sq = mk_pb_op(&b, MK_OP_SQUEEZE, "h25_squeeze");
    mk_pb_in(&b, sq, "x", mk_pb_emit(&b, cv));
    mk_pb_in(&b, sq, "axes", mk_pb_i32s(&b, "h25_axis", 1, (int32_t[]){2}));
    mk_value *y = transpose(&b, mk_pb_emit(&b, sq));
    mk_pb_replace(&b, op->outputs[0], y);
    return mk_pb_done(&b, 1);
}

int mk_pass_fix_linear_to_conv(mk_program *p, mk_err *e)
{
    return mk_pass_each_op(p, rewrite, NULL, e);
}
