/* Symptom: normalisation epsilons below 2^-24 become 0 in fp16, so constant rows divide by
 *          zero (inf/NaN).
 * Scope: layer_norm/instance_norm/batch_norm with a constant epsilon below 2^-24; rsqrt with
 *        an epsilon below 2^-24 (or left at its default 1e-12); a scalar constant in (0,
 *        2^-24) added right before sqrt/rsqrt.
 * Evidence: H13 (apple/ml-ane-transformers distilbert.py uses 1e-7 instead of 1e-12;
 *           onnxruntime normalization builder writes eps as fp16).
 * Rewrite: raise that epsilon to 1e-7 in the dtype of the epsilon it replaces (x's when
 *          none is bound; below fp16 resolution for any non-degenerate row). */
#include "passes_int.h"

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
    double eps;
    mk_op *add;
    const char *side;
    pb b;
    switch (mk_ir_tiny_eps(op, &eps, &add, &side)) {
    case MK_EPS_NONE: return 0;
    case MK_EPS_PARAM:
        mk_pb_init(&b, p, op, e);
        mk_pb_set(&b, op, "epsilon", mk_pb_float(&b, "h13_epsilon", eps_dtype(op, dt), 1e-7));
        return mk_pb_done(&b, 1);
    case MK_EPS_ADD:
        mk_pb_init(&b, p, add, e);
        mk_pb_set(&b, add, side,
                  mk_pb_float(&b, "h13_epsilon", mk_ir_arg(add, side)->type.dtype, 1e-7));
        return mk_pb_done(&b, 1);
    }
    return 0;
}

int mk_pass_fix_epsilon(mk_program *p, mk_err *e)
{
    return mk_pass_each_op(p, rewrite, NULL, e);
}
