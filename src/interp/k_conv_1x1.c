/* 1x1 stride-1 unpadded convolution on AVX-512 as a blocked GEMM [cog x cig] . [cig x plane]
 * per (image, group). The direct kernel reads each input channel's plane at its own address
 * for every register block, so a large input (SqueezeNet's classifier: 512 channels x 169
 * positions) streams from L2 once per 8 output channels. Here the input is first packed into
 * tiles of C1_NT positions, [tile][cig][C1_NT] (the last tile as wide as its vectors), and the
 * GEMM runs per (tile, range of channel blocks) chunk over blocks of at most C1_KC input
 * channels: a block's panel of the tile (C1_KC x 48 floats) stays in L1 while the packed
 * weights of the range (packed once per session, one stream per chunk and input channel
 * block, prefetched ahead) come from L2. With one chunk per tile (few output channels), each
 * chunk packs its tile itself into its thread's scratch. Register blocks of 8 output channels x 48
 * positions (24 accumulators) start from the bias, add the input channels in order and are stored
 * between channel blocks (fp32 stores: no rounding), so every output sums exactly as the direct
 * kernel does, in one lane, and the bits do not depend on the chunking (-j) or on which of the two
 * kernels runs. A fused relu/relu6/clip is applied in registers before the last store, other fused
 * activations afterwards on whole output planes (mk_epi_apply on 48-position pieces cost more
 * than the GEMM saved on PP-OCRv4 rec's hardswish convs). */
#include <stdlib.h>
#include <string.h>

#include "k_conv_1x1.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define C1_X86 1
#endif

#define C1_CB 8      /* output channels per register block */
#define C1_VL 16     /* floats per vector */
#define C1_NT 48     /* positions per tile: 3 vectors */
#define C1_KC 128    /* at most this many input channels per GEMM block (the panel in L1) */
#define C1_MINCO 128 /* output channels per group for this path */
#define C1_PFA 1024  /* prefetch distance in the packed weights (floats): 4 KiB ahead */

static int c1_on = -1; /* -1: MILKIT_CONV_1X1 not read yet */

void mk_conv_1x1_enable(int on)
{
    c1_on = on < 0 ? 0 : on > 2 ? 2 : on;
}

int mk_conv_1x1_ok(const mk_cdirect *c)
{
    if (c1_on < 0) {
        const char *env = getenv("MILKIT_CONV_1X1");
        c1_on = !env ? 1 : !strcmp(env, "0") ? 0 : !strcmp(env, "2") ? 2 : 1;
    }
#ifdef C1_X86
    if (c1_on && mk_conv_direct_level() == 1) return mk_conv_1x1_avx2_ok(c, c1_on == 2);
    /* measured (bench/conv_1x1): with fewer output channels the direct kernel, which needs no
     * packed copy of the input, is as fast or faster */
    if (!c1_on || mk_conv_direct_level() < 2 || c->k_n != 1 || c->cog < C1_MINCO) return 0;
    for (int i = 0; i < 3; i++)
        if (c->s[i] != 1 || c->pb[i] != 0 || c->o[i] != c->in[i] || c->k[i] != 1) return 0;
    return 1;
#else
    (void)c;
    return 0;
#endif
}

#ifdef C1_X86
#define C1_TGT __attribute__((target("avx512f")))
/* The same expressions as the direct kernel's in-register activations (and the epilogue's
 * steps): relu clears the sign bit of negatives, relu6 and clip use minps/maxps in that order. */
#define C1_RELU(v)                                                                                 \
    _mm512_castsi512_ps(_mm512_andnot_si512(_mm512_srai_epi32(_mm512_castps_si512(v), 31),         \
                                            _mm512_castps_si512(v)))

/* One register block: CB channels x V vectors of positions. acc starts from the bias (first
 * GEMM block) or from dst, adds kc input channels of the panel b (rows V * 16 wide) times the
 * packed weights a ([kc][CB]), then (last block) the activation; stores the nc channels'
 * vectors, the last one masked to n positions. */
