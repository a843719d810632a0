/* Core ML writer: IR -> X.mlpackage (Manifest.json, Data/com.apple.CoreML/model.mlmodel,
 * weights/ and weights/weight.bin in blob storage v2). Deterministic (same program, same
 * bytes) and atomic (built in a temp sibling dir, renamed into place). Checks what a target
 * can express (op opsets, fp16 I/O) but does not verify MIL semantics (mk_ir_verify does). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coreml_int.h"

#define PATH_N 4096

typedef struct blob {
    const unsigned char *data;
    size_t nbytes;
    unsigned code;
    unsigned pad_bits;
    uint64_t hash;
    uint64_t id; /* content-derived, for the Manifest's identifiers (hash may be an address) */
    uint64_t meta_off;
} blob;

/* pointer -> blob index, and content hash -> blob index; open addressing, sized once */
typedef struct slot {
    const void *key;
    uint64_t hash;
    long idx; /* -1 empty */
} slot;

typedef struct wr {
    mk_program *p;
    mk_err *e;
    const char *label; /* output path, for messages */
    mk_arena *ar;      /* scratch: protobuf structs */
    int spec;
    blob *blobs;
    long n_blobs, cap_blobs;
    slot *by_ptr, *by_hash;
    size_t n_slots;
    uint64_t end; /* weight.bin size so far */
} wr;

static mk_status oom(wr *w)
{
    return mk_err_set(w->e, MK_ENOMEM, "%s: out of memory", w->label);
}

/* After a builder returned NULL: the error it recorded, else out of memory. */
static mk_status nullfail(wr *w)
{
    return w->e->code ? w->e->code : oom(w);
}

static const char *op_label(const mk_op *op)
{
    if (op->name) return op->name;
    return op->n_outputs && op->outputs[0]->name ? op->outputs[0]->name : "?";
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 1099511628211ull;
    return h;
}

/* Content hash for blob deduplication: four independent 64-bit lanes over 32-byte strides
 * (the payloads are large; a byte-wise hash dominated save time), FNV for the tail. */
static uint64_t hash_payload(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    uint64_t lane[4] = {h, h ^ 0x9E3779B97F4A7C15ull, h + 0xC2B2AE3D27D4EB4Full,
                        h - 0x165667B19E3779F9ull};
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++) {
            uint64_t v;
            memcpy(&v, c + i + 8 * k, 8);
            lane[k] = (lane[k] ^ v) * 0x100000001B3ull;
            lane[k] ^= lane[k] >> 29;
        }
    uint64_t r = fnv(h, lane, sizeof lane);
    return fnv(r, c + i, n - i);
}

#define FNV0 1469598103934665603ull
#define DEDUP_BY_CONTENT_MAX ((size_t)1 << 20)

/* A cheap content fingerprint of a large payload: 64 evenly spaced 64-byte windows plus the
 * tail, so package identifiers do not depend on where the payload sits in memory. */
static uint64_t sample_payload(uint64_t h, const unsigned char *c, size_t n)
{
    enum { WIN = 64, NWIN = 64 };
    for (size_t k = 0; k < NWIN; k++) h = fnv(h, c + (n - WIN) / (NWIN - 1) * k, WIN);
    return fnv(h, c + n - WIN, WIN);
}

/* ---- walking every constant the writer may place in weight.bin ---- */

/* Parameter order coremltools uses for constexpr ops: blobs are laid out in this order. */
static int param_rank(mk_op_kind k, const char *name)
{
    static const char *const affine[] = {"quantized_data", "zero_point", "scale", "axis", NULL};
    static const char *const shift[] = {"data", "scale", "offset", NULL};
    static const char *const lut[] = {"indices", "lut", "shape", NULL};
    static const char *const cast[] = {"source_val", "output_dtype", NULL};
    static const char *const sparse[] = {"nonzero_data", "mask", "shape", NULL};
    static const char *const lsp[] = {"indices_mask", "indices_nonzero_data", "lut", NULL};
    static const char *const ssh[] = {"data_mask", "nonzero_data", "scale", "offset", NULL};
    const char *const *order = k == MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE              ? affine
                               : k == MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE        ? shift
                               : k == MK_OP_CONSTEXPR_LUT_TO_DENSE                 ? lut
                               : k == MK_OP_CONSTEXPR_CAST                         ? cast
                               : k == MK_OP_CONSTEXPR_SPARSE_TO_DENSE              ? sparse
                               : k == MK_OP_CONSTEXPR_LUT_TO_SPARSE                ? lsp
                               : k == MK_OP_CONSTEXPR_SPARSE_BLOCKWISE_SHIFT_SCALE ? ssh
                                                                                   : NULL;
    if (!order) return 0;
    for (int i = 0; order[i]; i++)
        if (strcmp(order[i], name) == 0) return i;
    return 100;
}

typedef mk_status (*const_fn)(wr *w, const mk_op *op, const mk_value *v);

static mk_status each_const(wr *w, const mk_block *b, const_fn fn)
{
    mk_status st;
    MK_FOR_OPS(b, op)
    {
        /* attributes and by-value inputs, constexpr parameters in their canonical order */
        for (int rank = 0; rank <= 100; rank++) {
            int more = 0;
            for (int i = 0; i < op->n_attrs; i++) {
                int r = param_rank(op->kind, op->attrs[i].name);
                if (r == rank && (st = fn(w, op, op->attrs[i].value))) return st;
                more |= r > rank;
            }
            for (int i = 0; i < op->n_inputs; i++) {
                int r = param_rank(op->kind, op->inputs[i].name);
                for (int j = 0; j < op->inputs[i].n_args; j++) {
                    const mk_value *v = op->inputs[i].args[j];
                    int by_value = v->is_inline || (!v->producer && v->cst && !v->name);
                    if (r == rank && by_value && (st = fn(w, op, v))) return st;
                }
                more |= r > rank;
            }
            if (!more) break;
        }
        for (int i = 0; i < op->n_blocks; i++)
            if ((st = each_const(w, op->blocks[i], fn))) return st;
    }
    return MK_OK;
}

static mk_status each_const_program(wr *w, const_fn fn)
{
    for (int i = 0; i < w->p->n_functions; i++) {
        mk_status st = each_const(w, w->p->functions[i]->block, fn);
        if (st) return st;
    }
    return MK_OK;
}

static int in_blob(const wr *w, const mk_value *v)
{
    return mk_ir_const_in_blob(w->spec, &v->type, v->cst);
}

static mk_status check_const(wr *w, const mk_op *op, const mk_value *v)
{
    size_t nb;
    char ts[128];
    if (!v->cst)
        return mk_err_set(w->e, MK_EINVAL, "%s: op '%s': a by-value binding has no constant",
                          w->label, op_label(op));
    if (!mk_type_is_static(&v->type) || !mk_type_nbytes(&v->type, &nb))
        return mk_err_set(w->e, MK_EINVAL, "%s: op '%s': constant of non-static type %s", w->label,
                          op_label(op), mk_type_str(&v->type, ts, sizeof ts));
    if (nb != v->cst->nbytes || (nb && !v->cst->data))
        return mk_err_set(w->e, MK_EINVAL,
                          "%s: op '%s': constant holds %zu bytes, but %s needs %zu", w->label,
                          op_label(op), v->cst->nbytes, mk_type_str(&v->type, ts, sizeof ts), nb);
    if (in_blob(w, v) && !mk_ml_blob_code(v->type.dtype))
        return mk_err_set(w->e, MK_EINVAL, "%s: op '%s': a %s constant cannot go to weight.bin",
                          w->label, op_label(op), mk_dtype_name(v->type.dtype));
    if (in_blob(w, v)) w->cap_blobs++;
    return MK_OK;
}

static slot *find_slot(slot *tab, size_t n, const void *key, uint64_t hash)
{
    size_t i = (size_t)(key ? (uint64_t)(uintptr_t)key * 0x9E3779B97F4A7C15ull : hash) & (n - 1);
    for (;; i = (i + 1) & (n - 1)) {
        if (tab[i].idx < 0) return &tab[i];
        if (key ? tab[i].key == key : tab[i].hash == hash) return &tab[i];
    }
}

