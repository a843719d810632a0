/* conv_quantized (coremltools iOS15 conv.py, experimental): weight dequantized as
 * quant_scale * q + quant_bias per output channel, a uint8 bias, nbits bounds, the refused
 * "lut" form, a package round trip, and equality with conv on the dequantized weights (random
 * inputs, groups, strides, dilations, custom padding). */
#include <math.h>

#include "interp/interp_int.h"
#include "test.h"

#include "opsem_build.h"

static mk_value *cu8(bld *B, int rank, const int64_t *dims, const uint8_t *v)
{
    mk_type t = mk_type_make(MK_DT_UINT8, rank, dims);
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
    return mk_ir_const(B->p, B->b, "q", &t, v, n, 0);
}

static mk_status run1(bld *B, mk_value *out, mk_tensor_list *res)
{
    mk_ir_block_set_outputs(B->p, B->b, 1, &out);
    memset(&B->e, 0, sizeof B->e);
    mk_status st = mk_ir_verify(B->p, &B->e);
    mk_run_options ro = {0, 1, 0};
    if (!st) st = mk_run(B->p, &ro, &B->ins, res, &B->e);
    if (st) printf("  %s\n", B->e.msg);
    return st;
}

/* x = 1..9 (3x3), q = [0 1; 2 3] and [3 2; 1 0], scale (0.5, 2), quant_bias (-1, 0.25), so
 * W = [-1 -0.5; 0 0.5] and [6.25 4.25; 2.25 0.25]; bias (10, 20) as uint8. Valid 2x2 conv:
 * e.g. ch0 (0,0) = 1*-1 + 2*-0.5 + 4*0 + 5*0.5 + 10 = 10.5. */
static mk_op *hand_case(bld *B, const char *qtype, int nbits, const uint8_t *q, int nscale)
{
    static const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    static const float sc[2] = {0.5f, 2}, qb[2] = {-1, 0.25f};
    static const uint8_t bias[2] = {10, 20};
    static const int64_t xd[4] = {1, 1, 3, 3}, wd[4] = {2, 1, 2, 2}, bd[1] = {2};
    int64_t sd[1] = {nscale};
    return op(B, MK_OP_CONV_QUANTIZED, 1, "x", b_input(B, "x", 4, xd, x), "weight",
              cu8(B, 4, wd, q), "bias", cu8(B, 1, bd, bias), "quantization_type", cs(B, qtype),
              "nbits", cis(B, nbits), "quant_scale", cf(B, 1, sd, sc), "quant_bias",
              cf(B, 1, sd, qb), NULL);
}

TEST(opsem_conv_quantized_linear)
{
    static const uint8_t q[8] = {0, 1, 2, 3, 3, 2, 1, 0};
    static const float want[8] = {10.5f, 9.5f, 7.5f, 6.5f, 45, 58, 84, 97};
    bld B;
    b_init(&B, 15);
    mk_op *o = hand_case(&B, "linear", 2, q, 2);
    REQUIRE(o);
    CHECK_EQ_INT(o->outputs[0]->type.dims[1], 2);
    CHECK_EQ_INT(o->outputs[0]->type.dims[2], 2);
    mk_tensor_list res = {0};
    REQUIRE(run1(&B, o->outputs[0], &res) == MK_OK);
    REQUIRE(res.n == 1 && res.items[0].nbytes == sizeof want);
    const float *g = res.items[0].data;
    for (int i = 0; i < 8; i++)
        CHECK_MSG(fabsf(g[i] - want[i]) < 1e-5f, "out[%d] = %g, expected %g", i, (double)g[i],
                  (double)want[i]);
    mk_tensor_list_free(&res);

    /* the package keeps the op: saved, read back, verified, same numbers */
    char path[1024];
    snprintf(path, sizeof path, "%s/convq.mlpackage", mk_test_tmpdir());
    REQUIRE(mk_program_save(B.p, path, MK_TARGET_DEFAULT, &B.e) == MK_OK);
    mk_program *p2 = NULL;
    REQUIRE(mk_program_load(path, NULL, &p2, &B.e) == MK_OK);
    CHECK(mk_program_verify(p2, &B.e) == MK_OK);
    mk_run_options ro = {0, 1, 0};
    REQUIRE(mk_run(p2, &ro, &B.ins, &res, &B.e) == MK_OK);
    CHECK(res.n == 1 && res.items[0].nbytes == sizeof want);
    const float *g2 = res.items[0].data;
    for (int i = 0; i < 8 && res.items[0].nbytes == sizeof want; i++)
        CHECK_MSG(fabsf(g2[i] - want[i]) < 1e-5f, "reloaded out[%d] = %g", i, (double)g2[i]);
    mk_tensor_list_free(&res);
    mk_program_free(p2);
    b_free(&B);
}

