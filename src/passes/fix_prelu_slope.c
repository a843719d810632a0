/* Symptom: a PReLU with one shared slope crashed Core ML (NeuralNetwork format); whether ML
 *          Program prelu is affected is unknown, and the per-channel form is always valid.
 * Scope: prelu whose alpha is a one-element constant and whose x has a static channel
 *        axis (axis 1) larger than 1.
 * Evidence: H33 (onnxruntime activation builder comment citing coremltools issue #1488).
 * Rewrite: alpha -> a constant [C] with the slope repeated; same numbers. */
#include <string.h>

#include "passes_int.h"

static int rewrite(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    int fixable = 0;
    if (!mk_ir_prelu_shared_slope(op, &fixable) || !fixable) return 0;
    mk_value *x = mk_ir_arg(op, "x"), *a = mk_ir_arg(op, "alpha");
    int64_t c = x->type.dims[1];
    size_t es = a->type.dtype == MK_DT_FP16 ? 2 : 4;
    unsigned char *buf = mk_arena_alloc(p->arena, (size_t)c * es);
    if (!buf) {
        MK_OOM(e);
        return -1;
    }
    for (int64_t i = 0; i < c; i++) memcpy(buf + (size_t)i * es, a->cst->data, es);
    mk_type t = mk_type_make(a->type.dtype, 1, &c);
    pb b;
    mk_pb_init(&b, p, op, e);
    mk_pb_set(&b, op, "alpha", mk_pb_const_borrow(&b, "h33_alpha", &t, buf, (size_t)c * es));
    return mk_pb_done(&b, 1);
}

int mk_pass_fix_prelu_slope(mk_program *p, mk_err *e)
{
    return mk_pass_each_op(p, rewrite, NULL, e);
}
