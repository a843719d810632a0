/* Symptom: float constants beyond +-65504 (mask sentinels such as -3.4e38, +-1e9, -inf)
 *          become +-inf in fp16; a fully masked softmax row then gives NaN, and the Neural
 *          Engine mishandles -inf inside softmax. An additive mask at fp16's own limit
 *          (finfo(fp16).min = -65504) overflows the same way once added to a logit below -16.
 * Scope: mk_ir_h14_rewrite (src/ir/mask_path.c, shared with the lint rule): (a) const ops and
 *        inline constants of dtype fp32 or fp16 holding a value beyond the
 *        fp16 range (fp16 infinities included) whose every use is an op where such a value is
 *        a sentinel (mk_pass_saturating_op: add, select, maximum, comparisons, ...). Elsewhere
 *        (a batch_norm variance of 1e7, a large scale) clipping would change the math; the
 *        fp16 pass keeps those ops in fp32 instead. NaN is left alone. (b) constants of
 *        magnitude above 40000 that build an additive softmax mask (reached from the softmax's
 *        add/sub/select through casts, mul, select, broadcasts) and are read by nothing else.
 * Evidence: H14 (coremltools PR #2669, seen converting Gemma; apple/coreai-models neural
 *           engine rules: use -1e4 / -40000, not -inf).
 * Rewrite: a new constant with every element clipped to [-65504, 65504], or for (b) every
 *          element beyond 40000 in magnitude set to +-1e4 (exp(-1e4) is 0 in fp32 as it was
 *          for -3.4e38: rows with an unmasked entry are unchanged); uses are rebound (the
 *          original payload is never written to). */
#include <math.h>
#include <string.h>

#include "passes_int.h"

#define LIM 65504.0f
#define MASK_BIG 40000.0
#define MASK_VAL 1e4f

/* v with every element beyond `over` in magnitude set to +-to (fallback names an unnamed v). */
static mk_value *replaced_beyond(pb *b, const mk_value *v, size_t n, double over, float to,
                                 const char *fallback)
{
    size_t nb = v->cst->nbytes;
    void *buf = mk_arena_alloc(b->p->arena, nb ? nb : 1);
    if (!buf) return NULL;
    memcpy(buf, v->cst->data, nb);
    for (size_t i = 0; i < n; i++) {
        double d = mk_const_get_f64(v, i);
        if (!(fabs(d) > over)) continue;
        float c = d > 0 ? to : -to;
        if (v->type.dtype == MK_DT_FP16)
            ((uint16_t *)buf)[i] = mk_f32_to_f16(c);
        else
            ((float *)buf)[i] = c;
    }
    return mk_pb_const_borrow(b, v->name ? v->name : fallback, &v->type, buf, nb);
}

/* The replacement of constant v (read by reader when inline) mk_ir_h14_rewrite asks for; v
 * itself when none; NULL out of memory. */
static mk_value *rewritten(pb *b, mk_value *v, const mk_op *reader)
{
    size_t n = 0;
    mk_h14_rewrite r = mk_ir_h14_rewrite(v, reader);
    if (r == MK_H14_KEEP || !mk_type_numel(&v->type, &n)) return v;
    return r == MK_H14_MASK ? replaced_beyond(b, v, n, MASK_BIG, MASK_VAL, "h14_mask")
                            : replaced_beyond(b, v, n, LIM, LIM, "h14_clipped");
}

static int rewrite(void *vc, mk_program *p, mk_op *op, mk_err *e)
{
    (void)vc;
    pb b;
    mk_pb_init(&b, p, op, e);
    if (op->kind == MK_OP_CONST) {
        if (!op->n_outputs) return 0;
        mk_value *v = op->outputs[0], *r = rewritten(&b, v, NULL);
        if (r == v) return 0;
        if (!r) {
            MK_OOM(e);
            return -1;
        }
        mk_pb_replace(&b, v, r);
        return mk_pb_done(&b, 1);
    }
    int changed = 0;
    for (int i = 0; i < op->n_inputs; i++)
        for (int j = 0; j < op->inputs[i].n_args; j++) {
            mk_value *v = op->inputs[i].args[j];
            if (v->producer) continue;
            mk_value *r = rewritten(&b, v, op);
            if (r == v) continue;
            if (!r) {
                MK_OOM(e);
                return -1;
            }
            op->inputs[i].args[j] = r;
            changed = 1;
        }
    return mk_pb_done(&b, changed);
}

int mk_pass_fix_fp16_range(mk_program *p, mk_err *e)
{
    return mk_pass_each_op(p, rewrite, NULL, e);
}
