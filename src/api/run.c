/* Running programs through the public API: seeded random inputs, input matching (by name,
 * dtype class and shape against the model description, flexible ranges allowed), sessions (a
 * planned interpreter kept for many runs; mk_run is a one-run session), and the elementwise
 * comparison used by `milkit verify` and fix checks. The interpreter itself knows nothing about
 * files or model descriptions. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "interp/interp_int.h"
#include "api_int.h"
#include "ir/ir.h"

int mk_program_n_inputs(const mk_program *p)
{
    const mk_function *f = mk_ir_main(p);
    return f ? f->n_inputs : 0;
}

const char *mk_program_input_name(const mk_program *p, int i)
{
    const mk_function *f = mk_ir_main(p);
    return f && i >= 0 && i < f->n_inputs ? f->inputs[i]->name : NULL;
}

static const mk_feature *feature(const mk_program *p, const char *name)
{
    for (int i = 0; i < p->n_inputs; i++)
        if (p->inputs[i].name && strcmp(p->inputs[i].name, name) == 0) return &p->inputs[i];
    return NULL;
}

/* splitmix64: a small seeded generator, state kept by the caller. */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

mk_status mk_random_inputs(const mk_program *p, unsigned long long seed, mk_tensor_list *out,
                           mk_err *err)
{
    memset(out, 0, sizeof *out);
    const mk_function *f = mk_ir_main(p);
    if (!f) return mk_err_set(err, MK_EINVAL, "program has no function");
    uint64_t s = seed;
    for (int i = 0; i < f->n_inputs; i++) {
        const mk_value *v = f->inputs[i];
        if (v->is_state) continue;
        const mk_feature *ft = feature(p, v->name);
        mk_tensor t;
        memset(&t, 0, sizeof t);
        mk_dtype dt = v->type.dtype;
        t.rank = ft ? ft->rank : v->type.rank;
        if (t.rank < 0 || t.rank > 8) {
            mk_tensor_list_free(out);
            return mk_err_set(err, MK_EINVAL, "input %s: unknown rank", v->name);
        }
        size_t n = 1;
        for (int d = 0; d < t.rank; d++) {
            int64_t dim = ft ? ft->shape[d] : v->type.dims[d];
            if (dim < 0 && ft && ft->flex == MK_FLEX_RANGE) dim = ft->range_lo[d];
            if (dim < 0) dim = 1;
            t.dims[d] = dim;
            if (!mk_mul_size(n, (size_t)dim, &n)) {
                mk_tensor_list_free(out);
                return mk_err_set(err, MK_EINVAL, "input %s: shape too large", v->name);
            }
        }
        t.dtype = mk_dtype_is_float(dt) ? 11 : dt == MK_DT_BOOL ? 1 : 23;
        t.nbytes = n * (t.dtype == 1 ? 1 : 4);
        t.data = mk_malloc(NULL, t.nbytes ? t.nbytes : 1);
        if (!t.data) {
            mk_tensor_list_free(out);
            return mk_err_set(err, MK_ENOMEM, "input %s (random, %zu bytes): %s", v->name, t.nbytes,
                              mk_oom_reason());
        }
        t.name = mk_strdup_default(v->name);
        if (!t.name) {
            mk_tensor_free(&t);
            mk_tensor_list_free(out);
            return MK_OOM(err);
        }
        for (size_t j = 0; j < n; j++) {
            uint64_t r = next_u64(&s);
            if (t.dtype == 11)
                ((float *)t.data)[j] = (float)((double)(r >> 11) * 0x1p-53 * 2.0 - 1.0);
            else if (t.dtype == 23)
                ((int32_t *)t.data)[j] = (int32_t)(r % 4);
            else
                ((uint8_t *)t.data)[j] = (uint8_t)(r & 1);
        }
        mk_status st = mk_tensor_list_push(out, &t, err);
        if (st) {
            mk_tensor_list_free(out);
            return st;
        }
    }
    return MK_OK;
}

