/* Activation statistics for the palettes' weighted k-means: the program runs on the
 * calibration inputs with the input activation of every linear, matmul and (ungrouped) conv
 * weight site as an extra output, and each site gets the mean square of that activation per
 * input channel (site.m2; the output error of a weight element grows with it); byte-identical
 * weights share theirs. */
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
                           int ns, const mk_tensor_list *runs, int n_runs, mk_err *e)
{
    mk_program *c = NULL;
    mk_cmp_site *cs = NULL;
    int ncs = 0, nx = 0;
    mk_compress_report r;
    memset(&r, 0, sizeof r);
    int *ax = mk_calloc(NULL, (size_t)ns + 1, sizeof *ax);
    int *col = mk_calloc(NULL, (size_t)ns + 1, sizeof *col);
    mk_status st = ax && col ? mk_program_clone(p, &c, e) : MK_OOM(e);
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
        outs[n0 + nx++] = x;
    }
    if (!st && nx) {
        memcpy(outs, b->outputs, (size_t)n0 * sizeof *outs);
        if (!mk_ir_block_set_outputs(c, b, n0 + nx, outs)) st = MK_OOM(e);
    }
    mk_run_options ro = {0, 0, 1};
    for (int k = 0; !st && nx && k < n_runs; k++) {
        mk_tensor_list out = {0, NULL};
        if ((st = mk_run(c, &ro, &runs[k], &out, e))) break;
        for (int i = 0; i < ns; i++)
            if (col[i] >= 0 && col[i] < out.n && out.items[col[i]].rank > ax[i] &&
                (size_t)out.items[col[i]].dims[ax[i]] == s[i].m2n)
                accumulate(&out.items[col[i]], ax[i], s[i].m2);
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
        if (rep[i] != i)
            for (size_t c2 = 0; c2 < s[i].m2n; c2++) s[rep[i]].m2[c2] += s[i].m2[c2];
    }
    for (int i = 0; !st && i < ns; i++)
        if (rep[i] != i) memcpy(s[i].m2, s[rep[i]].m2, s[i].m2n * sizeof(double));
    if (rep) mk_free(NULL, rep, ((size_t)ns + 1) * sizeof *rep);
    if (st) mk_cmp_calib_free(s, ns);
    mk_free(NULL, outs, (size_t)(n0 + ns + 1) * sizeof *outs);
    mk_free(NULL, ax, ((size_t)ns + 1) * sizeof *ax);
    mk_free(NULL, col, ((size_t)ns + 1) * sizeof *col);
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
    }
}
