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
#include "k_lanes.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define CD_X86 1
#endif

typedef struct cd_job {
    const mk_kctx *k;
    const mk_cdirect *c;
    const float *pad;      /* per (image, input channel): P0 slices of s1 * s2 phase planes */
    float *padw;           /* the same, while fill_pad writes it */
    int64_t fper;          /* planes per fill_pad chunk */
    const int64_t *roff;   /* per (input channel, tap) r: its offset from a slice's position 0 */
    const float *pw;       /* weights packed per channel block: [r][cb], spare lanes repeated */
    int64_t P0, Q1, Q2;    /* padded depth, phase plane rows and width */
    int64_t slice, cplane; /* floats per depth slice (s1 * s2 * Q1 * Q2), per input channel */
    int64_t npos;          /* positions per output slice: (O1 - 1) * Q2 + O2 */
    int64_t cb, ncb;       /* channels per block, blocks per group */
    int64_t span, nspan;   /* positions per chunk, chunks per output slice */
    int64_t R;             /* multiply-adds per output: cig * k_n */
    int isa, direct;       /* direct: Q2 == O2, positions are output offsets (no staging) */
    int pack;              /* Q2 > O2 with AVX-512: the kept positions stored packed (cd_act) */
    int rows;              /* Q2 > O2 with AVX2: the kept columns stored by output rows */
    int act;               /* the fused activation applied in registers (cd_act), else 0 */
    int pfw;               /* cd_act.pfw */
} cd_job;

/* A fused activation the microkernels apply before storing, with the same expressions as the
 * epilogue's step (mk_relu: the sign bit clears; mk_fmin/mk_fmax: minps/maxps operand order). */
typedef struct cd_act {
    int kind; /* 0 none, 1 relu, 2 relu6, 3 clip to [lo, hi] */
    float lo, hi;
    int pf;  /* prefetch the next block's input (a group's input larger than L2) */
    int pf1; /* prefetch the input of r + CD_PFD into L1 (every r reads another plane) */
    int pfw; /* prefetch for writing the output two blocks ahead (outputs larger than L2) */
    /* pack (AVX-512, planes wider than the output rows): the vectors go straight to the output,
     * only the positions of columns below o2: position P (row P / q2, column P % q2) of the
     * chunk that starts at p0 lands at kept(P) - kept(p0), kept(P) = row * o2 + min(column, o2)
     * (cd_kept), the positions of the other columns dropped by a compress */
    int pack;
    int64_t p0, q2, o2, k0; /* k0: kept(p0) */
} cd_act;

/* The output positions before position p of a slice of rows q2 wide with o2 columns kept. */
static inline int64_t cd_kept(int64_t p, int64_t q2, int64_t o2)
{
    int64_t col = p % q2;
    return p / q2 * o2 + (col < o2 ? col : o2);
}

#ifdef CD_X86
#define CD_UNROLL _Pragma("GCC unroll 8")
#define CD_PFD 8
/* acc[CB][V] vectors of L floats over V*L positions from x: every r = (input channel, tap) adds
 * the CB broadcast weights wp[r * CB + c] times V input vectors read at x + roff[r], in r order
 * (bias first), so every lane sums alike; then the vectors go to dst[c] + off, the last one
 * masked to n positions. */
#define CD_BLOCK(name, TGT, VT, L, CB, V, ZERO, SET1, MT, MASK, LOAD, FMA, STORE, ACT, PST)        \
    TGT static void name(const float *x, const int64_t *roff, int64_t R, const float *wp,          \
                         const float *bias, float *const *dst, int64_t off, int64_t n,             \
                         const cd_act *a)                                                          \
    {                                                                                              \
        VT acc[CB][V];                                                                             \
        MT m = MASK(n - (V - 1) * L);                                                              \
        (void)m;                                                                                   \
        CD_UNROLL for (int c = 0; c < CB; c++) CD_UNROLL for (int v = 0; v < V; v++) acc[c][v] =   \
            bias ? SET1(bias[c]) : ZERO();                                                         \
        if (V >= 3 && a->pfw)                                                                      \
            CD_UNROLL for (int c = 0; c < CB; c++) CD_UNROLL for (int v = 0; v < V * L / 16; v++)  \
                __builtin_prefetch(dst[c] + off + (2 * V + v) * L, 1, 3);                          \
        for (int64_t r = 0; r < R; r++) {                                                          \
            const float *xp = x + roff[r], *wr = wp + r * CB;                                      \
            VT xv[V];                                                                              \
            CD_UNROLL for (int v = 0; v < V; v++) xv[v] = LOAD(xp + v * L, m, v == V - 1);         \
            if (V >= 3 && a->pf1 && r + CD_PFD < R) /* 1x1: an input plane per r, ahead */         \
                CD_UNROLL for (int v = 0; v <= V * L / 16; v++)                                    \
                    __builtin_prefetch(x + roff[r + CD_PFD] + v * 16, 0, 3);                       \
            if (V >= 3 &&                                                                          \
                a->pf) /* the next block's input, from memory (too many planes to track) */        \
                CD_UNROLL for (int v = 0; v < V * L / 16; v++)                                     \
                    __builtin_prefetch(xp + (V + v) * L, 0, 2);                                    \
            CD_UNROLL for (int c = 0; c < CB; c++)                                                 \
            {                                                                                      \
                VT wv = SET1(wr[c]);                                                               \
                CD_UNROLL for (int v = 0; v < V; v++) acc[c][v] = FMA(wv, xv[v], acc[c][v]);       \
            }                                                                                      \
        }                                                                                          \
        if (a->kind)                                                                               \
            CD_UNROLL for (int c = 0; c < CB; c++) CD_UNROLL for (int v = 0; v < V; v++)           \
                acc[c][v] = ACT(acc[c][v], a);                                                     \
        if (a->pack)                                                                               \
            PST(acc, CB, V, dst, off, n, a);                                                       \
        else                                                                                       \
            CD_UNROLL for (int c = 0; c < CB; c++) CD_UNROLL for (int v = 0; v < V; v++)           \
                STORE(dst[c] + off + v * L, acc[c][v], m, v == V - 1);                             \
    }

/* Positions [0, n) from x (offset off in the destinations): blocks of V vectors, then one block
 * of as many vectors as the rest needs, its last one with masked loads and stores (the same
 * multiply-adds in the same order: the same bits). Only positions below n are read or
 * written. t1..t4: the rest blocks of 1..4 vectors (t4 only for V = 4). */
