/* Unit tests for src/interp: the kernel table covers ops.def, and each kernel family agrees
 * with a naive loop or hand-computed values written here (never with milkit's own output).
 * Programs are built with the IR builder and run through the public mk_run API. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>

#include "interp/interp_int.h"
#include "test.h"

#include "fault_scope.h"

/* ---- a tiny program builder ---- */
typedef struct bld {
    mk_program *p;
    mk_function *f;
    mk_block *b;
    mk_err e;
    mk_tensor_list ins;
    int oom; /* an allocation failed while building (milkit_tests --fail-alloc) */
} bld;

static void b_init_alloc(bld *B, const mk_allocator *a)
{
    memset(B, 0, sizeof *B);
    B->p = mk_ir_program_new(a, 9);
    B->f = B->p ? mk_ir_function_new(B->p, "main") : NULL;
    B->b = B->f ? B->f->block : NULL;
    B->oom = !B->b;
}

static void b_init(bld *B)
{
    memset(B, 0, sizeof *B);
    B->p = mk_ir_program_new(NULL, 9);
    B->f = B->p ? mk_ir_function_new(B->p, "main") : NULL;
    B->b = B->f ? B->f->block : NULL;
    B->oom = !B->b;
}

/* v, or NULL with B marked when the builder ran out of memory */
static mk_value *b_ok(bld *B, mk_value *v)
{
    if (!v) B->oom = 1;
    return v;
}

static void b_free(bld *B)
{
    mk_tensor_list_free(&B->ins);
    mk_ir_program_free(B->p);
}

static mk_value *b_input(bld *B, const char *name, mk_dtype dt, int rank, const int64_t *dims,
                         const void *data)
{
    if (B->oom) return NULL;
    mk_type t = mk_type_make(dt, rank, dims);
    mk_value *v = b_ok(B, mk_ir_function_add_input(B->p, B->f, name, &t));
    if (!v) return NULL;
    mk_tensor tt;
    memset(&tt, 0, sizeof tt);
    tt.name = mk_strdup_default(name);
    tt.dtype = dt;
    tt.rank = rank;
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)(tt.dims[i] = dims[i]);
    tt.nbytes = n * (size_t)mk_npy_dtype_size(dt);
    tt.data = malloc(tt.nbytes ? tt.nbytes : 1);
    if (!tt.name || !tt.data) {
        mk_tensor_free(&tt);
        B->oom = 1;
        return NULL;
    }
    memcpy(tt.data, data, tt.nbytes);
    if (mk_tensor_list_push(&B->ins, &tt, NULL) != MK_OK) {
        mk_tensor_free(&tt);
        B->oom = 1;
        return NULL;
    }
    return v;
}

static mk_value *cf(bld *B, int rank, const int64_t *dims, const float *v)
{
    mk_type t = mk_type_make(MK_DT_FP32, rank, dims);
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
    return B->oom ? NULL : b_ok(B, mk_ir_const(B->p, B->b, "c", &t, v, n * 4, 0));
}

static mk_value *cfs(bld *B, float v)
{
    return B->oom ? NULL : b_ok(B, mk_ir_const_f32(B->p, B->b, "s", 1, &v, 1));
}

static mk_value *ci(bld *B, int n, const int32_t *v)
{
    return B->oom ? NULL : b_ok(B, mk_ir_const_i32(B->p, B->b, "i", n, v, 0));
}

static mk_value *cis(bld *B, int32_t v)
{
    return B->oom ? NULL : b_ok(B, mk_ir_const_i32(B->p, B->b, "i", 1, &v, 1));
}

static mk_value *cb(bld *B, int v)
{
    uint8_t x = (uint8_t)v;
    return B->oom ? NULL : b_ok(B, mk_ir_const_bool(B->p, B->b, "b", 1, &x, 1));
}

static mk_value *cbv(bld *B, int n, const uint8_t *v)
{
    return B->oom ? NULL : b_ok(B, mk_ir_const_bool(B->p, B->b, "b", n, v, 0));
}

static mk_value *cs(bld *B, const char *s)
{
    return B->oom ? NULL : b_ok(B, mk_ir_const_str(B->p, B->b, "s", s));
}

/* op(B, kind, n_outputs, "param", value, ..., NULL); returns output 0 (NULL on failure). */
static mk_op *last_op;
static mk_value *op(bld *B, mk_op_kind k, int n_out, ...)
{
    mk_op *o = B->oom ? NULL : mk_ir_op_new(B->p, k, NULL);
    last_op = o;
    if (!o) {
        B->oom = 1;
        return NULL;
    }
    va_list ap;
    va_start(ap, n_out);
    const char *nm;
    while ((nm = va_arg(ap, const char *))) {
        mk_value *v = va_arg(ap, mk_value *);
        if (v && !mk_ir_op_add_input(B->p, o, nm, v)) B->oom = 1;
    }
    va_end(ap);
    mk_type t = mk_type_scalar(MK_DT_FP32);
    for (int i = 0; i < n_out; i++)
        if (!mk_ir_op_add_output(B->p, o, NULL, &t)) B->oom = 1;
    if (B->oom) return NULL;
    mk_ir_block_append(B->b, o);
    if (mk_ir_infer_op(o, &B->e) != MK_OK) {
        printf("  infer: %s\n", B->e.msg);
        return NULL;
    }
    return o->outputs[0];
}

/* Run with the block outputs given; returns the status, outputs in *out. */
static mk_status b_run(bld *B, mk_tensor_list *out, int fp16, int n, ...)
{
    mk_value *vals[8];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) vals[i] = va_arg(ap, mk_value *);
    va_end(ap);
    if (B->oom) return MK_ENOMEM;
    for (int i = 0; i < n; i++)
        if (!vals[i]) return MK_EINVAL;
    if (!mk_ir_block_set_outputs(B->p, B->b, n, vals)) return MK_ENOMEM;
    mk_run_options o = {fp16, 1, 0};
    memset(&B->e, 0, sizeof B->e);
    mk_status st = mk_run(B->p, &o, &B->ins, out, &B->e);
    if (st) printf("  run: %s\n", B->e.msg);
    return st;
}

static int close_to(float a, float b, float tol)
{
    return fabsf(a - b) <= tol + 1e-4f * fabsf(b);
}

#define CHECK_NEAR(a, b, tol)                                                                      \
    CHECK_MSG(close_to((float)(a), (float)(b), (float)(tol)), "%s = %g, expected %g", #a,          \
              (double)(a), (double)(b))

static float frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* ---- coverage ---- */
TEST(interp_kernel_table_covers_ops_def)
{
    /* Allow-list of ops the interpreter refuses with "not supported": keep it short. */
    static const mk_op_kind allowed[] = {MK_OP__COUNT};
    int missing = 0;
    for (int k = 0; k < MK_OP__COUNT; k++) {
        int ok = mk_interp_kernel((mk_op_kind)k) != NULL;
        for (size_t a = 0; a < sizeof allowed / sizeof *allowed; a++)
            ok = ok || (int)allowed[a] == k;
        if (!ok) {
            printf("  no kernel for %s\n", mk_ir_op_info((mk_op_kind)k)->name);
            missing++;
        }
    }
    CHECK_EQ_INT(missing, 0);
}

/* ---- conv ---- */
static void naive_conv1d(const float *x, const float *w, const float *bias, float *y, int N, int Ci,
                         int L, int Co, int K, int G, int s, int d, int pb, int Lo)
{
    int cig = Ci / G, cog = Co / G;
    for (int n = 0; n < N; n++)
        for (int co = 0; co < Co; co++)
            for (int o = 0; o < Lo; o++) {
                double acc = bias ? bias[co] : 0;
                int g = co / cog;
                for (int c = 0; c < cig; c++)
                    for (int k = 0; k < K; k++) {
                        int i = o * s + k * d - pb;
                        if (i >= 0 && i < L)
                            acc += x[(n * Ci + g * cig + c) * L + i] * w[(co * cig + c) * K + k];
                    }
                y[(n * Co + co) * Lo + o] = (float)acc;
            }
}

TEST(interp_conv1d_groups_dilation_padding)
{
    unsigned seed = 1;
    enum { N = 2, Ci = 4, L = 11, Co = 6, K = 3, G = 2 };
    float x[N * Ci * L], w[Co * (Ci / G) * K], bias[Co];
    for (size_t i = 0; i < sizeof x / 4; i++) x[i] = frand(&seed);
    for (size_t i = 0; i < sizeof w / 4; i++) w[i] = frand(&seed);
    for (int i = 0; i < Co; i++) bias[i] = frand(&seed);
    struct {
        const char *pad_type;
        int s, d, pb, pe;
    } cases[] = {{"custom", 2, 2, 3, 1},
                 {"valid", 1, 1, 0, 0},
                 {"same", 1, 3, -1, -1},
                 {"custom", 3, 1, 0, 2}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        bld B;
        b_init(&B);
        int64_t xd[3] = {N, Ci, L}, wd[3] = {Co, Ci / G, K}, bd[1] = {Co};
        mk_value *xv = b_input(&B, "x", MK_DT_FP32, 3, xd, x);
        int32_t st1 = cases[c].s, dl = cases[c].d, pad[2] = {cases[c].pb, cases[c].pe};
        if (pad[0] < 0) pad[0] = pad[1] = 0;
        mk_value *y =
            op(&B, MK_OP_CONV, 1, "x", xv, "weight", cf(&B, 3, wd, w), "bias", cf(&B, 1, bd, bias),
               "strides", ci(&B, 1, &st1), "dilations", ci(&B, 1, &dl), "pad_type",
               cs(&B, cases[c].pad_type), "pad", ci(&B, 2, pad), "groups", cis(&B, G), NULL);
        mk_tensor_list out;
        REQUIRE(b_run(&B, &out, 0, 1, y) == MK_OK);
        int Lo = (int)out.items[0].dims[2];
        int pb = cases[c].pb;
        if (pb < 0) { /* same: out = ceil(L/s), total pad split low-first */
            CHECK_EQ_INT(Lo, (L + cases[c].s - 1) / cases[c].s);
            int total = (Lo - 1) * cases[c].s + (K - 1) * cases[c].d + 1 - L;
            pb = (total > 0 ? total : 0) / 2;
        } else {
            CHECK_EQ_INT(
                Lo, (L + cases[c].pb + cases[c].pe - (K - 1) * cases[c].d - 1) / cases[c].s + 1);
        }
        float ref[N * Co * L];
        naive_conv1d(x, w, bias, ref, N, Ci, L, Co, K, G, cases[c].s, cases[c].d, pb, Lo);
        for (int i = 0; i < N * Co * Lo; i++)
            CHECK_NEAR(((float *)out.items[0].data)[i], ref[i], 1e-5);
        mk_tensor_list_free(&out);
        b_free(&B);
    }
}

