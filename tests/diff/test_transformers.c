/* Transformer exports (issue #9) converted by milkit and compared with onnxruntime-node: ViT,
 * wav2vec2, BERT (static and dynamic sequence), a Whisper-style encoder, a LLaMA-style and a
 * GPT-2-style KV-cache decoder, made by scripts/export_transformers.py (PyTorch, seeded) once
 * per test process into tests/.cache/transformers. fp32 packages within 1e-4 + 1e-3|ref|,
 * fp16 ones cosine >= 0.999; flexible sequence (and cache) lengths; run/verify on the .onnx
 * with -i and no --shape. Skips with the reason when torch, node or onnxruntime is missing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lint/lint_int.h"
#include "test.h"
#include "tf_models.h"

static const char *const models[] = {"vit",         "wav2vec2", "bert_static", "bert",
                                     "whisper_enc", "llama",    "gpt2"};
#define N_MODELS ((int)(sizeof models / sizeof *models))

static char py[64], dir[1024], why[256];

/* Export once: the directory with the models, or NULL with why set. */
static const char *tf_dir(void)
{
    static int done;
    char out[8192];
    if (done) return dir[0] ? dir : NULL;
    done = 1;
    if (mk_test_sh(out, sizeof out, "command -v node >/dev/null") != 0) {
        snprintf(why, sizeof why, "node not found");
        return NULL;
    }
    if (mk_test_sh(out, sizeof out,
                   "node -e \"require('./tests/.cache/node/node_modules/onnxruntime-node')\"") !=
        0) {
        snprintf(why, sizeof why,
                 "onnxruntime-node not in tests/.cache/node (tests/fetch_models.sh)");
        return NULL;
    }
    const char *python = NULL, *d = mk_test_tf_models(&python, why, sizeof why);
    snprintf(py, sizeof py, "%s", python ? python : "");
    if (!d) return NULL;
    snprintf(dir, sizeof dir, "%s", d);
    return dir;
}

#define NEED_MODELS()                                                                              \
    do {                                                                                           \
        if (!tf_dir()) SKIP("%s", why);                                                            \
    } while (0)

/* onnxruntime's outputs for model on inputs in_npz, written as ref_npz. */
static int ort_ref(mk_test_ctx *tc, const char *model, const char *in_npz, const char *ref_npz)
{
    char out[8192], odir[1200];
    snprintf(odir, sizeof odir, "%s.d", ref_npz);
    int rc = mk_test_sh(out, sizeof out, "node tests/diff/ort_run.js %s %s %s --threads 1", model,
                        odir, in_npz);
    CHECK_MSG(rc == 0, "onnxruntime on %s: %s", model, out);
    if (rc) return 0;
    mk_io_decls d;
    mk_err e = {0};
    if (mk_onnx_describe(model, &d, &e) != MK_OK) {
        CHECK_MSG(0, "%s", e.msg);
        return 0;
    }
    mk_tensor_list refs = {0, NULL};
    char specs[16][1400];
    const char *sp[16];
    int n = d.n_outputs < 16 ? d.n_outputs : 16;
    for (int i = 0; i < n; i++) {
        snprintf(specs[i], sizeof specs[i], "%s=%s/%s.npy", d.outputs[i].name, odir,
                 d.outputs[i].name);
        sp[i] = specs[i];
    }
    mk_io_decls_free(&d);
    int ok =
        mk_tensors_load(n, sp, &refs, &e) == MK_OK && mk_tensors_save(ref_npz, &refs, &e) == MK_OK;
    CHECK_MSG(ok, "reference of %s: %s", model, e.msg);
    mk_tensor_list_free(&refs);
    return ok;
}

typedef struct vres {
    int rc, n, all_pass;
    double max_abs, min_cos; /* over every output; min_cos 2 when no output had a cosine */
} vres;

static double json_num(const char *p)
{
    return strncmp(p, "null", 4) == 0 ? NAN : strtod(p, NULL);
}

/* `milkit verify A -i in --ref ref --json [extra]`, summarized. */
static vres verify(const char *a, const char *in, const char *ref, const char *extra)
{
    static char out[1 << 16];
    vres r = {0, 0, 1, 0, 2};
    r.rc = mk_test_sh(out, sizeof out, "%s verify %s -i %s --ref %s --json %s 2>&1", mk_test_bin(),
                      a, in, ref, extra ? extra : "");
    for (const char *p = out; (p = strstr(p, "\"max_abs\":")); p++) {
        double v = json_num(p + 11 + strspn(p + 11, " \t"));
        if (!(v <= r.max_abs)) r.max_abs = v;
        r.n++;
    }
    for (const char *p = out; (p = strstr(p, "\"cosine\":")); p++) {
        double v = json_num(p + 10 + strspn(p + 10, " \t"));
        if (!isnan(v) && v < r.min_cos) r.min_cos = v;
    }
    for (const char *p = out; (p = strstr(p, "\"pass\":")); p++)
        if (strncmp(p + 7 + strspn(p + 7, " \t"), "true", 4) != 0) r.all_pass = 0;
    if (!r.n) r.all_pass = 0;
    return r;
}

