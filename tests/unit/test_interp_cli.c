/* CLI tests for `milkit run` and `milkit verify`: help, outputs saved and re-read, median_ms
 * as the last line, exit codes 0/1/2, and one-line errors for bad tensor files. Uses the golden
 * packages of ../shared (skips with a message when absent). */
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "base/base.h"
#include "opsem_build.h"
#include "test.h"

static const char *golden(const char *name)
{
    static char buf[1024];
    const char *sh = mk_test_shared_dir();
    if (!sh) return NULL;
    snprintf(buf, sizeof buf, "%s/golden/%s", sh, name);
    return mk_path_exists(buf) ? buf : NULL;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

TEST(cli_run_verify_help)
{
    char out[8192];
    CHECK_EQ_INT(mk_test_sh(out, sizeof out, "%s run --help", mk_test_bin()), 0);
    CHECK(strstr(out, "--fp16-emulate") && strstr(out, "--repeat"));
    CHECK_EQ_INT(mk_test_sh(out, sizeof out, "%s verify -h", mk_test_bin()), 0);
    CHECK(strstr(out, "--ref") && strstr(out, "--atol"));
    CHECK_EQ_INT(mk_test_sh(out, sizeof out, "%s run", mk_test_bin()), 2);
    CHECK_EQ_INT(mk_test_sh(out, sizeof out, "%s run x.mlpackage --bogus", mk_test_bin()), 2);
    CHECK(strstr(out, "unknown option") != NULL);
}

TEST(cli_run_saves_outputs_and_times)
{
    const char *m = golden("d_mlp_linear_relu_softmax_fp32_ios17.mlpackage");
    if (!m) SKIP("../shared/golden not available");
    char out[16384], npz[512];
    snprintf(npz, sizeof npz, "%s/run_out.npz", mk_test_tmpdir());
    int rc = mk_test_sh(out, sizeof out, "%s run %s --seed 3 -j 1 -o %s --repeat 3", mk_test_bin(),
                        m, npz);
    REQUIRE(rc == 0);
    CHECK(strstr(out, "probs: [1, 10] fp32") != NULL);
    const char *last = out + strlen(out) - 1;
    while (last > out && last[-1] != '\n') last--;
    CHECK_MSG(strncmp(last, "median_ms: ", 11) == 0, "last line: %s", last);
    mk_tensor_list l;
    mk_err e = {0};
    REQUIRE(mk_npz_read(npz, &l, &e) == MK_OK);
    REQUIRE(l.n == 1);
    CHECK_STR(l.items[0].name, "probs");
    double sum = 0; /* softmax output: sums to 1 */
    for (int i = 0; i < 10; i++) sum += ((float *)l.items[0].data)[i];
    CHECK(sum > 0.999 && sum < 1.001);
    mk_tensor_list_free(&l);
    /* the saved outputs verify against a rerun with the same seed: exit 0 */
    rc = mk_test_sh(out, sizeof out, "%s verify %s --seed 3 --ref %s", mk_test_bin(), m, npz);
    CHECK_MSG(rc == 0, "%s", out);
    CHECK(strstr(out, "PASS") != NULL);
    /* a different seed gives different outputs: exit 1 with FAIL */
    rc = mk_test_sh(out, sizeof out, "%s verify %s --seed 4 --ref %s", mk_test_bin(), m, npz);
    CHECK_MSG(rc == 1, "%s", out);
    CHECK(strstr(out, "FAIL") && strstr(out, "worst"));
    /* JSON report */
    rc =
        mk_test_sh(out, sizeof out, "%s verify %s --seed 3 --ref %s --json", mk_test_bin(), m, npz);
    cJSON *j = cJSON_Parse(out);
    CHECK_MSG(rc == 0 && j && cJSON_IsTrue(cJSON_GetObjectItem(j, "pass")) &&
                  strstr(out, "\"cosine\""),
              "%s", out);
    cJSON_Delete(j);
}

TEST(cli_bad_tensor_files_exit_2_one_line)
{
    const char *m = golden("d_mlp_linear_relu_softmax_fp32_ios17.mlpackage");
    if (!m) SKIP("../shared/golden not available");
    const char *tmp = mk_test_tmpdir();
    char out[8192], path[512];
    /* not npy */
    snprintf(path, sizeof path, "%s/junk.npy", tmp);
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    fputs("definitely not numpy", f);
    fclose(f);
    int rc = mk_test_sh(out, sizeof out, "%s run %s -i x=%s", mk_test_bin(), m, path);
    CHECK_EQ_INT(rc, 2);
    CHECK_EQ_INT(count_lines(out), 1);
    CHECK(strstr(out, "not a .npy file") && strstr(out, path));
    /* wrong dtype and wrong shape for the model input (x: fp32 [1, 64] in golden d) */
    int32_t iv[16] = {0};
    mk_tensor t = {.name = "x", .dtype = 23, .rank = 2, .data = iv, .nbytes = sizeof iv};
    t.dims[0] = 1;
    t.dims[1] = 16;
    mk_err e = {0};
    snprintf(path, sizeof path, "%s/int.npy", tmp);
    REQUIRE(mk_npy_write(path, &t, &e) == MK_OK);
    rc = mk_test_sh(out, sizeof out, "%s run %s -i x=%s", mk_test_bin(), m, path);
    CHECK_EQ_INT(rc, 2);
    CHECK_EQ_INT(count_lines(out), 1);
    CHECK_MSG(strstr(out, "dtype") != NULL, "%s", out);
    float fv[7] = {0};
    mk_tensor u = {.name = "x", .dtype = 11, .rank = 2, .data = fv, .nbytes = sizeof fv};
    u.dims[0] = 1;
    u.dims[1] = 7;
    snprintf(path, sizeof path, "%s/short.npy", tmp);
    REQUIRE(mk_npy_write(path, &u, &e) == MK_OK);
    rc = mk_test_sh(out, sizeof out, "%s run %s -i x=%s", mk_test_bin(), m, path);
    CHECK_EQ_INT(rc, 2);
    CHECK_MSG(strstr(out, "shape [1, 7]") != NULL, "%s", out);
    /* truncated file */
    snprintf(path, sizeof path, "%s/trunc.npy", tmp);
    rc = mk_test_sh(out, sizeof out, "head -c 100 %s/short.npy > %s && %s run %s -i x=%s", tmp,
                    path, mk_test_bin(), m, path);
    CHECK_EQ_INT(rc, 2);
    CHECK(strstr(out, "truncated") != NULL);
    /* nothing to compare */
    rc = mk_test_sh(out, sizeof out, "%s verify %s", mk_test_bin(), m);
    CHECK_EQ_INT(rc, 2);
}

TEST(cli_verify_fp16_emulate_against_fp32)
{
    const char *m = golden("b_convtranspose1d_768to384_k7s3p2_fp32_ios17.mlpackage");
    if (!m) SKIP("../shared/golden not available");
    char out[8192];
    /* fp16 rounding of a 768-channel reduction: close but not within 1e-6 */
    int rc = mk_test_sh(out, sizeof out, "%s verify %s --fp16-emulate --atol 1e-6 --rtol 0",
                        mk_test_bin(), m);
    CHECK_MSG(rc == 1, "%s", out);
    rc = mk_test_sh(out, sizeof out, "%s verify %s --fp16-emulate --atol 0.05 --rtol 0.05",
                    mk_test_bin(), m);
    CHECK_MSG(rc == 0, "%s", out);
    CHECK(strstr(out, "cos 0.99") || strstr(out, "cos 1.0"));
}

/* OpenBLAS is opened by the interpreter on first use: lint never loads it, run does (glibc's
 * LD_DEBUG=libs lists every library it initialises). */
TEST(cli_openblas_loads_only_to_run)
{
    const char *m = "examples/vocoder_upsampler.onnx";
    if (!mk_path_exists(m)) SKIP("examples/ not in the working directory");
    char out[256];
    int rc = mk_test_sh(out, sizeof out,
                        "LD_DEBUG=libs %s lint %s 2>&1 >/dev/null | grep -c 'init: .*openblas'",
                        mk_test_bin(), m);
    CHECK_MSG(rc == 1 && atoi(out) == 0, "lint loaded OpenBLAS (%s)", out);
    rc = mk_test_sh(out, sizeof out,
                    "LD_DEBUG=libs %s run %s --seed 1 2>&1 >/dev/null | grep -c 'init: .*openblas'",
                    mk_test_bin(), m);
    CHECK_MSG(rc == 0 && atoi(out) >= 1, "run did not load OpenBLAS (%s)", out);
}

/* A package whose batch_norm takes an fp32 x with fp16 mean and variance (one type domain T
 * before iOS17): coremltools' fp32 op tests write such programs for iOS15 and Apple's loader
 * refuses them ("epsilon ... must have the same data type as ... mean"). run and verify refuse
 * it in one line naming the op, lint says so and still lists hazards; the same program with
 * fp32 parameters runs. */
static int save_batch_norm(const char *path, mk_dtype param_dt)
{
    bld B;
    b_init(&B, 15);
    const int64_t xd[4] = {1, 3, 2, 2}, cd[1] = {3};
    float xv[12] = {-16, 13, 11, -16, 13, -15, 13, 9, -9, -4, -6, 3};
    float mean[3] = {9, 6, 3}, var[3] = {6, 1, 7};
    mk_value *x = b_input(&B, "x", 4, xd, xv), *m, *v;
    if (param_dt == MK_DT_FP16) {
        uint16_t mh[3], vh[3];
        mk_f32_to_f16_n(mean, mh, 3);
        mk_f32_to_f16_n(var, vh, 3);
        mk_type t = mk_type_make(MK_DT_FP16, 1, cd);
        m = B.b ? mk_ir_const(B.p, B.b, "mean", &t, mh, sizeof mh, 0) : NULL;
        v = B.b ? mk_ir_const(B.p, B.b, "var", &t, vh, sizeof vh, 0) : NULL;
    } else {
        m = cf(&B, 1, cd, mean);
        v = cf(&B, 1, cd, var);
    }
    mk_op *bn =
        x && m && v ? op(&B, MK_OP_BATCH_NORM, 1, "x", x, "mean", m, "variance", v, NULL) : NULL;
    int ok = bn != NULL;
    if (ok) {
        mk_ir_block_set_outputs(B.p, B.b, 1, bn->outputs);
        ok = mk_program_save(B.p, path, MK_TARGET_DEFAULT, &B.e) == MK_OK;
    }
    b_free(&B);
    return ok;
}

TEST(cli_run_refuses_program_core_ml_cannot_load)
{
    char bad[512], good[512], out[8192];
    snprintf(bad, sizeof bad, "%s/bn_mixed.mlpackage", mk_test_tmpdir());
    snprintf(good, sizeof good, "%s/bn_fp32.mlpackage", mk_test_tmpdir());
    REQUIRE(save_batch_norm(bad, MK_DT_FP16));
    REQUIRE(save_batch_norm(good, MK_DT_FP32));
    int rc = mk_test_sh(out, sizeof out, "%s run %s", mk_test_bin(), bad);
    CHECK_MSG(rc == 2 && count_lines(out) == 1 && strstr(out, "not a valid ML Program") &&
                  strstr(out, "batch_norm") && strstr(out, "'mean' is fp16 but 'x' is fp32"),
              "rc %d: %s", rc, out);
    rc = mk_test_sh(out, sizeof out, "%s verify %s --fp16-emulate", mk_test_bin(), bad);
    CHECK_MSG(rc == 2 && strstr(out, "not a valid ML Program"), "rc %d: %s", rc, out);
    rc = mk_test_sh(out, sizeof out, "%s lint %s", mk_test_bin(), bad);
    CHECK_MSG(rc == 1 && strstr(out, "error: not a valid ML Program") && strstr(out, "finding"),
              "rc %d: %s", rc, out);
    rc = mk_test_sh(out, sizeof out, "%s run %s", mk_test_bin(), good);
    CHECK_MSG(rc == 0 && strstr(out, "[1, 3, 2, 2] fp32"), "rc %d: %s", rc, out);
}
