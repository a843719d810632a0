/* Deep copy of a program (mk_program_clone) and the verified fixer (mk_fix): lint a copy,
 * run the passes of the rules it flags (src/passes table order), and after each pass run
 * the interpreter on the same seeded inputs for the original and the fixed program; any
 * output outside tolerance refuses the fix (MK_EMISMATCH naming the pass and rule). Passes
 * that change Core ML's output to the source framework's (H17) are checked against the
 * original run with mk_run_semantics instead. Every pass's output must also pass the verifier
 * (mk_fix_check_types) when the input does, with or without the interpreter check. */
#include <math.h>
#include <string.h>

#include "api_int.h"
#include "lint/lint_int.h"
#include "passes/passes_int.h"

/* ---- clone ---- */

typedef struct dedup dedup;
typedef struct cloner {
    const mk_program *src;
    mk_program *dst;
    mk_ptrmap map; /* source value -> its copy */
    mk_err *e;
    dedup *shared; /* joining: dst payloads a constant may share (never borrow from src) */
} cloner;

static const void *dedup_find(const dedup *d, const mk_value *v);

static int in_maps(const mk_program *p, const void *d)
{
    const unsigned char *c = d;
    for (int i = 0; i < p->n_maps; i++)
        if (p->maps[i].data && c >= p->maps[i].data && c < p->maps[i].data + p->maps[i].size)
            return 1;
    return 0;
}

static mk_value *clone_const(cloner *c, const mk_value *v)
{
    const void *same = c->shared ? dedup_find(c->shared, v) : NULL;
    int borrow = same ? 1 : c->shared ? 0 : in_maps(c->src, v->cst->data);
    mk_value *nv =
        mk_ir_const_value(c->dst, &v->type, same ? same : v->cst->data, v->cst->nbytes, borrow);
    if (!nv) return NULL;
    ((mk_const *)nv->cst)->storage = v->cst->storage;
    ((mk_const *)nv->cst)->blob_offset = v->cst->blob_offset;
    ((mk_const *)nv->cst)->f16_range = v->cst->f16_range;
    nv->is_inline = v->is_inline;
    return nv;
}

static mk_value *map_value(cloner *c, const mk_value *v)
{
    mk_value *nv = mk_ptrmap_get(&c->map, v);
    if (nv) return nv;
    if (v->cst && !v->producer) {
        nv = clone_const(c, v);
        if (nv && !mk_ptrmap_put(&c->map, v, nv)) return NULL;
        return nv;
    }
    mk_err_set(c->e, MK_EINVAL, "clone: value '%s' is used before it is defined",
               v->name ? v->name : "?");
    return NULL;
}

static const char *sdup(cloner *c, const char *s)
{
    return s ? mk_arena_strdup(c->dst->arena, s) : NULL;
}

