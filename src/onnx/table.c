/* The importer table: one sorted row per ONNX op type {op_type, opset range, lowering,
 * why_not}. why_not gives the static reason a node cannot convert, so the pre-scan lists
 * every unsupported node before anything is lowered. Lowerings live in lower_*.c. */
#include <string.h>

#include "onnx_int.h"

#define ANY 1, 99
#define L(f) mk_onnx_lower_##f
#define W(f) mk_onnx_why_##f

/* Sorted by op_type (strcmp order); a unit test checks the order. */
static const ox_importer importers[] = {
    {"Abs", ANY, L(abs), NULL},
    {"Acos", ANY, L(acos), NULL},
    {"Acosh", 9, 99, L(acosh), NULL},
    {"Add", ANY, L(add), NULL},
    {"And", ANY, L(and), NULL},
    {"ArgMax", ANY, L(argmax), NULL},
    {"ArgMin", ANY, L(argmin), NULL},
    {"Asin", ANY, L(asin), NULL},
    {"Asinh", 9, 99, L(asinh), NULL},
    {"Atan", ANY, L(atan), NULL},
    {"Atanh", ANY, L(atanh), NULL},
    {"AveragePool", ANY, L(avg_pool), W(pool)},
    {"BatchNormalization", ANY, L(batch_norm), W(batch_norm)},
    {"BitShift", 11, 99, L(bitshift), NULL},
    {"BlackmanWindow", 17, 99, L(blackman_window), NULL},
    {"Cast", ANY, L(cast), W(cast)},
    {"CastLike", 15, 99, L(cast_like), NULL},
    {"Ceil", ANY, L(ceil), NULL},
    {"Celu", 12, 99, L(celu), NULL},
    {"Clip", ANY, L(clip), NULL},
    {"Compress", 9, 99, L(compress), NULL},
    {"Concat", ANY, L(concat), NULL},
    {"Constant", ANY, L(constant), NULL},
    {"ConstantOfShape", 9, 99, L(constant_of_shape), NULL},
    {"Conv", ANY, L(conv), W(conv)},
    {"ConvInteger", 10, 99, L(conv_integer), W(quant)},
    {"ConvTranspose", ANY, L(conv_transpose), W(conv)},
    {"Cos", ANY, L(cos), NULL},
    {"Cosh", ANY, L(cosh), NULL},
    {"CumSum", 11, 99, L(cumsum), NULL},
    {"DFT", 17, 99, L(dft), NULL},
    {"DepthToSpace", ANY, L(depth_to_space), W(depth_to_space)},
    {"DequantizeLinear", 10, 99, L(dequantize_linear), W(quant)},
    {"Det", 11, 99, L(det), NULL},
    {"Div", ANY, L(div), NULL},
    {"Dropout", ANY, L(identity), NULL},
    {"DynamicQuantizeLinear", 11, 99, L(dynamic_quantize_linear), NULL},
    {"Einsum", 12, 99, L(einsum), NULL},
    {"Elu", ANY, L(elu), NULL},
    {"Equal", ANY, L(equal), NULL},
    {"Erf", 9, 99, L(erf), NULL},
    {"Exp", ANY, L(exp), NULL},
    {"Expand", 8, 99, L(expand), NULL},
    {"EyeLike", 9, 99, L(eye_like), NULL},
    {"Flatten", ANY, L(flatten), NULL},
    {"Floor", ANY, L(floor), NULL},
    {"GRU", ANY, L(gru), W(gru)},
    {"Gather", ANY, L(gather), NULL},
    {"GatherElements", 11, 99, L(gather_elements), NULL},
    {"GatherND", 11, 99, L(gather_nd), NULL},
    {"Gelu", 20, 99, L(gelu), W(gelu)},
    {"Gemm", ANY, L(gemm), NULL},
    {"GlobalAveragePool", ANY, L(global_avg_pool), NULL},
    {"GlobalMaxPool", ANY, L(global_max_pool), NULL},
    {"Greater", ANY, L(greater), NULL},
    {"GreaterOrEqual", 12, 99, L(greater_equal), NULL},
    {"GridSample", 16, 99, L(grid_sample), W(grid_sample)},
    {"HammingWindow", 17, 99, L(hamming_window), NULL},
    {"HannWindow", 17, 99, L(hann_window), NULL},
    {"HardSigmoid", ANY, L(hard_sigmoid), NULL},
    {"HardSwish", 14, 99, L(hard_swish), NULL},
    {"Hardmax", ANY, L(hardmax), NULL},
    {"Identity", ANY, L(identity), NULL},
    {"If", ANY, L(if), W(if)},
    {"InstanceNormalization", ANY, L(instance_norm), NULL},
    {"IsInf", 10, 99, L(is_inf), NULL},
    {"IsNaN", 9, 99, L(is_nan), NULL},
    {"LRN", ANY, L(lrn), NULL},
    {"LSTM", ANY, L(lstm), W(lstm)},
    {"LayerNormalization", 17, 99, L(layer_norm), W(layer_norm)},
    {"LeakyRelu", ANY, L(leaky_relu), NULL},
    {"Less", ANY, L(less), NULL},
    {"LessOrEqual", 12, 99, L(less_equal), NULL},
    {"Log", ANY, L(log), NULL},
    {"LogSoftmax", ANY, L(log_softmax), NULL},
    {"Loop", ANY, L(loop), W(loop)},
    {"MatMul", ANY, L(matmul), NULL},
    {"MatMulInteger", 10, 99, L(matmul_integer), W(quant)},
    {"Max", ANY, L(max), NULL},
    {"MaxPool", ANY, L(max_pool_any), W(max_pool)},
    {"MaxUnpool", 9, 99, L(max_unpool), NULL},
    {"Mean", ANY, L(mean), NULL},
    {"MeanVarianceNormalization", 9, 99, L(mvn), NULL},
    {"Min", ANY, L(min), NULL},
    {"Mod", 10, 99, L(mod), NULL},
    {"Mul", ANY, L(mul), NULL},
    {"Neg", ANY, L(neg), NULL},
    {"NegativeLogLikelihoodLoss", 12, 99, L(nll_loss), W(loss)},
    {"NonMaxSuppression", 10, 99, L(nms), NULL},
    {"NonZero", 9, 99, L(non_zero), NULL},
    {"Not", ANY, L(not ), NULL},
    {"OneHot", 9, 99, L(one_hot), NULL},
    {"Or", ANY, L(or), NULL},
    {"PRelu", ANY, L(prelu), NULL},
    {"Pad", ANY, L(pad), W(pad)},
    {"Pow", ANY, L(pow), NULL},
    {"QLinearConv", 10, 99, L(qlinear_conv), W(quant)},
    {"QLinearMatMul", 10, 99, L(qlinear_matmul), W(quant)},
    {"QuantizeLinear", 10, 99, L(quantize_linear), W(quant)},
    {"RNN", ANY, L(rnn), W(rnn)},
    {"Range", 11, 99, L(range), NULL},
    {"Reciprocal", ANY, L(reciprocal), NULL},
    {"ReduceL1", ANY, L(reduce_l1), NULL},
    {"ReduceL2", ANY, L(reduce_l2), NULL},
    {"ReduceLogSum", ANY, L(reduce_log_sum), NULL},
    {"ReduceLogSumExp", ANY, L(reduce_log_sum_exp), NULL},
    {"ReduceMax", ANY, L(reduce_max), NULL},
    {"ReduceMean", ANY, L(reduce_mean), NULL},
    {"ReduceMin", ANY, L(reduce_min), NULL},
    {"ReduceProd", ANY, L(reduce_prod), NULL},
    {"ReduceSum", ANY, L(reduce_sum), NULL},
    {"ReduceSumSquare", ANY, L(reduce_sum_square), NULL},
    {"Relu", ANY, L(relu), NULL},
    {"Reshape", 5, 99, L(reshape), NULL},
    {"Resize", 10, 99, L(resize), W(resize)},
    {"ReverseSequence", 10, 99, L(reverse_sequence), NULL},
    {"RoiAlign", 10, 99, L(roi_align), NULL},
    {"Round", 11, 99, L(round), NULL},
    {"STFT", 17, 99, L(stft), NULL},
    {"Scan", 8, 99, L(scan), NULL},
    {"Scatter", 9, 10, L(scatter_elements), W(scatter)},
    {"ScatterElements", 11, 99, L(scatter_elements), W(scatter)},
    {"ScatterND", 11, 99, L(scatter_nd), W(scatter)},
    {"Selu", ANY, L(selu), NULL},
    {"Shape", ANY, L(shape), NULL},
    {"Shrink", 9, 99, L(shrink), NULL},
    {"Sigmoid", ANY, L(sigmoid), NULL},
    {"Sign", 9, 99, L(sign), NULL},
    {"Sin", ANY, L(sin), NULL},
    {"Sinh", 9, 99, L(sinh), NULL},
    {"Size", ANY, L(size), NULL},
    {"Slice", ANY, L(slice), NULL},
    {"Softmax", ANY, L(softmax), NULL},
    {"SoftmaxCrossEntropyLoss", 12, 99, L(sce_loss), W(loss)},
    {"Softplus", ANY, L(softplus), NULL},
    {"Softsign", ANY, L(softsign), NULL},
    {"SpaceToDepth", ANY, L(space_to_depth), NULL},
    {"Split", ANY, L(split), NULL},
    {"Sqrt", ANY, L(sqrt), NULL},
    {"Squeeze", ANY, L(squeeze), NULL},
    {"Sub", ANY, L(sub), NULL},
    {"Sum", ANY, L(sum), NULL},
    {"Tan", ANY, L(tan), NULL},
    {"Tanh", ANY, L(tanh), NULL},
    {"ThresholdedRelu", 10, 99, L(thresholded_relu), NULL},
    {"Tile", 6, 99, L(tile), NULL},
    {"TopK", ANY, L(topk), NULL},
    {"Transpose", ANY, L(transpose), NULL},
    {"Trilu", 14, 99, L(trilu), NULL},
    {"Unique", 11, 99, L(unique), NULL},
    {"Unsqueeze", ANY, L(unsqueeze), NULL},
    {"Upsample", 7, 9, L(upsample), W(resize)},
    {"Where", 9, 99, L(where), NULL},
    {"Xor", ANY, L(xor), NULL},
};

const ox_importer *mk_onnx_find_importer(const char *op_type, int opset)
{
    int lo = 0, hi = (int)(sizeof importers / sizeof *importers) - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(op_type, importers[mid].op_type);
        if (c == 0) {
            const ox_importer *im = &importers[mid];
            return opset >= im->opset_lo && opset <= im->opset_hi ? im : NULL;
        }
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return NULL;
}

int mk_onnx_n_importers(void)
{
    return (int)(sizeof importers / sizeof *importers);
}

const ox_importer *mk_onnx_importer_at(int i)
{
    return i >= 0 && i < mk_onnx_n_importers() ? &importers[i] : NULL;
}
