/* Unit tests for src/base: fp16 rounding, arena, string map, buffer, allocation failure.
 * npy/npz files are tested in test_npy.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* The status a set returns is the one the record keeps: a later failure (out of memory after
 * an invalid input) neither replaces the message nor reports a code that disagrees with it. */
TEST(err_set_returns_the_code_it_keeps)
{
    mk_err e = {0};
    CHECK_EQ_INT(mk_err_set(&e, MK_EINVAL, "bad shape"), MK_EINVAL);
    CHECK_EQ_INT(mk_err_set(&e, MK_EIO, "later"), MK_EINVAL);
    CHECK_EQ_INT(MK_OOM(&e), MK_EINVAL);
    CHECK_EQ_INT(e.code, MK_EINVAL);
    CHECK_STR(e.msg, "bad shape");
    mk_err o = {0};
    CHECK_EQ_INT(MK_OOM(&o), MK_ENOMEM);
    CHECK_EQ_INT(mk_err_set(&o, MK_EUNSUPPORTED, "x"), MK_ENOMEM);
    CHECK_EQ_INT(mk_err_set(NULL, MK_EIO, "no record"), MK_EIO);
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

/* The one-pass range bits agree with mk_f32_find_beyond_f16, also through the fused copy from
 * an unaligned source, at block boundaries and in the tail. */
TEST(f32_f16_range_matches_find_and_copy)
{
    enum { N = 2 * 4096 + 29 };
    static float f[N], g[N];
    static unsigned char raw[4 * N + 1];
    static const int at[] = {0, 4095, 4096, 2 * 4096 + 28};
    static const float val[] = {65505.0f, INFINITY, -1e9f, NAN, 65504.0f};
    for (int a = 0; a < 4; a++)
        for (int v = 0; v < 5; v++) {
            for (int i = 0; i < N; i++) f[i] = (float)(i % 7) - 3.0f;
            f[at[a]] = val[v];
            unsigned want = (mk_f32_find_beyond_f16(f, N, 0) < N ? MK_F16_OVER : 0u) |
                            (mk_f32_find_beyond_f16(f, N, 1) < N ? MK_F16_OVER_FINITE : 0u);
            CHECK_EQ_INT(mk_f32_f16_range(f, N), want);
            memcpy(raw + 1, f, sizeof f);
            CHECK_EQ_INT(mk_f32_copy_f16_range(g, raw + 1, N), want);
            CHECK(memcmp(f, g, sizeof f) == 0 || isnan(val[v]));
        }
    f[10] = INFINITY;
    f[20] = 70000.0f;
    CHECK_EQ_INT(mk_f32_f16_range(f, N), MK_F16_OVER | MK_F16_OVER_FINITE);
}

/* In-place conversion gives the same halves as the two-buffer one (SIMD body and tail). */
TEST(f32_to_f16_inplace_matches_copying_conversion)
{
    static const size_t ns[] = {1, 7, 64, 67, 1000};
    for (int k = 0; k < 5; k++) {
        size_t n = ns[k];
        float *f = malloc(n * sizeof *f), *buf = malloc(n * sizeof *buf);
        uint16_t *h = malloc(n * sizeof *h);
        REQUIRE(f && buf && h);
        unsigned s = 1u + (unsigned)k;
        for (size_t i = 0; i < n; i++) {
            s = s * 1664525u + 1013904223u;
            f[i] = ((float)(s >> 8) / 16777216.0f - 0.5f) * (i % 5 == 0 ? 2e5f : 4.0f);
        }
        if (n > 3) f[3] = 1e-8f; /* subnormal in fp16 */
        mk_f32_to_f16_n(f, h, n);
        memcpy(buf, f, n * sizeof *f);
        mk_f32_to_f16_inplace(buf, n);
        CHECK(memcmp(buf, h, n * sizeof *h) == 0);
        free(f);
        free(buf);
        free(h);
    }
}

/* A caller's mk_mapped may hold stack garbage: a file map must come back with anon and
 * borrowed clear, or the fp16 pass takes read-only file pages for its own and writes there. */
TEST(file_map_clears_every_field)
{
    char path[] = "/tmp/milkit-map-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, "0123456789abcdef", 16) == 16);
    close(fd);
    for (int populate = 0; populate < 2; populate++) {
        mk_mapped m;
        memset(&m, 0x5a, sizeof m);
        mk_err e = {0};
        REQUIRE((populate ? mk_file_map_all(path, &m, &e) : mk_file_map(path, &m, &e)) == MK_OK);
        CHECK_EQ_INT(m.anon, 0);
        CHECK_EQ_INT(m.borrowed, 0);
        CHECK(m.size == 16 && m.data && memcmp(m.data, "0123", 4) == 0);
        mk_file_unmap(&m);
    }
    unlink(path);
}
