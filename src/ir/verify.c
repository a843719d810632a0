/* The IR verifier: structure (opset per spec version, unique names, definition before use in
 * the block or an enclosing one, block outputs, output dtypes), op availability per opset,
 * parameters against params.c (required, unknown, constness, tuples, dtypes, shared dtypes T
 * and U) and declared output types against mk_ir_infer. It reports the first problem and
 * changes nothing. */
#include <stdarg.h>
#include <string.h>

#include "infer_int.h"

typedef struct vctx {
    const mk_program *p;
    const mk_function *f;
    int ios;
    mk_err *e;
    mk_strmap seen; /* value name -> mk_value* while visible, &dead after its block ends */
    char dead;
    const mk_value **scope; /* values defined in open blocks, in order */
    size_t n_scope, cap_scope;
} vctx;

static const char *op_type(const mk_op *op)
{
    const mk_op_info *in = mk_ir_op_info(op->kind);
    return in ? in->name : "?";
}

static mk_status op_fail(vctx *v, const mk_op *op, const char *fmt, ...) MK_PRINTF(3, 4);
static mk_status op_fail(vctx *v, const mk_op *op, const char *fmt, ...)
{
    char reason[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return mk_err_set(v->e, MK_EINVAL, "function '%s': op '%s' (%s): %s", v->f->name,
                      op->name ? op->name : "?", op_type(op), reason);
}

static mk_status define(vctx *v, const mk_value *val, const mk_op *op)
{
    if (!val) {
        if (op) return op_fail(v, op, "NULL output");
        return mk_err_set(v->e, MK_EINVAL, "function '%s': NULL input value", v->f->name);
    }
    if (!val->name || !mk_ir_valid_identifier(val->name)) {
        const char *nm = val->name ? val->name : "(null)";
        if (op) return op_fail(v, op, "invalid value name '%s'", nm);
        return mk_err_set(v->e, MK_EINVAL, "function '%s': invalid value name '%s'", v->f->name,
                          nm);
    }
    if (mk_strmap_get(&v->seen, val->name)) {
        if (op) return op_fail(v, op, "value name '%s' defined twice", val->name);
        return mk_err_set(v->e, MK_EINVAL, "function '%s': value name '%s' defined twice",
                          v->f->name, val->name);
    }
    if (!mk_dtype_valid(val->type.dtype) || val->type.rank < MK_RANK_UNKNOWN ||
        val->type.rank > MK_MAX_RANK) {
        if (op) return op_fail(v, op, "value '%s' has an invalid type", val->name);
        return mk_err_set(v->e, MK_EINVAL, "function '%s': value '%s' has an invalid type",
                          v->f->name, val->name);
    }
    for (int i = 0; i < val->type.rank; i++)
        if (val->type.dims[i] < MK_DIM_UNKNOWN)
            return mk_err_set(v->e, MK_EINVAL, "function '%s': value '%s' has a negative dim",
                              v->f->name, val->name);
    if (v->n_scope == v->cap_scope) {
        size_t nc = v->cap_scope ? v->cap_scope * 2 : 256;
        const mk_value **ns =
            mk_realloc(v->p->alloc, (void *)v->scope, v->cap_scope * sizeof *ns, nc * sizeof *ns);
        if (!ns) return MK_OOM(v->e);
        v->scope = ns;
        v->cap_scope = nc;
    }
    v->scope[v->n_scope++] = val;
    if (!mk_strmap_put(&v->seen, val->name, (void *)(uintptr_t)val)) return MK_OOM(v->e);
    return MK_OK;
}

/* Is val usable here: an inline constant, or a visible definition of this very value. */
static mk_status check_use(vctx *v, const mk_op *op, const mk_value *val, const char *param)
{
    if (!val) return op_fail(v, op, "input '%s' has a NULL argument", param);
    if (val->is_inline || (!val->name && val->cst)) return MK_OK;
    if (!val->name) return op_fail(v, op, "input '%s' binds an unnamed non-constant value", param);
    void *got = mk_strmap_get(&v->seen, val->name);
    if (!got) return op_fail(v, op, "input '%s' uses '%s' before its definition", param, val->name);
    if (got == &v->dead)
        return op_fail(v, op, "input '%s' uses '%s' outside its block", param, val->name);
    if (got != val)
        return op_fail(v, op, "input '%s' binds a value that is not the one named '%s'", param,
                       val->name);
    return MK_OK;
}

static int is_constant(const mk_value *val)
{
    if (val->cst || val->is_inline) return 1;
    const mk_op *pr = val->producer;
    return pr && (pr->kind == MK_OP_CONST || pr->kind == MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE ||
                  pr->kind == MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE ||
                  pr->kind == MK_OP_CONSTEXPR_CAST || pr->kind == MK_OP_CONSTEXPR_LUT_TO_DENSE ||
                  pr->kind == MK_OP_CONSTEXPR_SPARSE_TO_DENSE ||
                  pr->kind == MK_OP_CONSTEXPR_LUT_TO_SPARSE ||
                  pr->kind == MK_OP_CONSTEXPR_SPARSE_BLOCKWISE_SHIFT_SCALE);
}

/* MK_PARAM_SAME_T: float arguments of a shared type domain must match the anchor's dtype
 * (e.g. layer_norm epsilon vs x before iOS17, clip alpha/beta, lstm weights). */
static mk_status check_same_t(vctx *v, const mk_op *op)
{
    const mk_value *anchor = NULL;
    const char *anchor_name = NULL;
    const mk_op_params *ps = mk_ir_op_params(op->kind);
    for (int i = 0; i < ps->n_params && !anchor; i++) {
        const mk_op_param *pp = &ps->params[i];
        const mk_value *a = mk_ir_arg(op, pp->name);
        if (mk_ir_op_param(op->kind, pp->name, v->ios) != pp || (pp->flags & MK_PARAM_SAME_T) ||
            !a || !mk_dtype_is_float(a->type.dtype))
            continue;
        anchor = a;
        anchor_name = pp->name;
    }
    if (!anchor) return MK_OK;
    for (int i = 0; i < op->n_inputs; i++) {
        const mk_input *in = &op->inputs[i];
        const mk_op_param *pp = mk_ir_op_param(op->kind, in->name, v->ios);
        if (!pp || !(pp->flags & MK_PARAM_SAME_T)) continue;
        for (int j = 0; j < in->n_args; j++) {
            mk_dtype dt = in->args[j]->type.dtype;
            if (!mk_dtype_is_float(dt) || dt == anchor->type.dtype) continue;
            const char *a = mk_dtype_name(dt), *b = mk_dtype_name(anchor->type.dtype);
            return op_fail(v, op, "input '%s' is %s but '%s' is %s (one dtype at iOS%d)", in->name,
                           a ? a : "?", anchor_name, b ? b : "?", v->ios);
        }
    }
    return MK_OK;
}

/* MK_PARAM_SAME_U: the float arguments of an op's own domain U (iOS17 gamma, beta and epsilon
 * of the norms, alpha/beta of activations) share one dtype, whatever x's is. */
static mk_status check_same_u(vctx *v, const mk_op *op)
{
    const mk_value *first = NULL;
    const char *first_name = NULL;
    for (int i = 0; i < op->n_inputs; i++) {
        const mk_input *in = &op->inputs[i];
        const mk_op_param *pp = mk_ir_op_param(op->kind, in->name, v->ios);
        if (!pp || !(pp->flags & MK_PARAM_SAME_U)) continue;
        for (int j = 0; j < in->n_args; j++) {
            mk_dtype dt = in->args[j]->type.dtype;
            if (!mk_dtype_is_float(dt)) continue;
            if (!first) {
                first = in->args[j];
                first_name = in->name;
            } else if (dt != first->type.dtype) {
                const char *a = mk_dtype_name(dt), *b = mk_dtype_name(first->type.dtype);
                return op_fail(v, op, "input '%s' is %s but '%s' is %s (one dtype U at iOS%d)",
                               in->name, a ? a : "?", first_name, b ? b : "?", v->ios);
            }
        }
    }
    return MK_OK;
}

static mk_status check_params(vctx *v, const mk_op *op)
{
    for (int i = 0; i < op->n_inputs; i++) {
        const mk_input *in = &op->inputs[i];
        const mk_op_param *pp = mk_ir_op_param(op->kind, in->name, v->ios);
        if (!pp || (pp->flags & MK_PARAM_ATTR))
            return op_fail(v, op, "unknown input '%s' for this opset", in->name);
        if (in->n_args < 1) return op_fail(v, op, "input '%s' has no arguments", in->name);
        if (in->n_args > 1 && !(pp->flags & MK_PARAM_TUPLE))
            return op_fail(v, op, "input '%s' is not a tuple but has several arguments", in->name);
        for (int j = 0; j < in->n_args; j++) {
            const mk_value *a = in->args[j];
            if (check_use(v, op, a, in->name)) return v->e->code;
            if ((pp->flags & MK_PARAM_CONST) && !is_constant(a))
                return op_fail(v, op, "input '%s' must be a constant, '%s' is not", in->name,
                               a->name ? a->name : "?");
            if (pp->dtypes && a->type.dtype < 64 && !(pp->dtypes & MK_DTBIT(a->type.dtype)))
                return op_fail(v, op, "input '%s' does not accept dtype %s", in->name,
                               mk_dtype_name(a->type.dtype) ? mk_dtype_name(a->type.dtype) : "?");
        }
    }
    for (int i = 0; i < op->n_attrs; i++) {
        const mk_attr *at = &op->attrs[i];
        const mk_op_param *pp = mk_ir_op_param(op->kind, at->name, v->ios);
        if (!pp || !(pp->flags & MK_PARAM_ATTR))
            return op_fail(v, op, "unknown attribute '%s' for this opset", at->name);
        if (!at->value || !at->value->cst)
            return op_fail(v, op, "attribute '%s' is not a constant", at->name);
    }
    if (check_same_t(v, op) || check_same_u(v, op)) return v->e->code;
    const mk_op_params *ps = mk_ir_op_params(op->kind);
    for (int i = 0; i < ps->n_params; i++) {
        const mk_op_param *pp = &ps->params[i];
        if (!(pp->flags & MK_PARAM_REQUIRED) || mk_ir_op_param(op->kind, pp->name, v->ios) != pp)
            continue;
        int bound = (pp->flags & MK_PARAM_ATTR) ? mk_ir_attr(op, pp->name) != NULL
                                                : mk_ir_arg(op, pp->name) != NULL;
        if (!bound)
            return op_fail(v, op, "missing required %s '%s'",
                           pp->flags & MK_PARAM_ATTR ? "attribute" : "input", pp->name);
    }
    return MK_OK;
}

static mk_status check_types(vctx *v, const mk_op *op)
{
    mk_operand stack_ops[64] = {{{0}, NULL, 0}}, *ops = stack_ops;
    size_t total = 0;
    for (int i = 0; i < op->n_inputs; i++) {
        total += (size_t)op->inputs[i].n_args;
        for (int j = 0; j < op->inputs[i].n_args; j++)
            if (op->inputs[i].args[j] && op->inputs[i].args[j]->type.dict_key)
                return op_fail(v, op,
                               "input '%s' is a dictionary (classify's outputs are only "
                               "model outputs)",
                               op->inputs[i].name);
    }
    if (total > sizeof stack_ops / sizeof *stack_ops) {
        size_t nb;
        if (!mk_mul_size(total, sizeof *ops, &nb) || total > INT32_MAX ||
            !(ops = mk_malloc(v->p->alloc, nb)))
            return MK_OOM(v->e);
    }
    size_t k = 0;
    for (int i = 0; i < op->n_inputs; i++)
        for (int j = 0; j < op->inputs[i].n_args; j++, k++) {
            const mk_value *a = op->inputs[i].args[j];
            ops[k].type = a->type;
            ops[k].data = a->cst ? a->cst->data : NULL;
            ops[k].nbytes = a->cst ? a->cst->nbytes : 0;
        }
    mk_type outs[MK_INFER_MAX_OUTS];
    int n = 0;
    mk_status st = mk_ir_infer(op, ops, (int)total, outs, MK_INFER_MAX_OUTS, &n, v->e);
    if (ops != stack_ops) mk_free(v->p->alloc, ops, total * sizeof *ops);
    if (st) {
        mk_err_prefix(v->e, "function '%s': ", v->f->name);
        return st;
    }
    if (n != op->n_outputs) {
        char a[32], b[32];
        snprintf(a, sizeof a, "%d", op->n_outputs);
        snprintf(b, sizeof b, "%d", n);
        return op_fail(v, op, "declares %s outputs, its type rule gives %s", a, b);
    }
    for (int i = 0; i < n; i++) {
        const mk_type *d = &op->outputs[i]->type, *t = &outs[i];
        int ok = d->dtype == t->dtype && d->is_list == t->is_list && d->dict_key == t->dict_key;
        if (ok && d->rank >= 0 && t->rank >= 0) {
            ok = d->rank == t->rank;
            for (int j = 0; ok && j < d->rank; j++)
                ok = d->dims[j] < 0 || t->dims[j] < 0 || d->dims[j] == t->dims[j];
        }
        if (!ok) {
            char sd[160], sti[160], msg[400];
            snprintf(msg, sizeof msg, "output '%s' declared %s, inferred %s",
                     op->outputs[i]->name ? op->outputs[i]->name : "?",
                     mk_type_str(d, sd, sizeof sd), mk_type_str(t, sti, sizeof sti));
            return op_fail(v, op, "%s", msg);
        }
    }
    return MK_OK;
}

static mk_status verify_block(vctx *v, const mk_block *b);

/* State values (iOS18): a state is read by read_state and written by write_state or
 * coreml_update_state only, and those take nothing else in that place. */
static const char *state_misuse(const mk_op *op, const char **param, const mk_value **arg)
{
    for (int i = 0; i < op->n_inputs; i++) {
        const char *pn = op->inputs[i].name;
        int want = (op->kind == MK_OP_READ_STATE && strcmp(pn, "input") == 0) ||
                   (op->kind == MK_OP_WRITE_STATE && strcmp(pn, "input") == 0) ||
                   (op->kind == MK_OP_COREML_UPDATE_STATE && strcmp(pn, "state") == 0);
        for (int j = 0; j < op->inputs[i].n_args; j++) {
            const mk_value *a = op->inputs[i].args[j];
            if (!a || a->is_state == want) continue;
            *param = pn;
            *arg = a;
            return want ? "is not a state input of the function"
                        : "is a state (a state is read with read_state and written with "
                          "write_state/coreml_update_state only)";
        }
    }
    return NULL;
}

static mk_status check_states(vctx *v, const mk_op *op)
{
    const char *pn, *why;
    const mk_value *a;
    if ((why = state_misuse(op, &pn, &a)))
        return op_fail(v, op, "input '%s': '%s' %s", pn, a->name ? a->name : "?", why);
    return MK_OK;
}

static mk_status states_in_block(const mk_function *f, const mk_block *b, mk_err *e)
{
    MK_FOR_OPS(b, op)
    {
        const char *pn, *why;
        const mk_value *a;
        if ((why = state_misuse(op, &pn, &a)))
            return mk_err_set(e, MK_EINVAL, "function '%s': op '%s' (%s): input '%s': '%s' %s",
                              f->name, op->name ? op->name : "?", op_type(op), pn,
                              a->name ? a->name : "?", why);
        for (int i = 0; i < op->n_blocks; i++)
            if (states_in_block(f, op->blocks[i], e)) return e->code;
    }
    return MK_OK;
}

mk_status mk_ir_verify_states(const mk_program *p, mk_err *e)
{
    for (int i = 0; i < p->n_functions; i++) {
        const mk_function *f = p->functions[i];
        if (states_in_block(f, f->block, e)) return e->code;
    }
    return MK_OK;
}

static int takes_list(const mk_op *op, const char *param)
{
    mk_op_kind k = op->kind;
    if (k == MK_OP_LIST_LENGTH || k == MK_OP_LIST_READ || k == MK_OP_LIST_WRITE ||
        k == MK_OP_LIST_GATHER || k == MK_OP_LIST_SCATTER)
        return strcmp(param, "ls") == 0;
    if (k == MK_OP_CLASSIFY) return strcmp(param, "classes") == 0;
    return k == MK_OP_WHILE_LOOP || k == MK_OP_IDENTITY;
}

static mk_status verify_op(vctx *v, const mk_op *op)
{
    const mk_op_info *info = mk_ir_op_info(op->kind);
    if (!info)
        return mk_err_set(v->e, MK_EINVAL, "function '%s': op '%s' has invalid kind %d", v->f->name,
                          op->name ? op->name : "?", (int)op->kind);
    if (info->min_opset > v->ios) {
        char a[16], b[16];
        snprintf(a, sizeof a, "%d", info->min_opset);
        snprintf(b, sizeof b, "%d", v->ios);
        return op_fail(v, op, "needs iOS%s, program targets iOS%s", a, b);
    }
    if (check_params(v, op) || check_states(v, op)) return v->e->code;
    for (int i = 0; i < op->n_blocks; i++) {
        if (!op->blocks[i]) return op_fail(v, op, "NULL nested block");
        if (verify_block(v, op->blocks[i])) return v->e->code;
    }
    if (op->kind == MK_OP_COND || op->kind == MK_OP_WHILE_LOOP) {
        if (op->n_blocks != 2) return op_fail(v, op, "needs 2 nested blocks");
    } else if (op->n_blocks) {
        return op_fail(v, op, "has nested blocks but is not control flow");
    }
    for (int i = 0; i < op->n_outputs; i++)
        if (!op->outputs[i]) return op_fail(v, op, "output is NULL");
    for (int i = 0; i < op->n_inputs; i++)
        for (int j = 0; j < op->inputs[i].n_args; j++)
            if (op->inputs[i].args[j]->type.is_list && !takes_list(op, op->inputs[i].name))
                return op_fail(v, op,
                               "input '%s' is a list; only list ops, while_loop and identity "
                               "take lists",
                               op->inputs[i].name);
    if (check_types(v, op)) return v->e->code;
    for (int i = 0; i < op->n_outputs; i++)
        if (define(v, op->outputs[i], op)) return v->e->code;
    return MK_OK;
}

static mk_status verify_block(vctx *v, const mk_block *b)
{
    size_t mark = v->n_scope;
    mk_status st = MK_OK;
    for (int i = 0; i < b->n_inputs && !st; i++) st = define(v, b->inputs[i], NULL);
    size_t guard = 0;
    for (const mk_op *op = b->first; op && !st; op = op->next) {
        if (op->parent != b) {
            st = op_fail(v, op, "is linked into a block that is not its parent");
            break;
        }
        if (++guard > ((size_t)1 << 32)) {
            st = mk_err_set(v->e, MK_EINVAL, "function '%s': op list is cyclic", v->f->name);
            break;
        }
        st = verify_op(v, op);
    }
    for (int i = 0; i < b->n_outputs && !st; i++) {
        const mk_value *o = b->outputs[i];
        void *got = o && o->name ? mk_strmap_get(&v->seen, o->name) : NULL;
        if (o && o->is_state)
            st = mk_err_set(v->e, MK_EINVAL,
                            "function '%s': block output %d is state '%s'; return the value of "
                            "read_state or coreml_update_state",
                            v->f->name, i, o->name);
        else if (o && o->type.is_list && !b->parent_op)
            st = mk_err_set(v->e, MK_EINVAL,
                            "function '%s': output %d ('%s') is a list; a model output must be "
                            "a tensor",
                            v->f->name, i, o->name ? o->name : "?");
        else if (!o || (!o->is_inline && !o->cst && got != o))
            st = mk_err_set(v->e, MK_EINVAL,
                            "function '%s': block output %d ('%s') is not "
                            "defined in scope",
                            v->f->name, i, o && o->name ? o->name : "(null)");
    }
    /* leaving the block: its definitions become invisible but their names stay taken */
    for (size_t i = mark; i < v->n_scope && !st; i++)
        if (!mk_strmap_put(&v->seen, v->scope[i]->name, &v->dead)) st = MK_OOM(v->e);
    v->n_scope = mark;
    return st;
}

mk_status mk_ir_verify(const mk_program *p, mk_err *e)
{
    mk_err quiet = {0};
    if (!e) e = &quiet; /* a caller that only wants the verdict */
    if (!p) return mk_err_set(e, MK_EINVAL, "verify: no program");
    const char *opset = mk_ir_opset_for_spec(p->spec_version);
    if (!opset)
        return mk_err_set(e, MK_EINVAL,
                          "verify: specification version %d has no ML Program "
                          "opset (6..9)",
                          p->spec_version);
    if (p->n_functions < 1) return mk_err_set(e, MK_EINVAL, "verify: program has no function");
    for (int fi = 0; fi < p->n_functions; fi++) {
        const mk_function *f = p->functions[fi];
        if (!f || !f->name || !f->block)
            return mk_err_set(e, MK_EINVAL, "verify: function %d is incomplete", fi);
        if (!f->opset || strcmp(f->opset, opset) != 0)
            return mk_err_set(e, MK_EINVAL,
                              "function '%s': opset %s does not match spec "
                              "version %d (%s)",
                              f->name, f->opset ? f->opset : "(none)", p->spec_version, opset);
        if (f->block->parent_op)
            return mk_err_set(e, MK_EINVAL, "function '%s': top block has a parent op", f->name);
        vctx v;
        memset(&v, 0, sizeof v);
        v.p = p;
        v.f = f;
        v.ios = mk_ir_ios_for_spec(p->spec_version);
        v.e = e;
        mk_strmap_init(&v.seen, p->alloc);
        mk_status st = MK_OK;
        for (int i = 0; i < f->n_inputs && !st; i++) st = define(&v, f->inputs[i], NULL);
        if (!st) st = verify_block(&v, f->block);
        mk_strmap_free(&v.seen);
        mk_free(p->alloc, (void *)v.scope, v.cap_scope * sizeof *v.scope);
        if (st) return st;
    }
    return MK_OK;
}

mk_status mk_program_verify(const mk_program *p, mk_err *err)
{
    return mk_ir_verify(p, err);
}
