/* iOS18 state and multi-function programs: a stateful accumulator and a KV-cache-like
 * slice_update built with the C API run in one session, write (coreml_update_state becomes
 * write_state + read_state), re-read and run the same; the verifier's state rules; the
 * coremltools-made fixtures under tests/data read, print, run and round-trip. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_coreml.h"

#include "fault_scope.h"

static mk_value *op1(mk_program *p, mk_block *b, mk_op_kind k, const char *p1, mk_value *v1,
                     const char *p2, mk_value *v2, const char *out, const mk_type *t)
{
    mk_op *op = mk_ir_op_new(p, k, out);
    if (!op || !mk_ir_op_add_input(p, op, p1, v1)) return NULL;
    if (p2 && !mk_ir_op_add_input(p, op, p2, v2)) return NULL;
    mk_value *o = mk_ir_op_add_output(p, op, out, t);
    if (o) mk_ir_block_append(b, op);
    return o;
}

/* acc += x; returns the new acc. update 0: no update at all. */
static mk_program *accumulator(int update, int plain_read)
{
    mk_program *p = mk_ir_program_new(NULL, 9);
    mk_function *f = p ? mk_ir_function_new(p, "main") : NULL;
    if (!f) return p;
    mk_type t = mk_type_make(MK_DT_FP32, 2, (const int64_t[]){1, 4});
    mk_value *x = mk_ir_function_add_input(p, f, "x", &t);
    mk_value *acc = mk_ir_function_add_state(p, f, "acc", &t);
    mk_value *r = op1(p, f->block, MK_OP_READ_STATE, "input", plain_read ? x : acc, NULL, NULL,
                      "acc_old", &t);
    mk_value *s = op1(p, f->block, MK_OP_ADD, "x", r, "y", x, "acc_new", &t);
    mk_value *u =
        update ? op1(p, f->block, MK_OP_COREML_UPDATE_STATE, "state", acc, "value", s, "sum", &t)
               : s;
    if (u) mk_ir_block_set_outputs(p, f->block, 1, &u);
    return p;
}

/* The accumulator's input x: 4 fp32 values of [1, 4]. */
static mk_tensor x_tensor(float *xv)
{
    return (mk_tensor){
        .name = (char *)"x", .dtype = 11, .rank = 2, .dims = {1, 4}, .data = xv, .nbytes = 16};
}

static void run_steps(mk_test_ctx *tc, mk_program *p, int steps, float *last)
{
    mk_err e = {0};
    mk_session *s = NULL;
    REQUIRE(mk_session_new(p, NULL, &s, &e) == MK_OK);
    CHECK(mk_session_n_states(s) == 1 && !strcmp(mk_session_state_name(s, 0), "acc"));
    float xv[4] = {1, -2, 0.5f, 4};
    mk_tensor x = x_tensor(xv);
    mk_tensor_list in = {1, &x};
    for (int i = 0; i < steps; i++) {
        mk_tensor_list out;
        REQUIRE(mk_session_run(s, &in, &out, NULL, &e) == MK_OK);
        REQUIRE(out.n == 1);
        memcpy(last, out.items[0].data, sizeof xv);
        for (int k = 0; k < 4; k++)
            CHECK_MSG(last[k] == xv[k] * (float)(i + 1), "step %d elem %d: %g", i, k, last[k]);
        mk_tensor_list_free(&out);
    }
    mk_tensor st;
    REQUIRE(mk_session_state_get(s, "acc", &st, &e) == MK_OK);
    CHECK(st.rank == 2 && st.dims[1] == 4 && !memcmp(st.data, last, 16));
    /* set by the API: the next run adds to it */
    float z[4] = {10, 10, 10, 10};
    mk_tensor zt = st;
    zt.data = z;
    CHECK(mk_session_state_set(s, "acc", &zt, &e) == MK_OK);
    mk_tensor_list out;
    REQUIRE(mk_session_run(s, &in, &out, NULL, &e) == MK_OK);
    CHECK(((float *)out.items[0].data)[1] == 8.0f);
    mk_tensor_list_free(&out);
    mk_tensor_free(&st);
    CHECK(mk_session_state_get(s, "nope", &st, &e) == MK_EINVAL);
    mk_session_free(s);
}

