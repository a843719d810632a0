/* Tests for per-channel int8 weights: the output-channel axis per op (conv_transpose's weight is
 * [Cin, Cout/g, K..]), the constexpr form per target, composition with the fp16 pass in either
 * order, shared weights, the iOS15 refusal, and a package round trip (save, load, verify, run).
 * Weights get very different magnitudes per output channel, so a wrong axis shows up as large
 * per-channel errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "passes/passes_int.h"
#include "test.h"

typedef struct qb {
    mk_program *p;
    mk_function *f;
    mk_block *b;
    unsigned seed;
} qb;

static float qrand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffffff) / 8388608.0f - 1.0f;
}

static int qb_init(qb *B, int spec)
{
    B->seed = 3;
    B->p = mk_ir_program_new(NULL, spec);
    mk_test_owned(B->p); /* fault runs: the test's own (test.h) */
    B->f = B->p ? mk_ir_function_new(B->p, "main") : NULL;
    B->b = B->f ? B->f->block : NULL;
    return B->b != NULL;
}

static mk_value *qb_input(qb *B, const char *name, int rank, const int64_t *d)
{
    mk_type t = mk_type_make(MK_DT_FP32, rank, d);
    return mk_ir_function_add_input(B->p, B->f, name, &t);
}

/* fp32 weight whose values along axis `ax` (the output channel) scale by 2^-(c % 10). */
static mk_value *qb_weight(qb *B, const char *name, int rank, const int64_t *d, int ax)
{
    size_t n = 1, inner = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)d[i];
    for (int i = ax + 1; i < rank; i++) inner *= (size_t)d[i];
    float *w = malloc(n * sizeof *w);
    if (!w) return NULL;
    for (size_t i = 0; i < n; i++) {
        size_t c = (i / inner) % (size_t)d[ax];
        w[i] = qrand(&B->seed) * ldexpf(1.0f, -(int)(c % 10));
    }
    mk_type t = mk_type_make(MK_DT_FP32, rank, d);
    mk_value *v = mk_ir_const(B->p, B->b, name, &t, w, n * sizeof *w, 0);
    free(w);
    return v;
}

static mk_value *qb_i32s(qb *B, const char *name, int n, const int32_t *v)
{
    return mk_ir_const_i32(B->p, B->b, name, n, v, 0);
}

static mk_op *qb_op(qb *B, mk_op_kind k, const char *const *names, mk_value *const *vals, int n)
{
    mk_op *op = mk_ir_op_new(B->p, k, mk_ir_op_info(k)->name);
    mk_type none = mk_type_make(MK_DT_INVALID, MK_RANK_UNKNOWN, NULL);
    if (!op) return NULL;
    for (int i = 0; i < n; i++)
        if (!vals[i] || !mk_ir_op_add_input(B->p, op, names[i], vals[i])) return NULL;
    if (!mk_ir_op_add_output(B->p, op, NULL, &none)) return NULL;
    mk_ir_block_append(B->b, op);
    mk_err e = {MK_OK, ""};
    return mk_ir_infer_op(op, &e) == MK_OK ? op : NULL;
}

/* x[1,16,6,6] -> conv_transpose(W[16, 32, 3, 3], stride 2) -> conv(W2[64, 16, 3, 3], groups 2);
 * both are outputs. conv_transpose channels are scaled along axis 1, conv ones along axis 0. */
static int build_net(qb *B, int spec, int shared)
{
    if (!qb_init(B, spec)) return 0;
    int64_t xd[4] = {1, 16, 6, 6}, td[4] = {16, 32, 3, 3}, cd[4] = {64, 16, 3, 3};
    static const int32_t ones[2] = {1, 1}, twos[2] = {2, 2}, zeros[4] = {0, 0, 0, 0};
    mk_value *x = qb_input(B, "x", 4, xd);
    mk_value *wt = qb_weight(B, "wt", 4, td, 1);
    mk_value *pv = mk_ir_const_str(B->p, B->b, "pt", "valid");
    static const char *const tn[] = {"x", "weight", "strides", "pad_type", "pad", "dilations"};
    mk_value *tv[] = {x,
                      wt,
                      qb_i32s(B, "ts", 2, twos),
                      pv,
                      qb_i32s(B, "tp", 4, zeros),
                      qb_i32s(B, "td", 2, ones)};
    mk_op *ct = qb_op(B, MK_OP_CONV_TRANSPOSE, tn, tv, 6);
    if (!ct) return 0;
    int32_t g = 2;
    mk_value *wc = qb_weight(B, "wc", 4, cd, 0);
    static const char *const cn[] = {"x",   "weight",    "strides", "pad_type",
                                     "pad", "dilations", "groups"};
    mk_value *cv[] = {ct->outputs[0],
                      wc,
                      qb_i32s(B, "cs", 2, ones),
                      pv,
                      qb_i32s(B, "cp", 4, zeros),
                      qb_i32s(B, "cdl", 2, ones),
                      mk_ir_const_i32(B->p, B->b, "cg", 1, &g, 1)};
    mk_op *cv1 = qb_op(B, MK_OP_CONV, cn, cv, 7);
    if (!cv1) return 0;
    mk_value *out = cv1->outputs[0];
    if (shared) { /* the same weight again: quantized once */
        cv[0] = ct->outputs[0];
        mk_op *cv2 = qb_op(B, MK_OP_CONV, cn, cv, 7);
        static const char *const an[] = {"x", "y"};
        mk_value *av[] = {out, cv2 ? cv2->outputs[0] : NULL};
        mk_op *add = qb_op(B, MK_OP_ADD, an, av, 2);
        if (!add) return 0;
        out = add->outputs[0];
    }
    mk_value *outs[2] = {ct->outputs[0], out};
    return mk_ir_block_set_outputs(B->p, B->b, 2, outs);
}

