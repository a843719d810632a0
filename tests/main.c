/* Test runner: runs every registered test (or those whose name contains argv[1]) and ends
 * with the line "N passed, N failed, N skipped". Exit status 1 when any test failed. */
#define _GNU_SOURCE
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

void mk_test_register(const char *name, const char *file, mk_test_fn fn)
{
    if (n_tests < (int)(sizeof tests / sizeof *tests)) tests[n_tests++] = (reg){name, file, fn};
}

void mk_test_fail(mk_test_ctx *t, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stdout, "  %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    t->failures++;
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

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : NULL;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/milkit-tests-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    qsort(tests, (size_t)n_tests, sizeof *tests, cmp_reg);
    int passed = 0, failed = 0, skipped = 0;
    for (int i = 0; i < n_tests; i++) {
        if (filter && !strstr(tests[i].name, filter) && !strstr(tests[i].file, filter)) continue;
        mk_test_ctx t = {tests[i].name, 0, 0, {0}};
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        tests[i].fn(&t);
        clock_gettime(CLOCK_MONOTONIC, &b);
        double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
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
