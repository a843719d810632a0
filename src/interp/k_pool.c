/* Pooling kernels: avg_pool, max_pool and l2_pool over 1-3 spatial dims with strides, every
 * pad_type and ceil_mode (the output size comes from type inference). avg_pool divides by the
 * whole kernel (a ceil_mode overhang counts as padding, hazard H17), or by the window clipped
 * to the real input with exclude_padding_from_average. With the source-framework semantics
 * (mk_run_semantics, PyTorch/ONNX) the overhang is not counted; explicit pads still are.
 * max_pool is separable (row maxima in SIMD, then window columns); NaN in a window wins. With
 * AVX-512 (AVX2) it is one pass per output row instead: 16 (8) output columns at a time, each
 * window tap a (strided) vector load, the clipped windows at the row's ends scalar; planes run
 * in parallel. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "k_lanes.h"
#include "k_pool.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define MP_X86 1
#endif

/* max that keeps a NaN from either side (a NaN in the window makes the result NaN) */
static inline float fmaxn(float a, float b)
{
    return a > b || a != a ? a : b;
}

MK_SIMD static void vmax_row(float *restrict tmp, const float *restrict row, size_t n)
{
    MK_VLOOP(n, tmp[i] = fmaxn(row[i], tmp[i]));
}

/* Max pooling of one plane, separably: per output row, the elementwise max of the window's
 * input rows (SIMD) into tmp, then of each window's columns. The same maxima as the direct
 * loops, in another order (max is exact; NaN wins either way). */
static void max_pool_rows(const float *xa, float *op, const int64_t *in, const int64_t *o,
                          int64_t *const *wl, int64_t *const *wh, int64_t k2, int64_t s2,
                          int64_t pb2, float *tmp)
{
    size_t n2 = (size_t)in[2];
    /* output columns whose window lies inside the row: [c0, c1) */
    int64_t c0 = (pb2 + s2 - 1) / s2, c1 = in[2] >= k2 ? (in[2] - k2 + pb2) / s2 + 1 : 0;
    if (c1 > o[2]) c1 = o[2];
    if (c0 > c1) c0 = c1;
    float *h = tmp + n2; /* h[j] = max(tmp[j .. j + k2)) */
    size_t nh = in[2] >= k2 ? (size_t)(in[2] - k2 + 1) : 0;
    for (int64_t o0 = 0; o0 < o[0]; o0++)
        for (int64_t o1 = 0; o1 < o[1]; o1++) {
            float *orow = op + (o0 * o[1] + o1) * o[2];
            int64_t l0 = wl[0][o0], h0 = wh[0][o0], l1 = wl[1][o1], h1 = wh[1][o1];
            if (h0 <= l0 || h1 <= l1) {
                memset(orow, 0, (size_t)o[2] * 4);
                continue;
            }
            memcpy(tmp, xa + (l0 * in[1] + l1) * in[2], n2 * 4);
            for (int64_t i0 = l0; i0 < h0; i0++)
                for (int64_t i1 = i0 == l0 ? l1 + 1 : l1; i1 < h1; i1++)
                    vmax_row(tmp, xa + (i0 * in[1] + i1) * in[2], n2);
            if (c1 > c0) {
                memcpy(h, tmp, nh * 4);
                for (int64_t q = 1; q < k2; q++) vmax_row(h, tmp + q, nh);
                for (int64_t o2 = c0; o2 < c1; o2++) orow[o2] = h[o2 * s2 - pb2];
            }
            for (int64_t o2 = 0; o2 < o[2]; o2++) {
                if (o2 == c0) o2 = c1;
                if (o2 >= o[2]) break;
                int64_t l2 = wl[2][o2], h2 = wh[2][o2];
                float m = -INFINITY;
                for (int64_t i2 = l2; i2 < h2; i2++) m = fmaxn(tmp[i2], m);
                orow[o2] = h2 > l2 ? m : 0;
            }
        }
}

/* Max pooling for narrow planes (short rows make per-row passes slow): h = the horizontal
 * window max over the whole tensor at once (one long SIMD pass per kernel column; entries that
 * straddle two rows are never read), then each output the max of its window's rows in h.
 * Border columns (windows clipped by the row's ends) read x directly. */
