/* Unit tests for src/base: fp16 rounding, arena, string map, buffer, allocation failure.
 * npy/npz files are tested in test_npy.c. */
#include <math.h>
#include <stdlib.h>

#include "base/base.h"
#include "test.h"

TEST(fp16_roundtrip_and_rounding)
{
    CHECK(mk_f32_to_f16(1.0f) == 0x3c00);
    CHECK(mk_f32_to_f16(-2.0f) == 0xc000);
    CHECK(mk_f32_to_f16(65504.0f) == 0x7bff);
    CHECK(mk_f32_to_f16(65520.0f) == 0x7c00); /* rounds up to inf */
    CHECK(mk_f32_to_f16(1e-8f) == 0);
    CHECK(mk_f32_to_f16(5.9604645e-8f) == 1);           /* smallest subnormal */
    CHECK(mk_f32_to_f16(1.0f + 1.0f / 2048) == 0x3c00); /* tie to even */
    CHECK(mk_f32_to_f16(1.0f + 3.0f / 2048) == 0x3c02);
    CHECK(isnan(mk_f16_to_f32(mk_f32_to_f16(NAN))));
    for (unsigned h = 0; h < 0x7c00; h++) CHECK(mk_f32_to_f16(mk_f16_to_f32((uint16_t)h)) == h);
}

TEST(arena_alignment_and_strings)
{
    mk_arena *ar = mk_arena_new(NULL);
    REQUIRE(ar);
    for (int i = 1; i < 1000; i++) {
        void *p = mk_arena_alloc(ar, (size_t)i * 7);
        REQUIRE(p);
        CHECK(((uintptr_t)p & 15) == 0);
    }
    void *big = mk_arena_alloc(ar, 1 << 20);
    CHECK(big != NULL);
    CHECK_STR(mk_arena_printf(ar, "%s_%d", "x", 3), "x_3");
    CHECK(mk_arena_array(ar, SIZE_MAX / 2, 4) == NULL);
    mk_arena_free(ar);
}

TEST(strmap_many_keys)
{
    mk_strmap m;
    mk_strmap_init(&m, NULL);
    static char keys[5000][16];
    for (int i = 0; i < 5000; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        REQUIRE(mk_strmap_put(&m, keys[i], &keys[i]));
    }
    CHECK(m.count == 5000);
    CHECK(mk_strmap_get(&m, "k4321") == &keys[4321]);
    CHECK(mk_strmap_get(&m, "nope") == NULL);
    mk_strmap_free(&m);
}

TEST(failing_allocator_fails_nth_call)
{
    mk_failing_alloc fa;
    mk_failing_alloc_init(&fa, 3);
    void *a = mk_malloc(&fa.base, 10), *b = mk_malloc(&fa.base, 10), *c = mk_malloc(&fa.base, 10);
    CHECK(a && b && !c);
    mk_free(&fa.base, a, 10);
    mk_free(&fa.base, b, 10);
}

TEST(err_first_message_wins)
{
    mk_err e = {0};
    mk_err_set(&e, MK_EINVAL, "first %d", 1);
    mk_err_set(&e, MK_EIO, "second");
    mk_err_prefix(&e, "file.bin: ");
    CHECK(e.code == MK_EINVAL);
    CHECK_STR(e.msg, "file.bin: first 1");
}

TEST(f32_find_beyond_f16_blocks_and_specials)
{
    enum { N = 3 * 4096 + 17 };
    static float f[N];
    for (int i = 0; i < N; i++) f[i] = (float)(i % 100) - 50.0f;
    CHECK_EQ_INT(mk_f32_find_beyond_f16(f, N, 0), N);
    f[N - 3] = NAN;
    CHECK_EQ_INT(mk_f32_find_beyond_f16(f, N, 0), N); /* NaN never counts */
    f[5000] = -INFINITY;
    CHECK_EQ_INT(mk_f32_find_beyond_f16(f, N, 0), 5000);
    CHECK_EQ_INT(mk_f32_find_beyond_f16(f, N, 1), N); /* infinities excluded */
    f[N - 1] = 65504.0f;
    CHECK_EQ_INT(mk_f32_find_beyond_f16(f, N, 1), N); /* the fp16 maximum itself fits */
    f[N - 1] = 65505.0f;
    CHECK_EQ_INT(mk_f32_find_beyond_f16(f, N, 1), N - 1);
    f[7] = -1e9f;
    CHECK_EQ_INT(mk_f32_find_beyond_f16(f, N, 1), 7);
}
