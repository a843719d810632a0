/* Type rules of the data-movement ops coremltools defines beside the common ones: pixel_unshuffle,
 * batch_to_space / space_to_batch, reverse_sequence, sliding_windows, reshape_like, crop, and
 * the per-channel softplus_parametric. Shapes follow the op definitions' type_inference
 * (defs/iOS15..iOS17); a dim that is not known stays unknown. */
#include "infer_int.h"

/* Up to max integers of a const operand of any rank (read as a flat vector); 1 read, 0 data
 * unknown, -1 error. */
static int flat_ints(mk_ictx *c, const char *param, int64_t *out, int max, int *n)
{
    const mk_operand *o = mk_ir_infer_req(c, param);
    if (!o) return -1;
    mk_operand flat = *o;
    if (flat.type.rank > 1) {
        int64_t cnt = 1;
        for (int i = 0; i < flat.type.rank; i++) {
            if (flat.type.dims[i] < 0) return 0;
            cnt *= flat.type.dims[i];
            if (cnt > max) break;
        }
        flat.type.rank = 1;
        flat.type.dims[0] = cnt;
    }
    return mk_ir_infer_ints(c, param, &flat, out, max, n);
}

mk_status mk_ir_rule_softplus_parametric(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x");
    if (!x || mk_ir_infer_rank(c, "x", x, 3, MK_MAX_RANK)) return c->e->code;
    static const char *const ab[2] = {"alpha", "beta"};
    for (int i = 0; i < 2; i++) {
        const mk_operand *a = mk_ir_infer_req(c, ab[i]);
        if (!a || mk_ir_infer_rank(c, ab[i], a, 1, 1)) return c->e->code;
        if (x->type.rank > 1 && mk_ir_infer_same_dim(c, ab[i], a->type.dims[0], x->type.dims[1]))
            return c->e->code;
    }
    return mk_ir_infer_out(c, &x->type);
}

mk_status mk_ir_rule_pixel_unshuffle(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x");
    int64_t f;
    if (!x || !mk_ir_infer_req(c, "downscale_factor") ||
        mk_ir_infer_int(c, "downscale_factor", 1, &f, NULL) || mk_ir_infer_rank(c, "x", x, 4, 4))
        return c->e->code;
    if (f <= 0 || f > 65536)
        return mk_ir_infer_fail(c, "downscale_factor %lld invalid", (long long)f);
    if (x->type.rank < 0) return mk_ir_infer_out_unranked(c, x->type.dtype);
    mk_type t = x->type;
    for (int i = 2; i < 4; i++) {
        if (t.dims[i] >= 0 && t.dims[i] % f)
            return mk_ir_infer_fail(c, "spatial dim %lld not divisible by downscale_factor %lld",
                                    (long long)t.dims[i], (long long)f);
        if (t.dims[i] >= 0) t.dims[i] /= f;
    }
    if (mk_ir_infer_dim_mul(c, t.dims[1], f * f, &t.dims[1])) return c->e->code;
    return mk_ir_infer_out(c, &t);
}

