/* The lint driver: the rule table (one entry per hazard id of docs/hazards.md), the walk
 * over every function and nested block, findings storage and rule-list parsing. The rules
 * themselves live in rules_*.c; printing (text/JSON/SARIF) lives in src/api/lint.c. */
#include <ctype.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "lint_int.h"

#define E_CT "https://github.com/apple/coremltools/issues/"
#define HZ "docs/hazards.md"

/* {id, category, title, compute units, fix pass, evidence}, severity, opt_in; check; pcheck */
static const lint_rule table[LINT_MAX_RULE] = {
    [1] = {{"H1", "wrong-result", "1-D conv_transpose with bias", "NE (ALL)",
            "fix_conv_transpose_1d", "https://zhaode.wang/2025/08/18/coreml-conv1d", MK_SEV_ERROR,
            0},
           mk_lint_h1,
           NULL},
    [2] = {{"H2", "wrong-result", "conv trailing padding not consumed by the last window",
            "ALL (ML Program)", "fix_conv_padding", E_CT "2515", MK_SEV_ERROR, 0},
           mk_lint_h2,
           NULL},
    [3] = {{"H3", "wrong-result", "conv_transpose with output_shape or asymmetric padding",
            "NE/GPU vs CPU", "fix_conv_transpose_pad", E_CT "2324", MK_SEV_ERROR, 0},
           mk_lint_h3,
           NULL},
    [4] = {{"H4", "cpu-fallback", "cumsum / fill / fill_like / range_1d run on CPU", "NE",
            "fix_cpu_ops", HZ "#H4", MK_SEV_WARNING, 0},
           mk_lint_h4,
           NULL},
    [5] = {{"H5", "cpu-fallback", "scatter / slice_update partial updates", "NE",
            "fix_slice_update, fix_scatter", E_CT "2019", MK_SEV_WARNING, 0},
           mk_lint_h5,
           NULL},
    [6] = {{"H6", "wrong-result", "negative gather/scatter indices in iOS17+ opsets", "ALL",
            "fix_negative_indices", "https://github.com/apple/coremltools/pull/2794", MK_SEV_ERROR,
            0},
           mk_lint_h6,
           NULL},
    [7] = {{"H7", "wrong-result", "pow with constant base 2 computes y^2", "ALL", "fix_pow",
            E_CT "2628", MK_SEV_ERROR, 0},
           mk_lint_h7,
           NULL},
    [8] = {{"H8", "precision", "pow with a small constant exponent", "ALL (fp16)", "fix_pow",
            E_CT "2601", MK_SEV_INFO, 0},
           mk_lint_h8,
           NULL},
    [9] = {{"H9", "wrong-result", "softplus overflows in fp16 on the Neural Engine", "NE",
            "fix_softplus", E_CT "2687", MK_SEV_ERROR, 0},
           mk_lint_h9,
           NULL},
    [10] = {{"H10", "wrong-result", "reduce_log_sum_exp without max shift in fp16", "NE",
             "fix_logsumexp", E_CT "2690", MK_SEV_ERROR, 0},
            mk_lint_h10,
            NULL},
    [11] = {{"H11", "wrong-result", "log(softmax) / log(cumsum(exp)) in fp16", "NE",
             "fix_log_softmax", E_CT "2728", MK_SEV_ERROR, 0},
            mk_lint_h11,
            NULL},
    [12] = {{"H12", "wrong-result", "sum of squares overflows fp16 (RMSNorm, L2 norm)",
             "NE/GPU (fp16)", "fix_sum_squares", E_CT "2821", MK_SEV_ERROR, 0},
            mk_lint_h12,
            NULL},
    [13] = {{"H13", "wrong-result", "normalisation epsilon below fp16 range", "NE/GPU (fp16)",
             "fix_epsilon", "https://github.com/apple/ml-ane-transformers", MK_SEV_ERROR, 0},
            mk_lint_h13,
            NULL},
    [14] = {{"H14", "wrong-result", "constant beyond fp16 range (mask sentinel)", "NE/GPU (fp16)",
             "fix_fp16_range", "https://github.com/apple/coremltools/pull/2669", MK_SEV_ERROR, 0},
            mk_lint_h14,
            NULL},
    [15] = {{"H15", "wrong-result", "hidden default epsilon (inverse, rsqrt, log)", "ALL",
             "fix_explicit_params", HZ "#H15", MK_SEV_WARNING, 0},
            mk_lint_h15,
            NULL},
    [16] = {{"H16", "wrong-result", "resampling mode left at the MIL default", "ALL",
             "fix_explicit_params", E_CT "673", MK_SEV_WARNING, 0},
            mk_lint_h16,
            NULL},
    [17] = {{"H17", "wrong-result", "avg_pool ceil_mode overhang counted in the divisor", "ALL",
             "fix_avg_pool_ceil", E_CT "2772", MK_SEV_WARNING, 1},
            mk_lint_h17,
            NULL},
    [18] = {{"H18", "cpu-fallback", "flexible shapes", "NE", NULL, E_CT "1029", MK_SEV_WARNING, 0},
            mk_lint_h18,
            mk_lint_h18_prog},
    [19] = {{"H19", "cpu-fallback", "fp32 compute never runs on the Neural Engine", "NE", NULL,
             "https://apple.github.io/coremltools/docs-guides/source/typed-execution.html",
             MK_SEV_WARNING, 0},
            mk_lint_h19,
            mk_lint_h19_prog},
    [20] = {{"H20", "conversion-failure", "dimension beyond the Neural Engine range", "NE/GPU",
             "fix_long_axis", "https://github.com/FluidInference/FluidAudio/issues/121",
             MK_SEV_ERROR, 0},
            mk_lint_h20,
            mk_lint_h20_prog},
    [21] = {{"H21", "conversion-failure", "tensor rank above 5", "ALL", "fix_rank", E_CT "832",
             MK_SEV_ERROR, 0},
            mk_lint_h21,
            NULL},
    [22] = {{"H22", "conversion-failure", "zero-sized dimension", "ALL", "fix_empty", HZ "#H22",
             MK_SEV_ERROR, 0},
            mk_lint_h22,
            NULL},
    [23] = {{"H23", "wrong-result", "output rows may be padded (read with strides)", "NE/GPU", NULL,
             E_CT "1893", MK_SEV_INFO, 0},
            NULL,
            mk_lint_h23_prog},
    [24] = {{"H24", "performance", "small last axis on a large tensor", "NE", NULL,
             "https://machinelearning.apple.com/research/neural-engine-transformers", MK_SEV_INFO,
             0},
            mk_lint_h24,
            NULL},
    [25] = {{"H25", "performance", "linear/matmul with constant weight (1x1 conv preferred)", "NE",
             "fix_linear_to_conv", "https://github.com/apple/ml-ane-transformers", MK_SEV_INFO, 1},
            mk_lint_h25,
            NULL},
    [26] = {{"H26", "performance", "fused attention / large attention matmuls", "NE", NULL,
             "https://github.com/apple/ml-stable-diffusion", MK_SEV_INFO, 0},
            mk_lint_h26,
            NULL},
    [27] = {{"H27", "cpu-fallback", "layer parameters the Neural Engine handles badly", "NE",
             "fix_global_pool", "https://github.com/hollance/neural-engine/issues/2",
             MK_SEV_WARNING, 0},
            mk_lint_h27,
            NULL},
    [28] = {{"H28", "precision", "long fp16 accumulation", "NE/GPU (fp16)", NULL,
             "https://github.com/hollance/neural-engine/blob/master/docs/16-bit.md", MK_SEV_INFO,
             0},
            mk_lint_h28,
            NULL},
    [29] = {{"H29", "cpu-fallback", "topk / argsort / gather_along_axis / RNNs run on CPU", "NE",
             NULL, "https://github.com/roboflow/rf-detr/pull/1495", MK_SEV_WARNING, 0},
            mk_lint_h29,
            NULL},
    [30] = {{"H30", "conversion-failure", "weights beyond 1 GB (iPhone NE) / 2 GiB (load)", "ALL",
             NULL, E_CT "1807", MK_SEV_WARNING, 0},
            NULL,
            mk_lint_h30_prog},
    [31] = {{"H31", "performance", "compressed weights may be decompressed ahead of time", "NE",
             NULL, "https://apple.github.io/coremltools/docs-guides/source/opt-overview.html",
             MK_SEV_INFO, 0},
            mk_lint_h31,
            NULL},
    [32] = {{"H32", "conversion-failure", "instance_norm (or its reductions) on rank 5",
             "GPU (ALL)", "fix_instance_norm_5d", E_CT "2667", MK_SEV_ERROR, 0},
            mk_lint_h32,
            NULL},
    [33] = {{"H33", "conversion-failure", "prelu with one shared slope", "ALL", "fix_prelu_slope",
             E_CT "1488", MK_SEV_WARNING, 0},
            mk_lint_h33,
            NULL},
    [34] = {{"H34", "cpu-fallback", "state last dim not a multiple of 32", "NE", NULL, E_CT "2631",
             MK_SEV_WARNING, 0},
            mk_lint_h34,
            NULL},
    [35] = {{"H35", "conversion-failure", "pad/slice/topk/gather forms the runtime rejects", "ALL",
             "fix_runtime_forms", "https://github.com/microsoft/onnxruntime/pull/28478",
             MK_SEV_ERROR, 0},
            mk_lint_h35,
            NULL},
    [36] = {{"H36", "wrong-result", "sqrt(x^2) / (sqrt x)^2 that optimizers fold to x", "ALL",
             "fix_sqrt_square", "https://github.com/apple/coremltools/pull/1940", MK_SEV_WARNING,
             0},
            mk_lint_h36,
            NULL},
    [37] = {{"H37", "wrong-result", "linear with integer operands", "ALL", "fix_int_linear",
             "https://github.com/apple/coremltools/pull/2673", MK_SEV_ERROR, 0},
            mk_lint_h37,
            NULL},
    [39] = {{"H39", "wrong-result", "gelu mode left at the default (EXACT)", "ALL",
             "fix_explicit_params", "https://github.com/apple/coremltools/pull/2863",
             MK_SEV_WARNING, 0},
            mk_lint_h39,
            NULL},
};