TEST(interp_conv2d_stride_pad_vs_naive)
{
    unsigned seed = 7;
    enum { Ci = 3, H = 7, W = 6, Co = 4, KH = 3, KW = 2 };
    float x[Ci * H * W], w[Co * Ci * KH * KW];
    for (size_t i = 0; i < sizeof x / 4; i++) x[i] = frand(&seed);
    for (size_t i = 0; i < sizeof w / 4; i++) w[i] = frand(&seed);
    bld B;
    b_init(&B);
    int64_t xd[4] = {1, Ci, H, W}, wd[4] = {Co, Ci, KH, KW};
    int32_t st2[2] = {2, 1}, dl[2] = {1, 2}, pad[4] = {1, 2, 0, 1};
    mk_value *y = op(&B, MK_OP_CONV, 1, "x", b_input(&B, "x", MK_DT_FP32, 4, xd, x), "weight",
                     cf(&B, 4, wd, w), "strides", ci(&B, 2, st2), "dilations", ci(&B, 2, dl),
                     "pad_type", cs(&B, "custom"), "pad", ci(&B, 4, pad), NULL);
    mk_tensor_list out;
    REQUIRE(b_run(&B, &out, 0, 1, y) == MK_OK);
    int OH = (H + 1 + 2 - (KH - 1) - 1) / 2 + 1, OW = (W + 0 + 1 - 2 * (KW - 1) - 1) / 1 + 1;
    CHECK_EQ_INT(out.items[0].dims[2], OH);
    CHECK_EQ_INT(out.items[0].dims[3], OW);
    for (int co = 0; co < Co; co++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                double acc = 0;
                for (int c = 0; c < Ci; c++)
                    for (int kh = 0; kh < KH; kh++)
                        for (int kw = 0; kw < KW; kw++) {
                            int ih = oh * 2 + kh - 1, iw = ow + kw * 2 - 0;
                            if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                                acc += x[(c * H + ih) * W + iw] *
                                       w[((co * Ci + c) * KH + kh) * KW + kw];
                        }
                CHECK_NEAR(((float *)out.items[0].data)[(co * OH + oh) * OW + ow], acc, 1e-5);
            }
    mk_tensor_list_free(&out);
    b_free(&B);
}

TEST(interp_conv_transpose1d_vs_naive)
{
    unsigned seed = 3;
    enum { Ci = 4, L = 5, Cog = 3, K = 4, G = 2, S = 3, P = 1 };
    float x[Ci * L], w[Ci * Cog * K], bias[Cog * G];
    for (size_t i = 0; i < sizeof x / 4; i++) x[i] = frand(&seed);
    for (size_t i = 0; i < sizeof w / 4; i++) w[i] = frand(&seed);
    for (size_t i = 0; i < sizeof bias / 4; i++) bias[i] = frand(&seed);
    bld B;
    b_init(&B);
    int64_t xd[3] = {1, Ci, L}, wd[3] = {Ci, Cog, K}, bd[1] = {Cog * G};
    int32_t st1 = S, pad[2] = {P, P};
    mk_value *y =
        op(&B, MK_OP_CONV_TRANSPOSE, 1, "x", b_input(&B, "x", MK_DT_FP32, 3, xd, x), "weight",
           cf(&B, 3, wd, w), "bias", cf(&B, 1, bd, bias), "strides", ci(&B, 1, &st1), "pad_type",
           cs(&B, "custom"), "pad", ci(&B, 2, pad), "groups", cis(&B, G), NULL);
    mk_tensor_list out;
    REQUIRE(b_run(&B, &out, 0, 1, y) == MK_OK);
    int Lo = (L - 1) * S + K - 2 * P;
    REQUIRE(out.items[0].dims[2] == Lo);
    float ref[Cog * G * 32] = {0};
    for (int co = 0; co < Cog * G; co++)
        for (int o = 0; o < Lo; o++) ref[co * Lo + o] = bias[co];
    for (int ci_ = 0; ci_ < Ci; ci_++) {
        int g = ci_ / (Ci / G);
        for (int c = 0; c < Cog; c++)
            for (int i = 0; i < L; i++)
                for (int k = 0; k < K; k++) {
                    int o = i * S + k - P;
                    if (o >= 0 && o < Lo)
                        ref[(g * Cog + c) * Lo + o] += x[ci_ * L + i] * w[(ci_ * Cog + c) * K + k];
                }
    }
    for (int i = 0; i < Cog * G * Lo; i++)
        CHECK_NEAR(((float *)out.items[0].data)[i], ref[i], 1e-5);
    mk_tensor_list_free(&out);
    b_free(&B);
}

/* ---- matmul / linear ---- */
TEST(interp_matmul_broadcast_and_transpose)
{
    unsigned seed = 11;
    float a[2 * 1 * 3 * 4], b[3 * 5 * 4];
    for (size_t i = 0; i < sizeof a / 4; i++) a[i] = frand(&seed);
    for (size_t i = 0; i < sizeof b / 4; i++) b[i] = frand(&seed);
    bld B;
    b_init(&B);
    int64_t ad[4] = {2, 1, 3, 4}, bd[3] = {3, 5, 4};
    mk_value *y = op(&B, MK_OP_MATMUL, 1, "x", b_input(&B, "a", MK_DT_FP32, 4, ad, a), "y",
                     cf(&B, 3, bd, b), "transpose_y", cb(&B, 1), NULL);
    mk_tensor_list out;
    REQUIRE(b_run(&B, &out, 0, 1, y) == MK_OK);
    REQUIRE(out.items[0].rank == 4);
    CHECK_EQ_INT(out.items[0].dims[1], 3);
    CHECK_EQ_INT(out.items[0].dims[3], 5);
    const float *o = out.items[0].data;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int m = 0; m < 3; m++)
                for (int n = 0; n < 5; n++) {
                    double acc = 0;
                    for (int q = 0; q < 4; q++)
                        acc += a[(i * 3 + m) * 4 + q] * b[(j * 5 + n) * 4 + q];
                    CHECK_NEAR(o[((i * 3 + j) * 3 + m) * 5 + n], acc, 1e-5);
                }
    mk_tensor_list_free(&out);
    b_free(&B);
}

TEST(interp_linear_relu_softmax_by_hand)
{
    bld B;
    b_init(&B);
    float x[2] = {1, 2}, w[6] = {1, 0, 0, 1, 1, 1}, bias[3] = {0, -3, 1};
    int64_t xd[2] = {1, 2}, wd[2] = {3, 2}, bd[1] = {3};
    mk_value *l = op(&B, MK_OP_LINEAR, 1, "x", b_input(&B, "x", MK_DT_FP32, 2, xd, x), "weight",
                     cf(&B, 2, wd, w), "bias", cf(&B, 1, bd, bias), NULL);
    mk_value *r = op(&B, MK_OP_RELU, 1, "x", l, NULL);
    mk_value *s = op(&B, MK_OP_SOFTMAX, 1, "x", r, "axis", cis(&B, -1), NULL);
    mk_tensor_list out;
    REQUIRE(b_run(&B, &out, 0, 2, r, s) == MK_OK);
    /* linear: [1, -1, 4] -> relu [1, 0, 4] -> softmax */
    const float *ro = out.items[0].data, *so = out.items[1].data;
    CHECK_NEAR(ro[0], 1, 0);
    CHECK_NEAR(ro[1], 0, 0);
    CHECK_NEAR(ro[2], 4, 0);
    double z = exp(1) + exp(0) + exp(4);
    CHECK_NEAR(so[0], exp(1) / z, 1e-6);
    CHECK_NEAR(so[1], 1 / z, 1e-6);
    CHECK_NEAR(so[2], exp(4) / z, 1e-6);
    mk_tensor_list_free(&out);
    b_free(&B);
}

/* ---- normalization, reductions ---- */
TEST(interp_layer_norm_and_reductions)
{
    bld B;
    b_init(&B);
    float x[6] = {1, 2, 3, 4, 6, 8};
    int64_t xd[2] = {2, 3}, gd[1] = {3};
    float g[3] = {1, 2, 1}, be[3] = {0, 0, 1};
    mk_value *xv = b_input(&B, "x", MK_DT_FP32, 2, xd, x);
    int32_t ax = -1, ax0 = 0;
    mk_value *ln = op(&B, MK_OP_LAYER_NORM, 1, "x", xv, "axes", ci(&B, 1, &ax), "gamma",
                      cf(&B, 1, gd, g), "beta", cf(&B, 1, gd, be), "epsilon", cfs(&B, 0), NULL);
    mk_value *sm =
        op(&B, MK_OP_REDUCE_SUM, 1, "x", xv, "axes", ci(&B, 1, &ax0), "keep_dims", cb(&B, 0), NULL);
    mk_value *mx =
        op(&B, MK_OP_REDUCE_MAX, 1, "x", xv, "axes", ci(&B, 1, &ax), "keep_dims", cb(&B, 1), NULL);
    mk_value *mean = op(&B, MK_OP_REDUCE_MEAN, 1, "x", xv, NULL);
    mk_value *am = op(&B, MK_OP_REDUCE_ARGMAX, 1, "x", xv, "axis", cis(&B, 0), NULL);
    mk_value *lse = op(&B, MK_OP_REDUCE_LOG_SUM_EXP, 1, "x", xv, "axes", ci(&B, 1, &ax), NULL);
    mk_tensor_list out;
    REQUIRE(b_run(&B, &out, 0, 6, ln, sm, mx, mean, am, lse) == MK_OK);
    const float *o = out.items[0].data;
    /* row 0: mean 2, var 2/3 -> (x-2)/sqrt(2/3) */
    double s0 = sqrt(2.0 / 3.0);
    CHECK_NEAR(o[0], -1 / s0, 1e-5);
    CHECK_NEAR(o[1], 0, 1e-5);
    CHECK_NEAR(o[2], 1 / s0 + 1, 1e-5);
    /* row 1: mean 6, var 8/3 */
    double s1 = sqrt(8.0 / 3.0);
    CHECK_NEAR(o[3], -2 / s1, 1e-5);
    CHECK_NEAR(o[5], 2 / s1 + 1, 1e-5);
    const float *sum = out.items[1].data;
    CHECK_EQ_INT(out.items[1].rank, 1);
    CHECK_NEAR(sum[0], 5, 0);
    CHECK_NEAR(sum[2], 11, 0);
    CHECK_EQ_INT(out.items[2].rank, 2);
    CHECK_NEAR(((float *)out.items[2].data)[1], 8, 0);
    CHECK_EQ_INT(out.items[3].rank, 0);
    CHECK_NEAR(((float *)out.items[3].data)[0], 4, 1e-6);
    CHECK_EQ_INT(out.items[4].dtype, 23);
    CHECK_EQ_INT(((int32_t *)out.items[4].data)[0], 1);
    CHECK_NEAR(((float *)out.items[5].data)[0], log(exp(1) + exp(2) + exp(3)), 1e-5);
    mk_tensor_list_free(&out);
    b_free(&B);
}

TEST(interp_batch_norm_instance_norm)
{
    bld B;
    b_init(&B);
    float x[8] = {1, 3, 2, 6, -1, 1, 0, 0};
    int64_t xd[3] = {2, 2, 2}, cd[1] = {2};
    float mean[2] = {1, 2}, var[2] = {4, 1}, gam[2] = {2, 1}, bet[2] = {0, 1};
    mk_value *xv = b_input(&B, "x", MK_DT_FP32, 3, xd, x);
    mk_value *bn = op(&B, MK_OP_BATCH_NORM, 1, "x", xv, "mean", cf(&B, 1, cd, mean), "variance",
                      cf(&B, 1, cd, var), "gamma", cf(&B, 1, cd, gam), "beta", cf(&B, 1, cd, bet),
                      "epsilon", cfs(&B, 0), NULL);
    mk_value *in = op(&B, MK_OP_INSTANCE_NORM, 1, "x", xv, "epsilon", cfs(&B, 1e-12f), NULL);
    mk_tensor_list out;
    REQUIRE(b_run(&B, &out, 0, 2, bn, in) == MK_OK);
    const float *o = out.items[0].data, *q = out.items[1].data;
    CHECK_NEAR(o[0], (1 - 1) / 2.0 * 2, 1e-6);
    CHECK_NEAR(o[1], (3 - 1) / 2.0 * 2, 1e-6);
    CHECK_NEAR(o[3], (6 - 2) / 1.0 + 1, 1e-6);
    CHECK_NEAR(o[4], (-1 - 1) / 2.0 * 2, 1e-6);
    CHECK_NEAR(q[0], -1, 1e-5); /* [1,3]: mean 2, std 1 */
    CHECK_NEAR(q[3], 1, 1e-5);  /* [2,6]: mean 4, std 2 */
    CHECK_NEAR(q[6], 0, 1e-5);  /* [0,0]: var 0 -> 0 */
    mk_tensor_list_free(&out);
    b_free(&B);
}

