/* The direct convolution kernel (k_conv_direct.c) that k_conv.c hands the convs that are not
 * depthwise or a copy-free 1x1, when the CPU has AVX2 and FMA. Spatial dims are right-aligned
 * in the 3 slots (a 1-D conv has 1s in the first two). */
#ifndef MK_K_CONV_DIRECT_H
#define MK_K_CONV_DIRECT_H

#include "interp_int.h"

typedef struct mk_cdirect {
    int64_t N, groups, cig, cog;
    int64_t in[3], k[3], o[3], s[3], d[3], pb[3];
    int64_t k_n;               /* taps: k[0] * k[1] * k[2] */
    const float *x, *w, *bias; /* bias: NULL or cog * groups values */
    int w_const;               /* w is the same constant every run: packed once per session */
    float *out;
} mk_cdirect;

/* Whether mk_conv_direct takes this conv on this CPU. */
int mk_conv_direct_ok(const mk_cdirect *c);
/* The conv into c->out, bias added first, then the op's fused activations. */
mk_status mk_conv_direct(mk_kctx *k, const mk_cdirect *c);
/* Tests: the widest kernel used, 0 none (im2col), 1 AVX2, 2 AVX-512 (the default). */
void mk_conv_direct_cap(int level);
/* Tests: with AVX-512, store the kept positions of padded or strided convs straight into the
 * output (on, the default) or stage whole rows and copy (off). */
void mk_conv_direct_pack(int on);
/* Tests: with AVX2 (level 1), depthwise convs (one input channel per group, 2-D) by blocks of
 * output rows from per-chunk input windows (on, the default) or by the staged positions of the
 * other convs (off). The same bits. */
void mk_conv_direct_dwrows(int on);
/* Tests: with AVX2, rows padded on both sides share their padding columns (on, the default) or
 * are the whole padded width apart (off). The same bits. */
void mk_conv_direct_wrap(int on);
/* The kernel level used now (0 when none). */
int mk_conv_direct_level(void);

#endif
