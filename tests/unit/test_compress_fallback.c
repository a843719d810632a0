/* Blocks and groups that do not divide a weight's axis: the largest divisor within [want/4,
 * want], else the smallest within (want, 2*want], else per channel / per tensor, named in the
 * report and never left fp32; --strict refuses instead; small weights are listed as kept. Sparse +
 * palettized (iOS18 lut_to_sparse -> sparse_to_dense). Each compressed program is run against x·W'ᵀ
 * computed from the reconstruction the compressor reports. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "ir/ir.h"
#include "passes/compress_int.h"
#include "test.h"

/* x[1, cin] -> linear(W[cout, cin]) -> y, plus a small second linear kept by min_elements */
static mk_program *lin_prog(int64_t cout, int64_t cin, float **wout)
{
    mk_program *p = mk_ir_program_new(NULL, 9);
    mk_function *f = p ? mk_ir_function_new(p, "main") : NULL;
    size_t n = (size_t)(cout * cin);
    float *w = f ? malloc(n * sizeof *w) : NULL;
    if (!w) {
        mk_ir_program_free(p); /* out of memory (milkit_tests --fail-alloc) */
        return NULL;
    }
    unsigned s = 3;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        w[i] = ((float)((s >> 8) & 0xffff) / 32768.0f - 1.0f) * (1 + (float)(i % 5));
    }
    int64_t d[2] = {cout, cin}, xd[2] = {1, cin}, sd[2] = {4, cout};
    mk_type t = mk_type_make(MK_DT_FP32, 2, d), xt = mk_type_make(MK_DT_FP32, 2, xd);
    mk_type st = mk_type_make(MK_DT_FP32, 2, sd);
    float small[4 * 64];
    for (int i = 0; i < 4 * cout && i < 256; i++) small[i] = (float)(i % 7) * 0.1f;
    mk_value *x = mk_ir_function_add_input(p, f, "x", &xt);
    mk_value *wv = mk_ir_const(p, f->block, "w", &t, w, n * sizeof *w, 0);
    mk_value *sv = cout <= 64 ? mk_ir_const(p, f->block, "w_small", &st, small,
                                            (size_t)(4 * cout) * sizeof(float), 0)
                              : NULL;
    mk_type none = mk_type_make(MK_DT_INVALID, MK_RANK_UNKNOWN, NULL);
    mk_op *l1 = mk_ir_op_new(p, MK_OP_LINEAR, "l1"), *l2 = mk_ir_op_new(p, MK_OP_LINEAR, "l2");
    mk_err e = {MK_OK, ""};
    if (!x || !wv || !sv || !l1 || !l2 || !mk_ir_op_add_input(p, l1, "x", x) ||
        !mk_ir_op_add_input(p, l1, "weight", wv) || !mk_ir_op_add_output(p, l1, NULL, &none))
        goto fail;
    mk_ir_block_append(f->block, l1);
    if (mk_ir_infer_op(l1, &e) || !mk_ir_op_add_input(p, l2, "x", l1->outputs[0]) ||
        !mk_ir_op_add_input(p, l2, "weight", sv) || !mk_ir_op_add_output(p, l2, NULL, &none))
        goto fail;
    mk_ir_block_append(f->block, l2);
    mk_value *outs[2] = {l1->outputs[0], l2->outputs[0]};
    if (mk_ir_infer_op(l2, &e) || !mk_ir_block_set_outputs(p, f->block, 2, outs)) goto fail;
    *wout = w;
    return p;
fail:
    mk_ir_program_free(p);
    free(w);
    return NULL;
}

/* compress p's one large weight with o; rec receives its reconstruction; 1 when the
 * interpreter's output is x·recᵀ */
