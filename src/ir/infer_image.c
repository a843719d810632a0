/* Type rules of the image ops that take boxes or a transform: affine (output grid of a given
 * size), crop_resize (iOS15/16 roi [N,1,4|5,1,1] -> [N,B,C,h,w]; iOS17 boxes [N,4] ->
 * [N,C,h,w]) and non_maximum_suppression (iOS15/16: boxes [n,B,4], 4 outputs; iOS17: boxes
 * [n,4,B], 3 outputs). Shapes and checks follow the op definitions' type_inference. */
#include <string.h>

#include "infer_int.h"

static int one_of(const char *s, const char *const *list, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0) return 1;
    return 0;
}

/* A required constant string parameter that must be one of list. */
static mk_status str_in(mk_ictx *c, const char *param, const char *def, const char *const *list,
                        int n)
{
    const char *s = mk_ir_infer_str(c, param, def);
    if (!s) return mk_ir_infer_fail(c, "'%s' must be a constant string", param);
    if (!one_of(s, list, n)) return mk_ir_infer_fail(c, "unsupported %s \"%s\"", param, s);
    return MK_OK;
}

/* A scalar int32 constant > 0 (or unknown: MK_DIM_UNKNOWN). */
static mk_status out_size(mk_ictx *c, const char *param, int64_t def, int64_t *out)
{
    int known = 1;
    if (mk_ir_infer_int(c, param, def, out, &known)) return c->e->code;
    if (!known) *out = MK_DIM_UNKNOWN;
    if (known && (*out < 1 || *out > MK_INFER_DIM_MAX))
        return mk_ir_infer_fail(c, "'%s' must be positive, got %lld", param, (long long)*out);
    return MK_OK;
}

mk_status mk_ir_rule_affine(mk_ictx *c)
{
    static const char *const bil[] = {"bilinear"}, *const cst[] = {"constant"},
                             *const nrm[] = {"normalized_minus_one_to_one"};
    const mk_operand *x = mk_ir_infer_req(c, "x");
    const mk_operand *m = x ? mk_ir_infer_req(c, "transform_matrix") : NULL;
    if (!m || mk_ir_infer_rank(c, "x", x, 4, 4) || mk_ir_infer_rank(c, "transform_matrix", m, 2, 2))
        return c->e->code;
    if (m->type.rank == 2 && m->type.dims[1] >= 0 && m->type.dims[1] != 6)
        return mk_ir_infer_fail(c, "transform_matrix must be [D, 6], got last dim %lld",
                                (long long)m->type.dims[1]);
    if (m->type.rank == 2 && x->type.rank == 4 && m->type.dims[0] > 1 && x->type.dims[0] >= 0 &&
        m->type.dims[0] != x->type.dims[0])
        return mk_ir_infer_fail(c, "transform_matrix has %lld rows for a batch of %lld",
                                (long long)m->type.dims[0], (long long)x->type.dims[0]);
    double pv;
    int64_t h, w;
    if (str_in(c, "sampling_mode", NULL, bil, 1) || str_in(c, "padding_mode", NULL, cst, 1) ||
        str_in(c, "coordinates_mode", NULL, nrm, 1) ||
        mk_ir_infer_f64(c, "padding_value", 0, &pv, NULL) || out_size(c, "output_height", 1, &h) ||
        out_size(c, "output_width", 1, &w))
        return c->e->code;
    if (pv != 0) return mk_ir_infer_fail(c, "only padding_value 0 is defined");
    mk_type t = x->type;
    if (t.rank < 0) {
        t = mk_type_make(x->type.dtype, 4, NULL);
        t.dims[0] = m->type.rank == 2 && m->type.dims[0] > 1 ? m->type.dims[0] : MK_DIM_UNKNOWN;
    }
    t.dims[2] = h;
    t.dims[3] = w;
    return mk_ir_infer_out(c, &t);
}