static void max_pool_narrow(const float *x, float *out, size_t total, int64_t nc, const int64_t *in,
                            const int64_t *o, int64_t *const *wl, int64_t *const *wh, int64_t k2,
                            int64_t s2, int64_t pb2, float *h)
{
    int64_t in_n = in[0] * in[1] * in[2], o_n = o[0] * o[1] * o[2];
    int64_t c0 = (pb2 + s2 - 1) / s2, c1 = in[2] >= k2 ? (in[2] - k2 + pb2) / s2 + 1 : 0;
    if (c1 > o[2]) c1 = o[2];
    if (c0 > c1) c0 = c1;
    size_t nh = total >= (size_t)k2 ? total - (size_t)k2 + 1 : 0;
    if (c1 > c0) {
        memcpy(h, x, nh * 4);
        for (int64_t q = 1; q < k2; q++) vmax_row(h, x + q, nh);
    }
    for (int64_t p = 0; p < nc; p++)
        for (int64_t o0 = 0; o0 < o[0]; o0++)
            for (int64_t o1 = 0; o1 < o[1]; o1++) {
                float *orow = out + p * o_n + (o0 * o[1] + o1) * o[2];
                int64_t l0 = wl[0][o0], h0 = wh[0][o0], l1 = wl[1][o1], h1 = wh[1][o1];
                for (int64_t o2 = 0; o2 < o[2]; o2++) {
                    int64_t l2 = wl[2][o2], h2 = wh[2][o2];
                    float m = -INFINITY; /* branch-free: max, and NaN noted aside */
                    int nan = 0;
                    if (o2 >= c0 && o2 < c1) {
                        const float *hp = h + p * in_n + o2 * s2 - pb2;
                        for (int64_t i0 = l0; i0 < h0; i0++)
                            for (int64_t i1 = l1; i1 < h1; i1++) {
                                float v = hp[(i0 * in[1] + i1) * in[2]];
                                m = mk_fmax(v, m);
                                nan |= v != v;
                            }
                    } else {
                        const float *xp = x + p * in_n;
                        for (int64_t i0 = l0; i0 < h0; i0++)
                            for (int64_t i1 = l1; i1 < h1; i1++)
                                for (int64_t i2 = l2; i2 < h2; i2++) {
                                    float v = xp[(i0 * in[1] + i1) * in[2] + i2];
                                    m = mk_fmax(v, m);
                                    nan |= v != v;
                                }
                    }
                    orow[o2] = nan ? NAN : h0 > l0 && h1 > l1 && h2 > l2 ? m : 0;
                }
            }
}

static int mp_level = -1; /* -1: not probed yet */
static int mp_cap = 2;

void mk_pool_simd_cap(int level)
{
    mp_cap = level < 0 ? 0 : level > 2 ? 2 : level;
}

/* 2 AVX-512, 1 AVX2, 0 neither (or capped) */
static int mp_simd(void)
{
    if (mp_level < 0) {
        mp_level = 0;
#ifdef MP_X86
        __builtin_cpu_init();
        mp_level = __builtin_cpu_supports("avx512f") ? 2 : __builtin_cpu_supports("avx2") ? 1 : 0;
#endif
    }
    return mp_level < mp_cap ? mp_level : mp_cap;
}

typedef struct mp_job {
    const float *x;
    float *out;
    int64_t in[3], o[3], k2, s2, pb2, c0, c1, per, nc;
    int64_t nb, npc; /* bands of output rows, chunks of planes per band */
    int level;       /* mp_simd() */
    int flat;        /* 2-D: one depth slice and window depth 1 (mp_rows2d) */
    int64_t *const *wl, *const *wh;
} mp_job;

#ifdef MP_X86
#define MP_TGT __attribute__((target("avx512f")))
#define MP_UNROLL _Pragma("GCC unroll 4")
/* Interior output columns [c0, c1) of one output row (every tap inside the input row): per 16
 * columns, the max over the window's input rows r[0..nr) and taps; NaN noted aside and put back
 * at the end (vmaxps drops a NaN in its first operand). Inlined with constant nr, k2, s2 for the
 * common windows, so the loops unroll. */
