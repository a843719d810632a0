/* Winograd F(2x2,3x3) and F(4x4,3x3) for 3x3 stride-1 undilated convs with one group (AVX-512, and
 * AVX2 + FMA below in wn2_chunk): each 2x2 block of outputs ("tile") comes from a 4x4 input patch d
 * as A^T [U . V] A, where V = B^T d B is the patch transformed per input channel, U = G g G^T the
 * 3x3 weights g transformed per (output, input) channel pair (once per session for constant
 * weights, in double, then rounded), and "." the sum over input channels of the 16 elementwise
 * products: 16 GEMMs [Cout x Cin] . [Cin x tiles], 2.25x fewer multiply-adds than the direct conv.
 * Chunks are (image, block of tile rows, group of output channel blocks: only with threads);
 * every output element sums its input channels in one fixed order in its own SIMD lane, so the
 * bits do not depend on the chunking or the thread count. The output transform writes whole
 * output rows, then bias and the op's fused activations run on them (mk_epi_apply). Small
 * planes (one chunk of at most 64 tiles per image) vectorise the GEMMs over output channels
 * instead of tiles where that computes fewer products (wn_gemm_cv): the same sums, same bits.
 * F(4x4,3x3) (wn4_chunk, AVX2 wn24_chunk: 4x4 tiles from 6x6 patches, 36 planes) runs instead
 * where mk_conv_wino_f4's measured rule says, with the same GEMMs, chunking and epilogue. */
#include <stdlib.h>
#include <string.h>

#include "k_conv_wino.h"
#include "k_lanes.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define WN_X86 1
#endif

#define WN_CB 8  /* output channels per register block */
#define WN_CV 32 /* output channels per block of the channel-vector variant (2 vectors) */
#define WN_VL 16
#define WN_TB 48                   /* tiles per GEMM block */
#define WN_MS (WN_CB * WN_TB + 16) /* floats per plane of a block's products */
#ifndef WN_TB4
#define WN_TB4 48 /* F(4x4): tiles per GEMM block (36 planes of products in L1) */
#endif
#define WN_CB2 4  /* AVX2: output channels per register block */
#define WN_TB2 48 /* AVX2: tiles per GEMM block */
#define WN_MS2 (WN_CB2 * WN_TB2 + 16)
/* AVX2: GEMM prefetch distance in input channels, every cache line of the 8-24 tiles (rows ts
 * floats apart): measured with bench/conv_wino, 128x128 28x28 went from 0.96 to 0.71 of the
 * direct kernel's time with it, 16x64 55x55 from 1.10 to 0.96; 8 channels was no better */
#define WN_PF2 4

static int wn_on = -1; /* -1: MILKIT_CONV_WINO not read yet */
static int wn_cv_on = 1;
static int wn_f4 = 1;    /* F(4x4,3x3): 0 never, 1 by the measured rule, 2 always */
static int wn_lvcap = 2; /* benchmarks: MILKIT_CONV_WINO_LEVEL=1 runs the AVX2 variants */

static int wn_level(void)
{
    int lv = mk_conv_direct_level();
    return lv < wn_lvcap ? lv : wn_lvcap;
}
static long wn_cv_runs;

void mk_conv_wino_f4_mode(int mode)
{
    wn_f4 = mode < 0 ? 0 : mode > 2 ? 2 : mode;
}

void mk_conv_wino_cv_enable(int on)
{
    wn_cv_on = on ? 1 : 0;
}

long mk_conv_wino_cv_runs(void)
{
    return __atomic_load_n(&wn_cv_runs, __ATOMIC_RELAXED);
}

void mk_conv_wino_enable(int on)
{
    wn_on = on == 2 ? 2 : on ? 1 : 0;
}

typedef struct wn_job {
    const mk_kctx *k;
    const mk_cdirect *c;
    const float *u;        /* transformed weights: [np][ncb][cin][cb], spare lanes 0 */
    int f4;                /* F(4x4,3x3): 6x6 patches, 4x4 tiles */
    int np;                /* transformed planes: 16, or 36 with f4 */
    int cv;                /* the channel-vector variant (one chunk of at most 64 tiles) */
    int64_t cb;            /* output channels per block: WN_CB, or WN_CV with cv */
    int64_t mq, ms;        /* float strides of a channel and of a plane xi of the products */
    int64_t H, W, OH, OW;  /* input and output plane */
    int64_t pt, pl;        /* top and left padding */
    int64_t th, tw;        /* tile rows, tiles per row */
    int64_t rows, nrb;     /* tile rows per chunk, row blocks per image */
    int64_t ncb, cbg, ncg; /* channel blocks of WN_CB, blocks per group, groups */
    int64_t ts;            /* tile stride of a V or M row (multiple of 16) */
    int64_t vs;            /* float stride of the V planes (xi) */
    int64_t rw;            /* width of a padded input row */
    size_t v_n, m_n;       /* floats of V and of M in the thread's scratch */
    int relu;              /* the op's fused activations are one relu: applied in registers */
    int lv;                /* the ISA: 2 AVX-512 (wn_chunk), 1 AVX2 + FMA (wn2_chunk) */
} wn_job;

static int64_t up16(int64_t n)
{
    return (n + WN_VL - 1) / WN_VL * WN_VL;
}

static int64_t up8(int64_t n)
{
    return (n + 7) / 8 * 8;
}

/* Where the transformed weights of plane xi and channel block b start: [xi][b][ci][cb], or
 * [b][xi][ci][cb] with cv (a block's 16 planes read in turn: one stream to prefetch). */
static int64_t wn_uoff(const wn_job *J, int64_t xi, int64_t b)
{
    return (J->cv ? b * J->np + xi : xi * J->ncb + b) * J->c->cig * J->cb;
}

/* F(4x4,3x3) weights: G g G^T (6x6) in double for the points 0, 1, -1, 2, -2 and infinity */
static void wn4_weight(const float *g, double r[36])
{
    double h[6][3];
    for (int j = 0; j < 3; j++) {
        double g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
        h[0][j] = g0 / 4;
        h[1][j] = -(g0 + g1 + g2) / 6;
        h[2][j] = -(g0 - g1 + g2) / 6;
        h[3][j] = (g0 + 2 * g1 + 4 * g2) / 24;
        h[4][j] = (g0 - 2 * g1 + 4 * g2) / 24;
        h[5][j] = g2;
    }
    for (int i = 0; i < 6; i++) {
        double a = h[i][0], b = h[i][1], c = h[i][2];
        r[i * 6 + 0] = a / 4;
        r[i * 6 + 1] = -(a + b + c) / 6;
        r[i * 6 + 2] = -(a - b + c) / 6;
        r[i * 6 + 3] = (a + 2 * b + 4 * c) / 24;
        r[i * 6 + 4] = (a - 2 * b + 4 * c) / 24;
        r[i * 6 + 5] = c;
    }
}

/* U = G g G^T for every (output, input) channel pair, packed as wn_uoff says. */
static void wn_weights(const wn_job *J, float *u)
{
    const mk_cdirect *c = J->c;
    int64_t cin = c->cig, cout = c->cog;
    for (int64_t b = 0; b < J->ncb; b++)
        for (int64_t ci = 0; ci < cin; ci++)
            for (int q = 0; q < J->cb; q++) {
                int64_t co = b * J->cb + q;
                double h[4][3], r[36];
                if (co < cout && J->f4) {
                    wn4_weight(c->w + (co * cin + ci) * 9, r);
                } else if (co < cout) {
                    const float *g = c->w + (co * cin + ci) * 9;
                    for (int j = 0; j < 3; j++) { /* G g: rows g0, (g0+g1+g2)/2, (g0-g1+g2)/2, g2 */
                        double g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
                        h[0][j] = g0;
                        h[1][j] = 0.5 * (g0 + g1 + g2);
                        h[2][j] = 0.5 * (g0 - g1 + g2);
                        h[3][j] = g2;
                    }
                    for (int i = 0; i < 4; i++) { /* (G g) G^T */
                        r[i * 4 + 0] = h[i][0];
                        r[i * 4 + 1] = 0.5 * (h[i][0] + h[i][1] + h[i][2]);
                        r[i * 4 + 2] = 0.5 * (h[i][0] - h[i][1] + h[i][2]);
                        r[i * 4 + 3] = h[i][2];
                    }
                } else {
                    memset(r, 0, sizeof r);
                }
                for (int xi = 0; xi < J->np; xi++)
                    u[wn_uoff(J, xi, b) + ci * J->cb + q] = (float)r[xi];
            }
}

#ifdef WN_X86
#define WN_TGT __attribute__((target("avx512f")))
#define WN_UNROLL _Pragma("GCC unroll 8")
#define WN_UNROLL16 _Pragma("GCC unroll 16")

static WN_TGT __mmask16 wn_mask(int64_t n)
{
    return (__mmask16)(n >= 16 ? 0xffffu : n <= 0 ? 0u : (1u << n) - 1);
}

/* m[q * mq + t] for t < 16 * V: the sum over ci of u[ci][q] * v[ci * ts + t] for the WN_CB
 * channels q, ci in order (inlined with V constant: 8 x V accumulators). */
static inline __attribute__((always_inline)) WN_TGT void wn_gemm_blk(const float *u, const float *v,
                                                                     int64_t ts, int64_t cin,
                                                                     float *m, int64_t mq,
                                                                     const int V)
{
    __m512 acc[WN_CB][3];
    WN_UNROLL for (int q = 0; q < WN_CB; q++) WN_UNROLL for (int j = 0; j < V; j++) acc[q][j] =
        _mm512_setzero_ps();
    for (int64_t ci = 0; ci < cin; ci++) {
        const float *vp = v + ci * ts, *up = u + ci * WN_CB;
        __m512 x[3];
        WN_UNROLL for (int j = 0; j < V; j++) x[j] = _mm512_loadu_ps(vp + 16 * j);
        if (ci + 4 < cin) /* rows ts apart: the prefetcher misses them (measured 6-9% faster) */
            WN_UNROLL for (int j = 0; j < V; j++)
                _mm_prefetch((const char *)(vp + 4 * ts + 16 * j), _MM_HINT_T0);
        WN_UNROLL for (int q = 0; q < WN_CB; q++)
        {
            __m512 w = _mm512_set1_ps(up[q]);
            WN_UNROLL for (int j = 0; j < V; j++) acc[q][j] = _mm512_fmadd_ps(w, x[j], acc[q][j]);
        }
    }
    WN_UNROLL for (int q = 0; q < WN_CB; q++) WN_UNROLL for (int j = 0; j < V; j++)
        _mm512_storeu_ps(m + q * mq + 16 * j, acc[q][j]);
}

/* The products of the nt tiles (a multiple of 16): blocks of 48 tiles, the rest as 32 + 32
 * (64), 32 or 16 (each tile's sum is the same in any block). */
