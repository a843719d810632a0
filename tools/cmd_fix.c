/* Placeholder for `milkit fix` until its module lands. */
#include "cli.h"

int mk_cmd_fix(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail("fix", "not available in this build");
}
