/* OpenBLAS through dlopen, on first use. Linking it would cost every milkit process its
 * start-up (about 1.6 ms here, half of a small conversion's fixed cost) and a worker thread
 * that spins for a while, although convert, lint and info never multiply a matrix. The
 * handle and its three functions are process-wide, set once under pthread_once and never
 * unloaded. OpenBLAS runs one thread per call (OPENBLAS_NUM_THREADS=1 unless set). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"

typedef void (*sgemm_fn)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE, enum CBLAS_TRANSPOSE, blasint,
                         blasint, blasint, float, const float *, blasint, const float *, blasint,
                         float, float *, blasint);
typedef void (*set_threads_fn)(int);
typedef int (*get_procs_fn)(void);

static struct {
    sgemm_fn sgemm;
    set_threads_fn set_threads;
    get_procs_fn procs;
    char why[200];
} lib;
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

/* dlsym returns an object pointer; the bytes are the function's address on every platform
 * dlopen exists on. */
static int sym(void *h, const char *name, void *fn, size_t size)
{
    void *p = dlsym(h, name);
    if (!p) return 0;
    memcpy(fn, &p, size);
    return 1;
}

static void open_lib(void)
{
    static const char *const names[] = {"libopenblas.so.0", "libopenblas.so"};
    void *h = NULL;
    /* the interpreter's own threads split the work (ip_par.c) and call OpenBLAS with one
     * thread each: its worker threads would only spin beside them */
    setenv("OPENBLAS_NUM_THREADS", "1", 0);
    for (size_t i = 0; i < sizeof names / sizeof *names && !h; i++)
        h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *d = dlerror();
        snprintf(lib.why, sizeof lib.why, "%s", d ? d : "not found");
        return;
    }
    if (!sym(h, "cblas_sgemm", &lib.sgemm, sizeof lib.sgemm) ||
        !sym(h, "openblas_set_num_threads", &lib.set_threads, sizeof lib.set_threads) ||
        !sym(h, "openblas_get_num_procs", &lib.procs, sizeof lib.procs)) {
        snprintf(lib.why, sizeof lib.why, "a cblas/openblas symbol is missing");
        lib.sgemm = NULL;
    }
}

mk_status mk_blas_open(mk_err *e)
{
    pthread_once(&lib_once, open_lib);
    if (lib.sgemm) return MK_OK;
    return mk_err_set(e, MK_EUNSUPPORTED,
                      "interpreter: cannot load OpenBLAS (libopenblas.so.0): %s; install "
                      "libopenblas0",
                      lib.why);
}

void mk_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, blasint m,
              blasint n, blasint k, float alpha, const float *a, blasint lda, const float *b,
              blasint ldb, float beta, float *c, blasint ldc)
{
    lib.sgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void mk_blas_threads(int n)
{
    if (lib.set_threads) lib.set_threads(n > 0 ? n : lib.procs());
}
