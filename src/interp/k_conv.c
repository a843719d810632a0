/* Convolution kernels: conv and conv_transpose for 1-3 spatial dims with groups, strides,
 * dilations and every pad_type. conv is im2col in cache-sized column tiles plus cblas_sgemm
 * (bias preloaded as beta = 1, fused activations applied per finished tile), a direct GEMM for
 * 1x1 stride-1 unpadded convs, direct SIMD loops for depthwise convs, k_conv_wino.c for the 3x3
 * stride-1 convs it takes (AVX-512), k_conv_1x1.c for 1x1 stride-1 unpadded convs (AVX-512),
 * and k_conv_direct.c for the other convs on AVX2 CPUs
 * (im2col then only without AVX2); conv_transpose is a
 * GEMM per tile of input rows followed by col2im. Output sizes come from type inference; pads
 * are derived here. */
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

#include "blas.h"
#include "interp_int.h"
#include "k_conv_1x1.h"
#include "k_conv_direct.h"
#include "k_conv_wino.h"

typedef struct geom {
    int ns; /* spatial rank, 1..3 */
    int64_t in[3], k[3], o[3], s[3], d[3], pb[3];
    int64_t in_n, k_n, o_n; /* products */
} geom;

/* Fill strides, dilations and before-pads. transpose: pads refer to the output. */
static mk_status get_geom(mk_kctx *k, const mk_rt *x, const mk_rt *w, const mk_rt *out,
                          int transpose, geom *g)
{
    int ns = x->type.rank - 2;
    if (ns < 1 || ns > 3 || w->type.rank != ns + 2 || out->type.rank != ns + 2)
        return mk_kerr(k, MK_EINVAL, "x, weight and output must be rank 3-5 and agree");
    memset(g, 0, sizeof *g);
    g->ns = ns;
    int64_t st[3], dl[3], pad[6];
    int n;
    mk_status e;
    if ((e = mk_kints(k, "strides", st, 3, &n))) return e;
    if (n < 0) st[0] = st[1] = st[2] = 1, n = ns;
    if (n != ns) return mk_kerr(k, MK_EINVAL, "strides needs %d values", ns);
    if ((e = mk_kints(k, "dilations", dl, 3, &n))) return e;
    if (n < 0) dl[0] = dl[1] = dl[2] = 1, n = ns;
    if (n != ns) return mk_kerr(k, MK_EINVAL, "dilations needs %d values", ns);
    const char *pt = mk_kstr(k, "pad_type", "valid");
    int np;
    if ((e = mk_kints(k, "pad", pad, 6, &np))) return e;
    g->in_n = g->k_n = g->o_n = 1;
    for (int j = 0; j < 3; j++) g->in[j] = g->k[j] = g->o[j] = g->s[j] = g->d[j] = 1;
    /* spatial dims are right-aligned in the 3 slots, so the last one is contiguous */
    for (int i = 0; i < ns; i++) {
        int j = 3 - ns + i;
        g->in[j] = x->type.dims[2 + i];
        g->k[j] = w->type.dims[2 + i];
        g->o[j] = out->type.dims[2 + i];
        g->s[j] = st[i];
        g->d[j] = dl[i];
        if (st[i] < 1 || dl[i] < 1)
            return mk_kerr(k, MK_EINVAL, "strides and dilations must be >= 1");
        int64_t span = (g->k[j] - 1) * dl[i] + 1, total;
        if (transpose)
            total = (g->in[j] - 1) * st[i] + span - g->o[j];
        else
            total = (g->o[j] - 1) * st[i] + span - g->in[j];
        if (total < 0) total = 0;
        if (strcmp(pt, "custom") == 0) {
            g->pb[j] = np == 2 * ns ? pad[2 * i] : 0;
        } else if (strcmp(pt, "same") == 0) {
            g->pb[j] = total / 2;
        } else if (strcmp(pt, "same_lower") == 0) {
            g->pb[j] = (total + 1) / 2;
        } else if (strcmp(pt, "valid") == 0) {
            g->pb[j] = 0;
        } else {
            return mk_kerr(k, MK_EINVAL, "unknown pad_type '%s'", pt);
        }
        g->in_n *= g->in[j];
        g->k_n *= g->k[j];
        g->o_n *= g->o[j];
    }
    return MK_OK;
}

