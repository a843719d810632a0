/* The small program builder shared by the op-semantics tests (test_opsem*.c): fp32 inputs
 * with their tensors, constants, and op() that appends an op with its types inferred. Every
 * builder returns NULL when a step failed (allocation failure included) or an earlier one did.
 * A file defining MK_OPSEM_NO_FAULT_SCOPE before including it is not a fault scope: fault runs
 * inject failures into its own building too (test_const_eval.c). */
#ifndef MK_TEST_OPSEM_BUILD_H
#define MK_TEST_OPSEM_BUILD_H
#include <stdarg.h>
#include <stdlib.h>

#include "interp/interp_int.h"
#include "test.h"

#ifndef MK_OPSEM_NO_FAULT_SCOPE
#include "fault_scope.h"
#endif

typedef struct bld {
    mk_program *p;
    mk_function *f;
    mk_block *b;
    mk_err e;
    mk_tensor_list ins;
} bld;

/* A program for iOS `ios` (15..18: specification version ios - 9). */
static inline void b_init(bld *B, int ios)
{
    memset(B, 0, sizeof *B);
    B->p = mk_ir_program_new(NULL, ios - 9);
    B->f = B->p ? mk_ir_function_new(B->p, "main") : NULL;
    B->b = B->f ? B->f->block : NULL;
}

static inline void b_free(bld *B)
{
    mk_tensor_list_free(&B->ins);
    mk_ir_program_free(B->p);
}

static inline mk_value *b_input(bld *B, const char *name, int rank, const int64_t *dims,
                                const float *v)
{
    mk_type t = mk_type_make(MK_DT_FP32, rank, dims);
    mk_value *val = B->b ? mk_ir_function_add_input(B->p, B->f, name, &t) : NULL;
    if (!val) return NULL;
    mk_tensor tt;
    memset(&tt, 0, sizeof tt);
    tt.dtype = MK_DT_FP32;
    tt.rank = rank;
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)(tt.dims[i] = dims[i]);
    tt.nbytes = n * 4;
    tt.name = mk_strdup_default(name);
    tt.data = malloc(tt.nbytes ? tt.nbytes : 1);
    if (!tt.name || !tt.data) {
        mk_tensor_free(&tt);
        return NULL;
    }
    memcpy(tt.data, v, tt.nbytes);
    return mk_tensor_list_push(&B->ins, &tt, NULL) == MK_OK ? val : NULL; /* push frees tt */
}

static inline mk_value *cf(bld *B, int rank, const int64_t *dims, const float *v)
{
    mk_type t = mk_type_make(MK_DT_FP32, rank, dims);
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
    return B->b ? mk_ir_const(B->p, B->b, "c", &t, v, n * 4, 0) : NULL;
}

static inline mk_value *cfs(bld *B, float v)
{
    return B->b ? mk_ir_const_f32(B->p, B->b, "s", 1, &v, 1) : NULL;
}

static inline mk_value *ci(bld *B, int n, const int32_t *v)
{
    return B->b ? mk_ir_const_i32(B->p, B->b, "i", n, v, 0) : NULL;
}

static inline mk_value *cis(bld *B, int32_t v)
{
    return B->b ? mk_ir_const_i32(B->p, B->b, "i", 1, &v, 1) : NULL;
}

static inline mk_value *cb(bld *B, int v)
{
    uint8_t x = (uint8_t)v;
    return B->b ? mk_ir_const_bool(B->p, B->b, "b", 1, &x, 1) : NULL;
}

static inline mk_value *cs(bld *B, const char *s)
{
    return B->b ? mk_ir_const_str(B->p, B->b, "s", s) : NULL;
}

/* op(B, kind, n_outputs, "param", value, ..., NULL): the op, its types inferred, or NULL. A NULL
 * value leaves its parameter unbound. */
static inline mk_op *op(bld *B, mk_op_kind k, int n_out, ...)
{
    mk_op *o = B->b ? mk_ir_op_new(B->p, k, NULL) : NULL;
    int ok = o != NULL;
    va_list ap;
    va_start(ap, n_out);
    const char *nm;
    while ((nm = va_arg(ap, const char *))) {
        mk_value *v = va_arg(ap, mk_value *);
        if (ok && v && !mk_ir_op_add_input(B->p, o, nm, v)) ok = 0;
    }
    va_end(ap);
    mk_type t = mk_type_scalar(MK_DT_FP32);
    for (int i = 0; ok && i < n_out; i++) ok = mk_ir_op_add_output(B->p, o, NULL, &t) != NULL;
    if (!ok) return NULL;
    mk_ir_block_append(B->b, o);
    if (mk_ir_infer_op(o, &B->e) != MK_OK) {
        printf("  infer: %s\n", B->e.msg);
        return NULL;
    }
    return o;
}

