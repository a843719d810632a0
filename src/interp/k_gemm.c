/* GEMM with a packed right operand on AVX-512 and AVX2. op(B) is packed into panels of NR
 * columns, [panel][K][NR] (columns past N zero), so a register block of MR rows x NR columns
 * reads one contiguous stream of B and broadcasts A's elements from its rows: per k, 2 vector
 * loads, MR broadcasts and 2 * MR fmas (AVX-512: 8 x 32, AVX2: 6 x 16). Work runs in chunks of
 * about GM_WORK multiply-adds fixed by the shape (gm_plan): a small product is one chunk, no
 * thread handoff. */
#include <stdlib.h>
#include <string.h>

#include "k_conv_direct.h"
#include "k_gemm.h"
#include "k_lanes.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define GM_X86 1
#endif

#define GM_MRMAX 8     /* rows of the largest register block */
#define GM_WORK 524288 /* multiply-adds per chunk: smaller ones cost more in handoffs at -j 2 */

static int gm_on = -1; /* -1: MILKIT_GEMM not read yet */

void mk_gemm_enable(int on)
{
    gm_on = on < 0 ? 0 : on > 2 ? 2 : on;
}

int mk_gemm_ok(int64_t M, int64_t N, int64_t K)
{
    if (gm_on < 0) {
        const char *env = getenv("MILKIT_GEMM");
        gm_on = !env ? 1 : !strcmp(env, "0") ? 0 : !strcmp(env, "2") ? 2 : 1;
    }
#ifdef GM_X86
    if (!gm_on || mk_conv_direct_level() < 1 || M < 1 || N < 1 || K < 1) return 0;
    if (gm_on == 2) return 1;
    return M <= 1024 && K <= 4096;
#else
    (void)M, (void)N, (void)K;
    return 0;
#endif
}

typedef struct gm_isa gm_isa;

typedef struct gm_job {
    mk_kctx *k;
    int64_t M, N, K, lda, ldc;
    const float *a, *bp;
    float *c;
    int64_t np, nrb;    /* panels, row blocks */
    int64_t units, upc; /* work units (below), per chunk */
    int rows;           /* a unit is a row block across all panels, else one (panel, block) */
    int accumulate;
    const gm_isa *isa;
} gm_job;

#ifdef GM_X86
/* One register block: rows r[0..MR) of A (those from mr on repeat the last row and are not
 * stored) times the packed panel bp (NR = 2 vectors of L floats per k), V vectors wide, into C's
 * rows from column 0 of the panel, the last vector masked to n columns. The ISA's operations
 * come as macros: LD/LDM (masked, zeroing), ST/STM, SET1, ZERO, FMA, and MASK(n) for a tail. */
#define GM_KERN(name, TGT, VT, MT, L, V, MR, MASK, LD, LDM, ST, STM, SET1, ZERO, FMA)              \
    TGT static void name(const float *const *r, const float *bp, int64_t K, float *c, int64_t ldc, \
                         int mr, int64_t n, int accumulate)                                        \
    {                                                                                              \
        VT acc[MR][V];                                                                             \
        int64_t rest = n - (V - 1) * L;                                                            \
        MT m = MASK(rest);                                                                         \
        _Pragma("GCC unroll 8") for (int i = 0; i < MR; i++)                                       \
            _Pragma("GCC unroll 2") for (int v = 0; v < V; v++) acc[i][v] =                        \
                !accumulate || i >= mr ? ZERO()                                                    \
                : v == V - 1           ? LDM(c + i * ldc + v * L, m)                               \
                                       : LD(c + i * ldc + v * L);                                            \
        for (int64_t q = 0; q < K; q++) {                                                          \
            VT bv[V];                                                                              \
            _Pragma("GCC unroll 2") for (int v = 0; v < V; v++) bv[v] =                            \
                LD(bp + q * 2 * L + v * L);                                                        \
            _Pragma("GCC unroll 8") for (int i = 0; i < MR; i++)                                   \
            {                                                                                      \
                VT av = SET1(r[i][q]);                                                             \
                _Pragma("GCC unroll 2") for (int v = 0; v < V; v++) acc[i][v] =                    \
                    FMA(av, bv[v], acc[i][v]);                                                     \
            }                                                                                      \
        }                                                                                          \
        _Pragma("GCC unroll 8") for (int i = 0; i < MR; i++)                                       \
        {                                                                                          \
            if (i >= mr) break;                                                                    \
            if (V == 2) ST(c + i * ldc, acc[i][0]);                                                \
            STM(c + i * ldc + (V - 1) * L, m, acc[i][V - 1]);                                      \
        }                                                                                          \
    }

