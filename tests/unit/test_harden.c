/* Hardening tests (issue 10): .npz members judged by their header before any data is decoded,
 * FIFOs refused, concurrent and interrupted writers (RENAME_EXCHANGE, stale temp removal,
 * signal cleanup), outputs intact after a failed write, the memory limit, and external data
 * links with --no-follow-links. Models are tiny ONNX graphs built here. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zip.h>

#include "base/base.h"
#include "test.h"
#include "test_onnx_build.h"

/* A fresh directory under the test tmpdir. */
static const char *fresh_dir(const char *name)
{
    static char buf[8][1024];
    static int k;
    char *d = buf[k++ % 8];
    snprintf(d, sizeof buf[0], "%s/harden_%s", mk_test_tmpdir(), name);
    mk_rmtree(d);
    mkdir(d, 0755);
    return d;
}

/* x fp32 [1,3,8,8] -> Relu -> y, written to dir/m.onnx; path in out. */
static int write_relu_model(const char *dir, char *out, size_t n)
{
    ob b;
    ob_init(&b, 13);
    ob_input(&b, "x", 1, 4, (int64_t[]){1, 3, 8, 8});
    ob_node(&b, "Relu", "x", "y");
    ob_output(&b, "y");
    ob_pack(&b);
    snprintf(out, n, "%s/m.onnx", dir);
    mk_err e = {0};
    int ok = mk_file_write_all(out, b.packed, b.packed_len, &e) == MK_OK;
    ob_free(&b);
    return ok;
}

static mk_program *relu_program(void)
{
    ob b;
    ob_init(&b, 13);
    ob_input(&b, "x", 1, 4, (int64_t[]){1, 3, 8, 8});
    ob_node(&b, "Relu", "x", "y");
    ob_output(&b, "y");
    mk_program *p = NULL;
    mk_err e;
    if (ob_import(&b, NULL, &p, &e) != MK_OK) p = NULL;
    ob_free(&b);
    return p;
}

/* Entries of dir other than keep (NULL: all), counted. */
static int count_entries(const char *dir, const char *keep)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
            (!keep || strcmp(de->d_name, keep)))
            n++;
    if (d) closedir(d);
    return n;
}

/* An .npz with one deflated member name.npy of zeros declaring shape dims (rank 4). */
static int write_zero_npz(const char *path, const char *name, const int64_t *dims)
{
    char hdr[256];
    int hn =
        snprintf(hdr, sizeof hdr,
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, %lld, %lld, %lld), }",
                 (long long)dims[0], (long long)dims[1], (long long)dims[2], (long long)dims[3]);
    size_t pad = (64 - (10 + (size_t)hn + 1) % 64) % 64, hl = (size_t)hn + pad + 1;
    size_t nbytes = 4 * (size_t)(dims[0] * dims[1] * dims[2] * dims[3]), total = 10 + hl + nbytes;
    unsigned char *img = calloc(1, total);
    if (!img) return 0;
    memcpy(img, "\x93NUMPY\x01\x00", 8);
    img[8] = (unsigned char)(hl & 0xff);
    img[9] = (unsigned char)(hl >> 8);
    memcpy(img + 10, hdr, (size_t)hn);
    memset(img + 10 + hn, ' ', pad);
    img[10 + hl - 1] = '\n';
    int zerr;
    zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    char member[64];
    snprintf(member, sizeof member, "%s.npy", name);
    zip_source_t *src = za ? zip_source_buffer(za, img, total, 0) : NULL;
    zip_int64_t idx = src ? zip_file_add(za, member, src, 0) : -1;
    int ok = idx >= 0 && zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_DEFLATE, 1) == 0 &&
             zip_close(za) == 0;
    if (!ok && za) zip_discard(za);
    free(img);
    return ok;
}

