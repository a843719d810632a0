/* Lowering of ONNX detection ops. NonMaxSuppression: one MIL non_maximum_suppression over
 * B*C single-class problems (boxes tiled per class), kept entries masked by index >= 0 and
 * score > score_threshold, then the (batch, class, box) rows of the mask picked by non_zero +
 * gather, so selected_indices has ONNX's run-time length and order. Thresholds and the
 * per-class limit must be constants (MIL takes them as constants). */
#include <float.h>
#include <math.h>
#include <string.h>

#include "onnx_int.h"

/* A constant scalar (any rank, one element) input; 0 when absent, 1 when read, -1 when it is
 * not a one-element constant. */
static int const_scalar(const ox_val *v, double *out)
{
    if (!v) return 0;
    if (!v->data || mk_onnx_numel(&v->type) != 1) return -1;
    *out = v->type.dtype == MK_DT_FP32 ? mk_onnx_cget_f(v, 0) : (double)mk_onnx_cget_i(v, 0);
    return 1;
}

static mk_value *slice3(ox_ctx *c, mk_value *x, int32_t b2, int32_t s2)
{
    int32_t b[3] = {0, 0, b2};
    int32_t s[3] = {(int32_t)x->type.dims[0], (int32_t)x->type.dims[1], s2};
    mk_op *op = mk_onnx_op(c, MK_OP_SLICE_BY_SIZE, "nms_box_part");
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_i32s(c, op, "begin", 3, b) ||
        !mk_onnx_in_i32s(c, op, "size", 3, s))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

/* Corner boxes [y1, x1, y2, x2] (either diagonal) as [yc, xc, h, w]: MIL's center form with
 * x and y swapped, which leaves every IoU unchanged. */
static mk_value *corners_to_center(ox_ctx *c, mk_value *b)
{
    mk_value *p1 = slice3(c, b, 0, 2), *p2 = p1 ? slice3(c, b, 2, 2) : NULL;
    float half = 0.5f;
    mk_value *h = p2 ? mk_ir_const_f32(c->p, c->blk, "nms_half", 1, &half, 1) : NULL;
    mk_value *sum = h ? mk_onnx_binary(c, MK_OP_ADD, p1, p2, NULL) : NULL;
    mk_value *ctr = sum ? mk_onnx_binary(c, MK_OP_MUL, sum, h, NULL) : NULL;
    mk_value *d = ctr ? mk_onnx_binary(c, MK_OP_SUB, p2, p1, NULL) : NULL;
    mk_value *sz = d ? mk_onnx_unary(c, MK_OP_ABS, d, NULL) : NULL;
    mk_op *cc = sz ? mk_onnx_op(c, MK_OP_CONCAT, "nms_center_boxes") : NULL;
    if (!cc || !mk_onnx_in_mil(c, cc, "values", ctr) || !mk_onnx_in_mil(c, cc, "values", sz) ||
        !mk_onnx_in_i32(c, cc, "axis", 2))
        return NULL;
    return mk_onnx_out(c, cc, NULL);
}

/* Empty selected_indices [0, 3] (no box may be kept). */
static mk_status nms_empty(ox_ctx *c, ox_val *o)
{
    int64_t d[2] = {0, 3};
    mk_type t = mk_type_make(MK_DT_INT64, 2, d);
    return mk_onnx_set_const(c, o, &t, NULL);
}

