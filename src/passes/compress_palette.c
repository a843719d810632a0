/* Palettization: 2^bits entries per LUT, per tensor or per group of output channels, found by
 * optimal 1-D k-means over the weights rounded to fp16 and counted (a histogram of at most
 * 63487 distinct values, so the cost does not grow with the tensor), or weighted by their input
 * channel's activation mean square when calibrated (mk_cw.m2): dynamic programming over the
 * sorted distinct values (beyond 4096, 2048 for 256 entries, over bins of fp16 with fewer
 * mantissa bits, their sums exact), each layer's row minima by SMAWK (O(K m)); or evenly
 * spaced (uniform). iOS18: constexpr_lut_to_dense with uintN indices shaped like the weight
 * and lut [groups.., 2^bits, 1], with channel scales (a LUT per group of channels whose
 * ranges differ) followed by constexpr_blockwise_shift_scale, scale [.., channels, 1..];
 * iOS16/17: packed uint8 indices, one LUT, bits 1/2/4/6/8. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "compress_int.h"

typedef struct km {
    const double *s1, *s2, *w; /* prefix sums over distinct values: sum w*x, sum w*x^2, sum w */
    const double *prev;
    double *cur;
    uint16_t *arg;
    double *sv; /* SMAWK's reduce: each stack entry's value at its row */
} km;

/* squared error of distinct values a..b (inclusive) around their mean */
static inline double cost(const km *k, size_t a, size_t b)
{
    double w = k->w[b + 1] - k->w[a], s = k->s1[b + 1] - k->s1[a];
    double r = (k->s2[b + 1] - k->s2[a]) - (w > 0 ? s * s / w : 0);
    return r > 0 ? r : 0;
}

/* best split j of the layer's row i: the last cluster is j..i */
static inline double entry(const km *k, uint32_t i, uint32_t j)
{
    return j > i ? INFINITY : k->prev[j - 1] + cost(k, j, i);
}

/* SMAWK: cur[r] and arg[r] for the rows r (ascending) over the candidate splits cols
 * (ascending); the matrix is totally monotone because the cost is a concave Monge array. ws
 * holds 2 * nr more entries at each level. */
static void smawk(km *k, const uint32_t *rows, size_t nr, const uint32_t *cols, size_t nc,
                  uint32_t *ws)
{
    if (!nr) return;
    uint32_t *s = ws;
    size_t ns = 0;
    for (size_t t = 0; t < nc; t++) {
        while (ns && k->sv[ns - 1] > entry(k, rows[ns - 1], cols[t])) ns--;
        if (ns < nr) k->sv[ns] = entry(k, rows[ns], cols[t]), s[ns++] = cols[t];
    }
    uint32_t *odd = s + ns;
    size_t no = 0;
    for (size_t t = 1; t < nr; t += 2) odd[no++] = rows[t];
    smawk(k, odd, no, s, ns, odd + no);
    size_t q = 0;
    for (size_t t = 0; t < nr; t += 2) {
        uint32_t r = rows[t], stop = t + 1 < nr ? k->arg[rows[t + 1]] : s[ns - 1];
        double best = INFINITY;
        uint32_t bj = s[q];
        for (;;) {
            double v = entry(k, r, s[q]);
            if (v < best) best = v, bj = s[q];
            if (s[q] == stop) break;
            q++;
        }
        k->cur[r] = best;
        k->arg[r] = (uint16_t)bj;
    }
}

int mk_cmp_kmeans1d(const mk_allocator *al, const double *x, const double *cnt, size_t m, int K,
                    const uint32_t *grp, double *cent)
{
    if (m > 65536 || m <= (size_t)K) return 0;
    /* with grp, runs of equal grp[i] form one bin, its sums exact: the split points are the
     * optimum among bin boundaries */
    size_t nbins = m;
    if (grp) {
        nbins = 1;
        for (size_t i = 1; i < m; i++) nbins += grp[i] != grp[i - 1];
        if (nbins <= (size_t)K) grp = NULL, nbins = m;
    }
    size_t *first = mk_malloc(al, (nbins + 1) * sizeof(size_t));
    size_t nb = (nbins + 1) * sizeof(double), ab = (size_t)K * nbins * sizeof(uint16_t);
    size_t ub = 6 * (nbins + 1) * sizeof(uint32_t);
    double *s1 = mk_malloc(al, nb), *s2 = mk_malloc(al, nb), *w = mk_malloc(al, nb);
    double *a = mk_malloc(al, nb), *b = mk_malloc(al, nb), *sv = mk_malloc(al, nb);
    uint16_t *arg = mk_malloc(al, ab);
    uint32_t *u = mk_malloc(al, ub);
    int ok = s1 && s2 && w && a && b && sv && arg && u && first;
    if (ok) {
        s1[0] = s2[0] = w[0] = 0;
        double t1 = 0, t2 = 0, tw = 0;
        size_t nk = 0;
        for (size_t i = 0; i < m; i++) {
            if (!i || !grp || grp[i] != grp[i - 1]) first[nk++] = i;
            tw += cnt[i], t1 += cnt[i] * x[i], t2 += cnt[i] * x[i] * x[i];
            if (i + 1 == m || !grp || grp[i + 1] != grp[i]) w[nk] = tw, s1[nk] = t1, s2[nk] = t2;
        }
        m = nbins;
        km k = {s1, s2, w, NULL, a, arg, sv};
        for (size_t i = 0; i < m; i++) a[i] = cost(&k, 0, i), arg[i] = 0;
        for (int c = 1; c < K; c++) {
            k.prev = c % 2 ? a : b;
            k.cur = c % 2 ? b : a;
            k.arg = arg + (size_t)c * m;
            for (size_t i = 0; i < (size_t)c; i++) k.cur[i] = INFINITY, k.arg[i] = (uint16_t)i;
            /* rows that leave room for the K - 1 - c clusters after them */
            size_t n = m - (size_t)K + 1;
            for (size_t i = 0; i < n; i++) u[i] = u[n + i] = (uint32_t)(c + (int)i);
            smawk(&k, u, n, u + n, n, u + 2 * n);
        }
        size_t end = m - 1;
        for (int c = K - 1; c >= 0; c--) {
            size_t j = arg[(size_t)c * m + end];
            double ww = w[end + 1] - w[j];
            cent[c] = ww > 0 ? (s1[end + 1] - s1[j]) / ww : x[first[j]];
            if (j == 0) {
                for (int d = c - 1; d >= 0; d--) cent[d] = cent[c];
                break;
            }
            end = j - 1;
        }
    }
    mk_free(al, s1, nb);
    mk_free(al, s2, nb);
    mk_free(al, w, nb);
    mk_free(al, a, nb);
    mk_free(al, b, nb);
    mk_free(al, sv, nb);
    mk_free(al, arg, ab);
    mk_free(al, u, ub);
    mk_free(al, first, (nbins + 1) * sizeof(size_t));
    return ok;
}

