/* The convert pipeline: load (ONNX import or package read), hazard fixes and conv + batch_norm
 * fusion (on by default), fp16 calibration and the fp16 / int8 passes, then an atomic package
 * write. The fixes are proven
 * equivalent by the interpreter in the test suite; `milkit fix` re-checks them per model, convert
 * does not. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api_int.h"

/* fp16 calibration (docs/DESIGN.md): a value beyond 65504 / MARGIN keeps its ops fp32. The
 * margin of 4 (12 dB) covers inputs up to 4x louder than the loudest calibration input for
 * ops linear in their input (2x for a square such as a power spectrum). */
#define MARGIN 4.0
#define WARN_FACTOR 64.0 /* seeded inputs only guess the scale: warn within 64x of the bound */
#define SEEDED_RUNS 2
#define RULE_ROUNDS 4 /* rounds of the range / inf / error-growth rules */
#define GROWTH 32.0   /* error growth over the inputs' that marks a cancellation */

static void count_ops(const mk_block *b, int *n)
{
    MK_FOR_OPS(b, op)
    {
        (*n)++;
        for (int i = 0; i < op->n_blocks; i++) count_ops(op->blocks[i], n);
    }
}

static unsigned long long weight_bytes(const mk_program *p, const mk_block *b)
{
    unsigned long long n = 0;
    MK_FOR_OPS(b, op)
    {
        for (int i = 0; i < op->n_attrs; i++) {
            const mk_value *v = op->attrs[i].value;
            size_t nb;
            if (v->cst && mk_ir_const_in_blob(p->spec_version, &v->type, v->cst) &&
                mk_type_nbytes(&v->type, &nb))
                n += nb;
        }
        for (int i = 0; i < op->n_inputs; i++)
            for (int j = 0; j < op->inputs[i].n_args; j++) {
                const mk_value *v = op->inputs[i].args[j];
                size_t nb;
                if (v->is_inline && v->cst &&
                    mk_ir_const_in_blob(p->spec_version, &v->type, v->cst) &&
                    mk_type_nbytes(&v->type, &nb))
                    n += nb;
            }
        for (int i = 0; i < op->n_blocks; i++) n += weight_bytes(p, op->blocks[i]);
    }
    return n;
}

