/* Placement prediction: for each op, whether published evidence (hazards.md Table 2, H4, H5,
 * H18-H21, H29) says it runs off the Neural Engine. This is a prediction, not a measurement:
 * Apple documents no op list, and residency changes with device and OS. Printing lives in
 * src/api/lint.c. */
#include <stdio.h>
#include <string.h>

#include "lint_int.h"

enum { PL_NONE = 0, PL_NE, PL_CPU, PL_WEIGHT, PL_CTRL };

/* One entry per op in ops.def (a unit test checks every op has one). PL_NE means "no
 * evidence that it leaves the Neural Engine"; shape and dtype conditions are checked apart. */
static const unsigned char place[MK_OP__COUNT] = {
    [MK_OP_CONST] = PL_WEIGHT,
    [MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE] = PL_WEIGHT,
    [MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE] = PL_WEIGHT,
    [MK_OP_CONSTEXPR_CAST] = PL_WEIGHT,
    [MK_OP_CONSTEXPR_LUT_TO_DENSE] = PL_WEIGHT,
    [MK_OP_CONSTEXPR_SPARSE_TO_DENSE] = PL_WEIGHT,
    [MK_OP_CONSTEXPR_LUT_TO_SPARSE] = PL_WEIGHT,
    [MK_OP_CONSTEXPR_SPARSE_BLOCKWISE_SHIFT_SCALE] = PL_WEIGHT,
    [MK_OP_ADD] = PL_NE,
    [MK_OP_SUB] = PL_NE,
    [MK_OP_MUL] = PL_NE,
    [MK_OP_REAL_DIV] = PL_NE,
    [MK_OP_FLOOR_DIV] = PL_NE,
    [MK_OP_MOD] = PL_NE,
    [MK_OP_POW] = PL_NE,
    [MK_OP_MAXIMUM] = PL_NE,
    [MK_OP_MINIMUM] = PL_NE,
    [MK_OP_EQUAL] = PL_NE,
    [MK_OP_NOT_EQUAL] = PL_NE,
    [MK_OP_LESS] = PL_NE,
    [MK_OP_LESS_EQUAL] = PL_NE,
    [MK_OP_GREATER] = PL_NE,
    [MK_OP_GREATER_EQUAL] = PL_NE,
    [MK_OP_LOGICAL_AND] = PL_NE,
    [MK_OP_LOGICAL_OR] = PL_NE,
    [MK_OP_LOGICAL_XOR] = PL_NE,
    [MK_OP_LOGICAL_NOT] = PL_NE,
    [MK_OP_ABS] = PL_NE,
    [MK_OP_SIGN] = PL_NE,
    [MK_OP_CEIL] = PL_NE,
    [MK_OP_FLOOR] = PL_NE,
    [MK_OP_ROUND] = PL_NE,
    [MK_OP_EXP] = PL_NE,
    [MK_OP_EXP2] = PL_NE,
    [MK_OP_LOG] = PL_NE,
    [MK_OP_SQRT] = PL_NE,
    [MK_OP_RSQRT] = PL_NE,
    [MK_OP_INVERSE] = PL_NE,
    [MK_OP_SQUARE] = PL_NE,
    [MK_OP_SIN] = PL_NE,
    [MK_OP_COS] = PL_NE,
    [MK_OP_TAN] = PL_NE,
    [MK_OP_ASIN] = PL_NE,
    [MK_OP_ACOS] = PL_NE,
    [MK_OP_ATAN] = PL_NE,
    [MK_OP_SINH] = PL_NE,
    [MK_OP_COSH] = PL_NE,
    [MK_OP_ATANH] = PL_NE,
    [MK_OP_ERF] = PL_NE,
    [MK_OP_CLIP] = PL_NE,
    [MK_OP_THRESHOLD] = PL_NE,
    [MK_OP_CAST] = PL_NE,
    [MK_OP_RELU] = PL_NE,
    [MK_OP_RELU6] = PL_NE,
    [MK_OP_LEAKY_RELU] = PL_NE,
    [MK_OP_PRELU] = PL_NE,
    [MK_OP_ELU] = PL_NE,
    [MK_OP_SIGMOID] = PL_NE,
    [MK_OP_SIGMOID_HARD] = PL_NE,
    [MK_OP_SILU] = PL_NE,
    [MK_OP_TANH] = PL_NE,
    [MK_OP_SCALED_TANH] = PL_NE,
    [MK_OP_GELU] = PL_NE,
    [MK_OP_SOFTPLUS] = PL_NE,
    [MK_OP_SOFTSIGN] = PL_NE,
    [MK_OP_LINEAR_ACTIVATION] = PL_NE,
    [MK_OP_CLAMPED_RELU] = PL_NE,
    [MK_OP_THRESHOLDED_RELU] = PL_NE,
    [MK_OP_SOFTPLUS_PARAMETRIC] = PL_NE,
    [MK_OP_SOFTMAX] = PL_NE,
    [MK_OP_LINEAR] = PL_NE,
    [MK_OP_MATMUL] = PL_NE,
    [MK_OP_EINSUM] = PL_NE,
    [MK_OP_CONV] = PL_NE,
    [MK_OP_CONV_TRANSPOSE] = PL_NE,
    [MK_OP_BATCH_NORM] = PL_NE,
    [MK_OP_INSTANCE_NORM] = PL_NE,
    [MK_OP_LAYER_NORM] = PL_NE,
    [MK_OP_L2_NORM] = PL_NE,
    [MK_OP_LOCAL_RESPONSE_NORM] = PL_NE,
    [MK_OP_AVG_POOL] = PL_NE,
    [MK_OP_MAX_POOL] = PL_NE,
    [MK_OP_L2_POOL] = PL_NE,
    [MK_OP_REDUCE_MEAN] = PL_NE,
    [MK_OP_REDUCE_SUM] = PL_NE,
    [MK_OP_REDUCE_MAX] = PL_NE,
    [MK_OP_REDUCE_MIN] = PL_NE,
    [MK_OP_REDUCE_PROD] = PL_NE,
    [MK_OP_REDUCE_L1_NORM] = PL_NE,
    [MK_OP_REDUCE_L2_NORM] = PL_NE,
    [MK_OP_REDUCE_LOG_SUM] = PL_NE,
    [MK_OP_REDUCE_LOG_SUM_EXP] = PL_NE,
    [MK_OP_REDUCE_SUM_SQUARE] = PL_NE,
    [MK_OP_REDUCE_ARGMAX] = PL_NE,
    [MK_OP_REDUCE_ARGMIN] = PL_NE,
    [MK_OP_CUMSUM] = PL_CPU,
    [MK_OP_RESHAPE] = PL_NE,
    [MK_OP_TRANSPOSE] = PL_NE,
    [MK_OP_EXPAND_DIMS] = PL_NE,
    [MK_OP_SQUEEZE] = PL_NE,
    [MK_OP_FLATTEN2D] = PL_NE,
    [MK_OP_CONCAT] = PL_NE,
    [MK_OP_SPLIT] = PL_NE,
    [MK_OP_STACK] = PL_NE,
    [MK_OP_SLICE_BY_INDEX] = PL_NE,
    [MK_OP_SLICE_BY_SIZE] = PL_NE,
    [MK_OP_SLICE_UPDATE] = PL_CPU,
    [MK_OP_GATHER] = PL_NE,
    [MK_OP_GATHER_ALONG_AXIS] = PL_CPU,
    [MK_OP_GATHER_ND] = PL_NE,
    [MK_OP_SCATTER] = PL_CPU,
    [MK_OP_SCATTER_ALONG_AXIS] = PL_CPU,
    [MK_OP_SCATTER_ND] = PL_CPU,
    [MK_OP_TILE] = PL_NE,
    [MK_OP_PAD] = PL_NE,
    [MK_OP_REVERSE] = PL_NE,
    [MK_OP_SELECT] = PL_NE,
    [MK_OP_SHAPE] = PL_NE,
    [MK_OP_IDENTITY] = PL_NE,
    [MK_OP_FILL] = PL_CPU,
    [MK_OP_FILL_LIKE] = PL_CPU,
    [MK_OP_RANGE_1D] = PL_CPU,
    [MK_OP_ONE_HOT] = PL_NE,
    [MK_OP_TOPK] = PL_CPU,
    [MK_OP_ARGSORT] = PL_CPU,
    [MK_OP_NON_ZERO] = PL_CPU,
    [MK_OP_BAND_PART] = PL_NE,
    [MK_OP_DEPTH_TO_SPACE] = PL_NE,
    [MK_OP_SPACE_TO_DEPTH] = PL_NE,
    [MK_OP_PIXEL_SHUFFLE] = PL_NE,
    [MK_OP_PIXEL_UNSHUFFLE] = PL_NE,
    [MK_OP_BATCH_TO_SPACE] = PL_NE,
    [MK_OP_SPACE_TO_BATCH] = PL_NE,
    [MK_OP_REVERSE_SEQUENCE] = PL_NE,
    [MK_OP_SLIDING_WINDOWS] = PL_NE,
    [MK_OP_RESHAPE_LIKE] = PL_NE,
    [MK_OP_CROP] = PL_NE,
    [MK_OP_UPSAMPLE_NEAREST_NEIGHBOR] = PL_NE,
    [MK_OP_UPSAMPLE_BILINEAR] = PL_NE,
    [MK_OP_RESIZE_NEAREST_NEIGHBOR] = PL_NE,
    [MK_OP_RESIZE_BILINEAR] = PL_NE,
    [MK_OP_RESIZE] = PL_NE,
    [MK_OP_RESAMPLE] = PL_NE,
    [MK_OP_AFFINE] = PL_NE,
    [MK_OP_CROP_RESIZE] = PL_NE,
    [MK_OP_NON_MAXIMUM_SUPPRESSION] = PL_CPU,
    [MK_OP_MAKE_LIST] = PL_CTRL,
    [MK_OP_LIST_LENGTH] = PL_CTRL,
    [MK_OP_LIST_READ] = PL_CTRL,
    [MK_OP_LIST_WRITE] = PL_CTRL,
    [MK_OP_LIST_GATHER] = PL_CTRL,
    [MK_OP_LIST_SCATTER] = PL_CTRL,
    [MK_OP_LSTM] = PL_CPU,
    [MK_OP_GRU] = PL_CPU,
    [MK_OP_RNN] = PL_CPU,
    [MK_OP_SCALED_DOT_PRODUCT_ATTENTION] = PL_NE,
    [MK_OP_COND] = PL_CTRL,
    [MK_OP_WHILE_LOOP] = PL_CTRL,
    [MK_OP_QUANTIZE] = PL_NE,
    [MK_OP_DEQUANTIZE] = PL_NE,
    [MK_OP_READ_STATE] = PL_CTRL,
    [MK_OP_RANDOM_BERNOULLI] = PL_NE,
    [MK_OP_RANDOM_CATEGORICAL] = PL_NE,
    [MK_OP_RANDOM_NORMAL] = PL_NE,
    [MK_OP_RANDOM_UNIFORM] = PL_NE,
    [MK_OP_WRITE_STATE] = PL_CTRL,
    [MK_OP_COREML_UPDATE_STATE] = PL_CTRL,
};