MP_TGT static inline __attribute__((always_inline)) void mp_vec(const float *const *r, int64_t nr,
                                                                int64_t k2, int64_t s2, int64_t pb2,
                                                                int64_t c0, int64_t c1, float *orow)
{
    const __m512i io = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i ev = _mm512_add_epi32(io, io);
    const __m512i gi = _mm512_mullo_epi32(io, _mm512_set1_epi32((int)s2));
    for (int64_t o2 = c0; o2 < c1; o2 += 16) {
        int64_t n = c1 - o2 < 16 ? c1 - o2 : 16, need = 2 * n - 1;
        __mmask16 m = (__mmask16)(n == 16 ? 0xffffu : (1u << n) - 1);
        __mmask16 ma = (__mmask16)(need >= 16 ? 0xffffu : (1u << need) - 1);
        __mmask16 mb = (__mmask16)(need <= 16 ? 0u : (1u << (need - 16)) - 1);
        __m512 acc = _mm512_set1_ps(-INFINITY);
        __mmask16 nan = 0;
        MP_UNROLL for (int64_t i = 0; i < nr; i++)
        {
            const float *p = r[i] + o2 * s2 - pb2;
            MP_UNROLL for (int64_t q = 0; q < k2; q++)
            {
                __m512 v;
                if (s2 == 1) {
                    v = _mm512_maskz_loadu_ps(m, p + q);
                } else if (s2 == 2) {
                    __m512 a = _mm512_maskz_loadu_ps(ma, p + q),
                           b = _mm512_maskz_loadu_ps(mb, p + q + 16);
                    v = _mm512_permutex2var_ps(a, ev, b);
                } else {
                    v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, gi, p + q, 4);
                }
                nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
                acc = _mm512_max_ps(acc, v);
            }
        }
        acc = _mm512_mask_mov_ps(acc, nan, _mm512_set1_ps(NAN));
        _mm512_mask_storeu_ps(orow + o2, m, acc);
    }
}

/* max(a, b), NaN when either is NaN (vmaxps alone returns b then). */
MP_TGT static inline __m512 mp_smax(__m512 a, __m512 b)
{
    return _mm512_mask_add_ps(_mm512_max_ps(a, b), _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q), a, b);
}

/* The 3x3 stride-2 window (SqueezeNet's, ResNet's pools) separably: per 16 output columns the
 * column maxima of the 3 rows over the 33 input columns (two vectors and one lane), then the
 * maxima of columns 2j, 2j + 1 and 2j + 2 by permutes. Max is exact and NaN sticks: the same
 * values as mp_vec. */
