/* The milkit IR: a Core ML ML Program in memory. program -> functions -> block -> ops ->
 * values. It mirrors MIL one to one, so readers and writers need no per-op code. Everything
 * lives in the program's arena; rewrites unlink ops, nothing is freed object by object. */
#ifndef MK_IR_H
#define MK_IR_H

#include "../base/base.h"

/* ---- op kinds (from ops.def) ---- */
typedef enum mk_op_kind {
#define MK_OP(e, ...) MK_OP_##e,
#include "ops.def"
#undef MK_OP
} mk_op_kind;
/* the op count (not an enumerator, so an exhaustive switch names only real ops); also the
 * "no such op" answer of mk_ir_op_lookup */
enum {
#define MK_OP(e, ...) +1
    MK_OP__N = 0
#include "ops.def"
#undef MK_OP
};
#define MK_OP__COUNT ((int)MK_OP__N)

typedef struct mk_op_info {
    const char *name;
    int min_opset; /* 15..18 = iOS15..iOS18 */
    int n_outputs; /* -1 = depends on the op */
    int pointwise; /* tensor operands read elementwise, for the rank/axis rewrites (ops.def) */
    const char *meaning;
} mk_op_info;

const mk_op_info *mk_ir_op_info(mk_op_kind k);
/* 1 when k is one of set[0..n): for the rules and rewrites that act on a few ops (a switch
 * over mk_op_kind must name every op: -Wswitch-enum). */
int mk_ir_op_in(mk_op_kind k, const mk_op_kind *set, int n);
/* MK_OP__COUNT when the name is not a known MIL op. */
mk_op_kind mk_ir_op_lookup(const char *mil_name);

/* ---- element types: values are MIL.proto DataType codes ---- */
typedef enum mk_dtype {
    MK_DT_INVALID = 0,
    MK_DT_BOOL = 1,
    MK_DT_STRING = 2,
    MK_DT_FP16 = 10,
    MK_DT_FP32 = 11,
    MK_DT_FP64 = 12,
    MK_DT_BF16 = 13,
    MK_DT_INT8 = 21,
    MK_DT_INT16 = 22,
    MK_DT_INT32 = 23,
    MK_DT_INT64 = 24,
    MK_DT_INT4 = 25,
    MK_DT_UINT8 = 31,
    MK_DT_UINT16 = 32,
    MK_DT_UINT32 = 33,
    MK_DT_UINT64 = 34,
    MK_DT_UINT4 = 35,
    MK_DT_UINT2 = 36,
    MK_DT_UINT1 = 37,
    MK_DT_UINT6 = 38,
    MK_DT_UINT3 = 39
} mk_dtype;

/* Text-MIL spelling ("fp32", "int8", ...); NULL for unknown codes. */
const char *mk_dtype_name(mk_dtype t);
mk_dtype mk_dtype_from_name(const char *s); /* MK_DT_INVALID when unknown */
int mk_dtype_valid(int code);
/* Bits per element (1..64); strings report 8*sizeof(char*) since they are stored as pointers. */
int mk_dtype_bits(mk_dtype t);
int mk_dtype_is_float(mk_dtype t);
int mk_dtype_is_int(mk_dtype t);

/* ---- tensor types ---- */
#define MK_MAX_RANK 8
#define MK_DIM_UNKNOWN (-1)
#define MK_RANK_UNKNOWN (-1)

typedef struct mk_type {
    mk_dtype dtype;
    int rank;                  /* MK_RANK_UNKNOWN for unknown rank */
    int64_t dims[MK_MAX_RANK]; /* MK_DIM_UNKNOWN for a dynamic dim */
    /* a MIL list of tensors: typed as its elements stacked, dims[0] the list length (MIL
     * ListType.length) and dims[1..] the element shape; the interpreter stores it that way */
    int is_list;
    /* a MIL dictionary (classify's probabilities): keys of this dtype (STRING or INT64), values
     * of `dtype`, typed as a vector of the values in key order; MK_DT_INVALID otherwise */
    mk_dtype dict_key;
} mk_type;

mk_type mk_type_make(mk_dtype dt, int rank, const int64_t *dims);
mk_type mk_type_scalar(mk_dtype dt);
int mk_type_is_static(const mk_type *t);
int mk_type_equal(const mk_type *a, const mk_type *b);
/* Element count of a static type; 0 on unknown dims or overflow (check is_static first). */
int mk_type_numel(const mk_type *t, size_t *out);
/* Byte size of a static type's payload (sub-byte types are packed); 0 on overflow. */
int mk_type_nbytes(const mk_type *t, size_t *out);
/* "tensor<fp32, [1, 3, ?]>" into buf; returns buf. */
char *mk_type_str(const mk_type *t, char *buf, size_t n);

/* ---- values, ops, blocks ---- */
typedef struct mk_op mk_op;
typedef struct mk_block mk_block;
typedef struct mk_function mk_function;

/* Where a constant payload prefers to be written. */
typedef enum mk_storage {
    MK_STORE_AUTO = 0, /* coremltools rule: >= 10 elements of fp16/fp32/int8/uint8 -> blob */
    MK_STORE_INLINE,
    MK_STORE_BLOB
} mk_storage;

typedef struct mk_const {
    const void *data; /* row-major payload; for MK_DT_STRING an array of const char * */
    size_t nbytes;
    mk_storage storage;
    uint64_t blob_offset;    /* metadata offset in weight.bin when read from or written to one */
    unsigned char f16_range; /* cache of mk_ir_const_beyond_f16 (the payload never changes) */
} mk_const;

