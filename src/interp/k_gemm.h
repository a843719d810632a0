/* fp32 GEMM with a packed right operand on AVX-512 and AVX2 (k_gemm.c), for the matmul and linear
 * ops whose right operand is a constant (weights): it is packed once per session, so small-M
 * products (transformer layers over tens of tokens) skip the per-call packing and blocking of
 * OpenBLAS, and the kernel does not depend on which OpenBLAS build or OPENBLAS_CORETYPE runs. */
#ifndef MK_K_GEMM_H
#define MK_K_GEMM_H

#include "interp_int.h"

/* Whether mk_gemm_packed takes an M x N x K product on this CPU (AVX2 or AVX-512 by
 * mk_conv_direct_level, the path on, sizes it was measured faster on). */
int mk_gemm_ok(int64_t M, int64_t N, int64_t K);
/* C[M][N] = A[M][K] . op(B) (+ C when accumulate: C holds e.g. the bias rows), then the op's
 * fused epilogue. op(B) is B [K][N] (row stride ldb), or with tb the transpose of B [N][K].
 * B is packed once per session under the op (mk_kcache) when b_const, else per call. Each
 * output is one chain of fmas over k in order, from 0 or C: the bits do not depend on -j. */
mk_status mk_gemm_packed(mk_kctx *k, int64_t M, int64_t N, int64_t K, const float *a, int64_t lda,
                         const float *b, int64_t ldb, int tb, int b_const, int accumulate, float *c,
                         int64_t ldc);
/* The same product in the calling thread (e.g. one batch of a batched matmul inside a
 * mk_par_for chunk), B packed into pack (mk_gemm_pack_bytes(N, K) bytes; 0: too large) first;
 * only when mk_gemm_ok. */
size_t mk_gemm_pack_bytes(int64_t N, int64_t K);
void mk_gemm_packed_serial(mk_kctx *k, int64_t M, int64_t N, int64_t K, const float *a, int64_t lda,
                           const float *b, int64_t ldb, int tb, float *c, int64_t ldc, float *pack);
/* Tests and benchmarks: 0 turns the path off (OpenBLAS runs), 1 on for the sizes it takes, 2 on
 * for every size (also MILKIT_GEMM=0/1/2). */
void mk_gemm_enable(int on);

#endif
