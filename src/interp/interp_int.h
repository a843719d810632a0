/* The reference interpreter's internals: runtime tensors, the kernel context, parameter
 * readers and the kernel table. Runtime tensors keep their MIL type but store elements in one
 * of three layouts: fp32 for every float dtype (fp16 values stay rounded to half), int32 for
 * every integer dtype, one byte for bool; strings stay `const char *` arrays. src/api includes
 * this header only for the entry points (mk_interp_new / exec / free). */
#ifndef MK_INTERP_INT_H
#define MK_INTERP_INT_H

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "ir/ir.h"

/* ---- entry points (used by src/api/run.c) ---- */
typedef struct mk_interp_result {
    char warning[512]; /* first fp16 overflow (fp16_emulate), "" if none */
    size_t peak_bytes; /* peak bytes of live activations */
} mk_interp_result;

typedef struct mk_interp mk_interp;

/* Plan the main function of p once (slots, kernels, last uses, fused activations) for runs
 * with opts; p must outlive the result. Fails on ops without a kernel. */
mk_status mk_interp_new(const mk_program *p, const mk_run_options *opts, mk_interp **out,
                        mk_err *e);
/* One run: inputs[i] feeds function input i (types already checked, data in the dtype of
 * each tensor). outputs gets one tensor per block output, floats as fp32. Activation buffers
 * and converted constants are kept for the next run. */
mk_status mk_interp_exec(mk_interp *ip, const mk_tensor *const *inputs, mk_tensor_list *outputs,
                         mk_interp_result *res, mk_err *e);
void mk_interp_free(mk_interp *ip);
/* Called after each op (nested blocks included) with each float output v, as fp32 after any
 * fp16 rounding; data is valid only during the call. */
typedef void (*mk_interp_observer)(void *ud, const mk_op *op, const mk_value *v, const float *data,
                                   size_t numel);
/* mk_interp_new with an observer: with fn set, fusion is off so every op is seen; with fn NULL
 * fusion stays on (pass a function that does nothing for an op-by-op reference run). */
mk_status mk_interp_new_observed(const mk_program *p, const mk_run_options *opts,
                                 mk_interp_observer fn, void *ud, mk_interp **out, mk_err *e);
/* As mk_interp_new for function f of p (inputs[i] of mk_interp_exec then feed f's inputs;
 * state inputs take no tensor: they are the interpreter's state buffers, zeros at creation). */
mk_status mk_interp_new_fn(const mk_program *p, const mk_function *f, const mk_run_options *opts,
                           mk_interp **out, mk_err *e);
const mk_function *mk_interp_function(const mk_interp *ip);
/* Sessions (src/api/run.c) on a given function, and their interpreter (src/api/state.c). */
mk_status mk_session_new_fn(const mk_program *p, const mk_function *f, const mk_run_options *opts,
                            mk_session **out, mk_err *err);
mk_interp *mk_session_interp(mk_session *s);
/* The current value of state `name` (fp32 for float states) / replace it (shape must match). */
mk_status mk_interp_state_get(mk_interp *ip, const char *name, mk_tensor *out, mk_err *e);
mk_status mk_interp_state_set(mk_interp *ip, const char *name, const mk_tensor *t, mk_err *e);
/* Source-framework avg_pool divisor for a ceil_mode overhang (mk_run_semantics, H17):
 * set for the next runs, read by the pool kernel. */
void mk_interp_set_framework_pool(mk_interp *ip, int on);
int mk_interp_framework_pool(const mk_interp *ip);
/* Per-op profile rows of the next runs (mk_session_set_profile / mk_session_profile). */
void mk_interp_set_profile(mk_interp *ip, int on);
const mk_op_profile *mk_interp_profile(const mk_interp *ip, int *n, double *total_ms);
/* new + exec + free. */
mk_status mk_interp_run(const mk_program *p, const mk_run_options *opts,
                        const mk_tensor *const *inputs, mk_tensor_list *outputs,
                        mk_interp_result *res, mk_err *e);

/* ---- runtime tensors ---- */
typedef enum mk_layout { MK_L_F32 = 0, MK_L_I32, MK_L_BOOL, MK_L_STR } mk_layout;

