/* Tests for the transformer fast paths of the interpreter: k_vec.c's AVX-512 and AVX2 rows
 * against its portable loops (same bits) and double references (lengths with every tail, -inf,
 * NaN, -0); bias adds fused into matmul/linear (same bits as unfused, fp16 emulation included,
 * column blocks and batches); reshapes that take over their input's buffer (lower peak, same
 * values). */
#include <math.h>
#include <stdlib.h>

#include "base/base.h"
#include "interp/interp_int.h"
#include "interp/k_vec.h"
#include "test.h"

#include "opsem_build.h"

static float *vec_rand(size_t n, unsigned seed, float scale)
{
    float *v = malloc(n * 4 + 4);
    for (size_t i = 0; i < n && v; i++) v[i] = scale * b_rand(&seed);
    return v;
}

static const int64_t vec_lens[] = {1, 3, 8, 15, 16, 17, 31, 33, 79, 100, 1000, 4099};

/* Softmax and gelu rows at each level this CPU has (portable, AVX2, AVX-512) against
 * double-precision references. */
TEST(interp_vec_softmax_gelu_vs_double)
{
    mk_vec_cap(2);
    int top = mk_vec_level();
    for (int lv = 0; lv <= top; lv++)
        for (size_t c = 0; c < sizeof vec_lens / sizeof *vec_lens; c++) {
            mk_vec_cap(lv);
            int64_t n = vec_lens[c];
            float *x = vec_rand((size_t)n, 3 + (unsigned)c, 20.0f), *o = malloc((size_t)n * 4 + 4);
            REQUIRE(x && o);
            if (n > 2) x[n - 2] = -INFINITY;
            mk_vec_softmax(x, o, n);
            double mx = -INFINITY, sum = 0, worst = 0;
            for (int64_t j = 0; j < n; j++) mx = x[j] > mx ? x[j] : mx;
            CHECK(mk_vec_max(x, n) == (float)mx);
            for (int64_t j = 0; j < n; j++) sum += exp((double)x[j] - mx);
            for (int64_t j = 0; j < n; j++) {
                double want = exp((double)x[j] - mx) / sum;
                double err = want > 1e-30 ? fabs(o[j] - want) / want : fabs(o[j] - want) > 1e-30;
                worst = err > worst ? err : worst;
            }
            CHECK_MSG(worst < 2e-6, "softmax len %lld level %d: rel err %g", (long long)n, lv,
                      worst);
            if (n > 2) CHECK(o[n - 2] == 0.0f);
            for (int64_t j = 0; j < n; j++) x[j] = x[j] == -INFINITY ? INFINITY : x[j] / 4;
            mk_vec_gelu(x, o, n);
            worst = 0;
            for (int64_t j = 0; j < n; j++) {
                double v = x[j],
                       want = isinf(v) ? v : 0.5 * v * (1.0 + erf(v * 0.70710678118654752));
                double err =
                    isinf(v) ? (o[j] != want) : fabs(o[j] - want) / (fabs(v) > 1 ? fabs(v) : 1);
                worst = err > worst ? err : worst;
            }
            CHECK_MSG(worst < 1e-6, "gelu len %lld level %d: scaled err %g", (long long)n, lv,
                      worst);
            free(x);
            free(o);
        }
    mk_vec_cap(2);
}

static int same_floats(const float *a, const float *b, int64_t n)
{
    return memcmp(a, b, (size_t)n * 4) == 0;
}

/* The AVX2 and AVX-512 rows give the bits of the portable loops, NaN, infinities and -0
 * included (each SIMD level this CPU has; level 1 forced on an AVX-512 CPU). */
