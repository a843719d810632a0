/* fp16 by default on real models: each model is converted with the default precision and
 * calibration samples at the scale its real callers use (seeded speech-like audio for the VADs
 * and int16-scale PCM for the openWakeWord melspectrogram, images as normalised, log-mels),
 * then run (fp16 emulated) on other inputs of that scale and compared with onnxruntime-node on
 * every output: |a-b| <= 1e-2 + 1e-2|b|, over 30 streaming steps with the state fed back for
 * the VADs. Each test SKIPs with a reason when node, onnxruntime or a model is missing. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>

#include "base/base.h"
#include "test.h"

#define TOL 1e-2
#define STEPS 30
#define CHUNK 512

static const char *ort_missing(void)
{
    char out[4096];
    if (mk_test_sh(out, sizeof out, "command -v node >/dev/null") != 0) return "node not found";
    if (mk_test_sh(out, sizeof out,
                   "node -e \"require('./tests/.cache/node/node_modules/onnxruntime-node')\"") != 0)
        return "onnxruntime-node not installed in tests/.cache/node (scripts/test.sh does it)";
    return NULL;
}

static const char *cache_model(const char *rel)
{
    static char buf[4][1024];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, sizeof buf[0], "tests/.cache/%s", rel);
    return mk_path_exists(b) ? b : NULL;
}

/* Speech-like audio: harmonics of a wandering pitch under a syllable-rate envelope, plus
 * noise, peaking at amp. */
static void speech(unsigned seed, float *x, size_t n, double amp)
{
    double ph = 0, f_vib = 0.5 + (seed % 7) * 0.1, peak = 0;
    unsigned s = seed * 2654435761u + 1;
    double *tmp = malloc(n * sizeof *tmp);
    if (!tmp) return;
    for (size_t i = 0; i < n; i++) {
        double t = (double)i / 16000.0;
        double f0 = 110 + 15 * (seed % 5) + 35 * sin(2 * M_PI * f_vib * t);
        ph += 2 * M_PI * f0 / 16000.0;
        double v = 0;
        for (int k = 1; k <= 12; k++) v += 0.6 / k * sin(k * ph + seed * 0.37 * k);
        double env = sin(2 * M_PI * (2.0 + (seed % 3) * 0.5) * t + seed);
        s = s * 1664525u + 1013904223u;
        double noise = ((double)(s >> 8) / 16777216.0 * 2 - 1) * 0.03;
        tmp[i] = v * (env > 0 ? sqrt(env) : 0) + noise;
        if (fabs(tmp[i]) > peak) peak = fabs(tmp[i]);
    }
    for (size_t i = 0; i < n; i++) x[i] = (float)(tmp[i] / peak * amp);
    free(tmp);
}

/* A float tensor of the given shape (data owned by the caller until pushed). */
static int push(mk_tensor_list *l, const char *name, const float *v, int rank, const int64_t *d)
{
    mk_tensor t;
    memset(&t, 0, sizeof t);
    t.name = mk_strdup_default(name);
    t.dtype = 11;
    t.rank = rank;
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)(t.dims[i] = d[i]);
    t.nbytes = n * 4;
    t.data = malloc(t.nbytes);
    if (!t.name || !t.data) return 0;
    memcpy(t.data, v, t.nbytes);
    mk_err e = {0};
    return mk_tensor_list_push(l, &t, &e) == MK_OK;
}

static const mk_tensor *ort_output(const char *dir, const char *prefix, const char *name,
                                   mk_tensor *ref)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s%s.npy", dir, prefix, name);
    DIR *d = mk_path_exists(path) ? NULL : opendir(dir);
    for (struct dirent *de; d && (de = readdir(d));) {
        size_t pl = strlen(prefix), nl = strlen(de->d_name);
        char stem[512];
        if (nl <= pl + 4 || strncmp(de->d_name, prefix, pl) != 0 || nl - pl - 4 >= sizeof stem)
            continue;
        memcpy(stem, de->d_name + pl, nl - pl - 4);
        stem[nl - pl - 4] = 0;
        if (mk_name_matches(name, stem)) snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    }
    if (d) closedir(d);
    mk_err e = {0};
    return mk_npy_read(path, ref, &e) == MK_OK ? ref : NULL;
}

typedef struct stats {
    double max_abs, s_ref2, s_d2;
    size_t bad, nonfinite, n;
} stats;

