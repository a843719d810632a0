/* fp16 calibration measurements for mk_convert: run the fp32 program on calibration inputs
 * with an interpreter observer to record every float value's largest |x|, then run an fp16
 * version next to it and record each value's fp16 error against the fp32 run and each
 * output's precision (max abs, max rel, SNR, cosine). Seeded inputs stand in for samples. */
#include <math.h>
#include <string.h>

#include "api_int.h"
#include "interp/interp_int.h"

#define TRACE_CAP ((size_t)256 << 20) /* bytes of fp32 values kept per run to compare with */
#define TOL 1e-2 /* reported: |fp16 - fp32| <= TOL + TOL*|fp32| on every output */
/* aimed at on the calibration inputs: half of TOL, leaving room for inputs they miss */
#define AIM (TOL / 2)

typedef struct trace {
    const float *d;
    size_t n;
} trace;

typedef struct obs {
    mk_calib *c;
    mk_arena *ar; /* per-run trace copies */
    mk_strmap tr; /* p32 value name -> trace */
    size_t bytes;
    int oom;
} obs;

static mk_calib_value *value_stat(mk_calib *c, const char *name, int add)
{
    mk_calib_value *s = mk_strmap_get(&c->vals, name);
    if (s || !add) return s;
    s = mk_arena_alloc(c->ar, sizeof *s);
    if (!s || !mk_strmap_put(&c->vals, name, s)) return NULL;
    s->err = -1;
    return s;
}

static void see_range(void *ud, const mk_op *op, const mk_value *v, const float *d, size_t n)
{
    obs *o = ud;
    (void)op;
    if (!v->name) return;
    mk_calib_value *s = value_stat(o->c, v->name, 1);
    if (!s) {
        o->oom = 1;
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (isfinite(d[i]) && fabsf(d[i]) > s->max_abs) s->max_abs = fabsf(d[i]);
}

static void see_trace(void *ud, const mk_op *op, const mk_value *v, const float *d, size_t n)
{
    obs *o = ud;
    see_range(ud, op, v, d, n);
    if (!v->name || o->c->no_trace || o->bytes + n * 4 > TRACE_CAP) return;
    trace *t = mk_arena_alloc(o->ar, sizeof *t);
    float *copy = mk_arena_memdup(o->ar, d, n ? n * 4 : 1);
    if (!t || !copy || !mk_strmap_put(&o->tr, v->name, t)) {
        o->oom = 1;
        return;
    }
    t->d = copy;
    t->n = n;
    o->bytes += n * 4;
}

/* The fp32 name of a p16 value: the same name, or a renamed block output (`y_cast_fp16`). */
static const char *p32_name(obs *o, const char *name, char *buf, size_t cap)
{
    if (mk_strmap_get(&o->tr, name)) return name;
    size_t n = strlen(name), k = strlen("_cast_fp16");
    if (n <= k || n - k >= cap || strcmp(name + n - k, "_cast_fp16") != 0) return NULL;
    memcpy(buf, name, n - k);
    buf[n - k] = 0;
    return buf;
}

static void see_error(void *ud, const mk_op *op, const mk_value *v, const float *d, size_t n)
{
    obs *o = ud;
    (void)op;
    char buf[512];
    const char *nm = v->name ? p32_name(o, v->name, buf, sizeof buf) : NULL;
    const trace *t = nm ? mk_strmap_get(&o->tr, nm) : NULL;
    mk_calib_value *s = nm ? value_stat(o->c, nm, 0) : NULL;
    if (!t || !s || t->n != n) return;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(t->d[i])) continue;
        if (!isfinite(d[i])) {
            s->nonfinite = 1;
            continue;
        }
        double a = fabs((double)d[i] - (double)t->d[i]);
        if (a > worst) worst = a;
    }
    double den = s->max_abs > 1e-30 ? s->max_abs : 1e-30;
    if (worst / den > s->err) s->err = worst / den;
}

/* in's tensors in the order of f's inputs (already checked by a session run); a state input
 * takes none (NULL: the interpreter binds its own state buffer). */
