/* Direct convolution (no im2col) for convs of any stride, dilation, padding and groups on CPUs
 * with AVX2/FMA. The input is copied once into zero-padded planes split by stride phase, so
 * that every tap reads the output positions of a plane as one contiguous run: output row o1,
 * column o2 is position o1 * Q2 + o2 of a plane Q2 wide (the columns past O2 are computed and
 * dropped). Blocks of output channels x positions accumulate in registers (AVX2: 4 channels x
 * 24 positions, AVX-512: 8 x 48; depthwise: 1 x 32 or 1 x 64), summing over (input channel, tap) in
 * one fixed order, so the bits do not depend on the chunking (-j). */
#include <stdlib.h>
#include <string.h>

#include "k_conv_direct.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define CD_X86 1
#endif

typedef struct cd_job {
    const mk_kctx *k;
    const mk_cdirect *c;
    const float *pad;      /* per (image, input channel): P0 slices of s1 * s2 phase planes */
    const int64_t *toff;   /* per tap: its offset from a slice's position 0 */
    int64_t P0, Q1, Q2;    /* padded depth, phase plane rows and width */
    int64_t slice, cplane; /* floats per depth slice (s1 * s2 * Q1 * Q2), per input channel */
    int64_t npos;          /* positions per output slice: (O1 - 1) * Q2 + O2 */
    int64_t cb, ncb;       /* channels per block, blocks per group */
    int64_t span, nspan;   /* positions per chunk, chunks per output slice */
    int isa;
} cd_job;

/* Stores positions [p, p + n) of channel co's block (tmp) into its output plane o, only the
 * columns below O2, after the op's fused activations (on the whole block while in cache). */
static void put(const cd_job *J, int64_t co, float *o, float *tmp, int64_t p, int64_t n)
{
    int64_t Q2 = J->Q2, W = J->c->o[2];
    int64_t row = p / Q2, col = p % Q2;
    if (J->k->epi) mk_epi_apply(J->k->epi, NULL, co, tmp, (size_t)n);
    for (int64_t i = 0; i < n;) {
        int64_t run = Q2 - col < n - i ? Q2 - col : n - i;
        if (col < W)
            memcpy(o + row * W + col, tmp + i, (size_t)(W - col < run ? W - col : run) * 4);
        i += run;
        row++;
        col = 0;
    }
}

#ifdef CD_X86
#define CD_UNROLL _Pragma("GCC unroll 8")
/* acc[CB][V] vectors of L floats over positions p .. p + V*L of one output slice: every (input
 * channel, tap) adds a broadcast weight times V input vectors; then n of them are stored. */
