/* The MIL ops added for issue 13 beyond the first batch: affine, crop_resize (iOS15/16 roi,
 * iOS17 boxes), non_maximum_suppression (iOS15 and iOS17 layouts) and the list ops with their
 * list value type (type rules, interpreter, package round trip). Expected values are worked
 * out by hand from the op definitions (or are coremltools' op-test numbers, checked by hand). */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>

#include "interp/interp_int.h"
#include "test.h"

#include "opsem_build.h"

/* Run with block outputs outs[0..n); verify first. */
static mk_status run_outs(bld *B, int n, mk_value *const *outs, mk_tensor_list *res)
{
    mk_ir_block_set_outputs(B->p, B->b, n, outs);
    memset(&B->e, 0, sizeof B->e);
    mk_status st = mk_ir_verify(B->p, &B->e);
    if (st) {
        printf("  verify: %s\n", B->e.msg);
        return st;
    }
    mk_run_options ro = {0, 1, 0};
    st = mk_run(B->p, &ro, &B->ins, res, &B->e);
    if (st) printf("  run: %s\n", B->e.msg);
    return st;
}

/* Output i of res holds n floats (as fp32 or int32) equal to want within tol. */
static void expect(mk_test_ctx *tc, const mk_tensor_list *res, int i, int n, const float *want,
                   float tol, const char *what)
{
    if (i >= res->n) {
        CHECK_MSG(0, "%s: no output %d", what, i);
        return;
    }
    const mk_tensor *t = &res->items[i];
    size_t es = t->dtype == MK_DT_INT32 || t->dtype == MK_DT_FP32 ? 4 : 0;
    CHECK_MSG(es && t->nbytes == (size_t)n * es, "%s: %zu bytes, expected %d values", what,
              t->nbytes, n);
    if (!es || t->nbytes != (size_t)n * es) return;
    for (int j = 0; j < n; j++) {
        float g = t->dtype == MK_DT_INT32 ? (float)((const int32_t *)t->data)[j]
                                          : ((const float *)t->data)[j];
        CHECK_MSG(fabsf(g - want[j]) <= tol, "%s[%d] = %g, expected %g", what, j, (double)g,
                  (double)want[j]);
    }
}

/* ---- affine ---- */

/* coremltools' op test: output (j, i) on the [-1, 1] grid (corners aligned) maps through
 * [a0 a1 a2; b0 b1 b2] to a point read bilinearly with zeros outside. First output pixel by
 * hand: u = v = -1 -> x' = 1 + 2 - 3.7 = -0.7, y' = 1 - 3.5 + 1.2 = -1.3 -> pixel (0.15, -0.15)
 * -> 0.85 * (0.85 * 11 + 0.15 * 22) = 10.7525 (the row above is padding). */