OX_LOWER(mk_onnx_lower_nms)
{
    (void)n_out;
    int64_t cpb = mk_onnx_attr_i(n, "center_point_box", 0);
    if (cpb != 0 && cpb != 1)
        return mk_err_set(c->err, MK_EINVAL, "%s: node %s: center_point_box must be 0 or 1",
                          c->file, oname(n, 0));
    double mo = 0, iou = 0, sthr = 0;
    int has_s = 0;
    if (const_scalar(n_in > 2 ? in[2] : NULL, &mo) < 0 ||
        const_scalar(n_in > 3 ? in[3] : NULL, &iou) < 0 ||
        (has_s = const_scalar(n_in > 4 ? in[4] : NULL, &sthr)) < 0)
        return mk_onnx_unsupported(c, n,
                                   "max_output_boxes_per_class, iou_threshold and score_threshold "
                                   "must be constants (MIL takes them as constants)");
    mk_value *bx = mil(c, in[0]), *sc = bx ? mil(c, in[1]) : NULL;
    if (!sc) return fail(c);
    if (bx->type.rank != 3 || sc->type.rank != 3 || bx->type.dims[2] != 4)
        return mk_err_set(c->err, MK_EINVAL,
                          "%s: node %s: boxes must be [B, S, 4] and scores [B, C, S]", c->file,
                          oname(n, 0));
    int64_t B = bx->type.dims[0], S = bx->type.dims[1], C = sc->type.dims[1];
    if (B < 0 || S < 0 || C < 0 || sc->type.dims[0] < 0 || sc->type.dims[2] < 0)
        return mk_onnx_unsupported(c, n, "boxes and scores need static shapes");
    if (sc->type.dims[0] != B || sc->type.dims[2] != S)
        return mk_err_set(c->err, MK_EINVAL,
                          "%s: node %s: boxes %lldx%lld and scores %lldx?x%lld"
                          " disagree",
                          c->file, oname(n, 0), (long long)B, (long long)S,
                          (long long)sc->type.dims[0], (long long)sc->type.dims[2]);
    if (bx->type.dtype != MK_DT_FP32 || sc->type.dtype != MK_DT_FP32)
        return mk_onnx_unsupported(c, n, "boxes and scores must be float");
    size_t nbc;
    if (!mk_mul_size((size_t)B, (size_t)C, &nbc) || nbc > INT32_MAX || S > INT32_MAX)
        return mk_onnx_unsupported(c, n, "too many boxes or classes");
    if (mo <= 0 || S == 0 || nbc == 0) return nms_empty(c, out[0]);
    int64_t mb = mo < (double)S ? (int64_t)mo : S, nn = (int64_t)nbc;
    int ios17 = mk_ir_ios_for_spec(c->p->spec_version) >= 17;

    /* boxes [B, S, 4] in MIL center form, tiled to [B*C, S, 4] ([B*C, 4, S] from iOS17) */
    mk_value *b = cpb ? bx : corners_to_center(c, bx);
    if (b && C > 1) {
        int64_t d4[4] = {B, 1, S, 4};
        int32_t reps[4] = {1, (int32_t)C, 1, 1};
        mk_value *e = mk_onnx_reshape(c, b, 4, d4, NULL);
        mk_op *t = e ? mk_onnx_op(c, MK_OP_TILE, "nms_boxes_per_class") : NULL;
        b = t && mk_onnx_in_mil(c, t, "x", e) && mk_onnx_in_i32s(c, t, "reps", 4, reps)
                ? mk_onnx_out(c, t, NULL)
                : NULL;
    }
    int64_t d3[3] = {nn, S, 4};
    b = b ? mk_onnx_reshape(c, b, 3, d3, NULL) : NULL;
    static const int perm[3] = {0, 2, 1};
    if (b && ios17) b = mk_onnx_transpose(c, b, 3, perm, NULL);
    /* scores [B, C, S] as [B*C, S, 1] ([B*C, 1, S] from iOS17) */
    int64_t s3[3] = {nn, ios17 ? 1 : S, ios17 ? S : 1};
    mk_value *s = b ? mk_onnx_reshape(c, sc, 3, s3, NULL) : NULL;
    mk_op *op = s ? mk_onnx_op(c, MK_OP_NON_MAXIMUM_SUPPRESSION, "nms") : NULL;
    if (!op || !mk_onnx_in_mil(c, op, "boxes", b) || !mk_onnx_in_mil(c, op, "scores", s) ||
        !mk_onnx_in_f32(c, op, "iou_threshold", (float)iou) ||
        (!ios17 && !mk_onnx_in_f32(c, op, "score_threshold", has_s ? (float)sthr : -FLT_MAX)) ||
        !mk_onnx_in_i32(c, op, "max_boxes", (int32_t)mb) ||
        !mk_onnx_in_bool(c, op, "per_class_suppression", 0))
        return fail(c);
    mk_value *kb = mk_onnx_out(c, op, NULL), *ks = kb ? mk_onnx_out(c, op, NULL) : NULL;
    mk_value *ki = ks ? mk_onnx_out(c, op, NULL) : NULL;
    if (!ki || (!ios17 && !mk_onnx_out(c, op, NULL))) return fail(c);

    /* kept entries: index >= 0 (padding is -1) and, with a threshold, score > threshold (Core
     * ML keeps the best box when none passes; ONNX keeps none) */
    int32_t zero = 0;
    mk_value *z = mk_ir_const_i32(c->p, c->blk, "nms_zero", 1, &zero, 1);
    mk_value *mask = z ? mk_onnx_binary(c, MK_OP_GREATER_EQUAL, ki, z, NULL) : NULL;
    if (mask && has_s) {
        int64_t d2[2] = {nn, mb};
        float tf = (float)sthr;
        mk_value *sv = mk_onnx_reshape(c, ks, 2, d2, NULL);
        mk_value *tv = sv ? mk_ir_const_f32(c->p, c->blk, "nms_score_threshold", 1, &tf, 1) : NULL;
        mk_value *ok = tv ? mk_onnx_binary(c, MK_OP_GREATER, sv, tv, NULL) : NULL;
        mask = ok ? mk_onnx_binary(c, MK_OP_LOGICAL_AND, mask, ok, NULL) : NULL;
    }
    /* rows (batch, class, box) of every slot, [B*C*mb, 3], picked where mask holds */
    size_t nslot;
    if (!mk_mul_size(nbc, (size_t)mb, &nslot) || nslot > INT32_MAX)
        return mk_onnx_unsupported(c, n, "too many output slots");
    int32_t *bi = mk_arena_array(c->p->arena, nslot, 2 * sizeof *bi);
    if (!mask || !bi) return fail(c);
    int32_t *ci = bi + nslot;
    for (size_t i = 0; i < nslot; i++) {
        size_t r = i / (size_t)mb;
        bi[i] = (int32_t)(r / (size_t)C);
        ci[i] = (int32_t)(r % (size_t)C);
    }
    int64_t d2[2] = {nn, mb};
    mk_type t2 = mk_type_make(MK_DT_INT32, 2, d2);
    mk_value *bv = mk_ir_const(c->p, c->blk, "nms_batch_index", &t2, bi, nslot * 4, 1);
    mk_value *cv = bv ? mk_ir_const(c->p, c->blk, "nms_class_index", &t2, ci, nslot * 4, 1) : NULL;
    if (!bv || !cv) return fail(c);
    mk_op *st = mk_onnx_op(c, MK_OP_STACK, "nms_rows");
    if (!st || !mk_onnx_in_mil(c, st, "values", bv) || !mk_onnx_in_mil(c, st, "values", cv) ||
        !mk_onnx_in_mil(c, st, "values", ki) || !mk_onnx_in_i32(c, st, "axis", 2))
        return fail(c);
    int64_t rd[2] = {(int64_t)nslot, 3}, md = (int64_t)nslot;
    mk_value *rows = mk_onnx_out(c, st, NULL);
    rows = rows ? mk_onnx_reshape(c, rows, 2, rd, NULL) : NULL;
    mk_value *mf = rows ? mk_onnx_reshape(c, mask, 1, &md, NULL) : NULL;
    mk_op *nz = mf ? mk_onnx_op(c, MK_OP_NON_ZERO, "nms_kept") : NULL;
    if (!nz || !mk_onnx_in_mil(c, nz, "x", mf)) return fail(c);
    mk_value *at = mk_onnx_out(c, nz, NULL);
    int32_t ax1 = 1;
    mk_op *sq = at ? mk_onnx_op(c, MK_OP_SQUEEZE, NULL) : NULL;
    if (!sq || !mk_onnx_in_mil(c, sq, "x", at) || !mk_onnx_in_i32s(c, sq, "axes", 1, &ax1))
        return fail(c);
    mk_value *pick = mk_onnx_out(c, sq, NULL);
    mk_op *g = pick ? mk_onnx_op(c, MK_OP_GATHER, oname(n, 0)) : NULL;
    if (!g || !mk_onnx_in_mil(c, g, "x", rows) || !mk_onnx_in_mil(c, g, "indices", pick) ||
        !mk_onnx_in_i32(c, g, "axis", 0))
        return fail(c);
    return done(c, out[0], mk_onnx_out(c, g, NULL));
}

