/* `milkit compress`: picks the weights to compress (every constant float weight of linear,
 * matmul, conv, conv_transpose, lstm/gru/rnn, and gather tables when asked; at least
 * min_elements; not skipped by name), checks the options against the target, runs one
 * compressor per weight (src/passes/compress_*.c) and reports bytes and weight-space error;
 * mk_compress_output_error compares two programs' outputs on the same inputs. */
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "passes/compress_int.h"
#include "api_int.h"
#include "passes/passes_int.h"

typedef struct site {
    mk_op_kind k;
    const char *param;
    int out_ax, in_ax;
} site;

static const site sites[] = {
    {MK_OP_LINEAR, "weight", 0, 1},
    {MK_OP_CONV, "weight", 0, 1},
    {MK_OP_CONV_TRANSPOSE, "weight", 1, 0},
    {MK_OP_LSTM, "weight_ih", 0, 1},
    {MK_OP_LSTM, "weight_hh", 0, 1},
    {MK_OP_LSTM, "weight_ih_back", 0, 1},
    {MK_OP_LSTM, "weight_hh_back", 0, 1},
    {MK_OP_GRU, "weight_ih", 0, 1},
    {MK_OP_GRU, "weight_hh", 0, 1},
    {MK_OP_RNN, "weight_ih", 0, 1},
    {MK_OP_RNN, "weight_hh", 0, 1},
    {MK_OP_MATMUL, "y", -1, -1},
    {MK_OP_GATHER, "x", 0, 1},
};

static size_t const_bytes(const mk_block *b)
{
    size_t s = 0;
    MK_FOR_OPS(b, op)
    {
        if (op->kind == MK_OP_CONST && op->n_outputs && op->outputs[0]->cst)
            s += op->outputs[0]->cst->nbytes;
        for (int i = 0; i < op->n_attrs; i++)
            if (op->attrs[i].value->cst && op->kind != MK_OP_CONST)
                s += op->attrs[i].value->cst->nbytes;
        for (int i = 0; i < op->n_inputs; i++)
            for (int j = 0; j < op->inputs[i].n_args; j++) {
                const mk_value *v = op->inputs[i].args[j];
                if (!v->producer && v->cst) s += v->cst->nbytes;
            }
        for (int i = 0; i < op->n_blocks; i++) s += const_bytes(op->blocks[i]);
    }
    return s;
}

static mk_status check_options(const mk_compress_options *o, int ios, mk_err *e)
{
    if (ios < 16)
        return mk_err_set(e, MK_EUNSUPPORTED,
                          "compressed weights need an iOS16 or newer target (this is iOS%d)",
                          ios ? ios : 15);
    switch (o->mode) {
    case MK_CMP_LINEAR:
        if (o->bits != 8 && o->bits != 4)
            return mk_err_set(e, MK_EINVAL, "linear quantization takes 8 or 4 bits, not %d",
                              o->bits);
        if (ios < 18 && o->bits == 4)
            return mk_err_set(e, MK_EUNSUPPORTED,
                              "int4 needs iOS18 (constexpr_blockwise_shift_scale); iOS%d has "
                              "only constexpr_affine_dequantize, int8",
                              ios);
        if (ios < 18 && o->granularity == 2)
            return mk_err_set(e, MK_EUNSUPPORTED,
                              "per-block quantization needs iOS18; iOS%d's "
                              "constexpr_affine_dequantize is per tensor or per channel",
                              ios);
        if (o->granularity == 2 && o->block < 1)
            return mk_err_set(e, MK_EINVAL, "block size must be at least 1");
        break;
    case MK_CMP_PALETTE:
        if (o->bits < 1 || o->bits > 8 || o->bits == 5 || o->bits == 7)
            return mk_err_set(e, MK_EINVAL, "palettization takes 1, 2, 3, 4, 6 or 8 bits, not %d",
                              o->bits);
        if (ios < 18 && o->bits == 3)
            return mk_err_set(e, MK_EUNSUPPORTED,
                              "3-bit palettes need iOS18; iOS%d's constexpr_lut_to_dense takes "
                              "1, 2, 4, 6 or 8 bits",
                              ios);
        if (ios < 18 && o->granularity == 2)
            return mk_err_set(e, MK_EUNSUPPORTED,
                              "a LUT per channel group needs iOS18; iOS%d has one LUT per tensor",
                              ios);
        if (o->granularity == 2 && o->group < 1)
            return mk_err_set(e, MK_EINVAL, "group size must be at least 1");
        break;
    case MK_CMP_SPARSE:
        if (!(o->sparsity > 0 && o->sparsity < 1))
            return mk_err_set(e, MK_EINVAL, "sparsity must be a fraction between 0 and 1");
        if (o->bits && ios < 18)
            return mk_err_set(e, MK_EUNSUPPORTED,
                              "sparse + palettized weights need iOS18 "
                              "(constexpr_lut_to_sparse); iOS%d has one or the other",
                              ios);
        if (o->bits && (o->bits < 1 || o->bits > 8 || o->bits == 5 || o->bits == 7))
            return mk_err_set(e, MK_EINVAL, "palettization takes 1, 2, 3, 4, 6 or 8 bits, not %d",
                              o->bits);
        if (o->bits && o->granularity == 2 && o->group < 1)
            return mk_err_set(e, MK_EINVAL, "group size must be at least 1");
        break;
    default: return mk_err_set(e, MK_EINVAL, "no compression mode given");
    }
    return MK_OK;
}