/* ---- shape ops ---- */
TEST(interp_slice_gather_concat_transpose)
{
    bld B;
    b_init(&B);
    float x[24];
    for (int i = 0; i < 24; i++) x[i] = (float)i;
    int64_t xd[3] = {2, 3, 4};
    mk_value *xv = b_input(&B, "x", MK_DT_FP32, 3, xd, x);
    int32_t beg[3] = {1, 0, -1}, end[3] = {2, 3, 0}, str[3] = {1, 2, -2};
    uint8_t bm[3] = {0, 1, 0}, em[3] = {0, 0, 1}, sq[3] = {1, 0, 0};
    mk_value *sl = op(&B, MK_OP_SLICE_BY_INDEX, 1, "x", xv, "begin", ci(&B, 3, beg), "end",
                      ci(&B, 3, end), "stride", ci(&B, 3, str), "begin_mask", cbv(&B, 3, bm),
                      "end_mask", cbv(&B, 3, em), "squeeze_mask", cbv(&B, 3, sq), NULL);
    int32_t idx[3] = {2, -1, 0};
    mk_value *ga =
        op(&B, MK_OP_GATHER, 1, "x", xv, "indices", ci(&B, 3, idx), "axis", cis(&B, 2), NULL);
    int32_t perm[3] = {2, 0, 1};
    mk_value *tr = op(&B, MK_OP_TRANSPOSE, 1, "x", xv, "perm", ci(&B, 3, perm), NULL);
    mk_op *cat = mk_ir_op_new(B.p, MK_OP_CONCAT, NULL);
    mk_ir_op_add_input(B.p, cat, "values", xv);
    mk_ir_op_add_input(B.p, cat, "values", xv);
    mk_ir_op_add_input(B.p, cat, "axis", cis(&B, 1));
    mk_ir_op_add_input(B.p, cat, "interleave", cb(&B, 0));
    mk_type t = mk_type_scalar(MK_DT_FP32);
    mk_value *cv = mk_ir_op_add_output(B.p, cat, NULL, &t);
    mk_ir_block_append(B.b, cat);
    REQUIRE(mk_ir_infer_op(cat, &B.e) == MK_OK);
    mk_tensor_list out;
    REQUIRE(b_run(&B, &out, 0, 4, sl, ga, tr, cv) == MK_OK);
    /* slice: batch 1 (squeezed), rows 0,2, cols 3,1 */
    REQUIRE(out.items[0].rank == 2);
    CHECK_EQ_INT(out.items[0].dims[0], 2);
    CHECK_EQ_INT(out.items[0].dims[1], 2);
    const float *s = out.items[0].data;
    CHECK_NEAR(s[0], 12 + 3, 0);
    CHECK_NEAR(s[1], 12 + 1, 0);
    CHECK_NEAR(s[2], 12 + 8 + 3, 0);
    CHECK_NEAR(s[3], 12 + 8 + 1, 0);
    const float *g = out.items[1].data;
    CHECK_NEAR(g[0], 2, 0);
    CHECK_NEAR(g[1], 3, 0);
    CHECK_NEAR(g[2], 0, 0);
    CHECK_NEAR(g[3 * 5 + 1], 23, 0);     /* [1,2,1] -> x[1,2,3] */
    const float *tp = out.items[2].data; /* [4,2,3]: tp[k][i][j] = x[i][j][k] */
    CHECK_EQ_INT(out.items[2].dims[0], 4);
    CHECK_NEAR(tp[(3 * 2 + 1) * 3 + 2], x[(1 * 3 + 2) * 4 + 3], 0);
    CHECK_NEAR(tp[(1 * 2 + 0) * 3 + 1], x[(0 * 3 + 1) * 4 + 1], 0);
    CHECK_EQ_INT(out.items[3].dims[1], 6);
    CHECK_NEAR(((float *)out.items[3].data)[4 * 4 + 1], 5, 0);        /* [0,4,1] = x[0,1,1] */
    CHECK_NEAR(((float *)out.items[3].data)[(6 + 5) * 4 + 3], 23, 0); /* [1,5,3] = x[1,2,3] */
    mk_tensor_list_free(&out);
    b_free(&B);
}

TEST(interp_cumsum_pad_modes)
{
    bld B;
    b_init(&B);
    float x[4] = {1, 2, 3, 4};
    int64_t xd[2] = {1, 4};
    mk_value *xv = b_input(&B, "x", MK_DT_FP32, 2, xd, x);
    mk_value *c1 = op(&B, MK_OP_CUMSUM, 1, "x", xv, "axis", cis(&B, 1), "exclusive", cb(&B, 1),
                      "reverse", cb(&B, 1), NULL);
    int32_t pad[2] = {2, 3};
    mk_value *p_c = op(&B, MK_OP_PAD, 1, "x", xv, "pad", ci(&B, 2, pad), "mode", cs(&B, "constant"),
                       "constant_val", cfs(&B, -1), NULL);
    mk_value *p_r =
        op(&B, MK_OP_PAD, 1, "x", xv, "pad", ci(&B, 2, pad), "mode", cs(&B, "reflect"), NULL);
    mk_value *p_e =
        op(&B, MK_OP_PAD, 1, "x", xv, "pad", ci(&B, 2, pad), "mode", cs(&B, "replicate"), NULL);
    mk_tensor_list out;
    REQUIRE(b_run(&B, &out, 0, 4, c1, p_c, p_r, p_e) == MK_OK);
    const float want_c[4] = {9, 7, 4, 0};
    for (int i = 0; i < 4; i++) CHECK_NEAR(((float *)out.items[0].data)[i], want_c[i], 0);
    const float w1[9] = {-1, -1, 1, 2, 3, 4, -1, -1, -1}, w2[9] = {3, 2, 1, 2, 3, 4, 3, 2, 1},
                w3[9] = {1, 1, 1, 2, 3, 4, 4, 4, 4};
    for (int i = 0; i < 9; i++) {
        CHECK_NEAR(((float *)out.items[1].data)[i], w1[i], 0);
        CHECK_NEAR(((float *)out.items[2].data)[i], w2[i], 0);
        CHECK_NEAR(((float *)out.items[3].data)[i], w3[i], 0);
    }
    mk_tensor_list_free(&out);
    b_free(&B);
}

TEST(interp_resize_modes)
{
    bld B;
    b_init(&B);
    float x[4] = {0, 1, 2, 3}; /* [[0,1],[2,3]] */
    int64_t xd[4] = {1, 1, 2, 2};
    mk_value *xv = b_input(&B, "x", MK_DT_FP32, 4, xd, x);
    mk_value *nn = op(&B, MK_OP_UPSAMPLE_NEAREST_NEIGHBOR, 1, "x", xv, "scale_factor_height",
                      cfs(&B, 2), "scale_factor_width", cfs(&B, 2), NULL);
    mk_value *ac = op(&B, MK_OP_UPSAMPLE_BILINEAR, 1, "x", xv, "scale_factor_height", cfs(&B, 2),
                      "scale_factor_width", cfs(&B, 2), "align_corners", cb(&B, 1), NULL);
    mk_value *hp = op(&B, MK_OP_UPSAMPLE_BILINEAR, 1, "x", xv, "scale_factor_height", cfs(&B, 2),
                      "scale_factor_width", cfs(&B, 2), "align_corners", cb(&B, 0), NULL);
    mk_tensor_list out;
    REQUIRE(b_run(&B, &out, 0, 3, nn, ac, hp) == MK_OK);
    const float *n = out.items[0].data, *a = out.items[1].data, *h = out.items[2].data;
    CHECK_EQ_INT(out.items[0].dims[3], 4);
    CHECK_NEAR(n[0 * 4 + 1], 0, 0);
    CHECK_NEAR(n[1 * 4 + 2], 1, 0);
    CHECK_NEAR(n[3 * 4 + 3], 3, 0);
    /* align corners: column positions 0, 1/3, 2/3, 1 */
    CHECK_NEAR(a[0 * 4 + 1], 1.0 / 3, 1e-6);
    CHECK_NEAR(a[3 * 4 + 3], 3, 1e-6);
    CHECK_NEAR(a[1 * 4 + 1], 2.0 / 3 + 1.0 / 3, 1e-6); /* y=1/3 -> 2/3, x=1/3 -> 1/3 */
    /* half pixel: positions -0.25 (clamped 0), 0.25, 0.75, 1.25 (clamped 1) */
    CHECK_NEAR(h[0 * 4 + 0], 0, 1e-6);
    CHECK_NEAR(h[0 * 4 + 1], 0.25, 1e-6);
    CHECK_NEAR(h[0 * 4 + 2], 0.75, 1e-6);
    CHECK_NEAR(h[1 * 4 + 1], 0.25 * 2 + 0.25, 1e-6);
    mk_tensor_list_free(&out);
    b_free(&B);
}

/* ---- recurrent ---- */
static float sigm(float v)
{
    return 1.0f / (1.0f + expf(-v));
}

TEST(interp_lstm_one_step_by_hand)
{
    bld B;
    b_init(&B);
    enum { I = 2, H = 2 };
    float x[I] = {0.5f, -1}, h0[H] = {0.1f, -0.2f}, c0[H] = {0.3f, 0.4f};
    float wih[4 * H * I], whh[4 * H * H], bias[4 * H];
    unsigned seed = 5;
    for (int i = 0; i < 4 * H * I; i++) wih[i] = frand(&seed);
    for (int i = 0; i < 4 * H * H; i++) whh[i] = frand(&seed);
    for (int i = 0; i < 4 * H; i++) bias[i] = frand(&seed);
    int64_t xd[3] = {1, 1, I}, hd[2] = {1, H}, wd[2] = {4 * H, I}, rd[2] = {4 * H, H},
            bd[1] = {4 * H};
    mk_value *y = op(&B, MK_OP_LSTM, 3, "x", b_input(&B, "x", MK_DT_FP32, 3, xd, x), "initial_h",
                     cf(&B, 2, hd, h0), "initial_c", cf(&B, 2, hd, c0), "weight_ih",
                     cf(&B, 2, wd, wih), "weight_hh", cf(&B, 2, rd, whh), "bias",
                     cf(&B, 1, bd, bias), "output_sequence", cb(&B, 1), NULL);
    REQUIRE(y);
    mk_op *lo = last_op;
    mk_tensor_list out;
    REQUIRE(b_run(&B, &out, 0, 3, lo->outputs[0], lo->outputs[1], lo->outputs[2]) == MK_OK);
    float g[4 * H];
    for (int r = 0; r < 4 * H; r++) {
        g[r] = bias[r];
        for (int q = 0; q < I; q++) g[r] += wih[r * I + q] * x[q];
        for (int q = 0; q < H; q++) g[r] += whh[r * H + q] * h0[q];
    }
    for (int j = 0; j < H; j++) { /* gate order i, f, o, z */
        float i_ = sigm(g[j]), f_ = sigm(g[H + j]), o_ = sigm(g[2 * H + j]),
              z_ = tanhf(g[3 * H + j]);
        float c = f_ * c0[j] + i_ * z_, h = o_ * tanhf(c);
        CHECK_NEAR(((float *)out.items[0].data)[j], h, 1e-6);
        CHECK_NEAR(((float *)out.items[1].data)[j], h, 1e-6);
        CHECK_NEAR(((float *)out.items[2].data)[j], c, 1e-6);
    }
    mk_tensor_list_free(&out);
    b_free(&B);
}

