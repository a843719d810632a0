/* Lint rules on particular ops: H4/H5/H29 (ops that run on the CPU), H6 (negative indices
 * in iOS17+ gathers/scatters), H25/H26 (Neural Engine layout guidance), H31 (compressed
 * weights), H32 (rank-5 instance_norm), H33 (shared prelu slope), H34 (state alignment),
 * H35 (pad/slice/gather forms the runtime rejects) and H37 (integer linear). */
#include <string.h>

#include "lint_int.h"

void mk_lint_h4(lint_ctx *c, const mk_op *op)
{
    int64_t block;
    int ok = 0;
    if (!mk_ir_cpu_op(op, &block, &ok)) return;
    if (op->kind == MK_OP_CUMSUM)
        mk_lint_flag(c, op, ok, "cumsum runs on the CPU and splits the Neural Engine partition%s",
                     ok ? "; rewrite as a matmul with a constant triangular matrix" : "");
    else if (op->kind == MK_OP_FILL_LIKE)
        mk_lint_flag(c, op, ok, "fill_like runs on the CPU and splits the partition%s",
                     ok ? "; the shape is static: fold it" : " (dynamic shape: keep it)");
    else
        mk_lint_flag(c, op, ok, "%s runs on the CPU and splits the partition%s",
                     mk_lint_op_type(op), ok ? "; its inputs are constant: fold it" : "");
}

void mk_lint_h5(lint_ctx *c, const mk_op *op)
{
    if (op->kind == MK_OP_SCATTER || op->kind == MK_OP_SCATTER_ND ||
        op->kind == MK_OP_SCATTER_ALONG_AXIS) {
        const char *why = NULL;
        int ok = mk_ir_scatter_map(op, c->p->alloc, NULL, &why) == 1;
        if (ok) {
            mk_lint_flag_fix(c, op, "fix_scatter",
                             "%s leaves the Neural Engine; its indices are constant: rewrite as a "
                             "gather of the updates + select with a constant mask",
                             mk_lint_op_type(op));
        } else {
            mk_lint_flag(c, op, 0, "%s leaves the Neural Engine; no constant-mask rewrite (%s)",
                         mk_lint_op_type(op), why ? why : "out of memory");
        }
        return;
    }
    if (op->kind != MK_OP_SLICE_UPDATE) return;
    const mk_value *u = mk_ir_arg(op, "update");
    int64_t bg[MK_MAX_RANK], box[MK_MAX_RANK];
    const char *fix = mk_ir_slice_update_box(op, bg, box) ? "fix_slice_update" : NULL;
    if (u && u->type.rank == 0)
        mk_lint_flag_fix(c, op, fix,
                         "slice_update with a rank-0 update is not supported by the "
                         "runtime (iOS18); use the select/mask form");
    else
        mk_lint_flag_fix(c, op, fix,
                         "slice_update leaves the Neural Engine (and failed to declare in "
                         "some models); rewrite as pad + select with a constant mask");
}

void mk_lint_h6(lint_ctx *c, const mk_op *op)
{
    int64_t first = 0;
    int fixable = 0;
    mk_neg_index r = mk_ir_negative_indices(op, c->ios, &first, &fixable);
    if (r == MK_NEG_CONST)
        mk_lint_flag(c, op, fixable,
                     "constant index %lld is negative: from iOS17 negative indices are out of "
                     "bounds (undefined result); add the axis size",
                     (long long)first);
    else if (r == MK_NEG_RUNTIME)
        mk_lint_flag(c, op, fixable,
                     "signed run-time indices in an iOS%d opset: negative values are out of bounds "
                     "from iOS17 (undefined result); guard with select(i >= 0, i, i + dim)",
                     c->ios);
}

void mk_lint_h25(lint_ctx *c, const mk_op *op)
{
    int fixable = 0;
    if (!mk_ir_linear_on_bsc(op, &fixable)) return;
    if (op->kind == MK_OP_LINEAR)
        mk_lint_flag(c, op, fixable,
                     "linear on (B,S,C) activations: Apple's Neural Engine ports use a "
                     "1x1 conv in (B,C,1,S) layout%s",
                     fixable ? " (fix with --ane-layout)"
                             : "; no rewrite here (weight not a plain 2-D constant)");
    else
        mk_lint_flag(c, op, 0,
                     "matmul with a constant weight on (B,S,C) activations: a 1x1 conv "
                     "in (B,C,1,S) layout is preferred on the Neural Engine");
}

void mk_lint_h26(lint_ctx *c, const mk_op *op)
{
    if (op->kind == MK_OP_SCALED_DOT_PRODUCT_ATTENTION) {
        mk_lint_flag(c, op, 0,
                     "fused attention has no Neural Engine path; split per head and "
                     "chunk the query axis");
        return;
    }
    if (op->kind != MK_OP_MATMUL || !op->n_outputs) return;
    const mk_type *t = &op->outputs[0]->type;
    if (t->rank == 4 && t->dims[1] > 1 && t->dims[2] >= 512 && t->dims[3] >= 512 &&
        !mk_ir_is_const_weight(mk_ir_arg(op, "y")))
        mk_lint_flag(c, op, 0,
                     "batched attention matmul with a [%lld,%lld,%lld,%lld] result: large "
                     "intermediates serialise on the Neural Engine; split per head",
                     (long long)t->dims[0], (long long)t->dims[1], (long long)t->dims[2],
                     (long long)t->dims[3]);
}

