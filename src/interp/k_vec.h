/* Row primitives the transformer kernels share (softmax, attention, gelu): AVX-512 or AVX2
 * intrinsics with masked tails when the CPU has them, else the auto-vectorised loops of
 * interp_int.h. All paths evaluate the same fp32 expressions in the same order (sums in fixed
 * double lanes), so they give the same bits; k_vec.c. */
#ifndef MK_K_VEC_H
#define MK_K_VEC_H

#include "interp_int.h"

/* The largest of x[0..n) that is not NaN (-inf when none). */
float mk_vec_max(const float *x, int64_t n);
/* o[i] = mk_exp_neg(x[i] - mx) (o may be x); returns the sum of o in 8 double lanes (element
 * q to lane q % 8 for whole groups of 8, the rest to lane 0, lanes added 0..7). */
double mk_vec_exp_sum(float *o, const float *x, float mx, int64_t n);
/* o[i] *= v */
void mk_vec_scale(float *o, float v, int64_t n);
/* One softmax row: max, exp and sum, times (float)(1 / sum). */
void mk_vec_softmax(const float *x, float *o, int64_t n);
/* o[i] = 0.5 x (1 + erf(x / sqrt 2)) with mk_erf. */
void mk_vec_gelu(const float *x, float *o, int64_t n);
/* The largest finite |x[i]| (0 when none). */
float mk_vec_max_finite_abs(const float *x, int64_t n);
/* Round x[0..n) to half in place (as mk_round_f16_n); 1 when a finite |x[i]| was beyond
 * 65504 before, else 0. */
int mk_vec_round16(float *x, int64_t n);
/* Round x[0..n) to half in place (as mk_round_f16_n), in one pass; returns the index of the
 * first finite value that became an infinity (*was: that value before), n when none. */
int64_t mk_vec_round16_inf(float *x, int64_t n, float *was);
/* Tests: the widest path used, 0 the portable loops, 1 AVX2 with FMA and F16C (8 lanes; also
 * the fused epilogue's fp16 rounding in ip_fuse.c), 2 AVX-512 (the default when present). */
void mk_vec_cap(int level);
int mk_vec_level(void);

#endif