static int order_inputs(const mk_function *f, const mk_tensor_list *in, const mk_tensor **ins)
{
    for (int i = 0; i < f->n_inputs; i++) {
        ins[i] = NULL;
        if (f->inputs[i]->is_state) continue;
        ins[i] = mk_tensor_list_match(in, f->inputs[i]->name);
        if (!ins[i] && f->n_inputs == 1 && in->n == 1) ins[i] = &in->items[0];
        if (!ins[i]) return 0;
    }
    return 1;
}

static double elem(const mk_tensor *t, size_t i)
{
    switch (t->dtype) {
    case 11: return ((const float *)t->data)[i];
    case 23: return ((const int32_t *)t->data)[i];
    case 1: return ((const uint8_t *)t->data)[i];
    case 10: return mk_f16_to_f32(((const uint16_t *)t->data)[i]);
    default: return 0;
    }
}

static size_t numel(const mk_tensor *t)
{
    size_t es = t->dtype == 1 ? 1 : t->dtype == 10 ? 2 : 4;
    return t->nbytes / es;
}

static mk_status exec(mk_interp *ip, const mk_function *f, const mk_tensor_list *in,
                      mk_tensor_list *out, mk_err *e)
{
    const mk_tensor *buf[64];
    if (f->n_inputs > 64) return mk_err_set(e, MK_EUNSUPPORTED, "calibration: over 64 inputs");
    if (!order_inputs(f, in, buf)) return mk_err_set(e, MK_EINTERNAL, "calibration: input order");
    mk_interp_result res;
    return mk_interp_exec(ip, buf, out, &res, e);
}

mk_status mk_calib_init(mk_calib *c, const mk_program *p32, const mk_tensor_list *in, int n,
                        int check, mk_err *e)
{
    memset(c, 0, sizeof *c);
    c->p32 = p32;
    c->n = n;
    c->in = in;
    mk_strmap_init(&c->vals, NULL);
    mk_strmap_init(&c->keep, NULL);
    c->ar = mk_arena_new(NULL);
    if (!c->ar) return MK_OOM(e);
    const mk_function *f = mk_ir_main(p32);
    mk_run_options ro = {0, 0, 0};
    mk_status st = MK_OK;
    for (int i = 0; i < n && !st; i++) {
        mk_tensor_list out;
        const mk_tensor *ins[64];
        if (check && (st = mk_run_ex(p32, &ro, &in[i], &out, NULL, e))) { /* checks the list */
            mk_err_prefix(e, "calibration input %d: ", i + 1);
            break;
        }
        if (check) mk_tensor_list_free(&out);
        if (f->n_inputs > 64 || !order_inputs(f, &in[i], ins))
            return mk_err_set(e, MK_EINVAL, "calibration input %d: inputs do not match", i + 1);
        for (int k = 0; k < f->n_inputs; k++) {
            const mk_tensor *t = ins[k];
            if (!t || !mk_dtype_is_float(f->inputs[k]->type.dtype)) continue;
            mk_calib_value *s = value_stat(c, f->inputs[k]->name, 1);
            if (!s) return MK_OOM(e);
            for (size_t j = 0; j < numel(t); j++) {
                double x = fabs(elem(t, j));
                if (isfinite(x) && x > s->max_abs) s->max_abs = x;
            }
        }
    }
    return st;
}

void mk_calib_free(mk_calib *c)
{
    mk_strmap_free(&c->vals);
    mk_strmap_free(&c->keep);
    mk_arena_free(c->ar);
    memset(c, 0, sizeof *c);
}

typedef struct acc {
    double s_ref2, s_diff2, s_a2, dot, max_abs, max_rel;
    size_t size, numel, nonfinite, bad, missed; /* missed: beyond AIM */
} acc;