typedef struct mk_value {
    const char *name;
    mk_type type;
    mk_op *producer;     /* NULL for function/block inputs and inline bindings */
    int producer_output; /* index into producer->outputs */
    const mk_const *cst; /* non-NULL when the value is a known constant */
    int is_inline;       /* a Binding.value: written inline, not as a name */
    int is_state;        /* a function input of MIL state type wrapping `type` (iOS18) */
    /* A run-time int vector (rank 0 or 1) whose elements a front end knows at build time:
     * type.dims[0] (or 1) values, MK_ELEM_UNKNOWN where not known; NULL when none. Type
     * rules read it through mk_ir_value_elems (a shape a Shape/Gather chain computed). */
    const int64_t *known;
} mk_value;
#define MK_ELEM_UNKNOWN INT64_MIN

/* One named input parameter: one value, or several for tuple parameters (concat values). */
typedef struct mk_input {
    const char *name;
    int n_args;
    mk_value **args;
} mk_input;

typedef struct mk_attr {
    const char *name;
    mk_value *value; /* a constant value (cst set) */
} mk_attr;

struct mk_op {
    mk_op_kind kind;
    const char *name; /* the "name" attribute; may be NULL */
    int n_inputs;
    mk_input *inputs;
    int n_outputs;
    mk_value **outputs;
    int n_attrs; /* attributes other than "name" (const "val", constexpr parameters) */
    mk_attr *attrs;
    int n_blocks;
    mk_block **blocks;
    mk_block *parent;
    mk_op *prev, *next;
};

struct mk_block {
    int n_inputs; /* nested blocks only (cond/while_loop) */
    mk_value **inputs;
    mk_op *first, *last;
    int n_outputs;
    mk_value **outputs;
    mk_op *parent_op; /* NULL for a function's top block */
    mk_function *function;
};

/* ---- model description (Core ML FeatureDescription for multi-arrays) ---- */
typedef enum mk_flex { MK_FLEX_NONE = 0, MK_FLEX_RANGE, MK_FLEX_ENUMERATED } mk_flex;

typedef struct mk_feature {
    const char *name;
    const char *short_description;
    mk_dtype dtype; /* FP32, FP16, INT32 (INT8 on iOS26) */
    int rank;
    int64_t shape[MK_MAX_RANK]; /* default shape */
    mk_flex flex;
    int64_t range_lo[MK_MAX_RANK], range_hi[MK_MAX_RANK]; /* hi -1 = unbounded */
    int n_enumerated;
    int64_t (*enumerated)[MK_MAX_RANK];
    int is_optional;
    /* non-array features (classifiers): dtype STRING or INT64 with dict_key unset is a
     * stringType / int64Type; dict_key set is a dictionaryType of those keys (values double) */
    mk_dtype dict_key;
} mk_feature;

/* One FunctionDescription of a multi-function model (Model.proto ModelDescription.functions). */
typedef struct mk_fdesc {
    const char *name;
    int n_inputs, n_outputs, n_states;
    mk_feature *inputs, *outputs, *states;
} mk_fdesc;

struct mk_function {
    const char *name;
    const char *opset; /* "CoreML5".."CoreML8" */
    int n_inputs;
    mk_value **inputs;
    mk_block *block;
};

typedef struct mk_kv {
    const char *key, *value;
} mk_kv;

struct mk_program {
    mk_arena *arena;
    const mk_allocator *alloc;
    int spec_version; /* 6..9 */
    int n_functions;
    mk_function **functions;
    int n_inputs, n_outputs; /* description of the main function */
    mk_feature *inputs, *outputs;
    int n_states; /* state features of the main function's description (iOS18) */
    mk_feature *states;
    /* multi-function description: defaultFunctionName (NULL: single-function form) and one
     * description per function; the main one is also copied into inputs/outputs/states */
    const char *default_function;
    int n_fdescs;
    mk_fdesc *fdescs;
    /* Model.description.metadata */
    const char *short_description, *version_string, *author, *license;
    int n_user_meta;
    mk_kv *user_meta;
    int n_build_info; /* Program.attributes["buildInfo"] */
    mk_kv *build_info;
    int is_updatable;
    /* classifier description: predictedFeatureName / predictedProbabilitiesName, or NULL */
    const char *predicted_feature, *predicted_probs;
    /* files kept mapped while constants point into them */
    int n_maps;
    mk_mapped *maps;
    mk_strmap names; /* every value name in use -> the function owning it (names are scoped
                        per function: an exact name may be reused by another function) */
    const mk_function *name_scope; /* the function being built (the last one created) */
    unsigned long name_counter;
};

/* ---- construction ---- */
mk_program *mk_ir_program_new(const mk_allocator *a, int spec_version);
void mk_ir_program_free(mk_program *p);
/* Keep a mapping alive until the program is freed (takes ownership). */
mk_status mk_ir_program_keep_map(mk_program *p, mk_mapped m, mk_err *e);

/* Ownership of src's own mappings passes to dst, which lists them borrowed (a copy made by
 * mk_program_clone); for a caller that drops src and keeps working on dst. */
void mk_ir_program_adopt_maps(mk_program *dst, mk_program *src);
/* Whether [d, d+n) lies in anonymous memory the program owns (a weight buffer it may reuse). */
int mk_ir_program_owns_anon(const mk_program *p, const void *d, size_t n);
/* n bytes for a large payload: a populated anonymous mapping the program keeps (the arena
 * below 64 KB); not zeroed by contract. NULL on OOM. */
