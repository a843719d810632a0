/* Lowering of the ONNX signal ops: DFT-17, STFT-17 and Hann/Hamming/BlackmanWindow-17. DFT
 * along an axis of static length becomes matmuls with constant cos/sin matrices; STFT becomes
 * two strided conv1d ops whose constant kernels are window * DFT basis (real and imaginary
 * parts). Windows of constant size fold to constants; a run-time size uses range_1d and cos.
 * Not handled (refused with a reason): run-time DFT/STFT lengths or frame steps, DFT-20's axis
 * input, onesided with inverse or complex input, and non-float output types. */
#include <math.h>
#include <string.h>

#include "onnx_int.h"

#define TWO_PI 6.283185307179586476925287
/* limits for the constant DFT matrices / kernels (elements per matrix: 64 MB of fp32) */
#define MAX_LEN (1 << 16)
#define MAX_ELEMS ((int64_t)1 << 24)

/* A constant integer scalar (rank 0 or a single element); 0 when not constant. */
static int const_int(const ox_val *v, int64_t *out)
{
    if (!v || !v->data || mk_onnx_numel(&v->type) != 1 || v->type.dtype != MK_DT_INT64) return 0;
    *out = mk_onnx_cget_i(v, 0);
    return 1;
}

/* An fp32 constant of the given dims filled by the caller (weight slab or arena). */
static float *cbuf(ox_ctx *c, int rank, const int64_t *dims)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        if (dims[i] < 0 || !mk_mul_size(n, (size_t)dims[i], &n)) return NULL;
    if (!mk_mul_size(n, sizeof(float), &n)) return NULL;
    return mk_onnx_weight_alloc(c, n ? n : sizeof(float));
}

/* angle 2*pi*k*n/N reduced exactly before the float product */
static double angle(int64_t k, int64_t n, int64_t N)
{
    return TWO_PI * (double)((k * n) % N) / (double)N;
}

static mk_value *matmul(ox_ctx *c, mk_value *x, mk_value *y)
{
    /* x is [K, L] (constant), y is [..., L, C]: result [..., K, C] */
    if (x->type.rank != 2 || y->type.rank < 2) return NULL;
    mk_op *op = mk_onnx_op(c, MK_OP_MATMUL, NULL);
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_mil(c, op, "y", y) ||
        !mk_onnx_in_bool(c, op, "transpose_x", 0) || !mk_onnx_in_bool(c, op, "transpose_y", 0))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