/* Accumulate |a-b| of every element; counts those beyond TOL + TOL|b|. */
static void accumulate(stats *s, const mk_tensor *a, const mk_tensor *b)
{
    size_t n = b->nbytes / 4 < a->nbytes / 4 ? b->nbytes / 4 : a->nbytes / 4;
    for (size_t i = 0; i < n; i++) {
        double x = ((const float *)a->data)[i], y = ((const float *)b->data)[i];
        s->n++;
        if (!isfinite(x)) {
            s->nonfinite++;
            s->bad++;
            continue;
        }
        double d = fabs(x - y);
        s->bad += d > TOL + TOL * fabs(y);
        if (d > s->max_abs) s->max_abs = d;
        s->s_ref2 += y * y;
        s->s_d2 += d * d;
    }
}

static void print_stats(const char *label, const char *out, const stats *s)
{
    printf(
        "  %s %s: %zu values, max abs %.3g, SNR %.1f dB, %zu inf/NaN, %zu beyond 1e-2+1e-2|ref|\n",
        label, out, s->n, s->max_abs, s->s_d2 > 0 ? 10 * log10(s->s_ref2 / s->s_d2) : INFINITY,
        s->nonfinite, s->bad);
}

static mk_status convert(const char *model, int n_shapes, const char *const *shapes, int n_binds,
                         const char *const *binds, const mk_tensor_list *samples, int n,
                         int no_calibrate, const char *out, mk_convert_report *rep, mk_err *e)
{
    mk_convert_options co;
    memset(&co, 0, sizeof co);
    co.n_shapes = n_shapes;
    co.shapes = shapes;
    co.n_binds = n_binds;
    co.binds = binds;
    mk_pipeline_options po;
    memset(&po, 0, sizeof po);
    po.fix = 1;
    po.fp16 = 1;
    po.fp16_onnx_only = 1;
    po.samples = samples;
    po.n_samples = n;
    po.no_calibrate = no_calibrate;
    return mk_convert(model, out, &co, &po, rep, e);
}

/* ---- streaming VADs ---- */
typedef struct vad {
    const char *label, *model;
    int n_shapes, n_binds;
    const char *shapes[4], *binds[2];
    int n_states;
    const char *state_in[2], *state_out[2];
    int64_t sdims[3];
} vad;

/* Stream `audio` through prog (its own states fed back); per step outputs into outs[t]. */
static mk_status stream(const mk_program *prog, const vad *v, float (*audio)[CHUNK], int emulate,
                        mk_tensor_list *inputs_seen, mk_tensor_list *outs, mk_err *e)
{
    size_t sn = (size_t)(v->sdims[0] * v->sdims[1] * v->sdims[2]);
    float *state[2] = {calloc(sn, 4), calloc(sn, 4)};
    mk_run_options o = {emulate, 1, 0};
    mk_session *s = NULL;
    mk_status st = state[0] && state[1] ? mk_session_new(prog, &o, &s, e) : MK_ENOMEM;
    int64_t cd[2] = {1, CHUNK};
    for (int t = 0; t < STEPS && !st; t++) {
        mk_tensor_list in = {0, NULL};
        push(&in, "input", audio[t], 2, cd);
        for (int k = 0; k < v->n_states; k++) push(&in, v->state_in[k], state[k], 3, v->sdims);
        st = mk_session_run(s, &in, &outs[t], NULL, e);
        for (int k = 0; k < v->n_states && !st; k++) {
            const mk_tensor *o2 = mk_tensor_list_find(&outs[t], v->state_out[k]);
            if (!o2 || o2->nbytes != sn * 4)
                st = mk_err_set(e, MK_EINVAL, "no state output %s", v->state_out[k]);
            else
                memcpy(state[k], o2->data, sn * 4);
        }
        if (inputs_seen)
            inputs_seen[t] = in;
        else
            mk_tensor_list_free(&in);
    }
    mk_session_free(s);
    free(state[0]);
    free(state[1]);
    return st;
}

