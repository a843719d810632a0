/* Private interface of the ONNX front end: the model reader (protobuf-c, external data, slim
 * parse that keeps raw weights in the mmapped file), the importer context shared by the
 * lowering files, constant folding of shape arithmetic and the importer table. Only files
 * in src/onnx include this header; nothing here leaks protobuf-c types to other modules. */
#ifndef MK_ONNX_INT_H
#define MK_ONNX_INT_H

#include "ir/ir.h"
#include "onnx/onnx.pb-c.h"

/* ---- reading ---- */

/* A parsed model. raw weight spans of initializers point into `map` (or into external-data
 * maps) rather than into protobuf-c copies. */
typedef struct ox_model {
    Onnx__ModelProto *proto;
    mk_mapped map; /* the .onnx file itself (kept alive by the program afterwards) */
    int own_map;
    const mk_allocator *alloc;
    /* raw_data spans cut out of tensors (initializers, Constant nodes, subgraphs) by the slim
     * parse; a tensor names its span with an unknown-field marker */
    size_t n_spans, cap_spans;
    struct ox_span {
        const unsigned char *data;
        size_t size;
    } * spans;
} ox_model;

/* Parse a model from memory; data must outlive the model when it is a mapped file. */
mk_status mk_onnx_parse(const unsigned char *data, size_t size, const mk_allocator *a, ox_model *m,
                        mk_err *e);
void mk_onnx_model_free(ox_model *m);

/* ---- values ---- */

/* One ONNX value in scope. Constants keep canonical data: FP32 floats, INT64 integers, BOOL
 * bytes. Run-time values carry their MIL type (fp32, int32 or bool) and MIL value. */
typedef struct ox_val {
    const char *name; /* ONNX name */
    mk_type type;     /* for constants the canonical dtype (FP32/INT64/BOOL) */
    const void *data; /* constant payload, or NULL for a run-time value */
    size_t nbytes;
    int borrowed;         /* data lives in the model file, not in the arena */
    mk_value *mil;        /* the MIL value once produced or materialized */
    mk_block *mil_blk;    /* block where a materialized constant lives */
    int poisoned;         /* produced by an unsupported node */
    struct ox_qsrc *qsrc; /* set by QuantizeLinear: the float chain a DequantizeLinear reuses */
    unsigned f16_range;   /* 1 + mk_f32_f16_range of FP32 data measured on copy; 0 unknown */
    struct ox_kd *kd;     /* a run-time shape vector: the elements known at convert time */
} ox_val;

/* Per-element knowledge of a small run-time int vector (rank 0 or 1, from Shape): v[i] is
 * the value or OX_UNKNOWN, hi[i] an upper bound when a flexible input gives one (else -1),
 * and an unknown element copied from a Shape keeps where it came from: dim axis[i] of src[i]
 * (a dim, so never negative). */
#define OX_UNKNOWN INT64_MIN
_Static_assert(OX_UNKNOWN == MK_ELEM_UNKNOWN, "kd and mk_value.known share the unknown mark");
#define OX_KD_MAX 16
typedef struct ox_kd {
    int n, rank;
    mk_dtype dtype; /* INT64 or BOOL, as the constant it folds to */
    int64_t v[OX_KD_MAX], hi[OX_KD_MAX];
    const mk_value *src[OX_KD_MAX];
    int axis[OX_KD_MAX];
} ox_kd;
/* 1 when dim i of x is, through expand_dims / transpose / identity, dim axis of src. */
int mk_onnx_same_dim(const mk_value *x, int i, const mk_value *src, int axis);

/* What a run-time QuantizeLinear computed: qf = clip(round(x / scale) + zero_point) in fp32,
 * before the cast to int32, so a following DequantizeLinear becomes fake quantization. */
typedef struct ox_qsrc {
    mk_value *x, *qf;
    const ox_val *scale, *zero_point;
    int axis; /* ONNX axis attribute (normalized), -1 when per tensor */
    int elem; /* ONNX element type of the quantized value */
} ox_qsrc;

typedef struct ox_scope {
    mk_strmap vals; /* ONNX name -> ox_val* */
    struct ox_scope *parent;
} ox_scope;

