/* Differential tests of the interpreter on real models: against PyTorch's own outputs in
 * ../shared/models (fp32, |a-b| <= 1e-4 + 1e-3|b|), and against onnxruntime-node (npm, in
 * tests/.cache/node) on the models tests/fetch_models.sh unpacks, including 30 streaming steps
 * of Silero VAD with the state fed back. Each test SKIPs with a reason when a model, node or
 * onnxruntime is unavailable. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>

#include "base/base.h"
#include "test.h"

#define ATOL 1e-4
#define RTOL 1e-3

static mk_status load(const char *path, int n_shapes, const char *const *shapes, int n_binds,
                      const char *const *binds, mk_program **p, mk_err *e)
{
    mk_convert_options co;
    memset(&co, 0, sizeof co);
    co.n_shapes = n_shapes;
    co.shapes = shapes;
    co.n_binds = n_binds;
    co.binds = binds;
    return mk_model_load(path, &co, NULL, p, e);
}

/* onnxruntime-node usable? Installs it into tests/.cache/node once (no install scripts: the
 * linux x64 binary ships inside the npm tarball). Returns NULL or the reason it is not. */
static const char *ort_missing(void)
{
    char out[4096];
    const char *probe = "node -e \"require('./tests/.cache/node/node_modules/onnxruntime-node')\"";
    if (mk_test_sh(out, sizeof out, "command -v node >/dev/null") != 0) return "node not found";
    if (mk_test_sh(out, sizeof out, "%s", probe) == 0) return NULL;
    mk_test_sh(out, sizeof out,
               "command -v npm >/dev/null && mkdir -p tests/.cache/node && npm install --prefix "
               "tests/.cache/node onnxruntime-node@1.20.1 --ignore-scripts --no-audit --no-fund");
    if (mk_test_sh(out, sizeof out, "%s", probe) == 0) return NULL;
    return "onnxruntime-node cannot be installed or loaded (offline?)";
}

static const char *cache_model(const char *rel)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "tests/.cache/%s", rel);
    return mk_path_exists(buf) ? buf : NULL;
}

/* Compare every output with <dir>/<prefix><name>.npy; returns the worst |a-b| and counts fails. */
static int compare_dir(mk_test_ctx *tc, const mk_tensor_list *got, const char *dir,
                       const char *prefix, double *worst)
{
    int bad = 0;
    for (int i = 0; i < got->n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s%s.npy", dir, prefix, got->items[i].name);
        DIR *d = mk_path_exists(path) ? NULL : opendir(dir);
        for (struct dirent *de; d && (de = readdir(d));) { /* ONNX name, sanitised by milkit */
            size_t pl = strlen(prefix), nl = strlen(de->d_name);
            char stem[512];
            if (nl <= pl + 4 || strncmp(de->d_name, prefix, pl) != 0 || nl - pl - 4 >= sizeof stem)
                continue;
            memcpy(stem, de->d_name + pl, nl - pl - 4);
            stem[nl - pl - 4] = 0;
            if (mk_name_matches(got->items[i].name, stem))
                snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        }
        if (d) closedir(d);
        mk_tensor ref;
        mk_err e = {0};
        if (mk_npy_read(path, &ref, &e)) {
            CHECK_MSG(0, "%s", e.msg);
            bad++;
            continue;
        }
        mk_compare_result r;
        if (mk_compare(&got->items[i], &ref, ATOL, RTOL, &r, &e) == MK_OK) {
            CHECK_MSG(r.pass, "%s%s: max_abs %g max_rel %g (%zu bad of %zu, shape_ok %d)", prefix,
                      got->items[i].name, r.max_abs, r.max_rel, r.n_bad, r.numel, r.shape_ok);
            bad += !r.pass;
            if (r.max_abs > *worst) *worst = r.max_abs;
        }
        mk_tensor_free(&ref);
    }
    return bad;
}