TEST(npz_member_shape_checked_before_its_data_is_allocated)
{
    mk_program *p = relu_program();
    REQUIRE(p);
    const char *d = fresh_dir("npz");
    char npz[1200];
    snprintf(npz, sizeof npz, "%s/big.npz", d);
    /* 48 MiB of zeros declared, about 50 KB on disk */
    REQUIRE(write_zero_npz(npz, "x", (int64_t[]){1, 3, 2048, 2048}));
    struct stat st;
    REQUIRE(stat(npz, &st) == 0 && st.st_size < (1 << 20));
    mk_set_memory_limit((size_t)8 << 20); /* far below the member, far above the model */
    mk_tensor_list l = {0, NULL};
    mk_err e = {0};
    const char *spec = npz;
    mk_status s = mk_tensors_load_for(p, 1, &spec, &l, &e);
    mk_set_memory_limit(0);
    CHECK_EQ_INT(s, MK_EINVAL);
    CHECK_MSG(strstr(e.msg, "model expects [1, 3, 8, 8]") && strstr(e.msg, "big.npz:x.npy"), "%s",
              e.msg);
    /* the one member of an archive for a one-input model is that input, checked the same */
    REQUIRE(write_zero_npz(npz, "nope", (int64_t[]){1, 3, 2048, 2048}));
    memset(&e, 0, sizeof e);
    mk_set_memory_limit((size_t)8 << 20);
    s = mk_tensors_load_for(p, 1, &spec, &l, &e);
    mk_set_memory_limit(0);
    CHECK_EQ_INT(s, MK_EINVAL);
    CHECK_MSG(strstr(e.msg, "model expects [1, 3, 8, 8]"), "%s", e.msg);
    /* the right shape is read, whatever the member is called in a one-input archive */
    REQUIRE(write_zero_npz(npz, "renamed", (int64_t[]){1, 3, 8, 8}));
    memset(&e, 0, sizeof e);
    CHECK_EQ_INT(mk_tensors_load_for(p, 1, &spec, &l, &e), MK_OK);
    CHECK_EQ_INT(l.n, 1);
    CHECK_EQ_INT(l.n ? l.items[0].nbytes : 0, 4 * 3 * 64);
    mk_tensor_list_free(&l);
    mk_ir_program_free(p);
}

static int filter_calls;
static mk_status skip_all(void *ud, const mk_tensor *hdr, int n, int *skip, mk_err *e)
{
    (void)ud;
    (void)e;
    (void)n;
    filter_calls += hdr->data == NULL && hdr->rank == 4 && hdr->nbytes == 4 * 3 * 2048 * 2048;
    *skip = 1;
    return MK_OK;
}

TEST(npz_filter_sees_the_header_and_skips_unread)
{
    const char *d = fresh_dir("npzf");
    char npz[1200];
    snprintf(npz, sizeof npz, "%s/big.npz", d);
    REQUIRE(write_zero_npz(npz, "x", (int64_t[]){1, 3, 2048, 2048}));
    mk_tensor_list l;
    mk_err e = {0};
    filter_calls = 0;
    mk_set_memory_limit((size_t)4 << 20);
    mk_status s = mk_npz_read_filtered(npz, skip_all, NULL, &l, &e);
    mk_set_memory_limit(0);
    CHECK_EQ_INT(s, MK_OK);
    CHECK_EQ_INT(filter_calls, 1);
    CHECK_EQ_INT(l.n, 0);
    mk_tensor_list_free(&l);
    /* unfiltered, the declared size is what the memory limit judges */
    memset(&e, 0, sizeof e);
    mk_set_memory_limit((size_t)4 << 20);
    s = mk_npz_read(npz, &l, &e);
    mk_set_memory_limit(0);
    CHECK_EQ_INT(s, MK_ENOMEM);
    CHECK_MSG(strstr(e.msg, "over the memory limit of 4.0 MiB") && strstr(e.msg, "x.npy"), "%s",
              e.msg);
}