typedef struct ox_ctx {
    mk_program *p;
    mk_function *fn;
    mk_block *blk; /* block ops are appended to */
    mk_err *err;
    const char *file; /* file name used in messages */
    const char *dir;  /* model directory for external data */
    int opset;        /* default-domain opset */
    const mk_convert_options *opts;
    int opts_n_binds;
    ox_scope *scope;
    ox_model *model;
    const Onnx__GraphProto *graph; /* the graph (or subgraph) being lowered */
    mk_buf unsup;                  /* collected "op|reason|node" lines */
    int n_unsup;
    long n_untried; /* nodes skipped because an input came from an unsupported node */
    long n_nodes_done, n_nodes_total;
    struct ox_ext {
        const char *path;
        int map_index; /* into p->maps */
    } * ext;
    int n_ext;
    int borrow_ok;     /* the model bytes outlive the program (a kept file mapping) */
    size_t fold_bytes; /* bytes allocated by constant folding so far */
    unsigned flags;    /* MK_ONNX_* import flags */
    /* weight slab: large constant payloads copied or computed at import live in anonymous
     * read-mostly mappings the program keeps (so clones borrow them instead of copying) */
    unsigned char *slab;
    size_t slab_used, slab_size;
} ox_ctx;

/* Zeroed, 64-byte aligned memory for a constant payload that lives as long as the program:
 * the weight slab for large sizes, the arena for small ones. NULL on OOM. */
void *mk_onnx_weight_alloc(ox_ctx *c, size_t n);

/* Internal import flags (tests): MK_ONNX_NO_FUSE keeps lowered patterns unfused. */
#define MK_ONNX_NO_FUSE 1u
mk_status mk_onnx_import_mem_ex(const void *data, size_t size, const char *name,
                                const mk_convert_options *opts, unsigned flags,
                                const mk_allocator *alloc, mk_program **out, mk_err *err);

/* Node attribute access (NULL / default when absent). */
const Onnx__AttributeProto *mk_onnx_attr(const Onnx__NodeProto *n, const char *name);
int64_t mk_onnx_attr_i(const Onnx__NodeProto *n, const char *name, int64_t def);
float mk_onnx_attr_f(const Onnx__NodeProto *n, const char *name, float def);
const char *mk_onnx_attr_s(ox_ctx *c, const Onnx__NodeProto *n, const char *name, const char *def);
/* INTS attribute: count (or -1 when absent) and data pointer. */
int mk_onnx_attr_ints(const Onnx__NodeProto *n, const char *name, const int64_t **v);

/* Decode a TensorProto into canonical constant form (arena copy unless the raw data can be
 * borrowed). Checks dims, element counts and byte sizes against the payload. */
mk_status mk_onnx_tensor(ox_ctx *c, const Onnx__TensorProto *t, ox_val *out);
/* ONNX elem_type -> canonical constant dtype / MIL run-time dtype; INVALID when unsupported. */
mk_dtype mk_onnx_const_dtype(int elem_type);
mk_dtype mk_onnx_run_dtype(int elem_type);

/* Scope handling. */
ox_val *mk_onnx_lookup(ox_ctx *c, const char *name);
ox_val *mk_onnx_define(ox_ctx *c, const char *name);

/* ---- emitting MIL ---- */

/* The MIL value of v in the current block (materializing a constant as a const op). */
mk_value *mk_onnx_mil(ox_ctx *c, ox_val *v);
/* A new op of kind k (named after base, may be NULL). */
mk_op *mk_onnx_op(ox_ctx *c, mk_op_kind k, const char *base);
int mk_onnx_in(ox_ctx *c, mk_op *op, const char *param, ox_val *v);
int mk_onnx_in_mil(ox_ctx *c, mk_op *op, const char *param, mk_value *v);
/* Constant parameters (const ops named <op>_<param> in the current block). */
int mk_onnx_in_i32s(ox_ctx *c, mk_op *op, const char *param, int n, const int32_t *v);
int mk_onnx_in_i32(ox_ctx *c, mk_op *op, const char *param, int32_t v);
int mk_onnx_in_f32(ox_ctx *c, mk_op *op, const char *param, float v);
int mk_onnx_in_bool(ox_ctx *c, mk_op *op, const char *param, int v);
int mk_onnx_in_str(ox_ctx *c, mk_op *op, const char *param, const char *s);
/* Add the op's next output and return it; the first call appends the op to the current block
 * and completes its defaults. The output's type is what src/ir's type rule infers from the
 * inputs (bind every input first): lowerings never build output types. */