static int skipped(const mk_compress_options *o, const mk_op *op, const mk_value *w)
{
    for (int i = 0; i < o->n_skip; i++)
        if ((w->name && !strcmp(w->name, o->skip[i])) ||
            (op->name && !strcmp(op->name, o->skip[i])))
            return 1;
    return 0;
}

static void mode_name(const mk_compress_options *o, const mk_cw *c, char *buf, size_t n)
{
    char gb[48] = "per tensor";
    if (o->granularity == 2)
        snprintf(gb, sizeof gb, "%s %d", o->mode == MK_CMP_LINEAR ? "block" : "group",
                 o->mode == MK_CMP_LINEAR ? o->block : o->group);
    else if (o->mode == MK_CMP_LINEAR && o->granularity == 0)
        snprintf(gb, sizeof gb, "per channel");
    const char *km = o->uniform ? "uniform" : "kmeans";
    if (o->mode == MK_CMP_LINEAR)
        snprintf(buf, n, "int%d %s%s", o->bits, gb, o->zero_point ? " +offset" : "");
    else if (o->mode == MK_CMP_PALETTE)
        snprintf(buf, n, "lut%d %s %s%s", o->bits, km, gb, c->scf ? " +channel scale" : "");
    else if (o->bits)
        snprintf(buf, n, "sparse %.0f%% + lut%d %s %s", o->sparsity * 100, o->bits, km, gb);
    else
        snprintf(buf, n, "sparse %.0f%%", o->sparsity * 100);
    size_t k = strlen(buf);
    if (c->note[0] && k + 2 < n) snprintf(buf + k, n - k, "; %s", c->note);
}

static mk_status grow(mk_compress_layer **l, int n, int *cap, mk_err *e)
{
    if (n < *cap) return MK_OK;
    int nc = *cap ? *cap * 2 : 16;
    mk_compress_layer *nl = mk_malloc(NULL, (size_t)nc * sizeof *nl);
    if (!nl) return MK_OOM(e);
    if (n) memcpy(nl, *l, (size_t)n * sizeof *nl);
    mk_free(NULL, *l, (size_t)*cap * sizeof *nl);
    *l = nl;
    *cap = nc;
    return MK_OK;
}

/* A weight left as it is, and why (the report lists it: nothing stays fp32 silently). */
static mk_status keep(mk_compress_report *r, const mk_op *op, const mk_value *w, size_t n,
                      const char *why, mk_err *e)
{
    if (grow(&r->kept, r->n_kept, &r->cap_kept, e)) return e->code;
    mk_compress_layer *l = &r->kept[r->n_kept++];
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "%s", w->name ? w->name : "?");
    snprintf(l->op, sizeof l->op, "%s", mk_ir_op_info(op->kind)->name);
    snprintf(l->mode, sizeof l->mode, "%s", why);
    l->elements = n;
    l->bytes_before = l->bytes_after = n * (w->type.dtype == MK_DT_FP16 ? 2 : 4);
    return MK_OK;
}