typedef struct mk_rt {
    mk_type type; /* static shape; dtype as declared by the program */
    void *data;
    size_t numel;
    size_t cap;  /* allocated bytes when owned, else 0 (a constant, or a view) */
    int persist; /* a constant: kept until the run ends */
    int early;   /* allocated before its op ran, as the base of views (see plan_views) */
} mk_rt;

mk_layout mk_interp_layout(mk_dtype dt);
size_t mk_interp_elem_size(mk_dtype dt);

/* ---- fused activations ---- */
/* Elementwise steps that the plan moved onto the op producing their input (conv, linear, ...):
 * a host kernel applies them, in order, to each stretch of output it has finished, and the
 * fused ops then only hand the buffer on. Each step computes exactly what its own kernels
 * would (same fp32 expressions in the same order, same NaN handling). */
typedef enum mk_epi_kind {
    MK_EPI_RELU,
    MK_EPI_RELU6,
    MK_EPI_CLIP,
    MK_EPI_THRESHOLD,
    MK_EPI_LEAKY,
    MK_EPI_MAX,
    MK_EPI_MIN,
    MK_EPI_ADD,
    MK_EPI_SUB,
    MK_EPI_MUL,
    MK_EPI_DIV,
    MK_EPI_HSWISH,
    MK_EPI_HSIGMUL, /* v * clamp(a v + b, 0, 1): sigmoid_hard then mul */
    MK_EPI_AFFINE,  /* batch_norm on a conv's output: v * s[ch] + sh[ch] */
    MK_EPI_ADDV     /* add of a constant vector along the last axis (linear/matmul hosts) */
} mk_epi_kind;
#define MK_EPI_MAX_STEPS 8
typedef struct mk_epi_step {
    mk_epi_kind kind;
    int swap; /* binary ops: the constant is the op's x, the fused value its y */
    int post; /* hswish: then 1 divide by d, 2 multiply by d, 0 neither */
    /* alpha/beta, or the binary op's constant in a; hswish: v * clip(v + a, b, c) */
    float a, b, c, d;
    const float *s, *sh; /* MK_EPI_AFFINE: per output channel; MK_EPI_ADDV: s, vn values */
    int64_t vn;
} mk_epi_step;
typedef struct mk_epi {
    int n;
    mk_epi_step step[MK_EPI_MAX_STEPS];
    /* fp16 emulation: the host's result and every step's (and inner value's) rounded to half,
     * as the ops would each round their output; *overflow set when a finite value left the
     * half range on the way (the run names the host op) */
    int round16;
    atomic_int *overflow;
} mk_epi;

/* Apply ep's steps (ep may be NULL) to p[0..n) in place, after adding *bias unless NULL; ch is
 * the output channel of p for conv hosts, for linear/matmul hosts the last-axis index of p[0]
 * (p then runs along the output's rows). */
void mk_epi_apply(const mk_epi *ep, const float *bias, int64_t ch, float *p, size_t n);
/* mk_epi_apply on `rows` rows of `cols` values from p, ld floats apart, their first value at
 * last-axis index ch (linear/matmul hosts): one stretch when the rows are whole (cols == ld). */
void mk_epi_apply_rows(const mk_epi *ep, int64_t ch, float *p, int64_t rows, int64_t cols,
                       int64_t ld);

/* ---- kernel context ---- */
typedef struct mk_kctx {
    mk_interp *ip;
    const mk_op *op;
    int n_ins; /* flattened operands: input i arg j, in op order */
    mk_rt **ins;
    int n_attrs; /* attribute constants (iOS16 constexpr parameters) by op->attrs index */
    mk_rt **attrs;
    int n_outs;
    mk_rt **outs; /* types come from mk_ir_infer; data allocated when the shape is static */
    const mk_allocator *alloc;
    mk_err *e;
    const mk_epi *epi; /* fused activations this kernel must apply to outs[0], or NULL */
    const char *path;  /* the kernel variant taken, for the profile ("conv: im2col+sgemm") */
} mk_kctx;

typedef mk_status (*mk_kernel)(mk_kctx *k);

/* One kernel per op kind (NULL = not supported); kernels.c. */
mk_kernel mk_interp_kernel(mk_op_kind kind);
/* every kernel named by ops.def's kernel column (ops sharing one declare it again) */
#define MK_OP(e, nm, opset, nout, fam, place, pw, prm, rule, kern, meaning)                        \
    mk_status mk_k_##kern(mk_kctx *k);
