/* Symptom: float constants beyond +-65504 (mask sentinels such as -3.4e38, +-1e9, -inf)
 *          become +-inf in fp16; a fully masked softmax row then gives NaN, and the Neural
 *          Engine mishandles -inf inside softmax. An additive mask at fp16's own limit
 *          (finfo(fp16).min = -65504) overflows the same way once added to a logit below -16.
 * Scope: (a) const ops and inline constants of dtype fp32 or fp16 holding a value beyond the
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

static int needs(const mk_value *v, size_t *n)
{
    if (!v || !v->cst || !v->cst->data || !mk_type_numel(&v->type, n)) return 0;
    if (v->type.dtype == MK_DT_FP32) return mk_ir_const_beyond_f16(v, 0);
    if (v->type.dtype != MK_DT_FP16) return 0;
    for (size_t i = 0; i < *n; i++)
        if (fabs(mk_const_get_f64(v, i)) > LIM) return 1;
    return 0;
}

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

static int mask_big(const mk_value *v)
{
    size_t n = 0;
    if (!v->cst || !v->cst->data || !mk_type_numel(&v->type, &n) ||
        (v->type.dtype != MK_DT_FP32 && v->type.dtype != MK_DT_FP16))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(mk_const_get_f64(v, i)) > MASK_BIG) return 1;
    return 0;
}

/* Marks the big constants that reach v through mask_path_op ops (at most depth ops back). */
static int mark_mask(mk_ptrmap *m, const mk_value *v, int depth)
{
    if (v->cst) return !mask_big(v) || mk_ptrmap_put(m, v, (void *)v);
    const mk_op *pr = v->producer;
    if (!pr || depth <= 0 || !mk_ir_mask_path_op(pr->kind)) return 1;
    for (int i = 0; i < pr->n_inputs; i++)
        for (int j = 0; j < pr->inputs[i].n_args; j++) {
            const mk_value *a = pr->inputs[i].args[j];
            if ((pr->kind == MK_OP_SELECT && !strcmp(pr->inputs[i].name, "cond")) ||
                !mk_dtype_is_float(a->type.dtype))
                continue;
            if (!mark_mask(m, a, depth - 1)) return 0;
        }
    return 1;
}

/* Constants of additive softmax masks (what lint's H14 softmax check reports). */
static int mark_masks(mk_ptrmap *m, const mk_block *b)
{
    MK_FOR_OPS(b, op)
    {
        const mk_value *x = op->kind == MK_OP_SOFTMAX ? mk_ir_arg(op, "x") : NULL;
        const mk_op *a = x ? x->producer : NULL;
        while (a && (a->kind == MK_OP_CAST || a->kind == MK_OP_RESHAPE) && mk_ir_arg(a, "x"))
            a = mk_ir_arg(a, "x")->producer;
        if (a && (a->kind == MK_OP_ADD || a->kind == MK_OP_SUB || a->kind == MK_OP_SELECT))
            for (int i = 0; i < a->n_inputs; i++)
                for (int j = 0; j < a->inputs[i].n_args; j++) {
                    const mk_value *v = a->inputs[i].args[j];
                    if ((a->kind == MK_OP_SELECT && !strcmp(a->inputs[i].name, "cond")) ||
                        !mk_dtype_is_float(v->type.dtype))
                        continue;
                    if (!mark_mask(m, v, 8)) return 0;
                }
        for (int i = 0; i < op->n_blocks; i++)
            if (!mark_masks(m, op->blocks[i])) return 0;
    }
    return 1;
}

/* Values some op off the mask paths reads (or a block returns): their constants stay. */
static int mark_off_mask(mk_ptrmap *m, const mk_block *b)
{
    MK_FOR_OPS(b, op)
    {
        if (!mk_ir_mask_path_op(op->kind) && op->kind != MK_OP_SOFTMAX)
            for (int i = 0; i < op->n_inputs; i++)
                for (int j = 0; j < op->inputs[i].n_args; j++)
                    if (!mk_ptrmap_put(m, op->inputs[i].args[j], (void *)op)) return 0;
        for (int i = 0; i < op->n_blocks; i++)
            if (!mark_off_mask(m, op->blocks[i])) return 0;
    }
    for (int i = 0; i < b->n_outputs; i++)
        if (!mk_ptrmap_put(m, b->outputs[i], (void *)b)) return 0;
    return 1;
}

typedef struct ctx {
    mk_strmap non_sentinel; /* value names */
    mk_ptrmap masks, off_mask;
} ctx;

static int is_mask(const ctx *c, const mk_value *v)
{
    return mk_ptrmap_get(&c->masks, v) && !mk_ptrmap_get(&c->off_mask, v);
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

static int rewrite(void *vc, mk_program *p, mk_op *op, mk_err *e)
{
    const ctx *c = vc;
    size_t n = 0;
    pb b;
    mk_pb_init(&b, p, op, e);
    if (op->kind == MK_OP_CONST) {
        if (!op->n_outputs) return 0;
        mk_value *v = op->outputs[0], *r = NULL;
        if (is_mask(c, v) && mk_type_numel(&v->type, &n))
            r = replaced_beyond(&b, v, n, MASK_BIG, MASK_VAL, "h14_mask");
        else if (!mk_strmap_get(&c->non_sentinel, v->name) && needs(v, &n))
            r = replaced_beyond(&b, v, n, LIM, LIM, "h14_clipped");
        else
            return 0;
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
            mk_value *v = op->inputs[i].args[j], *r = NULL;
            if (v->producer) continue;
            if (is_mask(c, v) && mk_type_numel(&v->type, &n))
                r = replaced_beyond(&b, v, n, MASK_BIG, MASK_VAL, "h14_mask");
            else if (mk_pass_saturating_op(op->kind) && needs(v, &n))
                r = replaced_beyond(&b, v, n, LIM, LIM, "h14_clipped");
            else
                continue;
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
    ctx c;
    mk_strmap_init(&c.non_sentinel, p->alloc);
    mk_ptrmap_init(&c.masks, p->alloc);
    mk_ptrmap_init(&c.off_mask, p->alloc);
    int ok = 1;
    for (int i = 0; i < p->n_functions && ok; i++)
        ok = mark_non_sentinel(&c.non_sentinel, p->functions[i]->block) &&
             mark_masks(&c.masks, p->functions[i]->block) &&
             mark_off_mask(&c.off_mask, p->functions[i]->block);
    int r = ok ? mk_pass_each_op(p, rewrite, &c, e) : (MK_OOM(e), -1);
    mk_strmap_free(&c.non_sentinel);
    mk_ptrmap_free(&c.masks);
    mk_ptrmap_free(&c.off_mask);
    return r;
}
