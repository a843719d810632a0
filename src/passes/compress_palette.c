/* Palettization: 2^bits entries per LUT, per tensor or per group of output channels, found by
 * optimal 1-D k-means (weights rounded to fp16 and counted, sorted; dynamic programming over
 * the sorted distinct values with divide-and-conquer on the monotone split points: O(k m log m)
 * for m distinct values, exact for the squared error), or evenly spaced (uniform). iOS18:
 * constexpr_lut_to_dense with uintN indices shaped like the weight and lut
 * [groups.., 2^bits, 1]; iOS16/17: packed uint8 indices, one LUT, bits in {1,2,4,6,8}. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "compress_int.h"

typedef struct km {
    const double *s1, *s2, *w; /* prefix sums over distinct values: sum w*x, sum w*x^2, sum w */
    const double *prev;
    double *cur;
    int32_t *arg;
} km;

/* squared error of distinct values a..b (inclusive) around their mean */
static double cost(const km *k, size_t a, size_t b)
{
    double w = k->w[b + 1] - k->w[a], s = k->s1[b + 1] - k->s1[a];
    double r = (k->s2[b + 1] - k->s2[a]) - (w > 0 ? s * s / w : 0);
    return r > 0 ? r : 0;
}

/* cur[i] = min over j in [lo_j, hi_j], j <= i, of prev[j-1] + cost(j, i), for i in [l, r] */
static void solve(km *k, size_t l, size_t r, size_t lo_j, size_t hi_j)
{
    while (l <= r) {
        size_t m = l + (r - l) / 2, best_j = lo_j;
        double best = INFINITY;
        size_t top = hi_j < m ? hi_j : m;
        for (size_t j = lo_j; j <= top; j++) {
            double v = (j ? k->prev[j - 1] : 0) + cost(k, j, m);
            if (v < best) best = v, best_j = j;
        }
        k->cur[m] = best;
        k->arg[m] = (int32_t)best_j;
        if (m > l) solve(k, l, m - 1, lo_j, best_j);
        l = m + 1;
        lo_j = best_j;
    }
}