TEST(fifo_inputs_are_refused_not_waited_on)
{
    const char *d = fresh_dir("fifo");
    char model[1200], fifo[1200], out[4096];
    REQUIRE(write_relu_model(d, model, sizeof model));
    const char *names[] = {"m2.onnx", "in.npz", "in.npy", "pkg.mlpackage/Manifest.json"};
    char pkg[1200];
    snprintf(pkg, sizeof pkg, "%s/pkg.mlpackage", d);
    mkdir(pkg, 0755);
    for (int i = 0; i < 4; i++) {
        snprintf(fifo, sizeof fifo, "%s/%s", d, names[i]);
        REQUIRE(mkfifo(fifo, 0644) == 0);
    }
    /* timeout: before the fix each of these waited forever for a writer */
    int rc = mk_test_sh(out, sizeof out, "timeout 20 %s info %s/m2.onnx", mk_test_bin(), d);
    CHECK_MSG(rc == 2 && strstr(out, "not a regular file"), "rc %d: %s", rc, out);
    rc = mk_test_sh(out, sizeof out, "timeout 20 %s run %s -i %s/in.npz", mk_test_bin(), model, d);
    CHECK_MSG(rc == 2 && strstr(out, "not a regular file"), "rc %d: %s", rc, out);
    rc =
        mk_test_sh(out, sizeof out, "timeout 20 %s run %s -i x=%s/in.npy", mk_test_bin(), model, d);
    CHECK_MSG(rc == 2 && strstr(out, "not a regular file"), "rc %d: %s", rc, out);
    rc = mk_test_sh(out, sizeof out, "timeout 20 %s info %s", mk_test_bin(), pkg);
    CHECK_MSG(rc == 2 && strstr(out, "not a regular file"), "rc %d: %s", rc, out);
    mk_err e = {0};
    mk_mapped m;
    snprintf(fifo, sizeof fifo, "%s/in.npy", d);
    CHECK_EQ_INT(mk_file_map(fifo, &m, &e), MK_EIO);
    CHECK(mk_open_regular("/dev/null", &e) < 0);
}

/* N writers save to one path while a reader watches it; all must succeed, one package must
 * remain, nothing else beside it, and (with RENAME_EXCHANGE) the path is never missing. */
static void race(mk_test_ctx *tc, const char *name, int no_exchange)
{
    mk_program *p = relu_program();
    REQUIRE(p);
    const char *d = fresh_dir(name);
    char out[1200];
    snprintf(out, sizeof out, "%s/o.mlpackage", d);
    mk_err e = {0};
    REQUIRE(mk_program_save(p, out, MK_TARGET_DEFAULT, &e) == MK_OK);
    mk_file_test_no_exchange(no_exchange);
    enum { N = 6 };
    pid_t kids[N], watcher = fork();
    if (watcher == 0) { /* counts moments with no package at out */
        char man[1300];
        snprintf(man, sizeof man, "%s/Manifest.json", out);
        long missing = 0;
        for (int i = 0; i < 20000; i++) missing += !mk_path_exists(man);
        _exit(missing ? 1 : 0);
    }
    for (int i = 0; i < N; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            int bad = 0;
            for (int k = 0; k < 5; k++) {
                mk_err ke = {0};
                bad |= mk_program_save(p, out, MK_TARGET_DEFAULT, &ke) != MK_OK;
                if (ke.code) fprintf(stderr, "writer: %s\n", ke.msg);
            }
            _exit(bad);
        }
    }
    mk_file_test_no_exchange(0);
    int ok = 0;
    for (int i = 0; i < N; i++) {
        int ws;
        waitpid(kids[i], &ws, 0);
        ok += WIFEXITED(ws) && WEXITSTATUS(ws) == 0;
    }
    int ws;
    waitpid(watcher, &ws, 0);
    CHECK_EQ_INT(ok, N);
    if (!no_exchange) CHECK_MSG(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "output went missing");
    CHECK_EQ_INT(count_entries(d, "o.mlpackage"), 0);
    mk_program *q = NULL;
    CHECK(mk_program_load(out, NULL, &q, &e) == MK_OK);
    mk_program_free(q);
    mk_ir_program_free(p);
}

TEST(concurrent_writers_all_succeed_and_leave_one_package)
{
    race(tc, "race", 0);
}

TEST(concurrent_writers_without_rename_exchange_retry)
{
    race(tc, "race_noexch", 1);
}