TEST(opsem_affine_bilinear_grid)
{
    static const float x[4] = {11, 22, 33, 44};
    static const float m[6] = {-1.0f, -2.0f, -3.7f, -1.0f, 3.5f, 1.2f};
    static const int64_t xd[4] = {1, 1, 2, 2}, md[2] = {1, 6};
    static const float w33[9] = {10.7525f, 2.5025f, 0, 1.98f, 0, 0, 0, 0, 0};
    static const float w25[10] = {10.7525f, 5.94f, 2.5025f, 0.44f, 0, 0, 0, 0, 0, 0};
    const int sizes[2][2] = {{3, 3}, {2, 5}};
    for (int c = 0; c < 2; c++) {
        bld B;
        b_init(&B, 15);
        mk_op *o =
            op(&B, MK_OP_AFFINE, 1, "x", b_input(&B, "x", 4, xd, x), "transform_matrix",
               b_input(&B, "m", 2, md, m), "output_height", cis(&B, sizes[c][0]), "output_width",
               cis(&B, sizes[c][1]), "sampling_mode", cs(&B, "bilinear"), "padding_mode",
               cs(&B, "constant"), "padding_value", cfs(&B, 0), "coordinates_mode",
               cs(&B, "normalized_minus_one_to_one"), "align_corners", cb(&B, 1), NULL);
        REQUIRE(o);
        CHECK_EQ_INT(o->outputs[0]->type.dims[2], sizes[c][0]);
        CHECK_EQ_INT(o->outputs[0]->type.dims[3], sizes[c][1]);
        mk_tensor_list res = {0};
        if (run_outs(&B, 1, o->outputs, &res) == MK_OK)
            expect(tc, &res, 0, sizes[c][0] * sizes[c][1], c ? w25 : w33, 1e-4f, "affine");
        else
            CHECK(0);
        mk_tensor_list_free(&res);
        b_free(&B);
    }
    /* a nonzero padding_value is not defined: refused by the type rule */
    bld B;
    b_init(&B, 15);
    CHECK(!op(&B, MK_OP_AFFINE, 1, "x", b_input(&B, "x", 4, xd, x), "transform_matrix",
              b_input(&B, "m", 2, md, m), "output_height", cis(&B, 2), "output_width", cis(&B, 2),
              "sampling_mode", cs(&B, "bilinear"), "padding_mode", cs(&B, "constant"),
              "padding_value", cfs(&B, 1), "coordinates_mode",
              cs(&B, "normalized_minus_one_to_one"), "align_corners", cb(&B, 1), NULL));
    b_free(&B);
}

