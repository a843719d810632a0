/* Core ML reader: an .mlpackage (Manifest.json -> root spec, weights dir) or a single
 * .mlmodel -> IR. Every byte read is validated (protobuf nesting, types, blob headers,
 * sentinels, dtypes, sizes, offsets); blob constants point into the mmapped weight file and
 * are never copied. It does not check MIL semantics (op signatures, type inference): that
 * is mk_ir_verify's job. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "coreml_int.h"

#define MAX_WFILES 16
#define PATH_N 4096

typedef struct wfile {
    const char *name; /* base name, as in "@model_path/weights/<name>" */
    const char *path; /* for messages */
    const unsigned char *data;
    size_t size;
} wfile;

typedef struct rd {
    mk_program *p;
    mk_err *e;
    const char *label; /* the spec file, for messages */
    const char *wdir;  /* weights directory; NULL when reading from memory */
    const unsigned char *wmem;
    size_t wmem_n;
    wfile files[MAX_WFILES];
    int n_files;
    mk_strmap vals; /* value name -> mk_value* */
    const char *op_name, *op_type;
} rd;

static mk_status vfail_at(rd *r, const char *file, mk_status code, const char *fmt, va_list ap)
    MK_PRINTF(4, 0);
static mk_status vfail_at(rd *r, const char *file, mk_status code, const char *fmt, va_list ap)
{
    char msg[700], ctx[300] = "";
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (r->op_name && r->op_type)
        snprintf(ctx, sizeof ctx, "op '%.120s' (%.100s): ", r->op_name, r->op_type);
    else if (r->op_name)
        snprintf(ctx, sizeof ctx, "op '%.120s': ", r->op_name);
    return mk_err_set(r->e, code, "%s: %s%s", file, ctx, msg);
}

static mk_status fail(rd *r, mk_status code, const char *fmt, ...) MK_PRINTF(3, 4);
static mk_status fail(rd *r, mk_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_at(r, r->label, code, fmt, ap);
    va_end(ap);
    return code;
}

static mk_status fail_at(rd *r, const char *file, mk_status code, const char *fmt, ...)
    MK_PRINTF(4, 5);
static mk_status fail_at(rd *r, const char *file, mk_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_at(r, file, code, fmt, ap);
    va_end(ap);
    return code;
}

