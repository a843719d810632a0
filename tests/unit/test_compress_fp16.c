/* Tests for the fp16 compute-precision pass: for every op in ops.def, the smallest valid fp32
 * program, converted at each target iOS15..iOS18, must verify and (in the interpreter) agree
 * with the fp32 program within fp16 tolerance; plus which ops stay fp32 where, cast placement
 * and naming at the model edges, no cast(cast(x)) pairs, H14 clipping counts and nested blocks.
 * Inputs are random values rounded to half so that discontinuous ops (compare, floor, argsort)
 * see the same inputs in both programs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "passes/passes_int.h"
#include "test.h"

/* ---- a tiny program builder driven by a spec string ---- */
typedef struct cb {
    mk_program *p;
    mk_function *f;
    mk_block *b;
    unsigned seed;
    int bad;
    char why[200];
} cb;

static float urand(unsigned *s, float lo, float hi)
{
    *s = *s * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)((*s >> 8) & 0xffffff) / 16777216.0f;
}

static int cb_init(cb *B, int spec)
{
    memset(B, 0, sizeof *B);
    B->seed = 7;
    B->p = mk_ir_program_new(NULL, spec);
    mk_test_owned(B->p); /* fault runs: the test's own (test.h) */
    B->f = B->p ? mk_ir_function_new(B->p, "main") : NULL;
    B->b = B->f ? B->f->block : NULL;
    return B->b != NULL;
}

static int parse_dims(const char *s, int64_t *d)
{
    int r = 0;
    if (*s == '_') return 0;
    while (*s && r < MK_MAX_RANK) {
        d[r++] = strtoll(s, (char **)&s, 10);
        if (*s == 'x') s++;
    }
    return r;
}

static int parse_list(const char *s, double *v, int max, int64_t *d, int *rank)
{
    int n = 0;
    while (*s && *s != '@' && n < max) {
        v[n++] = strtod(s, (char **)&s);
        if (*s == ',') s++;
    }
    if (*s == '@') {
        *rank = parse_dims(s + 1, d);
    } else {
        *rank = 1;
        d[0] = n;
    }
    return n;
}

/* One argument: i<dims> fp32 input, b<dims> bool input, w<dims>/p<dims> random fp32 const in
 * [-1,1]/[0.5,1.5], f<v> fp32 scalar, F<v,..> fp32 vector, s<v> int32 scalar, v<v,..>[@dims]
 * int32 tensor, u<v,..> uint32 vector, q<v,..>[@dims] int8 tensor, t<0|1> bool scalar,
 * T<v,..> bool vector, '<text> string. */
static mk_value *cb_arg(cb *B, const char *param, const char *a)
{
    char nm[64];
    snprintf(nm, sizeof nm, "%s_%u", param, B->seed % 1000);
    int64_t d[MK_MAX_RANK];
    double v[64];
    int r = 0, n;
    mk_type t;
    switch (a[0]) {
    case 'i':
    case 'b':
        r = parse_dims(a + 1, d);
        t = mk_type_make(a[0] == 'i' ? MK_DT_FP32 : MK_DT_BOOL, r, d);
        snprintf(nm, sizeof nm, "%s%d", param, B->f->n_inputs);
        return mk_ir_function_add_input(B->p, B->f, nm, &t);
    case 'w':
    case 'p': {
        r = parse_dims(a + 1, d);
        t = mk_type_make(MK_DT_FP32, r, d);
        size_t cnt = 1;
        for (int i = 0; i < r; i++) cnt *= (size_t)d[i];
        float *buf = calloc(cnt, sizeof *buf);
        if (!buf) return NULL;
        for (size_t i = 0; i < cnt; i++)
            buf[i] = a[0] == 'w' ? urand(&B->seed, -1, 1) : urand(&B->seed, 0.5f, 1.5f);
        mk_value *cv = mk_ir_const(B->p, B->b, param, &t, buf, cnt * 4, 0);
        free(buf);
        return cv;
    }
    case 'f': {
        float f = (float)strtod(a + 1, NULL);
        return mk_ir_const_f32(B->p, B->b, param, 1, &f, 1);
    }
    case 'F': {
        float f[64];
        n = parse_list(a + 1, v, 64, d, &r);
        for (int i = 0; i < n; i++) f[i] = (float)v[i];
        t = mk_type_make(MK_DT_FP32, r, d);
        return mk_ir_const(B->p, B->b, param, &t, f, (size_t)n * 4, 0);
    }
    case 's': {
        int32_t x = (int32_t)strtol(a + 1, NULL, 10);
        return mk_ir_const_i32(B->p, B->b, param, 1, &x, 1);
    }
    case 'v':
    case 'u':
    case 'q': {
        int32_t iv[64];
        int8_t qv[64];
        n = parse_list(a + 1, v, 64, d, &r);
        for (int i = 0; i < n; i++) iv[i] = (int32_t)v[i], qv[i] = (int8_t)v[i];
        mk_dtype dt = a[0] == 'v' ? MK_DT_INT32 : a[0] == 'u' ? MK_DT_UINT32 : MK_DT_INT8;
        t = mk_type_make(dt, r, d);
        return mk_ir_const(B->p, B->b, param, &t, dt == MK_DT_INT8 ? (void *)qv : (void *)iv,
                           (size_t)n * (dt == MK_DT_INT8 ? 1 : 4), 0);
    }
    case 't': {
        uint8_t x = a[1] == '1';
        return mk_ir_const_bool(B->p, B->b, param, 1, &x, 1);
    }
    case 'T': {
        uint8_t bv[64];
        n = parse_list(a + 1, v, 64, d, &r);
        for (int i = 0; i < n; i++) bv[i] = v[i] != 0;
        return mk_ir_const_bool(B->p, B->b, param, n, bv, 0);
    }
    case '\'': return mk_ir_const_str(B->p, B->b, param, a + 1);
    default: return NULL;
    }
}

/* Append op kind k with the spec's arguments (plus param p1 bound to v1 when given) and n_out
 * outputs; returns the op, NULL with B->bad set on failure. */
static mk_op *cb_opx(cb *B, mk_op_kind k, const char *spec, int n_out, const char *p1, mk_value *v1)
{
    mk_op *op = mk_ir_op_new(B->p, k, mk_ir_op_info(k)->name);
    if (!op || (p1 && (!v1 || !mk_ir_op_add_input(B->p, op, p1, v1)))) {
        B->bad = 1;
        return NULL;
    }
    char buf[512];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) continue;
        *eq = 0;
        mk_value *v = cb_arg(B, tok, eq + 1);
        if (!v || !mk_ir_op_add_input(B->p, op, tok, v)) {
            snprintf(B->why, sizeof B->why, "bad argument %s=%s", tok, eq + 1);
            B->bad = 1;
            return NULL;
        }
    }
    mk_type none = mk_type_make(MK_DT_INVALID, MK_RANK_UNKNOWN, NULL);
    for (int i = 0; i < n_out; i++)
        if (!mk_ir_op_add_output(B->p, op, NULL, &none)) return NULL;
    mk_ir_block_append(B->b, op);
    mk_err e = {MK_OK, ""};
    if (mk_ir_infer_op(op, &e) != MK_OK) {
        snprintf(B->why, sizeof B->why, "%.190s", e.msg);
        B->bad = 1;
        return NULL;
    }
    return op;
}

static mk_op *cb_op(cb *B, mk_op_kind k, const char *spec, int n_out)
{
    return cb_opx(B, k, spec, n_out, NULL, NULL);
}

static void cb_outputs(cb *B, mk_op *op)
{
    if (op) mk_ir_block_set_outputs(B->p, B->b, op->n_outputs, op->outputs);
}

/* ---- custom builders (constants, compression, control flow) ---- */
static mk_op *linear_on(cb *B, mk_value *w)
{
    return cb_opx(B, MK_OP_LINEAR, "x=i2x3", 1, "weight", w);
}

static mk_value *cx_out(cb *B, mk_op *cx)
{
    mk_type none = mk_type_make(MK_DT_INVALID, MK_RANK_UNKNOWN, NULL);
    mk_value *o = mk_ir_op_add_output(B->p, cx, NULL, &none);
    mk_ir_block_append(B->b, cx);
    mk_err e = {MK_OK, ""};
    if (!o || mk_ir_infer_op(cx, &e) != MK_OK) {
        snprintf(B->why, sizeof B->why, "%.190s", e.msg);
        B->bad = 1;
        return NULL;
    }
    return o;
}

static mk_value *attr_or_in(cb *B, mk_op *op, const char *name, const mk_type *t, const void *d,
                            size_t nb, int attr)
{
    if (attr) {
        mk_value *v = mk_ir_const_value(B->p, t, d, nb, 0);
        return v && mk_ir_op_add_attr(B->p, op, name, v) ? v : NULL;
    }
    mk_value *v = mk_ir_const(B->p, B->b, name, t, d, nb, 0);
    return v && mk_ir_op_add_input(B->p, op, name, v) ? v : NULL;
}

static void build_const(cb *B)
{
    cb_outputs(B, cb_op(B, MK_OP_ADD, "x=i2x3 y=w2x3", 1));
}