const lint_rule *mk_lint_table(void)
{
    return table;
}

int mk_lint_rule_count(void)
{
    int n = 0;
    for (int i = 0; i < LINT_MAX_RULE; i++) n += table[i].pub.id != NULL;
    return n;
}

const mk_lint_rule *mk_lint_rule_at(int k)
{
    for (int i = 0; i < LINT_MAX_RULE; i++)
        if (table[i].pub.id && k-- == 0) return &table[i].pub;
    return NULL;
}

const mk_lint_rule *mk_lint_rule_find(const char *id)
{
    for (int i = 0; i < LINT_MAX_RULE; i++)
        if (table[i].pub.id && id && strcasecmp(table[i].pub.id, id) == 0) return &table[i].pub;
    return NULL;
}

const char *mk_severity_name(mk_severity s)
{
    switch (s) {
    case MK_SEV_ERROR: return "error";
    case MK_SEV_WARNING: return "warning";
    case MK_SEV_INFO: return "info";
    }
    return "info";
}

int mk_rule_list_has(const char *list, const char *id)
{
    if (!list || !id) return 0;
    size_t n = strlen(id);
    for (const char *s = list; *s;) {
        while (*s == ',' || *s == ' ') s++;
        const char *e = s;
        while (*e && *e != ',' && *e != ' ') e++;
        if ((size_t)(e - s) == n && strncasecmp(s, id, n) == 0) return 1;
        s = e;
    }
    return 0;
}