#define C1_KERN(name, V)                                                                           \
    C1_TGT static void name(const float *a, const float *b, int64_t kc, float *const *dst, int nc, \
                            int64_t n, const float *bias, int first, int kind, float lo, float hi) \
    {                                                                                              \
        __m512 acc[C1_CB][V];                                                                      \
        int64_t rest = n - (V - 1) * C1_VL;                                                        \
        __mmask16 m = (__mmask16)(rest >= 16 ? 0xffffu : (1u << rest) - 1);                        \
        _Pragma("GCC unroll 8") for (int c = 0; c < C1_CB; c++)                                    \
            _Pragma("GCC unroll 4") for (int v = 0; v < V; v++) acc[c][v] =                        \
                first        ? (bias ? _mm512_set1_ps(bias[c]) : _mm512_setzero_ps())              \
                : v == V - 1 ? _mm512_maskz_loadu_ps(m, dst[c] + v * C1_VL)                        \
                             : _mm512_loadu_ps(dst[c] + v * C1_VL);                                \
        for (int64_t r = 0; r < kc; r++) {                                                         \
            const float *xp = b + r * (V * C1_VL), *wr = a + r * C1_CB;                            \
            __m512 xv[V];                                                                          \
            if (!(r & 1)) _mm_prefetch((const char *)(wr + C1_PFA), _MM_HINT_T0);                  \
            _Pragma("GCC unroll 4") for (int v = 0; v < V; v++) xv[v] =                            \
                _mm512_loadu_ps(xp + v * C1_VL);                                                   \
            _Pragma("GCC unroll 8") for (int c = 0; c < C1_CB; c++)                                \
            {                                                                                      \
                __m512 wv = _mm512_set1_ps(wr[c]);                                                 \
                _Pragma("GCC unroll 4") for (int v = 0; v < V; v++) acc[c][v] =                    \
                    _mm512_fmadd_ps(wv, xv[v], acc[c][v]);                                         \
            }                                                                                      \
        }                                                                                          \
        if (kind) {                                                                                \
            __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi), six = _mm512_set1_ps(6.0f); \
            _Pragma("GCC unroll 8") for (int c = 0; c < C1_CB; c++)                                \
                _Pragma("GCC unroll 4") for (int v = 0; v < V; v++) acc[c][v] =                    \
                    kind == 1   ? C1_RELU(acc[c][v])                                               \
                    : kind == 2 ? _mm512_min_ps(C1_RELU(acc[c][v]), six)                           \
                                : _mm512_min_ps(vhi, _mm512_max_ps(vlo, acc[c][v]));               \
        }                                                                                          \
        _Pragma("GCC unroll 8") for (int c = 0; c < C1_CB; c++)                                    \
        {                                                                                          \
            if (c >= nc) break;                                                                    \
            _Pragma("GCC unroll 4") for (int v = 0; v < V - 1; v++)                                \
                _mm512_storeu_ps(dst[c] + v * C1_VL, acc[c][v]);                                   \
            _mm512_mask_storeu_ps(dst[c] + (V - 1) * C1_VL, m, acc[c][V - 1]);                     \
        }                                                                                          \
    }
C1_KERN(c1_k1, 1)
C1_KERN(c1_k2, 2)
C1_KERN(c1_k3, 3)

/* Tile t of image-group ng packed: [cig][wt] with wt = the tile's positions rounded up to
 * whole vectors (the extra positions 0, masked loads: nothing past the plane is read). */
C1_TGT static void c1_pack_tile(const mk_c1x1_plan *J, int64_t ng, int64_t t, float *d)
{
    const mk_cdirect *c = J->c;
    int64_t t0 = t * C1_NT;
    int64_t w = J->P - t0 < C1_NT ? J->P - t0 : C1_NT, V = (w + C1_VL - 1) / C1_VL;
    int64_t rest = w - (V - 1) * C1_VL;
    __mmask16 m = (__mmask16)(rest >= 16 ? 0xffffu : (1u << rest) - 1);
    const float *x = c->x + ng * c->cig * J->P + t0;
    for (int64_t r = 0; r < c->cig; r++, d += V * C1_VL, x += J->P) {
        for (int64_t v = 0; v < V - 1; v++)
            _mm512_storeu_ps(d + v * C1_VL, _mm512_loadu_ps(x + v * C1_VL));
        _mm512_storeu_ps(d + (V - 1) * C1_VL, _mm512_maskz_loadu_ps(m, x + (V - 1) * C1_VL));
    }
}

static void c1_pack(void *ctx, int64_t i, int tid)
{
    const mk_c1x1_plan *J = ctx;
    (void)tid;
    c1_pack_tile(J, i / J->ntile, i % J->ntile, J->px + i * J->c->cig * C1_NT);
}

/* Chunk i: tile i % ntile (fastest, so that a thread's consecutive chunks reuse the range's
 * weights from L2) of the channel block range and image-group above it. */
