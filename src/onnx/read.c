/* ONNX model reading: a "slim" parse that cuts initializer raw_data out of the wire bytes
 * before protobuf-c unpacks the rest (so weights stay in the mmapped file and are never
 * copied), TensorProto decoding into canonical constants (fp32 / int64 / bool), external
 * data files (mmapped, path traversal rejected), attribute access, and reading a single
 * TensorProto .pb file into an mk_tensor. It does not lower anything. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "onnx_int.h"

/* ---- protobuf-c allocator on top of mk_allocator (sizes kept in a header) ---- */
typedef struct pb_ud {
    const mk_allocator *a;
    int oom;
} pb_ud;

static void *pb_alloc(void *ud, size_t n)
{
    pb_ud *u = ud;
    size_t total;
    if (!mk_add_size(n, 16, &total)) return NULL;
    unsigned char *p = mk_malloc(u->a, total);
    if (!p) {
        u->oom = 1;
        return NULL;
    }
    memcpy(p, &total, sizeof total);
    return p + 16;
}

static void pb_free(void *ud, void *ptr)
{
    if (!ptr) return;
    unsigned char *p = (unsigned char *)ptr - 16;
    size_t total;
    memcpy(&total, p, sizeof total);
    mk_free(((pb_ud *)ud)->a, p, total);
}

/* ---- wire format scanning for the slim parse ---- */
typedef struct wire {
    const unsigned char *p, *end;
} wire;

static int rd_varint(wire *w, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (w->p >= w->end) return 0;
        unsigned char b = *w->p++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return 1;
        }
    }
    return 0;
}

/* Skip one field's payload; for length-delimited fields returns the payload span. */
static int skip_field(wire *w, unsigned wt, const unsigned char **pay, size_t *plen)
{
    uint64_t v;
    switch (wt) {
    case 0: return rd_varint(w, &v);
    case 1:
        if (w->end - w->p < 8) return 0;
        w->p += 8;
        return 1;
    case 5:
        if (w->end - w->p < 4) return 0;
        w->p += 4;
        return 1;
    case 2:
        if (!rd_varint(w, &v) || v > (uint64_t)(w->end - w->p)) return 0;
        *pay = w->p;
        *plen = (size_t)v;
        w->p += v;
        return 1;
    default: return 0;
    }
}

static int put_varint(mk_buf *b, uint64_t v)
{
    unsigned char tmp[10];
    int n = 0;
    do {
        tmp[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return mk_buf_append(b, tmp, (size_t)n);
}

#define SLIM_MIN 64          /* raw_data payloads at least this big stay in the file */
#define SLIM_MARK 536870001u /* unknown TensorProto field carrying the span index */
#define SLIM_DEPTH 24        /* nesting limit (subgraphs inside attributes) */

typedef struct slim_ctx {
    const mk_allocator *a;
    struct ox_span *spans;
    size_t n, cap;
    int oom, too_deep;
} slim_ctx;

static int add_span(slim_ctx *s, const unsigned char *d, size_t n)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64, bytes;
        if (!mk_mul_size(nc, sizeof *s->spans, &bytes)) return 0;
        struct ox_span *ns = mk_realloc(s->a, s->spans, s->cap * sizeof *ns, bytes);
        if (!ns) {
            s->oom = 1;
            return 0;
        }
        s->spans = ns;
        s->cap = nc;
    }
    s->spans[s->n].data = d;
    s->spans[s->n].size = n;
    s->n++;
    return 1;
}

/* Messages the slim parse descends into, and which of their fields hold such messages:
 * ModelProto.graph(7); GraphProto.node(1), initializer(5); NodeProto.attribute(5);
 * AttributeProto.t(5), g(6), tensors(10), graphs(11); TensorProto.raw_data(9) is cut. */
enum { K_MODEL, K_GRAPH, K_NODE, K_ATTR, K_TENSOR, K_NONE };

static int child_kind(int kind, uint64_t field)
{
    switch (kind) {
    case K_MODEL: return field == 7 ? K_GRAPH : K_NONE;
    case K_GRAPH: return field == 1 ? K_NODE : field == 5 ? K_TENSOR : K_NONE;
    case K_NODE: return field == 5 ? K_ATTR : K_NONE;
    case K_ATTR:
        return field == 5 || field == 10 ? K_TENSOR : field == 6 || field == 11 ? K_GRAPH : K_NONE;
    default: return K_NONE;
    }
}

