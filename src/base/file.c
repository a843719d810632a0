/* File helpers: whole-file mmap of regular files only (a FIFO or device is refused before a
 * byte is read), and the temp-then-rename writes that keep outputs atomic: temp names carry
 * the writer's pid so the next writer removes those of dead ones, temp paths are removed on
 * SIGINT/SIGTERM/SIGHUP, everything is fsynced before the rename, and a directory replaces
 * another with one renameat2(RENAME_EXCHANGE) so the output path never goes missing. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base.h"

int mk_open_regular(const char *path, mk_err *e)
{
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        mk_err_set(e, MK_EIO, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int er = errno;
        close(fd);
        mk_err_set(e, MK_EIO, "%s: cannot stat: %s", path, strerror(er));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        int dir = S_ISDIR(st.st_mode);
        close(fd);
        mk_err_set(e, MK_EIO, "%s: not a regular file (%s)", path,
                   dir ? "a directory" : "a FIFO, socket or device");
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

static mk_status map_file(const char *path, int populate, mk_mapped *m, mk_err *e)
{
    memset(m, 0, sizeof *m); /* a file map is never anon nor borrowed, whatever the caller held */
    int fd = mk_open_regular(path, e);
    if (fd < 0) return e ? e->code : MK_EIO;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return mk_err_set(e, MK_EIO, "%s: cannot stat: %s", path, strerror(errno));
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
    if (m->data && m->anon) mk_mem_unreserve(m->size);
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
    if (!mk_mem_reserve(n ? n : 1)) return 0;
    void *d = mmap(NULL, n ? n : 1, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (d == MAP_FAILED) {
        mk_mem_unreserve(n ? n : 1);
        return 0;
    }
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

mk_out_kind mk_output_dir_kind(const char *path, const char *marker)
{
    for (;;) {
        struct stat a, b;
        char m[4300];
        if (stat(path, &a) != 0) return MK_OUT_NONE;
        if (!S_ISDIR(a.st_mode)) return MK_OUT_NOT_DIR;
        int n = snprintf(m, sizeof m, "%s/%s", path, marker);
        if (n < 0 || (size_t)n >= sizeof m) return MK_OUT_FOREIGN;
        if (mk_path_exists(m)) return MK_OUT_OURS;
        /* a concurrent writer may have moved that directory away in between: look again */
        if (stat(path, &b) != 0) return MK_OUT_NONE;
        if (b.st_ino == a.st_ino && b.st_dev == a.st_dev) return MK_OUT_FOREIGN;
    }
}

static void tmp_unregister(const char *path);

int mk_rmtree(const char *path)
{
    tmp_unregister(path);
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode)) return unlink(path);
    DIR *d = opendir(path);
    if (!d) return -1;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char sub[PATH_MAX];
        int k = snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
        if (k < 0 || (size_t)k >= sizeof sub) {
            rc = -1;
            break;
        }
        if (mk_rmtree(sub) != 0) rc = -1;
    }
    closedir(d);
    if (rmdir(path) != 0) rc = -1;
    return rc;
}

/* ---- temp paths: registered for removal on a signal, named after the writing process ---- */

#define TMP_SLOTS 8
static char tmp_path[TMP_SLOTS][4096];
static volatile sig_atomic_t tmp_used[TMP_SLOTS];

static void tmp_register(const char *path)
{
    size_t n = strlen(path);
    for (int i = 0; i < TMP_SLOTS && n < sizeof tmp_path[i]; i++)
        if (!tmp_used[i]) {
            memcpy(tmp_path[i], path, n + 1);
            tmp_used[i] = 1;
            return;
        }
}

static void tmp_unregister(const char *path)
{
    for (int i = 0; i < TMP_SLOTS; i++)
        if (tmp_used[i] && strcmp(tmp_path[i], path) == 0) tmp_used[i] = 0;
}

struct dent64 {
    uint64_t ino;
    int64_t off;
    unsigned short reclen;
    unsigned char type;
    char name[];
};

