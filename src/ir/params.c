/* The MIL input parameters of every op in ops.def (name, required, must-be-constant, tuple,
 * attribute, allowed dtypes, opset range) with the defaults coremltools materializes, and
 * mk_ir_complete_defaults, which inserts those defaults as const ops. Facts come from
 * coremltools' op definitions (defs/iOS15..iOS18) as summarized in mlpackage-format.md §7.
 * Dtype sets are coarse: they reject what no opset accepts; fp16 is excluded where some opset
 * refuses it (RNNs before iOS17, upsample scale factors), and MK_PARAM_SAME_T marks parameters
 * that must share x's float dtype (most of them only up to iOS16, see the _TU macros). */
#include <string.h>

#include "ir.h"

#define B_(t) MK_DTBIT(MK_DT_##t)
#define FLT (B_(FP16) | B_(FP32))
#define INTS (B_(INT8) | B_(INT16) | B_(INT32) | B_(UINT8) | B_(UINT16) | B_(UINT32))
#define I32 INTS
#define BOOL B_(BOOL)
#define STR B_(STRING)
#define NUM (FLT | INTS | BOOL)

#define R MK_PARAM_REQUIRED
#define C MK_PARAM_CONST
#define T MK_PARAM_TUPLE
#define A MK_PARAM_ATTR
#define ST MK_PARAM_SAME_T
#define SU MK_PARAM_SAME_U

/* Opset ranges: every macro below takes one as its last argument. */
#define ALL .since = 15
#define S16 .since = 16
#define S17 .since = 17
#define S18 .since = 18
#define U17 .since = 15, .until = 17
#define U15 .since = 15, .until = 15
#define U16 .since = 15, .until = 16
#define S16U17 .since = 16, .until = 17

/* required input / required const / optional const without default */
#define IN(n, dt, v)                                                                               \
    {                                                                                              \
        .name = n, .flags = R, .dtypes = dt, v                                                     \
    }
#define RC(n, dt, v)                                                                               \
    {                                                                                              \
        .name = n, .flags = R | C, .dtypes = dt, v                                                 \
    }
#define OC(n, dt, v)                                                                               \
    {                                                                                              \
        .name = n, .flags = C, .dtypes = dt, v                                                     \
    }
#define OPT(n, dt, v)                                                                              \
    {                                                                                              \
        .name = n, .flags = 0, .dtypes = dt, v                                                     \
    }
#define RA(n, dt, v)                                                                               \
    {                                                                                              \
        .name = n, .flags = R | C | A, .dtypes = dt, v                                             \
    }
/* optional const with a materialized default */
#define DI(n, x, v)                                                                                \
    {                                                                                              \
        .name = n, .flags = C, .dtypes = I32, .def = MK_DEF_INT, .ival = x, v                      \
    }
#define DB(n, x, v)                                                                                \
    {                                                                                              \
        .name = n, .flags = C, .dtypes = BOOL, .def = MK_DEF_BOOL, .ival = x, v                    \
    }
#define DF(n, x, v)                                                                                \
    {                                                                                              \
        .name = n, .flags = C, .dtypes = NUM, .def = MK_DEF_FLOAT, .fval = x, v                    \
    }
#define DS(n, s, v)                                                                                \
    {                                                                                              \
        .name = n, .flags = C, .dtypes = STR, .def = MK_DEF_STR, .sval = s, v                      \
    }
#define DK(n, k, dt, v)                                                                            \
    {                                                                                              \
        .name = n, .flags = C, .dtypes = dt, .def = k, v                                           \
    }
/* the same, sharing x's type domain T (MK_PARAM_SAME_T) */
#define IN_T(n, dt, v)                                                                             \
    {                                                                                              \
        .name = n, .flags = R | ST, .dtypes = dt, v                                                \
    }
#define RC_T(n, dt, v)                                                                             \
    {                                                                                              \
        .name = n, .flags = R | C | ST, .dtypes = dt, v                                            \
    }
#define OC_T(n, dt, v)                                                                             \
    {                                                                                              \
        .name = n, .flags = C | ST, .dtypes = dt, v                                                \
    }
#define DF_T(n, x, v)                                                                              \
    {                                                                                              \
        .name = n, .flags = C | ST, .dtypes = NUM, .def = MK_DEF_FLOAT, .fval = x, v               \
    }
/* tied to x's dtype up to iOS16 (one domain T); a domain U of its own from iOS17, shared by
 * the op's other _TU parameters (MK_PARAM_SAME_U) */
#define RC_TU(n, dt)                                                                               \
    RC_T(n, dt, U16),                                                                              \
    {                                                                                              \
        .name = n, .flags = R | C | SU, .dtypes = dt, S17                                          \
    }
#define OC_TU(n, dt)                                                                               \
    OC_T(n, dt, U16),                                                                              \
    {                                                                                              \
        .name = n, .flags = C | SU, .dtypes = dt, S17                                              \
    }