static WN_TGT void wn_gemm(const float *u, const float *v, int64_t ts, int64_t cin, int64_t nt,
                           float *m, int64_t mq)
{
    int64_t t = 0;
    for (; nt - t >= 48 && nt - t != 64; t += 48) wn_gemm_blk(u, v + t, ts, cin, m + t, mq, 3);
    for (; nt - t >= 32; t += 32) wn_gemm_blk(u, v + t, ts, cin, m + t, mq, 2);
    if (nt - t == 16) wn_gemm_blk(u, v + t, ts, cin, m + t, mq, 1);
}

/* The channel-vector variant, for chunks of few tiles (a 13x13 output plane has 49 tiles: 64
 * lanes above): output channels in the lanes, 8 tiles per register block, so only the last
 * 1-7 tiles of a chunk are computed alone (measured with bench/conv_wino --base tiles, -j 1:
 * 0.82-0.87 of the tile layout's time on 13x13 planes). Every product is the same fma chain over
 * ci in order from 0 as in wn_gemm_blk (the multiply is exact, hence commutative): same bits. */

/* a[i] lane j -> a[j] lane i */
static inline __attribute__((always_inline)) WN_TGT void wn_tr16(__m512 a[16])
{
    __m512 t[16], u[16];
    WN_UNROLL16 for (int i = 0; i < 16; i += 2)
    {
        t[i] = _mm512_unpacklo_ps(a[i], a[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(a[i], a[i + 1]);
    }
    WN_UNROLL for (int g = 0; g < 4; g++)
    { /* u[4g + k], 128-bit lane L: rows 4g..4g+3 of column 4L+k */
        __m512 p = t[4 * g], q = t[4 * g + 1], r = t[4 * g + 2], s = t[4 * g + 3];
        u[4 * g + 0] = _mm512_shuffle_ps(p, r, 0x44);
        u[4 * g + 1] = _mm512_shuffle_ps(p, r, 0xee);
        u[4 * g + 2] = _mm512_shuffle_ps(q, s, 0x44);
        u[4 * g + 3] = _mm512_shuffle_ps(q, s, 0xee);
    }
    WN_UNROLL for (int k = 0; k < 4; k++)
    {
        __m512 e0 = _mm512_shuffle_f32x4(u[k], u[4 + k], 0x88);
        __m512 e1 = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0x88);
        __m512 o0 = _mm512_shuffle_f32x4(u[k], u[4 + k], 0xdd);
        __m512 o1 = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0xdd);
        a[k] = _mm512_shuffle_f32x4(e0, e1, 0x88);
        a[8 + k] = _mm512_shuffle_f32x4(e0, e1, 0xdd);
        a[4 + k] = _mm512_shuffle_f32x4(o0, o1, 0x88);
        a[12 + k] = _mm512_shuffle_f32x4(o0, o1, 0xdd);
    }
}

/* m[q * mq + t], q < WN_CV, t < T (T = 7 or 8; with 7, m[q * mq + 7] is overwritten too): the
 * sum over ci of u[ci * WN_CV + q] * v[ci * ts + t] */
static inline __attribute__((always_inline)) WN_TGT void wn_cv8(const float *u, const float *v,
                                                                int64_t ts, int64_t cin, float *m,
                                                                int64_t mq, const int pf,
                                                                const int T)
{
    __m512 acc[16]; /* channels 0-15 of tiles 0-7, then channels 16-31 */
    WN_UNROLL16 for (int t = 0; t < 16; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t ci = 0; ci < cin; ci++) {
        const float *vp = v + ci * ts;
        __m512 w0 = _mm512_loadu_ps(u + ci * WN_CV), w1 = _mm512_loadu_ps(u + ci * WN_CV + 16);
        if (ci + 4 < cin) _mm_prefetch((const char *)(vp + 4 * ts), _MM_HINT_T0);
        if (pf) { /* the weights from L2 or beyond, 8 KiB ahead (past a plane: the next one's) */
            _mm_prefetch((const char *)(u + (ci + 64) * WN_CV), _MM_HINT_T0);
            _mm_prefetch((const char *)(u + (ci + 64) * WN_CV + 16), _MM_HINT_T0);
        }
        WN_UNROLL for (int t = 0; t < T; t++)
        {
            __m512 x = _mm512_set1_ps(vp[t]);
            acc[t] = _mm512_fmadd_ps(x, w0, acc[t]);
            acc[8 + t] = _mm512_fmadd_ps(x, w1, acc[8 + t]);
        }
    }
    wn_tr16(acc); /* acc[q]: channel q of tiles 0-7, then channel 16 + q */
    WN_UNROLL16 for (int q = 0; q < 16; q++)
    {
        _mm256_storeu_ps(m + q * mq, _mm512_castps512_ps256(acc[q]));
        _mm256_storeu_ps(m + (16 + q) * mq,
                         _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[q]), 1)));
    }
}

/* The same for the WN_CV channels and T < 8 tiles */
static inline __attribute__((always_inline)) WN_TGT void
wn_cvr(const float *u, const float *v, int64_t ts, int64_t cin, float *m, int64_t mq, const int T)
{
    __m512 acc[2][7];
    float tmp[2][7][16];
    WN_UNROLL16 for (int t = 0; t < T; t++) acc[0][t] = acc[1][t] = _mm512_setzero_ps();
    for (int64_t ci = 0; ci < cin; ci++) {
        const float *vp = v + ci * ts;
        __m512 w0 = _mm512_loadu_ps(u + ci * WN_CV), w1 = _mm512_loadu_ps(u + ci * WN_CV + 16);
        WN_UNROLL16 for (int t = 0; t < T; t++)
        {
            __m512 x = _mm512_set1_ps(vp[t]);
            acc[0][t] = _mm512_fmadd_ps(x, w0, acc[0][t]);
            acc[1][t] = _mm512_fmadd_ps(x, w1, acc[1][t]);
        }
    }
    WN_UNROLL16 for (int t = 0; t < T; t++)
    {
        _mm512_storeu_ps(tmp[0][t], acc[0][t]);
        _mm512_storeu_ps(tmp[1][t], acc[1][t]);
    }
    for (int j = 0; j < 2; j++)
        for (int q = 0; q < 16; q++)
            for (int t = 0; t < T; t++) m[(16 * j + q) * mq + t] = tmp[j][t][q];
}

/* The products of the WN_CV channels of u ([ci][WN_CV]) for the nt tiles of v, m[q * mq + t]
 * (mq > nt) */
static WN_TGT void wn_gemm_cv(const float *u, const float *v, int64_t ts, int64_t cin, int64_t nt,
                              float *m, int64_t mq)
{
    int64_t t = 0;
    if (nt % 8 && nt % 7 == 0) { /* 7 x 7 tiles of a 13x13 or 14x14 plane: blocks of 7 */
        wn_cv8(u, v, ts, cin, m, mq, 1, 7);
        for (t = 7; t < nt; t += 7) wn_cv8(u, v + t, ts, cin, m + t, mq, 0, 7);
        return;
    }
    if (nt >= 8) wn_cv8(u, v, ts, cin, m, mq, 1, 8);
    for (t = 8; nt - t >= 8; t += 8) wn_cv8(u, v + t, ts, cin, m + t, mq, 0, 8);
    if (nt < 8) t = 0;
    switch (nt - t) {
    case 1: wn_cvr(u, v + t, ts, cin, m + t, mq, 1); break;
    case 2: wn_cvr(u, v + t, ts, cin, m + t, mq, 2); break;
    case 3: wn_cvr(u, v + t, ts, cin, m + t, mq, 3); break;
    case 4: wn_cvr(u, v + t, ts, cin, m + t, mq, 4); break;
    case 5: wn_cvr(u, v + t, ts, cin, m + t, mq, 5); break;
    case 6: wn_cvr(u, v + t, ts, cin, m + t, mq, 6); break;
    case 7: wn_cvr(u, v + t, ts, cin, m + t, mq, 7); break;
    default: break;
    }
}

/* Padded input row d[0, rw): x[q - pl] where 0 <= q - pl < W, else 0 (all 0 for x NULL). */
static WN_TGT void wn_fill(const float *x, int64_t W, int64_t pl, float *d, int64_t rw)
{
    for (int64_t q = 0; q < rw; q += 16) {
        int64_t a = pl - q, b = pl + W - q; /* lanes [a, b) come from x */
        __mmask16 mk = (__mmask16)(wn_mask(b) & ~wn_mask(a));
        _mm512_storeu_ps(d + q,
                         x && mk ? _mm512_maskz_loadu_ps(mk, x + (q - pl)) : _mm512_setzero_ps());
    }
}

/* V = B^T d B for the tw tiles of one tile row: r0 + i * rw are its 4 padded input rows (tile t
 * reads columns 2t .. 2t+3); plane xi of the result goes to v + xi * vs. */
static WN_TGT void wn_in_row(const float *r0, int64_t rw, int64_t tw, float *v, int64_t vs)
{
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (int64_t t = 0; t < tw; t += 16) {
        __mmask16 mk = wn_mask(tw - t);
        __m512 a[4][4];
        WN_UNROLL for (int i = 0; i < 4; i++)
        { /* d[i][0..3] for 16 tiles, then B^T along the row */
            const float *p = r0 + i * rw + 2 * t;
            __m512 l0 = _mm512_loadu_ps(p), h0 = _mm512_loadu_ps(p + 16);
            __m512 l2 = _mm512_loadu_ps(p + 2), h2 = _mm512_loadu_ps(p + 18);
            __m512 d0 = _mm512_permutex2var_ps(l0, ev, h0), d1 = _mm512_permutex2var_ps(l0, od, h0);
            __m512 d2 = _mm512_permutex2var_ps(l2, ev, h2), d3 = _mm512_permutex2var_ps(l2, od, h2);
            a[i][0] = _mm512_sub_ps(d0, d2);
            a[i][1] = _mm512_add_ps(d1, d2);
            a[i][2] = _mm512_sub_ps(d2, d1);
            a[i][3] = _mm512_sub_ps(d1, d3);
        }
        WN_UNROLL for (int j = 0; j < 4; j++)
        { /* B^T down the columns */
            _mm512_mask_storeu_ps(v + (0 + j) * vs + t, mk, _mm512_sub_ps(a[0][j], a[2][j]));
            _mm512_mask_storeu_ps(v + (4 + j) * vs + t, mk, _mm512_add_ps(a[1][j], a[2][j]));
            _mm512_mask_storeu_ps(v + (8 + j) * vs + t, mk, _mm512_sub_ps(a[2][j], a[1][j]));
            _mm512_mask_storeu_ps(v + (12 + j) * vs + t, mk, _mm512_sub_ps(a[1][j], a[3][j]));
        }
    }
}

