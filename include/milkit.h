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
/* Exported from libmilkit.so: everything declared here and nothing else (the library is built
 * with -fvisibility=hidden; docs/DESIGN.md). */
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility push(default)
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

/* Limit on the bytes milkit holds on the heap and in anonymous maps at once (0: none, the
 * default). An allocation that would pass it fails, and its error says so ("over the memory
 * limit of 512 MiB: ... more needed") with the op, input or file that asked. */
void mk_set_memory_limit(size_t bytes);
size_t mk_memory_limit(void);
/* Parse "512M", "4G", "1.5G", "65536" (K/M/G/T, powers of 1024); 0 when malformed. */
size_t mk_parse_size(const char *s);

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
/* 1 when some non-constant op of the program computes in fp16. */
int mk_program_computes_fp16(const mk_program *p);

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
/* Asked for each .npz member before any of its data is decoded: hdr holds the member's name,
 * dtype, rank, dims and the nbytes its header declares (data NULL); n_members counts the
 * archive's members. Return MK_OK to read it, set *skip to leave it out, or fail with err set. */
typedef mk_status (*mk_tensor_filter)(void *ud, const mk_tensor *hdr, int n_members, int *skip,
                                      mk_err *err);
/* mk_npz_read reading only the members f approves (f NULL: all of them). */
mk_status mk_npz_read_filtered(const char *path, mk_tensor_filter f, void *ud, mk_tensor_list *out,
                               mk_err *err);
mk_status mk_npz_write(const char *path, const mk_tensor_list *l, mk_err *err);

/* ---- output files (src/base/file.c) ----
 * Every output is written beside its path under a temp name and renamed over it when complete,
 * so a failed or interrupted write leaves the old file as it was. */
typedef struct mk_outfile mk_outfile;
/* Start writing path: *f is a stream on the temp file. */
mk_status mk_outfile_open(const char *path, mk_outfile **out, FILE **f, mk_err *err);
/* Flush, fsync and rename over path; closes the stream and frees o (also on failure, when the
 * temp file is removed and path is untouched). */
mk_status mk_outfile_commit(mk_outfile *o, mk_err *err);
void mk_outfile_abort(mk_outfile *o);
/* Remove the temp outputs being written when SIGINT, SIGTERM or SIGHUP arrives, then die of
 * the signal as before. Installs handlers only where the disposition is the default. */
void mk_cleanup_on_signals(void);

/* ---- ONNX front end (src/onnx) ---- */
typedef struct mk_convert_options {
    mk_target target;
    int n_shapes; /* "--shape" strings: "name=1,3,640,640" or "name=1,3,32..1024,32..1024" */
    const char *const *shapes;
    int n_binds; /* "--bind" strings: "name=value" (a scalar input baked in as a constant) */
    const char *const *binds;
    const char *name, *author, *description, *license, *version;
    int verbose;  /* print the input/output name mapping to stderr */
    int progress; /* print a progress line to stderr (a TTY) */
    /* Inputs baked in as constant tensors of any shape, matched by ONNX input name (fp32,
     * int32 or bool; declared static dims must agree). A "--bind NAME=@file.npy" string does
     * the same from a .npy file. */
    int n_bind_tensors;
    const mk_tensor *bind_tensors;
    /* Refuse external data files reached through a symbolic link (by default they are followed
     * wherever they point, as Hugging Face caches need). */
    int no_follow_links;
    /* Tensors (the -i inputs) whose shapes fill an ONNX input's dynamic dims, matched by
     * name (as onnxruntime takes shapes from its inputs); a --shape for that input wins. */
    const mk_tensor_list *shape_from;
} mk_convert_options;

