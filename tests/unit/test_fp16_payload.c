/* The fp16 pass's deferred weight conversion (src/passes/fp16_payload.c): a large fp32 weight
 * in memory the program owns converts in place; a payload still read as fp32, a payload two
 * constants share, or one the program does not own converts into a new buffer and stays
 * intact. Every case checks the fp16 bits against mk_f32_to_f16 of the original values. */
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "passes/passes_int.h"
#include "test.h"

enum { K = 512, N = 256 }; /* K * N = 131072 elements: above MK_FP16_DEFER_MIN */
#define WBYTES (sizeof(float) * K * N)

/* Where weight i's payload lives. */
typedef enum { OWNED, CALLER, SAME_AS_W0 } where;

typedef struct pl {
    mk_program *p;
    mk_function *f;
    const void *data[4]; /* each weight's fp32 payload before the pass */
} pl;

static void fill(float *w, unsigned seed, float big)
{
    for (size_t i = 0; i < (size_t)K * N; i++) {
        seed = seed * 1664525u + 1013904223u;
        w[i] = ((float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f) * 0.5f;
    }
    if (big != 0) w[K * N / 2] = big;
}

/* y_i = matmul(x, W_i); with out_w0, W_0 itself is also a function output (read as fp32). */
static int build(pl *t, int n_w, const where *at, const float *ref, float *caller, int out_w0)
{
    memset(t, 0, sizeof *t);
    t->p = mk_ir_program_new(NULL, 6);
    t->f = t->p ? mk_ir_function_new(t->p, "main") : NULL;
    if (!t->f) return 0;
    int64_t xd[2] = {1, K}, wd[2] = {K, N};
    mk_type xt = mk_type_make(MK_DT_FP32, 2, xd), wt = mk_type_make(MK_DT_FP32, 2, wd);
    mk_type none = mk_type_make(MK_DT_INVALID, MK_RANK_UNKNOWN, NULL);
    mk_value *x = mk_ir_function_add_input(t->p, t->f, "x", &xt);
    mk_value *outs[5];
    int n_out = 0;
    for (int i = 0; i < n_w; i++) {
        void *d = at[i] == OWNED    ? mk_ir_program_alloc_payload(t->p, WBYTES)
                  : at[i] == CALLER ? (void *)caller
                                    : (void *)t->data[0];
        if (!d) return 0;
        if (at[i] != SAME_AS_W0) memcpy(d, ref, WBYTES);
        t->data[i] = d;
        char wn[16], yn[16];
        snprintf(wn, sizeof wn, "w%d", i);
        snprintf(yn, sizeof yn, "y%d", i);
        mk_value *w = mk_ir_const(t->p, t->f->block, wn, &wt, d, WBYTES, 1);
        mk_op *mm = mk_ir_op_new(t->p, MK_OP_MATMUL, yn);
        mk_value *y = mm ? mk_ir_op_add_output(t->p, mm, yn, &none) : NULL;
        mk_err e = {0};
        if (!x || !w || !y || !mk_ir_op_add_input(t->p, mm, "x", x) ||
            !mk_ir_op_add_input(t->p, mm, "y", w))
            return 0;
        mk_ir_block_append(t->f->block, mm);
        if (mk_ir_infer_op(mm, &e) != MK_OK) return 0;
        outs[n_out++] = y;
        if (i == 0 && out_w0) outs[n_out++] = w;
    }
    return mk_ir_block_set_outputs(t->p, t->f->block, n_out, outs);
}

/* The fp16 constant that matmul y<i> reads after the pass. */
static const mk_value *fp16_weight(const pl *t, int i)
{
    char yn[16];
    snprintf(yn, sizeof yn, "y%d", i);
    MK_FOR_OPS(t->f->block, op)
    {
        const mk_value *y = op->kind == MK_OP_MATMUL ? mk_ir_arg(op, "y") : NULL;
        size_t n = strlen(yn);
        if (y && y->cst && y->type.dtype == MK_DT_FP16 && op->name && !strncmp(op->name, yn, n) &&
            (op->name[n] == '_' || !op->name[n]))
            return y; /* the fp16 matmul is y<i>_cast_fp16, its cast back y<i> */
    }
    return NULL;
}

/* Whether the fp16 payload is mk_f32_to_f16(ref) with infinities clipped to +-65504 (H14). */
static int fp16_of(const mk_value *v, const float *ref)
{
    const uint16_t *h = v->cst->data;
    for (size_t i = 0; i < (size_t)K * N; i++) {
        uint16_t want = mk_f32_to_f16(ref[i]);
        if ((want & 0x7fff) == 0x7c00) want = (uint16_t)((want & 0x8000) | 0x7bff);
        if (h[i] != want) return 0;
    }
    return 1;
}

static int run_fp16(pl *t)
{
    mk_err e = {0};
    int r = mk_pass_fp16(t->p, &e);
    if (r <= 0) fprintf(stderr, "fp16 pass: %d %s\n", r, e.msg);
    if (r > 0 && mk_ir_verify(t->p, &e) != MK_OK) {
        fprintf(stderr, "verify: %s\n", e.msg);
        return 0;
    }
    return r > 0;
}

TEST(fp16_payload_owned_dead_weight_converts_in_place)
{
    float *ref = malloc(WBYTES);
    REQUIRE(ref);
    fill(ref, 3, 0);
    const where at[2] = {OWNED, OWNED};
    pl t;
    REQUIRE(build(&t, 2, at, ref, NULL, 0));
    CHECK(mk_ir_program_owns_anon(t.p, t.data[0], WBYTES));
    REQUIRE(run_fp16(&t));
    for (int i = 0; i < 2; i++) {
        const mk_value *h = fp16_weight(&t, i);
        REQUIRE(h);
        CHECK(h->cst->data == t.data[i]); /* the halves sit where the fp32 bytes were */
        CHECK_EQ_INT((long long)h->cst->nbytes, (long long)(WBYTES / 2));
        CHECK(fp16_of(h, ref));
    }
    mk_ir_program_free(t.p);
    free(ref);
}

TEST(fp16_payload_weight_still_read_as_fp32_gets_its_own_buffer)
{
    float *ref = malloc(WBYTES);
    REQUIRE(ref);
    fill(ref, 5, 0);
    const where at[1] = {OWNED};
    pl t;
    REQUIRE(build(&t, 1, at, ref, NULL, 1));
    REQUIRE(run_fp16(&t));
    const mk_value *h = fp16_weight(&t, 0);
    REQUIRE(h);
    CHECK(h->cst->data != t.data[0]);
    CHECK(fp16_of(h, ref));
    CHECK(memcmp(t.data[0], ref, WBYTES) == 0); /* the fp32 output still reads W_0 */
    mk_ir_program_free(t.p);
    free(ref);
}

TEST(fp16_payload_shared_or_foreign_payloads_stay_intact)
{
    float *ref = malloc(WBYTES), *caller = malloc(WBYTES);
    REQUIRE(ref && caller);
    fill(ref, 9, 1e6f); /* one value beyond fp16: clipped in the fp16 copy (H14 counts) */
    /* W_0 and W_1 share one owned payload; W_2 lives in caller memory (not the program's) */
    const where at[3] = {OWNED, SAME_AS_W0, CALLER};
    pl t;
    REQUIRE(build(&t, 3, at, ref, caller, 0));
    mk_err e = {0};
    mk_fp16_stats st;
    REQUIRE(mk_pass_fp16_ex(t.p, &st, &e) >= 0);
    REQUIRE(mk_ir_verify(t.p, &e) == MK_OK);
    /* matmul is not a saturating op: a weight beyond fp16 keeps its op fp32 (H14) */
    CHECK(st.n_range_fp32 == 3);
    CHECK(fp16_weight(&t, 0) == NULL);
    CHECK(memcmp(t.data[0], ref, WBYTES) == 0);
    CHECK(memcmp(caller, ref, WBYTES) == 0);
    mk_ir_program_free(t.p);

    fill(ref, 11, 0);
    REQUIRE(build(&t, 3, at, ref, caller, 0));
    REQUIRE(run_fp16(&t));
    for (int i = 0; i < 3; i++) {
        const mk_value *h = fp16_weight(&t, i);
        REQUIRE(h);
        CHECK(h->cst->data != t.data[i]);
        CHECK(fp16_of(h, ref));
    }
    CHECK(memcmp(caller, ref, WBYTES) == 0);
    mk_ir_program_free(t.p);
    free(caller);
    free(ref);
}

TEST(fp16_payload_survives_allocation_failures)
{
    float *ref = malloc(WBYTES);
    REQUIRE(ref);
    fill(ref, 13, 0);
    const where at[2] = {OWNED, SAME_AS_W0};
    int ok = 0, failures = 0;
    for (long n = 1; n < 3000 && !ok; n++) {
        pl t;
        REQUIRE(build(&t, 2, at, ref, NULL, 1));
        const mk_allocator *saved = t.p->alloc;
        mk_failing_alloc fa;
        mk_failing_alloc_init(&fa, n);
        t.p->alloc = &fa.base; /* the pass's maps and lists; the arena keeps its allocator */
        mk_err e = {0};
        int r = mk_pass_fp16(t.p, &e);
        t.p->alloc = saved;
        CHECK_MSG(r > 0 || e.code == MK_ENOMEM, "at %ld: %d %s", n, r, e.msg);
        if (r > 0) {
            ok = 1;
            for (int i = 0; i < 2; i++) {
                const mk_value *h = fp16_weight(&t, i);
                CHECK(h && fp16_of(h, ref));
            }
            CHECK(memcmp(t.data[0], ref, WBYTES) == 0); /* W_0 is still an fp32 output */
        } else {
            failures++;
        }
        mk_ir_program_free(t.p);
    }
    CHECK(ok);
    CHECK_MSG(failures > 3, "only %d failing runs", failures);
    free(ref);
}
