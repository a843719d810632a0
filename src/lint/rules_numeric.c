/* Lint rules on numerics: H7/H8 (pow), H9-H13 (fp16 overflow, underflow and epsilons on the
 * Neural Engine), H14 (constants beyond fp16 range), H15/H16/H39 (MIL defaults that differ
 * from the source framework) and H28 (long fp16 accumulation). fp16 rules fire when the
 * program computes in fp16 or the caller assumes it will (mk_lint_options.assume_fp16). */
#include <math.h>
#include <string.h>

#include "lint_int.h"

#define FP16_MAX 65504.0
#define FP16_TINY 5.9604644775390625e-08 /* 2^-24, the smallest fp16 subnormal */

static const mk_op *producer(const mk_op *op, const char *param)
{
    const mk_value *v = mk_ir_arg(op, param);
    return v ? v->producer : NULL;
}

void mk_lint_h7(lint_ctx *c, const mk_op *op)
{
    double ex;
    int fixable = 0;
    if (mk_ir_pow_form(op, &ex, &fixable) == MK_POW_BASE2)
        mk_lint_flag(c, op, fixable,
                     "pow with constant base 2: Core ML returns y^2 instead of 2^y; "
                     "use exp(y * ln 2)");
}

void mk_lint_h8(lint_ctx *c, const mk_op *op)
{
    double ex = 0;
    int fixable = 0;
    if (mk_ir_pow_form(op, &ex, &fixable) == MK_POW_SMALL_EXP)
        mk_lint_flag(c, op, fixable,
                     "pow(x, %g) is less accurate than the equivalent mul/sqrt/"
                     "real_div in fp16",
                     ex);
}

void mk_lint_h9(lint_ctx *c, const mk_op *op)
{
    if (mk_ir_softplus_form(op) && c->fp16)
        mk_lint_flag(c, op, 1,
                     "softplus in fp16: exp overflows for x > ~10.4 and the Neural Engine "
                     "returns 0; use relu(x) + log(1 + exp(-|x|))");
}

void mk_lint_h10(lint_ctx *c, const mk_op *op)
{
    int fixable = 0;
    if (mk_ir_logsumexp_form(op, &fixable) && c->fp16)
        mk_lint_flag(c, op, fixable,
                     "reduce_log_sum_exp in fp16: the Neural Engine does not subtract the "
                     "max and collapses to 0 for x > ln(65504/N); use the max-shifted form");
}

void mk_lint_h11(lint_ctx *c, const mk_op *op)
{
    mk_value *x = NULL;
    int fixable = 0;
    mk_log_softmax_form f = c->fp16 ? mk_ir_log_softmax_form(op, &x, &fixable) : MK_LSM_NONE;
    if (f == MK_LSM_SOFTMAX)
        mk_lint_flag(c, op, fixable,
                     "log(softmax(x)) in fp16: small probabilities underflow to 0 and "
                     "give -inf or -45440 on the Neural Engine; %s",
                     fixable ? "use x - max - log(sum(exp))"
                             : "no rewrite here (run-time axis or a log epsilon it would drop)");
    else if (f == MK_LSM_CUMSUM)
        mk_lint_flag(c, op, fixable,
                     "log(cumsum(exp(x))) in fp16 overflows to inf/NaN for x > ~11; %s",
                     fixable ? "shift by the max along the axis before exp"
                             : "no rewrite here (run-time axis or a log epsilon it would drop)");
}

void mk_lint_h12(lint_ctx *c, const mk_op *op)
{
    int fixable = 0;
    if (!c->fp16 || !mk_ir_sum_of_squares(op, &fixable)) return;
    const char *how = fixable ? "rescale by max|x| before squaring"
                              : "no rewrite here (run-time axes or keep_dims, or unread)";
    if (op->kind == MK_OP_REDUCE_L2_NORM || op->kind == MK_OP_REDUCE_SUM_SQUARE)
        mk_lint_flag(c, op, fixable, "%s in fp16: x^2 overflows for |x| > ~256 (inf or 0 out); %s",
                     mk_lint_op_type(op), how);
    else
        mk_lint_flag(c, op, fixable,
                     "sum of squares in fp16 (RMSNorm/L2 norm/variance): x^2 overflows for "
                     "|x| > ~256; %s",
                     how);
}

