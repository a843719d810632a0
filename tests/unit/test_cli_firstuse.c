/* CLI tests for what a new user runs first (issue 10): ONNX dynamic dims taken from the -i
 * tensors (run, verify, lint, info), --bind against saved inputs, --save-inputs dtypes and
 * ranks, verify's precision-following tolerance, output pairing, non-finite figures and valid
 * JSON, and the messages (temp paths, wrong input names, deep graphs, --version, -o suffix,
 * inputs listed twice). Models are built in C and written to the test temp dir. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "test.h"
#include "test_onnx_build.h"

static const char *tmp_path(const char *name)
{
    static char buf[32][1024]; /* a ring: paths stay valid for 32 calls */
    static int k;
    char *b = buf[k++ & 31];
    snprintf(b, sizeof buf[0], "%s/fu_%s", mk_test_tmpdir(), name);
    return b;
}

static int write_model(ob *b, const char *path)
{
    ob_pack(b);
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(b->packed, 1, b->packed_len, f) == b->packed_len;
    return fclose(f) == 0 && ok;
}

static void name_dim(ob *b, int input, int dim, const char *name)
{
    Onnx__TensorShapeProto__Dimension *d = b->g->input[input]->type->tensor_type->shape->dim[dim];
    d->dim_param = ob_str(b, name);
}

/* x [batch, 3, height, width] -> Relu -> y */
static const char *dyn_model(void)
{
    const char *path = tmp_path("dyn.onnx");
    ob b;
    ob_init(&b, 13);
    int64_t xd[4] = {-1, 3, -1, -1};
    ob_input(&b, "x", 1, 4, xd);
    name_dim(&b, 0, 0, "batch");
    name_dim(&b, 0, 2, "height");
    name_dim(&b, 0, 3, "width");
    ob_node(&b, "Relu", "x", "y");
    ob_output(&b, "y");
    int ok = write_model(&b, path);
    ob_free(&b);
    return ok ? path : NULL;
}

static int save_npz(const char *path, int n, mk_tensor *ts)
{
    mk_tensor_list l = {n, ts};
    mk_err e = {0};
    return mk_npz_write(path, &l, &e) == MK_OK;
}

static mk_tensor tensor(const char *name, int dtype, int rank, const int64_t *dims, void *data,
                        size_t nbytes)
{
    mk_tensor t;
    memset(&t, 0, sizeof t);
    t.name = (char *)name;
    t.dtype = dtype;
    t.rank = rank;
    for (int i = 0; i < rank; i++) t.dims[i] = dims[i];
    t.data = data;
    t.nbytes = nbytes;
    return t;
}

