/* Symptom: pow(2, y) returns y^2 (a square fast path keyed on a constant 2 on either side);
 *          pow(x, 2) and other small exponents are less accurate than plain products in fp16.
 * Scope: float pow whose x is a constant with every element 2 and whose y has the output's
 *        type (H7), or whose y is a constant with every element 2, 3, 0.5 or -1 and whose x
 *        has the output's type (H8): mk_ir_pow_form, shared with the lint rules.
 * Evidence: H7 (coremltools #2628, fix PR #2742), H8 (coremltools #2601).
 * Rewrite: pow(2, y) -> exp(mul(y, ln 2)); pow(x, 2) -> mul(x, x); pow(x, 3) ->
 *          mul(mul(x, x), x); pow(x, 0.5) -> sqrt(x); pow(x, -1) -> real_div(1, x). */
#include "passes_int.h"

static int rewrite(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    double ex = 0;
    int fixable = 0;
    mk_pow_form form = mk_ir_pow_form(op, &ex, &fixable);
    if (form == MK_POW_PLAIN || !fixable) return 0;
    mk_value *x = mk_ir_arg(op, "x"), *y = mk_ir_arg(op, "y");
    mk_dtype dt = op->outputs[0]->type.dtype;
    pb b;
    mk_pb_init(&b, p, op, e);
    mk_value *r;
    if (form == MK_POW_BASE2) {
        mk_value *t = mk_pb_binary(&b, MK_OP_MUL, "h7_y_ln2", y,
                                   mk_pb_float(&b, "h7_ln2", dt, 0.69314718055994530942));
        r = mk_pb_unary(&b, MK_OP_EXP, "h7_exp", t);
    } else if (ex == 2.0) {
        r = mk_pb_binary(&b, MK_OP_MUL, "h8_square", x, x);
    } else if (ex == 3.0) {
        r = mk_pb_binary(&b, MK_OP_MUL, "h8_cube", mk_pb_binary(&b, MK_OP_MUL, "h8_sq", x, x), x);
    } else if (ex == 0.5) {
        r = mk_pb_unary(&b, MK_OP_SQRT, "h8_sqrt", x);
    } else {
        r = mk_pb_binary(&b, MK_OP_REAL_DIV, "h8_reciprocal", mk_pb_float(&b, "h8_one", dt, 1.0),
                         x);
    }
    mk_pb_replace(&b, op->outputs[0], r);
    return mk_pb_done(&b, 1);
}

int mk_pass_fix_pow(mk_program *p, mk_err *e)
{
    return mk_pass_each_op(p, rewrite, NULL, e);
}
