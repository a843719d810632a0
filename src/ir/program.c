/* Building and editing the IR: programs, functions, blocks, ops, values and constants,
 * unique naming, use replacement and dead-op removal. */
#include <ctype.h>
#include <string.h>

#include "ir.h"

mk_program *mk_ir_program_new(const mk_allocator *a, int spec_version)
{
    if (!a) a = mk_alloc_default();
    mk_arena *ar = mk_arena_new(a);
    if (!ar) return NULL;
    mk_program *p = mk_arena_alloc(ar, sizeof *p);
    if (!p) {
        mk_arena_free(ar);
        return NULL;
    }
    p->arena = ar;
    p->alloc = a;
    p->spec_version = spec_version;
    mk_strmap_init(&p->names, a);
    return p;
}

void mk_ir_program_free(mk_program *p)
{
    if (!p) return;
    for (int i = 0; i < p->n_maps; i++)
        if (!p->maps[i].borrowed) mk_file_unmap(&p->maps[i]);
    mk_free(p->alloc, p->maps, (size_t)p->n_maps * sizeof *p->maps);
    mk_strmap_free(&p->names);
    mk_arena_free(p->arena);
}

mk_status mk_ir_program_keep_map(mk_program *p, mk_mapped m, mk_err *e)
{
    mk_mapped *nm = mk_realloc(p->alloc, p->maps, (size_t)p->n_maps * sizeof *nm,
                               (size_t)(p->n_maps + 1) * sizeof *nm);
    if (!nm) {
        if (!m.borrowed) mk_file_unmap(&m);
        return MK_OOM(e);
    }
    p->maps = nm;
    p->maps[p->n_maps++] = m;
    return MK_OK;
}

void mk_ir_program_adopt_maps(mk_program *dst, mk_program *src)
{
    for (int i = 0; i < src->n_maps; i++) {
        if (src->maps[i].borrowed) continue;
        for (int j = 0; j < dst->n_maps; j++)
            if (dst->maps[j].borrowed && dst->maps[j].data == src->maps[i].data) {
                dst->maps[j].borrowed = 0;
                src->maps[i].borrowed = 1;
                break;
            }
    }
}

int mk_ir_program_owns_anon(const mk_program *p, const void *d, size_t n)
{
    const unsigned char *b = d;
    for (int i = 0; b && i < p->n_maps; i++) {
        const mk_mapped *m = &p->maps[i];
        if (m->anon && !m->borrowed && b >= m->data && n <= m->size &&
            (size_t)(b - m->data) <= m->size - n)
            return 1;
    }
    return 0;
}

void *mk_ir_program_alloc_payload(mk_program *p, size_t n)
{
    if (n < ((size_t)64 << 10)) return mk_arena_alloc(p->arena, n ? n : 1);
    mk_mapped m;
    mk_err tmp = {0};
    if (!mk_anon_map(n, 1, &m) || mk_ir_program_keep_map(p, m, &tmp) != MK_OK) return NULL;
    return (void *)m.data;
}

void mk_ir_release_const(const mk_program *p, const mk_const *c)
{
    const unsigned char *d = c ? c->data : NULL;
    for (int i = 0; d && i < p->n_maps; i++) {
        const mk_mapped *m = &p->maps[i];
        if (m->anon || d < m->data || d >= m->data + m->size) continue;
        size_t n = c->nbytes;
        if (n > (size_t)(m->data + m->size - d)) n = (size_t)(m->data + m->size - d);
        mk_file_release(d, n);
        return;
    }
}

const char *mk_ir_opset_for_spec(int v)
{
    static const char *const names[] = {"CoreML5", "CoreML6", "CoreML7", "CoreML8"};
    return v >= 6 && v <= 9 ? names[v - 6] : NULL;
}

int mk_ir_ios_for_spec(int v)
{
    return v >= 6 && v <= 9 ? v + 9 : 0;
}

/* Grow a counted array held in the arena by one slot. */
static void *grow1(mk_arena *ar, void *arr, int n, size_t elem)
{
    void *na = mk_arena_array(ar, (size_t)n + 1, elem);
    if (na && n) memcpy(na, arr, (size_t)n * elem);
    return na;
}

