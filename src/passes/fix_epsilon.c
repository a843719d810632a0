/* Symptom: normalisation epsilons below 2^-24 become 0 in fp16, so constant rows divide by
 *          zero (inf/NaN).
 * Scope: layer_norm/instance_norm/batch_norm with a constant epsilon below 2^-24; rsqrt with
 *        an epsilon below 2^-24 (or left at its default 1e-12); a scalar constant in (0,
 *        2^-24) added right before sqrt/rsqrt.
 * Evidence: H13 (apple/ml-ane-transformers distilbert.py uses 1e-7 instead of 1e-12;
 *           onnxruntime normalization builder writes eps as fp16).
 * Rewrite: raise that epsilon to 1e-7 in the dtype of the epsilon it replaces (x's when
 *          none is bound; below fp16 resolution for any non-degenerate row). */
#include <math.h>

#include "passes_int.h"

#define TINY 5.9604644775390625e-08

/* The new epsilon keeps the bound one's dtype: from iOS17 it may differ from x's, and it must
 * match gamma/beta (one domain U). */
static mk_dtype eps_dtype(const mk_op *op, mk_dtype x_dt)
{
    const mk_value *v = mk_ir_arg(op, "epsilon");
    return v && mk_dtype_is_float(v->type.dtype) ? v->type.dtype : x_dt;
}

static int rewrite(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    mk_value *x = mk_ir_arg(op, "x");
    if (!x || !mk_dtype_is_float(x->type.dtype)) return 0;
    mk_dtype dt = x->type.dtype;
    float eps;
    pb b;
    pb_init(&b, p, op, e);
    if (op->kind == MK_OP_LAYER_NORM || op->kind == MK_OP_INSTANCE_NORM ||
        op->kind == MK_OP_BATCH_NORM) {
        if (!mk_ir_arg_f32(op, "epsilon", &eps) || fabsf(eps) >= TINY) return 0;
        pb_set(&b, op, "epsilon", pb_float(&b, "h13_epsilon", eps_dtype(op, dt), 1e-7));
        return pb_done(&b, 1);
    }
    if (op->kind == MK_OP_RSQRT) {
        if (!mk_ir_arg_f32(op, "epsilon", &eps)) eps = 1e-12f;
        if (fabsf(eps) < TINY) {
            pb_set(&b, op, "epsilon", pb_float(&b, "h13_epsilon", eps_dtype(op, dt), 1e-7));
            return pb_done(&b, 1);
        }
    } else if (op->kind != MK_OP_SQRT) {
        return 0;
    }
    mk_op *pa = x->producer;
    if (!pa || pa->kind != MK_OP_ADD) return 0;
    const char *side[2] = {"x", "y"};
    for (int i = 0; i < 2; i++) {
        const mk_value *v = mk_ir_arg(pa, side[i]);
        size_t n = 0;
        if (!v || !v->cst || !mk_type_numel(&v->type, &n) || n != 1) continue;
        double ev = mk_const_get_f64(v, 0);
        if (!(ev > 0 && ev < TINY)) continue;
        pb_init(&b, p, pa, e);
        pb_set(&b, pa, side[i], pb_float(&b, "h13_epsilon", v->type.dtype, 1e-7));
        return pb_done(&b, 1);
    }
    return 0;
}

int mk_pass_fix_epsilon(mk_program *p, mk_err *e)
{
    return pass_each_op(p, rewrite, NULL, e);
}
