/* Constant folding at convert time: ONNX nodes whose inputs are all constants (shape
 * arithmetic: Shape/Gather/Concat/Reshape chains, ConstantOfShape, Range, Cast,
 * Unsqueeze/Squeeze, elementwise arithmetic and comparisons, Where, Slice, Expand, Tile,
 * Transpose, small reductions, NonZero) become constants, so Core ML gets static values
 * instead of fill/range_1d. Every value is computed by the interpreter's kernel for the MIL op
 * the node means (mk_const_eval, on a scratch op); ops that only move elements run on element
 * indices (iota) and the result picks the ONNX elements, so int64 data of any size moves
 * exactly. What stays here has no MIL form: int64 arithmetic that leaves int32 (the
 * interpreter's integer layout), integer Cast's wrap-around, float Mod (fmod), and the ops that
 * only read a type (Shape, Size, reshapes). Constants are canonical (fp32, int64, bool);
 * anything else returns MK_EUNSUPPORTED and is lowered normally. */
#include <math.h>
#include <string.h>

#include "interp/const_eval.h"
#include "onnx_int.h"

/* Bounds on what folding may allocate: per result and for the whole import, so a tiny
 * hostile model cannot ask for gigabytes (large results are lowered instead). */
#define FOLD_MAX_ELEMS ((size_t)1 << 22)
#define FOLD_MAX_TOTAL ((size_t)1 << 28)

typedef struct cbuf {
    mk_type t;
    void *d;
} cbuf;

static int esize(mk_dtype d)
{
    return d == MK_DT_BOOL ? 1 : d == MK_DT_FP32 ? 4 : 8;
}

static mk_status alloc_out(ox_ctx *c, ox_val *o, const mk_type *t, void **d)
{
    size_t n = mk_onnx_numel(t), nb;
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] < 0 || t->dims[i] > INT32_MAX) return MK_EUNSUPPORTED;
    if (t->rank > 0 && !mk_type_numel(t, &nb)) return MK_EUNSUPPORTED;
    if (n > FOLD_MAX_ELEMS) return MK_EUNSUPPORTED;
    if (!mk_mul_size(n, (size_t)esize(t->dtype), &nb)) return MK_EUNSUPPORTED;
    if (c->fold_bytes + nb > FOLD_MAX_TOTAL) return MK_EUNSUPPORTED;
    c->fold_bytes += nb;
    *d = mk_arena_alloc(c->p->arena, nb ? nb : 1);
    if (!*d) return MK_OOM(c->err);
    o->type = *t;
    o->data = *d;
    o->nbytes = nb;
    o->mil = NULL;
    return MK_OK;
}

static void put(mk_dtype dt, void *d, size_t i, double f, int64_t x)
{
    switch ((int)dt) {
    case MK_DT_FP32: ((float *)d)[i] = (float)f; break;
    case MK_DT_INT64: ((int64_t *)d)[i] = x; break;
    default: ((uint8_t *)d)[i] = x != 0; break;
    }
}

/* Copy element j of v into element i of d (same dtype). */
static void copy_el(const ox_val *v, void *d, size_t i, size_t j)
{
    int es = esize(v->type.dtype);
    memcpy((char *)d + (size_t)es * i, (const char *)v->data + (size_t)es * j, (size_t)es);
}

/* Flat index into a (broadcast) source of type st for output multi-index idx of rank r. */
static size_t bidx(const mk_type *st, const int64_t *idx, int r)
{
    size_t off = 0;
    for (int i = 0; i < st->rank; i++) {
        int oi = i + (r - st->rank);
        int64_t d = st->dims[i];
        off = off * (size_t)d + (size_t)(d == 1 ? 0 : idx[oi]);
    }
    return off;
}

static void next_idx(int64_t *idx, const mk_type *t)
{
    for (int i = t->rank - 1; i >= 0; i--) {
        if (++idx[i] < t->dims[i]) return;
        idx[i] = 0;
    }
}

/* ---- MIL ops on constant operands, evaluated by the interpreter's kernels ---- */
typedef struct mop {
    ox_ctx *c;
    mk_program *sp; /* scratch program holding the op and its operands */
    mk_op *op;
    int nofit; /* an int64 operand does not fit int32: the caller keeps its int64 path */
    int oom;
} mop;

static void mop_begin(mop *m, ox_ctx *c, mk_op_kind k)
{
    memset(m, 0, sizeof *m);
    m->c = c;
    m->sp = mk_ir_program_new(c->p->alloc, c->p->spec_version);
    m->op = m->sp ? mk_ir_op_new(m->sp, k, "fold") : NULL;
    m->oom = !m->op;
}

static void mop_end(mop *m)
{
    mk_ir_program_free(m->sp);
}

static void mop_add(mop *m, const char *param, const mk_type *t, const void *d, size_t nb)
{
    if (m->oom) return;
    mk_value *v = mk_ir_const_value(m->sp, t, d, nb, t->dtype != MK_DT_STRING);
    if (!v || !mk_ir_op_add_input(m->sp, m->op, param, v)) m->oom = 1;
}

static int32_t *mop_i32_buf(mop *m, size_t n)
{
    int32_t *d = m->oom ? NULL : mk_arena_array(m->sp->arena, n ? n : 1, sizeof *d);
    if (!d) m->oom = 1;
    return d;
}

/* ONNX constant v as operand `param`: fp32 and bool as they are, int64 as int32. */
static void mop_val(mop *m, const char *param, const ox_val *v)
{
    if (v->type.dtype != MK_DT_INT64) {
        mop_add(m, param, &v->type, v->data, v->nbytes);
        return;
    }
    size_t n = mk_onnx_numel(&v->type);
    int32_t *d = mop_i32_buf(m, n);
    if (!d) return;
    for (size_t i = 0; i < n; i++) {
        int64_t x = mk_onnx_cget_i(v, i);
        m->nofit |= x < INT32_MIN || x > INT32_MAX;
        d[i] = (int32_t)x;
    }
    mk_type t = v->type;
    t.dtype = MK_DT_INT32;
    mop_add(m, param, &t, d, n * 4);
}

/* An int32 operand of rank 1 (n values), or a scalar when n < 0 (one value). */
static void mop_ints(mop *m, const char *param, int n, const int64_t *v)
{
    int k = n < 0 ? 1 : n;
    int32_t *d = mop_i32_buf(m, (size_t)k);
    if (!d) return;
    for (int i = 0; i < k; i++) {
        m->nofit |= v[i] < INT32_MIN || v[i] > INT32_MAX;
        d[i] = (int32_t)v[i];
    }
    int64_t dim = k;
    mk_type t = n < 0 ? mk_type_scalar(MK_DT_INT32) : mk_type_make(MK_DT_INT32, 1, &dim);
    mop_add(m, param, &t, d, (size_t)k * 4);
}

static void mop_int(mop *m, const char *param, int64_t v)
{
    mop_ints(m, param, -1, &v);
}

