/* Op semantics as coremltools defines them (issue 13, found by running its op tests through
 * milkit): the output order of reverse recurrent ops, every recurrent activation name, nearest
 * resizing rules and resample's tie rule. Expected values are worked out here from the
 * definitions (or are the op tests' own numbers), never taken from milkit. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>

#include "interp/interp_int.h"
#include "test.h"

#include "opsem_build.h"

/* Runs the program with the op's outputs as block outputs. */
static mk_status b_run(bld *B, mk_op *o, mk_tensor_list *out)
{
    if (!o) return MK_EINVAL;
    mk_ir_block_set_outputs(B->p, B->b, o->n_outputs, o->outputs);
    mk_run_options ro = {0, 1, 0};
    memset(&B->e, 0, sizeof B->e);
    mk_status st = mk_run(B->p, &ro, &B->ins, out, &B->e);
    if (st) printf("  run: %s\n", B->e.msg);
    return st;
}

#define CHECK_NEAR(a, b, tol)                                                                      \
    CHECK_MSG(fabs((double)(a) - (double)(b)) <= (tol), "%s = %g, expected %g", #a, (double)(a),   \
              (double)(b))

/* ---- recurrent ops ---- */
enum { S = 4, BT = 2, I = 3, H = 2 };

static float act(const char *a, float v)
{
    if (!strcmp(a, "sigmoid")) return 1.0f / (1.0f + expf(-v));
    if (!strcmp(a, "tanh") || !strcmp(a, "scaled_tanh")) return tanhf(v);
    if (!strcmp(a, "relu")) return v > 0 ? v : 0;
    if (!strcmp(a, "hard_sigmoid")) return fminf(fmaxf(0.2f * v + 0.5f, 0), 1);
    return v; /* linear */
}

/* y[k] after k+1 steps over x read forward or backward: rnn h = act(Wx + Rh + b). */
static void ref_rnn(const float *x, const float *w, const float *r, const float *b, const float *h0,
                    int reverse, const char *a, float *y)
{
    float h[BT][H];
    memcpy(h, h0, sizeof h);
    for (int k = 0; k < S; k++) {
        int t = reverse ? S - 1 - k : k;
        float nh[BT][H];
        for (int n = 0; n < BT; n++)
            for (int j = 0; j < H; j++) {
                float v = b[j];
                for (int q = 0; q < I; q++) v += w[j * I + q] * x[(t * BT + n) * I + q];
                for (int q = 0; q < H; q++) v += r[j * H + q] * h[n][q];
                nh[n][j] = act(a, v);
            }
        memcpy(h, nh, sizeof h);
        memcpy(y + k * BT * H, h, sizeof h);
    }
}

/* lstm, gates i, f, o, z with activations ra (gates), ca (cell), aa (output). */
static void ref_lstm(const float *x, const float *w, const float *r, const float *b,
                     const float *h0, const float *c0, int reverse, const char *ra, const char *ca,
                     const char *aa, float *y)
{
    float h[BT][H], c[BT][H];
    memcpy(h, h0, sizeof h);
    memcpy(c, c0, sizeof c);
    for (int k = 0; k < S; k++) {
        int t = reverse ? S - 1 - k : k;
        float nh[BT][H];
        for (int n = 0; n < BT; n++) {
            float g[4 * H];
            for (int j = 0; j < 4 * H; j++) {
                g[j] = b[j];
                for (int q = 0; q < I; q++) g[j] += w[j * I + q] * x[(t * BT + n) * I + q];
                for (int q = 0; q < H; q++) g[j] += r[j * H + q] * h[n][q];
            }
            for (int j = 0; j < H; j++) {
                float i_ = act(ra, g[j]), f_ = act(ra, g[H + j]), o_ = act(ra, g[2 * H + j]);
                float z_ = act(ca, g[3 * H + j]);
                c[n][j] = f_ * c[n][j] + i_ * z_;
                nh[n][j] = o_ * act(aa, c[n][j]);
            }
        }
        memcpy(h, nh, sizeof h);
        memcpy(y + k * BT * H, h, sizeof h);
    }
}

/* gru, blocks r, o, z: o = act(W_o x + b_o + R_o (r * h)), h = (1 - z) o + z h. */
static void ref_gru(const float *x, const float *w, const float *rw, const float *b,
                    const float *h0, int reverse, float *y)
{
    float h[BT][H];
    memcpy(h, h0, sizeof h);
    for (int k = 0; k < S; k++) {
        int t = reverse ? S - 1 - k : k;
        float nh[BT][H];
        for (int n = 0; n < BT; n++) {
            const float *xt = x + (t * BT + n) * I;
            float rg[H], zg[H], rh[H];
            for (int j = 0; j < H; j++) {
                float vr = b[j], vz = b[2 * H + j];
                for (int q = 0; q < I; q++) {
                    vr += w[j * I + q] * xt[q];
                    vz += w[(2 * H + j) * I + q] * xt[q];
                }
                for (int q = 0; q < H; q++) {
                    vr += rw[j * H + q] * h[n][q];
                    vz += rw[(2 * H + j) * H + q] * h[n][q];
                }
                rg[j] = act("sigmoid", vr);
                zg[j] = act("sigmoid", vz);
            }
            for (int j = 0; j < H; j++) rh[j] = rg[j] * h[n][j];
            for (int j = 0; j < H; j++) {
                float vo = b[H + j];
                for (int q = 0; q < I; q++) vo += w[(H + j) * I + q] * xt[q];
                for (int q = 0; q < H; q++) vo += rw[(H + j) * H + q] * rh[q];
                nh[n][j] = (1 - zg[j]) * tanhf(vo) + zg[j] * h[n][j];
            }
        }
        memcpy(h, nh, sizeof h);
        memcpy(y + k * BT * H, h, sizeof h);
    }
}

typedef struct rnn_data {
    float x[S * BT * I], h0[BT * H], c0[BT * H], w[4 * H * I], r[4 * H * H], b[4 * H];
} rnn_data;

