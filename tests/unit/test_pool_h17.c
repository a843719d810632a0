/* H17: ONNX AveragePool with ceil_mode, where the last window hangs past the padded input.
 * ONNX divides by the elements the window covers (pads counted with count_include_pad=1, the
 * overhang never); MIL avg_pool counts the overhang as padding. The converted model, run by
 * the interpreter (which follows MIL), must match a naive ONNX-semantics loop. */
#include <math.h>

#include "test.h"
#include "test_onnx_build.h"

/* ONNX AveragePool reference: 2-D, one channel, square kernel/stride, symmetric pad p. */
static void onnx_avg_pool(const float *x, int H, int W, int k, int s, int p, int include_pad,
                          float *y, int OH, int OW)
{
    for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
            int h0 = oh * s - p, w0 = ow * s - p;
            double acc = 0;
            int cnt = 0;
            for (int i = h0; i < h0 + k; i++)
                for (int j = w0; j < w0 + k; j++) {
                    int in_pad = i >= -p && i < H + p && j >= -p && j < W + p;
                    int in_x = i >= 0 && i < H && j >= 0 && j < W;
                    if (in_x) acc += x[i * W + j];
                    cnt += include_pad ? in_pad : in_x;
                }
            y[oh * OW + ow] = (float)(acc / cnt);
        }
}

static void check_case(mk_test_ctx *tc, int include_pad)
{
    enum { H = 6, W = 6, K = 3, S = 2, P = 1 };
    const int OH = 4, OW = 4; /* ceil((6 + 2 - 3) / 2) + 1 = 4: the last window overhangs */
    ob b;
    ob_init(&b, 13);
    int64_t xd[4] = {1, 1, H, W};
    ob_input(&b, "x", 1, 4, xd);
    Onnx__NodeProto *n = ob_node(&b, "AveragePool", "x", "y");
    ob_attr_ints(&b, n, "kernel_shape", 2, (int64_t[]){K, K});
    ob_attr_ints(&b, n, "strides", 2, (int64_t[]){S, S});
    ob_attr_ints(&b, n, "pads", 4, (int64_t[]){P, P, P, P});
    ob_attr_i(&b, n, "ceil_mode", 1);
    ob_attr_i(&b, n, "count_include_pad", include_pad);
    ob_output(&b, "y");
    mk_program *p = NULL;
    mk_err e = {0};
    mk_convert_options o;
    memset(&o, 0, sizeof o);
    if (ob_import(&b, &o, &p, &e) != MK_OK) {
        ob_free(&b);
        CHECK_MSG(0, "import: %s", e.msg);
        return;
    }
    float xv[H * W], ref[16];
    for (int i = 0; i < H * W; i++) xv[i] = (float)(i % 7) - 2.5f;
    onnx_avg_pool(xv, H, W, K, S, P, include_pad, ref, OH, OW);
    mk_tensor in = {(char *)"x", 11, 4, {1, 1, H, W}, xv, sizeof xv};
    mk_tensor_list ins = {1, &in}, outs = {0, NULL};
    mk_run_options ro = {0, 1, 1};
    if (mk_run(p, &ro, &ins, &outs, &e) != MK_OK) {
        CHECK_MSG(0, "run: %s", e.msg);
    } else {
        REQUIRE(outs.n == 1 && outs.items[0].nbytes == sizeof ref);
        const float *y = outs.items[0].data;
        for (int i = 0; i < OH * OW; i++)
            CHECK_MSG(fabsf(y[i] - ref[i]) <= 1e-6f, "include_pad=%d y[%d]=%g want %g", include_pad,
                      i, y[i], ref[i]);
    }
    if (include_pad) CHECK_EQ_INT(ob_count(p, MK_OP_PAD), 1);
    mk_tensor_list_free(&outs);
    mk_program_free(p);
    ob_free(&b);
}

TEST(onnx_avg_pool_ceil_overhang_count_include_pad)
{
    check_case(tc, 1);
}

TEST(onnx_avg_pool_ceil_overhang_exclude_pad)
{
    check_case(tc, 0);
}
