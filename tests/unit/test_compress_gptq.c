/* Error-compensating rounding (src/passes/compress_gptq.c) on random weights and correlated
 * inputs, for linear, conv (im2col Gram) and matmul (transposed layout) weights and for 4- and
 * 3-bit palettes and int4 blocks / channels: the Gram-weighted error (the output error the
 * calibration inputs see) is lower than rounding to nearest with the same LUTs/scales' rule,
 * the output error on fresh inputs is lower, and the compressed program runs equal to the
 * dense program holding the reported reconstruction. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "ir/ir.h"
#include "passes/compress_int.h"
#include "test.h"

enum { ROWS = 48, CIN = 64, COUT = 40, CC = 8, CO = 16, HW = 10 };

static float urand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffffff) / 8388608.0f - 1.0f;
}

/* kind 0: x[ROWS, CIN] -> linear(W[COUT, CIN]); 1: x[2, CC, HW, HW] -> conv(W[CO, CC, 3, 3],
 * same); 2: x[ROWS, CIN] -> matmul(x, Y[CIN, COUT]); w: the weight's values (NULL: random) */
static mk_program *prog(int kind, const float *w)
{
    static float rw[CIN * COUT];
    unsigned s = 5;
    for (int i = 0; i < CIN * COUT; i++) rw[i] = urand(&s) * (1 + (i % 5) * 0.3f);
    mk_program *p = mk_ir_program_new(NULL, 9);
    mk_function *f = p ? mk_ir_function_new(p, "main") : NULL;
    if (!f) {
        mk_ir_program_free(p);
        return NULL;
    }
    mk_test_owned(p);
    int64_t xd2[2] = {ROWS, CIN}, xd4[4] = {2, CC, HW, HW}, wl[2] = {COUT, CIN},
            wc[4] = {CO, CC, 3, 3}, wm[2] = {CIN, COUT};
    mk_type xt = kind == 1 ? mk_type_make(MK_DT_FP32, 4, xd4) : mk_type_make(MK_DT_FP32, 2, xd2);
    mk_type wt = kind == 0   ? mk_type_make(MK_DT_FP32, 2, wl)
                 : kind == 1 ? mk_type_make(MK_DT_FP32, 4, wc)
                             : mk_type_make(MK_DT_FP32, 2, wm);
    size_t nw = kind == 1 ? CO * CC * 9 : CIN * COUT;
    mk_type none = mk_type_make(MK_DT_INVALID, MK_RANK_UNKNOWN, NULL);
    mk_value *x = mk_ir_function_add_input(p, f, "x", &xt);
    mk_value *wv = mk_ir_const(p, f->block, "w", &wt, w ? w : rw, nw * sizeof(float), 0);
    mk_op *op = mk_ir_op_new(p,
                             kind == 0   ? MK_OP_LINEAR
                             : kind == 1 ? MK_OP_CONV
                                         : MK_OP_MATMUL,
                             "op");
    if (!x || !wv || !op || !mk_ir_op_add_input(p, op, "x", x) ||
        !mk_ir_op_add_input(p, op, kind == 2 ? "y" : "weight", wv))
        return NULL;
    if (kind == 1) {
        static const int32_t one[2] = {1, 1};
        int32_t g = 1;
        mk_value *st = mk_ir_const_i32(p, f->block, "st", 2, one, 0);
        mk_value *dl = mk_ir_const_i32(p, f->block, "dl", 2, one, 0);
        mk_value *pt = mk_ir_const_str(p, f->block, "pt", "same");
        mk_value *gv = mk_ir_const_i32(p, f->block, "g", 1, &g, 1);
        if (!st || !dl || !pt || !gv || !mk_ir_op_add_input(p, op, "strides", st) ||
            !mk_ir_op_add_input(p, op, "dilations", dl) ||
            !mk_ir_op_add_input(p, op, "pad_type", pt) || !mk_ir_op_add_input(p, op, "groups", gv))
            return NULL;
    }
    mk_err e = {MK_OK, ""};
    if (!mk_ir_op_add_output(p, op, NULL, &none)) return NULL;
    mk_ir_block_append(f->block, op);
    if (mk_ir_infer_op(op, &e) || !mk_ir_block_set_outputs(p, f->block, 1, &op->outputs[0]))
        return NULL;
    return p;
}