mk_status mk_rule_list_check(const char *list, const char *what, mk_err *err)
{
    for (const char *s = list; s && *s;) {
        while (*s == ',' || *s == ' ') s++;
        size_t n = strcspn(s, ", ");
        char id[16] = "";
        if (n && n < sizeof id) memcpy(id, s, n);
        if (n && !mk_lint_rule_find(id))
            return mk_err_set(err, MK_EINVAL,
                              "%s: unknown rule id '%.*s' (milkit lint --list-rules lists them)",
                              what ? what : "rule list", (int)(n > 40 ? 40 : n), s);
        s += n;
    }
    return MK_OK;
}

/* ---- findings ---- */

static char *dup(mk_findings *f, const char *s)
{
    if (!s) return NULL;
    char *d = mk_arena_strdup(f->arena, s);
    if (!d) f->oom = MK_ENOMEM;
    return d;
}

static void vflag(lint_ctx *c, const mk_op *op, const char *fix, const char *fmt, va_list ap)
    MK_PRINTF(4, 0);

static void vflag(lint_ctx *c, const mk_op *op, const char *fix, const char *fmt, va_list ap)
{
    mk_findings *f = c->out;
    if (f->oom) return;
    if (f->n == f->cap) {
        int ncap = f->cap ? f->cap * 2 : 16;
        mk_finding *ni = mk_arena_array(f->arena, (size_t)ncap, sizeof *ni);
        if (!ni) {
            f->oom = MK_ENOMEM;
            return;
        }
        if (f->n) memcpy(ni, f->items, (size_t)f->n * sizeof *ni);
        f->items = ni;
        f->cap = ncap;
    }
    char msg[600];
    vsnprintf(msg, sizeof msg, fmt, ap);
    const mk_lint_rule *r = &c->rule->pub;
    mk_finding *x = &f->items[f->n];
    memset(x, 0, sizeof *x);
    x->rule = r->id;
    x->severity = r->severity;
    x->function = dup(f, c->fn ? c->fn->name : "");
    x->block = dup(f, c->block ? c->block : "");
    x->op_index = op ? c->op_index : -1;
    x->op_name = dup(f, op && op->name ? op->name : "");
    x->op_type = op ? mk_lint_op_type(op) : "";
    x->message = dup(f, msg);
    x->fix = fix;
    if (!f->oom) f->n++;
}

