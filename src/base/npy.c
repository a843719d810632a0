/* NumPy .npy tensors: parse and encode versions 1.0, 2.0 and 3.0, little-endian, C order,
 * dtypes <f4 <f2 <f8 <i4 <i8 |i1 |u1 |b1 (and |S<n> strings, encode only). Big-endian, Fortran
 * order, object and structured dtypes are refused with one line naming the file. Also frees tensor
 * lists (mk_tensor data is owned through the default allocator). .npz archives are in npz.c. */
#include <stdlib.h>
#include <string.h>

#include "base.h"

static const struct {
    const char *code; /* without the byte-order character */
    int dtype, size;
} dtypes[] = {
    {"f4", 11, 4}, {"f2", 10, 2}, {"f8", 12, 8}, {"i4", 23, 4}, {"i8", 24, 8},
    {"i1", 21, 1}, {"u1", 31, 1}, {"b1", 1, 1},  {"i2", 22, 2}, {"u2", 32, 2},
};

int mk_npy_dtype_size(int dtype)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (dtypes[i].dtype == dtype) return dtypes[i].size;
    return 0;
}

static const char *skip_ws(const char *s, const char *end)
{
    while (s < end && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) s++;
    return s;
}

/* Parse the header dict text [s, end). Returns 0 with a reason on failure. */
static int parse_header(const char *s, const char *end, int *dtype, int *rank, int64_t *dims,
                        const char **why)
{
    int have_descr = 0, have_shape = 0, fortran = 0;
    s = skip_ws(s, end);
    if (s >= end || *s != '{') return *why = "header is not a dict", 0;
    s++;
    for (;;) {
        s = skip_ws(s, end);
        if (s < end && *s == '}') break;
        if (s >= end || (*s != '\'' && *s != '"')) return *why = "malformed header", 0;
        char q = *s++;
        const char *k = s;
        while (s < end && *s != q) s++;
        if (s >= end) return *why = "malformed header", 0;
        size_t kn = (size_t)(s - k);
        s = skip_ws(s + 1, end);
        if (s >= end || *s != ':') return *why = "malformed header", 0;
        s = skip_ws(s + 1, end);
        if (kn == 5 && memcmp(k, "descr", 5) == 0) {
            if (s >= end || (*s != '\'' && *s != '"')) return *why = "unsupported dtype", 0;
            char q2 = *s++;
            const char *d = s;
            while (s < end && *s != q2) s++;
            if (s >= end) return *why = "malformed header", 0;
            size_t dn = (size_t)(s - d);
            s++;
            if (dn < 2 || (d[0] != '<' && d[0] != '|' && d[0] != '=')) {
                return *why = dn && d[0] == '>' ? "big-endian data is not supported"
                                                : "unsupported dtype",
                       0;
            }
            *dtype = 0;
            for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
                if (strlen(dtypes[i].code) == dn - 1 && memcmp(d + 1, dtypes[i].code, dn - 1) == 0)
                    *dtype = dtypes[i].dtype;
            if (!*dtype) return *why = "unsupported dtype", 0;
            have_descr = 1;
        } else if (kn == 13 && memcmp(k, "fortran_order", 13) == 0) {
            if (end - s >= 4 && memcmp(s, "True", 4) == 0) {
                fortran = 1;
                s += 4;
            } else if (end - s >= 5 && memcmp(s, "False", 5) == 0) {
                s += 5;
            } else {
                return *why = "malformed fortran_order", 0;
            }
        } else if (kn == 5 && memcmp(k, "shape", 5) == 0) {
            if (s >= end || *s != '(') return *why = "malformed shape", 0;
            s++;
            *rank = 0;
            for (;;) {
                s = skip_ws(s, end);
                if (s < end && *s == ')') break;
                if (s >= end || *s < '0' || *s > '9') return *why = "malformed shape", 0;
                int64_t v = 0;
                while (s < end && *s >= '0' && *s <= '9') {
                    if (v > (INT64_MAX - 9) / 10) return *why = "absurd shape", 0;
                    v = v * 10 + (*s++ - '0');
                }
                if (*rank >= 8) return *why = "rank above 8", 0;
                dims[(*rank)++] = v;
                s = skip_ws(s, end);
                if (s < end && *s == ',') s++;
            }
            s++;
            have_shape = 1;
        } else {
            return *why = "unknown header key", 0;
        }
        s = skip_ws(s, end);
        if (s < end && *s == ',') s++;
    }
    if (fortran) return *why = "fortran_order arrays are not supported", 0;
    if (!have_descr || !have_shape) return *why = "header lacks descr or shape", 0;
    return 1;
}

