/* Channel scales for LUTs shared by a group of output channels (src/passes/compress_palette.c):
 * a conv whose output channels span 1:100 in range (as a folded batch norm leaves them),
 * followed by a per-channel normalisation (as the next batch norm or layer norm applies), is
 * palettized to lut4 per group of 16 at iOS18. With the scales (the default) the output noise
 * on seeded inputs is at least 4x lower than without (MILKIT_CMP_NO_CHSCALE=1, the old
 * palettization), the scales cost 4 bytes per channel, the package holds
 * constexpr_lut_to_dense -> constexpr_blockwise_shift_scale, and the compressed program runs as
 * the dense program of the reported reconstruction. A weight whose channels share one range
 * takes no scales (same bytes as without). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "ir/ir.h"
#include "passes/compress_int.h"
#include "test.h"

enum { CO = 32, CC = 8, HW = 8, NW = CO * CC * 9 };

static float urand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffffff) / 8388608.0f - 1.0f;
}

/* channel r's range: 1:100 across the channels of a group (spread) or 1 (not) */
static float chan_range(int r, int spread)
{
    return spread ? powf(10.0f, -2.0f * (float)((r * 7) % CO) / (CO - 1)) : 1.0f;
}

/* x[1, CC, HW, HW] -> conv(W[CO, CC, 3, 3], same) -> mul by 1 / channel range; w: the conv
 * weight (NULL: random, channel r times chan_range(r)) */
static mk_program *prog(int spread, const float *w)
{
    static float rw[NW], inv[CO];
    unsigned s = 11;
    for (int i = 0; i < NW; i++) rw[i] = urand(&s) * chan_range(i / (CC * 9), spread);
    for (int r = 0; r < CO; r++) inv[r] = 1.0f / chan_range(r, spread);
    mk_program *p = mk_ir_program_new(NULL, 9);
    mk_function *f = p ? mk_ir_function_new(p, "main") : NULL;
    if (!f) {
        mk_ir_program_free(p);
        return NULL;
    }
    mk_test_owned(p);
    int64_t xd[4] = {1, CC, HW, HW}, wd[4] = {CO, CC, 3, 3}, sd[4] = {1, CO, 1, 1};
    mk_type xt = mk_type_make(MK_DT_FP32, 4, xd), wt = mk_type_make(MK_DT_FP32, 4, wd);
    mk_type st = mk_type_make(MK_DT_FP32, 4, sd);
    mk_type none = mk_type_make(MK_DT_INVALID, MK_RANK_UNKNOWN, NULL);
    mk_value *x = mk_ir_function_add_input(p, f, "x", &xt);
    mk_value *wv = mk_ir_const(p, f->block, "w", &wt, w ? w : rw, sizeof rw, 0);
    mk_value *iv = mk_ir_const(p, f->block, "inv", &st, inv, sizeof inv, 0);
    mk_op *op = mk_ir_op_new(p, MK_OP_CONV, "conv"), *mu = mk_ir_op_new(p, MK_OP_MUL, "norm");
    static const int32_t one[2] = {1, 1};
    int32_t g = 1;
    mk_value *sv = mk_ir_const_i32(p, f->block, "st", 2, one, 0);
    mk_value *dl = mk_ir_const_i32(p, f->block, "dl", 2, one, 0);
    mk_value *pt = mk_ir_const_str(p, f->block, "pt", "same");
    mk_value *gv = mk_ir_const_i32(p, f->block, "g", 1, &g, 1);
    if (!x || !wv || !iv || !op || !mu || !sv || !dl || !pt || !gv ||
        !mk_ir_op_add_input(p, op, "x", x) || !mk_ir_op_add_input(p, op, "weight", wv) ||
        !mk_ir_op_add_input(p, op, "strides", sv) || !mk_ir_op_add_input(p, op, "dilations", dl) ||
        !mk_ir_op_add_input(p, op, "pad_type", pt) || !mk_ir_op_add_input(p, op, "groups", gv) ||
        !mk_ir_op_add_output(p, op, NULL, &none))
        return NULL;
    mk_ir_block_append(f->block, op);
    mk_err e = {MK_OK, ""};
    if (mk_ir_infer_op(op, &e) || !mk_ir_op_add_input(p, mu, "x", op->outputs[0]) ||
        !mk_ir_op_add_input(p, mu, "y", iv) || !mk_ir_op_add_output(p, mu, NULL, &none))
        return NULL;
    mk_ir_block_append(f->block, mu);
    if (mk_ir_infer_op(mu, &e) || !mk_ir_block_set_outputs(p, f->block, 1, &mu->outputs[0]))
        return NULL;
    return p;
}