static void accumulate(acc *a, const mk_tensor *got, const mk_tensor *ref)
{
    size_t n = numel(ref);
    if (numel(got) < n) n = numel(got);
    a->size = n;
    a->numel += n;
    for (size_t i = 0; i < n; i++) {
        double x = elem(got, i), y = elem(ref, i);
        if (!isfinite(x) && isfinite(y)) {
            a->nonfinite++;
            a->bad++;
            a->missed++;
            continue;
        }
        if (!isfinite(y)) continue;
        double d = fabs(x - y), r = d / (fabs(y) > 1e-12 ? fabs(y) : 1e-12);
        if (d > a->max_abs) a->max_abs = d;
        if (r > a->max_rel) a->max_rel = r;
        a->bad += d > TOL + TOL * fabs(y);
        a->missed += d > AIM + AIM * fabs(y);
        a->s_ref2 += y * y;
        a->s_diff2 += d * d;
        a->s_a2 += x * x;
        a->dot += x * y;
    }
}

static void to_row(const acc *a, const char *name, mk_precision_row *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->output, sizeof r->output, "%s", name ? name : "?");
    r->size = a->size;
    r->numel = a->numel;
    r->n_nonfinite = a->nonfinite;
    r->n_bad = a->bad;
    r->max_abs = a->nonfinite ? INFINITY : a->max_abs;
    r->max_rel = a->nonfinite ? INFINITY : a->max_rel;
    r->snr_db = a->nonfinite      ? -INFINITY
                : a->s_diff2 == 0 ? INFINITY
                                  : 10 * log10(a->s_ref2 / a->s_diff2);
    r->cosine = NAN;
    if (a->size >= 16 && !a->nonfinite)
        r->cosine = a->s_a2 > 0 && a->s_ref2 > 0 ? a->dot / sqrt(a->s_a2 * a->s_ref2)
                                                 : (a->s_a2 == a->s_ref2 ? 1 : 0);
}

/* in's tensors into fed, with each state input replaced by the previous run's output. */
static void feed(const mk_calib *c, const mk_function *f, const mk_tensor_list *in,
                 const mk_tensor_list *prev, mk_tensor *fed)
{
    memcpy(fed, in->items, (size_t)in->n * sizeof *fed);
    for (int k = 0; k < c->n_feed; k++)
        for (int j = 0; j < in->n; j++)
            if (mk_name_matches(f->inputs[c->feed_in[k]]->name, fed[j].name) &&
                c->feed_out[k] < prev->n) {
                const mk_tensor *s = &prev->items[c->feed_out[k]];
                fed[j].data = s->data;
                fed[j].nbytes = s->nbytes;
                fed[j].dtype = s->dtype;
            }
}

mk_status mk_calib_measure(mk_calib *c, const mk_program *p16, mk_precision_row *rows, int max_rows,
                           int *n_rows, int *ok, mk_err *e)
{
    *ok = 1;
    *n_rows = 0;
    for (size_t j = 0; j < c->vals.cap; j++) {
        mk_calib_value *s = c->vals.vals ? c->vals.vals[j] : NULL;
        if (c->vals.keys[j] && s) s->err = -1, s->nonfinite = 0;
    }
    const mk_function *f32 = mk_ir_main(c->p32), *f16 = mk_ir_main(p16);
    obs o;
    memset(&o, 0, sizeof o);
    o.c = c;
    mk_run_options ro = {0, 0, 0};
    mk_interp *i32 = NULL, *i16 = NULL;
    int n_out = p16->n_outputs;
    acc *a = mk_calloc(NULL, (size_t)(n_out ? n_out : 1), sizeof *a);
    if (!a) return MK_OOM(e);
    mk_status st = mk_interp_new_observed(c->p32, &ro, see_trace, &o, &i32, e);
    if (!st) st = mk_interp_new_observed(p16, &ro, see_error, &o, &i16, e);
    mk_tensor_list prev16 = {0, NULL}, prev32 = {0, NULL};
    mk_tensor fed16[64], fed32[64];
    for (int i = 0; i < c->n && !st; i++) {
        mk_tensor_list in16 = c->in[i], in32 = c->in[i];
        if (i && c->n_feed && c->in[i].n <= 64) {
            feed(c, f32, &c->in[i], &prev16, fed16);
            feed(c, f32, &c->in[i], &prev32, fed32);
            in16.items = fed16;
            in32.items = fed32;
        }
        mk_strmap_init(&o.tr, NULL);
        o.ar = mk_arena_new(NULL);
        o.bytes = 0;
        mk_tensor_list out32 = {0, NULL}, out16 = {0, NULL};
        if (!o.ar) st = MK_OOM(e);
        if (!st) st = exec(i32, f32, &in32, &out32, e);
        if (!st) st = exec(i16, f16, &in16, &out16, e);
        if (!st && o.oom) st = MK_OOM(e);
        for (int k = 0; !st && k < n_out && k < out16.n && k < out32.n; k++)
            accumulate(&a[k], &out16.items[k], &out32.items[k]);
        mk_tensor_list_free(&prev16);
        mk_tensor_list_free(&prev32);
        prev16 = out16;
        prev32 = out32;
        mk_strmap_free(&o.tr);
        mk_arena_free(o.ar);
    }
    mk_tensor_list_free(&prev16);
    mk_tensor_list_free(&prev32);
    for (int k = 0; !st && k < n_out; k++) {
        if (a[k].missed) *ok = 0;
        if (k < max_rows) to_row(&a[k], p16->outputs[k].name, &rows[(*n_rows)++]);
    }
    mk_free(NULL, a, (size_t)(n_out ? n_out : 1) * sizeof *a);
    mk_interp_free(i32);
    mk_interp_free(i16);
    return st;
}