/* with activation statistics, an element weighs its channel's mean square over the mean of
 * all channels plus this (a few samples do not make a channel free) */
#define M2_FLOOR 0.1

/* distinct values the k-means works on at most (adjacent ones binned beyond): 4096, or fewer
 * for large K so that its O(K m) work stays within 2^19 (2048 bins for 256 entries) */
#define KM_BINS(K) ((K) > 64 ? (1u << 19) / (unsigned)(K) : 4096u)

/* The distinct fp16 roundings of v[0..n) ascending (x), each counted or with its summed weight
 * wt (plus a tiny share of its count, so that it still has an entry near it), and their
 * sign-ordered fp16 ordinals (ord: -0 is +0); inf and NaN left out. *m of them; 0 when out of
 * memory. By a histogram of every fp16 value, or for few values by sorting them. */
static int distinct_hist(const mk_allocator *al, const float *v, const float *wt, size_t n,
                         double *x, double *cnt, uint32_t *ord, size_t *m)
{
    uint32_t *hist = mk_calloc(al, 65536, sizeof(uint32_t));
    double *wh = wt ? mk_calloc(al, 65536, sizeof(double)) : NULL;
    int ok = hist && (wh || !wt);
    if (ok) {
        uint16_t hb[1024]; /* in bulk (F16C where the CPU has it) */
        for (size_t i0 = 0; i0 < n; i0 += 1024) {
            size_t nb = n - i0 < 1024 ? n - i0 : 1024;
            mk_f32_to_f16_n(v + i0, hb, nb);
            for (size_t j = 0; j < nb; j++)
                if ((hb[j] & 0x7c00) != 0x7c00) {
                    hist[hb[j]]++;
                    if (wh) wh[hb[j]] += wt[i0 + j];
                }
        }
        hist[0] += hist[0x8000];
        hist[0x8000] = 0;
        if (wh) wh[0] += wh[0x8000], wh[0x8000] = 0;
#define W_OF(h) (wh ? wh[h] + 1e-9 * hist[h] : (double)hist[h])
        size_t k = 0;
        for (uint32_t h = 0xffff; h >= 0x8000; h--)
            if (hist[h] && (h & 0x7c00) != 0x7c00)
                x[k] = mk_f16_to_f32((uint16_t)h), cnt[k] = W_OF(h), ord[k++] = 0xffff - h;
        for (uint32_t h = 0; h < 0x7c00; h++)
            if (hist[h]) x[k] = mk_f16_to_f32((uint16_t)h), cnt[k] = W_OF(h), ord[k++] = 0x8000 + h;
#undef W_OF
        *m = k;
    }
    mk_free(al, hist, 65536 * sizeof(uint32_t));
    if (wh) mk_free(al, wh, 65536 * sizeof(double));
    return ok;
}

/* up to this many values, distinct_sorted (a radix sort) instead of the 65536-entry histogram */
#define SORT_MAX 16384