void mk_lint_h13(lint_ctx *c, const mk_op *op)
{
    if (!c->fp16) return;
    double eps;
    mk_op *add;
    const char *side;
    switch (mk_ir_tiny_eps(op, &eps, &add, &side)) {
    case MK_EPS_NONE: return;
    case MK_EPS_PARAM:
        if (op->kind == MK_OP_RSQRT)
            mk_lint_flag(c, op, 1,
                         "rsqrt epsilon %g is 0 in fp16: rsqrt(0) = inf; raise it to 1e-7", eps);
        else
            mk_lint_flag(c, op, 1,
                         "%s epsilon %g is 0 in fp16: constant rows divide by zero "
                         "(inf/NaN); raise it to 1e-7",
                         mk_lint_op_type(op), eps);
        return;
    case MK_EPS_ADD:
        mk_lint_flag(c, op, 1, "epsilon %g added before %s is 0 in fp16; raise it to 1e-7", eps,
                     mk_lint_op_type(op));
        return;
    }
}

/* Count of elements beyond the fp16 range in a float constant (stops at the first). */
static int beyond_fp16(const mk_value *v, double *bad)
{
    size_t n = 0;
    if (!v || !v->cst || !v->cst->data || !mk_type_numel(&v->type, &n)) return 0;
    if (v->type.dtype == MK_DT_FP16) {
        const uint16_t *h = v->cst->data;
        for (size_t i = 0; i < n; i++)
            if ((h[i] & 0x7fffu) == 0x7c00u) {
                *bad = mk_f16_to_f32(h[i]);
                return 1;
            }
        return 0;
    }
    if (v->type.dtype != MK_DT_FP32) return 0;
    if (!mk_ir_const_beyond_f16(v, 0)) return 0;
    const float *f = v->cst->data;
    size_t i = mk_f32_find_beyond_f16(f, n, 0);
    if (i == n) return 0;
    *bad = f[i];
    return 1;
}

/* An fp32 constant is at risk only when the caller plans an fp16 conversion of an fp32
 * program; in a mixed program fp32 constants feed ops that stay in fp32. */
static int fp32_consts_become_fp16(const lint_ctx *c)
{
    return c->opts && c->opts->assume_fp16 && !c->fp16_program;
}

/* A softmax computing in fp16 whose input adds a mask with a sentinel of magnitude above
 * 40000 (-1e9, -3.4e38, finfo.min, -inf; fp16's own -65504 included): x + mask overflows to
 * -inf in fp16 (x < -16 is enough at -65504), a fully masked row turns into NaN, and the Neural
 * Engine mishandles -inf in softmax. Apple's guidance is -1e4 (or at most -40000). */
static void h14_softmax(lint_ctx *c, const mk_op *op)
{
    const mk_value *x = mk_ir_arg(op, "x");
    if (!x || (x->type.dtype != MK_DT_FP16 &&
               !(x->type.dtype == MK_DT_FP32 && fp32_consts_become_fp16(c))))
        return;
    const mk_op *a = mk_ir_mask_source(op);
    mk_mask_walk w = {0, 0, 0};
    for (int i = 0; a && i < a->n_inputs; i++)
        for (int j = 0; j < a->inputs[i].n_args; j++) {
            const mk_value *v = a->inputs[i].args[j];
            if (mk_dtype_is_float(v->type.dtype) &&
                !(a->kind == MK_OP_SELECT && !strcmp(a->inputs[i].name, "cond")))
                mk_ir_mask_walk(v, a, 8, &w);
        }
    if (w.sentinel < -40000.0)
        mk_lint_flag(c, op, w.mask,
                     "softmax in fp16 reads an additive mask built from %g: x + mask overflows to "
                     "-inf in fp16 and a fully masked row gives NaN (the Neural Engine also "
                     "mishandles -inf); use -1e4 as the mask value%s",
                     w.sentinel,
                     w.mask ? "" : " (no rewrite here: the constant has other readers)");
}

/* A cast to fp16 of an fp32 value built from a constant beyond the fp16 range (directly or
 * through mask path ops): the cast turns it into +-inf even in a program that keeps the
 * constant itself in fp32. */