static void build_affine(cb *B)
{
    int8_t q[12] = {-127, -5, 0, 3, 9, 127, 1, 2, 3, -4, -5, -6}, zp[4] = {0, 0, 0, 0};
    float sc[4] = {0.01f, 0.02f, 0.005f, 0.1f};
    int32_t axis = 0;
    int64_t qd[2] = {4, 3}, cd = 4;
    mk_type qt = mk_type_make(MK_DT_INT8, 2, qd), zt = mk_type_make(MK_DT_INT8, 1, &cd),
            st = mk_type_make(MK_DT_FP32, 1, &cd), at = mk_type_scalar(MK_DT_INT32);
    mk_op *cx = mk_ir_op_new(B->p, MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE, "w_q");
    if (!cx || !attr_or_in(B, cx, "quantized_data", &qt, q, 12, 1) ||
        !attr_or_in(B, cx, "zero_point", &zt, zp, 4, 1) ||
        !attr_or_in(B, cx, "scale", &st, sc, 16, 1) || !attr_or_in(B, cx, "axis", &at, &axis, 4, 1))
        return;
    cb_outputs(B, linear_on(B, cx_out(B, cx)));
}

static void build_blockwise(cb *B)
{
    int8_t q[12] = {-127, -5, 0, 3, 9, 127, 1, 2, 3, -4, -5, -6};
    float sc[4] = {0.01f, 0.02f, 0.005f, 0.1f};
    int64_t qd[2] = {4, 3}, sd[2] = {4, 1};
    mk_type qt = mk_type_make(MK_DT_INT8, 2, qd), st = mk_type_make(MK_DT_FP32, 2, sd);
    mk_op *cx = mk_ir_op_new(B->p, MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE, "w_q");
    if (!cx || !attr_or_in(B, cx, "data", &qt, q, 12, 0) ||
        !attr_or_in(B, cx, "scale", &st, sc, 16, 0))
        return;
    cb_outputs(B, linear_on(B, cx_out(B, cx)));
}

static void build_constexpr_cast(cb *B)
{
    uint16_t h[12];
    for (int i = 0; i < 12; i++) h[i] = mk_f32_to_f16(urand(&B->seed, -1, 1));
    int64_t qd[2] = {4, 3};
    mk_type ht = mk_type_make(MK_DT_FP16, 2, qd);
    const char *fp32 = "fp32";
    mk_type strt = mk_type_scalar(MK_DT_STRING);
    int attr = mk_ir_ios_for_spec(B->p->spec_version) < 18;
    mk_op *cx = mk_ir_op_new(B->p, MK_OP_CONSTEXPR_CAST, "w_h");
    if (!cx || !attr_or_in(B, cx, "source_val", &ht, h, 24, attr) ||
        !attr_or_in(B, cx, "output_dtype", &strt, &fp32, sizeof fp32, attr))
        return;
    cb_outputs(B, linear_on(B, cx_out(B, cx)));
}

static void build_lut(cb *B)
{
    mk_op *cx = mk_ir_op_new(B->p, MK_OP_CONSTEXPR_LUT_TO_DENSE, "w_lut");
    if (!cx) return;
    if (mk_ir_ios_for_spec(B->p->spec_version) < 18) {
        /* 2-bit indices of 12 elements, packed LSB first into 3 bytes; lut of 4 entries */
        uint8_t ind[3] = {0xe4, 0x1b, 0x93};
        float lut[4] = {-0.75f, -0.25f, 0.5f, 1.0f};
        uint32_t shape[2] = {4, 3};
        int64_t n3 = 3, n4 = 4, n2 = 2;
        mk_type it = mk_type_make(MK_DT_UINT8, 1, &n3), lt = mk_type_make(MK_DT_FP32, 1, &n4),
                st = mk_type_make(MK_DT_UINT32, 1, &n2);
        if (!attr_or_in(B, cx, "indices", &it, ind, 3, 1) ||
            !attr_or_in(B, cx, "lut", &lt, lut, 16, 1) ||
            !attr_or_in(B, cx, "shape", &st, shape, 8, 1))
            return;
    } else {
        uint8_t ind[12];
        float lut[256];
        for (int i = 0; i < 12; i++) ind[i] = (uint8_t)(i * 37);
        for (int i = 0; i < 256; i++) lut[i] = urand(&B->seed, -1, 1);
        int64_t id[2] = {4, 3}, ld[4] = {1, 1, 256, 1};
        mk_type it = mk_type_make(MK_DT_UINT8, 2, id), lt = mk_type_make(MK_DT_FP32, 4, ld);
        if (!attr_or_in(B, cx, "indices", &it, ind, 12, 0) ||
            !attr_or_in(B, cx, "lut", &lt, lut, sizeof lut, 0))
            return;
    }
    cb_outputs(B, linear_on(B, cx_out(B, cx)));
}

/* 12 elements [4, 3], 7 set: the mask as iOS16 bytes (LSB first) or iOS18 uint1 (same bits) */
static const uint8_t sp_mask[2] = {0xa5, 0x0e};
static const float sp_nz[7] = {0.5f, -0.25f, 0.75f, 1.0f, -1.0f, 0.125f, 2.0f};

static void build_sparse(cb *B)
{
    mk_op *cx = mk_ir_op_new(B->p, MK_OP_CONSTEXPR_SPARSE_TO_DENSE, "w_sp");
    int64_t n7 = 7, n2 = 2, md[2] = {4, 3};
    uint32_t shape[2] = {4, 3};
    mk_type nt = mk_type_make(MK_DT_FP32, 1, &n7), mt = mk_type_make(MK_DT_UINT8, 1, &n2),
            st = mk_type_make(MK_DT_UINT32, 1, &n2), m1 = mk_type_make(MK_DT_UINT1, 2, md);
    int attr = mk_ir_ios_for_spec(B->p->spec_version) < 18;
    if (!cx || !attr_or_in(B, cx, "nonzero_data", &nt, sp_nz, sizeof sp_nz, attr) ||
        !attr_or_in(B, cx, "mask", attr ? &mt : &m1, sp_mask, 2, attr) ||
        (attr && !attr_or_in(B, cx, "shape", &st, shape, 8, 1)))
        return;
    cb_outputs(B, linear_on(B, cx_out(B, cx)));
}

/* iOS18 sparse-to-sparse op (lut or shift/scale of the 7 nonzero entries) -> sparse_to_dense */
static void sparse_chain(cb *B, mk_op *cx)
{
    mk_type none = mk_type_make(MK_DT_INVALID, MK_RANK_UNKNOWN, NULL);
    if (!cx || !mk_ir_op_add_output(B->p, cx, NULL, &none)) return;
    mk_value *data = cx_out(B, cx);
    mk_op *sd = mk_ir_op_new(B->p, MK_OP_CONSTEXPR_SPARSE_TO_DENSE, "w_dense");
    if (!data || !sd || !mk_ir_op_add_input(B->p, sd, "nonzero_data", data) ||
        !mk_ir_op_add_input(B->p, sd, "mask", cx->outputs[0]))
        return;
    cb_outputs(B, linear_on(B, cx_out(B, sd)));
}

static void build_lut_sparse(cb *B)
{
    int64_t md[2] = {4, 3}, n7 = 7, ld[4] = {1, 1, 4, 1};
    uint8_t ind[2] = {0x1b, 0x2d}; /* 7 2-bit indices */
    float lut[4] = {-0.5f, 0.25f, 0.75f, 1.5f};
    mk_type m1 = mk_type_make(MK_DT_UINT1, 2, md), it = mk_type_make(MK_DT_UINT2, 1, &n7),
            lt = mk_type_make(MK_DT_FP32, 4, ld);
    mk_op *cx = mk_ir_op_new(B->p, MK_OP_CONSTEXPR_LUT_TO_SPARSE, "w_ls");
    if (!cx || !attr_or_in(B, cx, "indices_mask", &m1, sp_mask, 2, 0) ||
        !attr_or_in(B, cx, "indices_nonzero_data", &it, ind, 2, 0) ||
        !attr_or_in(B, cx, "lut", &lt, lut, sizeof lut, 0))
        return;
    sparse_chain(B, cx);
}

static void build_sparse_shift(cb *B)
{
    int64_t md[2] = {4, 3}, n7 = 7, sd[2] = {4, 1};
    int8_t q[7] = {-7, 3, 100, -128, 5, 0, 9};
    float sc[4] = {0.01f, 0.02f, 0.005f, 0.1f};
    mk_type m1 = mk_type_make(MK_DT_UINT1, 2, md), qt = mk_type_make(MK_DT_INT8, 1, &n7),
            st = mk_type_make(MK_DT_FP32, 2, sd);
    mk_op *cx = mk_ir_op_new(B->p, MK_OP_CONSTEXPR_SPARSE_BLOCKWISE_SHIFT_SCALE, "w_ss");
    if (!cx || !attr_or_in(B, cx, "data_mask", &m1, sp_mask, 2, 0) ||
        !attr_or_in(B, cx, "nonzero_data", &qt, q, 7, 0) ||
        !attr_or_in(B, cx, "scale", &st, sc, sizeof sc, 0))
        return;
    sparse_chain(B, cx);
}

