/* Conv weights packed once per session (mk_kcache): a session's second run gives the bits of
 * its first and of a fresh session; a conv whose weight is a run-time input (not a constant)
 * is packed every run, so new weights in the same session give new, correct outputs. */
#include <math.h>
#include <stdlib.h>

#include "base/base.h"
#include "interp/k_conv_direct.h"
#include "test.h"

#include "opsem_build.h"

enum { CI = 6, CO = 11, H = 9, W = 20, K = 3 };

/* 3x3 conv, pad 1, relu, weight w (or the input "w" when w_in): the session's program. */
static void build(bld *B, const float *x, const float *w, int w_in)
{
    b_init(B, 17);
    int64_t xd[4] = {1, CI, H, W}, wd[4] = {CO, CI, K, K};
    int32_t one[2] = {1, 1}, pd[4] = {1, 1, 1, 1};
    mk_value *xv = b_input(B, "x", 4, xd, x);
    mk_value *wv = w_in ? b_input(B, "w", 4, wd, w) : cf(B, 4, wd, w);
    mk_op *o = op(B, MK_OP_CONV, 1, "x", xv, "weight", wv, "strides", ci(B, 2, one), "dilations",
                  ci(B, 2, one), "pad_type", cs(B, "custom"), "pad", ci(B, 4, pd), "groups",
                  cis(B, 1), NULL);
    mk_op *r = o ? op(B, MK_OP_RELU, 1, "x", o->outputs[0], NULL) : NULL;
    if (r) mk_ir_block_set_outputs(B->p, B->b, 1, &r->outputs[0]);
}

static double ref_at(const float *x, const float *w, int co, int oy, int ox)
{
    double acc = 0;
    for (int c = 0; c < CI; c++)
        for (int a = 0; a < K; a++)
            for (int b = 0; b < K; b++) {
                int iy = oy + a - 1, ix = ox + b - 1;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                acc += (double)x[(c * H + iy) * W + ix] * w[((co * CI + c) * K + a) * K + b];
            }
    return acc < 0 ? 0 : acc;
}

static size_t bad_vs_ref(const float *o, const float *x, const float *w)
{
    size_t bad = 0;
    for (int co = 0; co < CO; co++)
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++) {
                double r = ref_at(x, w, co, y, xx);
                bad += fabs(o[(co * H + y) * W + xx] - r) > 1e-5 + 1e-5 * fabs(r);
            }
    return bad;
}

TEST(interp_conv_packed_weights_kept_per_session)
{
    float x[CI * H * W], w[CO * CI * K * K], w2[CO * CI * K * K];
    unsigned s = 5;
    for (size_t i = 0; i < sizeof x / 4; i++) x[i] = b_rand(&s);
    for (size_t i = 0; i < sizeof w / 4; i++) w[i] = 0.3f * b_rand(&s), w2[i] = 0.3f * b_rand(&s);
    if (mk_conv_direct_level() < 1) printf("      no AVX2/FMA here: the im2col path runs\n");
    mk_run_options ro = {0, 1, 0};
    /* constant weight: runs 1 and 2 of one session and a fresh session agree bit for bit */
    bld B;
    build(&B, x, w, 0);
    mk_session *ss = NULL;
    mk_tensor_list o1 = {0, NULL}, o2 = {0, NULL}, o3 = {0, NULL};
    REQUIRE(mk_session_new(B.p, &ro, &ss, &B.e) == MK_OK);
    CHECK(mk_session_run(ss, &B.ins, &o1, NULL, &B.e) == MK_OK);
    CHECK(mk_session_run(ss, &B.ins, &o2, NULL, &B.e) == MK_OK);
    mk_session_free(ss);
    ss = NULL;
    REQUIRE(mk_session_new(B.p, &ro, &ss, &B.e) == MK_OK);
    CHECK(mk_session_run(ss, &B.ins, &o3, NULL, &B.e) == MK_OK);
    mk_session_free(ss);
    if (o1.n == 1 && o2.n == 1 && o3.n == 1) {
        CHECK(!memcmp(o1.items[0].data, o2.items[0].data, o1.items[0].nbytes));
        CHECK(!memcmp(o1.items[0].data, o3.items[0].data, o1.items[0].nbytes));
        CHECK_EQ_INT((int)bad_vs_ref(o2.items[0].data, x, w), 0);
    }
    mk_tensor_list_free(&o1);
    mk_tensor_list_free(&o2);
    mk_tensor_list_free(&o3);
    b_free(&B);
    /* the weight an input: a second run with other weights must not see the first's */
    build(&B, x, w, 1);
    ss = NULL;
    REQUIRE(mk_session_new(B.p, &ro, &ss, &B.e) == MK_OK);
    CHECK(mk_session_run(ss, &B.ins, &o1, NULL, &B.e) == MK_OK);
    REQUIRE(B.ins.n == 2);
    memcpy(B.ins.items[1].data, w2, sizeof w2);
    CHECK(mk_session_run(ss, &B.ins, &o2, NULL, &B.e) == MK_OK);
    mk_session_free(ss);
    if (o1.n == 1 && o2.n == 1) {
        CHECK_EQ_INT((int)bad_vs_ref(o1.items[0].data, x, w), 0);
        CHECK_EQ_INT((int)bad_vs_ref(o2.items[0].data, x, w2), 0);
    }
    mk_tensor_list_free(&o1);
    mk_tensor_list_free(&o2);
    b_free(&B);
}
