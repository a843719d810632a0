/* Fusion planning: chains of fp32 elementwise ops (activations, scalar add/mul/..., the
 * hardswish pattern) moved onto the conv/linear/matmul producing their input, and mk_epi_apply
 * which applies such a chain to a stretch of output. */
#include <float.h>
#include <math.h>

#include "ip_engine.h"
#include "k_vec.h"

/* restrict parameters (gcc ignores restrict on block-scope pointers): SIMD */
MK_SIMD static void addv_row(float *restrict q, const float *restrict v, size_t m, int swap)
{
    if (swap)
        MK_VLOOP(m, q[i] = v[i] + q[i]);
    else
        MK_VLOOP(m, q[i] = q[i] + v[i]);
}

/* p[0..n) += s[col..] along rows of vn (v + p when swapped, as the op computes it). */
static void add_vec(const mk_epi_step *st, int64_t col, float *p, size_t n)
{
    size_t j = st->vn ? (size_t)(col % st->vn) : 0;
    for (size_t o = 0; o < n; j = 0) {
        size_t m = (size_t)st->vn - j < n - o ? (size_t)st->vn - j : n - o;
        addv_row(p + o, st->s + j, m, st->swap);
        o += m;
    }
}

/* v * sigmoid_hard(v), the same expression in two vectorised passes over pieces of 1024: as
 * one loop in epi_step_apply's switch gcc 12 -O2 left it scalar with branches in the AVX2
 * clone (perf: 30% of PP-OCRv4 det 640 at -j 1). */
static void hsigmul_row(float *p, float a, float b, size_t n);

MK_SIMD static void epi_step_apply(const mk_epi_step *st, int64_t ch, float *p, size_t n)
{
    float a = st->a, b = st->b, c = st->c, d = st->d;
    switch (st->kind) {
    case MK_EPI_RELU: MK_VLOOP(n, p[i] = mk_relu(p[i])); break;
    case MK_EPI_RELU6: MK_VLOOP(n, p[i] = mk_fmin(mk_relu(p[i]), 6.0f)); break;
    case MK_EPI_CLIP: MK_VLOOP(n, p[i] = mk_fmin(b, mk_fmax(a, p[i]))); break;
    case MK_EPI_THRESHOLD: MK_VLOOP(n, p[i] = mk_fmax(a, p[i])); break;
    case MK_EPI_LEAKY: MK_VLOOP(n, p[i] = mk_sign_select(p[i], a * p[i])); break;
    case MK_EPI_MAX:
        if (st->swap)
            MK_VLOOP(n, p[i] = a != a || p[i] != p[i] ? a + p[i] : mk_fmax(a, p[i]));
        else
            MK_VLOOP(n, p[i] = p[i] != p[i] || a != a ? p[i] + a : mk_fmax(p[i], a));
        break;
    case MK_EPI_MIN:
        if (st->swap)
            MK_VLOOP(n, p[i] = a != a || p[i] != p[i] ? a + p[i] : mk_fmin(a, p[i]));
        else
            MK_VLOOP(n, p[i] = p[i] != p[i] || a != a ? p[i] + a : mk_fmin(p[i], a));
        break;
    case MK_EPI_ADD: MK_VLOOP(n, p[i] = p[i] + a); break;
    case MK_EPI_MUL: MK_VLOOP(n, p[i] = p[i] * a); break;
    case MK_EPI_SUB:
        if (st->swap)
            MK_VLOOP(n, p[i] = a - p[i]);
        else
            MK_VLOOP(n, p[i] = p[i] - a);
        break;
    case MK_EPI_DIV:
        if (st->swap)
            MK_VLOOP(n, p[i] = a / p[i]);
        else
            MK_VLOOP(n, p[i] = p[i] / a);
        break;
    case MK_EPI_ADDV: add_vec(st, ch, p, n); break;
    case MK_EPI_AFFINE: {
        float s = st->s[ch], sh = st->sh[ch];
        MK_VLOOP(n, p[i] = p[i] * s + sh);
        break;
    }
    case MK_EPI_HSIGMUL: hsigmul_row(p, a, b, n); break;
    case MK_EPI_HSWISH:
        if (st->post == 1)
            MK_VLOOP(n, p[i] = p[i] * mk_fmin(c, mk_fmax(b, p[i] + a)) / d);
        else if (st->post == 2)
            MK_VLOOP(n, p[i] = p[i] * mk_fmin(c, mk_fmax(b, p[i] + a)) * d);
        else
            MK_VLOOP(n, p[i] = p[i] * mk_fmin(c, mk_fmax(b, p[i] + a)));
        break;
    }
}

MK_SIMD static void add_scalar(float *p, float v, size_t n)
{
    MK_VLOOP(n, p[i] += v);
}

/* Round p[0..n) to half as an op's output would be, noting finite values beyond its range. */
static void round16(const mk_epi *ep, float *p, size_t n)
{
    if (mk_vec_round16(p, (int64_t)n)) atomic_store_explicit(ep->overflow, 1, memory_order_relaxed);
}

MK_SIMD static void hsig_into(float *restrict t, const float *restrict p, float a, float b,
                              size_t n)
{
    MK_VLOOP(n, t[i] = mk_fmin(1.0f, mk_fmax(0.0f, a * p[i] + b)));
}

MK_SIMD static void mul_by(float *restrict p, const float *restrict t, size_t n)
{
    MK_VLOOP(n, p[i] = p[i] * t[i]);
}

static void hsigmul_row(float *p, float a, float b, size_t n)
{
    float t[1024];
    for (size_t o = 0; o < n; o += 1024) {
        size_t m = n - o < 1024 ? n - o : 1024;
        hsig_into(t, p + o, a, b, m);
        mul_by(p + o, t, m);
    }
}

