/* fp16 emulation's bulk rounding: the one-pass fused epilogue (every step and inner value
 * rounded in registers) and the one-pass output rounding give the bits of the ops run one by
 * one, on convs with odd tails, depthwise and large planes, every fused step kind, -j 1 and
 * -j 2, and the AVX-512, AVX2 and portable paths; mk_vec_round16_inf against the scalar
 * rounding. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "interp/interp_int.h"
#include "interp/k_vec.h"
#include "test.h"

#include "opsem_build.h"

static mk_value *f16_crand(bld *B, int rank, const int64_t *dims, unsigned seed, float scale)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
    float *v = malloc(n * 4);
    for (size_t i = 0; i < n && v; i++) v[i] = scale * b_rand(&seed);
    mk_value *c = v ? cf(B, rank, dims, v) : NULL;
    free(v);
    return c;
}

static mk_value *f16_out0(mk_op *o)
{
    return o ? o->outputs[0] : NULL;
}
#define op1(B, k, ...) f16_out0(op((B), (k), 1, __VA_ARGS__))

typedef struct f16_case {
    int64_t n, cin, h, w, cout;
    int k, groups, dil;
} f16_case;

/* conv (pad same, bias) of x per the case. */
static mk_value *f16_conv(bld *B, mk_value *x, const f16_case *c, unsigned seed)
{
    int64_t wd[4] = {c->cout, c->cin / c->groups, c->k, c->k}, bd[1] = {c->cout};
    int32_t one[2] = {1, 1}, dl[2] = {c->dil, c->dil};
    float sc = 1.5f / sqrtf((float)(wd[1] * c->k * c->k));
    return op1(B, MK_OP_CONV, "x", x, "weight", f16_crand(B, 4, wd, seed, sc), "bias",
               f16_crand(B, 1, bd, seed + 1, 0.2f), "strides", ci(B, 2, one), "dilations",
               ci(B, 2, dl), "pad_type", cs(B, "same"), "groups", cis(B, c->groups), NULL);
}

/* Chain `ch` of fusable ops after y (the conv's output, cout channels); *n_ops: how many. */
static mk_value *f16_chain(bld *B, mk_value *y, int64_t cout, int ch, int *n_ops)
{
    int64_t cd[1] = {cout};
    switch (ch) {
    case 0: *n_ops = 1; return op1(B, MK_OP_RELU, "x", y, NULL);
    case 1: *n_ops = 1; return op1(B, MK_OP_RELU6, "x", y, NULL);
    case 2:
        *n_ops = 1;
        return op1(B, MK_OP_CLIP, "x", y, "alpha", cfs(B, -0.25f), "beta", cfs(B, 0.3f), NULL);
    case 3: { /* batch_norm, then hardswish as sigmoid_hard * x */
        *n_ops = 3;
        mk_value *bn = op1(B, MK_OP_BATCH_NORM, "x", y, "mean", f16_crand(B, 1, cd, 4, 0.5f),
                           "variance", cfs(B, 0.7f), "gamma", f16_crand(B, 1, cd, 6, 2.0f), "beta",
                           f16_crand(B, 1, cd, 7, 1.0f), "epsilon", cfs(B, 1e-3f), NULL);
        mk_value *h =
            op1(B, MK_OP_SIGMOID_HARD, "x", bn, "alpha", cfs(B, 0.2f), "beta", cfs(B, 0.5f), NULL);
        return op1(B, MK_OP_MUL, "x", bn, "y", h, NULL);
    }
    case 4: { /* hardswish as y * clip(y + 3, 0, 6) / 6 */
        *n_ops = 4;
        mk_value *a = op1(B, MK_OP_ADD, "x", y, "y", cfs(B, 3.0f), NULL);
        mk_value *c = op1(B, MK_OP_CLIP, "x", a, "alpha", cfs(B, 0), "beta", cfs(B, 6), NULL);
        mk_value *m = op1(B, MK_OP_MUL, "x", y, "y", c, NULL);
        return op1(B, MK_OP_REAL_DIV, "x", m, "y", cfs(B, 6), NULL);
    }
    case 5: { /* leaky_relu, then scalar add, mul, sub (both orders), div, threshold */
        *n_ops = 7;
        y = op1(B, MK_OP_LEAKY_RELU, "x", y, "alpha", cfs(B, 0.1f), NULL);
        y = op1(B, MK_OP_ADD, "x", y, "y", cfs(B, 0.5f), NULL);
        y = op1(B, MK_OP_MUL, "x", y, "y", cfs(B, 1.7f), NULL);
        y = op1(B, MK_OP_SUB, "x", cfs(B, 2.0f), "y", y, NULL);
        y = op1(B, MK_OP_SUB, "x", y, "y", cfs(B, 0.3f), NULL);
        y = op1(B, MK_OP_REAL_DIV, "x", y, "y", cfs(B, 3.0f), NULL);
        return op1(B, MK_OP_THRESHOLD, "x", y, "alpha", cfs(B, -0.2f), NULL);
    }
    default: /* beyond half precision on the way: the overflow is reported */
        *n_ops = 2;
        y = op1(B, MK_OP_MUL, "x", y, "y", cfs(B, 30000.0f), NULL);
        return op1(B, MK_OP_RELU, "x", y, NULL);
    }
}