/* Copy message bytes into out. Large TensorProto.raw_data payloads are left in the input
 * (recorded as spans) and replaced by a SLIM_MARK varint holding the span index, which
 * protobuf-c keeps as an unknown field. */
static int slim_msg(slim_ctx *s, int kind, const unsigned char *p, size_t n, mk_buf *out, int depth)
{
    if (depth > SLIM_DEPTH) {
        s->too_deep = 1;
        return 0;
    }
    wire w = {p, p + n};
    while (w.p < w.end) {
        const unsigned char *start = w.p, *pay = NULL;
        size_t plen = 0;
        uint64_t key;
        if (!rd_varint(&w, &key)) return 0;
        unsigned wt = (unsigned)(key & 7);
        if (!skip_field(&w, wt, &pay, &plen)) return 0;
        int ck = wt == 2 ? child_kind(kind, key >> 3) : K_NONE;
        if (kind == K_TENSOR && wt == 2 && (key >> 3) == 9 && plen >= SLIM_MIN) {
            if (!add_span(s, pay, plen) || !put_varint(out, (uint64_t)SLIM_MARK << 3) ||
                !put_varint(out, s->n - 1)) {
                s->oom |= out->oom;
                return 0;
            }
        } else if (ck != K_NONE) {
            mk_buf sub;
            mk_buf_init(&sub, s->a);
            int ok = slim_msg(s, ck, pay, plen, &sub, depth + 1) && put_varint(out, key) &&
                     put_varint(out, sub.len) && mk_buf_append(out, sub.data, sub.len);
            if (sub.oom || out->oom) s->oom = 1;
            mk_buf_free(&sub);
            if (!ok) return 0;
        } else if (!mk_buf_append(out, start, (size_t)(w.p - start))) {
            s->oom = 1;
            return 0;
        }
    }
    return 1;
}

mk_status mk_onnx_parse(const unsigned char *data, size_t size, const mk_allocator *a, ox_model *m,
                        mk_err *e)
{
    memset(m, 0, sizeof *m);
    m->alloc = a;
    slim_ctx s = {a, NULL, 0, 0, 0, 0};
    mk_buf slim;
    mk_buf_init(&slim, a);
    if (!slim_msg(&s, K_MODEL, data, size, &slim, 0)) {
        int oom = slim.oom || s.oom;
        mk_buf_free(&slim);
        mk_free(a, s.spans, s.cap * sizeof *s.spans);
        if (oom) return MK_OOM(e);
        if (s.too_deep) /* model -> graph -> node -> attribute -> graph: 3 levels per subgraph */
            return mk_err_set(e, MK_EUNSUPPORTED,
                              "subgraphs (If/Loop/Scan bodies) nested too deep: milkit reads %d "
                              "message levels (about %d nested subgraphs); a limit of milkit's, "
                              "not of protobuf-c",
                              SLIM_DEPTH, (SLIM_DEPTH - 1) / 3);
        return mk_err_set(e, MK_EINVAL, "not an ONNX model (malformed protobuf)");
    }
    pb_ud ud = {a, 0};
    ProtobufCAllocator pa = {pb_alloc, pb_free, &ud};
    m->proto = (Onnx__ModelProto *)protobuf_c_message_unpack(&onnx__model_proto__descriptor, &pa,
                                                             slim.len, slim.data);
    mk_buf_free(&slim);
    m->spans = s.spans;
    m->n_spans = s.n;
    m->cap_spans = s.cap;
    if (!m->proto) {
        mk_onnx_model_free(m);
        if (ud.oom) return MK_OOM(e);
        return mk_err_set(e, MK_EINVAL, "not an ONNX model (protobuf does not decode)");
    }
    return MK_OK;
}

void mk_onnx_model_free(ox_model *m)
{
    if (m->proto) {
        pb_ud ud = {m->alloc, 0};
        ProtobufCAllocator pa = {pb_alloc, pb_free, &ud};
        protobuf_c_message_free_unpacked(&m->proto->base, &pa);
    }
    if (m->spans) mk_free(m->alloc, m->spans, m->cap_spans * sizeof *m->spans);
    if (m->own_map) mk_file_unmap(&m->map);
    memset(m, 0, sizeof *m);
}