void *mk_ir_program_alloc_payload(mk_program *p, size_t n);

/* Let the kernel drop the resident pages of a constant's payload when it lives in a file
 * mapping the program keeps (they are re-read from the file if touched again); a no-op for
 * anything else. For passes that replaced a large constant and no longer need it resident. */
void mk_ir_release_const(const mk_program *p, const mk_const *c);

/* Opset string for a spec version ("CoreML5" for 6 ...); NULL when out of range. */
const char *mk_ir_opset_for_spec(int spec_version);
/* iOS opset number (15..18) for a spec version, 0 when unknown. */
int mk_ir_ios_for_spec(int spec_version);

mk_function *mk_ir_function_new(mk_program *p, const char *name);
/* The default function (defaultFunctionName), else "main", else the first function. */
mk_function *mk_ir_main(const mk_program *p);
mk_function *mk_ir_function_find(const mk_program *p, const char *name); /* NULL: none */
/* The description feature of input (or state, states = 1) `name` of function f: its
 * FunctionDescription when the model has them, else the top-level one for the main function. */
const mk_feature *mk_ir_feature(const mk_program *p, const mk_function *f, const char *name,
                                int states);

/* Adds a function input value (name must be a valid unique identifier). */
mk_value *mk_ir_function_add_input(mk_program *p, mk_function *f, const char *name,
                                   const mk_type *t);
/* Adds a function input of state type wrapping tensor type t (iOS18). */
mk_value *mk_ir_function_add_state(mk_program *p, mk_function *f, const char *name,
                                   const mk_type *t);
mk_block *mk_ir_block_new(mk_program *p, mk_function *f, mk_op *parent_op);
mk_value *mk_ir_block_add_input(mk_program *p, mk_block *b, const char *name, const mk_type *t);
int mk_ir_block_set_outputs(mk_program *p, mk_block *b, int n, mk_value *const *vals);

/* Returns a fresh identifier derived from base (sanitized to [A-Za-z_][A-Za-z0-9_]*),
 * unique within the program, and reserves it. */
const char *mk_ir_unique_name(mk_program *p, const char *base);
/* Reserve an exact name; 0 if already taken or on OOM. */
int mk_ir_reserve_name(mk_program *p, const char *name);
/* MIL identifier check (MIL.proto rule plus coremltools' keyword list). */
int mk_ir_valid_identifier(const char *s);

/* New op (not yet in a block). name may be NULL (derived from the first output). */
mk_op *mk_ir_op_new(mk_program *p, mk_op_kind k, const char *name);
/* Bind an input parameter to one value (or append to a tuple parameter); 0 when v is NULL or
 * memory runs out. */
int mk_ir_op_add_input(mk_program *p, mk_op *op, const char *param, mk_value *v);
/* Add an output; name NULL gives a unique name derived from the op name. */
mk_value *mk_ir_op_add_output(mk_program *p, mk_op *op, const char *name, const mk_type *t);
int mk_ir_op_add_attr(mk_program *p, mk_op *op, const char *name, mk_value *v);
int mk_ir_op_add_block(mk_program *p, mk_op *op, mk_block *b);

/* A constant value, not produced by any op: used for attributes and inline bindings.
 * data is copied into the arena unless borrow is set (then it must outlive the program). */
mk_value *mk_ir_const_value(mk_program *p, const mk_type *t, const void *data, size_t nbytes,
                            int borrow);
/* A `const` op appended to b that produces a named constant; returns its output. */
mk_value *mk_ir_const(mk_program *p, mk_block *b, const char *name, const mk_type *t,
                      const void *data, size_t nbytes, int borrow);
/* Convenience scalar/vector constants in a block. */
mk_value *mk_ir_const_i32(mk_program *p, mk_block *b, const char *name, int n, const int32_t *v,
                          int as_scalar);
mk_value *mk_ir_const_f32(mk_program *p, mk_block *b, const char *name, int n, const float *v,
                          int as_scalar);
mk_value *mk_ir_const_bool(mk_program *p, mk_block *b, const char *name, int n, const uint8_t *v,
                           int as_scalar);
mk_value *mk_ir_const_str(mk_program *p, mk_block *b, const char *name, const char *s);

/* ---- block editing ---- */
void mk_ir_block_append(mk_block *b, mk_op *op);
void mk_ir_insert_before(mk_op *pos, mk_op *op);
void mk_ir_insert_after(mk_op *pos, mk_op *op);
void mk_ir_unlink(mk_op *op);
/* Rebind every use of `from` to `to` in b and nested blocks (inputs and block outputs). */
int mk_ir_replace_uses(mk_block *b, const mk_value *from, mk_value *to);
int mk_ir_count_uses(const mk_block *b, const mk_value *v);
/* Remove ops whose outputs are never used (recursively), keeping the block outputs alive. */
int mk_ir_dce(mk_program *p, mk_block *b);