/* The first half of Y = A^T m A for up to 16 tiles (mask mk): p[i][c] = column c of A^T along
 * row i of the 4x4 plane grid of m (plane xi at m + xi * ms). */
static inline WN_TGT void wn_at_rows(const float *m, int64_t ms, __mmask16 mk, __m512 p[4][2])
{
    WN_UNROLL for (int i = 0; i < 4; i++)
    {
        const float *mi = m + i * 4 * ms;
        __m512 m0 = _mm512_maskz_loadu_ps(mk, mi), m1 = _mm512_maskz_loadu_ps(mk, mi + ms);
        __m512 m2 = _mm512_maskz_loadu_ps(mk, mi + 2 * ms);
        __m512 m3 = _mm512_maskz_loadu_ps(mk, mi + 3 * ms);
        p[i][0] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
        p[i][1] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
    }
}

/* The second half for output row r of the tile: its even (y0) and odd (y1) columns, plus the
 * bias *b unless NULL, then relu (clears values with the sign bit set, as mk_relu does). */
static inline WN_TGT void wn_at_cols(__m512 p[4][2], int r, const float *b, int relu, __m512 *y0,
                                     __m512 *y1)
{
    __m512 a = r ? _mm512_sub_ps(_mm512_sub_ps(p[1][0], p[2][0]), p[3][0])
                 : _mm512_add_ps(_mm512_add_ps(p[0][0], p[1][0]), p[2][0]);
    __m512 c = r ? _mm512_sub_ps(_mm512_sub_ps(p[1][1], p[2][1]), p[3][1])
                 : _mm512_add_ps(_mm512_add_ps(p[0][1], p[1][1]), p[2][1]);
    if (b) {
        a = _mm512_add_ps(a, _mm512_set1_ps(*b));
        c = _mm512_add_ps(c, _mm512_set1_ps(*b));
    }
    if (relu) {
        a = _mm512_castsi512_ps(_mm512_andnot_si512(_mm512_srai_epi32(_mm512_castps_si512(a), 31),
                                                    _mm512_castps_si512(a)));
        c = _mm512_castsi512_ps(_mm512_andnot_si512(_mm512_srai_epi32(_mm512_castps_si512(c), 31),
                                                    _mm512_castps_si512(c)));
    }
    *y0 = a, *y1 = c;
}

/* Y = A^T m A (+ bias *b unless NULL, then relu if relu) for the tw tiles of one tile row
 * (plane xi of m at m + xi * ms), into output rows o0 and o1 (o1 NULL past the last output
 * row), columns below ow. */
static inline WN_TGT void wn_out_row(const float *m, int64_t ms, int64_t tw, float *o0, float *o1,
                                     int64_t ow, const float *b, int relu)
{
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi =
        _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    for (int64_t t = 0; t < tw; t += 16) {
        __mmask16 mk = wn_mask(tw - t);
        __m512 p[4][2];
        wn_at_rows(m + t, ms, mk, p);
        __mmask16 k0 = wn_mask(ow - 2 * t), k1 = wn_mask(ow - 2 * t - 16);
        WN_UNROLL for (int r = 0; r < 2; r++)
        {
            float *o = r ? o1 : o0;
            if (!o) break;
            __m512 y0, y1;
            wn_at_cols(p, r, b, relu, &y0, &y1);
            _mm512_mask_storeu_ps(o + 2 * t, k0, _mm512_permutex2var_ps(y0, lo, y1));
            _mm512_mask_storeu_ps(o + 2 * t + 16, k1, _mm512_permutex2var_ps(y0, hi, y1));
        }
    }
}

/* wn_out_row for two tile rows of tw <= 8 tiles at once (lanes 0..tw-1 and tw..2tw-1 of m),
 * into output rows o[0..3] (NULL past the last output row; o[0] is not), ow <= 2 tw columns. */
static inline WN_TGT void wn_out_row2(const float *m, int64_t ms, int64_t tw, float *const o[4],
                                      int64_t ow, const float *b, int relu)
{
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    /* lane j of the second tile row's output: tile tw + j / 2, even (y0) or odd (y1) column */
    __m512i hi = _mm512_add_epi32(
        _mm512_srli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                          1),
        _mm512_set1_epi32((int)tw));
    hi = _mm512_or_si512(hi,
                         _mm512_setr_epi32(0, 16, 0, 16, 0, 16, 0, 16, 0, 16, 0, 16, 0, 16, 0, 16));
    __mmask16 mk = wn_mask(2 * tw), ko = wn_mask(ow);
    __m512 p[4][2];
    wn_at_rows(m, ms, mk, p);
    WN_UNROLL for (int r = 0; r < 2; r++)
    {
        __m512 y0, y1;
        wn_at_cols(p, r, b, relu, &y0, &y1);
        if (o[r]) _mm512_mask_storeu_ps(o[r], ko, _mm512_permutex2var_ps(y0, lo, y1));
        if (o[2 + r]) _mm512_mask_storeu_ps(o[2 + r], ko, _mm512_permutex2var_ps(y0, hi, y1));
    }
}

/* The output transform of chunk tiles [t0, t1) (chunk-local, tile row ty0 first) for the nq
 * channels of block b from their products m (plane xi at m + xi * J->ms, channel q at
 * + q * J->mq, tile t at + t - t0); oc: the block's first output channel plane. */
static WN_TGT void wn_outs(const wn_job *J, const float *m, int64_t t0, int64_t t1, int64_t ty0,
                           int64_t b, int64_t nq, float *oc)
{
    const mk_cdirect *c = J->c;
    int64_t on = J->OH * J->OW, ty = t0 / J->tw;
    if (J->cv && J->tw <= 8) /* whole tile rows (t0 = 0), two per vector */
        for (; (ty + 2) * J->tw <= t1; ty += 2) {
            int64_t oy = 2 * (ty0 + ty);
            for (int64_t q = 0; q < nq; q++) {
                float *o = oc + q * on + oy * J->OW;
                float *const r[4] = {o, oy + 1 < J->OH ? o + J->OW : NULL,
                                     oy + 2 < J->OH ? o + 2 * J->OW : NULL,
                                     oy + 3 < J->OH ? o + 3 * J->OW : NULL};
                wn_out_row2(m + q * J->mq + ty * J->tw, J->ms, J->tw, r, J->OW,
                            c->bias ? c->bias + b * J->cb + q : NULL, J->relu);
            }
        }
    for (; ty * J->tw < t1; ty++) { /* tile rows (chunk-local) */
        int64_t a = ty * J->tw > t0 ? ty * J->tw : t0;
        int64_t e = (ty + 1) * J->tw < t1 ? (ty + 1) * J->tw : t1, tx = a - ty * J->tw;
        int64_t oy = 2 * (ty0 + ty);
        for (int64_t q = 0; q < nq; q++) {
            float *o = oc + q * on + oy * J->OW + 2 * tx;
            wn_out_row(m + q * J->mq + (a - t0), J->ms, e - a, o, oy + 1 < J->OH ? o + J->OW : NULL,
                       J->OW - 2 * tx, c->bias ? c->bias + b * J->cb + q : NULL, J->relu);
        }
    }
}

/* F(4x4,3x3): each 4x4 block of outputs comes from a 6x6 input patch (columns 4t .. 4t+5 of
 * tile t), 36 planes of products per 16 outputs instead of 16 per 4 (1.78x fewer multiply-adds
 * than F(2x2,3x3) on large planes). B^T for the points 0, 1, -1, 2, -2 and infinity, applied to
 * d0..d5 in one fixed order (fma with exact constants): */
static inline __attribute__((always_inline)) WN_TGT void
wn4_bt(__m512 d0, __m512 d1, __m512 d2, __m512 d3, __m512 d4, __m512 d5, __m512 o[6])
{
    const __m512 c2 = _mm512_set1_ps(2), c4 = _mm512_set1_ps(4), c5 = _mm512_set1_ps(5);
    __m512 s = _mm512_sub_ps(d3, d1), e = _mm512_sub_ps(d4, d2);
    o[0] = _mm512_fmadd_ps(c4, d0, _mm512_fnmadd_ps(c5, d2, d4));
    o[1] = _mm512_fnmadd_ps(c4, _mm512_add_ps(d1, d2), _mm512_add_ps(d3, d4));
    o[2] = _mm512_fmadd_ps(c4, _mm512_sub_ps(d1, d2), _mm512_sub_ps(d4, d3));
    o[3] = _mm512_fmadd_ps(c2, s, e);
    o[4] = _mm512_fnmadd_ps(c2, s, e);
    o[5] = _mm512_fmadd_ps(c4, d1, _mm512_fnmadd_ps(c5, d3, d5));
}

/* B^T along one padded input row d (16 tiles per vector, tile t's columns 4t .. 4t+5): h[j * hs
 * + t] for j < 6; d must hold 4 * up16(tw) + 2 floats. */
static WN_TGT void wn4_in_h(const float *d, int64_t tw, float *h, int64_t hs)
{
    const __m512i i0 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0);
    for (int64_t t = 0; t < tw; t += 16) {
        const float *p = d + 4 * t;
        __m512 a0 = _mm512_loadu_ps(p), a1 = _mm512_loadu_ps(p + 16);
        __m512 a2 = _mm512_loadu_ps(p + 32), a3 = _mm512_loadu_ps(p + 48);
        __m512 c[4];
        WN_UNROLL for (int j = 0; j < 4; j++)
        { /* columns 4i + j: the first 8 tiles from a0:a1, the last 8 from a2:a3 */
            __m512i ij = _mm512_add_epi32(i0, _mm512_set1_epi32(j));
            __m512 lo = _mm512_permutex2var_ps(a0, ij, a1), hi = _mm512_permutex2var_ps(a2, ij, a3);
            c[j] = _mm512_shuffle_f32x4(lo, hi, 0x44);
        }
        /* columns 4i + 4 and 4i + 5: the next tile's first two */
        __m512 c4 = _mm512_castsi512_ps(_mm512_alignr_epi32(
            _mm512_castps_si512(_mm512_set1_ps(p[64])), _mm512_castps_si512(c[0]), 1));
        __m512 c5 = _mm512_castsi512_ps(_mm512_alignr_epi32(
            _mm512_castps_si512(_mm512_set1_ps(p[65])), _mm512_castps_si512(c[1]), 1));
        __m512 o[6];
        wn4_bt(c[0], c[1], c[2], c[3], c4, c5, o);
        WN_UNROLL for (int j = 0; j < 6; j++) _mm512_storeu_ps(h + j * hs + t, o[j]);
    }
}

/* B^T down the columns of one tile row: r0 + i * rs (i < 6) are its 6 input rows after wn4_in_h
 * (column j of the patch at + j * hs); plane 6 i + j of the result to v + (6 i + j) * vs. */