MP_TGT static void mp_3x3s2(const float *const *r, int64_t pb2, int64_t c0, int64_t c1, float *orow)
{
    const __m512i io = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i ev = _mm512_add_epi32(io, io), od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    for (int64_t o2 = c0; o2 < c1; o2 += 16) {
        int64_t n = c1 - o2 < 16 ? c1 - o2 : 16, cols = 2 * n + 1;
        __mmask16 m = (__mmask16)(n == 16 ? 0xffffu : (1u << n) - 1);
        __mmask16 ma = (__mmask16)(cols >= 16 ? 0xffffu : (1u << cols) - 1);
        __mmask16 mb = (__mmask16)(cols <= 16   ? 0u
                                   : cols >= 32 ? 0xffffu
                                                : (1u << (cols - 16)) - 1);
        __mmask16 mc = (__mmask16)(cols > 32);
        const float *p0 = r[0] + o2 * 2 - pb2, *p1 = r[1] + o2 * 2 - pb2, *p2 = r[2] + o2 * 2 - pb2;
        __m512 a0 = _mm512_maskz_loadu_ps(ma, p0), a1 = _mm512_maskz_loadu_ps(ma, p1),
               a2 = _mm512_maskz_loadu_ps(ma, p2), b0 = _mm512_maskz_loadu_ps(mb, p0 + 16),
               b1 = _mm512_maskz_loadu_ps(mb, p1 + 16), b2 = _mm512_maskz_loadu_ps(mb, p2 + 16),
               c0v = _mm512_maskz_loadu_ps(mc, p0 + 32), c1v = _mm512_maskz_loadu_ps(mc, p1 + 32),
               c2v = _mm512_maskz_loadu_ps(mc, p2 + 32);
        /* without a NaN among the 9 vectors vmaxps is the exact max: one op per max instead of
         * mp_smax's three */
        int nan =
            (_mm512_cmp_ps_mask(a0, a1, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(a2, b0, _CMP_UNORD_Q) |
             _mm512_cmp_ps_mask(b1, b2, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(c0v, c1v, _CMP_UNORD_Q) |
             _mm512_cmp_ps_mask(c2v, c2v, _CMP_UNORD_Q)) != 0;
        __m512 va, vb, vc;
        if (!nan) {
            va = _mm512_max_ps(_mm512_max_ps(a0, a1), a2);
            vb = _mm512_max_ps(_mm512_max_ps(b0, b1), b2);
            vc = _mm512_max_ps(_mm512_max_ps(c0v, c1v), c2v);
        } else {
            va = mp_smax(mp_smax(a0, a1), a2);
            vb = mp_smax(mp_smax(b0, b1), b2);
            vc = mp_smax(mp_smax(c0v, c1v), c2v);
        }
        __m512 e0 = _mm512_permutex2var_ps(va, ev, vb), e1 = _mm512_permutex2var_ps(va, od, vb);
        /* columns 2j + 2: e0 one lane on, column 32 from vc */
        __m512 e2 = _mm512_castsi512_ps(
            _mm512_alignr_epi32(_mm512_castps_si512(vc), _mm512_castps_si512(e0), 1));
        __m512 res = nan ? mp_smax(mp_smax(e0, e1), e2) : _mm512_max_ps(_mm512_max_ps(e0, e1), e2);
        _mm512_mask_storeu_ps(orow + o2, m, res);
    }
}

MP_TGT static void mp_row512(const float *const *r, int64_t nr, const mp_job *J, float *orow)
{
    int64_t k2 = J->k2, s2 = J->s2, pb2 = J->pb2, c0 = J->c0, c1 = J->c1;
    if (nr == 3 && k2 == 3 && s2 == 2)
        mp_3x3s2(r, pb2, c0, c1, orow);
    else if (nr == 2 && k2 == 2 && s2 == 2)
        mp_vec(r, 2, 2, 2, pb2, c0, c1, orow);
    else if (nr == 3 && k2 == 3 && s2 == 1)
        mp_vec(r, 3, 3, 1, pb2, c0, c1, orow);
    else
        mp_vec(r, nr, k2, s2, pb2, c0, c1, orow);
}

/* ---- AVX2 (level 1): the same rows, 8 output columns at a time, maskload tails ---- */
#define MP_TGT2 __attribute__((target("avx2")))

/* even lanes of a:b (columns 0, 2, .. 14 of 16) */
MP_TGT2 static inline __m256 mp_even8(__m256 a, __m256 b)
{
    return _mm256_castpd_ps(
        _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xd8));
}

MP_TGT2 static inline __m256 mp_odd8(__m256 a, __m256 b)
{
    return _mm256_castpd_ps(
        _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xdd)), 0xd8));
}

/* max(a, b), NaN when either is NaN (vmaxps returns b when either is NaN) */
MP_TGT2 static inline __m256 mp_smax8(__m256 a, __m256 b)
{
    return _mm256_blendv_ps(_mm256_max_ps(a, b), a, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
}

/* mp_vec in 8 lanes: NaN noted aside and put back at the end */
MP_TGT2 static inline __attribute__((always_inline)) void mp_vec8(const float *const *r, int64_t nr,
                                                                  int64_t k2, int64_t s2,
                                                                  int64_t pb2, int64_t c0,
                                                                  int64_t c1, float *orow)
{
    const __m256i gi =
        _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)s2));
    for (int64_t o2 = c0; o2 < c1; o2 += 8) {
        int64_t n = c1 - o2 < 8 ? c1 - o2 : 8, need = 2 * n - 1;
        __m256i m = mk_lanes8(n), ma = mk_lanes8(need), mb = mk_lanes8(need - 8);
        __m256 acc = _mm256_set1_ps(-INFINITY), nan = _mm256_setzero_ps();
        MP_UNROLL for (int64_t i = 0; i < nr; i++)
        {
            const float *p = r[i] + o2 * s2 - pb2;
            MP_UNROLL for (int64_t q = 0; q < k2; q++)
            {
                __m256 v;
                if (s2 == 1)
                    v = _mm256_maskload_ps(p + q, m);
                else if (s2 == 2)
                    v = mp_even8(_mm256_maskload_ps(p + q, ma), _mm256_maskload_ps(p + q + 8, mb));
                else
                    v = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), p + q, gi,
                                                 _mm256_castsi256_ps(m), 4);
                nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
                acc = _mm256_max_ps(acc, v);
            }
        }
        _mm256_maskstore_ps(orow + o2, m, _mm256_blendv_ps(acc, _mm256_set1_ps(NAN), nan));
    }
}

/* mp_3x3s2 in 8 lanes: column maxima of the 3 rows over the 17 input columns (two vectors and
 * one lane), then the maxima of columns 2j, 2j + 1, 2j + 2 by shuffles. */