static void c1_chunk(void *ctx, int64_t i, int tid)
{
    const mk_c1x1_plan *J = ctx;
    const mk_cdirect *c = J->c;
    const mk_kctx *k = J->k;
    int64_t ng, gi, t, b0, b1;
    mk_conv_1x1_chunk_at(J, i, &ng, &gi, &t, &b0, &b1);
    int64_t t0 = t * C1_NT, cig = c->cig;
    int64_t w = J->P - t0 < C1_NT ? J->P - t0 : C1_NT, V = (w + C1_VL - 1) / C1_VL;
    const float *tile = J->px + (ng * J->ntile + t) * cig * C1_NT;
    if (J->local) { /* one chunk per tile: packed here, into this thread's L2 */
        float *d = mk_par_scratch((mk_kctx *)k, tid);
        c1_pack_tile(J, ng, t, d);
        tile = d;
    }
    for (int64_t kb = 0; kb < J->nkb; kb++) {
        int64_t r0 = kb * J->kc, kn = cig - r0 < J->kc ? cig - r0 : J->kc;
        int first = kb == 0, last = kb == J->nkb - 1;
        const float *bp = tile + r0 * V * C1_VL;
        for (int64_t b = b0; b < b1; b++) {
            float bv[C1_CB], *dst[C1_CB];
            int nc = mk_conv_1x1_block(J, ng, b, t0, bv, dst);
            const float *a = mk_conv_1x1_wblk(J, gi, r0, kn, b);
            const float *bias = c->bias ? bv : NULL;
            int kind = last ? J->kind : 0;
            if (V == 3)
                c1_k3(a, bp, kn, dst, nc, w, bias, first, kind, J->lo, J->hi);
            else if (V == 2)
                c1_k2(a, bp, kn, dst, nc, w, bias, first, kind, J->lo, J->hi);
            else
                c1_k1(a, bp, kn, dst, nc, w, bias, first, kind, J->lo, J->hi);
        }
    }
}

#endif

/* Chunks of C1X1_EPR output planes for mk_conv_1x1_epilogue. */
#define C1X1_EPR 16
typedef struct c1x1_epi_job {
    const mk_kctx *k;
    const mk_cdirect *c;
    int64_t P;
} c1x1_epi_job;

static void c1x1_epi(void *ctx, int64_t i, int tid)
{
    const c1x1_epi_job *J = ctx;
    const mk_cdirect *c = J->c;
    int64_t np = c->N * c->groups * c->cog;
    int64_t p1 = (i + 1) * C1X1_EPR < np ? (i + 1) * C1X1_EPR : np;
    (void)tid;
    for (int64_t p = i * C1X1_EPR; p < p1; p++)
        mk_epi_apply(J->k->epi, NULL, p % (c->groups * c->cog), c->out + p * J->P, (size_t)J->P);
}

static void c1x1_epilogue(mk_kctx *k, const mk_cdirect *c, int64_t P)
{
    c1x1_epi_job J = {.k = k, .c = c, .P = P};
    mk_par_for(k, mk_par_chunks(c->N * c->groups * c->cog, C1X1_EPR), c1x1_epi, &J);
}

static void c1x1_pack_w(const mk_c1x1_plan *p, float *pw)
{
    const mk_cdirect *c = p->c;
    int64_t cb = p->cb;
    for (int64_t gi = 0; gi < c->groups; gi++)
        for (int64_t kb = 0; kb < p->nkb; kb++) {
            int64_t r0 = kb * p->kc, kn = c->cig - r0 < p->kc ? c->cig - r0 : p->kc;
            for (int64_t b = 0; b < p->ncb; b++) {
                float *d = pw + (gi * c->cig * p->ncb + r0 * p->ncb + b * kn) * cb;
                for (int64_t q = 0; q < cb; q++) {
                    int64_t co = b * cb + q < c->cog ? b * cb + q : c->cog - 1;
                    const float *wr = c->w + (gi * c->cog + co) * c->cig + r0;
                    for (int64_t r = 0; r < kn; r++) d[r * cb + q] = wr[r];
                }
            }
        }
}

