/* The pass table and the small IR-building helpers every pass shares. A pass has the
 * signature int mk_pass_x(mk_program *, mk_err *): it returns the number of ops it changed
 * (0 = nothing to do) or -1 with err set. Passes see only src/ir and src/base. src/api
 * includes this header to run passes by hazard id. */
#ifndef MK_PASSES_INT_H
#define MK_PASSES_INT_H

#include "ir/ir.h"

typedef int (*mk_pass_fn)(mk_program *p, mk_err *e);

typedef struct mk_pass_info {
    const char *name;    /* "fix_conv_transpose_1d" */
    const char *hazards; /* hazard ids it fixes, comma list ("H7,H8"); "" for general passes */
    mk_pass_fn fn;
    int opt_in;          /* only when asked (layout changes: H25); MK_PASS_* bits */
    const char *purpose; /* one line */
} mk_pass_info;
/* opt_in bits: MK_PASS_OPT_IN runs only when asked (--ane-layout for H25, or --only naming
 * its rule); MK_PASS_SOURCE_SEMANTICS: the rewrite changes Core ML's output to the source
 * framework's (H17), so mk_fix verifies it against the original run with mk_run_semantics. */
#define MK_PASS_OPT_IN 1
#define MK_PASS_SOURCE_SEMANTICS 2
/* MK_PASS_IOS18: no hazard; mk_fix runs it on programs at iOS18 or later unless --only. */
#define MK_PASS_IOS18 4

/* The table in fix order (H3 before H1, fold last). */
int mk_pass_count(void);
const mk_pass_info *mk_pass_at(int i);
const mk_pass_info *mk_pass_find(const char *name);
/* Run one pass; debug builds (MK_DEBUG) verify the program after it. */
int mk_pass_run(const mk_pass_info *pi, mk_program *p, mk_err *e);

/* ---- the passes ---- */
int mk_pass_fold(mk_program *p, mk_err *e);
int mk_pass_dce(mk_program *p, mk_err *e);
/* conv/conv_transpose + batch_norm -> one conv; other batch_norms with constants beyond fp16
 * range -> mul + add (fuse_conv_bn.c). */
int mk_pass_fuse_conv_batchnorm(mk_program *p, mk_err *e);
/* attention chains -> iOS18 scaled_dot_product_attention (fuse_attention.c); 0 below iOS18 */
int mk_pass_fuse_attention(mk_program *p, mk_err *e);
int mk_pass_fix_conv_transpose_1d(mk_program *p, mk_err *e);
int mk_pass_fix_conv_transpose_1d_bias(mk_program *p, mk_err *e);
int mk_pass_fix_conv_padding(mk_program *p, mk_err *e);
int mk_pass_fix_conv_padding_explicit(mk_program *p, mk_err *e);
int mk_pass_fix_conv_transpose_pad(mk_program *p, mk_err *e);
int mk_pass_fix_cpu_ops(mk_program *p, mk_err *e);
int mk_pass_fix_slice_update(mk_program *p, mk_err *e);
int mk_pass_fix_scatter(mk_program *p, mk_err *e);
int mk_pass_fix_negative_indices(mk_program *p, mk_err *e);
int mk_pass_fix_pow(mk_program *p, mk_err *e);
int mk_pass_fix_softplus(mk_program *p, mk_err *e);
int mk_pass_fix_logsumexp(mk_program *p, mk_err *e);
int mk_pass_fix_log_softmax(mk_program *p, mk_err *e);
int mk_pass_fix_sum_squares(mk_program *p, mk_err *e);
int mk_pass_fix_epsilon(mk_program *p, mk_err *e);
int mk_pass_fix_fp16_range(mk_program *p, mk_err *e);
int mk_pass_fix_explicit_params(mk_program *p, mk_err *e);
int mk_pass_fix_runtime_forms(mk_program *p, mk_err *e);
int mk_pass_fix_empty(mk_program *p, mk_err *e);
int mk_pass_fix_global_pool(mk_program *p, mk_err *e);
int mk_pass_fix_linear_to_conv(mk_program *p, mk_err *e);
int mk_pass_fix_avg_pool_ceil(mk_program *p, mk_err *e);
int mk_pass_fix_instance_norm_5d(mk_program *p, mk_err *e);
int mk_pass_fix_prelu_slope(mk_program *p, mk_err *e);
int mk_pass_fix_int_linear(mk_program *p, mk_err *e);
int mk_pass_fix_sqrt_square(mk_program *p, mk_err *e);
int mk_pass_fix_rank(mk_program *p, mk_err *e);
int mk_pass_fix_long_axis(mk_program *p, mk_err *e);
int mk_pass_fp16(mk_program *p, mk_err *e);
/* What the fp16 pass did. kept[k]: ops of kind k left with fp32 tensors (the op or one of
 * its parameters is fp32-only at the program's opset). */
