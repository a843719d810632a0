/* Symptom: reduce_log_sum_exp in fp16 on the Neural Engine does not subtract the max and
 *          collapses to 0 once x > ln(65504 / N).
 * Scope: every float reduce_log_sum_exp with constant (or absent) axes.
 * Evidence: H10 (coremltools #2690; fix proposal PR #2726).
 * Rewrite: m = reduce_max(x, axes, keep_dims=true); y = add(m, log(reduce_sum(exp(sub(x, m)),
 *          axes, keep_dims=true))); squeeze the reduced axes when keep_dims was false. */
#include "passes_int.h"

static mk_value *reduce(pb *b, mk_op_kind k, const char *nm, mk_value *x, mk_value *axes)
{
    mk_op *op = mk_pb_op(b, k, nm);
    mk_pb_in(b, op, "x", x);
    if (axes) mk_pb_in(b, op, "axes", axes);
    mk_pb_in(b, op, "keep_dims", mk_pb_bool(b, "h10_keep", 1));
    return mk_pb_emit(b, op);
}

static int rewrite(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    mk_value *x = mk_ir_arg(op, "x"), *axes = mk_ir_arg(op, "axes");
    int fixable = 0;
    if (!mk_ir_logsumexp_form(op, &fixable) || !fixable) return 0;
    int keep = 0;
    mk_ir_arg_bool(op, "keep_dims", &keep);
    pb b;
    mk_pb_init(&b, p, op, e);
    mk_value *m = reduce(&b, MK_OP_REDUCE_MAX, "h10_max", x, axes);
    mk_value *d = mk_pb_binary(&b, MK_OP_SUB, "h10_shift", x, m);
    mk_value *ex = mk_pb_unary(&b, MK_OP_EXP, "h10_exp", d);
    mk_value *s = reduce(&b, MK_OP_REDUCE_SUM, "h10_sum", ex, axes);
    mk_op *lg = mk_pb_op(&b, MK_OP_LOG, "h10_log");
    mk_pb_in(&b, lg, "x", s);
    mk_pb_in(&b, lg, "epsilon", mk_pb_float(&b, "h10_eps", x->type.dtype, 0));
    mk_value *y = mk_pb_binary(&b, MK_OP_ADD, "h10_lse", m, mk_pb_emit(&b, lg));
    if (!keep) {
        mk_op *sq = mk_pb_op(&b, MK_OP_SQUEEZE, "h10_squeeze");
        mk_pb_in(&b, sq, "x", y);
        if (axes) mk_pb_in(&b, sq, "axes", axes);
        y = mk_pb_emit(&b, sq);
    }
    mk_pb_replace(&b, op->outputs[0], y);
    return mk_pb_done(&b, 1);
}

int mk_pass_fix_logsumexp(mk_program *p, mk_err *e)
{
    return mk_pass_each_op(p, rewrite, NULL, e);
}
