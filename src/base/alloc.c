/* The allocator hook: every heap request in milkit goes through an mk_allocator, so tests
 * can make the Nth allocation fail. The default allocator counts the bytes it holds (with
 * anonymous maps) against an optional process-wide limit. Also overflow-checked size
 * arithmetic and size parsing. */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"

static size_t mem_limit, mem_used; /* mem_used through __atomic builtins */
static _Thread_local char oom_msg[200];

void mk_set_memory_limit(size_t bytes)
{
    mem_limit = bytes;
}

size_t mk_memory_limit(void)
{
    return mem_limit;
}

const char *mk_oom_reason(void)
{
    return oom_msg[0] ? oom_msg : "out of memory";
}

static void human(size_t n, char *buf, size_t cap)
{
    if (n >= ((size_t)1 << 30))
        snprintf(buf, cap, "%.1f GiB", (double)n / (double)(1u << 30));
    else if (n >= ((size_t)1 << 20))
        snprintf(buf, cap, "%.1f MiB", (double)n / (double)(1u << 20));
    else
        snprintf(buf, cap, "%zu bytes", n);
}

/* Whether n more bytes fit under the limit; records why not. */
static int fits(size_t n)
{
    size_t used = __atomic_load_n(&mem_used, __ATOMIC_RELAXED);
    if (!mem_limit || (n <= mem_limit && used <= mem_limit - n)) return 1;
    char a[32], b[32], c[32];
    human(mem_limit, a, sizeof a);
    human(n, b, sizeof b);
    human(used, c, sizeof c);
    snprintf(oom_msg, sizeof oom_msg,
             "over the memory limit of %s (--max-memory): %s more needed, %s in use", a, b, c);
    return 0;
}

static void used_add(size_t n)
{
    __atomic_add_fetch(&mem_used, n, __ATOMIC_RELAXED);
}

static void used_sub(size_t n)
{
    size_t cur = __atomic_load_n(&mem_used, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(&mem_used, &cur, cur > n ? cur - n : 0, 1, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED)) {
    }
}

static int fault_now(void);

int mk_mem_reserve(size_t n)
{
    if (fault_now() || !fits(n)) return 0;
    used_add(n);
    return 1;
}

void mk_mem_unreserve(size_t n)
{
    used_sub(n);
}

#ifdef MK_DEBUG
static long fault_at, fault_calls, fault_fired; /* through __atomic builtins */
static int fault_once, fault_held;

void mk_fault_hold(int on)
{
    __atomic_store_n(&fault_held, on != 0, __ATOMIC_SEQ_CST);
}

void mk_fault_inject(long at, int once)
{
    __atomic_store_n(&fault_calls, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&fault_fired, 0, __ATOMIC_SEQ_CST);
    fault_once = once;
    __atomic_store_n(&fault_at, at, __ATOMIC_SEQ_CST);
}

long mk_fault_calls(void)
{
    return __atomic_load_n(&fault_calls, __ATOMIC_SEQ_CST);
}

long mk_fault_fired(void)
{
    return __atomic_load_n(&fault_fired, __ATOMIC_SEQ_CST);
}

static int fault_now(void)
{
    if (__atomic_load_n(&fault_held, __ATOMIC_RELAXED)) return 0;
    long n = __atomic_add_fetch(&fault_calls, 1, __ATOMIC_RELAXED);
    long at = __atomic_load_n(&fault_at, __ATOMIC_RELAXED);
    if (!at || n < at || (fault_once && n > at)) return 0;
    __atomic_add_fetch(&fault_fired, 1, __ATOMIC_RELAXED);
    oom_msg[0] = 0;
    return 1;
}
#else
void mk_fault_inject(long at, int once)
{
    (void)at;
    (void)once;
}

void mk_fault_hold(int on)
{
    (void)on;
}

long mk_fault_calls(void)
{
    return 0;
}

long mk_fault_fired(void)
{
    return 0;
}

static int fault_now(void)
{
    return 0;
}
#endif

void mk_assert_fail(const char *cond, const char *file, int line)
{
    fprintf(stderr, "milkit: internal invariant failed: %s (%s:%d)\n", cond, file, line);
    abort();
}

/* ud: NULL for the default allocator; a failing allocator passes itself, as it makes its own
 * failures and the injected ones must not break its loop */
static void *std_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)osize;
    size_t old = ptr ? malloc_usable_size(ptr) : 0;
    if (nsize == 0) {
        free(ptr);
        used_sub(old);
        return NULL;
    }
    if (nsize > old && !ud && fault_now()) return NULL;
    if (nsize > old && !fits(nsize - old)) return NULL;
    void *p = realloc(ptr, nsize);
    if (!p) {
        oom_msg[0] = 0;
        return NULL;
    }
    used_add(malloc_usable_size(p));
    used_sub(old);
    return p;
}

static const mk_allocator std_allocator = {std_alloc, NULL};

const mk_allocator *mk_alloc_default(void)
{
    return &std_allocator;
}

void *mk_malloc(const mk_allocator *a, size_t n)
{
    if (!a) a = &std_allocator;
    return a->fn(a->ud, NULL, 0, n ? n : 1);
}

void *mk_calloc(const mk_allocator *a, size_t count, size_t size)
{
    size_t n;
    if (!mk_mul_size(count, size, &n)) return NULL;
    void *p = mk_malloc(a, n);
    if (p) memset(p, 0, n ? n : 1);
    return p;
}

void *mk_realloc(const mk_allocator *a, void *p, size_t old_n, size_t new_n)
{
    if (!a) a = &std_allocator;
    return a->fn(a->ud, p, old_n, new_n ? new_n : 1);
}

void mk_free(const mk_allocator *a, void *p, size_t n)
{
    if (!p) return;
    if (!a) a = &std_allocator;
    a->fn(a->ud, p, n, 0);
}

static void *failing_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    mk_failing_alloc *fa = ud;
    if (nsize == 0) return std_alloc(fa, ptr, osize, 0);
    fa->calls++;
    if (fa->fail_at > 0 && fa->calls >= fa->fail_at) return NULL;
    return std_alloc(fa, ptr, osize, nsize);
}

void mk_failing_alloc_init(mk_failing_alloc *fa, long fail_at)
{
    fa->base.fn = failing_alloc;
    fa->base.ud = fa;
    fa->calls = 0;
    fa->fail_at = fail_at;
}

int mk_mul_size(size_t a, size_t b, size_t *out)
{
    if (a && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

int mk_add_size(size_t a, size_t b, size_t *out)
{
    if (b > SIZE_MAX - a) return 0;
    *out = a + b;
    return 1;
}

size_t mk_parse_size(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v > 0)) return 0;
    double mul = 1;
    switch (*end) {
    case 'k':
    case 'K':
        mul = 1024.0;
        end++;
        break;
    case 'm':
    case 'M':
        mul = 1048576.0;
        end++;
        break;
    case 'g':
    case 'G':
        mul = 1073741824.0;
        end++;
        break;
    case 't':
    case 'T':
        mul = 1099511627776.0;
        end++;
        break;
    default: break;
    }
    if (mul > 1 && (*end == 'i' || *end == 'I')) end++;
    if (*end == 'b' || *end == 'B') end++;
    if (*end || v * mul >= 1.8e19) return 0;
    return (size_t)(v * mul);
}
