/* The pow hazards' triggers, one predicate for each lint rule and the fix that rewrites it:
 * H7 pow with a constant base 2, H8 pow with a constant exponent 2, 3, 0.5 or -1 (fix_pow), and
 * H36 sqrt of a square (fix_sqrt_square). Constants match exactly, as the rewrites need. */
#include "ir.h"

int mk_ir_const_all_eq(const mk_value *v, double want)
{
    size_t n = 0;
    if (!v || !v->cst || !v->cst->data || v->type.dtype == MK_DT_STRING ||
        !mk_type_numel(&v->type, &n) || n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (mk_const_get_f64(v, i) != want) return 0;
    return 1;
}

mk_pow_form mk_ir_pow_form(const mk_op *op, double *exponent, int *fixable)
{
    static const double ex[] = {2.0, 3.0, 0.5, -1.0};
    const mk_value *x = mk_ir_arg(op, "x"), *y = mk_ir_arg(op, "y");
    if (op->kind != MK_OP_POW || !x || !y || op->n_outputs < 1 ||
        !mk_dtype_is_float(op->outputs[0]->type.dtype))
        return MK_POW_PLAIN;
    const mk_type *ot = &op->outputs[0]->type;
    if (mk_ir_const_all_eq(x, 2.0)) {
        *fixable = mk_type_equal(&y->type, ot);
        return MK_POW_BASE2;
    }
    for (size_t i = 0; i < sizeof ex / sizeof *ex; i++)
        if (mk_ir_const_all_eq(y, ex[i])) {
            *exponent = ex[i];
            *fixable = mk_type_equal(&x->type, ot);
            return MK_POW_SMALL_EXP;
        }
    return MK_POW_PLAIN;
}

mk_value *mk_ir_square_of(const mk_value *v)
{
    const mk_op *pr = v ? v->producer : NULL;
    mk_value *x = pr ? mk_ir_arg(pr, "x") : NULL;
    if (!x) return NULL;
    if (pr->kind == MK_OP_SQUARE) return x;
    if (pr->kind == MK_OP_MUL && x == mk_ir_arg(pr, "y")) return x;
    if (pr->kind == MK_OP_POW && mk_ir_const_all_eq(mk_ir_arg(pr, "y"), 2.0)) return x;
    return NULL;
}

mk_value *mk_ir_sqrt_of_square(const mk_op *op, int *fixable)
{
    mk_value *a = op->kind == MK_OP_SQRT ? mk_ir_square_of(mk_ir_arg(op, "x")) : NULL;
    if (a) *fixable = op->n_outputs == 1 && mk_type_equal(&a->type, &op->outputs[0]->type);
    return a;
}
