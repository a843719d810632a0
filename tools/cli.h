/* Shared pieces of the milkit CLI: one entry point per subcommand and small argument
 * helpers. Subcommands parse arguments, call the public API and print; no logic of their own.
 * Exit codes: 0 ok, 1 findings/mismatch, 2 error. */
#ifndef MK_CLI_H
#define MK_CLI_H

#include "milkit.h"

int mk_cmd_info(int argc, char **argv);
int mk_cmd_dump(int argc, char **argv);
int mk_cmd_convert(int argc, char **argv);
int mk_cmd_run(int argc, char **argv);
int mk_cmd_verify(int argc, char **argv);
int mk_cmd_lint(int argc, char **argv);
int mk_cmd_fix(int argc, char **argv);
int mk_cmd_graph(int argc, char **argv);
int mk_cmd_compress(int argc, char **argv);

/* True when argv[i] is -h or --help. */
int cli_is_help(const char *a);
/* Print "milkit <cmd>: <message>" to stderr and return 2. */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print the error record as one line "milkit <cmd>: <msg>" and return 2. */
int cli_fail_err(const char *cmd, const mk_err *e);
/* Value of an option that takes an argument (--opt VALUE or --opt=VALUE); advances *i.
 * Returns NULL when argv[*i] is not that option; sets *missing when the value is absent. */
const char *cli_opt(int argc, char **argv, int *i, const char *name, int *missing);

/* Options of every command that loads a model, for .onnx input: --shape NAME=DIMS and
 * --bind NAME=VALUE (repeatable). */
#define CLI_MODEL_MAX 64
typedef struct cli_model_opts {
    const char *shapes[CLI_MODEL_MAX];
    const char *binds[CLI_MODEL_MAX];
    int n_shapes, n_binds;
    int no_follow_links;
} cli_model_opts;
#define CLI_MODEL_HELP                                                                             \
    "  --shape NAME=DIMS  ONNX input shape: 1,3,640,640, or ranges 1,3,32..1024,32..1024\n"        \
    "                     or enumerated sizes 1,3,[224|288],[224|288]\n"                           \
    "  --bind NAME=VALUE  bake an ONNX input in as a constant (a scalar, or @file.npy)\n"          \
    "  --no-follow-links  refuse ONNX external data reached through a symbolic link\n"
/* 1 when argv[*i] was a model option (consumed, *i advanced past its value), 0 when it is
 * not one, 2 after printing an error. */
int cli_model_opt(const char *cmd, int argc, char **argv, int *i, cli_model_opts *m);
/* Point co's shape and bind lists at m (m must outlive co). */
void cli_model_apply(const cli_model_opts *m, mk_convert_options *co);

/* The names and shapes of the -i tensors (headers only, nothing decompressed), to fill ONNX
 * dynamic dims (shape_from) before the model loads; 0 ok, 2 after printing an error. */
int cli_input_shapes(const char *cmd, int n_specs, const char *const *specs,
                     mk_tensor_list *shapes);
/* Load a model to execute (run, verify): a Core ML package must also pass the type rules
 * Core ML's loader applies (mk_program_verify), since a program it would refuse to load has
 * no Core ML result to reproduce; 0 ok, 2 after printing an error. */
int cli_load_to_run(const char *cmd, const char *path, const mk_convert_options *co,
                    mk_program **p);
/* Read the -i tensors for p (each .npz member checked against p's inputs before its data is
 * read) and drop those --bind bakes in with the same value; 0 ok, 2 after printing an error. */
int cli_inputs_for(const char *cmd, const cli_model_opts *m, const mk_program *p, int n_specs,
                   const char *const *specs, mk_tensor_list *ins);

/* Options of the commands that execute a model (run, verify): -i/--input SPEC (repeatable),
 * --seed N, -j/--threads N and --fp16-emulate. */
typedef struct cli_exec_opts {
    const char *specs[CLI_MODEL_MAX];
    int n_specs, threads, fp16;
    unsigned long long seed;
} cli_exec_opts;
/* Same contract as cli_model_opt. */
int cli_exec_opt(const char *cmd, int argc, char **argv, int *i, cli_exec_opts *x);

/* `milkit run` state and multi-step options (run_state.c): --function NAME, --state-in F,
 * --state-out F, --steps N, --feed OUT=IN (repeatable). */
typedef struct cli_state_opts {
    const char *function, *state_in, *state_out;
    const char *feeds[CLI_MODEL_MAX];
    int n_feeds, steps;
} cli_state_opts;
/* Same contract as cli_model_opt. */
int cli_state_opt(int argc, char **argv, int *i, cli_state_opts *so);
/* Select the function (before inputs are made); 0 or an error printed (2). */
int cli_state_select(mk_program *p, const cli_state_opts *so);
/* Load --state-in into the session (missing states stay zero). */
int cli_state_load(mk_session *s, const cli_state_opts *so);
/* The remaining --steps - 1 runs, feeding outputs back to inputs (*outs: the last outputs). */
int cli_state_steps(mk_session *s, const cli_state_opts *so, mk_tensor_list *ins,
                    mk_tensor_list *outs);
/* Save every state to --state-out. */
int cli_state_save(mk_session *s, const cli_state_opts *so);
#define CLI_STATE_HELP                                                                             \
    "  --function NAME  run that function of a multi-function package (default: its default)\n"    \
    "  --state-in F     initial state values by state name (.npz; missing: zeros)\n"               \
    "  --state-out F    save every state after the last run (.npz)\n"                              \
    "  --steps N        run N times in one session (state carried over)\n"                         \
    "  --feed OUT=IN    between steps, output OUT becomes input IN (repeatable)\n"

#endif