MK_SIMD static void add_into(float *restrict t, const float *restrict p, float a, size_t n)
{
    MK_VLOOP(n, t[i] = p[i] + a);
}

MK_SIMD static void clip_in(float *t, float lo, float hi, size_t n)
{
    MK_VLOOP(n, t[i] = mk_fmin(hi, mk_fmax(lo, t[i])));
}

/* A step under fp16 emulation: the multi-op patterns round their inner values too. */
static void step_round16(const mk_epi *ep, const mk_epi_step *st, int64_t ch, float *p, size_t n)
{
    float t[4096];
    if (st->kind == MK_EPI_HSIGMUL) { /* h = sigmoid_hard(v); v * h */
        hsig_into(t, p, st->a, st->b, n);
        round16(ep, t, n);
        mul_by(p, t, n);
    } else if (st->kind == MK_EPI_HSWISH) { /* add(v, k) -> clip -> mul(v, .) [-> / or * d] */
        add_into(t, p, st->a, n);
        round16(ep, t, n);
        clip_in(t, st->b, st->c, n);
        round16(ep, t, n);
        mul_by(p, t, n);
        if (st->post) {
            round16(ep, p, n);
            mk_epi_step q = {
                st->post == 1 ? MK_EPI_DIV : MK_EPI_MUL, 0, 0, st->d, 0, 0, 0, 0, 0, 0};
            epi_step_apply(&q, -1, p, n);
        }
    } else {
        epi_step_apply(st, ch, p, n);
    }
    round16(ep, p, n);
}

/* ---- fp16 emulation in one pass (AVX-512) ----
 * The rounded chain of step_round16 evaluated in registers, 64 values at a time: the bias add,
 * the host's rounding, then every step with its inner and final roundings, in the same order
 * and with the same fp32 expressions as the loops above (mk_fmax(a, b) is maxps(a, b), mk_fmin
 * minps, mk_relu the sign-bit clear), so the bits are those of the step-by-step passes; only the
 * trips through memory (one per rounding) go. Tails are masked: lanes past n are never stored
 * and never count as overflows. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define EPI_X86 1
#define EPI_TGT __attribute__((target("avx512f")))
#define EPI_V 4 /* vectors per block */

/* The steps the one-pass path evaluates (ADDV, MIN and MAX take the step-by-step path). */
static int epi16_vec_ok(const mk_epi *ep)
{
    for (int s = 0; s < ep->n; s++) switch (ep->step[s].kind) {
        case MK_EPI_RELU:
        case MK_EPI_RELU6:
        case MK_EPI_CLIP:
        case MK_EPI_THRESHOLD:
        case MK_EPI_LEAKY:
        case MK_EPI_ADD:
        case MK_EPI_MUL:
        case MK_EPI_SUB:
        case MK_EPI_DIV:
        case MK_EPI_AFFINE:
        case MK_EPI_HSIGMUL:
        case MK_EPI_HSWISH: break;
        case MK_EPI_MAX:
        case MK_EPI_MIN:
        case MK_EPI_ADDV: return 0;
        }
    return 1;
}

/* x * y + z as the scalar loops compute it: rounded twice (no FMA; the build does not contract) */
#define EPI_MADD(x, y, z) _mm512_add_ps(_mm512_mul_ps(x, y), z)

/* Overflow tracking without compares: a finite |v| beyond 65504 has its bits shifted left by
 * one (the sign dropped) in (0x8effc000, 0xff000000), i.e. bits * 2 - 0x8effc001 (mod 2^32)
 * below EPI_OVER_LIM; *lo keeps the lowest such difference per lane. */
#define EPI_OVER_BASE 0x8effc001u
#define EPI_OVER_LIM 0x70003fffu