TEST(state_accumulator_runs_write_reread)
{
    mk_program *p = accumulator(1, 0);
    mk_err e = {0};
    REQUIRE(p && mk_ir_verify(p, &e) == MK_OK);
    float last[4];
    run_steps(tc, p, 3, last);
    char a[512], b[512], ma[600], mb[600];
    snprintf(a, sizeof a, "%s/acc_a.mlpackage", mk_test_tmpdir());
    snprintf(b, sizeof b, "%s/acc_b.mlpackage", mk_test_tmpdir());
    REQUIRE(mk_program_save(p, a, MK_TARGET_DEFAULT, &e) == MK_OK);
    mk_program *q = NULL, *r = NULL;
    REQUIRE(mk_program_load(a, NULL, &q, &e) == MK_OK);
    CHECK(q->n_states == 1 && q->states && !strcmp(q->states[0].name, "acc"));
    int writes = 0;
    MK_FOR_OPS(mk_ir_main(q)->block, op) writes += op->kind == MK_OP_WRITE_STATE;
    CHECK_MSG(writes == 1, "coreml_update_state should be written as write_state + read_state");
    run_steps(tc, q, 3, last);
    REQUIRE(mk_program_save(q, b, MK_TARGET_DEFAULT, &e) == MK_OK);
    REQUIRE(mk_program_load(b, NULL, &r, &e) == MK_OK);
    char why[256];
    CHECK_MSG(mk_test_program_eq(q, r, why, sizeof why), "%s", why);
    snprintf(ma, sizeof ma, "%s/Data/com.apple.CoreML/model.mlmodel", a);
    snprintf(mb, sizeof mb, "%s/Data/com.apple.CoreML/model.mlmodel", b);
    /* a's op list still holds the coreml_update_state op; b is the re-read form's save */
    char mc[600], c[512];
    snprintf(c, sizeof c, "%s/acc_c.mlpackage", mk_test_tmpdir());
    REQUIRE(mk_program_save(r, c, MK_TARGET_DEFAULT, &e) == MK_OK);
    snprintf(mc, sizeof mc, "%s/Data/com.apple.CoreML/model.mlmodel", c);
    CHECK(mk_test_files_equal(ma, mb) == 1);
    CHECK(mk_test_files_equal(mb, mc) == 1);
    mk_program_free(p);
    mk_program_free(q);
    mk_program_free(r);
}

TEST(state_kv_cache_slice_update_at_offset)
{
    mk_program *p = mk_ir_program_new(NULL, 9);
    mk_function *f = mk_ir_function_new(p, "main");
    mk_type ct = mk_type_make(MK_DT_FP32, 3, (const int64_t[]){1, 4, 2});
    mk_type rt = mk_type_make(MK_DT_FP32, 3, (const int64_t[]){1, 1, 2});
    mk_value *row = mk_ir_function_add_input(p, f, "row", &rt);
    mk_value *cache = mk_ir_function_add_state(p, f, "cache", &ct);
    mk_value *old = op1(p, f->block, MK_OP_READ_STATE, "input", cache, NULL, NULL, "old", &ct);
    mk_value *bg = mk_ir_const_i32(p, f->block, "bg", 3, (const int32_t[]){0, 2, 0}, 0);
    mk_value *en = mk_ir_const_i32(p, f->block, "en", 3, (const int32_t[]){1, 3, 2}, 0);
    mk_op *su = mk_ir_op_new(p, MK_OP_SLICE_UPDATE, "upd");
    REQUIRE(su && mk_ir_op_add_input(p, su, "x", old) && mk_ir_op_add_input(p, su, "update", row) &&
            mk_ir_op_add_input(p, su, "begin", bg) && mk_ir_op_add_input(p, su, "end", en));
    mk_value *nv = mk_ir_op_add_output(p, su, "upd", &ct);
    mk_ir_block_append(f->block, su);
    mk_value *u =
        op1(p, f->block, MK_OP_COREML_UPDATE_STATE, "state", cache, "value", nv, "out", &ct);
    REQUIRE(u && mk_ir_block_set_outputs(p, f->block, 1, &u));
    mk_err e = {0};
    CHECK_MSG(mk_ir_verify(p, &e) == MK_OK, "%s", e.msg);
    if (tc->failures) return;
    mk_session *s = NULL;
    REQUIRE(mk_session_new(p, NULL, &s, &e) == MK_OK);
    float rv[2] = {3, -7};
    mk_tensor x = {.name = (char *)"row",
                   .dtype = 11,
                   .rank = 3,
                   .dims = {1, 1, 2},
                   .data = rv,
                   .nbytes = sizeof rv};
    mk_tensor_list in = {1, &x}, out;
    REQUIRE(mk_session_run(s, &in, &out, NULL, &e) == MK_OK);
    mk_tensor_list_free(&out);
    mk_tensor st;
    REQUIRE(mk_session_state_get(s, "cache", &st, &e) == MK_OK);
    const float *c = st.data;
    for (int i = 0; i < 8; i++) {
        float want = i == 4 ? 3 : i == 5 ? -7 : 0;
        CHECK_MSG(c[i] == want, "cache[%d] = %g, want %g", i, c[i], want);
    }
    mk_tensor_free(&st);
    mk_session_free(s);
    mk_program_free(p);
}