/* cond(pred) { relu(x) * 2 } else { x - w }: ops inside the blocks use outer values */
static void build_cond(cb *B)
{
    mk_value *x = cb_arg(B, "x", "i2x3"), *pred = cb_arg(B, "pred", "b_");
    mk_op *c = mk_ir_op_new(B->p, MK_OP_COND, "cond");
    if (!x || !pred || !c || !mk_ir_op_add_input(B->p, c, "pred", pred)) return;
    mk_block *tb = mk_ir_block_new(B->p, B->f, c), *fb = mk_ir_block_new(B->p, B->f, c);
    mk_block *top = B->b;
    B->b = tb;
    mk_op *r = cb_opx(B, MK_OP_RELU, "", 1, "x", x);
    mk_op *m = r ? cb_opx(B, MK_OP_MUL, "y=f2", 1, "x", r->outputs[0]) : NULL;
    if (!m) return;
    mk_ir_block_set_outputs(B->p, tb, 1, m->outputs);
    B->b = fb;
    mk_op *s = cb_opx(B, MK_OP_SUB, "y=w2x3", 1, "x", x);
    if (!s) return;
    mk_ir_block_set_outputs(B->p, fb, 1, s->outputs);
    B->b = top;
    mk_ir_op_add_block(B->p, c, tb);
    mk_ir_op_add_block(B->p, c, fb);
    mk_value *o = cx_out(B, c);
    if (o) mk_ir_block_set_outputs(B->p, B->b, 1, &o);
}

/* acc (an fp16 state) += fp16(x), through coreml_update_state or write_state + read_state;
 * returns the new value as fp32 */
static mk_op *state_op(cb *B, mk_op_kind k, const char *p1, mk_value *v1, const char *p2,
                       mk_value *v2, mk_value **out)
{
    mk_op *op = mk_ir_op_new(B->p, k, mk_ir_op_info(k)->name);
    if (!op || !v1 || !mk_ir_op_add_input(B->p, op, p1, v1) ||
        (p2 && (!v2 || !mk_ir_op_add_input(B->p, op, p2, v2)))) {
        B->bad = 1;
        return NULL;
    }
    if (out) {
        *out = cx_out(B, op);
        return *out ? op : NULL;
    }
    mk_ir_block_append(B->b, op);
    return op;
}

static void build_state(cb *B, int dialect)
{
    mk_value *x = cb_arg(B, "x", "i2x3"), *r = NULL, *a = NULL, *u = NULL;
    mk_type t = mk_type_make(MK_DT_FP16, 2, (const int64_t[]){2, 3});
    mk_value *s = mk_ir_function_add_state(B->p, B->f, "acc", &t);
    mk_op *c = x ? cb_opx(B, MK_OP_CAST, "dtype='fp16", 1, "x", x) : NULL;
    if (!c || !s || !state_op(B, MK_OP_READ_STATE, "input", s, NULL, NULL, &r) ||
        !state_op(B, MK_OP_ADD, "x", r, "y", c->outputs[0], &a))
        return;
    if (dialect ? !state_op(B, MK_OP_COREML_UPDATE_STATE, "state", s, "value", a, &u)
                : !state_op(B, MK_OP_WRITE_STATE, "input", s, "data", a, NULL) ||
                      !state_op(B, MK_OP_READ_STATE, "input", s, NULL, NULL, &u))
        return;
    cb_outputs(B, cb_opx(B, MK_OP_CAST, "dtype='fp32", 1, "x", u));
}

static void build_write_state(cb *B)
{
    build_state(B, 0);
}

static void build_update_state(cb *B)
{
    build_state(B, 1);
}

/* while (v < 4) v = v * 1.5 + 0.25, v starting at relu(x) + 1 */
static void build_while(cb *B)
{
    mk_op *r = cb_op(B, MK_OP_ADD, "x=i1 y=f1", 1);
    mk_op *w = mk_ir_op_new(B->p, MK_OP_WHILE_LOOP, "loop");
    if (!r || !w || !mk_ir_op_add_input(B->p, w, "loop_vars", r->outputs[0])) return;
    int64_t d = 1;
    mk_type ft = mk_type_make(MK_DT_FP32, 1, &d);
    mk_block *cbk = mk_ir_block_new(B->p, B->f, w), *body = mk_ir_block_new(B->p, B->f, w);
    mk_value *cv = mk_ir_block_add_input(B->p, cbk, "cv", &ft);
    mk_value *bv = mk_ir_block_add_input(B->p, body, "bv", &ft);
    mk_block *top = B->b;
    B->b = cbk;
    mk_op *lt = cb_opx(B, MK_OP_LESS, "y=f4", 1, "x", cv);
    mk_op *sq = lt ? cb_opx(B, MK_OP_SQUEEZE, "", 1, "x", lt->outputs[0]) : NULL;
    if (!sq) return;
    mk_ir_block_set_outputs(B->p, cbk, 1, sq->outputs);
    B->b = body;
    mk_op *la = cb_opx(B, MK_OP_LINEAR_ACTIVATION, "alpha=f1.5 beta=f0.25", 1, "x", bv);
    if (!la) return;
    mk_ir_block_set_outputs(B->p, body, 1, la->outputs);
    B->b = top;
    mk_ir_op_add_block(B->p, w, cbk);
    mk_ir_op_add_block(B->p, w, body);
    mk_value *o = cx_out(B, w);
    if (o) mk_ir_block_set_outputs(B->p, B->b, 1, &o);
}

static void build_crop_resize(cb *B)
{
    const char *spec = mk_ir_ios_for_spec(B->p->spec_version) < 17
                           ? "x=i1x2x4x4 roi=F0,0.5,0.25,2.5,3@1x1x5x1x1 target_height=s3 "
                             "target_width=s2 sampling_mode='ALIGN_CORNERS"
                           : "x=i1x2x4x4 boxes=F0.5,0.25,2.5,3@1x4 box_indices=v0 "
                             "target_height=s3 target_width=s2 sampling_mode='ALIGN_CORNERS";
    cb_outputs(B, cb_op(B, MK_OP_CROP_RESIZE, spec, 1));
}

static void build_nms(cb *B)
{
    if (mk_ir_ios_for_spec(B->p->spec_version) < 17)
        cb_outputs(B, cb_op(B, MK_OP_NON_MAXIMUM_SUPPRESSION,
                            "boxes=i1x5x4 scores=i1x5x2 iou_threshold=f0.3 score_threshold=f-2 "
                            "max_boxes=s3",
                            4));
    else
        cb_outputs(B, cb_op(B, MK_OP_NON_MAXIMUM_SUPPRESSION,
                            "boxes=i1x4x5 scores=i1x2x5 iou_threshold=f0.3 max_boxes=s3", 3));
}

/* conv_quantized: a uint8 weight (values < 2^4), per-channel scale and bias of x's dtype */
static void build_conv_quantized(cb *B)
{
    static const uint8_t q[3 * 2 * 3 * 3] = {0,  1,  2,  3,  4,  5,  6, 7, 8, 9, 10, 11, 12, 13,
                                             14, 15, 0,  1,  2,  3,  4, 5, 6, 7, 8,  9,  10, 11,
                                             12, 13, 14, 15, 0,  1,  2, 3, 4, 5, 6,  7,  8,  9,
                                             10, 11, 12, 13, 14, 15, 3, 1, 4, 1, 5,  9};
    int64_t wd[4] = {3, 2, 3, 3};
    mk_type wt = mk_type_make(MK_DT_UINT8, 4, wd);
    mk_value *w = mk_ir_const(B->p, B->b, "q", &wt, q, sizeof q, 0);
    mk_op *c = cb_opx(B, MK_OP_CONV_QUANTIZED,
                      "x=i1x2x6x6 quantization_type='linear nbits=s4 quant_scale=F0.1,0.05,0.2 "
                      "quant_bias=F-0.5,0.25,0",
                      1, "weight", w);
    cb_outputs(B, c);
}

/* classify: int64 classes (the label compares as int32); probabilities stay fp32 */
static void build_classify(cb *B)
{
    static const int64_t cls[4] = {3, 1, 4, 1};
    int64_t n = 4;
    mk_type lt = mk_type_make(MK_DT_INT64, 1, &n);
    lt.is_list = 1;
    mk_value *cv = mk_ir_const_value(B->p, &lt, cls, sizeof cls, 0);
    if (cv) cv->is_inline = 1;
    mk_op *sm = cb_op(B, MK_OP_SOFTMAX, "x=i1x4 axis=s-1", 1);
    mk_op *c = sm && cv ? mk_ir_op_new(B->p, MK_OP_CLASSIFY, "classify") : NULL;
    mk_type none = mk_type_make(MK_DT_INVALID, MK_RANK_UNKNOWN, NULL);
    mk_err e = {MK_OK, ""};
    if (!c || !mk_ir_op_add_input(B->p, c, "probabilities", sm->outputs[0]) ||
        !mk_ir_op_add_input(B->p, c, "classes", cv) || !mk_ir_op_add_output(B->p, c, NULL, &none) ||
        !mk_ir_op_add_output(B->p, c, NULL, &none)) {
        B->bad = 1;
        return;
    }
    mk_ir_block_append(B->b, c);
    if (mk_ir_infer_op(c, &e) != MK_OK) {
        snprintf(B->why, sizeof B->why, "%.190s", e.msg);
        B->bad = 1;
        return;
    }
    cb_outputs(B, c);
}

