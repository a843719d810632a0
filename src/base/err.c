/* Error records: the first failure's message is kept, later ones are dropped, so the
 * message names the innermost cause; callers add context with mk_err_prefix. A set returns
 * the code the record keeps, so a status and its message always agree. */
#include <stdio.h>
#include <string.h>

#include "base.h"

const char *mk_status_name(mk_status s)
{
    switch (s) {
    case MK_OK: return "ok";
    case MK_EINVAL: return "invalid input";
    case MK_ENOMEM: return "out of memory";
    case MK_EIO: return "i/o error";
    case MK_EUNSUPPORTED: return "unsupported";
    case MK_EINTERNAL: return "internal error";
    case MK_EMISMATCH: return "mismatch";
    }
    return "unknown";
}

mk_status mk_err_vset(mk_err *e, mk_status code, const char *fmt, va_list ap)
{
    if (!e) return code;
    if (e->code != MK_OK) return e->code;
    e->code = code;
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    for (char *c = e->msg; *c; c++)
        if (*c == '\n' || *c == '\r') *c = ' ';
    return code;
}

mk_status mk_err_set(mk_err *e, mk_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mk_status st = mk_err_vset(e, code, fmt, ap);
    va_end(ap);
    return st;
}

void mk_err_prefix(mk_err *e, const char *fmt, ...)
{
    char pre[256];
    va_list ap;
    if (!e || e->code == MK_OK) return;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    size_t pl = strlen(pre);
    if (strncmp(e->msg, pre, pl) == 0) return;
    size_t ml = strlen(e->msg);
    if (pl + ml >= sizeof e->msg) ml = sizeof e->msg - 1 - pl;
    memmove(e->msg + pl, e->msg, ml);
    memcpy(e->msg, pre, pl);
    e->msg[pl + ml] = 0;
}