/* A graph input or output as an ONNX file declares it, for `info` and --save-inputs. */
typedef struct mk_io_decl {
    char *name;
    int dtype;          /* MIL DataType code as declared (int64 stays 24); 0: unsupported */
    int rank;           /* -1: no shape given */
    int64_t dims[8];    /* -1: symbolic or unknown */
    char *dim_names[8]; /* the dim_param of a symbolic dim, else NULL */
} mk_io_decl;
typedef struct mk_io_decls {
    int n_inputs, n_outputs; /* inputs exclude initializers */
    mk_io_decl *inputs, *outputs;
    int opset;
    long n_nodes; /* main graph */
} mk_io_decls;
/* Read the declared inputs and outputs of an ONNX file without converting it. */
mk_status mk_onnx_describe(const char *path, mk_io_decls *out, mk_err *err);
void mk_io_decls_free(mk_io_decls *d);
/* Print an ONNX file's declared inputs and outputs (symbolic dims by name) as `info` does;
 * note, when not NULL, says why the converted summary is absent. */
mk_status mk_onnx_info(const char *path, FILE *f, int json, const char *note, mk_err *err);

/* Read an ONNX model and lower it to an ML Program. On unsupported nodes, fails with one
 * message listing every unsupported node (op type, node name, reason, count). */
mk_status mk_onnx_import(const char *path, const mk_convert_options *opts,
                         const mk_allocator *alloc, mk_program **out, mk_err *err);

/* Same as mk_onnx_import for a model held in memory (external data is not available; weights
 * are copied, so data need not outlive the program). name is used in messages. */
mk_status mk_onnx_import_mem(const void *data, size_t size, const char *name,
                             const mk_convert_options *opts, const mk_allocator *alloc,
                             mk_program **out, mk_err *err);
/* Read one ONNX TensorProto file (.pb, as in ONNX test data) into a tensor: float types
 * become fp32, integer types int32, bool stays bool. The caller releases it like any
 * mk_tensor (mk_tensor_list_free on a list holding it). */
mk_status mk_onnx_read_tensor(const char *path, mk_tensor *out, mk_err *err);

/* Load any model milkit reads: .onnx (converted in memory), .mlpackage or .mlmodel. */
mk_status mk_model_load(const char *path, const mk_convert_options *opts, const mk_allocator *alloc,
                        mk_program **out, mk_err *err);

/* ---- interpreter (src/interp) ---- */
typedef struct mk_run_options {
    int fp16_emulate;        /* round every op output and fp16 constant to half precision
                              * (a program with fp16 ops runs as typed: its fp32 ops stay fp32) */
    int threads;             /* 0 = all cores */
    unsigned long long seed; /* for random inputs */
} mk_run_options;

/* Random inputs (seeded) shaped like the model's inputs (default shapes). */
mk_status mk_random_inputs(const mk_program *p, unsigned long long seed, mk_tensor_list *out,
                           mk_err *err);
/* Run the main function. Inputs are matched by name and checked for dtype and shape;
 * outputs come back in model-output order, fp32 for float outputs. */
mk_status mk_run(const mk_program *p, const mk_run_options *opts, const mk_tensor_list *inputs,
                 mk_tensor_list *outputs, mk_err *err);

/* What a run noticed besides its outputs. */
typedef struct mk_run_report {
    char warning[512]; /* first fp16 overflow ("fp16 overflow: op NAME (kind) ..."), "" if none */
    size_t peak_bytes; /* peak bytes of live activations in the interpreter */
} mk_run_report;
/* mk_run with a report (rep may be NULL). */
mk_status mk_run_ex(const mk_program *p, const mk_run_options *opts, const mk_tensor_list *inputs,
                    mk_tensor_list *outputs, mk_run_report *rep, mk_err *err);