static int distinct_sorted(const mk_allocator *al, const float *v, const float *wt, size_t n,
                           double *x, double *cnt, uint32_t *ord, size_t *m)
{
    size_t nb = (n + 1) * sizeof(uint32_t);
    uint32_t *a = mk_malloc(al, nb), *b = mk_malloc(al, nb);
    uint16_t *key = mk_malloc(al, (n + 1) * sizeof(uint16_t));
    int ok = a && b && key;
    if (ok) {
        size_t k = 0;
        uint16_t hb[1024];
        for (size_t i0 = 0; i0 < n; i0 += 1024) {
            size_t c = n - i0 < 1024 ? n - i0 : 1024;
            mk_f32_to_f16_n(v + i0, hb, c);
            for (size_t j = 0; j < c; j++) {
                uint16_t h = hb[j];
                if ((h & 0x7c00) == 0x7c00) continue;
                key[i0 + j] = (uint16_t)(h == 0x8000  ? 0x8000
                                         : h & 0x8000 ? 0xffff - h
                                                      : 0x8000 + h);
                a[k++] = (uint32_t)(i0 + j);
            }
        }
        for (int pass = 0; pass < 2; pass++) { /* stable LSD radix sort by key, 8 bits a pass */
            size_t pos[257] = {0};
            for (size_t i = 0; i < k; i++) pos[((key[a[i]] >> (8 * pass)) & 255) + 1]++;
            for (int d = 0; d < 256; d++) pos[d + 1] += pos[d];
            for (size_t i = 0; i < k; i++) b[pos[(key[a[i]] >> (8 * pass)) & 255]++] = a[i];
            uint32_t *t = a;
            a = b, b = t;
        }
        size_t d = 0;
        for (size_t i = 0; i < k;) {
            uint16_t kk = key[a[i]];
            double c = 0, w = 0;
            for (; i < k && key[a[i]] == kk; i++) c += 1, w += wt ? wt[a[i]] : 0;
            uint16_t h = (uint16_t)(kk >= 0x8000 ? kk - 0x8000 : 0xffff - kk);
            x[d] = mk_f16_to_f32(h), cnt[d] = wt ? w + 1e-9 * c : c, ord[d++] = kk;
        }
        *m = d;
    }
    mk_free(al, a, nb);
    mk_free(al, b, nb);
    mk_free(al, key, (n + 1) * sizeof(uint16_t));
    return ok;
}

/* LUT of K entries for the values v[0..n): k-means over their distinct fp16 roundings, each
 * counted once or with weight wt[i] when wt is set. */
static int make_lut_bins(const mk_allocator *al, const float *v, const float *wt, size_t n, int K,
                         int uniform, size_t bins, double *lut)
{
    if (uniform) {
        float lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < n; i++)
            if (isfinite(v[i])) lo = v[i] < lo ? v[i] : lo, hi = v[i] > hi ? v[i] : hi;
        if (!(lo <= hi)) lo = hi = 0;
        for (int i = 0; i < K; i++) lut[i] = K > 1 ? lo + ((double)hi - lo) * i / (K - 1) : lo;
        return 1;
    }
    size_t cap = n < 65536 ? n + 1 : 65536, m = 0;
    uint32_t *ord = mk_malloc(al, cap * sizeof(uint32_t));
    double *x = mk_malloc(al, cap * sizeof(double)), *cnt = mk_malloc(al, cap * sizeof(double));
    int ok = x && cnt && ord &&
             (n <= SORT_MAX ? distinct_sorted(al, v, wt, n, x, cnt, ord, &m)
                            : distinct_hist(al, v, wt, n, x, cnt, ord, &m));
    if (ok) {
        /* beyond KM_BINS(K) values: fp16 with s fewer mantissa bits, the fewest that fit (a
         * relative grid, so outliers never share a bin with distant values) */
        int sh = 0;
        for (; sh < 10; sh++) {
            size_t nb = m ? 1 : 0;
            for (size_t i = 1; i < m; i++) nb += ord[i] >> sh != ord[i - 1] >> sh;
            if (nb <= bins) break;
        }
        for (size_t i = 0; i < m; i++) ord[i] >>= sh;
        if (m == 0) {
            for (int i = 0; i < K; i++) lut[i] = 0;
        } else if (m <= (size_t)K) {
            for (int i = 0; i < K; i++) lut[i] = x[(size_t)i < m ? (size_t)i : m - 1];
        } else {
            ok = mk_cmp_kmeans1d(al, x, cnt, m, K, sh ? ord : NULL, lut);
        }
    }
    mk_free(al, ord, cap * sizeof(uint32_t));
    mk_free(al, x, cap * sizeof(double));
    mk_free(al, cnt, cap * sizeof(double));
    return ok;
}

static int make_lut(const mk_allocator *al, const float *v, const float *wt, size_t n, int K,
                    int uniform, double *lut)
{
    return make_lut_bins(al, v, wt, n, K, uniform, KM_BINS(K), lut);
}

/* Nearest entry of an ascending LUT: the first i with v <= mid[i] (mid[i] halfway between
 * entries i and i+1), started from a table of G cells over [lo, hi]. */
enum { G = 4096 };
typedef struct near {
    float mid[256], lo, inv;
    int K;
    uint8_t start[G];
} near;

static int near_scan(const near *t, float v, int i)
{
    while (i > 0 && !(v > t->mid[i - 1])) i--;
    while (i < t->K - 1 && v > t->mid[i]) i++;
    return i;
}