static mk_status oom(rd *r)
{
    return fail(r, MK_ENOMEM, "out of memory");
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* NULL for empty strings (proto3 cannot tell empty from absent); else an arena copy.
 * Sets *bad on OOM. */
static const char *opt_str(rd *r, const char *s, int *bad)
{
    if (!s || !*s) return NULL;
    const char *d = mk_arena_strdup(r->p->arena, s);
    if (!d) *bad = 1;
    return d;
}

/* ---- types ---- */

static mk_status tensor_type(rd *r, const PbTensorType *tt, mk_type *out, const char *what)
{
    memset(out, 0, sizeof *out);
    if (!mk_dtype_valid((int)tt->datatype))
        return fail(r, MK_EUNSUPPORTED, "%s: unknown data type %d", what, (int)tt->datatype);
    out->dtype = (mk_dtype)tt->datatype;
    if (tt->rank == -1) {
        out->rank = MK_RANK_UNKNOWN;
        return MK_OK;
    }
    if (tt->rank < 0 || tt->rank > MK_MAX_RANK)
        return fail(r, MK_EUNSUPPORTED, "%s: rank %lld is not supported (0..%d)", what,
                    (long long)tt->rank, MK_MAX_RANK);
    if (tt->n_dimensions != (size_t)tt->rank)
        return fail(r, MK_EINVAL, "%s: rank %lld but %zu dimensions", what, (long long)tt->rank,
                    tt->n_dimensions);
    out->rank = (int)tt->rank;
    for (int i = 0; i < out->rank; i++) {
        const PbDim *d = tt->dimensions[i];
        if (d->dimension_case == CORE_ML__SPECIFICATION__MILSPEC__DIMENSION__DIMENSION_CONSTANT) {
            if (d->constant->size > (uint64_t)INT64_MAX)
                return fail(r, MK_EINVAL, "%s: dimension %d is too large", what, i);
            out->dims[i] = (int64_t)d->constant->size;
        } else if (d->dimension_case ==
                   CORE_ML__SPECIFICATION__MILSPEC__DIMENSION__DIMENSION_UNKNOWN) {
            out->dims[i] = MK_DIM_UNKNOWN;
        } else {
            return fail(r, MK_EINVAL, "%s: dimension %d is neither constant nor unknown", what, i);
        }
    }
    return MK_OK;
}

/* A list of tensors: its element type with the list length prepended (mk_type.is_list). */
static mk_status list_type(rd *r, const PbValueType *vt, mk_type *out, const char *what)
{
    const CoreML__Specification__MILSpec__ListType *lt = vt->listtype;
    if (!lt || !lt->type ||
        lt->type->type_case != CORE_ML__SPECIFICATION__MILSPEC__VALUE_TYPE__TYPE_TENSOR_TYPE)
        return fail(r, MK_EUNSUPPORTED, "%s has a list type whose elements are not tensors", what);
    mk_type el;
    mk_status st = tensor_type(r, lt->type->tensortype, &el, what);
    if (st) return st;
    if (el.rank < 0 || el.rank >= MK_MAX_RANK)
        return fail(r, MK_EUNSUPPORTED, "%s: list elements need a known rank below %d", what,
                    MK_MAX_RANK);
    *out = el;
    out->is_list = 1;
    out->rank = el.rank + 1;
    memmove(out->dims + 1, el.dims, (size_t)el.rank * sizeof *el.dims);
    out->dims[0] = MK_DIM_UNKNOWN;
    const PbDim *d = lt->length;
    if (d && d->dimension_case == CORE_ML__SPECIFICATION__MILSPEC__DIMENSION__DIMENSION_CONSTANT) {
        if (d->constant->size > (uint64_t)INT32_MAX)
            return fail(r, MK_EINVAL, "%s: list length is too large", what);
        out->dims[0] = (int64_t)d->constant->size;
    }
    return MK_OK;
}

/* classify's dictionary<string|int64 key, scalar value>: a vector of the values (length from
 * the op's type rule), keys in mk_type.dict_key */
static mk_status dict_type(rd *r, const PbValueType *vt, mk_type *out, const char *what)
{
    const PbDictType *dt = vt->dictionarytype;
    mk_type k, v;
    if (!dt || !dt->keytype || !dt->valuetype ||
        dt->keytype->type_case != CORE_ML__SPECIFICATION__MILSPEC__VALUE_TYPE__TYPE_TENSOR_TYPE ||
        dt->valuetype->type_case != CORE_ML__SPECIFICATION__MILSPEC__VALUE_TYPE__TYPE_TENSOR_TYPE)
        return fail(r, MK_EUNSUPPORTED, "%s: a dict type needs tensor key and value types", what);
    mk_status st = tensor_type(r, dt->keytype->tensortype, &k, what);
    if (!st) st = tensor_type(r, dt->valuetype->tensortype, &v, what);
    if (st) return st;
    if ((k.dtype != MK_DT_STRING && k.dtype != MK_DT_INT64) || k.rank > 0 || v.rank > 0 ||
        !mk_dtype_is_float(v.dtype))
        return fail(r, MK_EUNSUPPORTED,
                    "%s: dict types are supported with string or int64 keys and float values "
                    "(classify) only",
                    what);
    *out = mk_type_make(v.dtype, 1, NULL);
    out->dict_key = k.dtype;
    return MK_OK;
}

static mk_status value_type(rd *r, const PbValueType *vt, mk_type *out, const char *what)
{
    if (!vt) return fail(r, MK_EINVAL, "%s: missing type", what);
    const char *kind;
    switch ((int)vt->type_case) {
    case CORE_ML__SPECIFICATION__MILSPEC__VALUE_TYPE__TYPE_TENSOR_TYPE:
        return tensor_type(r, vt->tensortype, out, what);
    case CORE_ML__SPECIFICATION__MILSPEC__VALUE_TYPE__TYPE_LIST_TYPE:
        return list_type(r, vt, out, what);
    case CORE_ML__SPECIFICATION__MILSPEC__VALUE_TYPE__TYPE_TUPLE_TYPE: kind = "tuple"; break;
    case CORE_ML__SPECIFICATION__MILSPEC__VALUE_TYPE__TYPE_DICTIONARY_TYPE:
        return dict_type(r, vt, out, what);
    case CORE_ML__SPECIFICATION__MILSPEC__VALUE_TYPE__TYPE_STATE_TYPE: kind = "state"; break;
    default: return fail(r, MK_EINVAL, "%s: type not set", what);
    }
    return fail(r, MK_EUNSUPPORTED, "%s has a %s type; milkit supports tensor types only", what,
                kind);
}

/* ---- immediate tensor values ---- */

static int int_range(mk_dtype t, int64_t *lo, int64_t *hi)
{
    switch ((int)t) {
    case MK_DT_BOOL: *lo = 0, *hi = 1; return 1;
    case MK_DT_INT8: *lo = INT8_MIN, *hi = INT8_MAX; return 1;
    case MK_DT_UINT8: *lo = 0, *hi = UINT8_MAX; return 1;
    case MK_DT_INT16: *lo = INT16_MIN, *hi = INT16_MAX; return 1;
    case MK_DT_UINT16: *lo = 0, *hi = UINT16_MAX; return 1;
    case MK_DT_INT32: *lo = INT32_MIN, *hi = INT32_MAX; return 1;
    case MK_DT_UINT32: *lo = 0, *hi = UINT32_MAX; return 1;
    case MK_DT_INT64:
    case MK_DT_UINT64: *lo = INT64_MIN, *hi = INT64_MAX; return 1;
    default: return 0;
    }
}

static void put_int(void *dst, mk_dtype t, size_t i, int64_t v)
{
    switch ((int)t) {
    case MK_DT_BOOL:
    case MK_DT_UINT8: ((uint8_t *)dst)[i] = (uint8_t)v; break;
    case MK_DT_INT8: ((int8_t *)dst)[i] = (int8_t)v; break;
    case MK_DT_INT16: ((int16_t *)dst)[i] = (int16_t)v; break;
    case MK_DT_UINT16: ((uint16_t *)dst)[i] = (uint16_t)v; break;
    case MK_DT_INT32: ((int32_t *)dst)[i] = (int32_t)v; break;
    case MK_DT_UINT32: ((uint32_t *)dst)[i] = (uint32_t)v; break;
    default: ((int64_t *)dst)[i] = v; break;
    }
}

/* Decode tv into an arena buffer laid out as type t. */
static mk_status tensor_data(rd *r, const mk_type *t, const PbTensorValue *tv, const char *what,
                             const void **data, size_t *nbytes)
{
    size_t n, nb;
    if (!mk_type_is_static(t))
        return fail(r, MK_EINVAL, "%s: a constant needs a static type", what);
    if (!mk_type_numel(t, &n) || !mk_type_nbytes(t, &nb))
        return fail(r, MK_EINVAL, "%s: constant size overflows", what);
    int64_t lo = 0, hi = 0;
    int isint = int_range(t->dtype, &lo, &hi);
    size_t have = 0;
    int ok_dtype;
    switch ((int)tv->value_case) {
    case CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__VALUE_FLOATS:
        have = tv->floats->n_values;
        ok_dtype = t->dtype == MK_DT_FP32 || t->dtype == MK_DT_FP16 || t->dtype == MK_DT_FP64;
        break;
    case CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__VALUE_DOUBLES:
        have = tv->doubles->n_values;
        ok_dtype = t->dtype == MK_DT_FP64 || t->dtype == MK_DT_FP32;
        break;
    case CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__VALUE_INTS:
        have = tv->ints->n_values;
        ok_dtype = isint;
        break;
    case CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__VALUE_LONG_INTS:
        have = tv->longints->n_values;
        ok_dtype = isint;
        break;
    case CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__VALUE_BOOLS:
        have = tv->bools->n_values;
        ok_dtype = t->dtype == MK_DT_BOOL;
        break;
    case CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__VALUE_STRINGS:
        have = tv->strings->n_values;
        ok_dtype = t->dtype == MK_DT_STRING;
        break;
    case CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__VALUE_BYTES:
        if (t->dtype != MK_DT_STRING && tv->bytes->values.len != nb)
            return fail(r, MK_EINVAL, "%s: %zu value bytes, but %s needs %zu", what,
                        tv->bytes->values.len, mk_dtype_name(t->dtype), nb);
        have = n;
        ok_dtype = t->dtype != MK_DT_STRING;
        break;
    default: ok_dtype = 1; break;
    }
    if (!ok_dtype)
        return fail(r, MK_EINVAL, "%s: value encoding does not match dtype %s", what,
                    mk_dtype_name(t->dtype));
    if (have != n) return fail(r, MK_EINVAL, "%s: %zu values for %zu elements", what, have, n);
    *nbytes = nb;
    if (t->dtype == MK_DT_STRING) {
        /* pointers into the unpacked message: mk_ir_const_value copies the strings */
        *data = n ? (const void *)tv->strings->values : NULL;
        return MK_OK;
    }
    unsigned char *d = mk_arena_alloc(r->p->arena, nb);
    if (!d) return oom(r);
    *data = d;
    switch ((int)tv->value_case) {
    case CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__VALUE_BYTES:
        if (nb) memcpy(d, tv->bytes->values.data, nb);
        break;
    case CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__VALUE_FLOATS:
        for (size_t i = 0; i < n; i++) {
            float f = tv->floats->values[i];
            if (t->dtype == MK_DT_FP32)
                ((float *)d)[i] = f;
            else if (t->dtype == MK_DT_FP16)
                ((uint16_t *)d)[i] = mk_f32_to_f16(f);
            else
                ((double *)d)[i] = f;
        }
        break;
    case CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__VALUE_DOUBLES:
        for (size_t i = 0; i < n; i++) {
            if (t->dtype == MK_DT_FP64)
                ((double *)d)[i] = tv->doubles->values[i];
            else
                ((float *)d)[i] = (float)tv->doubles->values[i];
        }
        break;
    case CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__VALUE_INTS:
    case CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__VALUE_LONG_INTS:
        for (size_t i = 0; i < n; i++) {
            int64_t v = tv->value_case == CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__VALUE_INTS
                            ? tv->ints->values[i]
                            : tv->longints->values[i];
            if (v < lo || v > hi)
                return fail(r, MK_EINVAL, "%s: value %lld out of range for %s", what, (long long)v,
                            mk_dtype_name(t->dtype));
            put_int(d, t->dtype, i, v);
        }
        break;
    case CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__VALUE_BOOLS:
        for (size_t i = 0; i < n; i++) d[i] = tv->bools->values[i] ? 1 : 0;
        break;
    default: break;
    }
    return MK_OK;
}

/* ---- weight files and blobs ---- */

static mk_status weight_file(rd *r, const char *fname, wfile **out)
{
    static const char pre[] = "@model_path/";
    if (strncmp(fname, pre, sizeof pre - 1) != 0)
        return fail(r, MK_EUNSUPPORTED, "blob file '%.200s' is not under @model_path/", fname);
    const char *base = strrchr(fname, '/') + 1;
    if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
        return fail(r, MK_EINVAL, "bad blob file name '%.200s'", fname);
    for (int i = 0; i < r->n_files; i++)
        if (strcmp(r->files[i].name, base) == 0) {
            *out = &r->files[i];
            return MK_OK;
        }
    if (r->n_files == MAX_WFILES)
        return fail(r, MK_EUNSUPPORTED, "more than %d weight files", MAX_WFILES);
    wfile *w = &r->files[r->n_files];
    w->name = mk_arena_strdup(r->p->arena, base);
    if (!w->name) return oom(r);
    if (!r->wdir) {
        w->path = "weight.bin";
        w->data = r->wmem;
        w->size = r->wmem ? r->wmem_n : 0;
        if (!r->wmem) return fail(r, MK_EINVAL, "blob value but no weight file given");
    } else {
        w->path = mk_arena_printf(r->p->arena, "%s/%s", r->wdir, base);
        if (!w->path) return oom(r);
        if (!mk_path_exists(w->path))
            return fail_at(r, w->path, MK_EINVAL, "weight file is missing");
        mk_mapped m;
        mk_status st = mk_file_map(w->path, &m, r->e);
        if (st) return st;
        const unsigned char *md = m.data;
        size_t ms = m.size;
        if ((st = mk_ir_program_keep_map(r->p, m, r->e))) return st;
        w->data = md;
        w->size = ms;
    }
    if (w->size < MK_BLOB_HEADER)
        return fail_at(r, w->path, MK_EINVAL,
                       "%zu bytes, shorter than the %d-byte blob storage header", w->size,
                       MK_BLOB_HEADER);
    uint32_t ver = rd32(w->data + 4);
    if (ver != MK_BLOB_VERSION)
        return fail_at(r, w->path, MK_EUNSUPPORTED, "blob storage version %u, expected %d", ver,
                       MK_BLOB_VERSION);
    r->n_files++;
    *out = w;
    return MK_OK;
}

static mk_status blob_data(rd *r, const PbBlobValue *bv, const mk_type *t, const char *what,
                           const void **data, size_t *nbytes)
{
    wfile *w = NULL;
    mk_status st = weight_file(r, bv->filename ? bv->filename : "", &w);
    if (st) return st;
    unsigned code = mk_ml_blob_code(t->dtype);
    if (!code)
        return fail(r, MK_EINVAL, "%s: dtype %s cannot be stored in a blob", what,
                    mk_dtype_name(t->dtype));
    size_t n, nb;
    if (!mk_type_is_static(t) || !mk_type_numel(t, &n) || !mk_type_nbytes(t, &nb))
        return fail(r, MK_EINVAL, "%s: a blob value needs a static type", what);
    unsigned long long off = bv->offset;
    if (off > w->size || w->size - off < MK_BLOB_META)
        return fail_at(r, w->path, MK_EINVAL,
                       "%s: blob offset %llu is past the end of the file (%zu bytes)", what, off,
                       w->size);
    const unsigned char *meta = w->data + off;
    uint32_t sentinel = rd32(meta);
    if (sentinel != MK_BLOB_SENTINEL)
        return fail_at(r, w->path, MK_EINVAL,
                       "%s: blob at offset %llu has sentinel 0x%08x, expected 0xdeadbeef", what,
                       off, sentinel);
    uint32_t dcode = rd32(meta + 4);
    if (dcode != code)
        return fail_at(r, w->path, MK_EINVAL,
                       "%s: blob at offset %llu holds %s data (code %u), but the value is %s", what,
                       off, mk_ml_blob_code_name(dcode), dcode, mk_dtype_name(t->dtype));
    unsigned long long size = rd64(meta + 8), doff = rd64(meta + 16), pad = rd64(meta + 24);
    if (size != nb) {
        char ts[128];
        return fail_at(r, w->path, MK_EINVAL,
                       "%s: blob at offset %llu holds %llu bytes, but %s needs %zu", what, off,
                       size, mk_type_str(t, ts, sizeof ts), nb);
    }
    int bits = mk_dtype_bits(t->dtype);
    if (bits < 8) {
        size_t tail = (size_t)((n % 8) * (size_t)bits % 8);
        unsigned long long want = tail ? 8 - tail : 0;
        if (pad != want)
            return fail_at(r, w->path, MK_EINVAL,
                           "%s: blob at offset %llu has %llu padding bits, expected %llu", what,
                           off, pad, want);
    }
    if (doff > w->size || w->size - doff < size)
        return fail_at(r, w->path, MK_EINVAL,
                       "%s: blob at offset %llu: data at %llu (+%llu bytes) runs past the end "
                       "of the file (%zu bytes)",
                       what, off, doff, size, w->size);
    const unsigned char *p = w->data + doff;
    if (((uintptr_t)p & 7) != 0) {
        /* misaligned payload (never written by coremltools or milkit): copy it */
        void *c = mk_arena_memdup(r->p->arena, p, nb);
        if (!c) return oom(r);
        p = c;
    }
    *data = p;
    *nbytes = nb;
    return MK_OK;
}

/* ---- values ---- */

/* A list literal of scalars (classify's classes): one payload of the elements in order, typed
 * as the list (length = element count). */
static mk_status list_data(rd *r, mk_type *t, const PbImmediate *im, const char *what,
                           const void **data, size_t *nbytes)
{
    const CoreML__Specification__MILSpec__ListValue *lv = im->list;
    if (!lv || t->rank != 1)
        return fail(r, MK_EUNSUPPORTED, "%s: list values are supported with scalar elements only",
                    what);
    size_t n = lv->n_values,
           es = t->dtype == MK_DT_STRING ? sizeof(char *) : (size_t)mk_dtype_bits(t->dtype) / 8;
    if (!es || (t->dims[0] >= 0 && (size_t)t->dims[0] != n) || n > INT32_MAX)
        return fail(r, MK_EINVAL, "%s: list value of %zu elements does not match its type", what,
                    n);
    t->dims[0] = (int64_t)n;
    size_t nb;
    if (!mk_mul_size(n, es, &nb)) return fail(r, MK_EINVAL, "%s: list size overflows", what);
    unsigned char *buf = mk_arena_alloc(r->p->arena, nb ? nb : 1);
    if (!buf) return oom(r);
    mk_type el = mk_type_scalar(t->dtype);
    for (size_t i = 0; i < n; i++) {
        const PbValue *ev = lv->values[i];
        const void *d;
        size_t dn;
        if (!ev ||
            ev->value_case != CORE_ML__SPECIFICATION__MILSPEC__VALUE__VALUE_IMMEDIATE_VALUE ||
            ev->immediatevalue->value_case !=
                CORE_ML__SPECIFICATION__MILSPEC__VALUE__IMMEDIATE_VALUE__VALUE_TENSOR)
            return fail(r, MK_EUNSUPPORTED, "%s: list element %zu is not an immediate tensor", what,
                        i);
        mk_status st = tensor_data(r, &el, ev->immediatevalue->tensor, what, &d, &dn);
        if (st) return st;
        if (t->dtype == MK_DT_STRING) {
            const char *s = mk_arena_strdup(r->p->arena, *(const char *const *)d);
            if (!s) return oom(r);
            memcpy(buf + i * es, &s, es);
        } else {
            memcpy(buf + i * es, d, es);
        }
    }
    *data = buf;
    *nbytes = nb;
    return MK_OK;
}

static mk_status read_value(rd *r, const PbValue *v, const char *what, mk_value **out)
{
    if (!v) return fail(r, MK_EINVAL, "%s: missing value", what);
    mk_type t;
    mk_status st = value_type(r, v->type, &t, what);
    if (st) return st;
    const void *data = NULL;
    size_t nb = 0;
    mk_storage storage;
    int borrow = 1;
    if (v->value_case == CORE_ML__SPECIFICATION__MILSPEC__VALUE__VALUE_IMMEDIATE_VALUE) {
        const PbImmediate *im = v->immediatevalue;
        int list =
            im->value_case == CORE_ML__SPECIFICATION__MILSPEC__VALUE__IMMEDIATE_VALUE__VALUE_LIST;
        if (list && t.is_list) {
            if ((st = list_data(r, &t, im, what, &data, &nb))) return st;
        } else if (im->value_case !=
                   CORE_ML__SPECIFICATION__MILSPEC__VALUE__IMMEDIATE_VALUE__VALUE_TENSOR) {
            return fail(r, MK_EUNSUPPORTED,
                        "%s: tuple/dict values and lists without a list type are not supported",
                        what);
        } else if ((st = tensor_data(r, &t, im->tensor, what, &data, &nb))) {
            return st;
        }
        storage = MK_STORE_INLINE;
        borrow = t.dtype != MK_DT_STRING || list;
    } else if (v->value_case == CORE_ML__SPECIFICATION__MILSPEC__VALUE__VALUE_BLOB_FILE_VALUE) {
        if ((st = blob_data(r, v->blobfilevalue, &t, what, &data, &nb))) return st;
        storage = MK_STORE_BLOB;
    } else {
        return fail(r, MK_EINVAL, "%s: value has no data", what);
    }
    mk_value *cv = mk_ir_const_value(r->p, &t, data, nb, borrow);
    if (!cv) return oom(r);
    mk_const *c = (mk_const *)cv->cst;
    c->storage = storage;
    if (storage == MK_STORE_BLOB) c->blob_offset = v->blobfilevalue->offset;
    *out = cv;
    return MK_OK;
}

static const char *scalar_string(const PbValue *v)
{
    if (!v || v->value_case != CORE_ML__SPECIFICATION__MILSPEC__VALUE__VALUE_IMMEDIATE_VALUE)
        return NULL;
    const PbImmediate *im = v->immediatevalue;
    if (im->value_case != CORE_ML__SPECIFICATION__MILSPEC__VALUE__IMMEDIATE_VALUE__VALUE_TENSOR)
        return NULL;
    const PbTensorValue *tv = im->tensor;
    if (tv->value_case != CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__VALUE_STRINGS ||
        tv->strings->n_values != 1)
        return NULL;
    return tv->strings->values[0];
}

/* ---- blocks and ops ---- */

static mk_status read_block(rd *r, mk_function *f, mk_block *b, const PbBlock *pb, int top);

static mk_status define(rd *r, const char *name, const char *what)
{
    if (!name || !*name) return fail(r, MK_EINVAL, "%s has an empty name", what);
    if (mk_strmap_get(&r->vals, name))
        return fail(r, MK_EINVAL, "value name '%.200s' is defined twice", name);
    return MK_OK;
}

static mk_status bind_input(rd *r, mk_op *op, const PbOpInput *in)
{
    char what[300];
    const char *key = in->key ? in->key : "";
    snprintf(what, sizeof what, "input '%.200s'", key);
    if (!*key) return fail(r, MK_EINVAL, "an input has an empty parameter name");
    if (mk_ir_input(op, key)) return fail(r, MK_EINVAL, "%s is given twice", what);
    if (!in->value || in->value->n_arguments == 0)
        return fail(r, MK_EINVAL, "%s has no arguments", what);
    for (size_t j = 0; j < in->value->n_arguments; j++) {
        const PbBinding *bd = in->value->arguments[j];
        mk_value *v = NULL;
        if (bd->binding_case == CORE_ML__SPECIFICATION__MILSPEC__ARGUMENT__BINDING__BINDING_NAME) {
            v = mk_strmap_get(&r->vals, bd->name);
            if (!v)
                return fail(r, MK_EINVAL, "%s refers to undefined value '%.200s'", what, bd->name);
        } else if (bd->binding_case ==
                   CORE_ML__SPECIFICATION__MILSPEC__ARGUMENT__BINDING__BINDING_VALUE) {
            mk_status st = read_value(r, bd->value, what, &v);
            if (st) return st;
            v->is_inline = 1;
        } else {
            return fail(r, MK_EINVAL, "%s has an empty binding", what);
        }
        if (!mk_ir_op_add_input(r->p, op, key, v)) return oom(r);
    }
    return MK_OK;
}

static mk_status read_op(rd *r, mk_function *f, mk_block *b, const PbOp *po)
{
    mk_program *p = r->p;
    const char *name = NULL;
    for (size_t i = 0; i < po->n_attributes; i++)
        if (po->attributes[i]->key && strcmp(po->attributes[i]->key, "name") == 0)
            name = scalar_string(po->attributes[i]->value);
    r->op_name = name ? name : po->n_outputs && po->outputs[0]->name ? po->outputs[0]->name : "?";
    r->op_type = NULL;
    mk_op_kind kind = mk_ir_op_lookup(po->type ? po->type : "");
    if (kind == MK_OP__COUNT)
        return fail(r, MK_EUNSUPPORTED, "unknown op type '%.100s'", po->type ? po->type : "");
    r->op_type = po->type;
    if (name && !*name) name = NULL;
    mk_op *op = mk_ir_op_new(p, kind, name);
    if (!op) return oom(r);
    mk_status st;
    for (size_t i = 0; i < po->n_inputs; i++)
        if ((st = bind_input(r, op, po->inputs[i]))) return st;
    for (size_t i = 0; i < po->n_attributes; i++) {
        const PbOpAttr *a = po->attributes[i];
        const char *key = a->key ? a->key : "";
        if (strcmp(key, "name") == 0) continue;
        char what[300];
        snprintf(what, sizeof what, "attribute '%.200s'", key);
        if (!*key) return fail(r, MK_EINVAL, "an attribute has an empty name");
        if (mk_ir_attr(op, key)) return fail(r, MK_EINVAL, "%s is given twice", what);
        mk_value *v;
        if ((st = read_value(r, a->value, what, &v))) return st;
        if (!mk_ir_op_add_attr(p, op, key, v)) return oom(r);
    }
    const char *oname = r->op_name, *otype = r->op_type;
    for (size_t i = 0; i < po->n_blocks; i++) {
        mk_block *nb = mk_ir_block_new(p, f, op);
        if (!nb || !mk_ir_op_add_block(p, op, nb)) return oom(r);
        if ((st = read_block(r, f, nb, po->blocks[i], 0))) return st;
        r->op_name = oname;
        r->op_type = otype;
    }
    for (size_t i = 0; i < po->n_outputs; i++) {
        const PbNamedType *nt = po->outputs[i];
        char what[300];
        snprintf(what, sizeof what, "output '%.200s'", nt->name ? nt->name : "");
        mk_type t;
        if ((st = define(r, nt->name, what)) || (st = value_type(r, nt->type, &t, what))) return st;
        mk_value *v = mk_ir_op_add_output(p, op, nt->name, &t);
        if (!v || !mk_strmap_put(&r->vals, v->name, v)) return oom(r);
    }
    if (kind == MK_OP_CONST) {
        mk_value *val = mk_ir_attr(op, "val");
        if (!val) return fail(r, MK_EINVAL, "const without a 'val' attribute");
        if (op->n_outputs != 1) return fail(r, MK_EINVAL, "const must have exactly one output");
        if (!mk_type_equal(&op->outputs[0]->type, &val->type)) {
            char a[128], c[128];
            return fail(r, MK_EINVAL, "output type %s differs from its value's type %s",
                        mk_type_str(&op->outputs[0]->type, a, sizeof a),
                        mk_type_str(&val->type, c, sizeof c));
        }
        op->outputs[0]->cst = val->cst;
    }
    mk_ir_block_append(b, op);
    r->op_name = r->op_type = NULL;
    return MK_OK;
}

/* A name of the form base_N that no value has taken yet. */
static const char *fresh_name(rd *r, const char *base)
{
    for (unsigned long k = 1;; k++) {
        char *s = mk_arena_printf(r->p->arena, "%.200s_%lu", base, k);
        if (!s || !mk_strmap_get(&r->p->names, s)) return s;
    }
}

typedef struct shadow {
    const char *name;
    mk_value *prev;
} shadow;

static mk_status read_block(rd *r, mk_function *f, mk_block *b, const PbBlock *pb, int top)
{
    mk_status st;
    if (top && pb->n_inputs)
        return fail(r, MK_EINVAL, "function '%.100s': top-level block declares inputs", f->name);
    /* block inputs are scoped to their block (coremltools names a while_loop's cond and body
     * inputs alike): a name already taken elsewhere gets a fresh IR name, the file's name
     * refers to it inside this block and to what it meant before afterwards */
    shadow *sh = NULL;
    if (pb->n_inputs && !(sh = mk_arena_array(r->p->arena, pb->n_inputs, sizeof *sh)))
        return oom(r);
    size_t n_sh = 0;
    for (size_t i = 0; i < pb->n_inputs; i++) {
        const PbNamedType *nt = pb->inputs[i];
        mk_type t;
        if (!nt->name || !*nt->name) return fail(r, MK_EINVAL, "block input has an empty name");
        for (size_t j = 0; j < i; j++)
            if (strcmp(pb->inputs[j]->name, nt->name) == 0)
                return fail(r, MK_EINVAL, "block input '%.200s' is declared twice", nt->name);
        if ((st = value_type(r, nt->type, &t, "block input"))) return st;
        const char *nm = nt->name;
        if (mk_strmap_get(&r->p->names, nm)) {
            sh[n_sh].name = mk_arena_strdup(r->p->arena, nm);
            sh[n_sh].prev = mk_strmap_get(&r->vals, nm);
            if (!sh[n_sh++].name || !(nm = fresh_name(r, nm))) return oom(r);
        }
        mk_value *v = mk_ir_block_add_input(r->p, b, nm, &t);
        if (!v || !mk_strmap_put(&r->vals, nt->name, v)) return oom(r);
    }
    for (size_t i = 0; i < pb->n_operations; i++)
        if ((st = read_op(r, f, b, pb->operations[i]))) return st;
    mk_value **outs = NULL;
    if (pb->n_outputs) {
        outs = mk_arena_array(r->p->arena, pb->n_outputs, sizeof *outs);
        if (!outs) return oom(r);
    }
    if (pb->n_outputs > INT32_MAX) return fail(r, MK_EINVAL, "too many block outputs");
    for (size_t i = 0; i < pb->n_outputs; i++) {
        outs[i] = mk_strmap_get(&r->vals, pb->outputs[i]);
        if (!outs[i])
            return fail(r, MK_EINVAL, "function '%.100s': block output '%.200s' is not defined",
                        f->name, pb->outputs[i]);
    }
    if (!mk_ir_block_set_outputs(r->p, b, (int)pb->n_outputs, outs)) return oom(r);
    for (size_t i = n_sh; i-- > 0;)
        if (!mk_strmap_put(&r->vals, sh[i].name, sh[i].prev)) return oom(r);
    return MK_OK;
}

static mk_status read_function(rd *r, const PbFuncEntry *fe)
{
    mk_program *p = r->p;
    const PbFunction *pf = fe->value;
    const char *fname = fe->key ? fe->key : "";
    if (!*fname) return fail(r, MK_EINVAL, "a function has an empty name");
    if (!pf) return fail(r, MK_EINVAL, "function '%.100s' is empty", fname);
    for (int i = 0; i < p->n_functions; i++)
        if (strcmp(p->functions[i]->name, fname) == 0)
            return fail(r, MK_EINVAL, "function '%.100s' is defined twice", fname);
    if (!pf->opset || !*pf->opset)
        return fail(r, MK_EINVAL, "function '%.100s' has no opset", fname);
    const PbBlock *blk = NULL;
    for (size_t i = 0; i < pf->n_block_specializations; i++)
        if (pf->block_specializations[i]->key &&
            strcmp(pf->block_specializations[i]->key, pf->opset) == 0)
            blk = pf->block_specializations[i]->value;
    if (!blk)
        return fail(r, MK_EINVAL, "function '%.100s' has no block for its opset '%.40s'", fname,
                    pf->opset);
    mk_function *f = mk_ir_function_new(p, fname);
    if (!f || !(f->opset = mk_arena_strdup(p->arena, pf->opset))) return oom(r);
    mk_strmap_free(&r->vals); /* value names are scoped per function */
    mk_strmap_init(&r->vals, p->alloc);
    mk_status st;
    for (size_t i = 0; i < pf->n_inputs; i++) {
        const PbNamedType *nt = pf->inputs[i];
        char what[300];
        snprintf(what, sizeof what, "function '%.100s' input '%.100s'", fname,
                 nt->name ? nt->name : "");
        mk_type t;
        const PbValueType *vt = nt->type;
        int state =
            vt && vt->type_case == CORE_ML__SPECIFICATION__MILSPEC__VALUE_TYPE__TYPE_STATE_TYPE;
        if (state && !(vt = vt->statetype->wrappedtype))
            return fail(r, MK_EINVAL, "%s: a state type wraps no type", what);
        if ((st = define(r, nt->name, what)) || (st = value_type(r, vt, &t, what))) return st;
        mk_value *v = mk_ir_function_add_input(p, f, nt->name, &t);
        if (!v || !mk_strmap_put(&r->vals, v->name, v)) return oom(r);
        v->is_state = state;
    }
    return read_block(r, f, f->block, blk, 1);
}

/* ---- description and metadata ---- */

static mk_status read_feature(rd *r, const PbFeature *fd, mk_feature *out, const char *kind)
{
    const char *nm = fd->name ? fd->name : "";
    if (!*nm) return fail(r, MK_EINVAL, "an %s feature has no name", kind);
    const PbFeatureType *ft = fd->type;
    if (!ft) return fail(r, MK_EINVAL, "%s '%.100s' has no type", kind, nm);
    const char *what = NULL;
    /* a classifier's outputs (classify): the label (int64 or string) and its probabilities */
    int is_out = strcmp(kind, "output") == 0;
    mk_dtype prim = MK_DT_INVALID, key = MK_DT_INVALID;
    switch ((int)ft->type_case) {
    case CORE_ML__SPECIFICATION__FEATURE_TYPE__TYPE_MULTI_ARRAY_TYPE: break;
    case CORE_ML__SPECIFICATION__FEATURE_TYPE__TYPE_IMAGE_TYPE: what = "an image"; break;
    case CORE_ML__SPECIFICATION__FEATURE_TYPE__TYPE_INT64_TYPE:
        if (!is_out) what = "an int64";
        prim = MK_DT_INT64;
        break;
    case CORE_ML__SPECIFICATION__FEATURE_TYPE__TYPE_DOUBLE_TYPE: what = "a double"; break;
    case CORE_ML__SPECIFICATION__FEATURE_TYPE__TYPE_STRING_TYPE:
        if (!is_out) what = "a string";
        prim = MK_DT_STRING;
        break;
    case CORE_ML__SPECIFICATION__FEATURE_TYPE__TYPE_DICTIONARY_TYPE: {
        const CoreML__Specification__DictionaryFeatureType *dt = ft->dictionarytype;
        int kc = dt ? (int)dt->key_type_case : 0;
        key = kc == CORE_ML__SPECIFICATION__DICTIONARY_FEATURE_TYPE__KEY_TYPE_INT64_KEY_TYPE
                  ? MK_DT_INT64
              : kc == CORE_ML__SPECIFICATION__DICTIONARY_FEATURE_TYPE__KEY_TYPE_STRING_KEY_TYPE
                  ? MK_DT_STRING
                  : MK_DT_INVALID;
        if (!is_out || !key) what = "a dictionary";
        prim = MK_DT_FP64;
        break;
    }
    case CORE_ML__SPECIFICATION__FEATURE_TYPE__TYPE_SEQUENCE_TYPE: what = "a sequence"; break;
    case CORE_ML__SPECIFICATION__FEATURE_TYPE__TYPE_STATE_TYPE:
        if (strcmp(kind, "state") != 0) what = "a state";
        break;
    default: return fail(r, MK_EINVAL, "%s '%.100s' has no type", kind, nm);
    }
    if (what)
        return fail(r, MK_EUNSUPPORTED,
                    "%s '%.100s' is %s feature; milkit reads multi-array features only (and a "
                    "classifier's label and probability outputs)",
                    kind, nm, what);
    if (prim) {
        int bad = 0;
        memset(out, 0, sizeof *out);
        out->name = opt_str(r, nm, &bad);
        out->short_description = opt_str(r, fd->shortdescription, &bad);
        out->dtype = prim;
        out->dict_key = key;
        out->is_optional = ft->isoptional != 0;
        return bad ? oom(r) : MK_OK;
    }
    int is_state = ft->type_case == CORE_ML__SPECIFICATION__FEATURE_TYPE__TYPE_STATE_TYPE;
    if (!is_state && strcmp(kind, "state") == 0)
        return fail(r, MK_EINVAL, "state '%.100s' is not of state type", nm);
    const PbArrayType *at = is_state ? ft->statetype->arraytype : ft->multiarraytype;
    if (!at) return fail(r, MK_EINVAL, "%s '%.100s' wraps no array type", kind, nm);
    memset(out, 0, sizeof *out);
    int bad = 0;
    out->name = opt_str(r, nm, &bad);
    out->short_description = opt_str(r, fd->shortdescription, &bad);
    if (bad) return oom(r);
    switch ((int)at->datatype) {
    case CORE_ML__SPECIFICATION__ARRAY_FEATURE_TYPE__ARRAY_DATA_TYPE__FLOAT32:
        out->dtype = MK_DT_FP32;
        break;
    case CORE_ML__SPECIFICATION__ARRAY_FEATURE_TYPE__ARRAY_DATA_TYPE__FLOAT16:
        out->dtype = MK_DT_FP16;
        break;
    case CORE_ML__SPECIFICATION__ARRAY_FEATURE_TYPE__ARRAY_DATA_TYPE__INT32:
        out->dtype = MK_DT_INT32;
        break;
    case CORE_ML__SPECIFICATION__ARRAY_FEATURE_TYPE__ARRAY_DATA_TYPE__INT8:
        out->dtype = MK_DT_INT8;
        break;
    case CORE_ML__SPECIFICATION__ARRAY_FEATURE_TYPE__ARRAY_DATA_TYPE__DOUBLE:
        out->dtype = MK_DT_FP64;
        break;
    default:
        return fail(r, MK_EUNSUPPORTED, "%s '%.100s' has unknown array data type %d", kind, nm,
                    (int)at->datatype);
    }
    if (at->n_shape > MK_MAX_RANK)
        return fail(r, MK_EUNSUPPORTED, "%s '%.100s' has rank %zu (max %d)", kind, nm, at->n_shape,
                    MK_MAX_RANK);
    out->rank = (int)at->n_shape;
    for (int i = 0; i < out->rank; i++) {
        if (at->shape[i] < 0)
            return fail(r, MK_EINVAL, "%s '%.100s' has a negative dimension", kind, nm);
        out->shape[i] = at->shape[i];
    }
    if (at->shape_flexibility_case ==
        CORE_ML__SPECIFICATION__ARRAY_FEATURE_TYPE__SHAPE_FLEXIBILITY_SHAPE_RANGE) {
        const PbShapeRange *sr = at->shaperange;
        if (sr->n_sizeranges != (size_t)out->rank)
            return fail(r, MK_EINVAL, "%s '%.100s': %zu size ranges for rank %d", kind, nm,
                        sr->n_sizeranges, out->rank);
        out->flex = MK_FLEX_RANGE;
        for (int i = 0; i < out->rank; i++) {
            const PbSizeRange *s = sr->sizeranges[i];
            if (s->lowerbound > (uint64_t)INT64_MAX ||
                (s->upperbound >= 0 && (uint64_t)s->upperbound < s->lowerbound))
                return fail(r, MK_EINVAL, "%s '%.100s': bad size range for dimension %d", kind, nm,
                            i);
            out->range_lo[i] = (int64_t)s->lowerbound;
            out->range_hi[i] = s->upperbound < 0 ? -1 : s->upperbound;
        }
    } else if (at->shape_flexibility_case ==
               CORE_ML__SPECIFICATION__ARRAY_FEATURE_TYPE__SHAPE_FLEXIBILITY_ENUMERATED_SHAPES) {
        const PbEnumShapes *es = at->enumeratedshapes;
        if (es->n_shapes == 0 || es->n_shapes > INT32_MAX)
            return fail(r, MK_EINVAL, "%s '%.100s': bad enumerated shapes", kind, nm);
        out->flex = MK_FLEX_ENUMERATED;
        out->enumerated = mk_arena_array(r->p->arena, es->n_shapes, sizeof *out->enumerated);
        if (!out->enumerated) return oom(r);
        out->n_enumerated = (int)es->n_shapes;
        for (size_t k = 0; k < es->n_shapes; k++) {
            if (es->shapes[k]->n_shape != (size_t)out->rank)
                return fail(r, MK_EINVAL, "%s '%.100s': enumerated shape %zu has the wrong rank",
                            kind, nm, k);
            for (int i = 0; i < out->rank; i++) {
                if (es->shapes[k]->shape[i] < 0)
                    return fail(r, MK_EINVAL, "%s '%.100s' has a negative dimension", kind, nm);
                out->enumerated[k][i] = es->shapes[k]->shape[i];
            }
        }
    }
    out->is_optional = ft->isoptional != 0;
    return MK_OK;
}

static mk_status read_features(rd *r, PbFeature *const *fs, size_t n, mk_feature **out, int *nout,
                               const char *kind)
{
    if (n > 65536) return fail(r, MK_EUNSUPPORTED, "too many %s features", kind);
    *out = NULL;
    *nout = 0;
    if (!n) return MK_OK;
    mk_feature *a = mk_arena_array(r->p->arena, n, sizeof *a);
    if (!a) return oom(r);
    for (size_t i = 0; i < n; i++) {
        mk_status st = read_feature(r, fs[i], &a[i], kind);
        if (st) return st;
    }
    *out = a;
    *nout = (int)n;
    return MK_OK;
}

static mk_status read_description(rd *r, const PbDesc *d)
{
    mk_program *p = r->p;
    if (!d) return MK_OK;
    mk_status st;
    if (d->n_functions) {
        if (d->n_functions > 1024)
            return fail(r, MK_EUNSUPPORTED, "too many function descriptions");
        if (!d->defaultfunctionname || !mk_ir_function_find(p, d->defaultfunctionname))
            return fail(r, MK_EINVAL, "default function '%.100s' is not a function of the program",
                        d->defaultfunctionname ? d->defaultfunctionname : "");
        p->fdescs = mk_arena_array(p->arena, d->n_functions, sizeof *p->fdescs);
        if (!p->fdescs ||
            !(p->default_function = mk_arena_strdup(p->arena, d->defaultfunctionname)))
            return oom(r);
        for (size_t i = 0; i < d->n_functions; i++) {
            const CoreML__Specification__FunctionDescription *fd = d->functions[i];
            mk_fdesc *o = &p->fdescs[i];
            if (!fd->name || !mk_ir_function_find(p, fd->name))
                return fail(r, MK_EINVAL,
                            "description of function '%.100s', which the program lacks",
                            fd->name ? fd->name : "");
            if (!(o->name = mk_arena_strdup(p->arena, fd->name))) return oom(r);
            if ((st =
                     read_features(r, fd->input, fd->n_input, &o->inputs, &o->n_inputs, "input")) ||
                (st = read_features(r, fd->output, fd->n_output, &o->outputs, &o->n_outputs,
                                    "output")) ||
                (st = read_features(r, fd->state, fd->n_state, &o->states, &o->n_states, "state")))
                return st;
            p->n_fdescs = (int)i + 1;
            if (strcmp(o->name, p->default_function) == 0) {
                p->inputs = o->inputs, p->n_inputs = o->n_inputs;
                p->outputs = o->outputs, p->n_outputs = o->n_outputs;
                p->states = o->states, p->n_states = o->n_states;
            }
        }
    } else if ((st = read_features(r, d->input, d->n_input, &p->inputs, &p->n_inputs, "input")) ||
               (st = read_features(r, d->output, d->n_output, &p->outputs, &p->n_outputs,
                                   "output")) ||
               (st = read_features(r, d->state, d->n_state, &p->states, &p->n_states, "state"))) {
        return st;
    }
    int bad_name = 0;
    p->predicted_feature = opt_str(r, d->predictedfeaturename, &bad_name);
    p->predicted_probs = opt_str(r, d->predictedprobabilitiesname, &bad_name);
    if (bad_name) return oom(r);
    const PbMeta *m = d->metadata;
    if (!m) return MK_OK;
    int bad = 0;
    p->short_description = opt_str(r, m->shortdescription, &bad);
    p->version_string = opt_str(r, m->versionstring, &bad);
    p->author = opt_str(r, m->author, &bad);
    p->license = opt_str(r, m->license, &bad);
    if (m->n_userdefined > 65536) return fail(r, MK_EUNSUPPORTED, "too much user metadata");
    if (m->n_userdefined) {
        p->user_meta = mk_arena_array(p->arena, m->n_userdefined, sizeof *p->user_meta);
        if (!p->user_meta) return oom(r);
        for (size_t i = 0; i < m->n_userdefined; i++) {
            p->user_meta[i].key = mk_arena_strdup(p->arena, m->userdefined[i]->key);
            p->user_meta[i].value = mk_arena_strdup(p->arena, m->userdefined[i]->value);
            if (!p->user_meta[i].key || !p->user_meta[i].value) bad = 1;
        }
        p->n_user_meta = (int)m->n_userdefined;
    }
    return bad ? oom(r) : MK_OK;
}

static mk_status read_build_info(rd *r, const PbValue *v)
{
    mk_program *p = r->p;
    if (!v || v->value_case != CORE_ML__SPECIFICATION__MILSPEC__VALUE__VALUE_IMMEDIATE_VALUE ||
        v->immediatevalue->value_case !=
            CORE_ML__SPECIFICATION__MILSPEC__VALUE__IMMEDIATE_VALUE__VALUE_DICTIONARY)
        return fail(r, MK_EINVAL, "program attribute buildInfo is not a dictionary");
    const PbDictValue *dv = v->immediatevalue->dictionary;
    if (dv->n_values > 65536) return fail(r, MK_EUNSUPPORTED, "buildInfo is too large");
    if (!dv->n_values) return MK_OK;
    p->build_info = mk_arena_array(p->arena, dv->n_values, sizeof *p->build_info);
    if (!p->build_info) return oom(r);
    for (size_t i = 0; i < dv->n_values; i++) {
        const char *k = scalar_string(dv->values[i]->key);
        const char *s = scalar_string(dv->values[i]->value);
        if (!k || !s) return fail(r, MK_EINVAL, "buildInfo entry %zu is not a string pair", i);
        p->build_info[i].key = mk_arena_strdup(p->arena, k);
        p->build_info[i].value = mk_arena_strdup(p->arena, s);
        if (!p->build_info[i].key || !p->build_info[i].value) return oom(r);
    }
    p->n_build_info = (int)dv->n_values;
    return MK_OK;
}

static const char *model_kind(CoreML__Specification__Model__TypeCase c)
{
    switch ((int)c) {
    case CORE_ML__SPECIFICATION__MODEL__TYPE_NEURAL_NETWORK: return "NeuralNetwork";
    case CORE_ML__SPECIFICATION__MODEL__TYPE_NEURAL_NETWORK_CLASSIFIER:
        return "NeuralNetworkClassifier";
    case CORE_ML__SPECIFICATION__MODEL__TYPE_NEURAL_NETWORK_REGRESSOR:
        return "NeuralNetworkRegressor";
    case CORE_ML__SPECIFICATION__MODEL__TYPE_PIPELINE: return "Pipeline";
    case CORE_ML__SPECIFICATION__MODEL__TYPE_PIPELINE_CLASSIFIER: return "PipelineClassifier";
    case CORE_ML__SPECIFICATION__MODEL__TYPE_PIPELINE_REGRESSOR: return "PipelineRegressor";
    case CORE_ML__SPECIFICATION__MODEL__TYPE_CUSTOM_MODEL: return "CustomModel";
    case CORE_ML__SPECIFICATION__MODEL__TYPE_LINKED_MODEL: return "LinkedModel";
    case CORE_ML__SPECIFICATION__MODEL__TYPE_SERIALIZED_MODEL: return "SerializedModel";
    default: return NULL;
    }
}

static mk_status read_model(rd *r, const PbModel *m)
{
    mk_program *p = r->p;
    const PbProgram *pg = m->mlprogram;
    mk_status st;
    if (pg->version != 1)
        return fail(r, MK_EUNSUPPORTED, "ML Program version %lld, expected 1",
                    (long long)pg->version);
    if (!pg->n_functions) return fail(r, MK_EINVAL, "the ML Program has no functions");
    if (pg->n_functions > 1024) return fail(r, MK_EUNSUPPORTED, "too many functions");
    for (size_t i = 0; i < pg->n_functions; i++)
        if ((st = read_function(r, pg->functions[i]))) return st;
    for (size_t i = 0; i < pg->n_attributes; i++)
        if (pg->attributes[i]->key && strcmp(pg->attributes[i]->key, "buildInfo") == 0 &&
            (st = read_build_info(r, pg->attributes[i]->value)))
            return st;
    p->is_updatable = m->isupdatable != 0;
    return read_description(r, m->description);
}

static mk_status load_spec(const unsigned char *buf, size_t n, const char *label, const char *wdir,
                           const unsigned char *wmem, size_t wn, const mk_allocator *alloc,
                           mk_program **out, mk_err *e)
{
    static const uint8_t empty[1];
    *out = NULL;
    if (!buf) buf = empty;
    if (!mk_ml_depth_ok(&core_ml__specification__model__descriptor, buf, n, MK_ML_MAX_DEPTH))
        return mk_err_set(e, MK_EINVAL, "%s: messages nested deeper than %d levels", label,
                          MK_ML_MAX_DEPTH);
    mk_ml_pballoc pa;
    mk_ml_pballoc_init(&pa, alloc);
    PbModel *m = core_ml__specification__model__unpack(&pa.pb, n, buf);
    if (!m) {
        if (pa.oom) return mk_err_set(e, MK_ENOMEM, "%s: out of memory", label);
        return mk_err_set(e, MK_EINVAL,
                          "%s: not a Core ML model: cannot parse the protobuf (truncated or "
                          "corrupt)",
                          label);
    }
    mk_status st = MK_OK;
    const char *kind = model_kind(m->type_case);
    if (kind) {
        st = mk_err_set(e, MK_EUNSUPPORTED,
                        "%s: a %s model, not an ML Program; milkit reads ML Programs only", label,
                        kind);
    } else if (m->type_case != CORE_ML__SPECIFICATION__MODEL__TYPE_ML_PROGRAM) {
        st = mk_err_set(e, MK_EINVAL,
                        "%s: not an ML Program (no known model type; empty, truncated or "
                        "unsupported file)",
                        label);
    } else if (m->specificationversion < 6 || m->specificationversion > 9) {
        st = mk_err_set(e, MK_EUNSUPPORTED,
                        "%s: specification version %d; milkit reads ML Programs of versions 6..9 "
                        "(iOS15..iOS18)",
                        label, (int)m->specificationversion);
    }
    if (st) {
        core_ml__specification__model__free_unpacked(m, &pa.pb);
        return st;
    }
    mk_program *p = mk_ir_program_new(alloc, m->specificationversion);
    if (!p) {
        core_ml__specification__model__free_unpacked(m, &pa.pb);
        return mk_err_set(e, MK_ENOMEM, "%s: out of memory", label);
    }
    rd r;
    memset(&r, 0, sizeof r);
    r.p = p;
    r.e = e;
    r.label = label;
    r.wdir = wdir;
    r.wmem = wmem;
    r.wmem_n = wn;
    mk_strmap_init(&r.vals, p->alloc);
    st = read_model(&r, m);
    mk_strmap_free(&r.vals);
    core_ml__specification__model__free_unpacked(m, &pa.pb);
    if (st) {
        mk_ir_program_free(p);
        return st;
    }
    *out = p;
    return MK_OK;
}

mk_status mk_ml_load_mem(const void *spec, size_t n, const char *label, const void *weights,
                         size_t wn, const mk_allocator *alloc, mk_program **out, mk_err *e)
{
    return load_spec(spec, n, label ? label : "model.mlmodel", NULL, weights, wn, alloc, out, e);
}

/* ---- package layout ---- */

static int rel_path_ok(const char *s)
{
    if (!s || !*s || *s == '/') return 0;
    for (const char *c = s; *c;) {
        const char *end = strchr(c, '/');
        size_t len = end ? (size_t)(end - c) : strlen(c);
        if (len == 2 && c[0] == '.' && c[1] == '.') return 0;
        c += len + (end ? 1 : 0);
    }
    return 1;
}

static const char *json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int version_ok(const char *s)
{
    int a, b, c, n = 0;
    if (!s || sscanf(s, "%d.%d.%d%n", &a, &b, &c, &n) != 3 || s[n] != 0) return 0;
    return a >= 0 && b >= 0 && c >= 0 && a <= 1;
}

static mk_status read_manifest(const char *pkg, char *spec, char *wdir, mk_err *e)
{
    char mpath[PATH_N];
    if (snprintf(mpath, sizeof mpath, "%s/Manifest.json", pkg) >= (int)sizeof mpath)
        return mk_err_set(e, MK_EINVAL, "%s: path too long", pkg);
    if (!mk_path_exists(mpath))
        return mk_err_set(e, MK_EINVAL, "%s: not an .mlpackage: Manifest.json is missing", pkg);
    mk_mapped mm;
    mk_status st = mk_file_map(mpath, &mm, e);
    if (st) return st;
    cJSON *j = mm.data ? cJSON_ParseWithLength((const char *)mm.data, mm.size) : NULL;
    mk_file_unmap(&mm);
    if (!j) return mk_err_set(e, MK_EINVAL, "%s: not valid JSON", mpath);
    const char *root = json_str(j, "rootModelIdentifier");
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(j, "itemInfoEntries");
    const cJSON *item =
        root && cJSON_IsObject(items) ? cJSON_GetObjectItemCaseSensitive(items, root) : NULL;
    const char *rel = item ? json_str(item, "path") : NULL;
    if (!version_ok(json_str(j, "fileFormatVersion"))) {
        st = mk_err_set(e, MK_EUNSUPPORTED, "%s: missing or unsupported fileFormatVersion", mpath);
    } else if (!root || !cJSON_IsObject(items)) {
        st = mk_err_set(e, MK_EINVAL, "%s: no rootModelIdentifier or itemInfoEntries", mpath);
    } else if (!cJSON_IsObject(item)) {
        st = mk_err_set(e, MK_EINVAL, "%s: root model item '%.100s' is not listed", mpath, root);
    } else if (!rel_path_ok(rel)) {
        st = mk_err_set(e, MK_EINVAL, "%s: root model item has a bad path", mpath);
    } else if (snprintf(spec, PATH_N, "%s/Data/%s", pkg, rel) >= PATH_N) {
        st = mk_err_set(e, MK_EINVAL, "%s: path too long", pkg);
    }
    if (st) {
        cJSON_Delete(j);
        return st;
    }
    /* the weights directory is found by name and author, as Core ML does */
    wdir[0] = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, items)
    {
        const char *nm = json_str(it, "name"), *au = json_str(it, "author");
        const char *wp = json_str(it, "path");
        if (nm && au && !strcmp(nm, "weights") && !strcmp(au, "com.apple.CoreML") &&
            rel_path_ok(wp) && snprintf(wdir, PATH_N, "%s/Data/%s", pkg, wp) < PATH_N)
            break;
        wdir[0] = 0;
    }
    cJSON_Delete(j);
    if (!wdir[0]) {
        const char *slash = strrchr(spec, '/');
        snprintf(wdir, PATH_N, "%.*s/weights", (int)(slash - spec), spec);
    }
    return MK_OK;
}