typedef struct mk_fp16_stats {
    int n_fp16_ops, n_fp32_ops; /* compute ops now fp16 / left fp32 */
    int n_casts;                /* casts inserted */
    int n_consts;               /* constants converted to fp16 */
    size_t n_clipped;           /* constant elements clipped to +-65504 (H14) */
    size_t n_underflow;         /* small nonzero constant elements kept at +-2^-24, not 0 */
    int n_range_fp32;           /* ops kept fp32: a constant beyond fp16 range, not a sentinel */
    int n_calib_fp32;           /* ops kept fp32 because calibration named them */
    int kept[MK_OP__COUNT];
} mk_fp16_stats;
/* mk_pass_fp16 with statistics (st may be NULL). */
int mk_pass_fp16_ex(mk_program *p, mk_fp16_stats *st, mk_err *e);
/* mk_pass_fp16_ex that keeps every op whose name is a key of keep in fp32 (casts around it). */
int mk_pass_fp16_keep(mk_program *p, const mk_strmap *keep, mk_fp16_stats *st, mk_err *e);
int mk_pass_quantize_int8(mk_program *p, mk_err *e);

/* ---- KV cache as model state (kv_state.c) ---- */
typedef struct mk_kv_pair {
    const char *past, *present; /* input PAST, output PRESENT = concat(PAST, new) */
} mk_kv_pair;
/* Pairs of the main function's inputs past* with outputs present* (same suffix); the count,
 * or -1 with e set when an input past* has no partner or none pairs. */
int mk_kv_auto_pairs(const mk_program *p, mk_kv_pair *out, int max, mk_err *e);
/* Each pair becomes an fp16 state named PAST, its cache axis at `capacity`; with exact (fp32
 * programs) a second fp16 state PAST_lo keeps each entry's rounding residual. The filled count
 * is input len_name's first element (a new int32 [1] input when there is none). Every pair is
 * checked before anything changes. Returns n, or -1 with e set. */
int mk_kv_to_state(mk_program *p, const mk_kv_pair *pairs, int n, int64_t capacity,
                   const char *len_name, int exact, mk_err *e);

/* ---- fp16 calibration decisions (fp16_calib.c) ---- */
/* What calibration runs saw of one value (by name). */
typedef struct mk_calib_value {
    double max_abs; /* largest finite |x| in the fp32 runs */
    double err;     /* largest |fp16 run - fp32 run| / max(max_abs, tiny); -1: not measured */
    int nonfinite;  /* the fp16 run gave inf/NaN where fp32 was finite */
} mk_calib_value;
/* Why an op stays fp32 (the value of a keep set). */
typedef struct mk_calib_keep {
    const char *value; /* the value that decided it */
    int why;           /* MK_CALIB_RANGE or MK_CALIB_ERROR */
    double seen, bound;
} mk_calib_keep;
enum { MK_CALIB_RANGE = 1, MK_CALIB_ERROR = 2, MK_CALIB_FRONT = 3 };
typedef struct mk_calib_params {
    double range;  /* |x| above this leaves the fp16 range with our margin */
    double err;    /* relative error above this is too large */
    double growth; /* ... when it also exceeds this multiple of the op's input error */
} mk_calib_params;
/* Add to keep (op name -> mk_calib_keep in ar) every float compute op of p that reads or
 * writes a value beyond par->range, or whose output error grew beyond par->err and
 * par->growth times its inputs' error. vals maps value names to mk_calib_value. Returns
 * the number of ops added, -1 on OOM. */
