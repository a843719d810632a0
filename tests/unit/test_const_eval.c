/* The constant evaluator (src/interp/const_eval.c) and the folding built on it: a folded value is
 * what the interpreter computes for the unfolded op, bit for bit (random values and NaN), for
 * the MIL passes (cast/reshape chains) and the ONNX importer (each node with constant inputs
 * against the same node fed at run time); refusals and allocation failures leave no result. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "interp/const_eval.h"
#define MK_OPSEM_NO_FAULT_SCOPE /* fault runs fail its building and folding too */
#include "opsem_build.h"
#include "passes/passes_int.h"
#include "test_onnx_build.h"
#include "test_onnx_run.h"

static float rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 4096.0f - 8.0f;
}

/* A const cast fp32 -> fp16 evaluated alone equals the same op run by a session. */
TEST(const_eval_cast_matches_session)
{
    bld B;
    b_init(&B, 15);
    float v[6];
    unsigned seed = 7;
    for (int i = 0; i < 6; i++) v[i] = rnd(&seed) * 1000.0f;
    mk_op *o =
        op(&B, MK_OP_CAST, 1, "x", cf(&B, 2, (int64_t[]){2, 3}, v), "dtype", cs(&B, "fp16"), NULL);
    CHECK(o != NULL);
    if (!o) return b_free(&B);
    mk_const_out r;
    mk_err e = {0};
    mk_status st = mk_const_eval(o, NULL, B.p->arena, 100, &r, 1, &e);
    CHECK_EQ_INT(st, MK_OK);
    mk_op *back = op(&B, MK_OP_CAST, 1, "x", o->outputs[0], "dtype", cs(&B, "fp32"), NULL);
    if (st != MK_OK || !back || !mk_ir_block_set_outputs(B.p, B.b, 1, back->outputs))
        return b_free(&B);
    CHECK_EQ_INT(r.type.dtype, MK_DT_FP16);
    CHECK_EQ_INT((int)r.nbytes, 12);
    mk_tensor_list out = {0, NULL};
    mk_run_options ro = {0, 1, 0};
    if (mk_run(B.p, &ro, &B.ins, &out, &B.e) == MK_OK && out.n == 1) {
        const float *f = out.items[0].data;
        for (int i = 0; i < 6; i++)
            CHECK(mk_f16_to_f32(((const uint16_t *)r.data)[i]) == f[i] && f[i] != v[i]);
    } else {
        CHECK_MSG(0, "run: %s", B.e.msg);
    }
    mk_tensor_list_free(&out);
    b_free(&B);
}

/* A non-constant operand or a result above the bound is declined with a message; reshape hands
 * back x's own payload. */
TEST(const_eval_refuses_and_views)
{
    bld B;
    b_init(&B, 15);
    float v[6] = {1, 2, 3, 4, 5, 6};
    mk_value *x = b_input(&B, "x", 1, (int64_t[]){6}, v);
    mk_value *c = cf(&B, 1, (int64_t[]){6}, v);
    mk_op *add = op(&B, MK_OP_ADD, 1, "x", x, "y", c, NULL);
    mk_op *tile = op(&B, MK_OP_TILE, 1, "x", c, "reps", ci(&B, 1, (int32_t[]){4}), NULL);
    mk_op *rs = op(&B, MK_OP_RESHAPE, 1, "x", c, "shape", ci(&B, 2, (int32_t[]){2, 3}), NULL);
    CHECK(add && tile && rs);
    if (!add || !tile || !rs) return b_free(&B);
    mk_const_out r;
    mk_err e = {0};
    CHECK_EQ_INT(mk_const_eval(add, NULL, B.p->arena, 100, &r, 1, &e), MK_EUNSUPPORTED);
    CHECK(strstr(e.msg, "not a constant") != NULL);
    memset(&e, 0, sizeof e);
    CHECK_EQ_INT(mk_const_eval(tile, NULL, B.p->arena, 23, &r, 1, &e), MK_EUNSUPPORTED);
    CHECK(strstr(e.msg, "too large") != NULL);
    memset(&e, 0, sizeof e);
    mk_status st = mk_const_eval(tile, NULL, B.p->arena, 24, &r, 1, &e);
    CHECK_EQ_INT(st, MK_OK);
    CHECK(st == MK_OK && r.type.dims[0] == 24 && ((const float *)r.data)[23] == 6);
    CHECK_EQ_INT(mk_const_eval(rs, NULL, B.p->arena, 100, &r, 1, &e), MK_OK);
    CHECK(r.data == c->cst->data && r.type.rank == 2 && r.type.dims[1] == 3);
    b_free(&B);
}

