/* The stateful GPT-2 decoder (--context, iOS18) with its attention fused: the causal mask is
 * cut to the run-time length L = filled + n, rows [L - n, L), and mk_ir_refine_dims proves
 * those are n rows, so each attention becomes one scaled_dot_product_attention (fp32 and fp16
 * packages; the fp16 one is calibrated on seeded steps), which then attends over the whole
 * state (capacity 256) with the new entries written in and positions >= L masked: no value
 * has a run-time dim, no op is predicted CPU-only, the fp16 package has nothing but its state
 * ops off the Neural Engine (H34: last dim 16), and coremltools' loader accepts the packages. The
 * fused fp32 package gives the unfused one's (convert without fixes) outputs and cache (hi + lo) at
 * lengths n = 1, 9, 20, 128 from caches of 0, 7 and 100 random entries (interpreter, 1e-4 +
 * 1e-3|ref|). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ir/ir.h"
#include "lint/lint_int.h"
#include "milkit.h"
#include "test.h"
#include "tf_models.h"
#include "unit/test_fix_util.h"

#define CTX 256

static int count_kind(const mk_program *p, mk_op_kind k)
{
    int n = 0;
    for (int f = 0; f < p->n_functions; f++)
        MK_FOR_OPS(p->functions[f]->block, op) n += op->kind == k;
    return n;
}

/* gpt2 with input_ids/position_ids 1 x n as an iOS18 stateful package, re-read. */
static mk_program *conv(mk_test_ctx *tc, const char *model, int n, int fix, int fp16,
                        mk_convert_report *rep)
{
    char s1[64], s2[64], pkg[700];
    snprintf(s1, sizeof s1, "input_ids=1,%d", n);
    snprintf(s2, sizeof s2, "position_ids=1,%d", n);
    const char *shapes[2] = {s1, s2};
    snprintf(pkg, sizeof pkg, "%s/gpt2_sdpa_%d_%d_%d.mlpackage", mk_test_tmpdir(), n, fix, fp16);
    mk_convert_options co;
    memset(&co, 0, sizeof co);
    co.target = MK_TARGET_IOS18;
    co.n_shapes = 2;
    co.shapes = shapes;
    mk_pipeline_options po;
    memset(&po, 0, sizeof po);
    po.fix = fix;
    po.fp16 = fp16;
    po.no_calibrate = !rep;
    po.context = CTX;
    po.cache_length = "position_ids";
    mk_err e = {MK_OK, ""};
    mk_program *p = NULL;
    if (mk_convert(model, pkg, &co, &po, rep, &e) != MK_OK ||
        mk_program_load(pkg, NULL, &p, &e) != MK_OK) {
        CHECK_MSG(0, "n=%d fix=%d fp16=%d: %s", n, fix, fp16, e.msg);
        return NULL;
    }
    return p;
}

/* ops of p whose output has a run-time dim */
static int dynamic_values(const mk_program *p)
{
    int n = 0;
    for (int f = 0; f < p->n_functions; f++) MK_FOR_OPS(p->functions[f]->block, op)
    for (int i = 0; i < op->n_outputs; i++)
        n += !op->outputs[i]->type.is_list && !mk_type_is_static(&op->outputs[i]->type);
    return n;
}

/* Ops of p predicted off the Neural Engine: *cpu of them CPU-only, *other not state ops
 * with H34 (a state whose last dim, the export's head size 16, is not a multiple of 32) */
static int off_ne(const mk_program *p, int *cpu, int *other)
{
    int n = 0;
    *cpu = *other = 0;
    for (int f = 0; f < p->n_functions; f++) MK_FOR_OPS(p->functions[f]->block, op)
        {
            char buf[256];
            const char *r = mk_lint_off_ne_reason(op, mk_lint_program_is_fp16(p), buf, sizeof buf);
            if (!r || op->kind == MK_OP_CONST) continue;
            n++;
            *cpu += strstr(r, "runs on the CPU") != NULL;
            *other += !strstr(r, "(H34)");
        }
    return n;
}