#define CD_RUN(name, blk, t1, t2, t3, t4, L, V)                                                    \
    static void name(const float *x, const int64_t *roff, int64_t R, const float *wp,              \
                     const float *bias, float *const *dst, int64_t n, const cd_act *a)             \
    {                                                                                              \
        int64_t p = 0;                                                                             \
        for (; p + V * L <= n; p += V * L) blk(x + p, roff, R, wp, bias, dst, p, V * L, a);        \
        int64_t rest = n - p;                                                                      \
        if (rest > 3 * L)                                                                          \
            t4(x + p, roff, R, wp, bias, dst, p, rest, a);                                         \
        else if (rest > 2 * L)                                                                     \
            t3(x + p, roff, R, wp, bias, dst, p, rest, a);                                         \
        else if (rest > L)                                                                         \
            t2(x + p, roff, R, wp, bias, dst, p, rest, a);                                         \
        else if (rest > 0)                                                                         \
            t1(x + p, roff, R, wp, bias, dst, p, rest, a);                                         \
    }

#define AVX2_TGT __attribute__((target("avx2,fma")))
#define AVX512_TGT __attribute__((target("avx512f")))
#define LD256(p, m, last) _mm256_loadu_ps(p)
#define LD256M(p, m, last) ((last) ? _mm256_maskload_ps(p, m) : _mm256_loadu_ps(p))
#define ST256(p, v, m, last) _mm256_storeu_ps(p, v)
#define ST256M(p, v, m, last) ((last) ? _mm256_maskstore_ps(p, m, v) : _mm256_storeu_ps(p, v))
#define MASK256(n) mk_lanes8(n)
#define LD512(p, m, last) _mm512_loadu_ps(p)
#define LD512M(p, m, last) ((last) ? _mm512_maskz_loadu_ps(m, p) : _mm512_loadu_ps(p))
#define ST512(p, v, m, last) _mm512_storeu_ps(p, v)
#define ST512M(p, v, m, last) ((last) ? _mm512_mask_storeu_ps(p, m, v) : _mm512_storeu_ps(p, v))
#define RELU512(v)                                                                                 \
    _mm512_castsi512_ps(_mm512_andnot_si512(_mm512_srai_epi32(_mm512_castps_si512(v), 31),         \
                                            _mm512_castps_si512(v)))
#define ACT512(v, a)                                                                               \
    ((a)->kind == 1 ? RELU512(v)                                                                   \
     : (a)->kind == 2                                                                              \
         ? _mm512_min_ps(RELU512(v), _mm512_set1_ps(6.0f))                                         \
         : _mm512_min_ps(_mm512_set1_ps((a)->hi), _mm512_max_ps(_mm512_set1_ps((a)->lo), v)))
#define RELU256(v)                                                                                 \
    _mm256_castsi256_ps(_mm256_andnot_si256(_mm256_srai_epi32(_mm256_castps_si256(v), 31),         \
                                            _mm256_castps_si256(v)))
#define ACT256(v, a)                                                                               \
    ((a)->kind == 1 ? RELU256(v)                                                                   \
     : (a)->kind == 2                                                                              \
         ? _mm256_min_ps(RELU256(v), _mm256_set1_ps(6.0f))                                         \
         : _mm256_min_ps(_mm256_set1_ps((a)->hi), _mm256_max_ps(_mm256_set1_ps((a)->lo), v)))
#define MASK512(n) ((__mmask16)((n) >= 16 ? 0xffffu : (1u << ((n) > 0 ? (n) : 0)) - 1))
#define PST_NONE(acc, CB, V, dst, off, n, a) ((void)0)
/* The lanes of a vector whose first position is in column col (n of them valid) that are
 * kept. */
static inline __mmask16 pst_keep(int64_t col, int64_t n, int64_t q2, int64_t o2)
{
    if (n > 16) n = 16;
    if (col + n <= o2) return MASK512(n);
    if (q2 >= 16) { /* at most one row end: columns col.. below o2, then from the next row's 0 */
        int64_t a = o2 - col, w = q2 - col, e = w + o2 < n ? w + o2 : n;
        unsigned m = MASK512(a < n ? a : n);
        if (w < n) m |= MASK512(e) & ~(unsigned)MASK512(w);
        return (__mmask16)m;
    }
    unsigned m = 0;
    for (int64_t i = 0; i < n; i++, col = col + 1 == q2 ? 0 : col + 1)
        if (col < o2) m |= 1u << i;
    return (__mmask16)m;
}
/* Packed stores of the block (cd_act.pack): per vector, the kept lanes (compressed unless they
 * are a prefix) at the output offset of the first; the kept positions are consecutive in the
 * output, so each vector's offset is the previous one's plus its kept lanes. */
#define PST512(acc, CB, V, dst, off, n, a)                                                         \
    do {                                                                                           \
        int64_t q2_ = (a)->q2, o2_ = (a)->o2, P_ = (a)->p0 + (off);                                \
        int64_t col_ = P_ % q2_, at_ = P_ / q2_ * o2_ + (col_ < o2_ ? col_ : o2_) - (a)->k0;       \
        CD_UNROLL for (int v = 0; v < V; v++)                                                      \
        {                                                                                          \
            __mmask16 k_ = pst_keep(col_, (n)-v * 16, q2_, o2_);                                   \
            if ((k_ & (k_ + 1u)) == 0) { /* a prefix: no compress */                               \
                CD_UNROLL for (int c = 0; c < CB; c++)                                             \
                    _mm512_mask_storeu_ps(dst[c] + at_, k_, acc[c][v]);                            \
            } else {                                                                               \
                __mmask16 s_ = (__mmask16)((1u << __builtin_popcount(k_)) - 1);                    \
                CD_UNROLL for (int c = 0; c < CB; c++) _mm512_mask_storeu_ps(                      \
                    dst[c] + at_, s_, _mm512_maskz_compress_ps(k_, acc[c][v]));                    \
            }                                                                                      \
            at_ += __builtin_popcount(k_);                                                         \
            for (col_ += 16; col_ >= q2_;) col_ -= q2_;                                            \
        }                                                                                          \
    } while (0)
CD_BLOCK(avx2_blk, AVX2_TGT, __m256, 8, 4, 3, _mm256_setzero_ps, _mm256_set1_ps, __m256i, MASK256,
         LD256, _mm256_fmadd_ps, ST256, ACT256, PST_NONE)