static void vad_stream(mk_test_ctx *tc, const vad *v)
{
    if (!v->model) SKIP("%s not fetched (run tests/fetch_models.sh)", v->label);
    const char *why = ort_missing();
    if (why) SKIP("%s", why);
    const char *tmp = mk_test_tmpdir();
    char dir[1024], path[1200], pkg[1200], out[8192];
    snprintf(dir, sizeof dir, "%s/fp16_%s", tmp, v->label);
    mk_test_sh(out, sizeof out, "mkdir -p %s", dir);
    static float cal_audio[STEPS][CHUNK], test_audio[STEPS][CHUNK];
    speech(1, &cal_audio[0][0], STEPS * CHUNK, 0.5);
    speech(2, &test_audio[0][0], STEPS * CHUNK, 0.35);
    /* calibration samples: the fp32 model streamed over other audio, its states as reached */
    mk_program *p32 = NULL;
    mk_err e = {0};
    mk_convert_options co;
    memset(&co, 0, sizeof co);
    co.n_shapes = v->n_shapes;
    co.shapes = v->shapes;
    co.n_binds = v->n_binds;
    co.binds = v->binds;
    REQUIRE(mk_model_load(v->model, &co, NULL, &p32, &e) == MK_OK);
    mk_tensor_list samples[STEPS], got[STEPS], scratch[STEPS];
    memset(samples, 0, sizeof samples);
    memset(scratch, 0, sizeof scratch);
    mk_status st = stream(p32, v, cal_audio, 0, samples, scratch, &e);
    for (int t = 0; t < STEPS; t++) mk_tensor_list_free(&scratch[t]);
    mk_program_free(p32);
    REQUIRE(st == MK_OK);
    /* onnxruntime on the test audio */
    for (int t = 0; t < STEPS; t++) {
        mk_tensor c = {
            .name = "input", .dtype = 11, .rank = 2, .data = test_audio[t], .nbytes = CHUNK * 4};
        c.dims[0] = 1;
        c.dims[1] = CHUNK;
        snprintf(path, sizeof path, "%s/chunk_%d.npy", dir, t);
        REQUIRE(mk_npy_write(path, &c, &e) == MK_OK);
    }
    size_t sn = (size_t)(v->sdims[0] * v->sdims[1] * v->sdims[2]);
    float *zero = calloc(sn, 4);
    REQUIRE(zero);
    char feeds[512] = "", ins[8192] = "";
    for (int k = 0; k < v->n_states; k++) {
        mk_tensor z = {
            .name = (char *)v->state_in[k], .dtype = 11, .rank = 3, .data = zero, .nbytes = sn * 4};
        memcpy(z.dims, v->sdims, sizeof v->sdims);
        snprintf(path, sizeof path, "%s/%s0.npy", dir, v->state_in[k]);
        REQUIRE(mk_npy_write(path, &z, &e) == MK_OK);
        size_t l = strlen(ins), m = strlen(feeds);
        snprintf(ins + l, sizeof ins - l, " %s=%s", v->state_in[k], path);
        snprintf(feeds + m, sizeof feeds - m, " --feed %s=%s", v->state_out[k], v->state_in[k]);
    }
    free(zero);
    int64_t sr = 16000;
    mk_tensor srt = {.name = "sr", .dtype = 24, .rank = 0, .data = &sr, .nbytes = 8};
    snprintf(path, sizeof path, "%s/sr.npy", dir);
    REQUIRE(mk_npy_write(path, &srt, &e) == MK_OK);
    int rc = mk_test_sh(out, sizeof out,
                        "node tests/diff/ort_run.js %s %s/ort --threads 1 --steps %d "
                        "input=%s/chunk_%%d.npy sr=%s/sr.npy%s%s",
                        v->model, dir, STEPS, dir, dir, ins, feeds);
    REQUIRE(rc == 0);
    char ort_dir[1100];
    snprintf(ort_dir, sizeof ort_dir, "%s/ort", dir);
    /* without calibration (as before), then with the samples */
    for (int pass = 0; pass < 2; pass++) {
        mk_convert_report rep;
        snprintf(pkg, sizeof pkg, "%s/%s.mlpackage", dir, pass ? "calibrated" : "uncalibrated");
        st = convert(v->model, v->n_shapes, v->shapes, v->n_binds, v->binds, samples, STEPS, !pass,
                     pkg, &rep, &e);
        CHECK_MSG(st == MK_OK, "%s", e.msg);
        if (st) break;
        mk_program *p16 = NULL;
        REQUIRE(mk_program_load(pkg, NULL, &p16, &e) == MK_OK);
        memset(got, 0, sizeof got);
        st = stream(p16, v, test_audio, 1, NULL, got, &e);
        CHECK_MSG(st == MK_OK, "%s", e.msg);
        stats s[4];
        memset(s, 0, sizeof s);
        int n_out = got[0].n < 4 ? got[0].n : 4;
        for (int t = 0; t < STEPS && !st; t++)
            for (int k = 0; k < n_out; k++) {
                mk_tensor ref;
                char prefix[32];
                snprintf(prefix, sizeof prefix, "%d_", t);
                if (!ort_output(ort_dir, prefix, got[t].items[k].name, &ref)) {
                    CHECK_MSG(0, "no onnxruntime output for %s", got[t].items[k].name);
                    continue;
                }
                accumulate(&s[k], &got[t].items[k], &ref);
                mk_tensor_free(&ref);
            }
        printf("  %s %s: fp16 %d ops, %d fp32 (%d kept by calibration)\n", v->label,
               pass ? "calibrated" : "uncalibrated", rep.n_fp16_ops, rep.n_fp32_ops,
               rep.n_calib_kept);
        for (int k = 0; k < n_out; k++) {
            print_stats(pass ? "calibrated" : "uncalibrated", got[0].items[k].name, &s[k]);
            if (pass)
                CHECK_MSG(s[k].bad == 0, "%s: %s beyond tolerance", v->label, got[0].items[k].name);
        }
        if (pass) {
            CHECK(rep.n_fp16_ops > 0); /* still an fp16 program */
            CHECK_EQ_INT(rep.calib_source, 1);
        }
        for (int t = 0; t < STEPS; t++) mk_tensor_list_free(&got[t]);
        mk_program_free(p16);
    }
    for (int t = 0; t < STEPS; t++) mk_tensor_list_free(&samples[t]);
}

