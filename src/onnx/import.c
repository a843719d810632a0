/* ONNX import driver: opset checks, initializers, graph inputs (--shape overrides and
 * flexible ranges, --bind constants, int64 -> int32, scalars -> [1]), a pre-scan that lists
 * every unsupported node before anything is lowered, node-by-node lowering with constant
 * folding, graph outputs with their ONNX names, and the model description. The per-op
 * lowerings live in lower_*.c; the table in table.c. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_int.h"

/* ---- --shape / --bind parsing ---- */
#define OX_ENUM_MAX 16    /* values of one enumerated dim */
#define OX_ENUM_SHAPES 64 /* enumerated shapes of one input (the product of its dims') */
typedef struct shape_spec {
    const char *name;
    int rank;
    int64_t lo[MK_MAX_RANK], hi[MK_MAX_RANK]; /* hi == lo for fixed dims; hi -1 unbounded */
    int n_enum[MK_MAX_RANK];                  /* > 0: the dim is one of enums[i][0..n) */
    int64_t enums[MK_MAX_RANK][OX_ENUM_MAX];
} shape_spec;

static mk_status parse_shape(ox_ctx *c, const char *s, shape_spec *out)
{
    const char *eq = strchr(s, '=');
    if (!eq || eq == s)
        return mk_err_set(c->err, MK_EINVAL, "--shape '%s': expected name=d0,d1,...", s);
    out->name = mk_arena_strndup(c->p->arena, s, (size_t)(eq - s));
    if (!out->name) return fail(c);
    out->rank = 0;
    const char *p = eq + 1;
    while (*p) {
        if (out->rank == MK_MAX_RANK)
            return mk_err_set(c->err, MK_EINVAL, "--shape '%s': more than %d dims", s, MK_MAX_RANK);
        char *end;
        errno = 0;
        out->n_enum[out->rank] = 0;
        if (*p == '[') {
            /* enumerated: [224|288|384] */
            int k = 0;
            int64_t mn = INT32_MAX, mx = 0;
            do {
                p++;
                long long v = strtoll(p, &end, 10);
                if (end == p || errno || v < 0 || v > INT32_MAX || k == OX_ENUM_MAX)
                    return mk_err_set(c->err, MK_EINVAL,
                                      "--shape '%s': bad enumerated dim at '%s' (at most %d "
                                      "values)",
                                      s, p, OX_ENUM_MAX);
                out->enums[out->rank][k++] = v;
                mn = v < mn ? v : mn;
                mx = v > mx ? v : mx;
                p = end;
            } while (*p == '|');
            if (*p != ']' || k < 2)
                return mk_err_set(c->err, MK_EINVAL,
                                  "--shape '%s': expected [a|b|...] with two or more values", s);
            p++;
            out->n_enum[out->rank] = k;
            out->lo[out->rank] = mn;
            out->hi[out->rank] = mx;
            out->rank++;
            if (*p == ',')
                p++;
            else if (*p)
                return mk_err_set(c->err, MK_EINVAL, "--shape '%s': bad text at '%s'", s, p);
            continue;
        }
        long long lo = strtoll(p, &end, 10), hi;
        if (end == p || errno || lo < 0 || lo > INT32_MAX)
            return mk_err_set(c->err, MK_EINVAL, "--shape '%s': bad dim at '%s'", s, p);
        hi = lo;
        p = end;
        if (p[0] == '.' && p[1] == '.') {
            p += 2;
            if (*p == ',' || !*p) {
                hi = -1;
            } else {
                hi = strtoll(p, &end, 10);
                if (end == p || errno || hi < lo || hi > INT32_MAX)
                    return mk_err_set(c->err, MK_EINVAL, "--shape '%s': bad range at '%s'", s, p);
                p = end;
            }
        }
        out->lo[out->rank] = lo;
        out->hi[out->rank] = hi;
        out->rank++;
        if (*p == ',')
            p++;
        else if (*p)
            return mk_err_set(c->err, MK_EINVAL, "--shape '%s': bad text at '%s'", s, p);
    }
    int ranges = 0, enums = 0;
    size_t combos = 1;
    for (int i = 0; i < out->rank; i++) {
        ranges |= !out->n_enum[i] && out->hi[i] != out->lo[i];
        enums |= out->n_enum[i] > 0;
        if (out->n_enum[i]) combos *= (size_t)out->n_enum[i];
        if (combos > OX_ENUM_SHAPES)
            return mk_err_set(c->err, MK_EINVAL, "--shape '%s': more than %d enumerated shapes", s,
                              OX_ENUM_SHAPES);
    }
    if (ranges && enums)
        return mk_err_set(c->err, MK_EINVAL,
                          "--shape '%s': ranges and enumerated dims cannot be mixed in one input "
                          "(Core ML keeps one kind of flexibility per input)",
                          s);
    return MK_OK;
}

/* The enumerated shapes of sp (the product of its enumerated dims, first values first) into
 * f; returns the count. */
static int enum_shapes(ox_ctx *c, const shape_spec *sp, mk_feature *f)
{
    int n = 1;
    for (int i = 0; i < sp->rank; i++)
        if (sp->n_enum[i]) n *= sp->n_enum[i];
    f->enumerated = mk_arena_array(c->p->arena, (size_t)n, sizeof *f->enumerated);
    if (!f->enumerated) return -1;
    for (int k = 0; k < n; k++) {
        int rest = k;
        for (int i = sp->rank - 1; i >= 0; i--) {
            if (!sp->n_enum[i]) {
                f->enumerated[k][i] = sp->lo[i];
                continue;
            }
            f->enumerated[k][i] = sp->enums[i][rest % sp->n_enum[i]];
            rest /= sp->n_enum[i];
        }
    }
    f->n_enumerated = n;
    f->flex = MK_FLEX_ENUMERATED;
    return n;
}

/* ---- opset ---- */
static int default_opset(const Onnx__ModelProto *m)
{
    int v = -1;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        if (!o->domain || !*o->domain || strcmp(o->domain, "ai.onnx") == 0)
            v = o->has_version ? (int)(o->version > 1000 ? 1000 : o->version) : 1;
    }
    return v;
}

/* ---- the pre-scan ---- */
static int domain_ok(const Onnx__NodeProto *n)
{
    return !n->domain || !*n->domain || strcmp(n->domain, "ai.onnx") == 0;
}

/* Before opset 7 some ops had other semantics (legacy broadcasting, spatial/is_test
 * attributes, Concat's default axis...). Models of opsets 1..6 convert when every node is one
 * of these ops, whose meaning for inference is the same as in opset 7 and later. */
