/* `milkit run` options for iOS18 state and multi-function packages: --function picks the
 * function, --state-in/--state-out load and save the session's state buffers by state name,
 * and --steps N --feed OUT=IN runs N times feeding outputs back to inputs (a decode loop). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_state_opt(int argc, char **argv, int *i, cli_state_opts *so)
{
    int missing = 0;
    const char *v;
    if ((v = cli_opt(argc, argv, i, "--function", &missing))) {
        so->function = v;
    } else if ((v = cli_opt(argc, argv, i, "--state-in", &missing))) {
        so->state_in = v;
    } else if ((v = cli_opt(argc, argv, i, "--state-out", &missing))) {
        so->state_out = v;
    } else if ((v = cli_opt(argc, argv, i, "--steps", &missing))) {
        char *end;
        long n = strtol(v, &end, 10);
        if (*end || n < 1 || n > 1000000) {
            cli_fail("run", "--steps needs a count >= 1, got '%s'", v);
            return 2;
        }
        so->steps = (int)n;
    } else if ((v = cli_opt(argc, argv, i, "--feed", &missing))) {
        const char *eq = strchr(v, '=');
        if (!eq || eq == v || !eq[1]) {
            cli_fail("run", "--feed needs OUT=IN, got '%s'", v);
            return 2;
        }
        if (so->n_feeds == CLI_MODEL_MAX) {
            cli_fail("run", "too many --feed options");
            return 2;
        }
        so->feeds[so->n_feeds++] = v;
    } else {
        return missing ? (cli_fail("run", "%s needs a value", argv[*i]), 2) : 0;
    }
    return 1;
}

int cli_state_select(mk_program *p, const cli_state_opts *so)
{
    mk_err e = {0};
    if (so->function && mk_program_set_default_function(p, so->function, &e))
        return cli_fail_err("run", &e);
    if (so->n_feeds && so->steps < 2) return cli_fail("run", "--feed needs --steps N with N >= 2");
    return 0;
}

int cli_state_load(mk_session *s, const cli_state_opts *so)
{
    if (!so->state_in) return 0;
    mk_err e = {0};
    mk_tensor_list l = {0, NULL};
    if (mk_tensors_load(1, &so->state_in, &l, &e)) return cli_fail_err("run", &e);
    int rc = 0;
    for (int i = 0; i < l.n && !rc; i++) {
        const char *nm = l.items[i].name;
        int known = 0;
        for (int k = 0; k < mk_session_n_states(s) && !known; k++)
            known = nm && strcmp(mk_session_state_name(s, k), nm) == 0;
        if (!known)
            rc = cli_fail("run", "%s: '%s' is not a state of the model", so->state_in,
                          nm ? nm : "?");
        else if (mk_session_state_set(s, nm, &l.items[i], &e))
            rc = cli_fail_err("run", &e);
    }
    mk_tensor_list_free(&l);
    return rc;
}

/* Move output OUT of outs into ins as input IN (replacing it). */
static int feed(const char *spec, mk_tensor_list *ins, mk_tensor_list *outs)
{
    const char *eq = strchr(spec, '=');
    size_t ol = (size_t)(eq - spec);
    mk_tensor *src = NULL, *dst = NULL;
    for (int i = 0; i < outs->n; i++)
        if (outs->items[i].name && strlen(outs->items[i].name) == ol &&
            strncmp(outs->items[i].name, spec, ol) == 0)
            src = &outs->items[i];
    for (int i = 0; i < ins->n; i++)
        if (ins->items[i].name && strcmp(ins->items[i].name, eq + 1) == 0) dst = &ins->items[i];
    if (!src) return cli_fail("run", "--feed %s: no output named '%.*s'", spec, (int)ol, spec);
    if (!dst) return cli_fail("run", "--feed %s: no input named '%s'", spec, eq + 1);
    mk_tensor t = *dst;
    char *dn = dst->name, *sn = src->name;
    *dst = *src;
    *src = t;
    dst->name = dn;
    src->name = sn;
    return 0;
}

int cli_state_steps(mk_session *s, const cli_state_opts *so, mk_tensor_list *ins,
                    mk_tensor_list *outs)
{
    mk_err e = {0};
    for (int step = 1; step < so->steps; step++) {
        for (int f = 0; f < so->n_feeds; f++)
            if (feed(so->feeds[f], ins, outs)) return 2;
        mk_tensor_list_free(outs);
        if (mk_session_run(s, ins, outs, NULL, &e))
            return cli_fail("run", "step %d: %s", step + 1, e.msg);
    }
    return 0;
}

int cli_state_save(mk_session *s, const cli_state_opts *so)
{
    if (!so->state_out) return 0;
    mk_err e = {0};
    mk_tensor_list l = {0, NULL};
    int rc = 0;
    if (mk_session_states_get(s, &l, &e) || mk_tensors_save(so->state_out, &l, &e))
        rc = cli_fail_err("run", &e);
    mk_tensor_list_free(&l);
    return rc;
}
