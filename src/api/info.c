/* `milkit info`: a program's target, inputs and outputs (with flexible shapes), op
 * histogram, constant counts and bytes split inline / weight.bin, and metadata, as text
 * or JSON (cJSON). Reads the IR only. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"

typedef struct stats {
    int counts[MK_OP__COUNT];
    long n_ops;
    long n_inline, n_blob;
    unsigned long long inline_bytes, blob_bytes;
} stats;

static void count_const(const mk_program *p, const mk_value *v, stats *s)
{
    size_t nb = 0;
    if (!v || !v->cst || !mk_type_nbytes(&v->type, &nb)) return;
    if (mk_ir_const_in_blob(p->spec_version, &v->type, v->cst)) {
        s->n_blob++;
        s->blob_bytes += nb;
    } else {
        s->n_inline++;
        s->inline_bytes += nb;
    }
}

static void gather(const mk_program *p, const mk_block *b, stats *s)
{
    MK_FOR_OPS(b, op)
    {
        s->counts[op->kind]++;
        s->n_ops++;
        for (int i = 0; i < op->n_attrs; i++) count_const(p, op->attrs[i].value, s);
        for (int i = 0; i < op->n_inputs; i++)
            for (int j = 0; j < op->inputs[i].n_args; j++)
                if (op->inputs[i].args[j]->is_inline) count_const(p, op->inputs[i].args[j], s);
        for (int i = 0; i < op->n_blocks; i++) gather(p, op->blocks[i], s);
    }
}

static const char *target_name(int spec)
{
    static const char *const names[] = {"iOS15", "iOS16", "iOS17", "iOS18"};
    return spec >= 6 && spec <= 9 ? names[spec - 6] : "unknown";
}

static void shape_str(const mk_feature *ft, char *buf, size_t n)
{
    size_t off = 0;
    off += (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ft->rank && off < n; i++) {
        int w;
        if (ft->flex == MK_FLEX_RANGE && ft->range_lo[i] != ft->range_hi[i]) {
            if (ft->range_hi[i] < 0)
                w = snprintf(buf + off, n - off, "%s%lld..", i ? ", " : "",
                             (long long)ft->range_lo[i]);
            else
                w = snprintf(buf + off, n - off, "%s%lld..%lld", i ? ", " : "",
                             (long long)ft->range_lo[i], (long long)ft->range_hi[i]);
        } else if (ft->shape[i] < 0) {
            w = snprintf(buf + off, n - off, "%s?", i ? ", " : "");
        } else {
            w = snprintf(buf + off, n - off, "%s%lld", i ? ", " : "", (long long)ft->shape[i]);
        }
        if (w < 0) break;
        off += (size_t)w;
    }
    if (off < n) snprintf(buf + off, n - off, "]");
}

typedef struct hist_entry {
    int kind, count;
} hist_entry;

static int hist_cmp(const void *a, const void *b)
{
    const hist_entry *x = a, *y = b;
    if (x->count != y->count) return y->count - x->count;
    return strcmp(mk_ir_op_info((mk_op_kind)x->kind)->name,
                  mk_ir_op_info((mk_op_kind)y->kind)->name);
}

static int histogram(const stats *s, hist_entry *h)
{
    int n = 0;
    for (int k = 0; k < MK_OP__COUNT; k++)
        if (s->counts[k]) h[n++] = (hist_entry){k, s->counts[k]};
    qsort(h, (size_t)n, sizeof *h, hist_cmp);
    return n;
}

static cJSON *features_json(const mk_feature *fs, int n)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < n; i++) {
        const mk_feature *ft = &fs[i];
        cJSON *o = cJSON_CreateObject(), *shape = cJSON_CreateArray();
        cJSON_AddStringToObject(o, "name", ft->name);
        cJSON_AddStringToObject(o, "dtype",
                                mk_dtype_name(ft->dtype) ? mk_dtype_name(ft->dtype) : "?");
        for (int d = 0; d < ft->rank; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)ft->shape[d]));
        cJSON_AddItemToObject(o, "shape", shape);
        if (ft->dict_key) cJSON_AddStringToObject(o, "dict_key", mk_dtype_name(ft->dict_key));
        if (ft->flex == MK_FLEX_RANGE) {
            cJSON *r = cJSON_CreateArray();
            for (int d = 0; d < ft->rank; d++) {
                cJSON *pair = cJSON_CreateArray();
                cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)ft->range_lo[d]));
                cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)ft->range_hi[d]));
                cJSON_AddItemToArray(r, pair);
            }
            cJSON_AddItemToObject(o, "shape_range", r);
        } else if (ft->flex == MK_FLEX_ENUMERATED) {
            cJSON *en = cJSON_CreateArray();
            for (int k = 0; k < ft->n_enumerated; k++) {
                cJSON *sh = cJSON_CreateArray();
                for (int d = 0; d < ft->rank; d++)
                    cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)ft->enumerated[k][d]));
                cJSON_AddItemToArray(en, sh);
            }
            cJSON_AddItemToObject(o, "enumerated_shapes", en);
        }
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static mk_status info_json(const mk_program *p, const stats *s, FILE *f, mk_err *e)
{
    hist_entry h[MK_OP__COUNT];
    int nh = histogram(s, h);
    cJSON *root = cJSON_CreateObject();
    if (!root) return MK_OOM(e);
    cJSON_AddNumberToObject(root, "specification_version", p->spec_version);
    cJSON_AddStringToObject(root, "target", target_name(p->spec_version));
    const mk_function *fn = mk_ir_main(p);
    cJSON_AddStringToObject(root, "opset", fn && fn->opset ? fn->opset : "?");
    cJSON_AddNumberToObject(root, "functions", p->n_functions);
    cJSON_AddItemToObject(root, "inputs", features_json(p->inputs, p->n_inputs));
    cJSON_AddItemToObject(root, "outputs", features_json(p->outputs, p->n_outputs));
    if (p->n_states) cJSON_AddItemToObject(root, "states", features_json(p->states, p->n_states));
    if (p->n_fdescs) {
        cJSON *fl = cJSON_CreateArray();
        for (int i = 0; i < p->n_fdescs; i++) {
            const mk_fdesc *d = &p->fdescs[i];
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", d->name);
            cJSON_AddBoolToObject(o, "default", fn && strcmp(d->name, fn->name) == 0);
            cJSON_AddItemToObject(o, "inputs", features_json(d->inputs, d->n_inputs));
            cJSON_AddItemToObject(o, "outputs", features_json(d->outputs, d->n_outputs));
            cJSON_AddItemToObject(o, "states", features_json(d->states, d->n_states));
            cJSON_AddItemToArray(fl, o);
        }
        cJSON_AddItemToObject(root, "function_list", fl);
    }
    cJSON_AddNumberToObject(root, "ops", (double)s->n_ops);
    cJSON *hist = cJSON_CreateObject();
    for (int i = 0; i < nh; i++)
        cJSON_AddNumberToObject(hist, mk_ir_op_info((mk_op_kind)h[i].kind)->name, h[i].count);
    cJSON_AddItemToObject(root, "op_histogram", hist);
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "inline_count", (double)s->n_inline);
    cJSON_AddNumberToObject(c, "inline_bytes", (double)s->inline_bytes);
    cJSON_AddNumberToObject(c, "blob_count", (double)s->n_blob);
    cJSON_AddNumberToObject(c, "blob_bytes", (double)s->blob_bytes);
    cJSON_AddItemToObject(root, "constants", c);
    cJSON *meta = cJSON_CreateObject();
    if (p->author) cJSON_AddStringToObject(meta, "author", p->author);
    if (p->license) cJSON_AddStringToObject(meta, "license", p->license);
    if (p->short_description) cJSON_AddStringToObject(meta, "description", p->short_description);
    if (p->version_string) cJSON_AddStringToObject(meta, "version", p->version_string);
    for (int i = 0; i < p->n_user_meta; i++)
        cJSON_AddStringToObject(meta, p->user_meta[i].key, p->user_meta[i].value);
    cJSON_AddItemToObject(root, "metadata", meta);
    char *txt = cJSON_Print(root);
    cJSON_Delete(root);
    if (!txt) return MK_OOM(e);
    fprintf(f, "%s\n", txt);
    cJSON_free(txt);
    return MK_OK;
}

static void print_features(FILE *f, const char *title, const mk_feature *fs, int n)
{
    fprintf(f, "%s:\n", title);
    for (int i = 0; i < n; i++) {
        char sh[512];
        shape_str(&fs[i], sh, sizeof sh);
        fprintf(f, "  %-24s %-6s %s", fs[i].name,
                mk_dtype_name(fs[i].dtype) ? mk_dtype_name(fs[i].dtype) : "?", sh);
        if (fs[i].flex == MK_FLEX_RANGE) fputs("  (flexible: range)", f);
        if (fs[i].flex == MK_FLEX_ENUMERATED) {
            fprintf(f, "  (flexible: %d enumerated shapes:", fs[i].n_enumerated);
            for (int k = 0; k < fs[i].n_enumerated && k < 8; k++)
                for (int d = 0; d < fs[i].rank; d++)
                    fprintf(f, "%s%lld%s", d ? ", " : " [", (long long)fs[i].enumerated[k][d],
                            d + 1 == fs[i].rank ? "]" : "");
            fputs(fs[i].n_enumerated > 8 ? " ...)" : ")", f);
        }
        if (fs[i].dict_key)
            fprintf(f, "  (dictionary: %s -> probability)", mk_dtype_name(fs[i].dict_key));
        if (fs[i].is_optional) fputs("  (optional)", f);
        fputc('\n', f);
    }
}

mk_status mk_program_info(const mk_program *p, FILE *f, int json, mk_err *e)
{
    stats *s = mk_calloc(p->alloc, 1, sizeof *s);
    if (!s) return MK_OOM(e);
    for (int i = 0; i < p->n_functions; i++) gather(p, p->functions[i]->block, s);
    mk_status st = MK_OK;
    if (json) {
        st = info_json(p, s, f, e);
    } else {
        const mk_function *fn = mk_ir_main(p);
        fprintf(f, "specification version %d (%s, opset %s)\n", p->spec_version,
                target_name(p->spec_version), fn && fn->opset ? fn->opset : "?");
        if (p->n_functions > 1) fprintf(f, "functions: %d\n", p->n_functions);
        for (int i = 0; i < p->n_fdescs; i++) {
            const mk_fdesc *d = &p->fdescs[i];
            fprintf(f, "function %s%s\n", d->name,
                    fn && strcmp(d->name, fn->name) == 0 ? " (default)" : "");
            print_features(f, "inputs", d->inputs, d->n_inputs);
            print_features(f, "outputs", d->outputs, d->n_outputs);
            if (d->n_states) print_features(f, "states", d->states, d->n_states);
        }
        if (!p->n_fdescs) {
            print_features(f, "inputs", p->inputs, p->n_inputs);
            print_features(f, "outputs", p->outputs, p->n_outputs);
            if (p->n_states) print_features(f, "states", p->states, p->n_states);
        }
        hist_entry h[MK_OP__COUNT];
        int nh = histogram(s, h);
        fprintf(f, "ops: %ld\n", s->n_ops);
        for (int i = 0; i < nh; i++)
            fprintf(f, "  %-32s %d\n", mk_ir_op_info((mk_op_kind)h[i].kind)->name, h[i].count);
        fprintf(f, "constants: %ld inline (%llu bytes), %ld in weight.bin (%llu bytes)\n",
                s->n_inline, s->inline_bytes, s->n_blob, s->blob_bytes);
        if (p->author) fprintf(f, "author: %s\n", p->author);
        if (p->license) fprintf(f, "license: %s\n", p->license);
        if (p->short_description) fprintf(f, "description: %s\n", p->short_description);
        if (p->version_string) fprintf(f, "version: %s\n", p->version_string);
        for (int i = 0; i < p->n_user_meta; i++)
            fprintf(f, "metadata %s: %s\n", p->user_meta[i].key, p->user_meta[i].value);
    }
    mk_free(p->alloc, s, sizeof *s);
    if (st == MK_OK && ferror(f)) st = mk_err_set(e, MK_EIO, "write error");
    return st;
}

int mk_program_spec_version(const mk_program *p)
{
    return p->spec_version;
}

static int block_computes_fp16(const mk_block *b)
{
    MK_FOR_OPS(b, op)
    {
        if (op->kind != MK_OP_CONST)
            for (int i = 0; i < op->n_outputs; i++)
                if (op->outputs[i]->type.dtype == MK_DT_FP16) return 1;
        for (int i = 0; i < op->n_blocks; i++)
            if (block_computes_fp16(op->blocks[i])) return 1;
    }
    return 0;
}

int mk_program_computes_fp16(const mk_program *p)
{
    for (int i = 0; i < p->n_functions; i++)
        if (block_computes_fp16(p->functions[i]->block)) return 1;
    return 0;
}

/* ---- an ONNX file's declared inputs and outputs (symbolic dims by name) ---- */
static void decl_shape(const mk_io_decl *d, char *buf, size_t n)
{
    size_t o = (size_t)snprintf(buf, n, d->rank < 0 ? "unknown shape" : "[");
    for (int i = 0; i < d->rank && o < n; i++) {
        if (d->dims[i] >= 0)
            o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? ", " : "", (long long)d->dims[i]);
        else
            o += (size_t)snprintf(buf + o, n - o, "%s%s", i ? ", " : "",
                                  d->dim_names[i] ? d->dim_names[i] : "?");
    }
    if (d->rank >= 0 && o < n) snprintf(buf + o, n - o, "]");
}