static mk_status clone_block(cloner *c, const mk_block *sb, mk_block *db, mk_function *nf)
{
    for (int i = 0; i < sb->n_inputs; i++) {
        mk_value *nv = mk_ir_block_add_input(c->dst, db, sb->inputs[i]->name, &sb->inputs[i]->type);
        if (!nv || !mk_ptrmap_put(&c->map, sb->inputs[i], nv)) return MK_OOM(c->e);
    }
    MK_FOR_OPS(sb, op)
    {
        mk_op *no = mk_ir_op_new(c->dst, op->kind, op->name);
        if (!no) return MK_OOM(c->e);
        for (int i = 0; i < op->n_inputs; i++)
            for (int j = 0; j < op->inputs[i].n_args; j++) {
                mk_value *nv = map_value(c, op->inputs[i].args[j]);
                if (!nv) return c->e->code ? c->e->code : MK_OOM(c->e);
                if (!mk_ir_op_add_input(c->dst, no, op->inputs[i].name, nv)) return MK_OOM(c->e);
            }
        for (int i = 0; i < op->n_attrs; i++) {
            const mk_value *av = op->attrs[i].value;
            mk_value *nv = av && av->cst ? clone_const(c, av) : NULL;
            if (!nv || !mk_ir_op_add_attr(c->dst, no, op->attrs[i].name, nv)) return MK_OOM(c->e);
            if (av && !mk_ptrmap_put(&c->map, av, nv)) return MK_OOM(c->e);
        }
        for (int i = 0; i < op->n_blocks; i++) {
            mk_block *nb = mk_ir_block_new(c->dst, nf, no);
            if (!nb || !mk_ir_op_add_block(c->dst, no, nb)) return MK_OOM(c->e);
            mk_status st = clone_block(c, op->blocks[i], nb, nf);
            if (st != MK_OK) return st;
        }
        for (int i = 0; i < op->n_outputs; i++) {
            const mk_value *ov = op->outputs[i];
            mk_value *nv = mk_ir_op_add_output(c->dst, no, ov->name, &ov->type);
            if (!nv)
                return mk_err_set(c->e, MK_EINVAL, "clone: duplicate value name '%s'",
                                  ov->name ? ov->name : "?");
            if (ov->cst) {
                const mk_value *val = op->kind == MK_OP_CONST ? mk_ir_attr(no, "val") : NULL;
                if (val)
                    nv->cst = val->cst;
                else {
                    mk_value *cv = clone_const(c, ov);
                    if (!cv) return MK_OOM(c->e);
                    nv->cst = cv->cst;
                }
            }
            if (!mk_ptrmap_put(&c->map, ov, nv)) return MK_OOM(c->e);
        }
        no->name = op->name ? sdup(c, op->name) : NULL;
        mk_ir_block_append(db, no);
    }
    mk_value **outs =
        mk_arena_array(c->dst->arena, sb->n_outputs ? (size_t)sb->n_outputs : 1, sizeof *outs);
    if (!outs) return MK_OOM(c->e);
    for (int i = 0; i < sb->n_outputs; i++)
        if (!(outs[i] = map_value(c, sb->outputs[i])))
            return c->e->code ? c->e->code : MK_OOM(c->e);
    if (!mk_ir_block_set_outputs(c->dst, db, sb->n_outputs, outs)) return MK_OOM(c->e);
    return MK_OK;
}

static mk_status clone_features(cloner *c, const mk_feature *src, int n, mk_feature **out)
{
    *out = NULL;
    if (!n) return MK_OK;
    mk_feature *f = mk_arena_array(c->dst->arena, (size_t)n, sizeof *f);
    if (!f) return MK_OOM(c->e);
    for (int i = 0; i < n; i++) {
        f[i] = src[i];
        f[i].name = sdup(c, src[i].name);
        f[i].short_description = sdup(c, src[i].short_description);
        if (src[i].n_enumerated && src[i].enumerated) {
            f[i].enumerated =
                mk_arena_memdup(c->dst->arena, src[i].enumerated,
                                (size_t)src[i].n_enumerated * sizeof *src[i].enumerated);
            if (!f[i].enumerated) return MK_OOM(c->e);
        }
    }
    *out = f;
    return MK_OK;
}

static mk_kv *clone_kv(cloner *c, const mk_kv *src, int n)
{
    mk_kv *kv = n ? mk_arena_array(c->dst->arena, (size_t)n, sizeof *kv) : NULL;
    for (int i = 0; kv && i < n; i++) {
        kv[i].key = sdup(c, src[i].key);
        kv[i].value = sdup(c, src[i].value);
    }
    return kv;
}