/* ---- attributes ---- */
const Onnx__AttributeProto *mk_onnx_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i];
    return NULL;
}

int64_t mk_onnx_attr_i(const Onnx__NodeProto *n, const char *name, int64_t def)
{
    const Onnx__AttributeProto *a = mk_onnx_attr(n, name);
    return a && (a->has_i || a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT) ? a->i : def;
}

float mk_onnx_attr_f(const Onnx__NodeProto *n, const char *name, float def)
{
    const Onnx__AttributeProto *a = mk_onnx_attr(n, name);
    return a && (a->has_f || a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT) ? a->f : def;
}

const char *mk_onnx_attr_s(ox_ctx *c, const Onnx__NodeProto *n, const char *name, const char *def)
{
    const Onnx__AttributeProto *a = mk_onnx_attr(n, name);
    if (!a || !a->has_s) return def;
    char *s = mk_arena_strndup(c->p->arena, (const char *)a->s.data, a->s.len);
    return s ? s : def;
}

int mk_onnx_attr_ints(const Onnx__NodeProto *n, const char *name, const int64_t **v)
{
    const Onnx__AttributeProto *a = mk_onnx_attr(n, name);
    if (!a) return -1;
    *v = a->ints;
    return a->n_ints > MK_MAX_RANK * 4 ? MK_MAX_RANK * 4 + 1 : (int)a->n_ints;
}

/* ---- dtypes ---- */
mk_dtype mk_onnx_const_dtype(int et)
{
    switch (et) {
    case 1:
    case 10:
    case 11:
    case 16: return MK_DT_FP32;
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
    case 7:
    case 12:
    case 13: return MK_DT_INT64;
    case 9: return MK_DT_BOOL;
    default: return MK_DT_INVALID;
    }
}

mk_dtype mk_onnx_run_dtype(int et)
{
    mk_dtype d = mk_onnx_const_dtype(et);
    return d == MK_DT_INT64 ? MK_DT_INT32 : d;
}

static int elem_size(int et)
{
    switch (et) {
    case 2:
    case 3:
    case 9: return 1;
    case 4:
    case 5:
    case 10:
    case 16: return 2;
    case 1:
    case 6:
    case 12: return 4;
    case 7:
    case 11:
    case 13: return 8;
    default: return 0;
    }
}

static float bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Convert n raw little-endian elements of ONNX type et into canonical dst. */
static void convert_raw(int et, const unsigned char *src, size_t n, void *dst)
{
    float *f = dst;
    int64_t *i64 = dst;
    uint8_t *b = dst;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *s = src + i * (size_t)elem_size(et);
        switch (et) {
        case 1: memcpy(&f[i], s, 4); break;
        case 10: {
            uint16_t h;
            memcpy(&h, s, 2);
            f[i] = mk_f16_to_f32(h);
            break;
        }
        case 16: {
            uint16_t h;
            memcpy(&h, s, 2);
            f[i] = bf16_to_f32(h);
            break;
        }
        case 11: {
            double d;
            memcpy(&d, s, 8);
            f[i] = (float)d;
            break;
        }
        case 2: i64[i] = s[0]; break;
        case 3: i64[i] = (int8_t)s[0]; break;
        case 4: {
            uint16_t v;
            memcpy(&v, s, 2);
            i64[i] = v;
            break;
        }
        case 5: {
            int16_t v;
            memcpy(&v, s, 2);
            i64[i] = v;
            break;
        }
        case 6: {
            int32_t v;
            memcpy(&v, s, 4);
            i64[i] = v;
            break;
        }
        case 12: {
            uint32_t v;
            memcpy(&v, s, 4);
            i64[i] = v;
            break;
        }
        case 7: memcpy(&i64[i], s, 8); break;
        case 13: {
            uint64_t v;
            memcpy(&v, s, 8);
            i64[i] = (int64_t)v;
            break;
        }
        case 9: b[i] = s[0] != 0; break;
        default: break;
        }
    }
}

/* Whether path, its links resolved, lies inside dir (also resolved); 1 when path is absent
 * (opening it reports that). */
