/* Printing for the hazard linter: findings as text, JSON and SARIF 2.1.0 (cJSON, keys in
 * sorted order for stable output), the placement prediction (text or JSON) and the Graphviz
 * view of a program with findings and off-Neural-Engine ops coloured; and the program
 * `milkit convert` would write from an imported ONNX model, which lint judges. Composes
 * src/lint, src/passes and src/ir; holds no lint logic of its own. */
#include <cJSON.h>
#include <string.h>

#include "lint/lint_int.h"
#include "passes/passes_int.h"

mk_status mk_program_as_converted(const mk_program *src, const mk_pipeline_options *po,
                                  mk_target target, mk_program **out, mk_err *err)
{
    *out = NULL;
    mk_program *p = NULL;
    mk_status st;
    if (po->fix) {
        mk_fix_options fo;
        memset(&fo, 0, sizeof fo);
        fo.no_verify = 1;
        fo.assume_fp16 = po->fp16;
        st = mk_fix(src, &fo, &p, NULL, err);
        const mk_pass_info *fu = mk_pass_find("fuse_conv_batchnorm");
        if (st == MK_OK && fu && mk_pass_run(fu, p, err) < 0)
            st = err->code ? err->code : MK_EINTERNAL;
    } else {
        st = mk_program_clone(src, &p, err);
    }
    if (st == MK_OK && target != MK_TARGET_DEFAULT) {
        p->spec_version = (int)target;
        for (int i = 0; i < p->n_functions; i++)
            p->functions[i]->opset = mk_ir_opset_for_spec((int)target);
    }
    if (st == MK_OK && po->fp16 && mk_pass_fp16_ex(p, NULL, err) < 0)
        st = err->code ? err->code : MK_EINTERNAL;
    if (st == MK_OK && (po->int8_weights || po->weights)) { /* the code of `milkit compress` */
        mk_compress_options q8 = {.mode = MK_CMP_LINEAR, .bits = 8};
        mk_compress_report cr;
        const mk_compress_options *w = po->weights && po->weights->mode ? po->weights : &q8;
        if ((st = mk_compress(p, w, &cr, err)) == MK_OK) mk_compress_report_free(&cr);
    }
    if (st != MK_OK) {
        mk_program_free(p);
        return st;
    }
    *out = p;
    return MK_OK;
}

static const char *level(mk_severity s)
{
    return s == MK_SEV_ERROR ? "error" : s == MK_SEV_WARNING ? "warning" : "note";
}

static void write_text(const mk_findings *f, const char *artifact, FILE *out)
{
    int n[3] = {0, 0, 0};
    for (int i = 0; i < f->n; i++) {
        const mk_finding *x = &f->items[i];
        n[x->severity]++;
        fprintf(out, "%s: ", artifact ? artifact : "program");
        if (x->op_index >= 0)
            fprintf(out, "%s[%d] %s '%s': ", x->block, x->op_index, x->op_type, x->op_name);
        else
            fprintf(out, "%s: ", x->function);
        fprintf(out, "%s %s: %s [%s]\n", mk_severity_name(x->severity), x->rule, x->message,
                x->fix ? x->fix : "no safe rewrite");
    }
    fprintf(out, "%d finding%s: %d error%s, %d warning%s, %d info\n", f->n, f->n == 1 ? "" : "s",
            n[2], n[2] == 1 ? "" : "s", n[1], n[1] == 1 ? "" : "s", n[0]);
}

static cJSON *finding_json(const mk_finding *x)
{
    const mk_lint_rule *r = mk_lint_rule_find(x->rule);
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "block", x->block);
    cJSON_AddStringToObject(o, "category", r ? r->category : "");
    cJSON_AddStringToObject(o, "evidence", r ? r->evidence : "");
    if (x->fix)
        cJSON_AddStringToObject(o, "fix", x->fix);
    else
        cJSON_AddNullToObject(o, "fix");
    cJSON_AddStringToObject(o, "function", x->function);
    cJSON_AddStringToObject(o, "message", x->message);
    cJSON_AddNumberToObject(o, "op_index", x->op_index);
    cJSON_AddStringToObject(o, "op_name", x->op_name);
    cJSON_AddStringToObject(o, "op_type", x->op_type);
    cJSON_AddStringToObject(o, "rule", x->rule);
    cJSON_AddStringToObject(o, "severity", mk_severity_name(x->severity));
    cJSON_AddStringToObject(o, "title", r ? r->title : "");
    return o;
}

