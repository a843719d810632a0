/* Lowering of the ONNX recurrent ops LSTM, GRU and RNN. MIL's own lstm / gru / rnn are used
 * where they compute the same function (default activations, constant weights, no clip,
 * LSTM without input_forget, GRU with linear_before_reset=0), with the gate blocks reordered
 * to MIL's layouts. Every other form with a static sequence length (GRU linear_before_reset=1
 * as PyTorch exports it, clip, input_forget, run-time peepholes, other activations, constant
 * sequence_lens shorter than the sequence) is unrolled step by step into linear, elementwise
 * ops, split and stack (hazard H29). layout=1 is transposed around both forms. A one-way
 * reverse MIL op lists its steps in processing order: its Y is flipped back in time. */
#include <math.h>
#include <string.h>
#include <strings.h>

#include "onnx_int.h"

/* Unrolled steps (sequence length x directions) above which a node is refused. */
#define MAX_UNROLL 4096

enum { K_RNN, K_GRU, K_LSTM };
enum {
    A_SIGMOID,
    A_TANH,
    A_RELU,
    A_AFFINE,
    A_LEAKY_RELU,
    A_THRESHOLDED_RELU,
    A_SCALED_TANH,
    A_HARD_SIGMOID,
    A_ELU,
    A_SOFTSIGN,
    A_SOFTPLUS
};

typedef struct ract {
    int fn;
    float alpha, beta;
} ract;

/* ONNX activation names; alpha/beta defaults are those of the ONNX operators of that name. */
static const struct {
    const char *name;
    int fn, uses_alpha, uses_beta;
    float alpha, beta;
} act_names[] = {
    {"Sigmoid", A_SIGMOID, 0, 0, 0, 0},
    {"Tanh", A_TANH, 0, 0, 0, 0},
    {"Relu", A_RELU, 0, 0, 0, 0},
    {"Affine", A_AFFINE, 1, 1, 1.0f, 0.0f},
    {"LeakyRelu", A_LEAKY_RELU, 1, 0, 0.01f, 0},
    {"ThresholdedRelu", A_THRESHOLDED_RELU, 1, 0, 1.0f, 0},
    {"ScaledTanh", A_SCALED_TANH, 1, 1, 1.0f, 1.0f},
    {"HardSigmoid", A_HARD_SIGMOID, 1, 1, 0.2f, 0.5f},
    {"Elu", A_ELU, 1, 0, 1.0f, 0},
    {"Softsign", A_SOFTSIGN, 0, 0, 0, 0},
    {"Softplus", A_SOFTPLUS, 0, 0, 0, 0},
};

/* What a node asks for, from its attributes. */
typedef struct rspec {
    int kind, G, D, reverse, layout, lbr, input_forget, has_clip, n_act;
    float clip;
    ract act[2][3]; /* per direction: f, g, h */
} rspec;

static const char *read_spec(ox_ctx *c, const Onnx__NodeProto *n, int kind, rspec *s)
{
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->G = kind == K_LSTM ? 4 : kind == K_GRU ? 3 : 1;
    s->n_act = kind == K_LSTM ? 3 : kind == K_GRU ? 2 : 1;
    const char *dir = mk_onnx_attr_s(c, n, "direction", "forward");
    if (!strcmp(dir, "bidirectional"))
        s->D = 2;
    else if (!strcmp(dir, "forward") || !strcmp(dir, "reverse"))
        s->D = 1;
    else
        return "unknown direction";
    s->reverse = !strcmp(dir, "reverse");
    int64_t layout = mk_onnx_attr_i(n, "layout", 0);
    if (layout != 0 && layout != 1) return "layout must be 0 or 1";
    s->layout = (int)layout;
    s->lbr = kind == K_GRU && mk_onnx_attr_i(n, "linear_before_reset", 0) != 0;
    s->input_forget = kind == K_LSTM && mk_onnx_attr_i(n, "input_forget", 0) != 0;
    if (mk_onnx_attr(n, "clip")) {
        s->has_clip = 1;
        s->clip = mk_onnx_attr_f(n, "clip", 0);
        if (!(s->clip >= 0)) return "negative clip";
    }
    static const int def[3][3] = {{A_TANH}, {A_SIGMOID, A_TANH}, {A_SIGMOID, A_TANH, A_TANH}};
    const Onnx__AttributeProto *a = mk_onnx_attr(n, "activations");
    const Onnx__AttributeProto *al = mk_onnx_attr(n, "activation_alpha");
    const Onnx__AttributeProto *be = mk_onnx_attr(n, "activation_beta");
    size_t na = a ? a->n_strings : 0, ia = 0, ib = 0;
    if (a && na != (size_t)s->n_act && na != (size_t)(s->n_act * s->D))
        return "activations: wrong count for the direction";
    for (int d = 0; d < s->D; d++)
        for (int j = 0; j < s->n_act; j++) {
            ract *r = &s->act[d][j];
            if (!na) {
                r->fn = def[kind][j];
                continue;
            }
            const ProtobufCBinaryData *nm = &a->strings[(size_t)(d * s->n_act + j) % na];
            size_t k = 0, nk = sizeof act_names / sizeof *act_names;
            while (k < nk && !(strlen(act_names[k].name) == nm->len &&
                               !strncasecmp(act_names[k].name, (const char *)nm->data, nm->len)))
                k++;
            if (k == nk) return "unknown activation";
            r->fn = act_names[k].fn;
            r->alpha = act_names[k].alpha;
            r->beta = act_names[k].beta;
            /* alpha / beta are consumed in order by the functions that take them */
            if (act_names[k].uses_alpha && al && ia < al->n_floats) r->alpha = al->floats[ia++];
            if (act_names[k].uses_beta && be && ib < be->n_floats) r->beta = be->floats[ib++];
        }
    return NULL;
}