/* v rounded to half and back (round to nearest even), v's overflow noted in *lo for lanes k. */
EPI_TGT static inline __m512 r16v(__m512 v, __mmask16 k, __m512i *lo)
{
    __m512i d = _mm512_sub_epi32(_mm512_slli_epi32(_mm512_castps_si512(v), 1),
                                 _mm512_set1_epi32((int)EPI_OVER_BASE));
    *lo = _mm512_mask_min_epu32(*lo, k, *lo, d);
    return _mm512_cvtph_ps(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

EPI_TGT static inline __m512 relu16v(__m512 v)
{
    __m512i u = _mm512_castps_si512(v);
    return _mm512_castsi512_ps(_mm512_andnot_si512(_mm512_srai_epi32(u, 31), u));
}

/* v[j] = EXPR(x) for the block, x the vector (of type VT) */
#define EPI_EACH(EXPR)                                                                             \
    do {                                                                                           \
        _Pragma("GCC unroll 4") for (int j = 0; j < EPI_V; j++)                                    \
        {                                                                                          \
            VT x = v[j];                                                                           \
            v[j] = (EXPR);                                                                         \
        }                                                                                          \
    } while (0)

/* One step of step_round16 on the block v, ending with its rounding. */
EPI_TGT static inline void step16v(const mk_epi_step *st, int64_t ch, __m512 *v, const __mmask16 *k,
                                   __m512i *lo)
{
    typedef __m512 VT; /* for EPI_EACH */
    const __m512 A = _mm512_set1_ps(st->a), B = _mm512_set1_ps(st->b);
    const __m512 C = _mm512_set1_ps(st->c), D = _mm512_set1_ps(st->d);
    switch (st->kind) {
    case MK_EPI_RELU: EPI_EACH(relu16v(x)); break;
    case MK_EPI_RELU6: EPI_EACH(_mm512_min_ps(relu16v(x), _mm512_set1_ps(6.0f))); break;
    case MK_EPI_CLIP: EPI_EACH(_mm512_min_ps(B, _mm512_max_ps(A, x))); break;
    case MK_EPI_THRESHOLD: EPI_EACH(_mm512_max_ps(A, x)); break;
    case MK_EPI_LEAKY: /* mk_sign_select(v, a * v) */
        EPI_EACH(_mm512_castsi512_ps(_mm512_ternarylogic_epi32(
            _mm512_srai_epi32(_mm512_castps_si512(x), 31), _mm512_castps_si512(_mm512_mul_ps(A, x)),
            _mm512_castps_si512(x), 0xca))); /* m ? a v : v, bitwise */
        break;
    case MK_EPI_ADD: EPI_EACH(_mm512_add_ps(x, A)); break;
    case MK_EPI_MUL: EPI_EACH(_mm512_mul_ps(x, A)); break;
    case MK_EPI_SUB:
        if (st->swap)
            EPI_EACH(_mm512_sub_ps(A, x));
        else
            EPI_EACH(_mm512_sub_ps(x, A));
        break;
    case MK_EPI_DIV:
        if (st->swap)
            EPI_EACH(_mm512_div_ps(A, x));
        else
            EPI_EACH(_mm512_div_ps(x, A));
        break;
    case MK_EPI_AFFINE: {
        const __m512 S = _mm512_set1_ps(st->s[ch]), SH = _mm512_set1_ps(st->sh[ch]);
        EPI_EACH(EPI_MADD(x, S, SH));
        break;
    }
    case MK_EPI_HSIGMUL: /* h = sigmoid_hard(v) rounded; v * h */
        for (int j = 0; j < EPI_V; j++) {
            __m512 t = _mm512_min_ps(_mm512_set1_ps(1.0f),
                                     _mm512_max_ps(_mm512_setzero_ps(), EPI_MADD(A, v[j], B)));
            v[j] = _mm512_mul_ps(v[j], r16v(t, k[j], lo));
        }
        break;
    case MK_EPI_HSWISH: /* add(v, k) -> clip -> mul(v, .) [-> / or * d], each rounded */
        for (int j = 0; j < EPI_V; j++) {
            __m512 t = r16v(_mm512_add_ps(v[j], A), k[j], lo);
            t = r16v(_mm512_min_ps(C, _mm512_max_ps(B, t)), k[j], lo);
            v[j] = _mm512_mul_ps(v[j], t);
            if (st->post) {
                v[j] = r16v(v[j], k[j], lo);
                v[j] = st->post == 1 ? _mm512_div_ps(v[j], D) : _mm512_mul_ps(v[j], D);
            }
        }
        break;
    case MK_EPI_MAX:
    case MK_EPI_MIN:
    case MK_EPI_ADDV: break; /* excluded by epi16_vec_ok */
    }
    for (int j = 0; j < EPI_V; j++) v[j] = r16v(v[j], k[j], lo);
}

/* mk_epi_apply under fp16 emulation for chains epi16_vec_ok accepts. */
EPI_TGT static void epi16_avx512(const mk_epi *ep, const float *bias, int64_t ch, float *p,
                                 size_t n)
{
    const __m512 bv = _mm512_set1_ps(bias ? *bias : 0.0f);
    __m512i lo = _mm512_set1_epi32(-1);
    for (size_t o = 0; o < n; o += 16 * EPI_V) {
        __m512 v[EPI_V];
        __mmask16 k[EPI_V];
        for (int j = 0; j < EPI_V; j++) {
            size_t at = o + 16 * (size_t)j, rem = at < n ? n - at : 0;
            k[j] = rem >= 16 ? (__mmask16)0xffffu : (__mmask16)((1u << rem) - 1);
            v[j] = _mm512_maskz_loadu_ps(k[j], p + (at < n ? at : o));
            if (bias) v[j] = _mm512_add_ps(v[j], bv);
            v[j] = r16v(v[j], k[j], &lo); /* the host op's own output */
        }
        for (int s = 0; s < ep->n; s++) step16v(&ep->step[s], ch, v, k, &lo);
        for (int j = 0; j < EPI_V; j++) {
            size_t at = o + 16 * (size_t)j;
            _mm512_mask_storeu_ps(p + (at < n ? at : o), k[j], v[j]);
        }
    }
    if (_mm512_cmplt_epu32_mask(lo, _mm512_set1_epi32((int)EPI_OVER_LIM)))
        atomic_store_explicit(ep->overflow, 1, memory_order_relaxed);
}

/* The same with AVX2 and F16C, 8 lanes: lanes past n are all ones in `past`, which keeps them
 * out of the overflow minimum. */
#define EPI2_TGT __attribute__((target("avx2,f16c")))

EPI2_TGT static inline __m256 r16v2(__m256 v, __m256i past, __m256i *lo)
{
    __m256i d = _mm256_sub_epi32(_mm256_slli_epi32(_mm256_castps_si256(v), 1),
                                 _mm256_set1_epi32((int)EPI_OVER_BASE));
    *lo = _mm256_min_epu32(*lo, _mm256_or_si256(d, past));
    return _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}

EPI2_TGT static inline __m256 relu16v2(__m256 v)
{
    __m256i u = _mm256_castps_si256(v);
    return _mm256_castsi256_ps(_mm256_andnot_si256(_mm256_srai_epi32(u, 31), u));
}

#define EPI2_MADD(x, y, z) _mm256_add_ps(_mm256_mul_ps(x, y), z)

/* step16v with 8 lanes. */
EPI2_TGT static inline void step16v2(const mk_epi_step *st, int64_t ch, __m256 *v,
                                     const __m256i *past, __m256i *lo)
{
    typedef __m256 VT; /* for EPI_EACH */
    const __m256 A = _mm256_set1_ps(st->a), B = _mm256_set1_ps(st->b);
    const __m256 C = _mm256_set1_ps(st->c), D = _mm256_set1_ps(st->d);
    switch (st->kind) {
    case MK_EPI_RELU: EPI_EACH(relu16v2(x)); break;
    case MK_EPI_RELU6: EPI_EACH(_mm256_min_ps(relu16v2(x), _mm256_set1_ps(6.0f))); break;
    case MK_EPI_CLIP: EPI_EACH(_mm256_min_ps(B, _mm256_max_ps(A, x))); break;
    case MK_EPI_THRESHOLD: EPI_EACH(_mm256_max_ps(A, x)); break;
    case MK_EPI_LEAKY: /* mk_sign_select(v, a * v) */
        for (int j = 0; j < EPI_V; j++) {
            __m256i u = _mm256_castps_si256(v[j]), m = _mm256_srai_epi32(u, 31);
            __m256i neg = _mm256_castps_si256(_mm256_mul_ps(A, v[j]));
            v[j] = _mm256_castsi256_ps(
                _mm256_or_si256(_mm256_andnot_si256(m, u), _mm256_and_si256(neg, m)));
        }
        break;
    case MK_EPI_ADD: EPI_EACH(_mm256_add_ps(x, A)); break;
    case MK_EPI_MUL: EPI_EACH(_mm256_mul_ps(x, A)); break;
    case MK_EPI_SUB:
        if (st->swap)
            EPI_EACH(_mm256_sub_ps(A, x));
        else
            EPI_EACH(_mm256_sub_ps(x, A));
        break;
    case MK_EPI_DIV:
        if (st->swap)
            EPI_EACH(_mm256_div_ps(A, x));
        else
            EPI_EACH(_mm256_div_ps(x, A));
        break;
    case MK_EPI_AFFINE: {
        const __m256 S = _mm256_set1_ps(st->s[ch]), SH = _mm256_set1_ps(st->sh[ch]);
        EPI_EACH(EPI2_MADD(x, S, SH));
        break;
    }
    case MK_EPI_HSIGMUL:
        for (int j = 0; j < EPI_V; j++) {
            __m256 t = _mm256_min_ps(_mm256_set1_ps(1.0f),
                                     _mm256_max_ps(_mm256_setzero_ps(), EPI2_MADD(A, v[j], B)));
            v[j] = _mm256_mul_ps(v[j], r16v2(t, past[j], lo));
        }
        break;
    case MK_EPI_HSWISH:
        for (int j = 0; j < EPI_V; j++) {
            __m256 t = r16v2(_mm256_add_ps(v[j], A), past[j], lo);
            t = r16v2(_mm256_min_ps(C, _mm256_max_ps(B, t)), past[j], lo);
            v[j] = _mm256_mul_ps(v[j], t);
            if (st->post) {
                v[j] = r16v2(v[j], past[j], lo);
                v[j] = st->post == 1 ? _mm256_div_ps(v[j], D) : _mm256_mul_ps(v[j], D);
            }
        }
        break;
    case MK_EPI_MAX:
    case MK_EPI_MIN:
    case MK_EPI_ADDV: break; /* excluded by epi16_vec_ok */
    }
    for (int j = 0; j < EPI_V; j++) v[j] = r16v2(v[j], past[j], lo);
}

EPI2_TGT static void epi16_avx2(const mk_epi *ep, const float *bias, int64_t ch, float *p, size_t n)
{
    const __m256 bv = _mm256_set1_ps(bias ? *bias : 0.0f);
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i lo = _mm256_set1_epi32(-1);
    for (size_t o = 0; o < n; o += 8 * EPI_V) {
        __m256 v[EPI_V];
        __m256i in[EPI_V], past[EPI_V];
        for (int j = 0; j < EPI_V; j++) {
            size_t at = o + 8 * (size_t)j, rem = at < n ? n - at : 0;
            in[j] = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(rem < 8 ? rem : 8)), iota);
            past[j] = _mm256_xor_si256(in[j], _mm256_set1_epi32(-1));
            v[j] = _mm256_maskload_ps(p + (at < n ? at : o), in[j]);
            if (bias) v[j] = _mm256_add_ps(v[j], bv);
            v[j] = r16v2(v[j], past[j], &lo);
        }
        for (int s = 0; s < ep->n; s++) step16v2(&ep->step[s], ch, v, past, &lo);
        for (int j = 0; j < EPI_V; j++) {
            size_t at = o + 8 * (size_t)j;
            _mm256_maskstore_ps(p + (at < n ? at : o), in[j], v[j]);
        }
    }
    /* some lane below EPI_OVER_LIM: min(lo, LIM - 1) == lo there */
    __m256i cap = _mm256_min_epu32(lo, _mm256_set1_epi32((int)(EPI_OVER_LIM - 1)));
    if (_mm256_movemask_epi8(_mm256_cmpeq_epi32(cap, lo)))
        atomic_store_explicit(ep->overflow, 1, memory_order_relaxed);
}
#endif

