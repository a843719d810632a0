/* H22's fixable form, shared by the lint rule and fix_empty: a concat with a zero-sized input
 * next to non-empty ones (dropping the empty ones changes nothing). */
#include "ir.h"

static int empty(const mk_type *t)
{
    for (int d = 0; d < t->rank; d++)
        if (t->dims[d] == 0) return 1;
    return 0;
}

int mk_ir_concat_empty_inputs(const mk_op *op, int *fixable)
{
    const mk_input *in = op->kind == MK_OP_CONCAT ? mk_ir_input(op, "values") : NULL;
    int n_empty = 0;
    for (int j = 0; in && j < in->n_args; j++) n_empty += empty(&in->args[j]->type);
    *fixable = in && n_empty > 0 && n_empty < in->n_args;
    return n_empty;
}

int mk_ir_type_has_zero_dim(const mk_type *t)
{
    return empty(t);
}
