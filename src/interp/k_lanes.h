/* Lane masks for the kernels' masked tails, one definition for every SIMD file: the first n
 * lanes of a vector (n clamped to the vector's width; n <= 0: none). */
#ifndef MK_K_LANES_H
#define MK_K_LANES_H

#include <stdint.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

/* AVX2: the lanes below n of 8, as maskload/maskstore take them. */
__attribute__((target("avx2"))) static inline __m256i mk_lanes8(int64_t n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n < 0   ? 0
                                                      : n > 8 ? 8
                                                              : n)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#endif

#endif