/* ---- weight compression (src/api/compress.c, `milkit compress`) ---- */
enum { MK_CMP_LINEAR = 1, MK_CMP_PALETTE, MK_CMP_SPARSE };
typedef struct mk_compress_options {
    int mode;
    int bits;        /* linear 4/8; palette 1,2,3,4,6,8 */
    int granularity; /* 0 per output channel (linear) / per tensor (palette), 1 per tensor,
                        2 per block (linear, block elements along the input axis) or per group
                        (palette, `group` output channels per LUT) */
    int block, group;
    int zero_point;      /* linear: asymmetric with an offset */
    int uniform;         /* palette: evenly spaced entries instead of k-means */
    double sparsity;     /* sparse: fraction of weights set to zero */
    size_t min_elements; /* smaller weights stay as they are (0: 2049, i.e. more than 2048) */
    int n_skip;
    const char *const *skip; /* weight or op names left alone */
    int embedding;           /* also the table of gather (embedding lookups) */
    int strict;              /* a block/group that does not divide its axis is an error */
    /* mk_compress_auto: bounds on every output against the uncompressed run (0: none) and on
     * the bytes of all constants (0: as small as the bounds allow) */
    double min_cos, min_snr_db;
    size_t target_bytes;
    /* k-means palettes: activations on these input lists weight each weight element's error
     * by its input channel's mean square (NULL: unweighted) */
    const mk_tensor_list *calib;
    int n_calib;
    /* palettes of 4 bits or fewer and int4 per channel/block round with error compensation on
     * the layer's input Gram matrix (from calib, else seeded inputs); this rounds to nearest */
    int nearest;
} mk_compress_options;
typedef struct mk_compress_layer {
    char name[128], op[32], mode[160];
    size_t elements, bytes_before, bytes_after;
    double rel_err; /* ||w - w'|| / ||w|| */
} mk_compress_layer;
typedef struct mk_compress_report {
    int n, cap;
    mk_compress_layer *layers;
    size_t const_bytes_before, const_bytes_after; /* every constant of the program */
    int n_kept, cap_kept;
    mk_compress_layer *kept; /* weights a mode could take, left as they are (mode: why) */
} mk_compress_report;
/* Compress p's weights in place; fails (nothing changed that matters: the caller drops p)
 * on options the target cannot express. */
mk_status mk_compress(mk_program *p, const mk_compress_options *o, mk_compress_report *r,
                      mk_err *err);
void mk_compress_report_free(mk_compress_report *r);
/* Mixed modes chosen per weight (src/api/compress_auto.c): the cheapest per weight keeping
 * every output within o's min_cos / min_snr_db on the n_runs input lists (0: two seeded
 * lists), and the constants within o->target_bytes if set. *out is ref compressed; ref is
 * unchanged. */
mk_status mk_compress_auto(const mk_program *ref, const mk_compress_options *o,
                           const mk_tensor_list *runs, int n_runs, mk_program **out,
                           mk_compress_report *r, mk_err *err);
/* Output error of q against ref on the same inputs (fp16_emulate applies to q only):
 * per output; cosine only for outputs of 16 or more elements (has_cos). */
typedef struct mk_output_error {
    char name[128];
    size_t n;
    int has_cos;
    double cos, max_abs, max_rel, snr_db;
} mk_output_error;
mk_status mk_output_errors(const mk_program *ref, const mk_program *q, const mk_tensor_list *in,
                           int fp16_emulate, mk_output_error *out, int max, int *n, mk_err *err);
/* The same in fp32 (e32) and in fp16 emulation (e16) at once: ref runs once; the runs share
 * two threads. */
mk_status mk_output_errors2(const mk_program *ref, const mk_program *q, const mk_tensor_list *in,
                            mk_output_error *e32, int *n32, mk_output_error *e16, int *n16, int max,
                            mk_err *err);

/* A program prepared for many runs: the plan (with fused activations), converted constants and
 * activation buffers are kept between runs, so later runs skip that setup. p must outlive the
 * session; one session is not for concurrent runs. mk_run is new + run + free. */
typedef struct mk_session mk_session;
mk_status mk_session_new(const mk_program *p, const mk_run_options *opts, mk_session **out,
                         mk_err *err);
/* As mk_run_ex, on the session's program and options (rep may be NULL). */
mk_status mk_session_run(mk_session *s, const mk_tensor_list *inputs, mk_tensor_list *outputs,
                         mk_run_report *rep, mk_err *err);
void mk_session_free(mk_session *s);
/* As mk_session_new for the function named `function` of a multi-function program (NULL: the
 * default function); an unknown name is MK_EINVAL naming the functions there are. */
mk_status mk_session_new_function(const mk_program *p, const char *function,
                                  const mk_run_options *opts, mk_session **out, mk_err *err);
