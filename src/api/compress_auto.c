/* Automatic mixed bit widths (`milkit compress --max-error cos=0.999|snr=30dB`, `--target-size`):
 * each weight's sensitivity is measured with the interpreter (the fp32 program with that one
 * weight replaced by its 6-bit and its 4-bit palette reconstruction, on the given input lists)
 * and scaled to the other candidate modes (lut8, int8, int4 block 32, lut2) by their
 * weight-space squared error; the output noise-to-signal
 * ratios are taken as adding up across weights, a greedy search takes
 * the move saving the most bytes per unit of added noise while the bound holds (or until the
 * size target is met), and the result is checked on the same inputs, tightening and redoing
 * the search when the check fails. The 4- and 2-bit candidates round with error compensation
 * (compress_gptq.c) on the Gram matrices of the same input lists, as the uniform modes do. */
#include <math.h>
#include <string.h>

#include "api_int.h"
#include "base/base.h"
#include "passes/compress_int.h"

enum { MAXM = 8, MAXO = 64, TRIES = 5 };

typedef struct autoc {
    const mk_program *ref;
    const mk_tensor_list *runs;
    int n_runs, n_out, ns, nm;
    mk_tensor_list *refo;        /* ref outputs per run */
    double sig[MAXO];            /* sum over runs of ref^2 per output */
    mk_compress_options m[MAXM]; /* candidate modes */
    size_t *bytes;               /* [site][mode] compressed bytes */
    double *nsr;                 /* [site][mode][out] noise / signal when only site uses mode */
    size_t *orig;                /* [site] bytes as it is */
    double *werr;                /* [site][mode] relative weight error */
    int meas[MAXM];              /* the modes measured with the interpreter (6- and 4-bit LUTs) */
    const mk_cmp_site *cal;      /* ref's sites with their Gram matrices (g.h NULL: none) */
} autoc;

/* lends the Gram matrices of a->cal to the clone's sites s (same order), or takes them back */
static void lend_gram(const autoc *a, mk_cmp_site *s, int ns, int lend)
{
    for (int i = 0; s && a->cal && i < ns && i < a->ns; i++) {
        if (lend)
            s[i].g = a->cal[i].g;
        else
            memset(&s[i].g, 0, sizeof s[i].g);
    }
}

/* the candidate modes for the target, about the largest first */
static int candidates(int ios, mk_compress_options *m)
{
    int n = 0;
    mk_compress_options b;
    memset(&b, 0, sizeof b);
    b.min_elements = 1;
    m[n] = b, m[n].mode = MK_CMP_PALETTE, m[n++].bits = 8;
    m[n] = b, m[n].mode = MK_CMP_LINEAR, m[n++].bits = 8;
    m[n] = b, m[n].mode = MK_CMP_PALETTE, m[n++].bits = 6;
    if (ios >= 18)
        m[n] = b, m[n].mode = MK_CMP_LINEAR, m[n].bits = 4, m[n].granularity = 2, m[n++].block = 32;
    m[n] = b, m[n].mode = MK_CMP_PALETTE, m[n++].bits = 4;
    m[n] = b, m[n].mode = MK_CMP_PALETTE, m[n++].bits = 2;
    return n;
}

/* per output sum (y - ref)^2 of p over every run, added into d */
static mk_status noise(autoc *a, const mk_program *p, double *d, mk_err *e)
{
    mk_run_options ro = {0, 0, 1};
    for (int k = 0; k < a->n_runs; k++) {
        mk_tensor_list out = {0, NULL};
        mk_status st = mk_run(p, &ro, &a->runs[k], &out, e);
        if (st) return st;
        for (int j = 0; j < out.n && j < a->n_out; j++) {
            const mk_tensor *x = &a->refo[k].items[j], *y = &out.items[j];
            if (x->dtype != 11 || y->dtype != 11 || x->nbytes != y->nbytes) continue;
            const float *u = x->data, *v = y->data;
            for (size_t i = 0; i < x->nbytes / 4; i++) {
                double t = (double)v[i] - u[i];
                d[j] += isfinite(t) ? t * t : 1e30;
            }
        }
        mk_tensor_list_free(&out);
    }
    return MK_OK;
}

/* bytes and weight error of every site under mode mi (a clone's sites compressed with it);
 * for the reference mode also the sensitivity: ref run with one weight at a time swapped for
 * its reconstruction */
