/* Activation statistics for the palettes' weighted k-means and the error-compensating
 * rounding: the program runs on the calibration inputs with the input activation of every
 * linear, matmul and (ungrouped) conv weight site as an extra output, and each site gets the
 * mean square of that activation per input channel (site.m2; the output error of a weight
 * element grows with it) and, when the mode rounds with compensation, the Gram matrix of the
 * vectors the weight's rows multiply (site.g; for conv, sampled im2col patches); byte-identical
 * weights share theirs. */
#include <math.h>
#include <string.h>

#include "base/base.h"
#include "passes/compress_int.h"

/* the activation multiplying site s's weight and the axis of its input channels, or NULL */
static mk_value *act_of(const mk_cmp_site *s, int *ax)
{
    const mk_op *op = s->op;
    mk_value *x = mk_ir_arg(op, "x");
    if (!x || (x->type.dtype != MK_DT_FP32 && x->type.dtype != MK_DT_FP16) || x->cst ||
        x->type.rank < 1)
        return NULL;
    int r = x->type.rank;
    if (op->kind == MK_OP_LINEAR) {
        *ax = r - 1;
        return x;
    }
    if (op->kind == MK_OP_MATMUL) {
        mk_value *tx = mk_ir_arg(op, "transpose_x");
        int tr = tx && tx->cst && mk_const_get_i64(tx, 0);
        if (tr && r < 2) return NULL;
        *ax = r - (tr ? 2 : 1);
        return x;
    }
    int32_t g = 1;
    if (op->kind != MK_OP_CONV || r < 3 ||
        (mk_ir_arg(op, "groups") && (!mk_ir_arg_i32(op, "groups", &g) || g != 1)))
        return NULL;
    *ax = 1;
    return x;
}

/* adds t's squares per index along ax into m (length t->dims[ax]) */
static void accumulate(const mk_tensor *t, int ax, double *m)
{
    size_t inner = 1, len = (size_t)t->dims[ax], n = t->nbytes / (t->dtype == MK_DT_FP16 ? 2 : 4);
    for (int a = ax + 1; a < t->rank; a++) inner *= (size_t)t->dims[a];
    for (size_t i = 0; i < n; i++) {
        double v = t->dtype == MK_DT_FP16 ? mk_f16_to_f32(((const uint16_t *)t->data)[i])
                                          : ((const float *)t->data)[i];
        if (isfinite(v)) m[(i / inner) % len] += v * v;
    }
}

/* how the vectors a weight's rows multiply come out of its input activation */
typedef struct geo {
    int conv, ns;
    int64_t k[3], s[3], dl[3], pb[3], o[3];
} geo;

/* at most this many vectors per run and site go into the Gram matrix (evenly spread) */
#define NVEC 512

static int conv_geo(const mk_op *op, const mk_value *x, const mk_value *w, geo *g)
{
    const mk_value *y = op->n_outputs ? op->outputs[0] : NULL;
    int ns = x->type.rank - 2, n = 0;
    if (ns < 1 || ns > 3 || w->type.rank != ns + 2 || !y || y->type.rank != ns + 2 ||
        !mk_type_is_static(&y->type) || !mk_type_is_static(&x->type))
        return 0;
    int64_t st[3] = {1, 1, 1}, dl[3] = {1, 1, 1}, pad[6] = {0};
    if (mk_ir_arg(op, "strides") && (!mk_ir_arg_i64s(op, "strides", st, 3, &n) || n != ns))
        return 0;
    if (mk_ir_arg(op, "dilations") && (!mk_ir_arg_i64s(op, "dilations", dl, 3, &n) || n != ns))
        return 0;
    const char *pt = mk_ir_arg_str(op, "pad_type");
    int np = 0;
    if (mk_ir_arg(op, "pad") && !mk_ir_arg_i64s(op, "pad", pad, 6, &np)) return 0;
    g->conv = 1, g->ns = ns;
    for (int i = 0; i < ns; i++) {
        g->k[i] = w->type.dims[2 + i], g->s[i] = st[i], g->dl[i] = dl[i];
        g->o[i] = y->type.dims[2 + i];
        int64_t total = (g->o[i] - 1) * st[i] + (g->k[i] - 1) * dl[i] + 1 - x->type.dims[2 + i];
        if (total < 0) total = 0;
        g->pb[i] = !pt || !strcmp(pt, "valid") ? 0
                   : !strcmp(pt, "custom")     ? (np == 2 * ns ? pad[2 * i] : 0)
                   : !strcmp(pt, "same")       ? total / 2
                                               : (total + 1) / 2;
        if (st[i] < 1 || dl[i] < 1) return 0;
    }
    return 1;
}