#include "ir/ops.def"
#undef MK_OP

/* ---- helpers shared by the kernel files (interp.c) ---- */
/* An error naming the op: "op NAME (kind): reason". */
mk_status mk_kerr(mk_kctx *k, mk_status code, const char *fmt, ...) MK_PRINTF(3, 4);
/* The runtime tensor of parameter `name` (input arg 0, else attribute); NULL when absent. */
mk_rt *mk_kin(mk_kctx *k, const char *name);
/* Every argument of a tuple parameter; *n = 0 when absent. */
mk_rt **mk_kargs(mk_kctx *k, const char *name, int *n);
/* Scalar parameters with defaults; fail when present but not a 1-element tensor. */
mk_status mk_kint(mk_kctx *k, const char *name, int64_t def, int64_t *out);
mk_status mk_kfloat(mk_kctx *k, const char *name, double def, double *out);
mk_status mk_kbool(mk_kctx *k, const char *name, int def, int *out);
const char *mk_kstr(mk_kctx *k, const char *name, const char *def);
/* Integer vector parameter (any rank, flattened); *n = -1 when absent. */
mk_status mk_kints(mk_kctx *k, const char *name, int64_t *out, int max, int *n);

/* Element i of a tensor as double / int64, whatever its layout. */
double mk_rt_f64(const mk_rt *t, size_t i);
int64_t mk_rt_i64(const mk_rt *t, size_t i);
/* Allocate (or reallocate) a tensor's data for type t; counts toward the peak. */
mk_status mk_rt_alloc(mk_kctx *k, mk_rt *r, const mk_type *t);
/* Normalise a possibly negative axis against rank; fails when out of range. */
mk_status mk_kaxis(mk_kctx *k, int64_t axis, int rank, int *out);
/* Run a nested block with the given block-input tensors; its outputs are copied into outs
 * (each allocated here). */
mk_status mk_interp_block(mk_kctx *k, const mk_block *b, mk_rt *const *ins, int n_ins, mk_rt *outs,
                          int n_outs);
/* Free a tensor's owned data. */
void mk_rt_release(mk_interp *ip, mk_rt *r);
/* A scratch buffer owned by the run (grown on demand, reused by later ops: no per-op page
 * faults); valid until the next call. NULL on OOM. */
void *mk_interp_scratch(mk_kctx *k, size_t bytes);
/* Memory kept with the session for this op across runs (ip_kcache.c), for what a kernel derives
 * from constant operands only (mk_kconst), e.g. weights packed once: the block stored for (op,
 * key, bytes) by an earlier run (*made = 0), else a new uninitialised one (*made = 1) that the
 * kernel fills, replacing the op's old one; NULL on OOM. Call it outside mk_par_for. */
void *mk_kcache(mk_kctx *k, const void *key, size_t bytes, int *made);
/* Whether parameter `name` of the op is one constant value (the same data every run). */
int mk_kconst(mk_kctx *k, const char *name);
/* Threads for BLAS calls. */
int mk_interp_threads(const mk_interp *ip);

/* ---- threads (ip_par.c) ---- */
#define MK_PAR_MAX 64
/* fn(ctx, i, tid) for every i in [0, n), spread over the session's threads (tid in
 * [0, mk_par_threads)). The caller chooses the chunks from shapes only and each chunk writes
 * its own outputs, so results are the same bits for any thread count. */
typedef void (*mk_par_fn)(void *ctx, int64_t i, int tid);
void mk_par_for(mk_kctx *k, int64_t n, mk_par_fn fn, void *ctx);
int mk_par_threads(const mk_kctx *k);
/* A scratch buffer per thread: reserve `bytes` for each before mk_par_for, then chunks running
 * on thread tid use mk_par_scratch(k, tid). */
mk_status mk_par_scratch_reserve(mk_kctx *k, size_t bytes);
void *mk_par_scratch(mk_kctx *k, int tid);
/* Chunks of at least `grain` units for n units: ceil(n / grain), at least 1. */
static inline int64_t mk_par_chunks(int64_t n, int64_t grain)
{
    return n <= grain ? 1 : (n + grain - 1) / grain;
}

