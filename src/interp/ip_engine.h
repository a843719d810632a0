/* The interpreter engine's private state, shared by interp.c and ip_*.c: the session struct,
 * block and op plans, and the helpers one engine file offers another. Kernels (k_*.c) see only
 * interp_int.h. */
#ifndef MK_IP_ENGINE_H
#define MK_IP_ENGINE_H

#include <stdint.h>
#include <string.h>

#include "interp_int.h"

typedef struct mk_pool mk_pool;

/* ---- value / block -> index (a base pointer map holding index + 1, so absent reads -1) ---- */
static inline int mk_pm_get(const mk_ptrmap *m, const void *k)
{
    return (int)((intptr_t)mk_ptrmap_get(m, k) - 1);
}

static inline int mk_pm_put(mk_ptrmap *m, const void *k, int v)
{
    return mk_ptrmap_put(m, k, (void *)((intptr_t)v + 1));
}

#define POOL_MAX 128
#define POOL_MIN_BYTES 4096 /* smaller buffers go straight back to the allocator */

/* ---- plans ---- */
typedef struct oplan {
    const mk_op *op;
    mk_kernel fn;
    int n_ins, n_attrs, n_outs, n_free;
    int *ins, *attrs, *outs, *frees;
    mk_epi *epi;  /* activations fused onto this op's output (a host kernel), or NULL */
    int fused_in; /* >= 0: this op was fused into its producer; ins[fused_in] holds its result */
    /* ops whose output types follow from their operands' types and constant values only: the
     * last inference (n_ins operand types, then n_outs output types), reused while the operand
     * types stay the same and every non-constant operand is float data; NULL for other ops */
    struct infer_memo {
        int valid;
        mk_type *types;
    } * memo;
} oplan;

typedef struct bplan {
    const mk_block *b;
    int n_ops;
    oplan *ops;
    int n_defs; /* slots defined in this block (inputs and op outputs), released at its end */
    int *defs;
} bplan;

struct mk_interp {
    const mk_program *p;
    const mk_function *f;
    const mk_allocator *alloc;
    mk_arena *ar;
    int fp16, threads, fuse;
    int framework_pool; /* mk_run_semantics.framework_pool_overhang */
    mk_ptrmap slot_of;  /* mk_value* -> slot */
    mk_ptrmap plan_of;  /* mk_block* -> index in plans */
    int n_slots, cap_slots;
    mk_rt *slots;
    const mk_value **slot_val;
    const mk_block **slot_def;
    int n_plans, cap_plans;
    bplan **plans;
    size_t live, peak; /* bytes held by slots now / at most during this run */
    size_t hwm;        /* the largest peak of any run so far */
    struct view {
        int base;
        size_t off, numel;
    } * view; /* per slot; base -1: none */
    char warning[512];
    mk_interp_observer observe; /* sees each op's float outputs (calibration) */
    void *observe_ud;
    void *scratch;
    size_t scratch_n;
    mk_rt *state; /* per function input: the state buffer of a state input (kept across runs) */
    /* MILKIT_PROFILE set: per-kind op times to stderr after each run (thread CPU time with one
     * thread); MILKIT_PROFILE=1 also prints every op with its shapes. MILKIT_NO_FUSE=1 turns
     * fusion and concat views off (to compare). */
    int profile;
    double prof_ms[MK_OP__COUNT];
    int prof_n[MK_OP__COUNT];
    int n_threads, tpool_failed; /* the pool: ip_par.c */
    struct mk_pool *tpool;
    void *tscratch[MK_PAR_MAX];
    size_t tscratch_n[MK_PAR_MAX];
    /* mk_interp_set_profile: a row per top-level op of the last run */
    int prof_on, depth, n_rows;
    mk_op_profile *rows;
    double total_ms, t_mark;
    const char *cur_path; /* set by run_op for its row */
    size_t cur_bytes;
    /* freed activation buffers kept for reuse within the run (fewer page faults) */
    int n_pool;
    void *pool[POOL_MAX];
    size_t pool_cap[POOL_MAX];
    size_t pool_bytes;
    struct mk_kcache_ent *kcache; /* mk_kcache: per-op memory kept across runs (ip_kcache.c) */
};

#define FUSED_SKIP (-2) /* oplan.fused_in: an inner op of a fused pattern; does nothing at all */

static inline const char *mk_ip_op_label(const mk_op *op)
{
    return op->name ? op->name : (op->n_outputs ? op->outputs[0]->name : "?");
}

/* ip_plan.c: slots and block plans */
int mk_ip_add_slot(mk_interp *ip, const mk_value *v, const mk_block *def);
/* Register every value of block b (and nested blocks) as a slot. */
int mk_ip_register_block(mk_interp *ip, const mk_block *b);
/* Plan block b and its nested blocks (last: scratch of n_slots ints); 0 on failure. */
int mk_ip_plan_all(mk_interp *ip, const mk_block *b, int *last, mk_err *e);
/* ip_fuse.c, ip_views.c: 0 on OOM */
int mk_ip_plan_fusion(mk_interp *ip);
int mk_ip_plan_views(mk_interp *ip);
/* A scalar constant of any numeric dtype bound to op parameter `name` (absent: def). */
int mk_ip_const_param_any(const mk_op *op, const char *name, double def, double *out);
/* ip_pool.c */
mk_status mk_ip_rt_alloc(mk_interp *ip, mk_rt *r, const mk_type *t, mk_err *e);
mk_status mk_ip_alloc_slot(mk_interp *ip, int s, const mk_type *t, mk_err *e);
/* ip_const.c */
double mk_ip_raw_f64(mk_dtype dt, const void *d, size_t i);
mk_status mk_ip_rt_from_raw(mk_interp *ip, mk_rt *r, const mk_type *t, const void *raw,
                            size_t raw_bytes, int round16, mk_err *e);
mk_status mk_ip_materialize(mk_interp *ip, int s, mk_err *e);
const void *mk_ip_declared_view(const mk_interp *ip, int s, void **tmp, size_t *tmp_n);
/* ip_run.c */
/* The profile clock: CPU time of this thread with one thread (steady on a busy machine), else
 * wall time. */
double mk_ip_now_ms(const mk_interp *ip);
/* ip_par.c: threads for a requested count (0: every core); stop the pool */
int mk_ip_thread_count(int requested);
void mk_ip_pool_free(mk_interp *ip);
mk_status mk_ip_run_plan(mk_interp *ip, const bplan *bp, mk_err *e);
/* ip_kcache.c: free what kernels kept with the session */
void mk_ip_kcache_free(mk_interp *ip);
/* ip_io.c */
mk_status mk_ip_tensor_to_rt(mk_interp *ip, mk_rt *r, const mk_type *decl, const mk_tensor *t,
                             mk_err *e);
mk_status mk_ip_rt_to_tensor(const mk_rt *r, const char *name, mk_tensor *t, mk_err *e);

#endif
