/* NumPy .npz archives through libzip: read every "<name>.npy" member (stored or deflated) and
 * write one stored member per tensor, as numpy.savez does. Members that are not .npy files
 * are an error naming the archive and member. The .npy codec itself is in npy.c. */
#include <string.h>
#include <zip.h>

#include "base.h"

mk_status mk_npz_read(const char *path, mk_tensor_list *out, mk_err *err)
{
    memset(out, 0, sizeof *out);
    int zerr = 0;
    zip_t *za = zip_open(path, ZIP_RDONLY, &zerr);
    if (!za) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        mk_err_set(err, zerr == ZIP_ER_NOENT || zerr == ZIP_ER_OPEN ? MK_EIO : MK_EINVAL,
                   "%s: not a readable .npz archive: %s", path, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return err ? err->code : MK_EINVAL;
    }
    mk_status st = MK_OK;
    zip_int64_t n = zip_get_num_entries(za, 0);
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
        if (nl <= 4 || strcmp(zs.name + nl - 4, ".npy") != 0) {
            st = mk_err_set(err, MK_EINVAL, "%s: member is not a .npy file", label);
            break;
        }
        if (zs.size > (zip_uint64_t)1 << 40) {
            st = mk_err_set(err, MK_EINVAL, "%s: member too large", label);
            break;
        }
        size_t sz = (size_t)zs.size;
        unsigned char *buf = mk_malloc(NULL, sz);
        zip_file_t *zf = buf ? zip_fopen_index(za, (zip_uint64_t)i, 0) : NULL;
        if (!buf) {
            st = MK_OOM(err);
        } else if (!zf) {
            st = mk_err_set(err, MK_EINVAL, "%s: cannot open member: %s", label, zip_strerror(za));
        } else {
            zip_int64_t got = zip_fread(zf, buf, sz);
            zip_fclose(zf);
            if (got < 0 || (size_t)got != sz) {
                st = mk_err_set(err, MK_EINVAL, "%s: truncated or corrupt member", label);
            } else {
                mk_tensor t;
                st = mk_npy_parse(buf, sz, label, &t, err);
                if (st == MK_OK) {
                    t.name = mk_malloc(NULL, nl - 3);
                    if (!t.name) {
                        mk_tensor_free(&t);
                        st = MK_OOM(err);
                    } else {
                        memcpy(t.name, zs.name, nl - 4);
                        t.name[nl - 4] = 0;
                        st = mk_tensor_list_push(out, &t, err);
                    }
                }
            }
        }
        mk_free(NULL, buf, sz);
    }
    zip_discard(za);
    if (st) mk_tensor_list_free(out);
    return st;
}

mk_status mk_npz_write(const char *path, const mk_tensor_list *l, mk_err *err)
{
    int zerr = 0;
    zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    if (!za) return mk_err_set(err, MK_EIO, "%s: cannot create .npz archive", path);
    mk_buf *bufs = mk_calloc(NULL, (size_t)(l->n ? l->n : 1), sizeof *bufs);
    if (!bufs) {
        zip_discard(za);
        return MK_OOM(err);
    }
    mk_status st = MK_OK;
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
            st = mk_err_set(err, MK_EIO, "%s: cannot write .npz: %s", path, zip_strerror(za));
            zip_discard(za);
        }
    } else {
        zip_discard(za);
    }
    for (int i = 0; i < l->n; i++) mk_buf_free(&bufs[i]);
    mk_free(NULL, bufs, (size_t)(l->n ? l->n : 1) * sizeof *bufs);
    if (st) mk_err_prefix(err, "%s: ", path);
    return st;
}
