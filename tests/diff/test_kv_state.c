/* KV cache as iOS18 state: the GPT-2-style export (tests/.cache/transformers/gpt2.onnx, from
 * scripts/export_transformers.py; MILKIT_GPT2_ONNX overrides) converted to an fp32 package with
 * --context (past* / present* paired automatically; each cache a hi/lo pair of fp16 states, as
 * Core ML states are fp16), re-read, and run for 16 greedy decode steps by one milkit session
 * holding the cache as state; onnxruntime-node runs the ONNX model on the same tokens with the
 * cache passed in and out (fp32). Every greedy token is onnxruntime's argmax and the logits agree
 * within 1e-4 + 1e-3|ref|; so they do with the ONNX model run by the interpreter with the cache
 * passed in and out (rounded to fp16 between steps when the state is a single fp16 tensor). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "milkit.h"
#include "test.h"
#include "tf_models.h"
#include "unit/test_fix_util.h"

#define NEED(c, ...)                                                                               \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            CHECK_MSG(0, __VA_ARGS__);                                                             \
            return;                                                                                \
        }                                                                                          \
    } while (0)
#define STEPS 16
#define CONTEXT 64

/* The GPT-2 export (made now when absent), or NULL with why set. */
static const char *gpt2_path(char *why, size_t cap)
{
    static char path[1100];
    const char *env = getenv("MILKIT_GPT2_ONNX");
    if (env && *env) return env;
    const char *dir = mk_test_tf_models(NULL, why, cap);
    if (!dir) return NULL;
    snprintf(path, sizeof path, "%s/gpt2.onnx", dir);
    return path;
}

static const char *ort_missing(void)
{
    char out[1024];
    if (mk_test_sh(out, sizeof out, "command -v node >/dev/null") != 0) return "node not found";
    if (mk_test_sh(out, sizeof out,
                   "node -e \"require('./tests/.cache/node/node_modules/onnxruntime-node')\"") != 0)
        return "onnxruntime-node not in tests/.cache/node";
    return NULL;
}

static mk_status convert(const char *in, const char *out, int n_pairs, const char *const *pairs,
                         mk_err *e)
{
    static const char *const shapes[] = {"input_ids=1,1", "position_ids=1,1"};
    mk_convert_options co;
    memset(&co, 0, sizeof co);
    co.target = MK_TARGET_IOS18;
    co.n_shapes = 1;
    co.shapes = shapes;
    mk_pipeline_options po;
    memset(&po, 0, sizeof po);
    po.fix = 1;
    po.context = CONTEXT;
    po.n_kv_states = n_pairs;
    po.kv_states = pairs;
    mk_io_decls d;
    memset(&d, 0, sizeof d);
    if (mk_onnx_describe(in, &d, e) != MK_OK) return e->code;
    for (int i = 0; i < d.n_inputs; i++)
        if (strcmp(d.inputs[i].name, "position_ids") == 0) {
            po.cache_length = "position_ids";
            co.n_shapes = 2;
        }
    mk_io_decls_free(&d);
    return mk_convert(in, out, &co, &po, NULL, e);
}

static int has_input(const mk_program *p, const char *name)
{
    mk_tensor_list in = {0, NULL};
    mk_err e = {MK_OK, ""};
    int found = 0;
    if (mk_random_inputs(p, 1, &in, &e) != MK_OK) return 0;
    for (int i = 0; i < in.n; i++) found |= strcmp(in.items[i].name, name) == 0;
    mk_tensor_list_free(&in);
    return found;
}

/* A residual state (an fp32 program's cache is a hi/lo pair: PAST and PAST_lo). */
static int is_lo(const char *name)
{
    size_t n = strlen(name);
    return n > 3 && strcmp(name + n - 3, "_lo") == 0;
}

static int write_i64(const char *path, int64_t v, int rank)
{
    mk_tensor t = {(char *)"x", 24, rank, {1, 1}, &v, sizeof v};
    mk_err e = {MK_OK, ""};
    return mk_npy_write(path, &t, &e) == MK_OK;
}