static int f16_fused_rows(const mk_session *s)
{
    int n, f = 0;
    double total;
    const mk_op_profile *r = mk_session_profile(s, &n, &total);
    for (int i = 0; i < n; i++) f += r[i].fused;
    return f;
}

/* B's outputs from a session with fusion (fp16 emulation, `threads`), the warning in *warn. */
static mk_status f16_run_fused(bld *B, int threads, mk_tensor_list *out, int *fused, int *warn)
{
    mk_run_options ro = {1, threads, 0};
    mk_session *s;
    mk_status st = mk_session_new(B->p, &ro, &s, &B->e);
    if (st) return st;
    mk_session_set_profile(s, 1);
    mk_run_report rep = {{0}, 0};
    st = mk_session_run(s, &B->ins, out, &rep, &B->e);
    *fused = f16_fused_rows(s);
    *warn = rep.warning[0] != 0;
    mk_session_free(s);
    return st;
}

TEST(interp_fp16_bulk_epilogue_bit_identical)
{
    static const f16_case cases[] = {
        {1, 5, 13, 17, 7, 3, 1, 1},   /* odd channels (spare lanes) and position tails */
        {2, 12, 9, 23, 12, 3, 12, 1}, /* depthwise, two images */
        {1, 6, 11, 29, 10, 1, 1, 1},  /* 1x1 */
        {1, 8, 15, 21, 16, 3, 2, 2},  /* grouped, dilated */
        {1, 4, 70, 70, 4, 3, 4, 1},   /* depthwise planes longer than one 4096-position span */
    };
    for (size_t ci_ = 0; ci_ < sizeof cases / sizeof *cases; ci_++)
        for (int ch = 0; ch < 7; ch++) {
            const f16_case *c = &cases[ci_];
            bld B;
            b_init(&B, 18);
            int64_t xd[4] = {c->n, c->cin, c->h, c->w};
            size_t nx = (size_t)(c->n * c->cin * c->h * c->w);
            float *xv = malloc(nx * 4);
            REQUIRE(xv);
            unsigned seed = 100 + (unsigned)(ci_ * 7 + (size_t)ch);
            for (size_t i = 0; i < nx; i++) xv[i] = 2.0f * b_rand(&seed);
            mk_value *x = b_input(&B, "x", 4, xd, xv);
            free(xv);
            int n_ops = 0;
            mk_value *y =
                f16_chain(&B, f16_conv(&B, x, c, 31 + (unsigned)ci_), c->cout, ch, &n_ops);
            REQUIRE(y);
            mk_ir_block_set_outputs(B.p, B.b, 1, &y);
            mk_tensor_list ref, got;
            mk_run_options ro = {1, 1, 0};
            mk_run_report rr = {{0}, 0};
            REQUIRE(b_run_unfused(&B, 1, &ref) == MK_OK);
            REQUIRE(mk_run_ex(B.p, &ro, &B.ins, &got, &rr, &B.e) == MK_OK); /* any path */
            mk_tensor_list_free(&got);
            for (int v = 0; v < 4; v++) { /* -j 1, -j 2, -j 1 portable, -j 1 AVX2 + F16C */
                int fused = 0, warn = 0;
                mk_vec_cap(v == 2 ? 0 : v == 3 ? 1 : 2);
                mk_status st = f16_run_fused(&B, v == 1 ? 2 : 1, &got, &fused, &warn);
                mk_vec_cap(2);
                REQUIRE(st == MK_OK);
                CHECK_MSG(fused == n_ops, "case %zu chain %d: %d of %d ops fused", ci_, ch, fused,
                          n_ops);
                CHECK_MSG(b_same_bits(&ref, &got), "case %zu chain %d variant %d: differs", ci_, ch,
                          v);
                CHECK_MSG(warn == (ch == 6), "case %zu chain %d variant %d: warning %d", ci_, ch, v,
                          warn);
                mk_tensor_list_free(&got);
            }
            CHECK_MSG((rr.warning[0] != 0) == (ch == 6), "case %zu chain %d: run warning", ci_, ch);
            mk_tensor_list_free(&ref);
            b_free(&B);
        }
}

/* The one-pass output rounding against the scalar fp32 -> fp16 -> fp32 rounding, on ties,
 * subnormals, the edge of the half range, infinities, NaN and signed zeros, at every tail
 * length; the first finite value that became an infinity is the one reported. */
