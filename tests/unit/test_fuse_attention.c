/* fuse_attention: attention chains as PyTorch exports them (scale on the scores, on Q or by
 * real_div; causal select mask, additive padding mask, no mask; K as transpose or
 * transpose_y; GQA K/V expanded by tile; rank 3 and 4) become one scaled_dot_product_attention
 * giving the original's outputs (fp32 and fp16-emulate) on seeded random inputs; near misses
 * and programs below iOS18 are left alone. */
#include <math.h>

#include "passes/passes_int.h"
#include "test.h"
#include "test_fix_util.h"
#include "test_lint_build.h"

#define F32 MK_DT_FP32
#define IOS17 8
#define IOS18 9

static int count_kind(const mk_program *p, mk_op_kind k)
{
    int n = 0;
    MK_FOR_OPS(mk_ir_main(p)->block, op) n += op->kind == k;
    return n;
}

static void same(mk_test_ctx *tc, const mk_program *p, const mk_program *q, int f16, double tol)
{
    for (unsigned long long seed = 1; seed <= 3; seed++) {
        mk_tensor_list in = {0, NULL}, a = {0, NULL}, b = {0, NULL};
        mk_run_options ro = {f16, 1, seed};
        mk_err e = {MK_OK, ""};
        mk_status st = mk_random_inputs(p, seed, &in, &e);
        if (st == MK_OK) st = mk_run(p, &ro, &in, &a, &e);
        if (st == MK_OK) st = mk_run(q, &ro, &in, &b, &e);
        CHECK_MSG(st == MK_OK, "run failed: %s", e.msg);
        if (st == MK_OK) {
            double r = tolerance_ratio(&b, &a, tol, tol);
            CHECK_MSG(r <= 1, "fp16_emulate %d seed %llu: outputs differ (ratio %g)", f16, seed, r);
        }
        mk_tensor_list_free(&in);
        mk_tensor_list_free(&a);
        mk_tensor_list_free(&b);
    }
}

/* Runs the pass on a clone; checks the count of fusions, that no softmax is left when fused,
 * and equal outputs. */
static void check(mk_test_ctx *tc, tb *t, int want)
{
    CHECK_MSG(!t->bad, "build: %s", t->e.msg);
    REQUIRE(!t->bad);
    mk_program *q = NULL;
    mk_err e = {MK_OK, ""};
    REQUIRE(mk_program_clone(t->p, &q, &e) == MK_OK);
    int n = mk_pass_fuse_attention(q, &e);
    CHECK_MSG(n == want, "fused %d, want %d (%s)", n, want, e.msg);
    CHECK_MSG(mk_ir_verify(q, &e) == MK_OK, "invalid after the pass: %s", e.msg);
    CHECK_EQ_INT(count_kind(q, MK_OP_SCALED_DOT_PRODUCT_ATTENTION), want);
    if (want) {
        CHECK_EQ_INT(count_kind(q, MK_OP_SOFTMAX), 0);
        CHECK_EQ_INT(count_kind(q, MK_OP_MATMUL), count_kind(t->p, MK_OP_MATMUL) - 2 * want);
    } else {
        CHECK_EQ_INT(count_kind(q, MK_OP_SOFTMAX), count_kind(t->p, MK_OP_SOFTMAX));
    }
    same(tc, t->p, q, 0, 2e-6);
    same(tc, t->p, q, 1, 2e-2);
    mk_program_free(q);
    mk_ir_program_free(t->p);
}

/* [1, 1, l, s] bool: key j visible from query i when j <= i + s - l (causal with a cache) */
static mk_value *causal(tb *t, int l, int s, int visible_true)
{
    if (t->bad) return NULL;
    int64_t d[4] = {1, 1, l, s};
    mk_type ty = mk_type_make(MK_DT_BOOL, 4, d);
    uint8_t *m = mk_arena_alloc(t->p->arena, (size_t)(l * s));
    if (!m) return tb_chk(t, NULL);
    for (int i = 0; i < l; i++)
        for (int j = 0; j < s; j++) m[i * s + j] = (uint8_t)((j <= i + s - l) == visible_true);
    return tb_chk(t, mk_ir_const(t->p, t->b, "causal", &ty, m, (size_t)(l * s), 1));
}