static void mop_f32(mop *m, const char *param, float v)
{
    mk_type t = mk_type_scalar(MK_DT_FP32);
    float *d = m->oom ? NULL : mk_arena_memdup(m->sp->arena, &v, 4);
    if (!d) m->oom = 1;
    mop_add(m, param, &t, d, 4);
}

static void mop_bool(mop *m, const char *param, int v)
{
    mk_type t = mk_type_scalar(MK_DT_BOOL);
    uint8_t b = v != 0, *d = m->oom ? NULL : mk_arena_memdup(m->sp->arena, &b, 1);
    if (!d) m->oom = 1;
    mop_add(m, param, &t, d, 1);
}

static void mop_str(mop *m, const char *param, const char *s)
{
    mk_type t = mk_type_scalar(MK_DT_STRING);
    mop_add(m, param, &t, &s, sizeof s);
}

/* The element indices base, base + 1, ... as an int32 tensor of the given shape: an op that
 * only moves elements, run on it, says which source element each result element is. */
static void mop_iota(mop *m, const char *param, int rank, const int64_t *dims, size_t base)
{
    mk_type t = mk_type_make(MK_DT_INT32, rank, dims);
    size_t n = mk_onnx_numel(&t);
    int32_t *d = mop_i32_buf(m, n);
    if (!d) return;
    m->nofit |= base + n > (size_t)INT32_MAX;
    for (size_t i = 0; i < n; i++) d[i] = (int32_t)(base + i);
    mop_add(m, param, &t, d, n * 4);
}

/* Evaluate the op (one output) into r, its payload in the scratch arena. MK_EUNSUPPORTED when
 * an operand did not fit (m->nofit) or the evaluator declines (nothing is recorded in c). */
static mk_status mop_run(mop *m, mk_const_out *r)
{
    mk_type t = mk_type_scalar(MK_DT_FP32);
    if (!m->oom && !mk_ir_op_add_output(m->sp, m->op, NULL, &t)) m->oom = 1;
    if (m->oom) return MK_OOM(m->c->err);
    if (m->nofit) return MK_EUNSUPPORTED;
    mk_err e;
    memset(&e, 0, sizeof e);
    mk_status st = mk_const_eval(m->op, m->c->p->alloc, m->sp->arena, FOLD_MAX_ELEMS, r, 1, &e);
    if (st == MK_ENOMEM) return MK_OOM(m->c->err);
    return st ? MK_EUNSUPPORTED : MK_OK;
}

/* An int32 result element at the int32 limits may have been clamped by the kernel: the caller
 * then computes in int64. */
static int saturated(const mk_const_out *r)
{
    if (r->type.dtype != MK_DT_INT32) return 0;
    const int32_t *d = r->data;
    for (size_t i = 0; i < r->nbytes / 4; i++)
        if (d[i] == INT32_MIN || d[i] == INT32_MAX) return 1;
    return 0;
}

/* Result r (fp32, fp16, int32 or bool) as the canonical constant o (fp32, int64, bool). */
static mk_status mop_out(ox_ctx *c, const mk_const_out *r, ox_val *o)
{
    mk_type t = r->type;
    t.dtype = t.dtype == MK_DT_INT32 ? MK_DT_INT64 : t.dtype == MK_DT_FP16 ? MK_DT_FP32 : t.dtype;
    if (t.dtype != MK_DT_FP32 && t.dtype != MK_DT_INT64 && t.dtype != MK_DT_BOOL)
        return MK_EUNSUPPORTED;
    void *d;
    mk_status st = alloc_out(c, o, &t, &d);
    if (st != MK_OK) return st;
    size_t n = mk_onnx_numel(&t);
    for (size_t i = 0; i < n; i++) {
        switch ((int)r->type.dtype) {
        case MK_DT_FP16: ((float *)d)[i] = mk_f16_to_f32(((const uint16_t *)r->data)[i]); break;
        case MK_DT_INT32: ((int64_t *)d)[i] = ((const int32_t *)r->data)[i]; break;
        default: break;
        }
    }
    if (r->type.dtype == t.dtype && n) memcpy(d, r->data, o->nbytes);
    return MK_OK;
}

/* Run m and hand its result to o (mop_end included). */
static mk_status mop_finish(mop *m, ox_val *o)
{
    mk_const_out r;
    mk_status st = mop_run(m, &r);
    if (st == MK_OK) st = mop_out(m->c, &r, o);
    mop_end(m);
    return st;
}

/* Run m, whose operands included iotas over src[0..n_src) in this order (bases counting on),
 * and build o (of src[0]'s dtype) from the source elements its result names. */
static mk_status mop_pick(mop *m, ox_val *const *src, int n_src, ox_val *o)
{
    mk_const_out r;
    mk_status st = mop_run(m, &r);
    ox_val *first = n_src ? src[0] : NULL;
    void *d;
    mk_type t = r.type;
    if (st == MK_OK && (t.dtype != MK_DT_INT32 || !first)) st = MK_EUNSUPPORTED;
    t.dtype = first ? first->type.dtype : MK_DT_INVALID;
    if (st == MK_OK) st = alloc_out(m->c, o, &t, &d);
    size_t n = st == MK_OK ? mk_onnx_numel(&t) : 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = (size_t)((const int32_t *)r.data)[i];
        int k = 0;
        while (k < n_src - 1 && j >= mk_onnx_numel(&src[k]->type))
            j -= mk_onnx_numel(&src[k++]->type);
        copy_el(src[k], d, i, j);
    }
    mop_end(m);
    return st;
}

static int int_like(const ox_val *v)
{
    return v->type.dtype == MK_DT_INT64 || v->type.dtype == MK_DT_BOOL;
}

typedef enum {
    F_ADD,
    F_SUB,
    F_MUL,
    F_DIV,
    F_MOD,
    F_POW,
    F_MIN,
    F_MAX,
    F_EQ,
    F_LT,
    F_GT,
    F_LE,
    F_GE,
    F_AND,
    F_OR,
    F_XOR
} binop;

/* What has no MIL form: int64 arithmetic whose operands or results leave int32 (the
 * interpreter's integer layout), integer Mod with fmod=1 (truncated), float Mod (fmodf). */
