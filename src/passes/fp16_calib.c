/* Which ops fp16 calibration keeps in fp32 (the keep set of mk_pass_fp16_keep), decided from
 * what the interpreter saw on calibration inputs: an op that writes or reads a value beyond
 * the fp16 range (with a margin) stays fp32, so the large value never exists in fp16; an op
 * whose fp16 output error grew well beyond its inputs' error (cancellation, exp of a large
 * value) or became inf/NaN stays fp32 too. When the outputs still miss their bound,
 * mk_calib_front lists the remaining fp16 ops front first for the caller's search. The measuring
 * lives in src/api/calibrate.c. */
#include <math.h>
#include <string.h>

#include "passes_int.h"

#define ROUNDING 0x1p-11 /* relative error of one fp16 rounding */

typedef struct dctx {
    const mk_strmap *vals;
    const mk_calib_params *par;
    mk_strmap *keep;
    mk_arena *ar;
    int added;
} dctx;

static int skip_op(mk_op_kind k)
{
    return k == MK_OP_CONST || k == MK_OP_CAST || k == MK_OP_SHAPE || k == MK_OP_COND ||
           k == MK_OP_WHILE_LOOP || k == MK_OP_READ_STATE || k == MK_OP_CONSTEXPR_CAST ||
           k == MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE || k == MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE ||
           k == MK_OP_CONSTEXPR_LUT_TO_DENSE;
}

static const mk_calib_value *stat_of(const dctx *c, const mk_value *v)
{
    if (!v->name || !mk_dtype_is_float(v->type.dtype) || v->cst) return NULL;
    return mk_strmap_get(c->vals, v->name);
}

static int add(dctx *c, const mk_op *op, const mk_value *v, int why, double seen, double bound)
{
    if (mk_strmap_get(c->keep, op->name)) return 0;
    mk_calib_keep *k = mk_arena_alloc(c->ar, sizeof *k);
    if (!k) return -1;
    k->value = v->name;
    k->why = why;
    k->seen = seen;
    k->bound = bound;
    if (!mk_strmap_put(c->keep, op->name, k)) return -1;
    c->added++;
    return 0;
}

/* The largest error among op's float inputs (and whether one was inf/NaN in fp16). */
static double input_error(const dctx *c, const mk_op *op, int *bad)
{
    double in_err = 0;
    for (int i = 0; i < op->n_inputs; i++)
        for (int j = 0; j < op->inputs[i].n_args; j++) {
            const mk_calib_value *s = stat_of(c, op->inputs[i].args[j]);
            if (!s) continue;
            if (s->err > in_err) in_err = s->err;
            if (bad) *bad |= s->nonfinite;
        }
    return in_err;
}

static int decide_op(dctx *c, const mk_op *op)
{
    const mk_calib_params *par = c->par;
    int in_bad = 0;
    for (int i = 0; i < op->n_inputs; i++)
        for (int j = 0; j < op->inputs[i].n_args; j++) {
            const mk_value *v = op->inputs[i].args[j];
            const mk_calib_value *s = stat_of(c, v);
            if (s && s->max_abs > par->range)
                return add(c, op, v, MK_CALIB_RANGE, s->max_abs, par->range);
        }
    double in_err = input_error(c, op, &in_bad);
    for (int i = 0; i < op->n_outputs; i++) {
        const mk_value *v = op->outputs[i];
        const mk_calib_value *s = stat_of(c, v);
        if (s && s->max_abs > par->range)
            return add(c, op, v, MK_CALIB_RANGE, s->max_abs, par->range);
    }
    for (int i = 0; i < op->n_outputs; i++) {
        const mk_value *v = op->outputs[i];
        const mk_calib_value *s = stat_of(c, v);
        if (!s) continue;
        if (s->nonfinite && !in_bad) return add(c, op, v, MK_CALIB_ERROR, INFINITY, par->err);
        double floor = in_err > ROUNDING ? in_err : ROUNDING;
        if (s->err > par->err && s->err > par->growth * floor)
            return add(c, op, v, MK_CALIB_ERROR, s->err, par->err);
    }
    return 0;
}

static int decide_block(dctx *c, const mk_block *b)
{
    MK_FOR_OPS(b, op)
    {
        if (op->name && !skip_op(op->kind) && decide_op(c, op) < 0) return -1;
        for (int i = 0; i < op->n_blocks; i++)
            if (decide_block(c, op->blocks[i]) < 0) return -1;
    }
    return 0;
}

int mk_calib_decide(const mk_program *p, const mk_strmap *vals, const mk_calib_params *par,
                    mk_strmap *keep, mk_arena *ar, mk_err *e)
{
    dctx c = {vals, par, keep, ar, 0};
    for (int i = 0; i < p->n_functions; i++)
        if (decide_block(&c, p->functions[i]->block) < 0) return MK_OOM(e), -1;
    return c.added;
}

static int front(dctx *c, const mk_block *b, const mk_op **out, int *n)
{
    MK_FOR_OPS(b, op)
    {
        int fl = 0;
        for (int i = 0; i < op->n_outputs; i++) fl |= stat_of(c, op->outputs[i]) != NULL;
        if (op->name && fl && !skip_op(op->kind) && !mk_strmap_get(c->keep, op->name)) {
            if (out) out[*n] = op;
            ++*n;
        }
        for (int i = 0; i < op->n_blocks; i++) front(c, op->blocks[i], out, n);
    }
    return 0;
}

int mk_calib_front(const mk_program *p, const mk_strmap *vals, const mk_strmap *keep,
                   const mk_op ***out, int *n, mk_err *e)
{
    dctx c = {vals, NULL, (mk_strmap *)keep, NULL, 0};
    *out = NULL;
    *n = 0;
    for (int i = 0; i < p->n_functions; i++) front(&c, p->functions[i]->block, NULL, n);
    if (!*n) return 0;
    const mk_op **ops = mk_calloc(p->alloc, (size_t)*n, sizeof *ops);
    if (!ops) return MK_OOM(e), -1;
    int m = 0;
    for (int i = 0; i < p->n_functions; i++) front(&c, p->functions[i]->block, ops, &m);
    *out = ops;
    return 0;
}

int mk_calib_keep_op(const mk_op *op, int why, const char *value, double seen, double bound,
                     mk_strmap *keep, mk_arena *ar)
{
    mk_value v;
    memset(&v, 0, sizeof v);
    v.name = value;
    dctx c = {NULL, NULL, keep, ar, 0};
    return add(&c, op, &v, why, seen, bound);
}
