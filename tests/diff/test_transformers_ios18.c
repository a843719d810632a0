/* The transformer exports (tests/.cache/transformers, from scripts/export_transformers.py) at
 * --target ios18: every attention (a softmax of the iOS17 conversion) becomes one
 * scaled_dot_product_attention and the fp32 package gives the iOS17 package's outputs on
 * NAME.inputs.npz (interpreter, 1e-4 + 1e-3|ref|). Lint: the raw forms (fp32, no fixes, linted
 * for fp16) show the transformer hazards they have (H13 LayerNorm eps 1e-12, H14 mask
 * sentinels, H6 embedding gathers, H12 RMSNorm); milkit's default conversion (fp16, fixes)
 * has no error finding, no warning but H27, and `lint --placement` predicts no op off the
 * Neural Engine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "milkit.h"
#include "test.h"
#include "tf_models.h"
#include "unit/test_fix_util.h"

#define DIR "tests/.cache/transformers"

static const char *const models[] = {"vit",         "wav2vec2", "bert_static", "bert",
                                     "whisper_enc", "llama",    "gpt2"};

static int count_op(const mk_program *p, const char *type)
{
    /* the MIL text, counted by "= TYPE(" */
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    mk_err e = {MK_OK, ""};
    int c = -1;
    if (f && mk_program_print(p, f, &e) == MK_OK && fflush(f) == 0) {
        char pat[64];
        snprintf(pat, sizeof pat, " = %s(", type);
        c = 0;
        for (const char *q = s; (q = strstr(q, pat)); q++) c++;
    }
    if (f) fclose(f);
    free(s);
    return c;
}

/* Convert NAME at target (fp16 or fp32, fixes or not) with the sample's shapes, re-read. */
static mk_program *conv(mk_test_ctx *tc, const char *name, const mk_tensor_list *in,
                        mk_target target, int fp16, int fix)
{
    char onnx[256], pkg[700];
    snprintf(onnx, sizeof onnx, DIR "/%s.onnx", name);
    snprintf(pkg, sizeof pkg, "%s/t18_%s_%d_%d_%d.mlpackage", mk_test_tmpdir(), name, (int)target,
             fp16, fix);
    mk_convert_options co;
    memset(&co, 0, sizeof co);
    co.target = target;
    co.shape_from = in;
    mk_pipeline_options po;
    memset(&po, 0, sizeof po);
    po.fp16 = fp16;
    po.fix = fix;
    po.no_calibrate = 1;
    mk_err e = {MK_OK, ""};
    mk_program *p = NULL;
    if (mk_convert(onnx, pkg, &co, &po, NULL, &e) != MK_OK ||
        mk_program_load(pkg, NULL, &p, &e) != MK_OK) {
        CHECK_MSG(0, "%s: %s", name, e.msg);
        return NULL;
    }
    return p;
}

static int load_sample(const char *name, mk_tensor_list *in)
{
    char f[256];
    mk_err e = {MK_OK, ""};
    snprintf(f, sizeof f, DIR "/%s.inputs.npz", name);
    return access(f, R_OK) == 0 && mk_npz_read(f, in, &e) == MK_OK;
}

TEST(tf_ios18_every_attention_is_one_sdpa)
{
    char why[300] = "";
    if (!mk_test_tf_models(NULL, why, sizeof why)) SKIP("%s", why);
    if (access(DIR "/gpt2.onnx", R_OK) != 0)
        SKIP(DIR " absent (tests/.cache is read-only: the exports went elsewhere)");
    for (size_t m = 0; m < sizeof models / sizeof *models; m++) {
        mk_tensor_list in = {0, NULL}, a = {0, NULL}, b = {0, NULL};
        if (!load_sample(models[m], &in)) {
            CHECK_MSG(0, "%s: no sample", models[m]);
            continue;
        }
        mk_program *p17 = conv(tc, models[m], &in, MK_TARGET_IOS17, 0, 1);
        mk_program *p18 = conv(tc, models[m], &in, MK_TARGET_IOS18, 0, 1);
        if (p17 && p18) {
            int att = count_op(p17, "softmax"),
                sdpa = count_op(p18, "scaled_dot_product_attention");
            printf(
                "      %-12s %d attentions -> %d scaled_dot_product_attention, %d softmax left\n",
                models[m], att, sdpa, count_op(p18, "softmax"));
            CHECK_MSG(att > 0 && sdpa == att && count_op(p18, "softmax") == 0,
                      "%s: %d softmax at ios17, %d sdpa and %d softmax at ios18", models[m], att,
                      sdpa, count_op(p18, "softmax"));
            mk_err e = {MK_OK, ""};
            CHECK_MSG(mk_run(p17, NULL, &in, &a, &e) == MK_OK &&
                          mk_run(p18, NULL, &in, &b, &e) == MK_OK,
                      "%s: %s", models[m], e.msg);
            double r = tolerance_ratio(&b, &a, 1e-4, 1e-3);
            CHECK_MSG(r <= 1, "%s: ios18 vs ios17 outputs: ratio %g", models[m], r);
        }
        mk_program_free(p17);
        mk_program_free(p18);
        mk_tensor_list_free(&in);
        mk_tensor_list_free(&a);
        mk_tensor_list_free(&b);
    }
}

