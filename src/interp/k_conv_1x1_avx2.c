/* 1x1 stride-1 unpadded convolution on AVX2+FMA CPUs (mk_conv_direct_level() == 1): the
 * AVX-512 kernel's blocked GEMM [cog x cig] . [cig x plane] per (image, group) with 8-float
 * vectors and 16 registers. The input is packed into tiles of C2_NT positions ([cig][wt], wt the
 * tile's width rounded up to whole vectors, zeros after the plane), per chunk into the thread's
 * scratch when a tile is one chunk, else once into a shared copy. A chunk (tile, range of
 * channel blocks) runs over blocks of at most C2_KC input channels; per block, each channel
 * block's packed weights ([kn][C2_CB], one stream, from L2) are used for the tile's register
 * blocks of C2_V vectors one after the other (from L1), and the panel of the tile (C2_KC x C2_NT
 * floats) stays in L1 for the whole range. A register block (C2_CB channels x C2_V vectors)
 * starts from the bias or the stored partial sums, adds the input channels in order with one
 * fma each and is stored between blocks as fp32: each output is the same chain of fmas in
 * input channel order whatever the tiling, so the bits do not depend on -j. relu / relu6 / clip
 * are applied in registers before the last store, other activations after, on whole planes. */
#include <string.h>

#include "k_conv_1x1.h"
#include "k_lanes.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define C2_X86 1
#endif

/* Register block and tile, measured with bench/conv_1x1 on an AMD EPYC (AVX2, 1 MiB L2): see
 * the commit message and docs/DESIGN.md. */
#ifndef C2_CB
#define C2_CB 6 /* output channels per register block */
#endif
#ifndef C2_V
#define C2_V 2 /* vectors of positions per register block */
#endif
#define C2_VL 8              /* floats per vector */
#define C2_NB (C2_V * C2_VL) /* positions per register block */
#ifndef C2_NT
#define C2_NT 48 /* positions per tile, a multiple of C2_NB */
#endif
#ifndef C2_KC
#define C2_KC 128 /* at most this many input channels per GEMM block */
#endif
#define C2_PFA 512 /* prefetch distance in the packed weights (floats): 2 KiB ahead */
/* tiles read in place (no packed copy) for at most this many output channels, unless the
 * plane is a multiple of C2_DIRECT_PM positions (measured slower there) */
#ifndef C2_DIRECT_CO
#define C2_DIRECT_CO 64
#endif
#ifndef C2_DIRECT_PM
#define C2_DIRECT_PM 128
#endif

#ifdef C2_X86
typedef struct c2_job {
    mk_c1x1_plan p;
    int direct; /* local and few output channels: whole tiles read from x unpacked */
} c2_job;

#define C2_TGT __attribute__((target("avx2,fma")))
/* The direct kernel's and the epilogue's expressions: relu clears negatives by their sign bit,
 * relu6 and clip use minps/maxps in that operand order (the same result for NaN). */
#define C2_RELU(v)                                                                                 \
    _mm256_castsi256_ps(_mm256_andnot_si256(_mm256_srai_epi32(_mm256_castps_si256(v), 31),         \
                                            _mm256_castps_si256(v)))

/* One register block: C2_CB channels x V vectors. acc starts from the bias (first GEMM block)
 * or from dst, adds kc rows of the panel b (row stride ldb) times the packed weights a
 * ([kc][C2_CB]), then (last block) the activation; stores the nc channels' vectors, the last
 * one masked to n positions. */