int lint_placement_known(mk_op_kind k)
{
    return (unsigned)k < MK_OP__COUNT && place[k] != PL_NONE;
}

int lint_is_weight_op(const mk_op *op)
{
    return (unsigned)op->kind < MK_OP__COUNT && place[op->kind] == PL_WEIGHT;
}

int lint_program_is_fp16(const mk_program *p)
{
    for (int i = 0; i < p->n_functions; i++) MK_FOR_OPS(p->functions[i]->block, op)
        {
            if (lint_is_weight_op(op) || op->kind == MK_OP_CAST) continue;
            for (int j = 0; j < op->n_outputs; j++)
                if (op->outputs[j]->type.dtype == MK_DT_FP16) return 1;
        }
    return 0;
}

static const char *shape_reason(const mk_type *t, char *buf, size_t n)
{
    if (t->rank > 5) {
        snprintf(buf, n, "rank %d > 5 (H21)", t->rank);
        return buf;
    }
    for (int d = 0; d < t->rank; d++) {
        if (t->dims[d] < 0) return "dynamic shape (H18)";
        if (t->dims[d] == 0) return "zero-sized dimension (H22)";
        int64_t lim = (t->rank == 5 ? d >= 2 : d >= t->rank - 2) ? 16384 : 65536;
        if (t->dims[d] > lim) {
            snprintf(buf, n, "axis %d = %lld > %lld (H20)", d, (long long)t->dims[d],
                     (long long)lim);
            return buf;
        }
    }
    return NULL;
}