TEST(stale_temp_dirs_of_dead_writers_are_removed)
{
    mk_program *p = relu_program();
    REQUIRE(p);
    const char *d = fresh_dir("stale");
    pid_t dead = fork();
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);
    char stale[1300], live[1300], out[1200], f[1400];
    snprintf(out, sizeof out, "%s/o.mlpackage", d);
    snprintf(stale, sizeof stale, "%s.tmp-%ld-abcdef", out, (long)dead);
    snprintf(live, sizeof live, "%s.tmp-%ld-abcdef", out, (long)getppid());
    mkdir(stale, 0755);
    mkdir(live, 0755);
    snprintf(f, sizeof f, "%s/weight.bin", stale);
    mk_err e = {0};
    REQUIRE(mk_file_write_all(f, "x", 1, &e) == MK_OK);
    REQUIRE(mk_program_save(p, out, MK_TARGET_DEFAULT, &e) == MK_OK);
    CHECK(!mk_path_exists(stale));
    CHECK(mk_path_exists(live)); /* a running writer's temp dir stays */
    mk_rmtree(live);
    mk_ir_program_free(p);
}

TEST(interrupted_writer_removes_its_temp_dir)
{
    const char *d = fresh_dir("sig");
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    char out[1200];
    snprintf(out, sizeof out, "%s/o.mlpackage", d);
    pid_t kid = fork();
    if (kid == 0) {
        mk_cleanup_on_signals();
        char tmp[1300], f[1400];
        mk_err e = {0};
        if (mk_tempdir_beside(out, tmp, sizeof tmp, &e) != MK_OK) _exit(3);
        snprintf(f, sizeof f, "%s/weight.bin", tmp);
        mk_file_write_all(f, "abc", 3, &e);
        if (write(fds[1], "r", 1) != 1) _exit(3);
        for (;;) pause();
    }
    char c;
    REQUIRE(read(fds[0], &c, 1) == 1);
    CHECK_EQ_INT(count_entries(d, NULL), 1);
    kill(kid, SIGTERM);
    int ws;
    waitpid(kid, &ws, 0);
    CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGTERM);
    CHECK_EQ_INT(count_entries(d, NULL), 0);
    close(fds[0]);
    close(fds[1]);
}

TEST(failed_output_writes_keep_the_old_file)
{
    const char *d = fresh_dir("fsize");
    char model[1200], out[4096], f[1300];
    REQUIRE(write_relu_model(d, model, sizeof model));
    const char *outs[] = {"g.dot", "o.npz", "o.npy"};
    for (int i = 0; i < 3; i++) {
        snprintf(f, sizeof f, "%s/%s", d, outs[i]);
        mk_err e = {0};
        REQUIRE(mk_file_write_all(f, "OLD", 3, &e) == MK_OK);
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "%s %s %s %s", i ? "run" : "graph", model, i ? "" : "--dot",
                 "-o");
        snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), " %s", f);
        /* every write fails (EFBIG); before, fopen/zip truncated the old file to 0 bytes */
        int rc =
            mk_test_sh(out, sizeof out, "(trap '' XFSZ; ulimit -f 0; %s %s)", mk_test_bin(), cmd);
        CHECK_MSG(rc == 2, "%s: rc %d: %s", outs[i], rc, out);
        mk_mapped m;
        REQUIRE(mk_file_map(f, &m, &e) == MK_OK);
        CHECK_MSG(m.size == 3 && memcmp(m.data, "OLD", 3) == 0, "%s changed", outs[i]);
        mk_file_unmap(&m);
        CHECK_MSG(count_entries(d, NULL) == 2 + i, "%s: leftovers", outs[i]);
        CHECK_MSG(!strstr(out, ".tmp-"), "temp path named: %s", out);
    }
    /* a package: the old one stays, the message names the output, not a temp dir */
    int rc =
        mk_test_sh(out, sizeof out, "%s convert %s -o %s/p.mlpackage", mk_test_bin(), model, d);
    REQUIRE(rc == 0);
    rc = mk_test_sh(out, sizeof out, "(trap '' XFSZ; ulimit -f 0; %s convert %s -o %s/p.mlpackage)",
                    mk_test_bin(), model, d);
    CHECK_MSG(rc == 2 && strstr(out, "p.mlpackage") && !strstr(out, ".tmp-"), "rc %d: %s", rc, out);
    mk_program *q = NULL;
    mk_err qe = {0};
    snprintf(f, sizeof f, "%s/p.mlpackage", d);
    CHECK(mk_program_load(f, NULL, &q, &qe) == MK_OK);
    mk_program_free(q);
    CHECK_EQ_INT(count_entries(d, NULL), 5);
    /* and a write that works replaces it */
    rc = mk_test_sh(out, sizeof out, "%s graph %s --dot -o %s/g.dot", mk_test_bin(), model, d);
    CHECK_EQ_INT(rc, 0);
    snprintf(f, sizeof f, "%s/g.dot", d);
    struct stat st;
    CHECK(stat(f, &st) == 0 && st.st_size > 20);
}

