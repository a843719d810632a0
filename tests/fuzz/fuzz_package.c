/* libFuzzer target for the Core ML reader: the input is a model.mlmodel image, optionally
 * followed by the marker "MKWEIGHT" and a weight.bin image; both go through the in-memory
 * entry point mk_ml_load_mem (the same code path as mk_program_load after file mapping).
 * Built by `make fuzz`; with BUILD!=fuzz, replay_main.c reruns a corpus instead. */
#include <stdlib.h>
#include <string.h>

#include "coreml/coreml_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char marker[8] = {'M', 'K', 'W', 'E', 'I', 'G', 'H', 'T'};
    size_t spec_n = size, w_n = 0;
    for (size_t i = 0; i + sizeof marker <= size; i++)
        if (memcmp(data + i, marker, sizeof marker) == 0) {
            spec_n = i;
            w_n = size - i - sizeof marker;
            break;
        }
    /* an aligned private copy, like a mapped file */
    unsigned char *w = NULL;
    if (spec_n < size) {
        w = malloc(w_n ? w_n : 1);
        if (!w) return 0;
        if (w_n) memcpy(w, data + spec_n + sizeof marker, w_n);
    }
    mk_err e = {MK_OK, {0}};
    mk_program *p = NULL;
    if (mk_ml_load_mem(data, spec_n, "fuzz.mlmodel", w, w_n, NULL, &p, &e) == MK_OK) {
        /* touch every constant byte so a bad pointer shows up under ASan */
        unsigned sum = 0;
        for (int f = 0; f < p->n_functions; f++) MK_FOR_OPS(p->functions[f]->block, op)
        for (int i = 0; i < op->n_attrs; i++) {
            const mk_const *c = op->attrs[i].value->cst;
            if (c && op->attrs[i].value->type.dtype != MK_DT_STRING)
                for (size_t k = 0; k < c->nbytes; k++) sum += ((const unsigned char *)c->data)[k];
        }
        (void)sum;
        /* whatever the reader accepts, the writer encodes or refuses cleanly, and the
         * encoding parses back */
        uint8_t *enc = NULL;
        size_t en = 0;
        mk_err we = {MK_OK, {0}};
        if (mk_ml_encode(p, MK_TARGET_DEFAULT, &enc, &en, &we) == MK_OK) {
            mk_program *q = NULL;
            mk_err re = {MK_OK, {0}};
            if (mk_ml_load_mem(enc, en, "re.mlmodel", w, w_n, NULL, &q, &re) == MK_OK)
                mk_ir_program_free(q);
            mk_free(p->alloc, enc, en);
        } else if (!we.msg[0] || strchr(we.msg, '\n')) {
            abort();
        }
        mk_ir_program_free(p);
    } else if (!e.msg[0] || strchr(e.msg, '\n')) {
        abort(); /* every failure must carry a one-line message */
    }
    free(w);
    return 0;
}