/* y [..., C] @ e [C, 2] -> [..., 2] for a small constant mixing matrix e. */
static mk_value *mix(ox_ctx *c, mk_value *y, int C, const float *e)
{
    int64_t d[2] = {C, 2};
    float *w = cbuf(c, 2, d);
    if (!w) return NULL;
    memcpy(w, e, sizeof(float) * 2 * (size_t)C);
    mk_value *m = mk_onnx_cf32_own(c, "dft_mix", 2, d, w);
    if (!m) return NULL;
    mk_op *op = mk_onnx_op(c, MK_OP_MATMUL, NULL);
    if (!op || !mk_onnx_in_mil(c, op, "x", y) || !mk_onnx_in_mil(c, op, "y", m) ||
        !mk_onnx_in_bool(c, op, "transpose_x", 0) || !mk_onnx_in_bool(c, op, "transpose_y", 0))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

/* DFT-17: transpose the axis next to the complex dim, P = Cos @ x and Q = Sin @ x (constant
 * [K, L] matrices, truncation and 1/N folded in), then out = P @ Ep + Q @ Eq with 1x2 or 2x2
 * mixing matrices that combine real and imaginary parts, and transpose back. */
OX_LOWER(mk_onnx_lower_dft)
{
    (void)n_out;
    if (n_in < 1 || !in[0]) return mk_onnx_unsupported(c, n, "missing input");
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    int r = x->type.rank;
    if (r < 2 || r > MK_MAX_RANK) return mk_onnx_unsupported(c, n, "input rank must be >= 2");
    int C = (int)x->type.dims[r - 1];
    if (C != 1 && C != 2)
        return mk_onnx_unsupported(c, n, "last dim must be 1 (real) or 2 (complex)");
    if (x->type.dtype != MK_DT_FP32) return mk_onnx_unsupported(c, n, "input must be float");
    int64_t a = mk_onnx_attr_i(n, "axis", 1);
    if (c->opset >= 20) {
        a = -2; /* DFT-20: axis is input 2 */
        if (n_in > 2 && in[2] && !const_int(in[2], &a))
            return mk_onnx_unsupported(c, n, "axis must be a constant");
    }
    if (a < 0) a += r;
    if (a < 0 || a > r - 2) return mk_onnx_unsupported(c, n, "axis out of range");
    int ax = (int)a;
    int64_t L = x->type.dims[ax];
    if (L <= 0) return mk_onnx_unsupported(c, n, "needs a static length along the DFT axis");
    int64_t N = L;
    if (n_in > 1 && in[1]) {
        if (!const_int(in[1], &N))
            return mk_onnx_unsupported(c, n, "dft_length must be a constant (run-time length)");
        if (N < 1) return mk_onnx_unsupported(c, n, "dft_length must be positive");
    }
    int inverse = mk_onnx_attr_i(n, "inverse", 0) != 0;
    int onesided = mk_onnx_attr_i(n, "onesided", 0) != 0;
    if (onesided && inverse) return mk_onnx_unsupported(c, n, "onesided inverse DFT");
    if (onesided && C == 2) return mk_onnx_unsupported(c, n, "onesided with complex input");
    int64_t K = onesided ? N / 2 + 1 : N;
    if (N > MAX_LEN || L > MAX_ELEMS || K * L > MAX_ELEMS)
        return mk_onnx_unsupported(c, n, "DFT of length %lld too large for a constant matrix",
                                   (long long)N);
    int64_t md[2] = {K, L};
    float *cm = cbuf(c, 2, md), *sm = cbuf(c, 2, md);
    if (!cm || !sm) return fail(c);
    double scale = inverse ? 1.0 / (double)N : 1.0;
    for (int64_t k = 0; k < K; k++)
        for (int64_t j = 0; j < L && j < N; j++) {
            double th = angle(k, j, N);
            cm[k * L + j] = (float)(cos(th) * scale);
            sm[k * L + j] = (float)(sin(th) * scale);
        }
    /* move the axis to position r-2 */
    int perm[MK_MAX_RANK], inv[MK_MAX_RANK], np = 0;
    for (int i = 0; i < r - 1; i++)
        if (i != ax) perm[np++] = i;
    perm[np++] = ax;
    perm[np++] = r - 1;
    for (int i = 0; i < r; i++) inv[perm[i]] = i;
    mk_value *xt = x;
    if (ax != r - 2 && !(xt = mk_onnx_transpose(c, x, r, perm, NULL))) return fail(c);
    mk_value *cv = mk_onnx_cf32_own(c, "dft_cos", 2, md, cm);
    mk_value *sv = mk_onnx_cf32_own(c, "dft_sin", 2, md, sm);
    mk_value *p = cv ? matmul(c, cv, xt) : NULL, *q = sv && p ? matmul(c, sv, xt) : NULL;
    if (!q) return fail(c);
    float sg = inverse ? 1.0f : -1.0f; /* sign of the exponent */
    static const float ep1[2] = {1, 0};
    float eq1[2] = {0, sg}, eq2[4] = {0, sg, -sg, 0};
    mk_value *y = C == 1 ? mix(c, p, 1, ep1) : p;
    mk_value *z = y ? mix(c, q, C, C == 1 ? eq1 : eq2) : NULL;
    mk_value *o = z ? mk_onnx_binary(c, MK_OP_ADD, y, z, ax == r - 2 ? oname(n, 0) : NULL) : NULL;
    if (o && ax != r - 2) o = mk_onnx_transpose(c, o, r, inv, oname(n, 0));
    return done(c, out[0], o);
}

/* One conv1d of x [B, C, T] with constant (or window-scaled) kernel [K, C, N], stride s. */
static mk_value *conv1d(ox_ctx *c, mk_value *x, mk_value *w, int64_t s)
{
    int32_t st = (int32_t)s, one = 1, pad[2] = {0, 0};
    mk_op *op = mk_onnx_op(c, MK_OP_CONV, NULL);
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_mil(c, op, "weight", w) ||
        !mk_onnx_in_i32s(c, op, "strides", 1, &st) ||
        !mk_onnx_in_str(c, op, "pad_type", "custom") || !mk_onnx_in_i32s(c, op, "pad", 2, pad) ||
        !mk_onnx_in_i32s(c, op, "dilations", 1, &one) || !mk_onnx_in_i32(c, op, "groups", 1))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

/* STFT-17: signal [B, T, C] -> transpose [B, C, T] -> conv1d (real part kernel, imaginary
 * part kernel; stride frame_step) -> [B, K, F] each -> stack [B, K, F, 2] -> [B, F, K, 2]. */
OX_LOWER(mk_onnx_lower_stft)
{
    (void)n_out;
    if (n_in < 2 || !in[0] || !in[1])
        return mk_onnx_unsupported(c, n, "needs signal and frame_step");
    ox_val *win = n_in > 2 ? in[2] : NULL, *flen = n_in > 3 ? in[3] : NULL;
    int64_t step, N = -1;
    if (!const_int(in[1], &step))
        return mk_onnx_unsupported(c, n, "frame_step must be a constant (run-time step)");
    if (step < 1 || step > INT32_MAX) return mk_onnx_unsupported(c, n, "frame_step out of range");
    if (flen && !const_int(flen, &N))
        return mk_onnx_unsupported(c, n, "frame_length must be a constant (run-time length)");
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    if (x->type.rank != 3 || x->type.dtype != MK_DT_FP32 ||
        (x->type.dims[2] != 1 && x->type.dims[2] != 2))
        return mk_onnx_unsupported(c, n, "signal must be float [batch, length, 1 or 2]");
    int C = (int)x->type.dims[2];
    if (win) {
        if (win->type.rank != 1 || win->type.dims[0] < 1)
            return mk_onnx_unsupported(c, n, "window must be 1-D of static length");
        if (N >= 0 && N != win->type.dims[0])
            return mk_onnx_unsupported(c, n, "frame_length differs from the window length");
        N = win->type.dims[0];
    }
    if (N < 1) return mk_onnx_unsupported(c, n, "needs frame_length or a window");
    if (x->type.dims[1] >= 0 && x->type.dims[1] < N)
        return mk_onnx_unsupported(c, n, "signal shorter than one frame");
    int onesided = mk_onnx_attr_i(n, "onesided", 1) != 0;
    if (onesided && C == 2) return mk_onnx_unsupported(c, n, "onesided with complex signal");
    int cwin = win && win->data && win->type.dtype == MK_DT_FP32;
    int64_t K = onesided ? N / 2 + 1 : N, kd[3] = {K, C, N};
    if (N > MAX_LEN || K * C * N > MAX_ELEMS)
        return mk_onnx_unsupported(c, n, "frame_length %lld too large for a constant kernel",
                                   (long long)N);
    float *wr = cbuf(c, 3, kd), *wi = cbuf(c, 3, kd);
    if (!wr || !wi) return fail(c);
    /* forward DFT: re = sum w (cos xr + sin xi), im = sum w (cos xi - sin xr) */
    for (int64_t k = 0; k < K; k++)
        for (int64_t j = 0; j < N; j++) {
            double th = angle(k, j, N), g = cwin ? mk_onnx_cget_f(win, (size_t)j) : 1.0;
            double co = cos(th) * g, si = sin(th) * g;
            wr[(k * C) * N + j] = (float)co;
            wi[(k * C) * N + j] = (float)-si;
            if (C == 2) {
                wr[(k * C + 1) * N + j] = (float)si;
                wi[(k * C + 1) * N + j] = (float)co;
            }
        }
    static const int tp[3] = {0, 2, 1}, op4[4] = {0, 2, 1, 3};
    mk_value *xt = mk_onnx_transpose(c, x, 3, tp, NULL);
    mk_value *vr = xt ? mk_onnx_cf32_own(c, "stft_re", 3, kd, wr) : NULL;
    mk_value *vi = vr ? mk_onnx_cf32_own(c, "stft_im", 3, kd, wi) : NULL;
    if (!vi) return fail(c);
    if (win && !cwin) {
        mk_value *wv = mil(c, win);
        if (!wv || wv->type.dtype != MK_DT_FP32)
            return wv ? mk_onnx_unsupported(c, n, "window must be float") : fail(c);
        vr = mk_onnx_binary(c, MK_OP_MUL, vr, wv, NULL);
        vi = vr ? mk_onnx_binary(c, MK_OP_MUL, vi, wv, NULL) : NULL;
        if (!vi) return fail(c);
    }
    mk_value *pr = conv1d(c, xt, vr, step), *pi = pr ? conv1d(c, xt, vi, step) : NULL;
    if (!pi) return fail(c);
    mk_op *op = mk_onnx_op(c, MK_OP_STACK, NULL);
    if (!op || !mk_onnx_in_mil(c, op, "values", pr) || !mk_onnx_in_mil(c, op, "values", pi) ||
        !mk_onnx_in_i32(c, op, "axis", 3))
        return fail(c);
    mk_value *s = mk_onnx_out(c, op, NULL);
    return done(c, out[0], s ? mk_onnx_transpose(c, s, 4, op4, oname(n, 0)) : NULL);
}

/* ---- window functions ---- */
enum { HANN, HAMMING, BLACKMAN };

/* w[i] = a0 - a1 cos(t) + a2 cos(2t), t = 2 pi i / D with D = size (periodic) or size - 1 */
static const double coef[3][3] = {
    {0.5, 0.5, 0.0},
    {25.0 / 46.0, 21.0 / 46.0, 0.0},
    {0.42, 0.5, 0.08},
};

static mk_value *scalar(ox_ctx *c, float v)
{
    return mk_onnx_cf32(c, "window_c", 0, NULL, &v);
}

/* a * x + b (as mul and add) */
static mk_value *affine(ox_ctx *c, mk_value *x, float a, float b, const char *name)
{
    mk_value *sa = scalar(c, a), *m = sa ? mk_onnx_binary(c, MK_OP_MUL, x, sa, NULL) : NULL;
    mk_value *sb = m ? scalar(c, b) : NULL;
    return sb ? mk_onnx_binary(c, MK_OP_ADD, m, sb, name) : NULL;
}

static mk_status window(ox_ctx *c, const Onnx__NodeProto *n, ox_val **in, int n_in, ox_val **out,
                        int kind)
{
    if (n_in < 1 || !in[0]) return mk_onnx_unsupported(c, n, "missing size input");
    int64_t dt = mk_onnx_attr_i(n, "output_datatype", 1);
    if (dt != 1 && dt != 10 && dt != 11)
        return mk_onnx_unsupported(c, n, "output_datatype %lld unsupported (float types only)",
                                   (long long)dt);
    int periodic = mk_onnx_attr_i(n, "periodic", 1) != 0;
    const double *k = coef[kind];
    int64_t size;
    if (const_int(in[0], &size)) {
        if (size < 0 || size > (1 << 24)) return mk_onnx_unsupported(c, n, "size out of range");
        int64_t d = periodic ? size : size - 1;
        float *w = cbuf(c, 1, &size);
        if (!w) return fail(c);
        for (int64_t i = 0; i < size; i++) {
            double t = d > 0 ? TWO_PI * (double)i / (double)d : 0.0;
            w[i] = (float)(k[0] - k[1] * cos(t) + k[2] * cos(2 * t));
        }
        mk_type t = mk_type_make(MK_DT_FP32, 1, &size);
        return mk_onnx_set_const(c, out[0], &t, w);
    }
    /* run-time size: range_1d (CPU op on Core ML) and the elementwise formula */
    mk_value *s = mil(c, in[0]);
    if (!s) return fail(c);
    if (!mk_dtype_is_int(s->type.dtype) || mk_onnx_numel(&s->type) != 1)
        return mk_onnx_unsupported(c, n, "size must be an integer scalar");
    if (s->type.rank != 0 && !(s = mk_onnx_reshape(c, s, 0, NULL, NULL))) return fail(c);
    mk_op *op = mk_onnx_op(c, MK_OP_CAST, NULL);
    if (!op || !mk_onnx_in_mil(c, op, "x", s) || !mk_onnx_in_str(c, op, "dtype", "fp32"))
        return fail(c);
    mk_value *sf = mk_onnx_out(c, op, NULL);
    mk_value *zero = sf ? scalar(c, 0) : NULL, *one = zero ? scalar(c, 1) : NULL;
    if (!one) return fail(c);
    op = mk_onnx_op(c, MK_OP_RANGE_1D, NULL);
    if (!op || !mk_onnx_in_mil(c, op, "start", zero) || !mk_onnx_in_mil(c, op, "end", sf) ||
        !mk_onnx_in_mil(c, op, "step", one))
        return fail(c);
    mk_value *idx = mk_onnx_out(c, op, NULL);
    mk_value *den = periodic ? sf : (one ? mk_onnx_binary(c, MK_OP_SUB, sf, one, NULL) : NULL);
    mk_value *u = idx && den ? mk_onnx_binary(c, MK_OP_REAL_DIV, idx, den, NULL) : NULL;
    mk_value *t = u ? affine(c, u, (float)TWO_PI, 0.0f, NULL) : NULL;
    mk_value *c1 = t ? mk_onnx_unary(c, MK_OP_COS, t, NULL) : NULL;
    if (!c1) return fail(c);
    if (k[2] == 0.0) return done(c, out[0], affine(c, c1, (float)-k[1], (float)k[0], oname(n, 0)));
    mk_value *t2 = affine(c, t, 2.0f, 0.0f, NULL);
    mk_value *c2 = t2 ? mk_onnx_unary(c, MK_OP_COS, t2, NULL) : NULL;
    mk_value *a = c2 ? affine(c, c1, (float)-k[1], (float)k[0], NULL) : NULL;
    mk_value *b = a ? affine(c, c2, (float)k[2], 0.0f, NULL) : NULL;
    return done(c, out[0], b ? mk_onnx_binary(c, MK_OP_ADD, a, b, oname(n, 0)) : NULL);
}

OX_LOWER(mk_onnx_lower_hann_window)
{
    (void)n_out;
    return window(c, n, in, n_in, out, HANN);
}

OX_LOWER(mk_onnx_lower_hamming_window)
{
    (void)n_out;
    return window(c, n, in, n_in, out, HAMMING);
}

OX_LOWER(mk_onnx_lower_blackman_window)
{
    (void)n_out;
    return window(c, n, in, n_in, out, BLACKMAN);
}