static int same_before_opset7(const char *op)
{
    static const char *const ok[] = {"Abs",           "ArgMax",
                                     "ArgMin",        "Ceil",
                                     "Elu",           "Exp",
                                     "Floor",         "GlobalAveragePool",
                                     "GlobalMaxPool", "HardSigmoid",
                                     "Identity",      "InstanceNormalization",
                                     "LeakyRelu",     "Log",
                                     "LogSoftmax",    "Neg",
                                     "Not",           "Reciprocal",
                                     "ReduceL1",      "ReduceL2",
                                     "ReduceLogSum",  "ReduceLogSumExp",
                                     "ReduceMax",     "ReduceMean",
                                     "ReduceMin",     "ReduceProd",
                                     "ReduceSum",     "ReduceSumSquare",
                                     "Relu",          "Selu",
                                     "Sigmoid",       "Softmax",
                                     "Softplus",      "Softsign",
                                     "Sqrt",          "Tanh",
                                     "Transpose"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        if (strcmp(op, ok[i]) == 0) return 1;
    return 0;
}

static void prescan(ox_ctx *c, const Onnx__GraphProto *g, int depth)
{
    if (depth > 16) return;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        c->n_nodes_total++;
        if (!n->op_type) {
            mk_onnx_unsupported(c, n, "node without op_type");
            continue;
        }
        if (!domain_ok(n)) {
            mk_onnx_unsupported(c, n, "domain '%s' unsupported", n->domain);
            continue;
        }
        const ox_importer *im = mk_onnx_find_importer(n->op_type, c->opset < 7 ? 7 : c->opset);
        if (!im) {
            mk_onnx_unsupported(c, n, "no importer for opset %d", c->opset);
            continue;
        }
        if (c->opset < 7 && !same_before_opset7(n->op_type)) {
            mk_onnx_unsupported(c, n, "opset %d semantics differ from opset 7+", c->opset);
            continue;
        }
        const char *why = im->why_not ? im->why_not(c, n) : NULL;
        if (why) mk_onnx_unsupported(c, n, "%s", why);
        for (size_t a = 0; a < n->n_attribute; a++)
            if (n->attribute[a]->g) prescan(c, n->attribute[a]->g, depth + 1);
    }
}

/* One line: "N unsupported nodes: Op xK (reason: n1, n2); ..." grouped by op and reason. */
static mk_status report_unsupported(ox_ctx *c)
{
    mk_buf out;
    mk_buf_init(&out, c->p->alloc);
    mk_buf_printf(&out, "%s: %d unsupported node%s:", c->file, c->n_unsup,
                  c->n_unsup == 1 ? "" : "s");
    /* split lines */
    char *text = mk_arena_strndup(c->p->arena, (const char *)c->unsup.data, c->unsup.len);
    if (!text) {
        mk_buf_free(&out);
        return fail(c);
    }
    int n = c->n_unsup;
    char **op = mk_arena_array(c->p->arena, (size_t)n + 1, sizeof *op);
    char **why = mk_arena_array(c->p->arena, (size_t)n + 1, sizeof *why);
    char **node = mk_arena_array(c->p->arena, (size_t)n + 1, sizeof *node);
    uint8_t *done = mk_arena_alloc(c->p->arena, (size_t)n + 1);
    if (!op || !why || !node || !done) {
        mk_buf_free(&out);
        return fail(c);
    }
    char *p = text;
    int k = 0;
    while (k < n && *p) {
        op[k] = p;
        p = strchr(p, '\t');
        *p++ = 0;
        why[k] = p;
        p = strchr(p, '\t');
        *p++ = 0;
        node[k] = p;
        p = strchr(p, '\n');
        *p++ = 0;
        k++;
    }
    int first = 1;
    for (int i = 0; i < k; i++) {
        if (done[i]) continue;
        int cnt = 0;
        for (int j = i; j < k; j++)
            if (!done[j] && strcmp(op[i], op[j]) == 0 && strcmp(why[i], why[j]) == 0) cnt++;
        mk_buf_printf(&out, "%s %s x%d (%s:", first ? "" : ";", op[i], cnt, why[i]);
        first = 0;
        int shown = 0;
        for (int j = i; j < k; j++) {
            if (done[j] || strcmp(op[i], op[j]) != 0 || strcmp(why[i], why[j]) != 0) continue;
            done[j] = 1;
            if (shown < 12) mk_buf_printf(&out, "%s %s", shown ? "," : "", node[j]);
            shown++;
        }
        if (shown > 12) mk_buf_printf(&out, " and %d more", shown - 12);
        mk_buf_printf(&out, ")");
    }
    if (c->n_untried)
        mk_buf_printf(&out, "; %ld later node%s read%s their outputs and %s not tried",
                      c->n_untried, c->n_untried == 1 ? "" : "s", c->n_untried == 1 ? "s" : "",
                      c->n_untried == 1 ? "was" : "were");
    mk_buf_append(&out, "", 1);
    mk_status st = mk_err_set(c->err, MK_EUNSUPPORTED, "%s", out.data ? (char *)out.data : "?");
    mk_buf_free(&out);
    return st;
}

/* ---- lowering of a node list ---- */
/* Required leading inputs per ONNX op version, from the ONNX schema registry. */
static const struct {
    const char *op;
    int since, required;
} min_inputs[] = {
#define ONNX_MIN_INPUTS(op, since, req) {op, since, req},
#include "min_inputs.def"
#undef ONNX_MIN_INPUTS
};

/* Required inputs of op_type at the model's opset (the newest schema version <= opset). */
static int required_inputs(const char *op_type, int opset)
{
    int req = 0;
    for (size_t i = 0; i < sizeof min_inputs / sizeof *min_inputs; i++)
        if (strcmp(min_inputs[i].op, op_type) == 0 && min_inputs[i].since <= opset)
            req = min_inputs[i].required; /* rows are sorted by opset within an op */
    return req;
}

