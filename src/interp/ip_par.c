/* The session's thread pool: mk_par_for hands the chunks of one kernel to the calling thread
 * and threads-1 workers (created on first use, parked on a condition variable between
 * kernels). Kernels choose their chunks from shapes alone and each chunk writes its own part
 * of the output, so the bits are the same for any thread count (and whichever thread computes
 * a chunk); OpenBLAS itself runs one thread per call. Per-thread scratch buffers serve kernels
 * that need a tile each. A worker that finished a job and the caller waiting for the last chunk
 * spin for a short while (SPIN_NS) before they sleep: the next kernel of a run usually starts
 * within microseconds, and waking a parked thread through the kernel costs tens of
 * microseconds (more in a VM), which on a model of many small ops was most of what a second
 * thread gained. For the same reason neither side takes the mutex while the other spins. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* How long an idle thread polls before it parks: about one small kernel. */
#define SPIN_NS 200000
#define YIELD_NS 20000

#include "ip_engine.h"

struct mk_pool {
    pthread_mutex_t mu;
    pthread_cond_t go, done_cv;
    int n_workers;
    atomic_int quit;
    atomic_ulong gen;      /* the current job's generation: stored last when a job starts */
    atomic_int parked;     /* workers asleep on go (or about to be): the caller then signals */
    atomic_int sleeping;   /* the caller asleep on done_cv (or about to be) */
    _Atomic(mk_par_fn) fn; /* the current job */
    _Atomic(void *) ctx;
    atomic_llong n;
    atomic_llong done; /* chunks finished of the current job */
    /* per thread t, its share of the chunks [t * n / T, (t + 1) * n / T) as (job generation << 32)
     * | next chunk, one cache line each: a thread takes its own share from the front, then the
     * others' (in turn), so that each mostly computes one contiguous part of the output (the
     * part the next kernel's same share reads) and the two do not interleave chunk by chunk. The
     * generation makes a thread that read a job late unable to claim a chunk of a later job. */
    struct {
        atomic_ullong v;
        char pad[56];
    } claim[MK_PAR_MAX];
    pthread_t th[MK_PAR_MAX];
    struct worker_arg {
        mk_pool *pool;
        int tid;
    } arg[MK_PAR_MAX];
};

/* A share's claim word before its job is open: no chunk index is below it. */
#define CLAIM_SHUT 0xffffffffull

static void run_chunks(mk_pool *p, unsigned long gen, mk_par_fn fn, void *ctx, int64_t n, int tid)
{
    int T = p->n_workers + 1;
    for (int s = 0; s < T; s++) {
        int r = (tid + s) % T;
        int64_t end = (int64_t)((r + 1) * n / T);
        atomic_ullong *cw = &p->claim[r].v;
        for (;;) {
            unsigned long long v = atomic_load(cw);
            if ((v >> 32) != (gen & 0xffffffffu) || (int64_t)(v & 0xffffffffu) >= end) break;
            if (!atomic_compare_exchange_weak(cw, &v, v + 1)) continue;
            fn(ctx, (int64_t)(v & 0xffffffffu), tid);
            if (atomic_fetch_add(&p->done, 1) + 1 == n && atomic_load(&p->sleeping)) {
                pthread_mutex_lock(&p->mu);
                pthread_cond_signal(&p->done_cv);
                pthread_mutex_unlock(&p->mu);
            }
        }
    }
}

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Polls until cond(p, arg) holds or SPIN_NS pass; whether it held. After the first
 * YIELD_NS it yields between polls, so that on a machine with more runnable threads than cores
 * the poll does not take the core from the thread it waits for. */
static int spin_until(int (*cond)(mk_pool *, long long), mk_pool *p, long long arg)
{
    int64_t t0 = 0, t = 0;
    for (unsigned i = 1;; i++) {
        if (cond(p, arg)) return 1;
        CPU_RELAX();
        if (i % 64 == 0) {
            t = now_ns();
            if (!t0)
                t0 = t;
            else if (t - t0 > SPIN_NS)
                return cond(p, arg);
        }
        if (t0 && t - t0 > YIELD_NS) sched_yield();
    }
}

static int new_job(mk_pool *p, long long seen)
{
    return atomic_load(&p->gen) != (unsigned long)seen;
}

static int job_done(mk_pool *p, long long n)
{
    return atomic_load(&p->done) >= n;
}

/* A worker takes no lock on its way from one job to the next: parked and sleeping (each
 * stored before the sleeper checks its condition, and read after the other side changed it,
 * all sequentially consistent) tell the other side when it must signal. A spinning worker that
 * blocked on the mutex the caller held while starting a job slept in the kernel, and came back
 * (tens of microseconds later) to find a small kernel's chunks taken. */