static int inside_dir(const char *dir, const char *path)
{
    char rd[PATH_MAX], rp[PATH_MAX];
    if (!realpath(path, rp)) return 1;
    if (!realpath(dir, rd)) return 0;
    size_t n = strlen(rd);
    return strncmp(rp, rd, n) == 0 && (rp[n] == '/' || (n == 1 && rd[0] == '/'));
}

/* External data: map <dir>/<location> (kept alive by the program) and return the span.
 * Symbolic links are followed wherever they point unless opts->no_follow_links. */
static mk_status external_span(ox_ctx *c, const Onnx__TensorProto *t, const unsigned char **d,
                               size_t *n)
{
    const char *loc = NULL;
    uint64_t off = 0, len = 0;
    int has_len = 0;
    for (size_t i = 0; i < t->n_external_data; i++) {
        const Onnx__StringStringEntryProto *kv = t->external_data[i];
        if (!kv->key || !kv->value) continue;
        char *endp;
        if (strcmp(kv->key, "location") == 0)
            loc = kv->value;
        else if (strcmp(kv->key, "offset") == 0)
            off = strtoull(kv->value, &endp, 10);
        else if (strcmp(kv->key, "length") == 0)
            len = strtoull(kv->value, &endp, 10), has_len = 1;
    }
    const char *tn = t->name ? t->name : "?";
    if (!loc || !*loc)
        return mk_err_set(c->err, MK_EINVAL, "%s: tensor '%s': external data without location",
                          c->file, tn);
    if (loc[0] == '/' || strstr(loc, "..") || strchr(loc, '\\'))
        return mk_err_set(c->err, MK_EINVAL,
                          "%s: tensor '%s': external data location '%s' leaves the model dir",
                          c->file, tn, loc);
    if (!c->dir)
        return mk_err_set(c->err, MK_EUNSUPPORTED,
                          "%s: tensor '%s': external data needs a model file path", c->file, tn);
    char *path = mk_arena_printf(c->p->arena, "%s/%s", c->dir, loc);
    if (!path) return fail(c);
    /* reuse a mapping of the same file */
    const mk_mapped *m = NULL;
    for (int i = 0; i < c->n_ext; i++)
        if (strcmp(c->ext[i].path, path) == 0) m = &c->p->maps[c->ext[i].map_index];
    if (!m && c->opts && c->opts->no_follow_links && !inside_dir(c->dir, path))
        return mk_err_set(c->err, MK_EIO,
                          "%s: tensor '%s': external data '%s' is a link to outside the model's "
                          "folder (--no-follow-links)",
                          c->file, tn, loc);
    if (!m) {
        mk_mapped mm;
        mk_err tmp = {0};
        if (mk_file_map_all(path, &mm, &tmp) != MK_OK)
            return mk_err_set(c->err, MK_EIO, "%s: tensor '%s': external data file '%s': %s",
                              c->file, tn, loc, tmp.msg);
        if (mk_ir_program_keep_map(c->p, mm, c->err) != MK_OK) return c->err->code;
        void *ne = mk_arena_array(c->p->arena, (size_t)c->n_ext + 1, sizeof *c->ext);
        if (!ne) return fail(c);
        if (c->n_ext) memcpy(ne, c->ext, (size_t)c->n_ext * sizeof *c->ext);
        c->ext = ne;
        c->ext[c->n_ext].path = path;
        c->ext[c->n_ext].map_index = c->p->n_maps - 1;
        c->n_ext++;
        m = &c->p->maps[c->p->n_maps - 1];
    }
    if (off > m->size || (has_len && len > m->size - off))
        return mk_err_set(c->err, MK_EINVAL,
                          "%s: tensor '%s': external data range %llu+%llu beyond '%s' (%zu bytes)",
                          c->file, tn, (unsigned long long)off, (unsigned long long)len, loc,
                          m->size);
    *d = m->data ? m->data + off : NULL;
    *n = has_len ? (size_t)len : m->size - (size_t)off;
    return MK_OK;
}