/* Row-major strides of a type into s (element units). */
void mk_strides(const mk_type *t, int64_t *s);
/* Broadcast strides of `in` against output type `out` (0 on broadcast dims); 0 when the
 * shapes are incompatible. */
int mk_bcast_strides(const mk_type *in, const mk_type *out, int64_t *s);

/* A loop over i in [0, n) written as fixed 16-wide chunks, then 4-wide chunks, then a scalar
 * tail, so that the compiler's cheapest auto-vectorisation (gcc -O2) turns the body into SIMD
 * code. BODY must be a branch-free expression statement using i. */
#define MK_VLOOP(n, BODY)                                                                          \
    do {                                                                                           \
        size_t i0_ = 0, n_ = (n);                                                                  \
        for (; i0_ + 16 <= n_; i0_ += 16)                                                          \
            for (size_t j_ = 0; j_ < 16; j_++) {                                                   \
                size_t i = i0_ + j_;                                                               \
                BODY;                                                                              \
            }                                                                                      \
        for (; i0_ + 4 <= n_; i0_ += 4)                                                            \
            for (size_t j_ = 0; j_ < 4; j_++) {                                                    \
                size_t i = i0_ + j_;                                                               \
                BODY;                                                                              \
            }                                                                                      \
        for (size_t i = i0_; i < n_; i++) {                                                        \
            BODY;                                                                                  \
        }                                                                                          \
    } while (0)

/* Marks a hot loop helper to be compiled also for AVX-512 and AVX2, the variant picked when the
 * program loads (GNU ifunc); the baseline build stays portable. Only for functions whose
 * results do not depend on the variant (no reassociation: the loops are elementwise). */
#if defined(__x86_64__) && defined(__gnu_linux__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define MK_SIMD __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef MK_SIMD
#define MK_SIMD
#endif

/* Branch-free float helpers: this exact select form compiles to maxss/minss (random-sign data
 * makes branches mispredict). mk_fmax/mk_fmin return b when either operand is NaN. */
static inline float mk_fmax(float a, float b)
{
    return a > b ? a : b;
}
static inline float mk_fmin(float a, float b)
{
    return a < b ? a : b;
}
/* x for x >= +0, else 0 (NaN with the sign bit clear passes through), via the sign bit. */
static inline float mk_relu(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    u &= ~(uint32_t)((int32_t)u >> 31);
    memcpy(&x, &u, 4);
    return x;
}
/* e^x for x <= 0 (softmax's shifted scores, e^-x^2), about 1 ulp: x = n ln2 + r, a degree-6
 * polynomial for e^r (Cephes' expf coefficients), 2^n from the exponent bits; 0 below -87
 * (where e^x is subnormal), NaN stays NaN. Branch-free, so loops over it become SIMD. */
static inline float mk_exp_neg(float x)
{
    float c = mk_fmax(x, -87.0f), t = c * 1.44269504f;
    float n = (t + 12582912.0f) - 12582912.0f; /* round to nearest */
    float r = c - n * 0.693145751953125f;
    r = r - n * 1.428606765330187e-6f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t e = ((int32_t)n + 127) << 23;
    float sc;
    memcpy(&sc, &e, 4);
    float y = p * sc;
    y = x < -87.0f ? 0.0f : y;
    return x != x ? x : y;
}

/* erf(x) within 1.5e-7 (Abramowitz & Stegun 7.1.26), branch-free; NaN stays NaN. */
static inline float mk_erf(float x)
{
    float ax = fabsf(x), t = 1.0f / (1.0f + 0.3275911f * ax);
    float p = 1.061405429f;
    p = p * t - 1.453152027f;
    p = p * t + 1.421413741f;
    p = p * t - 0.284496736f;
    p = p * t + 0.254829592f;
    return copysignf(1.0f - p * t * mk_exp_neg(-ax * ax), x);
}
/* neg when the sign bit of x is set, else x. */
static inline float mk_sign_select(float x, float neg)
{
    uint32_t u, n, m;
    memcpy(&u, &x, 4);
    memcpy(&n, &neg, 4);
    m = (uint32_t)((int32_t)u >> 31);
    u = (u & ~m) | (n & m);
    memcpy(&x, &u, 4);
    return x;
}

#endif