mk_status mk_ir_rule_crop_resize(mk_ictx *c)
{
    static const char *const boxm[] = {"CORNERS_HEIGHT_FIRST", "CORNERS_WIDTH_FIRST",
                                       "CENTER_SIZE_HEIGHT_FIRST", "CENTER_SIZE_WIDTH_FIRST"};
    static const char *const samp[] = {"STRICT_ALIGN_CORNERS", "ALIGN_CORNERS", "UNALIGN_CORNERS",
                                       "DEFAULT", "OFFSET_CORNERS"};
    const mk_operand *x = mk_ir_infer_req(c, "x");
    if (!x || mk_ir_infer_rank(c, "x", x, 4, 4)) return c->e->code;
    int64_t h, w;
    if (str_in(c, "box_coordinate_mode", "CORNERS_HEIGHT_FIRST", boxm, 4) ||
        str_in(c, "sampling_mode", "DEFAULT", samp, 5) || out_size(c, "target_height", 1, &h) ||
        out_size(c, "target_width", 1, &w))
        return c->e->code;
    int64_t B = x->type.rank == 4 ? x->type.dims[0] : MK_DIM_UNKNOWN,
            C = x->type.rank == 4 ? x->type.dims[1] : MK_DIM_UNKNOWN;
    const mk_operand *roi = mk_ir_infer_in(c, "roi");
    if (roi) {
        if (mk_ir_infer_rank(c, "roi", roi, 5, 5)) return c->e->code;
        if (roi->type.rank == 5 && roi->type.dims[2] >= 0 && roi->type.dims[2] != 4 &&
            roi->type.dims[2] != 5)
            return mk_ir_infer_fail(c, "roi must be [N, 1, 4 or 5, 1, 1]");
        int64_t d[5] = {roi->type.rank == 5 ? roi->type.dims[0] : MK_DIM_UNKNOWN, B, C, h, w};
        mk_type t = mk_type_make(x->type.dtype, 5, d);
        return mk_ir_infer_out(c, &t);
    }
    const mk_operand *bx = mk_ir_infer_req(c, "boxes");
    if (!bx || mk_ir_infer_rank(c, "boxes", bx, 2, 2)) return c->e->code;
    int64_t N = bx->type.rank == 2 ? bx->type.dims[0] : MK_DIM_UNKNOWN;
    if (bx->type.rank == 2 && bx->type.dims[1] >= 0 && bx->type.dims[1] != 4)
        return mk_ir_infer_fail(c, "boxes must be [N, 4]");
    const mk_operand *bi = mk_ir_infer_in(c, "box_indices");
    if (bi) {
        if (mk_ir_infer_rank(c, "box_indices", bi, 1, 1)) return c->e->code;
        if (bi->type.rank == 1 && mk_ir_infer_same_dim(c, "box_indices", bi->type.dims[0], N))
            return c->e->code;
    } else if (N >= 0 && B >= 0 && N > B) {
        return mk_ir_infer_fail(c, "%lld boxes without box_indices for a batch of %lld",
                                (long long)N, (long long)B);
    }
    int64_t norm;
    if (mk_ir_infer_int(c, "normalized_coordinates", 0, &norm, NULL)) return c->e->code;
    if (norm && bx->type.dtype != MK_DT_FP32 && bx->type.dtype != MK_DT_FP16)
        return mk_ir_infer_fail(c, "normalized_coordinates needs fp16 or fp32 boxes");
    int64_t d[4] = {N, C, h, w};
    mk_type t = mk_type_make(x->type.dtype, 4, d);
    return mk_ir_infer_out(c, &t);
}

mk_status mk_ir_rule_nms(mk_ictx *c)
{
    const mk_operand *b = mk_ir_infer_req(c, "boxes");
    const mk_operand *s = b ? mk_ir_infer_req(c, "scores") : NULL;
    if (!s || mk_ir_infer_rank(c, "boxes", b, 3, 3) || mk_ir_infer_rank(c, "scores", s, 3, 3))
        return c->e->code;
    int ios17 = c->ios >= 17;
    int coord = ios17 ? 1 : 2, box = ios17 ? 2 : 1; /* axis of the 4 coordinates / of the boxes */
    int64_t n = MK_DIM_UNKNOWN, nb = MK_DIM_UNKNOWN, K = MK_DIM_UNKNOWN, mb;
    if (b->type.rank == 3) {
        n = b->type.dims[0], nb = b->type.dims[box];
        if (b->type.dims[coord] >= 0 && b->type.dims[coord] != 4)
            return mk_ir_infer_fail(c, "boxes must have 4 coordinates on axis %d", coord);
    }
    if (s->type.rank == 3) {
        if (mk_ir_infer_same_dim(c, "batch of boxes and scores", n, s->type.dims[0]) ||
            mk_ir_infer_same_dim(c, "box count of boxes and scores", nb, s->type.dims[box]))
            return c->e->code;
        if (n < 0) n = s->type.dims[0];
        K = s->type.dims[coord];
    }
    if (!ios17 && !mk_ir_infer_in(c, "score_threshold"))
        return mk_ir_infer_fail(c, "needs score_threshold before iOS17");
    if (out_size(c, "max_boxes", 1, &mb)) return c->e->code;
    int64_t d0[3] = {n, ios17 ? 4 : mb, ios17 ? mb : 4};
    int64_t d1[3] = {n, ios17 ? K : mb, ios17 ? mb : K};
    int64_t d2[2] = {n, mb};
    mk_type t0 = mk_type_make(b->type.dtype, 3, d0), t1 = mk_type_make(s->type.dtype, 3, d1),
            t2 = mk_type_make(MK_DT_INT32, 2, d2), t3 = mk_type_make(MK_DT_INT32, 1, &n);
    if (mk_ir_infer_out(c, &t0) || mk_ir_infer_out(c, &t1) || mk_ir_infer_out(c, &t2))
        return c->e->code;
    return ios17 ? MK_OK : mk_ir_infer_out(c, &t3);
}