/* Optimal centroids (ascending) of x[0..m) weighted by cnt, K of them (m > K). */
static int kmeans1d(const mk_allocator *al, const double *x, const double *cnt, size_t m, int K,
                    double *cent)
{
    size_t nb = (m + 1) * sizeof(double);
    double *s1 = mk_malloc(al, nb), *s2 = mk_malloc(al, nb), *w = mk_malloc(al, nb);
    double *a = mk_malloc(al, nb), *b = mk_malloc(al, nb);
    int32_t *arg = mk_malloc(al, (size_t)K * m * sizeof(int32_t));
    int ok = s1 && s2 && w && a && b && arg;
    if (ok) {
        s1[0] = s2[0] = w[0] = 0;
        for (size_t i = 0; i < m; i++) {
            w[i + 1] = w[i] + cnt[i];
            s1[i + 1] = s1[i] + cnt[i] * x[i];
            s2[i + 1] = s2[i] + cnt[i] * x[i] * x[i];
        }
        km k = {s1, s2, w, NULL, a, arg};
        for (size_t i = 0; i < m; i++) a[i] = cost(&k, 0, i), arg[i] = 0;
        for (int c = 1; c < K; c++) {
            k.prev = c % 2 ? a : b;
            k.cur = c % 2 ? b : a;
            k.arg = arg + (size_t)c * m;
            for (size_t i = 0; i < (size_t)c; i++) k.cur[i] = INFINITY, k.arg[i] = (int32_t)i;
            solve(&k, (size_t)c, m - 1, (size_t)c, m - 1);
        }
        size_t end = m - 1;
        for (int c = K - 1; c >= 0; c--) {
            size_t j = (size_t)arg[(size_t)c * m + end];
            double ww = w[end + 1] - w[j];
            cent[c] = ww > 0 ? (s1[end + 1] - s1[j]) / ww : x[j];
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
    mk_free(al, arg, (size_t)K * m * sizeof(int32_t));
    return ok;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* LUT of K entries for the values v[0..n): k-means over their distinct fp16 roundings. */
static int make_lut(const mk_allocator *al, const float *v, size_t n, int K, int uniform,
                    double *lut)
{
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i])) lo = fmin(lo, v[i]), hi = fmax(hi, v[i]);
    if (!(lo <= hi)) lo = hi = 0;
    if (uniform) {
        for (int i = 0; i < K; i++) lut[i] = K > 1 ? lo + (hi - lo) * i / (K - 1) : lo;
        return 1;
    }
    uint32_t *hist = mk_calloc(al, 65536, sizeof(uint32_t));
    double *x = mk_malloc(al, 65536 * sizeof(double)), *cnt = mk_malloc(al, 65536 * sizeof(double));
    int ok = hist && x && cnt;
    if (ok) {
        for (size_t i = 0; i < n; i++)
            if (isfinite(v[i])) hist[mk_f32_to_f16(v[i])]++;
        size_t m = 0;
        for (uint32_t h = 0; h < 65536; h++)
            if (hist[h]) x[m++] = mk_f16_to_f32((uint16_t)h);
        qsort(x, m, sizeof *x, cmp_d);
        for (size_t i = 0; i < m; i++) cnt[i] = hist[mk_f32_to_f16((float)x[i])];
        /* -0 and +0 are one value */
        size_t u = 0;
        for (size_t i = 0; i < m; i++)
            if (u && x[u - 1] == x[i])
                cnt[u - 1] += cnt[i];
            else
                x[u] = x[i], cnt[u++] = cnt[i];
        m = u;
        if (m == 0) {
            for (int i = 0; i < K; i++) lut[i] = 0;
        } else if (m <= (size_t)K) {
            for (int i = 0; i < K; i++) lut[i] = x[(size_t)i < m ? (size_t)i : m - 1];
        } else {
            ok = kmeans1d(al, x, cnt, m, K, lut);
        }
    }
    mk_free(al, hist, 65536 * sizeof(uint32_t));
    mk_free(al, x, 65536 * sizeof(double));
    mk_free(al, cnt, 65536 * sizeof(double));
    return ok;
}

