/* The H14 trigger shared by the lint rule and fix_fp16_range: the ops a large mask value flows
 * through (dtype changes, scaling, selects, broadcasts) to an additive softmax mask or an fp16
 * cast, the ops where a constant beyond +-65504 is a sentinel, and what the fix does with a
 * given constant: clip it to +-65504, turn a mask sentinel into -1e4, or keep it. */
#include <math.h>
#include <string.h>

#include "ir.h"

#define FP16_MAX 65504.0
#define MASK_BIG 40000.0
#define MASK_DEPTH 8

int mk_ir_mask_path_op(mk_op_kind k)
{
    static const mk_op_kind path[] = {
        MK_OP_CAST,           MK_OP_MUL,           MK_OP_ADD,      MK_OP_SUB,     MK_OP_SELECT,
        MK_OP_EXPAND_DIMS,    MK_OP_RESHAPE,       MK_OP_SQUEEZE,  MK_OP_TILE,    MK_OP_TRANSPOSE,
        MK_OP_SLICE_BY_INDEX, MK_OP_SLICE_BY_SIZE, MK_OP_CONCAT,   MK_OP_MINIMUM, MK_OP_MAXIMUM,
        MK_OP_FILL,           MK_OP_FILL_LIKE,     MK_OP_IDENTITY,
    };
    return mk_ir_op_in(k, path, (int)(sizeof path / sizeof *path));
}

/* Elsewhere (batch_norm variance 1e7, big weights or scales) clipping would change the math,
 * so such an op stays fp32, as in coremltools. */
int mk_ir_saturating_op(mk_op_kind k)
{
    static const mk_op_kind sat[] = {
        MK_OP_ADD,
        MK_OP_SUB,
        MK_OP_MAXIMUM,
        MK_OP_MINIMUM,
        MK_OP_CLIP,
        MK_OP_THRESHOLD,
        MK_OP_SELECT,
        MK_OP_FILL,
        MK_OP_FILL_LIKE,
        MK_OP_PAD,
        MK_OP_EQUAL,
        MK_OP_NOT_EQUAL,
        MK_OP_LESS,
        MK_OP_LESS_EQUAL,
        MK_OP_GREATER,
        MK_OP_GREATER_EQUAL,
        MK_OP_SCALED_DOT_PRODUCT_ATTENTION,
    };
    return mk_ir_op_in(k, sat, (int)(sizeof sat / sizeof *sat));
}

const mk_op *mk_ir_mask_source(const mk_op *softmax)
{
    const mk_value *x = softmax->kind == MK_OP_SOFTMAX ? mk_ir_arg(softmax, "x") : NULL;
    const mk_op *a = x ? x->producer : NULL;
    while (a && (a->kind == MK_OP_CAST || a->kind == MK_OP_RESHAPE) && mk_ir_arg(a, "x"))
        a = mk_ir_arg(a, "x")->producer;
    return a && (a->kind == MK_OP_ADD || a->kind == MK_OP_SUB || a->kind == MK_OP_SELECT) ? a
                                                                                          : NULL;
}

/* A float input of op that can carry a mask value (select's cond cannot). */
static int carries(const mk_op *op, int i, const mk_value *a)
{
    return mk_dtype_is_float(a->type.dtype) &&
           !(op->kind == MK_OP_SELECT && !strcmp(op->inputs[i].name, "cond"));
}

/* The largest magnitude among v's float constant elements (NaN ignored). */
static double magnitude(const mk_value *v)
{
    size_t n = 0;
    double m = 0;
    if (!v->cst || !v->cst->data || !mk_dtype_is_float(v->type.dtype) ||
        !mk_type_numel(&v->type, &n))
        return 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(mk_const_get_f64(v, i));
        if (d > m) m = d;
    }
    return m;
}

static int reaches(const mk_value *from, const mk_value *v, int depth)
{
    if (from->cst) return from == v;
    const mk_op *pr = from->producer;
    if (!pr || depth <= 0 || !mk_ir_mask_path_op(pr->kind)) return 0;
    for (int i = 0; i < pr->n_inputs; i++)
        for (int j = 0; j < pr->inputs[i].n_args; j++)
            if (carries(pr, i, pr->inputs[i].args[j]) &&
                reaches(pr->inputs[i].args[j], v, depth - 1))
                return 1;
    return 0;
}