/* ---- dtypes, fp16, constexpr ---- */
TEST(interp_fp16_emulate_reports_overflow)
{
    bld B;
    b_init(&B);
    float x[2] = {300, 2};
    int64_t xd[1] = {2};
    mk_value *xv = b_input(&B, "x", MK_DT_FP32, 1, xd, x);
    mk_value *sq = op(&B, MK_OP_SQUARE, 1, "x", xv, NULL); /* 90000 overflows in fp16 */
    mk_value *ad = op(&B, MK_OP_ADD, 1, "x", xv, "y", cfs(&B, 0.0001f), NULL);
    mk_value *vals[2] = {sq, ad};
    mk_ir_block_set_outputs(B.p, B.b, 2, vals);
    mk_run_options o = {1, 1, 0};
    mk_tensor_list out;
    mk_run_report rep;
    REQUIRE(mk_run_ex(B.p, &o, &B.ins, &out, &rep, &B.e) == MK_OK);
    CHECK(isinf(((float *)out.items[0].data)[0]));
    CHECK_NEAR(((float *)out.items[0].data)[1], 4, 0);
    CHECK(strstr(rep.warning, "fp16 overflow") != NULL);
    CHECK(strstr(rep.warning, last_op->kind == MK_OP_ADD ? "square" : "?") != NULL);
    /* 2 + 1e-4 is 2 in half precision (spacing 2^-9 near 2) */
    CHECK(((float *)out.items[1].data)[1] == 2.0f);
    mk_tensor_list_free(&out);
    o.fp16_emulate = 0;
    REQUIRE(mk_run_ex(B.p, &o, &B.ins, &out, &rep, &B.e) == MK_OK);
    CHECK(rep.warning[0] == 0);
    CHECK_NEAR(((float *)out.items[0].data)[0], 90000, 0);
    mk_tensor_list_free(&out);
    b_free(&B);
}

TEST(interp_constexpr_affine_dequantize_and_cast)
{
    bld B;
    b_init(&B);
    int8_t q[6] = {-3, 0, 5, 10, -128, 127};
    int8_t zp[2] = {1, -2};
    float sc[2] = {0.5f, 2.0f};
    int64_t qd[2] = {2, 3}, vd[1] = {2};
    mk_op *o = mk_ir_op_new(B.p, MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE, "w");
    mk_type qt = mk_type_make(MK_DT_INT8, 2, qd), zt = mk_type_make(MK_DT_INT8, 1, vd),
            st = mk_type_make(MK_DT_FP32, 1, vd), at = mk_type_scalar(MK_DT_INT32);
    int32_t axis = 0;
    mk_ir_op_add_attr(B.p, o, "quantized_data", mk_ir_const_value(B.p, &qt, q, 6, 0));
    mk_ir_op_add_attr(B.p, o, "zero_point", mk_ir_const_value(B.p, &zt, zp, 2, 0));
    mk_ir_op_add_attr(B.p, o, "scale", mk_ir_const_value(B.p, &st, sc, 8, 0));
    mk_ir_op_add_attr(B.p, o, "axis", mk_ir_const_value(B.p, &at, &axis, 4, 0));
    mk_type ft = mk_type_scalar(MK_DT_FP32);
    mk_value *w = mk_ir_op_add_output(B.p, o, NULL, &ft);
    mk_ir_block_append(B.b, o);
    REQUIRE(mk_ir_infer_op(o, &B.e) == MK_OK);
    float x[3] = {1, 1, 1};
    int64_t xd[1] = {3};
    mk_value *y = op(&B, MK_OP_MUL, 1, "x", w, "y", b_input(&B, "x", MK_DT_FP32, 1, xd, x), NULL);
    mk_value *c = op(&B, MK_OP_CAST, 1, "x", y, "dtype", cs(&B, "int32"), NULL);
    mk_tensor_list out;
    REQUIRE(b_run(&B, &out, 0, 2, y, c) == MK_OK);
    const float want[6] = {-2, -0.5f, 2, 24, -252, 258};
    for (int i = 0; i < 6; i++) CHECK_NEAR(((float *)out.items[0].data)[i], want[i], 0);
    CHECK_EQ_INT(out.items[1].dtype, 23);
    CHECK_EQ_INT(((int32_t *)out.items[1].data)[1], 0); /* -0.5 truncates to 0 */
    CHECK_EQ_INT(((int32_t *)out.items[1].data)[4], -252);
    mk_tensor_list_free(&out);
    b_free(&B);
}

TEST(interp_int_and_bool_elementwise)
{
    bld B;
    b_init(&B);
    int32_t a[4] = {7, -7, 3, 0};
    int64_t d[1] = {4};
    mk_value *av = b_input(&B, "a", MK_DT_INT32, 1, d, a);
    mk_value *fd = op(&B, MK_OP_FLOOR_DIV, 1, "x", av, "y", cis(&B, 2), NULL);
    mk_value *md = op(&B, MK_OP_MOD, 1, "x", av, "y", cis(&B, 3), NULL);
    mk_value *gt = op(&B, MK_OP_GREATER, 1, "x", av, "y", cis(&B, 0), NULL);
    mk_value *nt = op(&B, MK_OP_LOGICAL_NOT, 1, "x", gt, NULL);
    mk_value *se = op(&B, MK_OP_SELECT, 1, "cond", gt, "a", av, "b", cis(&B, 100), NULL);
    mk_tensor_list out;
    REQUIRE(b_run(&B, &out, 0, 5, fd, md, gt, nt, se) == MK_OK);
    const int32_t wf[4] = {3, -4, 1, 0}, wm[4] = {1, 2, 0, 0}, ws[4] = {7, 100, 3, 100};
    const uint8_t wg[4] = {1, 0, 1, 0};
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(((int32_t *)out.items[0].data)[i], wf[i]);
        CHECK_EQ_INT(((int32_t *)out.items[1].data)[i], wm[i]);
        CHECK_EQ_INT(((uint8_t *)out.items[2].data)[i], wg[i]);
        CHECK_EQ_INT(((uint8_t *)out.items[3].data)[i], !wg[i]);
        CHECK_EQ_INT(((int32_t *)out.items[4].data)[i], ws[i]);
    }
    CHECK_EQ_INT(out.items[2].dtype, 1);
    mk_tensor_list_free(&out);
    b_free(&B);
}

/* ---- control flow ---- */
TEST(interp_cond_and_while_loop)
{
    bld B;
    b_init(&B);
    float x[1] = {3};
    int64_t d[1] = {1};
    mk_value *xv = b_input(&B, "x", MK_DT_FP32, 1, d, x);
    /* while (v < 100) v = v * 2 */
    mk_op *w = mk_ir_op_new(B.p, MK_OP_WHILE_LOOP, "loop");
    mk_ir_op_add_input(B.p, w, "loop_vars", xv);
    mk_type ft = mk_type_make(MK_DT_FP32, 1, d);
    mk_block *cb_ = mk_ir_block_new(B.p, B.f, w), *body = mk_ir_block_new(B.p, B.f, w);
    mk_value *cv = mk_ir_block_add_input(B.p, cb_, "cv", &ft);
    mk_value *bv = mk_ir_block_add_input(B.p, body, "bv", &ft);
    mk_block *save = B.b;
    B.b = cb_;
    mk_value *lt = op(&B, MK_OP_LESS, 1, "x", cv, "y", cfs(&B, 100), NULL);
    int32_t zero = 0;
    mk_value *lts = op(&B, MK_OP_SQUEEZE, 1, "x", lt, "axes", ci(&B, 1, &zero), NULL);
    mk_ir_block_set_outputs(B.p, cb_, 1, &lts);
    B.b = body;
    mk_value *dbl = op(&B, MK_OP_MUL, 1, "x", bv, "y", cfs(&B, 2), NULL);
    mk_ir_block_set_outputs(B.p, body, 1, &dbl);
    B.b = save;
    mk_ir_op_add_block(B.p, w, cb_);
    mk_ir_op_add_block(B.p, w, body);
    mk_value *wo = mk_ir_op_add_output(B.p, w, NULL, &ft);
    mk_ir_block_append(B.b, w);
    /* cond(x > 0) { x + 1 } else { x - 1 } using an outer value inside the branches */
    mk_value *pos = op(&B, MK_OP_GREATER, 1, "x", xv, "y", cfs(&B, 0), NULL);
    mk_value *poss = op(&B, MK_OP_SQUEEZE, 1, "x", pos, NULL);
    mk_op *c = mk_ir_op_new(B.p, MK_OP_COND, "cond");
    mk_ir_op_add_input(B.p, c, "pred", poss);
    mk_block *tb = mk_ir_block_new(B.p, B.f, c), *fb = mk_ir_block_new(B.p, B.f, c);
    B.b = tb;
    mk_value *t1 = op(&B, MK_OP_ADD, 1, "x", wo, "y", cfs(&B, 1), NULL);
    mk_ir_block_set_outputs(B.p, tb, 1, &t1);
    B.b = fb;
    mk_value *f1 = op(&B, MK_OP_SUB, 1, "x", wo, "y", cfs(&B, 1), NULL);
    mk_ir_block_set_outputs(B.p, fb, 1, &f1);
    B.b = save;
    mk_ir_op_add_block(B.p, c, tb);
    mk_ir_op_add_block(B.p, c, fb);
    mk_value *co = mk_ir_op_add_output(B.p, c, NULL, &ft);
    mk_ir_block_append(B.b, c);
    mk_tensor_list out;
    REQUIRE(b_run(&B, &out, 0, 2, wo, co) == MK_OK);
    CHECK_NEAR(((float *)out.items[0].data)[0], 192, 0); /* 3,6,...,96,192 */
    CHECK_NEAR(((float *)out.items[1].data)[0], 193, 0);
    mk_tensor_list_free(&out);
    b_free(&B);
}

/* ---- inputs and errors ---- */
TEST(interp_input_checks_name_the_input)
{
    bld B;
    b_init(&B);
    float x[6] = {0};
    int64_t d[2] = {2, 3};
    mk_value *xv = b_input(&B, "x", MK_DT_FP32, 2, d, x);
    mk_value *y = op(&B, MK_OP_RELU, 1, "x", xv, NULL);
    mk_ir_block_set_outputs(B.p, B.b, 1, &y);
    mk_run_options o = {0, 1, 0};
    mk_tensor_list out;
    mk_err e = {0};
    B.ins.items[0].dims[1] = 2; /* wrong shape */
    CHECK(mk_run(B.p, &o, &B.ins, &out, &e) == MK_EINVAL);
    CHECK(strstr(e.msg, "input x") && strstr(e.msg, "[2, 2]"));
    B.ins.items[0].dims[1] = 3;
    B.ins.items[0].dtype = 23;
    e = (mk_err){0};
    CHECK(mk_run(B.p, &o, &B.ins, &out, &e) == MK_EINVAL);
    CHECK(strstr(e.msg, "dtype") != NULL);
    B.ins.items[0].dtype = 11;
    e = (mk_err){0};
    mk_tensor_list none = {0, NULL};
    CHECK(mk_run(B.p, &o, &none, &out, &e) == MK_EINVAL);
    CHECK(strstr(e.msg, "missing") != NULL);
    /* random inputs have the model's shapes and run */
    mk_tensor_list r;
    REQUIRE(mk_random_inputs(B.p, 42, &r, &e) == MK_OK);
    CHECK_EQ_INT(r.n, 1);
    CHECK_EQ_INT(r.items[0].dims[1], 3);
    e = (mk_err){0};
    if (mk_run(B.p, &o, &r, &out, &e) == MK_OK) {
        for (int i = 0; i < 6; i++) CHECK(((float *)out.items[0].data)[i] >= 0);
        mk_tensor_list_free(&out);
    } else {
        CHECK(0);
    }
    mk_tensor_list_free(&r);
    b_free(&B);
}