static mk_status assign_blob(wr *w, const mk_op *op, const mk_value *v)
{
    (void)op;
    if (!in_blob(w, v)) return MK_OK;
    slot *ps = find_slot(w->by_ptr, w->n_slots, v->cst, 0);
    if (ps->idx >= 0) return MK_OK;
    blob b;
    memset(&b, 0, sizeof b);
    b.data = v->cst->data;
    b.nbytes = v->cst->nbytes;
    b.code = mk_ml_blob_code(v->type.dtype);
    int bits = mk_dtype_bits(v->type.dtype);
    size_t n = 0;
    mk_type_numel(&v->type, &n);
    if (bits < 8) {
        unsigned tail = (unsigned)((n % 8) * (size_t)bits % 8);
        b.pad_bits = tail ? 8 - tail : 0;
    }
    uint64_t h = fnv(FNV0, &b.code, sizeof b.code);
    h = fnv(h, &b.nbytes, sizeof b.nbytes);
    /* Identical payloads share one blob. Small ones are compared by content; large ones only
     * by address (tied weights share their payload), since hashing every weight byte costs a
     * whole extra pass over the weights. */
    if (b.nbytes <= DEDUP_BY_CONTENT_MAX) {
        b.hash = b.id = hash_payload(h, b.data, b.nbytes);
    } else {
        b.id = sample_payload(h, b.data, b.nbytes);
        uintptr_t addr = (uintptr_t)b.data;
        b.hash = fnv(h ^ 0x5bd1e995u, &addr, sizeof addr);
    }
    size_t i = (size_t)b.hash & (w->n_slots - 1);
    for (;; i = (i + 1) & (w->n_slots - 1)) {
        slot *s = &w->by_hash[i];
        if (s->idx < 0) break;
        const blob *o = &w->blobs[s->idx];
        if (s->hash == b.hash && o->code == b.code && o->nbytes == b.nbytes &&
            o->pad_bits == b.pad_bits &&
            (o->data == b.data ||
             (b.nbytes <= DEDUP_BY_CONTENT_MAX && memcmp(o->data, b.data, b.nbytes) == 0))) {
            ps->key = v->cst;
            ps->idx = s->idx;
            return MK_OK;
        }
    }
    uint64_t meta = (w->end + MK_BLOB_ALIGN - 1) / MK_BLOB_ALIGN * MK_BLOB_ALIGN, end;
    if (meta < w->end || meta > UINT64_MAX - MK_BLOB_META - b.nbytes)
        return mk_err_set(w->e, MK_EINVAL, "%s: weights too large", w->label);
    end = meta + MK_BLOB_META + b.nbytes;
    b.meta_off = meta;
    w->end = end;
    w->blobs[w->n_blobs] = b;
    w->by_hash[i].hash = b.hash;
    w->by_hash[i].idx = w->n_blobs;
    ps->key = v->cst;
    ps->idx = w->n_blobs++;
    return MK_OK;
}

static const blob *blob_of(const wr *w, const mk_value *v)
{
    slot *s = find_slot(w->by_ptr, w->n_slots, v->cst, 0);
    return s->idx >= 0 ? &w->blobs[s->idx] : NULL;
}

static mk_status layout_blobs(wr *w)
{
    mk_status st = each_const_program(w, check_const);
    if (st) return st;
    size_t n = 16;
    while (n < (size_t)w->cap_blobs * 2 + 16) n *= 2;
    w->n_slots = n;
    w->blobs = mk_arena_array(w->ar, (size_t)w->cap_blobs + 1, sizeof *w->blobs);
    w->by_ptr = mk_arena_array(w->ar, n, sizeof *w->by_ptr);
    w->by_hash = mk_arena_array(w->ar, n, sizeof *w->by_hash);
    if (!w->blobs || !w->by_ptr || !w->by_hash) return oom(w);
    for (size_t i = 0; i < n; i++) w->by_ptr[i].idx = w->by_hash[i].idx = -1;
    w->end = MK_BLOB_HEADER;
    return each_const_program(w, assign_blob);
}

/* ---- protobuf construction (all in the scratch arena) ---- */

#define NEW(w, T, INIT) new_msg(w, sizeof(T), &(T)INIT)
static void *new_msg(wr *w, size_t n, const void *init)
{
    void *m = mk_arena_alloc(w->ar, n);
    if (m) memcpy(m, init, n);
    return m;
}

static void **ptrs(wr *w, size_t n)
{
    return mk_arena_array(w->ar, n ? n : 1, sizeof(void *));
}

static char *str(const char *s)
{
    return s ? (char *)s : (char *)protobuf_c_empty_string;
}

static PbValueType *tensor_vt(wr *w, const mk_type *t, const int *unknown_dims);

/* MIL ListType for a list value (mk_type.is_list: length, then the element shape). */
static PbValueType *list_vt(wr *w, const mk_type *t)
{
    mk_type el = *t;
    el.is_list = 0;
    el.rank = t->rank - 1;
    memmove(el.dims, t->dims + 1, (size_t)el.rank * sizeof *el.dims);
    CoreML__Specification__MILSpec__ListType *lt =
        NEW(w, CoreML__Specification__MILSpec__ListType,
            CORE_ML__SPECIFICATION__MILSPEC__LIST_TYPE__INIT);
    PbValueType *vt = NEW(w, PbValueType, CORE_ML__SPECIFICATION__MILSPEC__VALUE_TYPE__INIT);
    PbDim *d = NEW(w, PbDim, CORE_ML__SPECIFICATION__MILSPEC__DIMENSION__INIT);
    if (!lt || !vt || !d || !(lt->type = tensor_vt(w, &el, NULL))) return NULL;
    if (t->dims[0] < 0) {
        PbDimUnknown *u = NEW(w, PbDimUnknown,
                              CORE_ML__SPECIFICATION__MILSPEC__DIMENSION__UNKNOWN_DIMENSION__INIT);
        if (!u) return NULL;
        d->dimension_case = CORE_ML__SPECIFICATION__MILSPEC__DIMENSION__DIMENSION_UNKNOWN;
        d->unknown = u;
    } else {
        PbDimConst *c = NEW(w, PbDimConst,
                            CORE_ML__SPECIFICATION__MILSPEC__DIMENSION__CONSTANT_DIMENSION__INIT);
        if (!c) return NULL;
        c->size = (uint64_t)t->dims[0];
        d->dimension_case = CORE_ML__SPECIFICATION__MILSPEC__DIMENSION__DIMENSION_CONSTANT;
        d->constant = c;
    }
    lt->length = d;
    vt->type_case = CORE_ML__SPECIFICATION__MILSPEC__VALUE_TYPE__TYPE_LIST_TYPE;
    vt->listtype = lt;
    return vt;
}

/* MIL DictionaryType of scalar keys and values (classify's probabilities). */
static PbValueType *dict_vt(wr *w, const mk_type *t)
{
    mk_type k = mk_type_scalar(t->dict_key), v = mk_type_scalar(t->dtype);
    PbDictType *dt = NEW(w, PbDictType, CORE_ML__SPECIFICATION__MILSPEC__DICTIONARY_TYPE__INIT);
    PbValueType *vt = NEW(w, PbValueType, CORE_ML__SPECIFICATION__MILSPEC__VALUE_TYPE__INIT);
    if (!dt || !vt || !(dt->keytype = tensor_vt(w, &k, NULL)) ||
        !(dt->valuetype = tensor_vt(w, &v, NULL)))
        return NULL;
    vt->type_case = CORE_ML__SPECIFICATION__MILSPEC__VALUE_TYPE__TYPE_DICTIONARY_TYPE;
    vt->dictionarytype = dt;
    return vt;
}

static PbValueType *tensor_vt(wr *w, const mk_type *t, const int *unknown_dims)
{
    if (t->dict_key) return dict_vt(w, t);
    if (t->is_list && t->rank >= 1) return list_vt(w, t);
    PbTensorType *tt = NEW(w, PbTensorType, CORE_ML__SPECIFICATION__MILSPEC__TENSOR_TYPE__INIT);
    PbValueType *vt = NEW(w, PbValueType, CORE_ML__SPECIFICATION__MILSPEC__VALUE_TYPE__INIT);
    if (!tt || !vt) return NULL;
    tt->datatype = (CoreML__Specification__MILSpec__DataType)t->dtype;
    vt->type_case = CORE_ML__SPECIFICATION__MILSPEC__VALUE_TYPE__TYPE_TENSOR_TYPE;
    vt->tensortype = tt;
    if (t->rank < 0) {
        tt->rank = -1;
        return vt;
    }
    tt->rank = t->rank;
    tt->n_dimensions = (size_t)t->rank;
    tt->dimensions = (PbDim **)ptrs(w, (size_t)t->rank);
    if (!tt->dimensions) return NULL;
    for (int i = 0; i < t->rank; i++) {
        PbDim *d = NEW(w, PbDim, CORE_ML__SPECIFICATION__MILSPEC__DIMENSION__INIT);
        if (!d) return NULL;
        if (t->dims[i] < 0 || (unknown_dims && unknown_dims[i])) {
            PbDimUnknown *u =
                NEW(w, PbDimUnknown,
                    CORE_ML__SPECIFICATION__MILSPEC__DIMENSION__UNKNOWN_DIMENSION__INIT);
            if (!u) return NULL;
            d->dimension_case = CORE_ML__SPECIFICATION__MILSPEC__DIMENSION__DIMENSION_UNKNOWN;
            d->unknown = u;
        } else {
            PbDimConst *c =
                NEW(w, PbDimConst,
                    CORE_ML__SPECIFICATION__MILSPEC__DIMENSION__CONSTANT_DIMENSION__INIT);
            if (!c) return NULL;
            c->size = (uint64_t)t->dims[i];
            d->dimension_case = CORE_ML__SPECIFICATION__MILSPEC__DIMENSION__DIMENSION_CONSTANT;
            d->constant = c;
        }
        tt->dimensions[i] = d;
    }
    return vt;
}

static PbNamedType *named(wr *w, const char *name, const mk_type *t, const int *unknown_dims)
{
    PbNamedType *nt = NEW(w, PbNamedType, CORE_ML__SPECIFICATION__MILSPEC__NAMED_VALUE_TYPE__INIT);
    if (!nt || !(nt->type = tensor_vt(w, t, unknown_dims))) return NULL;
    nt->name = str(name);
    return nt;
}

