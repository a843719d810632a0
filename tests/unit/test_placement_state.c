/* Placement of iOS18 state ops (read_state, coreml_update_state, write_state): per H34
 * (coremltools #2631: a state with last dim 256 ran on the Neural Engine, 270 did not), a fp16
 * state whose last dim is a multiple of 32 is predicted on the Neural Engine, any other is
 * predicted off it with the H34 reason. */
#include <string.h>

#include "lint/lint_int.h"
#include "test.h"
#include "test_lint_build.h"

#define IOS18 9

/* the reasons for read_state and coreml_update_state on a state [1, 2, 8, last] */
static void reasons(mk_test_ctx *tc, int64_t last, char *r_read, char *r_upd)
{
    tb t;
    tb_init(&t, IOS18);
    mk_value *s = tb_in(&t, "s", MK_DT_FP16, DIMS(1, 2, 8, last));
    mk_value *x = tb_in(&t, "x", MK_DT_FP16, DIMS(1, 2, 8, last));
    REQUIRE(!t.bad);
    s->is_state = 1;
    mk_value *rd = tb_op(&t, MK_OP_READ_STATE, "rd", "input", s, NULL);
    mk_value *up = tb_op(&t, MK_OP_COREML_UPDATE_STATE, "up", "state", s, "value",
                         tb_op(&t, MK_OP_ADD, "sum", "x", rd, "y", x, NULL), NULL);
    tb_out(&t, up);
    REQUIRE(!t.bad);
    char buf[256];
    const char *a = mk_lint_off_ne_reason(rd->producer, 1, buf, sizeof buf);
    strcpy(r_read, a ? a : "NE");
    a = mk_lint_off_ne_reason(up->producer, 1, buf, sizeof buf);
    strcpy(r_upd, a ? a : "NE");
    mk_ir_program_free(t.p);
}

TEST(placement_state_ops_follow_h34)
{
    char a[256], b[256];
    reasons(tc, 64, a, b);
    CHECK_MSG(!strcmp(a, "NE") && !strcmp(b, "NE"), "last dim 64: %s / %s", a, b);
    reasons(tc, 256, a, b);
    CHECK_MSG(!strcmp(a, "NE") && !strcmp(b, "NE"), "last dim 256: %s / %s", a, b);
    reasons(tc, 16, a, b);
    CHECK_MSG(strstr(a, "H34") && strstr(b, "H34"), "last dim 16: %s / %s", a, b);
    reasons(tc, 270, a, b);
    CHECK_MSG(strstr(a, "H34") && strstr(b, "H34"), "last dim 270: %s / %s", a, b);
}