static mk_status measure(autoc *a, int mi, mk_err *e)
{
    mk_program *c = NULL;
    mk_cmp_site *s = NULL, *s0 = NULL;
    int ns = 0, ns0 = 0;
    mk_compress_report r, r0;
    memset(&r, 0, sizeof r);
    memset(&r0, 0, sizeof r0);
    float **rec = mk_calloc(NULL, (size_t)a->ns + 1, sizeof *rec);
    const mk_compress_options **os = mk_calloc(NULL, (size_t)a->ns + 1, sizeof *os);
    mk_status st = rec && os ? mk_program_clone(a->ref, &c, e) : MK_OOM(e);
    if (!st) st = mk_cmp_sites(c, &a->m[mi], &s, &ns, &r, e);
    if (!st) st = mk_cmp_sites((mk_program *)a->ref, &a->m[mi], &s0, &ns0, &r0, e);
    if (!st && (ns != a->ns || ns0 != a->ns))
        st = mk_err_set(e, MK_EINTERNAL, "weight sites differ");
    int meas = a->meas[mi];
    for (int i = 0; !st && i < ns; i++) {
        os[i] = &a->m[mi];
        if (meas && !(rec[i] = mk_malloc(NULL, s[i].n * sizeof(float)))) st = MK_OOM(e);
    }
    lend_gram(a, s, st ? 0 : ns, 1);
    if (!st) st = mk_cmp_apply(c, s, ns, os, meas ? rec : NULL, &r, e);
    lend_gram(a, s, ns, 0);
    for (int i = 0; !st && i < ns; i++) {
        a->bytes[i * a->nm + mi] = r.layers[i].bytes_after;
        a->werr[i * a->nm + mi] = r.layers[i].rel_err;
    }
    for (int i = 0; !st && meas && i < ns; i++) {
        mk_const *k = (mk_const *)s0[i].w->cst;
        const void *keep = k->data;
        void *tmp = rec[i];
        if (s0[i].w->type.dtype == MK_DT_FP16) { /* in place: the fp16 reconstruction */
            uint16_t *h = (uint16_t *)rec[i];
            for (size_t j = 0; j < s0[i].n; j++) h[j] = mk_f32_to_f16(rec[i][j]);
        }
        k->data = tmp;
        double d[MAXO] = {0};
        st = noise(a, a->ref, d, e);
        k->data = keep;
        for (int j = 0; j < a->n_out; j++)
            a->nsr[((size_t)i * a->nm + mi) * MAXO + j] =
                a->sig[j] > 0 ? d[j] / a->sig[j] : d[j] > 0;
    }
    for (int i = 0; rec && i < a->ns; i++)
        if (rec[i]) mk_free(NULL, rec[i], s0 ? s0[i].n * sizeof(float) : 0);
    mk_free(NULL, rec, ((size_t)a->ns + 1) * sizeof *rec);
    mk_free(NULL, os, ((size_t)a->ns + 1) * sizeof *os);
    mk_cmp_sites_free(s, ns);
    mk_cmp_sites_free(s0, ns0);
    mk_compress_report_free(&r);
    mk_compress_report_free(&r0);
    mk_program_free(c);
    return st;
}

/* greedy choice: ch[i] = mode index or -1 (as it is); the predicted worst NSR must stay within
 * bound (bound <= 0: none), stop once the weights' bytes are at most target (0: smallest) */