static PbValueType *state_vt(wr *w, PbValueType *wrapped)
{
    PbValueType *vt = NEW(w, PbValueType, CORE_ML__SPECIFICATION__MILSPEC__VALUE_TYPE__INIT);
    CoreML__Specification__MILSpec__StateType *stt =
        NEW(w, CoreML__Specification__MILSpec__StateType,
            CORE_ML__SPECIFICATION__MILSPEC__STATE_TYPE__INIT);
    if (!vt || !stt) return NULL;
    stt->wrappedtype = wrapped;
    vt->type_case = CORE_ML__SPECIFICATION__MILSPEC__VALUE_TYPE__TYPE_STATE_TYPE;
    vt->statetype = stt;
    return vt;
}

static PbTensorValue *tensor_val(wr *w, const mk_type *t, const mk_const *c)
{
    PbTensorValue *tv = NEW(w, PbTensorValue, CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__INIT);
    if (!tv) return NULL;
    size_t n = 0;
    mk_type_numel(t, &n);
    switch ((int)t->dtype) {
    case MK_DT_FP32: {
        PbFloats *f =
            NEW(w, PbFloats, CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__REPEATED_FLOATS__INIT);
        if (!f) return NULL;
        f->n_values = n;
        f->values = (float *)c->data;
        tv->value_case = CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__VALUE_FLOATS;
        tv->floats = f;
        break;
    }
    case MK_DT_FP64: {
        PbDoubles *f = NEW(w, PbDoubles,
                           CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__REPEATED_DOUBLES__INIT);
        if (!f) return NULL;
        f->n_values = n;
        f->values = (double *)c->data;
        tv->value_case = CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__VALUE_DOUBLES;
        tv->doubles = f;
        break;
    }
    case MK_DT_INT32:
    case MK_DT_INT16:
    case MK_DT_UINT16: {
        PbInts *f =
            NEW(w, PbInts, CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__REPEATED_INTS__INIT);
        if (!f) return NULL;
        f->n_values = n;
        if (t->dtype == MK_DT_INT32) {
            f->values = (int32_t *)c->data;
        } else {
            /* int16/uint16 are widened to int32 values, as coremltools writes them */
            int32_t *v = mk_arena_array(w->ar, n ? n : 1, sizeof *v);
            if (!v) return NULL;
            for (size_t i = 0; i < n; i++)
                v[i] = t->dtype == MK_DT_INT16 ? ((const int16_t *)c->data)[i]
                                               : ((const uint16_t *)c->data)[i];
            f->values = v;
        }
        tv->value_case = CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__VALUE_INTS;
        tv->ints = f;
        break;
    }
    case MK_DT_INT64:
    case MK_DT_UINT64: {
        PbLongInts *f = NEW(
            w, PbLongInts, CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__REPEATED_LONG_INTS__INIT);
        if (!f) return NULL;
        f->n_values = n;
        f->values = (int64_t *)c->data;
        tv->value_case = CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__VALUE_LONG_INTS;
        tv->longints = f;
        break;
    }
    case MK_DT_BOOL: {
        PbBools *f =
            NEW(w, PbBools, CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__REPEATED_BOOLS__INIT);
        protobuf_c_boolean *v = mk_arena_array(w->ar, n ? n : 1, sizeof *v);
        if (!f || !v) return NULL;
        for (size_t i = 0; i < n; i++) v[i] = ((const uint8_t *)c->data)[i] != 0;
        f->n_values = n;
        f->values = v;
        tv->value_case = CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__VALUE_BOOLS;
        tv->bools = f;
        break;
    }
    case MK_DT_STRING: {
        PbStrings *f = NEW(w, PbStrings,
                           CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__REPEATED_STRINGS__INIT);
        char **v = (char **)ptrs(w, n);
        if (!f || !v) return NULL;
        for (size_t i = 0; i < n; i++) v[i] = str(((const char *const *)c->data)[i]);
        f->n_values = n;
        f->values = v;
        tv->value_case = CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__VALUE_STRINGS;
        tv->strings = f;
        break;
    }
    default: {
        /* fp16, bf16, int8, uint8, uint32 and the sub-byte types: raw little-endian bytes */
        PbBytes *f =
            NEW(w, PbBytes, CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__REPEATED_BYTES__INIT);
        if (!f) return NULL;
        f->values.len = c->nbytes;
        f->values.data = (uint8_t *)c->data;
        tv->value_case = CORE_ML__SPECIFICATION__MILSPEC__TENSOR_VALUE__VALUE_BYTES;
        tv->bytes = f;
        break;
    }
    }
    return tv;
}

/* A list literal of scalars (classify's classes): a ListValue of one immediate tensor each. */
static PbImmediate *list_val(wr *w, const mk_value *v)
{
    PbImmediate *im =
        NEW(w, PbImmediate, CORE_ML__SPECIFICATION__MILSPEC__VALUE__IMMEDIATE_VALUE__INIT);
    CoreML__Specification__MILSpec__ListValue *lv =
        NEW(w, CoreML__Specification__MILSpec__ListValue,
            CORE_ML__SPECIFICATION__MILSPEC__LIST_VALUE__INIT);
    size_t n = v->type.rank == 1 && v->type.dims[0] > 0 ? (size_t)v->type.dims[0] : 0;
    size_t es =
        v->type.dtype == MK_DT_STRING ? sizeof(char *) : (size_t)mk_dtype_bits(v->type.dtype) / 8;
    PbValue **vals = (PbValue **)ptrs(w, n);
    if (!im || !lv || !vals || !es || v->cst->nbytes < n * es) return NULL;
    mk_type el = mk_type_scalar(v->type.dtype);
    for (size_t i = 0; i < n; i++) {
        mk_const c;
        memset(&c, 0, sizeof c);
        c.data = (const unsigned char *)v->cst->data + i * es;
        c.nbytes = es;
        PbImmediate *ei =
            NEW(w, PbImmediate, CORE_ML__SPECIFICATION__MILSPEC__VALUE__IMMEDIATE_VALUE__INIT);
        if (!ei || !(vals[i] = NEW(w, PbValue, CORE_ML__SPECIFICATION__MILSPEC__VALUE__INIT)) ||
            !(vals[i]->type = tensor_vt(w, &el, NULL)) || !(ei->tensor = tensor_val(w, &el, &c)))
            return NULL;
        ei->value_case = CORE_ML__SPECIFICATION__MILSPEC__VALUE__IMMEDIATE_VALUE__VALUE_TENSOR;
        vals[i]->value_case = CORE_ML__SPECIFICATION__MILSPEC__VALUE__VALUE_IMMEDIATE_VALUE;
        vals[i]->immediatevalue = ei;
    }
    lv->n_values = n;
    lv->values = vals;
    im->value_case = CORE_ML__SPECIFICATION__MILSPEC__VALUE__IMMEDIATE_VALUE__VALUE_LIST;
    im->list = lv;
    return im;
}

static PbValue *value_msg(wr *w, const mk_value *v)
{
    PbValue *pv = NEW(w, PbValue, CORE_ML__SPECIFICATION__MILSPEC__VALUE__INIT);
    if (!pv || !(pv->type = tensor_vt(w, &v->type, NULL))) return NULL;
    if (v->type.is_list) {
        if (!(pv->immediatevalue = list_val(w, v))) return NULL;
        pv->value_case = CORE_ML__SPECIFICATION__MILSPEC__VALUE__VALUE_IMMEDIATE_VALUE;
        return pv;
    }
    const blob *b = in_blob(w, v) ? blob_of(w, v) : NULL;
    if (b) {
        PbBlobValue *bv =
            NEW(w, PbBlobValue, CORE_ML__SPECIFICATION__MILSPEC__VALUE__BLOB_FILE_VALUE__INIT);
        if (!bv) return NULL;
        bv->filename = (char *)MK_BLOB_FILE;
        bv->offset = b->meta_off;
        ((mk_const *)v->cst)->blob_offset = b->meta_off;
        pv->value_case = CORE_ML__SPECIFICATION__MILSPEC__VALUE__VALUE_BLOB_FILE_VALUE;
        pv->blobfilevalue = bv;
        return pv;
    }
    PbImmediate *im =
        NEW(w, PbImmediate, CORE_ML__SPECIFICATION__MILSPEC__VALUE__IMMEDIATE_VALUE__INIT);
    if (!im || !(im->tensor = tensor_val(w, &v->type, v->cst))) return NULL;
    im->value_case = CORE_ML__SPECIFICATION__MILSPEC__VALUE__IMMEDIATE_VALUE__VALUE_TENSOR;
    pv->value_case = CORE_ML__SPECIFICATION__MILSPEC__VALUE__VALUE_IMMEDIATE_VALUE;
    pv->immediatevalue = im;
    return pv;
}

static PbValue *string_value(wr *w, const char *s)
{
    mk_type t = mk_type_scalar(MK_DT_STRING);
    mk_const c;
    memset(&c, 0, sizeof c);
    const char **one = mk_arena_alloc(w->ar, sizeof *one);
    if (!one) return NULL;
    one[0] = s;
    c.data = one;
    c.nbytes = sizeof *one;
    c.storage = MK_STORE_INLINE;
    PbValue *pv = NEW(w, PbValue, CORE_ML__SPECIFICATION__MILSPEC__VALUE__INIT);
    PbImmediate *im =
        NEW(w, PbImmediate, CORE_ML__SPECIFICATION__MILSPEC__VALUE__IMMEDIATE_VALUE__INIT);
    if (!pv || !im || !(pv->type = tensor_vt(w, &t, NULL)) || !(im->tensor = tensor_val(w, &t, &c)))
        return NULL;
    im->value_case = CORE_ML__SPECIFICATION__MILSPEC__VALUE__IMMEDIATE_VALUE__VALUE_TENSOR;
    pv->value_case = CORE_ML__SPECIFICATION__MILSPEC__VALUE__VALUE_IMMEDIATE_VALUE;
    pv->immediatevalue = im;
    return pv;
}