/* make_list, a list_write of an input, then the case's op; the result is a tensor. */
static void build_list(cb *B, mk_op_kind k)
{
    mk_op *ml = cb_op(B, MK_OP_MAKE_LIST, "init_length=s2 elem_shape=s3 dtype='fp32", 1);
    mk_op *w =
        ml ? cb_opx(B, MK_OP_LIST_WRITE, "index=s1 value=i3", 1, "ls", ml->outputs[0]) : NULL;
    if (!w) return;
    mk_value *ls = k == MK_OP_MAKE_LIST ? ml->outputs[0] : w->outputs[0];
    if (k == MK_OP_LIST_SCATTER) {
        mk_op *sc = cb_opx(B, MK_OP_LIST_SCATTER, "indices=v0,3 value=i2x3", 1, "ls", ls);
        if (!sc) return;
        ls = sc->outputs[0];
    }
    if (k == MK_OP_LIST_LENGTH)
        cb_outputs(B, cb_opx(B, MK_OP_LIST_LENGTH, "", 1, "ls", ls));
    else if (k == MK_OP_LIST_READ || k == MK_OP_MAKE_LIST)
        cb_outputs(B, cb_opx(B, MK_OP_LIST_READ, "index=s1", 1, "ls", ls));
    else
        cb_outputs(B, cb_opx(B, MK_OP_LIST_GATHER, "indices=v1,0", 1, "ls", ls));
}
static void build_make_list(cb *B)
{
    build_list(B, MK_OP_MAKE_LIST);
}
static void build_list_length(cb *B)
{
    build_list(B, MK_OP_LIST_LENGTH);
}
static void build_list_read(cb *B)
{
    build_list(B, MK_OP_LIST_READ);
}
static void build_list_write(cb *B)
{
    build_list(B, MK_OP_LIST_WRITE);
}
static void build_list_gather(cb *B)
{
    build_list(B, MK_OP_LIST_GATHER);
}
static void build_list_scatter(cb *B)
{
    build_list(B, MK_OP_LIST_SCATTER);
}

static int is_list_op(int k)
{
    return k == MK_OP_MAKE_LIST || k == MK_OP_LIST_LENGTH || k == MK_OP_LIST_READ ||
           k == MK_OP_LIST_WRITE || k == MK_OP_LIST_GATHER || k == MK_OP_LIST_SCATTER;
}

/* ---- the case table: one or more rows per op in ops.def ---- */
typedef struct ocase {
    mk_op_kind k;
    const char *spec; /* arguments, see cb_arg */
    int n_out;
    float lo, hi; /* range of the random fp32 inputs */
    void (*custom)(cb *B);
} ocase;

#define U(k)                                                                                       \
    {                                                                                              \
        MK_OP_##k, "x=i2x3x4", 1, -1, 1, NULL                                                      \
    }
#define UP(k)                                                                                      \
    {                                                                                              \
        MK_OP_##k, "x=i2x3x4", 1, 0.1f, 2, NULL                                                    \
    }
#define BIN(k)                                                                                     \
    {                                                                                              \
        MK_OP_##k, "x=i2x3x4 y=i3x4", 1, -1, 1, NULL                                               \
    }
#define BINP(k)                                                                                    \
    {                                                                                              \
        MK_OP_##k, "x=i2x3x4 y=p3x4", 1, -2, 2, NULL                                               \
    }
#define LOGIC(k)                                                                                   \
    {                                                                                              \
        MK_OP_##k, "x=b2x3 y=b2x3", 1, 0, 1, NULL                                                  \
    }
#define RED(k)                                                                                     \
    {                                                                                              \
        MK_OP_##k, "x=i2x3x4 axes=v-1 keep_dims=t0", 1, 0.1f, 1, NULL                              \
    }
#define POOL(k)                                                                                    \
    {                                                                                              \
        MK_OP_##k,                                                                                 \
            "x=i1x2x6x6 kernel_sizes=v2,2 strides=v2,2 pad_type='valid pad=v0,0,0,0 "              \
            "ceil_mode=t0",                                                                        \
            1, -1, 1, NULL                                                                         \
    }
#define CUSTOM(k, fn)                                                                              \
    {                                                                                              \
        MK_OP_##k, "", 1, -1, 1, fn                                                                \
    }