void mk_epi_apply(const mk_epi *ep, const float *bias, int64_t ch, float *p, size_t n)
{
#ifdef EPI_X86
    int lv = ep && ep->n && ep->round16 ? mk_vec_level() : 0;
    if (lv && epi16_vec_ok(ep)) {
        if (lv == 2)
            epi16_avx512(ep, bias, ch, p, n);
        else
            epi16_avx2(ep, bias, ch, p, n);
        return;
    }
#endif
    if (bias) add_scalar(p, *bias, n);
    /* in cache-sized pieces, so that several steps cost one trip through memory */
    for (size_t o = 0; ep && ep->n && o < n; o += 4096) {
        size_t m = n - o < 4096 ? n - o : 4096;
        int64_t col = ch + (int64_t)o; /* a row host: the last-axis index of p[o] */
        if (ep->round16) {
            round16(ep, p + o, m); /* the host op's own output */
            for (int s = 0; s < ep->n; s++) {
                const mk_epi_step *st = &ep->step[s];
                step_round16(ep, st, st->kind == MK_EPI_ADDV ? col : ch, p + o, m);
            }
            continue;
        }
        for (int s = 0; s < ep->n; s++) {
            const mk_epi_step *st = &ep->step[s];
            epi_step_apply(st, st->kind == MK_EPI_ADDV ? col : ch, p + o, m);
        }
    }
}