static const char *why(ox_ctx *c, const Onnx__NodeProto *n, int kind)
{
    rspec s;
    return read_spec(c, n, kind, &s);
}

OX_WHY(mk_onnx_why_lstm)
{
    return why(c, n, K_LSTM);
}

OX_WHY(mk_onnx_why_gru)
{
    return why(c, n, K_GRU);
}

OX_WHY(mk_onnx_why_rnn)
{
    return why(c, n, K_RNN);
}

/* ---- small emitters (NULL on failure; c->err says why, or it was out of memory) ---- */
typedef struct rctx {
    ox_ctx *c;
    const rspec *s;
    int64_t S, B, I, H;
    ox_val *W, *R, *Bv, *P;
    const int64_t *lens; /* per batch entry, NULL when every sequence is full */
} rctx;

static mk_value *bin(ox_ctx *c, mk_op_kind k, mk_value *a, mk_value *b)
{
    return a && b ? mk_onnx_binary(c, k, a, b, NULL) : NULL;
}

static mk_value *un(ox_ctx *c, mk_op_kind k, mk_value *x)
{
    return x ? mk_onnx_unary(c, k, x, NULL) : NULL;
}

static mk_value *fop(ox_ctx *c, mk_op_kind k, mk_value *x, int np, const char *p1, float v1,
                     const char *p2, float v2)
{
    mk_op *op = x ? mk_onnx_op(c, k, NULL) : NULL;
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || (np > 0 && !mk_onnx_in_f32(c, op, p1, v1)) ||
        (np > 1 && !mk_onnx_in_f32(c, op, p2, v2)))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

static mk_value *scalar(ox_ctx *c, float v)
{
    return mk_onnx_cf32(c, "rnn_scalar", 0, NULL, &v);
}

static mk_value *act(ox_ctx *c, const ract *a, mk_value *x)
{
    switch (a->fn) {
    case A_SIGMOID: return un(c, MK_OP_SIGMOID, x);
    case A_TANH: return un(c, MK_OP_TANH, x);
    case A_RELU: return un(c, MK_OP_RELU, x);
    case A_SOFTSIGN: return un(c, MK_OP_SOFTSIGN, x);
    case A_SOFTPLUS: return un(c, MK_OP_SOFTPLUS, x);
    case A_AFFINE: return fop(c, MK_OP_LINEAR_ACTIVATION, x, 2, "alpha", a->alpha, "beta", a->beta);
    case A_LEAKY_RELU: return fop(c, MK_OP_LEAKY_RELU, x, 1, "alpha", a->alpha, NULL, 0);
    case A_SCALED_TANH: return fop(c, MK_OP_SCALED_TANH, x, 2, "alpha", a->alpha, "beta", a->beta);
    case A_HARD_SIGMOID:
        return fop(c, MK_OP_SIGMOID_HARD, x, 2, "alpha", a->alpha, "beta", a->beta);
    case A_ELU: return fop(c, MK_OP_ELU, x, 1, "alpha", a->alpha, NULL, 0);
    default: { /* ThresholdedRelu: x where x > alpha, else 0 */
        mk_value *gt = bin(c, MK_OP_GREATER, x, scalar(c, a->alpha)), *z = scalar(c, 0);
        mk_op *op = gt && z ? mk_onnx_op(c, MK_OP_SELECT, NULL) : NULL;
        if (!op || !mk_onnx_in_mil(c, op, "cond", gt) || !mk_onnx_in_mil(c, op, "a", x) ||
            !mk_onnx_in_mil(c, op, "b", z))
            return NULL;
        return mk_onnx_out(c, op, NULL);
    }
    }
}

/* clip (when the node has one) then the activation: ONNX clips activation inputs */
static mk_value *gate(ox_ctx *c, const rspec *s, const ract *a, mk_value *x)
{
    if (x && s->has_clip) x = fop(c, MK_OP_CLIP, x, 2, "alpha", -s->clip, "beta", s->clip);
    return act(c, a, x);
}

/* Split x along axis into n parts of the given sizes (n <= 64). */
static int split(ox_ctx *c, mk_value *x, int axis, int n, const int32_t *sizes, mk_value **outs)
{
    mk_op *op = x ? mk_onnx_op(c, MK_OP_SPLIT, NULL) : NULL;
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_i32s(c, op, "split_sizes", n, sizes) ||
        !mk_onnx_in_i32(c, op, "axis", axis))
        return 0;
    for (int i = 0; i < n; i++) {
        if (!(outs[i] = mk_onnx_out(c, op, NULL))) return 0;
    }
    return 1;
}

static int split_eq(ox_ctx *c, mk_value *x, int axis, int n, int64_t each, mk_value **outs)
{
    int32_t sz[4];
    for (int i = 0; i < n; i++) sz[i] = (int32_t)each;
    return split(c, x, axis, n, sz, outs);
}