mk_value *mk_onnx_out(ox_ctx *c, mk_op *op, const char *name);
/* Set o->kd and record its known elements on o's MIL value (mk_value.known), where the type
 * rules of the ops that read the vector find them; 0 on OOM. */
int mk_onnx_note_kd(ox_ctx *c, ox_val *o, ox_kd *kd);
/* Bind an ONNX output to a MIL value. */
void mk_onnx_set(ox_val *o, mk_value *v);
/* Make an ONNX output a constant (copied into the arena). */
mk_status mk_onnx_set_const(ox_ctx *c, ox_val *o, const mk_type *t, const void *data);

/* Small helpers used by the lowerings. */
mk_value *mk_onnx_unary(ox_ctx *c, mk_op_kind k, mk_value *x, const char *name);
mk_value *mk_onnx_binary(ox_ctx *c, mk_op_kind k, mk_value *x, mk_value *y, const char *name);
mk_value *mk_onnx_reshape(ox_ctx *c, mk_value *x, int rank, const int64_t *dims, const char *name);
mk_value *mk_onnx_transpose(ox_ctx *c, mk_value *x, int rank, const int *perm, const char *name);
mk_value *mk_onnx_cf32(ox_ctx *c, const char *name, int rank, const int64_t *dims, const float *v);
/* The same for a payload from mk_onnx_weight_alloc or the arena: borrowed, not copied. */
mk_value *mk_onnx_cf32_own(ox_ctx *c, const char *name, int rank, const int64_t *dims,
                           const float *v);
/* A run-time int vector operand (a shape, repeats) as int32 of static length *len; NULL with
 * *len < 0 when it is not one (no error set), NULL with *len >= 0 on OOM. */
mk_value *mk_onnx_i32_vector(ox_ctx *c, ox_val *v, int *len);
/* Numpy broadcasting of two types' shapes; 0 when incompatible. */
int mk_onnx_bcast(const mk_type *a, const mk_type *b, mk_type *out);

/* Record an unsupported node (op type, node name, reason) and poison its outputs. */
mk_status mk_onnx_unsupported(ox_ctx *c, const Onnx__NodeProto *n, const char *fmt, ...)
    MK_PRINTF(3, 4);

/* Constant element access for canonical constants. */
double mk_onnx_cget_f(const ox_val *v, size_t i);
int64_t mk_onnx_cget_i(const ox_val *v, size_t i);
size_t mk_onnx_numel(const mk_type *t); /* 0 for unknown */

/* ---- per-element folding of shape vectors (fold_dims.c) ---- */
/* What is known of x's dims [s, e) (for a Shape node), NULL when nothing is or on OOM. */
ox_kd *mk_onnx_shape_kd(ox_ctx *c, mk_value *x, int s, int e);
/* The known elements of v: its kd, or its constant int/bool data (rank <= 1, at most
 * OX_KD_MAX elements) written into *tmp; NULL when neither. */
const ox_kd *mk_onnx_kd(const ox_val *v, ox_kd *tmp);
/* Evaluate shape arithmetic element by element when an input is a partly known vector:
 * MK_OK when out[0] became a constant (nothing to lower), else MK_EUNSUPPORTED with
 * *partial set to what is known of out[0] (NULL when nothing), to attach after lowering. */
mk_status mk_onnx_fold_dims(ox_ctx *c, const Onnx__NodeProto *n, ox_val **in, int n_in,
                            ox_val **out, ox_kd **partial);

/* ---- importer table ---- */
typedef mk_status (*ox_lower_fn)(ox_ctx *c, const Onnx__NodeProto *n, ox_val **in, int n_in,
                                 ox_val **out, int n_out);
typedef const char *(*ox_why_fn)(ox_ctx *c, const Onnx__NodeProto *n);

/* A row whose ONNX op is one MIL op (fn = mk_onnx_lower_direct): OX_UNARY takes input 0 as
 * "x" (fp32 only unless any_dtype), OX_BINARY inputs 0 and 1 as "x", "y" (broadcasting),
 * OX_ALPHA / OX_ALPHA_BETA also bind the node's float attributes "alpha" ("beta"), absent
 * ones taking a / b. Rows with their own lowering leave form at OX_OWN. */