mk_status mk_program_clone(const mk_program *p, mk_program **out, mk_err *err)
{
    *out = NULL;
    if (!p) return mk_err_set(err, MK_EINVAL, "clone: no program");
    cloner c;
    memset(&c, 0, sizeof c);
    c.src = p;
    c.e = err;
    mk_ptrmap_init(&c.map, p->alloc);
    c.dst = mk_ir_program_new(p->alloc, p->spec_version);
    if (!c.dst) return MK_OOM(err);
    mk_program *q = c.dst;
    mk_status st = MK_OK;
    q->n_inputs = p->n_inputs;
    q->n_outputs = p->n_outputs;
    q->short_description = sdup(&c, p->short_description);
    q->version_string = sdup(&c, p->version_string);
    q->author = sdup(&c, p->author);
    q->license = sdup(&c, p->license);
    q->n_user_meta = p->n_user_meta;
    q->user_meta = clone_kv(&c, p->user_meta, p->n_user_meta);
    q->n_build_info = p->n_build_info;
    q->build_info = clone_kv(&c, p->build_info, p->n_build_info);
    q->is_updatable = p->is_updatable;
    q->predicted_feature = sdup(&c, p->predicted_feature);
    q->predicted_probs = sdup(&c, p->predicted_probs);
    /* the copy borrows p's mapped payloads: list them (not owned) so that passes on the copy
     * can still tell file-backed constants (mk_ir_release_const) */
    for (int i = 0; st == MK_OK && i < p->n_maps; i++) {
        mk_mapped m = p->maps[i];
        m.borrowed = 1;
        st = mk_ir_program_keep_map(q, m, err);
    }
    if (st == MK_OK && ((p->n_user_meta && !q->user_meta) || (p->n_build_info && !q->build_info)))
        st = MK_OOM(err);
    if (st == MK_OK) st = clone_features(&c, p->inputs, p->n_inputs, &q->inputs);
    if (st == MK_OK) st = clone_features(&c, p->outputs, p->n_outputs, &q->outputs);
    q->n_states = p->n_states;
    if (st == MK_OK) st = clone_features(&c, p->states, p->n_states, &q->states);
    q->default_function = sdup(&c, p->default_function);
    if (st == MK_OK && p->n_fdescs &&
        !(q->fdescs = mk_arena_array(q->arena, (size_t)p->n_fdescs, sizeof *q->fdescs)))
        st = MK_OOM(err);
    for (int i = 0; st == MK_OK && i < p->n_fdescs; i++) {
        const mk_fdesc *sd = &p->fdescs[i];
        mk_fdesc *dd = &q->fdescs[i];
        *dd = *sd;
        dd->name = sdup(&c, sd->name);
        if (!(st = clone_features(&c, sd->inputs, sd->n_inputs, &dd->inputs)) &&
            !(st = clone_features(&c, sd->outputs, sd->n_outputs, &dd->outputs)))
            st = clone_features(&c, sd->states, sd->n_states, &dd->states);
        q->n_fdescs = i + 1;
    }
    for (int i = 0; st == MK_OK && i < p->n_functions; i++) {
        const mk_function *f = p->functions[i];
        mk_function *nf = mk_ir_function_new(q, f->name);
        if (!nf) {
            st = MK_OOM(err);
            break;
        }
        if (f->opset) nf->opset = sdup(&c, f->opset);
        for (int k = 0; st == MK_OK && k < f->n_inputs; k++) {
            mk_value *nv = mk_ir_function_add_input(q, nf, f->inputs[k]->name, &f->inputs[k]->type);
            if (!nv || !mk_ptrmap_put(&c.map, f->inputs[k], nv))
                st = MK_OOM(err);
            else
                nv->is_state = f->inputs[k]->is_state;
        }
        if (st == MK_OK) st = clone_block(&c, f->block, nf->block, nf);
    }
    mk_ptrmap_free(&c.map);
    if (st != MK_OK) {
        mk_ir_program_free(q);
        return st;
    }
    *out = q;
    return MK_OK;
}

/* ---- joining functions (one package from several conversions) ---- */

#define DEDUP_MIN 64 /* bytes: smaller payloads are copied */

/* dst's constant payloads by content, so a joined function's weights point at the same bytes
 * and the writer stores them once. */
struct dedup {
    const mk_value **vals;
    uint64_t *hash;
    size_t cap;
};

static uint64_t content_hash(const mk_value *v)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)v->type.dtype ^ ((uint64_t)v->cst->nbytes << 8);
    const unsigned char *d = v->cst->data;
    for (size_t i = 0; i < v->cst->nbytes; i++) h = (h ^ d[i]) * 1099511628211ull;
    return h;
}

static int dedup_key(const mk_value *v)
{
    return v && v->cst && v->cst->data && v->cst->nbytes >= DEDUP_MIN &&
           v->type.dtype != MK_DT_STRING;
}

static void dedup_add(dedup *d, const mk_value *v)
{
    if (!dedup_key(v)) return;
    uint64_t h = content_hash(v);
    for (size_t i = (size_t)h & (d->cap - 1);; i = (i + 1) & (d->cap - 1)) {
        if (!d->vals[i]) {
            d->vals[i] = v;
            d->hash[i] = h;
            return;
        }
        if (d->vals[i]->cst->data == v->cst->data) return;
    }
}