TEST(state_verifier_rules)
{
    mk_err e = {0};
    /* a state only read, never updated, is legal: coremltools' iOS18 TestReadState smoke runs
     * such a program on Core ML and expects the zeros a fresh state holds. It verifies, saves,
     * reads back and reads zeros. */
    mk_program *p = accumulator(0, 0);
    CHECK_MSG(mk_ir_verify(p, &e) == MK_OK, "%s", e.msg);
    char out[512];
    snprintf(out, sizeof out, "%s/read_only_state.mlpackage", mk_test_tmpdir());
    REQUIRE(mk_program_save(p, out, MK_TARGET_DEFAULT, &e) == MK_OK);
    mk_program_free(p);
    REQUIRE(mk_program_load(out, NULL, &p, &e) == MK_OK);
    CHECK(mk_ir_verify(p, &e) == MK_OK);
    mk_session *s = NULL;
    REQUIRE(mk_session_new(p, NULL, &s, &e) == MK_OK);
    float xv[4] = {1, -2, 0.5f, 4};
    mk_tensor x = x_tensor(xv);
    mk_tensor_list in = {1, &x}, res;
    for (int step = 0; step < 2; step++) { /* acc stays 0: the output is x at every step */
        REQUIRE(mk_session_run(s, &in, &res, NULL, &e) == MK_OK);
        const float *o = res.items[0].data;
        for (int k = 0; k < 4; k++) CHECK_MSG(o[k] == xv[k], "step %d elem %d: %g", step, k, o[k]);
        mk_tensor_list_free(&res);
    }
    mk_session_free(s);
    mk_program_free(p);
    e = (mk_err){0};
    p = accumulator(1, 1);
    CHECK(mk_ir_verify(p, &e) == MK_EINVAL && strstr(e.msg, "is not a state input"));
    mk_program_free(p);
    /* a state used by an ordinary op */
    p = accumulator(1, 0);
    mk_function *f = mk_ir_main(p);
    mk_type t = mk_type_make(MK_DT_FP32, 2, (const int64_t[]){1, 4});
    REQUIRE(op1(p, f->block, MK_OP_RELU, "x", f->inputs[1], NULL, NULL, "bad", &t));
    e = (mk_err){0};
    CHECK(mk_ir_verify(p, &e) == MK_EINVAL && strstr(e.msg, "input 'x': 'acc' is a state"));
    mk_program_free(p);
}

/* tests/data fixtures written by coremltools (scripts/gen_state_multifunction.py). */
static void fixture(mk_test_ctx *tc, const char *name, int n_functions)
{
    char path[256], out[512], w1[600], w2[600];
    snprintf(path, sizeof path, "tests/data/%s.mlpackage", name);
    mk_err e = {0};
    mk_program *p = NULL, *q = NULL;
    CHECK_MSG(mk_program_load(path, NULL, &p, &e) == MK_OK, "%s: %s", name, e.msg);
    if (tc->failures) return;
    CHECK(p->n_functions == n_functions);
    CHECK_MSG(mk_ir_verify(p, &e) == MK_OK, "%s: %s", name, e.msg);
    FILE *devnull = fopen("/dev/null", "w");
    REQUIRE(devnull);
    CHECK(mk_program_print(p, devnull, &e) == MK_OK);
    fclose(devnull);
    for (int i = 0; i < p->n_functions; i++) {
        mk_session *s = NULL;
        mk_tensor_list in, o;
        REQUIRE(mk_program_set_default_function(p, p->functions[i]->name, &e) == MK_OK);
        REQUIRE(mk_random_inputs(p, 1, &in, &e) == MK_OK);
        REQUIRE(mk_session_new_function(p, p->functions[i]->name, NULL, &s, &e) == MK_OK);
        CHECK_MSG(mk_session_run(s, &in, &o, NULL, &e) == MK_OK, "%s: %s", name, e.msg);
        mk_tensor_list_free(&o);
        mk_tensor_list_free(&in);
        mk_session_free(s);
    }
    CHECK(mk_session_new_function(p, "nope", NULL, &(mk_session *){NULL}, &e) == MK_EINVAL);
    snprintf(out, sizeof out, "%s/%s.mlpackage", mk_test_tmpdir(), name);
    REQUIRE(mk_program_save(p, out, MK_TARGET_DEFAULT, &e) == MK_OK);
    REQUIRE(mk_program_load(out, NULL, &q, &e) == MK_OK);
    char why[256];
    CHECK_MSG(mk_test_program_eq(p, q, why, sizeof why), "%s: %s", name, why);
    CHECK(q->n_states == p->n_states && q->n_fdescs == p->n_fdescs);
    snprintf(w1, sizeof w1, "%s/Data/com.apple.CoreML/weights/weight.bin", path);
    snprintf(w2, sizeof w2, "%s/Data/com.apple.CoreML/weights/weight.bin", out);
    int has = mk_test_files_equal(w1, w1) == 1;
    CHECK_MSG(!has || mk_test_files_equal(w1, w2) == 1, "%s: weight.bin differs", name);
    mk_program_free(p);
    mk_program_free(q);
}