/* The ONNX model run by milkit's interpreter with the cache passed in and out, each present
 * rounded to fp16 before it is fed back (Core ML states are fp16), on tokens tok: the worst
 * |a-b|/(1e-4+1e-3|b|) of the state session's logits against it, or -1 on failure. */
static double explicit_cache_worst(mk_test_ctx *tc, const char *model, mk_session *s, int pos_ids,
                                   const int32_t *tok, float *const *logits, size_t vocab,
                                   const int64_t *dims)
{
    int n = mk_session_n_states(s), paired = 0;
    if (n > 16) return -1;
    for (int i = 0; i < n; i++) paired |= is_lo(mk_session_state_name(s, i));
    mk_tensor past[16];
    memset(past, 0, sizeof past);
    double worst = 0;
    int seen = 0;
    for (int t = 0; t < STEPS && worst >= 0; t++) {
        int32_t id = tok[t], pos = t;
        mk_tensor in[18];
        int k = 0;
        in[k++] = (mk_tensor){(char *)"input_ids", 23, 2, {1, 1}, &id, 4};
        if (pos_ids) in[k++] = (mk_tensor){(char *)"position_ids", 23, 2, {1, 1}, &pos, 4};
        for (int i = 0; i < n; i++) {
            if (is_lo(mk_session_state_name(s, i))) continue;
            in[k] = (mk_tensor){(char *)mk_session_state_name(s, i), 11,           4,
                                {dims[0], dims[1], t, dims[3]},      past[i].data, past[i].nbytes};
            if (!in[k].data) in[k].data = &pos; /* zero-length */
            k++;
        }
        mk_tensor_list il = {k, in}, ol = {0, NULL};
        mk_convert_options co;
        memset(&co, 0, sizeof co);
        co.target = MK_TARGET_IOS18;
        co.shape_from = &il;
        mk_program *p = NULL;
        mk_err e = {MK_OK, ""};
        if (mk_model_load(model, &co, NULL, &p, &e) != MK_OK ||
            mk_run(p, NULL, &il, &ol, &e) != MK_OK) {
            CHECK_MSG(0, "explicit cache, step %d: %s", t, e.msg);
            worst = -1;
        }
        for (int j = 0; worst >= 0 && j < ol.n; j++) {
            const mk_tensor *o = &ol.items[j];
            if (strcmp(o->name, "logits") == 0 && o->nbytes == vocab * 4) {
                seen++;
                for (size_t v = 0; v < vocab; v++) {
                    double r = ((const float *)o->data)[v];
                    double d = fabs(logits[t][v] - r) / (1e-4 + 1e-3 * fabs(r));
                    if (!(d <= worst)) worst = d;
                }
            }
            for (int i = 0; i < n && o->name; i++)
                if (strncmp(o->name, "present", 7) == 0 &&
                    strcmp(o->name + 7, mk_session_state_name(s, i) + 4) == 0) {
                    mk_tensor_free(&past[i]);
                    past[i] = *o; /* take it over, rounded to fp16 unless a pair holds it */
                    ol.items[j] = (mk_tensor){0};
                    float *f = past[i].data;
                    for (size_t q = 0; !paired && q < past[i].nbytes / 4; q++)
                        f[q] = mk_f16_to_f32(mk_f32_to_f16(f[q]));
                }
        }
        mk_tensor_list_free(&ol);
        mk_program_free(p);
    }
    for (int i = 0; i < n; i++) mk_tensor_free(&past[i]);
    CHECK_MSG(seen == STEPS || worst < 0, "explicit cache: logits compared at %d of %d steps", seen,
              STEPS);
    return seen == STEPS ? worst : -1;
}

static size_t argmax(const float *x, size_t n)
{
    size_t k = 0;
    for (size_t i = 1; i < n; i++)
        if (x[i] > x[k]) k = i;
    return k;
}