void mk_epi_apply_rows(const mk_epi *ep, int64_t ch, float *p, int64_t rows, int64_t cols,
                       int64_t ld)
{
    if (!ep) return;
    if (cols == ld) {
        mk_epi_apply(ep, NULL, ch, p, (size_t)(rows * cols));
        return;
    }
    for (int64_t r = 0; r < rows; r++) mk_epi_apply(ep, NULL, ch, p + r * ld, (size_t)cols);
}

/* Kernels that apply k->epi to their output. */
static int epi_host(mk_op_kind k)
{
    return k == MK_OP_CONV || k == MK_OP_CONV_TRANSPOSE || k == MK_OP_LINEAR || k == MK_OP_MATMUL;
}

/* A scalar float constant bound to op parameter `name`: 1 and *out set, 0 when the parameter
 * is bound to anything else; absent parameters give def. */
static int const_param(const mk_op *op, const char *name, double def, double *out)
{
    const mk_input *in = mk_ir_input(op, name);
    if (!in || in->n_args == 0) {
        *out = def;
        return 1;
    }
    const mk_value *v = in->args[0];
    size_t n, need;
    if (in->n_args != 1 || !v->cst || !mk_dtype_is_float(v->type.dtype) ||
        !mk_type_is_static(&v->type) || !mk_type_numel(&v->type, &n) || n != 1 ||
        !mk_type_nbytes(&v->type, &need) || v->cst->nbytes < need)
        return 0;
    *out = mk_ip_raw_f64(v->type.dtype, v->cst->data, 0);
    return 1;
}

/* As const_param, for a scalar constant of any numeric dtype (axis, flags). */
int mk_ip_const_param_any(const mk_op *op, const char *name, double def, double *out)
{
    const mk_input *in = mk_ir_input(op, name);
    if (!in || in->n_args == 0) {
        *out = def;
        return 1;
    }
    const mk_value *v = in->args[0];
    size_t n, need;
    if (in->n_args != 1 || !v->cst || v->type.dtype == MK_DT_STRING ||
        !mk_type_is_static(&v->type) || !mk_type_numel(&v->type, &n) || n != 1 ||
        !mk_type_nbytes(&v->type, &need) || v->cst->nbytes < need)
        return 0;
    *out = mk_ip_raw_f64(v->type.dtype, v->cst->data, 0);
    return 1;
}

/* Plan-time graph facts for fusion: how often each slot is read (block outputs and attributes
 * count double, so they never look like a single reader) and by which ops. */
typedef struct fuse_graph {
    int *uses;
    int *rd_start; /* readers of slot s: rd[rd_start[s] .. rd_start[s] + uses_in[s]) */
    int *uses_in;
    struct rd {
        int plan, op;
    } * rd;
} fuse_graph;

#define FUSED_SKIP (-2) /* fused_in: an inner op of a fused pattern; does nothing at all */

/* The only reader of slot s in plan q after op o, or NULL. */
static oplan *only_reader(const mk_interp *ip, const fuse_graph *g, int s, int q, int o)
{
    if (g->uses[s] != 1 || g->uses_in[s] != 1) return NULL;
    const struct rd *r = &g->rd[g->rd_start[s]];
    return r->plan == q && r->op > o ? &ip->plans[q]->ops[r->op] : NULL;
}

/* Operand index at which pl reads slot s once, -1 if not exactly once. */
static int operand_of(const oplan *pl, int s)
{
    int at = -1;
    for (int i = 0; i < pl->n_ins; i++)
        if (pl->ins[i] == s) {
            if (at >= 0) return -1;
            at = i;
        }
    return at;
}

/* An fp32 elementwise op whose output has the type of its operand carrying slot s. */
static int same_f32(const mk_interp *ip, const oplan *pl, int s)
{
    const mk_value *in = ip->slot_val[s], *out;
    if (pl->op->n_outputs != 1 || pl->op->n_blocks || pl->n_attrs) return 0;
    out = pl->op->outputs[0];
    return in->type.dtype == MK_DT_FP32 && out->type.dtype == MK_DT_FP32 &&
           mk_type_equal(&in->type, &out->type);
}

/* For a binary op reading s at operand `at`: the other operand as a scalar constant whose
 * rank does not exceed s's (so the output keeps s's shape). */
static int other_scalar(const mk_interp *ip, const oplan *pl, int at, double *c, int *swap)
{
    int xi = mk_ir_operand_index(pl->op, "x"), yi = mk_ir_operand_index(pl->op, "y");
    if (xi < 0 || yi < 0 || (at != xi && at != yi) || pl->n_ins != 2) return 0;
    *swap = at == yi;
    if (!const_param(pl->op, at == xi ? "y" : "x", NAN, c) || *c != *c) return 0;
    const mk_value *other = ip->slot_val[pl->ins[at == xi ? yi : xi]];
    return other->type.rank <= ip->slot_val[pl->ins[at]]->type.rank;
}

