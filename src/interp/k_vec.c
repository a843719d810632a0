/* Row primitives for softmax, attention and gelu: AVX-512 versions (16 lanes, masked tails, no
 * scalar remainder) and AVX2 versions (8 lanes, masked tails) picked at run time, and portable
 * loops (MK_SIMD clones) that compute the same expressions in the same order, so all three give
 * the same bits. */
#include <float.h>
#include <stdlib.h>

#include "k_lanes.h"
#include "k_vec.h"

#ifdef __clang__ /* gcc does not contract in ISO C mode; clang would, per expression */
#pragma STDC FP_CONTRACT OFF
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#define KV_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

/* ---- portable loops ---- */
MK_SIMD static float max_loop(const float *x, int64_t n)
{
    float m8[8];
    for (int j = 0; j < 8; j++) m8[j] = -INFINITY;
    int64_t q = 0;
    for (; q + 8 <= n; q += 8)
        for (int j = 0; j < 8; j++) m8[j] = x[q + j] > m8[j] ? x[q + j] : m8[j];
    float mx = -INFINITY;
    for (int j = 0; j < 8; j++) mx = m8[j] > mx ? m8[j] : mx;
    for (; q < n; q++) mx = x[q] > mx ? x[q] : mx;
    return mx;
}

MK_SIMD static double exp_sum_loop(float *o, const float *x, float mx, int64_t n)
{
    MK_VLOOP((size_t)n, o[i] = mk_exp_neg(x[i] - mx));
    double s8[8] = {0, 0, 0, 0, 0, 0, 0, 0}, sum = 0;
    int64_t q = 0;
    for (; q + 8 <= n; q += 8)
        for (int j = 0; j < 8; j++) s8[j] += o[q + j];
    for (; q < n; q++) s8[0] += o[q];
    for (int j = 0; j < 8; j++) sum += s8[j];
    return sum;
}

MK_SIMD static void scale_loop(float *o, float v, int64_t n)
{
    MK_VLOOP((size_t)n, o[i] *= v);
}

MK_SIMD static void gelu_loop(const float *restrict a, float *restrict o, int64_t n)
{
    MK_VLOOP((size_t)n, o[i] = 0.5f * a[i] * (1.0f + mk_erf(a[i] * 0.70710678f)));
}

MK_SIMD static float max_finite_abs_loop(const float *p, int64_t n)
{
    float m[16] = {0}, r = 0;
    int64_t i0 = 0;
    for (; i0 + 16 <= n; i0 += 16)
        for (int j = 0; j < 16; j++) {
            float a = fabsf(p[i0 + j]);
            m[j] = mk_fmax(m[j], a <= FLT_MAX ? a : 0.0f);
        }
    for (; i0 < n; i0++) {
        float a = fabsf(p[i0]);
        r = mk_fmax(r, a <= FLT_MAX ? a : 0.0f);
    }
    for (int j = 0; j < 16; j++) r = mk_fmax(r, m[j]);
    return r;
}

/* ---- AVX-512 ---- */
#ifdef KV_X86
#define KV_TGT __attribute__((target("avx512f")))
#define KV_MASK(n) ((__mmask16)((n) >= 16 ? 0xffffu : (1u << (n)) - 1))

KV_TGT static inline __m512 v_exp_neg(__m512 x)
{
    const __m512 lo = _mm512_set1_ps(-87.0f), rnd = _mm512_set1_ps(12582912.0f);
    __m512 c = _mm512_max_ps(x, lo), t = _mm512_mul_ps(c, _mm512_set1_ps(1.44269504f));
    __m512 n = _mm512_sub_ps(_mm512_add_ps(t, rnd), rnd);
    __m512 r = _mm512_sub_ps(c, _mm512_mul_ps(n, _mm512_set1_ps(0.693145751953125f)));
    r = _mm512_sub_ps(r, _mm512_mul_ps(n, _mm512_set1_ps(1.428606765330187e-6f)));
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(p, r), r), r),
                      _mm512_set1_ps(1.0f));
    __m512i e =
        _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127)), 23);
    __m512 y = _mm512_mul_ps(p, _mm512_castsi512_ps(e));
    y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ), _mm512_setzero_ps());
    return _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);
}