static void pytorch_ref(mk_test_ctx *tc, const char *model, const char *in_name,
                        const char *out_name, const char *shape)
{
    const char *sh = mk_test_shared_dir();
    if (!sh) SKIP("../shared not available");
    char dir[1024], path[1200], spec[1300];
    snprintf(dir, sizeof dir, "%s/models/%s", sh, model);
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    if (!mk_path_exists(path)) SKIP("%s missing", path);
    mk_program *p = NULL;
    mk_err e = {0};
    mk_status st = load(path, shape ? 1 : 0, &shape, 0, NULL, &p, &e);
    if (st == MK_EUNSUPPORTED) SKIP("importer cannot convert %s yet: %s", model, e.msg);
    REQUIRE(st == MK_OK);
    mk_tensor_list ins = {0, NULL}, outs;
    snprintf(spec, sizeof spec, "%s=%s/input_%s.npy", in_name, dir, in_name);
    const char *sp = spec;
    REQUIRE(mk_tensors_load(1, &sp, &ins, &e) == MK_OK);
    mk_run_options o = {0, 0, 0};
    st = mk_run(p, &o, &ins, &outs, &e);
    CHECK_MSG(st == MK_OK, "%s", e.msg);
    if (st == MK_OK) {
        snprintf(path, sizeof path, "%s/output_%s.npy", dir, out_name);
        mk_tensor ref;
        REQUIRE(mk_npy_read(path, &ref, &e) == MK_OK);
        mk_compare_result r;
        REQUIRE(mk_compare(&outs.items[0], &ref, ATOL, RTOL, &r, &e) == MK_OK);
        CHECK_MSG(r.pass, "%s: max_abs %g max_rel %g, %zu of %zu beyond tolerance", model,
                  r.max_abs, r.max_rel, r.n_bad, r.numel);
        CHECK(r.cosine > 0.99999);
        mk_tensor_free(&ref);
        mk_tensor_list_free(&outs);
    }
    mk_tensor_list_free(&ins);
    mk_program_free(p);
}

TEST(ref_pytorch_squeezenet)
{
    pytorch_ref(tc, "tv_squeezenet1_1", "input", "logits", NULL);
}

TEST(ref_pytorch_hifigan)
{
    pytorch_ref(tc, "hifigan_small_arch", "mel", "audio", "mel=1,80,32");
}

/* Random inputs through milkit and onnxruntime; every output within tolerance. */
static void ort_model(mk_test_ctx *tc, const char *label, const char *model, int n_shapes,
                      const char *const *shapes)
{
    const char *why = ort_missing();
    if (!model) SKIP("%s: model not fetched (run tests/fetch_models.sh)", label);
    if (why) SKIP("%s", why);
    mk_program *p = NULL;
    mk_err e = {0};
    mk_status st = load(model, n_shapes, shapes, 0, NULL, &p, &e);
    if (st == MK_EUNSUPPORTED) SKIP("importer cannot convert %s yet: %s", label, e.msg);
    REQUIRE(st == MK_OK);
    mk_tensor_list ins, outs;
    REQUIRE(mk_random_inputs(p, 7, &ins, &e) == MK_OK);
    char dir[1024], npz[1100], out[8192];
    snprintf(dir, sizeof dir, "%s/ort_%s", mk_test_tmpdir(), label);
    snprintf(npz, sizeof npz, "%s/ort_%s_in.npz", mk_test_tmpdir(), label);
    REQUIRE(mk_npz_write(npz, &ins, &e) == MK_OK);
    int rc = mk_test_sh(out, sizeof out, "node tests/diff/ort_run.js %s %s %s --threads 1", model,
                        dir, npz);
    REQUIRE(rc == 0);
    mk_run_options o = {0, 0, 0};
    st = mk_run(p, &o, &ins, &outs, &e);
    CHECK_MSG(st == MK_OK, "%s", e.msg);
    if (st == MK_OK) {
        double worst = 0;
        compare_dir(tc, &outs, dir, "", &worst);
        mk_tensor_list_free(&outs);
    }
    mk_tensor_list_free(&ins);
    mk_program_free(p);
}

