/* The 1x1 convolution kernels (k_conv_1x1.c, k_conv_1x1_avx2.c) that k_conv.c hands the stride-1
 * unpadded 1x1 convs on AVX-512 and AVX2 CPUs, described by the direct kernel's mk_cdirect. */
#ifndef MK_K_CONV_1X1_H
#define MK_K_CONV_1X1_H

#include "k_conv_direct.h"

/* Whether mk_conv_1x1 takes this conv on this CPU: 1 tap, unit strides, no padding, output
 * plane = input plane, the path on (mk_conv_1x1_enable, MILKIT_CONV_1X1), and with AVX-512
 * allowed (mk_conv_direct_level() == 2) at least 128 output channels per group, with AVX2 only
 * (level 1) mk_conv_1x1_avx2_ok. */
int mk_conv_1x1_ok(const mk_cdirect *c);
/* The conv into c->out, bias added first, then the op's fused activations. */
mk_status mk_conv_1x1(mk_kctx *k, const mk_cdirect *c);
/* The AVX2+FMA variant (k_conv_1x1_avx2.c) that the two above hand the convs when
 * mk_conv_direct_level() == 1: whether it takes the conv (any: every 1x1 stride-1 unpadded
 * conv, else those of the shapes it was measured faster on), and the conv. */
int mk_conv_1x1_avx2_ok(const mk_cdirect *c, int any);
mk_status mk_conv_1x1_avx2(mk_kctx *k, const mk_cdirect *c);
/* Shared by both variants: the weights as their chunks read them (per group and block of kc
 * input channels, the ncb channel blocks one after the other, [kn][cb] each, spare lanes
 * repeating the last channel), and the op's fused activations not applied in registers, on
 * whole output planes of P positions (elementwise: the direct kernel's bits). */
void mk_conv_1x1_pack_w(const mk_cdirect *c, int64_t kc, int64_t nkb, int64_t ncb, int cb,
                        float *pw);
void mk_conv_1x1_epilogue(mk_kctx *k, const mk_cdirect *c, int64_t P);
/* Tests and benchmarks: 0 turns the path off (the direct kernel or OpenBLAS runs), 1 back on,
 * 2 on for every shape the AVX2 variant can take (also MILKIT_CONV_1X1=0/1/2). */
void mk_conv_1x1_enable(int on);

#endif
