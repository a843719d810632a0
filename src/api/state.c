/* iOS18 state and multi-function programs through the public API: sessions on a named
 * function, the session's state buffers by name, and the program's function list. */
#include <string.h>

#include "interp/interp_int.h"
#include "api_int.h"
#include "ir/ir.h"

int mk_program_n_functions(const mk_program *p)
{
    return p ? p->n_functions : 0;
}

const char *mk_program_function_name(const mk_program *p, int i)
{
    return p && i >= 0 && i < p->n_functions ? p->functions[i]->name : NULL;
}

const char *mk_program_default_function(const mk_program *p)
{
    const mk_function *f = p ? mk_ir_main(p) : NULL;
    return f ? f->name : NULL;
}

mk_status mk_program_set_default_function(mk_program *p, const char *name, mk_err *err)
{
    const mk_function *f = mk_ir_function_find(p, name);
    if (!f) {
        char names[512];
        mk_api_function_names(p, names, sizeof names);
        return mk_err_set(err, MK_EINVAL, "no function '%s' (functions: %s)", name ? name : "",
                          names);
    }
    if (f == mk_ir_main(p) && (!p->n_fdescs || p->default_function)) return MK_OK;
    const char *nm = mk_arena_strdup(p->arena, f->name);
    if (!nm) return MK_OOM(err);
    p->default_function = nm;
    for (int i = 0; i < p->n_fdescs; i++)
        if (p->fdescs[i].name && strcmp(p->fdescs[i].name, nm) == 0) {
            const mk_fdesc *d = &p->fdescs[i];
            p->inputs = d->inputs, p->n_inputs = d->n_inputs;
            p->outputs = d->outputs, p->n_outputs = d->n_outputs;
            p->states = d->states, p->n_states = d->n_states;
        }
    return MK_OK;
}

mk_status mk_session_new_function(const mk_program *p, const char *function,
                                  const mk_run_options *opts, mk_session **out, mk_err *err)
{
    *out = NULL;
    const mk_function *f = function ? mk_ir_function_find(p, function) : mk_ir_main(p);
    if (!f) {
        char names[512];
        mk_api_function_names(p, names, sizeof names);
        return mk_err_set(err, MK_EINVAL, "no function '%s' (functions: %s)",
                          function ? function : "", names);
    }
    return mk_session_new_fn(p, f, opts, out, err);
}

static const mk_value *state_at(const mk_session *s, int i)
{
    const mk_function *f = mk_interp_function(mk_session_interp((mk_session *)s));
    for (int k = 0; k < f->n_inputs; k++)
        if (f->inputs[k]->is_state && i-- == 0) return f->inputs[k];
    return NULL;
}

int mk_session_n_states(const mk_session *s)
{
    int n = 0;
    while (state_at(s, n)) n++;
    return n;
}

const char *mk_session_state_name(const mk_session *s, int i)
{
    const mk_value *v = i >= 0 ? state_at(s, i) : NULL;
    return v ? v->name : NULL;
}

mk_status mk_session_state_get(mk_session *s, const char *name, mk_tensor *out, mk_err *err)
{
    memset(out, 0, sizeof *out);
    return mk_interp_state_get(mk_session_interp(s), name, out, err);
}

mk_status mk_session_state_set(mk_session *s, const char *name, const mk_tensor *t, mk_err *err)
{
    return mk_interp_state_set(mk_session_interp(s), name, t, err);
}

mk_status mk_session_states_get(mk_session *s, mk_tensor_list *out, mk_err *err)
{
    memset(out, 0, sizeof *out);
    for (int k = 0; k < mk_session_n_states(s); k++) {
        mk_tensor t;
        mk_status st = mk_session_state_get(s, mk_session_state_name(s, k), &t, err);
        if (!st) st = mk_tensor_list_push(out, &t, err);
        if (st) {
            mk_tensor_list_free(out);
            return st;
        }
    }
    return MK_OK;
}
