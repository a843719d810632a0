/* Lint rules on shapes, dtypes and sizes: H18 (flexible shapes), H19 (fp32 compute), H20
 * (dims beyond the Neural Engine range), H21 (rank > 5), H22 (zero-sized dims), H23 (padded
 * output rows), H24 (small last axis) and H30 (weight size). Only reads the IR. */
#include <string.h>

#include "lint_int.h"

void mk_lint_h18(lint_ctx *c, const mk_op *op)
{
    if (op->kind != MK_OP_RESHAPE) return;
    const mk_value *s = mk_ir_arg(op, "shape");
    if (s && !s->cst)
        mk_lint_flag(c, op, 0,
                     "reshape to a shape computed at run time: dynamic shapes keep the "
                     "model off the Neural Engine; fold the shape arithmetic to constants");
}

static int block_has(const mk_block *b, mk_op_kind k)
{
    MK_FOR_OPS(b, op)
    {
        if (op->kind == k) return 1;
        for (int i = 0; i < op->n_blocks; i++)
            if (block_has(op->blocks[i], k)) return 1;
    }
    return 0;
}

static const mk_feature *feature(const mk_program *p, const char *name)
{
    for (int i = 0; name && i < p->n_inputs; i++)
        if (p->inputs[i].name && !strcmp(p->inputs[i].name, name)) return &p->inputs[i];
    return NULL;
}

/* H18's program-level triggers: a range (RangeDim) input, an input with unknown dims and no
 * enumerated set, or enumerated shapes together with layer_norm. Enumerated shapes alone
 * keep the Neural Engine. */
void mk_lint_h18_prog(lint_ctx *c)
{
    const mk_program *p = c->p;
    for (int i = 0; i < p->n_inputs; i++)
        if (p->inputs[i].flex == MK_FLEX_RANGE) {
            mk_lint_flag(c, NULL, 0,
                         "input '%s' has a range (flexible) shape: Core ML runs such "
                         "models without the Neural Engine; use static or enumerated "
                         "shapes",
                         p->inputs[i].name);
            return;
        }
    const mk_function *f = mk_ir_main(p);
    const char *enumerated = NULL;
    for (int i = 0; f && i < f->n_inputs; i++) {
        const mk_feature *ft = feature(p, f->inputs[i]->name);
        if (ft && ft->flex == MK_FLEX_ENUMERATED) {
            if (!enumerated) enumerated = ft->name;
        } else if (!mk_type_is_static(&f->inputs[i]->type)) {
            mk_lint_flag(c, NULL, 0,
                         "input '%s' has unknown dimensions: dynamic shapes keep the "
                         "model off the Neural Engine",
                         f->inputs[i]->name);
            return;
        }
    }
    for (int i = 0; enumerated && i < p->n_functions; i++)
        if (block_has(p->functions[i]->block, MK_OP_LAYER_NORM)) {
            mk_lint_flag(c, NULL, 0,
                         "input '%s' has enumerated shapes and the program has layer_norm: "
                         "that combination runs without the Neural Engine; use one static "
                         "shape per function",
                         enumerated);
            return;
        }
}

void mk_lint_h19(lint_ctx *c, const mk_op *op)
{
    if (!c->fp16_program || mk_lint_is_weight_op(op) || op->kind == MK_OP_CAST || !op->n_outputs)
        return;
    if (op->outputs[0]->type.dtype == MK_DT_FP32)
        mk_lint_flag(c, op, 0,
                     "fp32 op inside an fp16 program: the Neural Engine refuses fp32, so "
                     "this island splits the graph onto GPU/CPU");
}

void mk_lint_h19_prog(lint_ctx *c)
{
    if (c->fp16_program) return;
    const mk_function *f = mk_ir_main(c->p);
    if (!f) return;
    MK_FOR_OPS(f->block, op)
    {
        if (mk_lint_is_weight_op(op) || !op->n_outputs) continue;
        if (mk_dtype_is_float(op->outputs[0]->type.dtype)) {
            mk_lint_flag(c, NULL, 0,
                         "the program computes in fp32: an fp32 ML Program never runs on "
                         "the Neural Engine; convert with --precision fp16");
            return;
        }
    }
}

/* A value the block returns (a model output): no rewrite inside the graph can change it. */
static int block_output(const mk_op *op, const mk_value *v)
{
    for (int i = 0; op->parent && i < op->parent->n_outputs; i++)
        if (op->parent->outputs[i] == v) return 1;
    return 0;
}

/* The fix is offered where fix_long_axis rewrites (mk_ir_long_fixable, src/ir/long_axis.c). */
void mk_lint_h20(lint_ctx *c, const mk_op *op)
{
    if (mk_lint_is_weight_op(op)) return;
    for (int i = 0; i < op->n_outputs; i++) {
        int64_t lim = 0;
        const mk_type *t = &op->outputs[i]->type;
        int ax = mk_ir_ne_long_axis(t, &lim);
        if (ax >= 0) {
            int out = block_output(op, op->outputs[i]);
            int fixable = !out && mk_ir_long_fixable(op);
            mk_lint_flag(c, op, fixable,
                         "output axis %d has %lld elements (> %lld): the Neural Engine "
                         "rejects it and GPU textures cap at 16384; %s",
                         ax, (long long)t->dims[ax], (long long)lim,
                         out       ? "no safe rewrite in-graph: split the output"
                         : fixable ? "split the axis into chunks"
                                   : "split the axis into chunks by hand (fix_long_axis splits "
                                     "only a projection's or a pointwise chain's reductions)");
            return;
        }
    }
}