static void rnn_fill(rnn_data *d, unsigned seed)
{
    float *all[6] = {d->x, d->h0, d->c0, d->w, d->r, d->b};
    size_t n[6] = {S * BT * I, BT * H, BT * H, 4 * H * I, 4 * H * H, 4 * H};
    for (int i = 0; i < 6; i++)
        for (size_t j = 0; j < n[i]; j++) all[i][j] = b_rand(&seed);
}

/* Checks a [S, BT, H] sequence and the final state against the reference sequence. */
static void check_seq(mk_test_ctx *tc, const mk_tensor_list *out, const float *want,
                      const char *what)
{
    const float *y = out->items[0].data, *hn = out->items[1].data;
    int bad = 0;
    for (int i = 0; i < S * BT * H; i++) bad += fabsf(y[i] - want[i]) > 1e-5f;
    for (int i = 0; i < BT * H; i++) bad += fabsf(hn[i] - want[(S - 1) * BT * H + i]) > 1e-5f;
    CHECK_MSG(bad == 0, "%s: %d values differ from the reference (y[0] %g, want %g)", what, bad,
              (double)y[0], (double)want[0]);
}

TEST(opsem_reverse_recurrent_ops_emit_processing_order)
{
    static const int64_t xd[3] = {S, BT, I}, hd[2] = {BT, H};
    for (int kind = 0; kind < 3; kind++)
        for (int rev = 0; rev < 2; rev++) {
            rnn_data d;
            rnn_fill(&d, 7u + (unsigned)kind);
            int G = kind == 0 ? 1 : kind == 1 ? 3 : 4;
            int64_t wd[2] = {G * H, I}, rd[2] = {G * H, H}, bd[1] = {G * H};
            float want[S * BT * H];
            bld B;
            b_init(&B, 17);
            mk_value *x = b_input(&B, "x", 3, xd, d.x);
            mk_value *h0 = cf(&B, 2, hd, d.h0), *dir = cs(&B, rev ? "reverse" : "forward");
            mk_value *w = cf(&B, 2, wd, d.w), *r = cf(&B, 2, rd, d.r), *b = cf(&B, 1, bd, d.b);
            mk_op *o;
            if (kind == 0) {
                o = op(&B, MK_OP_RNN, 2, "x", x, "initial_h", h0, "weight_ih", w, "weight_hh", r,
                       "bias", b, "direction", dir, "output_sequence", cb(&B, 1), NULL);
                ref_rnn(d.x, d.w, d.r, d.b, d.h0, rev, "tanh", want);
            } else if (kind == 1) {
                o = op(&B, MK_OP_GRU, 2, "x", x, "initial_h", h0, "weight_ih", w, "weight_hh", r,
                       "bias", b, "direction", dir, "output_sequence", cb(&B, 1), NULL);
                ref_gru(d.x, d.w, d.r, d.b, d.h0, rev, want);
            } else {
                o = op(&B, MK_OP_LSTM, 3, "x", x, "initial_h", h0, "initial_c", cf(&B, 2, hd, d.c0),
                       "weight_ih", w, "weight_hh", r, "bias", b, "direction", dir,
                       "output_sequence", cb(&B, 1), NULL);
                ref_lstm(d.x, d.w, d.r, d.b, d.h0, d.c0, rev, "sigmoid", "tanh", "tanh", want);
            }
            mk_tensor_list out;
            REQUIRE(b_run(&B, o, &out) == MK_OK);
            char what[64];
            snprintf(what, sizeof what, "%s %s",
                     kind == 0   ? "rnn"
                     : kind == 1 ? "gru"
                                 : "lstm",
                     rev ? "reverse" : "forward");
            check_seq(tc, &out, want, what);
            mk_tensor_list_free(&out);
            b_free(&B);
        }
}

/* bidirectional lstm: the backward half of y[t] is the state after reading x[S-1] .. x[t]. */
TEST(opsem_bidirectional_lstm_backward_half_aligned_with_x)
{
    static const int64_t xd[3] = {S, BT, I}, hd[2] = {BT, 2 * H}, wd[2] = {4 * H, I},
                         rd[2] = {4 * H, H}, bd[1] = {4 * H};
    rnn_data f, k;
    rnn_fill(&f, 11);
    rnn_fill(&k, 12);
    float h0[BT * 2 * H], c0[BT * 2 * H];
    for (int n = 0; n < BT; n++)
        for (int j = 0; j < H; j++) {
            h0[n * 2 * H + j] = f.h0[n * H + j];
            h0[n * 2 * H + H + j] = k.h0[n * H + j];
            c0[n * 2 * H + j] = f.c0[n * H + j];
            c0[n * 2 * H + H + j] = k.c0[n * H + j];
        }
    bld B;
    b_init(&B, 17);
    mk_value *x = b_input(&B, "x", 3, xd, f.x);
    mk_op *o =
        op(&B, MK_OP_LSTM, 3, "x", x, "initial_h", cf(&B, 2, hd, h0), "initial_c",
           cf(&B, 2, hd, c0), "weight_ih", cf(&B, 2, wd, f.w), "weight_hh", cf(&B, 2, rd, f.r),
           "bias", cf(&B, 1, bd, f.b), "weight_ih_back", cf(&B, 2, wd, k.w), "weight_hh_back",
           cf(&B, 2, rd, k.r), "bias_back", cf(&B, 1, bd, k.b), "direction",
           cs(&B, "bidirectional"), "output_sequence", cb(&B, 1), NULL);
    mk_tensor_list out;
    REQUIRE(b_run(&B, o, &out) == MK_OK);
    float fw[S * BT * H], bw[S * BT * H];
    ref_lstm(f.x, f.w, f.r, f.b, f.h0, f.c0, 0, "sigmoid", "tanh", "tanh", fw);
    ref_lstm(f.x, k.w, k.r, k.b, k.h0, k.c0, 1, "sigmoid", "tanh", "tanh", bw);
    const float *y = out.items[0].data;
    int bad = 0;
    for (int t = 0; t < S; t++)
        for (int n = 0; n < BT; n++)
            for (int j = 0; j < H; j++) {
                bad += fabsf(y[(t * BT + n) * 2 * H + j] - fw[(t * BT + n) * H + j]) > 1e-5f;
                bad += fabsf(y[(t * BT + n) * 2 * H + H + j] - bw[((S - 1 - t) * BT + n) * H + j]) >
                       1e-5f;
            }
    CHECK_MSG(bad == 0, "%d values of the bidirectional sequence differ", bad);
    mk_tensor_list_free(&out);
    b_free(&B);
}