KV_TGT static float max_avx512(const float *x, int64_t n)
{
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    __m512 m = ninf;
    int64_t q = 0;
    for (; q + 16 <= n; q += 16) m = _mm512_max_ps(_mm512_loadu_ps(x + q), m);
    if (q < n) m = _mm512_max_ps(_mm512_mask_loadu_ps(ninf, KV_MASK(n - q), x + q), m);
    float l[16], mx = -INFINITY;
    _mm512_storeu_ps(l, m);
    for (int j = 0; j < 16; j++) mx = l[j] > mx ? l[j] : mx;
    return mx;
}

KV_TGT static double exp_sum_avx512(float *o, const float *x, float mx, int64_t n)
{
    const __m512 vm = _mm512_set1_ps(mx);
    int64_t q = 0;
    for (; q + 16 <= n; q += 16)
        _mm512_storeu_ps(o + q, v_exp_neg(_mm512_sub_ps(_mm512_loadu_ps(x + q), vm)));
    if (q < n) {
        __mmask16 k = KV_MASK(n - q);
        _mm512_mask_storeu_ps(o + q, k,
                              v_exp_neg(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + q), vm)));
    }
    __m512d s = _mm512_setzero_pd();
    for (q = 0; q + 8 <= n; q += 8) s = _mm512_add_pd(s, _mm512_cvtps_pd(_mm256_loadu_ps(o + q)));
    double s8[8], sum = 0;
    _mm512_storeu_pd(s8, s);
    for (; q < n; q++) s8[0] += o[q];
    for (int j = 0; j < 8; j++) sum += s8[j];
    return sum;
}

KV_TGT static void scale_avx512(float *o, float v, int64_t n)
{
    const __m512 vv = _mm512_set1_ps(v);
    int64_t q = 0;
    for (; q + 16 <= n; q += 16) _mm512_storeu_ps(o + q, _mm512_mul_ps(_mm512_loadu_ps(o + q), vv));
    if (q < n) {
        __mmask16 k = KV_MASK(n - q);
        _mm512_mask_storeu_ps(o + q, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, o + q), vv));
    }
}

KV_TGT static inline __m512 v_gelu(__m512 a)
{
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    __m512 x = _mm512_mul_ps(a, _mm512_set1_ps(0.70710678f));
    __m512 ax = _mm512_castsi512_ps(_mm512_andnot_si512(sign, _mm512_castps_si512(x)));
    __m512 one = _mm512_set1_ps(1.0f);
    __m512 t =
        _mm512_div_ps(one, _mm512_add_ps(one, _mm512_mul_ps(_mm512_set1_ps(0.3275911f), ax)));
    __m512 p = _mm512_set1_ps(1.061405429f);
    p = _mm512_sub_ps(_mm512_mul_ps(p, t), _mm512_set1_ps(1.453152027f));
    p = _mm512_add_ps(_mm512_mul_ps(p, t), _mm512_set1_ps(1.421413741f));
    p = _mm512_sub_ps(_mm512_mul_ps(p, t), _mm512_set1_ps(0.284496736f));
    p = _mm512_add_ps(_mm512_mul_ps(p, t), _mm512_set1_ps(0.254829592f));
    __m512 nax = _mm512_castsi512_ps(_mm512_xor_si512(sign, _mm512_castps_si512(ax)));
    __m512 e = v_exp_neg(_mm512_mul_ps(nax, ax));
    __m512 v = _mm512_sub_ps(one, _mm512_mul_ps(_mm512_mul_ps(p, t), e));
    __m512i vi = _mm512_or_si512(_mm512_andnot_si512(sign, _mm512_castps_si512(v)),
                                 _mm512_and_si512(sign, _mm512_castps_si512(x)));
    return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), a),
                         _mm512_add_ps(one, _mm512_castsi512_ps(vi)));
}