static int run_matches(mk_test_ctx *tc, mk_program *p, const mk_compress_options *o, int64_t cout,
                       int64_t cin, float *rec, mk_compress_report *rep)
{
    mk_err e = {MK_OK, ""};
    mk_cmp_site *s = NULL;
    int ns = 0;
    if (mk_cmp_sites(p, o, &s, &ns, rep, &e) != MK_OK || ns != 1) return 0;
    int ok = mk_cmp_apply(p, s, 1, &o, &rec, rep, &e) == MK_OK &&
             mk_cmp_finish_program(p, rep, &e) == MK_OK;
    mk_cmp_sites_free(s, ns);
    CHECK_MSG(ok, "compress: %s", e.msg);
    mk_tensor_list in = {0, NULL}, out = {0, NULL};
    mk_run_options ro = {0, 0, 1};
    ok = ok && mk_random_inputs(p, 5, &in, &e) == MK_OK && mk_run(p, &ro, &in, &out, &e) == MK_OK &&
         out.n == 2;
    CHECK_MSG(ok, "run: %s", e.msg);
    double worst = 0;
    for (int64_t r = 0; ok && r < cout; r++) {
        const float *x = in.items[0].data, *y = out.items[0].data;
        double acc = 0, mag = 0;
        for (int64_t i = 0; i < cin; i++)
            acc += (double)x[i] * rec[r * cin + i], mag += fabs((double)x[i] * rec[r * cin + i]);
        worst = fmax(worst, fabs(acc - y[r]) / (mag + 1e-6));
    }
    CHECK_MSG(worst < 1e-5, "output differs from x.rec^T by %g", worst);
    mk_tensor_list_free(&in);
    mk_tensor_list_free(&out);
    return ok && worst < 1e-5;
}

static int count_kind(const mk_program *p, mk_op_kind k)
{
    int n = 0;
    MK_FOR_OPS(mk_ir_main(p)->block, op)
    {
        n += op->kind == k;
    }
    return n;
}

TEST(compress_sparse_palettized_ios18)
{
    for (int grouped = 0; grouped < 2; grouped++) {
        float *w = NULL, rec[64 * 64];
        mk_program *p = lin_prog(64, 64, &w);
        REQUIRE(p && w);
        mk_compress_options o = {.mode = MK_CMP_SPARSE,
                                 .sparsity = 0.5,
                                 .bits = 4,
                                 .granularity = grouped ? 2 : 0,
                                 .group = 16,
                                 .min_elements = 1000};
        mk_compress_report rep;
        CHECK(run_matches(tc, p, &o, 64, 64, rec, &rep));
        CHECK_EQ_INT(count_kind(p, MK_OP_CONSTEXPR_LUT_TO_SPARSE), 1);
        CHECK_EQ_INT(count_kind(p, MK_OP_CONSTEXPR_SPARSE_TO_DENSE), 1);
        size_t zeros = 0;
        for (int i = 0; i < 64 * 64; i++) zeros += rec[i] == 0;
        CHECK_MSG(zeros >= 2048 && zeros < 2048 + 64, "%zu zeros of 4096", zeros);
        for (int g = 0; g < (grouped ? 4 : 1); g++) { /* at most 16 values per LUT */
            float seen[64];
            int ns = 0;
            for (int i = g * (grouped ? 1024 : 4096); i < (g + 1) * (grouped ? 1024 : 4096); i++) {
                int k = 0;
                while (k < ns && seen[k] != rec[i]) k++;
                if (k == ns && ns < 64) seen[ns++] = rec[i];
            }
            CHECK_MSG(ns <= 17, "group %d: %d distinct values", g, ns);
        }
        CHECK_MSG(rep.n == 1 && rep.layers[0].bytes_after < 4096 * 4 / 5 &&
                      strstr(rep.layers[0].mode, "sparse 50% + lut4"),
                  "%s: %zu bytes", rep.n ? rep.layers[0].mode : "-",
                  rep.n ? rep.layers[0].bytes_after : 0);
        char path[1024];
        snprintf(path, sizeof path, "%s/sparse_lut_%d.mlpackage", mk_test_tmpdir(), grouped);
        mk_err e = {MK_OK, ""};
        mk_program *r = NULL;
        CHECK_MSG(mk_program_save(p, path, MK_TARGET_DEFAULT, &e) == MK_OK &&
                      mk_program_load(path, NULL, &r, &e) == MK_OK,
                  "round trip: %s", e.msg);
        if (r) CHECK_EQ_INT(count_kind(r, MK_OP_CONSTEXPR_LUT_TO_SPARSE), 1);
        mk_program_free(r);
        mk_compress_report_free(&rep);
        mk_ir_program_free(p);
        free(w);
    }
    /* iOS17 has no lut_to_sparse */
    float *w = NULL;
    mk_program *p = lin_prog(64, 64, &w);
    REQUIRE(p && w);
    p->spec_version = 8;
    mk_compress_options o = {.mode = MK_CMP_SPARSE, .sparsity = 0.5, .bits = 4};
    mk_compress_report rep;
    mk_err e = {MK_OK, ""};
    CHECK(mk_compress(p, &o, &rep, &e) == MK_EUNSUPPORTED && strstr(e.msg, "iOS18"));
    mk_ir_program_free(p);
    free(w);
}