/* Remove name under dirfd, a tree included, with system calls only (async-signal-safe). */
static void rm_at(int dirfd, const char *name, int depth)
{
    if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT) return;
    if (depth > 16) return;
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return;
    char buf[4096] __attribute__((aligned(8)));
    for (int pass = 0; pass < 64; pass++) {
        int removed = 0;
        if (lseek(fd, 0, SEEK_SET) != 0) break;
        long got;
        while ((got = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0)
            for (long o = 0; o < got;) {
                struct dent64 *d = (struct dent64 *)(void *)(buf + o);
                o += d->reclen;
                if (d->name[0] == '.' && (!d->name[1] || (d->name[1] == '.' && !d->name[2])))
                    continue;
                rm_at(fd, d->name, depth + 1);
                removed = 1;
            }
        if (!removed) break;
    }
    close(fd);
    (void)unlinkat(dirfd, name, AT_REMOVEDIR);
}

static void on_signal(int sig)
{
    int saved = errno;
    for (int i = 0; i < TMP_SLOTS; i++)
        if (tmp_used[i]) rm_at(AT_FDCWD, tmp_path[i], 0);
    errno = saved;
    raise(sig); /* SA_RESETHAND: the default action runs once this handler returns */
}

void mk_cleanup_on_signals(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        struct sigaction old, sa;
        if (sigaction(sigs[i], NULL, &old) != 0 || old.sa_handler != SIG_DFL) continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESETHAND;
        sigemptyset(&sa.sa_mask);
        (void)sigaction(sigs[i], &sa, NULL);
    }
}

/* Remove "<final>.tmp-<pid>-*" entries beside final_path whose writer no longer runs. */
static void remove_stale(const char *final_path, size_t len)
{
    char dir[4096], pre[1024];
    const char *slash = NULL;
    for (size_t i = 0; i < len; i++)
        if (final_path[i] == '/') slash = final_path + i;
    const char *base = slash ? slash + 1 : final_path;
    size_t dl = slash ? (size_t)(slash - final_path) : 0;
    int pn = snprintf(pre, sizeof pre, "%.*s.tmp-", (int)(len - (size_t)(base - final_path)), base);
    if (pn <= 0 || (size_t)pn >= sizeof pre || dl + 1 >= sizeof dir) return;
    if (slash) {
        memcpy(dir, final_path, dl ? dl : 1);
        dir[dl ? dl : 1] = 0;
    } else {
        strcpy(dir, ".");
    }
    DIR *d = opendir(dir);
    if (!d) return;
    int dfd = dirfd(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, pre, (size_t)pn) != 0) continue;
        char *end;
        long pid = strtol(de->d_name + pn, &end, 10);
        if (pid <= 0 || *end != '-' || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        rm_at(dfd, de->d_name, 0);
    }
    closedir(d);
}

/* "<final>.tmp-<pid>-XXXXXX" in out; 0 when it does not fit. */
static int temp_name(const char *final_path, char *out, size_t out_n, size_t *len)
{
    size_t l = strlen(final_path);
    while (l > 1 && final_path[l - 1] == '/') l--;
    *len = l;
    int n = snprintf(out, out_n, "%.*s.tmp-%ld-XXXXXX", (int)l, final_path, (long)getpid());
    return n > 0 && (size_t)n < out_n;
}

mk_status mk_tempdir_beside(const char *final_path, char *out, size_t out_n, mk_err *e)
{
    size_t len;
    if (!temp_name(final_path, out, out_n, &len))
        return mk_err_set(e, MK_EINVAL, "%s: path too long", final_path);
    remove_stale(final_path, len);
    if (!mkdtemp(out))
        return mk_err_set(e, MK_EIO, "%s: cannot create a directory beside it: %s", final_path,
                          strerror(errno));
    tmp_register(out);
    chmod(out, 0755);
    return MK_OK;
}

