/* fp16 calibration in convert: a tiny model whose middle op overflows fp16 only for large
 * inputs stays fp16 without large samples (and then gives inf), and is kept fp32 with them
 * (finite, matching fp32); the report names the op, the value and the bound, and gives no
 * cosine for small outputs; bad samples are a clean error; a package keeps its precision
 * unless fp16 is asked for. */
#include <math.h>
#include <stdlib.h>

#include "test.h"
#include "test_onnx_build.h"

#define N 8

/* y = relu(x * 1000) * 0.001 + x: |x * 1000| leaves fp16 once |x| > 65.5. */
static int write_tiny(const char *path)
{
    ob b;
    ob_init(&b, 13);
    int64_t d[2] = {1, N}, one[1] = {1};
    float k1 = 1000.0f, k2 = 0.001f;
    ob_input(&b, "x", 1, 2, d);
    ob_init_f(&b, "k1", 1, one, &k1);
    ob_init_f(&b, "k2", 1, one, &k2);
    ob_node(&b, "Mul", "x,k1", "big");
    ob_node(&b, "Relu", "big", "r");
    ob_node(&b, "Mul", "r,k2", "s");
    ob_node(&b, "Add", "s,x", "y");
    ob_output(&b, "y");
    ob_pack(&b);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(b.packed, 1, b.packed_len, f) == b.packed_len;
    if (f) ok &= fclose(f) == 0;
    ob_free(&b);
    return ok;
}