TEST(cli_dynamic_dims_from_inputs)
{
    const char *m = dyn_model();
    REQUIRE(m);
    char out[16384];
    const char *bin = mk_test_bin();
    /* random inputs: one error naming the dims --shape must give, and the known ones */
    int rc = mk_test_sh(out, sizeof out, "%s run %s", bin, m);
    CHECK_EQ_INT(rc, 2);
    CHECK_MSG(strstr(out, "x=?,3,?,?") && strstr(out, "'batch'") && strstr(out, "'width'") &&
                  strstr(out, "--shape") && strstr(out, "-i"),
              "%s", out);
    /* -i supplies the shape: no --shape needed */
    static float x[2 * 3 * 4 * 5];
    for (int i = 0; i < 120; i++) x[i] = (float)(i % 7) - 3;
    mk_tensor t = tensor("x", 11, 4, (int64_t[]){2, 3, 4, 5}, x, sizeof x);
    const char *npz = tmp_path("dyn_in.npz");
    REQUIRE(save_npz(npz, 1, &t));
    rc = mk_test_sh(out, sizeof out, "%s run %s -i %s", bin, m, npz);
    CHECK_MSG(rc == 0 && strstr(out, "y: [2, 3, 4, 5] fp32"), "rc %d: %s", rc, out);
    /* a lone .npy (named after its file) feeds the one input, shape included */
    const char *npy = tmp_path("image.npy");
    mk_err e = {0};
    REQUIRE(mk_npy_write(npy, &t, &e) == MK_OK);
    rc = mk_test_sh(out, sizeof out, "%s run %s -i %s", bin, m, npy);
    CHECK_MSG(rc == 0 && strstr(out, "y: [2, 3, 4, 5] fp32"), "rc %d: %s", rc, out);
    rc = mk_test_sh(out, sizeof out, "%s verify %s -i %s --fp16-emulate", bin, m, npz);
    CHECK_MSG(rc == 0 && strstr(out, "PASS"), "rc %d: %s", rc, out);
    rc = mk_test_sh(out, sizeof out, "%s lint %s -i %s", bin, m, npz);
    CHECK_MSG(rc == 0 || rc == 1, "rc %d: %s", rc, out);
    rc = mk_test_sh(out, sizeof out, "%s info %s -i %s", bin, m, npz);
    CHECK_MSG(rc == 0 && strstr(out, "[2, 3, 4, 5]"), "rc %d: %s", rc, out);
    /* info never refuses: symbolic dims by name */
    rc = mk_test_sh(out, sizeof out, "%s info %s", bin, m);
    CHECK_MSG(rc == 0 && strstr(out, "[batch, 3, height, width]"), "rc %d: %s", rc, out);
    rc = mk_test_sh(out, sizeof out, "%s info %s --json", bin, m);
    cJSON *j = cJSON_Parse(out);
    CHECK_MSG(j != NULL, "not JSON: %s", out);
    cJSON *in0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "inputs"), 0);
    cJSON *d0 = cJSON_GetArrayItem(cJSON_GetObjectItem(in0, "shape"), 0);
    CHECK(rc == 0 && cJSON_IsString(d0) && strcmp(d0->valuestring, "batch") == 0);
    cJSON_Delete(j);
    /* a tensor of another name: the error names the dims and what -i gave */
    mk_tensor tz = tensor("z", 11, 4, (int64_t[]){2, 3, 4, 5}, x, sizeof x);
    const char *npzz = tmp_path("dyn_inz.npz");
    mk_tensor two[2] = {t, tz};
    two[0].name = "w";
    REQUIRE(save_npz(npzz, 2, two));
    rc = mk_test_sh(out, sizeof out, "%s run %s -i %s", bin, m, npzz);
    CHECK_MSG(rc == 2 && strstr(out, "dyn.onnx") && strstr(out, "x=?,3,?,?") &&
                  strstr(out, "-i gave: w, z"),
              "%s", out);
    /* a tensor of the wrong rank is refused naming the declared dims */
    mk_tensor t3 = tensor("x", 11, 3, (int64_t[]){3, 4, 10}, x, sizeof x);
    const char *npz3 = tmp_path("dyn_in3.npz");
    REQUIRE(save_npz(npz3, 1, &t3));
    rc = mk_test_sh(out, sizeof out, "%s run %s -i %s", bin, m, npz3);
    CHECK_MSG(rc == 2 && strstr(out, "rank 3") && strstr(out, "?,3,?,?"), "%s", out);
}

/* x fp32 [4], sr int64 scalar -> y = x * float(sr) */
static const char *bind_model(void)
{
    const char *path = tmp_path("bind.onnx");
    ob b;
    ob_init(&b, 13);
    ob_input(&b, "x", 1, 1, (int64_t[]){4});
    ob_input(&b, "sr", 7, 0, NULL);
    Onnx__NodeProto *c = ob_node(&b, "Cast", "sr", "srf");
    ob_attr_i(&b, c, "to", 1);
    ob_node(&b, "Mul", "x,srf", "y");
    ob_output(&b, "y");
    int ok = write_model(&b, path);
    ob_free(&b);
    return ok ? path : NULL;
}