static cJSON *json_report(const mk_findings *f, const char *artifact)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = cJSON_CreateArray();
    if (!root || !arr) {
        cJSON_Delete(root);
        cJSON_Delete(arr);
        return NULL;
    }
    int n[3] = {0, 0, 0};
    cJSON_AddStringToObject(root, "artifact", artifact ? artifact : "");
    cJSON_AddItemToObject(root, "findings", arr);
    for (int i = 0; i < f->n; i++) {
        n[f->items[i].severity]++;
        cJSON_AddItemToArray(arr, finding_json(&f->items[i]));
    }
    cJSON *sum = cJSON_AddObjectToObject(root, "summary");
    cJSON_AddNumberToObject(sum, "errors", n[2]);
    cJSON_AddNumberToObject(sum, "info", n[0]);
    cJSON_AddNumberToObject(sum, "warnings", n[1]);
    cJSON_AddStringToObject(root, "tool", "milkit");
    cJSON_AddStringToObject(root, "version", MK_VERSION);
    return root;
}

static cJSON *sarif_report(const mk_findings *f, const char *artifact)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddStringToObject(root, "$schema", "https://json.schemastore.org/sarif-2.1.0.json");
    cJSON *runs = cJSON_AddArrayToObject(root, "runs");
    cJSON *run = cJSON_CreateObject();
    cJSON_AddItemToArray(runs, run);
    cJSON *results = cJSON_AddArrayToObject(run, "results");
    for (int i = 0; i < f->n; i++) {
        const mk_finding *x = &f->items[i];
        cJSON *r = cJSON_CreateObject();
        cJSON_AddItemToArray(results, r);
        cJSON_AddStringToObject(r, "level", level(x->severity));
        cJSON *locs = cJSON_AddArrayToObject(r, "locations");
        cJSON *loc = cJSON_CreateObject();
        cJSON_AddItemToArray(locs, loc);
        cJSON *ll = cJSON_AddArrayToObject(loc, "logicalLocations");
        cJSON *l = cJSON_CreateObject();
        cJSON_AddItemToArray(ll, l);
        char fq[1200];
        if (x->op_index >= 0)
            snprintf(fq, sizeof fq, "%s/%d:%s", x->block, x->op_index, x->op_name);
        else
            snprintf(fq, sizeof fq, "%s", x->function);
        cJSON_AddStringToObject(l, "fullyQualifiedName", fq);
        cJSON_AddStringToObject(l, "kind", x->op_index >= 0 ? "member" : "function");
        cJSON_AddStringToObject(l, "name", x->op_index >= 0 ? x->op_name : x->function);
        cJSON *ph = cJSON_AddObjectToObject(loc, "physicalLocation");
        cJSON *al = cJSON_AddObjectToObject(ph, "artifactLocation");
        cJSON_AddStringToObject(al, "uri", artifact ? artifact : "model");
        cJSON *msg = cJSON_AddObjectToObject(r, "message");
        char text[1400];
        snprintf(text, sizeof text, "%s%s%s: %s [%s]", x->op_type, x->op_index >= 0 ? " " : "",
                 x->op_name, x->message, x->fix ? x->fix : "no safe rewrite");
        cJSON_AddStringToObject(msg, "text", text);
        cJSON_AddStringToObject(r, "ruleId", x->rule);
        int idx = -1;
        for (int k = 0; k < mk_lint_rule_count(); k++)
            if (!strcmp(mk_lint_rule_at(k)->id, x->rule)) idx = k;
        cJSON_AddNumberToObject(r, "ruleIndex", idx);
    }
    cJSON *tool = cJSON_AddObjectToObject(run, "tool");
    cJSON *drv = cJSON_AddObjectToObject(tool, "driver");
    cJSON_AddStringToObject(drv, "informationUri", "https://github.com/milkit/milkit");
    cJSON_AddStringToObject(drv, "name", "milkit");
    cJSON *rules = cJSON_AddArrayToObject(drv, "rules");
    for (int k = 0; k < mk_lint_rule_count(); k++) {
        const mk_lint_rule *r = mk_lint_rule_at(k);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(rules, o);
        cJSON *dc = cJSON_AddObjectToObject(o, "defaultConfiguration");
        cJSON_AddStringToObject(dc, "level", level(r->severity));
        cJSON *fd = cJSON_AddObjectToObject(o, "fullDescription");
        char text[600];
        snprintf(text, sizeof text, "%s (%s; compute units: %s). Fix: %s.", r->title, r->category,
                 r->units, r->fix ? r->fix : "no safe rewrite");
        cJSON_AddStringToObject(fd, "text", text);
        cJSON_AddStringToObject(o, "helpUri", r->evidence);
        cJSON_AddStringToObject(o, "id", r->id);
        cJSON_AddStringToObject(o, "name", r->id);
        cJSON *pr = cJSON_AddObjectToObject(o, "properties");
        cJSON_AddStringToObject(pr, "category", r->category);
        cJSON *sd = cJSON_AddObjectToObject(o, "shortDescription");
        cJSON_AddStringToObject(sd, "text", r->title);
    }
    cJSON_AddStringToObject(drv, "version", MK_VERSION);
    cJSON_AddStringToObject(root, "version", "2.1.0");
    return root;
}