TEST(interp_fp16_round16_inf_matches_scalar)
{
    static const float special[] = {0.0f,
                                    -0.0f,
                                    1.0f + 1.0f / 2048, /* tie, to even */
                                    1.0f + 3.0f / 2048,
                                    65504.0f,
                                    65519.0f,
                                    -65519.99f,
                                    65520.0f,
                                    -70000.0f,
                                    FLT_MAX,
                                    INFINITY,
                                    -INFINITY,
                                    NAN,
                                    5.96e-8f,
                                    2.98e-8f,
                                    -3.0e-8f,
                                    6.1e-5f,
                                    1e-10f};
    enum { NS = sizeof special / sizeof *special, N = 300 };
    float x[N], want[N], got[N];
    unsigned seed = 9;
    for (int lv = 0; lv < 3; lv++) /* portable, AVX2 + F16C, AVX-512 */
        for (int n = 0; n <= N; n += n < 40 ? 1 : 37) {
            for (int i = 0; i < N; i++) {
                float r = b_rand(&seed);
                x[i] = i % 3 == 0 ? special[(i / 3) % NS] : r * (i % 5 == 0 ? 70000.0f : 3.0f);
            }
            int64_t first = n;
            for (int i = 0; i < n && first == n; i++)
                if (fabsf(x[i]) <= FLT_MAX && isinf(mk_round_f16(x[i]))) first = i;
            for (int i = 0; i < N; i++) want[i] = i < n ? mk_round_f16(x[i]) : x[i];
            memcpy(got, x, sizeof x);
            float was = 0;
            mk_vec_cap(lv);
            int64_t at = mk_vec_round16_inf(got, n, &was);
            mk_vec_cap(2);
            CHECK_MSG(at == first, "level %d n %d: first overflow at %lld, want %lld", lv, n,
                      (long long)at, (long long)first);
            if (at == first && first < n)
                CHECK_MSG(was == x[first], "level %d n %d: reported %g", lv, n, (double)was);
            int bad = -1;
            for (int i = 0; i < N && bad < 0; i++)
                if (isnan(want[i]) ? !isnan(got[i]) : memcmp(&want[i], &got[i], 4)) bad = i;
            CHECK_MSG(bad < 0, "level %d n %d: element %d is %g, want %g", lv, n, bad,
                      bad < 0 ? 0.0 : (double)got[bad], bad < 0 ? 0.0 : (double)want[bad]);
        }
}

/* Lanes past the end of a row are not values: a chain that overflows half precision only at 0
 * (1 / (v + 1e-5)) on convs whose outputs stay near 5 reports no overflow on any path. */
TEST(interp_fp16_bulk_epilogue_tail_lanes_not_overflows)
{
    static const f16_case cases[] = {
        {1, 3, 5, 7, 5, 3, 1, 1},  /* 35 positions */
        {1, 4, 9, 11, 4, 3, 4, 1}, /* depthwise, 99 positions */
        {1, 6, 3, 13, 9, 1, 1, 1}, /* 1x1, 39 positions */
    };
    for (size_t ci_ = 0; ci_ < sizeof cases / sizeof *cases; ci_++) {
        const f16_case *c = &cases[ci_];
        bld B;
        b_init(&B, 18);
        int64_t xd[4] = {c->n, c->cin, c->h, c->w}, bd[1] = {c->cout};
        int64_t wd[4] = {c->cout, c->cin / c->groups, c->k, c->k};
        int32_t one[2] = {1, 1};
        float xv[6 * 9 * 13];
        unsigned seed = 5 + (unsigned)ci_;
        for (size_t i = 0; i < sizeof xv / sizeof *xv; i++) xv[i] = b_rand(&seed);
        mk_value *x = b_input(&B, "x", 4, xd, xv);
        float bias[16];
        for (int i = 0; i < 16; i++) bias[i] = 5.0f + 0.01f * (float)i;
        mk_value *y =
            op1(&B, MK_OP_CONV, "x", x, "weight", f16_crand(&B, 4, wd, 3, 0.02f), "bias",
                cf(&B, 1, bd, bias), "strides", ci(&B, 2, one), "dilations", ci(&B, 2, one),
                "pad_type", cs(&B, "same"), "groups", cis(&B, c->groups), NULL);
        y = op1(&B, MK_OP_ADD, "x", y, "y", cfs(&B, 1e-5f), NULL);
        y = op1(&B, MK_OP_REAL_DIV, "x", cfs(&B, 1.0f), "y", y, NULL);
        REQUIRE(y);
        mk_ir_block_set_outputs(B.p, B.b, 1, &y);
        mk_tensor_list ref, got;
        REQUIRE(b_run_unfused(&B, 1, &ref) == MK_OK);
        for (int v = 0; v < 3; v++) { /* AVX-512, AVX2 + F16C, portable */
            int fused = 0, warn = 0;
            mk_vec_cap(2 - v);
            mk_status st = f16_run_fused(&B, 1, &got, &fused, &warn);
            mk_vec_cap(2);
            REQUIRE(st == MK_OK);
            CHECK_MSG(fused == 2, "case %zu: %d of 2 ops fused", ci_, fused);
            CHECK_MSG(b_same_bits(&ref, &got), "case %zu level %d: differs", ci_, 2 - v);
            CHECK_MSG(!warn, "case %zu level %d: overflow reported", ci_, 2 - v);
            mk_tensor_list_free(&got);
        }
        mk_tensor_list_free(&ref);
        b_free(&B);
    }
}
