/* Emitting MIL from the importer: ONNX value scopes (subgraphs see outer names), constants
 * materialized as const ops on first use (int64 -> int32), op construction with constant
 * parameters, default completion, small reusable building blocks (unary, binary, reshape,
 * transpose), numpy broadcasting and the unsupported-node record. No per-op lowering here. */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "onnx_int.h"

/* ---- scopes ---- */
ox_val *mk_onnx_lookup(ox_ctx *c, const char *name)
{
    for (ox_scope *s = c->scope; s; s = s->parent) {
        ox_val *v = mk_strmap_get(&s->vals, name);
        if (v) return v;
    }
    return NULL;
}

ox_val *mk_onnx_define(ox_ctx *c, const char *name)
{
    ox_val *v = mk_arena_alloc(c->p->arena, sizeof *v);
    if (!v) return NULL;
    v->name = mk_arena_strdup(c->p->arena, name);
    if (!v->name || !mk_strmap_put(&c->scope->vals, v->name, v)) return NULL;
    return v;
}

/* ---- constants ---- */
size_t mk_onnx_numel(const mk_type *t)
{
    size_t n = 0;
    if (t->rank == 0) return 1;
    return mk_type_numel(t, &n) ? n : 0;
}

double mk_onnx_cget_f(const ox_val *v, size_t i)
{
    switch ((int)v->type.dtype) {
    case MK_DT_FP32: {
        float f;
        memcpy(&f, (const char *)v->data + 4 * i, 4);
        return f;
    }
    case MK_DT_INT64: {
        int64_t x;
        memcpy(&x, (const char *)v->data + 8 * i, 8);
        return (double)x;
    }
    case MK_DT_BOOL: return ((const uint8_t *)v->data)[i];
    default: return 0;
    }
}

int64_t mk_onnx_cget_i(const ox_val *v, size_t i)
{
    switch ((int)v->type.dtype) {
    case MK_DT_INT64: {
        int64_t x;
        memcpy(&x, (const char *)v->data + 8 * i, 8);
        return x;
    }
    case MK_DT_BOOL: return ((const uint8_t *)v->data)[i];
    case MK_DT_FP32: {
        float f;
        memcpy(&f, (const char *)v->data + 4 * i, 4);
        if (!(f == f)) return 0;
        if (f >= 9.2e18f) return INT64_MAX;
        if (f <= -9.2e18f) return INT64_MIN;
        return (int64_t)f;
    }
    default: return 0;
    }
}

static int block_sees(const mk_block *inner, const mk_block *outer)
{
    for (const mk_block *b = inner; b; b = b->parent_op ? b->parent_op->parent : NULL)
        if (b == outer) return 1;
    return 0;
}

mk_value *mk_onnx_mil(ox_ctx *c, ox_val *v)
{
    if (v->mil && (!v->data || block_sees(c->blk, v->mil_blk))) return v->mil;
    if (!v->data) return NULL;
    mk_type t = v->type;
    const void *d = v->data;
    size_t nb = v->nbytes;
    if (t.dtype == MK_DT_INT64) {
        size_t n = mk_onnx_numel(&t);
        int32_t *o = mk_arena_array(c->p->arena, n ? n : 1, 4);
        if (!o) return NULL;
        for (size_t i = 0; i < n; i++) {
            int64_t x = mk_onnx_cget_i(v, i);
            o[i] = x > INT32_MAX ? INT32_MAX : x < INT32_MIN ? INT32_MIN : (int32_t)x;
        }
        t.dtype = MK_DT_INT32;
        d = o;
        nb = n * 4;
    }
    /* arena data and mapped model data both live as long as the program */
    mk_value *mv = mk_ir_const(c->p, c->blk, v->name, &t, d, nb, 1);
    if (!mv) return NULL;
    if (v->f16_range && t.dtype == MK_DT_FP32)
        mk_ir_const_note_f16_range(mv->cst, v->f16_range - 1);
    v->mil = mv;
    v->mil_blk = c->blk;
    return mv;
}

/* ---- ops ---- */
mk_op *mk_onnx_op(ox_ctx *c, mk_op_kind k, const char *base)
{
    const char *u = mk_ir_unique_name(c->p, base ? base : mk_ir_op_info(k)->name);
    return u ? mk_ir_op_new(c->p, k, u) : NULL;
}

