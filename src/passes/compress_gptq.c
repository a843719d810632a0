/* Error-compensating rounding (as GPTQ does) for palettes and int4/int8 blocks: the weight,
 * viewed as rows x d (output channels x input columns), is rounded one column at a time and each
 * column's rounding error is pushed onto the columns not yet rounded through the upper Cholesky
 * factor of the inverse Gram matrix of the layer's input (from the calibration run), within
 * chunks of at most MK_GRAM_CHUNK consecutive columns. Also the Gram accumulation itself. */
#include <math.h>
#include <string.h>

#include "base/base.h"
#include "compress_int.h"

int mk_cmp_rows(const mk_value *w, int out_ax, int in_ax, size_t *rows, size_t *d, int *tr)
{
    const mk_type *t = &w->type;
    size_t n = 0;
    if (t->rank < 2 || !mk_type_numel(t, &n) || !n) return 0;
    if (out_ax == 0 && in_ax == 1)
        *tr = 0, *rows = (size_t)t->dims[0];
    else if (t->rank == 2 && out_ax == 1 && in_ax == 0)
        *tr = 1, *rows = (size_t)t->dims[1];
    else
        return 0;
    *d = n / *rows;
    return 1;
}

size_t mk_cmp_gram_span(size_t d, int nch, int c, size_t *a)
{
    *a = d * (size_t)c / (size_t)nch;
    return d * (size_t)(c + 1) / (size_t)nch - *a;
}

int mk_cmp_gram_init(mk_cmp_gram *g, size_t d)
{
    memset(g, 0, sizeof *g);
    g->d = d;
    g->nch = (int)((d + MK_GRAM_CHUNK - 1) / MK_GRAM_CHUNK);
    size_t a, nh = 0;
    for (int c = 0; c < g->nch; c++) {
        size_t b = mk_cmp_gram_span(d, g->nch, c, &a);
        nh += b * b;
    }
    g->h = mk_calloc(NULL, nh ? nh : 1, sizeof(double));
    g->nh = nh;
    return g->h != NULL;
}

void mk_cmp_gram_free(mk_cmp_gram *g)
{
    if (g->h) mk_free(NULL, g->h, (g->nh ? g->nh : 1) * sizeof(double));
    memset(g, 0, sizeof *g);
}

void mk_cmp_gram_add(mk_cmp_gram *g, const double *v)
{
    double *h = g->h;
    size_t a;
    for (int c = 0; c < g->nch; c++) {
        size_t b = mk_cmp_gram_span(g->d, g->nch, c, &a);
        const double *x = v + a;
        for (size_t i = 0; i < b; i++, h += b) {
            double xi = x[i];
            if (xi == 0) continue;
            for (size_t j = 0; j < b; j++) h[j] += xi * x[j];
        }
    }
    g->nvec++;
}

/* in-place lower Cholesky of the n x n symmetric a (row-major); 0 when not positive definite */
static int cholesky(double *a, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        double s = a[j * n + j];
        for (size_t k = 0; k < j; k++) s -= a[j * n + k] * a[j * n + k];
        if (!(s > 0)) return 0;
        double l = sqrt(s);
        a[j * n + j] = l;
        for (size_t i = j + 1; i < n; i++) {
            double t = a[i * n + j];
            for (size_t k = 0; k < j; k++) t -= a[i * n + k] * a[j * n + k];
            a[i * n + j] = t / l;
        }
        for (size_t k = j + 1; k < n; k++) a[j * n + k] = 0;
    }
    return 1;
}

/* u (n x n, row-major, upper) with u^T u = h^-1, from the lower Cholesky factor l of h:
 * h^-1 = l^-T l^-1, whose upper factor is found as the lower Cholesky factor of h^-1 transposed;
 * tmp holds n x n */
static int inv_upper(const double *l, size_t n, double *u, double *tmp)
{
    /* tmp = l^-1 (lower), column by column by forward substitution */
    memset(tmp, 0, n * n * sizeof(double));
    for (size_t c = 0; c < n; c++) {
        tmp[c * n + c] = 1 / l[c * n + c];
        for (size_t i = c + 1; i < n; i++) {
            double s = 0;
            for (size_t k = c; k < i; k++) s += l[i * n + k] * tmp[k * n + c];
            tmp[i * n + c] = -s / l[i * n + i];
        }
    }
    /* u = h^-1 = tmp^T tmp (symmetric, full) */
    for (size_t i = 0; i < n; i++)
        for (size_t j = i; j < n; j++) {
            double s = 0;
            for (size_t k = j; k < n; k++) s += tmp[k * n + i] * tmp[k * n + j];
            u[i * n + j] = u[j * n + i] = s;
        }
    if (!cholesky(u, n)) return 0;
    for (size_t i = 0; i < n; i++) /* transpose the lower factor into the upper */
        for (size_t j = i + 1; j < n; j++) u[i * n + j] = u[j * n + i], u[j * n + i] = 0;
    return 1;
}

/* damping added to the Gram diagonal, relative to its mean (a direction the samples miss is
 * not free) */
