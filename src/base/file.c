/* File helpers: whole-file mmap, whole-file write, and the temp-dir-then-rename dance that
 * keeps package writes atomic (nothing half-written is ever left at the output path). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base.h"

static mk_status map_file(const char *path, int populate, mk_mapped *m, mk_err *e)
{
    m->data = NULL;
    m->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return mk_err_set(e, MK_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return mk_err_set(e, MK_EIO, "%s: not a regular file", path);
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | populate, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return mk_err_set(e, MK_EIO, "%s: cannot map: %s", path, strerror(errno));
        }
        m->data = p;
        m->size = (size_t)st.st_size;
    }
    close(fd);
    return MK_OK;
}

mk_status mk_file_map(const char *path, mk_mapped *m, mk_err *e)
{
    return map_file(path, 0, m, e);
}

mk_status mk_file_map_all(const char *path, mk_mapped *m, mk_err *e)
{
    return map_file(path, MAP_POPULATE, m, e);
}

void mk_file_unmap(mk_mapped *m)
{
    if (m->data) munmap((void *)m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

/* Big buffers that will be filled whole ask for transparent huge pages (one fault per 2 MB
 * instead of per 4 KB: about half the cost of first touching 64 MB here), populated through
 * MADV_POPULATE_WRITE so that it happens after the advice. Lazily touched buffers keep small
 * pages, so what they hold is what they cost. */
int mk_anon_map(size_t n, int populate, mk_mapped *m)
{
    memset(m, 0, sizeof *m);
    int huge = 0, flags = MAP_PRIVATE | MAP_ANONYMOUS;
#if defined(MADV_HUGEPAGE) && defined(MADV_POPULATE_WRITE)
    huge = populate && n >= ((size_t)4 << 20);
#endif
    if (populate && !huge) flags |= MAP_POPULATE;
    void *d = mmap(NULL, n ? n : 1, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (d == MAP_FAILED) return 0;
#if defined(MADV_HUGEPAGE) && defined(MADV_POPULATE_WRITE)
    if (huge) {
        (void)madvise(d, n, MADV_HUGEPAGE);
        (void)madvise(d, n, MADV_POPULATE_WRITE);
    }
#endif
    m->data = d;
    m->size = n ? n : 1;
    m->anon = 1;
    return 1;
}

void mk_file_release(const void *p, size_t n)
{
    long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0 || n < 2 * (size_t)pg) return;
    uintptr_t a = ((uintptr_t)p + (uintptr_t)pg - 1) & ~(uintptr_t)(pg - 1);
    uintptr_t b = ((uintptr_t)p + n) & ~(uintptr_t)(pg - 1);
    if (b > a) (void)madvise((void *)a, (size_t)(b - a), MADV_DONTNEED);
}

mk_status mk_file_write_all(const char *path, const void *p, size_t n, mk_err *e)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return mk_err_set(e, MK_EIO, "%s: cannot create: %s", path, strerror(errno));
    const unsigned char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            int er = errno;
            close(fd);
            return mk_err_set(e, MK_EIO, "%s: write failed: %s", path, strerror(er));
        }
        c += w;
        n -= (size_t)w;
    }
    if (close(fd) != 0) return mk_err_set(e, MK_EIO, "%s: close failed: %s", path, strerror(errno));
    return MK_OK;
}

int mk_path_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int mk_path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

int mk_rmtree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode)) return unlink(path);
    DIR *d = opendir(path);
    if (!d) return -1;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char *sub;
        if (asprintf(&sub, "%s/%s", path, de->d_name) < 0) {
            rc = -1;
            break;
        }
        if (mk_rmtree(sub) != 0) rc = -1;
        free(sub);
    }
    closedir(d);
    if (rmdir(path) != 0) rc = -1;
    return rc;
}

mk_status mk_tempdir_beside(const char *final_path, char *out, size_t out_n, mk_err *e)
{
    size_t len = strlen(final_path);
    while (len > 1 && final_path[len - 1] == '/') len--;
    int n = snprintf(out, out_n, "%.*s.tmp-XXXXXX", (int)len, final_path);
    if (n < 0 || (size_t)n >= out_n)
        return mk_err_set(e, MK_EINVAL, "%s: path too long", final_path);
    if (!mkdtemp(out))
        return mk_err_set(e, MK_EIO, "%s: cannot create temp dir: %s", out, strerror(errno));
    chmod(out, 0755);
    return MK_OK;
}

mk_status mk_dir_commit(const char *tmp, const char *final_path, mk_err *e)
{
    if (rename(tmp, final_path) == 0) return MK_OK;
    if (errno != ENOTEMPTY && errno != EEXIST && errno != ENOTDIR && errno != EISDIR)
        return mk_err_set(e, MK_EIO, "%s: cannot rename into place: %s", final_path,
                          strerror(errno));
    /* replace an existing output: move it aside first, then drop it */
    char old[4096];
    int n = snprintf(old, sizeof old, "%s.old-XXXXXX", tmp);
    if (n < 0 || (size_t)n >= sizeof old || !mkdtemp(old))
        return mk_err_set(e, MK_EIO, "%s: cannot make room: %s", final_path, strerror(errno));
    rmdir(old);
    if (rename(final_path, old) != 0)
        return mk_err_set(e, MK_EIO, "%s: cannot move old output aside: %s", final_path,
                          strerror(errno));
    if (rename(tmp, final_path) != 0) {
        int er = errno;
        rename(old, final_path);
        return mk_err_set(e, MK_EIO, "%s: cannot rename into place: %s", final_path, strerror(er));
    }
    mk_rmtree(old);
    return MK_OK;
}