static inline void b_observe_nothing(void *ud, const mk_op *op, const mk_value *v,
                                     const float *data, size_t numel)
{
    (void)ud, (void)op, (void)v, (void)data, (void)numel;
}

/* Outputs of B's program with fusion off (a session with an observer sees every op; with a
 * NULL one it fuses), fp16 emulation when fp16, one thread: the reference of the fused-kernel
 * bit comparisons. */
static inline mk_status b_run_unfused(bld *B, int fp16, mk_tensor_list *out)
{
    mk_run_options ro = {fp16, 1, 0};
    mk_interp *ip;
    mk_status st = mk_interp_new_observed(B->p, &ro, b_observe_nothing, NULL, &ip, &B->e);
    if (st) return st;
    const mk_tensor *ins[8];
    for (int i = 0; i < B->ins.n && i < 8; i++) ins[i] = &B->ins.items[i];
    st = mk_interp_exec(ip, ins, out, NULL, &B->e);
    mk_interp_free(ip);
    return st;
}

/* A seeded value in [-1, 1): the kernel tests' data. */
static inline float b_rand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* The activations the conv tests append to a conv (a kernel fuses them): act 0 none, 1 relu,
 * 2 relu6, 3 clip [-0.25, 0.3], 4 leaky_relu 0.1. b_act returns y after it (NULL on failure),
 * b_act_ref is the same in double. */
static inline mk_value *b_act(bld *B, mk_value *y, int act)
{
    mk_op *a = NULL;
    if (!y || !act) return y;
    if (act == 1) a = op(B, MK_OP_RELU, 1, "x", y, NULL);
    if (act == 2) a = op(B, MK_OP_RELU6, 1, "x", y, NULL);
    if (act == 3)
        a = op(B, MK_OP_CLIP, 1, "x", y, "alpha", cfs(B, -0.25f), "beta", cfs(B, 0.3f), NULL);
    if (act == 4) a = op(B, MK_OP_LEAKY_RELU, 1, "x", y, "alpha", cfs(B, 0.1f), NULL);
    return a ? a->outputs[0] : NULL;
}

static inline double b_act_ref(int act, double v)
{
    if (act == 1 || act == 2) v = v < 0 ? 0 : v;
    if (act == 2 && v > 6) v = 6;
    if (act == 3) v = v < -0.25 ? -0.25 : v > 0.3 ? 0.3 : v;
    if (act == 4 && v < 0) v = 0.1 * v;
    return v;
}

/* Runs B's program, whose one output is y, runs times in one session (threads threads, fp16
 * emulation when fp16, the profile on): returns a copy of the first run's output (the caller
 * frees it; NULL on failure, B->e says why), the kernel path of the last row of kind into path,
 * the output's dims into dims (8 slots) unless NULL, and whether every later run gave the same
 * bytes into *same unless NULL. */
static inline float *b_run_profiled(bld *B, mk_value *y, int threads, int fp16, int runs,
                                    const char *kind, char *path, size_t path_n, int64_t *dims,
                                    int *same)
{
    float *res = NULL;
    mk_session *s = NULL;
    mk_tensor_list out = {0, NULL};
    mk_run_options ro = {fp16, threads, 0};
    if (same) *same = 1;
    if (y) mk_ir_block_set_outputs(B->p, B->b, 1, &y);
    if (y && mk_session_new(B->p, &ro, &s, &B->e) == MK_OK) {
        mk_session_set_profile(s, 1);
        for (int run = 0; run < runs; run++) {
            mk_tensor_list_free(&out);
            if (mk_session_run(s, &B->ins, &out, NULL, &B->e) != MK_OK || out.n != 1) break;
            int n;
            double total;
            const mk_op_profile *r = mk_session_profile(s, &n, &total);
            for (int i = 0; r && i < n; i++)
                if (!strcmp(r[i].kind, kind)) snprintf(path, path_n, "%s", r[i].path);
            const mk_tensor *t = &out.items[0];
            if (run == 0) {
                res = malloc(t->nbytes ? t->nbytes : 1);
                if (res) memcpy(res, t->data, t->nbytes);
                if (dims) memcpy(dims, t->dims, sizeof t->dims);
            } else if (same && res && memcmp(res, t->data, t->nbytes)) {
                *same = 0;
            }
        }
    }
    mk_tensor_list_free(&out);
    mk_session_free(s);
    return res;
}

/* a and b hold the same tensors byte for byte. */
static inline int b_same_bits(const mk_tensor_list *a, const mk_tensor_list *b)
{
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++)
        if (a->items[i].nbytes != b->items[i].nbytes ||
            memcmp(a->items[i].data, b->items[i].data, a->items[i].nbytes))
            return 0;
    return 1;
}

#endif