static mk_status fold_binary_direct(ox_ctx *c, binop op, ox_val *a, ox_val *b, ox_val *o,
                                    int fmod_attr)
{
    mk_type t;
    if (!mk_onnx_bcast(&a->type, &b->type, &t)) return MK_EUNSUPPORTED;
    int cmp = op >= F_EQ && op <= F_GE, logic = op >= F_AND;
    int isint = int_like(a) && int_like(b);
    t.dtype = cmp || logic ? MK_DT_BOOL : a->type.dtype;
    void *d;
    mk_status st = alloc_out(c, o, &t, &d);
    if (st != MK_OK) return st;
    size_t n = mk_onnx_numel(&t);
    int64_t idx[MK_MAX_RANK] = {0};
    for (size_t i = 0; i < n; i++, next_idx(idx, &t)) {
        size_t ia = bidx(&a->type, idx, t.rank), ib = bidx(&b->type, idx, t.rank);
        if (isint) {
            int64_t x = mk_onnx_cget_i(a, ia), y = mk_onnx_cget_i(b, ib), r = 0;
            switch (op) {
            case F_ADD: r = (int64_t)((uint64_t)x + (uint64_t)y); break;
            case F_SUB: r = (int64_t)((uint64_t)x - (uint64_t)y); break;
            case F_MUL: r = (int64_t)((uint64_t)x * (uint64_t)y); break;
            case F_DIV:
                if (y == 0 || (x == INT64_MIN && y == -1)) return MK_EUNSUPPORTED;
                r = x / y;
                break;
            case F_MOD:
                if (y == 0 || (x == INT64_MIN && y == -1)) return MK_EUNSUPPORTED;
                r = x % y;
                if (!fmod_attr && r != 0 && ((r < 0) != (y < 0))) r += y;
                break;
            case F_POW: {
                r = 1;
                if (y < 0 || y > 62) return MK_EUNSUPPORTED;
                for (int64_t k = 0; k < y; k++) r = (int64_t)((uint64_t)r * (uint64_t)x);
                break;
            }
            case F_MIN: r = x < y ? x : y; break;
            case F_MAX: r = x > y ? x : y; break;
            case F_EQ: r = x == y; break;
            case F_LT: r = x < y; break;
            case F_GT: r = x > y; break;
            case F_LE: r = x <= y; break;
            case F_GE: r = x >= y; break;
            case F_AND: r = x && y; break;
            case F_OR: r = x || y; break;
            case F_XOR: r = (!!x) ^ (!!y); break;
            }
            put(t.dtype, d, i, (double)r, r);
        } else {
            if (op != F_MOD) return MK_EUNSUPPORTED;
            double r = fmodf((float)mk_onnx_cget_f(a, ia), (float)mk_onnx_cget_f(b, ib));
            put(t.dtype, d, i, r, (int64_t)r);
        }
    }
    return MK_OK;
}

static const mk_op_kind bin_kinds[] = {
    [F_ADD] = MK_OP_ADD,          [F_SUB] = MK_OP_SUB,         [F_MUL] = MK_OP_MUL,
    [F_DIV] = MK_OP_REAL_DIV,     [F_MOD] = MK_OP_MOD,         [F_POW] = MK_OP_POW,
    [F_MIN] = MK_OP_MINIMUM,      [F_MAX] = MK_OP_MAXIMUM,     [F_EQ] = MK_OP_EQUAL,
    [F_LT] = MK_OP_LESS,          [F_GT] = MK_OP_GREATER,      [F_LE] = MK_OP_LESS_EQUAL,
    [F_GE] = MK_OP_GREATER_EQUAL, [F_AND] = MK_OP_LOGICAL_AND, [F_OR] = MK_OP_LOGICAL_OR,
    [F_XOR] = MK_OP_LOGICAL_XOR,
};

/* Integer division, Mod and Pow that ONNX leaves undefined (a zero divisor, a negative or huge
 * exponent) are not folded. */
static int int_undefined(binop op, const ox_val *b, const mk_type *t)
{
    if ((op != F_DIV && op != F_MOD && op != F_POW) || mk_onnx_numel(t) == 0) return 0;
    for (size_t i = 0, n = mk_onnx_numel(&b->type); i < n; i++) {
        int64_t y = mk_onnx_cget_i(b, i);
        if (op == F_POW ? y < 0 || y > 62 : y == 0) return 1;
    }
    return 0;
}

/* fp32 with fp32 and int64 with int64 (results within int32) run as the MIL op; bool with
 * bool for the logical ops. */
static mk_status fold_binary(ox_ctx *c, binop op, ox_val *a, ox_val *b, ox_val *o, int fmod_attr)
{
    mk_type t;
    if (!mk_onnx_bcast(&a->type, &b->type, &t)) return MK_EUNSUPPORTED;
    mk_dtype da = a->type.dtype, db = b->type.dtype;
    int logic = op >= F_AND;
    if (int_like(a) && int_like(b) && !logic && int_undefined(op, b, &t)) return MK_EUNSUPPORTED;
    int mil = da == db && (logic               ? da == MK_DT_BOOL
                           : da == MK_DT_INT64 ? !(op == F_MOD && fmod_attr)
                                               : da == MK_DT_FP32 && op != F_MOD);
    if (mil) {
        mop m;
        mk_const_out r;
        mop_begin(&m, c, bin_kinds[op]);
        mop_val(&m, "x", a);
        mop_val(&m, "y", b);
        mk_status st = mop_run(&m, &r);
        int direct = (st == MK_OK && saturated(&r)) || (st == MK_EUNSUPPORTED && m.nofit);
        if (st == MK_OK && !direct) st = mop_out(c, &r, o);
        mop_end(&m);
        if (!direct) return st;
    } else if (da == MK_DT_FP32 || db == MK_DT_FP32) {
        if (da != db || op != F_MOD) return MK_EUNSUPPORTED;
    }
    return fold_binary_direct(c, op, a, b, o, fmod_attr);
}

static mk_status fold_reshape_like(ox_ctx *c, ox_val *a, ox_val *o, int rank, const int64_t *dims);

/* Neg, Abs, Sign and Relu of int64 values beyond int32 (no MIL form in the int32 layout). */
static int64_t unary_i64(const char *ot, int64_t x)
{
    if (strcmp(ot, "Neg") == 0) return (int64_t)(0 - (uint64_t)x);
    if (strcmp(ot, "Abs") == 0) return x < 0 ? (int64_t)(0 - (uint64_t)x) : x;
    if (strcmp(ot, "Sign") == 0) return (x > 0) - (x < 0);
    return x < 0 ? 0 : x; /* Relu */
}