/* ---- lookups on ops ---- */
const mk_input *mk_ir_input(const mk_op *op, const char *param);
mk_value *mk_ir_arg(const mk_op *op, const char *param); /* first arg, NULL if absent */
mk_value *mk_ir_attr(const mk_op *op, const char *name);
/* Typed reads of a constant input or attribute; 0 when absent or not constant. */
int mk_ir_arg_i32s(const mk_op *op, const char *param, int32_t *out, int max, int *n);
/* As mk_ir_arg_i32s, int64 elements; also 0 when the constant has no data. */
int mk_ir_arg_i64s(const mk_op *op, const char *param, int64_t *out, int max, int *n);
int mk_ir_arg_i32(const mk_op *op, const char *param, int32_t *out);
int mk_ir_arg_f32(const mk_op *op, const char *param, float *out);
int mk_ir_arg_bool(const mk_op *op, const char *param, int *out);
const char *mk_ir_arg_str(const mk_op *op, const char *param);
/* Read a constant's element i as double / int64 (for any numeric dtype). */
double mk_const_get_f64(const mk_value *v, size_t i);
int64_t mk_const_get_i64(const mk_value *v, size_t i);

/* Whether an fp32 constant holds a value beyond the fp16 range (|x| > 65504; with
 * finite_only, infinities do not count). Scans the payload once and caches the answer. */
int mk_ir_const_beyond_f16(const mk_value *v, int finite_only);
/* Record a payload's range (mk_f32_f16_range bits) measured while it was being copied. */
void mk_ir_const_note_f16_range(const mk_const *c, unsigned range);

/* Whether a constant is written to weight.bin: its storage hint, else the coremltools rule
 * (>= 10 elements of fp16/fp32/int8/uint8; from spec 9 also int16/uint16/int32/uint32). */
int mk_ir_const_in_blob(int spec_version, const mk_type *t, const mk_const *c);

/* ---- verification, printing, inference ---- */
mk_status mk_ir_verify(const mk_program *p, mk_err *e);
/* Only the state rules of mk_ir_verify (the writer checks them: a package Core ML rejects). */
mk_status mk_ir_verify_states(const mk_program *p, mk_err *e);
mk_status mk_ir_print(const mk_program *p, FILE *f, mk_err *e);

/* Shapes and dtypes of an op's outputs from its inputs. An operand is the type of one input
 * argument plus its data when the data is known (constants, or tensors in the interpreter).
 * ins is indexed like op->inputs flattened in order: input i arg j. */
typedef struct mk_operand {
    mk_type type;
    const void *data;
    size_t nbytes;
} mk_operand;
mk_status mk_ir_infer(const mk_op *op, const mk_operand *ins, int n_ins, mk_type *outs,
                      int max_outs, int *n_outs, mk_err *e);
/* Infer from the op's bound values and store into its outputs' types. */
mk_status mk_ir_infer_op(mk_op *op, mk_err *e);
/* Flattened operand index of input `param` arg 0; -1 when absent. */
int mk_ir_operand_index(const mk_op *op, const char *param);
/* The elements of int vector v (rank 0 or 1, at most max) known at build time: constant
 * data, the value's `known` elements, or through concat (axis 0) and int casts of such
 * vectors, their parts; MK_ELEM_UNKNOWN for the others. Returns the element count, -1 when
 * v is not a short int vector of static length. */
int mk_ir_value_elems(const mk_value *v, int64_t *out, int max);
/* 1 when op kind k has a type rule (the table test checks every op in ops.def). */
int mk_ir_infer_has_rule(mk_op_kind k);

/* ---- per-op parameter table (params.c) ---- */
/* Parameter flags. */
#define MK_PARAM_REQUIRED 1u /* must be bound */
#define MK_PARAM_CONST 2u    /* must be a compile-time constant (const / constexpr / inline) */
#define MK_PARAM_TUPLE 4u    /* variadic: several args in one input (concat `values`) */
#define MK_PARAM_ATTR 8u     /* an op attribute, not an input (const `val`, iOS16/17 constexpr) */
/* Shares the op's type domain T: a float argument must have the dtype of the op's anchor, the
 * first bound parameter without this flag whose argument is a float (x for most ops). */
#define MK_PARAM_SAME_T 16u
/* Shares a type domain U of its own with the op's other MK_PARAM_SAME_U parameters (iOS17
 * norms and activations: gamma, beta and epsilon must agree, x may differ). */
#define MK_PARAM_SAME_U 32u

/* Allowed element types: a bit set over mk_dtype codes (bit = 1 << code); 0 = any. */
#define MK_DTBIT(dt) (UINT64_C(1) << (dt))

/* What coremltools materializes for an optional parameter that is not bound. */
typedef enum mk_default_kind {
    MK_DEF_NONE = 0,     /* default None: the parameter is simply omitted */
    MK_DEF_INT,          /* int32 scalar `ival` */
    MK_DEF_FLOAT,        /* scalar `fval` in x's float dtype (fp32 when x is not fp16 or the
                            parameter's domain excludes fp16) */
    MK_DEF_BOOL,         /* bool scalar `ival` */
    MK_DEF_STR,          /* string scalar `sval` */
    MK_DEF_SPATIAL_ONES, /* int32 [rank(x) - 2] of ones (strides, dilations) */
    MK_DEF_SPATIAL_PAD,  /* int32 [2 * (rank(x) - 2)] of zeros */
    MK_DEF_ALL_AXES,     /* int32 [rank(x)] = 0 .. rank-1 (layer_norm axes) */
    MK_DEF_ZERO_BIAS     /* zeros [weight.shape[0]] of weight's dtype (linear bias) */
} mk_default_kind;

typedef struct mk_op_param {
    const char *name;
    unsigned flags;   /* MK_PARAM_* */
    uint64_t dtypes;  /* MK_DTBIT set, 0 = any */
    int since, until; /* iOS opsets (15..18) where it exists; until 0 = still current */
    mk_default_kind def;
    int64_t ival;
    double fval;
    const char *sval;
} mk_op_param;