static void vec_same_bits_as_loops(mk_test_ctx *tc, int simd)
{
    for (size_t c = 0; c < sizeof vec_lens / sizeof *vec_lens; c++) {
        int64_t n = vec_lens[c];
        float *x = vec_rand((size_t)n, 11 + (unsigned)c, 30.0f);
        float *a = malloc((size_t)n * 4 + 4), *b = malloc((size_t)n * 4 + 4);
        REQUIRE(x && a && b);
        x[0] = -0.0f;
        if (n > 4) x[1] = NAN, x[2] = -INFINITY, x[3] = -100.0f, x[n - 1] = INFINITY;
        float mx[2];
        double sum[2];
        for (int lv = 0; lv < 2; lv++) {
            mk_vec_cap(lv ? simd : 0);
            float *o = lv ? b : a;
            mx[lv] = mk_vec_max(x, n);
            sum[lv] = mk_vec_exp_sum(o, x, mx[lv], n); /* x - mx <= 0 (or NaN): its domain */
            mk_vec_scale(o, 0.75f, n);
        }
        CHECK_MSG(memcmp(&mx[0], &mx[1], 4) == 0, "max len %lld level %d differs", (long long)n,
                  simd);
        CHECK_MSG(memcmp(&sum[0], &sum[1], 8) == 0 || (sum[0] != sum[0] && sum[1] != sum[1]),
                  "exp sum len %lld level %d: %.17g vs %.17g", (long long)n, simd, sum[0], sum[1]);
        CHECK_MSG(same_floats(a, b, n), "exp row len %lld level %d differs", (long long)n, simd);
        for (int lv = 0; lv < 2; lv++) {
            mk_vec_cap(lv ? simd : 0);
            mk_vec_gelu(x, lv ? b : a, n);
        }
        CHECK_MSG(same_floats(a, b, n), "gelu len %lld level %d differs", (long long)n, simd);
        float fa[2], want = 0;
        for (int64_t j = 0; j < n; j++)
            if (fabsf(x[j]) <= 3.4e38f && fabsf(x[j]) > want) want = fabsf(x[j]);
        for (int lv = 0; lv < 2; lv++) {
            mk_vec_cap(lv ? simd : 0);
            fa[lv] = mk_vec_max_finite_abs(x, n);
        }
        CHECK_MSG(fa[0] == want && fa[1] == want,
                  "max finite |x| len %lld level %d: %g %g, want %g", (long long)n, simd, fa[0],
                  fa[1], want);
        for (int64_t j = 0; j < n; j++) x[j] = x[j] != x[j] || isinf(x[j]) ? 1.0f : x[j];
        for (int lv = 0; lv < 2; lv++) {
            mk_vec_cap(lv ? simd : 0);
            mk_vec_softmax(x, lv ? b : a, n);
        }
        CHECK_MSG(same_floats(a, b, n), "softmax len %lld level %d differs", (long long)n, simd);
        free(x);
        free(a);
        free(b);
    }
    mk_vec_cap(2);
}

TEST(interp_vec_avx2_same_bits_as_loops)
{
    mk_vec_cap(1);
    if (mk_vec_level() < 1) SKIP("this CPU has no AVX2+FMA+F16C: only the portable loops run");
    vec_same_bits_as_loops(tc, 1);
}

TEST(interp_vec_avx512_same_bits_as_loops)
{
    mk_vec_cap(2);
    if (mk_vec_level() < 2) SKIP("this CPU has no AVX-512: only the portable loops run");
    vec_same_bits_as_loops(tc, 2);
}

static mk_value *vop(bld *B, mk_op_kind k, ...)
{
    mk_op *o = mk_ir_op_new(B->p, k, NULL);
    va_list ap;
    va_start(ap, k);
    const char *nm;
    while ((nm = va_arg(ap, const char *))) {
        mk_value *v = va_arg(ap, mk_value *);
        if (v) mk_ir_op_add_input(B->p, o, nm, v);
    }
    va_end(ap);
    mk_type t = mk_type_scalar(MK_DT_FP32);
    mk_ir_op_add_output(B->p, o, NULL, &t);
    mk_ir_block_append(B->b, o);
    return mk_ir_infer_op(o, &B->e) == MK_OK ? o->outputs[0] : NULL;
}