KV_TGT static void gelu_avx512(const float *x, float *o, int64_t n)
{
    int64_t q = 0;
    for (; q + 16 <= n; q += 16) _mm512_storeu_ps(o + q, v_gelu(_mm512_loadu_ps(x + q)));
    if (q < n) {
        __mmask16 k = KV_MASK(n - q);
        _mm512_mask_storeu_ps(o + q, k, v_gelu(_mm512_maskz_loadu_ps(k, x + q)));
    }
}
KV_TGT static float max_finite_abs_avx512(const float *x, int64_t n)
{
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    const __m512 big = _mm512_set1_ps(FLT_MAX);
    __m512 m = _mm512_setzero_ps();
    int64_t q = 0;
    for (; q <= n; q += 16) {
        __mmask16 k = n - q >= 16 ? (__mmask16)0xffffu : KV_MASK(n - q);
        if (!k) break;
        __m512 a = _mm512_castsi512_ps(
            _mm512_andnot_si512(sign, _mm512_castps_si512(_mm512_maskz_loadu_ps(k, x + q))));
        m = _mm512_mask_max_ps(m, _mm512_cmp_ps_mask(a, big, _CMP_LE_OQ), a, m);
    }
    float l[16], r = 0;
    _mm512_storeu_ps(l, m);
    for (int j = 0; j < 16; j++) r = mk_fmax(r, l[j]);
    return r;
}

KV_TGT static int round16_avx512(float *x, int64_t n)
{
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    const __m512 big = _mm512_set1_ps(FLT_MAX), top = _mm512_set1_ps(65504.0f);
    __mmask16 over = 0;
    for (int64_t q = 0; q < n; q += 16) {
        __mmask16 k = n - q >= 16 ? (__mmask16)0xffffu : KV_MASK(n - q);
        __m512 v = _mm512_maskz_loadu_ps(k, x + q);
        __m512 a = _mm512_castsi512_ps(_mm512_andnot_si512(sign, _mm512_castps_si512(v)));
        over |= _mm512_mask_cmp_ps_mask(_mm512_cmp_ps_mask(a, big, _CMP_LE_OQ), a, top, _CMP_GT_OQ);
        __m256i h = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm512_mask_storeu_ps(x + q, k, _mm512_cvtph_ps(h));
    }
    return over != 0;
}

KV_TGT static int64_t round16_inf_avx512(float *x, int64_t n, float *was)
{
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    const __m512 big = _mm512_set1_ps(FLT_MAX), inf = _mm512_set1_ps(INFINITY);
    int64_t first = n;
    for (int64_t q = 0; q < n; q += 16) {
        __mmask16 k = n - q >= 16 ? (__mmask16)0xffffu : KV_MASK(n - q);
        __m512 v = _mm512_maskz_loadu_ps(k, x + q);
        __m512 r =
            _mm512_cvtph_ps(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        if (first == n) {
            __m512 a = _mm512_castsi512_ps(_mm512_andnot_si512(sign, _mm512_castps_si512(v)));
            __m512 ra = _mm512_castsi512_ps(_mm512_andnot_si512(sign, _mm512_castps_si512(r)));
            __mmask16 bad = _mm512_mask_cmp_ps_mask(_mm512_mask_cmp_ps_mask(k, a, big, _CMP_LE_OQ),
                                                    ra, inf, _CMP_EQ_OQ);
            if (bad) {
                first = q + __builtin_ctz(bad);
                *was = x[first];
            }
        }
        _mm512_mask_storeu_ps(x + q, k, r);
    }
    return first;
}

/* ---- AVX2 (level 1): the portable loops' expressions in 8 lanes, masked tails; mul and add
 * kept separate (no FMA), so the bits are the portable loops' and the AVX-512 rows'. ---- */
#define KV_TGT2 __attribute__((target("avx2,fma,f16c")))

KV_TGT2 static inline __m256 v8_exp_neg(__m256 x)
{
    const __m256 lo = _mm256_set1_ps(-87.0f), rnd = _mm256_set1_ps(12582912.0f);
    __m256 c = _mm256_max_ps(x, lo), t = _mm256_mul_ps(c, _mm256_set1_ps(1.44269504f));
    __m256 n = _mm256_sub_ps(_mm256_add_ps(t, rnd), rnd);
    __m256 r = _mm256_sub_ps(c, _mm256_mul_ps(n, _mm256_set1_ps(0.693145751953125f)));
    r = _mm256_sub_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(1.428606765330187e-6f)));
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(p, r), r), r),
                      _mm256_set1_ps(1.0f));
    __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)), 23);
    __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    y = _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LT_OQ), y);
    return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