typedef struct mk_op_params {
    int n_params;
    const mk_op_param *params; /* every definition across opsets; filter with since/until */
} mk_op_params;

/* The parameter table of an op kind (never NULL for k < MK_OP__COUNT). */
const mk_op_params *mk_ir_op_params(mk_op_kind k);
/* Parameter `name` of op kind k as defined at iOS opset ios (15..18); NULL when unknown. */
const mk_op_param *mk_ir_op_param(mk_op_kind k, const char *name, int ios);
/* iOS opset (15..18) that governs op: its function's opset when the op sits in a block that
 * reaches a function with a known opset, else 15. */
int mk_ir_op_ios(const mk_op *op);
/* Insert, before op in op's block, a const op `<opname>_<param>` for every optional parameter
 * with a non-None default that op does not bind, and bind it. Rank-dependent defaults use the
 * bound x (weight for linear's bias). MK_EINVAL when op is not in a block or a needed rank is
 * unknown; MK_ENOMEM on allocation failure (op may then be partially completed). */
mk_status mk_ir_complete_defaults(mk_program *p, mk_op *op, mk_err *e);

/* ---- H14 trigger (mask_path.c; the lint rule and fix_fp16_range) ---- */
/* 1 when an op of kind k carries a mask value through unchanged in meaning (cast, scaling,
 * select, broadcast and layout ops). */
int mk_ir_mask_path_op(mk_op_kind k);
/* 1 when a constant beyond +-65504 read by an op of kind k is a sentinel (masks, bounds, fill
 * values, comparisons), so clipping it keeps the meaning. */
int mk_ir_saturating_op(mk_op_kind k);
/* The add / sub / select a softmax's x comes from through casts and reshapes (its additive
 * mask), or NULL. */
const mk_op *mk_ir_mask_source(const mk_op *softmax);
typedef enum mk_h14_rewrite {
    MK_H14_KEEP = 0,
    MK_H14_CLIP, /* beyond +-65504 and read only by saturating ops: clip to +-65504 */
    MK_H14_MASK  /* above 40000, reaching a softmax mask, read only by mask path ops and
                  * softmaxes: elements above 40000 become +-1e4 */
} mk_h14_rewrite;
/* What fix_fp16_range does with float constant v: a const op's output (reader NULL) or an
 * inline constant that reader reads. */
mk_h14_rewrite mk_ir_h14_rewrite(const mk_value *v, const mk_op *reader);
typedef struct mk_mask_walk {
    double sentinel; /* minus the largest magnitude of the constants reached (0: none) */
    int mask;        /* some constant reached gets MK_H14_MASK */
    int clip;        /* some constant beyond +-65504 reached is rewritten */
} mk_mask_walk;
/* Accumulate into w the constants reaching v (read by reader) through mask path ops, at most
 * depth ops back (select's cond skipped). Start with w zeroed. */
void mk_ir_mask_walk(const mk_value *v, const mk_op *reader, int depth, mk_mask_walk *w);

/* ---- H13 trigger (tiny_eps.c; the lint rule and fix_epsilon) ---- */
typedef enum mk_tiny_eps {
    MK_EPS_NONE = 0,
    MK_EPS_PARAM, /* op's own "epsilon" (rsqrt: or its default) is below 2^-24: *eps */
    MK_EPS_ADD    /* *add (an add feeding sqrt/rsqrt x) adds the scalar *eps at param *side */
} mk_tiny_eps;
mk_tiny_eps mk_ir_tiny_eps(const mk_op *op, double *eps, mk_op **add, const char **side);

/* ---- H7/H8/H36 triggers (pow_forms.c; the lint rules, fix_pow and fix_sqrt_square) ---- */
/* 1 when v is a constant whose every element (at least one) equals want exactly. */
int mk_ir_const_all_eq(const mk_value *v, double want);
typedef enum mk_pow_form {
    MK_POW_PLAIN = 0,
    MK_POW_BASE2,    /* H7: float pow with a constant x of all 2 */
    MK_POW_SMALL_EXP /* H8: float pow with a constant y of all *exponent (2, 3, 0.5 or -1) */
} mk_pow_form;
/* The form of op; *fixable: the rewrite keeps the output type (y, resp. x, has it). */
mk_pow_form mk_ir_pow_form(const mk_op *op, double *exponent, int *fixable);
/* a when v is square(a), mul(a, a) or pow(a, constant 2); NULL otherwise. */
mk_value *mk_ir_square_of(const mk_value *v);
/* H36: a when op is sqrt(a^2) (a square as above); *fixable: abs(a) has the output's type. */
mk_value *mk_ir_sqrt_of_square(const mk_op *op, int *fixable);

/* ---- H11/H12 triggers (fp16_chains.c; the lint rules, fix_log_softmax, fix_sum_squares) ---- */
typedef enum mk_log_softmax_form {
    MK_LSM_NONE = 0,
    MK_LSM_SOFTMAX, /* log(softmax(*x)) */
    MK_LSM_CUMSUM   /* log(cumsum(exp(*x))), *x not already x - reduce_max */
} mk_log_softmax_form;
/* The form of a log op on a float *x; *fixable: the softmax's / cumsum's axis is constant or
 * absent and log's epsilon absent or in [0, 1e-30] (the explicit form writes 0). */