#define DF_TU(n, x)                                                                                \
    DF_T(n, x, U16),                                                                               \
    {                                                                                              \
        .name = n, .flags = C | SU, .dtypes = NUM, .def = MK_DEF_FLOAT, .fval = x, S17             \
    }
/* a float default whose domain is fp32/int32 only (upsample scale factors: never fp16) */
#define DF_F32(n, x, v)                                                                            \
    {                                                                                              \
        .name = n, .flags = C, .dtypes = B_(FP32) | B_(INT32), .def = MK_DEF_FLOAT, .fval = x, v   \
    }
/* RNN tensors: one domain T, fp32 only before iOS17 */
#define RNN_IN(n) IN_T(n, B_(FP32), U16), IN_T(n, FLT, S17)
#define RNN_RC(n) RC_T(n, B_(FP32), U16), RC_T(n, FLT, S17)
#define RNN_OC(n) OC_T(n, B_(FP32), U16), OC_T(n, FLT, S17)

#define PARAMS(...)                                                                                \
    {                                                                                              \
        (int)(sizeof((const mk_op_param[]){__VA_ARGS__}) / sizeof(mk_op_param)),                   \
            (const mk_op_param[])                                                                  \
        {                                                                                          \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    }

/* coremltools' elementwise_binary domain has no bool (the logical_* ops take it) */
#define BINARY PARAMS(IN("x", FLT | INTS, ALL), IN("y", FLT | INTS, ALL))
#define UNARY PARAMS(IN("x", NUM, ALL))
#define UNARY_EPS(e) PARAMS(IN("x", FLT, ALL), DF_TU("epsilon", e))
#define ALPHA PARAMS(IN("x", FLT, ALL), RC_TU("alpha", FLT))
#define ALPHA_BETA PARAMS(IN("x", FLT, ALL), RC_TU("alpha", FLT), RC_TU("beta", FLT))
#define POOL(...)                                                                                  \
    PARAMS(IN("x", FLT, ALL), RC("kernel_sizes", I32, ALL),                                        \
           DK("strides", MK_DEF_SPATIAL_ONES, I32, ALL), RC("pad_type", STR, ALL),                 \
           DK("pad", MK_DEF_SPATIAL_PAD, I32, ALL), __VA_ARGS__)
#define REDUCE PARAMS(IN("x", NUM, ALL), OC("axes", I32, ALL), DB("keep_dims", 0, ALL))
#define REDUCE_ARG                                                                                 \
    PARAMS(IN("x", NUM, ALL), DI("axis", -1, ALL), DB("keep_dims", 0, ALL),                        \
           DS("output_dtype", "int32", S17))
#define SCATTER(...)                                                                               \
    PARAMS(IN("data", NUM, ALL), IN("indices", I32, ALL), IN_T("updates", NUM, ALL),               \
           __VA_ARGS__ DS("mode", "add", ALL), DB("validate_indices", 0, S17))
#define UPSAMPLE_SCALES DF_F32("scale_factor_height", 1, ALL), DF_F32("scale_factor_width", 1, ALL)
#define SLICE_MASKS                                                                                \
    OC("stride", I32, ALL), OC("begin_mask", BOOL, ALL), OC("end_mask", BOOL, ALL),                \
        OC("squeeze_mask", BOOL, ALL)

/* the per-op lists named by ops.def's params column */
#define P_CONST PARAMS(RA("val", 0, ALL))
#define P_CONSTEXPR_AFFINE_DEQUANTIZE                                                              \
    PARAMS(RA("quantized_data", B_(INT8) | B_(UINT8), ALL),                                        \
           RA("zero_point", B_(INT8) | B_(UINT8) | B_(FP32), ALL), RA("scale", FLT, ALL),          \
           RA("axis", I32, ALL))
#define P_CONSTEXPR_BLOCKWISE_SHIFT_SCALE                                                          \
    PARAMS(RC("data", 0, ALL), RC("scale", FLT, ALL), OC("offset", 0, ALL))
#define P_CONSTEXPR_CAST                                                                           \
    PARAMS(RA("source_val", B_(FP16), U17), RA("output_dtype", STR, U17),                          \
           RC("source_val", B_(FP16), S18), RC("output_dtype", STR, S18))
#define P_CONSTEXPR_LUT_TO_DENSE                                                                   \
    PARAMS(RA("indices", B_(UINT8), U17), RA("lut", 0, U17), RA("shape", 0, U17),                  \
           RC("indices", 0, S18), RC("lut", 0, S18), OC("vector_axis", I32, S18))
#define P_CONSTEXPR_SPARSE_TO_DENSE                                                                \
    PARAMS(RA("nonzero_data", 0, U17), RA("mask", B_(UINT8), U17), RA("shape", 0, U17),            \
           RC("nonzero_data", 0, S18), RC("mask", B_(UINT1), S18))
#define P_CONSTEXPR_LUT_TO_SPARSE                                                                  \
    PARAMS(RC("indices_mask", B_(UINT1), ALL), RC("indices_nonzero_data", 0, ALL),                 \
           RC("lut", 0, ALL), OC("vector_axis", I32, ALL))
#define P_CONSTEXPR_SPARSE_BLOCKWISE_SHIFT_SCALE                                                   \
    PARAMS(RC("data_mask", B_(UINT1), ALL), RC("nonzero_data", 0, ALL), RC("scale", FLT, ALL),     \
           OC("offset", 0, ALL))
#define P_LOGICAL_AND PARAMS(IN("x", BOOL, ALL), IN("y", BOOL, ALL))
#define P_LOGICAL_OR PARAMS(IN("x", BOOL, ALL), IN("y", BOOL, ALL))
#define P_LOGICAL_XOR PARAMS(IN("x", BOOL, ALL), IN("y", BOOL, ALL))
#define P_LOGICAL_NOT PARAMS(IN("x", BOOL, ALL))
#define P_LOG UNARY_EPS(1e-45)
#define P_RSQRT UNARY_EPS(1e-12)
#define P_INVERSE UNARY_EPS(1e-4)
#define P_CLIP PARAMS(IN("x", FLT, ALL), RC_T("alpha", FLT, ALL), RC_T("beta", FLT, ALL))
#define P_THRESHOLD PARAMS(IN("x", FLT, ALL), RC_T("alpha", FLT, ALL))
#define P_CAST PARAMS(IN("x", NUM, ALL), RC("dtype", STR, ALL))
#define P_GELU PARAMS(IN("x", FLT, ALL), DS("mode", "EXACT", ALL))
#define P_SOFTMAX PARAMS(IN("x", FLT, ALL), DI("axis", -1, ALL))
#define P_LINEAR                                                                                   \
    PARAMS(IN("x", NUM, ALL), RC_TU("weight", NUM),                                                \
           {.name = "bias", .flags = C | ST, .dtypes = NUM, .def = MK_DEF_ZERO_BIAS, U16},         \
           DK("bias", MK_DEF_ZERO_BIAS, NUM, S17))
#define P_MATMUL                                                                                   \
    PARAMS(IN("x", NUM, ALL), IN_T("y", NUM, U16), IN("y", NUM, S17), DB("transpose_x", 0, ALL),   \
           DB("transpose_y", 0, ALL))
#define P_EINSUM PARAMS({.name = "values", .flags = R | T, ALL}, RC("equation", STR, ALL))
#define P_CONV                                                                                     \
    PARAMS(IN("x", FLT, ALL), IN_T("weight", FLT, U16), IN("weight", FLT, S17),                    \
           OC_T("bias", FLT, U16), OPT("bias", FLT, S17),                                          \
           DK("strides", MK_DEF_SPATIAL_ONES, I32, ALL), DS("pad_type", "valid", ALL),             \
           DK("pad", MK_DEF_SPATIAL_PAD, I32, ALL),                                                \
           DK("dilations", MK_DEF_SPATIAL_ONES, I32, ALL), DI("groups", 1, ALL))
#define P_CONV_TRANSPOSE                                                                           \
    PARAMS(IN("x", FLT, ALL), RC_T("weight", FLT, U16), IN("weight", FLT, S17),                    \
           OC_T("bias", FLT, U16), OPT("bias", FLT, S17), DK("pad", MK_DEF_SPATIAL_PAD, I32, ALL), \
           OC("output_shape", I32, ALL), DS("pad_type", "valid", ALL),                             \
           DK("strides", MK_DEF_SPATIAL_ONES, I32, ALL),                                           \
           DK("dilations", MK_DEF_SPATIAL_ONES, I32, ALL), DI("groups", 1, ALL))
/* experimental in coremltools (iOS15 conv.py): weight and bias share domain U = uint8 */
#define P_CONV_QUANTIZED                                                                           \
    PARAMS(IN("x", FLT, ALL), IN("weight", B_(UINT8), ALL), OC("bias", B_(UINT8), ALL),            \
           RC("quantization_type", STR, ALL), DI("nbits", 8, ALL), RC_T("quant_scale", FLT, ALL),  \
           RC_T("quant_bias", FLT, ALL), DK("strides", MK_DEF_SPATIAL_ONES, I32, ALL),             \
           DS("pad_type", "valid", ALL), DK("pad", MK_DEF_SPATIAL_PAD, I32, ALL),                  \
           DK("dilations", MK_DEF_SPATIAL_ONES, I32, ALL), DI("groups", 1, ALL))
#define P_BATCH_NORM                                                                               \
    PARAMS(IN("x", FLT, ALL), RC_TU("mean", FLT), RC_TU("variance", FLT), OC_TU("gamma", FLT),     \
           OC_TU("beta", FLT), DF_TU("epsilon", 1e-5))
#define P_INSTANCE_NORM                                                                            \
    PARAMS(IN("x", FLT, ALL), OC_TU("gamma", FLT), OC_TU("beta", FLT), DF_TU("epsilon", 1e-5))
#define P_LAYER_NORM                                                                               \
    PARAMS(IN("x", FLT, ALL), DK("axes", MK_DEF_ALL_AXES, I32, ALL), OC_TU("gamma", FLT),          \
           OC_TU("beta", FLT), DF_TU("epsilon", 1e-5))
#define P_L2_NORM PARAMS(IN("x", FLT, ALL), DF_TU("epsilon", 1e-6))
#define P_LOCAL_RESPONSE_NORM                                                                      \
    PARAMS(IN("x", FLT, ALL), RC("size", I32, ALL), DF_TU("alpha", 1e-4), DF_TU("beta", 0.75),     \
           DF_TU("k", 1.0))
#define P_AVG_POOL POOL(DB("ceil_mode", 0, ALL), DB("exclude_padding_from_average", 0, ALL))
#define P_MAX_POOL POOL(DB("ceil_mode", 0, ALL))
#define P_L2_POOL POOL(DB("ceil_mode", 0, ALL))
#define P_CUMSUM                                                                                   \
    PARAMS(IN("x", NUM, ALL), DI("axis", 0, ALL), DB("exclusive", 0, ALL), DB("reverse", 0, ALL))
#define P_RESHAPE PARAMS(IN("x", NUM, ALL), IN("shape", I32, ALL))
#define P_TRANSPOSE PARAMS(IN("x", NUM, ALL), RC("perm", I32, ALL))
#define P_EXPAND_DIMS PARAMS(IN("x", NUM, ALL), RC("axes", I32, ALL))
#define P_SQUEEZE PARAMS(IN("x", NUM, ALL), OC("axes", I32, ALL))
#define P_FLATTEN2D PARAMS(IN("x", NUM, ALL), DI("axis", 1, ALL))
#define P_CONCAT                                                                                   \
    PARAMS({.name = "values", .flags = R | T, .dtypes = NUM, ALL}, RC("axis", I32, ALL),           \
           DB("interleave", 0, ALL))
#define P_SPLIT                                                                                    \
    PARAMS(IN("x", NUM, ALL), OC("num_splits", I32, ALL), OC("split_sizes", I32, ALL),             \
           RC("axis", I32, ALL))
#define P_STACK PARAMS({.name = "values", .flags = R | T, .dtypes = NUM, ALL}, RC("axis", I32, ALL))
#define P_SLICE_BY_INDEX                                                                           \
    PARAMS(IN("x", NUM, ALL), IN("begin", I32, ALL), IN("end", I32, ALL), SLICE_MASKS)
#define P_SLICE_BY_SIZE PARAMS(IN("x", NUM, ALL), IN("begin", I32, ALL), IN("size", I32, ALL))
#define P_SLICE_UPDATE                                                                             \
    PARAMS(IN("x", NUM, ALL), IN("update", NUM, ALL), IN("begin", I32, ALL), IN("end", I32, ALL),  \
           SLICE_MASKS)
#define P_GATHER                                                                                   \
    PARAMS(IN("x", NUM, ALL), IN("indices", I32, ALL), DI("axis", 0, ALL),                         \
           DI("batch_dims", 0, S16), DB("validate_indices", 0, S17))
#define P_GATHER_ALONG_AXIS                                                                        \
    PARAMS(IN("x", NUM, ALL), IN("indices", I32, ALL), DI("axis", 0, ALL),                         \
           DB("validate_indices", 0, S17))
#define P_GATHER_ND                                                                                \
    PARAMS(IN("x", NUM, ALL), IN("indices", I32, ALL), DI("batch_dims", 0, S16),                   \
           DB("validate_indices", 0, S17))
#define P_SCATTER SCATTER(DI("axis", 0, ALL), )
#define P_SCATTER_ALONG_AXIS SCATTER(DI("axis", 0, ALL), )
#define P_SCATTER_ND SCATTER()
#define P_TILE PARAMS(IN("x", NUM, ALL), IN("reps", I32, ALL))
#define P_PAD                                                                                      \
    PARAMS(IN("x", FLT, ALL), IN("pad", I32, ALL), DS("mode", "constant", ALL),                    \
           DF_T("constant_val", 0.0, ALL))
#define P_REVERSE PARAMS(IN("x", NUM, ALL), OC("axes", I32, ALL))
#define P_SELECT PARAMS(IN("cond", BOOL, ALL), IN("a", NUM, ALL), IN_T("b", NUM, ALL))
#define P_SHAPE PARAMS(IN("x", NUM, ALL))
#define P_IDENTITY PARAMS(IN("x", 0, ALL))
#define P_FILL PARAMS(IN("shape", I32, ALL), DF("value", 0.0, ALL))
#define P_FILL_LIKE PARAMS(IN("ref_tensor", NUM, ALL), DF("value", 0.0, ALL))
#define P_RANGE_1D PARAMS(IN("end", NUM, ALL), IN_T("start", NUM, ALL), IN_T("step", NUM, ALL))
#define P_ONE_HOT                                                                                  \
    PARAMS(                                                                                        \
        IN("indices", I32, ALL), IN("one_hot_vector_size", I32, ALL), DI("axis", -1, ALL),         \
        {.name = "on_value", .flags = C, .dtypes = NUM, .def = MK_DEF_INT, .ival = 1, ALL},        \
        {.name = "off_value", .flags = C | ST, .dtypes = NUM, .def = MK_DEF_INT, .ival = 0, ALL})
#define P_TOPK                                                                                     \
    PARAMS(IN("x", NUM, ALL), DI("k", 1, ALL), DI("axis", -1, ALL), DB("ascending", 0, ALL),       \
           DB("sort", 1, S16), DB("return_indices", 1, S16),                                       \
           DS("output_indices_dtype", "int32", S17))
#define P_ARGSORT PARAMS(IN("x", NUM, ALL), DI("axis", -1, ALL), DB("ascending", 0, ALL))
#define P_NON_ZERO PARAMS(IN("x", NUM, ALL))
#define P_BAND_PART PARAMS(IN("x", NUM, ALL), DI("lower", -1, ALL), DI("upper", -1, ALL))
#define P_DEPTH_TO_SPACE PARAMS(IN("x", NUM, ALL), RC("block_size", I32, ALL))
#define P_SPACE_TO_DEPTH PARAMS(IN("x", NUM, ALL), RC("block_size", I32, ALL))
#define P_PIXEL_SHUFFLE PARAMS(IN("x", NUM, ALL), RC("upscale_factor", I32, ALL))
#define P_PIXEL_UNSHUFFLE PARAMS(IN("x", NUM, ALL), RC("downscale_factor", I32, ALL))
#define P_BATCH_TO_SPACE                                                                           \
    PARAMS(IN("x", NUM, ALL), RC("block_shape", I32, ALL), RC("crops", I32, ALL))
#define P_SPACE_TO_BATCH                                                                           \
    PARAMS(IN("x", NUM, ALL), RC("block_shape", I32, ALL), RC("paddings", I32, ALL))
#define P_REVERSE_SEQUENCE                                                                         \
    PARAMS(IN("x", NUM, ALL), IN("lengths", I32, ALL), DI("seq_axis", 0, ALL),                     \
           DI("batch_axis", 0, ALL))
#define P_SLIDING_WINDOWS                                                                          \
    PARAMS(IN("x", NUM, ALL), RC("axis", I32, ALL), RC("size", I32, ALL), DI("stride", 1, ALL))
#define P_RESHAPE_LIKE                                                                             \
    PARAMS(IN("x", NUM, ALL), {.name = "ref_tensors", .flags = R | T, ALL},                        \
           {.name = "begins", .flags = R | T | C, .dtypes = I32, ALL},                             \
           {.name = "ends", .flags = R | T | C, .dtypes = I32, ALL},                               \
           {.name = "end_masks", .flags = R | T | C, .dtypes = BOOL, ALL})
#define P_CROP PARAMS(IN("x", FLT, ALL), RC("crop_height", I32, ALL), RC("crop_width", I32, ALL))
#define P_UPSAMPLE_NEAREST_NEIGHBOR PARAMS(IN("x", FLT, ALL), UPSAMPLE_SCALES)
#define P_UPSAMPLE_BILINEAR                                                                        \
    PARAMS(IN("x", FLT, ALL), UPSAMPLE_SCALES, DB("align_corners", 1, ALL),                        \
           OC("half_pixel_centers", BOOL, S16))
#define P_RESIZE_NEAREST_NEIGHBOR                                                                  \
    PARAMS(IN("x", FLT, ALL), RC("target_size_height", I32, ALL), RC("target_size_width", I32, ALL))
#define P_RESIZE_BILINEAR                                                                          \
    PARAMS(IN("x", FLT, ALL), DI("target_size_height", 1, ALL), DI("target_size_width", 1, ALL),   \
           DS("sampling_mode", "DEFAULT", ALL))
#define P_RESIZE                                                                                   \
    PARAMS(IN("x", FLT, ALL), IN("shape", I32, ALL), RC("resized_dims", I32, ALL),                 \
           DS("interpolation_mode", "LINEAR", ALL), DS("sampling_mode", "DEFAULT", ALL))
/* every parameter required (no defaults); coordinates: int32/fp32, fp16 too from iOS16,
 * also int8/uint8/int16/uint16 from iOS17 */
#define P_RESAMPLE                                                                                 \
    PARAMS(                                                                                        \
        IN("x", FLT, ALL), IN("coordinates", B_(INT32) | B_(FP32), U15),                           \
        {.name = "coordinates", .flags = R, .dtypes = B_(INT32) | FLT, .since = 16, .until = 16},  \
        IN("coordinates", INTS | FLT, S17), RC("sampling_mode", STR, ALL),                         \
        RC("padding_mode", STR, ALL), RC_T("padding_value", FLT, ALL),                             \
        RC("coordinates_mode", STR, ALL), RC("align_corners", BOOL, ALL))
/* affine: only bilinear, constant 0 padding, normalized_minus_one_to_one are defined */
#define P_AFFINE                                                                                   \
    PARAMS(IN("x", FLT, ALL), IN_T("transform_matrix", FLT, ALL), RC("output_height", I32, ALL),   \
           RC("output_width", I32, ALL), RC("sampling_mode", STR, ALL),                            \
           RC("padding_mode", STR, ALL), RC_T("padding_value", FLT, ALL),                          \
           RC("coordinates_mode", STR, ALL), RC("align_corners", BOOL, ALL))
/* roi [N,1,4|5,1,1] until iOS16; boxes [N,4] + box_indices [N] from iOS17 */
#define P_CROP_RESIZE                                                                              \
    PARAMS(IN("x", FLT, ALL), IN_T("roi", FLT, U16), IN("boxes", FLT | B_(UINT16), S17),           \
           OPT("box_indices", B_(UINT16) | B_(INT32), S17), DI("target_height", 1, ALL),           \
           DI("target_width", 1, ALL), DB("normalized_coordinates", 0, ALL),                       \
           DF_F32("spatial_scale", 1, ALL),                                                        \
           DS("box_coordinate_mode", "CORNERS_HEIGHT_FIRST", ALL),                                 \
           DS("sampling_mode", "DEFAULT", ALL), DF_T("pad_value", 0, S16))
/* boxes [n,B,4], scores [n,B,K] until iOS16; [n,4,B], [n,K,B] and no score_threshold from
 * iOS17 */
/* classes: a list literal of strings or int64 (coremltools iOS15 classify.py) */
#define P_CLASSIFY PARAMS(IN("probabilities", B_(FP32), ALL), RC("classes", STR | B_(INT64), ALL))
#define P_NON_MAXIMUM_SUPPRESSION                                                                  \
    PARAMS(IN("boxes", FLT, ALL), IN_T("scores", FLT, ALL), RC_T("iou_threshold", FLT, ALL),       \
           RC_T("score_threshold", FLT, U16), RC("max_boxes", I32, ALL),                           \
           DB("per_class_suppression", 0, ALL))
/* lists: elem_shape is a tuple of int32 (or string: a symbolic dim) constants */
#define P_MAKE_LIST                                                                                \
    PARAMS({.name = "init_length", .dtypes = I32, .def = MK_DEF_INT, .ival = 1, ALL},              \
           DB("dynamic_length", 1, ALL),                                                           \
           {.name = "elem_shape", .flags = R | T | C, .dtypes = I32 | STR, ALL},                   \
           DS("dtype", "fp32", ALL))
#define P_LIST_LENGTH PARAMS(IN("ls", 0, ALL))
#define P_LIST_READ PARAMS(IN("ls", 0, ALL), IN("index", I32, ALL))
#define P_LIST_WRITE PARAMS(IN("ls", 0, ALL), IN("index", I32, ALL), IN("value", 0, ALL))
#define P_LIST_GATHER PARAMS(IN("ls", 0, ALL), IN("indices", I32, ALL))
#define P_LIST_SCATTER PARAMS(IN("ls", 0, ALL), IN("indices", I32, ALL), IN("value", 0, ALL))
#define P_LSTM                                                                                     \
    PARAMS(IN("x", B_(FP32), U16), IN("x", FLT, S17), RNN_IN("initial_h"), RNN_IN("initial_c"),    \
           RNN_RC("weight_ih"), RNN_RC("weight_hh"), RNN_OC("bias"), RNN_OC("peephole"),           \
           RNN_OC("weight_ih_back"), RNN_OC("weight_hh_back"), RNN_OC("bias_back"),                \
           RNN_OC("peephole_back"), DS("direction", "forward", ALL),                               \
           DB("output_sequence", 0, ALL), DS("recurrent_activation", "sigmoid", ALL),              \
           DS("cell_activation", "tanh", ALL), DS("activation", "tanh", ALL), RNN_OC("clip"))
#define P_GRU                                                                                      \
    PARAMS(IN("x", B_(FP32), U16), IN("x", FLT, S17), RNN_IN("initial_h"), RNN_RC("weight_ih"),    \
           RNN_RC("weight_hh"), RNN_OC("bias"), DS("direction", "forward", ALL),                   \
           DB("output_sequence", 0, ALL), DS("recurrent_activation", "sigmoid", ALL),              \
           DS("activation", "tanh", ALL), OC("reset_after", BOOL, S18),                            \
           OC_T("input_bias", FLT, S18))
#define P_RNN                                                                                      \
    PARAMS(IN("x", B_(FP32), U16), IN("x", FLT, S17), RNN_IN("initial_h"), RNN_RC("weight_ih"),    \
           RNN_RC("weight_hh"), RNN_OC("bias"), DS("direction", "forward", ALL),                   \
           DB("output_sequence", 0, ALL), DS("activation", "tanh", ALL))
#define P_SCALED_DOT_PRODUCT_ATTENTION                                                             \
    PARAMS(IN("query", FLT, ALL), IN_T("key", FLT, ALL), IN_T("value", FLT, ALL),                  \
           OPT("attn_mask", FLT | BOOL, ALL))
#define P_COND PARAMS(IN("pred", BOOL, ALL))
#define P_WHILE_LOOP PARAMS({.name = "loop_vars", .flags = R | T, ALL})
#define P_QUANTIZE                                                                                 \
    PARAMS(IN("input", FLT, ALL), OC("zero_point", B_(INT8) | B_(UINT8), ALL),                     \
           RC_T("scale", FLT, ALL), OC("axis", I32, ALL), RC("output_dtype", STR, ALL))
#define P_DEQUANTIZE                                                                               \
    PARAMS(IN("input", B_(INT8) | B_(UINT8), ALL), OC("zero_point", B_(INT8) | B_(UINT8), ALL),    \
           RC("scale", FLT, ALL), OC("axis", I32, ALL))
#define P_READ_STATE PARAMS(IN("input", 0, ALL))
#define P_RANDOM_BERNOULLI PARAMS(IN("shape", I32, ALL), DF("prob", 0.5, ALL), DI("seed", -1, ALL))
#define P_RANDOM_CATEGORICAL                                                                       \
    PARAMS(IN("x", FLT, ALL), DS("mode", "logits", ALL), DI("size", 1, ALL), DI("seed", -1, ALL))
#define P_RANDOM_NORMAL                                                                            \
    PARAMS(IN("shape", I32, ALL), DF("mean", 0.0, ALL), DF_T("stddev", 1.0, ALL),                  \
           DI("seed", -1, ALL))
#define P_RANDOM_UNIFORM                                                                           \
    PARAMS(IN("shape", I32, ALL), DF("low", 0.0, ALL), DF_T("high", 1.0, ALL), DI("seed", -1, ALL))
#define P_WRITE_STATE PARAMS(IN("input", 0, ALL), IN("data", 0, ALL))
#define P_COREML_UPDATE_STATE PARAMS(IN("state", 0, ALL), IN("value", 0, ALL))

static const mk_op_params params[MK_OP__COUNT] = {
#define MK_OP(e, nm, opset, nout, fam, place, pw, prm, rule, kern, meaning) [MK_OP_##e] = prm,
#include "ops.def"
#undef MK_OP
};

const mk_op_params *mk_ir_op_params(mk_op_kind k)
{
    static const mk_op_params none = {0, NULL};
    return (unsigned)k < MK_OP__COUNT ? &params[k] : &none;
}

static int in_range(const mk_op_param *pp, int ios)
{
    int since = pp->since ? pp->since : 15;
    return ios >= since && (!pp->until || ios <= pp->until);
}

const mk_op_param *mk_ir_op_param(mk_op_kind k, const char *name, int ios)
{
    const mk_op_params *ps = mk_ir_op_params(k);
    for (int i = 0; i < ps->n_params; i++)
        if (strcmp(ps->params[i].name, name) == 0 && in_range(&ps->params[i], ios))
            return &ps->params[i];
    return NULL;
}

int mk_ir_op_ios(const mk_op *op)
{
    const mk_block *b = op ? op->parent : NULL;
    for (int depth = 0; b && depth < 64; depth++) {
        if (b->function && b->function->opset) {
            const char *s = b->function->opset;
            if (strncmp(s, "CoreML", 6) == 0 && s[6] >= '5' && s[6] <= '8' && !s[7])
                return s[6] - '5' + 15;
            return 15;
        }
        b = b->parent_op ? b->parent_op->parent : NULL;
    }
    return 15;
}

/* A bound float argument of another MK_PARAM_SAME_U parameter of op, else NULL. */
static const mk_value *same_u_arg(const mk_op *op, const mk_op_param *pp)
{
    const mk_op_params *ps = mk_ir_op_params(op->kind);
    for (int i = 0; i < ps->n_params; i++) {
        const mk_op_param *q = &ps->params[i];
        const mk_value *a = q != pp && (q->flags & MK_PARAM_SAME_U) ? mk_ir_arg(op, q->name) : NULL;
        if (a && mk_dtype_is_float(a->type.dtype)) return a;
    }
    return NULL;
}

static mk_status add_default(mk_program *p, mk_op *op, const mk_op_param *pp, mk_err *e)
{
    const char *opname = op->name ? op->name : mk_ir_op_info(op->kind)->name;
    const char *type = mk_ir_op_info(op->kind)->name;
    char base[256];
    snprintf(base, sizeof base, "%s_%s", opname, pp->name);
    int32_t iv[2 * MK_MAX_RANK];
    int n = 0;
    mk_type t;
    const void *data = iv;
    size_t nbytes = 0;
    uint8_t bv;
    float fv;
    uint16_t hv;
    const char *sv;
    const mk_value *x = mk_ir_arg(op, "x"); /* rank-dependent defaults use x */
    int rank = x ? x->type.rank : MK_RANK_UNKNOWN;

    switch (pp->def) {
    case MK_DEF_INT:
        iv[0] = (int32_t)pp->ival;
        t = mk_type_scalar(MK_DT_INT32);
        nbytes = 4;
        break;
    case MK_DEF_BOOL:
        bv = (uint8_t)(pp->ival != 0);
        t = mk_type_scalar(MK_DT_BOOL);
        data = &bv;
        nbytes = 1;
        break;
    case MK_DEF_FLOAT:
        if (pp->flags & MK_PARAM_SAME_U) {
            const mk_value *u = same_u_arg(op, pp);
            if (u) x = u; /* the domain U is already fixed by gamma/beta (iOS17) */
        }
        if (x && x->type.dtype == MK_DT_FP16 &&
            (!pp->dtypes || (pp->dtypes & MK_DTBIT(MK_DT_FP16)))) {
            hv = mk_f32_to_f16((float)pp->fval);
            t = mk_type_scalar(MK_DT_FP16);
            data = &hv;
            nbytes = 2;
        } else {
            fv = (float)pp->fval;
            t = mk_type_scalar(MK_DT_FP32);
            data = &fv;
            nbytes = 4;
        }
        break;
    case MK_DEF_STR:
        sv = pp->sval;
        t = mk_type_scalar(MK_DT_STRING);
        data = &sv;
        nbytes = sizeof sv;
        break;
    case MK_DEF_SPATIAL_ONES:
    case MK_DEF_SPATIAL_PAD:
    case MK_DEF_ALL_AXES: {
        if (rank < 0 || (pp->def != MK_DEF_ALL_AXES && rank < 3))
            return mk_err_set(e, MK_EINVAL,
                              "op '%s' (%s): cannot materialize default '%s': rank of x %s", opname,
                              type, pp->name, rank < 0 ? "unknown" : "below 3");
        n = pp->def == MK_DEF_ALL_AXES ? rank : rank - 2;
        if (pp->def == MK_DEF_SPATIAL_PAD) n *= 2;
        for (int i = 0; i < n; i++)
            iv[i] = pp->def == MK_DEF_SPATIAL_ONES ? 1 : pp->def == MK_DEF_ALL_AXES ? i : 0;
        int64_t d = n;
        t = mk_type_make(MK_DT_INT32, 1, &d);
        nbytes = (size_t)n * 4;
        break;
    }
    case MK_DEF_ZERO_BIAS: {
        const mk_value *w = mk_ir_arg(op, "weight");
        if (!w || w->type.rank != 2 || w->type.dims[0] < 0)
            return mk_err_set(
                e, MK_EINVAL,
                "op '%s' (%s): cannot materialize default 'bias': weight shape unknown", opname,
                type);
        int64_t d = w->type.dims[0];
        size_t nb;
        t = mk_type_make(w->type.dtype, 1, &d);
        if (!mk_type_nbytes(&t, &nb) || nb == 0 || w->type.dtype == MK_DT_STRING)
            return mk_err_set(e, MK_EINVAL, "op '%s' (%s): bad bias size", opname, type);
        void *z = mk_arena_alloc(p->arena, nb);
        if (!z) return MK_OOM(e);
        data = z;
        nbytes = nb;
        break;
    }
    case MK_DEF_NONE: return MK_OK;
    }
    mk_value *v = mk_ir_const(p, NULL, base, &t, data, nbytes, 0);
    if (!v) return MK_OOM(e);
    mk_ir_insert_before(op, v->producer);
    if (!mk_ir_op_add_input(p, op, pp->name, v)) return MK_OOM(e);
    return MK_OK;
}

mk_status mk_ir_complete_defaults(mk_program *p, mk_op *op, mk_err *e)
{
    const char *type = mk_ir_op_info(op->kind) ? mk_ir_op_info(op->kind)->name : "?";
    if (!op->parent)
        return mk_err_set(e, MK_EINVAL, "op '%s' (%s): complete_defaults needs an op in a block",
                          op->name ? op->name : "?", type);
    int ios = mk_ir_op_ios(op);
    const mk_op_params *ps = mk_ir_op_params(op->kind);
    for (int i = 0; i < ps->n_params; i++) {
        const mk_op_param *pp = &ps->params[i];
        if (pp->def == MK_DEF_NONE || !in_range(pp, ios) || mk_ir_input(op, pp->name)) continue;
        if (op->kind == MK_OP_TOPK && strcmp(pp->name, "output_indices_dtype") == 0) {
            int ri = 1;
            if (mk_ir_arg(op, "return_indices") && mk_ir_arg_bool(op, "return_indices", &ri) && !ri)
                continue;
        }
        mk_status st = add_default(p, op, pp, e);
        if (st) return st;
    }
    return MK_OK;
}