static mk_status fold_unary(ox_ctx *c, const char *ot, ox_val *a, ox_val *o)
{
    static const struct {
        const char *name;
        mk_op_kind f, i; /* the MIL op for fp32 and for int64 (MK_OP__COUNT: none) */
    } tab[] = {{"Neg", MK_OP_MUL, MK_OP_MUL},
               {"Abs", MK_OP_ABS, MK_OP_ABS},
               {"Sqrt", MK_OP_SQRT, MK_OP__COUNT},
               {"Floor", MK_OP_FLOOR, MK_OP_IDENTITY},
               {"Ceil", MK_OP_CEIL, MK_OP_IDENTITY},
               {"Round", MK_OP_ROUND, MK_OP_IDENTITY},
               {"Reciprocal", MK_OP_INVERSE, MK_OP__COUNT},
               {"Exp", MK_OP_EXP, MK_OP__COUNT},
               {"Log", MK_OP_LOG, MK_OP__COUNT},
               {"Relu", MK_OP_RELU, MK_OP_MAXIMUM},
               {"Sign", MK_OP_SIGN, MK_OP_SIGN},
               {"Not", MK_OP_LOGICAL_NOT, MK_OP_LOGICAL_NOT}};
    mk_dtype dt = a->type.dtype;
    int is_not = strcmp(ot, "Not") == 0;
    if (is_not != (dt == MK_DT_BOOL)) return MK_EUNSUPPORTED;
    size_t k = 0;
    while (k < sizeof tab / sizeof *tab && strcmp(ot, tab[k].name) != 0) k++;
    if (k == sizeof tab / sizeof *tab) return MK_EUNSUPPORTED;
    mk_op_kind kind = dt == MK_DT_FP32 ? tab[k].f : tab[k].i;
    if (kind == MK_OP__COUNT) return MK_EUNSUPPORTED;
    if (kind == MK_OP_IDENTITY) /* integers are their own floor, ceil and round */
        return fold_reshape_like(c, a, o, a->type.rank, a->type.dims);
    mop m;
    mk_const_out r;
    mop_begin(&m, c, kind);
    mop_val(&m, "x", a);
    if (kind == MK_OP_MUL && dt == MK_DT_FP32) mop_f32(&m, "y", -1.0f);
    if (kind == MK_OP_MUL && dt == MK_DT_INT64) mop_int(&m, "y", -1);
    if (kind == MK_OP_MAXIMUM) mop_int(&m, "y", 0);
    if (kind == MK_OP_INVERSE || kind == MK_OP_LOG) mop_f32(&m, "epsilon", 0.0f);
    mk_status st = mop_run(&m, &r);
    int direct =
        dt == MK_DT_INT64 && ((st == MK_OK && saturated(&r)) || (st == MK_EUNSUPPORTED && m.nofit));
    if (st == MK_OK && !direct) st = mop_out(c, &r, o);
    mop_end(&m);
    if (!direct) return st;
    void *d;
    if ((st = alloc_out(c, o, &a->type, &d)) != MK_OK) return st;
    for (size_t i = 0, n = mk_onnx_numel(&a->type); i < n; i++)
        ((int64_t *)d)[i] = unary_i64(ot, mk_onnx_cget_i(a, i));
    return MK_OK;
}

/* Cast runs as MIL cast to fp32, fp16 (read back as fp32), bool or int32; the wrap-around of
 * an integer target narrower or wider than int32 has no MIL form (MIL's cast clamps) and is
 * applied here, and values beyond int32 are cast in int64. */
static mk_status fold_cast(ox_ctx *c, const Onnx__NodeProto *n, ox_val *a, ox_val *o)
{
    int to = (int)mk_onnx_attr_i(n, "to", 0);
    mk_dtype dt = mk_onnx_const_dtype(to);
    if (dt == MK_DT_INVALID) return MK_EUNSUPPORTED;
    mop m;
    mk_const_out r;
    mop_begin(&m, c, MK_OP_CAST);
    mop_val(&m, "x", a);
    mop_str(&m, "dtype",
            dt == MK_DT_BOOL    ? "bool"
            : dt == MK_DT_INT64 ? "int32"
            : to == 10          ? "fp16"
                                : "fp32");
    mk_status st = mop_run(&m, &r);
    int direct =
        (st == MK_OK && dt == MK_DT_INT64 && saturated(&r)) || (st == MK_EUNSUPPORTED && m.nofit);
    if (st == MK_OK && !direct) st = mop_out(c, &r, o);
    mop_end(&m);
    if (!direct && (st != MK_OK || dt != MK_DT_INT64)) return st;
    mk_type t = a->type;
    t.dtype = dt;
    void *d = (void *)o->data;
    if (direct && (st = alloc_out(c, o, &t, &d)) != MK_OK) return st;
    size_t n_el = mk_onnx_numel(&t);
    for (size_t i = 0; i < n_el; i++) {
        if (dt != MK_DT_INT64) {
            float f = (float)mk_onnx_cget_f(a, i);
            put(dt, d, i, to == 10 ? mk_round_f16(f) : f, f != 0);
            continue;
        }
        int64_t x = direct ? mk_onnx_cget_i(a, i) : ((int64_t *)d)[i];
        switch (to) { /* wrap to the target width */
        case 2: x = (uint8_t)x; break;
        case 3: x = (int8_t)x; break;
        case 4: x = (uint16_t)x; break;
        case 5: x = (int16_t)x; break;
        case 6: x = (int32_t)x; break;
        case 12: x = (uint32_t)x; break;
        default: break;
        }
        ((int64_t *)d)[i] = x;
    }
    return MK_OK;
}

/* Read a constant int list (input or attribute); returns count or -1. */
static int ints_of(const ox_val *v, int64_t *out, int max)
{
    if (!v || !v->data || v->type.dtype == MK_DT_FP32) return -1;
    size_t n = mk_onnx_numel(&v->type);
    if (v->type.rank > 1 || n > (size_t)max) return -1;
    for (size_t i = 0; i < n; i++) out[i] = mk_onnx_cget_i(v, i);
    return (int)n;
}

static mk_status fold_reshape_like(ox_ctx *c, ox_val *a, ox_val *o, int rank, const int64_t *dims)
{
    (void)c;
    mk_type t = mk_type_make(a->type.dtype, rank, dims);
    size_t nt;
    if ((rank && !mk_type_numel(&t, &nt)) || mk_onnx_numel(&t) != mk_onnx_numel(&a->type))
        return MK_EUNSUPPORTED;
    o->type = t;
    o->data = a->data;
    o->nbytes = a->nbytes;
    o->borrowed = a->borrowed;
    o->mil = NULL;
    return MK_OK;
}

static mk_status fold_concat(ox_ctx *c, const Onnx__NodeProto *n, ox_val **in, int n_in, ox_val *o)
{
    ox_val *first = NULL;
    for (int i = 0; i < n_in; i++)
        if (in[i] && (!first || mk_onnx_numel(&first->type) == 0)) first = in[i];
    if (!first) return MK_EUNSUPPORTED;
    int rank = first->type.rank, ax;
    if (!norm_axis(mk_onnx_attr_i(n, "axis", 0), rank, &ax)) return MK_EUNSUPPORTED;
    mk_type t = first->type;
    t.dims[ax] = 0;
    for (int i = 0; i < n_in; i++) {
        if (!in[i]) continue;
        if (in[i]->type.rank != rank || in[i]->type.dtype != t.dtype) {
            if (mk_onnx_numel(&in[i]->type) == 0 && in[i]->type.rank == 1) continue;
            return MK_EUNSUPPORTED;
        }
        for (int k = 0; k < rank; k++)
            if (k != ax && in[i]->type.dims[k] != t.dims[k]) return MK_EUNSUPPORTED;
        t.dims[ax] += in[i]->type.dims[ax];
    }
    mop m;
    ox_val **src = mk_arena_array(c->p->arena, (size_t)n_in, sizeof *src);
    int n_src = 0;
    size_t base = 0;
    if (!src) return MK_OOM(c->err);
    mop_begin(&m, c, MK_OP_CONCAT);
    for (int i = 0; i < n_in; i++) {
        if (!in[i] || in[i]->type.rank != rank) continue;
        mop_iota(&m, "values", rank, in[i]->type.dims, base);
        base += mk_onnx_numel(&in[i]->type);
        src[n_src++] = in[i];
    }
    mop_int(&m, "axis", ax);
    mop_bool(&m, "interleave", 0);
    return mop_pick(&m, src, n_src, o);
}

