/* Private to src/ir/infer*.c: the context every type rule receives, helpers to read operands
 * (type + data when known) by parameter name, and the per-family rule functions that infer.c
 * puts into its table indexed by mk_op_kind. Not a public interface. */
#ifndef MK_IR_INFER_INT_H
#define MK_IR_INFER_INT_H

#include "ir.h"

#define MK_INFER_MAX_OUTS 64
#define MK_INFER_MAX_VEC 1024 /* longest int vector a rule reads (split_sizes, shape) */
#define MK_INFER_DIM_MAX INT64_C(2147483647) /* larger dims are rejected as absurd */

typedef struct mk_ictx {
    const mk_op *op;
    const mk_operand *ins;
    int n_ins;
    mk_type *outs;
    int max_outs;
    int n_outs;
    int ios; /* 15..18 */
    mk_err *e;
    mk_operand attr_slots[16]; /* operands built from attributes (const val, constexpr) */
    const mk_value *attr_vals[16];
    int n_attr_slots;
} mk_ictx;

typedef mk_status (*mk_ir_rule)(mk_ictx *c);

/* "op '<name>' (<type>): <reason>" as MK_EINVAL. */
mk_status mk_ir_infer_fail(mk_ictx *c, const char *fmt, ...) MK_PRINTF(2, 3);
/* Operand of input `param` (arg 0), or of attribute `param` when there is no such input;
 * NULL when absent. */
const mk_operand *mk_ir_infer_in(mk_ictx *c, const char *param);
/* Like mk_ir_infer_in, but a missing parameter is an error (returns NULL, error set). */
const mk_operand *mk_ir_infer_req(mk_ictx *c, const char *param);
/* Number of args of a (tuple) input, and operand j of it. */
int mk_ir_infer_nargs(mk_ictx *c, const char *param);
const mk_operand *mk_ir_infer_arg(mk_ictx *c, const char *param, int j);

/* Integer data of an operand (any int/bool dtype, or integral floats), at most max elements.
 * Returns 1 read, 0 data unknown, -1 error (set: too long, not integer, short data). */
int mk_ir_infer_ints(mk_ictx *c, const char *param, const mk_operand *o, int64_t *out, int max,
                     int *n);
/* Like mk_ir_infer_ints, and when the operand has no data, the elements known of the value
 * bound to `param` (mk_ir_value_elems; MK_ELEM_UNKNOWN where unknown). Returns 1 all read
 * from data, 2 some may be unknown, 0 nothing known, -1 error. */
int mk_ir_infer_elems(mk_ictx *c, const char *param, const mk_operand *o, int64_t *out, int max,
                      int *n);
/* Scalar int/bool parameter with a default when absent. *known = 0 when bound but its data
 * is not known. Returns MK_OK or an error. */
mk_status mk_ir_infer_int(mk_ictx *c, const char *param, int64_t def, int64_t *out, int *known);
/* Scalar float parameter (any numeric dtype). */
mk_status mk_ir_infer_f64(mk_ictx *c, const char *param, double def, double *out, int *known);
/* String parameter: def when absent, NULL when bound but unknown. */
const char *mk_ir_infer_str(mk_ictx *c, const char *param, const char *def);

/* Append an output type. */
mk_status mk_ir_infer_out(mk_ictx *c, const mk_type *t);
/* Output of unknown rank. */
mk_status mk_ir_infer_out_unranked(mk_ictx *c, mk_dtype dt);
/* Normalize axis into [0, rank); error when out of range. */
mk_status mk_ir_infer_axis(mk_ictx *c, const char *what, int64_t axis, int rank, int *out);
/* a*b on dims: unknown if either is unknown; error on overflow or absurd size. */
mk_status mk_ir_infer_dim_mul(mk_ictx *c, int64_t a, int64_t b, int64_t *out);
/* Rank check helper: error unless lo <= rank <= hi. */
mk_status mk_ir_infer_rank(mk_ictx *c, const char *param, const mk_operand *o, int lo, int hi);
/* Dims must agree when both known. */
mk_status mk_ir_infer_same_dim(mk_ictx *c, const char *what, int64_t a, int64_t b);
/* numpy broadcast of two types' shapes into out (dtype untouched). */
mk_status mk_ir_infer_broadcast(mk_ictx *c, const mk_type *a, const mk_type *b, mk_type *out);