mk_status mk_npy_header(const void *buf, size_t n, const char *label, mk_tensor *hdr,
                        size_t *data_off, mk_err *err)
{
    const unsigned char *b = buf;
    memset(hdr, 0, sizeof *hdr);
    if (n < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
        return mk_err_set(err, MK_EINVAL, "%s: not a .npy file", label);
    int major = b[6];
    size_t hlen, hoff;
    if (major == 1) {
        hlen = (size_t)b[8] | (size_t)b[9] << 8;
        hoff = 10;
    } else if (major == 2 || major == 3) {
        if (n < 12) return mk_err_set(err, MK_EINVAL, "%s: truncated .npy header", label);
        hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        hoff = 12;
    } else {
        return mk_err_set(err, MK_EUNSUPPORTED, "%s: unsupported .npy version %d", label, major);
    }
    if (hlen > n - hoff) return mk_err_set(err, MK_EINVAL, "%s: truncated .npy header", label);
    int dtype = 0, rank = 0;
    int64_t dims[8] = {0};
    const char *why = "";
    const char *h = (const char *)b + hoff;
    if (!parse_header(h, h + hlen, &dtype, &rank, dims, &why))
        return mk_err_set(err, MK_EINVAL, "%s: bad .npy header: %s", label, why);
    size_t numel = 1, nbytes;
    for (int i = 0; i < rank; i++)
        if (!mk_mul_size(numel, (size_t)dims[i], &numel))
            return mk_err_set(err, MK_EINVAL, "%s: absurd .npy shape", label);
    if (!mk_mul_size(numel, (size_t)mk_npy_dtype_size(dtype), &nbytes))
        return mk_err_set(err, MK_EINVAL, "%s: absurd .npy shape", label);
    hdr->dtype = dtype;
    hdr->rank = rank;
    memcpy(hdr->dims, dims, sizeof dims);
    hdr->nbytes = nbytes;
    *data_off = hoff + hlen;
    return MK_OK;
}

void mk_npy_fix_bool(mk_tensor *t)
{
    if (t->dtype == 1)
        for (size_t i = 0; i < t->nbytes; i++)
            ((unsigned char *)t->data)[i] = ((unsigned char *)t->data)[i] != 0;
}

mk_status mk_npy_parse(const void *buf, size_t n, const char *label, mk_tensor *out, mk_err *err)
{
    size_t off;
    mk_status st = mk_npy_header(buf, n, label, out, &off, err);
    if (st) return st;
    size_t avail = n - off, nbytes = out->nbytes;
    if (nbytes > avail) {
        memset(out, 0, sizeof *out);
        return mk_err_set(err, MK_EINVAL, "%s: truncated .npy data (%zu of %zu bytes)", label,
                          avail, nbytes);
    }
    void *data = mk_malloc(NULL, nbytes);
    if (!data) {
        memset(out, 0, sizeof *out);
        return mk_err_set(err, MK_ENOMEM, "%s: %s", label, mk_oom_reason());
    }
    if (nbytes) memcpy(data, (const unsigned char *)buf + off, nbytes);
    out->data = data;
    mk_npy_fix_bool(out);
    return MK_OK;
}

mk_status mk_npy_encode(const mk_tensor *t, mk_buf *b, mk_err *err)
{
    const char *code = NULL;
    int size = 0;
    char scode[32];
    if (t->dtype == 2) { /* strings: fixed-width bytes, |S<width> (width = nbytes / numel) */
        size_t numel = 1;
        for (int i = 0; i < t->rank && i < 8; i++) numel *= t->dims[i] > 0 ? (size_t)t->dims[i] : 0;
        if (numel && t->nbytes % numel == 0 && t->nbytes / numel <= 1u << 20) {
            snprintf(scode, sizeof scode, "S%zu", t->nbytes / numel);
            code = scode;
            size = (int)(t->nbytes / numel);
        }
    }
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (dtypes[i].dtype == t->dtype) {
            code = dtypes[i].code;
            size = dtypes[i].size;
        }
    if (!code || t->rank < 0 || t->rank > 8)
        return mk_err_set(err, MK_EUNSUPPORTED, "%s: cannot write dtype %d as .npy",
                          t->name ? t->name : "tensor", t->dtype);
    size_t numel = 1, nbytes;
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] < 0 || !mk_mul_size(numel, (size_t)t->dims[i], &numel))
            return mk_err_set(err, MK_EINVAL, "%s: bad shape", t->name ? t->name : "tensor");
    if (!mk_mul_size(numel, (size_t)size, &nbytes) || nbytes > t->nbytes)
        return mk_err_set(err, MK_EINVAL, "%s: data smaller than its shape",
                          t->name ? t->name : "tensor");
    char hdr[512];
    int hn = snprintf(hdr, sizeof hdr, "{'descr': '%c%s', 'fortran_order': False, 'shape': (",
                      size == 1 || t->dtype == 2 ? '|' : '<', code);
    for (int i = 0; i < t->rank; i++)
        hn += snprintf(hdr + hn, sizeof hdr - (size_t)hn, "%lld%s", (long long)t->dims[i],
                       t->rank == 1 || i + 1 < t->rank ? ", " : "");
    if (t->rank == 1) hn -= 1; /* "(3,)" */
    hn += snprintf(hdr + hn, sizeof hdr - (size_t)hn, "), }");
    size_t total = 10 + (size_t)hn + 1, pad = (64 - total % 64) % 64;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    size_t hl = (size_t)hn + pad + 1;
    pre[8] = (unsigned char)(hl & 0xff);
    pre[9] = (unsigned char)(hl >> 8);
    int ok = mk_buf_append(b, pre, 10) && mk_buf_append(b, hdr, (size_t)hn);
    for (size_t i = 0; ok && i < pad; i++) ok = mk_buf_append(b, " ", 1);
    ok = ok && mk_buf_append(b, "\n", 1) && mk_buf_append(b, t->data, nbytes);
    return ok ? MK_OK : MK_OOM(err);
}