static mk_status fold_gather(ox_ctx *c, const Onnx__NodeProto *n, ox_val *a, ox_val *ix, ox_val *o)
{
    int ax;
    if (!norm_axis(mk_onnx_attr_i(n, "axis", 0), a->type.rank, &ax) || a->type.rank == 0 ||
        ix->type.dtype != MK_DT_INT64 || a->type.rank - 1 + ix->type.rank > MK_MAX_RANK)
        return MK_EUNSUPPORTED;
    mop m;
    mop_begin(&m, c, MK_OP_GATHER);
    mop_iota(&m, "x", a->type.rank, a->type.dims, 0);
    mop_val(&m, "indices", ix);
    mop_int(&m, "axis", ax);
    return mop_pick(&m, &a, 1, o);
}

/* Slice on constants, with the ONNX clamping rules. */
static mk_status fold_slice(ox_ctx *c, const Onnx__NodeProto *n, ox_val **in, int n_in, ox_val *o)
{
    ox_val *a = in[0];
    int r = a->type.rank;
    int64_t st_[MK_MAX_RANK], en[MK_MAX_RANK], ax[MK_MAX_RANK], sp[MK_MAX_RANK];
    int ns, ne, na = -1, nsp = -1;
    if (c->opset < 10) {
        const int64_t *v;
        ns = mk_onnx_attr_ints(n, "starts", &v);
        if (ns < 0 || ns > r) return MK_EUNSUPPORTED;
        memcpy(st_, v, (size_t)ns * 8);
        ne = mk_onnx_attr_ints(n, "ends", &v);
        if (ne != ns) return MK_EUNSUPPORTED;
        memcpy(en, v, (size_t)ne * 8);
        na = mk_onnx_attr_ints(n, "axes", &v);
        if (na > r) return MK_EUNSUPPORTED;
        if (na > 0) memcpy(ax, v, (size_t)na * 8);
    } else {
        ns = ints_of(n_in > 1 ? in[1] : NULL, st_, MK_MAX_RANK);
        ne = ints_of(n_in > 2 ? in[2] : NULL, en, MK_MAX_RANK);
        if (n_in > 3 && in[3]) na = ints_of(in[3], ax, MK_MAX_RANK);
        if (n_in > 4 && in[4]) nsp = ints_of(in[4], sp, MK_MAX_RANK);
        if (ns < 0 || ne != ns) return MK_EUNSUPPORTED;
    }
    int64_t b[MK_MAX_RANK], s[MK_MAX_RANK], e[MK_MAX_RANK];
    uint8_t em[MK_MAX_RANK];
    mk_type t = a->type;
    for (int i = 0; i < r; i++) b[i] = 0, s[i] = 1;
    for (int k = 0; k < ns; k++) {
        int axis;
        if (!norm_axis(na >= 0 ? ax[k] : k, r, &axis)) return MK_EUNSUPPORTED;
        int64_t dim = a->type.dims[axis], step = nsp >= 0 ? sp[k] : 1;
        if (step == 0) return MK_EUNSUPPORTED;
        int64_t bs = st_[k], es_ = en[k];
        int64_t len = ox_slice_axis(dim, &bs, &es_, &step);
        b[axis] = len ? bs : 0, s[axis] = len ? step : 1;
        t.dims[axis] = len;
    }
    /* as slice_by_index: the end one step past the last element taken (end_mask when that is
     * before the first element) */
    for (int i = 0; i < r; i++) {
        e[i] = b[i] + t.dims[i] * s[i];
        em[i] = e[i] < 0;
    }
    mop m;
    int64_t dr = r;
    mk_type mt = mk_type_make(MK_DT_BOOL, 1, &dr);
    mop_begin(&m, c, MK_OP_SLICE_BY_INDEX);
    mop_iota(&m, "x", r, a->type.dims, 0);
    mop_ints(&m, "begin", r, b);
    mop_ints(&m, "end", r, e);
    mop_ints(&m, "stride", r, s);
    uint8_t *emd = m.oom ? NULL : mk_arena_memdup(m.sp->arena, em, (size_t)r + 1);
    if (!emd) m.oom = 1;
    mop_add(&m, "end_mask", &mt, emd, (size_t)r);
    return mop_pick(&m, &a, 1, o);
}

static mk_status fold_transpose(ox_ctx *c, const Onnx__NodeProto *n, ox_val *a, ox_val *o)
{
    int r = a->type.rank;
    int64_t perm[MK_MAX_RANK];
    const int64_t *pv;
    int np = mk_onnx_attr_ints(n, "perm", &pv);
    for (int i = 0; i < r; i++) perm[i] = np == r ? pv[i] : r - 1 - i;
    mop m;
    mop_begin(&m, c, MK_OP_TRANSPOSE);
    mop_iota(&m, "x", r, a->type.dims, 0);
    mop_ints(&m, "perm", r, perm);
    return mop_pick(&m, &a, 1, o);
}

/* Expand is a tile of x with its rank raised to the result's (size-1 axes repeated). */
static mk_status fold_expand(ox_ctx *c, ox_val *a, ox_val *shape, ox_val *o)
{
    int64_t sh[MK_MAX_RANK], xd[MK_MAX_RANK], reps[MK_MAX_RANK];
    int ns = ints_of(shape, sh, MK_MAX_RANK);
    if (ns < 0) return MK_EUNSUPPORTED;
    mk_type st = mk_type_make(a->type.dtype, ns, sh), t;
    if (!mk_onnx_bcast(&a->type, &st, &t)) return MK_EUNSUPPORTED;
    int lead = t.rank - a->type.rank;
    for (int i = 0; i < t.rank; i++) {
        xd[i] = i < lead ? 1 : a->type.dims[i - lead];
        reps[i] = xd[i] == 1 ? t.dims[i] : 1;
    }
    mop m;
    mop_begin(&m, c, MK_OP_TILE);
    mop_iota(&m, "x", t.rank, xd, 0);
    mop_ints(&m, "reps", t.rank, reps);
    return mop_pick(&m, &a, 1, o);
}

static mk_status fold_tile(ox_ctx *c, ox_val *a, ox_val *reps, ox_val *o)
{
    int64_t rp[MK_MAX_RANK];
    int nr = ints_of(reps, rp, MK_MAX_RANK), r = a->type.rank;
    if (nr != r) return MK_EUNSUPPORTED;
    for (int i = 0; i < r; i++)
        if (rp[i] < 0) return MK_EUNSUPPORTED;
    mop m;
    mop_begin(&m, c, MK_OP_TILE);
    mop_iota(&m, "x", r, a->type.dims, 0);
    mop_ints(&m, "reps", r, rp);
    return mop_pick(&m, &a, 1, o);
}