static void h14_cast(lint_ctx *c, const mk_op *op)
{
    const char *dt = mk_ir_arg_str(op, "dtype");
    const mk_value *x = mk_ir_arg(op, "x");
    if (!dt || strcmp(dt, "fp16") != 0 || !x || x->type.dtype != MK_DT_FP32) return;
    if (x->cst && !x->producer && fp32_consts_become_fp16(c)) return; /* flagged as inline */
    if (x->producer && x->producer->kind == MK_OP_CONST && fp32_consts_become_fp16(c)) return;
    mk_mask_walk w = {0, 0, 0};
    mk_ir_mask_walk(x, op, 8, &w);
    if (w.sentinel < -FP16_MAX)
        mk_lint_flag(c, op, w.clip,
                     "cast to fp16 of a value built from the constant %g (beyond fp16 range): it "
                     "becomes -inf in fp16 and a fully masked softmax row turns into NaN; clip to "
                     "+-65504 (masks: -1e4)%s",
                     w.sentinel, w.clip ? "" : " by hand (the constant has other readers)");
}

void mk_lint_h14(lint_ctx *c, const mk_op *op)
{
    double bad = 0;
    const mk_value *v = NULL;
    if (op->kind == MK_OP_SOFTMAX) h14_softmax(c, op);
    if (op->kind == MK_OP_CAST) h14_cast(c, op);
    if (op->kind == MK_OP_CONST && op->n_outputs) {
        v = op->outputs[0];
        if (v->type.dtype == MK_DT_FP32 && !fp32_consts_become_fp16(c)) return;
        if (beyond_fp16(v, &bad)) {
            int fix = mk_ir_h14_rewrite(v, NULL) != MK_H14_KEEP;
            mk_lint_flag(c, op, fix,
                         "constant holds %g, beyond fp16 range: it becomes %sinf in fp16 "
                         "and a fully masked softmax row turns into NaN; clip to +-65504 "
                         "(masks: -1e4)%s",
                         bad, bad < 0 ? "-" : "+",
                         fix ? "" : "; no rewrite here: a reader where it is no sentinel");
        }
        return;
    }
    const char *first = NULL;
    int fix = 0;
    for (int i = 0; i < op->n_inputs; i++)
        for (int j = 0; j < op->inputs[i].n_args; j++) {
            v = op->inputs[i].args[j];
            double b = 0;
            if (!v || v->producer || !v->cst) continue;
            if (v->type.dtype == MK_DT_FP32 && !fp32_consts_become_fp16(c)) continue;
            if (!beyond_fp16(v, &b)) continue;
            fix |= mk_ir_h14_rewrite(v, op) != MK_H14_KEEP;
            if (!first) first = op->inputs[i].name, bad = b;
        }
    if (first)
        mk_lint_flag(c, op, fix,
                     "inline constant '%s' holds %g, beyond fp16 range (becomes inf in fp16); "
                     "clip to +-65504%s",
                     first, bad, fix ? "" : " (no rewrite here: this op is no sentinel reader)");
}

/* H15: a hidden default epsilon. Unbound, inverse/rsqrt/log use 1e-4/1e-12/1e-45 (the fix
 * writes it explicitly). inverse's 1e-4 also matters when it is written out, as coremltools
 * always does: 1/(x+1e-4) is not 1/x for |x| < 1e-2, and only the source can say which was
 * meant, so that form has no safe rewrite. */
void mk_lint_h15(lint_ctx *c, const mk_op *op)
{
    if (op->kind != MK_OP_INVERSE && op->kind != MK_OP_RSQRT && op->kind != MK_OP_LOG) return;
    const mk_hidden_default *d = mk_ir_hidden_default(op);
    if (d) {
        mk_lint_flag(c, op, 1,
                     "%s adds a hidden epsilon %s (e.g. 1/(x+1e-4) is not 1/x for |x| < 1e-2); "
                     "write epsilon explicitly, or use real_div if the source meant exact math",
                     mk_lint_op_type(op), d->shown);
        return;
    }
    float eps;
    if (op->kind == MK_OP_INVERSE && mk_ir_arg_f32(op, "epsilon", &eps) && fabs(eps - 1e-4) <= 1e-9)
        mk_lint_flag(c, op, 0,
                     "inverse computes 1/(x+1e-4), the MIL default epsilon: off by more than 1%% "
                     "for |x| < 1e-2; if the source is an exact reciprocal (ONNX Reciprocal, "
                     "torch.reciprocal) use real_div(1, x)");
}