typedef enum { OX_OWN, OX_UNARY, OX_BINARY, OX_ALPHA, OX_ALPHA_BETA } ox_form;
typedef struct ox_direct {
    ox_form form;
    mk_op_kind kind;
    int any_dtype;
    float a, b;
} ox_direct;

typedef struct ox_importer {
    const char *op_type;
    int opset_lo, opset_hi;
    ox_lower_fn fn;
    ox_why_fn why_not; /* static reason a node cannot convert, or NULL */
    ox_direct mil;     /* the MIL op of a 1:1 row (fn = mk_onnx_lower_direct) */
} ox_importer;

/* Sorted by op_type; lookup by binary search. mk_onnx_row ignores the opset range. */
const ox_importer *mk_onnx_find_importer(const char *op_type, int opset);
const ox_importer *mk_onnx_row(const char *op_type);
int mk_onnx_n_importers(void);
const ox_importer *mk_onnx_importer_at(int i);

/* Lower one graph (subgraph) into the current block of c: nodes in order. */
mk_status mk_onnx_lower_nodes(ox_ctx *c, const Onnx__GraphProto *g);

/* Constant folding: evaluate node n when all inputs are constants. Returns MK_OK when the
 * outputs are filled, MK_EUNSUPPORTED when the node is not foldable (lower it instead). */
mk_status mk_onnx_fold(ox_ctx *c, const Onnx__NodeProto *n, ox_val **in, int n_in, ox_val **out,
                       int n_out);

/* Pattern fusion on an imported block and its nested blocks (fuse.c): the decomposed
 * ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div[/Mul/Add] layer normalization becomes one MIL
 * layer_norm. Dead ops are left for DCE. *n_fused (may be NULL) counts fusions. */
mk_status mk_onnx_fuse(ox_ctx *c, mk_block *b, int *n_fused);

/* Lowerings defined across lower_*.c, referenced by the table in table.c. */
#define OX_LOWER(fn)                                                                               \
    mk_status fn(ox_ctx *c, const Onnx__NodeProto *n, ox_val **in, int n_in, ox_val **out,         \
                 int n_out)
#define OX_WHY(fn) const char *fn(ox_ctx *c, const Onnx__NodeProto *n)

