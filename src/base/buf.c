/* Growable byte buffer; an allocation failure sets oom and turns later appends into no-ops,
 * so writers check once at the end. */
#include <stdarg.h>
#include <string.h>

#include "base.h"

void mk_buf_init(mk_buf *b, const mk_allocator *a)
{
    memset(b, 0, sizeof *b);
    b->alloc = a ? a : mk_alloc_default();
}

void mk_buf_free(mk_buf *b)
{
    mk_free(b->alloc, b->data, b->cap);
    b->data = NULL;
    b->len = b->cap = 0;
}

static int reserve(mk_buf *b, size_t extra)
{
    size_t need;
    if (b->oom) return 0;
    if (!mk_add_size(b->len, extra, &need)) return b->oom = 1, 0;
    if (need <= b->cap) return 1;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2) return b->oom = 1, 0;
        ncap *= 2;
    }
    unsigned char *nd = mk_realloc(b->alloc, b->data, b->cap, ncap);
    if (!nd) return b->oom = 1, 0;
    b->data = nd;
    b->cap = ncap;
    return 1;
}

int mk_buf_append(mk_buf *b, const void *p, size_t n)
{
    if (!reserve(b, n)) return 0;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    return 1;
}

int mk_buf_zeros(mk_buf *b, size_t n)
{
    if (!reserve(b, n)) return 0;
    memset(b->data + b->len, 0, n);
    b->len += n;
    return 1;
}

int mk_buf_printf(mk_buf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    int ok = n >= 0 && reserve(b, (size_t)n + 1);
    if (ok) {
        vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
    return ok;
}