static const void *dedup_find(const dedup *d, const mk_value *v)
{
    if (!dedup_key(v)) return NULL;
    uint64_t h = content_hash(v);
    for (size_t i = (size_t)h & (d->cap - 1); d->vals[i]; i = (i + 1) & (d->cap - 1)) {
        const mk_value *o = d->vals[i];
        if (d->hash[i] == h && o->type.dtype == v->type.dtype && o->cst->nbytes == v->cst->nbytes &&
            memcmp(o->cst->data, v->cst->data, v->cst->nbytes) == 0)
            return o->cst->data;
    }
    return NULL;
}

static size_t count_consts(const mk_block *b)
{
    size_t n = 0;
    MK_FOR_OPS(b, op)
    {
        n += (size_t)op->n_attrs;
        for (int i = 0; i < op->n_inputs; i++) n += (size_t)op->inputs[i].n_args;
        for (int i = 0; i < op->n_blocks; i++) n += count_consts(op->blocks[i]);
    }
    return n;
}

static void add_consts(dedup *d, const mk_block *b)
{
    MK_FOR_OPS(b, op)
    {
        for (int i = 0; i < op->n_attrs; i++) dedup_add(d, op->attrs[i].value);
        for (int i = 0; i < op->n_inputs; i++)
            for (int j = 0; j < op->inputs[i].n_args; j++) dedup_add(d, op->inputs[i].args[j]);
        for (int i = 0; i < op->n_blocks; i++) add_consts(d, op->blocks[i]);
    }
}

static mk_status describe(cloner *c, mk_fdesc *d, const char *name, const mk_program *from)
{
    mk_status st;
    d->name = sdup(c, name);
    d->n_inputs = from->n_inputs;
    d->n_outputs = from->n_outputs;
    d->n_states = from->n_states;
    if (!d->name) return MK_OOM(c->e);
    if ((st = clone_features(c, from->inputs, from->n_inputs, &d->inputs)) ||
        (st = clone_features(c, from->outputs, from->n_outputs, &d->outputs)))
        return st;
    return clone_features(c, from->states, from->n_states, &d->states);
}

mk_status mk_program_join_function(mk_program *dst, const mk_program *src, const char *name,
                                   mk_err *err)
{
    const mk_function *f = mk_ir_main(src);
    if (!f || !name || !mk_ir_valid_identifier(name) || mk_ir_function_find(dst, name))
        return mk_err_set(err, MK_EINVAL,
                          "function '%s': no function to join, or the name is "
                          "taken or not an identifier",
                          name ? name : "?");
    if (dst->spec_version < 9 || src->spec_version < 9)
        return mk_err_set(err, MK_EINVAL,
                          "function '%s': several functions need --target "
                          "ios18 or later",
                          name);
    cloner c;
    memset(&c, 0, sizeof c);
    c.src = src;
    c.dst = dst;
    c.e = err;
    dedup d = {NULL, NULL, 16};
    size_t n = 0;
    for (int i = 0; i < dst->n_functions; i++) n += count_consts(dst->functions[i]->block);
    while (d.cap < 2 * n + 16) d.cap *= 2;
    d.vals = mk_calloc(dst->alloc, d.cap, sizeof *d.vals);
    d.hash = mk_calloc(dst->alloc, d.cap, sizeof *d.hash);
    mk_status st = d.vals && d.hash ? MK_OK : MK_OOM(err);
    for (int i = 0; st == MK_OK && i < dst->n_functions; i++)
        add_consts(&d, dst->functions[i]->block);
    c.shared = &d;
    mk_ptrmap_init(&c.map, dst->alloc);
    /* one description per function: the existing ones first */
    int had = dst->n_fdescs;
    mk_fdesc *fd = st ? NULL : mk_arena_array(dst->arena, (size_t)(had ? had : 1) + 1, sizeof *fd);
    if (!st && !fd) st = MK_OOM(err);
    if (!st && had) memcpy(fd, dst->fdescs, (size_t)had * sizeof *fd);
    if (!st && !had) st = describe(&c, &fd[0], mk_ir_main(dst)->name, dst);
    if (!st) st = describe(&c, &fd[had ? had : 1], name, src);
    mk_function *nf = st ? NULL : mk_ir_function_new(dst, name);
    if (!st && !nf) st = MK_OOM(err);
    if (!st && f->opset) nf->opset = sdup(&c, f->opset);
    for (int k = 0; st == MK_OK && k < f->n_inputs; k++) {
        mk_value *nv = mk_ir_function_add_input(dst, nf, f->inputs[k]->name, &f->inputs[k]->type);
        if (!nv || !mk_ptrmap_put(&c.map, f->inputs[k], nv))
            st = MK_OOM(err);
        else
            nv->is_state = f->inputs[k]->is_state;
    }
    if (st == MK_OK) st = clone_block(&c, f->block, nf->block, nf);
    if (st == MK_OK) {
        dst->fdescs = fd;
        dst->n_fdescs = (had ? had : 1) + 1;
        if (!dst->default_function) dst->default_function = mk_ir_main(dst)->name;
    }
    mk_ptrmap_free(&c.map);
    mk_free(dst->alloc, d.vals, d.cap * sizeof *d.vals);
    mk_free(dst->alloc, d.hash, d.cap * sizeof *d.hash);
    return st;
}

