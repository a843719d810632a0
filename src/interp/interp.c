/* The interpreter's sessions: creation (slots, plans, fusion and views planned once), one run
 * (inputs in, the main block's plan, outputs out, the per-kind profile), state buffers kept
 * across runs, and release. The engine is split by job into ip_*.c (ip_engine.h); kernels are
 * in k_<family>.c. */
#include <stdio.h>
#include <stdlib.h>

#include "blas.h"
#include "ip_engine.h"

int mk_interp_threads(const mk_interp *ip)
{
    return ip->threads;
}

void mk_interp_free(mk_interp *ip)
{
    if (!ip) return;
    for (int s = 0; s < ip->n_slots; s++) mk_rt_release(ip, &ip->slots[s]);
    for (int i = 0; i < ip->n_pool; i++) mk_free(ip->alloc, ip->pool[i], ip->pool_cap[i]);
    mk_free(ip->alloc, ip->scratch, ip->scratch_n);
    mk_ip_pool_free(ip);
    mk_ip_kcache_free(ip);
    for (int t = 0; t < MK_PAR_MAX; t++) mk_free(ip->alloc, ip->tscratch[t], ip->tscratch_n[t]);
    for (int i = 0; ip->state && i < ip->f->n_inputs; i++)
        mk_free(ip->alloc, ip->state[i].data, ip->state[i].cap);
    mk_ptrmap_free(&ip->slot_of);
    mk_ptrmap_free(&ip->plan_of);
    const mk_allocator *a = ip->alloc;
    mk_arena_free(ip->ar);
    mk_free(a, ip, sizeof *ip);
}

void mk_interp_set_framework_pool(mk_interp *ip, int on)
{
    if (ip) ip->framework_pool = on != 0;
}

int mk_interp_framework_pool(const mk_interp *ip)
{
    return ip && ip->framework_pool;
}

/* Any fp16 value in a block: the program has chosen its precision op by op. */
static int has_fp16(const mk_block *b)
{
    MK_FOR_OPS(b, op)
    {
        for (int i = 0; i < op->n_outputs; i++)
            if (op->outputs[i]->type.dtype == MK_DT_FP16) return 1;
        for (int i = 0; i < op->n_blocks; i++)
            if (has_fp16(op->blocks[i])) return 1;
    }
    return 0;
}

static mk_status interp_new(const mk_program *p, const mk_function *f, const mk_run_options *opts,
                            mk_interp_observer fn, void *ud, mk_interp **out, mk_err *e);

mk_status mk_interp_new(const mk_program *p, const mk_run_options *opts, mk_interp **out, mk_err *e)
{
    return interp_new(p, mk_ir_main(p), opts, NULL, NULL, out, e);
}

mk_status mk_interp_new_observed(const mk_program *p, const mk_run_options *opts,
                                 mk_interp_observer fn, void *ud, mk_interp **out, mk_err *e)
{
    return interp_new(p, mk_ir_main(p), opts, fn, ud, out, e);
}

void mk_interp_set_profile(mk_interp *ip, int on)
{
    if (!ip) return;
    ip->n_rows = 0;
    if (!on) {
        ip->rows = NULL; /* arena memory, freed with the session */
        return;
    }
    if (!ip->rows) {
        size_t n = (size_t)ip->plans[0]->n_ops + 3;             /* + the input and output rows */
        ip->rows = mk_arena_array(ip->ar, n, sizeof *ip->rows); /* NULL on OOM: no profile */
    }
}

const mk_op_profile *mk_interp_profile(const mk_interp *ip, int *n, double *total_ms)
{
    *n = ip && ip->rows ? ip->n_rows : 0;
    if (total_ms) *total_ms = *n ? ip->total_ms : 0;
    return *n ? ip->rows : NULL;
}

const mk_function *mk_interp_function(const mk_interp *ip)
{
    return ip->f;
}

/* Zeroed state buffers for f's state inputs (static types only). */
static mk_status alloc_states(mk_interp *ip, mk_err *e)
{
    const mk_function *f = ip->f;
    for (int i = 0; i < f->n_inputs; i++) {
        const mk_value *v = f->inputs[i];
        if (!v->is_state) continue;
        if (!ip->state &&
            !(ip->state = mk_arena_array(ip->ar, (size_t)f->n_inputs, sizeof *ip->state)))
            return MK_OOM(e);
        size_t n, nb;
        if (!mk_type_is_static(&v->type) || !mk_type_numel(&v->type, &n) ||
            !mk_mul_size(n, mk_interp_elem_size(v->type.dtype), &nb))
            return mk_err_set(e, MK_EINVAL, "state %s: needs a static shape", v->name);
        mk_rt *r = &ip->state[i];
        if (!(r->data = mk_calloc(ip->alloc, 1, nb ? nb : 1))) return MK_OOM(e);
        r->type = v->type;
        r->numel = n;
        r->cap = nb ? nb : 1;
    }
    return MK_OK;
}

