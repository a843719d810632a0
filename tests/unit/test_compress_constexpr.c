/* The constexpr decompressors of iOS16-18 in the interpreter, each against a small reference
 * written out by hand from the op definitions: palette lookup (iOS16 packed, iOS18 per-group
 * and vector), sparse masks (iOS16 packed bytes, iOS18 uint1), the iOS18 sparse-to-sparse ops
 * chained into constexpr_sparse_to_dense, a lut feeding a shift/scale, a package round trip of
 * the chains, and the coremltools goldens f1/f2 dequantized by hand. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "ir/ir.h"
#include "test.h"
#include "test_coreml.h"

typedef struct cb {
    mk_program *p;
    mk_function *f;
    mk_block *b;
    int n;
} cb;

static int cb_init(cb *B, int spec)
{
    B->n = 0;
    B->p = mk_ir_program_new(NULL, spec);
    mk_test_owned(B->p); /* fault runs: the test's own (test.h) */
    B->f = B->p ? mk_ir_function_new(B->p, "main") : NULL;
    B->b = B->f ? B->f->block : NULL;
    return B->b != NULL;
}

/* A named const of dtype dt; data holds the raw (packed when sub-byte) payload. */
static mk_value *cst(cb *B, mk_dtype dt, int rank, const int64_t *d, const void *data,
                     size_t nbytes)
{
    char nm[32];
    snprintf(nm, sizeof nm, "c%d", B->n++);
    mk_type t = mk_type_make(dt, rank, d);
    return mk_ir_const(B->p, B->b, nm, &t, data, nbytes, 0);
}

static mk_value *f32s(cb *B, int rank, const int64_t *d, const float *v)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)d[i];
    return cst(B, MK_DT_FP32, rank, d, v, n * 4);
}

/* Pack small unsigned values LSB first, `bits` each (the Core ML sub-byte layout). */
static size_t pack(const int *v, size_t n, int bits, unsigned char *out)
{
    size_t nb = (n * (size_t)bits + 7) / 8;
    memset(out, 0, nb);
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < bits; j++) {
            size_t bit = i * (size_t)bits + (size_t)j;
            out[bit / 8] |= (unsigned char)(((v[i] >> j) & 1) << (bit % 8));
        }
    return nb;
}

static mk_value *packed(cb *B, mk_dtype dt, int rank, const int64_t *d, const int *v)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)d[i];
    unsigned char buf[256];
    size_t nb = pack(v, n, mk_dtype_bits(dt), buf);
    return cst(B, dt, rank, d, buf, nb);
}

/* op(names = vals) with n_out outputs, appended and type-inferred. */
static mk_op *op(cb *B, mk_op_kind k, int n_out, int n, const char *const *names,
                 mk_value *const *vals)
{
    mk_op *o = mk_ir_op_new(B->p, k, mk_ir_op_info(k)->name);
    mk_type none = mk_type_make(MK_DT_INVALID, MK_RANK_UNKNOWN, NULL);
    if (!o) return NULL;
    for (int i = 0; i < n; i++)
        if (!vals[i] || !mk_ir_op_add_input(B->p, o, names[i], vals[i])) return NULL;
    for (int i = 0; i < n_out; i++)
        if (!mk_ir_op_add_output(B->p, o, NULL, &none)) return NULL;
    mk_ir_block_append(B->b, o);
    mk_err e = {MK_OK, ""};
    return mk_ir_infer_op(o, &e) == MK_OK ? o : NULL;
}

/* Make v the program's output (through add(x, v) with an input x of v's shape, fed zeros),
 * run it and compare with want[n] exactly (fp32). */