/* batch_to_space (crops) and space_to_batch (paddings) on [N, C, H, W]. */
mk_status mk_ir_rule_batch_space(mk_ictx *c)
{
    int to_space = c->op->kind == MK_OP_BATCH_TO_SPACE;
    const char *pp = to_space ? "crops" : "paddings";
    const mk_operand *x = mk_ir_infer_req(c, "x");
    if (!x || mk_ir_infer_rank(c, "x", x, 4, 4)) return c->e->code;
    int64_t bs[2], pd[4];
    int nb = 0, np = 0;
    int rb = flat_ints(c, "block_shape", bs, 2, &nb),
        rp = rb < 0 ? -1 : flat_ints(c, pp, pd, 4, &np);
    if (rb < 0 || rp < 0) return c->e->code;
    if ((rb && nb != 2) || (rp && np != 4))
        return mk_ir_infer_fail(c, "block_shape must have 2 values and %s 2x2", pp);
    if (x->type.rank < 0) return mk_ir_infer_out_unranked(c, x->type.dtype);
    mk_type t = x->type;
    if (!rb || !rp) {
        t.dims[0] = t.dims[2] = t.dims[3] = MK_DIM_UNKNOWN;
        return mk_ir_infer_out(c, &t);
    }
    for (int i = 0; i < 4; i++)
        if (pd[i] < 0 || pd[i] > MK_INFER_DIM_MAX)
            return mk_ir_infer_fail(c, "%s must be non-negative", pp);
    if (bs[0] <= 0 || bs[1] <= 0 || bs[0] > 65536 || bs[1] > 65536)
        return mk_ir_infer_fail(c, "block_shape must be positive");
    int64_t prod = bs[0] * bs[1];
    if (to_space) {
        if (t.dims[0] >= 0 && t.dims[0] % prod)
            return mk_ir_infer_fail(c, "batch %lld not divisible by the block size %lld",
                                    (long long)t.dims[0], (long long)prod);
        if (t.dims[0] >= 0) t.dims[0] /= prod;
        for (int i = 0; i < 2; i++) {
            int64_t *d = &t.dims[2 + i];
            if (*d < 0) continue;
            if (mk_ir_infer_dim_mul(c, *d, bs[i], d)) return c->e->code;
            *d -= pd[2 * i] + pd[2 * i + 1];
            if (*d < 0) return mk_ir_infer_fail(c, "crops larger than the image");
        }
    } else {
        if (mk_ir_infer_dim_mul(c, t.dims[0], prod, &t.dims[0])) return c->e->code;
        for (int i = 0; i < 2; i++) {
            int64_t *d = &t.dims[2 + i];
            if (*d < 0) continue;
            *d += pd[2 * i] + pd[2 * i + 1];
            if (*d % bs[i])
                return mk_ir_infer_fail(c, "padded dim %lld not divisible by block %lld",
                                        (long long)*d, (long long)bs[i]);
            *d /= bs[i];
        }
    }
    return mk_ir_infer_out(c, &t);
}

mk_status mk_ir_rule_reverse_sequence(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x"), *l = x ? mk_ir_infer_req(c, "lengths") : NULL;
    int64_t sa, ba;
    int s, b;
    if (!l || mk_ir_infer_rank(c, "lengths", l, 1, 1) ||
        mk_ir_infer_int(c, "seq_axis", 0, &sa, NULL) ||
        mk_ir_infer_int(c, "batch_axis", 0, &ba, NULL))
        return c->e->code;
    if (x->type.rank >= 0) {
        if (mk_ir_infer_axis(c, "seq_axis", sa, x->type.rank, &s) ||
            mk_ir_infer_axis(c, "batch_axis", ba, x->type.rank, &b))
            return c->e->code;
        if (l->type.rank == 1 &&
            mk_ir_infer_same_dim(c, "lengths", l->type.dims[0], x->type.dims[b]))
            return c->e->code;
    }
    return mk_ir_infer_out(c, &x->type);
}

mk_status mk_ir_rule_sliding_windows(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x");
    int64_t ax, size, stride;
    int a;
    if (!x || !mk_ir_infer_req(c, "axis") || !mk_ir_infer_req(c, "size") ||
        mk_ir_infer_int(c, "axis", 0, &ax, NULL) || mk_ir_infer_int(c, "size", 1, &size, NULL) ||
        mk_ir_infer_int(c, "stride", 1, &stride, NULL))
        return c->e->code;
    if (size <= 0 || stride <= 0 || size > MK_INFER_DIM_MAX || stride > MK_INFER_DIM_MAX)
        return mk_ir_infer_fail(c, "size and stride must be positive");
    if (x->type.rank < 0) return mk_ir_infer_out_unranked(c, x->type.dtype);
    if (x->type.rank >= MK_MAX_RANK) return mk_ir_infer_fail(c, "x has too high a rank");
    if (mk_ir_infer_axis(c, "axis", ax, x->type.rank, &a)) return c->e->code;
    int64_t n = x->type.dims[a];
    if (n >= 0 && n < size)
        return mk_ir_infer_fail(c, "axis length %lld is shorter than size %lld", (long long)n,
                                (long long)size);
    mk_type t = x->type;
    t.rank++;
    for (int i = t.rank - 1; i > a + 1; i--) t.dims[i] = t.dims[i - 1];
    t.dims[a] = n < 0 ? n : (n - size) / stride + 1;
    t.dims[a + 1] = size;
    return mk_ir_infer_out(c, &t);
}