static void near_init(near *t, const float *lut, int K, float lo, float hi)
{
    t->K = K;
    for (int i = 0; i + 1 < K; i++) t->mid[i] = 0.5f * (lut[i] + lut[i + 1]);
    t->lo = lo;
    t->inv = hi > lo ? (float)G / (hi - lo) : 0;
    int i = 0;
    for (int g = 0; g < G; g++) {
        i = near_scan(t, t->inv > 0 ? lo + (float)g / t->inv : lo, i);
        t->start[g] = (uint8_t)i;
    }
}

static int near_find(const near *t, float v)
{
    float f = (v - t->lo) * t->inv;
    int g = f > 0 ? (f < (float)(G - 1) ? (int)f : G - 1) : 0;
    return near_scan(t, v, t->start[g]);
}

/* LSB-first packing of n indices of `bits` bits */
static void pack8(const uint8_t *v, size_t n, int bits, unsigned char *out)
{
    if (bits == 8) {
        memcpy(out, v, n);
        return;
    }
    uint64_t acc = 0;
    int na = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        acc |= (uint64_t)v[i] << na;
        na += bits;
        while (na >= 8) out[o++] = (unsigned char)acc, acc >>= 8, na -= 8;
    }
    if (na) out[o] = (unsigned char)acc;
}

int mk_cmp_lut(mk_cw *c, const float *v, size_t n, int bits, int uniform, size_t g, float *lutf)
{
    int K = 1 << bits;
    double lut[256];
    if (!make_lut(c->p->alloc, v, NULL, n, K, uniform, lut)) return 0;
    for (int i = 0; i < K; i++)
        lutf[i] = mk_cmp_store(c, c->lutb, g * (size_t)K + (size_t)i, lut[i]);
    for (int i = 1; i < K; i++) /* fp16 rounding keeps the order; ties stay ascending */
        if (lutf[i] < lutf[i - 1]) lutf[i] = lutf[i - 1];
    return 1;
}

int mk_cmp_assign(const mk_allocator *al, const float *lutf, int K, const float *v, size_t n,
                  uint8_t *idx)
{
    near *nt = mk_malloc(al, sizeof *nt);
    if (!nt) return 0;
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i])) lo = v[i] < lo ? v[i] : lo, hi = v[i] > hi ? v[i] : hi;
    near_init(nt, lutf, K, lo <= hi ? lo : 0, lo <= hi ? hi : 0);
    for (size_t i = 0; i < n; i++)
        idx[i] = (uint8_t)(isfinite(v[i]) ? near_find(nt, v[i]) : v[i] > 0 ? K - 1 : 0);
    mk_free(al, nt, sizeof *nt);
    return 1;
}

void mk_cmp_pack8(const uint8_t *v, size_t n, int bits, unsigned char *out)
{
    pack8(v, n, bits, out);
}

static float wval0(const mk_cw *c, size_t i)
{
    return c->w->type.dtype == MK_DT_FP32 ? ((const float *)c->w->cst->data)[i]
                                          : mk_f16_to_f32(((const uint16_t *)c->w->cst->data)[i]);
}

/* element i as the LUTs see it: divided by its channel's scale when there are scales */
static float wval(const mk_cw *c, size_t i)
{
    return c->wn ? c->wn[i] : wval0(c, i);
}

/* element i decompresses to LUT entry r: with channel scales, r times the scale (as
 * constexpr_blockwise_shift_scale computes it) against the original value */
static void pacc(mk_cw *c, size_t i, float v, float r)
{
    if (!c->scf) {
        mk_cmp_acc(c, i, v, r);
        return;
    }
    double s = c->scf[i / c->sc_inner % (size_t)c->w->type.dims[c->out_ax]];
    mk_cmp_acc(c, i, wval0(c, i), (float)((double)r * s));
}

/* Channel scales where they cut the mean relative error per channel to CHS_GAIN or less, as
 * measured by k-means in CHS_BINS bins (a trial, not the fit; 4096 bins cost twice the time
 * and gave the same ratios within 0.005). Measured ratios: 0.72-0.85 on the folded batch-norm
 * convs of PP-OCR rec, 0.72-0.94 on the openWakeWord embedding model's, 0.94-1.0 on ViT,
 * wav2vec2, the whisper encoder and squeezenet (where the scales would only cost bytes). */
#define CHS_GAIN 0.9
#define CHS_BINS 256
/* and only where some group's channels differ in RMS by more than CHS_SPREAD (the trial costs
 * two k-means; on equal channels it never chose the scales) */
#define CHS_SPREAD 1.5

/* MILKIT_CMP_NO_CHSCALE=1 in the environment: no channel scales (to compare, as tests do) */
static int chscale_on(void)
{
    const char *e = getenv("MILKIT_CMP_NO_CHSCALE");
    return !(e && *e == '1');
}

/* The channel scales (c->scb, c->scf) when a LUT covers several output channels at iOS18:
 * channels of different ranges (a folded batch norm gives each its own) share one LUT badly,
 * most of its entries spent on the widest. 0 when out of memory. */
