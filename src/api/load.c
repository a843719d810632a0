/* Loading any model milkit reads: .onnx goes through the ONNX front end (converted in
 * memory), anything else through the Core ML package reader. */
#include <string.h>

#include "ir/ir.h"

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

mk_status mk_model_load(const char *path, const mk_convert_options *opts, const mk_allocator *alloc,
                        mk_program **out, mk_err *err)
{
    if (ends_with(path, ".onnx")) {
        mk_convert_options defaults;
        memset(&defaults, 0, sizeof defaults);
        return mk_onnx_import(path, opts ? opts : &defaults, alloc, out, err);
    }
    return mk_program_load(path, alloc, out, err);
}
