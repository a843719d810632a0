/* The convert pipeline: load (ONNX import or package read), hazard fixes and conv + batch_norm
 * fusion (on by default), fp16 / int8 passes, then an atomic package write. The fixes are proven
 * equivalent by the interpreter in the test suite; `milkit fix` re-checks them per model, convert
 * does not. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ir/ir.h"
#include "passes/passes_int.h"

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
                         off ? ", " : "", fr->rows[i].rule, fr->rows[i].ops_changed);
        if (w < 0 || (size_t)w >= sizeof rep->fix_summary - off) break;
        off += (size_t)w;
    }
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
    mk_target target = copts ? copts->target : MK_TARGET_DEFAULT;

    mk_program *src = NULL, *fixed = NULL;
    double t0 = now_ms();
    mk_status st = mk_model_load(in, copts, NULL, &src, err);
    if (st != MK_OK) return st;
    double t1 = now_ms();
    rep->ms_load = t1 - t0;
    if (target == MK_TARGET_DEFAULT) target = (mk_target)src->spec_version;
    if (popts->int8_weights && target < MK_TARGET_IOS16) {
        st = mk_err_set(err, MK_EINVAL,
                        "%s: int8 weights need --target ios16 or later (target is %s)", in,
                        mk_target_name(target));
        goto done;
    }
    mk_program *p = src;
    if (popts->fix) {
        mk_fix_options fo;
        memset(&fo, 0, sizeof fo);
        fo.no_verify = 1;
        fo.assume_fp16 = popts->fp16;
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
    rep->weight_bytes_before = 0;
    for (int i = 0; i < p->n_functions; i++)
        rep->weight_bytes_before += weight_bytes(p, p->functions[i]->block);
    if (popts->fp16) {
        mk_fp16_stats fs;
        memset(&fs, 0, sizeof fs);
        if (mk_pass_fp16_ex(p, &fs, err) < 0) {
            st = err->code ? err->code : MK_EINTERNAL;
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
    if (popts->int8_weights && (st = run_pass("quantize_int8", p, err)) != MK_OK) goto done;
    if ((st = mk_ir_verify(p, err)) != MK_OK) {
        mk_err_prefix(err, "%s: ", in);
        goto done;
    }
    double t3 = now_ms();
    rep->ms_precision = t3 - t2;
    if ((st = mk_program_save(p, out, target, err)) != MK_OK) goto done;
    rep->ms_write = now_ms() - t3;
    rep->target = target;
    for (int i = 0; i < p->n_functions; i++) {
        count_ops(p->functions[i]->block, &rep->n_ops);
        rep->weight_bytes += weight_bytes(p, p->functions[i]->block);
    }
done:
    mk_program_free(fixed);
    mk_program_free(src);
    return st;
}