static PbBlock *block_msg(wr *w, const mk_block *b);

static PbOpAttr *attr_entry(wr *w, const char *key, PbValue *v)
{
    PbOpAttr *a =
        NEW(w, PbOpAttr, CORE_ML__SPECIFICATION__MILSPEC__OPERATION__ATTRIBUTES_ENTRY__INIT);
    if (!a || !v) return NULL;
    a->key = str(key);
    a->value = v;
    return a;
}

static mk_status op_msg(wr *w, mk_op *op, PbOp **out)
{
    const mk_op_info *info = mk_ir_op_info(op->kind);
    PbOp *po = NEW(w, PbOp, CORE_ML__SPECIFICATION__MILSPEC__OPERATION__INIT);
    if (!info)
        return mk_err_set(w->e, MK_EINTERNAL, "%s: op '%s' has a bad kind", w->label, op_label(op));
    if (!po) return oom(w);
    if (!op->name) {
        op->name = op->n_outputs && op->outputs[0]->name ? op->outputs[0]->name
                                                         : mk_ir_unique_name(w->p, info->name);
        if (!op->name) return oom(w);
    }
    po->type = (char *)info->name;
    po->n_inputs = (size_t)op->n_inputs;
    po->inputs = (PbOpInput **)ptrs(w, po->n_inputs);
    if (!po->inputs) return oom(w);
    for (int i = 0; i < op->n_inputs; i++) {
        const mk_input *in = &op->inputs[i];
        PbOpInput *e =
            NEW(w, PbOpInput, CORE_ML__SPECIFICATION__MILSPEC__OPERATION__INPUTS_ENTRY__INIT);
        PbArgument *a = NEW(w, PbArgument, CORE_ML__SPECIFICATION__MILSPEC__ARGUMENT__INIT);
        PbBinding **bs = (PbBinding **)ptrs(w, (size_t)in->n_args);
        if (!e || !a || !bs) return oom(w);
        for (int j = 0; j < in->n_args; j++) {
            const mk_value *v = in->args[j];
            PbBinding *bd =
                NEW(w, PbBinding, CORE_ML__SPECIFICATION__MILSPEC__ARGUMENT__BINDING__INIT);
            if (!bd) return oom(w);
            if (v->is_inline || (!v->producer && v->cst && !v->name)) {
                bd->binding_case =
                    CORE_ML__SPECIFICATION__MILSPEC__ARGUMENT__BINDING__BINDING_VALUE;
                if (!(bd->value = value_msg(w, v))) return oom(w);
            } else if (v->name) {
                bd->binding_case = CORE_ML__SPECIFICATION__MILSPEC__ARGUMENT__BINDING__BINDING_NAME;
                bd->name = (char *)v->name;
            } else {
                return mk_err_set(w->e, MK_EINVAL, "%s: op '%s': input '%s' has an unnamed value",
                                  w->label, op->name, in->name);
            }
            bs[j] = bd;
        }
        a->n_arguments = (size_t)in->n_args;
        a->arguments = bs;
        e->key = (char *)in->name;
        e->value = a;
        po->inputs[i] = e;
    }
    po->n_outputs = (size_t)op->n_outputs;
    po->outputs = (PbNamedType **)ptrs(w, po->n_outputs);
    if (!po->outputs) return oom(w);
    for (int i = 0; i < op->n_outputs; i++)
        if (!(po->outputs[i] = named(w, op->outputs[i]->name, &op->outputs[i]->type, NULL)))
            return oom(w);
    po->n_blocks = (size_t)op->n_blocks;
    po->blocks = (PbBlock **)ptrs(w, po->n_blocks);
    if (!po->blocks) return oom(w);
    for (int i = 0; i < op->n_blocks; i++)
        if (!(po->blocks[i] = block_msg(w, op->blocks[i]))) return nullfail(w);
    po->n_attributes = (size_t)op->n_attrs + 1;
    po->attributes = (PbOpAttr **)ptrs(w, po->n_attributes);
    if (!po->attributes || !(po->attributes[0] = attr_entry(w, "name", string_value(w, op->name))))
        return oom(w);
    for (int i = 0; i < op->n_attrs; i++)
        if (!(po->attributes[i + 1] =
                  attr_entry(w, op->attrs[i].name, value_msg(w, op->attrs[i].value))))
            return oom(w);
    *out = po;
    return MK_OK;
}

/* Returns NULL on OOM or on an error already recorded in w->e. */
/* coreml_update_state is a coremltools dialect op: written, as coremltools does, as
 * write_state(input=state, data=value) named "<op>_write_state", then read_state(input=state)
 * named like the op, which produces the op's output. */
static mk_status update_state_msgs(wr *w, mk_op *op, PbOp **out)
{
    mk_value *st = mk_ir_arg(op, "state"), *val = mk_ir_arg(op, "value");
    mk_input *ins = mk_arena_array(w->ar, 2, sizeof *ins);
    mk_value **args = mk_arena_array(w->ar, 2, sizeof *args);
    mk_op *ws = mk_arena_alloc(w->ar, sizeof *ws), *rs = mk_arena_alloc(w->ar, sizeof *rs);
    if (!ins || !args || !ws || !rs) return oom(w);
    if (!st || !val || op->n_outputs != 1)
        return mk_err_set(w->e, MK_EINVAL,
                          "%s: op '%s': coreml_update_state needs state, value "
                          "and one output",
                          w->label, op_label(op));
    if (!op->name && !(op->name = op->outputs[0]->name)) return oom(w);
    args[0] = st, args[1] = val;
    ins[0] = (mk_input){"input", 1, &args[0]};
    ins[1] = (mk_input){"data", 1, &args[1]};
    ws->kind = MK_OP_WRITE_STATE;
    ws->name = mk_arena_printf(w->ar, "%s_write_state", op->name);
    ws->n_inputs = 2;
    ws->inputs = ins;
    rs->kind = MK_OP_READ_STATE;
    rs->name = op->name;
    rs->n_inputs = 1;
    rs->inputs = ins;
    rs->n_outputs = 1;
    rs->outputs = op->outputs;
    if (!ws->name) return oom(w);
    mk_status s = op_msg(w, ws, &out[0]);
    return s ? s : op_msg(w, rs, &out[1]);
}

static PbBlock *block_msg(wr *w, const mk_block *b)
{
    PbBlock *pb = NEW(w, PbBlock, CORE_ML__SPECIFICATION__MILSPEC__BLOCK__INIT);
    if (!pb) return NULL;
    pb->n_inputs = (size_t)b->n_inputs;
    pb->inputs = (PbNamedType **)ptrs(w, pb->n_inputs);
    pb->n_outputs = (size_t)b->n_outputs;
    pb->outputs = (char **)ptrs(w, pb->n_outputs);
    if (!pb->inputs || !pb->outputs) return NULL;
    for (int i = 0; i < b->n_inputs; i++)
        if (!(pb->inputs[i] = named(w, b->inputs[i]->name, &b->inputs[i]->type, NULL))) return NULL;
    for (int i = 0; i < b->n_outputs; i++) {
        if (!b->outputs[i]->name) {
            mk_err_set(w->e, MK_EINVAL, "%s: a block output has no name", w->label);
            return NULL;
        }
        pb->outputs[i] = (char *)b->outputs[i]->name;
    }
    size_t n = 0;
    MK_FOR_OPS(b, op) n += op->kind == MK_OP_COREML_UPDATE_STATE ? 2 : 1;
    pb->n_operations = n;
    pb->operations = (PbOp **)ptrs(w, n);
    if (!pb->operations) return NULL;
    n = 0;
    MK_FOR_OPS(b, op)
    {
        if (op->kind == MK_OP_COREML_UPDATE_STATE) {
            if (update_state_msgs(w, op, &pb->operations[n])) return NULL;
            n += 2;
        } else if (op_msg(w, op, &pb->operations[n++])) {
            return NULL;
        }
    }
    return pb;
}

/* ---- description ---- */

static const mk_feature *feature_of(const mk_feature *fs, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (fs[i].name && strcmp(fs[i].name, name) == 0) return &fs[i];
    return NULL;
}

/* Dims that vary under the feature's flexibility (written as unknown in MIL types). */
static void flex_dims(const mk_feature *f, int *unknown)
{
    for (int i = 0; i < MK_MAX_RANK; i++) unknown[i] = 0;
    if (!f) return;
    for (int i = 0; i < f->rank && i < MK_MAX_RANK; i++) {
        if (f->flex == MK_FLEX_RANGE) unknown[i] = f->range_lo[i] != f->range_hi[i];
        for (int k = 0; f->flex == MK_FLEX_ENUMERATED && k < f->n_enumerated; k++)
            unknown[i] |= f->enumerated[k][i] != f->shape[i];
    }
}