TEST(fp16_silero_v4_legacy_stream_matches_ort)
{
    vad v = {"silero_legacy",
             cache_model("vad-web-0.0.31/package/dist/silero_vad_legacy.onnx"),
             3,
             1,
             {"input=1,512", "h=2,1,64", "c=2,1,64"},
             {"sr=16000"},
             2,
             {"h", "c"},
             {"hn", "cn"},
             {2, 1, 64}};
    vad_stream(tc, &v);
}

TEST(fp16_silero_v4_op15_stream_matches_ort)
{
    vad v = {"silero_v4",
             cache_model("silero-vad-1.0.3/package/weights/silero_vad_16k_op15.onnx"),
             2,
             1,
             {"input=1,512", "state=2,1,128"},
             {"sr=16000"},
             1,
             {"state"},
             {"stateN"},
             {2, 1, 128}};
    vad_stream(tc, &v);
}

TEST(fp16_silero_v5_stream_matches_ort)
{
    vad v = {"silero_v5",
             cache_model("vad-web-0.0.31/package/dist/silero_vad_v5.onnx"),
             2,
             1,
             {"input=1,512", "state=2,1,128"},
             {"sr=16000"},
             1,
             {"state"},
             {"stateN"},
             {2, 1, 128}};
    vad_stream(tc, &v);
}

/* ---- single-run models ---- */
typedef void (*fill_fn)(mk_tensor *t, unsigned seed);

/* Uniform in [lo, hi] for every float input; images are smooth-ish (a blurred field). */
static void fill_uniform(mk_tensor *t, unsigned seed, double lo, double hi)
{
    size_t n = t->nbytes / 4;
    unsigned s = seed * 747796405u + 2891336453u;
    float prev = 0;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        float u = (float)((double)(s >> 8) / 16777216.0);
        prev = i % 7 ? 0.7f * prev + 0.3f * u : u;
        ((float *)t->data)[i] = (float)(lo + (hi - lo) * prev);
    }
}

static void fill_pcm16(mk_tensor *t, unsigned seed)
{
    speech(seed, t->data, t->nbytes / 4, 32767.0 * (0.3 + 0.15 * (seed % 5)));
}
static void fill_imagenet(mk_tensor *t, unsigned seed)
{
    fill_uniform(t, seed, -2.12, 2.64); /* (x/255 - mean) / std */
}
static void fill_pm1(mk_tensor *t, unsigned seed)
{
    fill_uniform(t, seed, -1, 1); /* (x/255 - 0.5) / 0.5 */
}
static void fill_oww_mel(mk_tensor *t, unsigned seed)
{
    fill_uniform(t, seed, 0, 8); /* melspectrogram / 10 + 2, as openWakeWord feeds it */
}
static void fill_logmel(mk_tensor *t, unsigned seed)
{
    fill_uniform(t, seed, -11.5, 2.5); /* log mel energies */
}