static void fill_x(mk_tensor_list *l, unsigned seed, float scale)
{
    memset(l, 0, sizeof *l);
    mk_tensor t;
    memset(&t, 0, sizeof t);
    t.name = mk_strdup_default("x");
    t.dtype = 11;
    t.rank = 2;
    t.dims[0] = 1;
    t.dims[1] = N;
    t.nbytes = N * 4;
    t.data = malloc(t.nbytes);
    for (int i = 0; i < N; i++) {
        seed = seed * 1664525u + 1013904223u;
        ((float *)t.data)[i] = ((float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f) * scale;
    }
    mk_err e = {0};
    mk_tensor_list_push(l, &t, &e);
}

/* Worst |a-b| - (1e-2 + 1e-2|b|) over the outputs (> 0: beyond), inf when a is not finite. */
static double excess(const mk_tensor *a, const mk_tensor *b)
{
    double worst = -1;
    for (size_t i = 0; i < b->nbytes / 4; i++) {
        double x = ((const float *)a->data)[i], y = ((const float *)b->data)[i];
        if (!isfinite(x)) return INFINITY;
        double d = fabs(x - y) - (1e-2 + 1e-2 * fabs(y));
        if (d > worst) worst = d;
    }
    return worst;
}

static int has_fp16(const char *pkg)
{
    mk_program *p = NULL;
    mk_err e = {0};
    if (mk_program_load(pkg, NULL, &p, &e) != MK_OK) return -1;
    FILE *f = tmpfile();
    int found = -1;
    if (f && mk_program_print(p, f, &e) == MK_OK) {
        rewind(f);
        char line[4096];
        found = 0;
        while (!found && fgets(line, sizeof line, f)) found = strstr(line, "fp16") != NULL;
    }
    if (f) fclose(f);
    mk_program_free(p);
    return found;
}

TEST(fp16_calib_keeps_overflowing_op_fp32)
{
    char onnx[1024], seeded[1100], calib[1100];
    snprintf(onnx, sizeof onnx, "%s/calib_tiny.onnx", mk_test_tmpdir());
    snprintf(seeded, sizeof seeded, "%s/calib_seeded.mlpackage", mk_test_tmpdir());
    snprintf(calib, sizeof calib, "%s/calib_large.mlpackage", mk_test_tmpdir());
    REQUIRE(write_tiny(onnx));
    mk_pipeline_options po;
    memset(&po, 0, sizeof po);
    po.fp16 = 1;
    po.fix = 1;
    mk_convert_report rep;
    mk_err e = {0};
    /* seeded inputs in [-1, 1]: |x * 1000| <= 1000 stays fp16, with a warning naming the op */
    REQUIRE(mk_convert(onnx, seeded, NULL, &po, &rep, &e) == MK_OK);
    CHECK_EQ_INT(rep.calib_source, 2);
    CHECK_EQ_INT(rep.n_calib_kept, 0);
    CHECK_MSG(strstr(rep.calib_note, "overflow possible: op big (mul)") != NULL, "note: %s",
              rep.calib_note);
    /* large samples: the mul and its reader stay fp32 */
    mk_tensor_list samples[3], test, ref, got;
    for (int i = 0; i < 3; i++) fill_x(&samples[i], 11u + (unsigned)i, 100.0f);
    po.samples = samples;
    po.n_samples = 3;
    REQUIRE(mk_convert(onnx, calib, NULL, &po, &rep, &e) == MK_OK);
    CHECK_EQ_INT(rep.calib_source, 1);
    CHECK_EQ_INT(rep.n_calib_inputs, 3);
    int found = 0;
    for (int i = 0; i < rep.n_calib_kept && i < 32; i++)
        if (!strcmp(rep.calib[i].op, "big")) {
            found = 1;
            CHECK_STR(rep.calib[i].op_type, "mul");
            CHECK_EQ_INT(rep.calib[i].error, 0);
            CHECK(rep.calib[i].seen > 65504.0 && rep.calib[i].seen <= 100000.0);
            CHECK(fabs(rep.calib[i].bound - 65504.0 / 4) < 1e-9);
        }
    CHECK(found);
    CHECK_EQ_INT(rep.n_precision, 1);
    CHECK_EQ_INT((long long)rep.precision[0].size, N);
    CHECK_EQ_INT((long long)rep.precision[0].numel, 3 * N);
    CHECK(isnan(rep.precision[0].cosine)); /* fewer than 16 values: no cosine */
    CHECK_EQ_INT((long long)rep.precision[0].n_bad, 0);
    CHECK(rep.precision[0].snr_db > 40);
    CHECK(rep.calib_note[0] == 0);
    /* a new large input: fp32 reference, the seeded package overflows, the calibrated one not */
    fill_x(&test, 99u, 90.0f);
    for (int i = 0; i < N; i++) /* beyond 65.5 where the mul leaves fp16, below the samples' 100 */
        ((float *)test.items[0].data)[i] = (i % 2 ? -1.0f : 1.0f) * (70.0f + 3.0f * (float)i);
    mk_program *p32 = NULL, *ps = NULL, *pc = NULL;
    REQUIRE(mk_model_load(onnx, NULL, NULL, &p32, &e) == MK_OK);
    mk_run_options o = {0, 1, 0}, emu = {1, 1, 0};
    REQUIRE(mk_run(p32, &o, &test, &ref, &e) == MK_OK);
    REQUIRE(mk_program_load(seeded, NULL, &ps, &e) == MK_OK);
    REQUIRE(mk_run(ps, &emu, &test, &got, &e) == MK_OK);
    CHECK(isinf(excess(&got.items[0], &ref.items[0])));
    mk_tensor_list_free(&got);
    REQUIRE(mk_program_load(calib, NULL, &pc, &e) == MK_OK);
    mk_run_report rr;
    REQUIRE(mk_run_ex(pc, &emu, &test, &got, &rr, &e) == MK_OK);
    double ex = excess(&got.items[0], &ref.items[0]);
    CHECK_MSG(ex <= 0, "calibrated package beyond 1e-2 + 1e-2|ref| by %g", ex);
    CHECK_MSG(rr.warning[0] == 0, "%s", rr.warning);
    CHECK(has_fp16(calib) == 1); /* the rest stays fp16 */
    mk_tensor_list_free(&got);
    mk_tensor_list_free(&ref);
    mk_tensor_list_free(&test);
    for (int i = 0; i < 3; i++) mk_tensor_list_free(&samples[i]);
    mk_program_free(pc);
    mk_program_free(ps);
    mk_program_free(p32);
}

TEST(fp16_calib_cli_samples_and_bad_samples)
{
    const char *tmp = mk_test_tmpdir();
    char onnx[1024], dir[1024], path[1200], out[8192];
    snprintf(onnx, sizeof onnx, "%s/calib_cli.onnx", tmp);
    snprintf(dir, sizeof dir, "%s/calib_cli_samples", tmp);
    REQUIRE(write_tiny(onnx));
    mk_test_sh(out, sizeof out, "mkdir -p %s", dir);
    mk_err e = {0};
    for (int i = 0; i < 2; i++) {
        mk_tensor_list l;
        fill_x(&l, 21u + (unsigned)i, 100.0f);
        snprintf(path, sizeof path, "%s/step_%d.npz", dir, i);
        REQUIRE(mk_npz_write(path, &l, &e) == MK_OK);
        mk_tensor_list_free(&l);
    }
    int rc = mk_test_sh(out, sizeof out, "%s convert %s -o %s/cli_cal.mlpackage -i %s 2>&1",
                        mk_test_bin(), onnx, tmp, dir);
    CHECK_EQ_INT(rc, 0);
    CHECK_MSG(strstr(out, "calibrated on 2 given input sets") && strstr(out, "op big (mul)") &&
                  strstr(out, "output y (8 values)") && !strstr(out, "cosine"),
              "%s", out);
    /* a sample of the wrong shape: one line, exit 2, nothing written */
    mk_tensor_list l;
    fill_x(&l, 5, 1.0f);
    l.items[0].dims[1] = 4;
    l.items[0].nbytes = 16;
    snprintf(path, sizeof path, "%s/calib_bad.npz", tmp);
    REQUIRE(mk_npz_write(path, &l, &e) == MK_OK);
    mk_tensor_list_free(&l);
    rc = mk_test_sh(out, sizeof out, "%s convert %s -o %s/cli_bad.mlpackage -i %s 2>&1",
                    mk_test_bin(), onnx, tmp, path);
    CHECK_EQ_INT(rc, 2);
    CHECK_MSG(strstr(out, "calibration input 1") && strchr(out, '\n') == out + strlen(out) - 1,
              "%s", out);
    snprintf(path, sizeof path, "%s/cli_bad.mlpackage", tmp);
    CHECK(!mk_path_exists(path));
}

TEST(convert_package_keeps_its_precision)
{
    const char *tmp = mk_test_tmpdir();
    char onnx[1024], pkg[1100], rt[1100], out[8192];
    snprintf(onnx, sizeof onnx, "%s/prec_tiny.onnx", tmp);
    snprintf(pkg, sizeof pkg, "%s/prec_fp32.mlpackage", tmp);
    snprintf(rt, sizeof rt, "%s/prec_rt.mlpackage", tmp);
    REQUIRE(write_tiny(onnx));
    int rc = mk_test_sh(out, sizeof out, "%s convert %s -o %s --precision fp32 2>&1", mk_test_bin(),
                        onnx, pkg);
    REQUIRE(rc == 0);
    CHECK_EQ_INT(has_fp16(pkg), 0);
    /* round trip and re-target with the defaults: still fp32 */
    rc = mk_test_sh(out, sizeof out, "%s convert %s -o %s --target ios17 2>&1", mk_test_bin(), pkg,
                    rt);
    CHECK_MSG(rc == 0, "%s", out);
    CHECK_EQ_INT(has_fp16(rt), 0);
    /* asked for: fp16 */
    rc = mk_test_sh(out, sizeof out, "%s convert %s -o %s --precision fp16 2>&1", mk_test_bin(),
                    pkg, rt);
    CHECK_MSG(rc == 0, "%s", out);
    CHECK_EQ_INT(has_fp16(rt), 1);
    /* an ONNX source is fp16 by default */
    rc = mk_test_sh(out, sizeof out, "%s convert %s -o %s 2>&1", mk_test_bin(), onnx, rt);
    CHECK_EQ_INT(has_fp16(rt), 1);
    /* a package coremltools wrote in fp32 */
    const char *sh = mk_test_shared_dir();
    if (!sh) SKIP("../shared not available: the fp32 golden package was not re-targeted");
    char golden[1024];
    snprintf(golden, sizeof golden, "%s/golden/d_mlp_linear_relu_softmax_fp32_ios17.mlpackage", sh);
    if (!mk_path_exists(golden)) SKIP("%s missing", golden);
    CHECK_EQ_INT(has_fp16(golden), 0);
    rc = mk_test_sh(out, sizeof out, "%s convert %s -o %s --target ios18 2>&1", mk_test_bin(),
                    golden, rt);
    CHECK_MSG(rc == 0, "%s", out);
    CHECK_EQ_INT(has_fp16(rt), 0);
    rc = mk_test_sh(out, sizeof out, "%s convert %s -o %s 2>&1", mk_test_bin(), golden, rt);
    CHECK_MSG(rc == 0, "%s", out);
    CHECK_EQ_INT(has_fp16(rt), 0);
}

/* hn = h * 0.999 + x * 0.5, y = relu(hn): with samples, hn fed back as h makes the samples
 * one stream (named by --state or found from the names); a bad --state is an error. */
TEST(fp16_calib_states_make_samples_a_stream)
{
    char onnx[1024], pkg[1100];
    snprintf(onnx, sizeof onnx, "%s/calib_state.onnx", mk_test_tmpdir());
    snprintf(pkg, sizeof pkg, "%s/calib_state.mlpackage", mk_test_tmpdir());
    ob b;
    ob_init(&b, 13);
    int64_t d[2] = {1, N}, one[1] = {1};
    float decay = 0.999f, half = 0.5f;
    ob_input(&b, "x", 1, 2, d);
    ob_input(&b, "h", 1, 2, d);
    ob_init_f(&b, "decay", 1, one, &decay);
    ob_init_f(&b, "half", 1, one, &half);
    ob_node(&b, "Mul", "h,decay", "hd");
    ob_node(&b, "Mul", "x,half", "xh");
    ob_node(&b, "Add", "hd,xh", "hn");
    ob_node(&b, "Relu", "hn", "y");
    ob_output(&b, "y");
    ob_output(&b, "hn");
    ob_pack(&b);
    FILE *f = fopen(onnx, "wb");
    REQUIRE(f);
    CHECK(fwrite(b.packed, 1, b.packed_len, f) == b.packed_len);
    fclose(f);
    ob_free(&b);
    mk_tensor_list steps[4];
    for (int i = 0; i < 4; i++) {
        fill_x(&steps[i], 31u + (unsigned)i, 1.0f);
        mk_tensor_list h;
        fill_x(&h, 41u + (unsigned)i, 1.0f);
        free(h.items[0].name);
        h.items[0].name = mk_strdup_default("h");
        mk_err e = {0};
        mk_tensor_list_push(&steps[i], &h.items[0], &e);
        free(h.items);
    }
    const char *spec[] = {"hn=h"}, *bad[] = {"nope=h"};
    for (int mode = 0; mode < 3; mode++) {
        mk_pipeline_options po;
        memset(&po, 0, sizeof po);
        po.fp16 = 1;
        po.fix = 1;
        po.samples = mode ? steps : NULL;
        po.n_samples = mode ? 4 : 0;
        po.n_states = mode == 2;
        po.states = spec;
        mk_convert_report rep;
        mk_err e = {0};
        REQUIRE(mk_convert(onnx, pkg, NULL, &po, &rep, &e) == MK_OK);
        CHECK_EQ_INT(rep.n_calib_states, mode ? 1 : 0); /* seeded inputs are no stream */
        CHECK(rep.n_fp16_ops >= 2);
    }
    mk_pipeline_options po;
    memset(&po, 0, sizeof po);
    po.fp16 = 1;
    po.samples = steps;
    po.n_samples = 4;
    po.n_states = 1;
    po.states = bad;
    mk_convert_report rep;
    mk_err e = {0};
    CHECK(mk_convert(onnx, pkg, NULL, &po, &rep, &e) == MK_EINVAL);
    CHECK_MSG(strstr(e.msg, "state 'nope=h'") != NULL, "%s", e.msg);
    for (int i = 0; i < 4; i++) mk_tensor_list_free(&steps[i]);
}