TEST(kv_state_gpt2_greedy_decode_matches_onnxruntime)
{
    char nowhy[300] = "";
    const char *model = gpt2_path(nowhy, sizeof nowhy), *why;
    if (!model) SKIP("%s", nowhy);
    if (access(model, R_OK) != 0) SKIP("%s absent", model);
    if ((why = ort_missing())) SKIP("%s", why);
    char pkg[600], dir[600], out[8192];
    snprintf(pkg, sizeof pkg, "%s/gpt2_state.mlpackage", mk_test_tmpdir());
    snprintf(dir, sizeof dir, "%s/gpt2_ort", mk_test_tmpdir());
    mk_err e = {MK_OK, ""};
    NEED(convert(model, pkg, 0, NULL, &e) == MK_OK, "convert: %s", e.msg);
    mk_program *p = NULL;
    NEED(mk_program_load(pkg, NULL, &p, &e) == MK_OK, "re-read: %s", e.msg);
    mk_session *s = NULL;
    NEED(mk_session_new(p, NULL, &s, &e) == MK_OK, "session: %s", e.msg);
    int n_states = mk_session_n_states(s);
    CHECK_MSG(n_states >= 2 && n_states % 2 == 0, "%d states", n_states);
    int pos_ids = has_input(p, "position_ids");
    mk_tensor st0;
    REQUIRE(mk_session_state_get(s, mk_session_state_name(s, 0), &st0, &e) == MK_OK);
    CHECK_EQ_INT(st0.rank, 4);
    CHECK_EQ_INT((int)st0.dims[2], CONTEXT);
    mk_test_sh(out, sizeof out, "mkdir -p %s", dir);
    /* milkit: greedy decode, one token a step, the cache inside the model */
    int32_t tok[STEPS + 1];
    tok[0] = 3;
    float *logits[STEPS] = {0};
    size_t vocab = 0;
    for (int t = 0; t < STEPS && !tc->failures; t++) {
        int32_t id = tok[t], filled = t;
        mk_tensor in[2] = {{(char *)"input_ids", 23, 2, {1, 1}, &id, 4},
                           {(char *)(pos_ids ? "position_ids" : "cache_length"),
                            23,
                            pos_ids ? 2 : 1,
                            {1, 1},
                            &filled,
                            4}};
        mk_tensor_list il = {2, in}, ol = {0, NULL};
        if (mk_session_run(s, &il, &ol, NULL, &e) != MK_OK) {
            CHECK_MSG(0, "step %d: %s", t, e.msg);
            break;
        }
        const mk_tensor *lg = &ol.items[0];
        vocab = lg->nbytes / 4;
        logits[t] = malloc(lg->nbytes);
        if (logits[t]) memcpy(logits[t], lg->data, lg->nbytes);
        tok[t + 1] = (int32_t)argmax(lg->data, vocab);
        mk_tensor_list_free(&ol);
        char f[700];
        snprintf(f, sizeof f, "%s/ids_%d.npy", dir, t);
        CHECK(write_i64(f, id, 2));
        snprintf(f, sizeof f, "%s/pos_%d.npy", dir, t);
        CHECK(write_i64(f, t, 2));
    }
    /* onnxruntime: the same tokens, the cache passed in and out */
    char feeds[4096] = "", pasts[4096] = "";
    size_t fo = 0, po = 0;
    int64_t zero_dims[4] = {st0.dims[0], st0.dims[1], 0, st0.dims[3]};
    mk_tensor empty = {(char *)"x", 11, 4, {0}, &zero_dims, 0};
    memcpy(empty.dims, zero_dims, sizeof zero_dims);
    char ef[700];
    snprintf(ef, sizeof ef, "%s/empty.npy", dir);
    CHECK_MSG(mk_npy_write(ef, &empty, &e) == MK_OK, "%s", e.msg);
    for (int i = 0; i < n_states; i++) {
        const char *nm = mk_session_state_name(s, i);
        if (is_lo(nm)) continue;
        fo += (size_t)snprintf(feeds + fo, sizeof feeds - fo, " --feed present%s=%s", nm + 4, nm);
        po += (size_t)snprintf(pasts + po, sizeof pasts - po, " %s=%s", nm, ef);
    }
    /* empty caches for step 0, then each step's present fed back as the next past */
    int rc = mk_test_sh(out, sizeof out,
                        "node tests/diff/ort_run.js %s %s input_ids=%s/ids_%%d.npy%s%s%s%s "
                        "--steps %d%s --threads 1",
                        model, dir, dir, pos_ids ? " position_ids=" : "", pos_ids ? dir : "",
                        pos_ids ? "/pos_%d.npy" : "", pasts, STEPS, feeds);
    CHECK_MSG(rc == 0, "onnxruntime: %s", out);
    double worst = 0, worst16 = 0;
    int tokens_same = 1;
    for (int t = 0; t < STEPS && rc == 0 && logits[t]; t++) {
        char f[700];
        snprintf(f, sizeof f, "%s/%d_logits.npy", dir, t);
        mk_tensor ref;
        if (mk_npy_read(f, &ref, &e) != MK_OK) {
            CHECK_MSG(0, "%s", e.msg);
            break;
        }
        CHECK_MSG(ref.nbytes == vocab * 4, "step %d: %zu logits vs %zu", t, ref.nbytes / 4, vocab);
        const float *r = ref.data;
        for (size_t k = 0; k < vocab && ref.nbytes == vocab * 4; k++) {
            double a = fabs((double)logits[t][k] - r[k]);
            double d = a / (1e-4 + 1e-3 * fabs((double)r[k])), d16 = a / (1e-2 + 1e-2 * fabs(r[k]));
            if (!(d <= worst)) worst = d;
            if (!(d16 <= worst16)) worst16 = d16;
        }
        if (ref.nbytes == vocab * 4 && (int32_t)argmax(r, vocab) != tok[t + 1]) tokens_same = 0;
        mk_tensor_free(&ref);
    }
    double exact = explicit_cache_worst(tc, model, s, pos_ids, tok, logits, vocab, st0.dims);
    printf("      gpt2 state decode: %d steps, %d states; logits vs onnxruntime (fp32 cache): "
           "worst |a-b|/(1e-4+1e-3|ref|) %.3g, |a-b|/(1e-2+1e-2|ref|) %.3g; vs the explicit "
           "cache (rounded to fp16 unless the state is a hi/lo pair): %.3g\n",
           STEPS, n_states, worst, worst16, exact);
    CHECK_MSG(exact >= 0 && exact <= 1, "state decode differs from the explicit cache: ratio %g",
              exact);
    CHECK_MSG(worst16 <= 1, "logits differ from onnxruntime beyond fp16 tolerance: ratio %g",
              worst16);
    /* the fp32 package keeps its cache as hi/lo state pairs: onnxruntime's bound holds */
    CHECK_MSG(worst <= 1, "logits differ from onnxruntime: |a-b|/(1e-4+1e-3|ref|) %g", worst);
    CHECK_MSG(tokens_same, "a greedy token differs from onnxruntime's argmax");
    for (int t = 0; t < STEPS; t++) free(logits[t]);
    mk_tensor_free(&st0);
    mk_session_free(s);
    mk_program_free(p);
}