static mk_status lower_node(ox_ctx *c, const Onnx__NodeProto *n)
{
    ox_val *ins[64], *outs[64];
    int n_in = (int)n->n_input, n_out = (int)n->n_output;
    const char *nn = n->name && *n->name ? n->name : (n_out ? n->output[0] : "?");
    if (n_in > 64 || n_out > 64) return mk_onnx_unsupported(c, n, "more than 64 inputs or outputs");
    if (n_out == 0)
        return mk_err_set(c->err, MK_EINVAL, "%s: node '%s' (%s): no outputs", c->file, nn,
                          n->op_type);
    int need = required_inputs(n->op_type, c->opset);
    for (int i = 0; i < need; i++)
        if (i >= n_in || !n->input[i] || !*n->input[i])
            return mk_err_set(c->err, MK_EINVAL,
                              "%s: node '%s' (%s): required input %d of %d is missing", c->file, nn,
                              n->op_type, i + 1, need);
    int poisoned = 0, all_const = 1;
    for (int i = n_in; i < 64; i++) ins[i] = NULL; /* inputs ONNX left off read as absent */
    for (int i = 0; i < n_in; i++) {
        const char *in = n->input[i];
        if (!in || !*in) {
            ins[i] = NULL;
            continue;
        }
        ins[i] = mk_onnx_lookup(c, in);
        if (!ins[i])
            return mk_err_set(c->err, MK_EINVAL, "%s: node '%s' (%s): input '%s' is not defined",
                              c->file, nn, n->op_type, in);
        if (ins[i]->poisoned) poisoned = 1;
        if (!ins[i]->data) all_const = 0;
    }
    for (int i = 0; i < n_out; i++) {
        const char *on = n->output[i] && *n->output[i] ? n->output[i] : NULL;
        if (on && mk_strmap_get(&c->scope->vals, on))
            return mk_err_set(c->err, MK_EINVAL, "%s: node '%s' (%s): output '%s' defined twice",
                              c->file, nn, n->op_type, on);
        outs[i] = on ? mk_onnx_define(c, on) : mk_arena_alloc(c->p->arena, sizeof(ox_val));
        if (!outs[i]) return fail(c);
        if (!on) outs[i]->name = "unused";
    }
    /* slots past the node's outputs take a lowering's writes to outputs ONNX left off */
    ox_val *sink = mk_arena_alloc(c->p->arena, sizeof(ox_val));
    if (!sink) return fail(c);
    sink->name = "unused";
    for (int i = n_out; i < 64; i++) outs[i] = sink;
    mk_status st;
    if (poisoned) {
        c->n_untried++;
        st = MK_EUNSUPPORTED;
    } else {
        const ox_importer *im = mk_onnx_find_importer(n->op_type, c->opset < 7 ? 7 : c->opset);
        if (!im || !domain_ok(n)) return MK_EUNSUPPORTED; /* recorded by the pre-scan */
        st = MK_EUNSUPPORTED;
        ox_kd *kd = NULL;
        if (all_const)
            st = mk_onnx_fold(c, n, ins, n_in, outs, n_out);
        else
            st = mk_onnx_fold_dims(c, n, ins, n_in, outs, &kd);
        if (st == MK_EUNSUPPORTED) st = im->fn(c, n, ins, n_in, outs, n_out);
        if (st == MK_OK && kd && outs[0]->mil && !outs[0]->data && !mk_onnx_note_kd(c, outs[0], kd))
            st = fail(c);
    }
    if (st == MK_EUNSUPPORTED) {
        for (int i = 0; i < n_out; i++) outs[i]->poisoned = 1;
        return MK_OK;
    }
    if (st != MK_OK) {
        if (!c->err->msg[0]) mk_err_set(c->err, st, "failed");
        mk_err_prefix(c->err, "%s: node '%s' (%s): ", c->file, nn, n->op_type);
        return st;
    }
    for (int i = 0; i < n_out; i++) {
        if (!n->output[i] || !*n->output[i]) continue;
        if (!outs[i]->mil && !outs[i]->data && !outs[i]->poisoned)
            return mk_err_set(c->err, MK_EINTERNAL, "%s: node '%s' (%s): output %d not produced",
                              c->file, nn, n->op_type, i);
    }
    return MK_OK;
}

mk_status mk_onnx_lower_nodes(ox_ctx *c, const Onnx__GraphProto *g)
{
    const Onnx__GraphProto *outer = c->graph;
    c->graph = g;
    for (size_t i = 0; i < g->n_node; i++) {
        mk_status st = lower_node(c, g->node[i]);
        if (st != MK_OK) {
            c->graph = outer;
            return st;
        }
        c->n_nodes_done++;
        if (c->opts && c->opts->progress && (c->n_nodes_done % 64 == 0 || i + 1 == g->n_node))
            fprintf(stderr, "\rconverting %s: %ld/%ld nodes", c->file, c->n_nodes_done,
                    c->n_nodes_total);
    }
    c->graph = outer;
    return MK_OK;
}

/* ---- graph inputs ---- */
static const char *dim_param(const Onnx__TensorShapeProto__Dimension *d)
{
    return d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM && d->dim_param
               ? d->dim_param
               : "?";
}

static mk_status bind_input(ox_ctx *c, const Onnx__ValueInfoProto *vi, const char *val,
                            const mk_type *t)
{
    char *end;
    errno = 0;
    double d = strtod(val, &end);
    if (end == val || *end || errno)
        return mk_err_set(c->err, MK_EINVAL, "--bind %s=%s: not a number", vi->name, val);
    size_t n = mk_onnx_numel(t);
    if (n != 1) return mk_err_set(c->err, MK_EINVAL, "--bind %s: input is not a scalar", vi->name);
    ox_val *v = mk_onnx_define(c, vi->name);
    if (!v) return fail(c);
    mk_type ct = *t;
    if (ct.dtype == MK_DT_FP32) {
        float f = (float)d;
        return mk_onnx_set_const(c, v, &ct, &f);
    }
    if (ct.dtype == MK_DT_BOOL) {
        uint8_t b = d != 0;
        return mk_onnx_set_const(c, v, &ct, &b);
    }
    ct.dtype = MK_DT_INT64;
    int64_t i = (int64_t)d;
    return mk_onnx_set_const(c, v, &ct, &i);
}

/* Bake input vi in as the constant tensor t (checked against the declared type). */
static mk_status bind_tensor(ox_ctx *c, const Onnx__ValueInfoProto *vi, const mk_type *decl,
                             const mk_tensor *t)
{
    const char *nm = vi->name;
    if (t->rank < 0 || t->rank > MK_MAX_RANK)
        return mk_err_set(c->err, MK_EINVAL, "--bind %s: rank %d unsupported", nm, t->rank);
    mk_type ct = mk_type_make(MK_DT_INVALID, t->rank, t->dims);
    /* a declared scalar accepts a one-element tensor; otherwise ranks must agree */
    if (decl->rank == 0 && mk_onnx_numel(&ct) == 1) ct.rank = 0;
    if (decl->rank >= 0 && ct.rank != decl->rank)
        return mk_err_set(c->err, MK_EINVAL, "--bind %s: rank %d, input has rank %d", nm, ct.rank,
                          decl->rank);
    for (int i = 0; i < ct.rank; i++) {
        if (ct.dims[i] < 0 || ct.dims[i] > INT32_MAX)
            return mk_err_set(c->err, MK_EINVAL, "--bind %s: bad dim %lld", nm,
                              (long long)ct.dims[i]);
        if (decl->dims[i] >= 0 && decl->dims[i] != ct.dims[i])
            return mk_err_set(c->err, MK_EINVAL, "--bind %s: dim %d is %lld, input has %lld", nm, i,
                              (long long)ct.dims[i], (long long)decl->dims[i]);
    }
    size_t n = 1, es;
    for (int i = 0; i < ct.rank; i++)
        if (!mk_mul_size(n, (size_t)ct.dims[i], &n))
            return mk_err_set(c->err, MK_EINVAL, "--bind %s: element count overflows", nm);
    switch (t->dtype) {
    case MK_DT_FP32: ct.dtype = MK_DT_FP32, es = 4; break;
    case MK_DT_INT32: ct.dtype = MK_DT_INT64, es = 4; break;
    case MK_DT_BOOL: ct.dtype = MK_DT_BOOL, es = 1; break;
    default:
        return mk_err_set(c->err, MK_EINVAL, "--bind %s: tensor dtype %d (want fp32, int32, bool)",
                          nm, t->dtype);
    }
    if ((decl->dtype == MK_DT_FP32) != (ct.dtype == MK_DT_FP32))
        return mk_err_set(c->err, MK_EINVAL, "--bind %s: %s tensor for a %s input", nm,
                          mk_dtype_name((mk_dtype)t->dtype), mk_dtype_name(decl->dtype));
    size_t need;
    if (!mk_mul_size(n, es, &need) || t->nbytes != need)
        return mk_err_set(c->err, MK_EINVAL, "--bind %s: %zu data bytes for %zu elements", nm,
                          t->nbytes, n);
    ox_val *v = mk_onnx_define(c, nm);
    if (!v) return fail(c);
    if (ct.dtype != MK_DT_INT64) return mk_onnx_set_const(c, v, &ct, t->data);
    int64_t *w = mk_arena_array(c->p->arena, n ? n : 1, sizeof *w);
    if (!w) return fail(c);
    for (size_t i = 0; i < n; i++) {
        int32_t x;
        memcpy(&x, (const char *)t->data + 4 * i, 4);
        w[i] = x;
    }
    return mk_onnx_set_const(c, v, &ct, w);
}