static int dtype_class(int dt)
{
    if (dt == 1) return 2;
    return mk_dtype_is_float((mk_dtype)dt) ? 0 : 1;
}

static void shape_str(int rank, const int64_t *d, char *buf, size_t n)
{
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < rank && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? ", " : "", (long long)d[i]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

static mk_status check_input(const mk_program *p, const mk_function *f, const mk_value *v,
                             const mk_tensor *t, mk_err *err)
{
    char got[160], want[160];
    const mk_feature *ft = mk_ir_feature(p, f, v->name, 0);
    mk_dtype dt = v->type.dtype;
    if (!mk_npy_dtype_size(t->dtype) || dtype_class(t->dtype) != dtype_class(dt))
        return mk_err_set(err, MK_EINVAL, "input %s: dtype %s, model expects %s", v->name,
                          mk_dtype_name((mk_dtype)t->dtype) ? mk_dtype_name((mk_dtype)t->dtype)
                                                            : "unknown",
                          mk_dtype_name(dt) ? mk_dtype_name(dt) : "?");
    size_t n = 1, es = (size_t)mk_npy_dtype_size(t->dtype);
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] < 0 || !mk_mul_size(n, (size_t)t->dims[i], &n))
            return mk_err_set(err, MK_EINVAL, "input %s: bad shape", v->name);
    if (!mk_mul_size(n, es, &n) || n > t->nbytes)
        return mk_err_set(err, MK_EINVAL, "input %s: data smaller than its shape", v->name);
    shape_str(t->rank, t->dims, got, sizeof got);
    int rank = ft ? ft->rank : v->type.rank;
    if (t->rank == 0 && rank == 1 && v->type.dims[0] == 1) return MK_OK; /* scalar input as [1] */
    if (rank >= 0 && rank != t->rank) {
        shape_str(rank, ft ? ft->shape : v->type.dims, want, sizeof want);
        return mk_err_set(err, MK_EINVAL, "input %s: shape %s, model expects rank %d %s", v->name,
                          got, rank, want);
    }
    if (ft && ft->flex == MK_FLEX_ENUMERATED && ft->n_enumerated > 0) {
        for (int e = 0; e < ft->n_enumerated; e++)
            if (memcmp(ft->enumerated[e], t->dims, (size_t)rank * sizeof(int64_t)) == 0)
                return MK_OK;
        return mk_err_set(err, MK_EINVAL,
                          "input %s: shape %s is not one of the %d enumerated shapes", v->name, got,
                          ft->n_enumerated);
    }
    for (int i = 0; i < rank; i++) {
        int64_t d = t->dims[i];
        if (ft && ft->flex == MK_FLEX_RANGE) {
            if (d < ft->range_lo[i] || (ft->range_hi[i] >= 0 && d > ft->range_hi[i]))
                return mk_err_set(err, MK_EINVAL,
                                  "input %s: shape %s, dim %d must be in %lld..%lld", v->name, got,
                                  i, (long long)ft->range_lo[i], (long long)ft->range_hi[i]);
            continue;
        }
        int64_t w = ft ? ft->shape[i] : v->type.dims[i];
        if (!ft && w < 0) continue;
        if (ft && ft->flex == MK_FLEX_NONE && v->type.dims[i] < 0) continue;
        if (d != w) {
            shape_str(rank, ft ? ft->shape : v->type.dims, want, sizeof want);
            return mk_err_set(err, MK_EINVAL, "input %s: shape %s, model expects %s", v->name, got,
                              want);
        }
    }
    return MK_OK;
}

struct mk_session {
    const mk_program *p;
    mk_interp *ip;
};

mk_interp *mk_session_interp(mk_session *s)
{
    return s->ip;
}

mk_status mk_session_new(const mk_program *p, const mk_run_options *opts, mk_session **out,
                         mk_err *err)
{
    if (!p) {
        *out = NULL;
        return mk_err_set(err, MK_EINVAL, "run: no program");
    }
    return mk_session_new_fn(p, mk_ir_main(p), opts, out, err);
}

