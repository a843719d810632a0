/* Type rules of the list ops (make_list, list_length/read/write/gather/scatter) and of classify,
 * which reads a list literal of class labels. A list is
 * typed as its elements stacked (mk_type.is_list, dims[0] the length). Writes past the end
 * grow a list, so a write whose index is not known to be inside gives an unknown length:
 * coremltools declares every list of a chain with make_list's init_length, which such a rule
 * stays compatible with, and the interpreter's kernels size the result at run time. */
#include <string.h>

#include "infer_int.h"

static const mk_operand *list_in(mk_ictx *c)
{
    const mk_operand *ls = mk_ir_infer_req(c, "ls");
    if (!ls) return NULL;
    if (!ls->type.is_list || ls->type.rank < 1) {
        mk_ir_infer_fail(c, "'ls' must be a list");
        return NULL;
    }
    return ls;
}

static mk_type elem_of(const mk_type *ls)
{
    mk_type e = *ls;
    e.is_list = 0;
    e.rank = ls->rank - 1;
    memmove(e.dims, ls->dims + 1, (size_t)e.rank * sizeof *e.dims);
    return e;
}

/* value (elements stacked when stacked = 1) must fit the list's elements; fills unknown
 * element dims of *ls from it. */
static mk_status fit(mk_ictx *c, mk_type *ls, const mk_type *v, int stacked)
{
    if (v->dtype != ls->dtype) return mk_ir_infer_fail(c, "'value' dtype differs from the list's");
    if (v->rank < 0) return MK_OK;
    if (v->rank != ls->rank - 1 + stacked)
        return mk_ir_infer_fail(c, "'value' has rank %d, the list's elements %d", v->rank - stacked,
                                ls->rank - 1);
    for (int i = 1; i < ls->rank; i++) {
        int64_t vd = v->dims[i - 1 + stacked];
        if (mk_ir_infer_same_dim(c, "'value' and the list's elements", ls->dims[i], vd))
            return c->e->code;
        if (ls->dims[i] < 0) ls->dims[i] = vd;
    }
    return MK_OK;
}

/* The length after writing at the given indices: unchanged when every index is known and
 * inside, else unknown (the list may grow). Fails on a negative index. */
static mk_status grown(mk_ictx *c, const char *param, mk_type *ls)
{
    const mk_operand *o = mk_ir_infer_req(c, param);
    if (!o) return c->e->code;
    int64_t idx[MK_INFER_MAX_VEC];
    int n = 0;
    mk_operand flat = *o;
    if (flat.type.rank == 0) flat.type = mk_type_make(o->type.dtype, 1, (int64_t[]){1});
    int r = flat.type.rank == 1 ? mk_ir_infer_ints(c, param, &flat, idx, MK_INFER_MAX_VEC, &n) : 0;
    if (r < 0) return c->e->code;
    for (int i = 0; r && i < n; i++) {
        if (idx[i] < 0) return mk_ir_infer_fail(c, "negative list index %lld", (long long)idx[i]);
        if (ls->dims[0] < 0 || idx[i] >= ls->dims[0]) r = 0;
    }
    if (!r) ls->dims[0] = MK_DIM_UNKNOWN;
    return MK_OK;
}

mk_status mk_ir_rule_make_list(mk_ictx *c)
{
    const char *dn = mk_ir_infer_str(c, "dtype", "fp32");
    mk_dtype dt = dn ? mk_dtype_from_name(dn) : MK_DT_INVALID;
    if (dt != MK_DT_FP32 && dt != MK_DT_FP16 && dt != MK_DT_INT32 && dt != MK_DT_BOOL)
        return mk_ir_infer_fail(c, "dtype must be bool, fp16, fp32 or int32");
    int n = mk_ir_infer_nargs(c, "elem_shape");
    if (n < 0 || n >= MK_MAX_RANK)
        return mk_ir_infer_fail(c, "elem_shape must have fewer than %d dims", MK_MAX_RANK);
    mk_type t = mk_type_make(dt, n + 1, NULL);
    t.is_list = 1;
    int64_t len;
    int known;
    if (mk_ir_infer_int(c, "init_length", 1, &len, &known)) return c->e->code;
    if (known && (len < 0 || len > MK_INFER_DIM_MAX))
        return mk_ir_infer_fail(c, "init_length %lld is out of range", (long long)len);
    t.dims[0] = known ? len : MK_DIM_UNKNOWN;
    for (int i = 0; i < n; i++) {
        const mk_operand *a = mk_ir_infer_arg(c, "elem_shape", i);
        int64_t d = MK_DIM_UNKNOWN;
        int cnt = 0;
        if (a && a->type.dtype != MK_DT_STRING && a->data) {
            mk_operand one = *a;
            if (one.type.rank == 0) one.type = mk_type_make(a->type.dtype, 1, (int64_t[]){1});
            if (mk_ir_infer_ints(c, "elem_shape", &one, &d, 1, &cnt) < 0) return c->e->code;
            if (cnt != 1 || d < 0 || d > MK_INFER_DIM_MAX)
                return mk_ir_infer_fail(c, "elem_shape[%d] is not a valid dimension", i);
        }
        t.dims[i + 1] = d;
    }
    return mk_ir_infer_out(c, &t);
}