static const ocase cases[] = {
    CUSTOM(CONST, build_const),
    CUSTOM(CONSTEXPR_AFFINE_DEQUANTIZE, build_affine),
    CUSTOM(CONSTEXPR_BLOCKWISE_SHIFT_SCALE, build_blockwise),
    CUSTOM(CONSTEXPR_CAST, build_constexpr_cast),
    CUSTOM(CONSTEXPR_LUT_TO_DENSE, build_lut),
    CUSTOM(CONSTEXPR_SPARSE_TO_DENSE, build_sparse),
    CUSTOM(CONSTEXPR_LUT_TO_SPARSE, build_lut_sparse),
    CUSTOM(CONSTEXPR_SPARSE_BLOCKWISE_SHIFT_SCALE, build_sparse_shift),
    BIN(ADD),
    BIN(SUB),
    BIN(MUL),
    BINP(REAL_DIV),
    BINP(FLOOR_DIV),
    BINP(MOD),
    {MK_OP_POW, "x=i2x3x4 y=w3x4", 1, 0.5f, 2, NULL},
    BIN(MAXIMUM),
    BIN(MINIMUM),
    BIN(EQUAL),
    BIN(NOT_EQUAL),
    BIN(LESS),
    BIN(LESS_EQUAL),
    BIN(GREATER),
    BIN(GREATER_EQUAL),
    {MK_OP_EQUAL, "x=i2x3x4 y=f0.5", 1, -1, 1, NULL},
    LOGIC(LOGICAL_AND),
    LOGIC(LOGICAL_OR),
    LOGIC(LOGICAL_XOR),
    {MK_OP_LOGICAL_NOT, "x=b2x3", 1, 0, 1, NULL},
    U(ABS),
    U(SIGN),
    {MK_OP_CEIL, "x=i2x3x4", 1, -4, 4, NULL},
    {MK_OP_FLOOR, "x=i2x3x4", 1, -4, 4, NULL},
    {MK_OP_ROUND, "x=i2x3x4", 1, -4, 4, NULL},
    U(EXP),
    U(EXP2),
    {MK_OP_LOG, "x=i2x3x4 epsilon=f1e-6", 1, 0.1f, 2, NULL},
    UP(SQRT),
    {MK_OP_RSQRT, "x=i2x3x4 epsilon=f1e-12", 1, 0.1f, 2, NULL},
    {MK_OP_INVERSE, "x=i2x3x4 epsilon=f1e-4", 1, 0.5f, 2, NULL},
    U(SQUARE),
    U(SIN),
    U(COS),
    U(TAN),
    {MK_OP_ASIN, "x=i2x3x4", 1, -0.9f, 0.9f, NULL},
    {MK_OP_ACOS, "x=i2x3x4", 1, -0.9f, 0.9f, NULL},
    U(ATAN),
    U(SINH),
    U(COSH),
    {MK_OP_ATANH, "x=i2x3x4", 1, -0.9f, 0.9f, NULL},
    U(ERF),
    {MK_OP_CLIP, "x=i2x3x4 alpha=f-0.5 beta=f0.5", 1, -1, 1, NULL},
    {MK_OP_CLIP, "x=i2x3x4 alpha=f-1e9 beta=f0.25", 1, -1, 1, NULL},
    {MK_OP_THRESHOLD, "x=i2x3x4 alpha=f0.1", 1, -1, 1, NULL},
    {MK_OP_CAST, "x=i2x3 dtype='int32", 1, -8, 8, NULL},
    {MK_OP_CAST, "x=i2x3 dtype='fp32", 1, -8, 8, NULL},
    {MK_OP_CAST, "x=b2x3 dtype='fp32", 1, 0, 1, NULL},
    U(RELU),
    {MK_OP_RELU6, "x=i2x3x4", 1, -8, 8, NULL},
    {MK_OP_LEAKY_RELU, "x=i2x3x4 alpha=f0.1", 1, -1, 1, NULL},
    {MK_OP_PRELU, "x=i1x3x4x4 alpha=F0.1,0.2,0.3", 1, -1, 1, NULL},
    {MK_OP_ELU, "x=i2x3x4 alpha=f1", 1, -1, 1, NULL},
    U(SIGMOID),
    {MK_OP_SIGMOID_HARD, "x=i2x3x4 alpha=f0.2 beta=f0.5", 1, -1, 1, NULL},
    U(SILU),
    U(TANH),
    {MK_OP_SCALED_TANH, "x=i2x3x4 alpha=f1.5 beta=f0.5", 1, -1, 1, NULL},
    {MK_OP_GELU, "x=i2x3x4 mode='TANH_APPROXIMATION", 1, -1, 1, NULL},
    U(SOFTPLUS),
    U(SOFTSIGN),
    {MK_OP_LINEAR_ACTIVATION, "x=i2x3x4 alpha=f2 beta=f-1", 1, -1, 1, NULL},
    {MK_OP_SOFTMAX, "x=i2x3x4 axis=s-1", 1, -1, 1, NULL},
    {MK_OP_LINEAR, "x=i2x8 weight=w4x8 bias=w4", 1, -1, 1, NULL},
    {MK_OP_MATMUL, "x=i2x3x4 y=w4x5 transpose_x=t0 transpose_y=t0", 1, -1, 1, NULL},
    {MK_OP_MATMUL, "x=i2x3x4 y=i2x5x4 transpose_x=t0 transpose_y=t1", 1, -1, 1, NULL},
    {MK_OP_EINSUM, "values=i2x3 values=i3x4 equation='ij,jk->ik", 1, -1, 1, NULL},
    {MK_OP_CONV,
     "x=i1x2x6x6 weight=w3x2x3x3 bias=w3 strides=v1,1 pad_type='valid pad=v0,0,0,0 "
     "dilations=v1,1 groups=s1",
     1, -1, 1, NULL},
    {MK_OP_CONV_TRANSPOSE,
     "x=i1x2x4x4 weight=w2x3x3x3 bias=w3 strides=v2,2 pad_type='valid pad=v0,0,0,0 "
     "dilations=v1,1 groups=s1",
     1, -1, 1, NULL},
    {MK_OP_BATCH_NORM, "x=i1x3x4x4 mean=w3 variance=p3 gamma=w3 beta=w3 epsilon=f1e-5", 1, -1, 1,
     NULL},
    {MK_OP_INSTANCE_NORM, "x=i1x3x4x4 gamma=w3 beta=w3 epsilon=f1e-5", 1, -1, 1, NULL},
    {MK_OP_LAYER_NORM, "x=i2x3x8 axes=v-1 gamma=w8 beta=w8 epsilon=f1e-5", 1, -1, 1, NULL},
    {MK_OP_L2_NORM, "x=i1x3x4 epsilon=f1e-6", 1, -1, 1, NULL},
    {MK_OP_LOCAL_RESPONSE_NORM, "x=i1x4x3x3 size=s3 alpha=f1e-4 beta=f0.75 k=f1", 1, -1, 1, NULL},
    POOL(AVG_POOL),
    POOL(MAX_POOL),
    POOL(L2_POOL),
    RED(REDUCE_MEAN),
    RED(REDUCE_SUM),
    RED(REDUCE_MAX),
    RED(REDUCE_MIN),
    RED(REDUCE_PROD),
    RED(REDUCE_L1_NORM),
    RED(REDUCE_L2_NORM),
    RED(REDUCE_LOG_SUM),
    RED(REDUCE_LOG_SUM_EXP),
    RED(REDUCE_SUM_SQUARE),
    {MK_OP_REDUCE_ARGMAX, "x=i2x3x4 axis=s-1 keep_dims=t0", 1, -1, 1, NULL},
    {MK_OP_REDUCE_ARGMIN, "x=i2x3x4 axis=s-1 keep_dims=t0", 1, -1, 1, NULL},
    {MK_OP_CUMSUM, "x=i2x5 axis=s1 exclusive=t0 reverse=t0", 1, -1, 1, NULL},
    {MK_OP_RESHAPE, "x=i2x3x4 shape=v6,4", 1, -1, 1, NULL},
    {MK_OP_TRANSPOSE, "x=i2x3x4 perm=v2,0,1", 1, -1, 1, NULL},
    {MK_OP_EXPAND_DIMS, "x=i2x3 axes=v0", 1, -1, 1, NULL},
    {MK_OP_SQUEEZE, "x=i1x3x4 axes=v0", 1, -1, 1, NULL},
    {MK_OP_FLATTEN2D, "x=i2x3x4 axis=s1", 1, -1, 1, NULL},
    {MK_OP_CONCAT, "values=i2x3 values=w2x3 axis=s0 interleave=t0", 1, -1, 1, NULL},
    {MK_OP_SPLIT, "x=i2x6 num_splits=s2 axis=s1", 2, -1, 1, NULL},
    {MK_OP_STACK, "values=i2x3 values=i2x3 axis=s0", 1, -1, 1, NULL},
    {MK_OP_SLICE_BY_INDEX,
     "x=i4x5 begin=v1,0 end=v3,5 stride=v1,2 begin_mask=T0,0 end_mask=T0,1 squeeze_mask=T0,0", 1,
     -1, 1, NULL},
    {MK_OP_SLICE_BY_SIZE, "x=i4x5 begin=v1,1 size=v2,-1", 1, -1, 1, NULL},
    {MK_OP_SLICE_UPDATE, "x=i4x5 update=i2x5 begin=v1,0 end=v3,5", 1, -1, 1, NULL},
    {MK_OP_GATHER, "x=i10x4 indices=v1,3,5 axis=s0", 1, -1, 1, NULL},
    {MK_OP_GATHER, "x=w10x4 indices=v1,3,5 axis=s0", 1, -1, 1, NULL},
    {MK_OP_GATHER_ALONG_AXIS, "x=i3x4 indices=v0,3,1,2,2,0@3x2 axis=s1", 1, -1, 1, NULL},
    {MK_OP_GATHER_ND, "x=i3x4 indices=v0,1,2,3@2x2", 1, -1, 1, NULL},
    {MK_OP_SCATTER, "data=i4x3 indices=v1,3 updates=i2x3 axis=s0 mode='update", 1, -1, 1, NULL},
    {MK_OP_SCATTER_ALONG_AXIS, "data=i3x4 indices=v0,1,2@3x1 updates=i3x1 axis=s1 mode='update", 1,
     -1, 1, NULL},
    {MK_OP_SCATTER_ND, "data=i4x3 indices=v1,3@2x1 updates=i2x3 mode='add", 1, -1, 1, NULL},
    {MK_OP_TILE, "x=i2x3 reps=v2,1", 1, -1, 1, NULL},
    {MK_OP_PAD, "x=i2x3 pad=v1,1,0,2 mode='constant constant_val=f0.5", 1, -1, 1, NULL},
    {MK_OP_REVERSE, "x=i2x3 axes=v1", 1, -1, 1, NULL},
    {MK_OP_SELECT, "cond=b2x3 a=i2x3 b=w2x3", 1, -1, 1, NULL},
    {MK_OP_SHAPE, "x=i2x3", 1, -1, 1, NULL},
    {MK_OP_IDENTITY, "x=i2x3", 1, -1, 1, NULL},
    {MK_OP_FILL, "shape=v2,3 value=f0.75", 1, -1, 1, NULL},
    {MK_OP_FILL_LIKE, "ref_tensor=i2x3 value=f0.5", 1, -1, 1, NULL},
    {MK_OP_RANGE_1D, "end=f5 start=f0 step=f0.5", 1, -1, 1, NULL},
    {MK_OP_ONE_HOT, "indices=v0,2,1 one_hot_vector_size=s4 axis=s-1 on_value=f1 off_value=f0", 1,
     -1, 1, NULL},
    {MK_OP_TOPK, "x=i2x5 k=s2 axis=s-1 ascending=t0", 2, -1, 1, NULL},
    {MK_OP_ARGSORT, "x=i2x5 axis=s-1 ascending=t0", 1, -1, 1, NULL},
    {MK_OP_NON_ZERO, "x=i2x3", 1, -1, 1, NULL},
    {MK_OP_BAND_PART, "x=i4x4 lower=s1 upper=s0", 1, -1, 1, NULL},
    {MK_OP_DEPTH_TO_SPACE, "x=i1x4x2x2 block_size=s2", 1, -1, 1, NULL},
    {MK_OP_SPACE_TO_DEPTH, "x=i1x1x4x4 block_size=s2", 1, -1, 1, NULL},
    {MK_OP_PIXEL_SHUFFLE, "x=i1x4x2x2 upscale_factor=s2", 1, -1, 1, NULL},
    {MK_OP_CLAMPED_RELU, "x=i2x3 alpha=f0.5 beta=f0.8", 1, -1, 1, NULL},
    {MK_OP_THRESHOLDED_RELU, "x=i2x3 alpha=f0.2", 1, -1, 1, NULL},
    {MK_OP_SOFTPLUS_PARAMETRIC, "x=i1x3x4 alpha=p3 beta=w3", 1, -1, 1, NULL},
    {MK_OP_PIXEL_UNSHUFFLE, "x=i1x2x4x4 downscale_factor=s2", 1, -1, 1, NULL},
    {MK_OP_BATCH_TO_SPACE, "x=i4x2x2x3 block_shape=v2,2 crops=v0,0,1,0@2x2", 1, -1, 1, NULL},
    {MK_OP_SPACE_TO_BATCH, "x=i1x2x3x4 block_shape=v2,2 paddings=v1,0,0,0@2x2", 1, -1, 1, NULL},
    {MK_OP_REVERSE_SEQUENCE, "x=i2x4x3 lengths=v3,1 seq_axis=s1 batch_axis=s0", 1, -1, 1, NULL},
    {MK_OP_SLIDING_WINDOWS, "x=i2x7x3 axis=s1 size=s3 stride=s2", 1, -1, 1, NULL},
    {MK_OP_RESHAPE_LIKE, "x=i2x3x4 ref_tensors=i6x4 begins=s0 ends=s2 end_masks=t0", 1, -1, 1,
     NULL},
    {MK_OP_CROP, "x=i1x2x5x6 crop_height=v1,2 crop_width=v0,3", 1, -1, 1, NULL},
    {MK_OP_RANDOM_BERNOULLI, "shape=v2,3 prob=f0.3 seed=s5", 1, -1, 1, NULL},
    {MK_OP_RANDOM_CATEGORICAL, "x=i2x3 mode='logits size=s4 seed=s5", 1, -1, 1, NULL},
    {MK_OP_RANDOM_NORMAL, "shape=v2,3 mean=f1 stddev=f0.5 seed=s5", 1, -1, 1, NULL},
    {MK_OP_RANDOM_UNIFORM, "shape=v2,3 low=f-1 high=f2 seed=s5", 1, -1, 1, NULL},
    {MK_OP_UPSAMPLE_NEAREST_NEIGHBOR, "x=i1x2x3x3 scale_factor_height=f2 scale_factor_width=f2", 1,
     -1, 1, NULL},
    {MK_OP_UPSAMPLE_BILINEAR,
     "x=i1x2x3x3 scale_factor_height=f2 scale_factor_width=f1.5 align_corners=t0", 1, -1, 1, NULL},
    {MK_OP_RESIZE_NEAREST_NEIGHBOR, "x=i1x2x3x3 target_size_height=s6 target_size_width=s5", 1, -1,
     1, NULL},
    {MK_OP_RESIZE_BILINEAR,
     "x=i1x2x3x3 target_size_height=s6 target_size_width=s5 sampling_mode='ALIGN_CORNERS", 1, -1, 1,
     NULL},
    {MK_OP_RESIZE,
     "x=i1x2x3x3 shape=v6,5 resized_dims=u2 interpolation_mode='LINEAR sampling_mode='DEFAULT", 1,
     -1, 1, NULL},
    {MK_OP_RESAMPLE,
     "x=i1x2x3x3 coordinates=i1x4x5x2 sampling_mode='bilinear padding_mode='reflection "
     "padding_value=f0 coordinates_mode='normalized_minus_one_to_one align_corners=t0",
     1, -1, 1, NULL},
    {MK_OP_LSTM,
     "x=i3x1x4 initial_h=i1x5 initial_c=i1x5 weight_ih=w20x4 weight_hh=w20x5 bias=w20 "
     "direction='forward output_sequence=t1 recurrent_activation='sigmoid cell_activation='tanh "
     "activation='tanh",
     3, -1, 1, NULL},
    {MK_OP_GRU,
     "x=i3x1x4 initial_h=i1x5 weight_ih=w15x4 weight_hh=w15x5 bias=w15 output_sequence=t1", 2, -1,
     1, NULL},
    {MK_OP_RNN, "x=i3x1x4 initial_h=i1x5 weight_ih=w5x4 weight_hh=w5x5 bias=w5 output_sequence=t1",
     2, -1, 1, NULL},
    {MK_OP_SCALED_DOT_PRODUCT_ATTENTION, "query=i1x2x4 key=i1x3x4 value=i1x3x4 attn_mask=w2x3", 1,
     -1, 1, NULL},
    {MK_OP_AFFINE,
     "x=i1x2x3x3 transform_matrix=w1x6 output_height=s2 output_width=s4 sampling_mode='bilinear "
     "padding_mode='constant padding_value=f0 coordinates_mode='normalized_minus_one_to_one "
     "align_corners=t1",
     1, -1, 1, NULL},
    CUSTOM(CROP_RESIZE, build_crop_resize),
    CUSTOM(NON_MAXIMUM_SUPPRESSION, build_nms),
    CUSTOM(CONV_QUANTIZED, build_conv_quantized),
    CUSTOM(CLASSIFY, build_classify),
    CUSTOM(MAKE_LIST, build_make_list),
    CUSTOM(LIST_LENGTH, build_list_length),
    CUSTOM(LIST_READ, build_list_read),
    CUSTOM(LIST_WRITE, build_list_write),
    CUSTOM(LIST_GATHER, build_list_gather),
    CUSTOM(LIST_SCATTER, build_list_scatter),
    CUSTOM(COND, build_cond),
    CUSTOM(WHILE_LOOP, build_while),
    {MK_OP_QUANTIZE, "input=i2x3 scale=f0.0078125 output_dtype='int8", 1, -1, 1, NULL},
    {MK_OP_DEQUANTIZE, "input=q1,-2,3,4,-5,6@2x3 scale=f0.25", 1, -1, 1, NULL},
    CUSTOM(READ_STATE, build_write_state),
    CUSTOM(WRITE_STATE, build_write_state),
    CUSTOM(COREML_UPDATE_STATE, build_update_state),
};