mk_status mk_findings_write(const mk_findings *f, const char *artifact, mk_format fmt, FILE *out,
                            mk_err *err)
{
    if (!f || !out) return mk_err_set(err, MK_EINVAL, "findings: nothing to write");
    if (fmt == MK_FORMAT_TEXT) {
        write_text(f, artifact, out);
        return MK_OK;
    }
    cJSON *root = fmt == MK_FORMAT_SARIF ? sarif_report(f, artifact) : json_report(f, artifact);
    char *s = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!s) return MK_OOM(err);
    fprintf(out, "%s\n", s);
    cJSON_free(s);
    return ferror(out) ? mk_err_set(err, MK_EIO, "findings: write failed") : MK_OK;
}

/* ---- placement ---- */

typedef struct seg {
    int off, first, n;
    const char *why; /* reason of its first op (off segments) */
} seg;

mk_status mk_placement_write(const mk_program *p, FILE *out, int json, mk_placement_summary *sum,
                             mk_err *err)
{
    mk_placement_summary s = {0, 0, 0, 0};
    const mk_function *f = mk_ir_main(p);
    if (!f) return mk_err_set(err, MK_EINVAL, "placement: the program has no function");
    int fp16 = mk_lint_program_is_fp16(p);
    int n = 0;
    MK_FOR_OPS(f->block, op) n += !mk_lint_is_weight_op(op);
    const mk_op **ops = mk_calloc(p->alloc, (size_t)(n ? n : 1), sizeof *ops);
    char(*why)[160] = mk_calloc(p->alloc, (size_t)(n ? n : 1), sizeof *why);
    seg *segs = mk_calloc(p->alloc, (size_t)(n ? n : 1), sizeof *segs);
    int *seg_of = mk_calloc(p->alloc, (size_t)(n ? n : 1), sizeof *seg_of);
    mk_strmap where;
    mk_strmap_init(&where, p->alloc);
    mk_status st = MK_OK;
    if (!ops || !why || !segs || !seg_of) {
        st = MK_OOM(err);
        goto done;
    }
    int i = 0;
    MK_FOR_OPS(f->block, op)
    {
        if (mk_lint_is_weight_op(op)) continue;
        ops[i] = op;
        char buf[160];
        const char *r = mk_lint_off_ne_reason(op, fp16, buf, sizeof buf);
        if (r) snprintf(why[i], sizeof why[i], "%s", r);
        int off = r != NULL;
        s.n_off_ne += off;
        if (!s.n_segments || segs[s.n_segments - 1].off != off) {
            segs[s.n_segments].off = off;
            segs[s.n_segments].first = i;
            segs[s.n_segments].why = off ? why[i] : NULL;
            s.n_segments++;
        }
        segs[s.n_segments - 1].n++;
        seg_of[i] = s.n_segments - 1;
        for (int k = 0; k < op->n_outputs; k++)
            if (!mk_strmap_put(&where, op->outputs[k]->name, &seg_of[i])) {
                st = MK_OOM(err);
                goto done;
            }
        i++;
    }
    s.n_ops = n;
    cJSON *root = json ? cJSON_CreateObject() : NULL, *jsegs = NULL;
    if (json) {
        cJSON_AddStringToObject(root, "basis",
                                "prediction from published evidence "
                                "(hazards.md Table 2, H4, H5, H18-H21, H29, H34), "
                                "not a measurement");
        jsegs = cJSON_AddArrayToObject(root, "segments");
    } else if (out) {
        fprintf(out, "placement prediction (from published evidence: hazards.md Table 2, H4, H5, "
                     "H18-H21, H29, H34; not a measurement)\n");
    }
    for (int g = 0; g < s.n_segments; g++) {
        seg *sg = &segs[g];
        char bnd[1024] = "";
        size_t bl = 0;
        int nb = 0;
        for (int k = sg->first; k < sg->first + sg->n; k++) {
            const mk_op *op = ops[k];
            for (int a = 0; a < op->n_inputs; a++)
                for (int j = 0; j < op->inputs[a].n_args; j++) {
                    const mk_value *v = op->inputs[a].args[j];
                    const int *sv = v->name ? mk_strmap_get(&where, v->name) : NULL;
                    if (!sv || *sv == g) continue;
                    nb++;
                    if (bl < sizeof bnd - 80) {
                        int w =
                            snprintf(bnd + bl, sizeof bnd - bl, "%s%s", bl ? ", " : "", v->name);
                        if (w > 0) bl += (size_t)w;
                    }
                }
        }
        s.n_boundary += nb;
        const mk_op *o0 = ops[sg->first];
        if (json) {
            cJSON *js = cJSON_CreateObject();
            cJSON_AddItemToArray(jsegs, js);
            cJSON_AddStringToObject(js, "boundary_inputs", bnd);
            cJSON_AddNumberToObject(js, "first_op", sg->first);
            cJSON_AddStringToObject(js, "first_op_name", o0->name ? o0->name : "");
            cJSON_AddNumberToObject(js, "n_ops", sg->n);
            cJSON_AddStringToObject(js, "reason", sg->why ? sg->why : "");
            cJSON_AddStringToObject(js, "unit", sg->off ? "CPU/GPU" : "NE");
        } else if (out) {
            fprintf(out, "  segment %d: %-7s ops %d-%d (%d op%s) from %s '%s'", g + 1,
                    sg->off ? "CPU/GPU" : "NE", sg->first, sg->first + sg->n - 1, sg->n,
                    sg->n == 1 ? "" : "s", mk_lint_op_type(o0), o0->name ? o0->name : "");
            if (sg->why) fprintf(out, ": %s", sg->why);
            if (nb) fprintf(out, "; inputs from other segments: %s", bnd);
            fputc('\n', out);
        }
    }
    if (json) {
        cJSON_AddNumberToObject(root, "n_boundary", s.n_boundary);
        cJSON_AddNumberToObject(root, "n_off_ne", s.n_off_ne);
        cJSON_AddNumberToObject(root, "n_ops", s.n_ops);
        cJSON_AddNumberToObject(root, "n_segments", s.n_segments);
        char *txt = cJSON_Print(root);
        if (txt && out) fprintf(out, "%s\n", txt);
        cJSON_free(txt);
        cJSON_Delete(root);
    } else if (out) {
        fprintf(out,
                "  %d compute ops, %d predicted off the Neural Engine, %d segment%s, %d "
                "boundary tensor%s\n",
                s.n_ops, s.n_off_ne, s.n_segments, s.n_segments == 1 ? "" : "s", s.n_boundary,
                s.n_boundary == 1 ? "" : "s");
    }
done:
    mk_strmap_free(&where);
    mk_free(p->alloc, ops, (size_t)(n ? n : 1) * sizeof *ops);
    mk_free(p->alloc, why, (size_t)(n ? n : 1) * sizeof *why);
    mk_free(p->alloc, segs, (size_t)(n ? n : 1) * sizeof *segs);
    mk_free(p->alloc, seg_of, (size_t)(n ? n : 1) * sizeof *seg_of);
    if (sum) *sum = s;
    return st;
}