/* iOS18 state: a session keeps one buffer per state input of its function, zeros at creation,
 * read by read_state and written in place by write_state/coreml_update_state during runs.
 * State inputs take no tensor in mk_session_run. */
int mk_session_n_states(const mk_session *s);
const char *mk_session_state_name(const mk_session *s, int i); /* NULL when out of range */
/* Copy of state `name`'s current value (fp32 for float states, int32 for integer ones). */
mk_status mk_session_state_get(mk_session *s, const char *name, mk_tensor *out, mk_err *err);
/* Every state's current value, named by state name (for saving). */
mk_status mk_session_states_get(mk_session *s, mk_tensor_list *out, mk_err *err);
/* Replace state `name`'s value; t must have the state's shape (its dtype is converted). */
mk_status mk_session_state_set(mk_session *s, const char *name, const mk_tensor *t, mk_err *err);
/* Functions of a program (several in a multi-function package) and the default one. */
int mk_program_n_functions(const mk_program *p);
const char *mk_program_function_name(const mk_program *p, int i);
const char *mk_program_default_function(const mk_program *p);
/* Make function `name` the one mk_run, sessions and mk_random_inputs use (and the default a
 * save writes); MK_EINVAL naming the functions when there is none of that name. */
mk_status mk_program_set_default_function(mk_program *p, const char *name, mk_err *err);

/* Semantics other than Core ML's, to check a rewrite against the source framework (mk_fix,
 * H17). Kept apart from mk_run_options so that its positional initializers stay complete. */
typedef struct mk_run_semantics {
    /* avg_pool divides a ceil_mode overhang by the real count, as PyTorch/ONNX do, instead of
     * as padding like Core ML; explicit pads still count unless excluded. 0 = Core ML. */
    int framework_pool_overhang;
} mk_run_semantics;
/* The session's next runs use sem (NULL: Core ML's semantics, the default). */
void mk_session_set_semantics(mk_session *s, const mk_run_semantics *sem);

/* Per-op profile of a session's runs (`milkit run --profile`): with profiling on, each run
 * records one row per op of the function's top level (a cond/while_loop row includes its
 * blocks), in execution order. path names the kernel variant ("conv: depthwise direct"); an op
 * fused into its producer's kernel has fused = 1 and costs only the hand-over. */
typedef struct mk_op_profile {
    const char *name, *kind, *path; /* valid while the session lives */
    /* time of the op (operand prep, shapes, kernel, frees): with one thread the thread's CPU
     * time (steady on a busy machine), else wall time */
    double ms;
    size_t out_bytes; /* bytes of its outputs */
    int fused;
} mk_op_profile;
void mk_session_set_profile(mk_session *s, int on);
/* The last profiled run's rows (*n of them; NULL when none) and its total time on the same
 * clock: a row "(inputs)" (input binding), one per top-level op, and "(outputs)" (output copy
 * and release of activations); each row runs from the previous row's end, so the rows' ms add
 * up to the total but for the loop's own few clock reads. */
const mk_op_profile *mk_session_profile(const mk_session *s, int *n, double *total_ms);

/* Elementwise comparison of a (under test) with b (reference): pass when every element has
 * |a-b| <= atol + rtol*|b| (NaN only matches NaN). Shapes must agree (rank-insensitive to
 * leading 1s); a shape mismatch is a failed comparison, not an error. */
typedef struct mk_compare_result {
    size_t numel, n_bad;
    double max_abs, max_rel; /* over all elements; max_rel uses |a-b| / max(|b|, 1e-12) */
    double cosine;           /* cosine similarity of a and b (1 when both are all zero) */
    size_t worst_index;      /* flat index of the worst element (largest |a-b| - tolerance) */
    int rank;
    int64_t worst_coord[8]; /* the same index per axis of b */
    double worst_a, worst_b;
    int shape_ok, pass;
    size_t nan_a, inf_a, nan_b, inf_b; /* non-finite elements of a and of b */
    int has_cosine; /* 0: under 16 elements or a non-finite element (cosine: finite pairs) */
    /* 10 log10(sum b^2 / sum (a-b)^2) over finite pairs; +inf when equal, -inf when a
     * non-finite element differs */
    double snr_db;
} mk_compare_result;
mk_status mk_compare(const mk_tensor *a, const mk_tensor *b, double atol, double rtol,
                     mk_compare_result *out, mk_err *err);
