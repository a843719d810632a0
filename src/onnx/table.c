/* The importer table: one sorted row per ONNX op type {op_type, opset range, lowering,
 * why_not}. why_not gives the static reason a node cannot convert, so the pre-scan lists
 * every unsupported node before anything is lowered. Lowerings live in lower_*.c. An ONNX op
 * that is one MIL op names the MIL op kind in its row (UNARY_F, UNARY_ANY, BINARY, ALPHA,
 * ALPHA_BETA below) and needs no lowering of its own: mk_onnx_lower_direct builds it. */
#include <string.h>

#include "onnx_int.h"

#define ANY 1, 99
#define L(f) mk_onnx_lower_##f
#define W(f) mk_onnx_why_##f
#define OWN .mil.form = OX_OWN /* a lowering of its own, L(f) */
/* 1:1 rows: the ONNX op is the MIL op kind k (mk_onnx_lower_direct, lower_math.c) */
#define DIRECT(form, k, any_dtype, a, b) L(direct), NULL, .mil = {form, k, any_dtype, a, b}
#define UNARY_F(k) DIRECT(OX_UNARY, k, 0, 0, 0)   /* fp32 input only */
#define UNARY_ANY(k) DIRECT(OX_UNARY, k, 1, 0, 0) /* any input dtype MIL accepts */
#define BINARY(k) DIRECT(OX_BINARY, k, 1, 0, 0)   /* broadcasting "x", "y" */
#define ALPHA(k, a) DIRECT(OX_ALPHA, k, 1, a, 0)  /* attribute alpha (default a) */
#define ALPHA_BETA(k, a, b) DIRECT(OX_ALPHA_BETA, k, 1, a, b)