mk_status mk_session_new_fn(const mk_program *p, const mk_function *f, const mk_run_options *opts,
                            mk_session **out, mk_err *err)
{
    *out = NULL;
    mk_session *s = mk_calloc(NULL, 1, sizeof *s);
    if (!s) return MK_OOM(err);
    s->p = p;
    mk_status st = mk_interp_new_fn(p, f, opts, &s->ip, err);
    if (st) {
        mk_free(NULL, s, sizeof *s);
        return st;
    }
    *out = s;
    return MK_OK;
}

void mk_session_set_semantics(mk_session *s, const mk_run_semantics *sem)
{
    if (s) mk_interp_set_framework_pool(s->ip, sem && sem->framework_pool_overhang);
}

void mk_session_set_profile(mk_session *s, int on)
{
    if (s) mk_interp_set_profile(s->ip, on);
}

const mk_op_profile *mk_session_profile(const mk_session *s, int *n, double *total_ms)
{
    return mk_interp_profile(s ? s->ip : NULL, n, total_ms);
}

void mk_session_free(mk_session *s)
{
    if (!s) return;
    mk_interp_free(s->ip);
    mk_free(NULL, s, sizeof *s);
}

mk_status mk_session_run(mk_session *s, const mk_tensor_list *inputs, mk_tensor_list *outputs,
                         mk_run_report *rep, mk_err *err)
{
    memset(outputs, 0, sizeof *outputs);
    if (rep) memset(rep, 0, sizeof *rep);
    const mk_program *p = s->p;
    const mk_function *f = mk_interp_function(s->ip);
    const mk_tensor *buf[64];
    const mk_tensor **ins = buf;
    if (f->n_inputs > 64) {
        ins = mk_calloc(NULL, (size_t)f->n_inputs, sizeof *ins);
        if (!ins) return MK_OOM(err);
    }
    mk_status st = MK_OK;
    char names[512];
    mk_api_input_names(f, names, sizeof names);
    for (int i = 0; i < f->n_inputs && !st; i++) {
        if (f->inputs[i]->is_state) { /* the session's state buffer */
            ins[i] = NULL;
            continue;
        }
        ins[i] = inputs ? mk_tensor_list_match(inputs, f->inputs[i]->name) : NULL;
        if (!ins[i] && inputs && inputs->n == f->n_inputs && f->n_inputs == 1 &&
            (!inputs->items[0].name || !mk_tensor_list_find(inputs, f->inputs[0]->name)))
            ins[i] = &inputs->items[0]; /* a single unnamed/renamed tensor feeds a 1-input model */
        if (!ins[i])
            st = mk_err_set(err, MK_EINVAL, "input %s: missing (model inputs: %s)",
                            f->inputs[i]->name, names);
        else
            st = check_input(p, f, f->inputs[i], ins[i], err);
    }
    for (int j = 0; inputs && j < inputs->n && !st; j++) {
        const char *nm = inputs->items[j].name;
        int known = f->n_inputs == 1 && inputs->n == 1;
        for (int i = 0; i < f->n_inputs && !known; i++)
            known = !f->inputs[i]->is_state && mk_name_matches(f->inputs[i]->name, nm);
        for (int i = 0; i < f->n_inputs && !known && !st; i++)
            if (f->inputs[i]->is_state && mk_name_matches(f->inputs[i]->name, nm))
                st = mk_err_set(err, MK_EINVAL,
                                "'%s' is a state, not an input (set it with --state-in or "
                                "mk_session_state_set)",
                                nm);
        if (!known && !st)
            st = mk_err_set(err, MK_EINVAL, "unknown input '%s' (model inputs: %s)", nm ? nm : "?",
                            names);
    }
    mk_interp_result res;
    if (!st) st = mk_interp_exec(s->ip, ins, outputs, &res, err);
    if (!st && rep) {
        memcpy(rep->warning, res.warning, sizeof rep->warning);
        rep->peak_bytes = res.peak_bytes;
    }
    if (ins != buf) mk_free(NULL, ins, (size_t)f->n_inputs * sizeof *ins);
    return st;
}