mk_status mk_ir_rule_reshape_like(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x");
    int n = mk_ir_infer_nargs(c, "ref_tensors");
    if (!x) return c->e->code;
    if (n < 1 || mk_ir_infer_nargs(c, "begins") != n || mk_ir_infer_nargs(c, "ends") != n ||
        mk_ir_infer_nargs(c, "end_masks") != n)
        return mk_ir_infer_fail(c, "ref_tensors, begins, ends and end_masks need the same length");
    mk_type t = mk_type_scalar(x->type.dtype);
    int unknown = 0;
    for (int i = 0; i < n; i++) {
        const mk_operand *r = mk_ir_infer_arg(c, "ref_tensors", i);
        const mk_operand *bo = mk_ir_infer_arg(c, "begins", i), *eo = mk_ir_infer_arg(c, "ends", i);
        const mk_operand *mo = mk_ir_infer_arg(c, "end_masks", i);
        int64_t b, e, m;
        int k1, k2, k3, cnt;
        if ((k1 = mk_ir_infer_ints(c, "begins", bo, &b, 1, &cnt)) < 0 ||
            (k2 = mk_ir_infer_ints(c, "ends", eo, &e, 1, &cnt)) < 0 ||
            (k3 = mk_ir_infer_ints(c, "end_masks", mo, &m, 1, &cnt)) < 0)
            return c->e->code;
        if (!r || !k1 || !k2 || !k3 || r->type.rank < 0) {
            unknown = 1;
            continue;
        }
        if (m) e = r->type.rank;
        if (b < 0) b += r->type.rank;
        if (e < 0) e += r->type.rank;
        if (b < 0 || e > r->type.rank || b > e)
            return mk_ir_infer_fail(c, "begins/ends %d select no valid range of a rank-%d shape", i,
                                    r->type.rank);
        if (t.rank + (e - b) > MK_MAX_RANK) return mk_ir_infer_fail(c, "result rank too high");
        for (int64_t d = b; d < e; d++) t.dims[t.rank++] = r->type.dims[d];
    }
    if (unknown) return mk_ir_infer_out_unranked(c, x->type.dtype);
    int64_t ne = 1, nx = 1;
    int known = 1;
    for (int i = 0; i < t.rank; i++) known &= t.dims[i] >= 0, ne *= t.dims[i] >= 0 ? t.dims[i] : 1;
    for (int i = 0; i < x->type.rank; i++)
        known &= x->type.dims[i] >= 0, nx *= x->type.dims[i] >= 0 ? x->type.dims[i] : 1;
    if (known && x->type.rank >= 0 && ne != nx)
        return mk_ir_infer_fail(c, "reshape from %lld to %lld elements", (long long)nx,
                                (long long)ne);
    return mk_ir_infer_out(c, &t);
}

mk_status mk_ir_rule_crop(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x");
    if (!x || mk_ir_infer_rank(c, "x", x, 3, MK_MAX_RANK)) return c->e->code;
    static const char *const ps[2] = {"crop_height", "crop_width"};
    mk_type t = x->type;
    for (int i = 0; i < 2; i++) {
        int64_t v[2];
        int n = 0, r = flat_ints(c, ps[i], v, 2, &n);
        if (r < 0) return c->e->code;
        if (r &&
            (n != 2 || v[0] < 0 || v[1] < 0 || v[0] > MK_INFER_DIM_MAX || v[1] > MK_INFER_DIM_MAX))
            return mk_ir_infer_fail(c, "%s must hold 2 non-negative values", ps[i]);
        if (t.rank < 0) continue;
        int64_t *d = &t.dims[t.rank - 2 + i];
        if (!r)
            *d = MK_DIM_UNKNOWN;
        else if (*d >= 0 && (*d -= v[0] + v[1]) < 0)
            return mk_ir_infer_fail(c, "%s crops more than the axis holds", ps[i]);
    }
    return mk_ir_infer_out(c, &t);
}
