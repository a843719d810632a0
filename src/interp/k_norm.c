/* Normalisation kernels: batch_norm (constant statistics), instance_norm, layer_norm over any
 * axes, l2_norm over the trailing three axes, and local response normalisation across
 * channels. Statistics are accumulated in double. */
#include <math.h>
#include <string.h>

#include "interp_int.h"

/* Operand x, which every kernel here needs as a float tensor the size of its float output. */
static mk_status float_x(mk_kctx *k, mk_rt **x)
{
    const mk_rt *out = k->outs[0];
    *x = mk_kin(k, "x");
    if (!*x) return mk_kerr(k, MK_EINVAL, "needs input x");
    if (mk_interp_layout((*x)->type.dtype) != MK_L_F32 ||
        mk_interp_layout(out->type.dtype) != MK_L_F32 || (*x)->numel != out->numel)
        return mk_kerr(k, MK_EINVAL, "takes a float tensor and returns one of the same size");
    return MK_OK;
}

/* x viewed as N x C x (product of the remaining dims); rank >= 2. */
static void nc_spatial(const mk_rt *x, int64_t *n, int64_t *c, int64_t *sp)
{
    *n = x->type.dims[0];
    *c = x->type.dims[1];
    *sp = 1;
    for (int i = 2; i < x->type.rank; i++) *sp *= x->type.dims[i];
}

/* Mean and (population) variance of xa[0..len), 0 for an empty run. */
MK_SIMD static void moments(const float *xa, int64_t len, double *mean, double *var)
{
    /* four independent double sums (SIMD, no serial add chain), combined in a fixed order */
    double m4[4] = {0, 0, 0, 0}, v4[4] = {0, 0, 0, 0}, m, v;
    int64_t q = 0;
    for (; q + 4 <= len; q += 4)
        for (int j = 0; j < 4; j++) m4[j] += xa[q + j];
    for (; q < len; q++) m4[0] += xa[q];
    m = (m4[0] + m4[1]) + (m4[2] + m4[3]);
    m = len ? m / (double)len : 0;
    for (q = 0; q + 4 <= len; q += 4)
        for (int j = 0; j < 4; j++) v4[j] += (xa[q + j] - m) * (xa[q + j] - m);
    for (; q < len; q++) v4[0] += (xa[q] - m) * (xa[q] - m);
    v = (v4[0] + v4[1]) + (v4[2] + v4[3]);
    *mean = m;
    *var = len ? v / (double)len : 0;
}

/* oa[q] = (xa[q] - m) s + b, in double (instance/batch norm planes) */
MK_SIMD static void norm_row(const float *restrict xa, float *restrict oa, double m, double s,
                             double b, int64_t n)
{
    MK_VLOOP((size_t)n, oa[i] = (float)((xa[i] - m) * s + b));
}

/* Rows of a layer_norm over trailing axes: chunks of whole rows. */
typedef struct ln_job {
    const float *a, *g, *b;
    const mk_rt *gr, *br; /* non-fp32-layout gamma/beta (read element by element) */
    float *o;
    int64_t outer, inner, per;
    double eps;
} ln_job;

MK_SIMD static void ln_row(const float *restrict xa, float *restrict oa, const float *g,
                           const float *b, float fm, float s, int64_t inner)
{
    if (g && b)
        MK_VLOOP((size_t)inner, oa[i] = (xa[i] - fm) * s * g[i] + b[i]);
    else if (g)
        MK_VLOOP((size_t)inner, oa[i] = (xa[i] - fm) * s * g[i]);
    else if (b)
        MK_VLOOP((size_t)inner, oa[i] = (xa[i] - fm) * s + b[i]);
    else
        MK_VLOOP((size_t)inner, oa[i] = (xa[i] - fm) * s);
}

static void ln_chunk(void *ctx, int64_t ci, int tid)
{
    const ln_job *J = ctx;
    int64_t inner = J->inner, p1 = (ci + 1) * J->per < J->outer ? (ci + 1) * J->per : J->outer;
    (void)tid;
    for (int64_t p = ci * J->per; p < p1; p++) {
        const float *xa = J->a + p * inner;
        float *oa = J->o + p * inner;
        double m, v;
        moments(xa, inner, &m, &v);
        float s = (float)(1.0 / sqrt(v + J->eps)), fm = (float)m;
        if (!J->gr && !J->br) {
            ln_row(xa, oa, J->g, J->b, fm, s, inner);
            continue;
        }
        for (int64_t q = 0; q < inner; q++) {
            float y = (xa[q] - fm) * s;
            if (J->gr) y *= (float)mk_rt_f64(J->gr, (size_t)q);
            if (J->br) y += (float)mk_rt_f64(J->br, (size_t)q);
            oa[q] = y;
        }
    }
}

