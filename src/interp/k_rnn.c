/* Recurrent kernels lstm (gates i, f, o, z; peephole, clip, bidirectional), gru (blocks r, o, z;
 * iOS18 reset_after) and rnn over x [seq, batch, input], as coremltools' op definitions and
 * tests state them. direction="reverse" emits the sequence in processing order (y[k] = state
 * after k+1 steps); the backward half of a bidirectional lstm is aligned with x (y[t] = state
 * after x[S-1] .. x[t]). One sgemm projects every step's input; one or two per step recur. */
#include <math.h>
#include <string.h>
#include <strings.h>

#include "blas.h"
#include "interp_int.h"

typedef enum { A_SIGMOID, A_TANH, A_RELU, A_LINEAR, A_HARD_SIGMOID, A_SCALED_TANH } act;

static mk_status get_act(mk_kctx *k, const char *param, const char *def, act *a)
{
    static const struct {
        const char *name;
        act a;
    } names[] = {{"sigmoid", A_SIGMOID},
                 {"tanh", A_TANH},
                 {"relu", A_RELU},
                 {"linear", A_LINEAR},
                 {"hard_sigmoid", A_HARD_SIGMOID},
                 {"sigmoid_hard", A_HARD_SIGMOID},
                 {"scaled_tanh", A_SCALED_TANH}};
    const char *s = mk_kstr(k, param, def);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(s, names[i].name) == 0) {
            *a = names[i].a;
            return MK_OK;
        }
    return mk_kerr(k, MK_EUNSUPPORTED, "%s '%s' not supported", param, s);
}

static float apply_act(act a, float v)
{
    switch (a) {
    case A_SIGMOID: return 1.0f / (1.0f + expf(-v));
    case A_TANH: return tanhf(v);
    case A_RELU: return v > 0 ? v : 0;
    case A_HARD_SIGMOID: {
        float r = 0.2f * v + 0.5f;
        return r < 0 ? 0 : r > 1 ? 1 : r;
    }
    case A_SCALED_TANH: return tanhf(v);
    case A_LINEAR: return v;
    }
    return v;
}

typedef struct rnn_io {
    mk_rt *x, *h0, *c0;
    int64_t S, B, In, H, G; /* G gates */
    int dirs, out_seq;
} rnn_io;

static mk_status f32(mk_kctx *k, const mk_rt *t, const char *what)
{
    if (t && mk_interp_layout(t->type.dtype) != MK_L_F32)
        return mk_kerr(k, MK_EUNSUPPORTED, "%s must be a float tensor", what);
    return MK_OK;
}

static mk_status setup(mk_kctx *k, int gates, int has_c, rnn_io *io)
{
    io->x = mk_kin(k, "x");
    io->h0 = mk_kin(k, "initial_h");
    io->c0 = has_c ? mk_kin(k, "initial_c") : NULL;
    mk_rt *wih = mk_kin(k, "weight_ih"), *whh = mk_kin(k, "weight_hh");
    if (!io->x || !io->h0 || !wih || !whh || (has_c && !io->c0))
        return mk_kerr(k, MK_EINVAL, "missing x, initial state or weights");
    mk_status st;
    if ((st = f32(k, io->x, "x")) || (st = f32(k, io->h0, "initial_h")) ||
        (st = f32(k, io->c0, "initial_c")) || (st = f32(k, wih, "weight_ih")) ||
        (st = f32(k, whh, "weight_hh")))
        return st;
    if (io->x->type.rank != 3 || wih->type.rank != 2 || whh->type.rank != 2)
        return mk_kerr(k, MK_EINVAL, "x must be [seq, batch, input] and weights 2-D");
    io->S = io->x->type.dims[0];
    io->B = io->x->type.dims[1];
    io->In = io->x->type.dims[2];
    io->G = gates;
    io->H = whh->type.dims[1];
    if (wih->type.dims[0] != gates * io->H || wih->type.dims[1] != io->In ||
        whh->type.dims[0] != gates * io->H)
        return mk_kerr(k, MK_EINVAL, "weight shapes do not match %d gates of %lld", gates,
                       (long long)io->H);
    const char *dir = mk_kstr(k, "direction", "forward");
    io->dirs = strcmp(dir, "bidirectional") == 0 ? 2 : 1;
    if (io->dirs == 1 && strcmp(dir, "forward") != 0 && strcmp(dir, "reverse") != 0)
        return mk_kerr(k, MK_EINVAL, "unknown direction '%s'", dir);
    if ((st = mk_kbool(k, "output_sequence", 0, &io->out_seq))) return st;
    size_t hs = (size_t)(io->B * io->H * io->dirs);
    if (io->h0->numel != hs || (io->c0 && io->c0->numel != hs))
        return mk_kerr(k, MK_EINVAL, "initial state must have %zu elements", hs);
    size_t osz = (size_t)((io->out_seq ? io->S : 1) * io->B * io->H * io->dirs);
    if (k->outs[0]->numel != osz || k->outs[1]->numel != hs || (has_c && k->outs[2]->numel != hs))
        return mk_kerr(k, MK_EINVAL, "output shapes do not match");
    return MK_OK;
}