static mk_value *softmax_last(tb *t, mk_value *x, int axis)
{
    return tb_op(t, MK_OP_SOFTMAX, "sm", "x", x, "axis", tb_int(t, axis), NULL);
}

static mk_value *mm(tb *t, mk_value *x, mk_value *y, int ty)
{
    return tb_op(t, MK_OP_MATMUL, "mm", "x", x, "y", y, "transpose_x", tb_bool(t, 0), "transpose_y",
                 tb_bool(t, ty), NULL);
}

/* GPT-2: q [1,4,8,16], k^T by a transpose of k's [1,8,4,16] view, * 0.3 (not 1/sqrt(16)),
 * select(mask == 0, -inf, s), softmax, @ v; optionally the probabilities read twice. */
static void gpt2(tb *t, int spec, double masked, int sm_axis, int probs_out)
{
    tb_init(t, spec);
    mk_value *q = tb_in(t, "q", F32, DIMS(1, 4, 8, 16));
    mk_value *k = tb_in(t, "k", F32, DIMS(1, 8, 4, 16));
    mk_value *v = tb_in(t, "v", F32, DIMS(1, 4, 8, 16));
    mk_value *kt = tb_op(t, MK_OP_TRANSPOSE, "kt", "x", k, "perm", tb_ints(t, 4, 0, 2, 3, 1), NULL);
    mk_value *s = mm(t, q, kt, 0);
    s = tb_op(t, MK_OP_MUL, "scale", "x", s, "y", tb_scalar(t, F32, 0.3), NULL);
    mk_value *c = causal(t, 8, 8, 0);
    s = tb_op(t, MK_OP_SELECT, "masked", "cond", c, "a", tb_scalar(t, F32, masked), "b", s, NULL);
    mk_value *pr = softmax_last(t, s, sm_axis);
    tb_out(t, mm(t, pr, v, 0));
    if (probs_out) tb_out(t, pr);
}

TEST(fuse_attention_gpt2_causal_select)
{
    tb t;
    gpt2(&t, IOS18, -INFINITY, -1, 0);
    check(tc, &t, 1);
    gpt2(&t, IOS18, -3.4028234663852886e38, 3, 0); /* finfo.min, axis as rank - 1 */
    check(tc, &t, 1);
}

TEST(fuse_attention_leaves_near_misses)
{
    tb t;
    gpt2(&t, IOS17, -INFINITY, -1, 0); /* no SDPA below iOS18 */
    check(tc, &t, 0);
    gpt2(&t, IOS18, -1.0, -1, 0); /* select constant that is a value, not a mask */
    check(tc, &t, 0);
    gpt2(&t, IOS18, -INFINITY, 2, 0); /* softmax over the query axis */
    check(tc, &t, 0);
    gpt2(&t, IOS18, -INFINITY, -1, 1); /* probabilities are an output too */
    check(tc, &t, 0);
}

/* BERT-style padding: s = matmul(q, k, transpose_y) / 4, + float mask [1,1,1,8] (an input),
 * softmax, @ v; with a causal kept-where-true select after it when causal. */
TEST(fuse_attention_padding_additive)
{
    tb t;
    tb_init(&t, IOS18);
    mk_value *q = tb_in(&t, "q", F32, DIMS(2, 4, 6, 8));
    mk_value *k = tb_in(&t, "k", F32, DIMS(2, 4, 6, 8));
    mk_value *v = tb_in(&t, "v", F32, DIMS(2, 4, 6, 8));
    mk_value *m = tb_in(&t, "pad", F32, DIMS(2, 1, 1, 6));
    mk_value *s = mm(&t, q, k, 1);
    s = tb_op(&t, MK_OP_REAL_DIV, "div", "x", s, "y", tb_scalar(&t, F32, 4.0), NULL);
    s = tb_op(&t, MK_OP_ADD, "add", "x", m, "y", s, NULL);
    tb_out(&t, mm(&t, softmax_last(&t, s, -1), v, 0));
    check(tc, &t, 1);
}

