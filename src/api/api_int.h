/* Composition helpers shared by src/api files: fp16 calibration measurements (calibrate.c),
 * which mk_convert (convert.c) combines with the decisions of src/passes/fp16_calib.c, and the
 * name lists error messages show (run.c). */
#ifndef MK_API_INT_H
#define MK_API_INT_H

#include "ir/ir.h"
#include "passes/passes_int.h"

typedef struct mk_calib {
    const mk_program *p32; /* the fp32 program (outlives the calibration) */
    int n;                 /* calibration runs */
    const mk_tensor_list *in;
    mk_arena *ar;
    mk_strmap vals; /* value name of p32 -> mk_calib_value */
    mk_strmap keep; /* op name -> mk_calib_keep */
    /* streaming states: output feed_out[k] is input feed_in[k] of the next run; measured
     * runs then form one stream in which the fp16 program gets its own states */
    int n_feed;
    int feed_out[8], feed_in[8];
    int no_trace; /* measure ranges and outputs only, not each value's fp16 error */
} mk_calib;

/* Start a calibration on n input lists (they must outlive c): with check, each is run
 * through a session of p32 first (dtype, shape and name errors name the list); the largest
 * |x| of every float input goes into c->vals, that of every op output with each measure. */
mk_status mk_calib_init(mk_calib *c, const mk_program *p32, const mk_tensor_list *in, int n,
                        int check, mk_err *e);
void mk_calib_free(mk_calib *c);
/* Run p16 (p32 converted) next to p32 on every input list: each value's fp16 error into
 * c->vals, each output's precision into rows (up to max_rows; *n_rows set). Returns in *ok
 * whether every output is finite and within 5e-3 + 5e-3*|fp32| on every run (half the
 * 1e-2 + 1e-2*|fp32| reported in rows, for inputs the calibration did not see). With states
 * (c->n_feed), the lists are steps of one stream: from the second on, each program gets its
 * own previous state outputs, so fp16 drift over the stream is measured. */
mk_status mk_calib_measure(mk_calib *c, const mk_program *p16, mk_precision_row *rows, int max_rows,
                           int *n_rows, int *ok, mk_err *e);
/* Seeded calibration inputs for p, drawn per input: float waveforms and other tensors
 * uniform in [-1, 1], NCHW images (rank 4, 1/3/4 channels) in the ImageNet-normalised range
 * [-2.2, 2.7] (covers 0..1 too), integer inputs that index a gather inside its table, other
 * integers 0..3. Writes n lists into out[0..n). */
/* Output/input pairs of p that carry a streaming state: "OUT=IN" strings, else outputs named
 * like an input plus n, N, _n, out, _out, new, _new, next or _next (hn/h, stateN/state) with
 * the input's dtype and shape. Fills c->feed_*; an unknown name in specs is an error. */
mk_status mk_calib_states(mk_calib *c, const mk_program *p, int n, const char *const *specs,
                          mk_err *e);
mk_status mk_calib_seeded(const mk_program *p, int n, mk_tensor_list *out, mk_err *e);
/* As mk_calib_seeded for a program holding a KV cache of `context` entries as state (iOS18):
 * the lists are consecutive steps from an empty cache, so integer input len_name (the filled
 * count, or positions [1, n] starting at it) is r * n in list r (at most context - n). */
mk_status mk_calib_seeded_kv(const mk_program *p, int n, const char *len_name, int64_t context,
                             mk_tensor_list *out, mk_err *e);

/* "a, b, c": the names of f's inputs / of p's functions, cut to fit buf (n > 0). */
void mk_api_input_names(const mk_function *f, char *buf, size_t n);
void mk_api_function_names(const mk_program *p, char *buf, size_t n);

/* Copy src's main function into dst as function `name` (iOS18), with a description each;
 * constants whose bytes dst already holds point at dst's payload (the writer stores them once),
 * others are copied, so src may be freed after (fix.c). */
mk_status mk_program_join_function(mk_program *dst, const mk_program *src, const char *name,
                                   mk_err *err);
/* Rename p's main function and make it the default. */
mk_status mk_program_name_function(mk_program *p, const char *name, mk_err *err);

#endif