mk_status mk_tempfile_beside(const char *final_path, char *out, size_t out_n, mk_err *e)
{
    size_t len;
    if (!temp_name(final_path, out, out_n, &len))
        return mk_err_set(e, MK_EINVAL, "%s: path too long", final_path);
    remove_stale(final_path, len);
    int fd = mkostemp(out, O_CLOEXEC);
    if (fd < 0)
        return mk_err_set(e, MK_EIO, "%s: cannot create a file beside it: %s", final_path,
                          strerror(errno));
    tmp_register(out);
    (void)fchmod(fd, 0644);
    close(fd);
    return MK_OK;
}

void mk_err_untemp(mk_err *e, const char *tmp, const char *final_path)
{
    if (!e || !e->code || !tmp || !*tmp) return;
    char *at = strstr(e->msg, tmp);
    if (!at) return;
    char rest[sizeof e->msg];
    snprintf(rest, sizeof rest, "%s", at + strlen(tmp));
    size_t off = (size_t)(at - e->msg);
    snprintf(at, sizeof e->msg - off, "%s%s", final_path, rest);
}

void mk_temp_discard(const char *tmp)
{
    if (!tmp || !*tmp) return;
    rm_at(AT_FDCWD, tmp, 0);
    tmp_unregister(tmp);
}

static int fsync_path(const char *path, int dir)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | (dir ? O_DIRECTORY : 0));
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc == 0 || errno == EINVAL || errno == EROFS ? 0 : -1;
}

/* fsync every file and directory of a tree, the root last. */
static int fsync_tree(const char *path, int depth)
{
    struct stat st;
    if (lstat(path, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) return S_ISREG(st.st_mode) ? fsync_path(path, 0) : 0;
    DIR *d = depth < 16 ? opendir(path) : NULL;
    if (!d) return -1;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char sub[4096];
        int n = snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
        if (n < 0 || (size_t)n >= sizeof sub || fsync_tree(sub, depth + 1) != 0) rc = -1;
    }
    closedir(d);
    return rc ? rc : fsync_path(path, 1);
}

static void fsync_parent(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) {
        (void)fsync_path(".", 1);
        return;
    }
    size_t n = (size_t)(slash - path);
    if (n >= sizeof dir) return;
    memcpy(dir, path, n ? n : 1);
    dir[n ? n : 1] = 0;
    (void)fsync_path(dir, 1);
}

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static int exchange(const char *a, const char *b)
{
#ifdef SYS_renameat2
    return (int)syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE);
#else
    (void)a;
    (void)b;
    errno = ENOSYS;
    return -1;
#endif
}

static int mk_exchange_disabled; /* tests: exercise the fallback */
void mk_file_test_no_exchange(int off)
{
    mk_exchange_disabled = off;
}

/* Without RENAME_EXCHANGE: move the old output aside, rename the new one in, drop the old. A
 * concurrent writer may slip in between; the caller retries. 0, or -1 with errno. */
static int swap_aside(const char *tmp, const char *final_path)
{
    char old[4200];
    int n = snprintf(old, sizeof old, "%s.old", tmp);
    if (n < 0 || (size_t)n >= sizeof old) return errno = ENAMETOOLONG, -1;
    rm_at(AT_FDCWD, old, 0);
    if (rename(final_path, old) != 0) return -1;
    if (rename(tmp, final_path) != 0) {
        int er = errno;
        if (rename(old, final_path) != 0) rm_at(AT_FDCWD, old, 0);
        return errno = er, -1;
    }
    rm_at(AT_FDCWD, old, 0);
    return 0;
}