#define C2_KERN(name, V)                                                                           \
    C2_TGT static void name(const float *a, const float *b, int64_t ldb, int64_t kc,               \
                            float *const *dst, int nc, int64_t n, const float *bias, int first,    \
                            int kind, float lo, float hi)                                          \
    {                                                                                              \
        __m256 acc[C2_CB][V];                                                                      \
        int rest = (int)(n - (V - 1) * C2_VL);                                                     \
        __m256i m = mk_lanes8(rest);                                                               \
        _Pragma("GCC unroll 8") for (int c = 0; c < C2_CB; c++)                                    \
            _Pragma("GCC unroll 4") for (int v = 0; v < V; v++) acc[c][v] =                        \
                first        ? (bias ? _mm256_set1_ps(bias[c]) : _mm256_setzero_ps())              \
                : v == V - 1 ? _mm256_maskload_ps(dst[c] + v * C2_VL, m)                           \
                             : _mm256_loadu_ps(dst[c] + v * C2_VL);                                \
        for (int64_t r = 0; r < kc; r++) {                                                         \
            const float *xp = b + r * ldb, *wr = a + r * C2_CB;                                    \
            __m256 xv[V];                                                                          \
            if (!(r & 1)) _mm_prefetch((const char *)(wr + C2_PFA), _MM_HINT_T0);                  \
            _Pragma("GCC unroll 4") for (int v = 0; v < V; v++) xv[v] =                            \
                _mm256_loadu_ps(xp + v * C2_VL);                                                   \
            _Pragma("GCC unroll 8") for (int c = 0; c < C2_CB; c++)                                \
            {                                                                                      \
                __m256 wv = _mm256_broadcast_ss(wr + c);                                           \
                _Pragma("GCC unroll 4") for (int v = 0; v < V; v++) acc[c][v] =                    \
                    _mm256_fmadd_ps(wv, xv[v], acc[c][v]);                                         \
            }                                                                                      \
        }                                                                                          \
        if (kind) {                                                                                \
            __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi), six = _mm256_set1_ps(6.0f); \
            _Pragma("GCC unroll 8") for (int c = 0; c < C2_CB; c++)                                \
                _Pragma("GCC unroll 4") for (int v = 0; v < V; v++) acc[c][v] =                    \
                    kind == 1   ? C2_RELU(acc[c][v])                                               \
                    : kind == 2 ? _mm256_min_ps(C2_RELU(acc[c][v]), six)                           \
                                : _mm256_min_ps(vhi, _mm256_max_ps(vlo, acc[c][v]));               \
        }                                                                                          \
        _Pragma("GCC unroll 8") for (int c = 0; c < C2_CB; c++)                                    \
        {                                                                                          \
            if (c >= nc) break;                                                                    \
            _Pragma("GCC unroll 4") for (int v = 0; v < V - 1; v++)                                \
                _mm256_storeu_ps(dst[c] + v * C2_VL, acc[c][v]);                                   \
            if (rest == C2_VL)                                                                     \
                _mm256_storeu_ps(dst[c] + (V - 1) * C2_VL, acc[c][V - 1]);                         \
            else                                                                                   \
                _mm256_maskstore_ps(dst[c] + (V - 1) * C2_VL, m, acc[c][V - 1]);                   \
        }                                                                                          \
    }
C2_KERN(c2_k1, 1)
#if C2_V >= 2
C2_KERN(c2_k2, 2)
#endif
#if C2_V >= 3
C2_KERN(c2_k3, 3)
#endif
#if C2_V >= 4
C2_KERN(c2_k4, 4)
#endif

typedef void (*c2_kern)(const float *, const float *, int64_t, int64_t, float *const *, int,
                        int64_t, const float *, int, int, float, float);
static const c2_kern c2_kerns[C2_V + 1] = {
    NULL,  c2_k1,
#if C2_V >= 2
    c2_k2,
#endif
#if C2_V >= 3
    c2_k3,
#endif
#if C2_V >= 4
    c2_k4,
#endif
};

/* Positions of tile t and its packed row width (whole vectors). */
static int64_t c2_tile_w(const mk_c1x1_plan *J, int64_t t, int64_t *wt)
{
    int64_t t0 = t * C2_NT, w = J->P - t0 < C2_NT ? J->P - t0 : C2_NT;
    *wt = (w + C2_VL - 1) / C2_VL * C2_VL;
    return w;
}

/* Tile t of image-group ng packed as [cig][wt], the positions past the plane 0 (a masked load:
 * nothing past the plane is read). Vector copies: memcpy per row was 6% of a 384 -> 384 conv at
 * 20x20 (perf). */
C2_TGT static void c2_pack_tile(const mk_c1x1_plan *J, int64_t ng, int64_t t, float *d)
{
    const mk_cdirect *c = J->c;
    int64_t wt, w = c2_tile_w(J, t, &wt), nv = wt / C2_VL;
    __m256i m = mk_lanes8(w - (nv - 1) * C2_VL);
    const float *x = c->x + ng * c->cig * J->P + t * C2_NT;
    int pf = t + 1 < J->ntile; /* the next tile's rows, which this thread usually packs next */
    for (int64_t r = 0; r < c->cig; r++, d += wt, x += J->P) {
        if (pf)
            for (int64_t q = 0; q < C2_NT; q += 16)
                _mm_prefetch((const char *)(x + C2_NT + q), _MM_HINT_T0);
        for (int64_t v = 0; v < nv - 1; v++)
            _mm256_storeu_ps(d + v * C2_VL, _mm256_loadu_ps(x + v * C2_VL));
        _mm256_storeu_ps(d + (nv - 1) * C2_VL, _mm256_maskload_ps(x + (nv - 1) * C2_VL, m));
    }
}