void mk_lint_h20_prog(lint_ctx *c)
{
    const mk_function *f = mk_ir_main(c->p);
    for (int i = 0; f && i < f->n_inputs; i++) {
        const mk_type *t = &f->inputs[i]->type;
        for (int d = 0; d < t->rank; d++)
            if (t->dims[d] > 16384) {
                mk_lint_flag(c, NULL, 0,
                             "input '%s' axis %d has %lld elements (> 16384): older "
                             "Core ML refuses to load it",
                             f->inputs[i]->name, d, (long long)t->dims[d]);
                return;
            }
    }
}

void mk_lint_h21(lint_ctx *c, const mk_op *op)
{
    for (int i = 0; i < op->n_outputs; i++)
        if (op->outputs[i]->type.rank > 5) {
            int out = block_output(op, op->outputs[i]), fixable = !out && mk_ir_rank_fixable(op);
            mk_lint_flag(c, op, fixable,
                         "rank-%d output: Core ML supports rank <= 5 (compile error "
                         "\"Invalid rank\"); %s",
                         op->outputs[i]->type.rank,
                         out ? "no safe rewrite in-graph: the model output itself has that rank"
                         : fixable
                             ? "collapse size-1 or adjacent axes"
                             : "collapse size-1 or adjacent axes by hand (no rewrite here: not "
                               "a reshape-opened chain that collapses to rank <= 5)");
            return;
        }
}

void mk_lint_h22(lint_ctx *c, const mk_op *op)
{
    int fixable = 0;
    if (mk_ir_concat_empty_inputs(op, &fixable)) {
        mk_lint_flag(c, op, fixable,
                     "concat with an empty input: Core ML rejects zero-sized tensors; drop the "
                     "empty input");
        return;
    }
    if (op->kind == MK_OP_CONST) return;
    for (int i = 0; i < op->n_outputs; i++)
        if (mk_ir_type_has_zero_dim(&op->outputs[i]->type)) {
            mk_lint_flag(c, op, 0,
                         "output '%s' has a zero-sized dimension: Core ML rejects "
                         "zero-sized tensors",
                         op->outputs[i]->name);
            return;
        }
}

void mk_lint_h23_prog(lint_ctx *c)
{
    const mk_function *f = mk_ir_main(c->p);
    if (!f) return;
    const mk_block *b = f->block;
    for (int i = 0; i < b->n_outputs; i++) {
        const mk_type *t = &b->outputs[i]->type;
        if (t->rank < 1 || t->dims[t->rank - 1] < 0) continue;
        int align = t->dtype == MK_DT_FP16 ? 32 : 16;
        if (t->dims[t->rank - 1] % align) {
            mk_lint_flag(c, NULL, 0,
                         "output '%s' last dim %lld is not a multiple of %d: NE/GPU "
                         "outputs may be row-padded; read MLMultiArray with strides",
                         b->outputs[i]->name, (long long)t->dims[t->rank - 1], align);
            return;
        }
    }
}

void mk_lint_h24(lint_ctx *c, const mk_op *op)
{
    if (!c->fp16_program || mk_lint_is_weight_op(op) || !op->n_outputs) return;
    const mk_type *t = &op->outputs[0]->type;
    size_t n = 0;
    if (t->rank < 2 || !mk_type_numel(t, &n) || n < 65536) return;
    int64_t last = t->dims[t->rank - 1];
    if (last > 0 && last < 16) /* padded to 32: at least 2x the memory and bandwidth */
        mk_lint_flag(c, op, 0,
                     "last axis %lld on a %zu-element tensor: the Neural Engine pads the last axis "
                     "to 32 fp16 values (%.0fx memory and bandwidth); prefer (B,C,1,S)",
                     (long long)last, n, 32.0 / (double)last);
}

void mk_lint_h30_prog(lint_ctx *c)
{
    size_t total = 0;
    for (int fi = 0; fi < c->p->n_functions; fi++) {
        const mk_function *f = c->p->functions[fi];
        MK_FOR_OPS(f->block, op)
        {
            if (op->kind == MK_OP_CONST && op->n_outputs && op->outputs[0]->cst)
                total += op->outputs[0]->cst->nbytes;
            for (int a = 0; a < op->n_attrs; a++)
                if (op->kind != MK_OP_CONST && op->attrs[a].value && op->attrs[a].value->cst)
                    total += op->attrs[a].value->cst->nbytes;
        }
    }
    const size_t gb = (size_t)1 << 30;
    if (total > 2 * gb)
        mk_lint_flag(c, NULL, 0,
                     "weights total %.2f GiB: a weight file over 2 GiB fails to load "
                     "(\"Error in declaring network\"); split the model",
                     (double)total / (double)gb);
    else if (total > 1000000000u)
        mk_lint_flag(c, NULL, 0,
                     "weights total %.2f GB: iPhone/iPad Neural Engine models (or each "
                     "chunk) must stay under ~1 GB; chunk or palettize to <= 6 bits",
                     (double)total / 1e9);
}