TEST(memory_limit_refuses_large_random_inputs_and_runtime_ranges)
{
    CHECK_EQ_INT(mk_parse_size("512M"), (size_t)512 << 20);
    CHECK_EQ_INT(mk_parse_size("4G"), (size_t)4 << 30);
    CHECK_EQ_INT(mk_parse_size("1.5k"), 1536);
    CHECK_EQ_INT(mk_parse_size("64MiB"), (size_t)64 << 20);
    CHECK_EQ_INT(mk_parse_size("12x"), 0);
    const char *d = fresh_dir("mem");
    char m1[1200], m2[1200], npy[1200], out[4096];
    ob b;
    ob_init(&b, 13);
    ob_input(&b, "x", 1, 2, (int64_t[]){1, (int64_t)1 << 22});
    ob_node(&b, "Relu", "x", "y");
    ob_output(&b, "y");
    ob_pack(&b);
    snprintf(m1, sizeof m1, "%s/big_in.onnx", d);
    mk_err e = {0};
    REQUIRE(mk_file_write_all(m1, b.packed, b.packed_len, &e) == MK_OK);
    ob_free(&b);
    int rc = mk_test_sh(out, sizeof out, "%s run %s --max-memory 8M", mk_test_bin(), m1);
    CHECK_MSG(rc == 2 && strstr(out, "input x") && strstr(out, "over the memory limit of 8.0 MiB"),
              "rc %d: %s", rc, out);
    rc = mk_test_sh(out, sizeof out, "%s run %s --max-memory=256M", mk_test_bin(), m1);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, out);
    rc = mk_test_sh(out, sizeof out, "%s run %s --max-memory lots", mk_test_bin(), m1);
    CHECK_MSG(rc == 2 && strstr(out, "512M"), "rc %d: %s", rc, out);
    /* Range to a limit known only at run time */
    ob_init(&b, 13);
    ob_input(&b, "n", 1, 0, NULL);
    ob_init_f(&b, "zero", 0, NULL, (float[]){0});
    ob_init_f(&b, "one", 0, NULL, (float[]){1});
    ob_node(&b, "Range", "zero,n,one", "y");
    ob_output(&b, "y");
    ob_pack(&b);
    snprintf(m2, sizeof m2, "%s/range.onnx", d);
    REQUIRE(mk_file_write_all(m2, b.packed, b.packed_len, &e) == MK_OK);
    ob_free(&b);
    float big = 1e9f;
    mk_tensor t = {NULL, 11, 0, {0}, &big, 4};
    snprintf(npy, sizeof npy, "%s/n.npy", d);
    REQUIRE(mk_npy_write(npy, &t, &e) == MK_OK);
    rc = mk_test_sh(out, sizeof out, "%s run %s -i n=%s --max-memory 64M", mk_test_bin(), m2, npy);
    CHECK_MSG(rc == 2 && strstr(out, "over the memory limit of 64.0 MiB") && strstr(out, "op "),
              "rc %d: %s", rc, out);
}

/* A model whose initializer w lives in external file w.bin (a link when link_to is given). */
static int write_ext_model(const char *dir, const char *link_to, char *model, size_t n)
{
    ob b;
    ob_init(&b, 13);
    ob_input(&b, "x", 1, 1, (int64_t[]){4});
    Onnx__TensorProto *w = ob_tensor(&b, "w", 1, 1, (int64_t[]){4}, NULL, 0);
    w->has_data_location = 1;
    w->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    w->n_external_data = 1;
    w->external_data = ob_alloc(&b, sizeof *w->external_data);
    Onnx__StringStringEntryProto *kv = ob_alloc(&b, sizeof *kv);
    onnx__string_string_entry_proto__init(kv);
    kv->key = ob_str(&b, "location");
    kv->value = ob_str(&b, "w.bin");
    w->external_data[0] = kv;
    b.g->initializer[b.g->n_initializer++] = w;
    ob_node(&b, "Add", "x,w", "y");
    ob_output(&b, "y");
    ob_pack(&b);
    snprintf(model, n, "%s/m.onnx", dir);
    mk_err e = {0};
    int ok = mk_file_write_all(model, b.packed, b.packed_len, &e) == MK_OK;
    ob_free(&b);
    char wb[1300];
    snprintf(wb, sizeof wb, "%s/w.bin", dir);
    float v[4] = {1, 2, 3, 4};
    if (link_to)
        ok = ok && symlink(link_to, wb) == 0;
    else
        ok = ok && mk_file_write_all(wb, v, sizeof v, &e) == MK_OK;
    return ok;
}