/* Every weight site of the main block: compressible ones into s (deduplicated), the others
 * that a mode could take into r->kept with the reason. */
static mk_status collect(mk_program *p, const mk_compress_options *o, mk_cmp_site **s, int *ns,
                         mk_compress_report *r, mk_err *e)
{
    mk_block *b = mk_ir_main(p)->block;
    /* default: more than 2048 elements, as coremltools' weight_threshold (size > 2048) */
    size_t minel = o->min_elements ? o->min_elements : 2049;
    int cap = 0;
    *ns = 0;
    *s = NULL;
    MK_FOR_OPS(b, op)
    {
        for (size_t k = 0; k < sizeof sites / sizeof sites[0]; k++) {
            if (sites[k].k != op->kind || (op->kind == MK_OP_GATHER && !o->embedding)) continue;
            mk_value *w = mk_ir_arg(op, sites[k].param);
            size_t n = 0;
            if (!w || (w->type.dtype != MK_DT_FP32 && w->type.dtype != MK_DT_FP16) ||
                !mk_type_is_static(&w->type) || !mk_type_numel(&w->type, &n))
                continue;
            int dup = 0;
            for (int i = 0; i < *ns; i++) dup |= (*s)[i].w == w;
            if (dup) continue;
            const char *why = NULL;
            if (!w->cst || !w->cst->data || !w->producer || w->producer->kind != MK_OP_CONST)
                why = "kept: not a constant";
            else if (w->type.rank < 2)
                why = "kept: rank below 2";
            else if (n < minel)
                why = "kept: below --min-elements";
            else if (skipped(o, op, w))
                why = "kept: --skip";
            if (why) {
                if (w->cst && keep(r, op, w, n, why, e)) return e->code;
                continue;
            }
            if (*ns == cap) {
                int nc = cap ? cap * 2 : 16;
                mk_cmp_site *t = mk_malloc(NULL, (size_t)nc * sizeof *t);
                if (!t) return MK_OOM(e);
                if (*ns) memcpy(t, *s, (size_t)*ns * sizeof *t);
                mk_free(NULL, *s, (size_t)cap * sizeof *t);
                *s = t;
                cap = nc;
            }
            mk_cmp_site *c = &(*s)[(*ns)++];
            memset(c, 0, sizeof *c);
            c->op = op, c->w = w, c->n = n;
            c->out_ax = sites[k].out_ax, c->in_ax = sites[k].in_ax;
            if (op->kind == MK_OP_MATMUL) { /* y [.., K, N], or [.., N, K] when transposed */
                mk_value *ty = mk_ir_arg(op, "transpose_y");
                int tr = ty && ty->cst && mk_const_get_i64(ty, 0);
                c->out_ax = w->type.rank - (tr ? 2 : 1);
                c->in_ax = w->type.rank - (tr ? 1 : 2);
            }
        }
    }
    return MK_OK;
}

void mk_cmp_sites_free(mk_cmp_site *s, int n)
{
    if (s) mk_cmp_calib_free(s, n);
    mk_free(NULL, s, (size_t)(n ? n : 1) * sizeof *s);
}

typedef struct pjob {
    mk_cw *cw;
    const mk_compress_options *const *o;
    int n, next, failed;
} pjob;