static int state_suffix(const char *s)
{
    static const char *const ok[] = {"n", "N", "_n", "out", "_out", "new", "_new", "next", "_next"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!strcmp(s, ok[i])) return 1;
    return 0;
}

static int add_feed(mk_calib *c, int out, int in)
{
    for (int k = 0; k < c->n_feed; k++)
        if (c->feed_out[k] == out || c->feed_in[k] == in) return 1;
    if (c->n_feed == 8) return 0;
    c->feed_out[c->n_feed] = out;
    c->feed_in[c->n_feed++] = in;
    return 1;
}

mk_status mk_calib_states(mk_calib *c, const mk_program *p, int n, const char *const *specs,
                          mk_err *e)
{
    const mk_function *f = mk_ir_main(p);
    int n_out = f->block->n_outputs < p->n_outputs ? f->block->n_outputs : p->n_outputs;
    for (int s = 0; s < n; s++) {
        const char *eq = strchr(specs[s], '=');
        int o = -1, in = -1;
        for (int k = 0; eq && k < n_out; k++)
            if (p->outputs[k].name && strlen(p->outputs[k].name) == (size_t)(eq - specs[s]) &&
                !strncmp(p->outputs[k].name, specs[s], (size_t)(eq - specs[s])))
                o = k;
        for (int k = 0; eq && k < f->n_inputs; k++)
            if (mk_name_matches(f->inputs[k]->name, eq + 1)) in = k;
        if (o < 0 || in < 0)
            return mk_err_set(e, MK_EINVAL,
                              "state '%s': want OUTPUT=INPUT naming an output and "
                              "an input of the model",
                              specs[s]);
        if (!add_feed(c, o, in))
            return mk_err_set(e, MK_EINVAL, "state '%s': more than 8 states", specs[s]);
    }
    if (n) return MK_OK;
    for (int o = 0; o < n_out; o++)
        for (int in = 0; in < f->n_inputs; in++) {
            const mk_value *vi = f->inputs[in], *vo = f->block->outputs[o];
            const char *on = p->outputs[o].name, *w = strstr(vi->name, "_workaround");
            size_t l = w && !w[11] ? (size_t)(w - vi->name) : strlen(vi->name); /* "state" */
            if (!on || strncmp(on, vi->name, l) != 0 || !state_suffix(on + l) ||
                !mk_dtype_is_float(vi->type.dtype) || !mk_type_equal(&vi->type, &vo->type))
                continue;
            add_feed(c, o, in);
        }
    return MK_OK;
}

/* ---- seeded inputs ---- */

static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int passes_ids(mk_op_kind k)
{
    return k == MK_OP_CAST || k == MK_OP_RESHAPE || k == MK_OP_EXPAND_DIMS || k == MK_OP_SQUEEZE ||
           k == MK_OP_TRANSPOSE || k == MK_OP_IDENTITY;
}

/* The smallest extent an input indexes (through casts and reshapes) as gather indices or as
 * crop_resize's box_indices (the image batch), 0 if none. */