static void c2_pack(void *ctx, int64_t i, int tid)
{
    const mk_c1x1_plan *J = &((const c2_job *)ctx)->p;
    (void)tid;
    c2_pack_tile(J, i / J->ntile, i % J->ntile, J->px + i * J->c->cig * C2_NT);
}

/* Chunk i: tile i % ntile (fastest: a thread's consecutive chunks reuse the range's weights
 * from L2) of the channel block range and image-group above it. */
static void c2_chunk(void *ctx, int64_t i, int tid)
{
    const c2_job *job = ctx;
    const mk_c1x1_plan *J = &job->p;
    const mk_cdirect *c = J->c;
    int64_t ng, gi, t, b0, b1;
    mk_conv_1x1_chunk_at(J, i, &ng, &gi, &t, &b0, &b1);
    int64_t t0 = t * C2_NT, cig = c->cig, wt, w = c2_tile_w(J, t, &wt);
    const float *tile = J->px + (ng * J->ntile + t) * cig * C2_NT;
    int64_t ld = wt;
    if (job->direct && w == C2_NT) {
        tile = c->x + ng * cig * J->P + t0;
        ld = J->P;
        if (t + 1 < J->ntile)
            for (int64_t r = 0; r < cig; r++)
                for (int64_t q = 0; q < C2_NT; q += 16)
                    _mm_prefetch((const char *)(tile + r * ld + C2_NT + q), _MM_HINT_T0);
    } else if (J->local) {
        float *d = mk_par_scratch((mk_kctx *)J->k, tid);
        c2_pack_tile(J, ng, t, d);
        tile = d;
    }
    for (int64_t kb = 0; kb < J->nkb; kb++) {
        int64_t r0 = kb * J->kc, kn = cig - r0 < J->kc ? cig - r0 : J->kc;
        int first = kb == 0, kind = kb == J->nkb - 1 ? J->kind : 0;
        const float *bp = tile + r0 * ld;
        for (int64_t b = b0; b < b1; b++) {
            float bv[C2_CB], *dst[C2_CB];
            int nc = mk_conv_1x1_block(J, ng, b, t0, bv, dst);
            const float *a = mk_conv_1x1_wblk(J, gi, r0, kn, b);
            const float *bias = c->bias ? bv : NULL;
            for (int64_t s = 0; s < w; s += C2_NB) {
                int64_t n = w - s < C2_NB ? w - s : C2_NB;
                float *ds[C2_CB];
                for (int q = 0; q < C2_CB; q++) ds[q] = dst[q] + s;
                c2_kerns[(n + C2_VL - 1) / C2_VL](a, bp + s, ld, kn, ds, nc, n, bias, first, kind,
                                                  J->lo, J->hi);
            }
        }
    }
}

#endif

int mk_conv_1x1_avx2_ok(const mk_cdirect *c, int any)
{
#ifdef C2_X86
    if (c->k_n != 1) return 0;
    for (int i = 0; i < 3; i++)
        if (c->s[i] != 1 || c->pb[i] != 0 || c->o[i] != c->in[i] || c->k[i] != 1) return 0;
    /* measured (bench/conv_1x1, min thread CPU time of 9 alternating runs, 53 shapes of
     * SqueezeNet 1.1 and PP-OCR): OpenBLAS is as fast or faster with more input channels (two or
     * more GEMM blocks; 256 -> 32 at 27x27 1.3x slower here) and on the largest planes (16 -> 32
     * at 320x320 1.2x); with at most 128 input channels this kernel took 0.72-1.04x of its time
     * but on 3 shapes of 33 */
    return any || (c->cig <= C2_KC && c->o[0] * c->o[1] * c->o[2] < 65536);
#else
    (void)c;
    (void)any;
    return 0;
#endif
}

mk_status mk_conv_1x1_avx2(mk_kctx *k, const mk_cdirect *c)
{
#ifdef C2_X86
    c2_job J;
    mk_status st = mk_conv_1x1_plan(k, c, C2_CB, C2_NT, C2_KC, 524288, 2, &J.p);
    if (st) return st;
    J.direct = J.p.local && c->cog <= C2_DIRECT_CO && J.p.P % C2_DIRECT_PM;
    return mk_conv_1x1_launch(k, &J.p, &J, c2_pack, c2_chunk);
#else
    (void)c;
    return mk_kerr(k, MK_EINTERNAL, "1x1 conv kernel needs AVX2");
#endif
}