#define DAMP 0.01

/* the weight nvec / (nvec + 0.3 b) a chunk of b columns deserves against its diagonal mean */
static double shrink(const mk_cmp_gram *g, size_t b)
{
    return (double)g->nvec / ((double)g->nvec + 0.3 * (double)b);
}

/* the damping of a chunk of b columns, relative to its diagonal mean: DAMP, plus what the
 * shrinkage toward the diagonal mean adds when the vectors are few */
static double damp0(const mk_cmp_gram *g, size_t b)
{
    double sh = shrink(g, b);
    return DAMP + (sh > 0 ? (1 - sh) / sh : 1e6);
}

/* fewer calibration vectors than this: plain rounding (one vector a run still gains: ViT's
 * head, fed the class token, 0.9858 -> 0.9899 lut4 g16 output cosine on 5 fresh inputs; the
 * 128 MB bench model 0.9735 -> 0.9835) */
#define MIN_VEC 1

int mk_cmp_gram_useful(const mk_cmp_gram *g)
{
    return g && g->h && g->nvec >= MIN_VEC;
}

int mk_cmp_gptq(const mk_allocator *al, const mk_cmp_gram *g, double *m, size_t rows, mk_cmp_qfn fn,
                void *ctx)
{
    size_t bmax = 0, a, off = 0, d = g->d;
    for (int c = 0; c < g->nch; c++) {
        size_t b = mk_cmp_gram_span(d, g->nch, c, &a);
        if (b > bmax) bmax = b;
    }
    size_t mb = bmax * bmax * sizeof(double), qb = (rows ? rows : 1) * sizeof(double);
    double *h = mk_malloc(al, mb), *u = mk_malloc(al, mb), *t = mk_malloc(al, mb);
    double *q = mk_malloc(al, qb), *err = mk_malloc(al, qb);
    int ok = h && u && t && q && err;
    for (int c = 0; ok && c < g->nch; c++) {
        size_t b = mk_cmp_gram_span(d, g->nch, c, &a);
        const double *hc = g->h + off;
        off += b * b;
        double mean = 0;
        for (size_t i = 0; i < b; i++) mean += hc[i * b + i] / (double)b;
        int have = mean > 0 && isfinite(mean);
        /* few vectors for the columns: the Gram matrix is shrunk toward its diagonal mean
         * (2 vectors for 256 columns: plain rounding) */
        for (double damp = damp0(g, b); have; damp *= 10) {
            memcpy(h, hc, b * b * sizeof(double));
            for (size_t i = 0; i < b; i++) h[i * b + i] += damp * mean;
            if (cholesky(h, b) && inv_upper(h, b, u, t)) break;
            if (damp > 1e3) have = 0;
        }
        for (size_t j = 0; j < b; j++) {
            double *mj = m + (a + j) * rows;
            fn(ctx, m, rows, d, a + j, q);
            if (!have) {
                memcpy(mj, q, rows * sizeof(double));
                continue;
            }
            const double *ur = u + j * b;
            double inv = 1 / ur[j];
            for (size_t r = 0; r < rows; r++) err[r] = (mj[r] - q[r]) * inv, mj[r] = q[r];
            for (size_t k = j + 1; k < b; k++) {
                double f = ur[k];
                double *mk = m + (a + k) * rows;
                if (f != 0)
                    for (size_t r = 0; r < rows; r++) mk[r] -= err[r] * f;
            }
        }
    }
    mk_free(al, h, mb);
    mk_free(al, u, mb);
    mk_free(al, t, mb);
    mk_free(al, q, qb);
    mk_free(al, err, qb);
    return ok;
}

double mk_cmp_gram_err(const mk_cmp_gram *g, const double *w, const double *wq, size_t rows)
{
    size_t a, off = 0, d = g->d;
    double s = 0;
    for (int c = 0; c < g->nch; c++) {
        size_t b = mk_cmp_gram_span(d, g->nch, c, &a);
        const double *hc = g->h + off;
        off += b * b;
        for (size_t r = 0; r < rows; r++) {
            const double *x = w + r * d + a, *y = wq + r * d + a;
            for (size_t i = 0; i < b; i++) {
                double di = x[i] - y[i], t = 0;
                if (di == 0) continue;
                for (size_t j = 0; j < b; j++) t += hc[i * b + j] * (x[j] - y[j]);
                s += di * t;
            }
        }
    }
    return s;
}

/* in-place solution of the K x K symmetric positive definite a x = y (a destroyed); 0 when a
 * is not positive definite */
static int solve_spd(double *a, double *y, int K)
{
    size_t n = (size_t)K;
    if (!cholesky(a, n)) return 0;
    for (size_t i = 0; i < n; i++) { /* l z = y */
        double t = y[i];
        for (size_t k = 0; k < i; k++) t -= a[i * n + k] * y[k];
        y[i] = t / a[i * n + i];
    }
    for (size_t i = n; i-- > 0;) { /* l^T x = z */
        double t = y[i];
        for (size_t k = i + 1; k < n; k++) t -= a[k * n + i] * y[k];
        y[i] = t / a[i * n + i];
    }
    return 1;
}