/* noise / signal power of q against ref over seeded inputs 1..3 */
static double noise(const mk_program *ref, const mk_program *q)
{
    double s = 0;
    for (unsigned k = 1; k <= 3; k++) {
        mk_tensor_list in = {0, NULL};
        mk_output_error oe[2];
        int no = 0;
        mk_err e = {MK_OK, ""};
        if (mk_random_inputs(ref, k, &in, &e) || mk_output_errors(ref, q, &in, 0, oe, 2, &no, &e) ||
            no != 1) {
            mk_tensor_list_free(&in);
            return INFINITY;
        }
        s += pow(10, -oe[0].snr_db / 10) / 3;
        mk_tensor_list_free(&in);
    }
    return s;
}

/* palettizes prog(spread) lut4 per group of 16; *bytes the compressed bytes, rec the
 * reconstruction; the program, or NULL */
static mk_program *compress(int spread, size_t *bytes, float *rec)
{
    mk_compress_options o = {.mode = MK_CMP_PALETTE, .bits = 4, .granularity = 2, .group = 16};
    o.min_elements = 1;
    const mk_compress_options *op = &o;
    mk_program *p = prog(spread, NULL);
    mk_err e = {MK_OK, ""};
    mk_cmp_site *s = NULL;
    int ns = 0;
    mk_compress_report r;
    if (!p || mk_cmp_sites(p, &o, &s, &ns, &r, &e) != MK_OK || ns != 1) return NULL;
    mk_test_owned(s);
    int ok = mk_cmp_apply(p, s, 1, &op, &rec, &r, &e) == MK_OK &&
             mk_cmp_finish_program(p, &r, &e) == MK_OK && r.n == 1;
    if (ok) mk_test_owned(r.layers);
    *bytes = ok ? r.layers[0].bytes_after : 0;
    mk_cmp_sites_free(s, ns);
    mk_compress_report_free(&r);
    return ok ? p : NULL;
}

/* the conv's weight is constexpr_blockwise_shift_scale(data = constexpr_lut_to_dense) */
static int scaled_lut(const mk_program *p)
{
    const mk_function *f = mk_ir_main(p);
    for (const mk_op *op = f ? f->block->first : NULL; op; op = op->next) {
        if (op->kind != MK_OP_CONV) continue;
        const mk_value *w = mk_ir_arg(op, "weight");
        const mk_value *d =
            w && w->producer && w->producer->kind == MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE
                ? mk_ir_arg(w->producer, "data")
                : NULL;
        return d && d->producer && d->producer->kind == MK_OP_CONSTEXPR_LUT_TO_DENSE;
    }
    return 0;
}

TEST(compress_chscale_lut_group_spread_channels)
{
    static float rs[NW], rn[NW];
    size_t bs = 0, bn = 0;
    mk_program *ref = prog(1, NULL), *ps = compress(1, &bs, rs);
    setenv("MILKIT_CMP_NO_CHSCALE", "1", 1);
    mk_program *pn = compress(1, &bn, rn);
    unsetenv("MILKIT_CMP_NO_CHSCALE");
    REQUIRE(ref && ps && pn);
    CHECK_MSG(scaled_lut(ps), "no constexpr_blockwise_shift_scale after the LUT");
    CHECK_MSG(!scaled_lut(pn), "MILKIT_CMP_NO_CHSCALE=1 still scales");
    CHECK_MSG(bs == bn + CO * 4, "bytes with scales %zu, without %zu", bs, bn);
    double ns = noise(ref, ps), nn = noise(ref, pn);
    CHECK_MSG(ns < 0.25 * nn, "output noise/signal with scales %g, without %g", ns, nn);
    printf("  noise/signal with channel scales %.3g, without %.3g\n", ns, nn);
    /* the compressed program runs as the dense program of its reconstruction */
    mk_program *dense = prog(1, rs);
    REQUIRE(dense);
    mk_tensor_list in = {0, NULL};
    mk_output_error oe[2];
    int no = 0;
    mk_err e = {MK_OK, ""};
    REQUIRE(mk_random_inputs(ref, 7, &in, &e) == MK_OK);
    mk_test_owned(in.items);
    CHECK_MSG(mk_output_errors(dense, ps, &in, 0, oe, 2, &no, &e) == MK_OK && no == 1 &&
                  oe[0].max_rel < 1e-5,
              "compressed vs dense reconstruction max rel %g", no ? oe[0].max_rel : -1.0);
    mk_tensor_list_free(&in);
    mk_program_free(dense);
    mk_program_free(ref);
    mk_program_free(ps);
    mk_program_free(pn);
}

TEST(compress_chscale_not_for_equal_ranges)
{
    static float rs[NW], rn[NW];
    size_t bs = 0, bn = 0;
    mk_program *ps = compress(0, &bs, rs);
    setenv("MILKIT_CMP_NO_CHSCALE", "1", 1);
    mk_program *pn = compress(0, &bn, rn);
    unsetenv("MILKIT_CMP_NO_CHSCALE");
    REQUIRE(ps && pn);
    CHECK_MSG(!scaled_lut(ps) && bs == bn, "equal ranges: scaled %d, bytes %zu vs %zu",
              scaled_lut(ps), bs, bn);
    CHECK(!memcmp(rs, rn, sizeof rs));
    mk_program_free(ps);
    mk_program_free(pn);
}