static WN_TGT void wn4_in_v(const float *r0, int64_t rs, int64_t hs, int64_t tw, float *v,
                            int64_t vs)
{
    for (int64_t t = 0; t < tw; t += 16) {
        __mmask16 mk = wn_mask(tw - t);
        WN_UNROLL for (int j = 0; j < 6; j++)
        {
            const float *p = r0 + j * hs + t;
            __m512 o[6];
            wn4_bt(_mm512_loadu_ps(p), _mm512_loadu_ps(p + rs), _mm512_loadu_ps(p + 2 * rs),
                   _mm512_loadu_ps(p + 3 * rs), _mm512_loadu_ps(p + 4 * rs),
                   _mm512_loadu_ps(p + 5 * rs), o);
            WN_UNROLL for (int i = 0; i < 6; i++)
                _mm512_mask_storeu_ps(v + (6 * i + j) * vs + t, mk, o[i]);
        }
    }
}

/* A^T for 6 values (rows 1, 1, 1, 1, 1, 0 / 0, 1, -1, 2, -2, 0 / 0, 1, 1, 4, 4, 0 /
 * 0, 1, -1, 8, -8, 1) in one fixed order */
static inline __attribute__((always_inline)) WN_TGT void
wn4_at(__m512 m0, __m512 m1, __m512 m2, __m512 m3, __m512 m4, __m512 m5, __m512 y[4])
{
    __m512 s12 = _mm512_add_ps(m1, m2), d12 = _mm512_sub_ps(m1, m2);
    __m512 s34 = _mm512_add_ps(m3, m4), d34 = _mm512_sub_ps(m3, m4);
    y[0] = _mm512_add_ps(_mm512_add_ps(m0, s12), s34);
    y[1] = _mm512_fmadd_ps(_mm512_set1_ps(2), d34, d12);
    y[2] = _mm512_fmadd_ps(_mm512_set1_ps(4), s34, s12);
    y[3] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8), d34, d12), m5);
}

/* The first half of Y = A^T m A for up to 16 tiles (mask mk): A^T down the columns of the 6x6
 * plane grid of m (plane xi at m + xi * ms), p[r][j] for output row r and column j. */
static inline __attribute__((always_inline)) WN_TGT void wn4_at_cols(const float *m, int64_t ms,
                                                                     __mmask16 mk, __m512 p[4][6])
{
    WN_UNROLL for (int j = 0; j < 6; j++)
    {
        const float *mj = m + j * ms;
        __m512 r[4];
        wn4_at(_mm512_maskz_loadu_ps(mk, mj), _mm512_maskz_loadu_ps(mk, mj + 6 * ms),
               _mm512_maskz_loadu_ps(mk, mj + 12 * ms), _mm512_maskz_loadu_ps(mk, mj + 18 * ms),
               _mm512_maskz_loadu_ps(mk, mj + 24 * ms), _mm512_maskz_loadu_ps(mk, mj + 30 * ms), r);
        WN_UNROLL for (int k = 0; k < 4; k++) p[k][j] = r[k];
    }
}

/* The second half for one output row: A^T along p (6 columns) into its 4 columns y, plus the
 * bias *b unless NULL, then relu (clears values with the sign bit set, as mk_relu does). */
static inline __attribute__((always_inline)) WN_TGT void
wn4_at_row(const __m512 p[6], const float *b, int relu, __m512 y[4])
{
    wn4_at(p[0], p[1], p[2], p[3], p[4], p[5], y);
    WN_UNROLL for (int c = 0; c < 4; c++)
    {
        if (b) y[c] = _mm512_add_ps(y[c], _mm512_set1_ps(*b));
        if (relu)
            y[c] = _mm512_castsi512_ps(_mm512_andnot_si512(
                _mm512_srai_epi32(_mm512_castps_si512(y[c]), 31), _mm512_castps_si512(y[c])));
    }
}

/* Y = A^T m A (+ bias *b unless NULL, then relu if relu) for the tw tiles of one tile row (plane
 * xi of m at m + xi * ms), into output rows o[0..3] (NULL past the last output row; o[0] is
 * not), columns below ow. */
static WN_TGT void wn4_out_row(const float *m, int64_t ms, int64_t tw, float *const o[4],
                               int64_t ow, const float *b, int relu)
{
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi =
        _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    for (int64_t t = 0; t < tw; t += 16) {
        __m512 p[4][6];
        wn4_at_cols(m + t, ms, wn_mask(tw - t), p);
        WN_UNROLL for (int r = 0; r < 4; r++)
        {
            if (!o[r]) break;
            __m512 y[4];
            wn4_at_row(p[r], b, relu, y);
            /* columns 4t + c: interleave c = 0, 2 and 1, 3, then the pairs */
            __m512 e02l = _mm512_permutex2var_ps(y[0], lo, y[2]);
            __m512 e02h = _mm512_permutex2var_ps(y[0], hi, y[2]);
            __m512 e13l = _mm512_permutex2var_ps(y[1], lo, y[3]);
            __m512 e13h = _mm512_permutex2var_ps(y[1], hi, y[3]);
            float *q = o[r] + 4 * t;
            int64_t n = ow - 4 * t;
            _mm512_mask_storeu_ps(q, wn_mask(n), _mm512_permutex2var_ps(e02l, lo, e13l));
            _mm512_mask_storeu_ps(q + 16, wn_mask(n - 16), _mm512_permutex2var_ps(e02l, hi, e13l));
            _mm512_mask_storeu_ps(q + 32, wn_mask(n - 32), _mm512_permutex2var_ps(e02h, lo, e13h));
            _mm512_mask_storeu_ps(q + 48, wn_mask(n - 48), _mm512_permutex2var_ps(e02h, hi, e13h));
        }
    }
}

/* wn4_out_row for R (2 or 4) tile rows of tw <= 16 / R tiles at once (lanes g tw .. g tw + tw - 1
 * of m for row g), into output rows o[0..4R-1] (NULL past the last output row; o[0] is not),
 * ow <= 4 tw columns. */
static inline __attribute__((always_inline)) WN_TGT void
wn4_out_rows(const float *m, int64_t ms, int64_t tw, float *const o[16], int64_t ow, const float *b,
             int relu, const int R)
{
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi =
        _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    __mmask16 k0 = wn_mask(ow), k1 = wn_mask(ow - 16);
    __m512 p[4][6];
    wn4_at_cols(m, ms, wn_mask(R * tw), p);
    WN_UNROLL for (int r = 0; r < 4; r++)
    {
        __m512 y[4];
        wn4_at_row(p[r], b, relu, y);
        WN_UNROLL for (int g = 0; g < R; g++)
        {
            if (!o[4 * g + r]) break;
            /* lane j: tile g tw + j / 2 of y0 (even j) or y2 (odd j), as lo for g = 0 (indices
             * past lane 7 wrap: only tiles below tw are stored) */
            __m512i ig = _mm512_add_epi32(lo, _mm512_set1_epi32((int)(g * tw)));
            __m512 e02 = _mm512_permutex2var_ps(y[0], ig, y[2]);
            __m512 e13 = _mm512_permutex2var_ps(y[1], ig, y[3]);
            _mm512_mask_storeu_ps(o[4 * g + r], k0, _mm512_permutex2var_ps(e02, lo, e13));
            if (R == 2)
                _mm512_mask_storeu_ps(o[4 * g + r] + 16, k1, _mm512_permutex2var_ps(e02, hi, e13));
        }
    }
}

static WN_TGT void wn4_out_row2(const float *m, int64_t ms, int64_t tw, float *const o[16],
                                int64_t ow, const float *b, int relu)
{
    wn4_out_rows(m, ms, tw, o, ow, b, relu, 2);
}

static WN_TGT void wn4_out_row4(const float *m, int64_t ms, int64_t tw, float *const o[16],
                                int64_t ow, const float *b, int relu)
{
    wn4_out_rows(m, ms, tw, o, ow, b, relu, 4);
}

/* wn_outs for F(4x4,3x3) */
static WN_TGT void wn4_outs(const wn_job *J, const float *m, int64_t t0, int64_t t1, int64_t ty0,
                            int64_t b, int64_t nq, float *oc)
{
    const mk_cdirect *c = J->c;
    int64_t on = J->OH * J->OW, ty = t0 / J->tw;
    for (int R = 4; R >= 2 && J->cv; R /= 2) /* whole tile rows (t0 = 0), R per vector */
        for (; R * J->tw <= 16 && (ty + R) * J->tw <= t1; ty += R) {
            int64_t oy = 4 * (ty0 + ty);
            for (int64_t q = 0; q < nq; q++) {
                float *o = oc + q * on + oy * J->OW, *r[16];
                for (int k = 0; k < 16; k++) r[k] = oy + k < J->OH ? o + k * J->OW : NULL;
                (R == 4 ? wn4_out_row4
                        : wn4_out_row2)(m + q * J->mq + ty * J->tw, J->ms, J->tw, r, J->OW,
                                        c->bias ? c->bias + b * J->cb + q : NULL, J->relu);
            }
        }
    for (; ty * J->tw < t1; ty++) {
        int64_t a = ty * J->tw > t0 ? ty * J->tw : t0;
        int64_t e = (ty + 1) * J->tw < t1 ? (ty + 1) * J->tw : t1, tx = a - ty * J->tw;
        int64_t oy = 4 * (ty0 + ty);
        for (int64_t q = 0; q < nq; q++) {
            float *o = oc + q * on + oy * J->OW + 4 * tx;
            float *const r[4] = {o, oy + 1 < J->OH ? o + J->OW : NULL,
                                 oy + 2 < J->OH ? o + 2 * J->OW : NULL,
                                 oy + 3 < J->OH ? o + 3 * J->OW : NULL};
            wn4_out_row(m + q * J->mq + (a - t0), J->ms, e - a, r, J->OW - 4 * tx,
                        c->bias ? c->bias + b * J->cb + q : NULL, J->relu);
        }
    }
}

/* wn_chunk for F(4x4,3x3): per input channel, each padded input row once through B^T along the
 * row (rows 4 apart overlap by 2: shared by two tile rows), then down the columns per tile row. */