TEST(opsem_recurrent_activations_all_names)
{
    static const char *const names[] = {"sigmoid",     "tanh",         "relu",
                                        "scaled_tanh", "hard_sigmoid", "linear"};
    static const int64_t xd[3] = {S, BT, I}, hd[2] = {BT, H}, wd[2] = {4 * H, I},
                         rd[2] = {4 * H, H}, bd[1] = {4 * H}, w1[2] = {H, I}, r1[2] = {H, H},
                         b1[1] = {H};
    for (int a = 0; a < 6; a++) {
        rnn_data d;
        rnn_fill(&d, 20u + (unsigned)a);
        /* upper case too: the lstm definition lower-cases the names it checks */
        char upper[32];
        for (size_t i = 0; i <= strlen(names[a]); i++)
            upper[i] =
                (char)(names[a][i] >= 'a' && names[a][i] <= 'z' ? names[a][i] - 32 : names[a][i]);
        for (int which = 0; which < 3; which++) {
            const char *ra = which == 0 ? names[a] : "sigmoid";
            const char *ca = which == 1 ? names[a] : "tanh";
            const char *aa = which == 2 ? upper : "tanh";
            bld B;
            b_init(&B, 15);
            mk_op *o =
                op(&B, MK_OP_LSTM, 3, "x", b_input(&B, "x", 3, xd, d.x), "initial_h",
                   cf(&B, 2, hd, d.h0), "initial_c", cf(&B, 2, hd, d.c0), "weight_ih",
                   cf(&B, 2, wd, d.w), "weight_hh", cf(&B, 2, rd, d.r), "bias", cf(&B, 1, bd, d.b),
                   "output_sequence", cb(&B, 1), "recurrent_activation", cs(&B, ra),
                   "cell_activation", cs(&B, ca), "activation", cs(&B, aa), NULL);
            mk_tensor_list out;
            REQUIRE(b_run(&B, o, &out) == MK_OK);
            float want[S * BT * H];
            ref_lstm(d.x, d.w, d.r, d.b, d.h0, d.c0, 0, ra, ca, which == 2 ? names[a] : aa, want);
            char what[64];
            snprintf(what, sizeof what, "lstm %s as %s", names[a],
                     which == 0   ? "recurrent_activation"
                     : which == 1 ? "cell_activation"
                                  : "activation");
            check_seq(tc, &out, want, what);
            mk_tensor_list_free(&out);
            b_free(&B);
        }
        /* rnn: the activation (rnn's documented spelling sigmoid_hard as well) */
        bld B;
        b_init(&B, 15);
        const char *rn = !strcmp(names[a], "hard_sigmoid") ? "sigmoid_hard" : names[a];
        mk_op *o = op(&B, MK_OP_RNN, 2, "x", b_input(&B, "x", 3, xd, d.x), "initial_h",
                      cf(&B, 2, hd, d.h0), "weight_ih", cf(&B, 2, w1, d.w), "weight_hh",
                      cf(&B, 2, r1, d.r), "bias", cf(&B, 1, b1, d.b), "output_sequence", cb(&B, 1),
                      "activation", cs(&B, rn), NULL);
        mk_tensor_list out;
        REQUIRE(b_run(&B, o, &out) == MK_OK);
        float want[S * BT * H];
        ref_rnn(d.x, d.w, d.r, d.b, d.h0, 0, names[a], want);
        check_seq(tc, &out, want, rn);
        mk_tensor_list_free(&out);
        b_free(&B);
    }
}

/* ---- nearest resizing ---- */
/* Runs a one-op resizing program on x and returns its output (caller frees). */
static int run_1(mk_test_ctx *tc, bld *B, mk_op *o, mk_tensor_list *out)
{
    CHECK(o != NULL);
    if (!o || b_run(B, o, out) != MK_OK) {
        CHECK_MSG(0, "run failed: %s", B->e.msg);
        return 0;
    }
    return 1;
}

static void check_vals(mk_test_ctx *tc, const mk_tensor *t, int n, const float *want,
                       const char *what)
{
    CHECK_MSG(t->nbytes == (size_t)n * 4, "%s: %zu bytes, want %d values", what, t->nbytes, n);
    if (t->nbytes != (size_t)n * 4) return;
    const float *v = t->data;
    for (int i = 0; i < n; i++)
        CHECK_MSG(v[i] == want[i], "%s[%d] = %g, want %g", what, i, (double)v[i], (double)want[i]);
}

/* upsample_nearest_neighbor: W2 = floor(W1 * s), source column floor(o * W1 / W2). The
 * numbers are coremltools' TestUpsampleNearestNeighborFractionalScales. */