mk_function *mk_ir_function_new(mk_program *p, const char *name)
{
    mk_function *f = mk_arena_alloc(p->arena, sizeof *f);
    mk_function **nf = grow1(p->arena, p->functions, p->n_functions, sizeof *nf);
    if (!f || !nf) return NULL;
    f->name = mk_arena_strdup(p->arena, name);
    f->opset = mk_ir_opset_for_spec(p->spec_version);
    if (!f->name) return NULL;
    f->block = mk_ir_block_new(p, f, NULL);
    if (!f->block) return NULL;
    nf[p->n_functions++] = f;
    p->functions = nf;
    p->name_scope = f;
    return f;
}

mk_function *mk_ir_function_find(const mk_program *p, const char *name)
{
    for (int i = 0; name && i < p->n_functions; i++)
        if (strcmp(p->functions[i]->name, name) == 0) return p->functions[i];
    return NULL;
}

const mk_feature *mk_ir_feature(const mk_program *p, const mk_function *f, const char *name,
                                int states)
{
    const mk_feature *fs = states ? p->states : p->inputs;
    int n = states ? p->n_states : p->n_inputs;
    if (f && p->n_fdescs) {
        n = 0;
        for (int i = 0; i < p->n_fdescs; i++)
            if (p->fdescs[i].name && strcmp(p->fdescs[i].name, f->name) == 0) {
                fs = states ? p->fdescs[i].states : p->fdescs[i].inputs;
                n = states ? p->fdescs[i].n_states : p->fdescs[i].n_inputs;
            }
    } else if (f && f != mk_ir_main(p)) {
        n = 0;
    }
    for (int i = 0; i < n; i++)
        if (fs[i].name && strcmp(fs[i].name, name) == 0) return &fs[i];
    return NULL;
}

mk_function *mk_ir_main(const mk_program *p)
{
    mk_function *d = mk_ir_function_find(p, p->default_function);
    if (d) return d;
    for (int i = 0; i < p->n_functions; i++)
        if (strcmp(p->functions[i]->name, "main") == 0) return p->functions[i];
    return p->n_functions ? p->functions[0] : NULL;
}

static mk_value *value_new(mk_program *p, const char *name, const mk_type *t)
{
    mk_value *v = mk_arena_alloc(p->arena, sizeof *v);
    if (!v) return NULL;
    v->name = name;
    if (t) v->type = *t;
    return v;
}

mk_value *mk_ir_function_add_input(mk_program *p, mk_function *f, const char *name,
                                   const mk_type *t)
{
    const char *nm = mk_arena_strdup(p->arena, name);
    if (!nm || !mk_ir_reserve_name(p, nm)) return NULL;
    mk_value *v = value_new(p, nm, t);
    mk_value **ni = grow1(p->arena, f->inputs, f->n_inputs, sizeof *ni);
    if (!v || !ni) return NULL;
    ni[f->n_inputs++] = v;
    f->inputs = ni;
    return v;
}

mk_value *mk_ir_function_add_state(mk_program *p, mk_function *f, const char *name,
                                   const mk_type *t)
{
    mk_value *v = mk_ir_function_add_input(p, f, name, t);
    if (v) v->is_state = 1;
    return v;
}

mk_block *mk_ir_block_new(mk_program *p, mk_function *f, mk_op *parent_op)
{
    mk_block *b = mk_arena_alloc(p->arena, sizeof *b);
    if (!b) return NULL;
    b->function = f;
    b->parent_op = parent_op;
    return b;
}

mk_value *mk_ir_block_add_input(mk_program *p, mk_block *b, const char *name, const mk_type *t)
{
    const char *nm = mk_arena_strdup(p->arena, name);
    if (!nm || !mk_ir_reserve_name(p, nm)) return NULL;
    mk_value *v = value_new(p, nm, t);
    mk_value **ni = grow1(p->arena, b->inputs, b->n_inputs, sizeof *ni);
    if (!v || !ni) return NULL;
    ni[b->n_inputs++] = v;
    b->inputs = ni;
    return v;
}