static int has_rule(const mk_findings *f, const char *rule)
{
    return mk_findings_count_rule(f, rule) > 0;
}

TEST(tf_ios18_lint_true_positives_raw_and_clean_converted)
{
    char why[300] = "";
    if (!mk_test_tf_models(NULL, why, sizeof why)) SKIP("%s", why);
    if (access(DIR "/gpt2.onnx", R_OK) != 0)
        SKIP(DIR " absent (tests/.cache is read-only: the exports went elsewhere)");
    static const struct {
        const char *model, *raw; /* hazards the raw form has */
    } want[] = {
        {"bert_static", "H13,H14,H6"},
        {"bert", "H13,H14,H6"},
        {"llama", "H12,H14,H6"},
        {"gpt2", "H6"},
    };
    for (size_t m = 0; m < sizeof models / sizeof *models; m++) {
        mk_tensor_list in = {0, NULL};
        if (!load_sample(models[m], &in)) continue;
        mk_program *raw = conv(tc, models[m], &in, MK_TARGET_IOS18, 0, 0);
        mk_program *ok = conv(tc, models[m], &in, MK_TARGET_IOS18, 1, 1);
        mk_findings *fr = NULL, *fo = NULL;
        mk_err e = {MK_OK, ""};
        mk_lint_options l16 = {MK_TARGET_DEFAULT, 1, NULL, NULL},
                        l = {MK_TARGET_DEFAULT, 0, NULL, NULL};
        if (raw && ok && mk_lint(raw, &l16, &fr, &e) == MK_OK &&
            mk_lint(ok, &l, &fo, &e) == MK_OK) {
            for (size_t w = 0; w < sizeof want / sizeof *want; w++) {
                if (strcmp(want[w].model, models[m]) != 0) continue;
                char ids[32];
                snprintf(ids, sizeof ids, "%s", want[w].raw);
                for (char *t = strtok(ids, ","); t; t = strtok(NULL, ","))
                    CHECK_MSG(has_rule(fr, t), "%s raw: no %s finding", models[m], t);
            }
            for (int i = 0; i < mk_findings_count(fo); i++) {
                const mk_finding *x = mk_findings_at(fo, i);
                CHECK_MSG(x->severity == MK_SEV_INFO ||
                              (x->severity == MK_SEV_WARNING && strcmp(x->rule, "H27") == 0),
                          "%s converted: %s %s", models[m], x->rule, x->message);
            }
            mk_placement_summary sum;
            CHECK_MSG(mk_placement_write(ok, NULL, 0, &sum, &e) == MK_OK, "%s", e.msg);
            printf("      %-12s raw: %d findings; converted: %d findings, placement %d of %d ops "
                   "off the Neural Engine\n",
                   models[m], mk_findings_count(fr), mk_findings_count(fo), sum.n_off_ne,
                   sum.n_ops);
            CHECK_MSG(sum.n_off_ne == 0 && sum.n_ops > 0, "%s: %d ops predicted off the NE",
                      models[m], sum.n_off_ne);
        } else {
            CHECK_MSG(0, "%s: %s", models[m], e.msg);
        }
        mk_findings_free(fr);
        mk_findings_free(fo);
        mk_program_free(raw);
        mk_program_free(ok);
        mk_tensor_list_free(&in);
    }
}