static mk_value *vconst(bld *B, int rank, const int64_t *dims, unsigned seed)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
    float *v = vec_rand(n, seed, 1.0f);
    mk_value *c = cf(B, rank, dims, v);
    free(v);
    return c;
}

/* matmul/linear + add of a constant vector along the last axis: the add runs inside the host
 * (its row is "fused into its producer") with the bits of the two ops run one by one, for
 * column-blocked GEMMs (few rows, many columns), batches longer than a 4096-element piece,
 * either operand order, bias shapes [N] and [1, 1, N], and under fp16 emulation. */
TEST(interp_matmul_bias_add_fused_bit_identical)
{
    static const int64_t shapes[][4] = {/* batch, M, K, N */
                                        {1, 3, 4096, 600},
                                        {4, 79, 64, 64},
                                        {2, 9, 33, 700},
                                        {1, 1, 5, 1}};
    for (size_t c = 0; c < sizeof shapes / sizeof *shapes; c++)
        for (int variant = 0; variant < 3; variant++)
            for (int fp16 = 0; fp16 < 2; fp16++) {
                int64_t nb = shapes[c][0], M = shapes[c][1], K = shapes[c][2], N = shapes[c][3];
                bld B;
                b_init(&B, 18);
                int64_t xd[3] = {nb, M, K}, wd[2] = {K, N}, ld[2] = {N, K}, bd[3] = {1, 1, N};
                float *xv = vec_rand((size_t)(nb * M * K), 5 + (unsigned)c, 2.0f);
                if (fp16) xv[0] = 60000.0f; /* an overflow inside the fused chain is reported */
                mk_value *x = b_input(&B, "x", 3, xd, xv);
                free(xv);
                mk_value *h =
                    variant == 2
                        ? vop(&B, MK_OP_LINEAR, "x", x, "weight", vconst(&B, 2, ld, 7), NULL)
                        : vop(&B, MK_OP_MATMUL, "x", x, "y", vconst(&B, 2, wd, 7), NULL);
                mk_value *bias = variant == 1 ? vconst(&B, 3, bd, 9) : vconst(&B, 1, bd + 2, 9);
                mk_value *y = variant == 1 ? vop(&B, MK_OP_ADD, "x", bias, "y", h, NULL)
                                           : vop(&B, MK_OP_ADD, "x", h, "y", bias, NULL);
                if (fp16) y = vop(&B, MK_OP_MUL, "x", y, "y", cfs(&B, 1e4f), NULL);
                REQUIRE(y);
                mk_ir_block_set_outputs(B.p, B.b, 1, &y);
                mk_tensor_list ref, got;
                REQUIRE(b_run_unfused(&B, fp16, &ref) == MK_OK);
                mk_run_options ro = {fp16, 2, 0};
                mk_session *s;
                REQUIRE(mk_session_new(B.p, &ro, &s, &B.e) == MK_OK);
                mk_session_set_profile(s, 1);
                mk_run_report rep = {{0}, 0};
                REQUIRE(mk_session_run(s, &B.ins, &got, &rep, &B.e) == MK_OK);
                int n, fused = 0;
                double total;
                const mk_op_profile *r = mk_session_profile(s, &n, &total);
                for (int i = 0; i < n; i++) fused += r[i].fused && !strcmp(r[i].kind, "add");
                CHECK_MSG(fused == 1, "shape %zu variant %d: add not fused", c, variant);
                CHECK_MSG(b_same_bits(&ref, &got), "shape %zu variant %d fp16 %d: differs", c,
                          variant, fp16);
                if (fp16) CHECK_MSG(rep.warning[0], "shape %zu: no fp16 overflow reported", c);
                mk_tensor_list_free(&ref);
                mk_tensor_list_free(&got);
                mk_session_free(s);
                b_free(&B);
            }
}

