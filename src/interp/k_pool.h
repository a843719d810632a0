/* The pooling kernels' test hook (k_pool.c): max_pool's AVX-512 and AVX2 row kernels can be
 * capped so that tests compare them with each other and the portable separable passes. */
#ifndef MK_K_POOL_H
#define MK_K_POOL_H

#include "interp_int.h"

/* Tests: the widest row kernel used: 0 the portable passes, 1 AVX2, 2 (the default) AVX-512
 * when the CPU has it. */
void mk_pool_simd_cap(int level);

#endif