static int64_t table_size(const mk_block *b, const mk_value *in)
{
    const mk_value *from[64];
    int n = 1;
    int64_t best = 0;
    from[0] = in;
    MK_FOR_OPS(b, op)
    {
        int reads = 0;
        for (int i = 0; i < op->n_inputs && !reads; i++)
            for (int j = 0; j < op->inputs[i].n_args; j++)
                for (int k = 0; k < n; k++) reads |= op->inputs[i].args[j] == from[k];
        if (!reads) continue;
        if (passes_ids(op->kind) && n < 64) {
            from[n++] = op->outputs[0];
            continue;
        }
        int crop = op->kind == MK_OP_CROP_RESIZE;
        if (op->kind != MK_OP_GATHER && op->kind != MK_OP_GATHER_ALONG_AXIS && !crop) continue;
        const mk_value *x = mk_ir_arg(op, "x"),
                       *ix = mk_ir_arg(op, crop ? "box_indices" : "indices"),
                       *ax = crop ? NULL : mk_ir_arg(op, "axis");
        int reads_ix = 0;
        for (int k = 0; k < n; k++) reads_ix |= ix == from[k];
        if (!x || !reads_ix || x->type.rank < 1) continue;
        int64_t axis = ax && ax->cst ? (int64_t)mk_const_get_f64(ax, 0) : 0;
        if (axis < 0) axis += x->type.rank;
        if (axis < 0 || axis >= x->type.rank || x->type.dims[axis] <= 0) continue;
        if (!best || x->type.dims[axis] < best) best = x->type.dims[axis];
    }
    return best;
}

mk_status mk_calib_seeded(const mk_program *p, int n, mk_tensor_list *out, mk_err *e)
{
    const mk_function *f = mk_ir_main(p);
    if (!f) return mk_err_set(e, MK_EINVAL, "program has no function");
    for (int r = 0; r < n; r++) {
        mk_status st = mk_random_inputs(p, 0x5eed0000ull + (unsigned)r, &out[r], e);
        if (st) return st;
        uint64_t s = 0xca11b000ull + (unsigned)r;
        for (int i = 0; i < out[r].n; i++) {
            mk_tensor *t = &out[r].items[i];
            const mk_value *v = NULL;
            for (int k = 0; k < f->n_inputs && !v; k++)
                if (!f->inputs[k]->is_state && strcmp(f->inputs[k]->name, t->name) == 0)
                    v = f->inputs[k];
            if (!v) continue;
            size_t cnt = numel(t);
            if (t->dtype == 11 && t->rank == 4 &&
                (t->dims[1] == 1 || t->dims[1] == 3 || t->dims[1] == 4)) {
                float *d = t->data;
                for (size_t j = 0; j < cnt; j++) d[j] = -2.2f + (d[j] + 1) * 0.5f * 4.9f;
            } else if (t->dtype == 23) {
                int64_t size = table_size(f->block, v);
                for (size_t j = 0; size > 0 && j < cnt; j++)
                    ((int32_t *)t->data)[j] = (int32_t)(next_u64(&s) % (uint64_t)size);
            }
        }
    }
    return MK_OK;
}

mk_status mk_calib_seeded_kv(const mk_program *p, int n, const char *len_name, int64_t context,
                             mk_tensor_list *out, mk_err *e)
{
    mk_status st = mk_calib_seeded(p, n, out, e);
    for (int r = 0; r < n && !st && len_name; r++)
        for (int i = 0; i < out[r].n; i++) {
            mk_tensor *t = &out[r].items[i];
            size_t cnt = numel(t);
            if (t->dtype != 23 || strcmp(t->name, len_name) != 0 || cnt == 0) continue;
            /* [1, n] positions write n entries a step; a count input: one */
            int64_t step = cnt > 1 ? (int64_t)cnt : 1, at = (int64_t)r * step;
            if (at > context - step) at = context - step > 0 ? context - step : 0;
            for (size_t j = 0; j < cnt; j++)
                ((int32_t *)t->data)[j] = (int32_t)(at + (cnt > 1 ? (int64_t)j : 0));
        }
    return st;
}