mk_log_softmax_form mk_ir_log_softmax_form(const mk_op *op, mk_value **x, int *fixable);
/* a when v is a^2 (mk_ir_square_of) of a's own type; NULL otherwise. */
mk_value *mk_ir_squared(const mk_value *v);
/* H12: the float value whose squares op sums (x of reduce_l2_norm / reduce_sum_square, a of
 * reduce_mean / reduce_sum(a^2)), NULL when none or already rescaled (x / maximum(..)).
 * *fixable: constant or absent axes and, but for reduce_l2_norm, keep_dims and a read output. */
mk_value *mk_ir_sum_of_squares(const mk_op *op, int *fixable);

/* ---- H25 trigger (ne_layout.c; the lint rule and fix_linear_to_conv) ---- */
/* 1 when w is a constant or the output of a const / constexpr_* op. */
int mk_ir_is_const_weight(const mk_value *w);
/* 1 when op is linear (constant weight) or matmul (constant y) on a rank-3 x; *fixable: a
 * linear with a rank-2 constant weight payload on a float x (the 1x1 conv borrows it). */
int mk_ir_linear_on_bsc(const mk_op *op, int *fixable);

/* ---- H35 trigger (runtime_forms.c; the lint rule and fix_runtime_forms) ---- */
typedef enum mk_rt_kind {
    MK_RT_NONE = 0,
    MK_RT_PAD_NEGATIVE,  /* a pad with a negative amount (*amount) */
    MK_RT_PAD_OUTER,     /* reflect/replicate pad on *axis, before the last two */
    MK_RT_GATHER_RANK0,  /* gather with rank-0 indices */
    MK_RT_SLICE_TO_START /* negative-stride slice_by_index with end *amount < -dim on *axis */
} mk_rt_kind;
typedef struct mk_rt_form {
    mk_rt_kind kind;
    int fixable; /* the kind's rewrite applies */
    int axis;
    int64_t amount;
    int no_constant_val; /* a pad without constant_val */
    int zero_fixable;    /* a 0 of x's dtype (float, int32) can be bound as constant_val */
} mk_rt_form;
/* 1 when op (pad, gather, slice_by_index) has a form the runtime rejects. */
int mk_ir_runtime_form(const mk_op *op, mk_rt_form *f);

/* ---- H21 trigger (rank_chain.c; the lint rule and fix_rank) and chain helpers ---- */
/* 1 for unary elementwise ops (other inputs are scalars/strings), 2 for binary ones, else 0. */
int mk_ir_pointwise(mk_op_kind k);
/* The tensor parameter ("x" or "y") of a pointwise op that reads v, when its other inputs are
 * one-element values and its output has v's shape; NULL otherwise. */
const char *mk_ir_pointwise_param(const mk_op *op, const mk_value *v);
/* Ops of b reading v (each once) into out[0..max); -1 when v is a block output, read in a
 * nested block or by more than max ops. */
int mk_ir_users(const mk_block *b, const mk_value *v, mk_op **out, int max);
/* 1 when v is a static one-element value. */
int mk_ir_numel1(const mk_value *v);
#define MK_IR_RANK_CHAIN_MAX 64
#define MK_IR_RANK_CHAIN_ENDS 16
typedef struct mk_rank_chain {
    mk_op *start; /* reshape-like op: x (rank <= 5) -> rank > 5 */
    int n_ops;    /* transposes and pointwise ops, in order */
    mk_op *ops[MK_IR_RANK_CHAIN_MAX];
    int n_ends; /* reshape-like readers of the last value (rank <= 5 outputs) */
    mk_op *ends[MK_IR_RANK_CHAIN_ENDS];
    mk_op *pos;              /* the earliest end in block order */
    int perm[MK_MAX_RANK];   /* axis j of the last value = axis perm[j] of start's output */
    int nin;                 /* the collapsed rank (<= 5) */
    int64_t in[MK_MAX_RANK]; /* the collapsed shape, in start's axis order */
    int tperm[MK_MAX_RANK];  /* the transpose over it (identity: none needed) */
} mk_rank_chain;
/* 1 when start opens a chain fix_rank collapses (c filled). */
int mk_ir_rank_chain(const mk_op *start, mk_rank_chain *c);
/* 1 when op is the start or an inner op of such a chain (its rank > 5 output goes away). */
int mk_ir_rank_fixable(const mk_op *op);

/* ---- H20 trigger (long_axis.c; the lint rule and fix_long_axis) ---- */
#define MK_IR_NE_LIMIT_HW 16384 /* D, H, W (rank 5) or the last two axes */
#define MK_IR_NE_LIMIT_CN 65536 /* the other axes */
#define MK_IR_LONG_CHAIN_MAX 64
#define MK_IR_LONG_ENDS 16
#define MK_IR_LONG_CHUNKS 64
/* The first axis of t beyond the Neural Engine range, or -1; *limit (may be NULL) the bound
 * it exceeds. */