MP_TGT2 static void mp_3x3s2_8(const float *const *r, int64_t pb2, int64_t c0, int64_t c1,
                               float *orow)
{
    const __m256i rot = _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 0);
    for (int64_t o2 = c0; o2 < c1; o2 += 8) {
        int64_t n = c1 - o2 < 8 ? c1 - o2 : 8, cols = 2 * n + 1;
        __m256i m = mk_lanes8(n), ma = mk_lanes8(cols), mb = mk_lanes8(cols - 8),
                mc = mk_lanes8(cols - 16);
        const float *p0 = r[0] + o2 * 2 - pb2, *p1 = r[1] + o2 * 2 - pb2, *p2 = r[2] + o2 * 2 - pb2;
        __m256 va = mp_smax8(mp_smax8(_mm256_maskload_ps(p0, ma), _mm256_maskload_ps(p1, ma)),
                             _mm256_maskload_ps(p2, ma));
        __m256 vb =
            mp_smax8(mp_smax8(_mm256_maskload_ps(p0 + 8, mb), _mm256_maskload_ps(p1 + 8, mb)),
                     _mm256_maskload_ps(p2 + 8, mb));
        __m256 vc =
            mp_smax8(mp_smax8(_mm256_maskload_ps(p0 + 16, mc), _mm256_maskload_ps(p1 + 16, mc)),
                     _mm256_maskload_ps(p2 + 16, mc));
        __m256 e0 = mp_even8(va, vb), e1 = mp_odd8(va, vb);
        /* columns 2j + 2: e0 one lane on, column 16 from vc */
        __m256 e2 = _mm256_blend_ps(_mm256_permutevar8x32_ps(e0, rot),
                                    _mm256_broadcastss_ps(_mm256_castps256_ps128(vc)), 0x80);
        _mm256_maskstore_ps(orow + o2, m, mp_smax8(mp_smax8(e0, e1), e2));
    }
}

MP_TGT2 static void mp_row256(const float *const *r, int64_t nr, const mp_job *J, float *orow)
{
    int64_t k2 = J->k2, s2 = J->s2, pb2 = J->pb2, c0 = J->c0, c1 = J->c1;
    if (nr == 3 && k2 == 3 && s2 == 2)
        mp_3x3s2_8(r, pb2, c0, c1, orow);
    else if (nr == 2 && k2 == 2 && s2 == 2)
        mp_vec8(r, 2, 2, 2, pb2, c0, c1, orow);
    else if (nr == 3 && k2 == 3 && s2 == 1)
        mp_vec8(r, 3, 3, 1, pb2, c0, c1, orow);
    else
        mp_vec8(r, nr, k2, s2, pb2, c0, c1, orow);
}
#endif

/* The output columns of a row outside [c0, c1) (their windows clipped by the row's ends), one
 * at a time over the window rows r[0..nr). */
static inline void mp_edges(const mp_job *J, const float *const *r, int64_t nr, float *orow)
{
    int64_t o2n = J->o[2];
    for (int64_t o2 = 0; o2 < o2n; o2++) {
        if (o2 == J->c0) o2 = J->c1;
        if (o2 >= o2n) break;
        int64_t l2 = J->wl[2][o2], h2 = J->wh[2][o2];
        float m = -INFINITY;
        int nan = 0;
        for (int64_t i = 0; i < nr; i++)
            for (int64_t i2 = l2; i2 < h2; i2++) {
                float v = r[i][i2];
                m = mk_fmax(v, m);
                nan |= v != v;
            }
        orow[o2] = nan ? NAN : h2 > l2 ? m : 0;
    }
}

/* One output row from its window rows r[0..nr): the interior columns in SIMD, those whose
 * window the row's ends clip one at a time. */
static inline __attribute__((always_inline)) void mp_row(const mp_job *J, const float *const *r,
                                                         int64_t nr, float *orow)
{
#ifdef MP_X86
    if (J->level == 2)
        mp_row512(r, nr, J, orow);
    else
        mp_row256(r, nr, J, orow);
#endif
    mp_edges(J, r, nr, orow);
}

#ifdef MP_X86
/* Output rows [r0, r1) of plane p of a 2-D max_pool (one depth slice): a window's rows are
 * consecutive input rows, so their pointers step from the plane's start and the next output
 * row's new rows are one run of lines to prefetch. The general loop's per-row bookkeeping was
 * about 170 instructions (callgrind), more than the SIMD row itself on rows of 13-27 columns. */