int mk_onnx_in_mil(ox_ctx *c, mk_op *op, const char *param, mk_value *v)
{
    return v && mk_ir_op_add_input(c->p, op, param, v);
}

int mk_onnx_in(ox_ctx *c, mk_op *op, const char *param, ox_val *v)
{
    return mk_onnx_in_mil(c, op, param, mk_onnx_mil(c, v));
}

static const char *param_name(ox_ctx *c, const mk_op *op, const char *param)
{
    return mk_arena_printf(c->p->arena, "%s_%s", op->name ? op->name : "op", param);
}

int mk_onnx_in_i32s(ox_ctx *c, mk_op *op, const char *param, int n, const int32_t *v)
{
    const char *nm = param_name(c, op, param);
    return nm && mk_onnx_in_mil(c, op, param, mk_ir_const_i32(c->p, c->blk, nm, n, v, 0));
}

int mk_onnx_in_i32(ox_ctx *c, mk_op *op, const char *param, int32_t v)
{
    const char *nm = param_name(c, op, param);
    return nm && mk_onnx_in_mil(c, op, param, mk_ir_const_i32(c->p, c->blk, nm, 1, &v, 1));
}

int mk_onnx_in_f32(ox_ctx *c, mk_op *op, const char *param, float v)
{
    const char *nm = param_name(c, op, param);
    return nm && mk_onnx_in_mil(c, op, param, mk_ir_const_f32(c->p, c->blk, nm, 1, &v, 1));
}

int mk_onnx_in_bool(ox_ctx *c, mk_op *op, const char *param, int v)
{
    const char *nm = param_name(c, op, param);
    uint8_t b = v != 0;
    return nm && mk_onnx_in_mil(c, op, param, mk_ir_const_bool(c->p, c->blk, nm, 1, &b, 1));
}

int mk_onnx_in_str(ox_ctx *c, mk_op *op, const char *param, const char *s)
{
    const char *nm = param_name(c, op, param);
    return nm && mk_onnx_in_mil(c, op, param, mk_ir_const_str(c->p, c->blk, nm, s));
}

/* The type src/ir's rule gives output idx of op (all inputs bound, defaults completed). */
static int infer_out(ox_ctx *c, const mk_op *op, int idx, mk_type *t)
{
    mk_operand stack_ops[32], *ops = stack_ops;
    size_t total = 0, nb;
    for (int i = 0; i < op->n_inputs; i++) total += (size_t)op->inputs[i].n_args;
    if (total > sizeof stack_ops / sizeof *stack_ops) {
        if (total > INT32_MAX || !mk_mul_size(total, sizeof *ops, &nb) ||
            !(ops = mk_arena_alloc(c->p->arena, nb)))
            return 0;
    }
    size_t k = 0;
    for (int i = 0; i < op->n_inputs; i++)
        for (int j = 0; j < op->inputs[i].n_args; j++, k++) {
            const mk_value *v = op->inputs[i].args[j];
            ops[k].type = v->type;
            ops[k].data = v->cst ? v->cst->data : NULL;
            ops[k].nbytes = v->cst ? v->cst->nbytes : 0;
        }
    mk_type outs[64];
    int n = 0;
    mk_err tmp = {0};
    if (mk_ir_infer(op, ops, (int)total, outs, 64, &n, &tmp) != MK_OK) {
        mk_err_set(c->err, tmp.code, "%s: %s", c->file, tmp.msg);
        return 0;
    }
    if (idx >= n) {
        mk_err_set(c->err, MK_EINTERNAL, "%s: op %s (%s): output %d, its type rule gives %d",
                   c->file, op->name, mk_ir_op_info(op->kind)->name, idx, n);
        return 0;
    }
    *t = outs[idx];
    return 1;
}