int mk_ir_ne_long_axis(const mk_type *t, int64_t *limit);
/* reshape, expand_dims, squeeze, flatten2d. */
int mk_ir_reshape_like(mk_op_kind k);
typedef struct mk_long_split {
    mk_op *start;    /* linear / matmul (projection), or the chain's first pointwise op */
    int projection;  /* 1: split the constant weight into n_chunks output chunks */
    int weight_rows; /* projection: output features along the weight's rows */
    int n_chunks;    /* projection: ceil(N / 16384) */
    mk_value *v;     /* chain: the long value start reads */
    mk_op *src;      /* chain: the reshape-like op making v (it goes too), NULL for an input */
    mk_type split;   /* chain: v's shape with its long axis as [L/k, k] */
    int axis;        /* chain: v's long axis */
    int n_ops;       /* the single-use pointwise (and, projection: softmax) ops after start */
    mk_op *ops[MK_IR_LONG_CHAIN_MAX];
    int n_ends; /* the readers of the last value: reductions (and, chain: reshapes) */
    mk_op *ends[MK_IR_LONG_ENDS];
    mk_op *pos; /* the earliest end in block order */
} mk_long_split;
/* 1 when fix_long_axis rewrites the long output of start (s filled). */
int mk_ir_long_split(const mk_op *start, mk_long_split *s);
/* 1 when op's long output goes away under such a rewrite (op is a start, an inner op of its
 * chain or the reshape feeding it). */
int mk_ir_long_fixable(const mk_op *op);

/* ---- H1/H33/H37 triggers (layer_forms.c; the lint rules and fix_conv_transpose_1d,
 * fix_prelu_slope, fix_int_linear) ---- */
#define MK_IR_PRELU_MAX_C ((int64_t)1 << 20)
/* 1 when op is prelu with a one-element constant alpha; *fixable: x has a static channel axis
 * 1 of 2..MK_IR_PRELU_MAX_C and alpha is fp16/fp32 (the slope can be repeated per channel). */
int mk_ir_prelu_shared_slope(const mk_op *op, int *fixable);
/* H1: 1 when op is conv_transpose on a rank-3 x with a bias that is not a constant of zeros;
 * *fixable: a rank-3 weight and constant (or absent) strides, dilations, pad, output_shape,
 * which the lift to 2-D extends. */
int mk_ir_conv_transpose_1d_bias(const mk_op *op, int *fixable);
/* 1 when op is linear with an integer x (H37). */
int mk_ir_int_linear(const mk_op *op);

/* ---- H9/H10 triggers (fp16_forms.c; the lint rules, fix_softplus, fix_logsumexp) ---- */
/* 1 when op is softplus on a float x. */
int mk_ir_softplus_form(const mk_op *op);
/* 1 when op is reduce_log_sum_exp on a float x; *fixable: axes and keep_dims are constant or
 * absent (the max-shifted form needs them). */
int mk_ir_logsumexp_form(const mk_op *op, int *fixable);

/* ---- H22 (empty_concat.c; the lint rule and fix_empty) ---- */
/* Zero-sized inputs of a concat (0 for other ops); *fixable: some input is not empty. */
int mk_ir_concat_empty_inputs(const mk_op *op, int *fixable);
int mk_ir_type_has_zero_dim(const mk_type *t);

/* ---- H27 pools (global_pool.c; the lint rule and fix_global_pool) ---- */
/* 1 when op is avg/max/l2_pool with constant geometry on a static x and some spatial axis has
 * a kernel > 13 or a stride > 2 (*axis: the first, with its *k and *s); *global: an avg/max
 * pool whose kernel covers the input with no padding (exactly a reduce over the spatial axes). */
int mk_ir_pool_ne_limit(const mk_op *op, int *axis, int64_t *k, int64_t *s, int *global);

/* ---- H6 (negative_indices.c; the lint rule and fix_negative_indices) ---- */
typedef enum mk_neg_index {
    MK_NEG_NONE = 0,
    MK_NEG_CONST,  /* a constant negative index (*first) */
    MK_NEG_RUNTIME /* signed run-time indices without the select(i >= 0, i, i + dim) guard */
} mk_neg_index;
/* What op (a gather or scatter in opset iOS `ios`, 17+) risks; *fixable: a gather (or
 * gather_along_axis with constant indices) with int32 indices and a constant axis of static
 * size 1..INT32_MAX. */
mk_neg_index mk_ir_negative_indices(const mk_op *op, int ios, int64_t *first, int *fixable);

/* ---- H32 (rank5_norm.c; the lint rule and fix_instance_norm_5d) ---- */
/* 1 when op is instance_norm on a rank-5 x or reduce_mean/reduce_sum over exactly its axes 2-4;
 * *fixable: x is static, the merged spatial sizes fit int32 and keep_dims is constant. */
int mk_ir_rank5_spatial(const mk_op *op, int *fixable);

/* ---- H4 (cpu_ops.c; the lint rule and fix_cpu_ops) ---- */
#define MK_IR_FOLD_MAX ((size_t)1 << 24) /* elements of a folded fill / range_1d */
#define MK_IR_TRI_MAX 1024               /* side of a cumsum's triangular matrix */
/* 1 when op is cumsum, fill, fill_like or range_1d; *fixable: a fill/range of constants (a
 * static shape for fill_like) of a storable dtype and at most MK_IR_FOLD_MAX elements, or a
 * float cumsum with constant axis/reverse/exclusive along a static axis of 1..MK_IR_TRI_MAX,
 * or longer in *block-sized blocks (x static, rank <= 4, forward and inclusive). */
int mk_ir_cpu_op(const mk_op *op, int64_t *block, int *fixable);
/* The block size (16..MK_IR_TRI_MAX) dividing n into at most MK_IR_TRI_MAX blocks, or 0. */
int64_t mk_ir_cumsum_block(int64_t n);

/* ---- H15/H16/H39 (hidden_defaults.c; the lint rules and fix_explicit_params) ---- */
typedef struct mk_hidden_default {
    mk_op_kind kind;
    const char *param;
    char type; /* 'f' float in x's dtype, 'b' bool, 's' string */
    double f;
    const char *s;
    const char *shown; /* the value as the lint message writes it */
} mk_hidden_default;
/* The default op leaves unbound that differs from the source frameworks' (for an epsilon, on a
 * float x), or NULL. */
