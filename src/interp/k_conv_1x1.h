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
/* What both variants share: the plan of a conv's GEMM (the blocking, the packed weights, the
 * packed input's place) and the steps around their ISA-specific register blocks. A chunk is
 * (image-group, range of channel blocks, tile), tiles varying fastest. */
typedef struct mk_c1x1_plan {
    const mk_kctx *k;
    const mk_cdirect *c;
    const float *pw;  /* weights [groups][nkb][ncb][kn][cb], spare lanes repeat the last */
    float *px;        /* packed input: per (image, group) ntile tiles of cig * nt floats */
    int cb;           /* output channels per register block */
    int64_t nt;       /* positions per tile */
    int64_t P;        /* positions per plane */
    int64_t ntile;    /* tiles per plane */
    int64_t ncb;      /* channel blocks per group */
    int64_t bpc, ncr; /* channel blocks per chunk, chunks (ranges) per tile */
    int64_t kc, nkb;  /* input channels per GEMM block, blocks */
    int kind;         /* fused activation in registers: 0 none, 1 relu, 2 relu6, 3 clip */
    float lo, hi;     /* clip bounds */
    int local;        /* ncr == 1: each chunk packs its tile into its thread's scratch */
    size_t xb;        /* bytes of packed input (one tile when local) */
} mk_c1x1_plan;

/* The plan for register blocks of cb channels, tiles of nt positions, GEMM blocks of at most
 * kcmax input channels and chunks of about `macs` multiply-adds (shapes alone decide them, so
 * the bits do not depend on -j); the weights packed (once per session for constant ones, in the
 * kernel cache under c->w + key: each variant its own packing). */
mk_status mk_conv_1x1_plan(mk_kctx *k, const mk_cdirect *c, int cb, int64_t nt, int64_t kcmax,
                           int64_t macs, int key, mk_c1x1_plan *p);
/* Chunk i's image-group ng (group gi), tile t and channel blocks [b0, b1). */
void mk_conv_1x1_chunk_at(const mk_c1x1_plan *p, int64_t i, int64_t *ng, int64_t *gi, int64_t *t,
                          int64_t *b0, int64_t *b1);
/* Channel block b of image-group ng from position t0: per lane its bias (bv) and output row
 * (dst), the spare lanes repeating the last channel; returns the block's channel count. */
int mk_conv_1x1_block(const mk_c1x1_plan *p, int64_t ng, int64_t b, int64_t t0, float *bv,
                      float **dst);
/* The packed weights of channel block b of group gi for the GEMM block of kn input channels
 * from r0. */
const float *mk_conv_1x1_wblk(const mk_c1x1_plan *p, int64_t gi, int64_t r0, int64_t kn, int64_t b);
/* Packs the input (pack: one tile per index, skipped when local), runs the chunks, then the
 * fused activations not applied in registers. job is what pack and chunk receive. */
mk_status mk_conv_1x1_launch(mk_kctx *k, const mk_c1x1_plan *p, void *job, mk_par_fn pack,
                             mk_par_fn chunk);
/* Tests and benchmarks: 0 turns the path off (the direct kernel or OpenBLAS runs), 1 back on,
 * 2 on for every shape the AVX2 variant can take (also MILKIT_CONV_1X1=0/1/2). */
void mk_conv_1x1_enable(int on);

#endif