static mk_status run_pass(const char *name, mk_program *p, mk_err *err)
{
    const mk_pass_info *pi = mk_pass_find(name);
    if (!pi) return mk_err_set(err, MK_EINTERNAL, "pass %s missing", name);
    if (mk_pass_run(pi, p, err) < 0) return err->code ? err->code : MK_EINTERNAL;
    return MK_OK;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void summarize(const mk_fix_report *fr, mk_convert_report *rep)
{
    size_t off = 0;
    for (int i = 0; i < fr->n_rows; i++) {
        if (fr->rows[i].ops_changed <= 0) continue;
        rep->n_fixed += fr->rows[i].ops_changed;
        int w = snprintf(rep->fix_summary + off, sizeof rep->fix_summary - off, "%s%s x%d",
                         off ? ", " : "", fr->rows[i].rule[0] ? fr->rows[i].rule : fr->rows[i].pass,
                         fr->rows[i].ops_changed);
        if (w < 0 || (size_t)w >= sizeof rep->fix_summary - off) break;
        off += (size_t)w;
    }
}

static void note(mk_convert_report *rep, const char *fmt, ...) MK_PRINTF(2, 3);
static void note(mk_convert_report *rep, const char *fmt, ...)
{
    size_t off = strlen(rep->calib_note);
    if (off + 3 >= sizeof rep->calib_note) return;
    if (off) off += (size_t)snprintf(rep->calib_note + off, sizeof rep->calib_note - off, "; ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->calib_note + off, sizeof rep->calib_note - off, fmt, ap);
    va_end(ap);
}

static void report_kept(const mk_block *b, const mk_calib *cal, mk_convert_report *rep)
{
    MK_FOR_OPS(b, op)
    {
        const mk_calib_keep *k = op->name ? mk_strmap_get(&cal->keep, op->name) : NULL;
        if (k && rep->n_calib_kept++ < (int)(sizeof rep->calib / sizeof rep->calib[0])) {
            mk_calib_row *r = &rep->calib[rep->n_calib_kept - 1];
            snprintf(r->op, sizeof r->op, "%s", op->name);
            snprintf(r->op_type, sizeof r->op_type, "%s", mk_ir_op_info(op->kind)->name);
            snprintf(r->value, sizeof r->value, "%s", k->value ? k->value : "?");
            r->error = k->why == MK_CALIB_ERROR ? 1 : k->why == MK_CALIB_FRONT ? 3 : 0;
            r->seen = k->seen;
            r->bound = k->bound;
        }
        for (int i = 0; i < op->n_blocks; i++) report_kept(op->blocks[i], cal, rep);
    }
}

/* The op kept fp16 that produced the largest value within WARN_FACTOR of the bound. */
static void warn_close(const mk_block *b, const mk_calib *cal, double lim, const mk_op **worst,
                       double *seen)
{
    MK_FOR_OPS(b, op)
    {
        if (op->name && !mk_strmap_get(&cal->keep, op->name) && op->kind != MK_OP_CONST)
            for (int i = 0; i < op->n_outputs; i++) {
                const mk_calib_value *s =
                    op->outputs[i]->name ? mk_strmap_get(&cal->vals, op->outputs[i]->name) : NULL;
                if (s && s->max_abs > lim && s->max_abs > *seen) {
                    *seen = s->max_abs;
                    *worst = op;
                }
            }
        for (int i = 0; i < op->n_blocks; i++) warn_close(op->blocks[i], cal, lim, worst, seen);
    }
}

/* Convert a copy of p keeping the ops of keep fp32 and measure it on the calibration inputs:
 * precision rows into rep, *ok when every output meets the bound. */
static mk_status try_keep(const mk_program *p, mk_calib *cal, const mk_strmap *keep,
                          mk_convert_report *rep, int *ok, mk_err *err)
{
    mk_program *q = NULL;
    mk_status st = mk_program_clone(p, &q, err);
    if (st) return st;
    if (mk_pass_fp16_keep(q, keep, NULL, err) < 0) st = err->code ? err->code : MK_EINTERNAL;
    if (!st) st = mk_calib_measure(cal, q, rep->precision, 16, &rep->n_precision, ok, err);
    mk_program_free(q);
    rep->calib_rounds++;
    return st;
}

/* The rules left an output beyond its bound: keep the shortest front part of the remaining
 * fp16 ops (program order) with which every output meets it, by binary search (an error made
 * early passes through every later op). All of them kept is the fp32 program, which meets it. */
static mk_status search_front(const mk_program *p, mk_calib *cal, mk_convert_report *rep, int *ok,
                              mk_err *err)
{
    const mk_op **ops = NULL;
    int n = 0;
    if (mk_calib_front(p, &cal->vals, &cal->keep, &ops, &n, err) < 0) return err->code;
    int lo = 0, hi = n, best_ok = 0;
    mk_precision_row best[16];
    int n_best = 0;
    mk_status st = MK_OK;
    while (lo < hi && !st) {
        int mid = lo + (hi - lo) / 2, k = 0;
        mk_strmap trial;
        mk_strmap_init(&trial, NULL);
        for (size_t j = 0; j < cal->keep.cap && !st; j++)
            if (cal->keep.keys[j] && !mk_strmap_put(&trial, cal->keep.keys[j], cal->keep.vals[j]))
                st = MK_OOM(err);
        for (k = 0; k < mid && !st; k++)
            if (!mk_strmap_put(&trial, ops[k]->name, (void *)ops[k])) st = MK_OOM(err);
        int t_ok = 0;
        if (!st) st = try_keep(p, cal, &trial, rep, &t_ok, err);
        mk_strmap_free(&trial);
        if (!st && t_ok) {
            hi = mid;
            best_ok = 1;
            n_best = rep->n_precision;
            memcpy(best, rep->precision, sizeof best);
        } else {
            lo = mid + 1;
        }
    }
    for (int k = 0; k < hi && !st; k++)
        if (mk_calib_keep_op(ops[k], MK_CALIB_FRONT, ops[hi - 1]->name, (double)hi, (double)n,
                             &cal->keep, cal->ar) < 0)
            st = MK_OOM(err);
    if (!st && best_ok) {
        memcpy(rep->precision, best, sizeof best);
        rep->n_precision = n_best;
        *ok = 1;
    } else if (!st && hi == n) {
        st = try_keep(p, cal, &cal->keep, rep, ok, err); /* every op fp32: report its figures */
    }
    mk_free(p->alloc, ops, (size_t)n * sizeof *ops);
    return st;
}

/* Decide which ops of p stay fp32 (cal->keep): run p on the samples (or seeded inputs), keep
 * ops whose values leave the fp16 range, then convert copies and keep ops whose fp16 error
 * grows until every output is finite and within 5e-3 + 5e-3*|fp32|. *used says whether the
 * calibration ran (a seeded run that cannot run is skipped with a note, not an error). */
static mk_status calibrate(mk_program *p, const mk_pipeline_options *po, mk_convert_report *rep,
                           mk_calib *cal, mk_tensor_list *seeded, int *used, mk_err *err)
{
    *used = 0;
    const mk_tensor_list *in = po->samples;
    int n = po->n_samples;
    mk_err tmp = {MK_OK, ""};
    mk_err *e = n ? err : &tmp;
    mk_status st = MK_OK;
    if (!n) {
        n = SEEDED_RUNS;
        in = seeded;
        st = po->context > 0
                 ? mk_calib_seeded_kv(p, n, po->cache_length ? po->cache_length : "cache_length",
                                      po->context, seeded, e)
                 : mk_calib_seeded(p, n, seeded, e);
    }
    if (!st) st = mk_calib_init(cal, p, in, n, po->n_samples > 0, e);
    if (st) {
        if (po->n_samples) return st;
        note(rep, "calibration skipped (%s): only ops without an fp16 form stay fp32", tmp.msg);
        return MK_OK;
    }
    if ((st = mk_calib_states(cal, p, po->n_states, po->states, err))) return st;
    if (!po->n_samples) cal->n_feed = 0; /* seeded runs are not a stream */
    rep->n_calib_states = cal->n_feed;
    *used = 1;
    rep->calib_source = po->n_samples ? 1 : 2;
    rep->n_calib_inputs = n;
    /* seeded inputs only guess the inputs: they decide range and inf/NaN, not precision */
    int guess = !po->n_samples;
    mk_calib_params par = {65504.0 / MARGIN, guess ? INFINITY : 1e-2, GROWTH};
    if (mk_calib_decide(p, &cal->vals, &par, &cal->keep, cal->ar, err) < 0) return err->code;
    int ok = 0, added = 1;
    cal->no_trace = guess;
    for (int round = 0; added; round++) { /* measure until the rules add nothing */
        if ((st = try_keep(p, cal, &cal->keep, rep, &ok, err))) return st;
        if (guess) {
            ok = 1;
            for (int k = 0; k < rep->n_precision; k++) ok &= !rep->precision[k].n_nonfinite;
        }
        added = round < RULE_ROUNDS ? mk_calib_decide(p, &cal->vals, &par, &cal->keep, cal->ar, err)
                                    : 0;
        if (added < 0) return err->code;
    }
    if (!ok && !guess && (st = search_front(p, cal, rep, &ok, err))) return st;
    rep->n_precision = rep->n_precision < 16 ? rep->n_precision : 16;
    for (int k = 0; k < rep->n_precision; k++)
        if (rep->precision[k].n_bad) {
            note(rep, "fp16 output %s beyond 1e-2 + 1e-2*|fp32| on %zu of %zu %s values%s",
                 rep->precision[k].output, rep->precision[k].n_bad, rep->precision[k].numel,
                 guess ? "seeded" : "calibration",
                 guess ? " (with -i samples, convert keeps the ops it needs fp32)" : "");
            break;
        }
    for (int i = 0; i < p->n_functions; i++) report_kept(p->functions[i]->block, cal, rep);
    if (!po->n_samples) {
        const mk_op *w = NULL;
        double seen = 0;
        for (int i = 0; i < p->n_functions; i++)
            warn_close(p->functions[i]->block, cal, par.range / WARN_FACTOR, &w, &seen);
        if (w)
            note(rep,
                 "fp16 overflow possible: op %s (%s) reached %.4g on seeded inputs, within "
                 "%.0fx of the fp16 bound %.4g; calibrate with -i samples of real inputs",
                 w->name, mk_ir_op_info(w->kind)->name, seen, WARN_FACTOR, par.range);
    }
    return MK_OK;
}

static int is_onnx(const char *path)
{
    size_t n = strlen(path);
    return n >= 5 && strcmp(path + n - 5, ".onnx") == 0;
}

/* ---- KV cache as state (--context) ---- */
#define KV_MAX 256

static int kv_named(const mk_pipeline_options *po, const char *name)
{
    for (int i = 0; i < po->n_kv_states; i++) {
        size_t n = strcspn(po->kv_states[i], "=");
        if (strlen(name) == n && strncmp(po->kv_states[i], name, n) == 0) return 1;
    }
    return strncmp(name, "past", 4) == 0;
}

static int has_shape(const mk_convert_options *o, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; o && i < o->n_shapes; i++)
        if (strncmp(o->shapes[i], name, n) == 0 && o->shapes[i][n] == '=') return 1;
    return 0;
}

/* --shape strings for dynamic cache inputs the user left open: batch 1, 1..context along the
 * one other dynamic dim (more than one: the user must say). *strs is freed by the caller. */
typedef struct kv_alloc {
    char *strs;
    const char **list;
    size_t n_strs, n_list;
} kv_alloc;

static mk_status kv_shapes(const char *in, const mk_convert_options *co,
                           const mk_pipeline_options *po, mk_convert_options *out, kv_alloc *ka,
                           mk_err *err)
{
    *out = *co;
    mk_io_decls d;
    memset(&d, 0, sizeof d);
    mk_status st = mk_onnx_describe(in, &d, err);
    if (st) return st;
    size_t cap = (size_t)d.n_inputs * 160 + 1;
    ka->n_strs = cap;
    ka->n_list = (size_t)(co->n_shapes + d.n_inputs + 1);
    ka->strs = mk_calloc(NULL, 1, cap);
    ka->list = mk_calloc(NULL, ka->n_list, sizeof *ka->list);
    if (!ka->strs || !ka->list) {
        mk_io_decls_free(&d);
        return MK_OOM(err);
    }
    for (int i = 0; i < co->n_shapes; i++) ka->list[i] = co->shapes[i];
    int n = co->n_shapes;
    size_t off = 0;
    for (int i = 0; i < d.n_inputs && !st; i++) {
        const mk_io_decl *x = &d.inputs[i];
        if (!kv_named(po, x->name) || has_shape(co, x->name) || x->rank < 1) continue;
        int dyn = 0, at = -1;
        for (int k = 1; k < x->rank; k++)
            if (x->dims[k] < 0) dyn++, at = k;
        if (dyn != 1) continue;
        char *s = ka->strs + off;
        int w = snprintf(s, cap - off, "%s=", x->name);
        for (int k = 0; k < x->rank && w > 0 && (size_t)w < cap - off; k++) {
            int v = k == at ? snprintf(s + w, cap - off - (size_t)w, "%s1..%lld", k ? "," : "",
                                       po->context)
                            : snprintf(s + w, cap - off - (size_t)w, "%s%lld", k ? "," : "",
                                       (long long)(x->dims[k] < 0 ? 1 : x->dims[k]));
            w = v < 0 ? -1 : w + v;
        }
        if (w < 0 || (size_t)w >= cap - off) {
            st = mk_err_set(err, MK_EINVAL, "%s: input name '%s' too long", in, x->name);
            break;
        }
        ka->list[n++] = s;
        off += (size_t)w + 1;
    }
    mk_io_decls_free(&d);
    out->n_shapes = n;
    out->shapes = ka->list;
    return st;
}

static mk_status kv_apply(mk_program *p, const mk_pipeline_options *po, mk_err *err)
{
    mk_kv_pair pairs[KV_MAX];
    int n = po->n_kv_states;
    if (n > KV_MAX) return mk_err_set(err, MK_EINVAL, "--state: more than %d pairs", KV_MAX);
    for (int i = 0; i < n; i++) {
        const char *s = po->kv_states[i], *eq = strchr(s, '=');
        if (!eq || eq == s || !eq[1])
            return mk_err_set(err, MK_EINVAL, "--state '%s': want PAST=PRESENT", s);
        char *past = mk_arena_strndup(p->arena, s, (size_t)(eq - s));
        if (!past) return MK_OOM(err);
        pairs[i].past = past;
        pairs[i].present = eq + 1;
    }
    if (!n && (n = mk_kv_auto_pairs(p, pairs, KV_MAX, err)) < 0) return err->code;
    const char *len = po->cache_length ? po->cache_length : "cache_length";
    /* an fp32 program keeps its cache to ~22 bits in a hi/lo pair of fp16 states */
    if (mk_kv_to_state(p, pairs, n, po->context, len, !po->fp16, err) < 0) return err->code;
    return MK_OK;
}

/* One program through the pipeline (load, KV state, fixes, target, precision passes, weight
 * compression, verify): *final is *srcp, *fixedp or *cqp; the caller frees *cqp, *fixedp, then
 * *srcp. */
static mk_status convert_one(const char *in, const mk_convert_options *copts,
                             const mk_pipeline_options *popts, mk_convert_report *rep,
                             mk_program **srcp, mk_program **fixedp, mk_program **cqp,
                             mk_program **final, mk_err *err)
{
    mk_target target = copts ? copts->target : MK_TARGET_DEFAULT;
    int fp16 = popts->fp16 && !(popts->fp16_onnx_only && !is_onnx(in));

    mk_program *src = NULL, *fixed = NULL, *cq = NULL; /* cq borrows from them */
    *srcp = *fixedp = *cqp = *final = NULL;
    double t0 = now_ms();
    mk_convert_options kvo;
    kv_alloc ka = {NULL, NULL, 0, 0};
    mk_status st = MK_OK;
    if (popts->context > 0 && is_onnx(in)) {
        mk_convert_options none_co;
        memset(&none_co, 0, sizeof none_co);
        st = kv_shapes(in, copts ? copts : &none_co, popts, &kvo, &ka, err);
        copts = &kvo;
    }
    if (st == MK_OK) st = mk_model_load(in, copts, NULL, &src, err);
    mk_free(NULL, ka.strs, ka.n_strs);
    mk_free(NULL, ka.list, ka.n_list * sizeof *ka.list);
    if (st == MK_OK && popts->context > 0 && (st = kv_apply(src, popts, err)) != MK_OK)
        mk_err_prefix(err, "%s: ", in);
    if (st != MK_OK) {
        mk_program_free(src);
        return st;
    }
    mk_program *p = src;
    double t1 = now_ms();
    rep->ms_load = t1 - t0;
    if (target == MK_TARGET_DEFAULT) target = (mk_target)src->spec_version;
    if ((popts->int8_weights || popts->weights) && target < MK_TARGET_IOS16) {
        st = mk_err_set(err, MK_EINVAL,
                        "%s: compressed weights need --target ios16 or later (target is %s)", in,
                        mk_target_name(target));
        goto done;
    }
    if (popts->fix) {
        mk_fix_options fo;
        memset(&fo, 0, sizeof fo);
        fo.no_verify = 1;
        fo.assume_fp16 = fp16;
        /* calibration may keep a clip or mask op fp32, where clipping its bound to 65504 (H14)
         * changes the result; the fp16 pass clips the constants of the ops it converts */
        if (fp16 && !popts->no_calibrate) fo.skip = "H14";
        mk_fix_report fr;
        if ((st = mk_fix(src, &fo, &fixed, &fr, err)) != MK_OK) goto done;
        mk_ir_program_adopt_maps(fixed, src); /* src is only freed now: passes may reuse */
        summarize(&fr, rep);
        if (popts->verbose) mk_fix_report_write(&fr, stderr);
        p = fixed;
        /* before the fp16 pass: a fused batch_norm no longer keeps an fp32 island */
        const mk_pass_info *fu = mk_pass_find("fuse_conv_batchnorm");
        int nf = fu ? mk_pass_run(fu, p, err) : 0;
        if (nf < 0) {
            st = err->code ? err->code : MK_EINTERNAL;
            goto done;
        }
        if (nf > 0) {
            size_t off = strlen(rep->fix_summary);
            snprintf(rep->fix_summary + off, sizeof rep->fix_summary - off,
                     "%sbatch_norm fused x%d", off ? ", " : "", nf);
        }
    }
    double t2 = now_ms();
    rep->ms_fix = t2 - t1;
    /* precision passes work on the target's opset (constexpr forms differ by target) */
    p->spec_version = (int)target;
    for (int i = 0; i < p->n_functions; i++)
        p->functions[i]->opset = mk_ir_opset_for_spec((int)target);
    if (popts->fix && (st = run_pass("fuse_attention", p, err)) != MK_OK) goto done; /* re-target */
    rep->weight_bytes_before = 0;
    for (int i = 0; i < p->n_functions; i++)
        rep->weight_bytes_before += weight_bytes(p, p->functions[i]->block);
    if (fp16) {
        mk_fp16_stats fs;
        memset(&fs, 0, sizeof fs);
        mk_calib cal;
        mk_tensor_list seeded[SEEDED_RUNS];
        memset(&cal, 0, sizeof cal);
        memset(seeded, 0, sizeof seeded);
        int used = 0;
        if (!popts->no_calibrate) st = calibrate(p, popts, rep, &cal, seeded, &used, err);
        if (!st && mk_pass_fp16_keep(p, used ? &cal.keep : NULL, &fs, err) < 0)
            st = err->code ? err->code : MK_EINTERNAL;
        mk_calib_free(&cal);
        for (int i = 0; i < SEEDED_RUNS; i++) mk_tensor_list_free(&seeded[i]);
        if (st) {
            mk_err_prefix(err, "%s: ", in);
            goto done;
        }
        rep->n_fp16_ops = fs.n_fp16_ops;
        rep->n_fp32_ops = fs.n_fp32_ops;
        rep->n_clipped = fs.n_clipped;
        if (popts->verbose && fs.n_fp32_ops) {
            fprintf(stderr, "fp16: %d ops kept in fp32:", fs.n_fp32_ops);
            for (int k = 0; k < MK_OP__COUNT; k++)
                if (fs.kept[k])
                    fprintf(stderr, " %s x%d", mk_ir_op_info((mk_op_kind)k)->name, fs.kept[k]);
            fputc('\n', stderr);
        }
    }
    if (popts->int8_weights || popts->weights) { /* the code of `milkit compress` */
        mk_compress_options q8 = {.mode = MK_CMP_LINEAR, .bits = 8};
        const mk_compress_options *w = popts->weights ? popts->weights : &q8;
        mk_compress_report cr;
        if (!w->mode) {
            if ((st = mk_compress_auto(p, w, popts->samples, popts->n_samples, &cq, &cr, err)))
                goto done;
            p = cq;
        } else if ((st = mk_compress(p, w, &cr, err)) != MK_OK) {
            goto done;
        }
        mk_compress_report_free(&cr);
    }
    if ((st = mk_ir_verify(p, err)) != MK_OK) {
        mk_err_prefix(err, "%s: ", in);
        goto done;
    }
    rep->ms_precision = now_ms() - t2;
    rep->target = target;
done:
    *srcp = src;
    *fixedp = fixed;
    *cqp = cq;
    if (st == MK_OK) *final = p;
    return st;
}

/* "NAME:SHAPE[:SHAPE...]" -> the name (in buf) and the shape strings appended to shapes. */
static mk_status function_spec(const char *spec, char *buf, size_t cap, const char **shapes, int *n,
                               int max, mk_err *err)
{
    size_t len = strlen(spec);
    if (len >= cap) return mk_err_set(err, MK_EINVAL, "--function '%.40s...': too long", spec);
    memcpy(buf, spec, len + 1);
    char *c = strchr(buf, ':');
    if (!c || c == buf || !mk_ir_valid_identifier((*c = 0, buf)))
        return mk_err_set(err, MK_EINVAL,
                          "--function '%s': want NAME:INPUT=DIMS[:INPUT=DIMS...] with NAME an "
                          "identifier",
                          spec);
    for (char *t = c + 1; t && *t;) {
        char *next = strchr(t, ':');
        if (next) *next++ = 0;
        if (*n == max) return mk_err_set(err, MK_EINVAL, "--function '%s': too many shapes", spec);
        shapes[(*n)++] = t;
        t = next;
    }
    return MK_OK;
}

/* Converts once per --function (its shapes added to --shape) and joins the programs into the
 * first: one function each, named after the spec, large weights shared by content. */
static mk_status convert_functions(const char *in, const char *out, const mk_convert_options *copts,
                                   const mk_pipeline_options *popts, mk_convert_report *rep,
                                   mk_err *err)
{
    enum { MAXF = 16, MAXS = 64 };
    if (popts->n_functions > MAXF)
        return mk_err_set(err, MK_EINVAL, "--function: more than %d functions", MAXF);
    mk_program *srcs[MAXF] = {0}, *fixeds[MAXF] = {0}, *cqs[MAXF] = {0}, *progs[MAXF] = {0};
    char names[MAXF][256];
    mk_status st = MK_OK;
    mk_convert_options none;
    memset(&none, 0, sizeof none);
    if (!copts) copts = &none;
    int nf = popts->n_functions;
    for (int i = 0; i < nf && !st; i++) {
        const char *shapes[MAXS];
        int n = 0;
        for (int k = 0; k < copts->n_shapes && k < MAXS; k++) shapes[n++] = copts->shapes[k];
        if ((st = function_spec(popts->functions[i], names[i], sizeof names[i], shapes, &n, MAXS,
                                err)))
            break;
        for (int j = 0; j < i && !st; j++)
            if (strcmp(names[i], names[j]) == 0)
                st = mk_err_set(err, MK_EINVAL, "--function %s: named twice", names[i]);
        if (st) break;
        mk_convert_options co = *copts;
        co.shapes = shapes;
        co.n_shapes = n;
        mk_convert_report r1;
        memset(&r1, 0, sizeof r1);
        st = convert_one(in, &co, popts, i ? &r1 : rep, &srcs[i], &fixeds[i], &cqs[i], &progs[i],
                         err);
        if (st) mk_err_prefix(err, "--function %s: ", names[i]);
    }
    double t3 = now_ms();
    for (int i = 1; i < nf && !st; i++)
        st = mk_program_join_function(progs[0], progs[i], names[i], err);
    if (!st) st = mk_program_name_function(progs[0], names[0], err);
    if (!st && (st = mk_ir_verify(progs[0], err)) != MK_OK) mk_err_prefix(err, "%s: ", in);
    if (!st) st = mk_program_save(progs[0], out, rep->target, err);
    rep->ms_write = now_ms() - t3;
    if (!st)
        for (int i = 0; i < progs[0]->n_functions; i++) {
            count_ops(progs[0]->functions[i]->block, &rep->n_ops);
            rep->weight_bytes += weight_bytes(progs[0], progs[0]->functions[i]->block);
        }
    for (int i = nf - 1; i >= 0; i--) {
        mk_program_free(cqs[i]);
        mk_program_free(fixeds[i]);
        mk_program_free(srcs[i]);
    }
    return st;
}

mk_status mk_convert(const char *in, const char *out, const mk_convert_options *copts,
                     const mk_pipeline_options *popts, mk_convert_report *rep, mk_err *err)
{
    mk_convert_report local;
    if (!rep) rep = &local;
    memset(rep, 0, sizeof *rep);
    mk_pipeline_options none;
    memset(&none, 0, sizeof none);
    if (!popts) popts = &none;
    if (popts->n_functions > 0) {
        if (!is_onnx(in))
            return mk_err_set(err, MK_EINVAL, "%s: --function needs an .onnx model", in);
        return convert_functions(in, out, copts, popts, rep, err);
    }
    mk_program *src = NULL, *fixed = NULL, *cq = NULL, *p = NULL;
    mk_status st = convert_one(in, copts, popts, rep, &src, &fixed, &cq, &p, err);
    double t3 = now_ms();
    if (st == MK_OK) st = mk_program_save(p, out, rep->target, err);
    rep->ms_write = now_ms() - t3;
    for (int i = 0; st == MK_OK && i < p->n_functions; i++) {
        count_ops(p->functions[i]->block, &rep->n_ops);
        rep->weight_bytes += weight_bytes(p, p->functions[i]->block);
    }
    mk_program_free(cq);
    mk_program_free(fixed);
    mk_program_free(src);
    return st;
}