/* Apple's loader (coremltools' milproto frontend) type-checks the packages, when present. */
static void loader_check(mk_test_ctx *tc, const char *pkgs)
{
    const char *sh = mk_test_shared_dir(), *ct = getenv("MILKIT_COREMLTOOLS");
    char tool[1024], out[16384];
    snprintf(tool, sizeof tool, "%s/tools/validate_mlpackage.py", sh ? sh : "/work/shared");
    if (!ct) ct = "/work/ct";
    if (access(tool, R_OK) != 0 || access(ct, R_OK) != 0) {
        printf("      loader check not run: %s or coremltools (%s) absent\n", tool, ct);
        return;
    }
    int rc = mk_test_sh(out, sizeof out, "PYTHONPATH='%s' /usr/bin/python3 '%s' --quiet %s", ct,
                        tool, pkgs);
    if (rc == 2) {
        printf("      loader check not run: coremltools not importable\n");
        return;
    }
    CHECK_MSG(rc == 0 && !strstr(out, "FAIL"), "coremltools refuses: %.800s", out);
}

/* Each cache as the fp32 value its hi/lo pair holds (hi += lo, lo zeroed): a residual alone
 * flips with the last bit of hi. */
static void fold_lo(mk_tensor_list *l)
{
    for (int i = 0; i < l->n; i++) {
        char want[300];
        snprintf(want, sizeof want, "%s_lo", l->items[i].name);
        for (int j = 0; j < l->n; j++) {
            if (strcmp(l->items[j].name, want) != 0 || l->items[j].nbytes != l->items[i].nbytes)
                continue;
            float *hi = l->items[i].data, *lo = l->items[j].data;
            for (size_t k = 0; k < l->items[i].nbytes / 4; k++) {
                hi[k] += lo[k];
                lo[k] = 0;
            }
        }
    }
}

/* Both sessions from the same random cache of `filled` entries, one step of n tokens: the
 * worst ratio over the outputs and the states afterwards (-1 on failure). */
static double step_ratio(mk_test_ctx *tc, mk_session *a, mk_session *b, int n, int filled,
                         unsigned seed)
{
    mk_err e = {MK_OK, ""};
    srand(seed);
    for (int i = 0; i < mk_session_n_states(a); i++) {
        const char *nm = mk_session_state_name(a, i);
        mk_tensor st;
        if (mk_session_state_get(a, nm, &st, &e) != MK_OK) return -1;
        float *d = st.data;
        size_t cnt = st.nbytes / 4;
        int lo = strstr(nm, "_lo") != NULL; /* a residual: tiny */
        for (size_t j = 0; j < cnt; j++)
            d[j] = (float)(rand() % 2001 - 1000) * (lo ? 1e-7f : 1e-3f);
        int ok = mk_session_state_set(a, nm, &st, &e) == MK_OK &&
                 mk_session_state_set(b, nm, &st, &e) == MK_OK;
        mk_tensor_free(&st);
        if (!ok) return -1;
    }
    int32_t ids[128], pos[128];
    for (int j = 0; j < n; j++) {
        ids[j] = rand() % 100;
        pos[j] = filled + j;
    }
    mk_tensor in[2] = {{(char *)"input_ids", 23, 2, {1, n}, ids, (size_t)n * 4},
                       {(char *)"position_ids", 23, 2, {1, n}, pos, (size_t)n * 4}};
    mk_tensor_list il = {2, in}, oa = {0, NULL}, ob = {0, NULL}, sa = {0, NULL}, sb = {0, NULL};
    double r = -1;
    if (mk_session_run(a, &il, &oa, NULL, &e) == MK_OK &&
        mk_session_run(b, &il, &ob, NULL, &e) == MK_OK &&
        mk_session_states_get(a, &sa, &e) == MK_OK && mk_session_states_get(b, &sb, &e) == MK_OK) {
        fold_lo(&sa);
        fold_lo(&sb);
        double r1 = tolerance_ratio(&oa, &ob, 1e-4, 1e-3),
               r2 = tolerance_ratio(&sa, &sb, 1e-4, 1e-3);
        r = r1 > r2 ? r1 : r2;
    } else {
        CHECK_MSG(0, "n=%d filled=%d: %s", n, filled, e.msg);
    }
    mk_tensor_list_free(&oa);
    mk_tensor_list_free(&ob);
    mk_tensor_list_free(&sa);
    mk_tensor_list_free(&sb);
    return r;
}