static int chscale_prep(mk_cw *c, const mk_compress_options *o, size_t groups)
{
    const mk_type *t = &c->w->type;
    size_t ch = (size_t)t->dims[c->out_ax], inner = 1, es = t->dtype == MK_DT_FP16 ? 2 : 4;
    c->scb = NULL, c->scf = NULL, c->wn = NULL;
    if (c->ios < 18 || o->granularity != 2 || groups >= ch || !chscale_on()) return 1;
    for (int a = c->out_ax + 1; a < t->rank; a++) inner *= (size_t)t->dims[a];
    c->sc_inner = inner;
    double *mx = mk_malloc(c->p->alloc, 2 * ch * sizeof(double)); /* max |w|, sum w^2 */
    c->scb = mk_arena_alloc(c->p->arena, ch * es);
    c->scf = mk_arena_alloc(c->p->arena, ch * sizeof(float));
    if (!mx || !c->scb || !c->scf) {
        if (mx) mk_free(c->p->alloc, mx, 2 * ch * sizeof(double));
        return 0;
    }
    for (size_t r = 0; r < 2 * ch; r++) mx[r] = 0;
    for (size_t i = 0; i < c->n; i++) {
        float v = wval0(c, i);
        size_t r = i / inner % ch;
        if (isfinite(v) && fabs(v) > mx[r]) mx[r] = fabs(v);
        if (isfinite(v)) mx[ch + r] += (double)v * v;
    }
    /* channels whose mean squares agree within CHS_SPREAD^2 in every group: no trial, none */
    size_t gch = ch / groups;
    int spread = 0;
    for (size_t g = 0; g < groups && !spread; g++) {
        double lo = INFINITY, hi = 0;
        for (size_t r = g * gch; r < (g + 1) * gch; r++)
            lo = fmin(lo, mx[ch + r]), hi = fmax(hi, mx[ch + r]);
        spread = hi > CHS_SPREAD * CHS_SPREAD * lo;
    }
    if (!spread) {
        mk_free(c->p->alloc, mx, 2 * ch * sizeof(double));
        c->scb = NULL, c->scf = NULL;
        return 1;
    }
    for (size_t r = 0; r < ch; r++) {
        float s = mk_cmp_store(c, c->scb, r, mx[r] > 0 ? mx[r] : 1);
        if (!(s > 0) || !isfinite(s)) s = mk_cmp_store(c, c->scb, r, 1);
        c->scf[r] = s;
    }
    mk_free(c->p->alloc, mx, 2 * ch * sizeof(double));
    return 1;
}

int mk_cmp_palette_prep(mk_cw *c, const mk_compress_options *o)
{
    const mk_type *t = &c->w->type;
    mk_cmp_param_dims(c, o->granularity == 2 ? 2 : 1, o->group, 1, c->pd);
    size_t groups = (size_t)c->pd[c->out_ax], es = t->dtype == MK_DT_FP16 ? 2 : 4;
    c->ib_bytes = (c->n * (size_t)o->bits + 7) / 8;
    c->lutb = mk_arena_alloc(c->p->arena, groups * ((size_t)1 << o->bits) * es);
    c->ib = mk_arena_alloc(c->p->arena, c->ib_bytes + 1);
    return c->lutb && c->ib && chscale_prep(c, o, groups);
}

/* the entry of the ascending L[0..K) nearest v */
static int nearest(const float *L, int K, double v)
{
    int lo = 0, hi = K - 1;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (v >= L[mid])
            lo = mid;
        else
            hi = mid;
    }
    return v - L[lo] <= L[hi] - v ? lo : hi;
}

/* The mean over output channels of each channel's relative squared error (sum (w - w')^2 /
 * sum w^2) when a LUT per group of gch channels is fitted to the weight's values as the LUTs
 * see them (src; NULL: the weight itself) and multiplied back by the channel scales sc (NULL:
 * none); -1 when out of memory. Channels feed normalising ops (a folded batch norm, layer
 * norm), so each channel's error counts relative to its range, not to the widest's. */
static double chan_err(mk_cw *c, const float *src, const float *sc, int K, int uniform,
                       size_t groups, size_t gch, size_t outer, size_t inner)
{
    const mk_allocator *al = c->p->alloc;
    size_t ch = groups * gch, per = outer * gch * inner;
    float *vals = mk_malloc(al, per * sizeof(float));
    double *d2 = mk_malloc(al, 2 * ch * sizeof(double)), *w2 = d2 ? d2 + ch : NULL, lut[256];
    float L[256];
    int ok = vals && d2;
    for (size_t r = 0; ok && r < 2 * ch; r++) d2[r] = 0;
    for (size_t g = 0; ok && g < groups; g++) {
        size_t k = 0;
        for (size_t ou = 0; ou < outer; ou++)
            for (size_t i = (ou * ch + g * gch) * inner; i < (ou * ch + g * gch + gch) * inner; i++)
                vals[k++] = src ? src[i] : wval0(c, i);
        if (!(ok = make_lut_bins(al, vals, NULL, k, K, uniform, CHS_BINS, lut))) break;
        for (int i = 0; i < K; i++) L[i] = (float)lut[i];
        for (int i = 1; i < K; i++)
            if (L[i] < L[i - 1]) L[i] = L[i - 1];
        k = 0;
        for (size_t ou = 0; ou < outer; ou++)
            for (size_t i = (ou * ch + g * gch) * inner; i < (ou * ch + g * gch + gch) * inner;
                 i++) {
                float v = vals[k++];
                size_t r = i / inner % ch;
                double s = sc ? sc[r] : 1, w = (double)v * s;
                if (!isfinite(v)) continue;
                double dq = w - (double)L[nearest(L, K, v)] * s;
                d2[r] += dq * dq, w2[r] += w * w;
            }
    }
    double m = 0;
    size_t nr = 0;
    for (size_t r = 0; ok && r < ch; r++)
        if (w2[r] > 0) m += d2[r] / w2[r], nr++;
    if (vals) mk_free(al, vals, per * sizeof(float));
    if (d2) mk_free(al, d2, 2 * ch * sizeof(double));
    return ok ? (nr ? m / (double)nr : 0) : -1;
}

