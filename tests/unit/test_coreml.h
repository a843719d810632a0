/* Helpers shared by the Core ML tests (defined in test_coreml.c): IR comparison, whole-file
 * reads and writes, and access to (copies of) the golden packages in the shared dir. */
#ifndef MK_TEST_COREML_H
#define MK_TEST_COREML_H

#include <stddef.h>

#include "ir/ir.h"
#include "test.h"

/* 1 when a and b hold the same IR (op kinds, names, bindings, types, constant bytes and
 * storage, description, metadata); else 0 with the first difference in why. */
int mk_test_program_eq(const mk_program *a, const mk_program *b, char *why, size_t n);
/* Whole file into malloc'd memory (caller frees); 0 when unreadable. */
int mk_test_read_file(const char *path, unsigned char **data, size_t *n);
int mk_test_write_file(const char *path, const void *data, size_t n);
/* 1 equal, 0 different, -1 unreadable. */
int mk_test_files_equal(const char *a, const char *b);
/* Path of a golden package (shared/golden/<name>) or NULL when absent. */
const char *mk_test_golden(const char *name, char *buf, size_t n);
/* A writable copy of a golden in the scratch dir, named `as`; NULL when absent. */
const char *mk_test_golden_copy(const char *name, const char *as, char *buf, size_t n);

#endif
