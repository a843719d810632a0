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

/* True when argv[i] is -h or --help. */
int cli_is_help(const char *a);
/* Print "milkit <cmd>: <message>" to stderr and return 2. */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print the error record as one line "milkit <cmd>: <msg>" and return 2. */
int cli_fail_err(const char *cmd, const mk_err *e);
/* Value of an option that takes an argument (--opt VALUE or --opt=VALUE); advances *i.
 * Returns NULL when argv[*i] is not that option; sets *missing when the value is absent. */
const char *cli_opt(int argc, char **argv, int *i, const char *name, int *missing);

#endif