typedef struct palq {
    const float *lut; /* K entries per group of gch rows */
    int K;
    size_t gch;
} palq;

static void pal_round(void *ctx, const double *m, size_t rows, size_t d, size_t j, double *q)
{
    const palq *p = ctx;
    (void)d;
    for (size_t r = 0; r < rows; r++) {
        const float *L = p->lut + r / p->gch * (size_t)p->K;
        q[r] = L[nearest(L, p->K, m[j * rows + r])];
    }
}

/* indices by error-compensating rounding against the LUTs of every group (lut: K per group,
 * ascending); with refit, each LUT is then refitted to the indices (mk_cmp_lut_refit), stored
 * again in c->lutb and lut, ascending */
static int assign_gptq(mk_cw *c, float *lut, int K, size_t groups, size_t gch, int refit,
                       uint8_t *idx)
{
    const mk_allocator *al = c->p->alloc;
    size_t rows, d, nb, lb = groups * (size_t)K * sizeof(double);
    int tr;
    if (!mk_cmp_rows(c->w, c->out_ax, c->in_ax, &rows, &d, &tr) ||
        !mk_mul_size(rows * d, sizeof(double), &nb))
        return 0;
    double *m = mk_malloc(al, nb), *w0 = refit ? mk_malloc(al, nb) : NULL;
    double *dl = refit ? mk_malloc(al, lb) : NULL;
    uint8_t *q = mk_malloc(al, rows * d > 0 ? rows * d : 1);
    int ok = m && q && (!refit || (w0 && dl));
    for (size_t r = 0; ok && r < rows; r++)
        for (size_t j = 0; j < d; j++) {
            float v = wval(c, tr ? j * rows + r : r * d + j);
            m[j * rows + r] = isfinite(v) ? v : 0;
        }
    if (ok && refit) memcpy(w0, m, nb);
    palq pq = {lut, K, gch};
    ok = ok && mk_cmp_gptq(al, c->g, m, rows, pal_round, &pq);
    for (size_t r = 0; ok && r < rows; r++) {
        const float *L = lut + r / gch * (size_t)K;
        for (size_t j = 0; j < d; j++) q[j * rows + r] = (uint8_t)nearest(L, K, m[j * rows + r]);
    }
    if (ok && refit) {
        for (size_t i = 0; i < groups * (size_t)K; i++) dl[i] = lut[i];
        ok = mk_cmp_lut_refit(al, c->g, w0, q, rows, gch, K, dl);
        for (size_t g = 0; ok && g < groups; g++) {
            /* ascending again: perm[new] = old entry */
            double *l = dl + g * (size_t)K;
            uint8_t perm[256], inv[256];
            for (int i = 0; i < K; i++) perm[i] = (uint8_t)i;
            for (int i = 1; i < K; i++)
                for (int k = i; k > 0 && l[perm[k]] < l[perm[k - 1]]; k--) {
                    uint8_t t = perm[k];
                    perm[k] = perm[k - 1], perm[k - 1] = t;
                }
            float *L = lut + g * (size_t)K;
            for (int i = 0; i < K; i++) {
                inv[perm[i]] = (uint8_t)i;
                L[i] = mk_cmp_store(c, c->lutb, g * (size_t)K + (size_t)i, l[perm[i]]);
            }
            for (int i = 1; i < K; i++)
                if (L[i] < L[i - 1]) L[i] = L[i - 1];
            for (size_t r = g * gch; r < (g + 1) * gch; r++)
                for (size_t j = 0; j < d; j++) q[j * rows + r] = inv[q[j * rows + r]];
        }
    }
    for (size_t r = 0; ok && r < rows; r++) {
        const float *L = lut + r / gch * (size_t)K;
        for (size_t j = 0; j < d; j++) {
            size_t i = tr ? j * rows + r : r * d + j;
            float v = wval(c, i);
            int k = isfinite(v) ? q[j * rows + r] : v > 0 ? K - 1 : 0;
            idx[i] = (uint8_t)k;
            pacc(c, i, v, L[k]);
        }
    }
    if (m) mk_free(al, m, nb);
    if (w0) mk_free(al, w0, nb);
    if (dl) mk_free(al, dl, lb);
    if (q) mk_free(al, q, rows * d > 0 ? rows * d : 1);
    return ok;
}

/* MILKIT_CMP_NO_REFIT=1 in the environment: no LUT refit (to compare, as tests do) */
static int refit_on(void)
{
    const char *e = getenv("MILKIT_CMP_NO_REFIT");
    return !(e && *e == '1');
}