/* seeded inputs with correlated channels (each mixes its predecessor) of unequal scale */
static int inputs(const mk_program *p, unsigned long long seed, mk_tensor_list *in)
{
    mk_err e = {MK_OK, ""};
    if (mk_random_inputs(p, seed, in, &e)) return 0;
    mk_test_owned(in->items); /* fault runs: the test's own when a later step fails */
    if (in->n != 1 || in->items[0].dtype != MK_DT_FP32) return 0;
    mk_tensor *t = &in->items[0];
    float *x = t->data;
    size_t ch = (size_t)t->dims[1], n = t->nbytes / 4, inner = 1;
    for (int a = 2; a < t->rank; a++) inner *= (size_t)t->dims[a];
    int conv = t->rank == 4;
    size_t cax = conv ? ch : (size_t)t->dims[1];
    for (size_t i = 0; i < n; i++) {
        size_t c = conv ? (i / inner) % cax : i % cax;
        size_t prev = conv ? i - inner : i - 1;
        if (c > 0) x[i] = 0.4f * x[i] + 0.9f * x[prev];
    }
    for (size_t i = 0; i < n; i++) {
        size_t c = conv ? (i / inner) % cax : i % cax;
        x[i] *= c % 4 == 0 ? 3.0f : 1.0f;
    }
    return 1;
}

static double noise(const mk_program *ref, const mk_program *q)
{
    double s = 0;
    for (int k = 0; k < 3; k++) {
        mk_tensor_list in = {0, NULL};
        mk_output_error oe[2];
        int no = 0;
        mk_err e = {MK_OK, ""};
        if (!inputs(ref, 50 + (unsigned)k, &in) ||
            mk_output_errors(ref, q, &in, 0, oe, 2, &no, &e) || no != 1) {
            mk_tensor_list_free(&in);
            return INFINITY;
        }
        s += pow(10, -oe[0].snr_db / 10) / 3;
        mk_tensor_list_free(&in);
    }
    return s;
}

typedef struct gcase {
    const char *what;
    int kind;
    mk_compress_options o;
} gcase;