static void *pworker(void *arg)
{
    pjob *j = arg;
    for (;;) {
        int i = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED);
        if (i >= j->n) break;
        if (j->o[i] && j->o[i]->mode == MK_CMP_PALETTE &&
            !mk_cmp_palette_compute(&j->cw[i], j->o[i]))
            __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

/* The palettes of every site, on two threads when the allocator is the (thread-safe)
 * default; each site's result depends on its weight only. */
static int palettes(mk_program *p, mk_cw *cw, const mk_compress_options *const *o, int n)
{
    pjob j = {cw, o, n, 0, 0};
    pthread_t t;
    int threaded = n > 1 && (!p->alloc || p->alloc == mk_alloc_default()) &&
                   sysconf(_SC_NPROCESSORS_ONLN) > 1 && !pthread_create(&t, NULL, pworker, &j);
    pworker(&j);
    if (threaded) pthread_join(t, NULL);
    return !j.failed;
}

mk_status mk_cmp_apply(mk_program *p, const mk_cmp_site *s, int ns,
                       const mk_compress_options *const *o, float *const *rec,
                       mk_compress_report *r, mk_err *e)
{
    int ios = mk_ir_ios_for_spec(p->spec_version);
    mk_block *b = mk_ir_main(p)->block;
    mk_status st = MK_OK;
    mk_cw *cw = mk_calloc(NULL, (size_t)(ns ? ns : 1), sizeof *cw);
    if (!cw) return MK_OOM(e);
    for (int i = 0; i < ns && !st; i++) {
        mk_cw *c = &cw[i];
        c->p = p, c->w = s[i].w, c->out_ax = s[i].out_ax, c->in_ax = s[i].in_ax, c->ios = ios;
        c->n = s[i].n, c->rec = rec ? rec[i] : NULL, c->m2 = s[i].m2;
        /* the Gram matrix only for the modes that round with compensation (mixed modes) */
        c->g = s[i].g.h && o[i] && mk_cmp_wants_gram(o[i]) ? &s[i].g : NULL;
        if (o[i] && o[i]->mode == MK_CMP_PALETTE && !mk_cmp_palette_prep(c, o[i])) st = MK_OOM(e);
    }
    if (!st && !palettes(p, cw, o, ns)) st = MK_OOM(e);
    for (int i = 0; i < ns && !st; i++) {
        if (!o[i]) continue;
        mk_cw *c = &cw[i];
        mk_value *w = s[i].w;
        mk_value *nv = o[i]->mode == MK_CMP_LINEAR    ? mk_cmp_linear(c, o[i], e)
                       : o[i]->mode == MK_CMP_PALETTE ? mk_cmp_palette_build(c, o[i], e)
                                                      : mk_cmp_sparse(c, o[i], e);
        if (!nv || (st = grow(&r->layers, r->n, &r->cap, e))) {
            if (!st) st = e->code ? e->code : MK_EINTERNAL;
            mk_err_prefix(e, "weight %s: ", w->name ? w->name : "?");
            break;
        }
        if (o[i]->strict && c->note[0]) {
            st = mk_err_set(e, MK_EINVAL, "weight %s: %s (--strict)", w->name ? w->name : "?",
                            c->note);
            break;
        }
        mk_ir_replace_uses(b, w, nv);
        mk_compress_layer *l = &r->layers[r->n++];
        memset(l, 0, sizeof *l);
        snprintf(l->name, sizeof l->name, "%s", w->name ? w->name : "?");
        snprintf(l->op, sizeof l->op, "%s", mk_ir_op_info(s[i].op->kind)->name);
        mode_name(o[i], c, l->mode, sizeof l->mode);
        l->elements = s[i].n;
        l->bytes_before = s[i].n * (w->type.dtype == MK_DT_FP16 ? 2 : 4);
        l->bytes_after = c->bytes;
        l->rel_err = c->w2 > 0 ? sqrt(c->d2 / c->w2) : 0;
    }
    mk_free(NULL, cw, (size_t)(ns ? ns : 1) * sizeof *cw);
    return st;
}

mk_status mk_cmp_sites(mk_program *p, const mk_compress_options *o, mk_cmp_site **s, int *ns,
                       mk_compress_report *r, mk_err *e)
{
    memset(r, 0, sizeof *r);
    r->const_bytes_before = const_bytes(mk_ir_main(p)->block);
    mk_status st = collect(p, o, s, ns, r, e);
    if (st) {
        mk_cmp_sites_free(*s, *ns);
        *s = NULL, *ns = 0;
        mk_compress_report_free(r);
    }
    return st;
}

mk_status mk_cmp_finish_program(mk_program *p, mk_compress_report *r, mk_err *e)
{
    mk_status st = MK_OK;
    if (mk_pass_dce(p, e) < 0) st = e->code;
    if (!st && (st = mk_ir_verify(p, e)) == MK_OK)
        r->const_bytes_after = const_bytes(mk_ir_main(p)->block);
    return st;
}

mk_status mk_compress(mk_program *p, const mk_compress_options *o, mk_compress_report *r, mk_err *e)
{
    mk_status st = check_options(o, mk_ir_ios_for_spec(p->spec_version), e);
    if (st) return st;
    mk_cmp_site *s = NULL;
    int ns = 0;
    if ((st = mk_cmp_sites(p, o, &s, &ns, r, e))) return st;
    /* calibration: given samples weight the palettes' k-means; modes of 4 bits or fewer also
     * round with error compensation, on seeded inputs when there are no samples */
    int gram = mk_cmp_wants_gram(o) && ns > 0;
    mk_tensor_list seeded[2];
    memset(seeded, 0, sizeof seeded);
    const mk_tensor_list *cal = o->calib && o->n_calib > 0 ? o->calib : NULL;
    int ncal = cal ? o->n_calib : 0;
    if (gram && !cal && !(st = mk_calib_seeded(p, 2, seeded, e))) cal = seeded, ncal = 2;
    if (!st && cal && (gram || (o->mode == MK_CMP_PALETTE && !o->uniform)))
        st = mk_cmp_calibrate(p, o, s, ns, cal, ncal, gram, e);
    for (int i = 0; !st && cal == seeded && i < ns; i++) /* k-means weights: samples only */
        if (s[i].m2) mk_free(NULL, s[i].m2, s[i].m2n * sizeof(double)), s[i].m2 = NULL;
    for (int i = 0; !st && cal && cal != seeded && i < ns; i++) /* LUT refit: samples only */
        s[i].g.fit = 1;
    for (int k = 0; k < 2; k++) mk_tensor_list_free(&seeded[k]);
    if (st) {
        mk_cmp_sites_free(s, ns);
        mk_compress_report_free(r);
        return st;
    }
    const mk_compress_options **os = mk_malloc(NULL, (size_t)(ns ? ns : 1) * sizeof *os);
    if (!os) st = MK_OOM(e);
    for (int i = 0; !st && i < ns; i++) os[i] = o;
    if (!st) st = mk_cmp_apply(p, s, ns, os, NULL, r, e);
    if (!st) st = mk_cmp_finish_program(p, r, e);
    mk_free(NULL, os, (size_t)(ns ? ns : 1) * sizeof *os);
    mk_cmp_sites_free(s, ns);
    if (st) mk_compress_report_free(r);
    return st;
}

void mk_compress_report_free(mk_compress_report *r)
{
    if (r->layers) mk_free(NULL, r->layers, (size_t)r->cap * sizeof *r->layers);
    if (r->kept) mk_free(NULL, r->kept, (size_t)r->cap_kept * sizeof *r->kept);
    memset(r, 0, sizeof *r);
}

/* per output of b against a (the reference) */
static void compare(const mk_tensor_list *a, const mk_tensor_list *b, mk_output_error *out, int max,
                    int *n)
{
    *n = 0;
    for (int k = 0; k < a->n && k < max; k++) {
        mk_output_error *o = &out[(*n)++];
        memset(o, 0, sizeof *o);
        snprintf(o->name, sizeof o->name, "%s", a->items[k].name ? a->items[k].name : "?");
        if (a->items[k].dtype != b->items[k].dtype || a->items[k].nbytes != b->items[k].nbytes ||
            a->items[k].dtype != MK_DT_FP32)
            continue;
        const float *x = a->items[k].data, *y = b->items[k].data;
        size_t cnt = a->items[k].nbytes / 4;
        double xy = 0, xx = 0, yy = 0, d2 = 0, mx = 0;
        for (size_t i = 0; i < cnt; i++) {
            double d = (double)y[i] - x[i];
            xy += (double)x[i] * y[i], xx += (double)x[i] * x[i], yy += (double)y[i] * y[i];
            d2 += d * d;
            mx = fmax(mx, fabs(x[i]));
            o->max_abs = fmax(o->max_abs, fabs(d));
        }
        for (size_t i = 0; i < cnt; i++) /* relative to the output's scale, not tiny entries */
            o->max_rel =
                fmax(o->max_rel, fabs((double)y[i] - x[i]) / fmax(fabs(x[i]), 1e-3 * mx + 1e-12));
        o->n = cnt;
        o->has_cos = cnt >= 16;
        o->cos = xx > 0 && yy > 0 ? xy / sqrt(xx * yy) : (xx == yy ? 1 : 0);
        o->snr_db = d2 > 0 ? 10 * log10(xx / d2) : INFINITY;
    }
}

/* runs of programs on the same inputs, on two threads when the allocators allow */
typedef struct rjob {
    const mk_program *p;
    int fp16, threads;
    mk_tensor_list out;
    mk_status st;
    mk_err e;
} rjob;
typedef struct rjobs {
    rjob *j;
    const mk_tensor_list *in;
    int n, next;
} rjobs;

static void *rworker(void *arg)
{
    rjobs *r = arg;
    for (;;) {
        int i = __atomic_fetch_add(&r->next, 1, __ATOMIC_RELAXED);
        if (i >= r->n) break;
        rjob *j = &r->j[i];
        mk_run_options ro = {j->fp16, j->threads, 1};
        j->st = mk_run(j->p, &ro, r->in, &j->out, &j->e);
    }
    return NULL;
}

static mk_status run_all(rjob *j, int n, const mk_tensor_list *in, mk_err *e)
{
    rjobs r = {j, in, n, 0};
    pthread_t t;
    int threaded = 1;
    for (int i = 0; i < n; i++) threaded &= !j[i].p->alloc || j[i].p->alloc == mk_alloc_default();
    threaded = threaded && n > 1 && sysconf(_SC_NPROCESSORS_ONLN) > 1;
    for (int i = 0; i < n; i++) j[i].threads = threaded; /* one kernel thread each, or all */
    threaded = threaded && !pthread_create(&t, NULL, rworker, &r);
    if (!threaded)
        for (int i = 0; i < n; i++) j[i].threads = 0;
    rworker(&r);
    if (threaded) pthread_join(t, NULL);
    for (int i = 0; i < n; i++)
        if (j[i].st) {
            *e = j[i].e;
            return j[i].st;
        }
    return MK_OK;
}

mk_status mk_output_errors(const mk_program *ref, const mk_program *q, const mk_tensor_list *in,
                           int fp16_emulate, mk_output_error *out, int max, int *n, mk_err *e)
{
    rjob j[2];
    memset(j, 0, sizeof j);
    j[0].p = q, j[0].fp16 = fp16_emulate, j[1].p = ref;
    *n = 0;
    mk_status st = run_all(j, 2, in, e);
    if (!st && j[1].out.n != j[0].out.n)
        st = mk_err_set(e, MK_EINVAL, "the programs have different outputs");
    if (!st) compare(&j[1].out, &j[0].out, out, max, n);
    for (int i = 0; i < 2; i++) mk_tensor_list_free(&j[i].out);
    return st;
}

mk_status mk_output_errors2(const mk_program *ref, const mk_program *q, const mk_tensor_list *in,
                            mk_output_error *e32, int *n32, mk_output_error *e16, int *n16, int max,
                            mk_err *e)
{
    rjob j[3];
    memset(j, 0, sizeof j);
    j[0].p = q, j[0].fp16 = 1, j[1].p = q, j[2].p = ref;
    *n32 = *n16 = 0;
    mk_status st = run_all(j, 3, in, e);
    if (!st && (j[2].out.n != j[0].out.n || j[2].out.n != j[1].out.n))
        st = mk_err_set(e, MK_EINVAL, "the programs have different outputs");
    if (!st) compare(&j[2].out, &j[1].out, e32, max, n32);
    if (!st) compare(&j[2].out, &j[0].out, e16, max, n16);
    for (int i = 0; i < 3; i++) mk_tensor_list_free(&j[i].out);
    return st;
}