const char *lint_off_ne_reason(const mk_op *op, int fp16_program, char *buf, size_t n)
{
    if ((unsigned)op->kind >= MK_OP__COUNT) return "unknown op";
    switch (place[op->kind]) {
    case PL_WEIGHT: return NULL;
    case PL_CPU:
        snprintf(buf, n, "%s runs on the CPU (%s)", mk_ir_op_info(op->kind)->name,
                 op->kind == MK_OP_NON_ZERO ? "Table 2: data-dependent shape"
                 : op->kind == MK_OP_CUMSUM || op->kind == MK_OP_FILL ||
                         op->kind == MK_OP_FILL_LIKE || op->kind == MK_OP_RANGE_1D
                     ? "H4"
                 : op->kind == MK_OP_SCATTER || op->kind == MK_OP_SCATTER_ND ||
                         op->kind == MK_OP_SCATTER_ALONG_AXIS || op->kind == MK_OP_SLICE_UPDATE
                     ? "H5"
                     : "H29");
        return buf;
    case PL_CTRL:
        snprintf(buf, n, "%s: control flow/state/list has no Neural Engine evidence",
                 mk_ir_op_info(op->kind)->name);
        return buf;
    default: break;
    }
    for (int i = 0; i < op->n_outputs; i++) {
        const mk_type *t = &op->outputs[i]->type;
        if (mk_dtype_is_float(t->dtype) && t->dtype != MK_DT_FP16 &&
            !(op->kind == MK_OP_CAST && fp16_program))
            return fp16_program ? "fp32 island (H19)" : "fp32 compute (H19)";
        const char *r = shape_reason(t, buf, n);
        if (r) return r;
    }
    for (int i = 0; i < op->n_inputs; i++)
        for (int j = 0; j < op->inputs[i].n_args; j++) {
            const char *r = shape_reason(&op->inputs[i].args[j]->type, buf, n);
            if (r) return r;
        }
    return NULL;
}