/* Family rules (infer_nn.c, infer_shape.c, infer_layout.c). */
mk_status mk_ir_rule_conv(mk_ictx *c);
mk_status mk_ir_rule_conv_quantized(mk_ictx *c);
mk_status mk_ir_rule_conv_transpose(mk_ictx *c);
mk_status mk_ir_rule_pool(mk_ictx *c);
mk_status mk_ir_rule_matmul(mk_ictx *c);
mk_status mk_ir_rule_linear(mk_ictx *c);
mk_status mk_ir_rule_einsum(mk_ictx *c);
mk_status mk_ir_rule_norm(mk_ictx *c);
mk_status mk_ir_rule_lstm(mk_ictx *c);
mk_status mk_ir_rule_gru_rnn(mk_ictx *c);
mk_status mk_ir_rule_sdpa(mk_ictx *c);
mk_status mk_ir_rule_upsample(mk_ictx *c);
mk_status mk_ir_rule_resize_hw(mk_ictx *c);
mk_status mk_ir_rule_resize(mk_ictx *c);
mk_status mk_ir_rule_resample(mk_ictx *c);
mk_status mk_ir_rule_space(mk_ictx *c);
mk_status mk_ir_rule_softplus_parametric(mk_ictx *c);
mk_status mk_ir_rule_pixel_unshuffle(mk_ictx *c);
mk_status mk_ir_rule_batch_space(mk_ictx *c);
mk_status mk_ir_rule_reverse_sequence(mk_ictx *c);
mk_status mk_ir_rule_sliding_windows(mk_ictx *c);
mk_status mk_ir_rule_reshape_like(mk_ictx *c);
mk_status mk_ir_rule_crop(mk_ictx *c);
mk_status mk_ir_rule_affine(mk_ictx *c);
mk_status mk_ir_rule_crop_resize(mk_ictx *c);
mk_status mk_ir_rule_nms(mk_ictx *c);
mk_status mk_ir_rule_make_list(mk_ictx *c);
mk_status mk_ir_rule_classify(mk_ictx *c);
mk_status mk_ir_rule_list_length(mk_ictx *c);
mk_status mk_ir_rule_list_read(mk_ictx *c);
mk_status mk_ir_rule_list_write(mk_ictx *c);
mk_status mk_ir_rule_list_gather(mk_ictx *c);

mk_status mk_ir_rule_reshape(mk_ictx *c);
mk_status mk_ir_rule_transpose(mk_ictx *c);
mk_status mk_ir_rule_expand_dims(mk_ictx *c);
mk_status mk_ir_rule_squeeze(mk_ictx *c);
mk_status mk_ir_rule_flatten2d(mk_ictx *c);
mk_status mk_ir_rule_concat(mk_ictx *c);
mk_status mk_ir_rule_split(mk_ictx *c);
mk_status mk_ir_rule_stack(mk_ictx *c);
mk_status mk_ir_rule_slice_by_index(mk_ictx *c);
mk_status mk_ir_rule_slice_by_size(mk_ictx *c);
mk_status mk_ir_rule_slice_update(mk_ictx *c);
mk_status mk_ir_rule_gather(mk_ictx *c);
mk_status mk_ir_rule_gather_along_axis(mk_ictx *c);
mk_status mk_ir_rule_gather_nd(mk_ictx *c);
mk_status mk_ir_rule_scatter(mk_ictx *c);
mk_status mk_ir_rule_tile(mk_ictx *c);
mk_status mk_ir_rule_pad(mk_ictx *c);
mk_status mk_ir_rule_reduce(mk_ictx *c);
mk_status mk_ir_rule_reduce_arg(mk_ictx *c);

#endif