static void expect(mk_test_ctx *tc, cb *B, mk_value *v, const float *want, size_t n,
                   const char *what)
{
    mk_type xt = v->type;
    if (v->type.dtype != MK_DT_FP16) xt.dtype = MK_DT_FP32;
    mk_value *x = mk_ir_function_add_input(B->p, B->f, "cx_probe", &xt);
    static const char *const an[] = {"x", "y"};
    mk_value *av[] = {x, v};
    mk_op *add = x ? op(B, MK_OP_ADD, 1, 2, an, av) : NULL;
    CHECK_MSG(add && mk_ir_block_set_outputs(B->p, B->b, 1, &add->outputs[0]), "%s: build", what);
    if (!add) return;
    mk_err e = {MK_OK, ""};
    CHECK_MSG(mk_ir_verify(B->p, &e) == MK_OK, "%s: verify: %s", what, e.msg);
    mk_tensor_list in = {0, NULL}, out = {0, NULL};
    mk_run_options ro = {0, 1, 1};
    if (mk_random_inputs(B->p, 1, &in, &e) == MK_OK) {
        for (int i = 0; i < in.n; i++)
            if (!strcmp(in.items[i].name, "cx_probe"))
                memset(in.items[i].data, 0, in.items[i].nbytes);
        if (mk_run(B->p, &ro, &in, &out, &e) == MK_OK && out.n == 1 &&
            out.items[0].nbytes == n * 4) {
            const float *g = out.items[0].data;
            for (size_t i = 0; i < n; i++)
                if (fabsf(g[i] - want[i]) > 1e-6f * (1 + fabsf(want[i]))) {
                    CHECK_MSG(0, "%s: element %zu is %g, expected %g", what, i, (double)g[i],
                              (double)want[i]);
                    break;
                }
        } else {
            CHECK_MSG(0, "%s: run: %s", what, e.msg);
        }
    } else {
        CHECK_MSG(0, "%s: inputs: %s", what, e.msg);
    }
    mk_tensor_list_free(&in);
    mk_tensor_list_free(&out);
}

static mk_value *i32_scalar(cb *B, int32_t v)
{
    return cst(B, MK_DT_INT32, 0, NULL, &v, 4);
}

/* iOS16: 2-bit indices packed LSB first, shape (5,) as in the op's documentation. */
TEST(constexpr_lut_ios16_packed)
{
    cb B;
    REQUIRE(cb_init(&B, 7));
    int64_t n5 = 5, n4 = 4, n2 = 2, one = 1;
    static const int idx[5] = {0, 3, 2, 1, 3};
    unsigned char bytes[2];
    pack(idx, 5, 2, bytes);
    CHECK_EQ_INT(bytes[0], 0x6c); /* 01 10 11 00 */
    CHECK_EQ_INT(bytes[1], 0x03);
    static const float lut[4] = {-1.5f, 0.25f, 4, 9};
    uint32_t shape = 5;
    mk_op *o = mk_ir_op_new(B.p, MK_OP_CONSTEXPR_LUT_TO_DENSE, "lut16");
    mk_type it = mk_type_make(MK_DT_UINT8, 1, &n2), lt = mk_type_make(MK_DT_FP32, 1, &n4),
            st = mk_type_make(MK_DT_UINT32, 1, &one);
    REQUIRE(o && mk_ir_op_add_attr(B.p, o, "indices", mk_ir_const_value(B.p, &it, bytes, 2, 0)) &&
            mk_ir_op_add_attr(B.p, o, "lut", mk_ir_const_value(B.p, &lt, lut, 16, 0)) &&
            mk_ir_op_add_attr(B.p, o, "shape", mk_ir_const_value(B.p, &st, &shape, 4, 0)));
    mk_type none = mk_type_make(MK_DT_INVALID, MK_RANK_UNKNOWN, NULL);
    REQUIRE(mk_ir_op_add_output(B.p, o, NULL, &none));
    mk_ir_block_append(B.b, o);
    mk_err e = {MK_OK, ""};
    REQUIRE(mk_ir_infer_op(o, &e) == MK_OK);
    CHECK_EQ_INT(o->outputs[0]->type.dims[0], n5);
    const float want[5] = {-1.5f, 9, 4, 0.25f, 9};
    expect(tc, &B, o->outputs[0], want, 5, "iOS16 lut");
    mk_ir_program_free(B.p);
}

/* iOS18 per-group scalar palettization: the op documentation's case 1 (two LUTs along axis 0). */
TEST(constexpr_lut_ios18_per_group)
{
    cb B;
    REQUIRE(cb_init(&B, 9));
    int64_t id[2] = {6, 2}, ld[4] = {2, 1, 4, 1};
    static const int idx[12] = {2, 3, 3, 0, 1, 0, 3, 0, 2, 1, 0, 3};
    static const float lut[8] = {1, 5, 9, 13, 2, 10, 18, 26};
    static const char *const nm[] = {"indices", "lut"};
    mk_value *v[] = {packed(&B, MK_DT_UINT2, 2, id, idx), f32s(&B, 4, ld, lut)};
    mk_op *o = op(&B, MK_OP_CONSTEXPR_LUT_TO_DENSE, 1, 2, nm, v);
    REQUIRE(o);
    const float want[12] = {9, 13, 13, 1, 5, 1, 26, 2, 18, 10, 2, 26};
    expect(tc, &B, o->outputs[0], want, 12, "per-group lut");
    mk_ir_program_free(B.p);
}