TEST(ort_openwakeword_melspectrogram)
{
    const char *sh[] = {"input=1,1280"};
    ort_model(tc, "melspectrogram",
              cache_model("openwakeword-0.1.1/package/models/melspectrogram.onnx"), 1, sh);
}

TEST(ort_openwakeword_embedding)
{
    const char *sh[] = {"input_1=1,76,32,1"};
    ort_model(tc, "embedding",
              cache_model("openwakeword-0.1.1/package/models/embedding_model.onnx"), 1, sh);
}

TEST(ort_ppocr_det_640)
{
    const char *sh[] = {"x=1,3,640,640"};
    ort_model(tc, "ppocr_det",
              cache_model("ocr-models-1.4.2/package/assets/ch_PP-OCRv4_det_infer.onnx"), 1, sh);
}

TEST(ort_hifigan_and_squeezenet)
{
    const char *sh = mk_test_shared_dir();
    if (!sh) SKIP("../shared not available");
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s/models/hifigan_small_arch/model.onnx", sh);
    snprintf(b, sizeof b, "%s/models/tv_squeezenet1_1/model.onnx", sh);
    const char *hs[] = {"mel=1,80,32"};
    ort_model(tc, "hifigan", mk_path_exists(a) ? a : NULL, 1, hs);
    if (tc->skipped) return;
    ort_model(tc, "squeezenet", mk_path_exists(b) ? b : NULL, 0, NULL);
}

/* Silero VAD (input, state, sr -> output, stateN): 30 chunks of 512 samples, each run feeding
 * its own stateN back as state; milkit and onnxruntime must agree at every step. */