static WN_TGT void wn4_chunk(void *ctx, int64_t i, int tid)
{
    const wn_job *J = ctx;
    const mk_cdirect *c = J->c;
    int64_t cg = i % J->ncg, rb = (i / J->ncg) % J->nrb, n = i / (J->ncg * J->nrb);
    int64_t ty0 = rb * J->rows, ty1 = ty0 + J->rows < J->th ? ty0 + J->rows : J->th;
    int64_t nt = (ty1 - ty0) * J->tw, ntp = up16(nt), cin = c->cig, ts = J->ts;
    float *v = mk_par_scratch((mk_kctx *)J->k, tid), *m = v + J->v_n, *d = m + J->m_n;
    float *h = d + J->rw;
    int64_t hs = up16(J->tw), rs = 6 * hs;
    const float *x = c->x + n * cin * J->H * J->W;
    int64_t nr = 4 * (ty1 - ty0) + 2;
    for (int64_t ci = 0; ci < cin; ci++) {
        const float *xc = x + ci * J->H * J->W;
        float *vc = v + ci * ts;
        for (int64_t a = 0; a < nr; a++) {
            int64_t y = 4 * ty0 - J->pt + a;
            wn_fill(y >= 0 && y < J->H ? xc + y * J->W : NULL, J->W, J->pl, d, J->rw);
            wn4_in_h(d, J->tw, h + a * rs, hs);
        }
        for (int64_t ty = ty0; ty < ty1; ty++)
            wn4_in_v(h + 4 * (ty - ty0) * rs, rs, hs, J->tw, vc + (ty - ty0) * J->tw, J->vs);
        for (int xi = 0; xi < 36 && ntp > nt; xi++) /* the lanes past the last tile */
            memset(vc + xi * J->vs + nt, 0, (size_t)(ntp - nt) * 4);
    }
    int64_t b1 = (cg + 1) * J->cbg < J->ncb ? (cg + 1) * J->cbg : J->ncb;
    int64_t oy0 = 4 * ty0, oy1 = 4 * ty1 < J->OH ? 4 * ty1 : J->OH, on = J->OH * J->OW;
    for (int64_t b = cg * J->cbg; b < b1; b++) {
        int64_t nq = c->cog - b * J->cb < J->cb ? c->cog - b * J->cb : J->cb;
        float *oc = c->out + (n * c->cog + b * J->cb) * on;
        if (J->cv) {
            for (int xi = 0; xi < 36; xi++)
                wn_gemm_cv(J->u + wn_uoff(J, xi, b), v + xi * J->vs, ts, cin, nt, m + xi * J->ms,
                           J->mq);
            wn4_outs(J, m, 0, nt, ty0, b, nq, oc);
        }
        for (int64_t t0 = 0; t0 < nt && !J->cv; t0 += J->mq) {
            int64_t tn = ntp - t0 < J->mq ? ntp - t0 : J->mq, t1 = t0 + tn < nt ? t0 + tn : nt;
            for (int xi = 0; xi < 36; xi++)
                wn_gemm(J->u + wn_uoff(J, xi, b), v + xi * J->vs + t0, ts, cin, tn, m + xi * J->ms,
                        J->mq);
            wn4_outs(J, m, t0, t1, ty0, b, nq, oc);
        }
        for (int64_t q = 0; q < nq && J->k->epi && !J->relu; q++) /* the other activations */
            mk_epi_apply(J->k->epi, NULL, b * J->cb + q, oc + q * on + oy0 * J->OW,
                         (size_t)((oy1 - oy0) * J->OW));
    }
}
#endif

#ifdef WN_X86
/* The AVX2 + FMA variant (mk_conv_direct_level() == 1): the same algorithm, transforms and
 * chunking with 8-float vectors; tiles padded to multiples of 8, no channel-vector variant.
 * Each output element sums its input channels in the same order as on AVX-512 in its own lane,
 * and the transforms add in the same order: its bits do not depend on the thread count. */
#define WN2_TGT __attribute__((target("avx2,fma")))

/* m[q * mq + t] for t < 8 * V: the sum over ci of u[ci][q] * v[ci * ts + t] for the WN_CB2
 * channels q, ci in order: WN_CB2 x V accumulators (4 x 3, plus 3 tile vectors and a weight:
 * 16 ymm registers). */
static inline __attribute__((always_inline)) WN2_TGT void wn2_gemm_blk(const float *u,
                                                                       const float *v, int64_t ts,
                                                                       int64_t cin, float *m,
                                                                       int64_t mq, const int V)
{
    __m256 acc[WN_CB2][3];
    WN_UNROLL for (int q = 0; q < WN_CB2; q++) WN_UNROLL for (int j = 0; j < V; j++) acc[q][j] =
        _mm256_setzero_ps();
    for (int64_t ci = 0; ci < cin; ci++) {
        const float *vp = v + ci * ts, *up = u + ci * WN_CB2;
        __m256 x[3];
        WN_UNROLL for (int j = 0; j < V; j++) x[j] = _mm256_loadu_ps(vp + 8 * j);
        if (ci + WN_PF2 < cin) { /* every cache line of the row WN_PF2 channels on */
            WN_UNROLL for (int j = 0; j < V; j++)
                _mm_prefetch((const char *)(vp + WN_PF2 * ts + 8 * j), _MM_HINT_T0);
            _mm_prefetch((const char *)(vp + WN_PF2 * ts + 8 * V - 1), _MM_HINT_T0);
        }
        WN_UNROLL for (int q = 0; q < WN_CB2; q++)
        {
            __m256 w = _mm256_broadcast_ss(up + q);
            WN_UNROLL for (int j = 0; j < V; j++) acc[q][j] = _mm256_fmadd_ps(w, x[j], acc[q][j]);
        }
    }
    WN_UNROLL for (int q = 0; q < WN_CB2; q++) WN_UNROLL for (int j = 0; j < V; j++)
        _mm256_storeu_ps(m + q * mq + 8 * j, acc[q][j]);
}

/* The products of the nt tiles (a multiple of 8): blocks of 24 tiles, then 16 or 8. */
static WN2_TGT void wn2_gemm(const float *u, const float *v, int64_t ts, int64_t cin, int64_t nt,
                             float *m, int64_t mq)
{
    int64_t t = 0;
    for (; nt - t >= 24; t += 24) wn2_gemm_blk(u, v + t, ts, cin, m + t, mq, 3);
    if (nt - t == 16) wn2_gemm_blk(u, v + t, ts, cin, m + t, mq, 2);
    if (nt - t == 8) wn2_gemm_blk(u, v + t, ts, cin, m + t, mq, 1);
}

/* Even and odd floats of p[0, 16) */
static inline WN2_TGT void wn2_split(const float *p, __m256 *ev, __m256 *od)
{
    __m256 l = _mm256_loadu_ps(p), h = _mm256_loadu_ps(p + 8);
    *ev = _mm256_castpd_ps(
        _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(l, h, 0x88)), 0xd8));
    *od = _mm256_castpd_ps(
        _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(l, h, 0xdd)), 0xd8));
}

/* wn_in_row with 8 tiles per vector */
static WN2_TGT void wn2_in_row(const float *r0, int64_t rw, int64_t tw, float *v, int64_t vs)
{
    for (int64_t t = 0; t < tw; t += 8) {
        __m256 a[4][4];
        WN_UNROLL for (int i = 0; i < 4; i++)
        {
            const float *p = r0 + i * rw + 2 * t;
            __m256 d0, d1, d2, d3;
            wn2_split(p, &d0, &d1);
            wn2_split(p + 2, &d2, &d3);
            a[i][0] = _mm256_sub_ps(d0, d2);
            a[i][1] = _mm256_add_ps(d1, d2);
            a[i][2] = _mm256_sub_ps(d2, d1);
            a[i][3] = _mm256_sub_ps(d1, d3);
        }
        __m256 y[16];
        WN_UNROLL for (int j = 0; j < 4; j++)
        {
            y[0 + j] = _mm256_sub_ps(a[0][j], a[2][j]);
            y[4 + j] = _mm256_add_ps(a[1][j], a[2][j]);
            y[8 + j] = _mm256_sub_ps(a[2][j], a[1][j]);
            y[12 + j] = _mm256_sub_ps(a[1][j], a[3][j]);
        }
        if (tw - t >= 8) {
            WN_UNROLL16 for (int xi = 0; xi < 16; xi++) _mm256_storeu_ps(v + xi * vs + t, y[xi]);
        } else {
            __m256i mk = mk_lanes8(tw - t);
            WN_UNROLL16 for (int xi = 0; xi < 16; xi++)
                _mm256_maskstore_ps(v + xi * vs + t, mk, y[xi]);
        }
    }
}

/* Y = A^T m A (+ bias *b unless NULL, then relu if relu) for the tw tiles of one tile row, as
 * wn_out_row: the reads of m may run up to 7 floats past the tile row (within the plane). */
static inline WN2_TGT void wn2_out_row(const float *m, int64_t ms, int64_t tw, float *o0, float *o1,
                                       int64_t ow, const float *b, int relu)
{
    for (int64_t t = 0; t < tw; t += 8) {
        __m256 p[4][2];
        WN_UNROLL for (int i = 0; i < 4; i++)
        {
            const float *mi = m + i * 4 * ms + t;
            __m256 m0 = _mm256_loadu_ps(mi), m1 = _mm256_loadu_ps(mi + ms);
            __m256 m2 = _mm256_loadu_ps(mi + 2 * ms), m3 = _mm256_loadu_ps(mi + 3 * ms);
            p[i][0] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
            p[i][1] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
        }
        int64_t n = ow - 2 * t;
        WN_UNROLL for (int r = 0; r < 2; r++)
        {
            float *o = r ? o1 : o0;
            if (!o) break;
            __m256 a = r ? _mm256_sub_ps(_mm256_sub_ps(p[1][0], p[2][0]), p[3][0])
                         : _mm256_add_ps(_mm256_add_ps(p[0][0], p[1][0]), p[2][0]);
            __m256 c = r ? _mm256_sub_ps(_mm256_sub_ps(p[1][1], p[2][1]), p[3][1])
                         : _mm256_add_ps(_mm256_add_ps(p[0][1], p[1][1]), p[2][1]);
            if (b) {
                a = _mm256_add_ps(a, _mm256_set1_ps(*b));
                c = _mm256_add_ps(c, _mm256_set1_ps(*b));
            }
            if (relu) { /* clears values with the sign bit set, as mk_relu does */
                a = _mm256_castsi256_ps(_mm256_andnot_si256(
                    _mm256_srai_epi32(_mm256_castps_si256(a), 31), _mm256_castps_si256(a)));
                c = _mm256_castsi256_ps(_mm256_andnot_si256(
                    _mm256_srai_epi32(_mm256_castps_si256(c), 31), _mm256_castps_si256(c)));
            }
            __m256 lo = _mm256_unpacklo_ps(a, c), hi = _mm256_unpackhi_ps(a, c);
            __m256 y0 = _mm256_permute2f128_ps(lo, hi, 0x20),
                   y1 = _mm256_permute2f128_ps(lo, hi, 0x31);
            if (n >= 16) {
                _mm256_storeu_ps(o + 2 * t, y0);
                _mm256_storeu_ps(o + 2 * t + 8, y1);
            } else {
                _mm256_maskstore_ps(o + 2 * t, mk_lanes8(n), y0);
                _mm256_maskstore_ps(o + 2 * t + 8, mk_lanes8(n - 8), y1);
            }
        }
    }
}

