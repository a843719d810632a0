/* The kernel table: one entry per op kind of src/ir/ops.def, indexed by mk_op_kind. A NULL
 * entry means "not supported by the interpreter"; test_interp.c fails for every op that has
 * none and is not on its short allow-list. */
#include "interp_int.h"

#define K(e, fn) [MK_OP_##e] = mk_##fn

static const mk_kernel table[MK_OP__COUNT] = {
    K(CONST, k_const), K(CONSTEXPR_AFFINE_DEQUANTIZE, k_constexpr_affine),
    K(CONSTEXPR_BLOCKWISE_SHIFT_SCALE, k_constexpr_blockwise), K(CONSTEXPR_CAST, k_constexpr_cast),
    K(CONSTEXPR_LUT_TO_DENSE, k_constexpr_lut),
    /* elementwise binary */
    K(ADD, k_binary), K(SUB, k_binary), K(MUL, k_binary), K(REAL_DIV, k_binary),
    K(FLOOR_DIV, k_binary), K(MOD, k_binary), K(POW, k_binary), K(MAXIMUM, k_binary),
    K(MINIMUM, k_binary), K(EQUAL, k_binary), K(NOT_EQUAL, k_binary), K(LESS, k_binary),
    K(LESS_EQUAL, k_binary), K(GREATER, k_binary), K(GREATER_EQUAL, k_binary),
    K(LOGICAL_AND, k_binary), K(LOGICAL_OR, k_binary), K(LOGICAL_XOR, k_binary),
    /* elementwise unary */
    K(LOGICAL_NOT, k_unary), K(ABS, k_unary), K(SIGN, k_unary), K(CEIL, k_unary),
    K(FLOOR, k_unary), K(ROUND, k_unary), K(EXP, k_unary), K(EXP2, k_unary), K(LOG, k_unary),
    K(SQRT, k_unary), K(RSQRT, k_unary), K(INVERSE, k_unary), K(SQUARE, k_unary),
    K(SIN, k_unary), K(COS, k_unary), K(TAN, k_unary), K(ASIN, k_unary), K(ACOS, k_unary),
    K(ATAN, k_unary), K(SINH, k_unary), K(COSH, k_unary), K(ATANH, k_unary), K(ERF, k_unary),
    K(CLIP, k_clip), K(THRESHOLD, k_clip), K(CAST, k_cast),
    /* activations */
    K(RELU, k_activation), K(RELU6, k_activation), K(LEAKY_RELU, k_activation),
    K(PRELU, k_prelu), K(ELU, k_activation), K(SIGMOID, k_activation),
    K(SIGMOID_HARD, k_activation), K(SILU, k_activation), K(TANH, k_activation),
    K(SCALED_TANH, k_activation), K(GELU, k_activation), K(SOFTPLUS, k_activation),
    K(SOFTSIGN, k_activation), K(LINEAR_ACTIVATION, k_activation), K(SOFTMAX, k_softmax),
    /* linear algebra and convolution */
    K(LINEAR, k_linear), K(MATMUL, k_matmul), K(EINSUM, k_einsum), K(CONV, k_conv),
    K(CONV_TRANSPOSE, k_conv_transpose),
    /* normalization */
    K(BATCH_NORM, k_batch_norm), K(INSTANCE_NORM, k_instance_norm), K(LAYER_NORM, k_layer_norm),
    K(L2_NORM, k_l2_norm), K(LOCAL_RESPONSE_NORM, k_lrn),
    /* pooling */
    K(AVG_POOL, k_pool), K(MAX_POOL, k_pool), K(L2_POOL, k_pool),
    /* reductions */
    K(REDUCE_MEAN, k_reduce), K(REDUCE_SUM, k_reduce), K(REDUCE_MAX, k_reduce),
    K(REDUCE_MIN, k_reduce), K(REDUCE_PROD, k_reduce), K(REDUCE_L1_NORM, k_reduce),
    K(REDUCE_L2_NORM, k_reduce), K(REDUCE_LOG_SUM, k_reduce), K(REDUCE_LOG_SUM_EXP, k_reduce),
    K(REDUCE_SUM_SQUARE, k_reduce), K(REDUCE_ARGMAX, k_arg_reduce),
    K(REDUCE_ARGMIN, k_arg_reduce), K(CUMSUM, k_cumsum),
    /* shape and layout */
    K(RESHAPE, k_copy_reshape), K(TRANSPOSE, k_transpose), K(EXPAND_DIMS, k_copy_reshape),
    K(SQUEEZE, k_copy_reshape), K(FLATTEN2D, k_copy_reshape), K(CONCAT, k_concat),
    K(SPLIT, k_split), K(STACK, k_stack), K(SLICE_BY_INDEX, k_slice_by_index),
    K(SLICE_BY_SIZE, k_slice_by_size), K(SLICE_UPDATE, k_slice_update), K(GATHER, k_gather),
    K(GATHER_ALONG_AXIS, k_gather_along_axis), K(GATHER_ND, k_gather_nd), K(SCATTER, k_scatter),
    K(SCATTER_ALONG_AXIS, k_scatter_along_axis), K(SCATTER_ND, k_scatter_nd), K(TILE, k_tile),
    K(PAD, k_pad), K(REVERSE, k_reverse), K(SELECT, k_select), K(SHAPE, k_shape),
    K(IDENTITY, k_copy_reshape), K(FILL, k_fill), K(FILL_LIKE, k_fill_like),
    K(RANGE_1D, k_range_1d), K(ONE_HOT, k_one_hot), K(TOPK, k_topk), K(ARGSORT, k_argsort),
    K(NON_ZERO, k_non_zero), K(BAND_PART, k_band_part), K(DEPTH_TO_SPACE, k_depth_to_space),
    K(SPACE_TO_DEPTH, k_space_to_depth), K(PIXEL_SHUFFLE, k_pixel_shuffle),
    /* resampling */
    K(UPSAMPLE_NEAREST_NEIGHBOR, k_upsample_nearest), K(UPSAMPLE_BILINEAR, k_upsample_bilinear),
    K(RESIZE_NEAREST_NEIGHBOR, k_resize_nearest), K(RESIZE_BILINEAR, k_resize_bilinear),
    K(RESIZE, k_resize),
    /* recurrent, attention, control flow, quantization, state */
    K(LSTM, k_lstm), K(GRU, k_gru), K(RNN, k_rnn), K(SCALED_DOT_PRODUCT_ATTENTION, k_sdpa),
    K(COND, k_cond), K(WHILE_LOOP, k_while_loop), K(QUANTIZE, k_quantize),
    K(DEQUANTIZE, k_dequantize), K(READ_STATE, k_read_state),
};

mk_kernel mk_interp_kernel(mk_op_kind kind)
{
    return (unsigned)kind < MK_OP__COUNT ? table[kind] : NULL;
}