/* Per-channel value of an optional vector parameter (def when absent). */
static mk_status chan_vec(mk_kctx *k, const char *name, int64_t c, int required, float **out,
                          float def, float *buf)
{
    mk_rt *r = mk_kin(k, name);
    if (!r) {
        if (required) return mk_kerr(k, MK_EINVAL, "needs %s", name);
        for (int64_t i = 0; i < c; i++) buf[i] = def;
        *out = buf;
        return MK_OK;
    }
    if (r->numel != (size_t)c && r->numel != 1)
        return mk_kerr(k, MK_EINVAL, "%s has %zu values, expected %lld", name, r->numel,
                       (long long)c);
    for (int64_t i = 0; i < c; i++) buf[i] = (float)mk_rt_f64(r, r->numel == 1 ? 0 : (size_t)i);
    *out = buf;
    return MK_OK;
}

mk_status mk_k_batch_norm(mk_kctx *k)
{
    mk_rt *x, *out = k->outs[0];
    mk_status st = float_x(k, &x);
    if (st) return st;
    if (x->type.rank < 2) return mk_kerr(k, MK_EINVAL, "x must have rank >= 2");
    int64_t n, c, sp;
    nc_spatial(x, &n, &c, &sp);
    double eps;
    if ((st = mk_kfloat(k, "epsilon", 1e-5, &eps))) return st;
    size_t vb = (size_t)c * 4 * 4 + 16;
    float *buf = mk_malloc(k->alloc, vb), *mean, *var, *gam, *bet;
    if (!buf) return MK_OOM(k->e);
    if (!(st = chan_vec(k, "mean", c, 1, &mean, 0, buf)) &&
        !(st = chan_vec(k, "variance", c, 1, &var, 1, buf + c)) &&
        !(st = chan_vec(k, "gamma", c, 0, &gam, 1, buf + 2 * c)) &&
        !(st = chan_vec(k, "beta", c, 0, &bet, 0, buf + 3 * c))) {
        const float *a = x->data;
        float *o = out->data;
        for (int64_t j = 0; j < c; j++) {
            float s = (float)(gam[j] / sqrt((double)var[j] + eps)), sh = bet[j] - mean[j] * s;
            for (int64_t i = 0; i < n; i++) {
                const float *xa = a + (i * c + j) * sp;
                float *oa = o + (i * c + j) * sp;
                for (int64_t q = 0; q < sp; q++) oa[q] = xa[q] * s + sh;
            }
        }
    }
    mk_free(k->alloc, buf, vb);
    return st;
}

mk_status mk_k_instance_norm(mk_kctx *k)
{
    mk_rt *x, *out = k->outs[0];
    mk_status st = float_x(k, &x);
    if (st) return st;
    if (x->type.rank < 2) return mk_kerr(k, MK_EINVAL, "x must have rank >= 2");
    int64_t n, c, sp;
    nc_spatial(x, &n, &c, &sp);
    double eps;
    if ((st = mk_kfloat(k, "epsilon", 1e-5, &eps))) return st;
    size_t vb = (size_t)c * 2 * 4 + 16;
    float *buf = mk_malloc(k->alloc, vb), *gam, *bet;
    if (!buf) return MK_OOM(k->e);
    if (!(st = chan_vec(k, "gamma", c, 0, &gam, 1, buf)) &&
        !(st = chan_vec(k, "beta", c, 0, &bet, 0, buf + c))) {
        for (int64_t i = 0; i < n * c; i++) {
            const float *xa = (const float *)x->data + i * sp;
            float *oa = (float *)out->data + i * sp;
            double m, v;
            moments(xa, sp, &m, &v);
            double s = gam[i % c] / sqrt(v + eps);
            norm_row(xa, oa, m, s, bet[i % c], sp);
        }
    }
    mk_free(k->alloc, buf, vb);
    return st;
}