#define GM_T512 __attribute__((target("avx512f")))
#define GM_M512(n) ((__mmask16)((n) >= 16 ? 0xffffu : (1u << (n)) - 1))
#define GM_LD512(p) _mm512_loadu_ps(p)
#define GM_LDM512(p, m) _mm512_maskz_loadu_ps(m, p)
#define GM_STM512(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#define GM_K512(name, V, MR)                                                                       \
    GM_KERN(name, GM_T512, __m512, __mmask16, 16, V, MR, GM_M512, GM_LD512, GM_LDM512,             \
            _mm512_storeu_ps, GM_STM512, _mm512_set1_ps, _mm512_setzero_ps, _mm512_fmadd_ps)

#define GM_T256 __attribute__((target("avx2,fma")))
#define GM_LD256(p) _mm256_loadu_ps(p)
#define GM_LDM256(p, m) _mm256_maskload_ps(p, m)
#define GM_STM256(p, m, v) _mm256_maskstore_ps(p, m, v)
#define GM_K256(name, V, MR)                                                                       \
    GM_KERN(name, GM_T256, __m256, __m256i, 8, V, MR, mk_lanes8, GM_LD256, GM_LDM256,              \
            _mm256_storeu_ps, GM_STM256, _mm256_set1_ps, _mm256_setzero_ps, _mm256_fmadd_ps)

