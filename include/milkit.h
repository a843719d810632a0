/* milkit public C API: read, write, convert, lint, fix and run Core ML ML Programs.
 * The CLI (tools/) uses only this header. Objects are opaque; functions that can fail return
 * an mk_status and fill an mk_err whose first message names file, op and reason. */
#ifndef MILKIT_H
#define MILKIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MK_VERSION "0.1.0"

typedef enum mk_status {
    MK_OK = 0,
    MK_EINVAL = 1,       /* malformed or inconsistent input */
    MK_ENOMEM = 2,       /* allocation failed */
    MK_EIO = 3,          /* file system error */
    MK_EUNSUPPORTED = 4, /* valid input that milkit cannot handle */
    MK_EINTERNAL = 5,    /* a milkit bug */
    MK_EMISMATCH = 6     /* a numeric check failed (verify, fix) */
} mk_status;

typedef struct mk_err {
    mk_status code;
    char msg[1024];
} mk_err;

const char *mk_status_name(mk_status s);

/* Lua-style allocator hook: nsize == 0 frees, ptr == NULL allocates. */
typedef struct mk_allocator {
    void *(*fn)(void *ud, void *ptr, size_t osize, size_t nsize);
    void *ud;
} mk_allocator;

typedef struct mk_program mk_program;

/* Deployment targets, by Core ML specification version. */
typedef enum mk_target {
    MK_TARGET_DEFAULT = 0, /* keep the program's own, or iOS15 for new programs */
    MK_TARGET_IOS15 = 6,
    MK_TARGET_IOS16 = 7,
    MK_TARGET_IOS17 = 8,
    MK_TARGET_IOS18 = 9
} mk_target;

/* Parse "ios15".."ios18" (case-insensitive); returns MK_TARGET_DEFAULT when unknown. */
mk_target mk_target_parse(const char *s);
const char *mk_target_name(mk_target t);

/* ---- programs ---- */
/* Read an .mlpackage directory or a single-file .mlmodel. Blob constants stay mmapped for
 * the program's lifetime. alloc may be NULL (malloc). */
mk_status mk_program_load(const char *path, const mk_allocator *alloc, mk_program **out,
                          mk_err *err);
void mk_program_free(mk_program *p);
/* Write an .mlpackage atomically (temp dir + rename); an existing package is replaced only
 * on success. target MK_TARGET_DEFAULT keeps the program's target. */
mk_status mk_program_save(mk_program *p, const char *path, mk_target target, mk_err *err);
mk_status mk_program_verify(const mk_program *p, mk_err *err);
/* MIL text, as in a compiled model's model.mil; stable for diffs. */
mk_status mk_program_print(const mk_program *p, FILE *f, mk_err *err);
/* Summary for `milkit info`: human text or JSON. */
mk_status mk_program_info(const mk_program *p, FILE *f, int json, mk_err *err);
int mk_program_spec_version(const mk_program *p);


/* ---- tensors (src/base: .npy/.npz) ---- */
/* A named dense tensor. dtype is a MIL DataType code (11 = fp32, 10 = fp16, 23 = int32, 21 =
 * int8, 31 = uint8, 1 = bool, 24 = int64, 12 = fp64). data is owned by the tensor. */
typedef struct mk_tensor {
    char *name;
    int dtype;
    int rank;
    int64_t dims[8];
    void *data;
    size_t nbytes;
} mk_tensor;

typedef struct mk_tensor_list {
    int n;
    mk_tensor *items;
} mk_tensor_list;

void mk_tensor_list_free(mk_tensor_list *l);
mk_status mk_npy_read(const char *path, mk_tensor *out, mk_err *err);
mk_status mk_npy_write(const char *path, const mk_tensor *t, mk_err *err);
mk_status mk_npz_read(const char *path, mk_tensor_list *out, mk_err *err);
mk_status mk_npz_write(const char *path, const mk_tensor_list *l, mk_err *err);

/* ---- ONNX front end (src/onnx) ---- */
typedef struct mk_convert_options {
    mk_target target;
    int n_shapes; /* "--shape" strings: "name=1,3,640,640" or "name=1,3,32..1024,32..1024" */
    const char *const *shapes;
    int n_binds; /* "--bind" strings: "name=value" (a scalar input baked in as a constant) */
    const char *const *binds;
    const char *name, *author, *description, *license, *version;
    int verbose; /* print the input/output name mapping to stderr */
    int progress; /* print a progress line to stderr (a TTY) */
} mk_convert_options;

/* Read an ONNX model and lower it to an ML Program. On unsupported nodes, fails with one
 * message listing every unsupported node (op type, node name, reason, count). */
mk_status mk_onnx_import(const char *path, const mk_convert_options *opts,
                         const mk_allocator *alloc, mk_program **out, mk_err *err);

/* Load any model milkit reads: .onnx (converted in memory), .mlpackage or .mlmodel. */
mk_status mk_model_load(const char *path, const mk_convert_options *opts,
                        const mk_allocator *alloc, mk_program **out, mk_err *err);

/* ---- interpreter (src/interp) ---- */
typedef struct mk_run_options {
    int fp16_emulate; /* round every op output and fp16 constant to half precision */
    int threads;      /* 0 = all cores */
    unsigned long long seed; /* for random inputs */
} mk_run_options;

/* Random inputs (seeded) shaped like the model's inputs (default shapes). */
mk_status mk_random_inputs(const mk_program *p, unsigned long long seed, mk_tensor_list *out,
                           mk_err *err);
/* Run the main function. Inputs are matched by name and checked for dtype and shape;
 * outputs come back in model-output order, fp32 for float outputs. */
mk_status mk_run(const mk_program *p, const mk_run_options *opts, const mk_tensor_list *inputs,
                 mk_tensor_list *outputs, mk_err *err);

#ifdef __cplusplus
}
#endif
#endif