mk_status mk_program_name_function(mk_program *p, const char *name, mk_err *err)
{
    mk_function *f = mk_ir_main(p);
    if (!f || !mk_ir_valid_identifier(name))
        return mk_err_set(err, MK_EINVAL, "function name '%s' is not an identifier", name);
    const char *nm = mk_arena_strdup(p->arena, name);
    if (!nm) return MK_OOM(err);
    for (int i = 0; i < p->n_fdescs; i++)
        if (p->fdescs[i].name && strcmp(p->fdescs[i].name, f->name) == 0) p->fdescs[i].name = nm;
    f->name = nm;
    p->default_function = nm;
    return MK_OK;
}

/* ---- verified fixing ---- */

mk_status mk_fix_check_types(const mk_program *p, const char *stage, mk_err *err)
{
    mk_err e = {MK_OK, ""};
    mk_status st = mk_ir_verify(p, &e);
    if (st == MK_OK) return MK_OK;
    if (st == MK_ENOMEM) return MK_OOM(err);
    return mk_err_set(err, MK_EINTERNAL,
                      "pass %s wrote a program that does not type-check (Core ML would refuse "
                      "it); nothing written: %s",
                      stage ? stage : "stage", e.msg);
}

static int pass_has(const mk_pass_info *pi, const char *id)
{
    return mk_rule_list_has(pi->hazards, id);
}

/* True when the comma list names one of the pass's hazards. */
static int list_names_pass(const char *list, const mk_pass_info *pi)
{
    const char *h = pi->hazards;
    while (list && *h) {
        char id[16];
        size_t n = strcspn(h, ",");
        if (n < sizeof id) {
            memcpy(id, h, n);
            id[n] = 0;
            if (mk_rule_list_has(list, id)) return 1;
        }
        h += n + (h[n] == ',');
    }
    return 0;
}

/* True when the pass should run: some finding of one of its hazards names it. Opt-in passes
 * run only when asked: --ane-layout (H25) or --only naming their rule. */
static int wanted(const mk_pass_info *pi, const mk_findings *f, const mk_fix_options *o)
{
    if (!pi->hazards[0]) return 0;
    if ((pi->opt_in & MK_PASS_OPT_IN) && !(o->ane_layout && pass_has(pi, "H25")) &&
        !list_names_pass(o->only, pi))
        return 0;
    for (int i = 0; i < f->n; i++) {
        const mk_finding *x = &f->items[i];
        if (!x->fix || strcmp(x->fix, pi->name) != 0 || !pass_has(pi, x->rule)) continue;
        if (o->only && !mk_rule_list_has(o->only, x->rule)) continue;
        if (mk_rule_list_has(o->skip, x->rule)) continue;
        return 1;
    }
    return 0;
}

