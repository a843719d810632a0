/* Unit tests for src/base/npy.c and npz.c: round trips through files, headers written by hand
 * as numpy lays them out, and bad files (not npy, truncated, wrong dtype, absurd shape). */
#include <stdlib.h>

#include "base/base.h"
#include "test.h"

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(p, 1, n, f);
    fclose(f);
}

/* A v1.0 .npy image with the given header dict text and payload. */
static size_t make_npy(unsigned char *out, int major, const char *dict, const void *data, size_t n)
{
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t hl = dl + 1, pad = (64 - (pre + hl) % 64) % 64;
    hl += pad;
    memcpy(out, "\x93NUMPY", 6);
    out[6] = (unsigned char)major;
    out[7] = 0;
    out[8] = (unsigned char)(hl & 0xff);
    out[9] = (unsigned char)(hl >> 8);
    if (major != 1) out[10] = out[11] = 0;
    memcpy(out + pre, dict, dl);
    memset(out + pre + dl, ' ', pad);
    out[pre + hl - 1] = '\n';
    memcpy(out + pre + hl, data, n);
    return pre + hl + n;
}

TEST(npy_roundtrip_dtypes)
{
    char path[512];
    snprintf(path, sizeof path, "%s/rt.npy", mk_test_tmpdir());
    float f[6] = {1, -2, 3.5f, 4, 5, 6};
    int64_t dims[8] = {2, 3};
    mk_tensor t = {.name = "x", .dtype = 11, .rank = 2, .data = f, .nbytes = sizeof f};
    memcpy(t.dims, dims, sizeof dims);
    mk_err e = {0};
    REQUIRE(mk_npy_write(path, &t, &e) == MK_OK);
    mk_tensor r;
    REQUIRE(mk_npy_read(path, &r, &e) == MK_OK);
    CHECK_EQ_INT(r.dtype, 11);
    CHECK_EQ_INT(r.rank, 2);
    CHECK_EQ_INT(r.dims[0], 2);
    CHECK_EQ_INT(r.dims[1], 3);
    CHECK(r.nbytes == sizeof f && memcmp(r.data, f, sizeof f) == 0);
    CHECK_STR(r.name, "rt");
    mk_tensor_free(&r);

    /* every dtype, 1-D (numpy writes "(3,)") and scalars */
    static const int codes[] = {10, 11, 12, 21, 23, 24, 31, 1};
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        unsigned char d[24] = {1, 0, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        int sz = mk_npy_dtype_size(codes[i]);
        mk_tensor u = {.name = "u", .dtype = codes[i], .rank = 1, .data = d};
        u.dims[0] = 3;
        u.nbytes = (size_t)sz * 3;
        e = (mk_err){0};
        REQUIRE(mk_npy_write(path, &u, &e) == MK_OK);
        REQUIRE(mk_npy_read(path, &r, &e) == MK_OK);
        CHECK_EQ_INT(r.dtype, codes[i]);
        CHECK_EQ_INT(r.rank, 1);
        CHECK_EQ_INT(r.dims[0], 3);
        CHECK(r.nbytes == u.nbytes && memcmp(r.data, d, u.nbytes) == 0);
        mk_tensor_free(&r);
    }
    mk_tensor s = {.name = "s", .dtype = 23, .rank = 0, .data = (int32_t[]){7}, .nbytes = 4};
    REQUIRE(mk_npy_write(path, &s, &e) == MK_OK);
    REQUIRE(mk_npy_read(path, &r, &e) == MK_OK);
    CHECK_EQ_INT(r.rank, 0);
    CHECK_EQ_INT(*(int32_t *)r.data, 7);
    mk_tensor_free(&r);
}

TEST(npy_reads_numpy_layouts)
{
    /* header dicts as numpy writes them, v1 and v2/v3, with 64-byte alignment */
    char path[512];
    snprintf(path, sizeof path, "%s/np.npy", mk_test_tmpdir());
    unsigned char img[512];
    uint16_t h[2] = {0x3c00, 0xc000}; /* 1.0, -2.0 */
    size_t n = make_npy(img, 1, "{'descr': '<f2', 'fortran_order': False, 'shape': (1, 2), }", h,
                        sizeof h);
    CHECK_EQ_INT((n - sizeof h) % 64, 0);
    write_bytes(path, img, n);
    mk_tensor r;
    mk_err e = {0};
    REQUIRE(mk_npy_read(path, &r, &e) == MK_OK);
    CHECK_EQ_INT(r.dtype, 10);
    CHECK_EQ_INT(r.dims[1], 2);
    CHECK(((uint16_t *)r.data)[1] == 0xc000);
    mk_tensor_free(&r);
    int64_t v = -5;
    for (int major = 2; major <= 3; major++) {
        n = make_npy(img, major, "{'descr': '<i8', 'fortran_order': False, 'shape': (), }", &v, 8);
        write_bytes(path, img, n);
        e = (mk_err){0};
        REQUIRE(mk_npy_read(path, &r, &e) == MK_OK);
        CHECK_EQ_INT(r.dtype, 24);
        CHECK_EQ_INT(r.rank, 0);
        CHECK_EQ_INT(*(int64_t *)r.data, -5);
        mk_tensor_free(&r);
    }
}