int mk_cmp_palette_compute(mk_cw *c, const mk_compress_options *o)
{
    const mk_type *t = &c->w->type;
    const mk_allocator *al = c->p->alloc;
    int K = 1 << o->bits;
    size_t groups = (size_t)c->pd[c->out_ax], ch = (size_t)t->dims[c->out_ax];
    size_t inner = 1, outer = 1;
    for (int a = 0; a < t->rank; a++)
        if (a < c->out_ax)
            outer *= (size_t)t->dims[a];
        else if (a > c->out_ax)
            inner *= (size_t)t->dims[a];
    size_t per = c->n / groups, gch = ch / groups;
    /* with activation statistics: element i weighs wm2[(i / istride) % ilen] */
    size_t istride = 1, ilen = c->m2 && !o->uniform ? (size_t)t->dims[c->in_ax] : 0;
    for (int a = c->in_ax + 1; a < t->rank; a++) istride *= (size_t)t->dims[a];
    float *wn = c->scf ? mk_malloc(al, c->n * sizeof(float)) : NULL;
    if (c->scf && !wn) return 0;
    for (size_t i = 0; wn && i < c->n; i++)
        wn[i] = (float)((double)wval0(c, i) / c->scf[i / inner % ch]);
    c->wn = wn;
    if (wn) { /* the scales only where they pay (CHS_GAIN) */
        double e0 = chan_err(c, NULL, NULL, K, o->uniform, groups, gch, outer, inner);
        double e1 = chan_err(c, wn, c->scf, K, o->uniform, groups, gch, outer, inner);
        if (e0 < 0 || e1 < 0) {
            mk_free(al, wn, c->n * sizeof(float));
            c->wn = NULL;
            return 0;
        }
        if (!(e1 < CHS_GAIN * e0)) {
            mk_free(al, wn, c->n * sizeof(float));
            c->wn = wn = NULL, c->scf = NULL;
        }
    }
    const float *f32 = wn ? wn : t->dtype == MK_DT_FP32 ? c->w->cst->data : NULL;
    float *vals = mk_malloc(al, per * sizeof(float));
    float *wts = ilen ? mk_malloc(al, per * sizeof(float)) : NULL;
    float *wm2 = ilen ? mk_malloc(al, ilen * sizeof(float)) : NULL;
    uint8_t *idx = mk_malloc(al, c->n);
    near *nt = mk_malloc(al, sizeof *nt);
    size_t rows_, d_;
    int tr_, comp = mk_cmp_gram_useful(c->g) &&
                    mk_cmp_rows(c->w, c->out_ax, c->in_ax, &rows_, &d_, &tr_);
    float *all = comp ? mk_malloc(al, groups * (size_t)K * sizeof(float)) : NULL;
    int ok = vals && idx && nt && (!ilen || (wts && wm2)) && (!comp || all);
    if (ok && ilen) { /* relative to the mean, plus a floor (few samples, dead inputs) */
        double mean = 0;
        for (size_t j = 0; j < ilen; j++) mean += c->m2[j] / (double)ilen;
        for (size_t j = 0; j < ilen; j++)
            wm2[j] = mean > 0 ? (float)(c->m2[j] / mean + M2_FLOOR) : 1.0f;
    }
    double lut[256];
    float lutf[256];
    for (size_t g = 0; ok && g < groups; g++) {
        size_t k = 0;
        for (size_t ou = 0; ou < outer; ou++) {
            size_t i0 = (ou * ch + g * gch) * inner;
            if (f32)
                memcpy(vals + k, f32 + i0, gch * inner * sizeof(float));
            else
                for (size_t i = i0; i < i0 + gch * inner; i++) vals[k + i - i0] = wval(c, i);
            for (size_t i = i0; wts && i < i0 + gch * inner; i++)
                wts[k + i - i0] = wm2[(i / istride) % ilen];
            k += gch * inner;
        }
        if (!(ok = make_lut(al, vals, wts, k, K, o->uniform, lut))) break;
        for (int i = 0; i < K; i++)
            lutf[i] = mk_cmp_store(c, c->lutb, g * (size_t)K + (size_t)i, lut[i]);
        for (int i = 1; i < K; i++) /* fp16 rounding keeps the order; ties stay ascending */
            if (lutf[i] < lutf[i - 1]) lutf[i] = lutf[i - 1];
        if (all) {
            memcpy(all + g * (size_t)K, lutf, (size_t)K * sizeof(float));
            continue;
        }
        float lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < k; i++)
            if (isfinite(vals[i]))
                lo = vals[i] < lo ? vals[i] : lo, hi = vals[i] > hi ? vals[i] : hi;
        near_init(nt, lutf, K, lo <= hi ? lo : 0, lo <= hi ? hi : 0);
        k = 0;
        for (size_t ou = 0; ou < outer; ou++) {
            size_t i0 = (ou * ch + g * gch) * inner;
            for (size_t i = i0; i < i0 + gch * inner; i++) {
                float v = vals[k++];
                int q = isfinite(v) ? near_find(nt, v) : v > 0 ? K - 1 : 0;
                idx[i] = (uint8_t)q;
                pacc(c, i, v, lutf[q]);
            }
        }
    }
    /* the LUT refit only on the user's samples: fitting the entries to seeded inputs, whose
     * distribution may not be the real one, cost PP-OCR cls 8 dB */
    if (ok && all)
        ok = assign_gptq(c, all, K, groups, gch, !o->uniform && c->g->fit && refit_on(), idx);
    if (ok) pack8(idx, c->n, o->bits, c->ib);
    if (all) mk_free(al, all, groups * (size_t)K * sizeof(float));
    mk_free(al, vals, per * sizeof(float));
    if (wts) mk_free(al, wts, per * sizeof(float));
    if (wm2) mk_free(al, wm2, ilen * sizeof(float));
    mk_free(al, idx, c->n);
    mk_free(al, nt, sizeof *nt);
    if (wn) mk_free(al, wn, c->n * sizeof(float));
    c->wn = NULL;
    return ok;
}