static mk_rt *find_state(mk_interp *ip, const char *name)
{
    for (int i = 0; ip->state && i < ip->f->n_inputs; i++)
        if (ip->f->inputs[i]->is_state && strcmp(ip->f->inputs[i]->name, name) == 0)
            return &ip->state[i];
    return NULL;
}

mk_status mk_interp_state_get(mk_interp *ip, const char *name, mk_tensor *out, mk_err *e)
{
    const mk_rt *r = find_state(ip, name);
    if (!r) return mk_err_set(e, MK_EINVAL, "no state named '%s'", name);
    return mk_ip_rt_to_tensor(r, name, out, e);
}

mk_status mk_interp_state_set(mk_interp *ip, const char *name, const mk_tensor *t, mk_err *e)
{
    mk_rt *r = find_state(ip, name);
    if (!r) return mk_err_set(e, MK_EINVAL, "no state named '%s'", name);
    int same = t->rank == r->type.rank;
    for (int i = 0; same && i < t->rank; i++) same = t->dims[i] == r->type.dims[i];
    if (!same) {
        char want[128];
        return mk_err_set(e, MK_EINVAL, "state %s: shape differs from the model's %s", name,
                          mk_type_str(&r->type, want, sizeof want));
    }
    if (!mk_npy_dtype_size(t->dtype) ||
        (mk_dtype_is_float((mk_dtype)t->dtype) != mk_dtype_is_float(r->type.dtype)))
        return mk_err_set(e, MK_EINVAL, "state %s: dtype %s, model expects %s", name,
                          mk_dtype_name((mk_dtype)t->dtype) ? mk_dtype_name((mk_dtype)t->dtype)
                                                            : "unknown",
                          mk_dtype_name(r->type.dtype));
    mk_rt tmp = {0};
    mk_status st = mk_ip_tensor_to_rt(ip, &tmp, &r->type, t, e);
    if (!st && r->numel) memcpy(r->data, tmp.data, r->numel * mk_interp_elem_size(r->type.dtype));
    mk_rt_release(ip, &tmp);
    return st;
}

mk_status mk_interp_new_fn(const mk_program *p, const mk_function *f, const mk_run_options *opts,
                           mk_interp **out, mk_err *e)
{
    return interp_new(p, f, opts, NULL, NULL, out, e);
}

static mk_status interp_new(const mk_program *p, const mk_function *f, const mk_run_options *opts,
                            mk_interp_observer fn, void *ud, mk_interp **out, mk_err *e)
{
    *out = NULL;
    if (!f) return mk_err_set(e, MK_EINVAL, "program has no function to run");
    mk_status bst = mk_blas_open(e);
    if (bst != MK_OK) return bst;
    const mk_allocator *a = p->alloc ? p->alloc : mk_alloc_default();
    mk_interp *ip = mk_calloc(a, 1, sizeof *ip);
    if (!ip) return MK_OOM(e);
    ip->p = p;
    ip->f = f;
    ip->alloc = a;
    mk_ptrmap_init(&ip->slot_of, a);
    mk_ptrmap_init(&ip->plan_of, a);
    /* a program with fp16 compute runs as typed: its fp32 ops are islands Core ML keeps fp32 */
    ip->fp16 = opts && opts->fp16_emulate && !has_fp16(f->block);
    ip->observe = fn;
    ip->observe_ud = ud;
    const char *prof = getenv("MILKIT_PROFILE");
    ip->profile = prof ? atoi(prof) + 1 : 0;
    ip->fuse = !fn && !getenv("MILKIT_NO_FUSE");
    ip->threads = opts && opts->threads > 0 ? opts->threads : 0;
    ip->n_threads = mk_ip_thread_count(ip->threads);
    ip->ar = mk_arena_new(ip->alloc);
    if (!ip->ar) {
        mk_free(a, ip, sizeof *ip);
        return MK_OOM(e);
    }
    mk_status st = MK_OK;
    for (int i = 0; i < f->n_inputs; i++)
        if (mk_ip_add_slot(ip, f->inputs[i], f->block) < 0) st = MK_OOM(e);
    int *last = NULL;
    if (!st) st = alloc_states(ip, e);
    if (!st && !mk_ip_register_block(ip, f->block)) st = MK_OOM(e);
    if (!st) {
        last = mk_arena_array(ip->ar, (size_t)ip->n_slots + 1, sizeof *last);
        if (!last) st = MK_OOM(e);
    }
    if (!st && !mk_ip_plan_all(ip, f->block, last, e)) st = e && e->code ? e->code : MK_OOM(e);
    if (!st && ip->fuse && !mk_ip_plan_fusion(ip)) st = MK_OOM(e);
    if (!st && ip->fuse) {
        ip->view = mk_arena_array(ip->ar, (size_t)ip->n_slots + 1, sizeof *ip->view);
        if (!ip->view) st = MK_OOM(e);
        for (int i = 0; !st && i < ip->n_slots; i++) ip->view[i].base = -1;
        if (!st && !mk_ip_plan_views(ip)) st = MK_OOM(e);
    }
    if (st) {
        mk_interp_free(ip);
        return st;
    }
    *out = ip;
    return MK_OK;
}