/* squeeze or expand_dims of one axis */
static mk_value *axes_op(ox_ctx *c, mk_op_kind k, mk_value *x, int32_t axis)
{
    mk_op *op = x ? mk_onnx_op(c, k, NULL) : NULL;
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_i32s(c, op, "axes", 1, &axis))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

static mk_value *stack(ox_ctx *c, mk_value **v, int n, int32_t axis)
{
    if (n == 1) return axes_op(c, MK_OP_EXPAND_DIMS, v[0], axis);
    mk_op *op = mk_onnx_op(c, MK_OP_STACK, NULL);
    if (!op) return NULL;
    for (int i = 0; i < n; i++)
        if (!v[i] || !mk_onnx_in_mil(c, op, "values", v[i])) return NULL;
    if (!mk_onnx_in_i32(c, op, "axis", axis)) return NULL;
    return mk_onnx_out(c, op, NULL);
}

static mk_value *concat2(ox_ctx *c, mk_value *a, mk_value *b, int32_t axis)
{
    mk_op *op = a && b ? mk_onnx_op(c, MK_OP_CONCAT, NULL) : NULL;
    if (!op || !mk_onnx_in_mil(c, op, "values", a) || !mk_onnx_in_mil(c, op, "values", b) ||
        !mk_onnx_in_i32(c, op, "axis", axis) || !mk_onnx_in_bool(c, op, "interleave", 0))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

/* Row d of a [D, ...] value, without the leading axis. */
static mk_value *row(ox_ctx *c, mk_value *v, int d)
{
    if (!v) return NULL;
    if (v->type.dims[0] == 1) return axes_op(c, MK_OP_SQUEEZE, v, 0);
    mk_value *parts[2];
    return split_eq(c, v, 0, 2, 1, parts) ? axes_op(c, MK_OP_SQUEEZE, parts[d], 0) : NULL;
}

static mk_value *zeros(ox_ctx *c, int64_t B, int64_t H)
{
    size_t k = (size_t)(B * H);
    float *z = mk_arena_array(c->p->arena, k ? k : 1, sizeof *z);
    int64_t d[2] = {B, H};
    return z ? mk_onnx_cf32_own(c, "rnn_zeros", 2, d, z) : NULL;
}

/* Rows off.. of a constant as a [N, K] fp32 weight constant. */
static mk_value *wconst(ox_ctx *c, const ox_val *w, size_t off, int64_t N, int64_t K)
{
    float *wd = mk_onnx_weight_alloc(c, (size_t)(N * K) * sizeof *wd);
    if (!wd) return NULL;
    for (size_t i = 0; i < (size_t)(N * K); i++) wd[i] = (float)mk_onnx_cget_f(w, off + i);
    int64_t dims[2] = {N, K};
    return mk_onnx_cf32_own(c, "rnn_weight", 2, dims, wd);
}

/* linear(x, w, bias b or zeros) */
static mk_value *lin(ox_ctx *c, mk_value *x, mk_value *w, mk_value *b)
{
    mk_op *op = x && w ? mk_onnx_op(c, MK_OP_LINEAR, NULL) : NULL;
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_mil(c, op, "weight", w) ||
        (b && !mk_onnx_in_mil(c, op, "bias", b)))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

/* Peephole j (ONNX order i, o, f) of direction d as a [H] or [1, H] value. */
static mk_value *peephole(rctx *r, int d, int j)
{
    ox_ctx *c = r->c;
    int64_t H = r->H;
    if (r->P->data) {
        float *v = mk_arena_array(c->p->arena, (size_t)H, sizeof *v);
        if (!v) return NULL;
        for (int64_t h = 0; h < H; h++)
            v[h] = (float)mk_onnx_cget_f(r->P, (size_t)(d * 3 * H + j * H + h));
        return mk_onnx_cf32_own(c, "peephole", 1, &H, v);
    }
    mk_value *pv = mk_onnx_mil(c, r->P);
    int64_t b[2] = {d, j * H}, e[2] = {d + 1, (j + 1) * H};
    int32_t b32[2] = {(int32_t)b[0], (int32_t)b[1]}, e32[2] = {(int32_t)e[0], (int32_t)e[1]};
    mk_op *op = pv ? mk_onnx_op(c, MK_OP_SLICE_BY_INDEX, NULL) : NULL;
    if (!op || !mk_onnx_in_mil(c, op, "x", pv) || !mk_onnx_in_i32s(c, op, "begin", 2, b32) ||
        !mk_onnx_in_i32s(c, op, "end", 2, e32))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

/* select(cond, a, b) with cond [B, 1] */
static mk_value *sel(ox_ctx *c, mk_value *cond, mk_value *a, mk_value *b)
{
    mk_op *op = cond && a && b ? mk_onnx_op(c, MK_OP_SELECT, NULL) : NULL;
    if (!op || !mk_onnx_in_mil(c, op, "cond", cond) || !mk_onnx_in_mil(c, op, "a", a) ||
        !mk_onnx_in_mil(c, op, "b", b))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

/* One direction unrolled over the sequence: ys[t] for every t, final h (and c). */
static int unroll_dir(rctx *r, mk_value *x, int d, mk_value *h, mk_value *cs, mk_value **ys,
                      mk_value **h_out, mk_value **c_out)
{
    ox_ctx *c = r->c;
    const rspec *s = r->s;
    int64_t S = r->S, B = r->B, I = r->I, H = r->H, G = s->G, GH = G * H;
    const ract *fa = &s->act[d][0], *ga = &s->act[d][s->n_act > 1 ? 1 : 0];
    const ract *ha = &s->act[d][s->n_act > 2 ? 2 : 0];
    int rev = s->D == 2 ? d == 1 : s->reverse;
    /* input projection of every step with W and the biases outside the reset product */
    float *bx = mk_arena_array(c->p->arena, (size_t)GH, sizeof *bx);
    float *bh = mk_arena_array(c->p->arena, (size_t)H, sizeof *bh);
    if (!bx || !bh) return 0;
    for (int64_t j = 0; j < GH; j++) {
        size_t base = (size_t)(d * 2 * GH);
        int inside = s->kind == K_GRU && s->lbr && j >= 2 * H; /* Rbh inside r * (...) */
        bx[j] = r->Bv ? (float)(mk_onnx_cget_f(r->Bv, base + (size_t)j) +
                                (inside ? 0 : mk_onnx_cget_f(r->Bv, base + (size_t)(GH + j))))
                      : 0.0f;
        if (inside)
            bh[j - 2 * H] = r->Bv ? (float)mk_onnx_cget_f(r->Bv, base + (size_t)(GH + j)) : 0;
    }
    mk_value *xw = lin(c, x, wconst(c, r->W, (size_t)(d * GH * I), GH, I),
                       mk_onnx_cf32_own(c, "rnn_bias", 1, &GH, bx));
    if (!xw) return 0;
    /* per-step slices: split in chunks of at most 64 steps, squeeze the time axis */
    mk_value **xs = mk_arena_array(c->p->arena, (size_t)S, sizeof *xs);
    if (!xs) return 0;
    for (int64_t t0 = 0; t0 < S; t0 += 64) {
        int k = S - t0 < 64 ? (int)(S - t0) : 64;
        mk_value *part = xw, *pieces[64];
        if (k != S) {
            int32_t b32[3] = {(int32_t)t0, 0, 0}, e32[3] = {(int32_t)(t0 + k), 0, 0};
            uint8_t em[3] = {0, 1, 1};
            mk_op *op = mk_onnx_op(c, MK_OP_SLICE_BY_INDEX, NULL);
            const char *emn = op ? mk_arena_printf(c->p->arena, "%s_end_mask", op->name) : NULL;
            mk_value *emv = emn ? mk_ir_const_bool(c->p, c->blk, emn, 3, em, 0) : NULL;
            if (!emv || !mk_onnx_in_mil(c, op, "x", xw) ||
                !mk_onnx_in_i32s(c, op, "begin", 3, b32) ||
                !mk_onnx_in_i32s(c, op, "end", 3, e32) || !mk_onnx_in_mil(c, op, "end_mask", emv))
                return 0;
            if (!(part = mk_onnx_out(c, op, NULL))) return 0;
        }
        if (k == 1) {
            pieces[0] = part;
        } else {
            int32_t ones[64];
            for (int i = 0; i < k; i++) ones[i] = 1;
            if (!split(c, part, 0, k, ones, pieces)) return 0;
        }
        for (int i = 0; i < k; i++)
            if (!(xs[t0 + i] = axes_op(c, MK_OP_SQUEEZE, pieces[i], 0))) return 0;
    }
    mk_value *pi = NULL, *po = NULL, *pf = NULL;
    if (r->P &&
        (!(pi = peephole(r, d, 0)) || !(po = peephole(r, d, 1)) || !(pf = peephole(r, d, 2))))
        return 0;
    /* recurrent weights, shared by every step: all gates, or z,r and h apart (GRU
     * linear_before_reset=0 multiplies r * h by the h block) */
    size_t roff = (size_t)(d * GH * H);
    int split_r = s->kind == K_GRU && !s->lbr;
    mk_value *rw = wconst(c, r->R, roff, split_r ? 2 * H : GH, H);
    mk_value *rwh = split_r ? wconst(c, r->R, roff + (size_t)(2 * H * H), H, H) : NULL;
    if (!rw || (split_r && !rwh)) return 0;
    mk_value *zero = r->lens ? scalar(c, 0) : NULL, *one = s->input_forget ? scalar(c, 1) : NULL;
    mk_value *rb = s->lbr ? mk_onnx_cf32_own(c, "rnn_bias", 1, &H, bh) : NULL;
    if ((r->lens && !zero) || (s->input_forget && !one) || (s->lbr && !rb)) return 0;
    for (int64_t step = 0; step < S; step++) {
        int64_t t = rev ? S - 1 - step : step;
        mk_value *xt = xs[t], *hn = NULL, *cn = NULL;
        if (s->kind == K_RNN) {
            hn = gate(c, s, fa, bin(c, MK_OP_ADD, xt, lin(c, h, rw, NULL)));
        } else if (s->kind == K_GRU) {
            int32_t zs[2] = {(int32_t)(2 * H), (int32_t)H};
            mk_value *xp[2], *zr[2], *hh;
            if (!split(c, xt, 1, 2, zs, xp)) return 0;
            if (s->lbr) {
                mk_value *hp[2], *hr = lin(c, h, rw, NULL);
                if (!hr || !split(c, hr, 1, 2, zs, hp)) return 0;
                mk_value *zrv = gate(c, s, fa, bin(c, MK_OP_ADD, xp[0], hp[0]));
                if (!zrv || !split_eq(c, zrv, 1, 2, H, zr)) return 0;
                hh = gate(c, s, ga,
                          bin(c, MK_OP_ADD, xp[1],
                              bin(c, MK_OP_MUL, zr[1], bin(c, MK_OP_ADD, hp[1], rb))));
            } else {
                mk_value *zrv = gate(c, s, fa, bin(c, MK_OP_ADD, xp[0], lin(c, h, rw, NULL)));
                if (!zrv || !split_eq(c, zrv, 1, 2, H, zr)) return 0;
                mk_value *rh = bin(c, MK_OP_MUL, zr[1], h);
                hh = gate(c, s, ga, bin(c, MK_OP_ADD, xp[1], lin(c, rh, rwh, NULL)));
            }
            /* (1 - z) * hh + z * h = hh + z * (h - hh) */
            hn = bin(c, MK_OP_ADD, hh, bin(c, MK_OP_MUL, zr[0], bin(c, MK_OP_SUB, h, hh)));
        } else {
            mk_value *g4[4]; /* i, o, f, c */
            mk_value *pre = bin(c, MK_OP_ADD, xt, lin(c, h, rw, NULL));
            if (!pre || !split_eq(c, pre, 1, 4, H, g4)) return 0;
            mk_value *ig = g4[0], *fg = g4[2];
            if (pi) {
                ig = bin(c, MK_OP_ADD, ig, bin(c, MK_OP_MUL, pi, cs));
                fg = bin(c, MK_OP_ADD, fg, bin(c, MK_OP_MUL, pf, cs));
            }
            ig = gate(c, s, fa, ig);
            fg = s->input_forget ? bin(c, MK_OP_SUB, one, ig) : gate(c, s, fa, fg);
            mk_value *cc = gate(c, s, ga, g4[3]);
            cn = bin(c, MK_OP_ADD, bin(c, MK_OP_MUL, fg, cs), bin(c, MK_OP_MUL, ig, cc));
            mk_value *og = g4[1];
            if (po) og = bin(c, MK_OP_ADD, og, bin(c, MK_OP_MUL, po, cn));
            hn = bin(c, MK_OP_MUL, gate(c, s, fa, og), act(c, ha, cn));
        }
        if (!hn || (s->kind == K_LSTM && !cn)) return 0;
        if (r->lens) {
            /* steps past a sequence's length keep its state and output zeros */
            uint8_t *m = mk_arena_alloc(c->p->arena, (size_t)B);
            int64_t md[2] = {B, 1};
            if (!m) return 0;
            for (int64_t b = 0; b < B; b++) m[b] = t < r->lens[b];
            mk_type mt = mk_type_make(MK_DT_BOOL, 2, md);
            mk_value *mv = mk_ir_const(c->p, c->blk, "rnn_step_mask", &mt, m, (size_t)B, 1);
            ys[t] = sel(c, mv, hn, zero);
            hn = sel(c, mv, hn, h);
            if (cn) cn = sel(c, mv, cn, cs);
            if (!ys[t] || !hn || (s->kind == K_LSTM && !cn)) return 0;
        } else {
            ys[t] = hn;
        }
        h = hn;
        cs = cn;
    }
    *h_out = h;
    *c_out = cs;
    return 1;
}

/* The unrolled form: Y [S, D, B, H], Y_h and Y_c [D, B, H]. */
static int unroll(rctx *r, mk_value *x, mk_value *h0, mk_value *c0, mk_value **Y, mk_value **Yh,
                  mk_value **Yc)
{
    ox_ctx *c = r->c;
    int D = r->s->D;
    mk_value *yd[2], *hd[2], *cd[2] = {NULL, NULL};
    mk_value **ys = mk_arena_array(c->p->arena, (size_t)r->S, sizeof *ys);
    if (!ys) return 0;
    for (int d = 0; d < D; d++) {
        mk_value *h = h0 ? row(c, h0, d) : zeros(c, r->B, r->H);
        mk_value *cs = r->s->kind != K_LSTM ? NULL : c0 ? row(c, c0, d) : zeros(c, r->B, r->H);
        if (!h || (r->s->kind == K_LSTM && !cs)) return 0;
        if (!unroll_dir(r, x, d, h, cs, ys, &hd[d], &cd[d])) return 0;
        if (!(yd[d] = stack(c, ys, (int)r->S, 0))) return 0;
    }
    *Y = stack(c, yd, D, 1);
    *Yh = stack(c, hd, D, 0);
    *Yc = r->s->kind == K_LSTM ? stack(c, cd, D, 0) : NULL;
    return *Y && *Yh && (r->s->kind != K_LSTM || *Yc);
}

/* ---- MIL's own ops ---- */

/* Reorder gate blocks of a [G*H, K] matrix: dst block j = src block map[j]. */
static float *reorder(ox_ctx *c, const ox_val *v, size_t off, int G, int64_t H, int64_t K,
                      const int *map)
{
    float *d = mk_onnx_weight_alloc(c, (size_t)(G * H * K) * sizeof *d);
    if (!d) return NULL;
    for (int j = 0; j < G; j++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t k = 0; k < K; k++)
                d[((size_t)j * (size_t)H + (size_t)h) * (size_t)K + (size_t)k] =
                    (float)mk_onnx_cget_f(
                        v, off + ((size_t)map[j] * (size_t)H + (size_t)h) * (size_t)K + (size_t)k);
    return d;
}

/* Initial state [D, B, H] (rows d0 .. d0+nd) -> MIL [B, nd*H] (zeros when absent). */
static mk_value *mil_state(ox_ctx *c, mk_value *v, int d0, int nd, int D, int64_t B, int64_t H)
{
    int64_t d2[2] = {B, nd * H};
    if (!v) return zeros(c, B, nd * H);
    if (nd == 1) {
        mk_value *rw = D == 1 ? v : row(c, v, d0);
        return rw ? mk_onnx_reshape(c, rw, 2, d2, NULL) : NULL;
    }
    int perm[3] = {1, 0, 2};
    mk_value *t = mk_onnx_transpose(c, v, 3, perm, NULL);
    return t ? mk_onnx_reshape(c, t, 2, d2, NULL) : NULL;
}

static const char *mil_act(int fn)
{
    return fn == A_SIGMOID ? "sigmoid" : fn == A_TANH ? "tanh" : fn == A_RELU ? "relu" : NULL;
}

/* One MIL op covering directions d0 .. d0+nd (nd 2 only for lstm). Outputs y [S, B, nd*H],
 * h (and c) [B, nd*H]. */
static int native_op(rctx *r, mk_value *x, mk_value *h0, mk_value *c0, int d0, int nd, mk_value **y,
                     mk_value **yh, mk_value **yc)
{
    ox_ctx *c = r->c;
    const rspec *s = r->s;
    int lstm = s->kind == K_LSTM, G = s->G;
    int64_t S = r->S, B = r->B, I = r->I, H = r->H;
    static const mk_op_kind kinds[3] = {MK_OP_RNN, MK_OP_GRU, MK_OP_LSTM};
    mk_op *op = mk_onnx_op(c, kinds[s->kind], NULL);
    if (!op || !mk_onnx_in_mil(c, op, "x", x)) return 0;
    mk_value *hv = mil_state(c, h0, d0, nd, s->D, B, H);
    if (!hv || !mk_onnx_in_mil(c, op, "initial_h", hv)) return 0;
    if (lstm) {
        mk_value *cv = mil_state(c, c0, d0, nd, s->D, B, H);
        if (!cv || !mk_onnx_in_mil(c, op, "initial_c", cv)) return 0;
    }
    /* ONNX LSTM gates i,o,f,c -> MIL i,f,o,c; GRU z,r,h -> MIL r,o(h),z */
    static const int lmap[4] = {0, 2, 1, 3}, gmap[3] = {1, 2, 0}, rmap[1] = {0};
    const int *map = lstm ? lmap : s->kind == K_GRU ? gmap : rmap;
    static const char *const names[2][4] = {
        {"weight_ih", "weight_hh", "bias", "peephole"},
        {"weight_ih_back", "weight_hh_back", "bias_back", "peephole_back"}};
    for (int k = 0; k < nd; k++) {
        int d = d0 + k;
        int64_t wd[2] = {G * H, I}, rd[2] = {G * H, H}, bd = G * H, pd = 3 * H;
        float *w = reorder(c, r->W, (size_t)(d * G * H * I), G, H, I, map);
        float *rr = reorder(c, r->R, (size_t)(d * G * H * H), G, H, H, map);
        if (!w || !rr) return 0;
        mk_value *wv = mk_onnx_cf32_own(c, names[k][0], 2, wd, w);
        mk_value *rv = mk_onnx_cf32_own(c, names[k][1], 2, rd, rr);
        if (!wv || !rv || !mk_onnx_in_mil(c, op, names[k][0], wv) ||
            !mk_onnx_in_mil(c, op, names[k][1], rv))
            return 0;
        if (r->Bv) {
            float *bb = mk_arena_array(c->p->arena, (size_t)(G * H), sizeof *bb);
            if (!bb) return 0;
            size_t base = (size_t)(d * 2 * G * H);
            for (int j = 0; j < G; j++)
                for (int64_t h = 0; h < H; h++)
                    bb[j * H + h] =
                        (float)(mk_onnx_cget_f(r->Bv, base + (size_t)(map[j] * H + h)) +
                                mk_onnx_cget_f(r->Bv, base + (size_t)(G * H + map[j] * H + h)));
            mk_value *bv = mk_onnx_cf32_own(c, names[k][2], 1, &bd, bb);
            if (!bv || !mk_onnx_in_mil(c, op, names[k][2], bv)) return 0;
        }
        if (r->P) {
            /* ONNX peephole order i, o, f -> MIL i, f, o */
            static const int pmap[3] = {0, 2, 1};
            float *pp = mk_arena_array(c->p->arena, (size_t)(3 * H), sizeof *pp);
            if (!pp) return 0;
            for (int j = 0; j < 3; j++)
                for (int64_t h = 0; h < H; h++)
                    pp[j * H + h] =
                        (float)mk_onnx_cget_f(r->P, (size_t)(d * 3 * H + pmap[j] * H + h));
            mk_value *pv = mk_onnx_cf32_own(c, names[k][3], 1, &pd, pp);
            if (!pv || !mk_onnx_in_mil(c, op, names[k][3], pv)) return 0;
        }
    }
    const char *dir = nd == 2                              ? "bidirectional"
                      : (s->D == 2 ? d0 == 1 : s->reverse) ? "reverse"
                                                           : "forward";
    if (!mk_onnx_in_str(c, op, "direction", dir) || !mk_onnx_in_bool(c, op, "output_sequence", 1) ||
        (s->kind != K_RNN && !mk_onnx_in_str(c, op, "recurrent_activation", "sigmoid")) ||
        (lstm && !mk_onnx_in_str(c, op, "cell_activation", "tanh")) ||
        !mk_onnx_in_str(c, op, "activation", mil_act(s->act[d0][s->n_act - 1].fn)))
        return 0;
    *y = mk_onnx_out(c, op, NULL);
    *yh = *y ? mk_onnx_out(c, op, NULL) : NULL;
    *yc = *yh && lstm ? mk_onnx_out(c, op, NULL) : NULL;
    if (!*yh || (lstm && !*yc)) return 0;
    if (strcmp(dir, "reverse") || S == 1) return 1;
    /* MIL's reverse direction emits steps in processing order; ONNX aligns them with X */
    mk_op *rv = mk_onnx_op(c, MK_OP_REVERSE, NULL);
    int32_t a0 = 0;
    return rv && mk_onnx_in_mil(c, rv, "x", *y) && mk_onnx_in_i32s(c, rv, "axes", 1, &a0) &&
           (*y = mk_onnx_out(c, rv, NULL)) != NULL;
}

/* MIL [S, B, D*H] -> [S, D, B, H]; [B, D*H] -> [D, B, H]. */
static mk_value *seq_out(ox_ctx *c, mk_value *y, int D, int64_t S, int64_t B, int64_t H)
{
    if (!y) return NULL;
    if (D == 1) return mk_onnx_reshape(c, y, 4, (int64_t[]){S, 1, B, H}, NULL);
    mk_value *r = mk_onnx_reshape(c, y, 4, (int64_t[]){S, B, D, H}, NULL);
    int perm[4] = {0, 2, 1, 3};
    return r ? mk_onnx_transpose(c, r, 4, perm, NULL) : NULL;
}

static mk_value *state_out(ox_ctx *c, mk_value *h, int D, int64_t B, int64_t H)
{
    if (!h) return NULL;
    if (D == 1) return mk_onnx_reshape(c, h, 3, (int64_t[]){1, B, H}, NULL);
    mk_value *r = mk_onnx_reshape(c, h, 3, (int64_t[]){B, D, H}, NULL);
    int perm[3] = {1, 0, 2};
    return r ? mk_onnx_transpose(c, r, 3, perm, NULL) : NULL;
}

static int native(rctx *r, mk_value *x, mk_value *h0, mk_value *c0, mk_value **Y, mk_value **Yh,
                  mk_value **Yc)
{
    ox_ctx *c = r->c;
    int D = r->s->D;
    mk_value *y, *yh, *yc = NULL;
    if (r->s->kind == K_LSTM || D == 1) {
        if (!native_op(r, x, h0, c0, 0, D, &y, &yh, &yc)) return 0;
    } else {
        /* MIL gru / rnn run one way: one op per direction, outputs side by side */
        mk_value *y2[2], *h2[2], *unused;
        if (!native_op(r, x, h0, c0, 0, 1, &y2[0], &h2[0], &unused) ||
            !native_op(r, x, h0, c0, 1, 1, &y2[1], &h2[1], &unused))
            return 0;
        y = concat2(c, y2[0], y2[1], 2);
        yh = concat2(c, h2[0], h2[1], 1);
    }
    *Y = seq_out(c, y, D, r->S, r->B, r->H);
    *Yh = state_out(c, yh, D, r->B, r->H);
    *Yc = yc ? state_out(c, yc, D, r->B, r->H) : NULL;
    return *Y && *Yh && (!yc || *Yc);
}

/* ---- the node ---- */
static int is_default_act(const rspec *s)
{
    static const int def[3][3] = {{A_TANH}, {A_SIGMOID, A_TANH}, {A_SIGMOID, A_TANH, A_TANH}};
    for (int d = 0; d < s->D; d++)
        for (int j = 0; j < s->n_act; j++) {
            int fn = s->act[d][j].fn;
            if (s->kind == K_RNN ? !mil_act(fn) : fn != def[s->kind][j]) return 0;
        }
    return 1;
}

static mk_status recurrent(ox_ctx *c, const Onnx__NodeProto *n, ox_val **in, int n_in, ox_val **out,
                           int n_out, int kind)
{
    rspec s;
    const char *reason = read_spec(c, n, kind, &s);
    if (reason) return mk_onnx_unsupported(c, n, "%s", reason);
    if (n_in < 3 || !in[0] || !in[1] || !in[2]) return mk_onnx_unsupported(c, n, "missing input");
    mk_value *x = mk_onnx_mil(c, in[0]);
    ox_val *W = in[1], *R = in[2], *B = n_in > 3 ? in[3] : NULL;
    ox_val *L = n_in > 4 ? in[4] : NULL, *H0 = n_in > 5 ? in[5] : NULL;
    ox_val *C0 = kind == K_LSTM && n_in > 6 ? in[6] : NULL;
    ox_val *P = kind == K_LSTM && n_in > 7 ? in[7] : NULL;
    if (!x) return fail(c);
    if (!W->data || !R->data || (B && !B->data))
        return mk_onnx_unsupported(c, n, "weights computed at run time");
    if (x->type.rank != 3 || W->type.rank != 3 || R->type.rank != 3)
        return mk_err_set(c->err, MK_EINVAL, "X, W and R must be rank 3");
    if (x->type.dtype != MK_DT_FP32) return mk_onnx_unsupported(c, n, "non-float input");
    for (int i = 0; i < 3; i++)
        if (x->type.dims[i] < 0) return mk_onnx_unsupported(c, n, "needs a static input shape");
    int D = s.D, G = s.G;
    int64_t S = x->type.dims[s.layout ? 1 : 0], Bt = x->type.dims[s.layout ? 0 : 1];
    int64_t I = x->type.dims[2];
    int64_t H = mk_onnx_attr_i(n, "hidden_size", R->type.dims[2]);
    if (H < 1 || H > INT32_MAX / 4 || S < 1 || Bt < 1 || W->type.dims[0] != D ||
        W->type.dims[1] != G * H || W->type.dims[2] != I || R->type.dims[0] != D ||
        R->type.dims[1] != G * H || R->type.dims[2] != H ||
        (B && (B->type.rank != 2 || B->type.dims[0] != D || B->type.dims[1] != 2 * G * H)) ||
        (P && (P->type.rank != 2 || P->type.dims[0] != D || P->type.dims[1] != 3 * H)))
        return mk_err_set(c->err, MK_EINVAL, "weight shapes do not match hidden_size %lld",
                          (long long)H);
    int64_t sd[3] = {D, Bt, H}, sdl[3] = {Bt, D, H};
    for (int k = 0; k < 2; k++) {
        ox_val *v = k ? C0 : H0;
        if (v && !(v->type.rank == 3 && !memcmp(v->type.dims, s.layout ? sdl : sd, sizeof sd)))
            return mk_err_set(c->err, MK_EINVAL, "initial state must be [%s]",
                              s.layout ? "batch, directions, hidden" : "directions, batch, hidden");
    }
    int64_t *lens = NULL;
    if (L) {
        if (!L->data) return mk_onnx_unsupported(c, n, "sequence_lens computed at run time");
        if (mk_onnx_numel(&L->type) != (size_t)Bt)
            return mk_err_set(c->err, MK_EINVAL, "sequence_lens must have %lld entries",
                              (long long)Bt);
        int full = 1;
        if (!(lens = mk_arena_array(c->p->arena, (size_t)Bt, sizeof *lens))) return fail(c);
        for (int64_t b = 0; b < Bt; b++) {
            lens[b] = mk_onnx_cget_i(L, (size_t)b);
            if (lens[b] < 0 || lens[b] > S)
                return mk_err_set(c->err, MK_EINVAL, "sequence_lens[%lld] = %lld outside 0..%lld",
                                  (long long)b, (long long)lens[b], (long long)S);
            full &= lens[b] == S;
        }
        if (full) lens = NULL;
    }
    /* batch-major layout: everything in sequence-major order inside */
    mk_value *h0 = H0 ? mk_onnx_mil(c, H0) : NULL, *c0 = C0 ? mk_onnx_mil(c, C0) : NULL;
    if ((H0 && !h0) || (C0 && !c0)) return fail(c);
    if (s.layout) {
        int p3[3] = {1, 0, 2};
        if (!(x = mk_onnx_transpose(c, x, 3, p3, NULL))) return fail(c);
        if (h0 && !(h0 = mk_onnx_transpose(c, h0, 3, p3, NULL))) return fail(c);
        if (c0 && !(c0 = mk_onnx_transpose(c, c0, 3, p3, NULL))) return fail(c);
    }
    rctx r = {c, &s, S, Bt, I, H, W, R, B, P, lens};
    int use_native =
        is_default_act(&s) && !s.has_clip && !s.input_forget && !s.lbr && !lens && (!P || P->data);
    mk_value *Y = NULL, *Yh = NULL, *Yc = NULL;
    if (use_native) {
        if (!native(&r, x, h0, c0, &Y, &Yh, &Yc)) return fail(c);
    } else {
        if (S * D > MAX_UNROLL)
            return mk_onnx_unsupported(c, n, "unrolling %lld steps x %d directions (more than %d)",
                                       (long long)S, D, MAX_UNROLL);
        if (!unroll(&r, x, h0, c0, &Y, &Yh, &Yc)) return fail(c);
    }
    if (s.layout) {
        int p4[4] = {2, 0, 1, 3}, p3[3] = {1, 0, 2};
        Y = mk_onnx_transpose(c, Y, 4, p4, NULL);
        Yh = Y ? mk_onnx_transpose(c, Yh, 3, p3, NULL) : NULL;
        Yc = Yh && Yc ? mk_onnx_transpose(c, Yc, 3, p3, NULL) : Yc;
        if (!Y || !Yh || (kind == K_LSTM && !Yc)) return fail(c);
    }
    mk_value *res[3] = {Y, Yh, Yc};
    for (int i = 0; i < n_out && i < 3; i++)
        if (res[i]) mk_onnx_set(out[i], res[i]);
    return MK_OK;
}

OX_LOWER(mk_onnx_lower_lstm)
{
    return recurrent(c, n, in, n_in, out, n_out, K_LSTM);
}

OX_LOWER(mk_onnx_lower_gru)
{
    return recurrent(c, n, in, n_in, out, n_out, K_GRU);
}

OX_LOWER(mk_onnx_lower_rnn)
{
    return recurrent(c, n, in, n_in, out, n_out, K_RNN);
}