mk_status mk_k_layer_norm(mk_kctx *k)
{
    mk_rt *x, *out = k->outs[0], *g = mk_kin(k, "gamma"), *b = mk_kin(k, "beta");
    mk_status st = float_x(k, &x);
    if (st) return st;
    int r = x->type.rank, mask[MK_MAX_RANK] = {0};
    int64_t ax[MK_MAX_RANK * 2];
    int n;
    if ((st = mk_kints(k, "axes", ax, MK_MAX_RANK * 2, &n))) return st;
    for (int i = 0; i < r; i++) mask[i] = n < 0;
    for (int i = 0; i < n; i++) {
        int a;
        if ((st = mk_kaxis(k, ax[i], r, &a))) return st;
        mask[a] = 1;
    }
    double eps;
    if ((st = mk_kfloat(k, "epsilon", 1e-5, &eps))) return st;
    /* group: non-axes dims (outer index) x axes dims (inner index, row-major over axes) */
    int64_t inner = 1;
    for (int i = 0; i < r; i++)
        if (mask[i]) inner *= x->type.dims[i];
    if ((g && g->numel != (size_t)inner) || (b && b->numel != (size_t)inner))
        return mk_kerr(k, MK_EINVAL, "gamma/beta must have %lld elements", (long long)inner);
    int trailing = 1;
    for (int i = 0, seen = 0; i < r; i++) {
        if (mask[i])
            seen = 1;
        else if (seen)
            trailing = 0;
    }
    const float *a = x->data;
    float *o = out->data;
    int64_t outer = inner ? (int64_t)(x->numel / (size_t)inner) : 0;
    if (trailing) {
        int gf = g && mk_interp_layout(g->type.dtype) == MK_L_F32;
        int bf = b && mk_interp_layout(b->type.dtype) == MK_L_F32;
        ln_job J = {a, g ? g->data : NULL, b ? b->data : NULL, NULL, NULL, o, outer, inner, 1, eps};
        if ((g && !gf) || (b && !bf)) { /* element by element through mk_rt_f64 */
            J.gr = g, J.br = b;
            J.g = J.b = NULL;
        }
        J.per = inner >= 65536 ? 1 : 65536 / (inner ? inner : 1);
        k->path = "layer_norm: rows";
        mk_par_for(k, mk_par_chunks(outer, J.per), ln_chunk, &J);
        return MK_OK;
    }
    /* general axes: index maps for group (outer) and position within the group (inner) */
    int64_t gs[MK_MAX_RANK], is[MK_MAX_RANK], accg = 1, acci = 1;
    for (int i = r - 1; i >= 0; i--) {
        gs[i] = mask[i] ? 0 : accg;
        is[i] = mask[i] ? acci : 0;
        if (mask[i])
            acci *= x->type.dims[i];
        else
            accg *= x->type.dims[i];
    }
    size_t sb = (size_t)outer * 2 * sizeof(double) + 16;
    double *sum = mk_calloc(k->alloc, sb, 1);
    if (!sum) return MK_OOM(k->e);
    double *sq = sum + outer;
    for (int pass = 0; pass < 3; pass++) {
        int64_t cnt[MK_MAX_RANK] = {0};
        size_t gi = 0, ii = 0;
        for (size_t e = 0; e < x->numel; e++) {
            double v = a[e];
            if (pass == 0)
                sum[gi] += v;
            else if (pass == 1)
                sq[gi] += (v - sum[gi]) * (v - sum[gi]);
            else {
                float y = (float)((v - sum[gi]) / sqrt(sq[gi] + eps));
                if (g) y *= (float)mk_rt_f64(g, ii);
                if (b) y += (float)mk_rt_f64(b, ii);
                o[e] = y;
            }
            for (int d = r - 1; d >= 0; d--) {
                gi += (size_t)gs[d];
                ii += (size_t)is[d];
                if (++cnt[d] < x->type.dims[d]) break;
                gi -= (size_t)(gs[d] * cnt[d]);
                ii -= (size_t)(is[d] * cnt[d]);
                cnt[d] = 0;
            }
        }
        for (int64_t p = 0; p < outer && pass < 2; p++) {
            if (pass == 0)
                sum[p] /= (double)inner;
            else
                sq[p] /= (double)inner;
        }
    }
    mk_free(k->alloc, sum, sb);
    return MK_OK;
}

mk_status mk_k_l2_norm(mk_kctx *k)
{
    mk_rt *x, *out = k->outs[0];
    mk_status st = float_x(k, &x);
    double eps;
    if (st || (st = mk_kfloat(k, "epsilon", 1e-6, &eps))) return st;
    int r = x->type.rank, nb = r > 3 ? r - 3 : 0;
    int64_t outer = 1;
    for (int i = 0; i < nb; i++) outer *= x->type.dims[i];
    int64_t inner = outer ? (int64_t)(x->numel / (size_t)outer) : 0;
    for (int64_t p = 0; p < outer; p++) {
        const float *xa = (const float *)x->data + p * inner;
        float *oa = (float *)out->data + p * inner;
        double s = 0;
        for (int64_t q = 0; q < inner; q++) s += (double)xa[q] * xa[q];
        float inv = (float)(1.0 / sqrt(s + eps));
        for (int64_t q = 0; q < inner; q++) oa[q] = xa[q] * inv;
    }
    return MK_OK;
}

mk_status mk_k_lrn(mk_kctx *k)
{
    mk_rt *x, *out = k->outs[0];
    mk_status st = float_x(k, &x);
    int64_t size;
    double alpha, beta, bias;
    if (st || (st = mk_kint(k, "size", 1, &size)) || (st = mk_kfloat(k, "alpha", 1e-4, &alpha)) ||
        (st = mk_kfloat(k, "beta", 0.75, &beta)) || (st = mk_kfloat(k, "k", 1.0, &bias)))
        return st;
    if (x->type.rank < 2 || size < 1) return mk_kerr(k, MK_EINVAL, "needs rank >= 2 and size >= 1");
    int64_t n, c, sp;
    nc_spatial(x, &n, &c, &sp);
    int64_t lo = (size - 1) / 2, hi = size / 2;
    const float *a = x->data;
    float *o = out->data;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < c; j++)
            for (int64_t q = 0; q < sp; q++) {
                double s = 0;
                for (int64_t cc = j - lo; cc <= j + hi; cc++) {
                    if (cc < 0 || cc >= c) continue;
                    double v = a[(i * c + cc) * sp + q];
                    s += v * v;
                }
                size_t idx = (size_t)((i * c + j) * sp + q);
                o[idx] = (float)(a[idx] / pow(bias + alpha / (double)size * s, beta));
            }
    return MK_OK;
}