TEST(interp_compare_metrics)
{
    float a[4] = {1, 2, 3, 4}, b[4] = {1, 2, 3.5f, 4};
    mk_tensor ta = {.name = "a", .dtype = 11, .rank = 2, .data = a, .nbytes = 16};
    mk_tensor tb = {.name = "b", .dtype = 11, .rank = 3, .data = b, .nbytes = 16};
    ta.dims[0] = 2, ta.dims[1] = 2;
    tb.dims[0] = 1, tb.dims[1] = 2, tb.dims[2] = 2;
    mk_compare_result r;
    mk_err e = {0};
    REQUIRE(mk_compare(&ta, &tb, 1e-4, 1e-3, &r, &e) == MK_OK);
    CHECK(r.shape_ok);
    CHECK(!r.pass);
    CHECK_EQ_INT(r.n_bad, 1);
    CHECK_EQ_INT(r.worst_index, 2);
    CHECK_EQ_INT(r.worst_coord[1], 1);
    CHECK_EQ_INT(r.worst_coord[2], 0);
    CHECK_NEAR(r.max_abs, 0.5, 1e-9);
    CHECK_NEAR(r.max_rel, 0.5 / 3.5, 1e-6);
    double dot = 1 + 4 + 10.5 + 16, na = sqrt(30.0), nb = sqrt(1 + 4 + 12.25 + 16);
    CHECK_NEAR(r.cosine, dot / (na * nb), 1e-7);
    REQUIRE(mk_compare(&ta, &tb, 0.6, 0, &r, &e) == MK_OK);
    CHECK(r.pass);
    tb.dims[2] = 1, tb.dims[1] = 4;
    REQUIRE(mk_compare(&ta, &tb, 1, 1, &r, &e) == MK_OK);
    CHECK(!r.shape_ok && !r.pass);
}

/* ---- more families, each against values worked out by hand ---- */
TEST(interp_pool_ceil_mode_and_padding)
{
    bld B;
    b_init(&B);
    float x[25];
    for (int i = 0; i < 25; i++) x[i] = (float)i; /* 5x5 */
    int64_t xd[4] = {1, 1, 5, 5};
    mk_value *xv = b_input(&B, "x", MK_DT_FP32, 4, xd, x);
    int32_t k2[2] = {2, 2}, s2[2] = {2, 2}, p0[4] = {0, 0, 0, 0}, p1[4] = {1, 1, 1, 1};
    mk_value *mx =
        op(&B, MK_OP_MAX_POOL, 1, "x", xv, "kernel_sizes", ci(&B, 2, k2), "strides", ci(&B, 2, s2),
           "pad_type", cs(&B, "custom"), "pad", ci(&B, 4, p0), "ceil_mode", cb(&B, 1), NULL);
    mk_value *av = op(&B, MK_OP_AVG_POOL, 1, "x", xv, "kernel_sizes", ci(&B, 2, k2), "strides",
                      ci(&B, 2, s2), "pad_type", cs(&B, "custom"), "pad", ci(&B, 4, p1),
                      "exclude_padding_from_average", cb(&B, 0), "ceil_mode", cb(&B, 0), NULL);
    mk_value *ae = op(&B, MK_OP_AVG_POOL, 1, "x", xv, "kernel_sizes", ci(&B, 2, k2), "strides",
                      ci(&B, 2, s2), "pad_type", cs(&B, "custom"), "pad", ci(&B, 4, p1),
                      "exclude_padding_from_average", cb(&B, 1), "ceil_mode", cb(&B, 0), NULL);
    mk_tensor_list out;
    REQUIRE(b_run(&B, &out, 0, 3, mx, av, ae) == MK_OK);
    /* ceil mode: 3x3 output, last window is the clipped column/row */
    REQUIRE(out.items[0].dims[2] == 3 && out.items[0].dims[3] == 3);
    const float *m = out.items[0].data;
    CHECK_NEAR(m[0], 6, 0);
    CHECK_NEAR(m[2], 9, 0); /* window cols 4..5 rows 0..1 -> max(4, 9) */
    CHECK_NEAR(m[8], 24, 0);
    /* padded avg: 3x3 output; corner window holds x[0] only, divided by 4 (pads count) or 1 */
    REQUIRE(out.items[1].dims[2] == 3);
    CHECK_NEAR(((float *)out.items[1].data)[0], 0.0 / 4, 1e-6);
    CHECK_NEAR(((float *)out.items[1].data)[1], (1 + 2) / 4.0, 1e-6);
    CHECK_NEAR(((float *)out.items[2].data)[1], (1 + 2) / 2.0, 1e-6);
    CHECK_NEAR(((float *)out.items[2].data)[4], (6 + 7 + 11 + 12) / 4.0, 1e-6);
    mk_tensor_list_free(&out);
    b_free(&B);
}

TEST(interp_gather_nd_scatter_topk)
{
    bld B;
    b_init(&B);
    float x[6] = {5, 1, 4, 2, 6, 3}; /* [[5,1,4],[2,6,3]] */
    int64_t xd[2] = {2, 3};
    mk_value *xv = b_input(&B, "x", MK_DT_FP32, 2, xd, x);
    int32_t ind[4] = {1, 2, 0, 0};
    int64_t id[2] = {2, 2};
    mk_type it = mk_type_make(MK_DT_INT32, 2, id);
    mk_value *iv = mk_ir_const(B.p, B.b, "ind", &it, ind, 16, 0);
    mk_value *gn = op(&B, MK_OP_GATHER_ND, 1, "x", xv, "indices", iv, NULL);
    int32_t si[2] = {2, 0};
    float up[4] = {10, 20, 30, 40};
    int64_t ud[2] = {2, 2};
    mk_value *sc = op(&B, MK_OP_SCATTER, 1, "data", xv, "indices", ci(&B, 2, si), "updates",
                      cf(&B, 2, ud, up), "axis", cis(&B, 1), "mode", cs(&B, "add"), NULL);
    mk_value *tk = op(&B, MK_OP_TOPK, 2, "x", xv, "k", cis(&B, 2), "axis", cis(&B, -1), "ascending",
                      cb(&B, 0), NULL);
    mk_op *topk = last_op;
    mk_value *as =
        op(&B, MK_OP_ARGSORT, 1, "x", xv, "axis", cis(&B, 0), "ascending", cb(&B, 1), NULL);
    mk_tensor_list out;
    REQUIRE(tk);
    REQUIRE(b_run(&B, &out, 0, 5, gn, sc, topk->outputs[0], topk->outputs[1], as) == MK_OK);
    CHECK_NEAR(((float *)out.items[0].data)[0], 3, 0); /* x[1,2] */
    CHECK_NEAR(((float *)out.items[0].data)[1], 5, 0); /* x[0,0] */
    const float want_sc[6] = {5 + 20, 1, 4 + 10, 2 + 40, 6, 3 + 30};
    for (int i = 0; i < 6; i++) CHECK_NEAR(((float *)out.items[1].data)[i], want_sc[i], 0);
    const float tv[4] = {5, 4, 6, 3};
    const int32_t ti[4] = {0, 2, 1, 2};
    for (int i = 0; i < 4; i++) {
        CHECK_NEAR(((float *)out.items[2].data)[i], tv[i], 0);
        CHECK_EQ_INT(((int32_t *)out.items[3].data)[i], ti[i]);
    }
    const int32_t wa[6] = {1, 0, 1, 0, 1, 0};
    for (int i = 0; i < 6; i++) CHECK_EQ_INT(((int32_t *)out.items[4].data)[i], wa[i]);
    mk_tensor_list_free(&out);
    b_free(&B);
}

TEST(interp_split_tile_reverse_onehot_nonzero)
{
    bld B;
    b_init(&B);
    float x[6] = {1, 0, 2, 0, 3, 4};
    int64_t xd[2] = {2, 3};
    mk_value *xv = b_input(&B, "x", MK_DT_FP32, 2, xd, x);
    int32_t sizes[2] = {1, 2}, reps[2] = {2, 1}, ax1 = 1;
    mk_value *sp =
        op(&B, MK_OP_SPLIT, 2, "x", xv, "split_sizes", ci(&B, 2, sizes), "axis", cis(&B, 1), NULL);
    mk_op *split = last_op;
    mk_value *tl = op(&B, MK_OP_TILE, 1, "x", xv, "reps", ci(&B, 2, reps), NULL);
    mk_value *rv = op(&B, MK_OP_REVERSE, 1, "x", xv, "axes", ci(&B, 1, &ax1), NULL);
    int32_t idx[3] = {2, 0, -1};
    mk_value *oh =
        op(&B, MK_OP_ONE_HOT, 1, "indices", ci(&B, 3, idx), "one_hot_vector_size", cis(&B, 3),
           "axis", cis(&B, -1), "on_value", cfs(&B, 1), "off_value", cfs(&B, 0), NULL);
    mk_value *nz = op(&B, MK_OP_NON_ZERO, 1, "x", xv, NULL);
    mk_tensor_list out;
    REQUIRE(sp && nz);
    REQUIRE(b_run(&B, &out, 0, 6, split->outputs[0], split->outputs[1], tl, rv, oh, nz) == MK_OK);
    CHECK_EQ_INT(out.items[0].dims[1], 1);
    CHECK_NEAR(((float *)out.items[0].data)[1], 0, 0); /* x[1,0] */
    CHECK_NEAR(((float *)out.items[1].data)[3], 4, 0); /* x[1,2] */
    CHECK_EQ_INT(out.items[2].dims[0], 4);
    CHECK_NEAR(((float *)out.items[2].data)[10], 3, 0); /* row 3 = x row 1 */
    const float wr[6] = {2, 0, 1, 4, 3, 0};
    for (int i = 0; i < 6; i++) CHECK_NEAR(((float *)out.items[3].data)[i], wr[i], 0);
    const float wo[9] = {0, 0, 1, 1, 0, 0, 0, 0, 1};
    for (int i = 0; i < 9; i++) CHECK_NEAR(((float *)out.items[4].data)[i], wo[i], 0);
    REQUIRE(out.items[5].rank == 2);
    CHECK_EQ_INT(out.items[5].dims[0], 4);
    const int32_t wn[8] = {0, 0, 0, 2, 1, 1, 1, 2};
    for (int i = 0; i < 8; i++) CHECK_EQ_INT(((int32_t *)out.items[5].data)[i], wn[i]);
    mk_tensor_list_free(&out);
    b_free(&B);
}

TEST(interp_einsum_sdpa_by_hand)
{
    bld B;
    b_init(&B);
    float q[4] = {1, 0, 0, 1}, kk[4] = {1, 0, 0, 1}, v[4] = {1, 2, 3, 4}; /* [1,2,2] each */
    int64_t d3[3] = {1, 2, 2};
    mk_value *qv = b_input(&B, "q", MK_DT_FP32, 3, d3, q);
    mk_value *sd = op(&B, MK_OP_SCALED_DOT_PRODUCT_ATTENTION, 1, "query", qv, "key",
                      cf(&B, 3, d3, kk), "value", cf(&B, 3, d3, v), NULL);
    mk_op *e = mk_ir_op_new(B.p, MK_OP_EINSUM, NULL);
    mk_ir_op_add_input(B.p, e, "values", qv);
    mk_ir_op_add_input(B.p, e, "values", cf(&B, 3, d3, v));
    mk_ir_op_add_input(B.p, e, "equation", cs(&B, "bij,bjk->bik"));
    mk_type ft = mk_type_scalar(MK_DT_FP32);
    mk_value *ev = mk_ir_op_add_output(B.p, e, NULL, &ft);
    mk_ir_block_append(B.b, e);
    REQUIRE(mk_ir_infer_op(e, &B.e) == MK_OK);
    mk_tensor_list out;
    REQUIRE(b_run(&B, &out, 0, 2, sd, ev) == MK_OK);
    /* scores row 0: [1, 0]/sqrt(2) -> softmax weights w, 1-w */
    double w = 1.0 / (1.0 + exp(-1.0 / sqrt(2.0)));
    const float *o = out.items[0].data;
    CHECK_NEAR(o[0], w * 1 + (1 - w) * 3, 1e-6);
    CHECK_NEAR(o[1], w * 2 + (1 - w) * 4, 1e-6);
    CHECK_NEAR(o[2], (1 - w) * 1 + w * 3, 1e-6);
    const float *m = out.items[1].data; /* identity @ v = v */
    for (int i = 0; i < 4; i++) CHECK_NEAR(m[i], v[i], 0);
    mk_tensor_list_free(&out);
    b_free(&B);
}