int mk_calib_decide(const mk_program *p, const mk_strmap *vals, const mk_calib_params *par,
                    mk_strmap *keep, mk_arena *ar, mk_err *e);
/* The float compute ops of p not in keep, in program order (nested blocks after their op),
 * as a new array of *n ops in p's allocator (mk_free(p->alloc, *out, *n * sizeof **out));
 * -1 on OOM. */
int mk_calib_front(const mk_program *p, const mk_strmap *vals, const mk_strmap *keep,
                   const mk_op ***out, int *n, mk_err *e);
/* Put op in keep with a reason (no-op when it is there); -1 on OOM. */
int mk_calib_keep_op(const mk_op *op, int why, const char *value, double seen, double bound,
                     mk_strmap *keep, mk_arena *ar);
/* Large fp32 -> fp16 weight payloads that the fp16 pass converts once it is done
 * (fp16_payload.c): in place when the fp32 bytes are the program's own and nothing reads them
 * any more, else into a new buffer. Until then the fp16 constant points at the fp32 bytes. */
typedef struct mk_fp16_payloads {
    struct fp16_pending *items;
    int n, cap;
    const mk_allocator *alloc;
} mk_fp16_payloads;
#define MK_FP16_DEFER_MIN ((size_t)1 << 16) /* elements; smaller constants convert at once */
int mk_fp16_payload_defer(mk_fp16_payloads *q, const mk_const *dst, const mk_value *src, size_t n);
/* Converts every deferred payload; call after dead-code removal. -1 with e set on OOM. */
int mk_fp16_payload_finish(mk_fp16_payloads *q, mk_program *p, mk_fp16_stats *st, mk_err *e);
void mk_fp16_payload_free(mk_fp16_payloads *q);

/* Ops where a constant beyond +-65504 acts as a "very large" sentinel (masks, bounds, fill
 * values), so clipping it to the fp16 range keeps the meaning (H14). */
int mk_pass_saturating_op(mk_op_kind k);

/* ---- helpers (pass.c) ---- */
/* Calls fn(ctx, op) for every op of every block (nested blocks first-to-last). fn may insert
 * ops before op and unlink op. Returns the sum of fn's results, or -1 at the first -1. */
typedef int (*pass_op_fn)(void *ctx, mk_program *p, mk_op *op, mk_err *e);
int mk_pass_each_op(mk_program *p, pass_op_fn fn, void *ctx, mk_err *e);
/* Like mk_pass_each_op for rewrites that unlink a chain of ops: after fn changes something
 * (returns > 0) its block is scanned again from the first op. */
int mk_pass_each_op_rescan(mk_program *p, pass_op_fn fn, void *ctx, mk_err *e);

/* A builder inserting new ops before `pos`. The first failure sticks in `failed`
 * (err set); later calls return NULL, so a rewrite checks once at the end. */
typedef struct pb {
    mk_program *p;
    mk_op *pos;
    mk_err *e;
    int failed;
} pb;
void mk_pb_init(pb *b, mk_program *p, mk_op *pos, mk_err *e);
/* A named const op before pos (data copied). */
mk_value *mk_pb_const(pb *b, const char *base, const mk_type *t, const void *data, size_t nbytes);
/* Same, but borrowing data (it must outlive the program, e.g. another constant's payload). */
mk_value *mk_pb_const_borrow(pb *b, const char *base, const mk_type *t, const void *data,
                             size_t nbytes);