/* A constant vector parameter of c values (or 1, broadcast), as floats (fp16-rounded under
 * emulation, as its materialised constant would be); NULL when absent or not constant. */
static float *chan_const(const mk_interp *ip, const mk_op *op, const char *name, int64_t c,
                         float def)
{
    const mk_input *in = mk_ir_input(op, name);
    float *v = mk_arena_array(ip->ar, (size_t)c + 1, sizeof *v);
    if (!v) return NULL;
    if (!in || !in->n_args) {
        for (int64_t i = 0; i < c; i++) v[i] = def;
        return v;
    }
    const mk_value *x = in->args[0];
    size_t n, need;
    if (in->n_args != 1 || !x->cst || !mk_dtype_is_float(x->type.dtype) ||
        !mk_type_is_static(&x->type) || !mk_type_numel(&x->type, &n) ||
        (n != (size_t)c && n != 1) || !mk_type_nbytes(&x->type, &need) || x->cst->nbytes < need)
        return NULL;
    for (int64_t i = 0; i < c; i++) {
        v[i] = (float)mk_ip_raw_f64(x->type.dtype, x->cst->data, n == 1 ? 0 : (size_t)i);
        if (ip->fp16 && x->type.dtype != MK_DT_FP16) v[i] = mk_round_f16(v[i]);
    }
    return v;
}

/* batch_norm over channel axis 1 of a conv output, with constant statistics: per-channel
 * scale and shift computed as its kernel does. */
static int bn_step(const mk_interp *ip, const oplan *pl, int s, mk_epi_step *st)
{
    const mk_type *t = &ip->slot_val[s]->type;
    if (t->rank < 3 || t->dims[1] < 1) return 0;
    int64_t c = t->dims[1];
    double eps;
    float *mean = chan_const(ip, pl->op, "mean", c, 0),
          *var = chan_const(ip, pl->op, "variance", c, 1);
    float *gam = chan_const(ip, pl->op, "gamma", c, 1), *bet = chan_const(ip, pl->op, "beta", c, 0);
    if (!mean || !var || !gam || !bet || !mk_ir_input(pl->op, "mean") ||
        !mk_ir_input(pl->op, "variance") || !const_param(pl->op, "epsilon", 1e-5, &eps))
        return 0;
    eps = ip->fp16 ? mk_round_f16((float)eps) : (float)eps; /* as its kernel reads it */
    for (int64_t j = 0; j < c; j++) { /* in place: gam becomes s, bet becomes sh */
        float sc = (float)(gam[j] / sqrt((double)var[j] + eps));
        bet[j] = bet[j] - mean[j] * sc;
        gam[j] = sc;
    }
    st->kind = MK_EPI_AFFINE;
    st->s = gam;
    st->sh = bet;
    return 1;
}

/* add(s, c) with c a constant vector along s's last axis (shape [.., 1, N]): an ADDV step. */
static int addv_step(const mk_interp *ip, const oplan *pl, int at, int s, mk_epi_step *st)
{
    int xi = mk_ir_operand_index(pl->op, "x"), yi = mk_ir_operand_index(pl->op, "y");
    if (pl->op->kind != MK_OP_ADD || xi < 0 || yi < 0 || (at != xi && at != yi) || pl->n_ins != 2)
        return 0;
    const mk_type *t = &ip->slot_val[s]->type,
                  *ct = &ip->slot_val[pl->ins[at == xi ? yi : xi]]->type;
    if (t->rank < 1 || ct->rank < 1 || ct->rank > t->rank || !mk_type_is_static(t) ||
        !mk_type_is_static(ct) || ct->dims[ct->rank - 1] != t->dims[t->rank - 1] ||
        t->dims[t->rank - 1] < 1)
        return 0;
    for (int d = 0; d < ct->rank - 1; d++)
        if (ct->dims[d] != 1) return 0;
    int64_t n = t->dims[t->rank - 1];
    float *v = chan_const(ip, pl->op, at == xi ? "y" : "x", n, 0);
    if (!v) return 0;
    st->kind = MK_EPI_ADDV;
    st->swap = at == yi;
    st->s = v;
    st->vn = n;
    return 1;
}

/* The step op pl performs on slot s, when it can be fused: an fp32 elementwise op whose other
 * parameters are scalar constants and whose output has s's type. Returns the operand index of
 * s, or -1. */