/* Find a tensor by name in a list (NULL when absent). */
const mk_tensor *mk_tensor_list_find(const mk_tensor_list *l, const char *name);
/* True when a model value name corresponds to an external (ONNX / file) name: equal, or equal
 * after the converter's identifier sanitising ("sigmoid_0.tmp_0" -> "sigmoid_0_tmp_0",
 * keyword "state" -> "state_workaround"). */
int mk_name_matches(const char *model_name, const char *external_name);
/* mk_tensor_list_find, falling back to mk_name_matches. */
const mk_tensor *mk_tensor_list_match(const mk_tensor_list *l, const char *model_name);
/* Model input / output names and count, for the CLI (strings owned by the program). */
int mk_program_n_inputs(const mk_program *p);
const char *mk_program_input_name(const mk_program *p, int i);
/* Tensors named on a command line: "name=file.npy", "file.npz" (every member) or "file.npy"
 * (named after the file). Appends to out; on failure out is freed and err names the file. */
mk_status mk_tensors_load(int n, const char *const *specs, mk_tensor_list *out, mk_err *err);
/* The same, checked against p's inputs before data is read (p NULL: unchecked): an .npz member
 * must name an input (or be the one tensor for a one-input model; a member of at most 4 KB that
 * names none is read so the run can report it), with that input's dtype class and a shape it
 * accepts, so no member costs more memory than its input. */
mk_status mk_tensors_load_for(const mk_program *p, int n, const char *const *specs,
                              mk_tensor_list *out, mk_err *err);
/* Only the names, dtypes and shapes of the tensors specs name (data NULL, nbytes 0): .npz
 * members are judged by their headers, nothing is decompressed. For shape_from. */
mk_status mk_tensors_load_shapes(int n, const char *const *specs, mk_tensor_list *out, mk_err *err);
/* Write tensors to .npz (all of them) or .npy (exactly one). */
mk_status mk_tensors_save(const char *path, const mk_tensor_list *l, mk_err *err);
/* Inputs also baked in with --bind NAME=VALUE (NAME=@file.npy): a tensor of l with that name
 * is dropped when its values equal the bound ones, else an error names both. */
mk_status mk_tensors_drop_bound(mk_tensor_list *l, int n_binds, const char *const *binds,
                                mk_err *err);
/* Cast tensors to the dtype and rank the model file declares for its inputs (an ONNX int64
 * scalar stays an int64 scalar; an fp16 package input becomes fp16), for --save-inputs. */
mk_status mk_tensors_as_declared(const char *model_path, const mk_program *p, mk_tensor_list *l,
                                 mk_err *err);

/* ---- hazards: lint, fix, placement (src/lint, src/passes, src/api/lint.c, src/api/fix.c) ----
 * Rule ids are the hazard ids of docs/hazards.md ("H1".."H39"). */
typedef enum mk_severity {
    MK_SEV_INFO = 0,    /* performance */
    MK_SEV_WARNING = 1, /* CPU fallback, or a result that depends on intent */
    MK_SEV_ERROR = 2    /* wrong results or load failure */
} mk_severity;
const char *mk_severity_name(mk_severity s);

/* One catalog rule. fix names the pass(es) that rewrite it ("a, b" when the rule has several,
 * each finding then names its own), NULL for "no safe rewrite". */
typedef struct mk_lint_rule {
    const char *id, *category, *title, *units, *fix, *evidence;
    mk_severity severity;
    int opt_in; /* the fix runs only when asked: it changes layout (H25) or Core ML's output
                 * to the source framework's (H17) */
} mk_lint_rule;
/* The rule table (static, never freed): rules 0..count-1 in id order; find by id ("H1"). */
int mk_lint_rule_count(void);
const mk_lint_rule *mk_lint_rule_at(int i);
const mk_lint_rule *mk_lint_rule_find(const char *id);