/* A classifier output: its label (int64Type / stringType) or probabilities (dictionaryType). */
static PbFeature *prim_feature_msg(wr *w, const mk_feature *f)
{
    PbFeature *fd = NEW(w, PbFeature, CORE_ML__SPECIFICATION__FEATURE_DESCRIPTION__INIT);
    PbFeatureType *ft = NEW(w, PbFeatureType, CORE_ML__SPECIFICATION__FEATURE_TYPE__INIT);
    CoreML__Specification__Int64FeatureType *i64 =
        NEW(w, CoreML__Specification__Int64FeatureType,
            CORE_ML__SPECIFICATION__INT64_FEATURE_TYPE__INIT);
    CoreML__Specification__StringFeatureType *s =
        NEW(w, CoreML__Specification__StringFeatureType,
            CORE_ML__SPECIFICATION__STRING_FEATURE_TYPE__INIT);
    if (!fd || !ft || !i64 || !s) {
        oom(w);
        return NULL;
    }
    fd->name = str(f->name);
    fd->shortdescription = str(f->short_description);
    fd->type = ft;
    ft->isoptional = f->is_optional != 0;
    mk_dtype k = f->dict_key ? f->dict_key : f->dtype;
    if (f->dict_key) {
        CoreML__Specification__DictionaryFeatureType *dt =
            NEW(w, CoreML__Specification__DictionaryFeatureType,
                CORE_ML__SPECIFICATION__DICTIONARY_FEATURE_TYPE__INIT);
        if (!dt) {
            oom(w);
            return NULL;
        }
        if (k == MK_DT_INT64) {
            dt->key_type_case =
                CORE_ML__SPECIFICATION__DICTIONARY_FEATURE_TYPE__KEY_TYPE_INT64_KEY_TYPE;
            dt->int64keytype = i64;
        } else {
            dt->key_type_case =
                CORE_ML__SPECIFICATION__DICTIONARY_FEATURE_TYPE__KEY_TYPE_STRING_KEY_TYPE;
            dt->stringkeytype = s;
        }
        ft->type_case = CORE_ML__SPECIFICATION__FEATURE_TYPE__TYPE_DICTIONARY_TYPE;
        ft->dictionarytype = dt;
    } else if (k == MK_DT_INT64) {
        ft->type_case = CORE_ML__SPECIFICATION__FEATURE_TYPE__TYPE_INT64_TYPE;
        ft->int64type = i64;
    } else {
        ft->type_case = CORE_ML__SPECIFICATION__FEATURE_TYPE__TYPE_STRING_TYPE;
        ft->stringtype = s;
    }
    return fd;
}

static PbFeature *feature_msg(wr *w, const mk_feature *f, const char *kind)
{
    int code;
    if (strcmp(kind, "output") == 0 &&
        (f->dict_key || f->dtype == MK_DT_STRING || f->dtype == MK_DT_INT64))
        return prim_feature_msg(w, f);
    switch ((int)f->dtype) {
    case MK_DT_FP32:
        code = CORE_ML__SPECIFICATION__ARRAY_FEATURE_TYPE__ARRAY_DATA_TYPE__FLOAT32;
        break;
    case MK_DT_FP16:
        code = CORE_ML__SPECIFICATION__ARRAY_FEATURE_TYPE__ARRAY_DATA_TYPE__FLOAT16;
        break;
    case MK_DT_INT32:
        code = CORE_ML__SPECIFICATION__ARRAY_FEATURE_TYPE__ARRAY_DATA_TYPE__INT32;
        break;
    default:
        mk_err_set(w->e, MK_EUNSUPPORTED,
                   "%s: %s '%s' is %s; ML Program inputs and outputs must be fp32, fp16 or int32",
                   w->label, kind, f->name,
                   mk_dtype_name(f->dtype) ? mk_dtype_name(f->dtype) : "?");
        return NULL;
    }
    if (f->dtype == MK_DT_FP16 && w->spec < 7) {
        mk_err_set(w->e, MK_EUNSUPPORTED,
                   "%s: %s '%s' is fp16; fp16 inputs and outputs need iOS16 (spec 7) or later, "
                   "target is iOS%d",
                   w->label, kind, f->name, mk_ir_ios_for_spec(w->spec));
        return NULL;
    }
    if (f->rank < 0 || f->rank > MK_MAX_RANK) {
        mk_err_set(w->e, MK_EINVAL, "%s: %s '%s' has a bad rank", w->label, kind, f->name);
        return NULL;
    }
    PbFeature *fd = NEW(w, PbFeature, CORE_ML__SPECIFICATION__FEATURE_DESCRIPTION__INIT);
    PbFeatureType *ft = NEW(w, PbFeatureType, CORE_ML__SPECIFICATION__FEATURE_TYPE__INIT);
    PbArrayType *at = NEW(w, PbArrayType, CORE_ML__SPECIFICATION__ARRAY_FEATURE_TYPE__INIT);
    int64_t *shape = mk_arena_array(w->ar, (size_t)f->rank + 1, sizeof *shape);
    if (!fd || !ft || !at || !shape) goto nomem;
    fd->name = str(f->name);
    fd->shortdescription = str(f->short_description);
    fd->type = ft;
    if (strcmp(kind, "state") == 0) {
        CoreML__Specification__StateFeatureType *sft =
            NEW(w, CoreML__Specification__StateFeatureType,
                CORE_ML__SPECIFICATION__STATE_FEATURE_TYPE__INIT);
        if (!sft) goto nomem;
        sft->arraytype = at;
        ft->type_case = CORE_ML__SPECIFICATION__FEATURE_TYPE__TYPE_STATE_TYPE;
        ft->statetype = sft;
    } else {
        ft->type_case = CORE_ML__SPECIFICATION__FEATURE_TYPE__TYPE_MULTI_ARRAY_TYPE;
        ft->multiarraytype = at;
    }
    ft->isoptional = f->is_optional != 0;
    at->datatype = (CoreML__Specification__ArrayFeatureType__ArrayDataType)code;
    int dynamic = 0;
    for (int i = 0; i < f->rank; i++) dynamic |= (shape[i] = f->shape[i]) < 0;
    if (dynamic && (strcmp(kind, "output") != 0 || f->flex != MK_FLEX_NONE)) {
        mk_err_set(w->e, MK_EINVAL, "%s: %s '%s' has a dynamic dim without a flexible range",
                   w->label, kind, f->name);
        return NULL;
    }
    /* an output whose shape is only known at run time declares none (as coremltools does) */
    at->n_shape = dynamic ? 0 : (size_t)f->rank;
    at->shape = shape;
    if (f->flex == MK_FLEX_RANGE) {
        PbShapeRange *sr =
            NEW(w, PbShapeRange, CORE_ML__SPECIFICATION__ARRAY_FEATURE_TYPE__SHAPE_RANGE__INIT);
        PbSizeRange **rs = (PbSizeRange **)ptrs(w, (size_t)f->rank);
        if (!sr || !rs) goto nomem;
        for (int i = 0; i < f->rank; i++) {
            if (!(rs[i] = NEW(w, PbSizeRange, CORE_ML__SPECIFICATION__SIZE_RANGE__INIT)))
                goto nomem;
            rs[i]->lowerbound = f->range_lo[i] < 0 ? 0 : (uint64_t)f->range_lo[i];
            rs[i]->upperbound = f->range_hi[i] < 0 ? -1 : f->range_hi[i];
        }
        sr->n_sizeranges = (size_t)f->rank;
        sr->sizeranges = rs;
        at->shape_flexibility_case =
            CORE_ML__SPECIFICATION__ARRAY_FEATURE_TYPE__SHAPE_FLEXIBILITY_SHAPE_RANGE;
        at->shaperange = sr;
    } else if (f->flex == MK_FLEX_ENUMERATED && f->n_enumerated > 0) {
        PbEnumShapes *es = NEW(w, PbEnumShapes,
                               CORE_ML__SPECIFICATION__ARRAY_FEATURE_TYPE__ENUMERATED_SHAPES__INIT);
        PbShape **ss = (PbShape **)ptrs(w, (size_t)f->n_enumerated);
        if (!es || !ss) goto nomem;
        for (int k = 0; k < f->n_enumerated; k++) {
            ss[k] = NEW(w, PbShape, CORE_ML__SPECIFICATION__ARRAY_FEATURE_TYPE__SHAPE__INIT);
            if (!ss[k]) goto nomem;
            ss[k]->n_shape = (size_t)f->rank;
            ss[k]->shape = (int64_t *)f->enumerated[k];
        }
        es->n_shapes = (size_t)f->n_enumerated;
        es->shapes = ss;
        at->shape_flexibility_case =
            CORE_ML__SPECIFICATION__ARRAY_FEATURE_TYPE__SHAPE_FLEXIBILITY_ENUMERATED_SHAPES;
        at->enumeratedshapes = es;
    }
    return fd;
nomem:
    oom(w);
    return NULL;
}

/* One function's description (inputs, outputs, states): given, or derived from function mf. */
typedef struct fdesc_out {
    mk_feature *ins, *outs, *states;
    int nin, nout, nstates;
} fdesc_out;

static int n_state_inputs(const mk_function *f)
{
    int n = 0;
    for (int i = 0; i < f->n_inputs; i++) n += f->inputs[i]->is_state;
    return n;
}