void mk_lint_h29(lint_ctx *c, const mk_op *op)
{
    static const mk_op_kind cpu[] = {MK_OP_TOPK, MK_OP_ARGSORT, MK_OP_GATHER_ALONG_AXIS,
                                     MK_OP_LSTM, MK_OP_GRU,     MK_OP_RNN};
    if (!mk_ir_op_in(op->kind, cpu, (int)(sizeof cpu / sizeof *cpu))) return;
    const mk_value *k = op->kind == MK_OP_TOPK ? mk_ir_arg(op, "k") : NULL;
    if (k && !k->cst)
        mk_lint_flag(c, op, 0,
                     "topk with a run-time k is not supported; and topk runs on the "
                     "CPU: move top-k/NMS to the host");
    else
        mk_lint_flag(c, op, 0,
                     "%s runs on the CPU and splits the Neural Engine partition; move "
                     "it to the host (or unroll static RNNs)",
                     mk_lint_op_type(op));
}

void mk_lint_h31(lint_ctx *c, const mk_op *op)
{
    if (op->kind != MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE &&
        op->kind != MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE &&
        op->kind != MK_OP_CONSTEXPR_LUT_TO_DENSE && op->kind != MK_OP_CONSTEXPR_SPARSE_TO_DENSE)
        return;
    if (c->seen[31]++) return;
    mk_lint_flag(c, op, 0,
                 "compressed weights (%s): backends may decompress them ahead of time, "
                 "so latency stays fp16; on the Neural Engine prefer palettization",
                 mk_lint_op_type(op));
}

/* A reduction over all three spatial axes of a rank-5 tensor (instance/group norm as
 * coremltools decomposes it), or an instance_norm on rank 5 from a converter. */
void mk_lint_h32(lint_ctx *c, const mk_op *op)
{
    int fixable = 0;
    if (!mk_ir_rank5_spatial(op, &fixable)) return;
    mk_lint_flag(c, op, fixable,
                 "%s over the D, H, W axes of a rank-5 tensor aborts on the GPU (MPS reductions "
                 "support axis <= 3); reshape to [N, C, D*H*W] around it",
                 mk_lint_op_type(op));
}

void mk_lint_h33(lint_ctx *c, const mk_op *op)
{
    int fixable = 0;
    if (mk_ir_prelu_shared_slope(op, &fixable))
        mk_lint_flag(c, op, fixable,
                     "prelu with one shared slope crashed Core ML (NeuralNetwork era); broadcast "
                     "the slope to one value per channel");
}

void mk_lint_h34(lint_ctx *c, const mk_op *op)
{
    if (op->kind != MK_OP_READ_STATE || !op->n_outputs) return;
    const mk_type *t = &op->outputs[0]->type;
    if (t->rank >= 1 && t->dims[t->rank - 1] > 0 && t->dims[t->rank - 1] % 32)
        mk_lint_flag(c, op, 0,
                     "state last dim %lld is not a multiple of 32: the model fails on the "
                     "Neural Engine; pad the state and slice the live part",
                     (long long)t->dims[t->rank - 1]);
}

void mk_lint_h35(lint_ctx *c, const mk_op *op)
{
    mk_rt_form f;
    if (!mk_ir_runtime_form(op, &f)) return;
    const char *no = f.fixable ? "" : " (no rewrite here: the axis sizes or pads do not allow it)";
    switch (f.kind) {
    case MK_RT_NONE: break;
    case MK_RT_PAD_NEGATIVE:
        mk_lint_flag(c, op, f.fixable,
                     "negative pad %lld: the runtime rejects it; crop with slice_by_index "
                     "instead%s",
                     (long long)f.amount, no);
        break;
    case MK_RT_PAD_OUTER:
        mk_lint_flag(c, op, f.fixable,
                     "%s pad on axis %d (not one of the last two) is not supported; transpose the "
                     "axis last, pad, transpose back%s",
                     mk_ir_arg_str(op, "mode"), f.axis, no);
        break;
    case MK_RT_GATHER_RANK0:
        mk_lint_flag(c, op, f.fixable,
                     "gather with rank-0 indices: reshape the index to [1], gather, then "
                     "squeeze%s",
                     f.fixable ? "" : " (no rewrite here: run-time or out-of-range axis)");
        break;
    case MK_RT_SLICE_TO_START:
        mk_lint_flag(c, op, f.fixable,
                     "slice with a negative stride running to the start (end %lld): set "
                     "end_mask for axis %d%s",
                     (long long)f.amount, f.axis,
                     f.fixable ? "" : " (no rewrite here: stride/end/end_mask not one per axis)");
        break;
    }
    if (f.no_constant_val)
        mk_lint_flag(c, op, f.zero_fixable,
                     "pad without constant_val: the runtime wants it even for "
                     "reflect/replicate; write 0 explicitly%s",
                     f.zero_fixable ? "" : " (no rewrite here: x's dtype has no 0 to bind)");
}

void mk_lint_h37(lint_ctx *c, const mk_op *op)
{
    if (mk_ir_int_linear(op))
        mk_lint_flag(c, op, 1, "linear with %s operands fails at run time; use matmul",
                     mk_dtype_name(mk_ir_arg(op, "x")->type.dtype));
}