TEST(compress_gptq_lower_error_and_runs_as_dense)
{
    const gcase cases[] = {
        {"linear lut4 group 8",
         0,
         {.mode = MK_CMP_PALETTE, .bits = 4, .granularity = 2, .group = 8}},
        {"linear lut3 tensor", 0, {.mode = MK_CMP_PALETTE, .bits = 3, .granularity = 1}},
        {"linear int4 block 16",
         0,
         {.mode = MK_CMP_LINEAR, .bits = 4, .granularity = 2, .block = 16}},
        {"linear int4 channel zp", 0, {.mode = MK_CMP_LINEAR, .bits = 4, .zero_point = 1}},
        {"conv lut4 group 4", 1, {.mode = MK_CMP_PALETTE, .bits = 4, .granularity = 2, .group = 4}},
        {"conv int4 block 4", 1, {.mode = MK_CMP_LINEAR, .bits = 4, .granularity = 2, .block = 4}},
        {"matmul lut4 group 8",
         2,
         {.mode = MK_CMP_PALETTE, .bits = 4, .granularity = 2, .group = 8}},
        {"matmul int4 block 32",
         2,
         {.mode = MK_CMP_LINEAR, .bits = 4, .granularity = 2, .block = 32}},
    };
    static float recn[CIN * COUT], recc[CIN * COUT], w0[CIN * COUT];
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const gcase *gc = &cases[ci];
        mk_compress_options o = gc->o;
        o.min_elements = 1;
        mk_program *ref = prog(gc->kind, NULL), *pc = prog(gc->kind, NULL),
                   *pn = prog(gc->kind, NULL);
        mk_tensor_list runs[2] = {{0, NULL}, {0, NULL}};
        REQUIRE(ref && pc && pn && inputs(ref, 1, &runs[0]) && inputs(ref, 2, &runs[1]));
        mk_err e = {MK_OK, ""};
        mk_cmp_site *sc = NULL, *sn = NULL;
        int nc = 0, nn = 0;
        mk_compress_report rc, rn;
        float *pr = recc, *qr = recn;
        const mk_compress_options *op = &o;
        REQUIRE(mk_cmp_sites(pc, &o, &sc, &nc, &rc, &e) == MK_OK && nc == 1);
        mk_test_owned(sc); /* fault runs: the test's own (test.h) */
        REQUIRE(mk_cmp_sites(pn, &o, &sn, &nn, &rn, &e) == MK_OK && nn == 1);
        mk_test_owned(sn);
        size_t nw = sc[0].n;
        memcpy(w0, sc[0].w->cst->data, nw * sizeof(float));
        CHECK_MSG(mk_cmp_calibrate(pc, &o, sc, 1, runs, 2, 1, &e) == MK_OK && sc[0].g.h,
                  "%s: no Gram matrix (%s)", gc->what, e.msg);
        CHECK_MSG(mk_cmp_apply(pc, sc, 1, &op, &pr, &rc, &e) == MK_OK &&
                      mk_cmp_finish_program(pc, &rc, &e) == MK_OK &&
                      mk_cmp_apply(pn, sn, 1, &op, &qr, &rn, &e) == MK_OK &&
                      mk_cmp_finish_program(pn, &rn, &e) == MK_OK,
                  "%s: %s", gc->what, e.msg);
        mk_test_owned(rc.layers), mk_test_owned(rn.layers);
        CHECK(rc.n == 1 && rn.n == 1 && rc.layers[0].bytes_after == rn.layers[0].bytes_after);
        /* the Gram-weighted error, in the rows x d view */
        size_t rows = 0, d = 0;
        int tr = 0;
        double ec = INFINITY, en = 0;
        if (sc[0].g.h && mk_cmp_rows(sc[0].w, sc[0].out_ax, sc[0].in_ax, &rows, &d, &tr)) {
            static double a[CIN * COUT], b[CIN * COUT], c[CIN * COUT];
            for (size_t r = 0; r < rows; r++)
                for (size_t j = 0; j < d; j++) {
                    size_t i = tr ? j * rows + r : r * d + j;
                    a[r * d + j] = w0[i], b[r * d + j] = recc[i], c[r * d + j] = recn[i];
                }
            ec = mk_cmp_gram_err(&sc[0].g, a, b, rows);
            en = mk_cmp_gram_err(&sc[0].g, a, c, rows);
        }
        CHECK_MSG(ec < 0.8 * en, "%s: Gram-weighted error compensated %g, nearest %g", gc->what, ec,
                  en);
        double nc_ = noise(ref, pc), nn_ = noise(ref, pn);
        CHECK_MSG(nc_ < nn_, "%s: fresh-input noise compensated %g, nearest %g", gc->what, nc_,
                  nn_);
        printf("  %s: Gram error %.3g vs %.3g, fresh noise/signal %.3g vs %.3g\n", gc->what, ec, en,
               nc_, nn_);
        /* the compressed program runs as the dense program of its reconstruction */
        mk_program *dense = prog(gc->kind, recc);
        REQUIRE(dense);
        mk_output_error oe[2];
        int no = 0;
        CHECK_MSG(mk_output_errors(dense, pc, &runs[1], 0, oe, 2, &no, &e) == MK_OK && no == 1 &&
                      oe[0].max_rel < 1e-5,
                  "%s: compressed vs dense reconstruction max rel %g", gc->what,
                  no ? oe[0].max_rel : -1.0);
        mk_cmp_sites_free(sc, nc);
        mk_cmp_sites_free(sn, nn);
        mk_compress_report_free(&rc);
        mk_compress_report_free(&rn);
        for (int k = 0; k < 2; k++) mk_tensor_list_free(&runs[k]);
        mk_program_free(dense);
        mk_program_free(ref);
        mk_program_free(pc);
        mk_program_free(pn);
    }
}

/* compresses a fresh program of kind with o, calibrated on runs; *p the program */
static int compress_one(int kind, const mk_compress_options *o, mk_tensor_list *runs,
                        mk_program **p, double *gram_err)
{
    static float w0[CIN * COUT], rec[CIN * COUT];
    mk_err e = {MK_OK, ""};
    mk_cmp_site *s = NULL;
    int ns = 0;
    mk_compress_report r;
    float *pr = rec;
    *p = prog(kind, NULL);
    if (!*p || mk_cmp_sites(*p, o, &s, &ns, &r, &e) != MK_OK || ns != 1) return 0;
    mk_test_owned(s);
    memcpy(w0, s[0].w->cst->data, s[0].n * sizeof(float));
    int ok = mk_cmp_calibrate(*p, o, s, 1, runs, 2, 1, &e) == MK_OK && s[0].g.h;
    if (ok) s[0].g.fit = 1; /* as from the user's samples (mk_compress: not from seeded ones) */
    ok = ok && mk_cmp_apply(*p, s, 1, &o, &pr, &r, &e) == MK_OK &&
         mk_cmp_finish_program(*p, &r, &e) == MK_OK;
    size_t rows = 0, d = 0;
    int tr = 0;
    *gram_err = INFINITY;
    if (ok && mk_cmp_rows(s[0].w, s[0].out_ax, s[0].in_ax, &rows, &d, &tr)) {
        static double a[CIN * COUT], b[CIN * COUT];
        for (size_t rr = 0; rr < rows; rr++)
            for (size_t j = 0; j < d; j++) {
                size_t i = tr ? j * rows + rr : rr * d + j;
                a[rr * d + j] = w0[i], b[rr * d + j] = rec[i];
            }
        *gram_err = mk_cmp_gram_err(&s[0].g, a, b, rows);
    }
    mk_cmp_sites_free(s, ns);
    mk_compress_report_free(&r);
    return ok;
}