TEST(opsem_upsample_nearest_fractional_scales)
{
    static const float x[3] = {1.5f, -2.5f, 3.5f};
    static const int64_t xd[4] = {1, 1, 1, 3};
    static const struct {
        float sh, sw;
        int n;
        float want[7];
    } cases[] = {{3.17f, 0.67f, 6, {1.5f, -2.5f, 1.5f, -2.5f, 1.5f, -2.5f}},
                 {2.0f, 1.12f, 6, {1.5f, -2.5f, 3.5f, 1.5f, -2.5f, 3.5f}},
                 {1.0f, 2.5f, 7, {1.5f, 1.5f, 1.5f, -2.5f, -2.5f, 3.5f, 3.5f}}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bld B;
        b_init(&B, 15);
        mk_op *o = op(&B, MK_OP_UPSAMPLE_NEAREST_NEIGHBOR, 1, "x", b_input(&B, "x", 4, xd, x),
                      "scale_factor_height", cfs(&B, cases[i].sh), "scale_factor_width",
                      cfs(&B, cases[i].sw), NULL);
        mk_tensor_list out;
        if (run_1(tc, &B, o, &out)) {
            check_vals(tc, &out.items[0], cases[i].n, cases[i].want, "upsample_nearest");
            mk_tensor_list_free(&out);
        }
        b_free(&B);
    }
}

/* resize_nearest_neighbor and iOS17 resize NEAREST_NEIGHBOR: source floor((o + 0.5) * in /
 * out). 2 rows -> 3: rows 0, 1, 1 (coremltools' TestResize); 3 -> 5: 0, 0, 1, 2, 2; 5 -> 2:
 * 1, 3. */
TEST(opsem_resize_nearest_half_pixel)
{
    static const float x[5] = {10, 20, 30, 40, 50};
    static const struct {
        int in, out;
        float want[5];
    } cases[] = {{2, 3, {10, 20, 20}}, {3, 5, {10, 10, 20, 30, 30}}, {5, 2, {20, 40}}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int ios17 = 0; ios17 < 2; ios17++) {
            int64_t xd[4] = {1, 1, cases[i].in, 1};
            bld B;
            b_init(&B, ios17 ? 17 : 15);
            mk_value *xv = b_input(&B, "x", 4, xd, x);
            mk_op *o;
            if (ios17) {
                int32_t shape[2] = {cases[i].out, 1};
                uint32_t two = 2;
                mk_type u = mk_type_scalar(MK_DT_UINT32);
                o = op(&B, MK_OP_RESIZE, 1, "x", xv, "shape", ci(&B, 2, shape), "resized_dims",
                       mk_ir_const(B.p, B.b, "rd", &u, &two, 4, 0), "interpolation_mode",
                       cs(&B, "NEAREST_NEIGHBOR"), NULL);
            } else {
                o = op(&B, MK_OP_RESIZE_NEAREST_NEIGHBOR, 1, "x", xv, "target_size_height",
                       cis(&B, cases[i].out), "target_size_width", cis(&B, 1), NULL);
            }
            mk_tensor_list out;
            if (run_1(tc, &B, o, &out)) {
                check_vals(tc, &out.items[0], cases[i].out, cases[i].want,
                           ios17 ? "resize" : "resize_nearest_neighbor");
                mk_tensor_list_free(&out);
            }
            b_free(&B);
        }
}

/* resample nearest rounds halves up: coremltools' TestResample build_3 (symmetric padding,
 * normalized_zero_to_one): point (3.5, 1.2) is pixel (6.5, 1.9) -> column 7 = 0, row 2 = 1. */
TEST(opsem_resample_nearest_rounds_half_up)
{
    static const float x[4] = {11, 22, 33, 44}, g[8] = {-1, -2, -3.7f, -1, 0, 0, 3.5f, 1.2f};
    static const float want[4] = {22, 33, 11, 33};
    static const int64_t xd[4] = {1, 1, 2, 2}, gd[4] = {1, 2, 2, 2};
    uint8_t no = 0;
    bld B;
    b_init(&B, 15);
    mk_op *o =
        op(&B, MK_OP_RESAMPLE, 1, "x", b_input(&B, "x", 4, xd, x), "coordinates", cf(&B, 4, gd, g),
           "sampling_mode", cs(&B, "nearest"), "padding_mode", cs(&B, "symmetric"), "padding_value",
           cfs(&B, -1), "coordinates_mode", cs(&B, "normalized_zero_to_one"), "align_corners",
           mk_ir_const_bool(B.p, B.b, "ac", 1, &no, 1), NULL);
    mk_tensor_list out;
    if (run_1(tc, &B, o, &out)) {
        check_vals(tc, &out.items[0], 4, want, "resample");
        mk_tensor_list_free(&out);
    }
    b_free(&B);
}

/* ---- ops coremltools defines that milkit lacked (values worked out from the definitions) ---- */
static void run_check(mk_test_ctx *tc, bld *B, mk_op *o, int n, const float *want, const char *what)
{
    mk_tensor_list out;
    if (run_1(tc, B, o, &out)) {
        const float *v = out.items[0].data;
        CHECK_MSG(out.items[0].nbytes == (size_t)n * 4, "%s: %zu bytes", what, out.items[0].nbytes);
        for (int i = 0; i < n && out.items[0].nbytes == (size_t)n * 4; i++)
            CHECK_MSG(fabsf(v[i] - want[i]) <= 1e-6f * (1 + fabsf(want[i])), "%s[%d] = %g, want %g",
                      what, i, (double)v[i], (double)want[i]);
        mk_tensor_list_free(&out);
    }
    b_free(B);
}