/* iOS15 einsum broadcasts a size-1 batch label (B, H) against the other operand's; a contracted
 * label of size 1 against 3 stays an error. Expected values by a direct loop over the labels. */
static mk_op *einsum_op(bld *B, mk_value *x, mk_value *y, const char *eq)
{
    mk_op *e = mk_ir_op_new(B->p, MK_OP_EINSUM, NULL);
    mk_ir_op_add_input(B->p, e, "values", x);
    mk_ir_op_add_input(B->p, e, "values", y);
    mk_ir_op_add_input(B->p, e, "equation", cs(B, eq));
    mk_type ft = mk_type_scalar(MK_DT_FP32);
    mk_ir_op_add_output(B->p, e, NULL, &ft);
    mk_ir_block_append(B->b, e);
    return e;
}

TEST(interp_einsum_broadcasts_size1_batch_labels)
{
    bld B;
    b_init(&B);
    float x[2 * 2 * 1 * 3], y[1 * 3 * 4 * 2];
    for (int i = 0; i < 12; i++) x[i] = (float)(i % 5) - 2.0f;
    for (int i = 0; i < 24; i++) y[i] = (float)((i * 7) % 11) * 0.5f - 2.0f;
    int64_t xd[4] = {2, 2, 1, 3}, yd[4] = {1, 3, 4, 2}; /* x: n c h w, y: n w h u */
    mk_value *xv = b_input(&B, "x", MK_DT_FP32, 4, xd, x);
    mk_op *e = einsum_op(&B, xv, cf(&B, 4, yd, y), "nchw,nwhu->nchu");
    REQUIRE(mk_ir_infer_op(e, &B.e) == MK_OK);
    const mk_type *t = &e->outputs[0]->type;
    REQUIRE(t->rank == 4);
    CHECK(t->dims[0] == 2 && t->dims[1] == 2 && t->dims[2] == 4 && t->dims[3] == 2);
    mk_tensor_list out;
    REQUIRE(b_run(&B, &out, 0, 1, e->outputs[0]) == MK_OK);
    const float *o = out.items[0].data;
    for (int n = 0; n < 2; n++)
        for (int c = 0; c < 2; c++)
            for (int h = 0; h < 4; h++)
                for (int u = 0; u < 2; u++) {
                    double acc = 0;
                    for (int w = 0; w < 3; w++)
                        acc += (double)x[(n * 2 + c) * 3 + w] * y[(w * 4 + h) * 2 + u];
                    CHECK_NEAR(o[((n * 2 + c) * 4 + h) * 2 + u], acc, 1e-5);
                }
    mk_tensor_list_free(&out);
    int64_t zd[4] = {1, 1, 4, 2};
    mk_op *bad = einsum_op(&B, xv, cf(&B, 4, zd, y), "nchw,nwhu->nchu");
    mk_err e2 = {0};
    CHECK(mk_ir_infer_op(bad, &e2) != MK_OK && strstr(e2.msg, "subscript 'w'"));
    b_free(&B);
}

TEST(interp_depth_to_space_band_part_range_fill)
{
    bld B;
    b_init(&B);
    float x[8];
    for (int i = 0; i < 8; i++) x[i] = (float)i; /* [1, 4, 1, 2] */
    int64_t xd[4] = {1, 4, 1, 2};
    mk_value *xv = b_input(&B, "x", MK_DT_FP32, 4, xd, x);
    mk_value *d2s = op(&B, MK_OP_DEPTH_TO_SPACE, 1, "x", xv, "block_size", cis(&B, 2), NULL);
    mk_value *ps = op(&B, MK_OP_PIXEL_SHUFFLE, 1, "x", xv, "upscale_factor", cis(&B, 2), NULL);
    float m[9];
    for (int i = 0; i < 9; i++) m[i] = 1;
    int64_t md[2] = {3, 3};
    mk_value *bp = op(&B, MK_OP_BAND_PART, 1, "x", cf(&B, 2, md, m), "lower", cis(&B, 0), "upper",
                      cis(&B, 1), NULL);
    mk_value *rg = op(&B, MK_OP_RANGE_1D, 1, "start", cfs(&B, 1), "end", cfs(&B, 2), "step",
                      cfs(&B, 0.25f), NULL);
    int32_t shp[2] = {2, 2};
    mk_value *fl = op(&B, MK_OP_FILL, 1, "shape", ci(&B, 2, shp), "value", cfs(&B, 7), NULL);
    mk_tensor_list out;
    REQUIRE(b_run(&B, &out, 0, 5, d2s, ps, bp, rg, fl) == MK_OK);
    /* DCR: out[0,0,h,w] with h,w in 0..1, 0..3: in[(i*2+j)*1 + 0, 0, w/2] */
    const float *d = out.items[0].data;
    CHECK_EQ_INT(out.items[0].dims[2], 2);
    CHECK_EQ_INT(out.items[0].dims[3], 4);
    const float wd[8] = {0, 2, 1, 3, 4, 6, 5, 7};
    const float wp[8] = {0, 2, 1, 3, 4, 6, 5, 7}; /* with one output channel DCR == CRD */
    for (int i = 0; i < 8; i++) {
        CHECK_NEAR(d[i], wd[i], 0);
        CHECK_NEAR(((float *)out.items[1].data)[i], wp[i], 0);
    }
    const float wb[9] = {1, 1, 0, 0, 1, 1, 0, 0, 1};
    for (int i = 0; i < 9; i++) CHECK_NEAR(((float *)out.items[2].data)[i], wb[i], 0);
    CHECK_EQ_INT(out.items[3].dims[0], 4);
    CHECK_NEAR(((float *)out.items[3].data)[3], 1.75, 0);
    CHECK_NEAR(((float *)out.items[4].data)[3], 7, 0);
    mk_tensor_list_free(&out);
    b_free(&B);
}

TEST(interp_quantize_dequantize_blockwise)
{
    bld B;
    b_init(&B);
    float x[4] = {-1, 0.26f, 0.74f, 100};
    int64_t xd[1] = {4};
    mk_value *xv = b_input(&B, "x", MK_DT_FP32, 1, xd, x);
    mk_value *q = op(&B, MK_OP_QUANTIZE, 1, "input", xv, "scale", cfs(&B, 0.5f), "output_dtype",
                     cs(&B, "int8"), NULL);
    mk_value *dq = op(&B, MK_OP_DEQUANTIZE, 1, "input", q, "scale", cfs(&B, 0.5f), NULL);
    /* blockwise: data [2, 4] int8, scale [2, 2] -> blocks of 1x2 */
    int8_t data[8] = {1, 2, 3, 4, -1, -2, -3, -4};
    float sc[4] = {1, 10, 100, 1000};
    int64_t dd[2] = {2, 4}, sd[2] = {2, 2};
    mk_type dt = mk_type_make(MK_DT_INT8, 2, dd);
    mk_value *dv = mk_ir_const(B.p, B.b, "d", &dt, data, 8, 0);
    mk_value *bw = op(&B, MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE, 1, "data", dv, "scale",
                      cf(&B, 2, sd, sc), NULL);
    mk_tensor_list out;
    REQUIRE(b_run(&B, &out, 0, 3, q, dq, bw) == MK_OK);
    const int32_t wq[4] = {-2, 1, 1, 127}; /* round half to even: 0.52 -> 1, 1.48 -> 1 */
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(((int32_t *)out.items[0].data)[i], wq[i]);
    CHECK_NEAR(((float *)out.items[1].data)[3], 63.5, 0);
    const float wb[8] = {1, 2, 30, 40, -100, -200, -3000, -4000};
    for (int i = 0; i < 8; i++) CHECK_NEAR(((float *)out.items[2].data)[i], wb[i], 0);
    mk_tensor_list_free(&out);
    b_free(&B);
}

TEST(interp_bad_programs_fail_cleanly)
{
    /* a gather index out of range: one-line error naming the op, no crash */
    bld B;
    b_init(&B);
    float x[3] = {1, 2, 3};
    int64_t xd[1] = {3};
    mk_value *xv = b_input(&B, "x", MK_DT_FP32, 1, xd, x);
    int32_t bad[1] = {7};
    mk_value *g =
        op(&B, MK_OP_GATHER, 1, "x", xv, "indices", ci(&B, 1, bad), "axis", cis(&B, 0), NULL);
    mk_tensor_list out;
    CHECK(b_run(&B, &out, 0, 1, g) == MK_EINVAL);
    CHECK(strstr(B.e.msg, "gather") && strstr(B.e.msg, "out of range"));
    b_free(&B);
    /* conv whose weight does not match the channels */
    b_init(&B);
    float xx[8] = {0};
    int64_t cd[3] = {1, 2, 4}, wd[3] = {1, 3, 1};
    float w[3] = {1, 1, 1};
    mk_value *cx = b_input(&B, "x", MK_DT_FP32, 3, cd, xx);
    mk_op *c = mk_ir_op_new(B.p, MK_OP_CONV, "c");
    mk_ir_op_add_input(B.p, c, "x", cx);
    mk_ir_op_add_input(B.p, c, "weight", cf(&B, 3, wd, w));
    int64_t od[3] = {1, 1, 4};
    mk_type ot = mk_type_make(MK_DT_FP32, 3, od);
    mk_value *cv = mk_ir_op_add_output(B.p, c, NULL, &ot);
    mk_ir_block_append(B.b, c);
    mk_ir_block_set_outputs(B.p, B.b, 1, &cv);
    mk_run_options o = {0, 1, 0};
    mk_err e = {0};
    CHECK(mk_run(B.p, &o, &B.ins, &out, &e) != MK_OK);
    CHECK(strchr(e.msg, '\n') == NULL && e.msg[0]);
    b_free(&B);
}

/* ---- round 2: semantics checked against coremltools' op definitions ---- */
/* GRU with one unit and distinct weights per gate, so that a wrong gate order shows. The
 * formulas are coremltools' (iOS15 gru and its reference test): blocks r, o, z; reset applied
 * to h before the recurrent product. */