/* ---- crop_resize ---- */
static const float img16[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

/* iOS15 roi form on the 4x4 image 1..16 (pixel (y, x) = 1 + 4y + x); out [1, 1, 1, th, tw]. */
static void crop15(mk_test_ctx *tc, int ios, const float *roi, int cols, int th, int tw, int norm,
                   const char *box_mode, const char *mode, float pad, int n, const float *want,
                   const char *what)
{
    static const int64_t xd[4] = {1, 1, 4, 4};
    int64_t rd[5] = {1, 1, cols, 1, 1};
    bld B;
    b_init(&B, ios);
    mk_op *o =
        op(&B, MK_OP_CROP_RESIZE, 1, "x", b_input(&B, "x", 4, xd, img16), "roi", cf(&B, 5, rd, roi),
           "target_height", cis(&B, th), "target_width", cis(&B, tw), "normalized_coordinates",
           cb(&B, norm), "box_coordinate_mode", cs(&B, box_mode), "sampling_mode", cs(&B, mode),
           "pad_value", ios >= 16 ? cfs(&B, pad) : NULL, NULL);
    REQUIRE(o);
    CHECK_EQ_INT(o->outputs[0]->type.rank, 5);
    mk_tensor_list res = {0};
    if (run_outs(&B, 1, o->outputs, &res) == MK_OK)
        expect(tc, &res, 0, n, want, 1e-4f, what);
    else
        CHECK_MSG(0, "%s did not run", what);
    mk_tensor_list_free(&res);
    b_free(&B);
}

TEST(opsem_crop_resize_grids_and_boxes)
{
    static const float box[4] = {1, 1, 2, 2}, inv[4] = {2, 2, 1, 1}, ctr[4] = {1.5f, 1.5f, 1, 1};
    static const float nrm[5] = {0, 0, 0, 1.0f / 3, 1.0f / 3};
    /* ALIGN_CORNERS: rows/cols 1 and 2 of the box */
    static const float a2[4] = {6, 7, 10, 11}, a2i[4] = {11, 10, 7, 6}, a1[1] = {8.5f};
    crop15(tc, 15, box, 4, 2, 2, 0, "CORNERS_HEIGHT_FIRST", "ALIGN_CORNERS", 0, 4, a2, "align");
    crop15(tc, 15, inv, 4, 2, 2, 0, "CORNERS_HEIGHT_FIRST", "ALIGN_CORNERS", 0, 4, a2i, "inverted");
    /* one output samples the box's middle (1.5, 1.5) */
    crop15(tc, 15, box, 4, 1, 1, 0, "CORNERS_HEIGHT_FIRST", "ALIGN_CORNERS", 0, 1, a1, "middle");
    /* normalized [0, 1/3] x (H - 1) = [0, 1], with the batch index in front */
    static const float n2[4] = {1, 2, 5, 6};
    crop15(tc, 15, nrm, 5, 2, 2, 1, "CORNERS_HEIGHT_FIRST", "ALIGN_CORNERS", 0, 4, n2,
           "normalized");
    /* centre (1.5, 1.5), size 1 x 1 is the box [1, 2] x [1, 2] */
    crop15(tc, 15, ctr, 4, 2, 2, 0, "CENTER_SIZE_HEIGHT_FIRST", "ALIGN_CORNERS", 0, 4, a2, "ctr");
    /* DEFAULT: start + i * span / n -> 1, 1.5; OFFSET_CORNERS: start + (i + 0.5) * span / n ->
     * 1.25, 1.75 */
    static const float d2[4] = {6, 6.5f, 8, 8.5f}, o2[4] = {7.25f, 7.75f, 9.25f, 9.75f};
    crop15(tc, 15, box, 4, 2, 2, 0, "CORNERS_HEIGHT_FIRST", "DEFAULT", 0, 4, d2, "default");
    crop15(tc, 15, box, 4, 2, 2, 0, "CORNERS_WIDTH_FIRST", "OFFSET_CORNERS", 0, 4, o2, "offset");
    /* iOS16 pad_value: normalized box [0.1, 0.3, 1.3, 1] -> rows 0.3 and 3.9 (outside), cols 0.9
     * and 3: (0.3, 0.9) = 1 + 1.2 + 0.9 = 3.1, (0.3, 3) = 5.2, then the pad */
    static const float r16[5] = {0, 0.1f, 0.3f, 1.3f, 1}, p16[4] = {3.1f, 5.2f, 10, 10};
    crop15(tc, 16, r16, 5, 2, 2, 1, "CORNERS_HEIGHT_FIRST", "ALIGN_CORNERS", 10, 4, p16, "pad");

    /* iOS17: boxes [N, 4] and box_indices pick images of a batch of 2 (the second is 17..32) */
    float x2[32];
    for (int i = 0; i < 32; i++) x2[i] = (float)(i + 1);
    static const int64_t xd[4] = {2, 1, 4, 4}, bd[2] = {2, 4};
    static const float boxes[8] = {1, 1, 2, 2, 0, 0, 3, 3};
    static const int32_t idx[2] = {1, 0};
    bld B;
    b_init(&B, 17);
    mk_op *o = op(&B, MK_OP_CROP_RESIZE, 1, "x", b_input(&B, "x", 4, xd, x2), "boxes",
                  cf(&B, 2, bd, boxes), "box_indices", ci(&B, 2, idx), "target_height", cis(&B, 2),
                  "target_width", cis(&B, 2), "sampling_mode", cs(&B, "ALIGN_CORNERS"), NULL);
    REQUIRE(o);
    CHECK_EQ_INT(o->outputs[0]->type.rank, 4);
    CHECK_EQ_INT(o->outputs[0]->type.dims[0], 2);
    static const float w17[8] = {22, 23, 26, 27, 1, 4, 13, 16};
    mk_tensor_list res = {0};
    if (run_outs(&B, 1, o->outputs, &res) == MK_OK)
        expect(tc, &res, 0, 8, w17, 1e-4f, "ios17 boxes");
    else
        CHECK(0);
    mk_tensor_list_free(&res);
    b_free(&B);
    /* a box index outside the batch fails at run time in one line */
    b_init(&B, 17);
    static const int32_t bad[2] = {0, 2};
    o = op(&B, MK_OP_CROP_RESIZE, 1, "x", b_input(&B, "x", 4, xd, x2), "boxes",
           cf(&B, 2, bd, boxes), "box_indices", ci(&B, 2, bad), NULL);
    REQUIRE(o);
    CHECK(run_outs(&B, 1, o->outputs, &res) != MK_OK);
    CHECK(strstr(B.e.msg, "outside batch") != NULL && !strchr(B.e.msg, '\n'));
    mk_tensor_list_free(&res);
    b_free(&B);
}

/* ---- non_maximum_suppression ---- */

/* boxes as (x_center, y_center, width, height), n = 1 batch. */
static void nms(mk_test_ctx *tc, int ios, int nb, int K, const float *bx, const float *sc,
                float iou, float sthr, int maxb, int per_class, const float *wb, const float *ws,
                const float *wi, int wn, const char *what)
{
    int64_t bd[3] = {1, nb, 4}, sd[3] = {1, nb, K};
    float bt[64], st[64];
    if (ios >= 17) { /* [n, 4, B] and [n, K, B] */
        bd[1] = 4, bd[2] = nb, sd[1] = K, sd[2] = nb;
        for (int i = 0; i < nb; i++) {
            for (int d = 0; d < 4; d++) bt[d * nb + i] = bx[i * 4 + d];
            for (int c = 0; c < K; c++) st[c * nb + i] = sc[i * K + c];
        }
    } else {
        memcpy(bt, bx, (size_t)nb * 16);
        memcpy(st, sc, (size_t)(nb * K) * 4);
    }
    bld B;
    b_init(&B, ios);
    mk_op *o =
        op(&B, MK_OP_NON_MAXIMUM_SUPPRESSION, ios >= 17 ? 3 : 4, "boxes",
           b_input(&B, "boxes", 3, bd, bt), "scores", b_input(&B, "scores", 3, sd, st),
           "iou_threshold", cfs(&B, iou), "score_threshold", ios >= 17 ? NULL : cfs(&B, sthr),
           "max_boxes", cis(&B, maxb), "per_class_suppression", cb(&B, per_class), NULL);
    REQUIRE(o);
    mk_tensor_list res = {0};
    if (run_outs(&B, o->n_outputs, o->outputs, &res) != MK_OK) {
        CHECK_MSG(0, "%s did not run", what);
        b_free(&B);
        return;
    }
    float tb[64], ts[64];
    if (ios >= 17) { /* expected values given box-major: transpose to [4, max] / [K, max] */
        for (int s = 0; s < maxb; s++) {
            for (int d = 0; d < 4; d++) tb[d * maxb + s] = wb[s * 4 + d];
            for (int c = 0; c < K; c++) ts[c * maxb + s] = ws[s * K + c];
        }
        wb = tb, ws = ts;
    }
    expect(tc, &res, 0, maxb * 4, wb, 1e-6f, what);
    expect(tc, &res, 1, maxb * K, ws, 1e-6f, what);
    expect(tc, &res, 2, maxb, wi, 0, what);
    float n = (float)wn;
    if (ios < 17) expect(tc, &res, 3, 1, &n, 0, what);
    mk_tensor_list_free(&res);
    b_free(&B);
}

TEST(opsem_non_maximum_suppression)
{
    /* coremltools' smoke case: scores -3.5, 9.4, 2.3, 0.7 with threshold 0.4; the unit boxes at
     * (1, 1) and (2, 2) only touch (IoU 0): the two best, by score */
    static const float bx[16] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3};
    static const float sc[4] = {-3.5f, 9.4f, 2.3f, 0.7f};
    static const float wb[8] = {1, 1, 1, 1, 2, 2, 2, 2}, ws[2] = {9.4f, 2.3f}, wi[2] = {1, 2};
    for (int ios = 15; ios <= 17; ios += 2)
        nms(tc, ios, 4, 1, bx, sc, 0.2f, 0.4f, 2, 1, wb, ws, wi, 2, "smoke");
    /* 2x2 boxes at x 0 and 0.5 overlap by 1.5 x 2: IoU 3 / 5 = 0.6 > 0.5, the weaker goes; the
     * far box stays; one slot is left: zeros and index -1 */
    static const float b2[12] = {0, 0, 2, 2, 0.5f, 0, 2, 2, 9, 9, 2, 2};
    static const float s2[6] = {0.9f, 0.1f, 0.8f, 0.2f, 0.1f, 0.7f}; /* 2 classes */
    static const float wb2[12] = {0, 0, 2, 2, 9, 9, 2, 2, 0, 0, 0, 0};
    static const float ws2[6] = {0.9f, 0.1f, 0.1f, 0.7f, 0, 0}, wi2[3] = {0, 2, -1};
    nms(tc, 15, 3, 2, b2, s2, 0.5f, 0, 3, 0, wb2, ws2, wi2, 2, "suppressed");
    nms(tc, 17, 3, 2, b2, s2, 0.5f, 0, 3, 0, wb2, ws2, wi2, 2, "suppressed ios17");
    /* per class: box 1's best class (0) differs from box 0's? no: both class 0 -> suppressed;
     * make box 1 class 1 and it survives */
    static const float s3[6] = {0.9f, 0.1f, 0.1f, 0.8f, 0.1f, 0.7f};
    static const float wb3[12] = {0, 0, 2, 2, 0.5f, 0, 2, 2, 9, 9, 2, 2};
    static const float ws3[6] = {0.9f, 0.1f, 0.1f, 0.8f, 0.1f, 0.7f}, wi3[3] = {0, 1, 2};
    nms(tc, 15, 3, 2, b2, s3, 0.5f, 0, 3, 1, wb3, ws3, wi3, 3, "per class");
    /* nothing above score_threshold: the best box alone (the op tests' reference) */
    static const float wb4[8] = {1, 1, 1, 1, 0, 0, 0, 0}, ws4[2] = {9.4f, 0}, wi4[2] = {1, -1};
    nms(tc, 15, 4, 1, bx, sc, 0.2f, 100, 2, 0, wb4, ws4, wi4, 1, "none above");
}