CD_BLOCK(avx2_t1, AVX2_TGT, __m256, 8, 4, 1, _mm256_setzero_ps, _mm256_set1_ps, __m256i, MASK256,
         LD256M, _mm256_fmadd_ps, ST256M, ACT256, PST_NONE)
CD_BLOCK(avx2_t2, AVX2_TGT, __m256, 8, 4, 2, _mm256_setzero_ps, _mm256_set1_ps, __m256i, MASK256,
         LD256M, _mm256_fmadd_ps, ST256M, ACT256, PST_NONE)
CD_BLOCK(avx2_t3, AVX2_TGT, __m256, 8, 4, 3, _mm256_setzero_ps, _mm256_set1_ps, __m256i, MASK256,
         LD256M, _mm256_fmadd_ps, ST256M, ACT256, PST_NONE)
CD_RUN(avx2_run, avx2_blk, avx2_t1, avx2_t2, avx2_t3, avx2_t3, 8, 3)
CD_BLOCK(avx2_dblk, AVX2_TGT, __m256, 8, 1, 4, _mm256_setzero_ps, _mm256_set1_ps, __m256i, MASK256,
         LD256, _mm256_fmadd_ps, ST256, ACT256, PST_NONE)
CD_BLOCK(avx2_dt1, AVX2_TGT, __m256, 8, 1, 1, _mm256_setzero_ps, _mm256_set1_ps, __m256i, MASK256,
         LD256M, _mm256_fmadd_ps, ST256M, ACT256, PST_NONE)
CD_BLOCK(avx2_dt2, AVX2_TGT, __m256, 8, 1, 2, _mm256_setzero_ps, _mm256_set1_ps, __m256i, MASK256,
         LD256M, _mm256_fmadd_ps, ST256M, ACT256, PST_NONE)
CD_BLOCK(avx2_dt3, AVX2_TGT, __m256, 8, 1, 3, _mm256_setzero_ps, _mm256_set1_ps, __m256i, MASK256,
         LD256M, _mm256_fmadd_ps, ST256M, ACT256, PST_NONE)
CD_BLOCK(avx2_dt4, AVX2_TGT, __m256, 8, 1, 4, _mm256_setzero_ps, _mm256_set1_ps, __m256i, MASK256,
         LD256M, _mm256_fmadd_ps, ST256M, ACT256, PST_NONE)
CD_RUN(avx2_drun, avx2_dblk, avx2_dt1, avx2_dt2, avx2_dt3, avx2_dt4, 8, 4)
/* AVX2 depthwise (dwr_*): a block of RR output rows x V vectors of one channel, straight into
 * the output rows (ds apart), the last vector masked to n - (V - 1) * 8 columns when M; the
 * input rows xs apart. Bias first, then the taps in r order: the sums of avx2_dblk. */
#define DW_ROWS(name, RR, V, M)                                                                    \
    AVX2_TGT static void name(const float *x, int64_t xs, const int64_t *roff, int64_t R,          \
                              const float *w, const float *bias, float *dst, int64_t ds,           \
                              int64_t n, const cd_act *a)                                          \
    {                                                                                              \
        __m256 acc[RR][V];                                                                         \
        __m256i m = MASK256(n - (V - 1) * 8);                                                      \
        (void)m;                                                                                   \
        CD_UNROLL for (int j = 0; j < RR; j++) CD_UNROLL for (int v = 0; v < V; v++) acc[j][v] =   \
            bias ? _mm256_set1_ps(*bias) : _mm256_setzero_ps();                                    \
        for (int64_t r = 0; r < R; r++) {                                                          \
            const float *xp = x + roff[r];                                                         \
            __m256 wv = _mm256_set1_ps(w[r]);                                                      \
            CD_UNROLL for (int j = 0; j < RR; j++) CD_UNROLL for (int v = 0; v < V; v++)           \
                acc[j][v] = _mm256_fmadd_ps(wv,                                                    \
                                            (M) ? LD256M(xp + j * xs + v * 8, m, v == V - 1)       \
                                                : LD256(xp + j * xs + v * 8, m, 0),                \
                                            acc[j][v]);                                            \
        }                                                                                          \
        if (a->kind)                                                                               \
            CD_UNROLL for (int j = 0; j < RR; j++) CD_UNROLL for (int v = 0; v < V; v++)           \
                acc[j][v] = ACT256(acc[j][v], a);                                                  \
        CD_UNROLL for (int j = 0; j < RR; j++) CD_UNROLL for (int v = 0; v < V; v++)               \
        {                                                                                          \
            if (M)                                                                                 \
                ST256M(dst + j * ds + v * 8, acc[j][v], m, v == V - 1);                            \
            else                                                                                   \
                ST256(dst + j * ds + v * 8, acc[j][v], m, 0);                                      \
        }                                                                                          \
    }
DW_ROWS(dwr4_f1, 4, 1, 0)
DW_ROWS(dwr4_f2, 4, 2, 0)
DW_ROWS(dwr4_f3, 4, 3, 0)
DW_ROWS(dwr4_m1, 4, 1, 1)
DW_ROWS(dwr4_m2, 4, 2, 1)
DW_ROWS(dwr4_m3, 4, 3, 1)
DW_ROWS(dwr2_f1, 2, 1, 0)
DW_ROWS(dwr2_f2, 2, 2, 0)
DW_ROWS(dwr2_f3, 2, 3, 0)
DW_ROWS(dwr2_m1, 2, 1, 1)
DW_ROWS(dwr2_m2, 2, 2, 1)
DW_ROWS(dwr2_m3, 2, 3, 1)
DW_ROWS(dwr1_f1, 1, 1, 0)
DW_ROWS(dwr1_f2, 1, 2, 0)
DW_ROWS(dwr1_f3, 1, 3, 0)
DW_ROWS(dwr1_m1, 1, 1, 1)
DW_ROWS(dwr1_m2, 1, 2, 1)
DW_ROWS(dwr1_m3, 1, 3, 1)

typedef void (*dw_fn)(const float *, int64_t, const int64_t *, int64_t, const float *,
                      const float *, float *, int64_t, int64_t, const cd_act *);

/* rr (1, 2 or 4) output rows of o2 columns: blocks of 3 vectors (rr x 3 accumulators, at most
 * 12 of the 16 registers), the last 4 vectors as 2 + 2; the last block masked when o2 is not a
 * multiple of 8. */