/* A reshape whose input dies there takes over its buffer: the peak holds one copy of the
 * tensor, not two; the values are those of the unfused run; a reshape whose input is read
 * again (and one of a constant) still copies. */
TEST(interp_reshape_takes_dying_buffer)
{
    bld B;
    b_init(&B, 18);
    int64_t xd[2] = {64, 1}, wd[2] = {64, 1024}, cd[2] = {1, 4};
    float *xv = vec_rand(64, 3, 1.0f);
    mk_value *x = b_input(&B, "x", 2, xd, xv);
    free(xv);
    int32_t s3[3] = {64, 32, 32}, s2[2] = {2, 2};
    mk_value *a = vop(&B, MK_OP_ADD, "x", x, "y", vconst(&B, 2, wd, 5), NULL); /* the tensor */
    a = vop(&B, MK_OP_RELU, "x", a, NULL);
    mk_value *r = vop(&B, MK_OP_RESHAPE, "x", a, "shape", ci(&B, 3, s3), NULL);
    mk_value *e = vop(&B, MK_OP_EXPAND_DIMS, "x", r, "axes", ci(&B, 1, (const int32_t[]){0}), NULL);
    mk_value *q = vop(&B, MK_OP_SQUEEZE, "x", e, "axes", ci(&B, 1, (const int32_t[]){0}), NULL);
    mk_value *t = vop(&B, MK_OP_SIGMOID, "x", q, NULL);
    mk_value *k = vop(&B, MK_OP_RESHAPE, "x", vconst(&B, 2, cd, 4), "shape", ci(&B, 2, s2), NULL);
    REQUIRE(t && k);
    mk_value *outs[3] = {t, q, k}; /* q an output too: sigmoid may not take its buffer */
    mk_ir_block_set_outputs(B.p, B.b, 1, outs);
    mk_tensor_list ref, got;
    REQUIRE(b_run_unfused(&B, 0, &ref) == MK_OK);
    mk_run_options ro = {0, 1, 0};
    mk_run_report rep = {{0}, 0};
    REQUIRE(mk_run_ex(B.p, &ro, &B.ins, &got, &rep, &B.e) == MK_OK);
    CHECK(b_same_bits(&ref, &got));
    size_t one = (size_t)64 * 1024 * 4;
    CHECK_MSG(rep.peak_bytes < one + one / 2, "peak %zu bytes for a %zu-byte tensor",
              rep.peak_bytes, one);
    mk_tensor_list_free(&ref);
    mk_tensor_list_free(&got);
    mk_ir_block_set_outputs(B.p, B.b, 3, outs);
    REQUIRE(b_run_unfused(&B, 0, &ref) == MK_OK);
    REQUIRE(mk_run_ex(B.p, &ro, &B.ins, &got, &rep, &B.e) == MK_OK);
    CHECK(b_same_bits(&ref, &got));
    REQUIRE(got.n == 3);
    CHECK(got.items[2].nbytes == 16 && !memcmp(got.items[2].data, ref.items[2].data, 16));
    mk_tensor_list_free(&ref);
    mk_tensor_list_free(&got);
    b_free(&B);
}

/* An fp32 input whose dtype and layout match is read where the caller keeps it, not copied:
 * the peak holds the transpose's output and not a second copy of the input; the caller's data
 * is unchanged (also under fp16 emulation, which rounds a copy); the values are those of a run
 * whose input is misaligned for floats and so copied. */