/* nn.MultiheadAttention (rank 3, [B*H, L, E]): q / c before the matmul, k^T by transpose
 * (perm [0, 2, 1]), scores * 1 + mask * 1, a kept-where-true select (cond true = visible). */
TEST(fuse_attention_rank3_prescaled_q)
{
    tb t;
    tb_init(&t, IOS18);
    mk_value *q = tb_in(&t, "q", F32, DIMS(4, 5, 16));
    mk_value *k = tb_in(&t, "k", F32, DIMS(4, 7, 16));
    mk_value *v = tb_in(&t, "v", F32, DIMS(4, 7, 12));
    q = tb_op(&t, MK_OP_REAL_DIV, "qs", "x", q, "y", tb_scalar(&t, F32, 2.0), NULL);
    mk_value *kt = tb_op(&t, MK_OP_TRANSPOSE, "kt", "x", k, "perm", tb_ints(&t, 3, 0, 2, 1), NULL);
    mk_value *s = mm(&t, q, kt, 0);
    s = tb_op(&t, MK_OP_MUL, "alpha", "x", s, "y", tb_scalar(&t, F32, 1.0), NULL);
    mk_value *c = causal(&t, 5, 7, 1);
    c = tb_op(&t, MK_OP_RESHAPE, "c3", "x", c, "shape", tb_ints(&t, 3, 1, 5, 7), NULL);
    s = tb_op(&t, MK_OP_SELECT, "keep", "cond", c, "a", s, "b",
              tb_const(&t, "ninf", F32, DIMS(1, 1, 1), -1e9, 0), NULL);
    tb_out(&t, mm(&t, softmax_last(&t, s, 2), v, 0));
    check(tc, &t, 1);
}

/* LLaMA GQA: 8 query heads, K/V [1,2,S,16] repeated by tile to 8 heads, a decode step with a
 * cache (L 3 < S 9, causal offset), no scale on the scores but k * 0.25 before the transpose,
 * and V read through transpose_y. */
TEST(fuse_attention_gqa_expanded)
{
    tb t;
    tb_init(&t, IOS18);
    mk_value *q = tb_in(&t, "q", F32, DIMS(1, 8, 3, 16));
    mk_value *k = tb_in(&t, "k", F32, DIMS(1, 2, 9, 16));
    mk_value *v = tb_in(&t, "vt", F32, DIMS(1, 2, 16, 9));
    k = tb_op(&t, MK_OP_TILE, "krep", "x", k, "reps", tb_ints(&t, 4, 1, 4, 1, 1), NULL);
    v = tb_op(&t, MK_OP_TILE, "vrep", "x", v, "reps", tb_ints(&t, 4, 1, 4, 1, 1), NULL);
    k = tb_op(&t, MK_OP_MUL, "ks", "x", k, "y", tb_scalar(&t, F32, 0.25), NULL);
    mk_value *kt =
        tb_op(&t, MK_OP_TRANSPOSE, "kt", "x", k, "perm", tb_ints(&t, 4, 0, 1, 3, 2), NULL);
    mk_value *s = mm(&t, q, kt, 0);
    s = tb_op(&t, MK_OP_SELECT, "masked", "cond", causal(&t, 3, 9, 0), "a",
              tb_scalar(&t, F32, -INFINITY), "b", s, NULL);
    tb_out(&t, mm(&t, softmax_last(&t, s, -1), v, 1));
    check(tc, &t, 1);
}