static void *worker(void *a)
{
    mk_pool *p = ((struct worker_arg *)a)->pool;
    int tid = ((struct worker_arg *)a)->tid;
    unsigned long seen = 0;
    for (;;) {
        if (!spin_until(new_job, p, (long long)seen)) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->parked, 1);
            while (atomic_load(&p->gen) == seen) pthread_cond_wait(&p->go, &p->mu);
            atomic_fetch_sub(&p->parked, 1);
            pthread_mutex_unlock(&p->mu);
        }
        /* gen before quit: mk_ip_pool_free stores quit, then gen. Read the other way round, a
         * shutdown landing in between was taken for a job, and the worker then waited for the
         * next one forever while the pool joined it (seen once at -j 3 in the tests). */
        seen = atomic_load(&p->gen);
        if (atomic_load(&p->quit)) break;
        /* a job that started since has shut the claim words first: then nothing is claimed */
        mk_par_fn fn = atomic_load(&p->fn);
        void *ctx = atomic_load(&p->ctx);
        int64_t n = atomic_load(&p->n);
        run_chunks(p, seen, fn, ctx, n, tid);
    }
    return NULL;
}

int mk_ip_thread_count(int requested)
{
    long n = requested > 0 ? requested : sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MK_PAR_MAX ? MK_PAR_MAX : (int)n;
}

/* The pool of ip, started on first use; NULL when one thread or threads cannot start (the
 * kernels then run every chunk on the calling thread: same results, slower). */
static mk_pool *pool_get(mk_interp *ip)
{
    if (ip->n_threads <= 1 || ip->tpool_failed) return NULL;
    if (ip->tpool) return ip->tpool;
    mk_pool *p = mk_calloc(ip->alloc, 1, sizeof *p);
    if (!p) {
        ip->tpool_failed = 1;
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->quit, 0);
    atomic_init(&p->parked, 0);
    atomic_init(&p->sleeping, 0);
    atomic_init(&p->fn, NULL);
    atomic_init(&p->ctx, NULL);
    atomic_init(&p->n, 0);
    atomic_init(&p->done, 0);
    for (int t = 0; t < MK_PAR_MAX; t++) atomic_init(&p->claim[t].v, CLAIM_SHUT);
    for (int t = 1; t < ip->n_threads; t++) {
        p->arg[t] = (struct worker_arg){p, t};
        if (pthread_create(&p->th[p->n_workers], NULL, worker, &p->arg[t])) break;
        p->n_workers++;
    }
    ip->tpool = p;
    if (!p->n_workers) {
        mk_ip_pool_free(ip);
        ip->tpool_failed = 1;
        return NULL;
    }
    return p;
}

void mk_ip_pool_free(mk_interp *ip)
{
    mk_pool *p = ip->tpool;
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int t = 0; t < p->n_workers; t++) pthread_join(p->th[t], NULL);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done_cv);
    pthread_mutex_destroy(&p->mu);
    mk_free(ip->alloc, p, sizeof *p);
    ip->tpool = NULL;
}

void mk_par_for(mk_kctx *k, int64_t n, mk_par_fn fn, void *ctx)
{
    mk_pool *p = n > 1 && n < (1ll << 31) ? pool_get(k->ip) : NULL;
    if (!p) {
        for (int64_t i = 0; i < n; i++) fn(ctx, i, 0);
        return;
    }
    unsigned long gen = atomic_load(&p->gen) + 1;
    unsigned long long g32 = (unsigned long long)(gen & 0xffffffffu) << 32;
    int T = p->n_workers + 1;
    /* shut first: a worker that still reads the previous job can claim nothing of this one */
    for (int r = 0; r < T; r++) atomic_store(&p->claim[r].v, g32 | CLAIM_SHUT);
    atomic_store(&p->fn, fn);
    atomic_store(&p->ctx, ctx);
    atomic_store(&p->n, n);
    atomic_store(&p->done, 0);
    for (int r = 0; r < T; r++) atomic_store(&p->claim[r].v, g32 | (unsigned long long)(r * n / T));
    atomic_store(&p->gen, gen);
    if (atomic_load(&p->parked)) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->go);
        pthread_mutex_unlock(&p->mu);
    }
    run_chunks(p, gen, fn, ctx, n, 0);
    /* wait for the chunks, not for the workers: one that wakes late finds nothing to claim */
    if (!spin_until(job_done, p, (long long)n)) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->sleeping, 1);
        while (atomic_load(&p->done) < n) pthread_cond_wait(&p->done_cv, &p->mu);
        atomic_store(&p->sleeping, 0);
        pthread_mutex_unlock(&p->mu);
    }
}

int mk_par_threads(const mk_kctx *k)
{
    return k->ip->n_threads;
}

mk_status mk_par_scratch_reserve(mk_kctx *k, size_t bytes)
{
    mk_interp *ip = k->ip;
    for (int t = 0; t < ip->n_threads; t++)
        if (ip->tscratch_n[t] < bytes) {
            mk_free(ip->alloc, ip->tscratch[t], ip->tscratch_n[t]);
            ip->tscratch_n[t] = 0;
            if (!(ip->tscratch[t] = mk_malloc(ip->alloc, bytes))) return MK_OOM(k->e);
            ip->tscratch_n[t] = bytes;
        }
    return MK_OK;
}

void *mk_par_scratch(mk_kctx *k, int tid)
{
    return k->ip->tscratch[tid];
}
