/* Activation-weighted palettes (mk_compress_options.calib): on inputs whose channels differ
 * in scale, the weighted 4-bit k-means gives a smaller output error (measured: 25% less) on
 * fresh inputs of the same kind than the unweighted one, at the same bytes and the same 4-bit
 * form; the compressed program's output is x·W'ᵀ of the reconstruction the compressor reports;
 * mk_output_errors2 agrees with two mk_output_errors calls. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "ir/ir.h"
#include "passes/compress_int.h"
#include "test.h"

enum { CIN = 64, COUT = 64, ROWS = 16 };

/* W[COUT, CIN] uniform in [-1, 1) from an LCG seeded with s */
static void fill_weights(float *w, unsigned s)
{
    for (int i = 0; i < COUT * CIN; i++) {
        s = s * 1664525u + 1013904223u;
        w[i] = (float)((s >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
}

/* x[ROWS, CIN] -> linear(W[COUT, CIN]) -> y */
static mk_program *lin(void)
{
    mk_program *p = mk_ir_program_new(NULL, 9);
    mk_function *f = p ? mk_ir_function_new(p, "main") : NULL;
    if (!f) return NULL;
    static float w[COUT * CIN];
    fill_weights(w, 11);
    int64_t d[2] = {COUT, CIN}, xd[2] = {ROWS, CIN};
    mk_type t = mk_type_make(MK_DT_FP32, 2, d), xt = mk_type_make(MK_DT_FP32, 2, xd);
    mk_type none = mk_type_make(MK_DT_INVALID, MK_RANK_UNKNOWN, NULL);
    mk_value *x = mk_ir_function_add_input(p, f, "x", &xt);
    mk_value *wv = mk_ir_const(p, f->block, "w", &t, w, sizeof w, 0);
    mk_op *l = mk_ir_op_new(p, MK_OP_LINEAR, "l");
    mk_err e = {MK_OK, ""};
    if (!x || !wv || !l || !mk_ir_op_add_input(p, l, "x", x) ||
        !mk_ir_op_add_input(p, l, "weight", wv) || !mk_ir_op_add_output(p, l, NULL, &none))
        return NULL;
    mk_ir_block_append(f->block, l);
    if (mk_ir_infer_op(l, &e) || !mk_ir_block_set_outputs(p, f->block, 1, &l->outputs[0]))
        return NULL;
    return p;
}

/* seeded inputs whose first 8 channels are 20x the others */
static int inputs(const mk_program *p, unsigned long long seed, mk_tensor_list *in)
{
    mk_err e = {MK_OK, ""};
    if (mk_random_inputs(p, seed, in, &e)) return 0;
    mk_test_owned(in->items); /* fault runs: the test's own when a later step fails */
    if (in->n != 1 || in->items[0].dtype != MK_DT_FP32) return 0;
    float *x = in->items[0].data;
    for (int r = 0; r < ROWS; r++)
        for (int j = 0; j < CIN; j++) x[r * CIN + j] *= j < 8 ? 4.0f : 0.2f;
    return 1;
}

/* noise-to-signal ratio of q against ref over three fresh input lists */
static double nsr(const mk_program *ref, const mk_program *q)
{
    double n = 0, s = 0;
    for (int k = 0; k < 3; k++) {
        mk_tensor_list in = {0, NULL};
        mk_output_error oe[2];
        int no = 0;
        mk_err e = {MK_OK, ""};
        if (!inputs(ref, 100 + (unsigned)k, &in) ||
            mk_output_errors(ref, q, &in, 0, oe, 2, &no, &e) || no != 1) {
            mk_tensor_list_free(&in);
            return INFINITY;
        }
        n += pow(10, -oe[0].snr_db / 10), s += 1;
        mk_tensor_list_free(&in);
    }
    return n / s;
}

TEST(compress_calibrated_palette_lower_output_error)
{
    mk_program *ref = lin(), *plain = lin(), *cal = lin();
    mk_tensor_list runs[2] = {{0, NULL}, {0, NULL}};
    /* fault runs: what the test built is its own when a later call fails */
    mk_test_owned(ref), mk_test_owned(plain), mk_test_owned(cal);
    CHECK(ref && plain && cal && inputs(ref, 1, &runs[0]) && inputs(ref, 2, &runs[1]));
    if (!ref || !plain || !cal || !runs[1].n) return;
    mk_compress_options o;
    memset(&o, 0, sizeof o);
    o.mode = MK_CMP_PALETTE, o.bits = 4, o.granularity = 2, o.group = 16, o.nearest = 1;
    mk_compress_report r0, r1;
    mk_err e = {MK_OK, ""};
    REQUIRE(mk_compress(plain, &o, &r0, &e) == MK_OK);
    mk_test_owned(r0.layers);
    o.calib = runs, o.n_calib = 2;
    REQUIRE(mk_compress(cal, &o, &r1, &e) == MK_OK);
    mk_test_owned(r1.layers);
    CHECK(r0.n == 1 && r1.n == 1 && r0.layers[0].bytes_after == r1.layers[0].bytes_after);
    int lut4 = 0;
    MK_FOR_OPS(mk_ir_main(cal)->block, op)
    {
        mk_value *iv = op->kind == MK_OP_CONSTEXPR_LUT_TO_DENSE ? mk_ir_arg(op, "indices") : NULL;
        lut4 += iv && iv->type.dtype == MK_DT_UINT4;
    }
    CHECK_EQ_INT(lut4, 1);
    double a = nsr(ref, plain), b = nsr(ref, cal);
    /* the weight-space error grows (the weighting trades it for the output's) */
    CHECK_MSG(r1.layers[0].rel_err > r0.layers[0].rel_err, "weight error %g vs %g",
              r1.layers[0].rel_err, r0.layers[0].rel_err);
    CHECK_MSG(b < 0.85 * a, "output noise/signal calibrated %g, plain %g", b, a);
    mk_compress_report_free(&r0);
    mk_compress_report_free(&r1);

    /* the interpreter runs the weighted palette as x·W'ᵀ of the reported reconstruction */
    mk_program *p = lin();
    mk_test_owned(p);
    REQUIRE(p);
    mk_cmp_site *s = NULL;
    int ns = 0;
    static float rec[COUT * CIN];
    float *recp = rec;
    const mk_compress_options *op1 = &o;
    mk_compress_report r;
    CHECK(p && mk_cmp_sites(p, &o, &s, &ns, &r, &e) == MK_OK && ns == 1);
    CHECK(ns == 1 && mk_cmp_calibrate(p, &o, s, ns, runs, 2, 0, &e) == MK_OK && s[0].m2 &&
          s[0].m2n == CIN && s[0].m2[0] > 100 * s[0].m2[CIN - 1]);
    CHECK_MSG(ns == 1 && mk_cmp_apply(p, s, 1, &op1, &recp, &r, &e) == MK_OK &&
                  mk_cmp_finish_program(p, &r, &e) == MK_OK,
              "%s", e.msg);
    mk_cmp_sites_free(s, ns);
    mk_tensor_list out = {0, NULL};
    mk_run_options ro = {0, 0, 1};
    CHECK(mk_run(p, &ro, &runs[1], &out, &e) == MK_OK && out.n == 1);
    double worst = 0;
    for (int i = 0; out.n == 1 && i < ROWS; i++)
        for (int c = 0; c < COUT; c++) {
            const float *x = (const float *)runs[1].items[0].data + i * CIN;
            double acc = 0, mag = 0;
            for (int j = 0; j < CIN; j++)
                acc += (double)x[j] * rec[c * CIN + j],
                    mag += fabs((double)x[j] * rec[c * CIN + j]);
            worst = fmax(worst, fabs(acc - ((const float *)out.items[0].data)[i * COUT + c]) /
                                    (mag + 1e-6));
        }
    CHECK_MSG(worst < 1e-5, "output differs from x.rec^T by %g", worst);
    mk_tensor_list_free(&out);
    mk_compress_report_free(&r);
    for (int k = 0; k < 2; k++) mk_tensor_list_free(&runs[k]);
    mk_program_free(p);
    mk_program_free(ref);
    mk_program_free(plain);
    mk_program_free(cal);
}

/* mk_output_errors2 (the report's three runs on two threads) gives what the two
 * mk_output_errors calls give, in fp32 and in fp16 emulation */
TEST(compress_output_errors2_same_as_two_calls)
{
    mk_program *ref = lin(), *q = lin();
    mk_tensor_list in = {0, NULL};
    mk_compress_options o;
    memset(&o, 0, sizeof o);
    o.mode = MK_CMP_PALETTE, o.bits = 3, o.granularity = 2, o.group = 8;
    mk_compress_report r;
    mk_err e = {MK_OK, ""};
    mk_test_owned(ref), mk_test_owned(q); /* fault runs: the test's own */
    REQUIRE(ref && q && inputs(ref, 4, &in));
    mk_test_owned(in.items);
    REQUIRE(mk_compress(q, &o, &r, &e) == MK_OK);
    mk_test_owned(r.layers);
    mk_output_error a32[2], a16[2], b32[2], b16[2];
    int na32 = 0, na16 = 0, nb32 = 0, nb16 = 0;
    CHECK(mk_output_errors(ref, q, &in, 0, a32, 2, &na32, &e) == MK_OK);
    CHECK(mk_output_errors(ref, q, &in, 1, a16, 2, &na16, &e) == MK_OK);
    CHECK(mk_output_errors2(ref, q, &in, b32, &nb32, b16, &nb16, 2, &e) == MK_OK);
    CHECK(na32 == 1 && na16 == 1 && nb32 == 1 && nb16 == 1);
    if (nb32 == 1 && nb16 == 1 && na32 == 1 && na16 == 1) {
        CHECK(a32[0].snr_db == b32[0].snr_db && a32[0].max_abs == b32[0].max_abs);
        CHECK(a16[0].snr_db == b16[0].snr_db && a16[0].max_abs == b16[0].max_abs);
        CHECK_MSG(a16[0].max_abs != a32[0].max_abs, "fp16 emulation changed nothing");
    }
    mk_compress_report_free(&r);
    mk_tensor_list_free(&in);
    mk_program_free(ref);
    mk_program_free(q);
}

/* two linears with byte-identical weights (a layer exported twice) get one palette when
 * calibrated, so the writer can still store it once; without the shared statistics their
 * different activations gave two */
TEST(compress_calibrated_identical_weights_share_a_palette)
{
    mk_program *p = mk_ir_program_new(NULL, 9);
    mk_function *f = p ? mk_ir_function_new(p, "main") : NULL;
    REQUIRE(f);
    static float w[COUT * CIN];
    fill_weights(w, 5);
    int64_t d[2] = {COUT, CIN}, xd[2] = {ROWS, CIN};
    mk_type t = mk_type_make(MK_DT_FP32, 2, d), xt = mk_type_make(MK_DT_FP32, 2, xd);
    mk_type none = mk_type_make(MK_DT_INVALID, MK_RANK_UNKNOWN, NULL);
    mk_value *x = mk_ir_function_add_input(p, f, "x", &xt);
    mk_err e = {MK_OK, ""};
    for (int k = 0; k < 2; k++) {
        mk_value *wv = mk_ir_const(p, f->block, k ? "w2" : "w1", &t, w, sizeof w, 0);
        mk_op *l = mk_ir_op_new(p, MK_OP_LINEAR, k ? "l2" : "l1");
        REQUIRE(x && wv && l && mk_ir_op_add_input(p, l, "x", x) &&
                mk_ir_op_add_input(p, l, "weight", wv) && mk_ir_op_add_output(p, l, NULL, &none));
        mk_ir_block_append(f->block, l);
        REQUIRE(mk_ir_infer_op(l, &e) == MK_OK);
        x = l->outputs[0];
    }
    REQUIRE(mk_ir_block_set_outputs(p, f->block, 1, &x));
    mk_tensor_list run = {0, NULL};
    REQUIRE(inputs(p, 3, &run));
    mk_compress_options o;
    memset(&o, 0, sizeof o);
    o.mode = MK_CMP_PALETTE, o.bits = 4, o.calib = &run, o.n_calib = 1;
    mk_compress_report r;
    CHECK_MSG(mk_compress(p, &o, &r, &e) == MK_OK && r.n == 2, "%s", e.msg);
    const mk_value *lut[2] = {NULL, NULL};
    int n = 0;
    MK_FOR_OPS(mk_ir_main(p)->block, op)
    {
        if (op->kind == MK_OP_CONSTEXPR_LUT_TO_DENSE && n < 2) lut[n++] = mk_ir_arg(op, "lut");
    }
    CHECK(n == 2 && lut[0] && lut[1] && lut[0]->cst->nbytes == lut[1]->cst->nbytes &&
          !memcmp(lut[0]->cst->data, lut[1]->cst->data, lut[0]->cst->nbytes));
    mk_compress_report_free(&r);
    mk_tensor_list_free(&run);
    mk_program_free(p);
}