mk_status mk_program_load(const char *path, const mk_allocator *alloc, mk_program **out,
                          mk_err *err)
{
    mk_err local = {MK_OK, {0}};
    mk_err *e = err ? err : &local;
    char spec[PATH_N], wdir[PATH_N];
    *out = NULL;
    if (!path || !*path) return mk_err_set(e, MK_EINVAL, "no model path given");
    if (!mk_path_exists(path)) return mk_err_set(e, MK_EIO, "%s: no such file or directory", path);
    mk_status st;
    if (mk_path_is_dir(path)) {
        if ((st = read_manifest(path, spec, wdir, e))) return st;
    } else {
        size_t len = strlen(path);
        if (len >= 10 && strcmp(path + len - 10, ".mlpackage") == 0)
            return mk_err_set(e, MK_EINVAL, "%s: is a file, but an .mlpackage must be a directory",
                              path);
        if (len >= PATH_N) return mk_err_set(e, MK_EINVAL, "%s: path too long", path);
        memcpy(spec, path, len + 1);
        const char *slash = strrchr(path, '/');
        if (slash)
            snprintf(wdir, sizeof wdir, "%.*s/weights", (int)(slash - path), path);
        else
            snprintf(wdir, sizeof wdir, "weights");
    }
    mk_mapped sm;
    if ((st = mk_file_map(spec, &sm, e))) return st;
    st = load_spec(sm.data, sm.size, spec, wdir, NULL, 0, alloc, out, e);
    mk_file_unmap(&sm);
    return st;
}