static void dw_rows(int rr, const float *x, int64_t xs, const int64_t *roff, int64_t R,
                    const float *w, const float *bias, float *dst, int64_t o2, const cd_act *a)
{
    static const dw_fn fn[3][2][3] = {{{dwr1_f1, dwr1_f2, dwr1_f3}, {dwr1_m1, dwr1_m2, dwr1_m3}},
                                      {{dwr2_f1, dwr2_f2, dwr2_f3}, {dwr2_m1, dwr2_m2, dwr2_m3}},
                                      {{dwr4_f1, dwr4_f2, dwr4_f3}, {dwr4_m1, dwr4_m2, dwr4_m3}}};
    int ri = rr == 4 ? 2 : rr - 1;
    int64_t p = 0;
    while (p < o2) {
        int64_t nv = (o2 - p + 7) / 8, v = nv > 4 ? 3 : nv == 4 ? 2 : nv;
        int64_t n = o2 - p < v * 8 ? o2 - p : v * 8;
        fn[ri][n < v * 8][v - 1](x + p, xs, roff, R, w, bias, dst + p, o2, n, a);
        p += n;
    }
}

/* The even and odd floats of x[0, n) to e and o (a stride-2 row split by column phase). */
AVX2_TGT static void deint2(float *e, float *o, const float *x, int64_t n)
{
    int64_t k = 0;
    for (; 2 * k + 16 <= n; k += 8) {
        __m256 lo = _mm256_loadu_ps(x + 2 * k), hi = _mm256_loadu_ps(x + 2 * k + 8);
        /* per 128-bit lane: lo's then hi's evens (odds); then the 64-bit quarters reordered */
        __m256 ev = _mm256_shuffle_ps(lo, hi, 0x88), od = _mm256_shuffle_ps(lo, hi, 0xdd);
        _mm256_storeu_ps(e + k,
                         _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(ev), 0xd8)));
        _mm256_storeu_ps(o + k,
                         _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(od), 0xd8)));
    }
    for (; 2 * k < n; k++) {
        e[k] = x[2 * k];
        if (2 * k + 1 < n) o[k] = x[2 * k + 1];
    }
}
#endif

#ifdef CD_X86
CD_BLOCK(avx512_blk, AVX512_TGT, __m512, 16, 8, 3, _mm512_setzero_ps, _mm512_set1_ps, __mmask16,
         MASK512, LD512, _mm512_fmadd_ps, ST512, ACT512, PST512)
CD_BLOCK(avx512_t1, AVX512_TGT, __m512, 16, 8, 1, _mm512_setzero_ps, _mm512_set1_ps, __mmask16,
         MASK512, LD512M, _mm512_fmadd_ps, ST512M, ACT512, PST512)
CD_BLOCK(avx512_t2, AVX512_TGT, __m512, 16, 8, 2, _mm512_setzero_ps, _mm512_set1_ps, __mmask16,
         MASK512, LD512M, _mm512_fmadd_ps, ST512M, ACT512, PST512)
CD_BLOCK(avx512_t3, AVX512_TGT, __m512, 16, 8, 3, _mm512_setzero_ps, _mm512_set1_ps, __mmask16,
         MASK512, LD512M, _mm512_fmadd_ps, ST512M, ACT512, PST512)
CD_RUN(avx512_run, avx512_blk, avx512_t1, avx512_t2, avx512_t3, avx512_t3, 16, 3)
CD_BLOCK(avx512_dblk, AVX512_TGT, __m512, 16, 1, 4, _mm512_setzero_ps, _mm512_set1_ps, __mmask16,
         MASK512, LD512, _mm512_fmadd_ps, ST512, ACT512, PST512)
CD_BLOCK(avx512_dt1, AVX512_TGT, __m512, 16, 1, 1, _mm512_setzero_ps, _mm512_set1_ps, __mmask16,
         MASK512, LD512M, _mm512_fmadd_ps, ST512M, ACT512, PST512)
CD_BLOCK(avx512_dt2, AVX512_TGT, __m512, 16, 1, 2, _mm512_setzero_ps, _mm512_set1_ps, __mmask16,
         MASK512, LD512M, _mm512_fmadd_ps, ST512M, ACT512, PST512)
CD_BLOCK(avx512_dt3, AVX512_TGT, __m512, 16, 1, 3, _mm512_setzero_ps, _mm512_set1_ps, __mmask16,
         MASK512, LD512M, _mm512_fmadd_ps, ST512M, ACT512, PST512)
CD_BLOCK(avx512_dt4, AVX512_TGT, __m512, 16, 1, 4, _mm512_setzero_ps, _mm512_set1_ps, __mmask16,
         MASK512, LD512M, _mm512_fmadd_ps, ST512M, ACT512, PST512)
CD_RUN(avx512_drun, avx512_dblk, avx512_dt1, avx512_dt2, avx512_dt3, avx512_dt4, 16, 4)
#endif

/* Per level (none, AVX2, AVX-512): channels per block, positions per register block; with
 * fewer output channels per group than that (depthwise), blocks of one channel x 4 vectors. */
static const int cd_cb[3] = {1, 4, 8};
static const int cd_blk[3] = {1, 3 * 8, 3 * 16};
static const int cd_dblk[3] = {1, 4 * 8, 4 * 16};

static int cd_level = -1; /* -1: not probed yet */
static int cd_nopack;     /* tests: stage and copy instead of packed stores */
static int cd_cap = 2;
static int cd_nodw;   /* tests: AVX2 depthwise by staged positions, not rows */
static int cd_nowrap; /* tests: AVX2 rows P2 wide, no shared padding columns */

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

void mk_conv_direct_dwrows(int on)
{
    cd_nodw = !on;
}

void mk_conv_direct_pack(int on)
{
    cd_nopack = !on;
}