/* One im2col row: input channel plane xc sampled at kernel offset kq for output positions
 * t0 .. t0+tn (flattened), zero where the window falls in the padding. */
static void im2col_row(float *dst, const float *xc, const geom *g, const int64_t *kq, int64_t t0,
                       int64_t tn)
{
    int64_t o2 = t0 % g->o[2], o1 = (t0 / g->o[2]) % g->o[1], o0 = t0 / (g->o[2] * g->o[1]);
    int64_t s2 = g->s[2], base = kq[2] * g->d[2] - g->pb[2], in2 = g->in[2];
    /* output columns whose input column is inside [0, in2) */
    int64_t lo = base >= 0 ? 0 : (-base + s2 - 1) / s2;
    int64_t hi = in2 - 1 - base < 0 ? -1 : (in2 - 1 - base) / s2;
    for (int64_t t = 0; t < tn;) {
        int64_t run = g->o[2] - o2 < tn - t ? g->o[2] - o2 : tn - t;
        int64_t i0 = o0 * g->s[0] + kq[0] * g->d[0] - g->pb[0];
        int64_t i1 = o1 * g->s[1] + kq[1] * g->d[1] - g->pb[1];
        float *d = dst + t;
        if (i0 < 0 || i0 >= g->in[0] || i1 < 0 || i1 >= g->in[1]) {
            memset(d, 0, (size_t)run * 4);
        } else {
            const float *xr = xc + (i0 * g->in[1] + i1) * in2 + base;
            int64_t a = lo - o2, b = hi + 1 - o2; /* valid j in [a, b) */
            if (a < 0) a = 0;
            if (b > run) b = run;
            if (b <= a) {
                memset(d, 0, (size_t)run * 4);
            } else {
                if (a) memset(d, 0, (size_t)a * 4);
                if (s2 == 1)
                    memcpy(d + a, xr + o2 + a, (size_t)(b - a) * 4);
                else
                    for (int64_t j = a; j < b; j++) d[j] = xr[(o2 + j) * s2];
                if (b < run) memset(d + b, 0, (size_t)(run - b) * 4);
            }
        }
        t += run;
        o2 += run;
        if (o2 == g->o[2]) {
            o2 = 0;
            if (++o1 == g->o[1]) {
                o1 = 0;
                o0++;
            }
        }
    }
}

static mk_status check_bias(mk_kctx *k, const mk_rt *b, int64_t c, const float **out)
{
    *out = NULL;
    if (!b) return MK_OK;
    if (b->numel != (size_t)c || mk_interp_layout(b->type.dtype) != MK_L_F32)
        return mk_kerr(k, MK_EINVAL, "bias must be a float vector of %lld", (long long)c);
    *out = b->data;
    return MK_OK;
}

/* Bias and fused activations on rows [0, nrows) of length n, row stride ld; channel c0 first. */
static void finish_rows(const mk_kctx *k, const float *bias, int64_t c0, float *o, int64_t nrows,
                        int64_t n, int64_t ld)
{
    if (!bias && !k->epi) return;
    for (int64_t r = 0; r < nrows; r++)
        mk_epi_apply(k->epi, bias ? bias + c0 + r : NULL, c0 + r, o + r * ld, (size_t)n);
}

MK_SIMD static void fill(float *o, float v, int64_t n)
{
    MK_VLOOP((size_t)n, o[i] = v);
}

/* o[i] += w * x[i]: a function of its own so restrict holds and the loop becomes SIMD. */
MK_SIMD static void axpy(float *restrict o, const float *restrict x, float w, size_t n)
{
    MK_VLOOP(n, o[i] += w * x[i]);
}