static void mp_rows2d(const mp_job *J, int64_t p, int64_t r0, int64_t r1)
{
    int64_t in1 = J->in[1], in2 = J->in[2], o1n = J->o[1], o2n = J->o[2];
    const float *xp = J->x + p * in1 * in2;
    float *op = J->out + p * o1n * o2n;
    const int64_t *wl = J->wl[1], *wh = J->wh[1];
    const float *r[64];
    for (int64_t o1 = r0; o1 < r1; o1++) {
        int64_t l1 = wl[o1], nr = wh[o1] - l1;
        float *orow = op + o1 * o2n;
        if (nr <= 0) {
            memset(orow, 0, (size_t)o2n * 4);
            continue;
        }
        if (nr > 64) nr = 64;
        for (int64_t i = 0; i < nr; i++) r[i] = xp + (l1 + i) * in2;
        if (o1 + 1 < o1n && wh[o1 + 1] > wh[o1]) { /* the next row's new input rows */
            const char *a = (const char *)(xp + wh[o1] * in2),
                       *e = (const char *)(xp + wh[o1 + 1] * in2);
            for (; a < e; a += 64) __builtin_prefetch(a);
        }
        mp_row(J, r, nr, orow);
    }
}
#endif

/* Band ci / npc of the output rows of planes [i * per, (i + 1) * per), i = ci % npc, of a
 * max_pool: per output row, the interior columns in SIMD (mp_row512), the columns whose window
 * the row's ends clip one at a time. */
static void mp_chunk(void *ctx, int64_t ci, int tid)
{
    const mp_job *J = ctx;
    const int64_t *in = J->in, *o = J->o;
    int64_t in_n = in[0] * in[1] * in[2], o_n = o[0] * o[1] * o[2];
    int64_t band = ci / J->npc, pc = ci % J->npc;
    int64_t p1 = (pc + 1) * J->per < J->nc ? (pc + 1) * J->per : J->nc;
    int64_t r0 = band * o[1] / J->nb, r1 = (band + 1) * o[1] / J->nb;
    const float *r[64];
    (void)tid;
#ifdef MP_X86
    if (J->flat) {
        for (int64_t p = pc * J->per; p < p1; p++) mp_rows2d(J, p, r0, r1);
        return;
    }
#endif
    for (int64_t p = pc * J->per; p < p1; p++)
        for (int64_t o0 = 0; o0 < o[0]; o0++)
            for (int64_t o1 = r0; o1 < r1; o1++) {
                float *orow = J->out + p * o_n + (o0 * o[1] + o1) * o[2];
                int64_t l0 = J->wl[0][o0], h0 = J->wh[0][o0], l1 = J->wl[1][o1], h1 = J->wh[1][o1];
                if (h0 <= l0 || h1 <= l1) {
                    memset(orow, 0, (size_t)o[2] * 4);
                    continue;
                }
                int64_t nr = 0;
                for (int64_t i0 = l0; i0 < h0; i0++)
                    for (int64_t i1 = l1; i1 < h1 && nr < 64; i1++)
                        r[nr++] = J->x + p * in_n + (i0 * in[1] + i1) * in[2];
#ifdef MP_X86
                if (o1 + 1 < o[1]) /* the next output row's new input rows, ahead of time */
                    for (int64_t i1 = h1; i1 < J->wh[1][o1 + 1]; i1++)
                        for (int64_t i0 = l0; i0 < h0; i0++) {
                            const char *pf =
                                (const char *)(J->x + p * in_n + (i0 * in[1] + i1) * in[2]);
                            for (int64_t b = 0; b < in[2] * 4; b += 64) __builtin_prefetch(pf + b);
                        }
#endif
                mp_row(J, r, nr, orow);
            }
}