/* v reaches some softmax's additive mask in b (nested blocks included). */
static int in_some_mask(const mk_block *b, const mk_value *v)
{
    MK_FOR_OPS(b, op)
    {
        const mk_op *a = mk_ir_mask_source(op);
        for (int i = 0; a && i < a->n_inputs; i++)
            for (int j = 0; j < a->inputs[i].n_args; j++)
                if (carries(a, i, a->inputs[i].args[j]) &&
                    reaches(a->inputs[i].args[j], v, MASK_DEPTH))
                    return 1;
        for (int i = 0; i < op->n_blocks; i++)
            if (in_some_mask(op->blocks[i], v)) return 1;
    }
    return 0;
}

/* Whether every reader of v in b is a saturating op (*sat) / a mask path op or softmax
 * (*mask); a block returning v is neither. */
static void readers(const mk_block *b, const mk_value *v, int *sat, int *mask)
{
    MK_FOR_OPS(b, op)
    {
        for (int i = 0; i < op->n_inputs; i++)
            for (int j = 0; j < op->inputs[i].n_args; j++)
                if (op->inputs[i].args[j] == v) {
                    *sat &= mk_ir_saturating_op(op->kind);
                    *mask &= mk_ir_mask_path_op(op->kind) || op->kind == MK_OP_SOFTMAX;
                }
        for (int i = 0; i < op->n_blocks; i++) readers(op->blocks[i], v, sat, mask);
    }
    for (int i = 0; i < b->n_outputs; i++)
        if (b->outputs[i] == v) *sat = *mask = 0;
}

/* Some element of float constant v is above limit in magnitude (NaN is not). */
static int above(const mk_value *v, double limit)
{
    size_t n = 0;
    if (!v->cst || !v->cst->data || !mk_type_numel(&v->type, &n)) return 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(mk_const_get_f64(v, i)) > limit) return 1;
    return 0;
}

static int beyond_fp16(const mk_value *v)
{
    if (v->type.dtype == MK_DT_FP32) return mk_ir_const_beyond_f16(v, 0);
    return v->type.dtype == MK_DT_FP16 && above(v, FP16_MAX);
}

mk_h14_rewrite mk_ir_h14_rewrite(const mk_value *v, const mk_op *reader)
{
    size_t n = 0;
    if (!v || !v->cst || !v->cst->data || !mk_type_numel(&v->type, &n) ||
        (v->type.dtype != MK_DT_FP32 && v->type.dtype != MK_DT_FP16))
        return MK_H14_KEEP;
    const mk_op *at = v->producer ? v->producer : reader;
    const mk_block *root = at ? at->parent : NULL;
    while (root && root->parent_op) root = root->parent_op->parent;
    if (!root) return MK_H14_KEEP;
    int sat = 1, mask = 1;
    if (v->producer) {
        readers(root, v, &sat, &mask);
    } else {
        sat = mk_ir_saturating_op(reader->kind);
        mask = mk_ir_mask_path_op(reader->kind) || reader->kind == MK_OP_SOFTMAX;
    }
    if (mask && above(v, MASK_BIG) && in_some_mask(root, v)) return MK_H14_MASK;
    return sat && beyond_fp16(v) ? MK_H14_CLIP : MK_H14_KEEP;
}

void mk_ir_mask_walk(const mk_value *v, const mk_op *reader, int depth, mk_mask_walk *w)
{
    if (v->cst) {
        double m = magnitude(v);
        if (-m < w->sentinel) w->sentinel = -m;
        mk_h14_rewrite r = mk_ir_h14_rewrite(v, reader);
        w->mask |= r == MK_H14_MASK;
        w->clip |= r != MK_H14_KEEP && beyond_fp16(v);
        return;
    }
    const mk_op *pr = v->producer;
    if (!pr || depth <= 0 || !mk_ir_mask_path_op(pr->kind)) return;
    for (int i = 0; i < pr->n_inputs; i++)
        for (int j = 0; j < pr->inputs[i].n_args; j++)
            if (carries(pr, i, pr->inputs[i].args[j]))
                mk_ir_mask_walk(pr->inputs[i].args[j], pr, depth - 1, w);
}