void mk_lint_flag(lint_ctx *c, const mk_op *op, int fixable, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vflag(c, op, fixable ? c->rule->pub.fix : NULL, fmt, ap);
    va_end(ap);
}

void mk_lint_flag_fix(lint_ctx *c, const mk_op *op, const char *pass, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vflag(c, op, pass, fmt, ap);
    va_end(ap);
}

int mk_findings_count(const mk_findings *f)
{
    return f ? f->n : 0;
}

const mk_finding *mk_findings_at(const mk_findings *f, int i)
{
    return f && i >= 0 && i < f->n ? &f->items[i] : NULL;
}

int mk_findings_worst(const mk_findings *f)
{
    int w = -1;
    for (int i = 0; f && i < f->n; i++)
        if ((int)f->items[i].severity > w) w = (int)f->items[i].severity;
    return w;
}

int mk_findings_count_rule(const mk_findings *f, const char *rule)
{
    int n = 0;
    for (int i = 0; f && i < f->n; i++) n += strcasecmp(f->items[i].rule, rule) == 0;
    return n;
}

void mk_findings_free(mk_findings *f)
{
    if (f) mk_arena_free(f->arena);
}

/* ---- the walk ---- */

static int rule_on(const lint_ctx *c, const char *id)
{
    if (c->opts->only && !mk_rule_list_has(c->opts->only, id)) return 0;
    return !mk_rule_list_has(c->opts->skip, id);
}

static void walk_block(lint_ctx *c, const mk_block *b, const char *path)
{
    int idx = 0;
    MK_FOR_OPS(b, op)
    {
        c->block = path;
        c->op_index = idx;
        for (int r = 0; r < LINT_MAX_RULE; r++) {
            if (!table[r].check || !rule_on(c, table[r].pub.id)) continue;
            c->rule = &table[r];
            table[r].check(c, op);
        }
        for (int k = 0; k < op->n_blocks; k++) {
            char sub[512];
            snprintf(sub, sizeof sub, "%s/%s.b%d", path, op->name ? op->name : "?", k);
            walk_block(c, op->blocks[k], sub);
        }
        idx++;
    }
}

mk_status mk_lint(const mk_program *p, const mk_lint_options *opts, mk_findings **out, mk_err *err)
{
    static const mk_lint_options defaults = {0};
    *out = NULL;
    if (!p) return mk_err_set(err, MK_EINVAL, "lint: no program");
    if (opts && (mk_rule_list_check(opts->only, "--only", err) != MK_OK ||
                 mk_rule_list_check(opts->skip, "--skip", err) != MK_OK))
        return err && err->code ? err->code : MK_EINVAL;
    mk_arena *ar = mk_arena_new(p->alloc);
    mk_findings *f = ar ? mk_arena_alloc(ar, sizeof *f) : NULL;
    if (!f) {
        mk_arena_free(ar);
        return MK_OOM(err);
    }
    f->arena = ar;
    lint_ctx c;
    memset(&c, 0, sizeof c);
    c.p = p;
    c.opts = opts ? opts : &defaults;
    int spec = c.opts->target ? (int)c.opts->target : p->spec_version;
    c.ios = mk_ir_ios_for_spec(spec);
    if (!c.ios) c.ios = 15;
    c.fp16_program = mk_lint_program_is_fp16(p);
    c.fp16 = c.fp16_program || c.opts->assume_fp16;
    c.out = f;
    for (int i = 0; i < p->n_functions; i++) {
        c.fn = p->functions[i];
        walk_block(&c, c.fn->block, c.fn->name);
    }
    c.fn = mk_ir_main(p);
    c.block = c.fn ? c.fn->name : "";
    for (int r = 0; r < LINT_MAX_RULE; r++) {
        if (!table[r].pcheck || !rule_on(&c, table[r].pub.id)) continue;
        c.rule = &table[r];
        table[r].pcheck(&c);
    }
    if (f->oom) {
        mk_arena_free(ar);
        return MK_OOM(err);
    }
    *out = f;
    return MK_OK;
}

/* ---- trigger helpers ---- */

const char *mk_lint_op_type(const mk_op *op)
{
    const mk_op_info *in = mk_ir_op_info(op->kind);
    return in ? in->name : "?";
}

int mk_lint_is_bound(const mk_op *op, const char *param)
{
    return mk_ir_arg(op, param) != NULL || mk_ir_attr(op, param) != NULL;
}

mk_dtype mk_lint_x_dtype(const mk_op *op)
{
    const mk_value *x = mk_ir_arg(op, "x");
    if (!x && op->n_inputs && op->inputs[0].n_args) x = op->inputs[0].args[0];
    if (!x && op->n_outputs) x = op->outputs[0];
    return x ? x->type.dtype : MK_DT_INVALID;
}
