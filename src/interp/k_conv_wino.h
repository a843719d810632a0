/* Winograd F(2x2,3x3) and F(4x4,3x3) convolution (k_conv_wino.c) for the 2-D 3x3 stride-1 undilated
 * convs with one group that k_conv.c hands it on AVX-512 or AVX2 + FMA CPUs, described by the
 * direct kernel's mk_cdirect (any padding; spatial dims right-aligned, so a 2-D conv has in[0] =
 * k[0] = o[0] = 1).
 */
#ifndef MK_K_CONV_WINO_H
#define MK_K_CONV_WINO_H

#include "k_conv_direct.h"

/* Whether mk_conv_wino takes this conv on this CPU: the shape (3x3, stride 1, dilation 1, one
 * group, 2-D; under fp16 emulation too: rounding comes after), AVX-512 or AVX2 allowed
 * (mk_conv_direct_level() 2 or 1) and the measured size rule of that level where it beats the
 * direct kernel. */
int mk_conv_wino_ok(const mk_cdirect *c);
/* The conv into c->out, bias added, then the op's fused activations. */
mk_status mk_conv_wino(mk_kctx *k, const mk_cdirect *c);
/* Whether mk_conv_wino runs this conv (mk_conv_wino_ok) as F(4x4,3x3) rather than F(2x2,3x3),
 * by the measured rule of the ISA level (mk_conv_wino_f4_mode). */
int mk_conv_wino_f4(mk_kctx *k, const mk_cdirect *c);
/* Tests and benchmarks (also MILKIT_CONV_WINO=f2 or f4): F(4x4,3x3) 0 never, 1 by the measured
 * rule, 2 for every conv of the Winograd path. */
void mk_conv_wino_f4_mode(int mode);
/* Tests and benchmarks: 0 turns the Winograd path off (the direct kernel runs), 1 back on, 2 on
 * for every size of the shape on AVX2 (tests of small planes; the AVX-512 rule stays). */
void mk_conv_wino_enable(int on);
/* Tests: 0 turns the channel-vector variant for small planes off, 1 back on; how many convs
 * ran it (a process-wide count). */
void mk_conv_wino_cv_enable(int on);
long mk_conv_wino_cv_runs(void);

#endif