int mk_ir_block_set_outputs(mk_program *p, mk_block *b, int n, mk_value *const *vals)
{
    mk_value **o = mk_arena_array(p->arena, n ? (size_t)n : 1, sizeof *o);
    if (!o) return 0;
    for (int i = 0; i < n; i++) o[i] = vals[i];
    b->outputs = o;
    b->n_outputs = n;
    return 1;
}

static const char *const keywords[] = {"any",   "bool",  "program", "func",   "tensor", "list",
                                       "dict",  "tuple", "true",    "false",  "string", "bf16",
                                       "fp16",  "fp32",  "fp64",    "int8",   "int16",  "int32",
                                       "int64", "uint8", "uint16",  "uint32", "uint64", "state"};

int mk_ir_valid_identifier(const char *s)
{
    if (!s || !(isalpha((unsigned char)*s) || *s == '_')) return 0;
    for (const char *c = s + 1; *c; c++)
        if (!(isalnum((unsigned char)*c) || *c == '_' || *c == '@')) return 0;
    for (size_t i = 0; i < sizeof keywords / sizeof *keywords; i++)
        if (strcmp(s, keywords[i]) == 0) return 0;
    return 1;
}

int mk_ir_reserve_name(mk_program *p, const char *name)
{
    const void *owner = p->name_scope ? (const void *)p->name_scope : (const void *)p;
    void *got = mk_strmap_get(&p->names, name);
    if (got == owner || got == p) return 0;
    return mk_strmap_put(&p->names, name, (void *)owner);
}

const char *mk_ir_unique_name(mk_program *p, const char *base)
{
    char clean[256];
    size_t n = 0;
    if (!base || !*base) base = "var";
    if (!(isalpha((unsigned char)base[0]) || base[0] == '_')) {
        memcpy(clean, "var_", 4);
        n = 4;
    } else if (base[0] == '_') {
        memcpy(clean, "var", 3);
        n = 3;
    }
    for (const char *c = base; *c && n < 200; c++)
        clean[n++] = (isalnum((unsigned char)*c) || *c == '_') ? *c : '_';
    clean[n] = 0;
    for (size_t i = 0; i < sizeof keywords / sizeof *keywords; i++)
        if (strcmp(clean, keywords[i]) == 0) {
            memcpy(clean + n, "_workaround", 12);
            n += 11;
            break;
        }
    if (!mk_strmap_get(&p->names, clean)) {
        char *s = mk_arena_strdup(p->arena, clean);
        return s && mk_ir_reserve_name(p, s) ? s : NULL;
    }
    for (;;) {
        char *s = mk_arena_printf(p->arena, "%s_%lu", clean, p->name_counter++);
        if (!s) return NULL;
        if (!mk_strmap_get(&p->names, s)) return mk_ir_reserve_name(p, s) ? s : NULL;
    }
}

mk_op *mk_ir_op_new(mk_program *p, mk_op_kind k, const char *name)
{
    mk_op *op = mk_arena_alloc(p->arena, sizeof *op);
    if (!op) return NULL;
    op->kind = k;
    if (name && !(op->name = mk_arena_strdup(p->arena, name))) return NULL;
    return op;
}

int mk_ir_op_add_input(mk_program *p, mk_op *op, const char *param, mk_value *v)
{
    if (!v) return 0; /* a builder's failed value: the op is never written half-bound */
    for (int i = 0; i < op->n_inputs; i++) {
        mk_input *in = &op->inputs[i];
        if (strcmp(in->name, param) != 0) continue;
        mk_value **na = grow1(p->arena, in->args, in->n_args, sizeof *na);
        if (!na) return 0;
        na[in->n_args++] = v;
        in->args = na;
        return 1;
    }
    mk_input *ni = grow1(p->arena, op->inputs, op->n_inputs, sizeof *ni);
    mk_value **args = mk_arena_alloc(p->arena, sizeof *args);
    const char *nm = mk_arena_strdup(p->arena, param);
    if (!ni || !args || !nm) return 0;
    args[0] = v;
    ni[op->n_inputs].name = nm;
    ni[op->n_inputs].n_args = 1;
    ni[op->n_inputs].args = args;
    op->inputs = ni;
    op->n_inputs++;
    return 1;
}