static int epi_step(const mk_interp *ip, const oplan *pl, int s, mk_epi_step *st)
{
    const mk_op *op = pl->op;
    int at = operand_of(pl, s), xi = mk_ir_operand_index(op, "x");
    if (at < 0 || !same_f32(ip, pl, s)) return -1;
    double a = 0, b = 0;
    memset(st, 0, sizeof *st);
    static const mk_op_kind bin[] = {MK_OP_MAXIMUM, MK_OP_MINIMUM, MK_OP_ADD,
                                     MK_OP_SUB,     MK_OP_MUL,     MK_OP_REAL_DIV};
    static const mk_epi_kind bin_epi[] = {MK_EPI_MAX, MK_EPI_MIN, MK_EPI_ADD,
                                          MK_EPI_SUB, MK_EPI_MUL, MK_EPI_DIV};
    if (op->kind == MK_OP_BATCH_NORM) {
        return at == xi && bn_step(ip, pl, s, st) ? at : -1;
    } else if (op->kind == MK_OP_RELU) {
        st->kind = MK_EPI_RELU;
    } else if (op->kind == MK_OP_RELU6) {
        st->kind = MK_EPI_RELU6;
    } else if (op->kind == MK_OP_LEAKY_RELU) {
        st->kind = MK_EPI_LEAKY;
        if (!const_param(op, "alpha", 0.01, &a)) return -1;
    } else if (op->kind == MK_OP_CLIP || op->kind == MK_OP_THRESHOLD) {
        st->kind = op->kind == MK_OP_CLIP ? MK_EPI_CLIP : MK_EPI_THRESHOLD;
        if (!const_param(op, "alpha", op->kind == MK_OP_CLIP ? -INFINITY : 0, &a) ||
            !const_param(op, "beta", INFINITY, &b))
            return -1;
    } else {
        int i = 0;
        while (i < 6 && bin[i] != op->kind) i++;
        if (i == 6) return -1;
        if (!other_scalar(ip, pl, at, &a, &st->swap)) return addv_step(ip, pl, at, s, st) ? at : -1;
        st->kind = bin_epi[i];
        return st->a = (float)a, at;
    }
    if (at != xi) return -1;
    st->a = (float)a;
    st->b = (float)b;
    return at;
}

/* v * clip(v + k, lo, hi) [/ d | * d]: add(v, k) -> clip -> mul(v, clip) [-> real_div or mul
 * by a constant], v read by exactly the add and the mul (hardswish as exporters spell it).
 * On a match fills st, marks the inner ops and returns the slot of the pattern's result. */
static int hswish(mk_interp *ip, const fuse_graph *g, int s, int q, int o, mk_epi_step *st,
                  oplan **ops, int *at, int *n_ops)
{
    if (g->uses[s] != 2 || g->uses_in[s] != 2) return -1;
    const struct rd *r = &g->rd[g->rd_start[s]];
    if (r[0].plan != q || r[1].plan != q || r[0].op <= o || r[1].op <= o) return -1;
    oplan *A = &ip->plans[q]->ops[r[0].op < r[1].op ? r[0].op : r[1].op];
    oplan *M = &ip->plans[q]->ops[r[0].op < r[1].op ? r[1].op : r[0].op];
    double k, lo, hi, d = 1;
    int sw, ai = operand_of(A, s), mi = operand_of(M, s);
    if (A->op->kind != MK_OP_ADD || M->op->kind != MK_OP_MUL || ai < 0 || mi < 0 ||
        !same_f32(ip, A, s) || !same_f32(ip, M, s) || !other_scalar(ip, A, ai, &k, &sw))
        return -1;
    oplan *B = only_reader(ip, g, A->outs[0], q, o);
    if (!B || B->op->kind != MK_OP_CLIP ||
        operand_of(B, A->outs[0]) != mk_ir_operand_index(B->op, "x") ||
        !same_f32(ip, B, A->outs[0]) || !const_param(B->op, "alpha", -INFINITY, &lo) ||
        !const_param(B->op, "beta", INFINITY, &hi) || only_reader(ip, g, B->outs[0], q, o) != M ||
        operand_of(M, B->outs[0]) < 0)
        return -1;
    memset(st, 0, sizeof *st);
    st->kind = MK_EPI_HSWISH;
    ops[0] = A, at[0] = FUSED_SKIP;
    ops[1] = B, at[1] = FUSED_SKIP;
    ops[2] = M, at[2] = mi;
    *n_ops = 3;
    int res = M->outs[0];
    oplan *D = only_reader(ip, g, res, q, o);
    int di = D ? operand_of(D, res) : -1;
    if (D && di >= 0 && same_f32(ip, D, res) &&
        ((D->op->kind == MK_OP_REAL_DIV && di == mk_ir_operand_index(D->op, "x")) ||
         D->op->kind == MK_OP_MUL) &&
        other_scalar(ip, D, di, &d, &sw)) {
        st->post = D->op->kind == MK_OP_REAL_DIV ? 1 : 2;
        ops[3] = D, at[3] = di;
        *n_ops = 4;
        res = D->outs[0];
    }
    st->a = (float)k;
    st->b = (float)lo;
    st->c = (float)hi;
    st->d = (float)d;
    return res;
}

/* v * sigmoid_hard(v) (either operand order): sigmoid_hard(v) -> mul(v, that), v read by
 * exactly the two, the sigmoid_hard's output only by the mul (hardswish as Paddle exports it). */
static int hsigmul(mk_interp *ip, const fuse_graph *g, int s, int q, int o, mk_epi_step *st,
                   oplan **ops, int *at, int *n_ops)
{
    if (g->uses[s] != 2 || g->uses_in[s] != 2) return -1;
    const struct rd *r = &g->rd[g->rd_start[s]];
    if (r[0].plan != q || r[1].plan != q || r[0].op <= o || r[1].op <= o) return -1;
    oplan *H = &ip->plans[q]->ops[r[0].op < r[1].op ? r[0].op : r[1].op];
    oplan *M = &ip->plans[q]->ops[r[0].op < r[1].op ? r[1].op : r[0].op];
    double a, b;
    int mi = operand_of(M, s);
    if (H->op->kind != MK_OP_SIGMOID_HARD || M->op->kind != MK_OP_MUL || mi < 0 ||
        operand_of(H, s) != mk_ir_operand_index(H->op, "x") || !same_f32(ip, H, s) ||
        !same_f32(ip, M, s) || only_reader(ip, g, H->outs[0], q, o) != M ||
        operand_of(M, H->outs[0]) < 0 || !const_param(H->op, "alpha", 0.2, &a) ||
        !const_param(H->op, "beta", 0.5, &b))
        return -1;
    memset(st, 0, sizeof *st);
    st->kind = MK_EPI_HSIGMUL;
    st->a = (float)a;
    st->b = (float)b;
    ops[0] = H, at[0] = FUSED_SKIP;
    ops[1] = M, at[1] = mi;
    *n_ops = 2;
    return M->outs[0];
}