/* Features for f's inputs of one kind (state inputs or the others), derived from their types. */
static mk_status derive_inputs(wr *w, const mk_function *mf, int states, mk_feature **out, int *n)
{
    int cnt = states ? n_state_inputs(mf) : mf->n_inputs - n_state_inputs(mf), k = 0;
    if (!cnt) return MK_OK;
    mk_feature *f = mk_arena_array(w->ar, (size_t)cnt, sizeof *f);
    if (!f) return oom(w);
    for (int i = 0; i < mf->n_inputs; i++) {
        const mk_value *v = mf->inputs[i];
        if (v->is_state != states) continue;
        f[k].name = v->name;
        f[k].dtype = v->type.dtype;
        f[k].rank = v->type.rank > 0 ? v->type.rank : 1;
        for (int d = 0; d < f[k].rank; d++)
            f[k].shape[d] = v->type.rank > 0 && v->type.dims[d] >= 0 ? v->type.dims[d] : 1;
        k++;
    }
    *out = f, *n = cnt;
    return MK_OK;
}

static mk_status check_states(wr *w, const mk_function *mf, const fdesc_out *o)
{
    if (o->nstates != n_state_inputs(mf))
        return mk_err_set(w->e, MK_EINVAL, "%s: %d described states, function '%s' has %d",
                          w->label, o->nstates, mf->name, n_state_inputs(mf));
    for (int i = 0; i < o->nstates; i++) {
        const mk_feature *f = &o->states[i];
        const mk_value *v = NULL;
        for (int k = 0; f->name && k < mf->n_inputs; k++)
            if (mf->inputs[k]->is_state && strcmp(mf->inputs[k]->name, f->name) == 0)
                v = mf->inputs[k];
        if (!v)
            return mk_err_set(w->e, MK_EINVAL, "%s: state '%s' is not a state of function '%s'",
                              w->label, f->name ? f->name : "?", mf->name);
    }
    return MK_OK;
}

static mk_status features(wr *w, const mk_function *mf, fdesc_out *o)
{
    mk_feature **ins = &o->ins, **outs = &o->outs;
    int *nin = &o->nin, *nout = &o->nout;
    if (!mf) return MK_OK;
    mk_status st;
    if (!*nin && (st = derive_inputs(w, mf, 0, ins, nin))) return st;
    if (!o->nstates && (st = derive_inputs(w, mf, 1, &o->states, &o->nstates))) return st;
    if ((st = check_states(w, mf, o))) return st;
    const mk_block *b = mf->block;
    if (!*nout && b->n_outputs) {
        mk_feature *f = mk_arena_array(w->ar, (size_t)b->n_outputs, sizeof *f);
        if (!f) return oom(w);
        for (int i = 0; i < b->n_outputs; i++) {
            const mk_value *v = b->outputs[i];
            f[i].name = v->name;
            f[i].dtype = v->type.dtype;
            f[i].dict_key = v->type.dict_key;
            /* static shapes are described as is (scalars as [1]); others with no shape */
            if (mk_type_is_static(&v->type)) {
                f[i].rank = v->type.rank ? v->type.rank : 1;
                f[i].shape[0] = 1;
                for (int d = 0; d < v->type.rank; d++) f[i].shape[d] = v->type.dims[d];
            }
        }
        *outs = f, *nout = b->n_outputs;
    }
    /* the description must name the main function's inputs and outputs */
    for (int i = 0; i < *nin; i++) {
        const mk_feature *f = &(*ins)[i];
        const mk_value *v = NULL;
        for (int k = 0; f->name && k < mf->n_inputs; k++)
            if (!mf->inputs[k]->is_state && strcmp(mf->inputs[k]->name, f->name) == 0)
                v = mf->inputs[k];
        if (!v)
            return mk_err_set(w->e, MK_EINVAL, "%s: input '%s' is not an input of function '%s'",
                              w->label, f->name ? f->name : "?", mf->name);
        if (v->type.dtype != f->dtype)
            return mk_err_set(
                w->e, MK_EINVAL, "%s: input '%s' is %s in the description but %s in the program",
                w->label, f->name, mk_dtype_name(f->dtype) ? mk_dtype_name(f->dtype) : "?",
                mk_dtype_name(v->type.dtype) ? mk_dtype_name(v->type.dtype) : "?");
    }
    if (*nin != mf->n_inputs - n_state_inputs(mf))
        return mk_err_set(w->e, MK_EINVAL, "%s: %d described inputs, function '%s' has %d",
                          w->label, *nin, mf->name, mf->n_inputs - n_state_inputs(mf));
    if (*nout != b->n_outputs)
        return mk_err_set(w->e, MK_EINVAL, "%s: %d described outputs, function '%s' returns %d",
                          w->label, *nout, mf->name, b->n_outputs);
    for (int i = 0; i < *nout; i++) {
        const mk_feature *f = &(*outs)[i];
        const mk_value *v = b->outputs[i];
        if (!f->name || !v->name || strcmp(f->name, v->name) != 0)
            return mk_err_set(w->e, MK_EINVAL,
                              "%s: output %d is '%s' in the description but '%s' in the program",
                              w->label, i, f->name ? f->name : "?", v->name ? v->name : "?");
        if (v->type.dtype != f->dtype)
            return mk_err_set(
                w->e, MK_EINVAL, "%s: output '%s' is %s in the description but %s in the program",
                w->label, f->name, mk_dtype_name(f->dtype) ? mk_dtype_name(f->dtype) : "?",
                mk_dtype_name(v->type.dtype) ? mk_dtype_name(v->type.dtype) : "?");
    }
    return MK_OK;
}

static PbValue *build_info_value(wr *w)
{
    mk_program *p = w->p;
    mk_type st = mk_type_scalar(MK_DT_STRING);
    PbValue *v = NEW(w, PbValue, CORE_ML__SPECIFICATION__MILSPEC__VALUE__INIT);
    PbValueType *vt = NEW(w, PbValueType, CORE_ML__SPECIFICATION__MILSPEC__VALUE_TYPE__INIT);
    PbDictType *dt = NEW(w, PbDictType, CORE_ML__SPECIFICATION__MILSPEC__DICTIONARY_TYPE__INIT);
    PbImmediate *im =
        NEW(w, PbImmediate, CORE_ML__SPECIFICATION__MILSPEC__VALUE__IMMEDIATE_VALUE__INIT);
    PbDictValue *dv = NEW(w, PbDictValue, CORE_ML__SPECIFICATION__MILSPEC__DICTIONARY_VALUE__INIT);
    PbKeyValue **kvs = (PbKeyValue **)ptrs(w, (size_t)p->n_build_info);
    if (!v || !vt || !dt || !im || !dv || !kvs) return NULL;
    if (!(dt->keytype = tensor_vt(w, &st, NULL)) || !(dt->valuetype = tensor_vt(w, &st, NULL)))
        return NULL;
    vt->type_case = CORE_ML__SPECIFICATION__MILSPEC__VALUE_TYPE__TYPE_DICTIONARY_TYPE;
    vt->dictionarytype = dt;
    for (int i = 0; i < p->n_build_info; i++) {
        kvs[i] = NEW(w, PbKeyValue,
                     CORE_ML__SPECIFICATION__MILSPEC__DICTIONARY_VALUE__KEY_VALUE_PAIR__INIT);
        if (!kvs[i] || !(kvs[i]->key = string_value(w, p->build_info[i].key)) ||
            !(kvs[i]->value = string_value(w, p->build_info[i].value)))
            return NULL;
    }
    dv->n_values = (size_t)p->n_build_info;
    dv->values = kvs;
    im->value_case = CORE_ML__SPECIFICATION__MILSPEC__VALUE__IMMEDIATE_VALUE__VALUE_DICTIONARY;
    im->dictionary = dv;
    v->type = vt;
    v->value_case = CORE_ML__SPECIFICATION__MILSPEC__VALUE__VALUE_IMMEDIATE_VALUE;
    v->immediatevalue = im;
    return v;
}

