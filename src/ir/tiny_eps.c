/* H13's trigger: an epsilon that fp16 rounds to 0 (below 2^-24) in a normalisation, in rsqrt
 * (bound or its 1e-12 default), or as the scalar constant added right before sqrt/rsqrt. One
 * predicate for the lint rule that reports it and the fix that raises it to 1e-7. */
#include <math.h>

#include "ir.h"

#define FP16_TINY 5.9604644775390625e-08 /* 2^-24, the smallest fp16 subnormal */

mk_tiny_eps mk_ir_tiny_eps(const mk_op *op, double *eps, mk_op **add, const char **side)
{
    float e;
    if (op->kind == MK_OP_LAYER_NORM || op->kind == MK_OP_INSTANCE_NORM ||
        op->kind == MK_OP_BATCH_NORM) {
        if (!mk_ir_arg_f32(op, "epsilon", &e) || fabsf(e) >= FP16_TINY) return MK_EPS_NONE;
        *eps = e;
        return MK_EPS_PARAM;
    }
    if (op->kind == MK_OP_RSQRT) {
        if (!mk_ir_arg_f32(op, "epsilon", &e)) e = 1e-12f;
        if (fabsf(e) < FP16_TINY) {
            *eps = e;
            return MK_EPS_PARAM;
        }
    } else if (op->kind != MK_OP_SQRT) {
        return MK_EPS_NONE;
    }
    const mk_value *x = mk_ir_arg(op, "x");
    mk_op *pa = x ? x->producer : NULL;
    if (!pa || pa->kind != MK_OP_ADD) return MK_EPS_NONE;
    static const char *const sides[2] = {"x", "y"};
    for (int i = 0; i < 2; i++) {
        const mk_value *v = mk_ir_arg(pa, sides[i]);
        size_t n = 0;
        if (!v || !v->cst || !mk_type_numel(&v->type, &n) || n != 1) continue;
        double ev = mk_const_get_f64(v, 0);
        if (!(ev > 0 && ev < FP16_TINY)) continue;
        *eps = ev;
        *add = pa;
        *side = sides[i];
        return MK_EPS_ADD;
    }
    return MK_EPS_NONE;
}