mk_status mk_run_ex(const mk_program *p, const mk_run_options *opts, const mk_tensor_list *inputs,
                    mk_tensor_list *outputs, mk_run_report *rep, mk_err *err)
{
    memset(outputs, 0, sizeof *outputs);
    if (rep) memset(rep, 0, sizeof *rep);
    mk_session *s;
    mk_status st = mk_session_new(p, opts, &s, err);
    if (st) return st;
    st = mk_session_run(s, inputs, outputs, rep, err);
    mk_session_free(s);
    return st;
}

mk_status mk_run(const mk_program *p, const mk_run_options *opts, const mk_tensor_list *inputs,
                 mk_tensor_list *outputs, mk_err *err)
{
    return mk_run_ex(p, opts, inputs, outputs, NULL, err);
}

int mk_name_matches(const char *model_name, const char *ext)
{
    if (!model_name || !ext) return 0;
    if (strcmp(model_name, ext) == 0) return 1;
    char clean[300];
    size_t n = 0;
    if (!((ext[0] >= 'A' && ext[0] <= 'Z') || (ext[0] >= 'a' && ext[0] <= 'z') || ext[0] == '_'))
        n = (size_t)snprintf(clean, sizeof clean, "var_");
    else if (ext[0] == '_')
        n = (size_t)snprintf(clean, sizeof clean, "var");
    for (const char *c = ext; *c && n < 200; c++) {
        int ok = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9');
        clean[n++] = ok || *c == '_' ? *c : '_';
    }
    clean[n] = 0;
    if (strcmp(model_name, clean) == 0) return 1;
    return strncmp(model_name, clean, n) == 0 && strcmp(model_name + n, "_workaround") == 0;
}

const mk_tensor *mk_tensor_list_match(const mk_tensor_list *l, const char *model_name)
{
    const mk_tensor *t = mk_tensor_list_find(l, model_name);
    for (int i = 0; !t && l && i < l->n; i++)
        if (mk_name_matches(model_name, l->items[i].name)) t = &l->items[i];
    return t;
}

const mk_tensor *mk_tensor_list_find(const mk_tensor_list *l, const char *name)
{
    for (int i = 0; l && name && i < l->n; i++)
        if (l->items[i].name && strcmp(l->items[i].name, name) == 0) return &l->items[i];
    return NULL;
}

static double elem(const mk_tensor *t, size_t i)
{
    const void *d = t->data;
    switch (t->dtype) {
    case 10: return mk_f16_to_f32(((const uint16_t *)d)[i]);
    case 11: return ((const float *)d)[i];
    case 12: return ((const double *)d)[i];
    case 21: return ((const int8_t *)d)[i];
    case 22: return ((const int16_t *)d)[i];
    case 23: return ((const int32_t *)d)[i];
    case 24: return (double)((const int64_t *)d)[i];
    case 31:
    case 1: return ((const uint8_t *)d)[i];
    case 32: return ((const uint16_t *)d)[i];
    default: return 0;
    }
}

/* Shape without leading 1s. */
static int squeeze_lead(const mk_tensor *t, const int64_t **d)
{
    int r = t->rank, s = 0;
    while (s < r - 1 && t->dims[s] == 1) s++;
    *d = t->dims + s;
    return r - s;
}