/* --shape flags for every input of the tensors in npz (their concrete shapes). */
static void shape_flags(mk_test_ctx *tc, const char *npz, char *buf, size_t cap)
{
    mk_tensor_list l = {0, NULL};
    mk_err e = {0};
    const char *sp[1] = {npz};
    size_t o = 0;
    buf[0] = 0;
    if (mk_tensors_load_shapes(1, sp, &l, &e) != MK_OK) {
        CHECK_MSG(0, "%s", e.msg);
        return;
    }
    for (int i = 0; i < l.n && o < cap; i++) {
        o += (size_t)snprintf(buf + o, cap - o, " --shape %s=", l.items[i].name);
        for (int d = 0; d < l.items[i].rank && o < cap; d++)
            o += (size_t)snprintf(buf + o, cap - o, "%s%lld", d ? "," : "",
                                  (long long)l.items[i].dims[d]);
    }
    mk_tensor_list_free(&l);
}

/* Ops of the package at path that the placement predictor sends to the CPU (H4, H5, H29...). */
static int cpu_ops(mk_test_ctx *tc, const char *path, char *names, size_t cap)
{
    mk_program *p = NULL;
    mk_err e = {0};
    if (mk_model_load(path, NULL, NULL, &p, &e) != MK_OK) {
        CHECK_MSG(0, "%s: %s", path, e.msg);
        return -1;
    }
    int n = 0;
    size_t o = 0;
    names[0] = 0;
    MK_FOR_OPS(mk_ir_main(p)->block, op)
    {
        char buf[256];
        const char *r = mk_lint_off_ne_reason(op, 0, buf, sizeof buf);
        if (r && strstr(r, "runs on the CPU")) {
            n++;
            if (o < cap) o += (size_t)snprintf(names + o, cap - o, " %s", r);
        }
    }
    mk_ir_program_free(p);
    return n;
}

/* Apple's loader (coremltools rebuilds every op from the file), when present; else a note. */
static void loader_check(mk_test_ctx *tc, const char *pkg)
{
    const char *sh = mk_test_shared_dir(), *ct = getenv("MILKIT_COREMLTOOLS");
    char tool[1024], out[16384];
    snprintf(tool, sizeof tool, "%s/tools/validate_mlpackage.py", sh ? sh : "/work/shared");
    if (!ct) ct = "/work/ct";
    if (access(tool, R_OK) != 0 || access(ct, R_OK) != 0) {
        printf("  loader check of %s not run: %s or coremltools (%s) absent\n", pkg, tool, ct);
        return;
    }
    int rc = mk_test_sh(out, sizeof out, "PYTHONPATH='%s' /usr/bin/python3 '%s' --quiet '%s'", ct,
                        tool, pkg);
    if (rc == 2) {
        printf("  loader check of %s not run: coremltools not importable\n", pkg);
        return;
    }
    CHECK_MSG(rc == 0 && strstr(out, "OK:"), "coremltools refuses %s: %.600s", pkg, out);
}