TEST(kv_state_gpt2_attention_fused_under_runtime_length)
{
    char why[300] = "", model[1100];
    const char *dir = mk_test_tf_models(NULL, why, sizeof why);
    if (!dir) SKIP("%s", why);
    snprintf(model, sizeof model, "%s/gpt2.onnx", dir);
    if (access(model, R_OK) != 0) SKIP("%s absent", model);
    static const int lens[4] = {1, 9, 20, 128}, fills[3] = {0, 7, 100};
    for (int l = 0; l < 4; l++) {
        mk_convert_report rep;
        memset(&rep, 0, sizeof rep);
        mk_program *fu = conv(tc, model, lens[l], 1, 0, NULL),
                   *un = conv(tc, model, lens[l], 0, 0, NULL);
        mk_program *h = lens[l] == 1 ? conv(tc, model, 1, 1, 1, &rep) : NULL;
        mk_session *a = NULL, *b = NULL;
        mk_err e = {MK_OK, ""};
        if (fu && un) {
            int sd = count_kind(fu, MK_OP_SCALED_DOT_PRODUCT_ATTENTION),
                att = count_kind(un, MK_OP_SOFTMAX);
            CHECK_MSG(att == 2 && sd == att && count_kind(fu, MK_OP_SOFTMAX) == 0,
                      "n=%d: %d softmax unfused; fused: %d sdpa, %d softmax", lens[l], att, sd,
                      count_kind(fu, MK_OP_SOFTMAX));
            if (h)
                CHECK_MSG(count_kind(h, MK_OP_SCALED_DOT_PRODUCT_ATTENTION) == 2 &&
                              count_kind(h, MK_OP_SOFTMAX) == 0,
                          "fp16 package: %d sdpa",
                          count_kind(h, MK_OP_SCALED_DOT_PRODUCT_ATTENTION));
            /* calibrated on a seeded stream of steps, as stateless programs are */
            if (h)
                CHECK_MSG(rep.calib_source == 2 && rep.n_calib_inputs == 2 &&
                              rep.n_precision >= 1 && rep.precision[0].cosine > 0.999,
                          "fp16 stateful calibration: source %d, %d runs, %d rows: %s",
                          rep.calib_source, rep.n_calib_inputs, rep.n_precision, rep.calib_note);
            /* attention at the state's capacity: no run-time length left anywhere */
            CHECK_MSG(dynamic_values(fu) == 0 && (!h || dynamic_values(h) == 0),
                      "n=%d: %d values with a run-time dim (fp16: %d)", lens[l], dynamic_values(fu),
                      h ? dynamic_values(h) : 0);
            for (int w = 0; w < 2; w++) {
                const mk_program *pp = w ? h : fu;
                int cpu = 0, other = 0, off = pp ? off_ne(pp, &cpu, &other) : 0;
                if (!pp) continue;
                printf("      n %3d %s: %d ops predicted off the Neural Engine (%d CPU-only, %d "
                       "not H34 state ops)\n",
                       lens[l], w ? "fp16" : "fp32", off, cpu, other);
                CHECK_MSG(cpu == 0 && (w == 0 || other == 0),
                          "n=%d %s: %d CPU-only ops, %d off the NE besides H34 state ops", lens[l],
                          w ? "fp16" : "fp32", cpu, other);
            }
            CHECK_MSG(mk_session_new(fu, NULL, &a, &e) == MK_OK &&
                          mk_session_new(un, NULL, &b, &e) == MK_OK,
                      "%s", e.msg);
        }
        for (int f = 0; a && b && f < 3; f++) {
            double r = step_ratio(tc, a, b, lens[l], fills[f], 7u + (unsigned)(l * 3 + f));
            printf("      n %3d cache %3d: fused vs unfused worst ratio %.3g\n", lens[l], fills[f],
                   r);
            CHECK_MSG(r >= 0 && r <= 1, "n=%d cache %d: fused vs unfused ratio %g", lens[l],
                      fills[f], r);
        }
        mk_session_free(a);
        mk_session_free(b);
        mk_program_free(fu);
        mk_program_free(un);
        mk_program_free(h);
    }
    char pk[2000];
    snprintf(pk, sizeof pk, "%s/gpt2_sdpa_1_1_1.mlpackage %s/gpt2_sdpa_9_1_0.mlpackage",
             mk_test_tmpdir(), mk_test_tmpdir());
    loader_check(tc, pk);
}