/* Worst |a-b| over matching outputs; sets *bad when an element is outside tolerance. */
static double compare(const mk_tensor_list *a, const mk_tensor_list *b, double atol, double rtol,
                      int *bad, char *where, size_t wn)
{
    double worst = 0;
    *bad = 0;
    if (a->n != b->n) {
        *bad = 1;
        snprintf(where, wn, "output count %d vs %d", a->n, b->n);
        return INFINITY;
    }
    for (int i = 0; i < a->n; i++) {
        const mk_tensor *x = &a->items[i], *y = &b->items[i];
        if (x->dtype != y->dtype || x->nbytes != y->nbytes) {
            *bad = 1;
            snprintf(where, wn, "output '%s' changed type or size", x->name ? x->name : "?");
            return INFINITY;
        }
        if (x->dtype == 11) {
            size_t n = x->nbytes / 4;
            const float *fx = x->data, *fy = y->data;
            for (size_t k = 0; k < n; k++) {
                double u = fx[k], v = fy[k];
                if (isnan(u) && isnan(v)) continue;
                if (isinf(u) && u == v) continue;
                double d = fabs(u - v);
                if (!(d <= atol + rtol * fabs(u))) {
                    if (!*bad)
                        snprintf(where, wn, "output '%s' element %zu: %g vs %g",
                                 x->name ? x->name : "?", k, u, v);
                    *bad = 1;
                }
                if (!(d <= worst)) worst = d;
            }
        } else if (memcmp(x->data, y->data, x->nbytes) != 0) {
            *bad = 1;
            snprintf(where, wn, "output '%s' differs", x->name ? x->name : "?");
            worst = INFINITY;
        }
    }
    return worst;
}

/* mk_run under the source framework's semantics (mk_run_semantics), for passes flagged
 * MK_PASS_SOURCE_SEMANTICS: the reference they must match is the original run that way. */
static mk_status run_source(const mk_program *p, const mk_run_options *ro, const mk_tensor_list *in,
                            mk_tensor_list *out, mk_err *err)
{
    mk_session *s = NULL;
    mk_status st = mk_session_new(p, ro, &s, err);
    if (st != MK_OK) return st;
    mk_run_semantics sem = {1};
    mk_session_set_semantics(s, &sem);
    st = mk_session_run(s, in, out, NULL, err);
    mk_session_free(s);
    return st;
}