/* Two layers in a row, no mask: both fuse. */
TEST(fuse_attention_two_blocks_no_mask)
{
    tb t;
    tb_init(&t, IOS18);
    mk_value *x = tb_in(&t, "x", F32, DIMS(1, 2, 6, 8));
    for (int i = 0; i < 2; i++) {
        mk_value *s = mm(&t, x, x, 1);
        s = tb_op(&t, MK_OP_MUL, "scale", "x", tb_scalar(&t, F32, 0.35355339), "y", s, NULL);
        x = mm(&t, softmax_last(&t, s, -1), x, 0);
    }
    tb_out(&t, x);
    check(tc, &t, 2);
}

/* torchaudio wav2vec2: q * c before the matmul, softmax(s - reduce_max(s, -1, keep)). */
TEST(fuse_attention_max_shifted_scores)
{
    tb t;
    tb_init(&t, IOS18);
    mk_value *q = tb_in(&t, "q", F32, DIMS(1, 4, 7, 16));
    mk_value *k = tb_in(&t, "k", F32, DIMS(1, 4, 7, 16));
    mk_value *v = tb_in(&t, "v", F32, DIMS(1, 4, 7, 16));
    q = tb_op(&t, MK_OP_MUL, "qs", "x", q, "y", tb_scalar(&t, F32, 0.25), NULL);
    mk_value *s = mm(&t, q, k, 1);
    mk_value *mx = tb_op(&t, MK_OP_REDUCE_MAX, "mx", "x", s, "axes", tb_ints(&t, 1, -1),
                         "keep_dims", tb_bool(&t, 1), NULL);
    s = tb_op(&t, MK_OP_SUB, "shift", "x", s, "y", mx, NULL);
    tb_out(&t, mm(&t, softmax_last(&t, s, -1), v, 0));
    check(tc, &t, 1);
    /* the max over the query axis is not a shift softmax ignores */
    tb_init(&t, IOS18);
    q = tb_in(&t, "q", F32, DIMS(1, 4, 7, 16));
    k = tb_in(&t, "k", F32, DIMS(1, 4, 7, 16));
    v = tb_in(&t, "v", F32, DIMS(1, 4, 7, 16));
    s = mm(&t, q, k, 1);
    mx = tb_op(&t, MK_OP_REDUCE_MAX, "mx", "x", s, "axes", tb_ints(&t, 1, -2), "keep_dims",
               tb_bool(&t, 1), NULL);
    s = tb_op(&t, MK_OP_SUB, "shift", "x", s, "y", mx, NULL);
    tb_out(&t, mm(&t, softmax_last(&t, s, -1), v, 0));
    check(tc, &t, 0);
}

/* mk_fix fuses at iOS18 (verified by its own interpreter check), not with --only. */
TEST(fuse_attention_in_fix)
{
    tb t;
    gpt2(&t, IOS18, -INFINITY, -1, 0);
    CHECK_MSG(!t.bad, "build: %s", t.e.msg);
    REQUIRE(!t.bad);
    mk_fix_options o;
    memset(&o, 0, sizeof o);
    mk_fix_report rep;
    mk_program *q = NULL;
    mk_err e = {MK_OK, ""};
    CHECK_MSG(mk_fix(t.p, &o, &q, &rep, &e) == MK_OK, "%s", e.msg);
    int row = -1;
    for (int i = 0; i < rep.n_rows; i++)
        if (strcmp(rep.rows[i].pass, "fuse_attention") == 0) row = i;
    CHECK_MSG(row >= 0 && rep.rows[row].ops_changed == 1 && rep.rows[row].max_err >= 0,
              "no verified fuse_attention row");
    if (q) CHECK_EQ_INT(count_kind(q, MK_OP_SCALED_DOT_PRODUCT_ATTENTION), 1);
    mk_program_free(q);
    q = NULL;
    o.only = "H14";
    CHECK_MSG(mk_fix(t.p, &o, &q, &rep, &e) == MK_OK, "%s", e.msg);
    if (q) CHECK_EQ_INT(count_kind(q, MK_OP_SCALED_DOT_PRODUCT_ATTENTION), 0);
    mk_program_free(q);
    mk_ir_program_free(t.p);
}