/* iOS18 LUTs per block on two axes (rank 3, blocks of 2 along axes 0 and 2), uint4 indices and
 * an fp16 LUT: the interpreter's direct path against the block arithmetic of the op docs. */
TEST(constexpr_lut_ios18_blocks_two_axes)
{
    cb B;
    REQUIRE(cb_init(&B, 9));
    int64_t id[3] = {4, 3, 6}, ld[5] = {2, 1, 3, 16, 1};
    int idx[72];
    uint16_t lut[96];
    float want[72];
    unsigned s = 5;
    for (int i = 0; i < 72; i++) s = s * 1664525u + 1013904223u, idx[i] = (int)((s >> 9) % 16);
    for (int g = 0; g < 6; g++)
        for (int j = 0; j < 16; j++) lut[g * 16 + j] = mk_f32_to_f16((float)(g * 100 + j) * 0.5f);
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 3; b++)
            for (int c = 0; c < 6; c++) {
                int i = (a * 3 + b) * 6 + c, g = (a / 2) * 3 + c / 2;
                want[i] = mk_f16_to_f32(lut[g * 16 + idx[i]]);
            }
    static const char *const nm[] = {"indices", "lut"};
    mk_value *v[] = {packed(&B, MK_DT_UINT4, 3, id, idx),
                     cst(&B, MK_DT_FP16, 5, ld, lut, sizeof lut)};
    mk_op *o = op(&B, MK_OP_CONSTEXPR_LUT_TO_DENSE, 1, 2, nm, v);
    REQUIRE(o);
    expect(tc, &B, o->outputs[0], want, 72, "two-axis block lut");
    mk_ir_program_free(B.p);
}

/* iOS18 vector palettization (case 2): 1-bit indices [2,2,2], vectors of 3 along axis 1 or 2. */
TEST(constexpr_lut_ios18_vector)
{
    static const int idx[8] = {0, 0, 1, 0, 1, 1, 0, 0};
    static const float lut[6] = {1, 2, 3, 10, 20, 30}; /* a = 1,2,3; b = 10,20,30 */
    const float want1[24] = {1,  1,  2,  2,  3,  3,  10, 1, 20, 2, 30, 3,
                             10, 10, 20, 20, 30, 30, 1,  1, 2,  2, 3,  3};
    const float want2[24] = {1,  2,  3,  1,  2,  3,  10, 20, 30, 1, 2, 3,
                             10, 20, 30, 10, 20, 30, 1,  2,  3,  1, 2, 3};
    for (int axis = 1; axis <= 2; axis++) {
        cb B;
        REQUIRE(cb_init(&B, 9));
        int64_t id[3] = {2, 2, 2}, ld[5] = {1, 1, 1, 2, 3};
        static const char *const nm[] = {"indices", "lut", "vector_axis"};
        mk_value *v[] = {packed(&B, MK_DT_UINT1, 3, id, idx), f32s(&B, 5, ld, lut),
                         i32_scalar(&B, axis == 2 ? -1 : 1)};
        mk_op *o = op(&B, MK_OP_CONSTEXPR_LUT_TO_DENSE, 1, 3, nm, v);
        REQUIRE(o);
        CHECK_EQ_INT(o->outputs[0]->type.dims[axis], 6);
        expect(tc, &B, o->outputs[0], axis == 1 ? want1 : want2, 24, "vector lut");
        mk_ir_program_free(B.p);
    }
}