mk_value *mk_onnx_out(ox_ctx *c, mk_op *op, const char *name)
{
    const char *nm =
        op->n_outputs == 0 ? op->name : mk_ir_unique_name(c->p, name ? name : op->name);
    mk_value *v = nm ? mk_arena_alloc(c->p->arena, sizeof *v) : NULL;
    mk_value **no = mk_arena_array(c->p->arena, (size_t)op->n_outputs + 1, sizeof *no);
    if (!v || !no) return NULL;
    if (op->n_outputs == 0) {
        mk_ir_block_append(c->blk, op);
        mk_err tmp = {0};
        if (mk_ir_complete_defaults(c->p, op, &tmp) != MK_OK) {
            mk_err_set(c->err, tmp.code, "%s: op %s (%s): %s", c->file, op->name,
                       mk_ir_op_info(op->kind)->name, tmp.msg);
            return NULL;
        }
    }
    if (!infer_out(c, op, op->n_outputs, &v->type)) return NULL;
    v->name = nm;
    v->producer = op;
    v->producer_output = op->n_outputs;
    if (op->n_outputs) memcpy(no, op->outputs, (size_t)op->n_outputs * sizeof *no);
    no[op->n_outputs++] = v;
    op->outputs = no;
    return v;
}

int mk_onnx_note_kd(ox_ctx *c, ox_val *o, ox_kd *kd)
{
    o->kd = kd;
    mk_value *v = o->mil;
    int64_t n = v && v->type.rank == 1 ? v->type.dims[0] : 1;
    if (!kd || !v || v->known || v->type.rank > 1 || kd->rank != v->type.rank || n != kd->n)
        return 1;
    int64_t *k = mk_arena_array(c->p->arena, (size_t)kd->n ? (size_t)kd->n : 1, sizeof *k);
    if (!k) return 0;
    memcpy(k, kd->v, (size_t)kd->n * sizeof *k);
    v->known = k;
    return 1;
}

void mk_onnx_set(ox_val *o, mk_value *v)
{
    o->mil = v;
    o->mil_blk = NULL;
    o->type = v->type;
    o->data = NULL;
}

mk_status mk_onnx_set_const(ox_ctx *c, ox_val *o, const mk_type *t, const void *data)
{
    size_t n = mk_onnx_numel(t), es = (size_t)mk_dtype_bits(t->dtype) / 8, nb;
    if (!mk_mul_size(n, es, &nb))
        return mk_err_set(c->err, MK_EINVAL, "%s: %s: constant too big", c->file, o->name);
    void *d = mk_arena_alloc(c->p->arena, nb ? nb : 1);
    if (!d) return fail(c);
    if (nb) memcpy(d, data, nb);
    o->type = *t;
    o->data = d;
    o->nbytes = nb;
    o->mil = NULL;
    return MK_OK;
}

/* ---- building blocks ---- */
mk_value *mk_onnx_i32_vector(ox_ctx *c, ox_val *v, int *len)
{
    mk_value *s = v ? mk_onnx_mil(c, v) : NULL;
    *len = -1;
    if (!s || s->type.rank != 1 || s->type.dims[0] < 0 || s->type.dims[0] > MK_MAX_RANK ||
        !mk_dtype_is_int(s->type.dtype))
        return NULL;
    *len = (int)s->type.dims[0];
    if (s->type.dtype == MK_DT_INT32) return s;
    mk_op *op = mk_onnx_op(c, MK_OP_CAST, NULL);
    if (!op || !mk_onnx_in_mil(c, op, "x", s) || !mk_onnx_in_str(c, op, "dtype", "int32"))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

mk_value *mk_onnx_unary(ox_ctx *c, mk_op_kind k, mk_value *x, const char *name)
{
    mk_op *op = mk_onnx_op(c, k, name);
    if (!op || !mk_onnx_in_mil(c, op, "x", x)) return NULL;
    return mk_onnx_out(c, op, NULL);
}

int mk_onnx_bcast(const mk_type *a, const mk_type *b, mk_type *out)
{
    int r = a->rank > b->rank ? a->rank : b->rank;
    if (a->rank < 0 || b->rank < 0) return 0;
    *out = mk_type_make(a->dtype, r, NULL);
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        int64_t d;
        if (da == db)
            d = da;
        else if (da == 1)
            d = db;
        else if (db == 1)
            d = da;
        else if (da < 0 || db < 0)
            d = da < 0 ? db : da;
        else
            return 0;
        out->dims[i] = d;
    }
    return 1;
}