typedef struct fcase {
    int64_t cout, cin;
    mk_compress_options o;
    const char *note; /* expected in the mode */
    int64_t np;       /* parameter count: scales (linear) or LUT entries (palette) */
} fcase;

TEST(compress_fallback_nearest_divisor_or_coarser)
{
    const fcase cases[] = {
        {48,
         40,
         {.mode = MK_CMP_LINEAR, .bits = 4, .granularity = 2, .block = 32},
         "block 32 does not divide 40: block 20",
         48 * 2},
        {48,
         37,
         {.mode = MK_CMP_LINEAR, .bits = 4, .granularity = 2, .block = 32},
         "block 32: no divisor of 37 near it: per channel",
         48},
        /* a smaller divisor down to want/4 before a larger one or per channel/tensor */
        {48,
         65,
         {.mode = MK_CMP_LINEAR, .bits = 4, .granularity = 2, .block = 32},
         "block 32 does not divide 65: block 13",
         48 * 5},
        {35,
         64,
         {.mode = MK_CMP_PALETTE, .bits = 4, .granularity = 2, .group = 16},
         "group 16 does not divide 35: group 7",
         5 * 16},
        {48,
         24,
         {.mode = MK_CMP_LINEAR, .bits = 8, .granularity = 2, .block = 32},
         "block 32 longer than the axis: block 24",
         48},
        {37,
         64,
         {.mode = MK_CMP_PALETTE, .bits = 4, .granularity = 2, .group = 16},
         "group 16: no divisor of 37 near it: per tensor",
         16},
        {60,
         64,
         {.mode = MK_CMP_PALETTE, .bits = 4, .granularity = 2, .group = 16},
         "group 16 does not divide 60: group 15",
         4 * 16},
        {64, 64, {.mode = MK_CMP_PALETTE, .bits = 4, .granularity = 2, .group = 16}, "", 4 * 16},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const fcase *c = &cases[k];
        float *w = NULL;
        mk_program *p = lin_prog(c->cout, c->cin, &w);
        REQUIRE(p && w);
        mk_compress_options o = c->o;
        o.min_elements = 1000;
        mk_err e = {MK_OK, ""};
        mk_compress_report rep;
        memset(&rep, 0, sizeof rep);
        mk_cmp_site *s = NULL;
        int ns = 0;
        size_t n = (size_t)(c->cout * c->cin);
        float *rec = malloc(n * sizeof *rec);
        const mk_compress_options *op = &o;
        mk_tensor_list in = {0, NULL}, out = {0, NULL};
        if (!rec || mk_cmp_sites(p, &o, &s, &ns, &rep, &e) != MK_OK) {
            CHECK(0);
            goto next;
        }
        CHECK_MSG(ns == 1 && rep.n_kept == 1 && strstr(rep.kept[0].mode, "min-elements"),
                  "case %zu: %d sites, %d kept", k, ns, rep.n_kept);
        CHECK_MSG(mk_cmp_apply(p, s, 1, &op, &rec, &rep, &e) == MK_OK &&
                      mk_cmp_finish_program(p, &rep, &e) == MK_OK,
                  "case %zu: %s", k, e.msg);
        mk_cmp_sites_free(s, ns);
        CHECK_MSG(rep.n == 1 && (c->note[0] ? strstr(rep.layers[0].mode, c->note) != NULL
                                            : !strstr(rep.layers[0].mode, ";")),
                  "case %zu: mode '%s', expected '%s'", k, rep.n ? rep.layers[0].mode : "-",
                  c->note);
        /* the scale / LUT constant has the expected element count */
        int64_t found = -1;
        MK_FOR_OPS(mk_ir_main(p)->block, op2)
        {
            const char *pn = op2->kind == MK_OP_CONSTEXPR_LUT_TO_DENSE ? "lut" : "scale";
            mk_value *v = mk_ir_arg(op2, pn);
            size_t cnt = 0;
            if ((op2->kind == MK_OP_CONSTEXPR_LUT_TO_DENSE ||
                 op2->kind == MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE) &&
                v && mk_type_numel(&v->type, &cnt))
                found = (int64_t)cnt;
        }
        CHECK_MSG(found == c->np, "case %zu: %lld parameters, expected %lld", k, (long long)found,
                  (long long)c->np);
        /* the interpreter decodes exactly the reconstruction */
        mk_run_options ro = {0, 0, 1};
        if (mk_random_inputs(p, 5, &in, &e) != MK_OK) {
            CHECK(0);
            goto next;
        }
        CHECK_MSG(mk_run(p, &ro, &in, &out, &e) == MK_OK && out.n == 2, "case %zu: %s", k, e.msg);
        const float *x = in.items[0].data, *y = out.n ? out.items[0].data : NULL;
        double worst = 0;
        for (int64_t r = 0; y && r < c->cout; r++) {
            double acc = 0, mag = 0;
            for (int64_t i = 0; i < c->cin; i++)
                acc += (double)x[i] * rec[r * c->cin + i],
                    mag += fabs((double)x[i] * rec[r * c->cin + i]);
            worst = fmax(worst, fabs(acc - y[r]) / (mag + 1e-6));
        }
        CHECK_MSG(y && worst < 1e-5, "case %zu: output differs from x.rec^T by %g", k, worst);
    next:
        mk_tensor_list_free(&in);
        mk_tensor_list_free(&out);
        mk_compress_report_free(&rep);
        mk_ir_program_free(p);
        free(w);
        free(rec);
    }
}