enum { CELL_LSTM, CELL_GRU, CELL_RNN };

/* One direction over the sequence; writes outputs at column offset d*H, at the step's own
 * time index when in_order, else at the processing step. */
static mk_status run_dir(mk_kctx *k, const rnn_io *io, int cell, int d, int reverse, int in_order)
{
    const char *sfx = d ? "_back" : "";
    char n_wih[32], n_whh[32], n_b[32], n_p[32];
    snprintf(n_wih, sizeof n_wih, "weight_ih%s", sfx);
    snprintf(n_whh, sizeof n_whh, "weight_hh%s", sfx);
    snprintf(n_b, sizeof n_b, "bias%s", sfx);
    snprintf(n_p, sizeof n_p, "peephole%s", sfx);
    mk_rt *wih = mk_kin(k, n_wih), *whh = mk_kin(k, n_whh), *bias = mk_kin(k, n_b);
    mk_rt *peep = cell == CELL_LSTM ? mk_kin(k, n_p) : NULL;
    mk_rt *ibias = cell == CELL_GRU ? mk_kin(k, "input_bias") : NULL;
    int64_t S = io->S, B = io->B, In = io->In, H = io->H, G = io->G, GH = G * H, HD = H * io->dirs;
    if (!wih || !whh) return mk_kerr(k, MK_EINVAL, "missing %s/%s", n_wih, n_whh);
    if (wih->numel != (size_t)(GH * In) || whh->numel != (size_t)(GH * H) ||
        (bias && bias->numel != (size_t)GH) || (peep && peep->numel != (size_t)(3 * H)) ||
        (ibias && ibias->numel != (size_t)GH))
        return mk_kerr(k, MK_EINVAL, "%s weights have the wrong size", d ? "backward" : "forward");
    mk_status st;
    if ((st = f32(k, bias, "bias")) || (st = f32(k, peep, "peephole")) ||
        (st = f32(k, ibias, "input_bias")))
        return st;
    act ra = A_SIGMOID, ca = A_TANH, aa = A_TANH;
    if (cell != CELL_RNN && (st = get_act(k, "recurrent_activation", "sigmoid", &ra))) return st;
    if (cell == CELL_LSTM && (st = get_act(k, "cell_activation", "tanh", &ca))) return st;
    if ((st = get_act(k, "activation", "tanh", &aa))) return st;
    int reset_after = 0;
    double clip = 0;
    if (cell == CELL_GRU && (st = mk_kbool(k, "reset_after", 0, &reset_after))) return st;
    if (cell == CELL_LSTM && (st = mk_kfloat(k, "clip", 0, &clip))) return st;
    size_t nb = (size_t)(S * B * GH + B * GH + 2 * B * H + B * H) * 4 + 16;
    float *xp = mk_malloc(k->alloc, nb);
    if (!xp) return MK_OOM(k->e);
    float *hp = xp + S * B * GH, *h = hp + B * GH, *c = h + B * H, *tmp = c + B * H;
    /* input projection for all steps */
    if (S * B != 0 && GH != 0 && In != 0)
        mk_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(S * B), (int)GH, (int)In, 1.0f,
                 io->x->data, (int)In, wih->data, (int)In, 0.0f, xp, (int)GH);
    else
        memset(xp, 0, (size_t)(S * B * GH) * 4);
    for (int64_t b = 0; b < B; b++) {
        memcpy(h + b * H, (const float *)io->h0->data + b * HD + d * H, (size_t)H * 4);
        if (io->c0) memcpy(c + b * H, (const float *)io->c0->data + b * HD + d * H, (size_t)H * 4);
    }
    const float *bb = bias ? bias->data : NULL, *pp = peep ? peep->data : NULL;
    const float *ib = ibias ? ibias->data : NULL;
    float *y = k->outs[0]->data;
    for (int64_t step = 0; step < S; step++) {
        int64_t t = reverse ? S - 1 - step : step;
        float *xt = xp + t * B * GH;
        if (cell == CELL_GRU && !reset_after) {
            /* gates r (block 0) and z (block 2) need W_h h; o (block 1) uses W_ho (r * h) */
            mk_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)GH, (int)H, 1.0f, h,
                     (int)H, whh->data, (int)H, 0.0f, hp, (int)GH);
            for (int64_t b = 0; b < B; b++)
                for (int64_t j = 0; j < GH; j++) {
                    if (j >= H && j < 2 * H) continue;
                    float v = xt[b * GH + j] + hp[b * GH + j] + (bb ? bb[j] : 0) + (ib ? ib[j] : 0);
                    hp[b * GH + j] = apply_act(ra, v);
                }
            for (int64_t b = 0; b < B; b++)
                for (int64_t j = 0; j < H; j++) tmp[b * H + j] = hp[b * GH + j] * h[b * H + j];
            mk_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)H, (int)H, 1.0f, tmp,
                     (int)H, (const float *)whh->data + H * H, (int)H, 0.0f, c, (int)H);
            for (int64_t b = 0; b < B; b++)
                for (int64_t j = 0; j < H; j++) {
                    float z = hp[b * GH + 2 * H + j];
                    float o = apply_act(aa, xt[b * GH + H + j] + c[b * H + j] +
                                                (bb ? bb[H + j] : 0) + (ib ? ib[H + j] : 0));
                    h[b * H + j] = (1 - z) * o + z * h[b * H + j];
                }
        } else {
            mk_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)GH, (int)H, 1.0f, h,
                     (int)H, whh->data, (int)H, 0.0f, hp, (int)GH);
            for (int64_t b = 0; b < B; b++) {
                float *hx = hp + b * GH;
                const float *xx = xt + b * GH;
                float *hb = h + b * H, *cb = c + b * H;
                for (int64_t j = 0; j < H; j++) {
                    if (cell == CELL_RNN) {
                        hb[j] = apply_act(aa, xx[j] + hx[j] + (bb ? bb[j] : 0));
                    } else if (cell == CELL_GRU) { /* reset_after; blocks r, o, z */
                        float r =
                            apply_act(ra, xx[j] + hx[j] + (bb ? bb[j] : 0) + (ib ? ib[j] : 0));
                        float z =
                            apply_act(ra, xx[2 * H + j] + hx[2 * H + j] + (bb ? bb[2 * H + j] : 0) +
                                              (ib ? ib[2 * H + j] : 0));
                        float o = apply_act(aa, xx[H + j] + (ib ? ib[H + j] : 0) +
                                                    r * (hx[H + j] + (bb ? bb[H + j] : 0)));
                        hb[j] = (1 - z) * o + z * hb[j];
                    } else {
                        float gi = xx[j] + hx[j] + (bb ? bb[j] : 0);
                        float gf = xx[H + j] + hx[H + j] + (bb ? bb[H + j] : 0);
                        float go = xx[2 * H + j] + hx[2 * H + j] + (bb ? bb[2 * H + j] : 0);
                        float gz = xx[3 * H + j] + hx[3 * H + j] + (bb ? bb[3 * H + j] : 0);
                        if (pp) {
                            gi += pp[j] * cb[j];
                            gf += pp[H + j] * cb[j];
                        }
                        float i_ = apply_act(ra, gi), f_ = apply_act(ra, gf),
                              z_ = apply_act(ca, gz);
                        float cn = f_ * cb[j] + i_ * z_;
                        if (clip > 0)
                            cn = cn > (float)clip    ? (float)clip
                                 : cn < -(float)clip ? -(float)clip
                                                     : cn;
                        if (pp) go += pp[2 * H + j] * cn;
                        cb[j] = cn;
                        hb[j] = apply_act(ra, go) * apply_act(aa, cn);
                    }
                }
            }
        }
        if (io->out_seq)
            for (int64_t b = 0; b < B; b++)
                memcpy(y + ((in_order ? t : step) * B + b) * HD + d * H, h + b * H, (size_t)H * 4);
    }
    for (int64_t b = 0; b < B; b++) {
        if (!io->out_seq) memcpy(y + b * HD + d * H, h + b * H, (size_t)H * 4);
        memcpy((float *)k->outs[1]->data + b * HD + d * H, h + b * H, (size_t)H * 4);
        if (cell == CELL_LSTM)
            memcpy((float *)k->outs[2]->data + b * HD + d * H, c + b * H, (size_t)H * 4);
    }
    mk_free(k->alloc, xp, nb);
    return MK_OK;
}

static mk_status run_cell(mk_kctx *k, int cell, int gates)
{
    if (k->n_outs < (cell == CELL_LSTM ? 3 : 2)) return mk_kerr(k, MK_EINVAL, "too few outputs");
    rnn_io io;
    mk_status st = setup(k, gates, cell == CELL_LSTM, &io);
    if (st) return st;
    int rev = strcmp(mk_kstr(k, "direction", "forward"), "reverse") == 0;
    if ((st = run_dir(k, &io, cell, 0, rev, 0))) return st;
    if (io.dirs == 2) st = run_dir(k, &io, cell, 1, 1, 1);
    return st;
}

mk_status mk_k_lstm(mk_kctx *k)
{
    return run_cell(k, CELL_LSTM, 4);
}

mk_status mk_k_gru(mk_kctx *k)
{
    return run_cell(k, CELL_GRU, 3);
}

mk_status mk_k_rnn(mk_kctx *k)
{
    return run_cell(k, CELL_RNN, 1);
}