typedef struct mk_finding {
    const char *rule; /* "H1" */
    mk_severity severity;
    const char *function; /* function name */
    const char *block;    /* "main" or "main/<op name>.b<k>" for nested blocks */
    int op_index;         /* index of the op in its block; -1 for program-level findings */
    const char *op_name, *op_type;
    const char *message; /* one line: what goes wrong, where, on which compute unit */
    const char *fix;     /* pass that rewrites this instance, NULL = no safe rewrite */
} mk_finding;

typedef struct mk_findings mk_findings;

typedef struct mk_lint_options {
    mk_target target;        /* MK_TARGET_DEFAULT: the program's own */
    int assume_fp16;         /* check fp16 hazards (H9-H14) in fp32 programs too */
    const char *only, *skip; /* comma lists of rule ids ("H1,H4"); NULL = all */
} mk_lint_options;

/* Lint every function of p. *out is owned by the caller (mk_findings_free); it copies
 * every string, so it outlives p. opts may be NULL. */
mk_status mk_lint(const mk_program *p, const mk_lint_options *opts, mk_findings **out, mk_err *err);
int mk_findings_count(const mk_findings *f);
const mk_finding *mk_findings_at(const mk_findings *f, int i);
int mk_findings_count_rule(const mk_findings *f, const char *rule);
/* The highest severity among the findings (an mk_severity), -1 when there are none. */
int mk_findings_worst(const mk_findings *f);
void mk_findings_free(mk_findings *f);

typedef enum mk_format { MK_FORMAT_TEXT = 0, MK_FORMAT_JSON, MK_FORMAT_SARIF } mk_format;
/* Text (one line per finding), JSON (sorted keys) or SARIF 2.1.0. artifact is the model path
 * shown in the report (may be NULL). */
mk_status mk_findings_write(const mk_findings *f, const char *artifact, mk_format fmt, FILE *out,
                            mk_err *err);

/* True when id is in the comma list (exact tokens, case-insensitive). */
int mk_rule_list_has(const char *list, const char *id);
/* MK_EINVAL naming the first id in the comma list that is not a rule (what: "--only"), so a
 * typo cannot silence a check; NULL and "" are valid. mk_lint and mk_fix check their lists. */
mk_status mk_rule_list_check(const char *list, const char *what, mk_err *err);

/* Placement prediction: which ops would run off the Neural Engine, from published evidence
 * (hazards.md Table 2, H4, H5, H18-H21, H29), and the segments they cut the graph into. */
typedef struct mk_placement_summary {
    int n_ops;      /* compute ops (const ops are not counted) */
    int n_off_ne;   /* predicted off the Neural Engine */
    int n_segments; /* maximal runs of ops on one side */
    int n_boundary; /* tensors crossing a segment boundary */
} mk_placement_summary;
/* Write the prediction (text or JSON) to out when out is not NULL; fill *sum. */
mk_status mk_placement_write(const mk_program *p, FILE *out, int json, mk_placement_summary *sum,
                             mk_err *err);

/* Graphviz dot of the main function: findings in red/orange, off-NE ops filled grey. */
mk_status mk_program_dot(const mk_program *p, const mk_findings *f, FILE *out, mk_err *err);

/* A deep copy of p. Constants that live in p's mapped weight files are borrowed, not copied:
 * free the copy before p. Everything else is copied into the copy's own arena. */
mk_status mk_program_clone(const mk_program *p, mk_program **out, mk_err *err);

typedef struct mk_fix_options {
    const char *only, *skip;      /* comma lists of rule ids; NULL = every default-on fix;
                                   * an opt-in fix (H17, H25) runs when only names its rule */
    int ane_layout;               /* also run opt-in layout rewrites (H25 linear -> 1x1 conv) */
    int no_verify;                /* skip the interpreter check (placement estimates only) */
    int assume_fp16;              /* as in mk_lint_options */
    unsigned long long seed;      /* random inputs for the check */
    const mk_tensor_list *inputs; /* extra inputs to check with (may be NULL) */
    double atol, rtol; /* 0 = defaults: 1e-4, 1e-3 (1e-2, 1e-2 for fp16 programs); |a-b| <= atol +
                          rtol*|b| */
} mk_fix_options;