/* Random fp32 inputs rounded to half (bools random) for every function input. */
static int make_inputs(const mk_program *p, unsigned seed, float lo, float hi, mk_tensor_list *l)
{
    const mk_function *f = mk_ir_main(p);
    l->n = 0;
    l->items = calloc((size_t)(f->n_inputs ? f->n_inputs : 1), sizeof *l->items);
    if (!l->items) return 0;
    for (int i = 0; i < f->n_inputs; i++) {
        const mk_type *t = &f->inputs[i]->type;
        mk_tensor *x = &l->items[l->n++];
        size_t n = 1;
        x->rank = t->rank;
        for (int k = 0; k < t->rank; k++) n *= (size_t)(x->dims[k] = t->dims[k]);
        x->name = strdup(f->inputs[i]->name);
        x->dtype = t->dtype;
        x->nbytes = n * (t->dtype == MK_DT_BOOL ? 1 : 4);
        x->data = calloc(n ? n : 1, t->dtype == MK_DT_BOOL ? 1 : 4);
        if (!x->name || !x->data) return 0;
        for (size_t k = 0; k < n; k++) {
            float v = urand(&seed, lo, hi);
            if (t->dtype == MK_DT_BOOL)
                ((uint8_t *)x->data)[k] = v > (lo + hi) / 2;
            else
                ((float *)x->data)[k] = mk_round_f16(v);
        }
    }
    return 1;
}

static const mk_op *find_kind(const mk_block *b, mk_op_kind k)
{
    MK_FOR_OPS(b, op)
    {
        if (op->kind == k) return op;
    }
    return NULL;
}

/* A float -> float cast whose input is another float -> float cast. */
static int cast_pairs(const mk_block *b)
{
    int n = 0;
    MK_FOR_OPS(b, op)
    {
        for (int i = 0; i < op->n_blocks; i++) n += cast_pairs(op->blocks[i]);
        if (op->kind != MK_OP_CAST) continue;
        const mk_value *x = mk_ir_arg(op, "x");
        if (!x || !mk_dtype_is_float(x->type.dtype) ||
            !mk_dtype_is_float(op->outputs[0]->type.dtype))
            continue;
        const mk_op *pr = x->producer;
        const mk_value *px = pr && pr->kind == MK_OP_CAST ? mk_ir_arg(pr, "x") : NULL;
        n += px && mk_dtype_is_float(px->type.dtype);
    }
    return n;
}

static int has_dtype(const mk_op *op, mk_dtype dt)
{
    for (int i = 0; i < op->n_outputs; i++)
        if (op->outputs[i]->type.dtype == dt) return 1;
    for (int i = 0; i < op->n_inputs; i++)
        for (int j = 0; j < op->inputs[i].n_args; j++)
            if (op->inputs[i].args[j]->type.dtype == dt && !op->inputs[i].args[j]->cst) return 1;
    return 0;
}

/* Build case c at target ios, run the pass, verify, compare. Returns 1 when the op stayed
 * fp32 at this target, 0 when it runs in fp16, -1 on failure (reported). */
