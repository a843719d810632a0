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
    mk_kcache_ent *c = ip->kcache;
    *made = 0;
    while (c && c->op != k->op) c = c->next;
    if (c && c->key == key && c->bytes == bytes) return c->data;
    if (!bytes) return NULL;
    void *d = mk_malloc(ip->alloc, bytes);
    if (!d) return NULL;
    if (c) { /* one block per op: what it held is stale */
        mk_free(ip->alloc, c->data, c->bytes);
    } else if (!(c = mk_calloc(ip->alloc, 1, sizeof *c))) {
        mk_free(ip->alloc, d, bytes);
        return NULL;
    } else {
        c->op = k->op;
        c->next = ip->kcache;
        ip->kcache = c;
    }
    c->key = key;
    c->bytes = bytes;
    c->data = d;
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