/* lanes j of 8-float groups into m8 lanes, the tail after the lanes are combined: max_loop */
KV_TGT2 static float max_avx2(const float *x, int64_t n)
{
    __m256 m = _mm256_set1_ps(-INFINITY);
    int64_t q = 0;
    for (; q + 8 <= n; q += 8) m = _mm256_max_ps(_mm256_loadu_ps(x + q), m);
    float l[8], mx = -INFINITY;
    _mm256_storeu_ps(l, m);
    for (int j = 0; j < 8; j++) mx = l[j] > mx ? l[j] : mx;
    for (; q < n; q++) mx = x[q] > mx ? x[q] : mx;
    return mx;
}

KV_TGT2 static double exp_sum_avx2(float *o, const float *x, float mx, int64_t n)
{
    const __m256 vm = _mm256_set1_ps(mx);
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int64_t q = 0;
    for (; q + 8 <= n; q += 8) {
        __m256 e = v8_exp_neg(_mm256_sub_ps(_mm256_loadu_ps(x + q), vm));
        _mm256_storeu_ps(o + q, e);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    if (q < n) {
        __m256i k = mk_lanes8(n - q);
        _mm256_maskstore_ps(o + q, k, v8_exp_neg(_mm256_sub_ps(_mm256_maskload_ps(x + q, k), vm)));
    }
    double s8[8], sum = 0;
    _mm256_storeu_pd(s8, s0);
    _mm256_storeu_pd(s8 + 4, s1);
    for (; q < n; q++) s8[0] += o[q];
    for (int j = 0; j < 8; j++) sum += s8[j];
    return sum;
}

KV_TGT2 static void scale_avx2(float *o, float v, int64_t n)
{
    const __m256 vv = _mm256_set1_ps(v);
    int64_t q = 0;
    for (; q + 8 <= n; q += 8) _mm256_storeu_ps(o + q, _mm256_mul_ps(_mm256_loadu_ps(o + q), vv));
    if (q < n) {
        __m256i k = mk_lanes8(n - q);
        _mm256_maskstore_ps(o + q, k, _mm256_mul_ps(_mm256_maskload_ps(o + q, k), vv));
    }
}

KV_TGT2 static inline __m256 v8_gelu(__m256 a)
{
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
    __m256 x = _mm256_mul_ps(a, _mm256_set1_ps(0.70710678f));
    __m256 ax = _mm256_andnot_ps(sign, x);
    __m256 t =
        _mm256_div_ps(one, _mm256_add_ps(one, _mm256_mul_ps(_mm256_set1_ps(0.3275911f), ax)));
    __m256 p = _mm256_set1_ps(1.061405429f);
    p = _mm256_sub_ps(_mm256_mul_ps(p, t), _mm256_set1_ps(1.453152027f));
    p = _mm256_add_ps(_mm256_mul_ps(p, t), _mm256_set1_ps(1.421413741f));
    p = _mm256_sub_ps(_mm256_mul_ps(p, t), _mm256_set1_ps(0.284496736f));
    p = _mm256_add_ps(_mm256_mul_ps(p, t), _mm256_set1_ps(0.254829592f));
    __m256 e = v8_exp_neg(_mm256_mul_ps(_mm256_xor_ps(sign, ax), ax));
    __m256 v = _mm256_sub_ps(one, _mm256_mul_ps(_mm256_mul_ps(p, t), e));
    v = _mm256_or_ps(_mm256_andnot_ps(sign, v), _mm256_and_ps(sign, x));
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), a), _mm256_add_ps(one, v));
}

