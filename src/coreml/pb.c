/* Shared helpers of the Core ML reader and writer: protobuf-c allocation routed through the
 * mk_allocator hook, a schema-aware nesting-depth guard run before unpacking untrusted
 * bytes, and the MIL dtype <-> blob-storage dtype code table. No file I/O here. */
#include <string.h>

#include "coreml_int.h"

/* protobuf-c frees without a size; keep it in a header so the hook gets exact sizes. */
#define HDR 16

static void *pb_alloc(void *ud, size_t n)
{
    mk_ml_pballoc *a = ud;
    size_t all;
    if (!mk_add_size(n, HDR, &all)) {
        a->oom = 1;
        return NULL;
    }
    unsigned char *p = mk_malloc(a->alloc, all);
    if (!p) {
        a->oom = 1;
        return NULL;
    }
    memcpy(p, &all, sizeof all);
    return p + HDR;
}

static void pb_free(void *ud, void *ptr)
{
    mk_ml_pballoc *a = ud;
    if (!ptr) return;
    unsigned char *p = (unsigned char *)ptr - HDR;
    size_t all;
    memcpy(&all, p, sizeof all);
    mk_free(a->alloc, p, all);
}

void mk_ml_pballoc_init(mk_ml_pballoc *a, const mk_allocator *alloc)
{
    a->alloc = alloc ? alloc : mk_alloc_default();
    a->oom = 0;
    a->pb.alloc = pb_alloc;
    a->pb.free = pb_free;
    a->pb.allocator_data = a;
}

static int get_varint(const uint8_t *p, size_t n, size_t *pos, uint64_t *v)
{
    uint64_t r = 0;
    for (int sh = 0; sh < 64; sh += 7) {
        if (*pos >= n) return 0;
        uint8_t b = p[(*pos)++];
        r |= (uint64_t)(b & 0x7f) << sh;
        if (!(b & 0x80)) {
            *v = r;
            return 1;
        }
    }
    return 0;
}

static int depth_walk(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t n, int depth,
                      int max_depth)
{
    if (depth > max_depth) return 0;
    size_t pos = 0;
    while (pos < n) {
        uint64_t tag, v;
        if (!get_varint(p, n, &pos, &tag)) return 1;
        switch (tag & 7) {
        case 0:
            if (!get_varint(p, n, &pos, &v)) return 1;
            break;
        case 1:
            if (n - pos < 8) return 1;
            pos += 8;
            break;
        case 5:
            if (n - pos < 4) return 1;
            pos += 4;
            break;
        case 2: {
            if (!get_varint(p, n, &pos, &v) || v > n - pos) return 1;
            uint64_t field = tag >> 3;
            const ProtobufCFieldDescriptor *f =
                field <= 0x1fffffff ? protobuf_c_message_descriptor_get_field(desc, (unsigned)field)
                                    : NULL;
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
                !depth_walk(f->descriptor, p + pos, (size_t)v, depth + 1, max_depth))
                return 0;
            pos += (size_t)v;
            break;
        }
        default: return 1;
        }
    }
    return 1;
}

int mk_ml_depth_ok(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t n,
                   int max_depth)
{
    return depth_walk(desc, buf, n, 0, max_depth);
}

static const struct {
    mk_dtype t;
    unsigned code;
    const char *name;
} blob_codes[] = {
    {MK_DT_FP16, 1, "fp16"},     {MK_DT_FP32, 2, "fp32"},    {MK_DT_UINT8, 3, "uint8"},
    {MK_DT_INT8, 4, "int8"},     {MK_DT_BF16, 5, "bf16"},    {MK_DT_INT16, 6, "int16"},
    {MK_DT_UINT16, 7, "uint16"}, {MK_DT_INT4, 8, "int4"},    {MK_DT_UINT1, 9, "uint1"},
    {MK_DT_UINT2, 10, "uint2"},  {MK_DT_UINT4, 11, "uint4"}, {MK_DT_UINT3, 12, "uint3"},
    {MK_DT_UINT6, 13, "uint6"},  {MK_DT_INT32, 14, "int32"}, {MK_DT_UINT32, 15, "uint32"},
};

unsigned mk_ml_blob_code(mk_dtype t)
{
    for (size_t i = 0; i < sizeof blob_codes / sizeof *blob_codes; i++)
        if (blob_codes[i].t == t) return blob_codes[i].code;
    return 0;
}

const char *mk_ml_blob_code_name(unsigned code)
{
    for (size_t i = 0; i < sizeof blob_codes / sizeof *blob_codes; i++)
        if (blob_codes[i].code == code) return blob_codes[i].name;
    if (code == 16) return "fp8e4m3fn";
    if (code == 17) return "fp8e5m2";
    return "unknown";
}