/* The span a slim-parsed tensor's raw data was cut into (its SLIM_MARK field), or NULL. */
static const struct ox_span *find_span(const ox_ctx *c, const Onnx__TensorProto *t)
{
    if (!c->model) return NULL;
    for (unsigned i = 0; i < t->base.n_unknown_fields; i++) {
        const ProtobufCMessageUnknownField *u = &t->base.unknown_fields[i];
        if (u->tag != SLIM_MARK || u->wire_type != PROTOBUF_C_WIRE_TYPE_VARINT) continue;
        wire w = {u->data, u->data + u->len};
        uint64_t idx;
        if (!rd_varint(&w, &idx) || idx >= c->model->n_spans) return NULL;
        return &c->model->spans[idx];
    }
    return NULL;
}

/* After a copy out of a file mapping, let the kernel drop the pages only that span covers
 * (they would otherwise stay resident next to the copy). */
static void release_pages(const unsigned char *p, size_t n)
{
    long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0 || n < 2 * (size_t)pg) return;
    uintptr_t a = ((uintptr_t)p + (uintptr_t)pg - 1) & ~(uintptr_t)(pg - 1);
    uintptr_t b = ((uintptr_t)p + n) & ~(uintptr_t)(pg - 1);
    if (b > a) (void)madvise((void *)a, (size_t)(b - a), MADV_DONTNEED);
}

mk_status mk_onnx_tensor(ox_ctx *c, const Onnx__TensorProto *t, ox_val *out)
{
    const char *tn = t->name ? t->name : "?";
    int et = t->has_data_type ? t->data_type : 0;
    mk_dtype cd = mk_onnx_const_dtype(et);
    out->f16_range = 0;
    if (cd == MK_DT_INVALID)
        return mk_err_set(c->err, MK_EUNSUPPORTED, "%s: tensor '%s': data type %d unsupported",
                          c->file, tn, et);
    if (t->n_dims > MK_MAX_RANK)
        return mk_err_set(c->err, MK_EUNSUPPORTED, "%s: tensor '%s': rank %zu > %d", c->file, tn,
                          t->n_dims, MK_MAX_RANK);
    size_t numel = 1;
    mk_type ty = mk_type_make(cd, (int)t->n_dims, t->dims);
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0 || t->dims[i] > INT32_MAX ||
            !mk_mul_size(numel, (size_t)t->dims[i], &numel))
            return mk_err_set(c->err, MK_EINVAL, "%s: tensor '%s': bad dim %lld", c->file, tn,
                              (long long)t->dims[i]);
    }
    size_t es = (size_t)elem_size(et), src_bytes, dst_bytes;
    if (!mk_mul_size(numel, es, &src_bytes) ||
        !mk_mul_size(numel, (size_t)(mk_dtype_bits(cd) / 8), &dst_bytes))
        return mk_err_set(c->err, MK_EINVAL, "%s: tensor '%s': size overflows", c->file, tn);

    const unsigned char *raw = NULL;
    size_t raw_n = 0;
    int raw_mapped = 0;
    const struct ox_span *sp = find_span(c, t);
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        mk_status st = external_span(c, t, &raw, &raw_n);
        if (st != MK_OK) return st;
        raw_mapped = 1;
    } else if (sp) {
        raw = sp->data;
        raw_n = sp->size;
        raw_mapped = c->borrow_ok;
    } else if (t->has_raw_data) {
        raw = t->raw_data.data;
        raw_n = t->raw_data.len;
    }
    out->type = ty;
    out->nbytes = dst_bytes;
    if (raw || (t->has_raw_data && numel == 0)) {
        if (raw_n != src_bytes)
            return mk_err_set(c->err, MK_EINVAL,
                              "%s: tensor '%s': %zu data bytes for %zu elements of type %d",
                              c->file, tn, raw_n, numel, et);
        if (et == 1 && raw_mapped && ((uintptr_t)raw & 3) == 0) {
            out->data = raw; /* fp32 weights stay in the file mapping */
            out->borrowed = 1;
            return MK_OK;
        }
        void *d = c->model ? mk_onnx_weight_alloc(c, dst_bytes)
                           : mk_arena_alloc(c->p->arena, dst_bytes ? dst_bytes : 1);
        if (!d) return fail(c);
        if (raw && et == 1)
            out->f16_range = 1 + mk_f32_copy_f16_range(d, raw, numel);
        else if (raw)
            convert_raw(et, raw, numel, d);
        if (raw && raw_mapped) release_pages(raw, raw_n);
        out->data = d;
        return MK_OK;
    }
    /* typed repeated fields: the count is checked before anything is allocated */
    size_t have;
    switch (et) {
    case 1: have = t->n_float_data; break;
    case 7: have = t->n_int64_data; break;
    case 11: have = t->n_double_data; break;
    case 12:
    case 13: have = t->n_uint64_data; break;
    default: have = t->n_int32_data; break;
    }
    if (have != numel)
        return mk_err_set(c->err, MK_EINVAL, "%s: tensor '%s': %zu values for %zu elements",
                          c->file, tn, have, numel);
    void *d = c->model ? mk_onnx_weight_alloc(c, dst_bytes)
                       : mk_arena_alloc(c->p->arena, dst_bytes ? dst_bytes : 1);
    if (!d) return fail(c);
    out->data = d;
    float *f = d;
    int64_t *i64 = d;
    uint8_t *b = d;
    for (size_t i = 0; i < numel; i++) {
        switch (et) {
        case 1: f[i] = t->float_data[i]; break;
        case 11: f[i] = (float)t->double_data[i]; break;
        case 10: f[i] = mk_f16_to_f32((uint16_t)t->int32_data[i]); break;
        case 16: f[i] = bf16_to_f32((uint16_t)t->int32_data[i]); break;
        case 7: i64[i] = t->int64_data[i]; break;
        case 12:
        case 13: i64[i] = (int64_t)t->uint64_data[i]; break;
        case 9: b[i] = t->int32_data[i] != 0; break;
        default: i64[i] = t->int32_data[i]; break;
        }
    }
    return MK_OK;
}

