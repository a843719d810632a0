/* Symptom: float constants beyond +-65504 (mask sentinels such as -3.4e38, +-1e9, -inf)
 *          become +-inf in fp16; a fully masked softmax row then gives NaN, and the Neural
 *          Engine mishandles -inf inside softmax.
 * Scope: const ops and inline constants of dtype fp32 or fp16 holding a value beyond the
 *        fp16 range (fp16 infinities included) whose every use is an op where such a value is
 *        a sentinel (mk_pass_saturating_op: add, select, maximum, comparisons, ...). Elsewhere
 *        (a batch_norm variance of 1e7, a large scale) clipping would change the math; the
 *        fp16 pass keeps those ops in fp32 instead. NaN is left alone.
 * Evidence: H14 (coremltools PR #2669, seen converting Gemma; apple/coreai-models neural
 *           engine rules: use -1e4 / -40000, not -inf).
 * Rewrite: a new constant with every element clipped to [-65504, 65504]; uses are rebound
 *          (the original payload is never written to). */
#include <math.h>
#include <string.h>

#include "passes_int.h"

#define LIM 65504.0f

static int needs(const mk_value *v, size_t *n)
{
    if (!v || !v->cst || !v->cst->data || !mk_type_numel(&v->type, n)) return 0;
    if (v->type.dtype == MK_DT_FP32) return mk_ir_const_beyond_f16(v, 0);
    if (v->type.dtype != MK_DT_FP16) return 0;
    for (size_t i = 0; i < *n; i++)
        if (fabs(mk_const_get_f64(v, i)) > LIM) return 1;
    return 0;
}

static mk_value *clipped(pb *b, const mk_value *v, size_t n)
{
    size_t nb = v->cst->nbytes;
    void *buf = mk_arena_alloc(b->p->arena, nb ? nb : 1);
    if (!buf) return NULL;
    memcpy(buf, v->cst->data, nb);
    for (size_t i = 0; i < n; i++) {
        double d = mk_const_get_f64(v, i);
        if (!(fabs(d) > LIM)) continue;
        float c = d > 0 ? LIM : -LIM;
        if (v->type.dtype == MK_DT_FP16)
            ((uint16_t *)buf)[i] = mk_f32_to_f16(c);
        else
            ((float *)buf)[i] = c;
    }
    return pb_const_borrow(b, v->name ? v->name : "h14_clipped", &v->type, buf, nb);
}

/* Names of values some non-sentinel op reads (names are unique program-wide). */
static int mark_non_sentinel(mk_strmap *m, const mk_block *b)
{
    MK_FOR_OPS(b, op)
    {
        if (!mk_pass_saturating_op(op->kind))
            for (int i = 0; i < op->n_inputs; i++)
                for (int j = 0; j < op->inputs[i].n_args; j++) {
                    const mk_value *v = op->inputs[i].args[j];
                    if (v->name && !mk_strmap_put(m, v->name, (void *)v)) return 0;
                }
        for (int i = 0; i < op->n_blocks; i++)
            if (!mark_non_sentinel(m, op->blocks[i])) return 0;
    }
    for (int i = 0; i < b->n_outputs; i++)
        if (b->outputs[i]->name && !mk_strmap_put(m, b->outputs[i]->name, b->outputs[i])) return 0;
    return 1;
}

static int rewrite(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    const mk_strmap *non_sentinel = ctx;
    size_t n = 0;
    pb b;
    pb_init(&b, p, op, e);
    if (op->kind == MK_OP_CONST) {
        if (!op->n_outputs || mk_strmap_get(non_sentinel, op->outputs[0]->name) ||
            !needs(op->outputs[0], &n))
            return 0;
        mk_value *c = clipped(&b, op->outputs[0], n);
        if (!c) {
            MK_OOM(e);
            return -1;
        }
        pb_replace(&b, op->outputs[0], c);
        return pb_done(&b, 1);
    }
    int changed = 0;
    for (int i = 0; i < op->n_inputs && mk_pass_saturating_op(op->kind); i++)
        for (int j = 0; j < op->inputs[i].n_args; j++) {
            mk_value *v = op->inputs[i].args[j];
            if (v->producer || !needs(v, &n)) continue;
            mk_value *c = clipped(&b, v, n);
            if (!c) {
                MK_OOM(e);
                return -1;
            }
            op->inputs[i].args[j] = c;
            changed = 1;
        }
    return pb_done(&b, changed);
}

int mk_pass_fix_fp16_range(mk_program *p, mk_err *e)
{
    mk_strmap non_sentinel;
    mk_strmap_init(&non_sentinel, p->alloc);
    int ok = 1;
    for (int i = 0; i < p->n_functions && ok; i++)
        ok = mark_non_sentinel(&non_sentinel, p->functions[i]->block);
    int r = ok ? pass_each_op(p, rewrite, &non_sentinel, e) : (MK_OOM(e), -1);
    mk_strmap_free(&non_sentinel);
    return r;
}