/* Worst per-output-channel relative error ||a-b|| / ||b|| over axis 1 of [1, C, H, W]. */
static double worst_channel(const mk_tensor *a, const mk_tensor *b)
{
    if (a->rank != 4 || b->rank != 4 || a->dims[1] != b->dims[1] || a->nbytes != b->nbytes)
        return INFINITY;
    size_t c = (size_t)b->dims[1], hw = (size_t)(b->dims[2] * b->dims[3]);
    double worst = 0;
    for (size_t k = 0; k < c; k++) {
        double num = 0, den = 0;
        for (size_t i = 0; i < hw; i++) {
            double x = ((const float *)a->data)[k * hw + i],
                   y = ((const float *)b->data)[k * hw + i];
            num += (x - y) * (x - y);
            den += y * y;
        }
        double r = den > 0 ? sqrt(num / den) : sqrt(num);
        if (r > worst) worst = r;
    }
    return worst;
}

static double run_worst(mk_test_ctx *tc, mk_program *ref, mk_program *q)
{
    mk_err e = {MK_OK, ""};
    mk_tensor_list in = {0, NULL}, a = {0, NULL}, b = {0, NULL};
    mk_run_options ro = {0, 1, 9};
    double w = INFINITY;
    if (mk_random_inputs(ref, 9, &in, &e) == MK_OK && mk_run(ref, &ro, &in, &a, &e) == MK_OK &&
        mk_run(q, &ro, &in, &b, &e) == MK_OK && a.n == b.n && a.n > 0) {
        w = 0;
        for (int i = 0; i < a.n; i++) w = fmax(w, worst_channel(&b.items[i], &a.items[i]));
    } else {
        CHECK_MSG(0, "run: %s", e.msg);
    }
    mk_tensor_list_free(&in);
    mk_tensor_list_free(&a);
    mk_tensor_list_free(&b);
    return w;
}

static const mk_op *first_of(const mk_block *b, mk_op_kind k)
{
    MK_FOR_OPS(b, op)
    {
        if (op->kind == k) return op;
    }
    return NULL;
}

static int count_of(const mk_block *b, mk_op_kind k)
{
    int n = 0;
    MK_FOR_OPS(b, op) n += op->kind == k;
    return n;
}

TEST(int8_axis_per_op_and_form_per_target)
{
    for (int spec = 7; spec <= 9; spec++) {
        qb B;
        REQUIRE(build_net(&B, spec, 0));
        mk_program *q = NULL;
        mk_err e = {MK_OK, ""};
        REQUIRE(mk_ir_verify(B.p, &e) == MK_OK);
        REQUIRE(mk_program_clone(B.p, &q, &e) == MK_OK);
        mk_test_owned(q); /* fault runs: the test's own */
        CHECK_MSG(mk_pass_quantize_int8(q, &e) == 2, "spec %d: %s", spec, e.msg);
        CHECK_MSG(mk_ir_verify(q, &e) == MK_OK, "spec %d: %s", spec, e.msg);
        const mk_block *b = mk_ir_main(q)->block;
        const mk_op *ct = first_of(b, MK_OP_CONV_TRANSPOSE), *cv = first_of(b, MK_OP_CONV);
        REQUIRE(ct && cv);
        const mk_op *qt = mk_ir_arg(ct, "weight")->producer,
                    *qc = mk_ir_arg(cv, "weight")->producer;
        REQUIRE(qt && qc);
        if (spec < 9) {
            CHECK(qt->kind == MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE);
            int32_t ax = -1;
            CHECK(mk_ir_arg_i32(qt, "axis", &ax) && ax == 1);
            CHECK(mk_ir_attr(qt, "scale")->type.dims[0] == 32);
            CHECK(mk_ir_arg_i32(qc, "axis", &ax) && ax == 0);
            CHECK(mk_ir_attr(qc, "scale")->type.dims[0] == 64);
        } else {
            CHECK(qt->kind == MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE);
            const mk_type *st = &mk_ir_arg(qt, "scale")->type;
            CHECK(st->rank == 4 && st->dims[0] == 1 && st->dims[1] == 32 && st->dims[2] == 1);
            st = &mk_ir_arg(qc, "scale")->type;
            CHECK(st->rank == 4 && st->dims[0] == 64 && st->dims[1] == 1);
        }
        /* channels span 2^-9..1: per-channel error stays at int8 resolution only on the
         * right axis */
        double w = run_worst(tc, B.p, q);
        CHECK_MSG(w < 0.03, "spec %d: worst channel rel err %g", spec, w);
        mk_program_free(q);
        mk_ir_program_free(B.p);
    }
}