TEST(opsem_parametric_activations)
{
    static const float x[4] = {-2, -0.5f, 0.5f, 3};
    static const int64_t xd[1] = {4}, sd[4] = {1, 2, 1, 2}, cd[1] = {2};
    bld B;
    b_init(&B, 15);
    static const float clamped[4] = {-1, -0.25f, 0.5f, 1};
    run_check(tc, &B,
              op(&B, MK_OP_CLAMPED_RELU, 1, "x", b_input(&B, "x", 1, xd, x), "alpha", cfs(&B, 0.5f),
                 "beta", cfs(&B, 1), NULL),
              4, clamped, "clamped_relu");
    b_init(&B, 17);
    static const float thr[4] = {0, 0, 0.5f, 3}; /* x >= alpha kept: 0.5 >= 0.5 */
    run_check(tc, &B,
              op(&B, MK_OP_THRESHOLDED_RELU, 1, "x", b_input(&B, "x", 1, xd, x), "alpha",
                 cfs(&B, 0.5f), NULL),
              4, thr, "thresholded_relu");
    /* channel 0: alpha 2, beta 1; channel 1: alpha 3, beta 0.5 */
    static const float al[2] = {2, 3}, be[2] = {1, 0.5f};
    float sp[4];
    for (int i = 0; i < 4; i++) {
        int c = i / 2;
        sp[i] = (float)(al[c] * log1p(exp((double)be[c] * x[i])));
    }
    b_init(&B, 15);
    run_check(tc, &B,
              op(&B, MK_OP_SOFTPLUS_PARAMETRIC, 1, "x", b_input(&B, "x", 4, sd, x), "alpha",
                 cf(&B, 1, cd, al), "beta", cf(&B, 1, cd, be), NULL),
              4, sp, "softplus_parametric");
}

TEST(opsem_block_rearrangements)
{
    /* x [1, 1, 2, 4] = rows 1 2 3 4 / 5 6 7 8 */
    static const float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    static const int64_t xd[4] = {1, 1, 2, 4}, pd[2] = {2, 2};
    static const int32_t two[2] = {2, 2}, nopad[4] = {0, 0, 0, 0};
    /* pixel_unshuffle f=2: channel i*2+j holds pixels (2h+i, 2w+j) */
    static const float pu[8] = {1, 3, 2, 4, 5, 7, 6, 8};
    bld B;
    b_init(&B, 16);
    run_check(tc, &B,
              op(&B, MK_OP_PIXEL_UNSHUFFLE, 1, "x", b_input(&B, "x", 4, xd, x), "downscale_factor",
                 cis(&B, 2), NULL),
              8, pu, "pixel_unshuffle");
    /* space_to_batch block 2x2: batch (i*2+j) holds pixels (2h+i, 2w+j), the same order */
    b_init(&B, 15);
    mk_type pt = mk_type_make(MK_DT_INT32, 2, pd);
    run_check(tc, &B,
              op(&B, MK_OP_SPACE_TO_BATCH, 1, "x", b_input(&B, "x", 4, xd, x), "block_shape",
                 ci(&B, 2, two), "paddings", mk_ir_const(B.p, B.b, "p", &pt, nopad, 16, 0), NULL),
              8, pu, "space_to_batch");
    /* batch_to_space of [4, 1, 1, 2] = that layout, cropping one column on the right */
    static const int64_t bd[4] = {4, 1, 1, 2};
    static const int32_t crop[4] = {0, 0, 0, 1};
    static const float bts[6] = {1, 2, 3, 5, 6, 7};
    b_init(&B, 15);
    run_check(tc, &B,
              op(&B, MK_OP_BATCH_TO_SPACE, 1, "x", b_input(&B, "x", 4, bd, pu), "block_shape",
                 ci(&B, 2, two), "crops", mk_ir_const(B.p, B.b, "c", &pt, crop, 16, 0), NULL),
              6, bts, "batch_to_space");
}

TEST(opsem_sequence_and_window_ops)
{
    static const float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    static const int64_t xd[2] = {2, 4}, x1[1] = {8}, rd[2] = {4, 2}, cd[3] = {1, 4, 2};
    static const int32_t lens[2] = {3, 1};
    static const float rs[8] = {3, 2, 1, 4, 5, 6, 7, 8};
    bld B;
    b_init(&B, 15);
    run_check(tc, &B,
              op(&B, MK_OP_REVERSE_SEQUENCE, 1, "x", b_input(&B, "x", 2, xd, x), "lengths",
                 ci(&B, 2, lens), "seq_axis", cis(&B, 1), "batch_axis", cis(&B, 0), NULL),
              8, rs, "reverse_sequence");
    /* windows of 3 every 2 along 8 values: (8 - 3) / 2 + 1 = 3 windows */
    static const float sw[9] = {1, 2, 3, 3, 4, 5, 5, 6, 7};
    b_init(&B, 15);
    run_check(tc, &B,
              op(&B, MK_OP_SLIDING_WINDOWS, 1, "x", b_input(&B, "x", 1, x1, x), "axis", cis(&B, 0),
                 "size", cis(&B, 3), "stride", cis(&B, 2), NULL),
              9, sw, "sliding_windows");
    /* reshape_like: dim 0 of a [4, 2] reference, then a [1, 4, 2] one's from dim 2 to the end */
    b_init(&B, 16);
    uint8_t f = 0, t = 1;
    mk_value *ref = cf(&B, 2, rd, x), *ref2 = cf(&B, 3, cd, x);
    mk_op *o =
        op(&B, MK_OP_RESHAPE_LIKE, 1, "x", b_input(&B, "x", 2, xd, x), "ref_tensors", ref,
           "ref_tensors", ref2, "begins", cis(&B, 0), "begins", cis(&B, 2), "ends", cis(&B, 1),
           "ends", cis(&B, 0), "end_masks", mk_ir_const_bool(B.p, B.b, "m", 1, &f, 1), "end_masks",
           mk_ir_const_bool(B.p, B.b, "m", 1, &t, 1), NULL);
    REQUIRE(o);
    CHECK_EQ_INT(o->outputs[0]->type.rank, 2);
    CHECK_EQ_INT(o->outputs[0]->type.dims[0], 4);
    CHECK_EQ_INT(o->outputs[0]->type.dims[1], 2);
    static const float xs[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    run_check(tc, &B, o, 8, xs, "reshape_like");
}

TEST(opsem_crop)
{
    static const float x[18] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19};
    static const int64_t xd[4] = {1, 2, 3, 3};
    static const int32_t chh[2] = {1, 0}, cw[2] = {0, 1};
    static const float want[8] = {4, 5, 7, 8, 14, 15, 17, 18};
    bld B;
    b_init(&B, 15);
    run_check(tc, &B,
              op(&B, MK_OP_CROP, 1, "x", b_input(&B, "x", 4, xd, x), "crop_height", ci(&B, 2, chh),
                 "crop_width", ci(&B, 2, cw), NULL),
              8, want, "crop");
}

