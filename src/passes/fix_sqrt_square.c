/* Symptom: sqrt(x^2) is |x|, but coremltools' fuse_pow2_sqrt pass replaces it with
 *          identity, so a model that goes through that optimizer again returns x (wrong for
 *          x < 0).
 * Scope: float sqrt whose x is square(a), mul(a, a) or pow(a, 2) with a constant 2.
 * Evidence: H36 (coremltools backend/mil/passes/fuse_pow2_sqrt.py, added in PR #1940;
 *           found by code reading, no bug report).
 * Rewrite: abs(a) - the same value, one op instead of two, and nothing left to misfold. */
#include "passes_int.h"

static int rewrite(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    int fixable = 0;
    mk_value *a = mk_ir_sqrt_of_square(op, &fixable);
    if (!a || !fixable) return 0;
    pb b;
    mk_pb_init(&b, p, op, e);
    mk_pb_replace(&b, op->outputs[0], mk_pb_unary(&b, MK_OP_ABS, "h36_abs", a));
    return mk_pb_done(&b, 1);
}

int mk_pass_fix_sqrt_square(mk_program *p, mk_err *e)
{
    return mk_pass_each_op(p, rewrite, NULL, e);
}
