/* Reports as strings instead of streams, for callers that cannot hand over a FILE * (the
 * Python binding over ctypes): `milkit info` text/JSON and lint findings in any format. The
 * text is written to a memory stream and copied into the default allocator's heap. */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

typedef mk_status (*writer)(const void *obj, const void *arg, int mode, FILE *f, mk_err *err);

static mk_status to_string(writer w, const void *obj, const void *arg, int mode, char **out,
                           mk_err *err)
{
    char *buf = NULL;
    size_t n = 0;
    *out = NULL;
    FILE *f = open_memstream(&buf, &n);
    if (!f) return MK_OOM(err);
    mk_status st = w(obj, arg, mode, f, err);
    if (fclose(f) != 0 && !st) st = MK_OOM(err);
    if (!st) {
        *out = mk_malloc(NULL, n + 1);
        if (!*out)
            st = MK_OOM(err);
        else
            memcpy(*out, buf, n + 1);
    }
    free(buf); /* open_memstream's own buffer: libc's to release */
    return st;
}

static mk_status info_w(const void *obj, const void *arg, int mode, FILE *f, mk_err *err)
{
    (void)arg;
    return mk_program_info(obj, f, mode, err);
}

static mk_status findings_w(const void *obj, const void *arg, int mode, FILE *f, mk_err *err)
{
    return mk_findings_write(obj, arg, (mk_format)mode, f, err);
}

mk_status mk_program_info_string(const mk_program *p, int json, char **out, mk_err *err)
{
    return to_string(info_w, p, NULL, json, out, err);
}

mk_status mk_findings_string(const mk_findings *f, const char *artifact, mk_format fmt, char **out,
                             mk_err *err)
{
    return to_string(findings_w, f, artifact, (int)fmt, out, err);
}

void mk_string_free(char *s)
{
    if (s) mk_free(NULL, s, strlen(s) + 1);
}