typedef struct conv_job {
    const mk_kctx *k;
    const geom *g;
    const float *xd, *wd, *bias;
    float *od;
    int64_t N, cin, cout, mult;                /* depthwise */
    int64_t groups, cig, cog, kk, tile, ntile; /* im2col / 1x1 */
    int64_t cpr, ncr;                          /* 1x1: output channels per range, ranges */
    int64_t per;                               /* channels (n * cout flattened) per chunk */
    int direct;
} conv_job;

static void conv_dw_chunk(void *ctx, int64_t ci, int tid)
{
    const conv_job *J = ctx;
    const mk_kctx *k = J->k;
    const geom *g = J->g;
    const float *xd = J->xd, *wd = J->wd, *bias = J->bias;
    float *od = J->od;
    int64_t cin = J->cin, mult = J->mult, cout = J->cout;
    int64_t c1 = (ci + 1) * J->per < J->N * cout ? (ci + 1) * J->per : J->N * cout;
    (void)tid;
    for (int64_t nc = ci * J->per; nc < c1; nc++) {
        int64_t n = nc / cout, co = nc % cout;
        {
            const float *xc = xd + (n * cin + co / mult) * g->in_n, *w = wd + co * g->k_n;
            float *oc = od + (n * cout + co) * g->o_n;
            memset(oc, 0, (size_t)g->o_n * 4);
            for (int64_t o0 = 0; o0 < g->o[0]; o0++)
                for (int64_t o1 = 0; o1 < g->o[1]; o1++) {
                    float *orow = oc + (o0 * g->o[1] + o1) * g->o[2];
                    for (int64_t k0 = 0; k0 < g->k[0]; k0++) {
                        int64_t i0 = o0 * g->s[0] + k0 * g->d[0] - g->pb[0];
                        if (i0 < 0 || i0 >= g->in[0]) continue;
                        for (int64_t k1 = 0; k1 < g->k[1]; k1++) {
                            int64_t i1 = o1 * g->s[1] + k1 * g->d[1] - g->pb[1];
                            if (i1 < 0 || i1 >= g->in[1]) continue;
                            const float *xr = xc + (i0 * g->in[1] + i1) * g->in[2];
                            const float *wr = w + (k0 * g->k[1] + k1) * g->k[2];
                            for (int64_t k2 = 0; k2 < g->k[2]; k2++) {
                                int64_t base = k2 * g->d[2] - g->pb[2], s2 = g->s[2];
                                /* output columns j with 0 <= j*s2 + base < in2 */
                                int64_t lo = base >= 0 ? 0 : (-base + s2 - 1) / s2;
                                int64_t hi =
                                    g->in[2] - 1 - base < 0 ? -1 : (g->in[2] - 1 - base) / s2;
                                if (hi >= g->o[2]) hi = g->o[2] - 1;
                                if (hi < lo) continue;
                                float wv = wr[k2], *od2 = orow + lo;
                                if (s2 == 1) {
                                    axpy(od2, xr + lo + base, wv, (size_t)(hi - lo + 1));
                                } else {
                                    const float *xs = xr + lo * s2 + base;
                                    for (int64_t j = 0; j <= hi - lo; j++)
                                        od2[j] += wv * xs[j * s2];
                                }
                            }
                        }
                    }
                }
            finish_rows(k, bias, co, oc, 1, g->o_n, g->o_n);
        }
    }
}

/* Depthwise-style conv (one input channel per group, `mult` output channels each): direct
 * loops, one output row at a time, each kernel tap an axpy over the row (SIMD for stride 1);
 * chunks of whole channels. */
static void conv_dw(mk_kctx *k, const geom *g, const float *xd, const float *wd, float *od,
                    const float *bias, int64_t N, int64_t cin, int64_t mult)
{
    conv_job J = {.k = k,
                  .g = g,
                  .xd = xd,
                  .wd = wd,
                  .bias = bias,
                  .od = od,
                  .N = N,
                  .cin = cin,
                  .cout = cin * mult,
                  .mult = mult};
    int64_t work = g->o_n * g->k_n; /* per channel */
    J.per = work >= 65536 ? 1 : 65536 / (work ? work : 1);
    mk_par_for(k, mk_par_chunks(N * J.cout, J.per), conv_dw_chunk, &J);
}