mk_value *mk_onnx_binary(ox_ctx *c, mk_op_kind k, mk_value *x, mk_value *y, const char *name)
{
    mk_type t;
    if (!x || !y) return NULL;
    if (!mk_onnx_bcast(&x->type, &y->type, &t)) {
        char a[96], b[96];
        mk_err_set(c->err, MK_EINVAL, "%s: %s: shapes %s and %s do not broadcast", c->file,
                   name ? name : mk_ir_op_info(k)->name, mk_type_str(&x->type, a, sizeof a),
                   mk_type_str(&y->type, b, sizeof b));
        return NULL;
    }
    mk_op *op = mk_onnx_op(c, k, name);
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_mil(c, op, "y", y)) return NULL;
    return mk_onnx_out(c, op, NULL);
}

mk_value *mk_onnx_reshape(ox_ctx *c, mk_value *x, int rank, const int64_t *dims, const char *name)
{
    int32_t s[MK_MAX_RANK];
    for (int i = 0; i < rank; i++) s[i] = (int32_t)dims[i];
    mk_op *op = mk_onnx_op(c, MK_OP_RESHAPE, name);
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_i32s(c, op, "shape", rank, s))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

mk_value *mk_onnx_transpose(ox_ctx *c, mk_value *x, int rank, const int *perm, const char *name)
{
    int32_t pm[MK_MAX_RANK];
    for (int i = 0; i < rank; i++) pm[i] = perm[i];
    mk_op *op = mk_onnx_op(c, MK_OP_TRANSPOSE, name);
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_i32s(c, op, "perm", rank, pm))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

mk_value *mk_onnx_cf32(ox_ctx *c, const char *name, int rank, const int64_t *dims, const float *v)
{
    mk_type t = mk_type_make(MK_DT_FP32, rank, dims);
    size_t n = mk_onnx_numel(&t);
    return mk_ir_const(c->p, c->blk, name, &t, v, n * 4, 0);
}

mk_value *mk_onnx_cf32_own(ox_ctx *c, const char *name, int rank, const int64_t *dims,
                           const float *v)
{
    mk_type t = mk_type_make(MK_DT_FP32, rank, dims);
    size_t n = mk_onnx_numel(&t);
    return mk_ir_const(c->p, c->blk, name, &t, v, n * 4, 1);
}

/* ---- weight slab ---- */
#define SLAB_MIN ((size_t)4096)       /* smaller payloads go to the arena */
#define SLAB_CHUNK ((size_t)16 << 20) /* address space reserved per slab (touched lazily) */

void *mk_onnx_weight_alloc(ox_ctx *c, size_t n)
{
    if (n < SLAB_MIN) return mk_arena_alloc(c->p->arena, n ? n : 1);
    size_t need;
    if (!mk_add_size(n, 63, &need)) return NULL;
    need &= ~(size_t)63;
    if (!c->slab || c->slab_size - c->slab_used < need) {
        size_t sz = need > SLAB_CHUNK ? need : SLAB_CHUNK;
        /* a slab mostly filled by this tensor is populated up front: one call instead of a
         * page fault per 4 KB of weights; smaller slabs stay lazily touched */
        mk_mapped mm;
        if (!mk_anon_map(sz, need >= sz / 2, &mm)) return NULL;
        mk_err tmp = {0};
        if (mk_ir_program_keep_map(c->p, mm, &tmp) != MK_OK) return NULL; /* unmapped there */
        unsigned char *m = (unsigned char *)mm.data;
        c->slab = m;
        c->slab_size = sz;
        c->slab_used = 0;
    }
    void *r = c->slab + c->slab_used;
    c->slab_used += need;
    return r;
}

/* ---- unsupported nodes ---- */
mk_status mk_onnx_unsupported(ox_ctx *c, const Onnx__NodeProto *n, const char *fmt, ...)
{
    char reason[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    for (char *r = reason; *r; r++)
        if (*r == '\t' || *r == '\n') *r = ' ';
    mk_buf_printf(&c->unsup, "%s\t%s\t%s\n", n->op_type ? n->op_type : "?", reason,
                  n->name && *n->name ? n->name
                                      : (n->n_output && n->output[0] ? n->output[0] : "?"));
    c->n_unsup++;
    return MK_EUNSUPPORTED;
}