static size_t choose(const autoc *a, double bound, size_t target, int *ch)
{
    double cur[MAXO] = {0};
    size_t total = 0;
    for (int i = 0; i < a->ns; i++) ch[i] = -1, total += a->orig[i];
    while (!target || total > target) {
        int bi = -1, bm = -1;
        double bscore = -1;
        for (int i = 0; i < a->ns; i++) {
            size_t have = ch[i] < 0 ? a->orig[i] : a->bytes[i * a->nm + ch[i]];
            for (int m = 0; m < a->nm; m++) {
                size_t nb = a->bytes[i * a->nm + m];
                if (nb >= have) continue;
                double worst = 0, grow = 0;
                for (int j = 0; j < a->n_out; j++) {
                    double old = ch[i] < 0 ? 0 : a->nsr[((size_t)i * a->nm + ch[i]) * MAXO + j];
                    double v = cur[j] - old + a->nsr[((size_t)i * a->nm + m) * MAXO + j];
                    worst = fmax(worst, v);
                    grow = fmax(grow, v - cur[j]);
                }
                if (bound > 0 && worst > bound) continue;
                double score = (double)(have - nb) / (grow + 1e-12);
                if (score > bscore) bscore = score, bi = i, bm = m;
            }
        }
        if (bi < 0) break;
        size_t have = ch[bi] < 0 ? a->orig[bi] : a->bytes[bi * a->nm + ch[bi]];
        for (int j = 0; j < a->n_out; j++)
            cur[j] += a->nsr[((size_t)bi * a->nm + bm) * MAXO + j] -
                      (ch[bi] < 0 ? 0 : a->nsr[((size_t)bi * a->nm + ch[bi]) * MAXO + j]);
        total -= have - a->bytes[bi * a->nm + bm];
        ch[bi] = bm;
    }
    return total;
}

/* ref compressed per ch into *out; *ratio: the worst output's error over o's bound on any run
 * (noise-to-signal, from 1/cos^2 - 1 where there is a cosine, else from the SNR; <= 1: met) */
static mk_status build(autoc *a, const mk_compress_options *o, const int *ch, mk_program **out,
                       mk_compress_report *r, double *ratio, mk_err *e)
{
    mk_cmp_site *s = NULL;
    int ns = 0;
    const mk_compress_options **os = mk_calloc(NULL, (size_t)a->ns + 1, sizeof *os);
    mk_status st = os ? mk_program_clone(a->ref, out, e) : MK_OOM(e);
    if (!st) st = mk_cmp_sites(*out, o, &s, &ns, r, e);
    if (!st && ns != a->ns) st = mk_err_set(e, MK_EINTERNAL, "weight sites differ");
    for (int i = 0; !st && i < ns; i++) os[i] = ch[i] < 0 ? NULL : &a->m[ch[i]];
    lend_gram(a, s, st ? 0 : ns, 1);
    if (!st) st = mk_cmp_apply(*out, s, ns, os, NULL, r, e);
    lend_gram(a, s, ns, 0);
    if (!st) st = mk_cmp_finish_program(*out, r, e);
    mk_cmp_sites_free(s, ns);
    mk_free(NULL, os, ((size_t)a->ns + 1) * sizeof *os);
    *ratio = 0;
    for (int k = 0; !st && k < a->n_runs; k++) {
        mk_output_error oe[MAXO];
        int n = 0;
        if ((st = mk_output_errors(a->ref, *out, &a->runs[k], 0, oe, MAXO, &n, e))) break;
        for (int j = 0; j < n; j++) {
            double nsr = isfinite(oe[j].snr_db) ? pow(10, -oe[j].snr_db / 10) : 0;
            if (oe[j].snr_db != oe[j].snr_db) nsr = INFINITY;
            if (o->min_cos > 0) {
                double b = 1 / (o->min_cos * o->min_cos) - 1;
                double v = oe[j].has_cos
                               ? (oe[j].cos > 0 ? 1 / (oe[j].cos * oe[j].cos) - 1 : INFINITY)
                               : nsr;
                *ratio = fmax(*ratio, v / b);
            }
            if (o->min_snr_db > 0) *ratio = fmax(*ratio, nsr / pow(10, -o->min_snr_db / 10));
        }
    }
    if (st) {
        mk_program_free(*out);
        *out = NULL;
        mk_compress_report_free(r);
    }
    return st;
}

static void human(size_t n, char *b, size_t cap)
{
    if (n >= 1000000)
        snprintf(b, cap, "%.2f MB", (double)n / 1e6);
    else
        snprintf(b, cap, "%zu bytes", n);
}