mk_value *mk_pb_i32(pb *b, const char *base, int32_t v);
mk_value *mk_pb_i32s(pb *b, const char *base, int n, const int32_t *v);
mk_value *mk_pb_bool(pb *b, const char *base, int v);
mk_value *mk_pb_bools(pb *b, const char *base, int n, const uint8_t *v);
mk_value *mk_pb_str(pb *b, const char *base, const char *s);
/* A float scalar of dtype dt (fp16 or fp32). */
mk_value *mk_pb_float(pb *b, const char *base, mk_dtype dt, double v);
/* New op of kind k; bind inputs with mk_pb_in; mk_pb_emit adds one output, infers its type,
 * inserts the op before pos and returns the output. */
mk_op *mk_pb_op(pb *b, mk_op_kind k, const char *base);
void mk_pb_in(pb *b, mk_op *op, const char *param, mk_value *v);
mk_value *mk_pb_emit(pb *b, mk_op *op);
/* Shorthands: unary op(x), binary op(x, y). */
mk_value *mk_pb_unary(pb *b, mk_op_kind k, const char *base, mk_value *x);
mk_value *mk_pb_binary(pb *b, mk_op_kind k, const char *base, mk_value *x, mk_value *y);
/* Bind param to v, replacing an existing binding (in place; op stays where it is). */
void mk_pb_set(pb *b, mk_op *op, const char *param, mk_value *v);
/* Copy every input binding of `from` except the listed names (NULL-terminated) onto `to`. */
void mk_pb_copy_inputs(pb *b, const mk_op *from, mk_op *to, const char *const *except);
/* Make repl's producer (just built, repl used by nothing yet) produce `old` instead: old
 * keeps its name and every use, takes repl's type and constant; old's producer is
 * unlinked. O(1). */
void mk_pb_replace(pb *b, mk_value *old, mk_value *repl);
/* The pass result: -1 if the builder failed, else n. */
int mk_pb_done(pb *b, int n);

/* KV cache write (kv_state.c): x (static, capacity N on axis) with upd (static, n entries on
 * axis) written at offset f (int32 [1]; f + n <= N is the caller's contract) by select ops:
 * one entry broadcasts into the row equal to f, n entries on the second-to-last axis are placed
 * by a one-hot [N, n] matmul (exact). NULL, nothing built, when neither applies. */
mk_value *mk_kv_write(pb *b, mk_value *x, mk_value *upd, mk_value *f, int axis);
/* bool [1.., cap] of rank `rank`: position j < len (int32 [1]; the entries a cache holds). */
mk_value *mk_kv_len_mask(pb *b, mk_value *len, int64_t cap, int rank);

/* Shared by fix_rank.c and fix_long_axis.c (defined in fix_rank.c). mk_pass_pointwise: 1 for
 * unary elementwise ops (other inputs are scalars/strings), 2 for binary ones, else 0.
 * mk_pass_users: ops of b reading v (each once) into out[0..max); -1 when v is a block output,
 * read in a nested block or by more than max ops. mk_pass_numel1: a static one-element value.
 * mk_pass_scalar_of: a rank-0 constant borrowing a one-element constant's payload (NULL when v
 * is not constant). mk_pass_rebuild_pointwise: a copy of pointwise op reading `to` where op
 * read `from`; one-element operands of higher rank than `to` become rank 0. */
int mk_pass_pointwise(mk_op_kind k);
/* The tensor parameter ("x" or "y") of a pointwise op that reads v, when its other inputs are
 * one-element values and its output has v's shape; NULL otherwise. */
const char *mk_pass_pointwise_param(const mk_op *op, const mk_value *v);
int mk_pass_users(const mk_block *b, const mk_value *v, mk_op **out, int max);
int mk_pass_numel1(const mk_value *v);
mk_value *mk_pass_scalar_of(pb *b, const mk_value *v);
mk_value *mk_pass_rebuild_pointwise(pb *b, const mk_op *op, const mk_value *from, mk_value *to);

/* Same spatial/positional parameters from a constant int input; 0 when absent/not const
 * (mk_ir_arg_i64s under the passes' name). */
int mk_pass_ints(const mk_op *op, const char *param, int64_t *out, int max, int *n);
/* Constant payload as floats (fp16/fp32) into out[0..n); 0 when not a float constant. */
int mk_pass_const_floats(const mk_value *v, float *out, size_t n);

#endif