/* ---- random ops: seeded streams with the documented distributions ---- */
static int sample(mk_test_ctx *tc, mk_op_kind kind, const char *p1, float v1, const char *p2,
                  float v2, int32_t seed, int n, float *out)
{
    bld B;
    b_init(&B, 15);
    int32_t shape[2] = {n / 100, 100};
    mk_op *o = op(&B, kind, 1, "shape", ci(&B, 2, shape), p1, cfs(&B, v1), p2, cfs(&B, v2), "seed",
                  cis(&B, seed), NULL);
    mk_tensor_list res;
    int ok = run_1(tc, &B, o, &res);
    if (ok) {
        CHECK_EQ_INT(res.items[0].nbytes, (size_t)n * 4);
        ok = res.items[0].nbytes == (size_t)n * 4;
        if (ok) memcpy(out, res.items[0].data, (size_t)n * 4);
        mk_tensor_list_free(&res);
    }
    b_free(&B);
    return ok;
}

static void moments(const float *v, int n, double *mean, double *var, float *lo, float *hi)
{
    double s = 0, s2 = 0;
    *lo = *hi = v[0];
    for (int i = 0; i < n; i++) {
        s += v[i];
        *lo = fminf(*lo, v[i]);
        *hi = fmaxf(*hi, v[i]);
    }
    *mean = s / n;
    for (int i = 0; i < n; i++) s2 += (v[i] - *mean) * (v[i] - *mean);
    *var = s2 / n;
}

TEST(opsem_random_distributions_and_seeds)
{
    enum { N = 20000 };
    float *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    REQUIRE(a && b);
    double m, v;
    float lo, hi;
    /* normal(2, 0.5): mean within 4 standard errors, variance within 5 % */
    if (sample(tc, MK_OP_RANDOM_NORMAL, "mean", 2, "stddev", 0.5f, 7, N, a)) {
        moments(a, N, &m, &v, &lo, &hi);
        CHECK_MSG(fabs(m - 2) < 4 * 0.5 / sqrt(N), "normal mean %g", m);
        CHECK_MSG(fabs(v - 0.25) < 0.05 * 0.25, "normal variance %g", v);
        int within = 0;
        for (int i = 0; i < N; i++) within += fabsf(a[i] - 2) < 0.5f;
        CHECK_MSG(fabs(within / (double)N - 0.6827) < 0.015, "normal: %d within 1 sd", within);
    }
    /* uniform[-1, 3): mean 1, variance 16/12, all in range */
    if (sample(tc, MK_OP_RANDOM_UNIFORM, "low", -1, "high", 3, 7, N, a)) {
        moments(a, N, &m, &v, &lo, &hi);
        CHECK_MSG(fabs(m - 1) < 4 * 2 / sqrt(3.0 * N), "uniform mean %g", m);
        CHECK_MSG(fabs(v - 16.0 / 12) < 0.05 * 16.0 / 12, "uniform variance %g", v);
        CHECK_MSG(lo >= -1 && hi < 3, "uniform range %g..%g", (double)lo, (double)hi);
    }
    /* bernoulli(0.3): only 0 and 1, frequency of 1 near 0.3 */
    if (sample(tc, MK_OP_RANDOM_BERNOULLI, "prob", 0.3f, NULL, 0, 7, N, a)) {
        int ones = 0, other = 0;
        for (int i = 0; i < N; i++) ones += a[i] == 1, other += a[i] != 0 && a[i] != 1;
        CHECK_EQ_INT(other, 0);
        CHECK_MSG(fabs(ones / (double)N - 0.3) < 4 * sqrt(0.21 / N), "bernoulli: %d ones", ones);
    }
    /* the same seed repeats the stream, another seed does not */
    if (sample(tc, MK_OP_RANDOM_UNIFORM, "low", 0, "high", 1, 7, N, a) &&
        sample(tc, MK_OP_RANDOM_UNIFORM, "low", 0, "high", 1, 7, N, b))
        CHECK(memcmp(a, b, N * sizeof *a) == 0);
    if (sample(tc, MK_OP_RANDOM_UNIFORM, "low", 0, "high", 1, 8, N, b))
        CHECK(memcmp(a, b, N * sizeof *a) != 0);
    free(a);
    free(b);
}

/* random_categorical: class frequencies follow softmax(logits) or the normalised probs. */
TEST(opsem_random_categorical_frequencies)
{
    static const float logits[3] = {0, 1, 2}, probs[3] = {1, 2, 5};
    static const int64_t xd[2] = {1, 3};
    enum { N = 30000 };
    for (int mode = 0; mode < 2; mode++) {
        bld B;
        b_init(&B, 15);
        mk_op *o =
            op(&B, MK_OP_RANDOM_CATEGORICAL, 1, "x", b_input(&B, "x", 2, xd, mode ? probs : logits),
               "mode", cs(&B, mode ? "probs" : "logits"), "size", cis(&B, N), "seed", cis(&B, 3),
               NULL);
        mk_tensor_list res;
        if (run_1(tc, &B, o, &res)) {
            const float *v = res.items[0].data;
            int cnt[3] = {0, 0, 0}, bad = 0;
            for (int i = 0; i < N; i++) {
                if (v[i] == 0 || v[i] == 1 || v[i] == 2)
                    cnt[(int)v[i]]++;
                else
                    bad++;
            }
            CHECK_EQ_INT(bad, 0);
            double z = 1 + exp(1.0) + exp(2.0);
            for (int c = 0; c < 3; c++) {
                double p = mode ? probs[c] / 8.0 : exp((double)c) / z;
                CHECK_MSG(fabs(cnt[c] / (double)N - p) < 4 * sqrt(p * (1 - p) / N) + 1e-3,
                          "%s: class %d drawn %d times, p = %g", mode ? "probs" : "logits", c,
                          cnt[c], p);
            }
            mk_tensor_list_free(&res);
        }
        b_free(&B);
    }
}