/* Every allocation failure gives MK_ENOMEM (the sanitizer builds check nothing leaks). */
TEST(const_eval_allocation_failures)
{
    bld B;
    b_init(&B, 15);
    float v[6] = {1, -2, 3, -4, 5, -6};
    mk_op *o = op(&B, MK_OP_TILE, 1, "x", cf(&B, 2, (int64_t[]){2, 3}, v), "reps",
                  ci(&B, 2, (int32_t[]){2, 1}), NULL);
    CHECK(o != NULL);
    int ok_at = 0;
    for (long n = 1; o && n < 100 && !ok_at; n++) {
        mk_failing_alloc fa;
        mk_failing_alloc_init(&fa, n);
        mk_const_out r;
        mk_err e = {0};
        mk_status st = mk_const_eval(o, &fa.base, B.p->arena, 100, &r, 1, &e);
        CHECK_MSG(st == MK_OK || st == MK_ENOMEM, "failure at %ld: %s", n, e.msg);
        if (st == MK_OK) ok_at = (int)n;
    }
    CHECK(ok_at > 1);
    b_free(&B);
}

/* mk_pass_fold replaces cast / reshape / expand_dims / squeeze of constants, and the program
 * computes the same bits on random inputs. */
TEST(const_eval_pass_fold_equivalent)
{
    bld B;
    b_init(&B, 15);
    float v[6], xv[6];
    unsigned seed = 11;
    for (int i = 0; i < 6; i++) v[i] = rnd(&seed) * 3000.0f, xv[i] = rnd(&seed);
    mk_value *x = b_input(&B, "x", 2, (int64_t[]){2, 3}, xv);
    mk_op *h =
        op(&B, MK_OP_CAST, 1, "x", cf(&B, 1, (int64_t[]){6}, v), "dtype", cs(&B, "fp16"), NULL);
    mk_op *f = h ? op(&B, MK_OP_CAST, 1, "x", h->outputs[0], "dtype", cs(&B, "fp32"), NULL) : NULL;
    mk_op *e = f ? op(&B, MK_OP_EXPAND_DIMS, 1, "x", f->outputs[0], "axes",
                      ci(&B, 1, (int32_t[]){0}), NULL)
                 : NULL;
    mk_op *s = e ? op(&B, MK_OP_SQUEEZE, 1, "x", e->outputs[0], NULL) : NULL;
    mk_op *r = s ? op(&B, MK_OP_RESHAPE, 1, "x", s->outputs[0], "shape",
                      ci(&B, 2, (int32_t[]){2, 3}), NULL)
                 : NULL;
    mk_op *a = r ? op(&B, MK_OP_ADD, 1, "x", x, "y", r->outputs[0], NULL) : NULL;
    CHECK(a != NULL);
    if (!a) return b_free(&B);
    mk_ir_block_set_outputs(B.p, B.b, 1, a->outputs);
    mk_run_options ro = {0, 1, 0};
    mk_tensor_list before = {0, NULL}, after = {0, NULL};
    CHECK_EQ_INT(mk_run(B.p, &ro, &B.ins, &before, &B.e), MK_OK);
    mk_err pe = {0};
    CHECK(mk_pass_fold(B.p, &pe) >= 5);
    int left = 0;
    MK_FOR_OPS(B.b, o2) left += o2->kind != MK_OP_ADD && o2->kind != MK_OP_CONST;
    CHECK_EQ_INT(left, 0);
    CHECK_EQ_INT(mk_run(B.p, &ro, &B.ins, &after, &B.e), MK_OK);
    if (before.n == 1 && after.n == 1)
        CHECK(memcmp(before.items[0].data, after.items[0].data, 24) == 0);
    mk_tensor_list_free(&before);
    mk_tensor_list_free(&after);
    b_free(&B);
}

/* ---- ONNX: a node on initializers (folded) against the same node on graph inputs (run) ---- */
typedef struct ocase {
    const char *op;
    int n_in;
    int64_t dims[2][2]; /* rank-2 operands; an operand of dims {0, 0} is rank 1 of 4 */
    const char *attr;   /* "perm" (reverse), "axis" (1) or NULL */
} ocase;

static void onnx_model(ob *b, const ocase *k, int folded, float *const *v)
{
    ob_init(b, 13);
    const char *names[2] = {"a", "b"};
    for (int i = 0; i < k->n_in; i++) {
        if (folded)
            ob_init_f(b, names[i], 2, k->dims[i], v[i]);
        else
            ob_input(b, names[i], 1, 2, k->dims[i]);
    }
    Onnx__NodeProto *n = ob_node(b, k->op, k->n_in == 2 ? "a,b" : "a", "y");
    if (k->attr && strcmp(k->attr, "perm") == 0) ob_attr_ints(b, n, "perm", 2, (int64_t[]){1, 0});
    if (k->attr && strcmp(k->attr, "axis") == 0) ob_attr_i(b, n, "axis", 1);
    if (folded) { /* keep the graph input-driven: y times a run-time one */
        int64_t d[2] = {1, 1};
        ob_input(b, "z", 1, 2, d);
        ob_node(b, "Mul", "y,z", "out");
    } else {
        ob_node(b, "Identity", "y", "out");
    }
    ob_output(b, "out");
}

static int same_bits(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], 4) != 0 && !(isnan(a[i]) && isnan(b[i]))) return 0;
    return 1;
}