/* A [N, 2] column pair of rois [N, 4] starting at column b. */
static mk_value *cols2(ox_ctx *c, mk_value *x, int32_t b)
{
    int32_t bg[2] = {0, b}, sz[2] = {(int32_t)x->type.dims[0], 2};
    mk_op *op = mk_onnx_op(c, MK_OP_SLICE_BY_SIZE, "roi_part");
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_i32s(c, op, "begin", 2, bg) ||
        !mk_onnx_in_i32s(c, op, "size", 2, sz))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

static mk_value *fscalar(ox_ctx *c, const char *name, float v)
{
    return mk_ir_const_f32(c->p, c->blk, name, 1, &v, 1);
}

/* The sampling grid of a RoiAlign node: sampling_ratio when positive, else the adaptive
 * ceil(roi size / output size) when the rois are constants and agree on it; 0 when neither. */
static int64_t roi_grid(const Onnx__NodeProto *n, const ox_val *rois, double scale, int hp,
                        int64_t oh, int64_t ow)
{
    int64_t sr = mk_onnx_attr_i(n, "sampling_ratio", 0), g = 0;
    if (sr > 0) return sr;
    if (!rois->data || rois->type.rank != 2) return 0;
    for (int64_t r = 0; r < rois->type.dims[0]; r++) {
        double w =
            (mk_onnx_cget_f(rois, (size_t)(4 * r + 2)) - mk_onnx_cget_f(rois, 4 * r)) * scale;
        double h = (mk_onnx_cget_f(rois, (size_t)(4 * r + 3)) -
                    mk_onnx_cget_f(rois, (size_t)(4 * r + 1))) *
                   scale;
        if (!hp) w = w > 1 ? w : 1, h = h > 1 ? h : 1;
        double gh = ceil(h / (double)oh), gw = ceil(w / (double)ow);
        if (gh != gw || (g && (int64_t)gh != g) || gh < 1 || gh > 64) return 0;
        g = (int64_t)gh;
    }
    return g;
}

