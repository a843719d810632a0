/* ONNX detection ops (src/onnx/lower_detect.c): NonMaxSuppression lowered to MIL
 * non_maximum_suppression + masking, run in the interpreter on random boxes and scores with
 * ties, against the ONNX definition written here (per batch and class, score-sorted with the
 * lower index first on ties, IoU strictly greater suppresses, score strictly greater than
 * the threshold kept), at iOS15 and iOS18. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "api/api_int.h"
#include "onnx/onnx_int.h"
#include "test.h"
#include "test_onnx_build.h"
#include "test_onnx_run.h"

enum { NB = 2, NC = 3, NS = 9 };

static uint32_t rng_next(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static double rnd(uint32_t *s)
{
    return (double)rng_next(s) / (double)(1u << 24);
}

/* Corners (y0, x0, y1, x1) of box i of batch b in either ONNX form. */
static void corners(const float *bx, int cpb, int b, int i, double q[4])
{
    const float *p = bx + ((size_t)b * NS + (size_t)i) * 4;
    if (cpb) {
        q[0] = p[1] - p[3] / 2.0, q[2] = p[1] + p[3] / 2.0;
        q[1] = p[0] - p[2] / 2.0, q[3] = p[0] + p[2] / 2.0;
    } else {
        q[0] = fmin(p[0], p[2]), q[2] = fmax(p[0], p[2]);
        q[1] = fmin(p[1], p[3]), q[3] = fmax(p[1], p[3]);
    }
}

static double ref_iou(const double *a, const double *b)
{
    double aa = (a[2] - a[0]) * (a[3] - a[1]), ab = (b[2] - b[0]) * (b[3] - b[1]);
    if (aa <= 0 || ab <= 0) return 0;
    double ih = fmin(a[2], b[2]) - fmax(a[0], b[0]), iw = fmin(a[3], b[3]) - fmax(a[1], b[1]);
    double in = (ih > 0 ? ih : 0) * (iw > 0 ? iw : 0);
    return in / (aa + ab - in);
}

/* The ONNX selected_indices rows (as int32) into sel; returns the row count. */
static int ref_nms(const float *bx, const float *sc, int cpb, int64_t max_out, float iou_t,
                   int has_s, float s_t, int32_t *sel)
{
    int n = 0;
    for (int b = 0; b < NB; b++)
        for (int c = 0; c < NC; c++) {
            const float *s = sc + ((size_t)b * NC + (size_t)c) * NS;
            int order[NS], nc = 0, kept[NS], nk = 0;
            for (int i = 0; i < NS; i++)
                if (!has_s || s[i] > s_t) order[nc++] = i;
            for (int i = 1; i < nc; i++) /* insertion sort: stable, so ties keep index order */
                for (int j = i; j > 0 && s[order[j]] > s[order[j - 1]]; j--) {
                    int t = order[j];
                    order[j] = order[j - 1], order[j - 1] = t;
                }
            for (int k = 0; k < nc && nk < max_out; k++) {
                double a[4], q[4];
                int ok = 1;
                corners(bx, cpb, b, order[k], a);
                for (int j = 0; j < nk && ok; j++) {
                    corners(bx, cpb, b, kept[j], q);
                    ok = !(ref_iou(a, q) > iou_t);
                }
                if (ok) kept[nk++] = order[k];
            }
            for (int j = 0; j < nk; j++) {
                sel[3 * n] = b, sel[3 * n + 1] = c, sel[3 * n + 2] = kept[j];
                n++;
            }
        }
    return n;
}

