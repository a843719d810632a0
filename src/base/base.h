/* Base layer: allocator hook, arena, error record, fp16 conversion, string map, growable
 * byte buffer, overflow-checked size arithmetic and file helpers. Depends on libc only;
 * every other module builds on it. Nothing here keeps global mutable state. */
#ifndef MK_BASE_H
#define MK_BASE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "milkit.h"

#if defined(__GNUC__)
#define MK_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MK_PRINTF(a, b)
#endif

/* ---- allocation (see mk_allocator in milkit.h) ---- */
const mk_allocator *mk_alloc_default(void);
void *mk_malloc(const mk_allocator *a, size_t n);
void *mk_calloc(const mk_allocator *a, size_t count, size_t size);
void *mk_realloc(const mk_allocator *a, void *p, size_t old_n, size_t new_n);
void mk_free(const mk_allocator *a, void *p, size_t n);

/* A test allocator that fails the Nth call (1-based) and every call after it when
 * fail_at > 0. calls counts every allocation request. */
typedef struct mk_failing_alloc {
    mk_allocator base;
    long calls;
    long fail_at;
} mk_failing_alloc;
void mk_failing_alloc_init(mk_failing_alloc *fa, long fail_at);

/* Fault injection for the test runner (debug builds; no-ops answering 0 otherwise): the
 * default allocator fails its allocation number `at` (1-based, counted from this call), only
 * that one when `once`, else every one from it on; at == 0 only counts. mk_fault_calls: the
 * allocations counted since; mk_fault_fired: the failures injected since. */
void mk_fault_inject(long at, int once);
long mk_fault_calls(void);
long mk_fault_fired(void);
/* While held, the default allocator neither counts nor fails (a test's own set-up code). */
void mk_fault_hold(int on);

/* Internal invariants (fixed buffers, slot indices), checked in debug builds. Bad input never
 * reaches one: it gets an error. */
#ifdef MK_DEBUG
#define MK_ASSERT(c) ((c) ? (void)0 : mk_assert_fail(#c, __FILE__, __LINE__))
#else
#define MK_ASSERT(c) ((void)0)
#endif
_Noreturn void mk_assert_fail(const char *cond, const char *file, int line);

/* ---- size arithmetic: return 0 on overflow, else 1 ---- */
int mk_mul_size(size_t a, size_t b, size_t *out);
int mk_add_size(size_t a, size_t b, size_t *out);

