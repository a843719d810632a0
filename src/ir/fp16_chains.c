/* Triggers of the fp16 hazards whose rewrite spans a chain of ops, shared by the lint rules
 * and their fixes: H11 log(softmax) / log(cumsum(exp)) (fix_log_softmax) and H12 sums of
 * squares (fix_sum_squares). The rules add the fp16 condition; the fixes rewrite regardless. */
#include "ir.h"

/* x - reduce_max(..): the max-shifted form fix_log_softmax writes. */
static int max_shifted(const mk_value *v)
{
    const mk_op *s = v->producer;
    const mk_value *m = s && s->kind == MK_OP_SUB ? mk_ir_arg(s, "y") : NULL;
    return m && m->producer && m->producer->kind == MK_OP_REDUCE_MAX;
}

/* keep_dims absent or a constant bool. */
static int const_keep(const mk_op *op)
{
    int keep;
    return !mk_ir_arg(op, "keep_dims") || mk_ir_arg_bool(op, "keep_dims", &keep);
}

mk_log_softmax_form mk_ir_log_softmax_form(const mk_op *op, mk_value **x, int *fixable)
{
    const mk_value *lx = op->kind == MK_OP_LOG ? mk_ir_arg(op, "x") : NULL;
    const mk_op *pr = lx ? lx->producer : NULL;
    mk_log_softmax_form f = MK_LSM_NONE;
    int32_t axis;
    if (!pr) return MK_LSM_NONE;
    if (pr->kind == MK_OP_SOFTMAX) {
        *x = mk_ir_arg(pr, "x");
        f = MK_LSM_SOFTMAX;
    } else if (pr->kind == MK_OP_CUMSUM) {
        const mk_value *ev = mk_ir_arg(pr, "x");
        const mk_op *ex = ev ? ev->producer : NULL;
        *x = ex && ex->kind == MK_OP_EXP ? mk_ir_arg(ex, "x") : NULL;
        if (!*x || max_shifted(*x)) return MK_LSM_NONE;
        f = MK_LSM_CUMSUM;
    }
    if (!f || !*x || !mk_dtype_is_float((*x)->type.dtype)) return MK_LSM_NONE;
    float eps = 0;
    *fixable = (!mk_ir_arg(pr, "axis") || mk_ir_arg_i32(pr, "axis", &axis)) &&
               (!mk_ir_arg(op, "epsilon") ||
                (mk_ir_arg_f32(op, "epsilon", &eps) && eps >= 0 && eps <= 1e-30f));
    return f;
}

mk_value *mk_ir_squared(const mk_value *v)
{
    mk_value *a = mk_ir_square_of(v);
    return a && mk_type_equal(&a->type, &v->type) ? a : NULL;
}

/* x / maximum(..): the rescaled form fix_sum_squares writes. */
static int rescaled(const mk_value *x)
{
    const mk_op *d = x->producer;
    const mk_value *m = d && d->kind == MK_OP_REAL_DIV ? mk_ir_arg(d, "y") : NULL;
    return m && m->producer && m->producer->kind == MK_OP_MAXIMUM;
}

mk_value *mk_ir_sum_of_squares(const mk_op *op, int *fixable)
{
    mk_value *in = mk_ir_arg(op, "x"), *x = NULL;
    if (!in) return NULL;
    if (op->kind == MK_OP_REDUCE_L2_NORM || op->kind == MK_OP_REDUCE_SUM_SQUARE)
        x = in;
    else if (op->kind == MK_OP_REDUCE_MEAN || op->kind == MK_OP_REDUCE_SUM)
        x = mk_ir_squared(in);
    if (!x || !mk_dtype_is_float(x->type.dtype) || rescaled(x)) return NULL;
    const mk_value *axes = mk_ir_arg(op, "axes");
    *fixable = !axes || axes->cst;
    if (op->kind != MK_OP_REDUCE_L2_NORM)
        *fixable = *fixable && const_keep(op) && op->n_outputs == 1 && op->parent &&
                   mk_ir_count_uses(op->parent, op->outputs[0]) > 0;
    return x;
}