static int run_case(mk_test_ctx *tc, const ocase *c, int ios, int *compared)
{
    const char *name = mk_ir_op_info(c->k)->name;
    cb B;
    if (!cb_init(&B, ios - 9)) {
        CHECK_MSG(0, "out of memory");
        return -1;
    }
    if (c->custom)
        c->custom(&B);
    else
        cb_outputs(&B, cb_op(&B, c->k, c->spec, c->n_out));
    mk_err e = {MK_OK, ""};
    int ret = -1;
    mk_program *q = NULL;
    mk_tensor_list in = {0, NULL}, a = {0, NULL}, b = {0, NULL};
    if (B.bad || mk_ir_verify(B.p, &e) != MK_OK) {
        CHECK_MSG(0, "%s iOS%d: case not valid fp32: %s %s", name, ios, B.why, e.msg);
        goto done;
    }
    if (mk_program_clone(B.p, &q, &e) != MK_OK) {
        CHECK_MSG(0, "%s iOS%d: clone: %s", name, ios, e.msg);
        goto done;
    }
    mk_fp16_stats st;
    if (mk_pass_fp16_ex(q, &st, &e) < 0 || mk_ir_verify(q, &e) != MK_OK) {
        CHECK_MSG(0, "%s iOS%d: fp16 pass: %s", name, ios, e.msg);
        goto done;
    }
    const mk_block *ob = mk_ir_main(B.p)->block, *nb = mk_ir_main(q)->block;
    if (ob->n_outputs != nb->n_outputs) {
        CHECK_MSG(0, "%s iOS%d: block outputs changed", name, ios);
        goto done;
    }
    for (int i = 0; i < ob->n_outputs; i++) {
        CHECK_MSG(ob->outputs[i]->type.dtype == nb->outputs[i]->type.dtype,
                  "%s iOS%d: output %d changed dtype", name, ios, i);
        CHECK_MSG(!strcmp(ob->outputs[i]->name, nb->outputs[i]->name),
                  "%s iOS%d: output %d renamed %s -> %s", name, ios, i, ob->outputs[i]->name,
                  nb->outputs[i]->name);
    }
    CHECK_MSG(cast_pairs(nb) == 0, "%s iOS%d: back-to-back casts", name, ios);
    const mk_op *op = find_kind(nb, c->k);
    int kept = st.kept[c->k] > 0;
    for (int k = 0; k < MK_OP__COUNT; k++)
        CHECK_MSG(k == (int)c->k || is_list_op(k) || !st.kept[k], "%s iOS%d: %s left fp32", name,
                  ios, mk_ir_op_info((mk_op_kind)k)->name);
    if (op && (c->k == MK_OP_COND || c->k == MK_OP_WHILE_LOOP)) {
        /* the interface keeps fp32; the arithmetic inside the blocks is fp16 */
        int inner = 0;
        for (int i = 0; i < op->n_blocks; i++) MK_FOR_OPS(op->blocks[i], o)
        inner += o->kind != MK_OP_CONST && has_dtype(o, MK_DT_FP16);
        CHECK_MSG(inner > 0, "%s iOS%d: nothing in fp16 inside the blocks", name, ios);
    } else if (op && !kept && c->k != MK_OP_CAST && c->k != MK_OP_SHAPE &&
               c->k != MK_OP_READ_STATE && c->k != MK_OP_CONST &&
               has_dtype(find_kind(ob, c->k), MK_DT_FP32))
        CHECK_MSG(has_dtype(op, MK_DT_FP16) && !has_dtype(op, MK_DT_FP32),
                  "%s iOS%d: op is not in fp16", name, ios);
    if (!make_inputs(B.p, 11u + (unsigned)ios, c->lo, c->hi, &in)) {
        CHECK_MSG(0, "%s: out of memory", name);
        goto done;
    }
    mk_run_options ro = {0, 1, 0};
    if (mk_run(B.p, &ro, &in, &a, &e) != MK_OK) {
        ret = kept; /* the interpreter cannot run the op: verified only */
        goto done;
    }
    if (mk_run(q, &ro, &in, &b, &e) != MK_OK) {
        CHECK_MSG(0, "%s iOS%d: fp16 program does not run: %s", name, ios, e.msg);
        goto done;
    }
    CHECK_MSG(a.n == b.n, "%s iOS%d: output count", name, ios);
    for (int i = 0; i < a.n && i < b.n; i++) {
        mk_compare_result r;
        int fl = mk_dtype_is_float((mk_dtype)a.items[i].dtype);
        if (mk_compare(&b.items[i], &a.items[i], fl ? 1e-2 : 0, fl ? 1e-2 : 0, &r, &e) != MK_OK) {
            CHECK_MSG(0, "%s iOS%d: compare: %s", name, ios, e.msg);
            continue;
        }
        CHECK_MSG(r.pass || (fl && r.shape_ok && r.cosine >= 0.999),
                  "%s iOS%d: output %d differs: max abs %g, cosine %g", name, ios, i, r.max_abs,
                  r.cosine);
    }
    (*compared)++;
    ret = kept;
done:
    mk_tensor_list_free(&in);
    mk_tensor_list_free(&a);
    mk_tensor_list_free(&b);
    mk_program_free(q);
    mk_ir_program_free(B.p);
    return ret;
}

TEST(fp16_pass_every_op_every_target)
{
    static const int n_cases = (int)(sizeof cases / sizeof *cases);
    int covered[MK_OP__COUNT] = {0};
    unsigned kept_mask[MK_OP__COUNT] = {0};
    int compared = 0, runs = 0;
    for (int i = 0; i < n_cases; i++) {
        covered[cases[i].k] = 1;
        for (int ios = 15; ios <= 18; ios++) {
            if (mk_ir_op_info(cases[i].k)->min_opset > ios) continue;
            int r = run_case(tc, &cases[i], ios, &compared);
            runs++;
            if (r > 0) kept_mask[cases[i].k] |= 1u << (ios - 15);
        }
    }
    for (int k = 0; k < MK_OP__COUNT; k++)
        CHECK_MSG(covered[k], "no fp16 case for op %s", mk_ir_op_info((mk_op_kind)k)->name);
    /* fp32-only ops: lstm/gru/rnn before iOS17 (coremltools defs: T = fp32 until iOS17);
     * resample's coordinates stay fp32 on iOS15 (U = int32/fp32; fp16 from iOS16); list ops
     * keep make_list's dtype everywhere; classify's probabilities are fp32 only (ProbT) */
    char line[512];
    size_t o = 0;
    for (int k = 0; k < MK_OP__COUNT; k++) {
        unsigned want = (k == MK_OP_LSTM || k == MK_OP_GRU || k == MK_OP_RNN) ? 3u
                        : k == MK_OP_RESAMPLE                                 ? 1u
                        : is_list_op(k) || k == MK_OP_CLASSIFY                ? 15u
                                                                              : 0u;
        CHECK_MSG(kept_mask[k] == want, "op %s kept fp32 at mask %#x, expected %#x",
                  mk_ir_op_info((mk_op_kind)k)->name, kept_mask[k], want);
        if (kept_mask[k] && o < sizeof line)
            o += (size_t)snprintf(line + o, sizeof line - o, " %s(mask %#x)",
                                  mk_ir_op_info((mk_op_kind)k)->name, kept_mask[k]);
    }
    printf("  fp16: %d op/target programs, %d compared in the interpreter; kept fp32:%s\n", runs,
           compared, o ? line : " none");
    CHECK(compared > runs * 9 / 10);
}

/* ---- details ---- */
static int count_kind(const mk_block *b, mk_op_kind k)
{
    int n = 0;
    MK_FOR_OPS(b, op) n += op->kind == k;
    return n;
}

static mk_op *producer_named(const mk_block *b, const char *name)
{
    MK_FOR_OPS(b, op)
    {
        for (int i = 0; i < op->n_outputs; i++)
            if (!strcmp(op->outputs[i]->name, name)) return op;
    }
    return NULL;
}

TEST(fp16_pass_edges_named_like_coremltools)
{
    cb B;
    REQUIRE(cb_init(&B, 6));
    mk_op *r = cb_op(&B, MK_OP_RELU, "x=i2x3", 1);
    REQUIRE(r);
    mk_value *in = mk_ir_main(B.p)->inputs[0];
    const char *out_name = r->outputs[0]->name;
    cb_outputs(&B, r);
    mk_err e = {MK_OK, ""};
    CHECK_MSG(mk_pass_fp16(B.p, &e) > 0, "%s", e.msg);
    CHECK_MSG(mk_ir_verify(B.p, &e) == MK_OK, "%s", e.msg);
    const mk_block *b = mk_ir_main(B.p)->block;
    char want[64];
    snprintf(want, sizeof want, "%s_to_fp16", in->name);
    const mk_op *c = producer_named(b, want);
    CHECK_MSG(c && c->kind == MK_OP_CAST && mk_ir_arg(c, "x") == in, "no cast named %s", want);
    CHECK(in->type.dtype == MK_DT_FP32);
    const mk_value *y = b->outputs[0];
    CHECK_STR(y->name, out_name);
    CHECK(y->type.dtype == MK_DT_FP32 && y->producer && y->producer->kind == MK_OP_CAST);
    const mk_value *h = y->producer ? mk_ir_arg(y->producer, "x") : NULL;
    CHECK(h && h->type.dtype == MK_DT_FP16 && h->producer && h->producer->kind == MK_OP_RELU);
    snprintf(want, sizeof want, "%s_cast_fp16", out_name);
    CHECK(h && !strcmp(h->name, want));
    CHECK_EQ_INT(count_kind(b, MK_OP_CAST), 2);
    CHECK_EQ_INT(mk_pass_fp16(B.p, &e), 0); /* idempotent */
    mk_ir_program_free(B.p);
}

/* relu -> lstm -> tanh: before iOS17 the lstm stays fp32 between two casts; no cast pairs */
TEST(fp16_pass_lstm_island_before_ios17)
{
    for (int ios = 15; ios <= 17; ios++) {
        cb B;
        REQUIRE(cb_init(&B, ios - 9));
        mk_op *r = cb_op(&B, MK_OP_RELU, "x=i3x1x4", 1);
        mk_op *l = r ? cb_opx(&B, MK_OP_LSTM,
                              "initial_h=w1x5 initial_c=w1x5 weight_ih=w20x4 weight_hh=w20x5 "
                              "bias=w20 output_sequence=t1",
                              3, "x", r->outputs[0])
                     : NULL;
        mk_op *t = l ? cb_opx(&B, MK_OP_TANH, "", 1, "x", l->outputs[0]) : NULL;
        REQUIRE(t);
        cb_outputs(&B, t);
        mk_program *q = NULL;
        mk_err e = {MK_OK, ""};
        REQUIRE(mk_program_clone(B.p, &q, &e) == MK_OK);
        mk_test_owned(q); /* fault runs: the test's own */
        mk_fp16_stats st;
        CHECK_MSG(mk_pass_fp16_ex(q, &st, &e) > 0, "%s", e.msg);
        CHECK_MSG(mk_ir_verify(q, &e) == MK_OK, "iOS%d: %s", ios, e.msg);
        const mk_block *b = mk_ir_main(q)->block;
        const mk_op *lq = find_kind(b, MK_OP_LSTM);
        REQUIRE(lq);
        mk_dtype want = ios < 17 ? MK_DT_FP32 : MK_DT_FP16;
        CHECK_MSG(lq->outputs[0]->type.dtype == want && mk_ir_arg(lq, "x")->type.dtype == want &&
                      mk_ir_arg(lq, "weight_ih")->type.dtype == want,
                  "iOS%d: lstm dtype", ios);
        CHECK(find_kind(b, MK_OP_RELU)->outputs[0]->type.dtype == MK_DT_FP16);
        CHECK_EQ_INT(st.kept[MK_OP_LSTM], ios < 17 ? 1 : 0);
        /* x in, relu -> lstm, lstm -> tanh (before iOS17), y out */
        CHECK_EQ_INT(count_kind(b, MK_OP_CAST), ios < 17 ? 4 : 2);
        CHECK_EQ_INT(cast_pairs(b), 0);
        mk_tensor_list in = {0, NULL}, a = {0, NULL}, o = {0, NULL};
        mk_run_options ro = {0, 1, 0};
        REQUIRE(make_inputs(B.p, 3, -1, 1, &in));
        CHECK(mk_run(B.p, &ro, &in, &a, &e) == MK_OK);
        CHECK_MSG(mk_run(q, &ro, &in, &o, &e) == MK_OK, "%s", e.msg);
        mk_compare_result cr;
        if (a.n == 1 && o.n == 1 && mk_compare(&o.items[0], &a.items[0], 1e-2, 1e-2, &cr, &e) == 0)
            CHECK_MSG(cr.pass, "iOS%d: max abs %g", ios, cr.max_abs);
        else
            CHECK(0);
        mk_tensor_list_free(&in);
        mk_tensor_list_free(&a);
        mk_tensor_list_free(&o);
        mk_program_free(q);
        mk_ir_program_free(B.p);
    }
}