/* the refit works on sub-blocks of at most this many columns of a chunk: the whole chunk
 * (64-column sub-blocks, a quarter of the cost, lost 10 dB on PP-OCR cls lut4 group 16) */
#define REFIT_SUB MK_GRAM_CHUNK

int mk_cmp_lut_refit(const mk_allocator *al, const mk_cmp_gram *g, const double *w,
                     const uint8_t *q, size_t rows, size_t gch, int K, double *lut)
{
    size_t d = g->d, groups = rows / gch, kk = (size_t)K * (size_t)K;
    size_t mb = groups * kk * sizeof(double), yb = groups * (size_t)K * sizeof(double);
    size_t nc = (size_t)g->nch;
    double *mm = mk_calloc(al, groups * kk, sizeof(double));
    double *y = mk_calloc(al, groups * (size_t)K, sizeof(double));
    double *wr = mk_malloc(al, d * sizeof(double)), *dg = mk_malloc(al, nc * sizeof(double));
    uint8_t *qr = mk_malloc(al, d ? d : 1);
    size_t pb = ((size_t)K + 1) * REFIT_SUB * sizeof(double);
    double *pl = mk_malloc(al, pb), *u = pl ? pl + (size_t)K * REFIT_SUB : NULL;
    int ok = mm && y && wr && dg && qr && pl;
    size_t a, off;
    /* the damping mk_cmp_gptq starts from, per chunk (absolute) */
    off = 0;
    for (int c = 0; ok && c < g->nch; c++) {
        size_t b = mk_cmp_gram_span(d, g->nch, c, &a);
        const double *hc = g->h + off;
        double mean = 0;
        for (size_t i = 0; i < b; i++) mean += hc[i * b + i] / (double)b;
        dg[c] = mean > 0 && isfinite(mean) ? damp0(g, b) * mean : 0;
        off += b * b;
    }
    for (size_t r = 0; ok && r < rows; r++) {
        double *m = mm + r / gch * kk, *yy = y + r / gch * (size_t)K;
        for (size_t j = 0; j < d; j++) wr[j] = w[j * rows + r], qr[j] = q[j * rows + r];
        off = 0;
        for (int c = 0; c < g->nch; c++) {
            size_t b = mk_cmp_gram_span(d, g->nch, c, &a);
            const double *hc = g->h + off;
            off += b * b;
            /* pl[l][i] = sum_{j: q_j = l} h_ij and u = H w (rows of h added whole: h is
             * symmetric), then m[k][l] gains sum_{i: q_i = k} pl[l][i], yy[k] the u_i */
            for (size_t s0 = 0; s0 < b; s0 += REFIT_SUB) {
                size_t sb = b - s0 < REFIT_SUB ? b - s0 : REFIT_SUB;
                const uint8_t *qc = qr + a + s0;
                const double *wc = wr + a + s0;
                memset(pl, 0, (size_t)K * sb * sizeof(double));
                memset(u, 0, sb * sizeof(double));
                for (size_t j = 0; j < sb; j++) {
                    const double *hj = hc + (s0 + j) * b + s0;
                    double *pj = pl + (size_t)qc[j] * sb, wj = wc[j];
                    for (size_t i = 0; i < sb; i++) pj[i] += hj[i], u[i] += hj[i] * wj;
                }
                for (size_t i = 0; i < sb; i++) {
                    double *mk = m + (size_t)qc[i] * (size_t)K;
                    for (int l = 0; l < K; l++) mk[l] += pl[(size_t)l * sb + i];
                    mk[qc[i]] += dg[c];
                    yy[qc[i]] += u[i] + dg[c] * wc[i];
                }
            }
        }
    }
    for (size_t gi = 0; ok && gi < groups; gi++) {
        double *m = mm + gi * kk, *yy = y + gi * (size_t)K, *l = lut + gi * (size_t)K;
        double tr = 0;
        for (int k = 0; k < K; k++) tr += m[k * K + k];
        /* a tiny ridge toward the k-means entries; unused entries stay as they are */
        double ridge = tr > 0 ? 1e-9 * tr / K : 1;
        for (int k = 0; k < K; k++) {
            if (!(m[k * K + k] > 0)) {
                for (int j = 0; j < K; j++) m[k * K + j] = m[j * K + k] = 0;
                yy[k] = 0;
            }
            m[k * K + k] += ridge, yy[k] += ridge * l[k];
        }
        int fin = 1;
        if (solve_spd(m, yy, K))
            for (int k = 0; k < K; k++) fin &= isfinite(yy[k]);
        else
            fin = 0;
        if (fin) memcpy(l, yy, (size_t)K * sizeof(double));
    }
    if (mm) mk_free(al, mm, mb);
    if (y) mk_free(al, y, yb);
    if (wr) mk_free(al, wr, d * sizeof(double));
    if (dg) mk_free(al, dg, nc * sizeof(double));
    if (qr) mk_free(al, qr, d ? d : 1);
    if (pl) mk_free(al, pl, pb);
    return ok;
}