mk_status mk_compare(const mk_tensor *a, const mk_tensor *b, double atol, double rtol,
                     mk_compare_result *out, mk_err *err)
{
    memset(out, 0, sizeof *out);
    if (!mk_npy_dtype_size(a->dtype) || !mk_npy_dtype_size(b->dtype))
        return mk_err_set(err, MK_EUNSUPPORTED, "%s: cannot compare dtype %d with %d",
                          b->name ? b->name : "tensor", a->dtype, b->dtype);
    const int64_t *da, *db;
    int ra = squeeze_lead(a, &da), rb = squeeze_lead(b, &db);
    size_t na = 1, nb = 1;
    for (int i = 0; i < a->rank; i++) na *= (size_t)a->dims[i];
    for (int i = 0; i < b->rank; i++) nb *= (size_t)b->dims[i];
    if (na * (size_t)mk_npy_dtype_size(a->dtype) > a->nbytes ||
        nb * (size_t)mk_npy_dtype_size(b->dtype) > b->nbytes)
        return mk_err_set(err, MK_EINVAL, "%s: data smaller than its shape",
                          b->name ? b->name : "tensor");
    out->shape_ok = ra == rb && memcmp(da, db, (size_t)ra * sizeof *da) == 0 && na == nb;
    out->rank = b->rank;
    out->numel = nb;
    if (!out->shape_ok) {
        out->pass = 0;
        out->max_abs = out->max_rel = INFINITY;
        return MK_OK;
    }
    double dot = 0, aa = 0, bb = 0, ee = 0, worst = -INFINITY;
    for (size_t i = 0; i < na; i++) {
        double x = elem(a, i), y = elem(b, i), d, rel, over;
        out->nan_a += isnan(x) != 0;
        out->inf_a += isinf(x) != 0;
        out->nan_b += isnan(y) != 0;
        out->inf_b += isinf(y) != 0;
        if (isnan(x) || isnan(y)) {
            d = isnan(x) && isnan(y) ? 0 : INFINITY;
        } else if (isinf(x) || isinf(y)) {
            d = x == y ? 0 : INFINITY;
        } else {
            d = fabs(x - y);
            dot += x * y;
            aa += x * x;
            bb += y * y;
            ee += d * d;
        }
        rel = d == 0 ? 0 : d / fmax(fabs(y), 1e-12);
        over = d - (atol + rtol * (isfinite(y) ? fabs(y) : 0));
        if (d > out->max_abs) out->max_abs = d;
        if (rel > out->max_rel) out->max_rel = rel;
        if (over > 0) out->n_bad++;
        if (over > worst) {
            worst = over;
            out->worst_index = i;
            out->worst_a = x;
            out->worst_b = y;
        }
    }
    out->cosine = aa == 0 && bb == 0 ? 1.0 : (aa == 0 || bb == 0) ? 0.0 : dot / sqrt(aa * bb);
    out->has_cosine =
        na >= 16 && !(out->nan_a + out->inf_a + out->nan_b + out->inf_b) && isfinite(out->cosine);
    out->snr_db = out->max_abs == INFINITY ? -INFINITY /* a non-finite mismatch */
                  : ee == 0                ? INFINITY
                  : bb == 0                ? -INFINITY
                                           : 10 * log10(bb / ee);
    size_t rem = out->worst_index;
    for (int i = b->rank - 1; i >= 0; i--) {
        out->worst_coord[i] = b->dims[i] ? (int64_t)(rem % (size_t)b->dims[i]) : 0;
        rem = b->dims[i] ? rem / (size_t)b->dims[i] : 0;
    }
    out->pass = out->n_bad == 0;
    return MK_OK;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* mk_tensors_load_for's filter: judge an .npz member by its header against p's inputs. */
static mk_status approve_member(void *ud, const mk_tensor *hdr, int n_members, int *skip,
                                mk_err *err)
{
    const mk_program *p = ud;
    const mk_function *f = mk_ir_main(p);
    if (!f) return MK_OK;
    const mk_value *v = NULL;
    for (int i = 0; i < f->n_inputs && !v; i++)
        if (mk_name_matches(f->inputs[i]->name, hdr->name)) v = f->inputs[i];
    if (!v && f->n_inputs == 1 && n_members == 1) v = f->inputs[0];
    if (!v) {
        *skip = 0;
        if (hdr->nbytes <= 4096) return MK_OK; /* the run names it */
        char names[512];
        mk_api_input_names(f, names, sizeof names);
        return mk_err_set(err, MK_EINVAL, "unknown input '%s' (model inputs: %s)", hdr->name,
                          names);
    }
    return check_input(p, f, v, hdr, err);
}

static mk_status load_specs(const mk_program *load_for, int n, const char *const *specs,
                            mk_tensor_list *out, mk_err *err)
{
    for (int i = 0; i < n; i++) {
        const char *sp = specs[i], *eq = strchr(sp, '=');
        mk_status st;
        if (eq && !ends_with(sp, ".npz")) {
            mk_tensor t;
            if ((st = mk_npy_read(eq + 1, &t, err))) goto fail;
            mk_free(NULL, t.name, strlen(t.name) + 1);
            size_t nl = (size_t)(eq - sp);
            t.name = mk_malloc(NULL, nl + 1);
            if (!t.name) {
                mk_tensor_free(&t);
                st = MK_OOM(err);
                goto fail;
            }
            memcpy(t.name, sp, nl);
            t.name[nl] = 0;
            if ((st = mk_tensor_list_push(out, &t, err))) goto fail;
        } else if (ends_with(sp, ".npz")) {
            mk_tensor_list z;
            st = load_for ? mk_npz_read_filtered(sp, approve_member, (void *)load_for, &z, err)
                          : mk_npz_read(sp, &z, err);
            if (st) goto fail;
            for (int j = 0; j < z.n && !st; j++) st = mk_tensor_list_push(out, &z.items[j], err);
            mk_tensor_list_free(&z);
            if (st) goto fail;
        } else {
            mk_tensor t;
            if ((st = mk_npy_read(sp, &t, err))) goto fail;
            if ((st = mk_tensor_list_push(out, &t, err))) goto fail;
        }
        continue;
    fail:
        mk_tensor_list_free(out);
        return st;
    }
    return MK_OK;
}

mk_status mk_tensors_load(int n, const char *const *specs, mk_tensor_list *out, mk_err *err)
{
    return load_specs(NULL, n, specs, out, err);
}

mk_status mk_tensors_load_for(const mk_program *p, int n, const char *const *specs,
                              mk_tensor_list *out, mk_err *err)
{
    return load_specs(p, n, specs, out, err);
}

/* mk_tensors_load_shapes's filter: keep a member's name and header, never its data. */
static mk_status keep_header(void *ud, const mk_tensor *hdr, int n_members, int *skip, mk_err *err)
{
    (void)n_members;
    mk_tensor t = *hdr;
    t.data = NULL;
    t.nbytes = 0;
    t.name = mk_strdup_default(hdr->name ? hdr->name : "");
    *skip = 1;
    if (!t.name) return MK_OOM(err);
    return mk_tensor_list_push(ud, &t, err);
}

static mk_status npy_header_only(const char *path, const char *name, size_t name_len,
                                 mk_tensor_list *out, mk_err *err)
{
    mk_mapped m;
    mk_status st = mk_file_map(path, &m, err);
    if (st) return st;
    mk_tensor t;
    size_t off = 0;
    st = mk_npy_header(m.data, m.size, path, &t, &off, err);
    mk_file_unmap(&m);
    if (st) return st;
    t.data = NULL;
    t.nbytes = 0;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (!name) {
        name = base;
        name_len = strlen(base);
        if (ends_with(base, ".npy")) name_len -= 4;
    }
    if (!(t.name = mk_malloc(NULL, name_len + 1))) return MK_OOM(err);
    memcpy(t.name, name, name_len);
    t.name[name_len] = 0;
    return mk_tensor_list_push(out, &t, err);
}

mk_status mk_tensors_load_shapes(int n, const char *const *specs, mk_tensor_list *out, mk_err *err)
{
    mk_status st = MK_OK;
    for (int i = 0; i < n && !st; i++) {
        const char *sp = specs[i], *eq = strchr(sp, '=');
        if (ends_with(sp, ".npz")) {
            mk_tensor_list z = {0, NULL};
            st = mk_npz_read_filtered(sp, keep_header, &z, &z, err);
            for (int j = 0; j < z.n && !st; j++) st = mk_tensor_list_push(out, &z.items[j], err);
            mk_tensor_list_free(&z);
        } else if (eq) {
            st = npy_header_only(eq + 1, sp, (size_t)(eq - sp), out, err);
        } else {
            st = npy_header_only(sp, NULL, 0, out, err);
        }
    }
    if (st) mk_tensor_list_free(out);
    return st;
}

mk_status mk_tensors_save(const char *path, const mk_tensor_list *l, mk_err *err)
{
    if (ends_with(path, ".npy")) {
        if (l->n != 1)
            return mk_err_set(err, MK_EINVAL, "%s: a .npy file holds one tensor, not %d (use .npz)",
                              path, l->n);
        return mk_npy_write(path, &l->items[0], err);
    }
    return mk_npz_write(path, l, err);
}

/* 1 when t holds the same values as want (compared at fp32 when either is a float type). */
static int same_values(const mk_tensor *t, const mk_tensor *want)
{
    size_t n = 1, m = 1, es = (size_t)mk_npy_dtype_size(t->dtype),
           ew = (size_t)mk_npy_dtype_size(want->dtype);
    for (int i = 0; i < t->rank; i++) n *= (size_t)t->dims[i];
    for (int i = 0; i < want->rank; i++) m *= (size_t)want->dims[i];
    if (n != m || !es || !ew || n * es > t->nbytes || m * ew > want->nbytes) return 0;
    int fl = mk_dtype_is_float((mk_dtype)t->dtype) || mk_dtype_is_float((mk_dtype)want->dtype);
    for (size_t i = 0; i < n; i++) {
        double x = elem(t, i), y = elem(want, i);
        if (fl ? (float)x != (float)y : x != y) return 0;
    }
    return 1;
}

mk_status mk_tensors_drop_bound(mk_tensor_list *l, int n_binds, const char *const *binds,
                                mk_err *err)
{
    for (int b = 0; b < n_binds; b++) {
        const char *eq = strchr(binds[b], '=');
        if (!eq) continue;
        int idx = -1;
        size_t ln = (size_t)(eq - binds[b]);
        for (int i = 0; i < l->n && idx < 0; i++)
            if (l->items[i].name && strlen(l->items[i].name) == ln &&
                strncmp(l->items[i].name, binds[b], ln) == 0)
                idx = i;
        if (idx < 0) continue;
        mk_tensor want;
        memset(&want, 0, sizeof want);
        mk_status st;
        if (eq[1] == '@') {
            if ((st = mk_npy_read(eq + 2, &want, err))) return st;
        } else {
            char *end;
            double v = strtod(eq + 1, &end);
            if (end == eq + 1 || *end)
                return mk_err_set(err, MK_EINVAL, "--bind %s: not a number", binds[b]);
            want.dtype = MK_DT_FP64;
            want.data = &v;
            want.nbytes = sizeof v;
            int same = same_values(&l->items[idx], &want);
            want.data = NULL;
            if (!same)
                return mk_err_set(err, MK_EINVAL,
                                  "input %.*s: the given tensor (first value %.9g) differs from "
                                  "--bind %s",
                                  (int)ln, binds[b],
                                  l->items[idx].nbytes ? elem(&l->items[idx], 0) : NAN, binds[b]);
        }
        if (want.data) {
            int same = same_values(&l->items[idx], &want);
            mk_tensor_free(&want);
            if (!same)
                return mk_err_set(err, MK_EINVAL,
                                  "input %.*s: the given tensor differs from --bind %s", (int)ln,
                                  binds[b], binds[b]);
        }
        mk_tensor_free(&l->items[idx]);
        memmove(&l->items[idx], &l->items[idx + 1], (size_t)(l->n - idx - 1) * sizeof *l->items);
        l->n--;
    }
    return MK_OK;
}

/* Tensor t re-encoded as dtype dt (values converted one by one) and, when rank is 0 and t
 * holds one element, as a scalar. */
static mk_status recast(mk_tensor *t, int dt, int rank, mk_err *err)
{
    size_t n = 1, es = (size_t)mk_npy_dtype_size(dt);
    for (int i = 0; i < t->rank; i++) n *= (size_t)t->dims[i];
    if (rank == 0 && n == 1) t->rank = 0;
    if (!es || dt == t->dtype) return MK_OK;
    size_t nb;
    if (!mk_mul_size(n, es, &nb)) return mk_err_set(err, MK_EINVAL, "%s: too large", t->name);
    void *d = mk_malloc(NULL, nb ? nb : 1);
    if (!d) return MK_OOM(err);
    for (size_t i = 0; i < n; i++) {
        double v = elem(t, i);
        char *o = (char *)d + i * es;
        switch (dt) {
        case MK_DT_FP16: {
            uint16_t h = mk_f32_to_f16((float)v);
            memcpy(o, &h, 2);
        } break;
        case MK_DT_FP32: {
            float f = (float)v;
            memcpy(o, &f, 4);
        } break;
        case MK_DT_FP64: memcpy(o, &v, 8); break;
        case MK_DT_INT8: *(int8_t *)o = (int8_t)v; break;
        case MK_DT_INT16: {
            int16_t x = (int16_t)v;
            memcpy(o, &x, 2);
        } break;
        case MK_DT_INT32: {
            int32_t x = (int32_t)v;
            memcpy(o, &x, 4);
        } break;
        case MK_DT_INT64: {
            int64_t x = (int64_t)v;
            memcpy(o, &x, 8);
        } break;
        case MK_DT_UINT16: {
            uint16_t x = (uint16_t)v;
            memcpy(o, &x, 2);
        } break;
        case MK_DT_BOOL: *(uint8_t *)o = v != 0; break;
        default: *(uint8_t *)o = (uint8_t)v; break;
        }
    }
    mk_free(NULL, t->data, t->nbytes);
    t->data = d;
    t->nbytes = nb;
    t->dtype = dt;
    return MK_OK;
}

mk_status mk_tensors_as_declared(const char *model_path, const mk_program *p, mk_tensor_list *l,
                                 mk_err *err)
{
    if (ends_with(model_path, ".onnx")) {
        mk_io_decls d;
        mk_status st = mk_onnx_describe(model_path, &d, err);
        for (int i = 0; !st && i < d.n_inputs; i++) {
            mk_tensor *t = (mk_tensor *)mk_tensor_list_find(l, d.inputs[i].name);
            if (t && d.inputs[i].dtype) st = recast(t, d.inputs[i].dtype, d.inputs[i].rank, err);
        }
        if (!st) mk_io_decls_free(&d);
        return st;
    }
    for (int i = 0; i < p->n_inputs; i++) {
        mk_tensor *t = (mk_tensor *)mk_tensor_list_find(l, p->inputs[i].name);
        mk_status st = t ? recast(t, p->inputs[i].dtype, p->inputs[i].rank, err) : MK_OK;
        if (st) return st;
    }
    return MK_OK;
}

static void join_names(char *buf, size_t n, int count, const char *(*name)(const void *, int),
                       const void *owner)
{
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < count && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%s", i ? ", " : "", name(owner, i));
}

static const char *input_name(const void *f, int i)
{
    return ((const mk_function *)f)->inputs[i]->name;
}

static const char *function_name(const void *p, int i)
{
    return ((const mk_program *)p)->functions[i]->name;
}

void mk_api_input_names(const mk_function *f, char *buf, size_t n)
{
    join_names(buf, n, f->n_inputs, input_name, f);
}

void mk_api_function_names(const mk_program *p, char *buf, size_t n)
{
    join_names(buf, n, p->n_functions, function_name, p);
}