mk_value *mk_cmp_palette_build(mk_cw *c, const mk_compress_options *o, mk_err *e)
{
    const mk_type *t = &c->w->type;
    int bits = o->bits, K = 1 << bits;
    size_t groups = (size_t)c->pd[c->out_ax], es = t->dtype == MK_DT_FP16 ? 2 : 4;
    char base[256];
    snprintf(base, sizeof base, "%s_lut%d", c->w->name ? c->w->name : "weight", bits);
    mk_op *cx = mk_ir_op_new(c->p, MK_OP_CONSTEXPR_LUT_TO_DENSE, base);
    if (!cx) return MK_OOM(e), NULL;
    if (c->ios >= 18) {
        static const mk_dtype ut[9] = {0, MK_DT_UINT1, MK_DT_UINT2, MK_DT_UINT3, MK_DT_UINT4,
                                       0, MK_DT_UINT6, 0,           MK_DT_UINT8};
        int64_t ld[MK_MAX_RANK + 2];
        for (int a = 0; a < t->rank; a++) ld[a] = c->pd[a];
        ld[t->rank] = K;
        ld[t->rank + 1] = 1;
        mk_value *iv = mk_cmp_const(c, ut[bits], t->rank, t->dims, c->ib, c->ib_bytes);
        mk_value *lv = mk_cmp_const(c, t->dtype, t->rank + 2, ld, c->lutb, groups * (size_t)K * es);
        if (!iv || !lv) return MK_OOM(e), NULL;
        iv->is_inline = lv->is_inline = 1;
        if (!mk_ir_op_add_input(c->p, cx, "indices", iv) ||
            !mk_ir_op_add_input(c->p, cx, "lut", lv))
            return MK_OOM(e), NULL;
    } else {
        int64_t m = (int64_t)c->ib_bytes, kk = K, r = t->rank;
        uint32_t shape[MK_MAX_RANK];
        for (int a = 0; a < t->rank; a++) shape[a] = (uint32_t)t->dims[a];
        mk_value *iv = mk_cmp_const(c, MK_DT_UINT8, 1, &m, c->ib, c->ib_bytes);
        mk_value *lv = mk_cmp_const(c, t->dtype, 1, &kk, c->lutb, (size_t)K * es);
        mk_type st = mk_type_make(MK_DT_UINT32, 1, &r);
        mk_value *sv = mk_ir_const_value(c->p, &st, shape, (size_t)r * 4, 0);
        if (!iv || !lv || !sv || !mk_ir_op_add_attr(c->p, cx, "indices", iv) ||
            !mk_ir_op_add_attr(c->p, cx, "lut", lv) || !mk_ir_op_add_attr(c->p, cx, "shape", sv))
            return MK_OOM(e), NULL;
    }
    mk_value *out = mk_cmp_finish(c, cx, 1, e);
    if (!out || !c->scf) return out;
    /* the channel scales: scale shaped like the weight, 1 except along the output axis */
    int64_t sd[MK_MAX_RANK];
    for (int a = 0; a < t->rank; a++) sd[a] = a == c->out_ax ? t->dims[a] : 1;
    size_t ch = (size_t)t->dims[c->out_ax];
    char nm[280];
    snprintf(nm, sizeof nm, "%s_scaled", base);
    mk_op *sx = mk_ir_op_new(c->p, MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE, nm);
    mk_value *sv = sx ? mk_cmp_const(c, t->dtype, t->rank, sd, c->scb, ch * es) : NULL;
    if (!sv) return MK_OOM(e), NULL;
    sv->is_inline = 1;
    mk_type none = mk_type_make(MK_DT_INVALID, MK_RANK_UNKNOWN, NULL);
    mk_value *so;
    if (!mk_ir_op_add_input(c->p, sx, "data", out) || !mk_ir_op_add_input(c->p, sx, "scale", sv) ||
        !(so = mk_ir_op_add_output(c->p, sx, NULL, &none)))
        return MK_OOM(e), NULL;
    sx->name = so->name;
    mk_ir_insert_after(cx, sx);
    if (mk_ir_infer_op(sx, e) != MK_OK) return NULL;
    return so;
}

mk_value *mk_cmp_palette(mk_cw *c, const mk_compress_options *o, mk_err *e)
{
    if (!mk_cmp_palette_prep(c, o) || !mk_cmp_palette_compute(c, o)) return MK_OOM(e), NULL;
    return mk_cmp_palette_build(c, o, e);
}
