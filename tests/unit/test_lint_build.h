/* Builders for the hazard tests (test_lint*.c, test_fix*.c): one-function programs with
 * typed inputs, constants and ops whose output types come from mk_ir_infer_op. A failed
 * step sets tb.bad so a test checks once (REQUIRE(!t.bad)). */
#ifndef MK_TEST_LINT_BUILD_H
#define MK_TEST_LINT_BUILD_H

#include <stdarg.h>
#include <string.h>

#include "ir/ir.h"

typedef struct tb {
    mk_program *p;
    mk_function *f;
    mk_block *b;
    int bad;
    mk_err e;
} tb;

#define DIMS(...)                                                                                  \
    (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[])                         \
    {                                                                                              \
        __VA_ARGS__                                                                                \
    }

static inline void tb_init(tb *t, int spec)
{
    memset(t, 0, sizeof *t);
    t->p = mk_ir_program_new(NULL, spec);
    mk_test_owned(t->p); /* fault runs: the test's own (test.h) */
    t->f = t->p ? mk_ir_function_new(t->p, "main") : NULL;
    t->b = t->f ? t->f->block : NULL;
    t->bad = t->b == NULL;
}

static inline mk_value *tb_chk(tb *t, mk_value *v)
{
    if (!v) t->bad = 1;
    return v;
}

static inline mk_value *tb_in(tb *t, const char *name, mk_dtype dt, int rank, const int64_t *d)
{
    mk_type ty = mk_type_make(dt, rank, d);
    return t->bad ? NULL : tb_chk(t, mk_ir_function_add_input(t->p, t->f, name, &ty));
}

/* A constant of dtype dt (fp32/fp16/int32/bool) with every element = v, or element i =
 * v + step * i when step != 0. */
static inline mk_value *tb_const(tb *t, const char *name, mk_dtype dt, int rank, const int64_t *d,
                                 double v, double step)
{
    if (t->bad) return NULL;
    mk_type ty = mk_type_make(dt, rank, d);
    size_t n = 1, nb = 0;
    if (!mk_type_numel(&ty, &n) || !mk_type_nbytes(&ty, &nb)) return tb_chk(t, NULL);
    unsigned char *buf = mk_arena_alloc(t->p->arena, nb ? nb : 1);
    if (!buf) return tb_chk(t, NULL);
    for (size_t i = 0; i < n; i++) {
        double x = v + step * (double)i;
        if (dt == MK_DT_FP32)
            ((float *)buf)[i] = (float)x;
        else if (dt == MK_DT_FP16)
            ((uint16_t *)buf)[i] = mk_f32_to_f16((float)x);
        else if (dt == MK_DT_INT32)
            ((int32_t *)buf)[i] = (int32_t)x;
        else
            buf[i] = x != 0;
    }
    return tb_chk(t, mk_ir_const(t->p, t->b, name, &ty, buf, nb, 1));
}

static inline mk_value *tb_scalar(tb *t, mk_dtype dt, double v)
{
    return tb_const(t, "s", dt, 0, NULL, v, 0);
}

static inline mk_value *tb_ints(tb *t, int n, ...)
{
    int32_t v[16];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) v[i] = va_arg(ap, int);
    va_end(ap);
    return t->bad ? NULL : tb_chk(t, mk_ir_const_i32(t->p, t->b, "c", n, v, 0));
}

static inline mk_value *tb_int(tb *t, int v)
{
    int32_t x = v;
    return t->bad ? NULL : tb_chk(t, mk_ir_const_i32(t->p, t->b, "c", 1, &x, 1));
}

static inline mk_value *tb_bool(tb *t, int v)
{
    uint8_t x = (uint8_t)(v != 0);
    return t->bad ? NULL : tb_chk(t, mk_ir_const_bool(t->p, t->b, "c", 1, &x, 1));
}

static inline mk_value *tb_bools(tb *t, int n, ...)
{
    uint8_t v[16];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) v[i] = (uint8_t)va_arg(ap, int);
    va_end(ap);
    return t->bad ? NULL : tb_chk(t, mk_ir_const_bool(t->p, t->b, "c", n, v, 0));
}

static inline mk_value *tb_str(tb *t, const char *s)
{
    return t->bad ? NULL : tb_chk(t, mk_ir_const_str(t->p, t->b, "c", s));
}

/* tb_op(t, KIND, "name", "param", value, ..., NULL): an op with one output typed by
 * mk_ir_infer_op, appended to the block. */
static inline mk_value *tb_op(tb *t, mk_op_kind k, const char *name, ...)
{
    if (t->bad) return NULL;
    mk_op *op = mk_ir_op_new(t->p, k, name);
    if (!op) return tb_chk(t, NULL);
    va_list ap;
    va_start(ap, name);
    for (;;) {
        const char *param = va_arg(ap, const char *);
        if (!param) break;
        mk_value *v = va_arg(ap, mk_value *);
        if (!v || !mk_ir_op_add_input(t->p, op, param, v)) t->bad = 1;
    }
    va_end(ap);
    if (t->bad) return NULL;
    mk_type u = mk_type_make(MK_DT_INVALID, MK_RANK_UNKNOWN, NULL);
    int nout = mk_ir_op_info(k)->n_outputs;
    if (nout < 1) nout = 1;
    mk_value *out = NULL;
    for (int i = 0; i < nout; i++) {
        mk_value *o = mk_ir_op_add_output(t->p, op, NULL, &u);
        if (!o) return tb_chk(t, NULL);
        if (!out) out = o;
    }
    op->name = out->name;
    mk_ir_block_append(t->b, op);
    if (mk_ir_infer_op(op, &t->e) != MK_OK) t->bad = 1;
    return t->bad ? NULL : out;
}

static inline void tb_out(tb *t, mk_value *v)
{
    if (t->bad || !v) {
        t->bad = 1;
        return;
    }
    mk_value *outs[8];
    int n = t->b->n_outputs;
    for (int i = 0; i < n && i < 7; i++) outs[i] = t->b->outputs[i];
    outs[n] = v;
    if (!mk_ir_block_set_outputs(t->p, t->b, n + 1, outs)) t->bad = 1;
}

#endif