/* ---- lists ---- */

/* make_list(init_length 2, elem [2]), read 0, write a at 0, write b at 4 (grows to 5),
 * scatter [[-1,-2],[-4,-5]] at [2, 1], then read 0 and gather [4, 2, 3]: coremltools' smoke
 * test; unwritten elements are zeros. */
TEST(opsem_list_ops)
{
    static const float a[2] = {1, 3}, b[2] = {2, 4}, sv[4] = {-1, -2, -4, -5};
    static const int64_t ed[1] = {2}, sd[2] = {2, 2};
    static const int32_t sidx[2] = {2, 1}, gidx[3] = {4, 2, 3};
    bld B;
    b_init(&B, 15);
    mk_value *va = b_input(&B, "a", 1, ed, a), *vb = b_input(&B, "b", 1, ed, b);
    mk_op *ml =
        op(&B, MK_OP_MAKE_LIST, 1, "init_length", cis(&B, 2), "elem_shape", cis(&B, 2), NULL);
    REQUIRE(ml);
    const mk_type *lt = &ml->outputs[0]->type;
    CHECK(lt->is_list && lt->rank == 2 && lt->dims[0] == 2 && lt->dims[1] == 2 &&
          lt->dtype == MK_DT_FP32);
    mk_op *r0 = op(&B, MK_OP_LIST_READ, 1, "ls", ml->outputs[0], "index", cis(&B, 0), NULL);
    mk_op *w0 =
        op(&B, MK_OP_LIST_WRITE, 1, "ls", ml->outputs[0], "index", cis(&B, 0), "value", va, NULL);
    REQUIRE(r0 && w0);
    CHECK_EQ_INT(w0->outputs[0]->type.dims[0], 2); /* index known inside: length kept */
    mk_op *w4 =
        op(&B, MK_OP_LIST_WRITE, 1, "ls", w0->outputs[0], "index", cis(&B, 4), "value", vb, NULL);
    REQUIRE(w4);
    CHECK_EQ_INT(w4->outputs[0]->type.dims[0], MK_DIM_UNKNOWN); /* may grow: not known */
    CHECK(w4->outputs[0]->type.is_list);
    mk_op *s = op(&B, MK_OP_LIST_SCATTER, 1, "ls", w4->outputs[0], "indices", ci(&B, 2, sidx),
                  "value", cf(&B, 2, sd, sv), NULL);
    REQUIRE(s);
    mk_op *r1 = op(&B, MK_OP_LIST_READ, 1, "ls", s->outputs[0], "index", cis(&B, 0), NULL);
    mk_op *g = op(&B, MK_OP_LIST_GATHER, 1, "ls", s->outputs[0], "indices", ci(&B, 3, gidx), NULL);
    mk_op *n = op(&B, MK_OP_LIST_LENGTH, 1, "ls", s->outputs[0], NULL);
    REQUIRE(r1 && g && n);
    CHECK(!g->outputs[0]->type.is_list && g->outputs[0]->type.rank == 2 &&
          g->outputs[0]->type.dims[0] == 3);
    mk_value *outs[4] = {r0->outputs[0], r1->outputs[0], g->outputs[0], n->outputs[0]};
    mk_tensor_list res = {0};
    REQUIRE(run_outs(&B, 4, outs, &res) == MK_OK);
    static const float z[2] = {0, 0}, g3[6] = {2, 4, -1, -2, 0, 0}, five[1] = {5};
    expect(tc, &res, 0, 2, z, 0, "initial read");
    expect(tc, &res, 1, 2, a, 0, "read after write");
    expect(tc, &res, 2, 6, g3, 0, "gather");
    expect(tc, &res, 3, 1, five, 0, "length");
    mk_tensor_list_free(&res);

    /* the package keeps the list types: saved, read back, same results */
    char path[1024];
    snprintf(path, sizeof path, "%s/lists.mlpackage", mk_test_tmpdir());
    REQUIRE(mk_program_save(B.p, path, MK_TARGET_DEFAULT, &B.e) == MK_OK);
    mk_program *q = NULL;
    REQUIRE(mk_program_load(path, NULL, &q, &B.e) == MK_OK);
    int lists = 0;
    MK_FOR_OPS(mk_ir_main(q)->block, o)
    for (int i = 0; i < o->n_outputs; i++) lists += o->outputs[i]->type.is_list;
    CHECK_EQ_INT(lists, 4); /* make_list, the 2 writes and the scatter */
    mk_run_options ro = {0, 1, 0};
    CHECK(mk_program_verify(q, &B.e) == MK_OK);
    REQUIRE(mk_run(q, &ro, &B.ins, &res, &B.e) == MK_OK);
    expect(tc, &res, 2, 6, g3, 0, "gather after round trip");
    mk_tensor_list_free(&res);
    /* allocation failure at every call of the list package's read, write and run: a clean
     * MK_ENOMEM each time (ASan: no leak), then success */
    int clean = 1;
    long at;
    for (at = 1; at < 100000; at++) {
        mk_failing_alloc fa;
        mk_failing_alloc_init(&fa, at);
        mk_err e = {0};
        mk_program *r = NULL;
        mk_status st = mk_program_load(path, &fa.base, &r, &e);
        if (st == MK_OK) {
            mk_program_free(r);
            break;
        }
        clean &= st == MK_ENOMEM && !r;
    }
    CHECK(clean && at > 10 && at < 100000);
    char out[1024];
    snprintf(out, sizeof out, "%s/lists_oom.mlpackage", mk_test_tmpdir());
    const mk_allocator *orig = q->alloc;
    for (at = 1; at < 100000; at++) {
        mk_failing_alloc fa;
        mk_failing_alloc_init(&fa, at);
        q->alloc = &fa.base;
        mk_err e = {0};
        mk_status st = mk_program_save(q, out, MK_TARGET_DEFAULT, &e);
        q->alloc = orig;
        if (st == MK_OK) break;
        clean &= st == MK_ENOMEM && !mk_path_exists(out);
    }
    CHECK(clean && at < 100000);
    mk_program_free(q);
    b_free(&B);

    /* reading past the end fails in one line */
    b_init(&B, 15);
    ml = op(&B, MK_OP_MAKE_LIST, 1, "init_length", cis(&B, 2), "elem_shape", cis(&B, 2), NULL);
    r0 = ml ? op(&B, MK_OP_LIST_READ, 1, "ls", ml->outputs[0], "index", cis(&B, 2), NULL) : NULL;
    REQUIRE(r0);
    CHECK(run_outs(&B, 1, r0->outputs, &res) != MK_OK);
    CHECK(strstr(B.e.msg, "outside a list of 2") != NULL && !strchr(B.e.msg, '\n'));
    mk_tensor_list_free(&res);
    /* a list feeds only list ops, while_loop and identity */
    mk_op *bad = op(&B, MK_OP_IDENTITY, 1, "x", ml->outputs[0], NULL);
    REQUIRE(bad);
    mk_op *add = mk_ir_op_new(B.p, MK_OP_ADD, "add_list");
    mk_ir_op_add_input(B.p, add, "x", ml->outputs[0]);
    mk_ir_op_add_input(B.p, add, "y", cfs(&B, 1));
    mk_ir_op_add_output(B.p, add, NULL, &ml->outputs[0]->type);
    mk_ir_block_append(B.b, add);
    mk_ir_block_set_outputs(B.p, B.b, 1, r0->outputs);
    memset(&B.e, 0, sizeof B.e);
    CHECK(mk_ir_verify(B.p, &B.e) != MK_OK);
    CHECK_MSG(strstr(B.e.msg, "input 'x' is a list") != NULL, "message: %s", B.e.msg);
    mk_ir_unlink(add);
    /* a list is no model output */
    mk_ir_block_set_outputs(B.p, B.b, 1, ml->outputs);
    memset(&B.e, 0, sizeof B.e);
    CHECK(mk_ir_verify(B.p, &B.e) != MK_OK);
    CHECK_MSG(strstr(B.e.msg, "is a list") != NULL, "message: %s", B.e.msg);
    b_free(&B);
}