static void nms_case(mk_test_ctx *tc, uint32_t seed, int cpb, int64_t max_out, int has_s,
                     mk_target target)
{
    float bx[NB * NS * 4], sc[NB * NC * NS];
    const float iou_t = 0.4f, s_t = 0.45f;
    for (int i = 0; i < NB * NS; i++) {
        double y = rnd(&seed) * 4, x = rnd(&seed) * 4, h = 0.5 + rnd(&seed) * 2,
               w = 0.5 + rnd(&seed) * 2;
        float *p = bx + 4 * i;
        if (cpb) {
            p[0] = (float)x, p[1] = (float)y, p[2] = (float)w, p[3] = (float)h;
        } else if (rng_next(&seed) & 1) { /* corners given either way round */
            p[0] = (float)(y + h), p[1] = (float)x, p[2] = (float)y, p[3] = (float)(x + w);
        } else {
            p[0] = (float)y, p[1] = (float)x, p[2] = (float)(y + h), p[3] = (float)(x + w);
        }
        if (i % NS == 4) memcpy(p, p - 4, 16); /* a duplicate box */
    }
    for (int i = 0; i < NB * NC * NS; i++) sc[i] = (float)(rng_next(&seed) % 8) / 8.0f; /* ties */
    for (int i = 0; i < NS; i++) sc[NS + i] = 0.125f * (float)(i % 3); /* a class none passes */
    int32_t want[NB * NC * NS * 3], got[NB * NC * NS * 3];
    int nw = ref_nms(bx, sc, cpb, max_out, iou_t, has_s, s_t, want);

    ob b;
    ob_init(&b, 11);
    int64_t bd[3] = {NB, NS, 4}, sd[3] = {NB, NC, NS}, one = 1;
    ob_input(&b, "boxes", 1, 3, bd);
    ob_input(&b, "scores", 1, 3, sd);
    ob_init_i(&b, "mo", 1, &one, &max_out);
    ob_init_f(&b, "iou", 1, &one, &iou_t);
    ob_init_f(&b, "st", 1, &one, &s_t);
    Onnx__NodeProto *n = ob_node(&b, "NonMaxSuppression",
                                 has_s ? "boxes,scores,mo,iou,st" : "boxes,scores,mo,iou", "sel");
    ob_attr_i(&b, n, "center_point_box", cpb);
    ob_output(&b, "sel");
    mk_convert_options o;
    memset(&o, 0, sizeof o);
    o.target = target;
    mk_program *p = imp(tc, &b, &o);
    if (p) {
        CHECK_EQ_INT(ob_count(p, MK_OP_NON_MAXIMUM_SUPPRESSION), 1);
        const void *d[2] = {bx, sc};
        if (run1(tc, p, 2, d, got, (size_t)nw * 12))
            for (int i = 0; i < nw * 3; i++)
                CHECK_MSG(got[i] == want[i],
                          "seed %u cpb %d max %lld thr %d: row %d col %d = %d, "
                          "want %d",
                          seed, cpb, (long long)max_out, has_s, i / 3, i % 3, got[i], want[i]);
    }
    mk_ir_program_free(p);
    ob_free(&b);
}

TEST(onnx_nms_matches_the_onnx_definition_on_random_boxes)
{
    static const mk_target targets[2] = {MK_TARGET_DEFAULT, MK_TARGET_IOS18};
    for (uint32_t seed = 1; seed <= 6; seed++)
        for (int t = 0; t < 2; t++) {
            nms_case(tc, seed, 0, 3, 1, targets[t]);
            nms_case(tc, seed, 1, 3, 1, targets[t]);
            nms_case(tc, seed, 0, 100, 0, targets[t]);
            nms_case(tc, seed, 1, 1, 0, targets[t]);
        }
}

/* Run-time thresholds cannot become MIL's constant parameters: refused with the reason. */
TEST(onnx_nms_refuses_run_time_thresholds)
{
    ob b;
    ob_init(&b, 11);
    int64_t bd[3] = {1, 4, 4}, sd[3] = {1, 1, 4}, one = 1, mo = 2;
    ob_input(&b, "boxes", 1, 3, bd);
    ob_input(&b, "scores", 1, 3, sd);
    ob_input(&b, "iou", 1, 1, &one);
    ob_init_i(&b, "mo", 1, &one, &mo);
    ob_node(&b, "NonMaxSuppression", "boxes,scores,mo,iou", "sel");
    ob_output(&b, "sel");
    mk_program *p = NULL;
    mk_err e;
    CHECK(ob_import(&b, NULL, &p, &e) != MK_OK);
    CHECK_MSG(strstr(e.msg, "must be constants") != NULL, "message: %s", e.msg);
    mk_ir_program_free(p);
    ob_free(&b);
}

/* ---- RoiAlign ---- */

/* ONNX's bilinear read of one plane: 0 beyond one pixel outside, clamped to the edge inside. */
static double roi_read(const float *pl, int H, int W, double y, double x)
{
    if (y < -1.0 || y > H || x < -1.0 || x > W) return 0;
    if (y <= 0) y = 0;
    if (x <= 0) x = 0;
    int y0 = (int)y, x0 = (int)x, y1, x1;
    if (y0 >= H - 1)
        y1 = y0 = H - 1, y = y0;
    else
        y1 = y0 + 1;
    if (x0 >= W - 1)
        x1 = x0 = W - 1, x = x0;
    else
        x1 = x0 + 1;
    double ly = y - y0, lx = x - x0;
    return (1 - ly) * (1 - lx) * pl[y0 * W + x0] + (1 - ly) * lx * pl[y0 * W + x1] +
           ly * (1 - lx) * pl[y1 * W + x0] + ly * lx * pl[y1 * W + x1];
}