TEST(opsem_conv_quantized_refusals)
{
    static const uint8_t q[8] = {0, 1, 2, 3, 3, 2, 1, 0};
    bld B;
    /* "lut" names no table in the op's definition: refused by the type rule */
    b_init(&B, 15);
    CHECK(!hand_case(&B, "lut", 2, q, 2));
    CHECK(strstr(B.e.msg, "lut") != NULL);
    b_free(&B);
    /* nbits outside [1, 8] */
    b_init(&B, 15);
    CHECK(!hand_case(&B, "linear", 9, q, 2));
    b_free(&B);
    /* a weight value of 3 does not fit nbits = 1: a run-time error, not a wrong number */
    b_init(&B, 15);
    mk_op *o = hand_case(&B, "linear", 1, q, 2);
    REQUIRE(o);
    mk_tensor_list res = {0};
    CHECK(run1(&B, o->outputs[0], &res) != MK_OK);
    CHECK(strstr(B.e.msg, "nbits") != NULL);
    mk_tensor_list_free(&res);
    b_free(&B);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng >> 40) & 0xffffff) / 16777216.0f * 2 - 1;
}

/* conv_quantized equals conv on W = scale * q + quant_bias computed here, on random inputs */
TEST(opsem_conv_quantized_equals_conv)
{
    enum { CO = 6, CI = 4, G = 2, KH = 3, KW = 2, NW = CO * (CI / G) * KH * KW };
    static const int64_t xd[4] = {2, CI, 7, 6}, wd[4] = {CO, CI / G, KH, KW}, cd[1] = {CO};
    float x[2 * CI * 7 * 6], w[NW], sc[CO], qb[CO], bias[CO];
    uint8_t q[NW], bq[CO];
    for (int i = 0; i < 2 * CI * 7 * 6; i++) x[i] = frand();
    for (int c = 0; c < CO; c++) {
        sc[c] = 0.01f + fabsf(frand()) * 0.2f;
        qb[c] = frand();
        bq[c] = (uint8_t)(c * 7);
        bias[c] = (float)bq[c];
    }
    for (int i = 0; i < NW; i++) {
        q[i] = (uint8_t)((frand() + 1) * 7.99f); /* 0..15: nbits 4 */
        int c = i / (NW / CO);
        w[i] = sc[c] * (float)q[i] + qb[c];
    }
    static const int32_t strides[2] = {2, 1}, dil[2] = {1, 2}, pad[4] = {1, 0, 2, 1};
    mk_tensor_list r[2] = {{0}, {0}};
    for (int v = 0; v < 2; v++) {
        bld B;
        b_init(&B, 15);
        mk_value *xv = b_input(&B, "x", 4, xd, x);
        mk_op *o =
            v ? op(&B, MK_OP_CONV_QUANTIZED, 1, "x", xv, "weight", cu8(&B, 4, wd, q), "bias",
                   cu8(&B, 1, cd, bq), "quantization_type", cs(&B, "linear"), "nbits", cis(&B, 4),
                   "quant_scale", cf(&B, 1, cd, sc), "quant_bias", cf(&B, 1, cd, qb), "strides",
                   ci(&B, 2, strides), "dilations", ci(&B, 2, dil), "pad_type", cs(&B, "custom"),
                   "pad", ci(&B, 4, pad), "groups", cis(&B, G), NULL)
              : op(&B, MK_OP_CONV, 1, "x", xv, "weight", cf(&B, 4, wd, w), "bias",
                   cf(&B, 1, cd, bias), "strides", ci(&B, 2, strides), "dilations", ci(&B, 2, dil),
                   "pad_type", cs(&B, "custom"), "pad", ci(&B, 4, pad), "groups", cis(&B, G), NULL);
        REQUIRE(o);
        REQUIRE(run1(&B, o->outputs[0], &r[v]) == MK_OK);
        b_free(&B);
    }
    REQUIRE(r[0].n == 1 && r[1].n == 1 && r[0].items[0].nbytes == r[1].items[0].nbytes);
    size_t n = r[0].items[0].nbytes / 4;
    CHECK(n > 0);
    const float *a = r[0].items[0].data, *b = r[1].items[0].data;
    float worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmaxf(worst, fabsf(a[i] - b[i]));
    CHECK_MSG(worst <= 1e-5f, "max |conv - conv_quantized| = %g", (double)worst);
    mk_tensor_list_free(&r[0]);
    mk_tensor_list_free(&r[1]);
}