/* Every lowering and why_not function (table.c lists them). */
OX_LOWER(mk_onnx_lower_direct);
OX_LOWER(mk_onnx_lower_div);
OX_LOWER(mk_onnx_lower_pow);
OX_LOWER(mk_onnx_lower_equal);
OX_LOWER(mk_onnx_lower_mod);
OX_LOWER(mk_onnx_lower_min);
OX_LOWER(mk_onnx_lower_max);
OX_LOWER(mk_onnx_lower_sum);
OX_LOWER(mk_onnx_lower_mean);
OX_LOWER(mk_onnx_lower_log);
OX_LOWER(mk_onnx_lower_neg);
OX_LOWER(mk_onnx_lower_reciprocal);
OX_LOWER(mk_onnx_lower_selu);
OX_LOWER(mk_onnx_lower_hard_swish);
OX_LOWER(mk_onnx_lower_gelu);
OX_WHY(mk_onnx_why_gelu);
OX_LOWER(mk_onnx_lower_clip);
OX_LOWER(mk_onnx_lower_prelu);
OX_LOWER(mk_onnx_lower_softmax);
OX_LOWER(mk_onnx_lower_log_softmax);
OX_LOWER(mk_onnx_lower_matmul);
OX_LOWER(mk_onnx_lower_gemm);
OX_LOWER(mk_onnx_lower_reduce_mean);
OX_LOWER(mk_onnx_lower_reduce_sum);
OX_LOWER(mk_onnx_lower_reduce_max);
OX_LOWER(mk_onnx_lower_reduce_min);
OX_LOWER(mk_onnx_lower_reduce_prod);
OX_LOWER(mk_onnx_lower_reduce_l1);
OX_LOWER(mk_onnx_lower_reduce_l2);
OX_LOWER(mk_onnx_lower_reduce_log_sum);
OX_LOWER(mk_onnx_lower_reduce_log_sum_exp);
OX_LOWER(mk_onnx_lower_reduce_sum_square);
OX_LOWER(mk_onnx_lower_argmax);
OX_LOWER(mk_onnx_lower_argmin);
OX_LOWER(mk_onnx_lower_cast);
OX_WHY(mk_onnx_why_cast);
OX_LOWER(mk_onnx_lower_cast_like);
OX_LOWER(mk_onnx_lower_where);
OX_LOWER(mk_onnx_lower_cumsum);
OX_LOWER(mk_onnx_lower_identity);
OX_LOWER(mk_onnx_lower_reshape);
OX_LOWER(mk_onnx_lower_flatten);
OX_LOWER(mk_onnx_lower_transpose);
OX_LOWER(mk_onnx_lower_squeeze);
OX_LOWER(mk_onnx_lower_unsqueeze);
OX_LOWER(mk_onnx_lower_concat);
OX_LOWER(mk_onnx_lower_split);
OX_LOWER(mk_onnx_lower_slice);
OX_LOWER(mk_onnx_lower_gather);
OX_LOWER(mk_onnx_lower_gather_elements);
OX_LOWER(mk_onnx_lower_trilu);
OX_LOWER(mk_onnx_lower_expand);
OX_LOWER(mk_onnx_lower_tile);
OX_LOWER(mk_onnx_lower_shape);
OX_LOWER(mk_onnx_lower_size);
OX_LOWER(mk_onnx_lower_constant);
OX_LOWER(mk_onnx_lower_if);
OX_WHY(mk_onnx_why_if);
OX_LOWER(mk_onnx_lower_loop);
OX_WHY(mk_onnx_why_loop);
OX_LOWER(mk_onnx_lower_conv);
OX_WHY(mk_onnx_why_conv);
OX_LOWER(mk_onnx_lower_conv_transpose);
OX_LOWER(mk_onnx_lower_max_pool);
OX_LOWER(mk_onnx_lower_avg_pool);
OX_WHY(mk_onnx_why_pool);
OX_LOWER(mk_onnx_lower_global_avg_pool);
OX_LOWER(mk_onnx_lower_global_max_pool);
OX_LOWER(mk_onnx_lower_batch_norm);
OX_WHY(mk_onnx_why_batch_norm);
OX_LOWER(mk_onnx_lower_instance_norm);
OX_LOWER(mk_onnx_lower_layer_norm);
OX_WHY(mk_onnx_why_layer_norm);
OX_LOWER(mk_onnx_lower_pad);
OX_WHY(mk_onnx_why_pad);
OX_LOWER(mk_onnx_lower_resize);
OX_LOWER(mk_onnx_lower_upsample);
OX_WHY(mk_onnx_why_resize);
OX_LOWER(mk_onnx_lower_lstm);
OX_WHY(mk_onnx_why_lstm);
OX_LOWER(mk_onnx_lower_gru);
OX_WHY(mk_onnx_why_gru);
OX_LOWER(mk_onnx_lower_rnn);
OX_WHY(mk_onnx_why_rnn);
OX_LOWER(mk_onnx_lower_thresholded_relu);
OX_LOWER(mk_onnx_lower_shrink);
OX_LOWER(mk_onnx_lower_is_inf);
OX_LOWER(mk_onnx_lower_is_nan);
OX_LOWER(mk_onnx_lower_asinh);
OX_LOWER(mk_onnx_lower_acosh);
OX_LOWER(mk_onnx_lower_celu);
OX_LOWER(mk_onnx_lower_one_hot);
OX_LOWER(mk_onnx_lower_topk);
OX_LOWER(mk_onnx_lower_gather_nd);
OX_LOWER(mk_onnx_lower_scatter_nd);
OX_LOWER(mk_onnx_lower_scatter_elements);
OX_WHY(mk_onnx_why_scatter);
OX_LOWER(mk_onnx_lower_hardmax);
OX_LOWER(mk_onnx_lower_eye_like);
OX_LOWER(mk_onnx_lower_compress);
OX_LOWER(mk_onnx_lower_depth_to_space);
OX_LOWER(mk_onnx_lower_space_to_depth);
OX_WHY(mk_onnx_why_depth_to_space);
OX_LOWER(mk_onnx_lower_lrn);
OX_LOWER(mk_onnx_lower_mvn);
OX_LOWER(mk_onnx_lower_einsum);
OX_LOWER(mk_onnx_lower_quantize_linear);
OX_LOWER(mk_onnx_lower_dequantize_linear);
OX_LOWER(mk_onnx_lower_dynamic_quantize_linear);
OX_LOWER(mk_onnx_lower_qlinear_matmul);
OX_LOWER(mk_onnx_lower_qlinear_conv);
OX_LOWER(mk_onnx_lower_matmul_integer);
OX_LOWER(mk_onnx_lower_conv_integer);
OX_WHY(mk_onnx_why_quant);
OX_LOWER(mk_onnx_lower_nll_loss);
OX_LOWER(mk_onnx_lower_sce_loss);
OX_WHY(mk_onnx_why_loss);
OX_LOWER(mk_onnx_lower_constant_of_shape);
OX_LOWER(mk_onnx_lower_range);
OX_LOWER(mk_onnx_lower_non_zero);
OX_LOWER(mk_onnx_lower_nms);
OX_LOWER(mk_onnx_lower_roi_align);
OX_LOWER(mk_onnx_lower_max_pool_any);
OX_WHY(mk_onnx_why_max_pool);
OX_LOWER(mk_onnx_lower_max_unpool);
OX_LOWER(mk_onnx_lower_reverse_sequence);
OX_LOWER(mk_onnx_lower_unique);
OX_LOWER(mk_onnx_lower_scan);
OX_LOWER(mk_onnx_lower_det);
OX_LOWER(mk_onnx_lower_bitshift);
OX_LOWER(mk_onnx_lower_grid_sample);
OX_WHY(mk_onnx_why_grid_sample);
OX_LOWER(mk_onnx_lower_dft);
OX_LOWER(mk_onnx_lower_stft);
OX_LOWER(mk_onnx_lower_hann_window);
OX_LOWER(mk_onnx_lower_hamming_window);
OX_LOWER(mk_onnx_lower_blackman_window);