/* resample accepts 8- and 16-bit integer coordinates from iOS17 (coremltools' iOS17 U domain) */
TEST(opsem_resample_small_int_coordinates_ios17)
{
    static const float x[4] = {11, 22, 33, 44}, want[2] = {22, 33};
    static const int8_t g[4] = {1, 0, 0, 1};
    static const int64_t xd[4] = {1, 1, 2, 2}, gd[4] = {1, 1, 2, 2};
    for (int ios = 16; ios <= 17; ios++) {
        bld B;
        b_init(&B, ios);
        uint8_t no = 0;
        mk_type gt = mk_type_make(MK_DT_INT8, 4, gd);
        mk_op *o = op(&B, MK_OP_RESAMPLE, 1, "x", b_input(&B, "x", 4, xd, x), "coordinates",
                      mk_ir_const(B.p, B.b, "g", &gt, g, 4, 0), "sampling_mode", cs(&B, "bilinear"),
                      "padding_mode", cs(&B, "constant"), "padding_value", cfs(&B, 0),
                      "coordinates_mode", cs(&B, "unnormalized"), "align_corners",
                      mk_ir_const_bool(B.p, B.b, "ac", 1, &no, 1), NULL);
        if (ios == 16) {
            CHECK_MSG(o == NULL && strstr(B.e.msg, "'coordinates' must be") != NULL,
                      "iOS16 accepted int8 coordinates: %s", B.e.msg);
            b_free(&B);
            continue;
        }
        run_check(tc, &B, o, 2, want, "resample int8 coordinates");
    }
}

/* ---- out-of-bound indices of the gather / scatter family per opset ---- */
/* coremltools' iOS17 scatter_gather definitions: from iOS17 a negative index is out of bounds
 * and validate_indices=true makes any out-of-bound index fail the prediction (its op tests
 * expect "Unable to compute the prediction"); with false the result is undefined but the
 * prediction runs (the tests expect a result, not an error). Before iOS17 a negative index
 * counts from the end. Unvalidated, milkit still counts negatives from the end and its scatters
 * skip an update whose index stays out of range. data = [[1, 2, 3], [4, 5, 6]]. */
static mk_op *scatter_case(bld *B, int ios, mk_op_kind kind, int ir, const int64_t *id,
                           const int32_t *iv, const int64_t *ud, const float *uv, int validate)
{
    static const float data[6] = {1, 2, 3, 4, 5, 6};
    static const int64_t dd[2] = {2, 3};
    b_init(B, ios);
    mk_type it = mk_type_make(MK_DT_INT32, ir, id);
    size_t ni = 1, nu = 1;
    for (int i = 0; i < ir; i++) ni *= (size_t)id[i];
    int ur = kind == MK_OP_SCATTER_ND ? 1 : 2;
    for (int i = 0; i < ur; i++) nu *= (size_t)ud[i];
    mk_value *ind = B->b ? mk_ir_const(B->p, B->b, "ind", &it, iv, ni * 4, 0) : NULL;
    mk_type ut = mk_type_make(MK_DT_FP32, ur, ud);
    mk_value *u = B->b ? mk_ir_const(B->p, B->b, "upd", &ut, uv, nu * 4, 0) : NULL;
    return op(B, kind, 1, "data", b_input(B, "data", 2, dd, data), "indices", ind, "updates", u,
              "mode", cs(B, "add"), "validate_indices", ios >= 17 ? cb(B, validate) : NULL, NULL);
}

/* The op fails (at type inference or at run time) naming the bad index. */
static void expect_refused(mk_test_ctx *tc, bld *B, mk_op *o, const char *what)
{
    mk_tensor_list out;
    memset(&out, 0, sizeof out);
    int failed = o == NULL || b_run(B, o, &out) != MK_OK;
    CHECK_MSG(failed, "%s: ran, expected an out-of-bound index error", what);
    if (failed) CHECK_MSG(strstr(B->e.msg, "out of") != NULL, "%s: message '%s'", what, B->e.msg);
    mk_tensor_list_free(&out);
    b_free(B);
}

