/* ONNX Loop with a run-time trip count and scan outputs (src/onnx/lower_loop.c): a MIL
 * while_loop carrying one dynamic list per scan output, gathered after the loop; run for
 * several trip counts (0 included) against the loop computed here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "onnx/onnx_int.h"
#include "test.h"
#include "test_onnx_build.h"
#include "test_onnx_run.h"

/* y = y * 0.5 + x for M iterations; scans: y*y ([1,3] per step) and sum(y) (a scalar). */
TEST(onnx_loop_runtime_trip_with_scan_outputs)
{
    ob b;
    ob_init(&b, 13);
    int64_t d[2] = {1, 3};
    ob_input(&b, "x", 1, 2, d);
    ob_input(&b, "M", 7, 0, NULL);
    uint8_t yes = 1;
    b.g->initializer[b.g->n_initializer++] = ob_tensor(&b, "cond", 9, 0, NULL, &yes, 1);
    Onnx__NodeProto *n = ob_node(&b, "Loop", "M,cond,x", "y,sq,sum");
    ob_begin_graph(&b, n, "body");
    ob_input(&b, "i", 7, 0, NULL);
    ob_input(&b, "cin", 9, 0, NULL);
    ob_input(&b, "y_in", 1, 2, d);
    float half = 0.5f;
    ob_init_f(&b, "half", 0, NULL, &half);
    ob_node(&b, "Mul", "y_in,half", "t");
    ob_node(&b, "Add", "t,x", "y_out");
    ob_node(&b, "Mul", "y_out,y_out", "sq_out");
    Onnx__NodeProto *rs = ob_node(&b, "ReduceSum", "y_out", "sum_out");
    ob_attr_i(&b, rs, "keepdims", 0);
    ob_output(&b, "cin");
    ob_output(&b, "y_out");
    ob_output(&b, "sq_out");
    ob_output(&b, "sum_out");
    ob_end_graph(&b);
    ob_output(&b, "y");
    ob_output(&b, "sq");
    ob_output(&b, "sum");
    mk_program *p = imp(tc, &b, NULL);
    if (p) {
        CHECK_EQ_INT(ob_count(p, MK_OP_WHILE_LOOP), 1);
        CHECK_EQ_INT(ob_count(p, MK_OP_LIST_GATHER), 2);
        for (int32_t m = 0; m <= 6; m += 3) {
            float x[3] = {1, -2, 0.25f}, v[3] = {1, -2, 0.25f}, sq[6 * 3], sum[6], y[3];
            float gsq[6 * 3], gsum[6];
            for (int it = 0; it < m; it++) {
                sum[it] = 0;
                for (int j = 0; j < 3; j++) {
                    v[j] = v[j] * 0.5f + x[j];
                    sq[it * 3 + j] = v[j] * v[j];
                    sum[it] += v[j];
                }
            }
            memcpy(y, v, sizeof y);
            const void *ins[2] = {x, &m};
            float gy[3];
            if (run_k(tc, p, 2, ins, 0, gy, sizeof gy))
                for (int j = 0; j < 3; j++)
                    CHECK_MSG(fabsf(gy[j] - y[j]) < 1e-5f, "M=%d: y[%d] = %g, want %g", m, j, gy[j],
                              y[j]);
            if (run_k(tc, p, 2, ins, 1, gsq, (size_t)m * 12))
                for (int k = 0; k < m * 3; k++)
                    CHECK_MSG(fabsf(gsq[k] - sq[k]) < 1e-5f, "M=%d: sq[%d] = %g, want %g", m, k,
                              gsq[k], sq[k]);
            if (run_k(tc, p, 2, ins, 2, gsum, (size_t)m * 4))
                for (int k = 0; k < m; k++)
                    CHECK_MSG(fabsf(gsum[k] - sum[k]) < 1e-5f, "M=%d: sum[%d] = %g, want %g", m, k,
                              gsum[k], sum[k]);
        }
        mk_ir_program_free(p);
    }
    ob_free(&b);
}