TEST(interp_input_bound_without_copy)
{
    bld B;
    b_init(&B, 18);
    int64_t xd[2] = {64, 1024};
    size_t one = (size_t)64 * 1024 * 4;
    float *xv = vec_rand(64 * 1024, 5, 2.0f);
    REQUIRE(xv);
    mk_value *x = b_input(&B, "x", 2, xd, xv);
    mk_value *t =
        vop(&B, MK_OP_TRANSPOSE, "x", x, "perm", ci(&B, 2, (const int32_t[]){1, 0}), NULL);
    mk_value *y = vop(&B, MK_OP_SIGMOID, "x", t, NULL);
    REQUIRE(y);
    mk_ir_block_set_outputs(B.p, B.b, 1, &y);
    mk_tensor_list got, ref;
    mk_run_report rep = {{0}, 0};
    for (int fp16 = 0; fp16 < 2; fp16++) {
        mk_run_options ro = {fp16, 1, 0};
        REQUIRE(mk_run_ex(B.p, &ro, &B.ins, &got, &rep, &B.e) == MK_OK);
        CHECK_MSG(!memcmp(B.ins.items[0].data, xv, one), "fp16 %d: the caller's input changed",
                  fp16);
        if (!fp16)
            CHECK_MSG(rep.peak_bytes < one + one / 2, "peak %zu bytes for a %zu-byte input",
                      rep.peak_bytes, one);
        mk_tensor_list_free(&got);
    }
    mk_run_options ro = {0, 1, 0};
    REQUIRE(mk_run_ex(B.p, &ro, &B.ins, &got, NULL, &B.e) == MK_OK);
    char *odd = malloc(one + 2);
    REQUIRE(odd);
    memcpy(odd + 2, xv, one);
    void *own = B.ins.items[0].data;
    B.ins.items[0].data = odd + 2; /* not float-aligned: copied */
    mk_status st = mk_run_ex(B.p, &ro, &B.ins, &ref, NULL, &B.e);
    B.ins.items[0].data = own;
    REQUIRE(st == MK_OK);
    CHECK(b_same_bits(&ref, &got));
    mk_tensor_list_free(&ref);
    mk_tensor_list_free(&got);
    free(odd);
    free(xv);
    b_free(&B);
}

/* A session whose input changes shape between runs: each run's ops infer their output types
 * again (no reuse of the previous run's), so transpose + relu give [8, n] for an [n, 8] input,
 * with values checked element by element against the input. */
TEST(interp_session_input_shape_changes_between_runs)
{
    bld B;
    b_init(&B, 18);
    int64_t xd[2] = {3, 8};
    float *xv = vec_rand(24, 9, 2.0f);
    REQUIRE(xv);
    mk_value *x = b_input(&B, "x", 2, xd, xv);
    REQUIRE(x);
    x->type.dims[0] = MK_DIM_UNKNOWN;
    mk_value *t =
        vop(&B, MK_OP_TRANSPOSE, "x", x, "perm", ci(&B, 2, (const int32_t[]){1, 0}), NULL);
    mk_value *y = vop(&B, MK_OP_RELU, "x", t, NULL);
    REQUIRE(y);
    mk_ir_block_set_outputs(B.p, B.b, 1, &y);
    mk_run_options ro = {0, 1, 0};
    mk_session *s = NULL;
    REQUIRE(mk_session_new(B.p, &ro, &s, &B.e) == MK_OK);
    static const int64_t rows[] = {3, 1, 2, 3, 3};
    for (size_t r = 0; r < sizeof rows / sizeof *rows; r++) {
        int64_t n = rows[r];
        B.ins.items[0].dims[0] = n;
        B.ins.items[0].nbytes = (size_t)n * 8 * 4;
        mk_tensor_list got;
        REQUIRE(mk_session_run(s, &B.ins, &got, NULL, &B.e) == MK_OK);
        REQUIRE(got.n == 1);
        const mk_tensor *o = &got.items[0];
        CHECK_MSG(o->rank == 2 && o->dims[0] == 8 && o->dims[1] == n &&
                      o->nbytes == (size_t)n * 8 * 4,
                  "run %zu: rank %d [%lld, %lld] for %lld rows", r, o->rank, (long long)o->dims[0],
                  (long long)o->dims[1], (long long)n);
        int bad = 0;
        for (int64_t i = 0; i < 8 && o->rank == 2 && o->dims[1] == n; i++)
            for (int64_t j = 0; j < n; j++) {
                float v = xv[j * 8 + i], w = ((const float *)o->data)[i * n + j];
                bad += w != (v > 0 ? v : 0.0f);
            }
        CHECK_MSG(!bad, "run %zu: %d values differ from relu of the transposed input", r, bad);
        mk_tensor_list_free(&got);
    }
    mk_session_free(s);
    free(xv);
    b_free(&B);
}