enum { RB = 2, RC = 2, RH = 7, RW = 6, RR = 4, ROH = 3, ROW = 2 };

static void roi_ref(const float *X, const float *rois, const int64_t *bidx, int hp, int sr,
                    float scale, float *Y)
{
    for (int r = 0; r < RR; r++) {
        double off = hp ? 0.5 : 0;
        double x0 = rois[4 * r] * scale - off, y0 = rois[4 * r + 1] * scale - off;
        double rw = rois[4 * r + 2] * scale - off - x0, rh = rois[4 * r + 3] * scale - off - y0;
        if (!hp) rw = fmax(rw, 1), rh = fmax(rh, 1);
        double bh = rh / ROH, bw = rw / ROW;
        int gh = sr > 0 ? sr : (int)ceil(rh / ROH), gw = sr > 0 ? sr : (int)ceil(rw / ROW);
        for (int ch = 0; ch < RC; ch++) {
            const float *pl = X + ((size_t)bidx[r] * RC + (size_t)ch) * RH * RW;
            for (int i = 0; i < ROH; i++)
                for (int j = 0; j < ROW; j++) {
                    double acc = 0;
                    for (int a = 0; a < gh; a++)
                        for (int b = 0; b < gw; b++)
                            acc += roi_read(pl, RH, RW, y0 + i * bh + (a + 0.5) * bh / gh,
                                            x0 + j * bw + (b + 0.5) * bw / gw);
                    Y[((r * RC + ch) * ROH + i) * ROW + j] = (float)(acc / (gh * gw));
                }
        }
    }
}

static void roi_case(mk_test_ctx *tc, uint32_t seed, int batch, int hp, int sr, int const_rois,
                     mk_target target)
{
    float X[RB * RC * RH * RW], rois[RR * 4], want[RR * RC * ROH * ROW], got[RR * RC * ROH * ROW];
    int64_t bidx[RR];
    const float scale = 0.5f;
    for (size_t i = 0; i < sizeof X / sizeof *X; i++) X[i] = (float)(rnd(&seed) * 2 - 1);
    for (int r = 0; r < RR; r++) { /* image coordinates, some reaching past the edges */
        double x = rnd(&seed) * 16 - 3, y = rnd(&seed) * 18 - 3;
        double w = const_rois ? 4 : rnd(&seed) * 10, h = const_rois ? 6 : rnd(&seed) * 10;
        rois[4 * r] = (float)x, rois[4 * r + 1] = (float)y;
        rois[4 * r + 2] = (float)(x + w), rois[4 * r + 3] = (float)(y + h);
        bidx[r] = batch > 1 ? (int64_t)(rng_next(&seed) % (uint32_t)batch) : 0;
    }
    roi_ref(X, rois, bidx, hp, sr, scale, want);
    ob b;
    ob_init(&b, 16);
    int64_t xd[4] = {batch, RC, RH, RW}, rd[2] = {RR, 4}, bd = RR;
    ob_input(&b, "X", 1, 4, xd);
    if (const_rois) {
        ob_init_f(&b, "rois", 2, rd, rois);
        ob_init_i(&b, "bi", 1, &bd, bidx);
    } else {
        ob_input(&b, "rois", 1, 2, rd);
        ob_init_i(&b, "bi", 1, &bd, bidx);
    }
    Onnx__NodeProto *n = ob_node(&b, "RoiAlign", "X,rois,bi", "Y");
    ob_attr_s(&b, n, "coordinate_transformation_mode", hp ? "half_pixel" : "output_half_pixel");
    ob_attr_i(&b, n, "output_height", ROH);
    ob_attr_i(&b, n, "output_width", ROW);
    ob_attr_i(&b, n, "sampling_ratio", sr);
    ob_attr_f(&b, n, "spatial_scale", scale);
    ob_output(&b, "Y");
    mk_convert_options o;
    memset(&o, 0, sizeof o);
    o.target = target;
    mk_program *p = imp(tc, &b, &o);
    if (p) {
        CHECK_EQ_INT(ob_count(p, MK_OP_CROP_RESIZE), 1);
        const void *d[2] = {X, rois};
        if (run1(tc, p, const_rois ? 1 : 2, d, got, sizeof got))
            for (size_t i = 0; i < sizeof got / sizeof *got; i++)
                CHECK_MSG(fabs(got[i] - want[i]) <= 1e-5 + 1e-4 * fabs(want[i]),
                          "seed %u batch %d hp %d sr %d: Y[%zu] = %g, want %g", seed, batch, hp, sr,
                          i, got[i], want[i]);
    }
    mk_ir_program_free(p);
    ob_free(&b);
}

