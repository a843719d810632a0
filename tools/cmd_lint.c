/* Placeholder for `milkit lint` until its module lands. */
#include "cli.h"

int mk_cmd_lint(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail("lint", "not available in this build");
}