TEST(const_eval_onnx_fold_matches_interpreter)
{
    static const ocase cases[] = {
        {"Add", 2, {{2, 3}, {1, 3}}, NULL}, {"Sub", 2, {{2, 3}, {2, 1}}, NULL},
        {"Mul", 2, {{2, 3}, {2, 3}}, NULL}, {"Div", 2, {{2, 3}, {2, 3}}, NULL},
        {"Max", 2, {{2, 3}, {2, 3}}, NULL}, {"Min", 2, {{2, 3}, {2, 3}}, NULL},
        {"Pow", 2, {{2, 3}, {2, 3}}, NULL}, {"Abs", 1, {{2, 3}}, NULL},
        {"Sqrt", 1, {{2, 3}}, NULL},        {"Exp", 1, {{2, 3}}, NULL},
        {"Floor", 1, {{2, 3}}, NULL},       {"Ceil", 1, {{2, 3}}, NULL},
        {"Relu", 1, {{2, 3}}, NULL},        {"Sign", 1, {{2, 3}}, NULL},
        {"Transpose", 1, {{2, 3}}, "perm"}, {"Concat", 2, {{2, 3}, {2, 2}}, "axis"},
        {"Reciprocal", 1, {{2, 3}}, NULL},  {"Log", 1, {{2, 3}}, NULL},
    };
    unsigned seed = 3;
    int compared = 0;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const ocase *k = &cases[c];
        float va[6], vb[6], *v[2] = {va, vb};
        for (int i = 0; i < 6; i++) va[i] = rnd(&seed), vb[i] = rnd(&seed);
        if (strcmp(k->op, "Sqrt") == 0 || strcmp(k->op, "Log") == 0 || strcmp(k->op, "Pow") == 0)
            for (int i = 0; i < 6; i++) va[i] = fabsf(va[i]) + 0.5f;
        va[1] = NAN; /* NaN through min/max/relu: the old folding dropped it, the kernels keep it */
        vb[0] = NAN;
        mk_type ot;
        size_t n = 0;
        float got[2][12];
        for (int folded = 0; folded < 2; folded++) {
            ob b;
            onnx_model(&b, k, folded, v);
            mk_program *p = imp(tc, &b, NULL);
            ob_free(&b);
            if (!p) break;
            ot = *ob_out_type(p, 0);
            mk_type_numel(&ot, &n);
            float one = 1;
            const void *ins[2] = {folded ? (const void *)&one : va, vb};
            if (n > 12 || !run1(tc, p, folded ? 1 : k->n_in, ins, got[folded], n * 4)) n = 0;
            int ops = 0;
            MK_FOR_OPS(mk_ir_main(p)->block, o) ops += o->kind != MK_OP_CONST;
            if (folded) CHECK_MSG(ops == 1, "%s not folded (%d ops)", k->op, ops);
            mk_ir_program_free(p);
        }
        if (!n) continue;
        compared++;
        CHECK_MSG(same_bits(got[0], got[1], n), "%s: folded %g %g %g, run %g %g %g", k->op,
                  (double)got[1][0], (double)got[1][1], (double)got[1][2], (double)got[0][0],
                  (double)got[0][1], (double)got[0][2]);
    }
    CHECK_EQ_INT(compared, (int)(sizeof cases / sizeof *cases));
}

/* int64 beyond int32 folds exactly: Concat and Gather move it as element indices, Add falls back
 * to int64 arithmetic; the folded chain ends in a Cast to float that the program outputs. */
TEST(const_eval_onnx_int64_beyond_int32)
{
    const int64_t big = (int64_t)3 << 31, two = 2, one = 1;
    const int64_t a[2] = {big, -big}, b[1] = {7}, idx[2] = {2, 0};
    ob o;
    ob_init(&o, 13);
    ob_init_i(&o, "a", 1, &two, a);
    ob_init_i(&o, "b", 1, &one, b);
    ob_init_i(&o, "idx", 1, &two, idx);
    ob_input(&o, "z", 1, 1, &two);
    ob_node(&o, "Concat", "a,b", "c");
    ob_attr_i(&o, o.g->node[0], "axis", 0);
    ob_node(&o, "Gather", "c,idx", "g");
    ob_node(&o, "Add", "g,a", "s");
    Onnx__NodeProto *cast = ob_node(&o, "Cast", "s", "f");
    ob_attr_i(&o, cast, "to", 1);
    ob_node(&o, "Mul", "f,z", "out");
    ob_output(&o, "out");
    mk_program *p = imp(tc, &o, NULL);
    ob_free(&o);
    if (!p) return;
    int ops = 0;
    MK_FOR_OPS(mk_ir_main(p)->block, op) ops += op->kind != MK_OP_CONST;
    CHECK_EQ_INT(ops, 1);
    const int64_t c[3] = {a[0], a[1], b[0]};
    float z[2] = {1, 1}, got[2];
    const void *ins[1] = {z};
    if (run1(tc, p, 1, ins, got, sizeof got)) {
        for (int i = 0; i < 2; i++)
            CHECK_MSG(got[i] == (float)(c[idx[i]] + a[i]), "element %d: %g, expected %g", i,
                      (double)got[i], (double)(float)(c[idx[i]] + a[i]));
    }
    mk_ir_program_free(p);
}