TEST(opsem_scatter_out_of_bound_indices_per_opset)
{
    static const int64_t i1[1] = {2}, u23[2] = {2, 3}, ind2[2] = {2, 2}, u2[1] = {2};
    static const int64_t i13[2] = {1, 3}, u13[2] = {1, 3};
    static const float upd[6] = {5, 6, 7, 8, 9, 10}, upd_nd[2] = {5, 10}, upd_ax[3] = {5, 6, 7};
    static const int32_t neg[2] = {-1, 0}, big[2] = {10, 0};
    static const int32_t nd_neg[4] = {1, 0, 0, -1}, ax_neg[3] = {1, 0, -1};
    static const int32_t nd_big[4] = {1, 0, 0, 3}, ax_big[3] = {1, 0, 2};
    /* scatter axis 0: row idx[j] += updates row j */
    static const float wrapped[6] = {9, 11, 13, 9, 11, 13}, skipped[6] = {9, 11, 13, 4, 5, 6};
    /* scatter_nd: (1, 0) += 5 and (0, -1) += 10 */
    static const float nd_wrapped[6] = {1, 2, 13, 9, 5, 6}, nd_skipped[6] = {1, 2, 3, 9, 5, 6};
    /* scatter_along_axis axis 0, indices [[1, 0, -1]]: (1,0) += 5, (0,1) += 6, (-1,2) += 7 */
    static const float ax_wrapped[6] = {1, 8, 3, 9, 5, 13}, ax_skipped[6] = {1, 8, 3, 9, 5, 6};
    bld B;

    run_check(tc, &B, scatter_case(&B, 16, MK_OP_SCATTER, 1, i1, neg, u23, upd, 0), 6, wrapped,
              "iOS16 scatter [-1, 0]");
    run_check(tc, &B, scatter_case(&B, 17, MK_OP_SCATTER, 1, i1, neg, u23, upd, 0), 6, wrapped,
              "iOS17 scatter [-1, 0] unvalidated");
    run_check(tc, &B, scatter_case(&B, 18, MK_OP_SCATTER, 1, i1, big, u23, upd, 0), 6, skipped,
              "iOS18 scatter [10, 0] unvalidated");
    expect_refused(tc, &B, scatter_case(&B, 17, MK_OP_SCATTER, 1, i1, neg, u23, upd, 1),
                   "iOS17 scatter [-1, 0] validated");
    expect_refused(tc, &B, scatter_case(&B, 17, MK_OP_SCATTER, 1, i1, big, u23, upd, 1),
                   "iOS17 scatter [10, 0] validated");
    expect_refused(tc, &B, scatter_case(&B, 16, MK_OP_SCATTER, 1, i1, big, u23, upd, 0),
                   "iOS16 scatter [10, 0]");

    run_check(tc, &B, scatter_case(&B, 16, MK_OP_SCATTER_ND, 2, ind2, nd_neg, u2, upd_nd, 0), 6,
              nd_wrapped, "iOS16 scatter_nd");
    run_check(tc, &B, scatter_case(&B, 17, MK_OP_SCATTER_ND, 2, ind2, nd_neg, u2, upd_nd, 0), 6,
              nd_wrapped, "iOS17 scatter_nd [0, -1] unvalidated");
    run_check(tc, &B, scatter_case(&B, 17, MK_OP_SCATTER_ND, 2, ind2, nd_big, u2, upd_nd, 0), 6,
              nd_skipped, "iOS17 scatter_nd [0, 3] unvalidated");
    expect_refused(tc, &B, scatter_case(&B, 16, MK_OP_SCATTER_ND, 2, ind2, nd_big, u2, upd_nd, 0),
                   "iOS16 scatter_nd [0, 3]");
    expect_refused(tc, &B, scatter_case(&B, 17, MK_OP_SCATTER_ND, 2, ind2, nd_neg, u2, upd_nd, 1),
                   "iOS17 scatter_nd validated");

    run_check(tc, &B,
              scatter_case(&B, 16, MK_OP_SCATTER_ALONG_AXIS, 2, i13, ax_neg, u13, upd_ax, 0), 6,
              ax_wrapped, "iOS16 scatter_along_axis");
    run_check(tc, &B,
              scatter_case(&B, 17, MK_OP_SCATTER_ALONG_AXIS, 2, i13, ax_neg, u13, upd_ax, 0), 6,
              ax_wrapped, "iOS17 scatter_along_axis -1 unvalidated");
    run_check(tc, &B,
              scatter_case(&B, 17, MK_OP_SCATTER_ALONG_AXIS, 2, i13, ax_big, u13, upd_ax, 0), 6,
              ax_skipped, "iOS17 scatter_along_axis 2 unvalidated");
    expect_refused(tc, &B,
                   scatter_case(&B, 17, MK_OP_SCATTER_ALONG_AXIS, 2, i13, ax_neg, u13, upd_ax, 1),
                   "iOS17 scatter_along_axis validated");
}

/* gathers: a validated negative index fails from iOS17; unvalidated (undefined in Core ML)
 * milkit keeps counting it from the end, as before iOS17. x = [10, 20, 30], indices [-1, 0]. */
TEST(opsem_gather_negative_indices_per_opset)
{
    static const float x[3] = {10, 20, 30}, want[2] = {30, 10};
    static const int64_t xd[1] = {3};
    static const int32_t neg[2] = {-1, 0};
    for (int c = 0; c < 3; c++) {
        int ios = c == 0 ? 16 : 17, validate = c == 2;
        bld B;
        b_init(&B, ios);
        mk_op *o =
            op(&B, MK_OP_GATHER, 1, "x", b_input(&B, "x", 1, xd, x), "indices", ci(&B, 2, neg),
               "axis", cis(&B, 0), "validate_indices", ios >= 17 ? cb(&B, validate) : NULL, NULL);
        if (validate)
            expect_refused(tc, &B, o, "iOS17 gather [-1, 0] validated");
        else
            run_check(tc, &B, o, 2, want, ios == 16 ? "iOS16 gather" : "iOS17 gather unvalidated");
    }
}

/* iOS17 linear: weight and bias may be int32 with a float x (coremltools' iOS17 linear, U in
 * fp16/fp32/i32; iOS17/TestLinear::test_linear_ios17_mixed_precision). x = [[1, 2], [3, 4]],
 * weight [[1, 0], [2, -1], [0, 3]], bias [10, 20, 30]: rows 1 + 10, 2 - 2 + 20, 6 + 30 and
 * 3 + 10, 6 - 4 + 20, 12 + 30. */
TEST(opsem_linear_int32_weight_ios17)
{
    static const float x[4] = {1, 2, 3, 4}, want[6] = {11, 20, 36, 13, 22, 42};
    static const int32_t w[6] = {1, 0, 2, -1, 0, 3}, bias[3] = {10, 20, 30};
    static const int64_t xd[2] = {2, 2}, wd[2] = {3, 2};
    bld B;
    b_init(&B, 17);
    mk_type wt = mk_type_make(MK_DT_INT32, 2, wd);
    mk_op *o = op(&B, MK_OP_LINEAR, 1, "x", b_input(&B, "x", 2, xd, x), "weight",
                  B.b ? mk_ir_const(B.p, B.b, "w", &wt, w, sizeof w, 0) : NULL, "bias",
                  ci(&B, 3, bias), NULL);
    run_check(tc, &B, o, 6, want, "iOS17 linear, int32 weight and bias");
}
