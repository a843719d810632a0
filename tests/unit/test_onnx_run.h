/* Helpers for ONNX lowering tests that import a model built with test_onnx_build.h, verify
 * it, and run it in the interpreter. Test-only; include after test.h. */
#ifndef MK_TEST_ONNX_RUN_H
#define MK_TEST_ONNX_RUN_H

#include "test.h"
#include "test_onnx_build.h"

static inline mk_program *imp(mk_test_ctx *tc, ob *b, const mk_convert_options *o)
{
    mk_program *p = NULL;
    mk_err e;
    mk_status st = ob_import(b, o, &p, &e);
    CHECK_MSG(st == MK_OK, "import failed: %s", e.msg);
    if (st != MK_OK) return NULL;
    mk_err ve = {0};
    CHECK_MSG(mk_ir_verify(p, &ve) == MK_OK, "verify: %s", ve.msg);
    return p;
}

/* Run p on inputs shaped as declared (4-byte elements); output k into out. */
static inline int run_k(mk_test_ctx *tc, const mk_program *p, int n_in, const void *const *data,
                        int k, void *out, size_t out_bytes)
{
    mk_tensor_list in = {0, NULL}, res = {0, NULL};
    in.items = calloc((size_t)n_in + 1, sizeof *in.items);
    int ok = 0;
    for (int i = 0; i < n_in; i++) {
        mk_tensor *t = &in.items[i];
        const mk_feature *f = &p->inputs[i];
        t->name = mk_strdup_default(f->name);
        t->dtype = f->dtype;
        t->rank = f->rank;
        size_t n = 1;
        for (int d = 0; d < f->rank; d++) n *= (size_t)(t->dims[d] = f->shape[d]);
        t->nbytes = n * 4;
        t->data = malloc(t->nbytes);
        memcpy(t->data, data[i], t->nbytes);
        in.n++;
    }
    mk_run_options ro = {0};
    ro.threads = 1;
    mk_err e = {0};
    if (mk_run(p, &ro, &in, &res, &e) != MK_OK) {
        CHECK_MSG(0, "run: %s", e.msg);
    } else if (res.n <= k || res.items[k].nbytes != out_bytes) {
        CHECK_MSG(0, "output %d has %zu bytes, expected %zu", k,
                  res.n > k ? res.items[k].nbytes : 0, out_bytes);
    } else {
        memcpy(out, res.items[k].data, out_bytes);
        ok = 1;
    }
    mk_tensor_list_free(&in);
    mk_tensor_list_free(&res);
    return ok;
}

/* run_k for output 0. */
static inline int run1(mk_test_ctx *tc, const mk_program *p, int n_in, const void *const *data,
                       void *out, size_t out_bytes)
{
    return run_k(tc, p, n_in, data, 0, out, out_bytes);
}

#endif