static mk_status model_msg(wr *w, PbModel **out)
{
    mk_program *p = w->p;
    mk_function *mf = mk_ir_main(p);
    mk_status st;
    PbModel *m = NEW(w, PbModel, CORE_ML__SPECIFICATION__MODEL__INIT);
    PbDesc *d = NEW(w, PbDesc, CORE_ML__SPECIFICATION__MODEL_DESCRIPTION__INIT);
    PbProgram *pg = NEW(w, PbProgram, CORE_ML__SPECIFICATION__MILSPEC__PROGRAM__INIT);
    if (!m || !d || !pg) return oom(w);
    m->specificationversion = w->spec;
    m->description = d;
    m->isupdatable = p->is_updatable != 0;
    m->type_case = CORE_ML__SPECIFICATION__MODEL__TYPE_ML_PROGRAM;
    m->mlprogram = pg;

    /* one description per function when there are several (or the model named a default) */
    int multi = p->n_functions > 1 || p->default_function || p->n_fdescs;
    int nd = multi ? p->n_functions : 1;
    fdesc_out *fds = mk_arena_array(w->ar, (size_t)nd, sizeof *fds);
    if (!fds) return oom(w);
    for (int i = 0; i < nd; i++) {
        const mk_function *f = multi ? p->functions[i] : mf;
        fdesc_out *o = &fds[i];
        if (!multi) {
            *o = (fdesc_out){p->inputs,   p->outputs,   p->states,
                             p->n_inputs, p->n_outputs, p->n_states};
        } else {
            for (int k = 0; k < p->n_fdescs; k++)
                if (p->fdescs[k].name && strcmp(p->fdescs[k].name, f->name) == 0)
                    *o = (fdesc_out){p->fdescs[k].inputs,    p->fdescs[k].outputs,
                                     p->fdescs[k].states,    p->fdescs[k].n_inputs,
                                     p->fdescs[k].n_outputs, p->fdescs[k].n_states};
        }
        if ((st = features(w, f, o))) return st;
    }
    if (multi) {
        d->n_functions = (size_t)nd;
        d->functions = (CoreML__Specification__FunctionDescription **)ptrs(w, d->n_functions);
        if (!d->functions || !mf) return oom(w);
        d->defaultfunctionname = str(mf->name);
    }
    for (int i = 0; i < nd; i++) {
        const fdesc_out *o = &fds[i];
        CoreML__Specification__FunctionDescription *fdm = NULL;
        size_t *n_in = &d->n_input, *n_out = &d->n_output, *n_st = &d->n_state;
        PbFeature ***in = &d->input, ***ou = &d->output, ***sts = &d->state;
        if (multi) {
            fdm = NEW(w, CoreML__Specification__FunctionDescription,
                      CORE_ML__SPECIFICATION__FUNCTION_DESCRIPTION__INIT);
            if (!fdm) return oom(w);
            fdm->name = str(p->functions[i]->name);
            d->functions[i] = fdm;
            n_in = &fdm->n_input, n_out = &fdm->n_output, n_st = &fdm->n_state;
            in = &fdm->input, ou = &fdm->output, sts = &fdm->state;
        }
        *n_in = (size_t)o->nin, *n_out = (size_t)o->nout, *n_st = (size_t)o->nstates;
        *in = (PbFeature **)ptrs(w, *n_in);
        *ou = (PbFeature **)ptrs(w, *n_out);
        *sts = (PbFeature **)ptrs(w, *n_st);
        if (!*in || !*ou || !*sts) return oom(w);
        for (int k = 0; k < o->nin; k++)
            if (!((*in)[k] = feature_msg(w, &o->ins[k], "input"))) return nullfail(w);
        for (int k = 0; k < o->nout; k++)
            if (!((*ou)[k] = feature_msg(w, &o->outs[k], "output"))) return nullfail(w);
        for (int k = 0; k < o->nstates; k++)
            if (!((*sts)[k] = feature_msg(w, &o->states[k], "state"))) return nullfail(w);
    }
    /* a classifier names its label and probabilities (given, or classify's outputs) */
    const mk_op *cls = mf && mf->block->last && mf->block->last->kind == MK_OP_CLASSIFY &&
                               mf->block->last->n_outputs == 2
                           ? mf->block->last
                           : NULL;
    d->predictedfeaturename = str(p->predicted_feature ? p->predicted_feature
                                  : cls                ? cls->outputs[0]->name
                                                       : NULL);
    d->predictedprobabilitiesname = str(p->predicted_probs ? p->predicted_probs
                                        : cls              ? cls->outputs[1]->name
                                                           : NULL);
    if (p->short_description || p->version_string || p->author || p->license || p->n_user_meta) {
        PbMeta *md = NEW(w, PbMeta, CORE_ML__SPECIFICATION__METADATA__INIT);
        PbMetaEntry **es = (PbMetaEntry **)ptrs(w, (size_t)p->n_user_meta);
        if (!md || !es) return oom(w);
        md->shortdescription = str(p->short_description);
        md->versionstring = str(p->version_string);
        md->author = str(p->author);
        md->license = str(p->license);
        for (int i = 0; i < p->n_user_meta; i++) {
            es[i] = NEW(w, PbMetaEntry, CORE_ML__SPECIFICATION__METADATA__USER_DEFINED_ENTRY__INIT);
            if (!es[i]) return oom(w);
            es[i]->key = str(p->user_meta[i].key);
            es[i]->value = str(p->user_meta[i].value);
        }
        md->n_userdefined = (size_t)p->n_user_meta;
        md->userdefined = es;
        d->metadata = md;
    }

    pg->version = 1;
    pg->n_functions = (size_t)p->n_functions;
    pg->functions = (PbFuncEntry **)ptrs(w, pg->n_functions);
    if (!pg->functions) return oom(w);
    const char *opset = mk_ir_opset_for_spec(w->spec);
    for (int i = 0; i < p->n_functions; i++) {
        const mk_function *f = p->functions[i];
        PbFuncEntry *fe =
            NEW(w, PbFuncEntry, CORE_ML__SPECIFICATION__MILSPEC__PROGRAM__FUNCTIONS_ENTRY__INIT);
        PbFunction *pf = NEW(w, PbFunction, CORE_ML__SPECIFICATION__MILSPEC__FUNCTION__INIT);
        PbBlockEntry *be =
            NEW(w, PbBlockEntry,
                CORE_ML__SPECIFICATION__MILSPEC__FUNCTION__BLOCK_SPECIALIZATIONS_ENTRY__INIT);
        PbBlockEntry **bes = (PbBlockEntry **)ptrs(w, 1);
        PbNamedType **fin = (PbNamedType **)ptrs(w, (size_t)f->n_inputs);
        if (!fe || !pf || !be || !bes || !fin) return oom(w);
        const fdesc_out *fo = multi ? &fds[i] : f == mf ? &fds[0] : NULL;
        for (int k = 0; k < f->n_inputs; k++) {
            int unknown[MK_MAX_RANK];
            flex_dims(fo ? feature_of(fo->ins, fo->nin, f->inputs[k]->name) : NULL, unknown);
            if (!(fin[k] = named(w, f->inputs[k]->name, &f->inputs[k]->type, unknown)))
                return oom(w);
            if (f->inputs[k]->is_state && !(fin[k]->type = state_vt(w, fin[k]->type)))
                return oom(w);
        }
        if (!(be->value = block_msg(w, f->block))) return nullfail(w);
        be->key = (char *)opset;
        bes[0] = be;
        pf->n_inputs = (size_t)f->n_inputs;
        pf->inputs = fin;
        pf->opset = (char *)opset;
        pf->n_block_specializations = 1;
        pf->block_specializations = bes;
        fe->key = str(f->name);
        fe->value = pf;
        pg->functions[i] = fe;
    }
    if (p->n_build_info) {
        PbProgAttr *a =
            NEW(w, PbProgAttr, CORE_ML__SPECIFICATION__MILSPEC__PROGRAM__ATTRIBUTES_ENTRY__INIT);
        PbProgAttr **as = (PbProgAttr **)ptrs(w, 1);
        if (!a || !as || !(a->value = build_info_value(w))) return oom(w);
        a->key = (char *)"buildInfo";
        as[0] = a;
        pg->n_attributes = 1;
        pg->attributes = as;
    }
    *out = m;
    return MK_OK;
}

/* ---- target checks ---- */

static mk_status check_opsets(wr *w, const mk_block *b)
{
    int ios = mk_ir_ios_for_spec(w->spec);
    MK_FOR_OPS(b, op)
    {
        const mk_op_info *info = mk_ir_op_info(op->kind);
        if (!info)
            return mk_err_set(w->e, MK_EINTERNAL, "%s: op '%s' has a bad kind", w->label,
                              op_label(op));
        if (info->min_opset > ios)
            return mk_err_set(w->e, MK_EUNSUPPORTED,
                              "%s: op '%s' (%s) needs iOS%d or later, target is iOS%d", w->label,
                              op_label(op), info->name, info->min_opset, ios);
        for (int i = 0; i < op->n_outputs; i++)
            if (op->outputs[i]->type.rank > 5)
                return mk_err_set(w->e, MK_EUNSUPPORTED,
                                  "%s: op '%s' (%s): output is rank %d; Core ML tensors have "
                                  "rank 5 at most (H21)",
                                  w->label, op_label(op), info->name, op->outputs[i]->type.rank);
        for (int i = 0; i < op->n_blocks; i++) {
            mk_status st = check_opsets(w, op->blocks[i]);
            if (st) return st;
        }
    }
    return MK_OK;
}

/* ---- files ---- */