static void single_model(mk_test_ctx *tc, const char *label, const char *model, const char *shape,
                         fill_fn fill)
{
    if (!model) SKIP("%s not available (tests/fetch_models.sh, ../shared/models)", label);
    const char *why = ort_missing();
    if (why) SKIP("%s", why);
    const char *tmp = mk_test_tmpdir();
    char dir[1024], pkg[1200], npz[1200], out[8192];
    snprintf(dir, sizeof dir, "%s/fp16_%s", tmp, label);
    snprintf(pkg, sizeof pkg, "%s/%s.mlpackage", dir, label);
    snprintf(npz, sizeof npz, "%s/test.npz", dir);
    mk_test_sh(out, sizeof out, "mkdir -p %s", dir);
    mk_program *p32 = NULL;
    mk_err e = {0};
    mk_convert_options co;
    memset(&co, 0, sizeof co);
    co.n_shapes = shape ? 1 : 0;
    co.shapes = &shape;
    REQUIRE(mk_model_load(model, &co, NULL, &p32, &e) == MK_OK);
    enum { NCAL = 2 };
    mk_tensor_list lists[NCAL + 1];
    for (int i = 0; i <= NCAL; i++) {
        REQUIRE(mk_random_inputs(p32, (unsigned long long)i, &lists[i], &e) == MK_OK);
        for (int k = 0; k < lists[i].n; k++)
            if (lists[i].items[k].dtype == 11)
                fill(&lists[i].items[k], 100u + (unsigned)i * 7u + (unsigned)k);
    }
    mk_program_free(p32);
    mk_tensor_list *test = &lists[NCAL];
    REQUIRE(mk_npz_write(npz, test, &e) == MK_OK);
    int rc = mk_test_sh(out, sizeof out, "node tests/diff/ort_run.js %s %s/ort %s --threads 1",
                        model, dir, npz);
    REQUIRE(rc == 0);
    char ort_dir[1100];
    snprintf(ort_dir, sizeof ort_dir, "%s/ort", dir);
    mk_convert_report rep;
    mk_status st = convert(model, shape ? 1 : 0, &shape, 0, NULL, lists, NCAL, 0, pkg, &rep, &e);
    CHECK_MSG(st == MK_OK, "%s", e.msg);
    mk_program *p16 = NULL;
    if (!st) st = mk_program_load(pkg, NULL, &p16, &e);
    mk_tensor_list got = {0, NULL};
    mk_run_options o = {1, 0, 0};
    if (!st) st = mk_run(p16, &o, test, &got, &e);
    CHECK_MSG(st == MK_OK, "%s", e.msg);
    printf("  %s: fp16 %d ops, %d fp32 (%d kept by calibration, %d rounds)\n", label,
           rep.n_fp16_ops, rep.n_fp32_ops, rep.n_calib_kept, rep.calib_rounds);
    for (int k = 0; !st && k < got.n; k++) {
        mk_tensor ref;
        if (!ort_output(ort_dir, "", got.items[k].name, &ref)) {
            CHECK_MSG(0, "no onnxruntime output for %s", got.items[k].name);
            continue;
        }
        stats s;
        memset(&s, 0, sizeof s);
        accumulate(&s, &got.items[k], &ref);
        print_stats(label, got.items[k].name, &s);
        CHECK_MSG(s.bad == 0, "%s: output %s: %zu of %zu beyond 1e-2 + 1e-2|ref|", label,
                  got.items[k].name, s.bad, s.n);
        mk_tensor_free(&ref);
    }
    if (!st) CHECK(rep.n_fp16_ops > 0);
    mk_tensor_list_free(&got);
    mk_program_free(p16);
    for (int i = 0; i <= NCAL; i++) mk_tensor_list_free(&lists[i]);
}

TEST(fp16_oww_melspectrogram_int16_pcm_matches_ort)
{
    single_model(tc, "melspectrogram",
                 cache_model("openwakeword-0.1.1/package/models/melspectrogram.onnx"),
                 "input=1,1280", fill_pcm16);
}

TEST(fp16_oww_embedding_matches_ort)
{
    single_model(tc, "embedding",
                 cache_model("openwakeword-0.1.1/package/models/embedding_model.onnx"),
                 "input_1=1,76,32,1", fill_oww_mel);
}

TEST(fp16_ppocr_matches_ort)
{
    single_model(tc, "ppocr_det",
                 cache_model("ocr-models-1.4.2/package/assets/ch_PP-OCRv4_det_infer.onnx"),
                 "x=1,3,320,320", fill_imagenet);
    if (tc->skipped) return;
    single_model(tc, "ppocr_rec",
                 cache_model("ocr-models-1.4.2/package/assets/ch_PP-OCRv4_rec_infer.onnx"),
                 "x=1,3,48,320", fill_pm1);
    single_model(tc, "ppocr_cls",
                 cache_model("ocr-models-1.4.2/package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx"),
                 "x=1,3,48,192", fill_pm1);
}

TEST(fp16_hifigan_and_squeezenet_match_ort)
{
    const char *sh = mk_test_shared_dir();
    if (!sh) SKIP("../shared not available");
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s/models/hifigan_small_arch/model.onnx", sh);
    snprintf(b, sizeof b, "%s/models/tv_squeezenet1_1/model.onnx", sh);
    single_model(tc, "hifigan", mk_path_exists(a) ? a : NULL, "mel=1,80,32", fill_logmel);
    if (tc->skipped) return;
    single_model(tc, "squeezenet", mk_path_exists(b) ? b : NULL, NULL, fill_imagenet);
}