KV_TGT2 static void gelu_avx2(const float *x, float *o, int64_t n)
{
    int64_t q = 0;
    for (; q + 8 <= n; q += 8) _mm256_storeu_ps(o + q, v8_gelu(_mm256_loadu_ps(x + q)));
    if (q < n) {
        __m256i k = mk_lanes8(n - q);
        _mm256_maskstore_ps(o + q, k, v8_gelu(_mm256_maskload_ps(x + q, k)));
    }
}

/* masked-off lanes load +0, which does not change a maximum of |x| that starts at 0 */
KV_TGT2 static float max_finite_abs_avx2(const float *x, int64_t n)
{
    const __m256 mag = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 big = _mm256_set1_ps(FLT_MAX);
    __m256 m = _mm256_setzero_ps();
    for (int64_t q = 0; q < n; q += 8) {
        __m256 a = _mm256_and_ps(_mm256_maskload_ps(x + q, mk_lanes8(n - q)), mag);
        m = _mm256_max_ps(_mm256_and_ps(a, _mm256_cmp_ps(a, big, _CMP_LE_OQ)), m);
    }
    float l[8], r = 0;
    _mm256_storeu_ps(l, m);
    for (int j = 0; j < 8; j++) r = mk_fmax(r, l[j]);
    return r;
}

KV_TGT2 static int round16_avx2(float *x, int64_t n)
{
    const __m256 mag = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 big = _mm256_set1_ps(FLT_MAX), top = _mm256_set1_ps(65504.0f);
    __m256 over = _mm256_setzero_ps();
    for (int64_t q = 0; q < n; q += 8) {
        __m256i k = mk_lanes8(n - q);
        __m256 v = _mm256_maskload_ps(x + q, k), a = _mm256_and_ps(v, mag);
        over = _mm256_or_ps(over, _mm256_and_ps(_mm256_cmp_ps(a, big, _CMP_LE_OQ),
                                                _mm256_cmp_ps(a, top, _CMP_GT_OQ)));
        _mm256_maskstore_ps(x + q, k,
                            _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT)));
    }
    return _mm256_movemask_ps(over) != 0;
}

/* round16_inf_avx512 with AVX2 and F16C, 8 lanes (level 1). */
__attribute__((target("avx2,f16c"))) static int64_t round16_inf_avx2(float *x, int64_t n,
                                                                     float *was)
{
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 mag = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 big = _mm256_set1_ps(FLT_MAX), inf = _mm256_set1_ps(INFINITY);
    int64_t first = n;
    for (int64_t q = 0; q < n; q += 8) {
        __m256i in = n - q >= 8 ? _mm256_set1_epi32(-1)
                                : _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - q)), iota);
        __m256 v = _mm256_maskload_ps(x + q, in);
        __m256 r = _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
        if (first == n) {
            __m256 fin = _mm256_cmp_ps(_mm256_and_ps(v, mag), big, _CMP_LE_OQ);
            __m256 to_inf = _mm256_cmp_ps(_mm256_and_ps(r, mag), inf, _CMP_EQ_OQ);
            int bad = _mm256_movemask_ps(
                _mm256_and_ps(_mm256_and_ps(fin, to_inf), _mm256_castsi256_ps(in)));
            if (bad) {
                first = q + __builtin_ctz((unsigned)bad);
                *was = x[first];
            }
        }
        _mm256_maskstore_ps(x + q, in, r);
    }
    return first;
}
#endif