TEST(cli_bind_and_saved_inputs)
{
    const char *m = bind_model();
    REQUIRE(m);
    const char *bin = mk_test_bin();
    char out[16384];
    /* --save-inputs keeps the declared dtype and rank: sr stays an int64 scalar */
    const char *saved = tmp_path("bind_saved.npz");
    int rc = mk_test_sh(out, sizeof out, "%s run %s --save-inputs %s", bin, m, saved);
    REQUIRE(rc == 0);
    mk_tensor_list l;
    mk_err e = {0};
    REQUIRE(mk_npz_read(saved, &l, &e) == MK_OK);
    const mk_tensor *sr = mk_tensor_list_find(&l, "sr"), *x = mk_tensor_list_find(&l, "x");
    CHECK(sr && sr->dtype == 24 && sr->rank == 0);
    CHECK(x && x->dtype == 11 && x->rank == 1 && x->dims[0] == 4);
    mk_tensor_list_free(&l);
    /* the saved inputs run as they are */
    rc = mk_test_sh(out, sizeof out, "%s run %s -i %s", bin, m, saved);
    CHECK_MSG(rc == 0, "%s", out);
    /* inputs as onnxruntime users save them, sr included, with sr also bound */
    float xv[4] = {1, 2, 3, 4};
    int64_t srv = 16000;
    mk_tensor ts[2] = {tensor("x", 11, 1, (int64_t[]){4}, xv, sizeof xv),
                       tensor("sr", 24, 0, NULL, &srv, sizeof srv)};
    const char *npz = tmp_path("bind_ort.npz");
    REQUIRE(save_npz(npz, 2, ts));
    rc = mk_test_sh(out, sizeof out, "%s run %s -i %s --bind sr=16000", bin, m, npz);
    CHECK_MSG(rc == 0 && strstr(out, "first: 16000 32000 48000 64000"), "rc %d: %s", rc, out);
    rc = mk_test_sh(out, sizeof out, "%s verify %s %s -i %s --bind sr=16000", bin, m, m, npz);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, out);
    /* a different value is refused, naming both */
    rc = mk_test_sh(out, sizeof out, "%s run %s -i %s --bind sr=8000", bin, m, npz);
    CHECK_MSG(rc == 2 && strstr(out, "16000") && strstr(out, "sr=8000"), "rc %d: %s", rc, out);
    /* a wrong input name names the model file and lists its inputs */
    mk_tensor one = tensor("q", 11, 1, (int64_t[]){4}, xv, sizeof xv);
    const char *npy = tmp_path("q.npy");
    REQUIRE(mk_npy_write(npy, &one, &e) == MK_OK);
    rc = mk_test_sh(out, sizeof out, "%s run %s -i %s -i q=%s --bind sr=16000", bin, m, npz, npy);
    CHECK_MSG(rc == 2 && strstr(out, "bind.onnx") && strstr(out, "'q'") &&
                  strstr(out, "model inputs: x"),
              "%s", out);
    rc = mk_test_sh(out, sizeof out, "%s run %s --shape xx=4", bin, m);
    CHECK_MSG(rc == 2 && strstr(out, "bind.onnx") && strstr(out, "inputs: x, sr"), "%s", out);
}

/* y = (x + 10) - 10: exact in fp32 to ~1e-6, off by up to half an fp16 ulp of 10 in fp16 */
static const char *cancel_model(int n)
{
    const char *path = tmp_path(n == 32 ? "cancel.onnx" : "cancel_small.onnx");
    ob b;
    ob_init(&b, 13);
    ob_input(&b, "x", 1, 2, (int64_t[]){1, n});
    float ten = 10;
    ob_init_f(&b, "ten", 1, (int64_t[]){1}, &ten);
    ob_node(&b, "Add", "x,ten", "t");
    ob_node(&b, "Sub", "t,ten", "y");
    ob_output(&b, "y");
    int ok = write_model(&b, path);
    ob_free(&b);
    return ok ? path : NULL;
}

TEST(cli_verify_fp16_tolerance_follows_precision)
{
    const char *m = cancel_model(32), *pkg = tmp_path("cancel.mlpackage");
    REQUIRE(m);
    const char *bin = mk_test_bin();
    char out[16384];
    int rc = mk_test_sh(out, sizeof out, "%s convert %s -o %s", bin, m, pkg);
    REQUIRE(rc == 0);
    /* fp16 package against the fp32 ONNX: the fp16 default tolerance, said so */
    rc = mk_test_sh(out, sizeof out, "%s verify %s %s --seed 1", bin, pkg, m);
    CHECK_MSG(rc == 0 && strstr(out, "atol 0.01 rtol 0.01") && strstr(out, "fp16 compute"),
              "rc %d: %s", rc, out);
    /* the differences are real: the fp32 tolerance given explicitly fails */
    rc = mk_test_sh(out, sizeof out, "%s verify %s %s --seed 1 --atol 1e-4 --rtol 1e-3", bin, pkg,
                    m);
    CHECK_MSG(rc == 1 && strstr(out, "given tolerance"), "rc %d: %s", rc, out);
    /* per output: max abs, max rel, SNR and cosine */
    rc = mk_test_sh(out, sizeof out, "%s verify %s %s --seed 1", bin, pkg, m);
    CHECK(strstr(out, "max_abs") && strstr(out, "max_rel") && strstr(out, " dB") &&
          strstr(out, "cos 0.9"));
    /* fp32 against fp32: the fp32 default */
    rc = mk_test_sh(out, sizeof out, "%s verify %s %s", bin, m, m);
    CHECK_MSG(rc == 0 && strstr(out, "atol 0.0001 rtol 0.001") && strstr(out, "fp32 compute"), "%s",
              out);
    /* under 16 elements: no cosine */
    const char *small = cancel_model(8);
    REQUIRE(small);
    rc = mk_test_sh(out, sizeof out, "%s verify %s %s", bin, small, small);
    CHECK_MSG(rc == 0 && strstr(out, "cos -"), "%s", out);
}