/* Move chains of elementwise ops onto the conv/linear/matmul producing their input. A value
 * qualifies when only ops of the chain read it, in the same block (so nothing else sees the
 * value before the chain's end). Off under fp16 emulation, where each op's output is
 * rounded. */
int mk_ip_plan_fusion(mk_interp *ip)
{
    size_t ns = (size_t)ip->n_slots + 1, total = 0;
    fuse_graph g;
    g.uses = mk_arena_array(ip->ar, ns, sizeof *g.uses);
    g.uses_in = mk_arena_array(ip->ar, ns, sizeof *g.uses_in);
    g.rd_start = mk_arena_array(ip->ar, ns, sizeof *g.rd_start);
    if (!g.uses || !g.uses_in || !g.rd_start) return 0;
    for (int q = 0; q < ip->n_plans; q++) {
        const bplan *bp = ip->plans[q];
        for (int o = 0; o < bp->n_ops; o++) {
            const oplan *pl = &bp->ops[o];
            for (int i = 0; i < pl->n_ins; i++) g.uses_in[pl->ins[i]]++, total++;
            for (int i = 0; i < pl->n_attrs; i++)
                if (pl->attrs[i] >= 0) g.uses[pl->attrs[i]] += 2;
        }
        for (int j = 0; j < bp->b->n_outputs; j++) {
            int s = mk_pm_get(&ip->slot_of, bp->b->outputs[j]);
            if (s >= 0) g.uses[s] += 2;
        }
    }
    for (int j = 0; j < ip->f->n_inputs; j++)
        g.uses[mk_pm_get(&ip->slot_of, ip->f->inputs[j])] += 2;
    g.rd = mk_arena_array(ip->ar, total + 1, sizeof *g.rd);
    if (!g.rd) return 0;
    for (int s = 0, acc = 0; s < ip->n_slots; s++) {
        g.uses[s] += g.uses_in[s];
        g.rd_start[s] = acc;
        acc += g.uses_in[s];
        g.uses_in[s] = 0;
    }
    for (int q = 0; q < ip->n_plans; q++)
        for (int o = 0; o < ip->plans[q]->n_ops; o++) {
            const oplan *pl = &ip->plans[q]->ops[o];
            for (int i = 0; i < pl->n_ins; i++) {
                int s = pl->ins[i];
                g.rd[g.rd_start[s] + g.uses_in[s]++] = (struct rd){q, o};
            }
        }
    for (int q = 0; q < ip->n_plans; q++) {
        bplan *bp = ip->plans[q];
        for (int o = 0; o < bp->n_ops; o++) {
            oplan *host = &bp->ops[o];
            if (!epi_host(host->op->kind) || host->n_outs != 1 || host->fused_in != -1) continue;
            if (ip->slot_val[host->outs[0]]->type.dtype != MK_DT_FP32) continue;
            mk_epi ep = {0};
            oplan *chain[4 * MK_EPI_MAX_STEPS];
            int at[4 * MK_EPI_MAX_STEPS], n_chain = 0, s = host->outs[0];
            while (ep.n < MK_EPI_MAX_STEPS) {
                oplan *rd = only_reader(ip, &g, s, q, o);
                int a = rd ? epi_step(ip, rd, s, &ep.step[ep.n]) : -1, n_ops = 0;
                if (a >= 0 && ep.step[ep.n].kind == MK_EPI_AFFINE && host->op->kind != MK_OP_CONV &&
                    host->op->kind != MK_OP_CONV_TRANSPOSE)
                    a = -1; /* per-channel steps need a host that knows the channel */
                if (a >= 0 && ep.step[ep.n].kind == MK_EPI_ADDV && host->op->kind != MK_OP_LINEAR &&
                    host->op->kind != MK_OP_MATMUL)
                    a = -1; /* and vector steps one that knows the column */
                if (a >= 0) {
                    chain[n_chain] = rd;
                    at[n_chain++] = a;
                    s = rd->outs[0];
                    ep.n++;
                    continue;
                }
                int r =
                    hswish(ip, &g, s, q, o, &ep.step[ep.n], chain + n_chain, at + n_chain, &n_ops);
                if (r < 0)
                    r = hsigmul(ip, &g, s, q, o, &ep.step[ep.n], chain + n_chain, at + n_chain,
                                &n_ops);
                if (r < 0) break;
                n_chain += n_ops;
                s = r;
                ep.n++;
            }
            if (!ep.n) continue;
            host->epi = mk_arena_alloc(ip->ar, sizeof *host->epi);
            if (!host->epi) return 0;
            if (ip->fp16) { /* the constants as fp16 emulation materialises them */
                ep.round16 = 1;
                ep.overflow = mk_arena_alloc(ip->ar, sizeof *ep.overflow);
                if (!ep.overflow) return 0;
                atomic_init(ep.overflow, 0);
                for (int i = 0; i < ep.n; i++) {
                    mk_epi_step *st = &ep.step[i];
                    st->a = mk_round_f16(st->a), st->b = mk_round_f16(st->b);
                    st->c = mk_round_f16(st->c), st->d = mk_round_f16(st->d);
                }
            }
            *host->epi = ep;
            for (int i = 0; i < n_chain; i++) chain[i]->fused_in = at[i];
        }
    }
    return 1;
}