/* --bind NAME=@file.npy */
static mk_status bind_npy(ox_ctx *c, const Onnx__ValueInfoProto *vi, const mk_type *decl,
                          const char *path)
{
    mk_tensor t;
    mk_err e = {0};
    if (mk_npy_read(path, &t, &e) != MK_OK)
        return mk_err_set(c->err, e.code ? e.code : MK_EIO, "--bind %s: %s", vi->name, e.msg);
    if (t.dtype == MK_DT_INT64 || t.dtype == MK_DT_FP64) {
        /* narrow numpy's default int64 / float64 */
        size_t n = t.nbytes / 8;
        for (size_t i = 0; i < n; i++) {
            if (t.dtype == MK_DT_INT64) {
                int64_t x;
                memcpy(&x, (char *)t.data + 8 * i, 8);
                int32_t y = x > INT32_MAX ? INT32_MAX : x < INT32_MIN ? INT32_MIN : (int32_t)x;
                memcpy((char *)t.data + 4 * i, &y, 4);
            } else {
                double x;
                memcpy(&x, (char *)t.data + 8 * i, 8);
                float y = (float)x;
                memcpy((char *)t.data + 4 * i, &y, 4);
            }
        }
        t.dtype = t.dtype == MK_DT_INT64 ? MK_DT_INT32 : MK_DT_FP32;
        t.nbytes = n * 4;
    }
    mk_status st = bind_tensor(c, vi, decl, &t);
    mk_tensor_free(&t);
    return st;
}

/* ---- dynamic dims: shapes from the given inputs, or a message naming every missing dim ---- */
static int has_dynamic_dim(const Onnx__ValueInfoProto *vi)
{
    const Onnx__TypeProto__Tensor *tt =
        vi->type && vi->type->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE
            ? vi->type->tensor_type
            : NULL;
    if (!tt || !tt->shape) return 1;
    for (size_t i = 0; i < tt->shape->n_dim; i++)
        if (tt->shape->dim[i]->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE ||
            tt->shape->dim[i]->dim_value <= 0)
            return 1;
    return 0;
}

static int is_initializer(const Onnx__GraphProto *g, const char *name);

/* The -i tensor for input vi: the one of that name, or the only one given to a model with one
 * input (as a run feeds it). */
static const mk_tensor *given_tensor(const ox_ctx *c, const Onnx__ValueInfoProto *vi)
{
    const mk_tensor_list *l = c->opts ? c->opts->shape_from : NULL;
    if (!l || !vi->name) return NULL;
    const mk_tensor *t = mk_tensor_list_find(l, vi->name);
    if (t || l->n != 1) return t;
    const Onnx__GraphProto *g = c->model->proto->graph;
    int n = 0;
    for (size_t i = 0; i < g->n_input && n < 2; i++)
        n += g->input[i]->name && !is_initializer(g, g->input[i]->name);
    return n == 1 ? &l->items[0] : NULL;
}

/* 1 when input vi has a dynamic dim that a given tensor fixes (spec->name stays NULL). */
static int given_shape(const ox_ctx *c, const Onnx__ValueInfoProto *vi, shape_spec *spec)
{
    spec->name = NULL;
    return has_dynamic_dim(vi) && given_tensor(c, vi) != NULL;
}

static void declared_dims(const Onnx__ValueInfoProto *vi, char *buf, size_t n, int names)
{
    const Onnx__TensorShapeProto *sh =
        vi->type && vi->type->tensor_type ? vi->type->tensor_type->shape : NULL;
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; sh && i < sh->n_dim && o < n; i++) {
        const Onnx__TensorShapeProto__Dimension *d = sh->dim[i];
        int known = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        if (names && !known && strcmp(dim_param(d), "?") != 0)
            o += (size_t)snprintf(buf + o, n - o, "%sdim %zu '%s'", o ? ", " : "", i, dim_param(d));
        else if (!names)
            o += known ? (size_t)snprintf(buf + o, n - o, "%s%lld", i ? "," : "",
                                          (long long)d->dim_value)
                       : (size_t)snprintf(buf + o, n - o, "%s?", i ? "," : "");
    }
    if (!sh && o < n) snprintf(buf, n, names ? "no shape declared" : "?");
}

static mk_status spec_from_tensor(ox_ctx *c, const Onnx__ValueInfoProto *vi, shape_spec *spec)
{
    const mk_tensor *t = given_tensor(c, vi);
    const Onnx__TensorShapeProto *sh =
        vi->type && vi->type->tensor_type ? vi->type->tensor_type->shape : NULL;
    char want[256];
    declared_dims(vi, want, sizeof want, 0);
    if (sh && (size_t)t->rank != sh->n_dim)
        return mk_err_set(c->err, MK_EINVAL,
                          "%s: input '%s': the given tensor has rank %d, the model declares %s",
                          c->file, vi->name, t->rank, want);
    if (t->rank > MK_MAX_RANK)
        return mk_err_set(c->err, MK_EINVAL, "%s: input '%s': rank %d > %d", c->file, vi->name,
                          t->rank, MK_MAX_RANK);
    memset(spec, 0, sizeof *spec);
    spec->name = vi->name;
    spec->rank = t->rank;
    for (int i = 0; i < t->rank; i++) {
        if (t->dims[i] < 0 || t->dims[i] > INT32_MAX)
            return mk_err_set(c->err, MK_EINVAL,
                              "%s: input '%s': the given tensor has dim %d = %lld", c->file,
                              vi->name, i, (long long)t->dims[i]);
        spec->lo[i] = spec->hi[i] = t->dims[i];
    }
    return MK_OK;
}

static int is_bound(const ox_ctx *c, const char *nm)
{
    size_t ln = strlen(nm);
    for (int i = 0; c->opts && i < c->opts->n_bind_tensors; i++)
        if (c->opts->bind_tensors[i].name && strcmp(c->opts->bind_tensors[i].name, nm) == 0)
            return 1;
    for (int i = 0; i < c->opts_n_binds; i++)
        if (strncmp(c->opts->binds[i], nm, ln) == 0 && c->opts->binds[i][ln] == '=') return 1;
    return 0;
}

