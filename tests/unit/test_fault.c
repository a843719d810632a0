/* The fault-injection hook the test runner's --fail-alloc drives: the default allocator fails
 * its Nth allocation once or from then on; a test's own failing allocator is exempt. */
#include "base/base.h"
#include "test.h"

TEST(fault_inject_fails_the_nth_default_allocation)
{
    mk_fault_inject(0, 0);
    void *probe = mk_malloc(NULL, 8);
    mk_free(NULL, probe, 8);
    if (mk_fault_calls() == 0) SKIP("fault injection is compiled into debug and ASan builds only");
    for (int once = 0; once < 2; once++) {
        mk_fault_inject(3, once);
        void *p[5];
        for (int i = 0; i < 5; i++) p[i] = mk_malloc(NULL, 16);
        long fired = mk_fault_fired();
        mk_fault_inject(0, 0);
        CHECK(p[0] && p[1] && !p[2]);
        CHECK_MSG(once ? p[3] && p[4] : !p[3] && !p[4], "mode %s: calls 4-5 gave %p %p",
                  once ? "once" : "persistent", p[3], p[4]);
        CHECK_EQ_INT(fired, once ? 1 : 3);
        for (int i = 0; i < 5; i++) mk_free(NULL, p[i], 16);
    }
    /* a test's own failing allocator keeps its schedule under an injected persistent failure */
    mk_failing_alloc fa;
    mk_failing_alloc_init(&fa, 0);
    mk_fault_inject(1, 0);
    void *q = mk_malloc(&fa.base, 32);
    mk_fault_inject(0, 0);
    CHECK(q != NULL);
    mk_free(&fa.base, q, 32);
}