static void silero_stream(mk_test_ctx *tc, const char *label, const char *model)
{
    if (!model) SKIP("%s not fetched (run tests/fetch_models.sh)", label);
    const char *why = ort_missing();
    if (why) SKIP("%s", why);
    const char *shapes[] = {"input=1,512", "state=2,1,128"}, *binds[] = {"sr=16000"};
    mk_program *p = NULL;
    mk_err e = {0};
    mk_status st = load(model, 2, shapes, 1, binds, &p, &e);
    if (st == MK_EUNSUPPORTED) SKIP("importer cannot convert silero yet: %s", e.msg);
    REQUIRE(st == MK_OK);
    enum { STEPS = 30, N = 512 };
    const char *tmp = mk_test_tmpdir();
    char dir[1024], path[1100], out[8192];
    snprintf(dir, sizeof dir, "%s/%s", tmp, label);
    mk_test_sh(out, sizeof out, "mkdir -p %s", dir);
    /* audio: a chirp with noise bursts, so the detector's state moves */
    unsigned seed = 12345;
    static float audio[STEPS][N];
    for (int t = 0; t < STEPS; t++)
        for (int i = 0; i < N; i++) {
            double s = (double)(t * N + i) / 16000.0;
            seed = seed * 1103515245u + 12345u;
            double noise =
                ((double)((seed >> 8) & 0xffff) / 32768.0 - 1.0) * (t % 7 < 3 ? 0.3 : 0.02);
            audio[t][i] = (float)(0.5 * sin(2 * M_PI * (200 + 800 * s) * s) * (t % 5 < 3) + noise);
        }
    for (int t = 0; t < STEPS; t++) {
        mk_tensor c = {.name = "input", .dtype = 11, .rank = 2, .data = audio[t], .nbytes = N * 4};
        c.dims[0] = 1;
        c.dims[1] = N;
        snprintf(path, sizeof path, "%s/chunk_%d.npy", dir, t);
        REQUIRE(mk_npy_write(path, &c, &e) == MK_OK);
    }
    static float state0[2 * 128];
    mk_tensor s0 = {
        .name = "state", .dtype = 11, .rank = 3, .data = state0, .nbytes = sizeof state0};
    s0.dims[0] = 2, s0.dims[1] = 1, s0.dims[2] = 128;
    snprintf(path, sizeof path, "%s/state0.npy", dir);
    REQUIRE(mk_npy_write(path, &s0, &e) == MK_OK);
    int64_t sr = 16000;
    mk_tensor srt = {.name = "sr", .dtype = 24, .rank = 0, .data = &sr, .nbytes = 8};
    snprintf(path, sizeof path, "%s/sr.npy", dir);
    REQUIRE(mk_npy_write(path, &srt, &e) == MK_OK);
    int rc =
        mk_test_sh(out, sizeof out,
                   "node tests/diff/ort_run.js %s %s/ort --threads 1 --steps %d "
                   "input=%s/chunk_%%d.npy state=%s/state0.npy sr=%s/sr.npy --feed stateN=state",
                   model, dir, STEPS, dir, dir, dir);
    REQUIRE(rc == 0);
    char ort_dir[1100];
    snprintf(ort_dir, sizeof ort_dir, "%s/ort", dir);
    /* milkit, feeding its own state back, in one session (plan and buffers reused per step) */
    mk_run_options o = {0, 1, 0};
    mk_session *sess = NULL;
    REQUIRE(mk_session_new(p, &o, &sess, &e) == MK_OK);
    mk_tensor items[2];
    memset(items, 0, sizeof items);
    float *state = calloc(2 * 128, sizeof(float));
    if (!state) mk_session_free(sess);
    REQUIRE(state);
    int bad_steps = 0;
    double worst = 0, prob_min = 1, prob_max = 0;
    for (int t = 0; t < STEPS; t++) {
        items[0] =
            (mk_tensor){.name = "input", .dtype = 11, .rank = 2, .data = audio[t], .nbytes = N * 4};
        items[0].dims[0] = 1, items[0].dims[1] = N;
        items[1] = (mk_tensor){
            .name = "state", .dtype = 11, .rank = 3, .data = state, .nbytes = 2 * 128 * 4};
        items[1].dims[0] = 2, items[1].dims[1] = 1, items[1].dims[2] = 128;
        mk_tensor_list ins = {2, items}, outs;
        st = mk_session_run(sess, &ins, &outs, NULL, &e);
        if (st) {
            CHECK_MSG(0, "step %d: %s", t, e.msg);
            break;
        }
        char prefix[32];
        snprintf(prefix, sizeof prefix, "%d_", t);
        bad_steps += compare_dir(tc, &outs, ort_dir, prefix, &worst) > 0;
        const mk_tensor *sn = mk_tensor_list_find(&outs, "stateN");
        const mk_tensor *pr = mk_tensor_list_find(&outs, "output");
        REQUIRE(sn && pr && sn->nbytes == 2 * 128 * 4);
        memcpy(state, sn->data, sn->nbytes);
        double v = ((float *)pr->data)[0];
        prob_min = v < prob_min ? v : prob_min;
        prob_max = v > prob_max ? v : prob_max;
        mk_tensor_list_free(&outs);
    }
    CHECK_EQ_INT(bad_steps, 0);
    CHECK(prob_max > prob_min); /* the stream exercised the state */
    printf("  %s: 30 steps, worst |milkit - ort| %.3g, speech prob %.3f..%.3f\n", label, worst,
           prob_min, prob_max);
    free(state);
    mk_session_free(sess);
    mk_program_free(p);
}

TEST(ort_silero_vad_30_streaming_steps)
{
    silero_stream(tc, "silero_v4",
                  cache_model("silero-vad-1.0.3/package/weights/silero_vad_16k_op15.onnx"));
}

TEST(ort_silero_vad_v5_30_streaming_steps)
{
    silero_stream(tc, "silero_v5", cache_model("vad-web-0.0.31/package/dist/silero_vad_v5.onnx"));
}

TEST(ort_ppocr_rec_and_cls)
{
    const char *sr[] = {"x=1,3,48,320"}, *sc[] = {"x=1,3,48,192"};
    ort_model(tc, "ppocr_rec",
              cache_model("ocr-models-1.4.2/package/assets/ch_PP-OCRv4_rec_infer.onnx"), 1, sr);
    if (tc->skipped) return;
    ort_model(tc, "ppocr_cls",
              cache_model("ocr-models-1.4.2/package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx"), 1,
              sc);
}