/* ---- small helpers every lowering file uses ---- */
/* Name of node output i, NULL when absent or empty. */
static inline const char *oname(const Onnx__NodeProto *n, int i)
{
    return (size_t)i < n->n_output && n->output[i] && *n->output[i] ? n->output[i] : NULL;
}

/* One Slice axis of length dim >= 0 (ONNX semantics, any int64 start/end/step, step != 0):
 * clamps *b and *e, returns the element count, and makes *step ±1 (and *e the next index) when
 * one element is taken, so the step fits the int32 MIL parameter. No signed overflow. */
static inline int64_t ox_slice_axis(int64_t dim, int64_t *b, int64_t *e, int64_t *step)
{
    int64_t bs = *b, es = *e;
    if (bs < 0) bs += dim;
    if (es < 0) es += dim;
    uint64_t span, us;
    if (*step > 0) {
        bs = bs < 0 ? 0 : bs > dim ? dim : bs;
        es = es < 0 ? 0 : es > dim ? dim : es;
        span = es > bs ? (uint64_t)(es - bs) : 0;
        us = (uint64_t)*step;
    } else {
        bs = bs < 0 ? -1 : bs > dim - 1 ? dim - 1 : bs;
        es = es < -1 ? -1 : es > dim - 1 ? dim - 1 : es;
        span = bs > es ? (uint64_t)(bs - es) : 0;
        us = (uint64_t)0 - (uint64_t)*step;
    }
    *b = bs;
    *e = es;
    int64_t len = span ? (int64_t)(1 + (span - 1) / us) : 0;
    if (len == 1) {
        *step = *step > 0 ? 1 : -1;
        *e = bs + *step;
    }
    return len;
}

/* Normalize an ONNX axis (negative from the end) into [0, rank); 0 when out of range. */
static inline int norm_axis(int64_t a, int rank, int *out)
{
    if (a < 0) a += rank;
    if (a < 0 || a >= (rank ? rank : 1)) return 0;
    *out = (int)a;
    return 1;
}

/* The error a failed builder call left in c, or out of memory when it left none. */
static inline mk_status fail(ox_ctx *c)
{
    return c->err->code ? c->err->code : MK_OOM(c->err);
}

/* Bind ONNX output o to MIL value v; a NULL v reports the pending error (or OOM). */
static inline mk_status done(ox_ctx *c, ox_val *o, mk_value *v)
{
    if (!v) return fail(c);
    mk_onnx_set(o, v);
    return MK_OK;
}

/* The MIL value of an ONNX value (materializing constants), NULL for a missing input. */
static inline mk_value *mil(ox_ctx *c, ox_val *v)
{
    return v ? mk_onnx_mil(c, v) : NULL;
}

#endif
