/* Op table lookups, element types and tensor types: names, sizes, equality, printing.
 * Type inference for op outputs lives in infer*.c, not here. */
#include <string.h>

#include "ir.h"

static const mk_op_info op_infos[MK_OP__COUNT] = {
#define MK_OP(e, nm, opset, nout, fam, place, pw, prm, rule, kern, meaning)                        \
    [MK_OP_##e] = {nm, opset, nout, pw, meaning},
#include "ops.def"
#undef MK_OP
};

const mk_op_info *mk_ir_op_info(mk_op_kind k)
{
    return (unsigned)k < MK_OP__COUNT ? &op_infos[k] : NULL;
}

int mk_ir_op_in(mk_op_kind k, const mk_op_kind *set, int n)
{
    for (int i = 0; i < n; i++)
        if (set[i] == k) return 1;
    return 0;
}

mk_op_kind mk_ir_op_lookup(const char *s)
{
    for (int k = 0; k < MK_OP__COUNT; k++)
        if (strcmp(op_infos[k].name, s) == 0) return (mk_op_kind)k;
    return MK_OP__COUNT;
}

static const struct {
    mk_dtype t;
    const char *name;
    int bits;
} dtypes[] = {
    {MK_DT_BOOL, "bool", 8},      {MK_DT_STRING, "string", 8 * (int)sizeof(char *)},
    {MK_DT_FP16, "fp16", 16},     {MK_DT_FP32, "fp32", 32},
    {MK_DT_FP64, "fp64", 64},     {MK_DT_BF16, "bf16", 16},
    {MK_DT_INT8, "int8", 8},      {MK_DT_INT16, "int16", 16},
    {MK_DT_INT32, "int32", 32},   {MK_DT_INT64, "int64", 64},
    {MK_DT_INT4, "int4", 4},      {MK_DT_UINT8, "uint8", 8},
    {MK_DT_UINT16, "uint16", 16}, {MK_DT_UINT32, "uint32", 32},
    {MK_DT_UINT64, "uint64", 64}, {MK_DT_UINT4, "uint4", 4},
    {MK_DT_UINT2, "uint2", 2},    {MK_DT_UINT1, "uint1", 1},
    {MK_DT_UINT6, "uint6", 6},    {MK_DT_UINT3, "uint3", 3},
};

const char *mk_dtype_name(mk_dtype t)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (dtypes[i].t == t) return dtypes[i].name;
    return NULL;
}

mk_dtype mk_dtype_from_name(const char *s)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (strcmp(dtypes[i].name, s) == 0) return dtypes[i].t;
    return MK_DT_INVALID;
}

int mk_dtype_valid(int code)
{
    return code != 0 && mk_dtype_name((mk_dtype)code) != NULL;
}

int mk_dtype_bits(mk_dtype t)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (dtypes[i].t == t) return dtypes[i].bits;
    return 0;
}

int mk_dtype_is_float(mk_dtype t)
{
    return t == MK_DT_FP16 || t == MK_DT_FP32 || t == MK_DT_FP64 || t == MK_DT_BF16;
}

int mk_dtype_is_int(mk_dtype t)
{
    return (t >= MK_DT_INT8 && t <= MK_DT_INT4) || (t >= MK_DT_UINT8 && t <= MK_DT_UINT3);
}

mk_type mk_type_make(mk_dtype dt, int rank, const int64_t *dims)
{
    mk_type t;
    memset(&t, 0, sizeof t);
    t.dtype = dt;
    t.rank = rank;
    for (int i = 0; i < rank && i < MK_MAX_RANK; i++) t.dims[i] = dims ? dims[i] : MK_DIM_UNKNOWN;
    return t;
}

mk_type mk_type_scalar(mk_dtype dt)
{
    return mk_type_make(dt, 0, NULL);
}

int mk_type_is_static(const mk_type *t)
{
    if (t->rank < 0) return 0;
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] < 0) return 0;
    return 1;
}

int mk_type_equal(const mk_type *a, const mk_type *b)
{
    if (a->dtype != b->dtype || a->rank != b->rank || a->is_list != b->is_list ||
        a->dict_key != b->dict_key)
        return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

int mk_type_numel(const mk_type *t, size_t *out)
{
    size_t n = 1;
    if (!mk_type_is_static(t)) return 0;
    for (int i = 0; i < t->rank; i++)
        if (!mk_mul_size(n, (size_t)t->dims[i], &n)) return 0;
    *out = n;
    return 1;
}

int mk_type_nbytes(const mk_type *t, size_t *out)
{
    size_t n, bits;
    int b = mk_dtype_bits(t->dtype);
    if (!b || !mk_type_numel(t, &n) || !mk_mul_size(n, (size_t)b, &bits)) return 0;
    *out = (bits + 7) / 8;
    return 1;
}

char *mk_type_str(const mk_type *t, char *buf, size_t n)
{
    const char *dn = mk_dtype_name(t->dtype);
    size_t off = 0;
    int w;
    if (t->dict_key) {
        const char *kn = mk_dtype_name(t->dict_key);
        snprintf(buf, n, "dict<%s, %s>", kn ? kn : "?", dn ? dn : "?");
        return buf;
    }
    if (t->is_list && t->rank >= 1) {
        char el[160];
        mk_type e = *t;
        e.is_list = 0;
        e.rank--;
        memmove(e.dims, e.dims + 1, (size_t)e.rank * sizeof *e.dims);
        mk_type_str(&e, el, sizeof el);
        if (t->dims[0] < 0)
            snprintf(buf, n, "list<%s, ?>", el);
        else
            snprintf(buf, n, "list<%s, %lld>", el, (long long)t->dims[0]);
        return buf;
    }
    w = snprintf(buf, n, "tensor<%s, ", dn ? dn : "?");
    off = w > 0 ? (size_t)w : 0;
    if (t->rank < 0) {
        snprintf(buf + (off < n ? off : n), off < n ? n - off : 0, "?>");
        return buf;
    }
    for (int i = 0; i <= t->rank && off < n; i++) {
        const char *pre = i == 0 ? "[" : ", ";
        if (i == t->rank) {
            w = snprintf(buf + off, n - off, "%s]>", t->rank ? "" : "[");
        } else if (t->dims[i] < 0) {
            w = snprintf(buf + off, n - off, "%s?", pre);
        } else {
            w = snprintf(buf + off, n - off, "%s%lld", pre, (long long)t->dims[i]);
        }
        if (w < 0) break;
        off += (size_t)w;
    }
    return buf;
}