/* coremltools' while test: a loop appends update * i at index i for i < num_iters (3); the
 * list (init length 1) grows to 3; list_length feeds range_1d and list_gather. */
TEST(opsem_list_grows_in_while_loop)
{
    static const float upd[2] = {1, 2}, iters[1] = {3};
    static const int64_t ed[1] = {2}, one[1] = {1};
    bld B;
    b_init(&B, 15);
    mk_value *vn = b_input(&B, "num_iters", 1, one, iters), *vu = b_input(&B, "update", 1, ed, upd);
    mk_op *ml =
        op(&B, MK_OP_MAKE_LIST, 1, "init_length", cis(&B, 1), "elem_shape", cis(&B, 2), NULL);
    REQUIRE(ml);
    mk_value *i0 = cis(&B, 0);
    mk_op *w = mk_ir_op_new(B.p, MK_OP_WHILE_LOOP, "loop");
    mk_value *init[4] = {i0, vn, ml->outputs[0], vu};
    for (int k = 0; k < 4; k++) mk_ir_op_add_input(B.p, w, "loop_vars", init[k]);
    mk_block *top = B.b, *blk[2];
    mk_value *bi[2][4];
    static const char *names[2][4] = {{"ci", "cn", "cl", "cu"}, {"bi", "bn", "bl", "bu"}};
    for (int k = 0; k < 2; k++) {
        blk[k] = mk_ir_block_new(B.p, B.f, w);
        for (int j = 0; j < 4; j++)
            bi[k][j] = mk_ir_block_add_input(B.p, blk[k], names[k][j], &init[j]->type);
    }
    B.b = blk[0];
    mk_op *fi = op(&B, MK_OP_CAST, 1, "x", bi[0][0], "dtype", cs(&B, "fp32"), NULL);
    mk_op *lt = fi ? op(&B, MK_OP_LESS, 1, "x", fi->outputs[0], "y", bi[0][1], NULL) : NULL;
    mk_op *sq = lt ? op(&B, MK_OP_SQUEEZE, 1, "x", lt->outputs[0], NULL) : NULL;
    REQUIRE(sq);
    mk_ir_block_set_outputs(B.p, blk[0], 1, sq->outputs);
    B.b = blk[1];
    mk_op *fy = op(&B, MK_OP_CAST, 1, "x", bi[1][0], "dtype", cs(&B, "fp32"), NULL);
    mk_op *mu = fy ? op(&B, MK_OP_MUL, 1, "x", bi[1][3], "y", fy->outputs[0], NULL) : NULL;
    mk_op *lw = mu ? op(&B, MK_OP_LIST_WRITE, 1, "ls", bi[1][2], "index", bi[1][0], "value",
                        mu->outputs[0], NULL)
                   : NULL;
    mk_op *inc = op(&B, MK_OP_ADD, 1, "x", bi[1][0], "y", cis(&B, 1), NULL);
    REQUIRE(lw && inc);
    mk_value *bo[4] = {inc->outputs[0], bi[1][1], lw->outputs[0], bi[1][3]};
    mk_ir_block_set_outputs(B.p, blk[1], 4, bo);
    B.b = top;
    mk_ir_op_add_block(B.p, w, blk[0]);
    mk_ir_op_add_block(B.p, w, blk[1]);
    mk_type none = mk_type_scalar(MK_DT_FP32);
    for (int k = 0; k < 4; k++) mk_ir_op_add_output(B.p, w, NULL, &none);
    mk_ir_block_append(B.b, w);
    REQUIRE(mk_ir_infer_op(w, &B.e) == MK_OK);
    CHECK(w->outputs[2]->type.is_list && w->outputs[2]->type.dims[0] == MK_DIM_UNKNOWN);
    mk_op *len = op(&B, MK_OP_LIST_LENGTH, 1, "ls", w->outputs[2], NULL);
    mk_op *rg = len ? op(&B, MK_OP_RANGE_1D, 1, "start", cis(&B, 0), "end", len->outputs[0], "step",
                         cis(&B, 1), NULL)
                    : NULL;
    mk_op *g =
        rg ? op(&B, MK_OP_LIST_GATHER, 1, "ls", w->outputs[2], "indices", rg->outputs[0], NULL)
           : NULL;
    REQUIRE(g);
    mk_tensor_list res = {0};
    REQUIRE(run_outs(&B, 1, g->outputs, &res) == MK_OK);
    static const float want[6] = {0, 0, 1, 2, 2, 4};
    expect(tc, &res, 0, 6, want, 0, "grown list");
    mk_tensor_list_free(&res);
    b_free(&B);
}