/* A level's kernels: 1 and 2 vectors wide, MR0 rows and the tails' 4, 2, 1 rows. */
#define GM_SET(K, P, MR0)                                                                          \
    K(P##_1_##MR0, 1, MR0)                                                                         \
    K(P##_2_##MR0, 2, MR0)                                                                         \
    K(P##_1_4, 1, 4)                                                                               \
    K(P##_2_4, 2, 4) K(P##_1_2, 1, 2) K(P##_2_2, 2, 2) K(P##_1_1, 1, 1) K(P##_2_1, 2, 1)
GM_SET(GM_K512, g5, 8)
GM_SET(GM_K256, g2, 6)

typedef void (*gm_kern)(const float *const *, const float *, int64_t, float *, int64_t, int,
                        int64_t, int);
/* A level's register block: mr rows x nr columns (2 vectors), kernels by [vectors - 1][rows: mr,
 * <= 4, <= 2, 1]. AVX-512: 8 x 32, 16 of 32 registers accumulate; AVX2: 6 x 16, 12 of 16. */
struct gm_isa {
    int mr, nr;
    gm_kern kern[2][4];
};
static const gm_isa gm_avx2 = {
    6, 16, {{g2_1_6, g2_1_4, g2_1_2, g2_1_1}, {g2_2_6, g2_2_4, g2_2_2, g2_2_1}}};
static const gm_isa gm_avx512 = {
    8, 32, {{g5_1_8, g5_1_4, g5_1_2, g5_1_1}, {g5_2_8, g5_2_4, g5_2_2, g5_2_1}}};

static const gm_isa *gm_isa_now(void)
{
    return mk_conv_direct_level() >= 2 ? &gm_avx512 : &gm_avx2;
}

/* Row block b of panel p; the epilogue on its rows unless the caller applies it. */
static void gm_block(const gm_job *J, int64_t p, int64_t b, int epi)
{
    int MR = J->isa->mr, NR = J->isa->nr;
    int64_t n0 = p * NR, nn = J->N - n0 < NR ? J->N - n0 : NR;
    int64_t m0 = b * MR;
    int mr = J->M - m0 < MR ? (int)(J->M - m0) : MR;
    const float *r[GM_MRMAX];
    for (int q = 0; q < MR; q++) r[q] = J->a + (m0 + (q < mr ? q : mr - 1)) * J->lda;
    float *c = J->c + m0 * J->ldc + n0;
    int rk = mr > 4 ? 0 : mr > 2 ? 1 : mr > 1 ? 2 : 3;
    J->isa->kern[nn > NR / 2][rk](r, J->bp + p * J->K * NR, J->K, c, J->ldc, mr, nn, J->accumulate);
    if (epi) mk_epi_apply_rows(J->k->epi, n0, c, mr, nn, J->ldc);
}

/* Units [u0, u1). By rows, the epilogue runs once per row block over its whole rows, not once
 * per row and panel (32 values a call). */
static void gm_units(const gm_job *J, int64_t u0, int64_t u1)
{
    for (int64_t u = u0; u < u1; u++) {
        if (!J->rows) {
            gm_block(J, u / J->nrb, u % J->nrb, 1);
            continue;
        }
        for (int64_t p = 0; p < J->np; p++) gm_block(J, p, u, 0);
        int64_t m0 = u * J->isa->mr, mr = J->M - m0 < J->isa->mr ? J->M - m0 : J->isa->mr;
        mk_epi_apply_rows(J->k->epi, 0, J->c + m0 * J->ldc, mr, J->N, J->ldc);
    }
}

static void gm_chunk(void *ctx, int64_t i, int tid)
{
    const gm_job *J = ctx;
    (void)tid;
    gm_units(J, i * J->upc, (i + 1) * J->upc < J->units ? (i + 1) * J->upc : J->units);
}

/* Units and chunks, from the shape alone. While the packed B fits in L2 (GM_L2B), units are
 * row blocks across all panels, else (panel, row block) pairs panel by panel, so each panel
 * is read from L2 for all the rows. */
#define GM_L2B (256 << 10)
static void gm_plan(gm_job *J)
{
    int64_t MR = J->isa->mr, NR = J->isa->nr;
    J->np = mk_par_chunks(J->N, NR);
    J->nrb = mk_par_chunks(J->M, MR);
    J->rows = J->np * NR * J->K * 4 <= GM_L2B;
    J->units = J->rows ? J->nrb : J->np * J->nrb;
    int64_t per = MR * NR * J->K * (J->rows ? J->np : 1);
    J->upc = GM_WORK / (per ? per : 1);
    if (J->upc < 1) J->upc = 1;
    J->upc = mk_par_chunks(J->units, mk_par_chunks(J->units, J->upc)); /* evened out */
}

/* Bytes of op(B) packed for isa (0: too many). */
static size_t gm_pack_bytes(const gm_isa *isa, int64_t N, int64_t K)
{
    size_t n;
    int64_t NR = isa->nr;
    if (!mk_mul_size((size_t)(mk_par_chunks(N, NR) * NR), (size_t)K, &n) || !mk_mul_size(n, 4, &n))
        return 0;
    return n;
}

/* op(B) into panels [np][K][NR], the columns past N 0. */
static void gm_pack(const float *b, int64_t ldb, int tb, int64_t N, int64_t K, int64_t NR,
                    float *bp)
{
    int64_t np = mk_par_chunks(N, NR);
    for (int64_t p = 0; p < np; p++)
        for (int64_t q = 0; q < K; q++) {
            float *d = bp + (p * K + q) * NR;
            for (int64_t j = 0; j < NR; j++) {
                int64_t n = p * NR + j;
                d[j] = n >= N ? 0.0f : tb ? b[n * ldb + q] : b[q * ldb + n];
            }
        }
}

#endif

mk_status mk_gemm_packed(mk_kctx *k, int64_t M, int64_t N, int64_t K, const float *a, int64_t lda,
                         const float *b, int64_t ldb, int tb, int b_const, int accumulate, float *c,
                         int64_t ldc)
{
#ifdef GM_X86
    if (!mk_gemm_ok(M, N, K)) return mk_kerr(k, MK_EINTERNAL, "packed GEMM not applicable");
    gm_job J = {.k = k, .M = M, .N = N, .K = K, .lda = lda, .ldc = ldc, .a = a, .c = c};
    J.accumulate = accumulate;
    J.isa = gm_isa_now();
    size_t bytes = gm_pack_bytes(J.isa, N, K);
    if (!bytes) return MK_OOM(k->e);
    float *bp;
    int made = 1;
    if (b_const) /* the two levels' packings keyed apart */
        bp = mk_kcache(k, (const char *)b + (J.isa == &gm_avx512 ? 3 : 4), bytes, &made);
    else
        bp = mk_interp_scratch(k, bytes);
    if (!bp) return MK_OOM(k->e);
    if (made) gm_pack(b, ldb, tb, N, K, J.isa->nr, bp);
    J.bp = bp;
    gm_plan(&J);
    mk_par_for(k, mk_par_chunks(J.units, J.upc), gm_chunk, &J);
    return MK_OK;
#else
    (void)M, (void)N, (void)K, (void)a, (void)lda, (void)b, (void)ldb, (void)tb, (void)b_const;
    (void)accumulate, (void)c, (void)ldc;
    return mk_kerr(k, MK_EINTERNAL, "packed GEMM needs AVX2 or AVX-512");
#endif
}

size_t mk_gemm_pack_bytes(int64_t N, int64_t K)
{
#ifdef GM_X86
    return gm_pack_bytes(gm_isa_now(), N, K);
#else
    (void)N, (void)K;
    return 0;
#endif
}

void mk_gemm_packed_serial(mk_kctx *k, int64_t M, int64_t N, int64_t K, const float *a, int64_t lda,
                           const float *b, int64_t ldb, int tb, float *c, int64_t ldc, float *pack)
{
#ifdef GM_X86
    gm_job J = {.k = k, .M = M, .N = N, .K = K, .lda = lda, .ldc = ldc, .a = a, .bp = pack, .c = c};
    J.isa = gm_isa_now();
    gm_pack(b, ldb, tb, N, K, J.isa->nr, pack);
    gm_plan(&J);
    gm_units(&J, 0, J.units);
#else
    (void)k, (void)M, (void)N, (void)K, (void)a, (void)lda, (void)b, (void)ldb, (void)tb, (void)c;
    (void)ldc, (void)pack;
#endif
}