/* The file's base name without directory and .npy extension, for a tensor name. */
static char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    s = s ? s + 1 : path;
    size_t n = strlen(s);
    if (n > 4 && strcmp(s + n - 4, ".npy") == 0) n -= 4;
    char *r = mk_malloc(NULL, n + 1);
    if (r) {
        memcpy(r, s, n);
        r[n] = 0;
    }
    return r;
}

mk_status mk_npy_read(const char *path, mk_tensor *out, mk_err *err)
{
    mk_mapped m;
    memset(out, 0, sizeof *out);
    mk_status st = mk_file_map(path, &m, err);
    if (st) return st;
    st = mk_npy_parse(m.data, m.size, path, out, err);
    mk_file_unmap(&m);
    if (st) return st;
    if (!(out->name = base_name(path))) {
        mk_free(NULL, out->data, out->nbytes);
        out->data = NULL;
        return MK_OOM(err);
    }
    return MK_OK;
}

mk_status mk_npy_write(const char *path, const mk_tensor *t, mk_err *err)
{
    mk_buf b;
    mk_buf_init(&b, NULL);
    mk_status st = mk_npy_encode(t, &b, err);
    if (st == MK_OK) st = mk_file_replace(path, b.data, b.len, err);
    mk_buf_free(&b);
    if (st) mk_err_prefix(err, "%s: ", path);
    return st;
}

void mk_tensor_free(mk_tensor *t)
{
    if (!t) return;
    if (t->name) mk_free(NULL, t->name, strlen(t->name) + 1);
    if (t->data) mk_free(NULL, t->data, t->nbytes);
    memset(t, 0, sizeof *t);
}

void mk_tensor_list_free(mk_tensor_list *l)
{
    if (!l) return;
    for (int i = 0; i < l->n; i++) mk_tensor_free(&l->items[i]);
    mk_free(NULL, l->items, (size_t)l->n * sizeof *l->items);
    l->items = NULL;
    l->n = 0;
}

mk_status mk_tensor_list_push(mk_tensor_list *l, mk_tensor *t, mk_err *err)
{
    mk_tensor *ni =
        mk_realloc(NULL, l->items, (size_t)l->n * sizeof *ni, (size_t)(l->n + 1) * sizeof *ni);
    if (!ni) {
        mk_tensor_free(t);
        return MK_OOM(err);
    }
    l->items = ni;
    l->items[l->n++] = *t;
    memset(t, 0, sizeof *t);
    return MK_OK;
}

char *mk_strdup_default(const char *s)
{
    size_t n = strlen(s);
    char *r = mk_malloc(NULL, n + 1);
    if (r) memcpy(r, s, n + 1);
    return r;
}