/* RoiAlign (avg): x padded by one replicated pixel each side (ONNX's bilinear read clamps
 * samples within one pixel of the image to the edge and reads 0 beyond), crop_resize of
 * every roi to an (oh*g, ow*g) grid of the bin sample points (OFFSET_CORNERS: start + (j +
 * 0.5) * size / (oh*g)), then avg_pool g x g. */
OX_LOWER(mk_onnx_lower_roi_align)
{
    (void)n_in, (void)n_out;
    const char *mode = mk_onnx_attr_s(c, n, "mode", "avg");
    const char *ctm = mk_onnx_attr_s(c, n, "coordinate_transformation_mode",
                                     c->opset >= 16 ? "half_pixel" : "output_half_pixel");
    if (!mode || !ctm) return fail(c);
    if (strcmp(mode, "avg"))
        return mk_onnx_unsupported(c, n,
                                   "mode %s: only avg has a MIL form (crop_resize + "
                                   "avg_pool)",
                                   mode);
    int hp = !strcmp(ctm, "half_pixel");
    if (!hp && strcmp(ctm, "output_half_pixel"))
        return mk_err_set(c->err, MK_EINVAL, "%s: node %s: coordinate_transformation_mode %s",
                          c->file, oname(n, 0), ctm);
    int64_t oh = mk_onnx_attr_i(n, "output_height", 1), ow = mk_onnx_attr_i(n, "output_width", 1);
    float scale = mk_onnx_attr_f(n, "spatial_scale", 1.0f);
    mk_value *x = mil(c, in[0]), *r = x ? mil(c, in[1]) : NULL, *bi = r ? mil(c, in[2]) : NULL;
    if (!bi) return fail(c);
    if (oh < 1 || ow < 1 || oh > 4096 || ow > 4096)
        return mk_err_set(c->err, MK_EINVAL, "%s: node %s: output size %lldx%lld out of range",
                          c->file, oname(n, 0), (long long)oh, (long long)ow);
    if (x->type.rank != 4 || r->type.rank != 2 || r->type.dims[1] != 4 || bi->type.rank != 1)
        return mk_err_set(c->err, MK_EINVAL,
                          "%s: node %s: needs X [N, C, H, W], rois [R, 4] and batch_indices [R]",
                          c->file, oname(n, 0));
    if (x->type.dtype != MK_DT_FP32 || r->type.dtype != MK_DT_FP32)
        return mk_onnx_unsupported(c, n, "X and rois must be float");
    int64_t B = x->type.dims[0], R = r->type.dims[0];
    for (int i = 0; i < 4; i++)
        if (x->type.dims[i] < 0) return mk_onnx_unsupported(c, n, "X needs a static shape");
    if (R < 0) return mk_onnx_unsupported(c, n, "the roi count must be static");
    int64_t g = roi_grid(n, in[1], scale, hp, oh, ow);
    if (g < 1 || g > 64)
        return mk_onnx_unsupported(c, n,
                                   "sampling_ratio 0 (adaptive) with run-time rois or "
                                   "rois whose grids differ has no MIL form");
    int ios17 = mk_ir_ios_for_spec(c->p->spec_version) >= 17;
    if (!ios17 && B != 1)
        return mk_onnx_unsupported(c, n,
                                   "a batch of %lld images needs iOS17 (crop_resize "
                                   "box_indices); use --target ios17",
                                   (long long)B);
    /* boxes [x0, y0, x1, y1] in the padded image (CORNERS_WIDTH_FIRST) */
    mk_value *st = fscalar(c, "roi_scale", scale);
    mk_value *s = st ? mk_onnx_binary(c, MK_OP_MUL, r, st, NULL) : NULL;
    mk_value *p0 = s ? cols2(c, s, 0) : NULL, *p1 = p0 ? cols2(c, s, 2) : NULL;
    mk_value *sh = p1 ? fscalar(c, "roi_shift", hp ? 0.5f : -1.0f) : NULL;
    if (!sh) return fail(c);
    if (hp) { /* start and end - 0.5, + 1 for the padding */
        mk_value *one = fscalar(c, "roi_pad_shift", 1.0f);
        p0 = one ? mk_onnx_binary(c, MK_OP_SUB, p0, sh, NULL) : NULL;
        p1 = p0 ? mk_onnx_binary(c, MK_OP_SUB, p1, sh, NULL) : NULL;
        p0 = p1 ? mk_onnx_binary(c, MK_OP_ADD, p0, one, NULL) : NULL;
        p1 = p0 ? mk_onnx_binary(c, MK_OP_ADD, p1, one, NULL) : NULL;
    } else { /* size at least 1: end = start + max(end - start, 1); + 1 for the padding */
        mk_value *one = fscalar(c, "roi_min_size", 1.0f);
        mk_value *d = one ? mk_onnx_binary(c, MK_OP_SUB, p1, p0, NULL) : NULL;
        d = d ? mk_onnx_binary(c, MK_OP_MAXIMUM, d, one, NULL) : NULL;
        p0 = d ? mk_onnx_binary(c, MK_OP_SUB, p0, sh, NULL) : NULL;
        p1 = p0 ? mk_onnx_binary(c, MK_OP_ADD, p0, d, NULL) : NULL;
    }
    mk_op *cc = p1 ? mk_onnx_op(c, MK_OP_CONCAT, "roi_boxes") : NULL;
    if (!cc || !mk_onnx_in_mil(c, cc, "values", p0) || !mk_onnx_in_mil(c, cc, "values", p1) ||
        !mk_onnx_in_i32(c, cc, "axis", 1))
        return fail(c);
    mk_value *boxes = mk_onnx_out(c, cc, NULL);
    static const int32_t pads[4] = {1, 1, 1, 1};
    mk_op *pp = boxes ? mk_onnx_op(c, MK_OP_PAD, "roi_edge") : NULL;
    if (!pp || !mk_onnx_in_mil(c, pp, "x", x) || !mk_onnx_in_i32s(c, pp, "pad", 4, pads) ||
        !mk_onnx_in_str(c, pp, "mode", "replicate"))
        return fail(c);
    mk_value *xp = mk_onnx_out(c, pp, NULL);
    mk_op *cr = xp ? mk_onnx_op(c, MK_OP_CROP_RESIZE, "roi_samples") : NULL;
    if (!cr || !mk_onnx_in_mil(c, cr, "x", xp)) return fail(c);
    if (ios17) {
        mk_value *ix = bi;
        if (ix->type.dtype != MK_DT_INT32)
            return mk_onnx_unsupported(c, n, "batch_indices must be integers");
        if (!mk_onnx_in_mil(c, cr, "boxes", boxes) || !mk_onnx_in_mil(c, cr, "box_indices", ix))
            return fail(c);
    } else {
        int64_t rd[5] = {R, 1, 4, 1, 1};
        mk_value *roi = mk_onnx_reshape(c, boxes, 5, rd, NULL);
        if (!roi || !mk_onnx_in_mil(c, cr, "roi", roi)) return fail(c);
    }
    if (!mk_onnx_in_i32(c, cr, "target_height", (int32_t)(oh * g)) ||
        !mk_onnx_in_i32(c, cr, "target_width", (int32_t)(ow * g)) ||
        !mk_onnx_in_bool(c, cr, "normalized_coordinates", 0) ||
        !mk_onnx_in_f32(c, cr, "spatial_scale", 1.0f) ||
        !mk_onnx_in_str(c, cr, "box_coordinate_mode", "CORNERS_WIDTH_FIRST") ||
        !mk_onnx_in_str(c, cr, "sampling_mode", "OFFSET_CORNERS"))
        return fail(c);
    mk_value *smp = mk_onnx_out(c, cr, NULL);
    if (smp && !ios17) {
        int64_t d4[4] = {R, x->type.dims[1], oh * g, ow * g};
        smp = mk_onnx_reshape(c, smp, 4, d4, NULL);
    }
    if (!smp) return fail(c);
    if (g == 1) return done(c, out[0], smp);
    int32_t ks[2] = {(int32_t)g, (int32_t)g}, zp[4] = {0, 0, 0, 0};
    mk_op *ap = mk_onnx_op(c, MK_OP_AVG_POOL, oname(n, 0));
    if (!ap || !mk_onnx_in_mil(c, ap, "x", smp) || !mk_onnx_in_i32s(c, ap, "kernel_sizes", 2, ks) ||
        !mk_onnx_in_i32s(c, ap, "strides", 2, ks) || !mk_onnx_in_str(c, ap, "pad_type", "valid") ||
        !mk_onnx_in_i32s(c, ap, "pad", 4, zp) || !mk_onnx_in_bool(c, ap, "ceil_mode", 0) ||
        !mk_onnx_in_bool(c, ap, "exclude_padding_from_average", 0))
        return fail(c);
    return done(c, out[0], mk_onnx_out(c, ap, NULL));
}