TEST(state_coremltools_fixtures)
{
    fixture(tc, "ct_stateful_ios18", 1);
    fixture(tc, "ct_multifunction_ios18", 2);
}

/* milkit run --function / --steps --feed / --state-in / --state-out on the fixtures. */
TEST(state_cli_run)
{
    char out[8192], o[512], si[512], so[512];
    const char *sp = "tests/data/ct_stateful_ios18.mlpackage";
    const char *mp = "tests/data/ct_multifunction_ios18.mlpackage";
    snprintf(o, sizeof o, "%s/cli_out.npz", mk_test_tmpdir());
    snprintf(so, sizeof so, "%s/cli_state.npz", mk_test_tmpdir());
    snprintf(si, sizeof si, "%s/cli_state_in.npz", mk_test_tmpdir());
    int rc = mk_test_sh(out, sizeof out, "%s run %s --function nope -o %s", mk_test_bin(), mp, o);
    CHECK_EQ_INT(rc, 2);
    CHECK_MSG(strstr(out, "no function 'nope' (functions: prefill, decode)"), "%s", out);
    int lines = 0;
    for (const char *c = out; *c; c++) lines += *c == '\n';
    CHECK(lines == 1);
    CHECK(access(o, F_OK) != 0);
    rc = mk_test_sh(out, sizeof out, "%s run %s --function prefill -o %s", mk_test_bin(), mp, o);
    CHECK_MSG(rc == 0 && strstr(out, "y: [1, 3, 8]"), "%s", out);
    rc = mk_test_sh(out, sizeof out, "%s run %s", mk_test_bin(), mp);
    CHECK_MSG(rc == 0 && strstr(out, "y: [1, 1, 8]"), "default function: %s", out);
    /* 3 steps feeding sum back to x: the accumulator doubles, so acc ends at 4 x0 */
    rc = mk_test_sh(out, sizeof out, "%s run %s --seed 5 --steps 3 --feed sum=x --state-out %s",
                    mk_test_bin(), sp, so);
    CHECK_MSG(rc == 0, "%s", out);
    mk_tensor_list st = {0, NULL}, x0 = {0, NULL};
    mk_err e = {0};
    mk_program *p = NULL;
    REQUIRE(mk_program_load(sp, NULL, &p, &e) == MK_OK);
    REQUIRE(mk_random_inputs(p, 5, &x0, &e) == MK_OK);
    REQUIRE(mk_tensors_load(1, (const char *const[]){so}, &st, &e) == MK_OK);
    const mk_tensor *acc = mk_tensor_list_find(&st, "acc"), *x = mk_tensor_list_find(&x0, "x");
    REQUIRE(acc && x && st.n == 2);
    for (int i = 0; i < 4; i++) {
        float want = mk_f16_to_f32(mk_f32_to_f16(((const float *)x->data)[i])) * 4;
        CHECK_MSG(((const float *)acc->data)[i] == want, "acc[%d] %g want %g", i,
                  ((const float *)acc->data)[i], want);
    }
    /* --state-in: the saved state continues (one more step adds x0 again, rounded to fp16);
     * an unknown name is refused */
    rc = mk_test_sh(out, sizeof out, "%s run %s --seed 5 --state-in %s --state-out %s",
                    mk_test_bin(), sp, so, si);
    CHECK_MSG(rc == 0, "%s", out);
    mk_tensor_list st2 = {0, NULL};
    REQUIRE(mk_tensors_load(1, (const char *const[]){si}, &st2, &e) == MK_OK);
    const mk_tensor *acc2 = mk_tensor_list_find(&st2, "acc");
    REQUIRE(acc2);
    for (int i = 0; i < 4; i++)
        CHECK(((const float *)acc2->data)[i] ==
              mk_f16_to_f32(
                  mk_f32_to_f16(((const float *)acc->data)[i] +
                                mk_f16_to_f32(mk_f32_to_f16(((const float *)x->data)[i])))));
    rc = mk_test_sh(out, sizeof out, "%s run %s --state-in %s", mk_test_bin(), mp, so);
    CHECK_MSG(rc == 2 && strstr(out, "is not a state of the model"), "%s", out);
    mk_tensor_list_free(&st);
    mk_tensor_list_free(&st2);
    mk_tensor_list_free(&x0);
    mk_program_free(p);
}

