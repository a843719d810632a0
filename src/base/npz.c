/* NumPy .npz archives through libzip: each "<name>.npy" member (stored or deflated) has its
 * header read and shown to the caller's filter before any of its data is decoded, so a member
 * declaring gigabytes is refused or skipped for the price of its header; an accepted member is
 * read into one buffer of exactly its declared size. Writing makes one stored member per
 * tensor, as numpy.savez does, into a temp file renamed over the output when complete. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

#include "base.h"

#define NPY_HEADER_MAX (1u << 20)

/* Read exactly n bytes of a member; 0 when it ends early or fails. */
static int read_n(zip_file_t *zf, void *p, size_t n)
{
    unsigned char *c = p;
    while (n) {
        zip_int64_t got = zip_fread(zf, c, n);
        if (got <= 0) return 0;
        c += got;
        n -= (size_t)got;
    }
    return 1;
}

/* The member's .npy header: hdr (dims, dtype, nbytes) and the bytes before the data. */
static mk_status read_header(zip_file_t *zf, zip_uint64_t size, const char *label, mk_tensor *hdr,
                             size_t *data_off, mk_err *err)
{
    unsigned char pre[12];
    if (size < 10 || !read_n(zf, pre, 10) || memcmp(pre, "\x93NUMPY", 6) != 0)
        return mk_err_set(err, MK_EINVAL, "%s: not a .npy file", label);
    if (pre[6] < 1 || pre[6] > 3) return mk_npy_header(pre, 10, label, hdr, data_off, err);
    size_t pn = pre[6] == 1 ? 10 : 12, hoff = pn, hlen;
    if (pn == 12 && (size < 12 || !read_n(zf, pre + 10, 2)))
        return mk_err_set(err, MK_EINVAL, "%s: truncated .npy header", label);
    hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
    if (pn == 12) hlen |= (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    if (hlen > NPY_HEADER_MAX || hoff + hlen > size)
        return mk_err_set(err, MK_EINVAL, "%s: truncated or oversized .npy header", label);
    unsigned char *h = mk_malloc(NULL, hoff + hlen);
    if (!h) return MK_OOM(err);
    memcpy(h, pre, pn);
    mk_status st = MK_OK;
    if (!read_n(zf, h + pn, hoff + hlen - pn))
        st = mk_err_set(err, MK_EINVAL, "%s: truncated or corrupt member", label);
    else
        st = mk_npy_header(h, hoff + hlen, label, hdr, data_off, err);
    mk_free(NULL, h, hoff + hlen);
    return st;
}

static mk_status read_member(zip_t *za, zip_uint64_t i, const zip_stat_t *zs, const char *label,
                             int n_members, mk_tensor_filter f, void *ud, mk_tensor_list *out,
                             mk_err *err)
{
    size_t nl = strlen(zs->name);
    zip_file_t *zf = zip_fopen_index(za, i, 0);
    if (!zf)
        return mk_err_set(err, MK_EINVAL, "%s: cannot open member: %s", label, zip_strerror(za));
    mk_tensor t;
    size_t off = 0;
    mk_status st = read_header(zf, zs->size, label, &t, &off, err);
    if (!st && t.nbytes > zs->size - off)
        st = mk_err_set(err, MK_EINVAL, "%s: truncated .npy data (%llu of %zu bytes)", label,
                        (unsigned long long)(zs->size - off), t.nbytes);
    if (!st && !(t.name = mk_malloc(NULL, nl - 3))) st = MK_OOM(err);
    if (st) {
        zip_fclose(zf);
        return st;
    }
    memcpy(t.name, zs->name, nl - 4);
    t.name[nl - 4] = 0;
    int skip = 0;
    if (f && (st = f(ud, &t, n_members, &skip, err)) != MK_OK) mk_err_prefix(err, "%s: ", label);
    if (f && !st && !skip)
        if (!t.data && !(t.data = mk_malloc(NULL, t.nbytes)))
            st = mk_err_set(err, MK_ENOMEM, "%s: %s", label, mk_oom_reason());
    if (!f && !(t.data = mk_malloc(NULL, t.nbytes)))
        st = mk_err_set(err, MK_ENOMEM, "%s: %s", label, mk_oom_reason());
    if (!st && !skip && !read_n(zf, t.data, t.nbytes) && t.nbytes)
        st = mk_err_set(err, MK_EINVAL, "%s: truncated or corrupt member", label);
    zip_fclose(zf);
    if (st || skip) {
        mk_tensor_free(&t);
        return st;
    }
    mk_npy_fix_bool(&t);
    return mk_tensor_list_push(out, &t, err);
}

static mk_status read_archive(zip_t *za, const char *path, mk_tensor_filter f, void *ud,
                              mk_tensor_list *out, mk_err *err)
{
    mk_status st = MK_OK;
    zip_int64_t n = zip_get_num_entries(za, 0);
    int n_members = 0;
    for (zip_int64_t i = 0; i < n; i++) {
        const char *nm = zip_get_name(za, (zip_uint64_t)i, 0);
        if (nm && *nm && nm[strlen(nm) - 1] != '/') n_members++;
    }
    for (zip_int64_t i = 0; i < n && st == MK_OK; i++) {
        zip_stat_t zs;
        if (zip_stat_index(za, (zip_uint64_t)i, 0, &zs) != 0 || !(zs.valid & ZIP_STAT_NAME) ||
            !(zs.valid & ZIP_STAT_SIZE)) {
            st = mk_err_set(err, MK_EINVAL, "%s: unreadable member %lld", path, (long long)i);
            break;
        }
        size_t nl = strlen(zs.name);
        if (nl && zs.name[nl - 1] == '/') continue; /* directory entry */
        char label[1200];
        snprintf(label, sizeof label, "%s:%s", path, zs.name);
        if (nl <= 4 || strcmp(zs.name + nl - 4, ".npy") != 0)
            st = mk_err_set(err, MK_EINVAL, "%s: member is not a .npy file", label);
        else
            st = read_member(za, (zip_uint64_t)i, &zs, label, n_members, f, ud, out, err);
    }
    zip_discard(za);
    if (st) mk_tensor_list_free(out);
    return st;
}

static mk_status open_failed(const char *path, int zerr, mk_err *err)
{
    zip_error_t ze;
    zip_error_init_with_code(&ze, zerr);
    mk_err_set(err, zerr == ZIP_ER_NOENT || zerr == ZIP_ER_OPEN ? MK_EIO : MK_EINVAL,
               "%s: not a readable .npz archive: %s", path, zip_error_strerror(&ze));
    zip_error_fini(&ze);
    return err ? err->code : MK_EINVAL;
}

mk_status mk_npz_read_filtered(const char *path, mk_tensor_filter f, void *ud, mk_tensor_list *out,
                               mk_err *err)
{
    memset(out, 0, sizeof *out);
    int fd = mk_open_regular(path, err);
    if (fd < 0) return err ? err->code : MK_EIO;
    int zerr = 0;
    zip_t *za = zip_fdopen(fd, ZIP_RDONLY, &zerr);
    if (!za) {
        close(fd);
        return open_failed(path, zerr, err);
    }
    return read_archive(za, path, f, ud, out, err);
}

mk_status mk_npz_read(const char *path, mk_tensor_list *out, mk_err *err)
{
    return mk_npz_read_filtered(path, NULL, NULL, out, err);
}

mk_status mk_npz_read_mem(const void *data, size_t n, const char *label, mk_tensor_filter f,
                          void *ud, mk_tensor_list *out, mk_err *err)
{
    memset(out, 0, sizeof *out);
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(data, n, 0, &ze);
    zip_t *za = src ? zip_open_from_source(src, ZIP_RDONLY, &ze) : NULL;
    if (!za) {
        int code = zip_error_code_zip(&ze);
        zip_error_fini(&ze);
        if (src) zip_source_free(src);
        return open_failed(label, code, err);
    }
    zip_error_fini(&ze);
    return read_archive(za, label, f, ud, out, err);
}

mk_status mk_npz_write(const char *path, const mk_tensor_list *l, mk_err *err)
{
    char tmp[4096];
    mk_status st = mk_tempfile_beside(path, tmp, sizeof tmp, err);
    if (st) return st;
    int zerr = 0;
    zip_t *za = zip_open(tmp, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    if (!za) {
        mk_temp_discard(tmp);
        return mk_err_set(err, MK_EIO, "%s: cannot create .npz archive", path);
    }
    mk_buf *bufs = mk_calloc(NULL, (size_t)(l->n ? l->n : 1), sizeof *bufs);
    if (!bufs) {
        zip_discard(za);
        mk_temp_discard(tmp);
        return MK_OOM(err);
    }
    for (int i = 0; i < l->n && st == MK_OK; i++) {
        const mk_tensor *t = &l->items[i];
        char member[1100];
        snprintf(member, sizeof member, "%s.npy", t->name && *t->name ? t->name : "arr");
        mk_buf_init(&bufs[i], NULL);
        st = mk_npy_encode(t, &bufs[i], err);
        if (st) break;
        zip_source_t *src = zip_source_buffer(za, bufs[i].data, bufs[i].len, 0);
        zip_int64_t idx = src ? zip_file_add(za, member, src, ZIP_FL_ENC_UTF_8) : -1;
        if (idx < 0) {
            if (src) zip_source_free(src);
            st = mk_err_set(err, MK_EIO, "%s: cannot add %s: %s", path, member, zip_strerror(za));
        } else {
            zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0);
        }
    }
    if (st == MK_OK) {
        if (zip_close(za) != 0) {
            st = mk_err_set(err, MK_EIO, "%s: cannot write .npz: %s", path,
                            zip_error_strerror(zip_get_error(za)));
            zip_discard(za);
        }
    } else {
        zip_discard(za);
    }
    for (int i = 0; i < l->n; i++) mk_buf_free(&bufs[i]);
    mk_free(NULL, bufs, (size_t)(l->n ? l->n : 1) * sizeof *bufs);
    if (!st) st = mk_file_commit(tmp, path, err);
    if (st) {
        mk_temp_discard(tmp);
        mk_err_prefix(err, "%s: ", path);
    }
    return st;
}