/* One error naming every input whose dynamic dims neither --shape nor a given tensor fixes. */
static mk_status check_dynamic(ox_ctx *c, const Onnx__GraphProto *g, const shape_spec *specs,
                               int n_specs)
{
    char msg[1024], a[256], b[256];
    size_t o = 0;
    int n = 0;
    msg[0] = 0;
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *vi = g->input[i];
        if (!vi->name || !vi->type || vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
            !vi->type->tensor_type || !has_dynamic_dim(vi) || is_initializer(g, vi->name) ||
            is_bound(c, vi->name))
            continue;
        shape_spec sp;
        int fixed = given_shape(c, vi, &sp);
        for (int k = 0; k < n_specs && !fixed; k++) fixed = strcmp(specs[k].name, vi->name) == 0;
        if (fixed) continue;
        declared_dims(vi, a, sizeof a, 0);
        declared_dims(vi, b, sizeof b, 1);
        if (o < sizeof msg)
            o += (size_t)snprintf(msg + o, sizeof msg - o, "%s%s=%s%s%s%s", n ? "; " : "", vi->name,
                                  a, b[0] ? " (" : "", b, b[0] ? ")" : "");
        n++;
    }
    if (!n) return MK_OK;
    const mk_tensor_list *l = c->opts ? c->opts->shape_from : NULL;
    char given[300];
    size_t k = 0;
    given[0] = 0;
    for (int i = 0; l && i < l->n && k < sizeof given; i++)
        k += (size_t)snprintf(given + k, sizeof given - k, "%s%s",
                              k ? ", " : " (-i gave: ", l->items[i].name ? l->items[i].name : "?");
    if (k && k < sizeof given) snprintf(given + k, sizeof given - k, ")");
    return mk_err_set(c->err, MK_EINVAL,
                      "%s: dynamic dims: give the input%s with -i, or --shape NAME=DIMS for: %s%s",
                      c->file, n > 1 ? "s" : "", msg, given);
}

static mk_status add_input(ox_ctx *c, const Onnx__ValueInfoProto *vi, shape_spec *specs,
                           int n_specs)
{
    const char *nm = vi->name ? vi->name : "";
    mk_status st;
    if (!vi->type || vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
        !vi->type->tensor_type)
        return mk_err_set(c->err, MK_EUNSUPPORTED, "%s: input '%s' is not a tensor", c->file, nm);
    const Onnx__TypeProto__Tensor *tt = vi->type->tensor_type;
    int et = tt->has_elem_type ? tt->elem_type : 0;
    mk_dtype dt = mk_onnx_run_dtype(et);
    if (dt == MK_DT_INVALID)
        return mk_err_set(c->err, MK_EUNSUPPORTED, "%s: input '%s': element type %d unsupported",
                          c->file, nm, et);
    const shape_spec *sp = NULL;
    for (int i = 0; i < n_specs; i++)
        if (strcmp(specs[i].name, nm) == 0) sp = &specs[i];
    shape_spec given;
    if (!sp && given_shape(c, vi, &given) && (st = spec_from_tensor(c, vi, &given)) != MK_OK)
        return st;
    if (!sp && given.name) sp = &given;
    /* inputs baked in as tensors take their shape from the tensor */
    const mk_tensor *btn = NULL;
    const char *bnpy = NULL;
    for (int i = 0; c->opts && i < c->opts->n_bind_tensors; i++)
        if (c->opts->bind_tensors[i].name && strcmp(c->opts->bind_tensors[i].name, nm) == 0)
            btn = &c->opts->bind_tensors[i];
    for (int i = 0; i < c->opts_n_binds; i++) {
        const char *b = c->opts->binds[i];
        size_t ln = strlen(nm);
        if (strncmp(b, nm, ln) == 0 && b[ln] == '=' && b[ln + 1] == '@') bnpy = b + ln + 2;
    }
    if (btn || bnpy) {
        mk_type decl = mk_type_make(dt, tt->shape ? (int)tt->shape->n_dim : MK_RANK_UNKNOWN, NULL);
        if (decl.rank > MK_MAX_RANK)
            return mk_err_set(c->err, MK_EUNSUPPORTED, "%s: input '%s': rank %d > %d", c->file, nm,
                              decl.rank, MK_MAX_RANK);
        for (int i = 0; i < decl.rank; i++) {
            const Onnx__TensorShapeProto__Dimension *dm = tt->shape->dim[i];
            decl.dims[i] = dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE
                               ? dm->dim_value
                               : MK_DIM_UNKNOWN;
        }
        return btn ? bind_tensor(c, vi, &decl, btn) : bind_npy(c, vi, &decl, bnpy);
    }
    int rank;
    if (tt->shape) {
        if (tt->shape->n_dim > MK_MAX_RANK)
            return mk_err_set(c->err, MK_EUNSUPPORTED, "%s: input '%s': rank %zu > %d", c->file, nm,
                              tt->shape->n_dim, MK_MAX_RANK);
        rank = (int)tt->shape->n_dim;
    } else if (sp) {
        rank = sp->rank;
    } else {
        return mk_err_set(c->err, MK_EINVAL, "%s: input '%s' has no shape: give --shape %s=...",
                          c->file, nm, nm);
    }
    if (sp && sp->rank != rank)
        return mk_err_set(c->err, MK_EINVAL, "%s: --shape %s: %d dims given, input has rank %d",
                          c->file, nm, sp->rank, rank);
    mk_type t = mk_type_make(dt, rank, NULL);
    mk_feature f;
    memset(&f, 0, sizeof f);
    for (int i = 0; i < rank; i++) {
        int64_t d = -1;
        const char *sym = "?";
        if (tt->shape) {
            const Onnx__TensorShapeProto__Dimension *dm = tt->shape->dim[i];
            if (dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
                d = dm->dim_value;
                if (d < 0 || d > INT32_MAX)
                    return mk_err_set(c->err, MK_EINVAL, "%s: input '%s' dim %d: bad size %lld",
                                      c->file, nm, i, (long long)d);
            } else {
                sym = dim_param(dm);
            }
        }
        if (sp) {
            if (d >= 0 && d != sp->lo[i] && sp->hi[i] == sp->lo[i])
                return mk_err_set(c->err, MK_EINVAL,
                                  "%s: --shape %s: dim %d is %lld in the model, not %lld", c->file,
                                  nm, i, (long long)d, (long long)sp->lo[i]);
            f.range_lo[i] = sp->lo[i];
            f.range_hi[i] = sp->hi[i];
            if (sp->n_enum[i]) {
                t.dims[i] = MK_DIM_UNKNOWN;
                f.shape[i] = sp->enums[i][0];
                continue;
            }
            if (sp->hi[i] != sp->lo[i]) {
                f.flex = MK_FLEX_RANGE;
                t.dims[i] = MK_DIM_UNKNOWN;
                f.shape[i] = sp->lo[i];
                continue;
            }
            d = sp->lo[i];
        }
        if (d < 0)
            return mk_err_set(c->err, MK_EINVAL,
                              "%s: input '%s' dim %d ('%s') is dynamic: fix it with --shape "
                              "%s=d0,d1,...",
                              c->file, nm, i, sym, nm);
        t.dims[i] = d;
        f.shape[i] = d;
        f.range_lo[i] = f.range_hi[i] = d;
    }
    for (int i = 0; sp && i < rank; i++)
        if (sp->n_enum[i]) {
            if (enum_shapes(c, sp, &f) < 0) return fail(c);
            break;
        }
    size_t total;
    mk_type chk = t;
    for (int i = 0; i < rank; i++)
        if (chk.dims[i] < 0) chk.dims[i] = f.shape[i];
    if (!mk_type_nbytes(&chk, &total) || total > ((size_t)1 << 40))
        return mk_err_set(c->err, MK_EINVAL, "%s: input '%s': element count overflows", c->file,
                          nm);
    for (int i = 0; i < c->opts_n_binds; i++) {
        const char *b = c->opts->binds[i];
        size_t ln = strlen(nm);
        if (strncmp(b, nm, ln) == 0 && b[ln] == '=') return bind_input(c, vi, b + ln + 1, &t);
    }
    /* the function input: scalars become [1]; bool travels as int32 (Core ML I/O rule) */
    mk_type ft = t;
    if (dt == MK_DT_BOOL) ft.dtype = dt = MK_DT_INT32;
    if (rank == 0) {
        ft.rank = 1;
        ft.dims[0] = 1;
        f.shape[0] = f.range_lo[0] = f.range_hi[0] = 1;
    }
    const char *mn = mk_ir_unique_name(c->p, nm);
    if (!mn) return fail(c);
    /* unique_name reserved the name, so the input value is built here rather than with
     * mk_ir_function_add_input (which would reserve it a second time) */
    mk_value *in = mk_arena_alloc(c->p->arena, sizeof *in);
    mk_value **ni = mk_arena_array(c->p->arena, (size_t)c->fn->n_inputs + 1, sizeof *ni);
    if (!in || !ni) return fail(c);
    in->name = mn;
    in->type = ft;
    if (c->fn->n_inputs) memcpy(ni, c->fn->inputs, (size_t)c->fn->n_inputs * sizeof *ni);
    ni[c->fn->n_inputs++] = in;
    c->fn->inputs = ni;
    f.name = mn;
    f.dtype = dt;
    f.rank = ft.rank;
    mk_feature *nf = mk_arena_array(c->p->arena, (size_t)c->p->n_inputs + 1, sizeof *nf);
    if (!nf) return fail(c);
    if (c->p->n_inputs) memcpy(nf, c->p->inputs, (size_t)c->p->n_inputs * sizeof *nf);
    nf[c->p->n_inputs++] = f;
    c->p->inputs = nf;
    if (c->opts && c->opts->verbose) fprintf(stderr, "input  %s -> %s\n", nm, mn);
    ox_val *v = mk_onnx_define(c, nm);
    if (!v) return fail(c);
    v->type = ft;
    v->mil = in;
    if (t.dtype == MK_DT_BOOL) {
        mk_op *op = mk_onnx_op(c, MK_OP_CAST, mn);
        if (!op || !mk_onnx_in_mil(c, op, "x", in) || !mk_onnx_in_str(c, op, "dtype", "bool"))
            return fail(c);
        mk_value *s = mk_onnx_out(c, op, NULL);
        if (!s) return fail(c);
        mk_onnx_set(v, s);
        in = s;
    }
    if (rank == 0) {
        /* back to a scalar inside the graph */
        mk_op *op = mk_onnx_op(c, MK_OP_SQUEEZE, mn);
        int32_t ax = 0;
        if (!op || !mk_onnx_in_mil(c, op, "x", in) || !mk_onnx_in_i32s(c, op, "axes", 1, &ax))
            return fail(c);
        mk_value *s = mk_onnx_out(c, op, NULL);
        if (!s) return fail(c);
        mk_onnx_set(v, s);
    }
    return MK_OK;
}