/* One (image, group, output channel range, column tile) of an im2col or 1x1 conv (im2col: one
 * range): the GEMM into the output tile with the bias preloaded (beta = 1), then fused
 * activations while the tile is in cache. */
static void conv_gemm_chunk(void *ctx, int64_t i, int tid)
{
    const conv_job *J = ctx;
    const mk_kctx *k = J->k;
    const geom *gp = J->g;
    int64_t t0 = (i % J->ntile) * J->tile, u = i / J->ntile, cr = u % J->ncr, ng = u / J->ncr;
    int64_t gi = ng % J->groups, n = ng / J->groups;
    int64_t tn = gp->o_n - t0 < J->tile ? gp->o_n - t0 : J->tile;
    int64_t cig = J->cig, cog = J->cog, kk = J->kk;
    const float *xg = J->xd + (n * J->cin + gi * cig) * gp->in_n;
    float *oc = J->od + (n * J->cout + gi * cog) * gp->o_n + t0;
    float beta = J->bias ? 1.0f : 0.0f;
    if (J->direct) {
        int64_t c0 = cr * J->cpr, cn = cog - c0 < J->cpr ? cog - c0 : J->cpr;
        oc += c0 * gp->o_n;
        if (J->bias)
            for (int64_t co = 0; co < cn; co++)
                fill(oc + co * gp->o_n, J->bias[gi * cog + c0 + co], tn);
        mk_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)cn, (int)tn, (int)cig, 1.0f,
                 J->wd + (gi * cog + c0) * cig, (int)cig, xg + t0, (int)gp->in_n, beta, oc,
                 (int)gp->o_n);
        finish_rows(k, NULL, gi * cog + c0, oc, cn, tn, gp->o_n);
        return;
    }
    if (J->bias)
        for (int64_t co = 0; co < cog; co++) fill(oc + co * gp->o_n, J->bias[gi * cog + co], tn);
    {
        float *col = mk_par_scratch((mk_kctx *)k, tid);
        /* im2col: row = (c, k0, k1, k2), column = output position t0..t0+tn */
        for (int64_t c = 0; c < cig; c++)
            for (int64_t k0 = 0; k0 < gp->k[0]; k0++)
                for (int64_t k1 = 0; k1 < gp->k[1]; k1++)
                    for (int64_t k2 = 0; k2 < gp->k[2]; k2++) {
                        int64_t row = ((c * gp->k[0] + k0) * gp->k[1] + k1) * gp->k[2] + k2;
                        int64_t kq[3] = {k0, k1, k2};
                        im2col_row(col + row * tn, xg + c * gp->in_n, gp, kq, t0, tn);
                    }
        mk_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)cog, (int)tn, (int)kk, 1.0f,
                 J->wd + gi * cog * kk, (int)kk, col, (int)tn, beta, oc, (int)gp->o_n);
    }
    finish_rows(k, NULL, gi * cog, oc, cog, tn, gp->o_n);
}