mk_value *mk_ir_op_add_output(mk_program *p, mk_op *op, const char *name, const mk_type *t)
{
    const char *nm;
    if (name) {
        nm = mk_arena_strdup(p->arena, name);
        if (!nm || !mk_ir_reserve_name(p, nm)) return NULL;
    } else {
        nm = mk_ir_unique_name(p, op->name ? op->name : mk_ir_op_info(op->kind)->name);
    }
    if (!nm) return NULL;
    mk_value *v = value_new(p, nm, t);
    mk_value **no = grow1(p->arena, op->outputs, op->n_outputs, sizeof *no);
    if (!v || !no) return NULL;
    v->producer = op;
    v->producer_output = op->n_outputs;
    no[op->n_outputs++] = v;
    op->outputs = no;
    if (!op->name) op->name = nm;
    return v;
}

int mk_ir_op_add_attr(mk_program *p, mk_op *op, const char *name, mk_value *v)
{
    mk_attr *na = grow1(p->arena, op->attrs, op->n_attrs, sizeof *na);
    const char *nm = mk_arena_strdup(p->arena, name);
    if (!na || !nm) return 0;
    na[op->n_attrs].name = nm;
    na[op->n_attrs].value = v;
    op->attrs = na;
    op->n_attrs++;
    return 1;
}

int mk_ir_op_add_block(mk_program *p, mk_op *op, mk_block *b)
{
    mk_block **nb = grow1(p->arena, op->blocks, op->n_blocks, sizeof *nb);
    if (!nb) return 0;
    nb[op->n_blocks++] = b;
    op->blocks = nb;
    b->parent_op = op;
    return 1;
}

mk_value *mk_ir_const_value(mk_program *p, const mk_type *t, const void *data, size_t nbytes,
                            int borrow)
{
    mk_value *v = value_new(p, NULL, t);
    mk_const *c = mk_arena_alloc(p->arena, sizeof *c);
    if (!v || !c) return NULL;
    if (borrow) {
        c->data = data;
    } else if (t->dtype == MK_DT_STRING) {
        size_t n = nbytes / sizeof(char *);
        const char **dst = mk_arena_array(p->arena, n ? n : 1, sizeof *dst);
        if (!dst) return NULL;
        for (size_t i = 0; i < n; i++)
            if (!(dst[i] = mk_arena_strdup(p->arena, ((const char *const *)data)[i]))) return NULL;
        c->data = dst;
    } else {
        if (!(c->data = mk_arena_memdup(p->arena, data, nbytes))) return NULL;
    }
    c->nbytes = nbytes;
    v->cst = c;
    return v;
}

mk_value *mk_ir_const(mk_program *p, mk_block *b, const char *name, const mk_type *t,
                      const void *data, size_t nbytes, int borrow)
{
    mk_value *cv = mk_ir_const_value(p, t, data, nbytes, borrow);
    if (!cv) return NULL;
    const char *nm = mk_ir_unique_name(p, name);
    mk_op *op = nm ? mk_ir_op_new(p, MK_OP_CONST, nm) : NULL;
    if (!op) return NULL;
    mk_value *out = value_new(p, nm, t);
    mk_value **outs = mk_arena_alloc(p->arena, sizeof *outs);
    if (!out || !outs || !mk_ir_op_add_attr(p, op, "val", cv)) return NULL;
    out->producer = op;
    out->cst = cv->cst;
    outs[0] = out;
    op->outputs = outs;
    op->n_outputs = 1;
    if (b) mk_ir_block_append(b, op);
    return out;
}

mk_value *mk_ir_const_i32(mk_program *p, mk_block *b, const char *name, int n, const int32_t *v,
                          int as_scalar)
{
    int64_t d = n;
    mk_type t = mk_type_make(MK_DT_INT32, as_scalar ? 0 : 1, &d);
    return mk_ir_const(p, b, name, &t, v, (size_t)n * 4, 0);
}