/* ---- graph outputs ---- */
static mk_status add_output(ox_ctx *c, const Onnx__ValueInfoProto *vi, const char *reserved,
                            mk_value **outv)
{
    const char *nm = vi->name ? vi->name : "";
    ox_val *v = mk_onnx_lookup(c, nm);
    if (!v) return mk_err_set(c->err, MK_EINVAL, "%s: output '%s' is not produced", c->file, nm);
    mk_value *mv = mk_onnx_mil(c, v);
    if (!mv) return fail(c);
    if (mv->type.dtype == MK_DT_BOOL) {
        /* Core ML outputs are fp32 or int32: bool leaves as int32 0/1 */
        mk_op *op = mk_onnx_op(c, MK_OP_CAST, nm);
        if (!op || !mk_onnx_in_mil(c, op, "x", mv) || !mk_onnx_in_str(c, op, "dtype", "int32"))
            return fail(c);
        mv = mk_onnx_out(c, op, NULL);
        if (!mv) return fail(c);
    }
    int need_copy = !mv->producer || mv->producer->kind == MK_OP_CONST ||
                    mv->producer->parent != c->fn->block || mv->type.rank == 0;
    for (int i = 0; i < c->p->n_outputs; i++)
        if (outv[i] == mv) need_copy = 1;
    for (int i = 0; i < c->fn->n_inputs; i++)
        if (c->fn->inputs[i] == mv) need_copy = 1;
    if (need_copy) {
        mk_op *op;
        if (mv->type.rank == 0) {
            op = mk_onnx_op(c, MK_OP_EXPAND_DIMS, nm);
            int32_t ax = 0;
            if (!op || !mk_onnx_in_mil(c, op, "x", mv) || !mk_onnx_in_i32s(c, op, "axes", 1, &ax))
                return fail(c);
        } else {
            op = mk_onnx_op(c, MK_OP_IDENTITY, nm);
            if (!op || !mk_onnx_in_mil(c, op, "x", mv)) return fail(c);
        }
        mv = mk_onnx_out(c, op, NULL);
        if (!mv) return fail(c);
    }
    /* rename the producing value (and its op) to the reserved output name */
    mv->name = reserved;
    mv->producer->name = reserved;
    outv[c->p->n_outputs] = mv;
    mk_feature f;
    memset(&f, 0, sizeof f);
    f.name = reserved;
    f.dtype = mv->type.dtype;
    f.rank = mv->type.rank;
    for (int i = 0; i < f.rank; i++) /* MK_DIM_UNKNOWN: declared without a shape */
        f.shape[i] = f.range_lo[i] = f.range_hi[i] = mv->type.dims[i];
    if (f.dtype != MK_DT_FP32 && f.dtype != MK_DT_INT32)
        return mk_err_set(c->err, MK_EUNSUPPORTED,
                          "%s: output '%s' is %s; Core ML outputs are fp32 or int32", c->file, nm,
                          mk_dtype_name(f.dtype) ? mk_dtype_name(f.dtype) : "?");
    c->p->outputs[c->p->n_outputs++] = f;
    if (c->opts && c->opts->verbose) fprintf(stderr, "output %s -> %s\n", nm, reserved);
    return MK_OK;
}

static int is_initializer(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_initializer; i++)
        if (g->initializer[i]->name && strcmp(g->initializer[i]->name, name) == 0) return 1;
    return 0;
}

static int spec_for_target(mk_target t)
{
    return t == MK_TARGET_DEFAULT ? MK_TARGET_IOS15 : (int)t;
}