static mk_status fold_where(ox_ctx *c, ox_val *cd, ox_val *a, ox_val *b, ox_val *o)
{
    if (a->type.dtype != b->type.dtype || cd->type.dtype != MK_DT_BOOL) return MK_EUNSUPPORTED;
    ox_val *src[2] = {a, b};
    mop m;
    mop_begin(&m, c, MK_OP_SELECT);
    mop_val(&m, "cond", cd);
    mop_iota(&m, "a", a->type.rank, a->type.dims, 0);
    mop_iota(&m, "b", b->type.rank, b->type.dims, mk_onnx_numel(&a->type));
    return mop_pick(&m, src, 2, o);
}

static mk_status fold_range(ox_ctx *c, ox_val *s, ox_val *l, ox_val *dl, ox_val *o)
{
    if (mk_onnx_numel(&s->type) != 1 || mk_onnx_numel(&l->type) != 1 ||
        mk_onnx_numel(&dl->type) != 1)
        return MK_EUNSUPPORTED;
    mop m;
    mop_begin(&m, c, MK_OP_RANGE_1D);
    if (s->type.dtype == MK_DT_INT64) {
        int64_t a = mk_onnx_cget_i(s, 0), b = mk_onnx_cget_i(l, 0), d = mk_onnx_cget_i(dl, 0);
        mop_int(&m, "start", a);
        mop_int(&m, "end", b);
        mop_int(&m, "step", d);
        if (m.nofit) { /* int64 beyond int32 */
            mop_end(&m);
            if (d == 0) return MK_EUNSUPPORTED;
            double cnt = ceil(((double)b - (double)a) / (double)d);
            mk_type t = mk_type_make(MK_DT_INT64, 1, NULL);
            t.dims[0] = cnt > 0 ? (int64_t)cnt : 0;
            if (t.dims[0] > (int64_t)FOLD_MAX_ELEMS) return MK_EUNSUPPORTED;
            void *p;
            mk_status st = alloc_out(c, o, &t, &p);
            if (st != MK_OK) return st;
            for (int64_t i = 0; i < t.dims[0]; i++) ((int64_t *)p)[i] = a + i * d;
            return MK_OK;
        }
    } else {
        float a = (float)mk_onnx_cget_f(s, 0), b = (float)mk_onnx_cget_f(l, 0);
        if (!(a == a) || !(b == b)) {
            mop_end(&m);
            return MK_EUNSUPPORTED;
        }
        mop_f32(&m, "start", a);
        mop_f32(&m, "end", b);
        mop_f32(&m, "step", (float)mk_onnx_cget_f(dl, 0));
    }
    return mop_finish(&m, o);
}

/* ConstantOfShape is a fill of the value's index. */
static mk_status fold_const_of_shape(ox_ctx *c, const Onnx__NodeProto *n, ox_val *s, ox_val *o)
{
    int64_t sh[MK_MAX_RANK];
    int ns = ints_of(s, sh, MK_MAX_RANK);
    if (ns < 0) return MK_EUNSUPPORTED;
    for (int i = 0; i < ns; i++)
        if (sh[i] < 0) return mk_err_set(c->err, MK_EINVAL, "negative dim %lld", (long long)sh[i]);
    ox_val fill;
    memset(&fill, 0, sizeof fill);
    const Onnx__AttributeProto *a = mk_onnx_attr(n, "value");
    float zero = 0;
    if (a && a->t) {
        mk_status st = mk_onnx_tensor(c, a->t, &fill);
        if (st != MK_OK) return st;
        if (mk_onnx_numel(&fill.type) != 1)
            return mk_err_set(c->err, MK_EINVAL, "value must have one element");
    } else {
        fill.type = mk_type_scalar(MK_DT_FP32);
        fill.data = &zero;
    }
    ox_val *src = &fill;
    mop m;
    mop_begin(&m, c, MK_OP_FILL);
    mop_ints(&m, "shape", ns, sh);
    mop_int(&m, "value", 0);
    return mop_pick(&m, &src, 1, o);
}

static mk_status fold_reduce(ox_ctx *c, const Onnx__NodeProto *n, ox_val **in, int n_in, ox_val *o,
                             int prod)
{
    ox_val *a = in[0];
    int r = a->type.rank;
    int64_t axes[MK_MAX_RANK];
    int na;
    int axes_as_input = prod ? c->opset >= 18 : c->opset >= 13;
    if (axes_as_input) {
        na = n_in > 1 && in[1] ? ints_of(in[1], axes, MK_MAX_RANK) : 0;
    } else {
        const int64_t *v;
        na = mk_onnx_attr_ints(n, "axes", &v);
        if (na > MK_MAX_RANK) return MK_EUNSUPPORTED;
        if (na > 0) memcpy(axes, v, (size_t)na * 8);
        if (na < 0) na = 0;
    }
    if (na < 0) return MK_EUNSUPPORTED;
    int keep = (int)mk_onnx_attr_i(n, "keepdims", 1);
    if (na == 0 && mk_onnx_attr_i(n, "noop_with_empty_axes", 0)) return MK_EUNSUPPORTED;
    int red[MK_MAX_RANK] = {0};
    for (int i = 0; i < na; i++) {
        int ax;
        if (!norm_axis(axes[i], r, &ax)) return MK_EUNSUPPORTED;
        red[ax] = 1;
    }
    if (na == 0)
        for (int i = 0; i < r; i++) red[i] = 1;
    mk_type t = mk_type_make(a->type.dtype, 0, NULL);
    for (int i = 0; i < r; i++) {
        if (!red[i])
            t.dims[t.rank++] = a->type.dims[i];
        else if (keep)
            t.dims[t.rank++] = 1;
    }
    mop m;
    mk_const_out res;
    int64_t rax[MK_MAX_RANK];
    int nr = 0;
    for (int i = 0; i < r; i++)
        if (red[i]) rax[nr++] = i;
    mop_begin(&m, c, prod ? MK_OP_REDUCE_PROD : MK_OP_REDUCE_SUM);
    mop_val(&m, "x", a);
    if (r) mop_ints(&m, "axes", nr, rax);
    mop_bool(&m, "keep_dims", keep);
    mk_status st = mop_run(&m, &res);
    int direct = (st == MK_OK && saturated(&res)) || (st == MK_EUNSUPPORTED && m.nofit);
    if (st == MK_OK && !direct) st = mop_out(c, &res, o);
    mop_end(&m);
    if (!direct) return st;
    /* int64 beyond int32: summed in double as the kernel does */
    void *d;
    st = alloc_out(c, o, &t, &d);
    if (st != MK_OK) return st;
    size_t n_out = mk_onnx_numel(&t), n_el = mk_onnx_numel(&a->type);
    double *acc = mk_arena_array(c->p->arena, n_out ? n_out : 1, sizeof *acc);
    if (!acc) return MK_OOM(c->err);
    for (size_t i = 0; i < n_out; i++) acc[i] = prod ? 1 : 0;
    int64_t idx[MK_MAX_RANK] = {0};
    for (size_t i = 0; i < n_el; i++, next_idx(idx, &a->type)) {
        size_t off = 0;
        for (int k = 0; k < r; k++)
            if (!red[k]) off = off * (size_t)a->type.dims[k] + (size_t)idx[k];
        double x = mk_onnx_cget_f(a, i);
        acc[off] = prod ? acc[off] * x : acc[off] + x;
    }
    for (size_t i = 0; i < n_out; i++) put(t.dtype, d, i, acc[i], (int64_t)acc[i]);
    return MK_OK;
}