mk_value *mk_ir_const_f32(mk_program *p, mk_block *b, const char *name, int n, const float *v,
                          int as_scalar)
{
    int64_t d = n;
    mk_type t = mk_type_make(MK_DT_FP32, as_scalar ? 0 : 1, &d);
    return mk_ir_const(p, b, name, &t, v, (size_t)n * 4, 0);
}

mk_value *mk_ir_const_bool(mk_program *p, mk_block *b, const char *name, int n, const uint8_t *v,
                           int as_scalar)
{
    int64_t d = n;
    mk_type t = mk_type_make(MK_DT_BOOL, as_scalar ? 0 : 1, &d);
    return mk_ir_const(p, b, name, &t, v, (size_t)n, 0);
}

mk_value *mk_ir_const_str(mk_program *p, mk_block *b, const char *name, const char *s)
{
    mk_type t = mk_type_scalar(MK_DT_STRING);
    return mk_ir_const(p, b, name, &t, &s, sizeof s, 0);
}

void mk_ir_block_append(mk_block *b, mk_op *op)
{
    op->parent = b;
    op->next = NULL;
    op->prev = b->last;
    if (b->last)
        b->last->next = op;
    else
        b->first = op;
    b->last = op;
}

void mk_ir_insert_before(mk_op *pos, mk_op *op)
{
    mk_block *b = pos->parent;
    op->parent = b;
    op->next = pos;
    op->prev = pos->prev;
    if (pos->prev)
        pos->prev->next = op;
    else
        b->first = op;
    pos->prev = op;
}

void mk_ir_insert_after(mk_op *pos, mk_op *op)
{
    if (pos->next) {
        mk_ir_insert_before(pos->next, op);
    } else {
        mk_ir_block_append(pos->parent, op);
    }
}

void mk_ir_unlink(mk_op *op)
{
    mk_block *b = op->parent;
    if (!b) return;
    if (op->prev)
        op->prev->next = op->next;
    else
        b->first = op->next;
    if (op->next)
        op->next->prev = op->prev;
    else
        b->last = op->prev;
    op->prev = op->next = NULL;
    op->parent = NULL;
}

int mk_ir_replace_uses(mk_block *b, const mk_value *from, mk_value *to)
{
    int n = 0;
    MK_FOR_OPS(b, op)
    {
        for (int i = 0; i < op->n_inputs; i++)
            for (int j = 0; j < op->inputs[i].n_args; j++)
                if (op->inputs[i].args[j] == from) {
                    op->inputs[i].args[j] = to;
                    n++;
                }
        for (int i = 0; i < op->n_blocks; i++) n += mk_ir_replace_uses(op->blocks[i], from, to);
    }
    for (int i = 0; i < b->n_outputs; i++)
        if (b->outputs[i] == from) {
            b->outputs[i] = to;
            n++;
        }
    return n;
}

int mk_ir_count_uses(const mk_block *b, const mk_value *v)
{
    int n = 0;
    MK_FOR_OPS(b, op)
    {
        for (int i = 0; i < op->n_inputs; i++)
            for (int j = 0; j < op->inputs[i].n_args; j++) n += op->inputs[i].args[j] == v;
        for (int i = 0; i < op->n_blocks; i++) n += mk_ir_count_uses(op->blocks[i], v);
    }
    for (int i = 0; i < b->n_outputs; i++) n += b->outputs[i] == v;
    return n;
}

static int mark_value(mk_strmap *used, const mk_value *v)
{
    return mk_strmap_put(used, v->name ? v->name : "", (void *)v);
}

static int mark_block(mk_strmap *used, const mk_block *b)
{
    for (int i = 0; i < b->n_outputs; i++)
        if (b->outputs[i]->name && !mark_value(used, b->outputs[i])) return 0;
    MK_FOR_OPS(b, op)
    {
        for (int i = 0; i < op->n_inputs; i++)
            for (int j = 0; j < op->inputs[i].n_args; j++) {
                const mk_value *v = op->inputs[i].args[j];
                if (v->name && !mark_value(used, v)) return 0;
            }
        for (int i = 0; i < op->n_blocks; i++)
            if (!mark_block(used, op->blocks[i])) return 0;
    }
    return 1;
}

