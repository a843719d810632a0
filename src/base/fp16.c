/* IEEE binary16 <-> binary32 conversion, round to nearest even; values past the half range
 * become infinities, as an fp16 store on a GPU or the Neural Engine makes them. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "base.h"

uint16_t mk_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t e = (x >> 23) & 0xffu, m = x & 0x7fffffu;
    if (e == 0xff) return (uint16_t)(sign | 0x7c00u | (m ? 0x200u | (m >> 13) : 0));
    int32_t ne = (int32_t)e - 127 + 15;
    if (ne >= 0x1f) return (uint16_t)(sign | 0x7c00u);
    if (ne <= 0) {
        if (ne < -10) return sign;
        m |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - ne);
        uint32_t hm = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (hm & 1u))) hm++;
        return (uint16_t)(sign | hm);
    }
    uint32_t hm = m >> 13, rem = m & 0x1fffu;
    uint32_t h = ((uint32_t)ne << 10) | hm;
    if (rem > 0x1000u || (rem == 0x1000u && (hm & 1u))) h++; /* may carry into inf: correct */
    return (uint16_t)(sign | h);
}

float mk_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, x;
    if (e == 0) {
        if (m == 0) {
            x = sign;
        } else {
            e = 127 - 15 + 1;
            while (!(m & 0x400u)) {
                m <<= 1;
                e--;
            }
            x = sign | (e << 23) | ((m & 0x3ffu) << 13);
        }
    } else if (e == 0x1f) {
        x = sign | 0x7f800000u | (m << 13);
    } else {
        x = sign | ((e - 15 + 127) << 23) | (m << 13);
    }
    float f;
    memcpy(&f, &x, 4);
    return f;
}

float mk_round_f16(float f)
{
    return mk_f16_to_f32(mk_f32_to_f16(f));
}

/* Fixed-length blocks let the compiler vectorize the tests even at its cheapest cost model. */
enum { SCAN_BLOCK = 4096 };

static int beyond(float x, float hi)
{
    float a = fabsf(x);
    return (a > 65504.0f) & (a <= hi); /* NaN compares false */
}

static unsigned block_beyond(const float *f, float hi)
{
    unsigned hits = 0;
    for (int i = 0; i < SCAN_BLOCK; i++) hits |= (unsigned)beyond(f[i], hi);
    return hits;
}

size_t mk_f32_find_beyond_f16(const float *f, size_t n, int finite_only)
{
    const float hi = finite_only ? FLT_MAX : INFINITY;
    size_t i = 0;
    for (; i + SCAN_BLOCK <= n; i += SCAN_BLOCK)
        if (block_beyond(f + i, hi)) break;
    for (; i < n; i++)
        if (beyond(f[i], hi)) return i;
    return n;
}

/* Inlined with n = SCAN_BLOCK, the loop has a fixed trip count and vectorizes. */
static inline unsigned range_of(const float *f, size_t n)
{
    unsigned over = 0, finite = 0;
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(f[i]);
        over |= (unsigned)(a > 65504.0f);
        finite |= (unsigned)((a > 65504.0f) & (a <= FLT_MAX));
    }
    return (over ? MK_F16_OVER : 0u) | (finite ? MK_F16_OVER_FINITE : 0u);
}

enum { RANGE_ALL = MK_F16_OVER | MK_F16_OVER_FINITE };

unsigned mk_f32_f16_range(const float *f, size_t n)
{
    unsigned r = 0;
    size_t i = 0;
    for (; i + SCAN_BLOCK <= n && r != RANGE_ALL; i += SCAN_BLOCK) r |= range_of(f + i, SCAN_BLOCK);
    if (r != RANGE_ALL) r |= range_of(f + i, n - i);
    return r;
}

unsigned mk_f32_copy_f16_range(float *dst, const void *src, size_t n)
{
    const unsigned char *s = src;
    unsigned r = 0;
    size_t i = 0;
    for (; i + SCAN_BLOCK <= n; i += SCAN_BLOCK) {
        memcpy(dst + i, s + 4 * i, 4 * (size_t)SCAN_BLOCK);
        if (r != RANGE_ALL) r |= range_of(dst + i, SCAN_BLOCK);
    }
    if (i < n) {
        memcpy(dst + i, s + 4 * i, 4 * (n - i));
        r |= range_of(dst + i, n - i);
    }
    return r;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>

__attribute__((target("avx,f16c"))) static void f32_to_f16_f16c(const float *src, uint16_t *dst,
                                                                size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)(void *)(dst + i), h);
    }
    for (; i < n; i++) dst[i] = mk_f32_to_f16(src[i]);
}

/* In place: each 32-byte load is consumed before the 16-byte store that may overlap it, and
 * every store lands below the next load, so no input is overwritten before it is read. */
__attribute__((target("avx,f16c"))) static size_t f32_to_f16_f16c_inplace(unsigned char *b,
                                                                          size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps((const float *)(void *)(b + 4 * i)),
                                    _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)(void *)(b + 2 * i), h);
    }
    return i;
}

__attribute__((target("avx,f16c"))) static size_t round_f16c(float *d, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(d + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_ps(d + i, _mm256_cvtph_ps(h));
    }
    return i;
}

/* CPUID.1:ECX bits 27 (OSXSAVE), 28 (AVX), 29 (F16C), and the OS saving YMM state (XCR0). */
static int probe_f16c(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if ((c & (7u << 27)) != (7u << 27)) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    return (lo & 6u) == 6u;
}

/* The one process-wide cache in milkit: a CPU fact, set once. cpuid traps to the hypervisor
 * in a VM (tens of microseconds), too slow to ask per constant. */
static int have_f16c(void)
{
    static _Atomic int known; /* 0 unknown, 1 no, 2 yes */
    int k = known;
    if (!k) known = k = probe_f16c() ? 2 : 1;
    return k == 2;
}
#endif

void mk_f32_to_f16_n(const float *src, uint16_t *dst, size_t n)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (n >= 64 && have_f16c()) {
        f32_to_f16_f16c(src, dst, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++) dst[i] = mk_f32_to_f16(src[i]);
}

void mk_f32_to_f16_inplace(void *buf, size_t n)
{
    unsigned char *b = buf;
    size_t i = 0;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (n >= 64 && have_f16c()) i = f32_to_f16_f16c_inplace(b, n);
#endif
    for (; i < n; i++) {
        float f;
        memcpy(&f, b + 4 * i, 4);
        uint16_t h = mk_f32_to_f16(f);
        memcpy(b + 2 * i, &h, 2);
    }
}

void mk_round_f16_n(float *d, size_t n)
{
    size_t i = 0;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (n && have_f16c()) { /* short runs too (fused epilogues round rows of a few values) */
        i = round_f16c(d, n);
        if (i < n) {
            float t[8] = {0};
            memcpy(t, d + i, (n - i) * 4);
            round_f16c(t, 8);
            memcpy(d + i, t, (n - i) * 4);
        }
        return;
    }
#endif
    for (; i < n; i++) d[i] = mk_round_f16(d[i]);
}
