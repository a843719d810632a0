/* libFuzzer target for the ONNX reader and importer: the input bytes are an ONNX model held
 * in memory (mk_onnx_import_mem). Any result is fine except a crash, a sanitizer report or a
 * message spanning lines. Replayed over tests/fuzz/corpus/onnx in ordinary CI. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "milkit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const shapes[] = {"x=1,3,8,8", "input=1,64"};
    static const char *const binds[] = {"sr=16000"};
    mk_convert_options o;
    memset(&o, 0, sizeof o);
    o.n_shapes = 2;
    o.shapes = shapes;
    o.n_binds = 1;
    o.binds = binds;
    mk_program *p = NULL;
    mk_err e = {0};
    if (mk_onnx_import_mem(data, size, "fuzz.onnx", &o, NULL, &p, &e) == MK_OK) {
        mk_program_free(p);
    } else if (strchr(e.msg, '\n')) {
        abort();
    }
    return 0;
}