mk_status mk_ir_rule_list_length(mk_ictx *c)
{
    if (!list_in(c)) return c->e->code;
    mk_type t = mk_type_scalar(MK_DT_INT32);
    return mk_ir_infer_out(c, &t);
}

mk_status mk_ir_rule_list_read(mk_ictx *c)
{
    const mk_operand *ls = list_in(c);
    if (!ls || !mk_ir_infer_req(c, "index")) return c->e->code;
    mk_type t = elem_of(&ls->type);
    return mk_ir_infer_out(c, &t);
}

mk_status mk_ir_rule_list_gather(mk_ictx *c)
{
    const mk_operand *ls = list_in(c);
    const mk_operand *ix = ls ? mk_ir_infer_req(c, "indices") : NULL;
    if (!ix || mk_ir_infer_rank(c, "indices", ix, 1, 1)) return c->e->code;
    mk_type t = ls->type;
    t.is_list = 0;
    t.dims[0] = ix->type.rank == 1 ? ix->type.dims[0] : MK_DIM_UNKNOWN;
    return mk_ir_infer_out(c, &t);
}

/* list_write (one element at index) and list_scatter (value[k] at indices[k]). */
mk_status mk_ir_rule_list_write(mk_ictx *c)
{
    int scatter = c->op->kind == MK_OP_LIST_SCATTER;
    const mk_operand *ls = list_in(c);
    const mk_operand *v = ls ? mk_ir_infer_req(c, "value") : NULL;
    if (!v) return c->e->code;
    mk_type t = ls->type;
    if (scatter) {
        const mk_operand *ix = mk_ir_infer_req(c, "indices");
        if (!ix || mk_ir_infer_rank(c, "indices", ix, 1, 1)) return c->e->code;
        if (ix->type.rank == 1 && v->type.rank > 0 &&
            mk_ir_infer_same_dim(c, "indices and value", ix->type.dims[0], v->type.dims[0]))
            return c->e->code;
    }
    if (fit(c, &t, &v->type, scatter) || grown(c, scatter ? "indices" : "index", &t))
        return c->e->code;
    return mk_ir_infer_out(c, &t);
}

/* classify: probabilities (fp32, one per class) and a const list of string or int64 classes;
 * outputs the label (a scalar of the class dtype) and a dictionary class -> probability (fp64
 * values, typed as their vector in class order). */
mk_status mk_ir_rule_classify(mk_ictx *c)
{
    const mk_operand *pr = mk_ir_infer_req(c, "probabilities");
    const mk_operand *cl = pr ? mk_ir_infer_req(c, "classes") : NULL;
    if (!cl) return c->e->code;
    if (pr->type.dtype != MK_DT_FP32) return mk_ir_infer_fail(c, "probabilities must be fp32");
    mk_dtype kd = cl->type.dtype;
    if (!cl->type.is_list || cl->type.rank != 1 || (kd != MK_DT_STRING && kd != MK_DT_INT64))
        return mk_ir_infer_fail(c, "classes must be a list of strings or int64 scalars");
    int64_t n = cl->type.dims[0];
    size_t np;
    if (n >= 0 && mk_type_numel(&pr->type, &np) && np != (size_t)n)
        return mk_ir_infer_fail(c, "%zu probabilities for %lld classes", np, (long long)n);
    mk_type label = mk_type_scalar(kd), probs = mk_type_make(MK_DT_FP64, 1, &n);
    probs.dict_key = kd;
    mk_status st = mk_ir_infer_out(c, &label);
    return st ? st : mk_ir_infer_out(c, &probs);
}
