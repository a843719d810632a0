/* Symbol hygiene: the shared library exports only mk_ names (milkit.h's), and every global
 * symbol of the static library carries milkit's prefix (mk_ + module, docs/DESIGN.md), so
 * linking libmilkit.a cannot clash with a user's names. protobuf-c's generated code keeps its
 * own prefixes (core_ml__, onnx__); names starting with __ are the compiler's (ASan's
 * __odr_asan.*). */
#include <stdlib.h>

#include "test.h"

static int lib_dir(char *out, size_t cap)
{
    const char *bin = mk_test_bin();
    const char *slash = strrchr(bin, '/');
    int n = slash ? (int)(slash - bin) : 1;
    int k = snprintf(out, cap, "%.*s", n, slash ? bin : ".");
    return k > 0 && (size_t)k < cap;
}

TEST(symbols_shared_library_exports_only_mk_names)
{
    char dir[1024], out[16384];
    REQUIRE(lib_dir(dir, sizeof dir));
    if (mk_test_sh(out, sizeof out, "command -v nm && test -e '%s/libmilkit.so'", dir) != 0)
        SKIP("needs nm and %s/libmilkit.so (make builds it)", dir);
    int rc = mk_test_sh(out, sizeof out,
                        "nm -D --defined-only '%s/libmilkit.so' | awk 'NF==3{print $3}' | "
                        "grep -v '^mk_' | grep -v '^_init$\\|^_fini$'; "
                        "nm -D --defined-only '%s/libmilkit.so' | grep -c ' mk_'",
                        dir, dir);
    CHECK_MSG(rc == 0 && atoi(out) > 50, "exports other than mk_ names (or too few): %.2000s", out);
}

TEST(symbols_static_library_globals_carry_the_prefix)
{
    char dir[1024], out[16384];
    REQUIRE(lib_dir(dir, sizeof dir));
    if (mk_test_sh(out, sizeof out, "command -v nm && test -e '%s/libmilkit.a'", dir) != 0)
        SKIP("needs nm and %s/libmilkit.a", dir);
    mk_test_sh(out, sizeof out,
               "nm -g --defined-only '%s/libmilkit.a' 2>/dev/null | awk 'NF==3{print $3}' | "
               "grep -v '^mk_\\|^core_ml__\\|^onnx__\\|^__' | sort -u",
               dir);
    CHECK_MSG(out[0] == 0, "global symbols without milkit's prefix: %.2000s", out);
}