/* make_list with a symbolic element dim (a string in elem_shape) and init_length 0: the list
 * holds no data until the first write gives its elements a shape. */
TEST(opsem_list_symbolic_element_shape)
{
    static const float v[3] = {4, 5, 6};
    static const int64_t vd[1] = {3};
    bld B;
    b_init(&B, 15);
    mk_value *x = b_input(&B, "v", 1, vd, v);
    mk_op *ml =
        op(&B, MK_OP_MAKE_LIST, 1, "init_length", cis(&B, 0), "elem_shape", cs(&B, "is0"), NULL);
    REQUIRE(ml);
    CHECK(ml->outputs[0]->type.is_list && ml->outputs[0]->type.dims[0] == 0 &&
          ml->outputs[0]->type.dims[1] == MK_DIM_UNKNOWN);
    mk_op *w =
        op(&B, MK_OP_LIST_WRITE, 1, "ls", ml->outputs[0], "index", cis(&B, 1), "value", x, NULL);
    REQUIRE(w);
    CHECK_EQ_INT(w->outputs[0]->type.dims[1], 3); /* element shape from the value */
    mk_op *g = op(&B, MK_OP_LIST_GATHER, 1, "ls", w->outputs[0], "indices",
                  ci(&B, 2, (const int32_t[]){1, 0}), NULL);
    REQUIRE(g);
    mk_tensor_list res = {0};
    REQUIRE(run_outs(&B, 1, g->outputs, &res) == MK_OK);
    static const float want[6] = {4, 5, 6, 0, 0, 0};
    expect(tc, &res, 0, 6, want, 0, "symbolic list");
    mk_tensor_list_free(&res);
    b_free(&B);
}