TEST(onnx_roi_align_matches_the_onnx_definition_on_random_rois)
{
    for (uint32_t seed = 1; seed <= 4; seed++)
        for (int hp = 0; hp < 2; hp++) {
            roi_case(tc, seed, 1, hp, 2, 0, MK_TARGET_DEFAULT);
            roi_case(tc, seed, 1, hp, 1, 0, MK_TARGET_DEFAULT);
            roi_case(tc, seed, 2, hp, 3, 0, MK_TARGET_IOS18);
            roi_case(tc, seed, 2, hp, 0, 1, MK_TARGET_IOS18); /* adaptive grid, constant rois */
        }
}

/* Forms without a MIL equivalent are refused with the reason. */
TEST(onnx_roi_align_refuses_max_mode_and_adaptive_run_time_grids)
{
    for (int k = 0; k < 3; k++) {
        ob b;
        ob_init(&b, 16);
        int64_t xd[4] = {k == 2 ? 2 : 1, 1, 4, 4}, rd[2] = {2, 4}, bd = 2, bv[2] = {0, 0};
        ob_input(&b, "X", 1, 4, xd);
        ob_input(&b, "rois", 1, 2, rd);
        ob_init_i(&b, "bi", 1, &bd, bv);
        Onnx__NodeProto *n = ob_node(&b, "RoiAlign", "X,rois,bi", "Y");
        if (k == 0) ob_attr_s(&b, n, "mode", "max");
        if (k != 1) ob_attr_i(&b, n, "sampling_ratio", 2);
        ob_output(&b, "Y");
        mk_program *p = NULL;
        mk_err e;
        CHECK(ob_import(&b, NULL, &p, &e) != MK_OK);
        static const char *const why[3] = {"mode max", "adaptive", "needs iOS17"};
        CHECK_MSG(strstr(e.msg, why[k]) != NULL, "case %d: %s", k, e.msg);
        mk_ir_program_free(p);
        ob_free(&b);
    }
}

/* fp16 calibration without -i draws RoiAlign's run-time batch_indices within the image batch
 * (it used to draw any int and the seeded run stopped at "image index outside batch"). */
TEST(onnx_roi_align_seeded_batch_indices_stay_in_the_batch)
{
    ob b;
    ob_init(&b, 16);
    int64_t xd[4] = {3, RC, RH, RW}, rd[2] = {RR, 4}, bd = RR;
    ob_input(&b, "X", 1, 4, xd);
    ob_input(&b, "rois", 1, 2, rd);
    ob_input(&b, "bi", 7, 1, &bd);
    Onnx__NodeProto *n = ob_node(&b, "RoiAlign", "X,rois,bi", "Y");
    ob_attr_i(&b, n, "output_height", ROH);
    ob_attr_i(&b, n, "output_width", ROW);
    ob_attr_i(&b, n, "sampling_ratio", 2);
    ob_output(&b, "Y");
    mk_convert_options o;
    memset(&o, 0, sizeof o);
    o.target = MK_TARGET_IOS18;
    mk_program *p = imp(tc, &b, &o);
    mk_tensor_list ins[3] = {{0}};
    mk_err e = {0};
    if (p && mk_calib_seeded(p, 3, ins, &e) == MK_OK) {
        int seen = 0;
        for (int r = 0; r < 3; r++)
            for (int i = 0; i < ins[r].n; i++) {
                const mk_tensor *t = &ins[r].items[i];
                if (strcmp(t->name, "bi") != 0) continue;
                CHECK_EQ_INT(t->dtype, 23);
                for (int64_t k = 0; k < t->dims[0]; k++) {
                    int32_t v = ((const int32_t *)t->data)[k];
                    CHECK_MSG(v >= 0 && v < 3, "seeded run %d: bi[%lld] = %d", r, (long long)k, v);
                    seen |= 1 << (v & 3);
                }
                mk_session *s = NULL;
                mk_tensor_list out = {0};
                mk_err re = {0};
                mk_status st = mk_session_new(p, NULL, &s, &re);
                if (!st) st = mk_session_run(s, &ins[r], &out, NULL, &re);
                CHECK_MSG(st == MK_OK, "seeded run %d: %s", r, re.msg);
                mk_tensor_list_free(&out);
                mk_session_free(s);
            }
        CHECK_MSG(seen > 1, "every seeded batch index is the same (%d)", seen);
    } else if (p) {
        CHECK_MSG(0, "mk_calib_seeded: %s", e.msg);
    }
    for (int r = 0; r < 3; r++) mk_tensor_list_free(&ins[r]);
    mk_ir_program_free(p);
    ob_free(&b);
}