/* iOS16 sparse: mask bytes LSB first; iOS18: a uint1 mask shaped like the output. */
TEST(constexpr_sparse_to_dense_both_forms)
{
    static const int bits[10] = {0, 1, 1, 0, 0, 0, 1, 0, 0, 1};
    static const float nz[4] = {3, -4, 5.5f, 7};
    const float want[10] = {0, 3, -4, 0, 0, 0, 5.5f, 0, 0, 7};
    int64_t n4 = 4, od[2] = {2, 5};
    {
        cb B;
        REQUIRE(cb_init(&B, 7));
        unsigned char mask[2];
        pack(bits, 10, 1, mask);
        uint32_t shape[2] = {2, 5};
        int64_t n2 = 2;
        mk_op *o = mk_ir_op_new(B.p, MK_OP_CONSTEXPR_SPARSE_TO_DENSE, "sp16");
        mk_type nt = mk_type_make(MK_DT_FP32, 1, &n4), mt = mk_type_make(MK_DT_UINT8, 1, &n2),
                st = mk_type_make(MK_DT_UINT32, 1, &n2);
        mk_type none = mk_type_make(MK_DT_INVALID, MK_RANK_UNKNOWN, NULL);
        REQUIRE(o &&
                mk_ir_op_add_attr(B.p, o, "nonzero_data", mk_ir_const_value(B.p, &nt, nz, 16, 0)) &&
                mk_ir_op_add_attr(B.p, o, "mask", mk_ir_const_value(B.p, &mt, mask, 2, 0)) &&
                mk_ir_op_add_attr(B.p, o, "shape", mk_ir_const_value(B.p, &st, shape, 8, 0)) &&
                mk_ir_op_add_output(B.p, o, NULL, &none));
        mk_ir_block_append(B.b, o);
        mk_err e = {MK_OK, ""};
        REQUIRE(mk_ir_infer_op(o, &e) == MK_OK);
        expect(tc, &B, o->outputs[0], want, 10, "iOS16 sparse");
        mk_ir_program_free(B.p);
    }
    {
        cb B;
        REQUIRE(cb_init(&B, 9));
        static const char *const nm[] = {"nonzero_data", "mask"};
        mk_value *v[] = {f32s(&B, 1, &n4, nz), packed(&B, MK_DT_UINT1, 2, od, bits)};
        mk_op *o = op(&B, MK_OP_CONSTEXPR_SPARSE_TO_DENSE, 1, 2, nm, v);
        REQUIRE(o);
        expect(tc, &B, o->outputs[0], want, 10, "iOS18 sparse");
        mk_ir_program_free(B.p);
    }
}

static const int doc_mask[24] = {1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1,
                                 0, 1, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0};
static const int doc_nz[9] = {0, 1, 1, 0, 1, 1, 0, 0, 1};

/* lut_to_sparse -> sparse_to_dense: the documentation's 4x6 example, scalar (lut {2, 3}) and
 * vector along axis 0 (lut {[2,2], [3,3]}: the dense result has every row doubled). */
static int build_lut_sparse(cb *B, int vector, mk_op **ls, mk_op **sd)
{
    if (!cb_init(B, 9)) return 0;
    int64_t md[2] = {4, 6}, n9 = 9, ld[4] = {1, 1, 2, vector ? 2 : 1};
    static const float l1[2] = {2, 3}, l2[4] = {2, 2, 3, 3};
    static const char *const nm[] = {"indices_mask", "indices_nonzero_data", "lut", "vector_axis"};
    mk_value *v[] = {packed(B, MK_DT_UINT1, 2, md, doc_mask),
                     packed(B, MK_DT_UINT1, 1, &n9, doc_nz), f32s(B, 4, ld, vector ? l2 : l1),
                     i32_scalar(B, 0)};
    *ls = op(B, MK_OP_CONSTEXPR_LUT_TO_SPARSE, 2, vector ? 4 : 3, nm, v);
    if (!*ls) return 0;
    static const char *const sn[] = {"nonzero_data", "mask"};
    mk_value *sv[] = {(*ls)->outputs[1], (*ls)->outputs[0]};
    *sd = op(B, MK_OP_CONSTEXPR_SPARSE_TO_DENSE, 1, 2, sn, sv);
    return *sd != NULL;
}

static void lut_sparse_want(int vector, float *want)
{
    size_t j = 0;
    for (int r = 0; r < 4; r++)
        for (int rep = 0; rep < (vector ? 2 : 1); rep++)
            for (int c = 0; c < 6; c++) {
                int i = r * 6 + c;
                size_t before = 0;
                for (int q = 0; q < i; q++) before += doc_mask[q] != 0;
                want[j++] = doc_mask[i] ? (doc_nz[before] ? 3.0f : 2.0f) : 0.0f;
            }
}

TEST(constexpr_lut_to_sparse_chain)
{
    for (int vector = 0; vector < 2; vector++) {
        cb B;
        mk_op *ls = NULL, *sd = NULL;
        REQUIRE(build_lut_sparse(&B, vector, &ls, &sd));
        CHECK_EQ_INT(ls->outputs[0]->type.dtype, MK_DT_UINT1);
        CHECK_EQ_INT(ls->outputs[0]->type.dims[0], vector ? 8 : 4);
        CHECK_EQ_INT(ls->outputs[1]->type.dims[0], vector ? 18 : 9);
        float want[48];
        lut_sparse_want(vector, want);
        expect(tc, &B, sd->outputs[0], want, vector ? 48 : 24, "lut_to_sparse");
        mk_ir_program_free(B.p);
    }
}

