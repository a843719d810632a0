/* Symptom: a 1-D conv_transpose with a bias adds the bias only to the first elements of
 *          each output channel on the Neural Engine (size-dependent, threshold unknown).
 * Scope: every conv_transpose whose x has rank 3 and whose bias is bound and not all zero.
 * Evidence: H1 (docs/hazards.md; MNN Core ML backend author's report, BigVGAN upsampler).
 * Rewrite: (a) expand_dims(x, -1) -> conv_transpose with weight [Cin, Cout/g, K, 1],
 *          strides [s, 1], dilations [d, 1], pad [p0, p1, 0, 0] -> squeeze(-1); (b, the
 *          fallback pass) conv_transpose without bias + add of a [C, 1] constant. */
#include <string.h>

#include "passes_int.h"

static int is_target(const mk_op *op)
{
    int fixable = 0;
    return mk_ir_conv_transpose_1d_bias(op, &fixable);
}

/* A 1-D int parameter extended by one trailing value (ext) per spatial axis. */
static mk_value *lift_param(pb *b, const mk_op *op, const char *param, int pairs, int ext)
{
    int64_t v[4];
    int n = 0;
    if (!mk_ir_arg_i64s(op, param, v, 4, &n)) return NULL;
    int32_t o[8];
    for (int i = 0; i < n; i++) o[i] = (int32_t)v[i];
    for (int i = 0; i < pairs; i++) o[n + i] = ext;
    char nm[64];
    snprintf(nm, sizeof nm, "h1_%s", param);
    return mk_pb_i32s(b, nm, n + pairs, o);
}

static const char *const lifted[] = {"strides", "dilations", "pad", "output_shape"};

static int lift(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    int fixable = 0;
    if (!mk_ir_conv_transpose_1d_bias(op, &fixable) || !fixable) return 0;
    pb b;
    mk_pb_init(&b, p, op, e);
    mk_value *x = mk_ir_arg(op, "x"), *w = mk_ir_arg(op, "weight");
    mk_value *ax = mk_pb_i32s(&b, "h1_axes", 1, (int32_t[]){-1});
    mk_op *ex = mk_pb_op(&b, MK_OP_EXPAND_DIMS, "h1_x_2d");
    mk_pb_in(&b, ex, "x", x);
    mk_pb_in(&b, ex, "axes", ax);
    mk_value *x2 = mk_pb_emit(&b, ex);
    mk_value *w2;
    if (w->cst) {
        mk_type t = w->type;
        t.rank = 4;
        t.dims[3] = 1;
        w2 = mk_pb_const_borrow(&b, "h1_weight_2d", &t, w->cst->data, w->cst->nbytes);
    } else {
        mk_op *ew = mk_pb_op(&b, MK_OP_EXPAND_DIMS, "h1_weight_2d");
        mk_pb_in(&b, ew, "x", w);
        mk_pb_in(&b, ew, "axes", ax);
        w2 = mk_pb_emit(&b, ew);
    }
    mk_op *ct = mk_pb_op(&b, MK_OP_CONV_TRANSPOSE, "h1_conv_transpose_2d");
    mk_pb_in(&b, ct, "x", x2);
    mk_pb_in(&b, ct, "weight", w2);
    static const char *const keep[] = {"x",   "weight",       "strides", "dilations",
                                       "pad", "output_shape", NULL};
    mk_pb_copy_inputs(&b, op, ct, keep);
    for (int i = 0; i < 4; i++) {
        if (!mk_ir_arg(op, lifted[i])) continue;
        /* pad gains [0, 0]; strides, dilations and output_shape gain a trailing 1 */
        mk_pb_in(&b, ct, lifted[i], lift_param(&b, op, lifted[i], i == 2 ? 2 : 1, i == 2 ? 0 : 1));
    }
    mk_value *y2 = mk_pb_emit(&b, ct);
    mk_op *sq = mk_pb_op(&b, MK_OP_SQUEEZE, "h1_squeeze");
    mk_pb_in(&b, sq, "x", y2);
    mk_pb_in(&b, sq, "axes", ax);
    mk_value *y = mk_pb_emit(&b, sq);
    mk_pb_replace(&b, op->outputs[0], y);
    return mk_pb_done(&b, 1);
}

int mk_pass_fix_conv_transpose_1d(mk_program *p, mk_err *e)
{
    return mk_pass_each_op(p, lift, NULL, e);
}

static int split_bias(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    if (!is_target(op)) return 0;
    mk_value *bias = mk_ir_arg(op, "bias");
    if (!bias->cst || bias->type.rank != 1) return 0;
    pb b;
    mk_pb_init(&b, p, op, e);
    mk_op *ct = mk_pb_op(&b, MK_OP_CONV_TRANSPOSE, "h1_conv_transpose_nobias");
    static const char *const skip[] = {"bias", NULL};
    mk_pb_copy_inputs(&b, op, ct, skip);
    mk_value *y0 = mk_pb_emit(&b, ct);
    mk_type t = bias->type;
    t.rank = 2;
    t.dims[1] = 1;
    mk_value *b2 = mk_pb_const_borrow(&b, "h1_bias_c1", &t, bias->cst->data, bias->cst->nbytes);
    mk_value *y = mk_pb_binary(&b, MK_OP_ADD, "h1_add_bias", y0, b2);
    mk_pb_replace(&b, op->outputs[0], y);
    return mk_pb_done(&b, 1);
}

int mk_pass_fix_conv_transpose_1d_bias(mk_program *p, mk_err *e)
{
    return mk_pass_each_op(p, split_bias, NULL, e);
}
