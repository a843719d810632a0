/* GEMM with a packed right operand on AVX-512. op(B) is packed into panels of GM_NR columns,
 * [panel][K][GM_NR] (columns past N zero), so a register block of GM_MR rows x GM_NR columns
 * reads one contiguous stream of B and broadcasts A's elements from its rows: per k, 2 vector
 * loads, GM_MR broadcasts and 2 * GM_MR fmas into 16 accumulators. The (panel, row block) pairs
 * run panel by panel, row blocks fastest (the panel stays in L1/L2), in chunks of about GM_WORK
 * multiply-adds fixed by the shape: a small product is one chunk, no thread handoff. */
#include <stdlib.h>
#include <string.h>

#include "k_conv_direct.h"
#include "k_gemm.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define GM_X86 1
#endif

#define GM_MR 8        /* rows per register block */
#define GM_NR 32       /* columns per panel: 2 vectors */
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
    if (!gm_on || mk_conv_direct_level() < 2 || M < 1 || N < 1 || K < 1) return 0;
    if (gm_on == 2) return 1;
    return M <= 1024 && K <= 4096;
#else
    (void)M, (void)N, (void)K;
    return 0;
#endif
}

typedef struct gm_job {
    mk_kctx *k;
    int64_t M, N, K, lda, ldc;
    const float *a, *bp;
    float *c;
    int64_t np, nrb;    /* panels, row blocks */
    int64_t units, upc; /* work units (below), per chunk */
    int rows;           /* a unit is a row block across all panels, else one (panel, block) */
    int accumulate;
} gm_job;

#ifdef GM_X86
#define GM_TGT __attribute__((target("avx512f")))

/* One register block: rows r[0..MR) of A (those from mr on repeat the last row and are not
 * stored) times the packed panel bp, V vectors wide, into C's rows from column 0 of the panel,
 * the last vector masked to n columns. */
#define GM_KERN(name, V, MR)                                                                       \
    GM_TGT static void name(const float *const *r, const float *bp, int64_t K, float *c,           \
                            int64_t ldc, int mr, int64_t n, int accumulate)                        \
    {                                                                                              \
        __m512 acc[MR][V];                                                                         \
        int64_t rest = n - (V - 1) * 16;                                                           \
        __mmask16 m = (__mmask16)(rest >= 16 ? 0xffffu : (1u << rest) - 1);                        \
        _Pragma("GCC unroll 8") for (int i = 0; i < MR; i++)                                       \
            _Pragma("GCC unroll 2") for (int v = 0; v < V; v++) acc[i][v] =                        \
                !accumulate || i >= mr ? _mm512_setzero_ps()                                       \
                : v == V - 1           ? _mm512_maskz_loadu_ps(m, c + i * ldc + v * 16)            \
                                       : _mm512_loadu_ps(c + i * ldc + v * 16);                              \
        for (int64_t q = 0; q < K; q++) {                                                          \
            __m512 bv[V];                                                                          \
            _Pragma("GCC unroll 2") for (int v = 0; v < V; v++) bv[v] =                            \
                _mm512_loadu_ps(bp + q * GM_NR + v * 16);                                          \
            _Pragma("GCC unroll 8") for (int i = 0; i < MR; i++)                                   \
            {                                                                                      \
                __m512 av = _mm512_set1_ps(r[i][q]);                                               \
                _Pragma("GCC unroll 2") for (int v = 0; v < V; v++) acc[i][v] =                    \
                    _mm512_fmadd_ps(av, bv[v], acc[i][v]);                                         \
            }                                                                                      \
        }                                                                                          \
        _Pragma("GCC unroll 8") for (int i = 0; i < MR; i++)                                       \
        {                                                                                          \
            if (i >= mr) break;                                                                    \
            if (V == 2) _mm512_storeu_ps(c + i * ldc, acc[i][0]);                                  \
            _mm512_mask_storeu_ps(c + i * ldc + (V - 1) * 16, m, acc[i][V - 1]);                   \
        }                                                                                          \
    }
GM_KERN(gm_k1_8, 1, 8)
GM_KERN(gm_k2_8, 2, 8)
GM_KERN(gm_k1_4, 1, 4)
GM_KERN(gm_k2_4, 2, 4)
GM_KERN(gm_k1_2, 1, 2)
GM_KERN(gm_k2_2, 2, 2)
GM_KERN(gm_k1_1, 1, 1)
GM_KERN(gm_k2_1, 2, 1)

typedef void (*gm_kern)(const float *const *, const float *, int64_t, float *, int64_t, int,
                        int64_t, int);
/* by [vectors - 1][rows of the block: 8, <= 4, <= 2, 1] */
static const gm_kern gm_kerns[2][4] = {{gm_k1_8, gm_k1_4, gm_k1_2, gm_k1_1},
                                       {gm_k2_8, gm_k2_4, gm_k2_2, gm_k2_1}};