TEST(tf_models_convert_fp32_and_fp16_match_onnxruntime)
{
    NEED_MODELS();
    char out[8192];
    for (int m = 0; m < N_MODELS; m++) {
        const char *nm = models[m];
        char onnx[1200], in[1200], ref[1200], p32[1200], p16[1200], shp[2048];
        snprintf(onnx, sizeof onnx, "%s/%s.onnx", dir, nm);
        snprintf(in, sizeof in, "%s/%s.inputs.npz", dir, nm);
        snprintf(ref, sizeof ref, "%s/tf_%s_ref.npz", mk_test_tmpdir(), nm);
        snprintf(p32, sizeof p32, "%s/tf_%s_fp32.mlpackage", mk_test_tmpdir(), nm);
        snprintf(p16, sizeof p16, "%s/tf_%s_fp16.mlpackage", mk_test_tmpdir(), nm);
        if (!ort_ref(tc, onnx, in, ref)) continue;
        shape_flags(tc, in, shp, sizeof shp);
        int rc = mk_test_sh(out, sizeof out, "%s convert %s -o %s --precision fp32%s 2>&1",
                            mk_test_bin(), onnx, p32, shp);
        CHECK_MSG(rc == 0, "%s: convert fp32: %s", nm, out);
        rc |= mk_test_sh(out, sizeof out, "%s convert %s -o %s -i %s%s 2>&1", mk_test_bin(), onnx,
                         p16, in, shp);
        CHECK_MSG(rc == 0, "%s: convert fp16: %s", nm, out);
        if (rc) continue;
        vres a = verify(p32, in, ref, NULL), b = verify(p16, in, ref, NULL);
        CHECK_MSG(a.rc == 0 && a.all_pass, "%s fp32: max abs %g (rc %d)", nm, a.max_abs, a.rc);
        CHECK_MSG(b.n > 0 && b.min_cos >= 0.999, "%s fp16: cosine %.6f, max abs %g", nm, b.min_cos,
                  b.max_abs);
        printf("  %-12s fp32 max abs %.3g; fp16 max abs %.3g, cosine %.7f\n", nm, a.max_abs,
               b.max_abs, b.min_cos);
        fflush(stdout);
        /* the fp32 package re-reads and keeps static shapes: no run-time shape op, no CPU op */
        char cpu[512];
        CHECK_MSG(cpu_ops(tc, p32, cpu, sizeof cpu) == 0, "%s: CPU ops:%s", nm, cpu);
        mk_test_sh(out, sizeof out, "%s info %s 2>&1", mk_test_bin(), p32);
        CHECK_MSG(!strstr(out, "\n  shape "), "%s: a run-time shape op is left", nm);
    }
}

/* `milkit run` / `verify` on the .onnx itself with -i and no --shape: the inputs' shapes fix
 * the dynamic dims, as onnxruntime takes them; an empty cache (gpt2, past length 0) too. */
TEST(tf_onnx_run_and_verify_take_shapes_from_inputs)
{
    NEED_MODELS();
    char out[8192];
    static const char *const dyn[] = {"bert", "llama", "gpt2", "gpt2"};
    for (int k = 0; k < 4; k++) {
        char onnx[1200], in[1200], ref[1200], o[1200];
        snprintf(onnx, sizeof onnx, "%s/%s.onnx", dir, dyn[k]);
        snprintf(in, sizeof in, "%s/%s.inputs.npz", dir, dyn[k]);
        if (k == 3) {
            snprintf(in, sizeof in, "%s/tf_gpt2_empty_in.npz", mk_test_tmpdir());
            if (mk_test_sh(
                    out, sizeof out,
                    "%s scripts/export_transformers.py --sample gpt2 %s --seq 5 --past 0 2>&1", py,
                    in)) {
                CHECK_MSG(0, "sample: %s", out);
                continue;
            }
        }
        snprintf(ref, sizeof ref, "%s/tf_%s_%d_onnx_ref.npz", mk_test_tmpdir(), dyn[k], k);
        snprintf(o, sizeof o, "%s/tf_%s_%d_out.npz", mk_test_tmpdir(), dyn[k], k);
        if (!ort_ref(tc, onnx, in, ref)) continue;
        int rc =
            mk_test_sh(out, sizeof out, "%s run %s -i %s -o %s 2>&1", mk_test_bin(), onnx, in, o);
        CHECK_MSG(rc == 0, "%s: run: %s", dyn[k], out);
        vres v = verify(onnx, in, ref, NULL);
        CHECK_MSG(v.rc == 0 && v.all_pass, "%s (%d): verify max abs %g rc %d", dyn[k], k, v.max_abs,
                  v.rc);
        /* convert's calibration inputs fix the dims the same way */
        char pkg[1200];
        snprintf(pkg, sizeof pkg, "%s/tf_%s_%d_from_i.mlpackage", mk_test_tmpdir(), dyn[k], k);
        rc = mk_test_sh(out, sizeof out, "%s convert %s -i %s -o %s --precision fp32 2>&1",
                        mk_test_bin(), onnx, in, pkg);
        CHECK_MSG(rc == 0, "%s: convert -i: %s", dyn[k], out);
        v = verify(pkg, in, ref, NULL);
        CHECK_MSG(rc == 0 && v.rc == 0 && v.all_pass, "%s (%d): package from -i: max abs %g",
                  dyn[k], k, v.max_abs);
    }
}

/* Ops of type in the MIL text of pkg (`milkit dump`), -1 on failure. */
static int count_ops(const char *pkg, const char *type)
{
    char out[64];
    if (mk_test_sh(out, sizeof out, "%s dump %s | grep -c ' = %s(' 2>&1", mk_test_bin(), pkg,
                   type) > 1)
        return -1;
    return atoi(out);
}