mk_status mk_compress_auto(const mk_program *ref, const mk_compress_options *o,
                           const mk_tensor_list *runs, int n_runs, mk_program **out,
                           mk_compress_report *r, mk_err *e)
{
    autoc a;
    memset(&a, 0, sizeof a);
    memset(r, 0, sizeof r[0]);
    *out = NULL;
    int ios = mk_ir_ios_for_spec(ref->spec_version);
    if (ios < 16)
        return mk_err_set(e, MK_EUNSUPPORTED,
                          "compressed weights need an iOS16 or newer target (this is iOS%d)",
                          ios ? ios : 15);
    if (!(o->min_cos > 0) && !(o->min_snr_db > 0) && !o->target_bytes)
        return mk_err_set(e, MK_EINVAL, "automatic compression needs --max-error or --target-size");
    mk_tensor_list seeded[2];
    memset(seeded, 0, sizeof seeded);
    if (!n_runs) {
        mk_status s0 = mk_calib_seeded(ref, 2, seeded, e);
        if (s0) return s0;
        runs = seeded, n_runs = 2;
    }
    a.ref = ref, a.runs = runs, a.n_runs = n_runs;
    a.nm = candidates(ios, a.m);
    for (int m = 0; m < a.nm; m++)
        a.m[m].min_elements = o->min_elements, a.m[m].n_skip = o->n_skip, a.m[m].skip = o->skip,
        a.m[m].embedding = o->embedding;
    mk_cmp_site *s = NULL;
    mk_compress_report r0;
    memset(&r0, 0, sizeof r0);
    mk_status st = mk_cmp_sites((mk_program *)ref, o, &s, &a.ns, &r0, e);
    size_t fixed = r0.const_bytes_before;
    a.refo = mk_calloc(NULL, (size_t)n_runs + 1, sizeof *a.refo);
    a.bytes = mk_calloc(NULL, (size_t)a.ns * MAXM + 1, sizeof *a.bytes);
    a.nsr = mk_calloc(NULL, ((size_t)a.ns * MAXM + 1) * MAXO, sizeof *a.nsr);
    a.orig = mk_calloc(NULL, (size_t)a.ns + 1, sizeof *a.orig);
    a.werr = mk_calloc(NULL, (size_t)a.ns * MAXM + 1, sizeof *a.werr);
    int *ch = mk_calloc(NULL, (size_t)a.ns + 1, sizeof *ch);
    if (!a.refo || !a.bytes || !a.nsr || !a.orig || !a.werr || !ch) st = MK_OOM(e);
    for (int i = 0; !st && i < a.ns; i++) {
        a.orig[i] = s[i].n * (s[i].w->type.dtype == MK_DT_FP16 ? 2 : 4);
        fixed -= a.orig[i];
    }
    mk_run_options ro = {0, 0, 1};
    for (int k = 0; !st && k < n_runs; k++) {
        if ((st = mk_run(ref, &ro, &runs[k], &a.refo[k], e))) break;
        a.n_out = a.refo[k].n < MAXO ? a.refo[k].n : MAXO;
        for (int j = 0; j < a.n_out; j++) {
            const mk_tensor *x = &a.refo[k].items[j];
            for (size_t i = 0; x->dtype == 11 && i < x->nbytes / 4; i++)
                a.sig[j] += (double)((float *)x->data)[i] * ((float *)x->data)[i];
        }
    }
    /* the 4-bit and 2-bit candidates round with error compensation, as the uniform modes do:
     * the Gram matrices from the same runs (not the k-means activation weights: every mode's
     * LUTs stay as they were) */
    if (!st && a.ns > 0 && (st = mk_cmp_calibrate(ref, o, s, a.ns, runs, n_runs, 1, e)) == MK_OK)
        a.cal = s;
    for (int i = 0; !st && runs != seeded && i < a.ns; i++) /* LUT refit: samples only */
        s[i].g.fit = 1;
    for (int i = 0; !st && i < a.ns; i++)
        if (s[i].m2) mk_free(NULL, s[i].m2, s[i].m2n * sizeof(double)), s[i].m2 = NULL;
    for (int m = 0; !st && m < a.nm; m++)
        a.meas[m] = a.m[m].mode == MK_CMP_PALETTE && (a.m[m].bits == 4 || a.m[m].bits == 6);
    for (int m = 0; !st && m < a.nm; m++) st = measure(&a, m, e);
    /* noise grows with the weight's squared error: scaled from the measured mode whose weight
     * error is nearest */
    for (int i = 0; !st && i < a.ns; i++)
        for (int m = 0; m < a.nm; m++) {
            if (a.meas[m]) continue;
            int rm = -1;
            double w1 = a.werr[i * a.nm + m], best = INFINITY;
            for (int k = 0; k < a.nm; k++) {
                double w0 = a.werr[i * a.nm + k];
                if (a.meas[k] && w0 > 0 && w1 > 0 && fabs(log(w1 / w0)) < best)
                    best = fabs(log(w1 / w0)), rm = k;
            }
            for (int j = 0; j < a.n_out; j++) {
                double w0 = rm < 0 ? 0 : a.werr[i * a.nm + rm];
                a.nsr[((size_t)i * a.nm + m) * MAXO + j] =
                    w0 > 0 ? a.nsr[((size_t)i * a.nm + rm) * MAXO + j] * (w1 * w1) / (w0 * w0) : 0;
            }
        }
    size_t target = o->target_bytes ? (o->target_bytes > fixed ? o->target_bytes - fixed : 1) : 0;
    double bound = 0;
    if (o->min_cos > 0) bound = 1 / (o->min_cos * o->min_cos) - 1;
    if (o->min_snr_db > 0) {
        double b2 = pow(10, -o->min_snr_db / 10);
        bound = bound > 0 ? fmin(bound, b2) : b2;
    }
    char b1[32], b2[32];
    if (!st && o->target_bytes) { /* the smallest reachable at all */
        size_t least = 0;
        for (int i = 0; i < a.ns; i++) {
            size_t m = a.orig[i];
            for (int k = 0; k < a.nm; k++)
                if (a.bytes[i * a.nm + k] < m) m = a.bytes[i * a.nm + k];
            least += m;
        }
        if (least > target) {
            human(o->target_bytes, b1, sizeof b1);
            human(least + fixed, b2, sizeof b2);
            st = mk_err_set(e, MK_EINVAL,
                            "--target-size %s is below the smallest reachable size, %s", b1, b2);
        }
    }
    /* the prediction is corrected by what the check measures: a choice that passes with room
     * to spare is redone with a looser effective bound, one that fails with a tighter one; the
     * smallest passing program is kept */
    int ok = 0;
    double eff = bound;
    mk_program *q = NULL;
    mk_compress_report qr;
    memset(&qr, 0, sizeof qr);
    for (int t = 0; !st && t < TRIES; t++) {
        size_t total = choose(&a, eff, target, ch);
        if (target && total > target) {
            if (ok) break;
            human(o->target_bytes, b1, sizeof b1);
            human(total + fixed, b2, sizeof b2);
            st = mk_err_set(e, MK_EINVAL,
                            "--target-size %s cannot be met within --max-error (smallest: %s)", b1,
                            b2);
            break;
        }
        double ratio = 0;
        if ((st = build(&a, o, ch, &q, &qr, &ratio, e))) break;
        int pass = bound <= 0 || ratio <= 1;
        if (pass && (!ok || qr.const_bytes_after < r->const_bytes_after)) {
            mk_program_free(*out);
            mk_compress_report_free(r);
            *out = q, *r = qr, ok = 1;
        } else {
            mk_program_free(q);
            mk_compress_report_free(&qr);
        }
        q = NULL;
        memset(&qr, 0, sizeof qr);
        if (bound <= 0 || (pass && ratio > 0.9)) break;
        eff *= ratio > 0 ? fmin(4, fmax(0.25, (pass ? 1 : 0.8) / ratio)) : 4;
    }
    if (!st && !ok)
        st = mk_err_set(e, MK_EINVAL, "no choice of modes met --max-error on the inputs");
    if (st) {
        mk_program_free(*out);
        *out = NULL;
        mk_compress_report_free(r);
    }
    for (int k = 0; a.refo && k < n_runs; k++) mk_tensor_list_free(&a.refo[k]);
    mk_free(NULL, a.refo, ((size_t)n_runs + 1) * sizeof *a.refo);
    mk_free(NULL, a.bytes, ((size_t)a.ns * MAXM + 1) * sizeof *a.bytes);
    mk_free(NULL, a.nsr, ((size_t)a.ns * MAXM + 1) * MAXO * sizeof *a.nsr);
    mk_free(NULL, a.orig, ((size_t)a.ns + 1) * sizeof *a.orig);
    mk_free(NULL, a.werr, ((size_t)a.ns * MAXM + 1) * sizeof *a.werr);
    mk_free(NULL, ch, ((size_t)a.ns + 1) * sizeof *ch);
    mk_cmp_sites_free(s, a.ns);
    mk_compress_report_free(&r0);
    for (int k = 0; k < 2; k++) mk_tensor_list_free(&seeded[k]);
    return st;
}