static int kv_level = -1; /* -1: not probed yet */
static int kv_cap = 2;

int mk_vec_level(void)
{
    if (kv_level < 0) {
        int lv = 0;
#ifdef KV_X86
        __builtin_cpu_init();
        unsigned a, b, c, d; /* CPUID.1:ECX bit 29: F16C */
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
            __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1u))
            lv = 1;
        if (__builtin_cpu_supports("avx512f")) lv = 2;
#endif
        kv_level = lv;
    }
    return kv_level < kv_cap ? kv_level : kv_cap;
}

void mk_vec_cap(int level)
{
    kv_cap = level < 0 ? 0 : level > 2 ? 2 : level;
}

/* Portable forms of the rounding rows, in the table below with the loops. */
static int round16_loop(float *x, int64_t n)
{
    int over = max_finite_abs_loop(x, n) > 65504.0f;
    mk_round_f16_n(x, (size_t)n);
    return over;
}

static int64_t round16_inf_loop(float *x, int64_t n, float *was)
{
    int64_t first = n;
    for (int64_t i = 0; i < n; i++) {
        i += (int64_t)mk_f32_find_beyond_f16(x + i, (size_t)(n - i), 1);
        if (i < n && isinf(mk_round_f16(x[i]))) {
            first = i;
            *was = x[i];
            break;
        }
    }
    mk_round_f16_n(x, (size_t)n);
    return first;
}

/* The rows of one level. */
typedef struct kv_rows {
    float (*max)(const float *x, int64_t n);
    double (*exp_sum)(float *o, const float *x, float mx, int64_t n);
    void (*scale)(float *o, float v, int64_t n);
    void (*gelu)(const float *x, float *o, int64_t n);
    float (*max_finite_abs)(const float *x, int64_t n);
    int (*round16)(float *x, int64_t n);
    int64_t (*round16_inf)(float *x, int64_t n, float *was);
} kv_rows;

static const kv_rows kv_by_level[3] = {
    {max_loop, exp_sum_loop, scale_loop, gelu_loop, max_finite_abs_loop, round16_loop,
     round16_inf_loop},
#ifdef KV_X86
    {max_avx2, exp_sum_avx2, scale_avx2, gelu_avx2, max_finite_abs_avx2, round16_avx2,
     round16_inf_avx2},
    {max_avx512, exp_sum_avx512, scale_avx512, gelu_avx512, max_finite_abs_avx512, round16_avx512,
     round16_inf_avx512},
#endif
};

static const kv_rows *kv_rows_now(void)
{
    return &kv_by_level[mk_vec_level()];
}

float mk_vec_max(const float *x, int64_t n)
{
    return kv_rows_now()->max(x, n);
}

double mk_vec_exp_sum(float *o, const float *x, float mx, int64_t n)
{
    return kv_rows_now()->exp_sum(o, x, mx, n);
}

void mk_vec_scale(float *o, float v, int64_t n)
{
    kv_rows_now()->scale(o, v, n);
}

void mk_vec_softmax(const float *x, float *o, int64_t n)
{
    float mx = mk_vec_max(x, n);
    double sum = mk_vec_exp_sum(o, x, mx, n);
    mk_vec_scale(o, (float)(1.0 / sum), n);
}

float mk_vec_max_finite_abs(const float *x, int64_t n)
{
    return kv_rows_now()->max_finite_abs(x, n);
}

int mk_vec_round16(float *x, int64_t n)
{
    return kv_rows_now()->round16(x, n);
}

int64_t mk_vec_round16_inf(float *x, int64_t n, float *was)
{
    return kv_rows_now()->round16_inf(x, n, was);
}

void mk_vec_gelu(const float *x, float *o, int64_t n)
{
    kv_rows_now()->gelu(x, o, n);
}
