/* Lint rules on convolution and pooling geometry: H1 (1-D conv_transpose with bias), H2
 * (trailing conv padding no window uses), H3 (conv_transpose output_shape / asymmetric pads),
 * H17 (avg_pool ceil-mode overhang) and H27 (layer parameters the Neural Engine handles
 * badly). Only reads the IR; rewrites live in src/passes/fix_conv_*.c. */
#include <string.h>

#include "lint_int.h"

typedef struct geom {
    int ns; /* spatial rank */
    int64_t in[3], k[3], s[3], d[3], pb[3], pe[3];
    const char *pad_type;
} geom;

/* Geometry of a conv/conv_transpose/pool op from its constant parameters; 0 when the
 * shapes or parameters are not static. kparam: "weight" (conv) or "kernel_sizes" (pool). */
static int get_geom(const mk_op *op, int is_pool, geom *g)
{
    const mk_value *x = mk_ir_arg(op, "x");
    if (!x || x->type.rank < 3 || x->type.rank > 5) return 0;
    memset(g, 0, sizeof *g);
    g->ns = x->type.rank - 2;
    int64_t v[6];
    int n;
    for (int i = 0; i < g->ns; i++) {
        g->in[i] = x->type.dims[2 + i];
        g->s[i] = g->d[i] = 1;
        if (g->in[i] < 0) return 0;
    }
    if (is_pool) {
        if (!mk_ir_arg_i64s(op, "kernel_sizes", v, 3, &n) || n != g->ns) return 0;
        for (int i = 0; i < n; i++) g->k[i] = v[i];
    } else {
        const mk_value *w = mk_ir_arg(op, "weight");
        if (!w || w->type.rank != x->type.rank) return 0;
        for (int i = 0; i < g->ns; i++) g->k[i] = w->type.dims[2 + i];
    }
    if (mk_ir_arg_i64s(op, "strides", v, 3, &n) && n == g->ns)
        for (int i = 0; i < n; i++) g->s[i] = v[i];
    if (mk_ir_arg_i64s(op, "dilations", v, 3, &n) && n == g->ns)
        for (int i = 0; i < n; i++) g->d[i] = v[i];
    if (mk_ir_arg_i64s(op, "pad", v, 6, &n) && n == 2 * g->ns)
        for (int i = 0; i < g->ns; i++) {
            g->pb[i] = v[2 * i];
            g->pe[i] = v[2 * i + 1];
        }
    g->pad_type = mk_ir_arg_str(op, "pad_type");
    if (!g->pad_type) g->pad_type = "valid";
    for (int i = 0; i < g->ns; i++)
        if (g->k[i] <= 0 || g->s[i] <= 0 || g->d[i] <= 0) return 0;
    return 1;
}

void mk_lint_h1(lint_ctx *c, const mk_op *op)
{
    int fixable = 0;
    if (!mk_ir_conv_transpose_1d_bias(op, &fixable)) return;
    mk_lint_flag(c, op, fixable,
                 "1-D conv_transpose with a bias: on the Neural Engine the bias can reach only the "
                 "first elements of each channel (size-dependent); lift to 2-D or add the bias "
                 "separately");
}

void mk_lint_h2(lint_ctx *c, const mk_op *op)
{
    mk_conv_pad g;
    if (!mk_ir_conv_unused_pad(op, &g)) return;
    mk_lint_flag(c, op, 1,
                 "conv spatial axis %d: trailing pad %lld but the last window uses only %lld; ML "
                 "Programs then get the last row/column wrong (ALL units)",
                 g.axis, (long long)g.pad[2 * g.axis + 1], (long long)g.need[g.axis]);
}

/* H3 is an fp16 hazard (the repros shift by one in fp16): a conv_transpose on fp32 data is
 * left alone unless the caller plans to convert an fp32 program to fp16. */
