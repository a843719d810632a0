/* The 1x1 convolution kernel (k_conv_1x1.c) that k_conv.c hands the stride-1 unpadded 1x1 convs
 * on AVX-512 CPUs, described by the direct kernel's mk_cdirect. */
#ifndef MK_K_CONV_1X1_H
#define MK_K_CONV_1X1_H

#include "k_conv_direct.h"

/* Whether mk_conv_1x1 takes this conv on this CPU: 1 tap, unit strides, no padding, output
 * plane = input plane, at least 128 output channels per group, AVX-512 allowed
 * (mk_conv_direct_level() == 2) and the path on (mk_conv_1x1_enable, MILKIT_CONV_1X1). */
int mk_conv_1x1_ok(const mk_cdirect *c);
/* The conv into c->out, bias added first, then the op's fused activations. */
mk_status mk_conv_1x1(mk_kctx *k, const mk_cdirect *c);
/* Tests and benchmarks: 0 turns the path off (the direct kernel runs), 1 back on. */
void mk_conv_1x1_enable(int on);

#endif