/* Two functions built with the C API, both defining x and the same weight (separate copies):
 * names are scoped per function, the weight is written once, the default function is kept. */
mk_program *mk_test_two_functions(void);
mk_program *mk_test_two_functions(void)
{
    mk_program *p = mk_ir_program_new(NULL, 9);
    float w[64], b[16];
    for (int i = 0; i < 64; i++) w[i] = (float)(i % 7) * 0.25f - 0.5f;
    for (int i = 0; i < 16; i++) b[i] = (float)i / 16;
    static const char *const names[2] = {"prefill", "decode"};
    for (int k = 0; p && k < 2; k++) {
        mk_function *f = mk_ir_function_new(p, names[k]);
        if (!f) return p;
        int64_t seq = k ? 1 : 5;
        mk_type xt = mk_type_make(MK_DT_FP32, 3, (const int64_t[]){1, seq, 4});
        mk_type yt = mk_type_make(MK_DT_FP32, 3, (const int64_t[]){1, seq, 16});
        mk_type wt = mk_type_make(MK_DT_FP32, 2, (const int64_t[]){16, 4});
        mk_type bt = mk_type_make(MK_DT_FP32, 1, (const int64_t[]){16});
        mk_value *x = mk_ir_function_add_input(p, f, "x", &xt);
        mk_value *wv = mk_ir_const(p, f->block, "w", &wt, w, sizeof w, 0);
        mk_value *bv = mk_ir_const(p, f->block, "b", &bt, b, sizeof b, 0);
        mk_op *op = mk_ir_op_new(p, MK_OP_LINEAR, "y");
        if (!x || !wv || !bv || !op || !mk_ir_op_add_input(p, op, "x", x) ||
            !mk_ir_op_add_input(p, op, "weight", wv) || !mk_ir_op_add_input(p, op, "bias", bv))
            return p;
        mk_value *y = mk_ir_op_add_output(p, op, "y", &yt);
        if (!y) return p;
        mk_ir_block_append(f->block, op);
        mk_ir_block_set_outputs(p, f->block, 1, &y);
    }
    if (p) p->default_function = "decode";
    return p;
}