void mk_conv_direct_wrap(int on)
{
    cd_nowrap = !on;
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

/* Positions [p0, p1) of an output slice, written from the staging rows (positions p0.. at
 * Q2 per output row) into output plane o: only the columns below O2. */
static void unstage(const cd_job *J, float *o, const float *stg, int64_t p0, int64_t p1)
{
    int64_t Q2 = J->Q2, W = J->c->o[2];
    int64_t row = p0 / Q2, col = p0 % Q2;
    for (int64_t p = p0; p < p1; row++, col = 0) {
        int64_t run = Q2 - col < p1 - p ? Q2 - col : p1 - p;
        if (col < W)
            memcpy(o + row * W + col, stg + (p - p0), (size_t)(W - col < run ? W - col : run) * 4);
        p += run;
    }
}

static void cd_chunk(void *ctx, int64_t i, int tid)
{
    const cd_job *J = ctx;
    const mk_cdirect *c = J->c;
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
    const float *bias = NULL;
    float bv[8], *dst[8];
    int64_t o_slice = c->o[1] * c->o[2], o_n = c->o[0] * o_slice;
    float *oc = c->out + (n * c->groups * c->cog + co0) * o_n + o0 * o_slice;
    float *stg = mk_par_scratch((mk_kctx *)J->k, tid);
    cd_act act = {.pf = c->cig * J->cplane > (2 << 20) / 4, .pf1 = c->k_n == 1, .pfw = J->pfw};
    if (J->act) {
        const mk_epi_step *e = &J->k->epi->step[0];
        act.kind = J->act;
        act.lo = e->a;
        act.hi = e->b;
    }
    /* pack: the kept positions before the chunk's first, and how many it writes */
    int64_t k0 = 0, kn = p1 - p0;
    if (J->pack) {
        act.pack = 1;
        act.p0 = p0;
        act.q2 = J->Q2;
        act.o2 = c->o[2];
        k0 = act.k0 = cd_kept(p0, J->Q2, c->o[2]);
        kn = cd_kept(p1, J->Q2, c->o[2]) - k0;
    }
    for (int64_t q = 0; q < J->cb; q++) {
        int64_t co = co0 + (q < nc ? q : nc - 1); /* spare lanes repeat the last channel */
        bv[q] = c->bias ? c->bias[co] : 0;
        dst[q] = (J->direct || J->pack) && q < nc ? oc + q * o_n + (J->pack ? k0 : p0)
                                                  : stg + q * J->span;
    }
    if (c->bias) bias = bv;
    const float *wp = J->cb > 1 ? J->pw + (gi * J->ncb + b) * J->R * J->cb : c->w + co0 * J->R;
    const float *x0 = J->pad + (n * c->groups + gi) * c->cig * J->cplane + o0 * c->s[0] * J->slice;
#ifdef CD_X86
    if (J->isa == 2 && J->cb > 1)
        avx512_run(x0 + p0, J->roff, J->R, wp, bias, dst, p1 - p0, &act);
    else if (J->isa == 2)
        avx512_drun(x0 + p0, J->roff, J->R, wp, bias, dst, p1 - p0, &act);
    else if (!J->direct && J->rows) {
        /* AVX2 with planes wider than the output rows: each row's kept columns straight into
         * the output (blocks and masked tails per row) instead of staging and copying */
        int64_t Q2 = J->Q2, W = c->o[2];
        for (int64_t p = p0; p < p1;) {
            int64_t row = p / Q2, col = p % Q2, e = (row + 1) * Q2 < p1 ? (row + 1) * Q2 : p1;
            int64_t ce = e - row * Q2 < W ? e - row * Q2 : W;
            if (col < ce) {
                float *rd[8];
                for (int64_t q = 0; q < J->cb; q++)
                    rd[q] = q < nc ? oc + q * o_n + row * W + col : stg + q * J->span;
                if (J->cb > 1)
                    avx2_run(x0 + p, J->roff, J->R, wp, bias, rd, ce - col, &act);
                else
                    avx2_drun(x0 + p, J->roff, J->R, wp, bias, rd, ce - col, &act);
                for (int64_t q = 0; q < nc && J->k->epi && !J->act; q++)
                    mk_epi_apply(J->k->epi, NULL, co0 + q, rd[q], (size_t)(ce - col));
            }
            p = e;
        }
        return;
    } else if (J->cb > 1)
        avx2_run(x0 + p0, J->roff, J->R, wp, bias, dst, p1 - p0, &act);
    else
        avx2_drun(x0 + p0, J->roff, J->R, wp, bias, dst, p1 - p0, &act);
#else
    (void)x0;
    (void)wp;
#endif
    /* the op's fused activations on the finished span (in cache), then out of staging */
    for (int64_t q = 0; q < nc; q++) {
        if (J->k->epi && !J->act) mk_epi_apply(J->k->epi, NULL, co0 + q, dst[q], (size_t)kn);
        if (!J->direct && !J->pack) unstage(J, oc + q * o_n, dst[q], p0, p1);
    }
}

#ifdef CD_X86
/* The even and odd floats of x[0, n) to e and o (a stride-2 row split by column phase) in one
 * pass: each input vector loaded once (a pass per phase loaded each twice; SqueezeNet's stem
 * input copy 15% faster). */
AVX512_TGT static void deint2_512(float *e, float *o, const float *x, int64_t n)
{
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    for (int64_t i = 0; i < n; i += 32) {
        int64_t k = n - i < 32 ? n - i : 32;
        __m512 a = _mm512_maskz_loadu_ps(MASK512(k), x + i),
               b = _mm512_maskz_loadu_ps(MASK512(k - 16), x + i + 16);
        _mm512_mask_storeu_ps(e + i / 2, MASK512((k + 1) / 2), _mm512_permutex2var_ps(a, ev, b));
        _mm512_mask_storeu_ps(o + i / 2, MASK512(k / 2), _mm512_permutex2var_ps(a, od, b));
    }
}
#endif

/* Zeroes the floats of one input channel's padded planes that fill_pad does not write: the
 * depth slices, phase-plane rows and row ends that fall in the padding (or past the input). */
static void zero_pad(const cd_job *J, float *pl)
{
    const mk_cdirect *c = J->c;
    int64_t s1 = c->s[1], s2 = c->s[2], Q1 = J->Q1, Q2 = J->Q2, ph = Q1 * Q2;
    for (int64_t sl = 0; sl < J->P0; sl++) {
        float *S = pl + sl * J->slice;
        if (sl < c->pb[0] || sl >= c->pb[0] + c->in[0]) {
            memset(S, 0, (size_t)J->slice * 4);
            continue;
        }
        for (int64_t f = 0; f < s2; f++) {
            /* phase f holds padded columns j * s2 + f: the input's are j in [jlo, jhi) */
            int64_t lo = c->pb[2] - f, hi = c->pb[2] + c->in[2] - f;
            int64_t jlo = lo <= 0 ? 0 : (lo + s2 - 1) / s2, jhi = hi <= 0 ? 0 : (hi + s2 - 1) / s2;
            if (jhi > Q2) jhi = Q2;
            if (jlo > jhi) jlo = jhi;
            for (int64_t a = 0; a < s1; a++) {
                float *P = S + (a * s2 + f) * ph;
                for (int64_t R = 0; R < Q1; R++) { /* padded row R * s1 + a */
                    int64_t r = R * s1 + a;
                    float *row = P + R * Q2;
                    if (r < c->pb[1] || r >= c->pb[1] + c->in[1] || jhi == jlo) {
                        memset(row, 0, (size_t)Q2 * 4);
                    } else {
                        for (int64_t j = 0; j < jlo; j++) row[j] = 0;
                        for (int64_t j = jhi; j < Q2; j++) row[j] = 0;
                    }
                }
            }
        }
    }
}

/* One input channel's rows into its padded planes, stride 1: rows Q2 apart with no index
 * division, and no libc call per row below 64 floats: on rows of 2-32 floats those cost about
 * as much as the copy (openWakeWord's 1x3 convs 5-15% faster, alternating runs of the model's
 * profile). Kept out of fill_pad so that its strided loop compiles as before. */
__attribute__((noinline)) static void fill_rows(const cd_job *J, float *pl, const float *x)
{
    const mk_cdirect *c = J->c;
    int64_t W = c->in[2], Q2 = J->Q2;
    for (int64_t i0 = 0; i0 < c->in[0]; i0++) {
        float *d = pl + (i0 + c->pb[0]) * J->slice + c->pb[1] * Q2 + c->pb[2];
        for (int64_t i1 = 0; i1 < c->in[1]; i1++, d += Q2, x += W) {
            if (W >= 64) { /* wide rows: libc's copy */
                memcpy(d, x, (size_t)W * 4);
                continue;
            }
            int64_t j = 0;
            for (; j + 8 <= W; j += 8) memcpy(d + j, x + j, 32);
            for (; j < W; j++) d[j] = x[j];
        }
    }
}

/* The input copied into zero-padded phase planes: planes [i * J->fper, (i + 1) * J->fper) of
 * the N * groups * cig, their padding zeroed first (chunks of planes, in parallel). */
static void fill_pad(void *ctx, int64_t ci, int tid)
{
    const cd_job *J = ctx;
    const mk_cdirect *c = J->c;
    int64_t s1 = c->s[1], s2 = c->s[2], Q1 = J->Q1, Q2 = J->Q2, ph = Q1 * Q2;
    int64_t np = c->N * c->groups * c->cig, p1 = (ci + 1) * J->fper < np ? (ci + 1) * J->fper : np;
    float *pad = J->padw;
    (void)tid;
    for (int64_t p = ci * J->fper; p < p1; p++) {
        zero_pad(J, pad + p * J->cplane);
        if (s1 == 1 && s2 == 1 && J->isa == 1) { /* AVX-512 keeps its measured copy */
            fill_rows(J, pad + p * J->cplane, c->x + p * c->in[0] * c->in[1] * c->in[2]);
            continue;
        }
        for (int64_t i0 = 0; i0 < c->in[0]; i0++)
            for (int64_t i1 = 0; i1 < c->in[1]; i1++) {
                int64_t r = i1 + c->pb[1];
                float *d = pad + p * J->cplane + (i0 + c->pb[0]) * J->slice + (r % s1) * s2 * ph +
                           (r / s1) * Q2;
                const float *x = c->x + ((p * c->in[0] + i0) * c->in[1] + i1) * c->in[2];
                if (s2 == 1) {
                    memcpy(d + c->pb[2], x, (size_t)c->in[2] * 4);
#ifdef CD_X86
                } else if (s2 == 2) { /* input column i: padded pb2 + i */
                    int64_t pb2 = c->pb[2];
                    float *e = d + (pb2 % 2) * ph + pb2 / 2,
                          *o = d + ((pb2 + 1) % 2) * ph + (pb2 + 1) / 2;
                    if (J->isa == 2)
                        deint2_512(e, o, x, c->in[2]);
                    else /* AVX2: the stem's copy 0.55x of the scalar loop's time */
                        deint2(e, o, x, c->in[2]);
#endif
                } else {
                    for (int64_t f = 0; f < s2; f++) { /* padded column j * s2 + f */
                        int64_t i2 = (f - c->pb[2]) % s2, j;
                        if (i2 < 0) i2 += s2;
                        j = (i2 + c->pb[2]) / s2;
                        for (; i2 < c->in[2]; i2 += s2, j++) d[f * ph + j] = x[i2];
                    }
                }
            }
    }
}

/* The weights of every channel block as the microkernel reads them: [r][cb] per block. */
static void pack_w(const cd_job *J, float *pw)
{
    const mk_cdirect *c = J->c;
    for (int64_t gi = 0; gi < c->groups; gi++)
        for (int64_t b = 0; b < J->ncb; b++) {
            float *d = pw + (gi * J->ncb + b) * J->R * J->cb;
            for (int64_t q = 0; q < J->cb; q++) {
                int64_t co = b * J->cb + q < c->cog ? b * J->cb + q : c->cog - 1;
                const float *w = c->w + (gi * c->cog + co) * J->R;
                for (int64_t r = 0; r < J->R; r++) d[r * J->cb + q] = w[r];
            }
        }
}

#ifdef CD_X86
/* AVX2 depthwise by output rows (dw_avx2): per (image, group, chunk of output rows) the padded
 * input rows the chunk reads, split by stride phase as in fill_pad, in a per-thread window;
 * then every output channel of the group straight into its output rows. */
typedef struct dw_job {
    mk_kctx *k;
    const mk_cdirect *c;
    const int64_t *roff; /* per tap: its offset in the window from output row 0, column 0 */
    int64_t Q2, Hq;      /* phase plane width, rows per phase plane in the window */
    int64_t rows, nrg;   /* output rows per chunk, chunks per plane */
    cd_act act;
} dw_job;

static void dw_chunk(void *ctx, int64_t i, int tid)
{
    const dw_job *J = ctx;
    const mk_cdirect *c = J->c;
    int64_t rg = i % J->nrg, u = i / J->nrg, gi = u % c->groups, n = u / c->groups;
    int64_t r0 = rg * J->rows, r1 = r0 + J->rows < c->o[1] ? r0 + J->rows : c->o[1];
    int64_t s1 = c->s[1], s2 = c->s[2], Q2 = J->Q2, ph = J->Hq * Q2, W = c->in[2], pb2 = c->pb[2];
    int64_t H = (r1 - r0 - 1) * s1 + (c->k[1] - 1) * c->d[1] + 1;
    float *win = mk_par_scratch(J->k, tid);
    const float *xc = c->x + (n * c->groups + gi) * c->in[1] * W;
    for (int64_t t = 0; t < H; t++) {
        int64_t i1 = r0 * s1 + t - c->pb[1];
        float *d = win + (t % s1) * s2 * ph + (t / s1) * Q2;
        for (int64_t f = 0; f < s2; f++) {
            int64_t lo = pb2 - f, hi = pb2 + W - f;
            int64_t jlo = lo <= 0 ? 0 : (lo + s2 - 1) / s2, jhi = hi <= 0 ? 0 : (hi + s2 - 1) / s2;
            if (jhi > Q2) jhi = Q2;
            if (jlo > jhi) jlo = jhi;
            if (i1 < 0 || i1 >= c->in[1]) jlo = jhi = Q2;
            memset(d + f * ph, 0, (size_t)jlo * 4);
            memset(d + f * ph + jhi, 0, (size_t)(Q2 - jhi) * 4);
        }
        if (i1 < 0 || i1 >= c->in[1]) continue;
        const float *x = xc + i1 * W;
        if (s2 == 1) {
            memcpy(d + pb2, x, (size_t)W * 4);
        } else if (s2 == 2) { /* input column i: padded column pb2 + i */
            deint2(d + (pb2 % 2) * ph + pb2 / 2, d + ((pb2 + 1) % 2) * ph + (pb2 + 1) / 2, x, W);
        } else {
            for (int64_t i2 = 0; i2 < W; i2++) d[((pb2 + i2) % s2) * ph + (pb2 + i2) / s2] = x[i2];
        }
    }
    int64_t o2 = c->o[2], o_n = c->o[1] * o2, nr = r1 - r0;
    for (int64_t q = 0; q < c->cog; q++) {
        int64_t co = gi * c->cog + q;
        const float *w = c->w + co * c->k_n, *bias = c->bias ? c->bias + co : NULL;
        float *oq = c->out + (n * c->groups * c->cog + co) * o_n + r0 * o2;
        int64_t j = 0;
        for (; j + 4 <= nr; j += 4)
            dw_rows(4, win + j * Q2, Q2, J->roff, c->k_n, w, bias, oq + j * o2, o2, &J->act);
        for (; j + 2 <= nr; j += 2)
            dw_rows(2, win + j * Q2, Q2, J->roff, c->k_n, w, bias, oq + j * o2, o2, &J->act);
        if (j < nr)
            dw_rows(1, win + j * Q2, Q2, J->roff, c->k_n, w, bias, oq + j * o2, o2, &J->act);
        if (J->k->epi && !J->act.kind) mk_epi_apply(J->k->epi, NULL, co, oq, (size_t)(nr * o2));
    }
}

/* Windows of about 48 KiB (L1 plus part of L2: measured on PP-OCRv4 det's depthwise convs). */
#define DW_WIN 12288

static mk_status dw_avx2(mk_kctx *k, const mk_cdirect *c, int64_t Q2, int act)
{
    dw_job J = {.k = k, .c = c, .Q2 = Q2};
    int64_t s1 = c->s[1], s2 = c->s[2], ext = (c->k[1] - 1) * c->d[1] + 1;
    int64_t hmax = DW_WIN / (s2 * Q2);
    J.rows = hmax > ext ? (hmax - ext) / s1 + 1 : 1;
    if (J.rows > 4) J.rows &= ~(int64_t)3;
    if (J.rows > c->o[1]) J.rows = c->o[1];
    J.nrg = mk_par_chunks(c->o[1], J.rows);
    J.Hq = mk_par_chunks((J.rows - 1) * s1 + ext, s1);
    int64_t *roff = mk_interp_scratch(k, (size_t)c->k_n * sizeof(int64_t));
    if (!roff) return MK_OOM(k->e);
    int64_t r = 0, ph = J.Hq * Q2;
    for (int64_t k1 = 0; k1 < c->k[1]; k1++)
        for (int64_t k2 = 0; k2 < c->k[2]; k2++) {
            int64_t a = k1 * c->d[1], bb = k2 * c->d[2];
            roff[r++] = ((a % s1) * s2 + bb % s2) * ph + (a / s1) * Q2 + bb / s2;
        }
    J.roff = roff;
    if (act) {
        const mk_epi_step *e = &k->epi->step[0];
        J.act.kind = act;
        J.act.lo = e->a;
        J.act.hi = e->b;
    }
    mk_status st = mk_par_scratch_reserve(k, (size_t)(s1 * s2 * ph) * 4);
    if (st) return st;
    mk_par_for(k, c->N * c->groups * J.nrg, dw_chunk, &J);
    return MK_OK;
}
#endif

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
    J.cb = c->cog < cd_cb[J.isa] ? 1 : cd_cb[J.isa];
#ifdef CD_X86
    if (J.isa == 1 && J.cb == 1 && c->cig == 1 && J.P0 == 1 && c->o[0] == 1 && !cd_nodw) {
        int act = 0;
        const mk_epi *ep = k->epi;
        if (ep && ep->n == 1 && !ep->round16) {
            mk_epi_kind ek = ep->step[0].kind;
            act = ek == MK_EPI_RELU ? 1 : ek == MK_EPI_RELU6 ? 2 : ek == MK_EPI_CLIP ? 3 : 0;
        }
        return dw_avx2(k, c, J.Q2, act);
    }
#endif
    /* AVX2, stride 1 across rows padded on both sides: a row's right padding and the next
     * row's left padding are the same zeros (padded column j >= Q2 of row R is column j - Q2 of
     * row R + 1, below pb2), so rows are in2 + max(pb2, right) wide instead of P2: fewer computed
     * columns to drop (1x3 convs of openWakeWord's embedding on rows of 2-32 columns). The last
     * plane's reads past its end land in `tail` zeroed floats; the sums are the same. */
    int64_t tail = 0;
    if (J.isa == 1 && c->s[2] == 1 && !cd_nowrap) {
        int64_t right = P[2] - c->pb[2] - c->in[2];
        int64_t share = c->pb[2] < right ? c->pb[2] : right;
        if (share > 0 && P[2] - share >= c->o[2]) {
            J.Q2 = P[2] - share;
            tail = share;
        }
    }
    J.ncb = mk_par_chunks(c->cog, J.cb);
    J.R = c->cig * c->k_n;
    size_t slice, cplane, nb, tb, wb;
    int cached = J.cb > 1 && c->w_const, made = 0;
    if (!mk_mul_size((size_t)(J.Q1 * J.Q2), (size_t)(c->s[1] * c->s[2]), &slice) ||
        !mk_mul_size(slice, (size_t)J.P0, &cplane) ||
        !mk_mul_size(same ? 0 : cplane, (size_t)(c->N * c->groups * c->cig), &nb) ||
        !mk_add_size(nb, same ? 0 : (size_t)tail, &nb) || !mk_mul_size(nb, 4, &nb) ||
        !mk_mul_size((size_t)J.R, sizeof(int64_t), &tb) ||
        !mk_mul_size((size_t)(c->groups * J.ncb * J.cb), (size_t)J.R, &wb) ||
        !mk_mul_size(wb, 4, &wb) || !mk_add_size(nb, tb, &nb) ||
        !mk_add_size(nb, J.cb > 1 && !cached ? wb : 0, &nb))
        return MK_OOM(k->e);
    J.slice = (int64_t)slice;
    J.cplane = (int64_t)cplane;
    int64_t *roff = mk_interp_scratch(k, nb);
    if (!roff) return MK_OOM(k->e);
    float *pad = (float *)(roff + J.R);
    size_t padn = nb - tb - (J.cb > 1 && !cached ? wb : 0);
    float *pw = NULL;
    if (cached) { /* packed once per session */
        if (!(pw = mk_kcache(k, c->w, wb, &made))) return MK_OOM(k->e);
    } else if (J.cb > 1) {
        pw = pad + padn / 4;
        made = 1;
    }
    if (made) pack_w(&J, pw);
    J.pw = pw;
    int64_t r = 0, ph = J.Q1 * J.Q2;
    for (int64_t ci = 0; ci < c->cig; ci++)
        for (int64_t k0 = 0; k0 < c->k[0]; k0++)
            for (int64_t k1 = 0; k1 < c->k[1]; k1++)
                for (int64_t k2 = 0; k2 < c->k[2]; k2++) {
                    int64_t a = k1 * c->d[1], bb = k2 * c->d[2];
                    roff[r++] = ci * J.cplane + k0 * c->d[0] * J.slice +
                                ((a % c->s[1]) * c->s[2] + bb % c->s[2]) * ph +
                                (a / c->s[1]) * J.Q2 + bb / c->s[2];
                }
    if (!same) {
        int64_t np = c->N * c->groups * c->cig;
        J.padw = pad;
        J.fper = J.cplane >= 65536 ? 1 : 65536 / (J.cplane ? J.cplane : 1);
        memset(pad + np * J.cplane, 0, (size_t)tail * 4);
        mk_par_for(k, mk_par_chunks(np, J.fper), fill_pad, &J);
    }
    J.pad = same ? c->x : pad;
    J.roff = roff;
    int64_t blk = J.cb > 1 ? cd_blk[J.isa] : cd_dblk[J.isa];
    J.npos = (c->o[1] - 1) * J.Q2 + c->o[2];
    J.direct = J.Q2 == c->o[2];
    /* depthwise-style blocks (one channel, few taps) keep staging: cheaper for them */
    J.pack = !J.direct && J.isa == 2 && J.cb > 1 && !cd_nopack;
    /* by rows from 96 columns and up to 64 multiply-adds per output: narrower rows pay more in
     * masked tails than staging costs, and more multiply-adds hide the copy (bench/conv_ab,
     * AVX2: 3->64 224x224 s2 1.22 -> 0.78 ms, 3->16 640x640 s2 3.0 -> 2.5 ms, 48x192 s2 even,
     * 16->32 61x61 s2 0.19 -> 0.21 ms; PP-OCRv4 det's 96->24 3x3 160x160 18.4 -> 21.5 ms) */
    J.rows = !J.direct && J.isa == 1 && c->o[2] >= 96 && J.R <= 64 && !cd_nopack;
    /* an output larger than L2 was written back to L3 or memory since its last run, and its
     * stores wait for those lines: fetched ahead they cost SqueezeNet's stem 5% less in the model
     * (0.399 -> 0.378 ms); outputs that fit were slower (16 -> 64 1x1 at 55x55: 9%) */
    J.pfw = J.isa == 2 && J.cb > 1 && c->cog * c->o[0] * c->o[1] * c->o[2] > (1 << 20) / 4;
    const mk_epi *ep = k->epi;
    if (ep && ep->n == 1 && !ep->round16) {
        mk_epi_kind ek = ep->step[0].kind;
        J.act = ek == MK_EPI_RELU ? 1 : ek == MK_EPI_RELU6 ? 2 : ek == MK_EPI_CLIP ? 3 : 0;
    }
    /* chunks of whole register blocks and about 1M multiply-adds (at most 4096 positions), so
     * that large weights stream once per few spans; shapes alone decide them */
    int64_t blk_work = J.cb * blk * J.R;
    int64_t nblk = 1048576 / (blk_work ? blk_work : 1);
    if (nblk * blk > 4096) nblk = 4096 / blk;
    J.span = (nblk < 1 ? 1 : nblk) * blk;
    /* as many spans as that needs, evened out (whole register blocks), so that the last span
     * is not a small one that leaves a thread idle */
    J.nspan = mk_par_chunks(J.npos, J.span);
    J.span = mk_par_chunks(mk_par_chunks(J.npos, J.nspan), blk) * blk;
    J.nspan = mk_par_chunks(J.npos, J.span);
    /* with T threads and fewer images x groups x depth slices, the spans a multiple of T (each
     * thread's share of the chunks is its part of the positions): split by channel blocks, every
     * thread read the whole input, much of it from the other core's cache (measured on
     * SqueezeNet's squeeze convs: 1.4-1.9x the CPU time of one thread) */
    int64_t T = mk_par_threads(k);
    if (T > 1 && c->N * c->groups * c->o[0] < T && J.nspan % T) {
        int64_t want = mk_par_chunks(J.nspan, T) * T, most = mk_par_chunks(J.npos, blk);
        J.nspan = want < most ? want : most;
        J.span = mk_par_chunks(mk_par_chunks(J.npos, J.nspan), blk) * blk;
        J.nspan = mk_par_chunks(J.npos, J.span);
    }
    mk_status st = mk_par_scratch_reserve(k, (size_t)(J.cb * J.span) * 4);
    if (st) return st;
    mk_par_for(k, c->N * c->groups * J.ncb * c->o[0] * J.nspan, cd_chunk, &J);
    return MK_OK;
}
