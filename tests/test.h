/* The test harness: TEST(name) registers a test at load time; CHECK records failures
 * without stopping; SKIP ends a test with a printed reason (never silently). */
#ifndef MK_TEST_H
#define MK_TEST_H

#include <stdio.h>
#include <string.h>

typedef struct mk_test_ctx {
    const char *name;
    int failures;
    int skipped;
    char skip_reason[512];
} mk_test_ctx;

typedef void (*mk_test_fn)(mk_test_ctx *t);
void mk_test_register(const char *name, const char *file, mk_test_fn fn);
void mk_test_fail(mk_test_ctx *t, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void mk_test_skip(mk_test_ctx *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Paths: the shared reference folder (MILKIT_SHARED, default ../shared), or NULL when
 * absent; the milkit binary under test (MILKIT_BIN); a scratch dir unique to this run. */
const char *mk_test_shared_dir(void);
const char *mk_test_bin(void);
const char *mk_test_tmpdir(void);
/* Run a shell command, capturing stdout+stderr (up to cap bytes) into out; returns the
 * exit status (or -1). */
int mk_test_sh(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Fault scope (milkit_tests --fail-alloc): a test file that calls
 * mk_test_fault_scope(__BASE_FILE__) (tests/unit/fault_scope.h) runs with its own set-up held:
 * injected failures and the leak checker see only the library calls that header wraps (interpreter
 * sessions and runs), so the tests' program building neither fails nor counts and what a test still
 * owns when it returns early is not a leak; everything the wrapped calls allocate is. No effect
 * outside fault runs. */
void mk_test_fault_scope(const char *file);
/* In fault runs under ASan: the heap block at p, and all it reaches, is the test's (not a leak). */
void mk_test_owned(const void *p);
void mk_test_hold(int on);
int mk_test_unhold(void);
int mk_test_rehold(int status);

#define TEST(name)                                                                                 \
    static void name(mk_test_ctx *tc);                                                             \
    __attribute__((constructor)) static void reg_##name(void)                                      \
    {                                                                                              \
        mk_test_register(#name, __FILE__, name);                                                   \
    }                                                                                              \
    static void name(mk_test_ctx *tc)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) mk_test_fail(tc, __FILE__, __LINE__, "CHECK(%s)", #cond);                     \
    } while (0)
#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) mk_test_fail(tc, __FILE__, __LINE__, __VA_ARGS__);                            \
    } while (0)
#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            mk_test_fail(tc, __FILE__, __LINE__, "REQUIRE(%s)", #cond);                            \
            return;                                                                                \
        }                                                                                          \
    } while (0)
#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_)                                                                              \
            mk_test_fail(tc, __FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a, a_, #b,    \
                         b_);                                                                      \
    } while (0)
#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                     \
            mk_test_fail(tc, __FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #a,              \
                         a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                  \
    } while (0)
#define SKIP(...)                                                                                  \
    do {                                                                                           \
        mk_test_skip(tc, __VA_ARGS__);                                                             \
        return;                                                                                    \
    } while (0)

#endif
