/* The transformer exports of scripts/export_transformers.py, made once per test process so
 * that every test file using them finds them whatever the order the tests run in. */
#ifndef MK_TEST_TF_MODELS_H
#define MK_TEST_TF_MODELS_H
#include <stddef.h>

/* The directory holding NAME.onnx + NAME.inputs.npz (tests/.cache/transformers, or one under
 * the test temp dir when tests/.cache is read-only), or NULL with why set (no python3 with
 * torch, or the export failed). *python: the interpreter that imported torch. */
const char *mk_test_tf_models(const char **python, char *why, size_t why_cap);

#endif