static mk_status import_model(ox_ctx *c, const mk_convert_options *opts)
{
    const Onnx__ModelProto *m = c->model->proto;
    const Onnx__GraphProto *g = m->graph;
    if (!g) return mk_err_set(c->err, MK_EINVAL, "%s: model has no graph", c->file);
    c->opset = default_opset(m);
    if (c->opset < 0) c->opset = m->n_opset_import ? -1 : 7;
    if (c->opset < 1 || c->opset > 21)
        return mk_err_set(c->err, MK_EUNSUPPORTED,
                          "%s: ONNX opset %d unsupported (milkit reads opsets 7..21, and ops "
                          "whose meaning did not change from opsets 1..6)",
                          c->file, c->opset);
    mk_program *p = c->p;
    if (opts) {
        p->author = opts->author ? mk_arena_strdup(p->arena, opts->author) : NULL;
        p->short_description =
            opts->description ? mk_arena_strdup(p->arena, opts->description) : NULL;
        p->license = opts->license ? mk_arena_strdup(p->arena, opts->license) : NULL;
        p->version_string = opts->version ? mk_arena_strdup(p->arena, opts->version) : NULL;
    }
    c->fn = mk_ir_function_new(p, "main");
    if (!c->fn) return fail(c);
    c->blk = c->fn->block;
    ox_scope *root = mk_arena_alloc(p->arena, sizeof *root);
    if (!root) return fail(c);
    mk_strmap_init(&root->vals, p->alloc);
    c->scope = root;
    mk_status st = MK_OK;

    /* reserve output names first so no internal value takes them */
    const char **reserved = mk_arena_array(p->arena, g->n_output + 1, sizeof *reserved);
    if (!reserved) return fail(c);

    prescan(c, g, 0);
    if (c->n_unsup) return report_unsupported(c);

    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        if (!t->name) return mk_err_set(c->err, MK_EINVAL, "%s: initializer without name", c->file);
        ox_val *v = mk_onnx_define(c, t->name);
        if (!v) return fail(c);
        if ((st = mk_onnx_tensor(c, t, v)) != MK_OK) return st;
    }
    shape_spec *specs = NULL;
    int n_specs = opts ? opts->n_shapes : 0;
    if (n_specs > 0) {
        specs = mk_arena_array(p->arena, (size_t)n_specs, sizeof *specs);
        if (!specs) return fail(c);
        for (int i = 0; i < n_specs; i++)
            if ((st = parse_shape(c, opts->shapes[i], &specs[i])) != MK_OK) return st;
    }
    for (int i = 0; i < c->opts_n_binds; i++)
        if (!strchr(opts->binds[i], '='))
            return mk_err_set(c->err, MK_EINVAL, "--bind '%s': expected name=value",
                              opts->binds[i]);
    for (size_t i = 0; i < g->n_output; i++) {
        const char *nm = g->output[i]->name ? g->output[i]->name : "output";
        if (!(reserved[i] = mk_ir_unique_name(p, nm))) return fail(c);
    }
    mk_strmap seen;
    mk_strmap_init(&seen, p->alloc);
    for (size_t i = 0; i < g->n_input && !st; i++) {
        const char *nm = g->input[i]->name;
        if (!nm) continue;
        if (mk_strmap_get(&seen, nm))
            st = mk_err_set(c->err, MK_EINVAL, "%s: input '%s' is listed twice in the graph",
                            c->file, nm);
        else if (!mk_strmap_put(&seen, nm, (void *)g->input[i]))
            st = fail(c);
    }
    mk_strmap_free(&seen);
    if (st) return st;
    for (int i = 0; i < n_specs + c->opts_n_binds; i++) {
        const char *nm = i < n_specs ? specs[i].name : opts->binds[i - n_specs];
        size_t ln = i < n_specs ? strlen(nm) : (size_t)(strchr(nm, '=') - nm);
        int found = 0;
        for (size_t j = 0; j < g->n_input && !found; j++)
            found = g->input[j]->name && strlen(g->input[j]->name) == ln &&
                    strncmp(g->input[j]->name, nm, ln) == 0 &&
                    !is_initializer(g, g->input[j]->name);
        if (!found) {
            char names[512];
            size_t o = 0;
            names[0] = 0;
            for (size_t j = 0; j < g->n_input && o < sizeof names; j++)
                if (g->input[j]->name && !is_initializer(g, g->input[j]->name))
                    o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", o ? ", " : "",
                                          g->input[j]->name);
            return mk_err_set(c->err, MK_EINVAL,
                              "%s: %s %.*s: the model has no such input (inputs: %s)", c->file,
                              i < n_specs ? "--shape" : "--bind", (int)ln, nm, names);
        }
    }
    if ((st = check_dynamic(c, g, specs, n_specs)) != MK_OK) return st;

    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *vi = g->input[i];
        if (!vi->name) return mk_err_set(c->err, MK_EINVAL, "%s: input without name", c->file);
        if (is_initializer(g, vi->name)) continue;
        if ((st = add_input(c, vi, specs, n_specs)) != MK_OK) return st;
    }
    if ((st = mk_onnx_lower_nodes(c, g)) != MK_OK) return st;
    if (c->opts && c->opts->progress) fputc('\n', stderr);
    if (c->n_unsup) return report_unsupported(c);

    if (!g->n_output) return mk_err_set(c->err, MK_EINVAL, "%s: graph has no outputs", c->file);
    p->outputs = mk_arena_array(p->arena, g->n_output, sizeof *p->outputs);
    mk_value **outv = mk_arena_array(p->arena, g->n_output, sizeof *outv);
    if (!p->outputs || !outv) return fail(c);
    for (size_t i = 0; i < g->n_output; i++)
        if ((st = add_output(c, g->output[i], reserved[i], outv)) != MK_OK) return st;
    if (!mk_ir_block_set_outputs(p, c->fn->block, p->n_outputs, outv)) return fail(c);
    if (!(c->flags & MK_ONNX_NO_FUSE) && (st = mk_onnx_fuse(c, c->fn->block, NULL)) != MK_OK)
        return st;
    if (mk_ir_dce(p, c->fn->block) < 0) return fail(c);
    if (opts && opts->name) {
        mk_kv *kv = mk_arena_alloc(p->arena, sizeof *kv);
        if (!kv) return fail(c);
        kv->key = "name";
        kv->value = mk_arena_strdup(p->arena, opts->name);
        p->user_meta = kv;
        p->n_user_meta = 1;
    }
    return MK_OK;
}

