/* fp16 calibration of a program holding a KV cache as iOS18 state (convert --context): the
 * seeded runs are consecutive steps from an empty cache (cache_length 0, 1), each program on
 * its own state, so calibration runs instead of being skipped. A tiny cache model whose new
 * entries are 30000·x (beyond 65504/4 for |x| > 0.55) keeps that multiply fp32; with -i
 * samples the steps given are measured as one stream. */
#include <stdio.h>
#include <string.h>

#include "test.h"
#include "test_onnx_build.h"

/* x [1,2,1,4], past [1,2,P,4] -> y = ReduceMean(present, axis 2), present = Concat(past, k·x) */
static int write_model(const char *path, float k)
{
    ob b;
    ob_init(&b, 13);
    ob_input(&b, "x", 1, 4, (const int64_t[]){1, 2, 1, 4});
    ob_input(&b, "past", 1, 4, (const int64_t[]){1, 2, -1, 4});
    ob_init_f(&b, "k", 0, NULL, &k);
    ob_node(&b, "Mul", "x,k", "nw");
    Onnx__NodeProto *n = ob_node(&b, "Concat", "past,nw", "present");
    ob_attr_i(&b, n, "axis", 2);
    n = ob_node(&b, "ReduceMean", "present", "y");
    ob_attr_ints(&b, n, "axes", 1, (const int64_t[]){2});
    ob_attr_i(&b, n, "keepdims", 1);
    ob_output(&b, "y");
    ob_output(&b, "present");
    ob_pack(&b);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(b.packed, 1, b.packed_len, f) == b.packed_len;
    if (f) ok &= fclose(f) == 0;
    ob_free(&b);
    return ok;
}

static mk_status conv(const char *onnx, const char *pkg, const mk_tensor_list *samples, int n,
                      mk_convert_report *rep, mk_err *e)
{
    mk_convert_options co;
    memset(&co, 0, sizeof co);
    co.target = MK_TARGET_IOS18;
    mk_pipeline_options po;
    memset(&po, 0, sizeof po);
    po.fix = 1;
    po.fp16 = 1;
    po.context = 8;
    po.samples = samples;
    po.n_samples = n;
    memset(rep, 0, sizeof *rep);
    return mk_convert(onnx, pkg, &co, &po, rep, e);
}

TEST(kv_calib_seeded_stream_keeps_overflowing_op_fp32)
{
    char onnx[600], pkg[600];
    snprintf(onnx, sizeof onnx, "%s/kv_calib_big.onnx", mk_test_tmpdir());
    snprintf(pkg, sizeof pkg, "%s/kv_calib_big.mlpackage", mk_test_tmpdir());
    REQUIRE(write_model(onnx, 30000.0f));
    mk_convert_report rep;
    mk_err e = {MK_OK, ""};
    REQUIRE(conv(onnx, pkg, NULL, 0, &rep, &e) == MK_OK);
    CHECK_MSG(rep.calib_source == 2 && rep.n_calib_inputs == 2,
              "calibration source %d on %d runs (note: %s)", rep.calib_source, rep.n_calib_inputs,
              rep.calib_note);
    CHECK_MSG(!strstr(rep.calib_note, "skipped"), "%s", rep.calib_note);
    CHECK_MSG(rep.n_calib_kept >= 1, "%d ops kept fp32 (the 30000x multiply overflows)",
              rep.n_calib_kept);
    /* a harmless factor: calibrated, nothing kept */
    snprintf(onnx, sizeof onnx, "%s/kv_calib_small.onnx", mk_test_tmpdir());
    snprintf(pkg, sizeof pkg, "%s/kv_calib_small.mlpackage", mk_test_tmpdir());
    REQUIRE(write_model(onnx, 2.0f));
    REQUIRE(conv(onnx, pkg, NULL, 0, &rep, &e) == MK_OK);
    CHECK_MSG(rep.calib_source == 2 && rep.n_calib_kept == 0, "source %d, %d kept",
              rep.calib_source, rep.n_calib_kept);
}

TEST(kv_calib_samples_are_steps_of_one_stream)
{
    char onnx[600], pkg[600];
    snprintf(onnx, sizeof onnx, "%s/kv_calib_s.onnx", mk_test_tmpdir());
    snprintf(pkg, sizeof pkg, "%s/kv_calib_s.mlpackage", mk_test_tmpdir());
    REQUIRE(write_model(onnx, 2.0f));
    /* three steps: x, and the cache_length input the conversion adds (0, 1, 2) */
    enum { STEPS = 3 };
    float x[STEPS][8];
    int32_t len[STEPS];
    mk_tensor t[STEPS][2];
    mk_tensor_list l[STEPS];
    for (int s = 0; s < STEPS; s++) {
        for (int j = 0; j < 8; j++) x[s][j] = 0.1f * (float)(j - 3 * s);
        len[s] = s;
        t[s][0] = (mk_tensor){(char *)"x", 11, 4, {1, 2, 1, 4}, x[s], sizeof x[s]};
        t[s][1] = (mk_tensor){(char *)"cache_length", 23, 1, {1}, &len[s], 4};
        l[s] = (mk_tensor_list){2, t[s]};
    }
    mk_convert_report rep;
    mk_err e = {MK_OK, ""};
    CHECK_MSG(conv(onnx, pkg, l, STEPS, &rep, &e) == MK_OK, "%s", e.msg);
    CHECK_MSG(rep.calib_source == 1 && rep.n_calib_inputs == STEPS, "source %d on %d runs: %s",
              rep.calib_source, rep.n_calib_inputs, rep.calib_note);
    CHECK_MSG(rep.n_precision >= 1 && rep.precision[0].max_abs < 1e-2, "%d rows, y max abs %g",
              rep.n_precision, rep.n_precision ? rep.precision[0].max_abs : -1.0);
}