/* One package per model with a flexible sequence length: bert with enumerated lengths, llama
 * and gpt2 with 1..512 (gpt2's cache 0..512), matching onnxruntime at lengths 1, 9, 20, 128
 * (cache 0, 7, 100), with no op the placement predictor sends to the CPU; converted at iOS18,
 * every attention is one scaled_dot_product_attention and onnxruntime still matches. */
TEST(tf_flexible_sequence_lengths_match_onnxruntime)
{
    NEED_MODELS();
    static const struct {
        const char *model, *shapes;
    } cases[] = {
        {"bert", "--shape 'input_ids=1,[1|9|20|128]' --shape 'attention_mask=1,[1|9|20|128]'"},
        {"llama", "--shape input_ids=1,1..512 --shape position_ids=1,1..512"},
        {"gpt2", "--shape input_ids=1,1..512 --shape position_ids=1,1..512 "
                 "--shape past_key_0=1,4,0..512,16 --shape past_value_0=1,4,0..512,16 "
                 "--shape past_key_1=1,4,0..512,16 --shape past_value_1=1,4,0..512,16"},
    };
    static const int seq[4] = {1, 9, 20, 128}, past[4] = {0, 7, 100, 7};
    char out[8192];
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const char *nm = cases[c].model;
        char onnx[1200], pkg[1200], cpu[512];
        snprintf(onnx, sizeof onnx, "%s/%s.onnx", dir, nm);
        snprintf(pkg, sizeof pkg, "%s/tf_%s_flex.mlpackage", mk_test_tmpdir(), nm);
        int rc = mk_test_sh(out, sizeof out, "%s convert %s -o %s --precision fp32 %s 2>&1",
                            mk_test_bin(), onnx, pkg, cases[c].shapes);
        CHECK_MSG(rc == 0, "%s: convert: %s", nm, out);
        if (rc) continue;
        CHECK_MSG(cpu_ops(tc, pkg, cpu, sizeof cpu) == 0, "%s: CPU ops:%s", nm, cpu);
        if (c != 1) loader_check(tc, pkg); /* enumerated shapes; a 0..512 cache range */
        /* at iOS18 the same flexible package has every attention as one SDPA */
        char pkg18[1300];
        snprintf(pkg18, sizeof pkg18, "%s/tf_%s_flex18.mlpackage", mk_test_tmpdir(), nm);
        rc = mk_test_sh(out, sizeof out,
                        "%s convert %s -o %s --precision fp32 --target ios18 %s 2>&1",
                        mk_test_bin(), onnx, pkg18, cases[c].shapes);
        CHECK_MSG(rc == 0, "%s: convert ios18: %s", nm, out);
        int att = count_ops(pkg, "softmax"),
            sdpa = count_ops(pkg18, "scaled_dot_product_attention");
        printf(
            "  %-6s flexible: %d softmax -> %d scaled_dot_product_attention at ios18, %d softmax "
            "left\n",
            nm, att, sdpa, count_ops(pkg18, "softmax"));
        CHECK_MSG(att > 0 && sdpa == att && count_ops(pkg18, "softmax") == 0,
                  "%s flexible ios18: %d softmax before, %d sdpa, %d softmax after", nm, att, sdpa,
                  count_ops(pkg18, "softmax"));
        if (c == 0) loader_check(tc, pkg18);
        for (int k = 0; k < 4; k++) {
            int p = strcmp(nm, "gpt2") == 0 ? past[k] : 0;
            char in[1200], ref[1200];
            snprintf(in, sizeof in, "%s/tf_%s_s%d_p%d.npz", mk_test_tmpdir(), nm, seq[k], p);
            snprintf(ref, sizeof ref, "%s/tf_%s_s%d_p%d_ref.npz", mk_test_tmpdir(), nm, seq[k], p);
            if (mk_test_sh(
                    out, sizeof out,
                    "%s scripts/export_transformers.py --sample %s %s --seq %d --past %d 2>&1", py,
                    nm, in, seq[k], p)) {
                CHECK_MSG(0, "sample: %s", out);
                continue;
            }
            if (!ort_ref(tc, onnx, in, ref)) continue;
            vres v = verify(pkg, in, ref, NULL);
            CHECK_MSG(v.rc == 0 && v.all_pass, "%s length %d (cache %d): max abs %g rc %d", nm,
                      seq[k], p, v.max_abs, v.rc);
            vres v18 = verify(pkg18, in, ref, NULL);
            CHECK_MSG(v18.rc == 0 && v18.all_pass,
                      "%s ios18 length %d (cache %d): max abs %g rc %d", nm, seq[k], p, v18.max_abs,
                      v18.rc);
            printf("  %-6s length %3d cache %3d: max abs %.3g (ios18, fused: %.3g)\n", nm, seq[k],
                   p, v.max_abs, v18.max_abs);
            fflush(stdout);
        }
    }
}
