/* Test runner: runs every registered test (or those whose name or file contains FILTER) and
 * ends with the line "N passed, N failed, N skipped" (FILTER: comma-separated substrings).
 * Exit status 1 when any test failed.
 * --fail-alloc[=N] (debug and ASan builds) reruns each selected test with the default
 * allocator failing at call N, or at up to --points calls spread over the test's count,
 * persistently and once (transient); the test's own verdicts are ignored there: what counts is
 * no crash, no sanitizer report and no leak. Tests slower than --max-ms are left out. Files
 * that declare a fault scope (test.h) are run held except inside the calls they wrap. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

typedef struct reg {
    const char *name, *file;
    mk_test_fn fn;
} reg;

static reg tests[4096];
static int n_tests;
static char tmpdir[256];
static int quiet; /* fault runs: the tests' own failure messages are expected, not shown */
static char fault_run[400];
static const char *scoped[64]; /* files with a fault scope (mk_test_fault_scope) */
static int n_scoped, faulting, cur_scoped, held;

#include "base/base.h"

void __lsan_disable(void) __attribute__((weak));
void __lsan_enable(void) __attribute__((weak));
void __lsan_ignore_object(const void *p) __attribute__((weak));

void mk_test_owned(const void *p)
{
    if (faulting && p && __lsan_ignore_object) __lsan_ignore_object(p);
}

void mk_test_fault_scope(const char *file)
{
    for (int i = 0; i < n_scoped; i++)
        if (strcmp(scoped[i], file) == 0) return;
    if (n_scoped < (int)(sizeof scoped / sizeof *scoped)) scoped[n_scoped++] = file;
}

/* held: the default allocator neither fails nor counts, and (ASan) what is allocated is never
 * reported as leaked, nor anything reachable from it */
void mk_test_hold(int on)
{
    if (!faulting || on == held) return;
    held = on;
    mk_fault_hold(on);
    if (on && __lsan_disable) __lsan_disable();
    if (!on && __lsan_enable) __lsan_enable();
}

int mk_test_unhold(void)
{
    if (cur_scoped) mk_test_hold(0);
    return 0;
}

int mk_test_rehold(int status)
{
    if (cur_scoped) mk_test_hold(1);
    return status;
}

static int is_scoped(const char *file)
{
    for (int i = 0; i < n_scoped; i++)
        if (strcmp(scoped[i], file) == 0) return 1;
    return 0;
}

void mk_test_register(const char *name, const char *file, mk_test_fn fn)
{
    if (n_tests < (int)(sizeof tests / sizeof *tests)) tests[n_tests++] = (reg){name, file, fn};
}

void mk_test_fail(mk_test_ctx *t, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    t->failures++;
    if (quiet) return;
    fprintf(stdout, "  %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
}

void mk_test_skip(mk_test_ctx *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->skip_reason, sizeof t->skip_reason, fmt, ap);
    va_end(ap);
    t->skipped = 1;
}

const char *mk_test_shared_dir(void)
{
    static char buf[1024];
    const char *d = getenv("MILKIT_SHARED");
    if (!d) d = "../shared";
    snprintf(buf, sizeof buf, "%s", d);
    struct stat st;
    return stat(buf, &st) == 0 && S_ISDIR(st.st_mode) ? buf : NULL;
}

const char *mk_test_bin(void)
{
    const char *b = getenv("MILKIT_BIN");
    return b ? b : "build/debug/milkit";
}

const char *mk_test_tmpdir(void)
{
    return tmpdir;
}

int mk_test_sh(char *out, size_t cap, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[8300];
    snprintf(full, sizeof full, "(%s) 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t n = 0;
    if (out && cap) {
        n = fread(out, 1, cap - 1, p);
        out[n] = 0;
    }
    char sink[4096];
    while (fread(sink, 1, sizeof sink, p) > 0) {
    }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int cmp_reg(const void *a, const void *b)
{
    const reg *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    return c ? c : strcmp(x->name, y->name);
}

/* whether a comma-separated filter names part of r's name or file */
static int selected(const reg *r, const char *filter)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", filter);
    for (char *save = NULL, *f = strtok_r(buf, ",", &save); f; f = strtok_r(NULL, ",", &save))
        if (strstr(r->name, f) || strstr(r->file, f)) return 1;
    return 0;
}

static void on_fatal(int sig)
{
    (void)sig;
    if (fault_run[0] && write(2, fault_run, strlen(fault_run)) < 0) _exit(3);
    _exit(3);
}

/* ASan reports and exits on its own: name the fault run first */
void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));
static void on_death(void)
{
    on_fatal(0);
}