#define CD_BLOCK(name, TGT, VT, L, CB, V, ZERO, SET1, MT, MASK, LOAD, FMA, STORE)                  \
    TGT static void name(const cd_job *J, const float *x0, const float *const *w,                  \
                         const float *bias, float *const *o, int64_t co0, int64_t p, int64_t n)    \
    {                                                                                              \
        const int64_t kn = J->c->k_n, cig = J->c->cig, cplane = J->cplane;                         \
        VT acc[CB][V];                                                                             \
        MT m = MASK(n);                                                                            \
        (void)m;                                                                                   \
        CD_UNROLL for (int c = 0; c < CB; c++) CD_UNROLL for (int v = 0; v < V; v++) acc[c][v] =   \
            bias ? SET1(bias[c]) : ZERO();                                                         \
        for (int64_t ci = 0; ci < cig; ci++) {                                                     \
            const float *xc = x0 + ci * cplane + p;                                                \
            const int64_t wb = ci * kn;                                                            \
            for (int64_t t = 0; t < kn; t++) {                                                     \
                const float *xp = xc + J->toff[t];                                                 \
                VT xv[V];                                                                          \
                CD_UNROLL for (int v = 0; v < V; v++) xv[v] = LOAD(xp + v * L, m);                 \
                CD_UNROLL for (int c = 0; c < CB; c++)                                             \
                {                                                                                  \
                    VT wv = SET1(w[c][wb + t]);                                                    \
                    CD_UNROLL for (int v = 0; v < V; v++) acc[c][v] = FMA(wv, xv[v], acc[c][v]);   \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        float tmp[V * L];                                                                          \
        for (int c = 0; c < CB; c++) {                                                             \
            if (!o[c]) continue;                                                                   \
            CD_UNROLL for (int v = 0; v < V; v++) STORE(tmp + v * L, acc[c][v]);                   \
            put(J, co0 + c, o[c], tmp, p, n);                                                      \
        }                                                                                          \
    }

/* Positions [p0, p1) of one output slice: blocks of V vectors, then single vectors. */
/* Positions [p0, p1) of one output slice: blocks of V vectors, then single vectors. */
/* The last n < L positions from p, one at a time with the same multiply-adds in the same order
 * (a fused multiply-add rounds alike in a vector lane and in a scalar). */
#define CD_TAIL(name, TGT, L, CB)                                                                  \
    TGT static void name(const cd_job *J, const float *x0, const float *const *w,                  \
                         const float *bias, float *const *o, int64_t co0, int64_t p, int64_t n)    \
    {                                                                                              \
        const int64_t kn = J->c->k_n, cig = J->c->cig, cplane = J->cplane;                         \
        float tmp[L];                                                                              \
        for (int c = 0; c < CB; c++) {                                                             \
            if (!o[c]) continue;                                                                   \
            for (int64_t q = 0; q < n; q++) {                                                      \
                float acc = bias ? bias[c] : 0;                                                    \
                for (int64_t ci = 0; ci < cig; ci++)                                               \
                    for (int64_t t = 0; t < kn; t++)                                               \
                        acc = fmaf(w[c][ci * kn + t], x0[ci * cplane + p + q + J->toff[t]], acc);  \
                tmp[q] = acc;                                                                      \
            }                                                                                      \
            put(J, co0 + c, o[c], tmp, p, n);                                                      \
        }                                                                                          \
    }

/* Positions [p0, p1) of one output slice: blocks of V vectors, single vectors, then the last
 * partial vector with masked loads (the same multiply-adds in the same order: the same bits).
 * Only positions below p1 are read, so the input needs no slack past its end. */
#define CD_RUN(name, blk, blk1, tail, L, V)                                                        \
    static void name(const cd_job *J, const float *x0, const float *const *w, const float *bias,   \
                     float *const *o, int64_t co0, int64_t p0, int64_t p1)                         \
    {                                                                                              \
        int64_t p = p0;                                                                            \
        for (; p + V * L <= p1; p += V * L) blk(J, x0, w, bias, o, co0, p, V *L);                  \
        for (; p + L <= p1; p += L) blk1(J, x0, w, bias, o, co0, p, L);                            \
        if (p < p1) tail(J, x0, w, bias, o, co0, p, p1 - p);                                       \
    }

#define AVX2_TGT __attribute__((target("avx2,fma")))
#define AVX512_TGT __attribute__((target("avx512f")))
#define LD256(p, m) _mm256_loadu_ps(p)
#define LD256M(p, m) _mm256_maskload_ps(p, m)
#define MASK256(n)                                                                                 \
    _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define LD512(p, m) _mm512_loadu_ps(p)
#define LD512M(p, m) _mm512_maskz_loadu_ps(m, p)
#define MASK512(n) ((__mmask16)((n) >= 16 ? 0xffffu : (1u << (n)) - 1))
CD_BLOCK(avx2_blk, AVX2_TGT, __m256, 8, 4, 3, _mm256_setzero_ps, _mm256_set1_ps, __m256i, MASK256,
         LD256, _mm256_fmadd_ps, _mm256_storeu_ps)
CD_BLOCK(avx2_blk1, AVX2_TGT, __m256, 8, 4, 1, _mm256_setzero_ps, _mm256_set1_ps, __m256i, MASK256,
         LD256, _mm256_fmadd_ps, _mm256_storeu_ps)
CD_BLOCK(avx2_tail, AVX2_TGT, __m256, 8, 4, 1, _mm256_setzero_ps, _mm256_set1_ps, __m256i, MASK256,
         LD256M, _mm256_fmadd_ps, _mm256_storeu_ps)
CD_RUN(avx2_run, avx2_blk, avx2_blk1, avx2_tail, 8, 3)
CD_BLOCK(avx2_dblk, AVX2_TGT, __m256, 8, 1, 4, _mm256_setzero_ps, _mm256_set1_ps, __m256i, MASK256,
         LD256, _mm256_fmadd_ps, _mm256_storeu_ps)
CD_BLOCK(avx2_dblk1, AVX2_TGT, __m256, 8, 1, 1, _mm256_setzero_ps, _mm256_set1_ps, __m256i, MASK256,
         LD256, _mm256_fmadd_ps, _mm256_storeu_ps)
CD_BLOCK(avx2_dtail, AVX2_TGT, __m256, 8, 1, 1, _mm256_setzero_ps, _mm256_set1_ps, __m256i, MASK256,
         LD256M, _mm256_fmadd_ps, _mm256_storeu_ps)
CD_RUN(avx2_drun, avx2_dblk, avx2_dblk1, avx2_dtail, 8, 4)
CD_BLOCK(avx512_blk, AVX512_TGT, __m512, 16, 8, 3, _mm512_setzero_ps, _mm512_set1_ps, __mmask16,
         MASK512, LD512, _mm512_fmadd_ps, _mm512_storeu_ps)
CD_BLOCK(avx512_blk1, AVX512_TGT, __m512, 16, 8, 1, _mm512_setzero_ps, _mm512_set1_ps, __mmask16,
         MASK512, LD512, _mm512_fmadd_ps, _mm512_storeu_ps)
CD_BLOCK(avx512_tail, AVX512_TGT, __m512, 16, 8, 1, _mm512_setzero_ps, _mm512_set1_ps, __mmask16,
         MASK512, LD512M, _mm512_fmadd_ps, _mm512_storeu_ps)
CD_RUN(avx512_run, avx512_blk, avx512_blk1, avx512_tail, 16, 3)
CD_BLOCK(avx512_dblk, AVX512_TGT, __m512, 16, 1, 4, _mm512_setzero_ps, _mm512_set1_ps, __mmask16,
         MASK512, LD512, _mm512_fmadd_ps, _mm512_storeu_ps)
CD_BLOCK(avx512_dblk1, AVX512_TGT, __m512, 16, 1, 1, _mm512_setzero_ps, _mm512_set1_ps, __mmask16,
         MASK512, LD512, _mm512_fmadd_ps, _mm512_storeu_ps)
CD_BLOCK(avx512_dtail, AVX512_TGT, __m512, 16, 1, 1, _mm512_setzero_ps, _mm512_set1_ps, __mmask16,
         MASK512, LD512M, _mm512_fmadd_ps, _mm512_storeu_ps)
CD_RUN(avx512_drun, avx512_dblk, avx512_dblk1, avx512_dtail, 16, 4)
#endif

/* Per level (none, AVX2, AVX-512): channels per block, positions per register block; with
 * fewer output channels per group than that (depthwise), blocks of one channel x 4 vectors. */
static const int cd_cb[3] = {1, 4, 8};
static const int cd_blk[3] = {1, 3 * 8, 3 * 16};
static const int cd_dblk[3] = {1, 4 * 8, 4 * 16};

static int cd_level = -1; /* -1: not probed yet */
static int cd_cap = 2;

static int cpu_level(void)
{
    if (cd_level < 0) {
        int lv = 0;
#ifdef CD_X86
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) lv = 1;
        if (lv && __builtin_cpu_supports("avx512f")) lv = 2;
#endif
        const char *env = getenv("MILKIT_CONV_IM2COL"); /* to compare the paths */
        cd_level = env && *env && strcmp(env, "0") ? 0 : lv;
    }
    return cd_level < cd_cap ? cd_level : cd_cap;
}

void mk_conv_direct_cap(int level)
{
    cd_cap = level < 0 ? 0 : level > 2 ? 2 : level;
}

int mk_conv_direct_level(void)
{
    return cpu_level();
}

int mk_conv_direct_ok(const mk_cdirect *c)
{
    (void)c;
    return cpu_level() > 0;
}

static void cd_chunk(void *ctx, int64_t i, int tid)
{
    const cd_job *J = ctx;
    const mk_cdirect *c = J->c;
    (void)tid;
    /* channel blocks vary fastest: consecutive chunks reuse the same input positions */
    int64_t b = i % J->ncb, u = i / J->ncb;
    int64_t p0 = (u % J->nspan) * J->span;
    u /= J->nspan;
    int64_t o0 = u % c->o[0];
    u /= c->o[0];
    int64_t gi = u % c->groups, n = u / c->groups;
    int64_t p1 = p0 + J->span < J->npos ? p0 + J->span : J->npos;
    int64_t co0 = gi * c->cog + b * J->cb, nc = c->cog - b * J->cb;
    if (nc > J->cb) nc = J->cb;
    const float *w[8], *bias = NULL;
    float bv[8], *o[8];
    int64_t o_slice = c->o[1] * c->o[2], o_n = c->o[0] * o_slice;
    float *oc = c->out + (n * c->groups * c->cog + co0) * o_n + o0 * o_slice;
    for (int64_t q = 0; q < J->cb; q++) {
        int64_t co = co0 + (q < nc ? q : nc - 1); /* spare lanes repeat the last channel */
        w[q] = c->w + co * c->cig * c->k_n;
        bv[q] = c->bias ? c->bias[co] : 0;
        o[q] = q < nc ? oc + q * o_n : NULL;
    }
    if (c->bias) bias = bv;
    const float *x0 = J->pad + (n * c->groups + gi) * c->cig * J->cplane + o0 * c->s[0] * J->slice;
#ifdef CD_X86
    if (J->isa == 2 && J->cb > 1)
        avx512_run(J, x0, w, bias, o, co0, p0, p1);
    else if (J->isa == 2)
        avx512_drun(J, x0, w, bias, o, co0, p0, p1);
    else if (J->cb > 1)
        avx2_run(J, x0, w, bias, o, co0, p0, p1);
    else
        avx2_drun(J, x0, w, bias, o, co0, p0, p1);
#else
    (void)x0;
#endif
}

/* The input copied into zero-padded phase planes. */
static void fill_pad(const cd_job *J, float *pad)
{
    const mk_cdirect *c = J->c;
    int64_t s1 = c->s[1], s2 = c->s[2], Q1 = J->Q1, Q2 = J->Q2, ph = Q1 * Q2;
    for (int64_t p = 0; p < c->N * c->groups * c->cig; p++)
        for (int64_t i0 = 0; i0 < c->in[0]; i0++)
            for (int64_t i1 = 0; i1 < c->in[1]; i1++) {
                int64_t r = i1 + c->pb[1];
                float *d = pad + p * J->cplane + (i0 + c->pb[0]) * J->slice + (r % s1) * s2 * ph +
                           (r / s1) * Q2;
                const float *x = c->x + ((p * c->in[0] + i0) * c->in[1] + i1) * c->in[2];
                if (s2 == 1) {
                    memcpy(d + c->pb[2], x, (size_t)c->in[2] * 4);
                } else {
                    for (int64_t f = 0; f < s2; f++) { /* padded column j * s2 + f */
                        int64_t i2 = (f - c->pb[2]) % s2, j;
                        if (i2 < 0) i2 += s2;
                        for (j = (i2 + c->pb[2]) / s2; i2 < c->in[2]; i2 += s2, j++)
                            d[f * ph + j] = x[i2];
                    }
                }
            }
}

mk_status mk_conv_direct(mk_kctx *k, const mk_cdirect *c)
{
    cd_job J = {.k = k, .c = c, .isa = cpu_level()};
    if (!J.isa) return mk_kerr(k, MK_EINTERNAL, "direct conv without AVX2");
    int64_t P[3];
    for (int j = 0; j < 3; j++) {
        int64_t need = (c->o[j] - 1) * c->s[j] + (c->k[j] - 1) * c->d[j] + 1;
        P[j] = c->in[j] + c->pb[j] > need ? c->in[j] + c->pb[j] : need;
    }
    /* the input is its own padded copy: no padding, unit strides within a slice, exact fit */
    int same = c->s[1] == 1 && c->s[2] == 1;
    for (int j = 0; j < 3; j++) same = same && c->pb[j] == 0 && P[j] == c->in[j];
    J.P0 = P[0];
    J.Q1 = (P[1] + c->s[1] - 1) / c->s[1];
    J.Q2 = (P[2] + c->s[2] - 1) / c->s[2];
    size_t slice, cplane, nb, tb;
    if (!mk_mul_size((size_t)(J.Q1 * J.Q2), (size_t)(c->s[1] * c->s[2]), &slice) ||
        !mk_mul_size(slice, (size_t)J.P0, &cplane) ||
        !mk_mul_size(same ? 0 : cplane, (size_t)(c->N * c->groups * c->cig), &nb) ||
        !mk_mul_size(nb, 4, &nb) || !mk_mul_size((size_t)c->k_n, sizeof(int64_t), &tb) ||
        !mk_add_size(nb, tb, &nb))
        return MK_OOM(k->e);
    J.slice = (int64_t)slice;
    J.cplane = (int64_t)cplane;
    int64_t *toff = mk_interp_scratch(k, nb);
    if (!toff) return MK_OOM(k->e);
    float *pad = (float *)(toff + c->k_n);
    int64_t t = 0, ph = J.Q1 * J.Q2;
    for (int64_t k0 = 0; k0 < c->k[0]; k0++)
        for (int64_t k1 = 0; k1 < c->k[1]; k1++)
            for (int64_t k2 = 0; k2 < c->k[2]; k2++) {
                int64_t a = k1 * c->d[1], b = k2 * c->d[2];
                toff[t++] = k0 * c->d[0] * J.slice + ((a % c->s[1]) * c->s[2] + b % c->s[2]) * ph +
                            (a / c->s[1]) * J.Q2 + b / c->s[2];
            }
    if (!same) {
        memset(pad, 0, nb - tb);
        fill_pad(&J, pad);
    }
    J.pad = same ? c->x : pad;
    J.toff = toff;
    J.cb = c->cog < cd_cb[J.isa] ? 1 : cd_cb[J.isa];
    int64_t blk = J.cb > 1 ? cd_blk[J.isa] : cd_dblk[J.isa];
    J.ncb = mk_par_chunks(c->cog, J.cb);
    J.npos = (c->o[1] - 1) * J.Q2 + c->o[2];
    /* chunks of whole register blocks and about 128K multiply-adds; shapes alone decide them */
    int64_t blk_work = J.cb * blk * c->cig * c->k_n;
    int64_t nblk = 131072 / (blk_work ? blk_work : 1);
    J.span = (nblk < 1 ? 1 : nblk) * blk;
    J.nspan = mk_par_chunks(J.npos, J.span);
    mk_par_for(k, c->N * c->groups * J.ncb * c->o[0] * J.nspan, cd_chunk, &J);
    return MK_OK;
}