mk_status mk_k_conv(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *w = mk_kin(k, "weight"), *b = mk_kin(k, "bias");
    mk_rt *out = k->outs[0];
    if (!x || !w) return mk_kerr(k, MK_EINVAL, "needs x and weight");
    if (mk_interp_layout(x->type.dtype) != MK_L_F32 || mk_interp_layout(w->type.dtype) != MK_L_F32)
        return mk_kerr(k, MK_EUNSUPPORTED, "conv takes float tensors");
    geom g;
    mk_status st = get_geom(k, x, w, out, 0, &g);
    if (st) return st;
    int64_t groups;
    if ((st = mk_kint(k, "groups", 1, &groups))) return st;
    int64_t N = x->type.dims[0], cin = x->type.dims[1], cout = w->type.dims[0];
    if (groups < 1 || cin % groups || cout % groups || w->type.dims[1] * groups != cin ||
        out->type.dims[0] != N || out->type.dims[1] != cout)
        return mk_kerr(k, MK_EINVAL, "channels do not match groups=%lld", (long long)groups);
    const float *bias;
    if ((st = check_bias(k, b, cout, &bias))) return st;
    int64_t cig = cin / groups, cog = cout / groups, kk = cig * g.k_n;
    const float *xd = x->data, *wd = w->data;
    float *od = out->data;
    if (!out->numel) return MK_OK;
    mk_cdirect cd = {.N = N,
                     .groups = groups,
                     .cig = cig,
                     .cog = cog,
                     .k_n = g.k_n,
                     .x = xd,
                     .w = wd,
                     .bias = bias,
                     .w_const = mk_kconst(k, "weight"),
                     .out = od};
    for (int i = 0; i < 3; i++) {
        cd.in[i] = g.in[i], cd.k[i] = g.k[i], cd.o[i] = g.o[i];
        cd.s[i] = g.s[i], cd.d[i] = g.d[i], cd.pb[i] = g.pb[i];
    }
    if (cig == 1 && groups > 1 && mk_conv_direct_ok(&cd)) {
        k->path =
            g.ns == 1 ? "conv: 1-D depthwise direct, blocked" : "conv: depthwise direct, blocked";
        return mk_conv_direct(k, &cd);
    }
    if (cig == 1 && groups > 1) {
        k->path = g.ns == 1 ? "conv: 1-D depthwise direct" : "conv: depthwise direct";
        conv_dw(k, &g, xd, wd, od, bias, N, cin, cog);
        return MK_OK;
    }
    if (mk_conv_wino_ok(&cd)) {
        k->path =
            mk_conv_wino_f4(k, &cd) ? "conv: winograd F(4x4,3x3)" : "conv: winograd F(2x2,3x3)";
        return mk_conv_wino(k, &cd);
    }
    int direct = g.k_n == 1;
    for (int i = 0; i < 3; i++) direct = direct && g.s[i] == 1 && g.pb[i] == 0 && g.o[i] == g.in[i];
    if (direct && mk_conv_1x1_ok(&cd)) {
        if (mk_conv_direct_level() == 1)
            k->path = g.ns == 1 ? "conv: 1-D 1x1 packed gemm, avx2" : "conv: 1x1 packed gemm, avx2";
        else
            k->path = g.ns == 1 ? "conv: 1-D 1x1 packed gemm" : "conv: 1x1 packed gemm";
        return mk_conv_1x1(k, &cd);
    }
    /* a 1x1 conv is a plain sgemm: the direct kernel wins with AVX-512 only */
    if ((!direct || mk_conv_direct_level() >= 2) && mk_conv_direct_ok(&cd)) {
        k->path = g.ns == 1 ? "conv: 1-D direct" : "conv: direct";
        return mk_conv_direct(k, &cd);
    }
    /* column tiles: the output tile and the im2col tile each stay within ~half of L2 */
    const size_t budget = 256u << 10; /* floats: 1 MiB */
    int64_t tile = (int64_t)(budget / (size_t)(cog ? cog : 1));
    if (!direct && (int64_t)(budget / (size_t)(kk ? kk : 1)) < tile)
        tile = (int64_t)(budget / (size_t)(kk ? kk : 1));
    if (tile < 128) tile = 128;
    if (tile > g.o_n) tile = g.o_n;
    k->path = direct       ? "conv: 1x1 sgemm (no copy)"
              : groups > 1 ? "conv: grouped im2col+sgemm"
              : g.ns == 1  ? "conv: 1-D im2col+sgemm"
                           : "conv: im2col+sgemm";
    /* at least 4 tiles of >= 256 columns when the conv is large enough, so threads have work;
     * the tiling depends on shapes only */
    if (N * groups * mk_par_chunks(g.o_n, tile) < 4 && g.o_n >= 1024) {
        int64_t t4 = ((g.o_n + 3) / 4 + 15) / 16 * 16;
        if (t4 < tile) tile = t4 < 256 ? 256 : t4;
    }
    conv_job J = {.k = k,
                  .g = &g,
                  .xd = xd,
                  .wd = wd,
                  .bias = bias,
                  .od = od,
                  .N = N,
                  .cin = cin,
                  .cout = cout,
                  .groups = groups,
                  .cig = cig,
                  .cog = cog,
                  .kk = kk,
                  .tile = tile,
                  .ntile = mk_par_chunks(g.o_n, tile),
                  .cpr = cog,
                  .ncr = 1,
                  .direct = direct};
    /* a 1x1 conv of fewer than 4 column tiles (PP-OCRv4 rec's 240 -> 240 at 12x80: one) is split
     * into 4 chunks of >= 0.5M multiply-adds, for the threads (at -j 2 the one sgemm ran on one
     * thread): into column tiles of >= 64 when the weights are the smaller operand (each call
     * packs them again), else into ranges of output channels (each call packs its columns
     * again; measured: 4-7 ranges cost rec's 480 -> 480 convs 7-10% at -j 1). Shapes only. */
    int64_t nch = N * groups * J.ntile, macs = N * groups * cog * g.o_n * cig;
    if (direct && nch < 4 && macs >= 4 * 524288) {
        int64_t want = mk_par_chunks(4, nch);
        int64_t t = (mk_par_chunks(g.o_n, want) + 15) / 16 * 16;
        int64_t cpr = (mk_par_chunks(cog, want) + 15) / 16 * 16;
        if (cog <= g.o_n && t >= 64 && t < J.tile) {
            J.tile = t;
            J.ntile = mk_par_chunks(g.o_n, t);
        } else if (cog > g.o_n && cpr >= 32 && cpr < cog) {
            J.cpr = cpr;
            J.ncr = mk_par_chunks(cog, cpr);
        }
    }
    if (!direct) {
        size_t cb = (size_t)(kk * (tile ? tile : 1)) * 4;
        if ((st = mk_par_scratch_reserve(k, cb ? cb : 4))) return st;
    }
    mk_par_for(k, N * groups * J.ncr * J.ntile, conv_gemm_chunk, &J);
    return MK_OK;
}