/* The (panel, row block) pairs [u0, u1). */
/* Row block b of panel p; the epilogue on its rows unless the caller applies it. */
static void gm_block(const gm_job *J, int64_t p, int64_t b, int epi)
{
    int64_t n0 = p * GM_NR, nn = J->N - n0 < GM_NR ? J->N - n0 : GM_NR;
    int64_t m0 = b * GM_MR;
    int mr = J->M - m0 < GM_MR ? (int)(J->M - m0) : GM_MR;
    const float *r[GM_MR];
    for (int q = 0; q < GM_MR; q++) r[q] = J->a + (m0 + (q < mr ? q : mr - 1)) * J->lda;
    float *c = J->c + m0 * J->ldc + n0;
    int rk = mr > 4 ? 0 : mr > 2 ? 1 : mr > 1 ? 2 : 3;
    gm_kerns[nn > 16][rk](r, J->bp + p * J->K * GM_NR, J->K, c, J->ldc, mr, nn, J->accumulate);
    if (epi && J->k->epi)
        for (int q = 0; q < mr; q++) mk_epi_apply(J->k->epi, NULL, n0, c + q * J->ldc, (size_t)nn);
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
        if (!J->k->epi) continue;
        int64_t m0 = u * GM_MR, mr = J->M - m0 < GM_MR ? J->M - m0 : GM_MR;
        float *c = J->c + m0 * J->ldc;
        if (J->ldc == J->N)
            mk_epi_apply(J->k->epi, NULL, 0, c, (size_t)(mr * J->N));
        else
            for (int64_t q = 0; q < mr; q++)
                mk_epi_apply(J->k->epi, NULL, 0, c + q * J->ldc, (size_t)J->N);
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
static void gm_plan(gm_job *J, int64_t np)
{
    J->np = np;
    J->nrb = mk_par_chunks(J->M, GM_MR);
    J->rows = np * GM_NR * J->K * 4 <= GM_L2B;
    J->units = J->rows ? J->nrb : np * J->nrb;
    int64_t per = GM_MR * GM_NR * J->K * (J->rows ? np : 1);
    J->upc = GM_WORK / (per ? per : 1);
    if (J->upc < 1) J->upc = 1;
    J->upc = mk_par_chunks(J->units, mk_par_chunks(J->units, J->upc)); /* evened out */
}

static void gm_pack(const float *b, int64_t ldb, int tb, int64_t N, int64_t K, float *bp)
{
    int64_t np = mk_par_chunks(N, GM_NR);
    for (int64_t p = 0; p < np; p++)
        for (int64_t q = 0; q < K; q++) {
            float *d = bp + (p * K + q) * GM_NR;
            for (int64_t j = 0; j < GM_NR; j++) {
                int64_t n = p * GM_NR + j;
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
    int64_t np = mk_par_chunks(N, GM_NR);
    size_t bytes;
    if (!mk_mul_size((size_t)(np * GM_NR), (size_t)K, &bytes) || !mk_mul_size(bytes, 4, &bytes))
        return MK_OOM(k->e);
    float *bp;
    int made = 1;
    if (b_const)
        bp = mk_kcache(k, (const char *)b + 3, bytes, &made);
    else
        bp = mk_interp_scratch(k, bytes);
    if (!bp) return MK_OOM(k->e);
    if (made) gm_pack(b, ldb, tb, N, K, bp);
    gm_job J = {.k = k,
                .M = M,
                .N = N,
                .K = K,
                .lda = lda,
                .ldc = ldc,
                .a = a,
                .bp = bp,
                .c = c,
                .accumulate = accumulate};
    gm_plan(&J, np);
    mk_par_for(k, mk_par_chunks(J.units, J.upc), gm_chunk, &J);
    return MK_OK;
#else
    (void)M, (void)N, (void)K, (void)a, (void)lda, (void)b, (void)ldb, (void)tb, (void)b_const;
    (void)accumulate, (void)c, (void)ldc;
    return mk_kerr(k, MK_EINTERNAL, "packed GEMM needs AVX-512");
#endif
}

size_t mk_gemm_pack_bytes(int64_t N, int64_t K)
{
    size_t n;
    if (!mk_mul_size((size_t)mk_par_chunks(N, GM_NR) * GM_NR, (size_t)K, &n) ||
        !mk_mul_size(n, 4, &n))
        return 0;
    return n;
}

void mk_gemm_packed_serial(mk_kctx *k, int64_t M, int64_t N, int64_t K, const float *a, int64_t lda,
                           const float *b, int64_t ldb, int tb, float *c, int64_t ldc, float *pack)
{
#ifdef GM_X86
    gm_pack(b, ldb, tb, N, K, pack);
    gm_job J = {.k = k, .M = M, .N = N, .K = K, .lda = lda, .ldc = ldc, .a = a, .bp = pack, .c = c};
    gm_plan(&J, mk_par_chunks(N, GM_NR));
    gm_units(&J, 0, J.units);
#else
    (void)k, (void)M, (void)N, (void)K, (void)a, (void)lda, (void)b, (void)ldb, (void)tb, (void)c;
    (void)ldc, (void)pack;
#endif
}