static cJSON *decls_json(const mk_io_decl *ds, int n)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < n; i++) {
        const mk_io_decl *d = &ds[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", d->name);
        const char *dt = d->dtype ? mk_dtype_name((mk_dtype)d->dtype) : NULL;
        cJSON_AddStringToObject(o, "dtype", dt ? dt : "?");
        if (d->rank >= 0) {
            cJSON *shape = cJSON_CreateArray();
            for (int k = 0; k < d->rank; k++)
                cJSON_AddItemToArray(
                    shape, d->dims[k] >= 0
                               ? cJSON_CreateNumber((double)d->dims[k])
                               : cJSON_CreateString(d->dim_names[k] ? d->dim_names[k] : "?"));
            cJSON_AddItemToObject(o, "shape", shape);
        } else {
            cJSON_AddNullToObject(o, "shape");
        }
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

mk_status mk_onnx_info(const char *path, FILE *f, int json, const char *note, mk_err *e)
{
    mk_io_decls d;
    mk_status st = mk_onnx_describe(path, &d, e);
    if (st) return st;
    if (json) {
        cJSON *root = cJSON_CreateObject();
        if (!root) {
            mk_io_decls_free(&d);
            return MK_OOM(e);
        }
        cJSON_AddStringToObject(root, "format", "onnx");
        cJSON_AddNumberToObject(root, "onnx_opset", d.opset);
        cJSON_AddNumberToObject(root, "onnx_nodes", (double)d.n_nodes);
        cJSON_AddItemToObject(root, "inputs", decls_json(d.inputs, d.n_inputs));
        cJSON_AddItemToObject(root, "outputs", decls_json(d.outputs, d.n_outputs));
        if (note) cJSON_AddStringToObject(root, "not_converted", note);
        char *txt = cJSON_Print(root);
        cJSON_Delete(root);
        if (txt) fprintf(f, "%s\n", txt);
        cJSON_free(txt);
        if (!txt) st = MK_OOM(e);
    } else {
        fprintf(f, "ONNX model, opset %d, %ld nodes (as declared, not converted)\n", d.opset,
                d.n_nodes);
        for (int l = 0; l < 2; l++) {
            const mk_io_decl *ds = l ? d.outputs : d.inputs;
            fprintf(f, "%s:\n", l ? "outputs" : "inputs");
            for (int i = 0; i < (l ? d.n_outputs : d.n_inputs); i++) {
                char sh[512];
                const char *dt = ds[i].dtype ? mk_dtype_name((mk_dtype)ds[i].dtype) : NULL;
                decl_shape(&ds[i], sh, sizeof sh);
                fprintf(f, "  %-24s %-6s %s\n", ds[i].name, dt ? dt : "?", sh);
            }
        }
        if (note) fprintf(f, "not converted: %s\n", note);
    }
    mk_io_decls_free(&d);
    if (st == MK_OK && ferror(f)) st = mk_err_set(e, MK_EIO, "write error");
    return st;
}
