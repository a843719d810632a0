/* write_state and coreml_update_state (iOS18): write value into the state buffer in place (the
 * state input's slot is the interpreter's state buffer, kept across runs); the latter returns the
 * value. read_state is a plain copy (k_shape.c), so a value read earlier keeps the old contents. */
#include "interp_int.h"

mk_status mk_k_update_state(mk_kctx *k)
{
    int wr = k->op->kind == MK_OP_WRITE_STATE;
    mk_rt *s = mk_kin(k, wr ? "input" : "state"), *v = mk_kin(k, wr ? "data" : "value");
    mk_rt *out = wr ? NULL : k->outs[0];
    if (!s || !v) return mk_kerr(k, MK_EINVAL, "needs state and value");
    if (s->numel != v->numel || mk_interp_layout(s->type.dtype) != mk_interp_layout(v->type.dtype))
        return mk_kerr(k, MK_EINVAL, "value does not match the state's type");
    size_t nb = v->numel * mk_interp_elem_size(v->type.dtype);
    if (nb && s->data != v->data) memmove(s->data, v->data, nb);
    if (wr) return MK_OK;
    mk_status st = out->data ? MK_OK : mk_rt_alloc(k, out, &v->type);
    if (!st && nb && out->data != v->data) memcpy(out->data, v->data, nb);
    return st;
}
