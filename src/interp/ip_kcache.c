/* Per-op memory kept with a session across runs (mk_kcache): a kernel stores there what it
 * derives once from an op's constant operands, such as conv weights packed into its
 * microkernel's layout, instead of redoing it every run. Freed with the session. */
#include "ip_engine.h"

typedef struct mk_kcache_ent {
    struct mk_kcache_ent *next;
    const mk_op *op;
    const void *key;
    size_t bytes;
    void *data;
} mk_kcache_ent;

int mk_kconst(mk_kctx *k, const char *name)
{
    const mk_input *in = mk_ir_input(k->op, name);
    return in && in->n_args == 1 && in->args[0] && in->args[0]->cst;
}

void *mk_kcache(mk_kctx *k, const void *key, size_t bytes, int *made)
{
    mk_interp *ip = k->ip;
    *made = 0;
    for (mk_kcache_ent *c = ip->kcache; c; c = c->next)
        if (c->op == k->op && c->key == key && c->bytes == bytes) return c->data;
    if (!bytes) return NULL;
    mk_kcache_ent *c = mk_calloc(ip->alloc, 1, sizeof *c);
    void *d = c ? mk_malloc(ip->alloc, bytes) : NULL;
    if (!d) {
        mk_free(ip->alloc, c, sizeof *c);
        return NULL;
    }
    c->op = k->op;
    c->key = key;
    c->bytes = bytes;
    c->data = d;
    c->next = ip->kcache;
    ip->kcache = c;
    *made = 1;
    return d;
}

void mk_ip_kcache_free(mk_interp *ip)
{
    for (mk_kcache_ent *c = ip->kcache, *n; c; c = n) {
        n = c->next;
        mk_free(ip->alloc, c->data, c->bytes);
        mk_free(ip->alloc, c, sizeof *c);
    }
    ip->kcache = NULL;
}