mk_status mk_conv_1x1_plan(mk_kctx *k, const mk_cdirect *c, int cb, int64_t nt, int64_t kcmax,
                           int64_t macs, int key, mk_c1x1_plan *p)
{
    memset(p, 0, sizeof *p);
    p->k = k;
    p->c = c;
    p->cb = cb;
    p->nt = nt;
    p->P = c->o[0] * c->o[1] * c->o[2];
    p->ntile = mk_par_chunks(p->P, nt);
    p->ncb = mk_par_chunks(c->cog, cb);
    p->nkb = mk_par_chunks(c->cig, kcmax);
    p->kc = mk_par_chunks(c->cig, p->nkb); /* evened out */
    int64_t per = cb * nt * c->cig;
    p->bpc = macs / (per ? per : 1);
    if (p->bpc < 1) p->bpc = 1;
    p->ncr = mk_par_chunks(p->ncb, p->bpc);
    p->bpc = mk_par_chunks(p->ncb, p->ncr);
    p->ncr = mk_par_chunks(p->ncb, p->bpc);
    const mk_epi *ep = k->epi;
    if (ep && ep->n == 1 && !ep->round16) {
        mk_epi_kind ek = ep->step[0].kind;
        p->kind = ek == MK_EPI_RELU ? 1 : ek == MK_EPI_RELU6 ? 2 : ek == MK_EPI_CLIP ? 3 : 0;
        p->lo = ep->step[0].a;
        p->hi = ep->step[0].b;
    }
    p->local = p->ncr == 1;
    size_t wb, tot;
    int cached = c->w_const, made = 0;
    if (!mk_mul_size(p->local ? 1 : (size_t)(c->N * c->groups * p->ntile), (size_t)(c->cig * nt),
                     &p->xb) ||
        !mk_mul_size(p->xb, 4, &p->xb) ||
        !mk_mul_size((size_t)(c->groups * p->ncb * cb), (size_t)c->cig, &wb) ||
        !mk_mul_size(wb, 4, &wb) || !mk_add_size(p->xb, cached ? 0 : wb, &tot))
        return MK_OOM(k->e);
    float *px = mk_interp_scratch(k, tot ? tot : 4);
    if (!px) return MK_OOM(k->e);
    float *pw;
    if (cached) {
        if (!(pw = mk_kcache(k, (const char *)c->w + key, wb, &made))) return MK_OOM(k->e);
    } else {
        pw = px + p->xb / 4;
        made = 1;
    }
    if (made) c1x1_pack_w(p, pw);
    p->pw = pw;
    p->px = px;
    return MK_OK;
}

void mk_conv_1x1_chunk_at(const mk_c1x1_plan *p, int64_t i, int64_t *ng, int64_t *gi, int64_t *t,
                          int64_t *b0, int64_t *b1)
{
    int64_t u = i / p->ntile, cr = u % p->ncr;
    *t = i % p->ntile;
    *ng = u / p->ncr;
    *gi = *ng % p->c->groups;
    *b0 = cr * p->bpc;
    *b1 = *b0 + p->bpc < p->ncb ? *b0 + p->bpc : p->ncb;
}

int mk_conv_1x1_block(const mk_c1x1_plan *p, int64_t ng, int64_t b, int64_t t0, float *bv,
                      float **dst)
{
    const mk_cdirect *c = p->c;
    int64_t co0 = b * p->cb, gi = ng % c->groups;
    int nc = c->cog - co0 < p->cb ? (int)(c->cog - co0) : p->cb;
    for (int q = 0; q < p->cb; q++) {
        int64_t co = co0 + (q < nc ? q : nc - 1);
        bv[q] = c->bias ? c->bias[gi * c->cog + co] : 0;
        dst[q] = c->out + (ng * c->cog + co) * p->P + t0;
    }
    return nc;
}

const float *mk_conv_1x1_wblk(const mk_c1x1_plan *p, int64_t gi, int64_t r0, int64_t kn, int64_t b)
{
    int64_t cig = p->c->cig;
    return p->pw + (gi * cig * p->ncb + r0 * p->ncb + b * kn) * p->cb;
}

mk_status mk_conv_1x1_launch(mk_kctx *k, const mk_c1x1_plan *p, void *job, mk_par_fn pack,
                             mk_par_fn chunk)
{
    const mk_cdirect *c = p->c;
    if (p->local) {
        mk_status st = mk_par_scratch_reserve(k, p->xb);
        if (st) return st;
    } else {
        mk_par_for(k, c->N * c->groups * p->ntile, pack, job);
    }
    mk_par_for(k, c->N * c->groups * p->ncr * p->ntile, chunk, job);
    if (k->epi && !p->kind) c1x1_epilogue(k, c, p->P);
    return MK_OK;
}

mk_status mk_conv_1x1(mk_kctx *k, const mk_cdirect *c)
{
#ifdef C1_X86
    if (!mk_conv_1x1_ok(c)) return mk_kerr(k, MK_EINTERNAL, "1x1 conv kernel not applicable");
    if (mk_conv_direct_level() == 1) return mk_conv_1x1_avx2(k, c);
    mk_c1x1_plan J;
    mk_status st = mk_conv_1x1_plan(k, c, C1_CB, C1_NT, C1_KC, 1048576, 1, &J);
    if (st) return st;
    return mk_conv_1x1_launch(k, &J, &J, c1_pack, c1_chunk);
#else
    (void)c;
    return mk_kerr(k, MK_EINTERNAL, "1x1 conv kernel needs AVX-512");
#endif
}