static double run_once(const reg *r, mk_test_ctx *t)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    cur_scoped = faulting && is_scoped(r->file);
    if (cur_scoped) mk_test_hold(1);
    r->fn(t);
    mk_test_hold(0);
    cur_scoped = 0;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
}

/* Reruns r with allocation failures; returns the runs made (0: left out, with a line why). */
static long fault_test(const reg *r, long at, long points, double max_ms)
{
    mk_test_ctx t = {r->name, 0, 0, {0}};
    quiet = 1;
    mk_fault_inject(0, 0);
    double ms = run_once(r, &t);
    long calls = mk_fault_calls();
    quiet = 0;
    if (t.skipped || t.failures || calls == 0 || ms > max_ms) {
        printf("fault-skip %s: %s\n", r->name,
               t.skipped    ? "skipped"
               : t.failures ? "fails without faults"
               : calls == 0 ? "no allocations"
                            : "too slow");
        return 0;
    }
    long n = at > 0 ? 1 : calls < points ? calls : points, runs = 0, fired = 0;
    for (int once = 0; once < 2; once++)
        for (long i = 0; i < n; i++) {
            long k = at > 0 ? at : n == 1 ? 1 : 1 + i * (calls - 1) / (n - 1);
            snprintf(fault_run, sizeof fault_run, "fault run: %s, allocation %ld of %ld, %s\n",
                     r->name, k, calls, once ? "once" : "persistent");
            if (getenv("MK_FAULT_TRACE")) fputs(fault_run, stderr);
            mk_test_ctx u = {r->name, 0, 0, {0}};
            quiet = 1;
            mk_fault_inject(k, once);
            run_once(r, &u);
            fired += mk_fault_fired();
            mk_fault_inject(0, 0);
            quiet = 0;
            runs++;
        }
    fault_run[0] = 0;
    printf("fault %s: %ld allocations, %ld runs, %ld failures injected\n", r->name, calls, runs,
           fired);
    fflush(stdout);
    return runs;
}

int main(int argc, char **argv)
{
    const char *filter = NULL;
    long fault_at = -1, points = 24;
    double max_ms = 300;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--fail-alloc", 12) == 0)
            fault_at = argv[i][12] == '=' ? atol(argv[i] + 13) : 0;
        else if (strncmp(argv[i], "--points=", 9) == 0)
            points = atol(argv[i] + 9);
        else if (strncmp(argv[i], "--max-ms=", 9) == 0)
            max_ms = atof(argv[i] + 9);
        else
            filter = argv[i];
    }
    if (fault_at >= 0) {
        faulting = 1;
        mk_fault_inject(0, 0);
        void *probe = mk_malloc(NULL, 1);
        mk_free(NULL, probe, 1);
        if (mk_fault_calls() == 0) {
            printf("--fail-alloc needs a debug or ASan build (MK_DEBUG)\n");
            return 2;
        }
        signal(SIGSEGV, on_fatal);
        signal(SIGABRT, on_fatal);
        signal(SIGBUS, on_fatal);
        if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(on_death);
        if (points < 2) points = 2;
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/milkit-tests-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    qsort(tests, (size_t)n_tests, sizeof *tests, cmp_reg);
    int passed = 0, failed = 0, skipped = 0;
    for (int i = 0; i < n_tests; i++) {
        if (filter && !selected(&tests[i], filter)) continue;
        if (fault_at >= 0) {
            if (fault_test(&tests[i], fault_at, points, max_ms))
                passed++;
            else
                skipped++;
            continue;
        }
        mk_test_ctx t = {tests[i].name, 0, 0, {0}};
        double ms = run_once(&tests[i], &t);
        if (t.failures) {
            printf("FAIL %s (%s)\n", t.name, tests[i].file);
            failed++;
        } else if (t.skipped) {
            printf("SKIP %s: %s\n", t.name, t.skip_reason);
            skipped++;
        } else {
            printf("ok   %s (%.0f ms)\n", t.name, ms);
            passed++;
        }
        fflush(stdout);
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (!getenv("MILKIT_KEEP_TMP") && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