static long long file_size(const char *pkg)
{
    char p[800];
    snprintf(p, sizeof p, "%s/Data/com.apple.CoreML/weights/weight.bin", pkg);
    FILE *f = fopen(p, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long long n = ftell(f);
    fclose(f);
    return n;
}

/* The same decoder as one package with functions prefill (1x16) and decode (1x1), both with
 * the cache as state: weight.bin within 1% of the decode-only package's; prefill from an empty
 * cache gives the ONNX model's logits (interpreter, cache passed in empty). */
TEST(kv_state_gpt2_prefill_decode_functions_share_weights)
{
    char nowhy[300] = "";
    const char *model = gpt2_path(nowhy, sizeof nowhy);
    if (!model) SKIP("%s", nowhy);
    if (access(model, R_OK) != 0)
        SKIP("%s absent (scripts/export_transformers.py writes it)", model);
    char one[600], two[600];
    snprintf(one, sizeof one, "%s/gpt2_state.mlpackage", mk_test_tmpdir());
    snprintf(two, sizeof two, "%s/gpt2_state_2fn.mlpackage", mk_test_tmpdir());
    mk_err e = {MK_OK, ""};
    NEED(convert(model, one, 0, NULL, &e) == MK_OK, "convert: %s", e.msg);
    mk_io_decls d;
    memset(&d, 0, sizeof d);
    NEED(mk_onnx_describe(model, &d, &e) == MK_OK, "%s", e.msg);
    int pos_ids = 0;
    for (int i = 0; i < d.n_inputs; i++) pos_ids |= strcmp(d.inputs[i].name, "position_ids") == 0;
    mk_io_decls_free(&d);
    const char *fns[2] = {
        pos_ids ? "prefill:input_ids=1,16:position_ids=1,16" : "prefill:input_ids=1,16",
        pos_ids ? "decode:input_ids=1,1:position_ids=1,1" : "decode:input_ids=1,1"};
    mk_convert_options co;
    memset(&co, 0, sizeof co);
    co.target = MK_TARGET_IOS18;
    mk_pipeline_options po;
    memset(&po, 0, sizeof po);
    po.fix = 1;
    po.context = CONTEXT;
    po.cache_length = pos_ids ? "position_ids" : NULL;
    po.n_functions = 2;
    po.functions = fns;
    NEED(mk_convert(model, two, &co, &po, NULL, &e) == MK_OK, "convert 2 functions: %s", e.msg);
    long long a = file_size(one), b = file_size(two);
    printf("      gpt2 weight.bin: decode only %lld bytes, prefill + decode %lld bytes\n", a, b);
    CHECK_MSG(a > 0 && b > 0 && b * 100 <= a * 101, "weight.bin %lld vs %lld", b, a);
    mk_program *p = NULL, *ref = NULL;
    mk_session *s = NULL;
    NEED(mk_program_load(two, NULL, &p, &e) == MK_OK, "%s", e.msg);
    NEED(mk_program_n_functions(p) == 2 &&
             mk_session_new_function(p, "prefill", NULL, &s, &e) == MK_OK,
         "prefill: %s", e.msg);
    int32_t ids[16], pos[16];
    for (int i = 0; i < 16; i++) ids[i] = (i * 37 + 5) % 200, pos[i] = i;
    mk_tensor in[2] = {{(char *)"input_ids", 23, 2, {1, 16}, ids, sizeof ids},
                       {(char *)(pos_ids ? "position_ids" : "cache_length"),
                        23,
                        pos_ids ? 2 : 1,
                        {1, pos_ids ? 16 : 1},
                        pos,
                        pos_ids ? sizeof pos : 4}};
    mk_tensor_list il = {2, in}, got = {0, NULL}, want = {0, NULL};
    NEED(mk_session_run(s, &il, &got, NULL, &e) == MK_OK, "prefill run: %s", e.msg);
    /* the ONNX model with an empty cache */
    mk_tensor rin[6];
    int k = 0;
    rin[k++] = in[0];
    if (pos_ids) rin[k++] = in[1];
    mk_tensor st0;
    NEED(mk_session_state_get(s, mk_session_state_name(s, 0), &st0, &e) == MK_OK, "%s", e.msg);
    for (int i = 0; i < mk_session_n_states(s) && k < 6; i++)
        rin[k++] = (mk_tensor){(char *)mk_session_state_name(s, i),        11,  4,
                               {st0.dims[0], st0.dims[1], 0, st0.dims[3]}, pos, 0};
    mk_tensor_list ril = {k, rin};
    memset(&co, 0, sizeof co);
    co.target = MK_TARGET_IOS18;
    co.shape_from = &ril;
    CHECK_MSG(mk_model_load(model, &co, NULL, &ref, &e) == MK_OK &&
                  mk_run(ref, NULL, &ril, &want, &e) == MK_OK,
              "reference: %s", e.msg);
    double r = want.n ? 0 : -1;
    for (int j = 0; j < want.n && got.n; j++)
        if (strcmp(want.items[j].name, "logits") == 0) {
            mk_tensor_list w1 = {1, &want.items[j]}, g1 = {1, &got.items[0]};
            r = tolerance_ratio(&g1, &w1, 1e-4, 1e-3);
        }
    printf("      gpt2 prefill function (16 tokens, empty cache) vs the ONNX model: ratio %.3g\n",
           r);
    CHECK_MSG(r >= 0 && r <= 1, "prefill logits differ: ratio %g", r);
    mk_tensor_free(&st0);
    mk_tensor_list_free(&got);
    mk_tensor_list_free(&want);
    mk_session_free(s);
    mk_program_free(ref);
    mk_program_free(p);
}
