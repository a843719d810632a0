/* Small builders shared by test_infer*.c and test_verify.c: a program with one function,
 * typed inputs, int/float/string/bool consts, and ops with one or more untyped outputs. */
#ifndef MK_TEST_INFER_UTIL_H
#define MK_TEST_INFER_UTIL_H

#include <stdarg.h>
#include <string.h>

#include "ir/ir.h"

typedef struct tprog {
    mk_program *p;
    mk_function *f;
    mk_block *b;
} tprog;

static inline int tp_init(tprog *t, int spec)
{
    t->p = mk_ir_program_new(NULL, spec);
    t->f = t->p ? mk_ir_function_new(t->p, "main") : NULL;
    t->b = t->f ? t->f->block : NULL;
    return t->b != NULL;
}

/* SHAPE(1, 3, 224) expands to "rank, dims" for tt() and ty_is(); scalars use 0, NULL. */
#define SHAPE(...)                                                                                 \
    (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[])                         \
    {                                                                                              \
        __VA_ARGS__                                                                                \
    }

static inline mk_type tt(mk_dtype dt, int rank, const int64_t *d)
{
    return mk_type_make(dt, rank, d);
}

#define T32(...) tt(MK_DT_FP32, SHAPE(__VA_ARGS__))

static inline mk_value *tp_in(tprog *t, const char *name, mk_type ty)
{
    return mk_ir_function_add_input(t->p, t->f, name, &ty);
}

/* int32 vector const (scalar when n < 0: one value). */
static inline mk_value *tp_ints(tprog *t, const char *name, int n, ...)
{
    int32_t v[32];
    int cnt = n < 0 ? 1 : n;
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < cnt; i++) v[i] = va_arg(ap, int);
    va_end(ap);
    return mk_ir_const_i32(t->p, t->b, name, cnt, v, n < 0);
}

static inline mk_value *tp_f32(tprog *t, const char *name, float v)
{
    return mk_ir_const_f32(t->p, t->b, name, 1, &v, 1);
}

static inline mk_value *tp_bool(tprog *t, const char *name, int v)
{
    uint8_t b = (uint8_t)v;
    return mk_ir_const_bool(t->p, t->b, name, 1, &b, 1);
}

static inline mk_value *tp_str(tprog *t, const char *name, const char *s)
{
    return mk_ir_const_str(t->p, t->b, name, s);
}

/* An op appended to the block with inputs given as (param, value) pairs ending in NULL,
 * and n_out outputs whose types are left invalid for inference to fill. */
static inline mk_op *tp_op(tprog *t, mk_op_kind k, const char *name, int n_out, ...)
{
    mk_op *op = mk_ir_op_new(t->p, k, name);
    if (!op) return NULL;
    va_list ap;
    va_start(ap, n_out);
    for (;;) {
        const char *param = va_arg(ap, const char *);
        if (!param) break;
        mk_value *v = va_arg(ap, mk_value *);
        if (!v || !mk_ir_op_add_input(t->p, op, param, v)) {
            va_end(ap);
            return NULL;
        }
    }
    va_end(ap);
    mk_type none = mk_type_make(MK_DT_INVALID, 0, NULL);
    for (int i = 0; i < n_out; i++)
        if (!mk_ir_op_add_output(t->p, op, NULL, &none)) return NULL;
    mk_ir_block_append(t->b, op);
    return op;
}

/* Does op's output i have exactly dtype dt and the given dims? */
static inline int ty_is(const mk_op *op, int i, mk_dtype dt, int rank, const int64_t *d)
{
    if (!op || i >= op->n_outputs) return 0;
    const mk_type *ty = &op->outputs[i]->type;
    if (ty->dtype != dt || ty->rank != rank) return 0;
    for (int k = 0; k < rank; k++)
        if (ty->dims[k] != d[k]) return 0;
    return 1;
}

/* Run inference on op; returns the status (error text in e). */
static inline mk_status tp_infer(mk_op *op, mk_err *e)
{
    memset(e, 0, sizeof *e);
    return op ? mk_ir_infer_op(op, e) : MK_ENOMEM;
}

#endif