static double elem(const mk_tensor *t, size_t i)
{
    double v = t->dtype == MK_DT_FP16 ? mk_f16_to_f32(((const uint16_t *)t->data)[i])
                                      : ((const float *)t->data)[i];
    return isfinite(v) ? v : 0;
}

/* adds up to NVEC vectors of t (the input of a site with geometry g, channel axis ax) to the
 * Gram matrix h; v holds h->d doubles */
static void gram_from(const mk_tensor *t, int ax, const geo *g, mk_cmp_gram *h, double *v)
{
    size_t d = h->d, len = (size_t)t->dims[ax], inner = 1, total = 1, numel = 1;
    for (int a = 0; a < t->rank; a++) numel *= (size_t)t->dims[a];
    for (int a = ax + 1; a < t->rank; a++) inner *= (size_t)t->dims[a];
    if (g->conv) {
        total = (size_t)t->dims[0];
        for (int i = 0; i < g->ns; i++) total *= (size_t)g->o[i];
    } else {
        total = numel / len;
    }
    size_t nv = total < NVEC ? total : NVEC;
    for (size_t k = 0; k < nv; k++) {
        size_t p = k * total / nv;
        if (!g->conv) {
            size_t ou = p / inner, in = p % inner;
            for (size_t f = 0; f < len && f < d; f++) v[f] = elem(t, (ou * len + f) * inner + in);
        } else {
            int64_t pos[3] = {0, 0, 0};
            size_t q = p, kn = 1;
            for (int i = g->ns - 1; i >= 0; i--)
                pos[i] = (int64_t)(q % (size_t)g->o[i]), q /= (size_t)g->o[i];
            for (int i = 0; i < g->ns; i++) kn *= (size_t)g->k[i];
            size_t plane = inner, base = q * len * plane;
            for (size_t c = 0; c < len; c++)
                for (size_t kk = 0; kk < kn; kk++) {
                    size_t r = kk, at = 0;
                    int in = 1;
                    for (int i = g->ns - 1; i >= 0; i--) {
                        int64_t ki = (int64_t)(r % (size_t)g->k[i]);
                        r /= (size_t)g->k[i];
                        int64_t xi = pos[i] * g->s[i] + ki * g->dl[i] - g->pb[i];
                        in &= xi >= 0 && xi < t->dims[2 + i];
                        size_t stride = 1;
                        for (int j = i + 1; j < g->ns; j++) stride *= (size_t)t->dims[2 + j];
                        at += (size_t)(xi < 0 ? 0 : xi) * stride;
                    }
                    v[c * kn + kk] = in ? elem(t, base + c * plane + at) : 0;
                }
        }
        mk_cmp_gram_add(h, v);
    }
}

static int same_weight(const mk_cmp_site *a, const mk_cmp_site *b)
{
    const mk_type *x = &a->w->type, *y = &b->w->type;
    if (!b->m2 || a->m2n != b->m2n || a->in_ax != b->in_ax || a->out_ax != b->out_ax ||
        x->dtype != y->dtype || x->rank != y->rank || a->w->cst->nbytes != b->w->cst->nbytes)
        return 0;
    for (int d = 0; d < x->rank; d++)
        if (x->dims[d] != y->dims[d]) return 0;
    return a->w->cst->data == b->w->cst->data ||
           !memcmp(a->w->cst->data, b->w->cst->data, a->w->cst->nbytes);
}