/* o[i] += x[i] */
MK_SIMD static void add_row(float *restrict o, const float *restrict x, size_t n)
{
    MK_VLOOP(n, o[i] += x[i]);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* o[2i] += a[i], o[2i + 1] += b[i] for i < n: the taps k2, k2 + 1 of a stride-2 conv_transpose
 * interleaved into one output row (the strided scalar loop was most of PP-OCRv4 det's 2x2
 * stride-2 col2im; the same additions: the same bits). */
__attribute__((target("avx2"))) static void add_pair(float *o, const float *a, const float *b,
                                                     size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 va = _mm256_loadu_ps(a + i), vb = _mm256_loadu_ps(b + i);
        __m256 l = _mm256_unpacklo_ps(va, vb), h = _mm256_unpackhi_ps(va, vb);
        float *q = o + 2 * i;
        _mm256_storeu_ps(q, _mm256_add_ps(_mm256_loadu_ps(q), _mm256_permute2f128_ps(l, h, 0x20)));
        _mm256_storeu_ps(q + 8,
                         _mm256_add_ps(_mm256_loadu_ps(q + 8), _mm256_permute2f128_ps(l, h, 0x31)));
    }
    for (; i < n; i++) {
        o[2 * i] += a[i];
        o[2 * i + 1] += b[i];
    }
}
#define CT_PAIR 1
#endif

typedef struct ct_job {
    const mk_kctx *k;
    const geom *g;
    const float *xd, *wd, *bias;
    float *od;
    int64_t cin, cout, cig, cog, rows, groups, R, cpr, ncr;
    int pair; /* add_pair usable (AVX2) */
} ct_job;

/* Output channels [c0, c0 + cn) of one (image, group) of a conv_transpose: per tile of R input
 * rows the GEMM of their weight rows into the thread's column buffer, then col2im into their
 * planes (tiles in order: the same sums for any chunking), then bias and fused activations. */