TEST(interp_gru_gate_order_by_hand)
{
    const float x[2] = {1.0f, -0.5f}, h0 = 0.5f;
    const float wih[3] = {0.5f, -1.0f, 2.0f}, whh[3] = {0.3f, 0.7f, -0.4f}; /* r, o, z */
    const float bias[3] = {0.1f, 0.2f, -0.3f}, ibias[3] = {0.05f, -0.1f, 0.15f};
    for (int after = 0; after < 2; after++) {
        bld B;
        b_init(&B);
        int64_t xd[3] = {2, 1, 1}, hd[2] = {1, 1}, wd[2] = {3, 1}, bd[1] = {3};
        mk_value *y =
            op(&B, MK_OP_GRU, 2, "x", b_input(&B, "x", MK_DT_FP32, 3, xd, x), "initial_h",
               cf(&B, 2, hd, &h0), "weight_ih", cf(&B, 2, wd, wih), "weight_hh", cf(&B, 2, wd, whh),
               "bias", cf(&B, 1, bd, bias), "output_sequence", cb(&B, 1), "reset_after",
               after ? cb(&B, 1) : NULL, "input_bias", after ? cf(&B, 1, bd, ibias) : NULL, NULL);
        REQUIRE(y);
        mk_op *go = last_op;
        mk_tensor_list out;
        REQUIRE(b_run(&B, &out, 0, 2, go->outputs[0], go->outputs[1]) == MK_OK);
        double h = h0;
        for (int t = 0; t < 2; t++) {
            double r, z, o;
            if (!after) {
                r = 1 / (1 + exp(-(wih[0] * x[t] + whh[0] * h + bias[0])));
                z = 1 / (1 + exp(-(wih[2] * x[t] + whh[2] * h + bias[2])));
                o = tanh(wih[1] * x[t] + whh[1] * (r * h) + bias[1]);
            } else { /* bias is the recurrent bias, input_bias the input one */
                r = 1 / (1 + exp(-(wih[0] * x[t] + ibias[0] + whh[0] * h + bias[0])));
                z = 1 / (1 + exp(-(wih[2] * x[t] + ibias[2] + whh[2] * h + bias[2])));
                o = tanh(wih[1] * x[t] + ibias[1] + r * (whh[1] * h + bias[1]));
            }
            h = (1 - z) * o + z * h;
            CHECK_NEAR(((float *)out.items[0].data)[t], h, 1e-6);
        }
        CHECK_NEAR(((float *)out.items[1].data)[0], h, 1e-6);
        mk_tensor_list_free(&out);
        b_free(&B);
    }
}

/* resize_bilinear on the input [0, 1] samples exactly the grid points, which coremltools'
 * resize_bilinear documentation lists for Xin = 2 and Xout = 5 and 6. */
TEST(interp_resize_bilinear_sampling_modes)
{
    static const struct {
        const char *mode;
        int out;
        float grid[6];
    } cases[] = {
        {"UNALIGN_CORNERS", 5, {0, 0.1f, 0.5f, 0.9f, 1}},
        {"STRICT_ALIGN_CORNERS", 5, {0, 0.25f, 0.5f, 0.75f, 1}},
        {"ALIGN_CORNERS", 5, {0, 0.25f, 0.5f, 0.75f, 1}},
        {"DEFAULT", 5, {0, 0.4f, 0.8f, 1, 1}},
        {"OFFSET_CORNERS", 5, {0.1f, 0.3f, 0.5f, 0.7f, 0.9f}},
        {"UNALIGN_CORNERS", 6, {0, 0, 1.0f / 3, 2.0f / 3, 1, 1}},
        {"STRICT_ALIGN_CORNERS", 6, {0, 0.2f, 0.4f, 0.6f, 0.8f, 1}},
        {"DEFAULT", 6, {0, 1.0f / 3, 2.0f / 3, 1, 1, 1}},
        {"OFFSET_CORNERS", 6, {1.0f / 12, 0.25f, 5.0f / 12, 7.0f / 12, 0.75f, 11.0f / 12}},
        /* a single output: ALIGN_CORNERS samples the middle, STRICT_ALIGN_CORNERS the start */
        {"ALIGN_CORNERS", 1, {0.5f}},
        {"STRICT_ALIGN_CORNERS", 1, {0}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        bld B;
        b_init(&B);
        float x[2] = {0, 1};
        int64_t xd[3] = {1, 1, 2};
        mk_value *y = op(&B, MK_OP_RESIZE_BILINEAR, 1, "x", b_input(&B, "x", MK_DT_FP32, 3, xd, x),
                         "target_size_height", cis(&B, 1), "target_size_width",
                         cis(&B, cases[c].out), "sampling_mode", cs(&B, cases[c].mode), NULL);
        mk_tensor_list out;
        REQUIRE(b_run(&B, &out, 0, 1, y) == MK_OK);
        REQUIRE(out.items[0].dims[2] == cases[c].out);
        for (int i = 0; i < cases[c].out; i++)
            CHECK_MSG(close_to(((float *)out.items[0].data)[i], cases[c].grid[i], 1e-6f),
                      "%s Xout=%d [%d]: %g, expected %g", cases[c].mode, cases[c].out, i,
                      (double)((float *)out.items[0].data)[i], (double)cases[c].grid[i]);
        mk_tensor_list_free(&out);
        b_free(&B);
    }
}

/* upsample_bilinear recomputes the scale from the output size (coremltools: "corresponds to
 * recompute_scale_factor=True"): 3 -> floor(3 * 1.5) = 4 samples, spacing 3/4. */
TEST(interp_upsample_bilinear_recomputes_scale)
{
    bld B;
    b_init(&B);
    float x[3] = {0, 1, 2};
    int64_t xd[3] = {1, 1, 3};
    mk_value *y = op(&B, MK_OP_UPSAMPLE_BILINEAR, 1, "x", b_input(&B, "x", MK_DT_FP32, 3, xd, x),
                     "scale_factor_height", cfs(&B, 1), "scale_factor_width", cfs(&B, 1.5f),
                     "align_corners", cb(&B, 0), NULL);
    mk_tensor_list out;
    REQUIRE(b_run(&B, &out, 0, 1, y) == MK_OK);
    REQUIRE(out.items[0].dims[2] == 4);
    const float want[4] = {0, 0.625f, 1.375f, 2}; /* (i + 0.5) * 0.75 - 0.5, clamped */
    for (int i = 0; i < 4; i++) CHECK_NEAR(((float *)out.items[0].data)[i], want[i], 1e-6);
    mk_tensor_list_free(&out);
    b_free(&B);
}

/* iOS17 resize changes only the rightmost resized_dims axes: with resized_dims = 1 the rows
 * stay as they are even under OFFSET_CORNERS (whose grid moves every sample). */
TEST(interp_resize_ios17_resized_dims)
{
    bld B;
    b_init(&B);
    float x[4] = {0, 1, 10, 11}; /* [[0, 1], [10, 11]] */
    int64_t xd[3] = {1, 2, 2};
    int32_t shape[2] = {2, 5};
    uint32_t one = 1;
    mk_type ut = mk_type_scalar(MK_DT_UINT32);
    mk_value *xv = b_input(&B, "x", MK_DT_FP32, 3, xd, x);
    mk_value *y = op(&B, MK_OP_RESIZE, 1, "x", xv, "shape", ci(&B, 2, shape), "resized_dims",
                     mk_ir_const(B.p, B.b, "rd", &ut, &one, 4, 0), "sampling_mode",
                     cs(&B, "OFFSET_CORNERS"), NULL);
    mk_tensor_list out;
    REQUIRE(b_run(&B, &out, 0, 1, y) == MK_OK);
    REQUIRE(out.items[0].dims[1] == 2 && out.items[0].dims[2] == 5);
    const float *o = out.items[0].data;
    const float grid[5] = {0.1f, 0.3f, 0.5f, 0.7f, 0.9f};
    for (int i = 0; i < 5; i++) {
        CHECK_NEAR(o[i], grid[i], 1e-6);
        CHECK_NEAR(o[5 + i], 10 + grid[i], 1e-5);
    }
    mk_tensor_list_free(&out);
    b_free(&B);
}

/* ---- round 2: fast paths agree with naive loops ---- */
static void naive_max_pool(const float *x, float *y, int C, int H, int W, int K1, int K2, int S1,
                           int S2, int P1, int P2, int OH, int OW)
{
    for (int c = 0; c < C; c++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                float m = -INFINITY;
                int nan = 0, any = 0;
                for (int a = 0; a < K1; a++)
                    for (int b = 0; b < K2; b++) {
                        int ih = oh * S1 + a - P1, iw = ow * S2 + b - P2;
                        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                        float v = x[(c * H + ih) * W + iw];
                        any = 1;
                        if (v != v)
                            nan = 1;
                        else if (v > m)
                            m = v;
                    }
                y[(c * OH + oh) * OW + ow] = nan ? NAN : any ? m : 0;
            }
}

/* Wide rows (row passes) and narrow rows (one pass over the whole tensor) with padding,
 * strides, infinities and NaNs; NaN in a window makes that output NaN. */
TEST(interp_max_pool_fast_paths_vs_naive)
{
    static const struct {
        int H, W, K1, K2, S1, S2, P1, P2;
    } cases[] = {{9, 40, 3, 3, 2, 2, 1, 1},
                 {7, 8, 2, 2, 2, 2, 0, 0},
                 {6, 16, 1, 2, 1, 2, 0, 0},
                 {5, 30, 3, 5, 1, 3, 1, 2},
                 {4, 5, 3, 3, 1, 1, 1, 1}};
    unsigned seed = 21;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        enum { C = 3 };
        int H = cases[c].H, W = cases[c].W;
        float x[C * 9 * 40];
        for (int i = 0; i < C * H * W; i++) x[i] = frand(&seed);
        x[5] = NAN;
        x[H * W + 7] = INFINITY;
        x[2 * H * W + W + 1] = -INFINITY;
        bld B;
        b_init(&B);
        int64_t xd[4] = {1, C, H, W};
        int32_t k[2] = {cases[c].K1, cases[c].K2}, s[2] = {cases[c].S1, cases[c].S2};
        int32_t p[4] = {cases[c].P1, cases[c].P1, cases[c].P2, cases[c].P2};
        mk_value *y = op(&B, MK_OP_MAX_POOL, 1, "x", b_input(&B, "x", MK_DT_FP32, 4, xd, x),
                         "kernel_sizes", ci(&B, 2, k), "strides", ci(&B, 2, s), "pad_type",
                         cs(&B, "custom"), "pad", ci(&B, 4, p), NULL);
        mk_tensor_list out;
        REQUIRE(b_run(&B, &out, 0, 1, y) == MK_OK);
        int OH = (int)out.items[0].dims[2], OW = (int)out.items[0].dims[3];
        CHECK_EQ_INT(OH, (H + 2 * cases[c].P1 - cases[c].K1) / cases[c].S1 + 1);
        CHECK_EQ_INT(OW, (W + 2 * cases[c].P2 - cases[c].K2) / cases[c].S2 + 1);
        float ref[C * 9 * 40];
        naive_max_pool(x, ref, C, H, W, cases[c].K1, cases[c].K2, cases[c].S1, cases[c].S2,
                       cases[c].P1, cases[c].P2, OH, OW);
        const float *o = out.items[0].data;
        int bad = 0;
        for (int i = 0; i < C * OH * OW; i++)
            bad += (ref[i] != ref[i]) ? o[i] == o[i] : o[i] != ref[i];
        CHECK_MSG(bad == 0, "case %zu: %d outputs differ from the naive pool", c, bad);
        mk_tensor_list_free(&out);
        b_free(&B);
    }
}