/* ---- Graphviz ---- */

static void dot_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; s && *s; s++) {
        if (*s == '\n') {
            fputs("\\n", out);
            continue;
        }
        if (*s == '"' || *s == '\\') fputc('\\', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

mk_status mk_program_dot(const mk_program *p, const mk_findings *f, FILE *out, mk_err *err)
{
    const mk_function *fn = mk_ir_main(p);
    if (!fn) return mk_err_set(err, MK_EINVAL, "graph: the program has no function");
    int fp16 = mk_lint_program_is_fp16(p);
    fprintf(out, "digraph milkit {\n  rankdir=TB;\n  node [shape=box, fontname=\"Helvetica\", "
                 "fontsize=10];\n");
    fprintf(out, "  legend [shape=note, label=\"red/orange/blue border: error/warning/info "
                 "finding\\ngrey fill: predicted off the Neural Engine (prediction from "
                 "published evidence, not a measurement)\"];\n");
    for (int i = 0; i < fn->n_inputs; i++) {
        fprintf(out, "  ");
        dot_str(out, fn->inputs[i]->name);
        fprintf(out, " [shape=ellipse];\n");
    }
    int n = 0, idx = 0;
    MK_FOR_OPS(fn->block, op) n += !mk_lint_is_weight_op(op);
    int *num = mk_calloc(p->alloc, (size_t)(n ? n : 1), sizeof *num);
    mk_strmap ids;
    mk_strmap_init(&ids, p->alloc);
    if (!num) return MK_OOM(err);
    MK_FOR_OPS(fn->block, op)
    {
        if (mk_lint_is_weight_op(op)) continue;
        num[idx] = idx;
        for (int k = 0; k < op->n_outputs; k++)
            if (!mk_strmap_put(&ids, op->outputs[k]->name, &num[idx])) {
                mk_strmap_free(&ids);
                mk_free(p->alloc, num, (size_t)(n ? n : 1) * sizeof *num);
                return MK_OOM(err);
            }
        idx++;
    }
    idx = 0;
    MK_FOR_OPS(fn->block, op)
    {
        if (mk_lint_is_weight_op(op)) continue;
        char rules[200] = "";
        size_t rl = 0;
        int worst = -1;
        for (int k = 0; f && k < f->n; k++) {
            const mk_finding *x = &f->items[k];
            if (x->op_index < 0 || strcmp(x->block, fn->name) || !op->name ||
                strcmp(x->op_name, op->name))
                continue;
            if ((int)x->severity > worst) worst = (int)x->severity;
            if (rl < sizeof rules - 8) {
                int w = snprintf(rules + rl, sizeof rules - rl, "%s%s", rl ? "," : "", x->rule);
                if (w > 0) rl += (size_t)w;
            }
        }
        char buf[160];
        const char *off = mk_lint_off_ne_reason(op, fp16, buf, sizeof buf);
        char label[600];
        snprintf(label, sizeof label, "%s\n%s%s%s%s%s", op->name ? op->name : "?",
                 mk_lint_op_type(op), rl ? "\n" : "", rules, off ? "\noff NE: " : "",
                 off ? off : "");
        fprintf(out, "  op%d [label=", idx);
        dot_str(out, label);
        if (worst >= 0)
            fprintf(out, ", color=%s, penwidth=2",
                    worst == MK_SEV_ERROR     ? "red"
                    : worst == MK_SEV_WARNING ? "orange"
                                              : "blue");
        if (off) fprintf(out, ", style=filled, fillcolor=grey80");
        fprintf(out, "];\n");
        for (int a = 0; a < op->n_inputs; a++)
            for (int j = 0; j < op->inputs[a].n_args; j++) {
                const mk_value *v = op->inputs[a].args[j];
                if (!v->name || (v->producer && mk_lint_is_weight_op(v->producer))) continue;
                if (v->cst && !v->producer) continue;
                if (v->producer) {
                    const int *pi = mk_strmap_get(&ids, v->name);
                    if (!pi) continue;
                    fprintf(out, "  op%d -> op%d;\n", *pi, idx);
                } else {
                    fprintf(out, "  ");
                    dot_str(out, v->name);
                    fprintf(out, " -> op%d;\n", idx);
                }
            }
        idx++;
    }
    fprintf(out, "}\n");
    mk_strmap_free(&ids);
    mk_free(p->alloc, num, (size_t)(n ? n : 1) * sizeof *num);
    return ferror(out) ? mk_err_set(err, MK_EIO, "graph: write failed") : MK_OK;
}