static int op_has_effect(const mk_op *op)
{
    return op->n_blocks > 0 || op->kind == MK_OP_READ_STATE || op->kind == MK_OP_WRITE_STATE ||
           op->kind == MK_OP_COREML_UPDATE_STATE;
}

int mk_ir_dce(mk_program *p, mk_block *b)
{
    /* Names are unique program-wide, so a name set is a value set. Iterate to a fixed point:
     * each sweep removes ops whose outputs no remaining op or block output reads. */
    int removed = 0, changed = 1;
    while (changed) {
        changed = 0;
        mk_strmap used;
        mk_strmap_init(&used, p->alloc);
        if (!mark_block(&used, b)) {
            mk_strmap_free(&used);
            return -1;
        }
        for (mk_op *op = b->last, *prev; op; op = prev) {
            prev = op->prev;
            if (op_has_effect(op)) continue;
            int live = 0;
            for (int i = 0; i < op->n_outputs && !live; i++)
                live = mk_strmap_get(&used, op->outputs[i]->name) == op->outputs[i];
            if (!live) {
                mk_ir_unlink(op);
                removed++;
                changed = 1;
            }
        }
        mk_strmap_free(&used);
    }
    return removed;
}

const mk_input *mk_ir_input(const mk_op *op, const char *param)
{
    for (int i = 0; i < op->n_inputs; i++)
        if (strcmp(op->inputs[i].name, param) == 0) return &op->inputs[i];
    return NULL;
}

mk_value *mk_ir_arg(const mk_op *op, const char *param)
{
    const mk_input *in = mk_ir_input(op, param);
    return in && in->n_args ? in->args[0] : NULL;
}

mk_value *mk_ir_attr(const mk_op *op, const char *name)
{
    for (int i = 0; i < op->n_attrs; i++)
        if (strcmp(op->attrs[i].name, name) == 0) return op->attrs[i].value;
    return NULL;
}

static const mk_value *const_param(const mk_op *op, const char *param)
{
    const mk_value *v = mk_ir_arg(op, param);
    if (!v) v = mk_ir_attr(op, param);
    return v && v->cst ? v : NULL;
}

double mk_const_get_f64(const mk_value *v, size_t i)
{
    const void *d = v->cst->data;
    switch ((int)v->type.dtype) {
    case MK_DT_FP16: return mk_f16_to_f32(((const uint16_t *)d)[i]);
    case MK_DT_FP32: return ((const float *)d)[i];
    case MK_DT_FP64: return ((const double *)d)[i];
    default: return (double)mk_const_get_i64(v, i);
    }
}

int64_t mk_const_get_i64(const mk_value *v, size_t i)
{
    const void *d = v->cst->data;
    switch ((int)v->type.dtype) {
    case MK_DT_BOOL:
    case MK_DT_UINT8: return ((const uint8_t *)d)[i];
    case MK_DT_INT8: return ((const int8_t *)d)[i];
    case MK_DT_INT16: return ((const int16_t *)d)[i];
    case MK_DT_UINT16: return ((const uint16_t *)d)[i];
    case MK_DT_INT32: return ((const int32_t *)d)[i];
    case MK_DT_UINT32: return ((const uint32_t *)d)[i];
    case MK_DT_INT64: return ((const int64_t *)d)[i];
    case MK_DT_UINT64: return (int64_t)((const uint64_t *)d)[i];
    case MK_DT_FP16:
    case MK_DT_FP32:
    case MK_DT_FP64: return (int64_t)mk_const_get_f64(v, i);
    default: return 0;
    }
}

static size_t const_numel(const mk_value *v)
{
    size_t n = 0;
    return mk_type_numel(&v->type, &n) ? n : 0;
}

int mk_ir_arg_i32s(const mk_op *op, const char *param, int32_t *out, int max, int *n)
{
    const mk_value *v = const_param(op, param);
    if (!v || v->type.dtype == MK_DT_STRING) return 0;
    size_t cnt = const_numel(v);
    if (cnt > (size_t)max) return 0;
    for (size_t i = 0; i < cnt; i++) out[i] = (int32_t)mk_const_get_i64(v, i);
    *n = (int)cnt;
    return 1;
}