TEST(compress_strict_refuses_a_fallback)
{
    float *w = NULL;
    mk_program *p = lin_prog(48, 40, &w);
    REQUIRE(p && w);
    mk_compress_options o = {.mode = MK_CMP_LINEAR,
                             .bits = 4,
                             .granularity = 2,
                             .block = 32,
                             .min_elements = 1000,
                             .strict = 1};
    mk_err e = {MK_OK, ""};
    mk_compress_report rep;
    CHECK(mk_compress(p, &o, &rep, &e) == MK_EINVAL);
    CHECK_MSG(strstr(e.msg, "weight w: block 32 does not divide 40") && strstr(e.msg, "--strict"),
              "message: %s", e.msg);
    mk_ir_program_free(p);
    free(w);
}

/* the default --min-elements takes weights of more than 2048 elements, as coremltools'
 * weight_threshold (size > 2048): a 32 x 64 weight stays, 41 x 50 = 2050 is compressed, and an
 * explicit --min-elements 2048 takes the 32 x 64 one */
TEST(compress_default_threshold_more_than_2048)
{
    const struct {
        int64_t cout, cin;
        size_t min_elements;
        int sites;
    } cases[] = {{32, 64, 0, 0}, {41, 50, 0, 1}, {32, 64, 2048, 1}, {32, 63, 0, 0}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        float *w = NULL;
        mk_program *p = lin_prog(cases[k].cout, cases[k].cin, &w);
        REQUIRE(p && w);
        mk_compress_options o = {.mode = MK_CMP_PALETTE,
                                 .bits = 4,
                                 .granularity = 2,
                                 .group = 16,
                                 .min_elements = cases[k].min_elements};
        mk_err e = {MK_OK, ""};
        mk_compress_report rep;
        memset(&rep, 0, sizeof rep);
        mk_cmp_site *s = NULL;
        int ns = -1;
        CHECK_MSG(mk_cmp_sites(p, &o, &s, &ns, &rep, &e) == MK_OK, "case %zu: %s", k, e.msg);
        CHECK_MSG(ns == cases[k].sites, "case %zu: %lld x %lld, min %zu: %d sites, expected %d", k,
                  (long long)cases[k].cout, (long long)cases[k].cin, cases[k].min_elements, ns,
                  cases[k].sites);
        int kept = 0;
        for (int i = 0; i < rep.n_kept; i++)
            kept += strcmp(rep.kept[i].name, "w") == 0 && strstr(rep.kept[i].mode, "min-elements");
        CHECK_MSG(kept == !cases[k].sites, "case %zu: w kept %d times", k, kept);
        if (s) mk_cmp_sites_free(s, ns);
        mk_compress_report_free(&rep);
        mk_ir_program_free(p);
        free(w);
    }
}