static mk_status import_common(const unsigned char *data, size_t size, const char *file,
                               const char *dir, mk_mapped *keep, const mk_convert_options *opts,
                               unsigned flags, const mk_allocator *alloc, mk_program **out,
                               mk_err *err)
{
    *out = NULL;
    if (!alloc) alloc = mk_alloc_default();
    int spec = spec_for_target(opts ? opts->target : MK_TARGET_DEFAULT);
    if (!mk_ir_opset_for_spec(spec)) {
        if (keep) mk_file_unmap(keep);
        return mk_err_set(err, MK_EINVAL, "%s: unknown target", file);
    }
    mk_program *p = mk_ir_program_new(alloc, spec);
    if (!p) {
        if (keep) mk_file_unmap(keep);
        return MK_OOM(err);
    }
    if (keep && mk_ir_program_keep_map(p, *keep, err) != MK_OK) {
        mk_ir_program_free(p);
        return err->code;
    }
    ox_model model;
    mk_status st = mk_onnx_parse(data, size, alloc, &model, err);
    if (st != MK_OK) {
        mk_err_prefix(err, "%s: ", file);
        mk_ir_program_free(p);
        return st;
    }
    ox_ctx c;
    memset(&c, 0, sizeof c);
    c.p = p;
    c.err = err;
    c.file = file;
    c.dir = dir;
    c.opts = opts;
    c.opts_n_binds = opts ? opts->n_binds : 0;
    c.model = &model;
    c.borrow_ok = keep != NULL;
    c.flags = flags;
    mk_buf_init(&c.unsup, alloc);
    st = import_model(&c, opts);
    mk_buf_free(&c.unsup);
    for (ox_scope *s = c.scope; s; s = s->parent) mk_strmap_free(&s->vals);
    mk_onnx_model_free(&model);
    if (st != MK_OK) {
        mk_ir_program_free(p);
        return st;
    }
    *out = p;
    return MK_OK;
}

mk_status mk_onnx_import(const char *path, const mk_convert_options *opts,
                         const mk_allocator *alloc, mk_program **out, mk_err *err)
{
    mk_mapped m;
    if (mk_file_map_all(path, &m, err) != MK_OK) {
        mk_err_prefix(err, "%s: ", path);
        return err->code;
    }
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (slash)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else
        snprintf(dir, sizeof dir, ".");
    if (slash == path) snprintf(dir, sizeof dir, "/");
    const char *file = slash ? slash + 1 : path;
    return import_common(m.data, m.size, file, dir, &m, opts, 0, alloc, out, err);
}

mk_status mk_onnx_import_mem(const void *data, size_t size, const char *name,
                             const mk_convert_options *opts, const mk_allocator *alloc,
                             mk_program **out, mk_err *err)
{
    return import_common(data, size, name ? name : "<memory>", NULL, NULL, opts, 0, alloc, out,
                         err);
}

mk_status mk_onnx_import_mem_ex(const void *data, size_t size, const char *name,
                                const mk_convert_options *opts, unsigned flags,
                                const mk_allocator *alloc, mk_program **out, mk_err *err)
{
    return import_common(data, size, name ? name : "<memory>", NULL, NULL, opts, flags, alloc, out,
                         err);
}

/* ---- declared inputs and outputs, without converting ---- */
static int decl_dtype(int et)
{
    switch (et) {
    case 1:
    case 16: return MK_DT_FP32;
    case 10: return MK_DT_FP16;
    case 11: return MK_DT_FP64;
    case 2: return MK_DT_UINT8;
    case 3: return MK_DT_INT8;
    case 4: return MK_DT_UINT16;
    case 5: return MK_DT_INT16;
    case 6: return MK_DT_INT32;
    case 7:
    case 12:
    case 13: return MK_DT_INT64;
    case 9: return MK_DT_BOOL;
    default: return 0;
    }
}

static int decl_fill(mk_io_decl *d, const Onnx__ValueInfoProto *vi)
{
    memset(d, 0, sizeof *d);
    d->rank = -1;
    if (!(d->name = mk_strdup_default(vi->name ? vi->name : ""))) return 0;
    const Onnx__TypeProto__Tensor *tt =
        vi->type && vi->type->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE
            ? vi->type->tensor_type
            : NULL;
    if (!tt) return 1;
    d->dtype = tt->has_elem_type ? decl_dtype(tt->elem_type) : 0;
    if (!tt->shape || tt->shape->n_dim > 8) return 1;
    d->rank = (int)tt->shape->n_dim;
    for (int i = 0; i < d->rank; i++) {
        const Onnx__TensorShapeProto__Dimension *dm = tt->shape->dim[i];
        d->dims[i] = -1;
        if (dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
            dm->dim_value >= 0)
            d->dims[i] = dm->dim_value;
        else if (dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
                 dm->dim_param && *dm->dim_param &&
                 !(d->dim_names[i] = mk_strdup_default(dm->dim_param)))
            return 0;
    }
    return 1;
}

void mk_io_decls_free(mk_io_decls *d)
{
    mk_io_decl *lists[2] = {d->inputs, d->outputs};
    int ns[2] = {d->n_inputs, d->n_outputs};
    for (int l = 0; l < 2; l++) {
        for (int i = 0; lists[l] && i < ns[l]; i++) {
            mk_io_decl *x = &lists[l][i];
            if (x->name) mk_free(NULL, x->name, strlen(x->name) + 1);
            for (int k = 0; k < 8; k++)
                if (x->dim_names[k]) mk_free(NULL, x->dim_names[k], strlen(x->dim_names[k]) + 1);
        }
        if (lists[l]) mk_free(NULL, lists[l], ((size_t)ns[l] + 1) * sizeof *lists[l]);
    }
    memset(d, 0, sizeof *d);
}

mk_status mk_onnx_describe(const char *path, mk_io_decls *out, mk_err *err)
{
    memset(out, 0, sizeof *out);
    mk_mapped m;
    if (mk_file_map_all(path, &m, err) != MK_OK) {
        mk_err_prefix(err, "%s: ", path);
        return err->code;
    }
    ox_model model;
    mk_status st = mk_onnx_parse(m.data, m.size, mk_alloc_default(), &model, err);
    if (st != MK_OK) {
        mk_err_prefix(err, "%s: ", path);
        mk_file_unmap(&m);
        return st;
    }
    const Onnx__GraphProto *g = model.proto->graph;
    if (!g) {
        st = mk_err_set(err, MK_EINVAL, "%s: model has no graph", path);
        goto done;
    }
    out->opset = default_opset(model.proto);
    out->n_nodes = (long)g->n_node;
    size_t ni = 0;
    for (size_t i = 0; i < g->n_input; i++)
        ni += g->input[i]->name && !is_initializer(g, g->input[i]->name);
    /* one spare entry each, so that empty lists allocate too; unfilled entries stay zero */
    out->inputs = mk_calloc(NULL, ni + 1, sizeof *out->inputs);
    out->outputs = mk_calloc(NULL, g->n_output + 1, sizeof *out->outputs);
    out->n_inputs = (int)ni;
    out->n_outputs = (int)g->n_output;
    if (!out->inputs || !out->outputs) {
        st = MK_OOM(err);
        goto done;
    }
    mk_io_decl *d = out->inputs;
    for (size_t i = 0; i < g->n_input && !st; i++)
        if (g->input[i]->name && !is_initializer(g, g->input[i]->name) &&
            !decl_fill(d++, g->input[i]))
            st = MK_OOM(err);
    for (size_t i = 0; i < g->n_output && !st; i++)
        if (!decl_fill(&out->outputs[i], g->output[i])) st = MK_OOM(err);
done:
    mk_onnx_model_free(&model);
    mk_file_unmap(&m);
    if (st) mk_io_decls_free(out);
    return st;
}