/* sparse_blockwise_shift_scale -> sparse_to_dense: the documentation's 4x4 per-column example,
 * int4 data and int4 offsets. */
static int build_sparse_shift(cb *B, mk_op **sd)
{
    if (!cb_init(B, 9)) return 0;
    static const int mask[16] = {1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0};
    static const int nz[9] = {1, 3, 3, 4, 5, 6, 7, 6, -2}; /* int4 */
    static const int off[4] = {1, 2, 3, 4};
    static const float sc[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    int64_t md[2] = {4, 4}, n9 = 9, sd2[2] = {1, 4};
    static const char *const nm[] = {"data_mask", "nonzero_data", "scale", "offset"};
    int nz4[9];
    for (int i = 0; i < 9; i++) nz4[i] = nz[i] & 15;
    mk_value *v[] = {packed(B, MK_DT_UINT1, 2, md, mask), packed(B, MK_DT_INT4, 1, &n9, nz4),
                     f32s(B, 2, sd2, sc), packed(B, MK_DT_INT4, 2, sd2, off)};
    mk_op *ss = op(B, MK_OP_CONSTEXPR_SPARSE_BLOCKWISE_SHIFT_SCALE, 2, 4, nm, v);
    if (!ss) return 0;
    static const char *const sn[] = {"nonzero_data", "mask"};
    mk_value *sv[] = {ss->outputs[1], ss->outputs[0]};
    *sd = op(B, MK_OP_CONSTEXPR_SPARSE_TO_DENSE, 1, 2, sn, sv);
    return *sd != NULL;
}

static const float shift_want[16] = {(1 - 1) * 0.1f,
                                     (3 - 2) * 0.2f,
                                     0,
                                     0,
                                     (3 - 1) * 0.1f,
                                     (4 - 2) * 0.2f,
                                     (5 - 3) * 0.3f,
                                     0,
                                     0,
                                     0,
                                     (6 - 3) * 0.3f,
                                     (7 - 4) * 0.4f,
                                     (6 - 1) * 0.1f,
                                     (-2 - 2) * 0.2f,
                                     0,
                                     0};

TEST(constexpr_sparse_shift_scale_chain)
{
    cb B;
    mk_op *sd = NULL;
    REQUIRE(build_sparse_shift(&B, &sd));
    expect(tc, &B, sd->outputs[0], shift_want, 16, "sparse shift/scale");
    mk_ir_program_free(B.p);
}

/* A lut whose int8 output feeds constexpr_blockwise_shift_scale (blocks of 2 along axis 1). */
TEST(constexpr_lut_feeds_shift_scale)
{
    cb B;
    REQUIRE(cb_init(&B, 9));
    int64_t id[2] = {2, 4}, ld[4] = {1, 1, 4, 1}, sd[2] = {2, 2};
    static const int idx[8] = {0, 1, 2, 3, 3, 2, 1, 0};
    static const int8_t lut[4] = {-8, -1, 2, 7};
    static const float sc[4] = {0.5f, 2, -1, 0.25f};
    static const char *const nm[] = {"indices", "lut"};
    mk_value *v[] = {packed(&B, MK_DT_UINT2, 2, id, idx), cst(&B, MK_DT_INT8, 4, ld, lut, 4)};
    mk_op *l = op(&B, MK_OP_CONSTEXPR_LUT_TO_DENSE, 1, 2, nm, v);
    REQUIRE(l);
    static const char *const bn[] = {"data", "scale"};
    mk_value *bv[] = {l->outputs[0], f32s(&B, 2, sd, sc)};
    mk_op *s = op(&B, MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE, 1, 2, bn, bv);
    REQUIRE(s);
    const float want[8] = {-8 * 0.5f, -1 * 0.5f, 2 * 2.0f,   7 * 2.0f,
                           7 * -1.0f, 2 * -1.0f, -1 * 0.25f, -8 * 0.25f};
    expect(tc, &B, s->outputs[0], want, 8, "lut -> shift/scale");
    mk_ir_program_free(B.p);
}

/* The chains survive a package write and read: same ops, same values. */
TEST(constexpr_chains_round_trip)
{
    for (int which = 0; which < 3; which++) {
        cb B;
        mk_op *ls = NULL, *sd = NULL;
        float want[48];
        size_t n;
        if (which < 2) {
            REQUIRE(build_lut_sparse(&B, which, &ls, &sd));
            lut_sparse_want(which, want);
            n = which ? 48 : 24;
        } else {
            REQUIRE(build_sparse_shift(&B, &sd));
            memcpy(want, shift_want, sizeof shift_want);
            n = 16;
        }
        REQUIRE(mk_ir_block_set_outputs(B.p, B.b, 1, &sd->outputs[0]));
        char path[1024];
        snprintf(path, sizeof path, "%s/cx_chain_%d.mlpackage", mk_test_tmpdir(), which);
        mk_err e = {MK_OK, ""};
        mk_program *r = NULL;
        CHECK_MSG(mk_program_save(B.p, path, MK_TARGET_DEFAULT, &e) == MK_OK, "save: %s", e.msg);
        CHECK_MSG(mk_program_load(path, NULL, &r, &e) == MK_OK, "load: %s", e.msg);
        mk_ir_program_free(B.p);
        if (!r) continue;
        mk_block *rb = mk_ir_main(r)->block;
        int kinds = 0;
        MK_FOR_OPS(rb, o)
        {
            kinds += o->kind == MK_OP_CONSTEXPR_SPARSE_TO_DENSE ||
                     o->kind == MK_OP_CONSTEXPR_LUT_TO_SPARSE ||
                     o->kind == MK_OP_CONSTEXPR_SPARSE_BLOCKWISE_SHIFT_SCALE;
        }
        CHECK_EQ_INT(kinds, 2);
        cb R = {r, mk_ir_main(r), rb, 100};
        expect(tc, &R, rb->outputs[0], want, n, "reloaded chain");
        mk_program_free(r);
    }
}

/* coremltools' goldens: the decompressed weight equals scale * (q - zero_point) computed here
 * from the stored parameters. */
TEST(constexpr_goldens_dequantize_by_hand)
{
    static const char *const names[] = {"f1_int8_affine_dequantize_fp32_ios16.mlpackage",
                                        "f2_int8_blockwise_shift_scale_fp16_ios18.mlpackage"};
    for (int g = 0; g < 2; g++) {
        char path[1024];
        if (!mk_test_golden(names[g], path, sizeof path))
            SKIP("golden %s absent (no shared dir)", names[g]);
        mk_program *p = NULL;
        mk_err e = {MK_OK, ""};
        REQUIRE(mk_program_load(path, NULL, &p, &e) == MK_OK);
        mk_block *b = mk_ir_main(p)->block;
        mk_op *cx = NULL;
        MK_FOR_OPS(b, o)
        {
            if (!cx && (o->kind == MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE ||
                        o->kind == MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE))
                cx = o;
        }
        REQUIRE(cx);
        int aff = cx->kind == MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE;
        mk_value *(*get)(const mk_op *, const char *) = aff ? mk_ir_attr : mk_ir_arg;
        mk_value *q = get(cx, aff ? "quantized_data" : "data");
        mk_value *s = get(cx, "scale"), *z = get(cx, aff ? "zero_point" : "offset");
        REQUIRE(q && s && q->cst && s->cst && (!z || z->cst));
        size_t n = 0;
        REQUIRE(mk_type_numel(&q->type, &n) && n > 0);
        float *want = malloc(n * sizeof *want);
        REQUIRE(want);
        /* parameters per row (axis 0) in both goldens, or a single value */
        size_t rows = (size_t)q->type.dims[0], per = n / rows, sn = 0;
        REQUIRE(mk_type_numel(&s->type, &sn));
        for (size_t i = 0; i < n; i++) {
            size_t c = sn == 1 ? 0 : i / per;
            double zp = z ? mk_const_get_f64(z, c) : 0;
            want[i] = (float)(mk_const_get_f64(s, c) * (mk_const_get_f64(q, i) - zp));
        }
        cb B = {p, mk_ir_main(p), b, 100};
        /* fp16 scales: the reference holds the fp16 product rounded like the kernel's output */
        if (s->type.dtype == MK_DT_FP16)
            for (size_t i = 0; i < n; i++) want[i] = mk_f16_to_f32(mk_f32_to_f16(want[i]));
        CHECK_EQ_INT(sn == 1 || sn == rows, 1);
        expect(tc, &B, cx->outputs[0], want, n, names[g]);
        free(want);
        mk_program_free(p);
    }
}
