/* The pooling kernels' test hook (k_pool.c): max_pool's AVX-512 row kernel can be turned off so
 * that tests compare it with the portable separable passes. */
#ifndef MK_K_POOL_H
#define MK_K_POOL_H

#include "interp_int.h"

/* Tests: 0 takes the portable passes even on an AVX-512 CPU, 1 (the default) the fastest. */
void mk_pool_simd_cap(int on);

#endif