void mk_lint_h16(lint_ctx *c, const mk_op *op)
{
    const mk_hidden_default *d = mk_ir_hidden_default(op);
    if (op->kind == MK_OP_UPSAMPLE_BILINEAR && d) {
        mk_lint_flag(c, op, 1,
                     "upsample_bilinear without align_corners: MIL defaults to "
                     "align_corners=true, PyTorch/ONNX to half-pixel; write it explicitly");
    } else if (op->kind == MK_OP_RESIZE_BILINEAR && d) {
        mk_lint_flag(c, op, 1,
                     "resize_bilinear without sampling_mode: MIL defaults to DEFAULT (TF "
                     "legacy asymmetric); write it explicitly");
    } else if (op->kind == MK_OP_RESIZE_BILINEAR) {
        const char *m = mk_ir_arg_str(op, "sampling_mode");
        const mk_value *out = op->n_outputs ? op->outputs[0] : NULL;
        if (m && strcmp(m, "ALIGN_CORNERS") == 0 && out && out->type.rank >= 2 &&
            (out->type.dims[out->type.rank - 1] == 1 || out->type.dims[out->type.rank - 2] == 1))
            mk_lint_flag(c, op, 0,
                         "resize_bilinear ALIGN_CORNERS with an output size of 1 differs "
                         "from STRICT_ALIGN_CORNERS; check the source's intent");
    }
}

void mk_lint_h39(lint_ctx *c, const mk_op *op)
{
    if (op->kind == MK_OP_GELU && mk_ir_hidden_default(op))
        mk_lint_flag(c, op, 1,
                     "gelu without mode runs EXACT; a tanh-approximate source drifts by "
                     "~5e-4 per activation; write mode explicitly");
}

void mk_lint_h28(lint_ctx *c, const mk_op *op)
{
    if (!c->fp16 ||
        (op->kind != MK_OP_LINEAR && op->kind != MK_OP_MATMUL && op->kind != MK_OP_CONV))
        return;
    int64_t k = 0;
    const mk_value *x = mk_ir_arg(op, "x"), *w = mk_ir_arg(op, "weight");
    if ((op->kind == MK_OP_LINEAR) && x && x->type.rank >= 1) {
        k = x->type.dims[x->type.rank - 1];
    } else if (op->kind == MK_OP_MATMUL && x && x->type.rank >= 1) {
        int tx = 0;
        mk_ir_arg_bool(op, "transpose_x", &tx);
        int r = x->type.rank;
        k = tx && r >= 2 ? x->type.dims[r - 2] : x->type.dims[r - 1];
    } else if (op->kind == MK_OP_CONV && w && w->type.rank >= 3) {
        k = 1;
        for (int i = 1; i < w->type.rank; i++) k *= w->type.dims[i] > 0 ? w->type.dims[i] : 1;
    }
    if (k >= 4096)
        mk_lint_flag(c, op, 0,
                     "%s accumulates %lld products in fp16 on the Neural Engine; check "
                     "precision with calibration data (no exact rewrite)",
                     mk_lint_op_type(op), (long long)k);
}

void mk_lint_h36(lint_ctx *c, const mk_op *op)
{
    int fixable = 0;
    if (mk_ir_sqrt_of_square(op, &fixable)) {
        mk_lint_flag(c, op, fixable,
                     "sqrt(x^2) is |x|, not x: coremltools' fuse_pow2_sqrt folds it to "
                     "identity (wrong for x < 0); write abs(x)");
    } else if (op->kind == MK_OP_POW && mk_ir_const_all_eq(mk_ir_arg(op, "y"), 2.0)) {
        const mk_op *s = producer(op, "x");
        if (s && s->kind == MK_OP_SQRT)
            mk_lint_flag(c, op, 0,
                         "(sqrt(x))^2 equals x only for x >= 0 (NaN otherwise); an "
                         "optimizer that folds it to x changes negative inputs");
    }
}