mk_status mk_cmp_calibrate(const mk_program *p, const mk_compress_options *o, mk_cmp_site *s,
                           int ns, const mk_tensor_list *runs, int n_runs, int gram, mk_err *e)
{
    geo *gs = mk_calloc(NULL, (size_t)ns + 1, sizeof *gs);
    double *v = NULL;
    size_t vn = 0;
    mk_program *c = NULL;
    mk_cmp_site *cs = NULL;
    int ncs = 0, nx = 0;
    mk_compress_report r;
    memset(&r, 0, sizeof r);
    int *ax = mk_calloc(NULL, (size_t)ns + 1, sizeof *ax);
    int *col = mk_calloc(NULL, (size_t)ns + 1, sizeof *col);
    mk_status st = ax && col && gs ? mk_program_clone(p, &c, e) : MK_OOM(e);
    if (!st) st = mk_cmp_sites(c, o, &cs, &ncs, &r, e);
    if (!st && ncs != ns) st = mk_err_set(e, MK_EINTERNAL, "weight sites differ");
    mk_block *b = st ? NULL : mk_ir_main(c)->block;
    int n0 = b ? b->n_outputs : 0;
    mk_value **outs = b ? mk_calloc(NULL, (size_t)(n0 + ns + 1), sizeof *outs) : NULL;
    if (!st && !outs) st = MK_OOM(e);
    for (int i = 0; !st && i < ns; i++) {
        int a = 0;
        mk_value *x = act_of(&cs[i], &a);
        col[i] = -1;
        s[i].m2 = NULL;
        if (!x || s[i].w->type.dims[s[i].in_ax] != x->type.dims[a]) continue;
        if (!(s[i].m2 = mk_calloc(NULL, (size_t)x->type.dims[a], sizeof(double)))) {
            st = MK_OOM(e);
            break;
        }
        s[i].m2n = (size_t)x->type.dims[a];
        ax[i] = a, col[i] = n0 + nx;
        size_t rows, d;
        int tr;
        if (gram && mk_cmp_rows(s[i].w, s[i].out_ax, s[i].in_ax, &rows, &d, &tr) &&
            (cs[i].op->kind == MK_OP_CONV ? conv_geo(cs[i].op, x, cs[i].w, &gs[i])
                                          : d == s[i].m2n)) {
            if (!mk_cmp_gram_init(&s[i].g, d)) {
                st = MK_OOM(e);
                break;
            }
            if (d > vn) vn = d;
        }
        outs[n0 + nx++] = x;
    }
    if (!st && nx) {
        memcpy(outs, b->outputs, (size_t)n0 * sizeof *outs);
        if (!mk_ir_block_set_outputs(c, b, n0 + nx, outs)) st = MK_OOM(e);
    }
    if (!st && vn && !(v = mk_malloc(NULL, vn * sizeof *v))) st = MK_OOM(e);
    mk_run_options ro = {0, 0, 1};
    for (int k = 0; !st && nx && k < n_runs; k++) {
        mk_tensor_list out = {0, NULL};
        if ((st = mk_run(c, &ro, &runs[k], &out, e))) break;
        for (int i = 0; i < ns; i++)
            if (col[i] >= 0 && col[i] < out.n && out.items[col[i]].rank > ax[i] &&
                (size_t)out.items[col[i]].dims[ax[i]] == s[i].m2n) {
                accumulate(&out.items[col[i]], ax[i], s[i].m2);
                if (s[i].g.h) gram_from(&out.items[col[i]], ax[i], &gs[i], &s[i].g, v);
            }
        mk_tensor_list_free(&out);
    }
    /* byte-identical weights (a layer exported twice) share their statistics, so that they
     * keep one palette and the writer keeps storing them once */
    int *rep = st ? NULL : mk_calloc(NULL, (size_t)ns + 1, sizeof *rep);
    if (!st && !rep) st = MK_OOM(e);
    for (int i = 0; !st && i < ns; i++) {
        rep[i] = i;
        for (int j = 0; j < i && s[i].m2 && rep[i] == i; j++)
            if (rep[j] == j && same_weight(&s[i], &s[j])) rep[i] = j;
        if (rep[i] != i) {
            for (size_t c2 = 0; c2 < s[i].m2n; c2++) s[rep[i]].m2[c2] += s[i].m2[c2];
            mk_cmp_gram *a = &s[rep[i]].g, *b2 = &s[i].g;
            for (size_t c2 = 0; a->h && b2->h && a->nh == b2->nh && c2 < a->nh; c2++)
                a->h[c2] += b2->h[c2];
        }
    }
    for (int i = 0; !st && i < ns; i++)
        if (rep[i] != i) {
            memcpy(s[i].m2, s[rep[i]].m2, s[i].m2n * sizeof(double));
            if (s[i].g.h && s[rep[i]].g.h && s[i].g.nh == s[rep[i]].g.nh)
                memcpy(s[i].g.h, s[rep[i]].g.h, s[i].g.nh * sizeof(double));
            else
                mk_cmp_gram_free(&s[i].g), mk_cmp_gram_free(&s[rep[i]].g);
        }
    if (rep) mk_free(NULL, rep, ((size_t)ns + 1) * sizeof *rep);
    if (st) mk_cmp_calib_free(s, ns);
    mk_free(NULL, outs, (size_t)(n0 + ns + 1) * sizeof *outs);
    mk_free(NULL, ax, ((size_t)ns + 1) * sizeof *ax);
    mk_free(NULL, col, ((size_t)ns + 1) * sizeof *col);
    mk_free(NULL, gs, ((size_t)ns + 1) * sizeof *gs);
    if (v) mk_free(NULL, v, vn * sizeof *v);
    mk_cmp_sites_free(cs, ncs);
    mk_compress_report_free(&r);
    mk_program_free(c);
    return st;
}

void mk_cmp_calib_free(mk_cmp_site *s, int ns)
{
    for (int i = 0; i < ns; i++) {
        if (s[i].m2) mk_free(NULL, s[i].m2, s[i].m2n * sizeof(double));
        s[i].m2 = NULL, s[i].m2n = 0;
        mk_cmp_gram_free(&s[i].g);
    }
}