int mk_ir_arg_i64s(const mk_op *op, const char *param, int64_t *out, int max, int *n)
{
    const mk_value *v = const_param(op, param);
    size_t cnt = 0;
    if (!v || !v->cst->data || v->type.dtype == MK_DT_STRING) return 0;
    if (!mk_type_numel(&v->type, &cnt) || cnt > (size_t)max) return 0;
    for (size_t i = 0; i < cnt; i++) out[i] = mk_const_get_i64(v, i);
    *n = (int)cnt;
    return 1;
}

int mk_ir_arg_i32(const mk_op *op, const char *param, int32_t *out)
{
    const mk_value *v = const_param(op, param);
    if (!v || v->type.dtype == MK_DT_STRING || const_numel(v) != 1) return 0;
    *out = (int32_t)mk_const_get_i64(v, 0);
    return 1;
}

int mk_ir_arg_f32(const mk_op *op, const char *param, float *out)
{
    const mk_value *v = const_param(op, param);
    if (!v || v->type.dtype == MK_DT_STRING || const_numel(v) != 1) return 0;
    *out = (float)mk_const_get_f64(v, 0);
    return 1;
}

int mk_ir_arg_bool(const mk_op *op, const char *param, int *out)
{
    const mk_value *v = const_param(op, param);
    if (!v || v->type.dtype == MK_DT_STRING || const_numel(v) != 1) return 0;
    *out = mk_const_get_i64(v, 0) != 0;
    return 1;
}

const char *mk_ir_arg_str(const mk_op *op, const char *param)
{
    const mk_value *v = const_param(op, param);
    if (!v || v->type.dtype != MK_DT_STRING || const_numel(v) != 1) return NULL;
    return ((const char *const *)v->cst->data)[0];
}

int mk_ir_operand_index(const mk_op *op, const char *param)
{
    int idx = 0;
    for (int i = 0; i < op->n_inputs; i++) {
        if (strcmp(op->inputs[i].name, param) == 0) return idx;
        idx += op->inputs[i].n_args;
    }
    return -1;
}

/* f16_range: bit 0 known; bits 1-2 the MK_F16_OVER* bits of the payload */
enum { RANGE_KNOWN = 1 };

void mk_ir_const_note_f16_range(const mk_const *c, unsigned range)
{
    ((mk_const *)c)->f16_range = (unsigned char)(RANGE_KNOWN | (range & 3u) << 1);
}

int mk_ir_const_beyond_f16(const mk_value *v, int finite_only)
{
    size_t n;
    if (!v || !v->cst || !v->cst->data || v->type.dtype != MK_DT_FP32 ||
        !mk_type_numel(&v->type, &n))
        return 0;
    if (!(v->cst->f16_range & RANGE_KNOWN))
        mk_ir_const_note_f16_range(v->cst, mk_f32_f16_range(v->cst->data, n));
    unsigned bit = finite_only ? MK_F16_OVER_FINITE : MK_F16_OVER;
    return (v->cst->f16_range >> 1 & bit) != 0;
}

int mk_ir_const_in_blob(int spec_version, const mk_type *t, const mk_const *c)
{
    size_t n;
    if (c->storage == MK_STORE_INLINE) return 0;
    if (c->storage == MK_STORE_BLOB) return 1;
    if (!mk_type_numel(t, &n) || n < 10) return 0;
    switch ((int)t->dtype) {
    case MK_DT_FP16:
    case MK_DT_FP32:
    case MK_DT_INT8:
    case MK_DT_UINT8: return 1;
    case MK_DT_INT4:
    case MK_DT_UINT4:
    case MK_DT_UINT3:
    case MK_DT_UINT2:
    case MK_DT_UINT1:
    case MK_DT_UINT6: return 1; /* sub-byte payloads are int8/uint8 arrays to coremltools */
    case MK_DT_INT16:
    case MK_DT_UINT16:
    case MK_DT_INT32:
    case MK_DT_UINT32: return spec_version >= 9;
    default: return 0;
    }
}

void mk_program_free(mk_program *p)
{
    mk_ir_program_free(p);
}