/* nearest entry of an ascending lut */
static int32_t nearest(const float *lut, int K, float v)
{
    int lo = 0, hi = K - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (v > 0.5f * (lut[mid] + lut[mid + 1]))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

mk_value *mk_cmp_palette(mk_cw *c, const mk_compress_options *o, mk_err *e)
{
    const mk_type *t = &c->w->type;
    int bits = o->bits, K = 1 << bits, ios18 = c->ios >= 18;
    int gran = o->granularity == 2 ? 2 : 1; /* per tensor unless grouped */
    int64_t pd[MK_MAX_RANK];
    mk_cmp_param_dims(c, gran, o->group, 1, pd);
    int64_t groups = pd[c->out_ax], ch = t->dims[c->out_ax];
    size_t inner = 1, outer = 1, es = t->dtype == MK_DT_FP16 ? 2 : 4;
    for (int a = 0; a < t->rank; a++)
        if (a < c->out_ax)
            outer *= (size_t)t->dims[a];
        else if (a > c->out_ax)
            inner *= (size_t)t->dims[a];
    size_t per = c->n / (size_t)groups, gch = (size_t)(ch / groups);
    float *vals = mk_malloc(c->p->alloc, per * sizeof(float));
    int32_t *idx = mk_arena_alloc(c->p->arena, c->n * sizeof(int32_t));
    unsigned char *lutb = mk_arena_alloc(c->p->arena, (size_t)groups * (size_t)K * es);
    unsigned char *ib = mk_arena_alloc(c->p->arena, (c->n * (size_t)bits + 7) / 8 + 1);
    double lut[256];
    float lutf[256];
    if (!vals || !idx || !lutb || !ib) {
        mk_free(c->p->alloc, vals, per * sizeof(float));
        return MK_OOM(e), NULL;
    }
    for (int64_t g = 0; g < groups; g++) {
        size_t k = 0;
        for (size_t ou = 0; ou < outer; ou++)
            for (size_t cc = (size_t)g * gch; cc < (size_t)(g + 1) * gch; cc++)
                for (size_t in = 0; in < inner; in++)
                    vals[k++] = (float)mk_const_get_f64(c->w, (ou * (size_t)ch + cc) * inner + in);
        if (!make_lut(c->p->alloc, vals, k, K, o->uniform, lut)) {
            mk_free(c->p->alloc, vals, per * sizeof(float));
            return MK_OOM(e), NULL;
        }
        for (int i = 0; i < K; i++) lutf[i] = mk_cmp_store(c, lutb, (size_t)g * (size_t)K + (size_t)i, lut[i]);
        for (int i = 1; i < K; i++) /* fp16 rounding keeps the order; ties stay ascending */
            if (lutf[i] < lutf[i - 1]) lutf[i] = lutf[i - 1];
        for (size_t ou = 0; ou < outer; ou++)
            for (size_t cc = (size_t)g * gch; cc < (size_t)(g + 1) * gch; cc++)
                for (size_t in = 0; in < inner; in++) {
                    size_t i = (ou * (size_t)ch + cc) * inner + in;
                    float v = (float)mk_const_get_f64(c->w, i);
                    int32_t q = isfinite(v) ? nearest(lutf, K, v) : v > 0 ? K - 1 : 0;
                    idx[i] = q;
                    c->rec[i] = lutf[q];
                }
    }
    mk_free(c->p->alloc, vals, per * sizeof(float));
    size_t nb = mk_cmp_pack(idx, c->n, bits, ib);
    char base[256];
    snprintf(base, sizeof base, "%s_lut%d", c->w->name ? c->w->name : "weight", bits);
    mk_op *cx = mk_ir_op_new(c->p, MK_OP_CONSTEXPR_LUT_TO_DENSE, base);
    if (!cx) return MK_OOM(e), NULL;
    if (ios18) {
        static const mk_dtype ut[9] = {0, MK_DT_UINT1, MK_DT_UINT2, MK_DT_UINT3, MK_DT_UINT4,
                                       0, MK_DT_UINT6, 0, MK_DT_UINT8};
        int64_t ld[MK_MAX_RANK + 2];
        for (int a = 0; a < t->rank; a++) ld[a] = pd[a];
        ld[t->rank] = K;
        ld[t->rank + 1] = 1;
        mk_value *iv = mk_cmp_const(c, ut[bits], t->rank, t->dims, ib, nb);
        mk_value *lv = mk_cmp_const(c, t->dtype, t->rank + 2, ld, lutb, (size_t)groups * (size_t)K * es);
        if (!iv || !lv) return MK_OOM(e), NULL;
        iv->is_inline = lv->is_inline = 1;
        if (!mk_ir_op_add_input(c->p, cx, "indices", iv) || !mk_ir_op_add_input(c->p, cx, "lut", lv))
            return MK_OOM(e), NULL;
    } else {
        int64_t m = (int64_t)nb, kk = K, r = t->rank;
        uint32_t shape[MK_MAX_RANK];
        for (int a = 0; a < t->rank; a++) shape[a] = (uint32_t)t->dims[a];
        mk_value *iv = mk_cmp_const(c, MK_DT_UINT8, 1, &m, ib, nb);
        mk_value *lv = mk_cmp_const(c, t->dtype, 1, &kk, lutb, (size_t)K * es);
        mk_type st = mk_type_make(MK_DT_UINT32, 1, &r);
        mk_value *sv = mk_ir_const_value(c->p, &st, shape, (size_t)r * 4, 0);
        if (!iv || !lv || !sv || !mk_ir_op_add_attr(c->p, cx, "indices", iv) ||
            !mk_ir_op_add_attr(c->p, cx, "lut", lv) || !mk_ir_op_add_attr(c->p, cx, "shape", sv))
            return MK_OOM(e), NULL;
    }
    return mk_cmp_finish(c, cx, 1, e);
}