TEST(fp16_pass_clips_h14_and_keeps_epsilons_nonzero)
{
    cb B;
    REQUIRE(cb_init(&B, 7));
    mk_op *a = cb_op(&B, MK_OP_ADD, "x=i4 y=F-1e9,1e5,0.5,1e-9", 1);
    REQUIRE(a);
    cb_outputs(&B, a);
    mk_err e = {MK_OK, ""};
    mk_fp16_stats st;
    CHECK_MSG(mk_pass_fp16_ex(B.p, &st, &e) > 0, "%s", e.msg);
    CHECK_MSG(mk_ir_verify(B.p, &e) == MK_OK, "%s", e.msg);
    CHECK_EQ_INT(st.n_clipped, 2);
    CHECK_EQ_INT(st.n_underflow, 1);
    CHECK_EQ_INT(st.n_consts, 1);
    const mk_value *y = mk_ir_arg(a, "y");
    REQUIRE(y && y->type.dtype == MK_DT_FP16 && y->cst);
    CHECK(mk_const_get_f64(y, 0) == -65504 && mk_const_get_f64(y, 1) == 65504);
    CHECK(mk_const_get_f64(y, 2) == 0.5 && mk_const_get_f64(y, 3) == ldexp(1, -24));
    mk_ir_program_free(B.p);
}

/* Parameters whose domain excludes fp16 keep fp32 constants; iOS17+ unary epsilons stay fp32
 * (mixed precision is legal there), iOS15/16 ones follow x. */
TEST(fp16_pass_parameter_domains_by_target)
{
    for (int ios = 15; ios <= 18; ios++) {
        cb B;
        REQUIRE(cb_init(&B, ios - 9));
        mk_op *u = cb_op(&B, MK_OP_UPSAMPLE_NEAREST_NEIGHBOR,
                         "x=i1x2x3x3 scale_factor_height=f2 scale_factor_width=f2", 1);
        mk_op *r = u ? cb_opx(&B, MK_OP_RSQRT, "epsilon=f1e-6", 1, "x", u->outputs[0]) : NULL;
        REQUIRE(r);
        cb_outputs(&B, r);
        mk_err e = {MK_OK, ""};
        CHECK_MSG(mk_pass_fp16(B.p, &e) > 0, "%s", e.msg);
        CHECK_MSG(mk_ir_verify(B.p, &e) == MK_OK, "iOS%d: %s", ios, e.msg);
        CHECK(mk_ir_arg(u, "x")->type.dtype == MK_DT_FP16);
        CHECK(mk_ir_arg(u, "scale_factor_height")->type.dtype == MK_DT_FP32);
        CHECK(mk_ir_arg(u, "scale_factor_width")->type.dtype == MK_DT_FP32);
        CHECK(mk_ir_arg(r, "x")->type.dtype == MK_DT_FP16);
        CHECK_MSG(mk_ir_arg(r, "epsilon")->type.dtype == (ios >= 17 ? MK_DT_FP32 : MK_DT_FP16),
                  "iOS%d: epsilon dtype", ios);
        /* a default materialized for an fp16 upsample is fp32 too */
        mk_op *u2 = cb_opx(&B, MK_OP_UPSAMPLE_BILINEAR, "", 1, "x", mk_ir_arg(u, "x"));
        REQUIRE(u2);
        CHECK(mk_ir_complete_defaults(B.p, u2, &e) == MK_OK);
        CHECK(mk_ir_arg(u2, "scale_factor_height")->type.dtype == MK_DT_FP32);
        mk_ir_program_free(B.p);
    }
}

/* cast(int -> fp32) feeding fp16 math becomes one cast(int -> fp16); no int->fp32->fp16 */
TEST(fp16_pass_folds_casts_from_integers)
{
    cb B;
    REQUIRE(cb_init(&B, 6));
    mk_op *g = cb_op(&B, MK_OP_SHAPE, "x=i2x3", 1);
    mk_op *c = g ? cb_opx(&B, MK_OP_CAST, "dtype='fp32", 1, "x", g->outputs[0]) : NULL;
    mk_op *m = c ? cb_opx(&B, MK_OP_MUL, "y=f0.5", 1, "x", c->outputs[0]) : NULL;
    REQUIRE(m);
    cb_outputs(&B, m);
    mk_err e = {MK_OK, ""};
    CHECK_MSG(mk_pass_fp16(B.p, &e) > 0, "%s", e.msg);
    CHECK_MSG(mk_ir_verify(B.p, &e) == MK_OK, "%s", e.msg);
    const mk_value *mx = mk_ir_arg(m, "x");
    REQUIRE(mx && mx->producer);
    CHECK(mx->type.dtype == MK_DT_FP16 && mx->producer->kind == MK_OP_CAST &&
          mk_ir_arg(mx->producer, "x")->type.dtype == MK_DT_INT32);
    CHECK_EQ_INT(cast_pairs(mk_ir_main(B.p)->block), 0);
    /* the fp32 cast is dead now: only the int -> fp16 cast and the output cast remain */
    CHECK_EQ_INT(count_kind(mk_ir_main(B.p)->block, MK_OP_CAST), 2);
    mk_ir_program_free(B.p);
}

/* A batch_norm variance of 1e7 is data, not a sentinel: clipping it to 65504 would change the
 * result (ppocr_det), so the op stays fp32 between casts; an additive -1e9 mask is clipped. */
TEST(fp16_pass_out_of_range_constants)
{
    cb B;
    REQUIRE(cb_init(&B, 7));
    mk_op *bn = cb_op(&B, MK_OP_BATCH_NORM,
                      "x=i1x3x2x2 mean=F-300,20,150 variance=F1e7,4e7,2.5e5 epsilon=f1e-5", 1);
    mk_op *m =
        bn ? cb_opx(&B, MK_OP_ADD, "y=F-1e9,0,-3.4e38,0@1x1x2x2", 1, "x", bn->outputs[0]) : NULL;
    REQUIRE(m);
    cb_outputs(&B, m);
    mk_program *q = NULL;
    mk_err e = {MK_OK, ""};
    REQUIRE(mk_program_clone(B.p, &q, &e) == MK_OK);
    mk_test_owned(q); /* fault runs: the test's own */
    mk_fp16_stats st;
    CHECK_MSG(mk_pass_fp16_ex(q, &st, &e) > 0, "%s", e.msg);
    CHECK_MSG(mk_ir_verify(q, &e) == MK_OK, "%s", e.msg);
    const mk_block *b = mk_ir_main(q)->block;
    CHECK(find_kind(b, MK_OP_BATCH_NORM)->outputs[0]->type.dtype == MK_DT_FP32);
    CHECK(find_kind(b, MK_OP_ADD)->outputs[0]->type.dtype == MK_DT_FP16);
    CHECK_EQ_INT(st.n_range_fp32, 1);
    CHECK_EQ_INT(st.n_clipped, 2);
    mk_tensor_list in = {0, NULL}, a = {0, NULL}, o = {0, NULL};
    mk_run_options ro = {0, 1, 0};
    REQUIRE(make_inputs(B.p, 5, -1e3f, 1e3f, &in));
    CHECK(mk_run(B.p, &ro, &in, &a, &e) == MK_OK);
    CHECK_MSG(mk_run(q, &ro, &in, &o, &e) == MK_OK, "%s", e.msg);
    /* unmasked elements agree; masked ones are very negative in both */
    if (a.n == 1 && o.n == 1) {
        const float *x = a.items[0].data, *y = o.items[0].data;
        for (int i = 0; i < 12; i++)
            if (i % 2)
                CHECK_MSG(fabsf(x[i] - y[i]) <= 1e-2f + 1e-2f * fabsf(x[i]), "%d: %g vs %g", i,
                          x[i], y[i]);
            else
                CHECK(x[i] < -6e4f && y[i] < -6e4f);
    }
    mk_tensor_list_free(&in);
    mk_tensor_list_free(&a);
    mk_tensor_list_free(&o);
    mk_program_free(q);
    mk_ir_program_free(B.p);
}