/* ---- int64 arithmetic on values read from files: return 0 on overflow, else 1 ---- */
static inline int mk_add_i64(int64_t a, int64_t b, int64_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}
static inline int mk_sub_i64(int64_t a, int64_t b, int64_t *out)
{
    return !__builtin_sub_overflow(a, b, out);
}
static inline int mk_mul_i64(int64_t a, int64_t b, int64_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

/* ---- errors: the first message wins; a set returns the code the record keeps ---- */
mk_status mk_err_set(mk_err *e, mk_status code, const char *fmt, ...) MK_PRINTF(3, 4);
mk_status mk_err_vset(mk_err *e, mk_status code, const char *fmt, va_list ap) MK_PRINTF(3, 0);
/* Prefix an existing message with context ("file: ") if it has not been prefixed yet. */
void mk_err_prefix(mk_err *e, const char *fmt, ...) MK_PRINTF(2, 3);
#define MK_OOM(e) mk_err_set((e), MK_ENOMEM, "%s", mk_oom_reason())
/* "out of memory", or what the memory limit refused in this thread's last failed request. */
const char *mk_oom_reason(void);
/* Anonymous maps count against the memory limit: 0 when n bytes more would pass it. */
int mk_mem_reserve(size_t n);
void mk_mem_unreserve(size_t n);

/* ---- arena: growable, freed as a whole ---- */
typedef struct mk_arena mk_arena;
mk_arena *mk_arena_new(const mk_allocator *a);
void mk_arena_free(mk_arena *ar);
void *mk_arena_alloc(mk_arena *ar, size_t n); /* 16-byte aligned, zeroed; NULL on OOM */
void *mk_arena_array(mk_arena *ar, size_t count, size_t size);
char *mk_arena_strdup(mk_arena *ar, const char *s);
char *mk_arena_strndup(mk_arena *ar, const char *s, size_t n);
char *mk_arena_printf(mk_arena *ar, const char *fmt, ...) MK_PRINTF(2, 3);
void *mk_arena_memdup(mk_arena *ar, const void *p, size_t n);
const mk_allocator *mk_arena_allocator(const mk_arena *ar);
size_t mk_arena_bytes(const mk_arena *ar);

/* ---- half precision ---- */
uint16_t mk_f32_to_f16(float f); /* round to nearest even, overflow to inf */
float mk_f16_to_f32(uint16_t h);
float mk_round_f16(float f);
/* Round n floats to the nearest half in place (F16C in bulk where the CPU has it). */
void mk_round_f16_n(float *d, size_t n);
/* Index of the first element with |x| > 65504 (the fp16 maximum), n when none. With
 * finite_only, infinities do not count. NaN never counts. Scans 4096-element blocks with a
 * loop the compiler vectorizes, so a whole weight tensor costs about one memory pass. */
size_t mk_f32_find_beyond_f16(const float *f, size_t n, int finite_only);
/* n conversions as mk_f32_to_f16 (same bits, F16C instructions where the CPU has them). */
void mk_f32_to_f16_n(const float *src, uint16_t *dst, size_t n);
/* The same conversion in place: n fp32 values at buf become n halves in its first 2n bytes. */
void mk_f32_to_f16_inplace(void *buf, size_t n);
/* Where n fp32 values stand against the fp16 range, in one memory pass: MK_F16_OVER when some
 * |x| > 65504 (infinities included), MK_F16_OVER_FINITE when some finite one is. */
enum { MK_F16_OVER = 1, MK_F16_OVER_FINITE = 2 };
unsigned mk_f32_f16_range(const float *f, size_t n);
/* memcpy of n floats from src (any alignment) to dst that returns mk_f32_f16_range of them,
 * scanning each block while it is still in cache. */
unsigned mk_f32_copy_f16_range(float *dst, const void *src, size_t n);

/* ---- string → pointer and pointer → pointer maps (open addressing); keys are not copied.
 * One type and one implementation: a zeroed or mk_strmap_init'ed map compares keys as
 * strings, a mk_ptrmap_init'ed one by address. Use each map through its own functions. ---- */
typedef struct mk_strmap {
    const mk_allocator *alloc;
    const void **keys;
    void **vals;
    size_t cap, count;
    int by_address; /* set by mk_ptrmap_init */
} mk_strmap;
typedef mk_strmap mk_ptrmap;
void mk_strmap_init(mk_strmap *m, const mk_allocator *a);
void mk_strmap_free(mk_strmap *m);
void *mk_strmap_get(const mk_strmap *m, const char *key);
int mk_strmap_put(mk_strmap *m, const char *key, void *val); /* 0 on OOM */
void mk_ptrmap_init(mk_ptrmap *m, const mk_allocator *a);
void mk_ptrmap_free(mk_ptrmap *m);
void *mk_ptrmap_get(const mk_ptrmap *m, const void *key);    /* NULL when absent */
int mk_ptrmap_put(mk_ptrmap *m, const void *key, void *val); /* 0 on OOM */

/* ---- growable byte buffer ---- */
typedef struct mk_buf {
    const mk_allocator *alloc;
    unsigned char *data;
    size_t len, cap;
    int oom;
} mk_buf;
void mk_buf_init(mk_buf *b, const mk_allocator *a);
void mk_buf_free(mk_buf *b);
int mk_buf_append(mk_buf *b, const void *p, size_t n);
int mk_buf_printf(mk_buf *b, const char *fmt, ...) MK_PRINTF(2, 3);
int mk_buf_zeros(mk_buf *b, size_t n);

/* ---- files ---- */
/* A read-only mapping of a whole file (mmap; empty files give data=NULL, size=0). */
typedef struct mk_mapped {
    const unsigned char *data;
    size_t size;
    int anon;     /* anonymous memory (not a file): its pages cannot be dropped and re-read */
    int borrowed; /* another program's mapping, listed for lookups only: never unmapped here */
} mk_mapped;
mk_status mk_file_map(const char *path, mk_mapped *m, mk_err *e);
/* The same, with every page mapped in at once: for files that will be read whole (ONNX
 * models and their external data), far cheaper than a page fault per 4 KB. */
mk_status mk_file_map_all(const char *path, mk_mapped *m, mk_err *e);
void mk_file_unmap(mk_mapped *m);
/* n bytes of zeroed anonymous memory (anon = 1), faulted in up front with populate; released
 * with mk_file_unmap. 0 when the system refuses. */
int mk_anon_map(size_t n, int populate, mk_mapped *m);
/* Drop the whole pages inside [p, p+n) of a read-only file mapping from memory. */
void mk_file_release(const void *p, size_t n);
mk_status mk_file_write_all(const char *path, const void *p, size_t n, mk_err *e);
int mk_path_is_dir(const char *path);
int mk_path_exists(const char *path);
/* What an output directory path holds now: nothing, something that is not a directory, a
 * directory with `marker` inside (a previous output), or a directory without it. One answer
 * even while concurrent writers swap outputs there. */
typedef enum { MK_OUT_NONE, MK_OUT_NOT_DIR, MK_OUT_OURS, MK_OUT_FOREIGN } mk_out_kind;
mk_out_kind mk_output_dir_kind(const char *path, const char *marker);
/* Remove a directory tree (used to clean temp package dirs); returns 0 on success. */
int mk_rmtree(const char *path);
/* Open path for reading only when it is a regular file (never blocks on a FIFO); -1 with e
 * set otherwise. */
int mk_open_regular(const char *path, mk_err *e);
/* Create a fresh temp directory / empty file next to `final_path` ("<final>.tmp-<pid>-XXXXXX",
 * removed on SIGINT/SIGTERM/SIGHUP once mk_cleanup_on_signals ran); writes its path into out.
 * Temp entries of writers that no longer run are removed first. */
mk_status mk_tempdir_beside(const char *final_path, char *out, size_t out_n, mk_err *e);
mk_status mk_tempfile_beside(const char *final_path, char *out, size_t out_n, mk_err *e);
/* Name final_path instead of the temp path tmp in e's message (users never see temp names). */
void mk_err_untemp(mk_err *e, const char *tmp, const char *final_path);
/* Remove a temp path (tree) and forget it. */
void mk_temp_discard(const char *tmp);
/* fsync a finished temp dir and move it into place, swapping it with an existing output in one
 * step (RENAME_EXCHANGE; move-aside with retries where unsupported), then drop the old one. */
mk_status mk_dir_commit(const char *tmp, const char *final_path, mk_err *e);
/* The same for a temp file (rename replaces a file atomically). */
mk_status mk_file_commit(const char *tmp, const char *final_path, mk_err *e);
/* Write n bytes to path whole or not at all (temp file + commit). */
mk_status mk_file_replace(const char *path, const void *p, size_t n, mk_err *e);
/* Tests: 1 makes mk_dir_commit behave as if RENAME_EXCHANGE were unsupported. */
void mk_file_test_no_exchange(int off);

/* ---- tensors: .npy codec and tensor-list helpers (npy.c, npz.c) ---- */
/* Element size of a dtype that .npy files carry (0 when not supported). */
int mk_npy_dtype_size(int dtype);
/* Parse the header of a .npy image (n may cover only the header): hdr gets dtype, rank, dims
 * and nbytes (data stays NULL), *data_off where the data starts. */
mk_status mk_npy_header(const void *buf, size_t n, const char *label, mk_tensor *hdr,
                        size_t *data_off, mk_err *err);
/* Bools as 0/1. */
void mk_npy_fix_bool(mk_tensor *t);
/* An .npz archive held in memory (label names it in errors), as mk_npz_read_filtered. */
mk_status mk_npz_read_mem(const void *data, size_t n, const char *label, mk_tensor_filter f,
                          void *ud, mk_tensor_list *out, mk_err *err);
/* Parse a whole .npy image; label names the file in errors. out->name stays NULL. */
mk_status mk_npy_parse(const void *buf, size_t n, const char *label, mk_tensor *out, mk_err *err);
/* Append a .npy (v1.0) image of t to b. */
mk_status mk_npy_encode(const mk_tensor *t, mk_buf *b, mk_err *err);
/* Free one tensor's name and data (default allocator) and zero it. */
void mk_tensor_free(mk_tensor *t);
/* Append t to l, taking ownership of its name and data (t is zeroed; freed on failure). */
mk_status mk_tensor_list_push(mk_tensor_list *l, mk_tensor *t, mk_err *err);
/* strdup through the default allocator (free with mk_free(NULL, s, strlen(s) + 1)). */
char *mk_strdup_default(const char *s);

#endif
