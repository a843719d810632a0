/* Symptom: pow(2, y) returns y^2 (a square fast path keyed on a constant 2 on either side);
 *          pow(x, 2) and other small exponents are less accurate than plain products in fp16.
 * Scope: float pow whose x is a constant with every element 2 (H7), or whose y is a constant
 *        with every element 2, 3, 0.5 or -1 and the output has x's shape (H8).
 * Evidence: H7 (coremltools #2628, fix PR #2742), H8 (coremltools #2601).
 * Rewrite: pow(2, y) -> exp(mul(y, ln 2)); pow(x, 2) -> mul(x, x); pow(x, 3) ->
 *          mul(mul(x, x), x); pow(x, 0.5) -> sqrt(x); pow(x, -1) -> real_div(1, x). */
#include <math.h>

#include "passes_int.h"

static int all_eq(const mk_value *v, double want)
{
    size_t n = 0;
    if (!v || !v->cst || !v->cst->data || !mk_type_numel(&v->type, &n) || n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (mk_const_get_f64(v, i) != want) return 0;
    return 1;
}

static int rewrite(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    if (op->kind != MK_OP_POW || !op->n_outputs) return 0;
    mk_value *x = mk_ir_arg(op, "x"), *y = mk_ir_arg(op, "y");
    if (!x || !y || !mk_dtype_is_float(op->outputs[0]->type.dtype)) return 0;
    mk_dtype dt = op->outputs[0]->type.dtype;
    pb b;
    mk_pb_init(&b, p, op, e);
    mk_value *r = NULL;
    if (all_eq(x, 2.0)) {
        if (!mk_type_equal(&y->type, &op->outputs[0]->type)) return 0;
        mk_value *t = mk_pb_binary(&b, MK_OP_MUL, "h7_y_ln2", y,
                                   mk_pb_float(&b, "h7_ln2", dt, 0.69314718055994530942));
        r = mk_pb_unary(&b, MK_OP_EXP, "h7_exp", t);
    } else {
        if (!mk_type_equal(&x->type, &op->outputs[0]->type)) return 0;
        if (all_eq(y, 2.0)) {
            r = mk_pb_binary(&b, MK_OP_MUL, "h8_square", x, x);
        } else if (all_eq(y, 3.0)) {
            r = mk_pb_binary(&b, MK_OP_MUL, "h8_cube", mk_pb_binary(&b, MK_OP_MUL, "h8_sq", x, x),
                             x);
        } else if (all_eq(y, 0.5)) {
            r = mk_pb_unary(&b, MK_OP_SQRT, "h8_sqrt", x);
        } else if (all_eq(y, -1.0)) {
            r = mk_pb_binary(&b, MK_OP_REAL_DIV, "h8_reciprocal",
                             mk_pb_float(&b, "h8_one", dt, 1.0), x);
        } else {
            return 0;
        }
    }
    mk_pb_replace(&b, op->outputs[0], r);
    return mk_pb_done(&b, 1);
}

int mk_pass_fix_pow(mk_program *p, mk_err *e)
{
    return mk_pass_each_op(p, rewrite, NULL, e);
}