TEST(multifunction_c_api_scoped_names_shared_blob)
{
    mk_program *p = mk_test_two_functions(), *q = NULL;
    mk_err e = {0};
    REQUIRE(p && p->n_functions == 2 && mk_ir_main(p)->block->first);
    CHECK_MSG(mk_ir_verify(p, &e) == MK_OK, "%s", e.msg);
    char a[512], wb[600], b[512];
    snprintf(a, sizeof a, "%s/two_fn.mlpackage", mk_test_tmpdir());
    snprintf(b, sizeof b, "%s/two_fn_b.mlpackage", mk_test_tmpdir());
    REQUIRE(mk_program_save(p, a, MK_TARGET_DEFAULT, &e) == MK_OK);
    snprintf(wb, sizeof wb, "%s/Data/com.apple.CoreML/weights/weight.bin", a);
    unsigned char *d = NULL;
    size_t n = 0;
    REQUIRE(mk_test_read_file(wb, &d, &n));
    free(d);
    CHECK_MSG(n == 64 + 64 + 256 + 64 + 64, "weight.bin %zu bytes: w and b once each", n);
    REQUIRE(mk_program_load(a, NULL, &q, &e) == MK_OK);
    CHECK(q->n_functions == 2 && q->n_fdescs == 2 && !strcmp(mk_ir_main(q)->name, "decode"));
    CHECK(!strcmp(mk_program_default_function(q), "decode"));
    CHECK(mk_ir_feature(q, mk_ir_function_find(q, "prefill"), "x", 0)->shape[1] == 5);
    for (int i = 0; i < 2; i++) {
        mk_session *s = NULL;
        mk_tensor_list in, o;
        REQUIRE(mk_program_set_default_function(q, q->functions[i]->name, &e) == MK_OK);
        REQUIRE(mk_random_inputs(q, 2, &in, &e) == MK_OK);
        REQUIRE(mk_session_new(q, NULL, &s, &e) == MK_OK);
        CHECK_MSG(mk_session_run(s, &in, &o, NULL, &e) == MK_OK, "%s", e.msg);
        CHECK(o.n == 1 && o.items[0].dims[1] == (i ? 1 : 5));
        mk_tensor_list_free(&o);
        mk_tensor_list_free(&in);
        mk_session_free(s);
    }
    REQUIRE(mk_program_save(q, b, MK_TARGET_DEFAULT, &e) == MK_OK);
    char m1[600], m2[600];
    snprintf(m1, sizeof m1, "%s/Data/com.apple.CoreML/model.mlmodel", a);
    snprintf(m2, sizeof m2, "%s/Data/com.apple.CoreML/model.mlmodel", b);
    CHECK(mk_test_files_equal(m1, m2) == 1);
    mk_program_free(p);
    mk_program_free(q);
}

TEST(state_passed_as_input_is_refused)
{
    mk_program *p = accumulator(1, 0);
    mk_err e = {0};
    mk_session *s = NULL;
    REQUIRE(p && mk_session_new(p, NULL, &s, &e) == MK_OK);
    float v[4] = {0};
    mk_tensor t[2] = {{.name = (char *)"x",
                       .dtype = 11,
                       .rank = 2,
                       .dims = {1, 4},
                       .data = v,
                       .nbytes = sizeof v},
                      {.name = (char *)"acc",
                       .dtype = 11,
                       .rank = 2,
                       .dims = {1, 4},
                       .data = v,
                       .nbytes = sizeof v}};
    mk_tensor_list in = {2, t}, out;
    CHECK(mk_session_run(s, &in, &out, NULL, &e) == MK_EINVAL && strstr(e.msg, "is a state"));
    mk_session_free(s);
    mk_program_free(p);
}

/* The fixture with its function's state input renamed: read_state then names a state the
 * function never declares. Loading fails with one line; run exits 2 and writes nothing. */
TEST(state_read_before_declared_refused)
{
    char out[8192], d[512], o[600];
    if (mk_test_sh(out, sizeof out, "command -v protoc") != 0) SKIP("protoc not installed");
    snprintf(d, sizeof d, "%s/undeclared.mlpackage", mk_test_tmpdir());
    snprintf(o, sizeof o, "%s/undeclared_out.npz", mk_test_tmpdir());
    int rc = mk_test_sh(out, sizeof out,
                        "set -e; S=tests/data/ct_stateful_ios18.mlpackage; D='%s'; mkdir -p "
                        "$D/Data/com.apple.CoreML;"
                        " cp $S/Manifest.json $D/;"
                        " protoc --decode=CoreML.Specification.Model -Iproto proto/Model.proto"
                        "   < $S/Data/com.apple.CoreML/model.mlmodel"
                        " | awk '/name: \"acc\"$/ {n++; if (n == 2) sub(/\"acc\"/, "
                        "\"\\\"acc_declared\\\"\")} {print}'"
                        " | protoc --encode=CoreML.Specification.Model -Iproto proto/Model.proto"
                        "   > $D/Data/com.apple.CoreML/model.mlmodel",
                        d);
    REQUIRE(rc == 0);
    rc = mk_test_sh(out, sizeof out, "%s run %s -o %s", mk_test_bin(), d, o);
    CHECK_EQ_INT(rc, 2);
    CHECK_MSG(strstr(out, "undefined value 'acc'"), "%s", out);
    int lines = 0;
    for (const char *c = out; *c; c++) lines += *c == '\n';
    CHECK(lines == 1);
    CHECK(access(o, F_OK) != 0);
}