const mk_hidden_default *mk_ir_hidden_default(const mk_op *op);

/* ---- H5 slice_update (slice_update_box.c; the lint rule and fix_slice_update) ---- */
/* 1 when slice_update op can become pad + select with a constant mask: begin (normalised)
 * and box (the slice's extent) get x's rank entries (MK_MAX_RANK room each). */
int mk_ir_slice_update_box(const mk_op *op, int64_t *begin, int64_t *box);

/* ---- H2 (conv_padding.c; the lint rule and fix_conv_padding) ---- */
typedef struct mk_conv_pad {
    int ns;          /* spatial rank */
    int64_t pad[6];  /* the declared pads, begin/end per axis */
    int64_t need[3]; /* the trailing pad each axis's last window uses (at most the declared) */
    int axis;        /* the first axis declaring more than it uses */
} mk_conv_pad;
/* 1 when op is a conv with custom padding, static input and constant geometry that declares
 * more trailing padding than its last window uses on some axis. */
int mk_ir_conv_unused_pad(const mk_op *op, mk_conv_pad *g);

/* ---- H3 (conv_transpose_crop.c; the lint rule and fix_conv_transpose_pad) ---- */
enum { MK_CT_OUTPUT_SHAPE = 1, MK_CT_ASYMMETRIC = 2 };
typedef struct mk_ct_crop {
    int form;               /* MK_CT_OUTPUT_SHAPE, MK_CT_ASYMMETRIC (first such axis, its pads) */
    int axis;               /* spatial axis of the asymmetric pads, -1 otherwise */
    int64_t pb, pe;         /* that axis's pads */
    int fixable;            /* a valid conv_transpose + crop computes it */
    int32_t beg[5], end[5]; /* the crop on each axis of the output (spatial axes 2..) */
} mk_ct_crop;
/* The form (0: none) of a conv_transpose with output_shape or asymmetric custom pads. */
int mk_ir_conv_transpose_crop(const mk_op *op, mk_ct_crop *c);

/* ---- scatter write maps (scatter_map.c; the H5 lint rule and its rewrite) ---- */
#define MK_IR_SCATTER_MAX_NUMEL ((size_t)1 << 24)
/* Mode of a scatter op: 0 update, 1 add, 2 sub, 3 mul, 4 div, 5 max, 6 min (absent: add);
 * -1 when unknown or not constant. */
int mk_ir_scatter_mode(const mk_op *op);
/* Whether scatter / scatter_nd / scatter_along_axis op can become gather + select: constant
 * in-range indices, static shapes, data of at most MK_IR_SCATTER_MAX_NUMEL elements, fp16/fp32
 * data (int32 too for mode update) and, unless the mode is update, no element written twice.
 * src (NULL: check only; else one entry per data element) receives the flat updates index that
 * writes each data element as the interpreter applies them (last write wins), or -1. Returns 1
 * when it can; 0 with *why a static reason when not; -1 out of memory (a: scratch allocator). */
int mk_ir_scatter_map(const mk_op *op, const mk_allocator *a, int32_t *src, const char **why);

/* ---- symbolic slice extents (dim_facts.c; fuse_attention under a run-time length) ---- */
/* Extent along axis of a slice_by_index / slice_by_size whose bounds are computed at run time
 * but differ by a constant (begin = L - c, end = L), proven in range by bounds on L; -1 when
 * not proven. */
int64_t mk_ir_slice_extent(const mk_op *op, int axis);
/* Write such extents into b's slice types and re-infer the ops after them (only unknown dims
 * become known); the number of dims made known. */
int mk_ir_refine_dims(mk_block *b);
/* Element k of an integer vector v traced through concat, reshapes, constant slices and
 * add/sub of constants: base NULL (the constant off), or element idx of base + off, or with
 * is_dim the run-time dim idx of tensor base (read by `shape`) + off. */
typedef struct mk_ir_term {
    const mk_value *base;
    int idx, is_dim;
    int64_t off;
} mk_ir_term;
void mk_ir_int_term(const mk_value *v, int k, mk_ir_term *t);
int mk_ir_term_same(const mk_ir_term *a, const mk_ir_term *b);

/* Iterate ops of a block in order. */
#define MK_FOR_OPS(b, op) for (mk_op *op = (b)->first; op; op = op->next)

/* ---- avg_pool ceil_mode overhang (pool_overhang.c; the H17 lint rule and its rewrite) ---- */
typedef struct mk_pool_overhang {
    int ns; /* spatial rank (1-3) */
    int64_t in[3], k[3], s[3];
    int64_t pad[6];    /* begin/end per spatial axis; zeros unless pad_type is custom */
    int custom, valid; /* pad_type custom / valid (absent counts as valid) */
    int explicit_pads; /* custom with a nonzero pad */
    int axis;          /* first spatial axis whose last window overhangs, -1 when none */
} mk_pool_overhang;
/* 1 when op is an avg_pool with ceil_mode=true, exclude_padding_from_average=false and
 * constant geometry whose last window on some axis hangs past input + explicit pads (Core ML
 * then divides it by the whole kernel, PyTorch/ONNX by the real count). out may be NULL. */
int mk_ir_avg_pool_overhang(const mk_op *op, mk_pool_overhang *out);

#endif