/* A profile row for the run's own work since the last row (t_mark): binding the inputs before
 * the first op, copying the outputs out and releasing activations after the last. */
static void io_row(mk_interp *ip, const char *name, const char *path, size_t bytes)
{
    if (!ip->rows) return;
    double t1 = mk_ip_now_ms(ip);
    ip->rows[ip->n_rows++] = (mk_op_profile){name, name, path, t1 - ip->t_mark, bytes, 0};
    ip->t_mark = t1;
}

mk_status mk_interp_exec(mk_interp *ip, const mk_tensor *const *inputs, mk_tensor_list *outputs,
                         mk_interp_result *res, mk_err *e)
{
    memset(outputs, 0, sizeof *outputs);
    if (res) memset(res, 0, sizeof *res);
    const mk_program *p = ip->p;
    const mk_function *f = ip->f;
    ip->warning[0] = 0;
    ip->peak = ip->live;
    double t0 = mk_ip_now_ms(ip);
    ip->n_rows = 0;
    memset(ip->prof_ms, 0, sizeof ip->prof_ms);
    memset(ip->prof_n, 0, sizeof ip->prof_n);
    mk_blas_threads(1); /* our threads split the work: see ip_par.c */
    mk_status st = MK_OK;
    for (int i = 0; i < f->n_inputs && !st; i++) {
        int s = mk_pm_get(&ip->slot_of, f->inputs[i]);
        if (f->inputs[i]->is_state) { /* the slot is the state buffer itself */
            mk_rt_release(ip, &ip->slots[s]);
            ip->slots[s] = ip->state[i];
            ip->slots[s].cap = 0;
            ip->slots[s].persist = 1;
            continue;
        }
        st = mk_ip_tensor_to_rt(ip, &ip->slots[s], &f->inputs[i]->type, inputs[i], e);
        if (st) mk_err_prefix(e, "input %s: ", f->inputs[i]->name);
    }
    size_t io_bytes = 0;
    for (int i = 0; i < f->n_inputs; i++) io_bytes += inputs[i] ? inputs[i]->nbytes : 0;
    if (ip->rows) ip->t_mark = t0;
    io_row(ip, "(inputs)", "input binding", io_bytes);
    if (!st) st = mk_ip_run_plan(ip, ip->plans[0], e);
    io_bytes = 0;
    for (int i = 0; i < f->block->n_outputs && !st; i++) {
        const mk_value *v = f->block->outputs[i];
        int s = mk_pm_get(&ip->slot_of, v);
        if ((st = mk_ip_materialize(ip, s, e))) break;
        mk_tensor t;
        const char *nm = f == mk_ir_main(p) && i < p->n_outputs && p->outputs[i].name
                             ? p->outputs[i].name
                             : v->name;
        if ((st = mk_ip_rt_to_tensor(&ip->slots[s], nm ? nm : "output", &t, e))) break;
        io_bytes += t.nbytes;
        st = mk_tensor_list_push(outputs, &t, e);
    }
    if (ip->profile)
        for (int k = 0; k < MK_OP__COUNT; k++)
            if (ip->prof_n[k])
                fprintf(stderr, "profile: %-28s %5d ops %9.3f ms\n",
                        mk_ir_op_info((mk_op_kind)k)->name, ip->prof_n[k], ip->prof_ms[k]);
    if (res) {
        memcpy(res->warning, ip->warning, sizeof res->warning);
        res->warning[sizeof res->warning - 1] = 0;
        res->peak_bytes = ip->peak;
    }
    /* activations go back to the pool; converted constants stay for the next run */
    for (int s = 0; s < ip->n_slots; s++)
        if (!ip->slots[s].persist) mk_rt_release(ip, &ip->slots[s]);
    io_row(ip, "(outputs)", "output copy and release", io_bytes);
    ip->total_ms = mk_ip_now_ms(ip) - t0;
    if (st) mk_tensor_list_free(outputs);
    return st;
}

mk_status mk_interp_run(const mk_program *p, const mk_run_options *opts,
                        const mk_tensor *const *inputs, mk_tensor_list *outputs,
                        mk_interp_result *res, mk_err *e)
{
    memset(outputs, 0, sizeof *outputs);
    if (res) memset(res, 0, sizeof *res);
    mk_interp *ip;
    mk_status st = mk_interp_new(p, opts, &ip, e);
    if (st) return st;
    st = mk_interp_exec(ip, inputs, outputs, res, e);
    mk_interp_free(ip);
    return st;
}