/* wn_outs for the tile layout */
static WN2_TGT void wn2_outs(const wn_job *J, const float *m, int64_t t0, int64_t t1, int64_t ty0,
                             int64_t b, int64_t nq, float *oc)
{
    const mk_cdirect *c = J->c;
    int64_t on = J->OH * J->OW;
    for (int64_t ty = t0 / J->tw; ty * J->tw < t1; ty++) {
        int64_t a = ty * J->tw > t0 ? ty * J->tw : t0;
        int64_t e = (ty + 1) * J->tw < t1 ? (ty + 1) * J->tw : t1, tx = a - ty * J->tw;
        int64_t oy = 2 * (ty0 + ty);
        for (int64_t q = 0; q < nq; q++) {
            float *o = oc + q * on + oy * J->OW + 2 * tx;
            wn2_out_row(m + q * J->mq + (a - t0), J->ms, e - a, o,
                        oy + 1 < J->OH ? o + J->OW : NULL, J->OW - 2 * tx,
                        c->bias ? c->bias + b * J->cb + q : NULL, J->relu);
        }
    }
}

/* wn_chunk for AVX2 */
static WN2_TGT void wn2_chunk(void *ctx, int64_t i, int tid)
{
    const wn_job *J = ctx;
    const mk_cdirect *c = J->c;
    int64_t cg = i % J->ncg, rb = (i / J->ncg) % J->nrb, n = i / (J->ncg * J->nrb);
    int64_t ty0 = rb * J->rows, ty1 = ty0 + J->rows < J->th ? ty0 + J->rows : J->th;
    int64_t nt = (ty1 - ty0) * J->tw, ntp = up8(nt), cin = c->cig, ts = J->ts;
    float *v = mk_par_scratch((mk_kctx *)J->k, tid), *m = v + J->v_n, *rbuf = m + J->m_n;
    const float *x = c->x + n * cin * J->H * J->W;
    int64_t nr = 2 * (ty1 - ty0) + 2;
    for (int64_t ci = 0; ci < cin; ci++) {
        const float *xc = x + ci * J->H * J->W;
        float *vc = v + ci * ts;
        for (int64_t a = 0; a < nr; a++) { /* padded input rows */
            int64_t y = 2 * ty0 - J->pt + a;
            float *d = rbuf + a * J->rw;
            if (y < 0 || y >= J->H) {
                memset(d, 0, (size_t)J->rw * 4);
                continue;
            }
            memset(d, 0, (size_t)J->pl * 4);
            memcpy(d + J->pl, xc + y * J->W, (size_t)J->W * 4);
            memset(d + J->pl + J->W, 0, (size_t)(J->rw - J->pl - J->W) * 4);
        }
        for (int64_t ty = ty0; ty < ty1; ty++)
            wn2_in_row(rbuf + 2 * (ty - ty0) * J->rw, J->rw, J->tw, vc + (ty - ty0) * J->tw, J->vs);
        for (int xi = 0; xi < 16 && ntp > nt; xi++) /* the lanes past the last tile */
            memset(vc + xi * J->vs + nt, 0, (size_t)(ntp - nt) * 4);
    }
    int64_t b1 = (cg + 1) * J->cbg < J->ncb ? (cg + 1) * J->cbg : J->ncb;
    int64_t oy0 = 2 * ty0, oy1 = 2 * ty1 < J->OH ? 2 * ty1 : J->OH, on = J->OH * J->OW;
    for (int64_t b = cg * J->cbg; b < b1; b++) {
        int64_t nq = c->cog - b * J->cb < J->cb ? c->cog - b * J->cb : J->cb;
        float *oc = c->out + (n * c->cog + b * J->cb) * on;
        for (int64_t t0 = 0; t0 < nt; t0 += WN_TB2) {
            int64_t tn = ntp - t0 < WN_TB2 ? ntp - t0 : WN_TB2, t1 = t0 + tn < nt ? t0 + tn : nt;
            for (int xi = 0; xi < 16; xi++)
                wn2_gemm(J->u + wn_uoff(J, xi, b), v + xi * J->vs + t0, ts, cin, tn, m + xi * J->ms,
                         J->mq);
            wn2_outs(J, m, t0, t1, ty0, b, nq, oc);
        }
        for (int64_t q = 0; q < nq && J->k->epi && !J->relu; q++) /* the other activations */
            mk_epi_apply(J->k->epi, NULL, b * J->cb + q, oc + q * on + oy0 * J->OW,
                         (size_t)((oy1 - oy0) * J->OW));
    }
}

/* wn4_bt with 8-float vectors (the same operations per lane) */
static inline __attribute__((always_inline)) WN2_TGT void
wn24_bt(__m256 d0, __m256 d1, __m256 d2, __m256 d3, __m256 d4, __m256 d5, __m256 o[6])
{
    const __m256 c2 = _mm256_set1_ps(2), c4 = _mm256_set1_ps(4), c5 = _mm256_set1_ps(5);
    __m256 s = _mm256_sub_ps(d3, d1), e = _mm256_sub_ps(d4, d2);
    o[0] = _mm256_fmadd_ps(c4, d0, _mm256_fnmadd_ps(c5, d2, d4));
    o[1] = _mm256_fnmadd_ps(c4, _mm256_add_ps(d1, d2), _mm256_add_ps(d3, d4));
    o[2] = _mm256_fmadd_ps(c4, _mm256_sub_ps(d1, d2), _mm256_sub_ps(d4, d3));
    o[3] = _mm256_fmadd_ps(c2, s, e);
    o[4] = _mm256_fnmadd_ps(c2, s, e);
    o[5] = _mm256_fmadd_ps(c4, d1, _mm256_fnmadd_ps(c5, d3, d5));
}

/* wn4_in_h with 8 tiles per vector: their 4 first columns as a 4x4 transpose per 128-bit lane
 * (tiles 0-3 and 4-7), d holding 4 * up8(tw) + 2 floats */
static WN2_TGT void wn24_in_h(const float *d, int64_t tw, float *h, int64_t hs)
{
    const __m256i nx = _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 7);
    for (int64_t t = 0; t < tw; t += 8) {
        const float *p = d + 4 * t;
        __m256 a0 = _mm256_loadu_ps(p), a1 = _mm256_loadu_ps(p + 8);
        __m256 a2 = _mm256_loadu_ps(p + 16), a3 = _mm256_loadu_ps(p + 24);
        __m256 b0 = _mm256_permute2f128_ps(a0, a2, 0x20), b1 = _mm256_permute2f128_ps(a0, a2, 0x31);
        __m256 b2 = _mm256_permute2f128_ps(a1, a3, 0x20), b3 = _mm256_permute2f128_ps(a1, a3, 0x31);
        __m256 u0 = _mm256_unpacklo_ps(b0, b1), u1 = _mm256_unpackhi_ps(b0, b1);
        __m256 u2 = _mm256_unpacklo_ps(b2, b3), u3 = _mm256_unpackhi_ps(b2, b3);
        __m256 c0 = _mm256_shuffle_ps(u0, u2, 0x44), c1 = _mm256_shuffle_ps(u0, u2, 0xee);
        __m256 c2 = _mm256_shuffle_ps(u1, u3, 0x44), c3 = _mm256_shuffle_ps(u1, u3, 0xee);
        /* columns 4i + 4 and 4i + 5: the next tile's first two */
        __m256 c4 = _mm256_blend_ps(_mm256_permutevar8x32_ps(c0, nx), _mm256_set1_ps(p[32]), 0x80);
        __m256 c5 = _mm256_blend_ps(_mm256_permutevar8x32_ps(c1, nx), _mm256_set1_ps(p[33]), 0x80);
        __m256 o[6];
        wn24_bt(c0, c1, c2, c3, c4, c5, o);
        WN_UNROLL for (int j = 0; j < 6; j++) _mm256_storeu_ps(h + j * hs + t, o[j]);
    }
}

/* wn4_in_v with 8 tiles per vector */
static WN2_TGT void wn24_in_v(const float *r0, int64_t rs, int64_t hs, int64_t tw, float *v,
                              int64_t vs)
{
    for (int64_t t = 0; t < tw; t += 8) {
        __m256i mk = mk_lanes8(tw - t);
        WN_UNROLL for (int j = 0; j < 6; j++)
        {
            const float *p = r0 + j * hs + t;
            __m256 o[6];
            wn24_bt(_mm256_loadu_ps(p), _mm256_loadu_ps(p + rs), _mm256_loadu_ps(p + 2 * rs),
                    _mm256_loadu_ps(p + 3 * rs), _mm256_loadu_ps(p + 4 * rs),
                    _mm256_loadu_ps(p + 5 * rs), o);
            WN_UNROLL for (int i = 0; i < 6; i++)
                _mm256_maskstore_ps(v + (6 * i + j) * vs + t, mk, o[i]);
        }
    }
}

/* wn4_at with 8-float vectors */
static inline __attribute__((always_inline)) WN2_TGT void
wn24_at(__m256 m0, __m256 m1, __m256 m2, __m256 m3, __m256 m4, __m256 m5, __m256 y[4])
{
    __m256 s12 = _mm256_add_ps(m1, m2), d12 = _mm256_sub_ps(m1, m2);
    __m256 s34 = _mm256_add_ps(m3, m4), d34 = _mm256_sub_ps(m3, m4);
    y[0] = _mm256_add_ps(_mm256_add_ps(m0, s12), s34);
    y[1] = _mm256_fmadd_ps(_mm256_set1_ps(2), d34, d12);
    y[2] = _mm256_fmadd_ps(_mm256_set1_ps(4), s34, s12);
    y[3] = _mm256_add_ps(_mm256_fmadd_ps(_mm256_set1_ps(8), d34, d12), m5);
}

/* wn4_out_row with 8 tiles per vector (the reads of m may run up to 7 floats past the tile row,
 * within the plane) */