typedef struct mk_fix_row {
    char rule[24]; /* hazard ids of the pass ("H7,H8") */
    char pass[40];
    int ops_changed;
    double max_err;       /* worst |a-b| over all outputs after this fix, -1 when not verified */
    int source_semantics; /* verified against the source framework's semantics (H17), so the
                           * fix changes Core ML's output on purpose */
} mk_fix_row;

typedef struct mk_fix_report {
    int n_rows;
    mk_fix_row rows[48];
    int verified;   /* the interpreter compared original and fixed outputs */
    double max_err; /* worst over all checks */
} mk_fix_report;

/* Apply the selected fixes to a copy of in and check (unless no_verify) that the fixed
 * program gives the same outputs as in on seeded random inputs (fp32) within tolerance;
 * MK_EMISMATCH naming the rule otherwise. On success *out is the fixed program (it borrows
 * in's weight mappings like mk_program_clone: free it before in). */
mk_status mk_fix(const mk_program *in, const mk_fix_options *opts, mk_program **out,
                 mk_fix_report *rep, mk_err *err);
/* MK_EINTERNAL unless p passes the checks packages from elsewhere get (mk_ir_verify: opsets,
 * parameter dtypes and shared type domains, type inference); stage names the pass or step
 * that produced p. mk_fix runs it after every pass that changed the program (when the input
 * itself checks), so convert's fix stage gets it too. */
mk_status mk_fix_check_types(const mk_program *p, const char *stage, mk_err *err);
/* The fix table as text: rule, pass, ops changed, verified max error. */
void mk_fix_report_write(const mk_fix_report *rep, FILE *out);

/* ---- the convert pipeline (src/api/convert.c) ---- */
typedef struct mk_pipeline_options {
    int fix;          /* apply every default-on hazard fix (milkit convert's default) */
    int fp16;         /* fp16 compute precision (milkit convert's default; I/O keeps its dtype) */
    int int8_weights; /* per-channel int8 weights (needs iOS16 or later) */
    int verbose;      /* print each fix to stderr */
    /* fp16 applies to ONNX sources only: a package keeps its own precision (the CLI's default
     * without --precision). */
    int fp16_onnx_only;
    /* fp16 calibration: each list is one run's inputs (e.g. one .npz per streaming step, with
     * the states a real stream reached). None: seeded inputs drawn per input. Ops whose values
     * leave the fp16 range or whose fp16 error grows stay fp32 (docs/DESIGN.md). */
    int n_samples;
    const mk_tensor_list *samples;
    int no_calibrate; /* skip calibration: only ops without a legal fp16 form stay fp32 */
    /* streaming states, "OUT=IN": output OUT is fed back as input IN on the next step (NULL:
     * detected from the names, hn/h, stateN/state). With states, the samples are consecutive
     * steps of one stream: fp16 and fp32 programs each run on their own states, so drift over
     * the stream is measured. */
    int n_states;
    const char *const *states;
    /* KV cache as iOS18 model state (context > 0): each "PAST=PRESENT" of kv_states (none:
     * inputs past* paired with outputs present*) becomes an fp16 state named PAST whose cache
     * axis (the one PRESENT concatenates along) holds `context` entries; PRESENT is no longer
     * an output (with fp16 off, a second fp16 state PAST_lo holds each entry's rounding
     * residual: hi + lo keeps ~22 bits); the filled count is the first element of input
     * cache_length (NULL:
     * "cache_length"), a new int32 [1] input when the model has none. A dynamic PAST input
     * without a --shape gets batch 1 and 1..context along its other dynamic dim. */
    long long context;
    int n_kv_states;
    const char *const *kv_states;
    const char *cache_length;
    /* Several functions from one ONNX model (iOS18): each "NAME:INPUT=DIMS[:INPUT=DIMS...]"
     * converts once with those shapes added to the --shape list, into one package with one
     * function per spec (the first is the default), weights stored once. */
    int n_functions;
    const char *const *functions;
    /* weights compressed by mk_compress (mk_compress_auto with a bound or size target, on the
     * samples) after the precision passes; NULL: int8_weights means int8 per channel */
    const mk_compress_options *weights;
} mk_pipeline_options;