/* Depthwise convs (one input channel per group, channel multiplier 2) take direct loops. */
TEST(interp_depthwise_conv_vs_naive)
{
    enum { C = 3, M = 2, H = 9, W = 11, K = 3 };
    unsigned seed = 33;
    float x[C * H * W], w[C * M * K * K], bias[C * M];
    for (int i = 0; i < C * H * W; i++) x[i] = frand(&seed);
    for (int i = 0; i < C * M * K * K; i++) w[i] = frand(&seed);
    for (int i = 0; i < C * M; i++) bias[i] = frand(&seed);
    static const int cfg[][3] = {{1, 1, 1}, {2, 1, 1}, {1, 2, 2}, {2, 1, 0}}; /* stride, dil, pad */
    for (size_t c = 0; c < sizeof cfg / sizeof *cfg; c++) {
        int S = cfg[c][0], D = cfg[c][1], P = cfg[c][2];
        bld B;
        b_init(&B);
        int64_t xd[4] = {1, C, H, W}, wd[4] = {C * M, 1, K, K}, bd[1] = {C * M};
        int32_t st2[2] = {S, S}, dl[2] = {D, D}, pad[4] = {P, P, P, P};
        mk_value *y = op(&B, MK_OP_CONV, 1, "x", b_input(&B, "x", MK_DT_FP32, 4, xd, x), "weight",
                         cf(&B, 4, wd, w), "bias", cf(&B, 1, bd, bias), "strides", ci(&B, 2, st2),
                         "dilations", ci(&B, 2, dl), "pad_type", cs(&B, "custom"), "pad",
                         ci(&B, 4, pad), "groups", cis(&B, C), NULL);
        mk_tensor_list out;
        REQUIRE(b_run(&B, &out, 0, 1, y) == MK_OK);
        int OH = (H + 2 * P - D * (K - 1) - 1) / S + 1, OW = (W + 2 * P - D * (K - 1) - 1) / S + 1;
        REQUIRE(out.items[0].dims[2] == OH && out.items[0].dims[3] == OW);
        for (int co = 0; co < C * M; co++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    double acc = bias[co];
                    for (int a = 0; a < K; a++)
                        for (int b = 0; b < K; b++) {
                            int ih = oh * S + a * D - P, iw = ow * S + b * D - P;
                            if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                                acc += x[((co / M) * H + ih) * W + iw] * w[(co * K + a) * K + b];
                        }
                    CHECK_NEAR(((float *)out.items[0].data)[(co * OH + oh) * OW + ow], acc, 1e-5);
                }
        mk_tensor_list_free(&out);
        b_free(&B);
    }
}

static double hswish_ref(double v)
{
    double c = v + 3;
    c = c < 0 ? 0 : c > 6 ? 6 : c;
    return v * c / 6;
}

/* Activations fused onto convs and views into a concat give what the ops give one by one:
 * a = relu(max(conv1(x) * 2 - 1, -0.5)) and b = hardswish(conv2(x)) (spelled add, clip, mul,
 * real_div), concatenated on channels; conv2's output is also a block output, which must
 * stop its chain, and the session runs twice on different inputs. */
TEST(interp_fused_chains_and_concat_views)
{
    enum { Ci = 2, L = 7, Co = 3 };
    unsigned seed = 41;
    float w1[Co * Ci], w2[Co * Ci * 3], b1[Co];
    for (int i = 0; i < Co * Ci; i++) w1[i] = frand(&seed);
    for (int i = 0; i < Co * Ci * 3; i++) w2[i] = 2 * frand(&seed);
    for (int i = 0; i < Co; i++) b1[i] = frand(&seed);
    for (int shared = 0; shared < 2; shared++) {
        bld B;
        b_init(&B);
        float x[Ci * L];
        for (int i = 0; i < Ci * L; i++) x[i] = 3 * frand(&seed);
        int64_t xd[3] = {1, Ci, L}, w1d[3] = {Co, Ci, 1}, w2d[3] = {Co, Ci, 3}, bd[1] = {Co};
        mk_value *xv = b_input(&B, "x", MK_DT_FP32, 3, xd, x);
        mk_value *c1 = op(&B, MK_OP_CONV, 1, "x", xv, "weight", cf(&B, 3, w1d, w1), "bias",
                          cf(&B, 1, bd, b1), NULL);
        mk_value *m = op(&B, MK_OP_MUL, 1, "x", cfs(&B, 2), "y", c1, NULL);
        mk_value *s = op(&B, MK_OP_SUB, 1, "x", m, "y", cfs(&B, 1), NULL);
        mk_value *mx = op(&B, MK_OP_MAXIMUM, 1, "x", s, "y", cfs(&B, -0.5f), NULL);
        mk_value *a = op(&B, MK_OP_RELU, 1, "x", mx, NULL);
        mk_value *c2 = op(&B, MK_OP_CONV, 1, "x", xv, "weight", cf(&B, 3, w2d, w2), "pad_type",
                          cs(&B, "same"), NULL);
        mk_value *ad = op(&B, MK_OP_ADD, 1, "x", c2, "y", cfs(&B, 3), NULL);
        mk_value *cl =
            op(&B, MK_OP_CLIP, 1, "x", ad, "alpha", cfs(&B, 0), "beta", cfs(&B, 6), NULL);
        mk_value *hm = op(&B, MK_OP_MUL, 1, "x", c2, "y", cl, NULL);
        mk_value *hb = op(&B, MK_OP_REAL_DIV, 1, "x", hm, "y", cfs(&B, 6), NULL);
        REQUIRE(a && hb);
        mk_op *cat = mk_ir_op_new(B.p, MK_OP_CONCAT, NULL);
        mk_ir_op_add_input(B.p, cat, "values", a);
        mk_ir_op_add_input(B.p, cat, "values", hb);
        mk_ir_op_add_input(B.p, cat, "axis", cis(&B, 1));
        mk_type ft = mk_type_scalar(MK_DT_FP32);
        mk_ir_op_add_output(B.p, cat, NULL, &ft);
        mk_ir_block_append(B.b, cat);
        REQUIRE(mk_ir_infer_op(cat, &B.e) == MK_OK);
        mk_value *outs[2] = {cat->outputs[0], c2};
        mk_ir_block_set_outputs(B.p, B.b, shared ? 2 : 1, outs);
        mk_run_options o = {0, 1, 0};
        mk_session *sess = NULL;
        REQUIRE(mk_session_new(B.p, &o, &sess, &B.e) == MK_OK);
        for (int run = 0; run < 2; run++) {
            if (run) /* new input values, same session */
                for (int i = 0; i < Ci * L; i++)
                    ((float *)B.ins.items[0].data)[i] = 3 * frand(&seed);
            const float *xx = B.ins.items[0].data;
            mk_tensor_list out;
            REQUIRE(mk_session_run(sess, &B.ins, &out, NULL, &B.e) == MK_OK);
            REQUIRE(out.n == (shared ? 2 : 1) && out.items[0].dims[1] == 2 * Co);
            const float *y = out.items[0].data;
            for (int co = 0; co < Co; co++)
                for (int l = 0; l < L; l++) {
                    double v1 = b1[co], v2 = 0;
                    for (int c = 0; c < Ci; c++) {
                        v1 += w1[co * Ci + c] * xx[c * L + l];
                        for (int k = 0; k < 3; k++)
                            if (l + k - 1 >= 0 && l + k - 1 < L)
                                v2 += w2[(co * Ci + c) * 3 + k] * xx[c * L + l + k - 1];
                    }
                    double av = 2 * v1 - 1;
                    av = av > -0.5 ? av : -0.5;
                    av = av > 0 ? av : 0;
                    CHECK_NEAR(y[co * L + l], av, 1e-5);
                    CHECK_NEAR(y[(Co + co) * L + l], hswish_ref(v2), 1e-5);
                    if (shared) CHECK_NEAR(((float *)out.items[1].data)[co * L + l], v2, 1e-5);
                }
            mk_tensor_list_free(&out);
        }
        mk_session_free(sess);
        b_free(&B);
    }
}

/* A session survives a failed run (missing input) and still gives mk_run's answer after. */
TEST(interp_session_error_then_run)
{
    bld B;
    b_init(&B);
    float x[4] = {-1, 2, -3, 4};
    int64_t xd[1] = {4};
    mk_value *y = op(&B, MK_OP_RELU, 1, "x", b_input(&B, "x", MK_DT_FP32, 1, xd, x), NULL);
    REQUIRE(y);
    mk_ir_block_set_outputs(B.p, B.b, 1, &y);
    mk_run_options o = {0, 1, 0};
    mk_session *s = NULL;
    REQUIRE(mk_session_new(B.p, &o, &s, &B.e) == MK_OK);
    mk_tensor_list none = {0, NULL}, out;
    mk_err e = {0};
    CHECK(mk_session_run(s, &none, &out, NULL, &e) == MK_EINVAL);
    CHECK(strstr(e.msg, "input x") != NULL);
    REQUIRE(mk_session_run(s, &B.ins, &out, NULL, &B.e) == MK_OK);
    const float want[4] = {0, 2, 0, 4};
    for (int i = 0; i < 4; i++) CHECK_NEAR(((float *)out.items[0].data)[i], want[i], 0);
    mk_tensor_list_free(&out);
    mk_session_free(s);
    b_free(&B);
}

/* Sessions allocate through the program's allocator: with the Nth allocation of planning or a
 * run failing (N = 1, 2, ... until one run succeeds), every failure is MK_ENOMEM, nothing
 * leaks (ASan) and the successful run still gives the hand-computed answer. */
TEST(interp_session_allocation_failure_loop)
{
    const float x[6] = {-1, 2, -3, 4, 0.5f, -0.25f};
    const int64_t xd[2] = {2, 3};
    int done = 0;
    for (long n = 1; n < 20000 && !done; n++) {
        mk_failing_alloc fa;
        mk_failing_alloc_init(&fa, 0);
        bld B;
        b_init_alloc(&B, &fa.base);
        mk_value *xin = b_input(&B, "x", MK_DT_FP32, 2, xd, x);
        mk_value *r = op(&B, MK_OP_RELU, 1, "x", xin, NULL);
        mk_value *s = op(&B, MK_OP_SOFTMAX, 1, "x", r, "axis", cis(&B, -1), NULL);
        mk_value *m = op(&B, MK_OP_MUL, 1, "x", s, "y", xin, NULL);
        mk_value *c =
            op(&B, MK_OP_CONCAT, 1, "values", m, "axis", cis(&B, 0), "interleave", cb(&B, 0), NULL);
        REQUIRE(c && !B.oom && mk_ir_block_set_outputs(B.p, B.b, 1, &c));
        fa.calls = 0;
        fa.fail_at = n;
        mk_run_options o = {0, 1, 0};
        mk_session *sess = NULL;
        mk_tensor_list out = {0, NULL};
        mk_err e = {0};
        mk_status st = mk_session_new(B.p, &o, &sess, &e);
        for (int k = 0; k < 2 && st == MK_OK; k++) {
            mk_tensor_list_free(&out);
            st = mk_session_run(sess, &B.ins, &out, NULL, &e);
        }
        if (st == MK_OK) {
            done = 1;
            CHECK_MSG(n > 3, "planning and two runs allocated only %ld times", n - 1);
            REQUIRE(out.n == 1 && out.items[0].nbytes == 6 * sizeof(float));
            const float *y = out.items[0].data;
            for (int i = 0; i < 2; i++) {
                float a = x[3 * i] > 0 ? x[3 * i] : 0, b = x[3 * i + 1] > 0 ? x[3 * i + 1] : 0,
                      cc = x[3 * i + 2] > 0 ? x[3 * i + 2] : 0;
                float z = expf(a) + expf(b) + expf(cc);
                CHECK_NEAR(y[3 * i], expf(a) / z * x[3 * i], 1e-6);
                CHECK_NEAR(y[3 * i + 1], expf(b) / z * x[3 * i + 1], 1e-6);
                CHECK_NEAR(y[3 * i + 2], expf(cc) / z * x[3 * i + 2], 1e-6);
            }
        } else {
            CHECK_MSG(st == MK_ENOMEM, "allocation %ld failed with %s: %s", n, mk_status_name(st),
                      e.msg);
        }
        mk_tensor_list_free(&out);
        mk_session_free(sess);
        b_free(&B);
    }
    CHECK(done);
}