/* y = Log(x) over [1, 32] */
static const char *log_model(void)
{
    const char *path = tmp_path("log.onnx");
    ob b;
    ob_init(&b, 13);
    ob_input(&b, "x", 1, 2, (int64_t[]){1, 32});
    ob_node(&b, "Log", "x", "y");
    ob_output(&b, "y");
    int ok = write_model(&b, path);
    ob_free(&b);
    return ok ? path : NULL;
}

TEST(cli_verify_nonfinite_pairing_json)
{
    const char *m = log_model();
    REQUIRE(m);
    const char *bin = mk_test_bin();
    char out[32768];
    float neg[32], nan32[32], fin[32];
    for (int i = 0; i < 32; i++) neg[i] = -1 - (float)i, nan32[i] = NAN, fin[i] = 1;
    mk_tensor in = tensor("x", 11, 2, (int64_t[]){1, 32}, neg, sizeof neg);
    const char *npz = tmp_path("log_in.npz");
    REQUIRE(save_npz(npz, 1, &in));
    /* all NaN on both sides: equal (NaN matches NaN), but no cosine and the count shows */
    mk_tensor ref = tensor("y", 11, 2, (int64_t[]){1, 32}, nan32, sizeof nan32);
    const char *refp = tmp_path("log_ref.npz");
    REQUIRE(save_npz(refp, 1, &ref));
    int rc = mk_test_sh(out, sizeof out, "%s verify %s -i %s --ref %s", bin, m, npz, refp);
    CHECK_MSG(rc == 0 && strstr(out, "cos -") && strstr(out, "A 32 NaN 0 inf, B 32 NaN") &&
                  !strstr(out, "cos 1.0"),
              "rc %d: %s", rc, out);
    /* NaN against finite: inf max_abs is null in valid JSON, with the counts */
    ref.data = fin;
    REQUIRE(save_npz(refp, 1, &ref));
    rc = mk_test_sh(out, sizeof out, "%s verify %s -i %s --ref %s --json", bin, m, npz, refp);
    CHECK_EQ_INT(rc, 1);
    cJSON *j = cJSON_Parse(out);
    CHECK_MSG(j != NULL, "not JSON: %s", out);
    cJSON *row = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "comparisons"), 0);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(row, "max_abs")));
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(row, "cosine")));
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(row, "snr_db")));
    CHECK(cJSON_GetObjectItem(row, "nan_a") &&
          cJSON_GetObjectItem(row, "nan_a")->valuedouble == 32);
    cJSON_Delete(j);
    /* a reference named otherwise: paired by position, and said so */
    ref.name = "z";
    ref.data = nan32;
    REQUIRE(save_npz(refp, 1, &ref));
    rc = mk_test_sh(out, sizeof out, "%s verify %s -i %s --ref %s", bin, m, npz, refp);
    CHECK_MSG(rc == 0 && strstr(out, "paired by position: y=z") && strstr(out, "--map y=z"),
              "rc %d: %s", rc, out);
    /* one more reference tensor: nothing pairs without --map; with it, the extra is listed */
    mk_tensor two[2] = {ref, tensor("extra", 11, 1, (int64_t[]){32}, fin, sizeof fin)};
    REQUIRE(save_npz(refp, 2, two));
    rc = mk_test_sh(out, sizeof out, "%s verify %s -i %s --ref %s", bin, m, npz, refp);
    CHECK_MSG(rc == 2 && strstr(out, "--map"), "rc %d: %s", rc, out);
    rc = mk_test_sh(out, sizeof out, "%s verify %s -i %s --ref %s --map y=z", bin, m, npz, refp);
    CHECK_MSG(rc == 0 && strstr(out, "not compared") && strstr(out, "extra") &&
                  strstr(out, "1 output not compared"),
              "rc %d: %s", rc, out);
}