/* After the compensated rounding, each LUT is refitted to its indices (the entries minimising
 * the Gram-weighted error, mk_cmp_lut_refit): lower error on the calibration inputs and on
 * fresh ones than the k-means LUT with the same indices (MILKIT_CMP_NO_REFIT=1), for linear,
 * conv and matmul weights; the bytes stay the same. */
TEST(compress_gptq_lut_refit_lowers_error)
{
    const gcase cases[] = {
        {"linear lut4 group 8",
         0,
         {.mode = MK_CMP_PALETTE, .bits = 4, .granularity = 2, .group = 8}},
        {"linear lut3 tensor", 0, {.mode = MK_CMP_PALETTE, .bits = 3, .granularity = 1}},
        {"conv lut4 group 4", 1, {.mode = MK_CMP_PALETTE, .bits = 4, .granularity = 2, .group = 4}},
        {"matmul lut4 group 8",
         2,
         {.mode = MK_CMP_PALETTE, .bits = 4, .granularity = 2, .group = 8}},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const gcase *gc = &cases[ci];
        mk_compress_options o = gc->o;
        o.min_elements = 1;
        mk_program *ref = prog(gc->kind, NULL), *pr = NULL, *pn = NULL;
        mk_tensor_list runs[2] = {{0, NULL}, {0, NULL}};
        REQUIRE(ref && inputs(ref, 1, &runs[0]) && inputs(ref, 2, &runs[1]));
        double er = INFINITY, en = 0;
        int okr = compress_one(gc->kind, &o, runs, &pr, &er);
        setenv("MILKIT_CMP_NO_REFIT", "1", 1);
        int okn = compress_one(gc->kind, &o, runs, &pn, &en);
        unsetenv("MILKIT_CMP_NO_REFIT");
        REQUIRE(okr && okn);
        CHECK_MSG(er < en, "%s: Gram-weighted error refit %g, k-means LUT %g", gc->what, er, en);
        double nr = noise(ref, pr), nn = noise(ref, pn);
        CHECK_MSG(nr < nn, "%s: fresh-input noise refit %g, k-means LUT %g", gc->what, nr, nn);
        printf("  %s: Gram error %.3g vs %.3g, fresh noise/signal %.3g vs %.3g\n", gc->what, er, en,
               nr, nn);
        for (int k = 0; k < 2; k++) mk_tensor_list_free(&runs[k]);
        mk_program_free(ref);
        mk_program_free(pr);
        mk_program_free(pn);
    }
}

/* A site's Gram matrix serves only the modes that round with compensation (mixed modes hand
 * every site its matrix): 8- and 6-bit palettes and int8 with a Gram matrix give exactly the
 * reconstruction they give without one, lut4 does not. */
