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