TEST(cli_messages_first_use)
{
    const char *bin = mk_test_bin();
    char out[16384];
    /* --version is in --help */
    CHECK_EQ_INT(mk_test_sh(out, sizeof out, "%s --help", bin), 0);
    CHECK(strstr(out, "--version") != NULL);
    /* -o without .mlpackage warns; the package is still written */
    const char *m = dyn_model();
    REQUIRE(m);
    const char *o = tmp_path("nosuffix");
    int rc = mk_test_sh(out, sizeof out, "%s convert %s -o %s --shape x=1,3,4,4", bin, m, o);
    CHECK_MSG(rc == 0 && strstr(out, "does not end in .mlpackage"), "%s", out);
    rc = mk_test_sh(out, sizeof out, "%s convert %s -o %s.mlpackage --shape x=1,3,4,4", bin, m, o);
    CHECK_MSG(rc == 0 && !strstr(out, "warning"), "%s", out);
    /* a failed write names the package, never its temp dir (file size limit: EFBIG) */
    ob b;
    ob_init(&b, 13);
    ob_input(&b, "x", 1, 2, (int64_t[]){1, 256});
    static float w[256 * 256];
    for (int i = 0; i < 256 * 256; i++) w[i] = (float)(i % 13) * 0.01f;
    ob_init_f(&b, "w", 2, (int64_t[]){256, 256}, w);
    ob_node(&b, "MatMul", "x,w", "y");
    ob_output(&b, "y");
    const char *big = tmp_path("big.onnx");
    REQUIRE(write_model(&b, big));
    ob_free(&b);
    const char *pkg = tmp_path("big.mlpackage");
    rc = mk_test_sh(out, sizeof out, "trap '' XFSZ; ulimit -f 64; %s convert %s -o %s", bin, big,
                    pkg);
    CHECK_MSG(rc == 2 && strstr(out, pkg) && !strstr(out, ".tmp-"), "rc %d: %s", rc, out);
    /* an input listed twice is an error, not x and x_0 */
    ob_init(&b, 13);
    ob_input(&b, "x", 1, 1, (int64_t[]){4});
    ob_input(&b, "x", 1, 1, (int64_t[]){4});
    ob_node(&b, "Relu", "x", "y");
    ob_output(&b, "y");
    mk_program *p = NULL;
    mk_err e;
    CHECK_EQ_INT(ob_import(&b, NULL, &p, &e), MK_EINVAL);
    CHECK_MSG(strstr(e.msg, "test.onnx") && strstr(e.msg, "'x' is listed twice"), "%s", e.msg);
    mk_program_free(p);
    ob_free(&b);
}

/* If nodes nested `depth` deep (then_branch only; never lowered) */
static mk_status nested_ifs(int depth, mk_err *e)
{
    ob b;
    ob_init(&b, 13);
    ob_input(&b, "c", 9, 0, NULL);
    ob_output(&b, "y");
    for (int i = 0; i < depth; i++) {
        Onnx__NodeProto *n = ob_node(&b, "If", "c", "y");
        ob_begin_graph(&b, n, "then_branch");
    }
    ob_node(&b, "Identity", "c", "y");
    ob_end_graph(&b);
    mk_program *p = NULL;
    mk_status st = ob_import(&b, NULL, &p, e);
    mk_program_free(p);
    ob_free(&b);
    return st;
}

TEST(cli_deep_graph_says_which_limit)
{
    mk_err e;
    nested_ifs(12, &e);
    CHECK_MSG(strstr(e.msg, "nested too deep") && strstr(e.msg, "milkit") &&
                  !strstr(e.msg, "malformed"),
              "%s", e.msg);
    nested_ifs(3, &e);
    CHECK_MSG(!strstr(e.msg, "nested too deep") && !strstr(e.msg, "malformed"), "%s", e.msg);
}

/* Real models that refused without --shape: the -i tensors now give the shapes, and the
 * outputs equal those of the same run with --shape. */