static mk_status fold_squeeze_like(ox_ctx *c, const Onnx__NodeProto *n, ox_val **in, int n_in,
                                   ox_val *o, int unsq)
{
    ox_val *a = in[0];
    int64_t axes[MK_MAX_RANK];
    int na;
    if (c->opset >= 13) {
        na = n_in > 1 && in[1] ? ints_of(in[1], axes, MK_MAX_RANK) : (unsq ? -1 : 0);
    } else {
        const int64_t *v;
        na = mk_onnx_attr_ints(n, "axes", &v);
        if (na > MK_MAX_RANK) return MK_EUNSUPPORTED;
        if (na > 0) memcpy(axes, v, (size_t)na * 8);
        if (na < 0) na = unsq ? -1 : 0;
    }
    if (na < 0) return MK_EUNSUPPORTED;
    int64_t dims[MK_MAX_RANK];
    int r = a->type.rank, nr = 0;
    if (unsq) {
        int out_r = r + na, flag[MK_MAX_RANK] = {0};
        if (out_r > MK_MAX_RANK) return MK_EUNSUPPORTED;
        for (int i = 0; i < na; i++) {
            int ax;
            if (!norm_axis(axes[i], out_r, &ax)) return MK_EUNSUPPORTED;
            flag[ax] = 1;
        }
        int k = 0;
        for (int i = 0; i < out_r; i++) dims[nr++] = flag[i] ? 1 : a->type.dims[k++];
        if (k != r) return MK_EUNSUPPORTED;
    } else {
        int flag[MK_MAX_RANK] = {0};
        for (int i = 0; i < na; i++) {
            int ax;
            if (!norm_axis(axes[i], r, &ax) || a->type.dims[ax] != 1) return MK_EUNSUPPORTED;
            flag[ax] = 1;
        }
        for (int i = 0; i < r; i++) {
            if (na == 0 ? a->type.dims[i] == 1 : flag[i]) continue;
            dims[nr++] = a->type.dims[i];
        }
    }
    return fold_reshape_like(c, a, o, nr, dims);
}

static mk_status fold_reshape(ox_ctx *c, const Onnx__NodeProto *n, ox_val **in, int n_in, ox_val *o)
{
    ox_val *a = in[0];
    int64_t sh[MK_MAX_RANK];
    int ns;
    if (c->opset < 5) return MK_EUNSUPPORTED;
    ns = n_in > 1 ? ints_of(in[1], sh, MK_MAX_RANK) : -1;
    if (ns < 0) return MK_EUNSUPPORTED;
    int allowzero = (int)mk_onnx_attr_i(n, "allowzero", 0), neg = -1;
    size_t known = 1, total = mk_onnx_numel(&a->type);
    for (int i = 0; i < ns; i++) {
        if (sh[i] == 0 && !allowzero) {
            if (i >= a->type.rank) return MK_EUNSUPPORTED;
            sh[i] = a->type.dims[i];
        }
        if (sh[i] == -1) {
            if (neg >= 0) return MK_EUNSUPPORTED;
            neg = i;
        } else if (sh[i] < 0) {
            return MK_EUNSUPPORTED;
        } else if (!mk_mul_size(known, (size_t)sh[i], &known)) {
            return MK_EUNSUPPORTED;
        }
    }
    if (neg >= 0) {
        if (known == 0 || total % known) return MK_EUNSUPPORTED;
        sh[neg] = (int64_t)(total / known);
    }
    return fold_reshape_like(c, a, o, ns, sh);
}

static mk_status fold_flatten(ox_ctx *c, const Onnx__NodeProto *n, ox_val *a, ox_val *o)
{
    int r = a->type.rank, ax;
    int64_t axis = mk_onnx_attr_i(n, "axis", 1);
    if (axis < 0) axis += r;
    if (axis < 0 || axis > r) return MK_EUNSUPPORTED;
    ax = (int)axis;
    int64_t d[2] = {1, 1};
    for (int i = 0; i < r; i++) d[i < ax ? 0 : 1] *= a->type.dims[i];
    return fold_reshape_like(c, a, o, 2, d);
}

static mk_status fold_shape(ox_ctx *c, const Onnx__NodeProto *n, ox_val *a, ox_val *o)
{
    int r = a->type.rank;
    int64_t s = mk_onnx_attr_i(n, "start", 0), e = mk_onnx_attr_i(n, "end", r);
    if (s < 0) s += r;
    if (e < 0) e += r;
    s = s < 0 ? 0 : s > r ? r : s;
    e = e < 0 ? 0 : e > r ? r : e;
    int64_t len = e > s ? e - s : 0;
    mk_type t = mk_type_make(MK_DT_INT64, 1, &len);
    int64_t dims[MK_MAX_RANK];
    for (int64_t i = s; i < e; i++) {
        if (a->type.dims[i] < 0) return MK_EUNSUPPORTED;
        dims[i - s] = a->type.dims[i];
    }
    return mk_onnx_set_const(c, o, &t, dims);
}

/* NonZero of a constant: [rank, count] int64 indices in row-major order (MIL non_zero gives
 * [count, rank]: a transpose follows; a scalar counts as one element of rank 1). */
static mk_status fold_non_zero(ox_ctx *c, ox_val *a, ox_val *o)
{
    mop m;
    mk_const_out r;
    ox_val x = *a;
    if (x.type.rank == 0) x.type = mk_type_make(x.type.dtype, 1, (const int64_t[]){1});
    mop_begin(&m, c, MK_OP_NON_ZERO);
    mop_val(&m, "x", &x);
    mk_status st = mop_run(&m, &r);
    if (st != MK_OK) {
        mop_end(&m);
        return st;
    }
    mop t;
    mop_begin(&t, c, MK_OP_TRANSPOSE);
    mop_add(&t, "x", &r.type, r.data, r.nbytes);
    mop_ints(&t, "perm", 2, (const int64_t[]){1, 0});
    st = mop_finish(&t, o);
    mop_end(&m);
    return st;
}