TEST(compress_gptq_gram_only_for_compensating_modes)
{
    const mk_compress_options modes[] = {
        {.mode = MK_CMP_PALETTE, .bits = 8},
        {.mode = MK_CMP_PALETTE, .bits = 6},
        {.mode = MK_CMP_LINEAR, .bits = 8},
        {.mode = MK_CMP_PALETTE, .bits = 4},
    };
    static float rg[CIN * COUT], rn[CIN * COUT];
    for (size_t k = 0; k < sizeof modes / sizeof modes[0]; k++) {
        mk_compress_options o = modes[k], og = {.mode = MK_CMP_PALETTE, .bits = 4};
        o.min_elements = og.min_elements = 1;
        mk_program *ref = prog(0, NULL), *pg = prog(0, NULL), *pn = prog(0, NULL);
        mk_tensor_list runs[2] = {{0, NULL}, {0, NULL}};
        REQUIRE(ref && pg && pn && inputs(ref, 1, &runs[0]) && inputs(ref, 2, &runs[1]));
        mk_err e = {MK_OK, ""};
        mk_cmp_site *sg = NULL, *sn = NULL;
        int ng = 0, nn = 0;
        mk_compress_report r1, r2;
        float *a = rg, *b = rn;
        const mk_compress_options *op = &o;
        REQUIRE(mk_cmp_sites(pg, &o, &sg, &ng, &r1, &e) == MK_OK && ng == 1);
        mk_test_owned(sg);
        REQUIRE(mk_cmp_sites(pn, &o, &sn, &nn, &r2, &e) == MK_OK && nn == 1);
        mk_test_owned(sn);
        /* the Gram matrix as a 4-bit mode would want it; no activation weights */
        CHECK_MSG(mk_cmp_calibrate(pg, &og, sg, 1, runs, 2, 1, &e) == MK_OK && sg[0].g.h, "%s",
                  e.msg);
        if (sg[0].m2) mk_free(NULL, sg[0].m2, sg[0].m2n * sizeof(double)), sg[0].m2 = NULL;
        CHECK_MSG(mk_cmp_apply(pg, sg, 1, &op, &a, &r1, &e) == MK_OK &&
                      mk_cmp_apply(pn, sn, 1, &op, &b, &r2, &e) == MK_OK,
                  "%s", e.msg);
        mk_test_owned(r1.layers), mk_test_owned(r2.layers);
        int same = memcmp(rg, rn, sg[0].n * sizeof(float)) == 0;
        int want_same = !(o.mode == MK_CMP_PALETTE && o.bits == 4);
        CHECK_MSG(same == want_same, "mode %zu: with and without the Gram matrix %s", k,
                  same ? "the same" : "different");
        mk_cmp_sites_free(sg, ng);
        mk_cmp_sites_free(sn, nn);
        mk_compress_report_free(&r1);
        mk_compress_report_free(&r2);
        for (int i = 0; i < 2; i++) mk_tensor_list_free(&runs[i]);
        mk_program_free(ref);
        mk_program_free(pg);
        mk_program_free(pn);
    }
}

/* output of p on in (first output, fp32), into y (CIN * COUT floats at most); 0 on failure */
static int run_first(const mk_program *p, const mk_tensor_list *in, float *y, size_t *n)
{
    mk_run_options ro = {0, 0, 1};
    mk_tensor_list out = {0, NULL};
    mk_err e = {MK_OK, ""};
    int ok = mk_run(p, &ro, in, &out, &e) == MK_OK && out.n >= 1 &&
             out.items[0].nbytes <= CIN * COUT * sizeof(float);
    if (ok) memcpy(y, out.items[0].data, out.items[0].nbytes), *n = out.items[0].nbytes;
    mk_tensor_list_free(&out);
    return ok;
}

/* mk_compress refits the LUTs only on the user's samples: on seeded calibration inputs (no
 * samples) lut4 gives exactly what it gives with the refit off, on samples it differs */
TEST(compress_gptq_lut_refit_only_on_samples)
{
    static float y[4][CIN * COUT];
    size_t n[4] = {0};
    mk_tensor_list runs[2] = {{0, NULL}, {0, NULL}}, probe = {0, NULL};
    mk_program *ref = prog(0, NULL);
    REQUIRE(ref && inputs(ref, 1, &runs[0]) && inputs(ref, 2, &runs[1]) && inputs(ref, 7, &probe));
    for (int v = 0; v < 4; v++) { /* seeded, seeded no refit, samples, samples no refit */
        mk_program *p = prog(0, NULL);
        REQUIRE(p);
        mk_compress_options o = {
            .mode = MK_CMP_PALETTE, .bits = 4, .granularity = 2, .group = 8, .min_elements = 1};
        if (v >= 2) o.calib = runs, o.n_calib = 2;
        if (v % 2) setenv("MILKIT_CMP_NO_REFIT", "1", 1);
        mk_compress_report r;
        mk_err e = {MK_OK, ""};
        CHECK_MSG(mk_compress(p, &o, &r, &e) == MK_OK, "variant %d: %s", v, e.msg);
        unsetenv("MILKIT_CMP_NO_REFIT");
        mk_compress_report_free(&r);
        CHECK_MSG(run_first(p, &probe, y[v], &n[v]), "variant %d: no output", v);
        mk_program_free(p);
    }
    CHECK_MSG(n[0] && n[0] == n[1] && memcmp(y[0], y[1], n[0]) == 0,
              "seeded calibration: the refit changed the output");
    CHECK_MSG(n[2] && n[2] == n[3] && memcmp(y[2], y[3], n[2]) != 0,
              "samples: the refit changed nothing");
    for (int k = 0; k < 2; k++) mk_tensor_list_free(&runs[k]);
    mk_tensor_list_free(&probe);
    mk_program_free(ref);
}