static void ct_chunk(void *ctx, int64_t i, int tid)
{
    const ct_job *J = ctx;
    const geom *gp = J->g;
    int64_t cr = i % J->ncr, ng = i / J->ncr, gi = ng % J->groups, n = ng / J->groups;
    int64_t c0 = cr * J->cpr, cn = J->cog - c0 < J->cpr ? J->cog - c0 : J->cpr;
    int64_t in_rows = gp->in[0] * gp->in[1], in2 = gp->in[2], s2 = gp->s[2], R = J->R;
    float *col = mk_par_scratch((mk_kctx *)J->k, tid);
    float *oc0 = J->od + (n * J->cout + gi * J->cog + c0) * gp->o_n;
    memset(oc0, 0, (size_t)(cn * gp->o_n) * 4);
    for (int64_t r0 = 0; r0 < in_rows; r0 += R) {
        int64_t rn = in_rows - r0 < R ? in_rows - r0 : R, tn = rn * in2;
        mk_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)(cn * gp->k_n), (int)tn, (int)J->cig,
                 1.0f, J->wd + gi * J->cig * J->rows + c0 * gp->k_n, (int)J->rows,
                 J->xd + (n * J->cin + gi * J->cig) * gp->in_n + r0 * in2, (int)gp->in_n, 0.0f, col,
                 (int)tn);
        for (int64_t co = 0; co < cn; co++) {
            float *oc = oc0 + co * gp->o_n;
            for (int64_t k0 = 0; k0 < gp->k[0]; k0++)
                for (int64_t k1 = 0; k1 < gp->k[1]; k1++)
                    for (int64_t k2 = 0; k2 < gp->k[2]; k2++) {
                        const float *crow =
                            col + (((co * gp->k[0] + k0) * gp->k[1] + k1) * gp->k[2] + k2) * tn;
                        /* input columns i2 landing inside the output row: [lo, hi] */
                        int64_t base = k2 * gp->d[2] - gp->pb[2];
                        int64_t lo = base >= 0 ? 0 : (-base + s2 - 1) / s2;
                        int64_t hi = gp->o[2] - 1 - base < 0 ? -1 : (gp->o[2] - 1 - base) / s2;
                        if (hi >= in2) hi = in2 - 1;
                        if (hi < lo) continue;
#ifdef CT_PAIR
                        /* taps k2 and k2 + 1 over the same input columns: each output gets its
                         * terms in the same order (one of the two taps reaches it) */
                        int64_t lo1 = base + 1 >= 0 ? 0 : (-base - 1 + s2 - 1) / s2;
                        int64_t hi1 = gp->o[2] - 2 - base < 0 ? -1 : (gp->o[2] - 2 - base) / s2;
                        if (hi1 >= in2) hi1 = in2 - 1;
                        if (J->pair && s2 == 2 && gp->d[2] == 1 && k2 + 1 < gp->k[2] && lo1 == lo &&
                            hi1 == hi) {
                            for (int64_t rr = 0; rr < rn; rr++) {
                                int64_t i0 = (r0 + rr) / gp->in[1], i1 = (r0 + rr) % gp->in[1];
                                int64_t o0 = i0 * gp->s[0] + k0 * gp->d[0] - gp->pb[0];
                                int64_t o1 = i1 * gp->s[1] + k1 * gp->d[1] - gp->pb[1];
                                if (o0 < 0 || o0 >= gp->o[0] || o1 < 0 || o1 >= gp->o[1]) continue;
                                float *orow = oc + (o0 * gp->o[1] + o1) * gp->o[2] + base;
                                add_pair(orow + 2 * lo, crow + rr * in2 + lo,
                                         crow + tn + rr * in2 + lo, (size_t)(hi - lo + 1));
                            }
                            k2++;
                            continue;
                        }
#endif
                        for (int64_t rr = 0; rr < rn; rr++) {
                            int64_t i0 = (r0 + rr) / gp->in[1], i1 = (r0 + rr) % gp->in[1];
                            int64_t o0 = i0 * gp->s[0] + k0 * gp->d[0] - gp->pb[0];
                            int64_t o1 = i1 * gp->s[1] + k1 * gp->d[1] - gp->pb[1];
                            if (o0 < 0 || o0 >= gp->o[0] || o1 < 0 || o1 >= gp->o[1]) continue;
                            const float *cc = crow + rr * in2;
                            float *orow = oc + (o0 * gp->o[1] + o1) * gp->o[2] + base;
                            if (s2 == 1) {
                                add_row(orow + lo, cc + lo, (size_t)(hi - lo + 1));
                            } else {
                                for (int64_t i2 = lo; i2 <= hi; i2++) orow[i2 * s2] += cc[i2];
                            }
                        }
                    }
        }
    }
    finish_rows(J->k, J->bias, gi * J->cog + c0, oc0, cn, gp->o_n, gp->o_n);
}