TEST(cli_real_models_shapes_from_inputs)
{
    char hifi[1024] = "";
    const char *sh = mk_test_shared_dir();
    if (sh) snprintf(hifi, sizeof hifi, "%s/models/hifigan_small_arch/model.onnx", sh);
    const struct {
        const char *path, *name, *shape;
        int rank;
        int64_t dims[4];
    } ms[] = {
        {"tests/.cache/ocr-models-1.4.2/package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx",
         "x",
         "x=1,3,48,192",
         4,
         {1, 3, 48, 192}},
        {"tests/.cache/openwakeword-0.1.1/package/models/melspectrogram.onnx",
         "input",
         "input=1,1280",
         2,
         {1, 1280}},
        {hifi, "mel", "mel=1,80,12", 3, {1, 80, 12}},
    };
    const char *bin = mk_test_bin();
    int ran = 0;
    for (size_t k = 0; k < sizeof ms / sizeof *ms; k++) {
        if (!ms[k].path[0] || !mk_path_exists(ms[k].path)) {
            printf("  (skipping %s: not present)\n", ms[k].path[0] ? ms[k].path : "hifigan");
            continue;
        }
        size_t n = 1;
        for (int i = 0; i < ms[k].rank; i++) n *= (size_t)ms[k].dims[i];
        float *x = malloc(n * sizeof *x);
        REQUIRE(x);
        for (size_t i = 0; i < n; i++) x[i] = (float)((i * 37) % 101) / 101.0f - 0.5f;
        mk_tensor t = tensor(ms[k].name, 11, ms[k].rank, ms[k].dims, x, n * sizeof *x);
        const char *npz = tmp_path("real_in.npz"), *o1 = tmp_path("real_o1.npz"),
                   *o2 = tmp_path("real_o2.npz");
        int ok = save_npz(npz, 1, &t);
        free(x);
        REQUIRE(ok);
        char out[8192];
        int rc = mk_test_sh(out, sizeof out, "%s run %s -i %s -o %s", bin, ms[k].path, npz, o1);
        CHECK_MSG(rc == 0, "%s: %s", ms[k].path, out);
        rc = mk_test_sh(out, sizeof out, "%s run %s -i %s -o %s --shape %s", bin, ms[k].path, npz,
                        o2, ms[k].shape);
        CHECK_MSG(rc == 0, "%s: %s", ms[k].path, out);
        rc = mk_test_sh(out, sizeof out, "%s verify %s -i %s --ref %s --atol 0 --rtol 0", bin,
                        ms[k].path, npz, o2);
        CHECK_MSG(rc == 0, "%s: %s", ms[k].path, out);
        ran++;
    }
    if (!ran) SKIP("no real model present (tests/.cache, ../shared/models)");
}

TEST(compare_snr_counts_and_cosine_rules)
{
    float a[16], b[16];
    double bb = 0, ee = 0;
    for (int i = 0; i < 16; i++) {
        b[i] = (float)(i + 1);
        a[i] = b[i] + (i % 2 ? 0.01f : -0.02f);
        bb += (double)b[i] * b[i];
        ee += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    }
    mk_tensor ta = tensor("a", 11, 1, (int64_t[]){16}, a, sizeof a);
    mk_tensor tb = tensor("b", 11, 1, (int64_t[]){16}, b, sizeof b);
    mk_compare_result r;
    mk_err e = {0};
    REQUIRE(mk_compare(&ta, &tb, 1, 0, &r, &e) == MK_OK);
    CHECK(r.has_cosine && fabs(r.snr_db - 10 * log10(bb / ee)) < 1e-6);
    CHECK(r.nan_a + r.inf_a + r.nan_b + r.inf_b == 0);
    a[3] = INFINITY;
    b[5] = NAN;
    REQUIRE(mk_compare(&ta, &tb, 1, 0, &r, &e) == MK_OK);
    CHECK(!r.has_cosine && r.inf_a == 1 && r.nan_b == 1 && r.snr_db == -INFINITY && !r.pass);
    ta.dims[0] = tb.dims[0] = 15; /* under 16 elements: no cosine even when finite */
    a[3] = 4, b[5] = 6;
    REQUIRE(mk_compare(&ta, &tb, 1, 0, &r, &e) == MK_OK);
    CHECK(!r.has_cosine && r.pass);
}