TEST(external_data_links_followed_unless_no_follow_links)
{
    const char *real = fresh_dir("ext_real"), *lnk = fresh_dir("ext_link");
    char m_real[1200], m_link[1200], target[1300], out[4096];
    REQUIRE(write_ext_model(real, NULL, m_real, sizeof m_real));
    snprintf(target, sizeof target, "%s/w.bin", real);
    REQUIRE(write_ext_model(lnk, target, m_link, sizeof m_link));
    int rc = mk_test_sh(out, sizeof out, "%s info %s", mk_test_bin(), m_link);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, out);
    const char *cmds[] = {"info", "lint", "run", "convert"};
    for (int i = 0; i < 4; i++) {
        char o[1400] = "";
        if (i == 3) snprintf(o, sizeof o, " -o %s/o.mlpackage", lnk);
        rc = mk_test_sh(out, sizeof out, "%s %s %s --no-follow-links%s", mk_test_bin(), cmds[i],
                        m_link, o);
        CHECK_MSG(rc == 2 && strstr(out, "link to outside the model's folder") &&
                      strstr(out, "'w'"),
                  "%s: rc %d: %s", cmds[i], rc, out);
    }
    /* external data that is a FIFO is refused, not waited on */
    const char *ff = fresh_dir("ext_fifo");
    char m_fifo[1200], wb[1300];
    REQUIRE(write_ext_model(ff, NULL, m_fifo, sizeof m_fifo));
    snprintf(wb, sizeof wb, "%s/w.bin", ff);
    REQUIRE(unlink(wb) == 0 && mkfifo(wb, 0644) == 0);
    rc = mk_test_sh(out, sizeof out, "timeout 20 %s info %s", mk_test_bin(), m_fifo);
    CHECK_MSG(rc == 2 && strstr(out, "not a regular file") && strstr(out, "'w'"), "rc %d: %s", rc,
              out);
    /* data inside the folder is fine with the option */
    rc = mk_test_sh(out, sizeof out, "%s info %s --no-follow-links", mk_test_bin(), m_real);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, out);
}

TEST(cli_run_and_fix_check_npz_members_before_reading)
{
    const char *d = fresh_dir("npz_cli");
    char model[1200], npz[1300], out[4096];
    REQUIRE(write_relu_model(d, model, sizeof model));
    snprintf(npz, sizeof npz, "%s/big.npz", d);
    REQUIRE(write_zero_npz(npz, "x", (int64_t[]){1, 3, 2048, 2048}));
    /* 48 MiB declared; an 8 MiB limit shows nothing of it was allocated */
    const char *cmds[] = {"run", "verify", "fix"};
    for (int i = 0; i < 3; i++) {
        int rc = i == 0   ? mk_test_sh(out, sizeof out, "%s run %s -i %s --max-memory 8M",
                                       mk_test_bin(), model, npz)
                 : i == 1 ? mk_test_sh(out, sizeof out, "%s verify %s %s -i %s --max-memory 8M",
                                       mk_test_bin(), model, model, npz)
                          : mk_test_sh(out, sizeof out,
                                       "%s fix %s -o %s/f.mlpackage -i %s --max-memory 8M",
                                       mk_test_bin(), model, d, npz);
        CHECK_MSG(rc == 2 && strstr(out, "big.npz:x.npy: input x: shape [1, 3, 2048, 2048], "
                                         "model expects [1, 3, 8, 8]"),
                  "%s: rc %d: %s", cmds[i], rc, out);
    }
}