mk_status mk_dir_commit(const char *tmp, const char *final_path, mk_err *e)
{
    if (fsync_tree(tmp, 0) != 0)
        return mk_err_set(e, MK_EIO, "%s: cannot sync the new contents to disk", final_path);
    int er = 0;
    for (int tries = 0; tries < 1000; tries++) {
        if (rename(tmp, final_path) == 0) {
            tmp_unregister(tmp);
            fsync_parent(final_path);
            return MK_OK;
        }
        er = errno;
        if (er != ENOTEMPTY && er != EEXIST && er != ENOTDIR && er != EISDIR) break;
        /* an output is there: swap it with ours in one step, then remove it */
        if (!mk_exchange_disabled && exchange(tmp, final_path) == 0) {
            fsync_parent(final_path);
            mk_temp_discard(tmp);
            return MK_OK;
        }
        er = mk_exchange_disabled ? ENOSYS : errno;
        if (er == ENOENT) continue; /* another writer moved it: try again */
        if (er != EINVAL && er != ENOSYS && er != EOPNOTSUPP) break;
        if (swap_aside(tmp, final_path) == 0) {
            tmp_unregister(tmp);
            fsync_parent(final_path);
            return MK_OK;
        }
        er = errno;
        if (er != ENOENT && er != ENOTEMPTY && er != EEXIST) break;
        struct timespec ts = {0, 1000000L * (tries % 8 + 1)};
        nanosleep(&ts, NULL);
    }
    return mk_err_set(e, MK_EIO, "%s: cannot rename into place: %s", final_path, strerror(er));
}

mk_status mk_file_commit(const char *tmp, const char *final_path, mk_err *e)
{
    if (fsync_path(tmp, 0) != 0)
        return mk_err_set(e, MK_EIO, "%s: cannot sync to disk: %s", final_path, strerror(errno));
    if (rename(tmp, final_path) != 0)
        return mk_err_set(e, MK_EIO, "%s: cannot rename into place: %s", final_path,
                          strerror(errno));
    tmp_unregister(tmp);
    fsync_parent(final_path);
    return MK_OK;
}

mk_status mk_file_replace(const char *path, const void *p, size_t n, mk_err *e)
{
    char tmp[4096];
    mk_status st = mk_tempfile_beside(path, tmp, sizeof tmp, e);
    if (st) return st;
    mk_err local = {MK_OK, {0}};
    st = mk_file_write_all(tmp, p, n, &local);
    if (st) {
        mk_temp_discard(tmp);
        return mk_err_set(e, st, "%s: write failed: %s", path,
                          strstr(local.msg, ": write failed: ")
                              ? strstr(local.msg, ": write failed: ") + 16
                              : local.msg);
    }
    st = mk_file_commit(tmp, path, e);
    if (st) mk_temp_discard(tmp);
    return st;
}

struct mk_outfile {
    FILE *f;
    char tmp[4096];
    char *path;
};

mk_status mk_outfile_open(const char *path, mk_outfile **out, FILE **f, mk_err *err)
{
    *out = NULL;
    *f = NULL;
    mk_outfile *o = mk_calloc(NULL, 1, sizeof *o);
    if (!o || !(o->path = mk_strdup_default(path))) {
        mk_free(NULL, o, sizeof *o);
        return MK_OOM(err);
    }
    mk_status st = mk_tempfile_beside(path, o->tmp, sizeof o->tmp, err);
    if (!st && !(o->f = fopen(o->tmp, "w")))
        st = mk_err_set(err, MK_EIO, "%s: cannot open for writing: %s", path, strerror(errno));
    if (st) {
        mk_outfile_abort(o);
        return st;
    }
    *out = o;
    *f = o->f;
    return MK_OK;
}

static void outfile_free(mk_outfile *o)
{
    mk_free(NULL, o->path, strlen(o->path) + 1);
    mk_free(NULL, o, sizeof *o);
}

void mk_outfile_abort(mk_outfile *o)
{
    if (!o) return;
    if (o->f) fclose(o->f);
    mk_temp_discard(o->tmp);
    if (o->path)
        outfile_free(o);
    else
        mk_free(NULL, o, sizeof *o);
}

mk_status mk_outfile_commit(mk_outfile *o, mk_err *err)
{
    int bad = ferror(o->f) || fflush(o->f) != 0;
    int er = errno;
    if (fclose(o->f) != 0 && !bad) {
        bad = 1;
        er = errno;
    }
    o->f = NULL;
    mk_status st = bad ? mk_err_set(err, MK_EIO, "%s: write failed: %s", o->path,
                                    er ? strerror(er) : "i/o error")
                       : mk_file_commit(o->tmp, o->path, err);
    if (st) mk_temp_discard(o->tmp);
    outfile_free(o);
    return st;
}