/* Sorted by op_type (strcmp order); a unit test checks the order. */
static const ox_importer importers[] = {
    {"Abs", ANY, UNARY_ANY(MK_OP_ABS)},
    {"Acos", ANY, UNARY_F(MK_OP_ACOS)},
    {"Acosh", 9, 99, L(acosh), NULL, OWN},
    {"Add", ANY, BINARY(MK_OP_ADD)},
    {"And", ANY, BINARY(MK_OP_LOGICAL_AND)},
    {"ArgMax", ANY, L(argmax), NULL, OWN},
    {"ArgMin", ANY, L(argmin), NULL, OWN},
    {"Asin", ANY, UNARY_F(MK_OP_ASIN)},
    {"Asinh", 9, 99, L(asinh), NULL, OWN},
    {"Atan", ANY, UNARY_F(MK_OP_ATAN)},
    {"Atanh", ANY, UNARY_F(MK_OP_ATANH)},
    {"AveragePool", ANY, L(avg_pool), W(pool), OWN},
    {"BatchNormalization", ANY, L(batch_norm), W(batch_norm), OWN},
    {"BitShift", 11, 99, L(bitshift), NULL, OWN},
    {"BlackmanWindow", 17, 99, L(blackman_window), NULL, OWN},
    {"Cast", ANY, L(cast), W(cast), OWN},
    {"CastLike", 15, 99, L(cast_like), NULL, OWN},
    {"Ceil", ANY, UNARY_F(MK_OP_CEIL)},
    {"Celu", 12, 99, L(celu), NULL, OWN},
    {"Clip", ANY, L(clip), NULL, OWN},
    {"Compress", 9, 99, L(compress), NULL, OWN},
    {"Concat", ANY, L(concat), NULL, OWN},
    {"Constant", ANY, L(constant), NULL, OWN},
    {"ConstantOfShape", 9, 99, L(constant_of_shape), NULL, OWN},
    {"Conv", ANY, L(conv), W(conv), OWN},
    {"ConvInteger", 10, 99, L(conv_integer), W(quant), OWN},
    {"ConvTranspose", ANY, L(conv_transpose), W(conv), OWN},
    {"Cos", ANY, UNARY_F(MK_OP_COS)},
    {"Cosh", ANY, UNARY_F(MK_OP_COSH)},
    {"CumSum", 11, 99, L(cumsum), NULL, OWN},
    {"DFT", 17, 99, L(dft), NULL, OWN},
    {"DepthToSpace", ANY, L(depth_to_space), W(depth_to_space), OWN},
    {"DequantizeLinear", 10, 99, L(dequantize_linear), W(quant), OWN},
    {"Det", 11, 99, L(det), NULL, OWN},
    {"Div", ANY, L(div), NULL, OWN},
    {"Dropout", ANY, L(identity), NULL, OWN},
    {"DynamicQuantizeLinear", 11, 99, L(dynamic_quantize_linear), NULL, OWN},
    {"Einsum", 12, 99, L(einsum), NULL, OWN},
    {"Elu", ANY, ALPHA(MK_OP_ELU, 1.0f)},
    {"Equal", ANY, L(equal), NULL, OWN},
    {"Erf", 9, 99, UNARY_F(MK_OP_ERF)},
    {"Exp", ANY, UNARY_F(MK_OP_EXP)},
    {"Expand", 8, 99, L(expand), NULL, OWN},
    {"EyeLike", 9, 99, L(eye_like), NULL, OWN},
    {"Flatten", ANY, L(flatten), NULL, OWN},
    {"Floor", ANY, UNARY_F(MK_OP_FLOOR)},
    {"GRU", ANY, L(gru), W(gru), OWN},
    {"Gather", ANY, L(gather), NULL, OWN},
    {"GatherElements", 11, 99, L(gather_elements), NULL, OWN},
    {"GatherND", 11, 99, L(gather_nd), NULL, OWN},
    {"Gelu", 20, 99, L(gelu), W(gelu), OWN},
    {"Gemm", ANY, L(gemm), NULL, OWN},
    {"GlobalAveragePool", ANY, L(global_avg_pool), NULL, OWN},
    {"GlobalMaxPool", ANY, L(global_max_pool), NULL, OWN},
    {"Greater", ANY, BINARY(MK_OP_GREATER)},
    {"GreaterOrEqual", 12, 99, BINARY(MK_OP_GREATER_EQUAL)},
    {"GridSample", 16, 99, L(grid_sample), W(grid_sample), OWN},
    {"HammingWindow", 17, 99, L(hamming_window), NULL, OWN},
    {"HannWindow", 17, 99, L(hann_window), NULL, OWN},
    {"HardSigmoid", ANY, ALPHA_BETA(MK_OP_SIGMOID_HARD, 0.2f, 0.5f)},
    {"HardSwish", 14, 99, L(hard_swish), NULL, OWN},
    {"Hardmax", ANY, L(hardmax), NULL, OWN},
    {"Identity", ANY, L(identity), NULL, OWN},
    {"If", ANY, L(if), W(if), OWN},
    {"InstanceNormalization", ANY, L(instance_norm), NULL, OWN},
    {"IsInf", 10, 99, L(is_inf), NULL, OWN},
    {"IsNaN", 9, 99, L(is_nan), NULL, OWN},
    {"LRN", ANY, L(lrn), NULL, OWN},
    {"LSTM", ANY, L(lstm), W(lstm), OWN},
    {"LayerNormalization", 17, 99, L(layer_norm), W(layer_norm), OWN},
    {"LeakyRelu", ANY, ALPHA(MK_OP_LEAKY_RELU, 0.01f)},
    {"Less", ANY, BINARY(MK_OP_LESS)},
    {"LessOrEqual", 12, 99, BINARY(MK_OP_LESS_EQUAL)},
    {"Log", ANY, L(log), NULL, OWN},
    {"LogSoftmax", ANY, L(log_softmax), NULL, OWN},
    {"Loop", ANY, L(loop), W(loop), OWN},
    {"MatMul", ANY, L(matmul), NULL, OWN},
    {"MatMulInteger", 10, 99, L(matmul_integer), W(quant), OWN},
    {"Max", ANY, L(max), NULL, OWN},
    {"MaxPool", ANY, L(max_pool_any), W(max_pool), OWN},
    {"MaxUnpool", 9, 99, L(max_unpool), NULL, OWN},
    {"Mean", ANY, L(mean), NULL, OWN},
    {"MeanVarianceNormalization", 9, 99, L(mvn), NULL, OWN},
    {"Min", ANY, L(min), NULL, OWN},
    {"Mod", 10, 99, L(mod), NULL, OWN},
    {"Mul", ANY, BINARY(MK_OP_MUL)},
    {"Neg", ANY, L(neg), NULL, OWN},
    {"NegativeLogLikelihoodLoss", 12, 99, L(nll_loss), W(loss), OWN},
    {"NonMaxSuppression", 10, 99, L(nms), NULL, OWN},
    {"NonZero", 9, 99, L(non_zero), NULL, OWN},
    {"Not", ANY, UNARY_ANY(MK_OP_LOGICAL_NOT)},
    {"OneHot", 9, 99, L(one_hot), NULL, OWN},
    {"Or", ANY, BINARY(MK_OP_LOGICAL_OR)},
    {"PRelu", ANY, L(prelu), NULL, OWN},
    {"Pad", ANY, L(pad), W(pad), OWN},
    {"Pow", ANY, L(pow), NULL, OWN},
    {"QLinearConv", 10, 99, L(qlinear_conv), W(quant), OWN},
    {"QLinearMatMul", 10, 99, L(qlinear_matmul), W(quant), OWN},
    {"QuantizeLinear", 10, 99, L(quantize_linear), W(quant), OWN},
    {"RNN", ANY, L(rnn), W(rnn), OWN},
    {"Range", 11, 99, L(range), NULL, OWN},
    {"Reciprocal", ANY, L(reciprocal), NULL, OWN},
    {"ReduceL1", ANY, L(reduce_l1), NULL, OWN},
    {"ReduceL2", ANY, L(reduce_l2), NULL, OWN},
    {"ReduceLogSum", ANY, L(reduce_log_sum), NULL, OWN},
    {"ReduceLogSumExp", ANY, L(reduce_log_sum_exp), NULL, OWN},
    {"ReduceMax", ANY, L(reduce_max), NULL, OWN},
    {"ReduceMean", ANY, L(reduce_mean), NULL, OWN},
    {"ReduceMin", ANY, L(reduce_min), NULL, OWN},
    {"ReduceProd", ANY, L(reduce_prod), NULL, OWN},
    {"ReduceSum", ANY, L(reduce_sum), NULL, OWN},
    {"ReduceSumSquare", ANY, L(reduce_sum_square), NULL, OWN},
    {"Relu", ANY, UNARY_ANY(MK_OP_RELU)},
    {"Reshape", 5, 99, L(reshape), NULL, OWN},
    {"Resize", 10, 99, L(resize), W(resize), OWN},
    {"ReverseSequence", 10, 99, L(reverse_sequence), NULL, OWN},
    {"RoiAlign", 10, 99, L(roi_align), NULL, OWN},
    {"Round", 11, 99, UNARY_F(MK_OP_ROUND)},
    {"STFT", 17, 99, L(stft), NULL, OWN},
    {"Scan", 8, 99, L(scan), NULL, OWN},
    {"Scatter", 9, 10, L(scatter_elements), W(scatter), OWN},
    {"ScatterElements", 11, 99, L(scatter_elements), W(scatter), OWN},
    {"ScatterND", 11, 99, L(scatter_nd), W(scatter), OWN},
    {"Selu", ANY, L(selu), NULL, OWN},
    {"Shape", ANY, L(shape), NULL, OWN},
    {"Shrink", 9, 99, L(shrink), NULL, OWN},
    {"Sigmoid", ANY, UNARY_F(MK_OP_SIGMOID)},
    {"Sign", 9, 99, UNARY_ANY(MK_OP_SIGN)},
    {"Sin", ANY, UNARY_F(MK_OP_SIN)},
    {"Sinh", 9, 99, UNARY_F(MK_OP_SINH)},
    {"Size", ANY, L(size), NULL, OWN},
    {"Slice", ANY, L(slice), NULL, OWN},
    {"Softmax", ANY, L(softmax), NULL, OWN},
    {"SoftmaxCrossEntropyLoss", 12, 99, L(sce_loss), W(loss), OWN},
    {"Softplus", ANY, UNARY_F(MK_OP_SOFTPLUS)},
    {"Softsign", ANY, UNARY_F(MK_OP_SOFTSIGN)},
    {"SpaceToDepth", ANY, L(space_to_depth), NULL, OWN},
    {"Split", ANY, L(split), NULL, OWN},
    {"Sqrt", ANY, UNARY_F(MK_OP_SQRT)},
    {"Squeeze", ANY, L(squeeze), NULL, OWN},
    {"Sub", ANY, BINARY(MK_OP_SUB)},
    {"Sum", ANY, L(sum), NULL, OWN},
    {"Tan", ANY, UNARY_F(MK_OP_TAN)},
    {"Tanh", ANY, UNARY_F(MK_OP_TANH)},
    {"ThresholdedRelu", 10, 99, L(thresholded_relu), NULL, OWN},
    {"Tile", 6, 99, L(tile), NULL, OWN},
    {"TopK", ANY, L(topk), NULL, OWN},
    {"Transpose", ANY, L(transpose), NULL, OWN},
    {"Trilu", 14, 99, L(trilu), NULL, OWN},
    {"Unique", 11, 99, L(unique), NULL, OWN},
    {"Unsqueeze", ANY, L(unsqueeze), NULL, OWN},
    {"Upsample", 7, 9, L(upsample), W(resize), OWN},
    {"Where", 9, 99, L(where), NULL, OWN},
    {"Xor", ANY, BINARY(MK_OP_LOGICAL_XOR)},
};

const ox_importer *mk_onnx_row(const char *op_type)
{
    int lo = 0, hi = (int)(sizeof importers / sizeof *importers) - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(op_type, importers[mid].op_type);
        if (c == 0) return &importers[mid];
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return NULL;
}

const ox_importer *mk_onnx_find_importer(const char *op_type, int opset)
{
    const ox_importer *im = mk_onnx_row(op_type);
    return im && opset >= im->opset_lo && opset <= im->opset_hi ? im : NULL;
}

int mk_onnx_n_importers(void)
{
    return (int)(sizeof importers / sizeof *importers);
}

const ox_importer *mk_onnx_importer_at(int i)
{
    return i >= 0 && i < mk_onnx_n_importers() ? &importers[i] : NULL;
}