/* ---- a TensorProto .pb file into an mk_tensor (fp32, int32 or bool) ---- */
mk_status mk_onnx_read_tensor(const char *path, mk_tensor *out, mk_err *err)
{
    memset(out, 0, sizeof *out);
    mk_mapped m;
    if (mk_file_map_all(path, &m, err) != MK_OK) return err->code;
    const mk_allocator *a = mk_alloc_default();
    pb_ud ud = {a, 0};
    ProtobufCAllocator pa = {pb_alloc, pb_free, &ud};
    Onnx__TensorProto *t = (Onnx__TensorProto *)protobuf_c_message_unpack(
        &onnx__tensor_proto__descriptor, &pa, m.size, m.data);
    mk_file_unmap(&m);
    if (!t) return mk_err_set(err, MK_EINVAL, "%s: not a TensorProto", path);
    mk_status st = MK_OK;
    mk_program *tmp = mk_ir_program_new(a, 6);
    ox_ctx c;
    memset(&c, 0, sizeof c);
    c.p = tmp;
    c.err = err;
    c.file = path;
    ox_val v;
    memset(&v, 0, sizeof v);
    if (!tmp)
        st = MK_OOM(err);
    else
        st = mk_onnx_tensor(&c, t, &v);
    if (st == MK_OK) {
        size_t numel = mk_onnx_numel(&v.type);
        out->rank = v.type.rank;
        for (int i = 0; i < v.type.rank; i++) out->dims[i] = v.type.dims[i];
        out->dtype = v.type.dtype == MK_DT_INT64 ? MK_DT_INT32 : v.type.dtype;
        size_t es = out->dtype == MK_DT_BOOL ? 1 : 4;
        out->nbytes = numel * es;
        const char *nm = t->name ? t->name : "";
        out->data = mk_malloc(a, out->nbytes ? out->nbytes : 1);
        out->name = mk_malloc(a, strlen(nm) + 1);
        if (out->name) strcpy(out->name, nm); /* mk_tensor_free reads its length */
        if (!out->data || !out->name) {
            mk_tensor_free(out);
            memset(out, 0, sizeof *out);
            st = MK_OOM(err);
        } else {
            if (v.type.dtype == MK_DT_INT64) {
                for (size_t i = 0; i < numel; i++) {
                    int64_t x = ((const int64_t *)v.data)[i];
                    int32_t y = x > INT32_MAX ? INT32_MAX : x < INT32_MIN ? INT32_MIN : (int32_t)x;
                    memcpy((char *)out->data + 4 * i, &y, 4);
                }
            } else if (out->nbytes) {
                memcpy(out->data, v.data, out->nbytes);
            }
        }
    }
    mk_ir_program_free(tmp);
    protobuf_c_message_free_unpacked(&t->base, &pa);
    return st;
}