/* mk_round_f16_n (F16C for runs of any length, the tail through a padded vector) against the
 * scalar mk_round_f16 bit for bit: ties, subnormals, overflow, infinities, NaN, -0. */
TEST(fp16_round_n_short_runs_same_bits_as_scalar)
{
    static const float special[] = {
        0.0f,          -0.0f,         65504.0f,   65520.0f,   -65536.0f,  1e-8f,
        5.9604645e-8f, 2.9802322e-8f, 1.0009766f, 1.0004883f, 1.0014648f, 6.1035156e-5f,
        3.0517578e-5f, INFINITY,      -INFINITY,  NAN,        3.4e38f,    -1e-40f};
    unsigned seed = 17;
    for (size_t n = 1; n <= 40; n++) {
        float d[40], want[40];
        for (size_t i = 0; i < n; i++) {
            float v = b_rand(&seed);
            d[i] = i % 3 == 0 ? special[(n + i) % (sizeof special / sizeof *special)]
                              : v * (float)(1u << (unsigned)((n + i) % 20));
            want[i] = mk_round_f16(d[i]);
        }
        mk_round_f16_n(d, n);
        CHECK_MSG(same_floats(d, want, (int64_t)n), "n %zu: differs from mk_round_f16", n);
        for (int lv = 0; lv < 3; lv++) { /* the fused epilogue's round-and-check, per level */
            float e[40];
            int over = 0;
            for (size_t i = 0; i < n; i++) e[i] = b_rand(&seed) * 70000.0f;
            if (n % 5 == 0) e[n - 1] = INFINITY; /* not an overflow */
            for (size_t i = 0; i < n; i++) {
                over |= fabsf(e[i]) > 65504.0f && !isinf(e[i]);
                want[i] = mk_round_f16(e[i]);
            }
            mk_vec_cap(lv);
            CHECK_MSG(mk_vec_round16(e, (int64_t)n) == over, "n %zu level %d: overflow flag", n,
                      lv);
            CHECK_MSG(same_floats(e, want, (int64_t)n), "n %zu level %d: rounding", n, lv);
        }
        mk_vec_cap(2);
    }
}

/* The transformer models (attention as matmul + softmax from the .onnx, bias adds fused, batched
 * matmuls as one GEMM, reshapes in place) give the same bits with -j 1 and -j 2. */
TEST(interp_threads_bit_identical_transformers)
{
    static const char *const models[] = {"wav2vec2", "bert_static", "vit", "gpt2"};
    int ran = 0;
    for (size_t m = 0; m < sizeof models / sizeof *models; m++) {
        char path[512], ins[512], out[4096], f[2][600];
        snprintf(path, sizeof path, "tests/.cache/transformers/%s.onnx", models[m]);
        snprintf(ins, sizeof ins, "tests/.cache/transformers/%s.inputs.npz", models[m]);
        if (!mk_path_exists(path) || !mk_path_exists(ins)) continue;
        for (int j = 1; j <= 2; j++) {
            snprintf(f[j - 1], sizeof f[0], "%s/tfthr%zu_%d.npz", mk_test_tmpdir(), m, j);
            int rc = mk_test_sh(out, sizeof out, "%s run %s -i %s -j %d -o %s", mk_test_bin(), path,
                                ins, j, f[j - 1]);
            CHECK_MSG(rc == 0, "%s -j %d: %s", models[m], j, out);
        }
        mk_tensor_list a, b;
        mk_err e = {0};
        REQUIRE(mk_npz_read(f[0], &a, &e) == MK_OK);
        REQUIRE(mk_npz_read(f[1], &b, &e) == MK_OK);
        CHECK_MSG(b_same_bits(&a, &b), "%s: -j 2 differs from -j 1", models[m]);
        mk_tensor_list_free(&a);
        mk_tensor_list_free(&b);
        ran++;
    }
    if (!ran)
        SKIP("no transformer model in tests/.cache/transformers (scripts/export_transformers.py)");
}