/* One op calibration kept in fp32, and why. */
typedef struct mk_calib_row {
    char op[128], op_type[32], value[128];
    int error; /* 0: |value| reached `seen`, beyond the fp16 bound `bound`; 1: its fp16
                * relative error reached `seen` (inf: became inf/NaN), above `bound`; 3: in
                * the front part
                * of the network (the first `seen` of `bound` fp16 ops, up to op `value`)
                * that the outputs needed in fp32 to meet 1e-2 + 1e-2*|fp32| */
    double seen, bound;
} mk_calib_row;

/* Precision of one output of the converted program against the fp32 program, over the
 * calibration inputs. No cosine for outputs of fewer than 16 elements (it is then NAN). */
typedef struct mk_precision_row {
    char output[128];
    size_t size;                      /* elements of the output */
    size_t numel, n_nonfinite, n_bad; /* over all runs; n_bad: beyond 1e-2 + 1e-2*|fp32| */
    double max_abs, max_rel, snr_db, cosine;
} mk_precision_row;

typedef struct mk_convert_report {
    mk_target target;      /* the target written */
    int n_ops;             /* ops in the written program (const ops included) */
    int n_fixed;           /* ops changed by fixes */
    char fix_summary[256]; /* "H1 x1, H4 x2", "" when nothing changed */
    unsigned long long weight_bytes,
        weight_bytes_before;    /* weight.bin payload before/after compression */
    int n_fp16_ops, n_fp32_ops; /* with fp16 precision: compute ops in fp16 / kept in fp32 */
    size_t n_clipped;           /* constant elements clipped to +-65504 (H14 sentinels) */
    double ms_load, ms_fix, ms_precision, ms_write; /* wall time of each stage */
    int calib_source;   /* 0 no calibration, 1 the given samples, 2 seeded inputs */
    int n_calib_inputs; /* runs calibrated on */
    int calib_rounds;   /* fp16 programs tried */
    int n_calib_states; /* state outputs fed back: the samples were measured as a stream */
    int n_calib_kept;   /* ops calibration kept fp32 (the first 32 in calib) */
    mk_calib_row calib[32];
    int n_precision; /* outputs compared (the first 16 in precision) */
    mk_precision_row precision[16];
    char calib_note[512]; /* a warning: possible overflow, bound not met, calibration skipped */
} mk_convert_report;

/* The program `milkit convert` writes from src with pipeline po (fix: every default-on fix,
 * unverified as convert applies them, then conv+batch_norm fusion; fp16; int8_weights), at
 * target (MK_TARGET_DEFAULT: src's opset). `milkit lint` judges an .onnx model this way. *out
 * is the caller's; free it before src (it borrows src's weights). */
mk_status mk_program_as_converted(const mk_program *src, const mk_pipeline_options *po,
                                  mk_target target, mk_program **out, mk_err *err);

/* Load IN (.onnx, .mlpackage or .mlmodel), apply fixes and precision passes, and write OUT
 * atomically. With fp16, unless no_calibrate, the interpreter calibrates first (on the samples
 * or seeded inputs; a bad sample is an MK_EINVAL naming it) and rep says what it kept fp32.
 * copts may be NULL for Core ML input; rep may be NULL. */
mk_status mk_convert(const char *in, const char *out, const mk_convert_options *copts,
                     const mk_pipeline_options *popts, mk_convert_report *rep, mk_err *err);

/* ---- reports as strings (src/api/text.c), for bindings without FILE * ----
 * *out is NUL-terminated and released with mk_string_free. */
mk_status mk_program_info_string(const mk_program *p, int json, char **out, mk_err *err);
mk_status mk_findings_string(const mk_findings *f, const char *artifact, mk_format fmt, char **out,
                             mk_err *err);
void mk_string_free(char *s);

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility pop
#endif
#ifdef __cplusplus
}
#endif
#endif