mk_status mk_fix(const mk_program *in, const mk_fix_options *opts, mk_program **out,
                 mk_fix_report *rep, mk_err *err)
{
    static const mk_fix_options dflt = {0};
    const mk_fix_options *o = opts ? opts : &dflt;
    /* Default tolerance: fp32 programs 1e-4 + 1e-3|b|; programs that compute in fp16 round
     * every op output to half, so a rewritten order of operations moves results by a few
     * fp16 ulps: 1e-2 + 1e-2|b| there. */
    int half = mk_program_computes_fp16(in);
    double atol = o->atol > 0 ? o->atol : half ? 1e-2 : 1e-4;
    double rtol = o->rtol > 0 ? o->rtol : half ? 1e-2 : 1e-3;
    mk_fix_report local;
    if (!rep) rep = &local;
    memset(rep, 0, sizeof *rep);
    *out = NULL;
    mk_program *q = NULL;
    mk_findings *f = NULL;
    mk_tensor_list inputs = {0, NULL}, ref = {0, NULL}, got = {0, NULL}, src = {0, NULL};
    /* Once a source-semantics pass changed something, the fixed program follows the source
     * framework, so it and every later pass are checked against the original run that way. */
    const mk_tensor_list *want = &ref;
    int own_inputs = 0;
    mk_status st = mk_program_clone(in, &q, err);
    if (st != MK_OK) return st;
    mk_lint_options lo = {MK_TARGET_DEFAULT, o->assume_fp16, o->only, o->skip};
    if ((st = mk_lint(q, &lo, &f, err)) != MK_OK) goto fail;
    int typed = mk_ir_verify(in, NULL) == MK_OK;
    const mk_tensor_list *use = o->inputs;
    mk_run_options ro = {0, 0, o->seed};
    if (!o->no_verify) {
        if (!use) {
            if ((st = mk_random_inputs(in, o->seed, &inputs, err)) != MK_OK) goto fail;
            own_inputs = 1;
            use = &inputs;
        }
        if ((st = mk_run(in, &ro, use, &ref, err)) != MK_OK) {
            mk_err_prefix(err, "fix: running the original: ");
            goto fail;
        }
        rep->verified = 1;
    }
    for (int i = 0; i < mk_pass_count(); i++) {
        const mk_pass_info *pi = mk_pass_at(i);
        if (!wanted(pi, f, o) && !((pi->opt_in & MK_PASS_IOS18) && !o->only)) continue;
        int n = mk_pass_run(pi, q, err);
        if (n < 0) {
            st = err->code ? err->code : MK_EINTERNAL;
            goto fail;
        }
        if (n == 0) continue;
        if (typed && (st = mk_fix_check_types(q, pi->name, err)) != MK_OK) goto fail;
        double e = -1;
        int source = (pi->opt_in & MK_PASS_SOURCE_SEMANTICS) != 0;
        if (!o->no_verify && source && want != &src) {
            if ((st = run_source(in, &ro, use, &src, err)) != MK_OK) {
                mk_err_prefix(err, "fix: running the original with source-framework semantics: ");
                goto fail;
            }
            want = &src;
        }
        if (!o->no_verify) {
            mk_tensor_list_free(&got);
            if ((st = mk_run(q, &ro, use, &got, err)) != MK_OK) {
                mk_err_prefix(err, "fix: running after %s (%s): ", pi->name, pi->hazards);
                goto fail;
            }
            int bad = 0;
            char where[256] = "";
            e = compare(want, &got, atol, rtol, &bad, where, sizeof where);
            if (bad) {
                st = mk_err_set(err, MK_EMISMATCH,
                                "fix %s (%s) changed the results%s: %s (tolerance %g + %g*|x|); "
                                "nothing written",
                                pi->name, pi->hazards,
                                want == &src ? " (vs the source framework's semantics)" : "", where,
                                atol, rtol);
                goto fail;
            }
            if (e > rep->max_err) rep->max_err = e;
        }
        if (rep->n_rows < (int)(sizeof rep->rows / sizeof *rep->rows)) {
            mk_fix_row *r = &rep->rows[rep->n_rows++];
            snprintf(r->rule, sizeof r->rule, "%s", pi->hazards);
            snprintf(r->pass, sizeof r->pass, "%s", pi->name);
            r->ops_changed = n;
            r->max_err = e;
            r->source_semantics = source;
        }
    }
    if (mk_pass_dce(q, err) < 0) {
        st = err->code ? err->code : MK_ENOMEM;
        goto fail;
    }
    mk_findings_free(f);
    mk_tensor_list_free(&got);
    mk_tensor_list_free(&ref);
    mk_tensor_list_free(&src);
    if (own_inputs) mk_tensor_list_free(&inputs);
    *out = q;
    return MK_OK;
fail:
    mk_findings_free(f);
    mk_tensor_list_free(&got);
    mk_tensor_list_free(&ref);
    mk_tensor_list_free(&src);
    if (own_inputs) mk_tensor_list_free(&inputs);
    mk_ir_program_free(q);
    return st;
}

void mk_fix_report_write(const mk_fix_report *rep, FILE *out)
{
    fprintf(out, "%-16s %-28s %12s  %s\n", "rule", "pass", "ops changed", "verified max error");
    int total = 0, source = 0;
    for (int i = 0; i < rep->n_rows; i++) {
        const mk_fix_row *r = &rep->rows[i];
        char rule[32];
        snprintf(rule, sizeof rule, "%s%s", r->rule, r->source_semantics ? "*" : "");
        total += r->ops_changed;
        source |= r->source_semantics;
        if (r->max_err >= 0)
            fprintf(out, "%-16s %-28s %12d  %.3g\n", rule, r->pass, r->ops_changed, r->max_err);
        else
            fprintf(out, "%-16s %-28s %12d  not verified\n", rule, r->pass, r->ops_changed);
    }
    if (source)
        fprintf(out, "* changes Core ML's output on purpose: verified against the original run "
                     "with the source framework's semantics (PyTorch/ONNX)\n");
    fprintf(out, "%d op%s changed by %d fix%s; %s\n", total, total == 1 ? "" : "s", rep->n_rows,
            rep->n_rows == 1 ? "" : "es",
            rep->verified ? "outputs verified against the original with the interpreter"
                          : "not verified");
}