TEST(npy_bad_files)
{
    char path[512];
    snprintf(path, sizeof path, "%s/bad.npy", mk_test_tmpdir());
    unsigned char img[512];
    float f[4] = {0};
    struct {
        const char *dict;
        size_t payload;
        const char *want;
    } cases[] = {
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 8, "truncated"},
        {"{'descr': '<U8', 'fortran_order': False, 'shape': (1,), }", 16, "unsupported dtype"},
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", 4, "big-endian"},
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16, "fortran"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999, "
         "99999999999), }",
         16, "shape"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'x': 1}", 16, "header"},
        {"[1, 2]", 16, "header"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t n = make_npy(img, 1, cases[i].dict, f, cases[i].payload);
        write_bytes(path, img, n);
        mk_tensor r;
        mk_err e = {0};
        CHECK(mk_npy_read(path, &r, &e) != MK_OK);
        CHECK_MSG(strstr(e.msg, cases[i].want) && strstr(e.msg, path) && !strchr(e.msg, '\n'),
                  "case %zu: %s", i, e.msg);
    }
    write_bytes(path, "hello world, not numpy", 22);
    mk_tensor r;
    mk_err e = {0};
    CHECK(mk_npy_read(path, &r, &e) == MK_EINVAL);
    CHECK(strstr(e.msg, "not a .npy file") != NULL);
    /* truncated header */
    size_t n = make_npy(img, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", f, 4);
    write_bytes(path, img, 30);
    e = (mk_err){0};
    CHECK(mk_npy_read(path, &r, &e) == MK_EINVAL);
    CHECK(strstr(e.msg, "truncated") != NULL);
    (void)n;
    e = (mk_err){0};
    CHECK(mk_npy_read("/nonexistent/x.npy", &r, &e) == MK_EIO);
}

TEST(npz_roundtrip_and_errors)
{
    char path[512];
    snprintf(path, sizeof path, "%s/t.npz", mk_test_tmpdir());
    float a[3] = {1, 2, 3};
    int32_t b[2] = {-1, 7};
    mk_tensor items[2] = {{.name = "alpha", .dtype = 11, .rank = 1, .data = a, .nbytes = 12},
                          {.name = "beta", .dtype = 23, .rank = 2, .data = b, .nbytes = 8}};
    items[0].dims[0] = 3;
    items[1].dims[0] = 1;
    items[1].dims[1] = 2;
    mk_tensor_list l = {2, items};
    mk_err e = {0};
    REQUIRE(mk_npz_write(path, &l, &e) == MK_OK);
    mk_tensor_list r;
    REQUIRE(mk_npz_read(path, &r, &e) == MK_OK);
    REQUIRE(r.n == 2);
    int fa = r.items[0].name && strcmp(r.items[0].name, "alpha") == 0 ? 0 : 1;
    CHECK_STR(r.items[fa].name, "alpha");
    CHECK_STR(r.items[1 - fa].name, "beta");
    CHECK(memcmp(r.items[fa].data, a, 12) == 0);
    CHECK(memcmp(r.items[1 - fa].data, b, 8) == 0);
    CHECK_EQ_INT(r.items[1 - fa].dims[1], 2);
    mk_tensor_list_free(&r);

    /* not a zip */
    write_bytes(path, "garbage!", 8);
    e = (mk_err){0};
    CHECK(mk_npz_read(path, &r, &e) != MK_OK);
    CHECK(strstr(e.msg, path) != NULL);
}

/* Deflated members (python's zipfile writes them for savez_compressed), made with zip(1). */
TEST(npz_reads_deflated_members)
{
    char out[4096], npy[512], dz[512];
    if (mk_test_sh(out, sizeof out, "command -v zip") != 0)
        SKIP("zip(1) not installed (scripts/setup.sh installs it): deflated .npz untested");
    float a[3] = {1, 2, 3};
    mk_tensor t = {.name = "gamma", .dtype = 11, .rank = 1, .data = a, .nbytes = 12};
    t.dims[0] = 3;
    mk_err e = {0};
    snprintf(npy, sizeof npy, "%s/gamma.npy", mk_test_tmpdir());
    snprintf(dz, sizeof dz, "%s/d.npz", mk_test_tmpdir());
    REQUIRE(mk_npy_write(npy, &t, &e) == MK_OK);
    REQUIRE(mk_test_sh(out, sizeof out, "cd %s && rm -f d.npz && zip -q -9 d.npz gamma.npy",
                       mk_test_tmpdir()) == 0);
    /* the member really is deflated: method 8 at offset 8 of the local file header */
    unsigned char hdr[10] = {0};
    FILE *f = fopen(dz, "rb");
    REQUIRE(f);
    size_t got = fread(hdr, 1, sizeof hdr, f);
    fclose(f);
    REQUIRE(got == sizeof hdr && memcmp(hdr, "PK\3\4", 4) == 0);
    CHECK_EQ_INT(hdr[8] | hdr[9] << 8, 8);
    mk_tensor_list r;
    REQUIRE(mk_npz_read(dz, &r, &e) == MK_OK);
    CHECK_EQ_INT(r.n, 1);
    CHECK_STR(r.items[0].name, "gamma");
    CHECK(r.items[0].nbytes == 12 && memcmp(r.items[0].data, a, 12) == 0);
    mk_tensor_list_free(&r);
}