static mk_status write_fd(wr *w, int fd, const char *path, const void *p, size_t n)
{
    const unsigned char *c = p;
    while (n) {
        ssize_t k = write(fd, c, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return mk_err_set(w->e, MK_EIO, "%s: write failed: %s", path, strerror(errno));
        }
        c += k;
        n -= (size_t)k;
    }
    return MK_OK;
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static mk_status write_weights(wr *w, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return mk_err_set(w->e, MK_EIO, "%s: cannot create: %s", path, strerror(errno));
    unsigned char hdr[MK_BLOB_HEADER] = {0}, zeros[MK_BLOB_ALIGN] = {0};
    put32(hdr, (uint32_t)w->n_blobs);
    put32(hdr + 4, MK_BLOB_VERSION);
    mk_status st = write_fd(w, fd, path, hdr, sizeof hdr);
    uint64_t pos = MK_BLOB_HEADER;
    for (long i = 0; i < w->n_blobs && !st; i++) {
        const blob *b = &w->blobs[i];
        unsigned char meta[MK_BLOB_META] = {0};
        put32(meta, MK_BLOB_SENTINEL);
        put32(meta + 4, b->code);
        put64(meta + 8, b->nbytes);
        put64(meta + 16, b->meta_off + MK_BLOB_META);
        put64(meta + 24, b->pad_bits);
        st = write_fd(w, fd, path, zeros, (size_t)(b->meta_off - pos));
        if (!st) st = write_fd(w, fd, path, meta, sizeof meta);
        if (!st) st = write_fd(w, fd, path, b->data, b->nbytes);
        pos = b->meta_off + MK_BLOB_META + b->nbytes;
    }
    if (close(fd) != 0 && !st)
        st = mk_err_set(w->e, MK_EIO, "%s: close failed: %s", path, strerror(errno));
    return st;
}

static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void uuid_of(uint64_t a, uint64_t b, char out[37])
{
    a = mix(a);
    b = mix(b ^ a);
    /* RFC 9562 layout: version 8 (custom, content-derived), variant 10 */
    a = (a & ~0xF000ull) | 0x8000ull;
    b = (b & ~(3ull << 62)) | (2ull << 62);
    snprintf(out, 37, "%08llX-%04llX-%04llX-%04llX-%012llX", (unsigned long long)(a >> 32),
             (unsigned long long)((a >> 16) & 0xFFFF), (unsigned long long)(a & 0xFFFF),
             (unsigned long long)(b >> 48), (unsigned long long)(b & 0xFFFFFFFFFFFFull));
}

static mk_status write_manifest(wr *w, const char *path, uint64_t content)
{
    char spec_id[37], weights_id[37];
    uuid_of(fnv(content, "model.mlmodel#1", 15), fnv(content, "model.mlmodel#2", 15), spec_id);
    uuid_of(fnv(content, "weights#1", 9), fnv(content, "weights#2", 9), weights_id);
#define ITEM                                                                                       \
    "        \"%s\": {\n"                                                                          \
    "            \"author\": \"com.apple.CoreML\",\n"                                              \
    "            \"description\": \"%s\",\n"                                                       \
    "            \"name\": \"%s\",\n"                                                              \
    "            \"path\": \"com.apple.CoreML/%s\"\n"                                              \
    "        }%s\n"
    int spec_first = strcmp(spec_id, weights_id) < 0;
    mk_buf b;
    mk_buf_init(&b, w->p->alloc);
    mk_buf_printf(&b, "{\n    \"fileFormatVersion\": \"1.0.0\",\n    \"itemInfoEntries\": {\n");
    for (int k = 0; k < 2; k++) {
        int spec = (k == 0) == spec_first;
        mk_buf_printf(&b, ITEM, spec ? spec_id : weights_id,
                      spec ? "CoreML Model Specification" : "CoreML Model Weights",
                      spec ? "model.mlmodel" : "weights", spec ? "model.mlmodel" : "weights",
                      k == 0 ? "," : "");
    }
#undef ITEM
    mk_buf_printf(&b, "    },\n    \"rootModelIdentifier\": \"%s\"\n}\n", spec_id);
    mk_status st = b.oom ? oom(w) : mk_file_write_all(path, b.data, b.len, w->e);
    mk_buf_free(&b);
    return st;
}

/* dir/rel into out; 0 when it does not fit */
static int join(char *out, const char *dir, const char *rel)
{
    int k = snprintf(out, PATH_N, "%s/%s", dir, rel);
    return k > 0 && k < PATH_N;
}

static mk_status write_package(wr *w, const char *dir, const uint8_t *spec, size_t n)
{
    char a[PATH_N];
    static const char *const dirs[] = {"Data", "Data/com.apple.CoreML",
                                       "Data/com.apple.CoreML/weights"};
    for (int i = 0; i < 3; i++) {
        if (!join(a, dir, dirs[i])) return mk_err_set(w->e, MK_EINVAL, "%s: path too long", dir);
        if (mkdir(a, 0755) != 0)
            return mk_err_set(w->e, MK_EIO, "%s: cannot create: %s", a, strerror(errno));
    }
    if (!join(a, dir, "Data/com.apple.CoreML/model.mlmodel"))
        return mk_err_set(w->e, MK_EINVAL, "%s: path too long", dir);
    mk_status st = mk_file_write_all(a, spec, n, w->e);
    if (st) return st;
    uint64_t content = fnv(FNV0, spec, n);
    if (w->n_blobs) {
        if (!join(a, dir, "Data/com.apple.CoreML/weights/weight.bin"))
            return mk_err_set(w->e, MK_EINVAL, "%s: path too long", dir);
        if ((st = write_weights(w, a))) return st;
        for (long i = 0; i < w->n_blobs; i++)
            content = fnv(content, &w->blobs[i].id, sizeof w->blobs[i].id);
    }
    if (!join(a, dir, "Manifest.json"))
        return mk_err_set(w->e, MK_EINVAL, "%s: path too long", dir);
    return write_manifest(w, a, content);
}

/* Set up w for p at target; checks what the target can express. */
static mk_status begin(wr *w, mk_program *p, int target, const char *label, mk_err *e)
{
    memset(w, 0, sizeof *w);
    w->p = p;
    w->e = e;
    w->label = label;
    w->spec = target != MK_TARGET_DEFAULT ? target : p->spec_version ? p->spec_version : 6;
    if (!mk_ir_opset_for_spec(w->spec))
        return mk_err_set(e, MK_EUNSUPPORTED,
                          "%s: specification version %d; milkit writes 6..9 (iOS15..iOS18)", label,
                          w->spec);
    if (!p->n_functions) return mk_err_set(e, MK_EINVAL, "%s: the program has no functions", label);
    mk_status st;
    for (int i = 0; i < p->n_functions; i++) {
        if ((st = check_opsets(w, p->functions[i]->block))) return st;
        if ((st = mk_coreml_widen_selects(p, p->functions[i]->block, e))) {
            mk_err_prefix(e, "%s: ", label);
            return st;
        }
        if (p->functions[i]->n_inputs == 0 && w->spec < 9)
            return mk_err_set(e, MK_EUNSUPPORTED,
                              "%s: function '%s' has no inputs; Core ML accepts input-less "
                              "models from iOS18 (spec 9) on, target is spec %d",
                              label, p->functions[i]->name, w->spec);
    }
    if ((st = mk_ir_verify_states(p, e))) {
        mk_err_prefix(e, "%s: ", label);
        return st;
    }
    if (!(w->ar = mk_arena_new(p->alloc)))
        return mk_err_set(e, MK_ENOMEM, "%s: out of memory", label);
    return MK_OK;
}

/* The serialized Model in *buf (allocated with p->alloc), blobs laid out in w. */
static mk_status encode(wr *w, uint8_t **buf, size_t *n)
{
    PbModel *m = NULL;
    mk_status st;
    *buf = NULL;
    *n = 0;
    if ((st = layout_blobs(w)) || (st = model_msg(w, &m))) return st;
    size_t len = protobuf_c_message_get_packed_size(&m->base);
    uint8_t *b = mk_malloc(w->p->alloc, len);
    if (!b) return oom(w);
    if (protobuf_c_message_pack(&m->base, b) != len) {
        mk_free(w->p->alloc, b, len);
        return mk_err_set(w->e, MK_EINTERNAL, "%s: protobuf packing size mismatch", w->label);
    }
    *buf = b;
    *n = len;
    return MK_OK;
}

mk_status mk_ml_encode(mk_program *p, int target, uint8_t **out, size_t *n, mk_err *e)
{
    wr w;
    *out = NULL;
    *n = 0;
    mk_status st = begin(&w, p, target, "model.mlmodel", e);
    if (!st) st = encode(&w, out, n);
    mk_arena_free(w.ar);
    return st;
}

/* A failed write names the package, not the temp dir it was being written in. */
static void untemp(mk_err *e, const char *tmp, const char *path)
{
    char *at = tmp[0] ? strstr(e->msg, tmp) : NULL;
    if (!at) return;
    char msg[sizeof e->msg];
    snprintf(msg, sizeof msg, "%.*s%s%s", (int)(at - e->msg), e->msg, path, at + strlen(tmp));
    memcpy(e->msg, msg, sizeof msg);
}

mk_status mk_program_save(mk_program *p, const char *path, mk_target target, mk_err *err)
{
    mk_err local = {MK_OK, {0}};
    mk_err *e = err ? err : &local;
    if (!p || !path || !*path) return mk_err_set(e, MK_EINVAL, "no program or output path");
    if (strlen(path) > PATH_N - 128) return mk_err_set(e, MK_EINVAL, "%s: path too long", path);
    mk_out_kind k = mk_output_dir_kind(path, "Manifest.json");
    if (k == MK_OUT_NOT_DIR)
        return mk_err_set(e, MK_EINVAL, "%s: exists and is not a directory", path);
    if (k == MK_OUT_FOREIGN)
        return mk_err_set(e, MK_EINVAL,
                          "%s: exists and is not an .mlpackage; refusing to replace it", path);
    wr w;
    mk_status st = begin(&w, p, (int)target, path, e);
    uint8_t *buf = NULL;
    size_t n = 0;
    char tmp[PATH_N];
    tmp[0] = 0;
    if (!st) st = encode(&w, &buf, &n);
    if (!st) st = mk_tempdir_beside(path, tmp, sizeof tmp, e);
    if (!st) st = write_package(&w, tmp, buf, n);
    if (!st) st = mk_dir_commit(tmp, path, e);
    if (st && tmp[0]) mk_err_untemp(e, tmp, path);
    if (st && tmp[0]) mk_rmtree(tmp);
    if (st) untemp(e, tmp, path);
    mk_free(p->alloc, buf, n);
    mk_arena_free(w.ar);
    return st;
}