static WN2_TGT void wn24_out_row(const float *m, int64_t ms, int64_t tw, float *const o[4],
                                 int64_t ow, const float *b, int relu)
{
    for (int64_t t = 0; t < tw; t += 8) {
        __m256 p[4][6];
        WN_UNROLL for (int j = 0; j < 6; j++)
        {
            const float *mj = m + j * ms + t;
            __m256 r[4];
            wn24_at(_mm256_loadu_ps(mj), _mm256_loadu_ps(mj + 6 * ms),
                    _mm256_loadu_ps(mj + 12 * ms), _mm256_loadu_ps(mj + 18 * ms),
                    _mm256_loadu_ps(mj + 24 * ms), _mm256_loadu_ps(mj + 30 * ms), r);
            WN_UNROLL for (int k = 0; k < 4; k++) p[k][j] = r[k];
        }
        WN_UNROLL for (int r = 0; r < 4; r++)
        {
            if (!o[r]) break;
            __m256 y[4];
            wn24_at(p[r][0], p[r][1], p[r][2], p[r][3], p[r][4], p[r][5], y);
            WN_UNROLL for (int c = 0; c < 4; c++)
            {
                __m256 a = y[c];
                if (b) a = _mm256_add_ps(a, _mm256_set1_ps(*b));
                if (relu) /* clears values with the sign bit set, as mk_relu does */
                    a = _mm256_castsi256_ps(_mm256_andnot_si256(
                        _mm256_srai_epi32(_mm256_castps_si256(a), 31), _mm256_castps_si256(a)));
                y[c] = a;
            }
            /* columns 4t + c: a 4x4 transpose per 128-bit lane, then the lanes in order */
            __m256 u0 = _mm256_unpacklo_ps(y[0], y[1]), u1 = _mm256_unpackhi_ps(y[0], y[1]);
            __m256 u2 = _mm256_unpacklo_ps(y[2], y[3]), u3 = _mm256_unpackhi_ps(y[2], y[3]);
            __m256 v0 = _mm256_shuffle_ps(u0, u2, 0x44), v1 = _mm256_shuffle_ps(u0, u2, 0xee);
            __m256 v2 = _mm256_shuffle_ps(u1, u3, 0x44), v3 = _mm256_shuffle_ps(u1, u3, 0xee);
            float *q = o[r] + 4 * t;
            int64_t n = ow - 4 * t;
            __m256 s[4] = {
                _mm256_permute2f128_ps(v0, v1, 0x20), _mm256_permute2f128_ps(v2, v3, 0x20),
                _mm256_permute2f128_ps(v0, v1, 0x31), _mm256_permute2f128_ps(v2, v3, 0x31)};
            if (n >= 32) {
                WN_UNROLL for (int k = 0; k < 4; k++) _mm256_storeu_ps(q + 8 * k, s[k]);
            } else {
                WN_UNROLL for (int k = 0; k < 4; k++)
                    _mm256_maskstore_ps(q + 8 * k, mk_lanes8(n - 8 * k), s[k]);
            }
        }
    }
}

/* wn4_outs for AVX2 */
static WN2_TGT void wn24_outs(const wn_job *J, const float *m, int64_t t0, int64_t t1, int64_t ty0,
                              int64_t b, int64_t nq, float *oc)
{
    const mk_cdirect *c = J->c;
    int64_t on = J->OH * J->OW;
    for (int64_t ty = t0 / J->tw; ty * J->tw < t1; ty++) {
        int64_t a = ty * J->tw > t0 ? ty * J->tw : t0;
        int64_t e = (ty + 1) * J->tw < t1 ? (ty + 1) * J->tw : t1, tx = a - ty * J->tw;
        int64_t oy = 4 * (ty0 + ty);
        for (int64_t q = 0; q < nq; q++) {
            float *o = oc + q * on + oy * J->OW + 4 * tx;
            float *const r[4] = {o, oy + 1 < J->OH ? o + J->OW : NULL,
                                 oy + 2 < J->OH ? o + 2 * J->OW : NULL,
                                 oy + 3 < J->OH ? o + 3 * J->OW : NULL};
            wn24_out_row(m + q * J->mq + (a - t0), J->ms, e - a, r, J->OW - 4 * tx,
                         c->bias ? c->bias + b * J->cb + q : NULL, J->relu);
        }
    }
}

/* wn4_chunk for AVX2 (tile layout only) */
static WN2_TGT void wn24_chunk(void *ctx, int64_t i, int tid)
{
    const wn_job *J = ctx;
    const mk_cdirect *c = J->c;
    int64_t cg = i % J->ncg, rb = (i / J->ncg) % J->nrb, n = i / (J->ncg * J->nrb);
    int64_t ty0 = rb * J->rows, ty1 = ty0 + J->rows < J->th ? ty0 + J->rows : J->th;
    int64_t nt = (ty1 - ty0) * J->tw, ntp = up8(nt), cin = c->cig, ts = J->ts;
    float *v = mk_par_scratch((mk_kctx *)J->k, tid), *m = v + J->v_n, *d = m + J->m_n;
    float *h = d + J->rw;
    int64_t hs = up16(J->tw), rs = 6 * hs;
    const float *x = c->x + n * cin * J->H * J->W;
    int64_t nr = 4 * (ty1 - ty0) + 2;
    for (int64_t ci = 0; ci < cin; ci++) {
        const float *xc = x + ci * J->H * J->W;
        float *vc = v + ci * ts;
        for (int64_t a = 0; a < nr; a++) {
            int64_t y = 4 * ty0 - J->pt + a;
            if (y < 0 || y >= J->H) {
                memset(d, 0, (size_t)J->rw * 4);
            } else {
                memset(d, 0, (size_t)J->pl * 4);
                memcpy(d + J->pl, xc + y * J->W, (size_t)J->W * 4);
                memset(d + J->pl + J->W, 0, (size_t)(J->rw - J->pl - J->W) * 4);
            }
            wn24_in_h(d, J->tw, h + a * rs, hs);
        }
        for (int64_t ty = ty0; ty < ty1; ty++)
            wn24_in_v(h + 4 * (ty - ty0) * rs, rs, hs, J->tw, vc + (ty - ty0) * J->tw, J->vs);
        for (int xi = 0; xi < 36 && ntp > nt; xi++) /* the lanes past the last tile */
            memset(vc + xi * J->vs + nt, 0, (size_t)(ntp - nt) * 4);
    }
    int64_t b1 = (cg + 1) * J->cbg < J->ncb ? (cg + 1) * J->cbg : J->ncb;
    int64_t oy0 = 4 * ty0, oy1 = 4 * ty1 < J->OH ? 4 * ty1 : J->OH, on = J->OH * J->OW;
    for (int64_t b = cg * J->cbg; b < b1; b++) {
        int64_t nq = c->cog - b * J->cb < J->cb ? c->cog - b * J->cb : J->cb;
        float *oc = c->out + (n * c->cog + b * J->cb) * on;
        for (int64_t t0 = 0; t0 < nt; t0 += WN_TB2) {
            int64_t tn = ntp - t0 < WN_TB2 ? ntp - t0 : WN_TB2, t1 = t0 + tn < nt ? t0 + tn : nt;
            for (int xi = 0; xi < 36; xi++)
                wn2_gemm(J->u + wn_uoff(J, xi, b), v + xi * J->vs + t0, ts, cin, tn, m + xi * J->ms,
                         J->mq);
            wn24_outs(J, m, t0, t1, ty0, b, nq, oc);
        }
        for (int64_t q = 0; q < nq && J->k->epi && !J->relu; q++) /* the other activations */
            mk_epi_apply(J->k->epi, NULL, b * J->cb + q, oc + q * on + oy0 * J->OW,
                         (size_t)((oy1 - oy0) * J->OW));
    }
}
#endif

static void wn_chunk(void *ctx, int64_t i, int tid)
{
#ifdef WN_X86
    const wn_job *J = ctx;
    const mk_cdirect *c = J->c;
    int64_t cg = i % J->ncg, rb = (i / J->ncg) % J->nrb, n = i / (J->ncg * J->nrb);
    int64_t ty0 = rb * J->rows, ty1 = ty0 + J->rows < J->th ? ty0 + J->rows : J->th;
    int64_t nt = (ty1 - ty0) * J->tw, ntp = up16(nt), cin = c->cig, ts = J->ts;
    float *v = mk_par_scratch((mk_kctx *)J->k, tid), *m = v + J->v_n, *rbuf = m + J->m_n;
    const float *x = c->x + n * cin * J->H * J->W;
    /* V for the chunk's tiles, every input channel, from its padded input rows */
    int64_t nr = 2 * (ty1 - ty0) + 2;
    for (int64_t ci = 0; ci < cin; ci++) {
        const float *xc = x + ci * J->H * J->W;
        float *vc = v + ci * ts;
        for (int64_t a = 0; a < nr; a++) {
            int64_t y = 2 * ty0 - J->pt + a;
            wn_fill(y >= 0 && y < J->H ? xc + y * J->W : NULL, J->W, J->pl, rbuf + a * J->rw,
                    J->rw);
        }
        for (int64_t ty = ty0; ty < ty1; ty++)
            wn_in_row(rbuf + 2 * (ty - ty0) * J->rw, J->rw, J->tw, vc + (ty - ty0) * J->tw, J->vs);
        for (int xi = 0; xi < 16 && ntp > nt; xi++) /* the lanes past the last tile */
            memset(vc + xi * J->vs + nt, 0, (size_t)(ntp - nt) * 4);
    }
    int64_t b1 = (cg + 1) * J->cbg < J->ncb ? (cg + 1) * J->cbg : J->ncb;
    int64_t oy0 = 2 * ty0, oy1 = 2 * ty1 < J->OH ? 2 * ty1 : J->OH, on = J->OH * J->OW;
    for (int64_t b = cg * J->cbg; b < b1; b++) {
        int64_t nq = c->cog - b * J->cb < J->cb ? c->cog - b * J->cb : J->cb;
        float *oc = c->out + (n * c->cog + b * J->cb) * on;
        if (J->cv) { /* all the chunk's tiles at once */
            for (int xi = 0; xi < 16; xi++)
                wn_gemm_cv(J->u + wn_uoff(J, xi, b), v + xi * J->vs, ts, cin, nt, m + xi * J->ms,
                           J->mq);
            wn_outs(J, m, 0, nt, ty0, b, nq, oc);
        }
        /* blocks of WN_TB tiles: their 16 x WN_CB products stay in L1 for the output transform */
        for (int64_t t0 = 0; t0 < nt && !J->cv; t0 += WN_TB) {
            int64_t tn = ntp - t0 < WN_TB ? ntp - t0 : WN_TB, t1 = t0 + tn < nt ? t0 + tn : nt;
            for (int xi = 0; xi < 16; xi++)
                wn_gemm(J->u + wn_uoff(J, xi, b), v + xi * J->vs + t0, ts, cin, tn, m + xi * J->ms,
                        J->mq);
            wn_outs(J, m, t0, t1, ty0, b, nq, oc);
        }
        for (int64_t q = 0; q < nq && J->k->epi && !J->relu; q++) /* the other activations */
            mk_epi_apply(J->k->epi, NULL, b * J->cb + q, oc + q * on + oy0 * J->OW,
                         (size_t)((oy1 - oy0) * J->OW));
    }
#else
    (void)ctx;
    (void)i;
    (void)tid;
#endif
}