void mk_lint_h3(lint_ctx *c, const mk_op *op)
{
    if (op->kind != MK_OP_CONV_TRANSPOSE) return;
    if (mk_lint_x_dtype(op) != MK_DT_FP16 && !(c->opts->assume_fp16 && !c->fp16_program)) return;
    mk_ct_crop cc;
    int form = mk_ir_conv_transpose_crop(op, &cc);
    if (form == MK_CT_OUTPUT_SHAPE)
        mk_lint_flag(c, op, cc.fixable,
                     "conv_transpose with output_shape: results differ between CPU and the "
                     "Neural Engine/GPU (and shift by one in fp16); use a valid conv_transpose + "
                     "slice");
    else if (form == MK_CT_ASYMMETRIC)
        mk_lint_flag(c, op, cc.fixable,
                     "conv_transpose with asymmetric padding (%lld, %lld) on axis %d: results "
                     "depend on the compute unit; use a valid conv_transpose + slice",
                     (long long)cc.pb, (long long)cc.pe, cc.axis);
}

void mk_lint_h17(lint_ctx *c, const mk_op *op)
{
    mk_pool_overhang g;
    if (!mk_ir_avg_pool_overhang(op, &g)) return;
    if (g.ns <= 2 && (g.valid || g.custom)) {
        mk_lint_flag_fix(
            c, op, "fix_avg_pool_ceil",
            "avg_pool ceil_mode: the last window on axis %d hangs past the input and "
            "MIL divides by the full kernel (PyTorch/ONNX divide by the real count); "
            "opt-in fix (milkit fix --only H17) changes Core ML's output to the source "
            "framework's",
            g.axis);
        return;
    }
    mk_lint_flag(c, op, 0,
                 "avg_pool ceil_mode: the last window on axis %d hangs past the input and MIL "
                 "divides by the full kernel (PyTorch/ONNX divide by the real count); if the "
                 "source counts real elements set exclude_padding_from_average=true",
                 g.axis);
}

static int only_2_3(int64_t s)
{
    while (s > 1 && s % 2 == 0) s /= 2;
    while (s > 1 && s % 3 == 0) s /= 3;
    return s == 1;
}

/* A pool whose window covers the whole (unpadded) spatial extent: an exact reduce. */

void mk_lint_h27(lint_ctx *c, const mk_op *op)
{
    geom g;
    int axis, global;
    int64_t k, s;
    if (mk_ir_pool_ne_limit(op, &axis, &k, &s, &global)) {
        mk_lint_flag(c, op, global,
                     "pooling kernel %lld / stride %lld (old Neural Engine limits: kernel "
                     "<= 13, stride <= 2)%s",
                     (long long)k, (long long)s,
                     global ? "; a global pool is an exact reduce" : "");
        return;
    }
    if (op->kind == MK_OP_CONV) {
        if (!get_geom(op, 0, &g)) return;
        for (int i = 0; i < g.ns; i++) {
            const char *why = g.k[i] > 7          ? "kernel larger than 7"
                              : g.d[i] > 1        ? "dilated convolution"
                              : !only_2_3(g.s[i]) ? "stride with prime factors other than 2, 3"
                                                  : NULL;
            if (why) {
                mk_lint_flag(c, op, 0,
                             "conv %s (axis %d): reported to split off the Neural Engine or run "
                             "slowly (folklore; no exact rewrite)",
                             why, i);
                return;
            }
        }
        return;
    }
    if (op->kind == MK_OP_UPSAMPLE_NEAREST_NEIGHBOR || op->kind == MK_OP_UPSAMPLE_BILINEAR) {
        const char *ps[2] = {"scale_factor_height", "scale_factor_width"};
        for (int i = 0; i < 2; i++) {
            float f;
            if (mk_ir_arg_f32(op, ps[i], &f) && f != 1.0f && f != 2.0f) {
                mk_lint_flag(c, op, 0,
                             "upsample scale factor %g: only x2 was seen on the Neural Engine "
                             "(old logs); x4 can be two x2 nearest upsamples",
                             (double)f);
                return;
            }
        }
    }
}