mk_status mk_k_conv_transpose(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *w = mk_kin(k, "weight"), *b = mk_kin(k, "bias");
    mk_rt *out = k->outs[0];
    if (!x || !w) return mk_kerr(k, MK_EINVAL, "needs x and weight");
    if (mk_interp_layout(x->type.dtype) != MK_L_F32 || mk_interp_layout(w->type.dtype) != MK_L_F32)
        return mk_kerr(k, MK_EUNSUPPORTED, "conv_transpose takes float tensors");
    geom g;
    mk_status st = get_geom(k, x, w, out, 1, &g);
    if (st) return st;
    int64_t groups;
    if ((st = mk_kint(k, "groups", 1, &groups))) return st;
    int64_t N = x->type.dims[0], cin = x->type.dims[1];
    if (groups < 1 || w->type.dims[0] != cin || cin % groups)
        return mk_kerr(k, MK_EINVAL, "weight does not match x channels");
    int64_t cog = w->type.dims[1], cout = cog * groups, cig = cin / groups, rows = cog * g.k_n;
    if (out->type.dims[0] != N || out->type.dims[1] != cout)
        return mk_kerr(k, MK_EINVAL, "output channels do not match weight");
    const float *bias;
    if ((st = check_bias(k, b, cout, &bias))) return st;
    /* tiles of whole input rows (i0, i1), so that the GEMM's column block stays in cache */
    int64_t in_rows = g.in[0] * g.in[1], in2 = g.in[2];
    int64_t R = rows * in2 > 0 ? (int64_t)((256u << 10) / (size_t)(rows * in2)) : in_rows;
    if (R < 1) R = 1;
    if (R > in_rows) R = in_rows;
    k->path = "conv_transpose: sgemm+col2im";
    ct_job J = {.k = k,
                .g = &g,
                .xd = x->data,
                .wd = w->data,
                .bias = bias,
                .od = out->data,
                .cin = cin,
                .cout = cout,
                .cig = cig,
                .cog = cog,
                .rows = rows,
                .groups = groups,
                .R = R,
                .cpr = cog,
                .ncr = 1,
                .pair = mk_conv_direct_level() >= 1};
    /* chunks of output channel ranges (their planes are disjoint) for the threads: about 4 in
     * all, >= 0.5M multiply-adds each (8 cost det's 24 -> 24 at 160x160 4% more at -j 1: each
     * call packs the input rows again); from shapes only */
    int64_t macs = cog * g.k_n * cig * g.in_n, want = mk_par_chunks(4, N * groups);
    if (want > macs / 524288) want = macs / 524288;
    if (want > cog) want = cog;
    if (want > 1) {
        J.cpr = mk_par_chunks(cog, want);
        J.ncr = mk_par_chunks(cog, J.cpr);
    }
    size_t cb = (size_t)(J.cpr * g.k_n * R * in2) * 4;
    if ((st = mk_par_scratch_reserve(k, cb ? cb : 4))) return st;
    mk_par_for(k, N * groups * J.ncr, ct_chunk, &J);
    return MK_OK;
}
