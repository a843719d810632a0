/* Interpreter tests' fault scope (see mk_test_fault_scope in test.h): under milkit_tests
 * --fail-alloc, allocation failures are injected only inside the interpreter's entry points
 * wrapped here (runs and sessions), never into the test's own program building. Include after
 * every other header: the macros stand for the public functions of the same names. */
#ifndef MK_TEST_FAULT_SCOPE_H
#define MK_TEST_FAULT_SCOPE_H
#include "test.h"

__attribute__((constructor)) static void fault_scope_register(void)
{
    mk_test_fault_scope(__BASE_FILE__); /* the .c file including this header */
}

#define MK_UNHELD(call) (mk_test_unhold(), mk_test_rehold(call))
#define mk_run(...) MK_UNHELD(mk_run(__VA_ARGS__))
#define mk_run_ex(...) MK_UNHELD(mk_run_ex(__VA_ARGS__))
#define mk_session_new(...) MK_UNHELD(mk_session_new(__VA_ARGS__))
#define mk_session_new_function(...) MK_UNHELD(mk_session_new_function(__VA_ARGS__))
#define mk_session_run(...) MK_UNHELD(mk_session_run(__VA_ARGS__))
#define mk_session_state_get(...) MK_UNHELD(mk_session_state_get(__VA_ARGS__))
#define mk_session_state_set(...) MK_UNHELD(mk_session_state_set(__VA_ARGS__))

#endif
