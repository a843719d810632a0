/* Interpreter tests' fault scope (see mk_test_fault_scope in test.h): under milkit_tests
 * --fail-alloc, allocation failures are injected only inside the interpreter's entry points
 * wrapped here (runs and sessions), never into the test's own program building. What a wrapped
 * call hands to the test on success (a session, output tensors) is the test's to free, so the
 * leak checker is told it is owned (mk_test_owned): a test that returns early after a later
 * injected failure leaks only its own objects, while memory the library lost is reported.
 * Include after every other header: the macros stand for the public functions' names. */
#ifndef MK_TEST_FAULT_SCOPE_H
#define MK_TEST_FAULT_SCOPE_H
#include "test.h"

__attribute__((constructor)) static void fault_scope_register(void)
{
    mk_test_fault_scope(__BASE_FILE__); /* the .c file including this header */
}

static inline void fs_owned_tensor(const mk_tensor *t)
{
    mk_test_owned(t->data);
    mk_test_owned(t->name);
}

static inline mk_status fs_list(mk_status st, const mk_tensor_list *l)
{
    mk_test_rehold(0);
    if (st == MK_OK && l) {
        mk_test_owned(l->items);
        for (int i = 0; i < l->n; i++) fs_owned_tensor(&l->items[i]);
    }
    return st;
}

static inline mk_status fs_session(mk_status st, mk_session *const *s)
{
    mk_test_rehold(0);
    if (st == MK_OK && s) mk_test_owned(*s);
    return st;
}

static inline mk_status fs_tensor(mk_status st, const mk_tensor *t)
{
    mk_test_rehold(0);
    if (st == MK_OK && t) fs_owned_tensor(t);
    return st;
}

#define mk_run(p, o, in, out, e) (mk_test_unhold(), fs_list(mk_run(p, o, in, out, e), out))
#define mk_run_ex(p, o, in, out, r, e)                                                             \
    (mk_test_unhold(), fs_list(mk_run_ex(p, o, in, out, r, e), out))
#define mk_session_new(p, o, s, e) (mk_test_unhold(), fs_session(mk_session_new(p, o, s, e), s))
#define mk_session_new_function(p, f, o, s, e)                                                     \
    (mk_test_unhold(), fs_session(mk_session_new_function(p, f, o, s, e), s))
#define mk_session_run(s, in, out, r, e)                                                           \
    (mk_test_unhold(), fs_list(mk_session_run(s, in, out, r, e), out))
#define mk_session_state_get(s, n, t, e)                                                           \
    (mk_test_unhold(), fs_tensor(mk_session_state_get(s, n, t, e), t))
#define mk_session_state_set(s, n, t, e)                                                           \
    (mk_test_unhold(), mk_test_rehold(mk_session_state_set(s, n, t, e)))

#endif