mk_status mk_onnx_fold(ox_ctx *c, const Onnx__NodeProto *n, ox_val **in, int n_in, ox_val **out,
                       int n_out)
{
    const char *ot = n->op_type;
    if (n_out < 1) return MK_EUNSUPPORTED;
    ox_val *o = out[0];
    for (int i = 0; i < n_in; i++)
        if (in[i] && in[i]->type.dtype == MK_DT_INVALID) return MK_EUNSUPPORTED;
    static const struct {
        const char *name;
        binop op;
    } bins[] = {{"Add", F_ADD},    {"Sub", F_SUB},        {"Mul", F_MUL},           {"Div", F_DIV},
                {"Mod", F_MOD},    {"Pow", F_POW},        {"Equal", F_EQ},          {"Less", F_LT},
                {"Greater", F_GT}, {"LessOrEqual", F_LE}, {"GreaterOrEqual", F_GE}, {"And", F_AND},
                {"Or", F_OR},      {"Xor", F_XOR}};
    for (size_t i = 0; i < sizeof bins / sizeof *bins; i++)
        if (strcmp(ot, bins[i].name) == 0) {
            if (n_in != 2 || !in[0] || !in[1]) return MK_EUNSUPPORTED;
            return fold_binary(c, bins[i].op, in[0], in[1], o, (int)mk_onnx_attr_i(n, "fmod", 0));
        }
    if (strcmp(ot, "Min") == 0 || strcmp(ot, "Max") == 0 || strcmp(ot, "Sum") == 0) {
        if (n_in < 1 || !in[0]) return MK_EUNSUPPORTED;
        binop op = ot[1] == 'i' ? F_MIN : ot[1] == 'a' ? F_MAX : F_ADD;
        ox_val *acc = in[0];
        for (int i = 1; i < n_in; i++) {
            ox_val *tmp = i == n_in - 1 ? o : mk_arena_alloc(c->p->arena, sizeof *tmp);
            if (!tmp) return MK_OOM(c->err);
            mk_status st = fold_binary(c, op, acc, in[i], tmp, 0);
            if (st != MK_OK) return st;
            acc = tmp;
        }
        if (n_in == 1)
            *o = (ox_val){o->name, acc->type, acc->data, acc->nbytes,    acc->borrowed, NULL,
                          NULL,    0,         NULL,      acc->f16_range, NULL};
        return MK_OK;
    }
    static const char *const unary[] = {"Neg",        "Abs", "Sqrt", "Floor", "Ceil", "Round",
                                        "Reciprocal", "Exp", "Log",  "Relu",  "Not",  "Sign"};
    for (size_t i = 0; i < sizeof unary / sizeof *unary; i++)
        if (strcmp(ot, unary[i]) == 0)
            return n_in == 1 ? fold_unary(c, ot, in[0], o) : MK_EUNSUPPORTED;
    if (strcmp(ot, "Constant") == 0) {
        const Onnx__AttributeProto *a = mk_onnx_attr(n, "value");
        if (a && a->t) return mk_onnx_tensor(c, a->t, o);
        if ((a = mk_onnx_attr(n, "value_float"))) {
            mk_type t = mk_type_scalar(MK_DT_FP32);
            return mk_onnx_set_const(c, o, &t, &a->f);
        }
        if ((a = mk_onnx_attr(n, "value_int"))) {
            mk_type t = mk_type_scalar(MK_DT_INT64);
            return mk_onnx_set_const(c, o, &t, &a->i);
        }
        if ((a = mk_onnx_attr(n, "value_floats"))) {
            int64_t d = (int64_t)a->n_floats;
            mk_type t = mk_type_make(MK_DT_FP32, 1, &d);
            return mk_onnx_set_const(c, o, &t, a->floats);
        }
        if ((a = mk_onnx_attr(n, "value_ints"))) {
            int64_t d = (int64_t)a->n_ints;
            mk_type t = mk_type_make(MK_DT_INT64, 1, &d);
            return mk_onnx_set_const(c, o, &t, a->ints);
        }
        return mk_err_set(c->err, MK_EUNSUPPORTED, "Constant without a supported value");
    }
    if (n_in < 1 || !in[0]) {
        if (strcmp(ot, "Range") != 0) return MK_EUNSUPPORTED;
    }
    if (strcmp(ot, "Identity") == 0 || strcmp(ot, "Dropout") == 0) {
        ox_val *a = in[0];
        *o = (ox_val){o->name, a->type, a->data, a->nbytes,    a->borrowed, NULL,
                      NULL,    0,       NULL,    a->f16_range, NULL};
        if (n_out > 1 && out[1]) {
            /* Dropout mask: all true in inference */
            mk_type t = a->type;
            t.dtype = MK_DT_BOOL;
            void *d;
            mk_status st = alloc_out(c, out[1], &t, &d);
            if (st != MK_OK) return st;
            memset(d, 1, mk_onnx_numel(&t));
        }
        return MK_OK;
    }
    if (strcmp(ot, "Cast") == 0) return fold_cast(c, n, in[0], o);
    if (strcmp(ot, "Shape") == 0) return fold_shape(c, n, in[0], o);
    if (strcmp(ot, "Size") == 0) {
        int64_t sz = (int64_t)mk_onnx_numel(&in[0]->type);
        mk_type t = mk_type_scalar(MK_DT_INT64);
        return mk_onnx_set_const(c, o, &t, &sz);
    }
    if (strcmp(ot, "Concat") == 0) return fold_concat(c, n, in, n_in, o);
    if (strcmp(ot, "Gather") == 0 && n_in == 2 && in[1]) return fold_gather(c, n, in[0], in[1], o);
    if (strcmp(ot, "Slice") == 0) return fold_slice(c, n, in, n_in, o);
    if (strcmp(ot, "Transpose") == 0) return fold_transpose(c, n, in[0], o);
    if (strcmp(ot, "Expand") == 0 && n_in == 2) return fold_expand(c, in[0], in[1], o);
    if (strcmp(ot, "Tile") == 0 && n_in == 2) return fold_tile(c, in[0], in[1], o);
    if (strcmp(ot, "Where") == 0 && n_in == 3 && in[1] && in[2])
        return fold_where(c, in[0], in[1], in[2], o);
    if (strcmp(ot, "Range") == 0 && n_in == 3 && in[0] && in[1] && in[2])
        return fold_range(c, in[0], in[1], in[2], o);
    if (strcmp(ot, "ConstantOfShape") == 0) return fold_const_of_shape(c, n, in[0], o);
    if (strcmp(ot, "ReduceProd") == 0) return fold_reduce(c, n, in, n_in, o, 1);
    if (strcmp(ot, "ReduceSum") == 0) return fold_reduce(c, n, in, n_in, o, 0);
    if (strcmp(ot, "Squeeze") == 0) return fold_squeeze_like(c, n, in, n_in, o, 0);
    if (strcmp(ot, "Unsqueeze") == 0) return fold_squeeze_like(c, n, in, n_in, o, 1);
    if (strcmp(ot, "Reshape") == 0) return fold_reshape(c, n, in, n_in, o);
    if (strcmp(ot, "Flatten") == 0) return fold_flatten(c, n, in[0], o);
    if (strcmp(ot, "NonZero") == 0) return fold_non_zero(c, in[0], o);
    return MK_EUNSUPPORTED;
}