TEST(int8_refuses_ios15_clearly)
{
    qb B;
    REQUIRE(build_net(&B, 6, 0));
    mk_err e = {MK_OK, ""};
    CHECK(mk_pass_quantize_int8(B.p, &e) < 0);
    CHECK(e.code == MK_EUNSUPPORTED && strstr(e.msg, "iOS16") && strstr(e.msg, "iOS15") &&
          !strchr(e.msg, '\n'));
    mk_ir_program_free(B.p);
}

TEST(int8_shared_weight_quantized_once)
{
    qb B;
    REQUIRE(build_net(&B, 8, 1));
    mk_err e = {MK_OK, ""};
    CHECK_MSG(mk_pass_quantize_int8(B.p, &e) == 3, "%s", e.msg);
    CHECK_MSG(mk_ir_verify(B.p, &e) == MK_OK, "%s", e.msg);
    CHECK_EQ_INT(count_of(mk_ir_main(B.p)->block, MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE), 2);
    mk_ir_program_free(B.p);
}

/* fp16 then int8, and int8 then fp16: both give fp16 scales feeding fp16 convs, no casts on
 * the weights, and the same outputs to int8 + fp16 precision. */
TEST(int8_composes_with_fp16_either_order)
{
    for (int spec = 7; spec <= 9; spec++) {
        qb B;
        REQUIRE(build_net(&B, spec, 0));
        mk_program *q[2] = {NULL, NULL};
        mk_err e = {MK_OK, ""};
        for (int order = 0; order < 2; order++) {
            REQUIRE(mk_program_clone(B.p, &q[order], &e) == MK_OK);
            mk_test_owned(q[order]); /* fault runs: the test's own */
            int r1 = order ? mk_pass_quantize_int8(q[order], &e) : mk_pass_fp16(q[order], &e);
            int r2 = order ? mk_pass_fp16(q[order], &e) : mk_pass_quantize_int8(q[order], &e);
            CHECK_MSG(r1 > 0 && r2 > 0, "spec %d order %d: %s", spec, order, e.msg);
            CHECK_MSG(mk_ir_verify(q[order], &e) == MK_OK, "spec %d order %d: %s", spec, order,
                      e.msg);
            const mk_block *b = mk_ir_main(q[order])->block;
            const mk_op *ct = first_of(b, MK_OP_CONV_TRANSPOSE);
            REQUIRE(ct);
            const mk_value *w = mk_ir_arg(ct, "weight");
            CHECK_MSG(w->type.dtype == MK_DT_FP16 && w->producer &&
                          w->producer->kind != MK_OP_CAST && w->producer->kind != MK_OP_CONST,
                      "spec %d order %d: weight is not an fp16 constexpr", spec, order);
            CHECK_EQ_INT(count_of(b, MK_OP_CAST), 3); /* x in, two outputs */
            CHECK_EQ_INT(count_of(b, spec < 9 ? MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE
                                              : MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE),
                         2);
            double wr = run_worst(tc, B.p, q[order]);
            CHECK_MSG(wr < 0.04, "spec %d order %d: worst channel rel err %g", spec, order, wr);
        }
        mk_program_free(q[0]);
        mk_program_free(q[1]);
        mk_ir_program_free(B.p);
    }
}

/* Saved with int8 (and fp16) weights, the package reloads, verifies and runs the same. */
TEST(int8_package_round_trip)
{
    for (int spec = 7; spec <= 9; spec += 2) {
        for (int half = 0; half < 2; half++) {
            qb B;
            REQUIRE(build_net(&B, spec, 0));
            mk_err e = {MK_OK, ""};
            if (half) CHECK_MSG(mk_pass_fp16(B.p, &e) > 0, "%s", e.msg);
            CHECK_MSG(mk_pass_quantize_int8(B.p, &e) == 2, "%s", e.msg);
            char path[1024];
            snprintf(path, sizeof path, "%s/int8_%d_%d.mlpackage", mk_test_tmpdir(), spec, half);
            mk_program *r = NULL;
            CHECK_MSG(mk_program_save(B.p, path, MK_TARGET_DEFAULT, &e) == MK_OK, "save: %s",
                      e.msg);
            CHECK_MSG(mk_program_load(path, NULL, &r, &e) == MK_OK, "load: %s", e.msg);
            if (r) {
                CHECK_MSG(mk_ir_verify(r, &e) == MK_OK, "spec %d: %s", spec, e.msg);
                CHECK_EQ_INT(count_of(mk_ir_main(r)->block,
                                      spec < 9 ? MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE
                                               : MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE),
                             2);
                double w = run_worst(tc, B.p, r);
                CHECK_MSG(w < 1e-6, "spec %d half %d: reloaded program differs (%g)", spec, half,
                          w);
            }
            mk_program_free(r);
            mk_ir_program_free(B.p);
        }
    }
}