/* add/sub/mul/real_div rows (SIMD helpers: both operands rows, a row and a scalar either way,
 * x's buffer donated to the output) give the bits of the fp32 expression per element, with
 * broadcasts over leading, middle and last axes. */
TEST(interp_binary_arith_rows_same_bits_as_scalar)
{
    static const mk_op_kind kinds[] = {MK_OP_ADD, MK_OP_SUB, MK_OP_MUL, MK_OP_REAL_DIV};
    static const int64_t yshapes[][4] = {/* rank, dims */
                                         {3, 3, 5, 37},
                                         {1, 37, 0, 0},
                                         {3, 3, 1, 37},
                                         {1, 1, 0, 0},
                                         {3, 1, 5, 1}};
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++)
        for (size_t c = 0; c < sizeof yshapes / sizeof *yshapes; c++)
            for (int swap = 0; swap < 2; swap++) {
                bld B;
                b_init(&B, 18);
                int64_t xd[3] = {3, 5, 37};
                float *xv = vec_rand(3 * 5 * 37, 7 + (unsigned)c, 4.0f);
                mk_value *x = b_input(&B, "x", 3, xd, xv);
                int yr = (int)yshapes[c][0];
                size_t yn = 1;
                for (int i = 0; i < yr; i++) yn *= (size_t)yshapes[c][1 + i];
                float *yv = vec_rand(yn, 9 + (unsigned)c, 4.0f);
                mk_value *y = b_input(&B, "y", yr, yshapes[c] + 1, yv);
                /* x is dead after the relu's copy: the op may take its buffer */
                mk_value *r = vop(&B, MK_OP_RELU, "x", x, NULL);
                mk_value *o = swap ? vop(&B, kinds[k], "x", y, "y", r, NULL)
                                   : vop(&B, kinds[k], "x", r, "y", y, NULL);
                REQUIRE(o);
                mk_ir_block_set_outputs(B.p, B.b, 1, &o);
                mk_tensor_list got;
                mk_run_options ro = {0, 1, 0};
                REQUIRE(mk_run(B.p, &ro, &B.ins, &got, &B.e) == MK_OK);
                const float *g = got.items[0].data;
                int bad = 0;
                for (int64_t i = 0; i < 3 * 5 * 37 && !bad; i++) {
                    int64_t d[3] = {i / 185, i / 37 % 5, i % 37}, yi = 0;
                    for (int a = 0; a < yr; a++) {
                        int64_t dim = yshapes[c][1 + a], at = d[3 - yr + a];
                        yi = yi * dim + (dim == 1 ? 0 : at);
                    }
                    float a = xv[i] > 0 ? xv[i] : 0.0f, b = yv[yi], w;
                    if (swap) w = a, a = b, b = w;
                    float want = kinds[k] == MK_OP_ADD   ? a + b
                                 : kinds[k] == MK_OP_SUB ? a - b
                                 : kinds[k] == MK_OP_MUL ? a * b
                                                         : a / b;
                    bad = memcmp(&want, &g[i], 4) != 0;
                    CHECK_MSG(!bad, "kind %zu y %zu swap %d: element %lld %g, want %g", k, c, swap,
                              (long long)i, g[i], want);
                }
                free(xv);
                free(yv);
                mk_tensor_list_free(&got);
                b_free(&B);
            }
}