int mk_conv_wino_ok(const mk_cdirect *c)
{
    if (wn_on < 0) {
        const char *env = getenv("MILKIT_CONV_WINO"); /* 0: to compare with the direct kernel */
        wn_on = env && !strcmp(env, "0") ? 0 : env && !strcmp(env, "all") ? 2 : 1;
        if (env && !strcmp(env, "tiles")) wn_cv_on = 0; /* without the channel-vector variant */
        if (env && !strcmp(env, "f2")) wn_f4 = 0;       /* F(2x2,3x3) only */
        if (env && !strcmp(env, "f4")) wn_f4 = 2;       /* F(4x4,3x3) for every size */
        env = getenv("MILKIT_CONV_WINO_LEVEL");
        if (env && !strcmp(env, "1")) wn_lvcap = 1;
    }
    int lv = wn_level();
    if (!wn_on || lv < 1 || c->groups != 1) return 0;
    if (c->in[0] != 1 || c->k[0] != 1 || c->o[0] != 1 || c->k[1] != 3 || c->k[2] != 3) return 0;
    for (int j = 1; j < 3; j++)
        if (c->s[j] != 1 || c->d[j] != 1 || c->pb[j] < 0 || c->pb[j] > 2) return 0;
    /* measured with bench/conv_wino (one conv with bias and relu, -j 1, medians of 7 runs):
     * from 16 input and output channels and a 7x7 output plane it beats the direct kernel
     * (0.64-0.97 of its time; 6x6 planes and 8 input channels break even or lose) */
    if (lv >= 2) return c->cig >= 16 && c->cog >= 16 && c->o[1] * c->o[2] >= 49;
    if (wn_on == 2) return 1;
    /* AVX2: measured with bench/conv_wino --all (as above, min and median of 7-9 alternating
     * runs on a shared 2-core AMD EPYC): 0.54-0.94 of the direct kernel's time from 16 channels
     * and 10x10 planes (PP-OCR's 96x24 at 20x20 loses, 1.05-1.2, at 30x30 wins, 0.9) but not
     * with at most 32 input and output channels from 27x27 planes (16x16 56x56, 32x32 27x27,
     * 16x32 40x40: 1.0-1.4, where the direct kernel is at its best), and on 7x7 and 8x8 planes
     * from 64x64 channels (0.64-0.79; 32x64 at 7x7 1.16) */
    int64_t plane = c->o[1] * c->o[2], ci = c->cig, co = c->cog;
    if (ci < 16 || co < 16 || plane < 49 || (ci <= 32 && co <= 32 && plane >= 729)) return 0;
    return plane >= 100 || ci * co >= 4096;
}

int mk_conv_wino_f4(mk_kctx *k, const mk_cdirect *c)
{
    (void)k;
    int lv = wn_level();
    if (!wn_f4 || lv < 1) return 0;
    if (wn_f4 == 2) return 1;
    /* measured with bench/conv_ab (F(2x2) against F(4x4), one conv with bias and relu, -j 1,
     * medians of 5 alternating runs): 0.74-0.95 of F(2x2)'s time from 20x20 output planes whose
     * 4x4 tiles waste at most 10% of their outputs (13x13 wastes 51%, 14x14 31%, 30x30 14%:
     * 1.04-1.9 with one tile row per vector in the output transform; 4x4 tiles below), but not with
     * 4 times more input than output channels (96>24 from 20x20 to 160x160: 1.0-1.25, 40x40 once
     * 0.9) */
    int64_t oh = c->o[1], ow = c->o[2], th = (oh + 3) / 4, tw = (ow + 3) / 4;
    /* 4x4 tiles (13x13 to 16x16 outputs), once the channel-vector variant's output transform
     * took 4 tile rows per vector: 0.66-0.91 with 192 or more output channels in blocks of 32
     * and at most 32768 channel pairs (SqueezeNet's 48>192 and 64>256, also in the model, where
     * the weights are cold), 1.0-1.13 with 64 or fewer, 0.96 for 128>128, 2.05 for 256>256
     * (9.4 MB of transformed weights); 12x12 (9 tiles) 1.12 */
    if (lv >= 2 && th == 4 && tw == 4)
        return c->cog >= 192 && c->cog % 32 == 0 && c->cig * c->cog <= 32768;
    if (lv >= 2) return oh * ow >= 400 && 16 * th * tw * 10 <= 11 * oh * ow && 2 * c->cog >= c->cig;
    /* AVX2 (MILKIT_CONV_WINO_LEVEL=1 on this AVX-512 machine, as above, 7 runs): PP-OCR's 96>24
     * from 80x80 0.71-0.89 (the det model's Winograd convs 17.8 -> 13.2 ms); 13x13 to 16x16 planes
     * with 4096 to 16384 channel pairs 0.72-0.88 alone but not in SqueezeNet (its 2.25x larger
     * transformed weights, cold there), 55x55 and 27x27 0.96-1.04, 12x12 1.18, 7x7 1.9 */
    return oh * ow >= 6400 && c->cig >= 4 * c->cog;
}

mk_status mk_conv_wino(mk_kctx *k, const mk_cdirect *c)
{
    wn_job J = {.k = k, .c = c};
    J.H = c->in[1], J.W = c->in[2], J.OH = c->o[1], J.OW = c->o[2];
    J.pt = c->pb[1], J.pl = c->pb[2];
    J.lv = wn_level() >= 2 ? 2 : 1;
    J.f4 = mk_conv_wino_f4(k, c);
    J.np = J.f4 ? 36 : 16;
    int64_t ot = J.f4 ? 4 : 2; /* outputs per tile side */
    J.th = (J.OH + ot - 1) / ot, J.tw = (J.OW + ot - 1) / ot;
    /* tile rows per chunk: the transformed input of a chunk (np x cin x tiles floats) within
     * about 512 KiB of L2 (any chunking gives the same bits) */
    int64_t want = 8192 * 16 / J.np / c->cig;
    J.rows = want / J.tw < 1 ? 1 : want / J.tw;
    if (J.rows > J.th) J.rows = J.th;
    J.nrb = mk_par_chunks(J.th, J.rows);
    J.rows = mk_par_chunks(J.th, J.nrb); /* the row blocks as even as they go */
    /* one chunk of at most 64 tiles per image: the channel-vector variant where it computes
     * fewer products (counting a tail of 1-3 tiles as 4: fewer independent sums) */
    int64_t nt = J.th * J.tw, r = nt % 8, cv_t = nt - r + (r < 4 && r ? 4 : r);
    J.cv = J.lv == 2 && wn_cv_on && J.nrb == 1 && nt <= 64 &&
           cv_t * mk_par_chunks(c->cog, WN_CV) * WN_CV <
               J.f4 + up16(nt) * mk_par_chunks(c->cog, WN_CB) * WN_CB;
    J.cb = J.cv ? WN_CV : J.lv == 2 ? WN_CB : WN_CB2;
    J.mq = J.cv ? 72 : J.lv == 2 ? WN_TB : WN_TB2;
    J.ms = J.cv ? WN_CV * 72 + 16 : J.lv == 2 ? WN_MS : WN_MS2;
    if (J.f4 && J.cv) { /* a smaller plane of products than 72 (36 planes, in L2) */
        J.mq = up8(nt) + 8;
        J.ms = WN_CV * J.mq + 16;
    } else if (J.f4 && J.lv == 2) {
        J.mq = WN_TB4;
        J.ms = WN_CB * WN_TB4 + 16;
    }
    J.ncb = mk_par_chunks(c->cog, J.cb);
    /* with T threads, T chunks or a multiple, one contiguous share each in the pool: first more
     * row blocks (outside the channel-vector variant, which the row blocks of one thread decide:
     * the same path for any T), then channel groups, which each transform the whole input again
     * (measured 8-22% more work for 4 groups on SqueezeNet's 55x55 to 13x13 planes) */
    int64_t T = mk_par_threads(k), want_chunks = T > 1 ? T : 1;
    if (!J.cv && c->N * J.nrb < want_chunks) {
        J.nrb = mk_par_chunks(want_chunks, c->N);
        if (J.nrb > J.th) J.nrb = J.th;
        J.rows = mk_par_chunks(J.th, J.nrb);
        J.nrb = mk_par_chunks(J.th, J.rows);
    }
    J.ncg = c->N * J.nrb >= want_chunks ? 1 : (want_chunks + c->N * J.nrb - 1) / (c->N * J.nrb);
    if (J.ncg > J.ncb) J.ncg = J.ncb;
    J.cbg = mk_par_chunks(J.ncb, J.ncg);
    J.ncg = mk_par_chunks(J.ncb, J.cbg);
    J.ts = J.lv == 2 ? up16(J.rows * J.tw) : up8(J.rows * J.tw);
    /* planes 64 bytes off a multiple of 4 KiB apart, so that the 16 do not share cache sets */
    J.vs = c->cig * J.ts + 16;
    J.rw = ot * up16(J.tw) + 32; /* a multiple of 16 */
    size_t ub, vb, tb;
    if (!mk_mul_size((size_t)(J.np * J.ncb * J.cb), (size_t)c->cig, &ub) ||
        !mk_mul_size(ub, 4, &ub) || !mk_mul_size((size_t)J.np, (size_t)J.vs, &vb))
        return MK_OOM(k->e);
    J.v_n = vb;
    J.m_n = (size_t)(J.np * J.ms);
    /* F(2x2): the chunk's padded input rows; F(4x4): one padded row and the rows after B^T
     * along them (6 planes of up16(tw) each) */
    size_t rb = J.f4 ? (size_t)(J.rw + (4 * J.rows + 2) * 6 * up16(J.tw))
                     : (size_t)((2 * J.rows + 2) * J.rw);
    if (!mk_add_size(vb, J.m_n + rb, &tb) || !mk_mul_size(tb, 4, &tb)) return MK_OOM(k->e);
    float *u;
    int made = 0;
    if (c->w_const) { /* transformed once per session */
        if (!(u = mk_kcache(k, c->w, ub, &made))) return MK_OOM(k->e);
    } else {
        if (!(u = mk_interp_scratch(k, ub))) return MK_OOM(k->e);
        made = 1;
    }
    if (made) wn_weights(&J, u);
    const mk_epi *ep = k->epi;
    J.relu = ep && ep->n == 1 && !ep->round16 && ep->step[0].kind == MK_EPI_RELU;
    J.u = u;
    mk_status st = mk_par_scratch_reserve(k, tb);
    if (st) return st;
    if (J.cv) __atomic_fetch_add(&wn_cv_runs, 1, __ATOMIC_RELAXED);
#ifdef WN_X86
    mk_par_for(k, c->N * J.nrb * J.ncg,
               J.f4        ? (J.lv == 2 ? wn4_chunk : wn24_chunk)
               : J.lv == 2 ? wn_chunk
                           : wn2_chunk,
               &J);
#else
    mk_par_for(k, c->N * J.nrb * J.ncg, wn_chunk, &J);
#endif
    return MK_OK;
}