mk_status mk_k_pool(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *out = k->outs[0];
    if (!x) return mk_kerr(k, MK_EINVAL, "needs input x");
    int ns = x->type.rank - 2;
    if (ns < 1 || ns > 3 || out->type.rank != x->type.rank ||
        mk_interp_layout(x->type.dtype) != MK_L_F32)
        return mk_kerr(k, MK_EINVAL, "x must be a float tensor of rank 3-5");
    int64_t ks[3] = {1, 1, 1}, st3[3] = {1, 1, 1}, pad[6] = {0};
    int n, np;
    mk_status st;
    if ((st = mk_kints(k, "kernel_sizes", ks, 3, &n))) return st;
    if (n != ns) return mk_kerr(k, MK_EINVAL, "kernel_sizes needs %d values", ns);
    if ((st = mk_kints(k, "strides", st3, 3, &n))) return st;
    if (n >= 0 && n != ns) return mk_kerr(k, MK_EINVAL, "strides needs %d values", ns);
    if (n < 0) st3[0] = st3[1] = st3[2] = 1;
    if ((st = mk_kints(k, "pad", pad, 6, &np))) return st;
    int excl;
    if ((st = mk_kbool(k, "exclude_padding_from_average", 0, &excl))) return st;
    const char *pt = mk_kstr(k, "pad_type", "valid");
    int64_t in[3] = {1, 1, 1}, o[3] = {1, 1, 1}, pb[3] = {0}, pe[3] = {0}, K[3] = {1, 1, 1},
            S[3] = {1, 1, 1};
    for (int q = 0; q < ns; q++) {
        int i = 3 - ns + q; /* right-aligned: the last spatial dim is contiguous */
        in[i] = x->type.dims[2 + q];
        o[i] = out->type.dims[2 + q];
        K[i] = ks[q];
        S[i] = st3[q];
        if (K[i] < 1 || S[i] < 1)
            return mk_kerr(k, MK_EINVAL, "kernel sizes and strides must be >= 1");
        int64_t total = (o[i] - 1) * S[i] + K[i] - in[i];
        if (total < 0) total = 0;
        if (strcmp(pt, "custom") == 0) {
            pb[i] = np == 2 * ns ? pad[2 * q] : 0;
            pe[i] = np == 2 * ns ? pad[2 * q + 1] : 0;
        } else if (strcmp(pt, "same") == 0) {
            pb[i] = total / 2;
            pe[i] = total - pb[i];
        } else if (strcmp(pt, "same_lower") == 0) {
            pb[i] = (total + 1) / 2;
            pe[i] = total - pb[i];
        } else if (strcmp(pt, "valid") != 0) {
            return mk_kerr(k, MK_EINVAL, "unknown pad_type '%s'", pt);
        }
    }
    int64_t nc = x->type.dims[0] * x->type.dims[1], in_n = in[0] * in[1] * in[2],
            o_n = o[0] * o[1] * o[2];
    if ((size_t)(nc * o_n) != out->numel) return mk_kerr(k, MK_EINVAL, "output size mismatch");
    mk_op_kind kind = k->op->kind;
    int framework = mk_interp_framework_pool(k->ip);
    /* per dim and output index: clipped window [lo, hi) and the window size within padding */
    size_t wn = (size_t)(o[0] + o[1] + o[2]) * 3 * sizeof(int64_t);
    int64_t *win = mk_malloc(k->alloc, wn), *wl[3], *wh[3], *wp[3];
    if (!win) return MK_OOM(k->e);
    for (int d = 0, off = 0; d < 3; off += (int)o[d] * 3, d++) {
        wl[d] = win + off;
        wh[d] = wl[d] + o[d];
        wp[d] = wh[d] + o[d];
        for (int64_t q = 0; q < o[d]; q++) {
            int64_t b = q * S[d] - pb[d], e = b + K[d];
            int64_t plo = b < -pb[d] ? -pb[d] : b, phi = e > in[d] + pe[d] ? in[d] + pe[d] : e;
            wl[d][q] = b < 0 ? 0 : b;
            wh[d][q] = e > in[d] ? in[d] : e;
            /* H17: Core ML averages a ceil_mode overhang past the padded input as padding,
             * so without exclude_padding_from_average the divisor is the whole kernel; the
             * source framework counts only the window inside input + explicit pads */
            wp[d][q] = phi <= plo ? 0 : framework ? phi - plo : K[d];
        }
    }
    const float *a = x->data;
    float *od = out->data;
    /* the SIMD rows: at most 64 window rows (larger windows take the separable passes) */
    int mp_lv = kind == MK_OP_MAX_POOL ? mp_simd() : 0;
    if (mp_lv && K[0] * K[1] <= 64 && o_n) {
        mp_job J = {.x = a, .out = od, .k2 = K[2], .s2 = S[2], .pb2 = pb[2], .nc = nc};
        J.level = mp_lv;
        J.wl = wl;
        J.wh = wh;
        for (int d = 0; d < 3; d++) J.in[d] = in[d], J.o[d] = o[d];
        /* interior output columns: the whole window inside the row */
        J.flat = in[0] == 1 && o[0] == 1 && wl[0][0] == 0 && wh[0][0] == 1;
        J.c0 = (pb[2] + S[2] - 1) / S[2];
        J.c1 = in[2] >= K[2] ? (in[2] - K[2] + pb[2]) / S[2] + 1 : 0;
        if (J.c1 > o[2]) J.c1 = o[2];
        if (J.c0 > J.c1) J.c0 = J.c1;
        /* with T threads, T bands of output rows (of a 2-D pool) outside the chunks of planes:
         * a thread's share is its part of every plane, the part of the positions the kernels
         * before and after (split by positions) have in its cache */
        int64_t T = mk_par_threads(k);
        J.nb = T > 1 && o[0] == 1 && o[1] >= 2 * T ? T : 1;
        int64_t work = o_n * K[0] * K[1] * K[2] / J.nb; /* per plane and band */
        J.per = work >= 32768 ? 1 : 32768 / (work ? work : 1);
        J.npc = mk_par_chunks(nc, J.per);
        k->path = mp_lv == 2 ? "max_pool: rows, AVX-512" : "max_pool: rows, AVX2";
        mk_par_for(k, J.nb * J.npc, mp_chunk, &J);
        mk_free(k->alloc, win, wn);
        return MK_OK;
    }
    float *tmp = NULL;
    int narrow = in[2] < 24;
    if (kind == MK_OP_MAX_POOL &&
        !(tmp = mk_interp_scratch(k, (narrow ? x->numel : (size_t)in[2] * 2) * 4 + 4))) {
        mk_free(k->alloc, win, wn);
        return MK_OOM(k->e);
    }
    if (tmp && narrow) {
        max_pool_narrow(a, od, x->numel, nc, in, o, wl, wh, K[2], S[2], pb[2], tmp);
        mk_free(k->alloc, win, wn);
        return MK_OK;
    }
    for (int64_t p = 0; p < nc; p++) {
        const float *xa = a + p * in_n;
        float *op = od + p * o_n;
        if (tmp) {
            max_pool_rows(xa, op, in, o, wl, wh, K[2], S[2], pb[2], tmp);
            continue;
        }
        for (int64_t o0 = 0; o0 < o[0]; o0++)
            for (int64_t o1 = 0; o1 < o[1]; o1++)
                for (int64_t o2 = 0; o2 < o[2]; o2++) {
                    int64_t l0 = wl[0][o0], h0 = wh[0][o0], l1 = wl[1][o1], h1 = wh[1][o1];
                    int64_t l2 = wl[2][o2], h2 = wh[2][o2];
                    float r;
                    if (kind == MK_OP_MAX_POOL) {
                        float m = -INFINITY;
                        int nan = 0;
                        for (int64_t i0 = l0; i0 < h0; i0++)
                            for (int64_t i1 = l1; i1 < h1; i1++) {
                                const float *row = xa + (i0 * in[1] + i1) * in[2];
                                for (int64_t i2 = l2; i2 < h2; i2++) {
                                    float v = row[i2];
                                    m = mk_fmax(v, m);
                                    nan |= v != v;
                                }
                            }
                        r = nan ? NAN : (h0 > l0 && h1 > l1 && h2 > l2) ? m : 0;
                    } else {
                        double acc = 0;
                        int64_t cnt = (h0 - l0) * (h1 - l1) * (h2 - l2);
                        for (int64_t i0 = l0; i0 < h0; i0++)
                            for (int64_t i1 = l1; i1 < h1; i1++) {
                                const float *row = xa + (i0 * in[1] + i1) * in[2];
                                for (int64_t i2 = l2; i2 < h2; i2++)
                                    acc +=
                                        kind == MK_OP_L2_POOL ? (double)row[i2] * row[i2] : row[i2];
                            }
                        if (kind == MK_OP_L2_POOL) {
                            r = (float)sqrt(acc);
                        } else {
                            int64_t div = excl ? cnt : wp[0][o0] * wp[1][o1] * wp[2][o2];
                            r = div > 0 ? (float)(acc / (double)div) : 0;
                        }
                    }
                    op[(o0 * o[1] + o1) * o[2] + o2] = r;
                }
    }
    mk_free(k->alloc, win, wn);
    return MK_OK;
}
